/* SPDX-License-Identifier: MIT */
/*
 * Whole-buffer decompression for the formats Linux uses for its payload
 * (bzImage) and its modules: gzip, bzip2, lzma, xz, lzo (lzop), lz4 (legacy
 * frame) and zstd. The codecs are the libraries'; only the lzop and legacy
 * lz4 framing, which the libraries do not parse, is read here.
 */
#ifndef QKIT_LIB_DECOMPRESS_H
#define QKIT_LIB_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include <qkit/error.h>
#include <qkit/kernel.h>

/* Which format the data starts with, by magic; QK_KCOMP_NONE if none. */
qk_kernel_compression decompress_detect(const void *data, size_t len);

/*
 * Decompress the first stream in data (trailing bytes, such as the size
 * the kernel build appends, are ignored). size_hint preallocates (0 if
 * unknown); the output may not grow beyond limit bytes. On success *out is
 * a malloc'ed buffer of *out_len bytes. what names the input in errors.
 */
int decompress_buffer(qk_kernel_compression fmt, const void *data, size_t len, size_t size_hint,
		      size_t limit, uint8_t **out, size_t *out_len, const char *what,
		      qk_error **err);

#endif
