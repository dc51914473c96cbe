/* SPDX-License-Identifier: MIT */
/*
 * The per-user cache: $XDG_CACHE_HOME/qkit (default ~/.cache/qkit) and
 * content hashes to name entries by. Entries are written with
 * file_write_atomic() (fileio.h), so a reader never sees half a file.
 *
 * The hash is SHA-256 from nettle, which libarchive already links: a
 * collision-resistant hash, so a crafted kernel cannot make another
 * kernel's cache entry be used in its place.
 */
#ifndef QKIT_LIB_CACHE_H
#define QKIT_LIB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <qkit/error.h>

#define CACHE_HASH_SIZE 32
#define CACHE_HASH_HEX_SIZE (2 * CACHE_HASH_SIZE + 1)

/*
 * Store in *out the directory $XDG_CACHE_HOME/qkit/SUB, creating it (and
 * its parents) with mode 0700 if needed. A relative XDG_CACHE_HOME is
 * ignored, as the XDG spec says.
 */
int cache_dir(const char *sub, char **out, qk_error **err);

void cache_hash_buffer(const void *data, size_t len, uint8_t hash[CACHE_HASH_SIZE]);

/* Hash a whole file; *size_out (if not NULL) gets its size. */
int cache_hash_file(const char *path, uint8_t hash[CACHE_HASH_SIZE], uint64_t *size_out,
		    qk_error **err);

void cache_hash_hex(const uint8_t hash[CACHE_HASH_SIZE], char hex[CACHE_HASH_HEX_SIZE]);

#endif
