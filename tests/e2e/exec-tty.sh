#!/bin/sh
# qkit exec on a real terminal (a pty driven by python3, its controlling
# terminal): the command runs on a guest tty (/dev/hvc0) with the host
# terminal's size and TERM, stty works, typed lines and ^C reach it, its
# exit status is qkit's, Ctrl-] q stops the VM (125); the host terminal is
# raw meanwhile and restored after a normal end, Ctrl-] q and SIGTERM, and
# no QEMU is left. --no-tty, or output to a file, keeps the plain streams.
# Usage: exec-tty.sh QKIT
set -u
. "$(dirname "$0")/lib.sh"
e2e_setup "$1"
tag=qkit-e2e-exec-tty-$$
cd "$tmp"

PYTHONPATH="$(dirname "$0")" timeout --signal=KILL 280 python3 - "$qkit" "$guest/vmlinuz" "$tag" <<'PY' || fails=$((fails + 1))
import fcntl, os, select, signal, struct, subprocess, sys, termios, time

qkit, kernel, tag = sys.argv[1:4]
from ptytest import check, failures, raw, read_until
before = None

def controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

def start(*args, stdout=None):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    env = dict(os.environ, TERM="xterm")
    global before
    before = termios.tcgetattr(slave) # before qkit can have touched it
    p = subprocess.Popen([qkit, "exec", "--kernel", kernel, "--timeout", "100",
                          "--append", tag] + list(args),
                         stdin=slave, stdout=stdout or slave, stderr=slave, env=env,
                         preexec_fn=controlling_tty, close_fds=True)
    return p, master, slave

def finish(p, master, timeout=60):
    got = b""
    end = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < end:
        got += read_until(master, None, 0.5)
    if p.poll() is None:
        p.kill()
    p.wait()
    return got, p.returncode

def no_qemu_left(what):
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "qemu-system.*" + tag], capture_output=True, text=True).stdout.split()
    check(not left, "%s: no QEMU left %s" % (what, left))

# 1. A guest tty: tty(1), stty, TERM, typed input, the exit status.
p, m, s = start("--", "sh", "-c",
                'tty; stty -a | head -n 1; echo "TERM=$TERM"; echo READY; read l; echo "got:$l"; exit 7')
got = read_until(m, b"READY", 90)
check(raw(s), "the terminal is raw while the command runs")
os.write(m, b"hello\r")
rest, status = finish(p, m)
got += rest
check(b"/dev/hvc0\r\n" in got, "tty in the guest is /dev/hvc0: %r" % got[:200])
check(b"rows 33; columns 101;" in got, "stty -a sees the host terminal's size")
check(b"TERM=xterm" in got, "TERM is the host's")
check(b"got:hello" in got, "a typed line reaches the command")
check(status == 7, "the exit status is the command's (7): %d" % status)
check(termios.tcgetattr(s) == before, "the terminal is restored after a normal end")
no_qemu_left("normal end")

# 2. ^C is the guest tty's: SIGINT to the command, whose status says so.
p, m, s = start("--", "sh", "-c", "echo READY; sleep 100")
got = read_until(m, b"READY", 90)
os.write(m, b"\x03")
rest, status = finish(p, m)
check(status == 130, "^C on the guest tty interrupts the command (130): %d %r" % (status, rest[-200:]))

# 3. Ctrl-] q stops the VM.
p, m, s = start("--", "sh", "-c", "echo READY; sleep 100")
before_term = None
got = read_until(m, b"READY", 90)
t0 = time.monotonic()
os.write(m, b"\x1dq")
rest, status = finish(p, m)
check(status == 125, "Ctrl-] q stops the run (125): %d" % status)
check(b"stopped on the escape key" in rest, "Ctrl-] q says so: %r" % rest[-200:])
check(time.monotonic() - t0 < 10, "Ctrl-] q stops it at once")
check(termios.tcgetattr(s) == before, "the terminal is restored after Ctrl-] q")
no_qemu_left("Ctrl-] q")

# 4. SIGTERM: qkit ends by it, the terminal restored, QEMU gone with it.
p, m, s = start("--", "sh", "-c", "echo READY; sleep 100")
got = read_until(m, b"READY", 90)
check(raw(s), "raw before SIGTERM")
p.send_signal(signal.SIGTERM)
rest, status = finish(p, m)
check(status == -signal.SIGTERM, "SIGTERM ends qkit exec: %d" % status)
check(termios.tcgetattr(s) == before, "the terminal is restored after SIGTERM")
no_qemu_left("SIGTERM")

# 5. --no-tty on a terminal: the plain streams, the terminal untouched.
p, m, s = start("--no-tty", "--", "sh", "-c", "tty; echo READY; sleep 2")
got = read_until(m, b"READY", 90)
check(not raw(s), "--no-tty leaves the terminal cooked")
rest, status = finish(p, m)
got += rest
check(b"not a tty" in got and status == 0, "--no-tty: stdin is no tty in the guest: %r" % got[:200])

# 6. Output redirected from a terminal: the plain streams by default, so
# stdout and stderr stay apart.
with open("redirected.out", "wb") as out:
    p, m, s = start("--", "sh", "-c", "tty; echo READY >&2; sleep 2; echo err >&2", stdout=out)
    got = read_until(m, b"READY", 90)
    check(not raw(s), "output to a file: the terminal stays cooked")
    rest, status = finish(p, m)
got += rest
with open("redirected.out", "rb") as f:
    out = f.read()
check(out == b"not a tty\n" and b"err" in got and status == 0,
      "output to a file: no guest tty, stderr apart: %r %r" % (out, got[-100:]))

sys.exit(1 if failures else 0)
PY

# Not a terminal: --tty still runs the command on one.
echo 'typed' | exec_run --tty -- sh -c 'tty; read l; echo "got:$l"' >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "--tty without a terminal gave status $status: $(cat err.txt)"
grep -q '^/dev/hvc0' out.txt || fail "--tty: tty said $(cat out.txt)"
grep -q 'got:typed' out.txt || fail "--tty: the piped line did not arrive: $(cat out.txt)"

e2e_finish "guest tty, size, TERM, input, ^C, status, Ctrl-] q, SIGTERM, --no-tty, output to a file, --tty on a pipe"
