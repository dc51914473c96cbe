#!/bin/sh
# qkit qmp against a real QEMU: replies as JSON, typed KEY=VALUE arguments,
# KEY:=JSON and --args, QMP errors (exit 1), usage errors (exit 2), and
# --events streaming until QEMU quits or the user interrupts.
# A QEMU-served monitor takes one client, so it gets two: one for the event
# stream, one for commands; a VM qkit supervises serves any number (tested
# at the end). A watchdog kills QEMU whatever happens.
set -u
qkit=$1
dir=$(mktemp -d)
qemu_pid=
fake_pid=
# $qemu_pid is timeout(1)'s, which runs QEMU in a process group of its own:
# SIGKILL to it would orphan QEMU (the test then hangs on QEMU holding its
# output). SIGTERM is passed on to QEMU; the pid file reaches QEMU itself.
cleanup() {
	[ -s "$dir/qemu.pid" ] && kill -KILL "$(cat "$dir/qemu.pid")" 2>/dev/null
	[ -n "$qemu_pid" ] && kill -TERM "$qemu_pid" 2>/dev/null
	[ -n "$fake_pid" ] && kill -KILL "$fake_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

start_qemu() {
	rm -f "$dir/a.sock" "$dir/b.sock" "$dir/qemu.pid"
	timeout --signal=KILL 120 qemu-system-x86_64 -machine none,accel=tcg -nodefaults \
		-display none -S -name cli-test -pidfile "$dir/qemu.pid" \
		-qmp "unix:$dir/a.sock,server=on,wait=off" \
		-qmp "unix:$dir/b.sock,server=on,wait=off" 2>"$dir/qemu.err" &
	qemu_pid=$!
	# QEMU creates the sockets itself here, so wait for them (bounded).
	for _ in $(seq 100); do
		[ -S "$dir/a.sock" ] && [ -S "$dir/b.sock" ] && return 0
		sleep 0.1
	done
	fail "QEMU did not create its QMP sockets: $(cat "$dir/qemu.err")"
}

start_qemu
a=$dir/a.sock

out=$("$qkit" qmp "$a" query-status) || fail "query-status exited $?"
echo "$out" | grep -q '"status": "prelaunch"' || fail "query-status printed: $out"

# Typed values: an integer stays an integer, true a boolean.
"$qkit" qmp "$a" migrate-set-parameters max-bandwidth=4242 downtime-limit=250 >/dev/null ||
	fail "migrate-set-parameters with KEY=VALUE"
out=$("$qkit" qmp "$a" query-migrate-parameters)
echo "$out" | grep -q '"max-bandwidth": 4242' || fail "max-bandwidth not set as a number: $out"
echo "$out" | grep -q '"downtime-limit": 250' || fail "downtime-limit not set: $out"
"$qkit" qmp "$a" migrate-set-capabilities 'capabilities:=[{"capability": "events", "state": true}]' >/dev/null ||
	fail "KEY:=JSON"
"$qkit" qmp "$a" query-migrate-capabilities | tr -d ' \n' | grep -q '"state":true,"capability":"events"\|"capability":"events","state":true' ||
	fail "the events capability is not on"
out=$("$qkit" qmp "$a" --args '{"path": "/machine", "property": "type"}' qom-get) || fail "--args"
[ "$out" = '"none-machine"' ] || fail "qom-get printed: $out"
out=$("$qkit" qmp "$a" human-monitor-command command-line='info name')
echo "$out" | grep -q 'cli-test' || fail "HMP through qkit qmp printed: $out"

# Errors: QMP's message, exit 1; bad command lines, exit 2.
err=$("$qkit" qmp "$a" device_del id=ghost 2>&1 >/dev/null)
[ $? -eq 1 ] || fail "device_del of a missing device did not exit 1"
echo "$err" | grep -q "device_del: Device 'ghost' not found" || fail "device_del error said: $err"
"$qkit" qmp "$a" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing COMMAND did not exit 2"
"$qkit" qmp "$a" query-status novalue >/dev/null 2>&1
[ $? -eq 2 ] || fail "an argument without '=' did not exit 2"
"$qkit" qmp "$a" qom-get --args '[1]' >/dev/null 2>&1
[ $? -eq 2 ] || fail "--args that is not an object did not exit 2"
err=$("$qkit" qmp "$a" query-status "name=$(printf 'a\377')" 2>&1 >/dev/null)
[ $? -eq 2 ] || fail "an argument that is not UTF-8 did not exit 2 (dropped?)"
echo "$err" | grep -q "is not valid UTF-8" || fail "a non-UTF-8 argument said: $err"
err=$("$qkit" qmp "$dir/nothing.sock" query-status 2>&1)
[ $? -eq 1 ] || fail "a missing socket did not exit 1"
echo "$err" | grep -q "nothing.sock" || fail "a missing socket said: $err"

# Events: stream from monitor b while monitor a makes them happen.
"$qkit" qmp "$dir/b.sock" --events STOP RESUME SHUTDOWN >"$dir/events" 2>"$dir/events.err" &
events_pid=$!
# QEMU drops "disconnected:" from a socket chardev's filename once a client
# is on it; events flow once that client has negotiated, a moment later.
wait_for_client() {
	for _ in $(seq 100); do
		"$qkit" qmp "$a" query-chardev | grep '"filename"' | grep "b.sock" |
			grep -qv 'disconnected:' && { sleep 1; return 0; }
		sleep 0.1
	done
	fail "the event stream never connected: $(cat "$dir/events.err")"
}
wait_for_client
kill -0 "$events_pid" 2>/dev/null || fail "the event stream ended early: $(cat "$dir/events.err")"
"$qkit" qmp "$a" cont >/dev/null || fail "cont"
"$qkit" qmp "$a" stop >/dev/null || fail "stop"
"$qkit" qmp "$a" quit >/dev/null || fail "quit"
wait "$events_pid"
status=$?
[ $status -eq 0 ] || fail "the event stream exited $status after QEMU quit: $(cat "$dir/events.err")"
grep -q '^{"event":"RESUME","data":{},"timestamp":{"seconds":[0-9]*,"microseconds":[0-9]*}}$' "$dir/events" ||
	fail "no RESUME line: $(cat "$dir/events")"
grep -q '"event":"STOP"' "$dir/events" || fail "no STOP line: $(cat "$dir/events")"
grep -q '"event":"SHUTDOWN","data":{"guest":false,"reason":"host-qmp-quit"}' "$dir/events" ||
	fail "no SHUTDOWN line: $(cat "$dir/events")"
[ "$(grep -c . "$dir/events")" -eq 3 ] || fail "unexpected events: $(cat "$dir/events")"
wait "$qemu_pid"
qemu_pid=

# Interrupting the stream ends it with status 0.
start_qemu
"$qkit" qmp "$dir/b.sock" --events >"$dir/events" 2>"$dir/events.err" &
events_pid=$!
wait_for_client
kill -INT "$events_pid"
wait "$events_pid"
status=$?
[ $status -eq 0 ] || fail "SIGINT ended the stream with status $status: $(cat "$dir/events.err")"
"$qkit" qmp "$a" quit >/dev/null || fail "quit"
wait "$qemu_pid"
qemu_pid=

# An event burst larger than the event queue: every event is printed, in
# order. The fake QMP server sends 20000 events in one write, then closes.
fake=$(dirname "$0")/../fakes/qmp-fake.py
python3 "$fake" burst "$dir/fake.sock" &
fake_pid=$!
for _ in $(seq 100); do
	[ -S "$dir/fake.sock" ] && break
	sleep 0.1
done
timeout 60 "$qkit" qmp "$dir/fake.sock" --events >"$dir/burst" 2>"$dir/burst.err" ||
	fail "the event burst stream exited $?: $(cat "$dir/burst.err")"
wait "$fake_pid"
fake_pid=
[ "$(wc -l <"$dir/burst")" -eq 20000 ] || fail "printed $(wc -l <"$dir/burst") of 20000 burst events"
[ "$(sed -n 's/^{"event":"BURST","data":{"n":\([0-9]*\)}.*/\1/p' "$dir/burst" | sort -n | uniq | wc -l)" -eq 20000 ] ||
	fail "burst events are missing or repeated"
head -1 "$dir/burst" | grep -q '"n":0}' && tail -1 "$dir/burst" | grep -q '"n":19999}' ||
	fail "burst events out of order"

# TARGET as a VM name: a detached VM started by qkit, found in the runtime dir.
export QKIT_RUNTIME_DIR="$dir/runtime"
mkdir -m 0700 "$QKIT_RUNTIME_DIR"
# kill_detached only: this script's fail() ends it at once.
kill_detached() (
	. "$(dirname "$0")/vm-lib.sh"
	kill_detached
)
trap 'kill_detached; cleanup' EXIT
out=$("$qkit" start --name qmpcli --detach --paused -- qemu-system-x86_64 -machine none \
	-display none -nodefaults -no-user-config 2>&1) || fail "qkit start: $out"
out=$("$qkit" qmp qmpcli query-status) || fail "qkit qmp NAME query-status exited $?"
echo "$out" | grep -q '"status": "prelaunch"' || fail "query-status by VM name printed: $out"
out=$("$qkit" qmp qmpcli query-name) || fail "query-name exited $?"
echo "$out" | grep -q '"name": "qmpcli"' || fail "qkit start --name did not name the guest: $out"

# The supervisor serves the VM's socket to any number of clients at once
# (QEMU's own socket monitor takes one): an event stream stays connected
# while other clients run commands, two of them concurrently.
"$qkit" qmp qmpcli --events STOP RESUME >"$dir/mux-events" 2>"$dir/mux-events.err" &
events_pid=$!
for _ in $(seq 50); do
	timeout 10 "$qkit" qmp --timeout 5 qmpcli cont >/dev/null || fail "cont next to an event stream"
	timeout 10 "$qkit" qmp --timeout 5 qmpcli stop >/dev/null || fail "stop next to an event stream"
	grep -q '"event":"STOP"' "$dir/mux-events" && break
	sleep 0.1
done
grep -q '"event":"STOP"' "$dir/mux-events" || fail "the event stream saw no STOP: $(cat "$dir/mux-events.err")"
timeout 10 "$qkit" qmp --timeout 5 qmpcli query-name >"$dir/mux-a" 2>&1 &
a_pid=$!
timeout 10 "$qkit" qmp --timeout 5 qmpcli query-status >"$dir/mux-b" 2>&1 &
b_pid=$!
wait "$a_pid" || fail "a concurrent query-name failed: $(cat "$dir/mux-a")"
wait "$b_pid" || fail "a concurrent query-status failed: $(cat "$dir/mux-b")"
grep -q '"name": "qmpcli"' "$dir/mux-a" || fail "concurrent query-name printed: $(cat "$dir/mux-a")"
grep -q '"status": "paused"' "$dir/mux-b" || fail "concurrent query-status printed: $(cat "$dir/mux-b")"
lines=$(grep -c . "$dir/mux-events")
"$qkit" qmp qmpcli cont >/dev/null || fail "cont"
for _ in $(seq 50); do
	[ "$(grep -c . "$dir/mux-events")" -gt "$lines" ] && break
	sleep 0.1
done
tail -1 "$dir/mux-events" | grep -q '"event":"RESUME"' || fail "no RESUME after cont: $(cat "$dir/mux-events")"
kill -0 "$events_pid" 2>/dev/null || fail "the event stream ended: $(cat "$dir/mux-events.err")"
# A raw client: negotiation is required first, ids come back as sent.
out=$(python3 - "$QKIT_RUNTIME_DIR/vms/qmpcli/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
def rx(): return json.loads(f.readline())
def tx(m): f.write(json.dumps(m) + "\n"); f.flush()
g = rx(); assert "version" in g["QMP"], g
tx({"execute": "query-status", "id": "early"}); r = rx()
assert r["error"]["class"] == "CommandNotFound" and r["id"] == "early", r
tx({"execute": "qmp_capabilities"}); assert rx() == {"return": {}}
tx({"execute": "query-name", "id": {"mine": [1]}}); r = rx()
assert r == {"return": {"name": "qmpcli"}, "id": {"mine": [1]}}, r
tx({"execute": "no-such-command", "id": 7}); r = rx()
assert r["error"]["class"] == "CommandNotFound" and r["id"] == 7, r
# A descriptor sent with getfd reaches QEMU with it; closefd then finds it.
import os
rd, wr = os.pipe()
socket.send_fds(s, [json.dumps({"execute": "getfd", "arguments": {"fdname": "p"}, "id": 8}).encode() + b"\n"], [rd])
r = rx(); assert r == {"return": {}, "id": 8}, r
tx({"execute": "closefd", "arguments": {"fdname": "p"}, "id": 9}); r = rx()
assert r == {"return": {}, "id": 9}, r
tx({"execute": "closefd", "arguments": {"fdname": "p"}, "id": 10}); r = rx()
assert "error" in r and r["id"] == 10, r
print("raw ok")
PY
) || fail "a raw QMP client: $out"
kill -TERM "$events_pid"
wait "$events_pid"
# Sixteen clients at once; a seventeenth is refused at once, with a reason.
out=$(timeout 20 python3 - "$QKIT_RUNTIME_DIR/vms/qmpcli/qmp.sock" <<'PY'
import json, socket, sys, time
def client():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    return s, s.makefile("r")
held = [client() for _ in range(16)]
for s, f in held:
    assert "QMP" in json.loads(f.readline())
s, f = client()
r = json.loads(f.readline())
assert r["error"]["desc"] == "qkit: too many QMP clients on this VM (16)", r
assert f.readline() == "", "the refused client stays connected"
for s, f in held:
    f.close(); s.close()  # the file holds the socket open too
time.sleep(0.5)
s, f = client()
assert "QMP" in json.loads(f.readline()), "no slot came free"
print("slots ok")
PY
) || fail "sixteen clients and a seventeenth: $out"
# A timeout below 1 ms is 1 ms (it may pass or time out under load), never 0.
err=$("$qkit" qmp --timeout 0.0001 qmpcli query-status 2>&1)
echo "$err" | grep -q "within 0 ms" && fail "--timeout 0.0001 became 0 ms: $err"
err=$("$qkit" qmp no-such-vm query-status 2>&1)
[ $? -eq 1 ] || fail "an unknown VM name did not exit 1"
[ "$err" = 'qkit qmp: no VM named "no-such-vm"' ] || fail "an unknown VM name said: $err"
"$qkit" kill qmpcli >/dev/null 2>&1 || fail "qkit kill qmpcli"

echo "ok: qkit qmp replies, typed arguments, errors, event streams, bursts and VM names"
