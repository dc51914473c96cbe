#!/bin/sh
# qkit run on a real terminal (a pty driven by python3), the guest's init an
# interactive shell on the serial console (Linux under TCG): the terminal is
# raw while the console is attached, typed keys run in the guest and its
# output comes back, Ctrl-] q stops the VM through the ladder (exit 0), a
# SIGTERM does too (exit 143), the terminal's settings come back both times,
# and no QEMU is left.
# Usage: run-terminal.sh QKIT
set -u
qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
guest=$("$top/tests/guest/prepare") || { echo "FAIL: guest assets missing"; exit 1; }
work=$(mktemp -d /tmp/qkit-e2e-run-term.XXXXXX)
export QKIT_RUNTIME_DIR="$work/run"
unset QKIT_QEMU QKIT_ARCH QKIT_KERNEL QKIT_INITRD QKIT_APPEND QKIT_QEMU_APPEND QKIT_TIMEOUT
tag=qkit-e2e-run-term-$$
cleanup() {
	pkill -9 -f "guest=$tag" 2>/dev/null # only QEMUs this test named
	rm -rf "$work"
}
trap cleanup EXIT

# No command: the generated init runs an interactive shell on the console.
"$qkit" initramfs -o "$work/shell.img" --compress none || { echo "FAIL: qkit initramfs"; exit 1; }

PYTHONPATH="$(dirname "$0")" timeout --signal=KILL 250 python3 - "$qkit" "$tag" "$guest/vmlinuz" "$work/shell.img" <<'PY'
import os, select, signal, subprocess, sys, termios, time

qkit, tag, kernel, initrd = sys.argv[1:5]
from ptytest import check, cooked, failures, raw, read_until, type_until, wait_raw

def start(name):
    master, slave = os.openpty()
    p = subprocess.Popen([qkit, "run", "--name", name, "--kernel", kernel, "--initrd", initrd,
                          "--accel", "tcg", "--mem", "256", "--timeout", "200",
                          "--append", "quiet", "--stop-timeout", "2"],
                         stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, close_fds=True)
    return p, master, slave

def wait(p, seconds):
    try:
        return p.wait(seconds)
    except subprocess.TimeoutExpired:
        p.kill()
        return None

def qemu_left(name):
    time.sleep(0.3)
    return subprocess.run(["pgrep", "-f", "guest=" + name], capture_output=True).returncode == 0

# 1. Type into the guest's shell; Ctrl-] q stops the VM and restores the terminal.
name = tag + "-q"
p, master, slave = start(name)
out = read_until(master, b"Ctrl-] then q stops the VM", 10)
check(b"Ctrl-] then q stops the VM" in out, "run says how to stop the VM")
check(wait_raw(slave), "the terminal is raw while the console is attached")
check(type_until(master, b"echo hi-$((6*7))\r", b"hi-42"),
      "a command typed on the terminal ran in the guest")
os.write(master, b"\x1dq")
status = wait(p, 30)
out = read_until(master, b"stopped on the escape key", 2)
check(status == 0, "Ctrl-] q stops the VM, status 0 (got %r)" % status)
check(b"qkit run: stopped on the escape key" in out, "Ctrl-] q says what happened (%r)" % out[-200:])
check(cooked(slave), "the terminal is restored after Ctrl-] q")
check(not qemu_left(name), "no QEMU left after Ctrl-] q")
os.close(master); os.close(slave)

# 2. SIGTERM while attached: the ladder runs, the terminal comes back, 128+15.
name = tag + "-term"
p, master, slave = start(name)
answer = b""
deadline = time.monotonic() + 120
while b"hi-7" not in answer and time.monotonic() < deadline:
    os.write(master, b"echo hi-$((3+4))\r")
    answer += read_until(master, b"hi-7", 5)
check(raw(slave), "raw on the second run")
p.send_signal(signal.SIGTERM)
status = wait(p, 30)
check(status == 143, "SIGTERM stops the VM, status 143 (got %r)" % status)
check(cooked(slave), "the terminal is restored after SIGTERM")
check(not qemu_left(name), "no QEMU left after SIGTERM")
os.close(master); os.close(slave)

# 3. A background job of an interactive shell (qkit run &) leaves the terminal
# alone instead of being stopped by SIGTTOU: the guest boots and powers off.
name = tag + "-bg"
master, slave = os.openpty()
prepared = os.path.join(os.path.dirname(kernel), "initramfs.cpio.gz")
cmd = ("'%s' run --name %s --kernel '%s' --initrd '%s' --accel tcg --timeout 100 & wait $!; "
       "echo STATUS=$?" % (qkit, name, kernel, prepared))
p = subprocess.Popen(["setsid", "-c", "sh", "-ic", cmd], stdin=slave, stdout=slave, stderr=slave,
                     close_fds=True)
out = read_until(master, b"STATUS=", 120)
wait(p, 10)
check(b"QKIT-GUEST-READY" in out and b"STATUS=0" in out,
      "a background job boots and exits 0 (%r)" % out[-200:])
check(not qemu_left(name), "no QEMU left after the background job")
os.close(master); os.close(slave)

sys.exit(1 if failures else 0)
PY
status=$?
[ "$status" -eq 0 ] || { echo "FAIL: see above (status $status)"; exit 1; }
echo "ok: qkit run attaches the terminal, stops on Ctrl-] q and SIGTERM, restores the terminal"
