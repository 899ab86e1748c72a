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

#include <string.h>

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
	if ((rc = mt_range_load(&range, size, st_node_read, r)) != 0)
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
	return mt_plan_run_edge(p, e, st_node_read, r, path, n_path, NULL);
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
