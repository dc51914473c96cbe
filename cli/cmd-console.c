/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "cli.h"
#include "term.h"
#include "util.h"

DEFINE_CLEANUP_FUNC(qk_vm_state, qk_vm_state_free)

static int connect_console(const char *path, qk_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return qk_error_set(err, QK_ERR_INVALID, ENAMETOOLONG,
				    "console socket %s: the path is too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "console socket %s: %s", path,
				    strerror(errno));
	return TAKE_FD(fd);
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { 0 } };
	if (getopt_long(argc, argv, "+", opts, NULL) != -1)
		return EXIT_USAGE; /* getopt said which option */
	if (optind + 1 != argc)
		return cli_usage_error("console", "expected one VM name");
	const char *name = argv[optind];

	qk_error *err = NULL;
	_cleanup_(qk_vm_state_freep) qk_vm_state *st = NULL;
	if (qk_state_lookup(&st, name, &err) < 0)
		return cli_report("console", err);
	const char *path = qk_vm_state_console_socket(st);
	if (!path) {
		qk_error_set(&err, QK_ERR_NOT_FOUND, ENOENT, "VM \"%s\" has no serial console", name);
		return cli_report("console", err);
	}
	_cleanup_close_ int fd = connect_console(path, &err);
	if (fd < 0)
		return cli_report("console", err);

	bool tty = isatty(STDIN_FILENO);
	if (tty)
		fprintf(stderr, "Connected to %s's console. Ctrl-] then q detaches.\r\n", name);
	int r = term_attach(fd, STDIN_FILENO, STDOUT_FILENO, &err);
	if (r < 0)
		return cli_report("console", err);
	if (r == TERM_CLOSED)
		fprintf(stderr, "%sqkit console: %s's console closed (the VM ended)\n", tty ? "\n" : "",
			name);
	else if (tty)
		fprintf(stderr, "\nDetached from %s's console; the VM keeps running.\n", name);
	return EXIT_OK;
}

const struct command cmd_console = {
	.name = "console",
	.summary = "attach the terminal to a running VM's serial console",
	.usage = "Usage: qkit console NAME\n"
		 "\n"
		 "Attach to the serial console of the detached VM called NAME. The terminal\n"
		 "is in raw mode: every key goes to the guest, ^C included.\n"
		 "Ctrl-] then q detaches (the VM keeps running); Ctrl-] twice sends Ctrl-].\n"
		 "The terminal is restored however qkit console ends.\n",
	.run = run,
};
