/* SPDX-License-Identifier: MIT */
#include "golden-util.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *golden_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t len = 0, cap = 8192;
	char *s = malloc(cap);
	size_t n;
	while (s && (n = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *t = realloc(s, cap * 2);
			if (!t) {
				free(s);
				fclose(f);
				return NULL;
			}
			s = t;
			cap *= 2;
		}
	}
	fclose(f);
	if (s)
		s[len] = '\0';
	return s;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **golden_list(const char *dir, const char *suffix, size_t *n)
{
	*n = 0;
	DIR *dp = opendir(dir);
	if (!dp)
		return NULL;
	char **names = NULL;
	size_t sl = strlen(suffix);
	struct dirent *e;
	while ((e = readdir(dp))) {
		size_t len = strlen(e->d_name);
		if (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0)
			continue;
		char **more = realloc(names, (*n + 1) * sizeof(*names));
		if (!more)
			break;
		names = more;
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(dp);
	if (*n)
		qsort(names, *n, sizeof(*names), by_name);
	return names;
}

qk_qmp *golden_qmp_connect(const char *sock, pid_t pid)
{
	qk_qmp_options o = QK_QMP_OPTIONS_INIT;
	o.connect_timeout_ms = 5000;
	for (int tries = 0; tries < 300; tries++) {
		qk_qmp *qmp = NULL;
		qk_error *err = NULL;
		if (qk_qmp_connect_unix(&qmp, sock, &o, &err) == 0)
			return qmp;
		qk_error_free(err);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return NULL;
		usleep(100 * 1000);
	}
	return NULL;
}

void golden_qemu_end(qk_qmp *qmp, pid_t pid)
{
	if (qmp) {
		qk_qmp_execute(qmp, "quit", NULL, NULL, NULL);
		qk_qmp_free(qmp);
	}
	if (pid <= 0)
		return;
	/* QEMU quits on its own; the kill is for when it does not. */
	for (int i = 0; i < 100 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		usleep(50 * 1000);
	if (kill(pid, SIGKILL) == 0)
		waitpid(pid, NULL, 0);
}
