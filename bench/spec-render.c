/* SPDX-License-Identifier: MIT */
/*
 * Load, validate and render a 50-device spec (the budget: under
 * 1 ms), from YAML and from the same spec as JSON, against the floor of
 * merely parsing the YAML with libfyaml, measured in the same run in
 * alternating batches. Times are the process's CPU time, so that other
 * work on a shared machine does not count. Reported, never asserted.
 */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qkit/spec.h>

#include "buf.h"

#define BATCHES 10
#define PER_BATCH 200

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 50 devices of the common kinds, each with a few fields set. */
static char *spec_text(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "name: bench\narch: x86_64\nmemory: {size: 2G}\ncpu: {count: 4}\n"
		     "boot: {kernel: /boot/vmlinuz, initrd: /boot/initrd, append: quiet}\n"
		     "devices:\n  - {kind: iothread, id: io0}\n");
	for (int i = 0; i < 49; i++) {
		switch (i % 7) {
		case 0:
			buf_printf(&b, "  - {kind: disk, file: \"/srv/disk,%d.qcow2\", format: qcow2, cache: none, aio: native, iothread: io0}\n", i);
			break;
		case 1:
			buf_printf(&b, "  - {kind: net, forwards: [{host-port: %d, guest-port: 22}], mac: \"52:54:00:00:00:%02x\"}\n", 20000 + i, i);
			break;
		case 2:
			buf_printf(&b, "  - {kind: fs, type: 9p, path: /srv/share%d, tag: share%d}\n", i, i);
			break;
		case 3:
			buf_puts(&b, "  - {kind: rng, max-bytes: 1024, period: 1000}\n");
			break;
		case 4:
			buf_printf(&b, "  - {kind: channel, name: org.qkit.%d, backend: {type: unix, path: /run/c%d.sock, server: true}}\n", i, i);
			break;
		case 5:
			buf_printf(&b, "  - {kind: pcie-root-port, chassis: %d}\n", i);
			break;
		default:
			buf_printf(&b, "  - {kind: disk, file: /srv/s%d.img, interface: scsi, serial: \"S%d\"}\n", i, i);
			break;
		}
	}
	return buf_steal(&b);
}

static void qkit_once(const char *text, size_t len, qk_spec_format format)
{
	qk_spec *spec = NULL;
	char **argv = NULL;
	qk_error *err = NULL;
	if (qk_spec_load_string(&spec, text, len, format, QK_SPEC_LOAD_NO_ENV, &err) < 0 ||
	    qk_spec_render(spec, NULL, &argv, &err) < 0) {
		fprintf(stderr, "bench spec: %s\n", qk_error_message(err));
		exit(1);
	}
	qk_argv_free(argv);
	qk_spec_free(spec);
}

static void parse_once(const char *text, size_t len)
{
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET };
	struct fy_document *doc = fy_document_build_from_string(&cfg, text, len);
	if (!doc)
		exit(1);
	fy_document_destroy(doc);
}

/* The same spec as JSON: what `qkit spec show --json` would print, minus the defaults. */
static char *as_json(const char *yaml, size_t len)
{
	qk_spec *spec = NULL;
	json_t *normal = NULL;
	if (qk_spec_load_string(&spec, yaml, len, QK_SPEC_YAML, QK_SPEC_LOAD_NO_ENV, NULL) < 0 ||
	    qk_spec_to_json(spec, &normal, NULL) < 0)
		exit(1);
	char *s = json_dumps(normal, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(normal);
	qk_spec_free(spec);
	return s;
}

int main(void)
{
	char *text = spec_text();
	size_t len = strlen(text);
	char *json = as_json(text, len);
	size_t jlen = strlen(json);
	double yaml_t = 0, json_t_ = 0, parse = 0;
	qkit_once(text, len, QK_SPEC_YAML); /* warm up, and fail early if the spec is wrong */
	qkit_once(json, jlen, QK_SPEC_JSON);
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_s();
		for (int i = 0; i < PER_BATCH; i++)
			qkit_once(text, len, QK_SPEC_YAML);
		double t1 = now_s();
		for (int i = 0; i < PER_BATCH; i++)
			qkit_once(json, jlen, QK_SPEC_JSON);
		double t2 = now_s();
		for (int i = 0; i < PER_BATCH; i++)
			parse_once(text, len);
		double t3 = now_s();
		yaml_t += t1 - t0;
		json_t_ += t2 - t1;
		parse += t3 - t2;
	}
	double n = BATCHES * PER_BATCH;
	printf("load+validate+render, 50 devices, YAML: %7.1f us CPU per spec (budget 1000 us)\n", yaml_t / n * 1e6);
	printf("load+validate+render, 50 devices, JSON: %7.1f us per spec\n", json_t_ / n * 1e6);
	printf("libfyaml parse of the YAML alone:       %7.1f us; qkit from YAML is %.2fx that\n",
	       parse / n * 1e6, yaml_t / parse);
	free(json);
	free(text);
	return 0;
}
