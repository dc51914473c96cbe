/* SPDX-License-Identifier: MIT */
/* Shared folders: 9p through -fsdev, or virtiofs through a vhost-user socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

static const char *const fs_types[] = { "9p", "virtiofs", NULL };
static const char *const fs_drivers[] = { "local", "proxy", "handle", NULL };
static const char *const security_models[] = { "none", "mapped-xattr", "mapped-file", "passthrough", NULL };
static const char *const multidevs[] = { "remap", "forbid", "warn", NULL };

const struct field fs_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = fs_types, .required = true },
	{ .name = "tag", .type = FT_STR, .required = true, .doc = "the mount tag the guest uses" },
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .doc = "9p: the host directory" },
	{ .name = "driver", .type = FT_ENUM, .choices = fs_drivers, .doc = "9p: local (default), proxy, handle" },
	{ .name = "security-model", .type = FT_ENUM, .choices = security_models, .doc = "9p: default none" },
	{ .name = "multidevs", .type = FT_ENUM, .choices = multidevs, .doc = "9p: several host devices under path" },
	{ .name = "readonly", .type = FT_BOOL },
	{ .name = "socket", .type = FT_STR, .path = PATH_HOST, .doc = "virtiofs: virtiofsd's socket; 9p proxy: the helper's" },
	{ .name = "queue-size", .type = FT_INT, .prop = "queue-size", .min = 2, .max = 1024, .doc = "virtiofs: a power of 2" },
	{ .name = "num-request-queues", .type = FT_INT, .prop = "num-request-queues", .min = 1, .max = 1024, .doc = "virtiofs" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

void fs_check(struct vctx *v, json_t *dev, const char *where)
{
	const char *tag = dev_str(dev, "tag");
	if (dev_is(dev, "type", "virtiofs")) {
		only_for(v, dev, where, (const char *const[]){ "path", "driver", "security-model", "multidevs", "readonly", NULL },
			 false, "type 9p");
		if (!json_object_get(dev, "socket"))
			vproblem(v, where, "type virtiofs needs socket (virtiofsd's)");
		if (tag && strlen(tag) > 36)
			vproblem(v, where, "tag \"%s\" is longer than 36 bytes", tag);
		check_queue_size(v, dev, where);
		pci_fields_check(v, dev, where);
		return;
	}
	only_for(v, dev, where, (const char *const[]){ "queue-size", "num-request-queues", NULL }, false, "type virtiofs");
	if (!json_object_get(dev, "driver"))
		json_object_set_new(dev, "driver", json_string("local"));
	const char *driver = dev_str(dev, "driver");
	if (strcmp(driver, "proxy") == 0) {
		if (!json_object_get(dev, "socket"))
			vproblem(v, where, "driver proxy needs socket");
		if (json_object_get(dev, "security-model"))
			vproblem(v, where, "security-model is not for driver proxy");
	} else {
		if (!json_object_get(dev, "path"))
			vproblem(v, where, "type 9p needs path");
		if (json_object_get(dev, "socket"))
			vproblem(v, where, "socket is only for driver proxy");
		if (!json_object_get(dev, "security-model"))
			json_object_set_new(dev, "security-model", json_string("none"));
	}
	if (strcmp(driver, "handle") == 0 && v->qemu_version >= 60000)
		vproblem(v, where, "driver handle was removed in QEMU 6.0 (target is %u.%u)",
			 v->qemu_version / 10000, v->qemu_version / 100 % 100);
	if (json_object_get(dev, "multidevs") && strcmp(driver, "local") != 0)
		vproblem(v, where, "multidevs is only for driver local");
	pci_fields_check(v, dev, where);
}

int fs_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *id = dev_str(dev, "id");
	static const char *const vhost_fs[] = { "vhost-user-fs-pci", "vhost-user-fs-device", "vhost-user-fs-ccw" };
	if (dev_is(dev, "type", "virtiofs")) {
		_cleanup_free_ char *cid = derived_id(id, "chardev");
		int ret = socket_chardev_build(r, dev, "socket", cid, err);
		if (ret < 0)
			return ret;
		json_object_set_new(*front, "driver", json_string(vhost_fs[r->v->transport]));
		json_object_set_new(*front, "chardev", json_string(cid));
		copy_member(*front, "tag", dev, "tag");
		return 0;
	}
	_cleanup_free_ char *fid = derived_id(id, "fsdev");
	json_t *p = json_pack("{s:O, s:s}", "fsdriver", json_object_get(dev, "driver"), "id", fid);
	copy_member(p, "path", dev, "path");
	copy_member(p, "socket", dev, "socket");
	copy_member(p, "security_model", dev, "security-model");
	copy_member(p, "multidevs", dev, "multidevs");
	if (json_is_true(json_object_get(dev, "readonly")))
		json_object_set_new(p, "readonly", json_true());
	if (arglist_add(r->out, OPT_COMMA, "-fsdev", p, true) < 0)
		return -ENOMEM;
	json_object_set_new(*front, "fsdev", json_string(fid));
	copy_member(*front, "mount_tag", dev, "tag");
	return 0;
}
