/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void grows_past_initial_capacity(void **state)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%d,", i % 10), 0);
	assert_int_equal(b.len, 2000);
	assert_int_equal(strlen(b.data), 2000);
	assert_memory_equal(b.data, "0,1,2,", 6);
	buf_free(&b);
	assert_null(b.data);
}

static void steal_of_empty_is_empty_string(void **state)
{
	struct buf b = BUF_INIT;
	char *s = buf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void append_binary_and_reset(void **state)
{
	struct buf b = BUF_INIT;
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_int_equal(b.data[1], '\0');
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(buf_putc(&b, 'y'), 0);
	assert_string_equal(b.data, "xy");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_past_initial_capacity),
		cmocka_unit_test(steal_of_empty_is_empty_string),
		cmocka_unit_test(append_binary_and_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
