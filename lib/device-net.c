/* SPDX-License-Identifier: MIT */
/*
 * Network interfaces: a -netdev backend and a NIC front end. Which fields
 * a backend takes is a table, so a field given to the wrong backend is an
 * error rather than silently ignored.
 *
 * Port forwards listen on 127.0.0.1 unless told otherwise: QEMU's own
 * default is every interface, which exposes the guest to the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

static const char *const types[] = { "user", "tap", "macvtap", "ipvtap", "vethtap", "bridge", "socket", "stream", "dgram", "vhost-user", NULL };
static const char *const models[] = { "virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "ne2k_pci", "pcnet", "i82559er", "igb", NULL };
static const char *const protocols[] = { "tcp", "udp", NULL };

static const struct field forward_fields[] = {
	{ .name = "protocol", .type = FT_ENUM, .choices = protocols, .def = "tcp" },
	{ .name = "host-addr", .type = FT_STR, .def = "127.0.0.1", .doc = "the host address to listen on" },
	{ .name = "host-port", .type = FT_INT, .min = 0, .max = 65535, .required = true },
	{ .name = "guest-addr", .type = FT_STR, .doc = "default: the guest's DHCP address" },
	{ .name = "guest-port", .type = FT_INT, .min = 1, .max = 65535, .required = true },
	FIELDS_END,
};

const struct field net_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = types, .def = "user", .doc = "the backend" },
	{ .name = "model", .type = FT_ENUM, .choices = models, .def = "virtio", .doc = "the NIC" },
	{ .name = "mac", .type = FT_STR, .prop = "mac" },
	{ .name = "bootindex", .type = FT_INT, .prop = "bootindex", .min = 0, .max = 1 << 16 },
	{ .name = "disable-modern", .type = FT_BOOL, .prop = "disable-modern", .doc = "virtio-pci: legacy only" },
	{ .name = "romfile", .type = FT_STR, .path = PATH_SEARCHED, .prop = "romfile", .doc = "the option ROM (empty: none)" },
	COMMON_PCI_FIELDS,
	/* user */
	{ .name = "net", .type = FT_STR, .doc = "user: the guest network, CIDR" },
	{ .name = "host", .type = FT_STR, .doc = "user: the host's address in it; socket, stream, dgram: the peer" },
	{ .name = "dhcpstart", .type = FT_STR },
	{ .name = "dns", .type = FT_STR },
	{ .name = "ipv6", .type = FT_BOOL },
	{ .name = "hostname", .type = FT_STR },
	{ .name = "restrict", .type = FT_BOOL, .doc = "user: no traffic to the outside" },
	{ .name = "tftp", .type = FT_STR, .path = PATH_HOST },
	{ .name = "bootfile", .type = FT_STR },
	{ .name = "forwards", .type = FT_OBJLIST, .sub = forward_fields, .doc = "user: host ports forwarded to the guest" },
	/* tap and friends */
	{ .name = "ifname", .type = FT_STR },
	{ .name = "script", .type = FT_STR, .path = PATH_SCRIPT, .doc = "tap: default no" },
	{ .name = "downscript", .type = FT_STR, .path = PATH_SCRIPT, .doc = "tap: default no" },
	{ .name = "fds", .type = FT_INTLIST, .min = 0, .max = 65535, .doc = "inherited tap fds, one per queue" },
	{ .name = "vhost", .type = FT_BOOL },
	{ .name = "vhostfds", .type = FT_INTLIST, .min = 0, .max = 65535 },
	{ .name = "queues", .type = FT_INT, .min = 1, .max = 256, .doc = "multiqueue" },
	/* bridge */
	{ .name = "br", .type = FT_STR },
	{ .name = "helper", .type = FT_STR, .path = PATH_HOST },
	/* socket, stream, dgram, vhost-user */
	{ .name = "path", .type = FT_STR, .path = PATH_HOST, .doc = "a unix socket" },
	{ .name = "port", .type = FT_INT, .min = 1, .max = 65535 },
	{ .name = "server", .type = FT_BOOL },
	{ .name = "local-path", .type = FT_STR, .path = PATH_HOST, .doc = "dgram: this end's unix socket" },
	{ .name = "local-host", .type = FT_STR },
	{ .name = "local-port", .type = FT_INT, .min = 1, .max = 65535 },
	FIELDS_END,
};

/* The backend fields each type takes; the rest are front-end fields. */
static const struct {
	const char *type;
	const char *fields;
} allowed[] = {
	{ "user", " net host dhcpstart dns ipv6 hostname restrict tftp bootfile forwards " },
	{ "tap", " ifname script downscript fds vhost vhostfds queues " },
	{ "macvtap", " fds vhost vhostfds queues " },
	{ "ipvtap", " fds vhost vhostfds queues " },
	{ "vethtap", " fds vhost vhostfds queues " },
	{ "bridge", " br helper " },
	{ "socket", " host port server " },
	{ "stream", " path host port server " },
	{ "dgram", " path host port local-path local-host local-port " },
	{ "vhost-user", " path queues " },
};

static bool backend_field(const char *name)
{
	const struct field *f = field_find(net_fields, name);
	/* The backend fields come after addr in the table. */
	return f > field_find(net_fields, "addr");
}

static bool allowed_for(const char *type, const char *field)
{
	char needle[40];
	snprintf(needle, sizeof(needle), " %s ", field);
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		if (strcmp(allowed[i].type, type) == 0)
			return strstr(allowed[i].fields, needle) != NULL;
	return false;
}

static bool mac_valid(const char *s)
{
	unsigned b[6];
	char tail;
	return sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) == 6 &&
	       strlen(s) == 17 && !(b[0] & 1);
}

void net_check(struct vctx *v, json_t *dev, const char *where)
{
	const char *type = dev_str(dev, "type");
	const char *key;
	json_t *val;
	json_object_foreach(dev, key, val)
		if (field_find(net_fields, key) && backend_field(key) && !allowed_for(type, key))
			vproblem(v, where, strcmp(key, "forwards") == 0
						   ? "forwards need type user (type is %s)"
						   : "%s is not for type %s", strcmp(key, "forwards") == 0 ? type : key, type);

	bool tap_like = strcmp(type, "macvtap") == 0 || strcmp(type, "ipvtap") == 0 || strcmp(type, "vethtap") == 0;
	size_t nfds = json_array_size(json_object_get(dev, "fds"));
	if (tap_like && !nfds)
		vproblem(v, where, "type %s needs fds (open the %s device and pass its fds)", type, type);
	json_t *queues = json_object_get(dev, "queues");
	if (nfds && queues && (size_t)json_integer_value(queues) != nfds)
		vproblem(v, where, "queues %lld does not match the %zu fds", (long long)json_integer_value(queues), nfds);
	size_t nvhost = json_array_size(json_object_get(dev, "vhostfds"));
	if (nvhost && nvhost != (nfds ? nfds : 1))
		vproblem(v, where, "vhostfds has %zu fds, fds has %zu", nvhost, nfds);
	if (nfds && (json_object_get(dev, "ifname") || json_object_get(dev, "script") || json_object_get(dev, "downscript")))
		vproblem(v, where, "fds exclude ifname, script and downscript");

	const char *mac = dev_str(dev, "mac");
	if (mac && !mac_valid(mac))
		vproblem(v, where, "mac \"%s\" is not a unicast MAC address (xx:xx:xx:xx:xx:xx)", mac);

	if (strcmp(type, "socket") == 0 && !json_object_get(dev, "port"))
		vproblem(v, where, "type socket needs a port");
	if (strcmp(type, "stream") == 0 && !json_object_get(dev, "path") == !json_object_get(dev, "port"))
		vproblem(v, where, "type stream needs a path or a port");
	if (strcmp(type, "dgram") == 0 && !json_object_get(dev, "local-path") && !json_object_get(dev, "local-port"))
		vproblem(v, where, "type dgram needs local-path or local-port");
	if ((strcmp(type, "stream") == 0 || strcmp(type, "dgram") == 0) && v->qemu_version < 70200)
		vproblem(v, where, "type %s needs QEMU 7.2", type);
	if (strcmp(type, "vhost-user") == 0 && !json_object_get(dev, "path"))
		vproblem(v, where, "type vhost-user needs a path");

	const char *model = dev_str(dev, "model");
	bool virtio = strcmp(model, "virtio") == 0;
	if (!virtio && !transport_pci(v))
		vproblem(v, where, "model %s needs a PCI bus (machine %s)", model, v->machine);
	only_for(v, dev, where, (const char *const[]){ "disable-modern", NULL }, virtio && transport_pci(v),
		 "model virtio on PCI");
	pci_fields_check(v, dev, where);

	size_t i;
	json_t *fwd;
	json_array_foreach(json_object_get(dev, "forwards"), i, fwd) {
		const char *h = dev_str(fwd, "host-addr");
		if (h && strpbrk(h, ":-"))
			vproblem(v, where, "forwards[%zu]: host-addr \"%s\" is not an IPv4 address", i, h);
		const char *g = dev_str(fwd, "guest-addr");
		if (g && strpbrk(g, ":-"))
			vproblem(v, where, "forwards[%zu]: guest-addr \"%s\" is not an IPv4 address", i, g);
	}
}

static char *fd_list(const json_t *list)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *fd;
	json_array_foreach(list, i, fd)
		buf_printf(&b, "%s%lld", i ? ":" : "", (long long)json_integer_value(fd));
	return buf_steal(&b);
}

/* One fd as key one ("3"), several as key many ("3:4"); QEMU takes them as strings. */
static void set_fds(json_t *nd, const char *one, const char *many, const json_t *list)
{
	if (!json_array_size(list))
		return;
	char *l = fd_list(list);
	json_object_set_new(nd, json_array_size(list) == 1 ? one : many, json_string(l));
	free(l);
}

static json_t *inet(const char *host, long long port)
{
	char p[16];
	snprintf(p, sizeof(p), "%lld", port);
	return json_pack("{s:s, s:s, s:s}", "type", "inet", "host", host, "port", p);
}

static json_t *unix_addr(const char *path)
{
	return json_pack("{s:s, s:s}", "type", "unix", "path", path);
}

static json_t *user_backend(const json_t *dev, json_t *nd)
{
	static const char *const copied[] = { "net", "host", "dhcpstart", "dns", "ipv6", "hostname", "restrict", "tftp", "bootfile" };
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
		copy_member(nd, copied[i], dev, copied[i]);
	json_t *fwds = json_object_get(dev, "forwards");
	if (!json_array_size(fwds))
		return nd;
	/* hostfwd=PROTO:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT, as QAPI's String list. */
	json_t *list = json_array();
	size_t i;
	json_t *f;
	json_array_foreach(fwds, i, f) {
		char *s = NULL;
		const char *g = dev_str(f, "guest-addr");
		if (asprintf(&s, "%s:%s:%lld-%s:%lld", dev_str(f, "protocol"), dev_str(f, "host-addr"),
			     (long long)json_integer_value(json_object_get(f, "host-port")), g ? g : "",
			     (long long)json_integer_value(json_object_get(f, "guest-port"))) < 0)
			continue;
		json_array_append_new(list, json_pack("{s:s}", "str", s));
		free(s);
	}
	json_object_set_new(nd, "hostfwd", list);
	return nd;
}

int net_build(struct rctx *r, json_t *dev, json_t **front, qk_error **err)
{
	const char *id = dev_str(dev, "id");
	const char *type = dev_str(dev, "type");
	_cleanup_free_ char *nid = derived_id(id, "netdev");
	bool tap_like = strncmp(type, "tap", 3) == 0 || strstr(type, "vtap") || strcmp(type, "vethtap") == 0;
	json_t *nd = json_pack("{s:s, s:s}", "type", tap_like ? "tap" : type, "id", nid);

	if (strcmp(type, "user") == 0) {
		user_backend(dev, nd);
	} else if (tap_like) {
		json_t *fds = json_object_get(dev, "fds");
		set_fds(nd, "fd", "fds", fds);
		if (!json_array_size(fds)) {
			copy_member(nd, "ifname", dev, "ifname");
			json_object_set_new(nd, "script", json_string(dev_str(dev, "script") ? dev_str(dev, "script") : "no"));
			json_object_set_new(nd, "downscript",
					    json_string(dev_str(dev, "downscript") ? dev_str(dev, "downscript") : "no"));
		}
		copy_member(nd, "vhost", dev, "vhost");
		set_fds(nd, "vhostfd", "vhostfds", json_object_get(dev, "vhostfds"));
		if (!json_array_size(fds))
			copy_member(nd, "queues", dev, "queues");
	} else if (strcmp(type, "bridge") == 0) {
		copy_member(nd, "br", dev, "br");
		copy_member(nd, "helper", dev, "helper");
	} else if (strcmp(type, "socket") == 0) {
		char *s = NULL;
		const char *host = dev_str(dev, "host");
		if (asprintf(&s, "%s:%lld", host ? host : "127.0.0.1",
			     (long long)json_integer_value(json_object_get(dev, "port"))) < 0)
			return -ENOMEM;
		json_object_set_new(nd, json_is_true(json_object_get(dev, "server")) ? "listen" : "connect", json_string(s));
		free(s);
	} else if (strcmp(type, "stream") == 0) {
		json_object_set_new(nd, "server", json_boolean(json_is_true(json_object_get(dev, "server"))));
		const char *path = dev_str(dev, "path"), *host = dev_str(dev, "host");
		json_object_set_new(nd, "addr", path ? unix_addr(path)
						     : inet(host ? host : "127.0.0.1",
							    json_integer_value(json_object_get(dev, "port"))));
	} else if (strcmp(type, "dgram") == 0) {
		const char *lp = dev_str(dev, "local-path"), *lh = dev_str(dev, "local-host");
		json_object_set_new(nd, "local", lp ? unix_addr(lp)
						    : inet(lh ? lh : "127.0.0.1",
							   json_integer_value(json_object_get(dev, "local-port"))));
		const char *path = dev_str(dev, "path"), *host = dev_str(dev, "host");
		if (path)
			json_object_set_new(nd, "remote", unix_addr(path));
		else if (json_object_get(dev, "port"))
			json_object_set_new(nd, "remote", inet(host ? host : "127.0.0.1",
							       json_integer_value(json_object_get(dev, "port"))));
	} else if (strcmp(type, "vhost-user") == 0) {
		_cleanup_free_ char *cid = derived_id(id, "chardev");
		int ret = socket_chardev_build(r, dev, "path", cid, err);
		if (ret < 0) {
			json_decref(nd);
			return ret;
		}
		json_object_set_new(nd, "chardev", json_string(cid));
		copy_member(nd, "queues", dev, "queues");
	}
	if (arglist_add(r->out, OPT_NETDEV, "-netdev", nd, true) < 0)
		return -ENOMEM;

	const char *model = dev_str(dev, "model");
	if (strcmp(model, "virtio") != 0)
		json_object_set_new(*front, "driver", json_string(model));
	json_object_set_new(*front, "netdev", json_string(nid));
	json_t *queues = json_object_get(dev, "queues");
	long long nq = queues ? json_integer_value(queues) : (long long)json_array_size(json_object_get(dev, "fds"));
	if (nq > 1 && strcmp(model, "virtio") == 0) {
		json_object_set_new(*front, "mq", json_true());
		if (r->v->transport == TRANSPORT_PCI)
			json_object_set_new(*front, "vectors", json_integer(2 * nq + 2));
	}
	return 0;
}
