/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdio.h>
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

static void quoted_with(int (*quote)(struct buf *, const char *), const char *in,
			const char *want)
{
	struct buf b = BUF_INIT;
	const char prefix[] = "printf '%s\\n' ";
	assert_int_equal(buf_puts(&b, prefix), 0);
	assert_int_equal(quote(&b, in), 0);
	assert_string_equal(b.data + strlen(prefix), want);

	/* What the shell makes of it is the original string, as one word. */
	assert_int_equal(buf_puts(&b, " | od -An -c"), 0);
	FILE *p = popen(b.data, "r");
	assert_non_null(p);
	char got[4096] = "";
	size_t n = fread(got, 1, sizeof(got) - 1, p);
	assert_int_equal(pclose(p), 0);
	got[n] = '\0';

	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "printf '%%s\\n' \"$X\" | od -An -c");
	setenv("X", in, 1);
	p = popen(cmd, "r");
	assert_non_null(p);
	char want_od[4096] = "";
	n = fread(want_od, 1, sizeof(want_od) - 1, p);
	assert_int_equal(pclose(p), 0);
	want_od[n] = '\0';
	assert_string_equal(got, want_od);
	buf_free(&b);
}

static void quoted(const char *in, const char *want)
{
	quoted_with(buf_put_shell_word, in, want);
}

static void shell_quoting(void **state)
{
	quoted("plain/path-1.2_x:y,z=w@h%+", "plain/path-1.2_x:y,z=w@h%+");
	quoted("", "''");
	quoted("two words", "'two words'");
	quoted("it's", "'it'\\''s'");
	quoted("$HOME `id` \\ \"x\" *?", "'$HOME `id` \\ \"x\" *?'");
	quoted("a\nb", "'a\nb'");
	quoted("''", "''\\'''\\'''");

	/* Always quoted, even where it need not be. */
	quoted_with(buf_put_shell_quoted, "plain", "'plain'");
	quoted_with(buf_put_shell_quoted, "", "''");
	quoted_with(buf_put_shell_quoted, "it's", "'it'\\''s'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_past_initial_capacity),
		cmocka_unit_test(steal_of_empty_is_empty_string),
		cmocka_unit_test(append_binary_and_reset),
		cmocka_unit_test(shell_quoting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
