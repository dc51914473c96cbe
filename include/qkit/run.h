/* SPDX-License-Identifier: MIT */
/*
 * From a spec to a running, supervised VM: what `qkit run` does, for
 * programs too.
 *
 * qk_run() validates the spec (every problem at once, nothing started),
 * boots an x86 bzImage through its PVH vmlinux when it can (see
 * <qkit/kernel.h>), renders the spec with the serial console on the
 * supervisor's chardev, and supervises QEMU with qk_vm_supervise() in the
 * foreground or qk_vm_detach() in the background, recording the fully
 * defaulted spec in the VM's state.json.
 *
 * In the foreground it also
 *  - hands every console chunk to the caller (console_fn) and forwards
 *    input_fd to the guest's console, watching for an escape sequence
 *    (escape_char, then q) that stops the VM;
 *  - runs the boot watchdog: no console output at all within the boot
 *    timeout stops the VM (QK_RUN_WATCHDOG), with advice when the guest
 *    ran under KVM, where some nested hosts open /dev/kvm but hang guests;
 *  - recognises a guest kernel panic, either from QEMU (GUEST_PANICKED,
 *    when the guest has a pvpanic device and driver) or from the console
 *    ("Kernel panic - not syncing"), and stops the VM once the kernel has
 *    finished its report (QK_RUN_PANICKED, with the panic lines);
 *  - runs the stop ladder (see qk_vm_stop()) on SIGTERM, SIGINT or SIGHUP.
 * A VM stopped by qkit itself (watchdog, panic, timeout) skips the power
 * button: QEMU is asked to quit, then terminated, then killed.
 */
#ifndef QKIT_RUN_H
#define QKIT_RUN_H

#include <stdbool.h>
#include <sys/types.h>

#include <qkit/error.h>
#include <qkit/spec.h>
#include <qkit/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a run ended. */
typedef enum qk_run_end {
	QK_RUN_POWERED_OFF = 0, /* QEMU exited 0: the guest powered off */
	QK_RUN_QEMU_FAILED,     /* QEMU exited with an error status */
	QK_RUN_QEMU_SIGNALED,   /* a signal from outside killed QEMU */
	QK_RUN_PANICKED,        /* the guest kernel panicked */
	QK_RUN_WATCHDOG,        /* nothing on the console within the boot timeout */
	QK_RUN_TIMED_OUT,       /* the spec's timeout passed */
	QK_RUN_STOPPED,         /* stopped on request: a stop signal or the escape key */
	QK_RUN_DETACHED,        /* qk_run() detached: the VM runs on in the background */
} qk_run_end;

typedef struct qk_run_options {
	unsigned version; /* QK_RUN_OPTIONS_VERSION */
	/*
	 * Publish the VM as RUNTIME/vms/NAME (qkit ps, stop, console...).
	 * NULL in the foreground: not published. Required with detach.
	 */
	const char *name;
	/* Supervise in the background and return once QEMU runs. */
	bool detach;
	/* Boot an x86 bzImage's PVH vmlinux when it has one (true). */
	bool fast_boot;
	/*
	 * Foreground boot watchdog: 0 for 30 s under TCG, 10 s under KVM;
	 * < 0 off. Off as well when the spec has no console or starts paused.
	 */
	int boot_timeout_ms;
	/* Foreground: bytes read from this fd go to the guest's console (-1: none). */
	int input_fd;
	/* In input_fd, this byte then 'q' stops the VM; twice sends it once (0: none). */
	int escape_char;
	/* Foreground: every chunk the console produces, as it arrives. */
	qk_vm_console_fn console_fn;
	void *console_userdata;
	/* The ladder for stop signals and the escape key. */
	qk_vm_stop_options stop;
} qk_run_options;

#define QK_RUN_OPTIONS_VERSION 1
#define QK_RUN_OPTIONS_INIT                                                     \
	{                                                                       \
		.version = QK_RUN_OPTIONS_VERSION, .fast_boot = true, .input_fd = -1, \
		.stop = QK_VM_STOP_OPTIONS_INIT,                                \
	}

typedef struct qk_run_result {
	qk_run_end end;
	int exit_status;    /* QEMU's exit status, or -1 */
	/* QK_RUN_QEMU_SIGNALED: the signal that killed QEMU; QK_RUN_STOPPED:
	 * the stop signal qkit received, 0 for the escape key. */
	int signal;
	bool kvm;           /* the guest ran under KVM */
	char *message;      /* how it ended, for people (malloc'd) */
	char *panic_lines;  /* QK_RUN_PANICKED: the panic report from the console */
	char *console_tail; /* the console's last lines */
	char *qemu_output;  /* QEMU's own last output lines */
	pid_t supervisor_pid; /* QK_RUN_DETACHED: the background supervisor */
} qk_run_result;

#define QK_RUN_RESULT_INIT { .exit_status = -1 }

void qk_run_result_clear(qk_run_result *res);

/*
 * Point boot.kernel at the PVH vmlinux of the x86 bzImage it names, when
 * there is one (extracted once and cached, see qk_kernel_fast_boot()).
 * Does nothing for other architectures, microvm, or a spec without a
 * kernel; a kernel that has no PVH entry, or cannot be read (QEMU will
 * say so), is left as it is. The spec must
 * be valid. qk_run() calls it when opts->fast_boot is set; it is public so
 * that a caller can show the command line a run would use.
 */
int qk_run_fast_boot(qk_spec *spec, qk_error **err);

/*
 * Run spec (see above). Returns 0 once the run has happened, however it
 * ended (res->end), or for a detached run once QEMU runs; a negative
 * errno when nothing could be started: an invalid spec (QK_ERR_INVALID,
 * one problem per field), a name already taken, QEMU refusing to start
 * (QK_ERR_QEMU, quoting its stderr). res must be initialised with
 * QK_RUN_RESULT_INIT and cleared by the caller. spec may be changed (fast
 * boot). Call it from a single-threaded process when detaching.
 */
int qk_run(qk_spec *spec, const qk_run_options *opts, qk_run_result *res, qk_error **err);

/* "powered off", "guest kernel panic", "boot watchdog", ... */
const char *qk_run_end_string(qk_run_end end);

#ifdef __cplusplus
}
#endif
#endif
