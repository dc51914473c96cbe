#!/bin/sh
# qkit run boots a Debian kernel of a foreign architecture under TCG with the
# spec's defaults for it (machine, CPU, console name, transport): the guest's
# /init prints the marker with its kernel version and uname -m on the
# console, which qkit copies to stdout; the guest powers off, qkit exits 0
# and no QEMU is left. The assets come from tests/guest/prepare-arch (cached;
# the first run needs the Debian archive).
# Usage: arch-boot.sh QKIT ARCH
set -u
qkit=$1
arch=$2
case $arch in
aarch64) machine=aarch64 ;;
arm) machine=armv7l ;;
i386) machine=i686 ;;
s390x) machine=s390x ;;
riscv64) machine=riscv64 ;;
*) echo "FAIL: no uname -m known for $arch"; exit 1 ;;
esac
guest=$("$(dirname "$0")/../guest/prepare-arch" "$arch") ||
	{ echo "FAIL: no $arch guest assets: tests/guest/prepare-arch $arch failed (above)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A path no other QEMU has on its command line, to look for leftovers by.
cp "$guest/initramfs.cpio.gz" "$tmp/initrd"
kver=$(cat "$guest/kernel-version")

start=$(date +%s.%N)
timeout --signal=KILL 150 "$qkit" run --arch "$arch" --kernel "$guest/vmlinuz" --initrd "$tmp/initrd" \
	--append 'panic=-1 quiet' --timeout 120 </dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
[ "$status" -eq 0 ] || fail "qkit run --arch $arch exited $status (137: the watchdog killed it); stderr: $(cat "$tmp/err")"
tr -d '\r' <"$tmp/out" | grep -qx "QKIT-GUEST-READY $kver $machine" ||
	fail "no 'QKIT-GUEST-READY $kver $machine' on stdout; its last lines: $(tail -n 5 "$tmp/out")"
if pgrep -f -- "$tmp/initrd" >/dev/null; then
	fail "a QEMU is left running after qkit run: $(pgrep -af -- "$tmp/initrd")"
	kill -KILL $(pgrep -f -- "$tmp/initrd") 2>/dev/null
fi
[ "$fails" -eq 0 ] || exit 1
echo "ok: $arch ($kver) booted to the marker and powered off in $secs s; qkit exited 0, no QEMU left"
