# Shared by the e2e scripts that start VMs through qkit (sourced, not run).
# A list of named checks: ok NAME, fail "NAME: why"; exit with [ "$fails" -eq 0 ].
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# json_field NAME KEY: a number from the VM's state.json.
json_field() {
	sed -n "s/^ *\"$2\": \([0-9]*\),*$/\1/p" "$QKIT_RUNTIME_DIR/vms/$1/state.json"
}

# Whatever a failed check left running: every supervisor and QEMU that has
# state under $QKIT_RUNTIME_DIR.
kill_detached() {
	for f in "$QKIT_RUNTIME_DIR"/vms/*/state.json; do
		[ -f "$f" ] || continue
		for key in pid supervisor_pid; do
			p=$(sed -n "s/^ *\"$key\": \([0-9]*\),*$/\1/p" "$f")
			[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
		done
	done
}
