/*
 * cli.c: messages, file I/O and argument helpers for the closurelog
 * subcommands.
 *
 * Output files are written whole or not at all (temporary file, fsync,
 * rename), so that a bundle or a state file is never half-written when a
 * command is interrupted.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"
#include "http.h"
#include "key.h"
#include "wire.h"

const char *cli_command = "";

int
cli_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "closurelog %s: ", cli_command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "closurelog %s: warning: ", cli_command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_read_file(const char *path, size_t cap, uint8_t **buf, size_t *len, char *why)
{
	uint8_t *b = NULL;
	size_t n = 0, room = 0;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_why(why, errno, "%s: %s", path, strerror(errno));
	for (;;) {
		ssize_t got;

		if (n == room) {
			uint8_t *t;

			/* Never more than cap + 1: one byte past cap tells "too big". */
			room = room ? 2 * room : 65536;
			if (room > cap + 1)
				room = cap + 1;
			if ((t = realloc(b, room + 1)) == NULL) {
				rc = cl_why(why, ENOMEM, "%s: out of memory", path);
				break;
			}
			b = t;
		}
		got = read(fd, b + n, room - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = cl_why(why, errno, "%s: %s", path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > cap) {
			rc = cl_why(why, CL_ETOOBIG, "%s: larger than %zu bytes", path, cap);
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc != 0) {
		free(b);
		return rc;
	}
	if (b == NULL && (b = malloc(1)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
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

/* Make a directory's entries durable (best effort). */
static void
dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
cli_write_file(const char *path, const void *buf, size_t len, mode_t mode, char *why)
{
	char tmp[4096], dir[4096];
	int fd, rc;

	if (strcmp(path, "-") == 0) {
		if ((rc = write_all(STDOUT_FILENO, buf, len)) != 0)
			return cl_why(why, rc, "standard output: %s", strerror(rc));
		return 0;
	}
	/* A fresh name each time: a stale temporary file never blocks us. */
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
		return cl_why(why, ENAMETOOLONG, "%s: path too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return cl_why(why, errno, "%s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) != 0) {
		rc = errno;
		close(fd);
		unlink(tmp);
		return cl_why(why, rc, "%s: %s", tmp, strerror(rc));
	}
	if ((rc = write_all(fd, buf, len)) != 0 || (fsync(fd) != 0 && (rc = errno) != 0)) {
		close(fd);
		unlink(tmp);
		return cl_why(why, rc, "%s: %s", tmp, strerror(rc));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		rc = errno;
		unlink(tmp);
		return cl_why(why, rc, "%s: %s", path, strerror(rc));
	}
	/* Make the rename itself durable. */
	snprintf(dir, sizeof dir, "%s", path);
	dir_sync(dirname(dir));
	return 0;
}

int
cli_write_new(const char *dir, const char *stem, const char *ext, const void *buf, size_t len,
    mode_t mode, char *out, size_t cap, char *why)
{
	char tmp[4096];
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp.XXXXXX", dir, stem) >= sizeof tmp)
		return cl_why(why, ENAMETOOLONG, "%s/%s: path too long", dir, stem);
	if ((fd = mkstemp(tmp)) < 0)
		return cl_why(why, errno, "%s: %s", tmp, strerror(errno));
	if ((fchmod(fd, mode) != 0 && (rc = errno) != 0) || (rc = write_all(fd, buf, len)) != 0 ||
	    (fsync(fd) != 0 && (rc = errno) != 0)) {
		close(fd);
		unlink(tmp);
		return cl_why(why, rc, "%s: %s", tmp, strerror(rc));
	}
	close(fd);
	rc = EEXIST;
	for (int i = 0; i < 1000 && rc == EEXIST; i++) {
		int n = i == 0 ? snprintf(out, cap, "%s/%s%s", dir, stem, ext)
		               : snprintf(out, cap, "%s/%s-%d%s", dir, stem, i, ext);

		if (n < 0 || (size_t)n >= cap)
			rc = ENAMETOOLONG;
		else
			rc = link(tmp, out) == 0 ? 0 : errno;
	}
	if (rc != 0) {
		snprintf(out, cap, "%s", tmp);
		return cl_why(why, rc, "cannot name %s: %s", tmp, strerror(rc));
	}
	unlink(tmp);
	dir_sync(dir);
	return 0;
}

int
cli_u64_arg(const char *opt, const char *arg, uint64_t *v)
{
	if (cl_u64_parse(arg, strlen(arg), v) != 0)
		return cli_fail(CLI_USAGE,
		    "%s: \"%.40s\" is not a decimal number (no sign, no leading zeros, below 2^64)",
		    opt, arg);
	return 0;
}

int
cli_verifier_arg(const char *opt, const char *arg, struct note_verifier *v)
{
	char why[CL_WHY_MAX];

	if (key_verifier_arg(arg, v, why) != 0)
		return cli_fail(CLI_USAGE, "%s: %s", opt, why);
	return 0;
}

int
cli_log_url(const char *arg, char *out, size_t cap)
{
	size_t n = strlen(arg);

	if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
		return cli_fail(CLI_USAGE, "--log: \"%s\" is not an http:// or https:// URL", arg);
	if (n > 0 && arg[n - 1] == '/')
		n--;
	if (n + 1 > cap)
		return cli_fail(CLI_USAGE, "--log: URL too long");
	memcpy(out, arg, n);
	out[n] = '\0';
	return 0;
}

int
cli_checkpoint_open(
    const uint8_t *note, size_t len, const struct note_verifier *key, struct sth *c, char *why)
{
	struct note *n;
	int rc;

	if (key != NULL)
		return sth_open(note, len, key, NULL, c, why);
	if ((n = malloc(sizeof *n)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((rc = note_open(note, len, NULL, 0, n, why)) == 0)
		rc = sth_parse((const char *)note, n->text_len, c, why);
	free(n);
	return rc;
}

int
cli_checkpoint_fetch(const struct cli_http_opts *o, const char *url,
    const struct note_verifier *key, const char *origin, uint8_t **note, size_t *len, struct sth *c,
    char *why)
{
	struct cli_http_resp r = {0};
	char w[CL_WHY_MAX];
	int rc;

	*note = NULL;
	*len = 0;
	if ((rc = cli_http_get(o, url, "checkpoint", CL_CHECKPOINT_MAX, &r, w)) != 0) {
		snprintf(why, CLI_MSG_MAX, "cannot fetch the checkpoint: %s", w);
		return rc;
	}
	rc = key != NULL ? sth_open(r.body, r.len, key, origin, c, w)
	                 : cli_checkpoint_open(r.body, r.len, NULL, c, w);
	if (rc != 0) {
		cli_http_resp_free(&r);
		snprintf(why, CLI_MSG_MAX, "the log's checkpoint does not verify: %s", w);
		return CLI_FAIL;
	}
	*note = r.body;
	*len = r.len;
	return 0;
}

void
cli_progress(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "closurelog %s: ", cli_command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
		if (strcmp(argv[i], "--") == 0)
			break;
	}
	return false;
}
