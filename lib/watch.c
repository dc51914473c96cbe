/* SPDX-License-Identifier: MIT */
/* The console watchdog and panic detector: see watch.h. */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PANIC_START "Kernel panic - not syncing"
#define PANIC_END "---[ end Kernel panic"
/* A longer line is judged by its start; the rest is dropped. */
#define LINE_MAX_LEN 1024

int watch_boot_timeout(int requested_ms, bool kvm)
{
	if (requested_ms < 0)
		return 0;
	if (requested_ms > 0)
		return requested_ms;
	return kvm ? 10000 : 30000;
}

void watch_init(struct watch *w, int boot_timeout_ms, bool kvm, int64_t now_ms)
{
	*w = (struct watch){
		.boot_timeout_ms = boot_timeout_ms,
		.kvm = kvm,
		.started_ms = now_ms,
		.line = BUF_INIT,
		.panic_lines = BUF_INIT,
	};
}

void watch_free(struct watch *w)
{
	buf_free(&w->line);
	buf_free(&w->panic_lines);
}

/* One whole line of console text (no newline). */
static bool on_line(struct watch *w, const char *text, int64_t now_ms)
{
	bool changed = false;
	if (!w->in_panic && strstr(text, PANIC_START)) {
		w->in_panic = true;
		w->panic_deadline_ms = now_ms + WATCH_PANIC_GRACE_MS;
		changed = true;
	}
	if (!w->in_panic)
		return changed;
	if (w->n_panic_lines++ < WATCH_PANIC_LINES_MAX)
		buf_printf(&w->panic_lines, "%s%s", w->panic_lines.len ? "\n" : "", text);
	/* The report is complete: the guest is dead, do not wait for it. */
	if (strstr(text, PANIC_END) && w->panic_deadline_ms > now_ms) {
		w->panic_deadline_ms = now_ms;
		changed = true;
	}
	return changed;
}

bool watch_feed(struct watch *w, const char *data, size_t len, int64_t now_ms)
{
	bool changed = false;
	w->bytes += len;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '\n') {
			changed |= on_line(w, w->line.data ? w->line.data : "", now_ms);
			buf_reset(&w->line);
		} else if (w->line.len < LINE_MAX_LEN && ((unsigned char)c >= 0x20 || c == '\t') &&
			   c != 0x7f) {
			/* Control characters (a \r, a bell) say nothing and would garble reports. */
			buf_putc(&w->line, c);
		}
	}
	/*
	 * A panic line whose newline has not come yet still counts: the
	 * kernel may die right after printing it.
	 */
	if (!w->in_panic && w->line.data && strstr(w->line.data, PANIC_START)) {
		w->in_panic = true;
		w->panic_deadline_ms = now_ms + WATCH_PANIC_GRACE_MS;
		changed = true;
	}
	return changed;
}

enum watch_verdict watch_check(const struct watch *w, int64_t now_ms)
{
	if (w->in_panic && now_ms >= w->panic_deadline_ms)
		return WATCH_PANICKED;
	if (w->boot_timeout_ms > 0 && w->bytes == 0 &&
	    now_ms >= w->started_ms + w->boot_timeout_ms)
		return WATCH_SILENT;
	return WATCH_OK;
}

int64_t watch_next_deadline(const struct watch *w)
{
	int64_t next = -1;
	if (w->in_panic)
		next = w->panic_deadline_ms;
	if (w->boot_timeout_ms > 0 && w->bytes == 0) {
		int64_t t = w->started_ms + w->boot_timeout_ms;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

const char *watch_panic_lines(const struct watch *w)
{
	return w->panic_lines.len ? w->panic_lines.data : NULL;
}

char *watch_silent_message(const struct watch *w)
{
	char *s;
	int n = asprintf(&s,
			 "boot watchdog: the guest printed nothing on its console within %g s; "
			 "stopped the VM%s",
			 w->boot_timeout_ms / 1000.0,
			 w->kvm ? ". The guest ran under KVM, which may be non-functional on this "
				  "host (under some nested virtualization /dev/kvm opens but guests "
				  "hang before printing anything): try --accel tcg"
				: "");
	return n < 0 ? NULL : s;
}
