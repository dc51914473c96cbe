/* SPDX-License-Identifier: MIT */
/*
 * The initramfs builder: what is written is read back with libarchive and
 * checked as the kernel would see it (newc format, paths, types, modes,
 * owners, link targets, device numbers, contents), for each compression.
 */
#include <archive.h>
#include <archive_entry.h>
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

#include <qkit/initramfs.h>

#include "cache.h"
#include "fileio.h"
#include "util.h"

#include "testutil.h"

struct item {
	char *path;
	unsigned mode;
	int64_t uid, gid;
	char *target;
	unsigned rmajor, rminor;
	char *data;
	size_t len;
};

struct listing {
	struct item items[4096];
	size_t n;
	int format;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].path);
		free(l->items[i].target);
		free(l->items[i].data);
	}
	free(l);
}

static struct listing *list_archive(const char *path)
{
	struct listing *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_cpio(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	struct archive_entry *ae;
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		assert_true(l->n < ARRAY_SIZE(l->items));
		struct item *it = &l->items[l->n++];
		it->path = strdup(archive_entry_pathname(ae));
		it->mode = archive_entry_mode(ae);
		it->uid = archive_entry_uid(ae);
		it->gid = archive_entry_gid(ae);
		if (archive_entry_symlink(ae))
			it->target = strdup(archive_entry_symlink(ae));
		it->rmajor = archive_entry_rdevmajor(ae);
		it->rminor = archive_entry_rdevminor(ae);
		/* A symlink's "size" is its target's length; its target is read already. */
		int64_t size = S_ISREG(it->mode) ? archive_entry_size(ae) : 0;
		it->data = malloc((size_t)size + 1);
		assert_int_equal(archive_read_data(a, it->data, (size_t)size), size);
		it->data[size] = '\0';
		it->len = (size_t)size;
		l->format = archive_format(a);
	}
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
	return l;
}

static struct item *item(struct listing *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].path, path) == 0)
			return &l->items[i];
	fail_msg("%s is not in the archive", path);
	return NULL;
}

static size_t position(struct listing *l, const char *path)
{
	return (size_t)(item(l, path) - l->items);
}

static qk_initramfs *sample(void)
{
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	char *src = test_path(test_dir(), "hello.sh");
	test_write_file(src, "#!/bin/sh\necho hello\n", 21);
	chmod(src, 0750);
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);
	assert_int_equal(qk_initramfs_add_file(ir, src, "/usr/local/bin/hello", -1, &err), 0);
	assert_int_equal(qk_initramfs_add_file(ir, src, "etc/hello.conf", 0600, &err), 0);
	assert_int_equal(qk_initramfs_add_data(ir, "/etc/motd", "hi\n", 3, 0644, &err), 0);
	assert_int_equal(qk_initramfs_add_symlink(ir, "/bin/hello", "../usr/local/bin/hello", &err), 0);
	assert_int_equal(qk_initramfs_add_node(ir, "/dev/vda", S_IFBLK | 0660, 254, 0, &err), 0);
	assert_int_equal(qk_initramfs_add_dir(ir, "/srv/data/", 0700, &err), 0);
	free(src);
	return ir;
}

static void check_sample(struct listing *l)
{
	/* newc, "070701": the only cpio flavour the kernel unpacks */
	assert_int_equal(l->format, ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(l->items[i].uid, 0);
		assert_int_equal(l->items[i].gid, 0);
		assert_true(l->items[i].path[0] != '/');
	}
	struct item *console = item(l, "dev/console");
	assert_int_equal(console->mode, S_IFCHR | 0600);
	assert_int_equal(console->rmajor, 5);
	assert_int_equal(console->rminor, 1);
	struct item *null = item(l, "dev/null");
	assert_int_equal(null->mode, S_IFCHR | 0666);
	assert_int_equal(null->rmajor, 1);
	assert_int_equal(null->rminor, 3);
	struct item *vda = item(l, "dev/vda");
	assert_int_equal(vda->mode, S_IFBLK | 0660);
	assert_int_equal(vda->rmajor, 254);

	assert_int_equal(item(l, "tmp")->mode, S_IFDIR | 01777);
	assert_int_equal(item(l, "proc")->mode, S_IFDIR | 0555);
	assert_int_equal(item(l, "usr/local")->mode, S_IFDIR | 0755);
	assert_int_equal(item(l, "srv/data")->mode, S_IFDIR | 0700);
	assert_true(position(l, "usr") < position(l, "usr/local"));
	assert_true(position(l, "usr/local") < position(l, "usr/local/bin"));
	assert_true(position(l, "usr/local/bin") < position(l, "usr/local/bin/hello"));

	struct item *hello = item(l, "usr/local/bin/hello");
	assert_int_equal(hello->mode, S_IFREG | 0750);
	assert_string_equal(hello->data, "#!/bin/sh\necho hello\n");
	assert_int_equal(item(l, "etc/hello.conf")->mode, S_IFREG | 0600);
	assert_string_equal(item(l, "etc/motd")->data, "hi\n");
	struct item *link = item(l, "bin/hello");
	assert_int_equal(link->mode & S_IFMT, S_IFLNK);
	assert_string_equal(link->target, "../usr/local/bin/hello");
}

static void every_compression_reads_back(void **state)
{
	static const struct {
		qk_initramfs_compression c;
		const char *magic;
		size_t magic_len;
	} cases[] = {
		{ QK_INITRAMFS_NONE, "070701", 6 },
		{ QK_INITRAMFS_GZIP, "\x1f\x8b", 2 },
		{ QK_INITRAMFS_ZSTD, "\x28\xb5\x2f\xfd", 4 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		qk_initramfs *ir = sample();
		qk_error *err = NULL;
		char *out = test_path(test_dir(), "sample.cpio");
		assert_int_equal(qk_initramfs_write(ir, out, cases[i].c, &err), 0);
		uint8_t *d;
		size_t len;
		assert_int_equal(file_read_all(out, 1u << 30, &d, &len, NULL), 0);
		assert_true(len > cases[i].magic_len);
		assert_memory_equal(d, cases[i].magic, cases[i].magic_len);
		free(d);
		struct listing *l = list_archive(out);
		check_sample(l);
		listing_free(l);
		qk_initramfs_free(ir);
		free(out);
	}
}

static void same_inputs_same_bytes(void **state)
{
	char *a = test_path(test_dir(), "a.cpio.gz"), *b = test_path(test_dir(), "b.cpio.gz");
	qk_initramfs *ir = sample();
	assert_int_equal(qk_initramfs_write(ir, a, QK_INITRAMFS_GZIP, NULL), 0);
	qk_initramfs_free(ir);
	sleep(1); /* a timestamp anywhere would now differ */
	ir = sample();
	assert_int_equal(qk_initramfs_write(ir, b, QK_INITRAMFS_GZIP, NULL), 0);
	qk_initramfs_free(ir);
	uint8_t *da, *db;
	size_t la, lb;
	assert_int_equal(file_read_all(a, 1u << 30, &da, &la, NULL), 0);
	assert_int_equal(file_read_all(b, 1u << 30, &db, &lb, NULL), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	free(a);
	free(b);
}

static void bad_entries_are_refused(void **state)
{
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);

	assert_int_equal(qk_initramfs_add_data(ir, "/etc/../../x", "", 0, 0644, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "\"/etc/../../x\": \"..\" is not allowed"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_initramfs_add_file(ir, "/nonexistent/file", "/x", -1, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "/nonexistent/file"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_initramfs_add_data(ir, "/tmp", "x", 1, 0644, &err), -EISDIR);
	assert_non_null(strstr(qk_error_message(err), "\"/tmp\": is already a directory"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_initramfs_add_data(ir, "/dev/null/x", "x", 1, 0644, &err), -ENOTDIR);
	assert_non_null(strstr(qk_error_message(err), "parent /dev/null is not a directory"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_initramfs_add_node(ir, "/dev/x", S_IFREG | 0600, 1, 1, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "neither a character nor a block device"));
	qk_error_free(err);
	err = NULL;

	/* A dynamically linked program cannot run in an image without libraries. */
	assert_int_equal(qk_initramfs_add_busybox(ir, "/bin/ls", &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "dynamically linked"));
	qk_error_free(err);
	err = NULL;

	/* The generated init without a shell to run it. */
	qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
	assert_int_equal(qk_initramfs_set_init(ir, &o, &err), 0);
	char *out = test_path(test_dir(), "noshell.cpio");
	assert_int_equal(qk_initramfs_write(ir, out, QK_INITRAMFS_NONE, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "needs /bin/busybox"));
	assert_int_equal(access(out, F_OK), -1);
	qk_error_free(err);
	free(out);
	qk_initramfs_free(ir);
}

static void own_init_script_replaces_the_generated_one(void **state)
{
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);
	qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
	assert_int_equal(qk_initramfs_set_init(ir, &o, &err), 0);
	static const char script[] = "#!/bin/custom\nexit 0\n";
	assert_int_equal(qk_initramfs_set_init_script(ir, script, sizeof(script) - 1, &err), 0);
	/* No busybox needed: the generated init, which would need it, is gone. */
	char *out = test_path(test_dir(), "own-init.cpio");
	assert_int_equal(qk_initramfs_write(ir, out, QK_INITRAMFS_NONE, &err), 0);
	struct listing *l = list_archive(out);
	struct item *init = item(l, "init");
	assert_int_equal(init->mode, S_IFREG | 0755);
	assert_string_equal(init->data, script);
	listing_free(l);
	qk_initramfs_free(ir);
	free(out);
}

static void init_options_are_validated(void **state)
{
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);
	qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
	o.shares = (qk_initramfs_share[]){ { "src", "relative/dir", false }, { "a b", "/ok", false } };
	o.n_shares = 2;
	o.env = (const char *[]){ "GOOD=1", "1BAD=x", "novalue" };
	o.n_env = 3;
	o.cwd = "work";
	assert_int_equal(qk_initramfs_set_init(ir, &o, &err), -EINVAL);
	assert_int_equal(qk_error_count(err), 5);
	assert_string_equal(qk_error_problem(err, 0),
			    "shares[0] (tag \"src\"): path \"relative/dir\" is not an absolute path");
	assert_non_null(strstr(qk_error_problem(err, 1), "shares[1]: tag \"a b\""));
	assert_non_null(strstr(qk_error_problem(err, 2), "env[1]: \"1BAD=x\""));
	assert_non_null(strstr(qk_error_problem(err, 3), "env[2]: \"novalue\""));
	assert_string_equal(qk_error_problem(err, 4), "cwd \"work\": not an absolute path");
	qk_error_free(err);
	qk_initramfs_free(ir);
}

static char *busybox_path(void)
{
	/* busybox-static installs a static /bin/busybox on Debian. */
	return strdup("/bin/busybox");
}

static void generated_init_runs_the_payload(void **state)
{
	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	char *bb = busybox_path();
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);
	assert_int_equal(qk_initramfs_add_busybox(ir, bb, &err), 0);
	qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
	o.shares = (qk_initramfs_share[]){ { "src", "/mnt/src", false }, { "ro'share", "/mnt/it's", true } };
	o.n_shares = 2;
	o.env = (const char *[]){ "GREETING=it's a \"test\" $HOME" };
	o.n_env = 1;
	o.argv = (const char *[]){ "sh", "-c", "echo \"$GREETING\"; exit 7" };
	o.argc = 3;
	o.cwd = "/mnt/src";
	assert_int_equal(qk_initramfs_set_init(ir, &o, &err), 0);
	char *out = test_path(test_dir(), "init.cpio.gz");
	assert_int_equal(qk_initramfs_write(ir, out, QK_INITRAMFS_GZIP, &err), 0);

	struct listing *l = list_archive(out);
	struct item *init = item(l, "init");
	assert_int_equal(init->mode, S_IFREG | 0755);
	assert_int_equal(item(l, "bin/busybox")->mode, S_IFREG | 0755);
	assert_string_equal(item(l, "bin/sh")->target, "busybox");
	const char *t = init->data;
	assert_non_null(strstr(t, "mount -t proc proc /proc"));
	assert_non_null(strstr(t, "mount -t devtmpfs devtmpfs /dev"));
	assert_non_null(strstr(t, "qkit_mount9p 'src' '/mnt/src' ||"));
	assert_non_null(strstr(t, "qkit_mount9p 'ro'\\''share' '/mnt/it'\\''s' ro ||"));
	assert_non_null(strstr(t, "export GREETING='it'\\''s a \"test\" $HOME'\n"));
	assert_non_null(strstr(t, "( exec 'sh' '-c' 'echo \"$GREETING\"; exit 7' )\n"));
	assert_non_null(strstr(t, "echo \"QKIT-EXIT $qkit_status\""));
	assert_non_null(strstr(t, "poweroff -f"));

	/* The script is valid shell, and its quoting gives the payload its argv back. */
	char *script = test_path(test_dir(), "init.sh");
	test_write_file(script, t, init->len);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s sh -n '%s'", bb, script);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "%s sh -c \"$(sed -n -e '/^export GREETING/p' -e '/^( exec/p' '%s')\" > '%s/payload.out'", bb,
		 script, test_dir());
	assert_int_equal(WEXITSTATUS(system(cmd)), 7);
	char *po = test_path(test_dir(), "payload.out");
	uint8_t *d;
	size_t len;
	assert_int_equal(file_read_all(po, 4096, &d, &len, NULL), 0);
	assert_int_equal(len, strlen("it's a \"test\" $HOME\n"));
	assert_memory_equal(d, "it's a \"test\" $HOME\n", len);
	free(d);
	free(po);

	/* No poweroff: init stays up after reporting. */
	char *text = NULL;
	o.poweroff = false;
	o.argc = 0;
	assert_int_equal(qk_initramfs_init_text(ir, &o, &text, &err), 0);
	assert_null(strstr(text, "poweroff"));
	assert_non_null(strstr(text, "setsid cttyhack /bin/sh"));
	free(text);

	listing_free(l);
	qk_initramfs_free(ir);
	free(script);
	free(out);
	free(bb);
}

static void debian_modules_are_added_in_order(void **state)
{
	const char *prepare = getenv("QKIT_GUEST_PREPARE");
	if (!prepare)
		fail_msg("QKIT_GUEST_PREPARE is not set (meson sets it to tests/guest/prepare)");
	char dir[512] = "", cmd[600];
	snprintf(cmd, sizeof(cmd), "'%s'", prepare);
	FILE *p = popen(cmd, "r");
	assert_non_null(fgets(dir, sizeof(dir), p));
	assert_int_equal(pclose(p), 0);
	dir[strcspn(dir, "\n")] = '\0';
	strncat(dir, "/modules", sizeof(dir) - strlen(dir) - 1);

	qk_initramfs *ir = NULL;
	qk_error *err = NULL;
	char *bb = busybox_path();
	assert_int_equal(qk_initramfs_new(&ir, &err), 0);
	assert_int_equal(qk_initramfs_add_busybox(ir, bb, &err), 0);
	const char *names[] = { "virtio_pci", "9pnet_virtio", "9p" };
	int r = qk_initramfs_add_modules(ir, dir, names, ARRAY_SIZE(names), &err);
	if (r < 0)
		fail_msg("%s", qk_error_message(err));
	const char *bad[] = { "no_such_module" };
	assert_int_equal(qk_initramfs_add_modules(ir, dir, bad, 1, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "\"no_such_module\""));
	qk_error_free(err);
	err = NULL;
	qk_initramfs_init_opts o = QK_INITRAMFS_INIT_OPTS_INIT;
	assert_int_equal(qk_initramfs_set_init(ir, &o, &err), 0);
	char *out = test_path(test_dir(), "modules.cpio.zst");
	assert_int_equal(qk_initramfs_write(ir, out, QK_INITRAMFS_ZSTD, &err), 0);

	struct listing *l = list_archive(out);
	char kver[64] = "";
	for (size_t i = 0; i < l->n; i++)
		if (sscanf(l->items[i].path, "lib/modules/%63[^/]/modules.dep", kver) == 1 &&
		    strstr(l->items[i].path, "modules.dep"))
			break;
	assert_true(kver[0] != '\0');
	char path[256];
	snprintf(path, sizeof(path), "lib/modules/%s/kernel/net/9p/9pnet_virtio.ko", kver);
	struct item *ko = item(l, path);
	assert_int_equal(ko->mode, S_IFREG | 0644);
	assert_memory_equal(ko->data, "\177ELF", 4);
	snprintf(path, sizeof(path), "lib/modules/%s/modules.dep", kver);
	const char *dep = strstr(item(l, path)->data, "kernel/net/9p/9pnet_virtio.ko:");
	assert_non_null(dep);
	char *line = strndup(dep, strcspn(dep, "\n"));
	assert_non_null(strstr(line, " kernel/net/9p/9pnet.ko"));
	assert_non_null(strstr(line, " kernel/drivers/virtio/virtio.ko"));
	assert_non_null(strstr(line, " kernel/drivers/virtio/virtio_ring.ko"));
	free(line);
	/* insmod lines: every dependency before its user */
	const char *t = item(l, "init")->data;
	enum { RING, VIRTIO, PCI, NET, NET_VIRTIO, NETFS, FSCACHE, FS9P };
	const char *order[] = { "/virtio_ring.ko'", "/virtio.ko'", "/virtio_pci.ko'", "/9pnet.ko'",
				"/9pnet_virtio.ko'", "/netfs.ko'", "/fscache.ko'", "/9p.ko'" };
	const char *at[ARRAY_SIZE(order)];
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "%s || qkit_fail", order[i]);
		at[i] = strstr(t, needle);
		if (!at[i])
			fail_msg("no insmod of %s in:\n%s", order[i], t);
	}
	assert_true(at[RING] < at[VIRTIO] && at[VIRTIO] < at[PCI]);
	assert_true(at[NET] < at[NET_VIRTIO] && at[VIRTIO] < at[NET_VIRTIO]);
	assert_true(at[NETFS] < at[FSCACHE] && at[FSCACHE] < at[FS9P] && at[NET] < at[FS9P]);
	listing_free(l);
	qk_initramfs_free(ir);
	free(out);
	free(bb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_compression_reads_back),
		cmocka_unit_test(same_inputs_same_bytes),
		cmocka_unit_test(bad_entries_are_refused),
		cmocka_unit_test(own_init_script_replaces_the_generated_one),
		cmocka_unit_test(init_options_are_validated),
		cmocka_unit_test(generated_init_runs_the_payload),
		cmocka_unit_test(debian_modules_are_added_in_order),
	};
	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
