/* SPDX-License-Identifier: MIT */
#include "props.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int props_escape(struct buf *b, const char *value)
{
	for (const char *p = value; *p; p++) {
		int r = *p == ',' ? buf_puts(b, ",,") : buf_putc(b, *p);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool props_key_valid(const char *key)
{
	if (!key || !*key || *key == '.')
		return false;
	for (const char *p = key; *p; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return false;
		} else if (!key_char(*p)) {
			return false;
		}
	}
	return true;
}

static int put_scalar(struct buf *out, const char *key, const json_t *v, qk_error **err)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return props_escape(out, json_string_value(v));
	case JSON_INTEGER:
		return buf_printf(out, "%lld", (long long)json_integer_value(v));
	case JSON_TRUE:
		return buf_puts(out, "on");
	case JSON_FALSE:
		return buf_puts(out, "off");
	default:
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "property %s: a %s has no comma-syntax form", key,
				    json_is_null(v) ? "null" : json_is_real(v) ? "real number" : "list");
	}
}

static int put_member(struct buf *out, bool *first, const char *key, const json_t *v,
		      qk_error **err);

static int put_pair(struct buf *out, bool *first, const char *key, const json_t *v,
		    qk_error **err)
{
	int r;
	if (!*first && (r = buf_putc(out, ',')) < 0)
		return r;
	*first = false;
	if ((r = buf_puts(out, key)) < 0 || (r = buf_putc(out, '=')) < 0)
		return r;
	return put_scalar(out, key, v, err);
}

static int put_list(struct buf *out, bool *first, const char *key, const json_t *list,
		    qk_error **err)
{
	size_t i;
	json_t *item;
	json_array_foreach(list, i, item) {
		int r;
		/* QAPI's String wrapper: the legacy parsers take the key repeated. */
		const json_t *str = json_is_object(item) && json_object_size(item) == 1
					    ? json_object_get(item, "str")
					    : NULL;
		if (str)
			r = put_pair(out, first, key, str, err);
		else if (json_is_object(item) || json_is_array(item)) {
			char *sub = NULL;
			if (asprintf(&sub, "%s.%zu", key, i) < 0)
				return -ENOMEM;
			r = put_member(out, first, sub, item, err);
			free(sub);
		} else
			r = put_pair(out, first, key, item, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int put_member(struct buf *out, bool *first, const char *key, const json_t *v,
		      qk_error **err)
{
	if (!props_key_valid(key))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "property name \"%s\" is not valid (letters, digits, '-', '_', '.')",
				    key);
	if (json_is_array(v))
		return put_list(out, first, key, v, err);
	if (!json_is_object(v))
		return put_pair(out, first, key, v, err);
	const char *k;
	const json_t *sub;
	json_object_foreach((json_t *)v, k, sub) {
		char *dotted = NULL;
		if (asprintf(&dotted, "%s.%s", key, k) < 0)
			return -ENOMEM;
		int r = put_member(out, first, dotted, sub, err);
		free(dotted);
		if (r < 0)
			return r;
	}
	return 0;
}

int props_to_comma(const json_t *props, bool bare_first, struct buf *out, qk_error **err)
{
	bool first = true;
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)props, key, v) {
		int r;
		if (first && bare_first) {
			if (!json_is_string(v))
				return qk_error_set(err, QK_ERR_INVALID, EINVAL,
						    "property %s must be a string", key);
			r = props_escape(out, json_string_value(v));
			first = false;
		} else {
			r = put_member(out, &first, key, v, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

char *props_to_json(const json_t *props)
{
	return json_dumps(props, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
