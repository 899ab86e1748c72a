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

int
cl_file_write(const char *path, const void *buf, size_t len, mode_t mode, unsigned flags, char *why)
{
	char tmp[PATH_MAX], dir[PATH_MAX], rnd_hex[17];
	uint8_t rnd[8];
	struct stat st;
	int fd = -1, dfd = -1, rc, n;
	bool have_tmp = false;

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
	randombytes_buf(rnd, sizeof rnd);
	cl_hex_encode(rnd, sizeof rnd, rnd_hex);
	if ((n = snprintf(tmp, sizeof tmp, "%s.tmp.%s", path, rnd_hex)) < 0 ||
	    (size_t)n >= sizeof tmp)
		return cl_why(why, ENAMETOOLONG, "%s: path too long", path);
	/* Fail early, before any data touches the disk; link() is what makes
	 * the no-overwrite rule atomic. */
	if ((flags & CL_FILE_EXCL) && lstat(path, &st) == 0)
		return cl_why(why, EEXIST, "%s already exists; not overwriting it", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = errno;
		return cl_why(why, rc, "cannot create %s: %s", tmp, strerror(rc));
	}
	have_tmp = true;
	/* Exactly `mode`, whatever the umask. */
	if (fchmod(fd, mode) != 0 || (rc = write_all(fd, buf, len)) != 0 || fsync(fd) != 0) {
		rc = rc != 0 ? rc : errno;
		cl_why(why, rc, "cannot write %s: %s", tmp, strerror(rc));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = errno;
		cl_why(why, rc, "cannot write %s: %s", tmp, strerror(rc));
		goto out;
	}
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
	/* Make the new name durable.  Some file systems cannot fsync a
	 * directory (EINVAL): nothing to do there. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = errno;
		cl_why(why, rc, "cannot open directory %s: %s", dir, strerror(rc));
		goto out;
	}
	if (fsync(dfd) != 0 && errno != EINVAL) {
		rc = errno;
		cl_why(why, rc, "cannot fsync directory %s: %s", dir, strerror(rc));
		goto out;
	}
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (fd >= 0)
		close(fd);
	if (have_tmp)
		unlink(tmp);
	return rc;
}
