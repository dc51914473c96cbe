/* SPDX-License-Identifier: MIT */
/*
 * QMP, the QEMU Machine Protocol: a client that never blocks longer than
 * the caller allows.
 *
 * A connection reads QEMU's greeting (skipping any events sent before it),
 * negotiates capabilities (enabling out-of-band execution when QEMU offers
 * it) and is then ready for commands. Every command carries an id and its
 * reply is matched by that id, so several commands may be in flight at once
 * and a command that timed out never holds up the ones behind it: its late
 * reply is recognised and discarded.
 *
 * Events are handed, in the order QEMU sent them, to the registered
 * handlers, and kept in a bounded queue for qk_qmp_next_event() and
 * qk_qmp_wait_event(). When the queue is full the oldest event is dropped
 * (and counted, see qk_qmp_events_dropped()).
 *
 * Two ways to drive a connection:
 *  - Blocking: qk_qmp_execute() and friends send, then poll the socket
 *    internally until the reply arrives or the deadline passes (a
 *    monotonic clock, so wall-clock jumps do not matter).
 *  - From the caller's own event loop: poll qk_qmp_fd() for input, call
 *    qk_qmp_process() when it is readable or when qk_qmp_next_timeout()
 *    says a command's deadline is due, and send with qk_qmp_send(), whose
 *    reply arrives in a callback.
 *
 * A qk_qmp is not thread-safe: use it from one thread at a time. Handlers
 * and reply callbacks run inside qk_qmp_process() (or a blocking call) and
 * must not call back into the same connection, except qk_qmp_send().
 *
 * Errors: a QMP error reply fails with QK_ERR_QMP, the message
 * "COMMAND: DESCRIPTION" and qk_error_qmp_class() set to QMP's class. A
 * deadline fails with QK_ERR_TIMEOUT. When QEMU closes the connection
 * while a command waits, it fails with QK_ERR_EXITED "QEMU exited" followed
 * by QEMU's stderr tail if the options supply one. Malformed JSON or an
 * oversized message ends the connection with QK_ERR_PROTOCOL.
 *
 * Numbers: a message holding an integer beyond int64 (QEMU sends uint64
 * values up to 2^64-1, e.g. in device-list-properties) is read with all
 * of its numbers as JSON reals, since jansson's integers cannot hold it;
 * use json_number_value() on such replies. Other messages are unaffected.
 */
#ifndef QKIT_QMP_H
#define QKIT_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_qmp qk_qmp;

/*
 * Returns a malloc'd description of QEMU's last stderr output (or NULL);
 * appended to "QEMU exited" when the connection ends under a command.
 */
typedef char *(*qk_qmp_stderr_tail_fn)(void *userdata);

typedef struct qk_qmp_options {
	/* Per-command deadline in ms when the call gives none (30 s). */
	int timeout_ms;
	/* How long connecting may take, greeting and negotiation included (30 s). */
	int connect_timeout_ms;
	/* The largest message accepted from QEMU, in bytes (16 MiB). */
	size_t max_message;
	/*
	 * How many events the queue keeps before dropping the oldest (1024);
	 * 0 keeps none, for callers that only use handlers.
	 */
	size_t event_queue_max;
	/* Enable out-of-band execution when QEMU offers it (true). */
	bool oob;
	qk_qmp_stderr_tail_fn stderr_tail;
	void *stderr_tail_userdata;
} qk_qmp_options;

#define QK_QMP_OPTIONS_INIT                                               \
	{                                                                 \
		.timeout_ms = 30000, .connect_timeout_ms = 30000,         \
		.max_message = 16u << 20, .event_queue_max = 1024, .oob = true, \
	}

/* One event as QEMU sent it. */
typedef struct qk_qmp_event {
	char *name;    /* "SHUTDOWN", "DEVICE_DELETED", ... */
	json_t *data;  /* the "data" object; an empty object if QEMU sent none */
	/* When QEMU emitted it: seconds and microseconds since the epoch. */
	int64_t seconds;
	int64_t microseconds;
	struct timespec timestamp; /* the same instant, nanoseconds filled in */
} qk_qmp_event;

void qk_qmp_event_free(qk_qmp_event *ev);

/*
 * Connecting. Each blocks until capabilities are negotiated or
 * opts->connect_timeout_ms passes. opts may be NULL for the defaults.
 * qk_qmp_connect_fd() takes ownership of fd (a connected stream socket),
 * also on failure.
 */
int qk_qmp_connect_unix(qk_qmp **out, const char *path, const qk_qmp_options *opts,
			qk_error **err);
int qk_qmp_connect_fd(qk_qmp **out, int fd, const qk_qmp_options *opts, qk_error **err);
int qk_qmp_connect_tcp(qk_qmp **out, const char *host, const char *port,
		       const qk_qmp_options *opts, qk_error **err);

/* Closes the connection; pending reply callbacks get a QK_ERR_EXITED error. */
void qk_qmp_free(qk_qmp *qmp);

/* QEMU's greeting: {"version": ..., "capabilities": [...]} (borrowed). */
const json_t *qk_qmp_greeting(const qk_qmp *qmp);

/* Whether out-of-band execution was negotiated. */
bool qk_qmp_oob_enabled(const qk_qmp *qmp);

/*
 * Run one command and wait for its reply. args may be NULL. On success
 * *ret (if not NULL) receives a new reference to the "return" value.
 * qk_qmp_execute() uses the default timeout; qk_qmp_execute_full() takes
 * one (< 0: the default) and file descriptors to send with the command
 * over SCM_RIGHTS, in the same sendmsg() as the command's first byte (the
 * caller keeps its descriptors and closes them).
 */
int qk_qmp_execute(qk_qmp *qmp, const char *command, const json_t *args, json_t **ret,
		   qk_error **err);
int qk_qmp_execute_full(qk_qmp *qmp, const char *command, const json_t *args,
			const int *fds, size_t n_fds, int timeout_ms, json_t **ret,
			qk_error **err);

/*
 * Called once per command sent with qk_qmp_send(): with ret (borrowed;
 * NULL on failure) or with err (borrowed) on a QMP error, a timeout, or
 * the connection ending.
 */
typedef void (*qk_qmp_reply_fn)(qk_qmp *qmp, json_t *ret, const qk_error *err,
				void *userdata);

/*
 * Send a command without waiting. timeout_ms < 0 means the default. cb may
 * be NULL to ignore the reply. *id_out (if not NULL) receives the command's
 * id. Returns 0, or a negative errno if the command could not be sent (cb
 * is then not called). A command QEMU took only in part before its
 * deadline counts as sent: the rest goes out ahead of the next command
 * (qk_qmp_process() writes it too) and the command times out like one
 * QEMU never answered. From a handler or reply callback it never waits
 * (waiting would read, and deliver later events first): what the socket
 * does not take at once is queued and written as the connection is
 * driven; a command with fds must go out at once or fails.
 */
int qk_qmp_send(qk_qmp *qmp, const char *command, const json_t *args, const int *fds,
		size_t n_fds, int timeout_ms, qk_qmp_reply_fn cb, void *userdata,
		uint64_t *id_out, qk_error **err);

/* How many commands await a reply. */
size_t qk_qmp_pending(const qk_qmp *qmp);

/*
 * Event-loop integration: the socket to poll for POLLIN, and a function
 * that reads what is available without blocking, dispatches replies and
 * events, and fails commands whose deadline passed. Returns 0, or a
 * negative errno once the connection has ended (QK_ERR_EXITED when QEMU
 * closed it, QK_ERR_PROTOCOL when it broke the protocol).
 */
int qk_qmp_fd(const qk_qmp *qmp);
int qk_qmp_process(qk_qmp *qmp, qk_error **err);

/*
 * Milliseconds until the earliest command deadline, or -1 if none; at most
 * a few while commands wait to be written (see qk_qmp_send()).
 */
int qk_qmp_next_timeout(const qk_qmp *qmp);

/* Whether the connection is still open. */
bool qk_qmp_connected(const qk_qmp *qmp);

/*
 * Event handlers. name NULL means every event. Handlers run in the order
 * they were added, for each event in the order QEMU sent them; ev is
 * borrowed for the call. Returns a handle (> 0) for removal.
 */
typedef void (*qk_qmp_event_fn)(qk_qmp *qmp, const qk_qmp_event *ev, void *userdata);
int qk_qmp_add_event_handler(qk_qmp *qmp, const char *name, qk_qmp_event_fn fn,
			     void *userdata, qk_error **err);
void qk_qmp_remove_event_handler(qk_qmp *qmp, int handle);

/*
 * Take the oldest queued event, waiting up to timeout_ms (0: do not wait,
 * < 0: wait forever) for one. The caller frees *ev with qk_qmp_event_free().
 */
int qk_qmp_next_event(qk_qmp *qmp, int timeout_ms, qk_qmp_event **ev, qk_error **err);

/*
 * Wait for an event called name (NULL: any) whose data contains match (a
 * JSON object whose members must all be present with equal values,
 * recursively for objects; NULL matches anything). Events that do not
 * match stay queued, in order. Looks at queued events first. *ev may be
 * NULL to discard the event. Both fail at once (QK_ERR_INVALID) on a
 * connection with event_queue_max 0, whose events only go to handlers.
 */
int qk_qmp_wait_event(qk_qmp *qmp, const char *name, const json_t *match, int timeout_ms,
		      qk_qmp_event **ev, qk_error **err);

/* How many events the queue has dropped because it was full. */
uint64_t qk_qmp_events_dropped(const qk_qmp *qmp);

/* Whether data contains every member of match, recursively (NULL: yes). */
bool qk_qmp_json_match(const json_t *data, const json_t *match);

/*
 * Typed helpers. Each runs one command (or a short sequence) with the
 * default timeout and fails like qk_qmp_execute(). Helpers that return
 * JSON give the caller a new reference in *out.
 */

typedef struct qk_qmp_version {
	int major, minor, micro;
	char package[128]; /* e.g. "Debian 1:7.2+dfsg-7"; may be empty */
} qk_qmp_version;

typedef struct qk_qmp_status {
	bool running;
	char status[32]; /* "running", "paused", "prelaunch", "shutdown", ... */
} qk_qmp_status;

int qk_qmp_query_version(qk_qmp *qmp, qk_qmp_version *out, qk_error **err);
int qk_qmp_query_status(qk_qmp *qmp, qk_qmp_status *out, qk_error **err);
/* *name is malloc'd, NULL when the VM has no name. */
int qk_qmp_query_name(qk_qmp *qmp, char **name, qk_error **err);
/* *uuid is malloc'd ("00000000-0000-0000-0000-000000000000" when unset). */
int qk_qmp_query_uuid(qk_qmp *qmp, char **uuid, qk_error **err);
int qk_qmp_query_kvm(qk_qmp *qmp, bool *enabled, bool *present, qk_error **err);

/* Queries whose replies are lists or nested objects, returned as QEMU sent them. */
int qk_qmp_query_cpus_fast(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_hotpluggable_cpus(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_block(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_blockstats(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_pci(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_chardev(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_memory_devices(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_migrate(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_machines(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_commands(qk_qmp *qmp, json_t **out, qk_error **err);
int qk_qmp_query_qmp_schema(qk_qmp *qmp, json_t **out, qk_error **err);

/* Run state. qk_qmp_quit() also succeeds when QEMU closes before replying. */
int qk_qmp_stop(qk_qmp *qmp, qk_error **err);
int qk_qmp_cont(qk_qmp *qmp, qk_error **err);
int qk_qmp_system_powerdown(qk_qmp *qmp, qk_error **err);
int qk_qmp_system_reset(qk_qmp *qmp, qk_error **err);
int qk_qmp_quit(qk_qmp *qmp, qk_error **err);

/*
 * Devices. props is the device's property list, the same object the spec
 * renders as -device {json}: {"driver": ..., "id": ..., ...}.
 * qk_qmp_device_del() waits (timeout_ms, < 0: the connection's default) for QEMU's
 * DEVICE_DELETED event for id, which for PCI devices needs the guest's
 * cooperation unless the slot was never powered on.
 */
int qk_qmp_device_add(qk_qmp *qmp, const json_t *props, qk_error **err);
int qk_qmp_device_del(qk_qmp *qmp, const char *id, int timeout_ms, qk_error **err);

/* Block, network, object and chardev back ends; options as QMP takes them. */
int qk_qmp_blockdev_add(qk_qmp *qmp, const json_t *options, qk_error **err);
int qk_qmp_blockdev_del(qk_qmp *qmp, const char *node_name, qk_error **err);
int qk_qmp_netdev_add(qk_qmp *qmp, const json_t *options, qk_error **err);
int qk_qmp_netdev_del(qk_qmp *qmp, const char *id, qk_error **err);
int qk_qmp_object_add(qk_qmp *qmp, const json_t *options, qk_error **err);
int qk_qmp_object_del(qk_qmp *qmp, const char *id, qk_error **err);
/* backend: {"type": "socket", "data": {...}}; *ret (may be NULL) gets e.g. {"pty": ...}. */
int qk_qmp_chardev_add(qk_qmp *qmp, const char *id, const json_t *backend, json_t **ret,
		       qk_error **err);
int qk_qmp_chardev_remove(qk_qmp *qmp, const char *id, qk_error **err);

/* Block devices: node_name names a block node (blockdev-add's node-name). */
int qk_qmp_block_resize(qk_qmp *qmp, const char *node_name, uint64_t size, qk_error **err);
/* id: the removable-media device's qdev id. */
int qk_qmp_eject(qk_qmp *qmp, const char *id, bool force, qk_error **err);
int qk_qmp_blockdev_change_medium(qk_qmp *qmp, const char *id, const char *filename,
				  const char *format, qk_error **err);

int qk_qmp_set_link(qk_qmp *qmp, const char *name, bool up, qk_error **err);
/* keys: QKeyCode names ("ctrl", "alt", "delete"), pressed together. hold_ms <= 0: QEMU's default. */
int qk_qmp_send_key(qk_qmp *qmp, const char *const *keys, size_t n_keys, int hold_ms,
		    qk_error **err);
int qk_qmp_balloon(qk_qmp *qmp, uint64_t bytes, qk_error **err);
/* Writes a PPM (or format, "png" where QEMU supports it; NULL: ppm) of the display. */
int qk_qmp_screendump(qk_qmp *qmp, const char *filename, const char *format, qk_error **err);
/* Writes guest memory as an ELF core to path; waits until it is complete. */
int qk_qmp_dump_guest_memory(qk_qmp *qmp, const char *path, qk_error **err);

/*
 * CPU hotplug: plug a CPU of the machine's hotpluggable type into the
 * first empty slot query-hotpluggable-cpus reports, with qdev id id.
 * Unplug with qk_qmp_device_del().
 */
int qk_qmp_cpu_hotplug(qk_qmp *qmp, const char *id, qk_error **err);

/*
 * Memory hotplug: object-add a memory backend ("memory-backend-ram" if
 * backend_type is NULL) with id "ID-mem" and size bytes, then device_add a
 * pc-dimm id on it. If the device_add fails the backend is deleted again.
 * The machine needs -m SIZE,slots=N,maxmem=MAX.
 */
int qk_qmp_memory_hotplug(qk_qmp *qmp, const char *id, uint64_t size, const char *backend_type,
			  qk_error **err);

/* Migration. capabilities: [{"capability": ..., "state": true}, ...]. */
int qk_qmp_migrate(qk_qmp *qmp, const char *uri, qk_error **err);
int qk_qmp_migrate_incoming(qk_qmp *qmp, const char *uri, qk_error **err);
int qk_qmp_migrate_cancel(qk_qmp *qmp, qk_error **err);
int qk_qmp_migrate_set_capabilities(qk_qmp *qmp, const json_t *capabilities, qk_error **err);
int qk_qmp_migrate_set_parameters(qk_qmp *qmp, const json_t *parameters, qk_error **err);

/* QOM. */
int qk_qmp_qom_get(qk_qmp *qmp, const char *path, const char *property, json_t **out,
		   qk_error **err);
int qk_qmp_qom_set(qk_qmp *qmp, const char *path, const char *property, const json_t *value,
		   qk_error **err);
int qk_qmp_qom_list(qk_qmp *qmp, const char *path, json_t **out, qk_error **err);

/*
 * The human monitor, for what QMP lacks. *output (may be NULL) is malloc'd.
 * HMP reports most failures as text, so the hostfwd helpers check it:
 * rule is slirp's syntax, e.g. "tcp:127.0.0.1:2222-:22".
 */
int qk_qmp_human_monitor_command(qk_qmp *qmp, const char *command_line, char **output,
				 qk_error **err);
int qk_qmp_hostfwd_add(qk_qmp *qmp, const char *netdev_id, const char *rule, qk_error **err);
int qk_qmp_hostfwd_remove(qk_qmp *qmp, const char *netdev_id, const char *rule, qk_error **err);

#ifdef __cplusplus
}
#endif
#endif
