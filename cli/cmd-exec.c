/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <qkit/qkit.h>
#include <qkit/exec.h>

#include "cli.h"
#include "guest.h"
#include "term.h"
#include "util.h"

/* Exit statuses of qkit exec besides the command's own and guest.h's (see qkit-exec(1)). */
enum {
	EXEC_FAILED = 125, /* qkit or QEMU failed; the command did not report a status */
};

#define MAX_LIST 64

static int fail(qk_error *err)
{
	cli_report("exec", err);
	return EXEC_FAILED;
}

/* "512", "512M", "1G" to MiB; 0 if s is not that. */
static unsigned parse_mem(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || v == 0)
		return 0;
	if (strcasecmp(end, "G") == 0 || strcasecmp(end, "GiB") == 0)
		v *= 1024;
	else if (*end && strcasecmp(end, "M") != 0 && strcasecmp(end, "MiB") != 0)
		return 0;
	return v > 1024 * 1024 ? 0 : (unsigned)v;
}

/* DIR[:TAG[:ro]]: the strings point into arg, which is modified. */
static bool parse_share(char *arg, qk_exec_share *out)
{
	char *tag = strchr(arg, ':');
	char *mode = NULL;
	if (tag) {
		*tag++ = '\0';
		mode = strchr(tag, ':');
		if (mode)
			*mode++ = '\0';
	}
	if (!*arg)
		return false;
	out->path = arg;
	out->tag = tag && *tag ? tag : NULL;
	out->readonly = false;
	if (mode) {
		if (strcmp(mode, "ro") == 0)
			out->readonly = true;
		else if (strcmp(mode, "rw") != 0)
			return false;
	}
	return true;
}

/* The terminal is raw (see --tty): lines then need their carriage return. */
static bool raw_terminal;

static void print_console_line(const char *formatted, const char *text, double seconds,
			       void *userdata)
{
	fprintf(stderr, "%s%s", formatted, raw_terminal ? "\r\n" : "\n");
}

static void write_event(const json_t *ev, void *userdata)
{
	FILE *f = userdata;
	json_dumpf(ev, f, JSON_COMPACT);
	fputc('\n', f);
	fflush(f);
}

static int report(const qk_exec_result *res)
{
	switch (res->end) {
	case QK_EXEC_EXITED:
		return res->status;
	case QK_EXEC_PANICKED:
		return cli_report_panic("exec", res->panic_lines);
	case QK_EXEC_WATCHDOG:
		fprintf(stderr, "qkit exec: %s\n", res->message);
		return EXIT_GUEST_WATCHDOG;
	case QK_EXEC_STOPPED:
		fprintf(stderr, "qkit exec: %s; the command did not finish\n", res->message);
		return EXEC_FAILED;
	case QK_EXEC_TIMED_OUT:
	case QK_EXEC_QEMU_FAILED:
		cli_report_with_tail("exec", res->message, res->console_tail);
		if (cli_verbose && res->command_line)
			fprintf(stderr, "qkit exec: QEMU's command line: %s\n", res->command_line);
		return res->end == QK_EXEC_TIMED_OUT ? EXIT_GUEST_TIMEOUT : EXEC_FAILED;
	}
	return EXEC_FAILED;
}

static int run(int argc, char **argv)
{
	enum {
		OPT_NO_FAST_BOOT = 256,
		OPT_BOOT_TIMEOUT,
		OPT_NO_CWD,
		OPT_CONSOLE_LOG,
		OPT_APPEND,
		OPT_BUSYBOX,
		OPT_EVENTS,
		OPT_NO_STDIN,
		OPT_TTY,
		OPT_NO_TTY,
	};
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "arch", required_argument, NULL, 'a' },
		{ "share", required_argument, NULL, 's' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "module", required_argument, NULL, 'M' },
		{ "modules", required_argument, NULL, 'D' },
		{ "accel", required_argument, NULL, 'A' },
		{ "console", no_argument, NULL, 'C' },
		{ "no-fast-boot", no_argument, NULL, OPT_NO_FAST_BOOT },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "no-cwd", no_argument, NULL, OPT_NO_CWD },
		{ "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "busybox", required_argument, NULL, OPT_BUSYBOX },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "no-stdin", no_argument, NULL, OPT_NO_STDIN },
		{ "tty", no_argument, NULL, OPT_TTY },
		{ "no-tty", no_argument, NULL, OPT_NO_TTY },
		{ 0 },
	};
	qk_exec_options o = QK_EXEC_OPTIONS_INIT;
	o.stdin_fd = 0;
	qk_exec_share shares[MAX_LIST];
	const char *modules[MAX_LIST];
	const char *events_path = NULL;
	bool console = cli_verbose;
	int tty = -1; /* -1: when stdin is a terminal */
	int c;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o.kernel = optarg;
			break;
		case 'a':
			o.arch = optarg;
			break;
		case 's':
			if (o.n_shares == MAX_LIST)
				return cli_usage_error("exec", "more than %d --share options", MAX_LIST);
			if (!parse_share(optarg, &shares[o.n_shares]))
				return cli_usage_error("exec", "--share: expected DIR[:TAG[:ro]], got \"%s\"",
						       optarg);
			o.n_shares++;
			break;
		case 'm':
			if (!(o.mem_mb = parse_mem(optarg)))
				return cli_usage_error("exec", "--mem: \"%s\" is not a size like 256M or 1G",
						       optarg);
			break;
		case 'c': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > 256)
				return cli_usage_error("exec", "--cpus: \"%s\" is not a number in 1..256",
						       optarg);
			o.cpus = (unsigned)v;
			break;
		}
		case 't':
			if ((o.timeout_ms = cli_parse_seconds(optarg, false)) < 0)
				return cli_usage_error("exec", "--timeout: \"%s\" is not a number of seconds",
						       optarg);
			break;
		case OPT_BOOT_TIMEOUT:
			if ((o.boot_timeout_ms = cli_parse_seconds(optarg, false)) < 0)
				return cli_usage_error("exec",
						       "--boot-timeout: \"%s\" is not a number of seconds",
						       optarg);
			break;
		case 'M':
			if (o.n_modules == MAX_LIST)
				return cli_usage_error("exec", "more than %d --module options", MAX_LIST);
			modules[o.n_modules++] = optarg;
			break;
		case 'D':
			o.modules_dir = optarg;
			break;
		case 'A':
			o.accel = optarg;
			break;
		case 'C':
			console = true;
			break;
		case OPT_NO_FAST_BOOT:
			o.fast_boot = false;
			break;
		case OPT_NO_CWD:
			o.cwd = "";
			break;
		case OPT_CONSOLE_LOG:
			o.console_log = optarg;
			break;
		case OPT_APPEND:
			o.append = optarg;
			break;
		case OPT_BUSYBOX:
			o.busybox = optarg;
			break;
		case OPT_EVENTS:
			events_path = optarg;
			break;
		case OPT_NO_STDIN:
			o.stdin_fd = -1;
			break;
		case OPT_TTY:
			tty = 1;
			break;
		case OPT_NO_TTY:
			tty = 0;
			break;
		default:
			return EXIT_USAGE; /* getopt said what was wrong */
		}
	}
	if (optind >= argc)
		return cli_usage_error("exec", "expected a command after --");
	o.shares = shares;
	o.modules = modules;
	if (console)
		o.on_console_line = print_console_line;

	_cleanup_fclose_ FILE *events = NULL;
	if (events_path) {
		events = fopen(events_path, "we");
		if (!events) {
			qk_error *err = NULL;
			qk_error_set(&err, QK_ERR_SYSTEM, errno, "--events %s: %s", events_path,
				     strerror(errno));
			return fail(err);
		}
		o.on_event = write_event;
		o.event_userdata = events;
	}

	/* A background job leaves the terminal alone: raw mode would stop it (SIGTTOU). */
	bool raw = o.stdin_fd == STDIN_FILENO && cli_terminal_is_ours(STDIN_FILENO);
	/*
	 * By default only when the output is a terminal too: qkit exec -- make
	 * >log 2>err typed at a shell keeps stdout and stderr apart.
	 */
	o.tty = tty < 0 ? raw && isatty(STDOUT_FILENO) : tty;
	raw = raw && o.tty;
	if (o.tty) {
		struct winsize ws;
		if (ioctl(raw ? STDIN_FILENO : STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
			o.tty_rows = ws.ws_row;
			o.tty_cols = ws.ws_col;
		}
		const char *term = getenv("TERM");
		/* An odd TERM is the guest's default rather than a failure. */
		o.tty_term = term && *term && strspn(term, "abcdefghijklmnopqrstuvwxyz"
						     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._") ==
						      strlen(term)
				     ? term
				     : NULL;
		/* Only a person types the escape; a pipe may hold any byte. */
		o.escape_char = raw ? TERM_ESCAPE : 0;
	}
	if (raw) {
		int r = term_raw(STDIN_FILENO);
		if (r < 0) {
			qk_error *err = NULL;
			qk_error_set(&err, QK_ERR_SYSTEM, -r, "putting the terminal in raw mode: %s",
				     strerror(-r));
			return fail(err);
		}
		raw_terminal = true;
	}

	qk_exec_result res = QK_EXEC_RESULT_INIT;
	qk_error *err = NULL;
	int r = qk_exec_run((const char *const *)argv + optind, (size_t)(argc - optind), &o, &res, &err);
	if (raw) {
		term_restore();
		raw_terminal = false;
	}
	if (r < 0)
		return fail(err);
	int status = report(&res);
	qk_exec_result_clear(&res);
	return status;
}

const struct command cmd_exec = {
	.name = "exec",
	.summary = "run a command in a fresh VM and exit with its status",
	.usage =
		"Usage: qkit exec [OPTIONS] -- CMD [ARGS...]\n"
		"\n"
		"Boot a kernel with a generated initramfs (busybox from the host), share the\n"
		"current directory over 9p, run CMD there in the guest with our stdin, stream\n"
		"its stdout and stderr to ours, and exit with its exit status.\n"
		"\n"
		"Options:\n"
		"  --kernel K          the kernel (default: $QKIT_KERNEL, the prepared guest\n"
		"                      kernel, the newest /boot/vmlinuz-*)\n"
		"  --modules DIR       its modules tree (default: next to it, or /lib/modules/V)\n"
		"  --module NAME       load this module too, with its dependencies (repeatable)\n"
		"  --arch A            x86_64 (default) or aarch64\n"
		"  --accel tcg|kvm     the accelerator (default tcg)\n"
		"  --share DIR[:TAG[:ro]]  also share DIR at the same path (repeatable)\n"
		"  --no-cwd            do not share the current directory; run CMD in /\n"
		"  --mem M             memory, e.g. 256M (default) or 1G\n"
		"  --cpus N            virtual CPUs (default 1)\n"
		"  --timeout S         stop the VM after S seconds (exit 124)\n"
		"  --boot-timeout S    the boot watchdog: stop the VM if its console stays\n"
		"                      silent for S seconds (default 30, 10 under KVM; exit 122)\n"
		"  --no-fast-boot      boot the bzImage, not its cached PVH vmlinux\n"
		"  --append ARGS       more kernel command line\n"
		"  --busybox PATH      the static busybox for the guest\n"
		"  --console           show the guest's console on stderr (also with qkit -v)\n"
		"  --console-log FILE  append the raw console to FILE\n"
		"  --events FILE       write the guest's events (JSON lines) to FILE\n"
		"  --no-stdin          CMD reads end of file instead of our stdin\n"
		"  --tty, --no-tty     run CMD on a terminal in the guest (/dev/hvc0), with\n"
		"                      ours in raw mode, or on plain streams (default: a\n"
		"                      terminal when stdin and stdout are); Ctrl-] q stops it\n"
		"\n"
		"Exit status: CMD's, or 121 guest kernel panic, 122 boot watchdog,\n"
		"124 timeout, 125 qkit or QEMU failed or Ctrl-] q. See qkit-exec(1).\n",
	.run = run,
};
