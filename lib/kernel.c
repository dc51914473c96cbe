/* SPDX-License-Identifier: MIT */
/*
 * bzImage inspection and the PVH fast-boot cache. The layout of the x86
 * setup header is the kernel's Documentation/arch/x86/boot.rst; the PVH
 * note is Xen's public elfnote.h (XEN_ELFNOTE_PHYS32_ENTRY = 18).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <qkit/kernel.h>

#include "buf.h"
#include "cache.h"
#include "decompress.h"
#include "elf.h"
#include "fileio.h"
#include "log.h"
#include "util.h"

#define BZIMAGE_MAX (256u << 20)
#define VMLINUX_MAX (1u << 30)

/* Offsets in the setup header (boot.rst). */
enum {
	HDR_SETUP_SECTS = 0x1f1,
	HDR_BOOT_FLAG = 0x1fe,
	HDR_MAGIC = 0x202,
	HDR_VERSION = 0x206,
	HDR_KERNEL_VERSION = 0x20e,
	HDR_PAYLOAD_OFFSET = 0x248,
	HDR_PAYLOAD_LENGTH = 0x24c,
	HDR_END = 0x250,
};

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static const char *const compression_names[] = {
	[QK_KCOMP_NONE] = "none", [QK_KCOMP_GZIP] = "gzip", [QK_KCOMP_BZIP2] = "bzip2",
	[QK_KCOMP_LZMA] = "lzma", [QK_KCOMP_XZ] = "xz",     [QK_KCOMP_LZO] = "lzo",
	[QK_KCOMP_LZ4] = "lz4",   [QK_KCOMP_ZSTD] = "zstd",
};

const char *qk_kernel_compression_name(qk_kernel_compression c)
{
	if ((unsigned)c >= ARRAY_SIZE(compression_names))
		return "unknown";
	return compression_names[c];
}

static int parse_setup_header(const uint8_t *d, size_t len, const char *path, qk_kernel_info *info,
			      qk_error **err)
{
	memset(info, 0, sizeof(*info));
	if (len < HDR_END || memcmp(d + HDR_MAGIC, "HdrS", 4) != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: not an x86 bzImage (no \"HdrS\" setup header magic at 0x202)", path);
	info->protocol = get_le16(d + HDR_VERSION);
	if (info->protocol < 0x0208)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: boot protocol %u.%02u is older than 2.08, which added payload_offset",
				    path, info->protocol >> 8, info->protocol & 0xff);

	uint16_t kv = get_le16(d + HDR_KERNEL_VERSION);
	if (kv && (size_t)kv + 0x200 < len) {
		const uint8_t *s = d + kv + 0x200;
		size_t max = len - (kv + 0x200u), n = 0;
		while (n < max && n < sizeof(info->version) - 1 && s[n] >= 0x20 && s[n] < 0x7f)
			n++;
		memcpy(info->version, s, n);
		info->version[n] = '\0';
	}

	unsigned setup_sects = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
	uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
	info->payload_offset = pm_start + get_le32(d + HDR_PAYLOAD_OFFSET);
	info->payload_length = get_le32(d + HDR_PAYLOAD_LENGTH);
	if (info->payload_length < 4 || info->payload_offset > len ||
	    info->payload_length > len - info->payload_offset)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: payload (offset %" PRIu64 ", length %" PRIu64
				    ") lies outside the file (%zu bytes)",
				    path, info->payload_offset, info->payload_length, len);
	const uint8_t *payload = d + info->payload_offset;
	info->compression = decompress_detect(payload, info->payload_length);
	/* Every format but gzip gets its size appended by the build; gzip's ISIZE is the same field. */
	info->vmlinux_size = get_le32(payload + info->payload_length - 4);
	return 0;
}

int qk_kernel_inspect(const char *path, qk_kernel_info *info, qk_error **err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r = file_read_all(path, BZIMAGE_MAX, &data, &len, err);
	if (r < 0)
		return r;
	return parse_setup_header(data, len, path, info, err);
}

static int extract_payload(const uint8_t *d, size_t len, const char *path, uint8_t **out,
			   size_t *out_len, qk_error **err)
{
	qk_kernel_info info;
	int r = parse_setup_header(d, len, path, &info, err);
	if (r < 0)
		return r;
	const uint8_t *payload = d + info.payload_offset;
	if (info.compression == QK_KCOMP_NONE)
		return qk_error_set(err, QK_ERR_INVALID, ENOTSUP,
				    "%s: payload starts with %02x %02x %02x %02x, no compression format qkit knows",
				    path, payload[0], payload[1], payload[2], payload[3]);

	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "%s: payload", path) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	_cleanup_free_ uint8_t *vmlinux = NULL;
	size_t n;
	r = decompress_buffer(info.compression, payload, info.payload_length, info.vmlinux_size,
			      VMLINUX_MAX, &vmlinux, &n, what, err);
	if (r < 0)
		return r;
	if (n < 4 || memcmp(vmlinux, "\177ELF", 4) != 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL,
				    "%s: the decompressed payload (%s, %zu bytes) is not an ELF file", path,
				    qk_kernel_compression_name(info.compression), n);
	*out = TAKE_PTR(vmlinux);
	*out_len = n;
	return 0;
}

int qk_kernel_extract(const char *path, uint8_t **out, size_t *out_len, qk_error **err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r = file_read_all(path, BZIMAGE_MAX, &data, &len, err);
	if (r < 0)
		return r;
	return extract_payload(data, len, path, out, out_len, err);
}

/* Walk the notes of one PT_NOTE segment. */
static int find_pvh_note(const uint8_t *p, uint64_t size, uint64_t *entry)
{
	uint64_t pos = 0;
	while (size - pos >= 12) {
		uint32_t namesz = get_le32(p + pos), descsz = get_le32(p + pos + 4), type = get_le32(p + pos + 8);
		uint64_t name_off = pos + 12;
		uint64_t desc_off = name_off + (((uint64_t)namesz + 3) & ~3ull);
		uint64_t next = desc_off + (((uint64_t)descsz + 3) & ~3ull);
		if (next > size)
			return -EBADMSG;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(p + name_off, "Xen", 4) == 0) {
			/* 32-bit kernels store 4 bytes, 64-bit ones a pointer-sized 8. */
			if (descsz == 4)
				*entry = get_le32(p + desc_off);
			else if (descsz == 8)
				*entry = get_le64(p + desc_off);
			else
				return -EBADMSG;
			return 1;
		}
		pos = next;
	}
	return 0;
}

int qk_kernel_pvh_entry(const void *data, size_t len, uint64_t *entry, qk_error **err)
{
	struct elf_image e;
	char why[160];
	if (elf_parse(&e, data, len, why, sizeof(why)) < 0)
		return qk_error_set(err, QK_ERR_INVALID, EINVAL, "vmlinux: %s", why);
	for (unsigned i = 0; i < e.phnum; i++) {
		struct elf_phdr ph;
		elf_phdr(&e, i, &ph);
		if (ph.type != ELF_PT_NOTE)
			continue;
		if (ph.offset > len || ph.filesz > len - ph.offset)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "vmlinux: program header %u (PT_NOTE) lies outside the file", i);
		int r = find_pvh_note(e.data + ph.offset, ph.filesz, entry);
		if (r < 0)
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "vmlinux: program header %u (PT_NOTE) holds a malformed note", i);
		if (r > 0)
			return 1;
	}
	return 0;
}

void qk_kernel_fast_boot_result_clear(qk_kernel_fast_boot_result *res)
{
	if (!res)
		return;
	free(res->path);
	free(res->reason);
	memset(res, 0, sizeof(*res));
}

/*
 * A cache entry is HASH.meta (this text) and, for a PVH kernel,
 * HASH.vmlinux. The meta file is written last, so it only exists for a
 * complete entry; a kernel without a PVH note gets a meta file too, so the
 * decompression is not repeated on every boot.
 */
#define META_HEADER "qkit-kernel-cache 1\n"

struct meta {
	bool pvh;
	uint64_t size;
	char sha256[CACHE_HASH_HEX_SIZE];
	char reason[256];
};

static bool read_meta(const char *path, struct meta *m)
{
	_cleanup_free_ uint8_t *text = NULL;
	size_t len;
	if (file_read_all(path, 4096, &text, &len, NULL) < 0)
		return false;
	_cleanup_free_ char *s = strndup((const char *)text, len);
	if (!s || strncmp(s, META_HEADER, strlen(META_HEADER)) != 0)
		return false;
	int pvh;
	memset(m, 0, sizeof(*m));
	if (sscanf(s + strlen(META_HEADER), "pvh %d\nsize %" SCNu64 "\nsha256 %64[0-9a-f]\n", &pvh,
		   &m->size, m->sha256) != 3)
		return false;
	m->pvh = pvh == 1;
	const char *reason = strstr(s, "\nreason ");
	if (reason) {
		reason += strlen("\nreason ");
		size_t n = strcspn(reason, "\n");
		snprintf(m->reason, sizeof(m->reason), "%.*s", (int)n, reason);
	}
	return strlen(m->sha256) == 2 * CACHE_HASH_SIZE;
}

static int write_meta(const char *path, const struct meta *m, qk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int n = asprintf(&text, META_HEADER "pvh %d\nsize %" PRIu64 "\nsha256 %s\n%s%s%s", m->pvh ? 1 : 0,
			 m->size, m->sha256, m->reason[0] ? "reason " : "", m->reason,
			 m->reason[0] ? "\n" : "");
	if (n < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	return file_write_atomic(path, text, (size_t)n, 0644, err);
}

static int use_input(qk_kernel_fast_boot_result *res, const char *path, bool pvh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int use_input(qk_kernel_fast_boot_result *res, const char *path, bool pvh, const char *fmt, ...)
{
	va_list ap;
	res->path = strdup(path);
	res->pvh = pvh;
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&res->reason, fmt, ap) < 0)
			res->reason = NULL;
		va_end(ap);
	}
	if (!res->path || (fmt && !res->reason))
		return -ENOMEM;
	if (res->reason)
		log_debug("fast boot: booting %s as it is: %s", path, res->reason);
	return 0;
}

/* The meta file's mtime says when the entry was last used, for the garbage collector. */
static void mark_used(const char *meta_path)
{
	if (utimensat(AT_FDCWD, meta_path, NULL, 0) < 0)
		log_debug("fast boot: cannot mark %s used: %s", meta_path, strerror(errno));
}

/* Is the entry at vmlinux_path what meta says, byte for byte? */
static bool entry_intact(const char *vmlinux_path, const struct meta *m)
{
	uint8_t hash[CACHE_HASH_SIZE];
	char hex[CACHE_HASH_HEX_SIZE];
	uint64_t size;
	if (cache_hash_file(vmlinux_path, hash, &size, NULL) < 0)
		return false;
	cache_hash_hex(hash, hex);
	return size == m->size && strcmp(hex, m->sha256) == 0;
}

static int build_entry(const uint8_t *data, size_t len, const char *path, const char *vmlinux_path,
		       const char *meta_path, qk_kernel_fast_boot_result *res)
{
	_cleanup_free_ uint8_t *vmlinux = NULL;
	size_t n;
	qk_error *e = NULL;
	int r = extract_payload(data, len, path, &vmlinux, &n, &e);
	if (r < 0) {
		log_warning("fast boot: %s", qk_error_message(e));
		r = use_input(res, path, false, "%s", qk_error_message(e));
		qk_error_free(e);
		return r;
	}

	struct meta m = { 0 };
	uint64_t entry = 0;
	uint8_t hash[CACHE_HASH_SIZE];
	r = qk_kernel_pvh_entry(vmlinux, n, &entry, &e);
	if (r < 0) {
		snprintf(m.reason, sizeof(m.reason), "%s", qk_error_message(e));
		qk_error_free(e);
		e = NULL;
	} else if (r == 0) {
		snprintf(m.reason, sizeof(m.reason),
			 "its vmlinux has no PVH entry point (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY)");
	}
	m.pvh = r > 0;

	if (m.pvh) {
		cache_hash_buffer(vmlinux, n, hash);
		cache_hash_hex(hash, m.sha256);
		m.size = n;
		r = file_write_atomic(vmlinux_path, vmlinux, n, 0644, &e);
	} else {
		cache_hash_buffer("", 0, hash);
		cache_hash_hex(hash, m.sha256);
		unlink(vmlinux_path);
		r = 0;
	}
	if (r == 0)
		r = write_meta(meta_path, &m, &e);
	if (r < 0) {
		log_warning("fast boot: cannot cache the vmlinux of %s: %s", path, qk_error_message(e));
		/* Without a cache entry there is no file to boot; the bzImage still boots. */
		r = use_input(res, path, false, "cannot cache its vmlinux: %s", qk_error_message(e));
		qk_error_free(e);
		return r;
	}
	if (!m.pvh)
		return use_input(res, path, false, "%s", m.reason);
	log_debug("fast boot: %s has a PVH entry at 0x%" PRIx64 "; cached its vmlinux as %s", path, entry,
		  vmlinux_path);
	res->pvh = true;
	res->path = strdup(vmlinux_path);
	return res->path ? 0 : -ENOMEM;
}

/* What an interrupted write leaves (a vmlinux without meta, a temporary file) goes after this. */
#define ORPHAN_AGE_S 3600

struct cache_entry {
	char hash[CACHE_HASH_HEX_SIZE];
	struct timespec used; /* the meta file's mtime: set when written or used */
};

/* HASH + suffix, HASH being 64 lowercase hex digits; the hash goes to hash if not NULL. */
static bool entry_file(const char *name, const char *suffix, char hash[CACHE_HASH_HEX_SIZE])
{
	size_t h = 2 * CACHE_HASH_SIZE;
	if (strspn(name, "0123456789abcdef") != h || strncmp(name + h, suffix, strlen(suffix)) != 0)
		return false;
	if (hash)
		snprintf(hash, CACHE_HASH_HEX_SIZE, "%.*s", (int)h, name);
	return true;
}

static int most_recent_first(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec > y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec > y->used.tv_nsec ? -1 : 1;
	return strcmp(x->hash, y->hash);
}

static int remove_file(int dfd, const char *dir, const char *name, unsigned *removed, qk_error **err)
{
	if (unlinkat(dfd, name, 0) == 0) {
		(*removed)++;
		return 0;
	}
	if (errno == ENOENT) /* another qkit removed it first */
		return 0;
	return qk_error_set(err, QK_ERR_SYSTEM, errno, "kernel cache: cannot remove %s/%s: %s", dir, name,
			    strerror(errno));
}

DEFINE_CLEANUP_FUNC(DIR, closedir)

static int gc(const char *dir, unsigned keep, unsigned *removed, qk_error **err)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "kernel cache %s: %s", dir, strerror(errno));
	}
	int dfd = dirfd(d);
	_cleanup_free_ struct cache_entry *v = NULL;
	size_t n = 0, cap = 0;
	time_t now = time(NULL);
	int r = 0;
	for (struct dirent *de; r == 0 && (de = readdir(d));) {
		struct cache_entry e;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		bool old = now - st.st_mtime > ORPHAN_AGE_S;
		if (entry_file(de->d_name, ".meta", e.hash) && de->d_name[strlen(e.hash) + 5] == '\0') {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				struct cache_entry *nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
				v = nv;
			}
			e.used = st.st_mtim;
			v[n++] = e;
		} else if (entry_file(de->d_name, ".vmlinux", e.hash) &&
			   de->d_name[strlen(e.hash) + 8] == '\0') {
			char meta[CACHE_HASH_HEX_SIZE + 8];
			snprintf(meta, sizeof(meta), "%s.meta", e.hash);
			if (old && faccessat(dfd, meta, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
				r = remove_file(dfd, dir, de->d_name, removed, err);
		} else if (old && (entry_file(de->d_name, ".meta.tmp.", NULL) ||
				   entry_file(de->d_name, ".vmlinux.tmp.", NULL))) {
			r = remove_file(dfd, dir, de->d_name, removed, err);
		}
	}
	if (r < 0)
		return r;

	if (n > 1) /* qsort() must not get NULL, even for nothing */
		qsort(v, n, sizeof(*v), most_recent_first);
	/* The meta file first: without it the entry is incomplete, and nobody will use it. */
	for (size_t i = keep; r == 0 && i < n; i++) {
		char name[CACHE_HASH_HEX_SIZE + 8];
		snprintf(name, sizeof(name), "%s.meta", v[i].hash);
		r = remove_file(dfd, dir, name, removed, err);
		snprintf(name, sizeof(name), "%s.vmlinux", v[i].hash);
		if (r == 0)
			r = remove_file(dfd, dir, name, removed, err);
	}
	return r;
}

int qk_kernel_cache_gc(const char *cache_dir_path, unsigned keep, unsigned *removed, qk_error **err)
{
	unsigned count = 0;
	_cleanup_free_ char *dir = NULL;
	int r = 0;
	if (cache_dir_path)
		dir = strdup(cache_dir_path);
	else
		r = cache_dir("kernel", &dir, err);
	if (r == 0 && !dir)
		r = qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (r == 0)
		r = gc(dir, keep, &count, err);
	if (removed)
		*removed = count;
	if (count)
		log_debug("kernel cache %s: removed %u file(s), keeping the %u most recently used kernels",
			  dir, count, keep);
	return r;
}

static int fast_boot(const char *path, const qk_kernel_fast_boot_opts *opts,
		     qk_kernel_fast_boot_result *res, qk_error **err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r = file_read_all(path, BZIMAGE_MAX, &data, &len, err);
	if (r < 0)
		return r;

	if (len >= 4 && memcmp(data, "\177ELF", 4) == 0) {
		uint64_t entry;
		r = qk_kernel_pvh_entry(data, len, &entry, NULL);
		return r > 0 ? use_input(res, path, true, NULL)
			     : use_input(res, path, false, "an ELF file without a PVH entry point");
	}
	qk_kernel_info info;
	qk_error *e = NULL;
	if (parse_setup_header(data, len, path, &info, &e) < 0) {
		r = use_input(res, path, false, "%s", qk_error_message(e));
		qk_error_free(e);
		return r;
	}

	_cleanup_free_ char *dir = NULL;
	if (opts->cache_dir) {
		dir = strdup(opts->cache_dir);
		if (!dir)
			return -ENOMEM;
	} else if (cache_dir("kernel", &dir, &e) < 0) {
		log_warning("fast boot: %s", qk_error_message(e));
		r = use_input(res, path, false, "no cache directory: %s", qk_error_message(e));
		qk_error_free(e);
		return r;
	}

	uint8_t hash[CACHE_HASH_SIZE];
	char hex[CACHE_HASH_HEX_SIZE];
	cache_hash_buffer(data, len, hash);
	cache_hash_hex(hash, hex);
	_cleanup_free_ char *vmlinux_path = NULL, *meta_path = NULL;
	if (asprintf(&vmlinux_path, "%s/%s.vmlinux", dir, hex) < 0 ||
	    asprintf(&meta_path, "%s/%s.meta", dir, hex) < 0)
		return -ENOMEM;

	struct meta m;
	if (read_meta(meta_path, &m)) {
		if (!m.pvh) {
			mark_used(meta_path);
			res->cache_hit = true;
			return use_input(res, path, false, "%s", m.reason[0] ? m.reason : "no PVH entry point");
		}
		if (entry_intact(vmlinux_path, &m)) {
			log_debug("fast boot: using the cached vmlinux %s for %s", vmlinux_path, path);
			mark_used(meta_path);
			res->cache_hit = true;
			res->pvh = true;
			res->path = strdup(vmlinux_path);
			return res->path ? 0 : -ENOMEM;
		}
		log_warning("fast boot: cache entry %s does not match its recorded size and SHA-256; rebuilding",
			    vmlinux_path);
	}
	r = build_entry(data, len, path, vmlinux_path, meta_path, res);
	/* The entry just built is the most recently used: it stays. */
	unsigned keep = opts->version >= 2 && opts->cache_keep ? opts->cache_keep : QK_KERNEL_CACHE_KEEP;
	if (r == 0 && gc(dir, keep, &(unsigned){ 0 }, &e) < 0) {
		log_warning("fast boot: %s", qk_error_message(e));
		qk_error_free(e);
	}
	return r;
}

int qk_kernel_fast_boot(const char *path, const qk_kernel_fast_boot_opts *opts,
			qk_kernel_fast_boot_result *res, qk_error **err)
{
	qk_kernel_fast_boot_opts defaults = QK_KERNEL_FAST_BOOT_OPTS_INIT;
	memset(res, 0, sizeof(*res));
	int r = fast_boot(path, opts ? opts : &defaults, res, err);
	if (r == -ENOMEM) {
		qk_kernel_fast_boot_result_clear(res);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "%s: out of memory", path);
	}
	if (r < 0)
		qk_kernel_fast_boot_result_clear(res);
	return r;
}

int qk_kernel_fast_boot_path(const char *path, char **out_path, qk_error **err)
{
	qk_kernel_fast_boot_result res;
	int r = qk_kernel_fast_boot(path, NULL, &res, err);
	if (r < 0)
		return r;
	*out_path = TAKE_PTR(res.path);
	qk_kernel_fast_boot_result_clear(&res);
	return 0;
}
