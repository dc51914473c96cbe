/* SPDX-License-Identifier: MIT */
/*
 * Errors: what went wrong, said so a person can act on it.
 *
 * A fallible function takes a `qk_error **err` as its last argument. On
 * failure it returns a negative errno and, if err is not NULL and *err is
 * NULL, stores a new error there. The caller owns it and frees it with
 * qk_error_free(). Messages name the field and the value, for example:
 *
 *   devices[2] (disk "root"): format "qcow3" is not one of raw, qcow2
 *
 * One error can carry several problems (validation reports all of them at
 * once); qk_error_message() joins them with newlines.
 */
#ifndef QKIT_ERROR_H
#define QKIT_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_error qk_error;

/* What kind of failure; lets a caller decide without parsing text. */
typedef enum qk_error_kind {
	QK_ERR_INVALID = 1, /* bad input: spec, argument, file content */
	QK_ERR_SYSTEM,      /* a system call failed; see qk_error_errno() */
	QK_ERR_QEMU,        /* QEMU refused to start or exited with an error */
	QK_ERR_QMP,         /* QMP returned an error; see qk_error_qmp_class() */
	QK_ERR_TIMEOUT,     /* a deadline passed */
	QK_ERR_EXITED,      /* QEMU exited while we were waiting for it */
	QK_ERR_PROTOCOL,    /* a peer broke its protocol (malformed QMP, ...) */
	QK_ERR_NOT_FOUND,   /* a named thing (VM, file, binary) does not exist */
} qk_error_kind;

/* The message: every problem, one per line, without a trailing newline. */
const char *qk_error_message(const qk_error *err);

qk_error_kind qk_error_get_kind(const qk_error *err);

/* The errno behind a QK_ERR_SYSTEM error, else 0. */
int qk_error_errno(const qk_error *err);

/* QMP's error class ("GenericError", "DeviceNotFound", ...) or NULL. */
const char *qk_error_qmp_class(const qk_error *err);

/* How many problems the error carries (at least 1). */
size_t qk_error_count(const qk_error *err);

/* Problem i, 0 <= i < qk_error_count(). */
const char *qk_error_problem(const qk_error *err, size_t i);

void qk_error_free(qk_error *err);

/*
 * Producing errors. These are public so that programs built on libqkit can
 * report through the same channel. Each returns -errno_value (or -EINVAL
 * when errno_value is 0) so a function can `return qk_error_set(...)`.
 *
 * qk_error_set(): if err is NULL or *err is already set, it does nothing
 * but return (the first error wins, as in QEMU's Error API).
 * qk_error_add(): appends a problem to *err, creating it if needed; for
 * validators that report everything they find.
 * qk_error_prepend(): adds context in front of every problem of *err
 * ("loading spec.yaml: " + ...). Does nothing when *err is NULL.
 */
int qk_error_set(qk_error **err, qk_error_kind kind, int errno_value,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int qk_error_setv(qk_error **err, qk_error_kind kind, int errno_value,
		  const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
int qk_error_add(qk_error **err, qk_error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void qk_error_prepend(qk_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Attach QMP's error class to *err (no-op if *err is NULL). */
void qk_error_set_qmp_class(qk_error **err, const char *cls);

/* Move src into *dst (if *dst is empty) or free it; src becomes NULL. */
void qk_error_propagate(qk_error **dst, qk_error **src);

#ifdef __cplusplus
}
#endif
#endif
