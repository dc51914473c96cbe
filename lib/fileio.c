/* SPDX-License-Identifier: MIT */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return negative_errno();
			continue;
		}
		if (n < 0)
			return negative_errno();
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fd_read_all(int fd, size_t limit, struct buf *out)
{
	for (;;) {
		/* Read one byte past the limit, to tell "exactly limit" from "more". */
		size_t room = out->len < limit ? limit - out->len : 0;
		size_t want = room < 65536 ? room + 1 : 65536;
		int r = buf_reserve(out, want);
		if (r < 0)
			return r;
		ssize_t n = read(fd, out->data + out->len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			return 0;
		if ((size_t)n > room) {
			out->len += room;
			out->data[out->len] = '\0';
			return -EFBIG;
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
}

int file_read_all(const char *path, size_t limit, uint8_t **out, size_t *len, qk_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return qk_error_set(err, errno == ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM, errno,
				    "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > limit)
		return qk_error_set(err, QK_ERR_INVALID, EFBIG, "%s: larger than %zu bytes", path, limit);

	struct buf b = BUF_INIT;
	/* One allocation for the whole file; a file that grew meanwhile still fits the limit. */
	int r = buf_reserve(&b, (size_t)st.st_size);
	if (r == 0)
		r = fd_read_all(fd, limit, &b);
	if (r == 0 && !b.data)
		r = buf_reserve(&b, 0);
	if (r < 0) {
		buf_free(&b);
		if (r == -EFBIG)
			return qk_error_set(err, QK_ERR_INVALID, EFBIG, "%s: larger than %zu bytes", path,
					    limit);
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "%s: cannot read: %s", path, strerror(-r));
	}
	b.data[b.len] = '\0';
	*len = b.len;
	*out = (uint8_t *)buf_steal(&b);
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      qk_error **err)
{
	struct buf tmp = BUF_INIT;
	if (buf_printf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	_cleanup_free_ char *tmp_path = buf_steal(&tmp);
	_cleanup_close_ int fd = mkostemp(tmp_path, O_CLOEXEC);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot create a temporary file: %s",
				    path, strerror(errno));

	mode_t mask = umask(0);
	umask(mask);
	int r = fd_write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode & ~mask) < 0)
		r = negative_errno();
	if (r == 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r == 0 && rename(tmp_path, path) < 0)
		r = negative_errno();
	if (r < 0) {
		unlink(tmp_path);
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "%s: cannot write: %s", path, strerror(-r));
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode, char **failed)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;
			if (failed)
				*failed = TAKE_PTR(p);
			return -e;
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	/* EEXIST also means "a file is there": the result must be a directory. */
	struct stat st;
	int e = stat(p, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (e) {
		if (failed)
			*failed = TAKE_PTR(p);
		return -e;
	}
	return 0;
}
