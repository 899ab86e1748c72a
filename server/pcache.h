/*
 * pcache.h: inclusion and consistency proofs from the store, with the
 * folded right edges of the tree sizes recently asked for and a copy of the
 * tree's upper nodes.
 *
 * Almost every proof is asked against the latest published checkpoint, and
 * every proof against a size N has up to popcount(N) - 1 hashes that are no
 * single stored node but a fold of N's right edge (merkle.h, struct
 * mt_edge).  A pcache keeps those folds for the last PC_SLOTS sizes, so a
 * proof reads one stored node per hash and hashes nothing.
 *
 * It also keeps every stored node of height PC_TOP_HEIGHT and above that
 * it has read (the nodes of the fat tiles of level 1 and up), in one flat
 * array per height: 1/128 of the tree's nodes, 2.5 MB at 10^7 entries.  A
 * proof then reads only its leaf's level-0 tile from the store: one LMDB
 * look-up and a few pages of the map, instead of three or four look-ups
 * whose pages, spread over a multi-GB map, miss the TLB and the caches.  A
 * miss copies the whole fat tile the node is in (its nodes complete in the
 * snapshot), since the next proofs need its neighbours.  A height is kept
 * only while the tree has at most PC_TOP_WIDTH complete nodes there, which
 * bounds the copy (32 MiB at most) at any log size; the heights below the
 * ones kept are read from the store as before.
 *
 * The tree of a given size never changes (the log only appends), so a size
 * names its edge for the life of the store, and a complete node never
 * changes: what the cache holds is exactly what the store would give.  A
 * node is served from the cache only if it is complete in the caller's
 * snapshot, and a size only if the snapshot covers it, so a pcache never
 * answers for more of the tree than the snapshot holds.
 *
 * One pcache per thread (it lives in struct rt); not shared, no locks.  A
 * zeroed struct pcache is empty; pc_free releases what it has allocated.
 */
#ifndef CL_PCACHE_H
#define CL_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "store.h"

#define PC_SLOTS      4         /* sizes kept: the latest checkpoint's and a few asked for */
#define PC_TOP_HEIGHT 8         /* the lowest height kept: tile level 1 */
#ifndef PC_TOP_WIDTH            /* (tests build pcache.c with a small one) */
#define PC_TOP_WIDTH (1u << 18) /* most complete nodes of one height for it to be kept */
#endif

/* The kept nodes of one height h: hash[i] is node (h, i) if bit i of have is
 * set.  cap: nodes there is room for. */
struct pc_row {
	uint8_t (*hash)[MT_HASH_LEN];
	uint64_t *have;
	uint64_t cap;
};

/* The part of an inclusion proof above the leaf's level-0 tile: the same
 * for every leaf of a complete tile at one tree size (pc_inclusion). */
struct pc_upper {
	uint64_t size, tile; /* size 0: none */
	size_t n;
	uint8_t hash[MT_PROOF_MAX][MT_HASH_LEN];
};

struct pcache {
	struct mt_edge edge[PC_SLOTS]; /* size 0: an empty slot */
	unsigned next;                 /* the slot a new size replaces */
	uint64_t hits, misses;         /* edges found, edges loaded (for tests) */
	uint64_t tile_loads;           /* fat tiles copied into top (for tests) */
	uint64_t upper_hits;           /* proofs that reused `upper` (for tests) */
	struct pc_row top[64 - PC_TOP_HEIGHT];
	struct pc_upper upper; /* of the last proof in a complete tile */
};

/* PATH(index, D[size]) into path (room for MT_PROOF_MAX hashes), *n_path
 * its length.  For a leaf of a complete level-0 tile, the hashes above the
 * tile are those of the previous proof when it was in the same tile at
 * the same size (a batch's consecutive leaves): only the 8 below are read.
 * The path is computed from the bits of index and size (no plan): stored
 * nodes and at most one fold of size's edge.  r: the caller's open
 * snapshot; the edge of size is loaded from it when the path needs a fold
 * and pc does not have it, and nodes pc lacks are read from it.  Returns
 * 0, MT_EINVAL if index >= size, or the store's error (ST_ENOTFOUND for a
 * size beyond the snapshot, ST_ECORRUPT, an LMDB code); then *n_path is 0.
 * Running out of memory for the copy is no error: the nodes are then read
 * from the store. */
int pc_inclusion(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));

/* PROOF(m, D[n]) the same way.  Returns 0, MT_EINVAL if m > n, or the
 * store's error. */
int pc_consistency(struct pcache *pc, struct st_reader *r, uint64_t m, uint64_t n,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));

/* Free the copied nodes; pc is then empty (a zeroed pcache).  NULL is fine. */
void pc_free(struct pcache *pc);

#endif
