#!/bin/sh
# qkit console on a real terminal (a pty driven by python3) against a
# detached Linux guest (TCG) whose init is a shell on the serial console:
# keys reach the guest and its output reaches the terminal, the terminal
# is raw while attached, Ctrl-] q detaches (the VM keeps running), and the
# terminal's settings come back after a detach and after qkit console is
# killed by SIGTERM.
# Usage: console-attach.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
guest=$("$(dirname "$0")/../guest/prepare") || { echo "FAIL: guest assets missing"; exit 1; }
export QKIT_RUNTIME_DIR
QKIT_RUNTIME_DIR=$(mktemp -d /tmp/qkit-e2e-console.XXXXXX)
name=console-test
cleanup() {
	timeout 30 "$qkit" kill "$name" >/dev/null 2>&1
	rm -rf "$QKIT_RUNTIME_DIR"
}
trap cleanup EXIT

# No command: the generated init runs an interactive shell on the console.
"$qkit" initramfs -o "$QKIT_RUNTIME_DIR/shell.img" --compress none || { echo "FAIL: qkit initramfs"; exit 1; }
"$qkit" start --name "$name" --detach --console --timeout 300 -- qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -m 256 -nodefaults -no-user-config -display none \
	-serial chardev:qkit-console -kernel "$guest/vmlinuz" \
	-initrd "$QKIT_RUNTIME_DIR/shell.img" -append 'console=ttyS0 quiet' >/dev/null ||
	{ echo "FAIL: qkit start"; exit 1; }

PYTHONPATH="$(dirname "$0")" timeout --signal=KILL 200 python3 - "$qkit" "$name" <<'PY'
import os, select, signal, subprocess, sys, termios, time

qkit, name = sys.argv[1], sys.argv[2]
from ptytest import check, cooked, failures, raw, read_until, type_until, wait_raw

def attach():
    master, slave = os.openpty()
    p = subprocess.Popen([qkit, "console", name], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, close_fds=True)
    return p, master, slave

# 1. Type a command into the guest's shell and see its output.
p, master, slave = attach()
out = read_until(master, b"Ctrl-] then q detaches", 10)
check(b"Connected to console-test's console" in out, "attach says how to detach")
# The message comes just before the terminal goes raw.
check(wait_raw(slave), "the terminal is raw while attached")
check(type_until(master, b"echo hi-$((6*7))\r", b"hi-42"),
      "a command typed on the terminal ran in the guest")

# 2. Ctrl-] q detaches; the VM keeps running; the terminal is restored.
os.write(master, b"\x1dq")
try:
    status = p.wait(10)
except subprocess.TimeoutExpired:
    p.kill()
    status = None
check(status == 0, "Ctrl-] q detaches with status 0 (got %r)" % status)
check(cooked(slave), "the terminal is restored after detaching")
ps = subprocess.run([qkit, "ps"], capture_output=True, text=True)
check(name in ps.stdout, "the VM still runs after detaching")
os.close(master); os.close(slave)

# 3. Killed by a signal while attached: the terminal still comes back.
p, master, slave = attach()
read_until(master, b"Ctrl-] then q detaches", 10)
check(wait_raw(slave), "raw again on the second attach")
p.send_signal(signal.SIGTERM)
try:
    status = p.wait(10)
except subprocess.TimeoutExpired:
    p.kill()
    status = None
check(status == -signal.SIGTERM, "SIGTERM still ends qkit console (got %r)" % status)
check(cooked(slave), "the terminal is restored after SIGTERM")
os.close(master); os.close(slave)

sys.exit(1 if failures else 0)
PY
status=$?
[ "$status" -eq 0 ] || { echo "FAIL: see above (status $status)"; exit 1; }
echo "ok: qkit console relays, detaches, and restores the terminal"
