/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qkit/qkit.h>

#include "cli.h"

static void format_uptime(char *buf, size_t size, int64_t started)
{
	int64_t s = (int64_t)time(NULL) - started;
	if (s < 0)
		s = 0;
	if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)(s % 3600 / 60));
	else
		snprintf(buf, size, "%dd%02dh", (int)(s / 86400), (int)(s % 86400 / 3600));
}

static void print_table(qk_vm_state **vms, size_t n)
{
	printf("%-20s %8s %10s %9s  %s\n", "NAME", "PID", "SUPERVISOR", "UPTIME", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		char up[32];
		format_uptime(up, sizeof(up), qk_vm_state_started(vms[i]));
		char *const *argv = qk_vm_state_argv(vms[i]);
		printf("%-20s %8d %10d %9s  %s", qk_vm_state_name(vms[i]),
		       (int)qk_vm_state_pid(vms[i]), (int)qk_vm_state_supervisor_pid(vms[i]), up,
		       argv[0] ? argv[0] : "");
		for (size_t a = 1; argv[a]; a++)
			printf(" %s", argv[a]);
		printf("\n");
	}
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			return cli_usage_error("ps", "unknown option");
		json = true;
	}
	if (optind < argc)
		return cli_usage_error("ps", "unexpected argument '%s'", argv[optind]);

	qk_vm_state **vms = NULL;
	size_t n = 0;
	qk_error *err = NULL;
	if (qk_state_list(&vms, &n, &err) < 0)
		return cli_report("ps", err);
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append(arr, (json_t *)qk_vm_state_json(vms[i]));
		char *s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		json_decref(arr);
		if (!s) {
			qk_vm_state_list_free(vms, n);
			fprintf(stderr, "qkit ps: out of memory\n");
			return EXIT_FAIL;
		}
		printf("%s\n", s);
		free(s);
	} else {
		print_table(vms, n);
	}
	qk_vm_state_list_free(vms, n);
	return EXIT_OK;
}

const struct command cmd_ps = {
	.name = "ps",
	.summary = "list the running VMs started with a name",
	.usage = "Usage: qkit ps [--json]\n"
		 "\n"
		 "List the VMs that qkit supervises under a name: name, QEMU's pid, the\n"
		 "supervisor's pid, uptime and command line. State left by a supervisor\n"
		 "that died is removed on the way.\n"
		 "\n"
		 "Options:\n"
		 "  -j, --json   print each VM's state.json, as a JSON array\n",
	.run = run,
};
