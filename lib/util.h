/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: cleanup attributes that make ownership
 * visible, TAKE_PTR/TAKE_FD to hand ownership out of a scope, the monotonic
 * clock, and reading little/big-endian integers out of a byte buffer.
 * The I/O loops (write all, read all, mkdir -p) are in fileio.h.
 */
#ifndef QKIT_LIB_UTIL_H
#define QKIT_LIB_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes without touching errno, so a caller's error survives cleanup. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _taken_ = (p); \
		(p) = NULL;                  \
		_taken_;                     \
	})

#define TAKE_FD(fd)                \
	({                         \
		int _taken_ = (fd); \
		(fd) = -1;          \
		_taken_;            \
	})

/* Declare `static void name##p(type **p)` calling func on *p if set. */
#define DEFINE_CLEANUP_FUNC(type, func)        \
	static inline void func##p(type **p)   \
	{                                      \
		if (*p)                        \
			func(*p);              \
	}

static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/*
 * The monotonic clock, for timeouts and durations (never the wall clock,
 * which jumps). The library's only reader of it.
 */
static inline int64_t monotonic_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t monotonic_now_ms(void)
{
	return monotonic_now_ns() / 1000000;
}

/* Integers stored in a byte buffer (file headers: ELF, bzImage, lzop). */
static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | (uint64_t)get_be32(p + 4);
}

#endif
