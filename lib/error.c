/* SPDX-License-Identifier: MIT */
#include <qkit/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct qk_error {
	qk_error_kind kind;
	int errnum;
	char *qmp_class;
	char **problems;
	size_t count;
	char *joined; /* built on demand by qk_error_message() */
};

/*
 * When memory runs out while reporting, callers still get a usable error:
 * this static one is returned and never freed.
 */
static char oom_text[] = "out of memory";
static char *oom_problems[] = { oom_text };
static qk_error oom_error = {
	.kind = QK_ERR_SYSTEM,
	.errnum = ENOMEM,
	.problems = oom_problems,
	.count = 1,
	.joined = oom_text,
};

static int add_problem(qk_error *e, char *text)
{
	char **p = realloc(e->problems, (e->count + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	e->problems = p;
	e->problems[e->count++] = text;
	free(e->joined);
	e->joined = NULL;
	return 0;
}

static qk_error *error_new(qk_error_kind kind, int errnum, char *text)
{
	qk_error *e = calloc(1, sizeof(*e));
	if (!e || !text || add_problem(e, text) < 0) {
		free(e);
		free(text);
		return &oom_error;
	}
	e->kind = kind;
	e->errnum = errnum;
	return e;
}

__attribute__((format(printf, 1, 0)))
static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static int return_code(int errno_value)
{
	return errno_value > 0 ? -errno_value : -EINVAL;
}

int qk_error_setv(qk_error **err, qk_error_kind kind, int errno_value,
		  const char *fmt, va_list ap)
{
	if (err && !*err)
		*err = error_new(kind, errno_value, vformat(fmt, ap));
	return return_code(errno_value);
}

int qk_error_set(qk_error **err, qk_error_kind kind, int errno_value,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = qk_error_setv(err, kind, errno_value, fmt, ap);
	va_end(ap);
	return r;
}

int qk_error_add(qk_error **err, qk_error_kind kind, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	char *text = vformat(fmt, ap);
	va_end(ap);
	if (!*err) {
		*err = error_new(kind, 0, text);
		return -EINVAL;
	}
	if (*err == &oom_error || !text || add_problem(*err, text) < 0)
		free(text);
	return -EINVAL;
}

void qk_error_prepend(qk_error **err, const char *fmt, ...)
{
	if (!err || !*err || *err == &oom_error)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *prefix = vformat(fmt, ap);
	va_end(ap);
	if (!prefix)
		return;
	qk_error *e = *err;
	for (size_t i = 0; i < e->count; i++) {
		char *s = NULL;
		if (asprintf(&s, "%s%s", prefix, e->problems[i]) < 0)
			continue;
		free(e->problems[i]);
		e->problems[i] = s;
	}
	free(prefix);
	free(e->joined);
	e->joined = NULL;
}

void qk_error_set_qmp_class(qk_error **err, const char *cls)
{
	if (!err || !*err || *err == &oom_error)
		return;
	free((*err)->qmp_class);
	(*err)->qmp_class = cls ? strdup(cls) : NULL;
}

void qk_error_propagate(qk_error **dst, qk_error **src)
{
	if (!src || !*src)
		return;
	if (dst && !*dst)
		*dst = *src;
	else
		qk_error_free(*src);
	*src = NULL;
}

const char *qk_error_message(const qk_error *err)
{
	if (!err)
		return "";
	qk_error *e = (qk_error *)err; /* the joined text is a cache */
	if (e->joined)
		return e->joined;
	if (e->count == 1)
		return e->problems[0];
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < e->count; i++)
		if (buf_printf(&b, "%s%s", i ? "\n" : "", e->problems[i]) < 0) {
			buf_free(&b);
			return e->problems[0];
		}
	e->joined = buf_steal(&b);
	return e->joined ? e->joined : e->problems[0];
}

qk_error_kind qk_error_get_kind(const qk_error *err)
{
	return err ? err->kind : 0;
}

int qk_error_errno(const qk_error *err)
{
	return err ? err->errnum : 0;
}

const char *qk_error_qmp_class(const qk_error *err)
{
	return err ? err->qmp_class : NULL;
}

size_t qk_error_count(const qk_error *err)
{
	return err ? err->count : 0;
}

const char *qk_error_problem(const qk_error *err, size_t i)
{
	return err && i < err->count ? err->problems[i] : NULL;
}

void qk_error_free(qk_error *err)
{
	if (!err || err == &oom_error)
		return;
	for (size_t i = 0; i < err->count; i++)
		free(err->problems[i]);
	if (err->joined && !(err->count == 1 && err->joined == err->problems[0]))
		free(err->joined);
	free(err->problems);
	free(err->qmp_class);
	free(err);
}
