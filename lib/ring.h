/* SPDX-License-Identifier: MIT */
/*
 * A bounded byte ring: keeps the last `size` bytes written. QEMU's output
 * and the serial console go into one each, so a chatty guest never grows
 * the supervisor, and a failure can still quote the last lines.
 */
#ifndef QKIT_LIB_RING_H
#define QKIT_LIB_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
	char *data;
	size_t size;
	size_t head;    /* where the next byte goes */
	size_t len;     /* bytes held, <= size */
	uint64_t total; /* bytes ever written */
};

/* 0 or -ENOMEM; size 0 keeps nothing. */
int ring_init(struct ring *r, size_t size);
void ring_free(struct ring *r);
void ring_write(struct ring *r, const void *data, size_t len);

/*
 * The last max_lines lines held (a trailing partial line counts as one),
 * NUL-terminated, without the final newline; "" if empty. malloc'd, NULL
 * only when out of memory.
 */
char *ring_tail(const struct ring *r, size_t max_lines);

#endif
