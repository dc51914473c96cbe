/* SPDX-License-Identifier: MIT */
/*
 * Escaping, proved by QEMU itself: files whose names hold commas, equals
 * signs, quotes, spaces, a newline and non-ASCII are given to the real
 * qemu-system-x86_64 through a rendered spec, in comma syntax and in JSON
 * syntax. QEMU is started paused and asked over QMP what it opened
 * (query-named-block-nodes), what the VM is called (query-name) and what
 * serial a disk has (qom-get); each must be exactly what the spec said.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "golden-util.h"

extern char **environ;

static const char *const names[] = {
	"a,file=x.img",
	"q 'single' \"double\".img",
	"line\nbreak.img",
	"ünïcødé,名前=1.img",
};
static const char *const serials[] = { "s,n=1", "quote'\"", "sp ace", "é,," };

static int fails;

#define CHECK(cond, ...)                                    \
	do {                                                \
		if (!(cond)) {                              \
			printf("FAIL: " __VA_ARGS__);       \
			printf("\n");                       \
			fails++;                            \
		}                                           \
	} while (0)

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
		printf("FAIL: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

static qk_spec *build(const char *dir)
{
	qk_spec *spec = NULL;
	qk_error *err = NULL;
	if (qk_spec_new(&spec, &err) < 0 || qk_spec_set_string(spec, "arch", "x86_64", &err) < 0 ||
	    qk_spec_set_string(spec, "name", "vm,name=evil \"q\" é", &err) < 0 ||
	    qk_spec_set_string(spec, "console.type", "none", &err) < 0 ||
	    qk_spec_set_string(spec, "memory.size", "64M", &err) < 0) {
		printf("FAIL: %s\n", qk_error_message(err));
		exit(1);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[4096], id[16];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(id, sizeof(id), "d%zu", i);
		qk_device *d;
		if (qk_spec_add_disk(spec, path, &d, &err) < 0 || qk_device_set_string(d, "id", id, &err) < 0 ||
		    qk_device_set_string(d, "serial", serials[i], &err) < 0) {
			printf("FAIL: %s\n", qk_error_message(err));
			exit(1);
		}
	}
	return spec;
}

static void run(const char *dir, qk_syntax syntax, const char *label)
{
	qk_spec *spec = build(dir);
	qk_render_opts opts = QK_RENDER_OPTS_INIT;
	opts.syntax = syntax;
	opts.paused = true;
	char **argv = NULL;
	qk_error *err = NULL;
	if (qk_spec_render(spec, &opts, &argv, &err) < 0) {
		printf("FAIL %s: %s\n", label, qk_error_message(err));
		exit(1);
	}
	size_t n = 0;
	while (argv[n])
		n++;
	char sock[4200], qmparg[4300];
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", sock);
	char **full = calloc(n + 3, sizeof(*full));
	memcpy(full, argv, n * sizeof(*full));
	full[n] = (char *)"-qmp";
	full[n + 1] = qmparg;

	/* stdout and stderr stay ours: QEMU's complaint is the test's message. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, full[0], &fa, NULL, full, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		printf("FAIL %s: cannot start %s: %s\n", label, full[0], strerror(r));
		exit(1);
	}
	qk_qmp *qmp = golden_qmp_connect(sock, pid);
	CHECK(qmp, "%s: QEMU did not come up", label);
	if (qmp) {
		json_t *ret = NULL;
		if (qk_qmp_execute(qmp, "query-name", NULL, &ret, &err) == 0) {
			const char *name = json_string_value(json_object_get(ret, "name"));
			CHECK(name && strcmp(name, "vm,name=evil \"q\" é") == 0, "%s: QEMU's name is '%s'", label,
			      name ? name : "(none)");
			json_decref(ret);
		}
		ret = NULL;
		if (qk_qmp_execute(qmp, "query-named-block-nodes", NULL, &ret, &err) == 0) {
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
				char want[4096], node[32];
				snprintf(want, sizeof(want), "%s/%s", dir, names[i]);
				snprintf(node, sizeof(node), "d%zu-file", i);
				const char *got = NULL;
				size_t j;
				json_t *nd;
				json_array_foreach(ret, j, nd)
					if (strcmp(json_string_value(json_object_get(nd, "node-name")), node) == 0)
						got = json_string_value(json_object_get(nd, "file"));
				CHECK(got && strcmp(got, want) == 0, "%s: node %s opened '%s', not '%s'", label, node,
				      got ? got : "(nothing)", want);
			}
			json_decref(ret);
		}
		for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
			char path[64];
			snprintf(path, sizeof(path), "/machine/peripheral/d%zu", i);
			json_t *args = json_pack("{s:s, s:s}", "path", path, "property", "serial");
			ret = NULL;
			if (qk_qmp_execute(qmp, "qom-get", args, &ret, &err) == 0) {
				const char *got = json_string_value(ret);
				CHECK(got && strcmp(got, serials[i]) == 0, "%s: d%zu's serial is '%s', not '%s'", label, i,
				      got ? got : "(none)", serials[i]);
			}
			json_decref(args);
			json_decref(ret);
		}
		CHECK(!err, "%s: QMP: %s", label, qk_error_message(err));
		qk_error_free(err);
		err = NULL;
	}
	golden_qemu_end(qmp, pid);
	unlink(sock);
	free(full);
	qk_argv_free(argv);
	qk_spec_free(spec);
	if (!fails)
		printf("ok   %s: QEMU saw every path, name and serial exactly\n", label);
}

int main(void)
{
	char dir[] = "/tmp/qkit-readback-XXXXXX";
	if (!mkdtemp(dir)) {
		printf("FAIL: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		make_file(path);
	}
	run(dir, QK_SYNTAX_COMMA, "comma syntax");
	run(dir, QK_SYNTAX_JSON, "JSON syntax");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return fails ? 1 : 0;
}
