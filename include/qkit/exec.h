/* SPDX-License-Identifier: MIT */
/*
 * Run one command in a fresh VM and get its output and exit status, as
 * `qkit exec` does: boot a kernel with a generated initramfs (busybox and
 * the modules it needs), share host directories over 9p, run the command
 * in the guest, stream its stdout and stderr back separately, power off.
 *
 * The guest talks back over virtio-serial ports (named, so the guest finds
 * them by name under /sys/class/virtio-ports):
 *
 *   qkit.stdin   the command's standard input (stdin_fd), then end of file
 *   qkit.stdout  the command's standard output
 *   qkit.stderr  its standard error
 *   qkit.status  its exit status, one decimal line, when it has ended
 *   qkit.event   JSON lines the guest writes (one object per line) arrive
 *                as events; the command finds the port's device in
 *                $QKIT_EVENT_PORT
 *   qkit.tty     with opts.tty: a virtconsole, /dev/hvc0 in the guest, the
 *                command's controlling terminal in place of qkit.stdin,
 *                qkit.stdout and qkit.stderr, so interactive programs work
 *
 * The serial console carries the kernel's and init's messages; it is
 * watched for a kernel panic and for the boot watchdog, and is available
 * line by line (see <qkit/console.h>) but is not the command's output.
 */
#ifndef QKIT_EXEC_H
#define QKIT_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <qkit/console.h>
#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A host directory the guest sees at the same path. */
typedef struct qk_exec_share {
	const char *path; /* host directory (made absolute) */
	const char *tag;  /* 9p mount_tag, [A-Za-z0-9_.-]{1,31}; NULL: "qkit-shareN" */
	bool readonly;    /* QEMU refuses writes (and the guest mounts it ro) */
} qk_exec_share;

/* A JSON line from the guest's event port; ev is borrowed. */
typedef void (*qk_exec_event_fn)(const json_t *ev, void *userdata);

typedef struct qk_exec_options {
	unsigned version;         /* QK_EXEC_OPTIONS_VERSION */
	const char *kernel;       /* NULL: qk_exec_default_kernel() */
	const char *modules_dir;  /* NULL: the kernel's (see qk_exec_default_modules()) */
	const char *arch;         /* "x86_64" (NULL) or "aarch64" */
	const char *accel;        /* "tcg" (NULL) or "kvm" */
	const char *busybox;      /* a static busybox; NULL: searched in PATH */
	bool fast_boot;           /* boot the PVH vmlinux when there is one (true) */
	unsigned mem_mb;          /* 0: 256 */
	unsigned cpus;            /* 0: 1 */
	/* Host directory the command runs in, shared read-write at the same
	 * path. NULL: the current directory; "" or "/": none, run in "/". */
	const char *cwd;
	const qk_exec_share *shares;
	size_t n_shares;
	const char *const *modules; /* more kernel modules to load, with their dependencies */
	size_t n_modules;
	const char *append;       /* more kernel command line (NULL: none) */
	int timeout_ms;           /* the whole run; <= 0: none */
	/* Boot watchdog: no console output within this long stops the VM.
	 * 0: 30 s under TCG, 10 s under KVM; < 0: off. */
	int boot_timeout_ms;
	int stdout_fd;            /* where the command's stdout goes (1) */
	int stderr_fd;            /* and its stderr (2) */
	qk_console_line_fn on_console_line; /* console lines, "[  1.2345s] vm0: ..." */
	void *console_userdata;
	const char *console_log;  /* the raw console also to this file */
	qk_exec_event_fn on_event;
	void *event_userdata;
	/* What the command reads on its standard input; < 0 (-1): nothing,
	 * it reads end of file. Not a terminal in the guest (unless tty): a
	 * byte stream. */
	int stdin_fd;
	/*
	 * Run the command on a terminal in the guest: a virtconsole port
	 * (/dev/hvc0) that is its controlling tty, in a session of its own.
	 * What stdin_fd gives is typed on it (^C is a byte the guest's tty
	 * turns into SIGINT) and what it prints, stdout and stderr alike as on
	 * any terminal, goes to stdout_fd. The exit status still comes over
	 * qkit.status. The host terminal's mode is the caller's business.
	 */
	bool tty;
	unsigned tty_rows, tty_cols; /* its initial size; 0: the guest's default */
	const char *tty_term;        /* TERM in the guest; NULL: "linux" */
	/* With tty: this byte, then q, in stdin_fd stops the VM
	 * (QK_EXEC_STOPPED); the byte twice sends it once. 0: none. */
	int escape_char;
} qk_exec_options;

#define QK_EXEC_OPTIONS_VERSION 1
#define QK_EXEC_OPTIONS_INIT                                                   \
	{                                                                      \
		.version = QK_EXEC_OPTIONS_VERSION, .fast_boot = true,         \
		.stdout_fd = 1, .stderr_fd = 2, .stdin_fd = -1,                \
	}

/* How a run ended. */
typedef enum qk_exec_end {
	QK_EXEC_EXITED = 0,   /* the command ran; status is its exit status */
	QK_EXEC_PANICKED,     /* the guest kernel panicked */
	QK_EXEC_WATCHDOG,     /* nothing on the console within the boot timeout */
	QK_EXEC_TIMED_OUT,    /* timeout_ms passed */
	QK_EXEC_QEMU_FAILED,  /* QEMU failed, or the guest ended without a status */
	QK_EXEC_STOPPED,      /* the escape key, then q (opts.escape_char) */
} qk_exec_end;

typedef struct qk_exec_result {
	qk_exec_end end;
	int status;        /* QK_EXEC_EXITED: 0..255 (128+N: killed by signal N) */
	char *message;     /* otherwise: what happened, for people (malloc'd) */
	char *panic_lines; /* QK_EXEC_PANICKED: the panic report from the console */
	char *console_tail;/* the console's last lines, for diagnosing failures */
	char *command_line;/* QEMU's command line, shell-quoted */
	double seconds;    /* from QEMU's start to its end */
} qk_exec_result;

#define QK_EXEC_RESULT_INIT { 0 }

void qk_exec_result_clear(qk_exec_result *res);

/*
 * Run argv (argc >= 1) in a VM. Returns 0 when the run happened, however
 * it ended (see res->end), and a negative errno when it could not start:
 * no kernel, a bad option (naming it), QEMU missing. res must be
 * initialized with QK_EXEC_RESULT_INIT and cleared by the caller.
 */
int qk_exec_run(const char *const *argv, size_t argc, const qk_exec_options *opts,
		qk_exec_result *res, qk_error **err);

/*
 * The kernel qk_exec_run() boots when none is given, first found:
 * $QKIT_KERNEL; the project's prepared guest kernel ($QKIT_GUEST_DIR or
 * ${XDG_CACHE_HOME:-~/.cache}/qkit/guest, see tests/guest/prepare); the
 * newest readable /boot/vmlinuz-*. Otherwise QK_ERR_NOT_FOUND saying how
 * to get one. *out is malloc'd.
 */
int qk_exec_default_kernel(char **out, qk_error **err);

/*
 * The modules tree that goes with kernel: "modules" next to it (the
 * prepared guest's layout), else /lib/modules/VERSION for the version in
 * its header. QK_ERR_NOT_FOUND if neither exists. *out is malloc'd.
 */
int qk_exec_default_modules(const char *kernel, char **out, qk_error **err);

#ifdef __cplusplus
}
#endif
#endif
