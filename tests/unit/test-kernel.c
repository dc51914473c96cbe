/* SPDX-License-Identifier: MIT */
/*
 * bzImage parsing, payload decompression and the fast-boot cache. Each
 * payload is compressed by the same command line tool, with the same
 * options, as the kernel's build uses, then wrapped in a minimal setup
 * header; the extracted vmlinux must be the original byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/kernel.h>

#include "cache.h"
#include "fileio.h"
#include "decompress.h"
#include "util.h"

#include "testutil.h"

#define PVH_ENTRY 0x1000850u
#define ELF_SIZE (1u << 20)
/* Larger than one 8 MiB lz4 legacy block, so its block framing is exercised. */
#define ELF_SIZE_LZ4 (9u << 20)

/* One note: namesz, descsz, type, name and desc padded to 4. */
static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	test_put_le32(p, namesz);
	test_put_le32(p + 4, descsz);
	test_put_le32(p + 8, type);
	memcpy(p + 12, name, namesz);
	size_t off = 12 + ((namesz + 3) & ~3u);
	memcpy(p + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

/*
 * A 64-bit ELF "kernel": a PT_LOAD and a PT_NOTE segment holding a Xen
 * guest-OS note and, if pvh, the PHYS32_ENTRY note. The rest is text that
 * compresses like code does, neither trivially nor not at all.
 */
static uint8_t *make_elf(bool pvh, size_t size)
{
	uint8_t *e = calloc(1, size);
	assert_non_null(e);
	memcpy(e, "\177ELF", 4);
	e[4] = 2; /* ELFCLASS64 */
	e[5] = 1; /* little-endian */
	e[6] = 1;
	test_put_le16(e + 16, 2);    /* ET_EXEC */
	test_put_le16(e + 18, 62);   /* EM_X86_64 */
	test_put_le64(e + 32, 64);   /* e_phoff */
	test_put_le16(e + 52, 64);   /* e_ehsize */
	test_put_le16(e + 54, 56);   /* e_phentsize */
	test_put_le16(e + 56, 2);    /* e_phnum */

	uint8_t *notes = e + 0x200;
	size_t n = put_note(notes, "Xen", 6, "linux", 6);
	uint8_t entry[8];
	test_put_le64(entry, PVH_ENTRY);
	if (pvh)
		n += put_note(notes + n, "Xen", 18, entry, 8);
	n += put_note(notes + n, "GNU", 3, "abcd", 4);

	uint8_t *ph = e + 64;
	test_put_le32(ph, 1); /* PT_LOAD */
	test_put_le64(ph + 8, 0x1000);
	test_put_le64(ph + 32, size - 0x1000);
	ph += 56;
	test_put_le32(ph, 4); /* PT_NOTE */
	test_put_le64(ph + 8, 0x200);
	test_put_le64(ph + 32, n);

	uint32_t x = 12345;
	for (size_t i = 0x1000; i < size; i++) {
		x = x * 1103515245u + 12345u;
		e[i] = "mov add jmp call ret push pop lea"[(x >> 16) % 33] ^ (uint8_t)((i >> 12) & 3);
	}
	return e;
}

/* A fresh directory for one test's kernel cache (opts.cache_dir). */
static char *new_cache(const char *name)
{
	char *p = test_path(test_dir(), name);
	assert_int_equal(mkdir(p, 0700), 0);
	return p;
}

/* Compress with a shell command reading stdin, writing stdout. */
static uint8_t *compress_with(const char *cmd, const uint8_t *in, size_t len, size_t *out_len)
{
	char src[128], dst[128], line[512];
	snprintf(src, sizeof(src), "%s/payload.in", test_dir());
	snprintf(dst, sizeof(dst), "%s/payload.out", test_dir());
	test_write_file(src, in, len);
	snprintf(line, sizeof(line), "%s < %s > %s", cmd, src, dst);
	assert_int_equal(system(line), 0);
	return test_read_file(dst, out_len);
}

/*
 * A bzImage around payload: setup sectors, "HdrS", the protocol, a
 * kernel_version string, payload_offset/length; with_size appends the
 * decompressed size as the kernel's build does for all formats but gzip.
 */
static uint8_t *make_bzimage(const uint8_t *payload, size_t plen, uint32_t vmlinux_size,
			     bool with_size, uint16_t protocol, size_t *len)
{
	const unsigned setup_sects = 3;
	size_t pm = (setup_sects + 1) * 512, poff = 0x100;
	size_t total_payload = plen + (with_size ? 4 : 0);
	*len = pm + poff + total_payload;
	uint8_t *b = calloc(1, *len);
	assert_non_null(b);
	b[0x1f1] = setup_sects;
	test_put_le16(b + 0x1fe, 0xaa55);
	memcpy(b + 0x202, "HdrS", 4);
	test_put_le16(b + 0x206, protocol);
	test_put_le16(b + 0x20e, 0x300 - 0x200);
	strcpy((char *)b + 0x300, "6.1.0-test (qkit@test) #1");
	test_put_le32(b + 0x248, (uint32_t)poff);
	test_put_le32(b + 0x24c, (uint32_t)total_payload);
	memcpy(b + pm + poff, payload, plen);
	if (with_size)
		test_put_le32(b + pm + poff + plen, vmlinux_size);
	return b;
}

struct format_case {
	const char *cmd;
	qk_kernel_compression comp;
	bool with_size;
	size_t size;
};

/* The kernel's own options (scripts/Makefile.lib, arch/x86/boot/compressed). */
static const struct format_case formats[] = {
	{ "gzip -n -9", QK_KCOMP_GZIP, false, ELF_SIZE },
	{ "bzip2 -9", QK_KCOMP_BZIP2, true, ELF_SIZE },
	{ "xz --format=lzma -9", QK_KCOMP_LZMA, true, ELF_SIZE },
	{ "xz --check=crc32 --x86 --lzma2=dict=1MiB", QK_KCOMP_XZ, true, ELF_SIZE },
	{ "lzop -9", QK_KCOMP_LZO, true, ELF_SIZE },
	{ "lz4 -l -9 --favor-decSpeed", QK_KCOMP_LZ4, true, ELF_SIZE_LZ4 },
	{ "zstd -q -19", QK_KCOMP_ZSTD, true, ELF_SIZE },
};

static char *write_bzimage(const char *name, const struct format_case *fc, bool pvh, uint8_t **elf_out)
{
	uint8_t *elf = make_elf(pvh, fc->size);
	size_t clen, blen;
	uint8_t *c = compress_with(fc->cmd, elf, fc->size, &clen);
	uint8_t *bz = make_bzimage(c, clen, (uint32_t)fc->size, fc->with_size, 0x020f, &blen);
	char *path;
	assert_true(asprintf(&path, "%s/%s", test_dir(), name) > 0);
	test_write_file(path, bz, blen);
	free(c);
	free(bz);
	if (elf_out)
		*elf_out = elf;
	else
		free(elf);
	return path;
}

static void every_format_extracts_to_the_original_elf(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		const struct format_case *fc = &formats[i];
		uint8_t *elf;
		char *path = write_bzimage("bzImage", fc, true, &elf);

		qk_kernel_info info;
		qk_error *err = NULL;
		assert_int_equal(qk_kernel_inspect(path, &info, &err), 0);
		assert_string_equal(qk_kernel_compression_name(info.compression),
				    qk_kernel_compression_name(fc->comp));
		assert_int_equal(info.protocol, 0x020f);
		assert_string_equal(info.version, "6.1.0-test (qkit@test) #1");
		assert_int_equal(info.vmlinux_size, fc->size);

		uint8_t *out = NULL;
		size_t n = 0;
		int r = qk_kernel_extract(path, &out, &n, &err);
		if (r < 0)
			fail_msg("%s: %s", fc->cmd, qk_error_message(err));
		assert_int_equal(n, fc->size);
		assert_memory_equal(out, elf, fc->size);

		uint64_t entry = 0;
		assert_int_equal(qk_kernel_pvh_entry(out, n, &entry, &err), 1);
		assert_int_equal(entry, PVH_ENTRY);
		free(out);
		free(elf);
		free(path);
	}
}

static void elf_without_pvh_note_has_no_entry(void **state)
{
	uint8_t *elf = make_elf(false, 0x2000);
	uint64_t entry = 0;
	qk_error *err = NULL;
	assert_int_equal(qk_kernel_pvh_entry(elf, 0x2000, &entry, &err), 0);
	assert_null(err);

	/* A note whose size runs past its segment is malformed, not absent. */
	test_put_le32(elf + 0x200 + 4, 0x10000);
	assert_int_equal(qk_kernel_pvh_entry(elf, 0x2000, &entry, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "PT_NOTE"));
	qk_error_free(err);
	err = NULL;

	assert_int_equal(qk_kernel_pvh_entry("not an elf file at all, really not", 34, &entry, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "not an ELF file"));
	qk_error_free(err);
	free(elf);
}

static void bad_headers_name_what_is_wrong(void **state)
{
	char path[128];
	qk_kernel_info info;
	qk_error *err = NULL;
	uint8_t payload[64] = { 0x1f, 0x8b, 8 };
	size_t len;

	snprintf(path, sizeof(path), "%s/notkernel", test_dir());
	test_write_file(path, "hello, this is not a kernel", 27);
	assert_int_equal(qk_kernel_inspect(path, &info, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "\"HdrS\""));
	assert_int_equal(qk_error_get_kind(err), QK_ERR_INVALID);
	qk_error_free(err);
	err = NULL;

	uint8_t *bz = make_bzimage(payload, sizeof(payload), 0, false, 0x0206, &len);
	test_write_file(path, bz, len);
	assert_int_equal(qk_kernel_inspect(path, &info, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "boot protocol 2.06"));
	qk_error_free(err);
	err = NULL;

	/* payload_length beyond the end of the file */
	test_put_le16(bz + 0x206, 0x020f);
	test_put_le32(bz + 0x24c, 1u << 20);
	test_write_file(path, bz, len);
	assert_int_equal(qk_kernel_inspect(path, &info, &err), -EINVAL);
	assert_non_null(strstr(qk_error_message(err), "lies outside the file"));
	qk_error_free(err);
	free(bz);
}

static void corrupt_payload_is_reported(void **state)
{
	uint8_t *bz;
	size_t len;
	char *path = write_bzimage("corrupt", &formats[3], true, NULL);
	bz = test_read_file(path, &len);
	/* Damage the middle of the xz stream. */
	for (size_t i = 0; i < 64; i++)
		bz[len / 2 + i] ^= 0x55;
	test_write_file(path, bz, len);

	uint8_t *out = NULL;
	size_t n;
	qk_error *err = NULL;
	assert_true(qk_kernel_extract(path, &out, &n, &err) < 0);
	assert_non_null(strstr(qk_error_message(err), "xz data is corrupt"));
	qk_error_free(err);
	assert_null(out);

	/* Fast boot falls back to the kernel as it is rather than failing. */
	qk_kernel_fast_boot_opts opts = QK_KERNEL_FAST_BOOT_OPTS_INIT;
	_cleanup_free_ char *cache = new_cache("cache-corrupt");
	opts.cache_dir = cache;
	qk_kernel_fast_boot_result res;
	assert_int_equal(qk_kernel_fast_boot(path, &opts, &res, NULL), 0);
	assert_string_equal(res.path, path);
	assert_false(res.pvh);
	assert_non_null(strstr(res.reason, "corrupt"));
	qk_kernel_fast_boot_result_clear(&res);
	free(bz);
	free(path);
}

static time_t mtime_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

static void fast_boot_caches_verifies_and_rebuilds(void **state)
{
	uint8_t *elf;
	char *path = write_bzimage("bzImage-pvh", &formats[6], true, &elf);
	char xdg[128];
	snprintf(xdg, sizeof(xdg), "%s/xdg", test_dir());
	setenv("XDG_CACHE_HOME", xdg, 1);

	qk_kernel_fast_boot_result res;
	qk_error *err = NULL;
	assert_int_equal(qk_kernel_fast_boot(path, NULL, &res, &err), 0);
	assert_true(res.pvh);
	assert_false(res.cache_hit);
	assert_null(res.reason);
	assert_memory_equal(res.path, xdg, strlen(xdg));
	assert_non_null(strstr(res.path, "/qkit/kernel/"));
	size_t n;
	uint8_t *got = test_read_file(res.path, &n);
	assert_int_equal(n, ELF_SIZE);
	assert_memory_equal(got, elf, n);
	free(got);
	char *cached = strdup(res.path);
	time_t built = mtime_of(cached);
	qk_kernel_fast_boot_result_clear(&res);

	/* Second run: the same file, untouched. */
	assert_int_equal(qk_kernel_fast_boot(path, NULL, &res, &err), 0);
	assert_true(res.pvh);
	assert_true(res.cache_hit);
	assert_string_equal(res.path, cached);
	assert_true(mtime_of(cached) == built);
	qk_kernel_fast_boot_result_clear(&res);

	/* Same size, one byte changed: detected by the hash and rebuilt. */
	got = test_read_file(cached, &n);
	got[n / 3] ^= 1;
	test_write_file(cached, got, n);
	free(got);
	assert_int_equal(qk_kernel_fast_boot(path, NULL, &res, &err), 0);
	assert_true(res.pvh);
	assert_false(res.cache_hit);
	got = test_read_file(cached, &n);
	assert_memory_equal(got, elf, ELF_SIZE);
	free(got);
	qk_kernel_fast_boot_result_clear(&res);

	/* Truncated: rebuilt too. */
	assert_int_equal(truncate(cached, 1000), 0);
	assert_int_equal(qk_kernel_fast_boot(path, NULL, &res, &err), 0);
	assert_false(res.cache_hit);
	got = test_read_file(cached, &n);
	assert_int_equal(n, ELF_SIZE);
	free(got);
	qk_kernel_fast_boot_result_clear(&res);

	/* The short form returns the same cached path. */
	char *p = NULL;
	assert_int_equal(qk_kernel_fast_boot_path(path, &p, &err), 0);
	assert_string_equal(p, cached);
	free(p);

	unsetenv("XDG_CACHE_HOME");
	free(cached);
	free(elf);
	free(path);
}

static void no_pvh_note_boots_the_bzimage(void **state)
{
	char *path = write_bzimage("bzImage-nopvh", &formats[0], false, NULL);
	qk_kernel_fast_boot_opts opts = QK_KERNEL_FAST_BOOT_OPTS_INIT;
	_cleanup_free_ char *cache = new_cache("cache-nopvh");
	opts.cache_dir = cache;

	qk_kernel_fast_boot_result res;
	assert_int_equal(qk_kernel_fast_boot(path, &opts, &res, NULL), 0);
	assert_string_equal(res.path, path);
	assert_false(res.pvh);
	assert_false(res.cache_hit);
	assert_non_null(strstr(res.reason, "no PVH entry point"));
	qk_kernel_fast_boot_result_clear(&res);

	/* The verdict is cached: no second decompression. */
	assert_int_equal(qk_kernel_fast_boot(path, &opts, &res, NULL), 0);
	assert_string_equal(res.path, path);
	assert_true(res.cache_hit);
	assert_non_null(strstr(res.reason, "no PVH entry point"));
	qk_kernel_fast_boot_result_clear(&res);

	/* Not a bzImage at all: used as it is, with the reason. */
	char other[128];
	snprintf(other, sizeof(other), "%s/Image", test_dir());
	test_write_file(other, "arm64 kernels look different", 28);
	assert_int_equal(qk_kernel_fast_boot(other, &opts, &res, NULL), 0);
	assert_string_equal(res.path, other);
	assert_non_null(strstr(res.reason, "HdrS"));
	qk_kernel_fast_boot_result_clear(&res);

	/* A missing file is the one real error. */
	qk_error *err = NULL;
	assert_int_equal(qk_kernel_fast_boot("/nonexistent/vmlinuz", &opts, &res, &err), -ENOENT);
	assert_non_null(strstr(qk_error_message(err), "/nonexistent/vmlinuz"));
	assert_null(res.path);
	qk_error_free(err);
	free(path);
}

static bool exists_in(const char *dir, const char *hash, const char *suffix)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s%s", dir, hash, suffix);
	return access(p, F_OK) == 0;
}

static void set_age(const char *path, time_t seconds)
{
	struct timespec t[2] = { { time(NULL) - seconds, 0 }, { time(NULL) - seconds, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* The cache keeps the most recently used kernels, and what crashes leave goes. */
static void cache_keeps_the_most_recently_used(void **state)
{
	char *a = write_bzimage("bzImage-gc-a", &formats[0], true, NULL);
	size_t len;
	uint8_t *bz = test_read_file(a, &len);
	char b[256], c[256], hash[3][CACHE_HASH_HEX_SIZE];
	snprintf(b, sizeof(b), "%s/bzImage-gc-b", test_dir());
	snprintf(c, sizeof(c), "%s/bzImage-gc-c", test_dir());
	/* Another kernel_version string: another bzImage, another entry. */
	bz[0x300] = 'B';
	test_write_file(b, bz, len);
	bz[0x300] = 'C';
	test_write_file(c, bz, len);
	const char *kernels[3] = { a, b, c };
	for (int i = 0; i < 3; i++) {
		uint8_t h[CACHE_HASH_SIZE];
		uint8_t *d = test_read_file(kernels[i], &len);
		cache_hash_buffer(d, len, h);
		cache_hash_hex(h, hash[i]);
		free(d);
	}

	_cleanup_free_ char *cache = new_cache("cache-gc");
	qk_kernel_fast_boot_opts opts = QK_KERNEL_FAST_BOOT_OPTS_INIT;
	opts.cache_dir = cache;
	opts.cache_keep = 2;
	qk_kernel_fast_boot_result res;
	/* a, b, a again (a cache hit marks it used), then c: b is the least recently used. */
	const int order[] = { 0, 1, 0, 2 };
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		usleep(20 * 1000);
		assert_int_equal(qk_kernel_fast_boot(kernels[order[i]], &opts, &res, NULL), 0);
		assert_true(res.pvh);
		assert_int_equal(res.cache_hit, i == 2);
		qk_kernel_fast_boot_result_clear(&res);
	}
	assert_true(exists_in(cache, hash[0], ".meta") && exists_in(cache, hash[0], ".vmlinux"));
	assert_false(exists_in(cache, hash[1], ".meta") || exists_in(cache, hash[1], ".vmlinux"));
	assert_true(exists_in(cache, hash[2], ".meta") && exists_in(cache, hash[2], ".vmlinux"));

	/* Leftovers of an interrupted write go once they are an hour old; other files stay. */
	const char *left[] = { ".vmlinux", ".vmlinux.tmp.AbC123", ".meta.tmp.x1y2z3" };
	char p[512];
	for (size_t i = 0; i < ARRAY_SIZE(left); i++) {
		snprintf(p, sizeof(p), "%s/%s%s", cache, hash[1], left[i]);
		test_write_file(p, "x", 1);
		set_age(p, 2 * 3600);
	}
	snprintf(p, sizeof(p), "%s/%s.vmlinux.tmp.young1", cache, hash[1]);
	test_write_file(p, "x", 1);
	snprintf(p, sizeof(p), "%s/notes.txt", cache);
	test_write_file(p, "mine", 4);
	set_age(p, 2 * 3600);
	unsigned removed = 99;
	qk_error *err = NULL;
	assert_int_equal(qk_kernel_cache_gc(cache, 2, &removed, &err), 0);
	assert_int_equal(removed, 3);
	assert_true(exists_in(cache, hash[1], ".vmlinux.tmp.young1"));
	assert_true(access(p, F_OK) == 0);
	assert_true(exists_in(cache, hash[0], ".vmlinux") && exists_in(cache, hash[2], ".vmlinux"));

	/* keep 1: only c, the most recent, stays; keep 0 empties the cache of entries. */
	assert_int_equal(qk_kernel_cache_gc(cache, 1, &removed, &err), 0);
	assert_int_equal(removed, 2);
	assert_false(exists_in(cache, hash[0], ".meta"));
	assert_true(exists_in(cache, hash[2], ".vmlinux"));
	assert_int_equal(qk_kernel_cache_gc(cache, 0, &removed, &err), 0);
	assert_int_equal(removed, 2);
	assert_false(exists_in(cache, hash[2], ".meta") || exists_in(cache, hash[2], ".vmlinux"));

	/* A cache that was never made is empty, not an error. */
	snprintf(p, sizeof(p), "%s/no-such-cache", test_dir());
	assert_int_equal(qk_kernel_cache_gc(p, 0, &removed, &err), 0);
	assert_int_equal(removed, 0);
	free(bz);
	free(a);
}

static void detect_by_magic(void **state)
{
	assert_int_equal(decompress_detect("\x1f\x8b\x08\0", 4), QK_KCOMP_GZIP);
	assert_int_equal(decompress_detect("BZh9", 4), QK_KCOMP_BZIP2);
	assert_int_equal(decompress_detect("\xfd" "7zXZ\0", 6), QK_KCOMP_XZ);
	assert_int_equal(decompress_detect("\x28\xb5\x2f\xfd", 4), QK_KCOMP_ZSTD);
	assert_int_equal(decompress_detect("\x02\x21\x4c\x18", 4), QK_KCOMP_LZ4);
	assert_int_equal(decompress_detect("\x89LZO\0\r\n\x1a\n", 9), QK_KCOMP_LZO);
	assert_int_equal(decompress_detect("\x5d\0\0\x80\0\xff\xff\xff\xff\xff\xff\xff\xff", 13), QK_KCOMP_LZMA);
	assert_int_equal(decompress_detect("\x7f" "ELF", 4), QK_KCOMP_NONE);
	assert_int_equal(decompress_detect("", 0), QK_KCOMP_NONE);
	assert_string_equal(qk_kernel_compression_name(QK_KCOMP_LZ4), "lz4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(detect_by_magic),
		cmocka_unit_test(every_format_extracts_to_the_original_elf),
		cmocka_unit_test(elf_without_pvh_note_has_no_entry),
		cmocka_unit_test(bad_headers_name_what_is_wrong),
		cmocka_unit_test(corrupt_payload_is_reported),
		cmocka_unit_test(fast_boot_caches_verifies_and_rebuilds),
		cmocka_unit_test(no_pvh_note_boots_the_bzimage),
		cmocka_unit_test(cache_keeps_the_most_recently_used),
	};
	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
