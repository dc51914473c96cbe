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

# test_root ROOT GUEST: a busybox root for a test initramfs with the modules
# the guest tests load (ACPI button, evdev, pvpanic), decompressed into
# ROOT/lib; the caller writes ROOT/init. Exits the test if one is missing.
test_root() {
	mkdir -p "$1/bin" "$1/dev" "$1/proc" "$1/sys" "$1/tmp" "$1/lib"
	cp "$2/busybox" "$1/bin/busybox"
	ln -s busybox "$1/bin/sh"
	for m in drivers/acpi/button drivers/input/evdev drivers/misc/pvpanic/pvpanic \
		drivers/misc/pvpanic/pvpanic-mmio; do
		ko=$(ls "$2/modules/kernel/$m.ko"* 2>/dev/null | head -n 1)
		case $ko in
		*.ko) cp "$ko" "$1/lib/" ;;
		*.ko.xz) xz -dc "$ko" > "$1/lib/$(basename "$m").ko" ;;
		*.ko.zst) zstd -qdc "$ko" > "$1/lib/$(basename "$m").ko" ;;
		*) echo "FAIL: $m not in $2/modules"; exit 1 ;;
		esac
	done
}
