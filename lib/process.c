/* SPDX-License-Identifier: MIT */
/*
 * fork + exec rather than posix_spawn: the child needs close_range,
 * PR_SET_PDEATHSIG and credential changes, which posix_spawn cannot do.
 * Between fork and exec the child calls only async-signal-safe functions,
 * so this is safe in threaded programs too. Everything the parent needs is
 * prepared before the fork.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool no_pidfd;

void process_force_no_pidfd(bool on)
{
	no_pidfd = on;
}

int process_find_program(char **out, const char *name, qk_error **err)
{
	if (!name || !*name)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "argv[0]: empty program name");
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return qk_error_set(err, errno == ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM,
					    errno, "%s: %s", name, strerror(errno));
		if (!(*out = strdup(name)))
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, ":");
		char *cand = NULL;
		if (asprintf(&cand, "%.*s/%s", (int)len, len ? p : ".", name) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			*out = cand;
			return 0;
		}
		free(cand);
		p += len;
		if (*p == ':')
			p++;
	}
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "%s: not found in PATH (%s)", name, path);
}

/* What the child reports through the error pipe before it dies. */
struct child_error {
	int stage;
	int errnum;
};

enum {
	STAGE_FDS = 1,
	STAGE_SIGNALS,
	STAGE_PGRP,
	STAGE_PDEATHSIG,
	STAGE_CHDIR,
	STAGE_GROUPS,
	STAGE_GID,
	STAGE_UID,
	STAGE_EXEC,
};

static const char *stage_name(int stage)
{
	switch (stage) {
	case STAGE_FDS: return "placing file descriptors";
	case STAGE_SIGNALS: return "resetting signals";
	case STAGE_PGRP: return "creating a process group";
	case STAGE_PDEATHSIG: return "setting the parent-death signal";
	case STAGE_CHDIR: return "chdir";
	case STAGE_GROUPS: return "setgroups";
	case STAGE_GID: return "setgid";
	case STAGE_UID: return "setuid";
	case STAGE_EXEC: return "exec";
	}
	return "starting";
}

static __attribute__((noreturn)) void child_fail(int errpipe, int stage)
{
	struct child_error ce = { stage, errno };
	ssize_t n = write(errpipe, &ce, sizeof(ce));
	(void)n;
	_exit(127);
}

/*
 * Move the listed descriptors to their targets. Two passes, so a target
 * that is another entry's source is not clobbered: first every source is
 * duplicated above all targets, then each lands on its target.
 */
static int place_fds(const struct spawn_spec *s, int errpipe, int *errpipe_out)
{
	int top = 2;
	for (size_t i = 0; i < s->n_fds; i++)
		if (s->fds[i].target > top)
			top = s->fds[i].target;
	int high[3 + s->n_fds];
	int std_src[3] = { s->stdin_fd, s->stdout_fd, s->stderr_fd };
	int devnull = -1;
	for (int i = 0; i < 3; i++) {
		if (std_src[i] < 0) {
			if (devnull < 0 && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
				return -1;
			std_src[i] = devnull;
		}
		if ((high[i] = fcntl(std_src[i], F_DUPFD_CLOEXEC, top + 1)) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->n_fds; i++)
		if ((high[3 + i] = fcntl(s->fds[i].fd, F_DUPFD_CLOEXEC, top + 1)) < 0)
			return -1;
	int ep = fcntl(errpipe, F_DUPFD_CLOEXEC, top + 1);
	if (ep < 0)
		return -1;
	*errpipe_out = ep;
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			return -1;
	for (size_t i = 0; i < s->n_fds; i++)
		if (dup2(high[3 + i], s->fds[i].target) < 0)
			return -1;
	/* Everything else goes, except the error pipe (close-on-exec). */
	for (int fd = 3; fd <= top; fd++) {
		bool keep = false;
		for (size_t i = 0; i < s->n_fds; i++)
			keep = keep || s->fds[i].target == fd;
		if (!keep)
			close(fd);
	}
	if ((ep > top + 1 && close_range((unsigned)top + 1, (unsigned)ep - 1, 0) < 0) ||
	    close_range((unsigned)ep + 1, ~0U, 0) < 0)
		return -1;
	return 0;
}

/*
 * glibc refuses to touch the signals it reserves for itself (32 and 33),
 * yet one that our own parent ignored is still ignored after exec. Reset
 * those through the system call: an all-zero kernel sigaction is SIG_DFL
 * with no flags on every architecture, whatever its field order.
 */
static void reset_signal(int sig)
{
	if (signal(sig, SIG_DFL) != SIG_ERR)
		return;
	unsigned long zero[8] = { 0 };
	syscall(SYS_rt_sigaction, sig, zero, NULL, (size_t)(NSIG - 1) / 8);
}

static __attribute__((noreturn)) void child_run(const struct spawn_spec *s, pid_t parent,
						 int errpipe)
{
	if (place_fds(s, errpipe, &errpipe) < 0)
		child_fail(errpipe, STAGE_FDS);

	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(errpipe, STAGE_SIGNALS);
	/* Ignored signals stay ignored across exec; QEMU must see SIGTERM. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			reset_signal(sig);

	if (s->new_process_group && setpgid(0, 0) < 0)
		child_fail(errpipe, STAGE_PGRP);
	if (s->cwd && chdir(s->cwd) < 0)
		child_fail(errpipe, STAGE_CHDIR);
	if (s->set_groups && setgroups(s->n_groups, s->groups) < 0)
		child_fail(errpipe, STAGE_GROUPS);
	if (s->gid != (gid_t)-1 && setresgid(s->gid, s->gid, s->gid) < 0)
		child_fail(errpipe, STAGE_GID);
	if (s->uid != (uid_t)-1 && setresuid(s->uid, s->uid, s->uid) < 0)
		child_fail(errpipe, STAGE_UID);
	/* After the credentials: changing them clears the parent-death signal. */
	if (s->die_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			child_fail(errpipe, STAGE_PDEATHSIG);
		/* The parent may have died before prctl took effect. */
		if (getppid() != parent)
			_exit(127);
	}
	execve(s->path, s->argv, s->envp);
	child_fail(errpipe, STAGE_EXEC);
}

int process_spawn(struct child *out, const struct spawn_spec *s, qk_error **err)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		return qk_error_set(err, QK_ERR_SYSTEM, e, "fork: %s", strerror(e));
	}
	if (pid == 0)
		child_run(s, parent, errpipe[1]);

	close(errpipe[1]);
	struct child c = { .pid = pid, .pidfd = -1 };
	if (!no_pidfd) {
		c.pidfd = pidfd_open(pid, 0);
		if (c.pidfd < 0)
			log_debug("pidfd_open: %s; falling back to waitpid polling", strerror(errno));
	}

	struct child_error ce;
	ssize_t n;
	do
		n = read(errpipe[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(ce)) {
		int status;
		process_reap(&c, &status);
		const char *what = ce.stage == STAGE_CHDIR ? s->cwd : s->path;
		return qk_error_set(err, ce.errnum == ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM,
				    ce.errnum, "%s%s%s: %s", stage_name(ce.stage),
				    ce.stage == STAGE_CHDIR || ce.stage == STAGE_EXEC ? " " : "",
				    ce.stage == STAGE_CHDIR || ce.stage == STAGE_EXEC ? what : "",
				    strerror(ce.errnum));
	}
	log_debug("spawned %s as pid %d%s", s->path, (int)pid, c.pidfd < 0 ? " (no pidfd)" : "");
	*out = c;
	return 0;
}

int process_signal(const struct child *c, int sig)
{
	if (c->pid <= 0)
		return -ESRCH;
	int r = c->pidfd >= 0 ? pidfd_send_signal(c->pidfd, sig, NULL, 0) : kill(c->pid, sig);
	return r < 0 ? -errno : 0;
}

static void forget(struct child *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	c->pid = 0;
}

int process_try_reap(struct child *c, int *status)
{
	if (c->pid <= 0)
		return -ECHILD;
	/* We are the parent and have not reaped it, so the pid is still ours. */
	pid_t r = waitpid(c->pid, status, WNOHANG);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	forget(c);
	return 1;
}

int process_reap(struct child *c, int *status)
{
	if (c->pid <= 0)
		return -ECHILD;
	pid_t r;
	do
		r = waitpid(c->pid, status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	forget(c);
	return 1;
}

pid_t process_parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may contain spaces and ')'. */
	char *p = strrchr(buf, ')');
	int ppid = 0;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}
