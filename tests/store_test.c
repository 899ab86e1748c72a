/*
 * store_test.c: the LMDB store (server/store.c) in process: metadata and
 * its one-time initialisation, a batch's entries, leaf hashes, tiles and
 * size, visible only once committed and not at all after an abort; a
 * reader's snapshot that does not move under a later commit; what a
 * reopened store still has; a full map (MDB_MAP_FULL) that leaves the store
 * as it was; layout 1 and 2 stores migrated at open (their search
 * databases dropped: index_test covers the search environment), any other
 * layout refused; full entry bundles (one value each, written by the batch
 * that completes them, whatever the batches' sizes; damage refused); and a
 * layout 3 store converted at open, going on after a crash mid-way
 * (tests/convert_test.c cuts the power during it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "cl.h"
#include "harness.h"
#include "store.h"
#include "testutil.h"

static void
leaf_of(uint64_t i, uint8_t leaf[MT_HASH_LEN])
{
	uint8_t b[8];

	memcpy(b, &i, sizeof b);
	mt_leaf_hash(leaf, b, sizeof b);
}

/* Entry i's body: i, then bytes that do not compress. */
static void
body_fill(uint8_t *body, size_t len, uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull | 1;

	for (size_t j = 0; j < len; j++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		body[j] = (uint8_t)(x >> 24);
	}
	memcpy(body, &i, len < sizeof i ? len : sizeof i);
}

/* Put entries [from, to) and the level-0 tiles holding their leaf hashes
 * (as edge.c would). */
static int
put_range(struct st_batch *b, uint64_t from, uint64_t to, size_t body_len)
{
	static uint8_t body[65536], tile[ST_TILE_BYTES];
	int rc;

	for (uint64_t i = from; i < to; i++) {
		if (i == from || i % 256 == 0) {
			/* A partial tile is rewritten whole, as edge.c does. */
			memset(tile, 0, sizeof tile);
			for (uint64_t j = i - i % 256; j < i; j++)
				leaf_of(j, tile + (j % 256) * MT_HASH_LEN);
		}
		leaf_of(i, tile + (i % 256) * MT_HASH_LEN);
		body_fill(body, body_len, i);
		if ((rc = st_batch_entry_put(b, i, body, body_len)) != 0)
			return rc;
		if ((i % 256 == 255 || i + 1 == to) &&
		    (rc = st_batch_tile_put(b, 0, i / 256, tile)) != 0)
			return rc;
	}
	return 0;
}

static void
test_store(void **state)
{
	char dir[512], why[256];
	struct st *st;
	struct st_meta m;
	struct st_batch *b;
	struct st_reader *r, *old;
	uint8_t leaf[MT_HASH_LEN], tile[ST_TILE_BYTES];
	const uint8_t *data;
	size_t len;
	uint64_t idx;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_meta_get(st, &m), ST_ENOTFOUND);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	assert_int_equal(st_init(st, "x", "y"), CL_EINVAL); /* once only */
	assert_int_equal(st_meta_get(st, &m), 0);
	assert_string_equal(m.origin, "example.org/log");
	assert_int_equal(m.size, 0);
	assert_null(m.checkpoint);
	st_meta_free(&m);

	assert_int_equal(st_reader_new(st, &r), 0);
	assert_int_equal(st_reader_new(st, &old), 0);
	assert_int_equal(st_reader_begin(old), 0); /* a snapshot of the empty log */

	/* An aborted batch leaves nothing. */
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(put_range(b, 0, 5, 16), 0);
	assert_int_equal(st_batch_leaf_get(b, 3, leaf), 0); /* visible inside */
	leaf_of(3, tile);
	assert_memory_equal(leaf, tile, MT_HASH_LEN);
	assert_int_equal(st_batch_size_put(b, 5), 0);
	st_batch_abort(b);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), 0);
	assert_int_equal(st_tile_get(r, 0, 0, &data), ST_ENOTFOUND);
	assert_int_equal(st_entry_get(r, 0, &data, &len), ST_ENOTFOUND);
	st_reader_end(r);

	/* A committed one: entries, leaf hashes, tiles, size, checkpoint. */
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(put_range(b, 0, 7, 16), 0);
	memset(tile, 0, sizeof tile);
	for (uint64_t i = 0; i < 7; i++)
		leaf_of(i, tile + i * MT_HASH_LEN);
	assert_int_equal(st_batch_size_put(b, 7), 0);
	assert_int_equal(st_batch_checkpoint_put(b, (const uint8_t *)"note\n", 5), 0);
	assert_int_equal(st_batch_commit(b), 0);

	assert_int_equal(st_reader_size(old), 0); /* the old snapshot did not move */
	st_reader_end(old);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), 7);
	assert_int_equal(st_entry_get(r, 6, &data, &len), 0);
	assert_int_equal(len, 16);
	memcpy(&idx, data, sizeof idx);
	assert_int_equal(idx, 6);
	assert_int_equal(st_entry_get(r, 7, &data, &len), ST_ENOTFOUND);
	assert_int_equal(st_tile_get(r, 0, 0, &data), 0);
	assert_memory_equal(data, tile, ST_TILE_BYTES);
	assert_int_equal(st_tile_get(r, 0, 1, &data), ST_ENOTFOUND);
	assert_int_equal(st_tile_get(r, 1, 0, &data), ST_ENOTFOUND);
	st_reader_end(r);
	st_reader_free(r);
	st_reader_free(old);

	/* Reopened: the same. */
	st_close(st);
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_meta_get(st, &m), 0);
	assert_int_equal(m.size, 7);
	assert_int_equal(m.checkpoint_len, 5);
	assert_memory_equal(m.checkpoint, "note\n", 5);
	st_meta_free(&m);
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(st_batch_leaf_get(b, 6, leaf), 0);
	leaf_of(6, tile);
	assert_memory_equal(leaf, tile, MT_HASH_LEN);
	assert_int_equal(st_batch_leaf_get(b, 256, leaf), ST_ENOTFOUND);
	st_batch_abort(b);

	/* A map too small for the batch: MDB_MAP_FULL, and nothing stored. */
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(put_range(b, 7, 2000, 60000), MDB_MAP_FULL);
	st_batch_abort(b);
	assert_int_equal(st_reader_new(st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), 7);
	assert_int_equal(st_entry_get(r, 7, &data, &len), ST_ENOTFOUND);
	st_reader_end(r);
	st_reader_free(r);
	assert_non_null(st_strerror(MDB_MAP_FULL));
	assert_non_null(st_strerror(ST_ECORRUPT));
	st_close(st);
	st_close(NULL);
	h_rmrf(dir);
}

/* Raw LMDB on a closed store, as another program (or an older closurelogd)
 * would see it. */
static MDB_env *
raw_open(const char *dir, MDB_txn **txn, MDB_dbi *meta)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
	return env;
}

static uint64_t
raw_u64(MDB_txn *txn, MDB_dbi meta, const char *key)
{
	MDB_val k = {strlen(key), (void *)key}, v;

	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, 8);
	return cl_be64_get(v.mv_data);
}

/* Give the closed store in dir the search databases of layout `old` (1:
 * no "layout" key; 2: "layout" 2 and "leaves_upto"). */
static void
make_old(const char *dir, uint64_t old)
{
	static const char *const dbs[] = {"leaves", "by_root", "by_nar", "by_submitter"};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	uint8_t leaf[MT_HASH_LEN], ib[8];

	env = raw_open(dir, &txn, &meta);
	for (size_t d = 0; d < 4; d++) {
		MDB_dbi dbi;

		assert_int_equal(
		    mdb_dbi_open(txn, dbs[d], MDB_CREATE | (d > 0 ? MDB_DUPSORT : 0), &dbi), 0);
		for (uint64_t i = 0; i < 300; i++) {
			leaf_of(i, leaf);
			cl_be64_put(ib, i);
			assert_int_equal(
			    mdb_put(txn, dbi, &(MDB_val){d == 0 ? MT_HASH_LEN : 2, leaf},
			        &(MDB_val){8, ib}, 0),
			    0);
		}
	}
	if (old == 1) {
		assert_int_equal(mdb_del(txn, meta, &(MDB_val){6, "layout"}, NULL), 0);
	} else {
		cl_be64_put(ib, old);
		assert_int_equal(
		    mdb_put(txn, meta, &(MDB_val){6, "layout"}, &(MDB_val){8, ib}, 0), 0);
		cl_be64_put(ib, 300);
		assert_int_equal(
		    mdb_put(txn, meta, &(MDB_val){11, "leaves_upto"}, &(MDB_val){8, ib}, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Stores written by layouts 1 and 2 (search databases in the main
 * environment) are migrated at open: the old databases and "leaves_upto"
 * are gone, the entries and tiles stay; a layout from the future is
 * refused with its version named, and left as it was. */
static void
test_layout(void **state)
{
	char dir[512], why[256];
	struct st *st;
	struct st_batch *b;
	struct st_reader *r;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, dbi;
	MDB_val v;
	const uint8_t *data;
	size_t len;
	uint8_t v9[8];

	(void)state;
	for (uint64_t old = 1; old <= 2; old++) {
		h_tmpdir(dir, sizeof dir);
		assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
		assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
		assert_int_equal(st_batch_begin(st, &b), 0);
		assert_int_equal(put_range(b, 0, 300, 16), 0);
		assert_int_equal(st_batch_size_put(b, 300), 0);
		assert_int_equal(st_batch_commit(b), 0);
		st_close(st);
		make_old(dir, old);

		assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
		assert_int_equal(st_reader_new(st, &r), 0);
		assert_int_equal(st_reader_begin(r), 0);
		assert_int_equal(st_reader_size(r), 300);
		assert_int_equal(st_entry_get(r, 299, &data, &len), 0);
		assert_int_equal(len, 16);
		assert_int_equal(st_tile_get(r, 0, 1, &data), 0);
		st_reader_end(r);
		st_reader_free(r);
		st_close(st);
		env = raw_open(dir, &txn, &meta);
		assert_int_equal(raw_u64(txn, meta, "layout"), ST_LAYOUT);
		assert_int_equal(
		    mdb_get(txn, meta, &(MDB_val){11, "leaves_upto"}, &v), MDB_NOTFOUND);
		assert_int_equal(mdb_dbi_open(txn, "leaves", 0, &dbi), MDB_NOTFOUND);
		assert_int_equal(mdb_dbi_open(txn, "by_root", 0, &dbi), MDB_NOTFOUND);
		if (old == 2) {
			cl_be64_put(v9, 9);
			assert_int_equal(
			    mdb_put(txn, meta, &(MDB_val){6, "layout"}, &(MDB_val){8, v9}, 0), 0);
			assert_int_equal(mdb_txn_commit(txn), 0);
		} else {
			mdb_txn_abort(txn);
		}
		mdb_env_close(env);
		if (old == 1) {
			h_rmrf(dir);
			continue;
		}
	}
	why[0] = '\0';
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), ST_ELAYOUT);
	assert_null(st);
	assert_non_null(strstr(why, "layout version 9"));
	assert_non_null(st_strerror(ST_ELAYOUT));
	env = raw_open(dir, &txn, &meta);
	assert_int_equal(raw_u64(txn, meta, "layout"), 9);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	h_rmrf(dir);
}

/* Entry i of the bundle tests: body_fill of a length varying with i. */
static size_t
model_len(uint64_t i)
{
	return 20 + (size_t)(i * 37 % 300);
}

/* Commit entries [from, to) of the model in one batch (with their level-0
 * tiles) and the size. */
static void
commit_range(struct st *st, uint64_t from, uint64_t to)
{
	static uint8_t body[400];
	struct st_batch *b;

	assert_int_equal(st_batch_begin(st, &b), 0);
	for (uint64_t i = from; i < to; i++) {
		body_fill(body, model_len(i), i);
		assert_int_equal(st_batch_entry_put(b, i, body, model_len(i)), 0);
	}
	assert_int_equal(st_batch_size_put(b, to), 0);
	assert_int_equal(st_batch_commit(b), 0);
}

/* Every entry of the snapshot is the model's, and so is every full bundle
 * in its C2SP form; reading a bundle's entries in turn decodes it once (the
 * entries come from one buffer, back to back). */
static void
check_entries(struct st *st, uint64_t size)
{
	static uint8_t body[400];
	struct st_reader *r;
	const uint8_t *data, *prev = NULL;
	size_t len, prev_len = 0;

	assert_int_equal(st_reader_new(st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), size);
	for (uint64_t i = 0; i < size; i++) {
		assert_int_equal(st_entry_get(r, i, &data, &len), 0);
		body_fill(body, model_len(i), i);
		assert_int_equal(len, model_len(i));
		assert_memory_equal(data, body, len);
		if (i % 256 != 0 && i < size / 256 * 256)
			assert_ptr_equal(data, prev + prev_len + 2);
		prev = data;
		prev_len = len;
	}
	assert_int_equal(st_entry_get(r, size, &data, &len), ST_ENOTFOUND);
	for (uint64_t k = 0; k < size / 256; k++) {
		size_t at = 0;

		assert_int_equal(st_bundle_get(r, k, &data, &len), 0);
		for (uint64_t i = k * 256; i < (k + 1) * 256; i++) {
			body_fill(body, model_len(i), i);
			assert_true(len - at >= 2 + model_len(i));
			assert_int_equal((size_t)data[at] << 8 | data[at + 1], model_len(i));
			assert_memory_equal(data + at + 2, body, model_len(i));
			at += 2 + model_len(i);
		}
		assert_int_equal(at, len);
	}
	assert_int_equal(st_bundle_get(r, size / 256, &data, &len), ST_ENOTFOUND);
	st_reader_end(r);
	st_reader_free(r);
}

/* Entries under their own key, and full bundles, in the closed store. */
static void
raw_counts(const char *dir, uint64_t *entries, uint64_t *first, uint64_t *bundles)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, e, b;
	MDB_stat se, sb;
	MDB_cursor *c;
	MDB_val k, v;

	env = raw_open(dir, &txn, &meta);
	assert_int_equal(mdb_dbi_open(txn, "entries", 0, &e), 0);
	assert_int_equal(mdb_stat(txn, e, &se), 0);
	*entries = se.ms_entries;
	*bundles = 0; /* a layout 3 store may have no bundles database */
	if (mdb_dbi_open(txn, "bundles", 0, &b) == 0) {
		assert_int_equal(mdb_stat(txn, b, &sb), 0);
		*bundles = sb.ms_entries;
	}
	*first = UINT64_MAX;
	assert_int_equal(mdb_cursor_open(txn, e, &c), 0);
	if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0)
		*first = cl_be64_get(k.mv_data);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Batches that start and end anywhere in a bundle, complete one, or hold
 * one whole: every entry reads back, full bundles are one value each and
 * only the last bundle's entries keep their own keys.  An aborted batch
 * that completed a bundle leaves nothing.  A damaged bundle, a missing one,
 * a missing entry are ST_ECORRUPT, and the rest still reads. */
static void
test_bundles(void **state)
{
	static const uint64_t steps[] = {1, 3, 250, 2, 256, 1, 300, 187};
	static uint8_t body[400];
	char dir[512], why[256];
	struct st *st;
	struct st_batch *b;
	struct st_reader *r;
	const uint8_t *data;
	size_t len;
	uint64_t size = 0, n_entries, first, n_bundles;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, dbi;
	MDB_val v;
	uint8_t kb[8], *copy;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)64 << 20, &st, why), 0);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		commit_range(st, size, size + steps[s]);
		size += steps[s];
		check_entries(st, size);
	}
	assert_int_equal(size, 1000);
	/* Wrong index, empty entry; an aborted batch completing bundle 3. */
	assert_int_equal(st_batch_begin(st, &b), 0);
	body_fill(body, 10, 0);
	assert_int_equal(st_batch_entry_put(b, 999, body, 10), CL_EINVAL);
	assert_int_equal(st_batch_entry_put(b, 1001, body, 10), CL_EINVAL);
	assert_int_equal(st_batch_entry_put(b, 1000, body, 0), CL_EINVAL);
	for (uint64_t i = 1000; i < 1100; i++) {
		body_fill(body, model_len(i), i);
		assert_int_equal(st_batch_entry_put(b, i, body, model_len(i)), 0);
	}
	st_batch_abort(b);
	check_entries(st, size);
	st_close(st);
	raw_counts(dir, &n_entries, &first, &n_bundles);
	assert_int_equal(n_entries, 1000 - 768);
	assert_int_equal(first, 768);
	assert_int_equal(n_bundles, 3);

	/* Damage: a flipped byte in bundle 1, bundle 2 gone, entry 800 gone. */
	env = raw_open(dir, &txn, &meta);
	assert_int_equal(mdb_dbi_open(txn, "bundles", 0, &dbi), 0);
	cl_be64_put(kb, 1);
	assert_int_equal(mdb_get(txn, dbi, &(MDB_val){8, kb}, &v), 0);
	copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x10;
	assert_int_equal(mdb_put(txn, dbi, &(MDB_val){8, kb}, &(MDB_val){v.mv_size, copy}, 0), 0);
	free(copy);
	cl_be64_put(kb, 2);
	assert_int_equal(mdb_del(txn, dbi, &(MDB_val){8, kb}, NULL), 0);
	assert_int_equal(mdb_dbi_open(txn, "entries", 0, &dbi), 0);
	cl_be64_put(kb, 800);
	assert_int_equal(mdb_del(txn, dbi, &(MDB_val){8, kb}, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(st_open(dir, (size_t)64 << 20, &st, why), 0);
	assert_int_equal(st_reader_new(st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_entry_get(r, 300, &data, &len), ST_ECORRUPT);
	assert_int_equal(st_bundle_get(r, 1, &data, &len), ST_ECORRUPT);
	assert_int_equal(st_entry_get(r, 600, &data, &len), ST_ECORRUPT);
	assert_int_equal(st_entry_get(r, 800, &data, &len), ST_ECORRUPT);
	assert_int_equal(st_entry_get(r, 5, &data, &len), 0);
	assert_int_equal(len, model_len(5));
	assert_int_equal(st_entry_get(r, 801, &data, &len), 0);
	assert_int_equal(len, model_len(801));
	st_reader_end(r);
	st_reader_free(r);
	/* Completing the bundle that lost entry 800 is refused. */
	assert_int_equal(st_batch_begin(st, &b), 0);
	for (uint64_t i = 1000; i < 1024; i++) {
		int rc;

		body_fill(body, model_len(i), i);
		rc = st_batch_entry_put(b, i, body, model_len(i));
		assert_int_equal(rc, i == 1023 ? ST_ECORRUPT : 0);
	}
	st_batch_abort(b);
	st_close(st);
	h_rmrf(dir);
}

/* Make the closed layout 4 store in dir a layout 3 one: every entry under
 * its own key (from the model), no bundles. */
static void
make_unbundled(const char *dir, uint64_t size)
{
	static uint8_t body[400];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, e, b;
	uint8_t kb[8];

	env = raw_open(dir, &txn, &meta);
	assert_int_equal(mdb_dbi_open(txn, "entries", 0, &e), 0);
	assert_int_equal(mdb_dbi_open(txn, "bundles", 0, &b), 0);
	assert_int_equal(mdb_drop(txn, b, 1), 0);
	for (uint64_t i = 0; i < size / 256 * 256; i++) {
		body_fill(body, model_len(i), i);
		cl_be64_put(kb, i);
		assert_int_equal(
		    mdb_put(txn, e, &(MDB_val){8, kb}, &(MDB_val){model_len(i), body}, 0), 0);
	}
	cl_be64_put(kb, 3);
	assert_int_equal(mdb_put(txn, meta, &(MDB_val){6, "layout"}, &(MDB_val){8, kb}, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

struct progress {
	uint64_t done[8], total[8];
	size_t n;
	bool die_after_first_step;
};

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	if (p->n < 8) {
		p->done[p->n] = done;
		p->total[p->n] = total;
	}
	/* A crash right after the first step committed. */
	if (p->die_after_first_step && p->n == 1)
		_exit(7);
	p->n++;
}

/* A layout 3 store is converted at open, 64 bundles per step, with
 * progress; a crash after the first step leaves a layout 3 store half
 * converted, and the next open goes on from there.  Entries, tiles and
 * metadata come out as they went in. */
static void
test_convert(void **state)
{
	enum { FULL = 70, N = FULL * 256 + 100 };
	char dir[512], why[256];
	struct st *st;
	struct progress p = {0};
	uint64_t n_entries, first, n_bundles;
	uint8_t tile[ST_TILE_BYTES];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	pid_t pid;
	int status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)256 << 20, &st, why), 0);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	for (uint64_t i = 0; i < N; i += 5000)
		commit_range(st, i, i + 5000 < N ? i + 5000 : N);
	{
		struct st_batch *b;

		memset(tile, 0x5a, sizeof tile);
		assert_int_equal(st_batch_begin(st, &b), 0);
		assert_int_equal(st_batch_tile_put(b, 0, 3, tile), 0);
		assert_int_equal(st_batch_checkpoint_put(b, (const uint8_t *)"note\n", 5), 0);
		assert_int_equal(st_batch_commit(b), 0);
	}
	st_close(st);
	make_unbundled(dir, N);
	raw_counts(dir, &n_entries, &first, &n_bundles);
	assert_int_equal(n_entries, N);
	assert_int_equal(n_bundles, 0);

	/* A crash after the first step. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		p.die_after_first_step = true;
		if (st_open_progress(dir, (size_t)256 << 20, on_progress, &p, &st, why) == 0)
			_exit(1);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	raw_counts(dir, &n_entries, &first, &n_bundles);
	assert_int_equal(n_bundles, 64);
	assert_int_equal(first, 64 * 256);
	assert_int_equal(n_entries, N - 64 * 256);
	env = raw_open(dir, &txn, &meta);
	assert_int_equal(raw_u64(txn, meta, "layout"), 3);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* Opened again: the rest, and the layout. */
	assert_int_equal(st_open_progress(dir, (size_t)256 << 20, on_progress, &p, &st, why), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.done[0], 64 * 256);
	assert_int_equal(p.done[1], FULL * 256);
	assert_int_equal(p.total[0], FULL * 256);
	check_entries(st, N);
	{
		struct st_meta m;
		struct st_reader *r;
		const uint8_t *data;

		assert_int_equal(st_meta_get(st, &m), 0);
		assert_int_equal(m.size, N);
		assert_int_equal(m.checkpoint_len, 5);
		st_meta_free(&m);
		assert_int_equal(st_reader_new(st, &r), 0);
		assert_int_equal(st_reader_begin(r), 0);
		assert_int_equal(st_tile_get(r, 0, 3, &data), 0);
		assert_memory_equal(data, tile, ST_TILE_BYTES);
		st_reader_end(r);
		st_reader_free(r);
	}
	/* And it goes on appending. */
	commit_range(st, N, N + 200);
	check_entries(st, N + 200);
	st_close(st);
	raw_counts(dir, &n_entries, &first, &n_bundles);
	assert_int_equal(n_bundles, (N + 200) / 256);
	assert_int_equal(first, (N + 200) / 256 * 256);
	env = raw_open(dir, &txn, &meta);
	assert_int_equal(raw_u64(txn, meta, "layout"), ST_LAYOUT);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	/* Opened once more: nothing to do, no report. */
	p.n = 0;
	assert_int_equal(st_open_progress(dir, (size_t)256 << 20, on_progress, &p, &st, why), 0);
	assert_int_equal(p.n, 0);
	st_close(st);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_bundles),
	    cmocka_unit_test(test_convert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
