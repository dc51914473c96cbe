# Sourced by e2e shell tests (". "$(dirname "$0")/lib.sh""): what each
# would otherwise repeat. e2e_setup QKIT sets
#   qkit   the qkit under test, absolute (tests change directory)
#   guest  the prepared guest assets (tests/guest/prepare)
#   tmp    a scratch directory, removed at exit
#   fails  the failure count that fail() raises and e2e_finish() checks
e2e_lib_dir=$(cd "$(dirname "$0")" && pwd)

e2e_setup() {
	qkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	guest=$("$e2e_lib_dir/../guest/prepare") || { echo "FAIL: guest assets missing"; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	fails=0
}

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# qkit exec of the prepared kernel, killed if it outlives its 120 s.
exec_run() { timeout --signal=KILL 120 "$qkit" exec --kernel "$guest/vmlinuz" "$@"; }

# Exit 1 if anything failed, else say what passed.
e2e_finish() {
	[ "$fails" -eq 0 ] || exit 1
	echo "ok: $*"
}
