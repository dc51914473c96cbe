/* SPDX-License-Identifier: MIT */
#include "decompress.h"

#include <bzlib.h>
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "util.h"

struct out {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t limit;
};

/* Make room for at least `want` more bytes; -EFBIG beyond the limit. */
static int out_grow(struct out *o, size_t want)
{
	if (o->cap - o->len >= want)
		return 0;
	if (want > o->limit - o->len)
		return -EFBIG;
	size_t cap = o->cap ? o->cap : 1 << 20;
	while (cap - o->len < want)
		cap = cap > o->limit / 2 ? o->limit : cap * 2;
	uint8_t *p = realloc(o->data, cap);
	if (!p)
		return -ENOMEM;
	o->data = p;
	o->cap = cap;
	return 0;
}

/* Room for the next chunk of a streaming decoder. */
static int out_more(struct out *o)
{
	if (o->cap - o->len >= (64u << 10))
		return 0;
	if (o->len >= o->limit)
		return -EFBIG;
	size_t left = o->limit - o->len;
	return out_grow(o, left < (1u << 20) ? left : (1u << 20));
}

static int fail(qk_error **err, int r, const char *what, const char *fmt_name, const char *detail,
		size_t limit)
{
	if (r == -EFBIG)
		return qk_error_set(err, QK_ERR_INVALID, EFBIG,
				    "%s: %s data decompresses to more than %zu bytes", what, fmt_name,
				    limit);
	if (r == -ENOMEM)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory decompressing", what);
	return qk_error_set(err, QK_ERR_INVALID, EBADMSG, "%s: %s data is corrupt: %s", what, fmt_name,
			    detail);
}

static int do_gzip(const uint8_t *in, size_t len, struct out *o, const char **detail)
{
	z_stream s = { 0 };
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)in;
	int r = 0;
	for (;;) {
		if ((r = out_more(o)) < 0)
			break;
		/* zlib counts in uInt; feed at most 1 GiB at a time. */
		size_t avail_in = len - (size_t)(s.next_in - in);
		s.avail_in = avail_in > (1u << 30) ? (1u << 30) : (uInt)avail_in;
		s.next_out = o->data + o->len;
		size_t room = o->cap - o->len;
		s.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
		uInt before = s.avail_out;
		int z = inflate(&s, Z_NO_FLUSH);
		o->len += before - s.avail_out;
		if (z == Z_STREAM_END)
			break;
		if (z == Z_OK)
			continue;
		if (z == Z_BUF_ERROR && s.avail_in == 0) {
			*detail = "it ends early";
			r = -EBADMSG;
		} else if (z == Z_MEM_ERROR) {
			r = -ENOMEM;
		} else {
			*detail = s.msg ? s.msg : "inflate failed";
			r = -EBADMSG;
		}
		break;
	}
	inflateEnd(&s);
	return r;
}

/* xz and lzma (the .lzma "alone" format) share liblzma's stream loop. */
static int do_lzma(const uint8_t *in, size_t len, struct out *o, bool alone, const char **detail)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret lr = alone ? lzma_alone_decoder(&s, UINT64_MAX) : lzma_stream_decoder(&s, UINT64_MAX, 0);
	if (lr != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	int r = 0;
	for (;;) {
		if ((r = out_more(o)) < 0)
			break;
		s.next_out = o->data + o->len;
		s.avail_out = o->cap - o->len;
		size_t before = s.avail_out;
		/* LZMA_FINISH: the whole input is here, so running out is an error. */
		lr = lzma_code(&s, LZMA_FINISH);
		o->len += before - s.avail_out;
		if (lr == LZMA_STREAM_END)
			break;
		if (lr == LZMA_OK)
			continue;
		if (lr == LZMA_MEM_ERROR) {
			r = -ENOMEM;
		} else {
			*detail = lr == LZMA_BUF_ERROR ? "it ends early"
				  : lr == LZMA_DATA_ERROR ? "invalid compressed data"
				  : lr == LZMA_FORMAT_ERROR ? "unrecognised header"
				  : lr == LZMA_OPTIONS_ERROR ? "unsupported options"
							    : "decoder error";
			r = -EBADMSG;
		}
		break;
	}
	lzma_end(&s);
	return r;
}

static int do_bzip2(const uint8_t *in, size_t len, struct out *o, const char **detail)
{
	bz_stream s = { 0 };
	if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK)
		return -ENOMEM;
	s.next_in = (char *)in;
	int r = 0;
	for (;;) {
		if ((r = out_more(o)) < 0)
			break;
		size_t avail_in = len - (size_t)((const uint8_t *)s.next_in - in);
		s.avail_in = avail_in > (1u << 30) ? (1u << 30) : (unsigned)avail_in;
		s.next_out = (char *)o->data + o->len;
		size_t room = o->cap - o->len;
		s.avail_out = room > (1u << 30) ? (1u << 30) : (unsigned)room;
		unsigned before = s.avail_out;
		int b = BZ2_bzDecompress(&s);
		o->len += before - s.avail_out;
		if (b == BZ_STREAM_END)
			break;
		if (b == BZ_OK && (s.avail_in > 0 || s.avail_out == 0))
			continue;
		if (b == BZ_MEM_ERROR) {
			r = -ENOMEM;
		} else {
			*detail = b == BZ_OK ? "it ends early" : "invalid compressed data";
			r = -EBADMSG;
		}
		break;
	}
	BZ2_bzDecompressEnd(&s);
	return r;
}

static int do_zstd(const uint8_t *in, size_t len, struct out *o, const char **detail)
{
	ZSTD_DStream *s = ZSTD_createDStream();
	if (!s)
		return -ENOMEM;
	/* The kernel builds with --ultra -22: allow its large window. */
	ZSTD_DCtx_setParameter(s, ZSTD_d_windowLogMax, 31);
	ZSTD_inBuffer ib = { in, len, 0 };
	int r = 0;
	for (;;) {
		if ((r = out_more(o)) < 0)
			break;
		ZSTD_outBuffer ob = { o->data + o->len, o->cap - o->len, 0 };
		size_t z = ZSTD_decompressStream(s, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(z)) {
			*detail = ZSTD_getErrorName(z);
			r = -EBADMSG;
			break;
		}
		if (z == 0) /* the frame is complete; ignore what follows */
			break;
		if (ib.pos == ib.size && ob.pos < ob.size) {
			*detail = "it ends early";
			r = -EBADMSG;
			break;
		}
	}
	ZSTD_freeDStream(s);
	return r;
}

/*
 * lz4's legacy frame, which `lz4 -l` writes and the kernel uses: a magic,
 * then blocks of (LE32 compressed size, data), each at most 8 MiB when
 * decompressed. It has no end mark: the stream ends with the input, or at
 * the size the kernel build appends.
 */
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static int do_lz4(const uint8_t *in, size_t len, struct out *o, const char **detail)
{
	size_t pos = 0;
	while (len - pos >= 4) {
		uint32_t n = get_le32(in + pos);
		pos += 4;
		if (n == LZ4_LEGACY_MAGIC)
			continue;
		if (pos == len) /* the 4 bytes were the appended size */
			return 0;
		if (n > len - pos || n > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK)) {
			*detail = "a block is longer than the data";
			return -EBADMSG;
		}
		int r = out_grow(o, LZ4_LEGACY_BLOCK);
		if (r < 0 && o->limit - o->len > 0)
			r = out_grow(o, o->limit - o->len);
		if (r < 0)
			return r;
		size_t room = o->cap - o->len;
		int d = LZ4_decompress_safe((const char *)in + pos, (char *)o->data + o->len, (int)n,
					    room > LZ4_LEGACY_BLOCK ? (int)LZ4_LEGACY_BLOCK : (int)room);
		if (d < 0) {
			*detail = "invalid block";
			return -EBADMSG;
		}
		o->len += (size_t)d;
		pos += n;
	}
	if (pos != len) {
		*detail = "it ends inside a block header";
		return -EBADMSG;
	}
	return 0;
}

/*
 * lzop's container (`lzop -9`, as the kernel uses it): a header, then
 * blocks of (BE32 decompressed size, BE32 compressed size, checksums, data),
 * ended by a zero size. A block stored uncompressed has equal sizes.
 */
enum {
	LZOP_ADLER32_D = 0x1,
	LZOP_ADLER32_C = 0x2,
	LZOP_EXTRA_FIELD = 0x40,
	LZOP_CRC32_D = 0x100,
	LZOP_CRC32_C = 0x200,
	LZOP_FILTER = 0x800,
};

static const uint8_t lzop_magic[9] = { 0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a };

static int do_lzo(const uint8_t *in, size_t len, struct out *o, const char **detail)
{
	size_t pos = sizeof(lzop_magic);
#define NEED(n)                                    \
	do {                                       \
		if (len - pos < (size_t)(n)) {     \
			*detail = "it ends early"; \
			return -EBADMSG;           \
		}                                  \
	} while (0)

	if (lzo_init() != LZO_E_OK)
		return -ENOMEM;
	NEED(2 + 2);
	unsigned version = (unsigned)in[pos] << 8 | in[pos + 1];
	pos += 4; /* version, library version */
	if (version >= 0x0940) {
		NEED(2);
		pos += 2; /* version needed to extract */
	}
	NEED(1);
	uint8_t method = in[pos++];
	if (method < 1 || method > 3) {
		*detail = "not an LZO1X method";
		return -EBADMSG;
	}
	if (version >= 0x0940) {
		NEED(1);
		pos++; /* level */
	}
	NEED(4);
	uint32_t flags = get_be32(in + pos);
	pos += 4;
	if (flags & LZOP_FILTER) {
		NEED(4);
		pos += 4;
	}
	NEED(8);
	pos += 8; /* mode, mtime low */
	if (version >= 0x0940) {
		NEED(4);
		pos += 4; /* mtime high */
	}
	NEED(1);
	pos += 1 + in[pos]; /* file name */
	NEED(4);
	pos += 4; /* header checksum */
	if (flags & LZOP_EXTRA_FIELD) {
		NEED(4);
		uint32_t extra = get_be32(in + pos);
		pos += 4;
		NEED((uint64_t)extra + 4);
		pos += extra + 4;
	}
	for (;;) {
		NEED(4);
		uint32_t dst_len = get_be32(in + pos);
		pos += 4;
		if (dst_len == 0)
			return 0;
		NEED(4);
		uint32_t src_len = get_be32(in + pos);
		pos += 4;
		size_t sums = (flags & LZOP_ADLER32_D ? 4 : 0) + (flags & LZOP_CRC32_D ? 4 : 0);
		if (src_len < dst_len)
			sums += (flags & LZOP_ADLER32_C ? 4 : 0) + (flags & LZOP_CRC32_C ? 4 : 0);
		NEED(sums);
		pos += sums;
		NEED(src_len);
		if (src_len > dst_len) {
			*detail = "a block grows when compressed";
			return -EBADMSG;
		}
		int r = out_grow(o, dst_len);
		if (r < 0)
			return r;
		if (src_len == dst_len) {
			memcpy(o->data + o->len, in + pos, dst_len);
		} else {
			lzo_uint got = dst_len;
			if (lzo1x_decompress_safe(in + pos, src_len, o->data + o->len, &got, NULL) != LZO_E_OK ||
			    got != dst_len) {
				*detail = "invalid block";
				return -EBADMSG;
			}
		}
		o->len += dst_len;
		pos += src_len;
	}
#undef NEED
}

qk_kernel_compression decompress_detect(const void *data, size_t len)
{
	const uint8_t *p = data;
	static const uint8_t xz[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
	static const uint8_t zstd[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t lz4[4] = { 0x02, 0x21, 0x4c, 0x18 };

	if (len >= 6 && memcmp(p, xz, 6) == 0)
		return QK_KCOMP_XZ;
	if (len >= 4 && memcmp(p, zstd, 4) == 0)
		return QK_KCOMP_ZSTD;
	if (len >= 4 && memcmp(p, lz4, 4) == 0)
		return QK_KCOMP_LZ4;
	if (len >= sizeof(lzop_magic) && memcmp(p, lzop_magic, sizeof(lzop_magic)) == 0)
		return QK_KCOMP_LZO;
	if (len >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
		return QK_KCOMP_GZIP;
	if (len >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9')
		return QK_KCOMP_BZIP2;
	/* .lzma has no magic: properties byte 0x5d (lc=3 lp=0 pb=2) then the dictionary size. */
	if (len >= 13 && p[0] == 0x5d && p[1] == 0x00)
		return QK_KCOMP_LZMA;
	return QK_KCOMP_NONE;
}

int decompress_buffer(qk_kernel_compression fmt, const void *data, size_t len, size_t size_hint,
		      size_t limit, uint8_t **out, size_t *out_len, const char *what,
		      qk_error **err)
{
	struct out o = { NULL, 0, 0, limit };
	const char *detail = "invalid data";
	const char *name = qk_kernel_compression_name(fmt);
	int r;

	if (size_hint > 0 && size_hint <= limit - (64u << 10) && out_grow(&o, size_hint + (64u << 10)) < 0)
		return fail(err, -ENOMEM, what, name, NULL, limit);

	switch (fmt) {
	case QK_KCOMP_GZIP:
		r = do_gzip(data, len, &o, &detail);
		break;
	case QK_KCOMP_XZ:
		r = do_lzma(data, len, &o, false, &detail);
		break;
	case QK_KCOMP_LZMA:
		r = do_lzma(data, len, &o, true, &detail);
		break;
	case QK_KCOMP_BZIP2:
		r = do_bzip2(data, len, &o, &detail);
		break;
	case QK_KCOMP_ZSTD:
		r = do_zstd(data, len, &o, &detail);
		break;
	case QK_KCOMP_LZ4:
		r = do_lz4(data, len, &o, &detail);
		break;
	case QK_KCOMP_LZO:
		r = do_lzo(data, len, &o, &detail);
		break;
	default:
		return qk_error_set(err, QK_ERR_INVALID, ENOTSUP,
				    "%s: the data is in no compression format qkit knows", what);
	}
	if (r < 0) {
		free(o.data);
		return fail(err, r, what, name, detail, limit);
	}
	*out = o.data ? o.data : malloc(1);
	*out_len = o.len;
	if (!*out)
		return fail(err, -ENOMEM, what, name, NULL, limit);
	return 0;
}
