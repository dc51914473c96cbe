#!/bin/sh
# qkit exec --arch aarch64 with the Debian arm64 kernel, its modules and the
# arm64 static busybox from tests/guest/prepare-arch: virtio-pci, the
# virtio-serial ports and the 9p share of the current directory work on the
# virt machine; stdout and stderr arrive apart, the exit status comes back,
# --module loads a module from the arm64 tree; no QEMU is left.
# Usage: arch-exec.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the test changes directory
guest=$("$(dirname "$0")/../guest/prepare-arch" aarch64) ||
	{ echo "FAIL: no aarch64 guest assets: tests/guest/prepare-arch aarch64 failed (above)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A kernel path no other QEMU has on its command line, to look for leftovers by.
ln -s "$guest/vmlinuz" "$tmp/vmlinuz"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() {
	timeout --signal=KILL 150 "$qkit" exec --arch aarch64 --kernel "$tmp/vmlinuz" \
		--modules "$guest/modules" --busybox "$guest/busybox" --timeout 120 "$@"
}

mkdir "$tmp/work"
cd "$tmp/work" || exit 1
start=$(date +%s.%N)
run -- sh -c 'echo out; echo err >&2; uname -m >arch.txt; exit 3' >../out.txt 2>../err.txt
status=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$status" -eq 3 ] || fail "exit 3 gave status $status; stderr: $(cat ../err.txt)"
[ "$(cat ../out.txt)" = out ] || fail "stdout was '$(cat ../out.txt)', not 'out'"
[ "$(cat ../err.txt)" = err ] || fail "stderr was '$(cat ../err.txt)', not 'err'"
# Written by the guest into the shared current directory.
[ "$(cat arch.txt 2>/dev/null)" = aarch64 ] || fail "the guest's uname -m in the share was '$(cat arch.txt 2>/dev/null)'"

run --module isofs -- sh -c 'grep -c "^isofs " /proc/modules' >../out.txt 2>../err.txt
status=$?
[ "$status" -eq 0 ] && [ "$(cat ../out.txt)" = 1 ] ||
	fail "--module isofs: status $status, '$(cat ../out.txt)' $(cat ../err.txt)"
cd "$tmp" || exit 1

# The wrong architecture is refused before anything boots, naming both.
out=$(timeout 60 "$qkit" exec --arch aarch64 --kernel "$tmp/vmlinuz" --modules "$guest/modules" --busybox "$(command -v busybox)" \
	-- true 2>&1)
status=$?
[ "$status" -eq 125 ] && printf '%s' "$out" | grep -q "runs on x86_64, not in this aarch64 guest" ||
	fail "an x86_64 busybox for an aarch64 guest: status $status, '$out'"
x86=$("$(dirname "$0")/../guest/prepare")/vmlinuz
out=$(timeout 60 "$qkit" exec --arch aarch64 --kernel "$x86" -- true 2>&1)
status=$?
[ "$status" -eq 125 ] && printf '%s' "$out" | grep -q "is an x86 (bzImage) kernel, not one for this aarch64 guest" ||
	fail "an x86 kernel for an aarch64 guest: status $status, '$out'"
# Without --kernel and --busybox: the prepared aarch64 guest's, not the host's.
out=$(timeout --signal=KILL 150 "$qkit" exec --arch aarch64 --timeout 120 -- uname -m 2>&1)
status=$?
[ "$status" -eq 0 ] && [ "$out" = aarch64 ] ||
	fail "the default aarch64 kernel and busybox: status $status, '$out'"

if pgrep -f -- "$tmp/vmlinuz" >/dev/null; then
	fail "a QEMU is left running after qkit exec: $(pgrep -af -- "$tmp/vmlinuz")"
	kill -KILL $(pgrep -f -- "$tmp/vmlinuz") 2>/dev/null
fi
[ "$fails" -eq 0 ] || exit 1
echo "ok: aarch64 exec: stdout, stderr, status 3 (first run $secs s), 9p share, --module; no QEMU left"
