/* SPDX-License-Identifier: MIT */
/*
 * From the normal tree to argv. The order is fixed and documented in
 * qkit-spec(5):
 *
 *   binary, qemu.args; -name, -uuid; -no-user-config, -nodefaults;
 *   -machine, -accel; -cpu, -smp, -m, memory objects, -numa, -overcommit;
 *   firmware (-bios or the pflash nodes); -kernel, -initrd, -append; -boot;
 *   the console (a serial one); devices in spec order (a virtio console
 *   right after its controller); -nic none; display; -no-reboot,
 *   -no-shutdown, -sandbox, -msg, -rtc, -global, -pidfile; -incoming, -S;
 *   extra-args.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "props.h"
#include "spec-internal.h"
#include "util.h"

void arglist_free(struct arglist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		json_decref(l->v[i].props);
		free(l->v[i].value);
	}
	free(l->v);
	*l = (struct arglist){ 0 };
}

static int arglist_grow(struct arglist *l)
{
	if (l->n < l->cap)
		return 0;
	size_t cap = l->cap ? l->cap * 2 : 32;
	struct arg *v = realloc(l->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->cap = cap;
	return 0;
}

int arglist_add(struct arglist *l, enum opt_kind kind, const char *opt, json_t *props, bool bare_first)
{
	if (!props || arglist_grow(l) < 0) {
		json_decref(props);
		return -ENOMEM;
	}
	l->v[l->n++] = (struct arg){ .kind = kind, .opt = opt, .props = props, .bare_first = bare_first };
	return 0;
}

int arglist_plain(struct arglist *l, const char *opt, const char *value)
{
	char *v = NULL;
	if ((value && !(v = strdup(value))) || arglist_grow(l) < 0) {
		free(v);
		return -ENOMEM;
	}
	l->v[l->n++] = (struct arg){ .kind = OPT_PLAIN, .opt = opt, .value = v };
	return 0;
}

bool opt_takes_json(enum opt_kind kind, unsigned qemu_version)
{
	switch (kind) {
	case OPT_DEVICE:
		return qemu_version >= 60200;
	case OPT_OBJECT:
		return qemu_version >= 60000;
	case OPT_BLOCKDEV:
		return true;
	case OPT_NETDEV:
		return qemu_version >= 70200;
	default:
		return false;
	}
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int plain(struct arglist *l, const char *opt, const char *value)
{
	return arglist_plain(l, opt, value);
}

/* ---- sections ---- */

static int render_identity(struct rctx *r, json_t *s)
{
	const char *name = jstr(s, "name");
	if (name && arglist_add(r->out, OPT_COMMA, "-name",
				json_pack("{s:s, s:b}", "guest", name, "debug-threads", 1), false) < 0)
		return -ENOMEM;
	const char *uuid = jstr(s, "uuid");
	if (uuid && plain(r->out, "-uuid", uuid) < 0)
		return -ENOMEM;
	json_t *o = json_object_get(s, "options");
	if (json_is_true(json_object_get(o, "no-user-config")) && plain(r->out, "-no-user-config", NULL) < 0)
		return -ENOMEM;
	if (json_is_true(json_object_get(o, "nodefaults")) && plain(r->out, "-nodefaults", NULL) < 0)
		return -ENOMEM;
	return 0;
}

static bool memory_object_needed(const json_t *mem)
{
	return json_object_get(mem, "backend") || json_object_get(mem, "share") ||
	       json_object_get(mem, "prealloc");
}

static json_t *memory_object(const json_t *mem, const char *id, json_t *size)
{
	const char *backend = jstr(mem, "backend") ? jstr(mem, "backend") : "ram";
	char qom[32];
	snprintf(qom, sizeof(qom), "memory-backend-%s", backend);
	json_t *o = json_pack("{s:s, s:s, s:O}", "qom-type", qom, "id", id, "size", size);
	copy_member(o, "mem-path", mem, "path");
	copy_member(o, "share", mem, "share");
	copy_member(o, "prealloc", mem, "prealloc");
	return o;
}

static int render_machine(struct rctx *r, json_t *s)
{
	json_t *m = json_object_get(s, "machine");
	json_t *mem = json_object_get(s, "memory");
	json_t *boot = json_object_get(s, "boot");
	json_t *p = json_pack("{s:O}", "type", json_object_get(m, "type"));
	json_object_update(p, json_object_get(m, "options"));
	if (memory_object_needed(mem) && !json_array_size(json_object_get(mem, "numa")))
		json_object_set_new(p, "memory-backend", json_string("ram"));
	if (json_object_get(boot, "uefi")) {
		json_object_set_new(p, "pflash0", json_string("uefi-code"));
		json_object_set_new(p, "pflash1", json_string("uefi-vars"));
	}
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(s, "devices"), i, d) {
		const char *kind = jstr(d, "kind");
		if (strcmp(kind, "sev-guest") == 0 || strcmp(kind, "sev-snp-guest") == 0 ||
		    strcmp(kind, "tdx-guest") == 0)
			json_object_set(p, "confidential-guest-support", json_object_get(d, "id"));
	}
	if (arglist_add(r->out, OPT_COMMA, "-machine", p, true) < 0)
		return -ENOMEM;

	json_t *tcg = json_object_get(m, "tcg");
	json_array_foreach(json_object_get(m, "accel"), i, d) {
		json_t *a = json_pack("{s:O}", "accel", d);
		if (strcmp(json_string_value(d), "tcg") == 0) {
			copy_member(a, "thread", tcg, "thread");
			copy_member(a, "tb-size", tcg, "tb-size");
		}
		if (arglist_add(r->out, OPT_COMMA, "-accel", a, true) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int render_cpu_memory(struct rctx *r, json_t *s)
{
	/* The model and the features were checked to hold no comma: -cpu has no escape. */
	json_t *cpu = json_object_get(s, "cpu");
	struct buf b = BUF_INIT;
	buf_puts(&b, jstr(cpu, "model"));
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(cpu, "features"), i, f)
		buf_printf(&b, ",%s", json_string_value(f));
	int ret = plain(r->out, "-cpu", b.data);
	buf_free(&b);
	if (ret < 0)
		return ret;

	json_t *smp = json_pack("{s:O}", "cpus", json_object_get(cpu, "count"));
	static const char *const topo[] = { "sockets", "dies", "cores", "threads", "maxcpus" };
	for (i = 0; i < ARRAY_SIZE(topo); i++)
		copy_member(smp, topo[i], cpu, topo[i]);
	if (arglist_add(r->out, OPT_COMMA, "-smp", smp, false) < 0)
		return -ENOMEM;

	json_t *mem = json_object_get(s, "memory");
	_cleanup_free_ char *size = format_size(json_integer_value(json_object_get(mem, "size")));
	json_t *m = json_pack("{s:s}", "size", size);
	if (json_object_get(mem, "slots")) {
		_cleanup_free_ char *maxmem = format_size(json_integer_value(json_object_get(mem, "maxmem")));
		copy_member(m, "slots", mem, "slots");
		json_object_set_new(m, "maxmem", json_string(maxmem));
	}
	if (arglist_add(r->out, OPT_COMMA, "-m", m, false) < 0)
		return -ENOMEM;

	json_t *numa = json_object_get(mem, "numa");
	if (json_array_size(numa)) {
		json_t *node;
		json_array_foreach(numa, i, node) {
			char id[32];
			snprintf(id, sizeof(id), "ram-node%zu", i);
			if (arglist_add(r->out, OPT_OBJECT, "-object",
					memory_object(mem, id, json_object_get(node, "memory")), true) < 0)
				return -ENOMEM;
		}
		json_array_foreach(numa, i, node) {
			char id[32];
			snprintf(id, sizeof(id), "ram-node%zu", i);
			json_t *n = json_pack("{s:s, s:i}", "type", "node", "nodeid", (int)i);
			json_t *cpus = json_object_get(node, "cpus");
			if (json_array_size(cpus))
				json_object_set(n, "cpus", cpus);
			json_object_set_new(n, "memdev", json_string(id));
			if (arglist_add(r->out, OPT_COMMA, "-numa", n, true) < 0)
				return -ENOMEM;
		}
		json_t *dist;
		json_array_foreach(json_object_get(mem, "distances"), i, dist) {
			json_t *n = json_pack("{s:s, s:O, s:O, s:O}", "type", "dist", "src",
					      json_object_get(dist, "from"), "dst", json_object_get(dist, "to"),
					      "val", json_object_get(dist, "value"));
			if (arglist_add(r->out, OPT_COMMA, "-numa", n, true) < 0)
				return -ENOMEM;
		}
	} else if (memory_object_needed(mem)) {
		if (arglist_add(r->out, OPT_OBJECT, "-object",
				memory_object(mem, "ram", json_object_get(mem, "size")), true) < 0)
			return -ENOMEM;
	}
	if (json_is_true(json_object_get(mem, "mlock")) &&
	    arglist_add(r->out, OPT_COMMA, "-overcommit", json_pack("{s:b}", "mem-lock", 1), false) < 0)
		return -ENOMEM;
	return 0;
}

static int render_boot(struct rctx *r, json_t *s)
{
	json_t *boot = json_object_get(s, "boot");
	json_t *uefi = json_object_get(boot, "uefi");
	if (jstr(boot, "bios") && plain(r->out, "-bios", jstr(boot, "bios")) < 0)
		return -ENOMEM;
	if (uefi) {
		json_t *code = json_pack("{s:s, s:s, s:O, s:b}", "driver", "file", "node-name", "uefi-code",
					 "filename", json_object_get(uefi, "code"), "read-only", 1);
		json_t *vars = json_pack("{s:s, s:s, s:O}", "driver", "file", "node-name", "uefi-vars",
					 "filename", json_object_get(uefi, "vars"));
		if (arglist_add(r->out, OPT_BLOCKDEV, "-blockdev", code, false) < 0 ||
		    arglist_add(r->out, OPT_BLOCKDEV, "-blockdev", vars, false) < 0)
			return -ENOMEM;
	}
	const char *kernel = jstr(boot, "kernel");
	if (kernel) {
		if (plain(r->out, "-kernel", kernel) < 0)
			return -ENOMEM;
		if (jstr(boot, "initrd") && plain(r->out, "-initrd", jstr(boot, "initrd")) < 0)
			return -ENOMEM;
		json_t *console = json_object_get(s, "console");
		const char *append = jstr(boot, "append");
		const char *cname = jstr(console, "name");
		_cleanup_free_ char *line = NULL;
		/* console=NAME first, so a later console= in append still wins. */
		if (cname && json_is_true(json_object_get(console, "kernel-arg")) &&
		    !(append && (strncmp(append, "console=", 8) == 0 || strstr(append, " console=")))) {
			if (asprintf(&line, "console=%s%s%s", cname, append ? " " : "", append ? append : "") < 0)
				return -ENOMEM;
			append = line;
		}
		if (append && plain(r->out, "-append", append) < 0)
			return -ENOMEM;
	}
	const char *order = jstr(boot, "order");
	json_t *menu = json_object_get(boot, "menu");
	if (order || menu) {
		json_t *b = json_object();
		if (order)
			json_object_set_new(b, "order", json_string(order));
		if (menu)
			json_object_set(b, "menu", menu);
		if (arglist_add(r->out, OPT_COMMA, "-boot", b, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The chardev the console uses: the caller's, or one built from console.backend. */
static int console_chardev(struct rctx *r, json_t *console, const char **cid)
{
	if (r->console_chardev) {
		*cid = r->console_chardev;
		return 0;
	}
	*cid = "console0";
	return chardev_build(r, json_object_get(console, "backend"), *cid, NULL);
}

static int render_serial_console(struct rctx *r, json_t *s)
{
	json_t *console = json_object_get(s, "console");
	if (strcmp(jstr(console, "type"), "serial") != 0)
		return 0;
	const char *cid;
	int ret = console_chardev(r, console, &cid);
	if (ret < 0)
		return ret;
	if (r->v->family == MF_S390)
		return arglist_add(r->out, OPT_DEVICE, "-device",
				   json_pack("{s:s, s:s, s:s}", "driver", "sclpconsole", "id", "console0", "chardev", cid),
				   true);
	_cleanup_free_ char *val = NULL;
	if (asprintf(&val, "chardev:%s", cid) < 0)
		return -ENOMEM;
	return plain(r->out, "-serial", val);
}

static int render_virtio_console(struct rctx *r, json_t *s, const char *bus_id)
{
	const char *cid;
	int ret = console_chardev(r, json_object_get(s, "console"), &cid);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *bus = NULL;
	if (asprintf(&bus, "%s.0", bus_id) < 0)
		return -ENOMEM;
	return arglist_add(r->out, OPT_DEVICE, "-device",
			   json_pack("{s:s, s:s, s:s, s:s}", "driver", "virtconsole", "id", "console0", "bus", bus,
				     "chardev", cid),
			   true);
}

static int render_devices(struct rctx *r, json_t *s, qk_error **err)
{
	bool virtio_console = strcmp(jstr(json_object_get(s, "console"), "type"), "virtio") == 0;
	bool nets = false;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(s, "devices"), i, d) {
		int ret = device_build(r, d, err);
		if (ret < 0)
			return ret;
		nets = nets || strcmp(jstr(d, "kind"), "net") == 0;
		if (virtio_console && strcmp(jstr(d, "kind"), "virtio-serial") == 0) {
			if ((ret = render_virtio_console(r, s, jstr(d, "id"))) < 0)
				return ret;
			virtio_console = false;
		}
	}
	/* Without -nodefaults QEMU adds a NIC; say there is none. */
	if (!nets && !json_is_true(json_object_get(json_object_get(s, "options"), "nodefaults")))
		return plain(r->out, "-nic", "none");
	return 0;
}

static int render_display(struct rctx *r, json_t *s)
{
	json_t *disp = json_object_get(s, "display");
	const char *type = jstr(disp, "type");
	const char *vga = jstr(disp, "vga");
	if (vga && strcmp(vga, "none") != 0) {
		static const struct {
			const char *vga, *x86, *other;
		} cards[] = {
			{ "std", "VGA", "VGA" },
			{ "virtio", "virtio-vga", "virtio-gpu-pci" },
			{ "qxl", "qxl-vga", "qxl-vga" },
			{ "cirrus", "cirrus-vga", "cirrus-vga" },
			{ "ramfb", "ramfb", "ramfb" },
			{ "bochs", "bochs-display", "bochs-display" },
		};
		for (size_t i = 0; i < ARRAY_SIZE(cards); i++) {
			if (strcmp(cards[i].vga, vga) != 0)
				continue;
			const char *driver = r->v->arch->x86 ? cards[i].x86 : cards[i].other;
			if (strcmp(vga, "virtio") == 0 && r->v->transport != TRANSPORT_PCI)
				driver = r->v->transport == TRANSPORT_CCW ? "virtio-gpu-ccw" : "virtio-gpu-device";
			if (arglist_add(r->out, OPT_DEVICE, "-device",
					json_pack("{s:s, s:s}", "driver", driver, "id", "video0"), true) < 0)
				return -ENOMEM;
		}
	}
	if (strcmp(type, "vnc") == 0) {
		json_t *vnc = json_object_get(disp, "vnc");
		const char *pw = jstr(vnc, "password-file");
		if (pw && arglist_add(r->out, OPT_OBJECT, "-object",
				      json_pack("{s:s, s:s, s:s}", "qom-type", "secret", "id", "vnc-secret", "file", pw),
				      true) < 0)
			return -ENOMEM;
		char *addr = NULL;
		const char *listen = jstr(vnc, "listen");
		if (asprintf(&addr, strchr(listen, ':') ? "[%s]:%lld" : "%s:%lld", listen,
			     (long long)json_integer_value(json_object_get(vnc, "display"))) < 0)
			return -ENOMEM;
		json_t *p = json_pack("{s:s}", "vnc", addr);
		free(addr);
		if (pw)
			json_object_set_new(p, "password-secret", json_string("vnc-secret"));
		if (arglist_add(r->out, OPT_COMMA, "-vnc", p, true) < 0)
			return -ENOMEM;
		return plain(r->out, "-display", "none");
	}
	return plain(r->out, "-display", type);
}

static int render_knobs(struct rctx *r, json_t *s)
{
	json_t *o = json_object_get(s, "options");
	if (json_is_true(json_object_get(o, "no-reboot")) && plain(r->out, "-no-reboot", NULL) < 0)
		return -ENOMEM;
	if (json_is_true(json_object_get(o, "no-shutdown")) && plain(r->out, "-no-shutdown", NULL) < 0)
		return -ENOMEM;
	json_t *sb = json_object_get(o, "sandbox");
	if (sb) {
		json_t *p = json_pack("{s:s}", "sandbox", json_is_true(json_object_get(sb, "enable")) ? "on" : "off");
		static const char *const keys[] = { "obsolete", "elevateprivileges", "spawn", "resourcecontrol" };
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			copy_member(p, keys[i], sb, keys[i]);
		if (arglist_add(r->out, OPT_COMMA, "-sandbox", p, true) < 0)
			return -ENOMEM;
	}
	if (json_is_true(json_object_get(o, "msg-timestamp")) &&
	    arglist_add(r->out, OPT_COMMA, "-msg", json_pack("{s:b}", "timestamp", 1), false) < 0)
		return -ENOMEM;
	json_t *rtc = json_object_get(o, "rtc");
	if (rtc && json_object_size(rtc) &&
	    arglist_add(r->out, OPT_COMMA, "-rtc", json_deep_copy(rtc), false) < 0)
		return -ENOMEM;
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(o, "globals"), i, g)
		if (arglist_add(r->out, OPT_COMMA, "-global", json_deep_copy(g), false) < 0)
			return -ENOMEM;
	if (jstr(o, "pidfile") && plain(r->out, "-pidfile", jstr(o, "pidfile")) < 0)
		return -ENOMEM;
	return 0;
}

static int render_tail(struct rctx *r, json_t *s, bool paused)
{
	json_t *boot = json_object_get(s, "boot");
	if (jstr(boot, "incoming") && plain(r->out, "-incoming", jstr(boot, "incoming")) < 0)
		return -ENOMEM;
	if ((paused || json_is_true(json_object_get(boot, "paused"))) && plain(r->out, "-S", NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int render_all(struct rctx *r, json_t *s, bool paused, qk_error **err)
{
	int ret;
	if ((ret = render_identity(r, s)) < 0 || (ret = render_machine(r, s)) < 0 ||
	    (ret = render_cpu_memory(r, s)) < 0 || (ret = render_boot(r, s)) < 0 ||
	    (ret = render_serial_console(r, s)) < 0 || (ret = render_devices(r, s, err)) < 0 ||
	    (ret = render_display(r, s)) < 0 || (ret = render_knobs(r, s)) < 0 ||
	    (ret = render_tail(r, s, paused)) < 0)
		return ret;
	return 0;
}

/* ---- argv ---- */

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *s, char *str)
{
	if (!str)
		return -ENOMEM;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(str);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

static char *format_arg(const struct arg *a, qk_syntax syntax, unsigned version, qk_error **err)
{
	if (a->kind <= OPT_NETDEV &&
	    (syntax == QK_SYNTAX_JSON || (syntax == QK_SYNTAX_AUTO && opt_takes_json(a->kind, version))))
		return props_to_json(a->props);
	struct buf b = BUF_INIT;
	if (props_to_comma(a->props, a->bare_first, &b, err) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

void qk_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static int build(const qk_spec *spec, const qk_render_opts *opts, struct vctx *v,
		 json_t **normal, struct arglist *out, qk_error **err)
{
	static const qk_render_opts defaults = QK_RENDER_OPTS_INIT;
	if (!opts)
		opts = &defaults;
	if (opts->console_chardev && !id_valid(opts->console_chardev))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "console chardev \"%s\" is not a valid id", opts->console_chardev);
	*normal = spec_normalize(spec, opts->qemu_version, v, err);
	if (!*normal)
		return -EINVAL;
	struct rctx r = { .v = v, .spec = *normal, .out = out, .console_chardev = opts->console_chardev };
	int ret = render_all(&r, *normal, opts->paused, err);
	if (ret < 0 && err && !*err)
		qk_error_set(err, QK_ERR_SYSTEM, -ret, "rendering the spec: out of memory");
	return ret;
}

int qk_spec_render(const qk_spec *spec, const qk_render_opts *opts, char ***argv_out, qk_error **err)
{
	static const qk_render_opts defaults = QK_RENDER_OPTS_INIT;
	const qk_render_opts *o = opts ? opts : &defaults;
	struct vctx v;
	json_t *normal = NULL;
	struct arglist out = { 0 };
	struct strv argv = { 0 };
	int ret = build(spec, o, &v, &normal, &out, err);
	if (ret < 0)
		goto done;

	json_t *qemu = json_object_get(normal, "qemu");
	ret = strv_push(&argv, strdup(jstr(qemu, "binary")));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(qemu, "args"), i, a)
		if (ret >= 0)
			ret = strv_push(&argv, strdup(json_string_value(a)));
	for (i = 0; i < out.n && ret >= 0; i++) {
		ret = strv_push(&argv, strdup(out.v[i].opt));
		if (ret < 0)
			break;
		if (out.v[i].kind == OPT_PLAIN) {
			if (out.v[i].value)
				ret = strv_push(&argv, strdup(out.v[i].value));
			continue;
		}
		char *s = format_arg(&out.v[i], o->syntax, v.qemu_version, err);
		if (!s) {
			ret = -EINVAL;
			break;
		}
		ret = strv_push(&argv, s);
	}
	json_array_foreach(json_object_get(normal, "extra-args"), i, a)
		if (ret >= 0)
			ret = strv_push(&argv, strdup(json_string_value(a)));
	if (ret >= 0) {
		*argv_out = TAKE_PTR(argv.v);
		ret = 0;
	} else if (err && !*err) {
		qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "rendering the spec: out of memory");
	}
done:
	qk_argv_free(argv.v);
	arglist_free(&out);
	json_decref(normal);
	return ret;
}

/* The one device's args, built the way render builds them. */
static int device_args(const qk_spec *spec, const char *id, struct arglist *out, json_t **normal,
		       struct vctx *v, qk_error **err)
{
	*normal = spec_normalize(spec, 0, v, err);
	if (!*normal)
		return -EINVAL;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(*normal, "devices"), i, d) {
		if (strcmp(jstr(d, "id"), id) != 0)
			continue;
		struct rctx r = { .v = v, .spec = *normal, .out = out };
		return device_build(&r, d, err);
	}
	return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "no device has id \"%s\"", id);
}

int qk_spec_device_props(const qk_spec *spec, const char *id, json_t **out, qk_error **err)
{
	struct vctx v;
	json_t *normal = NULL;
	struct arglist args = { 0 };
	int ret = device_args(spec, id, &args, &normal, &v, err);
	if (ret >= 0) {
		ret = qk_error_set(err, QK_ERR_INVALID, EINVAL, "device \"%s\" has no -device front end", id);
		for (size_t i = 0; i < args.n; i++)
			if (args.v[i].kind == OPT_DEVICE) {
				*out = json_deep_copy(args.v[i].props);
				ret = 0;
			}
	}
	arglist_free(&args);
	json_decref(normal);
	return ret;
}

int qk_spec_device_hotplug(const qk_spec *spec, const char *id, json_t **out, qk_error **err)
{
	static const char *const commands[] = {
		[OPT_DEVICE] = "device_add",
		[OPT_OBJECT] = "object-add",
		[OPT_BLOCKDEV] = "blockdev-add",
		[OPT_NETDEV] = "netdev_add",
	};
	struct vctx v;
	json_t *normal = NULL;
	struct arglist args = { 0 };
	int ret = device_args(spec, id, &args, &normal, &v, err);
	json_t *cmds = json_array();
	for (size_t i = 0; ret >= 0 && i < args.n; i++) {
		if (args.v[i].kind > OPT_NETDEV) {
			ret = qk_error_set(err, QK_ERR_INVALID, EINVAL,
					   "device \"%s\" needs %s, which cannot be hotplugged this way", id,
					   args.v[i].opt);
			break;
		}
		json_array_append_new(cmds, json_pack("{s:s, s:O}", "execute", commands[args.v[i].kind],
						      "arguments", args.v[i].props));
	}
	if (ret >= 0)
		*out = json_incref(cmds);
	json_decref(cmds);
	arglist_free(&args);
	json_decref(normal);
	return ret < 0 ? ret : 0;
}
