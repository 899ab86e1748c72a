/*
 * testutil.c: vector loading and hex helpers for the tests.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
