/* SPDX-License-Identifier: MIT */
/*
 * The qkit command. main.c dispatches to one `struct command` per
 * subcommand; each lives in its own cmd-NAME.c and is listed once in
 * commands.def.
 */
#ifndef QKIT_CLI_H
#define QKIT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <qkit/error.h>

/* Exit statuses shared by every subcommand (see qkit(1)). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,  /* the operation failed; the message says why */
	EXIT_USAGE = 2, /* the command line was wrong */
};

struct command {
	const char *name;
	const char *summary; /* one line for `qkit --help` */
	const char *usage;   /* the full text for `qkit help NAME` */
	/* argv[0] is the subcommand's name; getopt starts fresh. */
	int (*run)(int argc, char **argv);
};

#define COMMAND(name) extern const struct command cmd_##name;
#include "commands.def"
#undef COMMAND

const struct command *cli_find_command(const char *name);

/* The whole table, NULL-terminated, in `qkit --help` order. */
extern const struct command *const cli_commands[];

/* Print "qkit NAME: message" and a hint to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "qkit NAME: " and every problem of err to stderr; frees it; EXIT_FAIL. */
int cli_report(const char *cmd, qk_error *err);

/* Print a command's usage text to stdout; returns EXIT_OK. */
int cli_print_usage(const struct command *c);

/*
 * Handle the options every subcommand accepts, --help/-h. Returns true
 * (having printed usage) if argv asked for help.
 */
bool cli_wants_help(const struct command *c, int argc, char **argv);

/*
 * Print argv shell-quoted, one option and its value per line, so a person
 * can paste it into a shell and get exactly these arguments.
 */
void cli_print_command_line(FILE *out, char *const *args);

/*
 * The options qkit cmdline and qkit spec share (in cmd-spec.c): --arch,
 * --json, --no-env, --qemu-version and --strict, and loading the spec they
 * apply to.
 */
struct cli_spec_args {
	const char *arch;
	bool json;
	unsigned load_flags;   /* QK_SPEC_LOAD_NO_ENV, QK_SPEC_LOAD_STRICT */
	unsigned qemu_version; /* 0: 7.2 */
};
#define CLI_SPEC_SHORTOPTS "a:jEq:"
#define CLI_SPEC_LONGOPTS                                                     \
	{ "arch", required_argument, NULL, 'a' }, { "json", no_argument, NULL, 'j' }, \
	{ "no-env", no_argument, NULL, 'E' }, { "qemu-version", required_argument, NULL, 'q' }, \
	{ "strict", no_argument, NULL, 'T' }
/* 1 if c was one of them, 0 if not, -1 after a usage error (exit EXIT_USAGE). */
int cli_spec_option(struct cli_spec_args *a, const char *cmd, int c, const char *arg);
/* Load the spec file with --no-env and --arch; EXIT_OK, or EXIT_FAIL reported. */
struct qk_spec;
int cli_spec_load(const struct cli_spec_args *a, const char *cmd, const char *path,
		  struct qk_spec **out);
/* Report err about the spec at path ("PATH: problem"); frees it; EXIT_FAIL. */
int cli_spec_report(const char *cmd, const char *path, qk_error *err);

/* Whether the user asked for debug output (qkit -v, or QKIT_LOG=debug). */
extern bool cli_verbose;

#endif
