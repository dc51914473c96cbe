/* SPDX-License-Identifier: MIT */
/*
 * The spec object and its setters. Setters write into the same raw tree a
 * file loads into, after checking the path and the type against the
 * schema, so the C API and the file format cannot drift apart.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "spec-internal.h"
#include "util.h"

int qk_spec_new(qk_spec **out, qk_error **err)
{
	qk_spec *s = calloc(1, sizeof(*s));
	if (!s || !(s->raw = json_object())) {
		free(s);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

void qk_spec_free(qk_spec *spec)
{
	if (!spec)
		return;
	for (size_t i = 0; i < spec->nhandles; i++)
		free(spec->handles[i]);
	free(spec->handles);
	json_decref(spec->raw);
	free(spec);
}

static qk_device *new_handle(qk_spec *spec, json_t *obj, const struct field *fields, const char *kind)
{
	qk_device **h = realloc(spec->handles, (spec->nhandles + 1) * sizeof(*h));
	if (!h)
		return NULL;
	spec->handles = h;
	qk_device *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	*d = (qk_device){ .spec = spec, .obj = obj, .fields = fields, .kind = kind };
	spec->handles[spec->nhandles++] = d;
	return d;
}

/*
 * Walk path (dots between parts) from obj along fields, creating sections
 * on the way. On success *parent is the object to set *key in and *f the
 * field (NULL for an entry of a mapping such as machine.options).
 */
static int resolve(json_t *obj, const struct field *fields, const char *path, json_t **parent,
		   const struct field **f, const char **key, qk_error **err)
{
	const char *part = path;
	for (;;) {
		const char *dot = strchr(part, '.');
		size_t len = dot ? (size_t)(dot - part) : strlen(part);
		char name[64];
		if (len == 0 || len >= sizeof(name))
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "\"%s\" is not a field path", path);
		memcpy(name, part, len);
		name[len] = '\0';
		const struct field *fld = field_find(fields, name);
		if (!fld)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: unknown field \"%s\"", path, name);
		if (!dot) {
			*parent = obj;
			*f = fld;
			*key = fld->name;
			return 0;
		}
		if (fld->type != FT_OBJ && fld->type != FT_MAP)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: \"%s\" has no fields", path, name);
		json_t *sub = json_object_get(obj, fld->name);
		if (!json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(obj, fld->name, sub);
		}
		if (fld->type == FT_MAP) {
			if (!props_key_valid(dot + 1))
				return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: \"%s\" is not a valid property name",
						    path, dot + 1);
			*parent = sub;
			*f = NULL;
			*key = dot + 1;
			return 0;
		}
		obj = sub;
		fields = fld->sub;
		part = dot + 1;
	}
}

static bool type_fits(const struct field *f, json_t *value)
{
	if (!f)
		return json_is_string(value) || json_is_integer(value) || json_is_boolean(value);
	switch (f->type) {
	case FT_STR:
	case FT_ID:
	case FT_ENUM:
		return json_is_string(value);
	case FT_INT:
		return json_is_integer(value);
	case FT_SIZE:
		return json_is_integer(value) || json_is_string(value);
	case FT_BOOL:
		return json_is_boolean(value);
	default:
		return false;
	}
}

static int set_value(json_t *root, const struct field *fields, const char *path, json_t *value,
		     qk_error **err)
{
	json_t *parent;
	const struct field *f = NULL;
	const char *key;
	int ret = value ? resolve(root, fields, path, &parent, &f, &key, err)
			: qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (ret < 0) {
		json_decref(value);
		return ret;
	}
	if (!type_fits(f, value)) {
		_cleanup_free_ char *r = value_repr(value);
		json_decref(value);
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: %s is the wrong type for this field",
				    path, r);
	}
	json_object_set_new(parent, key, value);
	return 0;
}

static int append_value(json_t *root, const struct field *fields, const char *path, const char *value,
			qk_error **err)
{
	json_t *parent;
	const struct field *f = NULL;
	const char *key;
	int ret = resolve(root, fields, path, &parent, &f, &key, err);
	if (ret < 0)
		return ret;
	if (!f || f->type != FT_STRLIST)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s is not a list of strings", path);
	json_t *list = json_object_get(parent, key);
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(parent, key, list);
	}
	return json_array_append_new(list, json_string(value)) < 0
		       ? qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: value is not UTF-8", path)
		       : 0;
}

static int add_item(qk_spec *spec, json_t *root, const struct field *fields, const char *path,
		    qk_device **out, qk_error **err)
{
	json_t *parent;
	const struct field *f = NULL;
	const char *key;
	int ret = resolve(root, fields, path, &parent, &f, &key, err);
	if (ret < 0)
		return ret;
	if (!f || f->type != FT_OBJLIST || !f->sub)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s is not a list of items", path);
	json_t *list = json_object_get(parent, key);
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(parent, key, list);
	}
	json_t *item = json_object();
	json_array_append_new(list, item);
	qk_device *h = new_handle(spec, item, f->sub, NULL);
	if (!h)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (out)
		*out = h;
	return 0;
}

static json_t *string_value(const char *s)
{
	return s ? json_string(s) : NULL;
}

int qk_spec_set_string(qk_spec *spec, const char *path, const char *value, qk_error **err)
{
	return set_value(spec->raw, spec_fields, path, string_value(value), err);
}

int qk_spec_set_int(qk_spec *spec, const char *path, long long value, qk_error **err)
{
	return set_value(spec->raw, spec_fields, path, json_integer(value), err);
}

int qk_spec_set_bool(qk_spec *spec, const char *path, bool value, qk_error **err)
{
	return set_value(spec->raw, spec_fields, path, json_boolean(value), err);
}

int qk_spec_append_string(qk_spec *spec, const char *path, const char *value, qk_error **err)
{
	return append_value(spec->raw, spec_fields, path, value, err);
}

int qk_spec_add_item(qk_spec *spec, const char *path, qk_device **out, qk_error **err)
{
	return add_item(spec, spec->raw, spec_fields, path, out, err);
}

int qk_spec_unset(qk_spec *spec, const char *path, qk_error **err)
{
	json_t *parent;
	const struct field *f = NULL;
	const char *key;
	int ret = resolve(spec->raw, spec_fields, path, &parent, &f, &key, err);
	if (ret < 0)
		return ret;
	json_object_del(parent, key);
	return 0;
}

int qk_spec_find_device(qk_spec *spec, const char *kind, size_t n, qk_device **out,
			qk_error **err)
{
	json_t *devs = json_object_get(spec->raw, "devices");
	size_t i;
	json_t *dev;
	json_array_foreach(devs, i, dev) {
		const char *k = json_string_value(json_object_get(dev, "kind"));
		const struct device_kind *dk = device_kind_find(k);
		if (!json_is_object(dev) || !dk || (kind && strcmp(dk->name, kind) != 0) || n-- > 0)
			continue;
		qk_device *h = new_handle(spec, dev, dk->fields, dk->name);
		if (!h)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		*out = h;
		return 0;
	}
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "the spec has no %s%sdevice",
			    kind ? kind : "", kind ? " " : "");
}

static const char *kind_names[64];

static void fill_kind_names(void)
{
	for (size_t i = 0; device_kinds[i].name && i < ARRAY_SIZE(kind_names) - 1; i++)
		kind_names[i] = device_kinds[i].name;
}

const char *const *qk_spec_device_kinds(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill_kind_names);
	return kind_names;
}

int qk_spec_add_device(qk_spec *spec, const char *kind, qk_device **out, qk_error **err)
{
	const struct device_kind *k = device_kind_find(kind);
	if (!k)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "kind \"%s\" is not a device kind", kind);
	json_t *devs = json_object_get(spec->raw, "devices");
	if (!json_is_array(devs)) {
		devs = json_array();
		json_object_set_new(spec->raw, "devices", devs);
	}
	json_t *dev = json_pack("{s:s}", "kind", k->name);
	json_array_append_new(devs, dev);
	qk_device *h = new_handle(spec, dev, k->fields, k->name);
	if (!h)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (out)
		*out = h;
	return 0;
}

static int add_with(qk_spec *spec, const char *kind, const char *field, const char *value,
		    qk_device **out, qk_error **err)
{
	qk_device *d;
	int ret = qk_spec_add_device(spec, kind, &d, err);
	if (ret < 0)
		return ret;
	if (value && (ret = qk_device_set_string(d, field, value, err)) < 0)
		return ret;
	if (out)
		*out = d;
	return 0;
}

int qk_spec_add_disk(qk_spec *spec, const char *file, qk_device **out, qk_error **err)
{
	return add_with(spec, "disk", "file", file, out, err);
}

int qk_spec_add_net(qk_spec *spec, const char *type, qk_device **out, qk_error **err)
{
	return add_with(spec, "net", "type", type, out, err);
}

int qk_spec_add_fs(qk_spec *spec, const char *type, const char *tag, qk_device **out, qk_error **err)
{
	qk_device *d;
	int ret = add_with(spec, "fs", "type", type, &d, err);
	if (ret < 0 || (ret = qk_device_set_string(d, "tag", tag, err)) < 0)
		return ret;
	if (out)
		*out = d;
	return 0;
}

/* "id" is every device's field without being in the kind's table. */
static int device_set(qk_device *dev, const char *field, json_t *value, qk_error **err)
{
	if (dev->kind && strcmp(field, "id") == 0) {
		if (!json_is_string(value)) {
			json_decref(value);
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "id must be a string");
		}
		json_object_set_new(dev->obj, "id", value);
		return 0;
	}
	int ret = set_value(dev->obj, dev->fields, field, value, err);
	if (ret < 0 && dev->kind)
		qk_error_prepend(err, "%s device: ", dev->kind);
	return ret;
}

int qk_device_set_string(qk_device *dev, const char *field, const char *value, qk_error **err)
{
	return device_set(dev, field, string_value(value), err);
}

int qk_device_set_int(qk_device *dev, const char *field, long long value, qk_error **err)
{
	return device_set(dev, field, json_integer(value), err);
}

int qk_device_set_bool(qk_device *dev, const char *field, bool value, qk_error **err)
{
	return device_set(dev, field, json_boolean(value), err);
}

int qk_device_append_string(qk_device *dev, const char *field, const char *value, qk_error **err)
{
	return append_value(dev->obj, dev->fields, field, value, err);
}

int qk_device_add_item(qk_device *dev, const char *field, qk_device **out, qk_error **err)
{
	return add_item(dev->spec, dev->obj, dev->fields, field, out, err);
}

int qk_spec_validate(const qk_spec *spec, qk_error **err)
{
	return qk_spec_validate_for(spec, 0, err);
}

int qk_spec_validate_for(const qk_spec *spec, unsigned qemu_version, qk_error **err)
{
	struct vctx v;
	json_t *n = spec_normalize(spec, qemu_version, &v, err);
	if (!n)
		return -EINVAL;
	json_decref(n);
	return 0;
}

int qk_qemu_version_parse(const char *text, unsigned *out, qk_error **err)
{
	unsigned major, minor = 0, micro = 0;
	char tail;
	int n = text ? sscanf(text, "%u.%u.%u%c", &major, &minor, &micro, &tail) : 0;
	if (n < 2 || n > 3 || major > 99 || minor > 99 || micro > 99 || text[0] < '0' || text[0] > '9' ||
	    strspn(text, "0123456789.") != strlen(text))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "QEMU version \"%s\" is not like 7.2 or 7.2.1",
				    text ? text : "");
	*out = major * 10000 + minor * 100 + micro;
	return 0;
}

int qk_spec_to_json(const qk_spec *spec, json_t **out, qk_error **err)
{
	return qk_spec_to_json_for(spec, 0, out, err);
}

int qk_spec_to_json_for(const qk_spec *spec, unsigned qemu_version, json_t **out, qk_error **err)
{
	struct vctx v;
	json_t *n = spec_normalize(spec, qemu_version, &v, err);
	if (!n)
		return -EINVAL;
	*out = n;
	return 0;
}

static char *normal_string(const qk_spec *spec, const char *section, const char *key)
{
	struct vctx v;
	json_t *n = spec_normalize(spec, 0, &v, NULL);
	json_t *o = section ? json_object_get(n, section) : n;
	const char *s = json_string_value(json_object_get(o, key));
	char *copy = s ? strdup(s) : NULL;
	json_decref(n);
	return copy;
}

char *qk_spec_get_arch(const qk_spec *spec)
{
	return normal_string(spec, NULL, "arch");
}

char *qk_spec_console_name(const qk_spec *spec)
{
	return normal_string(spec, "console", "name");
}

long long qk_spec_timeout(const qk_spec *spec)
{
	json_t *t = json_object_get(spec->raw, "timeout");
	return json_is_integer(t) ? json_integer_value(t) : 0;
}
