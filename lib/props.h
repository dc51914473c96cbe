/* SPDX-License-Identifier: MIT */
/*
 * Property lists: a device, object, backend or chardev as one JSON object
 * of typed values. The same object is written in QEMU's comma syntax, as
 * JSON, or sent as QMP arguments.
 *
 * In comma syntax every value goes through props_escape() (',' becomes
 * ',,'), so no value can add an option. Keys are never escaped: they come
 * from qkit's tables or are checked with props_key_valid().
 */
#ifndef QKIT_LIB_PROPS_H
#define QKIT_LIB_PROPS_H

#include <stdbool.h>

#include <jansson.h>

#include <qkit/error.h>

#include "buf.h"

/* Append value with every ',' doubled. Returns 0 or -ENOMEM. */
int props_escape(struct buf *b, const char *value);

/*
 * A key QEMU's parsers take literally: letters, digits, '-' and '_', with
 * '.' only between parts (addr.type). Also used for driver names.
 */
bool props_key_valid(const char *key);

/*
 * Write props in comma syntax: key=value,... with booleans as on/off,
 * nested objects as dotted keys (addr.type=unix), lists of scalars as the
 * key repeated, and lists of {"str": S} (QAPI's String) likewise. With
 * bare_first, the first member is written as its value alone
 * (virtio-blk-pci,id=...). Fails on a null, a float or an invalid key.
 */
int props_to_comma(const json_t *props, bool bare_first, struct buf *out, qk_error **err);

/* Compact JSON with members in insertion order; malloc'd or NULL. */
char *props_to_json(const json_t *props);

#endif
