/*
 * index.c: the search environment, the in-memory tail and the indexer.
 *
 * Inserting random keys into a B-tree much larger than a batch copies one
 * page per key, and the main store's commit is what every submitter waits
 * for.  So the committer only appends (entries, tiles) and hands each
 * entry's keys to an in-memory tail; this module's thread folds the tail
 * into a second LMDB environment in sorted runs of IX_BATCH or more, each
 * one durable commit that records how far it got.  The tail is a ring of
 * IX_TAIL_MAX records indexed by entry index, with a leaf-hash table for
 * deduplication (open addressing, keyed SipHash so that crafted leaf
 * hashes cannot make it cluster).  See index.h for the rules that keep
 * lookups exact across the hand-over.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "index.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "cl.h"

_Static_assert((IX_TAIL_MAX & (IX_TAIL_MAX - 1)) == 0, "IX_TAIL_MAX must be a power of two");

/* The search environment's own layout version (meta "layout"); another
 * version is rebuilt, not refused: it is derived data. */
#define IX_LAYOUT 1

#define IX_TABLE (2 * IX_TAIL_MAX) /* load factor <= 1/2 */
/* Sparse (the file grows as needed), but address space all the same: some
 * environments (sanitizers, RLIMIT_AS) refuse a terabyte.  At ~160 bytes
 * per entry this is ~4 * 10^8 entries; past it the indexer fails with
 * MDB_MAP_FULL, says so, and the log refuses appends once the tail is
 * full (no online growth yet). */
#define IX_MAP     ((size_t)64 << 30)
#define LEAF_KEY   8               /* bytes of the leaf hash in the leaf index */
#define N_DBS      (IX_N_KEYS + 1) /* leaf, then one per enum ix_which */
#define DB_LEAF    IX_N_KEYS
#define PROGRESS_S 5

struct rec {
	uint64_t index;
	uint8_t leaf[MT_HASH_LEN];
	uint8_t key[IX_N_KEYS][32]; /* SHA-256 of the root, narHash, submitter */
	bool has_submitter;
};

struct ix {
	struct st *st;
	MDB_env *env;
	MDB_dbi meta, db[N_DBS];
	struct st_reader *reader; /* the indexer's, for the root at upto */
	char *dir;                /* DIR/search */
	uint8_t table_key[crypto_shorthash_KEYBYTES];

	pthread_mutex_t mu;
	pthread_cond_t work_cv, room_cv;
	struct rec *ring; /* slot index % IX_TAIL_MAX, for the tail [low, next) */
	uint64_t *table;  /* 0, or index + 1 of a tail entry */
	uint64_t low;     /* = the search environment's upto */
	uint64_t durable; /* [low, durable) may be indexed */
	uint64_t next;    /* the next entry's index */
	int err;          /* the indexer's last failure, 0 after a success */
	bool stopping, started;
	pthread_t thread;
};

static const char *const db_names[N_DBS] = {"by_root", "by_nar", "by_submitter", "leaf"};

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

static void
table_insert(struct ix *ix, uint64_t index)
{
	size_t i = slot_of(ix, rec_at(ix, index)->leaf);

	while (ix->table[i] != 0)
		i = (i + 1) & (IX_TABLE - 1);
	ix->table[i] = index + 1;
}

static bool
table_find(const struct ix *ix, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	for (size_t i = slot_of(ix, leaf); ix->table[i] != 0; i = (i + 1) & (IX_TABLE - 1)) {
		if (memcmp(rec_at(ix, ix->table[i] - 1)->leaf, leaf, MT_HASH_LEN) == 0) {
			*index = ix->table[i] - 1;
			return true;
		}
	}
	return false;
}

/* Remove tail entry `index` (its record still in the ring), shifting the
 * rest of its probe run back (linear probing's deletion without
 * tombstones). */
static void
table_delete(struct ix *ix, uint64_t index)
{
	size_t i = slot_of(ix, rec_at(ix, index)->leaf), j;

	while (ix->table[i] != index + 1)
		i = (i + 1) & (IX_TABLE - 1);
	for (j = i;;) {
		size_t k;

		j = (j + 1) & (IX_TABLE - 1);
		if (ix->table[j] == 0)
			break;
		k = slot_of(ix, rec_at(ix, ix->table[j] - 1)->leaf);
		/* The entry at j stays if its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		ix->table[i] = ix->table[j];
		i = j;
	}
	ix->table[i] = 0;
}

/* ---- The search environment ---- */

struct pair {
	uint8_t key[32];
	uint64_t index;
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = memcmp(x->key, y->key, sizeof x->key);

	return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
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

/* Index the n entries [upto - n, upto), entry i's record at
 * recs[(first + i) & mask], in one durable commit that also records upto and
 * the tree root there.  pairs: scratch for n. */
static int
run_write(struct ix *ix, const struct rec *recs, size_t first, size_t mask, size_t n, uint64_t upto,
    struct pair *pairs)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	uint8_t root[MT_HASH_LEN], ub[8];
	int rc;

	if ((rc = root_at(ix, upto, root)) != 0)
		return rc;
	if ((rc = mdb_env_set_flags(ix->env, MDB_NOSYNC, st_sync_on(ix->st) ? 0 : 1)) != 0 ||
	    (rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		return rc;
	for (int d = 0; d < N_DBS; d++) {
		size_t m = 0, klen = d == DB_LEAF ? LEAF_KEY : 32;

		for (size_t i = 0; i < n; i++) {
			const struct rec *r = &recs[(first + i) & mask];

			if (d == IX_BY_SUBMITTER && !r->has_submitter)
				continue;
			memset(pairs[m].key, 0, sizeof pairs[m].key);
			memcpy(pairs[m].key, d == DB_LEAF ? r->leaf : r->key[d], klen);
			pairs[m++].index = r->index;
		}
		/* In key order each B-tree page is copied once for the run. */
		qsort(pairs, m, sizeof *pairs, pair_cmp);
		if ((rc = mdb_cursor_open(txn, ix->db[d], &c)) != 0)
			goto out;
		for (size_t i = 0; i < m; i++) {
			uint8_t ib[8];
			MDB_val k = {klen, pairs[i].key}, v = {8, ib};

			cl_be64_put(ib, pairs[i].index);
			if ((rc = mdb_cursor_put(c, &k, &v, MDB_NODUPDATA)) != 0) {
				/* Each entry is indexed once. */
				rc = rc == MDB_KEYEXIST ? ST_ECORRUPT : rc;
				goto out;
			}
		}
		mdb_cursor_close(c);
		c = NULL;
	}
	cl_be64_put(ub, upto);
	if ((rc = meta_put(txn, ix->meta, "upto", ub, 8)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "root", root, MT_HASH_LEN)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

static void
rec_fill(struct rec *r, uint64_t index, const uint8_t leaf[MT_HASH_LEN], const char *root,
    const uint8_t nar[32], const uint8_t *submitter)
{
	r->index = index;
	memcpy(r->leaf, leaf, MT_HASH_LEN);
	crypto_hash_sha256(r->key[IX_BY_ROOT], (const uint8_t *)root, strlen(root));
	memcpy(r->key[IX_BY_NAR], nar, 32);
	r->has_submitter = submitter != NULL;
	if (submitter != NULL)
		memcpy(r->key[IX_BY_SUBMITTER], submitter, 32);
	else
		memset(r->key[IX_BY_SUBMITTER], 0, 32);
}

/* Whether the search environment describes a prefix of st's tree. */
static int
env_check(struct ix *ix, uint64_t size, const char **bad)
{
	MDB_txn *txn = NULL;
	MDB_val k = {6, "layout"}, v;
	uint8_t want[MT_HASH_LEN], lb[8];
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
	if ((rc = upto_get(ix, txn, &upto)) != 0) {
		*bad = "is unreadable";
		rc = 0;
		goto out;
	}
	if (upto > size) {
		*bad = "is ahead of the log";
		goto out;
	}
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

/* Empty the search environment and record its layout, upto 0. */
static int
env_clear(struct ix *ix)
{
	MDB_txn *txn = NULL;
	uint8_t b[8];
	int rc;

	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
		return rc;
	for (int d = 0; d < N_DBS; d++) {
		if ((rc = mdb_drop(txn, ix->db[d], 0)) != 0)
			goto out;
	}
	cl_be64_put(b, IX_LAYOUT);
	if ((rc = mdb_drop(txn, ix->meta, 0)) != 0 ||
	    (rc = meta_put(txn, ix->meta, "layout", b, 8)) != 0)
		goto out;
	cl_be64_put(b, 0);
	if ((rc = meta_put(txn, ix->meta, "upto", b, 8)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* Index entries [from, size) of the main store, reading their keys with
 * keys(): the catch-up after a crash, or a whole rebuild. */
static int
catch_up(struct ix *ix, uint64_t from, uint64_t size, ix_keys_fn keys, void *arg, char *why)
{
	struct rec *recs = malloc(IX_BATCH * sizeof *recs);
	struct pair *pairs = malloc(IX_BATCH * sizeof *pairs);
	struct ix_keys *k = malloc(sizeof *k);
	time_t t0 = time(NULL), last = t0;
	int rc = 0;

	if (recs == NULL || pairs == NULL || k == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto out;
	}
	if (size - from > IX_BATCH)
		fprintf(stderr, "closurelogd: indexing entries %llu to %llu for search\n",
		    (unsigned long long)from, (unsigned long long)size);
	while (from < size) {
		size_t n = size - from < IX_BATCH ? (size_t)(size - from) : IX_BATCH;

		if ((rc = st_reader_begin(ix->reader)) != 0) {
			cl_why(why, rc, "store: %s", st_strerror(rc));
			goto out;
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			const uint8_t *data;
			uint8_t leaf[MT_HASH_LEN];
			size_t len;

			if ((rc = st_entry_get(ix->reader, from + i, &data, &len)) != 0) {
				cl_why(why, rc, "entry %llu: %s", (unsigned long long)(from + i),
				    st_strerror(rc));
				break;
			}
			if ((rc = keys(arg, data, len, k)) != 0) {
				cl_why(why, rc, "entry %llu: cannot read its search keys: %s",
				    (unsigned long long)(from + i), cl_strerror(rc));
				break;
			}
			mt_leaf_hash(leaf, data, len);
			rec_fill(&recs[i], from + i, leaf, k->root, k->nar,
			    k->has_submitter ? k->submitter : NULL);
		}
		st_reader_end(ix->reader);
		if (rc != 0)
			goto out;
		if ((rc = run_write(ix, recs, 0, SIZE_MAX, n, from + n, pairs)) != 0) {
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
	free(k);
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

/* Open the environment in ix->dir and its databases. */
static int
env_open_once(struct ix *ix)
{
	MDB_txn *txn = NULL;
	int rc;

	if ((rc = mdb_env_create(&ix->env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(ix->env, N_DBS + 1)) != 0 ||
	    (rc = mdb_env_set_mapsize(ix->env, IX_MAP)) != 0 ||
	    (rc = mdb_env_open(ix->env, ix->dir, MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ix->meta)) != 0)
		goto fail;
	for (int d = 0; d < N_DBS; d++) {
		if ((rc = mdb_dbi_open(txn, db_names[d], MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
		         &ix->db[d])) != 0)
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

/* ---- The indexer thread ---- */

static void *
indexer_main(void *arg)
{
	struct ix *ix = arg;
	struct pair *pairs = malloc(IX_TAIL_MAX * sizeof *pairs);

	pthread_setname_np(pthread_self(), "cl-index");
	pthread_mutex_lock(&ix->mu);
	for (;;) {
		uint64_t from, to;
		int rc;

		/* Large runs only (and everything at the end): what waits is
		 * in the tail meanwhile, found all the same. */
		while (!ix->stopping && ix->durable - ix->low < IX_BATCH)
			pthread_cond_wait(&ix->work_cv, &ix->mu);
		if (ix->durable == ix->low) {
			if (ix->stopping)
				break;
			continue;
		}
		from = ix->low;
		to = ix->durable;
		pthread_mutex_unlock(&ix->mu);

		/* The committer neither changes nor drops tail entries below
		 * durable: they can be read without the lock. */
		if (pairs == NULL)
			rc = ENOMEM;
		else
			rc = run_write(ix, ix->ring, (size_t)(from & (IX_TAIL_MAX - 1)),
			    IX_TAIL_MAX - 1, (size_t)(to - from), to, pairs);

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
		ix->err = 0;
		/* Visible in the search environment now: trim. */
		for (uint64_t i = from; i < to; i++)
			table_delete(ix, i);
		ix->low = to;
		pthread_cond_broadcast(&ix->room_cv);
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
	int rc;

	*out = NULL;
	if ((ix = calloc(1, sizeof *ix)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	ix->st = st;
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
	*out = ix;
	return 0;
fail:
	ix_close(ix);
	return rc;
}

int
ix_start(struct ix *ix, ix_keys_fn keys, void *arg, char *why)
{
	const char *bad = NULL;
	uint64_t size, upto = 0;
	MDB_txn *txn = NULL;
	int rc;

	if (ix->started)
		return cl_why(why, CL_EINVAL, "search index: already started");
	if ((rc = st_reader_begin(ix->reader)) != 0)
		return cl_why(why, rc, "store: %s", st_strerror(rc));
	size = st_reader_size(ix->reader);
	st_reader_end(ix->reader);
	rc = env_check(ix, size, &bad);
	if (env_damaged(rc) && (rc = env_recreate(ix, rc)) == 0)
		bad = "is new";
	if (rc != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	if (bad != NULL) {
		if (strcmp(bad, "is new") != 0 || size > 0)
			fprintf(stderr,
			    "closurelogd: the search index %s; rebuilding it from %llu entries\n",
			    bad, (unsigned long long)size);
		rc = env_clear(ix);
		if (env_damaged(rc) && (rc = env_recreate(ix, rc)) == 0)
			rc = env_clear(ix);
		if (rc != 0)
			return cl_why(why, rc, "search index: %s", st_strerror(rc));
	}
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	rc = upto_get(ix, txn, &upto);
	mdb_txn_abort(txn);
	if (rc != 0)
		return cl_why(why, rc, "search index: %s", st_strerror(rc));
	rc = catch_up(ix, upto, size, keys, arg, why);
	if (env_damaged(rc) && upto > 0) {
		/* Damaged where the check did not look: all again. */
		if ((rc = env_recreate(ix, rc)) != 0 || (rc = env_clear(ix)) != 0)
			return cl_why(why, rc, "search index: %s", st_strerror(rc));
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
		pthread_cond_signal(&ix->work_cv);
		pthread_cond_wait(&ix->room_cv, &ix->mu);
	}
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

/* The candidates for leaf in the search environment: entries below its
 * upto whose leaf hash begins like leaf's.  check(ctx, index, hash) gets
 * a candidate's real leaf hash; the first equal one is the answer. */
static int
env_leaf_find(struct ix *ix, const uint8_t leaf[MT_HASH_LEN], uint64_t below,
    int (*check)(void *ctx, uint64_t index, uint8_t out[MT_HASH_LEN]), void *ctx, uint64_t *index)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k = {LEAF_KEY, (void *)leaf}, v;
	int rc;

	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, ix->db[DB_LEAF], &c)) != 0)
		goto out;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		uint8_t got[MT_HASH_LEN];
		uint64_t i;

		if (v.mv_size != 8) {
			rc = ST_ECORRUPT;
			break;
		}
		if ((i = cl_be64_get(v.mv_data)) >= below)
			break; /* dups ascend */
		if ((rc = check(ctx, i, got)) != 0)
			break;
		if (memcmp(got, leaf, MT_HASH_LEN) == 0) {
			*index = i;
			break;
		}
	}
	if (rc == MDB_NOTFOUND)
		rc = ST_ENOTFOUND;
out:
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

int
ix_dedup_find(struct ix *ix, struct st_batch *b, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	bool found;

	/* The tail first, then a search snapshot opened after it: the tail is
	 * trimmed only once the search commit covering the trimmed entries
	 * is visible, so every entry is in the one or the other. */
	pthread_mutex_lock(&ix->mu);
	found = table_find(ix, leaf, index);
	pthread_mutex_unlock(&ix->mu);
	if (found)
		return 0;
	return env_leaf_find(ix, leaf, UINT64_MAX, batch_check, b, index);
}

void
ix_add(struct ix *ix, uint64_t index, const uint8_t leaf[MT_HASH_LEN], const char *root,
    const uint8_t nar[32], const uint8_t *submitter)
{
	struct rec r;

	rec_fill(&r, index, leaf, root, nar, submitter);
	pthread_mutex_lock(&ix->mu);
	*rec_at(ix, ix->next) = r;
	table_insert(ix, ix->next);
	ix->next++;
	pthread_mutex_unlock(&ix->mu);
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
	bool found;

	pthread_mutex_lock(&ix->mu);
	found = table_find(ix, leaf, index);
	pthread_mutex_unlock(&ix->mu);
	if (found) /* a leaf is in the log once: past the snapshot, not yet */
		return *index < size ? 0 : ST_ENOTFOUND;
	return env_leaf_find(ix, leaf, size, reader_check, r, index);
}

static bool
rec_has(const struct rec *r, enum ix_which which, const uint8_t key[32])
{
	return (which != IX_BY_SUBMITTER || r->has_submitter) &&
	    memcmp(r->key[which], key, 32) == 0;
}

int
ix_search(struct ix *ix, struct st_reader *r, enum ix_which which, const void *key, size_t key_len,
    uint64_t start, uint64_t *out, size_t max, size_t *n, bool *more)
{
	uint64_t size, upto = 0, *tail = NULL;
	size_t n_tail = 0;
	uint8_t kb[32], sb[8];
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k = {32, kb}, v = {8, sb};
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
	if ((tail = malloc((max + 1) * sizeof *tail)) == NULL)
		return ENOMEM;
	/* Under the lock, so that no trim falls between the snapshot and the
	 * tail: the tail holds everything from the snapshot's upto on. */
	pthread_mutex_lock(&ix->mu);
	if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) == 0 &&
	    (rc = upto_get(ix, txn, &upto)) == 0) {
		uint64_t end = size < ix->next ? size : ix->next;

		for (uint64_t i = start > upto ? start : upto; i < end && n_tail <= max; i++) {
			if (rec_has(rec_at(ix, i), which, kb))
				tail[n_tail++] = i;
		}
	}
	pthread_mutex_unlock(&ix->mu);
	if (rc != 0)
		goto out;
	if ((rc = mdb_cursor_open(txn, ix->db[which], &c)) != 0)
		goto out;
	cl_be64_put(sb, start);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		uint64_t idx;

		if (v.mv_size != 8) {
			rc = ST_ECORRUPT;
			goto out;
		}
		if ((idx = cl_be64_get(v.mv_data)) >= size || idx >= upto)
			break;
		if (*n == max) {
			*more = true;
			break;
		}
		out[(*n)++] = idx;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	rc = 0;
	for (size_t i = 0; i < n_tail && !*more; i++) {
		if (*n == max)
			*more = true;
		else
			out[(*n)++] = tail[i];
	}
out:
	mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
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
