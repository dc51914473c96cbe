/* SPDX-License-Identifier: MIT */
/*
 * Acceptance of the golden cases by the real QEMU, over libqkit's QMP
 * client.
 *
 * Every NAME.ARCH.args whose NAME.yaml does not say "# accept: no" (the
 * cases that need a tap device, a vhost-user socket, KVM, a kernel...) is
 * started with its qemu-system-ARCH, paused (-S) and with a QMP socket.
 * QEMU must come up, `qom-list /machine/peripheral` must list every -device
 * id of the argv, and on PCI machines `query-pci` must answer. A case QEMU
 * rejects fails with QEMU's message.
 *
 * The cases QEMU cannot start here ("# accept: no") are checked by name:
 * every -device driver and -object type must exist in that QEMU with every
 * property the argv gives it (qom-list-properties on a bare QEMU), unless
 * the case renders for a newer QEMU or says "# probe: no" and why.
 *
 * Paths under /tmp/qkit-golden/ and under @SPECDIR@/ (a case's relative
 * paths) are made to exist first, in a private directory substituted for
 * that prefix: *.qcow2 by qemu-img, *.img, *.iso,
 * *.fd (4 MiB), *.log, *.json, *.pw, *.pid as files, *.nv as a 128 MiB
 * file, *.sock left for QEMU to create, anything else as a directory. Port
 * forwards, TCP chardev servers and socket/dgram netdevs listen on port 0,
 * so a busy port, or another run of this test, cannot fail a case.
 *
 * Usage: accept DIR [NAME...]
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
#include <unistd.h>

#include <qkit/qkit.h>

#include "buf.h"
#include "golden-util.h"
#include "util.h"

extern char **environ;

#define PREFIX "/tmp/qkit-golden/"
/* How the runner writes the cases' directory: a case's relative paths. */
#define SPECDIR "@SPECDIR@/"

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t l = strlen(suffix);
	return len >= l && memcmp(s + len - l, suffix, l) == 0;
}

static int run_quiet(char *const argv[])
{
	pid_t pid;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Create what a /tmp/qkit-golden/NAME stands for, in tmp. */
static void make_path(const char *tmp, const char *name, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%.*s", tmp, (int)len, name);
	if (access(path, F_OK) == 0 || ends_with(name, len, ".sock"))
		return;
	if (ends_with(name, len, ".qcow2")) {
		run_quiet((char *const[]){ (char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f",
					   (char *)"qcow2", path, (char *)"16M", NULL });
		return;
	}
	static const char *const files[] = { ".img", ".iso", ".fd", ".log", ".json", ".pw", ".pid", ".nv" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (!ends_with(name, len, files[i]))
			continue;
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return;
		off_t size = i < 3 ? 4 << 20 : i == 7 ? 128 << 20 : 0;
		if (ftruncate(fd, size) < 0 || (i == 5 && write(fd, "secret", 6) != 6))
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
		close(fd);
		return;
	}
	mkdir(path, 0700);
}

/* Replace the digits after each occurrence of `after` (in text following `cond`, if given) by 0. */
static void zero_ports(struct buf *b, const char *after, const char *cond)
{
	if (cond && !strstr(b->data, cond))
		return;
	struct buf out = BUF_INIT;
	const char *p = b->data;
	for (const char *hit; (hit = strstr(p, after));) {
		hit += strlen(after);
		size_t digits = strspn(hit, "0123456789");
		buf_append(&out, p, (size_t)(hit - p));
		if (digits)
			buf_putc(&out, '0');
		p = hit + digits;
	}
	buf_puts(&out, p);
	buf_free(b);
	*b = out;
}

/* hostfwd=tcp:ADDR:PORT-...: the host port becomes 0. */
static void zero_forwards(struct buf *b)
{
	struct buf out = BUF_INIT;
	const char *p = b->data;
	while (*p) {
		const char *t = strstr(p, "tcp:"), *u = strstr(p, "udp:");
		const char *hit = !t ? u : !u ? t : t < u ? t : u;
		if (!hit)
			break;
		const char *addr = hit + 4;
		const char *colon = addr + strspn(addr, "0123456789.");
		size_t digits = *colon == ':' ? strspn(colon + 1, "0123456789") : 0;
		if (digits && colon[1 + digits] == '-') {
			buf_append(&out, p, (size_t)(colon + 1 - p));
			buf_putc(&out, '0');
			p = colon + 1 + digits;
		} else {
			buf_append(&out, p, (size_t)(addr - p));
			p = addr;
		}
	}
	buf_puts(&out, p);
	buf_free(b);
	*b = out;
}

/* The length of the prefix standing for the run's directory at s, or 0. */
static size_t prefix_at(const char *s, size_t len)
{
	static const char *const prefixes[] = { PREFIX, SPECDIR };
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (len >= strlen(prefixes[i]) && memcmp(s, prefixes[i], strlen(prefixes[i])) == 0)
			return strlen(prefixes[i]);
	return 0;
}

/* One argument of an .args line, made to run here. */
static char *localize(const char *line, size_t len, const char *tmp)
{
	struct buf b = BUF_INIT;
	size_t pl;
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\\' && i + 1 < len) {
			buf_putc(&b, line[++i] == 'n' ? '\n' : line[i]);
		} else if ((pl = prefix_at(line + i, len - i))) {
			const char *name = line + i + pl;
			size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
			make_path(tmp, name, n);
			buf_printf(&b, "%s/", tmp);
			i += pl - 1;
		} else {
			buf_putc(&b, line[i]);
		}
	}
	buf_reserve(&b, 0);
	zero_forwards(&b);
	zero_ports(&b, "port=", "server=on");
	zero_ports(&b, "listen=127.0.0.1:", NULL);
	zero_ports(&b, "\"local\":{\"type\":\"inet\",\"host\":\"127.0.0.1\",\"port\":\"", NULL);
	return buf_steal(&b);
}

/* The id of a -device value, comma or JSON; malloc'd or NULL. */
static char *device_id(const char *v)
{
	if (v[0] == '{') {
		json_t *o = json_loads(v, 0, NULL);
		const char *id = json_string_value(json_object_get(o, "id"));
		char *s = id ? strdup(id) : NULL;
		json_decref(o);
		return s;
	}
	const char *p = strstr(v, ",id=");
	return p ? strndup(p + 4, strcspn(p + 4, ",")) : NULL;
}

/* NULL when QEMU took the case, else why not (malloc'd). */
static char *accept_case(const char *argspath)
{
	_cleanup_free_ char *text = golden_slurp(argspath);
	if (!text)
		return strdup("cannot read the args file");
	char tmp[] = "/tmp/qkit-accept-XXXXXX";
	if (!mkdtemp(tmp))
		return strdup("mkdtemp failed");
	char sock[64], qmparg[128], errpath[64];
	snprintf(sock, sizeof(sock), "%s/qmp.sock", tmp);
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", sock);
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmp);

	char **argv = NULL;
	size_t argc = 0;
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		argv = realloc(argv, (argc + 5) * sizeof(*argv));
		argv[argc++] = localize(line, len, tmp);
		line += len + (line[len] == '\n');
	}
	argv[argc++] = strdup("-S");
	argv[argc++] = strdup("-qmp");
	argv[argc++] = strdup(qmparg);
	argv[argc] = NULL;

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addchdir_np(&fa, tmp);
	pid_t pid;
	char *why = NULL;
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		why = strdup("cannot start QEMU");
		pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);

	qk_qmp *qmp = pid > 0 ? golden_qmp_connect(sock, pid) : NULL;
	if (pid > 0 && !qmp) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
		_cleanup_free_ char *msg = golden_slurp(errpath);
		struct buf b = BUF_INIT;
		buf_printf(&b, "QEMU did not come up: %s", msg && *msg ? msg : "(no message)");
		while (b.len && b.data[b.len - 1] == '\n')
			b.data[--b.len] = '\0';
		why = buf_steal(&b);
	}
	if (qmp) {
		json_t *ret = NULL, *args = json_pack("{s:s}", "path", "/machine/peripheral");
		qk_error *err = NULL;
		json_t *names = json_object();
		if (qk_qmp_execute(qmp, "qom-list", args, &ret, &err) == 0) {
			size_t i;
			json_t *p;
			json_array_foreach(ret, i, p)
				json_object_set(names, json_string_value(json_object_get(p, "name")), json_true());
		}
		json_decref(args);
		json_decref(ret);
		struct buf missing = BUF_INIT;
		for (size_t i = 0; argv[i] && argv[i + 1]; i++) {
			if (strcmp(argv[i], "-device") != 0)
				continue;
			_cleanup_free_ char *id = device_id(argv[i + 1]);
			if (id && !json_object_get(names, id))
				buf_printf(&missing, " %s", id);
		}
		json_decref(names);
		if (missing.len) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "devices missing from /machine/peripheral:%s", missing.data);
			why = buf_steal(&b);
		}
		buf_free(&missing);
		if (!why && (strstr(text, "\nq35") || strstr(text, "\npc") || strstr(text, "\nvirt")) &&
		    qk_qmp_execute(qmp, "query-pci", NULL, NULL, &err) < 0) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "query-pci: %s", qk_error_message(err));
			why = buf_steal(&b);
		}
		if (!why && err) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "QMP: %s", qk_error_message(err));
			why = buf_steal(&b);
		}
		qk_error_free(err);
	}
	golden_qemu_end(qmp, pid);
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	run_quiet((char *const[]){ (char *)"rm", (char *)"-rf", tmp, NULL });
	return why;
}

/* ---- the cases QEMU cannot start here: their properties, checked by name ---- */

/* One QEMU per binary, started bare (-machine none), to ask about types. */
struct probe {
	char binary[64];
	char dir[32];
	pid_t pid;
	qk_qmp *qmp;
	json_t *known; /* "device:DRIVER" or "object:TYPE" -> list of names, or null */
};

static struct probe probes[8];

static struct probe *probe_for(const char *binary)
{
	size_t i;
	for (i = 0; i < ARRAY_SIZE(probes) && probes[i].binary[0]; i++)
		if (strcmp(probes[i].binary, binary) == 0)
			return probes[i].qmp ? &probes[i] : NULL;
	if (i == ARRAY_SIZE(probes))
		return NULL;
	struct probe *p = &probes[i];
	snprintf(p->binary, sizeof(p->binary), "%s", binary);
	snprintf(p->dir, sizeof(p->dir), "/tmp/qkit-probe-XXXXXX");
	if (!mkdtemp(p->dir))
		return NULL;
	char sock[64], qmparg[128];
	snprintf(sock, sizeof(sock), "%s/qmp.sock", p->dir);
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", sock);
	char *const argv[] = { p->binary, (char *)"-machine", (char *)"none", (char *)"-nodefaults",
			       (char *)"-display", (char *)"none", (char *)"-S", (char *)"-qmp", qmparg, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ) != 0)
		p->pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	p->qmp = p->pid > 0 ? golden_qmp_connect(sock, p->pid) : NULL;
	p->known = json_object();
	return p->qmp ? p : NULL;
}

static void probes_end(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(probes) && probes[i].binary[0]; i++) {
		golden_qemu_end(probes[i].qmp, probes[i].pid);
		json_decref(probes[i].known);
		run_quiet((char *const[]){ (char *)"rm", (char *)"-rf", probes[i].dir, NULL });
	}
}

/*
 * The property names of a device driver or an object type, or NULL with
 * QEMU's answer in *why if it has no such type.
 */
static json_t *type_properties(struct probe *p, bool device, const char *type, const char **why)
{
	char key[256];
	snprintf(key, sizeof(key), "%s:%s", device ? "device" : "object", type);
	json_t *names = json_object_get(p->known, key);
	*why = json_string_value(names);
	if (names)
		return json_is_string(names) ? NULL : names;
	json_t *args = json_pack("{s:s}", "typename", type), *ret = NULL;
	qk_error *err = NULL;
	/*
	 * qom-list-properties for devices too: device-list-properties' answer
	 * has uint64 defaults (18446744073709551615) that jansson, and so the
	 * QMP client, cannot read.
	 */
	if (qk_qmp_execute(p->qmp, "qom-list-properties", args, &ret, &err) == 0) {
		names = json_object();
		size_t i;
		json_t *prop;
		json_array_foreach(ret, i, prop)
			json_object_set(names, json_string_value(json_object_get(prop, "name")), json_true());
	}
	json_object_set_new(p->known, key, names ? names : json_string(qk_error_message(err)));
	qk_error_free(err);
	json_decref(args);
	json_decref(ret);
	*why = json_string_value(json_object_get(p->known, key));
	return names;
}

/* A -device or -object value as an object of its properties (comma form: all strings). */
static json_t *option_props(const char *v, const char *type_key)
{
	if (v[0] == '{')
		return json_loads(v, 0, NULL);
	json_t *o = json_object();
	struct buf part = BUF_INIT;
	bool first = true;
	for (const char *c = v;; c++) {
		if (*c == ',' && c[1] == ',') {
			buf_putc(&part, ',');
			c++;
			continue;
		}
		if (*c && *c != ',') {
			buf_putc(&part, *c);
			continue;
		}
		buf_reserve(&part, 0);
		char *eq = strchr(part.data, '=');
		if (first)
			json_object_set_new(o, type_key, json_string(part.data));
		else if (eq) {
			*eq = '\0';
			json_object_set_new(o, part.data, json_string(eq + 1));
		}
		first = false;
		part.len = 0;
		if (!*c)
			break;
	}
	buf_free(&part);
	return o;
}

/* NULL when every -device driver and -object type exists with every property given; else why not. */
static char *check_properties(const char *argspath)
{
	_cleanup_free_ char *text = golden_slurp(argspath);
	if (!text)
		return strdup("cannot read the args file");
	char binary[64];
	snprintf(binary, sizeof(binary), "%.*s", (int)strcspn(text, "\n"), text);
	/* A binary this host lacks (/opt/qemu/bin/...): ask the one on PATH. */
	struct probe *p = probe_for(strchr(binary, '/') && access(binary, X_OK) < 0 ? strrchr(binary, '/') + 1 : binary);
	if (!p)
		return strdup("cannot start a probing QEMU");
	struct buf why = BUF_INIT;
	const char *prev = NULL;
	for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] == '\n')) {
		_cleanup_free_ char *arg = strndup(line, strcspn(line, "\n"));
		bool device = prev && strcmp(prev, "-device") == 0, object = prev && strcmp(prev, "-object") == 0;
		free((char *)prev);
		prev = strdup(arg);
		if (!device && !object)
			continue;
		json_t *props = option_props(arg, device ? "driver" : "qom-type");
		const char *type = json_string_value(json_object_get(props, device ? "driver" : "qom-type"));
		const char *answer = NULL;
		json_t *names = type ? type_properties(p, device, type, &answer) : NULL;
		if (!names)
			buf_printf(&why, "%s%s has no %s %s (%s)", why.len ? "; " : "", binary,
				   device ? "device" : "object type", type ? type : "(none)",
				   answer ? answer : "no type given");
		const char *k;
		json_t *val;
		json_object_foreach(props, k, val) {
			static const char *const not_props[] = { "driver", "qom-type", "id", "bus" };
			bool skip = !names;
			for (size_t i = 0; i < ARRAY_SIZE(not_props); i++)
				skip = skip || strcmp(k, not_props[i]) == 0;
			if (!skip && !json_object_get(names, k))
				buf_printf(&why, "%s%s has no property %s", why.len ? "; " : "", type, k);
		}
		json_decref(props);
	}
	free((char *)prev);
	if (!why.len) {
		buf_free(&why);
		return NULL;
	}
	return buf_steal(&why);
}

/* The case renders for a QEMU newer than the one here ("# render: ... qemu=9.1"). */
static bool newer_qemu(const char *yaml)
{
	const char *r = strstr(yaml, "# render:");
	const char *q = r ? strstr(r, "qemu=") : NULL;
	unsigned major = 0, minor = 0;
	if (!q || q > r + strcspn(r, "\n") || sscanf(q, "qemu=%u.%u", &major, &minor) != 2)
		return false;
	return major * 100 + minor > 702;
}

static bool wanted(const char *name, char **names, int n)
{
	if (n == 0)
		return true;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [NAME...]\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	size_t n;
	char **files = golden_list(dir, ".args", &n);
	if (!n) {
		fprintf(stderr, "%s: no .args files\n", dir);
		return 1;
	}

	int ran = 0, checked = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = strndup(files[i], strcspn(files[i], "."));
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
		_cleanup_free_ char *yaml = golden_slurp(path);
		if (!wanted(name, argv + 2, argc - 2) || !yaml)
			continue;
		if (strstr(yaml, "# accept: no")) {
			/* QEMU cannot start it here; its devices and objects must still exist as given. */
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			bool skip = newer_qemu(yaml) || strstr(yaml, "# probe: no");
			char *why = skip ? NULL : check_properties(path);
			checked += !skip;
			if (why) {
				failed++;
				printf("FAIL %s (properties): %s\n", files[i], why);
				free(why);
			} else {
				printf("ok   %s (properties%s)\n", files[i], skip ? ": skipped" : "");
			}
			continue;
		}
		ran++;
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		char *why = accept_case(path);
		if (why) {
			failed++;
			printf("FAIL %s: %s\n", files[i], why);
			free(why);
		} else {
			printf("ok   %s\n", files[i]);
		}
		fflush(stdout);
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	probes_end();
	printf("%d cases started, %d more checked by property names, %d failed\n", ran, checked, failed);
	return failed ? 1 : 0;
}
