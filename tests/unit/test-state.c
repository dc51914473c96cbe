/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/state.h>

static char runtime[] = "/tmp/qkit-test-state.XXXXXX";

static int setup(void **state)
{
	if (!mkdtemp(runtime))
		return -1;
	setenv("QKIT_RUNTIME_DIR", runtime, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", runtime);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *sample_state(pid_t pid)
{
	return json_pack("{s:i, s:i, s:s, s:[s,s,s], s:I}", "pid", (int)pid, "supervisor_pid",
			 (int)getpid(), "qmp_socket", "/x/qmp.sock", "argv", "qemu-system-x86_64",
			 "-machine", "none", "started", (json_int_t)1700000000);
}

static void runtime_dir_order(void **state)
{
	char *dir = NULL;
	setenv("QKIT_RUNTIME_DIR", "/somewhere", 1);
	assert_int_equal(qk_runtime_dir(&dir, NULL), 0);
	assert_string_equal(dir, "/somewhere");
	free(dir);
	unsetenv("QKIT_RUNTIME_DIR");
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(qk_runtime_dir(&dir, NULL), 0);
	assert_string_equal(dir, "/run/user/1000/qkit");
	free(dir);
	unsetenv("XDG_RUNTIME_DIR");
	char fallback[64];
	snprintf(fallback, sizeof(fallback), "/tmp/qkit-%u", (unsigned)geteuid());
	assert_int_equal(qk_runtime_dir(&dir, NULL), 0);
	assert_string_equal(dir, geteuid() == 0 ? "/run/qkit" : fallback);
	free(dir);
	setenv("QKIT_RUNTIME_DIR", runtime, 1);
}

static void names_are_checked(void **state)
{
	qk_error *err = NULL;
	assert_true(qk_vm_name_valid("web-1.test_x", NULL));
	assert_false(qk_vm_name_valid("a/b", &err));
	assert_string_equal(qk_error_message(err),
			    "name \"a/b\": '/' is not allowed (use letters, digits, '_', '.', '-')");
	qk_error_free(err);
	err = NULL;
	assert_false(qk_vm_name_valid("..", &err));
	assert_string_equal(qk_error_message(err), "name \"..\": must not start with '.'");
	qk_error_free(err);
	assert_false(qk_vm_name_valid("", NULL));
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(qk_vm_name_valid(longname, NULL));
}

static void reserve_publish_lookup_release(void **state)
{
	qk_state_reservation *res = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_state_reserve(&res, "web", &err), 0);
	assert_null(err);

	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/vms/web", runtime);
	assert_string_equal(qk_state_reservation_dir(res), path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Before state.json exists the VM is "starting". */
	qk_vm_state *vs = NULL;
	assert_int_equal(qk_state_lookup(&vs, "web", &err), -EAGAIN);
	assert_non_null(strstr(qk_error_message(err), "is starting"));
	qk_error_free(err);
	err = NULL;

	json_t *j = sample_state(getpid());
	assert_int_equal(qk_state_reservation_publish(res, j, &err), 0);
	json_decref(j);

	assert_int_equal(qk_state_lookup(&vs, "web", &err), 0);
	assert_string_equal(qk_vm_state_name(vs), "web");
	assert_int_equal(qk_vm_state_pid(vs), getpid());
	assert_int_equal(qk_vm_state_supervisor_pid(vs), getpid());
	assert_string_equal(qk_vm_state_qmp_socket(vs), "/x/qmp.sock");
	assert_null(qk_vm_state_console_socket(vs));
	assert_string_equal(qk_vm_state_argv(vs)[2], "none");
	assert_null(qk_vm_state_argv(vs)[3]);
	assert_int_equal(qk_vm_state_started(vs), 1700000000);
	assert_int_equal(json_integer_value(json_object_get(qk_vm_state_json(vs), "version")), 1);
	qk_vm_state_free(vs);

	qk_vm_state **list = NULL;
	size_t n = 0;
	assert_int_equal(qk_state_list(&list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(qk_vm_state_name(list[0]), "web");
	qk_vm_state_list_free(list, n);

	qk_state_reservation_release(res, true);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(qk_state_lookup(&vs, "web", &err), -ENOENT);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_NOT_FOUND);
	assert_string_equal(qk_error_message(err), "no VM named \"web\"");
	qk_error_free(err);
}

static void missing_member_is_refused(void **state)
{
	qk_state_reservation *res = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_state_reserve(&res, "partial", NULL), 0);
	json_t *j = sample_state(getpid());
	json_object_del(j, "qmp_socket");
	assert_int_equal(qk_state_reservation_publish(res, j, &err), -EINVAL);
	assert_string_equal(qk_error_message(err),
			    "state of VM \"partial\": \"qmp_socket\" is missing");
	qk_error_free(err);
	json_decref(j);
	qk_state_reservation_release(res, true);
}

/*
 * A child reserves the name and holds it; the parent's reservation is
 * refused and creates nothing. Once the child dies the state is stale:
 * lookup removes it and the name can be reserved again.
 */
static void duplicate_refused_then_stale_cleaned(void **state)
{
	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		qk_state_reservation *res = NULL;
		char c = 0;
		if (qk_state_reserve(&res, "dup", NULL) < 0)
			_exit(1);
		json_t *j = sample_state(getpid());
		if (qk_state_reservation_publish(res, j, NULL) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0); /* dies holding the reservation: no cleanup */
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);

	qk_state_reservation *res = NULL;
	qk_error *err = NULL;
	char expected[128];
	snprintf(expected, sizeof(expected), "a VM named \"dup\" is already running (pid %d)",
		 (int)child);
	assert_int_equal(qk_state_reserve(&res, "dup", &err), -EEXIST);
	assert_string_equal(qk_error_message(err), expected);
	assert_null(res);
	qk_error_free(err);
	err = NULL;

	assert_int_equal(write(go[1], "g", 1), 1);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);

	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/vms/dup/state.json", runtime);
	assert_int_equal(stat(path, &st), 0); /* left behind by the dead child */
	qk_vm_state *vs = NULL;
	assert_int_equal(qk_state_lookup(&vs, "dup", &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "stale"));
	qk_error_free(err);
	assert_int_equal(stat(path, &st), -1);

	assert_int_equal(qk_state_reserve(&res, "dup", NULL), 0);
	qk_state_reservation_release(res, true);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void list_skips_and_cleans_stale(void **state)
{
	/* A directory with a lock nobody holds, as a crashed supervisor leaves. */
	char path[512];
	snprintf(path, sizeof(path), "%s/vms/ghost", runtime);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/vms/ghost/lock", runtime);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	qk_vm_state **list = NULL;
	size_t n = 99;
	assert_int_equal(qk_state_list(&list, &n, NULL), 0);
	assert_int_equal(n, 0);
	qk_vm_state_list_free(list, n);
	snprintf(path, sizeof(path), "%s/vms/ghost", runtime);
	struct stat st;
	assert_int_equal(stat(path, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runtime_dir_order),
		cmocka_unit_test(names_are_checked),
		cmocka_unit_test(reserve_publish_lookup_release),
		cmocka_unit_test(missing_member_is_refused),
		cmocka_unit_test(duplicate_refused_then_stale_cleaned),
		cmocka_unit_test(list_skips_and_cleans_stale),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
