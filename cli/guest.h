/* SPDX-License-Identifier: MIT */
/*
 * What qkit run and qkit exec share on the command line: they parse
 * seconds alike, end with the same statuses when the guest is lost, and
 * report it in the same words.
 */
#ifndef QKIT_CLI_GUEST_H
#define QKIT_CLI_GUEST_H

#include <stdbool.h>

/* Exit statuses of qkit run and qkit exec besides their own (see qkit-run(1), qkit-exec(1)). */
enum {
	EXIT_GUEST_PANIC = 121,    /* the guest kernel panicked */
	EXIT_GUEST_WATCHDOG = 122, /* nothing on the console within the boot timeout */
	EXIT_GUEST_TIMEOUT = 124,  /* --timeout passed */
};

/* Seconds, fractions allowed, to milliseconds; -1 if s is not that (or is 0 and !zero_ok). */
int cli_parse_seconds(const char *s, bool zero_ok);

/* text's lines to stderr, each indented by two spaces. */
void cli_print_indented(const char *text);

/* "qkit CMD: guest kernel panic" and the report; returns EXIT_GUEST_PANIC. */
int cli_report_panic(const char *cmd, const char *panic_lines);

/* "qkit CMD: message" and the console's last lines, when there are any. */
void cli_report_with_tail(const char *cmd, const char *message, const char *console_tail);

/*
 * Whether fd is a terminal this process may put in raw mode: a
 * background job (qkit run &) touching it would be stopped by SIGTTOU.
 */
bool cli_terminal_is_ours(int fd);

#endif
