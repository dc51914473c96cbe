/* SPDX-License-Identifier: MIT */
/*
 * The state of detached VMs: how one qkit process finds a VM another one
 * started, by name.
 *
 * Every detached VM has a directory RUNTIME/vms/NAME/ (mode 0700) where
 * RUNTIME is, first found: $QKIT_RUNTIME_DIR, $XDG_RUNTIME_DIR/qkit,
 * /run/qkit when running as root, /tmp/qkit-UID. It holds:
 *
 *   state.json   written atomically (temporary file + rename) once the VM
 *                runs: name, QEMU's pid, the supervisor's pid, socket
 *                paths, QEMU's argv, the start time
 *   qmp.sock     a QMP socket (mode 0600) for other clients (qkit qmp NAME)
 *   console.sock the serial console, when the VM has one
 *   lock         held (flock) by the supervisor for as long as it lives
 *
 * A VM whose supervisor is gone (its lock is free or its pid is dead) is
 * stale: lookups and listings remove its directory and do not report it.
 */
#ifndef QKIT_STATE_H
#define QKIT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What state.json says about one running VM. Opaque; see the getters. */
typedef struct qk_vm_state qk_vm_state;

/*
 * The runtime directory (see above), without creating it. *out is
 * malloc'd. Fails only when nothing usable is set (or out of memory).
 */
int qk_runtime_dir(char **out, qk_error **err);

/*
 * Whether name can name a VM: 1 to 64 characters from [A-Za-z0-9_.-],
 * not starting with '.' or '-'. Fills *err naming the value if not.
 */
bool qk_vm_name_valid(const char *name, qk_error **err);

/*
 * Find the running VM called name. Fails with QK_ERR_NOT_FOUND ("no VM
 * named \"web\"") if there is none or its state was stale (and has now
 * been removed), and with -EAGAIN (QK_ERR_NOT_FOUND, "is starting") while
 * its supervisor has not yet written state.json.
 */
int qk_state_lookup(qk_vm_state **out, const char *name, qk_error **err);

/*
 * Every running VM, sorted by name; stale ones are removed on the way.
 * *out is a malloc'd array of *n_out states; free it with
 * qk_vm_state_list_free(). No VMs (or no runtime directory) is success
 * with *n_out == 0.
 */
int qk_state_list(qk_vm_state ***out, size_t *n_out, qk_error **err);
void qk_vm_state_list_free(qk_vm_state **states, size_t n);

void qk_vm_state_free(qk_vm_state *st);

const char *qk_vm_state_name(const qk_vm_state *st);
/* The VM's directory, RUNTIME/vms/NAME. */
const char *qk_vm_state_dir(const qk_vm_state *st);
pid_t qk_vm_state_pid(const qk_vm_state *st);            /* QEMU */
pid_t qk_vm_state_supervisor_pid(const qk_vm_state *st); /* the qkit supervisor */
/* Path of the public QMP socket. */
const char *qk_vm_state_qmp_socket(const qk_vm_state *st);
/* Path of the console socket, or NULL if the VM has no console. */
const char *qk_vm_state_console_socket(const qk_vm_state *st);
/* Path of QEMU's output log, or NULL. */
const char *qk_vm_state_log(const qk_vm_state *st);
/* QEMU's argv, NULL-terminated, as the supervisor launched it. */
char *const *qk_vm_state_argv(const qk_vm_state *st);
/* When QEMU started (CLOCK_REALTIME, seconds since the epoch). */
int64_t qk_vm_state_started(const qk_vm_state *st);
/* The rendered spec, if the starter recorded one (borrowed), else NULL. */
const json_t *qk_vm_state_spec(const qk_vm_state *st);
/* The whole of state.json (borrowed), e.g. for `qkit ps --json`. */
const json_t *qk_vm_state_json(const qk_vm_state *st);

/*
 * Writing state: used by supervisors (see qk_vm_detach() in <qkit/vm.h>).
 *
 * qk_state_reserve() claims name: under a lock on the whole vms/
 * directory it checks no live VM has the name (removing a stale one),
 * creates RUNTIME/vms/NAME/ and takes the VM's lock. A live VM of that
 * name fails with -EEXIST (QK_ERR_INVALID, "a VM named \"web\" is already
 * running (pid 123)") and creates nothing. The reservation's lock fd is
 * O_CLOEXEC; keep the reservation (and so the fd) open for the
 * supervisor's life: inherited across fork, it keeps the VM live.
 */
typedef struct qk_state_reservation qk_state_reservation;

int qk_state_reserve(qk_state_reservation **out, const char *name, qk_error **err);
/* RUNTIME/vms/NAME, where the supervisor puts its sockets. */
const char *qk_state_reservation_dir(const qk_state_reservation *r);
/* The lock's descriptor: a daemon that closes what it inherited keeps this one. */
int qk_state_reservation_fd(const qk_state_reservation *r);
/*
 * Write state.json atomically. state is an object the supervisor fills;
 * this adds "name" and "version" (of the format, 1). Required members:
 * "pid", "supervisor_pid", "qmp_socket", "argv", "started".
 */
int qk_state_reservation_publish(qk_state_reservation *r, const json_t *state,
				 qk_error **err);
/*
 * Remove the directory (when remove is true; a supervisor does so once
 * QEMU is gone), then release the lock and free r. Accepts NULL.
 */
void qk_state_reservation_release(qk_state_reservation *r, bool remove);

#ifdef __cplusplus
}
#endif
#endif
