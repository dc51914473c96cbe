/* SPDX-License-Identifier: MIT */
/* The guest runner: see harness-private.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness-private.h"
#include "log.h"
#include "util.h"

/* How much of QEMU's own output is kept for error messages. */
#define QEMU_OUTPUT_MAX 8192

/* A malloc'd string, or NULL when out of memory (messages are best effort). */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

void guest_init(struct guest *g)
{
	memset(g, 0, sizeof(*g));
	g->console_fd = -1;
	g->console_qemu_fd = -1;
	g->qemu.pidfd = -1;
	g->stderr_fd = -1;
	g->qemu_status = -1;
	watch_init(&g->watch, 0, false, 0);
}

void guest_destroy(struct guest *g)
{
	if (g->qemu.pid > 0) {
		int status;
		process_signal(&g->qemu, SIGKILL);
		process_reap(&g->qemu, &status);
	}
	for (size_t i = 0; i < g->n_child_fds; i++)
		if (g->child_fds[i] >= 0)
			close(g->child_fds[i]);
	for (size_t i = 0; i < g->n_ports; i++) {
		free(g->ports[i].name);
		if (g->ports[i].fd >= 0)
			close(g->ports[i].fd);
		buf_free(&g->ports[i].pending);
	}
	if (g->console_fd >= 0)
		close(g->console_fd);
	if (g->stderr_fd >= 0)
		close(g->stderr_fd);
	qk_console_free(g->console);
	buf_free(&g->qemu_output);
	watch_free(&g->watch);
	free(g->end_message);
	qk_argv_free(g->argv);
	guest_init(g);
}

int guest_pass_fd(struct guest *g, int fd, qk_error **err)
{
	if (g->n_child_fds >= GUEST_MAX_FDS) {
		close(fd);
		return qk_error_set(err, QK_ERR_INVALID, E2BIG, "more than %d descriptors for QEMU",
				    GUEST_MAX_FDS);
	}
	g->child_fds[g->n_child_fds] = fd;
	return 3 + (int)g->n_child_fds++;
}

/* A connected socketpair: *ours stays here, the other end goes to QEMU. */
static int pair_for_qemu(struct guest *g, int *ours, qk_error **err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "socketpair: %s", strerror(errno));
	/* QEMU's end blocks like any chardev socket it would open itself. */
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK);
	int n = guest_pass_fd(g, sv[1], err);
	if (n < 0) {
		close(sv[0]);
		return n;
	}
	*ours = sv[0];
	return n;
}

int guest_add_console(struct guest *g, const char *name, const char *log_path,
		      qk_console_line_fn line_fn, void *userdata, qk_error **err)
{
	qk_console_options o = QK_CONSOLE_OPTIONS_INIT;
	o.name = name;
	o.log_path = log_path;
	o.on_line = line_fn;
	o.userdata = userdata;
	int r = qk_console_new(&g->console, &o, err);
	if (r < 0)
		return r;
	int n = pair_for_qemu(g, &g->console_fd, err);
	if (n >= 0)
		g->console_qemu_fd = n;
	return n;
}

int guest_add_port(struct guest *g, const char *name, guest_data_fn fn, void *userdata,
		   qk_error **err)
{
	if (g->n_ports >= GUEST_MAX_PORTS)
		return qk_error_set(err, QK_ERR_INVALID, E2BIG, "more than %d virtio-serial ports",
				    GUEST_MAX_PORTS);
	struct guest_port *p = &g->ports[g->n_ports];
	p->fd = -1;
	int n = pair_for_qemu(g, &p->fd, err);
	if (n < 0)
		return n;
	p->fn = fn;
	p->userdata = userdata;
	if (!(p->name = strdup(name))) {
		close(p->fd);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	p->qemu_fd = n;
	p->src_fd = -1;
	g->n_ports++;
	return n;
}

int guest_add_input_port(struct guest *g, const char *name, int src_fd, qk_error **err)
{
	int n = guest_add_port(g, name, NULL, NULL, err);
	if (n < 0)
		return n;
	struct guest_port *p = &g->ports[g->n_ports - 1];
	p->input = true;
	p->src_fd = src_fd;
	/* Nothing to give: the guest reads end of file at once. */
	if (src_fd < 0) {
		p->src_done = true;
		shutdown(p->fd, SHUT_WR);
	}
	return n;
}

int guest_add_tty_port(struct guest *g, const char *name, int src_fd, int escape_char,
		       guest_data_fn fn, void *userdata, qk_error **err)
{
	int n = guest_add_port(g, name, fn, userdata, err);
	if (n < 0)
		return n;
	struct guest_port *p = &g->ports[g->n_ports - 1];
	p->virtconsole = true;
	p->input = true;
	p->src_fd = src_fd;
	p->escape.key = escape_char;
	/* A terminal nobody types on: the guest just reads nothing. */
	if (src_fd < 0)
		p->src_done = true;
	return n;
}

/* src_fd is readable: take what it has (the port has room, pending is empty). */
static void read_input(struct guest *g, struct guest_port *p)
{
	char chunk[65536];
	ssize_t n = read(p->src_fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		p->src_done = true;
		/* A terminal has no end of file to give; its guest goes on. */
		if (!p->virtconsole)
			shutdown(p->fd, SHUT_WR);
		return;
	}
	/* pending is empty here: the filter writes straight into it. */
	if (buf_reserve(&p->pending, 2 * (size_t)n) < 0)
		return;
	size_t kept;
	bool quit = term_escape_filter(&p->escape, chunk, (size_t)n, p->pending.data, &kept);
	p->pending.len = kept;
	if (quit)
		guest_kill(g, GUEST_STOPPED, "stopped on the escape key");
}

/* The port can take more: hand QEMU what is pending. */
static void write_input(struct guest_port *p)
{
	while (p->pending.len > 0) {
		/* MSG_NOSIGNAL: QEMU gone must not kill us with SIGPIPE. */
		ssize_t n = send(p->fd, p->pending.data, p->pending.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			buf_reset(&p->pending);
			p->src_done = true;
			return;
		}
		memmove(p->pending.data, p->pending.data + n, p->pending.len - (size_t)n);
		p->pending.len -= (size_t)n;
	}
	if (p->src_done && !p->virtconsole)
		shutdown(p->fd, SHUT_WR);
}


int guest_spec(struct guest *g, const struct guest_base *b, qk_spec **out, qk_error **err)
{
	_cleanup_(qk_spec_freep) qk_spec *spec = NULL;
	char mem[32];
	bool kvm = strcmp(b->accel, "kvm") == 0;
	int r;

	snprintf(mem, sizeof(mem), "%uM", b->mem_mb ? b->mem_mb : 256);
	if ((r = qk_spec_new(&spec, err)) < 0 ||
	    (r = qk_spec_set_string(spec, "arch", b->arch, err)) < 0 ||
	    (r = qk_spec_append_string(spec, "machine.accel", b->accel, err)) < 0 ||
	    (r = qk_spec_set_int(spec, "cpu.count", b->cpus ? b->cpus : 1, err)) < 0 ||
	    (r = qk_spec_set_string(spec, "memory.size", mem, err)) < 0 ||
	    (r = qk_spec_set_string(spec, "boot.kernel", b->kernel, err)) < 0 ||
	    (b->initrd && (r = qk_spec_set_string(spec, "boot.initrd", b->initrd, err)) < 0) ||
	    (r = qk_spec_set_string(spec, "boot.append", b->append, err)) < 0 ||
	    (r = qk_spec_set_bool(spec, "options.no-reboot", true, err)) < 0 ||
	    (r = qk_spec_set_string(spec, "console.backend.type", "fd", err)) < 0 ||
	    (r = qk_spec_set_int(spec, "console.backend.fd", g->console_qemu_fd, err)) < 0)
		return r;
	/*
	 * Under KVM on x86, QEMU's own default model rather than the spec's
	 * "host": on some nested hosts "host" makes QEMU abort at start
	 * (an MSR it cannot set), which hides the hang the watchdog explains.
	 */
	if (kvm && strcmp(b->arch, "x86_64") == 0 &&
	    (r = qk_spec_set_string(spec, "cpu.model", "qemu64", err)) < 0)
		return r;
	for (size_t i = 0; i < g->n_ports; i++) {
		qk_device *dev;
		if ((r = qk_spec_add_device(spec, g->ports[i].virtconsole ? "console" : "channel", &dev,
					    err)) < 0 ||
		    (r = qk_device_set_string(dev, "name", g->ports[i].name, err)) < 0 ||
		    (r = qk_device_set_string(dev, "backend.type", "fd", err)) < 0 ||
		    (r = qk_device_set_int(dev, "backend.fd", g->ports[i].qemu_fd, err)) < 0)
			return r;
	}
	*out = TAKE_PTR(spec);
	return 0;
}

int guest_render(struct guest *g, const qk_spec *spec, qk_error **err)
{
	qk_argv_free(g->argv);
	g->argv = NULL;
	int r = qk_spec_render(spec, NULL, &g->argv, err);
	if (r < 0)
		qk_error_prepend(err, "QEMU's command line: ");
	return r;
}

int guest_launch(struct guest *g, qk_error **err)
{
	if (!g->argv)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "no QEMU command line rendered");
	_cleanup_free_ char *path = NULL;
	qk_error *e = NULL;
	int r = process_find_program(&path, g->argv[0], &e);
	if (r < 0) {
		if (r == -ENOENT) {
			qk_error_free(e);
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "%s: not found", g->argv[0]);
		}
		qk_error_propagate(err, &e);
		return r;
	}
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));

	struct fd_map fds[GUEST_MAX_FDS];
	for (size_t i = 0; i < g->n_child_fds; i++)
		fds[i] = (struct fd_map){ g->child_fds[i], 3 + (int)i };
	extern char **environ;
	struct spawn_spec sp = {
		.path = path,
		.argv = g->argv,
		.envp = environ,
		.uid = (uid_t)-1,
		.gid = (gid_t)-1,
		/* QEMU must not outlive a qkit killed with SIGKILL. */
		.die_with_parent = true,
		.stdin_fd = -1,
		.stdout_fd = out[1],
		.stderr_fd = out[1],
		.fds = fds,
		.n_fds = g->n_child_fds,
	};
	r = process_spawn(&g->qemu, &sp, err);
	close(out[1]);
	for (size_t i = 0; i < g->n_child_fds; i++) {
		close(g->child_fds[i]);
		g->child_fds[i] = -1;
	}
	if (r < 0) {
		close(out[0]);
		return r;
	}
	g->stderr_fd = out[0];
	fcntl(g->stderr_fd, F_SETFL, O_NONBLOCK);
	g->started_ms = monotonic_now_ms();
	g->watch.boot_timeout_ms = g->console ? watch_boot_timeout(g->boot_timeout_ms, g->kvm) : 0;
	g->watch.kvm = g->kvm;
	g->watch.started_ms = g->started_ms;
	_cleanup_free_ char *cmdline = guest_command_line(g);
	log_debug("started QEMU (pid %d); by hand, with the console on stdio: %s", (int)g->qemu.pid,
		  cmdline ? cmdline : g->argv[0]);
	return 0;
}

void guest_kill(struct guest *g, enum guest_end why, const char *message)
{
	if (g->qemu.pid <= 0)
		return;
	if (g->end == GUEST_RUNNING) {
		g->end = why;
		free(g->end_message);
		g->end_message = message ? strdup(message) : NULL;
	}
	process_signal(&g->qemu, SIGKILL);
}

static void keep_qemu_output(struct guest *g, const char *data, size_t len)
{
	buf_append(&g->qemu_output, data, len);
	if (g->qemu_output.len > QEMU_OUTPUT_MAX) {
		size_t drop = g->qemu_output.len - QEMU_OUTPUT_MAX / 2;
		memmove(g->qemu_output.data, g->qemu_output.data + drop, g->qemu_output.len - drop);
		g->qemu_output.len -= drop;
		g->qemu_output.data[g->qemu_output.len] = '\0';
	}
}

/* Read what fd has; returns 0 at end of stream, 1 if it may have more. */
static int drain_fd(struct guest *g, int fd, int which)
{
	char chunk[65536];
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (n <= 0)
			return 0;
		if (which == -1) {
			qk_console_feed(g->console, chunk, (size_t)n, NULL);
			watch_feed(&g->watch, chunk, (size_t)n, monotonic_now_ms());
		}
		else if (which == -2)
			keep_qemu_output(g, chunk, (size_t)n);
		else if (g->ports[which].fn)
			g->ports[which].fn(chunk, (size_t)n, g->ports[which].userdata);
	}
	return 1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

char *guest_qemu_output(const struct guest *g)
{
	const char *s = g->qemu_output.data ? g->qemu_output.data : "";
	size_t len = g->qemu_output.len;
	while (len > 0 && s[len - 1] == '\n')
		len--;
	return strndup(s, len);
}

/* QEMU is gone: read everything it left in the channels, then classify. */
static void finish(struct guest *g, int wstatus)
{
	/* Its ends are closed now, so each of ours reads to end of stream. */
	if (g->console_fd >= 0)
		while (drain_fd(g, g->console_fd, -1))
			;
	for (size_t i = 0; i < g->n_ports; i++)
		if (g->ports[i].fd >= 0)
			while (drain_fd(g, g->ports[i].fd, (int)i))
				;
	if (g->stderr_fd >= 0)
		while (drain_fd(g, g->stderr_fd, -2))
			;
	if (g->console)
		qk_console_close(g->console);

	g->qemu_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (g->end != GUEST_RUNNING)
		return;
	if (g->watch.in_panic) {
		g->end = GUEST_PANICKED;
		return;
	}
	_cleanup_free_ char *out = guest_qemu_output(g);
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		g->end = GUEST_POWERED_OFF;
	} else {
		g->end = GUEST_QEMU_FAILED;
		if (WIFEXITED(wstatus))
			g->end_message = format("QEMU exited with status %d%s%s", WEXITSTATUS(wstatus),
						out && *out ? ": " : "", out ? out : "");
		else
			g->end_message = format("QEMU was killed by signal %d (%s)%s%s",
						WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
						out && *out ? ": " : "", out ? out : "");
	}
}

static void check_deadlines(struct guest *g)
{
	int64_t now = monotonic_now_ms();
	if (g->qemu.pid <= 0 || g->end != GUEST_RUNNING)
		return;
	switch (watch_check(&g->watch, now)) {
	case WATCH_PANICKED:
		guest_kill(g, GUEST_PANICKED, NULL);
		return;
	case WATCH_SILENT: {
		_cleanup_free_ char *msg = watch_silent_message(&g->watch);
		guest_kill(g, GUEST_WATCHDOG, msg);
		return;
	}
	case WATCH_OK:
		break;
	}
	if (g->timeout_ms > 0 && now - g->started_ms >= g->timeout_ms) {
		_cleanup_free_ char *msg =
			format("timed out after %.1f s; stopped the VM", g->timeout_ms / 1000.0);
		guest_kill(g, GUEST_TIMED_OUT, msg);
	}
}

/* Milliseconds until the next deadline the loop must act on, or -1. */
static int next_deadline(const struct guest *g)
{
	int64_t now = monotonic_now_ms(), next = -1;
	if (g->end != GUEST_RUNNING)
		return 50; /* killed: wait for the reap */
	next = watch_next_deadline(&g->watch);
	if (g->timeout_ms > 0) {
		int64_t t = g->started_ms + g->timeout_ms;
		next = next < 0 || t < next ? t : next;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

int guest_pump(struct guest *g, int timeout_ms, qk_error **err)
{
	struct pollfd pfd[2 * GUEST_MAX_PORTS + 3];
	int which[2 * GUEST_MAX_PORTS + 3];
	size_t n = 0;

	if (g->qemu.pid <= 0)
		return 1;
	check_deadlines(g);
	int wait = next_deadline(g);
	if (timeout_ms >= 0 && (wait < 0 || timeout_ms < wait))
		wait = timeout_ms;
	/* Without a pidfd (old kernels), look for QEMU's exit every 100 ms. */
	if (g->qemu.pidfd < 0 && (wait < 0 || wait > 100))
		wait = 100;

	if (g->console_fd >= 0) {
		pfd[n] = (struct pollfd){ .fd = g->console_fd, .events = POLLIN };
		which[n++] = -1;
	}
	if (g->stderr_fd >= 0) {
		pfd[n] = (struct pollfd){ .fd = g->stderr_fd, .events = POLLIN };
		which[n++] = -2;
	}
	for (size_t i = 0; i < g->n_ports; i++) {
		struct guest_port *p = &g->ports[i];
		if (p->fd < 0)
			continue;
		pfd[n] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
		if (p->input && p->pending.len > 0)
			pfd[n].events |= POLLOUT;
		which[n++] = (int)i;
		/* Read more input only once the port took what we had. */
		if (p->input && !p->src_done && p->pending.len == 0) {
			pfd[n] = (struct pollfd){ .fd = p->src_fd, .events = POLLIN };
			which[n++] = -100 - (int)i;
		}
	}
	if (g->qemu.pidfd >= 0) {
		pfd[n] = (struct pollfd){ .fd = g->qemu.pidfd, .events = POLLIN };
		which[n++] = -3;
	}

	int r = poll(pfd, n, wait);
	if (r < 0 && errno != EINTR)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "poll: %s", strerror(errno));
	for (size_t i = 0; r > 0 && i < n; i++) {
		if (!pfd[i].revents || which[i] == -3)
			continue;
		if (which[i] <= -100) {
			read_input(g, &g->ports[-100 - which[i]]);
			continue;
		}
		if (which[i] >= 0 && (pfd[i].revents & POLLOUT))
			write_input(&g->ports[which[i]]);
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (drain_fd(g, pfd[i].fd, which[i]) == 0) {
			/* End of stream before QEMU's exit: stop polling it. */
			if (which[i] == -1) {
				close_fd(&g->console_fd);
				qk_console_close(g->console);
			} else if (which[i] == -2) {
				close_fd(&g->stderr_fd);
			} else {
				close_fd(&g->ports[which[i]].fd);
			}
		}
	}
	check_deadlines(g);

	int wstatus;
	if (process_try_reap(&g->qemu, &wstatus) == 1) {
		finish(g, wstatus);
		return 1;
	}
	return 0;
}

/*
 * The chardevs on inherited fds cannot be reproduced from a shell: there
 * the console becomes stdio and the ports go nowhere.
 */
static const char *portable_arg(const struct guest *g, const char *a, char *tmp, size_t size)
{
	char id[64];
	int fd, end = 0;
	if (sscanf(a, "socket,id=%63[^,],fd=%d%n", id, &fd, &end) != 2 || a[end] != '\0')
		return a;
	if (fd == g->console_qemu_fd)
		snprintf(tmp, size, "stdio,id=%s,signal=off", id);
	else
		snprintf(tmp, size, "null,id=%s", id);
	return tmp;
}

char *guest_command_line(const struct guest *g)
{
	struct buf b = BUF_INIT;
	char tmp[128];
	for (size_t i = 0; g->argv && g->argv[i]; i++) {
		const char *a = portable_arg(g, g->argv[i], tmp, sizeof(tmp));
		if (i)
			buf_putc(&b, ' ');
		buf_put_shell_word(&b, a);
	}
	return buf_steal(&b);
}
