/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkit/qkit.h>

#include "cache.h"
#include "fileio.h"
#include "cli.h"
#include "util.h"

#define NAME "kernel"

static int inspect(const char *path)
{
	qk_error *err = NULL;
	qk_kernel_info info;
	if (qk_kernel_inspect(path, &info, &err) < 0)
		return cli_report(NAME, err);
	printf("file: %s\n"
	       "boot-protocol: %u.%02u\n"
	       "version: %s\n"
	       "compression: %s\n"
	       "payload-offset: %" PRIu64 "\n"
	       "payload-length: %" PRIu64 "\n"
	       "vmlinux-size: %" PRIu32 "\n",
	       path, info.protocol >> 8, info.protocol & 0xff, info.version,
	       qk_kernel_compression_name(info.compression), info.payload_offset, info.payload_length,
	       info.vmlinux_size);

	_cleanup_free_ uint8_t *vmlinux = NULL;
	size_t len;
	uint64_t entry;
	if (qk_kernel_extract(path, &vmlinux, &len, &err) < 0)
		return cli_report(NAME, err);
	int r = qk_kernel_pvh_entry(vmlinux, len, &entry, &err);
	if (r < 0)
		return cli_report(NAME, err);
	if (r > 0)
		printf("pvh-entry: 0x%" PRIx64 "\n", entry);
	else
		printf("pvh-entry: none\n");
	return EXIT_OK;
}

static int extract(const char *path, const char *out)
{
	qk_error *err = NULL;
	_cleanup_free_ uint8_t *vmlinux = NULL;
	size_t len;
	if (qk_kernel_extract(path, &vmlinux, &len, &err) < 0 ||
	    file_write_atomic(out, vmlinux, len, 0644, &err) < 0)
		return cli_report(NAME, err);
	return EXIT_OK;
}

static int fast_boot(const char *path)
{
	qk_error *err = NULL;
	qk_kernel_fast_boot_result res;
	if (qk_kernel_fast_boot(path, NULL, &res, &err) < 0)
		return cli_report(NAME, err);
	printf("%s\n", res.path);
	if (cli_verbose)
		fprintf(stderr, "qkit kernel: %s%s\n", res.pvh ? "PVH vmlinux" : "as it is: ",
			res.pvh ? (res.cache_hit ? ", from the cache" : ", extracted now") : res.reason);
	qk_kernel_fast_boot_result_clear(&res);
	return EXIT_OK;
}

static int gc(const char *keep_text)
{
	unsigned long keep = QK_KERNEL_CACHE_KEEP;
	if (keep_text) {
		char *end;
		errno = 0;
		keep = strtoul(keep_text, &end, 10);
		if (errno || end == keep_text || *end || keep_text[0] == '-' || keep > 1000000)
			return cli_usage_error(NAME, "--keep: '%s' is not a number of kernels", keep_text);
	}
	qk_error *err = NULL;
	unsigned removed = 0;
	if (qk_kernel_cache_gc(NULL, (unsigned)keep, &removed, &err) < 0)
		return cli_report(NAME, err);
	printf("removed %u file(s); kept the %lu most recently used kernel(s)\n", removed, keep);
	return EXIT_OK;
}

static int run(int argc, char **argv)
{
	enum { OPT_KEEP = 256 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ 0 },
	};
	const char *out = NULL, *keep = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == OPT_KEEP)
			keep = optarg;
		else
			return EXIT_USAGE;
	}
	if (optind < argc && strcmp(argv[optind], "gc") == 0) {
		if (argc - optind != 1)
			return cli_usage_error(NAME, "gc takes no kernel file");
		if (out)
			return cli_usage_error(NAME, "-o only applies to extract");
		return gc(keep);
	}
	if (keep)
		return cli_usage_error(NAME, "--keep only applies to gc");
	if (argc - optind != 2)
		return cli_usage_error(NAME, "expected an action (inspect, extract, fast-boot) and a kernel file, or gc");
	const char *action = argv[optind], *path = argv[optind + 1];
	if (strcmp(action, "extract") == 0) {
		if (!out)
			return cli_usage_error(NAME, "extract needs -o OUT");
		return extract(path, out);
	}
	if (out)
		return cli_usage_error(NAME, "-o only applies to extract");
	if (strcmp(action, "inspect") == 0)
		return inspect(path);
	if (strcmp(action, "fast-boot") == 0)
		return fast_boot(path);
	return cli_usage_error(NAME, "'%s' is not inspect, extract, fast-boot or gc", action);
}

const struct command cmd_kernel = {
	.name = NAME,
	.summary = "inspect a bzImage, extract its vmlinux, find the fast-boot kernel, prune the cache",
	.usage = "Usage: qkit kernel inspect KERNEL\n"
		 "       qkit kernel extract KERNEL -o OUT\n"
		 "       qkit kernel fast-boot KERNEL\n"
		 "       qkit kernel gc [--keep N]\n"
		 "\n"
		 "inspect    print the x86 setup header fields, the payload's compression and\n"
		 "           the PVH entry point of the vmlinux inside (or none)\n"
		 "extract    decompress the payload and write the ELF vmlinux to OUT\n"
		 "fast-boot  print the file to pass to -kernel: the cached PVH vmlinux\n"
		 "           (extracted on first use into $XDG_CACHE_HOME/qkit/kernel), or\n"
		 "           KERNEL itself when it has no PVH entry point (-v says why)\n"
		 "gc         keep the N (default 4) most recently used kernels in the cache\n"
		 "           and remove the rest; fast-boot does this after each new kernel\n"
		 "\n"
		 "See qkit-kernel(1).\n",
	.run = run,
};
