/*
 * fuzz_vcache.c: mt_inclusion_verify_cached must answer exactly as
 * mt_inclusion_verify does, whatever sequence of proofs it is given.  The
 * input picks a tree (up to 300 leaves, built here from its leaf hashes)
 * and a sequence of its proofs, each valid or mutated (a flipped bit, the
 * wrong index or leaf, truncated, extended, another leaf's path), all
 * checked through one cache; a second cache gets proofs over the input's
 * own bytes at any size up to 2^64 - 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LEAVES_MAX 300

static uint8_t leaves[LEAVES_MAX][MT_HASH_LEN];

/* MTH of leaves [lo, hi). */
static void
mth(uint64_t lo, uint64_t hi, uint8_t out[MT_HASH_LEN])
{
	uint8_t l[MT_HASH_LEN], r[MT_HASH_LEN];
	uint64_t k = 1;

	if (hi - lo == 1) {
		memcpy(out, leaves[lo], MT_HASH_LEN);
		return;
	}
	while (k * 2 < hi - lo)
		k *= 2;
	mth(lo, lo + k, l);
	mth(lo + k, hi, r);
	mt_node_hash(out, l, r);
}

/* An mt_read_fn over the leaves (ctx: the tree size). */
static int
read_nodes(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	uint64_t tree = *(const uint64_t *)ctx;

	for (size_t i = 0; i < n; i++) {
		uint64_t lo = nodes[i].index << nodes[i].height,
		         hi = lo + ((uint64_t)1 << nodes[i].height);

		if (hi > tree)
			return -1;
		mth(lo, hi, out[i]);
	}
	return 0;
}

static void
same(struct mt_vcache *c, const uint8_t *leaf, uint64_t index, const uint8_t (*path)[MT_HASH_LEN],
    size_t n)
{
	int want = mt_inclusion_verify(leaf, index, c->size, path, n, c->root);

	if (mt_inclusion_verify_cached(c, leaf, index, path, n) != want)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t root[MT_HASH_LEN], path[MT_PROOF_MAX + 1][MT_HASH_LEN],
	    other[MT_PROOF_MAX][MT_HASH_LEN];
	struct mt_vcache c;
	uint64_t tree, big;
	size_t at = 3;

	if (size < 3)
		return 0;
	tree = 1 + ((size_t)data[0] << 8 | data[1]) % LEAVES_MAX;
	for (uint64_t i = 0; i < tree; i++) {
		uint8_t b[9] = {data[2]};

		memcpy(b + 1, &i, 8);
		mt_leaf_hash(leaves[i], b, sizeof b);
	}
	mth(0, tree, root);
	mt_vcache_init(&c, tree, root);
	/* Ops of 4 bytes: index (2), kind, parameter. */
	for (; at + 4 <= size && at < 3 + 4 * 64; at += 4) {
		uint64_t i = ((size_t)data[at] << 8 | data[at + 1]) % tree, j;
		unsigned kind = data[at + 2] % 7, p = data[at + 3];
		const uint8_t *leaf = leaves[i];
		size_t n, m;

		if (mt_inclusion_prove(i, tree, read_nodes, &tree, path, &n) != 0)
			abort();
		switch (kind) {
		case 1: /* a flipped bit */
			if (n > 0)
				path[p % n][p / 8 % MT_HASH_LEN] ^= (uint8_t)(1u << (p % 8));
			break;
		case 2: /* the wrong index */
			i = (i + 1 + p) % tree;
			break;
		case 3: /* the wrong leaf */
			leaf = leaves[(i + 1 + p) % tree];
			break;
		case 4: /* truncated at either end */
			if (n > 0) {
				n--;
				if (p & 1)
					memmove(path[0], path[1], n * MT_HASH_LEN);
			}
			break;
		case 5: /* extended */
			memcpy(path[n++], root, MT_HASH_LEN);
			break;
		case 6: /* another leaf's path */
			j = (i + 1 + p) % tree;
			if (mt_inclusion_prove(j, tree, read_nodes, &tree, other, &m) != 0)
				abort();
			memcpy(path, other, m * MT_HASH_LEN);
			n = m;
			break;
		default:
			break;
		}
		same(&c, leaf, i, (const uint8_t(*)[MT_HASH_LEN])path, n);
	}
	/* The rest: raw proofs (8 bytes index, a count, hashes) against a
	 * tree size and root taken from the input. */
	if (at + 40 > size)
		return 0;
	memcpy(&big, data + at, 8);
	mt_vcache_init(&c, big, data + at + 8);
	for (at += 40; at + 9 + MT_HASH_LEN <= size;) {
		uint64_t i;
		size_t n = data[at + 8] % (MT_INCLUSION_MAX + 2);

		memcpy(&i, data + at, 8);
		at += 9;
		if (i >= big && big > 0)
			i %= big;
		memset(path, 0, sizeof path);
		for (size_t k = 0; k < n && at + MT_HASH_LEN <= size; k++, at += MT_HASH_LEN)
			memcpy(path[k], data + at, MT_HASH_LEN);
		same(&c, data + at - MT_HASH_LEN, i, (const uint8_t(*)[MT_HASH_LEN])path, n);
	}
	return 0;
}
