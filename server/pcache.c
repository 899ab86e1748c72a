/*
 * pcache.c: proofs through a per-thread cache of folded right edges and of
 * the tree's upper nodes (pcache.h).
 *
 * Without it, a proof against the latest size reads the right-edge nodes
 * (often from tiles of three levels the rest of the path does not need)
 * and hashes them together, about seven SHA-256 compressions at 10^7: a
 * third of the proof's cost.  With it, those hashes are copied.  Slots are
 * replaced round robin: the latest checkpoint's size is asked for far more
 * than any other, and it keeps coming back until the next checkpoint.
 *
 * The upper nodes replaced a 1 024-node direct-mapped cache that fetched
 * aligned groups of 8 with each miss: at 10^6-10^7 entries its look-ups,
 * group bookkeeping and the level-1 and level-2 tile reads behind its
 * misses took a quarter of the server's CPU per proof.
 */
#include "pcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

/* A node read: the thread's cache and its open snapshot. */
struct pc_read {
	struct pcache *pc;
	struct st_reader *r;
};

/* Whether height h is kept for a snapshot of `size` leaves. */
static bool
top_kept(unsigned h, uint64_t size)
{
	return h >= PC_TOP_HEIGHT && h < 64 && (size >> h) <= PC_TOP_WIDTH;
}

static bool
row_has(const struct pc_row *row, uint64_t i)
{
	return i < row->cap && (row->have[i / 64] >> (i % 64) & 1) != 0;
}

static void
row_free(struct pc_row *row)
{
	free(row->hash);
	free(row->have);
	memset(row, 0, sizeof *row);
}

/* Room in row for nodes [0, n): false if out of memory (row unchanged but
 * for the size of its blocks).  Doubling keeps the copies few; cap stays a
 * multiple of 256, so have[] is whole words. */
static bool
row_reserve(struct pc_row *row, uint64_t n)
{
	uint64_t cap = row->cap * 2 > n ? row->cap * 2 : n;
	void *p;

	if (n <= row->cap)
		return true;
	cap = (cap + 255) & ~(uint64_t)255;
	if ((p = realloc(row->hash, cap * MT_HASH_LEN)) == NULL)
		return false;
	row->hash = p;
	if ((p = realloc(row->have, cap / 8)) == NULL)
		return false;
	row->have = p;
	memset(row->have + row->cap / 64, 0, (cap - row->cap) / 8);
	row->cap = cap;
	return true;
}

/* Copy the nodes of fat tile (level >= 1, t) complete in r's snapshot into
 * the rows of the heights kept.  Rows are contiguous in a fat tile
 * (store.h), so each is one memcpy.  Returns 0 or the store's error (a
 * tile missing under a complete node is ST_ECORRUPT, as in st_node_read);
 * out of memory copies less, which callers see as nodes still missing. */
static int
top_load(struct pcache *pc, struct st_reader *r, unsigned level, uint64_t t)
{
	uint64_t size = st_reader_size(r);
	const uint8_t *tile;
	int rc;

	if ((rc = st_tile_get(r, level, t, &tile)) != 0)
		return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
	pc->tile_loads++;
	for (unsigned j = 0; j < 8 && level * 8 + j < 64; j++) {
		unsigned h = level * 8 + j;
		uint64_t w = 256u >> j, first = t << (8 - j), end = first + w;
		struct pc_row *row = &pc->top[h - PC_TOP_HEIGHT];

		if (!top_kept(h, size))
			continue;
		if (end > size >> h)
			end = size >> h;
		if (first >= end)
			break; /* the rows above are no more complete */
		if (!row_reserve(row, first + w))
			continue;
		memcpy(row->hash[first], tile + (size_t)(512u - (512u >> j)) * MT_HASH_LEN,
		    (size_t)(end - first) * MT_HASH_LEN);
		for (uint64_t x = first; x < end; x++)
			row->have[x / 64] |= (uint64_t)1 << (x % 64);
	}
	return 0;
}

/* An mt_read_fn over a struct pc_read: the upper nodes from the rows
 * (loading their tile on a miss), the rest in one st_node_read.  A node
 * not complete in the snapshot goes to st_node_read, which refuses it. */
static int
node_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	const struct pc_read *c = ctx;
	struct pcache *pc = c->pc;
	struct mt_node miss[MT_NODES_MAX];
	uint8_t got[MT_NODES_MAX][MT_HASH_LEN];
	size_t at[MT_NODES_MAX], k = 0;
	const struct pc_row *from[MT_NODES_MAX];
	uint64_t size = st_reader_size(c->r);
	int rc;

	if (n > MT_NODES_MAX)
		return CL_EINVAL;
	/* First where each node is, prefetching the kept ones: a proof's
	 * nodes are one per height, far apart in rows of megabytes, and their
	 * cache misses then overlap instead of coming one after the other.
	 * They are copied afterwards, since a tile load may move a row. */
	for (size_t i = 0; i < n; i++) {
		unsigned h = nodes[i].height;
		uint64_t x = nodes[i].index;
		struct pc_row *row =
		    h >= PC_TOP_HEIGHT && h < 64 ? &pc->top[h - PC_TOP_HEIGHT] : NULL;

		from[i] = NULL;
		if (row != NULL && !top_kept(h, size) && row->cap > 0)
			row_free(row); /* the tree outgrew the bound at h */
		if (row != NULL && top_kept(h, size) && x < size >> h) {
			if (!row_has(row, x) &&
			    (rc = top_load(pc, c->r, h / 8, x >> (8 - h % 8))) != 0)
				return rc;
			if (row_has(row, x)) {
				__builtin_prefetch(row->hash[x]);
				__builtin_prefetch(row->hash[x] + MT_HASH_LEN - 1);
				from[i] = row;
				continue;
			}
		}
		miss[k] = nodes[i];
		at[k++] = i;
	}
	if (k > 0 && (rc = st_node_read(c->r, miss, k, got)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (from[i] != NULL)
			memcpy(out[i], from[i]->hash[nodes[i].index], MT_HASH_LEN);
	}
	for (size_t j = 0; j < k; j++)
		memcpy(out[at[j]], got[j], MT_HASH_LEN);
	return 0;
}

/* The folded edge of `size` (>= 1): from pc, or loaded from r into a slot.
 * Returns 0 or the store's error (the slot is then left empty). */
static int
edge_get(struct pcache *pc, struct st_reader *r, uint64_t size, const struct mt_edge **out)
{
	struct mt_range range;
	struct mt_edge *e;
	int rc;

	for (unsigned i = 0; i < PC_SLOTS; i++) {
		if (pc->edge[i].size == size) {
			pc->hits++;
			*out = &pc->edge[i];
			return 0;
		}
	}
	e = &pc->edge[pc->next];
	e->size = 0;
	if ((rc = mt_range_load(&range, size, node_read, &(struct pc_read){pc, r})) != 0)
		return rc;
	mt_edge_init(e, &range);
	pc->next = (pc->next + 1) % PC_SLOTS;
	pc->misses++;
	*out = e;
	return 0;
}

/* Run plan p against the edge of `size`. */
static int
run(struct pcache *pc, struct st_reader *r, const struct mt_plan *p, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	const struct mt_edge *e;
	int rc;

	if (p->n_nodes == 0)
		return 0;
	if ((rc = edge_get(pc, r, size, &e)) != 0)
		return rc;
	return mt_plan_run_edge(p, e, node_read, &(struct pc_read){pc, r}, path, n_path, NULL);
}

/* Leaves per level-0 tile, and its height. */
#define TILE_H 8

/* PATH(index, D[size]) for index < size, straight from the bits instead of
 * through a general plan (mt_inclusion_plan, mt_plan_run_edge: an eighth of
 * the CPU a proof took in user space).  With inner the bit length of
 * index ^ (size - 1), the path is, bottom up, the sibling (h, (index >> h)
 * ^ 1) of every height h < inner, then the left sibling (h, (index >> h)
 * ^ 1) of every height h >= inner where index has bit h set.  All are
 * complete stored nodes but one: the sibling at height inner - 1 (the
 * right one) covers [x, size) with x = size with its bits below inner - 1
 * cleared, and is complete only if those bits are all zero; else it is
 * the edge's fold at the highest of them (struct mt_edge).  pcache_test
 * checks this against mt_inclusion_prove at many sizes and indices. */
static int
inclusion_direct(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct mt_node nodes[64];
	uint64_t x = index ^ (size - 1), low;
	unsigned inner = x == 0 ? 0 : 64 - (unsigned)__builtin_clzll(x);
	size_t n = 0, at = 0;
	const struct mt_edge *e = NULL;
	int rc;

	low = inner > 1 ? size & (((uint64_t)1 << (inner - 1)) - 1) : 0;
	for (unsigned h = 0; h < 64; h++) {
		if (h < inner || (index >> h & 1) != 0) {
			if (h + 1 == inner && low != 0) {
				at = n; /* the fold goes here, between the stored nodes */
				continue;
			}
			nodes[n++] = (struct mt_node){(index >> h) ^ 1, (uint8_t)h};
		}
	}
	if (low != 0 && (rc = edge_get(pc, r, size, &e)) != 0)
		return rc;
	if (n > 0 && (rc = node_read(&(struct pc_read){pc, r}, nodes, n, path)) != 0)
		return rc;
	if (e != NULL) {
		memmove(path[at + 1], path[at], (n - at) * MT_HASH_LEN);
		memcpy(path[at], e->fold[63 - __builtin_clzll(low)], MT_HASH_LEN);
		n++;
	}
	*n_path = n;
	return 0;
}

int
pc_inclusion(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct pc_upper *u = &pc->upper;
	uint64_t tile = index >> TILE_H;
	bool complete = index < size && tile < size >> TILE_H;
	int rc;

	*n_path = 0;
	if (index < size && size > st_reader_size(r))
		return ST_ENOTFOUND; /* nothing cached answers for more than r holds */
	/* In a complete tile the path's first 8 hashes are the leaf's
	 * siblings inside it, single stored nodes, and the rest depends only
	 * on the tile and the size (RFC 6962 splits a range at a multiple of
	 * 256 whenever it is larger, so the tile is one of its subtrees). */
	if (complete && u->size == size && u->tile == tile) {
		struct mt_node nodes[TILE_H];

		for (unsigned h = 0; h < TILE_H; h++)
			nodes[h] = (struct mt_node){(index >> h) ^ 1, (uint8_t)h};
		if ((rc = st_node_read(r, nodes, TILE_H, path)) != 0)
			return rc;
		memcpy(path[TILE_H], u->hash, u->n * MT_HASH_LEN);
		*n_path = TILE_H + u->n;
		pc->upper_hits++;
		return 0;
	}
	if (index >= size)
		return MT_EINVAL;
	if ((rc = inclusion_direct(pc, r, index, size, path, n_path)) != 0)
		return rc;
	if (complete && *n_path >= TILE_H) {
		u->size = size;
		u->tile = tile;
		u->n = *n_path - TILE_H;
		memcpy(u->hash, path[TILE_H], u->n * MT_HASH_LEN);
	}
	return 0;
}

int
pc_consistency(struct pcache *pc, struct st_reader *r, uint64_t m, uint64_t n,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct mt_plan p;
	int rc;

	*n_path = 0;
	if ((rc = mt_consistency_plan(m, n, &p)) != 0)
		return rc;
	if (n > st_reader_size(r))
		return ST_ENOTFOUND;
	return run(pc, r, &p, n, path, n_path);
}

void
pc_free(struct pcache *pc)
{
	if (pc == NULL)
		return;
	for (unsigned h = 0; h < 64 - PC_TOP_HEIGHT; h++)
		row_free(&pc->top[h]);
	memset(pc, 0, sizeof *pc);
}
