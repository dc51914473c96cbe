/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <qkit/qkit.h>

#include "cli.h"

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	int timeout_ms = -1;
	int c;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (c != 't')
			return cli_usage_error("stop", "unknown option");
		char *end;
		errno = 0;
		double v = strtod(optarg, &end);
		if (errno || end == optarg || *end || v <= 0 || v > INT_MAX / 1000)
			return cli_usage_error("stop", "--timeout: '%s' is not a number of seconds",
					       optarg);
		timeout_ms = (int)(v * 1000);
	}
	if (optind + 1 != argc)
		return cli_usage_error("stop", "expected one VM name");
	qk_error *err = NULL;
	if (qk_vm_stop_by_name(argv[optind], timeout_ms, &err) < 0)
		return cli_report("stop", err);
	return EXIT_OK;
}

const struct command cmd_stop = {
	.name = "stop",
	.summary = "stop a named VM gracefully",
	.usage = "Usage: qkit stop [--timeout SECS] NAME\n"
		 "\n"
		 "Stop the VM called NAME: its supervisor presses the ACPI power button\n"
		 "(system_powerdown) and waits, then asks QEMU to quit, then sends SIGTERM\n"
		 "and finally SIGKILL. Returns once QEMU and its supervisor are gone.\n"
		 "\n"
		 "Options:\n"
		 "  -t, --timeout SECS   how long the guest gets to power off (default: the\n"
		 "                       one given to qkit start, else 10)\n",
	.run = run,
};
