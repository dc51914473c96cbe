/* SPDX-License-Identifier: MIT */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ring_init(struct ring *r, size_t size)
{
	*r = (struct ring){ .size = size };
	if (size && !(r->data = malloc(size)))
		return -ENOMEM;
	return 0;
}

void ring_free(struct ring *r)
{
	free(r->data);
	*r = (struct ring){ 0 };
}

void ring_write(struct ring *r, const void *data, size_t len)
{
	const char *p = data;
	r->total += len;
	if (r->size == 0)
		return;
	if (len >= r->size) { /* only the last size bytes can survive */
		memcpy(r->data, p + len - r->size, r->size);
		r->head = 0;
		r->len = r->size;
		return;
	}
	size_t first = r->size - r->head < len ? r->size - r->head : len;
	memcpy(r->data + r->head, p, first);
	memcpy(r->data, p + first, len - first);
	r->head = (r->head + len) % r->size;
	r->len = r->len + len > r->size ? r->size : r->len + len;
}

char *ring_tail(const struct ring *r, size_t max_lines)
{
	char *s = malloc(r->len + 1);
	if (!s)
		return NULL;
	size_t start = (r->head + r->size - r->len) % (r->size ? r->size : 1);
	for (size_t i = 0; i < r->len; i++)
		s[i] = r->data[(start + i) % r->size];
	size_t end = r->len;
	while (end > 0 && s[end - 1] == '\n')
		end--;
	s[end] = '\0';
	size_t begin = end, lines = 0;
	while (begin > 0) {
		if (s[begin - 1] == '\n' && ++lines == max_lines)
			break;
		begin--;
	}
	if (max_lines == 0)
		begin = end;
	memmove(s, s + begin, end - begin + 1);
	return s;
}
