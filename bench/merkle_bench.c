/*
 * merkle_bench.c: micro-benchmark of the Merkle library, reported next to
 * libsodium's raw SHA-256 rate measured in the same run.
 *
 * Every Merkle operation is a known number of 65-byte SHA-256 compressions,
 * so the honest figure is the ratio of each rate to the rate those hashes
 * alone would allow.  Usage: merkle_bench [--quick] [--json FILE]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "merkle.h"

typedef uint8_t hash_t[MT_HASH_LEN];

struct memstore {
	hash_t *h[64];
	uint64_t n[64];
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
ms_emit(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	struct memstore *ms = ctx;
	unsigned l = node->height;

	if ((ms->n[l] & (ms->n[l] - 1)) == 0) {
		hash_t *p = realloc(ms->h[l], (ms->n[l] ? 2 * ms->n[l] : 1) * sizeof(hash_t));

		if (p == NULL)
			return -1;
		ms->h[l] = p;
	}
	memcpy(ms->h[l][ms->n[l]++], hash, MT_HASH_LEN);
	return 0;
}

static int
ms_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	struct memstore *ms = ctx;

	for (size_t i = 0; i < n; i++) {
		if (nodes[i].index >= ms->n[nodes[i].height])
			return -1;
		memcpy(out[i], ms->h[nodes[i].height][nodes[i].index], MT_HASH_LEN);
	}
	return 0;
}

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int
main(int argc, char **argv)
{
	int quick = 0;
	const char *json = NULL;
	uint64_t size, iters, seed = 0x9e3779b97f4a7c15ULL, sink = 0;
	struct memstore ms = {0};
	struct mt_range r;
	hash_t leaf, root, path[MT_PROOF_MAX];
	uint8_t buf[65] = {1};
	double t, sha_rate, append_rate, prove_rate, verify_rate, hashes_per_append;
	double avg_path = 0;
	size_t n;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: merkle_bench [--quick] [--json FILE]\n");
			return 2;
		}
	}
	if (sodium_init() < 0)
		return 1;
	size = quick ? (1u << 16) : (1u << 22);
	iters = quick ? 50000 : 1000000;

	/* The limit: 65-byte SHA-256, the cost of one node hash. */
	t = now();
	for (uint64_t i = 0; i < iters * 4; i++) {
		crypto_hash_sha256(leaf, buf, sizeof buf);
		buf[1] = leaf[0];
	}
	sha_rate = (double)(iters * 4) / (now() - t);

	/* Root updates: append a leaf, store its nodes, compute the root. */
	mt_range_init(&r);
	memset(leaf, 7, sizeof leaf);
	/* Exact hash count: one per trailing 1 bit of the old size (parents
	 * completed), plus popcount(new size) - 1 to fold the root. */
	hashes_per_append = 0;
	for (uint64_t i = 0; i < size; i++)
		hashes_per_append += __builtin_ctzll(~i) + __builtin_popcountll(i + 1) - 1;
	hashes_per_append /= (double)size;
	t = now();
	for (uint64_t i = 0; i < size; i++) {
		leaf[0] = (uint8_t)i;
		if (mt_range_append(&r, leaf, ms_emit, &ms) != 0)
			return 1;
		mt_range_root(&r, root);
		sink += root[0];
	}
	append_rate = (double)size / (now() - t);

	t = now();
	for (uint64_t i = 0; i < iters; i++) {
		if (mt_inclusion_prove(rng(&seed) % size, size, ms_read, &ms, path, &n) != 0)
			return 1;
		avg_path += (double)n;
		sink += path[0][0];
	}
	prove_rate = (double)iters / (now() - t);
	avg_path /= (double)iters;

	{
		uint64_t idx = rng(&seed) % size;

		if (mt_inclusion_prove(idx, size, ms_read, &ms, path, &n) != 0)
			return 1;
		memcpy(leaf, ms.h[0][idx], sizeof leaf);
		mt_range_root(&r, root);
		t = now();
		for (uint64_t i = 0; i < iters; i++) {
			if (mt_inclusion_verify(leaf, idx, size, MT_PATH(path), n, root) != 0)
				return 1;
		}
		verify_rate = (double)iters / (now() - t);
	}

	printf("merkle micro-benchmark, tree of %llu leaves%s\n", (unsigned long long)size,
	    quick ? " (quick)" : "");
	printf("%-28s %14s %22s\n", "operation", "ops/s", "ratio to SHA-256 bound");
	printf("%-28s %14.0f %22s\n", "sha256 (65 B, the limit)", sha_rate, "1.00");
	printf("%-28s %14.0f %22.2f\n", "root update (append+root)", append_rate,
	    append_rate / (sha_rate / hashes_per_append));
	printf(
	    "%-28s %14.0f %22s\n", "inclusion proof generated", prove_rate, "(no hashing: reads)");
	printf("%-28s %14.0f %22.2f\n", "inclusion proof verified", verify_rate,
	    verify_rate / (sha_rate / avg_path));
	printf("(%.1f hashes per root update, %.1f per verified path; checksum %llu)\n",
	    hashes_per_append, avg_path, (unsigned long long)sink);
	if (json != NULL) {
		FILE *f = fopen(json, "w");

		if (f == NULL) {
			perror(json);
			return 1;
		}
		fprintf(f,
		    "{\"tree_size\":%llu,\"sha256_per_s\":%.0f,\"root_updates_per_s\":%.0f,"
		    "\"root_update_ratio\":%.3f,\"proofs_generated_per_s\":%.0f,"
		    "\"proofs_verified_per_s\":%.0f,\"proof_verify_ratio\":%.3f,\"avg_path\":%.2f}"
		    "\n",
		    (unsigned long long)size, sha_rate, append_rate,
		    append_rate / (sha_rate / hashes_per_append), prove_rate, verify_rate,
		    verify_rate / (sha_rate / avg_path), avg_path);
		fclose(f);
	}
	for (int l = 0; l < 64; l++)
		free(ms.h[l]);
	return 0;
}
