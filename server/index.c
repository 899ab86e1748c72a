/*
 * index.c: the search environment, the in-memory tail and the indexer.
 *
 * Inserting random keys into a B-tree much larger than a batch copies one
 * page per key, and the main store's commit is what every submitter waits
 * for.  So the committer only appends (entries, tiles) and hands each
 * entry's keys to an in-memory tail; this module's thread folds the tail
 * into a second LMDB environment.  Even there a growing B-tree would copy
 * a page per key once it is much larger than a batch, so the environment
 * is log-structured: each flush of the tail writes a new sorted *run* (its
 * own named database, filled in key order with MDB_APPEND, its keys
 * packed in blocks (ixblk.h): dense pages, each written once, one put per
 * block), and runs of one level are merged, a bounded step at
 * a time between flushes, into one of the next level (ixrun.h).  An entry
 * is so rewritten O(log N) times, sequentially, and a run's keys carry
 * the entry index, so runs over disjoint index ranges concatenate into
 * ascending results.  Keys are 10 bytes (kind, a 32-bit keyed hash or
 * submitter number, a 40-bit index): 10 bytes a key, four keys an
 * entry; a hash match is only a candidate, confirmed against the entry.
 * In-memory Bloom filters on the leaf keys, one of every leaf held and
 * one per run, let deduplication know a new leaf without reading a run,
 * and read only the run that holds an old one.
 *
 * The tail is a ring of IX_TAIL_MAX records indexed by entry index, with a
 * leaf-hash table for deduplication (open addressing, keyed SipHash so
 * that crafted leaf hashes cannot make it cluster).  See index.h for the
 * rules that keep lookups exact across the hand-over.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "index.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "cl.h"
#include "ixblk.h"
#include "ixrun.h"

_Static_assert((IX_TAIL_MAX & (IX_TAIL_MAX - 1)) == 0, "IX_TAIL_MAX must be a power of two");

/* The search environment's own layout version (meta "layout"); another
 * version is rebuilt, not refused: it is derived data.  1: one DUPSORT
 * B-tree per key; 2: sorted runs (ixrun.h) of full keys; 3: of short
 * hashed keys. */
#define IX_LAYOUT 4

#define IX_TABLE (2 * IX_TAIL_MAX) /* load factor <= 1/2 */
/* A table cell: the entry's index + 1 in the low TABLE_BITS bits, its
 * leaf's slot_of above them, so that a deletion's shifts hash nothing. */
#define TABLE_BITS              44
#define TABLE_CELL(index, slot) ((uint64_t)(slot) << TABLE_BITS | ((index) + 1))
#define CELL_INDEX(c)           (((c) & (((uint64_t)1 << TABLE_BITS) - 1)) - 1)
#define CELL_SLOT(c)            ((size_t)((c) >> TABLE_BITS))
_Static_assert(IX_TABLE <= (1 << (64 - TABLE_BITS)), "a slot fits a cell");
/* Sparse (the file grows as needed), but address space all the same: some
 * environments (sanitizers, RLIMIT_AS) refuse a terabyte.  At ~80 bytes
 * per entry, and room for a merge's copy, this is ~4 * 10^8 entries; past
 * it the indexer fails with MDB_MAP_FULL, says so, and the log refuses
 * appends once the tail is full (no online growth yet). */
#define IX_MAP ((size_t)64 << 30)
/* A run's keys: kind (0 leaf, 1 + enum ix_which), a 32-bit value (the
 * keyed hash of the leaf hash, of the root's SHA-256 or of the narHash;
 * the submitter's number in "subs"), the entry index (40 bits), all
 * big-endian; values are empty.  10 bytes: LMDB takes 8 + 10 + 2 bytes of
 * a page per record. */
#define KIND_LEAF 0
/* A marker, KIND_MARK | kind (root or narHash), the value, the index of
 * one of them: the run's records of that value are of more than one key
 * (a hash collision inside the run).  Unmarked, they are all of one key,
 * so a search confirms one of them for the whole run. */
#define KIND_MARK  0x80
#define KEY_PREFIX 5 /* kind and value */
#define KEY_LEN    (KEY_PREFIX + 5)
_Static_assert(KEY_LEN == IXB_KEY, "run keys are ixblk's");
#define INDEX_MAX  ((uint64_t)1 << 40)
#define N_KINDS    (IX_N_KEYS + 1)
#define HKEY_LEN   crypto_shorthash_KEYBYTES
#define PROGRESS_S 5
/* Entries without search keys named on stderr, at most, per catch-up. */
#define SKIP_SAY_MAX 10
/* Bloom filters, blocked (each key's probes in one 512-bit block: one
 * cache line): at least this many bits per key, 7 probes (under 1 %
 * false positives).  The filter of every leaf the log holds starts with
 * room for batch * fanout^2 keys (2^20 by default) and adds filters twice
 * as large as it grows: log2 of the log's size over that, filters. */
#define BLOOM_BITS 12
#define BLOOM_K    7
#define SEEN_MAX   40

struct rec {
	uint64_t index;
	uint8_t leaf[MT_HASH_LEN];
	uint8_t key[IX_N_KEYS][32]; /* SHA-256 of the root, narHash, submitter */
	uint32_t hleaf;             /* the leaf's key value (key_hash) */
	uint32_t slot;              /* in the tail: its leaf's slot_of */
	bool has_keys;              /* false: only the leaf hash is indexed */
	bool has_submitter;
};

/* Leaf keys: a run's (the run over [from, to) in its slot), or up to cap
 * of the log's. */
struct bloom {
	uint64_t from, to;
	uint64_t cap, count;
	uint64_t blocks; /* a power of two, 8 words each */
	uint64_t w[];
};

/* The filters of every leaf the log holds (tail and runs, and some rolled
 * back): a leaf none of them may hold is new.  lost: a filter could not
 * be allocated; every lookup reads the runs. */
struct seen {
	struct bloom *f[SEEN_MAX];
	size_t n;
	bool lost;
};

/* Markers to write (KIND_MARK), in key order; at: the next to write. */
struct marks {
	uint8_t (*k)[KEY_LEN];
	size_t n, cap, at;
};

/* The merge under way (the indexer's, between its steps). */
struct merge {
	bool on, started; /* started: the target was emptied */
	size_t first;     /* runs [first, first + fanout) of ix->man */
	uint8_t target;   /* a free slot */
	uint8_t last[KEY_LEN];
	size_t last_len; /* 0: nothing copied yet */
	struct bloom *bloom;
	/* The records of one hashed kind and value being copied (g_kind 0:
	 * none): from source g_src last, the first of them entry g_first,
	 * marked or not. */
	int g_kind;
	uint32_t g_value;
	unsigned g_src;
	uint64_t g_first;
	bool g_marked;
	struct marks marks; /* found by this merge */
};

struct ix {
	struct st *st;
	MDB_env *env;
	MDB_dbi meta, subs, slot[IXR_SLOTS];
	struct st_reader *reader; /* the indexer's, for the root at upto */
	char *dir;                /* DIR/search */
	uint8_t table_key[crypto_shorthash_KEYBYTES];
	struct ix_tune tune;
	/* The environment's key of the hashed keys (meta "hash"), and their
	 * mask: set at ix_open and ix_start, before any reader or indexer. */
	uint8_t hkey[HKEY_LEN];
	uint32_t hmask;
	ix_fields_fn fields;
	void *fields_arg;

	/* The indexer's (ix_start's before the thread runs): the manifest as
	 * last committed, and the merge in progress. */
	struct ixr_set man;
	struct merge mg;

	pthread_mutex_t mu;
	pthread_cond_t work_cv, room_cv;
	struct rec *ring;               /* slot index % IX_TAIL_MAX, for the tail [low, next) */
	uint64_t *table;                /* 0, or a tail entry's TABLE_CELL */
	uint64_t low;                   /* = the search environment's upto */
	uint64_t durable;               /* [low, durable) may be indexed */
	uint64_t next;                  /* the next entry's index */
	struct bloom *bloom[IXR_SLOTS]; /* per slot, for the run it holds */
	struct seen seen;               /* every leaf in the tail or the runs */
	int err;                        /* the indexer's last failure, 0 after a success */
	bool stopping, started;
	bool room_wanted; /* the committer waits in ix_room */
	pthread_t thread;
};

static const struct ix_tune tune_default = {IX_BATCH, IX_FANOUT, IX_STEP, NULL, NULL, 0};

/* The bits kept of a hashed key's value (32 - ix_tune.hash_drop). */
static unsigned
hash_bits(const struct ix *ix)
{
	return 32 - ix->tune.hash_drop;
}

/* The 32-bit value of a hashed key: SipHash-2-4 under the environment's
 * key, so that nobody can make keys collide on purpose (a collision costs
 * a confirmation read, never a wrong answer), cut to ix->hmask. */
static uint32_t
key_hash(const struct ix *ix, const uint8_t *p, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];

	crypto_shorthash(h, p, len, ix->hkey);
	return cl_be32_get(h) & ix->hmask;
}

/* ---- The tail's leaf table (under mu) ---- */

static size_t
slot_of(const struct ix *ix, const uint8_t leaf[MT_HASH_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, leaf, MT_HASH_LEN, ix->table_key);
	memcpy(&v, h, sizeof v);
	return (size_t)(v & (IX_TABLE - 1));
}

static struct rec *
rec_at(const struct ix *ix, uint64_t index)
{
	return &ix->ring[index & (IX_TAIL_MAX - 1)];
}

/* Insert tail entry index, whose leaf's slot_of is `slot`. */
static void
table_insert(struct ix *ix, uint64_t index, size_t slot)
{
	size_t i = slot;

	while (ix->table[i] != 0)
		i = (i + 1) & (IX_TABLE - 1);
	ix->table[i] = TABLE_CELL(index, slot);
}

/* Find leaf, whose slot_of is `slot`. */
static bool
table_find(const struct ix *ix, const uint8_t leaf[MT_HASH_LEN], size_t slot, uint64_t *index)
{
	for (size_t i = slot; ix->table[i] != 0; i = (i + 1) & (IX_TABLE - 1)) {
		uint64_t at = CELL_INDEX(ix->table[i]);

		/* Only a cell of the same slot can hold leaf. */
		if (CELL_SLOT(ix->table[i]) == slot &&
		    memcmp(rec_at(ix, at)->leaf, leaf, MT_HASH_LEN) == 0) {
			*index = at;
			return true;
		}
	}
	return false;
}

/* Remove tail entry `index` (its record, with its slot, still in the
 * ring), shifting the rest of its probe run back (linear probing's
 * deletion without tombstones). */
static void
table_delete(struct ix *ix, uint64_t index)
{
	size_t i = rec_at(ix, index)->slot, j;
	uint64_t cell = TABLE_CELL(index, i);

	while (ix->table[i] != cell)
		i = (i + 1) & (IX_TABLE - 1);
	for (j = i;;) {
		size_t k;

		j = (j + 1) & (IX_TABLE - 1);
		if (ix->table[j] == 0)
			break;
		k = CELL_SLOT(ix->table[j]);
		/* The entry at j stays if its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		ix->table[i] = ix->table[j];
		i = j;
	}
	ix->table[i] = 0;
}

/* r for entry index, with its leaf's key value hleaf (key_hash). */
static void
rec_fill(struct rec *r, uint64_t index, const uint8_t leaf[MT_HASH_LEN], uint32_t hleaf,
    const char *root, const uint8_t nar[32], const uint8_t *submitter)
{
	r->index = index;
	memcpy(r->leaf, leaf, MT_HASH_LEN);
	r->hleaf = hleaf;
	r->has_keys = true;
	crypto_hash_sha256(r->key[IX_BY_ROOT], (const uint8_t *)root, strlen(root));
	memcpy(r->key[IX_BY_NAR], nar, 32);
	r->has_submitter = submitter != NULL;
	if (submitter != NULL)
		memcpy(r->key[IX_BY_SUBMITTER], submitter, 32);
	else
		memset(r->key[IX_BY_SUBMITTER], 0, 32);
}

/* ---- Bloom filters (installed and probed under mu) ---- */

static struct bloom *
bloom_new(uint64_t cap, uint64_t from, uint64_t to)
{
	uint64_t blocks = 1;
	struct bloom *b;

	while (blocks * 512 < cap * BLOOM_BITS && blocks < ((uint64_t)1 << 30))
		blocks <<= 1;
	if ((b = calloc(1, sizeof *b + blocks * 64)) == NULL)
		return NULL;
	b->from = from;
	b->to = to;
	b->cap = cap;
	b->blocks = blocks;
	return b;
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A key's block and probes come from the leaf's 32-bit key value (uniform:
 * keyed SipHash output; leaves with equal values are one key to the
 * filters, a false positive for the other): the probes, 9 bits each, and
 * the block from two mixes of it (splitmix64's finalizer). */
static const uint64_t *
bloom_block(const struct bloom *b, uint32_t h, uint64_t *probes)
{
	*probes = mix64(h);
	return &b->w[8 * (mix64(h ^ 0x9e3779b97f4a7c15u) & (b->blocks - 1))];
}

static void
bloom_add(struct bloom *b, uint32_t h)
{
	uint64_t z, *blk = (uint64_t *)bloom_block(b, h, &z);

	for (int i = 0; i < BLOOM_K; i++, z >>= 9)
		blk[(z & 511) / 64] |= (uint64_t)1 << (z & 63);
	b->count++;
}

static bool
bloom_has(const struct bloom *b, uint32_t h)
{
	uint64_t z;
	const uint64_t *blk = bloom_block(b, h, &z);

	for (int i = 0; i < BLOOM_K; i++, z >>= 9) {
		if ((blk[(z & 511) / 64] & (uint64_t)1 << (z & 63)) == 0)
			return false;
	}
	return true;
}

/* Add a leaf's key value to s (ix->seen under mu, or one being built),
 * whose first filter has room for batch * fanout^2 keys. */
static void
seen_add(const struct ix *ix, struct seen *s, uint32_t h)
{
	struct bloom *last = s->n > 0 ? s->f[s->n - 1] : NULL;

	if (s->lost)
		return;
	if (last == NULL || last->count >= last->cap) {
		uint64_t cap = last != NULL
		    ? 2 * last->cap
		    : (uint64_t)ix->tune.batch * ix->tune.fanout * ix->tune.fanout;

		if (s->n == SEEN_MAX || (last = bloom_new(cap, 0, 0)) == NULL) {
			s->lost = true;
			return;
		}
		s->f[s->n++] = last;
	}
	bloom_add(last, h);
}

/* Whether the log may hold a leaf of key value h (no: it is new). */
static bool
seen_may_hold(const struct seen *s, uint32_t h)
{
	if (s->lost)
		return true;
	for (size_t i = 0; i < s->n; i++) {
		if (bloom_has(s->f[i], h))
			return true;
	}
	return false;
}

/* Forget every leaf (the runs are emptied). */
static void
seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->f[i]);
	memset(s, 0, sizeof *s);
}

/* After a commit: make b (NULL: none) the filter of `slot`, drop the
 * filters of the n_gone slots in gone, and, for a flush of the tail, trim
 * the tail below upto. */
static void
publish(struct ix *ix, int slot, struct bloom *b, const uint8_t *gone, size_t n_gone, bool trim,
    uint64_t upto)
{
	pthread_mutex_lock(&ix->mu);
	for (size_t i = 0; i < n_gone; i++) {
		free(ix->bloom[gone[i]]);
		ix->bloom[gone[i]] = NULL;
	}
	if (slot >= 0) {
		free(ix->bloom[slot]);
		ix->bloom[slot] = b;
	}
	if (trim) {
		for (uint64_t i = ix->low; i < upto; i++)
			table_delete(ix, i);
		ix->low = upto;
		pthread_cond_broadcast(&ix->room_cv);
	}
	pthread_mutex_unlock(&ix->mu);
}

/* Which runs of s may hold leaf: want[i] for run i.  A run without its
 * filter (a new one, not installed yet) may. */
static void
bloom_select(struct ix *ix, const struct ixr_set *s, uint32_t leaf, bool *want)
{
	pthread_mutex_lock(&ix->mu);
	for (size_t i = 0; i < s->n; i++) {
		const struct bloom *b = ix->bloom[s->run[i].slot];

		want[i] = b == NULL || b->from != s->run[i].from || b->to != s->run[i].to ||
		    bloom_has(b, leaf);
	}
	pthread_mutex_unlock(&ix->mu);
}

/* ---- Keys and the manifest ---- */

static size_t
key_make(uint8_t out[KEY_LEN], int kind, uint32_t value, uint64_t index)
{
	out[0] = (uint8_t)kind;
	cl_be32_put(out + 1, value);
	out[KEY_PREFIX] = (uint8_t)(index >> 32);
	cl_be32_put(out + KEY_PREFIX + 1, (uint32_t)index);
	return KEY_LEN;
}

/* Whether a kind's values are hashes, confirmed against the entry. */
static bool
kind_hashed(int kind)
{
	return kind == 1 + IX_BY_ROOT || kind == 1 + IX_BY_NAR;
}

static int
marks_add(struct marks *m, int kind, uint32_t value, uint64_t index)
{
	if (m->n == m->cap) {
		size_t cap = m->cap == 0 ? 64 : 2 * m->cap;
		void *k = realloc(m->k, cap * sizeof *m->k);

		if (k == NULL)
			return ENOMEM;
		m->k = k;
		m->cap = cap;
	}
	key_make(m->k[m->n++], KIND_MARK | kind, value, index);
	return 0;
}

static void
marks_free(struct marks *m)
{
	free(m->k);
	memset(m, 0, sizeof *m);
}

/* A stored run key: its kind, value and index, or ST_ECORRUPT. */
static int
key_parse(const MDB_val *k, int *kind, uint32_t *value, uint64_t *index)
{
	const uint8_t *p = k->mv_data;

	if (k->mv_size != KEY_LEN || (p[0] >= N_KINDS && !kind_hashed(p[0] & ~KIND_MARK)))
		return ST_ECORRUPT;
	*kind = p[0];
	*value = cl_be32_get(p + 1);
	*index = (uint64_t)p[KEY_PREFIX] << 32 | cl_be32_get(p + KEY_PREFIX + 1);
	return 0;
}

static int
meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *val, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* The search environment's upto in txn (0 if it has none). */
static int
upto_get(struct ix *ix, MDB_txn *txn, uint64_t *upto)
{
	MDB_val k = {4, "upto"}, v;
	int rc = mdb_get(txn, ix->meta, &k, &v);

	*upto = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return ST_ECORRUPT;
	*upto = cl_be64_get(v.mv_data);
	return 0;
}

/* upto and the manifest of txn's snapshot. */
static int
man_get(struct ix *ix, MDB_txn *txn, uint64_t *upto, struct ixr_set *s)
{
	MDB_val k = {4, "runs"}, v = {0, NULL};
	int rc;

	s->n = 0;
	if ((rc = upto_get(ix, txn, upto)) != 0)
		return rc;
	if ((rc = mdb_get(txn, ix->meta, &k, &v)) != 0 && rc != MDB_NOTFOUND)
		return rc;
	return ixr_decode(v.mv_data, rc == 0 ? v.mv_size : 0, *upto, s);
}

static int
man_put(MDB_txn *txn, MDB_dbi meta, const struct ixr_set *s)
{
	uint8_t b[IXR_MAX];

	return meta_put(txn, meta, "runs", b, ixr_encode(s, b));
}

/* The main store's tree root at size, in a fresh snapshot of ix->reader. */
static int
root_at(struct ix *ix, uint64_t size, uint8_t root[MT_HASH_LEN])
{
	int rc;

	if ((rc = st_reader_begin(ix->reader)) != 0)
		return rc;
	if (size > st_reader_size(ix->reader))
		rc = ST_ECORRUPT;
	else
		rc = mt_root_at(size, st_node_read, ix->reader, root);
	st_reader_end(ix->reader);
	return rc;
}

/* A slot no run of ix->man holds and no merge writes, or -1. */
static int
slot_free(const struct ix *ix)
{
	bool used[IXR_SLOTS] = {false};

	for (size_t i = 0; i < ix->man.n; i++)
		used[ix->man.run[i].slot] = true;
	if (ix->mg.on)
		used[ix->mg.target] = true;
	for (int s = 0; s < IXR_SLOTS; s++) {
		if (!used[s])
			return s;
	}
	return -1;
}

static int
write_begin(struct ix *ix, MDB_txn **txn)
{
	int rc;

	/* The bulk loader's commits are not synced (ix_close syncs). */
	if ((rc = mdb_env_set_flags(ix->env, MDB_NOSYNC, st_sync_on(ix->st) ? 0 : 1)) != 0)
		return rc;
	return mdb_txn_begin(ix->env, NULL, 0, txn);
}

static void
committed(struct ix *ix, enum ix_commit what)
{
	if (ix->tune.after_commit != NULL)
		ix->tune.after_commit(ix->tune.arg, what);
}

/* ---- Writing a run ---- */

struct pair {
	uint32_t value;
	uint64_t index;
};

/* Sort the m pairs at p, which are in index order, by value (stable, so
 * by value and index): an LSD radix sort of the 32-bit values, a byte a
 * pass (a pass whose byte is the same for all is skipped), through tmp
 * (m more). */
static void
pairs_sort(struct pair *p, struct pair *tmp, size_t m)
{
	for (unsigned shift = 0; shift < 32; shift += 8) {
		size_t count[256] = {0}, at = 0;

		for (size_t i = 0; i < m; i++)
			count[(p[i].value >> shift) & 0xff]++;
		if (m == 0 || count[(p[0].value >> shift) & 0xff] == m)
			continue;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = count[b];

			count[b] = at;
			at += c;
		}
		for (size_t i = 0; i < m; i++)
			tmp[count[(p[i].value >> shift) & 0xff]++] = p[i];
		memcpy(p, tmp, m * sizeof *p);
	}
}

/* The number of submitter key `key` in txn's dictionary, a new one (the
 * next, in txn) if it has none.  memo: the last key looked up in txn, and
 * its number (*have false: none yet). */
static int
sub_number(
    struct ix *ix, MDB_txn *txn, const uint8_t key[32], uint8_t memo[32], uint32_t *id, bool *have)
{
	MDB_val k = {32, (void *)key}, v;
	uint8_t b[4];
	MDB_stat st;
	int rc;

	if (*have && memcmp(memo, key, 32) == 0)
		return 0;
	if ((rc = mdb_get(txn, ix->subs, &k, &v)) == 0) {
		if (v.mv_size != 4)
			return ST_ECORRUPT;
		*id = cl_be32_get(v.mv_data);
	} else if (rc == MDB_NOTFOUND) {
		if ((rc = mdb_stat(txn, ix->subs, &st)) != 0)
			return rc;
		if (st.ms_entries >= UINT32_MAX)
			return EOVERFLOW;
		*id = (uint32_t)st.ms_entries;
		cl_be32_put(b, *id);
		v = (MDB_val){4, b};
		if ((rc = mdb_put(txn, ix->subs, &k, &v, MDB_NOOVERWRITE)) != 0)
			return rc;
	} else {
		return rc;
	}
	memcpy(memo, key, 32);
	*have = true;
	return 0;
}

/* Index the n entries [upto - n, upto), entry i's record at
 * recs[(first + i) & mask], as a new run in one durable commit that also
 * records the manifest, upto and the tree root there (and the submitter
 * keys new to the dictionary).  A value of a hashed kind whose records are
 * of more than one key is marked.  pairs: scratch for 2 * n.  Needs a free
 * slot.  On success the run's filter is installed. */
static int
run_write(struct ix *ix, const struct rec *recs, size_t first, size_t mask, size_t n, uint64_t upto,
    struct pair *pairs, bool trim)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	struct bloom *bl = NULL;
	struct ixr_set next = ix->man;
	struct marks mk = {0};
	struct ixb_writer *w = NULL;
	uint8_t root[MT_HASH_LEN], ub[8], memo[32];
	bool have = false;
	uint32_t id = 0;
	int slot = slot_free(ix), rc;

	if (slot < 0 || n == 0 || next.n == IXR_SLOTS)
		return ST_ECORRUPT; /* the indexer merges before it needs one */
	if (upto > INDEX_MAX)
		return EOVERFLOW; /* far past what the map holds */
	if ((rc = root_at(ix, upto, root)) != 0)
		return rc;
	if ((bl = bloom_new(n, upto - n, upto)) == NULL || (w = malloc(sizeof *w)) == NULL) {
		rc = ENOMEM;
		goto out;
	}
	if ((rc = write_begin(ix, &txn)) != 0)
		goto out;
	/* A merge's abandoned output may be left in a free slot. */
	if ((rc = mdb_drop(txn, ix->slot[slot], 0)) != 0 ||
	    (rc = mdb_cursor_open(txn, ix->slot[slot], &c)) != 0)
		goto out;
	ixb_writer_init(w, c, NULL);
	for (int kind = 0; kind < N_KINDS; kind++) {
		int d = kind - 1;
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			const struct rec *r = &recs[(first + i) & mask];
			uint32_t v;

			if (kind == KIND_LEAF) {
				v = r->hleaf;
			} else if (!r->has_keys || (d == IX_BY_SUBMITTER && !r->has_submitter)) {
				continue;
			} else if (d == IX_BY_SUBMITTER) {
				if ((rc = sub_number(ix, txn, r->key[d], memo, &id, &have)) != 0)
					goto out;
				v = id;
			} else {
				v = key_hash(ix, r->key[d], 32);
			}
			pairs[m++] = (struct pair){v, r->index};
		}
		pairs_sort(pairs, pairs + n, m);
		for (size_t i = 0, j; kind_hashed(kind) && i < m; i = j) {
			const uint8_t *k0 =
			    recs[(first + (pairs[i].index - (upto - n))) & mask].key[d];
			bool mixed = false;

			for (j = i + 1; j < m && pairs[j].value == pairs[i].value; j++) {
				const struct rec *r =
				    &recs[(first + (pairs[j].index - (upto - n))) & mask];

				mixed = mixed || memcmp(r->key[d], k0, 32) != 0;
			}
			if (mixed &&
			    (rc = marks_add(&mk, kind, pairs[i].value, pairs[i].index)) != 0)
				goto out;
		}
		for (size_t i = 0; i < m; i++) {
			uint8_t kb[KEY_LEN];

			key_make(kb, kind, pairs[i].value, pairs[i].index);
			if (kind == KIND_LEAF)
				bloom_add(bl, pairs[i].value);
			/* Each entry is indexed once: out of order is ST_ECORRUPT. */
			if ((rc = ixb_put(w, kb)) != 0)
				goto out;
		}
	}
	for (size_t i = 0; i < mk.n; i++) {
		if ((rc = ixb_put(w, mk.k[i])) != 0)
			goto out;
	}
	if ((rc = ixb_flush(w)) != 0)
		goto out;
	mdb_cursor_close(c);
	c = NULL;
	next.run[next.n++] = (struct ixr_run){(uint8_t)slot, upto - n, upto};
	cl_be64_put(ub, upto);
	if ((rc = man_put(txn, ix->meta, &next)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "upto", ub, 8)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "root", root, MT_HASH_LEN)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	ix->man = next;
	publish(ix, slot, bl, NULL, 0, trim, upto);
	bl = NULL;
	if (!trim) {
		/* The catch-up's entries were never in the tail. */
		pthread_mutex_lock(&ix->mu);
		for (size_t i = 0; i < n; i++)
			seen_add(ix, &ix->seen, recs[(first + i) & mask].hleaf);
		pthread_mutex_unlock(&ix->mu);
	}
	committed(ix, IX_COMMIT_RUN);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	marks_free(&mk);
	free(w);
	free(bl);
	return rc;
}

/* ---- Merging runs ---- */

/* Whether a merge is under way or due. */
static bool
merge_due(struct ix *ix)
{
	size_t first;

	return ix->mg.on || ixr_pick(&ix->man, ix->tune.batch, ix->tune.fanout, IX_TOP, &first);
}

static void
merge_abandon(struct ix *ix)
{
	free(ix->mg.bloom);
	marks_free(&ix->mg.marks);
	memset(&ix->mg, 0, sizeof ix->mg);
}

/* Follow the merge's records of hashed kinds (record `index`, of `kind`
 * and `value`, from source src) and mark each value whose records come
 * from two sources or more: they may be of different keys (each source's
 * own are of one key, or marked there).  Not read from the entries to
 * tell: those reads fall all over the log, each decoding an entry bundle,
 * 9 us per entry merged with the bench's 1000 repeated roots. */
static int
merge_track(struct ix *ix, int kind, uint32_t value, uint64_t index, unsigned src)
{
	struct merge *mg = &ix->mg;

	if (!kind_hashed(kind))
		return 0;
	if (mg->g_kind != kind || mg->g_value != value) {
		mg->g_kind = kind;
		mg->g_value = value;
		mg->g_src = src;
		mg->g_first = index;
		mg->g_marked = false;
		return 0;
	}
	if (src == mg->g_src || mg->g_marked)
		return 0;
	mg->g_marked = true;
	return marks_add(&mg->marks, kind, value, mg->g_first);
}

/* Copy up to ix->tune.step keys of the merge (starting one if due) into
 * its target, in one durable write transaction; the last step also swaps
 * the target in for its sources in the manifest and empties them.  The
 * sources are read in key order, one cursor each: their keys are unique
 * (the index is in the key; a marker both a source and the merge hold is
 * written once), so a step resumes just past the last key copied.  Each
 * key is checked to lie in its run's range: a merge reads every key, so
 * damage is found here.  A hashed value whose records come from several
 * sources is marked (merge_track).  Returns 0
 * (nothing due is 0 too) or an error, the merge then abandoned. */
static int
merge_step(struct ix *ix)
{
	struct merge *mg = &ix->mg;
	unsigned fan = ix->tune.fanout;
	MDB_txn *txn = NULL;
	MDB_cursor *cur[IXR_FANOUT_MAX] = {NULL}, *dst = NULL;
	struct ixb_cursor src[IXR_FANOUT_MAX];
	struct ixb_writer w;
	const uint8_t *key[IXR_FANOUT_MAX];
	bool live[IXR_FANOUT_MAX];
	const struct ixr_run *runs;
	struct ixr_set next;
	size_t copied = 0;
	int rc, slot;

	if (!mg->on) {
		if (!ixr_pick(&ix->man, ix->tune.batch, fan, IX_TOP, &mg->first))
			return 0;
		if ((slot = slot_free(ix)) < 0)
			return ST_ECORRUPT; /* IXR_CROWDED leaves room */
		mg->target = (uint8_t)slot;
		mg->on = true;
		mg->bloom =
		    bloom_new(ix->man.run[mg->first + fan - 1].to - ix->man.run[mg->first].from,
		        ix->man.run[mg->first].from, ix->man.run[mg->first + fan - 1].to);
		if (mg->bloom == NULL) {
			rc = ENOMEM;
			goto out;
		}
	}
	runs = &ix->man.run[mg->first];
	if ((rc = write_begin(ix, &txn)) != 0)
		goto out;
	if (!mg->started && (rc = mdb_drop(txn, ix->slot[mg->target], 0)) != 0)
		goto out;
	mg->started = true;
	if ((rc = mdb_cursor_open(txn, ix->slot[mg->target], &dst)) != 0)
		goto out;
	ixb_writer_init(&w, dst, mg->last_len > 0 ? mg->last : NULL);
	for (unsigned i = 0; i < fan; i++) {
		if ((rc = mdb_cursor_open(txn, ix->slot[runs[i].slot], &cur[i])) != 0)
			goto out;
		ixb_cursor_init(&src[i], cur[i]);
		rc = mg->last_len == 0 ? ixb_first(&src[i]) : ixb_seek(&src[i], mg->last);
		if (rc == 0 && mg->last_len > 0 && ixb_cmp(ixb_key(&src[i]), mg->last) == 0)
			rc = ixb_next(&src[i]);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
		live[i] = rc == 0;
		key[i] = live[i] ? ixb_key(&src[i]) : NULL;
	}
	for (;;) {
		const uint8_t *mark = mg->marks.at < mg->marks.n ? mg->marks.k[mg->marks.at] : NULL;
		const uint8_t *k;
		int kind, at = -1;
		uint32_t value;
		uint64_t index;

		for (unsigned i = 0; i < fan; i++) {
			if (live[i] && (at < 0 || ixb_cmp(key[i], key[at]) < 0))
				at = (int)i;
		}
		if (at >= 0) {
			MDB_val kv = {KEY_LEN, (void *)key[at]};

			if ((rc = key_parse(&kv, &kind, &value, &index)) != 0)
				goto out;
			if (index < runs[at].from || index >= runs[at].to) {
				rc = ST_ECORRUPT;
				goto out;
			}
		}
		/* The markers this merge found sort after every record: they
		 * are written among the sources' own. */
		if (mark != NULL && (at < 0 || ixb_cmp(mark, key[at]) < 0))
			at = -2;
		if (at == -1)
			break; /* all copied */
		if (copied == ix->tune.step)
			goto partial;
		k = at >= 0 ? key[at] : mark;
		if (at >= 0 && kind == KIND_LEAF)
			bloom_add(mg->bloom, value);
		if (at >= 0 && (rc = merge_track(ix, kind, value, index, (unsigned)at)) != 0)
			goto out;
		/* A marker found again (by this merge and a source) once; any
		 * other key out of order is ST_ECORRUPT. */
		if (mg->last_len != KEY_LEN || ixb_cmp(k, mg->last) != 0) {
			if ((rc = ixb_put(&w, k)) != 0)
				goto out;
		}
		/* The key is read again at the next step's start: keep it. */
		mg->last_len = KEY_LEN;
		memcpy(mg->last, k, KEY_LEN);
		copied++;
		if (at < 0) {
			mg->marks.at++;
			continue;
		}
		rc = ixb_next(&src[at]);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
		live[at] = rc == 0;
		key[at] = live[at] ? ixb_key(&src[at]) : NULL;
	}
	if ((rc = ixb_flush(&w)) != 0)
		goto out;
	/* The swap: the target for its sources, which are emptied. */
	next = ix->man;
	ixr_replace(&next, mg->first, fan, mg->target);
	for (unsigned i = 0; i < fan; i++) {
		mdb_cursor_close(cur[i]);
		cur[i] = NULL;
		if ((rc = mdb_drop(txn, ix->slot[runs[i].slot], 0)) != 0)
			goto out;
	}
	mdb_cursor_close(dst);
	dst = NULL;
	if ((rc = man_put(txn, ix->meta, &next)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	{
		uint8_t gone[IXR_FANOUT_MAX];

		for (unsigned i = 0; i < fan; i++)
			gone[i] = runs[i].slot;
		ix->man = next;
		publish(ix, mg->target, mg->bloom, gone, fan, false, 0);
		mg->bloom = NULL;
	}
	merge_abandon(ix); /* done: nothing left to abandon */
	committed(ix, IX_COMMIT_SWAP);
	return 0;
partial:
	if ((rc = ixb_flush(&w)) != 0)
		goto out;
	for (unsigned i = 0; i < fan; i++) {
		mdb_cursor_close(cur[i]);
		cur[i] = NULL;
	}
	mdb_cursor_close(dst);
	dst = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		committed(ix, IX_COMMIT_STEP);
out:
	for (unsigned i = 0; i < fan; i++) {
		if (cur[i] != NULL)
			mdb_cursor_close(cur[i]);
	}
	if (dst != NULL)
		mdb_cursor_close(dst);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc != 0)
		merge_abandon(ix);
	return rc;
}

/* ---- The environment ---- */

/* Whether the search environment describes a prefix of st's tree, its
 * keys hashed to the tuned bits (once tuned: `tuned`, at ix_start). */
static int
env_check(struct ix *ix, uint64_t size, bool tuned, const char **bad)
{
	MDB_txn *txn = NULL;
	MDB_val k = {6, "layout"}, v;
	uint8_t want[MT_HASH_LEN], lb[8];
	struct ixr_set s;
	uint64_t upto;
	int rc;

	*bad = NULL;
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	rc = mdb_get(txn, ix->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*bad = "is new";
		rc = 0;
		goto out;
	}
	cl_be64_put(lb, IX_LAYOUT);
	if (rc != 0 || v.mv_size != 8 || memcmp(v.mv_data, lb, 8) != 0) {
		*bad = "has another layout";
		rc = 0;
		goto out;
	}
	if ((rc = man_get(ix, txn, &upto, &s)) != 0) {
		*bad = "is unreadable";
		rc = 0;
		goto out;
	}
	if (upto > size) {
		*bad = "is ahead of the log";
		goto out;
	}
	k = (MDB_val){4, "hash"};
	if (mdb_get(txn, ix->meta, &k, &v) != 0 || v.mv_size != HKEY_LEN + 1) {
		*bad = "is unreadable";
		goto out;
	}
	if (tuned && ((const uint8_t *)v.mv_data)[HKEY_LEN] != hash_bits(ix)) {
		*bad = "has keys of another hash width";
		goto out;
	}
	memcpy(ix->hkey, v.mv_data, HKEY_LEN);
	if (upto == 0)
		goto out;
	k = (MDB_val){4, "root"};
	if (mdb_get(txn, ix->meta, &k, &v) != 0 || v.mv_size != MT_HASH_LEN) {
		*bad = "is unreadable";
		goto out;
	}
	if ((rc = root_at(ix, upto, want)) != 0)
		goto out;
	if (memcmp(want, v.mv_data, MT_HASH_LEN) != 0)
		*bad = "is for another tree";
out:
	mdb_txn_abort(txn);
	return rc;
}

/* Whether a database name is this layout's. */
static bool
name_ours(const MDB_val *k)
{
	const char *p = k->mv_data;

	return (k->mv_size == 4 && (memcmp(p, "meta", 4) == 0 || memcmp(p, "subs", 4) == 0)) ||
	    (k->mv_size == 5 && memcmp(p, "run", 3) == 0 && p[3] >= '0' && p[3] <= '9' &&
	        p[4] >= '0' && p[4] <= '9' && (p[3] - '0') * 10 + (p[4] - '0') < IXR_SLOTS);
}

/* Delete the named databases of another layout (layout 1's "leaf",
 * "by_root", ...), one at a time through the spare handle. */
static int
foreign_drop(MDB_txn *txn)
{
	for (;;) {
		MDB_dbi main, d;
		MDB_cursor *c;
		MDB_val k, v;
		char name[64] = "";
		int rc;

		if ((rc = mdb_dbi_open(txn, NULL, 0, &main)) != 0 ||
		    (rc = mdb_cursor_open(txn, main, &c)) != 0)
			return rc;
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (!name_ours(&k) && k.mv_size < sizeof name &&
			    memchr(k.mv_data, '\0', k.mv_size) == NULL) {
				memcpy(name, k.mv_data, k.mv_size);
				break;
			}
		}
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc != 0)
			return rc;
		if ((rc = mdb_dbi_open(txn, name, 0, &d)) != 0 || (rc = mdb_drop(txn, d, 1)) != 0)
			return rc;
	}
}

/* Empty the search environment and record its layout, a new key for its
 * hashed keys, upto 0, no runs. */
static int
env_clear(struct ix *ix)
{
	MDB_txn *txn = NULL;
	uint8_t b[8], hk[HKEY_LEN + 1];
	int rc;

	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = foreign_drop(txn)) != 0)
		goto out;
	for (int s = 0; s < IXR_SLOTS; s++) {
		if ((rc = mdb_drop(txn, ix->slot[s], 0)) != 0)
			goto out;
	}
	crypto_shorthash_keygen(hk);
	hk[HKEY_LEN] = (uint8_t)hash_bits(ix);
	cl_be64_put(b, IX_LAYOUT);
	if ((rc = mdb_drop(txn, ix->meta, 0)) != 0 || (rc = mdb_drop(txn, ix->subs, 0)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "layout", b, 8)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "hash", hk, sizeof hk)) != 0)
		goto out;
	cl_be64_put(b, 0);
	if ((rc = meta_put(txn, ix->meta, "upto", b, 8)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "runs", "", 0)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	memcpy(ix->hkey, hk, HKEY_LEN);
	{
		uint8_t all[IXR_SLOTS];

		for (int k = 0; k < IXR_SLOTS; k++)
			all[k] = (uint8_t)k;
		ix->man.n = 0;
		merge_abandon(ix);
		publish(ix, -1, NULL, all, IXR_SLOTS, false, 0);
		pthread_mutex_lock(&ix->mu);
		seen_clear(&ix->seen);
		pthread_mutex_unlock(&ix->mu);
	}
out:
	sodium_memzero(hk, sizeof hk);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* Load the manifest into ix->man, empty the slots it does not list (a
 * merge cut short by a crash leaves its output there) and build the runs'
 * filters, and the filter of every leaf, from their leaf keys: what
 * ix_start needs before indexing.  The filters are built without the lock
 * and swapped in once. */
static int
env_load(struct ix *ix)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	struct bloom *runs[IXR_SLOTS] = {NULL};
	struct seen all = {0};
	bool used[IXR_SLOTS] = {false};
	uint64_t upto;
	int rc;

	merge_abandon(ix);
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = man_get(ix, txn, &upto, &ix->man)) != 0)
		goto out;
	for (size_t i = 0; i < ix->man.n; i++)
		used[ix->man.run[i].slot] = true;
	for (int s = 0; s < IXR_SLOTS; s++) {
		MDB_stat st;

		if (used[s])
			continue;
		if ((rc = mdb_stat(txn, ix->slot[s], &st)) != 0 ||
		    (st.ms_entries > 0 && (rc = mdb_drop(txn, ix->slot[s], 0)) != 0))
			goto out;
	}
	for (size_t i = 0; i < ix->man.n; i++) {
		const struct ixr_run *run = &ix->man.run[i];
		struct bloom *b = bloom_new(run->to - run->from, run->from, run->to);
		struct ixb_cursor r;
		int kind;
		uint32_t value;
		uint64_t index;

		if ((runs[run->slot] = b) == NULL) {
			rc = ENOMEM;
			goto out;
		}
		if ((rc = mdb_cursor_open(txn, ix->slot[run->slot], &c)) != 0)
			goto out;
		ixb_cursor_init(&r, c);
		/* Leaf keys (kind 0) come first. */
		for (rc = ixb_first(&r); rc == 0; rc = ixb_next(&r)) {
			MDB_val k = {KEY_LEN, (void *)ixb_key(&r)};

			if ((rc = key_parse(&k, &kind, &value, &index)) != 0 || kind != KIND_LEAF)
				break;
			if (index < run->from || index >= run->to) {
				rc = ST_ECORRUPT;
				break;
			}
			bloom_add(b, value);
			seen_add(ix, &all, value);
		}
		mdb_cursor_close(c);
		c = NULL;
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	pthread_mutex_lock(&ix->mu);
	for (int s = 0; s < IXR_SLOTS; s++) {
		free(ix->bloom[s]);
		ix->bloom[s] = runs[s];
		runs[s] = NULL;
	}
	seen_clear(&ix->seen);
	ix->seen = all;
	memset(&all, 0, sizeof all);
	pthread_mutex_unlock(&ix->mu);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	for (int s = 0; s < IXR_SLOTS; s++)
		free(runs[s]);
	seen_clear(&all);
	return rc;
}

/* Merge until no merge is due: for ix_start, which nothing waits on. */
static int
merge_all(struct ix *ix)
{
	int rc = 0;

	while (rc == 0 && merge_due(ix))
		rc = merge_step(ix);
	return rc;
}

/* The most threads a catch-up reads keys with (each a signature check per
 * entry, in a rebuild: the cores make it faster), from this many entries
 * (or a chunk) on. */
#define FILL_MAX  8
#define FILL_FROM 4096

/* One thread's share of a catch-up's chunk: recs[i] for the i in [0, n)
 * in the w-th of nw equal stretches (so that each reads its entry
 * bundles in turn, decoding each once), entry from + i, read in its own
 * snapshot of r. */
struct fill {
	struct ix *ix;
	ix_keys_fn keys;
	void *arg;
	struct st_reader *r;
	struct rec *recs;
	uint64_t from;
	size_t n, w, nw;
	atomic_uint_fast64_t *skipped;
	int rc;
	char why[CL_WHY_MAX];
};

static void *
fill_main(void *arg)
{
	struct fill *f = arg;
	struct ix_keys k;
	int rc;

	if ((rc = st_reader_begin(f->r)) != 0) {
		f->rc = cl_why(f->why, rc, "store: %s", st_strerror(rc));
		return NULL;
	}
	for (size_t i = f->n * f->w / f->nw; i < f->n * (f->w + 1) / f->nw; i++) {
		const uint8_t *data;
		uint8_t leaf[MT_HASH_LEN];
		uint64_t at = f->from + i;
		size_t len;

		if ((rc = st_entry_get(f->r, at, &data, &len)) != 0) {
			f->rc = cl_why(
			    f->why, rc, "entry %llu: %s", (unsigned long long)at, st_strerror(rc));
			break;
		}
		mt_leaf_hash(leaf, data, len);
		if (f->keys(f->arg, data, len, &k) != 0) {
			if (atomic_fetch_add(f->skipped, 1) < SKIP_SAY_MAX)
				fprintf(stderr,
				    "closurelogd: entry %llu: cannot read its search keys; it is "
				    "found by its leaf hash only, not by search\n",
				    (unsigned long long)at);
			memset(&f->recs[i], 0, sizeof f->recs[i]);
			f->recs[i].index = at;
			memcpy(f->recs[i].leaf, leaf, MT_HASH_LEN);
			f->recs[i].hleaf = key_hash(f->ix, leaf, MT_HASH_LEN);
			continue;
		}
		rec_fill(&f->recs[i], at, leaf, key_hash(f->ix, leaf, MT_HASH_LEN), k.root, k.nar,
		    k.has_submitter ? k.submitter : NULL);
	}
	st_reader_end(f->r);
	return NULL;
}

/* Index entries [from, size) of the main store, reading their keys with
 * keys() (in up to FILL_MAX threads, one per core): the catch-up after a
 * crash, or a whole rebuild, in runs of batch * fanout entries (at most
 * IX_TAIL_MAX), merged as they come.  An entry whose keys cannot be read
 * is indexed by its leaf hash only (deduplication needs it), with a
 * warning: one unreadable entry must not stop the log. */
static int
catch_up(struct ix *ix, uint64_t from, uint64_t size, ix_keys_fn keys, void *arg, char *why)
{
	size_t chunk = ix->tune.batch * ix->tune.fanout, nw = 1;
	struct rec *recs = NULL;
	struct pair *pairs = NULL;
	struct fill fl[FILL_MAX];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	time_t last = time(NULL);
	atomic_uint_fast64_t skipped = 0;
	int rc = 0;

	if (chunk > IX_TAIL_MAX)
		chunk = IX_TAIL_MAX;
	/* Threads only for a long catch-up: a rebuild. */
	if (size - from > (chunk < FILL_FROM ? chunk : FILL_FROM) && cores > 1)
		nw = cores < FILL_MAX ? (size_t)cores : FILL_MAX;
	memset(fl, 0, sizeof fl);
	recs = malloc(chunk * sizeof *recs);
	pairs = malloc(2 * chunk * sizeof *pairs);
	if (recs == NULL || pairs == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t w = 0; w < nw; w++) {
		fl[w] =
		    (struct fill){ix, keys, arg, ix->reader, recs, 0, 0, w, nw, &skipped, 0, ""};
		if (w > 0 && (rc = st_reader_new(ix->st, &fl[w].r)) != 0) {
			fl[w].r = NULL;
			cl_why(why, rc, "store: %s", st_strerror(rc));
			goto out;
		}
	}
	if (size - from > chunk)
		fprintf(stderr, "closurelogd: indexing entries %llu to %llu for search\n",
		    (unsigned long long)from, (unsigned long long)size);
	while (from < size) {
		size_t n = size - from < chunk ? (size_t)(size - from) : chunk, started = 1;
		pthread_t t[FILL_MAX];

		for (size_t w = 0; w < nw; w++) {
			fl[w].from = from;
			fl[w].n = n;
			fl[w].rc = 0;
		}
		for (; started < nw; started++) {
			if (pthread_create(&t[started], NULL, fill_main, &fl[started]) != 0)
				break; /* fewer threads: this one reads their share */
		}
		for (size_t w = started; w < nw; w++)
			fill_main(&fl[w]);
		fill_main(&fl[0]);
		for (size_t w = 1; w < started; w++)
			pthread_join(t[w], NULL);
		for (size_t w = 0; w < nw; w++) {
			if (fl[w].rc != 0) {
				rc = cl_why(why, fl[w].rc, "%s", fl[w].why);
				goto out;
			}
		}
		if ((rc = run_write(ix, recs, 0, SIZE_MAX, n, from + n, pairs, false)) != 0 ||
		    (rc = merge_all(ix)) != 0) {
			cl_why(why, rc, "search index: %s", st_strerror(rc));
			goto out;
		}
		from += n;
		if (time(NULL) - last >= PROGRESS_S) {
			last = time(NULL);
			fprintf(stderr, "closurelogd: indexed %llu of %llu entries for search\n",
			    (unsigned long long)from, (unsigned long long)size);
		}
	}
out:
	if (skipped > 0)
		fprintf(stderr,
		    "closurelogd: %llu entr%s without search keys (found by leaf hash only)\n",
		    (unsigned long long)skipped, skipped == 1 ? "y" : "ies");
	for (size_t w = 1; w < nw; w++)
		st_reader_free(fl[w].r);
	free(pairs);
	free(recs);
	return rc;
}

/* Whether rc says the search environment's files are damaged (a power cut
 * while LMDB made them, say): derived data, so they are made afresh. */
static bool
env_damaged(int rc)
{
	return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH ||
	    rc == MDB_PANIC || rc == MDB_PAGE_NOTFOUND || rc == ST_ECORRUPT;
}

/* Open the environment in ix->dir and its databases: every run slot,
 * once, here (LMDB's handles are for the whole environment's life). */
static int
env_open_once(struct ix *ix)
{
	MDB_txn *txn = NULL;
	int rc;

	if ((rc = mdb_env_create(&ix->env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(ix->env, IXR_SLOTS + 3)) != 0 ||
	    (rc = mdb_env_set_mapsize(ix->env, IX_MAP)) != 0 ||
	    (rc = mdb_env_open(ix->env, ix->dir, MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ix->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "subs", MDB_CREATE, &ix->subs)) != 0)
		goto fail;
	for (int s = 0; s < IXR_SLOTS; s++) {
		char name[8];

		snprintf(name, sizeof name, "run%02d", s);
		if ((rc = mdb_dbi_open(txn, name, MDB_CREATE, &ix->slot[s])) != 0)
			goto fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(ix->env);
	ix->env = NULL;
	return rc;
}

/* Remove the environment's files (closed) and open it empty. */
static int
env_recreate(struct ix *ix, int was)
{
	char path[4200];

	if (ix->env != NULL)
		mdb_env_close(ix->env);
	ix->env = NULL;
	fprintf(stderr, "closurelogd: the search index in %s is damaged (%s); making it again\n",
	    ix->dir, st_strerror(was));
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", ix->dir, i == 0 ? "data.mdb" : "lock.mdb");
		if (unlink(path) != 0 && errno != ENOENT)
			return errno;
	}
	return env_open_once(ix);
}

static int
env_open(struct ix *ix, char *why)
{
	char dir[4096];
	int rc;

	if ((size_t)snprintf(dir, sizeof dir, "%s/search", st_dir(ix->st)) >= sizeof dir)
		return cl_why(why, ENAMETOOLONG, "data directory path too long");
	if ((ix->dir = strdup(dir)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((rc = st_dir_create(dir, why)) != 0)
		return rc;
	rc = env_open_once(ix);
	if (env_damaged(rc))
		rc = env_recreate(ix, rc);
	if (rc != 0)
		return cl_why(
		    why, rc, "cannot open the search index in %s: %s", dir, st_strerror(rc));
	/* Derived data, rebuilt if lost; synced all the same so that a power
	 * cut does not leave LMDB a data file without its lock file. */
	if ((rc = st_dir_sync(dir)) != 0)
		return cl_why(why, rc, "cannot sync %s: %s", dir, strerror(rc));
	return 0;
}

/* Check the search environment against st (its size into *size), and
 * empty it, or make its files again if damaged, if it does not describe a
 * prefix of st's tree (or, tuned, has keys of other bits). */
static int
env_prepare(struct ix *ix, uint64_t *size, bool tuned, char *why)
{
	const char *bad = NULL;
	int rc;

	if ((rc = st_reader_begin(ix->reader)) != 0)
		return cl_why(why, rc, "store: %s", st_strerror(rc));
	*size = st_reader_size(ix->reader);
	st_reader_end(ix->reader);
	rc = env_check(ix, *size, tuned, &bad);
	if (env_damaged(rc) && (rc = env_recreate(ix, rc)) == 0)
		bad = "is new";
	if (rc != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	if (bad == NULL)
		return 0;
	if (strcmp(bad, "is new") != 0 || *size > 0)
		fprintf(stderr,
		    "closurelogd: the search index %s; rebuilding it from %llu entries\n", bad,
		    (unsigned long long)*size);
	rc = env_clear(ix);
	if (env_damaged(rc) && (rc = env_recreate(ix, rc)) == 0)
		rc = env_clear(ix);
	if (rc != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	return 0;
}

/* ---- The indexer thread ---- */

/* Whether the tail holds what the indexer should write now (under mu):
 * a large run, what a waiting committer needs, or everything at the end. */
static bool
flush_due(const struct ix *ix)
{
	return ix->durable - ix->low >= ix->tune.batch ||
	    ((ix->room_wanted || ix->stopping) && ix->durable > ix->low);
}

/* Flushes and merge steps take turns while both are due, so that neither
 * the tail (bounded by ix_room) nor the number of runs outgrows the
 * other; a merge step is bounded by tune.step keys, so a committer
 * waiting for room waits at most one step and one run. */
static void *
indexer_main(void *arg)
{
	struct ix *ix = arg;
	struct pair *pairs = malloc(2 * IX_TAIL_MAX * sizeof *pairs);
	bool merge_turn = false;

	pthread_setname_np(pthread_self(), "cl-index");
	pthread_mutex_lock(&ix->mu);
	for (;;) {
		uint64_t from, to;
		bool flush, merge;
		int rc;

		/* ix->man and ix->mg are this thread's: read without mu. */
		flush = flush_due(ix);
		merge = merge_due(ix);
		if (ix->stopping && !flush)
			break; /* merges go on at the next start */
		if (!flush && !merge) {
			pthread_cond_wait(&ix->work_cv, &ix->mu);
			continue;
		}
		/* Both due: the merge on its turn, or when a flush would find
		 * no free slot; at the end, the flush. */
		if (flush && merge)
			merge = slot_free(ix) < 0 || (merge_turn && !ix->stopping);
		flush = !merge;
		if (flush)
			ix->room_wanted = false;
		merge_turn = flush;
		from = ix->low;
		to = ix->durable;
		pthread_mutex_unlock(&ix->mu);

		/* The committer neither changes nor drops tail entries below
		 * durable: they can be read without the lock. */
		if (merge)
			rc = merge_step(ix);
		else if (pairs == NULL)
			rc = ENOMEM;
		else
			rc = run_write(ix, ix->ring, (size_t)(from & (IX_TAIL_MAX - 1)),
			    IX_TAIL_MAX - 1, (size_t)(to - from), to, pairs, true);

		pthread_mutex_lock(&ix->mu);
		if (rc != 0) {
			if (ix->err == 0)
				fprintf(stderr, "closurelogd: search indexing failed: %s\n",
				    st_strerror(rc));
			ix->err = rc;
			pthread_cond_broadcast(&ix->room_cv);
			if (ix->stopping)
				break;
			/* Try again in a while (the disk may get space). */
			struct timespec dl;

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 1;
			pthread_cond_timedwait(&ix->work_cv, &ix->mu, &dl);
			continue;
		}
		/* (A flush's run is visible now, and publish trimmed the tail.) */
		ix->err = 0;
	}
	pthread_mutex_unlock(&ix->mu);
	free(pairs);
	return NULL;
}

/* ---- Life cycle ---- */

int
ix_open(struct st *st, struct ix **out, char *why)
{
	struct ix *ix;
	uint64_t size;
	int rc;

	*out = NULL;
	if ((ix = calloc(1, sizeof *ix)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	ix->st = st;
	ix->tune = tune_default;
	ix->hmask = UINT32_MAX;
	pthread_mutex_init(&ix->mu, NULL);
	pthread_cond_init(&ix->work_cv, NULL);
	pthread_cond_init(&ix->room_cv, NULL);
	crypto_shorthash_keygen(ix->table_key);
	if ((ix->ring = malloc(IX_TAIL_MAX * sizeof *ix->ring)) == NULL ||
	    (ix->table = calloc(IX_TABLE, sizeof *ix->table)) == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = st_reader_new(st, &ix->reader)) != 0) {
		cl_why(why, rc, "store: %s", st_strerror(rc));
		goto fail;
	}
	if ((rc = env_open(ix, why)) != 0)
		goto fail;
	/* Damage is repaired here, still privileged: making the files again
	 * needs to write in DIR/search, root's under --user. */
	if ((rc = env_prepare(ix, &size, false, why)) != 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	ix_close(ix);
	return rc;
}

int
ix_tune(struct ix *ix, const struct ix_tune *t)
{
	if (ix->started || t->batch == 0 || t->batch > IX_TAIL_MAX || t->fanout < 2 ||
	    t->fanout > IXR_FANOUT_MAX || t->step == 0 || t->hash_drop > 32)
		return CL_EINVAL;
	ix->tune = *t;
	ix->hmask = t->hash_drop == 32 ? 0 : UINT32_MAX >> t->hash_drop;
	return 0;
}

/* Load what the environment holds and index what it lacks of [0, size). */
static int
start_from_env(struct ix *ix, uint64_t size, ix_keys_fn keys, void *arg, char *why)
{
	uint64_t upto;
	int rc;

	if ((rc = env_load(ix)) != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	upto = ix->man.n > 0 ? ix->man.run[ix->man.n - 1].to : 0;
	if ((rc = merge_all(ix)) != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	return catch_up(ix, upto, size, keys, arg, why);
}

int
ix_start(
    struct ix *ix, ix_keys_fn keys, void *arg, ix_fields_fn fields, void *fields_arg, char *why)
{
	uint64_t size;
	int rc;

	if (ix->started)
		return cl_why(why, CL_EINVAL, "search index: already started");
	ix->fields = fields;
	ix->fields_arg = fields_arg;
	/* ix_open did this, privileged; again in case st grew since. */
	if ((rc = env_prepare(ix, &size, true, why)) != 0)
		return rc;
	rc = start_from_env(ix, size, keys, arg, why);
	if (env_damaged(rc)) {
		/* Damaged where the check did not look: all again.  Emptied in
		 * place if it can be: without privileges the files in DIR/search
		 * (root's, under --user) cannot be made again. */
		fprintf(stderr,
		    "closurelogd: the search index is damaged (%s); rebuilding it from %llu "
		    "entries\n",
		    st_strerror(rc), (unsigned long long)size);
		if ((rc = env_clear(ix)) != 0 && env_damaged(rc) &&
		    (rc = env_recreate(ix, rc)) == 0)
			rc = env_clear(ix);
		if (rc != 0)
			return cl_why(why, rc,
			    "search index: %s (remove %s and start again to rebuild it)",
			    st_strerror(rc), ix->dir);
		rc = catch_up(ix, 0, size, keys, arg, why);
	}
	if (rc != 0)
		return rc;
	ix->low = ix->durable = ix->next = size;
	if ((rc = pthread_create(&ix->thread, NULL, indexer_main, ix)) != 0)
		return cl_why(why, rc, "cannot start the indexer thread: %s", strerror(rc));
	ix->started = true;
	return 0;
}

void
ix_close(struct ix *ix)
{
	if (ix == NULL)
		return;
	if (ix->started) {
		pthread_mutex_lock(&ix->mu);
		ix->stopping = true;
		pthread_cond_broadcast(&ix->work_cv);
		pthread_mutex_unlock(&ix->mu);
		pthread_join(ix->thread, NULL);
	}
	if (ix->env != NULL) {
		/* The bulk loader's commits were not synced. */
		if (!st_sync_on(ix->st))
			mdb_env_sync(ix->env, 1);
		mdb_env_close(ix->env);
	}
	st_reader_free(ix->reader);
	merge_abandon(ix);
	for (int s = 0; s < IXR_SLOTS; s++)
		free(ix->bloom[s]);
	seen_clear(&ix->seen);
	sodium_memzero(ix->hkey, sizeof ix->hkey);
	free(ix->dir);
	free(ix->table);
	free(ix->ring);
	pthread_cond_destroy(&ix->room_cv);
	pthread_cond_destroy(&ix->work_cv);
	pthread_mutex_destroy(&ix->mu);
	free(ix);
}

/* ---- The committer ---- */

int
ix_room(struct ix *ix, size_t n)
{
	int rc = 0;

	if (n > IX_TAIL_MAX)
		return CL_EINVAL;
	pthread_mutex_lock(&ix->mu);
	while (ix->next - ix->low + n > IX_TAIL_MAX) {
		if (ix->err != 0) {
			rc = ix->err;
			break;
		}
		/* Even a run shorter than the batch, for a batch that would
		 * not fit otherwise. */
		ix->room_wanted = true;
		pthread_cond_signal(&ix->work_cv);
		pthread_cond_wait(&ix->room_cv, &ix->mu);
	}
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

/* The candidates for leaf in the search environment: entries below its
 * upto whose leaf key value is h, leaf's, in the runs whose filters may
 * hold it.  check(ctx, index, hash) gets a candidate's real leaf hash; the
 * first equal one is the answer. */
static int
env_leaf_find(struct ix *ix, const uint8_t leaf[MT_HASH_LEN], uint32_t h, uint64_t below,
    int (*check)(void *ctx, uint64_t index, uint8_t out[MT_HASH_LEN]), void *ctx, uint64_t *index)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	struct ixr_set s;
	bool want[IXR_SLOTS];
	uint64_t upto;
	int rc;

	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = man_get(ix, txn, &upto, &s)) != 0)
		goto out;
	bloom_select(ix, &s, h, want);
	rc = MDB_NOTFOUND;
	for (size_t i = 0; i < s.n && s.run[i].from < below && rc == MDB_NOTFOUND; i++) {
		uint8_t kb[KEY_LEN];
		struct ixb_cursor r;

		if (!want[i])
			continue;
		key_make(kb, KIND_LEAF, h, s.run[i].from);
		if ((rc = mdb_cursor_open(txn, ix->slot[s.run[i].slot], &c)) != 0)
			goto out;
		ixb_cursor_init(&r, c);
		for (rc = ixb_seek(&r, kb); rc == 0; rc = ixb_next(&r)) {
			MDB_val k = {KEY_LEN, (void *)ixb_key(&r)};
			uint8_t got[MT_HASH_LEN];
			uint64_t idx;
			uint32_t value;
			int kind;

			if (memcmp(k.mv_data, kb, KEY_PREFIX) != 0) {
				rc = MDB_NOTFOUND;
				break;
			}
			if ((rc = key_parse(&k, &kind, &value, &idx)) != 0)
				break;
			if (idx < s.run[i].from || idx >= s.run[i].to) {
				rc = ST_ECORRUPT;
				break;
			}
			if (idx >= below) {
				rc = MDB_NOTFOUND; /* indices ascend: none below */
				break;
			}
			if ((rc = check(ctx, idx, got)) != 0)
				break;
			if (memcmp(got, leaf, MT_HASH_LEN) == 0) {
				*index = idx;
				break;
			}
		}
		mdb_cursor_close(c);
		c = NULL;
	}
	if (rc == MDB_NOTFOUND)
		rc = ST_ENOTFOUND;
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

static int
batch_check(void *ctx, uint64_t index, uint8_t out[MT_HASH_LEN])
{
	int rc = st_batch_leaf_get(ctx, index, out);

	return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
}

void
ix_probe_make(struct ix *ix, const uint8_t leaf[MT_HASH_LEN], struct ix_probe *p)
{
	memcpy(p->leaf, leaf, MT_HASH_LEN);
	p->h = key_hash(ix, leaf, MT_HASH_LEN);
	p->slot = (uint32_t)slot_of(ix, leaf);
	/* The table never moves; the filters change under mu. */
	__builtin_prefetch(&ix->table[p->slot]);
	pthread_mutex_lock(&ix->mu);
	for (size_t i = 0; i < ix->seen.n; i++) {
		uint64_t z;

		__builtin_prefetch(bloom_block(ix->seen.f[i], p->h, &z));
	}
	pthread_mutex_unlock(&ix->mu);
}

int
ix_dedup_find(struct ix *ix, struct st_batch *b, const struct ix_probe *p, uint64_t *index)
{
	bool found, maybe;

	/* The tail first, then a search snapshot opened after it: the tail is
	 * trimmed only once the search commit covering the trimmed entries
	 * is visible, so every entry is in the one or the other. */
	pthread_mutex_lock(&ix->mu);
	found = table_find(ix, p->leaf, p->slot, index);
	maybe = !found && seen_may_hold(&ix->seen, p->h);
	pthread_mutex_unlock(&ix->mu);
	if (found)
		return 0;
	/* Not in the tail, and by the filter of every leaf held, in no run:
	 * a new leaf, the usual case, known without reading a run. */
	if (!maybe)
		return ST_ENOTFOUND;
	return env_leaf_find(ix, p->leaf, p->h, UINT64_MAX, batch_check, b, index);
}

int
ix_add(struct ix *ix, uint64_t index, const struct ix_probe *p, const char *root,
    const uint8_t nar[32], const uint8_t *submitter)
{
	struct rec r;

	rec_fill(&r, index, p->leaf, p->h, root, nar, submitter);
	r.slot = p->slot;
	pthread_mutex_lock(&ix->mu);
	if (index != ix->next) {
		pthread_mutex_unlock(&ix->mu);
		return ST_ECORRUPT;
	}
	*rec_at(ix, ix->next) = r;
	table_insert(ix, ix->next, p->slot);
	seen_add(ix, &ix->seen, r.hleaf);
	ix->next++;
	pthread_mutex_unlock(&ix->mu);
	return 0;
}

void
ix_committed(struct ix *ix, uint64_t size)
{
	pthread_mutex_lock(&ix->mu);
	ix->durable = size;
	pthread_cond_signal(&ix->work_cv);
	pthread_mutex_unlock(&ix->mu);
}

void
ix_rollback(struct ix *ix)
{
	pthread_mutex_lock(&ix->mu);
	while (ix->next > ix->durable)
		table_delete(ix, --ix->next);
	pthread_mutex_unlock(&ix->mu);
}

/* ---- Readers ---- */

static int
reader_check(void *ctx, uint64_t index, uint8_t out[MT_HASH_LEN])
{
	const uint8_t *t;
	int rc = st_tile_get(ctx, 0, index / 256, &t);

	if (rc == 0)
		memcpy(out, t + (index % 256) * MT_HASH_LEN, MT_HASH_LEN);
	return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
}

int
ix_leaf_find(struct ix *ix, struct st_reader *r, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	uint64_t size = st_reader_size(r);
	uint32_t h = key_hash(ix, leaf, MT_HASH_LEN);
	bool found, maybe;

	pthread_mutex_lock(&ix->mu);
	found = table_find(ix, leaf, slot_of(ix, leaf), index);
	maybe = !found && seen_may_hold(&ix->seen, h);
	pthread_mutex_unlock(&ix->mu);
	if (found) /* a leaf is in the log once: past the snapshot, not yet */
		return *index < size ? 0 : ST_ENOTFOUND;
	if (!maybe)
		return ST_ENOTFOUND;
	return env_leaf_find(ix, leaf, h, size, reader_check, r, index);
}

static bool
rec_has(const struct rec *r, enum ix_which which, const uint8_t key[32])
{
	return (which != IX_BY_SUBMITTER || r->has_submitter) &&
	    memcmp(r->key[which], key, 32) == 0;
}

/* Whether entry idx of r is under key (key_len bytes) in index `which`
 * (root or narHash), into *match (scratch: k).  Returns 0 or an error. */
static int
confirm(struct ix *ix, struct st_reader *r, enum ix_which which, const void *key, size_t key_len,
    uint64_t idx, struct ix_keys *k, bool *match)
{
	const uint8_t *data;
	size_t len;
	int rc;

	*match = false;
	if ((rc = st_entry_get(r, idx, &data, &len)) != 0)
		return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
	if (ix->fields == NULL)
		return 0;
	/* An entry that does not decode has no keys (no match); any other
	 * failure (out of memory) fails the search rather than hide hits. */
	if ((rc = ix->fields(ix->fields_arg, data, len, k)) != 0)
		return rc == ST_ECORRUPT ? 0 : rc;
	if (which == IX_BY_NAR)
		*match = memcmp(k->nar, key, 32) == 0;
	else
		*match = strnlen(k->root, sizeof k->root) == key_len &&
		    memcmp(k->root, key, key_len) == 0;
	return 0;
}

int
ix_search(struct ix *ix, struct st_reader *r, enum ix_which which, const void *key, size_t key_len,
    uint64_t start, uint64_t *out, size_t max, size_t *n, bool *more)
{
	uint64_t size, upto = 0, *tail = NULL;
	size_t n_tail = 0;
	uint8_t kb[32];
	uint32_t value = 0;
	struct ixr_set s;
	struct ix_keys *fk = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	int rc;

	*n = 0;
	*more = false;
	if (which >= IX_N_KEYS || key_len == 0 || key_len > 511 ||
	    (which != IX_BY_ROOT && key_len != 32))
		return CL_EINVAL;
	size = st_reader_size(r);
	if (which == IX_BY_ROOT)
		crypto_hash_sha256(kb, key, key_len);
	else
		memcpy(kb, key, 32);
	if ((tail = malloc((max + 1) * sizeof *tail)) == NULL ||
	    (fk = malloc(sizeof *fk)) == NULL) {
		rc = ENOMEM;
		goto out;
	}
	/* Under the lock, so that no trim falls between the snapshot and the
	 * tail: the tail holds everything from the snapshot's upto on. */
	pthread_mutex_lock(&ix->mu);
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) == 0 &&
	    (rc = man_get(ix, txn, &upto, &s)) == 0) {
		uint64_t end = size < ix->next ? size : ix->next;

		for (uint64_t i = start > upto ? start : upto; i < end && n_tail <= max; i++) {
			if (rec_has(rec_at(ix, i), which, kb))
				tail[n_tail++] = i;
		}
	}
	pthread_mutex_unlock(&ix->mu);
	if (rc != 0)
		goto out;
	if (which == IX_BY_SUBMITTER) {
		/* Exact: the key's number, if the runs hold it at all. */
		MDB_val k = {32, kb}, v;

		if ((rc = mdb_get(txn, ix->subs, &k, &v)) == MDB_NOTFOUND)
			s.n = 0;
		else if (rc != 0)
			goto out;
		else if (v.mv_size != 4) {
			rc = ST_ECORRUPT;
			goto out;
		} else
			value = cl_be32_get(v.mv_data);
		rc = 0;
	} else {
		value = key_hash(ix, kb, 32);
	}
	/* The runs cover disjoint ranges in index order: their results,
	 * one after the other, ascend. */
	for (size_t i = 0; i < s.n && s.run[i].from < size && !*more; i++) {
		const struct ixr_run *run = &s.run[i];
		uint8_t pb[KEY_LEN];
		struct ixb_cursor bc;
		/* Of a hashed value, the run's records are of one key unless
		 * marked: one confirmation stands for them all (agree: -1
		 * unknown, 0 no, 1 yes); marked, each is confirmed. */
		int agree = -1;
		bool each = false;

		if (run->to <= start)
			continue;
		if ((rc = mdb_cursor_open(txn, ix->slot[run->slot], &c)) != 0)
			goto out;
		ixb_cursor_init(&bc, c);
		if (which != IX_BY_SUBMITTER) {
			key_make(pb, KIND_MARK | (1 + which), value, 0);
			rc = ixb_seek(&bc, pb);
			if (rc != 0 && rc != MDB_NOTFOUND)
				goto out;
			each = rc == 0 && memcmp(ixb_key(&bc), pb, KEY_PREFIX) == 0;
		}
		key_make(pb, 1 + which, value, start > run->from ? start : run->from);
		for (rc = ixb_seek(&bc, pb); rc == 0; rc = ixb_next(&bc)) {
			MDB_val k = {KEY_LEN, (void *)ixb_key(&bc)};
			uint64_t idx;
			uint32_t got;
			int kind;

			if (memcmp(k.mv_data, pb, KEY_PREFIX) != 0)
				break;
			if ((rc = key_parse(&k, &kind, &got, &idx)) != 0)
				goto out;
			if (idx < run->from || idx >= run->to) {
				rc = ST_ECORRUPT;
				goto out;
			}
			if (idx >= size)
				break;
			/* A hashed key's candidate counts only once the entry
			 * itself says so. */
			if (which != IX_BY_SUBMITTER && (each || agree < 0)) {
				bool match;

				if ((rc = confirm(ix, r, which, key, key_len, idx, fk, &match)) !=
				    0)
					goto out;
				agree = match;
			}
			if (agree == 0) {
				if (!each)
					break; /* none of this run's are */
				continue;
			}
			if (*n == max) {
				*more = true;
				break;
			}
			out[(*n)++] = idx;
		}
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto out;
		rc = 0;
		mdb_cursor_close(c);
		c = NULL;
	}
	for (size_t i = 0; i < n_tail && !*more; i++) {
		if (*n == max)
			*more = true;
		else
			out[(*n)++] = tail[i];
	}
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(fk);
	free(tail);
	if (rc != 0)
		*n = 0;
	return rc;
}

void
ix_stat(struct ix *ix, uint64_t *upto, uint64_t *tail)
{
	pthread_mutex_lock(&ix->mu);
	*upto = ix->low;
	*tail = ix->next - ix->low;
	pthread_mutex_unlock(&ix->mu);
}
