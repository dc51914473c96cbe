/* SPDX-License-Identifier: MIT */
#include "elf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static uint16_t get16(const struct elf_image *e, const uint8_t *p)
{
	return e->big_endian ? get_be16(p) : get_le16(p);
}

static uint32_t get32(const struct elf_image *e, const uint8_t *p)
{
	return e->big_endian ? get_be32(p) : get_le32(p);
}

static uint64_t get64(const struct elf_image *e, const uint8_t *p)
{
	return e->big_endian ? get_be64(p) : get_le64(p);
}

int elf_parse(struct elf_image *e, const void *data, size_t len, char *why, size_t why_size)
{
	const uint8_t *d = data;
	memset(e, 0, sizeof(*e));
	if (len < 52 || memcmp(d, "\177ELF", 4) != 0) {
		snprintf(why, why_size, "not an ELF file");
		return -EINVAL;
	}
	if ((d[4] != 1 && d[4] != 2) || (d[5] != 1 && d[5] != 2)) {
		snprintf(why, why_size, "unknown ELF class %u or byte order %u", d[4], d[5]);
		return -EINVAL;
	}
	e->is64 = d[4] == 2;
	e->big_endian = d[5] == 2;
	if (e->is64 && len < 64) {
		snprintf(why, why_size, "ELF header is truncated");
		return -EINVAL;
	}
	e->data = d;
	e->len = len;
	e->machine = get16(e, d + 18);
	e->phoff = e->is64 ? get64(e, d + 32) : get32(e, d + 28);
	e->phentsize = get16(e, d + (e->is64 ? 54 : 42));
	e->phnum = get16(e, d + (e->is64 ? 56 : 44));
	/* A module (ET_REL) has no program headers at all, and may say their size is 0. */
	if (e->phnum && (e->phentsize < (e->is64 ? 56u : 32u) || e->phoff > len ||
			 (uint64_t)e->phnum * e->phentsize > len - e->phoff)) {
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
	ph->type = get32(e, p);
	ph->offset = e->is64 ? get64(e, p + 8) : get32(e, p + 4);
	ph->filesz = e->is64 ? get64(e, p + 32) : get32(e, p + 16);
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

const char *elf_machine_arch(const struct elf_image *e)
{
	switch (e->machine) {
	case 3:
		return "i386";
	case 22:
		return "s390x";
	case 40:
		return "arm";
	case 62:
		return "x86_64";
	case 183:
		return "aarch64";
	case 243:
		return e->is64 ? "riscv64" : NULL;
	default:
		return NULL;
	}
}

int elf_find_section(const struct elf_image *e, const char *name, uint64_t *offset, uint64_t *size,
		     char *why, size_t why_size)
{
	const uint8_t *d = e->data;
	uint64_t shoff = e->is64 ? get64(e, d + 0x28) : get32(e, d + 0x20);
	uint64_t shentsize = get16(e, d + (e->is64 ? 0x3a : 0x2e));
	uint64_t shnum = get16(e, d + (e->is64 ? 0x3c : 0x30));
	uint64_t shstrndx = get16(e, d + (e->is64 ? 0x3e : 0x32));
	if (shentsize < (e->is64 ? 64u : 40u) || shoff > e->len || shnum * shentsize > e->len - shoff ||
	    shstrndx >= shnum) {
		snprintf(why, why_size, "section headers lie outside the file");
		return -EINVAL;
	}
	const uint8_t *names = d + shoff + shstrndx * shentsize;
	uint64_t stroff = e->is64 ? get64(e, names + 0x18) : get32(e, names + 0x10);
	uint64_t strsize = e->is64 ? get64(e, names + 0x20) : get32(e, names + 0x14);
	if (stroff > e->len || strsize > e->len - stroff) {
		snprintf(why, why_size, "section names lie outside the file");
		return -EINVAL;
	}
	size_t want = strlen(name) + 1;
	for (uint64_t i = 0; i < shnum; i++) {
		const uint8_t *sh = d + shoff + i * shentsize;
		uint64_t at = get32(e, sh);
		if (at >= strsize || strsize - at < want || memcmp(d + stroff + at, name, want) != 0)
			continue;
		uint64_t off = e->is64 ? get64(e, sh + 0x18) : get32(e, sh + 0x10);
		uint64_t n = e->is64 ? get64(e, sh + 0x20) : get32(e, sh + 0x14);
		if (off > e->len || n > e->len - off) {
			snprintf(why, why_size, "%s lies outside the file", name);
			return -EINVAL;
		}
		*offset = off;
		*size = n;
		return 0;
	}
	snprintf(why, why_size, "no %s section", name);
	return -ENOENT;
}
