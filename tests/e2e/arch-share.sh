#!/bin/sh
# qkit run --share on a foreign architecture: the 9p device on the
# architecture's transport (virtio-9p-pci on virt and q35, virtio-9p-ccw on
# s390x), with an
# initramfs that qkit initramfs builds from that architecture's busybox and
# kernel modules (xz-compressed in Debian 13's riscv64 tree). The guest
# reads a host file and writes one back; its payload's status is QKIT-EXIT 0.
# Usage: arch-share.sh QKIT ARCH
set -u
qkit=$1
arch=$2
# The transport's driver: virtio-pci is a module in Debian's kernels;
# s390x's virtio-ccw is built in.
transport=--module=virtio_pci
case $arch in
aarch64) machine=aarch64 ;;
arm) machine=armv7l ;;
i386) machine=i686 ;;
riscv64) machine=riscv64 ;;
s390x) machine=s390x transport= ;;
*) echo "FAIL: no uname -m known for $arch"; exit 1 ;;
esac
guest=$("$(dirname "$0")/../guest/prepare-arch" "$arch") ||
	{ echo "FAIL: no $arch guest assets: tests/guest/prepare-arch $arch failed (above)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mkdir "$tmp/share"
echo "from the host, $$" >"$tmp/share/hello"
"$qkit" initramfs -o "$tmp/initrd" --busybox "$guest/busybox" --modules "$guest/modules" \
	$transport --module 9pnet_virtio --module 9p --share data:/mnt \
	-- sh -c 'cat /mnt/hello && uname -m >/mnt/guest-arch' 2>"$tmp/err" ||
	{ echo "FAIL: qkit initramfs for $arch: $(cat "$tmp/err")"; exit 1; }

timeout --signal=KILL 150 "$qkit" run --arch "$arch" --kernel "$guest/vmlinuz" --initrd "$tmp/initrd" \
	--share "$tmp/share:data" --append 'panic=-1 quiet' --timeout 120 </dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
tr -d '\r' <"$tmp/out" >"$tmp/console"
[ "$status" -eq 0 ] || fail "qkit run --arch $arch --share exited $status (137: the watchdog killed it); stderr: $(cat "$tmp/err")"
grep -qx "from the host, $$" "$tmp/console" || fail "the guest did not print the shared file; console tail: $(tail -n 5 "$tmp/console")"
grep -qx 'QKIT-EXIT 0' "$tmp/console" || fail "no 'QKIT-EXIT 0' on the console; tail: $(tail -n 5 "$tmp/console")"
[ "$(cat "$tmp/share/guest-arch" 2>/dev/null)" = "$machine" ] ||
	fail "the guest's write did not reach the host: guest-arch holds '$(cat "$tmp/share/guest-arch" 2>/dev/null)', not $machine"
if pgrep -f -- "$tmp/initrd" >/dev/null; then
	fail "a QEMU is left running after qkit run: $(pgrep -af -- "$tmp/initrd")"
	kill -KILL $(pgrep -f -- "$tmp/initrd") 2>/dev/null
fi
[ "$fails" -eq 0 ] || exit 1
echo "ok: $arch read and wrote the host directory over 9p ($(cat "$tmp/share/guest-arch")), payload status 0"
