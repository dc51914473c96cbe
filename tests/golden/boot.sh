#!/bin/sh
# A spec boots: the guest kernel and initramfs (tests/guest/prepare) under
# q35 and TCG, with a disk, a 9p share, a NIC with a port forward, an rng
# and a virtio console channel, all from `qkit cmdline`. Pass: the guest's
# marker on the serial console (which qkit named on the kernel command
# line by itself) and QEMU exiting 0. A watchdog kills QEMU if it hangs.
set -u
qkit=$1
guest=$("$2") || { echo "FAIL: guest assets missing; run tests/guest/prepare"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/share,with comma"
qemu-img create -q -f qcow2 "$tmp/disk,1.qcow2" 16M
cat > "$tmp/vm.yaml" <<YAML
arch: x86_64
name: spec-boot
memory: {size: 256M}
boot: {kernel: "$guest/vmlinuz", initrd: "$guest/initramfs.cpio.gz", append: "panic=-1 quiet"}
console: {backend: {type: file, path: "$tmp/console.log"}}
options: {no-reboot: true}
devices:
  - {kind: disk, file: "$tmp/disk,1.qcow2", format: qcow2}
  - {kind: fs, type: 9p, path: "$tmp/share,with comma", tag: share}
  - {kind: net, forwards: [{host-port: 0, guest-port: 22}]}
  - {kind: rng}
  - {kind: channel, name: org.qkit.test, backend: {type: "null"}}
YAML
cmd=$("$qkit" cmdline -E "$tmp/vm.yaml") || { echo "FAIL: qkit cmdline"; exit 1; }
eval "timeout --signal=KILL 90 $cmd" </dev/null >"$tmp/out" 2>&1
status=$?
cat "$tmp/console.log" "$tmp/out"
if [ "$status" -ne 0 ]; then
	echo "FAIL: qemu exited with status $status (137 means the watchdog killed it)"
	exit 1
fi
grep -q "^QKIT-GUEST-READY $(cat "$guest/kernel-version")" "$tmp/console.log" || { echo "FAIL: no marker from the guest"; exit 1; }
echo "ok: the spec's VM booted to the marker and QEMU exited 0"
