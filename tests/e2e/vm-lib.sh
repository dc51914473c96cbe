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

# wait_for FILE PATTERN SECONDS: until FILE holds a line matching PATTERN.
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# test_initramfs OUT GUEST: the guest tests' initramfs: busybox, the
# modules they load (ACPI button, evdev, pvpanic) and an /init that picks
# its part from qkit.test= on the kernel command line:
#   read           print QKIT-READY-FOR-INPUT, echo one console line back
#   button         wait for the ACPI power button, then power off
#   sleep          print QKIT-SLEEPING and never power off
#   panic-console  panic with no pvpanic driver (seen on the console only)
#   pvpanic        panic with the pvpanic driver loaded (GUEST_PANICKED)
#   (none)         print QKIT-CONSOLE-HELLO KVER and power off
test_initramfs() {
	root=$(mktemp -d "$(dirname "$1")/root.XXXXXX")
	mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/lib"
	cp "$2/busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	for m in drivers/acpi/button drivers/input/evdev drivers/misc/pvpanic/pvpanic \
		drivers/misc/pvpanic/pvpanic-mmio; do
		ko=$(ls "$2/modules/kernel/$m.ko"* 2>/dev/null | head -n 1)
		case $ko in
		*.ko) cp "$ko" "$root/lib/" ;;
		*.ko.xz) xz -dc "$ko" > "$root/lib/$(basename "$m").ko" ;;
		*.ko.zst) zstd -qdc "$ko" > "$root/lib/$(basename "$m").ko" ;;
		*) echo "FAIL: $m not in $2/modules"; exit 1 ;;
		esac
	done
	cat > "$root/init" <<'INIT'
#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sys /sys
$bb mount -t devtmpfs dev /dev
case $($bb cat /proc/cmdline) in
*qkit.test=read*)
	echo QKIT-READY-FOR-INPUT
	read -r line
	echo "QKIT-GOT <$line>"
	;;
*qkit.test=button*)
	$bb insmod /lib/button.ko
	$bb insmod /lib/evdev.ko
	# Wait on every power button's event device; the first event wins.
	for e in /sys/class/input/event*; do
		[ "$($bb cat "$e/device/name")" = "Power Button" ] || continue
		( $bb dd if=/dev/input/${e##*/} of=/dev/null bs=24 count=1 2>/dev/null &&
		  echo pressed > /tmp/pressed ) &
	done
	$bb sleep 0.2
	echo QKIT-WAITING-FOR-POWER-BUTTON
	while [ ! -e /tmp/pressed ]; do $bb sleep 0.1; done
	echo QKIT-POWER-BUTTON-PRESSED
	;;
*qkit.test=sleep*)
	echo QKIT-SLEEPING
	while :; do $bb sleep 100; done
	;;
*qkit.test=panic-console*)
	echo QKIT-PANICKING
	echo c > /proc/sysrq-trigger
	;;
*qkit.test=pvpanic*)
	$bb insmod /lib/pvpanic.ko
	$bb insmod /lib/pvpanic-mmio.ko
	echo QKIT-PANICKING
	echo c > /proc/sysrq-trigger
	;;
*)
	echo "QKIT-CONSOLE-HELLO $($bb uname -r)"
	$bb sleep 1
	;;
esac
$bb poweroff -f
INIT
	chmod 0755 "$root/init"
	(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$1"
	rm -rf "$root"
}
