/* SPDX-License-Identifier: MIT */
/*
 * Spawning and reaping a child process: the mechanics under qk_vm. The
 * child gets exactly the descriptors listed (at the numbers listed), a
 * reset signal mask and dispositions, and optionally a new process group,
 * credentials, a working directory and PR_SET_PDEATHSIG(SIGKILL).
 */
#ifndef QKIT_LIB_PROCESS_H
#define QKIT_LIB_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <qkit/error.h>

struct fd_map {
	int fd;     /* in the parent */
	int target; /* the number it gets in the child */
};

struct spawn_spec {
	const char *path;  /* resolved executable (see process_find_program) */
	char *const *argv;
	char *const *envp; /* the complete environment */
	const char *cwd;   /* NULL: inherit */
	uid_t uid;         /* (uid_t)-1: unchanged */
	gid_t gid;         /* (gid_t)-1: unchanged */
	const gid_t *groups;
	size_t n_groups;
	bool set_groups;
	bool new_process_group;
	bool die_with_parent; /* PR_SET_PDEATHSIG(SIGKILL) */
	int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
	const struct fd_map *fds;
	size_t n_fds;
};

struct child {
	pid_t pid;
	int pidfd; /* -1 when pidfd_open is unavailable: poll with waitpid */
};

/* Resolve name as execvp would (PATH search if it has no '/'); malloc'd. */
int process_find_program(char **out, const char *name, qk_error **err);

/*
 * Fork and exec. Fails (with the stage that failed: "chdir /x: ...",
 * "exec /usr/bin/q: ...") if the child could not exec; nothing is left
 * running then.
 */
int process_spawn(struct child *out, const struct spawn_spec *spec, qk_error **err);

/* Send sig through the pidfd (or kill() without one). 0 or negative errno. */
int process_signal(const struct child *c, int sig);

/*
 * Reap the child if it has exited: 1 with *status (as waitpid) if so, 0
 * if it still runs, negative errno on error. Closes the pidfd on reaping.
 */
int process_try_reap(struct child *c, int *status);

/* Block until the child exits and reap it. */
int process_reap(struct child *c, int *status);

/* Tests: pretend pidfd_open does not exist, to exercise the fallback. */
void process_force_no_pidfd(bool on);

/* The child's parent pid as /proc says (0 if unknown); for detached VMs. */
pid_t process_parent_of(pid_t pid);

#endif
