/* SPDX-License-Identifier: MIT */
/*
 * The sections of a spec as field tables: names, types, ranges, choices,
 * defaults and one line of documentation each. validate-rules.c holds the
 * pass that applies them and the rules that span fields or devices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "spec-internal.h"
#include "util.h"

#define STR(n, d) { .name = n, .type = FT_STR, .doc = d }
#define BOOL(n, dflt, d) { .name = n, .type = FT_BOOL, .def = dflt, .doc = d }
#define INT(n, lo, hi, d) { .name = n, .type = FT_INT, .min = lo, .max = hi, .doc = d }
#define ENUM(n, c, dflt, d) { .name = n, .type = FT_ENUM, .choices = c, .def = dflt, .doc = d }
#define OBJ(n, s, d) { .name = n, .type = FT_OBJ, .sub = s, .doc = d }
#define PATH(n, kind, d) { .name = n, .type = FT_STR, .path = kind, .doc = d }
#define SECTION(n, s, d) { .name = n, .type = FT_OBJ, .sub = s, .def = "", .doc = d }

static const char *const arch_choices[] = { "x86_64", "i386", "aarch64", "arm", "riscv64", "s390x", NULL };
static const char *const transport_choices[] = { "pci", "mmio", "ccw", NULL };
static const char *const thread_choices[] = { "single", "multi", NULL };
static const char *const backend_choices[] = { "ram", "file", "memfd", NULL };
static const char *const console_choices[] = { "serial", "virtio", "none", NULL };
static const char *const chardev_choices[] = { "stdio", "null", "pty", "file", "pipe", "unix", "tcp", "ringbuf", "fd", NULL };
static const char *const display_choices[] = { "none", "gtk", "sdl", "vnc", "egl-headless", "curses", NULL };
static const char *const vga_choices[] = { "none", "std", "virtio", "qxl", "cirrus", "ramfb", "bochs", NULL };
static const char *const clock_choices[] = { "host", "rt", "vm", NULL };
static const char *const driftfix_choices[] = { "none", "slew", NULL };
static const char *const allow_deny[] = { "allow", "deny", NULL };
static const char *const elevate_choices[] = { "allow", "deny", "children", NULL };

static const struct field qemu_fields[] = {
	PATH("binary", PATH_SEARCHED, "the QEMU binary (default qemu-system-ARCH, found on PATH)"),
	{ .name = "args", .type = FT_STRLIST, .doc = "arguments right after the binary" },
	FIELDS_END,
};

static const struct field tcg_fields[] = {
	ENUM("thread", thread_choices, NULL, "one host thread per vCPU (multi) or one for all"),
	INT("tb-size", 1, 1 << 20, "translation block cache size in MiB"),
	FIELDS_END,
};

static const struct field machine_fields[] = {
	STR("type", "the machine type (default per architecture)"),
	{ .name = "options", .type = FT_MAP, .doc = "more machine properties, key: value" },
	{ .name = "accel", .type = FT_STRLIST, .doc = "accelerators in order of preference (kvm, tcg, hvf, whpx, xen); \"kvm:tcg\" also works" },
	ENUM("transport", transport_choices, NULL, "the virtio transport (default per machine)"),
	OBJ("tcg", tcg_fields, "TCG options"),
	FIELDS_END,
};

static const struct field cpu_fields[] = {
	{ .name = "count", .type = FT_INT, .min = 1, .max = 4096, .def = "1", .doc = "vCPUs at start" },
	INT("sockets", 1, 4096, "sockets"),
	INT("dies", 1, 4096, "dies per socket"),
	INT("cores", 1, 4096, "cores per die"),
	INT("threads", 1, 4096, "threads per core"),
	INT("maxcpus", 1, 4096, "vCPUs that can be hotplugged up to"),
	STR("model", "the CPU model (default host under KVM or HVF alone, else max)"),
	{ .name = "features", .type = FT_STRLIST, .doc = "+feature or -feature" },
	FIELDS_END,
};

static const struct field numa_fields[] = {
	{ .name = "memory", .type = FT_SIZE, .min = 1 << 20, .max = 1LL << 50, .required = true, .doc = "this node's memory" },
	{ .name = "cpus", .type = FT_STRLIST, .doc = "vCPU ranges: \"0-1\", \"3\"" },
	FIELDS_END,
};

static const struct field distance_fields[] = {
	{ .name = "from", .type = FT_INT, .min = 0, .max = 127, .required = true },
	{ .name = "to", .type = FT_INT, .min = 0, .max = 127, .required = true },
	{ .name = "value", .type = FT_INT, .min = 10, .max = 255, .required = true },
	FIELDS_END,
};

static const struct field memory_fields[] = {
	{ .name = "size", .type = FT_SIZE, .min = 1 << 20, .max = 1LL << 50, .def = "256M", .doc = "RAM at start" },
	INT("slots", 1, 256, "hotplug slots for memory devices"),
	{ .name = "maxmem", .type = FT_SIZE, .min = 1 << 20, .max = 1LL << 50, .doc = "RAM plus memory devices, at most" },
	ENUM("backend", backend_choices, NULL, "ram, file (hugepages: a hugetlbfs path) or memfd"),
	PATH("path", PATH_HOST, "the file or directory of a file backend"),
	BOOL("prealloc", NULL, "allocate all memory at start"),
	BOOL("share", NULL, "map the memory shared (vhost-user needs it)"),
	BOOL("mlock", NULL, "lock guest memory (-overcommit mem-lock=on)"),
	{ .name = "numa", .type = FT_OBJLIST, .sub = numa_fields, .doc = "NUMA nodes" },
	{ .name = "distances", .type = FT_OBJLIST, .sub = distance_fields, .doc = "NUMA distances" },
	FIELDS_END,
};

static const struct field uefi_fields[] = {
	{ .name = "code", .type = FT_STR, .path = PATH_HOST, .required = true, .doc = "the firmware code, mapped read-only" },
	{ .name = "vars", .type = FT_STR, .path = PATH_HOST, .required = true, .doc = "this VM's writable copy of the variables" },
	FIELDS_END,
};

static const struct field boot_fields[] = {
	PATH("kernel", PATH_HOST, "a kernel to boot directly"),
	PATH("initrd", PATH_HOST, "its initial ramdisk"),
	STR("append", "its command line"),
	PATH("bios", PATH_SEARCHED, "a BIOS file (a bare name is looked up in QEMU's data directory)"),
	OBJ("uefi", uefi_fields, "UEFI firmware as two pflash devices"),
	STR("order", "boot order letters: c (disk), d (cdrom), n (network)"),
	BOOL("menu", NULL, "show the boot menu"),
	STR("incoming", "wait for a migration: defer, exec:CMD, fd:N, tcp:..., unix:..., file:PATH"),
	BOOL("paused", "false", "start with the CPUs stopped (-S)"),
	FIELDS_END,
};

const struct field chardev_fields[] = {
	{ .name = "type", .type = FT_ENUM, .choices = chardev_choices, .required = true, .doc = "the backend" },
	PATH("path", PATH_HOST, "file, pipe or unix socket path"),
	STR("host", "tcp host"),
	INT("port", 0, 65535, "tcp port"),
	BOOL("server", NULL, "listen instead of connecting (unix, tcp)"),
	BOOL("wait", NULL, "as a server, wait for a client before starting"),
	INT("reconnect", 0, 86400, "as a client, seconds between reconnection attempts"),
	{ .name = "size", .type = FT_SIZE, .min = 1, .max = 1LL << 30, .doc = "ring buffer size" },
	BOOL("append", NULL, "append to the file"),
	INT("fd", 0, 65535, "an inherited connected socket (fd) or file descriptor"),
	PATH("logfile", PATH_HOST, "also log the output here"),
	BOOL("signal", NULL, "stdio: let ^C signal QEMU"),
	FIELDS_END,
};

static const struct field console_fields[] = {
	ENUM("type", console_choices, "serial", "the first UART (serial), virtconsole (virtio) or none"),
	OBJ("backend", chardev_fields, "where the console goes (default stdio)"),
	BOOL("kernel-arg", "true", "put console=NAME in front of boot.append when it has none"),
	STR("name", "the guest's name for it (ttyS0, ttyAMA0, ttysclp0, hvc0); filled in by qkit"),
	FIELDS_END,
};

static const struct field vnc_fields[] = {
	{ .name = "listen", .type = FT_STR, .def = "127.0.0.1", .doc = "the address VNC listens on" },
	{ .name = "display", .type = FT_INT, .min = 0, .max = 59535, .def = "0", .doc = "display number (port 5900+N)" },
	PATH("password-file", PATH_HOST, "a file with the VNC password (a secret object)"),
	FIELDS_END,
};

static const struct field display_fields[] = {
	ENUM("type", display_choices, "none", "the display frontend"),
	ENUM("vga", vga_choices, NULL, "the VGA card"),
	OBJ("vnc", vnc_fields, "VNC server settings (type vnc)"),
	FIELDS_END,
};

static const struct field rtc_fields[] = {
	STR("base", "utc, localtime or a date"),
	ENUM("clock", clock_choices, NULL, "the clock the RTC follows"),
	ENUM("driftfix", driftfix_choices, NULL, "catch up lost ticks (x86)"),
	FIELDS_END,
};

static const struct field global_fields[] = {
	{ .name = "driver", .type = FT_STR, .required = true },
	{ .name = "property", .type = FT_STR, .required = true },
	{ .name = "value", .type = FT_STR, .required = true },
	FIELDS_END,
};

static const struct field sandbox_fields[] = {
	BOOL("enable", "true", "turn on the seccomp sandbox"),
	ENUM("obsolete", allow_deny, NULL, "obsolete system calls"),
	ENUM("elevateprivileges", elevate_choices, NULL, "set*uid and friends"),
	ENUM("spawn", allow_deny, NULL, "fork and execve"),
	ENUM("resourcecontrol", allow_deny, NULL, "scheduler and affinity calls"),
	FIELDS_END,
};

static const struct field options_fields[] = {
	BOOL("nodefaults", "true", "no default devices (-nodefaults)"),
	BOOL("no-user-config", "true", "ignore the host's QEMU config files"),
	BOOL("no-reboot", "false", "exit instead of rebooting"),
	BOOL("no-shutdown", "false", "stop instead of exiting on guest shutdown"),
	OBJ("sandbox", sandbox_fields, "-sandbox"),
	BOOL("msg-timestamp", "false", "timestamps on QEMU's messages"),
	OBJ("rtc", rtc_fields, "-rtc"),
	{ .name = "globals", .type = FT_OBJLIST, .sub = global_fields, .doc = "-global driver.property=value" },
	PATH("pidfile", PATH_HOST, "QEMU writes its pid here"),
	FIELDS_END,
};

const struct field spec_fields[] = {
	STR("name", "the VM's name (also names QEMU's threads)"),
	STR("uuid", "the VM's UUID"),
	ENUM("arch", arch_choices, NULL, "the guest architecture (default: the host's)"),
	INT("timeout", 0, 31536000, "seconds a supervisor lets the VM run (0: no limit)"),
	SECTION("qemu", qemu_fields, "the QEMU binary"),
	SECTION("machine", machine_fields, "machine and accelerators"),
	SECTION("cpu", cpu_fields, "vCPUs and CPU model"),
	SECTION("memory", memory_fields, "RAM"),
	SECTION("boot", boot_fields, "what to boot"),
	SECTION("console", console_fields, "the guest console"),
	SECTION("display", display_fields, "graphics"),
	SECTION("options", options_fields, "QEMU knobs"),
	{ .name = "devices", .type = FT_OBJLIST, .doc = "devices, in order" },
	{ .name = "extra-args", .type = FT_STRLIST, .doc = "raw QEMU arguments, last (strict mode refuses them)" },
	FIELDS_END,
};
