/*
 * signer_test.c: the signer process (server/signer.c) signs only trees
 * that extend the last one it signed, and signs exactly what an in-process
 * sth_sign with the same key gives.  A lying reader stands for a
 * compromised parent: its consistency proofs are wrong, and the signer
 * process, not the caller, must refuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cl.h"
#include "harness.h"
#include "key.h"
#include "signer.h"
#include "sth.h"
#include "testutil.h"

#define ORIGIN "example.com/signer-test"

struct tree {
	struct tu_memstore ms;
	struct mt_range r;
};

static void
tree_grow(struct tree *t, uint64_t size)
{
	while (t->r.size < size) {
		uint8_t leaf[MT_HASH_LEN];
		uint64_t i = t->r.size;

		mt_leaf_hash(leaf, (const uint8_t *)&i, sizeof i);
		assert_int_equal(mt_range_append(&t->r, leaf, tu_ms_emit, &t->ms), 0);
	}
}

/* mt_read_fn that flips a bit of every node: the proofs it yields are wrong. */
static int
lying_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	int rc = tu_ms_read(ctx, nodes, n, out);

	for (size_t i = 0; rc == 0 && i < n; i++)
		out[i][0] ^= 1;
	return rc;
}

/* The checkpoint bytes for (size, root) signed in this process. */
static size_t
direct_sign(
    const struct note_signer *key, uint64_t size, const uint8_t root[MT_HASH_LEN], uint8_t *out)
{
	struct sth c;
	size_t len;

	memset(&c, 0, sizeof c);
	strcpy(c.origin, ORIGIN);
	c.size = size;
	memcpy(c.root, root, MT_HASH_LEN);
	assert_int_equal(sth_sign(&c, key, out, STH_NOTE_MAX, &len, NULL), 0);
	return len;
}

static void
test_extend_only(void **state)
{
	char dir[512], why[CL_WHY_MAX];
	struct signer *sg = NULL;
	struct note_signer key;
	struct note_verifier v, kv;
	struct tree t;
	uint8_t root[MT_HASH_LEN], other[MT_HASH_LEN], note[STH_NOTE_MAX], want[STH_NOTE_MAX];
	size_t len, wlen;

	(void)state;
	memset(&t, 0, sizeof t);
	mt_range_init(&t.r);
	h_tmpdir(dir, sizeof dir);
	assert_int_equal(
	    signer_open(h_path(dir, "log.key"), h_path(dir, "log.pub"), ORIGIN, 1, "", &sg, why),
	    0);
	assert_int_equal(key_signer_load(h_path(dir, "log.key"), &key, why), 0);
	signer_verifier(sg, &v);
	note_signer_verifier(&key, &kv);
	assert_memory_equal(v.pub, kv.pub, 32);
	assert_int_equal(v.id, kv.id);

	/* The baseline: a tree of 5. */
	tree_grow(&t, 5);
	mt_range_root(&t.r, root);
	assert_int_equal(
	    signer_checkpoint(sg, 5, root, tu_ms_read, &t.ms, note, sizeof note, &len), 0);
	wlen = direct_sign(&key, 5, root, want);
	assert_int_equal(len, wlen);
	assert_memory_equal(note, want, len);

	/* The same tree again: the same bytes. */
	assert_int_equal(signer_checkpoint(sg, 5, root, NULL, NULL, note, sizeof note, &len), 0);
	assert_memory_equal(note, want, len);

	/* Another root at the same size is a fork. */
	memcpy(other, root, sizeof other);
	other[7] ^= 0x20;
	assert_int_equal(
	    signer_checkpoint(sg, 5, other, NULL, NULL, note, sizeof note, &len), MT_EBADPROOF);
	assert_int_equal(len, 0);

	/* Grow to 300 with a correct proof; a lying proof, or a made-up root
	 * with a correct-looking proof, is refused by the signer. */
	tree_grow(&t, 300);
	mt_range_root(&t.r, root);
	assert_int_equal(
	    signer_checkpoint(sg, 300, root, lying_read, &t.ms, note, sizeof note, &len),
	    MT_EBADPROOF);
	memcpy(other, root, sizeof other);
	other[0] ^= 1;
	assert_int_equal(
	    signer_checkpoint(sg, 300, other, tu_ms_read, &t.ms, note, sizeof note, &len),
	    MT_EBADPROOF);
	assert_int_equal(
	    signer_checkpoint(sg, 300, root, tu_ms_read, &t.ms, note, sizeof note, &len), 0);
	wlen = direct_sign(&key, 300, root, want);
	assert_int_equal(len, wlen);
	assert_memory_equal(note, want, len);

	/* No going back, not even to a tree it signed before. */
	tree_grow(&t, 301);
	{
		uint8_t r5[MT_HASH_LEN];

		assert_int_equal(mt_root_at(5, tu_ms_read, &t.ms, r5), 0);
		assert_int_equal(
		    signer_checkpoint(sg, 5, r5, tu_ms_read, &t.ms, note, sizeof note, &len),
		    MT_EINVAL);
	}
	/* A larger size needs a proof. */
	mt_range_root(&t.r, root);
	assert_int_equal(
	    signer_checkpoint(sg, 301, root, NULL, NULL, note, sizeof note, &len), CL_EINVAL);
	assert_int_equal(
	    signer_checkpoint(sg, 301, root, tu_ms_read, &t.ms, note, sizeof note, &len), 0);

	sodium_memzero(&key, sizeof key);
	signer_close(sg);
	tu_ms_free(&t.ms);
	h_rmrf(dir);
}

/* The signer refuses what the in-process signer refused: a key others can
 * read, a key of another name, a missing key without `create`. */
static void
test_open_refusals(void **state)
{
	char dir[512], why[CL_WHY_MAX];
	struct signer *sg = NULL;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	assert_int_not_equal(
	    signer_open(h_path(dir, "log.key"), h_path(dir, "log.pub"), ORIGIN, 0, "", &sg, why),
	    0);
	assert_null(sg);
	assert_int_equal(
	    signer_open(h_path(dir, "log.key"), h_path(dir, "log.pub"), ORIGIN, 1, "", &sg, why),
	    0);
	signer_close(sg);
	sg = NULL;
	assert_int_equal(signer_open(h_path(dir, "log.key"), h_path(dir, "log.pub"),
	                     "example.com/another", 0, "", &sg, why),
	    CL_EORIGIN);
	assert_null(sg);
	assert_non_null(strstr(why, "example.com/another"));
	assert_int_equal(chmod(h_path(dir, "log.key"), 0640), 0);
	assert_int_equal(
	    signer_open(h_path(dir, "log.key"), h_path(dir, "log.pub"), ORIGIN, 0, "", &sg, why),
	    CL_EKEYPERM);
	assert_null(sg);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_extend_only),
	    cmocka_unit_test(test_open_refusals),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
