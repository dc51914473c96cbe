/* SPDX-License-Identifier: MIT */
/*
 * QMP round trip of query-status through libqkit, against a minimal client
 * that writes the command and reads one line on a blocking socket, in the
 * same run and against the same QEMU (two monitors, one per client). The
 * batches alternate so drift in machine load hits both alike. Reported,
 * never asserted: the exit status is 0 unless the measurement failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <qkit/qmp.h>

#define BATCHES 10
#define PER_BATCH 300

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 2) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static int connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* The raw client: one line out, one line in; events would break it, but a paused -machine none sends none. */
static char raw_buf[65536];
static size_t raw_len;

static void raw_read_line(int fd)
{
	for (;;) {
		char *nl = memchr(raw_buf, '\n', raw_len);
		if (nl) {
			size_t used = (size_t)(nl - raw_buf) + 1;
			memmove(raw_buf, raw_buf + used, raw_len - used);
			raw_len -= used;
			return;
		}
		ssize_t n = read(fd, raw_buf + raw_len, sizeof(raw_buf) - raw_len);
		if (n <= 0) {
			fprintf(stderr, "raw client: QEMU closed the connection\n");
			exit(1);
		}
		raw_len += (size_t)n;
	}
}

static void raw_command(int fd, const char *line)
{
	size_t len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len) {
		perror("raw client: write");
		exit(1);
	}
	raw_read_line(fd);
}

int main(void)
{
	char dir[] = "/tmp/qkit-bench-qmp.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char a[96], b[96];
	snprintf(a, sizeof(a), "%s/a.sock", dir);
	snprintf(b, sizeof(b), "%s/b.sock", dir);
	int la = listen_unix(a), lb = listen_unix(b);
	char ca[96], cb[96];
	snprintf(ca, sizeof(ca), "socket,id=a,fd=%d,server=on,wait=off", la);
	snprintf(cb, sizeof(cb), "socket,id=b,fd=%d,server=on,wait=off", lb);

	pid_t parent = getpid();
	pid_t qemu = fork();
	if (qemu == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		alarm(300); /* survives exec: QEMU dies even if we hang */
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-machine", "none,accel=tcg",
		       "-nodefaults", "-no-user-config", "-display", "none", "-S",
		       "-chardev", ca, "-mon", "chardev=a,mode=control",
		       "-chardev", cb, "-mon", "chardev=b,mode=control", (char *)NULL);
		_exit(127);
	}
	close(la);
	close(lb);

	int raw = connect_unix(a);
	raw_read_line(raw); /* greeting */
	raw_command(raw, "{\"execute\":\"qmp_capabilities\"}\n");

	qk_qmp *qmp = NULL;
	qk_error *err = NULL;
	if (qk_qmp_connect_unix(&qmp, b, NULL, &err) < 0) {
		fprintf(stderr, "qkit: %s\n", qk_error_message(err));
		kill(qemu, SIGKILL);
		return 1;
	}

	double t_raw = 0, t_qkit = 0;
	for (int batch = 0; batch < BATCHES; batch++) {
		double t0 = now_s();
		for (int i = 0; i < PER_BATCH; i++)
			raw_command(raw, "{\"execute\":\"query-status\",\"id\":1}\n");
		double t1 = now_s();
		for (int i = 0; i < PER_BATCH; i++) {
			json_t *ret = NULL;
			if (qk_qmp_execute(qmp, "query-status", NULL, &ret, &err) < 0) {
				fprintf(stderr, "qkit: %s\n", qk_error_message(err));
				kill(qemu, SIGKILL);
				return 1;
			}
			json_decref(ret);
		}
		double t2 = now_s();
		t_raw += t1 - t0;
		t_qkit += t2 - t1;
	}
	int n = BATCHES * PER_BATCH;
	printf("query-status round trip, %d each, alternating batches of %d:\n", n, PER_BATCH);
	printf("  raw socket client  %8.1f us\n", t_raw / n * 1e6);
	printf("  libqkit            %8.1f us\n", t_qkit / n * 1e6);
	printf("  ratio qkit/raw     %8.3f  (target: within 1.02)\n", t_qkit / t_raw);

	qk_qmp_free(qmp);
	close(raw);
	kill(qemu, SIGKILL);
	waitpid(qemu, NULL, 0);
	unlink(a);
	unlink(b);
	rmdir(dir);
	return 0;
}
