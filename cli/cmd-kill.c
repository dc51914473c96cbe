/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include <qkit/qkit.h>

#include "cli.h"

static int run(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("kill", "expected one VM name");
	qk_error *err = NULL;
	if (qk_vm_kill_by_name(argv[1], &err) < 0)
		return cli_report("kill", err);
	return EXIT_OK;
}

const struct command cmd_kill = {
	.name = "kill",
	.summary = "kill a named VM's QEMU at once",
	.usage = "Usage: qkit kill NAME\n"
		 "\n"
		 "Kill the QEMU of the VM called NAME with SIGKILL, without asking the\n"
		 "guest, and wait for its supervisor to clean up. Use qkit stop for a\n"
		 "graceful shutdown.\n",
	.run = run,
};
