/* SPDX-License-Identifier: MIT */
/* What the device kind files share: field tables, hooks and helpers. */
#ifndef QKIT_LIB_DEVICE_H
#define QKIT_LIB_DEVICE_H

#include <stdint.h>

#include "props.h"
#include "spec-internal.h"

/* Where a PCI device sits; checked by pci_fields_check(). */
#define COMMON_PCI_FIELDS                                                                    \
	{ .name = "bus", .type = FT_STR, .prop = "bus", .doc = "the bus to plug into" },      \
	{                                                                                    \
		.name = "addr", .type = FT_STR, .prop = "addr", .doc = "PCI SLOT[.FUNCTION], hex" \
	}

void pci_fields_check(struct vctx *v, json_t *dev, const char *where);

const char *dev_str(const json_t *dev, const char *field);
bool dev_is(const json_t *dev, const char *field, const char *value);
bool transport_pci(const struct vctx *v);
/* Report each of fields present in dev unless allowed: "F is only for WHAT". */
void only_for(struct vctx *v, const json_t *dev, const char *where, const char *const *fields,
	      bool allowed, const char *what);
/* A new -object property list from a front end: qom-type, then its members but driver. */
json_t *front_to_object(json_t *front, const char *qom_type);

extern const struct field disk_fields[];
void disk_check(struct vctx *v, json_t *dev, const char *where);
int disk_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);

extern const struct field net_fields[];
void net_check(struct vctx *v, json_t *dev, const char *where);
int net_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);

extern const struct field fs_fields[];
void fs_check(struct vctx *v, json_t *dev, const char *where);
int fs_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);

extern const struct field serial_fields[];
extern const struct field console_dev_fields[];
extern const struct field channel_fields[];
extern const struct field virtio_serial_fields[];
extern const struct field monitor_fields[];
extern const struct field tpm_fields[];
extern const struct field vhost_user_fields[];
/* The chardev id connecting to the unix socket in the device's field (vhost-user, swtpm...). */
int socket_chardev_build(struct rctx *r, const json_t *dev, const char *field, const char *id,
			 qk_error **err);
void serial_check(struct vctx *v, json_t *dev, const char *where);
int serial_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);
void console_dev_check(struct vctx *v, json_t *dev, const char *where);
int chardev_dev_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);
void monitor_check(struct vctx *v, json_t *dev, const char *where);
int monitor_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);
void tpm_check(struct vctx *v, json_t *dev, const char *where);
int tpm_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);
void vhost_user_check(struct vctx *v, json_t *dev, const char *where);
/* A virtqueue size must be a power of 2. */
void check_queue_size(struct vctx *v, const json_t *dev, const char *where);
int vhost_user_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err);

#endif
