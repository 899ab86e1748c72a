/*
 * merkle_test.c: the Merkle library against the published vectors, against a
 * naive recursive implementation of RFC 6962 for every size up to 1024, and
 * against mutated proofs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"
#include "testutil.h"
#include "tile.h"

typedef uint8_t hash_t[MT_HASH_LEN];

/* ---- An in-memory store of stored nodes, filled by mt_range_append ---- */

/* Build a tree of n leaves (leaf hashes given) into ms, returning the range. */
static void
ms_build(struct tu_memstore *ms, struct mt_range *r, hash_t *leaves, uint64_t n)
{
	mt_range_init(r);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(mt_range_append(r, leaves[i], tu_ms_emit, ms), 0);
}

/* ---- The naive RFC 6962 reference (testutil.h) over these leaves ---- */

#define NAIVE_MAX 1024

static hash_t *
leaves_ascii(uint64_t n)
{
	hash_t *lv = malloc(n * sizeof(hash_t));
	char buf[32];

	assert_non_null(lv);
	for (uint64_t i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)i);
		mt_leaf_hash(lv[i], (const uint8_t *)buf, (size_t)len);
	}
	return lv;
}

/* ---- Vectors ---- */

static void
test_hasher(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *hs = json_object_get(v, "hasher");
	size_t i;
	json_t *c;
	uint8_t want[32], got[32], l[64], r[64];

	(void)state;
	assert_true(json_array_size(hs) >= 4);
	json_array_foreach(hs, i, c)
	{
		const char *op = tu_str(c, "op");

		tu_unhex(tu_str(c, "hash"), want, 32);
		if (strcmp(op, "empty") == 0) {
			mt_empty_root(got);
		} else if (strcmp(op, "leaf") == 0) {
			size_t len;
			uint8_t *in = tu_unhex_alloc(tu_str(c, "input_hex"), &len);

			mt_leaf_hash(got, in, len);
			free(in);
		} else {
			/* The vector nodes have 4-byte children; hash them the RFC
			 * way by hand, and check mt_node_hash on 32-byte inputs
			 * through the tree vectors instead. */
			size_t ll, rl;
			uint8_t *a = tu_unhex_alloc(tu_str(c, "left_hex"), &ll);
			uint8_t *b = tu_unhex_alloc(tu_str(c, "right_hex"), &rl);
			crypto_hash_sha256_state st;

			assert_true(ll <= sizeof l && rl <= sizeof r);
			crypto_hash_sha256_init(&st);
			crypto_hash_sha256_update(&st, (const uint8_t *)"\x01", 1);
			crypto_hash_sha256_update(&st, a, ll);
			crypto_hash_sha256_update(&st, b, rl);
			crypto_hash_sha256_final(&st, got);
			free(a);
			free(b);
		}
		assert_memory_equal(got, want, 32);
	}
	json_decref(v);
}

static void
check_proof_vectors(json_t *incl, json_t *cons, json_t *roots, struct tu_memstore *ms)
{
	size_t i;
	json_t *c;
	hash_t path[MT_PROOF_MAX], want[MT_PROOF_MAX];
	uint8_t leaf[32], root[32], root1[32], root2[32];
	size_t n;

	json_array_foreach(incl, i, c)
	{
		uint64_t idx = tu_u64(c, "index"), size = tu_u64(c, "size");
		json_t *p = json_object_get(c, "path");
		char key[32];

		tu_unhex(tu_str(c, "leaf_hash"), leaf, 32);
		if (json_object_get(c, "root") != NULL) {
			tu_unhex(tu_str(c, "root"), root, 32);
		} else {
			snprintf(key, sizeof key, "%llu", (unsigned long long)size);
			tu_unhex(json_string_value(json_object_get(roots, key)), root, 32);
		}
		assert_true(json_array_size(p) <= MT_PROOF_MAX);
		for (size_t j = 0; j < json_array_size(p); j++)
			tu_unhex(json_string_value(json_array_get(p, j)), want[j], 32);
		assert_int_equal(mt_inclusion_prove(idx, size, tu_ms_read, ms, path, &n), 0);
		assert_int_equal(n, json_array_size(p));
		assert_int_equal(mt_inclusion_len(idx, size), n);
		if (n > 0)
			assert_memory_equal(path, want, n * 32);
		assert_int_equal(mt_inclusion_verify(leaf, idx, size, MT_PATH(want), n, root), 0);
	}
	json_array_foreach(cons, i, c)
	{
		uint64_t m = tu_u64(c, "size1"), sz = tu_u64(c, "size2");
		json_t *p = json_object_get(c, "path");
		char key[32];

		if (json_object_get(c, "root1") != NULL) {
			tu_unhex(tu_str(c, "root1"), root1, 32);
			tu_unhex(tu_str(c, "root2"), root2, 32);
		} else {
			snprintf(key, sizeof key, "%llu", (unsigned long long)m);
			tu_unhex(json_string_value(json_object_get(roots, key)), root1, 32);
			snprintf(key, sizeof key, "%llu", (unsigned long long)sz);
			tu_unhex(json_string_value(json_object_get(roots, key)), root2, 32);
		}
		for (size_t j = 0; j < json_array_size(p); j++)
			tu_unhex(json_string_value(json_array_get(p, j)), want[j], 32);
		assert_int_equal(mt_consistency_prove(m, sz, tu_ms_read, ms, path, &n), 0);
		assert_int_equal(n, json_array_size(p));
		assert_int_equal(mt_consistency_len(m, sz), n);
		if (n > 0)
			assert_memory_equal(path, want, n * 32);
		assert_int_equal(mt_consistency_verify(m, sz, root1, root2, MT_PATH(want), n), 0);
	}
}

static void
test_tree8(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *t = json_object_get(v, "tree8");
	json_t *leaves = json_object_get(t, "leaves"), *lh = json_object_get(t, "leaf_hashes");
	json_t *roots = json_object_get(t, "roots"),
	       *levels = json_object_get(t, "node_hashes_by_level");
	struct tu_memstore ms = {0};
	struct mt_range r;
	hash_t hashes[8];
	uint8_t got[32], want[32];
	char key[8];

	(void)state;
	assert_int_equal(json_array_size(leaves), 8);
	mt_range_init(&r);
	for (size_t i = 0; i <= 8; i++) {
		mt_range_root(&r, got);
		snprintf(key, sizeof key, "%zu", i);
		tu_unhex(json_string_value(json_object_get(roots, key)), want, 32);
		assert_memory_equal(got, want, 32);
		if (i == 8)
			break;

		size_t len;
		uint8_t *d = tu_unhex_alloc(json_string_value(json_array_get(leaves, i)), &len);

		mt_leaf_hash(hashes[i], d, len);
		free(d);
		tu_unhex(json_string_value(json_array_get(lh, i)), want, 32);
		assert_memory_equal(hashes[i], want, 32);
		assert_int_equal(mt_range_append(&r, hashes[i], tu_ms_emit, &ms), 0);
	}
	/* Every stored node equals the published node hashes, level by level. */
	for (size_t l = 0; l < json_array_size(levels); l++) {
		json_t *lv = json_array_get(levels, l);

		assert_int_equal(ms.n[l], json_array_size(lv));
		for (size_t j = 0; j < json_array_size(lv); j++) {
			tu_unhex(json_string_value(json_array_get(lv, j)), want, 32);
			assert_memory_equal(ms.h[l][j], want, 32);
		}
	}
	for (uint64_t s = 0; s <= 8; s++) {
		snprintf(key, sizeof key, "%llu", (unsigned long long)s);
		tu_unhex(json_string_value(json_object_get(roots, key)), want, 32);
		assert_int_equal(mt_root_at(s, tu_ms_read, &ms, got), 0);
		assert_memory_equal(got, want, 32);
	}
	check_proof_vectors(
	    json_object_get(t, "inclusion"), json_object_get(t, "consistency"), roots, &ms);
	tu_ms_free(&ms);
	json_decref(v);
}

static void
test_negative(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *neg = json_object_get(v, "negative");
	json_t *incl = json_object_get(neg, "inclusion"),
	       *cons = json_object_get(neg, "consistency");
	size_t i;
	json_t *c;
	hash_t path[MT_PROOF_MAX + 8];
	uint8_t leaf[32], root[32], r1[32], r2[32];

	(void)state;
	assert_true(json_array_size(incl) > 0);
	assert_true(json_array_size(cons) > 0);
	json_array_foreach(incl, i, c)
	{
		json_t *p = json_object_get(c, "path");
		size_t n = json_array_size(p);

		assert_true(n <= MT_PROOF_MAX + 8);
		tu_unhex(tu_str(c, "leaf_hash"), leaf, 32);
		tu_unhex(tu_str(c, "root"), root, 32);
		for (size_t j = 0; j < n; j++)
			tu_unhex(json_string_value(json_array_get(p, j)), path[j], 32);
		if (mt_inclusion_verify(
		        leaf, tu_u64(c, "index"), tu_u64(c, "size"), MT_PATH(path), n, root) == 0)
			fail_msg("negative inclusion vector %zu accepted: %s", i, tu_str(c, "why"));
	}
	json_array_foreach(cons, i, c)
	{
		json_t *p = json_object_get(c, "path");
		size_t n = json_array_size(p);

		tu_unhex(tu_str(c, "root1"), r1, 32);
		tu_unhex(tu_str(c, "root2"), r2, 32);
		for (size_t j = 0; j < n; j++)
			tu_unhex(json_string_value(json_array_get(p, j)), path[j], 32);
		if (mt_consistency_verify(
		        tu_u64(c, "size1"), tu_u64(c, "size2"), r1, r2, MT_PATH(path), n) == 0)
			fail_msg(
			    "negative consistency vector %zu accepted: %s", i, tu_str(c, "why"));
	}
	json_decref(v);
}

static void
test_large_tree(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *lt = json_object_get(v, "large_tree");
	json_t *roots = json_object_get(lt, "roots");
	uint64_t size = tu_u64(lt, "size");
	struct tu_memstore ms = {0};
	struct mt_range r;
	hash_t *lv = leaves_ascii(size);
	const char *key;
	json_t *val;
	uint8_t got[32], want[32];

	(void)state;
	assert_int_equal(size, 70000);
	ms_build(&ms, &r, lv, size);
	mt_range_root(&r, got);
	tu_unhex(json_string_value(json_object_get(roots, "70000")), want, 32);
	assert_memory_equal(got, want, 32);
	json_object_foreach(roots, key, val)
	{
		tu_unhex(json_string_value(val), want, 32);
		assert_int_equal(mt_root_at(strtoull(key, NULL, 10), tu_ms_read, &ms, got), 0);
		assert_memory_equal(got, want, 32);
	}
	check_proof_vectors(
	    json_object_get(lt, "inclusion"), json_object_get(lt, "consistency"), roots, &ms);

	/* A range reloaded from storage continues the same tree. */
	struct mt_range r2;
	assert_int_equal(mt_range_load(&r2, 69888, tu_ms_read, &ms), 0);
	tu_unhex(json_string_value(json_object_get(roots, "69888")), want, 32);
	mt_range_root(&r2, got);
	assert_memory_equal(got, want, 32);
	for (uint64_t i = 69888; i < size; i++)
		assert_int_equal(mt_range_append(&r2, lv[i], NULL, NULL), 0);
	assert_int_equal(r2.size, r.size);
	for (unsigned h = 0; h < 64; h++) {
		if ((r.size >> h) & 1)
			assert_memory_equal(r2.hash[h], r.hash[h], 32);
	}

	free(lv);
	tu_ms_free(&ms);
	json_decref(v);
}

/* ---- Differential: every size 1..NAIVE_MAX against the naive definitions ---- */

static void
test_differential(void **state)
{
	hash_t *lv = leaves_ascii(NAIVE_MAX);
	struct tu_memstore ms = {0};
	struct mt_range r;
	hash_t roots[NAIVE_MAX + 1];
	hash_t path[MT_PROOF_MAX], want[MT_PROOF_MAX];
	uint8_t got[32];
	size_t n, nw;

	(void)state;
	tu_naive_setup((const uint8_t(*)[MT_HASH_LEN])lv, NAIVE_MAX);
	mt_range_init(&r);
	for (uint64_t size = 0; size <= NAIVE_MAX; size++) {
		mt_range_root(&r, got);
		tu_naive_mth(0, size, roots[size]);
		assert_memory_equal(got, roots[size], 32);
		if (size < NAIVE_MAX)
			assert_int_equal(mt_range_append(&r, lv[size], tu_ms_emit, &ms), 0);
	}
	for (uint64_t size = 1; size <= NAIVE_MAX; size++) {
		assert_int_equal(mt_root_at(size, tu_ms_read, &ms, got), 0);
		assert_memory_equal(got, roots[size], 32);
		for (uint64_t i = 0; i < size; i++) {
			tu_naive_path(i, size, want, &nw);
			assert_int_equal(mt_inclusion_prove(i, size, tu_ms_read, &ms, path, &n), 0);
			assert_int_equal(n, nw);
			assert_int_equal(n, mt_inclusion_len(i, size));
			if (n > 0)
				assert_memory_equal(path, want, n * 32);
			assert_int_equal(
			    mt_inclusion_verify(lv[i], i, size, MT_PATH(path), n, roots[size]), 0);
		}
		for (uint64_t m = 0; m <= size; m++) {
			tu_naive_proof(m, size, want, &nw);
			assert_int_equal(
			    mt_consistency_prove(m, size, tu_ms_read, &ms, path, &n), 0);
			assert_int_equal(n, nw);
			assert_int_equal(n, mt_consistency_len(m, size));
			if (n > 0)
				assert_memory_equal(path, want, n * 32);
			assert_int_equal(
			    mt_consistency_verify(m, size, roots[m], roots[size], MT_PATH(path), n),
			    0);
		}
	}
	/* Out-of-range arguments. */
	assert_int_equal(mt_inclusion_prove(5, 5, tu_ms_read, &ms, path, &n), MT_EINVAL);
	assert_int_equal(mt_inclusion_prove(0, 0, tu_ms_read, &ms, path, &n), MT_EINVAL);
	assert_int_equal(mt_consistency_prove(6, 5, tu_ms_read, &ms, path, &n), MT_EINVAL);
	assert_int_equal(mt_inclusion_verify(lv[0], 1, 1, MT_PATH(path), 0, roots[1]), MT_EINVAL);
	assert_int_equal(mt_inclusion_verify(lv[0], 0, 0, MT_PATH(path), 0, roots[1]), MT_EINVAL);
	assert_int_equal(
	    mt_consistency_verify(6, 5, roots[6], roots[5], MT_PATH(path), 0), MT_EINVAL);
	/* A reader error is passed back unchanged. */
	assert_int_equal(mt_inclusion_prove(0, NAIVE_MAX + 1, tu_ms_read, &ms, path, &n), -1);
	tu_naive_teardown();
	tu_ms_free(&ms);
	free(lv);
}

/* ---- Folded right edges (struct mt_edge) ---- */

/* A reader that counts the nodes it is asked for, over a memstore. */
struct counting {
	struct tu_memstore *ms;
	size_t calls, nodes;
};

static int
counting_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	struct counting *c = ctx;

	c->calls++;
	c->nodes += n;
	return tu_ms_read(c->ms, nodes, n, out);
}

/* Run plan p with the edge of size `size` and check it against the naive
 * hashes want[0..nw): same hashes, every multi-node element from the edge
 * when the edge is the plan's own tree, and one stored node read for each
 * other element. */
static void
edge_check(const struct mt_plan *p, const struct mt_edge *e, struct counting *c, bool own,
    const hash_t *want, size_t nw)
{
	hash_t got[MT_PROOF_MAX];
	size_t n, reused, multi = 0, rest;

	for (size_t i = 0; i < p->n_elems; i++)
		multi += p->elem_nodes[i] > 1;
	c->calls = c->nodes = 0;
	assert_int_equal(mt_plan_run_edge(p, e, counting_read, c, got, &n, &reused), 0);
	assert_int_equal(n, nw);
	if (n > 0)
		assert_memory_equal(got, want, n * MT_HASH_LEN);
	if (own) {
		assert_int_equal(reused, multi);
		rest = p->n_elems - multi;
		assert_int_equal(c->nodes, rest);
		assert_int_equal(c->calls, rest > 0 ? 1 : 0);
	}
}

/* Every size up to NAIVE_MAX, every index and every old size: proofs run
 * with the size's folded edge equal the naive ones, take every multi-node
 * element from the edge and read one node for each other hash; an edge of
 * another size changes nothing; a damaged fold shows in the answer. */
static void
test_edge(void **state)
{
	hash_t *lv = leaves_ascii(NAIVE_MAX);
	struct tu_memstore ms = {0};
	struct counting c = {&ms, 0, 0};
	struct mt_range r, loaded;
	struct mt_edge e, other;
	struct mt_plan p;
	hash_t want[MT_PROOF_MAX], got[MT_PROOF_MAX], root;
	size_t nw, n;

	(void)state;
	tu_naive_setup((const uint8_t(*)[MT_HASH_LEN])lv, NAIVE_MAX);
	ms_build(&ms, &r, lv, NAIVE_MAX);
	for (uint64_t size = 1; size <= NAIVE_MAX; size++) {
		assert_int_equal(mt_range_load(&loaded, size, tu_ms_read, &ms), 0);
		mt_edge_init(&e, &loaded);
		assert_int_equal(e.size, size);
		assert_int_equal(mt_range_load(&loaded, size - 1, tu_ms_read, &ms), 0);
		mt_edge_init(&other, &loaded);
		/* The root is the fold at the top bit. */
		tu_naive_mth(0, size, root);
		assert_memory_equal(e.fold[63 - __builtin_clzll(size)], root, MT_HASH_LEN);
		assert_int_equal(mt_root_plan(size, &p), 0);
		edge_check(&p, &e, &c, true, (const hash_t *)root, 1);
		for (uint64_t i = 0; i < size; i++) {
			tu_naive_path(i, size, want, &nw);
			assert_int_equal(mt_inclusion_plan(i, size, &p), 0);
			edge_check(&p, &e, &c, true, (const hash_t *)want, nw);
			edge_check(&p, &other, &c, false, (const hash_t *)want, nw);
		}
		for (uint64_t m = 1; m < size; m++) {
			tu_naive_proof(m, size, want, &nw);
			assert_int_equal(mt_consistency_plan(m, size, &p), 0);
			edge_check(&p, &e, &c, true, (const hash_t *)want, nw);
			edge_check(&p, &other, &c, false, (const hash_t *)want, nw);
		}
	}
	/* Damage the edge of 1000 (bits 3, 5, 6, 7, 8, 9): the proof of index 0,
	 * whose first-level sibling is [512, 1000), must change. */
	assert_int_equal(mt_range_load(&loaded, 1000, tu_ms_read, &ms), 0);
	mt_edge_init(&e, &loaded);
	e.fold[8][0] ^= 1;
	assert_int_equal(mt_inclusion_plan(0, 1000, &p), 0);
	assert_int_equal(mt_plan_run_edge(&p, &e, tu_ms_read, &ms, got, &n, NULL), 0);
	tu_naive_path(0, 1000, want, &nw);
	assert_int_equal(n, nw);
	assert_memory_not_equal(got[n - 1], want[n - 1], MT_HASH_LEN);
	/* A reader's error is passed back, with no hashes. */
	assert_int_equal(mt_inclusion_plan(0, NAIVE_MAX + 2, &p), 0);
	assert_int_equal(mt_range_load(&loaded, NAIVE_MAX, tu_ms_read, &ms), 0);
	mt_edge_init(&e, &loaded);
	assert_int_equal(mt_plan_run_edge(&p, &e, tu_ms_read, &ms, got, &n, NULL), -1);
	assert_int_equal(n, 0);
	tu_naive_teardown();
	tu_ms_free(&ms);
	free(lv);
}

/* A reader of any node of any tree: the hash of its coordinates.  A stand-in
 * for trees too big to build, where folds are compared with mt_plan_run. */
static int
coord_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		uint8_t b[9];

		memcpy(b, &nodes[i].index, 8);
		b[8] = nodes[i].height;
		crypto_hash_sha256(out[i], b, sizeof b);
	}
	return 0;
}

static void
edge_vs_run(const struct mt_plan *p, const struct mt_edge *e)
{
	hash_t a[MT_PROOF_MAX], b[MT_PROOF_MAX];
	size_t na, nb;

	assert_int_equal(mt_plan_run(p, coord_read, NULL, a, &na), 0);
	assert_int_equal(mt_plan_run_edge(p, e, coord_read, NULL, b, &nb, NULL), 0);
	assert_int_equal(na, nb);
	if (na > 0)
		assert_memory_equal(a, b, na * MT_HASH_LEN);
}

/* Sizes up to 2^64 - 1 (the top bit and every right-edge shape), random
 * indices and old sizes: mt_plan_run_edge equals mt_plan_run. */
static void
test_edge_large(void **state)
{
	static const uint64_t sizes[] = {2, 3, 1ULL << 32, (1ULL << 32) + 1, 10000000, 1000000,
	    (1ULL << 63) - 1, 1ULL << 63, (1ULL << 63) + 1, UINT64_MAX, UINT64_MAX - 1,
	    0xaaaaaaaaaaaaaaaaULL, 0x5555555555555555ULL};
	uint64_t seed = 0x243f6a8885a308d3ULL;
	struct mt_range r;
	struct mt_edge e;
	struct mt_plan p;

	(void)state;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] + 200; k++) {
		uint64_t size;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		size = k < sizeof sizes / sizeof sizes[0] ? sizes[k] : seed >> (seed % 63);
		if (size < 2)
			size = 2;
		assert_int_equal(mt_range_load(&r, size, coord_read, NULL), 0);
		mt_edge_init(&e, &r);
		assert_int_equal(mt_root_plan(size, &p), 0);
		edge_vs_run(&p, &e);
		for (int j = 0; j < 64; j++) {
			uint64_t i;

			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			i = j == 0 ? size - 1 : j == 1 ? 0 : seed % size;
			assert_int_equal(mt_inclusion_plan(i, size, &p), 0);
			edge_vs_run(&p, &e);
			assert_int_equal(mt_consistency_plan(i == 0 ? 1 : i, size, &p), 0);
			edge_vs_run(&p, &e);
		}
	}
}

/* ---- Mutations: every corruption of a valid proof must fail ---- */

static uint64_t rng_next(uint64_t *s);

#define MUT_ALL_BITS 32 /* sizes up to here get every bit flipped */

/* mt_inclusion_verify, and with c for this size and root, the cached
 * check too, which must give the same answer (c warm from valid proofs). */
static int
vfy(struct mt_vcache *c, const uint8_t *leaf, uint64_t i, uint64_t size, hash_t *path, size_t n,
    const uint8_t *root)
{
	int rc = mt_inclusion_verify(leaf, i, size, MT_PATH(path), n, root);

	if (c != NULL && c->size == size && memcmp(c->root, root, 32) == 0)
		assert_int_equal(mt_inclusion_verify_cached(c, leaf, i, MT_PATH(path), n), rc);
	return rc;
}

static void
mutate_inclusion(struct mt_vcache *c, hash_t *lv, hash_t *roots, uint64_t i, uint64_t size,
    hash_t *path, size_t n, uint64_t bitstep)
{
	hash_t bad[MT_PROOF_MAX + 1];
	uint8_t leaf[32], root[32];

	/* Every (sampled) single-bit flip of every hash. */
	for (size_t j = 0; j < n; j++) {
		for (uint64_t bit = j % bitstep; bit < 256; bit += bitstep) {
			memcpy(bad, path, n * 32);
			bad[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(vfy(c, lv[i], i, size, bad, n, roots[size]), MT_EBADPROOF);
		}
	}
	for (uint64_t bit = i % bitstep; bit < 256; bit += bitstep) {
		memcpy(leaf, lv[i], 32);
		leaf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(vfy(c, leaf, i, size, path, n, roots[size]), 0);
		memcpy(root, roots[size], 32);
		root[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(
		    mt_inclusion_verify(lv[i], i, size, MT_PATH(path), n, root), 0);
	}
	if (c != NULL) {
		struct mt_vcache w;

		/* A cache for another root proves nothing. */
		mt_vcache_init(&w, size, root);
		assert_int_equal(
		    mt_inclusion_verify_cached(&w, lv[i], i, MT_PATH(path), n), MT_EBADPROOF);
	}
	/* Truncated at either end, or with a hash added at either end. */
	if (n > 0) {
		assert_int_equal(vfy(c, lv[i], i, size, path, n - 1, roots[size]), MT_EPROOFLEN);
		assert_int_equal(
		    vfy(c, lv[i], i, size, path + 1, n - 1, roots[size]), MT_EPROOFLEN);
	}
	memcpy(bad, path, n * 32);
	memcpy(bad[n], roots[size], 32);
	assert_int_equal(vfy(c, lv[i], i, size, bad, n + 1, roots[size]), MT_EPROOFLEN);
	memcpy(bad[0], lv[i], 32);
	memcpy(bad + 1, path, n * 32);
	assert_int_equal(vfy(c, lv[i], i, size, bad, n + 1, roots[size]), MT_EPROOFLEN);
	/* Any other index, with this leaf or the leaf really there: all of them
	 * in small trees, a spread of 16 beyond. */
	for (uint64_t j = 1; j < size && j <= (size <= MUT_ALL_BITS ? size : 16); j++) {
		uint64_t k = size <= MUT_ALL_BITS ? (i + j) % size : (i + j * (size / 16)) % size;

		if (k == i)
			continue;
		assert_int_not_equal(vfy(c, lv[i], k, size, path, n, roots[size]), 0);
		assert_int_not_equal(vfy(c, lv[k], k, size, path, n, roots[size]), 0);
	}
	/* Any other size, against that size's real root.  (Against this
	 * size's root a path can fold identically for another size, e.g.
	 * (0, 3) and (0, 4); the size is bound by the signed checkpoint, not
	 * by the path.) */
	for (uint64_t s = i + 1; s <= NAIVE_MAX; s += (s < size + 4 ? 1 : 97)) {
		if (s == size)
			continue;
		assert_int_not_equal(
		    mt_inclusion_verify(lv[i], i, s, MT_PATH(path), n, roots[s]), 0);
	}
	/* No failure left anything behind: the proof still verifies. */
	if (c != NULL)
		assert_int_equal(mt_inclusion_verify_cached(c, lv[i], i, MT_PATH(path), n), 0);
}

/* Warm c (for size) with valid proofs: of i itself (odd i: its own nodes
 * are then met at the leaf) or of its neighbours (met higher up). */
static void
warm(struct mt_vcache *c, struct tu_memstore *ms, hash_t *lv, uint64_t i, uint64_t size)
{
	hash_t p[MT_PROOF_MAX];
	size_t n;

	for (uint64_t d = 0; d < 3; d++) {
		uint64_t k = (i & 1) ? i : i + d - 1;

		if (k >= size || ((i & 1) == 0 && k == i))
			continue;
		assert_int_equal(mt_inclusion_prove(k, size, tu_ms_read, ms, p, &n), 0);
		assert_int_equal(mt_inclusion_verify_cached(c, lv[k], k, MT_PATH(p), n), 0);
	}
}

/* The cached check over whole trees, in several orders and with repeats:
 * every valid proof passes, however much of its path was met already. */
static void
test_vcache(void **state)
{
	hash_t *lv = leaves_ascii(NAIVE_MAX);
	struct tu_memstore ms = {0};
	struct mt_range r;
	hash_t path[MT_PROOF_MAX];
	uint8_t root[32];
	uint64_t seed = 12;
	size_t n;

	(void)state;
	ms_build(&ms, &r, lv, NAIVE_MAX);
	for (uint64_t size = 1; size <= NAIVE_MAX; size += (size < 70 ? 1 : 53)) {
		for (int order = 0; order < 3; order++) {
			struct mt_vcache c;

			assert_int_equal(mt_root_at(size, tu_ms_read, &ms, root), 0);
			mt_vcache_init(&c, size, root);
			for (uint64_t j = 0; j < 2 * size; j++) {
				uint64_t i = order == 0 ? j % size
				    : order == 1        ? size - 1 - j % size
				                        : rng_next(&seed) % size;

				assert_int_equal(
				    mt_inclusion_prove(i, size, tu_ms_read, &ms, path, &n), 0);
				assert_int_equal(
				    mt_inclusion_verify_cached(&c, lv[i], i, MT_PATH(path), n), 0);
			}
		}
	}
	tu_ms_free(&ms);
	free(lv);
}

static void
mutate_consistency(
    hash_t *roots, uint64_t m, uint64_t size, hash_t *path, size_t n, uint64_t bitstep)
{
	hash_t bad[MT_PROOF_MAX + 1];
	uint8_t r[32];

	for (size_t j = 0; j < n; j++) {
		for (uint64_t bit = j % bitstep; bit < 256; bit += bitstep) {
			memcpy(bad, path, n * 32);
			bad[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(
			    mt_consistency_verify(m, size, roots[m], roots[size], MT_PATH(bad), n),
			    MT_EBADPROOF);
		}
	}
	for (uint64_t bit = m % bitstep; bit < 256; bit += bitstep) {
		memcpy(r, roots[m], 32);
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(
		    mt_consistency_verify(m, size, r, roots[size], MT_PATH(path), n), 0);
		memcpy(r, roots[size], 32);
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(
		    mt_consistency_verify(m, size, roots[m], r, MT_PATH(path), n), 0);
	}
	if (n > 0) {
		assert_int_equal(
		    mt_consistency_verify(m, size, roots[m], roots[size], MT_PATH(path), n - 1),
		    MT_EPROOFLEN);
		assert_int_equal(
		    mt_consistency_verify(m, size, roots[m], roots[size], MT_PATH(path + 1), n - 1),
		    MT_EPROOFLEN);
	}
	memcpy(bad, path, n * 32);
	memcpy(bad[n], roots[size], 32);
	assert_int_equal(mt_consistency_verify(m, size, roots[m], roots[size], MT_PATH(bad), n + 1),
	    MT_EPROOFLEN);
	/* Other old or new sizes, each against its real root. */
	for (uint64_t s = 1; s <= NAIVE_MAX; s += (s < size + 4 ? 1 : 97)) {
		if (s != m && s <= size)
			assert_int_not_equal(
			    mt_consistency_verify(s, size, roots[s], roots[size], MT_PATH(path), n),
			    0);
		if (s != size && s >= m)
			assert_int_not_equal(
			    mt_consistency_verify(m, s, roots[m], roots[s], MT_PATH(path), n), 0);
	}
}

static void
test_mutations(void **state)
{
	hash_t *lv = leaves_ascii(NAIVE_MAX);
	struct tu_memstore ms = {0};
	struct mt_range r;
	hash_t roots[NAIVE_MAX + 1];
	hash_t path[MT_PROOF_MAX];
	size_t n;

	(void)state;
	ms_build(&ms, &r, lv, NAIVE_MAX);
	for (uint64_t s = 0; s <= NAIVE_MAX; s++)
		assert_int_equal(mt_root_at(s, tu_ms_read, &ms, roots[s]), 0);
	for (uint64_t size = 1; size <= NAIVE_MAX; size += (size < MUT_ALL_BITS ? 1 : 61)) {
		/* Every bit for small trees; a rotating sample of bits beyond. */
		uint64_t bitstep = size <= MUT_ALL_BITS ? 1 : 37;

		for (uint64_t i = 0; i < size; i += (size <= MUT_ALL_BITS ? 1 : 13)) {
			struct mt_vcache c;

			assert_int_equal(mt_inclusion_prove(i, size, tu_ms_read, &ms, path, &n), 0);
			mutate_inclusion(NULL, lv, roots, i, size, path, n, bitstep);
			mt_vcache_init(&c, size, roots[size]);
			warm(&c, &ms, lv, i, size);
			mutate_inclusion(&c, lv, roots, i, size, path, n, bitstep);
		}
		for (uint64_t m = 1; m < size; m += (size <= MUT_ALL_BITS ? 1 : 13)) {
			assert_int_equal(
			    mt_consistency_prove(m, size, tu_ms_read, &ms, path, &n), 0);
			mutate_consistency(roots, m, size, path, n, bitstep);
		}
	}
	/* Edge rules outside the RFC loop. */
	assert_int_equal(mt_consistency_verify(0, 5, roots[0], roots[5], MT_PATH(path), 0), 0);
	assert_int_equal(
	    mt_consistency_verify(0, 5, roots[0], roots[5], MT_PATH(path), 1), MT_EPROOFLEN);
	assert_int_equal(
	    mt_consistency_verify(0, 5, roots[1], roots[5], MT_PATH(path), 0), MT_EBADPROOF);
	assert_int_equal(mt_consistency_verify(5, 5, roots[5], roots[5], MT_PATH(path), 0), 0);
	assert_int_equal(
	    mt_consistency_verify(5, 5, roots[5], roots[6], MT_PATH(path), 0), MT_EBADPROOF);
	assert_int_equal(
	    mt_consistency_verify(5, 5, roots[5], roots[5], MT_PATH(path), 1), MT_EPROOFLEN);
	tu_ms_free(&ms);
	free(lv);
}

/* ---- Plans stay within their bounds at any size ---- */

static uint64_t
rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
check_plan_sizes(uint64_t i, uint64_t m, uint64_t n)
{
	struct mt_plan p;

	if (i < n) {
		assert_int_equal(mt_inclusion_plan(i, n, &p), 0);
		assert_int_equal(p.n_elems, mt_inclusion_len(i, n));
		assert_true(p.n_elems <= 64);
		assert_true(p.n_nodes <= MT_NODES_MAX);
	}
	if (m <= n) {
		assert_int_equal(mt_consistency_plan(m, n, &p), 0);
		assert_int_equal(p.n_elems, mt_consistency_len(m, n));
		assert_true(p.n_elems <= MT_PROOF_MAX);
		assert_true(p.n_nodes <= MT_NODES_MAX);
	}
	assert_int_equal(mt_root_plan(n, &p), 0);
	assert_int_equal(p.n_elems, n ? 1 : 0);
	assert_int_equal(p.n_nodes, (size_t)__builtin_popcountll(n));
}

static void
test_plan_bounds(void **state)
{
	uint64_t seed = 42;
	struct mt_plan p;

	(void)state;
	for (int k = 0; k < 200000; k++) {
		uint64_t n = rng_next(&seed) >> (rng_next(&seed) % 64);
		uint64_t i = n ? rng_next(&seed) % n : 0;
		uint64_t m = n ? rng_next(&seed) % n + 1 : 0;

		check_plan_sizes(i, m, n);
	}
	/* The longest proofs there are. */
	check_plan_sizes(UINT64_MAX - 2, UINT64_MAX - 2, UINT64_MAX);
	check_plan_sizes(0, UINT64_MAX - 1, UINT64_MAX);
	check_plan_sizes(UINT64_MAX - 1, 1, UINT64_MAX);
	assert_int_equal(mt_consistency_len(UINT64_MAX - 2, UINT64_MAX), 65);
	assert_int_equal(mt_consistency_plan(UINT64_MAX - 2, UINT64_MAX, &p), 0);
	assert_int_equal(p.n_elems, 65);
	assert_int_equal(mt_inclusion_len(0, UINT64_MAX), 64);
	/* A full tree refuses another leaf. */
	struct mt_range r;
	uint8_t leaf[32] = {0};
	mt_range_init(&r);
	r.size = UINT64_MAX;
	assert_int_equal(mt_range_append(&r, leaf, NULL, NULL), MT_EFULL);
}

/* An emit callback that fails leaves the range untouched. */
static int
emit_fail_at_height1(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	(void)ctx;
	(void)hash;
	return node->height == 1 ? -7 : 0;
}

static void
test_emit_failure(void **state)
{
	struct mt_range r, before;
	uint8_t leaf[32] = {1};

	(void)state;
	mt_range_init(&r);
	assert_int_equal(mt_range_append(&r, leaf, emit_fail_at_height1, NULL), 0);
	before = r;
	assert_int_equal(mt_range_append(&r, leaf, emit_fail_at_height1, NULL), -7);
	assert_memory_equal(&r, &before, sizeof r);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hasher),
	    cmocka_unit_test(test_tree8),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_large_tree),
	    cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_edge),
	    cmocka_unit_test(test_edge_large),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_vcache),
	    cmocka_unit_test(test_plan_bounds),
	    cmocka_unit_test(test_emit_failure),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
