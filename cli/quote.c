/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Characters a POSIX shell takes literally outside quotes. */
static bool shell_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-", *s))
			return false;
	return true;
}

static void print_quoted(FILE *out, const char *s)
{
	if (shell_safe(s)) {
		fputs(s, out);
		return;
	}
	putc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			putc(*s, out);
	}
	putc('\'', out);
}

void cli_print_command_line(FILE *out, char *const *args)
{
	for (char *const *p = args; *p; p++) {
		if (p != args)
			fputs(p[-1][0] == '-' && p[0][0] != '-' ? " " : " \\\n    ", out);
		print_quoted(out, *p);
	}
	putc('\n', out);
}
