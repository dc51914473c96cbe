"""What the terminal tests (console-attach, run-terminal, exec-tty) share:
reading a pty until a marker, telling raw mode from cooked, and counting
checks. Each script runs python3 with PYTHONPATH set to this directory."""
import os
import select
import termios
import time

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def read_until(master, want, timeout, got=b""):
    """Read master until want appears (None: until timeout or end of file)."""
    end = time.monotonic() + timeout
    while (want is None or want not in got) and time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                d = os.read(master, 65536)
            except OSError:
                break
            if not d:
                break
            got += d
    return got


def raw(fd):
    lflag = termios.tcgetattr(fd)[3]
    return not (lflag & (termios.ICANON | termios.ECHO | termios.ISIG))


def cooked(fd):
    lflag = termios.tcgetattr(fd)[3]
    return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO) and bool(lflag & termios.ISIG)


def wait_raw(fd, seconds=5):
    """Whether fd turns raw within seconds (qkit says how to detach first)."""
    end = time.monotonic() + seconds
    while not raw(fd) and time.monotonic() < end:
        time.sleep(0.05)
    return raw(fd)


def type_until(master, line, want, timeout=120):
    """Type line into the guest until its output shows want (it may still be booting)."""
    answer = b""
    end = time.monotonic() + timeout
    while want not in answer and time.monotonic() < end:
        os.write(master, line)
        answer += read_until(master, want, 5)
    return want in answer
