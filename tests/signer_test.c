/*
 * signer_test.c: the log key (server/signer.c): created on first start
 * with a 0600 private file and its public key beside it, loaded again
 * unchanged, refused when group or others can read it or when its name is
 * not the origin, and checkpoints that verify under its key, are the same
 * bytes every time, and fail for any other size, root or key.
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
	assert_int_not_equal(signer_open(key, pub, ORIGIN, 0, &s, why), 0);
	assert_null(s);
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, &s, why), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	signer_verifier(s, &v);
	assert_int_equal(key_verifier_load(pub, &saved, why), 0);
	assert_memory_equal(&saved, &v, sizeof v);
	assert_string_equal(v.name, ORIGIN);
	/* Loaded again: the same key, whether or not create is set. */
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, &t, why), 0);
	signer_verifier(t, &w);
	note_verifier_format(&v, a, sizeof a);
	note_verifier_format(&w, b, sizeof b);
	assert_string_equal(a, b);
	signer_close(t);
	/* Another origin is refused. */
	assert_int_equal(signer_open(key, pub, "other.org/log", 0, &t, why), CL_EORIGIN);
	assert_null(t);
	assert_non_null(strstr(why, ORIGIN));
	/* Readable by group or others: refused. */
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(signer_open(key, pub, ORIGIN, 0, &t, why), CL_EKEYPERM);
	assert_int_equal(chmod(key, 0604), 0);
	assert_int_equal(signer_open(key, pub, ORIGIN, 0, &t, why), CL_EKEYPERM);
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
	assert_int_equal(signer_open(key, pub, ORIGIN, 1, &s, why), 0);
	signer_verifier(s, &v);
	memset(root, 0xab, sizeof root);
	assert_int_equal(signer_checkpoint(s, 42, root, n1, sizeof n1, &l1), 0);
	assert_int_equal(sth_open(n1, l1, &v, ORIGIN, &c, why), 0);
	assert_int_equal(c.size, 42);
	assert_memory_equal(c.root, root, sizeof root);
	/* Deterministic: a restart re-signs the same bytes. */
	assert_int_equal(signer_checkpoint(s, 42, root, n2, sizeof n2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(n1, n2, l1);
	/* Another size or root is another note. */
	assert_int_equal(signer_checkpoint(s, 43, root, n2, sizeof n2, &l2), 0);
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
	assert_int_not_equal(signer_checkpoint(s, 42, root, n2, 16, &l2), 0);
	signer_close(s);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_and_load),
	    cmocka_unit_test(test_checkpoints),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
