/*
 * testutil.c: vector loading, hex and file-mode helpers for the tests.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#ifndef CL_VECTOR_DIR
#error "CL_VECTOR_DIR must name tests/vectors"
#endif

json_t *
tu_vectors(const char *name)
{
	char path[4096];
	json_error_t err;
	json_t *j;
	const char *dir = getenv("CL_VECTOR_DIR");

	snprintf(path, sizeof path, "%s/%s", dir != NULL ? dir : CL_VECTOR_DIR, name);
	j = json_load_file(path, 0, &err);
	if (j == NULL)
		fail_msg("%s:%d: %s", path, err.line, err.text);
	return j;
}

void
tu_unhex(const char *hex, uint8_t *out, size_t len)
{
	size_t got = 0;

	assert_non_null(hex);
	assert_int_equal(strlen(hex), 2 * len);
	assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, len);
}

uint8_t *
tu_unhex_alloc(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *out = malloc(n + 1);

	assert_non_null(out);
	assert_int_equal(strlen(hex) % 2, 0);
	assert_int_equal(sodium_hex2bin(out, n + 1, hex, strlen(hex), NULL, len, NULL), 0);
	assert_int_equal(*len, n);
	return out;
}

const char *
tu_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("vector has no string \"%s\"", key);
	return json_string_value(v);
}

uint64_t
tu_u64(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		fail_msg("vector has no integer \"%s\"", key);
	return (uint64_t)json_integer_value(v);
}

int
tu_ms_emit(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	struct tu_memstore *ms = ctx;
	unsigned l = node->height;

	assert_int_equal(node->index, ms->n[l]);
	if (ms->n[l] == ms->cap[l]) {
		ms->cap[l] = ms->cap[l] ? 2 * ms->cap[l] : 64;
		ms->h[l] = realloc(ms->h[l], ms->cap[l] * sizeof ms->h[l][0]);
		assert_non_null(ms->h[l]);
	}
	memcpy(ms->h[l][ms->n[l]++], hash, MT_HASH_LEN);
	return 0;
}

int
tu_ms_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	struct tu_memstore *ms = ctx;

	for (size_t i = 0; i < n; i++) {
		if (nodes[i].height >= 64 || nodes[i].index >= ms->n[nodes[i].height])
			return -1;
		memcpy(out[i], ms->h[nodes[i].height][nodes[i].index], MT_HASH_LEN);
	}
	return 0;
}

void
tu_ms_free(struct tu_memstore *ms)
{
	for (int l = 0; l < 64; l++)
		free(ms->h[l]);
	memset(ms, 0, sizeof *ms);
}

/* ---- The naive RFC 6962 model ---- */

static const uint8_t (*naive_leaves)[MT_HASH_LEN];
static uint64_t naive_max;
static uint8_t (*naive_memo)[MT_HASH_LEN]; /* [(max + 1) * (max + 1)] */
static uint8_t *naive_have;

void
tu_naive_setup(const uint8_t (*leaves)[MT_HASH_LEN], uint64_t max)
{
	size_t slots = (size_t)(max + 1) * (max + 1);

	naive_leaves = leaves;
	naive_max = max;
	naive_memo = malloc(slots * MT_HASH_LEN);
	naive_have = calloc(slots, 1);
	assert_non_null(naive_memo);
	assert_non_null(naive_have);
}

void
tu_naive_teardown(void)
{
	free(naive_memo);
	free(naive_have);
	naive_memo = NULL;
	naive_have = NULL;
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t
naive_split(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

void
tu_naive_mth(uint64_t a, uint64_t b, uint8_t out[MT_HASH_LEN])
{
	size_t slot = (size_t)a * (naive_max + 1) + b;
	uint8_t l[MT_HASH_LEN], r[MT_HASH_LEN];

	assert_true(a <= b && b <= naive_max);
	if (naive_have[slot]) {
		memcpy(out, naive_memo[slot], MT_HASH_LEN);
		return;
	}
	if (b == a) {
		crypto_hash_sha256(out, NULL, 0);
	} else if (b - a == 1) {
		memcpy(out, naive_leaves[a], MT_HASH_LEN);
	} else {
		/* Written out in full rather than via mt_node_hash. */
		uint64_t k = naive_split(b - a);
		uint8_t buf[65];

		tu_naive_mth(a, a + k, l);
		tu_naive_mth(a + k, b, r);
		buf[0] = 1;
		memcpy(buf + 1, l, 32);
		memcpy(buf + 33, r, 32);
		crypto_hash_sha256(out, buf, sizeof buf);
	}
	memcpy(naive_memo[slot], out, MT_HASH_LEN);
	naive_have[slot] = 1;
}

/* PATH(m, D[a:b]), m relative to a. */
static void
naive_path(uint64_t m, uint64_t a, uint64_t b, uint8_t (*out)[MT_HASH_LEN], size_t *n)
{
	uint64_t k;

	if (b - a <= 1)
		return;
	k = naive_split(b - a);
	if (m < k) {
		naive_path(m, a, a + k, out, n);
		tu_naive_mth(a + k, b, out[(*n)++]);
	} else {
		naive_path(m - k, a + k, b, out, n);
		tu_naive_mth(a, a + k, out[(*n)++]);
	}
}

/* SUBPROOF(m, D[a:b], complete). */
static void
naive_subproof(
    uint64_t m, uint64_t a, uint64_t b, int complete, uint8_t (*out)[MT_HASH_LEN], size_t *n)
{
	uint64_t k;

	if (m == b - a) {
		if (!complete)
			tu_naive_mth(a, b, out[(*n)++]);
		return;
	}
	k = naive_split(b - a);
	if (m <= k) {
		naive_subproof(m, a, a + k, complete, out, n);
		tu_naive_mth(a + k, b, out[(*n)++]);
	} else {
		naive_subproof(m - k, a + k, b, 0, out, n);
		tu_naive_mth(a, a + k, out[(*n)++]);
	}
}

void
tu_naive_path(uint64_t m, uint64_t size, uint8_t (*out)[MT_HASH_LEN], size_t *n)
{
	*n = 0;
	naive_path(m, 0, size, out, n);
}

void
tu_naive_proof(uint64_t m, uint64_t size, uint8_t (*out)[MT_HASH_LEN], size_t *n)
{
	*n = 0;
	if (m > 0 && m < size)
		naive_subproof(m, 0, size, 1, out, n);
}

mode_t
tu_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}
