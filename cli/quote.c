/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "buf.h"
#include "cli.h"

void cli_print_command_line(FILE *out, char *const *args)
{
	struct buf b = BUF_INIT;
	for (char *const *p = args; *p; p++) {
		if (p != args)
			buf_puts(&b, p[-1][0] == '-' && p[0][0] != '-' ? " " : " \\\n    ");
		buf_put_shell_word(&b, *p);
	}
	buf_putc(&b, '\n');
	if (b.data)
		fputs(b.data, out);
	buf_free(&b);
}
