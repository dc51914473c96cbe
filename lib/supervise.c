/* SPDX-License-Identifier: MIT */
/*
 * Supervisors: the process that owns a QEMU for its whole life, in the
 * foreground (qkit start) or detached in the background. A detached
 * supervisor is a double-forked qkit process rather than QEMU's own
 * -daemonize, because QEMU daemonized has no parent left to reap it, to
 * kill it when things go wrong, or to drain its console.
 */
#include <qkit/vm.h>
#include <qkit/state.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "process.h"
#include "util.h"

struct ready_ctx {
	qk_state_reservation *res;
	const qk_vm_supervise_options *sopts;
	char *const *argv;
	const char *qmp_socket;
	const char *console_socket;
	const char *log_path;
	const char *console_log;
	int publish_result;
	qk_error *publish_err;
};

static int publish(struct ready_ctx *ctx, qk_vm *vm)
{
	json_t *argv = json_array();
	for (char *const *a = ctx->argv; argv && *a; a++)
		json_array_append_new(argv, json_string(*a));
	json_t *st = json_pack("{s:i, s:i, s:s, s:o, s:I}", "pid", (int)qk_vm_pid(vm),
			       "supervisor_pid", (int)getpid(), "qmp_socket", ctx->qmp_socket,
			       "argv", argv, "started", (json_int_t)time(NULL));
	if (!st)
		return qk_error_set(&ctx->publish_err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (ctx->console_socket)
		json_object_set_new(st, "console_socket", json_string(ctx->console_socket));
	if (ctx->log_path)
		json_object_set_new(st, "log", json_string(ctx->log_path));
	if (ctx->console_log)
		json_object_set_new(st, "console_log", json_string(ctx->console_log));
	/* So that `qkit stop` knows how long this supervisor's ladder may take. */
	const qk_vm_stop_options *so = &ctx->sopts->stop;
	json_object_set_new(st, "stop", json_pack("{s:i, s:i, s:i}", "powerdown_ms",
						  so->powerdown_timeout_ms, "quit_ms",
						  so->quit_timeout_ms, "term_ms", so->term_timeout_ms));
	if (ctx->sopts->spec)
		json_object_set(st, "spec", (json_t *)ctx->sopts->spec);
	int r = qk_state_reservation_publish(ctx->res, st, &ctx->publish_err);
	json_decref(st);
	return r;
}

static int block_stop_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, old) != 0)
		return -EINVAL;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The core of qk_vm_supervise(), with the name already reserved (or none). */
static int supervise_reserved(qk_state_reservation *res, const qk_vm_supervise_options *sopts,
			      char *const *argv, const qk_vm_options *opts_in, qk_vm_exit *out,
			      qk_error **err)
{
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	if (opts_in)
		opts = *opts_in;
	/* A supervised QEMU never outlives its supervisor: no orphans. */
	opts.die_with_supervisor = true;
	_cleanup_free_ char *qmp_path = NULL, *con_path = NULL, *log_path = NULL, *con_log = NULL;
	if (res) {
		const char *dir = qk_state_reservation_dir(res);
		if ((!opts.qmp_socket && asprintf(&qmp_path, "%s/qmp.sock", dir) < 0) ||
		    (opts.console && !opts.console_socket &&
		     asprintf(&con_path, "%s/console.sock", dir) < 0) ||
		    (!opts.log_path && asprintf(&log_path, "%s/qemu.log", dir) < 0) ||
		    (opts.console && !opts.console_log_path &&
		     asprintf(&con_log, "%s/console.log", dir) < 0))
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		if (qmp_path)
			opts.qmp_socket = qmp_path;
		if (con_path)
			opts.console_socket = con_path;
		if (log_path)
			opts.log_path = log_path;
		if (con_log)
			opts.console_log_path = con_log;
	}

	sigset_t old_mask;
	_cleanup_close_ int sfd = block_stop_signals(&old_mask);
	if (sfd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "signalfd: %s", strerror(errno));

	qk_vm *vm = NULL;
	int r = qk_vm_launch(&vm, argv, &opts, err);
	if (r >= 0 && res) {
		struct ready_ctx ctx = {
			.res = res, .sopts = sopts, .argv = argv, .qmp_socket = opts.qmp_socket,
			.console_socket = opts.console ? opts.console_socket : NULL,
			.log_path = opts.log_path,
			.console_log = opts.console ? opts.console_log_path : NULL,
		};
		r = publish(&ctx, vm);
		qk_error_propagate(err, &ctx.publish_err);
	}
	if (r >= 0) {
		if (sopts->ready)
			sopts->ready(vm, sopts->userdata);
		qk_vm_wait_options w = QK_VM_WAIT_OPTIONS_INIT;
		w.timeout_ms = sopts->timeout_ms;
		w.kill_on_timeout = true;
		w.interrupt_fd = sfd;
		r = qk_vm_wait(vm, &w, out, err);
		if (r == -EINTR) {
			struct signalfd_siginfo si = { 0 };
			ssize_t n = read(sfd, &si, sizeof(si));
			qk_vm_stop_options stop = sopts->stop;
			if (n == (ssize_t)sizeof(si) && si.ssi_signo == SIGTERM &&
			    si.ssi_code == SI_QUEUE && si.ssi_int > 0)
				stop.powerdown_timeout_ms = si.ssi_int;
			log_debug("signal %d (%s): running the stop ladder", (int)si.ssi_signo,
				  strsignal((int)si.ssi_signo));
			r = qk_vm_stop(vm, &stop, out, err);
		}
		if (r >= 0 && sopts->ended)
			sopts->ended(vm, out, sopts->userdata);
	}
	qk_vm_free(vm);
	/* A second ^C during the ladder must not kill the caller once unblocked. */
	struct signalfd_siginfo extra;
	while (read(sfd, &extra, sizeof(extra)) == (ssize_t)sizeof(extra))
		log_debug("signal %d during the stop ladder: ignored", (int)extra.ssi_signo);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return r;
}

int qk_vm_supervise(const qk_vm_supervise_options *sopts, char *const *argv,
		    const qk_vm_options *opts, qk_vm_exit *out, qk_error **err)
{
	static const qk_vm_supervise_options defaults = QK_VM_SUPERVISE_OPTIONS_INIT;
	if (!sopts)
		sopts = &defaults;
	qk_state_reservation *res = NULL;
	if (sopts->name) {
		int r = qk_state_reserve(&res, sopts->name, err);
		if (r < 0)
			return r;
	}
	int r = supervise_reserved(res, sopts, argv, opts, out, err);
	qk_state_reservation_release(res, true);
	return r;
}

/*
 * The detached supervisor tells its starter how launching went through a
 * pipe: 'K' and its pid, or 'E', the error kind and the message.
 */
struct detach_ctx {
	int ready_fd;
	const qk_vm_supervise_options *caller;
};

static void detached_ready(qk_vm *vm, void *userdata)
{
	struct detach_ctx *ctx = userdata;
	int pid = (int)getpid();
	char msg[1 + sizeof(pid)];
	msg[0] = 'K';
	memcpy(msg + 1, &pid, sizeof(pid));
	/* Nobody to tell if this fails: the starter then reports the supervisor died. */
	(void)fd_write_all(ctx->ready_fd, msg, sizeof(msg));
	close(ctx->ready_fd);
	ctx->ready_fd = -1;
	if (ctx->caller->ready)
		ctx->caller->ready(vm, ctx->caller->userdata);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/*
 * A daemon holds nothing its starter happened to leave open (a pipe the
 * starter's parent waits on to end, a listening socket, a lock): only
 * stdio, the ready pipe, the state lock and the fds meant for QEMU stay.
 */
static void close_inherited(int ready_fd, int lock_fd, const qk_vm_options *opts)
{
	size_t n_fds = opts ? opts->n_fds : 0;
	int keep[n_fds + 3];
	size_t n = 0;
	keep[n++] = ready_fd;
	keep[n++] = lock_fd;
	for (size_t i = 0; i < n_fds; i++)
		keep[n++] = opts->fds[i];
	qsort(keep, n, sizeof(int), cmp_int);
	unsigned first = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)first)
			continue;
		if ((unsigned)keep[i] > first)
			close_range(first, (unsigned)keep[i] - 1, 0);
		first = (unsigned)keep[i] + 1;
	}
	close_range(first, ~0U, 0);
}

static __attribute__((noreturn)) void run_detached(qk_state_reservation *res, int ready_fd,
						   const qk_vm_supervise_options *sopts,
						   char *const *argv, const qk_vm_options *opts)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}
	close_inherited(ready_fd, qk_state_reservation_fd(res), opts);
	struct detach_ctx ctx = { .ready_fd = ready_fd, .caller = sopts };
	qk_vm_supervise_options mine = *sopts;
	mine.ready = detached_ready;
	mine.userdata = &ctx;
	qk_vm_exit ex;
	qk_error *err = NULL;
	int r = supervise_reserved(res, &mine, argv, opts, &ex, &err);
	qk_state_reservation_release(res, true);
	if (ctx.ready_fd >= 0) { /* launching failed: say why */
		const char *msg = err ? qk_error_message(err) : "the supervisor failed";
		char head[2] = { 'E', (char)(err ? qk_error_get_kind(err) : QK_ERR_SYSTEM) };
		if (fd_write_all(ctx.ready_fd, head, 2) == 0)
			(void)fd_write_all(ctx.ready_fd, msg, strlen(msg));
	}
	qk_error_free(err);
	_exit(r < 0 ? 1 : 0);
}

int qk_vm_detach(const qk_vm_supervise_options *sopts, char *const *argv,
		 const qk_vm_options *opts, pid_t *supervisor_pid, qk_error **err)
{
	if (!sopts || !sopts->name)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "detach: a detached VM needs a name");
	qk_state_reservation *res = NULL;
	int r = qk_state_reserve(&res, sopts->name, err);
	if (r < 0)
		return r;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = qk_error_set(err, QK_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
		qk_state_reservation_release(res, true);
		return r;
	}
	pid_t mid = fork();
	if (mid < 0) {
		r = qk_error_set(err, QK_ERR_SYSTEM, errno, "fork: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		qk_state_reservation_release(res, true);
		return r;
	}
	if (mid == 0) {
		close(ready[0]);
		if (setsid() < 0)
			_exit(1);
		pid_t sup = fork();
		if (sup < 0)
			_exit(1);
		if (sup > 0)
			_exit(0);
		run_detached(res, ready[1], sopts, argv, opts);
	}
	close(ready[1]);
	/* The supervisor holds the lock now (the same open file); we let go. */
	qk_state_reservation_release(res, false);
	int status;
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;

	/*
	 * The supervisor writes one message and then closes its end (or exits),
	 * so read to end of file. A read error or a message past the limit
	 * leaves what came before it, which is judged like any other.
	 */
	struct buf msg = BUF_INIT;
	(void)fd_read_all(ready[0], 4095, &msg);
	close(ready[0]);
	int pid;
	if (msg.len >= 1 + sizeof(pid) && msg.data[0] == 'K') {
		memcpy(&pid, msg.data + 1, sizeof(pid));
		buf_free(&msg);
		if (supervisor_pid)
			*supervisor_pid = (pid_t)pid;
		log_debug("VM \"%s\": detached supervisor is pid %d", sopts->name, pid);
		return 0;
	}
	if (msg.len >= 2 && msg.data[0] == 'E') {
		r = qk_error_set(err, (qk_error_kind)msg.data[1], ECHILD, "%s", msg.data + 2);
		buf_free(&msg);
		return r;
	}
	buf_free(&msg);
	return qk_error_set(err, QK_ERR_SYSTEM, ECHILD,
			    "VM \"%s\": the supervisor died before QEMU was running", sopts->name);
}

/* Wait up to timeout_ms for the process behind pidfd to exit: 1 if it did. */
static int wait_pidfd(int pidfd, int timeout_ms)
{
	struct pollfd p = { pidfd, POLLIN, 0 };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* Kill QEMU, but only if that pid is still the supervisor's child. */
static void kill_qemu_of(const qk_vm_state *st)
{
	pid_t pid = qk_vm_state_pid(st);
	_cleanup_close_ int pfd = pidfd_open(pid, 0);
	if (pfd < 0)
		return;
	if (process_parent_of(pid) != qk_vm_state_supervisor_pid(st))
		return;
	pidfd_send_signal(pfd, SIGKILL, NULL, 0);
}

static void state_freep(qk_vm_state **p)
{
	qk_vm_state_free(*p);
}

/* After the supervisor is gone: make sure its state went with it. */
static void forget_stale(const char *name)
{
	qk_vm_state *st = NULL;
	if (qk_state_lookup(&st, name, NULL) == 0)
		qk_vm_state_free(st);
}

/* How long the supervisor's ladder may take (as it recorded it), plus slack. */
static int ladder_budget(const qk_vm_state *st, int powerdown_ms)
{
	qk_vm_stop_options d = QK_VM_STOP_OPTIONS_INIT;
	json_t *stop = json_object_get(qk_vm_state_json(st), "stop");
	json_int_t p = d.powerdown_timeout_ms, q = d.quit_timeout_ms, t = d.term_timeout_ms;
	if (stop)
		json_unpack(stop, "{s?I, s?I, s?I}", "powerdown_ms", &p, "quit_ms", &q, "term_ms", &t);
	if (powerdown_ms > 0)
		p = powerdown_ms;
	json_int_t total = (p > 0 ? p : 0) + (q > 0 ? q : 0) + (t > 0 ? t : 0) + 5000;
	return total > INT_MAX ? INT_MAX : (int)total;
}

/*
 * The state of the VM called name and a pidfd of its supervisor: 1, or 0
 * (and the state forgotten) when the supervisor is gone in the meantime.
 */
static int find_supervisor(const char *name, qk_vm_state **st, int *pfd, qk_error **err)
{
	int r = qk_state_lookup(st, name, err);
	if (r < 0)
		return r;
	*pfd = pidfd_open(qk_vm_state_supervisor_pid(*st), 0);
	if (*pfd < 0) {
		forget_stale(name);
		return 0;
	}
	return 1;
}

int qk_vm_stop_by_name(const char *name, int powerdown_timeout_ms, qk_error **err)
{
	_cleanup_(state_freep) qk_vm_state *st = NULL;
	_cleanup_close_ int pfd = -1;
	int r = find_supervisor(name, &st, &pfd, err);
	if (r <= 0)
		return r;
	pid_t spid = qk_vm_state_supervisor_pid(st);
	union sigval v = { .sival_int = powerdown_timeout_ms > 0 ? powerdown_timeout_ms : 0 };
	if (sigqueue(spid, SIGTERM, v) < 0 && errno != ESRCH)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "VM \"%s\": signalling supervisor %d: %s",
				    name, (int)spid, strerror(errno));
	int budget = ladder_budget(st, powerdown_timeout_ms);
	log_debug("VM \"%s\": asked supervisor %d to stop; waiting up to %d ms", name, (int)spid,
		  budget);
	if (!wait_pidfd(pfd, budget)) {
		log_warning("VM \"%s\": supervisor %d did not finish the stop ladder; killing it", name,
			    (int)spid);
		kill_qemu_of(st);
		pidfd_send_signal(pfd, SIGKILL, NULL, 0);
		wait_pidfd(pfd, 5000);
	}
	forget_stale(name);
	return 0;
}

int qk_vm_kill_by_name(const char *name, qk_error **err)
{
	_cleanup_(state_freep) qk_vm_state *st = NULL;
	_cleanup_close_ int pfd = -1;
	int r = find_supervisor(name, &st, &pfd, err);
	if (r <= 0)
		return r;
	log_debug("VM \"%s\": SIGKILL to QEMU (pid %d)", name, (int)qk_vm_state_pid(st));
	kill_qemu_of(st);
	if (!wait_pidfd(pfd, 5000)) {
		pidfd_send_signal(pfd, SIGKILL, NULL, 0);
		wait_pidfd(pfd, 5000);
	}
	forget_stale(name);
	return 0;
}
