/* SPDX-License-Identifier: MIT */
/*
 * qkit run: a spec file and flags in, a supervised VM out. Every flag is a
 * change to the spec through the spec API, so `qkit run` can express
 * nothing a spec file cannot, and --dry-run shows exactly what it would do.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "cli.h"
#include "fileio.h"
#include "guest.h"
#include "term.h"
#include "util.h"

/* Exit statuses besides 0, 1, 2 and guest.h's (see qkit-run(1)). */
enum {
	RUN_SIGNAL = 128, /* + N: signal N killed QEMU, or stopped the run */
};

#define USAGE                                                                              \
	"Usage: qkit run [SPEC] [OPTIONS] [-- EXTRA-QEMU-ARGS...]\n"                       \
	"\n"                                                                               \
	"Run the VM that SPEC (YAML or JSON, see qkit-spec(5)) and the options describe,\n" \
	"options overriding the file, under a qkit supervisor. In the foreground the\n"    \
	"serial console is on this terminal (Ctrl-] then q stops the VM) or, when\n"       \
	"standard input is not a terminal, copied to standard output, with standard\n"     \
	"input forwarded to it.\n"                                                         \
	"\n"                                                                               \
	"Machine:\n"                                                                       \
	"      --arch ARCH         x86_64, i386, aarch64, arm, riscv64 or s390x\n"         \
	"      --machine TYPE      the machine type (q35, pc, microvm, virt, ...)\n"       \
	"      --accel ACCEL       kvm, tcg or kvm:tcg (replaces the spec's list)\n"       \
	"      --cpus N            virtual CPUs\n"                                         \
	"  -m, --mem SIZE          memory: 512M, 2G; a plain number is MiB\n"              \
	"Boot:\n"                                                                          \
	"  -k, --kernel FILE       boot this kernel directly\n"                            \
	"  -i, --initrd FILE       its initial ramdisk\n"                                  \
	"      --append ARGS       its command line\n"                                     \
	"      --no-fast-boot      boot an x86 bzImage as it is, not its PVH vmlinux\n"    \
	"Devices:\n"                                                                       \
	"      --disk FILE         a virtio disk; the format from the name (.qcow2...) or\n" \
	"                          raw (repeatable)\n"                                     \
	"      --cdrom FILE        a CD-ROM image\n"                                       \
	"      --net user|none     user-mode networking, or no network device\n"           \
	"      --fwd [tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT\n"                           \
	"                          forward a host port (HOSTADDR 127.0.0.1) to the guest;\n" \
	"                          implies --net user (repeatable)\n"                      \
	"      --share DIR[:TAG[:ro]]  share DIR over 9p, tag qkit-shareN by default\n"    \
	"                          (repeatable)\n"                                         \
	"      --set PATH=VALUE    set any field of the spec: --set cpu.model=max\n"       \
	"Running:\n"                                                                       \
	"  -n, --name NAME         register the VM as NAME (qkit ps, stop, console)\n"     \
	"  -d, --detach            run in the background; print the name and return\n"     \
	"      --paused            start with the CPUs stopped (resume: qkit qmp NAME cont;\n" \
	"                          needs --name or --detach)\n"                           \
	"  -t, --timeout SECS      stop the VM after SECS seconds (exit 124)\n"            \
	"      --boot-timeout SECS stop the VM if its console stays silent this long\n"    \
	"                          (default 30, 10 under KVM; 0 turns it off; exit 122)\n" \
	"      --stop-timeout SECS how long the guest gets to power off when stopped (10;\n" \
	"                          0: no power button, QMP quit at once)\n"              \
	"      --dry-run           print the QEMU command line (as qkit cmdline) and exit\n" \
	"\n"                                                                               \
	"Exit status: 0 the guest powered off, 1 QEMU failed or the spec is invalid,\n"    \
	"2 usage, 121 guest kernel panic, 122 boot watchdog, 124 timeout, 128+N\n"         \
	"signal N killed QEMU or stopped the run. See qkit-run(1).\n"

#define MAX_LIST 64

enum {
	OPT_ARCH = 256,
	OPT_MACHINE,
	OPT_ACCEL,
	OPT_CPUS,
	OPT_APPEND,
	OPT_NO_FAST_BOOT,
	OPT_DISK,
	OPT_CDROM,
	OPT_NET,
	OPT_FWD,
	OPT_SHARE,
	OPT_SET,
	OPT_PAUSED,
	OPT_BOOT_TIMEOUT,
	OPT_STOP_TIMEOUT,
	OPT_DRY_RUN,
};

/* One spec change a flag asked for, applied in order once the spec is loaded. */
struct change {
	int opt;
	const char *arg;
};

struct flags {
	struct change changes[4 * MAX_LIST];
	size_t n_changes;
	const char *net;
	const char *name;
	bool detach;
	bool dry_run;
	bool fast_boot;
	bool paused;
	int boot_timeout_ms;
	int stop_timeout_ms; /* 0: unset */
};

static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---- flags onto the spec ---- */

static const char *format_of(const char *path)
{
	static const struct {
		const char *ext, *format;
	} table[] = {
		{ ".qcow2", "qcow2" }, { ".vmdk", "vmdk" }, { ".vdi", "vdi" },
		{ ".vhdx", "vhdx" },   { ".vhd", "vpc" },    { ".qed", "qed" },
	};
	size_t len = strlen(path);
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		size_t n = strlen(table[i].ext);
		if (len > n && strcasecmp(path + len - n, table[i].ext) == 0)
			return table[i].format;
	}
	return "raw";
}

/* The first network device, added (user-mode) if the spec has none. */
static int net_device(qk_spec *spec, qk_device **out, qk_error **err)
{
	if (qk_spec_find_device(spec, "net", 0, out, NULL) == 0)
		return 0;
	return qk_spec_add_net(spec, "user", out, err);
}

static int add_forward(qk_spec *spec, const char *arg, qk_error **err)
{
	/* [tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT */
	_cleanup_free_ char *copy = strdup(arg);
	if (!copy)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	char *part[4];
	size_t n = 0;
	for (char *p = copy, *colon; n < ARRAY_SIZE(part); p = colon + 1) {
		part[n++] = p;
		if (!(colon = strchr(p, ':')))
			break;
		*colon = '\0';
	}
	const char *proto = NULL, *addr = NULL;
	size_t i = 0;
	if (n >= 3 && (strcmp(part[0], "tcp") == 0 || strcmp(part[0], "udp") == 0))
		proto = part[i++];
	if (n - i == 3)
		addr = part[i++];
	long long hp, gp;
	if (n - i != 2 || strchr(part[n - 1], ':') || !parse_ll(part[i], 0, 65535, &hp) ||
	    !parse_ll(part[i + 1], 1, 65535, &gp) || (addr && !*addr))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "--fwd \"%s\": expected [tcp:|udp:][HOSTADDR:]HOSTPORT:GUESTPORT", arg);
	qk_device *net, *f;
	int r;
	if ((r = net_device(spec, &net, err)) < 0 || (r = qk_device_add_item(net, "forwards", &f, err)) < 0 ||
	    (proto && (r = qk_device_set_string(f, "protocol", proto, err)) < 0) ||
	    (addr && (r = qk_device_set_string(f, "host-addr", addr, err)) < 0) ||
	    (r = qk_device_set_int(f, "host-port", hp, err)) < 0 ||
	    (r = qk_device_set_int(f, "guest-port", gp, err)) < 0)
		return r;
	return 0;
}

static int add_share(qk_spec *spec, const char *arg, unsigned index, qk_error **err)
{
	/* DIR[:TAG[:ro|rw]] */
	_cleanup_free_ char *dir = strdup(arg);
	if (!dir)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	char *tag = strchr(dir, ':'), *mode = NULL;
	if (tag) {
		*tag++ = '\0';
		if ((mode = strchr(tag, ':')))
			*mode++ = '\0';
	}
	if (!*dir || (mode && strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "--share \"%s\": expected DIR[:TAG[:ro]]",
				    arg);
	char deftag[32];
	snprintf(deftag, sizeof(deftag), "qkit-share%u", index);
	qk_device *fs;
	int r;
	if ((r = qk_spec_add_fs(spec, "9p", tag && *tag ? tag : deftag, &fs, err)) < 0 ||
	    (r = qk_device_set_string(fs, "path", dir, err)) < 0 ||
	    (mode && strcmp(mode, "ro") == 0 && (r = qk_device_set_bool(fs, "readonly", true, err)) < 0))
		return r;
	return 0;
}

/*
 * --set PATH=VALUE: the value's shape picks the type (true/false, an
 * integer, else a string); a field of another type gets the string, which
 * the schema then accepts (sizes: "512M") or refuses, naming the field.
 */
static int set_field(qk_spec *spec, const char *arg, qk_error **err)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "--set \"%s\": expected PATH=VALUE", arg);
	_cleanup_free_ char *path = strndup(arg, (size_t)(eq - arg));
	const char *value = eq + 1;
	if (!path)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	long long n;
	qk_error *first = NULL;
	int r = 1;
	if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
		r = qk_spec_set_bool(spec, path, value[0] == 't', &first);
	else if (parse_ll(value, LLONG_MIN, LLONG_MAX, &n))
		r = qk_spec_set_int(spec, path, n, &first);
	if (r == 0)
		return 0;
	qk_error_free(first);
	r = qk_spec_set_string(spec, path, value, err);
	if (r < 0)
		qk_error_prepend(err, "--set: ");
	return r;
}

static int apply_change(qk_spec *spec, const struct change *c, unsigned *shares, qk_error **err)
{
	qk_device *d;
	long long n;
	switch (c->opt) {
	case OPT_ARCH:
		return qk_spec_set_string(spec, "arch", c->arg, err);
	case OPT_MACHINE:
		return qk_spec_set_string(spec, "machine.type", c->arg, err);
	case OPT_ACCEL:
		return 0; /* applied once, see apply_flags() */
	case OPT_CPUS:
		if (!parse_ll(c->arg, LLONG_MIN, LLONG_MAX, &n))
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "--cpus \"%s\": expected a number of CPUs", c->arg);
		return qk_spec_set_int(spec, "cpu.count", n, err);
	case 'm': {
		/* QEMU's -m: a plain number is MiB. */
		char mib[32];
		if (parse_ll(c->arg, 1, LLONG_MAX / 2, &n)) {
			snprintf(mib, sizeof(mib), "%lldM", n);
			return qk_spec_set_string(spec, "memory.size", mib, err);
		}
		return qk_spec_set_string(spec, "memory.size", c->arg, err);
	}
	case 'k':
		return qk_spec_set_string(spec, "boot.kernel", c->arg, err);
	case 'i':
		return qk_spec_set_string(spec, "boot.initrd", c->arg, err);
	case OPT_APPEND:
		return qk_spec_set_string(spec, "boot.append", c->arg, err);
	case OPT_DISK: {
		int r = qk_spec_add_disk(spec, c->arg, &d, err);
		return r < 0 ? r : qk_device_set_string(d, "format", format_of(c->arg), err);
	}
	case OPT_CDROM: {
		int r = qk_spec_add_disk(spec, c->arg, &d, err);
		if (r == 0)
			r = qk_device_set_string(d, "media", "cdrom", err);
		/* virtio-blk has no CD-ROM; SCSI works on every machine. */
		return r < 0 ? r : qk_device_set_string(d, "interface", "scsi", err);
	}
	case OPT_FWD:
		return add_forward(spec, c->arg, err);
	case OPT_SHARE:
		return add_share(spec, c->arg, (*shares)++, err);
	case OPT_SET:
		return set_field(spec, c->arg, err);
	case OPT_PAUSED:
		return qk_spec_set_bool(spec, "boot.paused", true, err);
	case 't':
		if (!parse_ll(c->arg, 1, 31536000, &n))
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "--timeout \"%s\": expected whole seconds, 1 to 31536000", c->arg);
		return qk_spec_set_int(spec, "timeout", n, err);
	case 'n':
		return qk_spec_set_string(spec, "name", c->arg, err);
	}
	return 0;
}

/* Every flag onto the spec; every problem collected in *all. */
static void apply_flags(qk_spec *spec, struct flags *f, char **extra, qk_error **all)
{
	unsigned shares = 0;
	const char *accel = NULL;
	for (size_t i = 0; i < f->n_changes; i++) {
		qk_error *e = NULL;
		if (f->changes[i].opt == OPT_ACCEL)
			accel = f->changes[i].arg;
		if (apply_change(spec, &f->changes[i], &shares, &e) < 0)
			for (size_t p = 0; p < qk_error_count(e); p++)
				qk_error_add(all, qk_error_get_kind(e), "%s", qk_error_problem(e, p));
		qk_error_free(e);
	}
	qk_error *e = NULL;
	if (accel && (qk_spec_unset(spec, "machine.accel", &e) < 0 ||
		      qk_spec_append_string(spec, "machine.accel", accel, &e) < 0))
		qk_error_add(all, QK_ERR_INVALID, "--accel: %s", qk_error_message(e));
	qk_error_free(e);
	e = NULL;
	qk_device *net;
	if (f->net && strcmp(f->net, "user") == 0) {
		if (net_device(spec, &net, &e) < 0)
			qk_error_add(all, QK_ERR_INVALID, "--net: %s", qk_error_message(e));
	} else if (f->net && qk_spec_find_device(spec, "net", 0, &net, NULL) == 0) {
		qk_error_add(all, QK_ERR_INVALID,
			     "--net none: the spec has a network device; remove it from the spec");
	}
	qk_error_free(e);
	for (char **a = extra; a && *a; a++) {
		e = NULL;
		if (qk_spec_append_string(spec, "extra-args", *a, &e) < 0)
			qk_error_add(all, QK_ERR_INVALID, "%s", qk_error_message(e));
		qk_error_free(e);
	}
}

/* ---- the terminal ---- */

static void console_out(const char *data, size_t len, void *userdata)
{
	/* When nobody reads our output any more, the guest goes on all the same. */
	fd_write_all(STDOUT_FILENO, data, len);
}

/* ---- output ---- */

static int report(const qk_run_result *res)
{
	const char *msg = res->message ? res->message : qk_run_end_string(res->end);
	switch (res->end) {
	case QK_RUN_POWERED_OFF:
	case QK_RUN_DETACHED:
		return EXIT_OK;
	case QK_RUN_STOPPED:
		fprintf(stderr, "qkit run: %s\n", msg);
		return res->signal ? RUN_SIGNAL + res->signal : EXIT_OK;
	case QK_RUN_PANICKED:
		return cli_report_panic("run", res->panic_lines);
	case QK_RUN_WATCHDOG:
		fprintf(stderr, "qkit run: %s\n", msg);
		return EXIT_GUEST_WATCHDOG;
	case QK_RUN_TIMED_OUT:
	case QK_RUN_QEMU_SIGNALED:
	case QK_RUN_QEMU_FAILED:
		/* QEMU's failure says it all; the console then shows nothing new. */
		cli_report_with_tail("run", msg, res->end != QK_RUN_QEMU_FAILED ? res->console_tail : NULL);
		if (res->end == QK_RUN_TIMED_OUT)
			return EXIT_GUEST_TIMEOUT;
		return res->end == QK_RUN_QEMU_SIGNALED ? RUN_SIGNAL + res->signal : EXIT_FAIL;
	}
	return EXIT_FAIL;
}

static bool push_change(struct flags *f, int opt, const char *arg)
{
	if (f->n_changes == ARRAY_SIZE(f->changes))
		return false;
	f->changes[f->n_changes++] = (struct change){ opt, arg };
	return true;
}

static int parse_args(int argc, char **argv, struct flags *f, const char **spec_path)
{
	static const struct option opts[] = {
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "machine", required_argument, NULL, OPT_MACHINE },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "mem", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "no-fast-boot", no_argument, NULL, OPT_NO_FAST_BOOT },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "cdrom", required_argument, NULL, OPT_CDROM },
		{ "net", required_argument, NULL, OPT_NET },
		{ "fwd", required_argument, NULL, OPT_FWD },
		{ "share", required_argument, NULL, OPT_SHARE },
		{ "set", required_argument, NULL, OPT_SET },
		{ "name", required_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ "paused", no_argument, NULL, OPT_PAUSED },
		{ "timeout", required_argument, NULL, 't' },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "m:k:i:n:dt:", opts, NULL)) != -1) {
		switch (c) {
		case OPT_NET:
			if (strcmp(optarg, "user") != 0 && strcmp(optarg, "none") != 0)
				return cli_usage_error("run", "--net: \"%s\" is not user or none", optarg);
			f->net = optarg;
			break;
		case 'n':
			f->name = optarg;
			if (!push_change(f, c, optarg))
				return cli_usage_error("run", "too many options");
			break;
		case 'd':
			f->detach = true;
			break;
		case OPT_NO_FAST_BOOT:
			f->fast_boot = false;
			break;
		case OPT_DRY_RUN:
			f->dry_run = true;
			break;
		case OPT_BOOT_TIMEOUT:
			if ((f->boot_timeout_ms = cli_parse_seconds(optarg, true)) < 0)
				return cli_usage_error("run", "--boot-timeout: \"%s\" is not a number of seconds",
						       optarg);
			if (f->boot_timeout_ms == 0)
				f->boot_timeout_ms = -1; /* off */
			break;
		case OPT_STOP_TIMEOUT:
			if ((f->stop_timeout_ms = cli_parse_seconds(optarg, true)) < 0)
				return cli_usage_error("run", "--stop-timeout: \"%s\" is not a number of seconds",
						       optarg);
			if (f->stop_timeout_ms == 0)
				f->stop_timeout_ms = -1; /* no power button: straight to quit */
			break;
		case OPT_PAUSED:
			f->paused = true;
			if (!push_change(f, c, optarg))
				return cli_usage_error("run", "too many options");
			break;
		case '?':
			return EXIT_USAGE; /* getopt said what was wrong */
		default:
			if (!push_change(f, c, optarg))
				return cli_usage_error("run", "too many options");
			break;
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("run", "expected at most one spec file, got \"%s\" and \"%s\" "
				       "(QEMU arguments go after --)", argv[optind], argv[optind + 1]);
	*spec_path = optind < argc ? argv[optind] : NULL;
	return EXIT_OK;
}

static int load_spec(qk_spec **spec, const char *path, qk_error **err)
{
	if (path)
		return qk_spec_load_file(spec, path, QK_SPEC_AUTO, 0, err);
	int r = qk_spec_new(spec, err);
	return r < 0 ? r : qk_spec_apply_env(*spec, err);
}

static int run(int argc, char **argv)
{
	/* Everything after "--" is QEMU's, even words that look like our options. */
	char **extra = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			extra = argv + i + 1;
			argv[i] = NULL;
			argc = i;
			break;
		}
	}
	_cleanup_free_ struct flags *f = calloc(1, sizeof(*f));
	if (!f)
		return EXIT_FAIL;
	f->fast_boot = true;
	const char *path = NULL;
	int status = parse_args(argc, argv, f, &path);
	if (status != EXIT_OK)
		return status;

	qk_error *err = NULL;
	_cleanup_(qk_spec_freep) qk_spec *spec = NULL;
	if (load_spec(&spec, path, &err) < 0)
		return cli_report("run", err);
	apply_flags(spec, f, extra, &err);
	/* Flag problems and spec problems, all at once, before anything starts. */
	qk_error *verr = NULL;
	if (qk_spec_validate(spec, &verr) < 0) {
		for (size_t p = 0; p < qk_error_count(verr); p++)
			qk_error_add(&err, QK_ERR_INVALID, "%s%s%s", path ? path : "", path ? ": " : "",
				     qk_error_problem(verr, p));
	}
	qk_error_free(verr);
	if (err)
		return cli_report("run", err);

	if (f->dry_run) {
		_cleanup_(qk_argv_freep) char **args = NULL;
		if ((f->fast_boot && qk_run_fast_boot(spec, &err) < 0) ||
		    qk_spec_render(spec, NULL, &args, &err) < 0)
			return cli_report("run", err);
		cli_print_command_line(stdout, args);
		return EXIT_OK;
	}

	qk_run_options o = QK_RUN_OPTIONS_INIT;
	char gen_name[32];
	o.name = f->name;
	o.detach = f->detach;
	o.fast_boot = f->fast_boot;
	o.boot_timeout_ms = f->boot_timeout_ms;
	if (f->stop_timeout_ms != 0)
		o.stop.powerdown_timeout_ms = f->stop_timeout_ms;
	_cleanup_free_ char *spec_name = NULL;
	if (o.detach && !o.name) {
		/* The spec's name if it can name a VM, else one of our own. */
		json_t *n = NULL;
		if (qk_spec_to_json(spec, &n, NULL) == 0) {
			const char *s = json_string_value(json_object_get(n, "name"));
			if (s && qk_vm_name_valid(s, NULL))
				spec_name = strdup(s);
			json_decref(n);
		}
		snprintf(gen_name, sizeof(gen_name), "vm-%d", (int)getpid());
		o.name = spec_name ? spec_name : gen_name;
	}
	if (f->paused && !o.name)
		return cli_usage_error("run", "--paused needs --name (or --detach): "
				       "the VM is resumed with qkit qmp NAME cont");
	bool tty = !o.detach && cli_terminal_is_ours(STDIN_FILENO);
	if (!o.detach) {
		/* A background job (qkit run &) leaves the terminal alone: reading it would stop us (SIGTTIN). */
		o.input_fd = isatty(STDIN_FILENO) && !tty ? -1 : STDIN_FILENO;
		o.console_fn = console_out;
	}
	if (tty) {
		o.escape_char = 0x1d; /* Ctrl-] */
		fprintf(stderr, "qkit run: the console is on this terminal; Ctrl-] then q stops the VM\n");
		int r = term_raw(STDIN_FILENO);
		if (r < 0) {
			qk_error_set(&err, QK_ERR_SYSTEM, -r, "putting the terminal in raw mode: %s",
				     strerror(-r));
			return cli_report("run", err);
		}
	}
	qk_run_result res = QK_RUN_RESULT_INIT;
	int r = qk_run(spec, &o, &res, &err);
	if (tty) {
		term_restore();
		fputc('\n', stderr);
	}
	if (r < 0) {
		qk_run_result_clear(&res);
		return cli_report("run", err);
	}
	if (res.end == QK_RUN_DETACHED)
		printf("%s\n", o.name);
	status = report(&res);
	qk_run_result_clear(&res);
	return status;
}

const struct command cmd_run = {
	.name = "run",
	.summary = "run a VM from a spec file and flags, console attached",
	.usage = USAGE,
	.run = run,
};
