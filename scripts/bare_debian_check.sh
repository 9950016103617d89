#!/usr/bin/env bash
# The README's two commands on a bare Debian 12: `debootstrap --variant=minbase bookworm` into a
# folder, a clone of this repository's HEAD copied in, then `scripts/demo.sh` and
# `scripts/test.sh` run there under chroot, as a new user would run them on a fresh machine.
# Needs root; installs debootstrap when missing. Downloads Debian's minimal system, what
# scripts/setup.sh installs and the pip PyTorch (several GB); the machine's resolv.conf, hosts
# and CA bundle (for pip) are copied in, so that the network works as it does outside. A root
# left by an earlier run is reused, with what it installed.
# Not part of scripts/test.sh. Usage: scripts/bare_debian_check.sh [ROOT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/tmp/nanotrain-bare-debian}
if [ "$(id -u)" != 0 ]; then
  echo "bare_debian_check: needs root (debootstrap, mount, chroot)" >&2
  exit 2
fi
command -v debootstrap > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
fi
# Every mount under the root, the tests' own (ip netns) included, deepest first.
cleanup() {
  awk -v root="$root" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r point; do umount -l "$point" 2> /dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET_IN_ROOT [mount options...]
  mkdir -p "$root$2"
  mount "${@:3}" "$1" "$root$2"
}
# The root a mount point of its own, as / is on a machine (ip netns exec remounts it).
mount --bind "$root" "$root"
bind proc /proc -t proc
bind sysfs /sys -t sysfs
bind /dev /dev --bind
bind devpts /dev/pts -t devpts
bind tmpfs /dev/shm -t tmpfs
cp /etc/resolv.conf /etc/hosts "$root/etc/"  # the machine's hostname resolves as outside
# Beside Debian's own bundle (which ca-certificates regenerates): pip is pointed at it.
pip_cert=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca-certificates.crt"
  pip_cert=(PIP_CERT=/etc/host-ca-certificates.crt)
fi
rm -rf "$root/root/nanotrain"
git clone --quiet "$(pwd)" "$root/root/nanotrain"
echo "bare_debian_check: $(git -C "$root/root/nanotrain" log --oneline -1) in $root"
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb "${pip_cert[@]}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c 'cd /root/nanotrain && time scripts/demo.sh && time scripts/test.sh'
echo "bare_debian_check: both commands passed on a bare Debian 12"
