#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Acceptance of the golden cases by the real QEMU.

Every NAME.ARCH.args whose NAME.yaml does not say "# accept: no" (the
cases that need a tap device, a vhost-user socket, KVM, a kernel...) is
started with its qemu-system-ARCH, paused (-S) and with a QMP socket. QEMU
must come up, and `qom-list /machine/peripheral` must list every -device id
of the argv (on PCI machines `query-pci` must answer too). A case QEMU
rejects fails, with QEMU's message.

Port forwards, TCP chardev servers and socket/dgram netdevs listen on a
port the kernel picks (port 0), so a port in use on the test host (or by
another run of this test) cannot fail a case. Paths under
/tmp/qkit-golden/ are made to exist first, in a private
directory substituted for that prefix: *.qcow2 by qemu-img, *.img, *.iso,
*.fd, *.log, *.json and *.pw as small files, *.sock left for QEMU to
create, anything else as a directory.

Usage: accept.py GOLDEN-DIR [NAME...]
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PREFIX = "/tmp/qkit-golden/"
FILE_SUFFIXES = (".img", ".iso", ".fd", ".log", ".json", ".pw", ".pid")


def read_args(path):
    args = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n")[:-1]:
            args.append(re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), line))
    return args


def make_paths(args, tmp):
    out = []
    for a in args:
        for m in re.finditer(re.escape(PREFIX) + r"([A-Za-z0-9_.-]+)", a):
            name = m.group(1)
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                continue
            if name.endswith(".qcow2"):
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "16M"], check=True)
            elif name.endswith(".nv"):
                with open(path, "wb") as f:
                    f.truncate(128 << 20)
            elif name.endswith(FILE_SUFFIXES):
                with open(path, "wb") as f:
                    f.truncate(4 << 20 if name.endswith((".img", ".iso", ".fd")) else 0)
                    if name.endswith(".pw"):
                        f.write(b"secret")
            elif not name.endswith(".sock"):
                os.makedirs(path, exist_ok=True)
        a = re.sub(r"\b(tcp|udp):([0-9.]*):[0-9]+-", r"\1:\2:0-", a)
        if "server=on" in a:
            a = re.sub(r"\bport=[0-9]+", "port=0", a)
        a = re.sub(r"\blisten=([0-9.]+):[0-9]+", r"listen=\1:0", a)
        a = re.sub(r'("local":\{[^}]*"port":")[0-9]+"', r'\g<1>0"', a)
        out.append(a.replace(PREFIX, tmp + "/"))
    return out


def device_ids(args):
    ids = []
    for i, a in enumerate(args[:-1]):
        if a != "-device":
            continue
        v = args[i + 1]
        if v.startswith("{"):
            d = json.loads(v)
            if "id" in d:
                ids.append(d["id"])
        else:
            m = re.search(r"(?:^|,)id=([^,]+)", v)
            if m:
                ids.append(m.group(1))
    return ids


class QMP:
    def __init__(self, path, deadline):
        self.s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.s.settimeout(max(1.0, deadline - time.monotonic()))
        self.f = self.s.makefile("rb")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QEMU closed QMP")
            r = json.loads(line)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']['desc']}")


def accept(name, argspath):
    args = read_args(argspath)
    ids = device_ids(args)
    tmp = tempfile.mkdtemp(prefix="qkit-accept-")
    qmp_path = os.path.join(tmp, "qmp.sock")
    proc = None
    try:
        argv = make_paths(args, tmp) + ["-S", "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, cwd=tmp)
        deadline = time.monotonic() + 30
        try:
            q = QMP(qmp_path, deadline)
        except Exception:
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                err = b"(no QMP and no exit)"
            return f"QEMU did not come up: {err.decode(errors='replace').strip()}"
        peripheral = {p["name"] for p in q.cmd("qom-list", {"path": "/machine/peripheral"})}
        missing = [i for i in ids if i not in peripheral]
        if missing:
            return f"devices missing from /machine/peripheral: {missing}"
        if any(x in " ".join(args) for x in ("q35", "-machine pc", "virt")):
            q.cmd("query-pci")
        try:
            q.cmd("quit")
        except (EOFError, OSError):
            pass
        proc.wait(timeout=10)
        return None
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    d = sys.argv[1]
    names = sys.argv[2:]
    fails = 0
    ran = 0
    for argspath in sorted(glob.glob(os.path.join(d, "*.args"))):
        base = os.path.basename(argspath)
        name = base.split(".")[0]
        if names and name not in names:
            continue
        with open(os.path.join(d, name + ".yaml"), encoding="utf-8") as f:
            if "# accept: no" in f.read():
                continue
        ran += 1
        why = accept(name, argspath)
        if why:
            fails += 1
            print(f"FAIL {base}: {why}")
        else:
            print(f"ok   {base}")
    print(f"{ran} cases started, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
