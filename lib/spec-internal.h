/* SPDX-License-Identifier: MIT */
/*
 * The spec's insides, shared by spec.c (the model and its API), validate.c
 * (the schema engine), spec-schema.c (the tables of the sections),
 * device*.c (the device kinds) and render.c (the argv).
 *
 * The model is a JSON tree. What the user wrote (file or setters) is the
 * raw tree; validation walks it with the schema and produces the normal
 * tree: every default filled in, sizes in bytes, every device with an id.
 * Rendering reads only the normal tree.
 */
#ifndef QKIT_LIB_SPEC_INTERNAL_H
#define QKIT_LIB_SPEC_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include <qkit/error.h>
#include <qkit/spec.h>

#include "arch.h"
#include "buf.h"

struct qk_spec {
	json_t *raw;
	qk_device **handles; /* handed out by the API, freed with the spec */
	size_t nhandles;
	bool strict;         /* QK_SPEC_LOAD_STRICT: no raw QEMU arguments */
};

struct qk_device {
	qk_spec *spec;
	json_t *obj;                /* borrowed from spec->raw */
	const struct field *fields; /* its schema */
	const char *kind;           /* device kind, or NULL for a list item */
};

enum ftype {
	FT_STR,     /* any string */
	FT_ID,      /* a QEMU id: a letter, then letters, digits, '-', '.', '_' */
	FT_INT,     /* integer in min..max */
	FT_BOOL,
	FT_SIZE,    /* bytes: integer or "512M" style, in min..max */
	FT_ENUM,    /* one of choices */
	FT_STRLIST, /* list of strings */
	FT_INTLIST, /* list of integers in min..max */
	FT_MAP,     /* mapping of key to string, integer or boolean */
	FT_OBJ,     /* an object with its own fields */
	FT_OBJLIST, /* a list of such objects */
};

/*
 * Which string fields are host paths. A spec file's relative paths are
 * relative to the file's directory (spec-load.c makes them absolute);
 * specs built by the API or from a string keep them as given.
 */
enum fpath {
	PATH_NO = 0,
	PATH_HOST,     /* always a host path */
	PATH_SEARCHED, /* a bare name is looked up by QEMU (data dir) or on PATH: only NAME/... is a path */
	PATH_SCRIPT,   /* a host path, except the word "no" (tap scripts) */
};

struct field {
	const char *name;
	enum ftype type;
	/* The QEMU property of the front-end device this field maps to, if any. */
	const char *prop;
	long long min, max;
	const char *const *choices; /* FT_ENUM; NULL-terminated */
	const char *def;            /* default, parsed like input; NULL: none */
	const struct field *sub;    /* FT_OBJ and FT_OBJLIST */
	bool required;
	const char *doc;
	enum fpath path;            /* a host path: resolved against a spec file's directory */
};

/* Sentinel at the end of every field table. */
#define FIELDS_END { NULL, 0, NULL, 0, 0, NULL, NULL, NULL, false, NULL }

/* The sections of a spec (spec-schema.c). */
extern const struct field spec_fields[];
extern const struct field chardev_fields[];

/* What validation knows while it walks the tree. */
struct vctx {
	qk_error **err;
	const struct arch_profile *arch;
	enum machine_family family;
	enum transport transport;
	const char *machine; /* the machine type, borrowed from the normal tree */
	json_t *normal;      /* the normal tree as far as it is built (devices come last) */
	unsigned qemu_version;
	int problems;
};

/* Report one problem, prefixed with where (may be empty). */
void vproblem(struct vctx *v, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Check `in` against fields and build the normal object into `out`:
 * defaults, converted sizes, unknown keys reported. `where` labels
 * problems ("memory", "devices[2] (disk \"root\")").
 */
void schema_normalize(struct vctx *v, const struct field *fields, const json_t *in,
		      json_t *out, const char *where);

const struct field *field_find(const struct field *fields, const char *name);

/* A value the way messages quote it: "text", 12, true. malloc'd. */
char *value_repr(const json_t *value);

/* Parse "512M", "2G", "4096": bytes, or -1. */
long long parse_size(const char *s);
/* 512M, 2G or bytes, whichever is exact and shortest; malloc'd. */
char *format_size(long long bytes);

bool id_valid(const char *id);

/*
 * Validate the raw tree and return the normal tree (NULL with *err set).
 * v is filled with what the renderer needs to know about the target.
 */
json_t *spec_normalize(const qk_spec *spec, unsigned qemu_version, struct vctx *v,
		       qk_error **err);

/* One option of the command line and its value, before formatting. */
enum opt_kind {
	OPT_DEVICE,   /* -device: JSON since QEMU 6.2 */
	OPT_OBJECT,   /* -object: JSON since 6.0 */
	OPT_BLOCKDEV, /* -blockdev: JSON always */
	OPT_NETDEV,   /* -netdev: JSON since 7.2 here (stream/dgram need it) */
	OPT_COMMA,    /* any other comma option (-chardev, -fsdev, -mon, ...) */
	OPT_PLAIN,    /* an option with a plain value (-kernel PATH) or none */
};

struct arg {
	enum opt_kind kind;
	const char *opt; /* "-device" */
	json_t *props;   /* owned; for comma and JSON options */
	bool bare_first; /* comma syntax: the first member is written without key= */
	char *value;     /* OPT_PLAIN: the value or NULL */
};

struct arglist {
	struct arg *v;
	size_t n, cap;
};

void arglist_free(struct arglist *l);
/* Each takes ownership of props; returns 0 or -ENOMEM. */
int arglist_add(struct arglist *l, enum opt_kind kind, const char *opt, json_t *props,
		bool bare_first);
int arglist_plain(struct arglist *l, const char *opt, const char *value);

/* What a device kind's builder works with. */
struct rctx {
	struct vctx *v;
	json_t *spec;        /* the normal tree */
	struct arglist *out;
	const char *console_chardev;
};

/*
 * A device kind: one row of the table in device.c. The generic builder
 * makes the front-end property list: driver (by transport), id, and each
 * field that has a prop. build() adds backends to the arglist and may
 * adjust the front end, or set *front to NULL when the kind has no -device.
 * check() adds the kind's cross-field rules.
 */
enum {
	NEED_PCI = 1u << 0,  /* a PCI bus (not microvm, not s390x) */
	NEED_PCIE = 1u << 1, /* a PCI Express root complex (q35, virt) */
	NEED_X86 = 1u << 2,
	NEED_ISA = 1u << 3,  /* x86 with an ISA bus (pc, q35, microvm) */
	NEED_Q35 = 1u << 4,
	NEED_USB = 1u << 5,  /* a USB controller is added when none exists */
};

struct device_kind {
	const char *name;
	const char *id_prefix;
	const struct field *fields;
	/* Front-end driver per transport: pci, mmio, ccw; NULL: not available. */
	const char *driver[3];
	unsigned needs;
	void (*check)(struct vctx *v, json_t *dev, const char *where);
	int (*build)(struct rctx *r, json_t *dev, json_t **front, qk_error **err);
	const char *doc;
};

const struct device_kind *device_kind_find(const char *name);
extern const struct device_kind device_kinds[]; /* ends with a NULL name */

/* The front end's driver for this transport, or NULL. */
const char *device_driver(const struct device_kind *k, enum transport t);

/* Helpers for builders: "ID-SUFFIX" malloc'd. */
char *derived_id(const char *id, const char *suffix);
/* Set a JSON member from the normal device if present (typed). */
void copy_member(json_t *to, const char *to_key, const json_t *from, const char *from_key);

/* The rules of a chardev object (console.backend, a serial's backend). */
void spec_check_chardev(struct vctx *v, const json_t *chardev, const char *where);

/* Render the chardev described by a normal chardev object as id. */
int chardev_build(struct rctx *r, const json_t *chardev, const char *id, qk_error **err);

/* Build one device's args (backends, then front end); used by render and hotplug. */
int device_build(struct rctx *r, json_t *dev, qk_error **err);

/* The QEMU version the target accepts JSON for this option kind from. */
bool opt_takes_json(enum opt_kind kind, unsigned qemu_version);

#define QEMU_VERSION_DEFAULT 70200u

#endif
