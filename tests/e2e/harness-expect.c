/* SPDX-License-Identifier: MIT */
/*
 * The C harness against real QEMU (TCG) and the prepared Debian guest,
 * whose /init prints "QKIT-GUEST-READY <kernel version>" and powers off.
 *
 * Usage: harness-expect PREPARE   (the path of tests/guest/prepare)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/harness.h>
#include <qkit/initramfs.h>

#include "common.h"

static struct e2e_guest assets;

static qk_harness *start(const char *append)
{
	char kernel[4200], initrd[4200];
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets.dir);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", assets.dir);
	qk_harness_options o = QK_HARNESS_OPTIONS_INIT;
	o.kernel = kernel;
	o.initrd = initrd;
	o.append = append;
	qk_harness *h = NULL;
	qk_error *err = NULL;
	if (qk_harness_start(&h, &o, &err) < 0)
		fail_msg("start: %s", qk_error_message(err));
	return h;
}

static void expect_finds_boot_marker(void **state)
{
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start(NULL);
	qk_console_match m = { 0 };
	qk_error *err = NULL;
	int r = qk_harness_expect(h, "^QKIT-GUEST-READY ([^ \r]+)", QK_CONSOLE_REGEX, 90000, &m, &err);
	if (r != 1) {
		char *report = qk_harness_report(h);
		fail_msg("%s\n%s", qk_error_message(err), report);
	}
	char want[300];
	snprintf(want, sizeof(want), "QKIT-GUEST-READY %s", assets.kernel_version);
	assert_string_equal(m.match, want);
	/* The text before the match is the kernel's boot log. */
	assert_non_null(strstr(m.before, "Linux version"));
	qk_console_match_clear(&m);

	qk_harness_end end;
	assert_int_equal(qk_harness_wait(h, 60000, &end, NULL), 0);
	assert_int_equal(end, QK_HARNESS_POWERED_OFF);
}

static void expect_on_exiting_vm_fails_at_once(void **state)
{
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start(NULL);
	qk_error *err = NULL;
	double t0 = e2e_now();
	/* The guest powers off after its marker; the timeout is far away. */
	int r = qk_harness_expect(h, "NEVER-PRINTED", QK_CONSOLE_SUBSTRING, 300000, NULL, &err);
	double took = e2e_now() - t0;
	assert_int_equal(r, -EPIPE);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	const char *msg = qk_error_message(err);
	assert_non_null(strstr(msg, "guest powered off"));
	assert_non_null(strstr(msg, "\"NEVER-PRINTED\""));
	assert_non_null(strstr(msg, "QKIT-GUEST-READY"));
	/* A boot under TCG takes seconds; waiting out the timeout would take 300. */
	assert_true(took < 90);
	qk_error_free(err);
}

static void panic_ends_expect_with_the_panic(void **state)
{
	/* No init in the image at that path: the kernel panics right after boot. */
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start("rdinit=/no-such-init init=/no-such-init");
	qk_error *err = NULL;
	int r = qk_harness_expect(h, "QKIT-GUEST-READY", QK_CONSOLE_SUBSTRING, 300000, NULL, &err);
	assert_int_equal(r, -EPIPE);
	assert_non_null(strstr(qk_error_message(err), "guest kernel panic ("));
	assert_non_null(strstr(qk_error_message(err), "Kernel panic - not syncing"));
	qk_error_free(err);
	qk_harness_end end;
	assert_int_equal(qk_harness_wait(h, 10000, &end, NULL), 0);
	assert_int_equal(end, QK_HARNESS_PANICKED);
	assert_non_null(strstr(qk_harness_panic_lines(h), "Kernel panic - not syncing"));
}

static void report_is_a_runnable_command_line(void **state)
{
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start(NULL);
	qk_harness_end end;
	assert_int_equal(qk_harness_wait(h, 90000, &end, NULL), 0);
	char *report = qk_harness_report(h);
	/* The console on stdio instead of the inherited socket. */
	assert_non_null(strstr(report, "qemu-system-x86_64 -no-user-config -nodefaults -machine q35 -accel tcg"));
	assert_non_null(strstr(report, "-chardev stdio,id=console0,signal=off -serial chardev:console0"));
	assert_null(strstr(report, "fd="));
	assert_non_null(strstr(report, "The console's last lines:\n"));
	assert_non_null(strstr(report, "QKIT-GUEST-READY"));
	free(report);
}

static void wait_timeout_kills_the_vm(void **state)
{
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start(NULL);
	qk_harness_end end;
	double t0 = e2e_now();
	assert_int_equal(qk_harness_wait(h, 500, &end, NULL), 0);
	assert_int_equal(end, QK_HARNESS_TIMED_OUT);
	assert_true(e2e_now() - t0 < 10);
	qk_error *err = NULL;
	assert_int_equal(qk_harness_send(h, "x", &err), -EPIPE);
	qk_error_free(err);
}

/* An initramfs whose payload writes two lines on the event port. */
static void build_event_guest(const char *path)
{
	static const char script[] =
		"for i in $(seq 200); do\n"
		"  for d in /sys/class/virtio-ports/*; do\n"
		"    [ \"$(cat $d/name 2>/dev/null)\" = qkit.event ] && [ -c /dev/${d##*/} ] && p=/dev/${d##*/}\n"
		"  done\n"
		"  [ -n \"$p\" ] && break\n"
		"  sleep 0.05\n"
		"done\n"
		"echo '{\"event\": \"hello\", \"n\": 1}' >$p\n"
		"echo 'not json' >$p\n";
	char modules[4200];
	snprintf(modules, sizeof(modules), "%s/modules", assets.dir);
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	qk_initramfs_init_opts init = QK_INITRAMFS_INIT_OPTS_INIT;
	init.argv = (const char *[]){ "sh", "-c", script };
	init.argc = 3;
	if (qk_initramfs_new(&ir, &err) < 0 || qk_initramfs_add_busybox(ir, NULL, &err) < 0 ||
	    qk_initramfs_add_modules(ir, modules, (const char *[]){ "virtio_pci", "virtio_console" }, 2,
				     &err) < 0 ||
	    qk_initramfs_set_init(ir, &init, &err) < 0 ||
	    qk_initramfs_write(ir, path, QK_INITRAMFS_NONE, &err) < 0)
		fail_msg("initramfs: %s", qk_error_message(err));
	qk_initramfs_free(ir);
}

static void event_channel_delivers_json_objects(void **state)
{
	char initrd[] = "/tmp/qkit-harness-events-XXXXXX";
	int fd = mkstemp(initrd);
	assert_true(fd >= 0);
	close(fd);
	build_event_guest(initrd);

	char kernel[4200];
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets.dir);
	qk_harness_options o = QK_HARNESS_OPTIONS_INIT;
	o.kernel = kernel;
	o.initrd = initrd;
	o.events = true;
	qk_harness *h = NULL;
	qk_error *err = NULL;
	if (qk_harness_start(&h, &o, &err) < 0)
		fail_msg("start: %s", qk_error_message(err));
	json_t *ev = NULL;
	int r = qk_harness_wait_event(h, 90000, &ev, &err);
	if (r != 1) {
		char *report = qk_harness_report(h);
		fail_msg("%s\n%s", qk_error_message(err), report);
	}
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "hello");
	assert_int_equal(json_integer_value(json_object_get(ev, "n")), 1);
	json_decref(ev);
	/* The second line is not JSON: named, not skipped in silence. */
	assert_int_equal(qk_harness_wait_event(h, 90000, &ev, &err), -EPROTO);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_PROTOCOL);
	assert_string_equal(qk_error_message(err), "event channel: \"not json\" is not a JSON object");
	qk_error_free(err);
	qk_harness_free(h);
	unlink(initrd);
}

/* The generated init without a payload: a shell on the console. */
static void send_types_on_the_console(void **state)
{
	char initrd[] = "/tmp/qkit-harness-shell-XXXXXX";
	int fd = mkstemp(initrd);
	assert_true(fd >= 0);
	close(fd);
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	qk_initramfs_init_opts init = QK_INITRAMFS_INIT_OPTS_INIT;
	if (qk_initramfs_new(&ir, &err) < 0 || qk_initramfs_add_busybox(ir, NULL, &err) < 0 ||
	    qk_initramfs_set_init(ir, &init, &err) < 0 ||
	    qk_initramfs_write(ir, initrd, QK_INITRAMFS_NONE, &err) < 0)
		fail_msg("initramfs: %s", qk_error_message(err));
	qk_initramfs_free(ir);

	char kernel[4200];
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", assets.dir);
	qk_harness_options o = QK_HARNESS_OPTIONS_INIT;
	o.kernel = kernel;
	o.initrd = initrd;
	o.append = "quiet";
	qk_harness *h = NULL;
	if (qk_harness_start(&h, &o, &err) < 0)
		fail_msg("start: %s", qk_error_message(err));
	/* Type until the shell is up: keys sent before it runs are lost. */
	qk_console_match m = { 0 };
	int r = 0;
	for (int i = 0; i < 60 && r == 0; i++) {
		assert_int_equal(qk_harness_send(h, "echo hi-$((6*7))\n", NULL), 0);
		r = qk_harness_expect(h, "^hi-42", QK_CONSOLE_REGEX, 2000, &m, NULL);
		if (r < 0)
			r = 0; /* a timeout: type again */
	}
	if (r != 1) {
		char *report = qk_harness_report(h);
		fail_msg("no answer to what was typed\n%s", report);
	}
	qk_console_match_clear(&m);
	assert_int_equal(qk_harness_send(h, "poweroff -f\n", NULL), 0);
	qk_harness_end end;
	assert_int_equal(qk_harness_wait(h, 60000, &end, NULL), 0);
	assert_int_equal(end, QK_HARNESS_POWERED_OFF);
	qk_harness_free(h);
	unlink(initrd);
}

static void waiting_for_an_event_fails_when_the_vm_ends(void **state)
{
	__attribute__((cleanup(qk_harness_freep))) qk_harness *h = start(NULL);
	qk_error *err = NULL;
	json_t *ev = NULL;
	double t0 = e2e_now();
	assert_int_equal(qk_harness_wait_event(h, 300000, &ev, &err), -EPIPE);
	assert_true(e2e_now() - t0 < 90);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	assert_string_equal(qk_error_message(err), "guest powered off: no event arrived before the VM ended");
	qk_error_free(err);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PREPARE\n", argv[0]);
		return 2;
	}
	if (e2e_guest_load(argv[1], &assets) < 0)
		return 1;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expect_finds_boot_marker),
		cmocka_unit_test(expect_on_exiting_vm_fails_at_once),
		cmocka_unit_test(panic_ends_expect_with_the_panic),
		cmocka_unit_test(report_is_a_runnable_command_line),
		cmocka_unit_test(wait_timeout_kills_the_vm),
		cmocka_unit_test(event_channel_delivers_json_objects),
		cmocka_unit_test(waiting_for_an_event_fails_when_the_vm_ends),
		cmocka_unit_test(send_types_on_the_console),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
