/* SPDX-License-Identifier: MIT */
/*
 * qk_run(): spec in, supervised VM out. The supervision itself is
 * qk_vm_supervise()'s; what this adds runs inside its ready callback, in
 * the foreground: one loop that serves QEMU through qk_vm_wait() and is
 * interrupted (an epoll fd as the wait's interrupt_fd) by what only a run
 * cares about: the user's input, stop signals, and a panic seen on the
 * console. The watchdog, panic grace and timeout are the wait's deadline.
 */
#include <qkit/run.h>
#include <qkit/console.h>
#include <qkit/kernel.h>
#include <qkit/qmp.h>
#include <qkit/state.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "term.h"
#include "util.h"
#include "watch.h"

#define TAIL_LINES 20

struct run {
	const qk_run_options *o;
	qk_run_result *res;
	qk_console *console;
	int wake_fd; /* an eventfd: the console saw something the loop must act on */

	int64_t started_ms;
	long long timeout_s;  /* the spec's timeout, 0 for none */
	int64_t deadline_ms;  /* when it passes, once QEMU runs; -1 for none */
	int boot_timeout_ms;  /* as asked: 0 default, < 0 off */
	struct watch watch;   /* the boot watchdog (armed once QEMU runs) and panic detector */

	bool forced;          /* qkit ended the run: end says why */
	qk_run_end end;
	int stop_signal;
	qk_error *loop_err;
};

static void wake(struct run *r)
{
	uint64_t one = 1;
	if (write(r->wake_fd, &one, sizeof(one)) < 0)
		log_debug("run: waking the loop: %s", strerror(errno));
}

static void on_console(const char *data, size_t len, void *userdata)
{
	struct run *r = userdata;
	qk_console_feed(r->console, data, len, NULL);
	if (watch_feed(&r->watch, data, len, monotonic_now_ms())) {
		if (r->watch.in_panic)
			log_debug("run: the guest kernel panicked; stopping the VM within %d ms",
				  WATCH_PANIC_GRACE_MS);
		wake(r);
	}
	if (r->o->console_fn)
		r->o->console_fn(data, len, r->o->console_userdata);
}

/* What qkit itself stops: the guest is hung or dead, the power button would only cost time. */
static void stop_now(struct run *r, qk_vm *vm, qk_run_end why)
{
	qk_vm_stop_options s = r->o->stop;
	s.powerdown_timeout_ms = -1;
	r->forced = true;
	r->end = why;
	qk_vm_stop(vm, &s, NULL, &r->loop_err);
}

/* powerdown_ms > 0 replaces the ladder's first wait (qkit stop --timeout). */
static void stop_ladder(struct run *r, qk_vm *vm, int sig, int powerdown_ms)
{
	qk_vm_stop_options s = r->o->stop;
	if (powerdown_ms > 0)
		s.powerdown_timeout_ms = powerdown_ms;
	r->forced = true;
	r->end = QK_RUN_STOPPED;
	r->stop_signal = sig;
	log_debug("run: %s: running the stop ladder", sig ? strsignal(sig) : "escape key");
	qk_vm_stop(vm, &s, NULL, &r->loop_err);
}

/* The user's keys to the console. Returns 1 when they asked to stop (the escape, then q). */
static int forward_input(struct run *r, qk_vm *vm, const char *in, size_t len,
			 struct term_escape *esc)
{
	char out[2 * 4096];
	size_t n;
	bool quit = term_escape_filter(esc, in, len, out, &n);
	qk_error *e = NULL;
	if (n && qk_vm_console_write(vm, out, n, &e) < 0)
		log_debug("run: input dropped: %s", qk_error_message(e));
	qk_error_free(e);
	return quit ? 1 : 0;
}

static int min_wait(int a, int64_t until_ms)
{
	int64_t left = until_ms - monotonic_now_ms();
	int b = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
	return a < 0 || b < a ? b : a;
}

static int next_wait(const struct run *r, qk_vm *vm)
{
	int t = -1;
	if (r->deadline_ms >= 0)
		t = min_wait(t, r->deadline_ms);
	int64_t w = watch_next_deadline(&r->watch);
	if (w >= 0)
		t = min_wait(t, w);
	return t;
}

/* A deadline passed: act on the one that did. Returns true when the run is over. */
static bool deadline_passed(struct run *r, qk_vm *vm)
{
	int64_t now = monotonic_now_ms();
	enum watch_verdict v = watch_check(&r->watch, now);
	if (v == WATCH_PANICKED)
		stop_now(r, vm, QK_RUN_PANICKED);
	else if (r->deadline_ms >= 0 && now >= r->deadline_ms)
		stop_now(r, vm, QK_RUN_TIMED_OUT);
	else if (v == WATCH_SILENT)
		stop_now(r, vm, QK_RUN_WATCHDOG);
	else
		return false;
	return true;
}

static int watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The foreground loop, run as qk_vm_supervise()'s ready callback. */
static void serve(qk_vm *vm, void *userdata)
{
	struct run *r = userdata;
	r->started_ms = monotonic_now_ms();
	r->deadline_ms = r->timeout_s > 0 ? r->started_ms + r->timeout_s * 1000 : -1;

	bool enabled = false, present = false;
	qk_error *e = NULL;
	if (qk_vm_qmp(vm) && qk_qmp_query_kvm(qk_vm_qmp(vm), &enabled, &present, &e) == 0)
		r->res->kvm = enabled;
	qk_error_free(e);
	/* Armed now that the accelerator is known; what the console had before counts. */
	r->watch.boot_timeout_ms = watch_boot_timeout(r->boot_timeout_ms, r->res->kvm);
	r->watch.kvm = r->res->kvm;
	r->watch.started_ms = r->started_ms;

	/* supervise blocked these; the ladder is ours to run while we serve. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	_cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0 || watch(epfd, sfd) < 0 || watch(epfd, r->wake_fd) < 0) {
		qk_error_set(&r->loop_err, QK_ERR_SYSTEM, errno, "run: setting up the event loop: %s",
			     strerror(errno));
		stop_now(r, vm, QK_RUN_STOPPED);
		return;
	}
	int in_fd = r->o->input_fd;
	if (in_fd >= 0 && watch(epfd, in_fd) < 0) {
		/* /dev/null and regular files cannot be polled; there is nothing to wait for. */
		log_debug("run: not forwarding input fd %d: %s", in_fd, strerror(errno));
		in_fd = -1;
	}
	struct term_escape esc = { .key = r->o->escape_char };

	for (;;) {
		qk_vm_wait_options w = QK_VM_WAIT_OPTIONS_INIT;
		w.timeout_ms = next_wait(r, vm);
		w.interrupt_fd = epfd;
		qk_vm_exit ex;
		int ret = qk_vm_wait(vm, &w, &ex, &e);
		if (ret == 0)
			return; /* QEMU ended by itself */
		if (ret == -ETIMEDOUT) {
			qk_error_free(e);
			e = NULL;
			if (deadline_passed(r, vm))
				return;
			continue;
		}
		if (ret != -EINTR) {
			qk_error_propagate(&r->loop_err, &e);
			stop_now(r, vm, QK_RUN_STOPPED);
			return;
		}
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, 0);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					/* As qk_vm_supervise(): qk_vm_stop_by_name() queues its timeout. */
					bool queued = si.ssi_signo == SIGTERM && si.ssi_code == SI_QUEUE;
					stop_ladder(r, vm, (int)si.ssi_signo, queued ? si.ssi_int : 0);
					return;
				}
			} else if (fd == r->wake_fd) {
				uint64_t v;
				if (read(r->wake_fd, &v, sizeof(v)) < 0)
					log_debug("run: eventfd: %s", strerror(errno));
			} else if (fd == in_fd) {
				char buf[4096];
				ssize_t len = read(in_fd, buf, sizeof(buf));
				if (len < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				if (len <= 0) {
					/* Input ended: the guest keeps running, its console still shown. */
					epoll_ctl(epfd, EPOLL_CTL_DEL, in_fd, NULL);
					in_fd = -1;
				} else if (forward_input(r, vm, buf, (size_t)len, &esc)) {
					stop_ladder(r, vm, 0, 0);
					return;
				}
			}
		}
	}
}

static char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *describe(const struct run *r, qk_vm *vm, const qk_vm_exit *ex)
{
	char *s = NULL;
	int n = -1;
	switch (r->res->end) {
	case QK_RUN_PANICKED:
		return strdup("guest kernel panic");
	case QK_RUN_WATCHDOG:
		return watch_silent_message(&r->watch);
	case QK_RUN_TIMED_OUT:
		n = asprintf(&s, "timeout: the VM still ran after %lld s; stopped it", r->timeout_s);
		break;
	case QK_RUN_STOPPED:
		if (r->stop_signal)
			n = asprintf(&s, "stopped on %s (signal %d)", strsignal(r->stop_signal),
				     r->stop_signal);
		else
			n = asprintf(&s, "stopped on the escape key");
		break;
	default:
		return qk_vm_exit_describe(vm, ex);
	}
	return n < 0 ? NULL : s;
}

/* qk_vm_supervise()'s ended callback: QEMU is gone, its last words still here. */
static void ended(qk_vm *vm, const qk_vm_exit *ex, void *userdata)
{
	struct run *r = userdata;
	qk_run_result *res = r->res;
	qk_console_close(r->console);
	res->exit_status = ex->exit_status;
	if (r->forced) {
		res->end = r->end;
	} else {
		switch (ex->end) {
		case QK_VM_POWERED_OFF:
			/* panic=-1 with -no-reboot: QEMU exits 0 right after the report. */
			res->end = r->watch.in_panic ? QK_RUN_PANICKED : QK_RUN_POWERED_OFF;
			break;
		case QK_VM_PANICKED:
			res->end = QK_RUN_PANICKED;
			break;
		case QK_VM_TIMED_OUT:
			res->end = QK_RUN_TIMED_OUT;
			break;
		case QK_VM_SIGNALED:
			res->end = QK_RUN_QEMU_SIGNALED;
			break;
		default:
			res->end = QK_RUN_QEMU_FAILED;
			break;
		}
	}
	if (res->end == QK_RUN_STOPPED)
		res->signal = r->stop_signal;
	else if (res->end == QK_RUN_QEMU_SIGNALED)
		res->signal = ex->signal;
	res->message = describe(r, vm, ex);
	res->console_tail = qk_console_tail(r->console, TAIL_LINES);
	res->qemu_output = qk_vm_output_tail(vm, TAIL_LINES);
	if (res->end == QK_RUN_PANICKED)
		res->panic_lines = watch_panic_lines(&r->watch)
					   ? strdup_or_null(watch_panic_lines(&r->watch))
					   : qk_console_tail(r->console, 10);
}

void qk_run_result_clear(qk_run_result *res)
{
	if (!res)
		return;
	free(res->message);
	free(res->panic_lines);
	free(res->console_tail);
	free(res->qemu_output);
	*res = (qk_run_result)QK_RUN_RESULT_INIT;
}

const char *qk_run_end_string(qk_run_end end)
{
	switch (end) {
	case QK_RUN_POWERED_OFF: return "powered off";
	case QK_RUN_QEMU_FAILED: return "QEMU failed";
	case QK_RUN_QEMU_SIGNALED: return "QEMU killed by a signal";
	case QK_RUN_PANICKED: return "guest kernel panic";
	case QK_RUN_WATCHDOG: return "boot watchdog";
	case QK_RUN_TIMED_OUT: return "timed out";
	case QK_RUN_STOPPED: return "stopped";
	case QK_RUN_DETACHED: return "detached";
	}
	return "unknown";
}

static const char *json_str(const json_t *o, const char *section, const char *key)
{
	return json_string_value(json_object_get(section ? json_object_get(o, section) : o, key));
}

int qk_run_fast_boot(qk_spec *spec, qk_error **err)
{
	json_t *n = NULL;
	int ret = qk_spec_to_json(spec, &n, err);
	if (ret < 0)
		return ret;
	const char *arch = json_str(n, NULL, "arch");
	const char *machine = json_str(n, "machine", "type");
	const char *kernel = json_str(n, "boot", "kernel");
	if (!kernel || !arch || (strcmp(arch, "x86_64") != 0 && strcmp(arch, "i386") != 0) ||
	    (machine && strcmp(machine, "microvm") == 0)) {
		json_decref(n);
		return 0;
	}
	qk_kernel_fast_boot_result fb = { 0 };
	qk_error *e = NULL;
	if (qk_kernel_fast_boot(kernel, NULL, &fb, &e) < 0) {
		/* QEMU says it better, in its own words, when it cannot either. */
		log_debug("run: no fast boot: %s", qk_error_message(e));
		qk_error_free(e);
	} else if (fb.pvh) {
		log_debug("run: booting %s through its PVH vmlinux %s", kernel, fb.path);
		ret = qk_spec_set_string(spec, "boot.kernel", fb.path, err);
	} else {
		log_debug("run: booting %s as it is: %s", kernel, fb.reason ? fb.reason : "no PVH entry");
	}
	qk_kernel_fast_boot_result_clear(&fb);
	json_decref(n);
	return ret;
}

int qk_run(qk_spec *spec, const qk_run_options *opts, qk_run_result *res, qk_error **err)
{
	static const qk_run_options defaults = QK_RUN_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	if (opts->detach && !opts->name)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "run: a detached VM needs a name");
	if (opts->name && !qk_vm_name_valid(opts->name, err))
		return -EINVAL;

	int ret = qk_spec_validate(spec, err);
	if (ret < 0)
		return ret;
	if (opts->fast_boot && (ret = qk_run_fast_boot(spec, err)) < 0)
		return ret;
	_cleanup_(json_decrefp) json_t *normal = NULL;
	if ((ret = qk_spec_to_json(spec, &normal, err)) < 0)
		return ret;
	const char *console_type = json_str(normal, "console", "type");
	bool console = !console_type || strcmp(console_type, "none") != 0;
	bool paused = json_is_true(json_object_get(json_object_get(normal, "boot"), "paused"));

	qk_render_opts ropts = QK_RENDER_OPTS_INIT;
	if (console)
		ropts.console_chardev = QK_VM_CONSOLE_CHARDEV;
	_cleanup_(qk_argv_freep) char **argv = NULL;
	if ((ret = qk_spec_render(spec, &ropts, &argv, err)) < 0)
		return ret;

	qk_vm_supervise_options sopts = QK_VM_SUPERVISE_OPTIONS_INIT;
	sopts.name = opts->name;
	sopts.spec = normal;
	sopts.stop = opts->stop;
	qk_vm_options vopts = QK_VM_OPTIONS_INIT;
	vopts.console = console;
	long long timeout_s = qk_spec_timeout(spec);

	if (opts->detach) {
		sopts.timeout_ms = timeout_s > 0 ? (int)(timeout_s * 1000) : -1;
		pid_t sup = 0;
		if ((ret = qk_vm_detach(&sopts, argv, &vopts, &sup, err)) < 0)
			return ret;
		res->end = QK_RUN_DETACHED;
		res->supervisor_pid = sup;
		return 0;
	}

	struct run r = {
		.o = opts,
		.res = res,
		.wake_fd = -1,
		.timeout_s = timeout_s,
		.deadline_ms = -1,
		.boot_timeout_ms = console && !paused ? opts->boot_timeout_ms : -1,
	};
	watch_init(&r.watch, 0, false, 0);
	qk_console_options copts = QK_CONSOLE_OPTIONS_INIT;
	if ((ret = qk_console_new(&r.console, &copts, err)) < 0)
		return ret;
	r.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r.wake_fd < 0) {
		qk_console_free(r.console);
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "eventfd: %s", strerror(errno));
	}
	/* ^C in a cooked terminal reaches qkit alone, which runs the ladder. */
	vopts.new_process_group = true;
	vopts.console_fn = on_console;
	vopts.console_userdata = &r;
	sopts.ready = serve;
	sopts.ended = ended;
	sopts.userdata = &r;
	qk_vm_exit ex;
	ret = qk_vm_supervise(&sopts, argv, &vopts, &ex, err);
	if (ret >= 0 && r.loop_err)
		log_warning("run: %s", qk_error_message(r.loop_err));
	qk_error_free(r.loop_err);
	close(r.wake_fd);
	qk_console_free(r.console);
	watch_free(&r.watch);
	return ret < 0 ? ret : 0;
}
