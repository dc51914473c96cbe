/* SPDX-License-Identifier: MIT */
#include <qkit/console.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "console-private.h"
#include "fileio.h"
#include "util.h"

#define DEFAULT_MAX_BUFFER (1u << 20)
/* A line longer than this is passed on in pieces, so one never grows unbounded. */
#define MAX_LINE 4096
/* How many lines an error quotes from the console. */
#define ERROR_TAIL_LINES 10

struct qk_console {
	char *name;
	qk_console_line_fn on_line;
	void *userdata;
	char *log_path;
	int log_fd;
	size_t max;
	int64_t start_ns; /* monotonic; lines are timed from here */

	struct buf line;     /* the line being received, raw */
	double line_seconds; /* when its first byte arrived */

	struct buf pending;  /* not yet consumed by a match */
	uint64_t dropped;
	struct buf history;  /* the most recent output, for the tail */

	uint64_t bytes;
	bool closed;
};

int qk_console_new(qk_console **out, const qk_console_options *opts, qk_error **err)
{
	static const qk_console_options defaults = QK_CONSOLE_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	qk_console *c = calloc(1, sizeof(*c));
	if (!c)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	c->log_fd = -1;
	c->on_line = opts->on_line;
	c->userdata = opts->userdata;
	c->max = opts->max_buffer ? opts->max_buffer : DEFAULT_MAX_BUFFER;
	c->start_ns = monotonic_now_ns();
	if (opts->name && !(c->name = strdup(opts->name))) {
		qk_console_free(c);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	if (opts->log_path) {
		c->log_fd = open(opts->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (c->log_fd < 0) {
			int r = qk_error_set(err, QK_ERR_SYSTEM, errno, "console log %s: %s",
					     opts->log_path, strerror(errno));
			qk_console_free(c);
			return r;
		}
		if (!(c->log_path = strdup(opts->log_path))) {
			qk_console_free(c);
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		}
	}
	*out = c;
	return 0;
}

void qk_console_free(qk_console *c)
{
	if (!c)
		return;
	if (c->log_fd >= 0)
		close(c->log_fd);
	free(c->name);
	free(c->log_path);
	buf_free(&c->line);
	buf_free(&c->pending);
	buf_free(&c->history);
	free(c);
}

void console_make_visible(struct buf *out, const char *s, size_t len)
{
	/* The line ending is not part of the text: serial consoles send CR LF. */
	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
			buf_putc(out, (char)ch);
		} else {
			buf_putc(out, '^');
			buf_putc(out, ch == 0x7f ? '?' : (char)(ch + 0x40));
		}
	}
}

static void emit_line(qk_console *c)
{
	if (c->on_line) {
		struct buf text = BUF_INIT, formatted = BUF_INIT;
		console_make_visible(&text, c->line.data ? c->line.data : "", c->line.len);
		buf_printf(&formatted, "[%8.4fs] %s%s%s", c->line_seconds, c->name ? c->name : "",
			   c->name ? ": " : "", text.data ? text.data : "");
		if (formatted.data)
			c->on_line(formatted.data, text.data ? text.data : "", c->line_seconds,
				   c->userdata);
		buf_free(&text);
		buf_free(&formatted);
	}
	buf_reset(&c->line);
}

/* Keep b at most max bytes, dropping the oldest; returns how many went. */
static size_t trim_front(struct buf *b, size_t max)
{
	if (b->len <= max)
		return 0;
	/* Trim to three quarters so a stream at the limit is not moved per byte. */
	size_t keep = max - max / 4;
	size_t drop = b->len - keep;
	memmove(b->data, b->data + drop, keep);
	b->len = keep;
	b->data[keep] = '\0';
	return drop;
}

static double now_seconds(const qk_console *c)
{
	return (double)(monotonic_now_ns() - c->start_ns) / 1e9;
}

static int write_log(qk_console *c, const char *data, size_t len, qk_error **err)
{
	int r = fd_write_all(c->log_fd, data, len);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "console log %s: %s", c->log_path,
				    strerror(-r));
	return 0;
}

int console_feed_at(qk_console *c, const void *data, size_t len, double seconds,
		    qk_error **err)
{
	const char *p = data;
	int r = 0;

	if (len == 0)
		return 0;
	if (c->log_fd >= 0)
		r = write_log(c, p, len, err);
	c->bytes += len;
	if (buf_append(&c->pending, p, len) < 0 || buf_append(&c->history, p, len) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	c->dropped += trim_front(&c->pending, c->max);
	trim_front(&c->history, c->max);

	for (size_t i = 0; i < len; i++) {
		if (c->line.len == 0)
			c->line_seconds = seconds;
		buf_putc(&c->line, p[i]);
		if (p[i] == '\n' || c->line.len >= MAX_LINE)
			emit_line(c);
	}
	return r;
}

int qk_console_feed(qk_console *c, const void *data, size_t len, qk_error **err)
{
	return console_feed_at(c, data, len, now_seconds(c), err);
}

void qk_console_close(qk_console *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->line.len > 0)
		emit_line(c);
}

bool qk_console_closed(const qk_console *c)
{
	return c->closed;
}

uint64_t qk_console_bytes(const qk_console *c)
{
	return c->bytes;
}

uint64_t qk_console_dropped(const qk_console *c)
{
	return c->dropped;
}

void qk_console_match_clear(qk_console_match *m)
{
	if (!m)
		return;
	free(m->match);
	free(m->before);
	m->match = m->before = NULL;
}

char *qk_console_tail(const qk_console *c, size_t n)
{
	const char *s = c->history.data ? c->history.data : "";
	size_t end = c->history.len;
	struct buf out = BUF_INIT;

	if (end > 0 && s[end - 1] == '\n')
		end--;
	size_t start = end;
	for (size_t lines = 0; start > 0 && lines < n; start--) {
		if (s[start - 1] == '\n' && ++lines == n)
			break;
	}
	if (n == 0)
		start = end;
	for (size_t i = start; i < end;) {
		const char *nl = memchr(s + i, '\n', end - i);
		size_t stop = nl ? (size_t)(nl - s) : end;
		if (out.len > 0)
			buf_putc(&out, '\n');
		console_make_visible(&out, s + i, stop - i);
		i = stop + 1;
	}
	return buf_steal(&out);
}

/* "; its last lines:\n  ..." for errors, or "" when the console was silent. */
static char *tail_for_error(const qk_console *c)
{
	_cleanup_free_ char *tail = qk_console_tail(c, ERROR_TAIL_LINES);
	struct buf out = BUF_INIT;
	if (!tail || !*tail) {
		buf_puts(&out, "; the console printed nothing");
		return buf_steal(&out);
	}
	buf_puts(&out, "; its last lines:");
	for (char *line = tail, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		buf_printf(&out, "\n  %s", line);
	}
	return buf_steal(&out);
}

static int find_substring(qk_console *c, const char *pattern, size_t *so, size_t *eo)
{
	size_t plen = strlen(pattern);
	const char *hit = c->pending.len ? memmem(c->pending.data, c->pending.len, pattern, plen) : NULL;
	if (!hit)
		return 0;
	*so = (size_t)(hit - c->pending.data);
	*eo = *so + plen;
	return 1;
}

static int find_regex(qk_console *c, const char *pattern, size_t *so, size_t *eo, qk_error **err)
{
	regex_t re;
	int r = regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE);
	if (r != 0) {
		char msg[256];
		regerror(r, &re, msg, sizeof(msg));
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "regular expression \"%s\": %s",
				    pattern, msg);
	}
	/*
	 * Only complete lines, while more text may come: a greedy match must
	 * not stop wherever the last chunk happened to end.
	 */
	size_t end = c->pending.len;
	if (!c->closed) {
		while (end > 0 && c->pending.data[end - 1] != '\n')
			end--;
	}
	if (end == 0) {
		regfree(&re);
		return 0;
	}
	regmatch_t pm[1] = { { .rm_so = 0, .rm_eo = (regoff_t)end } };
	r = regexec(&re, c->pending.data, 1, pm, REG_STARTEND);
	regfree(&re);
	if (r != 0)
		return 0;
	*so = (size_t)pm[0].rm_so;
	*eo = (size_t)pm[0].rm_eo;
	return 1;
}

int qk_console_find(qk_console *c, const char *pattern, qk_console_pattern kind,
		    qk_console_match *m, qk_error **err)
{
	size_t so = 0, eo = 0;
	int r;

	if (!pattern || !*pattern)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "expect: the pattern is empty");
	if (kind == QK_CONSOLE_REGEX)
		r = find_regex(c, pattern, &so, &eo, err);
	else
		r = find_substring(c, pattern, &so, &eo);
	if (r < 0)
		return r;
	if (r == 0) {
		if (!c->closed)
			return 0;
		_cleanup_free_ char *tail = tail_for_error(c);
		return qk_error_set(err, QK_ERR_EXITED, EPIPE,
				    "the console closed before \"%s\" appeared%s", pattern,
				    tail ? tail : "");
	}
	if (m) {
		m->before = strndup(c->pending.data, so);
		m->match = strndup(c->pending.data + so, eo - so);
		if (!m->before || !m->match) {
			qk_console_match_clear(m);
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		}
	}
	memmove(c->pending.data, c->pending.data + eo, c->pending.len - eo);
	c->pending.len -= eo;
	c->pending.data[c->pending.len] = '\0';
	return 1;
}

int console_timeout_error(qk_console *c, const char *pattern, int timeout_ms, qk_error **err)
{
	_cleanup_free_ char *tail = tail_for_error(c);
	return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
			    "timed out after %.1f s waiting for \"%s\" on the console%s",
			    timeout_ms / 1000.0, pattern, tail ? tail : "");
}

int qk_console_expect_fd(qk_console *c, int fd, const char *pattern, qk_console_pattern kind,
			 int timeout_ms, qk_console_match *m, qk_error **err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : monotonic_now_ms() + timeout_ms;
	char chunk[65536];

	for (;;) {
		int r = qk_console_find(c, pattern, kind, m, err);
		if (r != 0)
			return r;
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - monotonic_now_ms();
			if (left <= 0)
				return console_timeout_error(c, pattern, timeout_ms, err);
			wait = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "poll: %s", strerror(errno));
		if (r == 0)
			continue;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno != ECONNRESET)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "reading the console: %s",
					    strerror(errno));
		if (n <= 0) {
			qk_console_close(c);
			continue;
		}
		qk_console_feed(c, chunk, (size_t)n, NULL);
	}
}

int qk_console_send(int fd, const char *text, qk_error **err)
{
	int r = fd_write_all(fd, text, strlen(text));
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "writing to the console: %s", strerror(-r));
	return 0;
}
