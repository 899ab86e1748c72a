/*
 * store.h: closurelogd's LMDB store, the only code that touches LMDB.
 *
 * Databases (docs/design.md has the byte layouts):
 *   meta      "origin", "vkey", "size" (u64 BE), "checkpoint" (signed note),
 *             "layout" (u64 BE, ST_LAYOUT)
 *   entries   u64 BE index -> the leaf (serialized Envelope)      MDB_APPEND
 *             only for the entries of the last, incomplete bundle
 *   bundles   u64 BE bundle index -> full C2SP entry bundle N (entries
 *             256N .. 256N+255), zstd-compressed (ebundle.h)  MDB_APPEND
 *   tiles     u64 BE (level << 56 | index) -> one *fat tile*
 *
 * An entry is written once under its own key, while its bundle is
 * incomplete, and once inside its bundle: the commit that completes a
 * bundle writes it as one value and deletes its entries' keys.  (An entry
 * whose bundle its own batch completes is only written inside it.)
 *
 * A fat tile holds every stored node of one C2SP tile's subtree: the 256
 * hashes at height 8L (the C2SP tile body, first) and the 255 complete
 * nodes above them inside the tile, 510 hashes in all.  Any stored node is
 * then one lookup, a proof at 10^7 leaves touches three or four tiles, and
 * a C2SP tile is a prefix of one value.  Partial tiles are stored at full
 * size, with the hashes that do not exist yet zeroed.
 *
 * Only what the tree needs per commit is here: entries go in at the end and
 * the tiles touched are the right edge's, so a commit copies about the same
 * pages at any log size.  The search indexes (leaf hash, root, narHash,
 * submitter) are derived data kept by index.h in a second environment in
 * DIR/search/; index.c is the only other code that touches LMDB.
 *
 * Writes happen in batches (one LMDB write transaction and one device
 * flush each; a batch is durable after the next commit or st_sync).  Reads go through a per-thread struct st_reader whose read
 * transaction is renewed for each request and reset right after: never held
 * across event-loop turns.  Pointers returned by reads are valid until the
 * reader is reset, but those of st_entry_get and st_bundle_get, which are
 * valid only until the reader's next call of either, too.
 *
 * Errors: 0, ST_ENOTFOUND, CL_E* codes, or LMDB's own codes (MDB_MAP_FULL
 * and friends, negative, -30800 .. -30780); st_strerror() names them all.
 */
#ifndef CL_STORE_H
#define CL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

#define ST_ENOTFOUND (-1201)
#define ST_ECORRUPT  (-1202) /* the store contradicts itself */
#define ST_ECLOSED   (-1203) /* a reopen failed: the store is unusable */
#define ST_ELAYOUT   (-1204) /* the store has a layout this code does not read */

/* The store's layout version.  Layouts 1 (no "layout" key) and 2 kept the
 * search indexes in this environment (databases leaves, by_root, by_nar,
 * by_submitter, meta "leaves_upto"); st_open migrates them by dropping
 * those, and index.h rebuilds the search environment from the entries.
 * Layout 3 kept every entry under its own key: st_open converts it (and 1
 * and 2 after their migration) by writing its full bundles, in short
 * atomic steps that a crash leaves to the next st_open to go on with, and
 * flushes the result before it returns.  Any other version is refused with
 * ST_ELAYOUT. */
#define ST_LAYOUT 4

#define ST_TILE_HASHES 510
#define ST_TILE_BYTES  (ST_TILE_HASHES * MT_HASH_LEN)

/* Where stored node n lives: fat tile *index at tile level n.height / 8,
 * hash slot *pos in it (rows bottom up, as above). */
static inline void
st_tile_slot(const struct mt_node *n, uint64_t *index, unsigned *pos)
{
	unsigned j = n->height % 8;

	*index = n->index >> (8 - j);
	*pos = (512u - (512u >> j)) + (unsigned)(n->index & ((256u >> j) - 1));
}

struct st;
struct st_batch;
struct st_reader;

/* Open (creating if needed) the store in directory `dir` with an LMDB map of
 * map_size bytes (rounded up to the page size; it may grow the file to that
 * size sparsely), bringing a layout 1, 2 or 3 store to ST_LAYOUT.  Returns
 * 0, ST_ELAYOUT (why names the version), ST_ECORRUPT (a layout 3 store
 * whose entries contradict its size), errno or an LMDB code (MDB_MAP_FULL:
 * the map is too small to convert the store). */
int st_open(const char *dir, size_t map_size, struct st **out, char *why)
    __attribute__((warn_unused_result));

/* Reports the conversion of a layout 3 store: `done` of the `total` entries
 * in full bundles are converted.  Called once before the first step and
 * after each (every 16 384 entries). */
typedef void st_progress_fn(void *ctx, uint64_t done, uint64_t total);

/* st_open, calling progress(ctx, ...) (if not NULL) while it converts. */
int st_open_progress(const char *dir, size_t map_size, st_progress_fn *progress, void *ctx,
    struct st **out, char *why) __attribute__((warn_unused_result));

/* Create directory dir (mode 0700) if it does not exist, and then fsync
 * its parent so that the new entry is durable.  st_open does this itself;
 * callers that put files in dir before st_open call it first.  Returns 0
 * or errno with why. */
int st_dir_create(const char *dir, char *why) __attribute__((warn_unused_result));

/* fsync directory dir, so that the entries just made in it are durable.
 * Returns 0 or errno. */
int st_dir_sync(const char *dir) __attribute__((warn_unused_result));

/* The store's directory (borrowed, for the life of st). */
const char *st_dir(const struct st *st);

/* Close the store.  No batch or reader may be live.  NULL is fine. */
void st_close(struct st *st);

#ifdef ST_BULK_LOAD
/* Bulk loading only, compiled into the benchmark's copy of the server code
 * (never into closurelogd): stop syncing each commit, and sync everything
 * when turned back on or at st_close.  A crash while off can lose recent
 * commits, so the log signs nothing while it is off (st_sync_on).  Returns
 * 0 or an LMDB code. */
int st_sync_set(struct st *st, bool each_commit);
#endif

/* Whether each commit is durable when st_batch_commit returns (always, but
 * in the benchmark's bulk loader). */
bool st_sync_on(const struct st *st);

/* After an I/O error: close the LMDB environment without syncing and open
 * it again, so that what follows reads what the file holds rather than
 * what the failed environment had in memory.  Waits for readers in other
 * threads to end their snapshots; their handles are renewed on their next
 * st_reader_begin.  No batch may be live.  Returns 0, or an error with why
 * (the store is then unusable: every call returns ST_ECLOSED). */
int st_reopen(struct st *st, char *why);

/* Grow the map (after MDB_MAP_FULL): double it, but not beyond max bytes,
 * while no transaction of this process is active (it waits for readers in
 * other threads to end their snapshots).  No batch may be live.  *now gets
 * the map size after the call.  Returns 0, MDB_MAP_FULL if the map is
 * already max bytes, or an LMDB code. */
int st_map_grow(struct st *st, size_t max, size_t *now);

/* Name any error this module returns. */
const char *st_strerror(int rc);

/* ---- Metadata ---- */

struct st_meta {
	char origin[256];
	char vkey[512];
	uint64_t size;
	uint8_t *checkpoint; /* malloc'd copy, or NULL; st_meta_free() */
	size_t checkpoint_len;
};

/* Read the metadata.  Returns 0, or ST_ENOTFOUND for a store that has never
 * been initialised. */
int st_meta_get(struct st *st, struct st_meta *m) __attribute__((warn_unused_result));

void st_meta_free(struct st_meta *m);

/* Initialise an empty store with the log's origin and verifier key (one
 * commit, synced).  Returns 0, CL_EINVAL if already initialised, or an
 * LMDB code. */
int st_init(struct st *st, const char *origin, const char *vkey)
    __attribute__((warn_unused_result));

/* ---- Writing: one batch is one write transaction ---- */

/* Begin the (only) write transaction.  Returns 0 or an LMDB code. */
int st_batch_begin(struct st *st, struct st_batch **out) __attribute__((warn_unused_result));

/* Add entry `index` (which must be the next index: the stored size, then
 * one more per call) with its leaf_bytes (len bytes, copied).  When it
 * completes its bundle, the bundle is compressed and written in the batch.
 * Returns 0, CL_EINVAL (another index, or len 0), CL_ETOOBIG (len above
 * CL_ENTRY_MAX), ST_ECORRUPT (an earlier entry of the bundle is missing),
 * ENOMEM or an LMDB code (MDB_MAP_FULL...); after an error, abort the
 * batch. */
int st_batch_entry_put(struct st_batch *b, uint64_t index, const uint8_t *leaf_bytes, size_t len);

/* The leaf hash of entry `index` as committed (from its level-0 tile), in
 * out.  Returns 0, ST_ENOTFOUND, ST_ECORRUPT or an LMDB code. */
int st_batch_leaf_get(struct st_batch *b, uint64_t index, uint8_t out[MT_HASH_LEN])
    __attribute__((warn_unused_result));

/* Write fat tile (level, index), ST_TILE_BYTES long. */
int st_batch_tile_put(struct st_batch *b, unsigned level, uint64_t index, const uint8_t *tile);

/* Record the new tree size, after the tiles for it are put.  Returns 0 or
 * an LMDB code. */
int st_batch_size_put(struct st_batch *b, uint64_t size);

/* Record a signed checkpoint.  Checkpoints are signed only after the data
 * they cover is committed, so the one stored here is for a size committed
 * by an earlier batch (see docs/design.md). */
int st_batch_checkpoint_put(struct st_batch *b, const uint8_t *note, size_t len);

/* Commit, ending the batch.  When it returns 0, the batch's pages are on
 * disk (one fdatasync), and so is the meta page of the commit before it:
 * that commit is durable now.  This batch's own meta page, which makes it
 * the store's state after a crash, is written but not yet flushed: it is
 * durable once st_sync or the next st_batch_commit returns 0, and until
 * then a crash leaves the store as the previous commit left it.  On failure
 * nothing of the batch is stored; after an I/O error (positive errno) the
 * previous commit's durability is unknown too (a failed flush may have
 * dropped its meta page).  Returns 0 or an LMDB code. */
int st_batch_commit(struct st_batch *b) __attribute__((warn_unused_result));

/* Make the last commit durable: flush its meta page (one fdatasync).
 * Returns 0, ST_ECLOSED or errno (after which, as after a failed commit,
 * the last commit's durability is unknown). */
int st_sync(struct st *st) __attribute__((warn_unused_result));

/* Abandon the batch.  NULL is fine. */
void st_batch_abort(struct st_batch *b);

/* ---- Reading ---- */

/* A reader for one thread.  Returns 0 or an LMDB code. */
int st_reader_new(struct st *st, struct st_reader **out) __attribute__((warn_unused_result));

/* Free a reader (it must be ended).  NULL is fine. */
void st_reader_free(struct st_reader *r);

/* Start a consistent snapshot.  Until st_reader_end, the thread holds the
 * store shared: it must not begin a second snapshot, nor wait for the
 * committer.  Returns 0, ST_ECLOSED or an LMDB code. */
int st_reader_begin(struct st_reader *r) __attribute__((warn_unused_result));

/* End the snapshot; every pointer it returned becomes invalid. */
void st_reader_end(struct st_reader *r);

/* Committed tree size in this snapshot (0 for an empty log). */
uint64_t st_reader_size(struct st_reader *r);

/* The leaf bytes of entry `index`: *data points into the map or into the
 * reader's decoded bundle, valid until the reader's next st_entry_get or
 * st_bundle_get, or st_reader_end, whichever is first.  The reader keeps
 * the last bundle it decoded, so reading a bundle's entries in turn decodes
 * it once.  Returns 0, ST_ENOTFOUND (index at or beyond the snapshot's
 * size), ST_ECORRUPT (missing, or a stored bundle that does not decode),
 * ENOMEM or an LMDB code. */
int st_entry_get(struct st_reader *r, uint64_t index, const uint8_t **data, size_t *len)
    __attribute__((warn_unused_result));

/* Full entry bundle `index` (entries 256 index .. 256 index + 255) as C2SP
 * serves it (each entry a big-endian uint16 length and its bytes): *data,
 * *len valid as st_entry_get's.  Returns 0, ST_ENOTFOUND (the bundle is not
 * full in this snapshot), or st_entry_get's errors. */
int st_bundle_get(struct st_reader *r, uint64_t index, const uint8_t **data, size_t *len)
    __attribute__((warn_unused_result));

/* Fat tile (level, index): *tile points at ST_TILE_BYTES in the map.
 * Returns 0, ST_ENOTFOUND or an LMDB code. */
int st_tile_get(struct st_reader *r, unsigned level, uint64_t index, const uint8_t **tile)
    __attribute__((warn_unused_result));

/* An mt_read_fn over a struct st_reader (ctx): stored nodes from fat tiles,
 * each tile looked up once per call.  Returns 0, ST_ENOTFOUND, ST_ECORRUPT
 * (a tile missing below the size), CL_EINVAL (n > MT_NODES_MAX) or an LMDB
 * code. */
int st_node_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN]);

#endif
