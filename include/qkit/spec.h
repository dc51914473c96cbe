/* SPDX-License-Identifier: MIT */
/*
 * The VM spec: what a virtual machine is made of, and the QEMU command line
 * that makes it.
 *
 * A spec is built from a file (YAML or JSON, the format documented in
 * qkit-spec(5)) or through this API; both write into the same model, and a
 * schema (one table per section and per device kind) checks every value:
 * unknown keys, wrong types, numbers out of range and values that are not
 * one of the allowed words are all reported at once, each naming the field
 * and the value, for example
 *
 *   devices[2] (disk "root"): format "qcow3" is not one of raw, qcow2, ...
 *
 * Nothing is checked against the host (files need not exist), so a spec
 * renders to the same argv on any machine. Defaults that depend on the
 * architecture (machine, CPU model, console, virtio transport) are filled
 * in when the spec is validated, rendered or shown.
 *
 * Paths in this API use dots for sections and field names as in the file:
 * "memory.size", "machine.accel", "machine.options.highmem".
 */
#ifndef QKIT_SPEC_H
#define QKIT_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_spec qk_spec;

/*
 * A handle to one object inside a spec: a device, or an item of a list
 * such as a port forward of a network device or a NUMA node. It belongs to
 * the spec and stays valid until qk_spec_free().
 */
typedef struct qk_device qk_device;

typedef enum qk_spec_format {
	QK_SPEC_AUTO = 0, /* by file name: .json is JSON, anything else YAML */
	QK_SPEC_YAML,
	QK_SPEC_JSON,
} qk_spec_format;

enum {
	/*
	 * Do not apply the QKIT_* and VMTEST_* environment overrides (see
	 * qk_spec_apply_env()) while loading. Programs that build specs for
	 * their own purposes usually want this.
	 */
	QK_SPEC_LOAD_NO_ENV = 1u << 0,
	/*
	 * Strict mode, for specs from someone the caller does not trust with
	 * raw QEMU arguments: validation refuses extra-args and qemu.args
	 * (from the file or from QKIT_QEMU and QKIT_QEMU_APPEND). Everything
	 * else, the generic device and object kinds included, is checked and
	 * escaped anyway.
	 */
	QK_SPEC_LOAD_STRICT = 1u << 1,
};

/* An empty spec: every field at its default. */
int qk_spec_new(qk_spec **out, qk_error **err);

/*
 * Load a spec file. Syntax errors name the line and column; schema errors
 * are reported by qk_spec_validate(), which this does not call, so a
 * caller may still change the spec. Unless flags has QK_SPEC_LOAD_NO_ENV,
 * the environment overrides are applied.
 *
 * A file's relative host paths (boot.kernel, a disk's file, ...; the list
 * is in qkit-spec(5)) are made absolute against the file's directory, so
 * the spec means the same from any current directory. qk_spec_load_string()
 * and the setters keep paths as given (relative to QEMU's directory), as do
 * the environment overrides.
 */
int qk_spec_load_file(qk_spec **out, const char *path, qk_spec_format format,
		      unsigned flags, qk_error **err);
int qk_spec_load_string(qk_spec **out, const char *text, size_t len,
			qk_spec_format format, unsigned flags, qk_error **err);

/*
 * The environment overrides, all in one place, for test runs:
 *   QKIT_QEMU        the QEMU binary and leading arguments, split at spaces
 *   QKIT_ARCH        the architecture
 *   QKIT_KERNEL      boot.kernel
 *   QKIT_INITRD      boot.initrd
 *   QKIT_APPEND      put in front of boot.append (with a space)
 *   QKIT_QEMU_APPEND more QEMU arguments, split at spaces, after extra-args
 *   QKIT_TIMEOUT     timeout, in seconds
 * For each one that is unset, the vmtest name is used: VMTEST_QEMU,
 * VMTEST_ARCH, VMTEST_KERNEL, VMTEST_INITRAMFS (or VMTEST_INITRD),
 * VMTEST_APPEND, VMTEST_QEMU_APPEND, VMTEST_TIMEOUT. Empty values count as
 * unset.
 */
int qk_spec_apply_env(qk_spec *spec, qk_error **err);

void qk_spec_free(qk_spec *spec);

/*
 * Set a scalar field by path. The path and the type are checked against
 * the schema at once; ranges and cross-field rules by qk_spec_validate().
 * Sizes may be set as strings ("512M") or integers (bytes).
 */
int qk_spec_set_string(qk_spec *spec, const char *path, const char *value, qk_error **err);
int qk_spec_set_int(qk_spec *spec, const char *path, long long value, qk_error **err);
int qk_spec_set_bool(qk_spec *spec, const char *path, bool value, qk_error **err);
/* Append to a list of strings ("machine.accel", "cpu.features", "extra-args"). */
int qk_spec_append_string(qk_spec *spec, const char *path, const char *value, qk_error **err);
/* Add an item to a list of objects ("memory.numa", "memory.distances"). */
int qk_spec_add_item(qk_spec *spec, const char *path, qk_device **out, qk_error **err);

/*
 * Remove a field, or a whole list, by path, so it is back at its default.
 * Lets a caller replace what a file said ("machine.accel") rather than
 * add to it. Removing a field that is not set is not an error.
 */
int qk_spec_unset(qk_spec *spec, const char *path, qk_error **err);

/*
 * Add a device of a kind ("disk", "net", "fs", ... see qk_spec_device_kinds()).
 * Its fields are then set through the handle. The named variants are
 * shorthands for the common kinds.
 */
int qk_spec_add_device(qk_spec *spec, const char *kind, qk_device **out, qk_error **err);
int qk_spec_add_disk(qk_spec *spec, const char *file, qk_device **out, qk_error **err);
int qk_spec_add_net(qk_spec *spec, const char *type, qk_device **out, qk_error **err);
int qk_spec_add_fs(qk_spec *spec, const char *type, const char *tag, qk_device **out, qk_error **err);

/*
 * The n-th device (counting from 0) of kind already in the spec (kind
 * NULL: of any kind), as a handle, for example to add a port forward to
 * the network device a file declared. -ENOENT (QK_ERR_NOT_FOUND) if there
 * is none.
 */
int qk_spec_find_device(qk_spec *spec, const char *kind, size_t n, qk_device **out,
			qk_error **err);

/* The device kinds this version knows, NULL-terminated. */
const char *const *qk_spec_device_kinds(void);

/*
 * Set a field of a device or item, as named in qkit-spec(5); dots reach
 * into sub-objects ("backend.type" of a channel). Every device also takes
 * "id" (a string; checked when the spec is validated).
 */
int qk_device_set_string(qk_device *dev, const char *field, const char *value, qk_error **err);
int qk_device_set_int(qk_device *dev, const char *field, long long value, qk_error **err);
int qk_device_set_bool(qk_device *dev, const char *field, bool value, qk_error **err);
int qk_device_append_string(qk_device *dev, const char *field, const char *value, qk_error **err);
/* Add an item to a list of objects of the device ("forwards" of a net). */
int qk_device_add_item(qk_device *dev, const char *field, qk_device **out, qk_error **err);

/*
 * Check the whole spec and report every problem. Returns 0 or -EINVAL
 * with *err holding one problem per line.
 */
int qk_spec_validate(const qk_spec *spec, qk_error **err);

/*
 * The same, for a target QEMU (major*10000 + minor*100 + micro; 0 means
 * 7.2.0): features the target lacks are problems too.
 */
int qk_spec_validate_for(const qk_spec *spec, unsigned qemu_version, qk_error **err);

/*
 * A QEMU version as these functions take it, from "7.2" or "9.1.0":
 * major*10000 + minor*100 + micro. -EINVAL (QK_ERR_INVALID) for anything
 * else, naming the text.
 */
int qk_qemu_version_parse(const char *text, unsigned *out, qk_error **err);

/*
 * The fully defaulted spec (after validation) as JSON, in the file
 * format's shape: every device has its id, every default is filled in.
 * The caller owns *out.
 */
int qk_spec_to_json(const qk_spec *spec, json_t **out, qk_error **err);
/* The same, validated for a target QEMU (as qk_spec_validate_for()). */
int qk_spec_to_json_for(const qk_spec *spec, unsigned qemu_version, json_t **out, qk_error **err);

/* What the spec says, after defaults; NULL/0 if the spec is invalid. */
char *qk_spec_get_arch(const qk_spec *spec);         /* malloc'd */
char *qk_spec_console_name(const qk_spec *spec);     /* "ttyS0", "hvc0"...; malloc'd */
long long qk_spec_timeout(const qk_spec *spec);      /* seconds, 0 = none */

/* How comma-or-JSON options are written. */
typedef enum qk_syntax {
	QK_SYNTAX_AUTO = 0, /* JSON for -device/-object/-blockdev/-netdev where the target accepts it */
	QK_SYNTAX_COMMA,    /* always QEMU's key=value,... syntax (every value escaped) */
	QK_SYNTAX_JSON,     /* JSON wherever QEMU accepts it, regardless of version */
} qk_syntax;

typedef struct qk_render_opts {
	/* The target QEMU as major*10000 + minor*100 + micro; 0 means 7.2.0. */
	unsigned qemu_version;
	qk_syntax syntax;
	/*
	 * When set, the console is wired to this chardev, which the caller
	 * creates itself (a supervisor's socket), instead of the backend the
	 * spec gives it. Must be a valid QEMU id.
	 */
	const char *console_chardev;
	/* Start with the CPUs stopped (-S), whatever boot.paused says. */
	bool paused;
} qk_render_opts;

#define QK_RENDER_OPTS_INIT { 0, QK_SYNTAX_AUTO, NULL, false }

/*
 * Validate and render: *argv_out is a NULL-terminated, malloc'd vector,
 * argv[0] the QEMU binary; free it with qk_argv_free(). The same spec and
 * options always give the same argv. The order is documented in
 * qkit-spec(5). opts may be NULL.
 */
int qk_spec_render(const qk_spec *spec, const qk_render_opts *opts, char ***argv_out,
		   qk_error **err);
void qk_argv_free(char **argv);

/*
 * The property list of the device with this id, exactly the arguments of
 * QMP device_add (driver, id and typed properties). The caller owns *out.
 */
int qk_spec_device_props(const qk_spec *spec, const char *id, json_t **out, qk_error **err);

/*
 * Everything hotplugging the device with this id takes, in order: a JSON
 * array of {"execute": ..., "arguments": ...} objects (blockdev-add,
 * netdev_add, object-add, then device_add). Devices whose backend is a
 * chardev cannot be hotplugged this way and fail with QK_ERR_INVALID.
 */
int qk_spec_device_hotplug(const qk_spec *spec, const char *id, json_t **out, qk_error **err);

static inline void qk_spec_freep(qk_spec **p)
{
	qk_spec_free(*p);
}

static inline void qk_argv_freep(char ***p)
{
	qk_argv_free(*p);
}

#ifdef __cplusplus
}
#endif
#endif
