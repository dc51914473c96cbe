#!/bin/sh
# qkit exec's 9p shares: a file the guest writes is on the host with that
# content; a read-only share refuses writes (and nothing lands on the host).
# Usage: exec-shares.sh QKIT
set -u
. "$(dirname "$0")/lib.sh"
e2e_setup "$1"

mkdir "$tmp/rw" "$tmp/ro" "$tmp/work"
echo 'host data' >"$tmp/ro/input"
cd "$tmp/work"

exec_run --share "$tmp/rw:data" -- sh -c "echo 'written in the guest' >'$tmp/rw/out.txt' && echo here >cwd.txt" \
	>out.txt 2>err.txt
status=$?
[ "$status" -eq 0 ] || fail "write run gave status $status: $(cat err.txt)"
[ "$(cat "$tmp/rw/out.txt" 2>/dev/null)" = 'written in the guest' ] ||
	fail "the share's file holds '$(cat "$tmp/rw/out.txt" 2>/dev/null)'"
[ "$(cat "$tmp/work/cwd.txt" 2>/dev/null)" = here ] || fail "the cwd share did not get cwd.txt"

exec_run --share "$tmp/ro::ro" -- sh -c "cat '$tmp/ro/input'; echo nope >'$tmp/ro/new'" >out.txt 2>err.txt
status=$?
[ "$status" -ne 0 ] || fail "writing into a read-only share succeeded"
[ "$(cat out.txt)" = 'host data' ] || fail "reading the read-only share gave '$(cat out.txt)'"
grep -q 'Read-only file system' err.txt || fail "no EROFS from the guest: $(cat err.txt)"
[ ! -e "$tmp/ro/new" ] || fail "the read-only share got a new file on the host"

exec_run --share "$tmp/ro:bad tag" -- true >out.txt 2>err.txt
status=$?
[ "$status" -eq 125 ] || fail "a bad tag gave status $status"
grep -q 'tag "bad tag"' err.txt || fail "the bad tag is not named: $(cat err.txt)"

e2e_finish "guest writes reach the host, a read-only share refuses writes, bad tags are named"
