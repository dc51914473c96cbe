/* SPDX-License-Identifier: MIT */
#include "elf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int elf_parse(struct elf_image *e, const void *data, size_t len, char *why, size_t why_size)
{
	const uint8_t *d = data;
	memset(e, 0, sizeof(*e));
	if (len < 52 || memcmp(d, "\177ELF", 4) != 0) {
		snprintf(why, why_size, "not an ELF file");
		return -EINVAL;
	}
	if ((d[4] != 1 && d[4] != 2) || d[5] != 1) {
		snprintf(why, why_size, "ELF class %u, data encoding %u: want 32/64-bit little-endian", d[4],
			 d[5]);
		return -EINVAL;
	}
	e->is64 = d[4] == 2;
	if (e->is64 && len < 64) {
		snprintf(why, why_size, "ELF header is truncated");
		return -EINVAL;
	}
	e->data = d;
	e->len = len;
	e->phoff = e->is64 ? get_le64(d + 32) : get_le32(d + 28);
	e->phentsize = get_le16(d + (e->is64 ? 54 : 42));
	e->phnum = get_le16(d + (e->is64 ? 56 : 44));
	if (e->phentsize < (e->is64 ? 56u : 32u) || e->phoff > len ||
	    (uint64_t)e->phnum * e->phentsize > len - e->phoff) {
		snprintf(why, why_size,
			 "program headers (offset %" PRIu64 ", %u of %u bytes) lie outside the file", e->phoff,
			 e->phnum, e->phentsize);
		return -EINVAL;
	}
	return 0;
}

void elf_phdr(const struct elf_image *e, unsigned i, struct elf_phdr *ph)
{
	const uint8_t *p = e->data + e->phoff + (uint64_t)i * e->phentsize;
	ph->type = get_le32(p);
	ph->offset = e->is64 ? get_le64(p + 8) : get_le32(p + 4);
	ph->filesz = e->is64 ? get_le64(p + 32) : get_le32(p + 16);
}

bool elf_has_phdr(const struct elf_image *e, uint32_t type)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		struct elf_phdr ph;
		elf_phdr(e, i, &ph);
		if (ph.type == type)
			return true;
	}
	return false;
}
