/* SPDX-License-Identifier: MIT */
/*
 * The guest runner under qk_exec_run() and the harness: one QEMU process
 * with a serial console and virtio-serial ports on socketpairs, served
 * from one poll loop that also enforces the boot watchdog, the run's
 * deadline and panic detection.
 *
 * The runner starts QEMU through process_spawn() rather than qk_vm_launch():
 * a one-shot guest needs no QMP, and its ports, console and QEMU's exit must
 * be served from the same poll() so that nothing the guest wrote before
 * powering off is lost. What it reads on the console to call the guest
 * lost (watchdog, panic) is watch.h's, as qk_run()'s.
 */
#ifndef QKIT_LIB_HARNESS_PRIVATE_H
#define QKIT_LIB_HARNESS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <qkit/console.h>
#include <qkit/error.h>
#include <qkit/spec.h>

#include "buf.h"
#include "process.h"
#include "term.h"
#include "watch.h"

#define GUEST_MAX_FDS 16
#define GUEST_MAX_PORTS 8

/* How a guest run ended (the CLI maps these to exit statuses). */
enum guest_end {
	GUEST_RUNNING = 0,
	GUEST_POWERED_OFF, /* QEMU exited 0 */
	GUEST_QEMU_FAILED, /* QEMU exited non-zero or was killed by someone else */
	GUEST_PANICKED,    /* the kernel panicked (seen on the console) */
	GUEST_WATCHDOG,    /* no console output within the boot timeout */
	GUEST_TIMED_OUT,   /* the run's deadline passed */
	GUEST_STOPPED,     /* the user typed the escape key, then q */
};

typedef void (*guest_data_fn)(const char *data, size_t len, void *userdata);

struct guest_port {
	char *name;  /* the virtserialport name, e.g. "qkit.stdout" */
	int fd;      /* our end of the socketpair */
	int qemu_fd; /* QEMU's end: its number in QEMU */
	guest_data_fn fn;
	void *userdata;
	/* An input port: what src_fd gives is written to the guest. */
	bool input;
	int src_fd;         /* not owned; < 0 or at its end: the guest reads EOF */
	bool src_done;
	struct buf pending; /* read from src_fd, not yet taken by QEMU */
	/* A virtconsole (hvcN in the guest, a tty) rather than a virtserialport. */
	bool virtconsole;
	struct term_escape escape; /* in src_fd: its key, then q, stops the guest */
};

struct guest {
	/* Filled by guest_init(), guest_add_*() and guest_spec() before guest_launch(). */
	int child_fds[GUEST_MAX_FDS]; /* become 3, 4, ... in QEMU */
	size_t n_child_fds;
	struct guest_port ports[GUEST_MAX_PORTS];
	size_t n_ports;
	qk_console *console;
	int console_fd;
	int console_qemu_fd; /* its number in QEMU */

	int boot_timeout_ms; /* the watchdog: 0 its default, < 0 off (see watch_boot_timeout()) */
	int timeout_ms;      /* the whole run: > 0 to arm */
	bool kvm;            /* for the watchdog's default and advice */

	/* Runtime. */
	struct child qemu;   /* pid 0 once reaped */
	int stderr_fd;       /* QEMU's stdout and stderr */
	struct buf qemu_output; /* its tail */
	int64_t started_ms;
	struct watch watch;  /* the boot watchdog and panic detector */

	enum guest_end end;
	int qemu_status;     /* exit status, or 128 + signal */
	char *end_message;   /* for people: why it ended, when not a plain power-off */
	char **argv;         /* QEMU's, as the spec rendered it */
};

void guest_init(struct guest *g);
void guest_destroy(struct guest *g); /* kills QEMU if it still runs */

/* Hand fd to QEMU; returns the number it will have there (takes ownership). */
int guest_pass_fd(struct guest *g, int fd, qk_error **err);

/*
 * The serial console on a socketpair feeding a qk_console whose lines also
 * go to line_fn (may be NULL). Returns the socket's number in QEMU, for
 * the spec's console backend {type: fd}.
 */
int guest_add_console(struct guest *g, const char *name, const char *log_path,
		      qk_console_line_fn line_fn, void *userdata, qk_error **err);

/*
 * A socketpair for the virtserialport called name; what the guest writes
 * goes to fn. Returns the socket's number in QEMU, for a channel device.
 */
int guest_add_port(struct guest *g, const char *name, guest_data_fn fn, void *userdata,
		   qk_error **err);

/*
 * A socketpair for the virtserialport called name through which the guest
 * reads what src_fd gives (read as it arrives, flow-controlled by the
 * guest). When src_fd ends (or is < 0), the guest reads end of file.
 * Returns the socket's number in QEMU.
 */
int guest_add_input_port(struct guest *g, const char *name, int src_fd, qk_error **err);

/*
 * A virtconsole called name: the guest's terminal on /dev/hvcN. What
 * src_fd gives is typed on it (escape_char, then q, stops the guest as
 * GUEST_STOPPED; 0: no escape), what the guest prints goes to fn.
 * Returns the socket's number in QEMU.
 */
int guest_add_tty_port(struct guest *g, const char *name, int src_fd, int escape_char,
		       guest_data_fn fn, void *userdata, qk_error **err);

/* What a guest's spec needs; the caller adds devices before guest_render(). */
struct guest_base {
	const char *arch;   /* "x86_64", "aarch64" */
	const char *accel;  /* "tcg" or "kvm" */
	unsigned mem_mb;
	unsigned cpus;
	const char *kernel;
	const char *initrd; /* NULL: none */
	const char *append; /* after the console= qkit's spec puts first */
};

/*
 * A spec with the base settings, the console on the guest's console
 * socket, -no-reboot and, for each port added so far, a channel device on
 * its socket. Free it with qk_spec_free().
 */
int guest_spec(struct guest *g, const struct guest_base *base, qk_spec **out, qk_error **err);

/* Render spec into the guest's argv (every value escaped by the renderer). */
int guest_render(struct guest *g, const qk_spec *spec, qk_error **err);

int guest_launch(struct guest *g, qk_error **err);

/*
 * Serve the guest for at most timeout_ms (< 0: until something happens
 * that ends it). Returns 1 once QEMU has exited, been reaped and every
 * channel drained (g->end says how it ended), else 0.
 */
int guest_pump(struct guest *g, int timeout_ms, qk_error **err);

/* Kill QEMU (SIGKILL), recording why; the next pump reaps it. */
void guest_kill(struct guest *g, enum guest_end why, const char *message);

/*
 * argv as a shell command line, every argument quoted where needed, the
 * console on stdio and the ports on null chardevs so that it runs from a
 * shell (malloc'd).
 */
char *guest_command_line(const struct guest *g);

/* The last lines QEMU itself printed (malloc'd). */
char *guest_qemu_output(const struct guest *g);

#endif
