/*
 * tproof_test.c: c2sp.org/tlog-proof@v1 against the vector in
 * note-vectors.json (parsed, re-formatted byte for byte, and checked end to
 * end with sth_open and mt_inclusion_verify), then malformed proofs built
 * from that vector one defect at a time.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "testutil.h"
#include "tproof.h"

static char why[CL_WHY_MAX];

/* The vector, cut into its parts. */
struct parts {
	char index[64];     /* "index 5\n" */
	char hashes[3][64]; /* each with its '\n' */
	const char *checkpoint;
	char *text;
};

static void
parts_load(json_t *vec, struct parts *p)
{
	json_t *tp = json_object_get(json_object_get(vec, "derived"), "tlog_proof");
	const char *t = tu_str(tp, "text"), *nl;

	p->text = strdup(t);
	assert_non_null(p->text);
	assert_memory_equal(t, TPROOF_HEADER, strlen(TPROOF_HEADER));
	t += strlen(TPROOF_HEADER);
	nl = strchr(t, '\n');
	snprintf(p->index, sizeof p->index, "%.*s", (int)(nl + 1 - t), t);
	t = nl + 1;
	for (int i = 0; i < 3; i++) {
		nl = strchr(t, '\n');
		snprintf(p->hashes[i], sizeof p->hashes[i], "%.*s", (int)(nl + 1 - t), t);
		t = nl + 1;
	}
	assert_int_equal(*t, '\n');
	p->checkpoint = t + 1;
}

/* Concatenate up to 8 strings (NULL-terminated list) into a new buffer. */
static char *
cat(const char *first, ...)
{
	va_list ap;
	size_t len = 0;
	char *out;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	out = malloc(len + 1);
	assert_non_null(out);
	out[0] = '\0';
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

static void
parse_ok_roundtrip(const char *t, struct tproof *p)
{
	size_t len = strlen(t), olen;
	uint8_t *out = malloc(len + 1);

	assert_non_null(out);
	if (tproof_parse((const uint8_t *)t, len, p, why) != 0)
		fail_msg("\"%.60s...\": %s", t, why);
	assert_int_equal(tproof_format(p, out, len, &olen), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, t, len);
	assert_int_equal(tproof_format(p, out, len - 1, &olen), CL_ETOOBIG);
	assert_int_equal(olen, 0);
	free(out);
}

static void
parse_bad(char *t, int want)
{
	struct tproof p;
	int rc;

	memset(&p, 0xa5, sizeof p);
	rc = tproof_parse((const uint8_t *)t, strlen(t), &p, why);
	if (rc != want)
		fail_msg("\"%.80s\": got %d (%s), want %d", t, rc, why, want);
	assert_true(sodium_is_zero((const uint8_t *)&p, sizeof p));
	free(t);
}

static void
test_vector(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	json_t *tp = json_object_get(d, "tlog_proof");
	const char *cosigned = tu_str(d, "checkpoint8_cosigned");
	struct note_verifier keys[2];
	struct tproof p;
	struct sth s;
	struct note n;
	uint8_t *entry, leaf[MT_HASH_LEN];
	size_t elen;

	(void)state;
	parse_ok_roundtrip(tu_str(tp, "text"), &p);
	assert_int_equal(p.index, tu_u64(tp, "index"));
	assert_int_equal(p.index, 5);
	assert_int_equal(p.n_path, 3);
	assert_null(p.extra);
	assert_int_equal(p.extra_len, 0);
	assert_int_equal(p.checkpoint_len, strlen(cosigned));
	assert_memory_equal(p.checkpoint, cosigned, p.checkpoint_len);

	/* End to end: the log signature, the witness cosignature, then the
	 * entry's inclusion under the checkpoint's root. */
	assert_int_equal(note_verifier_parse(tu_str(json_object_get(d, "log"), "vkey"),
	                     strlen(tu_str(json_object_get(d, "log"), "vkey")), &keys[0], why),
	    0);
	assert_int_equal(note_verifier_parse(tu_str(json_object_get(d, "witness"), "vkey"),
	                     strlen(tu_str(json_object_get(d, "witness"), "vkey")), &keys[1], why),
	    0);
	assert_int_equal(sth_open(p.checkpoint, p.checkpoint_len, &keys[0],
	                     tu_str(json_object_get(d, "log"), "name"), &s, why),
	    0);
	assert_int_equal(note_open(p.checkpoint, p.checkpoint_len, keys, 2, &n, why), 0);
	assert_int_equal(n.n_verified, 2);
	entry = tu_unhex_alloc(tu_str(tp, "entry_hex"), &elen);
	mt_leaf_hash(leaf, entry, elen);
	free(entry);
	assert_int_equal(
	    mt_inclusion_verify(leaf, p.index, s.size, MT_PATH(p.path), p.n_path, s.root), 0);
	leaf[0] ^= 1;
	assert_int_equal(
	    mt_inclusion_verify(leaf, p.index, s.size, MT_PATH(p.path), p.n_path, s.root),
	    MT_EBADPROOF);
	json_decref(vec);
}

static void
test_shapes(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	struct parts v;
	struct tproof p;
	char *t, hashes[70 * 45 + 1] = "", extra[TPROOF_EXTRA_MAX + 16];
	const char *h0;

	(void)state;
	parts_load(vec, &v);
	h0 = v.hashes[0];

	/* No hashes; index 0 and the largest index; an extra line. */
	t = cat(TPROOF_HEADER, "index 0\n", "\n", v.checkpoint, NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.n_path, 0);
	free(t);
	t = cat(TPROOF_HEADER, "index 18446744073709551615\n", h0, "\n", v.checkpoint, NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.index, UINT64_MAX);
	free(t);
	t = cat(TPROOF_HEADER, "extra AAEC\n", v.index, v.hashes[0], v.hashes[1], v.hashes[2], "\n",
	    v.checkpoint, NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.extra_len, 4);
	assert_memory_equal(p.extra, "AAEC", 4);
	assert_int_equal(p.n_path, 3);
	free(t);
	/* The checkpoint is taken verbatim, whatever it is. */
	t = cat(TPROOF_HEADER, v.index, "\n", "x", NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.checkpoint_len, 1);
	free(t);

	/* 64 hashes are the most. */
	for (int i = 0; i < 64; i++)
		strcat(hashes, h0);
	t = cat(TPROOF_HEADER, v.index, hashes, "\n", v.checkpoint, NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.n_path, 64);
	free(t);
	strcat(hashes, h0);
	parse_bad(cat(TPROOF_HEADER, v.index, hashes, "\n", v.checkpoint, NULL), CL_ETOOBIG);

	/* The longest extra. */
	snprintf(extra, sizeof extra, "extra ");
	memset(extra + 6, 'A', TPROOF_EXTRA_MAX);
	snprintf(extra + 6 + TPROOF_EXTRA_MAX, 2, "\n");
	t = cat(TPROOF_HEADER, extra, v.index, "\n", v.checkpoint, NULL);
	parse_ok_roundtrip(t, &p);
	assert_int_equal(p.extra_len, TPROOF_EXTRA_MAX);
	free(t);
	snprintf(extra + 6 + TPROOF_EXTRA_MAX, 6, "AAAA\n");
	parse_bad(cat(TPROOF_HEADER, extra, v.index, "\n", v.checkpoint, NULL), CL_EINVAL);
	free(v.text);
	json_decref(vec);
}

static void
test_malformed(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	struct parts v;
	const char *h0, *h1, *h2, *cp;
	uint8_t raw[34];
	char h31[64], h33[64], hnc[64], hnp[64];
	size_t n = 0;
	char *big;

	(void)state;
	parts_load(vec, &v);
	h0 = v.hashes[0];
	h1 = v.hashes[1];
	h2 = v.hashes[2];
	cp = v.checkpoint;
	/* Broken spellings of the first hash. */
	assert_int_equal(cl_b64_decode(h0, 44, raw, 32, &n), 0);
	raw[32] = 0;
	cl_b64_encode(raw, 31, h31, sizeof h31);
	strcat(h31, "\n");
	cl_b64_encode(raw, 33, h33, sizeof h33);
	strcat(h33, "\n");
	snprintf(hnc, sizeof hnc, "%s", h0);
	{
		static const char alpha[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

		/* Set a trailing bit that a canonical encoding leaves zero. */
		hnc[42] = alpha[(strchr(alpha, hnc[42]) - alpha) ^ 1];
	}
	snprintf(hnp, sizeof hnp, "%.43s\n", h0);

	/* Header. */
	parse_bad(cat("", NULL), CL_EINVAL);
	parse_bad(cat("c2sp.org/tlog-proof@v1", NULL), CL_EINVAL);
	parse_bad(cat("c2sp.org/tlog-proof@v2\n", v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat("C2SP.org/tlog-proof@v1\n", v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat("c2sp.org/tlog-proof@v1 \n", v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(
	    cat("c2sp.org/tlog-proof@v1\r\n", v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat("\n", TPROOF_HEADER, v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	/* Index. */
	static const char *const idx[] = {"index 05\n", "index 00\n", "index +5\n", "index -5\n",
	    "index 5 \n", "index  5\n", "index \n", "index\n", "Index 5\n", "index 0x5\n",
	    "index 5\r\n", "index 18446744073709551616\n", "index 99999999999999999999\n",
	    "index 5", "\n"};
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		parse_bad(cat(TPROOF_HEADER, idx[i], h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, NULL), CL_EINVAL);
	/* Hashes. */
	parse_bad(cat(TPROOF_HEADER, v.index, h31, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h33, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h1, hnc, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, hnp, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, " ", h0, "\n", cp, NULL), CL_EINVAL);
	/* Base64 is ASCII (libsodium 1.0.18 decodes bytes >= 0x80 as '/'). */
	{
		char hhi[64];

		snprintf(hhi, sizeof hhi, "%.43s\xbf\n", h0);
		parse_bad(cat(TPROOF_HEADER, v.index, hhi, "\n", cp, NULL), CL_EINVAL);
		parse_bad(
		    cat(TPROOF_HEADER, "extra AAE\xbf\n", v.index, "\n", cp, NULL), CL_EINVAL);
	}
	/* The blank line and the checkpoint. */
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h1, h2, cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h1, h2, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h1, "AAAA", NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, h0, h1, h2, "\n", NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, "\n", NULL), CL_EINVAL);
	/* Extra. */
	static const char *const extras[] = {"extra \n", "extra !!!!\n", "extra AAF=\n",
	    "extra AAEC \n", "extra  AAEC\n", "extra AAE\n", "extra AAEC=\n", "extra AA==AAEC\n"};
	for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++)
		parse_bad(
		    cat(TPROOF_HEADER, extras[i], v.index, h0, h1, h2, "\n", cp, NULL), CL_EINVAL);
	parse_bad(cat(TPROOF_HEADER, v.index, "extra AAEC\n", h0, "\n", cp, NULL), CL_EINVAL);
	parse_bad(
	    cat(TPROOF_HEADER, "extra AAEC\n", "extra AAEC\n", v.index, "\n", cp, NULL), CL_EINVAL);
	/* Size. */
	big = malloc(TPROOF_MAX_SIZE + 1);
	assert_non_null(big);
	memset(big, 'x', TPROOF_MAX_SIZE);
	big[TPROOF_MAX_SIZE] = '\0';
	{
		char *t = cat(TPROOF_HEADER, v.index, "\n", big, NULL);
		struct tproof p;

		/* Exactly TPROOF_MAX_SIZE bytes pass, one more does not. */
		t[TPROOF_MAX_SIZE] = '\0';
		parse_ok_roundtrip(t, &p);
		t[TPROOF_MAX_SIZE] = 'x';
		t[TPROOF_MAX_SIZE + 1] = '\0';
		parse_bad(t, CL_ETOOBIG);
	}
	free(big);
	free(v.text);
	json_decref(vec);
}

static void
test_format_errors(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *tp = json_object_get(json_object_get(vec, "derived"), "tlog_proof");
	const char *t = tu_str(tp, "text");
	struct tproof p, q;
	uint8_t out[4096];
	size_t olen = 7;

	(void)state;
	assert_int_equal(tproof_parse((const uint8_t *)t, strlen(t), &p, why), 0);
	q = p;
	q.n_path = 65;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_EINVAL);
	assert_int_equal(olen, 0);
	q = p;
	q.checkpoint = NULL;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_EINVAL);
	q = p;
	q.checkpoint_len = 0;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_EINVAL);
	q = p;
	q.extra = "AA\nA";
	q.extra_len = 4;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_EINVAL);
	q.extra = "";
	q.extra_len = 0;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_EINVAL);
	q.extra = "AAEC";
	q.extra_len = 4;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), 0);
	assert_int_equal(olen, strlen(t) + 11);
	assert_int_equal(tproof_parse(out, olen, &p, why), 0);
	assert_int_equal(p.extra_len, 4);
	q.checkpoint_len = TPROOF_MAX_SIZE;
	assert_int_equal(tproof_format(&q, out, sizeof out, &olen), CL_ETOOBIG);
	json_decref(vec);
}

/* Any one-byte change either fails to parse or formats back to itself. */
static void
test_mutations(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *tp = json_object_get(json_object_get(vec, "derived"), "tlog_proof");
	const char *t = tu_str(tp, "text");
	size_t len = strlen(t), olen;
	uint8_t *m = malloc(len), *out = malloc(len);
	struct tproof p;

	(void)state;
	for (size_t i = 0; i < len; i++) {
		const uint8_t subst[] = {(uint8_t)(t[i] ^ 1), '\n', 'A', '0', '/'};

		for (size_t k = 0; k < sizeof subst; k++) {
			memcpy(m, t, len);
			m[i] = subst[k];
			if (tproof_parse(m, len, &p, NULL) != 0)
				continue;
			assert_int_equal(tproof_format(&p, out, len, &olen), 0);
			assert_int_equal(olen, len);
			assert_memory_equal(out, m, len);
		}
	}
	for (size_t k = 0; k < len; k++) {
		if (tproof_parse((const uint8_t *)t, k, &p, NULL) == 0) {
			/* Only cuts inside the checkpoint still parse. */
			assert_true(k > (size_t)(p.checkpoint - (const uint8_t *)t));
		}
	}
	free(m);
	free(out);
	json_decref(vec);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector),
	    cmocka_unit_test(test_shapes),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_format_errors),
	    cmocka_unit_test(test_mutations),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
