/* SPDX-License-Identifier: MIT */
/*
 * State directories of detached VMs. Liveness is a lock, not a pid: the
 * supervisor holds an flock on NAME/lock for its whole life, so a VM whose
 * supervisor died (even by SIGKILL) is recognised as stale without pid
 * reuse games. Creating and removing directories happens under a second
 * lock on the vms/ directory, so two `qkit start --name web` never both win.
 */
#include <qkit/state.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

#define STATE_FORMAT 1

struct qk_vm_state {
	char *name;
	char *dir;
	json_t *json;
	pid_t pid;
	pid_t supervisor_pid;
	const char *qmp_socket;     /* borrowed from json */
	const char *console_socket; /* borrowed from json */
	const char *log;            /* borrowed from json */
	char **argv;
	int64_t started;
};

struct qk_state_reservation {
	char *name;
	char *dir;
	int lock_fd;
};

int qk_runtime_dir(char **out, qk_error **err)
{
	const char *env = getenv("QKIT_RUNTIME_DIR");
	char *s = NULL;
	int r;

	if (env && *env)
		r = asprintf(&s, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		r = asprintf(&s, "%s/qkit", env);
	else if (geteuid() == 0)
		r = asprintf(&s, "/run/qkit");
	else
		r = asprintf(&s, "/tmp/qkit-%u", (unsigned)geteuid());
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	*out = s;
	return 0;
}

bool qk_vm_name_valid(const char *name, qk_error **err)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > 64) {
		qk_error_set(err, QK_ERR_INVALID, EINVAL, "name \"%s\": must be 1 to 64 characters",
			     name ? name : "");
		return false;
	}
	if (name[0] == '.' || name[0] == '-') {
		qk_error_set(err, QK_ERR_INVALID, EINVAL, "name \"%s\": must not start with '%c'",
			     name, name[0]);
		return false;
	}
	for (const char *p = name; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-';
		if (!ok) {
			qk_error_set(err, QK_ERR_INVALID, EINVAL,
				     "name \"%s\": '%c' is not allowed (use letters, digits, '_', '.', '-')",
				     name, *p);
			return false;
		}
	}
	return true;
}

/* mkdir that accepts an existing directory, but only a private one of ours. */
static int mkdir_private(const char *path, qk_error **err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "creating %s: %s", path,
				    strerror(errno));
	struct stat st;
	if (lstat(path, &st) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return qk_error_set(err, QK_ERR_SYSTEM, ENOTDIR, "%s: not a directory", path);
	if (st.st_uid != geteuid())
		return qk_error_set(err, QK_ERR_SYSTEM, EPERM,
				    "%s: owned by uid %u, not by us (uid %u)", path,
				    (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 0077) && chmod(path, 0700) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "chmod 0700 %s: %s", path,
				    strerror(errno));
	return 0;
}

/* RUNTIME/vms, created (with RUNTIME) if create is set. */
static int vms_dir(char **out, bool create, qk_error **err)
{
	_cleanup_free_ char *rt = NULL;
	int r = qk_runtime_dir(&rt, err);
	if (r < 0)
		return r;
	if (create) {
		/* Make the parents of RUNTIME (e.g. $XDG_RUNTIME_DIR/qkit's) as needed. */
		char *slash = strrchr(rt, '/');
		if (slash && slash > rt) {
			_cleanup_free_ char *failed = NULL;
			*slash = '\0';
			r = mkdir_p(rt, 0755, &failed);
			*slash = '/';
			if (r < 0)
				return qk_error_set(err, QK_ERR_SYSTEM, -r, "creating %s: %s",
						    failed ? failed : rt, strerror(-r));
		}
		if ((r = mkdir_private(rt, err)) < 0)
			return r;
	}
	char *s = NULL;
	if (asprintf(&s, "%s/vms", rt) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	if (create && (r = mkdir_private(s, err)) < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* The lock that serialises creating and removing VM directories. */
static int lock_vms_dir(const char *vms, qk_error **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/.lock", vms) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "opening %s: %s", path,
				    strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return qk_error_set(err, QK_ERR_SYSTEM, e, "locking %s: %s", path, strerror(e));
	}
	return fd;
}

/* 1 if a supervisor holds dir/lock, 0 if not (stale), negative on error. */
static int vm_dir_live(int vms_fd, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock", name);
	_cleanup_close_ int fd = openat(vms_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0; /* closing fd releases it again */
	return errno == EWOULDBLOCK ? 1 : -errno;
}

/* Remove vms/NAME and the files in it (it has no subdirectories). */
static int remove_vm_dir(int vms_fd, const char *name)
{
	int dfd = openat(vms_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	if (unlinkat(vms_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * Under the vms/ lock, remove vms/NAME if it is stale. Returns 1 if it was
 * removed, 0 if it is live, negative on error.
 */
static int clean_if_stale(const char *vms, int vms_fd, const char *name, qk_error **err)
{
	_cleanup_close_ int lock = lock_vms_dir(vms, err);
	if (lock < 0)
		return lock;
	int live = vm_dir_live(vms_fd, name);
	if (live != 0)
		return live < 0 ? live : 0;
	log_debug("removing stale state of VM \"%s\" (%s/%s)", name, vms, name);
	int r = remove_vm_dir(vms_fd, name);
	if (r < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -r, "removing stale %s/%s: %s", vms, name,
				    strerror(-r));
	return 1;
}

void qk_vm_state_free(qk_vm_state *st)
{
	if (!st)
		return;
	free(st->name);
	free(st->dir);
	if (st->argv)
		for (char **a = st->argv; *a; a++)
			free(*a);
	free(st->argv);
	json_decref(st->json);
	free(st);
}

DEFINE_CLEANUP_FUNC(qk_vm_state, qk_vm_state_free)

static int parse_state(qk_vm_state **out, const char *dir, const char *name, qk_error **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/state.json", dir) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	json_error_t jerr;
	json_t *json = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!json) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return qk_error_set(err, QK_ERR_NOT_FOUND, EAGAIN,
					    "VM \"%s\" is starting (no state.json yet)", name);
		return qk_error_set(err, QK_ERR_PROTOCOL, EBADMSG, "%s:%d: %s", path, jerr.line,
				    jerr.text);
	}
	_cleanup_(qk_vm_state_freep) qk_vm_state *st = calloc(1, sizeof(*st));
	if (!st) {
		json_decref(json);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	st->json = json;
	st->name = strdup(name);
	st->dir = strdup(dir);
	if (!st->name || !st->dir)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");

	json_int_t pid = 0, spid = 0, started = 0;
	json_t *argv = NULL;
	const char *qmp = NULL;
	if (json_unpack_ex(json, &jerr, 0, "{s:I, s:I, s:s, s:o, s:I}", "pid", &pid,
			   "supervisor_pid", &spid, "qmp_socket", &qmp, "argv", &argv, "started",
			   &started) < 0 ||
	    !json_is_array(argv) || pid <= 0 || spid <= 0)
		return qk_error_set(err, QK_ERR_PROTOCOL, EBADMSG, "%s: %s", path,
				    jerr.text[0] ? jerr.text : "bad pid or argv");
	st->pid = (pid_t)pid;
	st->supervisor_pid = (pid_t)spid;
	st->started = started;
	st->qmp_socket = qmp;
	st->console_socket = json_string_value(json_object_get(json, "console_socket"));
	st->log = json_string_value(json_object_get(json, "log"));
	st->argv = calloc(json_array_size(argv) + 1, sizeof(char *));
	if (!st->argv)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(argv, i, v) {
		if (!json_is_string(v))
			return qk_error_set(err, QK_ERR_PROTOCOL, EBADMSG, "%s: argv[%zu] is not a string",
					    path, i);
		if (!(st->argv[i] = strdup(json_string_value(v))))
			return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	*out = TAKE_PTR(st);
	return 0;
}

/* Look at one entry of vms/: its state if live, 0 with *out NULL if stale. */
static int load_entry(qk_vm_state **out, const char *vms, int vms_fd, const char *name,
		      qk_error **err)
{
	*out = NULL;
	int live = vm_dir_live(vms_fd, name);
	if (live < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, -live, "%s/%s/lock: %s", vms, name,
				    strerror(-live));
	if (live == 0) {
		int r = clean_if_stale(vms, vms_fd, name, err);
		if (r < 0)
			return r;
		if (r == 1)
			return 0;
	}
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/%s", vms, name) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	return parse_state(out, dir, name, err);
}

int qk_state_lookup(qk_vm_state **out, const char *name, qk_error **err)
{
	if (!qk_vm_name_valid(name, err))
		return -EINVAL;
	_cleanup_free_ char *vms = NULL;
	int r = vms_dir(&vms, false, err);
	if (r < 0)
		return r;
	_cleanup_close_ int vms_fd = open(vms, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vms_fd < 0 || faccessat(vms_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT, "no VM named \"%s\"", name);
	qk_vm_state *st = NULL;
	if ((r = load_entry(&st, vms, vms_fd, name, err)) < 0)
		return r;
	if (!st)
		return qk_error_set(err, QK_ERR_NOT_FOUND, ENOENT,
				    "no VM named \"%s\" (its stale state was removed)", name);
	*out = st;
	return 0;
}

void qk_vm_state_list_free(qk_vm_state **states, size_t n)
{
	if (!states)
		return;
	for (size_t i = 0; i < n; i++)
		qk_vm_state_free(states[i]);
	free(states);
}

static int compare_state(const void *a, const void *b)
{
	return strcmp((*(qk_vm_state *const *)a)->name, (*(qk_vm_state *const *)b)->name);
}

int qk_state_list(qk_vm_state ***out, size_t *n_out, qk_error **err)
{
	*out = NULL;
	*n_out = 0;
	_cleanup_free_ char *vms = NULL;
	int r = vms_dir(&vms, false, err);
	if (r < 0)
		return r;
	int vms_fd = open(vms, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vms_fd < 0)
		return errno == ENOENT ? 0 : qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", vms,
							  strerror(errno));
	DIR *d = fdopendir(vms_fd);
	if (!d) {
		close(vms_fd);
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", vms, strerror(errno));
	}
	qk_vm_state **list = NULL;
	size_t n = 0;
	struct dirent *de;
	r = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !qk_vm_name_valid(de->d_name, NULL))
			continue;
		qk_vm_state *st = NULL;
		qk_error *e = NULL;
		int lr = load_entry(&st, vms, dirfd(d), de->d_name, &e);
		if (lr == -EAGAIN) { /* starting: not listed yet */
			qk_error_free(e);
			continue;
		}
		if (lr < 0) {
			qk_error_propagate(err, &e);
			r = lr;
			break;
		}
		if (!st)
			continue;
		qk_vm_state **p = realloc(list, (n + 1) * sizeof(*p));
		if (!p) {
			qk_vm_state_free(st);
			r = qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
			break;
		}
		list = p;
		list[n++] = st;
	}
	closedir(d);
	if (r < 0) {
		qk_vm_state_list_free(list, n);
		return r;
	}
	if (n)
		qsort(list, n, sizeof(*list), compare_state);
	*out = list;
	*n_out = n;
	return 0;
}

const char *qk_vm_state_name(const qk_vm_state *st) { return st->name; }
const char *qk_vm_state_dir(const qk_vm_state *st) { return st->dir; }
pid_t qk_vm_state_pid(const qk_vm_state *st) { return st->pid; }
pid_t qk_vm_state_supervisor_pid(const qk_vm_state *st) { return st->supervisor_pid; }
const char *qk_vm_state_qmp_socket(const qk_vm_state *st) { return st->qmp_socket; }
const char *qk_vm_state_console_socket(const qk_vm_state *st) { return st->console_socket; }
const char *qk_vm_state_log(const qk_vm_state *st) { return st->log; }
char *const *qk_vm_state_argv(const qk_vm_state *st) { return st->argv; }
int64_t qk_vm_state_started(const qk_vm_state *st) { return st->started; }
const json_t *qk_vm_state_spec(const qk_vm_state *st) { return json_object_get(st->json, "spec"); }
const json_t *qk_vm_state_json(const qk_vm_state *st) { return st->json; }

void qk_state_reservation_release(qk_state_reservation *r, bool remove)
{
	if (!r)
		return;
	if (remove && r->dir) {
		/* Remove while still holding the VM lock, under the vms/ lock. */
		_cleanup_free_ char *vms = strdup(r->dir);
		char *slash = vms ? strrchr(vms, '/') : NULL;
		if (slash) {
			*slash = '\0';
			_cleanup_close_ int lock = lock_vms_dir(vms, NULL);
			(void)lock; /* held until the end of the block */
			_cleanup_close_ int vms_fd = open(vms, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (vms_fd >= 0)
				remove_vm_dir(vms_fd, r->name);
		}
	}
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->name);
	free(r->dir);
	free(r);
}

/* A reservation that fails half-way removes what it created. */
static void reservation_abort(qk_state_reservation *r)
{
	qk_state_reservation_release(r, true);
}

DEFINE_CLEANUP_FUNC(qk_state_reservation, reservation_abort)

int qk_state_reserve(qk_state_reservation **out, const char *name, qk_error **err)
{
	if (!qk_vm_name_valid(name, err))
		return -EINVAL;
	_cleanup_free_ char *vms = NULL;
	int r = vms_dir(&vms, true, err);
	if (r < 0)
		return r;
	_cleanup_close_ int vms_fd = open(vms, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vms_fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "%s: %s", vms, strerror(errno));
	_cleanup_close_ int lock = lock_vms_dir(vms, err);
	if (lock < 0)
		return lock;

	if (faccessat(vms_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		int live = vm_dir_live(vms_fd, name);
		if (live < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, -live, "%s/%s/lock: %s", vms, name,
					    strerror(-live));
		if (live) {
			_cleanup_free_ char *dir = NULL;
			_cleanup_(qk_vm_state_freep) qk_vm_state *st = NULL;
			if (asprintf(&dir, "%s/%s", vms, name) >= 0 &&
			    parse_state(&st, dir, name, NULL) == 0)
				return qk_error_set(err, QK_ERR_INVALID, EEXIST,
						    "a VM named \"%s\" is already running (pid %d)",
						    name, (int)st->pid);
			return qk_error_set(err, QK_ERR_INVALID, EEXIST,
					    "a VM named \"%s\" is already starting", name);
		}
		log_debug("removing stale state of VM \"%s\" before reusing the name", name);
		if ((r = remove_vm_dir(vms_fd, name)) < 0)
			return qk_error_set(err, QK_ERR_SYSTEM, -r, "removing stale %s/%s: %s", vms,
					    name, strerror(-r));
	}

	_cleanup_(reservation_abortp) qk_state_reservation *res =
		calloc(1, sizeof(*res));
	if (!res)
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	res->lock_fd = -1;
	res->name = strdup(name);
	if (!res->name || asprintf(&res->dir, "%s/%s", vms, name) < 0) {
		res->dir = NULL;
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	if (mkdirat(vms_fd, name, 0700) < 0) {
		int e = errno;
		free(TAKE_PTR(res->dir)); /* not ours: do not remove it */
		return qk_error_set(err, QK_ERR_SYSTEM, e, "creating %s/%s: %s", vms, name,
				    strerror(e));
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock", name);
	res->lock_fd = openat(vms_fd, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (res->lock_fd < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "creating %s/%s: %s", vms, path,
				    strerror(errno));
	if (flock(res->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "locking %s/%s: %s", vms, path,
				    strerror(errno));
	*out = TAKE_PTR(res);
	return 0;
}

const char *qk_state_reservation_dir(const qk_state_reservation *r)
{
	return r->dir;
}

int qk_state_reservation_fd(const qk_state_reservation *r)
{
	return r->lock_fd;
}

int qk_state_reservation_publish(qk_state_reservation *r, const json_t *state, qk_error **err)
{
	static const char *const required[] = { "pid", "supervisor_pid", "qmp_socket", "argv",
						"started" };
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!json_object_get(state, required[i]))
			return qk_error_set(err, QK_ERR_INVALID, EINVAL,
					    "state of VM \"%s\": \"%s\" is missing", r->name,
					    required[i]);
	json_t *copy = json_deep_copy(state);
	if (!copy || json_object_set_new(copy, "name", json_string(r->name)) < 0 ||
	    json_object_set_new(copy, "version", json_integer(STATE_FORMAT)) < 0) {
		json_decref(copy);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	_cleanup_free_ char *tmp = NULL, *path = NULL;
	if (asprintf(&tmp, "%s/.state.json.tmp", r->dir) < 0 ||
	    asprintf(&path, "%s/state.json", r->dir) < 0) {
		json_decref(copy);
		return qk_error_set(err, QK_ERR_SYSTEM, ENOMEM, "out of memory");
	}
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		json_decref(copy);
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "creating %s: %s", tmp, strerror(errno));
	}
	int dr = json_dumpfd(copy, fd, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(copy);
	if (dr < 0 || write(fd, "\n", 1) != 1)
		return qk_error_set(err, QK_ERR_SYSTEM, errno ? errno : EIO, "writing %s: %s", tmp,
				    strerror(errno ? errno : EIO));
	if (rename(tmp, path) < 0)
		return qk_error_set(err, QK_ERR_SYSTEM, errno, "renaming %s to %s: %s", tmp, path,
				    strerror(errno));
	return 0;
}
