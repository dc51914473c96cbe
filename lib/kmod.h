/* SPDX-License-Identifier: MIT */
/*
 * Kernel modules: which files a set of module names needs, in the order
 * to load them. The source of truth is the tree's modules.dep, as depmod
 * wrote it. A tree unpacked from a package has none (Debian's postinst runs
 * depmod); then the dependencies are read from each module's own .modinfo
 * "depends=" field, the same list modpost computed and depmod reads.
 */
#ifndef QKIT_LIB_KMOD_H
#define QKIT_LIB_KMOD_H

#include <stddef.h>
#include <stdint.h>

#include <qkit/error.h>

struct kmod_db;

/* Index the modules under dir (a /lib/modules/VERSION tree). */
int kmod_db_open(const char *dir, struct kmod_db **out, qk_error **err);
void kmod_db_free(struct kmod_db *db);

/* "modules.dep" or "modinfo": where the dependencies come from. */
const char *kmod_db_source(const struct kmod_db *db);

/*
 * The modules names need, dependencies first, each once, as paths relative
 * to the tree (e.g. "kernel/net/9p/9pnet.ko"). Names may use '-' or '_',
 * and may be aliases ("iso9660" for isofs) as modprobe allows: from
 * modules.alias, or without one from every module's .modinfo "alias=".
 * Built-in modules (modules.builtin) need no file and are skipped. Returns
 * the count; *paths is a NULL-terminated malloc'ed array of malloc'ed
 * strings.
 */
int kmod_db_resolve(struct kmod_db *db, const char *const *names, size_t n, char ***paths,
		    qk_error **err);

/* The direct dependencies of the module at rel_path, as relative paths. */
int kmod_db_deps(struct kmod_db *db, const char *rel_path, char ***paths, qk_error **err);

/*
 * Read a module file (.ko, or .ko.xz/.ko.zst/.ko.gz decompressed) into a
 * malloc'ed buffer.
 */
int kmod_read(const char *path, uint8_t **out, size_t *len, qk_error **err);

/* The value of key ("depends", "vermagic", ...) in a module's .modinfo, malloc'ed; NULL if absent. */
int kmod_modinfo(const uint8_t *ko, size_t len, const char *key, char **value, const char *what,
		 qk_error **err);

void kmod_strv_free(char **v);

#endif
