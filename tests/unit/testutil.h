/* SPDX-License-Identifier: MIT */
/*
 * What the white-box unit tests share: a scratch directory made by the
 * group setup and removed by the group teardown, whole-file read and
 * write that fail the test instead of returning errors, and little-endian
 * writers for building file headers. Include after <cmocka.h>.
 */
#ifndef QKIT_TESTS_TESTUTIL_H
#define QKIT_TESTS_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

/* The group's scratch directory: /tmp/qkit-PROGRAM.XXXXXX. */
static inline char *test_dir(void)
{
	static char dir[64];
	return dir;
}

static inline int test_dir_setup(void **state)
{
	(void)state;
	extern char *program_invocation_short_name;
	snprintf(test_dir(), 64, "/tmp/qkit-%s.XXXXXX", program_invocation_short_name);
	return mkdtemp(test_dir()) ? 0 : -1;
}

static inline void test_rm_rf(const char *dir)
{
	char *cmd;
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static inline int test_dir_teardown(void **state)
{
	(void)state;
	test_rm_rf(test_dir());
	return 0;
}

/* A fresh directory of its own (for tests that want one aside). */
static inline char *test_tmpdir(void)
{
	char *d = strdup("/tmp/qkit-test.XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

/* dir/rel, malloc'ed. */
static inline char *test_path(const char *dir, const char *rel)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
	return p;
}

/* Write data to path, creating its parent directories. */
static inline void test_write_file(const char *path, const void *data, size_t len)
{
	char *parent = strdup(path), *failed = NULL;
	assert_non_null(parent);
	*strrchr(parent, '/') = '\0';
	int r = mkdir_p(parent, 0755, &failed);
	if (r < 0)
		fail_msg("mkdir %s: %s", failed ? failed : parent, strerror(-r));
	free(parent);
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The whole file at path, malloc'ed and NUL-terminated; *len gets its size. */
static inline uint8_t *test_read_file(const char *path, size_t *len)
{
	uint8_t *d = NULL;
	size_t n = 0;
	qk_error *err = NULL;
	if (file_read_all(path, 1u << 30, &d, &n, &err) < 0)
		fail_msg("%s", qk_error_message(err));
	if (len)
		*len = n;
	return d;
}

/* Little-endian integers into a byte buffer, to build file headers (ELF, bzImage). */
static inline void test_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static inline void test_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static inline void test_put_le64(uint8_t *p, uint64_t v)
{
	test_put_le32(p, (uint32_t)v);
	test_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline size_t test_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

#endif
