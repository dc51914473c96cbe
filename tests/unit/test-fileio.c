/* SPDX-License-Identifier: MIT */
/* fileio.h (the I/O loops) and util.h's clock and byte-order readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

#include "testutil.h"

/* A non-blocking pipe whose reader is slow: every byte arrives, in order. */
static void write_all_waits_on_a_full_nonblocking_pipe(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	size_t len = 1 << 20; /* far more than a pipe holds */
	uint8_t *data = malloc(len);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		usleep(100 * 1000); /* the writer fills the pipe and meets EAGAIN */
		struct buf got = BUF_INIT;
		int r = fd_read_all(p[0], len, &got);
		_exit(r == 0 && got.len == len && memcmp(got.data, data, len) == 0 ? 0 : 1);
	}
	close(p[0]);
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fd_write_all(p[1], data, len), 0);
	close(p[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(data);
}

static void write_all_reports_a_closed_reader(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(fd_write_all(p[1], "x", 1), -EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(p[1]);
	assert_int_equal(fd_write_all(-1, "x", 1), -EBADF);
}

static int pipe_with(const char *text)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fd_write_all(p[1], text, strlen(text)), 0);
	close(p[1]);
	return p[0];
}

static void read_all_limit(void **state)
{
	/* Exactly the limit is fine; one byte more is -EFBIG with the limit kept. */
	struct buf b = BUF_INIT;
	int fd = pipe_with("0123456789");
	assert_int_equal(fd_read_all(fd, 10, &b), 0);
	close(fd);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	buf_free(&b);

	fd = pipe_with("0123456789x");
	assert_int_equal(fd_read_all(fd, 10, &b), -EFBIG);
	close(fd);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");

	/* It appends: what out holds counts toward the limit. */
	fd = pipe_with("ab");
	assert_int_equal(fd_read_all(fd, 11, &b), -EFBIG);
	close(fd);
	assert_string_equal(b.data, "0123456789a");
	buf_free(&b);

	fd = pipe_with("");
	assert_int_equal(fd_read_all(fd, 0, &b), 0);
	close(fd);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	assert_int_equal(fd_read_all(-1, 10, &b), -EBADF);
	buf_free(&b);
}

static void read_file(void **state)
{
	_cleanup_free_ char *dir = test_tmpdir();
	_cleanup_free_ char *path = test_path(dir, "f");
	test_write_file(path, "hello\n", 6);

	uint8_t *d = NULL;
	size_t len = 0;
	qk_error *err = NULL;
	assert_int_equal(file_read_all(path, 6, &d, &len, &err), 0);
	assert_int_equal(len, 6);
	assert_string_equal((char *)d, "hello\n"); /* NUL-terminated */
	free(d);

	assert_int_equal(file_read_all(path, 5, &d, &len, &err), -EFBIG);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_INVALID);
	assert_non_null(strstr(qk_error_message(err), path));
	assert_non_null(strstr(qk_error_message(err), "larger than 5 bytes"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(file_read_all(dir, 100, &d, &len, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "not a regular file"));
	qk_error_free(err);
	err = NULL;

	_cleanup_free_ char *missing = test_path(dir, "missing");
	assert_int_equal(file_read_all(missing, 100, &d, &len, &err), -ENOENT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_NOT_FOUND);
	qk_error_free(err);
	err = NULL;

	_cleanup_free_ char *empty = test_path(dir, "empty");
	test_write_file(empty, "", 0);
	assert_int_equal(file_read_all(empty, 100, &d, &len, &err), 0);
	assert_int_equal(len, 0);
	assert_non_null(d);
	free(d);
	test_rm_rf(dir);
}

static void write_atomic(void **state)
{
	_cleanup_free_ char *dir = test_tmpdir();
	_cleanup_free_ char *path = test_path(dir, "out");
	test_write_file(path, "old", 3);
	qk_error *err = NULL;
	mode_t mask = umask(022);
	assert_int_equal(file_write_atomic(path, "new content", 11, 0640, &err), 0);
	umask(mask);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	uint8_t *d = NULL;
	size_t len;
	assert_int_equal(file_read_all(path, 100, &d, &len, NULL), 0);
	assert_string_equal((char *)d, "new content");
	free(d);

	/* A directory that is not there: an error naming the path, no temp file left. */
	_cleanup_free_ char *bad = test_path(dir, "no/such/file");
	assert_int_equal(file_write_atomic(bad, "x", 1, 0644, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), bad));
	qk_error_free(err);
	assert_int_equal(test_count_entries(dir), 1);
	test_rm_rf(dir);
}

static void make_parents(void **state)
{
	_cleanup_free_ char *dir = test_tmpdir();
	_cleanup_free_ char *deep = test_path(dir, "a/b//c/");
	assert_int_equal(mkdir_p(deep, 0700, NULL), 0);
	struct stat st;
	_cleanup_free_ char *c = test_path(dir, "a/b/c");
	assert_int_equal(stat(c, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(mkdir_p(c, 0700, NULL), 0); /* already there */

	/* A file in the way is named. */
	_cleanup_free_ char *file = test_path(dir, "a/file");
	test_write_file(file, "", 0);
	_cleanup_free_ char *under = test_path(dir, "a/file/x/y");
	char *failed = NULL;
	assert_int_equal(mkdir_p(under, 0700, &failed), -ENOTDIR);
	_cleanup_free_ char *want = test_path(dir, "a/file/x");
	assert_string_equal(failed, want);
	free(failed);
	failed = NULL;
	assert_int_equal(mkdir_p(file, 0700, &failed), -ENOTDIR);
	assert_string_equal(failed, file);
	free(failed);
	test_rm_rf(dir);
}

static void clock_and_byte_order(void **state)
{
	int64_t a = monotonic_now_ms();
	usleep(20 * 1000);
	int64_t b = monotonic_now_ms();
	assert_true(b - a >= 20 && b - a < 5000);
	assert_true(monotonic_now_ns() / 1000000 >= b);

	static const uint8_t d[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88 };
	assert_int_equal(get_le16(d), 0x0201);
	assert_int_equal(get_le32(d), 0x04030201);
	assert_true(get_le64(d) == 0x8807060504030201ull);
	assert_int_equal(get_be32(d + 4), 0x05060788);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_all_waits_on_a_full_nonblocking_pipe),
		cmocka_unit_test(write_all_reports_a_closed_reader),
		cmocka_unit_test(read_all_limit),
		cmocka_unit_test(read_file),
		cmocka_unit_test(write_atomic),
		cmocka_unit_test(make_parents),
		cmocka_unit_test(clock_and_byte_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
