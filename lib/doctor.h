/* SPDX-License-Identifier: MIT */
/*
 * qkit doctor: check what a user needs to run VMs with qkit, and for each
 * thing missing or broken, say the command that fixes it. The checks are
 * library code (they never print); cli/cmd-doctor.c shows them.
 */
#ifndef QKIT_LIB_DOCTOR_H
#define QKIT_LIB_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <qkit/error.h>

enum doctor_status {
	DOCTOR_OK = 0,
	DOCTOR_WARN, /* optional, or degraded: qkit works without it */
	DOCTOR_FAIL, /* qkit exec cannot work until this is fixed */
	DOCTOR_SKIP, /* could not be checked (says why) */
};

struct doctor_check {
	char *name;   /* "qemu-system-x86_64", "kvm-guest", ... */
	enum doctor_status status;
	char *detail; /* what was found */
	char *fix;    /* the command or step that fixes it, or NULL */
};

struct doctor_options {
	/* Boot the kernel under KVM to see whether a guest really runs (true). */
	bool probe_kvm;
	/* How long the guest may stay silent under KVM before it counts as hung. */
	int kvm_timeout_ms;
};

#define DOCTOR_OPTIONS_INIT { true, 10000 }

/* Run every check; *checks is a malloc'd array of *n. Fails only for lack of memory. */
int doctor_run(const struct doctor_options *o, struct doctor_check **checks, size_t *n,
	       qk_error **err);
void doctor_checks_free(struct doctor_check *checks, size_t n);

/* "ok", "warn", "FAIL" or "skip". */
const char *doctor_status_string(enum doctor_status s);

#endif
