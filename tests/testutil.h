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
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "merkle.h"

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

/* The permission bits (07777) of what path names, following symlinks; fails the
 * test if it cannot be stat'ed. */
mode_t tu_mode(const char *path);

/* An in-memory store of stored nodes, filled by mt_range_append through
 * tu_ms_emit (ctx: the store) and read back through tu_ms_read, the way
 * the server's store and a client's tiles are. */
struct tu_memstore {
	uint8_t (*h[64])[MT_HASH_LEN];
	uint64_t n[64], cap[64];
};

/* mt_emit_fn: append the node (nodes of one height arrive in order). */
int tu_ms_emit(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN]);

/* mt_read_fn: the stored nodes; -1 for a node not stored. */
int tu_ms_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN]);

/* Free the store's memory and empty it. */
void tu_ms_free(struct tu_memstore *ms);

/* ---- A naive RFC 6962 model, for differential tests ---- */

/* MTH, PATH and PROOF written straight from RFC 6962's recursive
 * definitions (SHA-256 spelled out, not merkle/'s planner), memoised,
 * over leaf hashes leaves[0..max) (borrowed until tu_naive_teardown).
 * One model at a time; setup asserts its allocation. */
void tu_naive_setup(const uint8_t (*leaves)[MT_HASH_LEN], uint64_t max);
void tu_naive_teardown(void);

/* MTH(D[a:b]), 0 <= a <= b <= max. */
void tu_naive_mth(uint64_t a, uint64_t b, uint8_t out[MT_HASH_LEN]);

/* PATH(m, D[0:size]) into out (room for MT_PROOF_MAX), *n its length. */
void tu_naive_path(uint64_t m, uint64_t size, uint8_t (*out)[MT_HASH_LEN], size_t *n);

/* PROOF(m, D[0:size]) into out (room for MT_PROOF_MAX), *n its length. */
void tu_naive_proof(uint64_t m, uint64_t size, uint8_t (*out)[MT_HASH_LEN], size_t *n);

#endif
