/* SPDX-License-Identifier: MIT */
/*
 * qk_run() from C, against the real QEMU under TCG: a spec built with the
 * API boots the prepared kernel and powers off, its console reaching the
 * caller; an invalid spec starts nothing and names every problem; a silent
 * guest (SeaBIOS with nothing to boot prints nothing on the serial port)
 * trips the watchdog; the escape key stops the VM; a detached run is
 * listed and killed by name.
 * Usage: test-run-api PREPARE (tests/guest/prepare, printing the assets' dir)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <qkit/qkit.h>

#include "common.h"

static struct e2e_guest assets;
static char runtime_dir[] = "/tmp/qkit-e2e-run-api.XXXXXX";

struct output {
	char data[1 << 20];
	size_t len;
};

static void collect(const char *data, size_t len, void *userdata)
{
	struct output *o = userdata;
	size_t n = len < sizeof(o->data) - 1 - o->len ? len : sizeof(o->data) - 1 - o->len;
	memcpy(o->data + o->len, data, n);
	o->len += n;
	o->data[o->len] = '\0';
}

/* A spec for a TCG x86_64 guest, name and a 120 s timeout set; kernel optional. */
static qk_spec *new_spec(const char *name, bool kernel)
{
	qk_spec *spec = NULL;
	char path[4200];
	assert_int_equal(qk_spec_new(&spec, NULL), 0);
	assert_int_equal(qk_spec_set_string(spec, "name", name, NULL), 0);
	assert_int_equal(qk_spec_set_string(spec, "arch", "x86_64", NULL), 0);
	assert_int_equal(qk_spec_append_string(spec, "machine.accel", "tcg", NULL), 0);
	assert_int_equal(qk_spec_set_int(spec, "timeout", 120, NULL), 0);
	if (kernel) {
		snprintf(path, sizeof(path), "%s/vmlinuz", assets.dir);
		assert_int_equal(qk_spec_set_string(spec, "boot.kernel", path, NULL), 0);
		snprintf(path, sizeof(path), "%s/initramfs.cpio.gz", assets.dir);
		assert_int_equal(qk_spec_set_string(spec, "boot.initrd", path, NULL), 0);
	}
	return spec;
}

static void boots_and_powers_off(void **state)
{
	qk_spec *spec = new_spec("run-api-boot", true);
	struct output *out = calloc(1, sizeof(*out));
	assert_non_null(out);
	qk_run_options o = QK_RUN_OPTIONS_INIT;
	o.console_fn = collect;
	o.console_userdata = out;
	qk_run_result res = QK_RUN_RESULT_INIT;
	qk_error *err = NULL;
	int r = qk_run(spec, &o, &res, &err);
	assert_int_equal(r, 0);
	assert_null(err);
	assert_int_equal(res.end, QK_RUN_POWERED_OFF);
	assert_int_equal(res.exit_status, 0);
	assert_false(res.kvm);
	char marker[300];
	snprintf(marker, sizeof(marker), "QKIT-GUEST-READY %s", assets.kernel_version);
	assert_non_null(strstr(out->data, marker));
	/* The console's tail is the result's too, and fast boot went through PVH. */
	assert_non_null(strstr(res.console_tail, "reboot: Power down"));
	assert_non_null(strstr(out->data, "Booting paravirtualized kernel"));
	qk_run_result_clear(&res);
	qk_spec_free(spec);
	free(out);
}

static void invalid_spec_starts_nothing(void **state)
{
	qk_spec *spec = new_spec("run-api-invalid", false);
	assert_int_equal(qk_spec_set_string(spec, "memory.size", "1K", NULL), 0);
	assert_int_equal(qk_spec_set_string(spec, "boot.append", "quiet", NULL), 0);
	assert_int_equal(qk_spec_set_string(spec, "qemu.binary", "/nonexistent/qemu", NULL), 0);
	qk_run_options o = QK_RUN_OPTIONS_INIT;
	o.name = "run-api-invalid";
	qk_run_result res = QK_RUN_RESULT_INIT;
	qk_error *err = NULL;
	assert_int_equal(qk_run(spec, &o, &res, &err), -EINVAL);
	assert_non_null(err);
	assert_int_equal(qk_error_count(err), 2);
	assert_non_null(strstr(qk_error_message(err), "memory: size"));
	assert_non_null(strstr(qk_error_message(err), "append needs a kernel"));
	qk_error_free(err);
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/vms/run-api-invalid", runtime_dir);
	assert_int_not_equal(access(dir, F_OK), 0);
	qk_run_result_clear(&res);
	qk_spec_free(spec);
}

static void silent_guest_trips_watchdog(void **state)
{
	qk_spec *spec = new_spec("run-api-silent", false);
	qk_run_options o = QK_RUN_OPTIONS_INIT;
	o.boot_timeout_ms = 2000;
	qk_run_result res = QK_RUN_RESULT_INIT;
	qk_error *err = NULL;
	double t0 = e2e_now();
	assert_int_equal(qk_run(spec, &o, &res, &err), 0);
	double took = e2e_now() - t0;
	assert_int_equal(res.end, QK_RUN_WATCHDOG);
	assert_string_equal(res.message, "boot watchdog: the guest printed nothing on its console "
					 "within 2 s; stopped the VM");
	assert_true(took >= 2 && took < 15);
	qk_run_result_clear(&res);
	qk_spec_free(spec);
}

static void escape_key_stops(void **state)
{
	qk_spec *spec = new_spec("run-api-escape", false);
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* An escaped escape is data; escape then q stops. */
	assert_int_equal(write(p[1], "\x1d\x1d" "\x1dq", 4), 4);
	qk_run_options o = QK_RUN_OPTIONS_INIT;
	o.boot_timeout_ms = -1;
	o.input_fd = p[0];
	o.escape_char = 0x1d;
	o.stop.powerdown_timeout_ms = 500; /* SeaBIOS ignores the power button */
	qk_run_result res = QK_RUN_RESULT_INIT;
	qk_error *err = NULL;
	assert_int_equal(qk_run(spec, &o, &res, &err), 0);
	assert_int_equal(res.end, QK_RUN_STOPPED);
	assert_int_equal(res.signal, 0);
	assert_string_equal(res.message, "stopped on the escape key");
	close(p[0]);
	close(p[1]);
	qk_run_result_clear(&res);
	qk_spec_free(spec);
}

static void detached_is_listed_and_killed(void **state)
{
	qk_spec *spec = new_spec("run-api-det", false);
	qk_run_options o = QK_RUN_OPTIONS_INIT;
	o.name = "run-api-det";
	o.detach = true;
	qk_run_result res = QK_RUN_RESULT_INIT;
	qk_error *err = NULL;
	assert_int_equal(qk_run(spec, &o, &res, &err), 0);
	assert_int_equal(res.end, QK_RUN_DETACHED);
	assert_true(res.supervisor_pid > 0);
	qk_vm_state *st = NULL;
	assert_int_equal(qk_state_lookup(&st, "run-api-det", &err), 0);
	const json_t *recorded = qk_vm_state_spec(st);
	assert_non_null(recorded);
	assert_string_equal(json_string_value(json_object_get(recorded, "name")), "run-api-det");
	assert_non_null(qk_vm_state_console_socket(st));
	qk_vm_state_free(st);
	assert_int_equal(qk_vm_kill_by_name("run-api-det", &err), 0);
	assert_int_equal(qk_state_lookup(&st, "run-api-det", &err), -ENOENT);
	qk_error_free(err);
	qk_run_result_clear(&res);
	qk_spec_free(spec);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PREPARE\n", argv[0]);
		return 2;
	}
	if (e2e_guest_load(argv[1], &assets) < 0)
		return 1;
	if (!mkdtemp(runtime_dir))
		return 1;
	setenv("QKIT_RUNTIME_DIR", runtime_dir, 1);
	/* The environment overrides would change the specs under test. */
	unsetenv("QKIT_KERNEL");
	unsetenv("QKIT_INITRD");
	unsetenv("QKIT_APPEND");

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(boots_and_powers_off),
		cmocka_unit_test(invalid_spec_starts_nothing),
		cmocka_unit_test(silent_guest_trips_watchdog),
		cmocka_unit_test(escape_key_stops),
		cmocka_unit_test(detached_is_listed_and_killed),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", runtime_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", runtime_dir);
	return failed;
}
