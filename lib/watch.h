/* SPDX-License-Identifier: MIT */
/*
 * What qkit reads on a guest's console to decide that the guest is lost:
 * the boot watchdog (nothing printed within the boot timeout) and a kernel
 * panic ("Kernel panic - not syncing", whose report is collected for a
 * grace period or until its end marker). One state machine fed with the
 * console's bytes and a monotonic time, so qk_run() and the one-shot
 * runner under qk_exec_run() and the harness decide, and word it, alike.
 * It does no I/O and reads no clock itself.
 */
#ifndef QKIT_LIB_WATCH_H
#define QKIT_LIB_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* After the panic line, how long the kernel may take to finish its report. */
#define WATCH_PANIC_GRACE_MS 2000
/* How many console lines a panic report quotes at most. */
#define WATCH_PANIC_LINES_MAX 60

enum watch_verdict {
	WATCH_OK = 0,   /* nothing to act on yet */
	WATCH_PANICKED, /* the panic report is complete or its grace is over: stop the VM */
	WATCH_SILENT,   /* the boot watchdog tripped: stop the VM */
};

struct watch {
	int boot_timeout_ms; /* > 0: armed */
	bool kvm;            /* the watchdog's message then suspects KVM */
	int64_t started_ms;  /* when the boot timeout began */
	size_t bytes;        /* console bytes seen */
	bool in_panic;
	int64_t panic_deadline_ms;
	struct buf line;     /* the line being assembled */
	struct buf panic_lines;
	size_t n_panic_lines;
};

/*
 * The boot timeout for a requested one: > 0 as it is, 0 for the default
 * (30 s under TCG, 10 s under KVM), < 0 for none (returns 0).
 */
int watch_boot_timeout(int requested_ms, bool kvm);

/* boot_timeout_ms as watch_boot_timeout() returns it; now_ms starts it. */
void watch_init(struct watch *w, int boot_timeout_ms, bool kvm, int64_t now_ms);
void watch_free(struct watch *w);

/* Console output. Returns true when it changed the verdict's deadline (a panic began or ended). */
bool watch_feed(struct watch *w, const char *data, size_t len, int64_t now_ms);

/* What the runner must do now. */
enum watch_verdict watch_check(const struct watch *w, int64_t now_ms);

/* When watch_check() may next change its mind, or -1 for never (until more output). */
int64_t watch_next_deadline(const struct watch *w);

/* The panic report's lines, or NULL when there was no panic (or it said nothing). */
const char *watch_panic_lines(const struct watch *w);

/* The boot watchdog's message for people (malloc'd; NULL when out of memory). */
char *watch_silent_message(const struct watch *w);

#endif
