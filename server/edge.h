/*
 * edge.h: the right edge of the stored tree, for whatever appends to it.
 *
 * Appending leaves to the store's Merkle tree needs the tree's right edge
 * (struct mt_range) and the rightmost fat tile of each level, which the new
 * leaves fill in; a tile is written to the store once the edge has moved
 * past it, and the partial ones with every batch.  The committer, the bulk
 * loader and a mirror all append this way; this module is that, and owns
 * no thread and no transaction: the caller brackets appends with its own
 * st_batch, and tells the edge when the batch is durable or gone.
 *
 * Not thread-safe: one appender at a time.
 */
#ifndef CL_EDGE_H
#define CL_EDGE_H

#include <stdint.h>

#include "merkle.h"
#include "store.h"

struct edge;

/* A new, empty edge (size 0) in *out; free it with edge_free.  Returns 0
 * or ENOMEM. */
int edge_new(struct edge **out) __attribute__((warn_unused_result));

/* Free e.  NULL is fine. */
void edge_free(struct edge *e);

/* Load e for the tree committed in st, from the store alone: the right
 * edge and the rightmost fat tile of every level.  On success *size (if not
 * NULL) gets the tree size.  On failure e is unchanged in neither sense:
 * load again before appending.  Returns 0 or an ST_E* / LMDB code with why
 * (may be NULL). */
int edge_load(struct edge *e, struct st *st, uint64_t *size, char *why)
    __attribute__((warn_unused_result));

/* Append one leaf hash at index edge_size(e), writing every fat tile the
 * append completes into b (borrowed for the call).  Returns 0 or the
 * store's or mt_range_append's error; after an error, the batch must be
 * aborted and e loaded again. */
int edge_append(struct edge *e, struct st_batch *b, const uint8_t leaf[MT_HASH_LEN])
    __attribute__((warn_unused_result));

/* Write the partial tiles changed since the last edge_committed into b, so
 * that the batch holds every tile for the new size.  Returns 0 or the
 * store's error. */
int edge_flush(struct edge *e, struct st_batch *b) __attribute__((warn_unused_result));

/* The batch holding everything appended so far is committed: nothing is
 * left to write. */
void edge_committed(struct edge *e);

/* The tree size and root after the appends so far. */
uint64_t edge_size(const struct edge *e);
void edge_root(const struct edge *e, uint8_t root[MT_HASH_LEN]);

#endif
