#!/bin/sh
# qkit doctor on this host, and on a host where everything is missing:
# each check has its line, each problem its fix. The KVM probe really
# boots the kernel under KVM: where /dev/kvm opens but guests hang (as on
# nested CI hosts), it must say so and suggest --accel tcg.
# Usage: doctor-run.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
"$(dirname "$0")/../guest/prepare" >/dev/null || { echo "FAIL: guest assets missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

start=$(date +%s)
timeout --signal=KILL 120 "$qkit" doctor >"$tmp/out" 2>"$tmp/err"
status=$?
took=$(($(date +%s) - start))
cat "$tmp/out"
[ "$status" -eq 0 ] || fail "doctor exited $status on a host with everything installed"
for name in qemu-system-x86_64 qemu-img firmware busybox kernel modules; do
	grep -q "^ok    $name " "$tmp/out" || fail "no ok line for $name"
done
grep -q '^ok    qemu-system-x86_64   QEMU [0-9]' "$tmp/out" || fail "no QEMU version"
if grep -q '^ok    /dev/kvm ' "$tmp/out"; then
	# The probe ran: either a guest printed under KVM, or the hang is named
	# with its fix.
	if ! grep -q '^ok    kvm-guest            a guest printed its boot log under KVM' "$tmp/out"; then
		grep -q '^warn  kvm-guest            /dev/kvm opens, but a guest printed nothing within 10 s under KVM' "$tmp/out" ||
			fail "the KVM probe said neither ok nor hang"
		grep -q 'fix: use --accel tcg' "$tmp/out" || fail "no --accel tcg advice"
	fi
	[ "$took" -lt 40 ] || fail "doctor took $took s"
fi

# Nothing in PATH, no kernel: every missing piece with its fix, exit 1.
mkdir "$tmp/bin"
cp /bin/true "$tmp/bin/busybox" # an ELF, but dynamically linked
timeout 60 env PATH="$tmp/bin" QKIT_KERNEL=/nonexistent "$qkit" doctor >"$tmp/out" 2>"$tmp/err"
status=$?
cat "$tmp/out"
[ "$status" -eq 1 ] || fail "doctor exited $status with everything missing"
expect() { grep -qF -- "$1" "$tmp/out" || fail "missing: $1"; }
expect 'FAIL  qemu-system-x86_64   not found in PATH'
expect 'fix: apt-get install qemu-system-x86'
expect 'warn  qemu-system-aarch64  not found in PATH (needed only for guests of this architecture)'
expect 'fix: apt-get install qemu-system-arm'
expect 'FAIL  qemu-img             not found in PATH'
expect 'fix: apt-get install qemu-utils'
expect "FAIL  busybox              $tmp/bin/busybox is dynamically linked"
expect 'fix: apt-get install busybox-static'
expect 'FAIL  kernel               QKIT_KERNEL: "/nonexistent" is not a readable file'
expect 'skip  kvm-guest'

[ "$fails" -eq 0 ] || exit 1
echo "ok: doctor's checks, the KVM probe, and the fixes for a bare host"
