/*
 * pdoc_test.c: the policy data document builder (client/pdoc.c) on
 * synthetic log entries, signed here: every rule (accepted keys, bad
 * signatures, --require-sandbox, --system, --approve, conflicts with every
 * index, successor unions, provenance), deterministic bytes, a document the
 * library loads with the revision as its ID, and the saved state (resumed
 * to the same bytes; refused under other rules, another size, or
 * tampered).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "dsse.h"
#include "note.h"
#include "pdoc.h"
#include "testutil.h"
#include "wire.h"

#define SP(c) "/nix/store/" c "c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-app"
#define A     SP("a")
#define B     SP("b")
#define C     SP("c")
#define D     SP("d")
#define E     SP("f")
#define F     SP("g")
#define G     SP("h")
#define Z     SP("z")
#define N1    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define N2    "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define N3    "sha256-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="

static struct note_signer ci, other;
static struct note_verifier ci_v, other_v;
static uint8_t lock_digest[32];

static void
signer(struct note_signer *s, struct note_verifier *v, const char *name)
{
	uint8_t seed[32];
	char why[CL_WHY_MAX];

	crypto_hash_sha256(seed, (const uint8_t *)name, strlen(name));
	assert_int_equal(note_signer_from_seed(name, seed, s, why), 0);
	note_signer_verifier(s, v);
}

/* A signed envelope (malloc'd copy) of an attestation. */
static uint8_t *
envelope(const struct note_signer *s, const char *root, const char *nar, const char *system,
    enum cl_sandbox sandbox, const char *succ, size_t *len)
{
	static uint8_t abuf[WIRE_ARENA_MIN];
	struct wire_arena a;
	const char *succs[1] = {succ};
	struct cl_attestation att = {
	    .root = root,
	    .nar_hash = nar,
	    .flake_lock = {"sha256", lock_digest, 32},
	    .successors = succs,
	    .n_successors = succ != NULL,
	    .system = system,
	    .sandbox = sandbox,
	    .builder_id = "",
	    .run_url = "",
	};
	const uint8_t *payload, *env;
	size_t plen;
	char why[CL_WHY_MAX];
	uint8_t *out;

	wire_arena_init(&a, abuf, sizeof abuf);
	if (wire_attestation_encode(&a, &att, &payload, &plen, why) != 0)
		fail_msg("attestation: %s", why);
	assert_int_equal(dsse_sign(&a, s, payload, plen, &env, len, why), 0);
	assert_non_null(out = malloc(*len));
	memcpy(out, env, *len);
	return out;
}

static void
add(struct cli_pdoc *d, uint64_t index, const struct note_signer *s, const char *root,
    const char *nar, const char *system, enum cl_sandbox sb, const char *succ, int corrupt)
{
	size_t len;
	uint8_t *env = envelope(s, root, nar, system, sb, succ, &len);
	char why[CL_WHY_MAX];

	if (corrupt) {
		/* One bit of the signature, re-encoded: a well-formed envelope
		 * whose accepted-key signature does not verify. */
		static uint8_t abuf[WIRE_ARENA_MIN];
		struct wire_arena a;
		struct cl_envelope e;
		const uint8_t *out;
		uint8_t sig[64];

		wire_arena_init(&a, abuf, sizeof abuf);
		assert_int_equal(wire_envelope_decode(&a, env, len, &e, why), 0);
		memcpy(sig, e.sigs[0].sig, 64);
		sig[0] ^= 1;
		e.sigs[0].sig = sig;
		assert_int_equal(wire_envelope_encode(&a, &e, &out, &len, why), 0);
		memcpy(env, out, len);
	}
	assert_int_equal(cli_pdoc_add(d, index, env, len, why), 0);
	free(env);
}

static const struct sth cp = {.origin = "example.com/log", .size = 12};

/* The fixture log, entries 0..11. */
static void
fill(struct cli_pdoc *d)
{
	static const uint8_t junk[] = "not an envelope";
	char why[CL_WHY_MAX];

	add(d, 0, &ci, A, N1, "x86_64-linux", CL_SANDBOX_ON, B, 0);
	add(d, 1, &ci, B, N2, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);
	add(d, 2, &other, C, N1, "x86_64-linux", CL_SANDBOX_ON, NULL, 0); /* not accepted */
	add(d, 3, &ci, D, N1, "x86_64-linux", CL_SANDBOX_OFF, NULL, 0);   /* no sandbox */
	add(d, 4, &ci, E, N1, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);
	add(d, 5, &ci, E, N2, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);
	add(d, 6, &ci, E, N1, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);  /* E: a conflict */
	add(d, 7, &ci, F, N1, "aarch64-linux", CL_SANDBOX_ON, NULL, 0); /* other system */
	add(d, 8, &ci, A, N1, "x86_64-linux", CL_SANDBOX_ON, C, 0);     /* A again */
	add(d, 9, &ci, G, N3, "x86_64-linux", CL_SANDBOX_ON, NULL, 1);  /* bad signature */
	assert_int_equal(cli_pdoc_add(d, 10, junk, sizeof junk, why), 0);
	add(d, 11, &ci, G, N3, "x86_64-linux", CL_SANDBOX_UNSPECIFIED, NULL, 0); /* unknown */
}

static struct cli_pdoc_rules rules;

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	signer(&ci, &ci_v, "ci.example.com/builder");
	signer(&other, &other_v, "ci.example.com/other");
	rules = (struct cli_pdoc_rules){&ci_v, 1, true, "x86_64-linux", NULL, 0, 15};
	return 0;
}

static json_t *
build(struct cli_pdoc *d, char **text, char rev[CLOSURELOG_POLICY_ID_MAX])
{
	size_t len;
	char why[CL_WHY_MAX];
	json_t *j;

	assert_int_equal(cli_pdoc_build(d, &cp, text, &len, rev, NULL, why), 0);
	assert_int_equal(strlen(*text), len);
	assert_non_null(j = json_loads(*text, JSON_REJECT_DUPLICATES, NULL));
	return j;
}

static void
test_rules(void **state)
{
	struct cli_pdoc *d = cli_pdoc_new(&rules);
	const struct cli_pdoc_stats *st;
	char *text, rev[CLOSURELOG_POLICY_ID_MAX];
	json_t *doc, *nix, *roots, *a, *prov, *conf;

	(void)state;
	fill(d);
	st = cli_pdoc_stats(d);
	assert_int_equal(st->entries, 12);
	assert_int_equal(st->accepted, 6);
	assert_int_equal(st->unsigned_by_accepted, 2); /* the other key, the junk */
	assert_int_equal(st->bad_signature, 1);
	assert_int_equal(st->constrained, 3); /* no sandbox, other system, unknown sandbox */
	doc = build(d, &text, rev);
	nix = json_object_get(doc, "nix");
	roots = json_object_get(nix, "roots");
	assert_int_equal(json_object_size(roots), 2);
	a = json_object_get(roots, A);
	assert_string_equal(tu_str(a, "narHash"), N1);
	/* Successors: the union of both attestations of A, sorted. */
	assert_int_equal(json_array_size(json_object_get(a, "successors")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(a, "successors"), 0)), B);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(a, "successors"), 1)), C);
	prov = json_object_get(a, "provenance");
	assert_int_equal(json_array_size(prov), 2);
	assert_int_equal(tu_u64(a, "attestations"), 2);
	assert_int_equal(tu_u64(json_array_get(prov, 0), "index"), 0);
	assert_int_equal(tu_u64(json_array_get(prov, 1), "index"), 8);
	assert_non_null(json_object_get(roots, B));
	/* Approved: every recorded root by default. */
	assert_int_equal(json_array_size(json_object_get(nix, "approved_roots")), 2);
	/* E: a conflict with every index. */
	conf = json_object_get(json_object_get(nix, "conflicts"), E);
	assert_int_equal(json_array_size(conf), 3);
	assert_int_equal(tu_u64(json_array_get(conf, 0), "index"), 4);
	assert_int_equal(tu_u64(json_array_get(conf, 1), "index"), 5);
	assert_int_equal(tu_u64(json_array_get(conf, 2), "index"), 6);
	assert_int_equal(json_object_size(json_object_get(nix, "conflicts")), 1);
	/* The revision names the checkpoint. */
	assert_string_equal(tu_str(json_object_get(doc, "closurelog"), "revision"), rev);
	assert_non_null(strstr(rev, "example.com/log/12/"));
	json_decref(doc);
	free(text);
	cli_pdoc_free(d);
}

static void
test_no_constraints(void **state)
{
	struct cli_pdoc_rules r = {&ci_v, 1, false, NULL, NULL, 0, 15};
	struct cli_pdoc *d = cli_pdoc_new(&r);
	char *text, rev[CLOSURELOG_POLICY_ID_MAX];
	json_t *doc, *roots;

	(void)state;
	fill(d);
	doc = build(d, &text, rev);
	roots = json_object_get(json_object_get(doc, "nix"), "roots");
	/* D (no sandbox), F (other system), G (unknown sandbox) now count. */
	assert_int_equal(json_object_size(roots), 5);
	assert_non_null(json_object_get(roots, D));
	assert_non_null(json_object_get(roots, F));
	assert_non_null(json_object_get(roots, G));
	assert_null(json_object_get(roots, C));
	json_decref(doc);
	free(text);
	cli_pdoc_free(d);
}

static const char *unapproved_seen[4];
static size_t n_unapproved;

static void
unapproved(const char *root)
{
	if (n_unapproved < 4)
		unapproved_seen[n_unapproved++] = root;
}

/* A root attested many times lists only its earliest entries. */
static void
test_provenance_capped(void **state)
{
	struct cli_pdoc *d = cli_pdoc_new(&rules);
	char *text, rev[CLOSURELOG_POLICY_ID_MAX];
	json_t *doc, *a, *prov;

	(void)state;
	for (uint64_t i = 0; i < CLI_PDOC_PROVENANCE_MAX + 5; i++)
		add(d, i, &ci, A, N1, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);
	doc = build(d, &text, rev);
	a = json_object_get(json_object_get(json_object_get(doc, "nix"), "roots"), A);
	prov = json_object_get(a, "provenance");
	assert_int_equal(json_array_size(prov), CLI_PDOC_PROVENANCE_MAX);
	assert_int_equal(tu_u64(json_array_get(prov, 0), "index"), 0);
	assert_int_equal(tu_u64(json_array_get(prov, CLI_PDOC_PROVENANCE_MAX - 1), "index"),
	    CLI_PDOC_PROVENANCE_MAX - 1);
	assert_int_equal(tu_u64(a, "attestations"), CLI_PDOC_PROVENANCE_MAX + 5);
	json_decref(doc);
	free(text);
	cli_pdoc_free(d);
}

static void
test_approve_list(void **state)
{
	static const char *const list[] = {Z, B, E, B};
	struct cli_pdoc_rules r = rules;
	struct cli_pdoc *d;
	char *text, rev[CLOSURELOG_POLICY_ID_MAX], why[CL_WHY_MAX];
	size_t len;
	json_t *doc, *appr;

	(void)state;
	r.approve = list;
	r.n_approve = 4;
	d = cli_pdoc_new(&r);
	fill(d);
	n_unapproved = 0;
	assert_int_equal(cli_pdoc_build(d, &cp, &text, &len, rev, unapproved, why), 0);
	doc = json_loads(text, 0, NULL);
	appr = json_object_get(json_object_get(doc, "nix"), "approved_roots");
	/* B only: Z was never recorded, E is a conflict; A is recorded, not approved. */
	assert_int_equal(json_array_size(appr), 1);
	assert_string_equal(json_string_value(json_array_get(appr, 0)), B);
	assert_non_null(json_object_get(json_object_get(json_object_get(doc, "nix"), "roots"), A));
	assert_int_equal(n_unapproved, 2);
	assert_string_equal(unapproved_seen[0], E);
	assert_string_equal(unapproved_seen[1], Z);
	json_decref(doc);
	free(text);
	cli_pdoc_free(d);
}

static void
test_deterministic_and_loadable(void **state)
{
	struct cli_pdoc *d1 = cli_pdoc_new(&rules), *d2 = cli_pdoc_new(&rules);
	char *t1, *t2, r1[CLOSURELOG_POLICY_ID_MAX], r2[CLOSURELOG_POLICY_ID_MAX];
	char err[CLOSURELOG_ERR_MAX];
	struct closurelog_policy *p = NULL;
	json_t *j1, *j2;

	(void)state;
	fill(d1);
	fill(d2);
	j1 = build(d1, &t1, r1);
	j2 = build(d2, &t2, r2);
	assert_string_equal(t1, t2);
	assert_string_equal(r1, r2);
	/* libclosurelog-verify takes the document, with the revision as ID. */
	if (closurelog_policy_load((uint8_t *)t1, strlen(t1), r1, &p, err, sizeof err) != 0)
		fail_msg("the library refuses the builder's document: %s", err);
	assert_string_equal(closurelog_policy_id(p), r1);
	assert_int_equal(closurelog_policy_max_minutes(p), 15);
	closurelog_policy_free(p);
	json_decref(j1);
	json_decref(j2);
	free(t1);
	free(t2);
	cli_pdoc_free(d1);
	cli_pdoc_free(d2);
}

static void
test_save_load(void **state)
{
	struct cli_pdoc *d = cli_pdoc_new(&rules), *back = cli_pdoc_new(&rules), *x;
	char *saved, *t1, *t2, r1[CLOSURELOG_POLICY_ID_MAX], r2[CLOSURELOG_POLICY_ID_MAX];
	char why[CL_WHY_MAX];
	size_t len;
	json_t *j1, *j2;

	(void)state;
	fill(d);
	assert_int_equal(cli_pdoc_save(d, 12, &saved, &len, why), 0);
	assert_int_equal(cli_pdoc_load(back, (uint8_t *)saved, len, 12, why), 0);
	j1 = build(d, &t1, r1);
	j2 = build(back, &t2, r2);
	assert_string_equal(t1, t2);
	/* Entries after the saved ones continue; earlier ones are refused. */
	assert_int_equal(cli_pdoc_add(back, 11, (const uint8_t *)"x", 1, why), CL_EINVAL);
	add(back, 12, &ci, Z, N3, "x86_64-linux", CL_SANDBOX_ON, NULL, 0);
	assert_int_equal(cli_pdoc_stats(back)->accepted, 1);
	/* Another size, other rules, a tampered record: refused. */
	x = cli_pdoc_new(&rules);
	assert_int_equal(cli_pdoc_load(x, (uint8_t *)saved, len, 13, why), CL_EINVAL);
	assert_non_null(strstr(why, "another tree size"));
	cli_pdoc_free(x);
	{
		struct cli_pdoc_rules r = rules;

		r.require_sandbox = false;
		x = cli_pdoc_new(&r);
		assert_int_equal(cli_pdoc_load(x, (uint8_t *)saved, len, 12, why), CL_EINVAL);
		assert_non_null(strstr(why, "other submitter keys"));
		cli_pdoc_free(x);
	}
	{
		char *p = strstr(saved, N2);

		assert_non_null(p);
		p[7] = '!';
		x = cli_pdoc_new(&rules);
		assert_int_equal(cli_pdoc_load(x, (uint8_t *)saved, len, 12, why), CL_EINVAL);
		assert_non_null(strstr(why, "malformed"));
		cli_pdoc_free(x);
	}
	json_decref(j1);
	json_decref(j2);
	free(t1);
	free(t2);
	free(saved);
	cli_pdoc_free(d);
	cli_pdoc_free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_no_constraints),
	    cmocka_unit_test(test_provenance_capped),
	    cmocka_unit_test(test_approve_list),
	    cmocka_unit_test(test_deterministic_and_loadable),
	    cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
