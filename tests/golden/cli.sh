#!/bin/sh
# qkit cmdline and qkit spec from the outside: the shell-quoted output is
# the same argv as the JSON one once a shell reads it (nothing in a value is
# ever executed), invalid specs exit 1 with every problem on stderr, and
# what spec show prints is a spec that renders the same.
set -u
qkit=$1
# Absolute, since some checks run from another directory.
case $qkit in /*) ;; *) qkit=$(pwd)/$qkit ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

cat > "$tmp/vm.yaml" <<'YAML'
arch: x86_64
name: "it's $(touch /tmp/qkit-pwned) `id` \"q\" a,b\nline"
boot: {kernel: "/k/v m", append: "quiet x=\"1 2\" $HOME"}
devices:
  - {kind: disk, file: "/srv/a,file=/etc/shadow 'x'.img"}
  - {kind: fw-cfg, name: opt/x, string: "*?[a]{b} ~ ; & |"}
YAML

# The shell reading the quoted form must get the JSON form's argv.
"$qkit" cmdline -E "$tmp/vm.yaml" > "$tmp/sh" || fail "cmdline exit $?"
"$qkit" cmdline -E --json "$tmp/vm.yaml" > "$tmp/json" || fail "cmdline --json exit $?"
( eval "set -- $(cat "$tmp/sh")"; for a in "$@"; do printf '%s\0' "$a"; done ) > "$tmp/from-shell"
python3 -c 'import json,sys; sys.stdout.write("".join(a + "\0" for a in json.load(open(sys.argv[1]))))' "$tmp/json" > "$tmp/from-json"
if cmp -s "$tmp/from-shell" "$tmp/from-json" && [ ! -e /tmp/qkit-pwned ]; then
	ok "shell-quoted argv reads back as the JSON argv"
else
	fail "shell-quoted argv differs from the JSON one (or ran something)"
fi
grep -q 'it'"'"'\\'"''"'s' "$tmp/sh" && ok "a quote is quoted" || fail "quote not quoted: $(head -3 "$tmp/sh")"

# Invalid: exit 1, every problem on its own line, nothing on stdout.
cat > "$tmp/bad.yaml" <<'YAML'
arch: x86_64
cpu: {count: 0}
devices:
  - {kind: disk, id: root, file: /x, format: qcow3}
YAML
out=$("$qkit" cmdline -E "$tmp/bad.yaml" 2>"$tmp/err"); st=$?
[ "$st" -eq 1 ] && [ -z "$out" ] && ok "invalid spec exits 1" || fail "invalid spec: exit $st, stdout '$out'"
[ "$(wc -l < "$tmp/err")" -eq 2 ] &&
	grep -qx "qkit cmdline: $tmp/bad.yaml: cpu: count 0 is not in 1..4096" "$tmp/err" &&
	grep -qx "qkit cmdline: $tmp/bad.yaml: devices\[0\] (disk \"root\"): format \"qcow3\" is not one of raw, qcow2, vmdk, vdi, vhdx, vpc, qed" "$tmp/err" &&
	ok "every problem on stderr" || fail "problems: $(cat "$tmp/err")"
"$qkit" spec validate -E "$tmp/bad.yaml" 2>/dev/null; st=$?
[ "$st" -eq 1 ] && ok "spec validate exits 1" || fail "spec validate: exit $st"
[ "$("$qkit" spec validate -E "$tmp/vm.yaml")" = "$tmp/vm.yaml: valid" ] && ok "spec validate says valid" || fail "spec validate on a valid spec"

# spec show prints a spec that renders the same.
"$qkit" spec show -E --json "$tmp/vm.yaml" > "$tmp/shown.json" || fail "spec show exit $?"
"$qkit" cmdline -E --json "$tmp/shown.json" > "$tmp/json2"
cmp -s "$tmp/json" "$tmp/json2" && ok "spec show round-trips" || fail "spec show does not round-trip"

# Options.
"$qkit" cmdline -E --json --arch aarch64 "$tmp/vm.yaml" | grep -q '"qemu-system-aarch64"' && ok "--arch" || fail "--arch"
"$qkit" cmdline -E --qemu-version 6.0 "$tmp/vm.yaml" | grep -q 'virtio-blk-pci,id=disk0' && ok "--qemu-version 6.0 gives comma -device" || fail "--qemu-version"
"$qkit" cmdline -E --paused --json "$tmp/vm.yaml" | grep -q '"-S"' && ok "--paused" || fail "--paused"
"$qkit" cmdline -E --console-chardev qkit-console --json "$tmp/vm.yaml" > "$tmp/cc"
grep -q '"chardev:qkit-console"' "$tmp/cc" && ! grep -q '"-chardev"' "$tmp/cc" && ok "--console-chardev" || fail "--console-chardev: $(cat "$tmp/cc")"
"$qkit" spec validate -E -q 9.1 "$tmp/vm.yaml" >/dev/null && ok "spec validate --qemu-version" || fail "spec validate --qemu-version"
printf 'arch: x86_64\ndevices: [{kind: tdx-guest}]\n' > "$tmp/tdx.yaml"
"$qkit" spec validate -E -q 10.1 "$tmp/tdx.yaml" >/dev/null && ! "$qkit" spec validate -E "$tmp/tdx.yaml" 2>/dev/null &&
	ok "the target version decides" || fail "the target version does not decide"
"$qkit" spec show -E --json -q 10.1 "$tmp/tdx.yaml" | grep -q '"kind": "tdx-guest"' &&
	! "$qkit" spec show -E --json "$tmp/tdx.yaml" 2>/dev/null &&
	ok "spec show --qemu-version" || fail "spec show --qemu-version"
"$qkit" spec show -E --json -q 7 "$tmp/tdx.yaml" 2>/dev/null; [ $? -eq 2 ] && ok "bad --qemu-version exits 2" || fail "bad --qemu-version"
"$qkit" cmdline -E --syntax yaml "$tmp/vm.yaml" 2>/dev/null; [ $? -eq 2 ] && ok "bad --syntax exits 2" || fail "bad --syntax"
"$qkit" cmdline 2>/dev/null; [ $? -eq 2 ] && ok "no spec exits 2" || fail "no spec"
"$qkit" spec frob x 2>/dev/null; [ $? -eq 2 ] && ok "spec frob exits 2" || fail "spec frob"
"$qkit" cmdline -E /nonexistent.yaml 2>"$tmp/err"; [ $? -eq 1 ] && grep -q "No such file" "$tmp/err" && ok "missing file exits 1" || fail "missing file"

# A file's relative paths are relative to the file, from any directory;
# the environment's stay as given.
mkdir "$tmp/vms"
printf 'arch: x86_64\nboot: {kernel: k/bzImage}\ndevices: [{kind: disk, file: ../root.img}]\n' > "$tmp/vms/rel.yaml"
( cd / && "$qkit" cmdline -E --json "$tmp/vms/rel.yaml" ) > "$tmp/rel"
grep -q "\"$tmp/vms/k/bzImage\"" "$tmp/rel" && grep -q "$tmp/vms/../root.img" "$tmp/rel" &&
	ok "relative paths are the spec's" || fail "relative paths: $(cat "$tmp/rel")"
( cd "$tmp" && "$qkit" spec show -E --json vms/rel.yaml ) | grep -q "\"kernel\": \"$tmp/vms/k/bzImage\"" &&
	ok "spec show prints them absolute" || fail "spec show of relative paths"
( cd "$tmp" && QKIT_KERNEL=my/k "$qkit" cmdline --json vms/rel.yaml ) | grep -q '"my/k"' &&
	ok "QKIT_KERNEL stays as given" || fail "QKIT_KERNEL made absolute"

# Strict mode refuses raw arguments, from the file or the environment.
printf 'arch: x86_64\nextra-args: [-monitor, stdio]\n' > "$tmp/raw.yaml"
"$qkit" cmdline -E "$tmp/raw.yaml" >/dev/null && ok "extra-args without --strict" || fail "extra-args without --strict"
"$qkit" cmdline -E --strict "$tmp/raw.yaml" 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && grep -q "extra-args: raw QEMU arguments are refused in strict mode" "$tmp/err" &&
	ok "--strict refuses extra-args" || fail "--strict: exit $st, $(cat "$tmp/err")"
QKIT_QEMU_APPEND="-s" "$qkit" spec validate --strict "$tmp/vm.yaml" 2>/dev/null; [ $? -eq 1 ] &&
	"$qkit" spec validate -E --strict "$tmp/vm.yaml" >/dev/null &&
	ok "--strict refuses QKIT_QEMU_APPEND" || fail "--strict and QKIT_QEMU_APPEND"

# The environment overrides, and --no-env.
QKIT_KERNEL=/env/kernel "$qkit" cmdline --json "$tmp/vm.yaml" | grep -q '"/env/kernel"' && ok "QKIT_KERNEL" || fail "QKIT_KERNEL"
QKIT_KERNEL=/env/kernel "$qkit" cmdline -E --json "$tmp/vm.yaml" | grep -q '"/env/kernel"' && fail "--no-env" || ok "--no-env"
[ "$fails" -eq 0 ]
