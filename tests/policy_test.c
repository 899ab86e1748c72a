/*
 * policy_test.c: the policy decision C API of libclosurelog-verify
 * (closurelog_policy_load / closurelog_policy_decide).  Every condition of
 * the Rego rule, allowed and denied, with its exact reason; the refusal of
 * every kind of malformed data document; the policy ID; a differential
 * test against a direct transliteration of the Rego rule over the JSON
 * document on random policies and requests; no allocation during
 * decisions (the test links with -Wl,--wrap=malloc,...); concurrent
 * decisions on one policy from several threads; closurelog_nar_hash.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "nix.h"
#include "testutil.h"

/* ---- Allocation counting ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static volatile unsigned long n_allocs;

void *
__wrap_malloc(size_t n)
{
	__atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	__atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	__atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
	return __real_realloc(p, n);
}

/* ---- Fixtures ---- */

#define FMT(buf, ...) assert_true(snprintf(buf, sizeof buf, __VA_ARGS__) < (int)sizeof buf)

static const char nix32[] = "0123456789abcdfghijklmnpqrsvwxyz";

/* A valid store path for a number, in one of 8 rotating buffers. */
static const char *
sp(unsigned n)
{
	static char buf[8][128];
	static unsigned at;
	char *p = buf[at++ % 8], *h = p + 11;

	memcpy(p, "/nix/store/", 11);
	for (int i = 0; i < 32; i++)
		h[i] = nix32[(n * 7 + (unsigned)i * (n % 5 + 1)) % 32];
	snprintf(h + 32, 40, "-app-%u", n);
	return p;
}

/* The SRI narHash of a number, in one of 8 rotating buffers. */
static const char *
nh(unsigned n)
{
	static char buf[8][64];
	static unsigned at;
	struct nix_hash h = {.algo = NIX_SHA256, .len = 32};
	char *p = buf[at++ % 8];

	crypto_hash_sha256(h.bytes, (const uint8_t *)&n, sizeof n);
	assert_true(nix_hash_sri(&h, p, 64) > 0);
	return p;
}

/* The same narHash in nix32 ("sha256:<nix32>"). */
static const char *
nh32(unsigned n)
{
	static char buf[80];
	uint8_t d[32];

	crypto_hash_sha256(d, (const uint8_t *)&n, sizeof n);
	memcpy(buf, "sha256:", 7);
	nix_base32_encode(d, 32, buf + 7);
	return buf;
}

/* Roots of the fixture policy. */
enum { A = 1, B, C, D, E, F, X, Z };

/* A: approved, successors B and C.  B: recorded, not approved.  C: named
 * as a successor, never recorded.  D: approved, no successors.  E:
 * recorded, not approved, successor F.  F: recorded, not approved.  X: a
 * conflict.  Z: never mentioned. */
static json_t *
fixture_doc(void)
{
	json_t *roots = json_object(), *doc;

	json_object_set_new(roots, sp(A),
	    json_pack("{s:s, s:[s,s], s:[{s:i}]}", "narHash", nh(A), "successors", sp(B), sp(C),
	        "provenance", "index", 3));
	json_object_set_new(roots, sp(B), json_pack("{s:s, s:[]}", "narHash", nh(B), "successors"));
	json_object_set_new(roots, sp(D), json_pack("{s:s, s:[]}", "narHash", nh(D), "successors"));
	json_object_set_new(
	    roots, sp(E), json_pack("{s:s, s:[s]}", "narHash", nh(E), "successors", sp(F)));
	json_object_set_new(roots, sp(F), json_pack("{s:s, s:[]}", "narHash", nh(F), "successors"));
	doc = json_pack("{s:{s:[s,s], s:o, s:{s:[{s:i},{s:i}]}}, s:{s:i}, s:{s:s}}", "nix",
	    "approved_roots", sp(A), sp(D), "roots", roots, "conflicts", sp(X), "index", 5, "index",
	    9, "policies", "max_minutes", 15, "extra", "note", "ignored");
	assert_non_null(doc);
	return doc;
}

static char *
dump(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	return s;
}

static struct closurelog_policy *
load_ok(const char *text, const char *revision)
{
	struct closurelog_policy *p = NULL;
	char err[CLOSURELOG_ERR_MAX];

	if (closurelog_policy_load(
	        (const uint8_t *)text, strlen(text), revision, &p, err, sizeof err) != 0)
		fail_msg("policy refused: %s", err);
	assert_non_null(p);
	return p;
}

static struct closurelog_policy *
fixture(void)
{
	json_t *doc = fixture_doc();
	char *s = dump(doc);
	struct closurelog_policy *p = load_ok(s, "test-rev");

	free(s);
	json_decref(doc);
	return p;
}

/* ---- Every rule, allowed and denied ---- */

#define NOPREV 0
#define NOMIN  UINT64_MAX

static void
test_rules(void **state)
{
	static const struct {
		unsigned root;
		int nar; /* the root's narHash number; negative: nix32 form of -nar */
		unsigned prev;
		uint64_t minutes;
		int allow;
		const char *reasons[4]; /* with %R root, %P prev, %H recorded, %N presented */
	} cases[] = {
	    /* rule 1: approved root, recorded narHash, lifetime within policy */
	    {A, A, NOPREV, 15, 1, {NULL}},
	    {A, A, NOPREV, 0, 1, {NULL}},
	    {A, -A, NOPREV, 10, 1, {NULL}},
	    {D, D, NOPREV, 1, 1, {NULL}},
	    {A, A, NOPREV, 16, 0, {"requested 16 minutes, policy allows 15"}},
	    {A, A, NOPREV, NOMIN, 0, {"no requested lifetime; policy allows 15 minutes"}},
	    {A, B, NOPREV, 15, 0, {"narHash mismatch for %R: recorded %H, presented %N"}},
	    {B, B, NOPREV, 15, 0, {"%R is not an approved root"}},
	    {Z, Z, NOPREV, 15, 0, {"%R is not an approved root", "no narHash is recorded for %R"}},
	    {X, X, NOPREV, 15, 0,
	        {"%R is not an approved root",
	            "no narHash is recorded for %R: the log holds conflicting narHashes for it"}},
	    /* rule 2: a successor of the previous root */
	    {B, B, A, 15, 1, {NULL}},
	    {B, -B, A, 15, 1, {NULL}},
	    {F, F, E, 15, 1, {NULL}}, /* the Rego does not ask that prev_root be approved */
	    {D, D, A, 15, 1, {NULL}}, /* approved on its own: rule 1 */
	    {B, B, D, 15, 0, {"%R is not an approved root", "%R is not a successor of %P"}},
	    {B, B, B, 15, 0, {"%R is not an approved root", "%R is not a successor of %P"}},
	    {B, B, Z, 15, 0,
	        {"%R is not an approved root", "previous root %P is not recorded in the policy"}},
	    {C, C, A, 15, 0, {"no narHash is recorded for %R"}},
	    {B, A, A, 15, 0, {"narHash mismatch for %R: recorded %H, presented %N"}},
	    {B, B, A, 30, 0, {"requested 30 minutes, policy allows 15"}},
	    {A, A, E, 15, 1, {NULL}}, /* a failed rule 2 does not hide rule 1 */
	    /* everything wrong at once: one reason each */
	    {B, D, D, 99, 0,
	        {"%R is not an approved root", "%R is not a successor of %P",
	            "narHash mismatch for %R: recorded %H, presented %N",
	            "requested 99 minutes, policy allows 15"}},
	};
	struct closurelog_policy *p = fixture();

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct closurelog_request req = {0};
		struct closurelog_decision d;
		uint64_t m = cases[i].minutes;
		char root[128], prev[128], presented[64], want[CLOSURELOG_REASON_MAX];
		size_t n = 0;

		snprintf(root, sizeof root, "%s", sp(cases[i].root));
		snprintf(prev, sizeof prev, "%s", sp(cases[i].prev));
		snprintf(presented, sizeof presented, "%s",
		    nh((unsigned)(cases[i].nar < 0 ? -cases[i].nar : cases[i].nar)));
		req.root = root;
		req.nar_hash = cases[i].nar < 0 ? nh32((unsigned)-cases[i].nar) : presented;
		req.prev_root = cases[i].prev == NOPREV ? NULL : prev;
		req.requested_minutes = m == NOMIN ? NULL : &m;
		assert_int_equal(closurelog_policy_decide(p, &req, &d), 0);
		if (d.allow != cases[i].allow)
			fail_msg("case %zu: allow %d, want %d (%s)", i, d.allow, cases[i].allow,
			    d.n_reasons > 0 ? d.reasons[0] : "");
		assert_string_equal(d.policy_id, "test-rev");
		assert_string_equal(d.env_hash, presented);
		while (n < 4 && cases[i].reasons[n] != NULL)
			n++;
		if (d.n_reasons != n)
			fail_msg("case %zu: %zu reasons, want %zu (first: %s)", i, d.n_reasons, n,
			    d.n_reasons > 0 ? d.reasons[0] : "");
		for (size_t k = 0; k < n; k++) {
			/* Expand %R %P %H %N. */
			const char *t = cases[i].reasons[k];
			size_t o = 0;

			for (; *t != '\0'; t++) {
				const char *sub = NULL;

				if (t[0] == '%' && t[1] != '\0') {
					switch (t[1]) {
					case 'R':
						sub = root;
						break;
					case 'P':
						sub = prev;
						break;
					case 'H':
						sub = nh(cases[i].root);
						break;
					case 'N':
						sub = presented;
						break;
					}
				}
				if (sub != NULL) {
					o += (size_t)snprintf(want + o, sizeof want - o, "%s", sub);
					t++;
				} else {
					want[o++] = *t;
				}
			}
			want[o] = '\0';
			if (strcmp(d.reasons[k], want) != 0)
				fail_msg("case %zu reason %zu:\n  got  %s\n  want %s", i, k,
				    d.reasons[k], want);
		}
	}
	closurelog_policy_free(p);
}

static void
test_bad_requests(void **state)
{
	struct closurelog_policy *p = fixture();
	struct closurelog_decision d;
	uint64_t m = 5;
	char root[128];
	struct {
		const char *root, *nar, *prev, *what;
	} cases[] = {
	    {"/nix/store/foo", "x", NULL, "root: "},
	    {NULL, NULL, NULL, "root: missing"},
	    {root, "sha256-xyz", NULL, "narHash: "},
	    {root, NULL, NULL, "narHash: missing"},
	    {root, "sha1:vw46m23bizj4n8afrc0fj19wrp7mj3c0", NULL,
	        "narHash: a narHash is always sha256"},
	    {root, "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "/nix/store/x",
	        "previous root: "},
	};

	(void)state;
	snprintf(root, sizeof root, "%s", sp(A));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct closurelog_request req = {cases[i].root, cases[i].nar, cases[i].prev, &m};

		assert_int_equal(closurelog_policy_decide(p, &req, &d), CLOSURELOG_EUSAGE);
		assert_int_equal(d.allow, 0);
		assert_int_equal(d.n_reasons, 1);
		if (strncmp(d.reasons[0], cases[i].what, strlen(cases[i].what)) != 0)
			fail_msg("case %zu: reason \"%s\", want \"%s...\"", i, d.reasons[0],
			    cases[i].what);
	}
	assert_int_equal(closurelog_policy_decide(NULL, NULL, &d), CLOSURELOG_EUSAGE);
	assert_int_equal(d.allow, 0);
	assert_int_equal(closurelog_policy_decide(p, NULL, NULL), CLOSURELOG_EUSAGE);
	closurelog_policy_free(p);
}

/* ---- Refused documents ---- */

/* Apply one change to the fixture document. */
typedef void (*mutate_fn)(json_t *doc);

static json_t *
roots_of(json_t *doc)
{
	return json_object_get(json_object_get(doc, "nix"), "roots");
}

static void
m_drop_nix(json_t *doc)
{
	json_object_del(doc, "nix");
}
static void
m_drop_roots(json_t *doc)
{
	json_object_del(json_object_get(doc, "nix"), "roots");
}
static void
m_roots_array(json_t *doc)
{
	json_object_set_new(json_object_get(doc, "nix"), "roots", json_array());
}
static void
m_drop_approved(json_t *doc)
{
	json_object_del(json_object_get(doc, "nix"), "approved_roots");
}
static void
m_drop_policies(json_t *doc)
{
	json_object_del(doc, "policies");
}
static void
m_minutes_neg(json_t *doc)
{
	json_object_set_new(json_object_get(doc, "policies"), "max_minutes", json_integer(-1));
}
static void
m_minutes_real(json_t *doc)
{
	json_object_set_new(json_object_get(doc, "policies"), "max_minutes", json_real(1.5));
}
static void
m_minutes_str(json_t *doc)
{
	json_object_set_new(json_object_get(doc, "policies"), "max_minutes", json_string("15"));
}
static void
m_minutes_big(json_t *doc)
{
	json_object_set_new(json_object_get(doc, "policies"), "max_minutes",
	    json_integer(CLOSURELOG_POLICY_MINUTES_MAX + 1));
}
static void
m_nar_unpadded(json_t *doc)
{
	char s[64];

	snprintf(s, sizeof s, "%s", nh(A));
	s[strlen(s) - 1] = '\0';
	json_object_set_new(json_object_get(roots_of(doc), sp(A)), "narHash", json_string(s));
}
static void
m_nar_nix32(json_t *doc)
{
	json_object_set_new(json_object_get(roots_of(doc), sp(A)), "narHash", json_string(nh32(A)));
}
static void
m_nar_missing(json_t *doc)
{
	json_object_del(json_object_get(roots_of(doc), sp(B)), "narHash");
}
static void
m_root_key(json_t *doc)
{
	json_object_set_new(roots_of(doc), "/nix/store/notahash-app",
	    json_pack("{s:s, s:[]}", "narHash", nh(A), "successors"));
}
static void
m_root_not_object(json_t *doc)
{
	json_object_set_new(roots_of(doc), sp(Z), json_string(nh(Z)));
}
static void
m_succ_missing(json_t *doc)
{
	json_object_del(json_object_get(roots_of(doc), sp(B)), "successors");
}
static void
m_succ_bad(json_t *doc)
{
	json_array_append_new(json_object_get(json_object_get(roots_of(doc), sp(B)), "successors"),
	    json_string("/nix/store/x"));
}
static void
m_succ_self(json_t *doc)
{
	json_array_append_new(json_object_get(json_object_get(roots_of(doc), sp(B)), "successors"),
	    json_string(sp(B)));
}
static void
m_succ_twice(json_t *doc)
{
	json_array_append_new(json_object_get(json_object_get(roots_of(doc), sp(A)), "successors"),
	    json_string(sp(C)));
}
static void
m_succ_number(json_t *doc)
{
	json_array_append_new(
	    json_object_get(json_object_get(roots_of(doc), sp(A)), "successors"), json_integer(1));
}
static void
m_approved_unrecorded(json_t *doc)
{
	json_array_append_new(
	    json_object_get(json_object_get(doc, "nix"), "approved_roots"), json_string(sp(C)));
}
static void
m_approved_twice(json_t *doc)
{
	json_array_append_new(
	    json_object_get(json_object_get(doc, "nix"), "approved_roots"), json_string(sp(A)));
}
static void
m_approved_bad(json_t *doc)
{
	json_array_append_new(
	    json_object_get(json_object_get(doc, "nix"), "approved_roots"), json_true());
}
static void
m_conflict_recorded(json_t *doc)
{
	json_object_set_new(
	    json_object_get(json_object_get(doc, "nix"), "conflicts"), sp(B), json_array());
}
static void
m_conflict_not_array(json_t *doc)
{
	json_object_set_new(
	    json_object_get(json_object_get(doc, "nix"), "conflicts"), sp(Z), json_integer(1));
}
static void
m_revision_bad(json_t *doc)
{
	json_object_set_new(doc, "closurelog", json_pack("{s:s}", "revision", "a\nb"));
}
static void
m_revision_other(json_t *doc)
{
	json_object_set_new(doc, "closurelog", json_pack("{s:s}", "revision", "other-rev"));
}

static void
test_refused_documents(void **state)
{
	static const struct {
		mutate_fn f;
		const char *what;
	} cases[] = {
	    {m_drop_nix, "nix: missing"},
	    {m_drop_roots, "nix.roots: missing"},
	    {m_roots_array, "nix.roots: missing or not an object"},
	    {m_drop_approved, "nix.approved_roots: missing"},
	    {m_drop_policies, "policies: missing"},
	    {m_minutes_neg, "policies.max_minutes"},
	    {m_minutes_real, "policies.max_minutes"},
	    {m_minutes_str, "policies.max_minutes"},
	    {m_minutes_big, "policies.max_minutes"},
	    {m_nar_unpadded, ".narHash: "},
	    {m_nar_nix32, ".narHash: "},
	    {m_nar_missing, ".narHash: missing"},
	    {m_root_key, "nix.roots key \"/nix/store/notahash-app\""},
	    {m_root_not_object, "not an object"},
	    {m_succ_missing, ".successors: missing"},
	    {m_succ_bad, ".successors[0]: "},
	    {m_succ_self, "is the root itself"},
	    {m_succ_twice, "is listed twice"},
	    {m_succ_number, ".successors[2]: not a string"},
	    {m_approved_unrecorded, "has no entry in nix.roots"},
	    {m_approved_twice, "is listed twice"},
	    {m_approved_bad, "nix.approved_roots[2]: not a string"},
	    {m_conflict_recorded, "also has an entry in nix.roots"},
	    {m_conflict_not_array, "not an array"},
	    {m_revision_bad, "closurelog.revision"},
	    {m_revision_other, "is not the document's closurelog.revision"},
	};
	static const char *const texts[][2] = {
	    {"", "empty"},
	    {"[]", "not a JSON object"},
	    {"{\"nix\": 1", "line 1"},
	    {"{} {}", "line 1"},
	    {"{\"nix\":{},\"nix\":{}}", "duplicate"},
	    {"{\"nix\":\"\xff\"}", "unable to decode byte"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *doc = fixture_doc();
		struct closurelog_policy *p = NULL;
		char *s, err[CLOSURELOG_ERR_MAX] = "";

		cases[i].f(doc);
		s = dump(doc);
		assert_int_equal(closurelog_policy_load((const uint8_t *)s, strlen(s), "test-rev",
		                     &p, err, sizeof err),
		    CLOSURELOG_EMALFORMED);
		assert_null(p);
		if (strstr(err, cases[i].what) == NULL)
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, err, cases[i].what);
		free(s);
		json_decref(doc);
	}
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct closurelog_policy *p = NULL;
		char err[CLOSURELOG_ERR_MAX] = "";

		assert_int_equal(closurelog_policy_load((const uint8_t *)texts[i][0],
		                     strlen(texts[i][0]), NULL, &p, err, sizeof err),
		    CLOSURELOG_EMALFORMED);
		if (strstr(err, texts[i][1]) == NULL)
			fail_msg("text %zu: reason \"%s\" lacks \"%s\"", i, err, texts[i][1]);
	}
	/* Over the size cap: refused before parsing. */
	{
		struct closurelog_policy *p = NULL;
		char err[CLOSURELOG_ERR_MAX];

		assert_int_equal(closurelog_policy_load((const uint8_t *)"{}",
		                     (size_t)CLOSURELOG_POLICY_MAX + 1, NULL, &p, err, sizeof err),
		    CLOSURELOG_EMALFORMED);
		assert_non_null(strstr(err, "more than"));
		assert_int_equal(closurelog_policy_load(NULL, 0, "bad\x01", &p, err, sizeof err),
		    CLOSURELOG_EUSAGE);
		assert_int_equal(closurelog_policy_load(NULL, 0, NULL, NULL, err, sizeof err),
		    CLOSURELOG_EUSAGE);
	}
}

static void
test_policy_id(void **state)
{
	json_t *doc = fixture_doc();
	char *s = dump(doc), want[80];
	struct closurelog_policy *p;
	uint8_t d[32];

	(void)state;
	/* The bundle's revision. */
	p = load_ok(s, "bundle-rev");
	assert_string_equal(closurelog_policy_id(p), "bundle-rev");
	assert_int_equal(closurelog_policy_max_minutes(p), 15);
	closurelog_policy_free(p);
	/* No revision anywhere: the document's digest. */
	p = load_ok(s, NULL);
	crypto_hash_sha256(d, (const uint8_t *)s, strlen(s));
	memcpy(want, "sha256-", 7);
	cl_b64_encode(d, 32, want + 7, sizeof want - 7);
	assert_string_equal(closurelog_policy_id(p), want);
	closurelog_policy_free(p);
	free(s);
	/* The document's own revision, which a bundle revision must equal. */
	json_object_set_new(doc, "closurelog", json_pack("{s:s}", "revision", "doc-rev"));
	s = dump(doc);
	p = load_ok(s, NULL);
	assert_string_equal(closurelog_policy_id(p), "doc-rev");
	closurelog_policy_free(p);
	p = load_ok(s, "doc-rev");
	assert_string_equal(closurelog_policy_id(p), "doc-rev");
	closurelog_policy_free(p);
	free(s);
	json_decref(doc);
}

/* ---- Differential: the Rego rule over the JSON document itself ---- */

static bool
json_has_str(const json_t *arr, const char *s)
{
	size_t i;
	const json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* Rego: allow if { root in approved; narHash == roots[root].narHash;
 * minutes <= max } or { some s in roots[prev].successors; s == root;
 * narHash == roots[root].narHash; minutes <= max }. */
static bool
rego_allow(
    const json_t *doc, const char *root, const char *nar, const char *prev, const uint64_t *minutes)
{
	const json_t *nix = json_object_get(doc, "nix");
	const json_t *roots = json_object_get(nix, "roots");
	const json_t *r = json_object_get(roots, root);
	const json_t *rn = json_object_get(r, "narHash");
	json_int_t max =
	    json_integer_value(json_object_get(json_object_get(doc, "policies"), "max_minutes"));
	bool common = rn != NULL && strcmp(json_string_value(rn), nar) == 0 && minutes != NULL &&
	    (json_int_t)*minutes <= max;
	bool rule1 = json_has_str(json_object_get(nix, "approved_roots"), root) && common;
	bool rule2 = prev != NULL &&
	    json_has_str(json_object_get(json_object_get(roots, prev), "successors"), root) &&
	    common;

	return rule1 || rule2;
}

static void
test_differential(void **state)
{
	uint32_t seed = 7;
#define RND(n) (seed = seed * 1103515245u + 12345u, (seed >> 8) % (n))

	(void)state;
	for (int round = 0; round < 40; round++) {
		json_t *roots = json_object(), *appr = json_array(), *doc;
		struct closurelog_policy *p;
		unsigned n = 1 + RND(20);
		char *s;

		for (unsigned i = 1; i <= n; i++) {
			json_t *succ = json_array();

			for (unsigned j = 1; j <= n + 3; j++) {
				if (j != i && RND(4) == 0)
					json_array_append_new(succ, json_string(sp(j)));
			}
			json_object_set_new(roots, sp(i),
			    json_pack("{s:s, s:o}", "narHash", nh(i), "successors", succ));
			if (RND(2) == 0)
				json_array_append_new(appr, json_string(sp(i)));
		}
		doc = json_pack("{s:{s:o, s:o}, s:{s:i}}", "nix", "approved_roots", appr, "roots",
		    roots, "policies", "max_minutes", (int)RND(30));
		s = dump(doc);
		p = load_ok(s, NULL);
		for (int q = 0; q < 300; q++) {
			unsigned root = 1 + RND(n + 3), prev = RND(n + 3);
			unsigned nar = RND(3) == 0 ? 1 + RND(n + 3) : root;
			uint64_t m = RND(40);
			char r[128], pv[128], h[64];
			struct closurelog_request req = {
			    r, h, prev == 0 ? NULL : pv, RND(8) == 0 ? NULL : &m};
			struct closurelog_decision d;

			snprintf(r, sizeof r, "%s", sp(root));
			snprintf(pv, sizeof pv, "%s", sp(prev));
			snprintf(h, sizeof h, "%s", nh(nar));
			assert_int_equal(closurelog_policy_decide(p, &req, &d), 0);
			if ((bool)d.allow !=
			    rego_allow(doc, r, h, req.prev_root, req.requested_minutes))
				fail_msg("round %d query %d: library says %d", round, q, d.allow);
			assert_true(d.allow ? d.n_reasons == 0 : d.n_reasons >= 1);
		}
		closurelog_policy_free(p);
		free(s);
		json_decref(doc);
	}
#undef RND
}

/* ---- No allocation, and concurrency ---- */

static void
test_no_allocation(void **state)
{
	struct closurelog_policy *p = fixture();
	char root[128], prev[128], nar[64], bad[64];
	uint64_t m = 10, big = 99;
	unsigned long before;

	(void)state;
	snprintf(root, sizeof root, "%s", sp(B));
	snprintf(prev, sizeof prev, "%s", sp(A));
	snprintf(nar, sizeof nar, "%s", nh(B));
	snprintf(bad, sizeof bad, "%s", nh(D));
	before = n_allocs;
	for (int i = 0; i < 1000; i++) {
		struct closurelog_request ok = {root, nar, prev, &m};
		struct closurelog_request no = {root, bad, NULL, &big};
		struct closurelog_decision d;

		assert_int_equal(closurelog_policy_decide(p, &ok, &d), 0);
		assert_int_equal(d.allow, 1);
		assert_int_equal(closurelog_policy_decide(p, &no, &d), 0);
		assert_int_equal(d.allow, 0);
		assert_int_equal(d.n_reasons, 3);
	}
	assert_int_equal(n_allocs, before);
	closurelog_policy_free(p);
}

#define THREADS    4
#define PER_THREAD 50000
#define N_REQ      64

/* Requests and their single-threaded decisions, prepared before the
 * threads start (sp() and nh() use static buffers). */
static struct prepared {
	char root[128], prev[128], nar[64];
	uint64_t minutes;
	struct closurelog_request req;
	struct closurelog_decision want;
} reqs[N_REQ];

struct worker {
	const struct closurelog_policy *p;
	unsigned id;
	unsigned long mismatches;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (unsigned i = 0; i < PER_THREAD; i++) {
		const struct prepared *q = &reqs[(i * 7 + w->id) % N_REQ];
		struct closurelog_decision d;

		if (closurelog_policy_decide(w->p, &q->req, &d) != 0 ||
		    memcmp(&d, &q->want, sizeof d) != 0)
			w->mismatches++;
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	static const unsigned roots[] = {A, B, C, D, E, F, X, Z};
	struct closurelog_policy *p = fixture();
	pthread_t t[THREADS];
	struct worker w[THREADS];
	unsigned allowed = 0;

	(void)state;
	for (unsigned i = 0; i < N_REQ; i++) {
		struct prepared *q = &reqs[i];

		snprintf(q->root, sizeof q->root, "%s", sp(roots[i % 8]));
		snprintf(q->prev, sizeof q->prev, "%s", sp(roots[(i / 8) % 8]));
		snprintf(q->nar, sizeof q->nar, "%s", nh(i % 5 == 0 ? D : roots[i % 8]));
		q->minutes = i % 20;
		q->req = (struct closurelog_request){
		    q->root, q->nar, i % 3 ? q->prev : NULL, &q->minutes};
		memset(&q->want, 0, sizeof q->want);
		assert_int_equal(closurelog_policy_decide(p, &q->req, &q->want), 0);
		allowed += (unsigned)q->want.allow;
	}
	/* Both answers are among the requests. */
	assert_true(allowed > 0 && allowed < N_REQ);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){p, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].mismatches, 0);
	}
	closurelog_policy_free(p);
}

/* ---- closurelog_nar_hash ---- */

static void
test_nar_hash_api(void **state)
{
	char dir[512], path[600], out[CLOSURELOG_NAR_HASH_MAX], err[CLOSURELOG_ERR_MAX];
	FILE *f;

	(void)state;
	snprintf(
	    dir, sizeof dir, "%s/policy-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	FMT(path, "%s/hello", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(closurelog_nar_hash(path, out, err, sizeof err), 0);
	assert_string_equal(out, "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=");
	assert_int_equal(
	    closurelog_nar_hash("/dev/null", out, err, sizeof err), CLOSURELOG_EMALFORMED);
	assert_string_equal(out, "");
	assert_non_null(strstr(err, "device"));
	FMT(path, "%s/missing", dir);
	assert_int_equal(closurelog_nar_hash(path, out, err, sizeof err), CLOSURELOG_ESYSTEM);
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(closurelog_nar_hash(NULL, out, err, sizeof err), CLOSURELOG_EUSAGE);
	FMT(path, "%s/hello", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_refused_documents),
	    cmocka_unit_test(test_policy_id),
	    cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_no_allocation),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_nar_hash_api),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
