/* SPDX-License-Identifier: MIT */
/* Internals of the console module shared with the harness and the tests. */
#ifndef QKIT_LIB_CONSOLE_PRIVATE_H
#define QKIT_LIB_CONSOLE_PRIVATE_H

#include <qkit/console.h>

#include "buf.h"

/* qk_console_feed() with the timestamp given (seconds since the start). */
int console_feed_at(qk_console *c, const void *data, size_t len, double seconds,
		    qk_error **err);

/* Append s to out with control characters as ^X and the line ending dropped. */
void console_make_visible(struct buf *out, const char *s, size_t len);

/* The error expect gives when timeout_ms passed without pattern appearing. */
int console_timeout_error(qk_console *c, const char *pattern, int timeout_ms, qk_error **err);

#endif
