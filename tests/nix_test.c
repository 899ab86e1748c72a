/*
 * nix_test.c: Nix hash spellings and store paths against the attestation
 * vectors (every nix32 and NAR case, in every form Nix accepts), tables of
 * malformed hashes and store paths that must be refused with a reason, and
 * nix32 round trips of random digests.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "nix.h"
#include "testutil.h"

#define VECTORS "attestation-vectors.json"

/* snprintf into an array, failing the test rather than truncating. */
#define FMT(buf, ...) assert_true(snprintf(buf, sizeof buf, __VA_ARGS__) < (int)sizeof buf)

/* A store-path hash part made of the whole nix32 alphabet, once. */
#define H32 "0123456789abcdfghijklmnpqrsvwxyz"
#define SP  "/nix/store/" H32 "-"

static enum nix_algo
algo_of(const char *name)
{
	for (int a = NIX_MD5; a <= NIX_SHA512; a++) {
		if (strcmp(nix_algo_name((enum nix_algo)a), name) == 0)
			return (enum nix_algo)a;
	}
	fail_msg("unknown algorithm \"%s\" in vectors", name);
	return 0;
}

/* A refusal must come with a one-line, printable reason. */
static void
assert_reason(const char *why, const char *input)
{
	if (why[0] == '\0')
		fail_msg("no reason given for refusing \"%s\"", input);
	for (const char *p = why; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			fail_msg("reason \"%s\" is not one printable line", why);
	}
}

/* Parse s (its strlen), expect success with bytes want[0..n) of algo a, and
 * expect its SRI to be sri. */
static void
parse_ok(const char *s, enum nix_algo def, enum nix_algo a, const uint8_t *want, size_t n,
    const char *sri)
{
	struct nix_hash h;
	char why[CL_WHY_MAX] = "", out[NIX_HASH_STR_MAX];

	if (nix_hash_parse(s, strlen(s), def, &h, why) != 0)
		fail_msg("\"%s\" refused: %s", s, why);
	assert_int_equal(h.algo, a);
	assert_int_equal(h.len, n);
	assert_memory_equal(h.bytes, want, n);
	assert_int_equal(nix_hash_sri(&h, out, sizeof out), strlen(sri));
	assert_string_equal(out, sri);
}

static void
parse_bad(const char *s, size_t len, enum nix_algo def)
{
	struct nix_hash h;
	char why[CL_WHY_MAX] = "";
	static const struct nix_hash zero;

	memset(&h, 0xa5, sizeof h);
	if (nix_hash_parse(s, len, def, &h, why) != CL_EINVAL)
		fail_msg("\"%.*s\" (default %d) accepted", (int)len, s, (int)def);
	assert_reason(why, s);
	/* Nothing half-parsed is left behind. */
	assert_memory_equal(&h, &zero, sizeof h);
	/* The reason is optional. */
	assert_int_equal(nix_hash_parse(s, len, def, &h, NULL), CL_EINVAL);
}

/* ---- The "nix32" vectors ---- */

static void
test_nix32_cases(void **state)
{
	json_t *v = tu_vectors(VECTORS);
	const json_t *cases = json_object_get(json_object_get(v, "nix32"), "cases"), *c;
	size_t i;

	(void)state;
	assert_true(json_array_size(cases) > 0);
	json_array_foreach(cases, i, c)
	{
		enum nix_algo a = algo_of(tu_str(c, "algo"));
		const char *hex = tu_str(c, "base16"), *n32 = tu_str(c, "nix32");
		const char *sri = tu_str(c, "sri"), *b64 = strchr(sri, '-') + 1;
		const char *name = nix_algo_name(a);
		size_t n;
		uint8_t *want = tu_unhex_alloc(hex, &n), got[64];
		char enc[128], s[160], upper[160];

		/* nix32 both ways. */
		assert_int_equal(nix_base32_len(n), strlen(n32));
		nix_base32_encode(want, n, enc);
		assert_string_equal(enc, n32);
		assert_int_equal(nix_base32_decode(n32, strlen(n32), got, n), 0);
		assert_memory_equal(got, want, n);

		/* Every prefixed form, then every bare one, converts to the SRI. */
		parse_ok(sri, 0, a, want, n, sri);
		FMT(s, "%s:%s", name, hex);
		parse_ok(s, 0, a, want, n, sri);
		for (size_t k = 0; hex[k] != '\0'; k++)
			upper[k] = (char)(hex[k] >= 'a' && hex[k] <= 'f' ? hex[k] - 32 : hex[k]);
		upper[strlen(hex)] = '\0';
		FMT(s, "%s:%s", name, upper);
		parse_ok(s, 0, a, want, n, sri);
		FMT(s, "%s:%s", name, n32);
		parse_ok(s, 0, a, want, n, sri);
		FMT(s, "%s:%s", name, b64);
		parse_ok(s, 0, a, want, n, sri);
		parse_ok(hex, a, a, want, n, sri);
		parse_ok(upper, a, a, want, n, sri);
		parse_ok(n32, a, a, want, n, sri);
		parse_ok(b64, a, a, want, n, sri);
		/* A default algorithm does not change what a prefix says. */
		parse_ok(sri, a == NIX_SHA1 ? NIX_SHA256 : NIX_SHA1, a, want, n, sri);

		/* Unpadded SRI is accepted by the parser and printed padded. */
		FMT(s, "%s", sri);
		while (s[strlen(s) - 1] == '=')
			s[strlen(s) - 1] = '\0';
		assert_true(strlen(s) < strlen(sri));
		parse_ok(s, 0, a, want, n, sri);
		/* but not in the "<algo>:" or bare forms, where length decides. */
		FMT(s, "%s:%s", name, b64);
		while (s[strlen(s) - 1] == '=')
			s[strlen(s) - 1] = '\0';
		parse_bad(s, strlen(s), 0);

		/* Bare digests need a default algorithm, and the right one. */
		parse_bad(hex, strlen(hex), 0);
		parse_bad(n32, strlen(n32), 0);
		parse_bad(b64, strlen(b64), 0);
		parse_bad(hex, strlen(hex), a == NIX_SHA1 ? NIX_SHA256 : NIX_SHA1);
		parse_bad(n32, strlen(n32), a == NIX_SHA1 ? NIX_SHA256 : NIX_SHA1);

		/* SRI is base64 only. */
		FMT(s, "%s-%s", name, hex);
		parse_bad(s, strlen(s), 0);
		FMT(s, "%s-%s", name, n32);
		parse_bad(s, strlen(s), 0);

		/* Only a canonical SRI sha256 is a narHash. */
		{
			uint8_t d[32];
			char why[CL_WHY_MAX] = "";

			if (a == NIX_SHA256) {
				assert_int_equal(nix_nar_hash_check(sri, strlen(sri), d, why), 0);
				assert_memory_equal(d, want, 32);
			} else {
				assert_int_equal(
				    nix_nar_hash_check(sri, strlen(sri), d, why), CL_EINVAL);
				assert_reason(why, sri);
			}
		}
		free(want);
	}
	json_decref(v);
}

static void
test_nix32_invalid(void **state)
{
	json_t *v = tu_vectors(VECTORS);
	const json_t *bad = json_object_get(json_object_get(v, "nix32"), "invalid"), *c;
	size_t i;

	(void)state;
	assert_true(json_array_size(bad) > 0);
	json_array_foreach(bad, i, c)
	{
		enum nix_algo a = algo_of(tu_str(c, "algo"));
		const char *n32 = tu_str(c, "nix32");
		uint8_t got[64];
		char s[160];
		size_t n = 0;

		for (size_t len = 1; len <= 64; len++) {
			if (nix_base32_len(len) == strlen(n32))
				n = len;
		}
		assert_true(n > 0);
		memset(got, 0xa5, sizeof got);
		assert_int_equal(nix_base32_decode(n32, strlen(n32), got, n), CL_EINVAL);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k], 0);
		FMT(s, "%s:%s", nix_algo_name(a), n32);
		parse_bad(s, strlen(s), 0);
		parse_bad(n32, strlen(n32), a);
	}
	json_decref(v);
}

static void
test_sri_unpadded_note(void **state)
{
	json_t *v = tu_vectors(VECTORS);
	const char *note = tu_str(json_object_get(v, "nix32"), "sri_unpadded_note");
	const char *q0 = strchr(note, '"'), *q1;
	char s[128], padded[128], out[NIX_HASH_STR_MAX], why[CL_WHY_MAX] = "";
	struct nix_hash h;
	size_t n;

	(void)state;
	/* The note quotes the unpadded spelling. */
	assert_non_null(q0);
	q1 = strchr(q0 + 1, '"');
	assert_non_null(q1);
	n = (size_t)(q1 - q0 - 1);
	assert_true(n < sizeof s);
	memcpy(s, q0 + 1, n);
	s[n] = '\0';
	assert_null(strchr(s, '='));
	assert_int_equal(nix_hash_parse(s, n, 0, &h, why), 0);
	assert_int_equal(h.algo, NIX_SHA256);
	FMT(padded, "%s=", s);
	assert_int_equal(nix_hash_sri(&h, out, sizeof out), n + 1);
	assert_string_equal(out, padded);
	/* A narHash must be the padded form. */
	assert_int_equal(nix_nar_hash_check(s, n, NULL, why), CL_EINVAL);
	assert_reason(why, s);
	assert_int_equal(nix_nar_hash_check(padded, n + 1, NULL, why), 0);
	json_decref(v);
}

/* ---- The "nar" vectors ---- */

static void
test_nar_vectors(void **state)
{
	json_t *v = tu_vectors(VECTORS);
	const json_t *nar = json_object_get(v, "nar"), *c;
	size_t i;

	(void)state;
	assert_true(json_array_size(nar) > 0);
	json_array_foreach(nar, i, c)
	{
		const char *sri = tu_str(c, "narHash_sri"), *n32 = tu_str(c, "narHash_nix32");
		const char *hex = tu_str(c, "nar_sha256_hex"), *sp = tu_str(c, "store_path");
		uint8_t want[32], d[32];
		char s[160], enc[64], why[CL_WHY_MAX] = "";
		struct nix_hash h;

		tu_unhex(hex, want, sizeof want);
		nix_base32_encode(want, sizeof want, enc);
		assert_string_equal(enc, n32);

		/* Each spelling converts to the others. */
		parse_ok(sri, 0, NIX_SHA256, want, 32, sri);
		FMT(s, "sha256:%s", n32);
		parse_ok(s, 0, NIX_SHA256, want, 32, sri);
		parse_ok(n32, NIX_SHA256, NIX_SHA256, want, 32, sri);
		FMT(s, "sha256:%s", hex);
		parse_ok(s, 0, NIX_SHA256, want, 32, sri);
		parse_ok(hex, NIX_SHA256, NIX_SHA256, want, 32, sri);
		assert_int_equal(nix_hash_parse(sri, strlen(sri), 0, &h, why), 0);
		nix_base32_encode(h.bytes, h.len, enc);
		assert_string_equal(enc, n32);

		memset(d, 0, sizeof d);
		assert_int_equal(nix_nar_hash_check(sri, strlen(sri), d, why), 0);
		assert_memory_equal(d, want, 32);
		assert_int_equal(nix_nar_hash_check(sri, strlen(sri), NULL, NULL), 0);

		/* Any other spelling is not a narHash; the digest is cleared. */
		FMT(s, "sha256:%s", n32);
		memset(d, 0xa5, sizeof d);
		assert_int_equal(nix_nar_hash_check(s, strlen(s), d, why), CL_EINVAL);
		assert_reason(why, s);
		for (size_t k = 0; k < 32; k++)
			assert_int_equal(d[k], 0);
		assert_int_equal(nix_nar_hash_check(n32, strlen(n32), d, why), CL_EINVAL);
		FMT(s, "%s\n", sri);
		assert_int_equal(nix_nar_hash_check(s, strlen(s), d, why), CL_EINVAL);
		FMT(s, "SHA256-%s", sri + 7);
		assert_int_equal(nix_nar_hash_check(s, strlen(s), d, why), CL_EINVAL);
		assert_reason(why, s);
		/* Truncated at every length. */
		for (size_t k = 0; k < strlen(sri); k++)
			assert_int_equal(nix_nar_hash_check(sri, k, d, NULL), CL_EINVAL);

		if (nix_store_path_check(sp, strlen(sp), why) != 0)
			fail_msg("%s refused: %s", sp, why);
	}
	json_decref(v);
}

/* ---- Store paths ---- */

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	int want;
} store_paths[] = {
    {SP "hello-2.12.1", 0, 0},
    {SP "a", 0, 0},
    {SP "-", 0, 0},
    {SP "-foo", 0, 0},
    {SP ".foo", 0, 0},
    {SP "..foo", 0, 0},
    {SP "...", 0, 0},
    {SP "...-foo", 0, 0},
    {SP ".a-", 0, 0},
    {SP "ABCXYZabcxyz0189+-._?=", 0, 0},
    {SP "source", 0, 0},
    /* Bad alphabet in the hash part: e o t u, capitals, other marks. */
    {"/nix/store/e123456789abcdfghijklmnpqrsvwxyz-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnopqrsvwxy-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnpqrsvwxtz-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnpqrsvwxyu-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789Abcdfghijklmnpqrsvwxyz-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnpqrsvwxy_-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnpqrsvwx.z-foo", 0, CL_EINVAL},
    /* Wrong hash length. */
    {"/nix/store/123456789abcdfghijklmnpqrsvwxyz-foo", 0, CL_EINVAL},
    {"/nix/store/00123456789abcdfghijklmnpqrsvwxyz-foo", 0, CL_EINVAL},
    {"/nix/store/-foo", 0, CL_EINVAL},
    {"/nix/store/0123456789abcdfghijklmnpqrsvwxy", 0, CL_EINVAL},
    /* Missing or wrong separator, empty or reserved names. */
    {"/nix/store/" H32, 0, CL_EINVAL},
    {"/nix/store/" H32 "foo", 0, CL_EINVAL},
    {"/nix/store/" H32 "_foo", 0, CL_EINVAL},
    {"/nix/store/" H32 "/foo", 0, CL_EINVAL},
    {SP, 0, CL_EINVAL},
    {SP ".", 0, CL_EINVAL},
    {SP "..", 0, CL_EINVAL},
    {SP ".-", 0, CL_EINVAL},
    {SP ".-foo", 0, CL_EINVAL},
    {SP "..-", 0, CL_EINVAL},
    {SP "..-foo", 0, CL_EINVAL},
    /* Characters not allowed in a name, and anything after it. */
    {SP "foo/bar", 0, CL_EINVAL},
    {SP "foo/", 0, CL_EINVAL},
    {SP "foo bar", 0, CL_EINVAL},
    {SP "foo@1", 0, CL_EINVAL},
    {SP "foo:1", 0, CL_EINVAL},
    {SP "foo~", 0, CL_EINVAL},
    {SP "foo'", 0, CL_EINVAL},
    {SP "foo\n", 0, CL_EINVAL},
    {SP "caf\xc3\xa9", 0, CL_EINVAL},
    {SP "\xff", 0, CL_EINVAL},
    {SP "foo\0bar", sizeof(SP "foo\0bar") - 1, CL_EINVAL},
    {SP "foo\0", sizeof(SP "foo\0") - 1, CL_EINVAL},
    {"/nix/store/0123456789abcdfg\0ijklmnpqrsvwxyz-foo",
        sizeof("/nix/store/0123456789abcdfg\0ijklmnpqrsvwxyz-foo") - 1, CL_EINVAL},
    /* Wrong store directory. */
    {"/nix/stor/" H32 "-foo", 0, CL_EINVAL},
    {"/nix/store//" H32 "-foo", 0, CL_EINVAL},
    {"//nix/store/" H32 "-foo", 0, CL_EINVAL},
    {"nix/store/" H32 "-foo", 0, CL_EINVAL},
    {"/gnu/store/" H32 "-foo", 0, CL_EINVAL},
    {"/Nix/store/" H32 "-foo", 0, CL_EINVAL},
    {"/nix/store", 0, CL_EINVAL},
    {"/nix/store/", 0, CL_EINVAL},
    {" " SP "foo", 0, CL_EINVAL},
    {"", 0, CL_EINVAL},
};

static void
test_store_paths(void **state)
{
	char why[CL_WHY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof store_paths / sizeof store_paths[0]; i++) {
		const char *s = store_paths[i].s;
		size_t len = store_paths[i].len ? store_paths[i].len : strlen(s);
		int rc;

		why[0] = '\0';
		rc = nix_store_path_check(s, len, why);
		if (rc != store_paths[i].want)
			fail_msg("store path %zu \"%s\": got %d (%s), want %d", i, s, rc, why,
			    store_paths[i].want);
		if (rc != 0)
			assert_reason(why, s);
		assert_int_equal(nix_store_path_check(s, len, NULL), rc);
	}
	assert_int_equal(nix_store_path_check(NULL, 0, why), CL_EINVAL);
}

static void
test_store_path_lengths(void **state)
{
	char s[NIX_STORE_PATH_MAX + 64], why[CL_WHY_MAX];
	size_t base = strlen(SP);

	(void)state;
	memcpy(s, SP, base);
	memset(s + base, 'x', sizeof s - base);
	for (size_t n = 1; n <= NIX_NAME_MAX; n++) {
		if (nix_store_path_check(s, base + n, why) != 0)
			fail_msg("name of %zu refused: %s", n, why);
	}
	assert_int_equal(base + NIX_NAME_MAX, NIX_STORE_PATH_MAX);
	for (size_t n = NIX_NAME_MAX + 1; n < sizeof s - base; n++) {
		why[0] = '\0';
		assert_int_equal(nix_store_path_check(s, base + n, why), CL_EINVAL);
		assert_reason(why, "long name");
	}
	/* A too-long path is refused before anything is read: no '-' needed. */
	memset(s, 'z', sizeof s);
	assert_int_equal(nix_store_path_check(s, sizeof s, why), CL_EINVAL);
	assert_non_null(strstr(why, "longer"));
	/* A short path is refused at every truncation. */
	memcpy(s, SP "foo", base + 3);
	for (size_t n = 0; n <= base; n++)
		assert_int_equal(nix_store_path_check(s, n, NULL), CL_EINVAL);
}

/* The reason names what is wrong, where. */
static void
test_store_path_reasons(void **state)
{
	static const struct {
		const char *s, *needle;
	} cases[] = {
	    {"/nix/store/0123456789abcdfghijklmnpqrsvwxye-foo", "'e' at offset 42"},
	    {"/nix/store/o123456789abcdfghijklmnpqrsvwxyz-foo", "nix32 alphabet"},
	    {"/nix/store/123456789abcdfghijklmnpqrsvwxyz-foo", "31"},
	    {SP "foo/", "trailing '/'"},
	    {SP "foo@1", "'@' at offset 47"},
	    {SP "caf\xc3\xa9", "0xc3"},
	    {SP "..", "\"..\""},
	    {SP "..-foo", "\"..-\""},
	    {SP, "empty name"},
	    {"/gnu/store/" H32 "-foo", "/nix/store/"},
	};
	char why[CL_WHY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why[0] = '\0';
		assert_int_equal(
		    nix_store_path_check(cases[i].s, strlen(cases[i].s), why), CL_EINVAL);
		if (strstr(why, cases[i].needle) == NULL)
			fail_msg("reason \"%s\" does not mention %s", why, cases[i].needle);
	}
}

/* Every byte, in the hash part and in the name, against a naive model of
 * the two alphabets (nix.c looks both up by table). */
static void
test_store_path_bytes(void **state)
{
	static const char nix32[] = "0123456789abcdfghijklmnpqrsvwxyz";
	static const char name_extra[] = "+-._?=";
	char s[sizeof SP + 8], why[CL_WHY_MAX];
	size_t base = strlen(SP);

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		bool digit = c != 0 && strchr(nix32, (int)c) != NULL;
		bool name = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c != 0 && strchr(name_extra, (int)c) != NULL);

		/* Every position of the hash part. */
		for (size_t k = base - 33; k < base - 1; k++) {
			memcpy(s, SP "foo", base + 3);
			s[k] = (char)c;
			if ((nix_store_path_check(s, base + 3, why) == 0) != digit)
				fail_msg("byte 0x%02x at offset %zu of the hash part", c, k);
		}
		/* The middle of a name, where no rule but the alphabet applies. */
		memcpy(s, SP "fxo", base + 3);
		s[base + 1] = (char)c;
		if ((nix_store_path_check(s, base + 3, why) == 0) != name)
			fail_msg("byte 0x%02x in a name", c);
	}
}

/* ---- Hashes that must be refused ---- */

#define Z64  "0000000000000000000000000000000000000000000000000000000000000000"
#define Z52  "0000000000000000000000000000000000000000000000000000"
#define Z44  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define Z128 Z64 Z64

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	enum nix_algo def;
} bad_hashes[] = {
    /* Empty, or nothing after the prefix. */
    {"", 0, 0},
    {"", 0, NIX_SHA256},
    {"sha256", 0, 0},
    {"sha256:", 0, 0},
    {"sha256-", 0, 0},
    {":" Z64, 0, 0},
    {"-" Z44, 0, 0},
    /* Unknown or misspelt algorithms. */
    {"SHA256:" Z64, 0, 0},
    {"Sha256-" Z44, 0, 0},
    {"sha3:" Z64, 0, 0},
    {"sha-256:" Z64, 0, 0},
    {"blake3-" Z44, 0, 0},
    {"sha256 :" Z64, 0, 0},
    {" sha256:" Z64, 0, 0},
    {"sha25\xc3\xa9:" Z64, 0, 0},
    {"a_very_long_algorithm_name:" Z64, 0, 0},
    /* Lengths that fit no encoding. */
    {"sha256:" Z64 "0", 0, 0},
    {"sha256:" Z52 "0", 0, 0},
    {"sha256:" Z52 "00", 0, 0},
    {"sha256:000000000000000000000000000000000000000000000000000", 0, 0},
    {"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0},
    {"sha256-" Z44 "=", 0, 0},
    {"sha256-" Z44 "A", 0, 0},
    {"sha1:" Z64, 0, 0},
    {"md5:" Z64, 0, 0},
    {"sha512:" Z64, 0, 0},
    {"sha512:" Z128 "0", 0, 0},
    {"sha512:" Z128 Z128, 0, 0},
    {Z64 "0", 0, NIX_SHA256},
    {Z64, 0, NIX_SHA512},
    /* Garbage around a good digest. */
    {"sha256:" Z64 "\n", 0, 0},
    {"sha256:" Z64 " ", 0, 0},
    {"sha256-" Z44 "\n", 0, 0},
    {"sha256:" Z64 "\0", sizeof("sha256:" Z64 "\0") - 1, 0},
    {"sha256:" Z52 "\0", sizeof("sha256:" Z52 "\0") - 1, 0},
    {"sha256:sha256-" Z44, 0, 0},
    {"sha256-sha256-" Z44, 0, 0},
    /* Characters outside the encoding that the length says. */
    {"sha256:g000000000000000000000000000000000000000000000000000000000000000", 0, 0},
    {"sha256:00000000000000000000000000000000000000000000000000000000000000x0", 0, 0},
    {"sha256:0000000000000000000000000000000000000000000000000000000000000-00", 0, 0},
    {"sha256:00000000000000000000000000000000000000000000000000e0", 0, 0},
    {"sha256:00000000000000000000000000000000000000000000000000o0", 0, 0},
    {"sha256:00000000000000000000000000000000000000000000000000t0", 0, 0},
    {"sha256:00000000000000000000000000000000000000000000000000u0", 0, 0},
    {"sha256:0000000000000000000000000000000000000000000000000A00", 0, 0},
    {"sha256:2000000000000000000000000000000000000000000000000000", 0, 0},
    {"sha256:z000000000000000000000000000000000000000000000000000", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-=", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_=", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAA=", 0, 0},
    {"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0},
    {"sha256-=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0, 0},
    /* Non-zero bits past the digest in the last base64 digit. */
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 0, 0},
    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", 0, 0},
    {"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD=", 0, 0},
    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 0, NIX_SHA256},
    {"md5-AAAAAAAAAAAAAAAAAAAAAB==", 0, 0},
    /* SRI is never base16 or nix32. */
    {"sha256-" Z64, 0, 0},
    {"sha256-" Z52, 0, 0},
    /* Bare digests with no default, or an unknown default. */
    {Z64, 0, 0},
    {Z52, 0, 0},
    {Z44, 0, 0},
    {Z64, 0, (enum nix_algo)7},
    {"sha256:" Z64, 0, (enum nix_algo)7},
};

static void
test_bad_hashes(void **state)
{
	char big[512];

	(void)state;
	for (size_t i = 0; i < sizeof bad_hashes / sizeof bad_hashes[0]; i++) {
		const char *s = bad_hashes[i].s;
		size_t len = bad_hashes[i].len ? bad_hashes[i].len : strlen(s);

		parse_bad(s, len, bad_hashes[i].def);
	}
	/* Too long to be any hash, whatever it holds. */
	memset(big, '0', sizeof big);
	memcpy(big, "sha256:", 7);
	for (size_t len = NIX_HASH_STR_MAX; len <= sizeof big; len++)
		parse_bad(big, len, 0);
	parse_bad(NULL, 0, NIX_SHA256);
}

/* The zero digest in each spelling, as a control for the table above. */
static void
test_good_hashes(void **state)
{
	static const uint8_t zero[64];
	static const char *ok[] = {
	    "sha256:" Z64,
	    "sha256:" Z52,
	    "sha256:" Z44,
	    "sha256-" Z44,
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sha512:" Z128,
	    "md5-AAAAAAAAAAAAAAAAAAAAAA==",
	    "md5-AAAAAAAAAAAAAAAAAAAAAA",
	    "sha1:00000000000000000000000000000000",
	};
	struct nix_hash h;
	char why[CL_WHY_MAX] = "";

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (nix_hash_parse(ok[i], strlen(ok[i]), 0, &h, why) != 0)
			fail_msg("\"%s\" refused: %s", ok[i], why);
		assert_memory_equal(h.bytes, zero, sizeof zero);
	}
	assert_int_equal(nix_hash_parse(Z64, 64, NIX_SHA256, &h, why), 0);
	assert_int_equal(h.algo, NIX_SHA256);
	assert_int_equal(nix_hash_parse(Z64, 32, NIX_MD5, &h, why), 0);
	assert_int_equal(h.algo, NIX_MD5);
	assert_int_equal(h.len, 16);
	assert_int_equal(nix_hash_parse(Z52, 32, NIX_SHA1, &h, why), 0);
	assert_int_equal(h.algo, NIX_SHA1);
	/* 20 bytes fill 32 nix32 digits exactly: any leading digit fits. */
	assert_int_equal(
	    nix_hash_parse("sha1:z0000000000000000000000000000000", 37, 0, &h, why), 0);
	assert_int_equal(h.bytes[19], 0xf8);
}

/* Reasons for bad hashes name the field, place and problem. */
static void
test_hash_reasons(void **state)
{
	static const struct {
		const char *s;
		enum nix_algo def;
		const char *needle;
	} cases[] = {
	    {"sha256:00000000000000000000000000000000000000000000000000e0", 0, "'e' at offset 57"},
	    {"sha256:2000000000000000000000000000000000000000000000000000", 0, "beyond 32 bytes"},
	    {"sha256:" Z64 "0", 0, "65 characters"},
	    {"sha3:" Z64, 0, "\"sha3\""},
	    {Z64, 0, "prefix"},
	    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 0, "trailing bits"},
	    {"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 0, "offset 49"},
	    {"sha256-AAAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0, "'*' at offset 11"},
	    {"sha256-AAAA\x80"
	     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	        0, "0x80 at offset 11"},
	    {"sha256:" Z64, 0, NULL},
	    {"sha256:000000000000000000000000000000000000000000000000000000000000000g", 0,
	        "'g' at offset 70"},
	    {"sha256:00000000000000000000000000000000000000000000000000000000000000g0", 0,
	        "'g' at offset 69"},
	};
	struct nix_hash h;
	char why[CL_WHY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why[0] = '\0';
		if (cases[i].needle == NULL) { /* the valid spelling the others alter */
			assert_int_equal(
			    nix_hash_parse(cases[i].s, strlen(cases[i].s), cases[i].def, &h, why),
			    0);
			continue;
		}
		assert_int_equal(
		    nix_hash_parse(cases[i].s, strlen(cases[i].s), cases[i].def, &h, why),
		    CL_EINVAL);
		if (strstr(why, cases[i].needle) == NULL)
			fail_msg("reason \"%s\" does not mention %s", why, cases[i].needle);
	}
}

/* ---- nix32 itself, SRI output limits, algorithm names ---- */

static void
test_base32_lengths(void **state)
{
	(void)state;
	assert_int_equal(nix_base32_len(16), 26);
	assert_int_equal(nix_base32_len(20), 32);
	assert_int_equal(nix_base32_len(32), 52);
	assert_int_equal(nix_base32_len(64), 103);
	for (size_t n = 1; n < 1000; n++)
		assert_int_equal(nix_base32_len(n), (8 * n - 1) / 5 + 1);
	assert_int_equal(nix_base32_len(0), 0);
	{
		uint8_t out[1];

		assert_int_equal(nix_base32_decode(NULL, 2, out, 1), CL_EINVAL);
		assert_int_equal(nix_base32_decode(NULL, 0, out, 0), 0);
	}
}

static void
test_base32_roundtrip(void **state)
{
	static const size_t lens[] = {16, 20, 32, 64};
	static const enum nix_algo algs[] = {NIX_MD5, NIX_SHA1, NIX_SHA256, NIX_SHA512};

	(void)state;
	for (size_t li = 0; li < 4; li++) {
		size_t n = lens[li], m = nix_base32_len(n);

		for (int iter = 0; iter < 2000; iter++) {
			uint8_t in[64], out[64];
			char enc[128], s[160], sri[NIX_HASH_STR_MAX];
			struct nix_hash h;

			randombytes_buf(in, n);
			if (iter == 0)
				memset(in, 0, n);
			if (iter == 1)
				memset(in, 0xff, n);
			nix_base32_encode(in, n, enc);
			assert_int_equal(strlen(enc), m);
			assert_int_equal(nix_base32_decode(enc, m, out, n), 0);
			assert_memory_equal(out, in, n);
			/* The wrong length never decodes. */
			assert_int_equal(nix_base32_decode(enc, m - 1, out, n), CL_EINVAL);
			/* Through the parser and SRI and back again. */
			FMT(s, "%s:%s", nix_algo_name(algs[li]), enc);
			assert_int_equal(nix_hash_parse(s, strlen(s), 0, &h, NULL), 0);
			assert_memory_equal(h.bytes, in, n);
			assert_true(nix_hash_sri(&h, sri, sizeof sri) > 0);
			memset(&h, 0, sizeof h);
			assert_int_equal(nix_hash_parse(sri, strlen(sri), 0, &h, NULL), 0);
			assert_int_equal(h.algo, algs[li]);
			assert_memory_equal(h.bytes, in, n);
		}
	}
	/* Other lengths too, including an empty one. */
	for (size_t n = 0; n <= 70; n++) {
		uint8_t in[70], out[70];
		char enc[128];

		randombytes_buf(in, sizeof in);
		nix_base32_encode(in, n, enc);
		assert_int_equal(strlen(enc), nix_base32_len(n));
		assert_int_equal(nix_base32_decode(enc, strlen(enc), out, n), 0);
		assert_memory_equal(out, in, n);
	}
}

/* Exactly the leading digits that fit in the byte length decode. */
static void
test_base32_excess_bits(void **state)
{
	static const char alpha[] = "0123456789abcdfghijklmnpqrsvwxyz";
	static const size_t lens[] = {16, 20, 32, 64};

	(void)state;
	for (size_t li = 0; li < 4; li++) {
		size_t n = lens[li], m = nix_base32_len(n);
		unsigned spare = (unsigned)(5 * m - 8 * n); /* unused top bits */

		for (unsigned d = 0; d < 32; d++) {
			char s[128];
			uint8_t out[64];
			int want = (d >> (5 - spare)) == 0 ? 0 : CL_EINVAL;

			memset(s, '0', m);
			s[0] = alpha[d];
			memset(out, 0xa5, sizeof out);
			assert_int_equal(nix_base32_decode(s, m, out, n), want);
			if (want != 0) {
				for (size_t k = 0; k < n; k++)
					assert_int_equal(out[k], 0);
			}
		}
	}
	/* Every non-alphabet byte is refused, wherever it is. */
	for (int c = 0; c < 256; c++) {
		char s[52];
		uint8_t out[32];

		if (c != 0 && memchr(alpha, c, 32) != NULL)
			continue;
		for (size_t pos = 0; pos < sizeof s; pos++) {
			memset(s, '0', sizeof s);
			s[pos] = (char)c;
			assert_int_equal(nix_base32_decode(s, sizeof s, out, 32), CL_EINVAL);
		}
	}
}

static void
test_sri_output(void **state)
{
	struct nix_hash h;
	char out[NIX_HASH_STR_MAX];

	(void)state;
	memset(&h, 0, sizeof h);
	h.algo = NIX_SHA256;
	h.len = 32;
	assert_int_equal(nix_hash_sri(&h, out, sizeof out), NIX_SRI_SHA256_LEN);
	assert_string_equal(out, "sha256-" Z44);
	assert_int_equal(nix_hash_sri(&h, out, NIX_SRI_SHA256_LEN + 1), NIX_SRI_SHA256_LEN);
	for (size_t cap = 0; cap <= NIX_SRI_SHA256_LEN; cap++) {
		memset(out, 'x', sizeof out);
		assert_int_equal(nix_hash_sri(&h, out, cap), 0);
		if (cap > 0)
			assert_int_equal(out[0], '\0');
	}
	/* An inconsistent hash is not formatted. */
	h.len = 20;
	assert_int_equal(nix_hash_sri(&h, out, sizeof out), 0);
	h.algo = 0;
	h.len = 32;
	assert_int_equal(nix_hash_sri(&h, out, sizeof out), 0);
	h.algo = NIX_SHA512;
	h.len = 64;
	assert_true(nix_hash_sri(&h, out, sizeof out) < NIX_HASH_STR_MAX);
}

static void
test_algo_names(void **state)
{
	(void)state;
	assert_string_equal(nix_algo_name(NIX_MD5), "md5");
	assert_string_equal(nix_algo_name(NIX_SHA1), "sha1");
	assert_string_equal(nix_algo_name(NIX_SHA256), "sha256");
	assert_string_equal(nix_algo_name(NIX_SHA512), "sha512");
	assert_null(nix_algo_name(0));
	assert_null(nix_algo_name((enum nix_algo)5));
	assert_null(nix_algo_name((enum nix_algo) - 1));
}

/* narHash refusals beyond those the vectors give rise to. */
static void
test_nar_hash_bad(void **state)
{
	static const char *bad[] = {
	    "",
	    "sha256-",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-A",
	    "sha256_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	    " sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "sha256:" Z64,
	    "sha256:" Z52,
	    Z44,
	};
	char why[CL_WHY_MAX], big[300];
	uint8_t d[32];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		memset(d, 0xa5, sizeof d);
		if (nix_nar_hash_check(bad[i], strlen(bad[i]), d, why) != CL_EINVAL)
			fail_msg("narHash \"%s\" accepted", bad[i]);
		assert_reason(why, bad[i]);
		for (size_t k = 0; k < 32; k++)
			assert_int_equal(d[k], 0);
	}
	assert_int_equal(nix_nar_hash_check("sha256-" Z44, 51, d, why), 0);
	assert_int_equal(nix_nar_hash_check("sha256-" Z44 "\0", 52, d, why), CL_EINVAL);
	assert_int_equal(nix_nar_hash_check(NULL, 0, d, why), CL_EINVAL);
	memset(big, 'A', sizeof big);
	memcpy(big, "sha256-", 7);
	assert_int_equal(nix_nar_hash_check(big, sizeof big, NULL, why), CL_EINVAL);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nix32_cases),
	    cmocka_unit_test(test_nix32_invalid),
	    cmocka_unit_test(test_sri_unpadded_note),
	    cmocka_unit_test(test_nar_vectors),
	    cmocka_unit_test(test_store_paths),
	    cmocka_unit_test(test_store_path_lengths),
	    cmocka_unit_test(test_store_path_reasons),
	    cmocka_unit_test(test_store_path_bytes),
	    cmocka_unit_test(test_bad_hashes),
	    cmocka_unit_test(test_good_hashes),
	    cmocka_unit_test(test_hash_reasons),
	    cmocka_unit_test(test_base32_lengths),
	    cmocka_unit_test(test_base32_roundtrip),
	    cmocka_unit_test(test_base32_excess_bits),
	    cmocka_unit_test(test_sri_output),
	    cmocka_unit_test(test_algo_names),
	    cmocka_unit_test(test_nar_hash_bad),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
