/*
 * verify_test.c: libclosurelog-verify (client/include/closurelog/verify.h)
 * against bundles built here from real parts: a log key, a Merkle tree of
 * signed envelopes kept in memory, a checkpoint signed with sth_sign, a
 * tlog-proof from tproof_format and a bundle from wire_bundle_encode.
 * Every single-bit change and every truncation of a valid bundle must fail,
 * each kind of wrong input must fail with its own status and reason, and a
 * verification must never allocate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "dsse.h"
#include "merkle.h"
#include "nix.h"
#include "note.h"
#include "sth.h"
#include "testutil.h"
#include "tproof.h"
#include "wire.h"

/* ---- Allocation counting (the test links with -Wl,--wrap=malloc,...) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

/* A verify function's return value is its result's status. */
static void
returned(enum closurelog_status st, const struct closurelog_result *res)
{
	assert_int_equal(st, res->status);
}

static unsigned long n_allocs;
static unsigned long fail_at; /* when not 0: allocation number fail_at fails */

void *
__wrap_malloc(size_t n)
{
	if (++n_allocs == fail_at)
		return NULL;
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	if (++n_allocs == fail_at)
		return NULL;
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	if (++n_allocs == fail_at)
		return NULL;
	return __real_realloc(p, n);
}

/* ---- An in-memory store of stored nodes, filled by mt_range_append ---- */

typedef uint8_t hash_t[MT_HASH_LEN];

/* ---- The fixture: a log of N_ENTRIES envelopes ---- */

#define LOG_NAME    "example.com/verify-test-log"
#define CI_NAME     "ci.example.com/builder"
#define OTHER_NAME  "ci.example.com/other"
#define N_ENTRIES   11
#define BUF_MAX     (96 * 1024)
#define E_UNKNOWN   3 /* signed by the other (unaccepted) submitter only */
#define E_BADSIG    4 /* CI's signature, corrupted */
#define E_JUNK      5 /* CI's valid signature over a payload that is no attestation */
#define E_TWO_SIGS  6 /* signed by the other submitter, then by CI */
#define E_VALID     2 /* an ordinary entry */
#define E_VALID_ALT 9 /* another one */

struct fixture {
	struct note_signer log, ci, other, witness;
	char log_vkey[NOTE_VKEY_MAX], ci_vkey[NOTE_VKEY_MAX], other_vkey[NOTE_VKEY_MAX];
	char witness_vkey[NOTE_VKEY_MAX];
	struct tu_memstore ms;
	uint8_t *env[N_ENTRIES];
	size_t env_len[N_ENTRIES];
	char root[N_ENTRIES][NIX_STORE_PATH_MAX + 1];
	uint8_t nar[N_ENTRIES][32];
	char nar_sri[N_ENTRIES][NIX_HASH_STR_MAX];
	uint8_t cp[STH_NOTE_MAX + NOTE_SIGLINE_MAX]; /* the checkpoint at size N_ENTRIES */
	size_t cp_len;
	struct closurelog_verifier *v; /* log key, CI accepted */
	void *abuf;
	struct wire_arena a;
};

static struct fixture fx;

static void
seed_of(uint8_t seed[32], const char *label)
{
	crypto_hash_sha256(seed, (const uint8_t *)label, strlen(label));
}

static void
signer(struct note_signer *s, const char *name, const char *label, char vkey[NOTE_VKEY_MAX])
{
	uint8_t seed[32];
	struct note_verifier v;
	char why[CL_WHY_MAX];

	seed_of(seed, label);
	assert_int_equal(note_signer_from_seed(name, seed, s, why), 0);
	note_signer_verifier(s, &v);
	assert_true(note_verifier_format(&v, vkey, NOTE_VKEY_MAX) > 0);
}

/* A store path /nix/store/<nix32 of 20 derived bytes>-pkg-<i>. */
static void
store_path(char *out, size_t cap, const char *label, unsigned i)
{
	uint8_t h[32];
	char part[NIX_HASH_PART_LEN + 1], in[64];

	snprintf(in, sizeof in, "%s-%u", label, i);
	crypto_hash_sha256(h, (const uint8_t *)in, strlen(in));
	nix_base32_encode(h, 20, part);
	snprintf(out, cap, "/nix/store/%s-pkg-%u", part, i);
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n);

	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

/* The envelope of entry i, signed as the fixture says. */
static void
make_entry(unsigned i)
{
	struct cl_attestation att;
	struct nix_hash nh;
	uint8_t lock[32];
	const uint8_t *payload, *env, *env2;
	size_t plen, elen, elen2;
	char why[CL_WHY_MAX];
	char lock_in[32];

	wire_arena_reset(&fx.a);
	store_path(fx.root[i], sizeof fx.root[i], "root", i);
	snprintf(lock_in, sizeof lock_in, "lock-%u", i);
	crypto_hash_sha256(lock, (const uint8_t *)lock_in, strlen(lock_in));
	snprintf(lock_in, sizeof lock_in, "nar-%u", i);
	crypto_hash_sha256(fx.nar[i], (const uint8_t *)lock_in, strlen(lock_in));
	memset(&nh, 0, sizeof nh);
	nh.algo = NIX_SHA256;
	nh.len = 32;
	memcpy(nh.bytes, fx.nar[i], 32);
	assert_true(nix_hash_sri(&nh, fx.nar_sri[i], sizeof fx.nar_sri[i]) > 0);

	memset(&att, 0, sizeof att);
	att.root = fx.root[i];
	att.nar_hash = fx.nar_sri[i];
	att.flake_lock.algorithm = "sha256";
	att.flake_lock.value = lock;
	att.flake_lock.len = 32;
	att.system = "x86_64-linux";
	att.builder_id = "";
	att.run_url = "";
	att.build_time = 1700000000 + i;
	assert_int_equal(wire_attestation_encode(&fx.a, &att, &payload, &plen, why), 0);

	if (i == E_JUNK) {
		static const uint8_t junk[] = "this is not an attestation";

		assert_int_equal(
		    dsse_sign(&fx.a, &fx.ci, junk, sizeof junk - 1, &env, &elen, why), 0);
	} else if (i == E_UNKNOWN) {
		assert_int_equal(dsse_sign(&fx.a, &fx.other, payload, plen, &env, &elen, why), 0);
	} else {
		assert_int_equal(dsse_sign(&fx.a, &fx.ci, payload, plen, &env, &elen, why), 0);
	}
	if (i == E_BADSIG || i == E_TWO_SIGS) {
		struct cl_envelope e, o;
		uint8_t sig[64];

		assert_int_equal(wire_envelope_decode(&fx.a, env, elen, &e, why), 0);
		if (i == E_BADSIG) {
			memcpy(sig, e.sigs[0].sig, 64);
			sig[10] ^= 0x01;
			e.sigs[0].sig = sig;
		} else {
			assert_int_equal(
			    dsse_sign(&fx.a, &fx.other, payload, plen, &env2, &elen2, why), 0);
			assert_int_equal(wire_envelope_decode(&fx.a, env2, elen2, &o, why), 0);
			e.sigs[1] = e.sigs[0];
			e.sigs[0] = o.sigs[0];
			e.n_sigs = 2;
		}
		assert_int_equal(wire_envelope_encode(&fx.a, &e, &env, &elen, why), 0);
	}
	fx.env[i] = dup_bytes(env, elen);
	fx.env_len[i] = elen;
}

/* Sign a checkpoint for the fixture's tree at `size` with `by`, under
 * `origin`. */
static size_t
checkpoint(
    const struct note_signer *by, const char *origin, uint64_t size, uint8_t *out, size_t cap)
{
	struct sth s;
	size_t len;
	char why[CL_WHY_MAX];

	memset(&s, 0, sizeof s);
	snprintf(s.origin, sizeof s.origin, "%s", origin);
	s.size = size;
	assert_int_equal(mt_root_at(size, tu_ms_read, &fx.ms, s.root), 0);
	assert_int_equal(sth_sign(&s, by, out, cap, &len, why), 0);
	return len;
}

/* The tlog-proof for `index` in the tree of `size` with checkpoint cp. */
static size_t
tlog_proof(
    uint64_t index, uint64_t size, const uint8_t *cp, size_t cp_len, uint8_t *out, size_t cap)
{
	struct tproof *tp = calloc(1, sizeof *tp);
	size_t len;

	assert_non_null(tp);
	tp->index = index;
	assert_int_equal(
	    mt_inclusion_prove(index, size, tu_ms_read, &fx.ms, tp->path, &tp->n_path), 0);
	tp->checkpoint = cp;
	tp->checkpoint_len = cp_len;
	assert_int_equal(tproof_format(tp, out, cap, &len), 0);
	free(tp);
	return len;
}

/* The bundle of envelope env (with a tlog-proof tp) into a malloc'd buffer. */
static uint8_t *
bundle_of(const uint8_t *env, size_t env_len, const uint8_t *tp, size_t tp_len, size_t *len)
{
	struct cl_bundle b = {env, env_len, tp, tp_len};
	const uint8_t *out;

	wire_arena_reset(&fx.a);
	assert_int_equal(wire_bundle_encode(&fx.a, &b, &out, len), 0);
	return dup_bytes(out, *len);
}

/* The bundle of entry i against the fixture's checkpoint. */
static uint8_t *
entry_bundle(unsigned i, size_t *len)
{
	uint8_t *tp = malloc(BUF_MAX), *b;
	size_t tp_len = tlog_proof(i, N_ENTRIES, fx.cp, fx.cp_len, tp, BUF_MAX);

	b = bundle_of(fx.env[i], fx.env_len[i], tp, tp_len, len);
	free(tp);
	return b;
}

static struct closurelog_verifier *
verifier(const char *log_key, const char *origin, const char *const *subs, size_t n)
{
	struct closurelog_verifier *v = NULL;
	char err[CLOSURELOG_ERR_MAX];
	int rc = closurelog_verifier_new(log_key, origin, subs, n, &v, err, sizeof err);

	if (rc != 0)
		fail_msg("closurelog_verifier_new: %d %s", rc, err);
	assert_string_equal(err, "");
	return v;
}

static int
setup(void **state)
{
	struct mt_range r;
	uint8_t leaf[MT_HASH_LEN];
	const char *subs[1];

	(void)state;
	assert_true(sodium_init() >= 0);
	memset(&fx, 0, sizeof fx);
	fx.abuf = malloc(WIRE_ARENA_MIN);
	assert_non_null(fx.abuf);
	wire_arena_init(&fx.a, fx.abuf, WIRE_ARENA_MIN);
	signer(&fx.log, LOG_NAME, "log", fx.log_vkey);
	signer(&fx.ci, CI_NAME, "ci", fx.ci_vkey);
	signer(&fx.other, OTHER_NAME, "other", fx.other_vkey);
	signer(&fx.witness, "witness.example.com/w1", "witness", fx.witness_vkey);

	mt_range_init(&r);
	for (unsigned i = 0; i < N_ENTRIES; i++) {
		make_entry(i);
		mt_leaf_hash(leaf, fx.env[i], fx.env_len[i]);
		assert_int_equal(mt_range_append(&r, leaf, tu_ms_emit, &fx.ms), 0);
	}
	fx.cp_len = checkpoint(&fx.log, LOG_NAME, N_ENTRIES, fx.cp, sizeof fx.cp);
	subs[0] = fx.ci_vkey;
	/* The allocation counter works: making a verifier allocates. */
	n_allocs = 0;
	fx.v = verifier(fx.log_vkey, NULL, subs, 1);
	assert_true(n_allocs >= 2);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	closurelog_verifier_free(fx.v);
	for (unsigned i = 0; i < N_ENTRIES; i++)
		free(fx.env[i]);
	tu_ms_free(&fx.ms);
	note_signer_wipe(&fx.log);
	note_signer_wipe(&fx.ci);
	note_signer_wipe(&fx.other);
	note_signer_wipe(&fx.witness);
	free(fx.abuf);
	return 0;
}

/* Expect a failure with status st, a reason (containing `has`, if not
 * NULL) and every other field cleared. */
static void
expect_fail(const struct closurelog_result *res, enum closurelog_status st, const char *has)
{
	if (res->status != st)
		fail_msg("status %s, want %s (%s)", closurelog_status_name(res->status),
		    closurelog_status_name(st), res->reason);
	assert_true(res->reason[0] != '\0');
	assert_null(strchr(res->reason, '\n'));
	if (has != NULL && strstr(res->reason, has) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", res->reason, has);
	assert_int_equal(res->index, 0);
	assert_int_equal(res->tree_size, 0);
	assert_string_equal(res->origin, "");
	assert_string_equal(res->root, "");
	assert_string_equal(res->nar_hash, "");
	assert_string_equal(res->submitter, "");
	assert_string_equal(res->submitter_keyid, "");
}

static void
expect_ok(const struct closurelog_result *res, unsigned i)
{
	char keyid[9];

	if (res->status != CLOSURELOG_OK)
		fail_msg("status %s: %s", closurelog_status_name(res->status), res->reason);
	snprintf(keyid, sizeof keyid, "%08" PRIx32, fx.ci.id);
	assert_string_equal(res->reason, "");
	assert_int_equal(res->index, i);
	assert_int_equal(res->tree_size, N_ENTRIES);
	assert_string_equal(res->origin, LOG_NAME);
	assert_string_equal(res->root, fx.root[i]);
	assert_string_equal(res->nar_hash, fx.nar_sri[i]);
	assert_string_equal(res->submitter, CI_NAME);
	assert_string_equal(res->submitter_keyid, keyid);
}

/* ---- Tests ---- */

static void
test_valid(void **state)
{
	struct closurelog_result res;
	uint8_t *b;
	size_t len;

	(void)state;
	for (unsigned i = 0; i < N_ENTRIES; i++) {
		if (i == E_UNKNOWN || i == E_BADSIG || i == E_JUNK)
			continue;
		b = entry_bundle(i, &len);
		n_allocs = 0;
		assert_int_equal(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), 0);
		assert_int_equal(n_allocs, 0);
		expect_ok(&res, i);
		assert_int_equal(
		    closurelog_verify_bundle(fx.v, b, len, fx.root[i], fx.nar_sri[i], &res), 0);
		expect_ok(&res, i);
		free(b);
	}
}

static void
test_nar_hash_forms(void **state)
{
	struct closurelog_result res;
	char nix32[60], hex[65], forms[5][140];
	uint8_t *b;
	size_t len;
	unsigned i = E_VALID;

	(void)state;
	nix_base32_encode(fx.nar[i], 32, nix32);
	cl_hex_encode(fx.nar[i], 32, hex);
	snprintf(forms[0], sizeof forms[0], "sha256:%s", nix32);
	snprintf(forms[1], sizeof forms[1], "sha256:%s", hex);
	snprintf(forms[2], sizeof forms[2], "%s", nix32);
	snprintf(forms[3], sizeof forms[3], "%s", hex);
	/* SRI without padding. */
	snprintf(forms[4], sizeof forms[4], "%.*s", (int)strlen(fx.nar_sri[i]) - 1, fx.nar_sri[i]);
	b = entry_bundle(i, &len);
	for (size_t f = 0; f < 5; f++) {
		returned(closurelog_verify_bundle(fx.v, b, len, fx.root[i], forms[f], &res), &res);
		if (res.status != CLOSURELOG_OK)
			fail_msg("narHash form %s: %s", forms[f], res.reason);
		expect_ok(&res, i);
	}
	/* Upper-case hex is a form Nix accepts too. */
	for (char *p = hex; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(forms[0], sizeof forms[0], "sha256:%s", hex);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, forms[0], &res), &res);
	expect_ok(&res, i);

	/* Another entry's narHash, in nix32: the reason shows both in SRI. */
	nix_base32_encode(fx.nar[E_VALID_ALT], 32, nix32);
	snprintf(forms[0], sizeof forms[0], "sha256:%s", nix32);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, forms[0], &res), &res);
	{
		char want[400];

		snprintf(want, sizeof want, "narHash mismatch: attested %s, expected %s",
		    fx.nar_sri[i], fx.nar_sri[E_VALID_ALT]);
		expect_fail(&res, CLOSURELOG_ENARHASH, NULL);
		assert_string_equal(res.reason, want);
	}
	free(b);
}

static void
test_root_mismatch(void **state)
{
	struct closurelog_result res;
	char want[600];
	uint8_t *b;
	size_t len;

	(void)state;
	b = entry_bundle(E_VALID, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, fx.root[E_VALID_ALT], NULL, &res), &res);
	snprintf(want, sizeof want, "root mismatch: attested %s, expected %s", fx.root[E_VALID],
	    fx.root[E_VALID_ALT]);
	expect_fail(&res, CLOSURELOG_EROOT, NULL);
	assert_string_equal(res.reason, want);
	/* The root is checked before the narHash. */
	returned(closurelog_verify_bundle(
	             fx.v, b, len, fx.root[E_VALID_ALT], fx.nar_sri[E_VALID_ALT], &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EROOT, "root mismatch");
	/* Right root, wrong narHash. */
	returned(
	    closurelog_verify_bundle(fx.v, b, len, fx.root[E_VALID], fx.nar_sri[E_VALID_ALT], &res),
	    &res);
	expect_fail(&res, CLOSURELOG_ENARHASH, "narHash mismatch: attested ");
	free(b);
}

/* Flip bit 0 and bit 7 of every byte: nothing may verify. */
static void
test_every_bit_flip(void **state)
{
	struct closurelog_result res;
	unsigned counts[CLOSURELOG_EUSAGE + 1] = {0};
	uint8_t *b;
	size_t len;

	(void)state;
	b = entry_bundle(E_VALID, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			b[i] ^= (uint8_t)(1u << bit);
			n_allocs = 0;
			returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
			if (res.status == CLOSURELOG_OK)
				fail_msg("byte %zu bit %d flipped still verifies", i, bit);
			assert_true(res.status < CLOSURELOG_EUSAGE);
			assert_int_equal(n_allocs, 0);
			counts[res.status]++;
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* The flips reached the bundle framing, the checkpoint, the proof and
	 * the envelope. */
	assert_true(counts[CLOSURELOG_EMALFORMED] > 0);
	assert_true(counts[CLOSURELOG_ECHECKPOINT] > 0);
	assert_true(counts[CLOSURELOG_EINCLUSION] > 0);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_ok(&res, E_VALID);
	free(b);
}

static void
test_truncations(void **state)
{
	struct closurelog_result res;
	uint8_t *b, *cut;
	size_t len;

	(void)state;
	b = entry_bundle(E_VALID, &len);
	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so ASan sees any read past the end. */
		cut = malloc(n > 0 ? n : 1);
		assert_non_null(cut);
		memcpy(cut, b, n);
		returned(closurelog_verify_bundle(fx.v, cut, n, NULL, NULL, &res), &res);
		if (res.status == CLOSURELOG_OK)
			fail_msg("bundle cut to %zu bytes still verifies", n);
		free(cut);
	}
	returned(closurelog_verify_bundle(fx.v, NULL, 0, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EMALFORMED, "empty");
	free(b);
}

static void
test_wrong_log_key(void **state)
{
	struct closurelog_verifier *v;
	struct closurelog_result res;
	struct note_signer imposter;
	char vkey[NOTE_VKEY_MAX];
	const char *subs[] = {fx.ci_vkey};
	uint8_t *b, cp[STH_NOTE_MAX], *tp, *b2;
	size_t len, cp_len, tp_len, len2;

	(void)state;
	b = entry_bundle(E_VALID, &len);
	/* The verifier trusts another log key (a submitter's key, for once). */
	v = verifier(fx.other_vkey, LOG_NAME, subs, 1);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ECHECKPOINT, "checkpoint is not signed by the log key");
	closurelog_verifier_free(v);

	/* A checkpoint signed by another key with the log key's name. */
	signer(&imposter, LOG_NAME, "imposter", vkey);
	cp_len = checkpoint(&imposter, LOG_NAME, N_ENTRIES, cp, sizeof cp);
	tp = malloc(BUF_MAX);
	tp_len = tlog_proof(E_VALID, N_ENTRIES, cp, cp_len, tp, BUF_MAX);
	b2 = bundle_of(fx.env[E_VALID], fx.env_len[E_VALID], tp, tp_len, &len2);
	returned(closurelog_verify_bundle(fx.v, b2, len2, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ECHECKPOINT, "checkpoint is not signed by the log key");
	note_signer_wipe(&imposter);
	free(tp);
	free(b2);
	free(b);
}

static void
test_wrong_origin(void **state)
{
	struct closurelog_verifier *v;
	struct closurelog_result res;
	const char *subs[] = {fx.ci_vkey};
	uint8_t *b, cp[STH_NOTE_MAX], *tp, *b2;
	size_t len, cp_len, tp_len, len2;

	(void)state;
	b = entry_bundle(E_VALID, &len);
	v = verifier(fx.log_vkey, "other.example.com/log", subs, 1);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ECHECKPOINT, NULL);
	assert_string_equal(
	    res.reason, "checkpoint origin is " LOG_NAME ", expected other.example.com/log");
	closurelog_verifier_free(v);

	/* The log key signing a checkpoint for another origin. */
	cp_len = checkpoint(&fx.log, "mirror.example.com/log", N_ENTRIES, cp, sizeof cp);
	tp = malloc(BUF_MAX);
	tp_len = tlog_proof(E_VALID, N_ENTRIES, cp, cp_len, tp, BUF_MAX);
	b2 = bundle_of(fx.env[E_VALID], fx.env_len[E_VALID], tp, tp_len, &len2);
	returned(closurelog_verify_bundle(fx.v, b2, len2, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ECHECKPOINT, NULL);
	assert_string_equal(
	    res.reason, "checkpoint origin is mirror.example.com/log, expected " LOG_NAME);
	/* ... which a verifier told to expect that origin accepts. */
	v = verifier(fx.log_vkey, "mirror.example.com/log", subs, 1);
	returned(closurelog_verify_bundle(v, b2, len2, NULL, NULL, &res), &res);
	assert_int_equal(res.status, CLOSURELOG_OK);
	assert_string_equal(res.origin, "mirror.example.com/log");
	closurelog_verifier_free(v);
	free(tp);
	free(b2);
	free(b);
}

static void
test_submitters(void **state)
{
	struct closurelog_verifier *v;
	struct closurelog_result res;
	const char *other_only[] = {fx.other_vkey};
	const char *both[] = {fx.other_vkey, fx.ci_vkey};
	char want[CL_WHY_MAX], keyid[9];
	uint8_t *b;
	size_t len;

	(void)state;
	/* Signed by a key the verifier does not accept: the reason names it. */
	b = entry_bundle(E_UNKNOWN, &len);
	snprintf(keyid, sizeof keyid, "%08" PRIx32, fx.other.id);
	snprintf(want, sizeof want, "signed by key %s, which is not an accepted submitter", keyid);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ESUBMITTER, NULL);
	assert_string_equal(res.reason, want);
	v = verifier(fx.log_vkey, NULL, both, 2);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	assert_int_equal(res.status, CLOSURELOG_OK);
	assert_string_equal(res.submitter, OTHER_NAME);
	assert_string_equal(res.submitter_keyid, keyid);
	closurelog_verifier_free(v);
	free(b);

	/* A CI-signed entry, for a verifier that accepts only the other key. */
	b = entry_bundle(E_VALID, &len);
	v = verifier(fx.log_vkey, NULL, other_only, 1);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	snprintf(keyid, sizeof keyid, "%08" PRIx32, fx.ci.id);
	expect_fail(&res, CLOSURELOG_ESUBMITTER, keyid);
	closurelog_verifier_free(v);
	free(b);

	/* An unknown key's signature next to an accepted one is ignored. */
	b = entry_bundle(E_TWO_SIGS, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_ok(&res, E_TWO_SIGS);
	free(b);
}

static void
test_bad_signature(void **state)
{
	struct closurelog_result res;
	uint8_t *b;
	size_t len;

	(void)state;
	b = entry_bundle(E_BADSIG, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_ESIGNATURE, "does not verify");
	free(b);
}

static void
test_bad_attestation(void **state)
{
	struct closurelog_result res;
	uint8_t *b;
	size_t len;

	(void)state;
	b = entry_bundle(E_JUNK, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EATTESTATION, "attestation: ");
	free(b);
}

static void
test_tlog_proof(void **state)
{
	struct closurelog_result res;
	uint8_t *tp = malloc(BUF_MAX);
	size_t tp_len;

	(void)state;
	assert_non_null(tp);
	tp_len = tlog_proof(E_VALID, N_ENTRIES, fx.cp, fx.cp_len, tp, BUF_MAX);
	n_allocs = 0;
	returned(closurelog_verify_tlog_proof(fx.v, fx.env[E_VALID], fx.env_len[E_VALID], tp,
	             tp_len, fx.root[E_VALID], fx.nar_sri[E_VALID], &res),
	    &res);
	assert_int_equal(n_allocs, 0);
	expect_ok(&res, E_VALID);

	/* Entry i's proof with any other entry's envelope. */
	for (unsigned j = 0; j < N_ENTRIES; j++) {
		if (j == E_VALID)
			continue;
		returned(closurelog_verify_tlog_proof(
		             fx.v, fx.env[j], fx.env_len[j], tp, tp_len, NULL, NULL, &res),
		    &res);
		expect_fail(&res, CLOSURELOG_EINCLUSION,
		    "inclusion proof does not lead to the checkpoint root");
	}
	/* The same mix, as a bundle. */
	{
		size_t len;
		uint8_t *b =
		    bundle_of(fx.env[E_VALID_ALT], fx.env_len[E_VALID_ALT], tp, tp_len, &len);

		returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
		expect_fail(&res, CLOSURELOG_EINCLUSION, NULL);
		free(b);
	}
	/* Bad inputs. */
	returned(
	    closurelog_verify_tlog_proof(fx.v, fx.env[E_VALID], 0, tp, tp_len, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EMALFORMED, "envelope is empty");
	returned(closurelog_verify_tlog_proof(
	             fx.v, fx.env[E_VALID], fx.env_len[E_VALID], tp, 10, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EMALFORMED, "tlog-proof");
	free(tp);
}

/* Proofs that are well formed but do not fit the checkpoint. */
static void
test_proof_shape(void **state)
{
	struct closurelog_result res;
	struct tproof *tp = calloc(1, sizeof *tp);
	uint8_t *text = malloc(BUF_MAX);
	size_t len;

	(void)state;
	assert_non_null(tp);
	assert_non_null(text);
	/* Index at the tree size. */
	assert_int_equal(
	    mt_inclusion_prove(N_ENTRIES - 1, N_ENTRIES, tu_ms_read, &fx.ms, tp->path, &tp->n_path),
	    0);
	tp->index = N_ENTRIES;
	tp->checkpoint = fx.cp;
	tp->checkpoint_len = fx.cp_len;
	assert_int_equal(tproof_format(tp, text, BUF_MAX, &len), 0);
	returned(closurelog_verify_tlog_proof(fx.v, fx.env[N_ENTRIES - 1],
	             fx.env_len[N_ENTRIES - 1], text, len, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EINCLUSION, "is not below the checkpoint's tree size");
	/* One hash too few, and one too many. */
	tp->index = E_VALID;
	assert_int_equal(
	    mt_inclusion_prove(E_VALID, N_ENTRIES, tu_ms_read, &fx.ms, tp->path, &tp->n_path), 0);
	tp->n_path--;
	assert_int_equal(tproof_format(tp, text, BUF_MAX, &len), 0);
	returned(closurelog_verify_tlog_proof(
	             fx.v, fx.env[E_VALID], fx.env_len[E_VALID], text, len, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EINCLUSION, "inclusion proof has");
	tp->n_path += 2;
	assert_int_equal(tproof_format(tp, text, BUF_MAX, &len), 0);
	returned(closurelog_verify_tlog_proof(
	             fx.v, fx.env[E_VALID], fx.env_len[E_VALID], text, len, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EINCLUSION, "inclusion proof has");
	/* A proof for an older tree, with the current checkpoint. */
	assert_int_equal(
	    mt_inclusion_prove(E_VALID, N_ENTRIES - 1, tu_ms_read, &fx.ms, tp->path, &tp->n_path),
	    0);
	assert_int_equal(tproof_format(tp, text, BUF_MAX, &len), 0);
	returned(closurelog_verify_tlog_proof(
	             fx.v, fx.env[E_VALID], fx.env_len[E_VALID], text, len, NULL, NULL, &res),
	    &res);
	assert_int_equal(res.status, CLOSURELOG_EINCLUSION);
	free(text);
	free(tp);
}

/* An older checkpoint of the same log, and a checkpoint with a witness
 * cosignature and an unknown signature, verify. */
static void
test_checkpoint_variants(void **state)
{
	struct closurelog_result res;
	uint8_t cp[2 * STH_NOTE_MAX + 2 * NOTE_SIGLINE_MAX], *tp = malloc(BUF_MAX), *b;
	char line[NOTE_SIGLINE_MAX + 64];
	size_t cp_len, tp_len, len, text_len, n;
	struct note_signer stranger;
	char vkey[NOTE_VKEY_MAX];

	(void)state;
	assert_non_null(tp);
	cp_len = checkpoint(&fx.log, LOG_NAME, 5, cp, sizeof cp);
	tp_len = tlog_proof(E_VALID, 5, cp, cp_len, tp, BUF_MAX);
	b = bundle_of(fx.env[E_VALID], fx.env_len[E_VALID], tp, tp_len, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, fx.root[E_VALID], NULL, &res), &res);
	assert_int_equal(res.status, CLOSURELOG_OK);
	assert_int_equal(res.tree_size, 5);
	free(b);

	/* Append a witness cosignature and a note signature by a stranger. */
	cp_len = checkpoint(&fx.log, LOG_NAME, N_ENTRIES, cp, sizeof cp);
	/* The text ends at the last blank line (one signature line follows). */
	for (text_len = cp_len - 1; text_len > 0; text_len--)
		if (cp[text_len - 1] == '\n' && cp[text_len] == '\n')
			break;
	assert_true(text_len > 0);
	n = note_cosign_line(&fx.witness, cp, text_len, 1700000000, line, sizeof line);
	assert_true(n > 0);
	memcpy(cp + cp_len, line, n);
	cp_len += n;
	signer(&stranger, "stranger.example.com", "stranger", vkey);
	n = note_sign_line(&stranger, cp, text_len, line, sizeof line);
	assert_true(n > 0);
	memcpy(cp + cp_len, line, n);
	cp_len += n;
	note_signer_wipe(&stranger);
	tp_len = tlog_proof(E_VALID, N_ENTRIES, cp, cp_len, tp, BUF_MAX);
	b = bundle_of(fx.env[E_VALID], fx.env_len[E_VALID], tp, tp_len, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), &res);
	expect_ok(&res, E_VALID);
	free(b);
	free(tp);
}

static void
test_usage(void **state)
{
	struct closurelog_verifier *v = (struct closurelog_verifier *)1;
	struct closurelog_result res;
	const char *subs[] = {fx.ci_vkey};
	const char *bad_subs[] = {fx.ci_vkey, "not a key"};
	char err[CLOSURELOG_ERR_MAX], cosig[NOTE_VKEY_MAX], long_origin[300];
	struct note_verifier cv;
	struct nix_hash h512;
	char sri512[NIX_HASH_STR_MAX];
	uint8_t *b;
	size_t len;

	(void)state;
	/* Expectations are checked before the bundle. */
	b = entry_bundle(E_VALID, &len);
	returned(closurelog_verify_bundle(fx.v, b, len, "/nix/store/short-name", NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, "expected root");
	returned(closurelog_verify_bundle(fx.v, b, len, fx.root[E_VALID] + 1, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, "expected root");
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, "sha256-tooshort", &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, "expected narHash");
	memset(&h512, 0, sizeof h512);
	h512.algo = NIX_SHA512;
	h512.len = 64;
	assert_true(nix_hash_sri(&h512, sri512, sizeof sri512) > 0);
	returned(closurelog_verify_bundle(fx.v, b, len, NULL, sri512, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, "always sha256");
	returned(closurelog_verify_bundle(fx.v, NULL, 5, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, NULL);
	returned(closurelog_verify_bundle(NULL, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, NULL);
	assert_int_equal(
	    closurelog_verify_bundle(fx.v, b, len, NULL, NULL, NULL), CLOSURELOG_EUSAGE);
	returned(closurelog_verify_tlog_proof(NULL, NULL, 0, NULL, 0, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, NULL);
	free(b);

	/* Verifier construction. */
	assert_int_equal(closurelog_verifier_new(fx.log_vkey, NULL, subs, 0, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	assert_null(v);
	assert_non_null(strstr(err, "at least one submitter key"));
	assert_int_equal(closurelog_verifier_new(fx.log_vkey, NULL, NULL, 1, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_verifier_new(fx.log_vkey, NULL, bad_subs, 2, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	assert_non_null(strstr(err, "submitter key 2"));
	assert_null(v);
	assert_int_equal(closurelog_verifier_new("x+y+z", NULL, subs, 1, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	assert_non_null(strstr(err, "log key"));
	assert_int_equal(
	    closurelog_verifier_new(NULL, NULL, subs, 1, &v, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_int_equal(closurelog_verifier_new(fx.log_vkey, NULL, subs, 1, NULL, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	/* A witness (cosignature) key is not a note signing key. */
	note_cosigner_verifier(&fx.witness, &cv);
	assert_true(note_verifier_format(&cv, cosig, sizeof cosig) > 0);
	assert_int_equal(
	    closurelog_verifier_new(cosig, NULL, subs, 1, &v, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_non_null(strstr(err, "not an Ed25519 note key"));
	/* Origins. */
	assert_int_equal(closurelog_verifier_new(fx.log_vkey, "", subs, 1, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	assert_int_equal(closurelog_verifier_new(fx.log_vkey, "a\nb", subs, 1, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	memset(long_origin, 'a', sizeof long_origin - 1);
	long_origin[sizeof long_origin - 1] = '\0';
	assert_int_equal(
	    closurelog_verifier_new(fx.log_vkey, long_origin, subs, 1, &v, err, sizeof err),
	    CLOSURELOG_EUSAGE);
	/* err may be NULL. */
	assert_int_equal(
	    closurelog_verifier_new(fx.log_vkey, NULL, subs, 0, &v, NULL, 0), CLOSURELOG_EUSAGE);
	closurelog_verifier_free(NULL);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(closurelog_status_name(CLOSURELOG_OK), "OK");
	assert_string_equal(closurelog_status_name(CLOSURELOG_EMALFORMED), "EMALFORMED");
	assert_string_equal(closurelog_status_name(CLOSURELOG_ENARHASH), "ENARHASH");
	assert_string_equal(closurelog_status_name(CLOSURELOG_EUSAGE), "EUSAGE");
	assert_string_equal(closurelog_status_name(CLOSURELOG_EWITNESS), "EWITNESS");
	assert_int_equal(CLOSURELOG_EWITNESS, 10); /* stable: appended */
	assert_string_equal(closurelog_status_name((enum closurelog_status)99), "UNKNOWN");
	assert_string_equal(closurelog_status_name((enum closurelog_status) - 1), "UNKNOWN");
}

/* ---- Witnesses: k-of-n cosignature/v1 ---- */

#define N_WIT 3

/* The fixture's checkpoint with the cosignature lines of witnesses ws[]
 * (n of them; line `bad`, if below n, gets one bit flipped), as a bundle
 * of entry E_VALID. */
static uint8_t *
cosigned_bundle(const struct note_signer *const *ws, size_t n, size_t bad, size_t *len)
{
	uint8_t cp[STH_NOTE_MAX + 8 * NOTE_SIGLINE_MAX], *tp = malloc(BUF_MAX), *b;
	size_t cp_len = fx.cp_len, text_len = fx.cp_len - 1, tp_len, l;
	char line[NOTE_SIGLINE_MAX];

	assert_non_null(tp);
	memcpy(cp, fx.cp, fx.cp_len);
	while (!(cp[text_len - 1] == '\n' && cp[text_len] == '\n'))
		text_len--;
	for (size_t i = 0; i < n; i++) {
		l = note_cosign_line(ws[i], cp, text_len, 1700000000 + i, line, sizeof line);
		assert_true(l > 0);
		if (i == bad)
			line[l - 8] ^= 0x01; /* a base64 letter of the signature */
		memcpy(cp + cp_len, line, l);
		cp_len += l;
	}
	tp_len = tlog_proof(E_VALID, N_ENTRIES, cp, cp_len, tp, BUF_MAX);
	b = bundle_of(fx.env[E_VALID], fx.env_len[E_VALID], tp, tp_len, len);
	free(tp);
	return b;
}

static void
test_witnesses(void **state)
{
	struct note_signer w[N_WIT + 1];
	const struct note_signer *all[N_WIT + 2];
	char vk[N_WIT + 1][NOTE_VKEY_MAX], err[CLOSURELOG_ERR_MAX], label[16];
	struct closurelog_verifier *v;
	struct closurelog_result res;
	const char *subs[1] = {fx.ci_vkey};
	struct note_verifier cv;
	uint8_t *b;
	size_t len;

	(void)state;
	for (int i = 0; i <= N_WIT; i++) {
		snprintf(label, sizeof label, "wit-%d", i);
		signer(&w[i], i == N_WIT ? "stranger.example/w" : "witness.example.com/w", label,
		    vk[i]);
		note_cosigner_verifier(&w[i], &cv);
		assert_true(note_verifier_format(&cv, vk[i], sizeof vk[i]) > 0);
		all[i] = &w[i];
	}
	v = verifier(fx.log_vkey, NULL, subs, 1);
	for (int i = 0; i < N_WIT; i++)
		assert_int_equal(closurelog_verifier_add_witness(v, vk[i], err, sizeof err), 0);

	/* Default quorum: all three.  With all three lines: OK, no heap. */
	b = cosigned_bundle(all, N_WIT, SIZE_MAX, &len);
	n_allocs = 0;
	assert_int_equal(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), CLOSURELOG_OK);
	assert_int_equal(n_allocs, 0);
	expect_ok(&res, E_VALID);
	free(b);
	/* Two of three: EWITNESS, naming the count. */
	b = cosigned_bundle(all, 2, SIZE_MAX, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "2 of the 3");
	/* ... unless the quorum is two. */
	assert_int_equal(closurelog_verifier_set_witness_quorum(v, 2, err, sizeof err), 0);
	assert_int_equal(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), CLOSURELOG_OK);
	free(b);
	/* One witness twice does not count twice. */
	all[1] = &w[0];
	b = cosigned_bundle(all, 2, SIZE_MAX, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "1 of the 3");
	free(b);
	all[1] = &w[1];
	/* A stranger's cosignature does not count either (and is ignored). */
	all[1] = &w[N_WIT];
	b = cosigned_bundle(all, 2, SIZE_MAX, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "1 of the 3");
	free(b);
	all[1] = &w[1];
	/* A bad line by a configured witness sinks the checkpoint. */
	b = cosigned_bundle(all, N_WIT, 2, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "does not verify");
	free(b);
	/* No cosignature at all. */
	b = entry_bundle(E_VALID, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "0 of the 3");
	free(b);
	/* A bad log signature is ECHECKPOINT, however many witnesses cosigned:
	 * the verifier's log key is the stranger's. */
	{
		struct closurelog_verifier *v2 = verifier(fx.other_vkey, LOG_NAME, subs, 1);

		for (int i = 0; i < N_WIT; i++)
			assert_int_equal(
			    closurelog_verifier_add_witness(v2, vk[i], err, sizeof err), 0);
		b = cosigned_bundle(all, N_WIT, SIZE_MAX, &len);
		returned(closurelog_verify_bundle(v2, b, len, NULL, NULL, &res), &res);
		expect_fail(&res, CLOSURELOG_ECHECKPOINT, NULL);
		free(b);
		closurelog_verifier_free(v2);
	}
	/* A quorum above the witnesses given is the caller's error. */
	assert_int_equal(closurelog_verifier_set_witness_quorum(v, 4, err, sizeof err), 0);
	b = cosigned_bundle(all, N_WIT, SIZE_MAX, &len);
	returned(closurelog_verify_bundle(v, b, len, NULL, NULL, &res), &res);
	expect_fail(&res, CLOSURELOG_EUSAGE, "quorum");
	free(b);

	/* Bad arguments. */
	assert_int_equal(
	    closurelog_verifier_set_witness_quorum(v, 0, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_verifier_set_witness_quorum(NULL, 1, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_verifier_add_witness(v, vk[0], err, sizeof err), CLOSURELOG_EUSAGE);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(
	    closurelog_verifier_add_witness(v, fx.ci_vkey, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_non_null(strstr(err, "0x04"));
	assert_int_equal(
	    closurelog_verifier_add_witness(v, "not a key", err, sizeof err), CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_verifier_add_witness(v, NULL, err, sizeof err), CLOSURELOG_EUSAGE);
	assert_int_equal(
	    closurelog_verifier_add_witness(NULL, vk[0], err, sizeof err), CLOSURELOG_EUSAGE);
	closurelog_verifier_free(v);
	for (int i = 0; i <= N_WIT; i++)
		note_signer_wipe(&w[i]);
}

/* The tlog-proof vector of note-vectors.json, with its witness: the
 * cosignature passes (the entry, four bytes, is no envelope, so the
 * verification goes on to fail there), and one flipped bit of it fails. */
static void
test_witness_vector(void **state)
{
	json_t *nv = tu_vectors("note-vectors.json"), *d = json_object_get(nv, "derived");
	const char *text = tu_str(json_object_get(d, "tlog_proof"), "text");
	const char *wvk = tu_str(json_object_get(d, "witness"), "vkey");
	const char *lvk = tu_str(json_object_get(d, "log"), "vkey");
	const char *subs[1] = {fx.ci_vkey};
	struct closurelog_verifier *v = verifier(lvk, NULL, subs, 1);
	struct closurelog_result res;
	char err[CLOSURELOG_ERR_MAX], *bad;
	uint8_t entry[4];
	size_t n = strlen(text);

	(void)state;
	tu_unhex(tu_str(json_object_get(d, "tlog_proof"), "entry_hex"), entry, sizeof entry);
	assert_int_equal(closurelog_verifier_add_witness(v, wvk, err, sizeof err), 0);
	returned(closurelog_verify_tlog_proof(
	             v, entry, sizeof entry, (const uint8_t *)text, n, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EMALFORMED, "envelope");
	bad = strdup(text);
	assert_non_null(bad);
	bad[n - 10] ^= 0x01;
	returned(closurelog_verify_tlog_proof(
	             v, entry, sizeof entry, (const uint8_t *)bad, n, NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "does not verify");
	/* Without the witness's line (the log's alone): not enough witnesses. */
	bad[n - strlen(tu_str(json_object_get(d, "cosignature"), "line"))] = '\0';
	returned(closurelog_verify_tlog_proof(
	             v, entry, sizeof entry, (const uint8_t *)bad, strlen(bad), NULL, NULL, &res),
	    &res);
	expect_fail(&res, CLOSURELOG_EWITNESS, "0 of the 1");
	free(bad);
	closurelog_verifier_free(v);
	json_decref(nv);
}

/* Making a verifier with its n-th allocation failing, for every n: a clean
 * ENOMEM with a reason and no verifier (and, under ASan, no leak); with
 * none failing, a verifier that verifies. */
static void
test_verifier_new_alloc_failures(void **state)
{
	const char *subs[2] = {fx.ci_vkey, fx.ci_vkey};
	struct closurelog_verifier *v;
	struct closurelog_result res;
	char err[CLOSURELOG_ERR_MAX];
	unsigned long n, total;
	uint8_t *b;
	size_t len;

	(void)state;
	n_allocs = 0;
	assert_int_equal(
	    closurelog_verifier_new(fx.log_vkey, NULL, subs, 2, &v, err, sizeof err), 0);
	total = n_allocs;
	closurelog_verifier_free(v);
	assert_true(total >= 2);
	for (n = 1; n <= total; n++) {
		n_allocs = 0;
		fail_at = n;
		v = (struct closurelog_verifier *)&v;
		err[0] = '\0';
		assert_int_equal(
		    closurelog_verifier_new(fx.log_vkey, NULL, subs, 2, &v, err, sizeof err),
		    CLOSURELOG_ESYSTEM);
		fail_at = 0;
		assert_null(v);
		assert_non_null(strstr(err, "memory"));
	}
	/* Verification itself allocates nothing, so failing every allocation
	 * changes nothing. */
	b = entry_bundle(0, &len);
	n_allocs = 0;
	fail_at = 1;
	assert_int_equal(closurelog_verify_bundle(fx.v, b, len, NULL, NULL, &res), 0);
	fail_at = 0;
	assert_int_equal(n_allocs, 0);
	expect_ok(&res, 0);
	free(b);
	print_message(
	    "  verifier construction: each of its %lu allocations failed in turn, cleanly\n",
	    total);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_verifier_new_alloc_failures),
	    cmocka_unit_test(test_nar_hash_forms),
	    cmocka_unit_test(test_root_mismatch),
	    cmocka_unit_test(test_every_bit_flip),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_wrong_log_key),
	    cmocka_unit_test(test_wrong_origin),
	    cmocka_unit_test(test_submitters),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_bad_attestation),
	    cmocka_unit_test(test_tlog_proof),
	    cmocka_unit_test(test_proof_shape),
	    cmocka_unit_test(test_checkpoint_variants),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_witnesses),
	    cmocka_unit_test(test_witness_vector),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
