/* SPDX-License-Identifier: MIT */
#include "guest.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_parse_seconds(const char *s, bool zero_ok)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(zero_ok ? v >= 0 : v > 0) || v > INT_MAX / 1000)
		return -1;
	return (int)(v * 1000 + 0.5);
}

void cli_print_indented(const char *text)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		fprintf(stderr, "  %.*s\n", len, p);
		p = nl ? nl + 1 : NULL;
	}
}

int cli_report_panic(const char *cmd, const char *panic_lines)
{
	fprintf(stderr, "qkit %s: guest kernel panic\n", cmd);
	cli_print_indented(panic_lines);
	return EXIT_GUEST_PANIC;
}

void cli_report_with_tail(const char *cmd, const char *message, const char *console_tail)
{
	fprintf(stderr, "qkit %s: %s\n", cmd, message);
	if (console_tail && *console_tail) {
		fprintf(stderr, "qkit %s: the console's last lines:\n", cmd);
		cli_print_indented(console_tail);
	}
}

bool cli_terminal_is_ours(int fd)
{
	if (!isatty(fd))
		return false;
	pid_t fg = tcgetpgrp(fd);
	return fg < 0 || fg == getpgrp();
}
