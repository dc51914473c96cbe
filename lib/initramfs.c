/* SPDX-License-Identifier: MIT */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qkit/initramfs.h>

#include "buf.h"
#include "elf.h"
#include "fileio.h"
#include "kmod.h"
#include "log.h"
#include "process.h"
#include "util.h"

struct entry {
	char *path;   /* relative to /, no trailing slash: "bin/sh" */
	unsigned mode; /* type and permission bits */
	char *src;    /* a host file, read at write time */
	uint8_t *data; /* or contents held here */
	size_t len;
	char *target; /* symlinks */
	unsigned rmajor, rminor;
};

enum init_kind { INIT_NONE, INIT_SCRIPT, INIT_GENERATED };

struct qk_initramfs {
	struct entry *entries;
	size_t n, cap;
	char **modules; /* archive paths ("/lib/modules/V/kernel/..ko"), load order */
	size_t n_modules;
	struct buf modules_dep; /* lines for /lib/modules/V/modules.dep */
	char *kver;
	const char *busybox_arch; /* from the busybox's ELF header; static string */
	enum init_kind init;
	/* A deep copy of the generated init's options. */
	qk_initramfs_init_opts opts;
	qk_initramfs_share *shares;
	char **env, **argv;
	char *cwd;
};

static void entry_clear(struct entry *e)
{
	free(e->path);
	free(e->src);
	free(e->data);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void clear_init_opts(qk_initramfs *ir)
{
	for (size_t i = 0; ir->shares && i < ir->opts.n_shares; i++) {
		free((char *)ir->shares[i].tag);
		free((char *)ir->shares[i].path);
	}
	free(ir->shares);
	strv_free_n(ir->env, ir->opts.n_env);
	strv_free_n(ir->argv, ir->opts.argc);
	free(ir->cwd);
	ir->shares = NULL;
	ir->env = ir->argv = NULL;
	ir->cwd = NULL;
	memset(&ir->opts, 0, sizeof(ir->opts));
}

void qk_initramfs_free(qk_initramfs *ir)
{
	if (!ir)
		return;
	for (size_t i = 0; i < ir->n; i++)
		entry_clear(&ir->entries[i]);
	free(ir->entries);
	strv_free_n(ir->modules, ir->n_modules);
	buf_free(&ir->modules_dep);
	free(ir->kver);
	clear_init_opts(ir);
	free(ir);
}

DEFINE_CLEANUP_FUNC(qk_initramfs, qk_initramfs_free)

int qk_initramfs_compression_from_string(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "gzip") == 0)
		return QK_INITRAMFS_GZIP;
	if (strcmp(s, "zstd") == 0)
		return QK_INITRAMFS_ZSTD;
	if (strcmp(s, "none") == 0)
		return QK_INITRAMFS_NONE;
	return -1;
}

static int oom(qk_error **err)
{
	return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "initramfs: out of memory");
}

/* "/usr//bin/" -> "usr/bin"; NULL (and an error) for "", "/", "..". */
static char *normalize(const char *path, qk_error **err)
{
	struct buf b = BUF_INIT;
	const char *p = path;
	while (*p) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			buf_free(&b);
			qk_error_set(err, QK_ERR_INVALID, EINVAL, "initramfs path \"%s\": \"..\" is not allowed", path);
			return NULL;
		}
		if (!(n == 1 && p[0] == '.') &&
		    ((b.len && buf_putc(&b, '/') < 0) || buf_append(&b, p, n) < 0)) {
			buf_free(&b);
			oom(err);
			return NULL;
		}
		p += n;
	}
	if (b.len == 0) {
		buf_free(&b);
		qk_error_set(err, QK_ERR_INVALID, EINVAL, "initramfs path \"%s\": names no file", path);
		return NULL;
	}
	return buf_steal(&b);
}

static struct entry *find(qk_initramfs *ir, const char *rel)
{
	for (size_t i = 0; i < ir->n; i++)
		if (strcmp(ir->entries[i].path, rel) == 0)
			return &ir->entries[i];
	return NULL;
}

static int ensure_parents(qk_initramfs *ir, const char *rel, qk_error **err);

/*
 * Put e (its fields owned by us from now on) at its path: a new entry after
 * its parents, or in place of an earlier one.
 */
static int put(qk_initramfs *ir, struct entry *e, qk_error **err)
{
	int r = ensure_parents(ir, e->path, err);
	if (r < 0) {
		entry_clear(e);
		return r;
	}
	struct entry *old = find(ir, e->path);
	if (old) {
		if (S_ISDIR(old->mode) && !S_ISDIR(e->mode)) {
			r = qk_error_set(err, QK_ERR_INVALID, EISDIR, "initramfs path \"/%s\": is already a directory",
					 e->path);
			entry_clear(e);
			return r;
		}
		entry_clear(old);
		*old = *e;
		return 0;
	}
	if (ir->n == ir->cap) {
		size_t cap = ir->cap ? ir->cap * 2 : 64;
		struct entry *p = realloc(ir->entries, cap * sizeof(*p));
		if (!p) {
			entry_clear(e);
			return oom(err);
		}
		ir->entries = p;
		ir->cap = cap;
	}
	ir->entries[ir->n++] = *e;
	return 0;
}

static int put_dir(qk_initramfs *ir, const char *rel, unsigned mode, qk_error **err)
{
	struct entry *old = find(ir, rel);
	if (old) {
		if (!S_ISDIR(old->mode))
			return qk_error_set(err, QK_ERR_INVALID, ENOTDIR,
					    "initramfs path \"/%s\": already exists and is not a directory", rel);
		old->mode = S_IFDIR | (mode & 07777);
		return 0;
	}
	struct entry e = { .path = strdup(rel), .mode = S_IFDIR | (mode & 07777) };
	if (!e.path)
		return oom(err);
	return put(ir, &e, err);
}

static int ensure_parents(qk_initramfs *ir, const char *rel, qk_error **err)
{
	_cleanup_free_ char *copy = strdup(rel);
	if (!copy)
		return oom(err);
	for (char *slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct entry *e = find(ir, copy);
		int r = 0;
		if (!e)
			r = put_dir(ir, copy, 0755, err);
		else if (!S_ISDIR(e->mode))
			r = qk_error_set(err, QK_ERR_INVALID, ENOTDIR,
					 "initramfs path \"/%s\": its parent /%s is not a directory", rel, copy);
		if (r < 0)
			return r;
		*slash = '/';
	}
	return 0;
}

int qk_initramfs_add_dir(qk_initramfs *ir, const char *path, unsigned mode, qk_error **err)
{
	_cleanup_free_ char *rel = normalize(path, err);
	if (!rel)
		return -EINVAL;
	int r = ensure_parents(ir, rel, err);
	return r < 0 ? r : put_dir(ir, rel, mode, err);
}

int qk_initramfs_add_file(qk_initramfs *ir, const char *src, const char *dst, int mode,
			  qk_error **err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return qk_error_set(err, errno == ENOENT ? QK_ERR_NOT_FOUND : QK_ERR_SYSTEM, errno,
				    "initramfs file %s: %s", src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "initramfs file %s: not a regular file", src);
	if (mode > 07777)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "initramfs file %s: mode %o is not a permission mode",
				    src, (unsigned)mode);
	struct entry e = {
		.path = normalize(dst, err),
		.mode = S_IFREG | (mode < 0 ? (st.st_mode & 07777) : (unsigned)mode),
	};
	if (!e.path)
		return -EINVAL;
	if (!(e.src = strdup(src))) {
		entry_clear(&e);
		return oom(err);
	}
	return put(ir, &e, err);
}

int qk_initramfs_add_data(qk_initramfs *ir, const char *dst, const void *data, size_t len,
			  unsigned mode, qk_error **err)
{
	struct entry e = { .path = normalize(dst, err), .mode = S_IFREG | (mode & 07777), .len = len };
	if (!e.path)
		return -EINVAL;
	if (!(e.data = malloc(len ? len : 1))) {
		entry_clear(&e);
		return oom(err);
	}
	if (len)
		memcpy(e.data, data, len);
	return put(ir, &e, err);
}

int qk_initramfs_add_symlink(qk_initramfs *ir, const char *path, const char *target, qk_error **err)
{
	if (!target || !*target)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "initramfs symlink %s: empty target", path);
	struct entry e = { .path = normalize(path, err), .mode = S_IFLNK | 0777 };
	if (!e.path)
		return -EINVAL;
	if (!(e.target = strdup(target))) {
		entry_clear(&e);
		return oom(err);
	}
	return put(ir, &e, err);
}

int qk_initramfs_add_node(qk_initramfs *ir, const char *path, unsigned mode, unsigned major,
			  unsigned minor, qk_error **err)
{
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "initramfs node %s: mode %o is neither a character nor a block device", path,
				    mode);
	struct entry e = { .path = normalize(path, err), .mode = mode, .rmajor = major, .rminor = minor };
	if (!e.path)
		return -EINVAL;
	return put(ir, &e, err);
}

int qk_initramfs_new(qk_initramfs **out, qk_error **err)
{
	static const struct {
		const char *path;
		unsigned mode;
	} dirs[] = {
		{ "bin", 0755 }, { "dev", 0755 }, { "etc", 0755 }, { "lib", 0755 }, { "proc", 0555 },
		{ "root", 0700 }, { "run", 0755 }, { "sbin", 0755 }, { "sys", 0555 }, { "tmp", 01777 },
		{ "usr/bin", 0755 }, { "usr/sbin", 0755 },
	};
	_cleanup_(qk_initramfs_freep) qk_initramfs *ir = calloc(1, sizeof(*ir));
	if (!ir)
		return oom(err);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int r = qk_initramfs_add_dir(ir, dirs[i].path, dirs[i].mode, err);
		if (r < 0)
			return r;
	}
	/* Without /dev/console the kernel starts init with no stdin, stdout or stderr. */
	int r = qk_initramfs_add_node(ir, "/dev/console", S_IFCHR | 0600, 5, 1, err);
	if (r == 0)
		r = qk_initramfs_add_node(ir, "/dev/null", S_IFCHR | 0666, 1, 3, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(ir);
	return 0;
}

/* busybox must be a static ELF executable: the initramfs has no libraries. */
static int check_static_elf(const char *path, const char **arch, qk_error **err)
{
	_cleanup_free_ uint8_t *d = NULL;
	size_t len;
	int r = file_read_all(path, 64u << 20, &d, &len, err);
	if (r < 0)
		return r;
	struct elf_image e;
	char why[160];
	if (elf_parse(&e, d, len, why, sizeof(why)) < 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "busybox %s: %s", path, why);
	if (elf_has_phdr(&e, ELF_PT_INTERP))
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "busybox %s: dynamically linked, but the initramfs has no libraries; "
				    "use a static one (Debian: busybox-static)", path);
	*arch = elf_machine_arch(&e);
	return 0;
}

int qk_initramfs_add_busybox(qk_initramfs *ir, const char *busybox, qk_error **err)
{
	_cleanup_free_ char *found = NULL;
	if (!busybox) {
		if (process_find_program(&found, "busybox", NULL) < 0)
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "busybox: not found in PATH; install busybox-static or give its path");
		busybox = found;
	}
	const char *arch = NULL;
	int r = check_static_elf(busybox, &arch, err);
	if (r == 0)
		r = qk_initramfs_add_file(ir, busybox, "/bin/busybox", 0755, err);
	if (r == 0)
		ir->busybox_arch = arch;
	if (r == 0)
		r = qk_initramfs_add_symlink(ir, "/bin/sh", "busybox", err);
	return r;
}

const char *qk_initramfs_busybox_arch(const qk_initramfs *ir)
{
	return ir ? ir->busybox_arch : NULL;
}

/* "kernel/fs/9p/9p.ko.xz" -> "kernel/fs/9p/9p.ko": modules are stored decompressed. */
static char *stored_name(const char *rel)
{
	const char *ko = strstr(rel, ".ko");
	while (ko && ko[3] != '\0' && ko[3] != '.')
		ko = strstr(ko + 3, ".ko");
	return ko ? strndup(rel, (size_t)(ko - rel) + 3) : strdup(rel);
}

static bool have_module(const qk_initramfs *ir, const char *archive_path)
{
	for (size_t i = 0; i < ir->n_modules; i++)
		if (strcmp(ir->modules[i], archive_path) == 0)
			return true;
	return false;
}

/* The kernel release the module was built for: the first word of its vermagic. */
static int module_kver(const char *abs, const uint8_t *ko, size_t len, char **out, qk_error **err)
{
	_cleanup_free_ char *vermagic = NULL;
	int r = kmod_modinfo(ko, len, "vermagic", &vermagic, abs, err);
	if (r < 0)
		return r;
	if (!vermagic || !*vermagic)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: no vermagic in .modinfo", abs);
	*out = strndup(vermagic, strcspn(vermagic, " "));
	return *out ? 0 : oom(err);
}

static int add_one_module(qk_initramfs *ir, struct kmod_db *db, const char *dir, const char *rel,
			  qk_error **err)
{
	_cleanup_free_ char *abs = NULL, *stored = stored_name(rel), *kver = NULL, *archive_path = NULL;
	_cleanup_free_ uint8_t *ko = NULL;
	size_t len;
	if (!stored || asprintf(&abs, "%s/%s", dir, rel) < 0)
		return oom(err);
	int r = kmod_read(abs, &ko, &len, err);
	if (r == 0)
		r = module_kver(abs, ko, len, &kver, err);
	if (r < 0)
		return r;
	if (!ir->kver) {
		ir->kver = TAKE_PTR(kver);
	} else if (strcmp(ir->kver, kver) != 0) {
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "module %s is for kernel %s, but the image already has modules for %s", abs, kver,
				    ir->kver);
	}
	if (asprintf(&archive_path, "/lib/modules/%s/%s", ir->kver, stored) < 0)
		return oom(err);
	if (have_module(ir, archive_path))
		return 0;

	r = qk_initramfs_add_data(ir, archive_path, ko, len, 0644, err);
	if (r < 0)
		return r;
	char **deps = NULL;
	r = kmod_db_deps(db, rel, &deps, err);
	if (r < 0)
		return r;
	r = buf_printf(&ir->modules_dep, "%s:", stored);
	for (char **d = deps; r == 0 && *d; d++) {
		_cleanup_free_ char *ds = stored_name(*d);
		r = ds ? buf_printf(&ir->modules_dep, " %s", ds) : -ENOMEM;
	}
	kmod_strv_free(deps);
	if (r == 0)
		r = buf_putc(&ir->modules_dep, '\n');
	char **mods = r == 0 ? realloc(ir->modules, (ir->n_modules + 1) * sizeof(char *)) : NULL;
	if (!mods)
		return oom(err);
	ir->modules = mods;
	ir->modules[ir->n_modules++] = TAKE_PTR(archive_path);
	return 0;
}

int qk_initramfs_add_modules(qk_initramfs *ir, const char *modules_dir, const char *const *names,
			     size_t n, qk_error **err)
{
	struct kmod_db *db = NULL;
	char **order = NULL;
	int r = kmod_db_open(modules_dir, &db, err);
	if (r == 0)
		r = kmod_db_resolve(db, names, n, &order, err);
	if (r >= 0) {
		log_debug("initramfs: %zu module(s) from %s (dependencies from %s)", (size_t)r, modules_dir,
			  kmod_db_source(db));
		for (char **p = order; r >= 0 && *p; p++)
			r = add_one_module(ir, db, modules_dir, *p, err);
	}
	kmod_strv_free(order);
	kmod_db_free(db);
	return r < 0 ? r : 0;
}

int qk_initramfs_set_init_script(qk_initramfs *ir, const char *script, size_t len, qk_error **err)
{
	int r = qk_initramfs_add_data(ir, "/init", script, len, 0755, err);
	if (r < 0)
		return r;
	clear_init_opts(ir);
	ir->init = INIT_SCRIPT;
	return 0;
}

static bool is_identifier(const char *s, size_t n)
{
	if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int validate_opts(const qk_initramfs_init_opts *o, qk_error **err)
{
	if (o->version != QK_INITRAMFS_INIT_OPTS_VERSION)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "init options: version %u is not %u", o->version,
				    QK_INITRAMFS_INIT_OPTS_VERSION);
	int bad = 0;
	for (size_t i = 0; i < o->n_shares; i++) {
		const qk_initramfs_share *s = &o->shares[i];
		if (!s->tag || !*s->tag || strpbrk(s->tag, " \t\n,:"))
			bad = qk_error_add(err, QK_ERR_INVALID, "shares[%zu]: tag \"%s\" is empty or has a space, ',' or ':'",
					   i, s->tag ? s->tag : "");
		if (!s->path || s->path[0] != '/' || strchr(s->path, '\n'))
			bad = qk_error_add(err, QK_ERR_INVALID, "shares[%zu] (tag \"%s\"): path \"%s\" is not an absolute path",
					   i, s->tag ? s->tag : "", s->path ? s->path : "");
	}
	for (size_t i = 0; i < o->n_env; i++) {
		const char *eq = o->env[i] ? strchr(o->env[i], '=') : NULL;
		if (!eq || !is_identifier(o->env[i], (size_t)(eq - o->env[i])))
			bad = qk_error_add(err, QK_ERR_INVALID, "env[%zu]: \"%s\" is not NAME=value with NAME a shell identifier",
					   i, o->env[i] ? o->env[i] : "");
	}
	for (size_t i = 0; i < o->argc; i++)
		if (!o->argv || !o->argv[i])
			bad = qk_error_add(err, QK_ERR_INVALID, "argv[%zu]: missing (argc is %zu)", i, o->argc);
	if (o->argc > 0 && o->argv && o->argv[0] && !*o->argv[0])
		bad = qk_error_add(err, QK_ERR_INVALID, "argv[0]: empty command");
	if (o->cwd && o->cwd[0] != '/')
		bad = qk_error_add(err, QK_ERR_INVALID, "cwd \"%s\": not an absolute path", o->cwd);
	return bad;
}

static const char init_head[] =
	"#!/bin/sh\n"
	"# Generated by qkit. Console markers:\n"
	"#   " QK_INITRAMFS_EXIT_MARKER " <status>      the payload's exit status\n"
	"#   " QK_INITRAMFS_ERROR_MARKER " <what>  a step before the payload failed\n"
	"export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\n"
	"\n"
	"qkit_end() {\n"
	"\t/bin/busybox sync\n";

static const char init_poweroff[] =
	"\t/bin/busybox poweroff -f\n"
	"\techo o > /proc/sysrq-trigger\n";

static const char init_body[] =
	"\t# Stay up: the host stops the VM (PID 1 must not exit).\n"
	"\twhile :; do /bin/busybox sleep 3600; done\n"
	"}\n"
	"\n"
	"qkit_fail() {\n"
	"\techo\n"
	"\techo \"" QK_INITRAMFS_ERROR_MARKER " $*\"\n"
	"\tqkit_end\n"
	"}\n"
	"\n"
	"qkit_mount9p() { # TAG PATH [ro]\n"
	"\tmkdir -p \"$2\" &&\n"
	"\t\tmount -t 9p -o \"trans=virtio,version=9p2000.L,msize=512000${3:+,ro}\" \"$1\" \"$2\"\n"
	"}\n"
	"\n"
	"/bin/busybox mount -t proc proc /proc || qkit_fail mount proc on /proc\n"
	"/bin/busybox mount -t sysfs sysfs /sys || qkit_fail mount sysfs on /sys\n"
	"/bin/busybox mount -t devtmpfs devtmpfs /dev || qkit_fail mount devtmpfs on /dev\n"
	"/bin/busybox mount -t tmpfs -o mode=1777 tmpfs /tmp || qkit_fail mount tmpfs on /tmp\n"
	"/bin/busybox --install -s || qkit_fail busybox --install\n";

static const char init_runtime_shares[] =
	"# Shares named on the kernel command line: QKIT_MOUNT9P_<ID>=TAG:PATH[:ro]\n"
	"for qkit_var in $(env | sed -n 's/^\\(QKIT_MOUNT9P_[A-Za-z0-9_]*\\)=.*/\\1/p'); do\n"
	"\teval \"qkit_spec=\\$$qkit_var\"\n"
	"\tqkit_tag=${qkit_spec%%:*}\n"
	"\tqkit_rest=${qkit_spec#*:}\n"
	"\tqkit_path=${qkit_rest%%:*}\n"
	"\tqkit_ro=\n"
	"\tcase $qkit_rest in *:ro) qkit_ro=ro ;; esac\n"
	"\tcase $qkit_spec:$qkit_path in *:*:/*) ;; *) qkit_fail \"$qkit_var=$qkit_spec is not TAG:/PATH[:ro]\" ;; esac\n"
	"\tqkit_mount9p \"$qkit_tag\" \"$qkit_path\" $qkit_ro ||\n"
	"\t\tqkit_fail \"mount 9p share $qkit_tag on $qkit_path ($qkit_var)\"\n"
	"\tunset \"$qkit_var\"\n"
	"done\n";

static int generate_init(const qk_initramfs *ir, const qk_initramfs_init_opts *o, char **out,
			 qk_error **err)
{
	if (validate_opts(o, err) < 0)
		return -EINVAL;
	struct buf b = BUF_INIT;
	int r = buf_puts(&b, init_head);
	if (r == 0 && o->poweroff)
		r = buf_puts(&b, init_poweroff);
	if (r == 0)
		r = buf_puts(&b, init_body);
	if (r == 0 && ir->n_modules)
		r = buf_puts(&b, "\n# Modules, dependencies first.\n");
	for (size_t i = 0; r == 0 && i < ir->n_modules; i++) {
		r = buf_puts(&b, "insmod ");
		if (r == 0)
			r = buf_put_shell_quoted(&b, ir->modules[i]);
		if (r == 0)
			r = buf_puts(&b, " || qkit_fail insmod ");
		if (r == 0)
			r = buf_put_shell_quoted(&b, ir->modules[i]);
		if (r == 0)
			r = buf_putc(&b, '\n');
	}
	if (r == 0 && o->n_shares)
		r = buf_puts(&b, "\n# 9p shares.\n");
	for (size_t i = 0; r == 0 && i < o->n_shares; i++) {
		const qk_initramfs_share *s = &o->shares[i];
		r = buf_puts(&b, "qkit_mount9p ");
		if (r == 0)
			r = buf_put_shell_quoted(&b, s->tag);
		if (r == 0)
			r = buf_putc(&b, ' ');
		if (r == 0)
			r = buf_put_shell_quoted(&b, s->path);
		if (r == 0)
			r = buf_puts(&b, s->readonly ? " ro ||\n\tqkit_fail " : " ||\n\tqkit_fail ");
		if (r == 0)
			r = buf_put_shell_quoted(&b, "mount 9p share ");
		if (r == 0)
			r = buf_put_shell_quoted(&b, s->tag);
		if (r == 0)
			r = buf_puts(&b, "' on '");
		if (r == 0)
			r = buf_put_shell_quoted(&b, s->path);
		if (r == 0)
			r = buf_putc(&b, '\n');
	}
	if (r == 0)
		r = buf_printf(&b, "\n%s", init_runtime_shares);
	if (r == 0)
		r = buf_puts(&b, "\n# The payload.\ncd ");
	if (r == 0)
		r = buf_put_shell_quoted(&b, o->cwd ? o->cwd : "/");
	if (r == 0)
		r = buf_puts(&b, " || qkit_fail cd ");
	if (r == 0)
		r = buf_put_shell_quoted(&b, o->cwd ? o->cwd : "/");
	if (r == 0)
		r = buf_putc(&b, '\n');
	for (size_t i = 0; r == 0 && i < o->n_env; i++) {
		const char *eq = strchr(o->env[i], '=');
		r = buf_printf(&b, "export %.*s=", (int)(eq - o->env[i]), o->env[i]);
		if (r == 0)
			r = buf_put_shell_quoted(&b, eq + 1);
		if (r == 0)
			r = buf_putc(&b, '\n');
	}
	if (r == 0 && o->argc == 0)
		r = buf_puts(&b, "setsid cttyhack /bin/sh\n");
	if (r == 0 && o->argc > 0)
		r = buf_puts(&b, "( exec");
	for (size_t i = 0; r == 0 && i < o->argc; i++) {
		r = buf_putc(&b, ' ');
		if (r == 0)
			r = buf_put_shell_quoted(&b, o->argv[i]);
	}
	if (r == 0 && o->argc > 0)
		r = buf_puts(&b, " )\n");
	if (r == 0)
		r = buf_puts(&b, "qkit_status=$?\n"
				 "echo\n"
				 "echo \"" QK_INITRAMFS_EXIT_MARKER " $qkit_status\"\n"
				 "qkit_end\n");
	if (r < 0) {
		buf_free(&b);
		return oom(err);
	}
	*out = buf_steal(&b);
	return *out ? 0 : oom(err);
}

int qk_initramfs_init_text(qk_initramfs *ir, const qk_initramfs_init_opts *opts, char **out,
			   qk_error **err)
{
	return generate_init(ir, opts, out, err);
}

static char *strdup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*failed = true;
	return d;
}

static char **strv_copy(const char *const *v, size_t n, bool *failed)
{
	if (n == 0)
		return NULL;
	char **c = calloc(n, sizeof(char *));
	if (!c) {
		*failed = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		c[i] = strdup_or_null(v[i], failed);
	return c;
}

int qk_initramfs_set_init(qk_initramfs *ir, const qk_initramfs_init_opts *opts, qk_error **err)
{
	if (validate_opts(opts, err) < 0)
		return -EINVAL;
	clear_init_opts(ir);
	bool failed = false;
	ir->opts = *opts;
	if (opts->n_shares) {
		ir->shares = calloc(opts->n_shares, sizeof(*ir->shares));
		failed = !ir->shares;
		for (size_t i = 0; ir->shares && i < opts->n_shares; i++) {
			ir->shares[i].tag = strdup_or_null(opts->shares[i].tag, &failed);
			ir->shares[i].path = strdup_or_null(opts->shares[i].path, &failed);
			ir->shares[i].readonly = opts->shares[i].readonly;
		}
	}
	ir->env = strv_copy(opts->env, opts->n_env, &failed);
	ir->argv = strv_copy(opts->argv, opts->argc, &failed);
	ir->cwd = strdup_or_null(opts->cwd, &failed);
	ir->opts.shares = ir->shares;
	ir->opts.env = (const char *const *)ir->env;
	ir->opts.argv = (const char *const *)ir->argv;
	ir->opts.cwd = ir->cwd;
	if (failed) {
		clear_init_opts(ir);
		return oom(err);
	}
	ir->init = INIT_GENERATED;
	return 0;
}

static int archive_fail(struct archive *a, const char *path, qk_error **err)
{
	const char *msg = archive_error_string(a);
	int e = archive_errno(a);
	return qk_error_set(err, QK_ERR_SYSTEM, e > 0 ? e : EIO, "%s: %s", path, msg ? msg : "libarchive failed");
}

static int write_entry(struct archive *a, struct archive_entry *ae, const struct entry *e, size_t ino,
		       const char *out, qk_error **err)
{
	_cleanup_close_ int fd = -1;
	int64_t size = 0;
	if (e->src) {
		struct stat st;
		fd = open(e->src, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "initramfs file %s: %s", e->src, strerror(errno));
		size = st.st_size;
	} else if (S_ISREG(e->mode)) {
		size = (int64_t)e->len;
	}

	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_mode(ae, e->mode);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	archive_entry_set_ino64(ae, (int64_t)ino);
	archive_entry_set_nlink(ae, S_ISDIR(e->mode) ? 2 : 1);
	archive_entry_set_size(ae, size);
	if (S_ISLNK(e->mode))
		archive_entry_set_symlink(ae, e->target);
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		archive_entry_set_rdevmajor(ae, e->rmajor);
		archive_entry_set_rdevminor(ae, e->rminor);
	}
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		return archive_fail(a, out, err);

	if (e->data && e->len && archive_write_data(a, e->data, e->len) != (la_ssize_t)e->len)
		return archive_fail(a, out, err);
	if (fd >= 0) {
		/* The size in the header is a promise: write exactly that many bytes. */
		char chunk[65536];
		int64_t left = size;
		while (left > 0) {
			ssize_t n = read(fd, chunk, left < (int64_t)sizeof(chunk) ? (size_t)left : sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return qk_error_set(err, QK_ERR_SYSTEM, n < 0 ? errno : EIO,
						    "initramfs file %s: %s", e->src,
						    n < 0 ? strerror(errno) : "it shrank while being read");
			if (archive_write_data(a, chunk, (size_t)n) != n)
				return archive_fail(a, out, err);
			left -= n;
		}
	}
	return 0;
}

/* Entries generated at write time: /init and the modules' modules.dep. */
static int add_generated(qk_initramfs *ir, qk_error **err)
{
	int r = 0;
	if (ir->kver && ir->modules_dep.len) {
		_cleanup_free_ char *dep = NULL;
		if (asprintf(&dep, "/lib/modules/%s/modules.dep", ir->kver) < 0)
			return oom(err);
		r = qk_initramfs_add_data(ir, dep, ir->modules_dep.data, ir->modules_dep.len, 0644, err);
	}
	if (r == 0 && ir->init == INIT_GENERATED) {
		struct entry *bb = find(ir, "bin/busybox");
		if (!bb)
			return qk_error_set(err, QK_ERR_INVALID, ENOENT,
					    "initramfs: the generated /init needs /bin/busybox; add it "
					    "(qk_initramfs_add_busybox, qkit initramfs --busybox)");
		_cleanup_free_ char *text = NULL;
		r = generate_init(ir, &ir->opts, &text, err);
		if (r == 0)
			r = qk_initramfs_add_data(ir, "/init", text, strlen(text), 0755, err);
	}
	return r;
}

int qk_initramfs_write(qk_initramfs *ir, const char *path, qk_initramfs_compression compression,
		       qk_error **err)
{
	int r = add_generated(ir, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return oom(err);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot create: %s", path, strerror(errno));

	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	if (!a || !ae) {
		r = oom(err);
	} else if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK) {
		r = archive_fail(a, path, err);
	} else {
		int ar = ARCHIVE_OK;
		if (compression == QK_INITRAMFS_GZIP) {
			ar = archive_write_add_filter_gzip(a);
			/* No timestamp in the gzip header: the same inputs give the same bytes. */
			if (ar == ARCHIVE_OK)
				archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
		} else if (compression == QK_INITRAMFS_ZSTD) {
			ar = archive_write_add_filter_zstd(a);
		} else if (compression != QK_INITRAMFS_NONE) {
			r = qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: compression %d is not gzip, zstd or none",
					 path, (int)compression);
		}
		if (r == 0 && ar != ARCHIVE_OK)
			r = archive_fail(a, path, err);
		/* The kernel reads cpio in 512-byte blocks no better than any other size; skip the padding. */
		if (r == 0 && compression == QK_INITRAMFS_NONE)
			archive_write_set_bytes_in_last_block(a, 1);
		if (r == 0 && archive_write_open_fd(a, fd) != ARCHIVE_OK)
			r = archive_fail(a, path, err);
		for (size_t i = 0; r == 0 && i < ir->n; i++)
			r = write_entry(a, ae, &ir->entries[i], i + 1, path, err);
		if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
			r = archive_fail(a, path, err);
	}
	archive_entry_free(ae);
	if (a)
		archive_write_free(a);

	mode_t mask = umask(0);
	umask(mask);
	if (r == 0 && (fchmod(fd, 0644 & ~mask) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
		r = qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot write: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}
