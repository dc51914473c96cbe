/* SPDX-License-Identifier: MIT */
/*
 * From what the user wrote to the normal tree: the schema pass over the
 * sections (spec-schema.c) and the devices (device.c), the defaults that
 * depend on the architecture, device ids, implicit controllers, and the
 * rules that span fields or devices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "spec-internal.h"
#include "util.h"

/* ---- the devices ---- */

struct devctx {
	json_t *devs;   /* the normal list */
	char **labels;  /* "devices[2] (disk \"root\")", parallel to devs */
	size_t n;
	json_t *taken;  /* every id given or allocated, as keys */
	json_t *next;   /* per id prefix, the number to try next */
};

static void devctx_free(struct devctx *d)
{
	json_decref(d->taken);
	json_decref(d->next);
	for (size_t i = 0; i < d->n; i++)
		free(d->labels[i]);
	free(d->labels);
}

/* The first PREFIXn not taken; numbering goes on from the last one per prefix. */
static char *allocate_id(struct devctx *d, const char *prefix)
{
	for (long long n = json_integer_value(json_object_get(d->next, prefix));; n++) {
		char *id = NULL;
		if (asprintf(&id, "%s%lld", prefix, n) < 0)
			return NULL;
		if (!json_object_get(d->taken, id)) {
			json_object_set_new(d->taken, id, json_true());
			json_object_set_new(d->next, prefix, json_integer(n + 1));
			return id;
		}
		free(id);
	}
}

static int devctx_push(struct devctx *d, json_t *dev, char *label)
{
	char **l = realloc(d->labels, (d->n + 1) * sizeof(*l));
	if (!l) {
		free(label);
		json_decref(dev);
		return -ENOMEM;
	}
	d->labels = l;
	d->labels[d->n++] = label;
	json_array_append_new(d->devs, dev);
	return 0;
}

static const char *dev_kind(const json_t *dev)
{
	return json_string_value(json_object_get(dev, "kind"));
}

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool needs_met(struct vctx *v, unsigned needs)
{
	bool pci = v->transport == TRANSPORT_PCI && v->family != MF_MICROVM && v->family != MF_S390;
	if ((needs & NEED_PCI) && !pci)
		return false;
	if ((needs & NEED_PCIE) && v->family != MF_Q35 && v->family != MF_VIRT)
		return false;
	if ((needs & (NEED_X86 | NEED_ISA)) && !v->arch->x86)
		return false;
	if ((needs & NEED_ISA) && v->family != MF_PC && v->family != MF_Q35 &&
	    v->family != MF_MICROVM)
		return false;
	if ((needs & NEED_Q35) && v->family != MF_Q35)
		return false;
	if ((needs & NEED_USB) && (v->family == MF_MICROVM || v->family == MF_S390))
		return false;
	return true;
}

static json_t *implicit_device(struct vctx *v, const char *kind, json_t *fields)
{
	const struct device_kind *k = device_kind_find(kind);
	json_t *in = fields ? fields : json_object();
	json_t *out = json_object();
	json_object_set_new(out, "kind", json_string(kind));
	schema_normalize(v, k->fields, in, out, kind);
	json_decref(in);
	return out;
}

/* Which controller a device needs that the spec may leave out. */
static const char *controller_for(const json_t *raw)
{
	const char *kind = str_of(raw, "kind");
	if (!kind)
		return NULL;
	const char *iface = str_of(raw, "interface");
	if (strcmp(kind, "disk") == 0 && iface && strcmp(iface, "scsi") == 0 && !json_object_get(raw, "bus"))
		return "scsi-controller";
	if (strcmp(kind, "disk") == 0 && iface && strcmp(iface, "usb") == 0)
		return "usb-controller";
	if (strcmp(kind, "usb") == 0)
		return "usb-controller";
	if (strcmp(kind, "channel") == 0 || strcmp(kind, "console") == 0)
		return "virtio-serial";
	return NULL;
}

static void normalize_devices(struct vctx *v, json_t *raw_devs, struct devctx *d, bool virtio_console)
{
	size_t i;
	json_t *raw;

	json_array_foreach(raw_devs, i, raw) {
		json_t *id = json_object_get(raw, "id");
		if (json_is_string(id))
			json_object_set_new(d->taken, json_string_value(id), json_true());
	}

	/*
	 * Controllers the devices need and the spec does not list come
	 * first, so they exist before anything plugs into them; they show in
	 * `qkit spec show` like any other device.
	 */
	static const char *const controllers[] = { "virtio-serial", "scsi-controller", "usb-controller" };
	for (size_t c = 0; c < ARRAY_SIZE(controllers); c++) {
		bool needed = c == 0 && virtio_console, listed = false;
		json_array_foreach(raw_devs, i, raw) {
			const char *kind = str_of(raw, "kind");
			const char *ctl = controller_for(raw);
			if (kind && strcmp(kind, controllers[c]) == 0)
				listed = true;
			if (ctl && strcmp(ctl, controllers[c]) == 0)
				needed = true;
		}
		if (!needed || listed)
			continue;
		const struct device_kind *k = device_kind_find(controllers[c]);
		if (!needs_met(v, k->needs))
			continue; /* the consumer reports it */
		json_t *dev = implicit_device(v, controllers[c], NULL);
		char *id = allocate_id(d, k->id_prefix);
		json_object_set_new(dev, "id", json_string(id));
		char *label = NULL;
		if (asprintf(&label, "implicit %s \"%s\"", controllers[c], id) < 0)
			label = NULL;
		free(id);
		json_t *ordered = json_object();
		json_object_set(ordered, "kind", json_object_get(dev, "kind"));
		json_object_set(ordered, "id", json_object_get(dev, "id"));
		json_object_update_missing(ordered, dev);
		json_decref(dev);
		devctx_push(d, ordered, label);
	}

	json_array_foreach(raw_devs, i, raw) {
		char *label = NULL;
		if (!json_is_object(raw)) {
			_cleanup_free_ char *r = value_repr(raw);
			vproblem(v, NULL, "devices[%zu] %s is not a mapping (with a kind)", i, r);
			continue;
		}
		json_t *kind_v = json_object_get(raw, "kind");
		const struct device_kind *k = json_is_string(kind_v)
						      ? device_kind_find(json_string_value(kind_v))
						      : NULL;
		if (!kind_v) {
			vproblem(v, NULL, "devices[%zu]: kind is required", i);
			continue;
		}
		if (!k) {
			struct buf b = BUF_INIT;
			for (size_t j = 0; device_kinds[j].name; j++)
				buf_printf(&b, "%s%s", j ? ", " : "", device_kinds[j].name);
			_cleanup_free_ char *r = value_repr(kind_v);
			vproblem(v, NULL, "devices[%zu]: kind %s is not one of %s", i, r, b.data);
			buf_free(&b);
			continue;
		}
		json_t *id_v = json_object_get(raw, "id");
		_cleanup_free_ char *id = NULL;
		if (id_v && json_is_string(id_v) && id_valid(json_string_value(id_v))) {
			id = strdup(json_string_value(id_v));
		} else if (id_v) {
			_cleanup_free_ char *r = value_repr(id_v);
			vproblem(v, NULL,
				 "devices[%zu] (%s): id %s is not a valid id (a letter, then letters, digits, '-', '.', '_')",
				 i, k->name, r);
			continue;
		} else {
			id = allocate_id(d, k->id_prefix);
		}
		if (asprintf(&label, "devices[%zu] (%s \"%s\")", i, k->name, id) < 0)
			return;

		json_t *dev = json_object();
		json_object_set_new(dev, "kind", json_string(k->name));
		json_object_set_new(dev, "id", json_string(id));
		json_t *rest = json_deep_copy(raw);
		json_object_del(rest, "kind");
		json_object_del(rest, "id");
		schema_normalize(v, k->fields, rest, dev, label);
		json_decref(rest);

		if (!needs_met(v, k->needs))
			vproblem(v, label, "%s is not available on %s (machine %s)", k->name,
				 v->arch->name, v->machine);
		else if (k->driver[0] && !device_driver(k, v->transport))
			vproblem(v, label, "%s has no %s transport variant (machine %s)", k->name,
				 transport_name(v->transport), v->machine);
		else if (k->check)
			k->check(v, dev, label);
		devctx_push(d, dev, label);
	}

	/*
	 * The ids qkit gives what it adds itself (render.c, and the monitors
	 * and console chardev the supervisor adds, all "qkit-...") are not the
	 * user's to take.
	 */
	static const char *const reserved[] = { "console0", "ram", "video0", "vnc-secret", "uefi-code", "uefi-vars" };
	for (size_t a = 0; a < d->n; a++) {
		const char *id = str_of(json_array_get(d->devs, a), "id");
		bool taken = strncmp(id, "ram-node", 8) == 0 || strncmp(id, "qkit-", 5) == 0;
		for (size_t r = 0; r < ARRAY_SIZE(reserved); r++)
			taken = taken || strcmp(id, reserved[r]) == 0;
		if (taken)
			vproblem(v, d->labels[a], "id \"%s\" is reserved for what qkit adds itself", id);
	}

	/* Ids are unique across devices. */
	json_t *first = json_object();
	for (size_t a = 0; a < d->n; a++) {
		const char *id = str_of(json_array_get(d->devs, a), "id");
		json_t *b = json_object_get(first, id);
		if (b)
			vproblem(v, d->labels[a], "id \"%s\" is already used by %s", id,
				 d->labels[json_integer_value(b)]);
		else
			json_object_set_new(first, id, json_integer((json_int_t)a));
	}
	json_decref(first);
}

/* ---- rules that span fields ---- */

static bool uuid_valid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
				return false;
		if (g < 4 && *s++ != '-')
			return false;
	}
	return *s == '\0';
}

static void check_accel(struct vctx *v, json_t *machine)
{
	static const char *const accels[] = { "kvm", "tcg", "hvf", "whpx", "xen", NULL };
	json_t *list = json_object_get(machine, "accel");
	json_t *out = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a) {
		/* "kvm:tcg" is the classic spelling of a fallback list. */
		_cleanup_free_ char *copy = strdup(json_string_value(a));
		char *save = NULL;
		for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
			bool ok = false;
			for (size_t j = 0; accels[j]; j++)
				ok = ok || strcmp(accels[j], tok) == 0;
			if (!ok)
				vproblem(v, "machine", "accel[%zu] \"%s\" is not one of kvm, tcg, hvf, whpx, xen",
					 i, tok);
			else
				json_array_append_new(out, json_string(tok));
		}
	}
	if (!list || json_array_size(list) == 0)
		json_array_append_new(out, json_string("tcg"));
	json_object_set_new(machine, "accel", out);
}

static bool has_cpu_ranges_ok(const char *s)
{
	char *end;
	long a = strtol(s, &end, 10);
	if (end == s || a < 0)
		return false;
	if (*end == '-') {
		const char *b = end + 1;
		long c = strtol(b, &end, 10);
		if (end == b || c < a)
			return false;
	}
	return *end == '\0';
}

static void check_memory(struct vctx *v, json_t *mem, json_t *cpu)
{
	json_t *backend = json_object_get(mem, "backend");
	const char *b = json_string_value(backend);
	if (b && strcmp(b, "file") == 0 && !json_object_get(mem, "path"))
		vproblem(v, "memory", "backend file needs a path (a file, or a hugetlbfs directory)");
	if (json_object_get(mem, "path") && (!b || strcmp(b, "file") != 0))
		vproblem(v, "memory", "path is only for backend file");
	if (json_object_get(mem, "maxmem") && !json_object_get(mem, "slots"))
		vproblem(v, "memory", "maxmem needs slots");
	if (json_object_get(mem, "slots") && !json_object_get(mem, "maxmem"))
		vproblem(v, "memory", "slots needs maxmem");
	long long size = json_integer_value(json_object_get(mem, "size"));
	json_t *maxmem = json_object_get(mem, "maxmem");
	if (maxmem && json_integer_value(maxmem) < size) {
		_cleanup_free_ char *m = format_size(json_integer_value(maxmem));
		_cleanup_free_ char *s = format_size(size);
		vproblem(v, "memory", "maxmem %s is less than size %s", m, s);
	}

	json_t *numa = json_object_get(mem, "numa");
	if (json_array_size(numa) && v->family == MF_S390)
		vproblem(v, "memory", "numa is not available on machine %s", v->machine);
	if (json_array_size(numa)) {
		long long total = 0;
		size_t i;
		json_t *node;
		json_array_foreach(numa, i, node) {
			total += json_integer_value(json_object_get(node, "memory"));
			size_t j;
			json_t *r;
			json_array_foreach(json_object_get(node, "cpus"), j, r)
				if (!has_cpu_ranges_ok(json_string_value(r)))
					vproblem(v, "memory", "numa[%zu]: cpus[%zu] \"%s\" is not N or N-M", i, j,
						 json_string_value(r));
		}
		if (total != size) {
			_cleanup_free_ char *t = format_size(total);
			_cleanup_free_ char *s = format_size(size);
			vproblem(v, "memory", "numa nodes add up to %s, not size %s", t, s);
		}
	}
	size_t i;
	json_t *dist;
	json_array_foreach(json_object_get(mem, "distances"), i, dist) {
		long long from = json_integer_value(json_object_get(dist, "from"));
		long long to = json_integer_value(json_object_get(dist, "to"));
		if (from >= (long long)json_array_size(numa) || to >= (long long)json_array_size(numa))
			vproblem(v, "memory", "distances[%zu]: node %lld does not exist (%zu numa nodes)", i,
				 from >= (long long)json_array_size(numa) ? from : to, json_array_size(numa));
	}
	(void)cpu;
}

static void check_cpu(struct vctx *v, json_t *cpu)
{
	long long count = json_integer_value(json_object_get(cpu, "count"));
	json_t *maxcpus = json_object_get(cpu, "maxcpus");
	if (maxcpus && json_integer_value(maxcpus) < count)
		vproblem(v, "cpu", "maxcpus %lld is less than count %lld",
			 (long long)json_integer_value(maxcpus), count);
	static const char *const topo[] = { "sockets", "dies", "cores", "threads" };
	long long product = 1;
	bool any = false;
	for (size_t i = 0; i < ARRAY_SIZE(topo); i++) {
		json_t *t = json_object_get(cpu, topo[i]);
		if (t) {
			product *= json_integer_value(t);
			any = true;
		}
	}
	long long want = maxcpus ? json_integer_value(maxcpus) : count;
	if (any && json_object_get(cpu, "sockets") && json_object_get(cpu, "cores") &&
	    json_object_get(cpu, "threads") && product != want)
		vproblem(v, "cpu", "sockets * dies * cores * threads is %lld, not %s %lld", product,
			 maxcpus ? "maxcpus" : "count", want);
	if (json_object_get(cpu, "dies") && !v->arch->x86)
		vproblem(v, "cpu", "dies is only for x86");
	/* -cpu splits at every comma and knows no escape: the model must be a plain name. */
	const char *model = str_of(cpu, "model");
	if (model && !props_key_valid(model))
		vproblem(v, "cpu", "model \"%s\" is not a CPU model name (letters, digits, '-', '_', '.')", model);
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(cpu, "features"), i, f) {
		const char *s = json_string_value(f);
		if ((s[0] != '+' && s[0] != '-') || !s[1] || strpbrk(s + 1, ",= "))
			vproblem(v, "cpu", "features[%zu] \"%s\" is not +NAME or -NAME", i, s);
	}
}

static void check_boot(struct vctx *v, json_t *boot)
{
	bool kernel = json_object_get(boot, "kernel") != NULL;
	if (!kernel && json_object_get(boot, "append"))
		vproblem(v, "boot", "append needs a kernel");
	if (!kernel && json_object_get(boot, "initrd"))
		vproblem(v, "boot", "initrd needs a kernel");
	if (v->family == MF_MICROVM && !kernel)
		vproblem(v, "boot", "machine microvm needs a kernel (it has no firmware boot path here)");
	json_t *uefi = json_object_get(boot, "uefi");
	if (uefi && json_object_get(boot, "bios"))
		vproblem(v, "boot", "bios and uefi exclude each other");
	if (uefi) {
		const char *code = str_of(uefi, "code"), *vars = str_of(uefi, "vars");
		if (code && vars && strcmp(code, vars) == 0)
			vproblem(v, "boot.uefi", "vars \"%s\" is the read-only code file", vars);
		else if (vars && (strncmp(vars, "/usr/share/", 11) == 0))
			vproblem(v, "boot.uefi",
				 "vars \"%s\" is the read-only template; give a writable copy", vars);
		if (v->family != MF_Q35 && v->family != MF_PC && v->family != MF_VIRT)
			vproblem(v, "boot", "uefi needs machine q35, pc or virt (not %s)", v->machine);
	}
	const char *order = str_of(boot, "order");
	if (order && (!*order || strspn(order, "acdn") != strlen(order)))
		vproblem(v, "boot", "order \"%s\" is not letters from a, c, d, n", order);
	const char *inc = str_of(boot, "incoming");
	if (inc) {
		static const char *const schemes[] = { "tcp:", "unix:", "exec:", "fd:", "file:", "rdma:" };
		bool ok = strcmp(inc, "defer") == 0;
		for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
			ok = ok || strncmp(inc, schemes[i], strlen(schemes[i])) == 0;
		if (!ok)
			vproblem(v, "boot", "incoming \"%s\" is not defer or tcp:, unix:, exec:, fd:, file:, rdma:", inc);
		else if (strncmp(inc, "file:", 5) == 0 && v->qemu_version < 80200)
			vproblem(v, "boot", "incoming \"%s\": file: migration needs QEMU 8.2 (target is %u.%u)",
				 inc, v->qemu_version / 10000, v->qemu_version / 100 % 100);
	}
}

/* The guest's name for the console, or NULL for none. */
static const char *console_name(struct vctx *v, const json_t *console)
{
	const char *type = str_of(console, "type");
	if (strcmp(type, "none") == 0)
		return NULL;
	if (strcmp(type, "virtio") == 0)
		return "hvc0";
	return v->arch->uart;
}

static void check_chardev(struct vctx *v, const json_t *c, const char *where)
{
	const char *type = str_of(c, "type");
	if (!type)
		return;
	bool path = json_object_get(c, "path") != NULL;
	if ((strcmp(type, "file") == 0 || strcmp(type, "pipe") == 0) && !path)
		vproblem(v, where, "type %s needs a path", type);
	if (strcmp(type, "unix") == 0 && !path && !json_object_get(c, "fd"))
		vproblem(v, where, "type unix needs a path or an fd");
	if (strcmp(type, "tcp") == 0 && !json_object_get(c, "port") && !json_object_get(c, "fd"))
		vproblem(v, where, "type tcp needs a port or an fd");
	if (strcmp(type, "fd") == 0 && !json_object_get(c, "fd"))
		vproblem(v, where, "type fd needs an fd");
	bool sock = strcmp(type, "unix") == 0 || strcmp(type, "tcp") == 0;
	static const char *const sock_only[] = { "server", "wait", "reconnect" };
	for (size_t i = 0; i < ARRAY_SIZE(sock_only); i++)
		if (!sock && json_object_get(c, sock_only[i]))
			vproblem(v, where, "%s is only for unix and tcp sockets (type is %s)", sock_only[i], type);
	if (json_is_true(json_object_get(c, "server")) && json_object_get(c, "reconnect"))
		vproblem(v, where, "reconnect is only for clients (server is true)");
	if (json_object_get(c, "size") && strcmp(type, "ringbuf") != 0)
		vproblem(v, where, "size is only for type ringbuf");
}

void spec_check_chardev(struct vctx *v, const json_t *c, const char *where)
{
	check_chardev(v, c, where);
}

static int parse_pci_addr(const char *s, int *slot, int *fn)
{
	char *end;
	long a = strtol(s, &end, 16);
	if (end == s || a < 0 || a > 31)
		return -1;
	long f = 0;
	if (*end == '.') {
		const char *p = end + 1;
		f = strtol(p, &end, 16);
		if (end == p || f < 0 || f > 7)
			return -1;
	}
	if (*end)
		return -1;
	*slot = (int)a;
	*fn = (int)f;
	return 0;
}

/* The bus a PCI device without a bus sits on: the root bus of the machine. */
static const char *pci_bus_of(struct vctx *v, const json_t *dev)
{
	const char *bus = str_of(dev, "bus");
	if (bus)
		return bus;
	return v->family == MF_PC ? "pci.0" : v->family == MF_Q35 || v->family == MF_VIRT ? "pcie.0" : "";
}

static void check_pci_addresses(struct vctx *v, struct devctx *d)
{
	for (size_t a = 0; a < d->n; a++) {
		json_t *da = json_array_get(d->devs, a);
		const char *addr = str_of(da, "addr");
		if (!addr)
			continue;
		int sa, fa;
		if (parse_pci_addr(addr, &sa, &fa) < 0) {
			vproblem(v, d->labels[a], "addr \"%s\" is not a PCI address (SLOT or SLOT.FUNCTION, hex)", addr);
			continue;
		}
		const char *bus_a = pci_bus_of(v, da);
		for (size_t b = 0; b < a; b++) {
			json_t *db = json_array_get(d->devs, b);
			const char *addr_b = str_of(db, "addr");
			int sb, fb;
			if (!addr_b || parse_pci_addr(addr_b, &sb, &fb) < 0)
				continue;
			const char *bus_b = pci_bus_of(v, db);
			if (sa == sb && fa == fb && strcmp(bus_a, bus_b) == 0)
				vproblem(v, d->labels[a], "addr \"%s\" is already taken by %s", addr,
					 d->labels[b]);
		}
	}
}

static void check_references(struct vctx *v, struct devctx *d)
{
	for (size_t i = 0; i < d->n; i++) {
		json_t *dev = json_array_get(d->devs, i);
		const char *io = str_of(dev, "iothread");
		if (!io)
			continue;
		bool found = false;
		for (size_t j = 0; j < d->n; j++) {
			json_t *o = json_array_get(d->devs, j);
			found = found || (strcmp(dev_kind(o), "iothread") == 0 &&
					  strcmp(str_of(o, "id"), io) == 0);
		}
		if (!found)
			vproblem(v, d->labels[i], "iothread \"%s\" is not the id of an iothread device", io);
	}
}

static bool kind_present(json_t *devs, const char *kind, const char *field, const char *value)
{
	size_t i;
	json_t *dev;
	json_array_foreach(devs, i, dev)
		if (strcmp(dev_kind(dev), kind) == 0 &&
		    (!field || (str_of(dev, field) && strcmp(str_of(dev, field), value) == 0)))
			return true;
	return false;
}

json_t *spec_normalize(const qk_spec *spec, unsigned qemu_version, struct vctx *v, qk_error **err)
{
	json_t *raw = spec->raw;
	*v = (struct vctx){ .err = err, .qemu_version = qemu_version ? qemu_version : QEMU_VERSION_DEFAULT };

	const char *arch = json_string_value(json_object_get(raw, "arch"));
	v->arch = arch_find(arch);
	if (!v->arch && !json_object_get(raw, "arch")) {
		v->arch = arch_find(arch_host());
		if (!v->arch)
			vproblem(v, NULL, "arch is not given and the host has no profile; choose one of %s",
				 arch_names());
	}
	if (!v->arch)
		v->arch = arch_find("x86_64"); /* to go on finding problems */

	json_t *out = json_object();
	v->normal = out;
	schema_normalize(v, spec_fields, raw, out, NULL);
	json_object_set_new(out, "arch", json_string(v->arch->name));
	/* Put arch near the top of `spec show`, where the file has it. */

	json_t *qemu = json_object_get(out, "qemu");
	if (!json_object_get(qemu, "binary"))
		json_object_set_new(qemu, "binary", json_string(v->arch->binary));

	json_t *machine = json_object_get(out, "machine");
	if (!json_object_get(machine, "type")) {
		json_object_set_new(machine, "type", json_string(v->arch->machine));
		if (v->arch->machine_opts) {
			json_t *opts = json_object_get(machine, "options");
			if (!opts) {
				opts = json_object();
				json_object_set_new(machine, "options", opts);
			}
			/* "highmem=off" */
			char key[32];
			const char *eq = strchr(v->arch->machine_opts, '=');
			snprintf(key, sizeof(key), "%.*s", (int)(eq - v->arch->machine_opts), v->arch->machine_opts);
			if (!json_object_get(opts, key))
				json_object_set_new(opts, key, json_string(eq + 1));
		}
	}
	v->machine = str_of(machine, "type");
	v->family = machine_family(v->machine);
	if (!props_key_valid(v->machine))
		vproblem(v, "machine", "type \"%s\" is not a machine name", v->machine);
	if (v->arch->x86 ? v->family != MF_Q35 && v->family != MF_PC && v->family != MF_MICROVM &&
				   v->family != MF_OTHER
			 : v->family == MF_Q35 || v->family == MF_PC || v->family == MF_MICROVM ||
				   (v->family == MF_S390) != (strcmp(v->arch->name, "s390x") == 0))
		vproblem(v, "machine", "type \"%s\" is not a machine for %s", v->machine, v->arch->name);
	const char *transport = str_of(machine, "transport");
	v->transport = family_transport(v->family);
	if (transport) {
		enum transport t = strcmp(transport, "pci") == 0    ? TRANSPORT_PCI
				   : strcmp(transport, "mmio") == 0 ? TRANSPORT_MMIO
								    : TRANSPORT_CCW;
		if ((t == TRANSPORT_CCW) != (v->family == MF_S390) ||
		    (t == TRANSPORT_PCI && v->family == MF_MICROVM))
			vproblem(v, "machine", "transport %s is not available on machine %s", transport,
				 v->machine);
		else
			v->transport = t;
	} else {
		json_object_set_new(machine, "transport", json_string(transport_name(v->transport)));
	}
	check_accel(v, machine);
	json_t *accel = json_object_get(machine, "accel");
	json_t *tcg = json_object_get(machine, "tcg");
	if (tcg) {
		bool has_tcg = false;
		size_t i;
		json_t *a;
		json_array_foreach(accel, i, a)
			has_tcg = has_tcg || strcmp(json_string_value(a), "tcg") == 0;
		if (!has_tcg)
			vproblem(v, "machine", "tcg options without tcg in accel");
	}

	json_t *cpu = json_object_get(out, "cpu");
	if (!json_object_get(cpu, "model")) {
		const char *first = json_string_value(json_array_get(accel, 0));
		bool hw = json_array_size(accel) == 1 &&
			  (strcmp(first, "kvm") == 0 || strcmp(first, "hvf") == 0);
		json_object_set_new(cpu, "model", json_string(hw ? "host" : v->arch->tcg_cpu));
	}
	check_cpu(v, cpu);
	check_memory(v, json_object_get(out, "memory"), cpu);
	check_boot(v, json_object_get(out, "boot"));
	if (spec->strict) {
		if (json_array_size(json_object_get(out, "extra-args")))
			vproblem(v, NULL, "extra-args: raw QEMU arguments are refused in strict mode");
		if (json_array_size(json_object_get(json_object_get(out, "qemu"), "args")))
			vproblem(v, "qemu", "args: raw QEMU arguments are refused in strict mode");
	}
	const char *uuid = str_of(out, "uuid");
	if (uuid && !uuid_valid(uuid))
		vproblem(v, NULL, "uuid \"%s\" is not a UUID (8-4-4-4-12 hex digits)", uuid);

	json_t *console = json_object_get(out, "console");
	if (!json_object_get(console, "backend") && strcmp(str_of(console, "type"), "none") != 0) {
		json_t *b = json_object();
		json_object_set_new(b, "type", json_string("stdio"));
		json_object_set_new(console, "backend", b);
	}
	if (json_object_get(console, "backend"))
		check_chardev(v, json_object_get(console, "backend"), "console.backend");
	const char *cname = console_name(v, console);
	const char *given = str_of(console, "name");
	if (given && (!cname || strcmp(given, cname) != 0))
		vproblem(v, "console", "name \"%s\" is not what this machine calls it (%s)", given,
			 cname ? cname : "no console");
	if (cname)
		json_object_set_new(console, "name", json_string(cname));

	json_t *display = json_object_get(out, "display");
	const char *dtype = str_of(display, "type");
	if (json_object_get(display, "vnc") && strcmp(dtype, "vnc") != 0)
		vproblem(v, "display", "vnc settings need type vnc");
	const char *listen = str_of(json_object_get(display, "vnc"), "listen");
	if (listen && (!*listen || strpbrk(listen, ", []/")))
		vproblem(v, "display.vnc", "listen \"%s\" is not a host name or address", listen);
	if (strcmp(dtype, "vnc") == 0 && !json_object_get(display, "vnc")) {
		json_t *vnc = json_object();
		json_object_set_new(vnc, "listen", json_string("127.0.0.1"));
		json_object_set_new(vnc, "display", json_integer(0));
		json_object_set_new(display, "vnc", vnc);
	}

	struct devctx d = { .devs = json_array(), .taken = json_object(), .next = json_object() };
	json_t *raw_devs = json_object_get(raw, "devices");
	if (raw_devs && !json_is_array(raw_devs)) {
		_cleanup_free_ char *r = value_repr(raw_devs);
		vproblem(v, NULL, "devices is %s, not a list", r);
		raw_devs = NULL;
	}
	json_t *empty = json_array();
	normalize_devices(v, raw_devs ? raw_devs : empty, &d,
			  strcmp(str_of(console, "type"), "virtio") == 0);
	json_decref(empty);
	check_pci_addresses(v, &d);
	check_references(v, &d);

	/* fw_cfg has one item per name. */
	json_t *names = json_object();
	for (size_t a = 0; a < d.n; a++) {
		json_t *dev = json_array_get(d.devs, a);
		const char *name = str_of(dev, "name");
		if (strcmp(dev_kind(dev), "fw-cfg") != 0 || !name)
			continue;
		json_t *b = json_object_get(names, name);
		if (b)
			vproblem(v, d.labels[a], "name \"%s\" is already given by %s", name,
				 d.labels[json_integer_value(b)]);
		else
			json_object_set_new(names, name, json_integer((json_int_t)a));
	}
	json_decref(names);

	/* virtiofs and vhost-user map guest memory into another process: it must be shared. */
	json_t *mem = json_object_get(out, "memory");
	if (kind_present(d.devs, "fs", "type", "virtiofs") || kind_present(d.devs, "net", "type", "vhost-user") ||
	    kind_present(d.devs, "vhost-user", NULL, NULL)) {
		const char *b = str_of(mem, "backend");
		json_t *share = json_object_get(mem, "share");
		if (!b && !share && !json_array_size(json_object_get(mem, "numa"))) {
			json_object_set_new(mem, "backend", json_string("memfd"));
			json_object_set_new(mem, "share", json_true());
		} else if (!b || strcmp(b, "ram") == 0 || !json_is_true(share)) {
			/* Anonymous RAM, even shared, has no fd to hand to the backend. */
			vproblem(v, "memory",
				 "virtiofs and vhost-user devices need shared memory: set share: true and backend memfd or file");
		}
	}
	if (json_array_size(json_object_get(mem, "numa")) == 0 && json_object_get(mem, "distances"))
		vproblem(v, "memory", "distances need numa nodes");
	bool dimms = kind_present(d.devs, "memory", NULL, NULL);
	if (dimms && !json_object_get(mem, "slots"))
		vproblem(v, "memory", "memory devices need slots and maxmem");

	bool has_user_net = kind_present(d.devs, "net", "type", "user");
	(void)has_user_net;
	json_object_set_new(out, "devices", d.devs);
	devctx_free(&d);

	/* Order of `spec show`: as the table lists the sections. */
	json_t *ordered = json_object();
	for (const struct field *f = spec_fields; f->name; f++)
		if (json_object_get(out, f->name))
			json_object_set(ordered, f->name, json_object_get(out, f->name));
	json_decref(out);

	if (v->problems) {
		json_decref(ordered);
		return NULL;
	}
	return ordered;
}
