/* SPDX-License-Identifier: MIT */
#include <qkit/exec.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkit/initramfs.h>
#include <qkit/kernel.h>
#include <qkit/spec.h>

#include "buf.h"
#include "fileio.h"
#include "harness-private.h"
#include "log.h"
#include "util.h"

DEFINE_CLEANUP_FUNC(qk_initramfs, qk_initramfs_free)

#define PORT_STDIN "qkit.stdin"
#define PORT_STDOUT "qkit.stdout"
#define PORT_STDERR "qkit.stderr"
#define PORT_STATUS "qkit.status"
#define PORT_EVENT "qkit.event"
#define PORT_TTY "qkit.tty"
/* The virtconsole is the guest's only hvc: the serial console is ttyS0 or ttyAMA0. */
#define GUEST_TTY "/dev/hvc0"

/*
 * Runs in the guest as the generated init's payload: finds the ports by
 * name (virtio_console creates them asynchronously, so it waits for them),
 * runs the command with its output on them and reports the status.
 */
static const char run_script[] =
	"#!/bin/sh\n"
	"# qkit exec: run \"$@\" with stdin, stdout, stderr and the exit status\n"
	"# on the qkit.* virtio-serial ports; with --tty ROWS COLS TERM on the\n"
	"# terminal " GUEST_TTY " instead, as its controlling tty.\n"
	"tty=\n"
	"if [ \"$1\" = --tty ]; then\n"
	"\ttty=" GUEST_TTY " rows=$2 cols=$3\n"
	"\texport TERM=\"$4\"\n"
	"\tshift 4\n"
	"fi\n"
	"port() {\n"
	"\tfor d in /sys/class/virtio-ports/*; do\n"
	"\t\tif [ \"$(cat \"$d/name\" 2>/dev/null)\" = \"$1\" ] && [ -c \"/dev/${d##*/}\" ]; then\n"
	"\t\t\techo \"/dev/${d##*/}\"\n"
	"\t\t\treturn 0\n"
	"\t\tfi\n"
	"\tdone\n"
	"\treturn 1\n"
	"}\n"
	"tries=0\n"
	"until in=$(port " PORT_STDIN ") && out=$(port " PORT_STDOUT ") &&\n"
	"\terr=$(port " PORT_STDERR ") &&\n"
	"\tst=$(port " PORT_STATUS ") && ev=$(port " PORT_EVENT ") &&\n"
	"\t{ [ -z \"$tty\" ] || [ -c \"$tty\" ]; }; do\n"
	"\ttries=$((tries + 1))\n"
	"\tif [ \"$tries\" -gt 1000 ]; then\n"
	"\t\techo 'qkit exec: the qkit.* virtio-serial ports did not appear' >&2\n"
	"\t\texit 125\n"
	"\tfi\n"
	"\tsleep 0.01\n"
	"done\n"
	"export QKIT_EVENT_PORT=\"$ev\"\n"
	"if [ -n \"$tty\" ]; then\n"
	"\t# A new session whose controlling tty is the terminal (setsid -c:\n"
	"\t# TIOCSCTTY on stdin), so ^C, job control and tty(1) work. The\n"
	"\t# shell forks setsid, which is then no group leader: it does not fork.\n"
	"\t# The size is set from inside: a tty nobody holds open forgets it.\n"
	"\tsetsid -c sh -c '[ \"$0\" -gt 0 ] && [ \"$1\" -gt 0 ] && stty rows \"$0\" cols \"$1\"\n"
	"\t\tshift; exec \"$@\"' \"$rows\" \"$cols\" \"$@\" <>\"$tty\" >&0 2>&0\n"
	"\ts=$?\n"
	"else\n"
	"\t\"$@\" <\"$in\" >\"$out\" 2>\"$err\"\n"
	"\ts=$?\n"
	"fi\n"
	"echo \"$s\" >\"$st\"\n"
	"exit \"$s\"\n";

/* What qkit exec boots; the spec fills in machine, CPU, console per architecture. */
struct arch {
	const char *name;
};

static const struct arch arches[] = {
	{ "x86_64" },
	{ "aarch64" },
};

void qk_exec_result_clear(qk_exec_result *res)
{
	if (!res)
		return;
	free(res->message);
	free(res->panic_lines);
	free(res->console_tail);
	free(res->command_line);
	*res = (qk_exec_result)QK_EXEC_RESULT_INIT;
}

static bool readable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* "a/b", malloc'd; NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	char *s;
	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static char *guest_dir(void)
{
	const char *d = getenv("QKIT_GUEST_DIR");
	if (d && *d)
		return strdup(d);
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (cache && *cache)
		return join(cache, "qkit/guest");
	if (home && *home)
		return join(home, ".cache/qkit/guest");
	return NULL;
}

/* Compare "6.1.0-13-amd64" and "6.1.0-9-amd64" as versions, not as text. */
static int compare_versions(const void *a, const void *b)
{
	return strverscmp(*(char *const *)b, *(char *const *)a);
}

static char *newest_boot_kernel(void)
{
	DIR *d = opendir("/boot");
	if (!d)
		return NULL;
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < ARRAY_SIZE(names))
		if (strncmp(e->d_name, "vmlinuz-", 8) == 0)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_versions);
	char *found = NULL;
	for (size_t i = 0; i < n; i++) {
		char *path = !found && names[i] ? join("/boot", names[i]) : NULL;
		if (path && readable_file(path))
			found = TAKE_PTR(path);
		free(path);
		free(names[i]);
	}
	return found;
}

int qk_exec_default_kernel(char **out, qk_error **err)
{
	const char *env = getenv("QKIT_KERNEL");
	if (env && *env) {
		if (!readable_file(env))
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "QKIT_KERNEL: \"%s\" is not a readable file", env);
		*out = strdup(env);
		return *out ? 0 : -ENOMEM;
	}
	_cleanup_free_ char *dir = guest_dir();
	if (dir) {
		char *path = join(dir, "vmlinuz");
		if (path && readable_file(path)) {
			*out = path;
			return 0;
		}
		free(path);
	}
	char *boot = newest_boot_kernel();
	if (boot) {
		*out = boot;
		return 0;
	}
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
			    "no kernel to boot: pass --kernel, set QKIT_KERNEL, run tests/guest/prepare "
			    "in a qkit checkout (it fetches a Debian kernel), or apt-get install "
			    "linux-image-amd64");
}

/*
 * The default kernel of a guest of another architecture than the host's:
 * only a prepared guest directory (tests/guest/prepare-arch), never the
 * host's own /boot.
 */
static int foreign_default_kernel(const char *arch, char **out, qk_error **err)
{
	_cleanup_free_ char *dir = guest_dir();
	_cleanup_free_ char *sub = NULL;
	if (dir && asprintf(&sub, "%s-%s/vmlinuz", dir, arch) < 0)
		sub = NULL;
	if (sub && readable_file(sub)) {
		*out = TAKE_PTR(sub);
		return 0;
	}
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
			    "no %s kernel to boot: pass --kernel, or run tests/guest/prepare-arch %s in a "
			    "qkit checkout (it fetches Debian's kernel and busybox for %s)",
			    arch, arch, arch);
}

/*
 * Refuse a kernel built for another architecture before booting it: QEMU
 * would start it and the guest would print nothing until the watchdog
 * fires. Formats it cannot tell are left to QEMU.
 */
static int check_kernel_arch(const char *kernel, const char *arch, qk_error **err)
{
	uint8_t head[0x210] = { 0 };
	_cleanup_close_ int fd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, head, sizeof(head), 0) < 0)
		return 0;
	const char *is = NULL;
	if (memcmp(head + 0x202, "HdrS", 4) == 0)
		is = "x86_64"; /* a bzImage */
	else if (memcmp(head + 0x38, "ARM\x64", 4) == 0)
		is = "aarch64"; /* an arm64 Image */
	if (is && strcmp(is, arch) != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "kernel: \"%s\" is an %s kernel, not one for this %s guest", kernel,
				    strcmp(is, "x86_64") == 0 ? "x86 (bzImage)" : "arm64 (Image)", arch);
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int qk_exec_default_modules(const char *kernel, char **out, qk_error **err)
{
	_cleanup_free_ char *copy = strdup(kernel);
	if (!copy)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	char *slash = strrchr(copy, '/');
	char *path = join(slash ? (*slash = '\0', *copy ? copy : "") : ".", "modules");
	if (!path)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (is_dir(path)) {
		*out = path;
		return 0;
	}
	free(path);
	path = NULL;

	qk_kernel_info info;
	char version[128] = "";
	if (qk_kernel_inspect(kernel, &info, NULL) == 0)
		sscanf(info.version, "%127s", version);
	else if (strncmp(slash ? slash + 1 : kernel, "vmlinuz-", 8) == 0)
		snprintf(version, sizeof(version), "%s", (slash ? slash + 1 : kernel) + 8);
	if (*version && (path = join("/lib/modules", version)) && is_dir(path)) {
		*out = path;
		return 0;
	}
	free(path);
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
			    "no modules for kernel %s%s%s%s: pass --modules DIR (a /lib/modules/VERSION "
			    "tree), or put it next to the kernel as \"modules\"",
			    kernel, *version ? " (version " : "", version, *version ? ")" : "");
}

static bool valid_tag(const char *tag)
{
	size_t n = strlen(tag);
	if (n == 0 || n > 31)
		return false;
	return strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

struct share {
	char *path;
	char tag[32];
	bool readonly;
};

struct run {
	const qk_exec_options *opts;
	struct buf status;
	bool status_seen;
	struct buf events; /* a partial JSON line */
	int write_errno;
};

static void write_all_to(int fd, const char *data, size_t len, struct run *run)
{
	int r = fd_write_all(fd, data, len);
	/* The reader went away (a closed pipe): keep draining, drop it. */
	if (r < 0)
		run->write_errno = -r;
}

static void on_stdout(const char *data, size_t len, void *userdata)
{
	struct run *run = userdata;
	write_all_to(run->opts->stdout_fd, data, len, run);
}

static void on_stderr(const char *data, size_t len, void *userdata)
{
	struct run *run = userdata;
	write_all_to(run->opts->stderr_fd, data, len, run);
}

static void on_status(const char *data, size_t len, void *userdata)
{
	struct run *run = userdata;
	if (run->status.len < 64)
		buf_append(&run->status, data, len);
	run->status_seen = true;
}

static void on_event_data(const char *data, size_t len, void *userdata)
{
	struct run *run = userdata;
	buf_append(&run->events, data, len);
	char *nl;
	while (run->events.data && (nl = memchr(run->events.data, '\n', run->events.len))) {
		size_t line = (size_t)(nl - run->events.data);
		json_error_t jerr;
		json_t *ev = json_loadb(run->events.data, line, 0, &jerr);
		if (!ev)
			log_warning("guest event %.*s: not JSON: %s", (int)line, run->events.data,
				    jerr.text);
		else if (run->opts->on_event)
			run->opts->on_event(ev, run->opts->event_userdata);
		json_decref(ev);
		memmove(run->events.data, nl + 1, run->events.len - line - 1);
		run->events.len -= line + 1;
		run->events.data[run->events.len] = '\0';
	}
}

static int resolve_shares(const qk_exec_options *o, struct share **out, size_t *n_out,
			  char **cwd_out, qk_error **err)
{
	size_t max = o->n_shares + 1;
	struct share *s = calloc(max, sizeof(*s));
	size_t n = 0;
	if (!s)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	*out = s;

	for (size_t i = 0; i < o->n_shares; i++) {
		const qk_exec_share *in = &o->shares[i];
		char *abs = in->path ? realpath(in->path, NULL) : NULL;
		if (!abs || !is_dir(abs)) {
			free(abs);
			return qk_error_set(err, QK_ERR_INVALID, ENOENT, "shares[%zu]: \"%s\" is not a directory",
					    i, in->path ? in->path : "(null)");
		}
		s[n].path = abs;
		s[n].readonly = in->readonly;
		if (in->tag && !valid_tag(in->tag))
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "shares[%zu]: tag \"%s\" is not 1 to 31 of [A-Za-z0-9_.-]", i,
					    in->tag);
		snprintf(s[n].tag, sizeof(s[n].tag), "%s", in->tag ? in->tag : "");
		if (!in->tag)
			snprintf(s[n].tag, sizeof(s[n].tag), "qkit-share%zu", i);
		for (size_t j = 0; j < n; j++) {
			if (strcmp(s[j].tag, s[n].tag) == 0)
				return qk_error_set(err, QK_ERR_INVALID, EINVAL,
						    "shares[%zu]: tag \"%s\" is used twice", i, s[n].tag);
			if (strcmp(s[j].path, abs) == 0)
				return qk_error_set(err, QK_ERR_INVALID, EINVAL,
						    "shares[%zu]: \"%s\" is shared twice", i, abs);
		}
		n++;
	}

	/* The working directory, unless it is already shared or is "/". */
	char *cwd = NULL;
	if (!o->cwd)
		cwd = getcwd(NULL, 0);
	else if (*o->cwd)
		cwd = realpath(o->cwd, NULL);
	if ((o->cwd && *o->cwd && !cwd) || (cwd && !is_dir(cwd))) {
		free(cwd);
		return qk_error_set(err, QK_ERR_INVALID, ENOENT, "cwd: \"%s\" is not a directory",
				    o->cwd ? o->cwd : ".");
	}
	if (cwd && strcmp(cwd, "/") == 0) {
		free(cwd);
		cwd = NULL;
	}
	bool shared = false;
	for (size_t j = 0; cwd && j < n; j++)
		shared |= strcmp(s[j].path, cwd) == 0;
	if (cwd && !shared) {
		s[n].path = strdup(cwd);
		snprintf(s[n].tag, sizeof(s[n].tag), "qkit-cwd");
		if (!s[n].path) {
			free(cwd);
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		}
		n++;
	}
	*n_out = n;
	*cwd_out = cwd;
	return 0;
}

static void free_shares(struct share *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].path);
	free(s);
}

/*
 * The busybox to put in the guest: the one asked for, else one next to the
 * kernel (a prepared guest directory holds both, for its architecture),
 * else NULL for the one in PATH.
 */
static char *pick_busybox(const char *kernel, const qk_exec_options *o)
{
	if (o->busybox)
		return strdup(o->busybox);
	_cleanup_free_ char *dir = strdup(kernel);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (!slash)
		return NULL;
	*slash = '\0';
	char *path = join(*dir ? dir : "/", "busybox");
	if (path && readable_file(path))
		return path;
	free(path);
	return NULL;
}

static int build_initramfs(const char *path, const char *modules_dir, const char *busybox,
			   const struct share *shares, size_t n_shares, const char *cwd,
			   const char *const *argv, size_t argc, const qk_exec_options *o,
			   qk_error **err)
{
	_cleanup_(qk_initramfs_freep) qk_initramfs *ir = NULL;
	int r = qk_initramfs_new(&ir, err);
	if (r < 0)
		return r;
	if ((r = qk_initramfs_add_busybox(ir, busybox, err)) < 0)
		return r;
	const char *want = o->arch ? o->arch : "x86_64";
	const char *have = qk_initramfs_busybox_arch(ir);
	if (have && strcmp(have, want) != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "busybox: %s runs on %s, not in this %s guest; give --busybox a static "
				    "busybox for %s (tests/guest/prepare-arch %s fetches Debian's)",
				    busybox ? busybox : "the one in PATH", have, want, want, want);

	const char **names = calloc(4 + o->n_modules, sizeof(*names));
	if (!names)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	size_t n = 0;
	names[n++] = "virtio_pci";
	names[n++] = "virtio_console";
	if (n_shares > 0) {
		names[n++] = "9pnet_virtio";
		names[n++] = "9p";
	}
	for (size_t i = 0; i < o->n_modules; i++)
		names[n++] = o->modules[i];
	r = qk_initramfs_add_modules(ir, modules_dir, names, n, err);
	free(names);
	if (r < 0)
		return r;
	if ((r = qk_initramfs_add_data(ir, "/qkit/run", run_script, sizeof(run_script) - 1, 0755,
				       err)) < 0)
		return r;

	qk_initramfs_share *is = calloc(n_shares + 1, sizeof(*is));
	const char **args = calloc(argc + 6, sizeof(*args));
	if (!is || !args) {
		free(is);
		free(args);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n_shares; i++)
		is[i] = (qk_initramfs_share){ shares[i].tag, shares[i].path, shares[i].readonly };
	size_t n_args = 0;
	char rows[16], cols[16];
	args[n_args++] = "/qkit/run";
	if (o->tty) {
		snprintf(rows, sizeof(rows), "%u", o->tty_rows);
		snprintf(cols, sizeof(cols), "%u", o->tty_cols);
		args[n_args++] = "--tty";
		args[n_args++] = rows;
		args[n_args++] = cols;
		args[n_args++] = o->tty_term && *o->tty_term ? o->tty_term : "linux";
	}
	for (size_t i = 0; i < argc; i++)
		args[n_args++] = argv[i];
	qk_initramfs_init_opts init = QK_INITRAMFS_INIT_OPTS_INIT;
	init.shares = is;
	init.n_shares = n_shares;
	init.argv = args;
	init.argc = n_args;
	init.cwd = cwd;
	init.env = (const char *[]){ "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root" };
	init.n_env = 2;
	r = qk_initramfs_set_init(ir, &init, err);
	free(is);
	free(args);
	if (r < 0)
		return r;
	/* Uncompressed: under TCG, unpacking gzip costs more than it saves. */
	return qk_initramfs_write(ir, path, QK_INITRAMFS_NONE, err);
}

static const struct arch *find_arch(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (strcmp(arches[i].name, name) == 0)
			return &arches[i];
	return NULL;
}

/* The spec for the run: shares as 9p fs devices, everything escaped by the renderer. */
static int render(struct guest *g, const struct arch *arch, const char *accel, const char *kernel,
		  int initrd_no, const struct share *shares, size_t n_shares, const qk_exec_options *o,
		  qk_error **err)
{
	char initrd[32];
	snprintf(initrd, sizeof(initrd), "/dev/fd/%d", initrd_no);
	_cleanup_free_ char *append = NULL;
	if (asprintf(&append, "panic=-1 rdinit=/init%s%s", o->append ? " " : "",
		     o->append ? o->append : "") < 0) {
		append = NULL;
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	struct guest_base base = {
		.arch = arch->name, .accel = accel, .mem_mb = o->mem_mb, .cpus = o->cpus,
		.kernel = kernel, .initrd = initrd, .append = append,
	};
	_cleanup_(qk_spec_freep) qk_spec *spec = NULL;
	int r = guest_spec(g, &base, &spec, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_shares; i++) {
		qk_device *dev;
		if ((r = qk_spec_add_fs(spec, "9p", shares[i].tag, &dev, err)) < 0 ||
		    (r = qk_device_set_string(dev, "path", shares[i].path, err)) < 0 ||
		    (r = qk_device_set_string(dev, "security-model", "none", err)) < 0 ||
		    (shares[i].readonly && (r = qk_device_set_bool(dev, "readonly", true, err)) < 0))
			return r;
	}
	return guest_render(g, spec, err);
}

static char *make_tmpdir(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	if (!base || !is_dir(base))
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	char *t = join(base, "qkit-exec-XXXXXX");
	if (!t)
		return NULL;
	if (!mkdtemp(t)) {
		free(t);
		return NULL;
	}
	return t;
}

static void fill_result(struct guest *g, struct run *run, qk_exec_result *res)
{
	res->seconds = (monotonic_now_ms() - g->started_ms) / 1000.0;
	res->command_line = guest_command_line(g);
	res->console_tail = g->console ? qk_console_tail(g->console, 20) : NULL;

	/* A status the command reported stands, whatever came after it. */
	int status;
	char nl;
	if (run->status_seen && run->status.data &&
	    sscanf(run->status.data, "%d%c", &status, &nl) == 2 && nl == '\n' && status >= 0 &&
	    status <= 255) {
		res->end = QK_EXEC_EXITED;
		res->status = status;
		return;
	}
	switch (g->end) {
	case GUEST_PANICKED:
		res->end = QK_EXEC_PANICKED;
		res->message = strdup("guest kernel panic");
		res->panic_lines = watch_panic_lines(&g->watch) ? strdup(watch_panic_lines(&g->watch)) : NULL;
		return;
	case GUEST_WATCHDOG:
		res->end = QK_EXEC_WATCHDOG;
		break;
	case GUEST_TIMED_OUT:
		res->end = QK_EXEC_TIMED_OUT;
		break;
	case GUEST_QEMU_FAILED:
		res->end = QK_EXEC_QEMU_FAILED;
		break;
	case GUEST_STOPPED:
		res->end = QK_EXEC_STOPPED;
		break;
	default:
		res->end = QK_EXEC_QEMU_FAILED;
		res->message = strdup("the guest powered off without reporting the command's exit "
				      "status (see the console's last lines)");
		return;
	}
	res->message = g->end_message ? strdup(g->end_message) : strdup("the VM ended");
}

static int run_in_guest(const char *kernel, int initrd_fd, const struct share *shares,
			size_t n_shares, const qk_exec_options *o, const struct arch *arch,
			qk_exec_result *res, qk_error **err)
{
	const char *accel = o->accel ? o->accel : "tcg";
	bool kvm = strcmp(accel, "kvm") == 0;
	_cleanup_free_ char *boot = NULL;
	if (o->fast_boot && strcmp(arch->name, "x86_64") == 0) {
		qk_error *ferr = NULL;
		if (qk_kernel_fast_boot_path(kernel, &boot, &ferr) < 0) {
			log_debug("fast boot: %s; booting %s as it is", qk_error_message(ferr), kernel);
			qk_error_free(ferr);
		}
	}

	struct guest g;
	struct run run = { .opts = o, .status = BUF_INIT, .events = BUF_INIT };
	int r;
	guest_init(&g);
	/* The file is already unlinked: QEMU reads it through its descriptor. */
	int initrd_no = guest_pass_fd(&g, initrd_fd, err);
	if (initrd_no < 0) {
		r = initrd_no;
		goto out;
	}
	g.kvm = kvm;
	g.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
	g.boot_timeout_ms = o->boot_timeout_ms;

	if ((r = guest_add_console(&g, "vm0", o->console_log, o->on_console_line, o->console_userdata,
				   err)) < 0 ||
	    /* With a tty, what the user types goes to it, not to the stream. */
	    (r = guest_add_input_port(&g, PORT_STDIN, o->tty ? -1 : o->stdin_fd, err)) < 0 ||
	    (r = guest_add_port(&g, PORT_STDOUT, on_stdout, &run, err)) < 0 ||
	    (r = guest_add_port(&g, PORT_STDERR, on_stderr, &run, err)) < 0 ||
	    (r = guest_add_port(&g, PORT_STATUS, on_status, &run, err)) < 0 ||
	    (r = guest_add_port(&g, PORT_EVENT, on_event_data, &run, err)) < 0 ||
	    (o->tty && (r = guest_add_tty_port(&g, PORT_TTY, o->stdin_fd, o->escape_char, on_stdout,
						&run, err)) < 0))
		goto out;
	if ((r = render(&g, arch, accel, boot ? boot : kernel, initrd_no, shares, n_shares, o,
			err)) < 0)
		goto out;

	qk_error *lerr = NULL;
	if ((r = guest_launch(&g, &lerr)) < 0) {
		if (r == -ENOENT) {
			qk_error_free(lerr);
			lerr = NULL;
			qk_error_set(&lerr, QK_ERR_NOT_FOUND, ENOENT,
				     "%s is not installed: apt-get install %s (qkit doctor checks "
				     "what is missing)",
				     g.argv[0], strcmp(arch->name, "x86_64") == 0 ? "qemu-system-x86"
										: "qemu-system-arm");
		}
		qk_error_propagate(err, &lerr);
		goto out;
	}
	while ((r = guest_pump(&g, -1, err)) == 0)
		;
	if (r > 0) {
		fill_result(&g, &run, res);
		r = 0;
	}
out:
	guest_destroy(&g);
	buf_free(&run.status);
	buf_free(&run.events);
	return r;
}

static int run_with_initramfs(const char *kernel, const char *modules, const struct share *shares,
			      size_t n_shares, const char *cwd, const char *const *argv, size_t argc,
			      const qk_exec_options *o, qk_exec_result *res, qk_error **err)
{
	const struct arch *arch = find_arch(o->arch ? o->arch : "x86_64");
	_cleanup_free_ char *tmp = make_tmpdir();
	_cleanup_free_ char *initrd = tmp ? join(tmp, "initrd") : NULL;
	if (!initrd) {
		int e = errno;
		if (tmp)
			rmdir(tmp);
		return qk_error_set(err, QK_ERR_SYSTEM, e, "creating a temporary directory: %s",
				    strerror(e));
	}
	_cleanup_free_ char *busybox = pick_busybox(kernel, o);
	int r = build_initramfs(initrd, modules, busybox, shares, n_shares, cwd, argv, argc, o, err);
	/*
	 * Unlinked before QEMU starts, so nothing is left behind however qkit
	 * ends (^C included).
	 */
	int fd = r < 0 ? -1 : open(initrd, O_RDONLY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", initrd, strerror(errno));
	unlink(initrd);
	rmdir(tmp);
	if (r < 0) {
		qk_error_prepend(err, "building the initramfs: ");
		return r;
	}
	return run_in_guest(kernel, fd, shares, n_shares, o, arch, res, err);
}

int qk_exec_run(const char *const *argv, size_t argc, const qk_exec_options *o,
		qk_exec_result *res, qk_error **err)
{
	static const qk_exec_options defaults = QK_EXEC_OPTIONS_INIT;
	if (!o)
		o = &defaults;
	if (argc == 0 || !argv || !argv[0])
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "no command to run");

	const struct arch *arch = find_arch(o->arch ? o->arch : "x86_64");
	if (!arch)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "arch: \"%s\" is not one of x86_64, aarch64",
				    o->arch);
	const char *accel = o->accel ? o->accel : "tcg";
	if (strcmp(accel, "tcg") != 0 && strcmp(accel, "kvm") != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "accel: \"%s\" is not one of tcg, kvm",
				    accel);
	if (o->mem_mb != 0 && o->mem_mb < 64)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "mem: %u MiB is too little for a Linux guest (64 at least)", o->mem_mb);
	if (o->tty && (o->escape_char < 0 || o->escape_char > 255 || o->escape_char == 'q' ||
		       o->escape_char == 'Q'))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "escape_char: %d is not a byte other than q", o->escape_char);
	if (o->tty && o->tty_term && strspn(o->tty_term, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._") !=
					   strlen(o->tty_term))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "tty_term: \"%s\" is not a terminal type name", o->tty_term);
	if (o->cpus > 256)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "cpus: %u is not in 1..256", o->cpus);

	_cleanup_free_ char *kernel = NULL;
	int r;
	if (o->kernel) {
		if (!readable_file(o->kernel))
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "kernel: \"%s\" is not a readable file", o->kernel);
		kernel = strdup(o->kernel);
	} else if (strcmp(arch->name, "x86_64") != 0) {
		if ((r = foreign_default_kernel(arch->name, &kernel, err)) < 0)
			return r;
	} else if ((r = qk_exec_default_kernel(&kernel, err)) < 0) {
		return r;
	}
	if (!kernel)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if ((r = check_kernel_arch(kernel, arch->name, err)) < 0)
		return r;
	_cleanup_free_ char *modules = NULL;
	if (o->modules_dir)
		modules = strdup(o->modules_dir);
	else if ((r = qk_exec_default_modules(kernel, &modules, err)) < 0)
		return r;

	struct share *shares = NULL;
	size_t n_shares = 0;
	_cleanup_free_ char *cwd = NULL;
	r = resolve_shares(o, &shares, &n_shares, &cwd, err);
	if (r < 0) {
		free_shares(shares, n_shares + 1);
		return r;
	}

	r = run_with_initramfs(kernel, modules, shares, n_shares, cwd, argv, argc, o, res, err);
	free_shares(shares, n_shares);
	return r;
}
