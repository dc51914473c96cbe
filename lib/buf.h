/* SPDX-License-Identifier: MIT */
/* A growable byte string, always NUL-terminated once anything is appended. */
#ifndef QKIT_LIB_BUF_H
#define QKIT_LIB_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* Each returns 0 or -ENOMEM (the buffer is unchanged on failure). */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The one shell quoter. buf_put_shell_quoted() appends s in single quotes,
 * each ' written '\'': one POSIX shell word whatever s holds (the empty
 * string becomes ''). buf_put_shell_word() appends s as it is when every
 * character is one the shell takes literally (letters, digits,
 * _@%+=:,./-), else quoted, for command lines a person reads.
 */
int buf_put_shell_quoted(struct buf *b, const char *s);
int buf_put_shell_word(struct buf *b, const char *s);

/* Hand the string to the caller (never NULL unless out of memory). */
char *buf_steal(struct buf *b);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
