/* SPDX-License-Identifier: MIT */
/*
 * The schema engine: walks what the user wrote with a field table, reports
 * every problem with the field and the value, and builds the normal object
 * (defaults filled in, sizes in bytes) in table order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "spec-internal.h"
#include "util.h"

void vproblem(struct vctx *v, const char *where, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	v->problems++;
	if (n < 0) {
		qk_error_add(v->err, QK_ERR_INVALID, "out of memory");
		return;
	}
	if (where && *where)
		qk_error_add(v->err, QK_ERR_INVALID, "%s: %s", where, msg);
	else
		qk_error_add(v->err, QK_ERR_INVALID, "%s", msg);
	free(msg);
}

const struct field *field_find(const struct field *fields, const char *name)
{
	for (const struct field *f = fields; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static void put_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else if (*p == '\t')
			buf_puts(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\x%02x", *p);
		else
			buf_putc(b, (char)*p);
	}
	buf_putc(b, '"');
}

char *value_repr(const json_t *value)
{
	struct buf b = BUF_INIT;
	switch (json_typeof(value)) {
	case JSON_STRING:
		put_quoted(&b, json_string_value(value));
		break;
	case JSON_INTEGER:
		buf_printf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		break;
	case JSON_REAL:
		buf_printf(&b, "%g", json_real_value(value));
		break;
	case JSON_TRUE:
		buf_puts(&b, "true");
		break;
	case JSON_FALSE:
		buf_puts(&b, "false");
		break;
	case JSON_NULL:
		buf_puts(&b, "null");
		break;
	case JSON_ARRAY:
		buf_puts(&b, "a list");
		break;
	case JSON_OBJECT:
		buf_puts(&b, "a mapping");
		break;
	}
	return buf_steal(&b);
}

long long parse_size(const char *s)
{
	static const struct {
		char c;
		int shift;
	} units[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	int shift = 0;
	if (*end) {
		char c = *end;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (units[i].c == c)
				shift = units[i].shift;
		if (!shift)
			return -1;
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (n > (unsigned long long)INT64_MAX >> shift)
		return -1;
	return (long long)(n << shift);
}

char *format_size(long long bytes)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = { { "T", 40 }, { "G", 30 }, { "M", 20 }, { "K", 10 } };
	char *s = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		long long unit = 1LL << units[i].shift;
		if (bytes >= unit && bytes % unit == 0) {
			if (asprintf(&s, "%lld%s", bytes / unit, units[i].suffix) < 0)
				return NULL;
			return s;
		}
	}
	if (asprintf(&s, "%lld", bytes) < 0)
		return NULL;
	return s;
}

bool id_valid(const char *id)
{
	/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
	if (!id || !((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z')))
		return false;
	for (const char *p = id + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			return false;
	return strlen(id) <= 127;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	size_t d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

static void unknown_key(struct vctx *v, const struct field *fields, const char *key,
			const char *where)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (const struct field *f = fields; f->name; f++) {
		size_t d = edit_distance(key, f->name);
		if (d < best_d) {
			best_d = d;
			best = f->name;
		}
	}
	struct buf b = BUF_INIT;
	put_quoted(&b, key);
	if (best)
		vproblem(v, where, "unknown key %s (did you mean \"%s\"?)", b.data, best);
	else
		vproblem(v, where, "unknown key %s", b.data);
	buf_free(&b);
}

static char *choices_text(const char *const *choices)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; choices[i]; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", choices[i]);
	return buf_steal(&b);
}

static char *join_where(const char *where, const char *name)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", where && *where ? where : "", where && *where ? "." : "",
		     name) < 0)
		return NULL;
	return s;
}

/* A default from the table, in the type the field takes. */
static json_t *default_value(const struct field *f)
{
	switch (f->type) {
	case FT_INT:
		return json_integer(strtoll(f->def, NULL, 0));
	case FT_BOOL:
		return json_boolean(strcmp(f->def, "true") == 0);
	case FT_SIZE:
		return json_integer(parse_size(f->def));
	case FT_STRLIST: {
		json_t *l = json_array();
		json_array_append_new(l, json_string(f->def));
		return l;
	}
	default:
		return json_string(f->def);
	}
}

/* "count "two" is not an integer", or "devices is a mapping, not a list". */
static void type_problem(struct vctx *v, const char *where, const char *label, const json_t *val,
			 const char *want, const char *hint)
{
	_cleanup_free_ char *r = value_repr(val);
	if (json_is_object(val) || json_is_array(val))
		vproblem(v, where, "%s is %s, not %s", label, r, want);
	else
		vproblem(v, where, "%s %s is not %s%s", label, r, want, hint);
}

static bool check_int(struct vctx *v, const struct field *f, const json_t *val,
		      const char *where, const char *label)
{
	if (!json_is_integer(val)) {
		type_problem(v, where, label, val, "an integer", "");
		return false;
	}
	long long n = json_integer_value(val);
	if ((f->min || f->max) && (n < f->min || n > f->max)) {
		vproblem(v, where, "%s %lld is not in %lld..%lld", label, n, f->min, f->max);
		return false;
	}
	return true;
}

/* Check one value; returns the normal value (new reference) or NULL. */
static json_t *normalize_value(struct vctx *v, const struct field *f, const json_t *val,
			       const char *where)
{
	_cleanup_free_ char *r = value_repr(val);
	const char *name = f->name;
	switch (f->type) {
	case FT_STR:
		if (!json_is_string(val)) {
			type_problem(v, where, name, val, "a string",
				     json_is_integer(val) || json_is_real(val) || json_is_boolean(val) ? " (quote it)" : "");
			return NULL;
		}
		return json_string(json_string_value(val));
	case FT_ID:
		if (!json_is_string(val)) {
			type_problem(v, where, name, val, "a string", "");
			return NULL;
		}
		if (!id_valid(json_string_value(val))) {
			vproblem(v, where,
				 "%s %s is not a valid id (a letter, then letters, digits, '-', '.', '_')",
				 name, r);
			return NULL;
		}
		return json_string(json_string_value(val));
	case FT_INT:
		return check_int(v, f, val, where, name) ? json_integer(json_integer_value(val))
							 : NULL;
	case FT_BOOL:
		if (!json_is_boolean(val)) {
			type_problem(v, where, name, val, "a boolean", " (true or false)");
			return NULL;
		}
		return json_boolean(json_is_true(val));
	case FT_SIZE: {
		long long n = json_is_integer(val) ? json_integer_value(val)
			      : json_is_string(val) ? parse_size(json_string_value(val))
						    : -1;
		if (n < 0) {
			vproblem(v, where, "%s %s is not a size (bytes, or a number with K, M, G or T)",
				 name, r);
			return NULL;
		}
		if ((f->min || f->max) && (n < f->min || n > f->max)) {
			_cleanup_free_ char *lo = format_size(f->min);
			_cleanup_free_ char *hi = format_size(f->max);
			vproblem(v, where, "%s %s is not in %s..%s", name, r, lo, hi);
			return NULL;
		}
		return json_integer(n);
	}
	case FT_ENUM:
		if (json_is_string(val))
			for (size_t i = 0; f->choices[i]; i++)
				if (strcmp(f->choices[i], json_string_value(val)) == 0)
					return json_string(f->choices[i]);
		{
			_cleanup_free_ char *c = choices_text(f->choices);
			vproblem(v, where, "%s %s is not one of %s", name, r, c);
		}
		return NULL;
	case FT_STRLIST:
	case FT_INTLIST: {
		bool ints = f->type == FT_INTLIST;
		json_t *out = json_array();
		if (!json_is_array(val)) {
			/* A single item may stand for a list of one. */
			if ((!ints && json_is_string(val)) || (ints && json_is_integer(val))) {
				json_t *one = normalize_value(v, &(struct field){ .name = name,
										  .type = ints ? FT_INT : FT_STR,
										  .min = f->min,
										  .max = f->max },
							     val, where);
				if (one)
					json_array_append_new(out, one);
				return out;
			}
			type_problem(v, where, name, val, "a list", "");
			json_decref(out);
			return NULL;
		}
		size_t i;
		json_t *item;
		json_array_foreach(val, i, item) {
			_cleanup_free_ char *label = NULL;
			if (asprintf(&label, "%s[%zu]", name, i) < 0)
				continue;
			if (ints) {
				if (check_int(v, f, item, where, label))
					json_array_append_new(out, json_integer(json_integer_value(item)));
			} else if (!json_is_string(item)) {
				type_problem(v, where, label, item, "a string", "");
			} else {
				json_array_append_new(out, json_string(json_string_value(item)));
			}
		}
		return out;
	}
	case FT_MAP: {
		if (!json_is_object(val)) {
			type_problem(v, where, name, val, "a mapping", "");
			return NULL;
		}
		json_t *out = json_object();
		const char *k;
		json_t *item;
		json_object_foreach((json_t *)val, k, item) {
			if (!props_key_valid(k)) {
				struct buf b = BUF_INIT;
				put_quoted(&b, k);
				vproblem(v, where, "%s: key %s is not a valid property name", name,
					 b.data);
				buf_free(&b);
			} else if (json_is_string(item) || json_is_integer(item) ||
				   json_is_boolean(item)) {
				json_object_set(out, k, item);
			} else {
				_cleanup_free_ char *ir = value_repr(item);
				vproblem(v, where, "%s.%s %s is not a string, integer or boolean", name,
					 k, ir);
			}
		}
		return out;
	}
	case FT_OBJ: {
		if (!json_is_object(val)) {
			type_problem(v, where, name, val, "a mapping", "");
			return NULL;
		}
		_cleanup_free_ char *sub = join_where(where, name);
		json_t *out = json_object();
		schema_normalize(v, f->sub, val, out, sub);
		return out;
	}
	case FT_OBJLIST: {
		if (!json_is_array(val)) {
			type_problem(v, where, name, val, "a list", "");
			return NULL;
		}
		json_t *out = json_array();
		size_t i;
		json_t *item;
		json_array_foreach(val, i, item) {
			_cleanup_free_ char *label = NULL;
			if (asprintf(&label, "%s[%zu]", name, i) < 0)
				continue;
			_cleanup_free_ char *sub = join_where(where, label);
			if (!json_is_object(item)) {
				type_problem(v, where, label, item, "a mapping", "");
				continue;
			}
			json_t *o = json_object();
			schema_normalize(v, f->sub, item, o, sub);
			json_array_append_new(out, o);
		}
		return out;
	}
	}
	return NULL;
}

void schema_normalize(struct vctx *v, const struct field *fields, const json_t *in,
		      json_t *out, const char *where)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)in, key, val)
		if (!field_find(fields, key))
			unknown_key(v, fields, key, where);

	for (const struct field *f = fields; f->name; f++) {
		json_t *given = json_object_get(in, f->name);
		/* Lists of objects without a table (devices) are the caller's. */
		if (f->type == FT_OBJLIST && !f->sub)
			continue;
		if (given && !json_is_null(given)) {
			json_t *n = normalize_value(v, f, given, where);
			/*
			 * A bad value was reported; its default keeps the tree
			 * complete so the checks after this one need not care.
			 */
			if (!n && f->def && f->type != FT_OBJ)
				n = default_value(f);
			else if (!n && f->def) {
				json_t *empty = json_object();
				n = json_object();
				schema_normalize(&(struct vctx){ .err = NULL, .arch = v->arch }, f->sub, empty, n, NULL);
				json_decref(empty);
			}
			if (n)
				json_object_set_new(out, f->name, n);
		} else if (f->def && f->type == FT_OBJ) {
			/* A section left out still gets its defaults. */
			json_t *empty = json_object();
			json_t *n = normalize_value(v, f, empty, where);
			json_decref(empty);
			if (n)
				json_object_set_new(out, f->name, n);
		} else if (f->def) {
			json_object_set_new(out, f->name, default_value(f));
		} else if (f->required) {
			vproblem(v, where, "%s is required", f->name);
		}
	}
}
