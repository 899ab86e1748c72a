/*
 * dirlock.c: the data directory's lock file.
 *
 * flock(2) rather than a pid file alone: the kernel drops the lock when
 * the holder dies, so a crash never leaves a stale lock behind, and the pid
 * in the file is only there to tell the operator who holds it.  The pid is
 * written over the old contents in one pwrite and the file then cut to
 * length, so a reader never sees an empty file while a holder exists for
 * longer than that one call.
 */
#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"

/* The pid in an open lock file, or 0 if it holds none. */
static pid_t
holder_read(int fd)
{
	char buf[24];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return (pid_t)pid;
}

int
dirlock_take(const char *dir, int *fd, pid_t *holder, char *why)
{
	char path[4096], line[24];
	int lfd, n, rc;

	*fd = -1;
	*holder = 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cl_why(
		    why, errno, "cannot create data directory %s: %s", dir, strerror(errno));
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, DIRLOCK_FILE) >= sizeof path)
		return cl_why(why, ENAMETOOLONG, "data directory %s: path too long", dir);
	if ((lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return cl_why(why, errno, "%s: %s", path, strerror(errno));
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno;
		if (rc == EWOULDBLOCK) {
			*holder = holder_read(lfd);
			if (*holder > 0)
				cl_why(why, rc, "data directory %s is in use by pid %ld", dir,
				    (long)*holder);
			else
				cl_why(
				    why, rc, "data directory %s is in use by another process", dir);
		} else
			cl_why(why, rc, "%s: cannot lock: %s", path, strerror(rc));
		close(lfd);
		return rc;
	}
	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (pwrite(lfd, line, (size_t)n, 0) != n || ftruncate(lfd, n) != 0) {
		rc = errno != 0 ? errno : EIO;
		close(lfd);
		return cl_why(why, rc, "%s: %s", path, strerror(rc));
	}
	*fd = lfd;
	return 0;
}
