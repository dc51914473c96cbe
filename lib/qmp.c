/* SPDX-License-Identifier: MIT */
/*
 * The QMP connection: framing, id matching, deadlines, events and fd
 * passing. The typed command helpers live in qmp-commands.c.
 */
#include <qkit/qmp.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "qmp-private.h"
#include "util.h"

/* At most this many descriptors travel with one command. */
#define MAX_FDS 16

struct pending {
	uint64_t id;
	char *command;
	int64_t deadline_ns;
	int timeout_ms;
	qk_qmp_reply_fn cb;
	qmp_raw_reply_fn raw; /* instead of cb: the reply message itself */
	void *userdata;
	struct pending *next;
};

struct handler {
	int handle;
	char *name;
	qk_qmp_event_fn fn;
	void *userdata;
};

struct qk_qmp {
	int fd;
	qk_qmp_options opts;
	json_t *greeting;
	bool oob;
	qk_error *ended; /* set once the connection is over: why */

	struct buf in;
	size_t in_off; /* bytes of `in` already consumed */

	/*
	 * Bytes committed to the stream but not yet written: the rest of a
	 * command whose send timed out half way (it cannot be taken back),
	 * and commands sent from callbacks while another send waits for room.
	 */
	struct buf out;
	bool sending; /* inside a send that may wait for room */
	int dispatching; /* inside a handler or reply callback */

	uint64_t next_id;
	struct pending *pending; /* in send order */

	struct handler *handlers;
	size_t n_handlers;
	int next_handle;

	/* A ring of queued events. */
	qk_qmp_event **queue;
	size_t queue_cap, queue_head, queue_len;
	uint64_t dropped;
};

int64_t qmp_deadline_ns(int timeout_ms)
{
	if (timeout_ms < 0)
		return INT64_MAX;
	return monotonic_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds from now until deadline, rounded up; -1 for none. */
int qmp_ms_until(int64_t deadline_ns)
{
	if (deadline_ns == INT64_MAX)
		return -1;
	int64_t left = deadline_ns - monotonic_now_ns();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void qk_qmp_event_free(qk_qmp_event *ev)
{
	if (!ev)
		return;
	free(ev->name);
	json_decref(ev->data);
	free(ev);
}

const json_t *qk_qmp_greeting(const qk_qmp *qmp)
{
	return qmp->greeting;
}

bool qk_qmp_oob_enabled(const qk_qmp *qmp)
{
	return qmp->oob;
}

int qk_qmp_fd(const qk_qmp *qmp)
{
	return qmp->fd;
}

bool qk_qmp_connected(const qk_qmp *qmp)
{
	return !qmp->ended;
}

size_t qk_qmp_pending(const qk_qmp *qmp)
{
	size_t n = 0;
	for (const struct pending *p = qmp->pending; p; p = p->next)
		n++;
	return n;
}

int qmp_default_timeout_ms(const qk_qmp *qmp)
{
	return qmp->opts.timeout_ms;
}

uint64_t qk_qmp_events_dropped(const qk_qmp *qmp)
{
	return qmp->dropped;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	free(p->command);
	free(p);
}

/* Copy the reason the connection ended into *err. */
static int report_ended(const qk_qmp *qmp, qk_error **err)
{
	const qk_error *e = qmp->ended;
	int errnum = qk_error_errno(e);
	int r = qk_error_set(err, qk_error_get_kind(e), errnum, "%s", qk_error_message(e));
	return errnum ? r : -EPIPE;
}

static void call_reply(qk_qmp *qmp, struct pending *p, json_t *ret, const qk_error *e)
{
	if (!p->cb && !p->raw)
		return;
	qmp->dispatching++;
	if (p->raw)
		p->raw(qmp, NULL, e, p->userdata);
	else
		p->cb(qmp, ret, e, p->userdata);
	qmp->dispatching--;
}

/*
 * End the connection: remember why, and fail every command still waiting.
 * Returns the negative errno to hand up.
 */
static int end_connection(qk_qmp *qmp, qk_error *why, qk_error **err)
{
	if (!qmp->ended)
		qmp->ended = why;
	else
		qk_error_free(why);
	buf_reset(&qmp->out);
	while (qmp->pending) {
		struct pending *p = qmp->pending;
		qmp->pending = p->next;
		call_reply(qmp, p, NULL, qmp->ended);
		pending_free(p);
	}
	return report_ended(qmp, err);
}

static int end_exited(qk_qmp *qmp, const char *what, qk_error **err)
{
	qk_error *why = NULL;
	_cleanup_free_ char *tail = NULL;
	if (qmp->opts.stderr_tail)
		tail = qmp->opts.stderr_tail(qmp->opts.stderr_tail_userdata);
	if (tail && *tail)
		qk_error_set(&why, QK_ERR_EXITED, EPIPE, "QEMU exited%s: %s", what, tail);
	else
		qk_error_set(&why, QK_ERR_EXITED, EPIPE, "QEMU exited%s", what);
	return end_connection(qmp, why, err);
}

__attribute__((format(printf, 3, 4)))
static int end_protocol(qk_qmp *qmp, qk_error **err, const char *fmt, ...)
{
	qk_error *why = NULL;
	va_list ap;
	va_start(ap, fmt);
	qk_error_setv(&why, QK_ERR_PROTOCOL, EPROTO, fmt, ap);
	va_end(ap);
	return end_connection(qmp, why, err);
}

static void queue_push(qk_qmp *qmp, qk_qmp_event *ev)
{
	if (qmp->queue_cap == 0) {
		/* Handlers only: the caller asked for no queue. */
		qk_qmp_event_free(ev);
		return;
	}
	if (qmp->queue_len == qmp->queue_cap) {
		qk_qmp_event_free(qmp->queue[qmp->queue_head]);
		qmp->queue_head = (qmp->queue_head + 1) % qmp->queue_cap;
		qmp->queue_len--;
		/* Normal for a caller that relies on handlers; worth a note when debugging. */
		if (qmp->dropped++ == 0)
			log_debug("QMP event queue full (%zu events): dropping the oldest",
				  qmp->queue_cap);
	}
	qmp->queue[(qmp->queue_head + qmp->queue_len) % qmp->queue_cap] = ev;
	qmp->queue_len++;
}

/* Remove and return the i-th queued event, keeping the others in order. */
static qk_qmp_event *queue_take(qk_qmp *qmp, size_t i)
{
	size_t cap = qmp->queue_cap;
	qk_qmp_event *ev = qmp->queue[(qmp->queue_head + i) % cap];
	for (size_t j = i; j + 1 < qmp->queue_len; j++)
		qmp->queue[(qmp->queue_head + j) % cap] = qmp->queue[(qmp->queue_head + j + 1) % cap];
	qmp->queue_len--;
	return ev;
}

static qk_qmp_event *event_from_message(json_t *msg)
{
	const char *name = json_string_value(json_object_get(msg, "event"));
	if (!name)
		return NULL;
	qk_qmp_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->name = strdup(name);
	json_t *data = json_object_get(msg, "data");
	ev->data = data ? json_incref(data) : json_object();
	if (!ev->name || !ev->data) {
		qk_qmp_event_free(ev);
		return NULL;
	}
	/* QMP splits the time into whole seconds and the microseconds past them. */
	json_t *ts = json_object_get(msg, "timestamp");
	ev->seconds = json_integer_value(json_object_get(ts, "seconds"));
	ev->microseconds = json_integer_value(json_object_get(ts, "microseconds"));
	ev->timestamp.tv_sec = (time_t)ev->seconds;
	ev->timestamp.tv_nsec = ev->microseconds >= 0 && ev->microseconds < 1000000
					? (long)ev->microseconds * 1000
					: 0;
	return ev;
}

static int handle_event(qk_qmp *qmp, json_t *msg, qk_error **err)
{
	qk_qmp_event *ev = event_from_message(msg);
	if (!ev)
		return end_protocol(qmp, err, "QMP: malformed event or out of memory: \"event\" is not a string");
	for (size_t i = 0; i < qmp->n_handlers; i++) {
		struct handler *h = &qmp->handlers[i];
		if (!h->fn || (h->name && strcmp(h->name, ev->name) != 0))
			continue;
		qmp->dispatching++;
		h->fn(qmp, ev, h->userdata);
		qmp->dispatching--;
	}
	queue_push(qmp, ev);
	return 0;
}

static struct pending *take_pending(qk_qmp *qmp, json_t *id)
{
	struct pending **pp = &qmp->pending;
	if (!id) {
		/*
		 * QEMU omits the id only when it could not parse the request
		 * at all; that can only be the oldest command still waiting.
		 */
		if (!*pp)
			return NULL;
	} else {
		/* A real when the reply carried a number too big for an integer. */
		if (!json_is_number(id) || json_number_value(id) < 0)
			return NULL;
		uint64_t want = json_is_integer(id) ? (uint64_t)json_integer_value(id)
						    : (uint64_t)json_number_value(id);
		while (*pp && (*pp)->id != want)
			pp = &(*pp)->next;
		if (!*pp)
			return NULL;
	}
	struct pending *p = *pp;
	*pp = p->next;
	p->next = NULL;
	return p;
}

static struct pending *take_pending_id(qk_qmp *qmp, uint64_t id)
{
	json_t *j = json_integer((json_int_t)id);
	struct pending *p = j ? take_pending(qmp, j) : NULL;
	json_decref(j);
	return p;
}

static void handle_reply(qk_qmp *qmp, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	struct pending *p = take_pending(qmp, id);
	if (!p) {
		/* Most likely the reply to a command that timed out. */
		_cleanup_free_ char *idtext = id ? json_dumps(id, JSON_ENCODE_ANY) : NULL;
		log_debug("QMP: discarding a reply for no waiting command (id %s)",
			  idtext ? idtext : "none");
		return;
	}
	json_t *error = json_object_get(msg, "error");
	if (p->raw) {
		qmp->dispatching++;
		p->raw(qmp, msg, NULL, p->userdata);
		qmp->dispatching--;
	} else if (error) {
		qk_error *e = NULL;
		const char *desc = json_string_value(json_object_get(error, "desc"));
		const char *cls = json_string_value(json_object_get(error, "class"));
		qk_error_set(&e, QK_ERR_QMP, 0, "%s: %s", p->command,
			     desc ? desc : "QEMU reported an error without a description");
		qk_error_set_qmp_class(&e, cls ? cls : "GenericError");
		call_reply(qmp, p, NULL, e);
		qk_error_free(e);
	} else {
		call_reply(qmp, p, json_object_get(msg, "return"), NULL);
	}
	pending_free(p);
}

static int handle_message(qk_qmp *qmp, json_t *msg, qk_error **err)
{
	if (!json_is_object(msg))
		return end_protocol(qmp, err, "QMP: a message is not a JSON object");
	if (!qmp->greeting) {
		json_t *qmp_member = json_object_get(msg, "QMP");
		if (qmp_member) {
			qmp->greeting = json_incref(qmp_member);
			return 0;
		}
		/* Not QEMU, but a qkit supervisor with every client slot taken. */
		json_t *error = json_object_get(msg, "error");
		if (error) {
			const char *desc = json_string_value(json_object_get(error, "desc"));
			return end_protocol(qmp, err, "QMP: the server refused the connection: %s",
					    desc ? desc : "no reason given");
		}
		/* Older QEMUs could send events before the greeting; skip them. */
		log_debug("QMP: skipping a message that arrived before the greeting");
		return 0;
	}
	if (json_object_get(msg, "event"))
		return handle_event(qmp, msg, err);
	if (json_object_get(msg, "return") || json_object_get(msg, "error")) {
		handle_reply(qmp, msg);
		return 0;
	}
	log_debug("QMP: ignoring a message that is neither a reply nor an event");
	return 0;
}

/* Parse and dispatch every complete line in the input buffer. */
static int parse_input(qk_qmp *qmp, qk_error **err)
{
	while (!qmp->ended && qmp->in_off < qmp->in.len) {
		char *start = qmp->in.data + qmp->in_off;
		size_t avail = qmp->in.len - qmp->in_off;
		char *nl = memchr(start, '\n', avail);
		if (!nl)
			break;
		size_t len = (size_t)(nl - start);
		qmp->in_off += len + 1;
		if (len > qmp->opts.max_message)
			return end_protocol(qmp, err, "QMP: a message of %zu bytes exceeds max_message (%zu bytes)",
					    len, qmp->opts.max_message);
		while (len && (start[len - 1] == '\r' || start[len - 1] == ' ' || start[len - 1] == '\t'))
			len--;
		if (len == 0)
			continue;
		json_error_t jerr;
		json_t *msg = json_loadb(start, len, 0, &jerr);
		if (!msg && json_error_code(&jerr) == json_error_numeric_overflow) {
			/*
			 * QEMU's uint64 values (device-list-properties defaults)
			 * go past what jansson's integers hold. Rather than
			 * dropping a valid reply, read this one message with its
			 * numbers as reals.
			 */
			log_debug("QMP: a number beyond 64-bit integers; this message's numbers are reals");
			msg = json_loadb(start, len, JSON_DECODE_INT_AS_REAL, &jerr);
		}
		if (!msg)
			return end_protocol(qmp, err, "QMP: malformed JSON from QEMU at column %d: %s",
					    jerr.column, jerr.text);
		int r = handle_message(qmp, msg, err);
		json_decref(msg);
		if (r < 0)
			return r;
	}
	if (qmp->ended)
		return report_ended(qmp, err);
	/* Compact, so the buffer holds at most one partial message. */
	if (qmp->in_off > 0) {
		size_t rest = qmp->in.len - qmp->in_off;
		memmove(qmp->in.data, qmp->in.data + qmp->in_off, rest);
		qmp->in.len = rest;
		qmp->in.data[rest] = '\0';
		qmp->in_off = 0;
	}
	if (qmp->in.len > qmp->opts.max_message)
		return end_protocol(qmp, err, "QMP: a message exceeds max_message (%zu bytes)",
				    qmp->opts.max_message);
	return 0;
}

/*
 * Read what the socket has without blocking and dispatch it. Stops after
 * a bounded amount so one busy connection cannot starve a caller's loop.
 */
static int read_input(qk_qmp *qmp, qk_error **err)
{
	for (int rounds = 0; rounds < 64 && !qmp->ended; rounds++) {
		int r = buf_reserve(&qmp->in, 65536);
		if (r < 0)
			return end_protocol(qmp, err, "QMP: out of memory reading from QEMU");
		ssize_t n = read(qmp->fd, qmp->in.data + qmp->in.len, qmp->in.cap - qmp->in.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ECONNRESET)
				return end_exited(qmp, "", err);
			qk_error *why = NULL;
			qk_error_set(&why, QK_ERR_SYSTEM, errno, "QMP: reading from QEMU: %s",
				     strerror(errno));
			return end_connection(qmp, why, err);
		}
		if (n == 0) {
			/* Whatever complete messages came before EOF still count. */
			r = parse_input(qmp, err);
			if (r < 0)
				return r;
			return end_exited(qmp, "", err);
		}
		qmp->in.len += (size_t)n;
		qmp->in.data[qmp->in.len] = '\0';
		r = parse_input(qmp, err);
		if (r < 0)
			return r;
	}
	if (qmp->ended)
		return report_ended(qmp, err);
	return 0;
}

static void expire_pending(qk_qmp *qmp)
{
	int64_t now = monotonic_now_ns();
	struct pending **pp = &qmp->pending;
	while (*pp) {
		struct pending *p = *pp;
		if (p->deadline_ns > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		/* Abandoned: its id stays unknown, so a late reply is discarded. */
		qk_error *e = NULL;
		qk_error_set(&e, QK_ERR_TIMEOUT, ETIMEDOUT, "%s: no reply from QEMU within %d.%03d s",
			     p->command, p->timeout_ms / 1000, p->timeout_ms % 1000);
		call_reply(qmp, p, NULL, e);
		qk_error_free(e);
		pending_free(p);
		pp = &qmp->pending; /* the callback may have sent more */
	}
}

static int out_flush(qk_qmp *qmp, const int *fds, size_t n_fds, int64_t deadline_ns,
		     size_t *sent, qk_error **err);

int qk_qmp_process(qk_qmp *qmp, qk_error **err)
{
	if (qmp->ended)
		return report_ended(qmp, err);
	int r = read_input(qmp, err);
	if (r < 0)
		return r;
	if (qmp->out.len && !qmp->sending) {
		/* What a send left in the outbox, as far as the socket takes it now. */
		size_t sent = 0;
		r = out_flush(qmp, NULL, 0, 0, &sent, err);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	expire_pending(qmp);
	return 0;
}

/* While the outbox holds bytes, come back this often to write them. */
#define OUTBOX_RETRY_MS 10

int qk_qmp_next_timeout(const qk_qmp *qmp)
{
	int64_t first = INT64_MAX;
	for (const struct pending *p = qmp->pending; p; p = p->next)
		if (p->deadline_ns < first)
			first = p->deadline_ns;
	int ms = qmp_ms_until(first);
	/* Callers poll for input only, so a command stuck in the outbox needs a timer. */
	if (qmp->out.len && (ms < 0 || ms > OUTBOX_RETRY_MS))
		ms = OUTBOX_RETRY_MS;
	return ms;
}

/*
 * Wait up to the deadline for input and process it. Returns 0 (maybe
 * having timed out: callers check their own condition and clock), or a
 * negative errno once the connection ended.
 */
int qmp_wait_input(qk_qmp *qmp, int64_t deadline_ns, qk_error **err)
{
	if (qmp->ended)
		return report_ended(qmp, err);
	int t = qmp_ms_until(deadline_ns);
	int t2 = qk_qmp_next_timeout(qmp);
	if (t2 >= 0 && (t < 0 || t2 < t))
		t = t2;
	struct pollfd pfd = { .fd = qmp->fd, .events = POLLIN };
	if (qmp->out.len && !qmp->sending)
		pfd.events |= POLLOUT;
	int n = poll(&pfd, 1, t);
	if (n < 0 && errno != EINTR)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "QMP: poll: %s", strerror(errno));
	return qk_qmp_process(qmp, err);
}

/* Remove n bytes from the front of the outbox: written, or taken back. */
static void out_drop_front(qk_qmp *qmp, size_t n)
{
	memmove(qmp->out.data, qmp->out.data + n, qmp->out.len - n);
	qmp->out.len -= n;
	qmp->out.data[qmp->out.len] = '\0';
}

/*
 * Write what the socket takes now from the front of the outbox; fds go
 * with its first byte, in the same sendmsg. Returns how many bytes went
 * out (0: no room), or a negative errno with *err set: the connection
 * ended, or sendmsg refused the descriptors (then nothing went out).
 */
static ssize_t out_write(qk_qmp *qmp, const int *fds, size_t n_fds, qk_error **err)
{
	ssize_t n;
	do {
		if (n_fds) {
			union {
				char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
				struct cmsghdr align;
			} control;
			memset(&control, 0, sizeof(control));
			struct iovec iov = { .iov_base = qmp->out.data, .iov_len = qmp->out.len };
			struct msghdr mh = {
				.msg_iov = &iov,
				.msg_iovlen = 1,
				.msg_control = control.buf,
				.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds),
			};
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
			n = sendmsg(qmp->fd, &mh, MSG_NOSIGNAL);
		} else {
			n = send(qmp->fd, qmp->out.data, qmp->out.len, MSG_NOSIGNAL);
		}
	} while (n < 0 && errno == EINTR);
	if (n >= 0) {
		out_drop_front(qmp, (size_t)n);
		return n;
	}
	int e = errno;
	if (e == EAGAIN || e == EWOULDBLOCK)
		return 0;
	if (e == EPIPE || e == ECONNRESET)
		return end_exited(qmp, "", err);
	if (n_fds)
		return qk_error_set(err, QK_ERR_SYSTEM, e, "QMP: sending %zu file descriptor%s to QEMU: %s",
				    n_fds, n_fds == 1 ? "" : "s", strerror(e));
	qk_error *why = NULL;
	qk_error_set(&why, QK_ERR_SYSTEM, e, "QMP: sending to QEMU: %s", strerror(e));
	return end_connection(qmp, why, err);
}

/*
 * Write the outbox until it is empty or deadline_ns passes, reading
 * meanwhile so QEMU is never stuck writing to us. fds go with the first
 * byte; *sent counts the bytes written. Returns 0 once the outbox is
 * empty, -ETIMEDOUT (err untouched) when the deadline came first, or a
 * negative errno with *err set.
 */
static int out_flush(qk_qmp *qmp, const int *fds, size_t n_fds, int64_t deadline_ns,
		     size_t *sent, qk_error **err)
{
	while (qmp->out.len > 0) {
		ssize_t n = out_write(qmp, fds, *sent == 0 ? n_fds : 0, err);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			*sent += (size_t)n;
			continue;
		}
		int t = qmp_ms_until(deadline_ns);
		if (t == 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { .fd = qmp->fd, .events = POLLIN | POLLOUT };
		if (poll(&pfd, 1, t) < 0 && errno != EINTR)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "QMP: poll: %s", strerror(errno));
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			int r = read_input(qmp, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/*
 * Put one command (len bytes, newline included) on the stream. Returns 0
 * once all of it is written, or part of it: a command is a stream of
 * bytes that cannot be taken back, so the rest stays in the outbox, goes
 * out before the next command, and the command times out like one QEMU
 * never answered. Fails (negative errno, *err set) only if none of it
 * was written.
 */
static int send_now(qk_qmp *qmp, const char *text, size_t len, const int *fds, size_t n_fds,
		    int64_t deadline_ns, qk_error **err)
{
	size_t sent = 0;
	int r = out_flush(qmp, NULL, 0, deadline_ns, &sent, err);
	if (r == -ETIMEDOUT)
		return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
				    "QMP: QEMU did not take the command in time (it was still reading an earlier one)");
	if (r < 0)
		return r;
	if (buf_append(&qmp->out, text, len) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "QMP: out of memory");
	sent = 0;
	r = out_flush(qmp, fds, n_fds, deadline_ns, &sent, err);
	if (r == 0 || (r == -ETIMEDOUT && sent > 0))
		return 0;
	/* None of it went out: take it back, keeping what callbacks queued behind it. */
	if (!qmp->ended && qmp->out.len >= len)
		out_drop_front(qmp, len);
	if (r == -ETIMEDOUT)
		return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
				    "QMP: QEMU did not take the command in time");
	return r;
}

/*
 * From a callback: queue the command and write what the socket takes now,
 * never waiting, for waiting means reading, and reading would dispatch
 * later events and replies before the callbacks of this one are done.
 * The rest goes out as the connection is driven (qk_qmp_process() and the
 * blocking calls write the outbox).
 */
static int send_queued(qk_qmp *qmp, const char *text, size_t len, const int *fds, size_t n_fds,
		       qk_error **err)
{
	if (n_fds && (qmp->sending || qmp->out.len))
		return qk_error_set(err, QK_ERR_INVALID, EBUSY,
				    "QMP: file descriptors cannot go with a command sent from a callback while other commands wait to be sent");
	if (buf_append(&qmp->out, text, len) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "QMP: out of memory");
	if (qmp->sending)
		return 0; /* that send writes the outbox, this command included */
	size_t sent = 0;
	int r = out_flush(qmp, fds, n_fds, 0, &sent, err);
	if (r == 0 || sent > 0 || (r == -ETIMEDOUT && !n_fds))
		return 0;
	/* Descriptors cannot wait in the outbox: take the command back. */
	if (!qmp->ended && qmp->out.len >= len)
		out_drop_front(qmp, len);
	if (r == -ETIMEDOUT)
		return qk_error_set(err, QK_ERR_TIMEOUT, EAGAIN,
				    "QMP: QEMU is not reading, and a command with file descriptors cannot wait in a callback");
	return r;
}

static int send_text(qk_qmp *qmp, const char *text, size_t len, const int *fds, size_t n_fds,
		     int64_t deadline_ns, qk_error **err)
{
	if (qmp->sending || qmp->dispatching)
		return send_queued(qmp, text, len, fds, n_fds, err);
	qmp->sending = true;
	int r = send_now(qmp, text, len, fds, n_fds, deadline_ns, err);
	qmp->sending = false;
	return r;
}

/*
 * Give msg (an "execute" or "exec-oob" object) a fresh id, put it on the
 * stream and queue p to wait for its reply. never_wait: write only what
 * the socket takes now and leave the rest to the outbox. On failure p is
 * freed.
 */
static int send_message(qk_qmp *qmp, json_t *msg, const char *command, const int *fds,
			size_t n_fds, bool never_wait, struct pending *p, uint64_t *id_out,
			qk_error **err)
{
	if (n_fds > MAX_FDS) {
		pending_free(p);
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: %zu file descriptors is more than %d per command",
				    command, n_fds, MAX_FDS);
	}
	uint64_t id = qmp->next_id + 1;
	_cleanup_free_ char *text = NULL;
	if (json_object_set_new(msg, "id", json_integer((json_int_t)id)) < 0 ||
	    !(text = json_dumps(msg, JSON_COMPACT)) || !(p->command = strdup(command))) {
		pending_free(p);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", command);
	}
	qmp->next_id = id;
	size_t len = strlen(text);
	text[len] = '\n'; /* json_dumps leaves room: replace the NUL, send len + 1 */
	log_debug("QMP: -> %.*s", (int)len, text);
	int r = never_wait ? send_queued(qmp, text, len + 1, fds, n_fds, err)
			   : send_text(qmp, text, len + 1, fds, n_fds, p->deadline_ns, err);
	text[len] = '\0';
	if (r < 0) {
		pending_free(p);
		qk_error_prepend(err, "%s: ", command);
		return r;
	}
	p->id = id;
	struct pending **pp = &qmp->pending;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	if (id_out)
		*id_out = id;
	return 0;
}

int qk_qmp_send(qk_qmp *qmp, const char *command, const json_t *args, const int *fds,
		size_t n_fds, int timeout_ms, qk_qmp_reply_fn cb, void *userdata,
		uint64_t *id_out, qk_error **err)
{
	if (qmp->ended)
		return report_ended(qmp, err);
	if (!command || !*command)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "QMP: the command name is empty");
	if (args && !json_is_object(args))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: the arguments must be a JSON object", command);
	if (timeout_ms < 0)
		timeout_ms = qmp->opts.timeout_ms;
	json_t *msg = json_pack("{s:s}", "execute", command);
	struct pending *p = calloc(1, sizeof(*p));
	if (!msg || !p || (args && json_object_set(msg, "arguments", (json_t *)args) < 0)) {
		json_decref(msg);
		free(p);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", command);
	}
	p->deadline_ns = qmp_deadline_ns(timeout_ms);
	p->timeout_ms = timeout_ms;
	p->cb = cb;
	p->userdata = userdata;
	int r = send_message(qmp, msg, command, fds, n_fds, false, p, id_out, err);
	json_decref(msg);
	return r;
}

int qmp_send_raw(qk_qmp *qmp, const json_t *msg, const int *fds, size_t n_fds,
		 qmp_raw_reply_fn cb, void *userdata, qk_error **err)
{
	if (qmp->ended)
		return report_ended(qmp, err);
	const char *command = json_string_value(json_object_get(msg, "execute"));
	if (!command)
		command = json_string_value(json_object_get(msg, "exec-oob"));
	if (!command)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "QMP: the message has no command");
	json_t *copy = json_copy((json_t *)msg);
	struct pending *p = calloc(1, sizeof(*p));
	if (!copy || !p) {
		json_decref(copy);
		free(p);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", command);
	}
	p->deadline_ns = INT64_MAX;
	p->raw = cb;
	p->userdata = userdata;
	int r = send_message(qmp, copy, command, fds, n_fds, true, p, NULL, err);
	json_decref(copy);
	return r;
}

struct sync_reply {
	bool done;
	json_t *ret;
	qk_error *err;
};

static void sync_reply_cb(qk_qmp *qmp, json_t *ret, const qk_error *e, void *userdata)
{
	struct sync_reply *s = userdata;
	s->done = true;
	if (e)
		qk_error_set(&s->err, qk_error_get_kind(e), qk_error_errno(e), "%s",
			     qk_error_message(e));
	if (e && qk_error_qmp_class(e))
		qk_error_set_qmp_class(&s->err, qk_error_qmp_class(e));
	if (ret)
		s->ret = json_incref(ret);
}

int qk_qmp_execute_full(qk_qmp *qmp, const char *command, const json_t *args,
			const int *fds, size_t n_fds, int timeout_ms, json_t **ret,
			qk_error **err)
{
	struct sync_reply s = { 0 };
	uint64_t id;
	int r = qk_qmp_send(qmp, command, args, fds, n_fds, timeout_ms, sync_reply_cb, &s, &id, err);
	if (r < 0)
		return r;
	while (!s.done) {
		/* The command's own deadline bounds this: expiry completes it. */
		qk_error *loop_err = NULL;
		r = qmp_wait_input(qmp, INT64_MAX, &loop_err);
		if (r < 0 && !s.done) {
			/* Not about our command (poll itself failed): forget it. */
			pending_free(take_pending_id(qmp, id));
			qk_error_propagate(err, &loop_err);
			return r;
		}
		qk_error_free(loop_err);
	}
	if (s.err) {
		r = qk_error_errno(s.err) ? -qk_error_errno(s.err) : -EIO;
		json_decref(s.ret);
		qk_error_propagate(err, &s.err);
		return r;
	}
	if (ret)
		*ret = s.ret ? s.ret : json_object();
	else
		json_decref(s.ret);
	return 0;
}

int qk_qmp_execute(qk_qmp *qmp, const char *command, const json_t *args, json_t **ret,
		   qk_error **err)
{
	return qk_qmp_execute_full(qmp, command, args, NULL, 0, -1, ret, err);
}

int qk_qmp_add_event_handler(qk_qmp *qmp, const char *name, qk_qmp_event_fn fn,
			     void *userdata, qk_error **err)
{
	struct handler *h = realloc(qmp->handlers, (qmp->n_handlers + 1) * sizeof(*h));
	if (!h)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "QMP: out of memory");
	qmp->handlers = h;
	char *copy = name ? strdup(name) : NULL;
	if (name && !copy)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "QMP: out of memory");
	h[qmp->n_handlers] = (struct handler){
		.handle = ++qmp->next_handle, .name = copy, .fn = fn, .userdata = userdata,
	};
	qmp->n_handlers++;
	return qmp->next_handle;
}

void qk_qmp_remove_event_handler(qk_qmp *qmp, int handle)
{
	for (size_t i = 0; i < qmp->n_handlers; i++) {
		if (qmp->handlers[i].handle != handle)
			continue;
		free(qmp->handlers[i].name);
		memmove(&qmp->handlers[i], &qmp->handlers[i + 1],
			(qmp->n_handlers - i - 1) * sizeof(qmp->handlers[0]));
		qmp->n_handlers--;
		return;
	}
}

bool qk_qmp_json_match(const json_t *data, const json_t *match)
{
	if (!match)
		return true;
	if (json_is_object(match)) {
		if (!json_is_object(data))
			return false;
		const char *key;
		json_t *want;
		json_object_foreach((json_t *)match, key, want)
			if (!qk_qmp_json_match(json_object_get(data, key), want))
				return false;
		return true;
	}
	return data && json_equal((json_t *)data, (json_t *)match);
}

static bool event_matches(const qk_qmp_event *ev, const char *name, const json_t *match)
{
	return (!name || strcmp(ev->name, name) == 0) && qk_qmp_json_match(ev->data, match);
}

int qk_qmp_wait_event(qk_qmp *qmp, const char *name, const json_t *match, int timeout_ms,
		      qk_qmp_event **ev, qk_error **err)
{
	if (qmp->queue_cap == 0)
		/* Events go to handlers only: waiting would only ever time out (or hang). */
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "QMP: cannot wait for %s%s event: this connection keeps no event queue (event_queue_max is 0)",
				    name ? "a " : "an", name ? name : "");
	int64_t deadline = qmp_deadline_ns(timeout_ms);
	size_t scanned = 0; /* queued events already known not to match */
	for (;;) {
		/* The queue may have dropped from its head meanwhile; rescan then. */
		if (scanned > qmp->queue_len)
			scanned = 0;
		for (size_t i = scanned; i < qmp->queue_len; i++) {
			qk_qmp_event *e = qmp->queue[(qmp->queue_head + i) % qmp->queue_cap];
			if (event_matches(e, name, match)) {
				e = queue_take(qmp, i);
				if (ev)
					*ev = e;
				else
					qk_qmp_event_free(e);
				return 0;
			}
		}
		scanned = qmp->queue_len;
		if (qmp->ended)
			return report_ended(qmp, err);
		if (qmp_ms_until(deadline) == 0)
			return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
					    "QMP: no %s event within %d.%03d s", name ? name : "matching",
					    timeout_ms / 1000, timeout_ms % 1000);
		size_t before = qmp->queue_len;
		uint64_t dropped = qmp->dropped;
		int r = qmp_wait_input(qmp, deadline, err);
		if (r < 0 && !qmp->ended)
			return r;
		if (qmp->dropped != dropped || qmp->queue_len < before)
			scanned = 0;
	}
}

int qk_qmp_next_event(qk_qmp *qmp, int timeout_ms, qk_qmp_event **ev, qk_error **err)
{
	return qk_qmp_wait_event(qmp, NULL, NULL, timeout_ms, ev, err);
}

static qk_qmp *qmp_new(int fd, const qk_qmp_options *opts)
{
	qk_qmp *qmp = calloc(1, sizeof(*qmp));
	if (!qmp)
		return NULL;
	qmp->fd = fd;
	qmp->opts = opts ? *opts : (qk_qmp_options)QK_QMP_OPTIONS_INIT;
	if (qmp->opts.max_message == 0)
		qmp->opts.max_message = 16u << 20;
	if (qmp->opts.timeout_ms < 0)
		qmp->opts.timeout_ms = 30000;
	qmp->queue_cap = qmp->opts.event_queue_max;
	qmp->queue = calloc(qmp->queue_cap ? qmp->queue_cap : 1, sizeof(*qmp->queue));
	if (!qmp->queue) {
		free(qmp);
		return NULL;
	}
	return qmp;
}

void qk_qmp_free(qk_qmp *qmp)
{
	if (!qmp)
		return;
	if (!qmp->ended) {
		qk_error *why = NULL;
		qk_error_set(&why, QK_ERR_EXITED, EPIPE, "QMP: the connection was closed");
		end_connection(qmp, why, NULL);
	}
	qk_error_free(qmp->ended);
	if (qmp->fd >= 0)
		close(qmp->fd);
	json_decref(qmp->greeting);
	buf_free(&qmp->in);
	buf_free(&qmp->out);
	for (size_t i = 0; i < qmp->queue_len; i++)
		qk_qmp_event_free(qmp->queue[(qmp->queue_head + i) % qmp->queue_cap]);
	free(qmp->queue);
	for (size_t i = 0; i < qmp->n_handlers; i++)
		free(qmp->handlers[i].name);
	free(qmp->handlers);
	free(qmp);
}
DEFINE_CLEANUP_FUNC(qk_qmp, qk_qmp_free)

static bool greeting_offers(const json_t *greeting, const char *cap)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(greeting, "capabilities"), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), cap) == 0)
			return true;
	return false;
}

/* Greeting, then qmp_capabilities, within the connect deadline. */
static int handshake(qk_qmp *qmp, qk_error **err)
{
	int64_t deadline = qmp_deadline_ns(qmp->opts.connect_timeout_ms);
	while (!qmp->greeting) {
		if (qmp_ms_until(deadline) == 0)
			return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
					    "QMP: no greeting from QEMU within %d ms",
					    qmp->opts.connect_timeout_ms);
		qk_error *e = NULL;
		int r = qmp_wait_input(qmp, deadline, &e);
		if (r < 0) {
			if (qk_error_get_kind(e) == QK_ERR_EXITED) {
				qk_error_free(e);
				e = NULL;
				qk_error_free(TAKE_PTR(qmp->ended));
				return end_exited(qmp, " before its QMP greeting", err);
			}
			qk_error_propagate(err, &e);
			return r;
		}
	}
	if (!json_is_object(qmp->greeting))
		return end_protocol(qmp, err, "QMP: the greeting is not a JSON object");

	bool want_oob = qmp->opts.oob && greeting_offers(qmp->greeting, "oob");
	_cleanup_(json_decrefp) json_t *args = want_oob ? json_pack("{s:[s]}", "enable", "oob") : NULL;
	int left = qmp_ms_until(deadline);
	int r = qk_qmp_execute_full(qmp, "qmp_capabilities", args, NULL, 0, left ? left : 1, NULL, err);
	if (r < 0)
		return r;
	qmp->oob = want_oob;
	return 0;
}

static int set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return negative_errno();
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return negative_errno();
	return 0;
}

int qk_qmp_connect_fd(qk_qmp **out, int fd, const qk_qmp_options *opts, qk_error **err)
{
	_cleanup_close_ int owned = fd;
	if (fd < 0)
		return qk_error_set(err, QK_ERR_INVALID, EBADF, "QMP: fd %d is not a descriptor", fd);
	int r = set_nonblock_cloexec(fd);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "QMP: fd %d: %s", fd, strerror(-r));
	_cleanup_(qk_qmp_freep) qk_qmp *qmp = qmp_new(fd, opts);
	if (!qmp)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "QMP: out of memory");
	owned = -1;
	r = handshake(qmp, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(qmp);
	return 0;
}

/* Connect a non-blocking socket, waiting at most timeout_ms. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	/*
	 * Only EINPROGRESS means "connecting": a unix socket says EAGAIN when
	 * the listener's backlog is full, and is then not connected at all.
	 */
	if (errno != EINPROGRESS)
		return negative_errno();
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int n;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if (n == 0)
		return -ETIMEDOUT;
	int so_err = 0;
	socklen_t sl = sizeof(so_err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &sl) < 0)
		return negative_errno();
	return so_err ? -so_err : 0;
}

int qk_qmp_connect_unix(qk_qmp **out, const char *path, const qk_qmp_options *opts,
			qk_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return qk_error_set(err, QK_ERR_INVALID, ENAMETOOLONG,
				    "QMP socket \"%s\": the path is longer than %zu bytes", path,
				    sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "QMP: socket: %s", strerror(errno));
	int timeout = opts ? opts->connect_timeout_ms : 30000;
	int r = connect_within(fd, (struct sockaddr *)&sa, sizeof(sa), timeout);
	if (r == -EAGAIN) {
		close(fd);
		return qk_error_set(err, QK_ERR_SYSTEM, EAGAIN,
				    "QMP socket \"%s\": QEMU is not accepting connections (its queue is full: other clients hold the monitor)",
				    path);
	}
	if (r < 0) {
		close(fd);
		return qk_error_set(err, r == -ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM, -r,
				    "QMP socket \"%s\": %s", path, strerror(-r));
	}
	r = qk_qmp_connect_fd(out, fd, opts, err);
	if (r < 0)
		qk_error_prepend(err, "QMP socket \"%s\": ", path);
	return r;
}

int qk_qmp_connect_tcp(qk_qmp **out, const char *host, const char *port,
		       const qk_qmp_options *opts, qk_error **err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "QMP address %s:%s: %s", host,
				    port, gai_strerror(gai));
	int timeout = opts ? opts->connect_timeout_ms : 30000;
	int r = -ENOENT;
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			r = negative_errno();
			continue;
		}
		r = connect_within(fd, ai->ai_addr, ai->ai_addrlen, timeout);
		if (r == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "QMP address %s:%s: %s", host, port,
				    strerror(-r));
	r = qk_qmp_connect_fd(out, fd, opts, err);
	if (r < 0)
		qk_error_prepend(err, "QMP address %s:%s: ", host, port);
	return r;
}
