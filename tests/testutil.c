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
