/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "cli.h"

#define USAGE                                                                          \
	"Usage: qkit start [OPTIONS] -- QEMU-BINARY [QEMU-ARGS...]\n"                  \
	"\n"                                                                           \
	"Start QEMU with the given command line and supervise it: qkit adds the QMP\n" \
	"monitor itself, captures QEMU's output, and stops the VM gracefully on\n"     \
	"SIGTERM, SIGINT or SIGHUP (system_powerdown, quit, SIGTERM, SIGKILL).\n"      \
	"\n"                                                                           \
	"Options:\n"                                                                   \
	"  -n, --name NAME       register the VM as NAME (see qkit ps, stop, kill)\n"  \
	"  -d, --detach          supervise in the background; print the name and return\n" \
	"  -p, --paused          start with the CPUs stopped (QEMU -S)\n"              \
	"  -t, --timeout SECS    kill QEMU if it still runs after SECS seconds\n"      \
	"  -s, --stop-timeout SECS  how long the guest gets to power off (10)\n"       \
	"  -c, --console         add the console chardev 'qkit-console' (render\n"     \
	"                        -serial chardev:qkit-console yourself); in the\n"     \
	"                        foreground it is copied to standard output\n"         \
	"\n"                                                                           \
	"Exit status: 0 when the guest powered off, 1 otherwise (the reason is printed).\n"

static int parse_seconds(const char *opt, const char *s, int *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > INT_MAX / 1000)
		return cli_usage_error("start", "%s: '%s' is not a number of seconds", opt, s);
	*ms = (int)(v * 1000);
	return 0;
}

/*
 * QEMU's argv with -name guest=NAME added, unless it names the guest
 * itself: query-name and the window title then say what qkit ps says.
 * NULL when out of memory.
 */
static char **with_guest_name(char **qemu_argv, const char *name, char **guest)
{
	size_t n = 0;
	bool named = false;
	for (; qemu_argv[n]; n++)
		named = named || (n > 0 && (strcmp(qemu_argv[n], "-name") == 0 ||
					    strcmp(qemu_argv[n], "--name") == 0));
	char **out = calloc(n + 3, sizeof(char *));
	if (!out)
		return NULL;
	memcpy(out, qemu_argv, n * sizeof(char *));
	*guest = NULL;
	if (!named && name && asprintf(guest, "guest=%s", name) >= 0) {
		out[n] = "-name";
		out[n + 1] = *guest;
	}
	return out;
}

static void console_to_stdout(const char *data, size_t len, void *userdata)
{
	fwrite(data, 1, len, stdout);
	fflush(stdout);
}

/* Anything but a clean power-off is reported with QEMU's last words. */
static void report_end(qk_vm *vm, const qk_vm_exit *ex, void *userdata)
{
	if (ex->end == QK_VM_POWERED_OFF && ex->exit_status == 0)
		return;
	char *msg = qk_vm_exit_describe(vm, ex);
	fprintf(stderr, "qkit start: %s\n", msg ? msg : qk_vm_end_string(ex->end));
	free(msg);
	if (ex->end != QK_VM_QEMU_ERROR) { /* that message already quotes it */
		char *tail = qk_vm_output_tail(vm, 5);
		if (tail && *tail)
			fprintf(stderr, "qkit start: QEMU's last output:\n%s\n", tail);
		free(tail);
	}
}

static int start_detached(qk_vm_supervise_options *sopts, char **qemu_argv, qk_vm_options *vopts)
{
	qk_error *err = NULL;
	pid_t sup;
	if (qk_vm_detach(sopts, qemu_argv, vopts, &sup, &err) < 0)
		return cli_report("start", err);
	printf("%s\n", sopts->name);
	return EXIT_OK;
}

static int start_foreground(qk_vm_supervise_options *sopts, char **qemu_argv,
			    qk_vm_options *vopts)
{
	qk_error *err = NULL;
	/* ^C reaches only qkit, which then runs the ladder, not QEMU directly. */
	vopts->new_process_group = true;
	if (vopts->console)
		vopts->console_fn = console_to_stdout;
	sopts->ended = report_end;
	qk_vm_exit ex;
	if (qk_vm_supervise(sopts, qemu_argv, vopts, &ex, &err) < 0)
		return cli_report("start", err);
	return ex.end == QK_VM_POWERED_OFF && ex.exit_status == 0 ? EXIT_OK : EXIT_FAIL;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ "paused", no_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "stop-timeout", required_argument, NULL, 's' },
		{ "console", no_argument, NULL, 'c' },
		{ 0 },
	};
	qk_vm_supervise_options sopts = QK_VM_SUPERVISE_OPTIONS_INIT;
	qk_vm_options vopts = QK_VM_OPTIONS_INIT;
	bool detach = false;
	char gen_name[32];
	int c;

	/* '+': QEMU's own options follow and are not ours. */
	while ((c = getopt_long(argc, argv, "+n:dpt:s:c", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			sopts.name = optarg;
			break;
		case 'd':
			detach = true;
			break;
		case 'p':
			vopts.paused = true;
			break;
		case 't':
			if (parse_seconds("--timeout", optarg, &sopts.timeout_ms))
				return EXIT_USAGE;
			break;
		case 's':
			if (parse_seconds("--stop-timeout", optarg, &sopts.stop.powerdown_timeout_ms))
				return EXIT_USAGE;
			break;
		case 'c':
			vopts.console = true;
			break;
		default:
			return cli_usage_error("start", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("start", "expected a QEMU command line after --");
	char **given = argv + optind;

	qk_error *err = NULL;
	if (sopts.name && !qk_vm_name_valid(sopts.name, &err))
		return cli_report("start", err);
	if (detach && !sopts.name) {
		snprintf(gen_name, sizeof(gen_name), "vm-%d", (int)getpid());
		sopts.name = gen_name;
	}
	char *guest = NULL;
	char **qemu_argv = with_guest_name(given, sopts.name, &guest);
	if (!qemu_argv) {
		fprintf(stderr, "qkit start: out of memory\n");
		return EXIT_FAIL;
	}
	int ret = detach ? start_detached(&sopts, qemu_argv, &vopts)
			 : start_foreground(&sopts, qemu_argv, &vopts);
	free(guest);
	free(qemu_argv);
	return ret;
}

const struct command cmd_start = {
	.name = "start",
	.summary = "start and supervise a QEMU command line",
	.usage = USAGE,
	.run = run,
};
