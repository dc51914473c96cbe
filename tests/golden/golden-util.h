/* SPDX-License-Identifier: MIT */
/*
 * What the golden tests share: reading files and the case directory, and
 * starting and ending a real QEMU with a QMP socket. Public headers only,
 * so tests linked against the shared library can use it too.
 */
#ifndef QKIT_TESTS_GOLDEN_UTIL_H
#define QKIT_TESTS_GOLDEN_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include <qkit/qkit.h>

/* The whole file, NUL-terminated; malloc'd, or NULL. */
char *golden_slurp(const char *path);

/* The names in dir ending in suffix, sorted; *n of them, malloc'd (free each). */
char **golden_list(const char *dir, const char *suffix, size_t *n);

/*
 * Connect to the QMP socket of the QEMU pid, retrying while it comes up
 * (up to 30 s); NULL if it does not, or if QEMU exits first.
 */
qk_qmp *golden_qmp_connect(const char *sock, pid_t pid);

/* Ask QEMU to quit over qmp (freed; may be NULL), wait up to 5 s, then kill it. */
void golden_qemu_end(qk_qmp *qmp, pid_t pid);

#endif
