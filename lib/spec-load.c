/* SPDX-License-Identifier: MIT */
/*
 * Reading spec files: YAML (libfyaml) and JSON (jansson) both become the
 * same raw JSON tree. YAML scalars follow the YAML 1.2 core schema for
 * null, booleans and integers (decimal, 0x hex, 0o octal); anything else,
 * floats included, stays a string, so "04.0" is never turned into 4.
 *
 * A file's relative host paths (the schema marks them) are relative to the
 * file's directory, as in docker-compose; a spec loaded from a string keeps
 * them as given, relative to wherever QEMU runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "spec-internal.h"
#include "util.h"

static json_t *plain_scalar(const char *s, size_t len)
{
	char buf[64];
	if (len == 0 || (len == 1 && s[0] == '~') || (len == 4 && (memcmp(s, "null", 4) == 0 ||
								    memcmp(s, "Null", 4) == 0 ||
								    memcmp(s, "NULL", 4) == 0)))
		return json_null();
	if ((len == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "True", 4) == 0 || memcmp(s, "TRUE", 4) == 0)))
		return json_true();
	if ((len == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "False", 5) == 0 || memcmp(s, "FALSE", 5) == 0)))
		return json_false();
	if (len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		const char *p = buf;
		int base = 10;
		bool neg = false;
		if (*p == '-' || *p == '+') {
			neg = *p == '-';
			p++;
		}
		if (p[0] == '0' && p[1] == 'x' && p[2]) {
			base = 16;
			p += 2;
		} else if (p[0] == '0' && p[1] == 'o' && p[2]) {
			base = 8;
			p += 2;
		}
		if (*p && strspn(p, base == 16 ? "0123456789abcdefABCDEF" : base == 8 ? "01234567" : "0123456789") == strlen(p)) {
			errno = 0;
			long long n = strtoll(p, NULL, base);
			if (!errno)
				return json_integer(neg ? -n : n);
		}
	}
	return json_stringn(s, len);
}

static json_t *convert(struct fy_node *n, qk_error **err)
{
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		size_t len;
		const char *s = fy_node_get_scalar(n, &len);
		if (!s)
			return json_null();
		if (fy_node_get_style(n) == FYNS_PLAIN)
			return plain_scalar(s, len);
		json_t *str = json_stringn(s, len);
		if (!str) {
			_cleanup_free_ char *where = fy_node_get_path(n);
			qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: a string that is not UTF-8",
				     where ? where : "YAML");
		}
		return str;
	}
	case FYNT_SEQUENCE: {
		json_t *a = json_array();
		void *iter = NULL;
		struct fy_node *item;
		while ((item = fy_node_sequence_iterate(n, &iter))) {
			json_t *v = convert(item, err);
			if (!v) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
		return a;
	}
	case FYNT_MAPPING: {
		json_t *o = json_object();
		void *iter = NULL;
		struct fy_node_pair *pair;
		while ((pair = fy_node_mapping_iterate(n, &iter))) {
			struct fy_node *k = fy_node_pair_key(pair);
			size_t len;
			const char *key = k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &len) : NULL;
			if (!key) {
				_cleanup_free_ char *where = fy_node_get_path(n);
				json_decref(o);
				qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: a key must be a string",
					     where ? where : "YAML");
				return NULL;
			}
			_cleanup_free_ char *kz = strndup(key, len);
			json_t *v = convert(fy_node_pair_value(pair), err);
			if (!v || !kz) {
				json_decref(v);
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, kz, v);
		}
		return o;
	}
	}
	return NULL;
}

static void collect_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	struct buf *b = user;
	/* Keep the first message only; libfyaml adds source excerpts after it. */
	if (b->len == 0)
		buf_append(b, buf, len);
}

static int load_yaml(const char *text, size_t len, json_t **out, qk_error **err)
{
	struct buf msgs = BUF_INIT;
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = collect_diag;
	dcfg.user = &msgs;
	dcfg.colorize = false;
	dcfg.show_source = false;
	dcfg.show_type = false;
	dcfg.show_module = false;
	dcfg.show_position = true;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT, .diag = diag };
	struct fy_document *doc = diag ? fy_document_build_from_string(&cfg, text, len) : NULL;
	int ret = 0;
	if (!doc) {
		while (msgs.len && (msgs.data[msgs.len - 1] == '\n' || msgs.data[msgs.len - 1] == ' '))
			msgs.data[--msgs.len] = '\0';
		/* "<memory-@0x...>:3:1: error: duplicate key": keep the position and the message. */
		int line = 0, col = 0, skip = 0;
		const char *gt = msgs.len ? strstr(msgs.data, ">:") : NULL;
		if (gt && sscanf(gt, ">:%d:%d: %*[a-z]: %n", &line, &col, &skip) == 2 && skip)
			ret = qk_error_set(err, QK_ERR_INVALID, EINVAL, "YAML line %d, column %d: %s", line, col,
					   gt + skip);
		else
			ret = qk_error_set(err, QK_ERR_INVALID, EINVAL, "YAML: %s",
					   msgs.len ? msgs.data : "not a YAML document");
	} else {
		struct fy_node *root = fy_document_root(doc);
		json_t *tree = root ? convert(root, err) : json_object();
		if (!tree)
			ret = qk_error_set(err, QK_ERR_INVALID, EINVAL, "YAML: cannot convert the document");
		else if (!json_is_object(tree)) {
			json_decref(tree);
			ret = qk_error_set(err, QK_ERR_INVALID, EINVAL, "a spec is a mapping at the top level");
		} else {
			*out = tree;
		}
		fy_document_destroy(doc);
	}
	if (diag)
		fy_diag_destroy(diag);
	buf_free(&msgs);
	return ret;
}

static int load_json(const char *text, size_t len, json_t **out, qk_error **err)
{
	json_error_t jerr;
	json_t *tree = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!tree)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "JSON: line %d column %d: %s", jerr.line,
				    jerr.column, jerr.text);
	if (!json_is_object(tree)) {
		json_decref(tree);
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "a spec is an object at the top level");
	}
	*out = tree;
	return 0;
}

static int load_tree(const char *text, size_t len, qk_spec_format format, json_t **tree,
		     qk_error **err)
{
	return format == QK_SPEC_JSON ? load_json(text, len, tree, err) : load_yaml(text, len, tree, err);
}

/* A spec around tree (taken), with the environment applied unless flags say not. */
static int spec_from_tree(qk_spec **out, json_t *tree, unsigned flags, qk_error **err)
{
	qk_spec *s;
	int ret = qk_spec_new(&s, err);
	if (ret < 0) {
		json_decref(tree);
		return ret;
	}
	json_decref(s->raw);
	s->raw = tree;
	s->strict = flags & QK_SPEC_LOAD_STRICT;
	if (!(flags & QK_SPEC_LOAD_NO_ENV) && (ret = qk_spec_apply_env(s, err)) < 0) {
		qk_spec_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int qk_spec_load_string(qk_spec **out, const char *text, size_t len, qk_spec_format format,
			unsigned flags, qk_error **err)
{
	json_t *tree = NULL;
	int ret = load_tree(text, len, format, &tree, err);
	return ret < 0 ? ret : spec_from_tree(out, tree, flags, err);
}

/*
 * The absolute directory of a spec file, without resolving links (as
 * docker-compose does): "vm.yaml" in /srv is /srv, "../x/vm.yaml" is
 * /srv/../x. malloc'd, or NULL with errno set.
 */
static char *spec_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return NULL;
	if (dir[0] == '/')
		return TAKE_PTR(dir);
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	const char *rel = dir;
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2 + strspn(rel + 2, "/");
	if (strcmp(rel, ".") == 0)
		return TAKE_PTR(cwd);
	char *abs = NULL;
	if (asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", rel) < 0)
		return NULL;
	return abs;
}

static void resolve_value(json_t *obj, const char *key, const struct field *f, const char *dir)
{
	const char *v = json_string_value(json_object_get(obj, key));
	if (!v || !*v || v[0] == '/' || (f->path == PATH_SEARCHED && !strchr(v, '/')) ||
	    (f->path == PATH_SCRIPT && strcmp(v, "no") == 0))
		return;
	while (v[0] == '.' && v[1] == '/')
		v += 2 + strspn(v + 2, "/");
	char *abs = NULL;
	if (strcmp(v, ".") == 0 || !*v)
		abs = strdup(dir);
	else if (asprintf(&abs, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", v) < 0)
		abs = NULL;
	if (abs)
		json_object_set_new(obj, key, json_string(abs));
	free(abs);
}

/*
 * Make the relative host paths of a file's raw tree absolute against dir,
 * walking it with the schema. Values of the wrong type are left for
 * validation to report.
 */
static void resolve_paths(json_t *obj, const struct field *fields, const char *dir)
{
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		const struct field *f = field_find(fields, key);
		if (!f)
			continue;
		if (f->path)
			resolve_value(obj, key, f, dir);
		else if (f->type == FT_OBJ && f->sub && json_is_object(val))
			resolve_paths(val, f->sub, dir);
		else if (f->type == FT_OBJLIST && json_is_array(val)) {
			size_t i;
			json_t *item;
			json_array_foreach(val, i, item) {
				const struct device_kind *k =
					f->sub ? NULL : device_kind_find(json_string_value(json_object_get(item, "kind")));
				if (json_is_object(item) && (f->sub || k))
					resolve_paths(item, f->sub ? f->sub : k->fields, dir);
			}
		}
	}
}

int qk_spec_load_file(qk_spec **out, const char *path, qk_spec_format format, unsigned flags,
		      qk_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qk_error_set(err, errno == ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM, errno,
				    "%s: %s", path, strerror(errno));
	/* fd_read_all, not file_read_all: a spec may come from a pipe (/dev/stdin, <(...)). */
	struct buf b = BUF_INIT;
	int r = fd_read_all(fd, SIZE_MAX, &b);
	if (r < 0) {
		buf_free(&b);
		if (r == -ENOMEM)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "%s: %s", path, strerror(-r));
	}
	if (format == QK_SPEC_AUTO) {
		size_t l = strlen(path);
		format = l >= 5 && strcmp(path + l - 5, ".json") == 0 ? QK_SPEC_JSON : QK_SPEC_YAML;
	}
	json_t *tree = NULL;
	int ret = load_tree(b.data ? b.data : "", b.len, format, &tree, err);
	buf_free(&b);
	if (ret < 0) {
		qk_error_prepend(err, "%s: ", path);
		return ret;
	}
	_cleanup_free_ char *dir = spec_dir(path);
	if (!dir) {
		int e = errno;
		json_decref(tree);
		return qk_error_set(err, QK_ERR_SYSTEM, e, "%s: the spec's directory: %s", path, strerror(e));
	}
	resolve_paths(tree, spec_fields, dir);
	ret = spec_from_tree(out, tree, flags, err);
	if (ret < 0)
		qk_error_prepend(err, "%s: ", path);
	return ret;
}
