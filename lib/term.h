/* SPDX-License-Identifier: MIT */
/*
 * Interactive attach: relay a terminal to a guest's console, as `qkit
 * console` does, with the terminal in raw mode so the guest sees every key
 * (^C included) and draws its own echo.
 *
 * Ctrl-] then q detaches; Ctrl-] twice sends one Ctrl-]. The terminal's
 * settings are restored on every way out: detach, the console closing, an
 * error, and the signals that end a process (SIGHUP, SIGINT, SIGQUIT,
 * SIGTERM, SIGPIPE, SIGABRT): their handler restores the terminal, then lets the
 * signal do what it would have done. SIGKILL cannot be caught; `stty sane`
 * is the remedy then.
 */
#ifndef QKIT_LIB_TERM_H
#define QKIT_LIB_TERM_H

#include <qkit/error.h>

#include <stdbool.h>
#include <stddef.h>

/* The escape key: Ctrl-]. */
#define TERM_ESCAPE 0x1d

/*
 * The escape key's state across reads, for every relay of a person's keys
 * (qkit console, qkit run, qkit exec's tty): the key, then q, asks to
 * stop; the key twice sends it once; the key then anything else sends both.
 */
struct term_escape {
	int key;      /* 0: no escape, every byte passes */
	bool pending; /* the key came last */
};

/*
 * Copy in to out (room for 2 * len) without the escapes. Returns true
 * when the user typed the key, then q: out then holds what came before
 * it, and the rest of in is dropped. *out_len is what out holds.
 */
bool term_escape_filter(struct term_escape *e, const char *in, size_t len, char *out,
			size_t *out_len);

enum {
	TERM_DETACHED = 0, /* the user pressed Ctrl-] q */
	TERM_CLOSED = 1,   /* the console closed (the VM ended) */
};

/*
 * Put the terminal fd in raw mode, saving its settings, and install the
 * handlers that restore them on a fatal signal (then let it act). 0 or a
 * negative errno (the terminal unchanged). One terminal per process.
 */
int term_raw(int fd);

/* Put the terminal back as term_raw() found it; safe to call twice or without term_raw(). */
void term_restore(void);

/*
 * Relay in_fd (a terminal or not: raw mode only when it is one) to
 * console_fd and console_fd to out_fd until the user detaches or the
 * console closes. Returns TERM_DETACHED, TERM_CLOSED or a negative errno.
 * Installs the signal handlers above for its duration and puts the
 * previous ones back before returning.
 */
int term_attach(int console_fd, int in_fd, int out_fd, qk_error **err);

#endif
