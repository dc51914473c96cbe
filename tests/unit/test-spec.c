/* SPDX-License-Identifier: MIT */
/* The spec model: the C API and the file format agree, setters check, env overrides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/spec.h>

#include "spec-internal.h"

static char *joined(char **argv)
{
	size_t len = 1;
	for (char **p = argv; *p; p++)
		len += strlen(*p) + 1;
	char *s = calloc(1, len);
	for (char **p = argv; *p; p++) {
		strcat(s, *p);
		if (p[1])
			strcat(s, " ");
	}
	return s;
}

static char *render(qk_spec *spec, const qk_render_opts *opts)
{
	char **argv = NULL;
	qk_error *err = NULL;
	int r = qk_spec_render(spec, opts, &argv, &err);
	if (r < 0)
		fail_msg("render: %s", qk_error_message(err));
	char *s = joined(argv);
	qk_argv_free(argv);
	return s;
}

static qk_spec *load(const char *yaml, unsigned flags)
{
	qk_spec *spec = NULL;
	qk_error *err = NULL;
	if (qk_spec_load_string(&spec, yaml, strlen(yaml), QK_SPEC_YAML, flags, &err) < 0)
		fail_msg("load: %s", qk_error_message(err));
	return spec;
}

static void api_and_file_agree(void **state)
{
	qk_spec *a = NULL;
	qk_device *d, *fwd;
	assert_int_equal(qk_spec_new(&a, NULL), 0);
	assert_int_equal(qk_spec_set_string(a, "arch", "aarch64", NULL), 0);
	assert_int_equal(qk_spec_set_string(a, "memory.size", "512M", NULL), 0);
	assert_int_equal(qk_spec_set_int(a, "cpu.count", 2, NULL), 0);
	assert_int_equal(qk_spec_append_string(a, "machine.accel", "tcg", NULL), 0);
	assert_int_equal(qk_spec_set_string(a, "machine.options.gic-version", "3", NULL), 0);
	assert_int_equal(qk_spec_add_disk(a, "/srv/root,1.qcow2", &d, NULL), 0);
	assert_int_equal(qk_device_set_string(d, "format", "qcow2", NULL), 0);
	assert_int_equal(qk_device_set_string(d, "id", "root", NULL), 0);
	assert_int_equal(qk_spec_add_net(a, "user", &d, NULL), 0);
	assert_int_equal(qk_device_add_item(d, "forwards", &fwd, NULL), 0);
	assert_int_equal(qk_device_set_int(fwd, "host-port", 2222, NULL), 0);
	assert_int_equal(qk_device_set_int(fwd, "guest-port", 22, NULL), 0);
	assert_int_equal(qk_spec_add_fs(a, "9p", "share", &d, NULL), 0);
	assert_int_equal(qk_device_set_string(d, "path", "/srv/share", NULL), 0);
	assert_int_equal(qk_device_set_bool(d, "readonly", true, NULL), 0);

	qk_spec *b = load("arch: aarch64\n"
			  "memory: {size: 512M}\n"
			  "cpu: {count: 2}\n"
			  "machine: {accel: [tcg], options: {gic-version: \"3\"}}\n"
			  "devices:\n"
			  "  - {kind: disk, file: \"/srv/root,1.qcow2\", format: qcow2, id: root}\n"
			  "  - {kind: net, type: user, forwards: [{host-port: 2222, guest-port: 22}]}\n"
			  "  - {kind: fs, type: 9p, tag: share, path: /srv/share, readonly: true}\n",
			  QK_SPEC_LOAD_NO_ENV);
	char *ra = render(a, NULL), *rb = render(b, NULL);
	assert_string_equal(ra, rb);
	assert_non_null(strstr(ra, "\"filename\":\"/srv/root,1.qcow2\""));
	assert_non_null(strstr(ra, "-machine virt,gic-version=3"));
	/* The same spec renders byte for byte the same. */
	char *again = render(a, NULL);
	assert_string_equal(ra, again);
	free(again);
	free(ra);
	free(rb);
	qk_spec_free(a);
	qk_spec_free(b);
}

static void setters_check_path_and_type(void **state)
{
	qk_spec *s = NULL;
	qk_error *err = NULL;
	qk_device *d;
	qk_spec_new(&s, NULL);
	assert_int_equal(qk_spec_set_string(s, "memory.sise", "1G", &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "memory.sise: unknown field \"sise\"");
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_spec_set_string(s, "cpu.count", "two", &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "cpu.count: \"two\" is the wrong type for this field");
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_spec_set_int(s, "memory.size", 1 << 30, NULL), 0);
	assert_int_equal(qk_spec_add_device(s, "floppy", &d, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "kind \"floppy\" is not a device kind");
	qk_error_free(err);
	err = NULL;
	const char *const *kinds = qk_spec_device_kinds();
	size_t n = 0;
	while (kinds[n])
		assert_int_equal(qk_spec_add_device(s, kinds[n++], NULL, NULL), 0);
	assert_string_equal(kinds[0], "disk");
	assert_true(n >= 35);
	assert_int_equal(qk_spec_add_device(s, "rng", &d, NULL), 0);
	assert_int_equal(qk_device_set_bool(d, "filename", true, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "rng device: filename: true is the wrong type for this field");
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_spec_append_string(s, "memory.size", "x", &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "memory.size is not a list of strings");
	qk_error_free(err);
	qk_spec_free(s);
}

static void validation_reports_every_problem(void **state)
{
	qk_spec *s = load("arch: x86_64\ncpu: {count: 0}\nmemory: {size: 1X}\n"
			  "devices:\n  - {kind: disk, id: root, file: /a, format: qcow3}\n  - {kind: net, id: root}\n",
			  QK_SPEC_LOAD_NO_ENV);
	qk_error *err = NULL;
	assert_int_equal(qk_spec_validate(s, &err), -EINVAL);
	assert_int_equal(qk_error_count(err), 4);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_INVALID);
	assert_string_equal(qk_error_problem(err, 3), "devices[1] (net \"root\"): id \"root\" is already used by devices[0] (disk \"root\")");
	qk_error_free(err);
	char **argv = (char **)0x1;
	err = NULL;
	assert_int_equal(qk_spec_render(s, NULL, &argv, &err), -EINVAL);
	assert_ptr_equal(argv, (char **)0x1);
	qk_error_free(err);
	qk_spec_free(s);
}

static void defaults_are_shown(void **state)
{
	qk_spec *s = load("arch: s390x\ndevices: [{kind: disk, file: /a.img}]\n", QK_SPEC_LOAD_NO_ENV);
	json_t *n = NULL;
	assert_int_equal(qk_spec_to_json(s, &n, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(n, "machine"), "type")), "s390-ccw-virtio");
	assert_string_equal(json_string_value(json_object_get(json_object_get(n, "machine"), "transport")), "ccw");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "memory"), "size")), 256 << 20);
	json_t *disk = json_array_get(json_object_get(n, "devices"), 0);
	assert_string_equal(json_string_value(json_object_get(disk, "id")), "disk0");
	assert_string_equal(json_string_value(json_object_get(disk, "format")), "raw");
	json_decref(n);
	char *c = qk_spec_console_name(s);
	assert_string_equal(c, "ttysclp0");
	free(c);
	c = qk_spec_get_arch(s);
	assert_string_equal(c, "s390x");
	free(c);
	qk_spec_free(s);
}

static void env_overrides(void **state)
{
	setenv("QKIT_QEMU", "/opt/qemu -L /opt/share", 1);
	setenv("VMTEST_KERNEL", "/vmtest/kernel", 1);
	setenv("QKIT_INITRD", "/q/initrd", 1);
	setenv("VMTEST_INITRAMFS", "/vmtest/initramfs", 1);
	setenv("QKIT_APPEND", "debug", 1);
	setenv("QKIT_QEMU_APPEND", "-d guest_errors", 1);
	setenv("QKIT_TIMEOUT", "90s", 1);
	setenv("QKIT_ARCH", "riscv64", 1);
	qk_spec *s = load("arch: x86_64\nboot: {append: quiet}\n", 0);
	char *r = render(s, NULL);
	assert_string_equal(r, "/opt/qemu -L /opt/share -no-user-config -nodefaults -machine virt -accel tcg "
			       "-cpu rv64 -smp cpus=1 -m size=256M -kernel /vmtest/kernel -initrd /q/initrd "
			       "-append console=ttyS0 debug quiet -chardev stdio,id=console0 -serial chardev:console0 "
			       "-display none -d guest_errors");
	assert_int_equal(qk_spec_timeout(s), 90);
	free(r);
	qk_spec_free(s);

	/* The load flag turns them all off. */
	s = load("arch: x86_64\n", QK_SPEC_LOAD_NO_ENV);
	r = render(s, NULL);
	assert_null(strstr(r, "/opt/qemu"));
	assert_null(strstr(r, "-kernel"));
	free(r);
	qk_spec_free(s);

	setenv("QKIT_TIMEOUT", "soon", 1);
	qk_error *err = NULL;
	qk_spec *t = NULL;
	assert_int_equal(qk_spec_load_string(&t, "{}", 2, QK_SPEC_JSON, 0, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "QKIT_TIMEOUT \"soon\" is not a number of seconds");
	qk_error_free(err);
	static const char *const names[] = { "QKIT_QEMU", "VMTEST_KERNEL", "QKIT_INITRD", "VMTEST_INITRAMFS",
					     "QKIT_APPEND", "QKIT_QEMU_APPEND", "QKIT_TIMEOUT", "QKIT_ARCH" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

static void json_files_load_too(void **state)
{
	const char *j = "{\"arch\": \"x86_64\", \"devices\": [{\"kind\": \"rng\"}]}";
	qk_spec *s = NULL;
	assert_int_equal(qk_spec_load_string(&s, j, strlen(j), QK_SPEC_JSON, QK_SPEC_LOAD_NO_ENV, NULL), 0);
	char *r = render(s, NULL);
	assert_non_null(strstr(r, "virtio-rng-pci"));
	free(r);
	qk_spec_free(s);
	qk_error *err = NULL;
	assert_int_equal(qk_spec_load_string(&s, "{\"a\":1,\"a\":2}", 13, QK_SPEC_JSON, QK_SPEC_LOAD_NO_ENV, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "duplicate object key"));
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_spec_load_file(&s, "/nonexistent/vm.yaml", QK_SPEC_AUTO, 0, &err), -ENOENT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_NOT_FOUND);
	qk_error_free(err);
}

/* A file's relative paths are relative to its directory; a string's stay as given. */
static void file_paths_are_relative_to_the_file(void **state)
{
	char dir[] = "/tmp/qkit-test-spec-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[64], path[128];
	snprintf(sub, sizeof(sub), "%s/vms", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/vm.yaml", sub);
	static const char yaml[] =
		"arch: x86_64\n"
		"qemu: {binary: ./bin/qemu}\n"
		"boot: {kernel: vmlinuz, initrd: ./initrd.img, bios: bios-256k.bin}\n"
		"console: {backend: {type: file, path: ../logs/console.log}}\n"
		"devices:\n"
		"  - {kind: disk, file: /abs/root.img}\n"
		"  - {kind: disk, dir: .}\n"
		"  - {kind: net, type: tap, ifname: tap0, script: \"no\", downscript: down.sh, romfile: efi-e1000.rom}\n"
		"  - {kind: channel, name: x, backend: {type: unix, path: qga.sock, server: true}}\n"
		"  - {kind: device, driver: edu, props: {file: keep}}\n";
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);

	qk_spec *spec = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_spec_load_file(&spec, path, QK_SPEC_AUTO, QK_SPEC_LOAD_NO_ENV, &err), 0);
	char *got = render(spec, NULL);
	char want[256];
	/* What comes before the spec's directory, and after it. */
	static const char *const expect[][2] = {
		{ "", "/bin/qemu " },
		{ "-kernel ", "/vmlinuz " },
		{ "-initrd ", "/initrd.img " },
		{ "path=", "/../logs/console.log" },
		{ "\"dir\":\"", "\"" },
		{ "\"downscript\":\"", "/down.sh\"" },
		{ "path=", "/qga.sock,server=on" },
	};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		snprintf(want, sizeof(want), "%s%s%s", expect[i][0], sub, expect[i][1]);
		if (!strstr(got, want))
			fail_msg("no '%s' in %s", want, got);
	}
	assert_non_null(strstr(got, "\"filename\":\"/abs/root.img\""));
	/* Looked up by QEMU, or not paths at all. */
	assert_non_null(strstr(got, "-bios bios-256k.bin "));
	assert_non_null(strstr(got, "\"script\":\"no\""));
	assert_non_null(strstr(got, "\"romfile\":\"efi-e1000.rom\""));
	assert_non_null(strstr(got, "\"file\":\"keep\""));
	free(got);
	qk_spec_free(spec);

	/* The same text from a string, or a relative file name: as given, or against the cwd. */
	spec = load(yaml, QK_SPEC_LOAD_NO_ENV);
	got = render(spec, NULL);
	assert_non_null(strstr(got, "-kernel vmlinuz "));
	assert_non_null(strstr(got, "./bin/qemu "));
	free(got);
	qk_spec_free(spec);
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(qk_spec_load_file(&spec, "vms/vm.yaml", QK_SPEC_AUTO, QK_SPEC_LOAD_NO_ENV, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	got = render(spec, NULL);
	snprintf(want, sizeof(want), "-kernel %s/vmlinuz ", sub);
	if (!strstr(got, want))
		fail_msg("no '%s' in %s", want, got);
	free(got);
	qk_spec_free(spec);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

static void qemu_versions_parse(void **state)
{
	unsigned v = 1;
	assert_int_equal(qk_qemu_version_parse("7.2", &v, NULL), 0);
	assert_int_equal(v, 70200);
	assert_int_equal(qk_qemu_version_parse("10.1.3", &v, NULL), 0);
	assert_int_equal(v, 100103);
	static const char *const bad[] = { "7", "7.2.1.0", "7.x", "-7.2", "7.100", "", " 7.2", "7.2 " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qk_error *err = NULL;
		v = 1;
		assert_int_equal(qk_qemu_version_parse(bad[i], &v, &err), -EINVAL);
		assert_int_equal(v, 1);
		assert_non_null(strstr(qk_error_message(err), bad[i]));
		qk_error_free(err);
	}
	/* Strict mode refuses raw arguments; the same spec is valid without it. */
	static const char raw[] = "arch: x86_64\nextra-args: [-s]\n";
	qk_spec *strict = load(raw, QK_SPEC_LOAD_NO_ENV | QK_SPEC_LOAD_STRICT);
	qk_error *serr = NULL;
	assert_int_equal(qk_spec_validate(strict, &serr), -EINVAL);
	assert_string_equal(qk_error_message(serr), "extra-args: raw QEMU arguments are refused in strict mode");
	qk_error_free(serr);
	qk_spec_free(strict);
	strict = load(raw, QK_SPEC_LOAD_NO_ENV);
	assert_int_equal(qk_spec_validate(strict, NULL), 0);
	qk_spec_free(strict);

	/* A spec that needs a newer QEMU can be shown for one. */
	qk_spec *spec = load("arch: x86_64\ndevices: [{kind: tdx-guest}]\n", QK_SPEC_LOAD_NO_ENV);
	json_t *n = NULL;
	assert_int_equal(qk_spec_to_json(spec, &n, NULL), -EINVAL);
	assert_int_equal(qk_spec_to_json_for(spec, 100100, &n, NULL), 0);
	json_decref(n);
	qk_spec_free(spec);
}

static void device_props_and_hotplug(void **state)
{
	qk_spec *s = load("arch: x86_64\ndevices:\n  - {kind: disk, id: d1, file: \"/a,b.img\", readonly: true}\n"
			  "  - {kind: console, backend: {type: \"null\"}}\n",
			  QK_SPEC_LOAD_NO_ENV);
	json_t *props = NULL;
	assert_int_equal(qk_spec_device_props(s, "d1", &props, NULL), 0);
	char *t = json_dumps(props, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(t, "{\"driver\":\"virtio-blk-pci\",\"id\":\"d1\",\"drive\":\"d1-format\"}");
	free(t);
	json_decref(props);

	json_t *cmds = NULL;
	assert_int_equal(qk_spec_device_hotplug(s, "d1", &cmds, NULL), 0);
	assert_int_equal(json_array_size(cmds), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 0), "execute")), "blockdev-add");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(cmds, 0), "arguments"), "filename")),
			    "/a,b.img");
	assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 2), "execute")), "device_add");
	json_decref(cmds);

	qk_error *err = NULL;
	assert_int_equal(qk_spec_device_hotplug(s, "vcon0", &cmds, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "device \"vcon0\" needs -chardev, which cannot be hotplugged this way");
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_spec_device_props(s, "nope", &props, &err), -ENOENT);
	assert_string_equal(qk_error_message(err), "no device has id \"nope\"");
	qk_error_free(err);
	qk_spec_free(s);
}

/* Render if valid; either way nothing may crash or leak (run under ASan too). */
static void try_spec(json_t *raw)
{
	char *text = json_dumps(raw, JSON_COMPACT);
	qk_spec *spec = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_spec_load_string(&spec, text, strlen(text), QK_SPEC_JSON, QK_SPEC_LOAD_NO_ENV, &err), 0);
	char **argv = NULL;
	if (qk_spec_render(spec, NULL, &argv, &err) < 0) {
		assert_non_null(err);
		assert_true(qk_error_count(err) >= 1);
	} else {
		assert_non_null(argv[0]);
	}
	qk_argv_free(argv);
	qk_error_free(err);
	qk_spec_free(spec);
	free(text);
}

static json_t *odd_value(int i)
{
	switch (i) {
	case 0: return json_string("a,b=c");
	case 1: return json_integer(-1);
	case 2: return json_integer(1LL << 62);
	case 3: return json_true();
	case 4: return json_pack("[s, i]", "x", 1);
	case 5: return json_pack("{s:s}", "type", "unix");
	case 6: return json_null();
	case 7: return json_string("");
	default: return json_real(1.5);
	}
}

static void every_field_with_odd_values(void **state)
{
	static const char *const arches[] = { "x86_64", "aarch64", "s390x" };
	for (const struct device_kind *k = device_kinds; k->name; k++)
		for (const struct field *f = k->fields; f->name; f++)
			for (int i = 0; i < 9; i++)
				for (size_t a = 0; a < sizeof(arches) / sizeof(arches[0]); a++) {
					json_t *dev = json_pack("{s:s}", "kind", k->name);
					json_object_set_new(dev, f->name, odd_value(i));
					json_t *raw = json_pack("{s:s, s:[o]}", "arch", arches[a], "devices", dev);
					try_spec(raw);
					json_decref(raw);
				}
	for (const struct field *f = spec_fields; f->name; f++)
		for (int i = 0; i < 9; i++) {
			json_t *raw = json_pack("{s:s}", "arch", "x86_64");
			if (strcmp(f->name, "arch") != 0)
				json_object_set_new(raw, f->name, odd_value(i));
			try_spec(raw);
			json_decref(raw);
			if (f->type != FT_OBJ)
				continue;
			for (const struct field *g = f->sub; g->name; g++) {
				raw = json_pack("{s:s, s:{}}", "arch", "riscv64", f->name);
				json_object_set_new(json_object_get(raw, f->name), g->name, odd_value(i));
				try_spec(raw);
				json_decref(raw);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(api_and_file_agree),
		cmocka_unit_test(setters_check_path_and_type),
		cmocka_unit_test(validation_reports_every_problem),
		cmocka_unit_test(defaults_are_shown),
		cmocka_unit_test(env_overrides),
		cmocka_unit_test(json_files_load_too),
		cmocka_unit_test(device_props_and_hotplug),
		cmocka_unit_test(qemu_versions_parse),
		cmocka_unit_test(file_paths_are_relative_to_the_file),
		cmocka_unit_test(every_field_with_odd_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
