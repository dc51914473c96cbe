/* SPDX-License-Identifier: MIT */
/*
 * The device kinds: one row each. A row names the front-end driver per
 * virtio transport and maps fields to QEMU properties; the generic builder
 * turns a device into its property list from that alone. Kinds with a
 * backend (disk, net, chardevs...) add a build hook, in device-*.c.
 *
 * Adding a kind: write its field table, add a row to device_kinds[], and
 * if it has a backend, a build function.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

const char *device_driver(const struct device_kind *k, enum transport t)
{
	return k->driver[t];
}

char *derived_id(const char *id, const char *suffix)
{
	char *s = NULL;
	if (asprintf(&s, "%s-%s", id, suffix) < 0)
		return NULL;
	return s;
}

void copy_member(json_t *to, const char *to_key, const json_t *from, const char *from_key)
{
	json_t *v = json_object_get(from, from_key);
	if (v)
		json_object_set(to, to_key, v);
}

const char *dev_str(const json_t *dev, const char *field)
{
	return json_string_value(json_object_get(dev, field));
}

bool dev_is(const json_t *dev, const char *field, const char *value)
{
	const char *s = dev_str(dev, field);
	return s && strcmp(s, value) == 0;
}

bool transport_pci(const struct vctx *v)
{
	return v->transport == TRANSPORT_PCI && v->family != MF_MICROVM && v->family != MF_S390;
}

void only_for(struct vctx *v, const json_t *dev, const char *where, const char *const *fields,
	      bool allowed, const char *what)
{
	if (allowed)
		return;
	for (size_t i = 0; fields[i]; i++)
		if (json_object_get(dev, fields[i]))
			vproblem(v, where, "%s is only for %s", fields[i], what);
}

json_t *front_to_object(json_t *front, const char *qom_type)
{
	json_t *obj = json_object();
	json_object_set_new(obj, "qom-type", json_string(qom_type));
	const char *k;
	json_t *val;
	json_object_foreach(front, k, val)
		if (strcmp(k, "driver") != 0)
			json_object_set(obj, k, val);
	return obj;
}

/* ---- simple kinds ---- */

static const struct field rng_fields[] = {
	{ .name = "filename", .type = FT_STR, .path = PATH_HOST, .def = "/dev/urandom", .doc = "the host's entropy source" },
	{ .name = "max-bytes", .type = FT_INT, .prop = "max-bytes", .min = 1, .max = 1LL << 40, .doc = "rate limit: bytes per period" },
	{ .name = "period", .type = FT_INT, .prop = "period", .min = 1, .max = 1LL << 31, .doc = "rate limit period in ms" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static int rng_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	_cleanup_free_ char *id = derived_id(dev_str(dev, "id"), "rng");
	json_t *obj = json_pack("{s:s, s:s, s:O}", "qom-type", "rng-random", "id", id, "filename",
				json_object_get(dev, "filename"));
	if (arglist_add(r->out, OPT_OBJECT, "-object", obj, true) < 0)
		return -ENOMEM;
	json_object_set_new(*front, "rng", json_string(id));
	return 0;
}

static void period_check(struct vctx *v, json_t *dev, const char *where)
{
	if (json_object_get(dev, "period") && !json_object_get(dev, "max-bytes"))
		vproblem(v, where, "period needs max-bytes");
	pci_fields_check(v, dev, where);
}

static const struct field balloon_fields[] = {
	{ .name = "deflate-on-oom", .type = FT_BOOL, .prop = "deflate-on-oom", .doc = "give memory back when the guest runs out" },
	{ .name = "free-page-reporting", .type = FT_BOOL, .prop = "free-page-reporting", .doc = "the guest reports free pages" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const struct field vsock_fields[] = {
	{ .name = "guest-cid", .type = FT_INT, .prop = "guest-cid", .min = 3, .max = 4294967294LL, .required = true, .doc = "the guest's context id" },
	{ .name = "vhostfd", .type = FT_INT, .min = 0, .max = 65535, .doc = "an inherited /dev/vhost-vsock fd" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static int vsock_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_t *fd = json_object_get(dev, "vhostfd");
	if (fd) {
		/* A string property in QEMU, whatever it holds. */
		char s[24];
		snprintf(s, sizeof(s), "%lld", (long long)json_integer_value(fd));
		json_object_set_new(*front, "vhostfd", json_string(s));
	}
	return 0;
}

static const struct field pvpanic_fields[] = {
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static int pvpanic_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	/* x86 has the ISA variant at port 0x505; elsewhere it is a PCI device. */
	if (r->v->arch->x86 && r->v->family != MF_MICROVM && !json_object_get(dev, "addr"))
		json_object_set_new(*front, "driver", json_string("pvpanic"));
	return 0;
}

static const struct field iothread_fields[] = {
	{ .name = "poll-max-ns", .type = FT_INT, .prop = "poll-max-ns", .min = 0, .max = 1LL << 40, .doc = "busy-poll for up to this long" },
	{ .name = "poll-grow", .type = FT_INT, .prop = "poll-grow", .min = 0, .max = 1LL << 31 },
	{ .name = "poll-shrink", .type = FT_INT, .prop = "poll-shrink", .min = 0, .max = 1LL << 31 },
	FIELDS_END,
};

static int as_object(struct rctx *r, json_t **front, const char *qom_type)
{
	json_t *obj = front_to_object(*front, qom_type);
	json_decref(*front);
	*front = NULL;
	return arglist_add(r->out, OPT_OBJECT, "-object", obj, true);
}

static int iothread_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	return as_object(r, front, "iothread");
}

static const char *const vfio_types[] = { "pci", "ccw", "ap", NULL };
static const struct field vfio_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = vfio_types, .def = "pci", .doc = "pci, ccw or ap" },
	{ .name = "host", .type = FT_STR, .prop = "host", .doc = "the PCI address on the host, [DDDD:]BB:DD.F" },
	{ .name = "sysfsdev", .type = FT_STR, .path = PATH_HOST, .prop = "sysfsdev", .doc = "the device's sysfs path" },
	{ .name = "mdev", .type = FT_STR, .doc = "a mediated device's UUID" },
	{ .name = "rombar", .type = FT_INT, .prop = "rombar", .min = 0, .max = 1 },
	{ .name = "bootindex", .type = FT_INT, .prop = "bootindex", .min = 0, .max = 1 << 16 },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static bool pci_host_addr_valid(const char *s)
{
	unsigned d, b, sl, f;
	char tail;
	if (sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &tail) == 4)
		return sl < 32 && f < 8;
	if (sscanf(s, "%2x:%2x.%1x%c", &b, &sl, &f, &tail) == 3)
		return sl < 32 && f < 8;
	return false;
}

static void vfio_check(struct vctx *v, json_t *dev, const char *where)
{
	int sources = !!json_object_get(dev, "host") + !!json_object_get(dev, "sysfsdev") +
		      !!json_object_get(dev, "mdev");
	if (sources != 1)
		vproblem(v, where, "give exactly one of host, sysfsdev, mdev");
	const char *host = dev_str(dev, "host");
	if (host && !pci_host_addr_valid(host))
		vproblem(v, where, "host \"%s\" is not a PCI address ([DDDD:]BB:DD.F)", host);
	const char *type = dev_str(dev, "type");
	if (strcmp(type, "pci") == 0 && !transport_pci(v))
		vproblem(v, where, "type pci needs a PCI bus (machine %s)", v->machine);
	if (strcmp(type, "pci") != 0 && v->family != MF_S390)
		vproblem(v, where, "type %s is only for s390x", type);
	if (strcmp(type, "pci") != 0 && host)
		vproblem(v, where, "host is only for type pci");
	pci_fields_check(v, dev, where);
}

static int vfio_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *type = dev_str(dev, "type");
	json_object_set_new(*front, "driver", json_string(strcmp(type, "pci") == 0   ? "vfio-pci"
							  : strcmp(type, "ccw") == 0 ? "vfio-ccw"
										     : "vfio-ap"));
	const char *mdev = dev_str(dev, "mdev");
	if (mdev) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "/sys/bus/mdev/devices/%s", mdev) < 0)
			return -ENOMEM;
		json_object_set_new(*front, "sysfsdev", json_string(path));
	}
	return 0;
}

static const struct field pci_bridge_fields[] = {
	{ .name = "chassis-nr", .type = FT_INT, .prop = "chassis_nr", .min = 1, .max = 255, .required = true },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const struct field pcie_pci_bridge_fields[] = {
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const struct field root_port_fields[] = {
	{ .name = "chassis", .type = FT_INT, .prop = "chassis", .min = 0, .max = 255 },
	{ .name = "slot", .type = FT_INT, .prop = "slot", .min = 0, .max = 8191 },
	{ .name = "port", .type = FT_INT, .prop = "port", .min = 0, .max = 255 },
	{ .name = "bus-reserve", .type = FT_INT, .prop = "bus-reserve", .min = 0, .max = 255, .doc = "buses to reserve for hotplug" },
	{ .name = "io-reserve", .type = FT_SIZE, .prop = "io-reserve", .min = 0, .max = 1LL << 16 },
	{ .name = "mem-reserve", .type = FT_SIZE, .prop = "mem-reserve", .min = 0, .max = 1LL << 40 },
	{ .name = "pref64-reserve", .type = FT_SIZE, .prop = "pref64-reserve", .min = 0, .max = 1LL << 50 },
	{ .name = "multifunction", .type = FT_BOOL, .prop = "multifunction" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const struct field downstream_fields[] = {
	{ .name = "chassis", .type = FT_INT, .prop = "chassis", .min = 0, .max = 255 },
	{ .name = "slot", .type = FT_INT, .prop = "slot", .min = 0, .max = 8191 },
	{ .name = "port", .type = FT_INT, .prop = "port", .min = 0, .max = 255 },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const struct field pxb_fields[] = {
	{ .name = "bus-nr", .type = FT_INT, .prop = "bus_nr", .min = 1, .max = 255, .required = true, .doc = "the first bus number behind it" },
	{ .name = "numa-node", .type = FT_INT, .prop = "numa_node", .min = 0, .max = 127 },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static const char *const scsi_models[] = { "virtio", "lsi", "megasas", NULL };
static const struct field scsi_fields[] = {
	{ .name = "model", .type = FT_ENUM, .choices = scsi_models, .def = "virtio" },
	{ .name = "iothread", .type = FT_ID, .prop = "iothread", .doc = "an iothread device's id (virtio)" },
	{ .name = "num-queues", .type = FT_INT, .prop = "num_queues", .min = 1, .max = 1024 },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static void scsi_check(struct vctx *v, json_t *dev, const char *where)
{
	bool virtio = dev_is(dev, "model", "virtio");
	only_for(v, dev, where, (const char *const[]){ "iothread", "num-queues", NULL }, virtio,
		 "model virtio");
	if (!virtio && !transport_pci(v))
		vproblem(v, where, "model %s needs a PCI bus (machine %s)", dev_str(dev, "model"), v->machine);
	pci_fields_check(v, dev, where);
}

static int scsi_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	if (dev_is(dev, "model", "lsi"))
		json_object_set_new(*front, "driver", json_string("lsi53c895a"));
	else if (dev_is(dev, "model", "megasas"))
		json_object_set_new(*front, "driver", json_string("megasas"));
	return 0;
}

static const char *const usb_models[] = { "xhci", "ehci", NULL };
static const struct field usb_ctl_fields[] = {
	{ .name = "model", .type = FT_ENUM, .choices = usb_models, .def = "xhci" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static int usb_ctl_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	if (dev_is(dev, "model", "ehci"))
		json_object_set_new(*front, "driver", json_string("usb-ehci"));
	return 0;
}

static const char *const usb_types[] = { "tablet", "keyboard", "mouse", "host", NULL };
static const struct field usb_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = usb_types, .required = true },
	{ .name = "vendor-id", .type = FT_INT, .prop = "vendorid", .min = 0, .max = 0xffff, .doc = "host: the device's vendor" },
	{ .name = "product-id", .type = FT_INT, .prop = "productid", .min = 0, .max = 0xffff, .doc = "host: the device's product" },
	{ .name = "hostbus", .type = FT_INT, .prop = "hostbus", .min = 0, .max = 255 },
	{ .name = "hostaddr", .type = FT_INT, .prop = "hostaddr", .min = 0, .max = 255 },
	{ .name = "bus", .type = FT_STR, .prop = "bus", .doc = "the USB bus (default: the first controller)" },
	FIELDS_END,
};

static void usb_check(struct vctx *v, json_t *dev, const char *where)
{
	bool host = dev_is(dev, "type", "host");
	only_for(v, dev, where, (const char *const[]){ "vendor-id", "product-id", "hostbus", "hostaddr", NULL },
		 host, "type host");
	if (host && !json_object_get(dev, "vendor-id") && !json_object_get(dev, "hostbus"))
		vproblem(v, where, "type host needs vendor-id and product-id, or hostbus and hostaddr");
	if (host && !!json_object_get(dev, "vendor-id") != !!json_object_get(dev, "product-id"))
		vproblem(v, where, "vendor-id and product-id go together");
}

static int usb_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	static const char *const drivers[] = { "usb-tablet", "usb-kbd", "usb-mouse", "usb-host" };
	const char *type = dev_str(dev, "type");
	for (size_t i = 0; usb_types[i]; i++)
		if (strcmp(type, usb_types[i]) == 0)
			json_object_set_new(*front, "driver", json_string(drivers[i]));
	return 0;
}

static const char *const watchdog_models[] = { "i6300esb", "ib700", "diag288", NULL };
static const char *const watchdog_actions[] = { "reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi", NULL };
static const struct field watchdog_fields[] = {
	{ .name = "model", .type = FT_ENUM, .choices = watchdog_models, .doc = "default i6300esb, diag288 on s390x" },
	{ .name = "action", .type = FT_ENUM, .choices = watchdog_actions, .doc = "what QEMU does when it fires (-action watchdog=)" },
	COMMON_PCI_FIELDS,
	FIELDS_END,
};

static void watchdog_check(struct vctx *v, json_t *dev, const char *where)
{
	const char *m = dev_str(dev, "model");
	if (!m)
		json_object_set_new(dev, "model", json_string(v->family == MF_S390 ? "diag288" : "i6300esb"));
	m = dev_str(dev, "model");
	if (strcmp(m, "i6300esb") == 0 && !transport_pci(v))
		vproblem(v, where, "model i6300esb needs a PCI bus (machine %s)", v->machine);
	if (strcmp(m, "ib700") == 0 && !v->arch->x86)
		vproblem(v, where, "model ib700 is only for x86");
	if (strcmp(m, "diag288") == 0 && v->family != MF_S390)
		vproblem(v, where, "model diag288 is only for s390x");
	pci_fields_check(v, dev, where);
}

static int watchdog_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_object_set_new(*front, "driver", json_string(dev_str(dev, "model")));
	const char *action = dev_str(dev, "action");
	if (action) {
		json_t *p = json_pack("{s:s}", "watchdog", action);
		if (arglist_add(r->out, OPT_COMMA, "-action", p, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

static const struct field debug_exit_fields[] = {
	{ .name = "iobase", .type = FT_INT, .prop = "iobase", .min = 0, .max = 0xffff, .def = "0xf4" },
	{ .name = "iosize", .type = FT_INT, .prop = "iosize", .min = 1, .max = 4, .def = "4" },
	FIELDS_END,
};

static const struct field fw_cfg_fields[] = {
	{ .name = "name", .type = FT_STR, .required = true, .doc = "the item's name, opt/..." },
	{ .name = "file", .type = FT_STR, .path = PATH_HOST, .doc = "the item's content from a file" },
	{ .name = "string", .type = FT_STR, .doc = "the item's content" },
	FIELDS_END,
};

static void fw_cfg_check(struct vctx *v, json_t *dev, const char *where)
{
	const char *name = dev_str(dev, "name");
	if (!!json_object_get(dev, "file") == !!json_object_get(dev, "string"))
		vproblem(v, where, "give exactly one of file, string");
	if (name && strncmp(name, "opt/", 4) != 0)
		vproblem(v, where, "name \"%s\" does not start with opt/ (other names are QEMU's own)", name);
	if (name && strlen(name) > 55)
		vproblem(v, where, "name \"%s\" is longer than 55 bytes", name);
}

static int fw_cfg_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_decref(*front);
	*front = NULL;
	json_t *p = json_object();
	copy_member(p, "name", dev, "name");
	copy_member(p, "file", dev, "file");
	copy_member(p, "string", dev, "string");
	return arglist_add(r->out, OPT_COMMA, "-fw_cfg", p, false);
}

static const struct field loader_fields[] = {
	{ .name = "file", .type = FT_STR, .path = PATH_HOST, .prop = "file", .doc = "an image to load (ELF, uImage or raw)" },
	{ .name = "addr", .type = FT_INT, .prop = "addr", .min = 0, .max = INT64_MAX },
	{ .name = "data", .type = FT_INT, .prop = "data", .min = 0, .max = INT64_MAX },
	{ .name = "data-len", .type = FT_INT, .prop = "data-len", .min = 1, .max = 8 },
	{ .name = "cpu-num", .type = FT_INT, .prop = "cpu-num", .min = 0, .max = 4095 },
	{ .name = "force-raw", .type = FT_BOOL, .prop = "force-raw" },
	FIELDS_END,
};

static void loader_check(struct vctx *v, json_t *dev, const char *where)
{
	bool file = json_object_get(dev, "file"), data = json_object_get(dev, "data");
	if (file == data)
		vproblem(v, where, "give exactly one of file, data");
	if (data && (!json_object_get(dev, "data-len") || !json_object_get(dev, "addr")))
		vproblem(v, where, "data needs data-len and addr");
}

static const char *const on_off_auto[] = { "on", "off", "auto", NULL };
static const struct field iommu_fields[] = {
	{ .name = "intremap", .type = FT_ENUM, .choices = on_off_auto, .prop = "intremap" },
	{ .name = "caching-mode", .type = FT_BOOL, .prop = "caching-mode" },
	{ .name = "device-iotlb", .type = FT_BOOL, .prop = "device-iotlb" },
	{ .name = "aw-bits", .type = FT_INT, .prop = "aw-bits", .min = 39, .max = 48 },
	FIELDS_END,
};

/* A machine option as the spec gives it, as text ("split", "true"), or NULL. */
static const char *machine_option(struct vctx *v, const char *key, char *buf, size_t len)
{
	json_t *o = json_object_get(json_object_get(json_object_get(v->normal, "machine"), "options"), key);
	if (json_is_string(o))
		return json_string_value(o);
	if (json_is_boolean(o))
		return json_is_true(o) ? "true" : "false";
	if (json_is_integer(o)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(o));
		return buf;
	}
	return NULL;
}

static bool option_on(const char *s)
{
	return s && (strcmp(s, "on") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0);
}

static void iommu_check(struct vctx *v, json_t *dev, const char *where)
{
	char buf[32];
	const char *irqchip = machine_option(v, "kernel-irqchip", buf, sizeof(buf));
	if (dev_is(dev, "intremap", "on") && (!irqchip || strcmp(irqchip, "split") != 0))
		vproblem(v, where, "intremap on needs machine option kernel-irqchip: split");
	json_t *aw = json_object_get(dev, "aw-bits");
	if (aw && json_integer_value(aw) != 39 && json_integer_value(aw) != 48)
		vproblem(v, where, "aw-bits %lld is not 39 or 48", (long long)json_integer_value(aw));
}

static const char *const dimm_types[] = { "pc-dimm", "nvdimm", NULL };
static const char *const mem_backends[] = { "ram", "file", "memfd", NULL };
static const struct field dimm_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = dimm_types, .def = "pc-dimm" },
	{ .name = "size", .type = FT_SIZE, .min = 1 << 20, .max = 1LL << 50, .required = true },
	{ .name = "backend", .type = FT_ENUM, .choices = mem_backends, .def = "ram" },
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .doc = "backend file: the file (nvdimm: its image)" },
	{ .name = "share", .type = FT_BOOL },
	{ .name = "prealloc", .type = FT_BOOL },
	{ .name = "node", .type = FT_INT, .prop = "node", .min = 0, .max = 127 },
	{ .name = "label-size", .type = FT_SIZE, .prop = "label-size", .min = 128 << 10, .max = 1LL << 30, .doc = "nvdimm label area" },
	FIELDS_END,
};

static void dimm_check(struct vctx *v, json_t *dev, const char *where)
{
	bool file = dev_is(dev, "backend", "file");
	if (file != !!json_object_get(dev, "path"))
		vproblem(v, where, file ? "backend file needs a path" : "path is only for backend file");
	only_for(v, dev, where, (const char *const[]){ "label-size", NULL }, dev_is(dev, "type", "nvdimm"),
		 "type nvdimm");
	char buf[32];
	if (dev_is(dev, "type", "nvdimm") && !option_on(machine_option(v, "nvdimm", buf, sizeof(buf))))
		vproblem(v, where, "type nvdimm needs machine option nvdimm: true");
}

static json_t *memory_backend(const json_t *dev, const char *id)
{
	const char *backend = dev_str(dev, "backend");
	char qom[32];
	snprintf(qom, sizeof(qom), "memory-backend-%s", backend);
	json_t *obj = json_pack("{s:s, s:s}", "qom-type", qom, "id", id);
	copy_member(obj, "size", dev, "size");
	copy_member(obj, "mem-path", dev, "path");
	copy_member(obj, "share", dev, "share");
	copy_member(obj, "prealloc", dev, "prealloc");
	return obj;
}

static int dimm_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	_cleanup_free_ char *id = derived_id(dev_str(dev, "id"), "mem");
	if (arglist_add(r->out, OPT_OBJECT, "-object", memory_backend(dev, id), true) < 0)
		return -ENOMEM;
	json_object_set_new(*front, "driver", json_string(dev_str(dev, "type")));
	json_object_set_new(*front, "memdev", json_string(id));
	return 0;
}

static const char *const mem_object_types[] = { "ram", "file", "memfd", "epc", NULL };
static const struct field mem_object_fields[] = {
	{ .name = "backend", .type = FT_ENUM, .choices = mem_object_types, .required = true },
	{ .name = "size", .type = FT_SIZE, .min = 1 << 12, .max = 1LL << 50, .required = true },
	{ .name = "path", .type = FT_STR, .path = PATH_HOST },
	{ .name = "share", .type = FT_BOOL },
	{ .name = "prealloc", .type = FT_BOOL },
	FIELDS_END,
};

static void mem_object_check(struct vctx *v, json_t *dev, const char *where)
{
	bool file = dev_is(dev, "backend", "file");
	if (file != !!json_object_get(dev, "path"))
		vproblem(v, where, file ? "backend file needs a path" : "path is only for backend file");
	if (dev_is(dev, "backend", "epc") && !v->arch->x86)
		vproblem(v, where, "backend epc (SGX) is only for x86");
}

static int mem_object_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_decref(*front);
	*front = NULL;
	return arglist_add(r->out, OPT_OBJECT, "-object", memory_backend(dev, dev_str(dev, "id")), true);
}

/* Confidential guests: the object, and the machine pointed at it. */
static const struct field sev_fields[] = {
	{ .name = "cbitpos", .type = FT_INT, .prop = "cbitpos", .min = 1, .max = 63, .required = true },
	{ .name = "reduced-phys-bits", .type = FT_INT, .prop = "reduced-phys-bits", .min = 1, .max = 63, .required = true },
	{ .name = "policy", .type = FT_INT, .prop = "policy", .min = 0, .max = INT64_MAX },
	{ .name = "dh-cert-file", .type = FT_STR, .path = PATH_HOST, .prop = "dh-cert-file" },
	{ .name = "session-file", .type = FT_STR, .path = PATH_HOST, .prop = "session-file" },
	FIELDS_END,
};

static const struct field tdx_fields[] = {
	{ .name = "attributes", .type = FT_INT, .prop = "attributes", .min = 0, .max = INT64_MAX },
	{ .name = "sept-ve-disable", .type = FT_BOOL, .prop = "sept-ve-disable" },
	FIELDS_END,
};

static void version_check(struct vctx *v, const char *where, const char *what, unsigned since)
{
	if (v->qemu_version < since)
		vproblem(v, where, "%s needs QEMU %u.%u (target is %u.%u)", what, since / 10000,
			 since / 100 % 100, v->qemu_version / 10000, v->qemu_version / 100 % 100);
}

static void sev_check(struct vctx *v, json_t *dev, const char *where)
{
	(void)dev;
}

static void sev_snp_check(struct vctx *v, json_t *dev, const char *where)
{
	version_check(v, where, "sev-snp-guest", 90100);
	if (json_object_get(dev, "dh-cert-file") || json_object_get(dev, "session-file"))
		vproblem(v, where, "dh-cert-file and session-file are only for sev-guest");
}

static void tdx_check(struct vctx *v, json_t *dev, const char *where)
{
	version_check(v, where, "tdx-guest", 100100);
}

static int cgs_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *kind = dev_str(dev, "kind");
	return as_object(r, front, kind);
}

/* The escape hatches: any driver or QOM type, still checked and escaped. */
static const struct field generic_device_fields[] = {
	{ .name = "driver", .type = FT_STR, .required = true, .doc = "the QEMU device driver" },
	{ .name = "props", .type = FT_MAP, .doc = "its properties, typed" },
	{ .name = "bus", .type = FT_STR, .prop = "bus" },
	{ .name = "addr", .type = FT_STR, .prop = "addr" },
	FIELDS_END,
};

static void generic_check(struct vctx *v, json_t *dev, const char *where)
{
	const char *field = json_object_get(dev, "driver") ? "driver" : "qom-type";
	const char *d = dev_str(dev, field);
	if (d && !props_key_valid(d))
		vproblem(v, where, "%s \"%s\" is not a valid name", field, d);
	const char *k;
	json_t *val;
	json_object_foreach(json_object_get(dev, "props"), k, val)
		if (strcmp(k, "id") == 0 || strcmp(k, "driver") == 0 || strcmp(k, "qom-type") == 0)
			vproblem(v, where, "props.%s: set it as a field, not a property", k);
}

static int generic_device_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_object_set(*front, "driver", json_object_get(dev, "driver"));
	json_object_update(*front, json_object_get(dev, "props"));
	return 0;
}

static const struct field generic_object_fields[] = {
	{ .name = "qom-type", .type = FT_STR, .required = true, .doc = "the QOM type" },
	{ .name = "props", .type = FT_MAP, .doc = "its properties, typed" },
	FIELDS_END,
};

static int generic_object_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	json_decref(*front);
	*front = NULL;
	json_t *obj = json_object();
	copy_member(obj, "qom-type", dev, "qom-type");
	copy_member(obj, "id", dev, "id");
	json_object_update(obj, json_object_get(dev, "props"));
	return arglist_add(r->out, OPT_OBJECT, "-object", obj, true);
}

#define VIRTIO(base) { base "-pci", base "-device", base "-ccw" }
#define PCI_ONLY(d) { d, NULL, NULL }
#define ANY(d) { d, d, d }

const struct device_kind device_kinds[] = {
	{ "disk", "disk", disk_fields, VIRTIO("virtio-blk"), 0, disk_check, disk_build,
	  "a disk, cdrom or read-only directory (vvfat)" },
	{ "net", "net", net_fields, VIRTIO("virtio-net"), 0, net_check, net_build, "a network interface and its backend" },
	{ "fs", "fs", fs_fields, VIRTIO("virtio-9p"), 0, fs_check, fs_build, "a shared folder: 9p or virtiofs" },
	{ "serial", "serial", serial_fields, ANY("isa-serial"), 0, serial_check, serial_build, "another UART" },
	{ "console", "vcon", console_dev_fields, ANY("virtconsole"), 0, console_dev_check, chardev_dev_build, "a virtio console (hvcN)" },
	{ "channel", "channel", channel_fields, ANY("virtserialport"), 0, console_dev_check, chardev_dev_build, "a named virtio serial port" },
	{ "virtio-serial", "vserial", virtio_serial_fields, VIRTIO("virtio-serial"), 0, pci_fields_check, NULL, "the virtio-serial controller" },
	{ "monitor", "mon", monitor_fields, ANY(NULL), 0, monitor_check, monitor_build, "a QMP or HMP monitor" },
	{ "vhost-user", "vhost", vhost_user_fields, { "vhost-user-blk-pci", "vhost-user-blk", NULL }, 0, vhost_user_check, vhost_user_build, "a vhost-user blk or scsi device" },
	{ "rng", "rng", rng_fields, VIRTIO("virtio-rng"), 0, period_check, rng_build, "virtio-rng fed from a host file" },
	{ "balloon", "balloon", balloon_fields, VIRTIO("virtio-balloon"), 0, pci_fields_check, NULL, "a memory balloon" },
	{ "vsock", "vsock", vsock_fields, { "vhost-vsock-pci", "vhost-vsock-device", "vhost-vsock-ccw" }, 0, pci_fields_check, vsock_build, "a vsock device" },
	{ "pvpanic", "pvpanic", pvpanic_fields, PCI_ONLY("pvpanic-pci"), 0, pci_fields_check, pvpanic_build, "the guest reports panics" },
	{ "iothread", "iothread", iothread_fields, ANY("iothread"), 0, NULL, iothread_build, "an I/O thread for disks and SCSI" },
	{ "vfio", "hostdev", vfio_fields, { "vfio-pci", NULL, "vfio-ccw" }, 0, vfio_check, vfio_build, "a host device passed through" },
	{ "pci-bridge", "pcibr", pci_bridge_fields, PCI_ONLY("pci-bridge"), NEED_PCI, pci_fields_check, NULL, "a PCI-PCI bridge" },
	{ "pcie-pci-bridge", "pcibr", pcie_pci_bridge_fields, PCI_ONLY("pcie-pci-bridge"), NEED_PCIE, pci_fields_check, NULL, "a PCIe-to-PCI bridge" },
	{ "pcie-root-port", "rp", root_port_fields, PCI_ONLY("pcie-root-port"), NEED_PCIE, pci_fields_check, NULL, "a PCIe root port" },
	{ "pcie-upstream-port", "up", pcie_pci_bridge_fields, PCI_ONLY("x3130-upstream"), NEED_PCIE, pci_fields_check, NULL, "a PCIe switch's upstream port" },
	{ "pcie-downstream-port", "down", downstream_fields, PCI_ONLY("xio3130-downstream"), NEED_PCIE, pci_fields_check, NULL, "a PCIe switch's downstream port" },
	{ "pxb-pcie", "pxb", pxb_fields, PCI_ONLY("pxb-pcie"), NEED_PCIE, pci_fields_check, NULL, "an extra PCIe root bus" },
	{ "scsi-controller", "scsi", scsi_fields, VIRTIO("virtio-scsi"), 0, scsi_check, scsi_build, "a SCSI controller" },
	{ "usb-controller", "usb", usb_ctl_fields, PCI_ONLY("qemu-xhci"), NEED_PCI, pci_fields_check, usb_ctl_build, "a USB controller" },
	{ "usb", "usbdev", usb_fields, ANY("usb-tablet"), NEED_USB, usb_check, usb_build, "a USB device: tablet, keyboard, mouse, host" },
	{ "tpm", "tpm", tpm_fields, ANY("tpm-tis"), 0, tpm_check, tpm_build, "a TPM backed by swtpm" },
	{ "watchdog", "watchdog", watchdog_fields, ANY("i6300esb"), 0, watchdog_check, watchdog_build, "a watchdog" },
	{ "isa-debug-exit", "debugexit", debug_exit_fields, ANY("isa-debug-exit"), NEED_ISA, NULL, NULL, "x86: a port whose write exits QEMU" },
	{ "fw-cfg", "fwcfg", fw_cfg_fields, ANY("fw_cfg"), 0, fw_cfg_check, fw_cfg_build, "an fw_cfg item" },
	{ "loader", "loader", loader_fields, ANY("loader"), 0, loader_check, NULL, "load a file or value into guest memory" },
	{ "intel-iommu", "iommu", iommu_fields, PCI_ONLY("intel-iommu"), NEED_Q35, iommu_check, NULL, "x86 q35: the Intel IOMMU" },
	{ "memory", "dimm", dimm_fields, ANY("pc-dimm"), 0, dimm_check, dimm_build, "hotpluggable memory: pc-dimm or nvdimm" },
	{ "memory-backend", "mem", mem_object_fields, ANY("memory-backend-ram"), 0, mem_object_check, mem_object_build, "a memory backend object" },
	{ "sev-guest", "sev", sev_fields, ANY("sev-guest"), NEED_X86, sev_check, cgs_build, "AMD SEV" },
	{ "sev-snp-guest", "sev", sev_fields, ANY("sev-snp-guest"), NEED_X86, sev_snp_check, cgs_build, "AMD SEV-SNP" },
	{ "tdx-guest", "tdx", tdx_fields, ANY("tdx-guest"), NEED_X86, tdx_check, cgs_build, "Intel TDX" },
	{ "device", "dev", generic_device_fields, ANY("generic"), 0, generic_check, generic_device_build, "any QEMU device" },
	{ "object", "obj", generic_object_fields, ANY("generic"), 0, generic_check, generic_object_build, "any QOM object" },
	{ NULL },
};

const struct device_kind *device_kind_find(const char *name)
{
	for (const struct device_kind *k = device_kinds; name && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

int device_build(struct rctx *r, json_t *dev, qk_error **err)
{
	const struct device_kind *k = device_kind_find(dev_str(dev, "kind"));
	json_t *front = json_object();
	json_object_set_new(front, "driver", json_string(device_driver(k, r->v->transport)));
	copy_member(front, "id", dev, "id");
	for (const struct field *f = k->fields; f->name; f++)
		if (f->prop)
			copy_member(front, f->prop, dev, f->name);
	if (k->build) {
		int ret = k->build(r, dev, &front, err);
		if (ret < 0) {
			json_decref(front);
			return ret;
		}
	}
	if (!front)
		return 0;
	return arglist_add(r->out, OPT_DEVICE, "-device", front, true);
}

void pci_fields_check(struct vctx *v, json_t *dev, const char *where)
{
	if (json_object_get(dev, "addr") && !transport_pci(v))
		vproblem(v, where, "addr is only for PCI devices (machine %s uses %s)", v->machine,
			 transport_name(v->transport));
}
