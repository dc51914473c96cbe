/* SPDX-License-Identifier: MIT */
/* Internals shared by qmp.c and qmp-commands.c. */
#ifndef QKIT_LIB_QMP_PRIVATE_H
#define QKIT_LIB_QMP_PRIVATE_H

#include <stdint.h>

#include <qkit/qmp.h>

/* now + timeout_ms; INT64_MAX (never) when timeout_ms < 0. */
int64_t qmp_deadline_ns(int timeout_ms);

/* Milliseconds left until deadline_ns, rounded up; -1 for never. */
int qmp_ms_until(int64_t deadline_ns);

/* The connection's default command timeout (qk_qmp_options.timeout_ms). */
int qmp_default_timeout_ms(const qk_qmp *qmp);

/*
 * Wait for input until deadline_ns (or the earliest command deadline) and
 * process it. Returns 0, or a negative errno once the connection ended.
 */
int qmp_wait_input(qk_qmp *qmp, int64_t deadline_ns, qk_error **err);

/*
 * For a proxy: called with QEMU's reply message to a command sent with
 * qmp_send_raw() (borrowed, its "id" the one qkit gave), or with msg NULL
 * and err set when the connection ended first.
 */
typedef void (*qmp_raw_reply_fn)(qk_qmp *qmp, json_t *msg, const qk_error *err, void *userdata);

/*
 * Send msg (an object with "execute" or "exec-oob", and maybe "arguments";
 * any "id" is replaced by one of ours) with fds, never waiting for the
 * socket (the rest goes out as the connection is driven) and with no
 * deadline: the client it came from decides how long to wait.
 */
int qmp_send_raw(qk_qmp *qmp, const json_t *msg, const int *fds, size_t n_fds,
		 qmp_raw_reply_fn cb, void *userdata, qk_error **err);

#endif
