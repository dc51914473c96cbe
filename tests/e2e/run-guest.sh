#!/bin/sh
# qkit run against a real Linux guest under TCG (the Debian kernel, booted
# through its PVH vmlinux):
#  - the prepared kernel and initramfs, from flags only and from
#    examples/demo.yaml: the marker on stdout, exit 0, no QEMU left;
#  - standard input (not a terminal) reaches the guest's console;
#  - --detach: qkit ps lists it, the console socket works, qkit stop ends
#    it through the guest's power button;
#  - the boot watchdog trips on a guest whose console is elsewhere (exit 122);
#  - a guest kernel panic, seen on the console (no pvpanic driver) and
#    reported by pvpanic (GUEST_PANICKED): exit 121 with the panic lines;
#  - --timeout (exit 124); SIGTERM to a foreground run runs the ladder, the
#    guest sees the ACPI power button and powers off (exit 128+15);
#  - QEMU refusing an extra argument: exit 1 with QEMU's own words.
# The guest's /init picks its part from the kernel command line.
# Usage: run-guest.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
guest=$("$top/tests/guest/prepare") || { echo "FAIL: guest assets missing"; exit 1; }
kver=$(cat "$guest/kernel-version")
work=$(mktemp -d /tmp/qkit-e2e-run.XXXXXX)
export QKIT_RUNTIME_DIR="$work/run"
unset QKIT_QEMU QKIT_ARCH QKIT_KERNEL QKIT_INITRD QKIT_APPEND QKIT_QEMU_APPEND QKIT_TIMEOUT
tag=qkit-e2e-run-$$
bg=
cleanup() {
	[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null
	timeout 30 "$qkit" kill "$tag-det" >/dev/null 2>&1
	pkill -9 -f "guest=$tag" 2>/dev/null # only QEMUs this test named
	rm -rf "$work"
}
trap cleanup EXIT
. "$top/tests/e2e/vm-lib.sh"
# Every QEMU this test starts has -name guest=$tag-...: none may outlive its run.
no_qemu_left() { # WHAT
	sleep 0.2
	if pgrep -f "guest=$tag" >/dev/null; then fail "$1: QEMU left running: $(pgrep -af "guest=$tag")"
	else ok "$1: no QEMU left"; fi
}

# The test initramfs and its /init's parts: see test_initramfs in vm-lib.sh.
test_initramfs "$work/test.cpio.gz" "$guest"
cp "$guest/initramfs.cpio.gz" "$work/prepared.cpio.gz"
# The guest's kernel; fast boot is on by default.
krun() { # NAME ARGS...: qkit run with the kernel and the test initramfs
	n=$1
	shift
	"$qkit" run --name "$tag-$n" --kernel "$guest/vmlinuz" --initrd "$work/test.cpio.gz" \
		--accel tcg --mem 256 --timeout 150 "$@"
}

# 1. Flags only: the prepared kernel and initramfs print the marker and power off.
"$qkit" run --name "$tag-flags" --kernel "$guest/vmlinuz" --initrd "$work/prepared.cpio.gz" \
	--accel tcg --mem 256 --timeout 150 < /dev/null > "$work/flags.out" 2> "$work/flags.err"
st=$?
[ $st -eq 0 ] && ok "flags-boot-exit-0" || fail "flags-boot-exit-0: status $st: $(cat "$work/flags.err")"
grep -q "^QKIT-GUEST-READY $kver" "$work/flags.out" && ok flags-boot-marker ||
	fail "flags-boot-marker: $(tail -n 5 "$work/flags.out") $(cat "$work/flags.err")"
grep -q 'Booting paravirtualized kernel' "$work/flags.out" && ok flags-boot-fast-boot-pvh ||
	fail "flags-boot-fast-boot-pvh: the guest did not boot through PVH"
[ ! -s "$work/flags.err" ] && ok flags-boot-quiet-stderr || fail "flags-boot-quiet-stderr: $(cat "$work/flags.err")"
no_qemu_left flags-boot
[ ! -e "$QKIT_RUNTIME_DIR/vms/$tag-flags" ] && ok flags-boot-state-removed || fail flags-boot-state-removed

# 2. From a spec file: examples/demo.yaml, the guest's files given as make
# demo (scripts/demo) gives them (the spec's relative paths are relative to
# examples/ since 0b8ffa4).
"$qkit" run "$top/examples/demo.yaml" --kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
	--name "$tag-spec" < /dev/null > "$work/spec.out" 2> "$work/spec.err"
st=$?
[ $st -eq 0 ] && grep -q "^QKIT-GUEST-READY $kver" "$work/spec.out" && ok spec-file-boot ||
	fail "spec-file-boot: status $st: $(tail -n 5 "$work/spec.out") $(cat "$work/spec.err")"
no_qemu_left spec-file-boot

# 3. Standard input that is a pipe reaches the guest's console.
# Written once the guest reads: what a UART gets before anyone reads it may be lost.
mkfifo "$work/in"
krun read --append 'qkit.test=read' < "$work/in" > "$work/read.out" 2> "$work/read.err" &
exec 3> "$work/in"
wait_for "$work/read.out" QKIT-READY-FOR-INPUT 120
sleep 0.2
echo 'hello, guest' >&3
exec 3>&-
wait $!
st=$?
[ $st -eq 0 ] && grep -q '^QKIT-GOT <hello, guest>' "$work/read.out" && ok stdin-to-console ||
	fail "stdin-to-console: status $st: $(tail -n 5 "$work/read.out") $(cat "$work/read.err")"

# 4. --detach: ps shows it, its console is live, stop presses the power button.
krun det --detach --append 'qkit.test=button' > "$work/det.out" 2> "$work/det.err"
st=$?
[ $st -eq 0 ] && [ "$(cat "$work/det.out")" = "$tag-det" ] && ok detach-prints-name ||
	fail "detach-prints-name: status $st: $(cat "$work/det.out" "$work/det.err")"
"$qkit" ps > "$work/ps.out" 2>&1
grep -q "^$tag-det " "$work/ps.out" && ok detach-in-ps || fail "detach-in-ps: $(cat "$work/ps.out")"
"$qkit" ps --json > "$work/ps.json" 2>&1
grep -q '"kernel"' "$work/ps.json" && ok detach-spec-recorded || fail "detach-spec-recorded: $(cat "$work/ps.json")"
log="$QKIT_RUNTIME_DIR/vms/$tag-det/console.log"
wait_for "$log" QKIT-WAITING-FOR-POWER-BUTTON 120 && ok detach-console-drained ||
	fail "detach-console-drained: $(cat "$log" 2>&1 | tail -n 5)"
cp "$log" "$work/det-console.log" 2>/dev/null
timeout 60 "$qkit" stop "$tag-det" > "$work/stop.out" 2>&1
st=$?
[ $st -eq 0 ] && ok detach-stop || fail "detach-stop: status $st: $(cat "$work/stop.out")"
"$qkit" ps > "$work/ps.out" 2>&1
grep -q "^$tag-det " "$work/ps.out" && fail "detach-gone-from-ps: $(cat "$work/ps.out")" || ok detach-gone-from-ps
no_qemu_left detach-stop

# 5. The boot watchdog: the console goes to tty0 (no display), init sleeps.
start=$(date +%s)
krun silent --boot-timeout 5 --append 'console=tty0 loglevel=0 qkit.test=sleep' \
	< /dev/null > "$work/silent.out" 2> "$work/silent.err"
st=$?
took=$(($(date +%s) - start))
[ $st -eq 122 ] && ok "watchdog-exit-122" || fail "watchdog-exit-122: status $st: $(cat "$work/silent.err")"
grep -q '^qkit run: boot watchdog: the guest printed nothing on its console within 5 s; stopped the VM$' \
	"$work/silent.err" && ok watchdog-message || fail "watchdog-message: $(cat "$work/silent.err")"
[ $took -lt 30 ] && ok "watchdog-in-time (${took}s)" || fail "watchdog-in-time: ${took}s"
[ ! -s "$work/silent.out" ] && ok watchdog-guest-was-silent || fail "watchdog-guest-was-silent: $(cat "$work/silent.out")"
no_qemu_left watchdog

# 5b. Under KVM the watchdog's message says KVM may be broken and suggests TCG.
# Where KVM works the guest boots instead, and there is nothing to check.
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	"$qkit" run --name "$tag-kvm" --kernel "$guest/vmlinuz" --initrd "$work/prepared.cpio.gz" \
		--accel kvm --set cpu.model=qemu64 --boot-timeout 5 --timeout 60 \
		< /dev/null > "$work/kvm.out" 2> "$work/kvm.err"
	st=$?
	if [ $st -eq 0 ] && grep -q QKIT-GUEST-READY "$work/kvm.out"; then
		echo "skip kvm-watchdog-advice: KVM runs guests on this host"
	elif [ $st -eq 122 ] && grep -q 'within 5 s; stopped the VM. The guest ran under KVM, which may be non-functional on this host' "$work/kvm.err" &&
		grep -q 'try --accel tcg$' "$work/kvm.err"; then
		ok kvm-watchdog-advice
	else
		fail "kvm-watchdog-advice: status $st: $(cat "$work/kvm.err")"
	fi
	no_qemu_left kvm-watchdog
fi

# 6. Panic seen on the console: the kernel halts (panic=0), qkit stops the VM.
krun panic --append 'qkit.test=panic-console' < /dev/null > "$work/panic.out" 2> "$work/panic.err"
st=$?
[ $st -eq 121 ] && ok panic-console-exit-121 || fail "panic-console-exit-121: status $st: $(cat "$work/panic.err")"
head -n 1 "$work/panic.err" | grep -q '^qkit run: guest kernel panic$' &&
	grep -q '^  .*Kernel panic - not syncing: sysrq triggered crash' "$work/panic.err" &&
	ok panic-console-report || fail "panic-console-report: $(cat "$work/panic.err")"
no_qemu_left panic-console

# 7. Panic reported by pvpanic: QEMU's GUEST_PANICKED.
cat > "$work/pvpanic.yaml" <<EOF
name: $tag-pvpanic
arch: x86_64
timeout: 150
machine: { type: q35, accel: [tcg] }
boot:
  kernel: $guest/vmlinuz
  initrd: $work/test.cpio.gz
  append: qkit.test=pvpanic
devices:
  - kind: pvpanic
EOF
"$qkit" -v run "$work/pvpanic.yaml" < /dev/null > "$work/pvpanic.out" 2> "$work/pvpanic.err"
st=$?
[ $st -eq 121 ] && grep -q '^qkit run: guest kernel panic$' "$work/pvpanic.err" &&
	grep -q 'GUEST_PANICKED' "$work/pvpanic.err" && ok pvpanic-panic ||
	fail "pvpanic-panic: status $st: $(tail -n 20 "$work/pvpanic.err")"
no_qemu_left pvpanic

# 8. --timeout: a guest that runs on is stopped (exit 124).
krun timeout --timeout 8 --append 'qkit.test=sleep' < /dev/null > "$work/to.out" 2> "$work/to.err"
st=$?
[ $st -eq 124 ] && grep -q '^qkit run: timeout: the VM still ran after 8 s; stopped it$' "$work/to.err" &&
	grep -q QKIT-SLEEPING "$work/to.out" && ok timeout-exit-124 ||
	fail "timeout-exit-124: status $st: $(cat "$work/to.err")"
no_qemu_left timeout

# 9. SIGTERM to a foreground run: the ladder, the power button, a clean power-off.
# Not through krun: $! must be qkit itself, not a subshell.
"$qkit" run --name "$tag-term" --kernel "$guest/vmlinuz" --initrd "$work/test.cpio.gz" --accel tcg \
	--timeout 150 --append 'qkit.test=button' < /dev/null > "$work/term.out" 2> "$work/term.err" &
bg=$!
if wait_for "$work/term.out" QKIT-WAITING-FOR-POWER-BUTTON 120; then
	kill -TERM "$bg"
	wait "$bg"
	st=$?
	bg=
	[ $st -eq 143 ] && ok sigterm-exit-143 || fail "sigterm-exit-143: status $st: $(cat "$work/term.err")"
	grep -q QKIT-POWER-BUTTON-PRESSED "$work/term.out" && ok sigterm-guest-saw-power-button ||
		fail "sigterm-guest-saw-power-button: $(tail -n 5 "$work/term.out")"
	grep -q '^qkit run: stopped on Terminated (signal 15)$' "$work/term.err" && ok sigterm-message ||
		fail "sigterm-message: $(cat "$work/term.err")"
else
	fail "sigterm: the guest never waited for the button: $(tail -n 5 "$work/term.out") $(cat "$work/term.err")"
fi
no_qemu_left sigterm

# 9b. qkit stop on a named foreground run: the same ladder, from another process.
"$qkit" run --name "$tag-fgstop" --kernel "$guest/vmlinuz" --initrd "$work/test.cpio.gz" --accel tcg \
	--timeout 150 --append 'qkit.test=button' < /dev/null > "$work/fgstop.out" 2> "$work/fgstop.err" &
bg=$!
if wait_for "$work/fgstop.out" QKIT-WAITING-FOR-POWER-BUTTON 120; then
	timeout 60 "$qkit" stop --timeout 20 "$tag-fgstop" > "$work/fgstop.stop" 2>&1
	stop_st=$?
	wait "$bg"
	st=$?
	bg=
	[ $stop_st -eq 0 ] && [ $st -eq 143 ] && grep -q QKIT-POWER-BUTTON-PRESSED "$work/fgstop.out" &&
		ok foreground-qkit-stop || fail "foreground-qkit-stop: stop $stop_st, run $st: $(cat "$work/fgstop.err" "$work/fgstop.stop")"
else
	fail "foreground-qkit-stop: the guest never waited: $(tail -n 5 "$work/fgstop.out") $(cat "$work/fgstop.err")"
fi
no_qemu_left foreground-qkit-stop

# 10. QEMU refuses to start: exit 1 with its own words, no state left.
krun bad -- -device no-such-device < /dev/null > "$work/bad.out" 2> "$work/bad.err"
st=$?
[ $st -eq 1 ] && grep -q "'no-such-device' is not a valid device model name" "$work/bad.err" &&
	ok qemu-failure-exit-1 || fail "qemu-failure-exit-1: status $st: $(cat "$work/bad.err")"
[ ! -e "$QKIT_RUNTIME_DIR/vms/$tag-bad" ] && ok qemu-failure-no-state || fail qemu-failure-no-state

# 11. --detach without --name takes the spec's name; --paused starts it stopped.
"$qkit" run "$work/pvpanic.yaml" --detach --paused > "$work/dn.out" 2> "$work/dn.err"
st=$?
[ $st -eq 0 ] && [ "$(cat "$work/dn.out")" = "$tag-pvpanic" ] && ok detach-takes-spec-name ||
	fail "detach-takes-spec-name: status $st: $(cat "$work/dn.out" "$work/dn.err")"
"$qkit" qmp "$tag-pvpanic" query-status > "$work/dn.status" 2>&1
grep -q '"running": false' "$work/dn.status" && ok paused-not-running || fail "paused-not-running: $(cat "$work/dn.status")"
timeout 30 "$qkit" kill "$tag-pvpanic" > /dev/null 2>&1
no_qemu_left detach-spec-name

[ "$fails" -eq 0 ]
