/* SPDX-License-Identifier: MIT */
/* The console watchdog and panic detector shared by qk_run() and qk_exec_run(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "watch.h"

static void default_timeouts(void **state)
{
	assert_int_equal(watch_boot_timeout(0, false), 30000);
	assert_int_equal(watch_boot_timeout(0, true), 10000);
	assert_int_equal(watch_boot_timeout(2500, true), 2500);
	assert_int_equal(watch_boot_timeout(-1, false), 0);
}

static void silent_guest_trips_at_the_boot_timeout(void **state)
{
	struct watch w;
	watch_init(&w, 3000, false, 1000);
	assert_int_equal(watch_next_deadline(&w), 4000);
	assert_int_equal(watch_check(&w, 3999), WATCH_OK);
	assert_int_equal(watch_check(&w, 4000), WATCH_SILENT);
	char *m = watch_silent_message(&w);
	assert_string_equal(m, "boot watchdog: the guest printed nothing on its console within 3 s; "
			       "stopped the VM");
	free(m);
	watch_free(&w);
}

static void kvm_watchdog_advises_tcg_and_keeps_fractions(void **state)
{
	struct watch w;
	watch_init(&w, 2500, true, 0);
	char *m = watch_silent_message(&w);
	assert_non_null(strstr(m, "within 2.5 s; stopped the VM. The guest ran under KVM, which may "
				  "be non-functional on this host"));
	assert_int_equal(strcmp(m + strlen(m) - strlen("try --accel tcg"), "try --accel tcg"), 0);
	free(m);
	watch_free(&w);
}

static void any_output_disarms_the_watchdog(void **state)
{
	struct watch w;
	watch_init(&w, 3000, false, 0);
	/* Not even a whole line: a byte is a sign of life. */
	assert_false(watch_feed(&w, "S", 1, 10));
	assert_int_equal(watch_check(&w, 100000), WATCH_OK);
	assert_int_equal(watch_next_deadline(&w), -1);
	watch_free(&w);

	watch_init(&w, 0, false, 0);
	assert_int_equal(watch_check(&w, 1000000), WATCH_OK);
	assert_int_equal(watch_next_deadline(&w), -1);
	watch_free(&w);
}

static void panic_is_collected_until_its_grace_ends(void **state)
{
	struct watch w;
	watch_init(&w, 3000, false, 0);
	assert_false(watch_feed(&w, "booting\r\n", 9, 100));
	assert_null(watch_panic_lines(&w));
	/* Split mid-line, as a serial console delivers it. */
	const char *a = "[    1.5] Kernel panic - not sy";
	const char *b = "ncing: VFS: Unable to mount root fs\r\n[    1.6] CPU: 0 PID: 1\r\n";
	assert_false(watch_feed(&w, a, strlen(a), 1000));
	assert_true(watch_feed(&w, b, strlen(b), 1000));
	assert_true(w.in_panic);
	assert_int_equal(watch_next_deadline(&w), 1000 + WATCH_PANIC_GRACE_MS);
	assert_int_equal(watch_check(&w, 1000 + WATCH_PANIC_GRACE_MS - 1), WATCH_OK);
	assert_int_equal(watch_check(&w, 1000 + WATCH_PANIC_GRACE_MS), WATCH_PANICKED);
	assert_string_equal(watch_panic_lines(&w), "[    1.5] Kernel panic - not syncing: VFS: "
						   "Unable to mount root fs\n[    1.6] CPU: 0 PID: 1");
	watch_free(&w);
}

static void panic_line_without_newline_counts(void **state)
{
	struct watch w;
	watch_init(&w, 0, false, 0);
	const char *a = "Kernel panic - not syncing: Attempted to kill init!";
	assert_true(watch_feed(&w, a, strlen(a), 50));
	assert_int_equal(watch_check(&w, 50 + WATCH_PANIC_GRACE_MS), WATCH_PANICKED);
	watch_free(&w);
}

static void end_marker_stops_at_once(void **state)
{
	struct watch w;
	watch_init(&w, 0, false, 0);
	const char *s = "Kernel panic - not syncing: sysrq triggered crash\n"
			"Call Trace:\n"
			"---[ end Kernel panic - not syncing: sysrq triggered crash ]---\n"
			"after the end\n";
	assert_true(watch_feed(&w, s, strlen(s), 500));
	assert_int_equal(watch_check(&w, 500), WATCH_PANICKED);
	assert_non_null(strstr(watch_panic_lines(&w), "Call Trace:"));
	assert_non_null(strstr(watch_panic_lines(&w), "after the end"));
	watch_free(&w);
}

static void long_reports_are_cut(void **state)
{
	struct watch w;
	watch_init(&w, 0, false, 0);
	const char *p = "Kernel panic - not syncing: x\n";
	watch_feed(&w, p, strlen(p), 0);
	for (int i = 0; i < 200; i++)
		watch_feed(&w, "\x1b[0mline\a\n", 11, 0);
	size_t lines = 1;
	for (const char *c = watch_panic_lines(&w); *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, WATCH_PANIC_LINES_MAX);
	/* Control characters are dropped from what people read. */
	assert_null(strchr(watch_panic_lines(&w), '\x1b'));
	assert_null(strchr(watch_panic_lines(&w), '\a'));
	watch_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_timeouts),
		cmocka_unit_test(silent_guest_trips_at_the_boot_timeout),
		cmocka_unit_test(kvm_watchdog_advises_tcg_and_keeps_fractions),
		cmocka_unit_test(any_output_disarms_the_watchdog),
		cmocka_unit_test(panic_is_collected_until_its_grace_ends),
		cmocka_unit_test(panic_line_without_newline_counts),
		cmocka_unit_test(end_marker_stops_at_once),
		cmocka_unit_test(long_reports_are_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
