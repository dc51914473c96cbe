/* SPDX-License-Identifier: MIT */
/* The renderer: syntax per target version, escaping in place, render options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <qkit/spec.h>

static char **render(const char *yaml, const qk_render_opts *opts)
{
	qk_spec *spec = NULL;
	qk_error *err = NULL;
	char **argv = NULL;
	if (qk_spec_load_string(&spec, yaml, strlen(yaml), QK_SPEC_YAML, QK_SPEC_LOAD_NO_ENV, &err) < 0 ||
	    qk_spec_render(spec, opts, &argv, &err) < 0)
		fail_msg("%s", qk_error_message(err));
	qk_spec_free(spec);
	return argv;
}

/* The value after the n-th occurrence of opt, or NULL. */
static const char *value_of(char **argv, const char *opt, int n)
{
	for (char **p = argv; *p; p++)
		if (strcmp(*p, opt) == 0 && n-- == 0)
			return p[1];
	return NULL;
}

static bool has(char **argv, const char *arg)
{
	for (char **p = argv; *p; p++)
		if (strcmp(*p, arg) == 0)
			return true;
	return false;
}

static const char *hostile = "arch: x86_64\n"
			     "name: \"n,guest=evil\"\n"
			     "devices:\n"
			     "  - {kind: disk, id: d, file: \"/srv/a,file=/etc/shadow\\n 'x' \\\"y\\\" é\", serial: \"s,n\"}\n"
			     "  - {kind: fs, type: 9p, path: \"/srv/p,security_model=passthrough\", tag: \"t,x\"}\n"
			     "  - {kind: fw-cfg, name: opt/a, string: \"v,file=/etc/passwd\"}\n"
			     "  - {kind: monitor, path: \"/run/m,server=off\"}\n";

static void comma_syntax_escapes_every_value(void **state)
{
	qk_render_opts o = QK_RENDER_OPTS_INIT;
	o.syntax = QK_SYNTAX_COMMA;
	char **argv = render(hostile, &o);
	assert_string_equal(value_of(argv, "-name", 0), "guest=n,,guest=evil,debug-threads=on");
	assert_string_equal(value_of(argv, "-blockdev", 0),
			    "driver=file,node-name=d-file,filename=/srv/a,,file=/etc/shadow\n 'x' \"y\" é");
	assert_string_equal(value_of(argv, "-device", 0), "virtio-blk-pci,id=d,serial=s,,n,drive=d-format");
	assert_string_equal(value_of(argv, "-fsdev", 0),
			    "local,id=fs0-fsdev,path=/srv/p,,security_model=passthrough,security_model=none");
	assert_string_equal(value_of(argv, "-device", 1), "virtio-9p-pci,id=fs0,fsdev=fs0-fsdev,mount_tag=t,,x");
	assert_string_equal(value_of(argv, "-fw_cfg", 0), "name=opt/a,string=v,,file=/etc/passwd");
	assert_string_equal(value_of(argv, "-chardev", 1), "socket,id=mon0-chardev,path=/run/m,,server=off,server=on,wait=off");
	qk_argv_free(argv);
}

static void json_syntax_by_target_version(void **state)
{
	const char *spec = "arch: x86_64\ndevices:\n  - {kind: disk, file: /a.img}\n  - {kind: net}\n  - {kind: rng}\n";
	qk_render_opts o = QK_RENDER_OPTS_INIT;
	char **argv = render(spec, &o);
	assert_string_equal(value_of(argv, "-device", 0), "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk0\",\"drive\":\"disk0-format\"}");
	assert_string_equal(value_of(argv, "-netdev", 0), "{\"type\":\"user\",\"id\":\"net0-netdev\"}");
	assert_string_equal(value_of(argv, "-object", 0), "{\"qom-type\":\"rng-random\",\"id\":\"rng0-rng\",\"filename\":\"/dev/urandom\"}");
	qk_argv_free(argv);

	/* 6.0: -object takes JSON, -device not yet (6.2), -netdev not (7.2 here). */
	o.qemu_version = 60000;
	argv = render(spec, &o);
	assert_string_equal(value_of(argv, "-device", 0), "virtio-blk-pci,id=disk0,drive=disk0-format");
	assert_string_equal(value_of(argv, "-netdev", 0), "user,id=net0-netdev");
	assert_string_equal(value_of(argv, "-object", 0), "{\"qom-type\":\"rng-random\",\"id\":\"rng0-rng\",\"filename\":\"/dev/urandom\"}");
	assert_string_equal(value_of(argv, "-blockdev", 0), "{\"driver\":\"file\",\"node-name\":\"disk0-file\",\"filename\":\"/a.img\"}");
	qk_argv_free(argv);

	o.qemu_version = 50200;
	argv = render(spec, &o);
	assert_string_equal(value_of(argv, "-object", 0), "rng-random,id=rng0-rng,filename=/dev/urandom");
	qk_argv_free(argv);
}

static void console_chardev_and_paused(void **state)
{
	qk_render_opts o = QK_RENDER_OPTS_INIT;
	o.console_chardev = "qkit-console";
	o.paused = true;
	char **argv = render("arch: aarch64\n", &o);
	assert_string_equal(value_of(argv, "-serial", 0), "chardev:qkit-console");
	assert_null(value_of(argv, "-chardev", 0));
	assert_true(has(argv, "-S"));
	qk_argv_free(argv);

	argv = render("arch: s390x\nconsole: {type: virtio}\n", &o);
	assert_string_equal(value_of(argv, "-device", 0), "{\"driver\":\"virtio-serial-ccw\",\"id\":\"vserial0\"}");
	assert_string_equal(value_of(argv, "-device", 1),
			    "{\"driver\":\"virtconsole\",\"id\":\"console0\",\"bus\":\"vserial0.0\",\"chardev\":\"qkit-console\"}");
	qk_argv_free(argv);

	qk_spec *spec = NULL;
	qk_error *err = NULL;
	char **none = NULL;
	qk_spec_new(&spec, NULL);
	o.console_chardev = "bad,id";
	assert_int_equal(qk_spec_render(spec, &o, &none, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "console chardev \"bad,id\" is not a valid id");
	qk_error_free(err);
	qk_spec_free(spec);
}

static void transport_follows_machine(void **state)
{
	static const struct {
		const char *spec, *driver;
	} cases[] = {
		{ "arch: x86_64\n", "virtio-rng-pci" },
		{ "arch: x86_64\nmachine: {type: microvm}\nboot: {kernel: /k}\n", "virtio-rng-device" },
		{ "arch: aarch64\n", "virtio-rng-pci" },
		{ "arch: aarch64\nmachine: {transport: mmio}\n", "virtio-rng-device" },
		{ "arch: s390x\n", "virtio-rng-ccw" },
		{ "arch: riscv64\n", "virtio-rng-pci" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), "%sdevices: [{kind: rng}]\n", cases[i].spec);
		qk_render_opts o = QK_RENDER_OPTS_INIT;
		o.syntax = QK_SYNTAX_COMMA;
		char **argv = render(yaml, &o);
		/* The last -device: s390x's console comes first. */
		const char *dev = NULL;
		for (int n = 0; value_of(argv, "-device", n); n++)
			dev = value_of(argv, "-device", n);
		assert_non_null(dev);
		assert_memory_equal(dev, cases[i].driver, strlen(cases[i].driver));
		assert_int_equal(dev[strlen(cases[i].driver)], ',');
		qk_argv_free(argv);
	}
}

static void order_is_fixed(void **state)
{
	char **argv = render("arch: x86_64\nname: v\nboot: {kernel: /k, paused: true}\nextra-args: [-trace, 'qmp*']\n"
			     "options: {no-reboot: true}\ndevices: [{kind: rng}]\n",
			     NULL);
	static const char *const order[] = { "-name", "-no-user-config", "-nodefaults", "-machine", "-accel", "-cpu",
					     "-smp", "-m", "-kernel", "-append", "-chardev", "-serial", "-object",
					     "-device", "-display", "-no-reboot", "-S", "-trace" };
	char **p = argv + 1;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		while (*p && strcmp(*p, order[i]) != 0)
			p++;
		if (!*p)
			fail_msg("%s is missing or out of order", order[i]);
	}
	assert_string_equal(argv[0], "qemu-system-x86_64");
	qk_argv_free(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(comma_syntax_escapes_every_value),
		cmocka_unit_test(json_syntax_by_target_version),
		cmocka_unit_test(console_chardev_and_paused),
		cmocka_unit_test(transport_follows_machine),
		cmocka_unit_test(order_is_fixed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
