/*
 * pcache.c: proofs through a small per-thread cache of folded right edges
 * (pcache.h).
 *
 * Without it, a proof against the latest size reads the right-edge nodes
 * (often from tiles of three levels the rest of the path does not need)
 * and hashes them together, about seven SHA-256 compressions at 10^7: a
 * third of the proof's cost.  With it, those hashes are copied.  Slots are
 * replaced round robin: the latest checkpoint's size is asked for far more
 * than any other, and it keeps coming back until the next checkpoint.
 */
#include "pcache.h"

#include <stdbool.h>
#include <string.h>

/* A node read: the thread's cache and its open snapshot. */
struct pc_read {
	struct pcache *pc;
	struct st_reader *r;
};

static struct pc_node *
node_slot(struct pcache *pc, uint64_t index, unsigned height)
{
	uint64_t h = (index * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)height << 58);

	return &pc->node[(h >> 40) & (PC_NODES - 1)];
}

static bool
node_is(const struct pc_node *e, uint64_t index, unsigned height)
{
	return e->height1 == height + 1 && e->index == index;
}

/* An mt_read_fn over a struct pc_read: what the cache holds, and the rest
 * (with the groups of the misses) in one st_node_read. */
static int
node_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	const struct pc_read *c = ctx;
	struct mt_node miss[MT_NODES_MAX];
	uint8_t got[MT_NODES_MAX][MT_HASH_LEN];
	size_t at[MT_NODES_MAX], k = 0, asked;
	uint64_t size;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct pc_node *e = node_slot(c->pc, nodes[i].index, nodes[i].height);

		if (node_is(e, nodes[i].index, nodes[i].height)) {
			memcpy(out[i], e->hash, MT_HASH_LEN);
		} else {
			miss[k] = nodes[i];
			at[k++] = i;
		}
	}
	if (k == 0)
		return 0;
	asked = k;
	size = st_reader_size(c->r);
	for (size_t j = 0; j < asked && k < MT_NODES_MAX; j++) {
		unsigned h = miss[j].height;
		uint64_t base = miss[j].index & ~(uint64_t)(PC_GROUP - 1);
		bool done = false;

		for (size_t i = 0; i < j && !done; i++) /* once per group */
			done = miss[i].height == h &&
			    (miss[i].index & ~(uint64_t)(PC_GROUP - 1)) == base;
		for (uint64_t x = base; !done && x < base + PC_GROUP && k < MT_NODES_MAX; x++) {
			bool asked_already = false;

			/* Only nodes complete in the snapshot exist. */
			if (h >= 64 || x >= (size >> h))
				break;
			for (size_t i = 0; i < asked && !asked_already; i++)
				asked_already = miss[i].height == h && miss[i].index == x;
			if (asked_already || node_is(node_slot(c->pc, x, h), x, h))
				continue;
			miss[k++] = (struct mt_node){x, (uint8_t)h};
		}
	}
	if ((rc = st_node_read(c->r, miss, k, got)) != 0)
		return rc;
	for (size_t j = 0; j < k; j++) {
		struct pc_node *e = node_slot(c->pc, miss[j].index, miss[j].height);

		if (j < asked)
			memcpy(out[at[j]], got[j], MT_HASH_LEN);
		e->index = miss[j].index;
		e->height1 = (uint8_t)(miss[j].height + 1);
		memcpy(e->hash, got[j], MT_HASH_LEN);
	}
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

int
pc_inclusion(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct mt_plan p;
	int rc;

	*n_path = 0;
	if ((rc = mt_inclusion_plan(index, size, &p)) != 0)
		return rc;
	return run(pc, r, &p, size, path, n_path);
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
	return run(pc, r, &p, n, path, n_path);
}
