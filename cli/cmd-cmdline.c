/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkit/qkit.h>

#include "cli.h"

#define USAGE                                                                           \
	"Usage: qkit cmdline [OPTIONS] SPEC\n"                                          \
	"\n"                                                                            \
	"Print the QEMU command line SPEC (YAML or JSON) describes, shell-quoted so\n"  \
	"it can be pasted into a shell, or as a JSON array. Invalid specs print every\n" \
	"problem to standard error and exit 1.\n"                                       \
	"\n"                                                                            \
	"Options:\n"                                                                    \
	"  -a, --arch ARCH         render for ARCH (x86_64, i386, aarch64, arm, riscv64, s390x)\n" \
	"  -j, --json              print a JSON array instead\n"                        \
	"  -s, --syntax SYNTAX     auto (default), comma or json for -device, -object,\n" \
	"                          -blockdev and -netdev\n"                             \
	"  -q, --qemu-version V    the target QEMU, like 7.2 (default 7.2)\n"           \
	"  -S, --paused            add -S\n"                                            \
	"  -c, --console-chardev ID  wire the console to chardev ID, which the caller\n" \
	"                          adds (qkit start --console adds qkit-console)\n"    \
	"  -E, --no-env            ignore the QKIT_* and VMTEST_* overrides\n"        \
	"      --strict            refuse raw QEMU arguments (extra-args, qemu.args)\n"

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_SPEC_LONGOPTS,
		{ "syntax", required_argument, NULL, 's' },
		{ "paused", no_argument, NULL, 'S' },
		{ "console-chardev", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct cli_spec_args a = { 0 };
	qk_render_opts ropts = QK_RENDER_OPTS_INIT;
	int c;
	while ((c = getopt_long(argc, argv, CLI_SPEC_SHORTOPTS "s:Sc:", opts, NULL)) != -1) {
		int handled = cli_spec_option(&a, "cmdline", c, optarg);
		if (handled < 0)
			return EXIT_USAGE;
		if (handled)
			continue;
		switch (c) {
		case 's':
			if (strcmp(optarg, "auto") == 0)
				ropts.syntax = QK_SYNTAX_AUTO;
			else if (strcmp(optarg, "comma") == 0)
				ropts.syntax = QK_SYNTAX_COMMA;
			else if (strcmp(optarg, "json") == 0)
				ropts.syntax = QK_SYNTAX_JSON;
			else
				return cli_usage_error("cmdline", "--syntax: '%s' is not auto, comma or json", optarg);
			break;
		case 'S':
			ropts.paused = true;
			break;
		case 'c':
			ropts.console_chardev = optarg;
			break;
		default:
			return cli_usage_error("cmdline", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("cmdline", "expected one spec file");
	const char *path = argv[optind];
	ropts.qemu_version = a.qemu_version;

	qk_error *err = NULL;
	qk_spec *spec = NULL;
	char **args = NULL;
	int status = cli_spec_load(&a, "cmdline", path, &spec);
	if (status != EXIT_OK)
		return status;
	int r = qk_spec_render(spec, &ropts, &args, &err);
	qk_spec_free(spec);
	if (r < 0)
		return cli_spec_report("cmdline", path, err);

	if (a.json) {
		json_t *list = json_array();
		for (char **p = args; *p; p++)
			json_array_append_new(list, json_string(*p));
		char *s = json_dumps(list, JSON_COMPACT);
		puts(s ? s : "[]");
		free(s);
		json_decref(list);
	} else {
		cli_print_command_line(stdout, args);
	}
	qk_argv_free(args);
	return EXIT_OK;
}

const struct command cmd_cmdline = {
	.name = "cmdline",
	.summary = "print the QEMU command line of a spec",
	.usage = USAGE,
	.run = run,
};
