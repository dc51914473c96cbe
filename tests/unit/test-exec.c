/* SPDX-License-Identifier: MIT */
/*
 * The parts of qkit exec and the harness that need no QEMU: which kernel
 * and modules are found, and the command line the guest runner renders
 * (console and ports on inherited sockets, shown runnable from a shell).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/exec.h>

#include "harness-private.h"

static char dir[] = "/tmp/qkit-test-exec-XXXXXX";

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	char p[256];
	snprintf(p, sizeof(p), "%s/guest", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/guest/vmlinuz", dir);
	touch(p);
	snprintf(p, sizeof(p), "%s/guest/modules", dir);
	mkdir(p, 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void kernel_from_environment_first(void **state)
{
	char k[256], *out = NULL;
	snprintf(k, sizeof(k), "%s/guest/vmlinuz", dir);
	setenv("QKIT_KERNEL", k, 1);
	assert_int_equal(qk_exec_default_kernel(&out, NULL), 0);
	assert_string_equal(out, k);
	free(out);

	qk_error *err = NULL;
	setenv("QKIT_KERNEL", "/nonexistent/vmlinuz", 1);
	assert_int_equal(qk_exec_default_kernel(&out, &err), -ENOENT);
	assert_string_equal(qk_error_message(err),
			    "QKIT_KERNEL: \"/nonexistent/vmlinuz\" is not a readable file");
	qk_error_free(err);
	unsetenv("QKIT_KERNEL");
}

static void kernel_from_prepared_guest_dir(void **state)
{
	char g[256], want[300], *out = NULL;
	snprintf(g, sizeof(g), "%s/guest", dir);
	snprintf(want, sizeof(want), "%s/vmlinuz", g);
	unsetenv("QKIT_KERNEL");
	setenv("QKIT_GUEST_DIR", g, 1);
	assert_int_equal(qk_exec_default_kernel(&out, NULL), 0);
	assert_string_equal(out, want);
	/* Its modules are the tree next to it. */
	char *mods = NULL;
	assert_int_equal(qk_exec_default_modules(out, &mods, NULL), 0);
	snprintf(want, sizeof(want), "%s/modules", g);
	assert_string_equal(mods, want);
	free(mods);
	free(out);
	unsetenv("QKIT_GUEST_DIR");
}

static void no_modules_says_how_to_get_them(void **state)
{
	char k[256], *out = NULL;
	snprintf(k, sizeof(k), "%s/lonely-kernel", dir);
	touch(k);
	qk_error *err = NULL;
	assert_int_equal(qk_exec_default_modules(k, &out, &err), -ENOENT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_NOT_FOUND);
	assert_non_null(strstr(qk_error_message(err), k));
	assert_non_null(strstr(qk_error_message(err), "pass --modules DIR"));
	qk_error_free(err);
}

static void runner_renders_fd_chardevs_and_a_runnable_command_line(void **state)
{
	struct guest g;
	guest_init(&g);
	int con = guest_add_console(&g, "vm0", NULL, NULL, NULL, NULL);
	int out = guest_add_port(&g, "qkit.stdout", NULL, NULL, NULL);
	assert_int_equal(con, 3);
	assert_int_equal(out, 4);
	struct guest_base base = {
		.arch = "x86_64", .accel = "tcg", .kernel = "/k/my kernel", .append = "panic=-1",
	};
	qk_spec *spec = NULL;
	assert_int_equal(guest_spec(&g, &base, &spec, NULL), 0);
	assert_int_equal(guest_render(&g, spec, NULL), 0);
	qk_spec_free(spec);

	/* What QEMU gets: the sockets it inherits. */
	bool console = false, port = false, noreboot = false;
	for (char **a = g.argv; *a; a++) {
		console |= strcmp(*a, "socket,id=console0,fd=3") == 0;
		port |= strcmp(*a, "socket,id=channel0-chardev,fd=4") == 0;
		noreboot |= strcmp(*a, "-no-reboot") == 0;
	}
	assert_true(console);
	assert_true(port);
	assert_true(noreboot);

	/* What a person can paste: stdio for the console, null for the ports. */
	char *line = guest_command_line(&g);
	assert_non_null(strstr(line, "-chardev stdio,id=console0,signal=off"));
	assert_non_null(strstr(line, "-chardev null,id=channel0-chardev"));
	assert_non_null(strstr(line, "-kernel '/k/my kernel'"));
	assert_non_null(strstr(line, "-append 'console=ttyS0 panic=-1'"));
	assert_null(strstr(line, "fd="));
	free(line);
	guest_destroy(&g);
}

static void tty_port_is_a_virtconsole(void **state)
{
	struct guest g;
	guest_init(&g);
	guest_add_console(&g, "vm0", NULL, NULL, NULL, NULL);
	int out = guest_add_port(&g, "qkit.stdout", NULL, NULL, NULL);
	int tty = guest_add_tty_port(&g, "qkit.tty", -1, 0x1d, NULL, NULL, NULL);
	assert_int_equal(out, 4);
	assert_int_equal(tty, 5);
	struct guest_base base = { .arch = "x86_64", .accel = "tcg", .kernel = "/k", .append = "" };
	qk_spec *spec = NULL;
	assert_int_equal(guest_spec(&g, &base, &spec, NULL), 0);
	assert_int_equal(guest_render(&g, spec, NULL), 0);
	qk_spec_free(spec);
	/* The stream stays a virtserialport; the terminal is a virtconsole (hvc in the guest). */
	bool stream = false, terminal = false;
	for (char **a = g.argv; *a; a++) {
		stream |= strstr(*a, "virtserialport") && strstr(*a, "\"name\":\"qkit.stdout\"");
		terminal |= strstr(*a, "virtconsole") && strstr(*a, "\"name\":\"qkit.tty\"");
		assert_false(strstr(*a, "virtserialport") && strstr(*a, "qkit.tty"));
	}
	assert_true(stream);
	assert_true(terminal);
	char *line = guest_command_line(&g);
	free(line);
	guest_destroy(&g);
}

static void kvm_on_x86_uses_qemus_default_model(void **state)
{
	struct guest g;
	guest_init(&g);
	guest_add_console(&g, "vm0", NULL, NULL, NULL, NULL);
	struct guest_base base = { .arch = "x86_64", .accel = "kvm", .kernel = "/k", .append = "" };
	qk_spec *spec = NULL;
	assert_int_equal(guest_spec(&g, &base, &spec, NULL), 0);
	assert_int_equal(guest_render(&g, spec, NULL), 0);
	qk_spec_free(spec);
	char *line = guest_command_line(&g);
	assert_non_null(strstr(line, "-accel kvm -cpu qemu64"));
	free(line);
	guest_destroy(&g);
}

static void exec_refuses_bad_options_naming_them(void **state)
{
	const char *argv[] = { "true" };
	qk_exec_options o = QK_EXEC_OPTIONS_INIT;
	qk_exec_result res = QK_EXEC_RESULT_INIT;
	qk_error *err = NULL;

	o.accel = "hvf";
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "accel: \"hvf\" is not one of tcg, kvm");
	qk_error_free(err);
	err = NULL;

	o = (qk_exec_options)QK_EXEC_OPTIONS_INIT;
	o.arch = "mips";
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "arch: \"mips\" is not one of x86_64, aarch64");
	qk_error_free(err);
	err = NULL;

	o = (qk_exec_options)QK_EXEC_OPTIONS_INIT;
	o.mem_mb = 16;
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "mem: 16 MiB"));
	qk_error_free(err);
	err = NULL;

	char k[256];
	snprintf(k, sizeof(k), "%s/guest/vmlinuz", dir);
	o = (qk_exec_options)QK_EXEC_OPTIONS_INIT;
	o.kernel = k;
	o.shares = (qk_exec_share[]){ { dir, "bad tag", false } };
	o.n_shares = 1;
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_string_equal(qk_error_message(err),
			    "shares[0]: tag \"bad tag\" is not 1 to 31 of [A-Za-z0-9_.-]");
	qk_error_free(err);
	err = NULL;

	o.shares = NULL;
	o.n_shares = 0;
	o.tty = true;
	o.escape_char = 'q';
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "escape_char: 113 is not a byte other than q");
	qk_error_free(err);
	err = NULL;
	o.escape_char = 0x1d;
	o.tty_term = "xterm; reboot";
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "tty_term: \"xterm; reboot\" is not a terminal type name");
	qk_error_free(err);
	err = NULL;
	o.tty = false;
	o.tty_term = NULL;

	o.shares = (qk_exec_share[]){ { "/nonexistent-share", NULL, false } };
	o.n_shares = 1;
	assert_int_equal(qk_exec_run(argv, 1, &o, &res, &err), -ENOENT);
	assert_string_equal(qk_error_message(err), "shares[0]: \"/nonexistent-share\" is not a directory");
	qk_error_free(err);
	qk_exec_result_clear(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kernel_from_environment_first),
		cmocka_unit_test(kernel_from_prepared_guest_dir),
		cmocka_unit_test(no_modules_says_how_to_get_them),
		cmocka_unit_test(runner_renders_fd_chardevs_and_a_runnable_command_line),
		cmocka_unit_test(tty_port_is_a_virtconsole),
		cmocka_unit_test(kvm_on_x86_uses_qemus_default_model),
		cmocka_unit_test(exec_refuses_bad_options_naming_them),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
