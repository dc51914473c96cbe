/* SPDX-License-Identifier: MIT */
/*
 * qk_vm against the real QEMU, with `-machine none` so each launch is fast:
 * launch, QMP, the stop ladder, exit classification, fd placement, launch
 * failures, and 100 launch/stop cycles that must leak nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/state.h>
#include <qkit/vm.h>

#include "process.h"

#define QEMU "qemu-system-x86_64"
#define NONE_ARGS QEMU, "-machine", "none", "-display", "none", "-nodefaults", "-no-user-config"

static char *const none_argv[] = { NONE_ARGS, NULL };

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n - 1; /* the DIR's own */
}

/* Our children, from /proc: every thread's children file. */
static int count_children(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[600], buf[4096];
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		buf[len] = '\0';
		fclose(f);
		for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static void launch_query_and_stop(void **state)
{
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.paused = true;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, &err), 0);
	assert_null(err);
	pid_t pid = qk_vm_pid(vm);
	assert_true(pid > 0);

	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qk_vm_qmp(vm), "query-status", NULL, &ret, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "prelaunch");
	json_decref(ret);

	/* Paused: the ladder skips the power button and quits. */
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, &err), 0);
	assert_int_equal(ex.end, QK_VM_POWERED_OFF);
	assert_int_equal(ex.exit_status, 0);
	assert_string_equal(ex.shutdown_reason, "host-qmp-quit");
	assert_int_equal(qk_vm_pid(vm), 0);
	assert_int_equal(kill(pid, 0), -1); /* reaped, not a zombie */
	char *desc = qk_vm_exit_describe(vm, &ex);
	assert_string_equal(desc, "QEMU exited with status 0 (host-qmp-quit)");
	free(desc);
	qk_vm_free(vm);
}

static void launch_failure_quotes_qemu(void **state)
{
	char *const argv[] = { NONE_ARGS, "-device", "foo", NULL };
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_true(qk_vm_launch(&vm, argv, NULL, &err) < 0);
	assert_null(vm);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_QEMU);
	assert_non_null(strstr(qk_error_message(err), "QEMU exited with status 1: "));
	assert_non_null(strstr(qk_error_message(err), "-device foo: 'foo' is not a valid device model name"));
	qk_error_free(err);
	assert_int_equal(count_children(), 0);
}

static void missing_binary_is_not_found(void **state)
{
	char *const argv[] = { "qemu-system-nonexistent", NULL };
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, NULL, &err), -ENOENT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_NOT_FOUND);
	assert_non_null(strstr(qk_error_message(err), "qemu-system-nonexistent: not found in PATH"));
	qk_error_free(err);
}

static void bad_cwd_names_the_stage(void **state)
{
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.cwd = "/nonexistent-dir";
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, &err), -ENOENT);
	assert_string_equal(qk_error_message(err),
			    "starting QEMU: chdir /nonexistent-dir: No such file or directory");
	qk_error_free(err);
	assert_int_equal(count_children(), 0);
}

static ino_t inode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/*
 * The caller's fd lands at QK_VM_FD_FIRST and QEMU can use it there; an fd
 * we leaked without O_CLOEXEC does not reach QEMU.
 */
static void fds_at_known_numbers_and_nothing_else(void **state)
{
	int p[2], q[2], leak[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	assert_int_equal(pipe(leak), 0); /* deliberately inheritable */
	char fdarg[64];
	snprintf(fdarg, sizeof(fdarg), "fd=%d,set=7,opaque=qkit-test", qk_vm_fd_number(0));
	char *const argv[] = { NONE_ARGS, "-add-fd", fdarg, NULL };
	int fds[2] = { p[1], q[0] };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.fds = fds;
	opts.n_fds = 2;
	opts.paused = true;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, &opts, &err), 0);

	/* QEMU registered fds[0] in fd set 7 (it keeps a dup of it). */
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qk_vm_qmp(vm), "query-fdsets", NULL, &ret, &err), 0);
	json_t *set = json_array_get(ret, 0);
	assert_int_equal(json_integer_value(json_object_get(set, "fdset-id")), 7);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(set, "fds"), 0), "opaque")),
			    "qkit-test");
	json_decref(ret);

	/* fds[1], unused by QEMU, is still at its number. */
	char path[64];
	struct stat ours;
	assert_int_equal(fstat(q[0], &ours), 0);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)qk_vm_pid(vm), qk_vm_fd_number(1));
	assert_int_equal(inode_of(path), ours.st_ino);

	struct stat leaked;
	assert_int_equal(fstat(leak[1], &leaked), 0);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)qk_vm_pid(vm));
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char fdpath[600];
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		if (de->d_name[0] != '.')
			assert_int_not_equal(inode_of(fdpath), leaked.st_ino);
	}
	closedir(d);

	/* The monitor arguments follow the caller's, on the next free number. */
	char *const *full = qk_vm_argv(vm);
	assert_string_equal(full[7], "-add-fd");
	assert_string_equal(full[9], "-chardev");
	assert_string_equal(full[10], "socket,id=qkit-qmp,fd=5,server=off");
	assert_string_equal(full[12], "chardev=qkit-qmp,mode=control");
	assert_string_equal(full[13], "-S");
	assert_null(full[14]);
	qk_vm_free(vm);
	int all[] = { p[0], p[1], q[0], q[1], leak[0], leak[1] };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		close(all[i]);
}

static void killed_by_signal(void **state)
{
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	assert_int_equal(qk_vm_kill(vm, SIGKILL, NULL), 0);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_wait(vm, NULL, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_SIGNALED);
	assert_int_equal(ex.signal, SIGKILL);
	assert_int_equal(ex.exit_status, -1);
	char *desc = qk_vm_exit_describe(vm, &ex);
	assert_string_equal(desc, "QEMU was killed by signal 9 (Killed)");
	free(desc);
	qk_vm_free(vm);
}

static void wait_times_out_or_kills(void **state)
{
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	qk_vm_wait_options w = QK_VM_WAIT_OPTIONS_INIT;
	w.timeout_ms = 100;
	qk_vm_exit ex;
	assert_int_equal(qk_vm_wait(vm, &w, &ex, &err), -ETIMEDOUT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_TIMEOUT);
	qk_error_free(err);
	assert_true(qk_vm_pid(vm) > 0);

	w.kill_on_timeout = true;
	assert_int_equal(qk_vm_wait(vm, &w, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_TIMED_OUT);
	assert_int_equal(ex.signal, SIGKILL);
	assert_int_equal(qk_vm_pid(vm), 0);
	qk_vm_free(vm);
}

/* QEMU behind a shell that exits 3 after it: an error exit after launch. */
static void error_exit_after_launch(void **state)
{
	char *const argv[] = { "/bin/sh", "-c", QEMU " \"$@\"; echo 'wrapper: failing' >&2; exit 3",
			       "sh", "-machine", "none", "-display", "none", "-nodefaults", NULL };
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, NULL, &err), 0);
	qk_qmp_execute(qk_vm_qmp(vm), "quit", NULL, NULL, NULL); /* the reply may lose the race */
	qk_vm_exit ex;
	assert_int_equal(qk_vm_wait(vm, NULL, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_QEMU_ERROR);
	assert_int_equal(ex.exit_status, 3);
	char *desc = qk_vm_exit_describe(vm, &ex);
	assert_string_equal(desc, "QEMU exited with status 3: wrapper: failing");
	free(desc);
	qk_vm_free(vm);
}

static void stop_ladder_escalates_to_sigterm(void **state)
{
	/* No quit step and no power button: SIGTERM ends QEMU (exit 0, host-signal). */
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	qk_vm_stop_options s = { .powerdown_timeout_ms = -1, .quit_timeout_ms = -1,
				 .term_timeout_ms = 5000 };
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, &s, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_POWERED_OFF);
	assert_string_equal(ex.shutdown_reason, "host-signal");
	qk_vm_free(vm);

	/* QEMU stopped with SIGSTOP ignores everything but SIGKILL. */
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	assert_int_equal(qk_vm_kill(vm, SIGSTOP, NULL), 0);
	s = (qk_vm_stop_options){ .powerdown_timeout_ms = -1, .quit_timeout_ms = 200,
				  .term_timeout_ms = 200 };
	assert_int_equal(qk_vm_stop(vm, &s, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_SIGNALED);
	assert_int_equal(ex.signal, SIGKILL);
	qk_vm_free(vm);
}

static void free_kills_a_running_vm(void **state)
{
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	pid_t pid = qk_vm_pid(vm);
	qk_vm_free(vm);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(count_children(), 0);
}

static void output_is_captured(void **state)
{
	char *const argv[] = { "/bin/sh", "-c", "echo hello from stdout; echo and stderr >&2; "
			       "exec " QEMU " \"$@\"", "sh", "-machine", "none", "-display", "none",
			       "-nodefaults", NULL };
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, NULL, NULL), 0);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	char *tail = qk_vm_output_tail(vm, 2);
	assert_string_equal(tail, "hello from stdout\nand stderr");
	free(tail);
	qk_vm_free(vm);
}

static void output_goes_to_the_log(void **state)
{
	char log[] = "/tmp/qkit-test-log.XXXXXX";
	int fd = mkstemp(log);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "earlier\n", 8), 8); /* appended to, not replaced */
	close(fd);
	char *const argv[] = { "/bin/sh", "-c", "echo to the log >&2; exec " QEMU " \"$@\"", "sh",
			       "-machine", "none", "-display", "none", "-nodefaults", NULL };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.log_path = log;
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, &opts, NULL), 0);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	qk_vm_free(vm);
	char buf[256];
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	fclose(f);
	assert_string_equal(buf, "earlier\nto the log\n");
	unlink(log);

	qk_error *err = NULL;
	opts.log_path = "/nonexistent/qemu.log";
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, &err), -ENOENT);
	assert_string_equal(qk_error_message(err),
			    "opening log /nonexistent/qemu.log: No such file or directory");
	qk_error_free(err);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 4096);
	size_t len = fread(buf, 1, 4095, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void log_rotates_at_its_cap(void **state)
{
	char log[] = "/tmp/qkit-test-rotate.XXXXXX";
	int fd = mkstemp(log);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "earlier\n", 8), 8);
	close(fd);
	char old[64];
	snprintf(old, sizeof(old), "%s.1", log);
	/* Ten lines of 20 bytes, into a log capped at 100. */
	char *const argv[] = { "/bin/sh", "-c",
			       "for i in 0 1 2 3 4 5 6 7 8 9; do echo \"line $i of the output\" >&2; done; "
			       "exec " QEMU " \"$@\"", "sh", "-machine", "none", "-display", "none",
			       "-nodefaults", NULL };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.log_path = log;
	opts.log_max_bytes = 100;
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, &opts, NULL), 0);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	qk_vm_free(vm);
	char *cur = slurp(log), *prev = slurp(old);
	assert_non_null(cur);
	assert_non_null(prev);
	assert_true(strlen(cur) <= 100 && strlen(prev) <= 100);
	/* Whole lines, the newest last, nothing lost between the two files. */
	assert_string_equal(prev, "line 4 of the output\nline 5 of the output\nline 6 of the output\n"
				  "line 7 of the output\n");
	assert_string_equal(cur, "line 8 of the output\nline 9 of the output\n");
	free(cur);
	free(prev);
	unlink(log);
	unlink(old);
}

struct mux {
	const char *sock;
	volatile int done;
	char failure[512]; /* empty when every check passed */
};

static void mux_failed(struct mux *m, const char *what, qk_error *err)
{
	if (!m->failure[0])
		snprintf(m->failure, sizeof(m->failure), "%s: %s", what,
			 err ? qk_error_message(err) : "wrong answer");
	qk_error_free(err);
}

static void count_reply(qk_qmp *qmp, json_t *ret, const qk_error *e, void *userdata)
{
	*(int *)userdata += ret && !e ? 1 : 100;
}

/* Two clients of the VM's public socket at once, while the VM is served. */
static void *mux_clients(void *arg)
{
	struct mux *m = arg;
	qk_qmp_options o = QK_QMP_OPTIONS_INIT;
	o.timeout_ms = o.connect_timeout_ms = 10000;
	qk_qmp *a = NULL, *b = NULL;
	qk_error *err = NULL;
	if (qk_qmp_connect_unix(&a, m->sock, &o, &err) < 0)
		mux_failed(m, "client a", err);
	else if (qk_qmp_connect_unix(&b, m->sock, &o, &err) < 0)
		mux_failed(m, "client b", err);
	if (a && b) {
		/* QEMU 7.2 offers oob, and so does the supervisor's greeting. */
		if (!qk_qmp_oob_enabled(a) || !json_object_get(qk_qmp_greeting(b), "version"))
			mux_failed(m, "greeting", NULL);
		/* Both clients number their commands from 1: the proxy keeps them apart. */
		int replies = 0;
		if (qk_qmp_send(a, "query-status", NULL, NULL, 0, -1, count_reply, &replies, NULL, &err) < 0 ||
		    qk_qmp_send(b, "query-kvm", NULL, NULL, 0, -1, count_reply, &replies, NULL, &err) < 0)
			mux_failed(m, "send", err);
		for (int i = 0; i < 200 && replies < 2; i++) {
			qk_qmp_process(a, NULL);
			qk_qmp_process(b, NULL);
			usleep(10000);
		}
		if (replies != 2)
			mux_failed(m, "two commands in flight", NULL);
		/* b's commands make the events a sees. */
		if (qk_qmp_cont(b, &err) < 0 || qk_qmp_stop(b, &err) < 0)
			mux_failed(m, "cont and stop", err);
		else if (qk_qmp_wait_event(a, "RESUME", NULL, 10000, NULL, &err) < 0 ||
			 qk_qmp_wait_event(a, "STOP", NULL, 10000, NULL, &err) < 0)
			mux_failed(m, "events of the other client", err);
		json_t *ret = NULL;
		if (qk_qmp_execute(a, "no-such-command", NULL, &ret, &err) != -EIO ||
		    !qk_error_qmp_class(err) || strcmp(qk_error_qmp_class(err), "CommandNotFound"))
			mux_failed(m, "an error reply", NULL);
		qk_error_free(err);
		json_decref(ret);
	}
	qk_qmp_free(a);
	qk_qmp_free(b);
	m->done = 1;
	return NULL;
}

static void public_qmp_socket_serves_clients_at_once(void **state)
{
	char dir[] = "/tmp/qkit-test-mux.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sock[64];
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.paused = true;
	opts.qmp_socket = sock;
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, NULL), 0);
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct mux m = { .sock = sock };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, mux_clients, &m), 0);
	qk_vm_exit ex;
	for (int i = 0; i < 600 && !m.done; i++)
		assert_int_equal(qk_vm_poll(vm, 50, &ex, NULL), 0);
	assert_true(m.done);
	pthread_join(t, NULL);
	if (m.failure[0])
		fail_msg("%s", m.failure);
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	qk_vm_free(vm);
	assert_int_equal(stat(sock, &st), -1);
	rmdir(dir);
}

static void environment_and_cwd(void **state)
{
	char *const argv[] = { "/bin/sh", "-c", "echo \"[$QKIT_T][$HOME][$(pwd)]\"; "
			       "exec " QEMU " \"$@\"", "sh", "-machine", "none", "-display", "none",
			       "-nodefaults", NULL };
	char *const env[] = { "QKIT_T=yes", "PATH=/usr/bin:/bin", NULL };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.clean_env = true;
	opts.env = env;
	opts.cwd = "/tmp";
	opts.new_process_group = true;
	qk_vm *vm = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, &opts, NULL), 0);
	assert_int_equal(getpgid(qk_vm_pid(vm)), qk_vm_pid(vm));
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	char *tail = qk_vm_output_tail(vm, 1);
	assert_string_equal(tail, "[yes][][/tmp]");
	free(tail);
	qk_vm_free(vm);
}

static void waitpid_fallback_works(void **state)
{
	process_force_no_pidfd(true);
	qk_vm *vm = NULL;
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.paused = true;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, NULL), 0);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_POWERED_OFF);
	qk_vm_free(vm);
	process_force_no_pidfd(false);
	assert_int_equal(count_children(), 0);
}

static void paused_then_cont(void **state)
{
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.paused = true;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, &err), 0);
	assert_int_equal(qk_vm_cont(vm, &err), 0);
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qk_vm_qmp(vm), "query-status", NULL, &ret, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
	qk_vm_free(vm);
}

static void bad_fd_is_named(void **state)
{
	int fds[] = { 0, 999 };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.fds = fds;
	opts.n_fds = 2;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, &opts, &err), -EBADF);
	assert_string_equal(qk_error_message(err), "fds[1]: 999 is not an open file descriptor");
	qk_error_free(err);
}

struct seen {
	char text[8192];
	size_t len;
};

static void collect(const char *data, size_t len, void *userdata)
{
	struct seen *s = userdata;
	size_t room = sizeof(s->text) - 1 - s->len;
	memcpy(s->text + s->len, data, len < room ? len : room);
	s->len += len < room ? len : room;
	s->text[s->len] = '\0';
}

/*
 * The console chardev, without a guest: QEMU's human monitor runs on it,
 * so what we type through the console socket is answered on the console.
 */
static void console_is_drained_and_relayed(void **state)
{
	char dir[] = "/tmp/qkit-test-console.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sock[128], log[128];
	snprintf(sock, sizeof(sock), "%s/console.sock", dir);
	snprintf(log, sizeof(log), "%s/console.log", dir);
	char *const argv[] = { NONE_ARGS, "-mon", "chardev=" QK_VM_CONSOLE_CHARDEV ",mode=readline", NULL };
	struct seen seen = { .len = 0 };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.console = true;
	opts.console_socket = sock;
	opts.console_log_path = log;
	opts.console_fn = collect;
	opts.console_userdata = &seen;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, argv, &opts, &err), 0);
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, sock);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 50 && !strstr(seen.text, "(qemu)"); i++)
		qk_vm_poll(vm, 100, NULL, NULL);
	assert_non_null(strstr(seen.text, "(qemu)"));
	assert_int_equal(write(c, "info version\n", 13), 13);
	/* The answer: the version, then the next prompt. */
	for (int i = 0; i < 50 && !(strstr(seen.text, "info version") &&
				    strstr(strstr(seen.text, "info version"), "(qemu)")); i++)
		qk_vm_poll(vm, 100, NULL, NULL);
	char *tail = qk_vm_console_tail(vm, 2);
	assert_true(tail[0] >= '1' && tail[0] <= '9'); /* "7.2.22 (Debian ...)" */
	assert_non_null(strstr(tail, "(qemu)"));
	free(tail);

	/* The client saw the same, and the log has it too. */
	char got[8192];
	ssize_t n = recv(c, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	got[n] = '\0';
	assert_non_null(strstr(got, "(qemu)"));
	assert_int_equal(qk_vm_console_write(vm, "info status\n", 12, &err), 0);
	for (int i = 0; i < 50 && !strstr(seen.text, "VM status"); i++)
		qk_vm_poll(vm, 100, NULL, NULL);
	assert_non_null(strstr(seen.text, "VM status: running"));
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	qk_vm_free(vm);
	close(c);
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	size_t len = fread(got, 1, sizeof(got) - 1, f);
	got[len] = '\0';
	fclose(f);
	assert_non_null(strstr(got, "VM status: running"));
	assert_int_equal(stat(sock, &st), -1); /* removed with the VM */
	unlink(log);
	rmdir(dir);
}

static void no_console_write_fails(void **state)
{
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_launch(&vm, none_argv, NULL, NULL), 0);
	assert_int_equal(qk_vm_console_write(vm, "x", 1, &err), -ENOTCONN);
	assert_string_equal(qk_error_message(err), "console: the VM has none (or it closed)");
	qk_error_free(err);
	qk_vm_free(vm);
}

static void credentials_are_dropped(void **state)
{
	if (geteuid() != 0)
		skip();
	gid_t groups[] = { 65533 };
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.uid = 65534;
	opts.gid = 65534;
	opts.set_groups = true;
	opts.groups = groups;
	opts.n_groups = 1;
	opts.paused = true;
	qk_vm *vm = NULL;
	qk_error *err = NULL;
	if (qk_vm_launch(&vm, none_argv, &opts, &err) < 0)
		fail_msg("%s", qk_error_message(err));
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)qk_vm_pid(vm));
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uid:", 4) == 0) {
			assert_string_equal(line, "Uid:\t65534\t65534\t65534\t65534\n");
			found++;
		} else if (strncmp(line, "Gid:", 4) == 0) {
			assert_string_equal(line, "Gid:\t65534\t65534\t65534\t65534\n");
			found++;
		} else if (strncmp(line, "Groups:", 7) == 0) {
			assert_string_equal(line, "Groups:\t65533 \n");
			found++;
		}
	}
	fclose(f);
	assert_int_equal(found, 3);
	qk_vm_exit ex;
	assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
	assert_int_equal(ex.end, QK_VM_POWERED_OFF);
	qk_vm_free(vm);
}

static bool running(pid_t pid);

/* Changing credentials clears PR_SET_PDEATHSIG: it must be set after them. */
static void dropped_credentials_still_die_with_the_supervisor(void **state)
{
	if (geteuid() != 0)
		skip();
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t sup = fork();
	assert_true(sup >= 0);
	if (sup == 0) {
		qk_vm_options opts = QK_VM_OPTIONS_INIT;
		opts.uid = 65534;
		opts.gid = 65534;
		opts.paused = true;
		qk_vm *vm = NULL;
		pid_t pid = 0;
		if (qk_vm_launch(&vm, none_argv, &opts, NULL) == 0)
			pid = qk_vm_pid(vm);
		if (write(p[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		_exit(0); /* the supervisor dies; QEMU must follow */
	}
	close(p[1]);
	pid_t qemu = 0;
	assert_int_equal(read(p[0], &qemu, sizeof(qemu)), sizeof(qemu));
	close(p[0]);
	assert_true(qemu > 0);
	waitpid(sup, NULL, 0);
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = !running(qemu);
		if (!gone)
			usleep(10000);
	}
	if (!gone)
		kill(qemu, SIGKILL);
	assert_true(gone);
}

/*
 * Whether pid runs. A detached supervisor is adopted by init, and an init
 * that does not reap (as in some containers) leaves a zombie: that is gone.
 */
static bool running(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] && p[2] != 'Z' && p[2] != 'X';
}

static void ready_pipe(qk_vm *vm, void *userdata)
{
	int fd = *(int *)userdata;
	pid_t pid = qk_vm_pid(vm);
	if (write(fd, &pid, sizeof(pid)) != sizeof(pid))
		abort();
}

/*
 * A foreground supervisor in a child process publishes its state; another
 * process stops it by name with a 1 s power-button wait; the state goes.
 */
static void supervise_and_stop_by_name(void **state)
{
	char dir[] = "/tmp/qkit-test-supervise.XXXXXX";
	assert_non_null(mkdtemp(dir));
	setenv("QKIT_RUNTIME_DIR", dir, 1);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t sup = fork();
	assert_true(sup >= 0);
	if (sup == 0) {
		close(ready[0]);
		qk_vm_supervise_options so = QK_VM_SUPERVISE_OPTIONS_INIT;
		so.name = "unit";
		so.ready = ready_pipe;
		so.userdata = &ready[1];
		json_t *spec = json_pack("{s:s}", "machine", "none");
		so.spec = spec;
		qk_vm_exit ex;
		int r = qk_vm_supervise(&so, none_argv, NULL, &ex, NULL);
		json_decref(spec);
		/* No guest to press the button for: quit ends it. */
		_exit(r == 0 && ex.end == QK_VM_POWERED_OFF &&
		      strcmp(ex.shutdown_reason, "host-qmp-quit") == 0 ? 0 : 1);
	}
	close(ready[1]);
	pid_t qemu = 0;
	assert_int_equal(read(ready[0], &qemu, sizeof(qemu)), sizeof(qemu));
	close(ready[0]);

	qk_vm_state *st = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_state_lookup(&st, "unit", &err), 0);
	assert_int_equal(qk_vm_state_pid(st), qemu);
	assert_int_equal(qk_vm_state_supervisor_pid(st), sup);
	assert_string_equal(json_string_value(json_object_get(qk_vm_state_spec(st), "machine")), "none");
	assert_non_null(strstr(qk_vm_state_qmp_socket(st), "/vms/unit/qmp.sock"));
	assert_non_null(strstr(qk_vm_state_log(st), "/vms/unit/qemu.log"));
	qk_vm_state_free(st);

	/* The same name cannot be supervised twice. */
	qk_vm_exit ex;
	assert_int_equal(qk_vm_supervise(&(qk_vm_supervise_options){ .name = "unit", .timeout_ms = -1 },
					 none_argv, NULL, &ex, &err), -EEXIST);
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_vm_stop_by_name("unit", 1000, &err), 0);
	int status;
	assert_int_equal(waitpid(sup, &status, 0), sup);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(qk_state_lookup(&st, "unit", &err), -ENOENT);
	qk_error_free(err);
	rmdir(dir); /* only vms/ and its lock are left */
	char path[128];
	snprintf(path, sizeof(path), "%s/vms/.lock", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vms", dir);
	rmdir(path);
	rmdir(dir);
	unsetenv("QKIT_RUNTIME_DIR");
}

static void detach_then_kill_by_name(void **state)
{
	char dir[] = "/tmp/qkit-test-detach.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int fds_before = count_fds();
	setenv("QKIT_RUNTIME_DIR", dir, 1);
	qk_vm_supervise_options so = QK_VM_SUPERVISE_OPTIONS_INIT;
	so.name = "bg";
	qk_vm_options opts = QK_VM_OPTIONS_INIT;
	opts.paused = true;
	pid_t sup = 0;
	qk_error *err = NULL;
	assert_int_equal(qk_vm_detach(&so, none_argv, &opts, &sup, &err), 0);
	assert_true(sup > 0);
	/* Not our child: double-forked away. */
	assert_int_equal(waitpid(sup, NULL, WNOHANG), -1);
	qk_vm_state *st = NULL;
	assert_int_equal(qk_state_lookup(&st, "bg", &err), 0);
	assert_int_equal(qk_vm_state_supervisor_pid(st), sup);
	assert_int_equal(process_parent_of(qk_vm_state_pid(st)), sup);
	qk_vm_state_free(st);

	/* A launch failure under another name is reported here. */
	char *const bad[] = { NONE_ARGS, "-device", "foo", NULL };
	so.name = "bad";
	assert_true(qk_vm_detach(&so, bad, NULL, NULL, &err) < 0);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_QEMU);
	assert_non_null(strstr(qk_error_message(err), "'foo' is not a valid device model name"));
	qk_error_free(err);
	err = NULL;
	assert_int_equal(qk_state_lookup(&st, "bad", &err), -ENOENT);
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_vm_kill_by_name("bg", &err), 0);
	assert_false(running(sup));
	assert_int_equal(qk_state_lookup(&st, "bg", &err), -ENOENT);
	qk_error_free(err);
	assert_int_equal(count_fds(), fds_before);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	unsetenv("QKIT_RUNTIME_DIR");
}

static void hundred_cycles_leak_nothing(void **state)
{
	int fds_before = count_fds();
	for (int i = 0; i < 100; i++) {
		qk_vm_options opts = QK_VM_OPTIONS_INIT;
		opts.paused = true;
		qk_vm *vm = NULL;
		qk_error *err = NULL;
		if (qk_vm_launch(&vm, none_argv, &opts, &err) < 0)
			fail_msg("cycle %d: %s", i, qk_error_message(err));
		qk_vm_exit ex;
		assert_int_equal(qk_vm_stop(vm, NULL, &ex, NULL), 0);
		assert_int_equal(ex.end, QK_VM_POWERED_OFF);
		qk_vm_free(vm);
	}
	assert_int_equal(count_fds(), fds_before);
	assert_int_equal(count_children(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(launch_query_and_stop),
		cmocka_unit_test(launch_failure_quotes_qemu),
		cmocka_unit_test(missing_binary_is_not_found),
		cmocka_unit_test(bad_cwd_names_the_stage),
		cmocka_unit_test(fds_at_known_numbers_and_nothing_else),
		cmocka_unit_test(killed_by_signal),
		cmocka_unit_test(wait_times_out_or_kills),
		cmocka_unit_test(error_exit_after_launch),
		cmocka_unit_test(stop_ladder_escalates_to_sigterm),
		cmocka_unit_test(free_kills_a_running_vm),
		cmocka_unit_test(output_is_captured),
		cmocka_unit_test(output_goes_to_the_log),
		cmocka_unit_test(log_rotates_at_its_cap),
		cmocka_unit_test(public_qmp_socket_serves_clients_at_once),
		cmocka_unit_test(environment_and_cwd),
		cmocka_unit_test(waitpid_fallback_works),
		cmocka_unit_test(paused_then_cont),
		cmocka_unit_test(bad_fd_is_named),
		cmocka_unit_test(console_is_drained_and_relayed),
		cmocka_unit_test(no_console_write_fails),
		cmocka_unit_test(credentials_are_dropped),
		cmocka_unit_test(dropped_credentials_still_die_with_the_supervisor),
		cmocka_unit_test(supervise_and_stop_by_name),
		cmocka_unit_test(detach_then_kill_by_name),
		cmocka_unit_test(hundred_cycles_leak_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
