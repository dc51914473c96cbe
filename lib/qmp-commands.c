/* SPDX-License-Identifier: MIT */
/* Typed QMP helpers: one small function per command, built on qk_qmp_execute(). */
#include <qkit/qmp.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qmp-private.h"
#include "util.h"

/*
 * Run command with args, a new reference from json_pack() that this
 * consumes. json_pack() returns NULL for a NULL string argument (or no
 * memory), so NULL here is the caller's mistake, reported as such.
 */
static int run(qk_qmp *qmp, const char *command, json_t *args, json_t **out, qk_error **err)
{
	if (!args)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: an argument is missing (NULL) or memory ran out", command);
	int r = qk_qmp_execute(qmp, command, args, out, err);
	json_decref(args);
	return r;
}

/* Commands without arguments. */
static int run0(qk_qmp *qmp, const char *command, json_t **out, qk_error **err)
{
	return qk_qmp_execute(qmp, command, NULL, out, err);
}

/* json_pack failed: a NULL string argument, or no memory. */
static int bad_args(const char *command, const char *what, qk_error **err)
{
	return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: %s", command, what);
}

static int copy_string(const json_t *v, char *dst, size_t size)
{
	const char *s = json_string_value(v);
	snprintf(dst, size, "%s", s ? s : "");
	return 0;
}

static int unexpected(const char *command, const json_t *ret, qk_error **err)
{
	_cleanup_free_ char *text = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY);
	return qk_error_set(err, QK_ERR_PROTOCOL, EPROTO, "%s: unexpected reply %s", command,
			    text ? text : "(unprintable)");
}

int qk_qmp_query_version(qk_qmp *qmp, qk_qmp_version *out, qk_error **err)
{
	_cleanup_(json_decrefp) json_t *ret = NULL;
	int r = run0(qmp, "query-version", &ret, err);
	if (r < 0)
		return r;
	json_t *q = json_object_get(ret, "qemu");
	if (!json_is_integer(json_object_get(q, "major")))
		return unexpected("query-version", ret, err);
	out->major = (int)json_integer_value(json_object_get(q, "major"));
	out->minor = (int)json_integer_value(json_object_get(q, "minor"));
	out->micro = (int)json_integer_value(json_object_get(q, "micro"));
	copy_string(json_object_get(ret, "package"), out->package, sizeof(out->package));
	return 0;
}

int qk_qmp_query_status(qk_qmp *qmp, qk_qmp_status *out, qk_error **err)
{
	_cleanup_(json_decrefp) json_t *ret = NULL;
	int r = run0(qmp, "query-status", &ret, err);
	if (r < 0)
		return r;
	if (!json_is_string(json_object_get(ret, "status")))
		return unexpected("query-status", ret, err);
	out->running = json_is_true(json_object_get(ret, "running"));
	copy_string(json_object_get(ret, "status"), out->status, sizeof(out->status));
	return 0;
}

static int query_string(qk_qmp *qmp, const char *command, const char *member, char **value,
			qk_error **err)
{
	_cleanup_(json_decrefp) json_t *ret = NULL;
	int r = run0(qmp, command, &ret, err);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(ret, member));
	*value = s ? strdup(s) : NULL;
	if (s && !*value)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", command);
	return 0;
}

int qk_qmp_query_name(qk_qmp *qmp, char **name, qk_error **err)
{
	return query_string(qmp, "query-name", "name", name, err);
}

int qk_qmp_query_uuid(qk_qmp *qmp, char **uuid, qk_error **err)
{
	int r = query_string(qmp, "query-uuid", "UUID", uuid, err);
	if (r == 0 && !*uuid)
		return qk_error_set(err, QK_ERR_PROTOCOL, EPROTO, "query-uuid: the reply has no UUID");
	return r;
}

int qk_qmp_query_kvm(qk_qmp *qmp, bool *enabled, bool *present, qk_error **err)
{
	_cleanup_(json_decrefp) json_t *ret = NULL;
	int r = run0(qmp, "query-kvm", &ret, err);
	if (r < 0)
		return r;
	if (enabled)
		*enabled = json_is_true(json_object_get(ret, "enabled"));
	if (present)
		*present = json_is_true(json_object_get(ret, "present"));
	return 0;
}

int qk_qmp_query_cpus_fast(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-cpus-fast", out, err);
}

int qk_qmp_query_hotpluggable_cpus(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-hotpluggable-cpus", out, err);
}

int qk_qmp_query_block(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-block", out, err);
}

int qk_qmp_query_blockstats(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-blockstats", out, err);
}

int qk_qmp_query_pci(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-pci", out, err);
}

int qk_qmp_query_chardev(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-chardev", out, err);
}

int qk_qmp_query_memory_devices(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-memory-devices", out, err);
}

int qk_qmp_query_migrate(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-migrate", out, err);
}

int qk_qmp_query_machines(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-machines", out, err);
}

int qk_qmp_query_commands(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-commands", out, err);
}

int qk_qmp_query_qmp_schema(qk_qmp *qmp, json_t **out, qk_error **err)
{
	return run0(qmp, "query-qmp-schema", out, err);
}

int qk_qmp_stop(qk_qmp *qmp, qk_error **err)
{
	return run0(qmp, "stop", NULL, err);
}

int qk_qmp_cont(qk_qmp *qmp, qk_error **err)
{
	return run0(qmp, "cont", NULL, err);
}

int qk_qmp_system_powerdown(qk_qmp *qmp, qk_error **err)
{
	return run0(qmp, "system_powerdown", NULL, err);
}

int qk_qmp_system_reset(qk_qmp *qmp, qk_error **err)
{
	return run0(qmp, "system_reset", NULL, err);
}

int qk_qmp_quit(qk_qmp *qmp, qk_error **err)
{
	qk_error *e = NULL;
	int r = run0(qmp, "quit", NULL, &e);
	/* QEMU may close the socket before its reply is read: that is success. */
	if (r < 0 && qk_error_get_kind(e) == QK_ERR_EXITED) {
		qk_error_free(e);
		return 0;
	}
	qk_error_propagate(err, &e);
	return r;
}

static int need_object(const char *command, const char *what, const json_t *v, qk_error **err)
{
	if (json_is_object(v))
		return 0;
	return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: %s must be a JSON object", command, what);
}

static int execute_object(qk_qmp *qmp, const char *command, const json_t *args, qk_error **err)
{
	int r = need_object(command, "the options", args, err);
	if (r < 0)
		return r;
	return qk_qmp_execute(qmp, command, args, NULL, err);
}

int qk_qmp_device_add(qk_qmp *qmp, const json_t *props, qk_error **err)
{
	int r = need_object("device_add", "the device's properties", props, err);
	if (r < 0)
		return r;
	if (!json_is_string(json_object_get(props, "driver")))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "device_add: the properties have no \"driver\" string");
	return qk_qmp_execute(qmp, "device_add", props, NULL, err);
}

int qk_qmp_device_del(qk_qmp *qmp, const char *id, int timeout_ms, qk_error **err)
{
	if (!id || !*id)
		return bad_args("device_del", "the device id is empty", err);
	if (timeout_ms < 0)
		timeout_ms = qmp_default_timeout_ms(qmp);
	/* Forget a stale DEVICE_DELETED for an earlier device of the same id. */
	_cleanup_(json_decrefp) json_t *match = json_pack("{s:s}", "device", id);
	qk_qmp_event *stale = NULL;
	qk_error *e = NULL;
	int r;
	while ((r = qk_qmp_wait_event(qmp, "DEVICE_DELETED", match, 0, &stale, &e)) == 0)
		qk_qmp_event_free(TAKE_PTR(stale));
	if (qk_error_get_kind(e) == QK_ERR_INVALID) {
		/* No event queue: better refuse now than unplug and then fail to wait. */
		qk_error_prepend(&e, "device_del \"%s\": ", id);
		qk_error_propagate(err, &e);
		return r;
	}
	qk_error_free(e);
	e = NULL;

	int64_t deadline = qmp_deadline_ns(timeout_ms);
	r = run(qmp, "device_del", json_pack("{s:s}", "id", id), NULL, err);
	if (r < 0)
		return r;
	int left = qmp_ms_until(deadline);
	r = qk_qmp_wait_event(qmp, "DEVICE_DELETED", match, left, NULL, &e);
	if (r == -ETIMEDOUT) {
		/* Name the timeout the caller chose, not what was left of it. */
		qk_error_free(e);
		return qk_error_set(err, QK_ERR_TIMEOUT, ETIMEDOUT,
				    "device_del \"%s\": no DEVICE_DELETED event within %d.%03d s",
				    id, timeout_ms / 1000, timeout_ms % 1000);
	}
	if (r < 0) {
		qk_error_prepend(&e, "device_del \"%s\": ", id);
		qk_error_propagate(err, &e);
	}
	return r;
}

int qk_qmp_blockdev_add(qk_qmp *qmp, const json_t *options, qk_error **err)
{
	return execute_object(qmp, "blockdev-add", options, err);
}

int qk_qmp_blockdev_del(qk_qmp *qmp, const char *node_name, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "node-name", node_name);
	return run(qmp, "blockdev-del", args, NULL, err);
}

int qk_qmp_netdev_add(qk_qmp *qmp, const json_t *options, qk_error **err)
{
	return execute_object(qmp, "netdev_add", options, err);
}

int qk_qmp_netdev_del(qk_qmp *qmp, const char *id, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "id", id);
	return run(qmp, "netdev_del", args, NULL, err);
}

int qk_qmp_object_add(qk_qmp *qmp, const json_t *options, qk_error **err)
{
	return execute_object(qmp, "object-add", options, err);
}

int qk_qmp_object_del(qk_qmp *qmp, const char *id, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "id", id);
	return run(qmp, "object-del", args, NULL, err);
}

int qk_qmp_chardev_add(qk_qmp *qmp, const char *id, const json_t *backend, json_t **ret,
		       qk_error **err)
{
	int r = need_object("chardev-add", "the backend", backend, err);
	if (r < 0)
		return r;
	json_t *args = json_pack("{s:s, s:O}", "id", id, "backend", backend);
	return run(qmp, "chardev-add", args, ret, err);
}

int qk_qmp_chardev_remove(qk_qmp *qmp, const char *id, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "id", id);
	return run(qmp, "chardev-remove", args, NULL, err);
}

int qk_qmp_block_resize(qk_qmp *qmp, const char *node_name, uint64_t size, qk_error **err)
{
	if (size > INT64_MAX)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "block_resize: size %" PRIu64 " is too large", size);
	json_t *args = json_pack("{s:s, s:I}", "node-name", node_name, "size", (json_int_t)size);
	return run(qmp, "block_resize", args, NULL, err);
}

int qk_qmp_eject(qk_qmp *qmp, const char *id, bool force, qk_error **err)
{
	json_t *args = json_pack("{s:s, s:b}", "id", id, "force", force);
	return run(qmp, "eject", args, NULL, err);
}

int qk_qmp_blockdev_change_medium(qk_qmp *qmp, const char *id, const char *filename,
				  const char *format, qk_error **err)
{
	json_t *args = json_pack("{s:s, s:s}", "id", id, "filename", filename);
	if (args && format)
		json_object_set_new(args, "format", json_string(format));
	return run(qmp, "blockdev-change-medium", args, NULL, err);
}

int qk_qmp_set_link(qk_qmp *qmp, const char *name, bool up, qk_error **err)
{
	json_t *args = json_pack("{s:s, s:b}", "name", name, "up", up);
	return run(qmp, "set_link", args, NULL, err);
}

int qk_qmp_send_key(qk_qmp *qmp, const char *const *keys, size_t n_keys, int hold_ms,
		    qk_error **err)
{
	if (n_keys == 0)
		return bad_args("send-key", "no keys given", err);
	json_t *list = json_array();
	for (size_t i = 0; list && i < n_keys; i++) {
		json_t *k = keys[i] ? json_pack("{s:s, s:s}", "type", "qcode", "data", keys[i]) : NULL;
		if (!k || json_array_append_new(list, k) < 0) {
			json_decref(list);
			return bad_args("send-key", "a key name is missing (NULL)", err);
		}
	}
	json_t *args = json_pack("{s:o}", "keys", list);
	if (args && hold_ms > 0)
		json_object_set_new(args, "hold-time", json_integer(hold_ms));
	return run(qmp, "send-key", args, NULL, err);
}

int qk_qmp_balloon(qk_qmp *qmp, uint64_t bytes, qk_error **err)
{
	if (bytes > INT64_MAX)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "balloon: %" PRIu64 " bytes is too large", bytes);
	json_t *args = json_pack("{s:I}", "value", (json_int_t)bytes);
	return run(qmp, "balloon", args, NULL, err);
}

int qk_qmp_screendump(qk_qmp *qmp, const char *filename, const char *format, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "filename", filename);
	if (args && format)
		json_object_set_new(args, "format", json_string(format));
	return run(qmp, "screendump", args, NULL, err);
}

int qk_qmp_dump_guest_memory(qk_qmp *qmp, const char *path, qk_error **err)
{
	if (!path)
		return bad_args("dump-guest-memory", "the path is missing (NULL)", err);
	_cleanup_free_ char *protocol = NULL;
	if (asprintf(&protocol, "file:%s", path) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "dump-guest-memory: out of memory");
	json_t *args = json_pack("{s:b, s:s, s:b}", "paging", 0, "protocol", protocol,
		     "detach", 0);
	return run(qmp, "dump-guest-memory", args, NULL, err);
}

int qk_qmp_cpu_hotplug(qk_qmp *qmp, const char *id, qk_error **err)
{
	if (!id || !*id)
		return bad_args("cpu hotplug", "the CPU's id is empty", err);
	_cleanup_(json_decrefp) json_t *slots = NULL;
	int r = qk_qmp_query_hotpluggable_cpus(qmp, &slots, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *slot;
	json_array_foreach(slots, i, slot) {
		if (json_object_get(slot, "qom-path"))
			continue; /* occupied */
		const char *type = json_string_value(json_object_get(slot, "type"));
		json_t *props = json_object_get(slot, "props");
		if (!type || !json_is_object(props))
			return unexpected("query-hotpluggable-cpus", slot, err);
		_cleanup_(json_decrefp) json_t *dev = json_deep_copy(props);
		if (!dev || json_object_set_new(dev, "driver", json_string(type)) < 0 ||
		    json_object_set_new(dev, "id", json_string(id)) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "cpu hotplug: out of memory");
		r = qk_qmp_device_add(qmp, dev, err);
		if (r < 0)
			qk_error_prepend(err, "cpu hotplug \"%s\": ", id);
		return r;
	}
	return qk_error_set(err, QK_ERR_INVALID, ENOSPC,
			    "cpu hotplug \"%s\": no free CPU slot (all %zu are occupied; raise maxcpus)",
			    id, json_array_size(slots));
}

int qk_qmp_memory_hotplug(qk_qmp *qmp, const char *id, uint64_t size, const char *backend_type,
			  qk_error **err)
{
	if (!id || !*id)
		return bad_args("memory hotplug", "the DIMM's id is empty", err);
	if (size == 0 || size > INT64_MAX)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "memory hotplug \"%s\": size %" PRIu64 " is not a usable size", id, size);
	_cleanup_free_ char *mem_id = NULL;
	if (asprintf(&mem_id, "%s-mem", id) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "memory hotplug: out of memory");
	_cleanup_(json_decrefp) json_t *backend = json_pack(
		"{s:s, s:s, s:I}", "qom-type", backend_type ? backend_type : "memory-backend-ram",
		"id", mem_id, "size", (json_int_t)size);
	_cleanup_(json_decrefp) json_t *dimm = json_pack("{s:s, s:s, s:s}", "driver", "pc-dimm",
							  "id", id, "memdev", mem_id);
	if (!backend || !dimm)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "memory hotplug: out of memory");
	int r = qk_qmp_object_add(qmp, backend, err);
	if (r < 0) {
		qk_error_prepend(err, "memory hotplug \"%s\": ", id);
		return r;
	}
	r = qk_qmp_device_add(qmp, dimm, err);
	if (r < 0) {
		/* Roll back, so a failed hotplug leaves nothing behind. */
		qk_error *undo = NULL;
		if (qk_qmp_object_del(qmp, mem_id, &undo) < 0)
			qk_error_prepend(err, "(and removing backend \"%s\" failed: %s) ", mem_id,
					 qk_error_message(undo));
		qk_error_free(undo);
		qk_error_prepend(err, "memory hotplug \"%s\": ", id);
	}
	return r;
}

int qk_qmp_migrate(qk_qmp *qmp, const char *uri, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "uri", uri);
	return run(qmp, "migrate", args, NULL, err);
}

int qk_qmp_migrate_incoming(qk_qmp *qmp, const char *uri, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "uri", uri);
	return run(qmp, "migrate-incoming", args, NULL, err);
}

int qk_qmp_migrate_cancel(qk_qmp *qmp, qk_error **err)
{
	return run0(qmp, "migrate_cancel", NULL, err);
}

int qk_qmp_migrate_set_capabilities(qk_qmp *qmp, const json_t *capabilities, qk_error **err)
{
	if (!json_is_array(capabilities))
		return bad_args("migrate-set-capabilities", "capabilities must be a JSON array", err);
	json_t *args = json_pack("{s:O}", "capabilities", capabilities);
	return run(qmp, "migrate-set-capabilities", args, NULL, err);
}

int qk_qmp_migrate_set_parameters(qk_qmp *qmp, const json_t *parameters, qk_error **err)
{
	return execute_object(qmp, "migrate-set-parameters", parameters, err);
}

int qk_qmp_qom_get(qk_qmp *qmp, const char *path, const char *property, json_t **out,
		   qk_error **err)
{
	json_t *args = json_pack("{s:s, s:s}", "path", path, "property", property);
	return run(qmp, "qom-get", args, out, err);
}

int qk_qmp_qom_set(qk_qmp *qmp, const char *path, const char *property, const json_t *value,
		   qk_error **err)
{
	json_t *args = json_pack("{s:s, s:s, s:O}", "path", path, "property", property,
		     "value", value);
	return run(qmp, "qom-set", args, NULL, err);
}

int qk_qmp_qom_list(qk_qmp *qmp, const char *path, json_t **out, qk_error **err)
{
	json_t *args = json_pack("{s:s}", "path", path);
	return run(qmp, "qom-list", args, out, err);
}

int qk_qmp_human_monitor_command(qk_qmp *qmp, const char *command_line, char **output,
				 qk_error **err)
{
	json_t *args = json_pack("{s:s}", "command-line", command_line);
	_cleanup_(json_decrefp) json_t *ret = NULL;
	int r = run(qmp, "human-monitor-command", args, &ret, err);
	if (r < 0)
		return r;
	if (output) {
		const char *s = json_string_value(ret);
		*output = strdup(s ? s : "");
		if (!*output)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "human-monitor-command: out of memory");
	}
	return 0;
}

/* HMP prints failures instead of returning them; turn its text into an error. */
static int hmp_checked(qk_qmp *qmp, const char *what, const char *line, const char *success,
		       qk_error **err)
{
	_cleanup_free_ char *out = NULL;
	int r = qk_qmp_human_monitor_command(qmp, line, &out, err);
	if (r < 0)
		return r;
	size_t n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	bool ok = success ? strstr(out, success) != NULL : n == 0;
	if (ok)
		return 0;
	return qk_error_set(err, QK_ERR_QMP, EINVAL, "%s: %s", what,
			    n ? out : "QEMU did not confirm the change");
}

static bool hmp_word(const char *s)
{
	return s && *s && !strpbrk(s, " \t\n\r");
}

int qk_qmp_hostfwd_add(qk_qmp *qmp, const char *netdev_id, const char *rule, qk_error **err)
{
	if (!hmp_word(netdev_id) || !hmp_word(rule))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "hostfwd_add: netdev \"%s\" and rule \"%s\" must be single words",
				    netdev_id ? netdev_id : "", rule ? rule : "");
	_cleanup_free_ char *line = NULL;
	if (asprintf(&line, "hostfwd_add %s %s", netdev_id, rule) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "hostfwd_add: out of memory");
	return hmp_checked(qmp, "hostfwd_add", line, NULL, err);
}

int qk_qmp_hostfwd_remove(qk_qmp *qmp, const char *netdev_id, const char *rule, qk_error **err)
{
	if (!hmp_word(netdev_id) || !hmp_word(rule))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "hostfwd_remove: netdev \"%s\" and rule \"%s\" must be single words",
				    netdev_id ? netdev_id : "", rule ? rule : "");
	/* HMP wants only the host side: "tcp:127.0.0.1:2222-:22" -> "tcp:127.0.0.1:2222". */
	_cleanup_free_ char *line = NULL;
	int host_len = (int)strcspn(rule, "-");
	if (asprintf(&line, "hostfwd_remove %s %.*s", netdev_id, host_len, rule) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "hostfwd_remove: out of memory");
	return hmp_checked(qmp, "hostfwd_remove", line, "removed", err);
}
