/* SPDX-License-Identifier: MIT */
/*
 * The QMP client against tests/fakes/qmp-fake.py: the faults real QEMU will
 * not produce on demand. The fake gets its end of a socketpair as fd 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/qmp.h>

static pid_t fake_pid = -1;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the fake with a scenario; returns our end of the socket. */
static int start_fake(const char *scenario)
{
	const char *script = getenv("QKIT_QMP_FAKE");
	assert_non_null(script);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fake_pid = fork();
	assert_true(fake_pid >= 0);
	if (fake_pid == 0) {
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(sv[1], 3) < 0)
			_exit(127);
		execlp("python3", "python3", script, scenario, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	return sv[0];
}

static int stop_fake(void **state)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGKILL);
		waitpid(fake_pid, NULL, 0);
	}
	fake_pid = -1;
	return 0;
}

static qk_qmp *connect_fake(const char *scenario, const qk_qmp_options *opts)
{
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int r = qk_qmp_connect_fd(&qmp, start_fake(scenario), opts, &err);
	if (r < 0)
		fail_msg("connect (%s): %s", scenario, qk_error_message(err));
	return qmp;
}

static void check_failure(int r, qk_error *err, qk_error_kind kind, const char *needle)
{
	assert_true(r < 0);
	assert_non_null(err);
	if (qk_error_get_kind(err) != kind || !strstr(qk_error_message(err), needle))
		fail_msg("expected kind %d with \"%s\", got kind %d: %s", kind, needle,
			 qk_error_get_kind(err), qk_error_message(err));
	qk_error_free(err);
}

/* Run call (which reports into &xerr) and check how it failed. */
#define expect_failure(kind, needle, call)                  \
	do {                                                \
		qk_error *xerr = NULL;                      \
		int xr = (call);                            \
		check_failure(xr, xerr, kind, needle);      \
	} while (0)

static void events_before_greeting_are_skipped(void **state)
{
	qk_qmp *qmp = connect_fake("events-first", NULL);
	const json_t *g = qk_qmp_greeting(qmp);
	json_t *version = json_object_get(g, "version");
	assert_string_equal(json_string_value(json_object_get(version, "package")), "qkit-fake");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(version, "qemu"), "major")), 7);
	assert_true(qk_qmp_oob_enabled(qmp));

	qk_qmp_event *ev = NULL;
	expect_failure(QK_ERR_TIMEOUT, "no",
		       qk_qmp_next_event(qmp, 0, &ev, &xerr));
	assert_null(ev);

	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "caps", NULL, &ret, NULL), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(ret, "enable"), 0)), "oob");
	json_decref(ret);
	qk_qmp_free(qmp);
}

static void oob_is_not_requested_when_disabled(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.oob = false;
	qk_qmp *qmp = connect_fake("normal", &opts);
	assert_false(qk_qmp_oob_enabled(qmp));
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "caps", NULL, &ret, NULL), 0);
	assert_int_equal(json_array_size(json_object_get(ret, "enable")), 0);
	json_decref(ret);
	qk_qmp_free(qmp);
}

static void no_greeting_times_out(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.connect_timeout_ms = 300;
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int64_t t0 = now_ms();
	int r = qk_qmp_connect_fd(&qmp, start_fake("no-greeting"), &opts, &err);
	assert_true(now_ms() - t0 < 2000);
	assert_null(qmp);
	check_failure(r, err, QK_ERR_TIMEOUT, "no greeting from QEMU within 300 ms");
}

static void garbage_greeting_is_a_protocol_error(void **state)
{
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int r = qk_qmp_connect_fd(&qmp, start_fake("garbage"), NULL, &err);
	assert_null(qmp);
	check_failure(r, err, QK_ERR_PROTOCOL, "malformed JSON from QEMU");
}

static char *fake_stderr_tail(void *userdata)
{
	return strdup(userdata);
}

static void close_before_greeting_says_qemu_exited(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.stderr_tail = fake_stderr_tail;
	opts.stderr_tail_userdata = "qemu-system-x86_64: -device foo: 'foo' is not a valid device model name";
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int r = qk_qmp_connect_fd(&qmp, start_fake("close-early"), &opts, &err);
	assert_null(qmp);
	check_failure(r, err, QK_ERR_EXITED, "QEMU exited before its QMP greeting: qemu-system-x86_64: -device foo");
}

/* A server that refuses with an error (a full qkit supervisor) is quoted, not 'QEMU exited'. */
static void an_error_instead_of_the_greeting_is_quoted(void **state)
{
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int r = qk_qmp_connect_fd(&qmp, start_fake("refuse"), NULL, &err);
	assert_null(qmp);
	check_failure(r, err, QK_ERR_PROTOCOL,
		      "QMP: the server refused the connection: qkit: too many QMP clients on this VM (16)");
}

static void a_line_split_across_many_reads(void **state)
{
	qk_qmp *qmp = connect_fake("split", NULL);
	json_t *args = json_pack("{s:{s:[i,i,i]}, s:s}", "nested", "list", 1, 2, 3, "s", "a\nb");
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "echo", args, &ret, NULL), 0);
	assert_true(json_equal(ret, args));
	json_decref(ret);
	json_decref(args);
	qk_qmp_free(qmp);
}

static void a_10_mib_reply_and_the_size_limit(void **state)
{
	size_t bytes = 10u << 20;
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *args = json_pack("{s:I}", "bytes", (json_int_t)bytes);
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "big", args, &ret, NULL), 0);
	assert_int_equal(json_string_length(json_object_get(ret, "data")), bytes);
	json_decref(ret);
	qk_qmp_free(qmp);
	stop_fake(NULL);

	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.max_message = 1u << 20;
	qmp = connect_fake("normal", &opts);
	expect_failure(QK_ERR_PROTOCOL, "exceeds max_message (1048576 bytes)",
		       qk_qmp_execute(qmp, "big", args, &ret, &xerr));
	assert_false(qk_qmp_connected(qmp));
	expect_failure(QK_ERR_PROTOCOL, "max_message",
		       qk_qmp_execute(qmp, "echo", NULL, NULL, &xerr));
	json_decref(args);
	qk_qmp_free(qmp);
}

struct completion {
	int order[4];
	int n;
	json_t *ret[4];
	qk_error_kind kind[4];
};

struct tagged {
	struct completion *c;
	int tag;
};

static void tagged_reply(qk_qmp *qmp, json_t *ret, const qk_error *err, void *userdata)
{
	struct tagged *t = userdata;
	struct completion *c = t->c;
	c->order[c->n] = t->tag;
	c->ret[c->n] = ret ? json_incref(ret) : NULL;
	c->kind[c->n] = err ? qk_error_get_kind(err) : 0;
	c->n++;
}

static void replies_out_of_order_are_matched_by_id(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	struct completion c = { 0 };
	struct tagged first = { &c, 1 }, second = { &c, 2 };
	uint64_t id1 = 0, id2 = 0;
	assert_int_equal(qk_qmp_send(qmp, "defer", NULL, NULL, 0, -1, tagged_reply, &first, &id1, NULL), 0);
	json_t *args = json_pack("{s:i}", "n", 42);
	assert_int_equal(qk_qmp_send(qmp, "echo", args, NULL, 0, -1, tagged_reply, &second, &id2, NULL), 0);
	assert_true(id2 > id1);
	assert_int_equal(qk_qmp_pending(qmp), 2);

	/* Drive it as a caller's own poll loop would. */
	int64_t deadline = now_ms() + 10000;
	while (c.n < 2 && now_ms() < deadline) {
		struct pollfd pfd = { .fd = qk_qmp_fd(qmp), .events = POLLIN };
		poll(&pfd, 1, qk_qmp_next_timeout(qmp));
		assert_int_equal(qk_qmp_process(qmp, NULL), 0);
	}
	assert_int_equal(c.n, 2);
	assert_int_equal(c.order[0], 2); /* the echo was answered first */
	assert_int_equal(c.order[1], 1);
	assert_true(json_equal(c.ret[0], args));
	assert_true(json_is_true(json_object_get(c.ret[1], "deferred")));
	assert_int_equal(qk_qmp_pending(qmp), 0);
	for (int i = 0; i < c.n; i++)
		json_decref(c.ret[i]);
	json_decref(args);
	qk_qmp_free(qmp);
}

static void closing_mid_command_fails_it_with_qemu_exited(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.stderr_tail = fake_stderr_tail;
	opts.stderr_tail_userdata = "qemu: terminating on signal 15";
	qk_qmp *qmp = connect_fake("normal", &opts);
	struct completion c = { 0 };
	struct tagged other = { &c, 7 };
	assert_int_equal(qk_qmp_send(qmp, "defer", NULL, NULL, 0, -1, tagged_reply, &other, NULL, NULL), 0);
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_EXITED, "QEMU exited: qemu: terminating on signal 15",
		       qk_qmp_execute(qmp, "close", NULL, NULL, &xerr));
	assert_true(now_ms() - t0 < 5000);
	/* The other command in flight failed the same way, once. */
	assert_int_equal(c.n, 1);
	assert_int_equal(c.kind[0], QK_ERR_EXITED);
	assert_false(qk_qmp_connected(qmp));
	expect_failure(QK_ERR_EXITED, "QEMU exited",
		       qk_qmp_execute(qmp, "echo", NULL, NULL, &xerr));
	qk_qmp_free(qmp);
}

static void a_command_that_is_never_answered_times_out_alone(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *args = json_pack("{s:i}", "late_ms", 600);
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_TIMEOUT, "hang: no reply from QEMU within 0.200 s",
		       qk_qmp_execute_full(qmp, "hang", args, NULL, 0, 200, NULL, &xerr));
	int64_t took = now_ms() - t0;
	assert_true(took >= 190 && took < 2000);
	assert_int_equal(qk_qmp_pending(qmp), 0);

	/* The next command works, also after the late reply has arrived. */
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "echo", args, &ret, NULL), 0);
	assert_true(json_equal(ret, args));
	json_decref(ret);
	usleep(800 * 1000);
	assert_int_equal(qk_qmp_execute(qmp, "echo", args, &ret, NULL), 0);
	assert_true(json_equal(ret, args));
	assert_null(json_object_get(ret, "late"));
	json_decref(ret);
	json_decref(args);
	qk_qmp_free(qmp);
}

/* A JSON string argument far larger than the socket buffers hold. */
static json_t *big_args(size_t bytes)
{
	char *s = malloc(bytes + 1);
	assert_non_null(s);
	memset(s, 'x', bytes);
	s[bytes] = '\0';
	json_t *args = json_pack("{s:s}", "s", s);
	free(s);
	assert_non_null(args);
	return args;
}

static void a_send_that_times_out_leaves_the_stream_whole(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *pause = json_pack("{s:i}", "ms", 1500);
	assert_int_equal(qk_qmp_execute(qmp, "pause", pause, NULL, NULL), 0);
	json_decref(pause);

	/* The fake reads nothing for a while: the big command cannot all go out in time. */
	json_t *big = big_args(4u << 20);
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_TIMEOUT, "echo",
		       qk_qmp_execute_full(qmp, "echo", big, NULL, 0, 300, NULL, &xerr));
	assert_true(now_ms() - t0 < 1200);
	assert_true(qk_qmp_connected(qmp));
	assert_int_equal(qk_qmp_pending(qmp), 0);

	/* Half a command cannot be taken back: the next one must not be spliced into it. */
	json_t *small = json_pack("{s:i}", "n", 7);
	json_t *ret = NULL;
	qk_error *err = NULL;
	if (qk_qmp_execute(qmp, "echo", small, &ret, &err) < 0)
		fail_msg("the command after a timed-out send: %s", qk_error_message(err));
	assert_true(json_equal(ret, small));
	json_decref(ret);
	json_decref(small);
	json_decref(big);
	qk_qmp_free(qmp);
}

static struct completion nested_done;
static struct tagged nested_tag = { &nested_done, 9 };

static void send_from_handler(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	json_t *args = json_pack("{s:s}", "from", "handler");
	int *sent = userdata;
	*sent = qk_qmp_send(qmp, "echo", args, NULL, 0, -1, tagged_reply, &nested_tag, NULL, NULL) == 0;
	json_decref(args);
}

/* A fake that stops reading for 1.5 s and sends PING after event_ms; PING sends "echo". */
static qk_qmp *fake_pinging_a_sender(int *sent, int event_ms)
{
	memset(&nested_done, 0, sizeof(nested_done));
	qk_qmp *qmp = connect_fake("normal", NULL);
	assert_true(qk_qmp_add_event_handler(qmp, "PING", send_from_handler, sent, NULL) > 0);
	json_t *pause = json_pack("{s:i, s:i}", "ms", 1500, "event_ms", event_ms);
	assert_int_equal(qk_qmp_execute(qmp, "pause", pause, NULL, NULL), 0);
	json_decref(pause);
	return qmp;
}

/*
 * Drive the connection from a caller's loop until the handler's command is
 * answered. poll_ms < 0: poll as long as qk_qmp_next_timeout() says.
 */
static void expect_the_handlers_reply(qk_qmp *qmp, int poll_ms)
{
	int64_t deadline = now_ms() + 10000;
	while (nested_done.n < 1 && now_ms() < deadline) {
		struct pollfd pfd = { .fd = qk_qmp_fd(qmp), .events = POLLIN };
		poll(&pfd, 1, poll_ms < 0 ? qk_qmp_next_timeout(qmp) : poll_ms);
		assert_int_equal(qk_qmp_process(qmp, NULL), 0);
	}
	assert_int_equal(nested_done.n, 1);
	assert_int_equal(nested_done.kind[0], 0);
	assert_string_equal(json_string_value(json_object_get(nested_done.ret[0], "from")), "handler");
	json_decref(nested_done.ret[0]);
}

static void a_handler_may_send_while_a_send_waits(void **state)
{
	int sent = -1;
	qk_qmp *qmp = fake_pinging_a_sender(&sent, 300);

	/* PING arrives while this send waits for room; the handler sends meanwhile. */
	json_t *big = big_args(4u << 20);
	json_t *ret = NULL;
	qk_error *err = NULL;
	if (qk_qmp_execute(qmp, "echo", big, &ret, &err) < 0)
		fail_msg("the big echo: %s", qk_error_message(err));
	assert_int_equal(sent, 1);
	assert_true(json_equal(ret, big));
	json_decref(ret);
	json_decref(big);
	expect_the_handlers_reply(qmp, 100);
	qk_qmp_free(qmp);
}

static void a_command_queued_behind_a_timed_out_send_still_goes_out(void **state)
{
	int sent = -1;
	qk_qmp *qmp = fake_pinging_a_sender(&sent, 200);

	/* The handler's command queues behind the big one, which then times out half sent. */
	json_t *big = big_args(4u << 20);
	expect_failure(QK_ERR_TIMEOUT, "echo",
		       qk_qmp_execute_full(qmp, "echo", big, NULL, 0, 600, NULL, &xerr));
	json_decref(big);
	assert_int_equal(sent, 1);

	/* A caller's own loop, polling for input only, still gets both written and the reply read. */
	expect_the_handlers_reply(qmp, -1);
	qk_qmp_free(qmp);
}

struct event_log {
	char names[8][16];
	int n;
};

static void log_event(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	struct event_log *log = userdata;
	if (log->n < 8)
		snprintf(log->names[log->n++], sizeof(log->names[0]), "%s", ev->name);
}

static void a_handler_that_sends_does_not_reorder_events(void **state)
{
	memset(&nested_done, 0, sizeof(nested_done));
	qk_qmp *qmp = connect_fake("normal", NULL);
	int sent = -1;
	struct event_log log = { 0 };
	/* The first handler sends; the second must still see PING before PONG. */
	assert_true(qk_qmp_add_event_handler(qmp, "PING", send_from_handler, &sent, NULL) > 0);
	assert_true(qk_qmp_add_event_handler(qmp, NULL, log_event, &log, NULL) > 0);
	json_t *pause = json_pack("{s:i, s:[[i,s],[i,s]]}", "ms", 1500, "events", 400, "PING", 500, "PONG");
	assert_int_equal(qk_qmp_execute(qmp, "pause", pause, NULL, NULL), 0);
	json_decref(pause);

	/* Fill the socket: the handler's command cannot go out while the fake sleeps. */
	json_t *big = big_args(4u << 20);
	expect_failure(QK_ERR_TIMEOUT, "echo",
		       qk_qmp_execute_full(qmp, "echo", big, NULL, 0, 200, NULL, &xerr));
	json_decref(big);

	int64_t deadline = now_ms() + 10000;
	while (nested_done.n < 1 && now_ms() < deadline) {
		struct pollfd pfd = { .fd = qk_qmp_fd(qmp), .events = POLLIN };
		poll(&pfd, 1, qk_qmp_next_timeout(qmp));
		assert_int_equal(qk_qmp_process(qmp, NULL), 0);
	}
	assert_int_equal(sent, 1);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.names[0], "PING");
	assert_string_equal(log.names[1], "PONG");
	assert_int_equal(nested_done.n, 1);
	assert_string_equal(json_string_value(json_object_get(nested_done.ret[0], "from")), "handler");
	json_decref(nested_done.ret[0]);
	qk_qmp_free(qmp);
}

struct flood_count {
	long seen;
	long out_of_order;
};

static void count_flood(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	struct flood_count *fc = userdata;
	if (json_integer_value(json_object_get(ev->data, "n")) != fc->seen)
		fc->out_of_order++;
	fc->seen++;
}

static void a_hundred_thousand_events_while_commands_run(void **state)
{
	const long count = 100000;
	qk_qmp *qmp = connect_fake("normal", NULL);
	struct flood_count fc = { 0 };
	assert_true(qk_qmp_add_event_handler(qmp, "FLOOD", count_flood, &fc, NULL) > 0);
	json_t *args = json_pack("{s:I}", "count", (json_int_t)count);
	assert_int_equal(qk_qmp_execute(qmp, "flood", args, NULL, NULL), 0);
	json_decref(args);

	int64_t deadline = now_ms() + 120000;
	int commands = 0;
	while ((fc.seen < count || commands < 200) && now_ms() < deadline) {
		json_t *a = json_pack("{s:i}", "n", commands);
		json_t *ret = NULL;
		qk_error *err = NULL;
		if (qk_qmp_execute(qmp, "echo", a, &ret, &err) < 0)
			fail_msg("echo %d: %s", commands, qk_error_message(err));
		assert_true(json_equal(ret, a));
		json_decref(ret);
		json_decref(a);
		commands++;
	}
	assert_int_equal(fc.seen, count);
	assert_int_equal(fc.out_of_order, 0);
	assert_true(commands >= 200);
	/* The queue kept the newest 1024 and counted the rest as dropped. */
	assert_int_equal(qk_qmp_events_dropped(qmp), count - 1024);
	qk_qmp_event *ev = NULL;
	assert_int_equal(qk_qmp_next_event(qmp, 0, &ev, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(ev->data, "n")), count - 1024);
	qk_qmp_event_free(ev);
	qk_qmp_free(qmp);
}

static void wait_event_takes_the_match_and_keeps_the_rest(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *args = json_pack("{s:[[s,{s:i}],[s,{s:s,s:s}],[s,{s:s,s:s}],[s,n]]}", "events",
				 "A", "x", 1,
				 "DEVICE_DELETED", "device", "d1", "path", "/machine/peripheral/d1",
				 "DEVICE_DELETED", "device", "d2", "path", "/machine/peripheral/d2",
				 "C");
	assert_non_null(args);
	assert_int_equal(qk_qmp_execute(qmp, "emit", args, NULL, NULL), 0);
	json_decref(args);

	json_t *match = json_pack("{s:s}", "device", "d2");
	qk_qmp_event *ev = NULL;
	assert_int_equal(qk_qmp_wait_event(qmp, "DEVICE_DELETED", match, 1000, &ev, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(ev->data, "path")), "/machine/peripheral/d2");
	/* The fake stamps event i with 1700000000 + i seconds and 250000 us. */
	assert_int_equal(ev->seconds, 1700000002);
	assert_int_equal(ev->microseconds, 250000);
	assert_int_equal(ev->timestamp.tv_sec, 1700000002);
	assert_int_equal(ev->timestamp.tv_nsec, 250000000);
	qk_qmp_event_free(ev);

	const char *expect[] = { "A", "DEVICE_DELETED", "C" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(qk_qmp_next_event(qmp, 0, &ev, NULL), 0);
		assert_string_equal(ev->name, expect[i]);
		if (i == 1)
			assert_string_equal(json_string_value(json_object_get(ev->data, "device")), "d1");
		if (i == 2)
			assert_int_equal(json_object_size(ev->data), 0);
		qk_qmp_event_free(ev);
	}

	/* Nothing left: a wait times out after its deadline, not before. */
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_TIMEOUT, "no DEVICE_DELETED event within 0.150 s",
		       qk_qmp_wait_event(qmp, "DEVICE_DELETED", match, 150, &ev, &xerr));
	assert_true(now_ms() - t0 >= 140);
	json_decref(match);
	qk_qmp_free(qmp);
}

static void device_del_waits_as_long_as_the_connection_default(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.timeout_ms = 300;
	qk_qmp *qmp = connect_fake("normal", &opts);
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_TIMEOUT, "device_del \"d1\": no DEVICE_DELETED event within 0.300 s",
		       qk_qmp_device_del(qmp, "d1", -1, &xerr));
	int64_t took = now_ms() - t0;
	assert_true(took >= 290 && took < 3000);
	/* The connection is still good. */
	assert_int_equal(qk_qmp_execute(qmp, "echo", NULL, NULL, NULL), 0);
	qk_qmp_free(qmp);
}

static void qmp_errors_carry_class_and_description(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *args = json_pack("{s:s, s:s}", "class", "DeviceNotFound", "desc", "Device 'disk9' not found");
	qk_error *err = NULL;
	json_t *ret = NULL;
	int r = qk_qmp_execute(qmp, "fail", args, &ret, &err);
	assert_true(r < 0);
	assert_null(ret);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_QMP);
	assert_string_equal(qk_error_message(err), "fail: Device 'disk9' not found");
	assert_string_equal(qk_error_qmp_class(err), "DeviceNotFound");
	qk_error_free(err);
	json_decref(args);

	/* A reply without an id (QEMU could not parse the request) is the oldest command's. */
	expect_failure(QK_ERR_QMP, "noid: JSON parse error",
		       qk_qmp_execute(qmp, "noid", NULL, NULL, &xerr));
	assert_true(qk_qmp_connected(qmp));
	qk_qmp_free(qmp);
}

/* A uint64 beyond int64 (QEMU sends them) must not end the connection. */
static void numbers_beyond_int64_are_read(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "huge", NULL, &ret, NULL), 0);
	assert_true(json_number_value(json_object_get(ret, "max")) > 1.8e19);
	assert_true(json_number_value(json_object_get(ret, "small")) == 7);
	json_decref(ret);
	assert_true(qk_qmp_connected(qmp));
	/* The next message is read with integers again. */
	assert_int_equal(qk_qmp_execute(qmp, "echo", NULL, &ret, NULL), 0);
	json_decref(ret);
	assert_int_equal(qk_qmp_execute(qmp, "huge", NULL, NULL, NULL), 0);
	qk_qmp_free(qmp);
}

static void garbage_mid_session_ends_the_connection(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	expect_failure(QK_ERR_PROTOCOL, "malformed JSON from QEMU",
		       qk_qmp_execute(qmp, "garbage", NULL, NULL, &xerr));
	assert_false(qk_qmp_connected(qmp));
	expect_failure(QK_ERR_PROTOCOL, "malformed JSON",
		       qk_qmp_process(qmp, &xerr));
	qk_qmp_free(qmp);
}

static void fds_travel_with_their_command(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	int p1[2], p2[2];
	assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
	assert_int_equal(pipe2(p2, O_CLOEXEC), 0);
	assert_int_equal(write(p1[1], "first\n", 6), 6);
	assert_int_equal(write(p2[1], "second\n", 7), 7);
	int fds[] = { p1[0], p2[0] };
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute_full(qmp, "fds", NULL, fds, 2, -1, &ret, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "count")), 2);
	json_t *read = json_object_get(ret, "read");
	assert_string_equal(json_string_value(json_array_get(read, 0)), "first");
	assert_string_equal(json_string_value(json_array_get(read, 1)), "second");
	json_decref(ret);

	/* The next command carries none. */
	assert_int_equal(qk_qmp_execute(qmp, "fds", NULL, &ret, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "count")), 0);
	json_decref(ret);
	for (int i = 0; i < 2; i++) {
		close(p1[i]);
		close(p2[i]);
	}
	qk_qmp_free(qmp);
}

static void a_bad_descriptor_fails_its_command_only(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	close(p[1]);
	expect_failure(QK_ERR_SYSTEM, "fds: QMP: sending 1 file descriptor to QEMU",
		       qk_qmp_execute_full(qmp, "fds", NULL, &p[0], 1, -1, NULL, &xerr));
	/* Nothing went out, so the stream is whole and the connection stays. */
	assert_true(qk_qmp_connected(qmp));
	json_t *ret = NULL;
	assert_int_equal(qk_qmp_execute(qmp, "fds", NULL, &ret, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "count")), 0);
	json_decref(ret);
	qk_qmp_free(qmp);
}

static void handlers_see_events_in_order_and_can_be_removed(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	struct flood_count all = { 0 }, flood_only = { 0 };
	int h_all = qk_qmp_add_event_handler(qmp, NULL, count_flood, &all, NULL);
	int h_flood = qk_qmp_add_event_handler(qmp, "FLOOD", count_flood, &flood_only, NULL);
	assert_true(h_all > 0 && h_flood > h_all);
	json_t *args = json_pack("{s:[[s,{s:i}],[s,{s:i}],[s,{s:i}]]}", "events", "FLOOD", "n", 0,
				 "OTHER", "n", 1, "FLOOD", "n", 2);
	assert_int_equal(qk_qmp_execute(qmp, "emit", args, NULL, NULL), 0);
	assert_int_equal(all.seen, 3);
	assert_int_equal(all.out_of_order, 0);
	assert_int_equal(flood_only.seen, 2);
	assert_int_equal(flood_only.out_of_order, 1); /* it saw n 0, then n 2 */
	qk_qmp_remove_event_handler(qmp, h_all);
	assert_int_equal(qk_qmp_execute(qmp, "emit", args, NULL, NULL), 0);
	assert_int_equal(all.seen, 3);
	assert_int_equal(flood_only.seen, 4);
	json_decref(args);
	qk_qmp_free(qmp);
}

static void a_queue_of_zero_leaves_events_to_handlers(void **state)
{
	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.event_queue_max = 0;
	qk_qmp *qmp = connect_fake("normal", &opts);
	struct flood_count fc = { 0 };
	assert_true(qk_qmp_add_event_handler(qmp, "FLOOD", count_flood, &fc, NULL) > 0);
	json_t *args = json_pack("{s:[[s,{s:i}],[s,{s:i}]]}", "events", "FLOOD", "n", 0, "FLOOD", "n", 1);
	assert_int_equal(qk_qmp_execute(qmp, "emit", args, NULL, NULL), 0);
	json_decref(args);
	assert_int_equal(fc.seen, 2);
	assert_int_equal(fc.out_of_order, 0);
	qk_qmp_event *ev = NULL;
	/* Nothing could ever be waited for: refused at once, not after the timeout. */
	int64_t t0 = now_ms();
	expect_failure(QK_ERR_INVALID, "cannot wait for an event: this connection keeps no event queue",
		       qk_qmp_next_event(qmp, 2000, &ev, &xerr));
	expect_failure(QK_ERR_INVALID, "device_del \"d1\": QMP: cannot wait for a DEVICE_DELETED event",
		       qk_qmp_device_del(qmp, "d1", 2000, &xerr));
	assert_true(now_ms() - t0 < 1000);
	assert_null(ev);
	assert_int_equal(qk_qmp_events_dropped(qmp), 0);
	/* device_del was refused before it was sent: the next command gets the next id. */
	uint64_t id = 0;
	assert_int_equal(qk_qmp_send(qmp, "echo", NULL, NULL, 0, -1, NULL, NULL, &id, NULL), 0);
	assert_int_equal(id, 3); /* qmp_capabilities 1, emit 2 */
	qk_qmp_free(qmp);
}

static void helpers_refuse_bad_arguments_before_sending(void **state)
{
	qk_qmp *qmp = connect_fake("normal", NULL);
	json_t *no_driver = json_pack("{s:s}", "id", "d1");
	expect_failure(QK_ERR_INVALID, "device_add: the properties have no \"driver\" string",
		       qk_qmp_device_add(qmp, no_driver, &xerr));
	json_decref(no_driver);
	json_t *list = json_array();
	expect_failure(QK_ERR_INVALID, "blockdev-add: the options must be a JSON object",
		       qk_qmp_blockdev_add(qmp, list, &xerr));
	expect_failure(QK_ERR_INVALID, "migrate-set-capabilities: capabilities must be a JSON array",
		       qk_qmp_migrate_set_capabilities(qmp, no_driver = json_object(), &xerr));
	json_decref(no_driver);
	json_decref(list);
	expect_failure(QK_ERR_INVALID, "blockdev-del: an argument is missing (NULL)",
		       qk_qmp_blockdev_del(qmp, NULL, &xerr));
	expect_failure(QK_ERR_INVALID, "send-key: no keys given",
		       qk_qmp_send_key(qmp, NULL, 0, 0, &xerr));
	const char *keys[] = { "a", NULL };
	expect_failure(QK_ERR_INVALID, "send-key: a key name is missing (NULL)",
		       qk_qmp_send_key(qmp, keys, 2, 0, &xerr));
	expect_failure(QK_ERR_INVALID, "memory hotplug \"m\": size 0 is not a usable size",
		       qk_qmp_memory_hotplug(qmp, "m", 0, NULL, &xerr));
	expect_failure(QK_ERR_INVALID, "hostfwd_add: netdev \"n0\" and rule \"tcp::1 -:2\" must be single words",
		       qk_qmp_hostfwd_add(qmp, "n0", "tcp::1 -:2", &xerr));
	expect_failure(QK_ERR_INVALID, "QMP: the command name is empty",
		       qk_qmp_execute(qmp, "", NULL, NULL, &xerr));
	/* Nothing reached the fake: the next command gets id 2 (qmp_capabilities was 1). */
	uint64_t id = 0;
	assert_int_equal(qk_qmp_send(qmp, "echo", NULL, NULL, 0, -1, NULL, NULL, &id, NULL), 0);
	assert_int_equal(id, 2);
	assert_int_equal(qk_qmp_execute(qmp, "echo", NULL, NULL, NULL), 0);
	assert_int_equal(qk_qmp_pending(qmp), 0);
	qk_qmp_free(qmp);
}

static void a_monitor_with_a_full_queue_is_refused_clearly(void **state)
{
	char dir[] = "/tmp/qkit-qmp-busy.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp.sock", dir);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* Nobody accepts: fill the backlog as QEMU's does while a client holds the monitor. */
	int held[8], n_held = 0;
	for (; n_held < 8; n_held++) {
		held[n_held] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (connect(held[n_held], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(held[n_held]);
			break;
		}
	}
	assert_true(n_held < 8);

	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.connect_timeout_ms = 5000;
	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	int64_t t0 = now_ms();
	int r = qk_qmp_connect_unix(&qmp, sa.sun_path, &opts, &err);
	assert_true(now_ms() - t0 < 2000);
	assert_null(qmp);
	check_failure(r, err, QK_ERR_SYSTEM, "qmp.sock\": QEMU is not accepting connections");
	for (int i = 0; i < n_held; i++)
		close(held[i]);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

static void json_match_is_a_recursive_subset(void **state)
{
	json_t *data = json_pack("{s:s, s:{s:i, s:b}, s:[i]}", "device", "d1", "info", "a", 1, "b", 1,
				 "list", 5);
	json_t *yes = json_pack("{s:{s:i}}", "info", "a", 1);
	json_t *no_value = json_pack("{s:s}", "device", "d2");
	json_t *no_key = json_pack("{s:s}", "path", "/x");
	json_t *list = json_pack("{s:[i]}", "list", 5);
	assert_true(qk_qmp_json_match(data, NULL));
	assert_true(qk_qmp_json_match(data, yes));
	assert_true(qk_qmp_json_match(data, list));
	assert_false(qk_qmp_json_match(data, no_value));
	assert_false(qk_qmp_json_match(data, no_key));
	json_decref(data);
	json_decref(yes);
	json_decref(no_value);
	json_decref(no_key);
	json_decref(list);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(events_before_greeting_are_skipped, stop_fake),
		cmocka_unit_test_teardown(oob_is_not_requested_when_disabled, stop_fake),
		cmocka_unit_test_teardown(no_greeting_times_out, stop_fake),
		cmocka_unit_test_teardown(garbage_greeting_is_a_protocol_error, stop_fake),
		cmocka_unit_test_teardown(close_before_greeting_says_qemu_exited, stop_fake),
		cmocka_unit_test_teardown(an_error_instead_of_the_greeting_is_quoted, stop_fake),
		cmocka_unit_test_teardown(a_line_split_across_many_reads, stop_fake),
		cmocka_unit_test_teardown(a_10_mib_reply_and_the_size_limit, stop_fake),
		cmocka_unit_test_teardown(replies_out_of_order_are_matched_by_id, stop_fake),
		cmocka_unit_test_teardown(closing_mid_command_fails_it_with_qemu_exited, stop_fake),
		cmocka_unit_test_teardown(a_command_that_is_never_answered_times_out_alone, stop_fake),
		cmocka_unit_test_teardown(a_send_that_times_out_leaves_the_stream_whole, stop_fake),
		cmocka_unit_test_teardown(a_handler_may_send_while_a_send_waits, stop_fake),
		cmocka_unit_test_teardown(a_command_queued_behind_a_timed_out_send_still_goes_out, stop_fake),
		cmocka_unit_test_teardown(a_handler_that_sends_does_not_reorder_events, stop_fake),
		cmocka_unit_test_teardown(a_hundred_thousand_events_while_commands_run, stop_fake),
		cmocka_unit_test_teardown(wait_event_takes_the_match_and_keeps_the_rest, stop_fake),
		cmocka_unit_test_teardown(device_del_waits_as_long_as_the_connection_default, stop_fake),
		cmocka_unit_test_teardown(qmp_errors_carry_class_and_description, stop_fake),
		cmocka_unit_test_teardown(numbers_beyond_int64_are_read, stop_fake),
		cmocka_unit_test_teardown(garbage_mid_session_ends_the_connection, stop_fake),
		cmocka_unit_test_teardown(fds_travel_with_their_command, stop_fake),
		cmocka_unit_test_teardown(a_bad_descriptor_fails_its_command_only, stop_fake),
		cmocka_unit_test_teardown(handlers_see_events_in_order_and_can_be_removed, stop_fake),
		cmocka_unit_test_teardown(a_queue_of_zero_leaves_events_to_handlers, stop_fake),
		cmocka_unit_test_teardown(helpers_refuse_bad_arguments_before_sending, stop_fake),
		cmocka_unit_test(a_monitor_with_a_full_queue_is_refused_clearly),
		cmocka_unit_test(json_match_is_a_recursive_subset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
