#!/bin/sh
# Fast boot vs bzImage: time from starting QEMU to the guest's userspace
# marker (QKIT-GUEST-READY on the serial console), Debian kernel, TCG,
# the same initramfs, runs interleaved in one go. Reports medians and the
# ratio (target: <= 0.45), plus the one-time extraction cost. Not asserted.
set -u
qkit=$1
runs=${2:-3}
guest=$("$(dirname "$0")/../tests/guest/prepare") || { echo "guest assets missing; run tests/guest/prepare"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Milliseconds until the marker line, or "fail".
to_userspace() {
	start=$(now_ms)
	got=$(timeout --signal=KILL 120 qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu max -m 256 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial stdio -kernel "$1" -initrd "$guest/initramfs.cpio.gz" \
		-append 'console=ttyS0 panic=-1 quiet' </dev/null 2>/dev/null |
		while IFS= read -r line; do
			case $line in *QKIT-GUEST-READY*) echo $(($(now_ms) - start)) ;; esac
		done)
	echo "${got:-fail}"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "fail") }'; }

t0=$(now_ms)
pvh=$("$qkit" kernel fast-boot "$guest/vmlinuz") || { echo "qkit kernel fast-boot failed"; exit 1; }
extract_ms=$(($(now_ms) - t0))
t0=$(now_ms)
"$qkit" kernel fast-boot "$guest/vmlinuz" >/dev/null
cached_ms=$(($(now_ms) - t0))
[ "$pvh" != "$guest/vmlinuz" ] || { echo "the kernel has no PVH entry point; nothing to compare"; exit 1; }

bz_all= pvh_all=
i=0
while [ "$i" -lt "$runs" ]; do
	bz_all="$bz_all $(to_userspace "$guest/vmlinuz")"
	pvh_all="$pvh_all $(to_userspace "$pvh")"
	i=$((i + 1))
done
bz=$(echo "$bz_all" | median)
fast=$(echo "$pvh_all" | median)
echo "boot to userspace, TCG, $runs runs each (ms):"
echo "  bzImage:        $bz_all  (median $bz)"
echo "  PVH vmlinux:    $pvh_all  (median $fast)"
echo "  extraction:     $extract_ms ms once per kernel; $cached_ms ms per boot with the verified cache"
case "$bz$fast" in *fail*) echo "ratio: n/a (a boot failed)"; exit 1 ;; esac
awk -v f="$fast" -v b="$bz" 'BEGIN { printf "ratio PVH/bzImage: %.2f (target <= 0.45)\n", f / b }'
