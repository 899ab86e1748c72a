/*
 * mirror.c: the tlog-tiles directory writer of closurelog mirror
 * (mirror.h).
 *
 * The tiles are made here from the entries rather than copied from the
 * log: level 0 holds the leaf hashes the follower computed, and each full
 * tile of level L folds into one hash of level L+1.  The follower checks
 * every one of those hashes against the log's own tiles and the final
 * root against the signed checkpoint, so a run that returns 0 has proven
 * every byte written here.  Only the right edge of each level (at most 255
 * hashes, the partial tile) is carried across runs; it is read back from
 * the output and checked against the tree kept in the state before use.
 */
#include "mirror.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "file.h"
#include "tile.h"

#define LEVELS     (64 / MT_TILE_HEIGHT)
#define TILE_MAX   (MT_TILE_WIDTH * MT_HASH_LEN)
#define BUNDLE_MAX ((size_t)MT_TILE_WIDTH * (2 + CL_ENTRY_MAX))
#define PATH_MAX_  4096
#define BASE_MAX   (PATH_MAX_ - 128) /* the output and staging directories */

struct level {
	uint64_t index; /* the tile being filled */
	unsigned n;     /* hashes in it so far */
	uint64_t index0;
	unsigned n0; /* the same at cli_mirror_resume, for pruning */
	uint8_t h[MT_TILE_WIDTH][MT_HASH_LEN];
};

struct staged {
	char path[MT_TILE_PATH_MAX]; /* under the output directory */
	bool full;
};

struct cli_mirror {
	char out[BASE_MAX], stage[BASE_MAX];
	uint64_t start, size;
	struct level lv[LEVELS];
	uint8_t *bundle; /* the entry bundle being filled */
	size_t blen, bcap;
	struct staged *st;
	size_t nst, stcap;
};

static void
stage_name(const struct cli_mirror *m, size_t i, char out[PATH_MAX_])
{
	snprintf(out, PATH_MAX_, "%s/%zu", m->stage, i);
}

/* Remove every file in the staging directory. */
static void
stage_clear(const char *stage)
{
	DIR *d = opendir(stage);
	struct dirent *e;
	char p[PATH_MAX_];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof p, "%s/%s", stage, e->d_name) < sizeof p)
			unlink(p);
	}
	closedir(d);
}

static int
dir_fsync(const char *dir, char *why)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) != 0)
		rc = errno;
	if (fd >= 0)
		close(fd);
	return rc != 0 ? cli_why(why, rc, "%s: %s", dir, strerror(rc)) : 0;
}

/* mkdir -p for the parent directories of out/rel (rel has no leading '/'),
 * each new directory made durable in its parent. */
static int
parents_make(const struct cli_mirror *m, const char *rel, char *why)
{
	char p[PATH_MAX_];
	size_t base = strlen(m->out) + 1;
	int rc;

	if ((size_t)snprintf(p, sizeof p, "%s/%s", m->out, rel) >= sizeof p)
		return cli_why(why, ENAMETOOLONG, "%s/%s: path too long", m->out, rel);
	for (char *s = p + base; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == 0) {
			char *up = strrchr(p, '/');

			*up = '\0';
			rc = dir_fsync(p, why);
			*up = '/';
			if (rc != 0)
				return rc;
		} else if (errno != EEXIST) {
			rc = errno;
			return cli_why(why, rc, "%s: %s", p, strerror(rc));
		}
		*s = '/';
	}
	return 0;
}

/* Write a tile or bundle to the staging directory. */
static int
stage(struct cli_mirror *m, const struct mt_tile *t, const void *buf, size_t len, char *why)
{
	char name[PATH_MAX_];
	struct staged *s;
	int rc;

	if (m->nst == m->stcap) {
		size_t cap = m->stcap ? 2 * m->stcap : 64;

		if ((s = realloc(m->st, cap * sizeof *s)) == NULL)
			return cli_why(why, ENOMEM, "out of memory");
		m->st = s;
		m->stcap = cap;
	}
	s = &m->st[m->nst];
	if (mt_tile_path(t, s->path) != 0)
		return cli_why(
		    why, CL_EINVAL, "tile %u/%" PRIu64 " has no path", t->level, t->index);
	s->full = t->width == MT_TILE_WIDTH;
	stage_name(m, m->nst, name);
	if ((rc = cl_file_write(name, buf, len, 0644, 0, why)) != 0)
		return rc;
	m->nst++;
	return 0;
}

int
cli_mirror_new(struct cli_mirror **mp, const char *out, const char *stage_dir, char *why)
{
	struct cli_mirror *m;

	*mp = NULL;
	if (strlen(out) >= BASE_MAX || strlen(stage_dir) >= BASE_MAX)
		return cli_why(why, ENAMETOOLONG, "%s: path too long", out);
	if ((m = calloc(1, sizeof *m)) == NULL)
		return cli_why(why, ENOMEM, "out of memory");
	snprintf(m->out, sizeof m->out, "%s", out);
	snprintf(m->stage, sizeof m->stage, "%s", stage_dir);
	if (mkdir(m->stage, 0700) != 0 && errno != EEXIST) {
		int rc = errno;

		free(m);
		return cli_why(why, rc, "%s: %s", stage_dir, strerror(rc));
	}
	stage_clear(m->stage);
	*mp = m;
	return 0;
}

void
cli_mirror_free(struct cli_mirror *m)
{
	if (m == NULL)
		return;
	stage_clear(m->stage);
	free(m->st);
	free(m->bundle);
	free(m);
}

static int
bundle_add(struct cli_mirror *m, const uint8_t *data, size_t len, char *why)
{
	if (len > CL_ENTRY_MAX || len > 0xffff)
		return cli_why(why, CL_EINVAL, "an entry of %zu bytes does not fit a bundle", len);
	if (m->bcap - m->blen < 2 + len) {
		size_t cap = m->bcap ? 2 * m->bcap : 65536;
		uint8_t *b;

		while (cap - m->blen < 2 + len)
			cap *= 2;
		if (cap > BUNDLE_MAX)
			cap = BUNDLE_MAX;
		if ((b = realloc(m->bundle, cap)) == NULL)
			return cli_why(why, ENOMEM, "out of memory");
		m->bundle = b;
		m->bcap = cap;
	}
	m->bundle[m->blen++] = (uint8_t)(len >> 8);
	m->bundle[m->blen++] = (uint8_t)len;
	memcpy(m->bundle + m->blen, data, len);
	m->blen += len;
	return 0;
}

/* The hash of level L+1 that full tile lv (at level L) folds into. */
static int
tile_fold(const struct level *lv, unsigned level, uint8_t out[MT_HASH_LEN])
{
	struct mt_tile t = {lv->index, MT_TILE_WIDTH, (uint8_t)level, false};
	const uint8_t *data = lv->h[0];
	struct mt_tileset set = {&t, &data, 1};
	uint8_t half[2][MT_HASH_LEN];
	struct mt_node nodes[2] = {
	    {2 * lv->index, (uint8_t)(level * MT_TILE_HEIGHT + MT_TILE_HEIGHT - 1)},
	    {2 * lv->index + 1, (uint8_t)(level * MT_TILE_HEIGHT + MT_TILE_HEIGHT - 1)},
	};

	if (mt_tileset_read(&set, nodes, 2, half) != 0)
		return CL_EINVAL;
	mt_node_hash(out, half[0], half[1]);
	return 0;
}

/* Add a hash at level L; stage and fold the tile it completes. */
static int
push(struct cli_mirror *m, unsigned level, const uint8_t h[MT_HASH_LEN], char *why)
{
	struct level *lv = &m->lv[level];
	uint8_t up[MT_HASH_LEN];
	int rc;

	memcpy(lv->h[lv->n++], h, MT_HASH_LEN);
	if (lv->n < MT_TILE_WIDTH)
		return 0;
	if ((rc = stage(m, &(struct mt_tile){lv->index, MT_TILE_WIDTH, (uint8_t)level, false},
	         lv->h, TILE_MAX, why)) != 0)
		return rc;
	if (level == 0) {
		if ((rc = stage(m, &(struct mt_tile){lv->index, MT_TILE_WIDTH, 0, true}, m->bundle,
		         m->blen, why)) != 0)
			return rc;
		m->blen = 0;
	}
	if (tile_fold(lv, level, up) != 0)
		return cli_why(why, CL_EINVAL, "cannot fold tile %u/%" PRIu64, level, lv->index);
	lv->n = 0;
	lv->index++;
	if (level + 1 >= LEVELS)
		return 0; /* a 2^64-leaf tree has no level-8 tile */
	return push(m, level + 1, up, why);
}

int
cli_mirror_entry(void *ctx, const struct cli_follow_entry *e, char *why)
{
	struct cli_mirror *m = ctx;
	int rc;

	if (e->index != m->size)
		return cli_why(why, CL_EINVAL,
		    "entry %" PRIu64 " out of order (expected %" PRIu64 ")", e->index, m->size);
	if ((rc = bundle_add(m, e->data, e->len, why)) != 0 ||
	    (rc = push(m, 0, e->leaf_hash, why)) != 0)
		return rc;
	m->size++;
	return 0;
}

/* Read the output's partial file t (width t->width) into buf. */
static int
partial_read(const struct cli_mirror *m, const struct mt_tile *t, size_t cap, uint8_t **buf,
    size_t *len, char *why)
{
	char rel[MT_TILE_PATH_MAX], p[PATH_MAX_];
	char w[CLI_MSG_MAX];
	int rc;

	if (mt_tile_path(t, rel) != 0)
		return cli_why(
		    why, CL_EINVAL, "tile %u/%" PRIu64 " has no path", t->level, t->index);
	snprintf(p, sizeof p, "%s/%s", m->out, rel);
	if ((rc = cl_file_read(p, cap, 0, buf, len, w)) != 0)
		return cli_why(why, rc == ENOENT ? ENOENT : CL_EINVAL, "%s", w);
	return 0;
}

/* Load and check the partial entry bundle at level 0 (width w, tile idx). */
static int
resume_bundle(struct cli_mirror *m, uint64_t idx, unsigned w, char *why)
{
	struct mt_tile t = {idx, (uint16_t)w, 0, true};
	uint8_t *b = NULL;
	const uint8_t *q, *end;
	size_t len;
	int rc;

	if ((rc = partial_read(m, &t, BUNDLE_MAX, &b, &len, why)) != 0)
		return rc;
	q = b;
	end = b + len;
	for (unsigned j = 0; j < w; j++) {
		const uint8_t *e;
		size_t elen;

		if (mt_bundle_next(&q, end, &e, &elen) != 0) {
			rc = cli_why(why, CL_EINVAL,
			    "%s: the partial entry bundle at size %" PRIu64 " is truncated", m->out,
			    m->size);
			goto out;
		}
		mt_leaf_hash(m->lv[0].h[j], e, elen);
	}
	if (q != end) {
		rc = cli_why(why, CL_EINVAL,
		    "%s: the partial entry bundle at size %" PRIu64
		    " has bytes after its %u entries",
		    m->out, m->size, w);
		goto out;
	}
	if ((m->bundle = malloc(len > 0 ? len : 1)) == NULL) {
		rc = cli_why(why, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(m->bundle, b, len);
	m->blen = m->bcap = len;
out:
	free(b);
	return rc;
}

int
cli_mirror_resume(struct cli_mirror *m, const struct mt_range *r, char *why)
{
	uint64_t s = r->size;
	int rc;

	m->start = m->size = s;
	for (unsigned l = 0; l < LEVELS && l * MT_TILE_HEIGHT < 64 && (s >> (l * 8)) != 0; l++) {
		struct level *lv = &m->lv[l];
		unsigned w = (unsigned)((s >> (l * 8)) & 0xff);
		struct mt_tile t = {
		    l * 8 + 8 < 64 ? s >> (l * 8 + 8) : 0, (uint16_t)w, (uint8_t)l, false};
		const uint8_t *data = lv->h[0];
		struct mt_tileset set = {&t, &data, 1};

		lv->index = lv->index0 = t.index;
		lv->n = lv->n0 = w;
		if (w == 0)
			continue;
		if (l == 0) {
			if ((rc = resume_bundle(m, t.index, w, why)) != 0)
				return rc;
		} else {
			uint8_t *b;
			size_t len;

			if ((rc = partial_read(m, &t, TILE_MAX, &b, &len, why)) != 0)
				return rc;
			if (len != (size_t)w * MT_HASH_LEN) {
				free(b);
				return cli_why(why, CL_EINVAL,
				    "%s: the partial tile at level %u has %zu bytes, not %u hashes",
				    m->out, l, len, w);
			}
			memcpy(lv->h, b, len);
			free(b);
		}
		/* Each set bit of w is one node of the right edge, folded
		 * from its share of the partial tile. */
		for (unsigned bit = 0; bit < MT_TILE_HEIGHT; bit++) {
			unsigned h = l * MT_TILE_HEIGHT + bit;
			struct mt_node node = {(s >> h) - 1, (uint8_t)h};
			uint8_t got[1][MT_HASH_LEN];

			if (!(w >> bit & 1))
				continue;
			if (mt_tileset_read(&set, &node, 1, got) != 0 ||
			    sodium_memcmp(got[0], r->hash[h], MT_HASH_LEN) != 0)
				return cli_why(why, CL_EINVAL,
				    "%s: the partial %s at level %u does not match the mirrored "
				    "tree of size %" PRIu64,
				    m->out, l == 0 ? "entry bundle" : "tile", l, s);
		}
	}
	return 0;
}

/* Files are equal, or CL_EINVAL. */
static int
same_file(const char *a, const char *b, char *why)
{
	uint8_t *x = NULL, *y = NULL;
	size_t nx, ny;
	int rc;

	if ((rc = cl_file_read(a, BUNDLE_MAX, 0, &x, &nx, why)) == 0 &&
	    (rc = cl_file_read(b, BUNDLE_MAX, 0, &y, &ny, why)) == 0 &&
	    (nx != ny || memcmp(x, y, nx) != 0))
		rc = cli_why(why, CL_EINVAL,
		    "%s already exists and differs from the log's: the mirror was altered "
		    "(remove the file to let the mirror write it again)",
		    b);
	free(x);
	free(y);
	return rc;
}

int
cli_mirror_publish(struct cli_mirror *m, char *why)
{
	char from[PATH_MAX_], to[PATH_MAX_], dir[PATH_MAX_] = "";
	int rc;

	for (unsigned l = 0; l < LEVELS; l++) {
		struct level *lv = &m->lv[l];

		if (lv->n == 0)
			continue;
		if ((rc = stage(m, &(struct mt_tile){lv->index, (uint16_t)lv->n, (uint8_t)l, false},
		         lv->h, (size_t)lv->n * MT_HASH_LEN, why)) != 0)
			return rc;
		if (l == 0 &&
		    (rc = stage(m, &(struct mt_tile){lv->index, (uint16_t)lv->n, 0, true},
		         m->bundle, m->blen, why)) != 0)
			return rc;
	}
	for (size_t i = 0; i < m->nst; i++) {
		const struct staged *s = &m->st[i];
		char *slash;

		stage_name(m, i, from);
		snprintf(to, sizeof to, "%s/%s", m->out, s->path);
		if ((rc = parents_make(m, s->path, why)) != 0)
			return rc;
		if (!s->full) {
			if (rename(from, to) != 0)
				return cli_why(why, errno, "%s: %s", to, strerror(errno));
		} else if (link(from, to) != 0) {
			if (errno != EEXIST)
				return cli_why(why, errno, "%s: %s", to, strerror(errno));
			if ((rc = same_file(from, to, why)) != 0)
				return rc;
		}
		/* One fsync per directory: consecutive files share one. */
		slash = strrchr(to, '/');
		*slash = '\0';
		if (strcmp(dir, to) != 0) {
			if (dir[0] != '\0' && (rc = dir_fsync(dir, why)) != 0)
				return rc;
			snprintf(dir, sizeof dir, "%s", to);
		}
	}
	if (dir[0] != '\0' && (rc = dir_fsync(dir, why)) != 0)
		return rc;
	stage_clear(m->stage);
	m->nst = 0;
	return 0;
}

/* Remove the .p directory of tile (level, index, entries), which is full:
 * returns the number of names that could not be removed. */
static unsigned
prune_dir(const struct cli_mirror *m, unsigned level, uint64_t index, bool entries)
{
	struct mt_tile t = {index, 1, (uint8_t)level, entries};
	char rel[MT_TILE_PATH_MAX], p[PATH_MAX_], f[PATH_MAX_ + 300];
	unsigned bad = 0;
	struct dirent *e;
	DIR *d;

	if (mt_tile_path(&t, rel) != 0)
		return 1;
	*strrchr(rel, '/') = '\0';
	snprintf(p, sizeof p, "%s/%s", m->out, rel);
	if ((d = opendir(p)) == NULL)
		return errno == ENOENT ? 0 : 1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(f, sizeof f, "%s/%s", p, e->d_name);
		if (unlink(f) != 0)
			bad++;
	}
	closedir(d);
	if (rmdir(p) != 0)
		bad++;
	return bad;
}

unsigned
cli_mirror_prune(struct cli_mirror *m)
{
	unsigned bad = 0;

	/* Every tile that became full in this run loses its partials; a tile
	 * still partial keeps all of its widths, since each was implied by a
	 * checkpoint this mirror (or a crashed run of it) may have served. */
	for (unsigned l = 0; l < LEVELS; l++) {
		const struct level *lv = &m->lv[l];

		for (uint64_t i = lv->index0; i < lv->index; i++) {
			bad += prune_dir(m, l, i, false);
			if (l == 0)
				bad += prune_dir(m, l, i, true);
		}
	}
	return bad;
}

uint64_t
cli_mirror_added(const struct cli_mirror *m)
{
	return m->size - m->start;
}
