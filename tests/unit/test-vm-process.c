/* SPDX-License-Identifier: MIT */
/*
 * The spawning layer under qk_vm: descriptor placement (including targets
 * that collide with other sources), closing everything else, signal state,
 * the parent-death signal, and reaping with and without a pidfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "process.h"

extern char **environ;

/* Run sh -c script with fds placed as given; returns its stdout. */
static char *run_sh(const char *script, const struct fd_map *fds, size_t n_fds)
{
	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	char *const argv[] = { "sh", "-c", (char *)script, NULL };
	struct spawn_spec s = {
		.path = "/bin/sh", .argv = argv, .envp = environ, .uid = (uid_t)-1,
		.gid = (gid_t)-1, .stdin_fd = -1, .stdout_fd = out[1], .stderr_fd = out[1],
		.fds = fds, .n_fds = n_fds,
	};
	struct child c;
	qk_error *err = NULL;
	if (process_spawn(&c, &s, &err) < 0)
		fail_msg("%s", qk_error_message(err));
	close(out[1]);
	static char buf[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(out[0]);
	int status;
	assert_int_equal(process_reap(&c, &status), 1);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.pidfd, -1);
	return buf;
}

static void swapped_targets_land_right(void **state)
{
	/* Two pipes whose read ends get each other's numbers. */
	int a[2], b[2];
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	assert_int_equal(write(a[1], "A", 1), 1);
	assert_int_equal(write(b[1], "B", 1), 1);
	close(a[1]);
	close(b[1]);
	struct fd_map fds[] = { { a[0], b[0] }, { b[0], a[0] } };
	char script[128];
	snprintf(script, sizeof(script), "head -c1 <&%d; head -c1 <&%d", b[0], a[0]);
	assert_string_equal(run_sh(script, fds, 2), "AB");
	close(a[0]);
	close(b[0]);
}

static void only_listed_fds_survive(void **state)
{
	int keep = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int stray = open("/dev/null", O_RDONLY); /* inheritable, not listed */
	assert_true(keep >= 0 && stray >= 0);
	struct fd_map fds[] = { { keep, 7 } };
	/* stat, not a directory listing: that would open a descriptor itself. */
	char script[256];
	snprintf(script, sizeof(script),
		 "for f in 0 1 2 3 4 5 6 7 8 9 %d %d; do [ -e /proc/$$/fd/$f ] && printf '%%s ' $f; done",
		 keep, stray);
	assert_string_equal(run_sh(script, fds, 1), "0 1 2 7 ");
	close(keep);
	close(stray);
}

static void signals_are_reset(void **state)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGUSR1, SIG_IGN);
	/*
	 * Signal 32 is one glibc keeps for itself and will not let signal()
	 * change; CI runners have been seen to start us with it ignored.
	 */
	unsigned long ign[8] = { (unsigned long)SIG_IGN }, dfl[8] = { 0 };
	assert_int_equal(syscall(SYS_rt_sigaction, 32, ign, NULL, (size_t)(NSIG - 1) / 8), 0);
	/* SigBlk and SigIgn of the child: nothing blocked, nothing ignored. */
	char *out = run_sh("grep -E '^(SigBlk|SigIgn)' /proc/self/status", NULL, 0);
	syscall(SYS_rt_sigaction, 32, dfl, NULL, (size_t)(NSIG - 1) / 8);
	assert_string_equal(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	signal(SIGUSR1, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void exec_failure_is_reported(void **state)
{
	char *const argv[] = { "x", NULL };
	struct spawn_spec s = { .path = "/nonexistent/qemu", .argv = argv, .envp = environ,
				.uid = (uid_t)-1, .gid = (gid_t)-1, .stdin_fd = -1,
				.stdout_fd = -1, .stderr_fd = -1 };
	struct child c;
	qk_error *err = NULL;
	assert_int_equal(process_spawn(&c, &s, &err), -ENOENT);
	assert_string_equal(qk_error_message(err), "exec /nonexistent/qemu: No such file or directory");
	qk_error_free(err);
}

static void find_program_searches_path(void **state)
{
	char *p = NULL;
	assert_int_equal(process_find_program(&p, "sh", NULL), 0);
	assert_true(strcmp(p, "/usr/bin/sh") == 0 || strcmp(p, "/bin/sh") == 0);
	free(p);
	qk_error *err = NULL;
	assert_int_equal(process_find_program(&p, "/no/such/qemu", &err), -ENOENT);
	assert_string_equal(qk_error_message(err), "/no/such/qemu: No such file or directory");
	qk_error_free(err);
}

/* A middle process spawns a sleeper with die_with_parent and is killed. */
static void child_dies_with_parent(void **state)
{
	int report[2];
	assert_int_equal(pipe(report), 0);
	pid_t mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		char *const argv[] = { "sleep", "60", NULL };
		struct spawn_spec s = { .path = "/bin/sleep", .argv = argv, .envp = environ,
					.uid = (uid_t)-1, .gid = (gid_t)-1, .stdin_fd = -1,
					.stdout_fd = -1, .stderr_fd = -1, .die_with_parent = true };
		struct child c;
		if (process_spawn(&c, &s, NULL) < 0)
			_exit(1);
		if (write(report[1], &c.pid, sizeof(c.pid)) != sizeof(c.pid))
			_exit(1);
		pause();
		_exit(0);
	}
	close(report[1]);
	pid_t sleeper = 0;
	assert_int_equal(read(report[0], &sleeper, sizeof(sleeper)), sizeof(sleeper));
	close(report[0]);
	assert_int_equal(process_parent_of(sleeper), mid);
	kill(mid, SIGKILL);
	waitpid(mid, NULL, 0);
	/* Gone (or a zombie of whoever adopted it) within a second. */
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		char path[64], buf[256] = "";
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)sleeper);
		FILE *f = fopen(path, "r");
		if (!f) {
			gone = true;
			break;
		}
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		gone = p && (p[2] == 'Z' || p[2] == 'X');
		if (!gone)
			usleep(10000);
	}
	assert_true(gone);
}

static void reap_with_and_without_pidfd(void **state)
{
	for (int fallback = 0; fallback < 2; fallback++) {
		process_force_no_pidfd(fallback);
		char *const argv[] = { "sh", "-c", "exit 7", NULL };
		struct spawn_spec s = { .path = "/bin/sh", .argv = argv, .envp = environ,
					.uid = (uid_t)-1, .gid = (gid_t)-1, .stdin_fd = -1,
					.stdout_fd = -1, .stderr_fd = -1 };
		struct child c;
		assert_int_equal(process_spawn(&c, &s, NULL), 0);
		assert_true(fallback ? c.pidfd == -1 : c.pidfd >= 0);
		int status = 0, r;
		while ((r = process_try_reap(&c, &status)) == 0)
			usleep(1000);
		assert_int_equal(r, 1);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 7);
		assert_int_equal(process_try_reap(&c, &status), -ECHILD);
		assert_int_equal(process_signal(&c, SIGTERM), -ESRCH);
	}
	process_force_no_pidfd(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(swapped_targets_land_right),
		cmocka_unit_test(only_listed_fds_survive),
		cmocka_unit_test(signals_are_reset),
		cmocka_unit_test(exec_failure_is_reported),
		cmocka_unit_test(find_program_searches_path),
		cmocka_unit_test(child_dies_with_parent),
		cmocka_unit_test(reap_with_and_without_pidfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
