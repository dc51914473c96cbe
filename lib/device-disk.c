/* SPDX-License-Identifier: MIT */
/*
 * Disks: a -blockdev chain (protocol node, then format node) and the front
 * end the interface asks for. Two exceptions: per-disk snapshots use
 * -drive snapshot=on (a throwaway overlay that -blockdev cannot express
 * without a temporary file), and a directory is a read-only vvfat node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

static const char *const formats[] = { "raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed", NULL };
static const char *const media[] = { "disk", "cdrom", NULL };
static const char *const interfaces[] = { "virtio", "scsi", "nvme", "ide", "usb", NULL };
static const char *const caches[] = { "writeback", "none", "writethrough", "directsync", "unsafe", NULL };
static const char *const aios[] = { "threads", "native", "io_uring", NULL };
static const char *const discards[] = { "ignore", "unmap", NULL };
static const char *const zeroes[] = { "off", "on", "unmap", NULL };

const struct field disk_fields[] = {
	{ .name = "file", .type = FT_STR, .path = PATH_HOST, .doc = "the image (a /dev/ path is a host block device)" },
	{ .name = "dir", .type = FT_STR, .path = PATH_HOST, .doc = "a host directory shown read-only as a FAT disk (vvfat)" },
	{ .name = "format", .type = FT_ENUM, .choices = formats, .def = "raw" },
	{ .name = "media", .type = FT_ENUM, .choices = media, .def = "disk" },
	{ .name = "interface", .type = FT_ENUM, .choices = interfaces, .def = "virtio" },
	{ .name = "cache", .type = FT_ENUM, .choices = caches, .def = "writeback" },
	{ .name = "aio", .type = FT_ENUM, .choices = aios },
	{ .name = "discard", .type = FT_ENUM, .choices = discards },
	{ .name = "detect-zeroes", .type = FT_ENUM, .choices = zeroes },
	{ .name = "readonly", .type = FT_BOOL, .def = "false" },
	{ .name = "snapshot", .type = FT_BOOL, .def = "false", .doc = "write to a throwaway overlay" },
	{ .name = "share-rw", .type = FT_BOOL, .prop = "share-rw" },
	{ .name = "serial", .type = FT_STR, .prop = "serial" },
	{ .name = "bootindex", .type = FT_INT, .prop = "bootindex", .min = 0, .max = 1 << 16 },
	{ .name = "iothread", .type = FT_ID, .prop = "iothread", .doc = "virtio: an iothread device's id" },
	{ .name = "num-queues", .type = FT_INT, .prop = "num-queues", .min = 1, .max = 1024 },
	{ .name = "config-wce", .type = FT_BOOL, .prop = "config-wce" },
	{ .name = "scsi", .type = FT_BOOL, .prop = "scsi", .doc = "virtio-blk SCSI passthrough (legacy)" },
	{ .name = "logical-block-size", .type = FT_INT, .prop = "logical_block_size", .min = 512, .max = 1 << 21 },
	{ .name = "physical-block-size", .type = FT_INT, .prop = "physical_block_size", .min = 512, .max = 1 << 21 },
	{ .name = "fat-type", .type = FT_INT, .min = 12, .max = 32, .doc = "vvfat: 12, 16 or 32" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static bool is(const json_t *dev, const char *f, const char *v)
{
	return dev_is(dev, f, v);
}

void disk_check(struct vctx *v, json_t *dev, const char *where)
{
	bool file = json_object_get(dev, "file"), dir = json_object_get(dev, "dir");
	const char *iface = dev_str(dev, "interface");
	bool virtio = strcmp(iface, "virtio") == 0;
	if (file == dir)
		vproblem(v, where, "give exactly one of file, dir");
	if (dir && !is(dev, "format", "raw"))
		vproblem(v, where, "format %s is not for dir (a vvfat view is raw)", dev_str(dev, "format"));
	if (dir && json_is_true(json_object_get(dev, "snapshot")))
		vproblem(v, where, "snapshot is not for dir (the vvfat view is read-only)");
	only_for(v, dev, where, (const char *const[]){ "fat-type", NULL }, dir, "dir");
	json_t *fat = json_object_get(dev, "fat-type");
	if (fat && json_integer_value(fat) != 12 && json_integer_value(fat) != 16 && json_integer_value(fat) != 32)
		vproblem(v, where, "fat-type %lld is not 12, 16 or 32", (long long)json_integer_value(fat));
	only_for(v, dev, where, (const char *const[]){ "iothread", "num-queues", "config-wce", "scsi", NULL },
		 virtio, "interface virtio");
	if (is(dev, "media", "cdrom") && (virtio || strcmp(iface, "nvme") == 0 || strcmp(iface, "usb") == 0))
		vproblem(v, where, "media cdrom needs interface ide or scsi (not %s)", iface);
	if (is(dev, "aio", "native") && !is(dev, "cache", "none") && !is(dev, "cache", "directsync"))
		vproblem(v, where, "aio native needs cache none or directsync (cache is %s)", dev_str(dev, "cache"));
	if (strcmp(iface, "ide") == 0 && (json_is_true(json_object_get(dev, "readonly")) || dir) &&
	    is(dev, "media", "disk"))
		vproblem(v, where, "interface ide cannot have a read-only disk%s (use media cdrom or another interface)",
			 dir ? " (a dir is read-only)" : "");
	if (strcmp(iface, "ide") == 0 && v->family != MF_PC && v->family != MF_Q35)
		vproblem(v, where, "interface ide needs machine pc or q35 (not %s)", v->machine);
	if (strcmp(iface, "nvme") == 0 && !transport_pci(v))
		vproblem(v, where, "interface nvme needs a PCI bus (machine %s)", v->machine);
	if (strcmp(iface, "usb") == 0 && (v->family == MF_MICROVM || v->family == MF_S390))
		vproblem(v, where, "interface usb is not available on machine %s", v->machine);
	if (strcmp(iface, "scsi") == 0 && json_object_get(dev, "addr"))
		vproblem(v, where, "addr is not for interface scsi (it sits on the SCSI bus; use bus)");
	if (strcmp(iface, "ide") == 0 || strcmp(iface, "usb") == 0)
		only_for(v, dev, where, (const char *const[]){ "addr", NULL }, false, "virtio and nvme disks");
	/* QEMU: a power of 2, and the physical block never smaller than the logical one. */
	json_t *lbs = json_object_get(dev, "logical-block-size"), *pbs = json_object_get(dev, "physical-block-size");
	long long lb = json_integer_value(lbs), pb = json_integer_value(pbs);
	if (lbs && (lb & (lb - 1)))
		vproblem(v, where, "logical-block-size %lld is not a power of 2", lb);
	if (pbs && (pb & (pb - 1)))
		vproblem(v, where, "physical-block-size %lld is not a power of 2", pb);
	if (lbs && pbs && pb < lb)
		vproblem(v, where, "physical-block-size %lld is less than logical-block-size %lld", pb, lb);
	if (json_is_true(json_object_get(dev, "scsi")) && v->qemu_version >= 50000)
		vproblem(v, where, "scsi passthrough on virtio-blk needs a QEMU before 5.0 (use interface scsi)");
	if (strcmp(iface, "nvme") == 0 && !json_object_get(dev, "serial"))
		json_object_set(dev, "serial", json_object_get(dev, "id"));
	if (virtio || strcmp(iface, "nvme") == 0)
		pci_fields_check(v, dev, where);
}

/* The first SCSI controller's bus, for disks that do not name one. */
static char *default_scsi_bus(const json_t *spec)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(spec, "devices"), i, d)
		if (dev_is(d, "kind", "scsi-controller")) {
			char *s = NULL;
			if (asprintf(&s, "%s.0", dev_str(d, "id")) < 0)
				return NULL;
			return s;
		}
	return NULL;
}

static void cache_props(json_t *node, const char *cache)
{
	bool direct = strcmp(cache, "none") == 0 || strcmp(cache, "directsync") == 0;
	bool no_flush = strcmp(cache, "unsafe") == 0;
	if (direct || no_flush)
		json_object_set_new(node, "cache", json_pack("{s:b, s:b}", "direct", direct, "no-flush", no_flush));
}

static int snapshot_drive(struct rctx *r, json_t *dev, const char *drive_id)
{
	/* -drive is a comma option in every QEMU version. */
	json_t *p = json_pack("{s:s, s:s}", "if", "none", "id", drive_id);
	copy_member(p, "file", dev, "file");
	copy_member(p, "format", dev, "format");
	json_object_set_new(p, "snapshot", json_true());
	const char *cache = dev_str(dev, "cache");
	if (strcmp(cache, "writeback") != 0)
		json_object_set_new(p, "cache", json_string(cache));
	copy_member(p, "aio", dev, "aio");
	copy_member(p, "discard", dev, "discard");
	copy_member(p, "detect-zeroes", dev, "detect-zeroes");
	if (json_is_true(json_object_get(dev, "readonly")) || dev_is(dev, "media", "cdrom"))
		json_object_set_new(p, "readonly", json_true());
	return arglist_add(r->out, OPT_COMMA, "-drive", p, false);
}

int disk_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *id = dev_str(dev, "id");
	const char *iface = dev_str(dev, "interface");
	bool cdrom = dev_is(dev, "media", "cdrom");
	bool ro = json_is_true(json_object_get(dev, "readonly")) || cdrom;
	_cleanup_free_ char *file_id = derived_id(id, "file");
	_cleanup_free_ char *fmt_id = derived_id(id, "format");
	const char *drive = fmt_id;

	if (json_is_true(json_object_get(dev, "snapshot"))) {
		_cleanup_free_ char *drive_id = derived_id(id, "drive");
		if (snapshot_drive(r, dev, drive_id) < 0)
			return -ENOMEM;
		json_object_set_new(*front, "drive", json_string(drive_id));
		drive = NULL;
	} else if (json_object_get(dev, "dir")) {
		json_t *node = json_pack("{s:s, s:s, s:O, s:b}", "driver", "vvfat", "node-name", file_id,
					 "dir", json_object_get(dev, "dir"), "read-only", true);
		copy_member(node, "fat-type", dev, "fat-type");
		if (arglist_add(r->out, OPT_BLOCKDEV, "-blockdev", node, false) < 0)
			return -ENOMEM;
		drive = file_id;
	} else {
		const char *file = dev_str(dev, "file");
		const char *proto = strncmp(file, "/dev/", 5) == 0 ? (cdrom ? "host_cdrom" : "host_device") : "file";
		json_t *pnode = json_pack("{s:s, s:s, s:s}", "driver", proto, "node-name", file_id, "filename", file);
		copy_member(pnode, "aio", dev, "aio");
		cache_props(pnode, dev_str(dev, "cache"));
		if (ro)
			json_object_set_new(pnode, "read-only", json_true());
		copy_member(pnode, "discard", dev, "discard");
		if (arglist_add(r->out, OPT_BLOCKDEV, "-blockdev", pnode, false) < 0)
			return -ENOMEM;
		json_t *fnode = json_pack("{s:O, s:s, s:s}", "driver", json_object_get(dev, "format"),
					  "node-name", fmt_id, "file", file_id);
		cache_props(fnode, dev_str(dev, "cache"));
		if (ro)
			json_object_set_new(fnode, "read-only", json_true());
		copy_member(fnode, "discard", dev, "discard");
		copy_member(fnode, "detect-zeroes", dev, "detect-zeroes");
		if (arglist_add(r->out, OPT_BLOCKDEV, "-blockdev", fnode, false) < 0)
			return -ENOMEM;
	}

	const char *driver = NULL;
	if (strcmp(iface, "scsi") == 0) {
		driver = cdrom ? "scsi-cd" : "scsi-hd";
		if (!json_object_get(dev, "bus")) {
			_cleanup_free_ char *bus = default_scsi_bus(r->spec);
			if (bus)
				json_object_set_new(*front, "bus", json_string(bus));
		}
	} else if (strcmp(iface, "nvme") == 0) {
		driver = "nvme";
	} else if (strcmp(iface, "ide") == 0) {
		driver = cdrom ? "ide-cd" : "ide-hd";
	} else if (strcmp(iface, "usb") == 0) {
		driver = "usb-storage";
	}
	if (driver)
		json_object_set_new(*front, "driver", json_string(driver));
	if (drive)
		json_object_set_new(*front, "drive", json_string(drive));
	const char *cache = dev_str(dev, "cache");
	if (strcmp(cache, "writethrough") == 0 || strcmp(cache, "directsync") == 0)
		json_object_set_new(*front, "write-cache", json_string("off"));
	return 0;
}
