/* SPDX-License-Identifier: MIT */
/*
 * Initramfs images: a cpio (newc) archive the kernel unpacks as its first
 * root file system, built in memory and written with libarchive.
 *
 *   qk_initramfs *ir;
 *   qk_initramfs_new(&ir, &err);
 *   qk_initramfs_add_busybox(ir, NULL, &err);
 *   qk_initramfs_add_modules(ir, "/lib/modules/6.1.0-13-amd64",
 *                            (const char *[]){ "virtio_pci", "9pnet_virtio", "9p" }, 3, &err);
 *   qk_initramfs_init_opts init = QK_INITRAMFS_INIT_OPTS_INIT;
 *   init.shares = (qk_initramfs_share[]){ { "src", "/src", false } };
 *   init.n_shares = 1;
 *   init.argv = (const char *[]){ "make", "check" };
 *   init.argc = 2;
 *   qk_initramfs_set_init(ir, &init, &err);
 *   qk_initramfs_write(ir, "initrd.img", QK_INITRAMFS_GZIP, &err);
 *
 * Every entry is owned by 0:0 and has mtime 0, so the same inputs give the
 * same archive. Paths in the archive are absolute ("/bin/sh"); missing
 * parent directories are created with mode 0755. A new image already holds
 * what the kernel needs to start init: /dev/console (c 5 1), /dev/null
 * (c 1 3), and /dev, /proc, /sys, /tmp, /bin, /sbin, /etc, /root, /lib.
 */
#ifndef QKIT_INITRAMFS_H
#define QKIT_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>

#include <qkit/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qk_initramfs qk_initramfs;

typedef enum qk_initramfs_compression {
	QK_INITRAMFS_GZIP = 0, /* what every kernel can unpack */
	QK_INITRAMFS_ZSTD,     /* CONFIG_RD_ZSTD: faster to build and to unpack */
	QK_INITRAMFS_NONE,
} qk_initramfs_compression;

/* "gzip", "zstd" or "none" to the enum; -1 for anything else. */
int qk_initramfs_compression_from_string(const char *s);

int qk_initramfs_new(qk_initramfs **out, qk_error **err);
void qk_initramfs_free(qk_initramfs *ir);

/* A directory; adding an existing one only changes its mode. */
int qk_initramfs_add_dir(qk_initramfs *ir, const char *path, unsigned mode, qk_error **err);

/*
 * The host file src as dst. mode < 0 keeps src's permission bits. The
 * file is read when the image is written. Replaces an earlier entry at dst.
 */
int qk_initramfs_add_file(qk_initramfs *ir, const char *src, const char *dst, int mode,
			  qk_error **err);

/* A file with the given contents (copied). */
int qk_initramfs_add_data(qk_initramfs *ir, const char *dst, const void *data, size_t len,
			  unsigned mode, qk_error **err);

/* A symbolic link at path pointing to target. */
int qk_initramfs_add_symlink(qk_initramfs *ir, const char *path, const char *target, qk_error **err);

/*
 * A device node. mode carries the type and permissions: S_IFCHR | 0600
 * or S_IFBLK | 0660.
 */
int qk_initramfs_add_node(qk_initramfs *ir, const char *path, unsigned mode, unsigned major,
			  unsigned minor, qk_error **err);

/*
 * A static busybox as /bin/busybox, with /bin/sh linking to it. busybox
 * NULL searches PATH. It must be a statically linked ELF executable: the
 * image has no dynamic loader or libraries. The generated init installs
 * the other applets' links at boot (busybox --install -s).
 */
int qk_initramfs_add_busybox(qk_initramfs *ir, const char *busybox, qk_error **err);

/*
 * The architecture the added busybox runs on, read from its ELF header
 * ("x86_64", "aarch64", "arm", "i386", "riscv64", "s390x"), or NULL when
 * none was added or its machine is one qkit does not know. A guest of
 * another architecture cannot run it: check before booting.
 */
const char *qk_initramfs_busybox_arch(const qk_initramfs *ir);

/*
 * Kernel modules names (e.g. "virtio_pci", "9p"), with everything they
 * depend on, from modules_dir (a /lib/modules/VERSION tree). The
 * dependencies come from its modules.dep, or, when it has none (a tree
 * unpacked from a package before depmod ran), from each module's
 * .modinfo. Compressed modules (.ko.xz, .ko.zst, .ko.gz) are stored
 * decompressed, so busybox insmod can load them. They land in
 * /lib/modules/VERSION (VERSION from the modules' vermagic) with a
 * modules.dep of their own; the generated init loads them in dependency
 * order. A name may also be an alias, as for modprobe ("iso9660" loads
 * isofs). Built-in modules are skipped. modules.dep lists symbol
 * dependencies only: a device's transport (virtio_pci for virtio devices on
 * PCI) must be named too.
 */
int qk_initramfs_add_modules(qk_initramfs *ir, const char *modules_dir, const char *const *names,
			     size_t n, qk_error **err);

/* A 9p share the generated init mounts: -device virtio-9p-pci,mount_tag=TAG. */
typedef struct qk_initramfs_share {
	const char *tag;  /* the mount_tag */
	const char *path; /* where to mount it in the guest; created if missing */
	bool readonly;
} qk_initramfs_share;

/*
 * What the generated /init does, in order:
 *  1. mounts proc on /proc, sysfs on /sys, devtmpfs on /dev, tmpfs on /tmp,
 *     and installs busybox's applet links;
 *  2. loads the modules added with qk_initramfs_add_modules(), in order;
 *  3. mounts each share (9p over virtio, protocol 9p2000.L), then those the
 *     kernel command line names as QKIT_MOUNT9P_<ID>=TAG:PATH[:ro] (the
 *     kernel passes such unknown parameters to init as environment), so one
 *     image serves many runs;
 *  4. changes to cwd, exports env, runs argv in a subshell (an interactive
 *     shell on the console when argc is 0);
 *  5. prints a line "QKIT-EXIT <status>" on the console (after a newline,
 *     so it starts a line), status being the payload's exit status, 128+N
 *     if a signal N killed it;
 *  6. syncs and powers off (poweroff -f), if poweroff.
 * If a step before the payload fails, it prints "QKIT-INIT-ERROR <what>"
 * instead of the exit line and powers off. Needs a shell: add busybox.
 */
typedef struct qk_initramfs_init_opts {
	unsigned version; /* QK_INITRAMFS_INIT_OPTS_VERSION */
	const qk_initramfs_share *shares;
	size_t n_shares;
	const char *const *env; /* "NAME=value" */
	size_t n_env;
	const char *const *argv; /* the payload */
	size_t argc;
	const char *cwd;         /* NULL: "/" */
	bool poweroff;
} qk_initramfs_init_opts;

#define QK_INITRAMFS_INIT_OPTS_VERSION 1
#define QK_INITRAMFS_INIT_OPTS_INIT \
	{ QK_INITRAMFS_INIT_OPTS_VERSION, NULL, 0, NULL, 0, NULL, 0, NULL, true }

/* The console line the generated init reports the payload's status with. */
#define QK_INITRAMFS_EXIT_MARKER "QKIT-EXIT"
#define QK_INITRAMFS_ERROR_MARKER "QKIT-INIT-ERROR"

/* Generate /init as described above (validating every field first). */
int qk_initramfs_set_init(qk_initramfs *ir, const qk_initramfs_init_opts *opts, qk_error **err);

/* Use script, a complete program (usually starting with #!), as /init. */
int qk_initramfs_set_init_script(qk_initramfs *ir, const char *script, size_t len, qk_error **err);

/*
 * The generated init's text, malloc'ed, for reading or for tests; the
 * modules it loads are those added so far.
 */
int qk_initramfs_init_text(qk_initramfs *ir, const qk_initramfs_init_opts *opts, char **out,
			   qk_error **err);

/* Write the archive to path atomically (a temporary file, then rename). */
int qk_initramfs_write(qk_initramfs *ir, const char *path, qk_initramfs_compression compression,
		       qk_error **err);

#ifdef __cplusplus
}
#endif
#endif
