#!/bin/sh
# The qkit command's skeleton: version, help, and exit status 2 with a hint
# for anything it does not know.
set -u
qkit=$1
fails=0
check() { # NAME EXPECTED-STATUS PATTERN -- ARGS...
	name=$1 want=$2 pattern=$3
	shift 4
	out=$("$qkit" "$@" 2>&1)
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL $name: exit $got, want $want; output: $out"
		fails=$((fails + 1))
	elif ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
		echo "FAIL $name: output lacks '$pattern': $out"
		fails=$((fails + 1))
	else
		echo "ok   $name"
	fi
}

version=$(sed -n "s/^ *version : '\(.*\)',\$/\1/p" "$(dirname "$0")/../../meson.build")
check version-flag 0 "^qkit $version\$" -- --version
check version-command 0 "^qkit $version\$" -- version
check help-lists-commands 0 '^  version ' -- --help
check help-lists-help 0 '^  help ' -- --help
check help-subcommand 0 '^Usage: qkit version' -- help version
check subcommand-help-flag 0 '^Usage: qkit version' -- version --help
check no-command 2 'Usage: qkit' --
check unknown-command 2 "'frobnicate' is not a qkit command" -- frobnicate
check unknown-command-hint 2 "Try 'qkit help'" -- frobnicate
check unknown-flag 2 "Try 'qkit --help'" -- --frobnicate
check help-unknown 2 "'nope' is not a qkit command" -- help nope
check version-extra-arg 2 "unexpected argument 'x'" -- version x
[ "$fails" -eq 0 ]
