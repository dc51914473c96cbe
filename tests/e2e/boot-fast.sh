#!/bin/sh
# Fast kernel boot against the prepared Debian kernel: the vmlinux qkit
# extracts is an ELF file with the PVH note (checked with binutils' readelf,
# not with qkit's own parser), it boots to the guest marker under TCG and
# QEMU exits 0, the cache entry is reused on the second run, and a corrupted
# entry is detected and rebuilt; qkit kernel gc removes entries.
set -u
qkit=$1
guest=$("$(dirname "$0")/../guest/prepare") || { echo "FAIL: guest assets missing; run tests/guest/prepare"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

# inspect: the setup header of Debian's kernel
info=$("$qkit" kernel inspect "$guest/vmlinuz") || fail "qkit kernel inspect failed"
printf '%s\n' "$info"
printf '%s\n' "$info" | grep -q '^compression: xz$' && ok "payload is xz" || fail "payload compression is not xz"
entry=$(printf '%s\n' "$info" | sed -n 's/^pvh-entry: //p')
case $entry in 0x*) ok "PVH entry $entry" ;; *) fail "no PVH entry point: '$entry'" ;; esac

# extract: a valid ELF executable carrying Xen note 0x12 (XEN_ELFNOTE_PHYS32_ENTRY)
"$qkit" kernel extract "$guest/vmlinuz" -o "$tmp/vmlinux" || fail "qkit kernel extract failed"
readelf -h "$tmp/vmlinux" | grep -q 'Type: *EXEC' && ok "vmlinux is an ELF executable" || fail "readelf -h: not an ELF executable"
readelf -n "$tmp/vmlinux" | grep '^ *Xen ' | grep -q '(0x00000012)' && ok "readelf sees the PVH note" ||
	fail "readelf -n: no Xen note 0x12"
size=$(stat -c %s "$tmp/vmlinux")
want=$(printf '%s\n' "$info" | sed -n 's/^vmlinux-size: //p')
[ "$size" = "$want" ] && ok "vmlinux is $size bytes as the build recorded" || fail "vmlinux is $size bytes, header says $want"

# fast-boot: extracted once, then reused, rebuilt when corrupt
path=$("$qkit" -v kernel fast-boot "$guest/vmlinuz" 2>"$tmp/err1") || fail "fast-boot failed: $(cat "$tmp/err1")"
case $path in "$XDG_CACHE_HOME"/qkit/kernel/*.vmlinux) ok "first run: $path" ;; *) fail "unexpected path '$path'" ;; esac
grep -q 'extracted now' "$tmp/err1" || fail "first run did not extract: $(cat "$tmp/err1")"
cmp -s "$path" "$tmp/vmlinux" && ok "cache entry equals the extracted vmlinux" || fail "cache entry differs from extract's output"
before=$(stat -c '%i %Y' "$path")
path2=$("$qkit" -v kernel fast-boot "$guest/vmlinuz" 2>"$tmp/err2")
[ "$path2" = "$path" ] && grep -q 'from the cache' "$tmp/err2" && [ "$(stat -c '%i %Y' "$path")" = "$before" ] &&
	ok "second run reused the entry" || fail "second run did not reuse the entry: $(cat "$tmp/err2")"
printf 'X' | dd of="$path" bs=1 seek=1000000 conv=notrunc status=none
path3=$("$qkit" -v kernel fast-boot "$guest/vmlinuz" 2>"$tmp/err3")
grep -q 'does not match' "$tmp/err3" && grep -q 'extracted now' "$tmp/err3" && cmp -s "$path3" "$tmp/vmlinux" &&
	ok "corrupted entry detected and rebuilt" || fail "corrupted entry not rebuilt: $(cat "$tmp/err3")"

# garbage collection: keep 0 removes the entry, fast-boot makes it again
out=$("$qkit" kernel gc --keep 0) || fail "qkit kernel gc failed"
[ "$out" = "removed 2 file(s); kept the 0 most recently used kernel(s)" ] && [ ! -e "$path" ] &&
	ok "gc --keep 0 removed the entry" || fail "gc --keep 0 printed '$out'; entry still there: $(ls "$XDG_CACHE_HOME/qkit/kernel")"
out=$("$qkit" kernel gc --keep x 2>&1)
[ $? -eq 2 ] && printf '%s\n' "$out" | grep -q "'x' is not a number" && ok "gc --keep x is a usage error" ||
	fail "gc --keep x: $out"
path=$("$qkit" kernel fast-boot "$guest/vmlinuz") && [ -e "$path" ] || fail "fast-boot after gc failed"

# boot the PVH vmlinux with the marker initramfs
"$(dirname "$0")/boot-marker.sh" "$path" >"$tmp/boot.log"
status=$?
[ "$status" -eq 0 ] && ok "guest marker seen and QEMU exited 0 (PVH boot)" ||
	{ cat "$tmp/boot.log"; fail "the PVH vmlinux did not boot to the marker"; }

[ "$fails" -eq 0 ]
