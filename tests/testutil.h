/*
 * testutil.h: helpers shared by the cmocka tests.  Vectors are read from the
 * JSON files in tests/vectors at run time (CL_VECTOR_DIR), never copied into
 * C by hand.
 */
#ifndef CL_TESTUTIL_H
#define CL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

/* Load tests/vectors/<name>; fails the test if it cannot be read. Caller
 * json_decref()s the result. */
json_t *tu_vectors(const char *name);

/* Decode exactly len bytes of lowercase hex into out; fails the test on any
 * other input. */
void tu_unhex(const char *hex, uint8_t *out, size_t len);

/* Decode hex of any even length into a malloc'd buffer; *len gets its size. */
uint8_t *tu_unhex_alloc(const char *hex, size_t *len);

/* String member of a JSON object; fails the test if absent. */
const char *tu_str(const json_t *obj, const char *key);

/* Integer member of a JSON object; fails the test if absent. */
uint64_t tu_u64(const json_t *obj, const char *key);

#endif
