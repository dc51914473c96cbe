/* SPDX-License-Identifier: MIT */
/* qkit qmp: run one QMP command against a VM, or stream its events. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkit/qkit.h>
#include <qkit/state.h>

#include "cli.h"

#define NAME "qmp"

/*
 * A value as QMP would want it: true/false/null, an integer, a finite
 * number, else the text as a string. "key:=JSON" bypasses this.
 */
static json_t *typed_value(const char *text)
{
	if (strcmp(text, "true") == 0)
		return json_true();
	if (strcmp(text, "false") == 0)
		return json_false();
	if (strcmp(text, "null") == 0)
		return json_null();
	if (*text) {
		char *end;
		errno = 0;
		long long n = strtoll(text, &end, 10);
		if (!*end && errno == 0)
			return json_integer(n);
		double d = strtod(text, &end);
		if (!*end && errno == 0 && isfinite(d) && strpbrk(text, ".eE"))
			return json_real(d);
	}
	return json_string(text);
}

/* Add "key=value" or "key:=JSON" to args; returns 0 or a usage error. */
static int add_argument(json_t *args, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return cli_usage_error(NAME, "argument '%s' is not KEY=VALUE or KEY:=JSON", arg);
	bool raw = eq[-1] == ':';
	size_t key_len = (size_t)(eq - arg) - (raw ? 1 : 0);
	if (key_len == 0)
		return cli_usage_error(NAME, "argument '%s' has an empty key", arg);
	char *key = strndup(arg, key_len);
	json_t *value;
	if (raw) {
		json_error_t jerr;
		value = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
		if (!value) {
			int r = cli_usage_error(NAME, "argument '%s': %s", arg, jerr.text);
			free(key);
			return r;
		}
	} else {
		value = typed_value(eq + 1);
	}
	/* json_string() refuses text that is not UTF-8: say so, never drop the argument. */
	int r = 0;
	if (!key || !value || json_object_set_new(args, key, value) < 0)
		r = cli_usage_error(NAME, "argument '%s' is not valid UTF-8", arg);
	free(key);
	return r;
}

/* A path (anything with a '/' or an existing socket), tcp:HOST:PORT, or a VM name. */
static int connect_target(qk_qmp **qmp, const char *target, const qk_qmp_options *opts,
			  qk_error **err)
{
	struct stat st;
	if (strncmp(target, "tcp:", 4) == 0) {
		const char *hostport = target + 4;
		const char *colon = strrchr(hostport, ':');
		if (!colon || colon == hostport || !colon[1])
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "target \"%s\" is not tcp:HOST:PORT", target);
		char *host = strndup(hostport, (size_t)(colon - hostport));
		/* [::1]:4444 style */
		char *h = host;
		if (h[0] == '[' && h[strlen(h) - 1] == ']') {
			h[strlen(h) - 1] = '\0';
			h++;
		}
		int r = qk_qmp_connect_tcp(qmp, h, colon + 1, opts, err);
		free(host);
		return r;
	}
	if (strchr(target, '/') || (stat(target, &st) == 0 && S_ISSOCK(st.st_mode)))
		return qk_qmp_connect_unix(qmp, target, opts, err);

	qk_vm_state *vm = NULL;
	int r = qk_state_lookup(&vm, target, err);
	if (r < 0)
		return r;
	r = qk_qmp_connect_unix(qmp, qk_vm_state_qmp_socket(vm), opts, err);
	if (r < 0)
		qk_error_prepend(err, "VM \"%s\": ", target);
	qk_vm_state_free(vm);
	return r;
}

static void print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	if (text)
		puts(text);
	free(text);
}

struct event_filter {
	char **names;
	int n_names;
};

static void print_event(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	const struct event_filter *f = userdata;
	bool wanted = f->n_names == 0;
	for (int i = 0; i < f->n_names && !wanted; i++)
		wanted = strcmp(f->names[i], ev->name) == 0;
	if (!wanted)
		return;
	json_t *line = json_pack("{s:s, s:O, s:{s:I, s:I}}", "event", ev->name, "data", ev->data,
				 "timestamp", "seconds", (json_int_t)ev->seconds,
				 "microseconds", (json_int_t)ev->microseconds);
	char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(line);
}

/* Print (or, once the handler prints, just drop) what the queue holds. */
static void drain_queue(qk_qmp *qmp, struct event_filter *print)
{
	qk_qmp_event *ev = NULL;
	while (qk_qmp_next_event(qmp, 0, &ev, NULL) == 0) {
		if (print)
			print_event(qmp, ev, print);
		qk_qmp_event_free(ev);
		ev = NULL;
	}
}

/*
 * JSON lines until SIGINT/SIGTERM or until QEMU goes away. Events are
 * printed from a handler: one qk_qmp_process() may read far more events
 * than the bounded queue keeps.
 */
static int stream_events(qk_qmp *qmp, char **names, int n_names)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("qkit qmp: signalfd");
		return EXIT_FAIL;
	}
	struct event_filter filter = { names, n_names };
	/* Whatever came with the handshake, then every event as it is read. */
	drain_queue(qmp, &filter);
	qk_error *err = NULL;
	if (qk_qmp_add_event_handler(qmp, NULL, print_event, &filter, &err) < 0) {
		close(sfd);
		return cli_report(NAME, err);
	}
	int status = EXIT_OK;
	for (;;) {
		drain_queue(qmp, NULL);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			status = EXIT_FAIL; /* stdout went away */
			break;
		}
		struct pollfd pfd[2] = {
			{ .fd = qk_qmp_fd(qmp), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			perror("qkit qmp: poll");
			status = EXIT_FAIL;
			break;
		}
		if (pfd[1].revents)
			break;
		if (qk_qmp_process(qmp, &err) < 0) {
			/* QEMU quitting ends the stream normally. */
			if (qk_error_get_kind(err) == QK_ERR_EXITED)
				qk_error_free(err);
			else
				status = cli_report(NAME, err);
			break;
		}
	}
	if (fflush(stdout) != 0 && status == EXIT_OK)
		status = EXIT_FAIL;
	close(sfd);
	return status;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "args", required_argument, NULL, 'a' },
		{ "events", no_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	const char *args_json = NULL;
	bool events = false;
	double timeout_s = 30;
	int c;
	while ((c = getopt_long(argc, argv, "a:et:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			args_json = optarg;
			break;
		case 'e':
			events = true;
			break;
		case 't': {
			char *end;
			timeout_s = strtod(optarg, &end);
			if (*end || !(timeout_s > 0) || timeout_s > 86400)
				return cli_usage_error(NAME, "--timeout '%s' is not a number of seconds in (0, 86400]", optarg);
			break;
		}
		default:
			return cli_usage_error(NAME, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(NAME, "missing TARGET (a QMP socket path, tcp:HOST:PORT or a VM name)");
	const char *target = argv[optind++];
	const char *command = NULL;
	if (!events) {
		if (optind >= argc)
			return cli_usage_error(NAME, "missing COMMAND (for example query-status), or --events");
		command = argv[optind++];
	} else if (args_json) {
		return cli_usage_error(NAME, "--args goes with a COMMAND, not with --events");
	}

	json_t *args = NULL;
	if (!events) {
		if (args_json) {
			json_error_t jerr;
			args = json_loads(args_json, 0, &jerr);
			if (!args)
				return cli_usage_error(NAME, "--args: %s (at column %d)", jerr.text, jerr.column);
			if (!json_is_object(args)) {
				json_decref(args);
				return cli_usage_error(NAME, "--args must be a JSON object");
			}
		} else {
			args = json_object();
		}
		for (int i = optind; i < argc; i++) {
			int r = add_argument(args, argv[i]);
			if (r != 0) {
				json_decref(args);
				return r;
			}
		}
		if (json_object_size(args) == 0) {
			json_decref(args);
			args = NULL;
		}
	}

	qk_qmp_options o = QK_QMP_OPTIONS_INIT;
	/* Rounded up: --timeout 0.0001 is 1 ms, not 0 (which would never wait). */
	o.timeout_ms = (int)(timeout_s * 1000);
	if (o.timeout_ms < timeout_s * 1000)
		o.timeout_ms++;
	o.connect_timeout_ms = o.timeout_ms;
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	if (connect_target(&qmp, target, &o, &err) < 0) {
		json_decref(args);
		return cli_report(NAME, err);
	}
	int status;
	if (events) {
		status = stream_events(qmp, argv + optind, argc - optind);
	} else {
		json_t *ret = NULL;
		int r = qk_qmp_execute(qmp, command, args, &ret, &err);
		if (r < 0 && strcmp(command, "quit") == 0 && qk_error_get_kind(err) == QK_ERR_EXITED) {
			/* QEMU may close the socket before its reply to quit is read. */
			qk_error_free(err);
			err = NULL;
			r = 0;
			ret = json_object();
		}
		if (r < 0) {
			status = cli_report(NAME, err);
		} else {
			print_json(ret);
			status = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
		}
		json_decref(ret);
	}
	json_decref(args);
	qk_qmp_free(qmp);
	return status;
}

const struct command cmd_qmp = {
	.name = "qmp",
	.summary = "run a QMP command in a VM, or stream its events",
	.usage = "Usage: qkit qmp [--timeout S] TARGET COMMAND [KEY=VALUE | KEY:=JSON ...]\n"
		 "       qkit qmp [--timeout S] TARGET COMMAND --args JSON\n"
		 "       qkit qmp TARGET --events [EVENT...]\n"
		 "\n"
		 "TARGET is a VM's name, a QMP socket path, or tcp:HOST:PORT.\n"
		 "Prints QEMU's reply as JSON. KEY=VALUE values are typed: true, false,\n"
		 "null and numbers become JSON ones, anything else a string; KEY:=JSON\n"
		 "takes the value as JSON exactly (for nested values or a string \"1\").\n"
		 "With --events, prints each event (only the EVENTs named, if any) as one\n"
		 "JSON line until interrupted or QEMU exits.\n"
		 "\n"
		 "Options:\n"
		 "  -a, --args JSON      the command's arguments as one JSON object\n"
		 "  -e, --events         stream events instead of running a command\n"
		 "  -t, --timeout S      give up on connecting or on the reply after S\n"
		 "                       seconds (default 30)\n"
		 "\n"
		 "Examples:\n"
		 "  qkit qmp web query-status\n"
		 "  qkit qmp web device_del id=disk1\n"
		 "  qkit qmp web human-monitor-command command-line='info network'\n"
		 "  qkit qmp /run/vm/qmp.sock --events SHUTDOWN DEVICE_DELETED\n",
	.run = run,
};
