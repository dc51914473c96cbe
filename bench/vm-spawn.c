/* SPDX-License-Identifier: MIT */
/*
 * Spawn -> QMP negotiated: qk_vm_launch() against the least a program can
 * do with the same QEMU argv (fork, exec, a monitor on a socketpair, read
 * the greeting, send qmp_capabilities, read the reply). Also the resident
 * size of a detached supervisor (`qkit start --detach`), which stays
 * around for the VM's whole life. Reported, never asserted.
 *
 * Usage: bench-vm-spawn [QKIT] [RUNS]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <qkit/qkit.h>

#define QEMU "qemu-system-x86_64"
static char *const qemu_argv[] = { QEMU, "-machine", "none", "-display", "none", "-nodefaults",
				   "-no-user-config", "-S", NULL };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Read until a line containing want arrives; false on EOF. */
static bool read_until(int fd, const char *want)
{
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, want))
			return true;
		if (len == sizeof(buf) - 1)
			len = 0;
	}
}

static double bare_once(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(sv[1], 3);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 1);
		dup2(devnull, 2);
		char *argv[16];
		size_t n = 0;
		for (; qemu_argv[n]; n++)
			argv[n] = qemu_argv[n];
		argv[n++] = "-chardev";
		argv[n++] = "socket,id=m,fd=3,server=off";
		argv[n++] = "-mon";
		argv[n++] = "chardev=m,mode=control";
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	bool ok = read_until(sv[0], "\"QMP\"") && write(sv[0], caps, sizeof(caps) - 1) > 0 &&
		  read_until(sv[0], "\"return\"");
	double t = now() - t0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	return ok ? t : -1;
}

static double qkit_once(void)
{
	qk_vm *vm = NULL;
	double t0 = now();
	if (qk_vm_launch(&vm, qemu_argv, NULL, NULL) < 0)
		return -1;
	double t = now() - t0;
	qk_vm_free(vm); /* SIGKILL and reap, as bare_once does */
	return t;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void supervisor_rss(const char *qkit)
{
	char dir[] = "/tmp/qkit-bench.XXXXXX";
	if (!mkdtemp(dir))
		return;
	setenv("QKIT_RUNTIME_DIR", dir, 1);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s start --name bench --detach -- " QEMU
		 " -machine none -display none -nodefaults -S >/dev/null", qkit);
	if (system(cmd) != 0) {
		printf("supervisor RSS: could not start a detached VM with %s\n", qkit);
		rmdir(dir);
		return;
	}
	qk_vm_state *st = NULL;
	if (qk_state_lookup(&st, "bench", NULL) == 0) {
		long sup = rss_kib(qk_vm_state_supervisor_pid(st));
		long qemu = rss_kib(qk_vm_state_pid(st));
		printf("supervisor RSS: %ld KiB (%.2f MiB; target < 3 MiB); QEMU itself: %ld KiB\n",
		       sup, sup / 1024.0, qemu);
		qk_vm_state_free(st);
	}
	qk_vm_kill_by_name("bench", NULL);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const char *qkit = argc > 1 ? argv[1] : NULL;
	int runs = argc > 2 ? atoi(argv[2]) : 20;
	if (runs < 1 || runs > 1000)
		runs = 20;
	double *bare = calloc((size_t)runs, sizeof(double));
	double *mine = calloc((size_t)runs, sizeof(double));
	if (!bare || !mine)
		return 1;
	/* Interleaved, so load on the shared machine hits both alike. */
	for (int i = 0; i < runs; i++) {
		bare[i] = bare_once();
		mine[i] = qkit_once();
		if (bare[i] < 0 || mine[i] < 0) {
			fprintf(stderr, "run %d failed (is %s installed?)\n", i, QEMU);
			return 1;
		}
	}
	qsort(bare, (size_t)runs, sizeof(double), cmp_double);
	qsort(mine, (size_t)runs, sizeof(double), cmp_double);
	double b = bare[runs / 2], m = mine[runs / 2];
	printf("spawn -> QMP negotiated, median of %d (-machine none -S):\n", runs);
	printf("  bare fork/exec + raw QMP: %.1f ms\n", b * 1e3);
	printf("  qk_vm_launch:             %.1f ms\n", m * 1e3);
	printf("  ratio qkit/bare:          %.3f (target <= 1.05)\n", m / b);
	if (qkit)
		supervisor_rss(qkit);
	free(bare);
	free(mine);
	return 0;
}
