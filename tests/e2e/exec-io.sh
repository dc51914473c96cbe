#!/bin/sh
# qkit exec against real QEMU (TCG) and the prepared Debian kernel: the
# command's stdout and stderr arrive separately, its exit status becomes
# qkit's, it runs in the (shared) current directory, it reads qkit's stdin,
# and guest events arrive as JSON lines.
# Usage: exec-io.sh QKIT
set -u
. "$(dirname "$0")/lib.sh"
e2e_setup "$1"

cd "$tmp"
exec_run -- sh -c 'echo out; echo err >&2; exit 7' >out.txt 2>err.txt
status=$?
[ "$status" -eq 7 ] || fail "exit 7 gave status $status"
[ "$(cat out.txt)" = out ] || fail "stdout was '$(cat out.txt)', not 'out'"
[ "$(cat err.txt)" = err ] || fail "stderr was '$(cat err.txt)', not 'err'"

exec_run -- sh -c 'exit 0' >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "exit 0 gave status $status; stderr: $(cat err.txt)"
[ ! -s out.txt ] || fail "exit 0 printed '$(cat out.txt)' on stdout"

# The working directory is the host's, shared; arguments pass untouched.
mkdir 'dir with, comma'
cd 'dir with, comma'
exec_run -- sh -c 'pwd; printf "[%s]" "$@"' argv0 'a b' "it's" '' >../out.txt 2>../err.txt
status=$?
cd "$tmp"
[ "$status" -eq 0 ] || fail "pwd run gave status $status: $(cat err.txt)"
[ "$(sed -n 1p out.txt)" = "$tmp/dir with, comma" ] || fail "guest cwd was '$(sed -n 1p out.txt)'"
[ "$(sed -n 2p out.txt)" = "[a b][it's][]" ] || fail "arguments came out as '$(sed -n 2p out.txt)'"

# Binary-safe and larger than one chunk: 300 KiB through stdout.
exec_run -- sh -c 'head -c 307200 /dev/urandom | tee big.guest' >big.host 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "big output run gave status $status"
cmp -s big.host big.guest || fail "300 KiB of stdout differ from what the guest wrote ($(wc -c <big.host) bytes)"

# Standard input: lines, 300 KiB of binary through cat, and --no-stdin.
printf 'a\nb\nc\n' | exec_run -- wc -l >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "wc -l on stdin gave status $status: $(cat err.txt)"
[ "$(tr -d ' ' <out.txt)" = 3 ] || fail "wc -l counted '$(cat out.txt)' lines of stdin, not 3"
head -c 307200 /dev/urandom >in.bin
exec_run -- cat <in.bin >cat.out 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "cat of 300 KiB gave status $status"
cmp -s in.bin cat.out || fail "300 KiB through the guest's stdin and stdout differ ($(wc -c <cat.out) bytes back)"
echo 'not for the guest' | exec_run --no-stdin -- cat >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] && [ ! -s out.txt ] || fail "--no-stdin: status $status, output '$(cat out.txt)'"

exec_run --events ev.json -- sh -c 'echo "{\"event\": \"hello\", \"n\": 1}" >"$QKIT_EVENT_PORT"' >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "event run gave status $status"
[ "$(cat ev.json)" = '{"event":"hello","n":1}' ] || fail "events file holds '$(cat ev.json)'"

# --module loads a module (with its dependencies); an unknown one is named.
exec_run --module isofs -- sh -c 'grep -c "^isofs " /proc/modules' >out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] && [ "$(cat out.txt)" = 1 ] || fail "--module isofs: status $status, '$(cat out.txt)' $(cat err.txt)"
exec_run --module no_such_module -- true >out.txt 2>err.txt
status=$?
[ "$status" -eq 125 ] || fail "an unknown module gave status $status"
grep -q 'module "no_such_module"' err.txt || fail "the unknown module is not named: $(cat err.txt)"

# A missing command: the guest shell's 127 comes through.
exec_run -- no-such-command >out.txt 2>err.txt
status=$?
[ "$status" -eq 127 ] || fail "a missing command gave status $status"
grep -q 'no-such-command' err.txt || fail "no message about the missing command: $(cat err.txt)"

e2e_finish "stdout, stderr, status, cwd, arguments, 300 KiB, stdin, events, --module, 127"
