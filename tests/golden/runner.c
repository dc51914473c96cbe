/* SPDX-License-Identifier: MIT */
/*
 * The golden cases: every NAME.yaml in the directory is a spec. A valid
 * case renders to NAME.ARCH.args (one argument per line, '\' and newline
 * written as \\ and \n); a case whose name starts with "bad-" must fail
 * validation with exactly the text in NAME.err. QKIT_REGENERATE=1 rewrites
 * the expected files instead of comparing. See README.md here.
 *
 * Cases are loaded as files, so their relative paths are relative to DIR;
 * the expected files say @SPECDIR@ for DIR, whatever its absolute path.
 *
 * Usage: runner DIR [NAME...]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "buf.h"
#include "golden-util.h"
#include "util.h"

static const char *const all_arches[] = { "x86_64", "i386", "aarch64", "arm", "riscv64", "s390x", NULL };

struct directives {
	char arches[512];   /* "# arches: x86_64 aarch64" */
	qk_render_opts opts; /* "# render: syntax=comma qemu=6.0 paused" */
	unsigned load_flags; /* "# load: strict" */
};

static int spit(const char *path, const char *text)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	if (!f || fputs(text, f) < 0)
		return -1;
	return 0;
}

static void parse_directives(const char *text, struct directives *d)
{
	*d = (struct directives){ .opts = QK_RENDER_OPTS_INIT };
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		char l[512];
		snprintf(l, sizeof(l), "%.*s", (int)len, line);
		if (strcmp(l, "# load: strict") == 0)
			d->load_flags |= QK_SPEC_LOAD_STRICT;
		if (strncmp(l, "# arches:", 9) == 0)
			snprintf(d->arches, sizeof(d->arches), "%s", l + 9);
		if (strncmp(l, "# render:", 9) != 0)
			continue;
		char *save = NULL;
		for (char *w = strtok_r(l + 9, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			unsigned major, minor;
			if (strcmp(w, "syntax=comma") == 0)
				d->opts.syntax = QK_SYNTAX_COMMA;
			else if (strcmp(w, "syntax=json") == 0)
				d->opts.syntax = QK_SYNTAX_JSON;
			else if (sscanf(w, "qemu=%u.%u", &major, &minor) == 2)
				d->opts.qemu_version = major * 10000 + minor * 100;
			else if (strcmp(w, "paused") == 0)
				d->opts.paused = true;
			else if (strncmp(w, "console-chardev=", 16) == 0)
				d->opts.console_chardev = strdup(w + 16);
		}
	}
}

static char *argv_text(char **argv)
{
	struct buf b = BUF_INIT;
	for (char **p = argv; *p; p++) {
		for (const char *c = *p; *c; c++) {
			if (*c == '\\')
				buf_puts(&b, "\\\\");
			else if (*c == '\n')
				buf_puts(&b, "\\n");
			else
				buf_putc(&b, *c);
		}
		buf_putc(&b, '\n');
	}
	return buf_steal(&b);
}

static char *with_newline(const char *s)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s\n", s);
	return buf_steal(&b);
}

/* s with every "DIR/" written "@SPECDIR@/", so the expected files do not depend on where DIR is. */
static char *placeholder(const char *s, const char *dir)
{
	struct buf b = BUF_INIT;
	size_t dl = strlen(dir);
	for (const char *hit; (hit = strstr(s, dir)) && hit[dl] == '/'; s = hit + dl) {
		buf_append(&b, s, (size_t)(hit - s));
		buf_puts(&b, "@SPECDIR@");
	}
	buf_puts(&b, s);
	return buf_steal(&b);
}

static bool regenerate;

/* Compare (or rewrite) one expected file; prints the first difference. */
static bool check(const char *name, const char *path, const char *got)
{
	if (regenerate) {
		if (spit(path, got) < 0) {
			printf("FAIL %s: cannot write %s: %s\n", name, path, strerror(errno));
			return false;
		}
		return true;
	}
	_cleanup_free_ char *want = golden_slurp(path);
	if (!want) {
		printf("FAIL %s: %s is missing (QKIT_REGENERATE=1 writes it); got:\n%s", name, path, got);
		return false;
	}
	if (strcmp(want, got) == 0)
		return true;
	int line = 1;
	const char *w = want, *g = got;
	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	printf("FAIL %s: %s differs at line %d\n  want: %.*s\n  got:  %.*s\n", name, path, line,
	       (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
	return false;
}

static bool run_case(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	_cleanup_free_ char *text = golden_slurp(path);
	if (!text) {
		printf("FAIL %s: cannot read %s\n", name, path);
		return false;
	}
	struct directives d;
	parse_directives(text, &d);
	bool bad = strncmp(name, "bad-", 4) == 0;
	qk_error *err = NULL;
	qk_spec *spec = NULL;
	bool ok = true;

	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	if (qk_spec_load_file(&spec, path, QK_SPEC_YAML, QK_SPEC_LOAD_NO_ENV | d.load_flags, &err) < 0) {
		/* Without the "DIR/NAME.yaml: " the loader puts in front. */
		const char *msg = qk_error_message(err);
		size_t pl = strlen(path);
		if (strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
			msg += pl + 2;
		if (!bad) {
			printf("FAIL %s: %s\n", name, msg);
			ok = false;
		} else {
			_cleanup_free_ char *got = with_newline(msg);
			snprintf(path, sizeof(path), "%s/%s.err", dir, name);
			ok = check(name, path, got);
		}
		qk_error_free(err);
		free((char *)d.opts.console_chardev);
		return ok;
	}

	_cleanup_free_ char *own_arch = NULL;
	char *arches[8] = { NULL };
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(d.arches, " ", &save); w && n < 7; w = strtok_r(NULL, " ", &save))
		arches[n++] = w;
	if (n == 0) {
		/* The spec's own arch if it names one, else every architecture. */
		const char *line = strncmp(text, "arch:", 5) == 0 ? text : strstr(text, "\narch:");
		if (line) {
			line += line[0] == '\n' ? 6 : 5;
			line += strspn(line, " ");
			own_arch = strndup(line, strcspn(line, " \n#"));
			arches[n++] = own_arch;
		} else {
			for (size_t i = 0; all_arches[i] && !bad; i++)
				arches[n++] = (char *)all_arches[i];
			if (bad)
				arches[n++] = (char *)"x86_64";
		}
	}

	for (size_t i = 0; i < n; i++) {
		char **argv = NULL;
		err = NULL;
		int r = qk_spec_set_string(spec, "arch", arches[i], &err);
		if (r >= 0)
			r = qk_spec_render(spec, &d.opts, &argv, &err);
		if (bad) {
			if (r >= 0) {
				printf("FAIL %s: renders on %s but should fail\n", name, arches[i]);
				ok = false;
			} else {
				_cleanup_free_ char *msg = placeholder(qk_error_message(err), dir);
				_cleanup_free_ char *got = with_newline(msg);
				snprintf(path, sizeof(path), "%s/%s.err", dir, name);
				ok = check(name, path, got) && ok;
			}
		} else if (r < 0) {
			printf("FAIL %s on %s:\n%s\n", name, arches[i], qk_error_message(err));
			ok = false;
		} else {
			_cleanup_free_ char *text_argv = argv_text(argv);
			_cleanup_free_ char *got = placeholder(text_argv, dir);
			snprintf(path, sizeof(path), "%s/%s.%s.args", dir, name, arches[i]);
			ok = check(name, path, got) && ok;
		}
		qk_error_free(err);
		qk_argv_free(argv);
		if (bad)
			break;
	}
	qk_spec_free(spec);
	free((char *)d.opts.console_chardev);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [NAME...]\n", argv[0]);
		return 2;
	}
	const char *regen = getenv("QKIT_REGENERATE");
	regenerate = regen && strcmp(regen, "1") == 0;
	/* Absolute, as the loader makes the cases' paths. */
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	_cleanup_free_ char *dir = NULL;
	if (argv[1][0] == '/' || !cwd)
		dir = strdup(argv[1]);
	else if (asprintf(&dir, "%s/%s", cwd, argv[1]) < 0)
		dir = NULL;
	if (!dir)
		return 1;
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	char **names = NULL;
	size_t n = 0;
	if (argc > 2) {
		names = argv + 2;
		n = (size_t)argc - 2;
	} else {
		names = golden_list(dir, ".yaml", &n);
		if (!n) {
			fprintf(stderr, "%s: no cases\n", dir);
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			names[i][strlen(names[i]) - 5] = '\0';
	}
	size_t failed = 0, valid = 0, invalid = 0;
	for (size_t i = 0; i < n; i++) {
		bool ok = run_case(dir, names[i]);
		if (strncmp(names[i], "bad-", 4) == 0)
			invalid++;
		else
			valid++;
		if (!ok)
			failed++;
	}
	printf("%zu valid and %zu invalid cases, %zu failed%s\n", valid, invalid, failed,
	       regenerate ? " (expected files rewritten)" : "");
	if (argc == 2) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return failed ? 1 : 0;
}
