/* SPDX-License-Identifier: MIT */
#include "term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

/*
 * What the signal handler needs to put the terminal back. Only one attach
 * runs per process, so a static is the honest shape for it.
 */
static struct termios saved_termios;
static volatile sig_atomic_t saved_fd = -1;

static const int fatal_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGABRT };
static struct sigaction saved_actions[ARRAY_SIZE(fatal_signals)];

static void restore_terminal(void)
{
	int fd = saved_fd;
	if (fd >= 0)
		tcsetattr(fd, TCSANOW, &saved_termios);
	saved_fd = -1;
}

static void on_fatal_signal(int sig)
{
	/* Everything here is async-signal-safe. */
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

int term_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &saved_termios) < 0)
		return -errno;
	t = saved_termios;
	cfmakeraw(&t);
	/* Handlers first: a signal between the two steps still restores. */
	saved_fd = fd;
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++) {
		struct sigaction sa = { .sa_handler = on_fatal_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(fatal_signals[i], &sa, &saved_actions[i]);
	}
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		int e = errno;
		term_restore();
		return -e;
	}
	return 0;
}

void term_restore(void)
{
	if (saved_fd < 0)
		return;
	restore_terminal();
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		sigaction(fatal_signals[i], &saved_actions[i], NULL);
}

bool term_escape_filter(struct term_escape *e, const char *in, size_t len, char *out,
			size_t *out_len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (e->pending) {
			e->pending = false;
			if (ch == 'q' || ch == 'Q') {
				*out_len = n;
				return true;
			}
			if (ch != e->key)
				out[n++] = (char)e->key;
			out[n++] = (char)ch;
		} else if (e->key && ch == e->key) {
			e->pending = true;
		} else {
			out[n++] = (char)ch;
		}
	}
	*out_len = n;
	return false;
}

/*
 * Pass the user's keys on, watching for the escape. Returns 1 when the
 * user asked to detach.
 */
static int forward_keys(int console_fd, const char *in, size_t len, struct term_escape *esc,
			qk_error **err)
{
	char out[2 * 4096];
	size_t n;
	bool quit = term_escape_filter(esc, in, len, out, &n);
	int r = fd_write_all(console_fd, out, n);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "writing to the console: %s", strerror(-r));
	return quit ? 1 : 0;
}

static int relay(int console_fd, int in_fd, int out_fd, qk_error **err)
{
	struct pollfd pfd[2] = {
		{ .fd = console_fd, .events = POLLIN },
		{ .fd = in_fd, .events = POLLIN },
	};
	struct term_escape esc = { .key = TERM_ESCAPE };
	char chunk[4096];

	for (;;) {
		int r = poll(pfd, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "poll: %s", strerror(errno));
		if (pfd[0].revents) {
			ssize_t n = read(console_fd, chunk, sizeof(chunk));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return TERM_CLOSED;
			r = fd_write_all(out_fd, chunk, (size_t)n);
			if (r < 0)
				return qk_error_set(err, QK_ERR_SYSTEM, -r, "writing to the terminal: %s",
						    strerror(-r));
		}
		if (pfd[1].revents) {
			ssize_t n = read(in_fd, chunk, sizeof(chunk));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n < 0)
				return qk_error_set(err, QK_ERR_SYSTEM, errno, "reading the terminal: %s",
						    strerror(errno));
			if (n == 0) {
				/* Input ended (not a terminal): keep showing the console. */
				pfd[1].fd = -1;
				continue;
			}
			r = forward_keys(console_fd, chunk, (size_t)n, &esc, err);
			if (r != 0)
				return r < 0 ? r : TERM_DETACHED;
		}
	}
}

int term_attach(int console_fd, int in_fd, int out_fd, qk_error **err)
{
	bool raw = isatty(in_fd);
	if (raw) {
		int r = term_raw(in_fd);
		if (r < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, -r, "putting the terminal in raw mode: %s",
					    strerror(-r));
	}
	int r = relay(console_fd, in_fd, out_fd, err);
	if (raw)
		term_restore();
	return r;
}
