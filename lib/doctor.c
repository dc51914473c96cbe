/* SPDX-License-Identifier: MIT */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <qkit/exec.h>
#include <qkit/harness.h>
#include <qkit/kernel.h>

#include "buf.h"
#include "elf.h"
#include "fileio.h"
#include "kmod.h"
#include "process.h"
#include "spec-internal.h"
#include "util.h"

struct checks {
	struct doctor_check *v;
	size_t n;
	bool oom;
};

const char *doctor_status_string(enum doctor_status s)
{
	switch (s) {
	case DOCTOR_OK:
		return "ok";
	case DOCTOR_WARN:
		return "warn";
	case DOCTOR_FAIL:
		return "FAIL";
	case DOCTOR_SKIP:
		return "skip";
	}
	return "?";
}

static void add(struct checks *c, const char *name, enum doctor_status status, const char *fix,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct checks *c, const char *name, enum doctor_status status, const char *fix,
		const char *fmt, ...)
{
	struct doctor_check *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v) {
		c->oom = true;
		return;
	}
	c->v = v;
	struct doctor_check *k = &v[c->n++];
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&k->detail, fmt, ap) < 0)
		k->detail = NULL;
	va_end(ap);
	k->name = strdup(name);
	k->status = status;
	k->fix = fix ? strdup(fix) : NULL;
	if (!k->name || !k->detail || (fix && !k->fix))
		c->oom = true;
}

void doctor_checks_free(struct doctor_check *checks, size_t n)
{
	for (size_t i = 0; checks && i < n; i++) {
		free(checks[i].name);
		free(checks[i].detail);
		free(checks[i].fix);
	}
	free(checks);
}

static char *find_in_path(const char *name)
{
	char *path = NULL;
	return process_find_program(&path, name, NULL) < 0 ? NULL : path;
}

/* Run argv and keep the first line it prints; its exit status, or -1. */
static int first_line_of(char *const *argv, char *line, size_t size)
{
	int out[2];
	*line = '\0';
	if (pipe2(out, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	struct buf b = BUF_INIT;
	char chunk[1024];
	/* A --version answers at once; one that hangs gets 10 s. */
	for (;;) {
		struct pollfd pfd = { .fd = out[0], .events = POLLIN };
		if (poll(&pfd, 1, 10000) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		ssize_t n = read(out[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len < 4096)
			buf_append(&b, chunk, (size_t)n);
	}
	close(out[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (b.data)
		snprintf(line, size, "%.*s", (int)strcspn(b.data, "\n"), b.data);
	buf_free(&b);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A QEMU tool: found in PATH and answering --version. */
static void check_tool(struct checks *c, const char *name, const char *package, bool required)
{
	_cleanup_free_ char *path = find_in_path(name);
	char fix[128];
	snprintf(fix, sizeof(fix), "apt-get install %s", package);
	if (!path) {
		add(c, name, required ? DOCTOR_FAIL : DOCTOR_WARN, fix, "not found in PATH%s",
		    required ? "" : " (needed only for guests of this architecture)");
		return;
	}
	char line[256];
	int status = first_line_of((char *[]){ path, (char *)"--version", NULL }, line, sizeof(line));
	if (status != 0) {
		add(c, name, DOCTOR_FAIL, fix, "%s --version failed (status %d): %s", path, status, line);
		return;
	}
	/* "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22" */
	const char *v = strstr(line, "version ");
	char version[64] = "";
	if (v)
		sscanf(v + 8, "%63s", version);
	/* qkit run and exec render their command lines for 7.2; older QEMUs reject some of it. */
	unsigned number = 0;
	if (*version && qk_qemu_version_parse(version, &number, NULL) == 0 &&
	    number < QEMU_VERSION_DEFAULT) {
		add(c, name, required ? DOCTOR_FAIL : DOCTOR_WARN, fix,
		    "QEMU %s (%s) is older than %u.%u, the version qkit writes command lines for", version,
		    path, QEMU_VERSION_DEFAULT / 10000, QEMU_VERSION_DEFAULT / 100 % 100);
		return;
	}
	add(c, name, DOCTOR_OK, NULL, "QEMU %s (%s)", *version ? version : line, path);
}

/* Whether the ELF file at path asks for a program interpreter (is dynamic); -1 if not ELF. */
static int elf_is_dynamic(const char *path)
{
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;
	struct elf_image e;
	char why[160];
	if (file_read_all(path, 64u << 20, &d, &len, NULL) < 0 || elf_parse(&e, d, len, why, sizeof(why)) < 0)
		return -1;
	return elf_has_phdr(&e, ELF_PT_INTERP);
}

static void check_busybox(struct checks *c)
{
	static const char fix[] = "apt-get install busybox-static";
	_cleanup_free_ char *path = find_in_path("busybox");
	if (!path) {
		add(c, "busybox", DOCTOR_FAIL, fix, "not found in PATH: qkit exec puts it in the guest");
		return;
	}
	int dynamic = elf_is_dynamic(path);
	if (dynamic < 0)
		add(c, "busybox", DOCTOR_FAIL, fix, "%s is not an ELF executable", path);
	else if (dynamic)
		add(c, "busybox", DOCTOR_FAIL, fix,
		    "%s is dynamically linked: the guest has no libraries for it", path);
	else
		add(c, "busybox", DOCTOR_OK, NULL, "static, %s", path);
}

/* Firmware descriptors (QEMU's docs/interop/firmware.json) for UEFI on x86_64. */
static void check_firmware(struct checks *c)
{
	static const char *const dirs[] = { "/etc/qemu/firmware", "/usr/share/qemu/firmware" };
	size_t found = 0;
	char uefi[512] = "";

	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		char pattern[256];
		glob_t g;
		snprintf(pattern, sizeof(pattern), "%s/*.json", dirs[d]);
		if (glob(pattern, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			json_t *j = json_load_file(g.gl_pathv[i], 0, NULL);
			if (!j)
				continue;
			found++;
			bool is_uefi = false, x86 = false;
			size_t k;
			json_t *v;
			json_array_foreach(json_object_get(j, "interface-types"), k, v)
				is_uefi |= json_is_string(v) && strcmp(json_string_value(v), "uefi") == 0;
			json_array_foreach(json_object_get(j, "targets"), k, v) {
				const char *a = json_string_value(json_object_get(v, "architecture"));
				x86 |= a && strcmp(a, "x86_64") == 0;
			}
			const char *exe = json_string_value(json_object_get(
				json_object_get(json_object_get(j, "mapping"), "executable"), "filename"));
			if (is_uefi && x86 && exe && !*uefi && access(exe, R_OK) == 0)
				snprintf(uefi, sizeof(uefi), "%s", exe);
			json_decref(j);
		}
		globfree(&g);
	}
	if (!found)
		add(c, "firmware", DOCTOR_WARN, "apt-get install ovmf",
		    "no firmware descriptors in /usr/share/qemu/firmware (needed only for UEFI guests)");
	else if (!*uefi)
		add(c, "firmware", DOCTOR_WARN, "apt-get install ovmf",
		    "%zu descriptor(s), none for UEFI on x86_64 with its code file present", found);
	else
		add(c, "firmware", DOCTOR_OK, NULL, "%zu descriptor(s); UEFI for x86_64: %s", found, uefi);
}

/*
 * The modules qkit exec puts in its initramfs (lib/exec.c: the console
 * port, and 9p for shares) must be in the kernel's tree with their
 * dependencies, or every qkit exec fails.
 */
static void check_modules(struct checks *c, const char *kernel)
{
	static const char fix[] = "qkit exec --modules DIR, or install the kernel's package";
	static const char *const exec_modules[] = { "virtio_pci", "virtio_console", "9pnet_virtio", "9p" };
	qk_error *err = NULL;
	_cleanup_free_ char *dir = NULL;
	struct kmod_db *db = NULL;
	char **order = NULL;
	int r = qk_exec_default_modules(kernel, &dir, &err);
	if (r == 0)
		r = kmod_db_open(dir, &db, &err);
	if (r < 0) {
		add(c, "modules", DOCTOR_FAIL, fix, "%s", qk_error_message(err));
	} else if ((r = kmod_db_resolve(db, exec_modules, ARRAY_SIZE(exec_modules), &order, &err)) < 0) {
		add(c, "modules", DOCTOR_FAIL, fix, "%s: not every module qkit exec loads is there: %s", dir,
		    qk_error_message(err));
	} else if (strcmp(kmod_db_source(db), "modules.dep") == 0) {
		add(c, "modules", DOCTOR_OK, NULL,
		    "%s: qkit exec's modules resolve from modules.dep (%d files with dependencies)", dir, r);
	} else {
		add(c, "modules", DOCTOR_OK, NULL,
		    "%s: qkit exec's modules resolve from each module's .modinfo (%d files with "
		    "dependencies; no modules.dep, which depmod would write)",
		    dir, r);
	}
	qk_error_free(err);
	kmod_strv_free(order);
	kmod_db_free(db);
}

static void check_kernel(struct checks *c, char **kernel_out)
{
	qk_error *err = NULL;
	char *kernel = NULL;
	if (qk_exec_default_kernel(&kernel, &err) < 0) {
		add(c, "kernel", DOCTOR_FAIL,
		    "run tests/guest/prepare in a qkit checkout, or apt-get install linux-image-amd64, "
		    "or set QKIT_KERNEL",
		    "%s", qk_error_message(err));
		qk_error_free(err);
		return;
	}
	qk_kernel_info info;
	if (qk_kernel_inspect(kernel, &info, &err) < 0) {
		add(c, "kernel", DOCTOR_WARN, NULL, "%s: not an x86 bzImage (%s); QEMU may still boot it",
		    kernel, qk_error_message(err));
		qk_error_free(err);
	} else {
		char version[64] = "";
		sscanf(info.version, "%63s", version);
		add(c, "kernel", DOCTOR_OK, NULL, "%s (%s, %s)", kernel, *version ? version : "no version",
		    qk_kernel_compression_name(info.compression));
	}

	check_modules(c, kernel);
	*kernel_out = kernel;
}

static bool check_dev_kvm(struct checks *c)
{
	if (access("/dev/kvm", F_OK) < 0) {
		add(c, "/dev/kvm", DOCTOR_WARN,
		    "enable virtualization in the firmware, then modprobe kvm_intel (or kvm_amd)",
		    "missing: guests run under TCG (software emulation) only");
		return false;
	}
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		add(c, "/dev/kvm", DOCTOR_WARN,
		    e == EACCES ? "adduser $USER kvm, then log in again" : NULL,
		    "cannot open it: %s; guests run under TCG only", strerror(e));
		return false;
	}
	close(fd);
	add(c, "/dev/kvm", DOCTOR_OK, NULL, "opens read-write");
	return true;
}

/*
 * Under some nested virtualization /dev/kvm opens but a guest hangs before
 * it prints anything. Only booting one tells. A broken KVM is a warning:
 * qkit runs guests under TCG unless asked for KVM.
 */
static void probe_kvm(struct checks *c, const char *kernel, int timeout_ms)
{
	static const char fix[] = "use --accel tcg (qkit's default)";
	qk_harness_options o = QK_HARNESS_OPTIONS_INIT;
	o.kernel = kernel;
	o.accel = "kvm";
	o.fast_boot = false; /* a check should not fill caches */
	o.boot_timeout_ms = timeout_ms;
	o.mem_mb = 128;
	qk_harness *h = NULL;
	qk_error *err = NULL;
	int64_t t0 = monotonic_now_ms();
	if (qk_harness_start(&h, &o, &err) < 0) {
		add(c, "kvm-guest", DOCTOR_SKIP, NULL, "could not start QEMU: %s", qk_error_message(err));
		qk_error_free(err);
		return;
	}
	int r = qk_harness_expect(h, "Linux version", QK_CONSOLE_SUBSTRING, timeout_ms + 5000, NULL,
				  &err);
	double took = (double)(monotonic_now_ms() - t0) / 1000.0;
	qk_harness_end end = QK_HARNESS_RUNNING;
	if (r != 1)
		qk_harness_wait(h, 2000, &end, NULL);
	if (r == 1)
		add(c, "kvm-guest", DOCTOR_OK, NULL, "a guest printed its boot log under KVM after %.1f s",
		    took);
	else if (end == QK_HARNESS_WATCHDOG || qk_error_get_kind(err) == QK_ERR_TIMEOUT)
		add(c, "kvm-guest", DOCTOR_WARN, fix,
		    "/dev/kvm opens, but a guest printed nothing within %.0f s under KVM: KVM is not "
		    "functional on this host (nested virtualization?)",
		    timeout_ms / 1000.0);
	else
		add(c, "kvm-guest", DOCTOR_WARN, fix, "a guest did not run under KVM: %s",
		    qk_error_message(err));
	qk_error_free(err);
	qk_harness_free(h);
}

int doctor_run(const struct doctor_options *o, struct doctor_check **out, size_t *n,
	       qk_error **err)
{
	static const struct doctor_options defaults = DOCTOR_OPTIONS_INIT;
	if (!o)
		o = &defaults;
	struct checks c = { 0 };

	check_tool(&c, "qemu-system-x86_64", "qemu-system-x86", true);
	check_tool(&c, "qemu-system-aarch64", "qemu-system-arm", false);
	check_tool(&c, "qemu-system-riscv64", "qemu-system-misc", false);
	check_tool(&c, "qemu-img", "qemu-utils", true);
	check_firmware(&c);
	check_busybox(&c);
	_cleanup_free_ char *kernel = NULL;
	check_kernel(&c, &kernel);
	bool kvm = check_dev_kvm(&c);
	bool qemu = c.n > 0 && c.v[0].status == DOCTOR_OK;
	if (!o->probe_kvm)
		add(&c, "kvm-guest", DOCTOR_SKIP, NULL, "not probed (--no-kvm-probe)");
	else if (!kvm)
		add(&c, "kvm-guest", DOCTOR_SKIP, NULL, "no usable /dev/kvm");
	else if (!kernel || !qemu)
		add(&c, "kvm-guest", DOCTOR_SKIP, NULL, "needs qemu-system-x86_64 and a kernel");
	else
		probe_kvm(&c, kernel, o->kvm_timeout_ms);

	if (c.oom) {
		doctor_checks_free(c.v, c.n);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	*out = c.v;
	*n = c.n;
	return 0;
}
