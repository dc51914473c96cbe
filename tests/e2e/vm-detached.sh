#!/bin/sh
# Detached VMs through the CLI, with the real QEMU (-machine none, paused):
# start, ps (table and JSON), duplicate-name refusal, stop, kill, a launch
# failure that quotes QEMU and leaves no state, stale state after the
# supervisor is SIGKILLed (QEMU must be gone within 1 s), the whole ladder
# against a QEMU that answers nothing, fds the supervisor must not keep,
# and a foreground --timeout.
set -u
qkit=$1
export QKIT_RUNTIME_DIR
QKIT_RUNTIME_DIR=$(mktemp -d /tmp/qkit-e2e-vm.XXXXXX)
. "$(dirname "$0")/vm-lib.sh"
cleanup() {
	kill_detached
	rm -rf "$QKIT_RUNTIME_DIR"
}
trap cleanup EXIT
qemu="qemu-system-x86_64 -machine none -display none -nodefaults -no-user-config"
# A killed process whose new parent never reaps it is a zombie: gone all the same.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# start --detach prints the name and returns with the VM running
out=$("$qkit" start --name alpha --detach --paused -- $qemu 2>&1)
[ "$out" = alpha ] && ok start-detach || fail "start-detach: $out"
pid=$(json_field alpha pid)
sup=$(json_field alpha supervisor_pid)
alive "$pid" && alive "$sup" && ok start-processes || fail "start-processes: pid=$pid sup=$sup"
mode=$(stat -c %a "$QKIT_RUNTIME_DIR/vms/alpha/qmp.sock" 2>/dev/null)
[ "$mode" = 600 ] && ok qmp-socket-0600 || fail "qmp-socket-0600: mode $mode"
mode=$(stat -c %a "$QKIT_RUNTIME_DIR/vms/alpha")
[ "$mode" = 700 ] && ok state-dir-0700 || fail "state-dir-0700: mode $mode"

"$qkit" ps | grep -q "^alpha  *$pid  *$sup .*qemu-system-x86_64 -machine none" && ok ps-table ||
	fail "ps-table: $("$qkit" ps)"
"$qkit" ps --json | grep -q "\"qmp_socket\": \"$QKIT_RUNTIME_DIR/vms/alpha/qmp.sock\"" &&
	ok ps-json || fail "ps-json: $("$qkit" ps --json)"

# a second VM with the same name is refused and changes nothing
before=$(ls -l "$QKIT_RUNTIME_DIR/vms/alpha" | md5sum)
out=$("$qkit" start --name alpha --detach -- $qemu 2>&1)
st=$?
after=$(ls -l "$QKIT_RUNTIME_DIR/vms/alpha" | md5sum)
if [ $st -eq 1 ] && [ "$out" = "qkit start: a VM named \"alpha\" is already running (pid $pid)" ] &&
	[ "$before" = "$after" ] && alive "$pid"; then
	ok duplicate-refused
else
	fail "duplicate-refused: status $st: $out"
fi

# stop: a paused guest cannot see the power button, so the ladder quits it
start=$(date +%s)
"$qkit" stop alpha && ok stop-status || fail stop-status
took=$(($(date +%s) - start))
[ "$took" -le 5 ] && ok stop-paused-skips-powerdown || fail "stop-paused-skips-powerdown: took ${took}s"
! alive "$pid" && ! alive "$sup" && [ ! -e "$QKIT_RUNTIME_DIR/vms/alpha" ] && ok stop-cleans ||
	fail "stop-cleans: $(ls "$QKIT_RUNTIME_DIR/vms")"
out=$("$qkit" stop alpha 2>&1)
[ $? -eq 1 ] && [ "$out" = 'qkit stop: no VM named "alpha"' ] && ok stop-unknown || fail "stop-unknown: $out"

# a running guest gets the power button and --timeout to react (here, with
# no guest to react, the ladder goes on to quit after that time)
"$qkit" start --name eps --detach --stop-timeout 30 -- $qemu >/dev/null
grep -q '"powerdown_ms": 30000' "$QKIT_RUNTIME_DIR/vms/eps/state.json" && ok stop-timeout-recorded ||
	fail "stop-timeout-recorded: $(cat "$QKIT_RUNTIME_DIR/vms/eps/state.json")"
start=$(date +%s%N)
"$qkit" -v stop --timeout 1 eps 2> "$QKIT_RUNTIME_DIR/eps.err"
took=$((($(date +%s%N) - start) / 1000000))
[ $took -ge 1000 ] && [ $took -lt 5000 ] && [ ! -e "$QKIT_RUNTIME_DIR/vms/eps" ] && ok stop-timeout-honoured ||
	fail "stop-timeout-honoured: took ${took} ms; $(cat "$QKIT_RUNTIME_DIR/eps.err")"
rm -f "$QKIT_RUNTIME_DIR/eps.err"

# kill; the supervisor keeps nothing its starter left open but stdio (fd 7 here)
"$qkit" start --name beta --detach --paused -- $qemu >/dev/null 7>"$QKIT_RUNTIME_DIR/held"
pid=$(json_field beta pid)
sup=$(json_field beta supervisor_pid)
held=$(ls -l "/proc/$sup/fd" "/proc/$pid/fd" 2>/dev/null | grep -c "$QKIT_RUNTIME_DIR/held")
[ -d "/proc/$sup/fd" ] && [ "$held" -eq 0 ] && ok detached-closes-inherited-fds ||
	fail "detached-closes-inherited-fds: $(ls -l "/proc/$sup/fd")"
rm -f "$QKIT_RUNTIME_DIR/held"
"$qkit" kill beta && ! alive "$pid" && [ ! -e "$QKIT_RUNTIME_DIR/vms/beta" ] && ok kill ||
	fail "kill: pid $pid, $(ls "$QKIT_RUNTIME_DIR/vms")"

# a QEMU that answers nothing (SIGSTOP): the ladder goes all the way to
# SIGKILL within its budget; QEMU is reaped, the supervisor and state gone
"$qkit" start --name hung --detach -- $qemu >/dev/null
pid=$(json_field hung pid)
sup=$(json_field hung supervisor_pid)
kill -STOP "$pid"
start=$(date +%s)
"$qkit" -v stop --timeout 1 hung 2>"$QKIT_RUNTIME_DIR/hung.err"
st=$?
took=$(($(date +%s) - start))
if [ $st -eq 0 ] && ! [ -e "/proc/$pid" ] && ! alive "$sup" && [ ! -e "$QKIT_RUNTIME_DIR/vms/hung" ] &&
	[ "$took" -le 14 ] && ! grep -q "did not finish the stop ladder" "$QKIT_RUNTIME_DIR/hung.err"; then
	ok stop-ladder-sigkills-hung-qemu
else
	fail "stop-ladder-sigkills-hung-qemu: status $st, ${took}s, $(cat "$QKIT_RUNTIME_DIR/hung.err")"
fi
rm -f "$QKIT_RUNTIME_DIR/hung.err"

# a launch failure is QEMU's own words, and leaves no state behind
out=$("$qkit" start --name gamma --detach -- $qemu -device foo 2>&1)
st=$?
echo "$out" | grep -q "^qkit start: QEMU exited with status 1: .*-device foo: 'foo' is not a valid device model name" &&
	[ $st -eq 1 ] && [ ! -e "$QKIT_RUNTIME_DIR/vms/gamma" ] && ok launch-failure || fail "launch-failure: $st: $out"

# SIGKILL the supervisor: QEMU is gone within 1 s, and the state is stale
"$qkit" start --name delta --detach --paused -- $qemu >/dev/null
pid=$(json_field delta pid)
sup=$(json_field delta supervisor_pid)
kill -9 "$sup"
gone=no
for i in 1 2 3 4 5 6 7 8 9 10; do
	if ! alive "$pid"; then gone=yes; break; fi
	sleep 0.1
done
[ $gone = yes ] && ok supervisor-killed-qemu-gone-1s || fail "supervisor-killed-qemu-gone-1s: $pid alive"
[ -e "$QKIT_RUNTIME_DIR/vms/delta/state.json" ] && ok stale-state-left || fail stale-state-left
"$qkit" ps | grep -q '^delta' && fail "stale-not-listed" || ok stale-not-listed
[ ! -e "$QKIT_RUNTIME_DIR/vms/delta" ] && ok stale-cleaned || fail stale-cleaned
"$qkit" start --name delta --detach --paused -- $qemu >/dev/null && ok stale-name-reusable ||
	fail stale-name-reusable
"$qkit" kill delta

# foreground --timeout: qkit kills QEMU and says so
out=$("$qkit" start --timeout 0.5 -- $qemu 2>&1)
st=$?
[ $st -eq 1 ] && echo "$out" | grep -q '^qkit start: timed out: qkit killed QEMU$' && ok foreground-timeout ||
	fail "foreground-timeout: $st: $out"

# foreground: QEMU's error exit is reported with its output
out=$("$qkit" start -- $qemu -device nope 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "'nope' is not a valid device model name" && ok foreground-failure ||
	fail "foreground-failure: $out"

# ^C in a terminal signals the whole foreground process group: QEMU is in
# its own, so only qkit gets it and runs the ladder (quit, as it is paused).
setsid "$qkit" -v start --name fg --paused -- $qemu 2> "$QKIT_RUNTIME_DIR/fg.err" &
fg=$!
i=0
while [ ! -e "$QKIT_RUNTIME_DIR/vms/fg/state.json" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT "-$fg"
wait "$fg"
st=$?
if [ $st -eq 0 ] && grep -q 'signal 2 (Interrupt): running the stop ladder' "$QKIT_RUNTIME_DIR/fg.err" &&
	grep -q 'SHUTDOWN (host-qmp-quit)' "$QKIT_RUNTIME_DIR/fg.err"; then
	ok sigint-to-group-runs-ladder
else
	fail "sigint-to-group-runs-ladder: status $st: $(cat "$QKIT_RUNTIME_DIR/fg.err")"
fi
rm -f "$QKIT_RUNTIME_DIR/fg.err"

[ -z "$(ls "$QKIT_RUNTIME_DIR/vms")" ] && ok nothing-left || fail "nothing-left: $(ls "$QKIT_RUNTIME_DIR/vms")"
[ "$fails" -eq 0 ]
