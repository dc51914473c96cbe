/* SPDX-License-Identifier: MIT */
/*
 * The QMP client and its typed helpers against the real QEMU: an empty
 * `-machine none`, and a paused q35 VM for hotplug. Each test starts its
 * own QEMU (paused: no guest runs) and kills it afterwards; a watchdog
 * alarm kills the test, and PR_SET_PDEATHSIG takes QEMU with it.
 *
 * The QMP socket is created here and handed to QEMU as an inherited
 * listening fd, so connecting never races QEMU's start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qkit/qmp.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct vm {
	pid_t pid;
	char dir[64];
	char sock[96];
	char log[128];
	int tcp_port; /* > 0 when the monitor listens on TCP */
	qk_qmp *qmp;
};

static char *read_log_tail(void *userdata)
{
	struct vm *vm = userdata;
	FILE *f = fopen(vm->log, "re");
	if (!f)
		return NULL;
	char buf[512];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n ? strdup(buf) : NULL;
}

/* A listening socket for QEMU to inherit; unix unless tcp is set. */
static int listen_socket(struct vm *vm, bool tcp)
{
	int fd;
	if (tcp) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		socklen_t len = sizeof(sa);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
		vm->tcp_port = ntohs(sa.sin_port);
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vm->sock);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	assert_true(fd >= 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static struct vm *start_vm(const char *const *extra, bool tcp)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	snprintf(vm->dir, sizeof(vm->dir), "/tmp/qkit-qmp-e2e.XXXXXX");
	assert_non_null(mkdtemp(vm->dir));
	snprintf(vm->sock, sizeof(vm->sock), "%s/qmp.sock", vm->dir);
	snprintf(vm->log, sizeof(vm->log), "%s/qemu.log", vm->dir);
	int lfd = listen_socket(vm, tcp);

	const char *argv[64];
	size_t n = 0;
	char chardev[64];
	snprintf(chardev, sizeof(chardev), "socket,id=qmp,fd=%d,server=on,wait=off", lfd);
	argv[n++] = "qemu-system-x86_64";
	for (; *extra; extra++)
		argv[n++] = *extra;
	const char *tail[] = { "-nodefaults", "-no-user-config", "-display", "none", "-S",
			       "-chardev", chardev, "-mon", "chardev=qmp,mode=control", NULL };
	for (const char *const *t = tail; *t; t++)
		argv[n++] = *t;
	argv[n] = NULL;

	pid_t parent = getpid();
	vm->pid = fork();
	assert_true(vm->pid >= 0);
	if (vm->pid == 0) {
		/* QEMU must never outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int log = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(lfd);

	qk_qmp_options opts = QK_QMP_OPTIONS_INIT;
	opts.connect_timeout_ms = 60000;
	opts.stderr_tail = read_log_tail;
	opts.stderr_tail_userdata = vm;
	qk_error *err = NULL;
	int r;
	if (tcp) {
		char port[16];
		snprintf(port, sizeof(port), "%d", vm->tcp_port);
		r = qk_qmp_connect_tcp(&vm->qmp, "127.0.0.1", port, &opts, &err);
	} else {
		r = qk_qmp_connect_unix(&vm->qmp, vm->sock, &opts, &err);
	}
	if (r < 0)
		fail_msg("connecting to QEMU: %s", qk_error_message(err));
	return vm;
}

static void rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int stop_vm(void **state)
{
	struct vm *vm = *state;
	if (!vm)
		return 0;
	qk_qmp_free(vm->qmp);
	if (vm->pid > 0) {
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
	}
	rm_rf(vm->dir);
	free(vm);
	*state = NULL;
	return 0;
}

static int start_none(void **state)
{
	const char *args[] = { "-machine", "none,accel=tcg", "-name", "qkit-e2e",
			       "-uuid", "8f1e0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", NULL };
	*state = start_vm(args, false);
	return 0;
}

/*
 * Native PCIe hotplug (ACPI hotplug off) lets QEMU unplug a device from a
 * slot the paused guest never powered, without waiting for the guest.
 */
static const char *const q35_args[] = {
	"-machine", "q35,accel=tcg", "-m", "64,slots=2,maxmem=512M",
	"-smp", "1,maxcpus=2",
	"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
	"-device", "pcie-root-port,id=rp1,chassis=1",
	"-device", "pcie-root-port,id=rp2,chassis=2",
	"-device", "virtio-serial-pci,id=vser",
	"-device", "virtio-balloon-pci,id=balloon0",
	"-device", "VGA",
	"-device", "ide-cd,id=cd0,bus=ide.2",
	"-netdev", "user,id=unet",
	"-device", "virtio-net-pci,netdev=unet,id=nic0",
	NULL,
};

static int start_q35(void **state)
{
	*state = start_vm(q35_args, false);
	return 0;
}

/* The same machine, waiting for an incoming migration. */
static struct vm *start_q35_incoming(void)
{
	const char *args[ARRAY_LEN(q35_args) + 2];
	size_t n = 0;
	for (; q35_args[n]; n++)
		args[n] = q35_args[n];
	args[n++] = "-incoming";
	args[n++] = "defer";
	args[n] = NULL;
	return start_vm(args, false);
}

static qk_qmp *qmp_of(void **state)
{
	return ((struct vm *)*state)->qmp;
}

#define check(call)                                                              \
	do {                                                                     \
		qk_error *cerr_ = NULL;                                          \
		if ((call) < 0)                                                  \
			fail_msg("%s: %s", #call, qk_error_message(cerr_));      \
	} while (0)
#define ERR (&cerr_)

static void expect_qmp_error(int r, qk_error *err, const char *cls, const char *needle)
{
	assert_true(r < 0);
	if (qk_error_get_kind(err) != QK_ERR_QMP || !qk_error_qmp_class(err) ||
	    strcmp(qk_error_qmp_class(err), cls) != 0 || !strstr(qk_error_message(err), needle))
		fail_msg("expected %s with \"%s\", got: %s (%s)", cls, needle, qk_error_message(err),
			 qk_error_qmp_class(err) ? qk_error_qmp_class(err) : "no class");
	qk_error_free(err);
}

static bool array_has(const json_t *list, const char *member, const char *value)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(json_object_get(v, member));
		if (s && strcmp(s, value) == 0)
			return true;
	}
	return false;
}

static void none_identity_queries(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	qk_qmp_version v;
	check(qk_qmp_query_version(qmp, &v, ERR));
	assert_true(v.major > 4 || (v.major == 4 && v.minor >= 2));
	assert_true(qk_qmp_oob_enabled(qmp));

	qk_qmp_status st;
	check(qk_qmp_query_status(qmp, &st, ERR));
	assert_false(st.running);
	assert_string_equal(st.status, "prelaunch");

	char *name = NULL, *uuid = NULL;
	check(qk_qmp_query_name(qmp, &name, ERR));
	assert_string_equal(name, "qkit-e2e");
	check(qk_qmp_query_uuid(qmp, &uuid, ERR));
	assert_string_equal(uuid, "8f1e0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b");
	free(name);
	free(uuid);

	bool enabled = true, present = false;
	check(qk_qmp_query_kvm(qmp, &enabled, &present, ERR));
	assert_false(enabled); /* accel=tcg */
}

static void none_catalogue_queries(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *j = NULL;
	check(qk_qmp_query_commands(qmp, &j, ERR));
	assert_true(array_has(j, "name", "query-status"));
	assert_true(array_has(j, "name", "device_add"));
	json_decref(j);

	check(qk_qmp_query_qmp_schema(qmp, &j, ERR));
	assert_true(array_has(j, "name", "SHUTDOWN"));
	json_decref(j);

	check(qk_qmp_query_machines(qmp, &j, ERR));
	assert_true(array_has(j, "name", "pc-q35-7.2") || array_has(j, "alias", "q35"));
	json_decref(j);

	check(qk_qmp_query_chardev(qmp, &j, ERR));
	assert_true(array_has(j, "label", "qmp"));
	json_decref(j);

	check(qk_qmp_query_migrate(qmp, &j, ERR));
	assert_true(json_is_object(j));
	json_decref(j);

	check(qk_qmp_query_block(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	check(qk_qmp_query_blockstats(qmp, &j, ERR));
	assert_true(json_is_array(j));
	json_decref(j);
	check(qk_qmp_query_memory_devices(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	check(qk_qmp_query_cpus_fast(qmp, &j, ERR));
	assert_true(json_is_array(j));
	json_decref(j);
}

static void none_qom_hmp_and_errors(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *j = NULL;
	check(qk_qmp_qom_list(qmp, "/", &j, ERR));
	assert_true(array_has(j, "name", "machine"));
	json_decref(j);
	check(qk_qmp_qom_get(qmp, "/machine", "type", &j, ERR));
	assert_string_equal(json_string_value(j), "none-machine");
	json_decref(j);

	char *out = NULL;
	check(qk_qmp_human_monitor_command(qmp, "info version", &out, ERR));
	char want[16];
	qk_qmp_version v;
	check(qk_qmp_query_version(qmp, &v, ERR));
	snprintf(want, sizeof(want), "%d.%d.%d", v.major, v.minor, v.micro);
	assert_non_null(strstr(out, want));
	free(out);

	qk_error *err = NULL;
	{
		int xr = qk_qmp_execute(qmp, "no-such-command", NULL, NULL, &err);
		expect_qmp_error(xr, err,
			 "CommandNotFound", "no-such-command: The command no-such-command has not been found");
	};
	err = NULL;
	{
		int xr = qk_qmp_device_del(qmp, "ghost", 1000, &err);
		expect_qmp_error(xr, err, "DeviceNotFound", "ghost");
	};
	err = NULL;
	json_t *bad = json_pack("{s:s, s:s}", "driver", "no-such-device", "id", "x");
	{
		int xr = qk_qmp_device_add(qmp, bad, &err);
		expect_qmp_error(xr, err, "GenericError",
			 "'no-such-device' is not a valid device model name");
	};
	json_decref(bad);
	/* Errors leave the connection usable. */
	qk_qmp_status st;
	check(qk_qmp_query_status(qmp, &st, ERR));
}

static void none_migration_settings(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *caps = json_pack("[{s:s, s:b}]", "capability", "events", "state", 1);
	check(qk_qmp_migrate_set_capabilities(qmp, caps, ERR));
	json_decref(caps);
	json_t *params = json_pack("{s:I}", "max-bandwidth", (json_int_t)12345678);
	check(qk_qmp_migrate_set_parameters(qmp, params, ERR));
	json_decref(params);
	json_t *got = NULL;
	check(qk_qmp_execute(qmp, "query-migrate-parameters", NULL, &got, ERR));
	assert_int_equal(json_integer_value(json_object_get(got, "max-bandwidth")), 12345678);
	json_decref(got);
	check(qk_qmp_execute(qmp, "query-migrate-capabilities", NULL, &got, ERR));
	size_t i;
	json_t *c;
	bool events_on = false;
	json_array_foreach(got, i, c) {
		const char *cap = json_string_value(json_object_get(c, "capability"));
		if (cap && strcmp(cap, "events") == 0)
			events_on = json_is_true(json_object_get(c, "state"));
	}
	assert_true(events_on);
	json_decref(got);
	check(qk_qmp_migrate_cancel(qmp, ERR));
}

static void none_quit_emits_shutdown_and_closes(void **state)
{
	struct vm *vm = *state;
	check(qk_qmp_quit(vm->qmp, ERR));
	qk_qmp_event *ev = NULL;
	check(qk_qmp_wait_event(vm->qmp, "SHUTDOWN", NULL, 10000, &ev, ERR));
	assert_string_equal(json_string_value(json_object_get(ev->data, "reason")), "host-qmp-quit");
	/* The timestamp is the wall clock of the moment QEMU sent it. */
	time_t now = time(NULL);
	assert_true(ev->timestamp.tv_sec > now - 60 && ev->timestamp.tv_sec <= now + 1);
	assert_int_equal(ev->timestamp.tv_nsec, ev->microseconds * 1000);
	qk_qmp_event_free(ev);
	int status = 0;
	assert_int_equal(waitpid(vm->pid, &status, 0), vm->pid);
	vm->pid = -1;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* After QEMU is gone, a command fails at once with "QEMU exited". */
	qk_error *err = NULL;
	int r = qk_qmp_execute(vm->qmp, "query-status", NULL, NULL, &err);
	assert_true(r < 0);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	assert_non_null(strstr(qk_error_message(err), "QEMU exited"));
	qk_error_free(err);
}

static void tcp_connect_works(void **state)
{
	const char *args[] = { "-machine", "none,accel=tcg", NULL };
	*state = start_vm(args, true);
	qk_qmp_status st;
	check(qk_qmp_query_status(qmp_of(state), &st, ERR));
	assert_string_equal(st.status, "prelaunch");
}

static void q35_queries(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *j = NULL;
	check(qk_qmp_query_cpus_fast(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	check(qk_qmp_query_hotpluggable_cpus(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	check(qk_qmp_query_block(qmp, &j, ERR));
	assert_true(array_has(j, "qdev", "cd0") || array_has(j, "qdev", "/machine/peripheral/cd0/unattached"));
	json_decref(j);
	check(qk_qmp_query_pci(qmp, &j, ERR));
	json_t *devices = json_object_get(json_array_get(j, 0), "devices");
	assert_true(array_has(devices, "qdev_id", "nic0"));
	json_decref(j);
}

static void q35_run_state(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	qk_qmp_status st;
	check(qk_qmp_cont(qmp, ERR));
	check(qk_qmp_wait_event(qmp, "RESUME", NULL, 10000, NULL, ERR));
	check(qk_qmp_query_status(qmp, &st, ERR));
	assert_true(st.running);
	check(qk_qmp_stop(qmp, ERR));
	check(qk_qmp_wait_event(qmp, "STOP", NULL, 10000, NULL, ERR));
	check(qk_qmp_query_status(qmp, &st, ERR));
	assert_false(st.running);
	assert_string_equal(st.status, "paused");
	check(qk_qmp_system_reset(qmp, ERR));
	json_t *guest = json_pack("{s:b}", "guest", 0);
	check(qk_qmp_wait_event(qmp, "RESET", guest, 10000, NULL, ERR));
	json_decref(guest);
	check(qk_qmp_system_powerdown(qmp, ERR));
	check(qk_qmp_wait_event(qmp, "POWERDOWN", NULL, 10000, NULL, ERR));
}

static void q35_disk_hotplug_and_unplug(void **state)
{
	struct vm *vm = *state;
	char path[192];
	snprintf(path, sizeof(path), "%s/disk.raw", vm->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 8 << 20) == 0);
	close(fd);

	json_t *node = json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "raw", "node-name", "disk1",
				 "file", "driver", "file", "filename", path);
	check(qk_qmp_blockdev_add(vm->qmp, node, ERR));
	json_decref(node);
	json_t *dev = json_pack("{s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "id", "vd1",
				"drive", "disk1", "bus", "rp1");
	check(qk_qmp_device_add(vm->qmp, dev, ERR));
	json_decref(dev);

	json_t *j = NULL;
	check(qk_qmp_query_block(vm->qmp, &j, ERR));
	assert_true(array_has(j, "qdev", "/machine/peripheral/vd1/virtio-backend"));
	json_decref(j);
	check(qk_qmp_query_blockstats(vm->qmp, &j, ERR));
	assert_true(array_has(j, "node-name", "disk1") || json_array_size(j) >= 2);
	json_decref(j);

	check(qk_qmp_block_resize(vm->qmp, "disk1", 16 << 20, ERR));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 16 << 20);

	check(qk_qmp_device_del(vm->qmp, "vd1", 20000, ERR));
	check(qk_qmp_blockdev_del(vm->qmp, "disk1", ERR));
	check(qk_qmp_query_block(vm->qmp, &j, ERR));
	assert_false(array_has(j, "qdev", "/machine/peripheral/vd1/virtio-backend"));
	json_decref(j);
}

static void q35_nic_hotplug_and_unplug(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *net = json_pack("{s:s, s:s}", "type", "user", "id", "net1");
	check(qk_qmp_netdev_add(qmp, net, ERR));
	json_decref(net);
	json_t *dev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-net-pci", "id", "nic1",
				"netdev", "net1", "bus", "rp2", "mac", "52:54:00:12:34:99");
	check(qk_qmp_device_add(qmp, dev, ERR));
	json_decref(dev);
	check(qk_qmp_set_link(qmp, "nic1", false, ERR));
	check(qk_qmp_set_link(qmp, "nic1", true, ERR));
	json_t *mac = NULL;
	check(qk_qmp_qom_get(qmp, "/machine/peripheral/nic1", "mac", &mac, ERR));
	assert_string_equal(json_string_value(mac), "52:54:00:12:34:99");
	json_decref(mac);
	check(qk_qmp_device_del(qmp, "nic1", 20000, ERR));
	check(qk_qmp_netdev_del(qmp, "net1", ERR));
	qk_error *err = NULL;
	{
		int xr = qk_qmp_set_link(qmp, "nic1", false, &err);
		expect_qmp_error(xr, err, "DeviceNotFound", "nic1");
	};
}

static void q35_virtserialport_hotplug_and_unplug(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	json_t *backend = json_pack("{s:s, s:{}}", "type", "null", "data");
	check(qk_qmp_chardev_add(qmp, "chr1", backend, NULL, ERR));
	json_decref(backend);
	json_t *dev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtserialport", "id", "port1",
				"chardev", "chr1", "bus", "vser.0", "name", "org.qkit.test");
	check(qk_qmp_device_add(qmp, dev, ERR));
	json_decref(dev);
	json_t *j = NULL;
	check(qk_qmp_qom_get(qmp, "/machine/peripheral/port1", "name", &j, ERR));
	assert_string_equal(json_string_value(j), "org.qkit.test");
	json_decref(j);
	check(qk_qmp_device_del(qmp, "port1", 20000, ERR));
	check(qk_qmp_chardev_remove(qmp, "chr1", ERR));
	check(qk_qmp_query_chardev(qmp, &j, ERR));
	assert_false(array_has(j, "label", "chr1"));
	json_decref(j);
}

static void q35_cpu_and_memory_hotplug(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	check(qk_qmp_cpu_hotplug(qmp, "cpu1", ERR));
	json_t *j = NULL;
	check(qk_qmp_query_cpus_fast(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	qk_error *err = NULL;
	int r = qk_qmp_cpu_hotplug(qmp, "cpu2", &err);
	assert_true(r < 0);
	assert_non_null(strstr(qk_error_message(err), "no free CPU slot"));
	qk_error_free(err);

	check(qk_qmp_memory_hotplug(qmp, "dimm1", 128 << 20, NULL, ERR));
	check(qk_qmp_query_memory_devices(qmp, &j, ERR));
	assert_int_equal(json_array_size(j), 1);
	json_t *data = json_object_get(json_array_get(j, 0), "data");
	assert_string_equal(json_string_value(json_object_get(data, "id")), "dimm1");
	assert_int_equal(json_integer_value(json_object_get(data, "size")), 128 << 20);
	json_decref(j);

	/* "rp1" is taken, so device_add fails: the backend must be gone again. */
	err = NULL;
	r = qk_qmp_memory_hotplug(qmp, "rp1", 128 << 20, NULL, &err);
	assert_true(r < 0);
	assert_non_null(strstr(qk_error_message(err), "memory hotplug \"rp1\""));
	assert_non_null(strstr(qk_error_message(err), "Duplicate"));
	qk_error_free(err);
	check(qk_qmp_qom_list(qmp, "/objects", &j, ERR));
	assert_true(array_has(j, "name", "dimm1-mem"));
	assert_false(array_has(j, "name", "rp1-mem"));
	json_decref(j);
}

static void q35_media_keys_balloon_qom(void **state)
{
	struct vm *vm = *state;
	qk_qmp *qmp = vm->qmp;
	char iso[192];
	snprintf(iso, sizeof(iso), "%s/cd.iso", vm->dir);
	int fd = open(iso, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	check(qk_qmp_blockdev_change_medium(qmp, "cd0", iso, "raw", ERR));
	json_t *j = NULL;
	check(qk_qmp_query_block(qmp, &j, ERR));
	size_t i;
	json_t *b;
	bool inserted = false;
	json_array_foreach(j, i, b)
		if (json_object_get(b, "inserted"))
			inserted = true;
	assert_true(inserted);
	json_decref(j);
	check(qk_qmp_eject(qmp, "cd0", true, ERR));
	check(qk_qmp_query_block(qmp, &j, ERR));
	json_array_foreach(j, i, b)
		assert_null(json_object_get(b, "inserted"));
	json_decref(j);

	const char *keys[] = { "ctrl", "alt", "delete" };
	check(qk_qmp_send_key(qmp, keys, 3, 50, ERR));
	qk_error *err = NULL;
	const char *bad[] = { "no-such-key" };
	int r = qk_qmp_send_key(qmp, bad, 1, 0, &err);
	assert_true(r < 0);
	qk_error_free(err);

	check(qk_qmp_balloon(qmp, 32 << 20, ERR));

	json_t *f = json_false();
	check(qk_qmp_qom_set(qmp, "/machine", "dump-guest-core", f, ERR));
	json_decref(f);
	check(qk_qmp_qom_get(qmp, "/machine", "dump-guest-core", &j, ERR));
	assert_true(json_is_false(j));
	json_decref(j);
}

static void q35_screendump_and_memory_dump(void **state)
{
	struct vm *vm = *state;
	char path[192], magic[8] = { 0 };
	snprintf(path, sizeof(path), "%s/screen.ppm", vm->dir);
	check(qk_qmp_screendump(vm->qmp, path, NULL, ERR));
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	assert_int_equal(fread(magic, 1, 3, f), 3);
	fclose(f);
	assert_memory_equal(magic, "P6\n", 3);

	snprintf(path, sizeof(path), "%s/core.elf", vm->dir);
	check(qk_qmp_dump_guest_memory(vm->qmp, path, ERR));
	f = fopen(path, "re");
	assert_non_null(f);
	assert_int_equal(fread(magic, 1, 4, f), 4);
	fclose(f);
	assert_memory_equal(magic, "\x7f" "ELF", 4);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size >= 64 << 20);
}

static void q35_hostfwd_through_hmp(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	/* A free port: bind to 0, read it, release it. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	close(s);
	char rule[64];
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-:22", ntohs(sa.sin_port));

	check(qk_qmp_hostfwd_add(qmp, "unet", rule, ERR));
	/* slirp now listens on that port. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	check(qk_qmp_hostfwd_remove(qmp, "unet", rule, ERR));
	qk_error *err = NULL;
	int r = qk_qmp_hostfwd_remove(qmp, "unet", rule, &err);
	assert_true(r < 0);
	assert_non_null(strstr(qk_error_message(err), "not found"));
	qk_error_free(err);
	err = NULL;
	r = qk_qmp_hostfwd_add(qmp, "unet", "bogus", &err);
	assert_true(r < 0);
	assert_non_null(strstr(qk_error_message(err), "hostfwd_add: Invalid host forwarding rule 'bogus'"));
	qk_error_free(err);
}

/* add-fd: QEMU opens a disk through a descriptor we pass; the path is already gone. */
static void q35_add_fd_backs_a_disk(void **state)
{
	struct vm *vm = *state;
	qk_qmp *qmp = vm->qmp;
	char path[192];
	snprintf(path, sizeof(path), "%s/fd-disk.raw", vm->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 4 << 20) == 0);
	unlink(path);

	json_t *args = json_pack("{s:i}", "fdset-id", 7);
	json_t *ret = NULL;
	check(qk_qmp_execute_full(qmp, "add-fd", args, &fd, 1, -1, &ret, ERR));
	json_decref(args);
	assert_int_equal(json_integer_value(json_object_get(ret, "fdset-id")), 7);
	json_decref(ret);

	json_t *node = json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "raw", "node-name", "fdnode",
				 "file", "driver", "file", "filename", "/dev/fdset/7");
	check(qk_qmp_blockdev_add(qmp, node, ERR));
	json_decref(node);
	check(qk_qmp_block_resize(qmp, "fdnode", 12 << 20, ERR));
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 12 << 20);
	check(qk_qmp_blockdev_del(qmp, "fdnode", ERR));
	args = json_pack("{s:i}", "fdset-id", 7);
	check(qk_qmp_execute(qmp, "remove-fd", args, NULL, ERR));
	json_decref(args);
	close(fd);
}

/* getfd: migrate into a socket we pass; the stream QEMU writes starts with its magic. */
static void q35_getfd_carries_a_migration(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	json_t *args = json_pack("{s:s}", "fdname", "mig");
	check(qk_qmp_execute_full(qmp, "getfd", args, &sv[1], 1, -1, NULL, ERR));
	json_decref(args);
	close(sv[1]);
	check(qk_qmp_migrate(qmp, "fd:mig", ERR));

	struct vm *vm = *state;
	char saved[192];
	snprintf(saved, sizeof(saved), "%s/migration.bin", vm->dir);
	FILE *out = fopen(saved, "we");
	assert_non_null(out);
	char head[4];
	size_t total = 0;
	for (;;) {
		char buf[65536];
		struct pollfd pfd = { .fd = sv[0], .events = POLLIN };
		assert_true(poll(&pfd, 1, 60000) == 1);
		ssize_t n = read(sv[0], buf, sizeof(buf));
		assert_true(n >= 0);
		if (n == 0)
			break;
		if (total < 4)
			memcpy(head + total, buf, (size_t)n < 4 - total ? (size_t)n : 4 - total);
		total += (size_t)n;
		assert_int_equal(fwrite(buf, 1, (size_t)n, out), n);
	}
	close(sv[0]);
	assert_int_equal(fclose(out), 0);
	assert_memory_equal(head, "QEVM", 4);
	assert_true(total > 4096);

	json_t *j = NULL;
	check(qk_qmp_query_migrate(qmp, &j, ERR));
	assert_string_equal(json_string_value(json_object_get(j, "status")), "completed");
	json_decref(j);

	/* closefd on a name that is gone fails with QEMU's own words. */
	args = json_pack("{s:s}", "fdname", "mig");
	qk_error *err = NULL;
	int r = qk_qmp_execute(qmp, "closefd", args, NULL, &err);
	json_decref(args);
	assert_true(r < 0);
	assert_non_null(strstr(qk_error_message(err), "closefd"));
	qk_error_free(err);

	/* The stream loads into a second VM: migrate-incoming. */
	struct vm *dst = start_q35_incoming();
	char uri[256];
	snprintf(uri, sizeof(uri), "exec:cat '%s'", saved);
	check(qk_qmp_migrate_incoming(dst->qmp, uri, ERR));
	const char *status = "";
	for (int i = 0; i < 600; i++) {
		check(qk_qmp_query_migrate(dst->qmp, &j, ERR));
		status = json_string_value(json_object_get(j, "status"));
		bool done = status && (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0);
		status = done ? (strcmp(status, "completed") == 0 ? "completed" : "failed") : "";
		json_decref(j);
		if (done)
			break;
		usleep(50 * 1000);
	}
	assert_string_equal(status, "completed");
	qk_qmp_status st;
	check(qk_qmp_query_status(dst->qmp, &st, ERR));
	assert_false(st.running);
	void *dst_state = dst;
	stop_vm(&dst_state);
}

static void q35_getfd_then_closefd(void **state)
{
	qk_qmp *qmp = qmp_of(state);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	json_t *args = json_pack("{s:s}", "fdname", "spare");
	check(qk_qmp_execute_full(qmp, "getfd", args, &p[0], 1, -1, NULL, ERR));
	check(qk_qmp_execute(qmp, "closefd", args, NULL, ERR));
	json_decref(args);
	close(p[0]);
	/* QEMU closed its copy: with ours gone too, the write end sees no reader. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(write(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
}

static void qemu_exit_under_a_command_reports_stderr(void **state)
{
	const char *args[] = { "-machine", "none,accel=tcg", NULL };
	struct vm *vm = start_vm(args, false);
	*state = vm;
	/* QEMU exits with a message on stderr while we keep a command in flight. */
	check(qk_qmp_human_monitor_command(vm->qmp, "info status", NULL, ERR));
	kill(vm->pid, SIGTERM);
	qk_error *err = NULL;
	int r = 0;
	int64_t t0 = time(NULL);
	while ((r = qk_qmp_execute_full(vm->qmp, "query-status", NULL, NULL, 0, 20000, NULL, &err)) == 0)
		assert_true(time(NULL) - t0 < 20);
	assert_int_equal(qk_error_get_kind(err), QK_ERR_EXITED);
	assert_non_null(strstr(qk_error_message(err), "QEMU exited: "));
	assert_non_null(strstr(qk_error_message(err), "terminating on signal 15"));
	qk_error_free(err);
}

int main(void)
{
	alarm(600); /* the watchdog: PDEATHSIG takes every QEMU with us */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(none_identity_queries, start_none, stop_vm),
		cmocka_unit_test_setup_teardown(none_catalogue_queries, start_none, stop_vm),
		cmocka_unit_test_setup_teardown(none_qom_hmp_and_errors, start_none, stop_vm),
		cmocka_unit_test_setup_teardown(none_migration_settings, start_none, stop_vm),
		cmocka_unit_test_setup_teardown(none_quit_emits_shutdown_and_closes, start_none, stop_vm),
		cmocka_unit_test_teardown(tcp_connect_works, stop_vm),
		cmocka_unit_test_teardown(qemu_exit_under_a_command_reports_stderr, stop_vm),
		cmocka_unit_test_setup_teardown(q35_queries, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_run_state, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_disk_hotplug_and_unplug, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_nic_hotplug_and_unplug, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_virtserialport_hotplug_and_unplug, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_cpu_and_memory_hotplug, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_media_keys_balloon_qom, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_screendump_and_memory_dump, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_hostfwd_through_hmp, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_add_fd_backs_a_disk, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_getfd_carries_a_migration, start_q35, stop_vm),
		cmocka_unit_test_setup_teardown(q35_getfd_then_closefd, start_q35, stop_vm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
