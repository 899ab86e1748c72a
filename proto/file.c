/*
 * file.c: the capped reader and the durable writer (file.h).
 *
 * Regular files are read into a buffer sized from fstat, never grown, so
 * that a secret is held in one place and wiped by its owner; only a stream
 * (a pipe, stdin) grows its buffer, up to the cap.  Every check is on the
 * file actually opened (fstat), so that symlinks, which secret managers
 * make, are followed but judged by what they point to.  The writer's
 * temporary names carry random bytes, so that a stale one never blocks a
 * write and two writers never share one.
 */
#define _GNU_SOURCE /* syncfs */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Read fd to the end into b[*n..room); returns 0 or errno. */
static int
read_to(int fd, uint8_t *b, size_t room, size_t *n)
{
	while (*n < room) {
		ssize_t r = read(fd, b + *n, room - *n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

/* A stream: grow the buffer, never past cap + 1 bytes of data. */
static int
read_stream(int fd, const char *path, size_t cap, uint8_t **buf, size_t *len, char *why)
{
	uint8_t *b = NULL;
	size_t n = 0, room = 0;
	int rc;

	for (;;) {
		uint8_t *t;

		room = room ? 2 * room : 65536;
		if (room > cap + 1)
			room = cap + 1;
		if ((t = realloc(b, room + 1)) == NULL) {
			free(b);
			return cl_why(why, ENOMEM, "%s: out of memory", path);
		}
		b = t;
		if ((rc = read_to(fd, b, room, &n)) != 0) {
			free(b);
			return cl_why(why, rc, "%s: %s", path, strerror(rc));
		}
		if (n > cap) {
			free(b);
			return cl_why(why, CL_ETOOBIG, "%s: larger than %zu bytes", path, cap);
		}
		if (n < room)
			break; /* the end of the stream */
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int
cl_file_read(const char *path, size_t cap, unsigned flags, uint8_t **buf, size_t *len, char *why)
{
	struct stat st;
	uint8_t *b = NULL;
	size_t n = 0, room = 0;
	bool stream = (flags & CL_FILE_STREAM) != 0;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "the file name is empty");
	if (stream && strcmp(path, "-") == 0)
		return read_stream(STDIN_FILENO, "standard input", cap, buf, len, why);
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before we can
	 * see that it is not a regular file. */
	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | (stream ? 0 : O_NONBLOCK))) < 0) {
		rc = errno;
		return cl_why(why, rc, "%s: %s", path, strerror(rc));
	}
	if (fstat(fd, &st) != 0) {
		rc = errno;
		cl_why(why, rc, "%s: %s", path, strerror(rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !stream) {
		rc = cl_why(why, CL_EINVAL, "%s is not a regular file", path);
		goto out;
	}
	if ((flags & CL_FILE_SECRET) && (st.st_mode & 077) != 0) {
		rc = cl_why(why, CL_EKEYPERM,
		    "%s is %s by group or others (mode %04o); chmod 600 it", path,
		    (st.st_mode & 044) != 0       ? "readable"
		        : (st.st_mode & 022) != 0 ? "writable"
		                                  : "executable",
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = read_stream(fd, path, cap, buf, len, why);
		goto out;
	}
	if ((uintmax_t)st.st_size > cap) {
		rc = cl_why(why, CL_ETOOBIG, "%s is %jd bytes, larger than %zu", path,
		    (intmax_t)st.st_size, cap);
		goto out;
	}
	/* One byte past what fstat saw tells a file that grew since. */
	room = (size_t)st.st_size + 1;
	if ((b = malloc(room + 1)) == NULL) {
		rc = cl_why(why, ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if ((rc = read_to(fd, b, room, &n)) != 0) {
		cl_why(why, rc, "%s: %s", path, strerror(rc));
		goto out;
	}
	if (n == room) {
		rc = cl_why(
		    why, n > cap ? CL_ETOOBIG : CL_EINVAL, "%s changed while it was read", path);
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	rc = 0;
out:
	if (b != NULL) {
		sodium_memzero(b, room + 1);
		free(b);
	}
	close(fd);
	return rc;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define NOT_REPLACED "%s is not a regular file; not replacing it"

/* Whether path is, or leads to, a device, a FIFO or a socket: what the
 * writer never renames over (`-o /dev/null` would make /dev/null a regular
 * file for everyone). */
static bool
is_special(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* Write buf[0..len) into the device, FIFO or socket at path, as a shell
 * redirection would: no temporary file, no rename (which would put a
 * regular file where the device was), no truncation.  Refuses a path that
 * has become a regular file since the caller looked. */
static int
special_write(const char *path, const void *buf, size_t len, char *why)
{
	struct stat st;
	int fd, rc;

	if ((fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)) < 0) {
		rc = errno;
		return cl_why(why, rc, "%s: %s", path, strerror(rc));
	}
	if (fstat(fd, &st) != 0)
		rc = cl_why(why, errno, "%s: %s", path, strerror(errno));
	else if (S_ISREG(st.st_mode))
		rc = cl_why(why, CL_EINVAL, "%s changed while it was written", path);
	else if ((rc = write_all(fd, buf, len)) != 0)
		cl_why(why, rc, "%s: %s", path, strerror(rc));
	if (close(fd) != 0 && rc == 0)
		rc = cl_why(why, errno, "%s: %s", path, strerror(errno));
	return rc;
}

/* The directory path is in, into dir; 0 or ENAMETOOLONG / CL_EINVAL. */
static int
dir_of(const char *path, char dir[PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash != NULL && slash[1] == '\0')
		return CL_EINVAL;
	if (slash == NULL)
		n = snprintf(dir, PATH_MAX, ".");
	else if (slash == path)
		n = snprintf(dir, PATH_MAX, "/");
	else
		n = snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
	return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

/* Put the written temporary file tmp in place at path. */
static int
place(const char *tmp, const char *path, unsigned flags, bool *have_tmp, char *why)
{
	struct stat st;
	int rc;

	if (!(flags & CL_FILE_EXCL)) {
		if (rename(tmp, path) != 0) {
			rc = errno;
			return cl_why(
			    why, rc, "cannot rename %s to %s: %s", tmp, path, strerror(rc));
		}
		*have_tmp = false;
		return 0;
	}
	if (link(tmp, path) == 0)
		return 0;
	rc = errno;
	if (rc == EEXIST)
		return cl_why(why, rc, "%s already exists; not overwriting it", path);
	if (rc != EPERM && rc != EOPNOTSUPP)
		return cl_why(why, rc, "cannot link %s to %s: %s", tmp, path, strerror(rc));
	/* No hard links on this file system: rename, after one more look (a
	 * narrow race, only where link() is unsupported). */
	if (lstat(path, &st) == 0)
		return cl_why(why, EEXIST, "%s already exists; not overwriting it", path);
	if (rename(tmp, path) != 0) {
		rc = errno;
		return cl_why(why, rc, "cannot rename %s to %s: %s", tmp, path, strerror(rc));
	}
	*have_tmp = false;
	return 0;
}

/* A fresh random suffix for a temporary name (16 hex digits). */
static void
tmp_suffix(char sfx[17])
{
	uint8_t rnd[8];

	randombytes_buf(rnd, sizeof rnd);
	cl_hex_encode(rnd, sizeof rnd, sfx);
}

/* The temporary name beside path with suffix sfx, into tmp; 0 or
 * ENAMETOOLONG. */
static int
tmp_name(const char *path, const char *sfx, char tmp[PATH_MAX])
{
	int n = snprintf(tmp, PATH_MAX, "%s.tmp.%s", path, sfx);

	return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

/* Write buf[0..len) with exactly `mode` to the temporary name beside path
 * with suffix sfx, into tmp, fsync'd when sync says so.  On failure
 * nothing is left behind and why names the file. */
static int
tmp_write(const char *path, const void *buf, size_t len, mode_t mode, bool sync, const char *sfx,
    char tmp[PATH_MAX], char *why)
{
	int fd, rc = 0;

	if (tmp_name(path, sfx, tmp) != 0)
		return cl_why(why, ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = errno;
		return cl_why(why, rc, "cannot create %s: %s", tmp, strerror(rc));
	}
	/* Exactly `mode`, whatever the umask. */
	if (fchmod(fd, mode) != 0 || (rc = write_all(fd, buf, len)) != 0 ||
	    (sync && fsync(fd) != 0))
		rc = rc != 0 ? rc : errno;
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	if (rc != 0) {
		cl_why(why, rc, "cannot write %s: %s", tmp, strerror(rc));
		unlink(tmp);
	}
	return rc;
}

/* Make directory entries made in dfd durable; 0 or errno.  Some file
 * systems cannot fsync a directory (EINVAL): nothing to do there. */
static int
dir_sync(int dfd)
{
	return fsync(dfd) != 0 && errno != EINVAL ? errno : 0;
}

/* Open directory dir into *dfd; 0 or errno, with why. */
static int
dir_open(const char *dir, int *dfd, char *why)
{
	int rc;

	if ((*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		return 0;
	rc = errno;
	return cl_why(why, rc, "cannot open directory %s: %s", dir, strerror(rc));
}

int
cl_file_write(const char *path, const void *buf, size_t len, mode_t mode, unsigned flags, char *why)
{
	char tmp[PATH_MAX], dir[PATH_MAX], sfx[17];
	struct stat st;
	int dfd, rc;
	bool have_tmp;

	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "the file name is empty");
	if ((flags & CL_FILE_STREAM) && strcmp(path, "-") == 0) {
		if ((rc = write_all(STDOUT_FILENO, buf, len)) != 0)
			return cl_why(why, rc, "standard output: %s", strerror(rc));
		return 0;
	}
	if ((rc = dir_of(path, dir)) != 0)
		return cl_why(why, rc, "%s: %s", path,
		    rc == CL_EINVAL ? "names a directory" : "path too long");
	/* Fail early, before any data touches the disk; link() is what makes
	 * the no-overwrite rule atomic. */
	if ((flags & CL_FILE_EXCL) && lstat(path, &st) == 0)
		return cl_why(why, EEXIST, "%s already exists; not overwriting it", path);
	/* A stream is written into a device, FIFO or socket (or a symlink to
	 * one, as /dev/stdout is); anything else refuses it. */
	if (is_special(path))
		return (flags & CL_FILE_STREAM) ? special_write(path, buf, len, why)
		                                : cl_why(why, CL_EINVAL, NOT_REPLACED, path);
	tmp_suffix(sfx);
	if ((rc = tmp_write(path, buf, len, mode, true, sfx, tmp, why)) != 0)
		return rc;
	have_tmp = true;
	if ((rc = place(tmp, path, flags, &have_tmp, why)) != 0)
		goto out;
	if (have_tmp) {
		have_tmp = false;
		if (unlink(tmp) != 0) {
			rc = errno;
			cl_why(why, rc, "%s written, but cannot remove %s: %s", path, tmp,
			    strerror(rc));
			goto out;
		}
	}
	if ((rc = dir_open(dir, &dfd, why)) != 0)
		return rc;
	if ((rc = dir_sync(dfd)) != 0)
		cl_why(why, rc, "%s: cannot fsync its directory: %s", path, strerror(rc));
	close(dfd);
out:
	if (have_tmp)
		unlink(tmp);
	return rc;
}

/* Write files[0..n), all in one directory (open as dfd), as cl_file_write
 * without flags would, with one flush of the file system for all their
 * data and one of the directory for all their names. */
static void
write_group(struct cl_file_out *files, size_t n, mode_t mode, int dfd)
{
	/* The temporary names are rebuilt from their suffixes when needed:
	 * a batch may hold 10^5 files. */
	char(*sfx)[17] = malloc(n * sizeof *sfx), tmp[PATH_MAX];
	int rc = 0;

	if (sfx == NULL) {
		for (size_t i = 0; i < n; i++)
			files[i].rc =
			    cl_why(files[i].why, ENOMEM, "%s: out of memory", files[i].path);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		tmp_suffix(sfx[i]);
		if (is_special(files[i].path))
			files[i].rc = cl_why(files[i].why, CL_EINVAL, NOT_REPLACED, files[i].path);
		else
			files[i].rc = tmp_write(files[i].path, files[i].buf, files[i].len, mode,
			    false, sfx[i], tmp, files[i].why);
	}
	/* dfd was opened before the data was written, so syncfs reports any
	 * write-back error since. */
	if (syncfs(dfd) != 0)
		rc = errno;
	for (size_t i = 0; i < n; i++) {
		if (files[i].rc != 0)
			continue;
		tmp_name(files[i].path, sfx[i], tmp); /* it fitted when written */
		if (rc != 0) {
			files[i].rc = cl_why(files[i].why, rc,
			    "%s: cannot flush its file system: %s", files[i].path, strerror(rc));
			unlink(tmp);
		} else if (rename(tmp, files[i].path) != 0) {
			files[i].rc = errno;
			cl_why(files[i].why, files[i].rc, "cannot rename %s to %s: %s", tmp,
			    files[i].path, strerror(files[i].rc));
			unlink(tmp);
		}
	}
	/* Renamed but not durable: reported as failed all the same. */
	if (rc == 0 && (rc = dir_sync(dfd)) != 0) {
		for (size_t i = 0; i < n; i++) {
			if (files[i].rc == 0)
				files[i].rc =
				    cl_why(files[i].why, rc, "%s: cannot fsync its directory: %s",
				        files[i].path, strerror(rc));
		}
	}
	free(sfx);
}

int
cl_file_write_many(struct cl_file_out *files, size_t n, mode_t mode)
{
	int worst = 0;

	for (size_t i = 0, j; i < n; i = j) {
		char dir[PATH_MAX], next[PATH_MAX];
		int rc = files[i].path == NULL || *files[i].path == '\0'
		    ? CL_EINVAL
		    : dir_of(files[i].path, dir);
		int dfd;

		j = i + 1;
		if (rc != 0) {
			files[i].rc = cl_why(files[i].why, rc, "%s: %s",
			    files[i].path != NULL ? files[i].path : "",
			    rc == CL_EINVAL ? "not a file name" : "path too long");
			worst = worst != 0 ? worst : rc;
			continue;
		}
		while (j < n && files[j].path != NULL && *files[j].path != '\0' &&
		    dir_of(files[j].path, next) == 0 && strcmp(next, dir) == 0)
			j++;
		if ((rc = dir_open(dir, &dfd, NULL)) != 0) {
			for (size_t k = i; k < j; k++)
				files[k].rc =
				    cl_why(files[k].why, rc, "%s: cannot open its directory: %s",
				        files[k].path, strerror(rc));
		} else {
			write_group(files + i, j - i, mode, dfd);
			close(dfd);
		}
		for (size_t k = i; k < j && worst == 0; k++)
			worst = files[k].rc;
	}
	return worst;
}
