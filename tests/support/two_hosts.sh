# Two "hosts" for the multi-node shell tests: network namespaces joined by a veth pair, with the
# project's own test addresses (reachable only from inside them). Source it, then call
# two_hosts NS_A NS_B SUBNET (e.g. 10.213.0: the hosts get .1 and .2) after an EXIT trap that
# runs `ip netns del` on both. Exits 77 (skipped) with the reason when the machine does not
# allow network namespaces.
two_hosts() {
  local a=$1 b=$2 subnet=$3
  if ! command -v ip > /dev/null; then echo "SKIP: iproute2 (ip) is not installed"; exit 77; fi
  if ! out=$(ip netns add "$a" 2>&1); then
    echo "SKIP: cannot create a network namespace: $out"
    exit 77
  fi
  ip netns add "$b" || exit 1
  if ! out=$(ip netns exec "$a" true 2>&1); then
    echo "SKIP: cannot enter a network namespace: $out"
    exit 77
  fi
  ip link add "v$a" type veth peer name "v$b" || { echo "SKIP: cannot create a veth pair"; exit 77; }
  ip link set "v$a" netns "$a" && ip link set "v$b" netns "$b" || exit 1
  ip -n "$a" addr add "$subnet.1/24" dev "v$a" && ip -n "$b" addr add "$subnet.2/24" dev "v$b" ||
    exit 1
  for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
  ip -n "$a" link set "v$a" up && ip -n "$b" link set "v$b" up || exit 1
}
