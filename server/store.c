/*
 * store.c: the LMDB store behind closurelogd.
 *
 * The log itself lives in one LMDB environment so that one write
 * transaction makes a whole batch of entries, the tiles they complete and
 * the new tree size durable at once; a crash leaves the previous batch
 * intact and nothing half-done.  (The search indexes, derived from it, are
 * index.c's.)  The environment is opened with MDB_NOMETASYNC: a commit
 * flushes its data pages once and writes its meta page without a flush, and
 * the next commit's data flush (or st_sync, on a quiet log) makes that meta
 * page durable.  One device flush per commit instead of two; the log
 * answers a batch only once its meta page is durable (docs/design.md).
 * Keys are big-endian so that LMDB's byte order is numeric order and entries
 * go in with MDB_APPEND.  Stored nodes are grouped by C2SP tile ("fat
 * tiles", see store.h) so that proofs and tiles cost a handful of lookups.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "cl.h"
#include "ebundle.h"

/* ST_TEST_NOSYNC builds a deliberately broken store for
 * tests/powerloss_test.c (closurelogd-nosync): the power-loss harness must
 * catch it.  (st_sync asks LMDB for a sync without forcing it, so that it
 * does not sync there either.) */
#ifdef ST_TEST_NOSYNC
#define ST_ENV_FLAGS MDB_NOSYNC
#else
/* MDB_NORDAHEAD (MADV_RANDOM on the map): a read fault brings in its own
 * page only.  With readahead, a restarted store of 1.2 x 10^7 entries cost
 * 13-19 us of committer CPU per append against 7-12 without, most of the
 * difference in ext4_block_write_begin (23 % of the committer's samples):
 * the pages a commit writes land in the large folios readahead made. */
#define ST_ENV_FLAGS (MDB_NOMETASYNC | MDB_NORDAHEAD)
#endif

struct st {
	MDB_env *env; /* NULL after a reopen that failed */
	MDB_dbi meta, entries, bundles, tiles;
	char *dir;
	size_t map_size;
	unsigned env_flags;
	/* Bumped by every reopen (under the lock held exclusive): a reader's
	 * decoded bundle is reused only within one environment. */
	uint64_t gen;
	/* While st_open converts a layout 3 store: its progress reports. */
	st_progress_fn *progress;
	void *progress_ctx;
	/* The writer's (one batch at a time): the bundle encoder, and the
	 * entries of the batch's open bundle, written individually at commit
	 * unless the batch completes it (pend: each a uint16 BE length and
	 * the bytes; pend_off[j] where entry j's length starts). */
	struct eb_enc *enc;
	uint8_t *pend;
	size_t pend_len, pend_cap;
	uint32_t pend_off[EB_ENTRIES];
	bool bulk;     /* st_sync_set(false): commits are not synced */
	bool unsynced; /* the last commit's meta page is not flushed yet */
	/* Readers hold it shared for the life of a snapshot; growing the map
	 * and reopening the environment hold it exclusive, so that no read
	 * transaction of this process is active then (LMDB's rule for
	 * mdb_env_set_mapsize) and no handle outlives its environment. */
	pthread_rwlock_t lock;
	pthread_mutex_t readers_mu;
	struct st_reader *readers; /* every reader, to drop handles on reopen */
};

struct st_batch {
	struct st *st;
	MDB_txn *txn;
	uint64_t next;       /* the index the next entry must have */
	uint64_t pend_first; /* index of st->pend's first entry */
	unsigned n_pend;     /* entries in st->pend */
};

struct st_reader {
	struct st *st;
	MDB_txn *txn; /* NULL until first used, and after a reopen */
	bool active;
	uint64_t size;
	struct st_reader *next;
	/* The last bundle decoded (dec_ok): bundle dec_index of environment
	 * generation dec_gen.  A bundle never changes once written, so
	 * sequential reads decode each once, across snapshots too. */
	struct eb_dec *dec;
	bool dec_ok;
	uint64_t dec_index, dec_gen;
};

/* The databases of layouts 1 and 2 that layout 3 keeps in DIR/search. */
static const char *const old_dbs[] = {"leaves", "by_root", "by_nar", "by_submitter"};

/* Layout 3: every entry under its own key, no bundles. */
#define LAYOUT_UNBUNDLED 3

/* Full bundles converted per write transaction (about 6 MB of entries read
 * and 3 MB of bundles written): each step is short and atomic. */
#define CONVERT_STEP 64

const char *
st_strerror(int rc)
{
	if (rc == ST_ENOTFOUND)
		return "not found";
	if (rc == ST_ECORRUPT)
		return "store is inconsistent";
	if (rc == ST_ECLOSED)
		return "the store could not be reopened after an I/O error";
	if (rc == ST_ELAYOUT)
		return "store has a layout version this closurelogd does not read";
	if (rc == MDB_MAP_FULL)
		return "storage map is full";
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return mdb_strerror(rc);
	if (eb_strerror(rc) != NULL)
		return eb_strerror(rc);
	return cl_strerror(rc);
}

static int meta_get(MDB_txn *txn, struct st *st, const char *key, MDB_val *v);
static int meta_put(MDB_txn *txn, struct st *st, const char *key, const void *val, size_t len);

/* A u64 BE metadata value; ST_ENOTFOUND if absent, ST_ECORRUPT if not 8 bytes. */
static int
meta_u64_get(MDB_txn *txn, struct st *st, const char *key, uint64_t *out)
{
	MDB_val v;
	int rc = meta_get(txn, st, key, &v);

	if (rc == 0 && v.mv_size != 8)
		rc = ST_ECORRUPT;
	if (rc == 0)
		*out = cl_be64_get(v.mv_data);
	return rc;
}

static int
meta_u64_put(MDB_txn *txn, struct st *st, const char *key, uint64_t val)
{
	uint8_t b[8];

	cl_be64_put(b, val);
	return meta_put(txn, st, key, b, sizeof b);
}

/* Drop the search databases of layouts 1 and 2 (and "leaves_upto") in txn:
 * index.c rebuilds the search environment from the entries. */
static int
layout_migrate(MDB_txn *txn, struct st *st)
{
	MDB_val k = {11, "leaves_upto"};
	int rc;

	for (size_t i = 0; i < sizeof old_dbs / sizeof old_dbs[0]; i++) {
		MDB_dbi dbi;

		rc = mdb_dbi_open(txn, old_dbs[i], 0, &dbi);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0 || (rc = mdb_drop(txn, dbi, 1)) != 0)
			return rc;
	}
	rc = mdb_del(txn, st->meta, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	return meta_u64_put(txn, st, "layout", LAYOUT_UNBUNDLED);
}

/* Bring an initialised store to layout 3 or ST_LAYOUT inside txn, or refuse
 * it.  *convert: it is (now) layout 3, its full bundles still to be written
 * (layout_convert). */
static int
layout_check(MDB_txn *txn, struct st *st, const char *dir, bool *convert, char *why)
{
	MDB_val v;
	uint64_t layout;
	int rc;

	if ((rc = meta_get(txn, st, "origin", &v)) == ST_ENOTFOUND)
		return 0; /* st_init writes the layout */
	if (rc != 0)
		goto fail;
	rc = meta_u64_get(txn, st, "layout", &layout);
	if (rc == ST_ENOTFOUND)
		layout = 1;
	else if (rc != 0)
		goto fail;
	if (layout == 1 || layout == 2) {
		if ((rc = layout_migrate(txn, st)) != 0)
			goto fail;
		layout = LAYOUT_UNBUNDLED;
	}
	*convert = layout == LAYOUT_UNBUNDLED;
	if (layout != ST_LAYOUT && layout != LAYOUT_UNBUNDLED) {
		cl_why(why, ST_ELAYOUT,
		    "store in %s has layout version %llu; this closurelogd reads 1 to %d", dir,
		    (unsigned long long)layout, ST_LAYOUT);
		return ST_ELAYOUT;
	}
	return 0;
fail:
	cl_why(why, rc, "cannot read the store's layout in %s: %s", dir, st_strerror(rc));
	return rc;
}

int
st_dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		rc = errno;
	close(fd);
	return rc;
}

/* The parent directory of path, in buf. */
static const char *
dir_parent(const char *path, char *buf, size_t cap)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return ".";
	if (n >= cap)
		return NULL;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}

/* ---- Full bundles ---- */

static void
u64_key(uint8_t out[8], MDB_val *k, uint64_t v)
{
	cl_be64_put(out, v);
	k->mv_size = 8;
	k->mv_data = out;
}

/* The writer's encoder, made on first use. */
static int
enc_ready(struct st *st)
{
	if (st->enc == NULL)
		return eb_enc_new(&st->enc);
	return 0;
}

/* Compress the encoder's EB_ENTRIES entries as full bundle k, in txn. */
static int
bundle_put(struct st *st, MDB_txn *txn, uint64_t k)
{
	const uint8_t *z;
	size_t len;
	uint8_t kb[8];
	MDB_val key, v;
	int rc;

	if ((rc = eb_enc_finish(st->enc, &z, &len)) != 0)
		return rc;
	u64_key(kb, &key, k);
	v.mv_size = len;
	v.mv_data = (void *)z;
	/* MDB_APPEND also enforces that bundles are only ever added. */
	return mdb_put(txn, st->bundles, &key, &v, MDB_APPEND);
}

/* Add entries [from, to), each stored under its own key, to the encoder,
 * and delete them, in txn.  only: the entries database holds nothing else
 * (the batch path), so that it is emptied at once rather than key by key.
 * Returns 0, ST_ECORRUPT (one is missing, or not an entry, or with only,
 * others are there), ENOMEM or an LMDB code. */
static int
entries_move(struct st *st, MDB_txn *txn, uint64_t from, uint64_t to, bool only)
{
	MDB_cursor *c = NULL;
	uint8_t kb[8];
	MDB_val k, v;
	int rc;

	if (from == to)
		return 0;
	if ((rc = mdb_cursor_open(txn, st->entries, &c)) != 0)
		return rc;
	u64_key(kb, &k, from);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
	for (uint64_t i = from; rc == 0;) {
		if (k.mv_size != 8 || cl_be64_get(k.mv_data) != i) {
			rc = ST_ECORRUPT;
			break;
		}
		/* Copied: the deletes below may move the pages. */
		rc = eb_enc_add(st->enc, v.mv_data, v.mv_size);
		if (rc == CL_EINVAL || rc == CL_ETOOBIG)
			rc = ST_ECORRUPT;
		if (rc != 0 || ++i == to)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = ST_ECORRUPT;
	if (rc == 0 && only) {
		MDB_stat s;

		if ((rc = mdb_stat(txn, st->entries, &s)) == 0 && s.ms_entries != to - from)
			rc = ST_ECORRUPT;
		/* Frees the database's pages, without touching each key. */
		return rc != 0 ? rc : mdb_drop(txn, st->entries, 0);
	}
	for (uint64_t i = from; rc == 0 && i < to; i++) {
		u64_key(kb, &k, i);
		rc = mdb_del(txn, st->entries, &k, NULL);
	}
	return rc;
}

/* Layout 3 to ST_LAYOUT: write every full bundle from its entries (and
 * delete them), CONVERT_STEP bundles per write transaction, then record the
 * layout and flush.  Each step is atomic and the next one starts after the
 * last bundle written, so a crash at any point leaves a store that the next
 * st_open goes on converting.  Done before st_open returns: nothing reads
 * the store, nor signs over it, before it is converted and durable. */
static int
layout_convert(struct st *st, char *why)
{
	MDB_txn *txn = NULL;
	bool first = true;
	int rc;

	if ((rc = enc_ready(st)) != 0)
		goto fail;
	for (;;) {
		MDB_cursor *c = NULL;
		MDB_val k, v;
		uint64_t size, full, next = 0, end;

		if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
		    (rc = meta_u64_get(txn, st, "size", &size)) != 0)
			goto fail;
		full = size / EB_ENTRIES;
		if ((rc = mdb_cursor_open(txn, st->bundles, &c)) != 0)
			goto fail;
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
		if (rc == 0 && k.mv_size == 8)
			next = cl_be64_get(k.mv_data) + 1;
		else if (rc == 0)
			rc = ST_ECORRUPT;
		mdb_cursor_close(c);
		if (rc != 0 && rc != MDB_NOTFOUND)
			goto fail;
		if (next > full) {
			rc = ST_ECORRUPT;
			goto fail;
		}
		if (first && st->progress != NULL)
			st->progress(st->progress_ctx, next * EB_ENTRIES, full * EB_ENTRIES);
		first = false;
		if (next == full) {
			if ((rc = meta_u64_put(txn, st, "layout", ST_LAYOUT)) != 0)
				goto fail;
			rc = mdb_txn_commit(txn);
			txn = NULL;
			if (rc != 0)
				goto fail;
			break;
		}
		end = full - next < CONVERT_STEP ? full : next + CONVERT_STEP;
		for (uint64_t b = next; b < end; b++) {
			eb_enc_reset(st->enc);
			if ((rc = entries_move(
			         st, txn, b * EB_ENTRIES, (b + 1) * EB_ENTRIES, false)) != 0 ||
			    (rc = bundle_put(st, txn, b)) != 0)
				goto fail;
		}
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto fail;
		if (st->progress != NULL)
			st->progress(st->progress_ctx, end * EB_ENTRIES, full * EB_ENTRIES);
	}
	/* The layout record, and with it every step, durable. */
	st->unsynced = true;
	if ((rc = st_sync(st)) != 0)
		goto fail;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	cl_why(why, rc, "cannot convert the store in %s to layout %d: %s", st->dir, ST_LAYOUT,
	    st_strerror(rc));
	return rc;
}

/* Create and open the LMDB environment and its databases in st->env. */
static int
env_open(struct st *st, char *why)
{
	MDB_txn *txn = NULL;
	bool convert = false;
	int rc;

	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, 4 + sizeof old_dbs / sizeof old_dbs[0])) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, st->map_size)) != 0) {
		cl_why(why, rc, "lmdb: %s", mdb_strerror(rc));
		goto fail;
	}
	/* MDB_NOTLS: a reader's transaction is renewed per request, possibly
	 * on any thread of the pool that owns it.  MDB_NOMETASYNC (not
	 * MDB_NOSYNC): a commit's data pages are on disk when mdb_txn_commit
	 * returns, its meta page after the next commit or st_sync. */
	if ((rc = mdb_env_open(st->env, st->dir, MDB_NOTLS | st->env_flags, 0600)) != 0) {
		cl_why(why, rc, "cannot open store in %s: %s", st->dir, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &st->entries)) != 0 ||
	    (rc = mdb_dbi_open(txn, "bundles", MDB_CREATE, &st->bundles)) != 0 ||
	    (rc = mdb_dbi_open(txn, "tiles", MDB_CREATE, &st->tiles)) != 0) {
		cl_why(why, rc, "cannot open store databases: %s", mdb_strerror(rc));
		goto fail;
	}
	if ((rc = layout_check(txn, st, st->dir, &convert, why)) != 0)
		goto fail;
	/* Durable with the next commit: a lost one (new databases, a
	 * migration) is simply done again at the next start. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		cl_why(why, rc, "cannot open store: %s", st_strerror(rc));
		goto fail;
	}
	if (convert && (rc = layout_convert(st, why)) != 0)
		goto fail;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (st->env != NULL)
		mdb_env_close(st->env);
	st->env = NULL;
	return rc;
}

int
st_dir_create(const char *dir, char *why)
{
	char parent[4096];
	const char *pdir;
	int rc;

	if (mkdir(dir, 0700) != 0) {
		if (errno == EEXIST)
			return 0;
		rc = errno;
		return cl_why(why, rc, "cannot create data directory %s: %s", dir, strerror(rc));
	}
	/* A new directory's entry must be durable in its parent before
	 * anything in it is acknowledged. */
	if ((pdir = dir_parent(dir, parent, sizeof parent)) == NULL)
		return cl_why(why, ENAMETOOLONG, "data directory %s: path too long", dir);
	if ((rc = st_dir_sync(pdir)) != 0)
		return cl_why(
		    why, rc, "cannot sync %s, the parent of %s: %s", pdir, dir, strerror(rc));
	return 0;
}

int
st_open(const char *dir, size_t map_size, struct st **out, char *why)
{
	return st_open_progress(dir, map_size, NULL, NULL, out, why);
}

int
st_open_progress(const char *dir, size_t map_size, st_progress_fn *progress, void *ctx,
    struct st **out, char *why)
{
	pthread_rwlockattr_t ra;
	struct st *st;
	int rc;

	*out = NULL;
	if ((st = calloc(1, sizeof *st)) == NULL || (st->dir = strdup(dir)) == NULL) {
		free(st);
		return cl_why(why, ENOMEM, "out of memory");
	}
	st->map_size = map_size;
	st->env_flags = ST_ENV_FLAGS;
	st->progress = progress;
	st->progress_ctx = ctx;
	/* Writers first: a reopen or a map growth must not wait behind a
	 * stream of readers (no thread takes the lock twice). */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&st->readers_mu, NULL);
	if ((rc = st_dir_create(dir, why)) != 0)
		goto fail;
	rc = env_open(st, why);
	st->progress = NULL;
	if (rc != 0)
		goto fail;
	/* The entries LMDB just made in it (data.mdb, lock.mdb) must be
	 * durable too before anything is acknowledged. */
	if ((rc = st_dir_sync(dir)) != 0) {
		cl_why(why, rc, "cannot sync data directory %s: %s", dir, strerror(rc));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	st_close(st);
	return rc;
}

const char *
st_dir(const struct st *st)
{
	return st->dir;
}

#ifdef ST_BULK_LOAD
int
st_sync_set(struct st *st, bool each_commit)
{
	int rc = mdb_env_set_flags(st->env, MDB_NOSYNC, each_commit ? 0 : 1);

	if (rc == 0 && each_commit)
		rc = mdb_env_sync(st->env, 1);
	if (rc == 0) {
		st->bulk = !each_commit;
		st->env_flags = st->bulk ? (ST_ENV_FLAGS | MDB_NOSYNC) : ST_ENV_FLAGS;
	}
	return rc;
}
#endif

bool
st_sync_on(const struct st *st)
{
	return !st->bulk;
}

/* Drop every reader's transaction handle: it belongs to the environment
 * about to close.  Called with the lock held exclusive (no snapshot is
 * active). */
static void
readers_drop(struct st *st)
{
	pthread_mutex_lock(&st->readers_mu);
	for (struct st_reader *r = st->readers; r != NULL; r = r->next) {
		if (r->txn != NULL)
			mdb_txn_abort(r->txn);
		r->txn = NULL;
	}
	pthread_mutex_unlock(&st->readers_mu);
}

int
st_reopen(struct st *st, char *why)
{
	int rc;

	pthread_rwlock_wrlock(&st->lock);
	readers_drop(st);
	/* No sync on the way out: after an I/O error what the page cache
	 * holds proves nothing; only what a new environment reads counts. */
	if (st->env != NULL)
		mdb_env_close(st->env);
	st->env = NULL;
	st->gen++;
	rc = env_open(st, why);
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

int
st_map_grow(struct st *st, size_t max, size_t *now)
{
	size_t next;
	int rc;

	*now = st->map_size;
	if (st->env == NULL)
		return ST_ECLOSED;
	if (st->map_size >= max)
		return MDB_MAP_FULL;
	next = st->map_size > max - st->map_size ? max : st->map_size * 2;
	pthread_rwlock_wrlock(&st->lock);
	if ((rc = mdb_env_set_mapsize(st->env, next)) == 0)
		st->map_size = next;
	pthread_rwlock_unlock(&st->lock);
	*now = st->map_size;
	return rc;
}

void
st_close(struct st *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL) {
		readers_drop(st);
		/* The last commit's meta page (and, in the bulk loader's mode,
		 * everything), if the owner did not flush it. */
		if (st->unsynced || st->bulk)
			mdb_env_sync(st->env, st->bulk);
		mdb_env_close(st->env);
	}
	pthread_mutex_destroy(&st->readers_mu);
	pthread_rwlock_destroy(&st->lock);
	eb_enc_free(st->enc);
	free(st->pend);
	free(st->dir);
	free(st);
}

/* ---- Metadata ---- */

static int
meta_get(MDB_txn *txn, struct st *st, const char *key, MDB_val *v)
{
	MDB_val k = {strlen(key), (void *)key};
	int rc = mdb_get(txn, st->meta, &k, v);

	return rc == MDB_NOTFOUND ? ST_ENOTFOUND : rc;
}

static int
meta_put(MDB_txn *txn, struct st *st, const char *key, const void *val, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};

	return mdb_put(txn, st->meta, &k, &v, 0);
}

static int
copy_str(char *dst, size_t cap, const MDB_val *v)
{
	if (v->mv_size >= cap || memchr(v->mv_data, '\0', v->mv_size) != NULL)
		return ST_ECORRUPT;
	memcpy(dst, v->mv_data, v->mv_size);
	dst[v->mv_size] = '\0';
	return 0;
}

int
st_meta_get(struct st *st, struct st_meta *m)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	int rc;

	memset(m, 0, sizeof *m);
	pthread_rwlock_rdlock(&st->lock);
	if (st->env == NULL) {
		pthread_rwlock_unlock(&st->lock);
		return ST_ECLOSED;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&st->lock);
		return rc;
	}
	if ((rc = meta_get(txn, st, "origin", &v)) != 0 ||
	    (rc = copy_str(m->origin, sizeof m->origin, &v)) != 0)
		goto out;
	if ((rc = meta_get(txn, st, "vkey", &v)) != 0 ||
	    (rc = copy_str(m->vkey, sizeof m->vkey, &v)) != 0)
		goto out;
	if ((rc = meta_get(txn, st, "size", &v)) != 0)
		goto out;
	if (v.mv_size != 8) {
		rc = ST_ECORRUPT;
		goto out;
	}
	m->size = cl_be64_get(v.mv_data);
	rc = meta_get(txn, st, "checkpoint", &v);
	if (rc == ST_ENOTFOUND) {
		rc = 0;
	} else if (rc == 0) {
		if ((m->checkpoint = malloc(v.mv_size)) == NULL) {
			rc = ENOMEM;
			goto out;
		}
		memcpy(m->checkpoint, v.mv_data, v.mv_size);
		m->checkpoint_len = v.mv_size;
	}
out:
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->lock);
	if (rc != 0)
		st_meta_free(m);
	return rc;
}

void
st_meta_free(struct st_meta *m)
{
	free(m->checkpoint);
	memset(m, 0, sizeof *m);
}

int
st_init(struct st *st, const char *origin, const char *vkey)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	uint8_t zero[8] = {0};
	int rc;

	if (st->env == NULL)
		return ST_ECLOSED;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		return rc;
	rc = meta_get(txn, st, "origin", &v);
	if (rc == 0) {
		rc = CL_EINVAL;
		goto out;
	}
	if (rc != ST_ENOTFOUND)
		goto out;
	if ((rc = meta_put(txn, st, "origin", origin, strlen(origin))) != 0 ||
	    (rc = meta_put(txn, st, "vkey", vkey, strlen(vkey))) != 0 ||
	    (rc = meta_put(txn, st, "size", zero, sizeof zero)) != 0 ||
	    (rc = meta_u64_put(txn, st, "layout", ST_LAYOUT)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		rc = st_sync(st);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* ---- Batches ---- */

int
st_batch_begin(struct st *st, struct st_batch **out)
{
	struct st_batch *b;
	int rc;

	*out = NULL;
	if ((b = calloc(1, sizeof *b)) == NULL)
		return ENOMEM;
	b->st = st;
	if (st->env == NULL)
		rc = ST_ECLOSED;
	else
		rc = mdb_txn_begin(st->env, NULL, 0, &b->txn);
	if (rc == 0) {
		rc = meta_u64_get(b->txn, st, "size", &b->next);
		if (rc == ST_ENOTFOUND)
			rc = 0; /* not initialised: empty */
		if (rc != 0)
			mdb_txn_abort(b->txn);
	}
	if (rc != 0) {
		free(b);
		return rc;
	}
	st->pend_len = 0;
	*out = b;
	return 0;
}

/* The batch completed full bundle k: write it from the entries committed
 * before (deleting their keys) and the batch's, in the batch. */
static int
batch_seal(struct st_batch *b, uint64_t k)
{
	struct st *st = b->st;
	int rc;

	if ((rc = enc_ready(st)) != 0)
		return rc;
	eb_enc_reset(st->enc);
	if ((rc = entries_move(st, b->txn, k * EB_ENTRIES, b->pend_first, true)) != 0)
		return rc;
	for (unsigned j = 0; j < b->n_pend; j++) {
		const uint8_t *p = st->pend + st->pend_off[j];

		if ((rc = eb_enc_add(st->enc, p + 2, (size_t)p[0] << 8 | p[1])) != 0)
			return rc;
	}
	if ((rc = bundle_put(st, b->txn, k)) != 0)
		return rc;
	b->n_pend = 0;
	st->pend_len = 0;
	return 0;
}

int
st_batch_entry_put(struct st_batch *b, uint64_t index, const uint8_t *leaf_bytes, size_t len)
{
	struct st *st = b->st;

	if (len == 0 || index != b->next)
		return CL_EINVAL;
	if (len > CL_ENTRY_MAX)
		return CL_ETOOBIG;
	/* Kept until the batch completes the bundle or commits: an entry
	 * whose bundle the batch completes is written only inside it. */
	if (len + 2 > st->pend_cap - st->pend_len) {
		size_t cap = st->pend_cap == 0 ? 65536 : st->pend_cap;
		uint8_t *p;

		while (cap - st->pend_len < len + 2)
			cap *= 2;
		if ((p = realloc(st->pend, cap)) == NULL)
			return ENOMEM;
		st->pend = p;
		st->pend_cap = cap;
	}
	if (b->n_pend == 0)
		b->pend_first = index;
	st->pend_off[b->n_pend++] = (uint32_t)st->pend_len;
	st->pend[st->pend_len] = (uint8_t)(len >> 8);
	st->pend[st->pend_len + 1] = (uint8_t)len;
	memcpy(st->pend + st->pend_len + 2, leaf_bytes, len);
	st->pend_len += len + 2;
	b->next++;
	if (b->next % EB_ENTRIES == 0)
		return batch_seal(b, index / EB_ENTRIES);
	return 0;
}

/* Write the batch's entries of its open bundle, each under its own key. */
static int
batch_pend_write(struct st_batch *b)
{
	struct st *st = b->st;

	for (unsigned j = 0; j < b->n_pend; j++) {
		uint8_t kb[8];
		uint8_t *p = st->pend + st->pend_off[j];
		MDB_val k, v = {(size_t)p[0] << 8 | p[1], p + 2};
		int rc;

		u64_key(kb, &k, b->pend_first + j);
		/* MDB_APPEND also enforces that indices only ever grow. */
		if ((rc = mdb_put(b->txn, st->entries, &k, &v, MDB_APPEND)) != 0)
			return rc;
	}
	b->n_pend = 0;
	return 0;
}

static void
tile_key(uint8_t out[8], unsigned level, uint64_t index)
{
	cl_be64_put(out, (uint64_t)level << 56 | index);
}

int
st_batch_tile_put(struct st_batch *b, unsigned level, uint64_t index, const uint8_t *tile)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v = {ST_TILE_BYTES, (void *)tile};

	tile_key(kb, level, index);
	return mdb_put(b->txn, b->st->tiles, &k, &v, 0);
}

int
st_batch_leaf_get(struct st_batch *b, uint64_t index, uint8_t out[MT_HASH_LEN])
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	int rc;

	tile_key(kb, 0, index / 256);
	if ((rc = mdb_get(b->txn, b->st->tiles, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? ST_ENOTFOUND : rc;
	if (v.mv_size != ST_TILE_BYTES)
		return ST_ECORRUPT;
	memcpy(out, (const uint8_t *)v.mv_data + (index % 256) * MT_HASH_LEN, MT_HASH_LEN);
	return 0;
}

int
st_batch_size_put(struct st_batch *b, uint64_t size)
{
	return meta_u64_put(b->txn, b->st, "size", size);
}

int
st_batch_checkpoint_put(struct st_batch *b, const uint8_t *note, size_t len)
{
	return meta_put(b->txn, b->st, "checkpoint", note, len);
}

int
st_batch_commit(struct st_batch *b)
{
	int rc = batch_pend_write(b);

	if (rc != 0)
		mdb_txn_abort(b->txn);
	else if ((rc = mdb_txn_commit(b->txn)) == 0)
		b->st->unsynced = true;
	/* The handle is gone whether or not the commit worked. */
	free(b);
	return rc;
}

int
st_sync(struct st *st)
{
	int rc;

	if (st->env == NULL)
		return ST_ECLOSED;
	/* Not forced: under ST_TEST_NOSYNC (and the bulk loader's mode)
	 * LMDB skips it, as it skips every commit's. */
	if ((rc = mdb_env_sync(st->env, 0)) == 0)
		st->unsynced = false;
	return rc;
}

void
st_batch_abort(struct st_batch *b)
{
	if (b == NULL)
		return;
	mdb_txn_abort(b->txn);
	free(b);
}

/* ---- Readers ---- */

int
st_reader_new(struct st *st, struct st_reader **out)
{
	struct st_reader *r;

	*out = NULL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return ENOMEM;
	r->st = st;
	pthread_mutex_lock(&st->readers_mu);
	r->next = st->readers;
	st->readers = r;
	pthread_mutex_unlock(&st->readers_mu);
	*out = r;
	return 0;
}

void
st_reader_free(struct st_reader *r)
{
	struct st *st;

	if (r == NULL)
		return;
	st = r->st;
	pthread_mutex_lock(&st->readers_mu);
	for (struct st_reader **p = &st->readers; *p != NULL; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&st->readers_mu);
	if (r->txn != NULL)
		mdb_txn_abort(r->txn);
	eb_dec_free(r->dec);
	free(r);
}

int
st_reader_begin(struct st_reader *r)
{
	int rc;

	pthread_rwlock_rdlock(&r->st->lock);
	if (r->st->env == NULL)
		rc = ST_ECLOSED;
	else if (r->txn == NULL)
		rc = mdb_txn_begin(r->st->env, NULL, MDB_RDONLY, &r->txn);
	else
		rc = mdb_txn_renew(r->txn);
	if (rc != 0) {
		pthread_rwlock_unlock(&r->st->lock);
		return rc;
	}
	r->active = true;
	r->size = 0;
	rc = meta_u64_get(r->txn, r->st, "size", &r->size);
	if (rc == ST_ENOTFOUND)
		return 0; /* not initialised: empty */
	if (rc != 0) {
		st_reader_end(r);
		return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
	}
	return 0;
}

void
st_reader_end(struct st_reader *r)
{
	if (!r->active)
		return;
	mdb_txn_reset(r->txn);
	r->active = false;
	pthread_rwlock_unlock(&r->st->lock);
}

uint64_t
st_reader_size(struct st_reader *r)
{
	return r->size;
}

/* Decode full bundle k of the snapshot into r->dec, unless it holds it. */
static int
bundle_load(struct st_reader *r, uint64_t k)
{
	uint8_t kb[8];
	MDB_val key, v;
	int rc;

	if (r->dec_ok && r->dec_index == k && r->dec_gen == r->st->gen)
		return 0;
	r->dec_ok = false;
	if (r->dec == NULL && (rc = eb_dec_new(&r->dec)) != 0)
		return rc;
	u64_key(kb, &key, k);
	/* Below the snapshot's size every full bundle is there. */
	if ((rc = mdb_get(r->txn, r->st->bundles, &key, &v)) != 0)
		return rc == MDB_NOTFOUND ? ST_ECORRUPT : rc;
	if ((rc = eb_decode(r->dec, v.mv_data, v.mv_size)) != 0)
		return rc;
	r->dec_ok = true;
	r->dec_index = k;
	r->dec_gen = r->st->gen;
	return 0;
}

int
st_entry_get(struct st_reader *r, uint64_t index, const uint8_t **data, size_t *len)
{
	uint8_t ib[8];
	MDB_val k, v;
	int rc;

	if (index >= r->size)
		return ST_ENOTFOUND;
	if (index / EB_ENTRIES < r->size / EB_ENTRIES) {
		if ((rc = bundle_load(r, index / EB_ENTRIES)) != 0)
			return rc;
		eb_dec_entry(r->dec, (unsigned)(index % EB_ENTRIES), data, len);
		return 0;
	}
	u64_key(ib, &k, index);
	if ((rc = mdb_get(r->txn, r->st->entries, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? ST_ECORRUPT : rc;
	if (v.mv_size == 0 || v.mv_size > CL_ENTRY_MAX)
		return ST_ECORRUPT;
	*data = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
st_bundle_get(struct st_reader *r, uint64_t index, const uint8_t **data, size_t *len)
{
	int rc;

	if (index >= r->size / EB_ENTRIES)
		return ST_ENOTFOUND;
	if ((rc = bundle_load(r, index)) != 0)
		return rc;
	eb_dec_raw(r->dec, data, len);
	return 0;
}

int
st_tile_get(struct st_reader *r, unsigned level, uint64_t index, const uint8_t **tile)
{
	uint8_t kb[8];
	MDB_val k = {8, kb}, v;
	int rc;

	tile_key(kb, level, index);
	if ((rc = mdb_get(r->txn, r->st->tiles, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? ST_ENOTFOUND : rc;
	if (v.mv_size != ST_TILE_BYTES)
		return ST_ECORRUPT;
	*tile = v.mv_data;
	return 0;
}

int
st_node_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	struct st_reader *r = ctx;
	/* Plans visit few tiles, in runs: remember the ones already found. */
	struct {
		unsigned level;
		uint64_t index;
		const uint8_t *data;
	} seen[16];
	/* A proof's hashes are spread over its tiles' pages, rarely in the
	 * CPU's caches: find them all first and prefetch each, so that their
	 * cache misses overlap instead of coming one after the other. */
	const uint8_t *src[MT_NODES_MAX];
	size_t n_seen = 0;
	int rc;

	if (n > MT_NODES_MAX)
		return CL_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned h = nodes[i].height, level = h / 8, pos;
		uint64_t tile;
		const uint8_t *data = NULL;

		/* Only nodes complete within the snapshot exist. */
		if (h >= 64 || (r->size >> h) <= nodes[i].index)
			return ST_ENOTFOUND;
		st_tile_slot(&nodes[i], &tile, &pos);
		for (size_t s = 0; s < n_seen; s++) {
			if (seen[s].level == level && seen[s].index == tile)
				data = seen[s].data;
		}
		if (data == NULL) {
			if ((rc = st_tile_get(r, level, tile, &data)) != 0)
				return rc == ST_ENOTFOUND ? ST_ECORRUPT : rc;
			if (n_seen < 16) {
				seen[n_seen].level = level;
				seen[n_seen].index = tile;
				seen[n_seen].data = data;
				n_seen++;
			}
		}
		src[i] = data + (size_t)pos * MT_HASH_LEN;
		__builtin_prefetch(src[i]);
		__builtin_prefetch(src[i] + MT_HASH_LEN - 1);
	}
	for (size_t i = 0; i < n; i++)
		memcpy(out[i], src[i], MT_HASH_LEN);
	return 0;
}
