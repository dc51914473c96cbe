/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkit/qkit.h>

#include "cli.h"
#include "util.h"

#define NAME "initramfs"

DEFINE_CLEANUP_FUNC(qk_initramfs, qk_initramfs_free)

/* A growable list of borrowed strings (argv pointers). */
struct list {
	const char **v;
	size_t n;
};

static void list_free(struct list *l)
{
	free(l->v); /* the strings are argv's */
}

static int list_add(struct list *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[l->n++] = s;
	l->v = v;
	return 0;
}

/* SRC:DST[:MODE], DST absolute: split at the first ":/", MODE is trailing octal digits. */
static int add_file_arg(qk_initramfs *ir, const char *arg, qk_error **err)
{
	const char *sep = strstr(arg, ":/");
	if (!sep || sep == arg)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "--file %s: want SRC:DST[:MODE] with DST an absolute path", arg);
	_cleanup_free_ char *src = strndup(arg, (size_t)(sep - arg));
	_cleanup_free_ char *dst = strdup(sep + 1);
	if (!src || !dst)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	int mode = -1;
	char *colon = strrchr(dst, ':');
	if (colon) {
		char *end;
		unsigned long m = strtoul(colon + 1, &end, 8);
		if (colon[1] == '\0' || *end != '\0' || m > 07777)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "--file %s: mode \"%s\" is not an octal mode up to 7777", arg, colon + 1);
		mode = (int)m;
		*colon = '\0';
	}
	return qk_initramfs_add_file(ir, src, dst, mode, err);
}

/* TAG:PATH[:ro] */
static int parse_share(char *arg, qk_initramfs_share *s)
{
	char *colon = strchr(arg, ':');
	if (!colon || colon == arg || colon[1] != '/')
		return -EINVAL;
	*colon = '\0';
	s->tag = arg;
	s->path = colon + 1;
	s->readonly = false;
	size_t n = strlen(s->path);
	if (n > 3 && strcmp(s->path + n - 3, ":ro") == 0) {
		colon[1 + n - 3] = '\0';
		s->readonly = true;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	enum { OPT_COMPRESS = 256, OPT_BUSYBOX, OPT_FILE, OPT_INIT, OPT_MODULES, OPT_MODULE, OPT_SHARE,
	       OPT_ENV, OPT_CWD, OPT_NO_POWEROFF };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "busybox", required_argument, NULL, OPT_BUSYBOX },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "init", required_argument, NULL, OPT_INIT },
		{ "modules", required_argument, NULL, OPT_MODULES },
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "share", required_argument, NULL, OPT_SHARE },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "cwd", required_argument, NULL, OPT_CWD },
		{ "no-poweroff", no_argument, NULL, OPT_NO_POWEROFF },
		{ 0 },
	};
	const char *out = NULL, *busybox = NULL, *init = NULL, *modules_dir = NULL, *cwd = NULL;
	int compression = QK_INITRAMFS_GZIP;
	bool poweroff = true;
	_cleanup_(list_free) struct list files = { 0 }, modules = { 0 }, env = { 0 }, shares = { 0 };
	_cleanup_free_ qk_initramfs_share *share_v = NULL;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case OPT_COMPRESS:
			compression = qk_initramfs_compression_from_string(optarg);
			if (compression < 0)
				return cli_usage_error(NAME, "--compress %s: not one of gzip, zstd, none", optarg);
			break;
		case OPT_BUSYBOX:
			busybox = optarg;
			break;
		case OPT_INIT:
			init = optarg;
			break;
		case OPT_MODULES:
			modules_dir = optarg;
			break;
		case OPT_CWD:
			cwd = optarg;
			break;
		case OPT_NO_POWEROFF:
			poweroff = false;
			break;
		case OPT_FILE:
			r = list_add(&files, optarg);
			break;
		case OPT_MODULE:
			r = list_add(&modules, optarg);
			break;
		case OPT_ENV:
			r = list_add(&env, optarg);
			break;
		case OPT_SHARE:
			r = list_add(&shares, optarg);
			break;
		default:
			return EXIT_USAGE; /* getopt said which option */
		}
		if (r < 0) {
			fprintf(stderr, "qkit " NAME ": out of memory\n");
			return EXIT_FAIL;
		}
	}
	const char *const *payload = (const char *const *)argv + optind;
	size_t payload_n = (size_t)(argc - optind);

	if (!out)
		return cli_usage_error(NAME, "-o OUT is required");
	if (modules.n && !modules_dir)
		return cli_usage_error(NAME, "--module needs --modules DIR (a /lib/modules/VERSION tree)");
	if (modules_dir && !modules.n)
		return cli_usage_error(NAME, "--modules %s: name at least one --module", modules_dir);
	if (init && (shares.n || env.n || cwd || payload_n || !poweroff))
		return cli_usage_error(NAME, "--share, --env, --cwd, --no-poweroff and a command configure the "
				       "generated init; --init replaces it");
	share_v = calloc(shares.n ? shares.n : 1, sizeof(*share_v));
	if (!share_v)
		return EXIT_FAIL;
	for (size_t i = 0; i < shares.n; i++)
		if (parse_share((char *)shares.v[i], &share_v[i]) < 0)
			return cli_usage_error(NAME, "--share %s: want TAG:/PATH[:ro]", shares.v[i]);

	qk_error *err = NULL;
	_cleanup_(qk_initramfs_freep) qk_initramfs *ir = NULL;
	if (qk_initramfs_new(&ir, &err) < 0)
		return cli_report(NAME, err);
	if ((!init || busybox) && qk_initramfs_add_busybox(ir, busybox, &err) < 0)
		return cli_report(NAME, err);
	for (size_t i = 0; i < files.n; i++)
		if (add_file_arg(ir, files.v[i], &err) < 0)
			return cli_report(NAME, err);
	if (modules_dir && qk_initramfs_add_modules(ir, modules_dir, modules.v, modules.n, &err) < 0)
		return cli_report(NAME, err);

	if (init) {
		if (qk_initramfs_add_file(ir, init, "/init", 0755, &err) < 0)
			return cli_report(NAME, err);
	} else {
		qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
		o.shares = share_v;
		o.n_shares = shares.n;
		o.env = env.v;
		o.n_env = env.n;
		o.argv = payload;
		o.argc = payload_n;
		o.cwd = cwd;
		o.poweroff = poweroff;
		if (qk_initramfs_set_init(ir, &o, &err) < 0)
			return cli_report(NAME, err);
	}
	if (qk_initramfs_write(ir, out, (qk_initramfs_compression)compression, &err) < 0)
		return cli_report(NAME, err);
	return EXIT_OK;
}

const struct command cmd_initramfs = {
	.name = NAME,
	.summary = "build an initramfs: busybox, files, kernel modules, a generated init",
	.usage = "Usage: qkit initramfs -o OUT [--compress gzip|zstd|none] [--busybox PATH]\n"
		 "                      [--file SRC:DST[:MODE]]... [--init SCRIPT]\n"
		 "                      [--modules DIR --module NAME...] [--share TAG:/PATH[:ro]]...\n"
		 "                      [--env NAME=VALUE]... [--cwd DIR] [--no-poweroff]\n"
		 "                      [--] [CMD [ARGS...]]\n"
		 "\n"
		 "Write a cpio (newc) initramfs to OUT. It holds /dev/console, /dev/null, a static\n"
		 "busybox (from PATH unless --busybox) and an /init that mounts proc, sysfs,\n"
		 "devtmpfs, loads the modules, mounts the 9p shares, runs CMD (a shell without\n"
		 "one), prints 'QKIT-EXIT <status>' on the console and powers off.\n"
		 "\n"
		 "  -o, --output OUT        the image to write (atomically)\n"
		 "  --compress C            gzip (default), zstd or none\n"
		 "  --busybox PATH          a statically linked busybox\n"
		 "  --file SRC:DST[:MODE]   add host file SRC as DST (octal MODE; default SRC's)\n"
		 "  --init SCRIPT           use SCRIPT as /init instead of the generated one\n"
		 "  --modules DIR           a /lib/modules/VERSION tree for --module\n"
		 "  --module NAME           a module to load, with its dependencies\n"
		 "  --share TAG:/PATH[:ro]  mount the 9p share with mount_tag TAG on PATH\n"
		 "  --env NAME=VALUE        set a variable for CMD\n"
		 "  --cwd DIR               run CMD in DIR (default /)\n"
		 "  --no-poweroff           after CMD, keep the VM up instead of powering off\n"
		 "\n"
		 "See qkit-initramfs(1).\n",
	.run = run,
};
