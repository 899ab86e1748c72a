/*
 * powercut.c: an LD_PRELOAD library for the power-loss and I/O fault tests.
 *
 * Loaded into closurelogd, it watches every file descriptor opened on an
 * LMDB data file (a name ending in ".mdb" but lock.mdb, which holds no
 * durable state; a store of several environments is covered as a whole) and
 * appends to a journal (CL_PC_JOURNAL) one record per write to it, with the
 * bytes written, and one per sync, each naming its file.  The test rebuilds the file "as the disk
 * holds it" from the journal (tests/pcut.h): writes before the last completed
 * fdatasync/fsync, and writes through an O_DSYNC/O_SYNC descriptor, are
 * durable; the others are lost or torn.  LMDB on Linux writes with pwrite,
 * write and writev (after lseek), syncs with fdatasync (fsync and msync only
 * with flags closurelogd does not use; fsync is covered anyway, and a data
 * file mapped writable makes the library refuse to run so a change of
 * LMDB flags cannot silently escape the model).
 *
 * Every record is journalled before the call returns to LMDB, so whatever
 * closurelogd did after a call (answer a client, sign) is ordered after it.
 *
 * Three knobs:
 *   CL_PC_CUT=N         the process kills itself with SIGKILL just before the
 *                       N-th watched call (a power cut at that instant);
 *   CL_PC_CUT_OP=OP     CL_PC_CUT counts only the calls of OP (write, pwrite,
 *                       fdatasync, fsync): a cut just before the N-th sync,
 *                       say, lands between two commits' data flushes;
 *   CL_PC_FAULT=OP:N:E  the N-th call of OP (write, pwrite, fdatasync, fsync;
 *                       "write" counts write and writev) fails with errno E
 *                       without doing anything.  A failed sync is journalled
 *                       ('F' flag): the test then treats every write not yet
 *                       synced as lost for good, which is what Linux may do
 *                       to dirty pages after a writeback error (fsyncgate).
 *
 * It also journals each fsync of a directory, with the path it was opened
 * by, so that tests can see the data directory's entries made durable.
 *
 * Record: struct pc_rec (tests/pcut.h) then, for a write, len bytes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pcut.h"

#define MAX_FD     4096
#define PC_IOV_MAX 1024 /* IOV_MAX on Linux */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char watched[MAX_FD]; /* 0, or 1 + (O_DSYNC fd) */
static uint16_t file_of[MAX_FD];      /* watched descriptor -> file number */
static char *names[PC_FILES_MAX];     /* file number -> path as opened */
static unsigned n_names;
static char *dirs[MAX_FD]; /* directories open, by descriptor */
static int journal = -1;
static long cut_at = -1, calls;
static char cut_op = 0; /* 0: every watched call counts */
static char fault_op = 0;
static long fault_at = -1, fault_calls;
static int fault_errno;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off_t);

static void
die(const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof line, "powercut: %s\n", what);

	if (real_write != NULL && n > 0)
		(void)real_write(2, line, (size_t)n);
	abort();
}

/* ISO C has no conversion from void * to a function pointer; POSIX's
 * dlsym needs one. */
#define LOAD(fn, name)                                                                             \
	do {                                                                                       \
		void *p_ = dlsym(RTLD_NEXT, name);                                                 \
		memcpy(&fn, &p_, sizeof p_);                                                       \
	} while (0)

/* Resolve the libc functions.  A sanitizer's runtime calls some of them
 * (mmap, open...) before constructors run, so every wrapper makes sure
 * first. */
static void
resolve(void)
{
	static bool resolving;

	if (real_open != NULL || resolving)
		return;
	resolving = true;
	LOAD(real_open, "open");
	LOAD(real_open64, "open64");
	LOAD(real_close, "close");
	LOAD(real_write, "write");
	LOAD(real_pwrite, "pwrite");
	LOAD(real_pwrite64, "pwrite64");
	LOAD(real_writev, "writev");
	LOAD(real_fdatasync, "fdatasync");
	LOAD(real_fsync, "fsync");
	LOAD(real_mmap, "mmap");
	LOAD(real_mmap64, "mmap64");
	if (real_open == NULL || real_close == NULL || real_write == NULL || real_pwrite == NULL ||
	    real_writev == NULL || real_fdatasync == NULL || real_fsync == NULL ||
	    real_mmap == NULL)
		die("cannot find the libc functions");
	resolving = false;
}

/* The operation byte for a knob's OP, or 0. */
static char
op_byte(const char *op)
{
	return strcmp(op, "write") == 0    ? PC_OP_WRITE
	    : strcmp(op, "pwrite") == 0    ? PC_OP_PWRITE
	    : strcmp(op, "fdatasync") == 0 ? PC_OP_FDATASYNC
	    : strcmp(op, "fsync") == 0     ? PC_OP_FSYNC
	                                   : 0;
}

__attribute__((constructor)) static void
pc_init(void)
{
	const char *j = getenv("CL_PC_JOURNAL"), *c = getenv("CL_PC_CUT"),
	           *f = getenv("CL_PC_FAULT"), *co = getenv("CL_PC_CUT_OP");

	resolve();
	if (j != NULL && j[0] != '\0' &&
	    (journal = real_open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		die("cannot open the journal");
	if (c != NULL && c[0] != '\0')
		cut_at = strtol(c, NULL, 10);
	if (co != NULL && co[0] != '\0' && (cut_op = op_byte(co)) == 0)
		die("CL_PC_CUT_OP: unknown operation");
	if (f != NULL && f[0] != '\0') {
		char op[16];
		long n;
		int e;

		if (sscanf(f, "%15[a-z]:%ld:%d", op, &n, &e) != 3)
			die("CL_PC_FAULT must be OP:N:ERRNO");
		if ((fault_op = op_byte(op)) == 0)
			die("CL_PC_FAULT: unknown operation");
		fault_at = n;
		fault_errno = e;
	}
}

static int
is_watched(int fd)
{
	return fd >= 0 && fd < MAX_FD && watched[fd] != 0;
}

/* One record for one call: the header, then the len bytes written, taken
 * from the n buffers of data (n may be 0). */
static void
journal_putv(char op, uint8_t flags, uint16_t file, uint64_t off, const struct iovec *data, int n,
    uint64_t len)
{
	struct pc_rec r = {PC_MAGIC, op, flags, file, off, len};
	struct iovec iov[PC_IOV_MAX + 1];
	uint64_t left = len;
	int k = 1;

	if (journal < 0)
		return;
	if (n > PC_IOV_MAX)
		die("too many buffers in one write");
	iov[0] = (struct iovec){&r, sizeof r};
	for (int i = 0; i < n && left > 0; i++) {
		size_t m = data[i].iov_len < left ? data[i].iov_len : (size_t)left;

		iov[k++] = (struct iovec){data[i].iov_base, m};
		left -= m;
	}
	if (real_writev(journal, iov, k) != (ssize_t)(sizeof r + len))
		die("journal write failed");
}

static void
journal_put(char op, uint8_t flags, uint16_t file, uint64_t off, const void *data, uint64_t len)
{
	struct iovec one = {(void *)data, (size_t)len};

	journal_putv(op, flags, file, off, &one, data != NULL ? 1 : 0, len);
}

static void
watch(int fd, const char *path, int flags)
{
	const char *base = strrchr(path, '/');
	size_t n;
	unsigned f;

	if (fd < 0)
		return;
	if (fd >= MAX_FD)
		die("descriptor too large");
	if (flags & O_DIRECTORY) {
		free(dirs[fd]);
		dirs[fd] = strdup(path);
		return;
	}
	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n < 4 || strcmp(base + n - 4, ".mdb") != 0 || strcmp(base, "lock.mdb") == 0)
		return;
	for (f = 0; f < n_names && strcmp(names[f], path) != 0; f++)
		;
	if (f == n_names) {
		if (n_names == PC_FILES_MAX || (names[f] = strdup(path)) == NULL)
			die("too many store files");
		n_names++;
		journal_put(PC_OP_NAME, 0, f, 0, path, strlen(path));
	}
	file_of[fd] = (uint16_t)f;
	watched[fd] = 1 + ((flags & (O_DSYNC | O_SYNC)) != 0);
}

/* Before a watched call: the power cut, or an injected fault.  Returns 0
 * to go on, or -1 with errno set.  Called with mu held. */
static int
before(char op, int fd)
{
	char fam = op == PC_OP_WRITEV ? PC_OP_WRITE : op;

	if (cut_at > 0 && (cut_op == 0 || fam == cut_op) && ++calls >= cut_at)
		kill(getpid(), SIGKILL);
	if (fault_op != 0) {
		if (fam == fault_op && ++fault_calls == fault_at) {
			if (op == PC_OP_FDATASYNC || op == PC_OP_FSYNC)
				journal_put(op, PC_F_FAILED, file_of[fd], 0, NULL, 0);
			errno = fault_errno;
			return -1;
		}
	}
	return 0;
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	resolve();

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	fd = real_open(path, flags, mode);
	pthread_mutex_lock(&mu);
	watch(fd, path, flags);
	pthread_mutex_unlock(&mu);
	return fd;
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	resolve();

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	fd = (real_open64 != NULL ? real_open64 : real_open)(path, flags, mode);
	pthread_mutex_lock(&mu);
	watch(fd, path, flags);
	pthread_mutex_unlock(&mu);
	return fd;
}

int
close(int fd)
{
	resolve();
	pthread_mutex_lock(&mu);
	if (is_watched(fd))
		watched[fd] = 0;
	if (fd >= 0 && fd < MAX_FD) {
		free(dirs[fd]);
		dirs[fd] = NULL;
	}
	pthread_mutex_unlock(&mu);
	return real_close(fd);
}

static ssize_t
do_pwrite(
    ssize_t (*fn)(int, const void *, size_t, off_t), int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r;

	if (!is_watched(fd))
		return fn(fd, buf, n, off);
	pthread_mutex_lock(&mu);
	if (before(PC_OP_PWRITE, fd) != 0) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	r = fn(fd, buf, n, off);
	if (r > 0)
		journal_put(PC_OP_PWRITE, watched[fd] == 2 ? PC_F_DSYNC : 0, file_of[fd],
		    (uint64_t)off, buf, (uint64_t)r);
	pthread_mutex_unlock(&mu);
	return r;
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	resolve();
	return do_pwrite(real_pwrite, fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	resolve();
	return do_pwrite(real_pwrite64 != NULL ? real_pwrite64 : real_pwrite, fd, buf, n, off);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	off_t off;
	ssize_t r;

	resolve();
	if (!is_watched(fd))
		return real_write(fd, buf, n);
	pthread_mutex_lock(&mu);
	if (before(PC_OP_WRITE, fd) != 0) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	r = real_write(fd, buf, n);
	if (r > 0)
		journal_put(PC_OP_WRITE, watched[fd] == 2 ? PC_F_DSYNC : 0, file_of[fd],
		    (uint64_t)off, buf, (uint64_t)r);
	pthread_mutex_unlock(&mu);
	return r;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	off_t off;
	ssize_t r;

	resolve();
	if (!is_watched(fd))
		return real_writev(fd, iov, cnt);
	pthread_mutex_lock(&mu);
	if (before(PC_OP_WRITEV, fd) != 0) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	r = real_writev(fd, iov, cnt);
	if (r > 0)
		journal_putv(PC_OP_WRITE, watched[fd] == 2 ? PC_F_DSYNC : 0, file_of[fd],
		    (uint64_t)off, iov, cnt, (uint64_t)r);
	pthread_mutex_unlock(&mu);
	return r;
}

static int
do_sync(int (*fn)(int), char op, int fd)
{
	int r;

	if (!is_watched(fd))
		return fn(fd);
	pthread_mutex_lock(&mu);
	if (before(op, fd) != 0) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	r = fn(fd);
	if (r == 0)
		journal_put(op, 0, file_of[fd], 0, NULL, 0);
	pthread_mutex_unlock(&mu);
	return r;
}

int
fdatasync(int fd)
{
	resolve();
	return do_sync(real_fdatasync, PC_OP_FDATASYNC, fd);
}

int
fsync(int fd)
{
	resolve();
	if (fd >= 0 && fd < MAX_FD && dirs[fd] != NULL) {
		int r = real_fsync(fd);

		pthread_mutex_lock(&mu);
		if (r == 0 && dirs[fd] != NULL)
			journal_put(PC_OP_DIRSYNC, 0, 0, 0, dirs[fd], strlen(dirs[fd]));
		pthread_mutex_unlock(&mu);
		return r;
	}
	return do_sync(real_fsync, PC_OP_FSYNC, fd);
}

/* A writable shared mapping of data.mdb (MDB_WRITEMAP) would change the file
 * behind the journal's back: refuse rather than give a false pass. */
static void
check_map(int prot, int flags, int fd)
{
	if (is_watched(fd) && (prot & PROT_WRITE) && (flags & MAP_SHARED))
		die("data.mdb mapped writable: the power-cut model does not cover it");
}

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve();
	check_map(prot, flags, fd);
	/* Called while resolving (dlsym may map memory): go to the kernel. */
	if (real_mmap == NULL)
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return real_mmap(addr, len, prot, flags, fd, off);
}

void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve();
	check_map(prot, flags, fd);
	if (real_mmap == NULL)
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return (real_mmap64 != NULL ? real_mmap64 : real_mmap)(addr, len, prot, flags, fd, off);
}
