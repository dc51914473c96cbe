#!/bin/sh
# qkit doctor on this host, on a host where everything is missing, with a
# QEMU too old and with kernel module trees that lack what qkit exec loads
# or lack modules.dep: each check has its line, each problem its fix. The KVM probe really
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
grep -q "^ok    modules              .*: qkit exec's modules resolve from modules.dep" "$tmp/out" ||
	fail "the prepared modules do not resolve from modules.dep"
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

# A QEMU older than the 7.2 qkit writes command lines for; a kernel whose
# modules tree lacks what qkit exec loads; one whose tree has no modules.dep.
guest=$("$(dirname "$0")/../guest/prepare")
mkdir -p "$tmp/old" "$tmp/k1/modules" "$tmp/k2/modules"
printf '#!/bin/sh\necho "QEMU emulator version 6.2.0 (Debian 1:6.2+dfsg-2)"\n' >"$tmp/old/qemu-system-x86_64"
chmod +x "$tmp/old/qemu-system-x86_64"
ln -s "$guest/vmlinuz" "$tmp/k1/vmlinuz"
mkdir -p "$tmp/k1/modules/kernel/drivers/virtio"
cp "$guest/modules/kernel/drivers/virtio/virtio.ko" "$tmp/k1/modules/kernel/drivers/virtio/"
echo 'kernel/drivers/virtio/virtio.ko:' >"$tmp/k1/modules/modules.dep"
ln -s "$guest/vmlinuz" "$tmp/k2/vmlinuz"
cp -rs "$guest/modules/kernel" "$tmp/k2/modules/kernel"
cp "$guest/modules/modules.order" "$guest/modules/modules.builtin" "$tmp/k2/modules/"
timeout 60 env PATH="$tmp/old:$PATH" QKIT_KERNEL="$tmp/k1/vmlinuz" "$qkit" doctor --no-kvm-probe >"$tmp/out" 2>"$tmp/err"
status=$?
cat "$tmp/out"
[ "$status" -eq 1 ] || fail "doctor exited $status with an old QEMU and no modules"
expect "FAIL  qemu-system-x86_64   QEMU 6.2.0 ($tmp/old/qemu-system-x86_64) is older than 7.2, the version qkit writes command lines for"
expect "FAIL  modules              $tmp/k1/modules: not every module qkit exec loads is there: "
expect 'virtio_pci'
expect "fix: qkit exec --modules DIR, or install the kernel's package"
timeout 60 env QKIT_KERNEL="$tmp/k2/vmlinuz" "$qkit" doctor --no-kvm-probe >"$tmp/out" 2>"$tmp/err"
cat "$tmp/out"
expect "ok    modules              $tmp/k2/modules: qkit exec's modules resolve from each module's .modinfo"
expect "no modules.dep, which depmod would write"

[ "$fails" -eq 0 ] || exit 1
echo "ok: doctor's checks, the KVM probe, and the fixes for a bare host"
