/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/console.h>

#include "buf.h"
#include "console-private.h"

struct lines {
	struct buf all; /* formatted lines, each followed by '\n' */
	int count;
};

static void collect(const char *formatted, const char *text, double seconds, void *userdata)
{
	struct lines *l = userdata;
	buf_printf(&l->all, "%s\n", formatted);
	l->count++;
}

static qk_console *new_console(struct lines *l, const char *name, size_t max)
{
	qk_console_options o = QK_CONSOLE_OPTIONS_INIT;
	o.name = name;
	o.on_line = collect;
	o.userdata = l;
	o.max_buffer = max;
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, &o, NULL), 0);
	return c;
}

static void lines_get_timestamp_and_prefix(void **state)
{
	struct lines l = { BUF_INIT, 0 };
	qk_console *c = new_console(&l, "vm0", 0);
	assert_int_equal(console_feed_at(c, "Linux version 6.1\r\nsec", 22, 1.2345, NULL), 0);
	/* The second line's time is when its first byte came, not its last. */
	assert_int_equal(console_feed_at(c, "ond\r\n", 5, 12.5, NULL), 0);
	assert_string_equal(l.all.data, "[  1.2345s] vm0: Linux version 6.1\n"
					"[  1.2345s] vm0: second\n");
	assert_int_equal(console_feed_at(c, "third\n", 6, 100.25, NULL), 0);
	assert_int_equal(l.count, 3);
	assert_non_null(strstr(l.all.data, "[100.2500s] vm0: third\n"));
	qk_console_free(c);
	buf_free(&l.all);
}

static void control_characters_are_visible(void **state)
{
	struct lines l = { BUF_INIT, 0 };
	qk_console *c = new_console(&l, NULL, 0);
	const char in[] = "\x1b[0mok\tx\ry\x7f\x01z\r\n";
	console_feed_at(c, in, sizeof(in) - 1, 0.5, NULL);
	assert_string_equal(l.all.data, "[  0.5000s] ^[[0mok\tx^My^?^Az\n");
	qk_console_free(c);
	buf_free(&l.all);
}

static void partial_line_is_flushed_on_close(void **state)
{
	struct lines l = { BUF_INIT, 0 };
	qk_console *c = new_console(&l, "g", 0);
	console_feed_at(c, "login: ", 7, 2.0, NULL);
	assert_int_equal(l.count, 0);
	qk_console_close(c);
	qk_console_close(c);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.all.data, "[  2.0000s] g: login: \n");
	assert_true(qk_console_closed(c));
	qk_console_free(c);
	buf_free(&l.all);
}

static void long_line_is_split(void **state)
{
	struct lines l = { BUF_INIT, 0 };
	qk_console *c = new_console(&l, NULL, 0);
	char big[10000];
	memset(big, 'a', sizeof(big));
	console_feed_at(c, big, sizeof(big), 0, NULL);
	assert_int_equal(l.count, 2); /* two full pieces of 4096, the rest pending */
	qk_console_close(c);
	assert_int_equal(l.count, 3);
	qk_console_free(c);
	buf_free(&l.all);
}

static void raw_stream_goes_to_log_file(void **state)
{
	char path[] = "/tmp/qkit-test-console-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	qk_console_options o = QK_CONSOLE_OPTIONS_INIT;
	o.log_path = path;
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, &o, NULL), 0);
	const char in[] = "raw\x1b[1m\r\nbytes";
	assert_int_equal(qk_console_feed(c, in, sizeof(in) - 1, NULL), 0);
	qk_console_free(c);
	char got[64] = { 0 };
	assert_int_equal(read(fd, got, sizeof(got)), sizeof(in) - 1);
	assert_memory_equal(got, in, sizeof(in) - 1);
	close(fd);
	unlink(path);
}

static void log_file_that_cannot_open_names_path(void **state)
{
	qk_console_options o = QK_CONSOLE_OPTIONS_INIT;
	o.log_path = "/nonexistent-dir/console.log";
	qk_console *c = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_console_new(&c, &o, &err), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(qk_error_message(err), "/nonexistent-dir/console.log"));
	qk_error_free(err);
}

static void substring_returns_match_and_text_before(void **state)
{
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	qk_console_match m = { 0 };
	assert_int_equal(qk_console_find(c, "READY", QK_CONSOLE_SUBSTRING, &m, NULL), 0);
	qk_console_feed(c, "booting\nQKIT-GUEST-RE", 21, NULL);
	assert_int_equal(qk_console_find(c, "READY", QK_CONSOLE_SUBSTRING, &m, NULL), 0);
	qk_console_feed(c, "ADY 6.1\nREADY again\n", 20, NULL);
	assert_int_equal(qk_console_find(c, "READY", QK_CONSOLE_SUBSTRING, &m, NULL), 1);
	assert_string_equal(m.match, "READY");
	assert_string_equal(m.before, "booting\nQKIT-GUEST-");
	qk_console_match_clear(&m);
	/* Matching consumed the text, so the next expect finds the next one. */
	assert_int_equal(qk_console_find(c, "READY", QK_CONSOLE_SUBSTRING, &m, NULL), 1);
	assert_string_equal(m.before, " 6.1\n");
	qk_console_match_clear(&m);
	assert_int_equal(qk_console_find(c, "READY", QK_CONSOLE_SUBSTRING, &m, NULL), 0);
	qk_console_free(c);
}

static void regex_matches_lines(void **state)
{
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	qk_console_match m = { 0 };
	qk_console_feed(c, "x\nQKIT-GUEST-READY 6.1.0-56-amd6", 32, NULL);
	/* A greedy match must not stop where the text arrived so far ends. */
	assert_int_equal(qk_console_find(c, "^QKIT-GUEST-READY [^ \r]+", QK_CONSOLE_REGEX, &m, NULL),
			 0);
	qk_console_feed(c, "4\r\nrest", 7, NULL);
	assert_int_equal(qk_console_find(c, "^QKIT-GUEST-READY [^ \r]+", QK_CONSOLE_REGEX, &m, NULL),
			 1);
	assert_string_equal(m.match, "QKIT-GUEST-READY 6.1.0-56-amd64");
	assert_string_equal(m.before, "x\n");
	qk_console_match_clear(&m);
	/* "rest" is no complete line yet... */
	assert_int_equal(qk_console_find(c, "^rest$", QK_CONSOLE_REGEX, &m, NULL), 0);
	/* ...until the stream ends. */
	qk_console_close(c);
	assert_int_equal(qk_console_find(c, "^rest$", QK_CONSOLE_REGEX, &m, NULL), 1);
	qk_console_match_clear(&m);
	qk_console_free(c);
}

static void bad_regex_is_an_error(void **state)
{
	qk_console *c = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	assert_int_equal(qk_console_find(c, "(unclosed", QK_CONSOLE_REGEX, NULL, &err), -EINVAL);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_INVALID);
	assert_non_null(strstr(qk_error_message(err), "\"(unclosed\""));
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_console_find(c, "", QK_CONSOLE_SUBSTRING, NULL, &err), -EINVAL);
	qk_error_free(err);
	qk_console_free(c);
}

static void closed_stream_fails_at_once_with_tail(void **state)
{
	qk_console *c = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	qk_console_feed(c, "one\ntwo\nKernel panic\n", 21, NULL);
	qk_console_close(c);
	assert_int_equal(qk_console_find(c, "login:", QK_CONSOLE_SUBSTRING, NULL, &err), -EPIPE);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	assert_string_equal(qk_error_message(err),
			    "the console closed before \"login:\" appeared; its last lines:\n"
			    "  one\n  two\n  Kernel panic");
	qk_error_free(err);
	/* What did arrive can still be matched after the end. */
	assert_int_equal(qk_console_find(c, "panic$", QK_CONSOLE_REGEX, NULL, NULL), 1);
	qk_console_free(c);
}

static void buffer_is_bounded(void **state)
{
	qk_console *c = NULL;
	qk_console_options o = QK_CONSOLE_OPTIONS_INIT;
	o.max_buffer = 1000;
	assert_int_equal(qk_console_new(&c, &o, NULL), 0);
	char line[100];
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < 1000; i++)
		qk_console_feed(c, line, sizeof(line), NULL);
	qk_console_feed(c, "needle\n", 7, NULL);
	assert_int_equal(qk_console_bytes(c), 100007);
	assert_true(qk_console_dropped(c) > 99000);
	qk_console_match m = { 0 };
	assert_int_equal(qk_console_find(c, "needle", QK_CONSOLE_SUBSTRING, &m, NULL), 1);
	assert_true(strlen(m.before) <= 1000);
	qk_console_match_clear(&m);
	qk_console_free(c);
}

static void tail_gives_last_lines(void **state)
{
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	char *t = qk_console_tail(c, 3);
	assert_string_equal(t, "");
	free(t);
	const char in[] = "a\r\nb\r\nc\x1b\r\nd\r\npartial";
	qk_console_feed(c, in, sizeof(in) - 1, NULL);
	t = qk_console_tail(c, 3);
	assert_string_equal(t, "c^[\nd\npartial");
	free(t);
	t = qk_console_tail(c, 100);
	assert_string_equal(t, "a\nb\nc^[\nd\npartial");
	free(t);
	qk_console_free(c);
}

static void expect_fd_reads_until_match(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	qk_console *c = NULL;
	assert_int_equal(qk_console_new(&c, NULL, NULL), 0);
	assert_int_equal(qk_console_send(sv[1], "boot\nlogin: ", NULL), 0);
	qk_console_match m = { 0 };
	assert_int_equal(qk_console_expect_fd(c, sv[0], "login: ", QK_CONSOLE_SUBSTRING, 5000, &m,
					      NULL), 1);
	assert_string_equal(m.before, "boot\n");
	qk_console_match_clear(&m);

	/* Nothing more arrives: a timeout naming the pattern and quoting the console. */
	qk_error *err = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(qk_console_expect_fd(c, sv[0], "# ", QK_CONSOLE_SUBSTRING, 200, NULL, &err),
			 -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 190);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_TIMEOUT);
	assert_string_equal(qk_error_message(err),
			    "timed out after 0.2 s waiting for \"# \" on the console; its last lines:\n"
			    "  boot\n  login: ");
	qk_error_free(err);
	err = NULL;

	/* The peer goes away: the error comes at once, not after the timeout. */
	close(sv[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(qk_console_expect_fd(c, sv[0], "# ", QK_CONSOLE_SUBSTRING, 10000, NULL,
					      &err), -EPIPE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	qk_error_free(err);
	close(sv[0]);
	qk_console_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_get_timestamp_and_prefix),
		cmocka_unit_test(control_characters_are_visible),
		cmocka_unit_test(partial_line_is_flushed_on_close),
		cmocka_unit_test(long_line_is_split),
		cmocka_unit_test(raw_stream_goes_to_log_file),
		cmocka_unit_test(log_file_that_cannot_open_names_path),
		cmocka_unit_test(substring_returns_match_and_text_before),
		cmocka_unit_test(regex_matches_lines),
		cmocka_unit_test(bad_regex_is_an_error),
		cmocka_unit_test(closed_stream_fails_at_once_with_tail),
		cmocka_unit_test(buffer_is_bounded),
		cmocka_unit_test(tail_gives_last_lines),
		cmocka_unit_test(expect_fd_reads_until_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
