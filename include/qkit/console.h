/* SPDX-License-Identifier: MIT */
/*
 * A guest's serial console as text: lines with timestamps for logs, the raw
 * stream to a file, and expect() to wait for what the guest prints.
 *
 * A qk_console does not read anything itself. Whoever drains the console
 * (a supervisor, the harness, a test) hands it each chunk of bytes with
 * qk_console_feed() and calls qk_console_close() when the stream ends. The
 * console then:
 *
 *  - writes the bytes unchanged to the log file, if there is one;
 *  - splits them into lines and hands each to the line callback as
 *    "[  1.2345s] vm0: text", the time counted from qk_console_new() to
 *    the line's first byte, control characters made visible ("^[", "^M");
 *  - keeps the text not yet consumed by a match, for expect, and the most
 *    recent output, for qk_console_tail(). Both are bounded (max_buffer):
 *    a guest that prints forever costs memory once, not without end.
 *
 * Matching: qk_console_find() looks for a substring or a POSIX extended
 * regular expression in the text that arrived since the previous match.
 * On a match it returns the match and the text before it and consumes
 * both, so consecutive expects walk forward through the output. Regular
 * expressions are compiled with REG_NEWLINE ("^" and "$" match at line
 * boundaries) and see only complete lines while the stream is open, so a
 * greedy "[^ ]+" never stops where a chunk happened to end. To wait for a
 * prompt that has no newline yet ("login: "), use a substring.
 */
#ifndef QKIT_CONSOLE_H
#define QKIT_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_console qk_console;

/*
 * One complete line. formatted is "[  1.2345s] NAME: text" ("[  1.2345s]
 * text" without a name); text is the line alone with control characters
 * made visible and the line ending removed; seconds is its timestamp.
 * Both strings are borrowed for the call.
 */
typedef void (*qk_console_line_fn)(const char *formatted, const char *text, double seconds,
				   void *userdata);

typedef struct qk_console_options {
	unsigned version;          /* QK_CONSOLE_OPTIONS_VERSION */
	const char *name;          /* the prefix, e.g. "vm0"; NULL for none */
	qk_console_line_fn on_line; /* NULL: no line callback */
	void *userdata;
	/* Append the raw stream to this file (created 0644 if missing); NULL: none. */
	const char *log_path;
	/* Bytes kept for matching and, separately, for the tail. 0: 1 MiB. */
	size_t max_buffer;
} qk_console_options;

#define QK_CONSOLE_OPTIONS_VERSION 1
#define QK_CONSOLE_OPTIONS_INIT { QK_CONSOLE_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0 }

/* opts may be NULL for the defaults. Fails if the log file cannot be opened. */
int qk_console_new(qk_console **out, const qk_console_options *opts, qk_error **err);
void qk_console_free(qk_console *c);

/*
 * Hand the console the next bytes of the stream. Fails only when the log
 * file cannot be written (the bytes are processed all the same).
 */
int qk_console_feed(qk_console *c, const void *data, size_t len, qk_error **err);

/*
 * The stream has ended (QEMU exited, the socket closed). A partial last
 * line is passed to the line callback; from now on a failed match is an
 * error instead of "not yet". Idempotent.
 */
void qk_console_close(qk_console *c);
bool qk_console_closed(const qk_console *c);

/* How many bytes the stream has carried so far. */
uint64_t qk_console_bytes(const qk_console *c);

/* How many not-yet-matched bytes were dropped because max_buffer was reached. */
uint64_t qk_console_dropped(const qk_console *c);

typedef enum qk_console_pattern {
	QK_CONSOLE_SUBSTRING = 0, /* the pattern, byte for byte */
	QK_CONSOLE_REGEX,         /* a POSIX extended regular expression */
} qk_console_pattern;

/* What a match found. Strings are malloc'd; release with qk_console_match_clear(). */
typedef struct qk_console_match {
	char *match;  /* the text that matched */
	char *before; /* the text between the previous match (or the start) and this one */
} qk_console_match;

void qk_console_match_clear(qk_console_match *m);

/*
 * Look for pattern in the text not yet consumed. Returns 1 and fills *m
 * (if not NULL) when found, consuming through the end of the match; 0
 * when not found yet; -EINVAL (QK_ERR_INVALID) for a bad regular
 * expression; -EPIPE (QK_ERR_EXITED, "the console closed before ... appeared",
 * with the last lines) when not found and the stream has ended.
 */
int qk_console_find(qk_console *c, const char *pattern, qk_console_pattern kind,
		    qk_console_match *m, qk_error **err);

/*
 * Read fd (a console socket or pipe, blocking or not), feeding what
 * arrives, until pattern appears (1), the stream ends (-EPIPE at once, as
 * qk_console_find()), or timeout_ms passes (-ETIMEDOUT, QK_ERR_TIMEOUT;
 * < 0 waits forever). The error names the pattern and quotes the last lines.
 */
int qk_console_expect_fd(qk_console *c, int fd, const char *pattern, qk_console_pattern kind,
			 int timeout_ms, qk_console_match *m, qk_error **err);

/* Write all of text to a console fd (a guest's input). */
int qk_console_send(int fd, const char *text, qk_error **err);

/*
 * The last n lines the console saw (a partial last line included), with
 * control characters made visible, joined by newlines; "" before any
 * output. Malloc'd; NULL only when out of memory.
 */
char *qk_console_tail(const qk_console *c, size_t n);

#ifdef __cplusplus
}
#endif
#endif
