/* SPDX-License-Identifier: MIT */
/*
 * A harness for C integration tests that boot a guest: start a VM, expect
 * what its console prints, type into it, wait for it to end, and on
 * failure show what a person needs to reproduce it (QEMU's command line,
 * copy-pasteable, and the console's last lines).
 *
 *   __attribute__((cleanup(qk_harness_freep))) qk_harness *h = NULL;
 *   qk_harness_options o = QK_HARNESS_OPTIONS_INIT;
 *   o.initrd = "initramfs.cpio.gz";
 *   if (qk_harness_start(&h, &o, &err) < 0 ||
 *       qk_harness_expect(h, "login: ", QK_CONSOLE_SUBSTRING, 30000, NULL, &err) < 0) {
 *           char *why = qk_harness_report(h);   // h may be NULL here
 *           ...print why and qk_error_message(err)...
 *   }
 *
 * Cleanup is guaranteed: qk_harness_free() kills QEMU, and QEMU also dies
 * with the process that started it (PR_SET_PDEATHSIG), so a test that
 * aborts half-way leaves no VM behind.
 *
 * The VM is served only inside the harness's calls (expect, wait): its
 * console is drained there, the boot watchdog and panic detection run
 * there. A guest kernel panic ends the VM within seconds and makes a
 * waiting expect fail at once with "guest kernel panic" and the panic
 * lines. To run a whole command in a VM instead, see <qkit/exec.h>.
 */
#ifndef QKIT_HARNESS_H
#define QKIT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <qkit/console.h>
#include <qkit/error.h>
#include <qkit/exec.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_harness qk_harness;

typedef struct qk_harness_options {
	unsigned version;      /* QK_HARNESS_OPTIONS_VERSION */
	const char *name;      /* the console's prefix (NULL: "vm0") */
	const char *kernel;    /* NULL: qk_exec_default_kernel() */
	const char *initrd;    /* NULL: none */
	/* Kernel command line after "console=ttyS0 panic=-1" (NULL: none). */
	const char *append;
	const char *accel;     /* "tcg" (NULL) or "kvm" */
	unsigned mem_mb;       /* 0: 256 */
	unsigned cpus;         /* 0: 1 */
	bool fast_boot;        /* boot the cached PVH vmlinux of a bzImage (true) */
	/* No console output within this long stops the VM. 0: 30 s under TCG,
	 * 10 s under KVM; < 0: off. */
	int boot_timeout_ms;
	/* More QEMU arguments, appended as they are (devices, drives, ...). */
	const char *const *extra_args;
	size_t n_extra_args;
	qk_console_line_fn on_console_line; /* each console line as it completes */
	void *userdata;
	const char *console_log; /* the raw console also to this file */
	/*
	 * Give the guest an event channel: a virtio-serial port named
	 * "qkit.event" (find it under /sys/class/virtio-ports; the guest needs
	 * virtio_pci and virtio_console) on which each line the guest writes
	 * is a JSON object, received with qk_harness_wait_event().
	 */
	bool events;
} qk_harness_options;

#define QK_HARNESS_OPTIONS_VERSION 1
#define QK_HARNESS_OPTIONS_INIT { .version = QK_HARNESS_OPTIONS_VERSION, .fast_boot = true }

/* Start QEMU (x86_64, q35, no network, no display, -no-reboot). */
int qk_harness_start(qk_harness **out, const qk_harness_options *opts, qk_error **err);

/* Kills QEMU if it still runs. Accepts NULL. */
void qk_harness_free(qk_harness *h);

static inline void qk_harness_freep(qk_harness **h)
{
	qk_harness_free(*h);
}

/*
 * Wait until pattern appears on the console (see qk_console_find()),
 * serving the VM meanwhile. 1 when found. Fails at once, not at the
 * timeout, when QEMU exits first (QK_ERR_EXITED, saying how: "guest kernel
 * panic", "guest powered off", "QEMU exited with status 1: ..."), and with
 * QK_ERR_TIMEOUT after timeout_ms (< 0: no limit). Both quote the console.
 */
int qk_harness_expect(qk_harness *h, const char *pattern, qk_console_pattern kind,
		      int timeout_ms, qk_console_match *m, qk_error **err);

/*
 * The next event from the guest's event channel (opts.events), waiting up
 * to timeout_ms (< 0: no limit) while serving the VM. 1 with *ev (a new
 * reference) when one arrived. Fails at once when QEMU exits first
 * (QK_ERR_EXITED), after timeout_ms (QK_ERR_TIMEOUT), and with
 * QK_ERR_PROTOCOL for a line that is not a JSON object (naming it).
 */
int qk_harness_wait_event(qk_harness *h, int timeout_ms, json_t **ev, qk_error **err);

/* Type text on the guest's console. */
int qk_harness_send(qk_harness *h, const char *text, qk_error **err);

/* How the VM ended. */
typedef enum qk_harness_end {
	QK_HARNESS_RUNNING = 0,
	QK_HARNESS_POWERED_OFF,  /* QEMU exited 0 */
	QK_HARNESS_QEMU_FAILED,  /* QEMU exited non-zero or was killed */
	QK_HARNESS_PANICKED,     /* guest kernel panic */
	QK_HARNESS_WATCHDOG,     /* nothing on the console within the boot timeout */
	QK_HARNESS_TIMED_OUT,    /* qk_harness_wait()'s timeout passed; QEMU was killed */
} qk_harness_end;

/*
 * Serve the VM until QEMU exits (or timeout_ms passes: then kill it and
 * report QK_HARNESS_TIMED_OUT). Returns 0 and sets *end.
 */
int qk_harness_wait(qk_harness *h, int timeout_ms, qk_harness_end *end, qk_error **err);

/* A sentence: "guest powered off", "guest kernel panic", ... */
const char *qk_harness_end_string(qk_harness_end end);

/* The panic report from the console when the guest panicked, else NULL. */
const char *qk_harness_panic_lines(const qk_harness *h);

/* The console: for qk_console_tail(), qk_console_bytes(), ... (borrowed). */
qk_console *qk_harness_console(qk_harness *h);

/*
 * What to print when a test fails: QEMU's command line, shell-quoted, and
 * the console's last lines. h may be NULL (then: "the VM did not start").
 * Malloc'd.
 */
char *qk_harness_report(const qk_harness *h);

#ifdef __cplusplus
}
#endif
#endif
