/*
 * store_test.c: the LMDB store (server/store.c) in process: metadata and
 * its one-time initialisation, a batch's entries, dedup lookups, search
 * keys, tiles and size, visible only once committed and not at all after
 * an abort; a reader's snapshot that does not move under a later commit;
 * what a reopened store still has; and a full map (MDB_MAP_FULL) that
 * leaves the store as it was.
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

/* Put entries [from, to) with root key "r<i % 3>" and one submitter. */
static int
put_range(struct st_batch *b, uint64_t from, uint64_t to, size_t body_len)
{
	static uint8_t body[65536];
	static const uint8_t sub[32] = {9};
	int rc;

	for (uint64_t i = from; i < to; i++) {
		uint8_t leaf[MT_HASH_LEN];
		char root[3] = {'r', (char)('0' + i % 3), 0};
		struct st_keys k = {{root, NULL, sub}, {2, 0, 32}};

		leaf_of(i, leaf);
		memcpy(body, &i, sizeof i);
		if ((rc = st_batch_entry_put(b, i, body, body_len, leaf, &k)) != 0)
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
	leaf_of(3, leaf);
	assert_int_equal(st_batch_leaf_find(b, leaf, &idx), 0); /* visible inside */
	assert_int_equal(idx, 3);
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
	memset(tile, 0x5c, sizeof tile);
	assert_int_equal(st_batch_tile_put(b, 0, 0, tile), 0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
