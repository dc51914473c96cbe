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

/* Whether the user asked for debug output (qkit -v, or QKIT_LOG=debug). */
extern bool cli_verbose;

#endif
