/* SPDX-License-Identifier: MIT */
/*
 * The public QMP socket of a supervised VM, served by the supervisor over
 * its own monitor connection, so any number of clients can use it at once.
 * QEMU's own socket monitor takes one client at a time; a second `qkit qmp`
 * would wait until the first left.
 *
 * Each client gets a greeting (QEMU's version; "oob" when the supervisor's
 * connection has it), negotiates capabilities with the proxy, and then
 * every command it sends goes to QEMU with an id of the supervisor's; the
 * reply goes back to that client with the client's own id. Events go to
 * every client that has negotiated. Descriptors a client sends (getfd,
 * add-fd) go with its next command.
 */
#ifndef QKIT_LIB_QMP_PROXY_H
#define QKIT_LIB_QMP_PROXY_H

#include <poll.h>
#include <stddef.h>

#include <qkit/qmp.h>

/* How many clients at once; one more is told so and closed. */
#define QMP_PROXY_MAX_CLIENTS 16
/* The most pollfds qmp_proxy_pollfds() fills. */
#define QMP_PROXY_MAX_POLLFDS (1 + QMP_PROXY_MAX_CLIENTS)

struct qmp_proxy;

/* Serve listen_fd (taken, also on failure) over qmp (borrowed). */
int qmp_proxy_new(struct qmp_proxy **out, int listen_fd, qk_qmp *qmp, qk_error **err);

/* Closes every client and the listening socket. Accepts NULL. */
void qmp_proxy_free(struct qmp_proxy *proxy);

/*
 * The connection to QEMU is gone (call before freeing it, or right after):
 * clients are closed, as QEMU's own monitor would close them, and the
 * socket no longer accepts.
 */
void qmp_proxy_qmp_gone(struct qmp_proxy *proxy);

/* Fill p (room for QMP_PROXY_MAX_POLLFDS) with what to poll; returns how many. */
size_t qmp_proxy_pollfds(const struct qmp_proxy *proxy, struct pollfd *p);

/* Handle what poll() reported for the n entries qmp_proxy_pollfds() filled. */
void qmp_proxy_dispatch(struct qmp_proxy *proxy, const struct pollfd *p, size_t n);

/* How many clients are connected (for tests and logs). */
size_t qmp_proxy_clients(const struct qmp_proxy *proxy);

#endif
