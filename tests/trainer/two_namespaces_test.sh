#!/usr/bin/env bash
# Two ntrun node agents on two "hosts" with different addresses: network namespaces joined by a
# veth pair (the project's own test hosts, 10.213.0.1 and 10.213.0.2, reachable only from
# inside them). Each agent starts 2 workers of the collectives test; the 4 ranks must agree.
# Usage: two_namespaces_test.sh NTRUN COLLECTIVES_WORKER. Exit 77 (skipped) when the machine
# does not allow namespaces, with the reason printed.
set -u
ntrun=$1
worker=$2
a=ntA_$$
b=ntB_$$
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT

source "$(dirname "$0")/../support/two_hosts.sh"
two_hosts "$a" "$b" 10.213.0

common=(--nnodes=2 --nproc_per_node=2 --master_addr=10.213.0.1 --master_port=29733
        --run_id=netns --rdzv_timeout=60)
ip netns exec "$a" "$ntrun" "${common[@]}" --node_rank=0 "$worker" > "/tmp/$a.out" 2>&1 &
pid_a=$!
ip netns exec "$b" "$ntrun" "${common[@]}" --node_rank=1 "$worker" > "/tmp/$b.out" 2>&1 &
pid_b=$!
wait $pid_a; rc_a=$?
wait $pid_b; rc_b=$?
cat "/tmp/$a.out" "/tmp/$b.out"
ok=$(cat "/tmp/$a.out" "/tmp/$b.out" | grep -c ': ok$')
rm -f "/tmp/$a.out" "/tmp/$b.out"
echo "node 0 exit $rc_a, node 1 exit $rc_b, ranks ok: $ok of 4"
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ] && [ "$ok" = 4 ]
