/* SPDX-License-Identifier: MIT */
/*
 * Interactive attach: relay a terminal to a guest's console, as `qkit
 * console` does, with the terminal in raw mode so the guest sees every key
 * (^C included) and draws its own echo.
 *
 * Ctrl-] then q detaches; Ctrl-] twice sends one Ctrl-]. The terminal's
 * settings are restored on every way out: detach, the console closing, an
 * error, and the signals that end a process (SIGHUP, SIGINT, SIGQUIT,
 * SIGTERM, SIGPIPE): their handler restores the terminal, then lets the
 * signal do what it would have done. SIGKILL cannot be caught; `stty sane`
 * is the remedy then.
 */
#ifndef QKIT_LIB_TERM_H
#define QKIT_LIB_TERM_H

#include <qkit/error.h>

/* The escape key: Ctrl-]. */
#define TERM_ESCAPE 0x1d

enum {
	TERM_DETACHED = 0, /* the user pressed Ctrl-] q */
	TERM_CLOSED = 1,   /* the console closed (the VM ended) */
};

/*
 * Relay in_fd (a terminal or not: raw mode only when it is one) to
 * console_fd and console_fd to out_fd until the user detaches or the
 * console closes. Returns TERM_DETACHED, TERM_CLOSED or a negative errno.
 * Installs the signal handlers above for its duration and puts the
 * previous ones back before returning.
 */
int term_attach(int console_fd, int in_fd, int out_fd, qk_error **err);

#endif
