#!/bin/sh
# `qkit exec -- true` wall time (Debian kernel, TCG), against the floor: bare
# QEMU booting the same fast-boot kernel with the tiny marker initramfs to
# power-off, nothing else (no modules, no 9p, no ports). Also the same exec
# with --no-fast-boot. Runs interleaved in one go; medians and ratios are
# reported, never asserted.
# Usage: exec-true.sh QKIT [RUNS]
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
runs=${2:-3}
guest=$("$(dirname "$0")/../tests/guest/prepare") || { echo "guest assets missing; run tests/guest/prepare"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "fail") }'; }

# Milliseconds the command took, or "fail" if it did not exit 0.
timed() {
	start=$(now_ms)
	if timeout --signal=KILL 120 "$@" </dev/null >/dev/null 2>&1; then
		echo $(($(now_ms) - start))
	else
		echo fail
	fi
}

pvh=$("$qkit" kernel fast-boot "$guest/vmlinuz") || { echo "qkit kernel fast-boot failed"; exit 1; }
# One untimed run first, so no run pays for filling a cache.
"$qkit" exec --kernel "$guest/vmlinuz" -- true >/dev/null 2>&1

exec_all= slow_all= bare_all=
i=0
while [ "$i" -lt "$runs" ]; do
	exec_all="$exec_all $(timed "$qkit" exec --kernel "$guest/vmlinuz" -- true)"
	slow_all="$slow_all $(timed "$qkit" exec --kernel "$guest/vmlinuz" --no-fast-boot -- true)"
	bare_all="$bare_all $(timed qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 \
		-nodefaults -no-user-config -display none -no-reboot -serial null \
		-kernel "$pvh" -initrd "$guest/initramfs.cpio.gz" -append 'console=ttyS0 panic=-1')"
	i=$((i + 1))
done
e=$(echo "$exec_all" | median)
s=$(echo "$slow_all" | median)
b=$(echo "$bare_all" | median)
echo "qkit exec -- true, TCG, $runs runs each (ms):"
echo "  qkit exec -- true:                $exec_all  (median $e)"
echo "  qkit exec --no-fast-boot -- true: $slow_all  (median $s)"
echo "  bare QEMU, marker initramfs:      $bare_all  (median $b)"
case "$e$s$b" in
*fail*) echo "a run failed; no ratios" ;;
*)
	echo "  exec / bare QEMU:                 $(echo "scale=2; $e / $b" | bc)"
	echo "  fast boot / --no-fast-boot:       $(echo "scale=2; $e / $s" | bc)"
	;;
esac
