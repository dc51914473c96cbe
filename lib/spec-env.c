/* SPDX-License-Identifier: MIT */
/*
 * The environment overrides, in one place (documented in <qkit/spec.h> and
 * qkit-spec(5)). They write into the raw tree like the setters do, so the
 * schema checks them like anything in a file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spec-internal.h"
#include "util.h"

/* QKIT_name, else VMTEST_name (or the alternative vmtest name); NULL if unset or empty. */
static const char *env(const char *qkit, const char *vmtest, const char *vmtest_alt)
{
	const char *v = getenv(qkit);
	if (v && *v)
		return v;
	v = getenv(vmtest);
	if (v && *v)
		return v;
	v = vmtest_alt ? getenv(vmtest_alt) : NULL;
	return v && *v ? v : NULL;
}

/* Words split at spaces and tabs (no quoting, as vmtest does). */
static json_t *words(const char *s)
{
	json_t *a = json_array();
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;
	for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; w; w = strtok_r(NULL, " \t\n", &save))
		json_array_append_new(a, json_string(w));
	return a;
}

static json_t *section(json_t *raw, const char *name)
{
	json_t *s = json_object_get(raw, name);
	if (!json_is_object(s)) {
		s = json_object();
		json_object_set_new(raw, name, s);
	}
	return s;
}

int qk_spec_apply_env(qk_spec *spec, qk_error **err)
{
	json_t *raw = spec->raw;
	const char *v;

	if ((v = env("QKIT_QEMU", "VMTEST_QEMU", NULL))) {
		json_t *w = words(v);
		if (json_array_size(w) == 0) {
			json_decref(w);
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "QKIT_QEMU \"%s\" names no binary", v);
		}
		json_t *qemu = section(raw, "qemu");
		json_object_set(qemu, "binary", json_array_get(w, 0));
		json_array_remove(w, 0);
		json_t *args = json_object_get(qemu, "args");
		if (json_is_array(args))
			json_array_extend(w, args);
		json_object_set_new(qemu, "args", w);
	}
	if ((v = env("QKIT_ARCH", "VMTEST_ARCH", NULL)))
		json_object_set_new(raw, "arch", json_string(v));
	if ((v = env("QKIT_KERNEL", "VMTEST_KERNEL", NULL)))
		json_object_set_new(section(raw, "boot"), "kernel", json_string(v));
	if ((v = env("QKIT_INITRD", "VMTEST_INITRAMFS", "VMTEST_INITRD")))
		json_object_set_new(section(raw, "boot"), "initrd", json_string(v));
	if ((v = env("QKIT_APPEND", "VMTEST_APPEND", NULL))) {
		json_t *boot = section(raw, "boot");
		const char *old = json_string_value(json_object_get(boot, "append"));
		char *line = NULL;
		if (asprintf(&line, "%s%s%s", v, old ? " " : "", old ? old : "") < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		json_object_set_new(boot, "append", json_string(line));
		free(line);
	}
	if ((v = env("QKIT_QEMU_APPEND", "VMTEST_QEMU_APPEND", NULL))) {
		json_t *extra = json_object_get(raw, "extra-args");
		if (!json_is_array(extra)) {
			extra = json_array();
			json_object_set_new(raw, "extra-args", extra);
		}
		json_t *w = words(v);
		json_array_extend(extra, w);
		json_decref(w);
	}
	if ((v = env("QKIT_TIMEOUT", "VMTEST_TIMEOUT", NULL))) {
		char *end;
		errno = 0;
		long long t = strtoll(v, &end, 10);
		/* vmtest writes durations like "90s"; accept a trailing s. */
		if (*end == 's')
			end++;
		if (errno || *end || t < 0 || end == v)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "QKIT_TIMEOUT \"%s\" is not a number of seconds", v);
		json_object_set_new(raw, "timeout", json_integer(t));
	}
	return 0;
}
