#!/bin/sh
# Boot KERNEL (default: the prepared Debian bzImage) with the busybox
# initramfs under TCG; the guest's /init prints a marker and powers off.
# Pass: the marker is on the serial console and QEMU exits 0. A watchdog
# kills QEMU if the guest hangs. boot-fast.sh boots its PVH vmlinux here.
# Usage: boot-marker.sh [KERNEL]
set -u
guest=$("$(dirname "$0")/../guest/prepare") || { echo "FAIL: guest assets missing; run tests/guest/prepare"; exit 1; }
kernel=${1:-$guest/vmlinuz}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

timeout --signal=KILL 90 qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -m 256 \
	-nodefaults -no-user-config -display none -no-reboot \
	-serial "file:$log" \
	-kernel "$kernel" -initrd "$guest/initramfs.cpio.gz" \
	-append 'console=ttyS0 panic=-1 quiet'
status=$?
cat "$log"
if [ "$status" -ne 0 ]; then
	echo "FAIL: qemu exited with status $status (137 means the watchdog killed it)"
	exit 1
fi
grep -q "^QKIT-GUEST-READY $(cat "$guest/kernel-version")" "$log" || { echo "FAIL: no marker from the guest"; exit 1; }
echo "ok: marker seen, QEMU exited 0"
