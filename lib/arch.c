/* SPDX-License-Identifier: MIT */
#include "arch.h"

#include <string.h>
#include <sys/utsname.h>

/*
 * riscv64 has no "max" CPU model before QEMU 8.0; rv64 is its generic one.
 * arm gets highmem=off: a 32-bit guest cannot reach RAM or PCI windows
 * above 4 GiB, and virt places them there otherwise.
 */
static const struct arch_profile profiles[] = {
	{ "x86_64", "qemu-system-x86_64", "q35", NULL, "max", "ttyS0", true },
	{ "i386", "qemu-system-i386", "q35", NULL, "max", "ttyS0", true },
	{ "aarch64", "qemu-system-aarch64", "virt", NULL, "max", "ttyAMA0", false },
	{ "arm", "qemu-system-arm", "virt", "highmem=off", "max", "ttyAMA0", false },
	{ "riscv64", "qemu-system-riscv64", "virt", NULL, "rv64", "ttyS0", false },
	{ "s390x", "qemu-system-s390x", "s390-ccw-virtio", NULL, "max", "ttysclp0", false },
};

const struct arch_profile *arch_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const char *arch_names(void)
{
	return "x86_64, i386, aarch64, arm, riscv64, s390x";
}

const char *arch_host(void)
{
	static const struct {
		const char *uname, *arch;
	} map[] = {
		{ "x86_64", "x86_64" }, { "i386", "i386" },       { "i486", "i386" },
		{ "i586", "i386" },     { "i686", "i386" },       { "aarch64", "aarch64" },
		{ "armv7l", "arm" },    { "armv6l", "arm" },      { "riscv64", "riscv64" },
		{ "s390x", "s390x" },
	};
	struct utsname u;
	if (uname(&u) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(u.machine, map[i].uname) == 0)
			return map[i].arch;
	return NULL;
}

static bool is_or_versioned(const char *type, const char *base, const char *prefix)
{
	return strcmp(type, base) == 0 || strncmp(type, prefix, strlen(prefix)) == 0;
}

enum machine_family machine_family(const char *type)
{
	if (!type)
		return MF_OTHER;
	if (is_or_versioned(type, "q35", "pc-q35-"))
		return MF_Q35;
	if (is_or_versioned(type, "pc", "pc-i440fx-"))
		return MF_PC;
	if (strcmp(type, "microvm") == 0)
		return MF_MICROVM;
	if (is_or_versioned(type, "virt", "virt-"))
		return MF_VIRT;
	if (is_or_versioned(type, "s390-ccw-virtio", "s390-ccw-virtio-"))
		return MF_S390;
	return MF_OTHER;
}

enum transport family_transport(enum machine_family f)
{
	switch (f) {
	case MF_MICROVM:
		return TRANSPORT_MMIO;
	case MF_S390:
		return TRANSPORT_CCW;
	default:
		return TRANSPORT_PCI;
	}
}

const char *transport_name(enum transport t)
{
	static const char *const names[] = { "pci", "mmio", "ccw" };
	return names[t];
}
