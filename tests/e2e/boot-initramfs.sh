#!/bin/sh
# First the qkit initramfs command line: modes, owners, device nodes as GNU
# cpio lists them, and the usage errors. Then an initramfs built by `qkit initramfs` boots the Debian kernel (through
# the fast-boot vmlinux) under TCG: the generated init loads virtio_pci,
# 9pnet_virtio, 9p and their dependencies from the real modules tree (the
# same set read from modules.dep and from the modules' .modinfo), mounts
# a read-write share, a read-only share and a share named on the kernel
# command line, runs the payload there and reports its exit status with
# the QKIT-EXIT line; then a failing mount is reported as QKIT-INIT-ERROR.
set -u
qkit=$1
guest=$("$(dirname "$0")/../guest/prepare") || { echo "FAIL: guest assets missing; run tests/guest/prepare"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

# The command line first, read back with GNU cpio (not libarchive).
printf 'data\n' > "$tmp/src.txt"
chmod 0640 "$tmp/src.txt"
"$qkit" initramfs -o "$tmp/files.img" --compress none --init "$tmp/src.txt" \
	--file "$tmp/src.txt:/etc/a.conf:0600" --file "$tmp/src.txt:/opt/x/b.txt" || fail "qkit initramfs --file"
listing=$(cpio -itv --quiet < "$tmp/files.img" 2>&1)
for want in '^-rw------- .* root *root .* etc/a.conf$' '^-rw-r----- .* root *root .* opt/x/b.txt$' \
	'^drwxr-xr-x .* opt/x$' '^-rwxr-xr-x .* init$' '^crw------- .* 5, *1 .* dev/console$' '^crw-rw-rw- .* 1, *3 .* dev/null$'; do
	printf '%s\n' "$listing" | grep -q "$want" && ok "cpio lists $want" || fail "cpio listing lacks $want: $listing"
done
printf '%s\n' "$listing" | grep -q 'bin/busybox' && fail "--init without --busybox added busybox"
usage() { # WANT-STATUS PATTERN ARGS...
	want=$1 pattern=$2
	shift 2
	out=$("$qkit" initramfs "$@" 2>&1)
	got=$?
	[ "$got" -eq "$want" ] && printf '%s\n' "$out" | grep -q -- "$pattern" && ok "initramfs $*: $pattern" ||
		fail "initramfs $*: exit $got (want $want), output: $out"
}
usage 2 '-o OUT is required' --compress none
usage 2 "--compress lzma: not one of gzip, zstd, none" -o "$tmp/x" --compress lzma
usage 2 '--module needs --modules DIR' -o "$tmp/x" --module 9p
usage 2 'want TAG:/PATH' -o "$tmp/x" --share nopath
usage 2 '--init replaces it' -o "$tmp/x" --init "$tmp/src.txt" -- true
usage 1 'mode "999" is not an octal mode' -o "$tmp/x" --file "$tmp/src.txt:/a:999"
usage 1 'module "no_such_module"' -o "$tmp/x" --modules "$guest/modules" --module no_such_module
[ ! -e "$tmp/x" ] && ok "no output after errors" || fail "$tmp/x was written despite errors"

kernel=$("$qkit" kernel fast-boot "$guest/vmlinuz") || { echo "FAIL: qkit kernel fast-boot"; exit 1; }
mkdir -p "$tmp/rw" "$tmp/ro" "$tmp/late"
echo "from the host" > "$tmp/rw/in.txt"
echo "late share" > "$tmp/late/late.txt"

# A payload whose outcome shows every piece: it reads and writes the shares
# and exits with a status the host must see.
"$qkit" initramfs -o "$tmp/initrd.img" --compress zstd \
	--modules "$guest/modules" --module virtio_pci --module 9pnet_virtio --module 9p \
	--share rw:/mnt/rw --share ro:/mnt/ro:ro --env WHO="the guest's payload" --cwd /mnt/rw \
	-- sh -c 'cat in.txt; echo "written by $WHO" > out.txt
		  if echo x > /mnt/ro/refused.txt; then echo RO-WRITE-SUCCEEDED; fi
		  cat /mnt/late/late.txt; exit 7' || { echo "FAIL: qkit initramfs"; exit 1; }

# The prepared tree has depmod's modules.dep; a tree nobody ran depmod on
# (links to the same modules) goes through each module's .modinfo: the same
# modules go into the initramfs either way.
mkdir "$tmp/nodep"
cp -rs "$guest/modules/kernel" "$tmp/nodep/kernel"
cp "$guest/modules/modules.order" "$guest/modules/modules.builtin" "$tmp/nodep/"
[ -f "$guest/modules/modules.dep" ] && ok "the prepared tree has a modules.dep" || fail "prepare ran no depmod"
for tree in "$guest/modules:modules.dep" "$tmp/nodep:modinfo"; do
	source=${tree##*:} tree=${tree%:*}
	"$qkit" -v initramfs -o "$tmp/mods.img" --compress none --modules "$tree" \
		--module virtio_pci --module 9pnet_virtio --module 9p -- true 2>"$tmp/mods.err" ||
		fail "qkit initramfs --modules $tree: $(cat "$tmp/mods.err")"
	grep -q "(dependencies from $source)" "$tmp/mods.err" && ok "$tree: dependencies from $source" ||
		fail "$tree: not read from $source: $(cat "$tmp/mods.err")"
	cpio -it --quiet < "$tmp/mods.img" | grep '\.ko' | LC_ALL=C sort > "$tmp/mods.$(basename "$tree")"
done
[ -s "$tmp/mods.modules" ] && cmp -s "$tmp/mods.modules" "$tmp/mods.nodep" &&
	ok "modules.dep and .modinfo give the same $(wc -l < "$tmp/mods.modules") modules" ||
	fail "modules differ: $(diff "$tmp/mods.modules" "$tmp/mods.nodep")"

boot() { # LOG APPEND
	timeout --signal=KILL 120 qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu max -m 256 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$1.raw" \
		-kernel "$kernel" -initrd "$tmp/initrd.img" -append "console=ttyS0 panic=-1 quiet $2" \
		-fsdev "local,id=rw,path=$tmp/rw,security_model=none" -device virtio-9p-pci,fsdev=rw,mount_tag=rw \
		-fsdev "local,id=ro,path=$tmp/ro,security_model=none,readonly=on" -device virtio-9p-pci,fsdev=ro,mount_tag=ro \
		-fsdev "local,id=late,path=$tmp/late,security_model=none" -device virtio-9p-pci,fsdev=late,mount_tag=late
	status=$?
	# The guest's tty turns each newline into CR LF.
	tr -d '\r' < "$1.raw" > "$1"
	return $status
}

boot "$tmp/run.log" 'QKIT_MOUNT9P_0=late:/mnt/late:ro'
status=$?
cat "$tmp/run.log"
[ "$status" -eq 0 ] && ok "QEMU exited 0 (the init powered off)" || fail "QEMU exited with status $status (137: watchdog)"
grep -qx 'QKIT-EXIT 7' "$tmp/run.log" && ok "payload status 7 reported" || fail "no 'QKIT-EXIT 7' line"
grep -q '^from the host' "$tmp/run.log" && ok "payload read the rw share" || fail "payload did not read in.txt"
[ "$(cat "$tmp/rw/out.txt" 2>/dev/null)" = "written by the guest's payload" ] &&
	ok "file written in the guest is on the host" || fail "out.txt on the host: '$(cat "$tmp/rw/out.txt" 2>&1)'"
[ ! -e "$tmp/ro/refused.txt" ] && ! grep -q RO-WRITE-SUCCEEDED "$tmp/run.log" &&
	ok "read-only share refused the write" || fail "the read-only share took a write"
grep -q '^late share' "$tmp/run.log" && ok "share from the kernel command line mounted" || fail "QKIT_MOUNT9P_0 share not mounted"
grep -q 'QKIT-INIT-ERROR' "$tmp/run.log" && fail "init reported an error"

# A share that is not there: the init says so and never runs the payload.
boot "$tmp/err.log" 'QKIT_MOUNT9P_1=nosuchtag:/mnt/x'
status=$?
[ "$status" -eq 0 ] && ok "QEMU exited 0 after the init error" || fail "QEMU exited with status $status"
grep -q '^QKIT-INIT-ERROR mount 9p share nosuchtag on /mnt/x (QKIT_MOUNT9P_1)' "$tmp/err.log" &&
	! grep -q '^QKIT-EXIT' "$tmp/err.log" && ok "failed mount reported as QKIT-INIT-ERROR" ||
	{ cat "$tmp/err.log"; fail "no QKIT-INIT-ERROR line for the missing share"; }

[ "$fails" -eq 0 ]
