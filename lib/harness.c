/* SPDX-License-Identifier: MIT */
#include <qkit/harness.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkit/kernel.h>

#include "buf.h"
#include "console-private.h"
#include "harness-private.h"
#include "log.h"
#include "util.h"


/* The event channel's port name, the same as qkit exec's. */
#define EVENT_PORT "qkit.event"

struct qk_harness {
	struct guest g;
	struct buf event_line; /* a partial line from the event port */
	json_t *events;        /* received, not yet taken: an array */
	char *bad_event;       /* the first line that was not a JSON object */
};

static void on_event_data(const char *data, size_t len, void *userdata)
{
	qk_harness *h = userdata;
	buf_append(&h->event_line, data, len);
	char *nl;
	while (h->event_line.data && (nl = memchr(h->event_line.data, '\n', h->event_line.len))) {
		size_t n = (size_t)(nl - h->event_line.data);
		json_t *ev = json_loadb(h->event_line.data, n, 0, NULL);
		if (json_is_object(ev))
			json_array_append(h->events, ev);
		else if (!h->bad_event)
			h->bad_event = strndup(h->event_line.data, n);
		json_decref(ev);
		memmove(h->event_line.data, nl + 1, h->event_line.len - n - 1);
		h->event_line.len -= n + 1;
		h->event_line.data[h->event_line.len] = '\0';
	}
}

const char *qk_harness_end_string(qk_harness_end end)
{
	switch (end) {
	case QK_HARNESS_RUNNING:
		return "running";
	case QK_HARNESS_POWERED_OFF:
		return "guest powered off";
	case QK_HARNESS_QEMU_FAILED:
		return "QEMU failed";
	case QK_HARNESS_PANICKED:
		return "guest kernel panic";
	case QK_HARNESS_WATCHDOG:
		return "boot watchdog: no console output";
	case QK_HARNESS_TIMED_OUT:
		return "timed out";
	}
	return "unknown";
}

static qk_harness_end end_of(const struct guest *g)
{
	switch (g->end) {
	case GUEST_RUNNING:
		return QK_HARNESS_RUNNING;
	case GUEST_POWERED_OFF:
		return QK_HARNESS_POWERED_OFF;
	case GUEST_QEMU_FAILED:
		return QK_HARNESS_QEMU_FAILED;
	case GUEST_PANICKED:
		return QK_HARNESS_PANICKED;
	case GUEST_WATCHDOG:
		return QK_HARNESS_WATCHDOG;
	case GUEST_TIMED_OUT:
		return QK_HARNESS_TIMED_OUT;
	case GUEST_STOPPED: /* only a tty port's escape key stops a guest; the harness has none */
		return QK_HARNESS_QEMU_FAILED;
	}
	return QK_HARNESS_QEMU_FAILED;
}

void qk_harness_free(qk_harness *h)
{
	if (!h)
		return;
	guest_destroy(&h->g);
	buf_free(&h->event_line);
	json_decref(h->events);
	free(h->bad_event);
	free(h);
}

static int build(qk_harness *h, const qk_harness_options *o, qk_error **err)
{
	struct guest *g = &h->g;
	const char *accel = o->accel ? o->accel : "tcg";
	bool kvm = strcmp(accel, "kvm") == 0;
	if (!kvm && strcmp(accel, "tcg") != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "accel: \"%s\" is not one of tcg, kvm",
				    accel);

	_cleanup_free_ char *kernel = NULL;
	int r;
	if (o->kernel)
		kernel = strdup(o->kernel);
	else if ((r = qk_exec_default_kernel(&kernel, err)) < 0)
		return r;
	if (!kernel)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (access(kernel, R_OK) < 0)
		return qk_error_set(err, QK_ERR_NOT_FOUND, errno, "kernel: \"%s\": %s", kernel,
				    strerror(errno));
	_cleanup_free_ char *boot = NULL;
	if (o->fast_boot) {
		qk_error *ferr = NULL;
		if (qk_kernel_fast_boot_path(kernel, &boot, &ferr) < 0) {
			log_debug("fast boot: %s", qk_error_message(ferr));
			qk_error_free(ferr);
		}
	}

	g->kvm = kvm;
	g->boot_timeout_ms = o->boot_timeout_ms;
	r = guest_add_console(g, o->name ? o->name : "vm0", o->console_log, o->on_console_line,
			      o->userdata, err);
	if (r < 0)
		return r;
	if (o->events && (r = guest_add_port(g, EVENT_PORT, on_event_data, h, err)) < 0)
		return r;
	_cleanup_free_ char *append = NULL;
	if (asprintf(&append, "panic=-1%s%s", o->append ? " " : "", o->append ? o->append : "") < 0) {
		append = NULL;
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	struct guest_base base = {
		.arch = "x86_64", .accel = accel, .mem_mb = o->mem_mb, .cpus = o->cpus,
		.kernel = boot ? boot : kernel, .initrd = o->initrd, .append = append,
	};
	_cleanup_(qk_spec_freep) qk_spec *spec = NULL;
	if ((r = guest_spec(g, &base, &spec, err)) < 0)
		return r;
	for (size_t i = 0; i < o->n_extra_args; i++)
		if ((r = qk_spec_append_string(spec, "extra-args", o->extra_args[i], err)) < 0)
			return r;
	return guest_render(g, spec, err);
}

int qk_harness_start(qk_harness **out, const qk_harness_options *opts, qk_error **err)
{
	static const qk_harness_options defaults = QK_HARNESS_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	qk_harness *h = calloc(1, sizeof(*h));
	if (!h)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	guest_init(&h->g);
	if (!(h->events = json_array())) {
		free(h);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	int r = build(h, opts, err);
	if (r == 0)
		r = guest_launch(&h->g, err);
	if (r < 0) {
		qk_harness_free(h);
		return r;
	}
	*out = h;
	return 0;
}

/* The error for "QEMU is gone", saying how it ended. */
static void explain_end(qk_harness *h, qk_error **err)
{
	struct guest *g = &h->g;
	if (g->end == GUEST_PANICKED) {
		const char *p = watch_panic_lines(&g->watch) ? watch_panic_lines(&g->watch) : "no report";
		int len = (int)strcspn(p, "\n");
		qk_error_prepend(err, "guest kernel panic (%.*s): ", len, p);
	}
	else if (g->end_message)
		qk_error_prepend(err, "%s: ", g->end_message);
	else
		qk_error_prepend(err, "%s: ", qk_harness_end_string(end_of(g)));
}

/*
 * The console closes when QEMU exits, a moment before the exit can be
 * reaped: serve it until then (killing a QEMU that lingers), so errors say
 * how it ended.
 */
static int reap(qk_harness *h, qk_error **err)
{
	struct guest *g = &h->g;
	int64_t give_up = monotonic_now_ms() + 5000;
	int r;
	while ((r = guest_pump(g, 100, err)) == 0)
		if (monotonic_now_ms() > give_up)
			guest_kill(g, GUEST_QEMU_FAILED, "QEMU closed the console but did not exit");
	return r < 0 ? r : 0;
}

int qk_harness_expect(qk_harness *h, const char *pattern, qk_console_pattern kind,
		      int timeout_ms, qk_console_match *m, qk_error **err)
{
	struct guest *g = &h->g;
	int64_t deadline = timeout_ms < 0 ? -1 : monotonic_now_ms() + timeout_ms;

	for (;;) {
		qk_error *ferr = NULL;
		int r = qk_console_find(g->console, pattern, kind, m, &ferr);
		if (r == -EPIPE) {
			int e = reap(h, err);
			if (e < 0) {
				qk_error_free(ferr);
				return e;
			}
			explain_end(h, &ferr);
		}
		if (r != 0) {
			qk_error_propagate(err, &ferr);
			return r;
		}
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - monotonic_now_ms();
			if (left <= 0)
				return console_timeout_error(g->console, pattern, timeout_ms, err);
			wait = (int)left;
		}
		if ((r = guest_pump(g, wait, err)) < 0)
			return r;
		/* Once QEMU is gone the console is closed: the next find decides. */
	}
}

int qk_harness_wait_event(qk_harness *h, int timeout_ms, json_t **ev, qk_error **err)
{
	struct guest *g = &h->g;
	int64_t deadline = timeout_ms < 0 ? -1 : monotonic_now_ms() + timeout_ms;

	for (;;) {
		if (json_array_size(h->events) > 0) {
			*ev = json_incref(json_array_get(h->events, 0));
			json_array_remove(h->events, 0);
			return 1;
		}
		if (h->bad_event) {
			/* Reported once; later lines still count. */
			_cleanup_free_ char *line = TAKE_PTR(h->bad_event);
			return qk_error_set(err, QK_ERR_PROTOCOL, EPROTO,
					    "event channel: \"%s\" is not a JSON object", line);
		}
		if (g->qemu.pid <= 0) {
			qk_error_set(err, QK_ERR_EXITED, EPIPE, "no event arrived before the VM ended");
			explain_end(h, err);
			return -EPIPE;
		}
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - monotonic_now_ms();
			if (left <= 0)
				return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
						    "timed out after %.1f s waiting for an event",
						    timeout_ms / 1000.0);
			wait = (int)left;
		}
		int r = guest_pump(g, wait, err);
		if (r < 0)
			return r;
	}
}

int qk_harness_send(qk_harness *h, const char *text, qk_error **err)
{
	if (h->g.console_fd < 0 || h->g.qemu.pid <= 0)
		return qk_error_set(err, QK_ERR_EXITED, EPIPE,
				    "cannot type on the console: the VM has ended (%s)",
				    qk_harness_end_string(end_of(&h->g)));
	return qk_console_send(h->g.console_fd, text, err);
}

int qk_harness_wait(qk_harness *h, int timeout_ms, qk_harness_end *end, qk_error **err)
{
	struct guest *g = &h->g;
	int64_t deadline = timeout_ms < 0 ? -1 : monotonic_now_ms() + timeout_ms;
	int r;

	for (;;) {
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - monotonic_now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		if ((r = guest_pump(g, wait, err)) != 0)
			break;
		if (deadline >= 0 && monotonic_now_ms() >= deadline && g->end == GUEST_RUNNING) {
			char msg[64];
			snprintf(msg, sizeof(msg), "timed out after %.1f s", timeout_ms / 1000.0);
			guest_kill(g, GUEST_TIMED_OUT, msg);
			deadline = -1; /* now only the reap is left */
		}
	}
	if (r < 0)
		return r;
	*end = end_of(g);
	return 0;
}

const char *qk_harness_panic_lines(const qk_harness *h)
{
	return h->g.end == GUEST_PANICKED ? watch_panic_lines(&h->g.watch) : NULL;
}

qk_console *qk_harness_console(qk_harness *h)
{
	return h->g.console;
}

char *qk_harness_report(const qk_harness *h)
{
	struct buf b = BUF_INIT;
	if (!h) {
		buf_puts(&b, "the VM did not start");
		return buf_steal(&b);
	}
	_cleanup_free_ char *cmd = guest_command_line(&h->g);
	_cleanup_free_ char *tail = h->g.console ? qk_console_tail(h->g.console, 20) : NULL;
	_cleanup_free_ char *out = guest_qemu_output(&h->g);
	buf_printf(&b, "QEMU's command line:\n  %s\n", cmd ? cmd : "?");
	if (out && *out)
		buf_printf(&b, "QEMU said:\n  %s\n", out);
	if (!tail || !*tail) {
		buf_puts(&b, "The console printed nothing.\n");
		return buf_steal(&b);
	}
	buf_puts(&b, "The console's last lines:\n");
	for (char *line = tail, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		buf_printf(&b, "  %s\n", line);
	}
	return buf_steal(&b);
}
