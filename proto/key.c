/*
 * key.c: signer and verifier key files.
 *
 * A key file is one key string and a newline.  The private one is the log's
 * whole identity, so it is handled like signify and ssh handle theirs:
 * created 0600 under a temporary name with O_EXCL, fsynced, then linked into
 * place only if nothing is there yet (an existing key is never replaced, not
 * even by a crash halfway through), and the directory is fsynced so the name
 * survives a power cut.  Reading refuses anything but a small regular file,
 * and for private keys anything group or others could read or write.
 * Symlinks are followed (secret managers such as agenix and sops-nix make
 * them), but every check is on the file actually opened, via fstat.  Every
 * buffer that held key text is wiped before it goes out of scope.
 */
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Read the key file at path into buf (KEY_FILE_MAX + 1 bytes) and set *len
 * to the length of its one line, without the optional final '\n'. */
static int
key_file_read(const char *path, bool secret, char *buf, size_t *len, char *why)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	*len = 0;
	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "key file path is empty");
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before we can
	 * see that it is not a regular file. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0) {
		rc = errno;
		return cl_why(why, rc, "cannot open key file %s: %s", path, strerror(rc));
	}
	if (fstat(fd, &st) != 0) {
		rc = errno;
		cl_why(why, rc, "cannot stat key file %s: %s", path, strerror(rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cl_why(why, CL_EINVAL, "key file %s is not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		rc = cl_why(why, CL_EKEYPERM,
		    "key file %s is %s by group or others (mode %04o); chmod 600 it", path,
		    (st.st_mode & 044) != 0       ? "readable"
		        : (st.st_mode & 022) != 0 ? "writable"
		                                  : "executable",
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > KEY_FILE_MAX) {
		rc = cl_why(why, CL_ETOOBIG, "key file %s is %jd bytes, more than %d", path,
		    (intmax_t)st.st_size, KEY_FILE_MAX);
		goto out;
	}
	/* The file may have grown since fstat: read one byte past the cap. */
	while (n <= KEY_FILE_MAX) {
		r = read(fd, buf + n, KEY_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno;
			cl_why(why, rc, "cannot read key file %s: %s", path, strerror(rc));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > KEY_FILE_MAX) {
		rc = cl_why(
		    why, CL_ETOOBIG, "key file %s is more than %d bytes", path, KEY_FILE_MAX);
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n == 0) {
		rc = cl_why(why, CL_EINVAL, "key file %s is empty", path);
		goto out;
	}
	if (memchr(buf, '\n', n) != NULL) {
		rc = cl_why(why, CL_EINVAL, "key file %s holds more than one line", path);
		goto out;
	}
	*len = n;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Make the file `path` hold data[0..len) with the given mode, if and only
 * if path does not exist yet. */
static int
key_file_write(const char *path, const char *data, size_t len, mode_t mode, char *why)
{
	char tmp[PATH_MAX], dir[PATH_MAX], rnd_hex[17];
	uint8_t rnd[8];
	const char *slash;
	struct stat st;
	size_t off = 0;
	ssize_t w;
	int fd = -1, dfd = -1, rc, n;
	bool have_tmp = false;

	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "key file path is empty");
	slash = strrchr(path, '/');
	if (slash != NULL && slash[1] == '\0')
		return cl_why(why, CL_EINVAL, "key file path %s names a directory", path);
	if (slash == NULL)
		n = snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		n = snprintf(dir, sizeof dir, "/");
	else
		n = snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	randombytes_buf(rnd, sizeof rnd);
	cl_hex_encode(rnd, sizeof rnd, rnd_hex);
	if (n < 0 || (size_t)n >= sizeof dir ||
	    (n = snprintf(tmp, sizeof tmp, "%s.%s.tmp", path, rnd_hex)) < 0 ||
	    (size_t)n >= sizeof tmp)
		return cl_why(why, ENAMETOOLONG, "key file path %s is too long", path);

	/* Fail early, before any secret touches the disk; link() below is
	 * what makes the no-overwrite rule atomic. */
	if (lstat(path, &st) == 0)
		return cl_why(why, EEXIST, "key file %s already exists; not overwriting it", path);
	if (errno != ENOENT) {
		rc = errno;
		return cl_why(why, rc, "cannot stat %s: %s", path, strerror(rc));
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = errno;
		return cl_why(why, rc, "cannot create %s: %s", tmp, strerror(rc));
	}
	have_tmp = true;
	/* Exactly `mode`, whatever the umask. */
	if (fchmod(fd, mode) != 0) {
		rc = errno;
		cl_why(why, rc, "cannot chmod %s: %s", tmp, strerror(rc));
		goto out;
	}
	while (off < len) {
		w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = errno;
			cl_why(why, rc, "cannot write %s: %s", tmp, strerror(rc));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = errno;
		cl_why(why, rc, "cannot fsync %s: %s", tmp, strerror(rc));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = errno;
		cl_why(why, rc, "cannot close %s: %s", tmp, strerror(rc));
		goto out;
	}
	if (link(tmp, path) != 0) {
		rc = errno;
		if (rc == EEXIST) {
			cl_why(why, rc, "key file %s already exists; not overwriting it", path);
			goto out;
		}
		if (rc != EPERM && rc != EOPNOTSUPP) {
			cl_why(why, rc, "cannot link %s to %s: %s", tmp, path, strerror(rc));
			goto out;
		}
		/* No hard links on this file system: rename, after one more
		 * look (a narrow race, only where link() is unsupported). */
		if (lstat(path, &st) == 0) {
			rc = cl_why(
			    why, EEXIST, "key file %s already exists; not overwriting it", path);
			goto out;
		}
		if (rename(tmp, path) != 0) {
			rc = errno;
			cl_why(why, rc, "cannot rename %s to %s: %s", tmp, path, strerror(rc));
			goto out;
		}
		have_tmp = false;
	}
	if (have_tmp) {
		have_tmp = false;
		if (unlink(tmp) != 0) {
			rc = errno;
			cl_why(why, rc, "key saved as %s, but cannot remove %s: %s", path, tmp,
			    strerror(rc));
			goto out;
		}
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = errno;
		cl_why(why, rc, "cannot open directory %s: %s", dir, strerror(rc));
		goto out;
	}
	/* Some file systems cannot fsync a directory (EINVAL): nothing to do. */
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

int
key_signer_load(const char *path, struct note_signer *s, char *why)
{
	char buf[KEY_FILE_MAX + 1], sub[CL_WHY_MAX];
	size_t n = 0;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = key_file_read(path, true, buf, &n, why)) == 0 &&
	    (rc = note_signer_parse(buf, n, s, sub)) != 0)
		cl_why(why, rc, "key file %s: %s", path, sub);
	sodium_memzero(buf, sizeof buf);
	return rc;
}

int
key_signer_save(const char *path, const struct note_signer *s, char *why)
{
	char buf[NOTE_SKEY_MAX + 1];
	size_t n;
	int rc;

	if ((n = note_signer_format(s, buf, NOTE_SKEY_MAX)) == 0) {
		rc = cl_why(why, CL_EINVAL, "signer key is not valid");
		goto out;
	}
	buf[n++] = '\n';
	rc = key_file_write(path, buf, n, 0600, why);
out:
	sodium_memzero(buf, sizeof buf);
	return rc;
}

int
key_verifier_load(const char *path, struct note_verifier *v, char *why)
{
	char buf[KEY_FILE_MAX + 1], sub[CL_WHY_MAX];
	size_t n = 0;
	int rc;

	memset(v, 0, sizeof *v);
	if ((rc = key_file_read(path, false, buf, &n, why)) == 0 &&
	    (rc = note_verifier_parse(buf, n, v, sub)) != 0)
		cl_why(why, rc, "key file %s: %s", path, sub);
	return rc;
}

int
key_verifier_save(const char *path, const struct note_verifier *v, char *why)
{
	char buf[NOTE_VKEY_MAX + 1];
	size_t n;

	if ((n = note_verifier_format(v, buf, NOTE_VKEY_MAX)) == 0)
		return cl_why(why, CL_EINVAL, "verifier key is not valid");
	buf[n++] = '\n';
	return key_file_write(path, buf, n, 0644, why);
}

int
key_verifier_arg(const char *arg, struct note_verifier *v, char *why)
{
	char sub[CL_WHY_MAX];
	int rc, prc;

	memset(v, 0, sizeof *v);
	if (arg == NULL || *arg == '\0')
		return cl_why(why, CL_EINVAL, "verifier key argument is empty");
	if ((prc = note_verifier_parse(arg, strlen(arg), v, sub)) == 0)
		return 0;
	rc = key_verifier_load(arg, v, why);
	/* No such file, but it looks like a key string: the key string's
	 * fault is the more useful reason. */
	if (rc == ENOENT && strchr(arg, '+') != NULL)
		return cl_why(
		    why, prc, "%.100s is not a usable verifier key (%s) nor a file", arg, sub);
	return rc;
}
