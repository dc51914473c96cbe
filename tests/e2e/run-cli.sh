#!/bin/sh
# qkit run without booting anything: the example specs validate; --dry-run
# prints exactly what qkit cmdline prints, for a spec file and for the same
# VM written as flags; fast boot shows in the dry run; invalid flags and
# specs name every problem, exit 1 (2 for usage), start no QEMU (a fake
# QEMU binary would leave a mark) and create no state directory.
# Usage: run-cli.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/qkit-e2e-run-cli.XXXXXX)
export QKIT_RUNTIME_DIR="$work/run"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# The QKIT_* overrides of the environment the tests run in must not leak in.
unset QKIT_QEMU QKIT_ARCH QKIT_KERNEL QKIT_INITRD QKIT_APPEND QKIT_QEMU_APPEND QKIT_TIMEOUT
unset VMTEST_QEMU VMTEST_ARCH VMTEST_KERNEL VMTEST_INITRAMFS VMTEST_INITRD VMTEST_APPEND

# 1. Every example spec is valid.
n=0
for f in "$top"/examples/*.yaml; do
	n=$((n + 1))
	if out=$("$qkit" spec validate "$f" 2>&1); then ok "example-valid $(basename "$f")"; else
		fail "example-valid $(basename "$f"): $out"; fi
done
[ $n -ge 4 ] && ok "examples-present ($n)" || fail "examples-present: only $n"

# 2. --dry-run of a spec file is qkit cmdline of it.
for f in "$top"/examples/*.yaml; do
	"$qkit" run "$f" --dry-run --no-fast-boot > "$work/run.txt" 2>&1
	"$qkit" cmdline "$f" > "$work/cmdline.txt" 2>&1
	if cmp -s "$work/run.txt" "$work/cmdline.txt"; then ok "dry-run-equals-cmdline $(basename "$f")"; else
		fail "dry-run-equals-cmdline $(basename "$f"): $(diff "$work/cmdline.txt" "$work/run.txt")"; fi
done

# 3. Flags are spec changes: a VM written as flags renders as the same VM written as a file.
mkdir -p "$work/share"
cat > "$work/flags.yaml" <<EOF
name: flags
arch: x86_64
timeout: 60
machine:
  type: q35
  accel: [tcg]
cpu:
  count: 2
  model: max
memory:
  size: 300M
boot:
  kernel: $work/vmlinuz
  initrd: $work/initrd.img
  append: quiet
  paused: true
devices:
  - kind: disk
    file: $work/a.qcow2
    format: qcow2
  - kind: disk
    file: $work/b.img
    format: raw
  - kind: disk
    file: $work/c.iso
    media: cdrom
    interface: scsi
  - kind: net
    type: user
    forwards:
      - host-port: 8080
        guest-port: 80
      - protocol: udp
        host-addr: 0.0.0.0
        host-port: 5353
        guest-port: 53
  - kind: fs
    type: 9p
    tag: qkit-share0
    path: $work/share
  - kind: fs
    type: 9p
    tag: data
    path: $work/share
    readonly: true
options:
  no-reboot: true
extra-args: [-d, guest_errors]
EOF
"$qkit" cmdline "$work/flags.yaml" > "$work/cmdline.txt" 2>&1
"$qkit" run --name flags --arch x86_64 --timeout 60 --machine q35 --accel kvm --accel tcg --cpus 2 \
	--set cpu.model=max --mem 300 --kernel "$work/vmlinuz" --initrd "$work/initrd.img" \
	--append quiet --paused --disk "$work/a.qcow2" --disk "$work/b.img" --cdrom "$work/c.iso" \
	--fwd 8080:80 --fwd udp:0.0.0.0:5353:53 --share "$work/share" --share "$work/share:data:ro" \
	--set options.no-reboot=true --dry-run -- -d guest_errors > "$work/run.txt" 2>&1
if cmp -s "$work/run.txt" "$work/cmdline.txt"; then ok flags-equal-spec-file; else
	fail "flags-equal-spec-file: $(diff "$work/cmdline.txt" "$work/run.txt")"; fi

# 4. Flags override the file: --accel replaces the list, --mem the size.
"$qkit" run "$top/examples/disk-net.yaml" --accel tcg --mem 2G --fwd 8443:443 --dry-run > "$work/o.txt" 2>&1
grep -q '^    -accel tcg \\$' "$work/o.txt" && ! grep -q 'accel kvm' "$work/o.txt" &&
	grep -q -- '-m size=2G' "$work/o.txt" &&
	grep -q '"tcp:127.0.0.1:2222-:22"},{"str":"udp:127.0.0.1:5353-:53"},{"str":"tcp:127.0.0.1:8443-:443"}' "$work/o.txt" &&
	ok flags-override-file || fail "flags-override-file: $(cat "$work/o.txt")"

# 5. Fast boot by default: the dry run boots the cached PVH vmlinux of a bzImage.
guest=$("$top/tests/guest/prepare" 2>/dev/null) && [ -f "$guest/vmlinuz" ] && {
	"$qkit" run --kernel "$guest/vmlinuz" --dry-run > "$work/fb.txt" 2>&1
	grep -q -- '-kernel .*\.vmlinux' "$work/fb.txt" && ok dry-run-fast-boot ||
		fail "dry-run-fast-boot: $(cat "$work/fb.txt")"
	"$qkit" run --kernel "$guest/vmlinuz" --no-fast-boot --dry-run > "$work/fb.txt" 2>&1
	grep -q -- "-kernel $guest/vmlinuz" "$work/fb.txt" && ok dry-run-no-fast-boot ||
		fail "dry-run-no-fast-boot: $(cat "$work/fb.txt")"
}

# 6. Invalid flags and spec values: every problem, exit 1, nothing started.
cat > "$work/fake-qemu" <<EOF
#!/bin/sh
touch "$work/qemu-started"
EOF
chmod +x "$work/fake-qemu"
"$qkit" run --set qemu.binary="$work/fake-qemu" --name bad --mem lots --cpus 0 --set cpu.bogus=1 \
	--append quiet --fwd 99999:22 --share :x --set machine.accel=kvm > "$work/bad.out" 2> "$work/bad.err"
st=$?
[ $st -eq 1 ] && ok invalid-flags-exit-1 || fail "invalid-flags-exit-1: status $st"
for p in 'memory: size "lots" is not a size' 'cpu: count 0 is' '--set: cpu.bogus: unknown field "bogus"' \
	'boot: append needs a kernel' '--fwd "99999:22": expected' '--share ":x": expected DIR' \
	'--set: machine.accel'; do
	grep -qF -- "$p" "$work/bad.err" && ok "invalid-names: $p" || fail "invalid-names: $p: $(cat "$work/bad.err")"
done
[ ! -e "$work/qemu-started" ] && ok invalid-starts-nothing || fail invalid-starts-nothing
[ ! -e "$QKIT_RUNTIME_DIR/vms/bad" ] && ok invalid-no-state || fail "invalid-no-state: $(ls -R "$QKIT_RUNTIME_DIR")"
[ ! -s "$work/bad.out" ] && ok invalid-no-output || fail "invalid-no-output: $(cat "$work/bad.out")"

# An invalid spec file: the problems name the file and the field.
cat > "$work/bad.yaml" <<EOF
qemu:
  binary: $work/fake-qemu
memory:
  size: 1K
devices:
  - kind: disk
    format: qcow3
EOF
"$qkit" run "$work/bad.yaml" --name badfile > "$work/bad.out" 2> "$work/bad.err"
st=$?
[ $st -eq 1 ] && grep -q "bad.yaml: memory: size" "$work/bad.err" &&
	grep -q 'bad.yaml: devices\[0\] (disk "disk0"): format "qcow3" is not one of' "$work/bad.err" &&
	ok invalid-spec-file || fail "invalid-spec-file: status $st: $(cat "$work/bad.err")"
[ ! -e "$work/qemu-started" ] && [ ! -e "$QKIT_RUNTIME_DIR/vms/badfile" ] && ok invalid-spec-starts-nothing ||
	fail invalid-spec-starts-nothing

# Usage errors: exit 2.
"$qkit" run --no-such-option > /dev/null 2>&1; st=$?
[ $st -eq 2 ] && ok unknown-option-exit-2 || fail "unknown-option-exit-2: $st"
"$qkit" run --net bridge > /dev/null 2> "$work/u.err"; st=$?
[ $st -eq 2 ] && grep -q -- '--net: "bridge" is not user or none' "$work/u.err" && ok net-usage ||
	fail "net-usage: $st $(cat "$work/u.err")"
"$qkit" run a.yaml b.yaml > /dev/null 2>&1; st=$?
[ $st -eq 2 ] && ok two-specs-exit-2 || fail "two-specs-exit-2: $st"
"$qkit" run "$top/examples/disk-net.yaml" --net none --dry-run > /dev/null 2> "$work/u.err"; st=$?
[ $st -eq 1 ] && grep -q -- '--net none: the spec has a network device' "$work/u.err" && ok net-none-conflict ||
	fail "net-none-conflict: $st $(cat "$work/u.err")"
[ ! -e "$work/qemu-started" ] && ok usage-starts-nothing || fail usage-starts-nothing

[ "$fails" -eq 0 ]
