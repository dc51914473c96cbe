/* SPDX-License-Identifier: MIT */
/*
 * Running QEMU: launch it race-free, supervise it, stop it gracefully.
 *
 * qk_vm_launch() takes QEMU's argv as the caller rendered it and adds the
 * monitor itself: a private QMP connection over a socketpair (always; the
 * library's own, see qk_vm_qmp()), and optionally a serial console
 * chardev. QEMU inherits every socket already connected, so there is no
 * connect race and no retry loop:
 *
 *   -chardev socket,id=qkit-qmp,fd=N,server=off -mon chardev=qkit-qmp,mode=control
 *   -chardev socket,id=qkit-console,fd=K,server=off
 *
 * The optional public QMP socket (options.qmp_socket) is not QEMU's: the
 * library serves it over its own connection, to up to 16 clients at once
 * (QEMU's socket monitor takes one): each negotiates with a greeting of
 * QEMU's version, its commands are forwarded with ids of the library's and
 * answered with its own, events go to all. It is served while qk_vm_wait(),
 * qk_vm_poll() or qk_vm_stop() runs.
 *
 * File descriptors. The caller's fds (options.fds) are placed in QEMU at
 * QK_VM_FD_FIRST, QK_VM_FD_FIRST + 1, ... in order, so the caller can
 * render `fds=`, `fd=` or `-add-fd fd=` before launching; see
 * qk_vm_fd_number(). stdin is /dev/null; stdout and stderr go to a pipe
 * the library drains into a bounded ring (and an optional log file).
 * Every other descriptor is closed in QEMU.
 *
 * The library drives everything from its own loop inside qk_vm_wait() and
 * qk_vm_stop(); between calls nothing is read, so call one of them (or
 * qk_vm_poll()) regularly. A qk_vm is not thread-safe. Launch from the
 * thread that will outlive QEMU: PR_SET_PDEATHSIG fires when the thread
 * that forked exits.
 */
#ifndef QKIT_VM_H
#define QKIT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <qkit/error.h>
#include <qkit/qmp.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_vm qk_vm;

/* The first descriptor number the caller's fds get in QEMU. */
#define QK_VM_FD_FIRST 3

/* The number options.fds[i] has in QEMU. */
static inline int qk_vm_fd_number(size_t i)
{
	return QK_VM_FD_FIRST + (int)i;
}

/* The chardev id of the console (render `-serial chardev:qkit-console`). */
#define QK_VM_CONSOLE_CHARDEV "qkit-console"

/* Called with each chunk the console produced, as it is drained. */
typedef void (*qk_vm_console_fn)(const char *data, size_t len, void *userdata);

typedef struct qk_vm_options {
	/* Descriptors to hand to QEMU (still owned by the caller). */
	const int *fds;
	size_t n_fds;
	/* Start with an empty environment instead of a copy of ours. */
	bool clean_env;
	/* "NAME=value" entries added to the environment (NULL-terminated). */
	char *const *env;
	/* QEMU's working directory (NULL: ours). */
	const char *cwd;
	/* Credentials for QEMU; (uid_t)-1 / (gid_t)-1 leave them unchanged. */
	uid_t uid;
	gid_t gid;
	/* Supplementary groups, applied when set_groups (n_groups may be 0). */
	bool set_groups;
	const gid_t *groups;
	size_t n_groups;
	/* Put QEMU in its own process group (a terminal's ^C then misses it). */
	bool new_process_group;
	/*
	 * QEMU gets PR_SET_PDEATHSIG(SIGKILL): it never outlives the thread
	 * that launched it. On by default.
	 */
	bool die_with_supervisor;
	/* Add -S: the guest waits for qk_vm_cont() (configure it over QMP first). */
	bool paused;
	/* Path of a public QMP socket (mode 0600) to create and serve; its directory must be private. */
	const char *qmp_socket;
	/* Give QEMU a console chardev, QK_VM_CONSOLE_CHARDEV, drained by the library. */
	bool console;
	/* Also expose the console at this listening socket path (mode 0600). */
	const char *console_socket;
	qk_vm_console_fn console_fn;
	void *console_userdata;
	/* Append QEMU's stdout and stderr to this file (and the console to the other). */
	const char *log_path;
	const char *console_log_path;
	/* Bytes of QEMU's output and of the console kept in memory (64 KiB each). */
	size_t output_ring_size;
	size_t console_ring_size;
	/* How long QEMU may take to offer QMP (30 s). */
	int connect_timeout_ms;
	/*
	 * Each log file rotates when it would grow past this many bytes (8 MiB):
	 * it becomes PATH.1 (replacing an older one) and a new PATH starts. 0:
	 * never rotate.
	 */
	size_t log_max_bytes;
} qk_vm_options;

#define QK_VM_OPTIONS_INIT                                                         \
	{                                                                          \
		.uid = (uid_t)-1, .gid = (gid_t)-1, .die_with_supervisor = true,   \
		.output_ring_size = 64u << 10, .console_ring_size = 64u << 10,     \
		.connect_timeout_ms = 30000, .log_max_bytes = 8u << 20,            \
	}

/*
 * Launch QEMU (argv[0]: a path or a name searched in PATH) and negotiate
 * QMP. If QEMU exits before QMP is ready, fails with QK_ERR_QEMU and a
 * message quoting QEMU's last stderr lines, e.g.
 *   QEMU exited with status 1: qemu-system-x86_64: -device foo: 'foo' is
 *   not a valid device model name
 */
int qk_vm_launch(qk_vm **out, char *const *argv, const qk_vm_options *opts, qk_error **err);

/* Stops QEMU with SIGKILL if it still runs, and reaps it. Accepts NULL. */
void qk_vm_free(qk_vm *vm);

pid_t qk_vm_pid(const qk_vm *vm); /* 0 once reaped */
/* The full argv QEMU got, monitor arguments included. */
char *const *qk_vm_argv(const qk_vm *vm);
/* The library's QMP connection (borrowed; NULL once QEMU is gone). */
qk_qmp *qk_vm_qmp(qk_vm *vm);

/* Resume a VM launched paused (QMP cont). */
int qk_vm_cont(qk_vm *vm, qk_error **err);

/* Send sig to QEMU (through its pidfd). */
int qk_vm_kill(qk_vm *vm, int sig, qk_error **err);

/* The last max_lines lines of QEMU's output, or of the console (malloc'd). */
char *qk_vm_output_tail(const qk_vm *vm, size_t max_lines);
char *qk_vm_console_tail(const qk_vm *vm, size_t max_lines);

/* Write to the guest's console (all of it, or an error). */
int qk_vm_console_write(qk_vm *vm, const void *data, size_t len, qk_error **err);

/* How a VM ended. */
typedef enum qk_vm_end {
	QK_VM_RUNNING = 0,  /* has not ended */
	QK_VM_POWERED_OFF,  /* QEMU exited 0: the guest powered off (or was quit) */
	QK_VM_QEMU_ERROR,   /* QEMU exited non-zero; see the output tail */
	QK_VM_SIGNALED,     /* a signal killed QEMU */
	QK_VM_PANICKED,     /* the guest panicked (GUEST_PANICKED) */
	QK_VM_TIMED_OUT,    /* qk_vm_wait's deadline passed and qkit killed it */
} qk_vm_end;

typedef struct qk_vm_exit {
	qk_vm_end end;
	int exit_status;          /* QEMU's exit status, or -1 */
	int signal;               /* the signal that ended QEMU, or 0 */
	char shutdown_reason[32]; /* SHUTDOWN's "reason" (guest-shutdown, host-qmp-quit, ...) */
} qk_vm_exit;

/* "powered off", "QEMU error", "killed by a signal", ... */
const char *qk_vm_end_string(qk_vm_end end);

/*
 * A sentence for people: "guest powered off", "QEMU exited with status
 * 1: <last stderr line>", "QEMU killed by signal 9 (Killed)", ...
 */
char *qk_vm_exit_describe(const qk_vm *vm, const qk_vm_exit *ex);

typedef struct qk_vm_wait_options {
	int timeout_ms;       /* < 0: no deadline */
	/* At the deadline, SIGKILL QEMU and report QK_VM_TIMED_OUT; otherwise
	 * fail with QK_ERR_TIMEOUT (-ETIMEDOUT) and leave it running. */
	bool kill_on_timeout;
	/* If this fd becomes readable (a signalfd, say), return -EINTR. */
	int interrupt_fd;
} qk_vm_wait_options;

#define QK_VM_WAIT_OPTIONS_INIT { .timeout_ms = -1, .interrupt_fd = -1 }

/*
 * Serve the VM (drain output and console, dispatch QMP events) until QEMU
 * exits, then reap it and fill *out. If the guest panics and QEMU stays
 * (panic action pause), qkit quits it and reports QK_VM_PANICKED. opts may
 * be NULL: wait forever.
 */
int qk_vm_wait(qk_vm *vm, const qk_vm_wait_options *opts, qk_vm_exit *out, qk_error **err);

/* Serve for at most timeout_ms; 1 if QEMU has ended (see qk_vm_wait), else 0. */
int qk_vm_poll(qk_vm *vm, int timeout_ms, qk_vm_exit *out, qk_error **err);

/*
 * The stop ladder: system_powerdown, wait; quit, wait; SIGTERM, wait;
 * SIGKILL. A step with a negative timeout is skipped; the powerdown step
 * is also skipped while the guest is not running (it could not react).
 * Each step is logged at debug level. Ends with QEMU reaped.
 */
typedef struct qk_vm_stop_options {
	int powerdown_timeout_ms; /* 10 s */
	int quit_timeout_ms;      /* 5 s */
	int term_timeout_ms;      /* 5 s */
} qk_vm_stop_options;

#define QK_VM_STOP_OPTIONS_INIT { 10000, 5000, 5000 }

int qk_vm_stop(qk_vm *vm, const qk_vm_stop_options *opts, qk_vm_exit *out, qk_error **err);

/*
 * Supervision: launch, publish the VM's state under name, serve it until
 * it ends, run the stop ladder on SIGTERM, SIGINT or SIGHUP, remove the
 * state. This is what `qkit start` does in the foreground, and what the
 * background process of qk_vm_detach() runs. While it runs, the three
 * signals are blocked in the calling thread (QEMU gets a clean mask).
 */
typedef struct qk_vm_supervise_options {
	/* Publish state as RUNTIME/vms/NAME (NULL: no state, foreground only). */
	const char *name;
	/* Recorded in state.json as "spec" (may be NULL). */
	const json_t *spec;
	/* The deadline for the whole run; < 0 none. Then QEMU is killed (TIMED_OUT). */
	int timeout_ms;
	/* The ladder run on a stop signal; a sigqueue() value > 0 with SIGTERM
	 * replaces its powerdown timeout (ms). */
	qk_vm_stop_options stop;
	/* Called once QEMU runs and its state is published (may be NULL). */
	void (*ready)(qk_vm *vm, void *userdata);
	/* Called once QEMU has ended, before vm is freed (may be NULL). */
	void (*ended)(qk_vm *vm, const qk_vm_exit *ex, void *userdata);
	void *userdata;
} qk_vm_supervise_options;

#define QK_VM_SUPERVISE_OPTIONS_INIT { .timeout_ms = -1, .stop = QK_VM_STOP_OPTIONS_INIT }

/*
 * QEMU always dies with its supervisor (opts->die_with_supervisor is
 * forced on). With name set, opts' qmp_socket, log_path and (when opts->console)
 * console_socket and console_log_path default to qmp.sock, qemu.log,
 * console.sock and console.log in the VM's state directory.
 */
int qk_vm_supervise(const qk_vm_supervise_options *sopts, char *const *argv,
		    const qk_vm_options *opts, qk_vm_exit *out, qk_error **err);

/*
 * Detached: double-fork a supervisor (setsid, stdio on /dev/null) running
 * qk_vm_supervise(), and return once QEMU runs and state.json is written,
 * with the supervisor's pid. sopts->name is required. A launch failure is
 * reported here, with QEMU's stderr, and leaves no state behind. Call it
 * from a single-threaded process (the child goes on after fork).
 */
int qk_vm_detach(const qk_vm_supervise_options *sopts, char *const *argv,
		 const qk_vm_options *opts, pid_t *supervisor_pid, qk_error **err);

/*
 * Stop the detached VM called name: signal its supervisor to run the
 * ladder (powerdown_timeout_ms < 0: the supervisor's default), wait for
 * it to finish, and if it does not within the ladder's time, kill QEMU
 * and the supervisor.
 */
int qk_vm_stop_by_name(const char *name, int powerdown_timeout_ms, qk_error **err);

/* SIGKILL the detached VM's QEMU and wait for its supervisor to clean up. */
int qk_vm_kill_by_name(const char *name, qk_error **err);

#ifdef __cplusplus
}
#endif
#endif
