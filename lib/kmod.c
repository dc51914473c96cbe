/* SPDX-License-Identifier: MIT */
#include "kmod.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fnmatch.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "buf.h"
#include "fileio.h"
#include "decompress.h"
#include "elf.h"
#include "util.h"

#define MODULE_MAX (256u << 20)

struct module {
	char *name;  /* normalised: '-' as '_' */
	char *path;  /* relative to the tree */
	char **deps; /* relative paths; valid once deps_known */
	bool deps_known;
	int mark;    /* resolve's DFS state: 0 new, 1 on the stack, 2 done */
};

/* An alias ("fs-iso9660", "pci:v00001AF4d*") and the module it names. */
struct alias {
	char *pattern;
	char *module;
};

struct kmod_db {
	char *dir;
	struct alias *aliases; /* loaded on the first name that is no module */
	size_t n_aliases;
	bool aliases_loaded;
	struct module *mods;
	size_t n, cap;
	char **builtin; /* normalised names, sorted */
	size_t n_builtin;
	bool from_dep;
};

void kmod_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

DEFINE_CLEANUP_FUNC(char *, kmod_strv_free)

static int strv_push(char ***v, size_t *n, char *s)
{
	char **p = realloc(*v, (*n + 2) * sizeof(char *));
	if (!p) {
		free(s);
		return -ENOMEM;
	}
	p[(*n)++] = s;
	p[*n] = NULL;
	*v = p;
	return 0;
}

/* "kernel/fs/9p/9p.ko.xz" -> "9p"; "virtio-rng" -> "virtio_rng". */
static char *module_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *ko = strstr(base, ".ko");
	size_t n = ko && (ko[3] == '\0' || ko[3] == '.') ? (size_t)(ko - base) : strlen(base);
	char *name = strndup(base, n);
	if (name)
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
	return name;
}

static bool is_module_file(const char *name)
{
	static const char *const suffixes[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
	size_t n = strlen(name);
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t s = strlen(suffixes[i]);
		if (n > s && strcmp(name + n - s, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static int add_module(struct kmod_db *db, const char *path, struct module **out)
{
	if (db->n == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 256;
		struct module *m = realloc(db->mods, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		db->mods = m;
		db->cap = cap;
	}
	struct module *m = &db->mods[db->n];
	memset(m, 0, sizeof(*m));
	m->path = strdup(path);
	m->name = module_name(path);
	if (!m->path || !m->name) {
		free(m->path);
		free(m->name);
		return -ENOMEM;
	}
	db->n++;
	*out = m;
	return 0;
}

static int cmp_module(const void *a, const void *b)
{
	const struct module *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->path, y->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct module *find_by_name(struct kmod_db *db, const char *name)
{
	/* Several files may share a name; the sort puts the first path first. */
	size_t lo = 0, hi = db->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(db->mods[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < db->n && strcmp(db->mods[lo].name, name) == 0 ? &db->mods[lo] : NULL;
}

static struct module *find_by_path(struct kmod_db *db, const char *path)
{
	_cleanup_free_ char *name = module_name(path);
	if (!name)
		return NULL;
	for (struct module *m = find_by_name(db, name); m && m < db->mods + db->n && strcmp(m->name, name) == 0; m++)
		if (strcmp(m->path, path) == 0)
			return m;
	return NULL;
}

/* Split s at whitespace into a NULL-terminated vector. */
static int split_words(const char *s, char ***out)
{
	char **v = NULL;
	size_t n = 0;
	while (*s) {
		s += strspn(s, " \t");
		size_t len = strcspn(s, " \t");
		if (len == 0)
			break;
		char *w = strndup(s, len);
		if (!w || strv_push(&v, &n, w) < 0) {
			kmod_strv_free(v);
			return -ENOMEM;
		}
		s += len;
	}
	if (!v && !(v = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*out = v;
	return 0;
}

static int load_dep(struct kmod_db *db, char *text, const char *file, qk_error **err)
{
	size_t lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (*line == '\0' || *line == '#')
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s:%zu: no ':' after the module path",
					    file, lineno);
		*colon = '\0';
		const char *path = line;
		/* Old depmod wrote absolute paths; make them relative to the tree. */
		size_t dl = strlen(db->dir);
		if (path[0] == '/' && strncmp(path, db->dir, dl) == 0 && path[dl] == '/')
			path += dl + 1;
		struct module *m;
		if (add_module(db, path, &m) < 0 || split_words(colon + 1, &m->deps) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", file);
		m->deps_known = true;
	}
	return 0;
}

/* Find every module file under the tree (no modules.dep to list them). */
static int walk(struct kmod_db *db, struct buf *rel, qk_error **err)
{
	_cleanup_free_ char *abs = NULL;
	if (asprintf(&abs, "%s%s%s", db->dir, rel->len ? "/" : "", rel->len ? rel->data : "") < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", db->dir);
	DIR *d = opendir(abs);
	if (!d)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot read: %s", abs, strerror(errno));
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		size_t saved = rel->len;
		if ((rel->len && buf_putc(rel, '/') < 0) || buf_puts(rel, de->d_name) < 0) {
			r = qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", db->dir);
			break;
		}
		/*
		 * Follow links to module files, not to directories: a real tree has
		 * "build" and "source" pointing into kernel headers, and links can loop.
		 */
		struct stat st;
		_cleanup_free_ char *child = NULL;
		bool module = false;
		if (asprintf(&child, "%s/%s", db->dir, rel->data) < 0) {
			r = qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", db->dir);
		} else if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
			r = walk(db, rel, err);
		} else {
			/* A dangling link is not a module. */
			module = stat(child, &st) == 0 && S_ISREG(st.st_mode) && is_module_file(de->d_name);
		}
		struct module *m;
		if (module && add_module(db, rel->data, &m) < 0)
			r = qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", db->dir);
		rel->len = saved;
		rel->data[saved] = '\0';
	}
	closedir(d);
	return r;
}

static int load_builtin(struct kmod_db *db, qk_error **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	if (asprintf(&path, "%s/modules.builtin", db->dir) < 0)
		return -ENOMEM;
	if (access(path, F_OK) < 0)
		return 0;
	int r = file_read_all(path, 64u << 20, &data, &len, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = strndup((const char *)data, len);
	if (!text)
		return -ENOMEM;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line)
			continue;
		char *name = module_name(line);
		if (!name || strv_push(&db->builtin, &db->n_builtin, name) < 0)
			return -ENOMEM;
	}
	if (db->n_builtin)
		qsort(db->builtin, db->n_builtin, sizeof(char *), cmp_str);
	return 0;
}

static bool is_builtin(const struct kmod_db *db, const char *name)
{
	return db->n_builtin && bsearch(&name, db->builtin, db->n_builtin, sizeof(char *), cmp_str);
}

void kmod_db_free(struct kmod_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++) {
		free(db->mods[i].name);
		free(db->mods[i].path);
		kmod_strv_free(db->mods[i].deps);
	}
	free(db->mods);
	kmod_strv_free(db->builtin);
	for (size_t i = 0; i < db->n_aliases; i++) {
		free(db->aliases[i].pattern);
		free(db->aliases[i].module);
	}
	free(db->aliases);
	free(db->dir);
	free(db);
}

DEFINE_CLEANUP_FUNC(struct kmod_db, kmod_db_free)

int kmod_db_open(const char *dir, struct kmod_db **out, qk_error **err)
{
	_cleanup_(kmod_db_freep) struct kmod_db *db = calloc(1, sizeof(*db));
	if (!db || !(db->dir = strdup(dir)))
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", dir);
	size_t dl = strlen(db->dir);
	while (dl > 1 && db->dir[dl - 1] == '/')
		db->dir[--dl] = '\0';

	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "modules directory %s: not a directory",
				    dir);

	_cleanup_free_ char *dep_path = NULL;
	if (asprintf(&dep_path, "%s/modules.dep", db->dir) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", dir);
	int r;
	if (access(dep_path, F_OK) == 0) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;
		r = file_read_all(dep_path, 64u << 20, &data, &len, err);
		if (r < 0)
			return r;
		_cleanup_free_ char *text = strndup((const char *)data, len);
		if (!text)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", dep_path);
		r = load_dep(db, text, dep_path, err);
		db->from_dep = true;
	} else {
		struct buf rel = BUF_INIT;
		r = buf_puts(&rel, "") < 0 ? -ENOMEM : walk(db, &rel, err);
		buf_free(&rel);
	}
	if (r < 0)
		return r;
	if (load_builtin(db, err) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s/modules.builtin: cannot load", dir);
	if (db->n == 0 && db->n_builtin == 0)
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
				    "modules directory %s: no modules.dep and no *.ko files", dir);
	if (db->n)
		qsort(db->mods, db->n, sizeof(*db->mods), cmp_module);
	*out = TAKE_PTR(db);
	return 0;
}

const char *kmod_db_source(const struct kmod_db *db)
{
	return db->from_dep ? "modules.dep" : "modinfo";
}

int kmod_read(const char *path, uint8_t **out, size_t *len, qk_error **err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t n;
	int r = file_read_all(path, MODULE_MAX, &data, &n, err);
	if (r < 0)
		return r;
	if (n >= 4 && memcmp(data, "\177ELF", 4) == 0) {
		*out = TAKE_PTR(data);
		*len = n;
		return 0;
	}
	qk_kernel_compression c = decompress_detect(data, n);
	if (c != QK_KCOMP_XZ && c != QK_KCOMP_ZSTD && c != QK_KCOMP_GZIP)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: neither an ELF module nor xz, zstd or gzip compressed", path);
	r = decompress_buffer(c, data, n, 0, MODULE_MAX, out, len, path, err);
	if (r < 0)
		return r;
	if (*len < 4 || memcmp(*out, "\177ELF", 4) != 0) {
		free(*out);
		*out = NULL;
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: decompressed, it is not an ELF module", path);
	}
	return 0;
}

/* Find the .modinfo section: NUL-separated "key=value" strings. */
static int modinfo_section(const uint8_t *ko, size_t len, const char **start, size_t *size,
			   const char *what, qk_error **err)
{
	struct elf_image e;
	char why[160];
	uint64_t off, n;
	int r = elf_parse(&e, ko, len, why, sizeof(why));
	if (r == 0)
		r = elf_find_section(&e, ".modinfo", &off, &n, why, sizeof(why));
	if (r == -ENOENT)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: no .modinfo section; not a kernel module?",
				    what);
	if (r < 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "%s: %s", what, why);
	*start = (const char *)ko + off;
	*size = (size_t)n;
	return 0;
}

/* The next "key=value" of .modinfo at or after *pos; its value, or NULL at the end. */
static const char *modinfo_next(const char *info, size_t size, size_t *pos, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);
	while (*pos < size) {
		const char *p = info + *pos;
		size_t n = strnlen(p, size - *pos);
		*pos += n + 1;
		if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			*vlen = n - klen - 1;
			return p + klen + 1;
		}
	}
	return NULL;
}

int kmod_modinfo(const uint8_t *ko, size_t len, const char *key, char **value, const char *what,
		 qk_error **err)
{
	const char *info = NULL;
	size_t size = 0, pos = 0, vlen = 0;
	*value = NULL;
	int r = modinfo_section(ko, len, &info, &size, what, err);
	if (r < 0)
		return r;
	const char *v = modinfo_next(info, size, &pos, key, &vlen);
	if (v && !(*value = strndup(v, vlen)))
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", what);
	return 0;
}

/* Fill m->deps from the module's .modinfo "depends=" (names, comma-separated). */
static int load_modinfo_deps(struct kmod_db *db, struct module *m, qk_error **err)
{
	_cleanup_free_ char *abs = NULL;
	_cleanup_free_ uint8_t *ko = NULL;
	_cleanup_free_ char *depends = NULL;
	size_t len;
	if (asprintf(&abs, "%s/%s", db->dir, m->path) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	int r = kmod_read(abs, &ko, &len, err);
	if (r == 0)
		r = kmod_modinfo(ko, len, "depends", &depends, abs, err);
	if (r < 0)
		return r;

	char **deps = calloc(1, sizeof(char *));
	size_t n = 0;
	if (!deps)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	for (char *save = NULL, *tok = depends ? strtok_r(depends, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (char *p = tok; *p; p++)
			if (*p == '-')
				*p = '_';
		struct module *d = find_by_name(db, tok);
		if (!d) {
			kmod_strv_free(deps);
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "module %s needs %s, which is not under %s", m->name, tok, db->dir);
		}
		char *copy = strdup(d->path);
		if (!copy || strv_push(&deps, &n, copy) < 0) {
			kmod_strv_free(deps);
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		}
	}
	m->deps = deps;
	m->deps_known = true;
	return 0;
}

static int add_alias(struct kmod_db *db, const char *pattern, size_t plen, const char *module)
{
	struct alias *a = realloc(db->aliases, (db->n_aliases + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	db->aliases = a;
	a = &db->aliases[db->n_aliases];
	a->pattern = strndup(pattern, plen);
	a->module = module_name(module);
	if (!a->pattern || !a->module) {
		free(a->pattern);
		free(a->module);
		return -ENOMEM;
	}
	db->n_aliases++;
	return 0;
}

/* depmod's modules.alias: "alias PATTERN MODULE" lines. */
static int load_alias_file(struct kmod_db *db, const char *path, qk_error **err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r = file_read_all(path, 64u << 20, &data, &len, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = strndup((const char *)data, len);
	if (!text)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *save = NULL;
		char *word = strtok_r(line, " \t", &save);
		char *pattern = strtok_r(NULL, " \t", &save);
		char *module = strtok_r(NULL, " \t", &save);
		if (!word || strcmp(word, "alias") != 0 || !pattern || !module)
			continue;
		if (add_alias(db, pattern, strlen(pattern), module) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	}
	return 0;
}

/*
 * Without modules.alias, read every module's "alias=" fields. Uncompressed
 * modules are mapped, so only the pages holding the ELF header, the section
 * table and .modinfo are read.
 */
static int load_modinfo_aliases(struct kmod_db *db, qk_error **err)
{
	for (size_t i = 0; i < db->n; i++) {
		_cleanup_free_ char *abs = NULL;
		if (asprintf(&abs, "%s/%s", db->dir, db->mods[i].path) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		uint8_t *ko = NULL;
		size_t len = 0;
		bool mapped = false;
		size_t n = strlen(abs);
		if (n > 3 && strcmp(abs + n - 3, ".ko") == 0) {
			_cleanup_close_ int fd = open(abs, O_RDONLY | O_CLOEXEC);
			struct stat st;
			if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
				continue; /* unreadable: it cannot be what we look for */
			void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (p == MAP_FAILED)
				continue;
			ko = p;
			len = (size_t)st.st_size;
			mapped = true;
		} else if (kmod_read(abs, &ko, &len, NULL) < 0) {
			continue;
		}
		const char *info = NULL, *v;
		size_t size = 0, pos = 0, vlen = 0;
		int r = 0;
		if (modinfo_section(ko, len, &info, &size, abs, NULL) == 0)
			while (r == 0 && (v = modinfo_next(info, size, &pos, "alias", &vlen)))
				r = add_alias(db, v, vlen, db->mods[i].name);
		if (mapped)
			munmap(ko, len);
		else
			free(ko);
		if (r < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	return 0;
}

/* The module an alias names, like modprobe's lookup: *out, or NULL if none. */
static int lookup_alias(struct kmod_db *db, const char *name, const char **out, qk_error **err)
{
	*out = NULL;
	if (!db->aliases_loaded) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/modules.alias", db->dir) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		int r = access(path, F_OK) == 0 ? load_alias_file(db, path, err) : load_modinfo_aliases(db, err);
		if (r < 0)
			return r;
		db->aliases_loaded = true;
	}
	for (size_t i = 0; i < db->n_aliases; i++)
		if (fnmatch(db->aliases[i].pattern, name, 0) == 0) {
			*out = db->aliases[i].module;
			return 0;
		}
	return 0;
}

static int visit(struct kmod_db *db, struct module *m, char ***order, size_t *n, qk_error **err)
{
	if (m->mark == 2)
		return 0;
	if (m->mark == 1)
		return qk_error_set(err, QK_ERR_INVALID, ELOOP, "module %s: dependency cycle through %s", m->name,
				    m->path);
	m->mark = 1;
	if (!m->deps_known) {
		int r = load_modinfo_deps(db, m, err);
		if (r < 0)
			return r;
	}
	for (char **d = m->deps; *d; d++) {
		struct module *dm = find_by_path(db, *d);
		if (!dm)
			return qk_error_set(err, QK_ERR_INVALID, ENOENT,
					    "%s/modules.dep: %s depends on %s, which has no line of its own",
					    db->dir, m->path, *d);
		int r = visit(db, dm, order, n, err);
		if (r < 0)
			return r;
	}
	m->mark = 2;
	char *copy = strdup(m->path);
	if (!copy || strv_push(order, n, copy) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	return 0;
}

int kmod_db_resolve(struct kmod_db *db, const char *const *names, size_t count, char ***paths,
		    qk_error **err)
{
	_cleanup_(kmod_strv_freep) char **order = calloc(1, sizeof(char *));
	size_t n = 0;
	if (!order)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	for (size_t i = 0; i < db->n; i++)
		db->mods[i].mark = 0;
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *name = module_name(names[i]);
		if (!name)
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		struct module *m = find_by_name(db, name);
		if (!m && is_builtin(db, name))
			continue;
		if (!m) {
			/* Not a module's name: maybe an alias ("iso9660" for isofs), as modprobe allows. */
			const char *target;
			int r = lookup_alias(db, names[i], &target, err);
			if (r < 0)
				return r;
			if (target && is_builtin(db, target))
				continue;
			m = target ? find_by_name(db, target) : NULL;
		}
		if (!m)
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "module \"%s\": not in %s/%s, not an alias and not built in", names[i],
					    db->dir, db->from_dep ? "modules.dep" : "(no modules.dep; searched *.ko*)");
		int r = visit(db, m, &order, &n, err);
		if (r < 0)
			return r;
	}
	*paths = TAKE_PTR(order);
	return (int)n;
}

int kmod_db_deps(struct kmod_db *db, const char *rel_path, char ***paths, qk_error **err)
{
	struct module *m = find_by_path(db, rel_path);
	if (!m)
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "%s: not a module of %s", rel_path, db->dir);
	if (!m->deps_known) {
		int r = load_modinfo_deps(db, m, err);
		if (r < 0)
			return r;
	}
	char **v = calloc(1, sizeof(char *));
	size_t n = 0;
	if (!v)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	for (char **d = m->deps; *d; d++) {
		char *copy = strdup(*d);
		if (!copy || strv_push(&v, &n, copy) < 0) {
			kmod_strv_free(v);
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
		}
	}
	*paths = v;
	return (int)n;
}
