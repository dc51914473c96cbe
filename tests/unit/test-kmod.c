/* SPDX-License-Identifier: MIT */
/*
 * Module dependency resolution: from a modules.dep, from the modules'
 * own .modinfo when there is none, and against the real Debian kernel's
 * tree (tests/guest/prepare), with the modules.dep the real depmod wrote
 * and without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "fileio.h"
#include "kmod.h"
#include "util.h"

#include "testutil.h"

static char *tree(const char *name)
{
	char *p;
	assert_true(asprintf(&p, "%s/%s", test_dir(), name) > 0);
	assert_int_equal(mkdir(p, 0755), 0);
	return p;
}

static void put_file(const char *dir, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	test_write_file(path, text, strlen(text));
}

static size_t count(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static size_t index_of(char **v, const char *s)
{
	for (size_t i = 0; v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	fail_msg("%s is not in the list", s);
	return 0;
}

static const char dep_text[] =
	"kernel/a/top.ko: kernel/b/mid.ko kernel/c/base-x.ko\n"
	"kernel/b/mid.ko: kernel/c/base-x.ko\n"
	"kernel/c/base-x.ko:\n"
	"kernel/d/other.ko.xz:\n";

static void modules_dep_gives_load_order(void **state)
{
	char *dir = tree("dep");
	put_file(dir, "modules.dep", dep_text);
	put_file(dir, "modules.builtin", "kernel/e/built-in1.ko\n");

	struct kmod_db *db = NULL;
	qk_error *err = NULL;
	assert_int_equal(kmod_db_open(dir, &db, &err), 0);
	assert_string_equal(kmod_db_source(db), "modules.dep");

	char **paths = NULL;
	const char *names[] = { "top", "base_x", "other", "built_in1" };
	assert_int_equal(kmod_db_resolve(db, names, ARRAY_SIZE(names), &paths, &err), 4);
	assert_string_equal(paths[0], "kernel/c/base-x.ko");
	assert_string_equal(paths[1], "kernel/b/mid.ko");
	assert_string_equal(paths[2], "kernel/a/top.ko");
	assert_string_equal(paths[3], "kernel/d/other.ko.xz");
	assert_null(paths[4]);
	kmod_strv_free(paths);

	char **deps = NULL;
	assert_int_equal(kmod_db_deps(db, "kernel/a/top.ko", &deps, &err), 2);
	assert_string_equal(deps[0], "kernel/b/mid.ko");
	kmod_strv_free(deps);

	/* Aliases, exact and with wildcards, as depmod writes them to modules.alias. */
	put_file(dir, "modules.alias", "# Aliases extracted from modules themselves.\n"
				       "alias fs-topfs top\n"
				       "alias pci:v00001AF4d*sv*sd*bc*sc*i* mid\n"
				       "alias builtin-alias built_in1\n");
	const char *aliases[] = { "fs-topfs", "pci:v00001AF4d00001049sv00001AF4sd00001100bc01sc00i00", "builtin-alias" };
	assert_int_equal(kmod_db_resolve(db, aliases, 3, &paths, &err), 3);
	assert_string_equal(paths[2], "kernel/a/top.ko");
	kmod_strv_free(paths);
	assert_int_equal(kmod_db_resolve(db, &aliases[1], 1, &paths, &err), 2);
	assert_string_equal(paths[1], "kernel/b/mid.ko");
	kmod_strv_free(paths);

	const char *missing[] = { "nosuch-mod" };
	assert_int_equal(kmod_db_resolve(db, missing, 1, &paths, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "module \"nosuch-mod\""));
	assert_non_null(strstr(qk_error_message(err), dir));
	qk_error_free(err);
	kmod_db_free(db);
	free(dir);
}

static void cycle_is_an_error(void **state)
{
	char *dir = tree("cycle");
	put_file(dir, "modules.dep", "a.ko: b.ko\nb.ko: a.ko\n");
	struct kmod_db *db = NULL;
	qk_error *err = NULL;
	assert_int_equal(kmod_db_open(dir, &db, &err), 0);
	char **paths = NULL;
	const char *names[] = { "a" };
	assert_int_equal(kmod_db_resolve(db, names, 1, &paths, &err), -ELOOP);
	assert_non_null(strstr(qk_error_message(err), "dependency cycle"));
	qk_error_free(err);
	kmod_db_free(db);

	err = NULL;
	put_file(dir, "modules.dep", "a.ko b.ko\n");
	assert_int_equal(kmod_db_open(dir, &db, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "modules.dep:1: no ':'"));
	qk_error_free(err);
	free(dir);
}

/* A minimal relocatable ELF64 with a .modinfo section holding modinfo. */
static void write_ko(const char *path, const char *modinfo_fields[], size_t n)
{
	uint8_t ko[4096] = { 0 };
	memcpy(ko, "\177ELF", 4);
	ko[4] = 2;
	ko[5] = 1;
	ko[6] = 1;
	ko[16] = 1; /* ET_REL */
	ko[18] = 62;
	size_t info_off = 0x100, pos = info_off;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(modinfo_fields[i]) + 1;
		memcpy(ko + pos, modinfo_fields[i], l);
		pos += l;
	}
	size_t info_size = pos - info_off;
	static const char shstr[] = "\0.modinfo\0.shstrtab";
	size_t str_off = 0x800;
	memcpy(ko + str_off, shstr, sizeof(shstr));
	size_t shoff = 0x900;
	ko[0x28] = shoff & 0xff;
	ko[0x29] = shoff >> 8;
	ko[0x3a] = 64; /* e_shentsize */
	ko[0x3c] = 3;  /* e_shnum */
	ko[0x3e] = 2;  /* e_shstrndx */
	uint8_t *sh = ko + shoff + 64;
	sh[0] = 1; /* name ".modinfo" */
	sh[4] = 1; /* SHT_PROGBITS */
	sh[0x18] = info_off & 0xff;
	sh[0x19] = info_off >> 8;
	sh[0x20] = info_size & 0xff;
	sh[0x21] = info_size >> 8;
	sh += 64;
	sh[0] = 10; /* ".shstrtab" */
	sh[4] = 3;  /* SHT_STRTAB */
	sh[0x18] = str_off & 0xff;
	sh[0x19] = str_off >> 8;
	sh[0x20] = sizeof(shstr);
	test_write_file(path, ko, sizeof(ko));
}

static void modinfo_is_used_without_modules_dep(void **state)
{
	char *dir = tree("modinfo");
	char path[512];
	snprintf(path, sizeof(path), "%s/kernel/a/top.ko", dir);
	write_ko(path, (const char *[]){ "license=GPL", "alias=fs-topfs", "depends=mid,base-x",
					 "alias=topfs", "vermagic=6.1.0-test SMP mod_unload " }, 5);
	snprintf(path, sizeof(path), "%s/kernel/b/mid.ko", dir);
	write_ko(path, (const char *[]){ "depends=base_x" }, 1);
	/* A compressed module, as newer distributions ship them. */
	snprintf(path, sizeof(path), "%s/kernel/c/base-x.ko", dir);
	write_ko(path, (const char *[]){ "depends=" }, 1);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "xz --check=crc32 '%s'", path);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/kernel/d/broken.ko", dir);
	write_ko(path, (const char *[]){ "depends=absent" }, 1);

	/* A link to a directory (a loop here, like "build" into headers) is not walked; one to a module is read. */
	snprintf(cmd, sizeof(cmd), "ln -s .. '%s/kernel/loop' && mkdir '%s/kernel/e' && ln -s ../b/mid.ko '%s/kernel/e/linked.ko'",
		 dir, dir, dir);
	assert_int_equal(system(cmd), 0);

	struct kmod_db *db = NULL;
	qk_error *err = NULL;
	assert_int_equal(kmod_db_open(dir, &db, &err), 0);
	assert_string_equal(kmod_db_source(db), "modinfo");
	char **paths = NULL;
	const char *names[] = { "top" };
	assert_int_equal(kmod_db_resolve(db, names, 1, &paths, &err), 3);
	assert_string_equal(paths[0], "kernel/c/base-x.ko.xz");
	assert_string_equal(paths[1], "kernel/b/mid.ko");
	assert_string_equal(paths[2], "kernel/a/top.ko");
	kmod_strv_free(paths);
	/* No modules.alias: the aliases come from .modinfo, every one of them. */
	const char *aliases[] = { "topfs", "fs-topfs" };
	assert_int_equal(kmod_db_resolve(db, aliases, 2, &paths, &err), 3);
	assert_string_equal(paths[2], "kernel/a/top.ko");
	kmod_strv_free(paths);

	const char *linked[] = { "linked" };
	assert_int_equal(kmod_db_resolve(db, linked, 1, &paths, &err), 2);
	assert_string_equal(paths[1], "kernel/e/linked.ko");
	kmod_strv_free(paths);

	uint8_t *ko;
	size_t len;
	char *vermagic;
	snprintf(path, sizeof(path), "%s/kernel/a/top.ko", dir);
	assert_int_equal(kmod_read(path, &ko, &len, &err), 0);
	assert_int_equal(kmod_modinfo(ko, len, "vermagic", &vermagic, path, &err), 0);
	assert_string_equal(vermagic, "6.1.0-test SMP mod_unload ");
	free(vermagic);
	assert_int_equal(kmod_modinfo(ko, len, "author", &vermagic, path, &err), 0);
	assert_null(vermagic);
	free(ko);

	const char *broken[] = { "broken" };
	assert_int_equal(kmod_db_resolve(db, broken, 1, &paths, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "module broken needs absent"));
	qk_error_free(err);
	kmod_db_free(db);
	free(dir);
}

/*
 * The guest's Debian kernel: its modules tree, with the modules.dep the
 * real depmod wrote (tests/guest/prepare runs it), and a view of that tree
 * without any of depmod's files, as a tree unpacked from a package is: links
 * to its modules and the files the package ships.
 */
static char guest_modules[512];
static char modinfo_view[512];

static void prepare_guest(void)
{
	const char *prepare = getenv("QKIT_GUEST_PREPARE");
	if (!prepare)
		fail_msg("QKIT_GUEST_PREPARE is not set (meson sets it to tests/guest/prepare)");
	char cmd[4096], dir[400] = "";
	snprintf(cmd, sizeof(cmd), "'%s'", prepare);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(dir, sizeof(dir), p));
	assert_int_equal(pclose(p), 0);
	dir[strcspn(dir, "\n")] = '\0';
	snprintf(guest_modules, sizeof(guest_modules), "%s/modules", dir);

	snprintf(modinfo_view, sizeof(modinfo_view), "%s/modinfo-view", test_dir());
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && cp -rs '%s/kernel' '%s/kernel' && cp '%s/modules.order' '%s/modules.builtin' '%s/modules.builtin.modinfo' '%s/'",
		 modinfo_view, guest_modules, modinfo_view, guest_modules, guest_modules, guest_modules, modinfo_view);
	assert_int_equal(system(cmd), 0);
}

/* Every module in order comes after each of its dependencies, per db. */
static void assert_order_valid(struct kmod_db *db, char **order)
{
	for (size_t i = 0; order[i]; i++) {
		char **deps = NULL;
		assert_true(kmod_db_deps(db, order[i], &deps, NULL) >= 0);
		for (size_t j = 0; deps[j]; j++)
			assert_true(index_of(order, deps[j]) < i);
		kmod_strv_free(deps);
	}
}

static void debian_modules_resolve(void **state)
{
	prepare_guest();
	struct kmod_db *dep = NULL, *info = NULL;
	qk_error *err = NULL;
	assert_int_equal(kmod_db_open(guest_modules, &dep, &err), 0);
	assert_string_equal(kmod_db_source(dep), "modules.dep");
	assert_int_equal(kmod_db_open(modinfo_view, &info, &err), 0);
	assert_string_equal(kmod_db_source(info), "modinfo");

	static const struct {
		const char *name;
		const char *want[5];
	} cases[] = {
		{ "virtio_blk", { "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
				  "kernel/drivers/block/virtio_blk.ko" } },
		{ "9pnet_virtio", { "kernel/net/9p/9pnet.ko", "kernel/drivers/virtio/virtio.ko",
				    "kernel/drivers/virtio/virtio_ring.ko", "kernel/net/9p/9pnet_virtio.ko" } },
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		char **a = NULL, **b = NULL;
		size_t want = count((char **)cases[c].want);
		int r = kmod_db_resolve(dep, &cases[c].name, 1, &a, &err);
		if (r < 0)
			fail_msg("%s", qk_error_message(err));
		assert_int_equal(r, want);
		assert_int_equal(kmod_db_resolve(info, &cases[c].name, 1, &b, &err), want);
		for (size_t i = 0; i < want; i++) {
			index_of(a, cases[c].want[i]);
			index_of(b, cases[c].want[i]);
		}
		/* The module itself is loaded last. */
		assert_string_equal(a[want - 1], cases[c].want[want - 1]);
		assert_string_equal(b[want - 1], cases[c].want[want - 1]);
		assert_order_valid(dep, a);
		assert_order_valid(dep, b);
		kmod_strv_free(a);
		kmod_strv_free(b);
	}

	/*
	 * What Debian builds as modules and a guest harness loads: both sources
	 * must agree on the set, and both orders must be loadable.
	 */
	static const char *const debian[] = { "virtio_blk", "virtio_net", "9p", "9pnet_virtio", "virtio_console",
					      "vsock", "button", "ext4", "iso9660", "virtio_pci" };
	for (size_t c = 0; c < ARRAY_SIZE(debian); c++) {
		char **a = NULL, **b = NULL;
		int na = kmod_db_resolve(dep, &debian[c], 1, &a, &err);
		if (na < 0)
			fail_msg("%s", qk_error_message(err));
		assert_true(na >= 1);
		assert_int_equal(kmod_db_resolve(info, &debian[c], 1, &b, &err), na);
		for (size_t i = 0; a[i]; i++)
			index_of(b, a[i]);
		assert_order_valid(dep, a);
		assert_order_valid(dep, b);
		kmod_strv_free(a);
		kmod_strv_free(b);
	}

	/* Debian builds 9p as a module that needs netfs and fscache too. */
	const char *fs9p = "9p";
	char **a = NULL;
	assert_int_equal(kmod_db_resolve(dep, &fs9p, 1, &a, &err), 4);
	index_of(a, "kernel/fs/netfs/netfs.ko");
	index_of(a, "kernel/fs/fscache/fscache.ko");
	assert_order_valid(dep, a);
	kmod_strv_free(a);
	kmod_db_free(dep);
	kmod_db_free(info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(modules_dep_gives_load_order),
		cmocka_unit_test(cycle_is_an_error),
		cmocka_unit_test(modinfo_is_used_without_modules_dep),
		cmocka_unit_test(debian_modules_resolve),
	};
	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
