/* SPDX-License-Identifier: MIT */
/*
 * One property list, three uses: the devices a spec renders on the command
 * line are hotplugged instead, into the real QEMU, with the commands
 * qk_spec_device_hotplug() gives (blockdev-add, netdev_add, object-add,
 * device_add). QEMU starts paused with only the PCIe root ports; after the
 * hotplug, each device must be under /machine/peripheral with its backend
 * linked (the firmware has not numbered the ports' buses yet, so query-pci
 * cannot list them), and the disk's file must be the path given.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <qkit/qkit.h>

#include "golden-util.h"

extern char **environ;

static const char *const hotplugged[] = { "hd1", "nic1", "rng1" };

static qk_spec *spec_for(const char *dir, bool with_devices)
{
	char yaml[4096];
	snprintf(yaml, sizeof(yaml),
		 "arch: x86_64\n"
		 "memory: {size: 128M}\n"
		 "console: {type: none}\n"
		 "devices:\n"
		 "  - {kind: pcie-root-port, id: rp0, chassis: 1, addr: \"0x2\"}\n"
		 "  - {kind: pcie-root-port, id: rp1, chassis: 2, addr: \"0x3\"}\n"
		 "  - {kind: pcie-root-port, id: rp2, chassis: 3, addr: \"0x4\"}\n"
		 "%s%s%s",
		 with_devices ? "  - {kind: disk, id: hd1, file: \"" : "", with_devices ? dir : "",
		 with_devices ? "/disk,a.img\", bus: rp0, serial: \"s,1\"}\n"
				"  - {kind: net, id: nic1, bus: rp1, forwards: [{host-port: 0, guest-port: 22}]}\n"
				"  - {kind: rng, id: rng1, bus: rp2}\n"
			      : "");
	qk_spec *spec = NULL;
	qk_error *err = NULL;
	if (qk_spec_load_string(&spec, yaml, strlen(yaml), QK_SPEC_YAML, QK_SPEC_LOAD_NO_ENV, &err) < 0) {
		printf("FAIL: %s\n", qk_error_message(err));
		exit(1);
	}
	return spec;
}

static char *qom_get(qk_qmp *qmp, const char *path, const char *prop)
{
	json_t *args = json_pack("{s:s, s:s}", "path", path, "property", prop);
	json_t *ret = NULL;
	char *s = NULL;
	if (qk_qmp_execute(qmp, "qom-get", args, &ret, NULL) == 0 && json_is_string(ret))
		s = strdup(json_string_value(ret));
	json_decref(args);
	json_decref(ret);
	return s;
}

int main(void)
{
	char dir[] = "/tmp/qkit-hotplug-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char disk[4200], sock[4200], qmparg[4300];
	snprintf(disk, sizeof(disk), "%s/disk,a.img", dir);
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", sock);
	int fd = open(disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return 1;
	close(fd);

	qk_spec *base = spec_for(dir, false), *full = spec_for(dir, true);
	qk_render_opts opts = QK_RENDER_OPTS_INIT;
	opts.paused = true;
	char **argv = NULL;
	qk_error *err = NULL;
	if (qk_spec_render(base, &opts, &argv, &err) < 0) {
		printf("FAIL: %s\n", qk_error_message(err));
		return 1;
	}
	size_t n = 0;
	while (argv[n])
		n++;
	char **cmd = calloc(n + 3, sizeof(*cmd));
	memcpy(cmd, argv, n * sizeof(*cmd));
	cmd[n] = (char *)"-qmp";
	cmd[n + 1] = qmparg;
	pid_t pid;
	if (posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ) != 0) {
		printf("FAIL: cannot start %s\n", cmd[0]);
		return 1;
	}

	int fails = 0;
	qk_qmp *qmp = golden_qmp_connect(sock, pid);
	if (!qmp) {
		printf("FAIL: QEMU did not come up\n");
		fails++;
	}
	for (size_t i = 0; qmp && i < sizeof(hotplugged) / sizeof(hotplugged[0]); i++) {
		json_t *cmds = NULL;
		if (qk_spec_device_hotplug(full, hotplugged[i], &cmds, &err) < 0) {
			printf("FAIL %s: %s\n", hotplugged[i], qk_error_message(err));
			qk_error_free(err);
			err = NULL;
			fails++;
			continue;
		}
		size_t j;
		json_t *c;
		json_array_foreach(cmds, j, c) {
			const char *name = json_string_value(json_object_get(c, "execute"));
			if (qk_qmp_execute(qmp, name, json_object_get(c, "arguments"), NULL, &err) < 0) {
				printf("FAIL %s: %s\n", hotplugged[i], qk_error_message(err));
				qk_error_free(err);
				err = NULL;
				fails++;
			}
		}
		json_decref(cmds);
	}
	if (qmp) {
		static const struct {
			const char *path, *prop, *want;
		} expect[] = {
			{ "/machine/peripheral/hd1", "drive", "hd1-format" },
			{ "/machine/peripheral/hd1", "serial", "s,1" },
			{ "/machine/peripheral/nic1", "netdev", "nic1-netdev" },
			{ "/machine/peripheral/rng1", "rng", "/objects/rng1-rng" },
		};
		for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
			char *got = qom_get(qmp, expect[i].path, expect[i].prop);
			if (got && strcmp(got, expect[i].want) == 0) {
				printf("ok   %s %s is %s\n", expect[i].path, expect[i].prop, got);
			} else {
				printf("FAIL %s %s is %s, not %s\n", expect[i].path, expect[i].prop, got ? got : "(none)",
				       expect[i].want);
				fails++;
			}
			free(got);
		}
		json_t *ret = NULL;
		const char *file = NULL;
		if (qk_qmp_execute(qmp, "query-named-block-nodes", NULL, &ret, &err) == 0) {
			size_t i;
			json_t *nd;
			json_array_foreach(ret, i, nd)
				if (strcmp(json_string_value(json_object_get(nd, "node-name")), "hd1-file") == 0)
					file = json_string_value(json_object_get(nd, "file"));
		}
		if (file && strcmp(file, disk) == 0) {
			printf("ok   hd1-file opened %s\n", file);
		} else {
			printf("FAIL hd1-file opened %s\n", file ? file : "(nothing)");
			fails++;
		}
		json_decref(ret);
		qk_error_free(err);
	}
	golden_qemu_end(qmp, pid);
	unlink(sock);
	unlink(disk);
	rmdir(dir);
	free(cmd);
	qk_argv_free(argv);
	qk_spec_free(base);
	qk_spec_free(full);
	return fails ? 1 : 0;
}
