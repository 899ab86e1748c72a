/*
 * edge_test.c: the stored tree's right edge (server/edge.c) against a naive
 * RFC 6962 root over every size up to N, appended in batches of varying
 * size through a real store: the root after each batch, the root and the
 * tiles after reloading from the store alone, proofs served from the
 * stored tiles, and an aborted batch that leaves the stored tree as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "harness.h"
#include "merkle.h"
#include "store.h"
#include "testutil.h"

#define N 1100 /* past 4 full level-0 tiles and into level 1 */

/* RFC 6962 MTH over leaves[0..n), the slow way. */
static void
naive_root(uint8_t (*leaves)[MT_HASH_LEN], uint64_t n, uint8_t out[MT_HASH_LEN])
{
	uint64_t k = 1;
	uint8_t l[MT_HASH_LEN], r[MT_HASH_LEN];

	if (n == 0) {
		mt_empty_root(out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], MT_HASH_LEN);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	naive_root(leaves, k, l);
	naive_root(leaves + k, n - k, r);
	mt_node_hash(out, l, r);
}

static struct st *
store_new(const char *dir)
{
	struct st *st;
	char why[256];

	if (st_open(dir, (size_t)64 << 20, &st, why) != 0)
		fail_msg("st_open: %s", why);
	assert_int_equal(st_init(st, "example.org/log", "example.org/log+00000000+AQ"), 0);
	return st;
}

/* Append leaves[from..to) in one committed batch. */
static void
batch(struct st *st, struct edge *e, uint8_t (*leaves)[MT_HASH_LEN], uint64_t from, uint64_t to,
    bool commit)
{
	struct st_batch *b;

	assert_int_equal(st_batch_begin(st, &b), 0);
	for (uint64_t i = from; i < to; i++) {
		uint8_t body[8];

		memcpy(body, &i, sizeof body);
		assert_int_equal(edge_size(e), i);
		assert_int_equal(st_batch_entry_put(b, i, body, sizeof body), 0);
		assert_int_equal(edge_append(e, b, leaves[i]), 0);
	}
	assert_int_equal(edge_flush(e, b), 0);
	assert_int_equal(st_batch_size_put(b, to), 0);
	if (!commit) {
		st_batch_abort(b);
		return;
	}
	assert_int_equal(st_batch_commit(b), 0);
	edge_committed(e);
}

static void
test_edge_differential(void **state)
{
	static uint8_t leaves[N][MT_HASH_LEN];
	char dir[512];
	struct st *st;
	struct edge *e, *fresh;
	uint8_t want[MT_HASH_LEN], got[MT_HASH_LEN];
	uint64_t size = 0, loaded;
	unsigned step = 1;

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		uint8_t b[8];

		memcpy(b, &i, sizeof b);
		mt_leaf_hash(leaves[i], b, sizeof b);
	}
	h_tmpdir(dir, sizeof dir);
	st = store_new(dir);
	assert_int_equal(edge_new(&e), 0);
	assert_int_equal(edge_load(e, st, &loaded, NULL), 0);
	assert_int_equal(loaded, 0);
	edge_root(e, got);
	naive_root(leaves, 0, want);
	assert_memory_equal(got, want, MT_HASH_LEN);
	while (size < N) {
		uint64_t to = size + step < N ? size + step : N;
		struct st_reader *r;

		batch(st, e, leaves, size, to, true);
		size = to;
		naive_root(leaves, size, want);
		edge_root(e, got);
		assert_memory_equal(got, want, MT_HASH_LEN);
		/* From the store alone: the same edge, and the stored tiles give
		 * the same root and a proof for the last leaf. */
		assert_int_equal(edge_new(&fresh), 0);
		assert_int_equal(edge_load(fresh, st, &loaded, NULL), 0);
		assert_int_equal(loaded, size);
		edge_root(fresh, got);
		assert_memory_equal(got, want, MT_HASH_LEN);
		edge_free(fresh);
		assert_int_equal(st_reader_new(st, &r), 0);
		assert_int_equal(st_reader_begin(r), 0);
		assert_int_equal(mt_root_at(size, st_node_read, r, got), 0);
		assert_memory_equal(got, want, MT_HASH_LEN);
		{
			uint8_t path[MT_PROOF_MAX][MT_HASH_LEN];
			size_t n_path;

			assert_int_equal(
			    mt_inclusion_prove(size - 1, size, st_node_read, r, path, &n_path), 0);
			assert_int_equal(mt_inclusion_verify(leaves[size - 1], size - 1, size,
			                     MT_PATH(path), n_path, want),
			    0);
		}
		st_reader_end(r);
		st_reader_free(r);
		step = step * 3 % 257 + 1; /* 1, 4, 13, 40, 121, 107, ... */
	}
	/* An aborted batch: the store keeps its tree; the edge, reloaded, too. */
	{
		static uint8_t more[N + 300][MT_HASH_LEN];

		memcpy(more, leaves, sizeof leaves);
		for (uint64_t i = N; i < N + 300; i++) {
			uint8_t b[9] = {1};

			memcpy(b + 1, &i, 8);
			mt_leaf_hash(more[i], b, sizeof b);
		}
		batch(st, e, more, N, N + 300, false);
		assert_int_equal(edge_size(e), N + 300);
		assert_int_equal(edge_load(e, st, &loaded, NULL), 0);
		assert_int_equal(loaded, N);
		naive_root(leaves, N, want);
		edge_root(e, got);
		assert_memory_equal(got, want, MT_HASH_LEN);
		/* ... and appending again from there is right. */
		batch(st, e, more, N, N + 300, true);
		naive_root(more, N + 300, want);
		edge_root(e, got);
		assert_memory_equal(got, want, MT_HASH_LEN);
	}
	edge_free(e);
	edge_free(NULL);
	st_close(st);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edge_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
