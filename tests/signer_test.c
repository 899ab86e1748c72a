/*
 * signer_test.c: the log key (server/signer.c): created on first start
 * with a 0600 private file and its public key beside it, loaded again
 * unchanged, refused when group or others can read it or when its name is
 * not the origin, and checkpoints that verify under its key, are the same
 * bytes every time, and fail for any other size, root or key.  The signer
 * runs in a process of its own: it signs only trees that extend the last
 * one it signed, and signs exactly what an in-process sth_sign with the
 * same key gives.  A lying reader stands for a compromised parent: its
 * consistency proofs are wrong, and the signer process, not the caller,
 * must refuse.
 */
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

#define ORIGIN "example.org/log"

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

static void
test_create_and_load(void **state)
{
	char dir[512], key[600], pub[600], why[CL_WHY_MAX], a[NOTE_VKEY_MAX], b[NOTE_VKEY_MAX];
	struct signer *s, *t;
	struct note_verifier v, w, saved;
	struct stat st;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(key, sizeof key, "%s/log.key", dir);
	snprintf(pub, sizeof pub, "%s/log.pub", dir);
	/* Without create, a missing key is an error. */
	assert_int_not_equal(signer_open(key, pub, ORIGIN, 0, "", &s, why), 0);
	assert_null(s);
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, "", &s, why), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	signer_verifier(s, &v);
	assert_int_equal(key_verifier_load(pub, &saved, why), 0);
	assert_memory_equal(&saved, &v, sizeof v);
	assert_string_equal(v.name, ORIGIN);
	/* Loaded again: the same key, whether or not create is set. */
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, "", &t, why), 0);
	signer_verifier(t, &w);
	note_verifier_format(&v, a, sizeof a);
	note_verifier_format(&w, b, sizeof b);
	assert_string_equal(a, b);
	signer_close(t);
	/* Another origin is refused. */
	assert_int_equal(signer_open(key, pub, "other.org/log", 0, "", &t, why), CL_EORIGIN);
	assert_null(t);
	assert_non_null(strstr(why, ORIGIN));
	/* Readable by group or others: refused. */
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(signer_open(key, pub, ORIGIN, 0, "", &t, why), CL_EKEYPERM);
	assert_int_equal(chmod(key, 0604), 0);
	assert_int_equal(signer_open(key, pub, ORIGIN, 0, "", &t, why), CL_EKEYPERM);
	assert_int_equal(chmod(key, 0600), 0);
	signer_close(s);
	signer_close(NULL);
	h_rmrf(dir);
}

static void
test_checkpoints(void **state)
{
	char dir[512], key[600], pub[600], why[CL_WHY_MAX];
	struct signer *s;
	struct note_verifier v, other;
	struct note_signer o;
	uint8_t root[MT_HASH_LEN], n1[STH_NOTE_MAX], n2[STH_NOTE_MAX];
	size_t l1, l2;
	struct sth c;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(key, sizeof key, "%s/log.key", dir);
	snprintf(pub, sizeof pub, "%s/log.pub", dir);
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, "", &s, why), 0);
	signer_verifier(s, &v);
	memset(root, 0xab, sizeof root);
	assert_int_equal(signer_checkpoint(s, 42, root, NULL, NULL, n1, sizeof n1, &l1), 0);
	assert_int_equal(sth_open(n1, l1, &v, ORIGIN, &c, why), 0);
	assert_int_equal(c.size, 42);
	assert_memory_equal(c.root, root, sizeof root);
	/* Deterministic: a restart re-signs the same bytes. */
	assert_int_equal(signer_checkpoint(s, 42, root, NULL, NULL, n2, sizeof n2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(n1, n2, l1);
	/* Another size is another note (a new signer process takes any tree as
	 * its first: test_extend_only has the rule for what follows). */
	signer_close(s);
	assert_int_equal(signer_open(key, pub, ORIGIN, 0, "", &s, why), 0);
	assert_int_equal(signer_checkpoint(s, 43, root, NULL, NULL, n2, sizeof n2, &l2), 0);
	assert_false(l1 == l2 && memcmp(n1, n2, l1) == 0);
	/* Another key does not open it; a flipped byte does not verify. */
	assert_int_equal(note_signer_generate(ORIGIN, &o, NULL), 0);
	note_signer_verifier(&o, &other);
	note_signer_wipe(&o);
	assert_int_not_equal(sth_open(n1, l1, &other, ORIGIN, &c, why), 0);
	for (size_t i = 0; i < l1; i++) {
		n1[i] ^= 0x01;
		if (sth_open(n1, l1, &v, ORIGIN, &c, why) == 0)
			fail_msg("checkpoint with byte %zu flipped verifies", i);
		n1[i] ^= 0x01;
	}
	/* Too small a buffer is an error, not a short note. */
	assert_int_equal(signer_checkpoint(s, 43, root, NULL, NULL, n2, 16, &l2), CL_ETOOBIG);
	signer_close(s);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_and_load),
	    cmocka_unit_test(test_checkpoints),
	    cmocka_unit_test(test_extend_only),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
