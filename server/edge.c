/*
 * edge.c: the stored tree's right edge and its rightmost fat tiles.
 *
 * A fat tile holds the 256 stored hashes of one height-8 tile (store.h).
 * Leaves arrive in order, so at each level only the rightmost tile can
 * change: it is cached here, filled by the Merkle emit callback, written
 * out whole when the edge moves on to the next tile, and written again
 * (partial) by edge_flush with every batch, so that the store always has
 * the tiles for its committed size.  Eight levels of height-8 tiles cover
 * 2^64 leaves.
 */
#include "edge.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

#define EDGE_LEVELS 8

struct tcache {
	bool valid, dirty;
	uint64_t index;
	uint8_t data[ST_TILE_BYTES];
};

struct edge {
	struct mt_range range;
	struct tcache tiles[EDGE_LEVELS];
	struct st_batch *batch; /* during edge_append only */
};

int
edge_new(struct edge **out)
{
	struct edge *e;

	if ((*out = e = calloc(1, sizeof *e)) == NULL)
		return ENOMEM;
	mt_range_init(&e->range);
	return 0;
}

void
edge_free(struct edge *e)
{
	free(e);
}

int
edge_load(struct edge *e, struct st *st, uint64_t *size, char *why)
{
	struct st_reader *r = NULL;
	uint64_t n = 0;
	int rc;

	if ((rc = st_reader_new(st, &r)) != 0 || (rc = st_reader_begin(r)) != 0) {
		cl_why(why, rc, "store: %s", st_strerror(rc));
		goto out;
	}
	n = st_reader_size(r);
	if ((rc = mt_range_load(&e->range, n, st_node_read, r)) != 0) {
		cl_why(why, rc, "store: cannot read the tree's right edge: %s", st_strerror(rc));
		goto out;
	}
	for (unsigned lv = 0; lv < EDGE_LEVELS; lv++) {
		struct tcache *t = &e->tiles[lv];
		uint64_t hashes = n >> (8 * lv);
		const uint8_t *data;

		t->valid = t->dirty = false;
		/* A tile whose first hash is not there yet is started fresh. */
		if ((hashes & 0xff) == 0)
			continue;
		if ((rc = st_tile_get(r, lv, hashes >> 8, &data)) != 0) {
			cl_why(why, rc, "store: tile %u/%llu is missing: %s", lv,
			    (unsigned long long)(hashes >> 8), st_strerror(rc));
			goto out;
		}
		memcpy(t->data, data, ST_TILE_BYTES);
		t->index = hashes >> 8;
		t->valid = true;
	}
	if (size != NULL)
		*size = n;
	rc = 0;
out:
	if (r != NULL)
		st_reader_end(r);
	st_reader_free(r);
	return rc;
}

/* mt_emit_fn: put a newly complete stored node in its fat tile, writing
 * out a tile once the right edge has moved past it. */
static int
tile_emit(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	struct edge *e = ctx;
	unsigned lv = node->height / 8, pos;
	uint64_t tile;
	struct tcache *t = &e->tiles[lv];
	int rc;

	st_tile_slot(node, &tile, &pos);
	if (!t->valid || t->index != tile) {
		if (t->valid && t->dirty &&
		    (rc = st_batch_tile_put(e->batch, lv, t->index, t->data)) != 0)
			return rc;
		memset(t->data, 0, ST_TILE_BYTES);
		t->index = tile;
		t->valid = true;
	}
	memcpy(t->data + (size_t)pos * MT_HASH_LEN, hash, MT_HASH_LEN);
	t->dirty = true;
	return 0;
}

int
edge_append(struct edge *e, struct st_batch *b, const uint8_t leaf[MT_HASH_LEN])
{
	int rc;

	e->batch = b;
	rc = mt_range_append(&e->range, leaf, tile_emit, e);
	e->batch = NULL;
	return rc;
}

int
edge_flush(struct edge *e, struct st_batch *b)
{
	int rc;

	for (unsigned lv = 0; lv < EDGE_LEVELS; lv++) {
		struct tcache *t = &e->tiles[lv];

		if (t->valid && t->dirty && (rc = st_batch_tile_put(b, lv, t->index, t->data)) != 0)
			return rc;
	}
	return 0;
}

void
edge_committed(struct edge *e)
{
	for (unsigned lv = 0; lv < EDGE_LEVELS; lv++)
		e->tiles[lv].dirty = false;
}

uint64_t
edge_size(const struct edge *e)
{
	return e->range.size;
}

void
edge_root(const struct edge *e, uint8_t root[MT_HASH_LEN])
{
	mt_range_root(&e->range, root);
}
