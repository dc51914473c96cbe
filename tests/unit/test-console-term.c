/* SPDX-License-Identifier: MIT */
/*
 * Interactive attach on a real pseudo-terminal: keys reach the console,
 * the console reaches the terminal, Ctrl-] q detaches, and the terminal's
 * settings come back after a detach, a closed console, and a fatal signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "term.h"

struct session {
	int master, slave; /* the pty; the child attaches to the slave */
	int console;       /* our end of the child's console socket */
	pid_t child;
};

static void start(struct session *s)
{
	s->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s->master >= 0);
	assert_int_equal(grantpt(s->master), 0);
	assert_int_equal(unlockpt(s->master), 0);
	s->slave = open(ptsname(s->master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s->slave >= 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->child = fork();
	assert_true(s->child >= 0);
	if (s->child == 0) {
		close(sv[0]);
		int r = term_attach(sv[1], s->slave, s->slave, NULL);
		_exit(r == TERM_DETACHED ? 10 : r == TERM_CLOSED ? 11 : 12);
	}
	close(sv[1]);
	s->console = sv[0];
}

static bool is_raw(int fd)
{
	struct termios t;
	assert_int_equal(tcgetattr(fd, &t), 0);
	return !(t.c_lflag & (ICANON | ECHO | ISIG));
}

static bool is_cooked(int fd)
{
	struct termios t;
	assert_int_equal(tcgetattr(fd, &t), 0);
	return (t.c_lflag & ICANON) && (t.c_lflag & ECHO) && (t.c_lflag & ISIG);
}

static void wait_raw(struct session *s)
{
	for (int i = 0; i < 500 && !is_raw(s->slave); i++)
		usleep(10000);
	assert_true(is_raw(s->slave));
}

/* Read from fd until want has arrived (or 5 s pass). */
static void expect_bytes(int fd, const char *want)
{
	char got[256] = { 0 };
	size_t len = 0;
	while (len < strlen(want)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t n = read(fd, got + len, sizeof(got) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	assert_string_equal(got, want);
}

static int finish(struct session *s)
{
	int status;
	assert_int_equal(waitpid(s->child, &status, 0), s->child);
	close(s->console);
	return status;
}

static void cleanup(struct session *s)
{
	close(s->slave);
	close(s->master);
}

static void keys_and_output_are_relayed_and_escape_detaches(void **state)
{
	struct session s;
	start(&s);
	wait_raw(&s);
	/* ^C is a key for the guest, not a signal for us; Ctrl-] twice is one. */
	assert_int_equal(write(s.master, "ls\x03\x1d\x1dx", 6), 6);
	expect_bytes(s.console, "ls\x03\x1dx");
	assert_int_equal(write(s.console, "guest says\r\n", 12), 12);
	expect_bytes(s.master, "guest says\r\n");
	assert_int_equal(write(s.master, "\x1dq", 2), 2);
	int status = finish(&s);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 10);
	assert_true(is_cooked(s.slave));
	cleanup(&s);
}

static void console_closing_ends_attach_and_restores(void **state)
{
	struct session s;
	start(&s);
	wait_raw(&s);
	shutdown(s.console, SHUT_RDWR);
	int status = finish(&s);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 11);
	assert_true(is_cooked(s.slave));
	cleanup(&s);
}

static void terminal_is_restored_when_killed_by_a_signal(void **state)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGINT };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct session s;
		start(&s);
		wait_raw(&s);
		assert_int_equal(kill(s.child, sigs[i]), 0);
		int status = finish(&s);
		/* The signal still ends the process as it would have... */
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), sigs[i]);
		/* ...but only after the terminal got its settings back. */
		assert_true(is_cooked(s.slave));
		cleanup(&s);
	}
}

/* The one escape filter under qkit console, qkit run and qkit exec's tty. */
static void escape_filter_passes_keys_and_finds_the_escape(void **state)
{
	struct term_escape e = { .key = TERM_ESCAPE };
	char out[64];
	size_t n;
	/* Twice sends one; followed by another key, both go. */
	assert_false(term_escape_filter(&e, "a\x1d\x1d" "b\x1dx", 6, out, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(out, "a\x1d" "b\x1dx", 5);
	/* The escape at the end of one read, q at the start of the next. */
	assert_false(term_escape_filter(&e, "cd\x1d", 3, out, &n));
	assert_int_equal(n, 2);
	assert_true(term_escape_filter(&e, "qzz", 3, out, &n));
	assert_int_equal(n, 0);
	/* What came before the escape in the same read is kept. */
	e = (struct term_escape){ .key = TERM_ESCAPE };
	assert_true(term_escape_filter(&e, "ls\r\x1dQ", 5, out, &n));
	assert_int_equal(n, 3);
	assert_memory_equal(out, "ls\r", 3);
	/* No key: every byte passes. */
	e = (struct term_escape){ 0 };
	assert_false(term_escape_filter(&e, "\x1dq", 2, out, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x1dq", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_filter_passes_keys_and_finds_the_escape),
		cmocka_unit_test(keys_and_output_are_relayed_and_escape_detaches),
		cmocka_unit_test(console_closing_ends_attach_and_restores),
		cmocka_unit_test(terminal_is_restored_when_killed_by_a_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
