#!/bin/sh
# Supervision of a real Linux guest under TCG, through `qkit start --console`:
#  - SIGTERM to a foreground qkit runs the stop ladder; the guest sees the
#    ACPI power button (button.ko + evdev.ko from the Debian kernel), powers
#    off, QEMU exits 0 and so does qkit;
#  - a guest panic (pvpanic) is reported as a panic;
#  - a detached VM's console is drained into console.log and console.sock.
# The guest's /init picks its part from the kernel command line.
set -u
qkit=$1
guest=$("$(dirname "$0")/../guest/prepare") || { echo "FAIL: guest assets missing"; exit 1; }
kver=$(cat "$guest/kernel-version")
work=$(mktemp -d /tmp/qkit-e2e-guest.XXXXXX)
export QKIT_RUNTIME_DIR="$work/run"
. "$(dirname "$0")/vm-lib.sh"
qkit_pid=
cleanup() {
	[ -n "$qkit_pid" ] && kill -9 "$qkit_pid" 2>/dev/null
	kill_detached
	rm -rf "$work"
}
trap cleanup EXIT

# The test initramfs and its /init's parts: see test_initramfs in vm-lib.sh.
test_initramfs "$work/initramfs.cpio.gz" "$guest"

qemu() { # APPEND...
	echo qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 -nodefaults \
		-no-user-config -display none -no-reboot -serial chardev:qkit-console \
		-kernel "$guest/vmlinuz" -initrd "$work/initramfs.cpio.gz"
}
append_base='console=ttyS0 panic=-1 quiet'


# 1. SIGTERM -> ladder -> ACPI power button -> clean power-off, exit 0
"$qkit" -v start --console --timeout 150 -- $(qemu) -append "$append_base qkit.test=button" \
	> "$work/button.out" 2> "$work/button.err" &
qkit_pid=$!
if wait_for "$work/button.out" QKIT-WAITING-FOR-POWER-BUTTON 120; then
	kill -TERM "$qkit_pid"
	wait "$qkit_pid"
	st=$?
	qkit_pid=
	grep -q QKIT-POWER-BUTTON-PRESSED "$work/button.out" && ok guest-saw-power-button ||
		fail "guest-saw-power-button: $(cat "$work/button.out")"
	[ $st -eq 0 ] && ok sigterm-clean-exit || fail "sigterm-clean-exit: status $st; $(cat "$work/button.err")"
	grep -q 'stop: system_powerdown' "$work/button.err" && ok ladder-logged ||
		fail "ladder-logged: $(cat "$work/button.err")"
	grep -q 'stop: quit' "$work/button.err" && fail "ladder-needed-quit" || ok ladder-stopped-at-powerdown
else
	fail "guest never waited for the button: $(cat "$work/button.out" "$work/button.err")"
	kill -9 "$qkit_pid"
	qkit_pid=
fi

# 2. guest panic -> reported as a panic, exit 1; with the default action
# QEMU ends by itself, with panic=pause it would stay and qkit quits it.
for action in default pause; do
	extra=
	[ $action = pause ] && extra="-action panic=pause"
	"$qkit" -v start --console --timeout 150 -- $(qemu) -device pvpanic $extra \
		-append "$append_base qkit.test=pvpanic" > "$work/panic.out" 2> "$work/panic.err"
	st=$?
	if [ $st -eq 1 ] && grep -q '^qkit start: the guest panicked$' "$work/panic.err" &&
		grep -q 'GUEST_PANICKED' "$work/panic.err"; then
		ok "guest-panic-$action"
	else
		fail "guest-panic-$action: status $st: $(cat "$work/panic.out" "$work/panic.err")"
	fi
done
grep -q 'GUEST_PANICKED (action pause)' "$work/panic.err" && ok panic-pause-quit-by-qkit ||
	fail "panic-pause-quit-by-qkit: $(cat "$work/panic.err")"

# 3. detached: the supervisor drains the console into console.log and console.sock
"$qkit" start --name g-detached --detach --console -- $(qemu) -append "$append_base" >/dev/null ||
	fail "detached start"
dir="$QKIT_RUNTIME_DIR/vms/g-detached"
[ -S "$dir/console.sock" ] && [ "$(stat -c %a "$dir/console.sock")" = 600 ] && ok console-socket ||
	fail "console-socket: $(ls -l "$dir")"
grep -q '"console_socket"' "$dir/state.json" && ok console-in-state || fail console-in-state
log="$dir/console.log"
if wait_for "$log" "QKIT-CONSOLE-HELLO $kver" 120; then ok console-drained; else fail "console-drained"; fi
# It powers off by itself; the supervisor then removes the state.
i=0
while [ -e "$dir" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -e "$dir" ] && ok detached-cleanup || fail detached-cleanup

[ "$fails" -eq 0 ]
