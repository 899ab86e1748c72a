/*
 * pcache_test.c: proofs through the per-thread edge cache (server/pcache.c)
 * against a naive RFC 6962 recomputation from all leaves, on a real store
 * that grows batch by batch the way the committer grows it: every index
 * near each right-edge boundary of each new size, random indices and old
 * sizes, consistency proofs, and the cache's slots moving on as new sizes
 * come.  One pcache lives through the whole growth, as a thread's does.
 * Then a snapshot older than what the cache holds (it must not answer for
 * more than its snapshot), and a tree past level 2 against a store-only
 * proof and a root kept apart, and the copy out of memory (realloc is
 * wrapped).  pcache_narrow_test runs the same with PC_TOP_WIDTH 4, so that
 * heights leave the upper-node copy as it grows.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "harness.h"
#include "merkle.h"
#include "pcache.h"
#include "store.h"
#include "testutil.h"

#define N 1300 /* past 5 full level-0 tiles and into level 1 */

typedef uint8_t hash_t[MT_HASH_LEN];

/* realloc fails while realloc_off is set (linked with --wrap=realloc). */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static bool realloc_off;

void *
__wrap_realloc(void *p, size_t n)
{
	return realloc_off ? NULL : __real_realloc(p, n);
}

static hash_t leaves[N];

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Each test's world: a new store, its edge, a reader and a proof cache. */
struct fx {
	char dir[512];
	struct st *st;
	struct edge *e;
	struct st_reader *r;
	struct pcache *pc;
};

static void
fx_open(struct fx *f, size_t map_bytes)
{
	char why[256];

	f->pc = calloc(1, sizeof *f->pc);
	assert_non_null(f->pc);
	h_tmpdir(f->dir, sizeof f->dir);
	if (st_open(f->dir, map_bytes, &f->st, why) != 0)
		fail_msg("st_open: %s", why);
	assert_int_equal(st_init(f->st, "example.org/log", "example.org/log+00000000+AQ"), 0);
	assert_int_equal(edge_new(&f->e), 0);
	assert_int_equal(st_reader_new(f->st, &f->r), 0);
}

static void
fx_close(struct fx *f)
{
	st_reader_free(f->r);
	edge_free(f->e);
	st_close(f->st);
	h_rmrf(f->dir);
	pc_free(f->pc);
	free(f->pc);
}

/* leaves[] and the naive model over them (tu_naive_teardown after). */
static void
leaves_init(void)
{
	for (uint64_t i = 0; i < N; i++) {
		uint8_t b[8];

		memcpy(b, &i, sizeof b);
		mt_leaf_hash(leaves[i], b, sizeof b);
	}
	tu_naive_setup((const uint8_t(*)[MT_HASH_LEN])leaves, N);
}

/* Append leaves[from..to) in one committed batch. */
static void
grow(struct st *st, struct edge *e, uint64_t from, uint64_t to)
{
	struct st_batch *b;

	assert_int_equal(st_batch_begin(st, &b), 0);
	for (uint64_t i = from; i < to; i++) {
		uint8_t body[8];

		memcpy(body, &i, sizeof body);
		assert_int_equal(st_batch_entry_put(b, i, body, sizeof body), 0);
		assert_int_equal(edge_append(e, b, leaves[i]), 0);
	}
	assert_int_equal(edge_flush(e, b), 0);
	assert_int_equal(st_batch_size_put(b, to), 0);
	assert_int_equal(st_batch_commit(b), 0);
	edge_committed(e);
}

/* pc_inclusion(index, size) equals the naive path and mt_inclusion_prove's. */
static void
check_inclusion(struct pcache *pc, struct st_reader *r, uint64_t index, uint64_t size)
{
	hash_t got[MT_PROOF_MAX], plain[MT_PROOF_MAX], want[MT_PROOF_MAX], root;
	size_t n, np, nw;

	tu_naive_path(index, size, want, &nw);
	assert_int_equal(pc_inclusion(pc, r, index, size, got, &n), 0);
	assert_int_equal(mt_inclusion_prove(index, size, st_node_read, r, plain, &np), 0);
	assert_int_equal(n, nw);
	assert_int_equal(np, nw);
	if (n > 0) {
		assert_memory_equal(got, want, n * MT_HASH_LEN);
		assert_memory_equal(plain, want, n * MT_HASH_LEN);
	}
	tu_naive_mth(0, size, root);
	assert_int_equal(mt_inclusion_verify(leaves[index], index, size, MT_PATH(got), n, root), 0);
}

static void
check_consistency(struct pcache *pc, struct st_reader *r, uint64_t m, uint64_t size)
{
	hash_t got[MT_PROOF_MAX], want[MT_PROOF_MAX];
	size_t n, nw;

	tu_naive_proof(m, size, want, &nw);
	assert_int_equal(pc_consistency(pc, r, m, size, got, &n), 0);
	assert_int_equal(n, nw);
	if (n > 0)
		assert_memory_equal(got, want, n * MT_HASH_LEN);
}

static void
test_pcache_differential(void **state)
{
	struct fx f = {0};
	uint64_t size = 0, seed = 0x9e3779b97f4a7c15ULL;
	unsigned step = 1;

	(void)state;
	leaves_init();
	fx_open(&f, (size_t)64 << 20);
	while (size < N) {
		uint64_t to = size + step < N ? size + step : N, misses, want;

		/* A size the snapshot does not cover yet fails, and is not kept
		 * (a one-leaf tree's proof is empty and reads nothing). */
		if (to >= 2) {
			hash_t path[MT_PROOF_MAX];
			size_t n;

			assert_int_equal(st_reader_begin(f.r), 0);
			assert_int_equal(pc_inclusion(f.pc, f.r, 0, to, path, &n), ST_ENOTFOUND);
			assert_int_equal(n, 0);
			st_reader_end(f.r);
		}
		grow(f.st, f.e, size, to);
		size = to;
		assert_int_equal(st_reader_begin(f.r), 0);
		/* The new size: its edge is loaded when a proof first needs a
		 * fold of it, then reused.  The last leaf's path is stored
		 * nodes only; the first leaf's ends in the fold right of the
		 * largest power of two below the size, unless the size is one. */
		misses = f.pc->misses;
		check_inclusion(f.pc, f.r, size - 1, size);
		assert_int_equal(f.pc->misses, misses);
		check_inclusion(f.pc, f.r, 0, size);
		want = misses + (__builtin_popcountll(size) >= 2);
		assert_int_equal(f.pc->misses, want);
		/* Every index next to each right-edge boundary of this size
		 * (where the edge's folds start), the first and the last. */
		for (unsigned h = 0; h < 64; h++) {
			uint64_t x = size & ~(((uint64_t)2 << h) - 1);

			if ((size >> h & 1) == 0)
				continue;
			for (uint64_t d = 0; d < 3; d++) {
				if (x + d < size)
					check_inclusion(f.pc, f.r, x + d, size);
				if (x >= d + 1)
					check_inclusion(f.pc, f.r, x - d - 1, size);
			}
			check_consistency(f.pc, f.r, x, size);
			if (x + 1 < size)
				check_consistency(f.pc, f.r, x + 1, size);
		}
		check_inclusion(f.pc, f.r, 0, size);
		/* Every index of small trees, random ones of larger ones. */
		for (uint64_t k = 0; k < (size <= 300 ? size : 40); k++)
			check_inclusion(f.pc, f.r, size <= 300 ? k : rng(&seed) % size, size);
		for (uint64_t k = 0; k < 20; k++)
			check_consistency(f.pc, f.r, rng(&seed) % (size + 1), size);
		/* Loaded once at most (consistency proofs take it for a power
		 * of two too). */
		assert_true(f.pc->misses >= want && f.pc->misses <= misses + 1);
		/* Older sizes (a client's own size=): each loads its edge once
		 * and leaves the current one cached while slots remain. */
		for (int k = 0; k < 3; k++) {
			uint64_t old = 1 + rng(&seed) % size;

			check_inclusion(f.pc, f.r, rng(&seed) % old, old);
			check_consistency(f.pc, f.r, rng(&seed) % (old + 1), old);
		}
		check_inclusion(f.pc, f.r, rng(&seed) % size, size);
		st_reader_end(f.r);
		step = step * 3 % 263 + 1;
	}
	assert_true(f.pc->hits > f.pc->misses);
	assert_true(f.pc->tile_loads > 0);
	fx_close(&f);
	pc_free(NULL);
	tu_naive_teardown();
}

/* A batch's proofs: consecutive leaves of one tile at one size reuse the
 * hashes above the tile, and every proof is still the naive one, whatever
 * the order, across tile boundaries, the partial last tile, sizes taken in
 * turn (each replaces the other's reuse). */
static void
test_pcache_batch_proofs(void **state)
{
	struct fx f = {0};
	uint64_t sizes[] = {256, 257, 511, 512, 1024, 1100, N}, hits;

	(void)state;
	leaves_init();
	fx_open(&f, (size_t)64 << 20);
	grow(f.st, f.e, 0, N);
	assert_int_equal(st_reader_begin(f.r), 0);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint64_t size = sizes[s];

		hits = f.pc->upper_hits;
		for (uint64_t i = 0; i < size; i++)
			check_inclusion(f.pc, f.r, i, size);
		/* All but the first of each complete tile. */
		assert_int_equal(f.pc->upper_hits - hits, (size >> 8) * 255);
		for (uint64_t i = size; i-- > 0;)
			check_inclusion(f.pc, f.r, i, size);
		/* Two sizes in turn, and leaves in two tiles in turn. */
		for (uint64_t i = 0; i + 300 < size; i += 7) {
			check_inclusion(f.pc, f.r, i, size);
			check_inclusion(f.pc, f.r, i, size - 1);
			check_inclusion(f.pc, f.r, i + 300, size);
		}
	}
	/* A size beyond the snapshot: refused, though its tile's neighbour
	 * was just proved at the snapshot's size. */
	{
		hash_t path[MT_PROOF_MAX];
		size_t n;

		check_inclusion(f.pc, f.r, 3, N);
		assert_int_equal(pc_inclusion(f.pc, f.r, 4, N + 1, path, &n), ST_ENOTFOUND);
		assert_int_equal(n, 0);
	}
	st_reader_end(f.r);
	fx_close(&f);
	tu_naive_teardown();
}

/* A snapshot older than what the cache has seen: sizes beyond it fail,
 * sizes within it still answer right, from a cache filled by a newer one. */
static void
test_pcache_old_snapshot(void **state)
{
	struct fx f = {0};
	struct st_reader *old;
	hash_t path[MT_PROOF_MAX];
	size_t n = 1;
	uint64_t seed = 0x2545f4914f6cdd1dULL;

	(void)state;
	leaves_init();
	fx_open(&f, (size_t)64 << 20);
	assert_int_equal(st_reader_new(f.st, &old), 0);
	grow(f.st, f.e, 0, 600);
	assert_int_equal(st_reader_begin(old), 0);
	grow(f.st, f.e, 600, N);
	assert_int_equal(st_reader_begin(f.r), 0);
	for (uint64_t k = 0; k < 200; k++)
		check_inclusion(f.pc, f.r, rng(&seed) % N, N);
	check_consistency(f.pc, f.r, 600, N);
	assert_int_equal(pc_inclusion(f.pc, old, 0, N, path, &n), ST_ENOTFOUND);
	assert_int_equal(n, 0);
	n = 1;
	assert_int_equal(pc_inclusion(f.pc, old, 599, 601, path, &n), ST_ENOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(pc_consistency(f.pc, old, 600, N, path, &n), ST_ENOTFOUND);
	assert_int_equal(pc_inclusion(f.pc, old, 600, 600, path, &n), MT_EINVAL);
	for (uint64_t k = 0; k < 600; k += 7)
		check_inclusion(f.pc, old, k, 600);
	for (uint64_t k = 0; k <= 600; k += 37)
		check_consistency(f.pc, old, k, 600);
	st_reader_end(old);
	st_reader_end(f.r);
	st_reader_free(old);
	fx_close(&f);
	tu_naive_teardown();
}

/* No memory for the copy: every answer still right, from the store, and
 * nothing kept; with memory back, the copy fills. */
static void
test_pcache_no_memory(void **state)
{
	struct fx f = {0};
	uint64_t seed = 0x5851f42d4c957f2dULL, kept = 0;

	(void)state;
	leaves_init();
	fx_open(&f, (size_t)64 << 20);
	grow(f.st, f.e, 0, N);
	assert_int_equal(st_reader_begin(f.r), 0);
	realloc_off = true;
	for (uint64_t k = 0; k < 100; k++)
		check_inclusion(f.pc, f.r, rng(&seed) % N, N);
	check_consistency(f.pc, f.r, 1024, N);
	realloc_off = false;
	assert_true(f.pc->tile_loads > 0);
	for (unsigned h = 0; h < 64 - PC_TOP_HEIGHT; h++)
		assert_int_equal(f.pc->top[h].cap, 0);
	for (uint64_t k = 0; k < 100; k++)
		check_inclusion(f.pc, f.r, rng(&seed) % N, N);
	for (unsigned h = 0; h < 64 - PC_TOP_HEIGHT; h++)
		kept += f.pc->top[h].cap;
	assert_true(kept > 0);
	st_reader_end(f.r);
	fx_close(&f);
	tu_naive_teardown();
}

#define BIG 70000 /* past the first level-2 tile (65 536 leaves) */

static hash_t big[BIG];

/* Proofs at sizes into level 2 equal the store-only ones and verify against
 * roots computed apart from the store; asked again, they load no tile. */
static void
test_pcache_level2(void **state)
{
	struct fx f = {0};
	struct mt_range range;
	uint64_t size = 0, seed = 0x9e3779b97f4a7c15ULL;
	static const uint64_t steps[] = {
	    65535, 65536, 65537, 65791, 65792, 66000, 67 * 1024 + 3, BIG - 1, BIG};

	(void)state;
	fx_open(&f, (size_t)256 << 20);
	mt_range_init(&range);
	for (uint64_t i = 0; i < BIG; i++) {
		uint8_t b[8];

		memcpy(b, &i, sizeof b);
		mt_leaf_hash(big[i], b, sizeof b);
	}
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		struct st_batch *b;
		uint64_t idx[64], loads;
		uint8_t root[MT_HASH_LEN];

		assert_int_equal(st_batch_begin(f.st, &b), 0);
		for (; size < steps[s]; size++) {
			uint8_t body[8];

			memcpy(body, &size, sizeof body);
			assert_int_equal(st_batch_entry_put(b, size, body, sizeof body), 0);
			assert_int_equal(edge_append(f.e, b, big[size]), 0);
			assert_int_equal(mt_range_append(&range, big[size], NULL, NULL), 0);
		}
		assert_int_equal(edge_flush(f.e, b), 0);
		assert_int_equal(st_batch_size_put(b, size), 0);
		assert_int_equal(st_batch_commit(b), 0);
		edge_committed(f.e);
		mt_range_root(&range, root);
		assert_int_equal(st_reader_begin(f.r), 0);
		for (size_t k = 0; k < 64; k++)
			idx[k] = k < 4 ? size - 1 - k : rng(&seed) % size;
		for (int pass = 0; pass < 2; pass++) {
			loads = f.pc->tile_loads;
			for (size_t k = 0; k < 64; k++) {
				hash_t got[MT_PROOF_MAX], plain[MT_PROOF_MAX];
				size_t n, np;

				assert_int_equal(pc_inclusion(f.pc, f.r, idx[k], size, got, &n), 0);
				assert_int_equal(
				    mt_inclusion_prove(idx[k], size, st_node_read, f.r, plain, &np),
				    0);
				assert_int_equal(n, np);
				assert_memory_equal(got, plain, n * MT_HASH_LEN);
				assert_int_equal(mt_inclusion_verify(big[idx[k]], idx[k], size,
				                     MT_PATH(got), n, root),
				    0);
				/* One flipped bit anywhere in the path fails. */
				got[k % n][k % MT_HASH_LEN] ^= 1;
				assert_int_not_equal(mt_inclusion_verify(big[idx[k]], idx[k], size,
				                         MT_PATH(got), n, root),
				    0);
			}
			if (pass == 1)
				assert_int_equal(f.pc->tile_loads, loads);
		}
		for (size_t k = 0; k < 16; k++) {
			hash_t got[MT_PROOF_MAX], plain[MT_PROOF_MAX];
			uint64_t m = rng(&seed) % (size + 1);
			size_t n, np;

			assert_int_equal(pc_consistency(f.pc, f.r, m, size, got, &n), 0);
			assert_int_equal(
			    mt_consistency_prove(m, size, st_node_read, f.r, plain, &np), 0);
			assert_int_equal(n, np);
			if (n > 0)
				assert_memory_equal(got, plain, n * MT_HASH_LEN);
		}
		st_reader_end(f.r);
	}
	/* What is kept: heights of at most PC_TOP_WIDTH complete nodes
	 * (the proofs above visited every height), the top one always. */
	for (unsigned h = PC_TOP_HEIGHT; h < 64; h++)
		assert_true(
		    f.pc->top[h - PC_TOP_HEIGHT].cap == 0 || ((uint64_t)BIG >> h) <= PC_TOP_WIDTH);
	assert_true(f.pc->top[16 - PC_TOP_HEIGHT].cap > 0);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pcache_differential),
	    cmocka_unit_test(test_pcache_batch_proofs),
	    cmocka_unit_test(test_pcache_old_snapshot),
	    cmocka_unit_test(test_pcache_no_memory),
	    cmocka_unit_test(test_pcache_level2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
