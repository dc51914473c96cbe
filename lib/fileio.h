/* SPDX-License-Identifier: MIT */
/*
 * The one home of the small I/O loops every module needs: write a whole
 * buffer, read to end of file, read a whole file, write a file atomically,
 * mkdir -p. Each retries EINTR, so no caller hand-rolls that loop again.
 */
#ifndef QKIT_LIB_FILEIO_H
#define QKIT_LIB_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <qkit/error.h>

#include "buf.h"

/*
 * Write all len bytes to fd. EINTR is retried; on a non-blocking fd EAGAIN
 * waits (poll) until fd takes more. Returns 0 or -errno of the failed
 * write (-EPIPE when the reader is gone, if SIGPIPE is ignored).
 */
int fd_write_all(int fd, const void *data, size_t len);

/*
 * Append what fd has up to end of file to out, at most limit bytes in all
 * (out->len counts). Returns 0, -EFBIG when there is more than limit,
 * -ENOMEM, or -errno of the failed read; out keeps what was read.
 */
int fd_read_all(int fd, size_t limit, struct buf *out);

/*
 * Read the regular file at path (at most limit bytes) into a malloc'ed
 * buffer; errors name the path. *out is NUL-terminated past *len, so text
 * files can be used as strings.
 */
int file_read_all(const char *path, size_t limit, uint8_t **out, size_t *len, qk_error **err);

/*
 * Write data to path atomically: a temporary file in the same directory,
 * written, flushed to disk, then renamed over path. mode is the new file's
 * mode (before umask). A reader sees the old file or the new, never half.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      qk_error **err);

/*
 * mkdir -p: create path and its missing parents, each new one with mode.
 * Existing directories are fine. On failure returns -errno and, if failed
 * is not NULL, stores in it a malloc'ed copy of the component that failed.
 */
int mkdir_p(const char *path, mode_t mode, char **failed);

#endif
