/*
 * follow.c: the follower (follow.h): rebuild a log's tree from its entry
 * bundles and check it against its hash tiles and a signed checkpoint.
 *
 * Tiles are fetched at the checkpoint's size only, so every tile asked for
 * is one that checkpoint implies; the log cannot answer with a tile of some
 * other tree without the final root giving it away.  The rebuild keeps one
 * tile per level (the one its right edge is in), which is all that the
 * nodes completed in index order ever touch: each tile is fetched once.
 */
#include "follow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "tile.h"

#define TILE_MAX   (MT_TILE_WIDTH * MT_HASH_LEN)                /* one full hash tile */
#define BUNDLE_MAX ((size_t)MT_TILE_WIDTH * (2 + CL_ENTRY_MAX)) /* one full entry bundle */
#define TILES_MAX  (3 * MT_NODES_MAX)    /* tiles of one consistency proof and two roots */
#define LEVELS     (64 / MT_TILE_HEIGHT) /* tile levels a 2^64 tree can have */
#define PROGRESS_S 5                     /* seconds between progress lines */

struct cli_follow {
	struct cli_follow_opts o;
	struct wire_arena arena; /* the entry being decoded */
	void *abuf;

	/* The run in progress: the checkpoint size every tile is fetched at,
	 * and per level the tile the rebuilt right edge is in. */
	uint64_t size;
	struct {
		bool valid;
		uint64_t index;
		unsigned width;
		uint8_t data[TILE_MAX];
	} tile[LEVELS];
	char why[CLI_MSG_MAX];
};

/* GET a path of the log; EIO with why when there is no 2xx answer. */
static int
get(struct cli_follow *f, const char *path, size_t max, struct cli_http_resp *r, char *why)
{
	char w[CL_WHY_MAX];

	if (cli_http_get(f->o.http, f->o.url, path, max, r, w) != 0)
		return cli_why(why, EIO, "cannot fetch %s", w);
	return 0;
}

struct cli_follow *
cli_follow_new(const struct cli_follow_opts *o)
{
	struct cli_follow *f = calloc(1, sizeof *f);

	if (f == NULL || (f->abuf = malloc(WIRE_ARENA_MIN)) == NULL) {
		free(f);
		return NULL;
	}
	f->o = *o;
	wire_arena_init(&f->arena, f->abuf, WIRE_ARENA_MIN);
	return f;
}

void
cli_follow_free(struct cli_follow *f)
{
	if (f == NULL)
		return;
	free(f->abuf);
	free(f);
}

int
cli_follow_checkpoint(struct cli_follow *f, uint8_t **note, size_t *len, struct sth *c, char *why)
{
	return cli_checkpoint_fetch(f->o.http, f->o.url, f->o.key, f->o.origin, note, len, c, why);
}

int
cli_follow_tiles_prove(
    struct cli_follow *f, uint64_t m, uint64_t n, struct cli_tileproof *tp, char *why)
{
	struct mt_plan *plans = malloc(3 * sizeof *plans);
	struct mt_tile *tiles = malloc(TILES_MAX * sizeof *tiles), one[MT_NODES_MAX];
	struct cli_http_resp *resp = calloc(TILES_MAX, sizeof *resp);
	const uint8_t **data = calloc(TILES_MAX, sizeof *data);
	uint8_t(*out)[MT_HASH_LEN] = malloc(MT_PROOF_MAX * MT_HASH_LEN);
	struct mt_tileset set;
	size_t nt = 0, k;
	int rc;

	if (plans == NULL || tiles == NULL || resp == NULL || data == NULL || out == NULL) {
		rc = cli_why(why, ENOMEM, "out of memory");
		goto out;
	}
	if (mt_consistency_plan(m, n, &plans[0]) != 0 || mt_root_plan(m, &plans[1]) != 0 ||
	    mt_root_plan(n, &plans[2]) != 0) {
		rc = cli_why(
		    why, CL_EINVAL, "cannot plan a proof from %" PRIu64 " to %" PRIu64, m, n);
		goto out;
	}
	for (int p = 0; p < 3; p++) {
		if (mt_plan_tiles(&plans[p], n, one, MT_NODES_MAX, &k) != 0) {
			rc = cli_why(why, CL_EINVAL, "cannot place the proof's nodes in tiles");
			goto out;
		}
		for (size_t i = 0; i < k; i++) {
			size_t j;

			for (j = 0; j < nt; j++) {
				if (tiles[j].level == one[i].level &&
				    tiles[j].index == one[i].index)
					break;
			}
			if (j == nt && nt < TILES_MAX)
				tiles[nt++] = one[i];
		}
	}
	for (size_t i = 0; i < nt; i++) {
		char tpath[MT_TILE_PATH_MAX];

		if (mt_tile_path(&tiles[i], tpath) != 0) {
			rc = cli_why(why, CL_EINVAL, "bad tile");
			goto out;
		}
		if ((rc = get(f, tpath, TILE_MAX, &resp[i], why)) != 0)
			goto out;
		if (resp[i].len != (size_t)tiles[i].width * MT_HASH_LEN) {
			rc = cli_why(why, CL_EINVAL, "%s: %zu bytes, not %u hashes", tpath,
			    resp[i].len, (unsigned)tiles[i].width);
			goto out;
		}
		data[i] = resp[i].body;
	}
	set.tiles = tiles;
	set.data = data;
	set.n = nt;
	rc = CL_EINVAL;
	if (mt_plan_run(&plans[1], mt_tileset_read, &set, out, &k) != 0 || k != 1) {
		cli_why(why, rc, "the tiles lack a node of the root at %" PRIu64, m);
		goto out;
	}
	memcpy(tp->small_root, out[0], MT_HASH_LEN);
	if (mt_plan_run(&plans[2], mt_tileset_read, &set, out, &k) != 0 || k != 1) {
		cli_why(why, rc, "the tiles lack a node of the root at %" PRIu64, n);
		goto out;
	}
	memcpy(tp->large_root, out[0], MT_HASH_LEN);
	if (mt_plan_run(&plans[0], mt_tileset_read, &set, tp->path, &tp->n_path) != 0) {
		cli_why(why, rc, "the tiles lack a node of the proof");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; resp != NULL && i < TILES_MAX; i++)
		cli_http_resp_free(&resp[i]);
	free(out);
	free(data);
	free(resp);
	free(tiles);
	free(plans);
	return rc;
}

/* Fetch hash tile (level, index) at the run's size into the cache. */
static int
tile_fetch(struct cli_follow *f, unsigned level, uint64_t index)
{
	struct mt_tile t = {index, 0, (uint8_t)level, false};
	struct cli_http_resp r = {0};
	char path[MT_TILE_PATH_MAX];
	int rc;

	f->tile[level].valid = false;
	t.width = (uint16_t)mt_tile_width(level, index, f->size);
	if (mt_tile_path(&t, path) != 0)
		return cli_why(
		    f->why, CL_EINVAL, "tile %u/%" PRIu64 " is not in the tree", level, index);
	if ((rc = get(f, path, TILE_MAX, &r, f->why)) != 0)
		return rc;
	if (r.len != (size_t)t.width * MT_HASH_LEN) {
		cli_why(f->why, CL_EINVAL, "%s: %zu bytes, not %u hashes", path, r.len,
		    (unsigned)t.width);
		cli_http_resp_free(&r);
		return CL_EINVAL;
	}
	memcpy(f->tile[level].data, r.body, r.len);
	f->tile[level].index = index;
	f->tile[level].width = t.width;
	f->tile[level].valid = true;
	cli_http_resp_free(&r);
	return 0;
}

/* mt_emit_fn: every stored node the rebuilt tree completes at a tile level
 * must be the hash the log serves in that tile. */
static int
node_check(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	struct cli_follow *f = ctx;
	unsigned level = node->height / MT_TILE_HEIGHT, pos = (unsigned)(node->index & 0xff);
	uint64_t ti = node->index >> 8;
	struct mt_tile t = {ti, 0, (uint8_t)level, false};
	char path[MT_TILE_PATH_MAX];
	int rc;

	if (node->height % MT_TILE_HEIGHT != 0)
		return 0;
	if ((!f->tile[level].valid || f->tile[level].index != ti) &&
	    (rc = tile_fetch(f, level, ti)) != 0)
		return rc;
	t.width = (uint16_t)f->tile[level].width;
	if (mt_tile_path(&t, path) != 0)
		return cli_why(
		    f->why, CL_EINVAL, "tile %u/%" PRIu64 " is not in the tree", level, ti);
	if (pos >= f->tile[level].width)
		return cli_why(f->why, CL_EINVAL, "%s has no position %u", path, pos);
	if (sodium_memcmp(hash, f->tile[level].data + (size_t)pos * MT_HASH_LEN, MT_HASH_LEN) == 0)
		return 0;
	if (level == 0)
		return cli_why(f->why, CL_EINVAL,
		    "entry %" PRIu64 ": its leaf hash does not match position %u of %s",
		    node->index, pos, path);
	return cli_why(f->why, CL_EINVAL,
	    "%s: position %u does not match the tree rebuilt from the entries", path, pos);
}

/* Check entry idx (q[0..len)), add it to r and hand it to fn. */
static int
entry_add(struct cli_follow *f, struct mt_range *r, uint64_t idx, const uint8_t *q, size_t len,
    cli_follow_fn fn, void *ctx, char *why)
{
	struct cl_envelope env;
	struct cl_attestation att;
	uint8_t leaf[MT_HASH_LEN];
	char w[CL_WHY_MAX];
	int rc;

	mt_leaf_hash(leaf, q, len);
	if ((rc = mt_range_append(r, leaf, node_check, f)) != 0) {
		if (rc == MT_EFULL)
			return cli_why(why, CL_EINVAL, "the tree is full");
		return cli_why(why, rc, "%s", f->why);
	}
	wire_arena_reset(&f->arena);
	if (wire_envelope_decode(&f->arena, q, len, &env, w) != 0)
		return cli_why(
		    why, CL_EINVAL, "entry %" PRIu64 ": not a valid envelope: %s", idx, w);
	if (wire_attestation_decode(&f->arena, env.payload, env.payload_len, &att, w) != 0)
		return cli_why(
		    why, CL_EINVAL, "entry %" PRIu64 ": not a valid attestation: %s", idx, w);
	if (fn == NULL)
		return 0;
	return fn(ctx, &(struct cli_follow_entry){idx, q, len, leaf, &env, &att}, why);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
cli_follow_run(struct cli_follow *f, const struct sth *c, struct mt_range *range, cli_follow_fn fn,
    void *ctx, char *why)
{
	struct mt_range *r = malloc(sizeof *r);
	struct cli_http_resp resp = {0};
	uint64_t s0 = range->size, n = c->size;
	uint8_t root[MT_HASH_LEN];
	char s1[CL_B64_LEN(MT_HASH_LEN) + 1], s2[CL_B64_LEN(MT_HASH_LEN) + 1];
	double last = now_s();
	bool told = false;
	int rc;

	if (r == NULL)
		return cli_why(why, ENOMEM, "out of memory");
	if (s0 > n) {
		rc = cli_why(why, CL_EINVAL,
		    "the rebuilt tree (%" PRIu64 ") is larger than the checkpoint (%" PRIu64 ")",
		    s0, n);
		goto out;
	}
	f->size = n;
	for (unsigned l = 0; l < LEVELS; l++)
		f->tile[l].valid = false;
	*r = *range;
	for (uint64_t t = s0 >> 8; s0 < n && t <= (n - 1) >> 8; t++) {
		struct mt_tile bt = {t, (uint16_t)mt_tile_width(0, t, n), 0, true};
		char path[MT_TILE_PATH_MAX];
		const uint8_t *q, *end;

		if (mt_tile_path(&bt, path) != 0) {
			rc = cli_why(
			    why, CL_EINVAL, "entry bundle %" PRIu64 " is not in the tree", t);
			goto out;
		}
		if ((rc = get(f, path, BUNDLE_MAX, &resp, why)) != 0)
			goto out;
		q = resp.body;
		end = resp.body + resp.len;
		for (unsigned j = 0; j < bt.width; j++) {
			uint64_t idx = t * MT_TILE_WIDTH + j;
			const uint8_t *e;
			size_t elen;

			if (mt_bundle_next(&q, end, &e, &elen) != 0) {
				rc = cli_why(
				    why, CL_EINVAL, "%s: truncated at entry %" PRIu64, path, idx);
				goto out;
			}
			if (idx >= s0 && (rc = entry_add(f, r, idx, e, elen, fn, ctx, why)) != 0)
				goto out;
		}
		if (q != end) {
			rc = cli_why(why, CL_EINVAL, "%s: %zu bytes after its %u entries", path,
			    (size_t)(end - q), (unsigned)bt.width);
			goto out;
		}
		cli_http_resp_free(&resp);
		if (f->o.progress && now_s() - last >= PROGRESS_S) {
			last = now_s();
			told = true;
			cli_progress("%s: %" PRIu64 " of %" PRIu64 " entries checked (%.1f%%)",
			    c->origin, r->size, n, 100.0 * (double)r->size / (double)n);
		}
	}
	mt_range_root(r, root);
	if (sodium_memcmp(root, c->root, MT_HASH_LEN) != 0) {
		cl_b64_encode(root, MT_HASH_LEN, s1, sizeof s1);
		cl_b64_encode(c->root, MT_HASH_LEN, s2, sizeof s2);
		rc = cli_why(why, CL_EINVAL,
		    "the tree rebuilt from the log's %" PRIu64 " entries has root %s, but the "
		    "checkpoint says %s",
		    n, s1, s2);
		goto out;
	}
	if (told)
		cli_progress("%s: all %" PRIu64 " entries checked", c->origin, n);
	*range = *r;
	rc = 0;
out:
	cli_http_resp_free(&resp);
	free(r);
	return rc;
}
