/* SPDX-License-Identifier: MIT */
/* lib/elf.c: program headers of 32- and 64-bit images, and what is wrong with bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "elf.h"
#include "util.h"

#include "testutil.h"

/* An image with two program headers: PT_LOAD and the given type at 0x100, 0x20 bytes. */
static void make(uint8_t *d, size_t len, bool is64, uint32_t type)
{
	memset(d, 0, len);
	memcpy(d, "\177ELF", 4);
	d[4] = is64 ? 2 : 1;
	d[5] = 1;
	unsigned phentsize = is64 ? 56 : 32, phoff = is64 ? 64 : 52;
	if (is64)
		test_put_le64(d + 32, phoff);
	else
		test_put_le32(d + 28, phoff);
	test_put_le16(d + (is64 ? 54 : 42), (uint16_t)phentsize);
	test_put_le16(d + (is64 ? 56 : 44), 2);
	test_put_le32(d + phoff, 1);
	uint8_t *ph = d + phoff + phentsize;
	test_put_le32(ph, type);
	if (is64) {
		test_put_le64(ph + 8, 0x100);
		test_put_le64(ph + 32, 0x20);
	} else {
		test_put_le32(ph + 4, 0x100);
		test_put_le32(ph + 16, 0x20);
	}
}

static void both_classes(void **state)
{
	uint8_t d[0x200];
	char why[160];
	for (int is64 = 0; is64 < 2; is64++) {
		struct elf_image e;
		make(d, sizeof(d), is64, ELF_PT_INTERP);
		assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), 0);
		assert_int_equal(e.is64, is64);
		assert_int_equal(e.phnum, 2);
		struct elf_phdr ph;
		elf_phdr(&e, 1, &ph);
		assert_int_equal(ph.type, ELF_PT_INTERP);
		assert_int_equal(ph.offset, 0x100);
		assert_int_equal(ph.filesz, 0x20);
		assert_true(elf_has_phdr(&e, ELF_PT_INTERP));
		assert_false(elf_has_phdr(&e, ELF_PT_NOTE));

		make(d, sizeof(d), is64, ELF_PT_NOTE);
		assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), 0);
		assert_false(elf_has_phdr(&e, ELF_PT_INTERP));
		assert_true(elf_has_phdr(&e, ELF_PT_NOTE));
	}
}

/* s390x is big-endian: a static busybox for it must read as one. */
static void big_endian_images(void **state)
{
	uint8_t d[0x200] = { 0x7f, 'E', 'L', 'F', 2, 2 };
	char why[160];
	struct elf_image e;
	d[19] = 22;             /* e_machine EM_S390, big-endian */
	d[39] = 64;             /* e_phoff */
	d[55] = 56;             /* e_phentsize */
	d[57] = 1;              /* e_phnum */
	d[67] = ELF_PT_INTERP;  /* p_type of the only header */
	assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), 0);
	assert_true(e.big_endian);
	assert_int_equal(e.phnum, 1);
	assert_true(elf_has_phdr(&e, ELF_PT_INTERP));
	assert_string_equal(elf_machine_arch(&e), "s390x");
}

static void machine_names_the_architecture(void **state)
{
	uint8_t d[0x200];
	char why[160];
	struct elf_image e;
	static const struct { unsigned machine; bool is64; const char *arch; } cases[] = {
		{ 62, true, "x86_64" }, { 3, false, "i386" }, { 183, true, "aarch64" },
		{ 40, false, "arm" }, { 243, true, "riscv64" }, { 243, false, NULL }, { 8, false, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make(d, sizeof(d), cases[i].is64, ELF_PT_NOTE);
		test_put_le16(d + 18, (uint16_t)cases[i].machine);
		assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), 0);
		if (cases[i].arch)
			assert_string_equal(elf_machine_arch(&e), cases[i].arch);
		else
			assert_null(elf_machine_arch(&e));
	}
}

static void bad_images_say_what_is_wrong(void **state)
{
	uint8_t d[0x200];
	char why[160];
	struct elf_image e;

	assert_int_equal(elf_parse(&e, "#!/bin/sh\n", 10, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "not an ELF file");

	make(d, sizeof(d), true, ELF_PT_NOTE);
	d[5] = 3; /* neither little- nor big-endian */
	assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "unknown ELF class 2 or byte order 3");

	make(d, sizeof(d), true, ELF_PT_NOTE);
	assert_int_equal(elf_parse(&e, d, 60, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "ELF header is truncated");

	/* The second header ends past the end of the image. */
	assert_int_equal(elf_parse(&e, d, 64 + 56 + 40, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "program headers (offset 64, 2 of 56 bytes) lie outside the file");

	/* A header size too small for the class is not trusted either. */
	make(d, sizeof(d), false, ELF_PT_NOTE);
	test_put_le16(d + 42, 16);
	assert_int_equal(elf_parse(&e, d, sizeof(d), why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "lie outside the file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(both_classes),
		cmocka_unit_test(big_endian_images),
		cmocka_unit_test(machine_names_the_architecture),
		cmocka_unit_test(bad_images_say_what_is_wrong),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
