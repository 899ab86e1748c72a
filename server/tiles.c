/*
 * tiles.c: writing full tiles and entry bundles to a directory, once each.
 *
 * Why this shape.  A full tile is immutable, so a file per tile under its
 * C2SP path lets any web server or CDN serve the bulk of a log's reads from
 * disk.  The files are a cache of the store, not a second copy of the log:
 * they are written after the checkpoint that covers them is published
 * (so nothing is visible that no checkpoint covers), each atomically
 * (temporary file, fsync, rename: a file either is complete or is not
 * there), and nothing is lost if one is missing, since the web server then
 * asks closurelogd.  `done` remembers how far everything is written; a
 * failure leaves it where it was, and the next call tries again, skipping
 * the files that exist.
 */
#include "tiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"
#include "tile.h"

#define LEVELS 8 /* the store keeps tiles of levels 0..7 (2^64 leaves) */

struct tiles {
	int dirfd;
	uint64_t done; /* every full tile of the tree of `done` leaves is on disk */
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int
buf_put(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;

	if (len > b->cap - b->len) {
		size_t cap = b->cap == 0 ? 65536 : b->cap;
		uint8_t *p;

		while (cap - b->len < len)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

int
tiles_bundle(struct st_reader *r, uint64_t index, unsigned width,
    int (*put)(void *ctx, const void *data, size_t len), void *ctx)
{
	/* A full bundle is stored in this very form: one piece. */
	if (width == MT_TILE_WIDTH) {
		const uint8_t *data;
		size_t len;
		int rc = st_bundle_get(r, index, &data, &len);

		if (rc != ST_ENOTFOUND)
			return rc != 0 ? rc : put(ctx, data, len);
	}
	for (unsigned j = 0; j < width; j++) {
		const uint8_t *data;
		size_t len;
		uint8_t be[2];
		int rc;

		if ((rc = st_entry_get(r, index * MT_TILE_WIDTH + j, &data, &len)) != 0)
			return rc;
		if (len > 65535)
			return CL_ETOOBIG;
		be[0] = (uint8_t)(len >> 8);
		be[1] = (uint8_t)len;
		if ((rc = put(ctx, be, 2)) != 0 || (rc = put(ctx, data, len)) != 0)
			return rc;
	}
	return 0;
}

int
tiles_open(const char *dir, struct tiles **out, char *why)
{
	struct tiles *t;
	bool made;
	int rc;

	*out = NULL;
	if (!(made = mkdir(dir, 0755) == 0) && errno != EEXIST)
		return cl_why(why, errno, "%s: %s", dir, strerror(errno));
	if ((t = calloc(1, sizeof *t)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = errno;
		free(t);
		return cl_why(why, rc, "%s: %s", dir, strerror(rc));
	}
	/* One we made gets 0755 whatever the umask, as its subdirectories do;
	 * one that was there keeps the mode its owner gave it. */
	if (made && fchmod(t->dirfd, 0755) != 0) {
		rc = errno;
		tiles_close(t);
		return cl_why(why, rc, "%s: %s", dir, strerror(rc));
	}
	*out = t;
	return 0;
}

void
tiles_close(struct tiles *t)
{
	if (t == NULL)
		return;
	close(t->dirfd);
	free(t);
}

/* Make every directory above path (relative to dirfd), mode 0755. */
static int
parents_make(int dirfd, const char *path)
{
	char p[MT_TILE_PATH_MAX];

	memcpy(p, path, strlen(path) + 1);
	for (char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dirfd, p, 0755) == 0) {
			if (fchmodat(dirfd, p, 0755, 0) != 0) /* whatever the umask */
				return errno;
		} else if (errno != EEXIST) {
			return errno;
		}
		*s = '/';
	}
	return 0;
}

/* Write data to path (relative to dirfd) atomically, unless it exists. */
static int
file_put(int dirfd, const char *path, const uint8_t *data, size_t len)
{
	char tmp[MT_TILE_PATH_MAX + 8];
	struct stat st;
	size_t off = 0;
	int fd, rc;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return errno;
	if ((rc = parents_make(dirfd, path)) != 0)
		return rc;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno;
	rc = fchmod(fd, 0644) != 0 ? errno : 0;
	while (rc == 0 && off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno != EINTR)
			rc = errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, path) != 0)
		rc = errno;
	if (rc != 0)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

int
tiles_write(struct tiles *t, struct st *st, uint64_t size, char *why)
{
	struct st_reader *r = NULL;
	struct buf b = {NULL, 0, 0};
	char path[MT_TILE_PATH_MAX];
	int rc;

	if (size <= t->done)
		return 0;
	if ((rc = st_reader_new(st, &r)) != 0 || (rc = st_reader_begin(r)) != 0) {
		cl_why(why, rc, "tiles: store: %s", st_strerror(rc));
		goto out;
	}
	/* Entry bundles, then hash tiles level by level. */
	for (uint64_t i = t->done >> 8; i < size >> 8; i++) {
		struct mt_tile tl = {i, MT_TILE_WIDTH, 0, true};

		b.len = 0;
		if ((rc = mt_tile_path(&tl, path)) != 0 ||
		    (rc = tiles_bundle(r, i, MT_TILE_WIDTH, buf_put, &b)) != 0 ||
		    (rc = file_put(t->dirfd, path, b.p, b.len)) != 0) {
			cl_why(why, rc, "tiles: %s: %s", path, st_strerror(rc));
			goto out;
		}
	}
	/* A tile of level lv is full once 256^(lv + 1) leaves are in: at
	 * level 7 that would be 2^64, which a uint64 size never reaches. */
	for (unsigned lv = 0; lv + 1 < LEVELS; lv++) {
		unsigned shift = 8 * (lv + 1);

		for (uint64_t i = t->done >> shift; i < size >> shift; i++) {
			struct mt_tile tl = {i, MT_TILE_WIDTH, (uint8_t)lv, false};
			const uint8_t *data;

			if ((rc = mt_tile_path(&tl, path)) != 0 ||
			    (rc = st_tile_get(r, lv, i, &data)) != 0 ||
			    (rc = file_put(t->dirfd, path, data, MT_TILE_WIDTH * MT_HASH_LEN)) !=
			        0) {
				cl_why(why, rc, "tiles: %s: %s", path, st_strerror(rc));
				goto out;
			}
		}
	}
	t->done = size;
	rc = 0;
out:
	if (r != NULL)
		st_reader_end(r);
	st_reader_free(r);
	free(b.p);
	return rc;
}
