/* SPDX-License-Identifier: MIT */
/* What the C end-to-end tests share: the prepared guest and a clock. */
#ifndef QKIT_TESTS_E2E_COMMON_H
#define QKIT_TESTS_E2E_COMMON_H

/* tests/guest/prepare's output: the assets' directory and its kernel's version. */
struct e2e_guest {
	char dir[4096];
	char kernel_version[256];
};

/*
 * Run PREPARE (the path the test was given) and read what it prepared.
 * 0, or -1 after printing FAIL and why to stderr.
 */
int e2e_guest_load(const char *prepare, struct e2e_guest *g);

/* CLOCK_MONOTONIC in seconds. */
double e2e_now(void);

#endif
