/*
 * evidence_test.c: fork evidence (client/evidence.h) and its public face,
 * closurelog_evidence_check (verify.h), in process.
 *
 * Two trees that share a log key: A of 9 leaves, and B whose first 5
 * leaves differ from A's.  A fork is proven by the checkpoint of B at 5,
 * the checkpoint of A at 9 and PROOF(5, 9) over A; the same with A's own
 * checkpoint at 5 proves nothing (they are consistent).  Every field the
 * judge relies on is altered in turn and must stop the proof; every
 * malformed spelling must be refused by the parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "evidence.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "testutil.h"

#define M 5
#define N 9

static struct note_signer log_key, other_key;
static char log_vkey[NOTE_VKEY_MAX], other_vkey[NOTE_VKEY_MAX];

/* A checkpoint of `size` with root `root`, signed by s, into ev's note. */
static void
sign(const struct note_signer *s, uint64_t size, const uint8_t root[MT_HASH_LEN], uint8_t *out,
    size_t *len)
{
	struct sth c = {.size = size};
	char why[CL_WHY_MAX];

	snprintf(c.origin, sizeof c.origin, "example.com/log");
	memcpy(c.root, root, MT_HASH_LEN);
	assert_int_equal(sth_sign(&c, s, out, CL_CHECKPOINT_MAX, len, why), 0);
}

/* Tree of n leaves "<tag><i>": its store, for roots and proofs. */
static void
tree(struct tu_memstore *ms, char tag, uint64_t n)
{
	struct mt_range r;

	memset(ms, 0, sizeof *ms);
	mt_range_init(&r);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t leaf[MT_HASH_LEN];
		char data[32];
		int len = snprintf(data, sizeof data, "%c%llu", tag, (unsigned long long)i);

		mt_leaf_hash(leaf, (const uint8_t *)data, (size_t)len);
		assert_int_equal(mt_range_append(&r, leaf, tu_ms_emit, ms), 0);
	}
}

/* Evidence that A at N forked from B at M (fork true) or that A at M and
 * A at N are consistent (fork false). */
static struct evidence *
make(bool fork)
{
	struct evidence *ev = calloc(1, sizeof *ev);
	struct tu_memstore a, b;
	uint8_t root[MT_HASH_LEN];

	assert_non_null(ev);
	tree(&a, 'a', N);
	tree(&b, 'b', M);
	ev->proven = true;
	snprintf(ev->reason, sizeof ev->reason, "fork: test");
	snprintf(ev->vkey, sizeof ev->vkey, "%s", log_vkey);
	snprintf(ev->url, sizeof ev->url, "http://127.0.0.1:1");
	ev->time = 1795349318;
	ev->old_size = M;
	ev->new_size = N;
	assert_int_equal(mt_root_at(M, tu_ms_read, fork ? &b : &a, root), 0);
	sign(&log_key, M, root, ev->old_note, &ev->old_len);
	assert_int_equal(mt_root_at(N, tu_ms_read, &a, root), 0);
	sign(&log_key, N, root, ev->new_note, &ev->new_len);
	ev->have_implied = true;
	assert_int_equal(mt_root_at(M, tu_ms_read, &a, ev->implied), 0);
	assert_int_equal(mt_consistency_prove(M, N, tu_ms_read, &a, ev->proof, &ev->n_proof), 0);
	tu_ms_free(&a);
	tu_ms_free(&b);
	return ev;
}

static int
setup(void **state)
{
	char why[CL_WHY_MAX];
	struct note_verifier v;

	(void)state;
	if (note_signer_generate("example.com/log", &log_key, why) != 0 ||
	    note_signer_generate("example.com/log", &other_key, why) != 0)
		return -1;
	note_signer_verifier(&log_key, &v);
	note_verifier_format(&v, log_vkey, sizeof log_vkey);
	note_signer_verifier(&other_key, &v);
	note_verifier_format(&v, other_vkey, sizeof other_vkey);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	note_signer_wipe(&log_key);
	note_signer_wipe(&other_key);
	return 0;
}

/* Encode, parse back, and check the public verdict. */
static enum closurelog_status
check(const struct evidence *ev, const char *vkey, struct closurelog_evidence_result *res)
{
	struct evidence *back = malloc(sizeof *back);
	char *text, *again;
	size_t len, again_len;
	char why[CL_WHY_MAX];
	enum closurelog_status st;

	assert_non_null(back);
	assert_int_equal(evidence_encode(ev, &text, &len), 0);
	assert_int_equal(evidence_parse((const uint8_t *)text, len, back, why), 0);
	/* Parsing gives back what was encoded (fields past a count or a
	 * length are not encoded: compare the encodings). */
	assert_int_equal(evidence_encode(back, &again, &again_len), 0);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, text, len);
	free(again);
	st = closurelog_evidence_check(vkey, (const uint8_t *)text, len, res);
	assert_int_equal(st, res->status);
	free(text);
	free(back);
	return st;
}

static void
test_judge(void **state)
{
	struct closurelog_evidence_result res;
	struct evidence *ev = make(true), *ok = make(false);
	char msg[EVIDENCE_MSG_MAX];
	struct note_verifier v;

	(void)state;
	note_signer_verifier(&log_key, &v);
	assert_int_equal(evidence_judge(ev, &v, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "fork proven: example.com/log signed size 5"));
	assert_int_equal(check(ev, log_vkey, &res), CLOSURELOG_OK);
	assert_int_equal(res.old_size, M);
	assert_int_equal(res.new_size, N);

	/* Consistent checkpoints prove nothing. */
	assert_int_equal(check(ok, log_vkey, &res), CLOSURELOG_ENOFORK);
	assert_non_null(strstr(res.message, "consistent"));
	/* Another key. */
	assert_int_equal(check(ev, other_vkey, &res), CLOSURELOG_ENOFORK);
	assert_non_null(strstr(res.message, "is about the log key"));

	/* Each alteration stops the proof. */
	{
		struct evidence *t = malloc(sizeof *t);

		assert_non_null(t);
		*t = *ev;
		t->proven = false;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		assert_non_null(strstr(res.message, "marked unproven"));
		*t = *ev;
		t->implied[3] ^= 1;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->proof[1][0] ^= 1;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->n_proof--;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->have_implied = false;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->old_size = 4;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->old_note[t->old_len - 3] ^= 1; /* the signature */
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		*t = *ev;
		t->new_note[0] ^= 1; /* the origin: no longer signed */
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		/* A checkpoint signed by another key with the log key's name. */
		*t = *ev;
		sign(&other_key, M, ev->implied, t->old_note, &t->old_len);
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		assert_non_null(strstr(res.message, "does not verify with the log key"));
		/* Same size, two roots: a fork without a proof. */
		*t = *ev;
		sign(&log_key, N, ev->implied, t->old_note, &t->old_len);
		t->old_size = N;
		t->have_implied = false;
		t->n_proof = 0;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_OK);
		assert_non_null(strstr(res.message, "two different roots for size 9"));
		/* ...but not with the same root twice. */
		memcpy(t->old_note, t->new_note, t->new_len);
		t->old_len = t->new_len;
		assert_int_equal(check(t, log_vkey, &res), CLOSURELOG_ENOFORK);
		free(t);
	}
	free(ok);
	free(ev);
}

/* Replace the first `from` in text by `to`, into a new string. */
static char *
edit(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	size_t n = strlen(text) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);

	assert_non_null(p);
	assert_non_null(out);
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), to);
	strcat(out, p + strlen(from));
	return out;
}

static void
test_parse_strict(void **state)
{
	struct evidence *ev = make(true), *back = malloc(sizeof *back);
	struct closurelog_evidence_result res;
	char *text, why[CL_WHY_MAX], b64[CL_B64_LEN(MT_HASH_LEN) + 1], bad[64];
	size_t len;
	const struct {
		const char *from, *to, *why;
	} cases[] = {
	    {"\"format\": \"closurelog fork evidence v1\"",
	        "\"format\": \"closurelog fork evidence v2\"", "format"},
	    {"\"status\": \"proven\"", "\"status\": \"maybe\"", "status"},
	    {"\"status\": \"proven\"", "\"status\": \"proven\", \"extra\": 1", ""},
	    {"\"status\": \"proven\"", "\"status\": \"proven\", \"status\": \"proven\"",
	        "not JSON"},
	    {"\"time\": 1795349318", "\"time\": -1", "negative"},
	    {"\"time\": 1795349318", "\"time\": 1.5", ""},
	    {"\"old_size\": 5", "\"old_size\": 10", "larger than new_size"},
	    {"\"old_size\": 5", "\"old_size\": \"5\"", ""},
	    {"\"reason\": \"fork: test\"", "\"reason\": \"fork:\\ntest\"", "reason"},
	    {"\"log_url\": \"http://127.0.0.1:1\"", "\"log_url\": \"http://\\u0000x\"", "not JSON"},
	    {"\"log_url\": \"http://127.0.0.1:1\"", "\"log_url\": \"http://\\u0007x\"", "log_url"},
	    {"\"log_proof\": null", "\"log_proof\": 3", "log_proof"},
	    {"\"implied_old_root\": \"", "\"implied_old_root\": \"A", "implied_old_root"},
	    {"\"proof\": [", "\"proof\": [1, ", "proof"},
	    {"\"new_checkpoint\": ", "\"new_checkpoint\": 7, \"x\": ", ""},
	};

	(void)state;
	assert_non_null(back);
	assert_int_equal(evidence_encode(ev, &text, &len), 0);
	assert_int_equal(evidence_parse((const uint8_t *)text, len, back, why), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = edit(text, cases[i].from, cases[i].to);

		if (evidence_parse((const uint8_t *)t, strlen(t), back, why) != CL_EINVAL)
			fail_msg("case %zu accepted: %s", i, t);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg(
			    "case %zu: reason \"%s\" does not name \"%s\"", i, why, cases[i].why);
		/* Nothing of a refused file is left behind. */
		assert_int_equal(back->old_len, 0);
		assert_int_equal(
		    closurelog_evidence_check(log_vkey, (const uint8_t *)t, strlen(t), &res),
		    CLOSURELOG_EMALFORMED);
		free(t);
	}
	/* A non-canonical base64 hash (trailing bits set). */
	cl_b64_encode(ev->implied, MT_HASH_LEN, b64, sizeof b64);
	snprintf(bad, sizeof bad, "%s", b64);
	bad[42] = bad[42] == 'A' ? 'B' : (char)(bad[42] ^ 1);
	{
		char from[80], to[80], *t;

		snprintf(from, sizeof from, "\"%s\"", b64);
		snprintf(to, sizeof to, "\"%s\"", bad);
		t = edit(text, from, to);
		assert_int_equal(
		    evidence_parse((const uint8_t *)t, strlen(t), back, why), CL_EINVAL);
		free(t);
	}
	/* Truncated anywhere before its final newline: refused. */
	for (size_t n = 0; n + 1 < len; n += 7)
		assert_int_equal(evidence_parse((const uint8_t *)text, n, back, why), CL_EINVAL);
	/* Over the cap. */
	assert_int_equal(
	    closurelog_evidence_check(log_vkey, (const uint8_t *)text, EVIDENCE_MAX + 1, &res),
	    CLOSURELOG_EMALFORMED);
	/* Usage errors. */
	assert_int_equal(closurelog_evidence_check("not a key", (const uint8_t *)text, len, &res),
	    CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_evidence_check(NULL, (const uint8_t *)text, len, &res), CLOSURELOG_EUSAGE);
	assert_int_equal(closurelog_evidence_check(log_vkey, (const uint8_t *)text, len, NULL),
	    CLOSURELOG_EUSAGE);
	free(text);
	free(back);
	free(ev);
}

static void
test_encode_refuses(void **state)
{
	struct evidence *ev = make(true);
	char *text;
	size_t len;

	(void)state;
	ev->n_proof = MT_PROOF_MAX + 1;
	assert_int_equal(evidence_encode(ev, &text, &len), CL_EINVAL);
	assert_null(text);
	ev->n_proof = 0;
	ev->reason[0] = (char)0xff; /* not UTF-8 */
	assert_int_equal(evidence_encode(ev, &text, &len), CL_EINVAL);
	assert_null(text);
	free(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_parse_strict),
	    cmocka_unit_test(test_encode_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
