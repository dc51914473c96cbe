/* SPDX-License-Identifier: MIT */
/* Many QMP clients over one monitor connection; see qmp-proxy.h. */
#include "qmp-proxy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "qmp-private.h"
#include "util.h"

/* As the client library's limits: one message, and descriptors per command. */
#define MAX_MESSAGE (16u << 20)
#define MAX_FDS 16
/* A client that lets this much output pile up (events it does not read) is dropped. */
#define MAX_BACKLOG (16u << 20)

struct client {
	int fd;
	uint64_t serial; /* replies find their client by it: the client may be gone */
	bool negotiated;
	bool oob;
	struct buf in;
	struct buf out;
	int fds[MAX_FDS]; /* received, going with the client's next command */
	size_t n_fds;
};

struct qmp_proxy {
	int listen_fd;
	qk_qmp *qmp;
	int handler;
	json_t *greeting; /* {"QMP": {"version": ..., "capabilities": [...]}} */
	struct client *clients[QMP_PROXY_MAX_CLIENTS];
	size_t n_clients;
	uint64_t next_serial;
};

/* A forwarded command: where its reply goes. */
struct forwarded {
	struct qmp_proxy *proxy;
	uint64_t serial;
	json_t *id; /* the client's, or NULL if it sent none */
};

static void close_fds(struct client *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	c->n_fds = 0;
}

static void drop_client(struct qmp_proxy *proxy, size_t i)
{
	struct client *c = proxy->clients[i];
	close(c->fd);
	close_fds(c);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	proxy->clients[i] = proxy->clients[--proxy->n_clients];
}

static struct client *find_client(struct qmp_proxy *proxy, uint64_t serial, size_t *index)
{
	for (size_t i = 0; i < proxy->n_clients; i++)
		if (proxy->clients[i]->serial == serial) {
			if (index)
				*index = i;
			return proxy->clients[i];
		}
	return NULL;
}

/* Write what the client's socket takes now; false if the client is to go. */
static bool flush_client(struct client *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
		c->out.len -= (size_t)n;
	}
	return true;
}

/* Queue one message for the client; false if the client is to go. */
static bool send_to(struct client *c, const json_t *msg)
{
	_cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
	if (!text || buf_append(&c->out, text, strlen(text)) < 0 || buf_putc(&c->out, '\n') < 0)
		return false;
	if (c->out.len > MAX_BACKLOG) {
		log_warning("QMP proxy: dropping a client that has not read %zu bytes", c->out.len);
		return false;
	}
	return flush_client(c);
}

static void send_or_drop(struct qmp_proxy *proxy, struct client *c, const json_t *msg)
{
	size_t i;
	if (!send_to(c, msg) && find_client(proxy, c->serial, &i))
		drop_client(proxy, i);
}

/* An error reply as QEMU words it, with the client's id when it gave one. */
static void send_error(struct qmp_proxy *proxy, struct client *c, const json_t *id,
		       const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
	if (msg && id)
		json_object_set(msg, "id", (json_t *)id);
	if (msg)
		send_or_drop(proxy, c, msg);
	json_decref(msg);
}

static void on_reply(qk_qmp *qmp, json_t *msg, const qk_error *err, void *userdata)
{
	struct forwarded *f = userdata;
	struct client *c = find_client(f->proxy, f->serial, NULL);
	if (c && msg) {
		json_t *reply = json_copy(msg);
		if (reply && f->id)
			json_object_set(reply, "id", f->id);
		else if (reply)
			json_object_del(reply, "id");
		if (reply)
			send_or_drop(f->proxy, c, reply);
		json_decref(reply);
	} else if (c) {
		send_error(f->proxy, c, f->id, "GenericError", qk_error_message(err));
	}
	json_decref(f->id);
	free(f);
}

static void on_event(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata)
{
	struct qmp_proxy *proxy = userdata;
	json_t *msg = json_pack("{s:s, s:O, s:{s:I, s:I}}", "event", ev->name, "data", ev->data,
				"timestamp", "seconds", (json_int_t)ev->seconds, "microseconds",
				(json_int_t)ev->microseconds);
	if (!msg)
		return;
	for (size_t i = proxy->n_clients; i-- > 0;)
		if (proxy->clients[i]->negotiated)
			send_or_drop(proxy, proxy->clients[i], msg);
	json_decref(msg);
}

/* qmp_capabilities, answered here: the proxy's connection is negotiated already. */
static void negotiate(struct qmp_proxy *proxy, struct client *c, const json_t *msg,
		      const json_t *id)
{
	if (c->negotiated) {
		send_error(proxy, c, id, "CommandNotFound",
			   "Capabilities negotiation is already complete, command ignored");
		return;
	}
	bool oob = false;
	size_t i;
	json_t *cap;
	json_array_foreach(json_object_get(json_object_get(msg, "arguments"), "enable"), i, cap) {
		const char *name = json_string_value(cap);
		if (!name || strcmp(name, "oob") != 0 || !qk_qmp_oob_enabled(proxy->qmp)) {
			_cleanup_free_ char *desc = NULL;
			if (asprintf(&desc, "Capability '%s' not available", name ? name : "?") < 0)
				desc = NULL;
			send_error(proxy, c, id, "GenericError", desc ? desc : "Capability not available");
			return;
		}
		oob = true;
	}
	c->negotiated = true;
	c->oob = oob;
	json_t *reply = json_pack("{s:{}}", "return");
	if (reply && id)
		json_object_set(reply, "id", (json_t *)id);
	if (reply)
		send_or_drop(proxy, c, reply);
	json_decref(reply);
}

static void forward(struct qmp_proxy *proxy, struct client *c, json_t *msg, const json_t *id)
{
	struct forwarded *f = calloc(1, sizeof(*f));
	if (!f)
		return send_error(proxy, c, id, "GenericError", "qkit: out of memory");
	f->proxy = proxy;
	f->serial = c->serial;
	f->id = id ? json_incref((json_t *)id) : NULL;
	qk_error *e = NULL;
	/* The kernel copied the descriptors into QEMU on sendmsg; ours go now. */
	int r = qmp_send_raw(proxy->qmp, msg, c->fds, c->n_fds, on_reply, f, &e);
	close_fds(c);
	if (r < 0) {
		send_error(proxy, c, id, "GenericError", qk_error_message(e));
		json_decref(f->id);
		free(f);
	}
	qk_error_free(e);
}

static void client_message(struct qmp_proxy *proxy, struct client *c, json_t *msg)
{
	if (!json_is_object(msg))
		return send_error(proxy, c, NULL, "GenericError", "QMP input must be a JSON object");
	const json_t *id = json_object_get(msg, "id");
	const char *exec = json_string_value(json_object_get(msg, "execute"));
	const char *oob = json_string_value(json_object_get(msg, "exec-oob"));
	if (!exec && !oob)
		return send_error(proxy, c, id, "GenericError", "QMP input lacks member 'execute'");
	if (exec && strcmp(exec, "qmp_capabilities") == 0)
		return negotiate(proxy, c, msg, id);
	if (!c->negotiated)
		return send_error(proxy, c, id, "CommandNotFound",
				  "Expecting capabilities negotiation with 'qmp_capabilities'");
	if (oob && !c->oob)
		return send_error(proxy, c, id, "GenericError",
				  "Please enable out-of-band first for the session during capabilities negotiation");
	forward(proxy, c, msg, id);
}

/*
 * Parse every complete JSON value in the client's input. QMP does not need
 * a newline between messages, so values are read as a stream.
 */
static void parse_client(struct qmp_proxy *proxy, uint64_t serial)
{
	for (;;) {
		struct client *c = find_client(proxy, serial, NULL);
		if (!c)
			return;
		size_t skip = strspn(c->in.data ? c->in.data : "", " \t\r\n");
		if (skip) {
			memmove(c->in.data, c->in.data + skip, c->in.len - skip + 1);
			c->in.len -= skip;
		}
		if (c->in.len == 0)
			return;
		json_error_t jerr;
		json_t *msg = json_loadb(c->in.data, c->in.len, JSON_DISABLE_EOF_CHECK, &jerr);
		size_t used;
		if (msg) {
			used = jerr.position;
		} else if (json_error_code(&jerr) == json_error_premature_end_of_input) {
			return; /* the rest is still on its way */
		} else {
			/* Resynchronise at the next line, as QEMU's parser would after an error. */
			char *nl = memchr(c->in.data, '\n', c->in.len);
			used = nl ? (size_t)(nl - c->in.data) + 1 : c->in.len;
			char desc[256];
			snprintf(desc, sizeof(desc), "JSON parse error, %s", jerr.text);
			send_error(proxy, c, NULL, "GenericError", desc);
			if (!(c = find_client(proxy, serial, NULL)))
				return;
		}
		memmove(c->in.data, c->in.data + used, c->in.len - used + 1);
		c->in.len -= used;
		if (msg)
			client_message(proxy, c, msg);
		json_decref(msg);
	}
}

/* Read from a client, with any descriptors it sends; false at EOF or error. */
static bool read_client(struct client *c)
{
	if (buf_reserve(&c->in, 65536) < 0)
		return false;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { c->in.data + c->in.len, c->in.cap - c->in.len - 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;
	do
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (c->n_fds < MAX_FDS)
				c->fds[c->n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK;
	if (n == 0)
		return false;
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	return c->in.len <= MAX_MESSAGE;
}

static void accept_client(struct qmp_proxy *proxy)
{
	int fd = accept4(proxy->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->serial = ++proxy->next_serial;
	if (proxy->n_clients == QMP_PROXY_MAX_CLIENTS) {
		/* Said at once, instead of leaving the client waiting for a greeting. */
		log_warning("QMP proxy: refusing a client, %d are connected", QMP_PROXY_MAX_CLIENTS);
		json_t *msg = json_pack("{s:{s:s, s:s}}", "error", "class", "GenericError", "desc",
					"qkit: too many QMP clients on this VM (16)");
		if (msg)
			send_to(c, msg);
		json_decref(msg);
		close(fd);
		buf_free(&c->out);
		free(c);
		return;
	}
	proxy->clients[proxy->n_clients++] = c;
	log_debug("QMP proxy: client %" PRIu64 " connected (%zu now)", c->serial, proxy->n_clients);
	send_or_drop(proxy, c, proxy->greeting);
}

int qmp_proxy_new(struct qmp_proxy **out, int listen_fd, qk_qmp *qmp, qk_error **err)
{
	struct qmp_proxy *proxy = calloc(1, sizeof(*proxy));
	if (!proxy) {
		close(listen_fd);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	proxy->listen_fd = listen_fd;
	proxy->qmp = qmp;
	const json_t *g = qk_qmp_greeting(qmp);
	proxy->greeting = json_pack("{s:{s:O?, s:[]}}", "QMP", "version",
				    json_object_get(g, "version"), "capabilities");
	if (proxy->greeting && qk_qmp_oob_enabled(qmp))
		json_array_append_new(json_object_get(json_object_get(proxy->greeting, "QMP"),
						      "capabilities"),
				      json_string("oob"));
	int r = proxy->greeting ? qk_qmp_add_event_handler(qmp, NULL, on_event, proxy, err)
				: qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (r < 0) {
		proxy->qmp = NULL;
		qmp_proxy_free(proxy);
		return r;
	}
	proxy->handler = r;
	*out = proxy;
	return 0;
}

void qmp_proxy_qmp_gone(struct qmp_proxy *proxy)
{
	if (!proxy)
		return;
	proxy->qmp = NULL;
	while (proxy->n_clients)
		drop_client(proxy, proxy->n_clients - 1);
	if (proxy->listen_fd >= 0)
		close(proxy->listen_fd);
	proxy->listen_fd = -1;
}

void qmp_proxy_free(struct qmp_proxy *proxy)
{
	if (!proxy)
		return;
	if (proxy->qmp && proxy->handler > 0)
		qk_qmp_remove_event_handler(proxy->qmp, proxy->handler);
	qmp_proxy_qmp_gone(proxy);
	json_decref(proxy->greeting);
	free(proxy);
}

size_t qmp_proxy_pollfds(const struct qmp_proxy *proxy, struct pollfd *p)
{
	size_t n = 0;
	if (!proxy || proxy->listen_fd < 0)
		return 0;
	p[n++] = (struct pollfd){ proxy->listen_fd, POLLIN, 0 };
	for (size_t i = 0; i < proxy->n_clients; i++) {
		const struct client *c = proxy->clients[i];
		p[n++] = (struct pollfd){ c->fd, (short)(POLLIN | (c->out.len ? POLLOUT : 0)), 0 };
	}
	return n;
}

void qmp_proxy_dispatch(struct qmp_proxy *proxy, const struct pollfd *p, size_t n)
{
	if (!proxy || n == 0 || proxy->listen_fd < 0)
		return;
	/*
	 * By serial, found by fd: since the poll, an event may have dropped a
	 * client (reordering the array), and handling one client may drop others.
	 */
	uint64_t serials[QMP_PROXY_MAX_CLIENTS];
	short revents[QMP_PROXY_MAX_CLIENTS];
	size_t m = 0;
	for (size_t i = 1; i < n && m < QMP_PROXY_MAX_CLIENTS; i++)
		for (size_t j = 0; j < proxy->n_clients; j++)
			if (p[i].revents && proxy->clients[j]->fd == p[i].fd) {
				serials[m] = proxy->clients[j]->serial;
				revents[m++] = p[i].revents;
			}
	for (size_t k = 0; k < m; k++) {
		size_t i;
		struct client *c = find_client(proxy, serials[k], &i);
		if (!c || !revents[k])
			continue;
		if (revents[k] & POLLOUT && !flush_client(c)) {
			drop_client(proxy, i);
			continue;
		}
		if (!(revents[k] & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (!read_client(c)) {
			log_debug("QMP proxy: client %" PRIu64 " left", c->serial);
			drop_client(proxy, i);
			continue;
		}
		parse_client(proxy, serials[k]);
	}
	if (p[0].revents & POLLIN)
		accept_client(proxy);
}

size_t qmp_proxy_clients(const struct qmp_proxy *proxy)
{
	return proxy ? proxy->n_clients : 0;
}
