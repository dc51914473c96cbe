/* SPDX-License-Identifier: MIT */
/*
 * Linux kernel images: inspect an x86 bzImage, extract the ELF vmlinux it
 * carries, and boot faster through the PVH entry point.
 *
 * Why: under TCG most of a bzImage boot is its built-in decompressor, run
 * in emulation. QEMU can load an uncompressed ELF vmlinux directly when the
 * kernel has a PVH entry point (the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY),
 * skipping that work: a Debian 6.1 kernel reaches userspace in well under
 * half the time. qk_kernel_fast_boot() does the extraction once per kernel
 * and caches the result under $XDG_CACHE_HOME/qkit/kernel.
 */
#ifndef QKIT_KERNEL_H
#define QKIT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a bzImage's payload (or a module) is compressed. */
typedef enum qk_kernel_compression {
	QK_KCOMP_NONE = 0, /* not compressed, or not recognised */
	QK_KCOMP_GZIP,
	QK_KCOMP_BZIP2,
	QK_KCOMP_LZMA,
	QK_KCOMP_XZ,
	QK_KCOMP_LZO,
	QK_KCOMP_LZ4,
	QK_KCOMP_ZSTD,
} qk_kernel_compression;

/* "gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "zstd" or "none". */
const char *qk_kernel_compression_name(qk_kernel_compression c);

/* What the x86 setup header of a bzImage says. */
typedef struct qk_kernel_info {
	uint16_t protocol;         /* boot protocol, e.g. 0x020f for 2.15 */
	char version[128];         /* the kernel_version string, "" if absent */
	uint64_t payload_offset;   /* of the compressed payload, from the file's start */
	uint64_t payload_length;   /* its length, including the size trailer */
	qk_kernel_compression compression;
	uint32_t vmlinux_size;     /* uncompressed size the build recorded */
} qk_kernel_info;

/*
 * Read the setup header of the bzImage at path. Fails (QK_ERR_INVALID)
 * when the file has no "HdrS" magic, its boot protocol is older than 2.08
 * (no payload fields) or the payload lies outside the file.
 */
int qk_kernel_inspect(const char *path, qk_kernel_info *info, qk_error **err);

/*
 * Decompress the payload of the bzImage at path and check it is an ELF
 * file. On success *out is a malloc'ed buffer of *out_len bytes.
 */
int qk_kernel_extract(const char *path, uint8_t **out, size_t *out_len, qk_error **err);

/*
 * Find the PVH entry point (Xen ELF note type 18, name "Xen") in the
 * PT_NOTE segments of the ELF image in data. Returns 1 and sets *entry if
 * there is one, 0 if the image is a valid ELF file without it, or a
 * negative errno if it is not a valid 64- or 32-bit little-endian ELF file.
 */
int qk_kernel_pvh_entry(const void *data, size_t len, uint64_t *entry, qk_error **err);

typedef struct qk_kernel_fast_boot_opts {
	unsigned version;       /* QK_KERNEL_FAST_BOOT_OPTS_VERSION */
	const char *cache_dir;  /* NULL: $XDG_CACHE_HOME/qkit/kernel */
	/*
	 * (version 2) After a new entry is cached, keep only this many of the
	 * most recently used ones (0: QK_KERNEL_CACHE_KEEP).
	 */
	unsigned cache_keep;
} qk_kernel_fast_boot_opts;

#define QK_KERNEL_FAST_BOOT_OPTS_VERSION 2
#define QK_KERNEL_FAST_BOOT_OPTS_INIT { QK_KERNEL_FAST_BOOT_OPTS_VERSION, NULL, 0 }

/* How many kernels the fast-boot cache keeps by default (a vmlinux is ~60 MiB). */
#define QK_KERNEL_CACHE_KEEP 4

typedef struct qk_kernel_fast_boot_result {
	char *path;      /* what to pass to -kernel */
	bool pvh;        /* path is the cached PVH vmlinux, not the input */
	bool cache_hit;  /* a verified cache entry was used as it was */
	char *reason;    /* when !pvh: why the input is used as it is */
} qk_kernel_fast_boot_result;

/*
 * Decide what to boot for the kernel at path. For an x86 bzImage whose
 * vmlinux has a PVH entry point, that is the vmlinux, extracted once and
 * cached by the SHA-256 of the bzImage; every use checks the stored size
 * and SHA-256 of the entry and rebuilds a corrupt one. Otherwise it is path
 * itself, with the reason in res->reason and at debug level in the log
 * (no PVH note, not a bzImage, cache not writable, ...). A kernel that is
 * not a bzImage, or that cannot be decompressed, is not an error: QEMU may
 * still boot it. Fails only when path cannot be read.
 *
 * Release res with qk_kernel_fast_boot_result_clear().
 */
int qk_kernel_fast_boot(const char *path, const qk_kernel_fast_boot_opts *opts,
			qk_kernel_fast_boot_result *res, qk_error **err);

void qk_kernel_fast_boot_result_clear(qk_kernel_fast_boot_result *res);

/*
 * Garbage-collect the fast-boot cache in cache_dir (NULL:
 * $XDG_CACHE_HOME/qkit/kernel): keep the keep most recently used entries
 * (0 keeps none) and remove the others, and remove what an interrupted
 * write left behind (a vmlinux without its meta file, temporary files)
 * once it is an hour old. Using an entry marks it used. qk_kernel_fast_boot()
 * runs this itself after caching a new kernel. *removed (if not NULL) gets
 * the number of files removed. A cache directory that does not exist is
 * empty, not an error.
 */
int qk_kernel_cache_gc(const char *cache_dir, unsigned keep, unsigned *removed, qk_error **err);

/* The short form: *out_path is malloc'ed, the vmlinux or path itself. */
int qk_kernel_fast_boot_path(const char *path, char **out_path, qk_error **err);

#ifdef __cplusplus
}
#endif
#endif
