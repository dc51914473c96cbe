/* SPDX-License-Identifier: MIT */
/*
 * Per-architecture profiles: the QEMU binary, the default machine and its
 * options, the CPU model under TCG, the serial console's name in the guest
 * and the virtio transport each machine uses.
 */
#ifndef QKIT_LIB_ARCH_H
#define QKIT_LIB_ARCH_H

#include <stdbool.h>

enum transport {
	TRANSPORT_PCI = 0, /* virtio-*-pci */
	TRANSPORT_MMIO,    /* virtio-*-device */
	TRANSPORT_CCW,     /* virtio-*-ccw */
};

enum machine_family {
	MF_OTHER = 0,
	MF_Q35,     /* q35, pc-q35-* */
	MF_PC,      /* pc, pc-i440fx-* */
	MF_MICROVM,
	MF_VIRT,    /* virt, virt-* (arm, aarch64, riscv64) */
	MF_S390,    /* s390-ccw-virtio, s390-ccw-virtio-* */
};

struct arch_profile {
	const char *name;         /* as in specs: x86_64 */
	const char *binary;       /* qemu-system-x86_64 */
	const char *machine;      /* default machine type */
	const char *machine_opts; /* options the default machine always gets, or NULL */
	const char *tcg_cpu;      /* the CPU model when not under KVM/HVF */
	const char *uart;         /* the guest's name for the first UART */
	bool x86;
};

/* NULL when the name is not one of the six. */
const struct arch_profile *arch_find(const char *name);

/* "x86_64, i386, aarch64, arm, riscv64, s390x" */
const char *arch_names(void);

/* The profile name of the machine this runs on, or NULL if qkit has none. */
const char *arch_host(void);

enum machine_family machine_family(const char *type);

/* The virtio transport of a machine family. */
enum transport family_transport(enum machine_family f);

const char *transport_name(enum transport t);

#endif
