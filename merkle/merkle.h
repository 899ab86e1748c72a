/*
 * merkle.h: RFC 6962 / RFC 9162 Merkle trees over SHA-256.
 *
 * No I/O, no allocation.  The only dependency is libsodium, for SHA-256;
 * callers must have run sodium_init() (it is harmless if they have not,
 * since SHA-256 needs no setup, but the rest of closurelog requires it).
 *
 * Vocabulary.  A tree of `size` leaves covers entries 0 .. size-1.  A
 * *stored node* (struct mt_node) is a complete subtree: the node at height
 * h and index i is MTH(D[i*2^h : (i+1)*2^h]); height 0 holds the leaf
 * hashes.  A log stores every stored node once the subtree is complete;
 * every proof and every root is computed from a few of them.
 *
 * Errors: functions return 0 on success or one of the negative MT_E* codes
 * below (band -1000 .. -1099).  Reader callbacks may return any non-zero
 * code; it is passed back unchanged.
 */
#ifndef CL_MERKLE_H
#define CL_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MT_HASH_LEN      32
#define MT_INCLUSION_MAX 64 /* most hashes in an inclusion proof */
#define MT_PROOF_MAX                                                                               \
	65 /* most hashes in any proof: 65 for consistency (m = 2^64 - 3, n = 2^64 - 1) */
#define MT_NODES_MAX 128 /* most stored nodes any one proof or root reads */

#define MT_EINVAL    (-1001) /* an argument is out of range (index >= size, m > n, ...) */
#define MT_EBADPROOF (-1002) /* the proof's hashes do not lead to the expected root(s) */
#define MT_EPROOFLEN (-1003) /* the proof has the wrong number of hashes for its sizes */
#define MT_EFULL     (-1004) /* the tree already holds 2^64 - 1 leaves */
#define MT_ENOTILE   (-1005) /* a needed tile is missing, or too narrow, in a tile set */

/* A complete subtree: MTH(D[index << height : (index + 1) << height]). */
struct mt_node {
	uint64_t index;
	uint8_t height; /* 0 .. 63 */
};

/* Stored-node reader, supplied by whoever holds the hashes (LMDB, tiles...).
 * Must write into out[i] the hash of nodes[i] for every i < n, and return 0,
 * or return a non-zero error code that the caller passes back unchanged.
 * nodes and out are borrowed for the call; n <= MT_NODES_MAX. */
typedef int (*mt_read_fn)(
    void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN]);

/* ---- Hashing (RFC 6962 §2.1) ---- */

/* out = SHA-256(0x00 || data[0..len)).  data may be NULL when len is 0. */
void mt_leaf_hash(uint8_t out[MT_HASH_LEN], const uint8_t *data, size_t len);

/* out = SHA-256(0x01 || left || right).  out may alias left or right. */
void mt_node_hash(
    uint8_t out[MT_HASH_LEN], const uint8_t left[MT_HASH_LEN], const uint8_t right[MT_HASH_LEN]);

/* out = SHA-256(""), the root of the empty tree. */
void mt_empty_root(uint8_t out[MT_HASH_LEN]);

/* ---- Incremental tree state (the right edge, or compact range [0, size)) ---- */

/* hash[h] is the complete subtree of height h on the right edge of the tree;
 * it is meaningful only when bit h of size is set.  2 KiB, O(log n). */
struct mt_range {
	uint64_t size;
	uint8_t hash[64][MT_HASH_LEN];
};

/* Called by mt_range_append for every stored node the append completes, in
 * order of increasing height (the leaf first).  Return 0 to go on; any other
 * value stops the append and is returned by it. */
typedef int (*mt_emit_fn)(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN]);

/* Set r to the empty tree. */
void mt_range_init(struct mt_range *r);

/* Set r to the tree of `size` leaves, reading its right-edge nodes (one per
 * set bit of size) through `read` in one call.  Returns 0, or read's error,
 * in which case r is set to the empty tree. */
int mt_range_load(struct mt_range *r, uint64_t size, mt_read_fn read, void *ctx)
    __attribute__((warn_unused_result));

/* Append one leaf hash.  `emit` (may be NULL) sees each newly complete stored
 * node: always the leaf at (0, old size), then one parent per trailing 1 bit
 * of the old size.  Returns 0, MT_EFULL, or emit's error; on any error r is
 * left unchanged, and the caller must discard the nodes already emitted. */
int mt_range_append(
    struct mt_range *r, const uint8_t leaf[MT_HASH_LEN], mt_emit_fn emit, void *ctx);

/* root = MTH of the tree r describes (the empty-tree hash when size is 0). */
void mt_range_root(const struct mt_range *r, uint8_t root[MT_HASH_LEN]);

/* ---- Proof and root plans: which stored nodes a result needs ---- */

/* A plan lists, in order, the hashes of a result (a proof path, or one root).
 * Hash e is the right fold (merkle.md, "Incremental root") of the next
 * elem_nodes[e] stored nodes in nodes[].  Plans let the caller fetch every
 * stored node a proof needs in one batch, and let a tile client learn which
 * tiles to download (see tile.h). */
struct mt_plan {
	size_t n_elems, n_nodes;
	uint8_t elem_nodes[MT_PROOF_MAX];
	struct mt_node nodes[MT_NODES_MAX];
};

/* Plan the RFC 6962 audit path PATH(index, D[size]), leaf to root.
 * Returns 0, or MT_EINVAL if index >= size. */
int mt_inclusion_plan(uint64_t index, uint64_t size, struct mt_plan *plan);

/* Plan the RFC 6962 consistency proof PROOF(m, D[n]).  m == 0 and m == n
 * give an empty plan (an empty proof).  Returns 0, or MT_EINVAL if m > n. */
int mt_consistency_plan(uint64_t m, uint64_t n, struct mt_plan *plan);

/* Plan MTH(D[size]) as a single element; size 0 gives an empty plan (the
 * caller uses mt_empty_root).  Always returns 0. */
int mt_root_plan(uint64_t size, struct mt_plan *plan);

/* Run a plan: read all its nodes in one call to `read`, then fold them into
 * plan->n_elems hashes in out[] (room for MT_PROOF_MAX).  *n_out receives
 * plan->n_elems.  Returns 0 or read's error (then *n_out is 0). */
int mt_plan_run(const struct mt_plan *plan, mt_read_fn read, void *ctx, uint8_t (*out)[MT_HASH_LEN],
    size_t *n_out) __attribute__((warn_unused_result));

/* The right edge of one tree with every suffix of it folded: for each set
 * bit h of size, fold[h] = MTH(D[x_h : size]) where x_h is size with bits
 * 0..h cleared, i.e. the right fold of the right-edge nodes of heights <= h.
 * These are exactly the proof hashes of PATH and PROOF that are not one
 * stored node (merkle.md), and fold[top bit] is the root, so a reader who
 * keeps one per tree size answers any proof for that size from single
 * stored nodes, with no hashing.  2 KiB plus the size. */
struct mt_edge {
	uint64_t size;
	uint8_t fold[64][MT_HASH_LEN];
};

/* Set e to the folded edge of r's tree: popcount(size) - 1 hashes, no I/O.
 * r is borrowed for the call. */
void mt_edge_init(struct mt_edge *e, const struct mt_range *r);

/* As mt_plan_run, but every element that is MTH(D[x : e->size]) for a
 * right-edge start x of e (see struct mt_edge) and more than one stored
 * node is taken from e instead of being read and folded; the other
 * elements' nodes are read in one call to `read` (none if there are none).
 * The result is the same as mt_plan_run's for any plan and any e whose
 * folds are right.  *n_reused (may be NULL) gets the number of elements
 * taken from e.  Returns 0 or read's error (then *n_out is 0). */
int mt_plan_run_edge(const struct mt_plan *plan, const struct mt_edge *e, mt_read_fn read,
    void *ctx, uint8_t (*out)[MT_HASH_LEN], size_t *n_out, size_t *n_reused)
    __attribute__((warn_unused_result));

/* Plan and run in one call.  path must have room for MT_PROOF_MAX hashes.
 * Returns 0, MT_EINVAL for out-of-range arguments, or read's error. */
int mt_inclusion_prove(uint64_t index, uint64_t size, mt_read_fn read, void *ctx,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));
int mt_consistency_prove(uint64_t m, uint64_t n, mt_read_fn read, void *ctx,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path) __attribute__((warn_unused_result));

/* root = MTH(D[size]) of any size the reader has stored nodes for (older
 * sizes included).  Returns 0 or read's error. */
int mt_root_at(uint64_t size, mt_read_fn read, void *ctx, uint8_t root[MT_HASH_LEN])
    __attribute__((warn_unused_result));

/* Number of hashes in PATH(index, D[size]) (0 if index >= size). */
size_t mt_inclusion_len(uint64_t index, uint64_t size);

/* Number of hashes in PROOF(m, D[n]) (0 if m == 0, m >= n). */
size_t mt_consistency_len(uint64_t m, uint64_t n);

/* ---- Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----
 * A proof path is an array of n_path hashes, leaf to root, borrowed for
 * the call.  C17 does not convert uint8_t (*)[MT_HASH_LEN] to its const
 * form implicitly: MT_PATH(p) does, for a p of either type, and refuses
 * anything else at compile time. */
/* clang-format off */
#define MT_PATH(p) _Generic((p), \
	uint8_t (*)[MT_HASH_LEN]: (const uint8_t (*)[MT_HASH_LEN])(p), \
	const uint8_t (*)[MT_HASH_LEN]: (p))
/* clang-format on */

/* Check that `leaf` is at `index` in the `size`-leaf tree whose root is
 * `root`.  path: n_path hashes, leaf to root.  No allocation.  Returns 0 if valid; MT_EINVAL if index >= size; MT_EPROOFLEN
 * if n_path is not the length PATH(index, size) has; MT_EBADPROOF if the
 * path does not lead to root. */
int mt_inclusion_verify(const uint8_t leaf[MT_HASH_LEN], uint64_t index, uint64_t size,
    const uint8_t (*path)[MT_HASH_LEN], size_t n_path, const uint8_t root[MT_HASH_LEN])
    __attribute__((warn_unused_result));

/* Nodes proven to lead to one tree's root, for checking many inclusion
 * proofs against the same (size, root): the answers of one batch share
 * most of their paths.  A proof checked through the cache is checked in
 * full, as by mt_inclusion_verify: its hashes are folded up to the first
 * node an earlier proof already led to the root through, and from there on
 * its remaining hashes must equal that proof's, byte for byte (the rest of
 * a path is fixed by the node and the size).  Per level, the latest proven
 * node; about 4 KiB, caller-owned, no allocation. */
struct mt_vcache {
	uint64_t size;
	uint8_t root[MT_HASH_LEN];
	uint64_t have;                  /* bit L: node[L] and fn[L] are set */
	uint64_t fn[MT_INCLUSION_MAX];  /* a level's node: its index at that level */
	uint8_t rest[MT_INCLUSION_MAX]; /* hashes from it to the root */
	uint8_t node[MT_INCLUSION_MAX][MT_HASH_LEN];
	/* The path those nodes were proven with, right-aligned: the last k
	 * hashes to the root are tail[MT_INCLUSION_MAX - k ..). */
	uint8_t tail[MT_INCLUSION_MAX][MT_HASH_LEN];
};

/* Start c empty, for the `size`-leaf tree whose root is `root` (copied). */
void mt_vcache_init(struct mt_vcache *c, uint64_t size, const uint8_t root[MT_HASH_LEN]);

/* mt_inclusion_verify against c's size and root, with its results and
 * errors; a valid proof's nodes are added to c, a failed one changes
 * nothing. */
int mt_inclusion_verify_cached(struct mt_vcache *c, const uint8_t leaf[MT_HASH_LEN], uint64_t index,
    const uint8_t (*path)[MT_HASH_LEN], size_t n_path) __attribute__((warn_unused_result));

/* Check that the m-leaf tree with root old_root is a prefix of the n-leaf
 * tree with root new_root.  Cases outside the RFC (merkle.md): m == 0 needs
 * an empty path and old_root the empty tree's root (the spec allows nothing
 * else); m == n needs an empty path and equal roots.  Returns 0 if consistent; MT_EINVAL if m > n;
 * MT_EPROOFLEN if n_path is wrong for (m, n); MT_EBADPROOF otherwise. */
int mt_consistency_verify(uint64_t m, uint64_t n, const uint8_t old_root[MT_HASH_LEN],
    const uint8_t new_root[MT_HASH_LEN], const uint8_t (*path)[MT_HASH_LEN], size_t n_path)
    __attribute__((warn_unused_result));

#endif
