/* SPDX-License-Identifier: MIT */
/*
 * Everything with a chardev behind it: serial ports, virtio consoles and
 * channels, monitors, the TPM emulator socket and vhost-user devices.
 * -chardev has no JSON form in QEMU 7.2, so it is always comma syntax,
 * every value escaped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

int chardev_build(struct rctx *r, const json_t *c, const char *id, qk_error **err)
{
	const char *type = dev_str(c, "type");
	bool sock = strcmp(type, "unix") == 0 || strcmp(type, "tcp") == 0 || strcmp(type, "fd") == 0;
	json_t *p = json_pack("{s:s, s:s}", "backend", sock ? "socket" : type, "id", id);
	if (strcmp(type, "tcp") == 0 && !json_object_get(c, "fd")) {
		const char *host = dev_str(c, "host");
		json_object_set_new(p, "host", json_string(host ? host : "127.0.0.1"));
		copy_member(p, "port", c, "port");
	} else if (!sock || !json_object_get(c, "fd")) {
		copy_member(p, "path", c, "path");
	}
	copy_member(p, "fd", c, "fd");
	if (sock && json_is_true(json_object_get(c, "server"))) {
		json_object_set_new(p, "server", json_true());
		/* A server that waits blocks QEMU's start until a client comes. */
		json_t *wait = json_object_get(c, "wait");
		json_object_set_new(p, "wait", json_boolean(json_is_true(wait)));
	}
	copy_member(p, "reconnect", c, "reconnect");
	copy_member(p, "size", c, "size");
	copy_member(p, "append", c, "append");
	copy_member(p, "signal", c, "signal");
	copy_member(p, "logfile", c, "logfile");
	return arglist_add(r->out, OPT_COMMA, "-chardev", p, true);
}

int socket_chardev_build(struct rctx *r, const json_t *dev, const char *field, const char *id,
			 qk_error **err)
{
	json_t *c = json_pack("{s:s, s:O}", "type", "unix", "path", json_object_get(dev, field));
	int ret = chardev_build(r, c, id, err);
	json_decref(c);
	return ret;
}

#define BACKEND_FIELD(req) \
	{ .name = "backend", .type = FT_OBJ, .sub = chardev_fields, .required = req, .doc = "the chardev" }

const struct field serial_fields[] = {
	BACKEND_FIELD(true),
	FIELDS_END,
};

void serial_check(struct vctx *v, json_t *dev, const char *where)
{
	char sub[256];
	snprintf(sub, sizeof(sub), "%s.backend", where);
	spec_check_chardev(v, json_object_get(dev, "backend"), sub);
	if (v->family == MF_S390)
		vproblem(v, where, "serial is not available on s390x (use console type serial, or a virtio console)");
}

int serial_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	_cleanup_free_ char *cid = derived_id(dev_str(dev, "id"), "chardev");
	int ret = chardev_build(r, json_object_get(dev, "backend"), cid, err);
	if (ret < 0)
		return ret;
	if (r->v->arch->x86 && r->v->family != MF_OTHER) {
		json_object_set_new(*front, "chardev", json_string(cid));
		return 0;
	}
	/* The board's UARTs cannot be created with -device; -serial takes the next one. */
	json_decref(*front);
	*front = NULL;
	_cleanup_free_ char *val = NULL;
	if (asprintf(&val, "chardev:%s", cid) < 0)
		return -ENOMEM;
	return arglist_plain(r->out, "-serial", val);
}

const struct field console_dev_fields[] = {
	BACKEND_FIELD(true),
	{ .name = "name", .type = FT_STR, .prop = "name", .doc = "the port's name in the guest" },
	FIELDS_END,
};

const struct field channel_fields[] = {
	BACKEND_FIELD(true),
	{ .name = "name", .type = FT_STR, .prop = "name", .required = true, .doc = "the port's name, like org.qemu.guest_agent.0" },
	FIELDS_END,
};

void console_dev_check(struct vctx *v, json_t *dev, const char *where)
{
	char sub[256];
	snprintf(sub, sizeof(sub), "%s.backend", where);
	spec_check_chardev(v, json_object_get(dev, "backend"), sub);
	const char *name = dev_str(dev, "name");
	if (name && (!*name || strpbrk(name, "/ \n")))
		vproblem(v, where, "name \"%s\" is not a port name (no '/', spaces or newlines)", name);
}

int chardev_dev_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	_cleanup_free_ char *cid = derived_id(dev_str(dev, "id"), "chardev");
	int ret = chardev_build(r, json_object_get(dev, "backend"), cid, err);
	if (ret < 0)
		return ret;
	json_object_set_new(*front, "chardev", json_string(cid));
	return 0;
}

const struct field virtio_serial_fields[] = {
	{ .name = "max-ports", .type = FT_INT, .prop = "max_ports", .min = 1, .max = 31 },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const char *const monitor_modes[] = { "qmp", "qmp-pretty", "hmp", NULL };
const struct field monitor_fields[] = {
	{ .name = "mode", .type = FT_ENUM, .choices = monitor_modes, .def = "qmp" },
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .doc = "a unix socket QEMU listens on" },
	{ .name = "fd", .type = FT_INT, .min = 0, .max = 65535, .doc = "an inherited socket" },
	FIELDS_END,
};

void monitor_check(struct vctx *v, json_t *dev, const char *where)
{
	if (!json_object_get(dev, "path") == !json_object_get(dev, "fd"))
		vproblem(v, where, "give exactly one of path, fd");
}

int monitor_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_decref(*front);
	*front = NULL;
	_cleanup_free_ char *cid = derived_id(dev_str(dev, "id"), "chardev");
	json_t *c = json_object();
	json_object_set_new(c, "type", json_string("unix"));
	copy_member(c, "path", dev, "path");
	copy_member(c, "fd", dev, "fd");
	if (json_object_get(dev, "path"))
		json_object_set_new(c, "server", json_true());
	int ret = chardev_build(r, c, cid, err);
	json_decref(c);
	if (ret < 0)
		return ret;
	const char *mode = dev_str(dev, "mode");
	json_t *mon = json_pack("{s:s, s:s}", "chardev", cid, "mode",
				strcmp(mode, "hmp") == 0 ? "readline" : "control");
	if (strcmp(mode, "qmp-pretty") == 0)
		json_object_set_new(mon, "pretty", json_true());
	return arglist_add(r->out, OPT_COMMA, "-mon", mon, false);
}

static const char *const tpm_models[] = { "tis", "crb", NULL };
const struct field tpm_fields[] = {
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .required = true, .doc = "swtpm's control socket" },
	{ .name = "model", .type = FT_ENUM, .choices = tpm_models, .def = "tis" },
	FIELDS_END,
};

void tpm_check(struct vctx *v, json_t *dev, const char *where)
{
	bool crb = dev_is(dev, "model", "crb");
	if (v->arch->x86 && v->family != MF_MICROVM)
		return;
	if (strcmp(v->arch->name, "aarch64") == 0 && v->family == MF_VIRT) {
		if (crb)
			vproblem(v, where, "model crb is only for x86 (aarch64 virt has tis)");
		return;
	}
	vproblem(v, where, "tpm is not available on %s (machine %s)", v->arch->name, v->machine);
}

int tpm_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *id = dev_str(dev, "id");
	_cleanup_free_ char *cid = derived_id(id, "chardev");
	_cleanup_free_ char *tid = derived_id(id, "tpmdev");
	int ret = socket_chardev_build(r, dev, "path", cid, err);
	if (ret < 0)
		return ret;
	json_t *t = json_pack("{s:s, s:s, s:s}", "type", "emulator", "id", tid, "chardev", cid);
	if (arglist_add(r->out, OPT_COMMA, "-tpmdev", t, true) < 0)
		return -ENOMEM;
	const char *driver = r->v->arch->x86 ? (dev_is(dev, "model", "crb") ? "tpm-crb" : "tpm-tis")
					     : "tpm-tis-device";
	json_object_set_new(*front, "driver", json_string(driver));
	json_object_set_new(*front, "tpmdev", json_string(tid));
	return 0;
}

static const char *const vhost_types[] = { "blk", "scsi", NULL };
const struct field vhost_user_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = vhost_types, .def = "blk" },
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .required = true, .doc = "the vhost-user backend's socket" },
	{ .name = "num-queues", .type = FT_INT, .prop = "num-queues", .min = 1, .max = 1024 },
	{ .name = "queue-size", .type = FT_INT, .prop = "queue-size", .min = 2, .max = 1024, .doc = "a power of 2" },
	{ .name = "bootindex", .type = FT_INT, .prop = "bootindex", .min = 0, .max = 1 << 16 },
	/* blk only; its size and block sizes are the backend's, QEMU has no property for them. */
	{ .name = "config-wce", .type = FT_BOOL, .prop = "config-wce", .doc = "blk: the guest may toggle the write cache" },
	{ .name = "discard", .type = FT_BOOL, .prop = "discard", .doc = "blk: offer discard to the guest" },
	{ .name = "write-zeroes", .type = FT_BOOL, .prop = "write-zeroes", .doc = "blk: offer write-zeroes" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

void check_queue_size(struct vctx *v, const json_t *dev, const char *where)
{
	json_t *qs = json_object_get(dev, "queue-size");
	long long n = json_integer_value(qs);
	if (qs && (n & (n - 1)))
		vproblem(v, where, "queue-size %lld is not a power of 2", n);
}

void vhost_user_check(struct vctx *v, json_t *dev, const char *where)
{
	if (v->family == MF_S390)
		vproblem(v, where, "vhost-user %s has no ccw variant (s390x)", dev_str(dev, "type"));
	only_for(v, dev, where, (const char *const[]){ "config-wce", "discard", "write-zeroes", NULL },
		 dev_is(dev, "type", "blk"), "type blk");
	check_queue_size(v, dev, where);
	pci_fields_check(v, dev, where);
}

int vhost_user_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	_cleanup_free_ char *cid = derived_id(dev_str(dev, "id"), "chardev");
	int ret = socket_chardev_build(r, dev, "path", cid, err);
	if (ret < 0)
		return ret;
	if (dev_is(dev, "type", "scsi")) {
		json_object_set_new(*front, "driver", json_string(r->v->transport == TRANSPORT_PCI ? "vhost-user-scsi-pci"
													  : "vhost-user-scsi"));
		/* vhost-user-scsi spells them as virtio-scsi does. */
		copy_member(*front, "num_queues", *front, "num-queues");
		copy_member(*front, "virtqueue_size", *front, "queue-size");
		json_object_del(*front, "num-queues");
		json_object_del(*front, "queue-size");
	}
	json_object_set_new(*front, "chardev", json_string(cid));
	return 0;
}
