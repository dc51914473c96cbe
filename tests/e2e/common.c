/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int e2e_guest_load(const char *prepare, struct e2e_guest *g)
{
	FILE *p = popen(prepare, "r");
	if (!p || !fgets(g->dir, sizeof(g->dir), p) || pclose(p) != 0) {
		fprintf(stderr, "FAIL: %s did not give the guest assets\n", prepare);
		return -1;
	}
	g->dir[strcspn(g->dir, "\n")] = '\0';
	char path[4200];
	snprintf(path, sizeof(path), "%s/kernel-version", g->dir);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(g->kernel_version, sizeof(g->kernel_version), f)) {
		fprintf(stderr, "FAIL: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	g->kernel_version[strcspn(g->kernel_version, "\n")] = '\0';
	return 0;
}

double e2e_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
