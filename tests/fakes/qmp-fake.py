#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A scripted QMP peer for the faults real QEMU will not produce on demand.

Usage: qmp-fake.py SCENARIO          (the connected socket is inherited as fd 3)
       qmp-fake.py SCENARIO SOCKET   (listens on the unix socket SOCKET and
                                      serves the first client, as QEMU's -qmp)

Scenarios decide what happens before and during the greeting:
  normal           greeting (offering oob), then serve commands
  events-first     three events before the greeting, then serve
  no-greeting      say nothing, ever
  garbage          a greeting line that is not JSON
  close-early      close the connection before the greeting
  refuse           an error instead of the greeting, then close (as a
                   supervisor with all its client slots taken)
  split            like normal, but every byte sent goes out in its own write
  burst            like normal, but once qmp_capabilities is answered, sends
                   20000 events (BURST, data {"n": 0..19999}) in one write
                   and closes the connection

Once serving, commands (all echo their "id") do:
  qmp_capabilities  {} (records whether oob was enabled, see "caps")
  caps              {"enable": [what qmp_capabilities asked for]}
  echo              returns its arguments
  big               returns {"data": "x" * arguments.bytes}
  fail              an error of class arguments.class, desc arguments.desc
  hang              never answers; arguments.late_ms > 0: answers that late
  defer             answers only after the next command has been answered
  close             closes the connection without answering
  garbage           answers with a line that is not JSON
  noid              answers without an id (as QEMU does for unparsable input)
  flood             answers {}, then sends arguments.count events from a
                    second thread while commands keep being served
  emit              sends arguments.events (list of [name, data]) then {}
  fds               returns {"count": N, "read": [first line of each fd]}
                    for the descriptors that came with this command
  device_del        answers {} and sends no DEVICE_DELETED, like a guest
                    that ignores the unplug request
  pause             answers {}, then reads nothing for arguments.ms, so the
                    client's writes back up; arguments.event_ms > 0 sends a
                    PING event that long into the pause, and arguments.events
                    ([[ms, name], ...]) more events at those times
"""
import array
import json
import os
import socket
import sys
import threading
import time

SCENARIO = sys.argv[1] if len(sys.argv) > 1 else "normal"
if len(sys.argv) > 2:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sys.argv[2])
    listener.listen(1)
    sock, _ = listener.accept()
    listener.close()
else:
    sock = socket.socket(fileno=3)
send_lock = threading.Lock()
split = SCENARIO == "split"


def send_raw(data: bytes):
    with send_lock:
        if split:
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
        else:
            sock.sendall(data)


def send(obj):
    send_raw(json.dumps(obj, separators=(",", ":")).encode() + b"\r\n")


def event(name, data=None, seq=0):
    msg = {"event": name, "timestamp": {"seconds": 1700000000 + seq, "microseconds": 250000}}
    if data is not None:
        msg["data"] = data
    send(msg)


def reply(cmd, value):
    msg = {"return": value}
    if "id" in cmd:
        msg["id"] = cmd["id"]
    send(msg)


def error(cmd, cls, desc):
    msg = {"error": {"class": cls, "desc": desc}}
    if "id" in cmd:
        msg["id"] = cmd["id"]
    send(msg)


def flood(count):
    for i in range(count):
        event("FLOOD", {"n": i})


class Reader:
    """Reads newline-framed commands and the descriptors sent with them."""

    def __init__(self):
        self.buf = b""
        self.fds = []

    def next(self):
        while b"\n" not in self.buf:
            fds = array.array("i")
            data, anc, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            self.fds.extend(fds)
            if not data:
                return None, []
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        fds, self.fds = self.fds, []
        return json.loads(line), fds


def serve():
    reader = Reader()
    caps = []
    deferred = []
    while True:
        cmd, fds = reader.next()
        if cmd is None:
            return
        name = cmd.get("execute")
        args = cmd.get("arguments", {})
        if name == "qmp_capabilities":
            caps = args.get("enable", [])
            reply(cmd, {})
            if SCENARIO == "burst":
                send_raw(b"".join(json.dumps({"event": "BURST", "data": {"n": i},
                                              "timestamp": {"seconds": 1700000000,
                                                            "microseconds": i % 1000000}},
                                             separators=(",", ":")).encode() + b"\r\n"
                                  for i in range(20000)))
                sock.close()
                return
        elif name == "caps":
            reply(cmd, {"enable": caps})
        elif name == "echo":
            reply(cmd, args)
        elif name == "huge":
            # QEMU's uint64 properties (device-list-properties defaults) go past int64.
            reply(cmd, {"max": 18446744073709551615, "small": 7})
        elif name == "big":
            reply(cmd, {"data": "x" * args["bytes"]})
        elif name == "fail":
            error(cmd, args.get("class", "GenericError"), args.get("desc", "failed"))
        elif name == "hang":
            late = args.get("late_ms", 0)
            if late:
                threading.Timer(late / 1000, reply, (cmd, {"late": True})).start()
        elif name == "defer":
            deferred.append(cmd)
            continue
        elif name == "close":
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            return
        elif name == "garbage":
            send_raw(b'{"return": {}, "id": ' + str(cmd.get("id")).encode() + b", oops\r\n")
        elif name == "noid":
            send({"error": {"class": "GenericError", "desc": "JSON parse error"}})
        elif name == "flood":
            reply(cmd, {})
            threading.Thread(target=flood, args=(args["count"],), daemon=True).start()
        elif name == "emit":
            for i, (ename, data) in enumerate(args["events"]):
                event(ename, data, i)
            reply(cmd, {})
        elif name == "device_del":
            reply(cmd, {})
        elif name == "pause":
            reply(cmd, {})
            if args.get("event_ms"):
                threading.Timer(args["event_ms"] / 1000, event, ("PING", {})).start()
            for ms, ename in args.get("events", []):
                threading.Timer(ms / 1000, event, (ename, {})).start()
            time.sleep(args["ms"] / 1000)
        elif name == "fds":
            lines = []
            for fd in fds:
                with os.fdopen(fd, "rb") as f:
                    lines.append(f.readline().decode().rstrip("\n"))
            reply(cmd, {"count": len(fds), "read": lines})
        else:
            error(cmd, "CommandNotFound", "The command %s has not been found" % name)
        for d in deferred:
            reply(d, {"deferred": True})
        deferred = []


GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                "package": "qkit-fake"},
                    "capabilities": ["oob"]}}

def linger():
    """Stay silent until the client hangs up, so no fake outlives its test."""
    while sock.recv(65536):
        pass


try:
    if SCENARIO == "no-greeting":
        linger()
    elif SCENARIO == "close-early":
        sock.close()
    elif SCENARIO == "refuse":
        send({"error": {"class": "GenericError", "desc": "qkit: too many QMP clients on this VM (16)"}})
        sock.close()
    elif SCENARIO == "garbage":
        send_raw(b"QMP ready? {not json}\r\n")
        linger()
    else:
        if SCENARIO == "events-first":
            event("VSERPORT_CHANGE", {"id": "channel0", "open": True})
            event("NIC_RX_FILTER_CHANGED", {"path": "/machine/peripheral/net0"})
            event("RTC_CHANGE", {"offset": 0})
        send(GREETING)
        serve()
except (BrokenPipeError, ConnectionResetError, OSError):
    pass
