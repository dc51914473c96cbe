/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkit/qkit.h>

#include "cli.h"

#define USAGE                                                                          \
	"Usage: qkit spec validate [OPTIONS] SPEC\n"                                   \
	"       qkit spec show [OPTIONS] --json SPEC\n"                                \
	"\n"                                                                           \
	"validate checks SPEC (YAML or JSON) and prints every problem, each naming\n"  \
	"the field and the value; it exits 1 if there are any. show prints the spec\n" \
	"with every default filled in, as JSON.\n"                                     \
	"\n"                                                                           \
	"Options:\n"                                                                   \
	"  -a, --arch ARCH   as if the spec said arch: ARCH\n"                         \
	"  -j, --json        (show) print JSON; the only format for now\n"             \
	"  -q, --qemu-version V  for the target QEMU V, like 7.2 (default 7.2)\n"    \
	"  -E, --no-env      ignore the QKIT_* and VMTEST_* overrides\n"            \
	"      --strict      refuse raw QEMU arguments (extra-args, qemu.args)\n"

/*
 * The spec options and loading, shared with qkit cmdline (declared in
 * cli.h): both commands take a spec file the same way.
 */
int cli_spec_option(struct cli_spec_args *a, const char *cmd, int c, const char *arg)
{
	switch (c) {
	case 'a':
		a->arch = arg;
		return 1;
	case 'j':
		a->json = true;
		return 1;
	case 'E':
		a->load_flags |= QK_SPEC_LOAD_NO_ENV;
		return 1;
	case 'T':
		a->load_flags |= QK_SPEC_LOAD_STRICT;
		return 1;
	case 'q':
		if (qk_qemu_version_parse(arg, &a->qemu_version, NULL) < 0) {
			cli_usage_error(cmd, "--qemu-version: '%s' is not like 7.2", arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

int cli_spec_load(const struct cli_spec_args *a, const char *cmd, const char *path, qk_spec **out)
{
	qk_error *err = NULL;
	if (qk_spec_load_file(out, path, QK_SPEC_AUTO, a->load_flags, &err) < 0)
		return cli_report(cmd, err);
	if (a->arch && qk_spec_set_string(*out, "arch", a->arch, &err) < 0) {
		qk_spec_free(*out);
		*out = NULL;
		return cli_spec_report(cmd, path, err);
	}
	return EXIT_OK;
}

int cli_spec_report(const char *cmd, const char *path, qk_error *err)
{
	qk_error_prepend(&err, "%s: ", path);
	return cli_report(cmd, err);
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_SPEC_LONGOPTS,
		{ 0 },
	};
	if (argc < 2)
		return cli_usage_error("spec", "expected validate or show");
	const char *verb = argv[1];
	bool show = strcmp(verb, "show") == 0;
	if (!show && strcmp(verb, "validate") != 0)
		return cli_usage_error("spec", "'%s' is not validate or show", verb);
	argc--;
	argv++;
	struct cli_spec_args a = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, CLI_SPEC_SHORTOPTS, opts, NULL)) != -1) {
		int handled = cli_spec_option(&a, "spec", c, optarg);
		if (handled < 0)
			return EXIT_USAGE;
		if (!handled)
			return cli_usage_error("spec", "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error("spec", "expected one spec file");
	if (show && !a.json)
		return cli_usage_error("spec", "show needs --json (the only output format)");
	const char *path = argv[optind];

	qk_error *err = NULL;
	qk_spec *spec = NULL;
	int status = cli_spec_load(&a, "spec", path, &spec);
	if (status != EXIT_OK)
		return status;
	json_t *normal = NULL;
	if ((!show && qk_spec_validate_for(spec, a.qemu_version, &err) < 0) ||
	    (show && qk_spec_to_json_for(spec, a.qemu_version, &normal, &err) < 0)) {
		qk_spec_free(spec);
		return cli_spec_report("spec", path, err);
	}
	qk_spec_free(spec);
	if (show) {
		char *s = json_dumps(normal, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s ? s : "{}");
		free(s);
	} else {
		printf("%s: valid\n", path);
	}
	json_decref(normal);
	return EXIT_OK;
}

const struct command cmd_spec = {
	.name = "spec",
	.summary = "check a spec, or show it with every default filled in",
	.usage = USAGE,
	.run = run,
};
