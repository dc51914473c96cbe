/* SPDX-License-Identifier: MIT */
/*
 * Supervising one QEMU process. Everything the VM produces (QEMU's output,
 * the console, QMP events, its exit) is served from one poll loop,
 * serve(), which qk_vm_wait() and qk_vm_stop() both run; so a stop ladder
 * keeps draining the console and a wait keeps answering QMP.
 */
#include <qkit/vm.h>
#include <qkit/state.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "process.h"
#include "qmp-proxy.h"
#include "ring.h"
#include "util.h"

#define MAX_CONSOLE_CLIENTS 8
/* Without a pidfd, how often to look for QEMU's exit. */
#define FALLBACK_POLL_MS 20

extern char **environ;

/*
 * An append-only log that rotates: past max bytes it is renamed PATH.1
 * (replacing the previous one) and started afresh, so a VM that runs for
 * months uses at most twice max on disk.
 */
struct logfile {
	int fd;
	char *path;
	off_t size;
	size_t max; /* 0: unbounded */
};

struct qk_vm {
	struct child child;
	char **argv;
	qk_qmp *qmp;
	int out_fd; /* QEMU's stdout+stderr, read end */
	struct logfile log;
	struct ring output;

	int console_fd; /* our end of the console socketpair */
	struct logfile console_log;
	int console_listen_fd;
	char *console_socket;
	int clients[MAX_CONSOLE_CLIENTS];
	size_t n_clients;
	struct ring console;
	qk_vm_console_fn console_fn;
	void *console_userdata;

	char *qmp_socket; /* unlinked on free: we created it */
	int qmp_listen_fd; /* until the proxy serves it */
	struct qmp_proxy *proxy;

	bool ended;
	int status;
	bool panicked;
	bool quit_sent;
	bool killed_for_timeout;
	char shutdown_reason[32];
};

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : monotonic_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* ms until deadline for poll(): -1 for none, at least 0. */
static int ms_until(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - monotonic_now_ns();
	if (left <= 0)
		return 0;
	return (int)((left + 999999) / 1000000);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void log_rotate(struct logfile *l)
{
	_cleanup_free_ char *old = NULL;
	if (asprintf(&old, "%s.1", l->path) < 0 || rename(l->path, old) < 0) {
		log_debug("log %s: cannot rotate (%s): no longer capped", l->path, strerror(errno));
		l->max = 0;
		return;
	}
	int fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		log_debug("log %s: reopening after rotation: %s", l->path, strerror(errno));
		return; /* the rest goes on into PATH.1, through the old fd */
	}
	close(l->fd);
	l->fd = fd;
	l->size = 0;
}

/* No file passes max: what does not fit starts the next one, at a line break if it can. */
static void log_write(struct logfile *l, const char *p, size_t len)
{
	while (l->fd >= 0 && len > 0) {
		size_t room = l->max > (size_t)l->size ? l->max - (size_t)l->size : 0;
		size_t cut = len;
		if (l->max && len > room) {
			const char *nl = room ? memrchr(p, '\n', room) : NULL;
			cut = nl ? (size_t)(nl - p) + 1 : l->size > 0 ? 0 : room;
		}
		/* A failed write (disk full) loses this piece, not the VM: logging goes on. */
		(void)fd_write_all(l->fd, p, cut);
		l->size += (off_t)cut;
		p += cut;
		len -= cut;
		if (len > 0)
			log_rotate(l);
	}
}

static void log_close(struct logfile *l)
{
	close_fd(&l->fd);
	free(l->path);
	l->path = NULL;
}

/* Read what QEMU printed so far; returns false at EOF. */
static bool drain_output(qk_vm *vm)
{
	char buf[16384];
	while (vm->out_fd >= 0) {
		ssize_t n = read(vm->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0) {
			close_fd(&vm->out_fd);
			return false;
		}
		ring_write(&vm->output, buf, (size_t)n);
		log_write(&vm->log, buf, (size_t)n);
	}
	return false;
}

/* QEMU's monitor is gone: so are the public socket's clients. */
static void drop_qmp(qk_vm *vm)
{
	qk_qmp_free(vm->qmp);
	vm->qmp = NULL;
	qmp_proxy_qmp_gone(vm->proxy);
}

static void drop_client(qk_vm *vm, size_t i)
{
	close(vm->clients[i]);
	vm->clients[i] = vm->clients[--vm->n_clients];
}

static bool drain_console(qk_vm *vm)
{
	char buf[16384];
	while (vm->console_fd >= 0) {
		ssize_t n = read(vm->console_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0) {
			close_fd(&vm->console_fd);
			return false;
		}
		ring_write(&vm->console, buf, (size_t)n);
		log_write(&vm->console_log, buf, (size_t)n);
		if (vm->console_fn)
			vm->console_fn(buf, (size_t)n, vm->console_userdata);
		/* A client too slow to keep up loses output rather than stall the guest. */
		for (size_t i = 0; i < vm->n_clients;) {
			ssize_t w = send(vm->clients[i], buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				drop_client(vm, i);
			else
				i++;
		}
	}
	return false;
}

static void accept_client(qk_vm *vm)
{
	int fd = accept4(vm->console_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (vm->n_clients == MAX_CONSOLE_CLIENTS) {
		log_warning("console: refusing a client, %d are connected", MAX_CONSOLE_CLIENTS);
		close(fd);
		return;
	}
	vm->clients[vm->n_clients++] = fd;
}

static void client_input(qk_vm *vm, size_t i)
{
	char buf[4096];
	ssize_t n = read(vm->clients[i], buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(vm, i);
		return;
	}
	qk_error *e = NULL;
	if (qk_vm_console_write(vm, buf, (size_t)n, &e) < 0)
		log_debug("console: dropping client input: %s", qk_error_message(e));
	qk_error_free(e);
}

static void record_end(qk_vm *vm, pid_t pid, int status)
{
	vm->ended = true;
	vm->status = status;
	/* Whatever QEMU said last, and events it sent before going. */
	drain_output(vm);
	drain_console(vm);
	for (int i = 0; vm->qmp && i < 100; i++)
		if (qk_qmp_process(vm->qmp, NULL) < 0)
			break;
	drop_qmp(vm);
	if (WIFEXITED(status))
		log_debug("QEMU (pid %d) exited with status %d", (int)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_debug("QEMU (pid %d) killed by signal %d", (int)pid, WTERMSIG(status));
}

static int check_exit(qk_vm *vm)
{
	if (vm->ended)
		return 1;
	int status;
	pid_t pid = vm->child.pid;
	int r = process_try_reap(&vm->child, &status);
	if (r < 0)
		return r;
	if (r == 0)
		return 0;
	record_end(vm, pid, status);
	return 1;
}

/*
 * Serve until QEMU ends (1), the deadline passes (0) or interrupt_fd is
 * readable (-EINTR).
 */
static int serve(qk_vm *vm, int64_t deadline, int interrupt_fd)
{
	for (;;) {
		int r = check_exit(vm);
		if (r != 0)
			return r;
		struct pollfd p[8 + MAX_CONSOLE_CLIENTS + QMP_PROXY_MAX_POLLFDS];
		size_t n = 0;
		int i_out = -1, i_qmp = -1, i_con = -1, i_listen = -1, i_int = -1;
		size_t i_clients = 0;
		/* Readable once QEMU exits; check_exit() at the top then reaps it. */
		if (vm->child.pidfd >= 0)
			p[n++] = (struct pollfd){ vm->child.pidfd, POLLIN, 0 };
		if (vm->out_fd >= 0)
			p[i_out = (int)n++] = (struct pollfd){ vm->out_fd, POLLIN, 0 };
		if (vm->qmp)
			p[i_qmp = (int)n++] = (struct pollfd){ qk_qmp_fd(vm->qmp), POLLIN, 0 };
		if (vm->console_fd >= 0)
			p[i_con = (int)n++] = (struct pollfd){ vm->console_fd, POLLIN, 0 };
		if (vm->console_listen_fd >= 0)
			p[i_listen = (int)n++] = (struct pollfd){ vm->console_listen_fd, POLLIN, 0 };
		if (interrupt_fd >= 0)
			p[i_int = (int)n++] = (struct pollfd){ interrupt_fd, POLLIN, 0 };
		i_clients = n;
		for (size_t c = 0; c < vm->n_clients; c++)
			p[n++] = (struct pollfd){ vm->clients[c], POLLIN, 0 };
		size_t i_proxy = n, n_proxy = qmp_proxy_pollfds(vm->proxy, p + n);
		n += n_proxy;

		int timeout = ms_until(deadline);
		if (vm->qmp)
			timeout = min_timeout(timeout, qk_qmp_next_timeout(vm->qmp));
		if (vm->child.pidfd < 0)
			timeout = min_timeout(timeout, FALLBACK_POLL_MS);
		int pr = poll(p, n, timeout);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr > 0) {
			if (i_out >= 0 && p[i_out].revents)
				drain_output(vm);
			if (i_con >= 0 && p[i_con].revents)
				drain_console(vm);
			if (i_qmp >= 0 && vm->qmp &&
			    (p[i_qmp].revents || qk_qmp_next_timeout(vm->qmp) == 0)) {
				qk_error *e = NULL;
				if (qk_qmp_process(vm->qmp, &e) < 0) {
					log_debug("QMP connection ended: %s", qk_error_message(e));
					drop_qmp(vm);
				}
				qk_error_free(e);
			}
			if (vm->qmp)
				qmp_proxy_dispatch(vm->proxy, p + i_proxy, n_proxy);
			/* Clients first: accepting reorders the array. */
			for (size_t c = i_proxy; c-- > i_clients;)
				if (p[c].revents && c - i_clients < vm->n_clients)
					client_input(vm, c - i_clients);
			if (i_listen >= 0 && p[i_listen].revents)
				accept_client(vm);
			if (i_int >= 0 && p[i_int].revents)
				return -EINTR;
		} else if (pr == 0 && vm->qmp && qk_qmp_next_timeout(vm->qmp) == 0) {
			qk_qmp_process(vm->qmp, NULL);
		}
		if (deadline >= 0 && monotonic_now_ns() >= deadline)
			return check_exit(vm);
	}
}

static void on_shutdown(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	qk_vm *vm = userdata;
	const char *reason = json_string_value(json_object_get(ev->data, "reason"));
	snprintf(vm->shutdown_reason, sizeof(vm->shutdown_reason), "%s", reason ? reason : "");
	log_debug("QEMU: SHUTDOWN (%s)", vm->shutdown_reason);
}

static void on_panic(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	qk_vm *vm = userdata;
	const char *action = json_string_value(json_object_get(ev->data, "action"));
	vm->panicked = true;
	log_debug("QEMU: GUEST_PANICKED (action %s)", action ? action : "?");
	/* A paused or still-running panicked guest would hold QEMU forever. */
	if (action && strcmp(action, "poweroff") != 0 && !vm->quit_sent) {
		vm->quit_sent = true;
		qk_qmp_send(qmp, "quit", NULL, NULL, 0, -1, NULL, NULL, NULL, NULL);
	}
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int append_arg(char ***argv, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int append_arg(char ***argv, size_t *n, const char *fmt, ...)
{
	char **a = realloc(*argv, (*n + 2) * sizeof(char *));
	if (!a)
		return -ENOMEM;
	*argv = a;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&a[*n], fmt, ap);
	va_end(ap);
	if (r < 0) {
		a[*n] = NULL;
		return -ENOMEM;
	}
	a[++*n] = NULL;
	return 0;
}

/* A listening unix socket at path, mode 0600; an old socket there is replaced. */
static int listen_unix(const char *path, qk_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return qk_error_set(err, QK_ERR_INVALID, ENAMETOOLONG,
				    "socket path \"%s\": longer than %zu bytes", path,
				    sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return qk_error_set(err, QK_ERR_INVALID, EEXIST,
					    "socket path \"%s\": exists and is not a socket", path);
		unlink(path);
	}
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "binding %s: %s", path, strerror(errno));
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		unlink(path);
		return qk_error_set(err, QK_ERR_SYSTEM, e, "%s: %s", path, strerror(e));
	}
	return TAKE_FD(fd);
}

/* l->fd stays -1 when there is no path. */
static int open_log(struct logfile *l, const char *path, size_t max, qk_error **err)
{
	if (!path)
		return 0;
	struct stat st;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 || fstat(fd, &st) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "opening log %s: %s", path,
				    strerror(errno));
	if (!(l->path = strdup(path)))
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	l->fd = TAKE_FD(fd);
	l->size = st.st_size;
	l->max = max;
	return 0;
}

/* Our environment, or none, plus opts->env (later entries win). */
static char **build_env(const qk_vm_options *opts)
{
	size_t n = 0, extra = 0;
	if (!opts->clean_env)
		while (environ && environ[n])
			n++;
	while (opts->env && opts->env[extra])
		extra++;
	char **env = calloc(n + extra + 1, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool overridden = false;
		size_t klen = strcspn(environ[i], "=");
		for (size_t j = 0; j < extra; j++)
			overridden = overridden || (strncmp(opts->env[j], environ[i], klen) == 0 &&
						    opts->env[j][klen] == '=');
		if (!overridden)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < extra; j++)
		env[k++] = opts->env[j];
	env[k] = NULL;
	return env;
}

void qk_vm_free(qk_vm *vm)
{
	if (!vm)
		return;
	if (vm->child.pid > 0) {
		int status;
		log_debug("freeing a running VM: killing QEMU (pid %d)", (int)vm->child.pid);
		process_signal(&vm->child, SIGKILL);
		process_reap(&vm->child, &status);
	}
	/* The connection first: its pending replies still reach the proxy. */
	qk_qmp_free(vm->qmp);
	qmp_proxy_free(vm->proxy);
	close_fd(&vm->qmp_listen_fd);
	close_fd(&vm->out_fd);
	log_close(&vm->log);
	close_fd(&vm->console_fd);
	log_close(&vm->console_log);
	close_fd(&vm->console_listen_fd);
	while (vm->n_clients)
		drop_client(vm, 0);
	if (vm->console_socket)
		unlink(vm->console_socket);
	if (vm->qmp_socket)
		unlink(vm->qmp_socket);
	free(vm->console_socket);
	free(vm->qmp_socket);
	ring_free(&vm->output);
	ring_free(&vm->console);
	free_argv(vm->argv);
	free(vm);
}

DEFINE_CLEANUP_FUNC(qk_vm, qk_vm_free)

static char *stderr_tail(void *userdata)
{
	qk_vm *vm = userdata;
	drain_output(vm);
	return ring_tail(&vm->output, 5);
}

/* QMP never came up: say why, in QEMU's words if it died. */
static int launch_failed(qk_vm *vm, qk_error *qmp_err, qk_error **err)
{
	/* QEMU usually exits right after printing its complaint. */
	if (!vm->ended)
		serve(vm, deadline_after(2000), -1);
	_cleanup_free_ char *tail = ring_tail(&vm->output, 5);
	int r;
	if (vm->ended) {
		_cleanup_free_ char *what = NULL;
		if (WIFEXITED(vm->status)) {
			if (asprintf(&what, "QEMU exited with status %d", WEXITSTATUS(vm->status)) < 0)
				what = NULL;
		} else if (asprintf(&what, "QEMU was killed by signal %d (%s)",
				    WTERMSIG(vm->status), strsignal(WTERMSIG(vm->status))) < 0) {
			what = NULL;
		}
		r = qk_error_set(err, QK_ERR_QEMU, ECHILD, "%s%s%s", what ? what : "QEMU exited",
				 tail && *tail ? ": " : " before offering QMP",
				 tail && *tail ? tail : "");
	} else {
		int e = qk_error_errno(qmp_err);
		r = qk_error_set(err, qk_error_get_kind(qmp_err), e ? e : EPROTO,
				 "QEMU did not offer QMP: %s%s%s", qk_error_message(qmp_err),
				 tail && *tail ? "; its output: " : "", tail && *tail ? tail : "");
	}
	qk_error_free(qmp_err);
	return r;
}

int qk_vm_launch(qk_vm **out, char *const *argv, const qk_vm_options *opts_in, qk_error **err)
{
	static const qk_vm_options defaults = QK_VM_OPTIONS_INIT;
	const qk_vm_options *opts = opts_in ? opts_in : &defaults;
	if (!argv || !argv[0])
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "argv: empty QEMU command line");

	_cleanup_free_ char *path = NULL;
	int r = process_find_program(&path, argv[0], err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < opts->n_fds; i++)
		if (opts->fds[i] < 0 || fcntl(opts->fds[i], F_GETFD) < 0)
			return qk_error_set(err, QK_ERR_INVALID, EBADF,
					    "fds[%zu]: %d is not an open file descriptor", i,
					    opts->fds[i]);

	_cleanup_(qk_vm_freep) qk_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	vm->out_fd = vm->log.fd = vm->console_fd = vm->console_log.fd = vm->console_listen_fd = -1;
	vm->qmp_listen_fd = -1;
	vm->child.pidfd = -1;
	vm->console_fn = opts->console_fn;
	vm->console_userdata = opts->console_userdata;
	if (ring_init(&vm->output, opts->output_ring_size) < 0 ||
	    ring_init(&vm->console, opts->console ? opts->console_ring_size : 0) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if ((r = open_log(&vm->log, opts->log_path, opts->log_max_bytes, err)) < 0)
		return r;
	if (opts->console &&
	    (r = open_log(&vm->console_log, opts->console_log_path, opts->log_max_bytes, err)) < 0)
		return r;

	int mon[2], con[2] = { -1, -1 }, outp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mon) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "socketpair: %s", strerror(errno));
	_cleanup_close_ int mon_ours = mon[0], mon_theirs = mon[1];
	if (opts->console && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, con) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "socketpair: %s", strerror(errno));
	vm->console_fd = con[0];
	_cleanup_close_ int con_theirs = con[1];
	/* QEMU's end must block: QEMU expects a blocking console socket. */
	if (con_theirs >= 0)
		fcntl(con_theirs, F_SETFL, fcntl(con_theirs, F_GETFL) & ~O_NONBLOCK);
	if (pipe2(outp, O_CLOEXEC) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
	vm->out_fd = outp[0];
	_cleanup_close_ int out_theirs = outp[1];
	fcntl(vm->out_fd, F_SETFL, O_NONBLOCK);

	if (opts->qmp_socket) {
		if ((vm->qmp_listen_fd = listen_unix(opts->qmp_socket, err)) < 0)
			return vm->qmp_listen_fd;
		if (!(vm->qmp_socket = strdup(opts->qmp_socket)))
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	if (opts->console && opts->console_socket) {
		if ((vm->console_listen_fd = listen_unix(opts->console_socket, err)) < 0)
			return vm->console_listen_fd;
		if (!(vm->console_socket = strdup(opts->console_socket)))
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}

	/* The caller's fds first (at known numbers), then ours. */
	size_t n_map = 0;
	struct fd_map map[opts->n_fds + 2];
	for (size_t i = 0; i < opts->n_fds; i++)
		map[n_map++] = (struct fd_map){ opts->fds[i], qk_vm_fd_number(i) };
	int fd_mon = qk_vm_fd_number(n_map);
	map[n_map++] = (struct fd_map){ mon_theirs, fd_mon };
	int fd_con = -1;
	if (con_theirs >= 0) {
		fd_con = qk_vm_fd_number(n_map);
		map[n_map++] = (struct fd_map){ con_theirs, fd_con };
	}

	size_t argc = 0;
	for (char *const *a = argv; *a; a++)
		if ((r = append_arg(&vm->argv, &argc, "%s", *a)) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	r = append_arg(&vm->argv, &argc, "-chardev");
	r = r ?: append_arg(&vm->argv, &argc, "socket,id=qkit-qmp,fd=%d,server=off", fd_mon);
	r = r ?: append_arg(&vm->argv, &argc, "-mon");
	r = r ?: append_arg(&vm->argv, &argc, "chardev=qkit-qmp,mode=control");
	if (fd_con >= 0) {
		r = r ?: append_arg(&vm->argv, &argc, "-chardev");
		r = r ?: append_arg(&vm->argv, &argc, "socket,id=%s,fd=%d,server=off",
				    QK_VM_CONSOLE_CHARDEV, fd_con);
	}
	if (opts->paused)
		r = r ?: append_arg(&vm->argv, &argc, "-S");
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");

	_cleanup_free_ char **env = build_env(opts);
	if (!env)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	struct spawn_spec spec = {
		.path = path,
		.argv = vm->argv,
		.envp = env,
		.cwd = opts->cwd,
		.uid = opts->uid,
		.gid = opts->gid,
		.set_groups = opts->set_groups,
		.groups = opts->groups,
		.n_groups = opts->n_groups,
		.new_process_group = opts->new_process_group,
		.die_with_parent = opts->die_with_supervisor,
		.stdin_fd = -1,
		.stdout_fd = out_theirs,
		.stderr_fd = out_theirs,
		.fds = map,
		.n_fds = n_map,
	};
	if ((r = process_spawn(&vm->child, &spec, err)) < 0) {
		qk_error_prepend(err, "starting QEMU: ");
		return r;
	}
	close_fd(&mon_theirs);
	close_fd(&con_theirs);
	close_fd(&out_theirs);

	qk_qmp_options qopts = QK_QMP_OPTIONS_INIT;
	qopts.connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 30000;
	qopts.stderr_tail = stderr_tail;
	qopts.stderr_tail_userdata = vm;
	qk_error *qerr = NULL;
	if (qk_qmp_connect_fd(&vm->qmp, TAKE_FD(mon_ours), &qopts, &qerr) < 0)
		return launch_failed(vm, qerr, err);
	if (qk_qmp_add_event_handler(vm->qmp, "SHUTDOWN", on_shutdown, vm, err) < 0 ||
	    qk_qmp_add_event_handler(vm->qmp, "GUEST_PANICKED", on_panic, vm, err) < 0)
		return -ENOMEM;
	if (vm->qmp_listen_fd >= 0 &&
	    (r = qmp_proxy_new(&vm->proxy, TAKE_FD(vm->qmp_listen_fd), vm->qmp, err)) < 0)
		return r;
	log_debug("QEMU (pid %d) offers QMP%s", (int)vm->child.pid, opts->paused ? "; paused" : "");
	*out = TAKE_PTR(vm);
	return 0;
}

pid_t qk_vm_pid(const qk_vm *vm)
{
	return vm->child.pid;
}

char *const *qk_vm_argv(const qk_vm *vm)
{
	return vm->argv;
}

qk_qmp *qk_vm_qmp(qk_vm *vm)
{
	return vm->qmp;
}

int qk_vm_cont(qk_vm *vm, qk_error **err)
{
	if (!vm->qmp)
		return qk_error_set(err, QK_ERR_EXITED, ECHILD, "cont: QEMU has exited");
	return qk_qmp_execute(vm->qmp, "cont", NULL, NULL, err);
}

int qk_vm_kill(qk_vm *vm, int sig, qk_error **err)
{
	if (vm->ended || vm->child.pid <= 0)
		return qk_error_set(err, QK_ERR_EXITED, ESRCH, "QEMU has exited");
	int r = process_signal(&vm->child, sig);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "signalling QEMU (pid %d): %s",
				    (int)vm->child.pid, strerror(-r));
	return 0;
}

char *qk_vm_output_tail(const qk_vm *vm, size_t max_lines)
{
	return ring_tail(&vm->output, max_lines);
}

char *qk_vm_console_tail(const qk_vm *vm, size_t max_lines)
{
	return ring_tail(&vm->console, max_lines);
}

int qk_vm_console_write(qk_vm *vm, const void *data, size_t len, qk_error **err)
{
	if (vm->console_fd < 0)
		return qk_error_set(err, QK_ERR_INVALID, ENOTCONN, "console: the VM has none (or it closed)");
	const char *p = data;
	/* A guest that reads nothing for this long is not going to. */
	int64_t deadline = deadline_after(5000);
	while (len > 0) {
		/* MSG_NOSIGNAL: QEMU gone must be an error, not SIGPIPE. */
		ssize_t n = send(vm->console_fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { vm->console_fd, POLLOUT, 0 };
			if (ms_until(deadline) == 0)
				return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
						    "console: the guest has not read its input for 5 s");
			poll(&pf, 1, ms_until(deadline));
			continue;
		}
		if (n < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "console: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const char *qk_vm_end_string(qk_vm_end end)
{
	switch (end) {
	case QK_VM_RUNNING: return "running";
	case QK_VM_POWERED_OFF: return "powered off";
	case QK_VM_QEMU_ERROR: return "QEMU error";
	case QK_VM_SIGNALED: return "killed by a signal";
	case QK_VM_PANICKED: return "guest panicked";
	case QK_VM_TIMED_OUT: return "timed out";
	}
	return "unknown";
}

static void fill_exit(const qk_vm *vm, qk_vm_exit *out)
{
	if (!out)
		return;
	*out = (qk_vm_exit){ .exit_status = -1 };
	snprintf(out->shutdown_reason, sizeof(out->shutdown_reason), "%s", vm->shutdown_reason);
	if (!vm->ended)
		return;
	if (WIFEXITED(vm->status))
		out->exit_status = WEXITSTATUS(vm->status);
	else if (WIFSIGNALED(vm->status))
		out->signal = WTERMSIG(vm->status);
	if (vm->killed_for_timeout)
		out->end = QK_VM_TIMED_OUT;
	else if (vm->panicked)
		out->end = QK_VM_PANICKED;
	else if (out->signal)
		out->end = QK_VM_SIGNALED;
	else if (out->exit_status == 0)
		out->end = QK_VM_POWERED_OFF;
	else
		out->end = QK_VM_QEMU_ERROR;
}

char *qk_vm_exit_describe(const qk_vm *vm, const qk_vm_exit *ex)
{
	char *s = NULL;
	_cleanup_free_ char *tail = NULL;
	int r = -1;
	switch (ex->end) {
	case QK_VM_RUNNING:
		r = asprintf(&s, "QEMU is still running");
		break;
	case QK_VM_POWERED_OFF:
		r = asprintf(&s, "%s", strcmp(ex->shutdown_reason, "guest-shutdown") == 0 ||
					       !ex->shutdown_reason[0]
				       ? "guest powered off"
				       : "QEMU exited with status 0");
		if (r >= 0 && ex->shutdown_reason[0] && strcmp(ex->shutdown_reason, "guest-shutdown")) {
			free(s);
			r = asprintf(&s, "QEMU exited with status 0 (%s)", ex->shutdown_reason);
		}
		break;
	case QK_VM_QEMU_ERROR:
		tail = vm ? ring_tail(&vm->output, 5) : NULL;
		r = asprintf(&s, "QEMU exited with status %d%s%s", ex->exit_status,
			     tail && *tail ? ": " : "", tail && *tail ? tail : "");
		break;
	case QK_VM_SIGNALED:
		r = asprintf(&s, "QEMU was killed by signal %d (%s)", ex->signal, strsignal(ex->signal));
		break;
	case QK_VM_PANICKED:
		r = asprintf(&s, "the guest panicked");
		break;
	case QK_VM_TIMED_OUT:
		r = asprintf(&s, "timed out: qkit killed QEMU");
		break;
	}
	return r < 0 ? NULL : s;
}

int qk_vm_poll(qk_vm *vm, int timeout_ms, qk_vm_exit *out, qk_error **err)
{
	int r = serve(vm, deadline_after(timeout_ms < 0 ? 0 : timeout_ms), -1);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "supervising QEMU: %s", strerror(-r));
	fill_exit(vm, out);
	return r;
}

int qk_vm_wait(qk_vm *vm, const qk_vm_wait_options *opts, qk_vm_exit *out, qk_error **err)
{
	static const qk_vm_wait_options defaults = QK_VM_WAIT_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	int r = serve(vm, deadline_after(opts->timeout_ms), opts->interrupt_fd);
	if (r == -EINTR)
		return r;
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "supervising QEMU: %s", strerror(-r));
	if (r == 0 && !opts->kill_on_timeout)
		return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
				    "QEMU still runs after %d ms", opts->timeout_ms);
	if (r == 0) {
		log_debug("deadline of %d ms passed: killing QEMU (pid %d)", opts->timeout_ms,
			  (int)vm->child.pid);
		vm->killed_for_timeout = true;
		process_signal(&vm->child, SIGKILL);
		if ((r = serve(vm, -1, -1)) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, -r, "supervising QEMU: %s", strerror(-r));
	}
	fill_exit(vm, out);
	return 0;
}

/* Only a guest known to be stopped skips the power button; if unsure, press it. */
static bool guest_stopped(qk_vm *vm)
{
	json_t *ret = NULL;
	/* Briefly: a QEMU that cannot answer this is not going to power off either. */
	if (!vm->qmp || qk_qmp_execute_full(vm->qmp, "query-status", NULL, NULL, 0, 1000, &ret, NULL) < 0)
		return false;
	bool stopped = json_is_false(json_object_get(ret, "running"));
	json_decref(ret);
	return stopped;
}

static void powerdown_replied(qk_qmp *qmp, json_t *ret, const qk_error *e, void *userdata)
{
	if (e)
		log_debug("stop: system_powerdown failed: %s", qk_error_message(e));
}

int qk_vm_stop(qk_vm *vm, const qk_vm_stop_options *opts, qk_vm_exit *out, qk_error **err)
{
	static const qk_vm_stop_options defaults = QK_VM_STOP_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	int r = check_exit(vm);

	if (r == 0 && opts->powerdown_timeout_ms >= 0) {
		if (guest_stopped(vm)) {
			log_debug("stop: guest not running, skipping system_powerdown");
		} else {
			log_debug("stop: system_powerdown, waiting %d ms", opts->powerdown_timeout_ms);
			/* Not waited for: the step's time is the guest's, not the reply's plus the guest's. */
			qk_error *e = NULL;
			if (vm->qmp && qk_qmp_send(vm->qmp, "system_powerdown", NULL, NULL, 0,
						   opts->powerdown_timeout_ms, powerdown_replied, NULL,
						   NULL, &e) < 0)
				log_debug("stop: system_powerdown failed: %s", qk_error_message(e));
			qk_error_free(e);
			r = serve(vm, deadline_after(opts->powerdown_timeout_ms), -1);
		}
	}
	if (r == 0 && opts->quit_timeout_ms >= 0 && vm->qmp) {
		log_debug("stop: quit, waiting %d ms", opts->quit_timeout_ms);
		vm->quit_sent = true;
		qk_qmp_send(vm->qmp, "quit", NULL, NULL, 0, opts->quit_timeout_ms, NULL, NULL, NULL, NULL);
		r = serve(vm, deadline_after(opts->quit_timeout_ms), -1);
	}
	if (r == 0 && opts->term_timeout_ms >= 0) {
		log_debug("stop: SIGTERM, waiting %d ms", opts->term_timeout_ms);
		process_signal(&vm->child, SIGTERM);
		r = serve(vm, deadline_after(opts->term_timeout_ms), -1);
	}
	if (r == 0) {
		log_debug("stop: SIGKILL");
		process_signal(&vm->child, SIGKILL);
		r = serve(vm, -1, -1);
	}
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "stopping QEMU: %s", strerror(-r));
	fill_exit(vm, out);
	return 0;
}
