/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ring.h"

static void tail_returns_last_lines(void **state)
{
	struct ring r;
	assert_int_equal(ring_init(&r, 64), 0);
	ring_write(&r, "one\ntwo\nthree\n", 14);
	char *s = ring_tail(&r, 2);
	assert_string_equal(s, "two\nthree");
	free(s);
	s = ring_tail(&r, 10);
	assert_string_equal(s, "one\ntwo\nthree");
	free(s);
	s = ring_tail(&r, 0);
	assert_string_equal(s, "");
	free(s);
	ring_free(&r);
}

static void partial_last_line_counts(void **state)
{
	struct ring r;
	assert_int_equal(ring_init(&r, 64), 0);
	ring_write(&r, "a\nb\nprompt> ", 12);
	char *s = ring_tail(&r, 1);
	assert_string_equal(s, "prompt> ");
	free(s);
	ring_free(&r);
}

static void keeps_only_the_newest_bytes(void **state)
{
	struct ring r;
	assert_int_equal(ring_init(&r, 8), 0);
	ring_write(&r, "abcdef", 6);
	ring_write(&r, "ghij", 4); /* wraps */
	char *s = ring_tail(&r, 5);
	assert_string_equal(s, "cdefghij");
	free(s);
	ring_write(&r, "0123456789XY", 12); /* larger than the ring */
	s = ring_tail(&r, 5);
	assert_string_equal(s, "456789XY");
	free(s);
	assert_int_equal(r.total, 22);
	assert_int_equal(r.len, 8);
	ring_free(&r);
}

static void many_small_writes(void **state)
{
	struct ring r;
	assert_int_equal(ring_init(&r, 100), 0);
	for (int i = 0; i < 1000; i++)
		ring_write(&r, "line\n", 5);
	char *s = ring_tail(&r, 3);
	assert_string_equal(s, "line\nline\nline");
	free(s);
	ring_free(&r);
}

static void empty_and_zero_size(void **state)
{
	struct ring r;
	assert_int_equal(ring_init(&r, 0), 0);
	ring_write(&r, "x", 1);
	char *s = ring_tail(&r, 3);
	assert_string_equal(s, "");
	free(s);
	ring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tail_returns_last_lines),
		cmocka_unit_test(partial_last_line_counts),
		cmocka_unit_test(keeps_only_the_newest_bytes),
		cmocka_unit_test(many_small_writes),
		cmocka_unit_test(empty_and_zero_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
