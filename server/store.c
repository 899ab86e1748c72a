/*
 * store.c: the LMDB store behind closurelogd.
 *
 * Everything durable lives in one LMDB environment so that one write
 * transaction, committed with a full sync, makes a whole batch of entries,
 * their search keys, the tiles they complete and the new tree size durable
 * at once; a crash leaves the previous batch intact and nothing half-done.
 * Keys are big-endian so that LMDB's byte order is numeric order and entries
 * go in with MDB_APPEND.  Stored nodes are grouped by C2SP tile ("fat
 * tiles", see store.h) so that proofs and tiles cost a handful of lookups.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "cl.h"

/* ST_TEST_NOSYNC builds a deliberately broken store for
 * tests/powerloss_test.c (closurelogd-nosync): the power-loss harness must
 * catch it. */
#ifdef ST_TEST_NOSYNC
#define ST_ENV_FLAGS MDB_NOSYNC
#else
#define ST_ENV_FLAGS 0
#endif

struct st {
	MDB_env *env;
	MDB_dbi meta, entries, leaves, tiles, index[ST_N_INDEXES];
};

struct st_batch {
	struct st *st;
	MDB_txn *txn;
};

struct st_reader {
	struct st *st;
	MDB_txn *txn;
	bool active;
	uint64_t size;
};

static const char *const index_names[ST_N_INDEXES] = {"by_root", "by_nar", "by_submitter"};

const char *
st_strerror(int rc)
{
	if (rc == ST_ENOTFOUND)
		return "not found";
	if (rc == ST_ECORRUPT)
		return "store is inconsistent";
	if (rc == MDB_MAP_FULL)
		return "storage map is full (raise --map-size)";
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return mdb_strerror(rc);
	return cl_strerror(rc);
}

int
st_open(const char *dir, size_t map_size, struct st **out, char *why)
{
	struct st *st;
	MDB_txn *txn = NULL;
	int rc;

	*out = NULL;
	if ((st = calloc(1, sizeof *st)) == NULL)
		return ENOMEM;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = errno;
		cl_why(why, rc, "cannot create data directory %s: %s", dir, strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, 4 + ST_N_INDEXES)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, map_size)) != 0) {
		cl_why(why, rc, "lmdb: %s", mdb_strerror(rc));
		goto fail;
	}
	/* MDB_NOTLS: a reader's transaction is renewed per request, possibly
	 * on any thread of the pool that owns it.  No MDB_NOSYNC: commits are
	 * durable when mdb_txn_commit returns. */
	if ((rc = mdb_env_open(st->env, dir, MDB_NOTLS | ST_ENV_FLAGS, 0600)) != 0) {
		cl_why(why, rc, "cannot open store in %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &st->entries)) != 0 ||
	    (rc = mdb_dbi_open(txn, "leaves", MDB_CREATE, &st->leaves)) != 0 ||
	    (rc = mdb_dbi_open(txn, "tiles", MDB_CREATE, &st->tiles)) != 0) {
		cl_why(why, rc, "cannot open store databases: %s", mdb_strerror(rc));
		goto fail;
	}
	for (int i = 0; i < ST_N_INDEXES; i++) {
		if ((rc = mdb_dbi_open(txn, index_names[i], MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
		         &st->index[i])) != 0) {
			cl_why(why, rc, "cannot open store databases: %s", mdb_strerror(rc));
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		cl_why(why, rc, "cannot open store: %s", mdb_strerror(rc));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st);
	return rc;
}

int
st_sync_set(struct st *st, bool each_commit)
{
	int rc = mdb_env_set_flags(st->env, MDB_NOSYNC, each_commit ? 0 : 1);

	if (rc == 0 && each_commit)
		rc = mdb_env_sync(st->env, 1);
	return rc;
}

void
st_close(struct st *st)
{
	if (st == NULL)
		return;
	mdb_env_sync(st->env, 1);
	mdb_env_close(st->env);
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
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
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
	    (rc = meta_put(txn, st, "size", zero, sizeof zero)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
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
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &b->txn)) != 0) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* The index stored for a leaf hash, in any transaction. */
static int
leaf_get(MDB_txn *txn, struct st *st, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	MDB_val k = {MT_HASH_LEN, (void *)leaf}, v;
	int rc = mdb_get(txn, st->leaves, &k, &v);

	if (rc == MDB_NOTFOUND)
		return ST_ENOTFOUND;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return ST_ECORRUPT;
	*index = cl_be64_get(v.mv_data);
	return 0;
}

int
st_batch_leaf_find(struct st_batch *b, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	return leaf_get(b->txn, b->st, leaf, index);
}

int
st_batch_entry_put(struct st_batch *b, uint64_t index, const uint8_t *leaf_bytes, size_t len,
    const uint8_t leaf[MT_HASH_LEN], const struct st_keys *keys)
{
	uint8_t ib[8];
	MDB_val k = {8, ib}, v = {len, (void *)leaf_bytes};
	int rc;

	cl_be64_put(ib, index);
	/* MDB_APPEND also enforces that indices only ever grow. */
	if ((rc = mdb_put(b->txn, b->st->entries, &k, &v, MDB_APPEND)) != 0)
		return rc;
	k = (MDB_val){MT_HASH_LEN, (void *)leaf};
	v = (MDB_val){8, ib};
	if ((rc = mdb_put(b->txn, b->st->leaves, &k, &v, MDB_NOOVERWRITE)) != 0)
		return rc;
	for (int i = 0; keys != NULL && i < ST_N_INDEXES; i++) {
		if (keys->key[i] == NULL || keys->len[i] == 0)
			continue;
		k = (MDB_val){keys->len[i], (void *)keys->key[i]};
		v = (MDB_val){8, ib};
		/* Each key's indices arrive in increasing order. */
		if ((rc = mdb_put(b->txn, b->st->index[i], &k, &v, MDB_APPENDDUP)) != 0)
			return rc;
	}
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
st_batch_size_put(struct st_batch *b, uint64_t size)
{
	uint8_t sb[8];

	cl_be64_put(sb, size);
	return meta_put(b->txn, b->st, "size", sb, sizeof sb);
}

int
st_batch_checkpoint_put(struct st_batch *b, const uint8_t *note, size_t len)
{
	return meta_put(b->txn, b->st, "checkpoint", note, len);
}

int
st_batch_commit(struct st_batch *b)
{
	int rc = mdb_txn_commit(b->txn);

	/* The handle is gone whether or not the commit worked. */
	free(b);
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
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return ENOMEM;
	r->st = st;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn)) != 0) {
		free(r);
		return rc;
	}
	/* Keep the handle, release the snapshot until st_reader_begin. */
	mdb_txn_reset(r->txn);
	*out = r;
	return 0;
}

void
st_reader_free(struct st_reader *r)
{
	if (r == NULL)
		return;
	mdb_txn_abort(r->txn);
	free(r);
}

int
st_reader_begin(struct st_reader *r)
{
	MDB_val v;
	int rc;

	if ((rc = mdb_txn_renew(r->txn)) != 0)
		return rc;
	r->active = true;
	rc = meta_get(r->txn, r->st, "size", &v);
	if (rc == 0 && v.mv_size != 8)
		rc = ST_ECORRUPT;
	if (rc == ST_ENOTFOUND) {
		r->size = 0;
		return 0;
	}
	if (rc != 0) {
		st_reader_end(r);
		return rc;
	}
	r->size = cl_be64_get(v.mv_data);
	return 0;
}

void
st_reader_end(struct st_reader *r)
{
	if (r->active)
		mdb_txn_reset(r->txn);
	r->active = false;
}

uint64_t
st_reader_size(struct st_reader *r)
{
	return r->size;
}

int
st_entry_get(struct st_reader *r, uint64_t index, const uint8_t **data, size_t *len)
{
	uint8_t ib[8];
	MDB_val k = {8, ib}, v;
	int rc;

	if (index >= r->size)
		return ST_ENOTFOUND;
	cl_be64_put(ib, index);
	if ((rc = mdb_get(r->txn, r->st->entries, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? ST_ECORRUPT : rc;
	*data = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int
st_leaf_find(struct st_reader *r, const uint8_t leaf[MT_HASH_LEN], uint64_t *index)
{
	int rc = leaf_get(r->txn, r->st, leaf, index);

	/* A leaf of a batch being committed is not yet in this snapshot. */
	if (rc == 0 && *index >= r->size)
		return ST_ENOTFOUND;
	return rc;
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
	size_t n_seen = 0;
	int rc;

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
		memcpy(out[i], data + (size_t)pos * MT_HASH_LEN, MT_HASH_LEN);
	}
	return 0;
}

int
st_search(struct st_reader *r, enum st_index which, const void *key, size_t key_len, uint64_t start,
    uint64_t *out, size_t max, size_t *n, bool *more)
{
	MDB_cursor *c = NULL;
	uint8_t sb[8];
	MDB_val k = {key_len, (void *)key}, v = {8, sb};
	int rc;

	*n = 0;
	*more = false;
	if (which >= ST_N_INDEXES || key_len == 0 || key_len > 511)
		return CL_EINVAL;
	if ((rc = mdb_cursor_open(r->txn, r->st->index[which], &c)) != 0)
		return rc;
	cl_be64_put(sb, start);
	rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
	while (rc == 0) {
		uint64_t idx;

		if (v.mv_size != 8) {
			rc = ST_ECORRUPT;
			break;
		}
		idx = cl_be64_get(v.mv_data);
		if (idx >= r->size)
			break;
		if (*n == max) {
			*more = true;
			break;
		}
		out[(*n)++] = idx;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	mdb_cursor_close(c);
	return rc;
}
