/*
 * store_test.c: the LMDB store (server/store.c) in process: metadata and
 * its one-time initialisation, a batch's entries, dedup lookups, search
 * keys, tiles and size, visible only once committed and not at all after
 * an abort; a reader's snapshot that does not move under a later commit;
 * what a reopened store still has; and a full map (MDB_MAP_FULL) that
 * leaves the store as it was.  Deduplication by exact leaf bytes under the
 * root key (committed, earlier in the same batch, after a reopen); the leaf
 * index folded every ST_LEAF_LAG entries, against a naive model, never
 * lagging more than that; and a layout 1 store migrated at open, any other
 * layout refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Put entries [from, to) with root key "r<i % 3>" and one submitter, and
 * the level-0 tiles holding their leaf hashes (as edge.c would). */
static int
put_range(struct st_batch *b, uint64_t from, uint64_t to, size_t body_len)
{
	static uint8_t body[65536], tile[ST_TILE_BYTES];
	static const uint8_t sub[32] = {9};
	int rc;

	for (uint64_t i = from; i < to; i++) {
		char root[3] = {'r', (char)('0' + i % 3), 0};
		struct st_keys k = {{root, NULL, sub}, {2, 0, 32}};

		if (i == from || i % 256 == 0) {
			/* A partial tile is rewritten whole, as edge.c does. */
			memset(tile, 0, sizeof tile);
			for (uint64_t j = i - i % 256; j < i; j++)
				leaf_of(j, tile + (j % 256) * MT_HASH_LEN);
		}
		leaf_of(i, tile + (i % 256) * MT_HASH_LEN);
		memset(body, 0, body_len);
		memcpy(body, &i, sizeof i);
		if ((rc = st_batch_entry_put(b, i, body, body_len, &k)) != 0)
			return rc;
		if ((i % 256 == 255 || i + 1 == to) &&
		    (rc = st_batch_tile_put(b, 0, i / 256, tile)) != 0)
			return rc;
	}
	return 0;
}

/* st_batch_entry_find for the body put_range gives entry i. */
static int
find_body(struct st_batch *b, uint64_t i, size_t body_len, uint64_t *idx)
{
	uint8_t body[64] = {0}, leaf[MT_HASH_LEN];
	char root[3] = {'r', (char)('0' + i % 3), 0};
	struct st_keys k = {{root, NULL, NULL}, {2, 0, 0}};

	memcpy(body, &i, sizeof i);
	leaf_of(i, leaf);
	if (body_len != 16)
		leaf[0] ^= 1; /* another body, another leaf hash */
	return st_batch_entry_find(b, leaf, &k, body, body_len, idx);
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
	size_t len, n;
	uint64_t idx, found[8];
	bool more;

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
	assert_int_equal(find_body(b, 3, 16, &idx), 0); /* visible inside */
	assert_int_equal(idx, 3);
	leaf_of(3, leaf);
	assert_int_equal(st_batch_size_put(b, 5), 0);
	st_batch_abort(b);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), 0);
	assert_int_equal(st_leaf_find(r, leaf, &idx), ST_ENOTFOUND);
	assert_int_equal(st_entry_get(r, 0, &data, &len), ST_ENOTFOUND);
	st_reader_end(r);

	/* A committed one: entries, dedup, search, tiles, size, checkpoint. */
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
	leaf_of(5, leaf);
	assert_int_equal(st_leaf_find(r, leaf, &idx), 0);
	assert_int_equal(idx, 5);
	leaf_of(99, leaf);
	assert_int_equal(st_leaf_find(r, leaf, &idx), ST_ENOTFOUND);
	assert_int_equal(st_tile_get(r, 0, 0, &data), 0);
	assert_memory_equal(data, tile, ST_TILE_BYTES);
	leaf_of(5, leaf);
	tile[0] ^= 1; /* only leaf hashes count, not their prefixes */
	assert_int_equal(st_leaf_find(r, tile, &idx), ST_ENOTFOUND);
	assert_int_equal(st_tile_get(r, 0, 1, &data), ST_ENOTFOUND);
	assert_int_equal(st_tile_get(r, 1, 0, &data), ST_ENOTFOUND);
	/* "r1": entries 1 and 4, from 0; a page of one says more follow. */
	assert_int_equal(st_search(r, ST_BY_ROOT, "r1", 2, 0, found, 8, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_int_equal(found[0], 1);
	assert_int_equal(found[1], 4);
	assert_false(more);
	assert_int_equal(st_search(r, ST_BY_ROOT, "r1", 2, 0, found, 1, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_int_equal(st_search(r, ST_BY_ROOT, "r1", 2, 2, found, 8, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_int_equal(found[0], 4);
	assert_int_equal(st_search(r, ST_BY_ROOT, "zz", 2, 0, found, 8, &n, &more), 0);
	assert_int_equal(n, 0);
	{
		static const uint8_t sub[32] = {9};

		assert_int_equal(st_search(r, ST_BY_SUBMITTER, sub, 32, 0, found, 8, &n, &more), 0);
		assert_int_equal(n, 7);
	}
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

/* Deduplication compares whole leaf bytes under the root key: found once
 * committed, earlier in the same batch (two identical envelopes racing
 * into one batch) and after a reopen; one byte more, another root or no
 * root is not a match. */
static void
test_dedup(void **state)
{
	char dir[512], why[256];
	struct st *st;
	struct st_batch *b;
	uint64_t idx = 99;
	uint8_t body[16] = {0}, nleaf[MT_HASH_LEN] = {0x42};
	struct st_keys k = {{"r1", NULL, NULL}, {2, 0, 0}}, other = {{"r2", NULL, NULL}, {2, 0, 0}},
	               none = {{NULL}, {0}};

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(put_range(b, 0, 4, 16), 0);
	assert_int_equal(st_batch_size_put(b, 4), 0);
	assert_int_equal(st_batch_commit(b), 0);

	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(find_body(b, 1, 16, &idx), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(find_body(b, 1, 17, &idx), ST_ENOTFOUND); /* one byte more */
	assert_int_equal(find_body(b, 9, 16, &idx), ST_ENOTFOUND);
	memcpy(body, &(uint64_t){1}, 8);
	assert_int_equal(st_batch_entry_find(b, nleaf, &other, body, 16, &idx), ST_ENOTFOUND);
	assert_int_equal(st_batch_entry_find(b, nleaf, &none, body, 16, &idx), CL_EINVAL);
	assert_int_equal(st_batch_entry_find(b, nleaf, NULL, body, 16, &idx), CL_EINVAL);
	/* A new envelope, then the same one again in the same batch. */
	memset(body, 0x77, sizeof body);
	assert_int_equal(st_batch_entry_find(b, nleaf, &k, body, 16, &idx), ST_ENOTFOUND);
	assert_int_equal(st_batch_entry_put(b, 4, body, 16, &k), 0);
	assert_int_equal(st_batch_entry_find(b, nleaf, &k, body, 16, &idx), 0);
	assert_int_equal(idx, 4);
	assert_int_equal(st_batch_size_put(b, 5), 0);
	assert_int_equal(st_batch_commit(b), 0);

	st_close(st);
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(st_batch_entry_find(b, nleaf, &k, body, 16, &idx), 0);
	assert_int_equal(idx, 4);
	assert_int_equal(find_body(b, 2, 16, &idx), 0);
	assert_int_equal(idx, 2);
	st_batch_abort(b);
	st_close(st);
	h_rmrf(dir);
}

/* Raw LMDB on a closed store, as another program (or an older closurelogd)
 * would see it. */
static MDB_env *
raw_open(const char *dir, MDB_txn **txn, MDB_dbi *meta, MDB_dbi *leaves)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)64 << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
	assert_int_equal(mdb_dbi_open(*txn, "leaves", 0, leaves), 0);
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

static size_t
raw_count(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat s;

	assert_int_equal(mdb_stat(txn, dbi, &s), 0);
	return s.ms_entries;
}

/* Batches of varying sizes past several folds: after each, the leaf index
 * holds exactly the entries below "leaves_upto", which is less than
 * ST_LEAF_LAG behind the size; every leaf is found at its index (from the
 * index or the tiles) and none that was not put. */
static void
test_leaf_fold(void **state)
{
	char dir[512], why[256];
	struct st *st;
	struct st_batch *b;
	struct st_reader *r;
	uint64_t size = 0, idx;
	const uint64_t steps[] = {1, 300, ST_LEAF_LAG - 302, 1, 5000, ST_LEAF_LAG + 700, 3, 12000};

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)256 << 20, &st, why), 0);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi meta, leaves;
		uint64_t upto;

		assert_int_equal(st_batch_begin(st, &b), 0);
		assert_int_equal(put_range(b, size, size + steps[s], 16), 0);
		size += steps[s];
		assert_int_equal(st_batch_size_put(b, size), 0);
		assert_int_equal(st_batch_commit(b), 0);

		/* Deduplication finds entries on both sides of "leaves_upto". */
		assert_int_equal(st_batch_begin(st, &b), 0);
		for (uint64_t i = 0; i < size; i += (i + 1 < size && i < size - 600 ? 499 : 1)) {
			assert_int_equal(find_body(b, i, 16, &idx), 0);
			assert_int_equal(idx, i);
		}
		assert_int_equal(find_body(b, size, 16, &idx), ST_ENOTFOUND);
		st_batch_abort(b);

		st_close(st);
		env = raw_open(dir, &txn, &meta, &leaves);
		upto = raw_u64(txn, meta, "leaves_upto");
		assert_true(upto <= size && size - upto < ST_LEAF_LAG);
		assert_int_equal(raw_count(txn, leaves), upto);
		mdb_txn_abort(txn);
		mdb_env_close(env);
		assert_int_equal(st_open(dir, (size_t)256 << 20, &st, why), 0);

		assert_int_equal(st_reader_new(st, &r), 0);
		assert_int_equal(st_reader_begin(r), 0);
		for (uint64_t i = 0; i < size + 2; i += (i < upto ? 97 : 1)) {
			uint8_t leaf[MT_HASH_LEN];

			leaf_of(i, leaf);
			if (i < size) {
				assert_int_equal(st_leaf_find(r, leaf, &idx), 0);
				assert_int_equal(idx, i);
			} else {
				assert_int_equal(st_leaf_find(r, leaf, &idx), ST_ENOTFOUND);
			}
		}
		st_reader_end(r);
		st_reader_free(r);
	}
	assert_true(size > 2 * ST_LEAF_LAG);
	st_close(st);
	h_rmrf(dir);
}

/* A store written by layout 1 (no "layout": every leaf hash in the leaf
 * index) is migrated at open; a layout from the future is refused with its
 * version named, and left as it was. */
static void
test_layout(void **state)
{
	char dir[512], why[256];
	struct st *st;
	struct st_batch *b;
	struct st_reader *r;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, leaves;
	uint64_t idx;
	uint8_t leaf[MT_HASH_LEN], ib[8], v9[8];

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	assert_int_equal(st_batch_begin(st, &b), 0);
	assert_int_equal(put_range(b, 0, 300, 16), 0);
	assert_int_equal(st_batch_size_put(b, 300), 0);
	assert_int_equal(st_batch_commit(b), 0);
	st_close(st);

	/* Make it layout 1: the leaf index complete, no layout keys, and level-0
	 * tiles that say nothing (layout 1 never read leaf hashes from them). */
	env = raw_open(dir, &txn, &meta, &leaves);
	assert_int_equal(mdb_del(txn, meta, &(MDB_val){6, "layout"}, NULL), 0);
	assert_int_equal(mdb_del(txn, meta, &(MDB_val){11, "leaves_upto"}, NULL), 0);
	for (uint64_t i = 0; i < 300; i++) {
		leaf_of(i, leaf);
		cl_be64_put(ib, i);
		assert_int_equal(mdb_put(txn, leaves, &(MDB_val){MT_HASH_LEN, leaf},
		                     &(MDB_val){8, ib}, MDB_NOOVERWRITE),
		    0);
	}
	{
		MDB_dbi tiles;
		uint8_t kb[8] = {0}, zero[ST_TILE_BYTES] = {0};

		assert_int_equal(mdb_dbi_open(txn, "tiles", 0, &tiles), 0);
		for (uint8_t t = 0; t < 2; t++) {
			kb[7] = t;
			assert_int_equal(mdb_put(txn, tiles, &(MDB_val){8, kb},
			                     &(MDB_val){sizeof zero, zero}, 0),
			    0);
		}
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), 0);
	assert_int_equal(st_reader_new(st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	leaf_of(299, leaf);
	assert_int_equal(st_leaf_find(r, leaf, &idx), 0);
	assert_int_equal(idx, 299);
	st_reader_end(r);
	st_reader_free(r);
	st_close(st);
	env = raw_open(dir, &txn, &meta, &leaves);
	assert_int_equal(raw_u64(txn, meta, "layout"), ST_LAYOUT);
	assert_int_equal(raw_u64(txn, meta, "leaves_upto"), 300);

	cl_be64_put(v9, 9);
	assert_int_equal(mdb_put(txn, meta, &(MDB_val){6, "layout"}, &(MDB_val){8, v9}, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	why[0] = '\0';
	assert_int_equal(st_open(dir, (size_t)16 << 20, &st, why), ST_ELAYOUT);
	assert_null(st);
	assert_non_null(strstr(why, "layout version 9"));
	assert_non_null(st_strerror(ST_ELAYOUT));
	env = raw_open(dir, &txn, &meta, &leaves);
	assert_int_equal(raw_u64(txn, meta, "layout"), 9);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store),
	    cmocka_unit_test(test_dedup),
	    cmocka_unit_test(test_leaf_fold),
	    cmocka_unit_test(test_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
