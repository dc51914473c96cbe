/* SPDX-License-Identifier: MIT */
/*
 * The little ELF reading qkit does, in one place: the machine and the
 * program headers of a 32- or 64-bit ELF image of either byte order (s390x
 * is big-endian), and its sections by name (a module's .modinfo). kernel.c looks for the PVH note of
 * a vmlinux in them; initramfs.c and doctor.c tell a static busybox from a
 * dynamic one (PT_INTERP).
 */
#ifndef QKIT_LIB_ELF_H
#define QKIT_LIB_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_PT_NOTE 4
#define ELF_PT_INTERP 3

struct elf_image {
	const uint8_t *data;
	size_t len;
	bool is64;
	bool big_endian;
	unsigned machine; /* e_machine: EM_X86_64 (62), EM_AARCH64 (183), ... */
	uint64_t phoff;
	unsigned phentsize, phnum;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, filesz; /* where the segment is in the file */
};

/*
 * Check that data is an ELF image whose program headers lie
 * inside it. Returns 0, or -EINVAL with what is wrong written to why
 * ("not an ELF file", "ELF header is truncated", ...).
 */
int elf_parse(struct elf_image *e, const void *data, size_t len, char *why, size_t why_size);

/* Program header i < e->phnum (elf_parse checked it lies inside the image). */
void elf_phdr(const struct elf_image *e, unsigned i, struct elf_phdr *ph);

/*
 * The qkit architecture name ("x86_64", "aarch64", ...) of an ELF machine,
 * or NULL for one qkit does not run.
 */
const char *elf_machine_arch(const struct elf_image *e);

/*
 * The section called name (".modinfo"): its place in the file. Returns 0,
 * -ENOENT when there is none, or -EINVAL when the section headers are
 * broken; why says which.
 */
int elf_find_section(const struct elf_image *e, const char *name, uint64_t *offset, uint64_t *size,
		     char *why, size_t why_size);

/* Whether the image has a program header of this type (PT_INTERP: it needs a dynamic loader). */
bool elf_has_phdr(const struct elf_image *e, uint32_t type);

#endif
