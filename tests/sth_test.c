/*
 * sth_test.c: checkpoints.  The derived checkpoints of note-vectors.json are
 * rebuilt from the tree roots of merkle-vectors.json and signed again byte
 * for byte; the published sum.golang.org tree head is parsed; then every
 * kind of malformed checkpoint text is refused.
 */
#include <inttypes.h>
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

static char why[CL_WHY_MAX];

static void
verifier_parse_ok(const char *s, struct note_verifier *v)
{
	if (note_verifier_parse(s, strlen(s), v, why) != 0)
		fail_msg("%s: %s", s, why);
}

static void
log_signer(const json_t *log, struct note_signer *s)
{
	uint8_t seed[32];

	tu_unhex(tu_str(log, "seed_hex"), seed, sizeof seed);
	assert_int_equal(note_signer_from_seed(tu_str(log, "name"), seed, s, why), 0);
	sodium_memzero(seed, sizeof seed);
}

/* The text sth_format writes for s must be exactly `text`. */
static void
check_format(const struct sth *s, const char *text)
{
	char buf[STH_TEXT_MAX + 1];

	assert_int_equal(sth_format(s, buf, sizeof buf), strlen(text));
	assert_string_equal(buf, text);
}

/* checkpoint6 and checkpoint8, from the eight-leaf tree's roots. */
static void
test_derived_checkpoints(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json"), *mv = tu_vectors("merkle-vectors.json");
	json_t *d = json_object_get(nv, "derived"), *log = json_object_get(d, "log");
	json_t *roots = json_object_get(json_object_get(mv, "tree8"), "roots");
	static const struct {
		uint64_t size;
		const char *root_key, *body_key, *note_key;
	} cps[] = {
	    {6, "6", "checkpoint6_body", "checkpoint6"},
	    {8, "8", "checkpoint8_body", "checkpoint8"},
	};
	struct note_signer ls;
	struct note_verifier lv;

	(void)state;
	log_signer(log, &ls);
	verifier_parse_ok(tu_str(log, "vkey"), &lv);
	for (size_t i = 0; i < 2; i++) {
		const char *body = tu_str(d, cps[i].body_key), *note = tu_str(d, cps[i].note_key);
		struct sth s = {0}, got;
		uint8_t out[STH_NOTE_MAX];
		size_t olen;

		snprintf(s.origin, sizeof s.origin, "%s", tu_str(log, "name"));
		s.size = cps[i].size;
		tu_unhex(json_string_value(json_object_get(roots, cps[i].root_key)), s.root, 32);
		check_format(&s, body);
		assert_int_equal(sth_sign(&s, &ls, out, sizeof out, &olen, why), 0);
		assert_int_equal(olen, strlen(note));
		assert_memory_equal(out, note, olen);

		assert_int_equal(sth_parse(body, strlen(body), &got, why), 0);
		assert_memory_equal(&got, &s, sizeof s);
		assert_int_equal(
		    sth_open((const uint8_t *)note, strlen(note), &lv, s.origin, &got, why), 0);
		assert_memory_equal(&got, &s, sizeof s);
		assert_int_equal(
		    sth_open((const uint8_t *)note, strlen(note), &lv, NULL, &got, why), 0);
		assert_int_equal(got.size, cps[i].size);
		assert_int_equal(sth_open((const uint8_t *)note, strlen(note), &lv,
		                     "example.com/other", &got, why),
		    CL_EORIGIN);
		assert_true(sodium_is_zero((const uint8_t *)&got, sizeof got));
		assert_int_equal(sth_sign(&s, &ls, out, olen - 1, &olen, why), CL_ETOOBIG);
		assert_int_equal(olen, 0);
	}
	note_signer_wipe(&ls);
	json_decref(nv);
	json_decref(mv);
}

/* The cosigned checkpoint opens with the log key; the cosignature is
 * ignored here.  Other keys do not open it. */
static void
test_cosigned_checkpoint(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json"), *d = json_object_get(nv, "derived");
	const char *cp = tu_str(d, "checkpoint8_cosigned"), *body = tu_str(d, "checkpoint8_body");
	const char *origin = tu_str(json_object_get(d, "log"), "name");
	struct note_verifier lv, wv, other;
	struct sth s, want;

	(void)state;
	verifier_parse_ok(tu_str(json_object_get(d, "log"), "vkey"), &lv);
	verifier_parse_ok(tu_str(json_object_get(d, "witness"), "vkey"), &wv);
	verifier_parse_ok(
	    tu_str(json_array_get(json_object_get(nv, "published"), 1), "vkey"), &other);
	assert_int_equal(sth_parse(body, strlen(body), &want, why), 0);
	assert_int_equal(sth_open((const uint8_t *)cp, strlen(cp), &lv, origin, &s, why), 0);
	assert_memory_equal(&s, &want, sizeof s);
	assert_int_equal(s.size, 8);
	assert_int_equal(s.ext_len, 0);
	assert_null(s.ext);
	/* A witness key is not a log key. */
	assert_int_equal(
	    sth_open((const uint8_t *)cp, strlen(cp), &wv, origin, &s, why), CL_EINVAL);
	assert_int_equal(
	    sth_open((const uint8_t *)cp, strlen(cp), &other, origin, &s, why), CL_ENOKEY);
	assert_int_equal(
	    sth_open((const uint8_t *)cp, strlen(cp) - 1, &lv, origin, &s, why), CL_EINVAL);
	/* The origin is compared exactly. */
	assert_int_equal(
	    sth_open((const uint8_t *)cp, strlen(cp), &lv, "example.com/tlog-tes", &s, why),
	    CL_EORIGIN);
	assert_int_equal(
	    sth_open((const uint8_t *)cp, strlen(cp), &lv, "example.com/tlog-test ", &s, why),
	    CL_EORIGIN);
	assert_int_equal(sth_open((const uint8_t *)cp, strlen(cp), &lv, "", &s, why), CL_EORIGIN);
	json_decref(nv);
}

/* The real Go checksum database tree head. */
static void
test_sumdb_checkpoint(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json");
	json_t *e = json_array_get(json_object_get(nv, "published"), 3);
	const char *note = tu_str(e, "note"), *text = tu_str(e, "text");
	struct note_verifier v;
	struct note n;
	struct sth s, s2;
	char origin[STH_ORIGIN_MAX + 1];

	(void)state;
	assert_string_equal(tu_str(e, "id"), "sum.golang.org-checkpoint");
	verifier_parse_ok(tu_str(e, "vkey"), &v);
	assert_int_equal(note_open((const uint8_t *)note, strlen(note), &v, 1, &n, why), 0);
	assert_int_equal(n.text_len, strlen(text));
	assert_int_equal(sth_parse(note, n.text_len, &s, why), 0);
	check_format(&s, text);
	/* Its origin ("go.sum database tree") has spaces, and is not the key
	 * name. */
	snprintf(origin, sizeof origin, "%.*s", (int)(strchr(text, '\n') - text), text);
	assert_string_equal(s.origin, origin);
	assert_non_null(strchr(s.origin, ' '));
	assert_int_equal(sth_open((const uint8_t *)note, strlen(note), &v, origin, &s2, why), 0);
	assert_memory_equal(&s, &s2, sizeof s);
	assert_int_equal(
	    sth_open((const uint8_t *)note, strlen(note), &v, v.name, &s2, why), CL_EORIGIN);
	json_decref(nv);
}

/* Placeholders in the table below, expanded at run time from the vectors:
 * the size-8 root of checkpoint8_body and the empty-tree root, and broken
 * spellings of the first. */
#define R8   "\x01"
#define R0   "\x02"
#define R31  "\x03" /* base64 of its first 31 bytes: also 44 characters */
#define R33  "\x04" /* base64 of 33 bytes: also 44 characters */
#define RNC  "\x05" /* last character with non-zero trailing bits */
#define RNP  "\x06" /* without its padding */
#define RURL "\x07" /* in the URL-safe alphabet */
#define RHI  "\x08" /* three characters spelled as one em dash */

static const struct {
	const char *text;
	int ok;
} texts[] = {
    {"o\n8\n" R8 "\n", 1},
    {"o\n0\n" R0 "\n", 1},
    {"o\n18446744073709551615\n" R8 "\n", 1},
    {"origin with spaces\n1\n" R8 "\n", 1},
    {"o\n8\n" R8 "\next\n", 1},
    {"o\n8\n" R8 "\nx\ny y\n", 1},
    {"o\xc3\xa9\n8\n" R8 "\n", 1},
    {"", 0},
    {"\n", 0},
    {"o\n", 0},
    {"o\n8\n", 0},
    {"o\n8\n" R8, 0},       /* no final newline */
    {"o\n8\n" R8 "\nx", 0}, /* nor here */
    {"\n8\n" R8 "\n", 0},   /* empty origin */
    {"o\n08\n" R8 "\n", 0},
    {"o\n00\n" R0 "\n", 0},
    {"o\n+8\n" R8 "\n", 0},
    {"o\n+1\n" R8 "\n", 0},
    {"o\n-0\n" R0 "\n", 0},
    {"o\n 8\n" R8 "\n", 0},
    {"o\n8 \n" R8 "\n", 0},
    {"o\n0x8\n" R8 "\n", 0},
    {"o\n8.0\n" R8 "\n", 0},
    {"o\n\n" R8 "\n", 0},
    {"o\n18446744073709551616\n" R8 "\n", 0},
    {"o\n99999999999999999999\n" R8 "\n", 0},
    {"o\n000000000000000000008\n" R8 "\n", 0},
    {"o\n8\n" R31 "\n", 0},
    {"o\n8\n" R33 "\n", 0},
    {"o\n8\n" RNC "\n", 0},
    {"o\n8\n" RNP "\n", 0},
    {"o\n8\n" RURL "\n", 0},
    {"o\n8\n" RHI "\n", 0},
    {"o\n8\n" R8 " \n", 0},
    {"o\n8\n " R8 "\n", 0},
    {"o\n8\n\n", 0},
    {"o\n8\n" R8 "\n\n", 0}, /* empty extension line */
    {"o\n8\n" R8 "\nx\n\n", 0},
    {"o\n8\n" R8 "\n\nx\n", 0},
    {"o\n0\n" R8 "\n", 0}, /* size 0, not the empty-tree root */
    {"o\t\n8\n" R8 "\n", 0},
    {"o\r\n8\r\n" R8 "\r\n", 0},
    {"o\xc0\xae\n8\n" R8 "\n", 0},
    {"o\n8\n" R8 "\n\xed\xa0\x80\n", 0},
};

/* Expand the placeholders of t into out. */
static void
expand(const char *t, const char *r8, char *out, size_t cap)
{
	uint8_t root[33], empty[32];
	char b64[64], *p = out;
	size_t n = 0;

	assert_int_equal(cl_b64_decode(r8, strlen(r8), root, 32, &n), 0);
	assert_int_equal(n, 32);
	mt_empty_root(empty);
	out[0] = '\0';
	for (; *t != '\0'; t++) {
		const char *rep = b64;

		switch (*t) {
		case '\x01':
			rep = r8;
			break;
		case '\x02':
			cl_b64_encode(empty, 32, b64, sizeof b64);
			break;
		case '\x03':
			cl_b64_encode(root, 31, b64, sizeof b64);
			break;
		case '\x04':
			root[32] = 0x5a;
			cl_b64_encode(root, 33, b64, sizeof b64);
			break;
		case '\x05': {
			static const char alpha[] =
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

			snprintf(b64, sizeof b64, "%s", r8);
			b64[42] = alpha[(strchr(alpha, b64[42]) - alpha) ^ 1];
			break;
		}
		case '\x06':
			snprintf(b64, sizeof b64, "%.43s", r8);
			break;
		case '\x07':
			snprintf(b64, sizeof b64, "%s", r8);
			for (char *q = b64; *q != '\0'; q++)
				*q = *q == '+' ? '-' : *q == '/' ? '_' : *q;
			assert_string_not_equal(b64, r8);
			break;
		case '\x08':
			/* libsodium 1.0.18 decodes bytes >= 0x80 as '/'. */
			snprintf(b64, sizeof b64, "%.16s\xe2\x80\x94%s", r8, r8 + 19);
			break;
		default:
			b64[0] = *t;
			b64[1] = '\0';
		}
		assert_true((size_t)(p - out) + strlen(rep) < cap);
		p += snprintf(p, cap - (size_t)(p - out), "%s", rep);
	}
}

static void
test_texts(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json"), *log;
	const char *body;
	struct note_signer ls;
	struct note_verifier lv;
	uint8_t out[4096];
	char r8[45], t[1024];
	size_t olen;

	(void)state;
	log = json_object_get(json_object_get(nv, "derived"), "log");
	log_signer(log, &ls);
	note_signer_verifier(&ls, &lv);
	/* The root line of checkpoint8_body. */
	body = strchr(strchr(tu_str(json_object_get(nv, "derived"), "checkpoint8_body"), '\n') + 1,
	           '\n') +
	    1;
	assert_int_equal(strlen(body), 45);
	snprintf(r8, sizeof r8, "%.44s", body);
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		size_t len;

		expand(texts[i].text, r8, t, sizeof t);
		len = strlen(t);
		struct sth s;
		int rc;

		memset(&s, 0xa5, sizeof s);
		rc = sth_parse(t, len, &s, why);
		if ((rc == 0) != texts[i].ok)
			fail_msg("text %zu: got %d (%s)", i, rc, why);
		if (rc != 0) {
			assert_int_equal(rc, CL_EINVAL);
			assert_true(sodium_is_zero((const uint8_t *)&s, sizeof s));
		} else if (s.ext_len == 0) {
			check_format(&s, t);
		} else {
			/* Extensions are kept verbatim, after the root line. */
			assert_ptr_equal(s.ext + s.ext_len, t + len);
			assert_int_equal(s.ext[-1], '\n');
		}
		/* Signed as a note, the same text is refused by sth_open. */
		if (len > 0 && t[len - 1] == '\n' &&
		    note_sign(&ls, (const uint8_t *)t, len, out, sizeof out, &olen, NULL) == 0) {
			rc = sth_open(out, olen, &lv, NULL, &s, why);
			assert_int_equal(rc, texts[i].ok ? 0 : CL_EINVAL);
		}
	}
	note_signer_wipe(&ls);
	json_decref(nv);
}

static void
test_limits(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json"), *log;
	struct note_signer ls;
	struct sth s = {0}, got;
	char text[1024], buf[STH_TEXT_MAX + 1];
	uint8_t out[STH_NOTE_MAX];
	size_t olen = 1;

	(void)state;
	log = json_object_get(json_object_get(nv, "derived"), "log");
	log_signer(log, &ls);

	/* The longest origin, the largest size: STH_TEXT_MAX and
	 * STH_NOTE_MAX are enough. */
	memset(s.origin, 'o', STH_ORIGIN_MAX);
	s.size = UINT64_MAX;
	memset(s.root, 0xff, sizeof s.root);
	assert_int_equal(sth_format(&s, buf, sizeof buf), STH_TEXT_MAX);
	assert_int_equal(sth_parse(buf, STH_TEXT_MAX, &got, why), 0);
	assert_memory_equal(&got, &s, sizeof s);
	assert_int_equal(sth_sign(&s, &ls, out, sizeof out, &olen, why), 0);
	/* ... for a log key name as long as the origin. */
	{
		struct note_signer big;
		uint8_t seed[32] = {1};

		assert_int_equal(note_signer_from_seed(s.origin, seed, &big, why), 0);
		assert_int_equal(sth_sign(&s, &big, out, sizeof out, &olen, why), 0);
		assert_true(olen <= STH_NOTE_MAX);
		note_signer_wipe(&big);
	}
	/* An origin one byte longer does not parse. */
	snprintf(text, sizeof text, "o%s", buf);
	assert_int_equal(sth_parse(text, strlen(text), &got, why), CL_EINVAL);
	/* One byte less room is not enough. */
	assert_int_equal(sth_format(&s, buf, STH_TEXT_MAX), 0);
	assert_string_equal(buf, "");

	/* Bad origins are not formatted or signed. */
	memset(&s, 0, sizeof s);
	mt_empty_root(s.root);
	assert_int_equal(sth_format(&s, buf, sizeof buf), 0);
	assert_int_equal(sth_sign(&s, &ls, out, sizeof out, &olen, why), CL_EINVAL);
	assert_int_equal(olen, 0);
	snprintf(s.origin, sizeof s.origin, "a\nb");
	assert_int_equal(sth_format(&s, buf, sizeof buf), 0);
	snprintf(s.origin, sizeof s.origin, "a\tb");
	assert_int_equal(sth_format(&s, buf, sizeof buf), 0);
	snprintf(s.origin, sizeof s.origin, "a\xff");
	assert_int_equal(sth_format(&s, buf, sizeof buf), 0);
	memset(s.origin, 'o', sizeof s.origin); /* not terminated */
	assert_int_equal(sth_format(&s, buf, sizeof buf), 0);
	/* Size 0 must carry the empty-tree root; a log never signs another. */
	snprintf(s.origin, sizeof s.origin, "o");
	assert_int_equal(sth_sign(&s, &ls, out, sizeof out, &olen, why), 0);
	assert_int_equal(sth_parse((const char *)out, 4 + 45, &got, why), 0);
	s.root[0] ^= 1;
	assert_int_equal(sth_sign(&s, &ls, out, sizeof out, &olen, why), CL_EINVAL);
	/* Extensions are not signed. */
	s.root[0] ^= 1;
	s.ext = "ext\n";
	s.ext_len = 4;
	assert_int_equal(sth_format(&s, buf, sizeof buf), 4 + 45);
	note_signer_wipe(&ls);
	json_decref(nv);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_derived_checkpoints),
	    cmocka_unit_test(test_cosigned_checkpoint),
	    cmocka_unit_test(test_sumdb_checkpoint),
	    cmocka_unit_test(test_texts),
	    cmocka_unit_test(test_limits),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
