/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: cleanup attributes that make ownership
 * visible, and TAKE_PTR/TAKE_FD to hand ownership out of a scope.
 */
#ifndef QKIT_LIB_UTIL_H
#define QKIT_LIB_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

#endif
