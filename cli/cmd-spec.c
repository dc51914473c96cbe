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
	"  -E, --no-env      ignore the QKIT_* and VMTEST_* overrides\n"

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-env", no_argument, NULL, 'E' },
		{ "qemu-version", required_argument, NULL, 'q' },
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
	const char *arch = NULL;
	bool json = false;
	unsigned flags = 0, qemu_version = 0;
	int c;
	while ((c = getopt_long(argc, argv, "a:jEq:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			arch = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'E':
			flags |= QK_SPEC_LOAD_NO_ENV;
			break;
		case 'q':
			if (qk_qemu_version_parse(optarg, &qemu_version, NULL) < 0)
				return cli_usage_error("spec", "--qemu-version: '%s' is not like 7.2", optarg);
			break;
		default:
			return cli_usage_error("spec", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("spec", "expected one spec file");
	if (show && !json)
		return cli_usage_error("spec", "show needs --json (the only output format)");
	const char *path = argv[optind];

	qk_error *err = NULL;
	qk_spec *spec = NULL;
	if (qk_spec_load_file(&spec, path, QK_SPEC_AUTO, flags, &err) < 0)
		return cli_report("spec", err);
	json_t *normal = NULL;
	if ((arch && qk_spec_set_string(spec, "arch", arch, &err) < 0) ||
	    (!show && qk_spec_validate_for(spec, qemu_version, &err) < 0) ||
	    (show && qk_spec_to_json_for(spec, qemu_version, &normal, &err) < 0)) {
		qk_spec_free(spec);
		qk_error_prepend(&err, "%s: ", path);
		return cli_report("spec", err);
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
