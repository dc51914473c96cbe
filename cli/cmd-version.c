/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include <qkit/qkit.h>

#include "cli.h"

static int run(int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
	printf("qkit %s\n", qk_version());
	return EXIT_OK;
}

const struct command cmd_version = {
	.name = "version",
	.summary = "print the version of qkit",
	.usage = "Usage: qkit version\n"
		 "\n"
		 "Print the version of qkit (the same as qkit --version).\n",
	.run = run,
};
