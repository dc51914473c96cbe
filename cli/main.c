/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkit/qkit.h>

#include "cli.h"

bool cli_verbose;

const struct command *const cli_commands[] = {
#define COMMAND(name) &cmd_##name,
#include "commands.def"
#undef COMMAND
	NULL,
};

const struct command *cli_find_command(const char *name)
{
	for (const struct command *const *c = cli_commands; *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "qkit%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'qkit help%s%s'.\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

int cli_report(const char *cmd, qk_error *err)
{
	size_t n = qk_error_count(err);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "qkit %s: %s\n", cmd, qk_error_problem(err, i));
	if (n == 0)
		fprintf(stderr, "qkit %s: failed\n", cmd);
	qk_error_free(err);
	return EXIT_FAIL;
}

int cli_print_usage(const struct command *c)
{
	fputs(c->usage, stdout);
	return EXIT_OK;
}

bool cli_wants_help(const struct command *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cli_print_usage(c);
			return true;
		}
	}
	return false;
}

static void print_help(FILE *out)
{
	fprintf(out,
		"Usage: qkit [-v] COMMAND [ARGS...]\n"
		"\n"
		"Launch and manage QEMU virtual machines.\n"
		"\n"
		"Commands:\n");
	for (const struct command *const *c = cli_commands; *c; c++)
		fprintf(out, "  %-12s %s\n", (*c)->name, (*c)->summary);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -v, --verbose  log debug messages to stderr (also QKIT_LOG=debug)\n"
		"  -h, --help     show this help\n"
		"  --version      print the version\n"
		"\n"
		"Run 'qkit help COMMAND' for a command's options; man qkit for more.\n");
}

static void log_to_stderr(qk_log_level level, const char *msg, void *userdata)
{
	static const char *const prefix[] = { "error", "warning", "info", "debug" };
	fprintf(stderr, "qkit: %s: %s\n", prefix[level], msg);
}

static int run_help(int argc, char **argv)
{
	if (argc < 2) {
		print_help(stdout);
		return EXIT_OK;
	}
	if (argc > 2)
		return cli_usage_error("help", "expected one command name, got %d", argc - 1);
	const struct command *c = cli_find_command(argv[1]);
	if (!c)
		return cli_usage_error(NULL, "'%s' is not a qkit command", argv[1]);
	return cli_print_usage(c);
}

const struct command cmd_help = {
	.name = "help",
	.summary = "show help for qkit or for one command",
	.usage = "Usage: qkit help [COMMAND]\n"
		 "\n"
		 "Without COMMAND, list the commands; with it, show that command's options.\n",
	.run = run_help,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 },
	};
	int log_level = qk_log_level_from_string(getenv("QKIT_LOG"));
	int c;

	/* '+': stop at the first non-option, the subcommand's name. */
	while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_help(stdout);
			return EXIT_OK;
		case 'V':
			return cmd_version.run(1, (char *[]){ (char *)"version", NULL });
		case 'v':
			log_level = QK_LOG_DEBUG;
			break;
		default:
			fprintf(stderr, "Try 'qkit --help'.\n");
			return EXIT_USAGE;
		}
	}
	cli_verbose = log_level == QK_LOG_DEBUG;
	qk_log_set_handler(log_to_stderr, NULL, log_level >= 0 ? (qk_log_level)log_level : QK_LOG_WARNING);

	if (optind >= argc) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = cli_find_command(argv[optind]);
	if (!cmd)
		return cli_usage_error(NULL, "'%s' is not a qkit command", argv[optind]);
	argc -= optind;
	argv += optind;
	if (cli_wants_help(cmd, argc, argv))
		return EXIT_OK;
	optind = 0; /* reset getopt for the subcommand */
	return cmd->run(argc, argv);
}
