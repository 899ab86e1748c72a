/*
 * pcache.h: inclusion and consistency proofs from the store, with the
 * folded right edges of the tree sizes recently asked for.
 *
 * Almost every proof is asked against the latest published checkpoint, and
 * every proof against a size N has up to popcount(N) - 1 hashes that are no
 * single stored node but a fold of N's right edge (merkle.h, struct
 * mt_edge).  A pcache keeps those folds for the last PC_SLOTS sizes, so a
 * proof reads one stored node per hash (the tiles along its path) and
 * hashes nothing.
 *
 * The tree of a given size never changes (the log only appends), so a size
 * names its edge for the life of the store: a cached edge is exactly what
 * the store would give, and a new checkpoint simply brings a new size.
 *
 * It also remembers the last stored nodes it read (PC_NODES of them,
 * direct-mapped): a complete node never changes either, and the proofs of
 * one run of submission answers, or of a burst of reads, share their upper
 * nodes.  A miss fetches the node's aligned group of PC_GROUP at its
 * height with it (one tile, mostly), as far as the snapshot holds them
 * complete, since the next proofs of the run need its neighbours.
 *
 * One pcache per thread (it lives in struct rt); not shared, no locks.  A
 * zeroed struct pcache is empty and needs no set-up or clean-up.
 */
#ifndef CL_PCACHE_H
#define CL_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "store.h"

#define PC_SLOTS 4    /* sizes kept: the latest checkpoint's and a few asked for */
#define PC_NODES 1024 /* stored nodes kept; a power of two */
#define PC_GROUP 8    /* nodes fetched with each miss; a power of two */

struct pc_node {
	uint64_t index;
	uint8_t height1; /* height + 1; 0: an empty slot */
	uint8_t hash[MT_HASH_LEN];
};

struct pcache {
	struct mt_edge edge[PC_SLOTS]; /* size 0: an empty slot */
	unsigned next;                 /* the slot a new size replaces */
	uint64_t hits, misses;         /* edges found, edges loaded (for tests) */
	struct pc_node node[PC_NODES];
};

/* PATH(index, D[size]) into path (room for MT_PROOF_MAX hashes), *n_path
 * its length.  r: the caller's open snapshot, which must cover size; the
 * edge of size is loaded from it unless pc has it.  Returns 0, MT_EINVAL
 * if index >= size, or the store's error (ST_ENOTFOUND for a size beyond
 * the snapshot, ST_ECORRUPT, an LMDB code); then *n_path is 0. */
int pc_inclusion(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));

/* PROOF(m, D[n]) the same way.  Returns 0, MT_EINVAL if m > n, or the
 * store's error. */
int pc_consistency(struct pcache *pc, struct st_reader *r, uint64_t m, uint64_t n,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));

#endif
