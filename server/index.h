/*
 * index.h: closurelogd's search indexes, kept off the commit path.
 *
 * The main store (store.h) holds only what the tree needs per commit:
 * meta, entries, fat tiles.  The indexes that map a key to entries (leaf
 * hash, store path root, narHash, submitter) are derived data in a second
 * LMDB environment, DIR/search/, written by an indexer thread.  Entries at
 * or above its "upto" are in an in-memory *tail*, filled by the committer
 * as it appends.  Lookups are exact: the search environment below its
 * upto, plus the tail above it, cut at the caller's snapshot size.
 *
 * Layout (docs/design.md, "Search indexes"): the environment is a set of
 * sorted *runs* (ixrun.h), each a named database holding every key of one
 * contiguous range of entries, written once in key order.  Each flush of
 * the tail (at least tune.batch durable entries, or what a waiting
 * committer needs) writes one new run in one durable transaction that also
 * records the manifest (which run covers which range), upto and the tree's
 * root at upto.  Runs of one level (by size: a factor of tune.fanout per
 * level) are merged, tune.fanout adjacent ones into one, in steps of at
 * most tune.step keys per write transaction, taking turns with flushes;
 * the last step swaps the merged run in for its sources in the manifest,
 * in one transaction.  So each entry is rewritten O(log N) times,
 * sequentially, and there are O(fanout * log N) runs (runs of level IX_TOP
 * and above merge only once the slots are crowded); readers take the
 * manifest from their own read transaction, so a swap is atomic for them.
 * In-memory Bloom filters on the leaf keys (one of every leaf held, one
 * per run; about 5 bytes per entry) let a lookup of a new leaf read no
 * run, and of an old one, only the run that holds it.
 *
 * Rules:
 *  - the indexer indexes only entries whose main commit is durable
 *    (ix_committed), so a power cut leaves upto <= the main store's size;
 *  - the tail is trimmed only after the search commit covering the trimmed
 *    entries is visible, and a lookup reads the tail before it opens its
 *    search snapshot, so every entry is always in one or the other;
 *  - the tail never holds more than IX_TAIL_MAX entries: the committer
 *    waits for the indexer (ix_room) rather than exceed it, and waits at
 *    most one merge step and one run for it;
 *  - at ix_open the search environment must be behind or at the main
 *    store's size with the same root there, and its manifest must decode;
 *    anything else (missing, ahead, another tree, another layout,
 *    unreadable) is rebuilt from the entries, and the entries since its
 *    upto are indexed before ix_start returns, so the tail starts empty;
 *  - a crash at any point leaves the last committed manifest, which is
 *    whole: a merge cut short leaves only its partial output in a slot the
 *    manifest does not list, emptied at the next start, and starts again.
 *
 * Keys (layout 4): every key of a run is 10 bytes, kind (u8), a 32-bit
 * value, the entry index (40 bits, big-endian), packed 408 to an LMDB
 * record (ixblk.h), so that each takes 10 bytes of a page.  For the leaf hash, the root (its SHA-256) and the
 * narHash the value is their keyed hash (SipHash with the environment's
 * own random key, cut to 32 bits), so candidates can collide: a leaf
 * candidate is checked against the leaf hash in the main store's level-0
 * tile, and a root or narHash candidate against the field decoded from
 * the entry itself (ix_fields_fn), so a collision costs a read, never a
 * wrong answer; a run marks the values whose records in it are of more
 * than one key, and confirms one candidate of an unmarked value for all
 * its others.  Submitter keys are few: the value is the key's number in
 * the environment's dictionary of submitter keys ("subs"), exact.  A
 * run's keys are unique (the index is in them), so each run is one plain
 * sorted array of keys.
 *
 * Thread safety: one committer (ix_room, ix_probe_make, ix_dedup_find, ix_add,
 * ix_committed, ix_rollback), any number of readers (ix_leaf_find,
 * ix_search) and the module's own indexer thread.
 */
#ifndef CL_INDEX_H
#define CL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "nix.h"
#include "store.h"

/* The most entries the search environment may lag the committed log by
 * (the tail's capacity; a power cut loses at most this much indexing,
 * redone at the next ix_open).  A batch is at most 65536 entries
 * (--batch-max), so a full tail still takes two: a pending commit's, not
 * yet durable, and the next one's. */
#define IX_TAIL_MAX 131072

/* The indexer writes a run once this many durable entries wait, and
 * everything at ix_close.  (No timer: what a quiet log leaves in the tail
 * is found there, and its writes do not depend on timing.) */
#define IX_BATCH 16384
/* This many adjacent runs of one level merge into one. */
#define IX_FANOUT 8
/* Runs of this level and above (by default batch * fanout^2 = 2^20
 * entries and more) are merged only once the slots are crowded (ixr_pick):
 * so no merge is larger than a 2^20-entry run (about 80 MB of free pages
 * kept for it) until some 4 * 10^7 entries, and searches read a run per
 * 2^20 entries beyond. */
#define IX_TOP 2
/* The most keys a merge step copies in one write transaction (about 0.1 s
 * of work): what a flush, and so a committer, may wait behind. */
#define IX_STEP 262144

enum ix_which {
	IX_BY_ROOT = 0,  /* key: store path string */
	IX_BY_NAR,       /* key: 32-byte narHash digest */
	IX_BY_SUBMITTER, /* key: 32-byte Ed25519 public key of the submitter */
	IX_N_KEYS,
};

/* The search keys of one entry, as ix_keys_fn derives them. */
struct ix_keys {
	char root[NIX_STORE_PATH_MAX + 1];
	uint8_t nar[32];
	uint8_t submitter[32];
	bool has_submitter;
};

/* Derive the search keys of a stored entry (leaf bytes, len long, borrowed)
 * for a rebuild.  Called from several threads at once (one per core):
 * must be thread-safe.  Returns 0 or an error: the entry is then indexed
 * by its leaf hash only (found by ix_leaf_find and ix_dedup_find, never by
 * ix_search), with a warning on stderr, and the rebuild goes on. */
typedef int (*ix_keys_fn)(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out);

/* Decode a stored entry's store path root and narHash into out->root and
 * out->nar (the rest of out is not read), without checking its signatures
 * (they were checked before it was stored): to confirm a search candidate.
 * leaf_bytes: len bytes, borrowed.  Called by ix_search in any reader
 * thread, several at once: must be thread-safe.  Returns 0, or an error:
 * the entry then matches no root or narHash search. */
typedef int (*ix_fields_fn)(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out);

struct ix;

/* Open (creating it if needed, mode 0700) DIR/search for the store st (DIR
 * is st's directory; st must outlive the index), check it against st and
 * empty it, or make its files again, if it does not match (a line on
 * stderr says why).  Done while still privileged, like st_open: making the
 * files again needs to write in DIR/search.  Returns 0 or an error with
 * why. */
int ix_open(struct st *st, struct ix **out, char *why) __attribute__((warn_unused_result));

/* Bring the index up to st: check it again (st may have grown since
 * ix_open), build the runs' filters (reading every run's leaf keys once),
 * finish due merges, index every entry st holds that it lacks (its keys
 * read in a thread per core; progress on stderr for long runs; all of them again, the index emptied in place, if
 * it turns out damaged meanwhile, a merge finding a key outside its run's
 * range, say), and start the indexer thread.  keys/arg derive
 * keys from entries, only inside this call; fields/fields_arg decode the
 * fields ix_search confirms, kept until ix_close (fields_arg must live as
 * long).  Once only.  Returns 0 or an error with why. */
int ix_start(struct ix *ix, ix_keys_fn keys, void *arg, ix_fields_fn fields, void *fields_arg,
    char *why) __attribute__((warn_unused_result));

/* What the indexer just committed, for ix_tune.after_commit. */
enum ix_commit {
	IX_COMMIT_RUN,  /* a new run from the tail (or the catch-up) */
	IX_COMMIT_STEP, /* part of a merge, not yet listed */
	IX_COMMIT_SWAP, /* a merge's last step: its run replaces its sources */
};

/* The indexer's sizes (defaults IX_BATCH, IX_FANOUT, IX_STEP), and a
 * function called, in the thread that wrote it, after each of its commits
 * (NULL: none; tests stop a process there to crash at every step).
 * hash_drop (tests): drop that many high bits of the hashed keys' values
 * (32: all, every key collides with every other), so that distinct keys
 * collide; an environment written with other bits is rebuilt. */
struct ix_tune {
	size_t batch;    /* 1..IX_TAIL_MAX */
	unsigned fanout; /* 2..16 */
	size_t step;     /* >= 1 */
	void (*after_commit)(void *arg, enum ix_commit what);
	void *arg;
	unsigned hash_drop; /* 0..32, 0 in production */
};

/* Use t (copied) instead of the defaults: between ix_open and ix_start
 * only.  Returns 0, or CL_EINVAL (nothing changed) if started or a size is
 * out of range. */
int ix_tune(struct ix *ix, const struct ix_tune *t) __attribute__((warn_unused_result));

/* Index every durable entry still in the tail, stop the indexer and close.
 * NULL is fine.  No other call may be running. */
void ix_close(struct ix *ix);

/* ---- The committer ---- */

/* Wait until n more entries fit in the tail (at most IX_TAIL_MAX above the
 * indexed size).  Returns 0, CL_EINVAL if n > IX_TAIL_MAX, or the
 * indexer's last error if the tail is full and the indexer is failing. */
int ix_room(struct ix *ix, size_t n) __attribute__((warn_unused_result));

/* A leaf hash with its keyed hashes (the tail table's slot, the filters'
 * value), made once for both ix_dedup_find and ix_add.  Opaque; valid for
 * the ix it was made for. */
struct ix_probe {
	uint8_t leaf[MT_HASH_LEN];
	uint32_t h, slot;
};

/* Make p for leaf (copied), and start loading the memory ix_dedup_find
 * will read for it (its slot of the tail's table, its blocks of the leaf
 * filters): made a few entries ahead, the lookups then wait for no cache
 * miss.  The committer only. */
void ix_probe_make(struct ix *ix, const uint8_t leaf[MT_HASH_LEN], struct ix_probe *p);

/* Index of the entry with p's leaf hash, committed or added since the
 * last commit: the tail, then the runs whose filters may hold it, each
 * candidate checked against the level-0 tiles through b.  Returns 0,
 * ST_ENOTFOUND or an error. */
int ix_dedup_find(struct ix *ix, struct st_batch *b, const struct ix_probe *p, uint64_t *index)
    __attribute__((warn_unused_result));

/* Add entry `index` (the next one) to the tail: p's leaf hash, store path
 * root (NUL-terminated), narHash and submitter key (NULL for none), all
 * copied.  Only within the room an ix_room(n) made for this batch (at most
 * n adds before the next ix_committed or ix_rollback).  Returns 0, or
 * ST_ECORRUPT (nothing added) if index is not the tail's next: the tail
 * and the tree disagree. */
int ix_add(struct ix *ix, uint64_t index, const struct ix_probe *p, const char *root,
    const uint8_t nar[32], const uint8_t *submitter) __attribute__((warn_unused_result));

/* The entries below size are durable in the main store: the indexer may
 * index them. */
void ix_committed(struct ix *ix, uint64_t size);

/* The batch being written is gone: drop the tail's entries added since the
 * last ix_committed. */
void ix_rollback(struct ix *ix);

/* ---- Readers (any thread, inside an st_reader snapshot) ---- */

/* Index of leaf hash `leaf` below r's snapshot size.  Returns 0,
 * ST_ENOTFOUND or an error. */
int ix_leaf_find(struct ix *ix, struct st_reader *r, const uint8_t leaf[MT_HASH_LEN],
    uint64_t *index) __attribute__((warn_unused_result));

/* Indices of the entries under `key` (key_len bytes, 1..511) in index
 * `which` that are >= start and below r's snapshot size, ascending: at most
 * max into out[], their number into *n, whether more follow into *more.
 * Each root or narHash candidate of the runs is read from r and confirmed
 * (ix_fields_fn).  Returns 0 (no match is *n == 0), CL_EINVAL or an
 * error. */
int ix_search(struct ix *ix, struct st_reader *r, enum ix_which which, const void *key,
    size_t key_len, uint64_t start, uint64_t *out, size_t max, size_t *n, bool *more)
    __attribute__((warn_unused_result));

/* Entries [0, *upto) are in the search environment, and *tail in memory
 * above it. */
void ix_stat(struct ix *ix, uint64_t *upto, uint64_t *tail);

#endif
