/*
 * nar.c: NAR serialisation of a tree on disk, streamed through one buffer.
 *
 * The whole NAR goes through one NAR_BUF_SIZE buffer: the framing strings
 * are copied in, and file contents are read() straight into its free
 * space, so a large file costs one read and one sink call per buffer and
 * the hash runs at the speed of SHA-256.  Directories are opened relative
 * to their parent (openat), so depth is not limited by PATH_MAX and a
 * path component swapped for a symlink mid-walk is never followed
 * (O_NOFOLLOW, and the opened node must be the one lstat saw).
 */
#include "nar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define SHOW_MAX 160 /* bytes of a path shown in a reason (its tail) */

struct walk {
	nar_sink_fn sink;
	void *ctx;
	uint8_t *buf;
	size_t len;
	char *target; /* NAR_TARGET_MAX + 1 bytes for readlinkat */
	char *why;
	char shown[SHOW_MAX + 1]; /* the tail of the current path, for reasons */
};

static int
flush(struct walk *w)
{
	int rc;

	if (w->len == 0)
		return 0;
	rc = w->sink(w->ctx, w->buf, w->len);
	w->len = 0;
	return rc;
}

static int
put(struct walk *w, const void *p, size_t n)
{
	const uint8_t *s = p;
	int rc;

	while (n > 0) {
		size_t k = NAR_BUF_SIZE - w->len;

		if (k == 0) {
			if ((rc = flush(w)) != 0)
				return rc;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
	}
	return 0;
}

static int
put_u64(struct walk *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return put(w, b, sizeof b);
}

static int
put_pad(struct walk *w, uint64_t n)
{
	static const uint8_t zero[8];

	return (n % 8) == 0 ? 0 : put(w, zero, 8 - n % 8);
}

/* str(s) = u64le(len) || s || zero padding to a multiple of 8. */
static int
put_str(struct walk *w, const char *s, size_t n)
{
	int rc;

	if ((rc = put_u64(w, n)) != 0 || (rc = put(w, s, n)) != 0)
		return rc;
	return put_pad(w, n);
}

static int
put_tok(struct walk *w, const char *s)
{
	return put_str(w, s, strlen(s));
}

/* Set the shown path (for reasons) to the walk's path at this node. */
static void
show(struct walk *w, const char *parent_shown, const char *name)
{
	char tmp[SHOW_MAX * 2 + 2];
	size_t n;

	if (parent_shown == NULL) {
		n = strlen(name);
		memcpy(
		    tmp, name + (n > SHOW_MAX ? n - SHOW_MAX : 0), (n > SHOW_MAX ? SHOW_MAX : n));
		tmp[n > SHOW_MAX ? SHOW_MAX : n] = '\0';
	} else {
		size_t pn = strlen(parent_shown), nn = strnlen(name, SHOW_MAX);

		memcpy(tmp, parent_shown, pn);
		tmp[pn] = '/';
		memcpy(tmp + pn + 1, name, nn);
		tmp[pn + 1 + nn] = '\0';
	}
	n = strlen(tmp);
	if (n > SHOW_MAX) {
		memcpy(w->shown, "...", 3);
		memcpy(w->shown + 3, tmp + n - (SHOW_MAX - 3), SHOW_MAX - 3 + 1);
	} else {
		memcpy(w->shown, tmp, n + 1);
	}
}

int
nar_name_check(const char *name, size_t len, char *why)
{
	if (len == 0)
		return cl_why(why, CL_EINVAL, "entry name is empty");
	if (len > NAR_NAME_MAX)
		return cl_why(
		    why, CL_ETOOBIG, "entry name is %zu bytes, more than %d", len, NAR_NAME_MAX);
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return cl_why(why, CL_EINVAL, "entry name is \"%.*s\"", (int)len, name);
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/' || name[i] == '\0')
			return cl_why(why, CL_EINVAL, "entry name has a %s at byte %zu",
			    name[i] == '/' ? "'/'" : "NUL", i);
	}
	return 0;
}

int
nar_target_check(const char *target, size_t len, char *why)
{
	if (len == 0)
		return cl_why(why, CL_EINVAL, "symlink target is empty");
	if (len > NAR_TARGET_MAX)
		return cl_why(why, CL_ETOOBIG, "symlink target is %zu bytes, more than %d", len,
		    NAR_TARGET_MAX);
	if (memchr(target, '\0', len) != NULL)
		return cl_why(why, CL_EINVAL, "symlink target has a NUL byte");
	return 0;
}

static int
fs_fail(struct walk *w, int err, const char *what)
{
	return cl_why(w->why, err, "%s: %s: %s", w->shown, what, strerror(err));
}

/* The contents of the regular file dirfd/name, whose lstat is st. */
static int
dump_regular(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct stat fst;
	uint64_t left;
	int fd, rc;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) < 0)
		return fs_fail(w, errno, "open");
	if (fstat(fd, &fst) != 0) {
		rc = fs_fail(w, errno, "fstat");
		goto out;
	}
	if (!S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino || fst.st_dev != st->st_dev) {
		rc = cl_why(w->why, CL_EMISMATCH, "%s: replaced while being read", w->shown);
		goto out;
	}
	if ((rc = put_tok(w, "regular")) != 0)
		goto out;
	if ((fst.st_mode & S_IXUSR) &&
	    ((rc = put_tok(w, "executable")) != 0 || (rc = put_str(w, "", 0)) != 0))
		goto out;
	if ((rc = put_tok(w, "contents")) != 0 || (rc = put_u64(w, (uint64_t)fst.st_size)) != 0)
		goto out;
	for (left = (uint64_t)fst.st_size; left > 0;) {
		size_t room = NAR_BUF_SIZE - w->len;
		ssize_t n;

		if (room == 0) {
			if ((rc = flush(w)) != 0)
				goto out;
			continue;
		}
		if (room > left)
			room = (size_t)left;
		n = read(fd, w->buf + w->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fs_fail(w, errno, "read");
			goto out;
		}
		if (n == 0) {
			rc = cl_why(w->why, CL_EMISMATCH, "%s: shrank while being read", w->shown);
			goto out;
		}
		w->len += (size_t)n;
		left -= (uint64_t)n;
	}
	/* One more byte means the file grew: its NAR would not be this one. */
	{
		uint8_t extra;
		ssize_t n;

		while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
			;
		if (n < 0) {
			rc = fs_fail(w, errno, "read");
			goto out;
		}
		if (n > 0) {
			rc = cl_why(w->why, CL_EMISMATCH, "%s: grew while being read", w->shown);
			goto out;
		}
	}
	rc = put_pad(w, (uint64_t)fst.st_size);
out:
	close(fd);
	return rc;
}

static int
dump_symlink(struct walk *w, int dirfd, const char *name)
{
	ssize_t n;
	int rc;

	n = readlinkat(dirfd, name, w->target, NAR_TARGET_MAX + 1);
	if (n < 0)
		return fs_fail(w, errno, "readlink");
	if ((rc = nar_target_check(w->target, (size_t)n, NULL)) != 0)
		return cl_why(w->why, rc, "%s: symlink target is %s", w->shown,
		    n == 0 ? "empty" : "longer than NAR_TARGET_MAX (4095) bytes");
	if ((rc = put_tok(w, "symlink")) != 0 || (rc = put_tok(w, "target")) != 0)
		return rc;
	return put_str(w, w->target, (size_t)n);
}

static int
name_cmp(const void *a, const void *b)
{
	/* strcmp orders by unsigned bytes, a prefix first: Nix's order. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted entry names of the open directory fd, in one allocation:
 * *names (n pointers) followed by the strings.  Caller frees *names. */
static int
dir_list(struct walk *w, int fd, char ***names, size_t *n)
{
	DIR *d = NULL;
	struct dirent *de;
	char **v = NULL, *pool = NULL;
	size_t cnt = 0, bytes = 0, at;
	int dfd, rc = 0;

	*names = NULL;
	*n = 0;
	/* Two passes over one stream: count, then copy (rewinddir), so that
	 * one allocation of the exact size holds the listing. */
	if ((dfd = dup(fd)) < 0)
		return fs_fail(w, errno, "dup");
	if ((d = fdopendir(dfd)) == NULL) {
		rc = fs_fail(w, errno, "opendir");
		close(dfd);
		return rc;
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		size_t len = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = nar_name_check(de->d_name, len, w->why)) != 0) {
			rc = cl_why(w->why, rc, "%s: an entry name NAR cannot hold", w->shown);
			goto out;
		}
		if (++cnt > NAR_ENTRIES_MAX) {
			rc = cl_why(w->why, CL_ETOOBIG, "%s: more than %u entries", w->shown,
			    NAR_ENTRIES_MAX);
			goto out;
		}
		bytes += len + 1;
	}
	if (errno != 0) {
		rc = fs_fail(w, errno, "readdir");
		goto out;
	}
	if (cnt == 0)
		goto out;
	if ((v = malloc(cnt * sizeof *v + bytes)) == NULL) {
		rc = cl_why(w->why, CL_ENOMEM, "%s: out of memory listing the directory", w->shown);
		goto out;
	}
	pool = (char *)(v + cnt);
	rewinddir(d);
	at = 0;
	*n = 0;
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		size_t len = strlen(de->d_name);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cnt || at + len + 1 > bytes) {
			rc = cl_why(
			    w->why, CL_EMISMATCH, "%s: changed while being listed", w->shown);
			goto out;
		}
		memcpy(pool + at, de->d_name, len + 1);
		v[(*n)++] = pool + at;
		at += len + 1;
	}
	if (errno != 0) {
		rc = fs_fail(w, errno, "readdir");
		goto out;
	}
	if (*n != cnt) {
		rc = cl_why(w->why, CL_EMISMATCH, "%s: changed while being listed", w->shown);
		goto out;
	}
	qsort(v, cnt, sizeof *v, name_cmp);
	*names = v;
	v = NULL;
out:
	if (rc != 0)
		*n = 0;
	free(v);
	closedir(d);
	return rc;
}

static int dump_node(
    struct walk *w, int dirfd, const char *name, const char *parent_shown, unsigned depth);

static int
dump_directory(struct walk *w, int dirfd, const char *name, const struct stat *st, unsigned depth)
{
	char **names = NULL, *here = NULL;
	struct stat fst;
	size_t n = 0;
	int fd, rc;

	if (depth > NAR_DEPTH_MAX)
		return cl_why(w->why, CL_ETOOBIG, "%s: more than %d directory levels", w->shown,
		    NAR_DEPTH_MAX);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fs_fail(w, errno, "open");
	if (fstat(fd, &fst) != 0) {
		rc = fs_fail(w, errno, "fstat");
		goto out;
	}
	if (fst.st_ino != st->st_ino || fst.st_dev != st->st_dev) {
		rc = cl_why(w->why, CL_EMISMATCH, "%s: replaced while being read", w->shown);
		goto out;
	}
	if ((rc = put_tok(w, "directory")) != 0 || (rc = dir_list(w, fd, &names, &n)) != 0)
		goto out;
	/* The children overwrite w->shown; keep this directory's copy. */
	if ((here = strdup(w->shown)) == NULL) {
		rc = cl_why(w->why, CL_ENOMEM, "%s: out of memory", w->shown);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = put_tok(w, "entry")) != 0 || (rc = put_tok(w, "(")) != 0 ||
		    (rc = put_tok(w, "name")) != 0 ||
		    (rc = put_str(w, names[i], strlen(names[i]))) != 0 ||
		    (rc = put_tok(w, "node")) != 0)
			goto out;
		if ((rc = dump_node(w, fd, names[i], here, depth + 1)) != 0)
			goto out;
		if ((rc = put_tok(w, ")")) != 0)
			goto out;
	}
out:
	free(here);
	free(names);
	close(fd);
	return rc;
}

/* obj = "(" "type" ... ")" for dirfd/name (lstat semantics). */
static int
dump_node(struct walk *w, int dirfd, const char *name, const char *parent_shown, unsigned depth)
{
	struct stat st;
	int rc;

	show(w, parent_shown, name);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return fs_fail(w, errno, "lstat");
	if ((rc = put_tok(w, "(")) != 0 || (rc = put_tok(w, "type")) != 0)
		return rc;
	if (S_ISREG(st.st_mode))
		rc = dump_regular(w, dirfd, name, &st);
	else if (S_ISLNK(st.st_mode))
		rc = dump_symlink(w, dirfd, name);
	else if (S_ISDIR(st.st_mode))
		rc = dump_directory(w, dirfd, name, &st, depth);
	else
		return cl_why(w->why, CL_EINVAL, "%s: is a %s, which a NAR cannot hold", w->shown,
		    S_ISSOCK(st.st_mode)                             ? "socket"
		        : S_ISFIFO(st.st_mode)                       ? "FIFO"
		        : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device"
		                                                     : "special file");
	if (rc != 0)
		return rc;
	return put_tok(w, ")");
}

int
nar_dump(const char *path, nar_sink_fn sink, void *ctx, char *why)
{
	struct walk w = {.sink = sink, .ctx = ctx, .why = why};
	int rc;

	if (path == NULL || path[0] == '\0')
		return cl_why(why, CL_EINVAL, "no path given");
	w.buf = malloc(NAR_BUF_SIZE);
	w.target = malloc(NAR_TARGET_MAX + 1);
	if (w.buf == NULL || w.target == NULL) {
		rc = cl_why(why, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = put_tok(&w, "nix-archive-1")) != 0 ||
	    (rc = dump_node(&w, AT_FDCWD, path, NULL, 0)) != 0)
		goto out;
	rc = flush(&w);
out:
	free(w.buf);
	free(w.target);
	return rc;
}

static int
hash_sink(void *ctx, const uint8_t *buf, size_t len)
{
	return crypto_hash_sha256_update(ctx, buf, len) == 0 ? 0 : CL_ECRYPTO;
}

int
nar_hash(const char *path, uint8_t out[NAR_HASH_LEN], char *why)
{
	crypto_hash_sha256_state st;
	int rc;

	memset(out, 0, NAR_HASH_LEN);
	if (crypto_hash_sha256_init(&st) != 0)
		return cl_why(why, CL_ECRYPTO, "SHA-256 cannot be initialised");
	if ((rc = nar_dump(path, hash_sink, &st, why)) != 0) {
		if (rc == CL_ECRYPTO)
			cl_why(why, rc, "SHA-256 failed");
		return rc;
	}
	if (crypto_hash_sha256_final(&st, out) != 0)
		return cl_why(why, CL_ECRYPTO, "SHA-256 failed");
	return 0;
}
