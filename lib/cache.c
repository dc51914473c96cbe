/* SPDX-License-Identifier: MIT */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "util.h"

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return home;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int cache_dir(const char *sub, char **out, qk_error **err)
{
	struct buf b = BUF_INIT;
	const char *xdg = getenv("XDG_CACHE_HOME");
	int r;

	if (xdg && xdg[0] == '/') {
		r = buf_printf(&b, "%s/qkit", xdg);
	} else {
		const char *home = home_dir();
		if (!home)
			return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
					    "cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path");
		r = buf_printf(&b, "%s/.cache/qkit", home);
	}
	if (r == 0 && sub && *sub)
		r = buf_printf(&b, "/%s", sub);
	if (r < 0) {
		buf_free(&b);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "cache directory: out of memory");
	}
	char *failed = NULL;
	r = mkdir_p(b.data, 0700, &failed);
	if (r < 0) {
		qk_error_set(err, QK_ERR_SYSTEM, -r, "cache directory %s: cannot create: %s",
			     failed ? failed : b.data, strerror(-r));
		free(failed);
		buf_free(&b);
		return r;
	}
	*out = buf_steal(&b);
	return 0;
}

void cache_hash_buffer(const void *data, size_t len, uint8_t hash[CACHE_HASH_SIZE])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, CACHE_HASH_SIZE, hash);
}

int cache_hash_file(const char *path, uint8_t hash[CACHE_HASH_SIZE], uint64_t *size_out,
		    qk_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot open: %s", path, strerror(errno));

	struct sha256_ctx ctx;
	_cleanup_free_ uint8_t *chunk = malloc(1 << 20);
	uint64_t total = 0;
	if (!chunk)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, chunk, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: cannot read: %s", path,
					    strerror(errno));
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, chunk);
		total += (uint64_t)n;
	}
	sha256_digest(&ctx, CACHE_HASH_SIZE, hash);
	if (size_out)
		*size_out = total;
	return 0;
}

void cache_hash_hex(const uint8_t hash[CACHE_HASH_SIZE], char hex[CACHE_HASH_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < CACHE_HASH_SIZE; i++) {
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 0xf];
	}
	hex[2 * CACHE_HASH_SIZE] = '\0';
}
