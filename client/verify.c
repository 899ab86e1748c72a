/*
 * verify.c: libclosurelog-verify, the offline bundle verifier that brokers
 * link (include/closurelog/verify.h), built only from the proto/ and
 * merkle/ primitives.
 *
 * The checks run cheapest-and-outermost first, and each one trusts only
 * what the previous ones established: the checkpoint is believed only once
 * the log key signed it, the envelope only once it is proven to be in that
 * checkpoint's tree, and the attestation is decoded only from the payload
 * bytes a submitter signature covers.  All decoding goes into the
 * verifier's arena, reset at the start of each call, so a verification
 * never touches the heap; the price is that one verifier serves one thread.
 * Results are copied out by value and cleared on failure, so a caller can
 * never act on half-checked fields.
 */
#include "closurelog/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "merkle.h"
#include "nix.h"
#include "note.h"
#include "sth.h"
#include "tproof.h"
#include "wire.h"

#define RES_FIELD_SIZE(f) sizeof(((struct closurelog_result *)0)->f)

_Static_assert(RES_FIELD_SIZE(reason) >= CL_WHY_MAX, "reason holds a cl_why line");
_Static_assert(RES_FIELD_SIZE(origin) >= STH_ORIGIN_MAX + 1, "origin fits");
_Static_assert(RES_FIELD_SIZE(root) >= NIX_STORE_PATH_MAX + 1, "store path fits");
_Static_assert(RES_FIELD_SIZE(nar_hash) >= NIX_SRI_SHA256_LEN + 1, "SRI sha256 fits");
_Static_assert(RES_FIELD_SIZE(submitter) >= NOTE_NAME_MAX + 1, "key name fits");
_Static_assert(RES_FIELD_SIZE(submitter_keyid) == CL_KEYID_LEN + 1, "key ID fits");
_Static_assert(CLOSURELOG_BUNDLE_MAX == CL_API_MAX, "bundle cap is the API message cap");
_Static_assert(CLOSURELOG_SUBMITTER_KEYS_MAX <= SIZE_MAX / sizeof(struct note_verifier),
    "key array size cannot overflow");

struct closurelog_verifier {
	struct note_verifier log;
	char origin[STH_ORIGIN_MAX + 1];
	struct wire_arena arena;
	void *arena_buf;
	struct note_verifier *wits; /* n_wits witness keys (type 0x04), malloc'd */
	size_t n_wits, quorum;      /* quorum 0: every witness */
	size_t n_subs;
	struct note_verifier subs[]; /* n_subs accepted submitter keys */
};

static const char *const status_names[] = {
    [CLOSURELOG_OK] = "OK",
    [CLOSURELOG_EMALFORMED] = "EMALFORMED",
    [CLOSURELOG_ECHECKPOINT] = "ECHECKPOINT",
    [CLOSURELOG_EINCLUSION] = "EINCLUSION",
    [CLOSURELOG_ESUBMITTER] = "ESUBMITTER",
    [CLOSURELOG_ESIGNATURE] = "ESIGNATURE",
    [CLOSURELOG_EATTESTATION] = "EATTESTATION",
    [CLOSURELOG_EROOT] = "EROOT",
    [CLOSURELOG_ENARHASH] = "ENARHASH",
    [CLOSURELOG_EUSAGE] = "EUSAGE",
    [CLOSURELOG_EWITNESS] = "EWITNESS",
    [CLOSURELOG_ESYSTEM] = "ESYSTEM",
    [CLOSURELOG_ENOFORK] = "ENOFORK",
};

const char *
closurelog_status_name(enum closurelog_status status)
{
	if ((unsigned)status >= sizeof status_names / sizeof status_names[0])
		return "UNKNOWN";
	return status_names[status];
}

/* Parse one Ed25519 verifier key string for closurelog_verifier_new. */
static enum closurelog_status
key_parse(const char *what, const char *s, struct note_verifier *v, char *err, size_t err_len)
{
	char why[CL_WHY_MAX];
	size_t len;

	if (s == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "%s is missing", what);
	/* No valid key string is longer; don't scan arbitrary memory for a NUL. */
	len = strnlen(s, NOTE_VKEY_MAX);
	if (len >= NOTE_VKEY_MAX)
		return cl_why_n(
		    err, err_len, CLOSURELOG_EUSAGE, "%s is too long to be a key", what);
	if (note_verifier_parse(s, len, v, why) != 0)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "%s: %s", what, why);
	if (v->type != NOTE_TYPE_ED25519)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
		    "%s: %s is a type 0x%02x key, not an Ed25519 note key (0x01)", what, v->name,
		    v->type);
	return 0;
}

enum closurelog_status
closurelog_verifier_new(const char *log_key, const char *origin, const char *const *submitter_keys,
    size_t n, struct closurelog_verifier **out, char *err, size_t err_len)
{
	struct closurelog_verifier *v = NULL;
	char what[64];
	size_t olen;
	enum closurelog_status rc;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (out == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "no place for the verifier (out)");
	*out = NULL;
	if (submitter_keys == NULL || n == 0)
		return cl_why_n(
		    err, err_len, CLOSURELOG_EUSAGE, "at least one submitter key is needed");
	if (n > CLOSURELOG_SUBMITTER_KEYS_MAX)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
		    "%zu submitter keys; at most %d are accepted", n,
		    CLOSURELOG_SUBMITTER_KEYS_MAX);
	if (sodium_init() < 0)
		return cl_why_n(
		    err, err_len, CLOSURELOG_ESYSTEM, "libsodium cannot be initialised");
	if ((v = calloc(1, sizeof *v + n * sizeof v->subs[0])) == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_ESYSTEM, "out of memory");
	if ((rc = key_parse("log key", log_key, &v->log, err, err_len)) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof what, "submitter key %zu", i + 1);
		if ((rc = key_parse(what, submitter_keys[i], &v->subs[i], err, err_len)) != 0)
			goto fail;
	}
	v->n_subs = n;
	if (origin == NULL)
		origin = v->log.name;
	olen = strnlen(origin, sizeof v->origin);
	if (olen == 0 || olen >= sizeof v->origin) {
		rc = cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "origin must be 1 to %d bytes",
		    STH_ORIGIN_MAX);
		goto fail;
	}
	for (size_t i = 0; i < olen; i++) {
		if ((unsigned char)origin[i] < 0x20 || origin[i] == 0x7f) {
			rc = cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
			    "origin contains a control character at byte %zu", i);
			goto fail;
		}
	}
	memcpy(v->origin, origin, olen);
	if ((v->arena_buf = malloc(WIRE_ARENA_MIN)) == NULL) {
		rc = cl_why_n(err, err_len, CLOSURELOG_ESYSTEM, "out of memory");
		goto fail;
	}
	wire_arena_init(&v->arena, v->arena_buf, WIRE_ARENA_MIN);
	*out = v;
	return 0;
fail:
	closurelog_verifier_free(v);
	return rc;
}

void
closurelog_verifier_free(struct closurelog_verifier *v)
{
	if (v == NULL)
		return;
	free(v->arena_buf);
	free(v->wits);
	free(v);
}

enum closurelog_status
closurelog_verifier_add_witness(
    struct closurelog_verifier *v, const char *witness_key, char *err, size_t err_len)
{
	struct note_verifier w, *nw;
	char why[CL_WHY_MAX];
	size_t len;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (v == NULL || witness_key == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "verifier or witness key missing");
	len = strnlen(witness_key, NOTE_VKEY_MAX);
	if (len >= NOTE_VKEY_MAX)
		return cl_why_n(
		    err, err_len, CLOSURELOG_EUSAGE, "witness key is too long to be a key");
	if (note_verifier_parse(witness_key, len, &w, why) != 0)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "witness key: %s", why);
	if (w.type != NOTE_TYPE_COSIG)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
		    "witness key %s is a type 0x%02x key, not a cosignature/v1 key (0x04)", w.name,
		    w.type);
	for (size_t i = 0; i < v->n_wits; i++) {
		if (v->wits[i].id == w.id && strcmp(v->wits[i].name, w.name) == 0)
			return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
			    "witness key %s+%08" PRIx32 " is given twice", w.name, w.id);
	}
	if (v->n_wits == CLOSURELOG_WITNESS_KEYS_MAX)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "more than %d witness keys",
		    CLOSURELOG_WITNESS_KEYS_MAX);
	if ((nw = realloc(v->wits, (v->n_wits + 1) * sizeof *nw)) == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_ESYSTEM, "out of memory");
	v->wits = nw;
	v->wits[v->n_wits++] = w;
	return 0;
}

enum closurelog_status
closurelog_verifier_set_witness_quorum(
    struct closurelog_verifier *v, size_t k, char *err, size_t err_len)
{
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (v == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "no verifier");
	if (k == 0 || k > CLOSURELOG_WITNESS_KEYS_MAX)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
		    "witness quorum %zu is not between 1 and %d", k, CLOSURELOG_WITNESS_KEYS_MAX);
	v->quorum = k;
	return 0;
}

/* Clear res, set a failure status and its reason, and return the status.
 * The arguments must not point into res. */
static enum closurelog_status __attribute__((format(printf, 3, 4)))
fail(struct closurelog_result *res, enum closurelog_status st, const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof *res);
	res->status = st;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
	return st;
}

static void
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Check what the caller expects before looking at the bundle: a malformed
 * expectation is the caller's bug and must not read as a bad bundle.  On
 * success want_sri holds the narHash in canonical SRI form ("" for any). */
static enum closurelog_status
expect_check(const char *want_root, const char *want_nar_hash, char want_sri[NIX_HASH_STR_MAX],
    struct closurelog_result *res)
{
	struct nix_hash h;
	char why[CL_WHY_MAX];
	size_t len;

	want_sri[0] = '\0';
	if (want_root != NULL) {
		len = strnlen(want_root, NIX_STORE_PATH_MAX + 1);
		if (nix_store_path_check(want_root, len, why) != 0)
			return fail(res, CLOSURELOG_EUSAGE, "expected root: %s", why);
	}
	if (want_nar_hash != NULL) {
		len = strnlen(want_nar_hash, NIX_HASH_STR_MAX + 1);
		if (nix_hash_parse(want_nar_hash, len, NIX_SHA256, &h, why) != 0)
			return fail(res, CLOSURELOG_EUSAGE, "expected narHash: %s", why);
		if (h.algo != NIX_SHA256)
			return fail(res, CLOSURELOG_EUSAGE,
			    "expected narHash is %s; a narHash is always sha256",
			    nix_algo_name(h.algo));
		if (nix_hash_sri(&h, want_sri, NIX_HASH_STR_MAX) == 0)
			return fail(res, CLOSURELOG_EUSAGE, "expected narHash cannot be formatted");
	}
	return CLOSURELOG_OK;
}

/* Check 2b: a quorum of distinct added witnesses cosigned the checkpoint
 * (already known to be signed by the log key).  The note is parsed into
 * the arena: no heap. */
static enum closurelog_status
witness_check(
    struct closurelog_verifier *v, const uint8_t *cp, size_t cp_len, struct closurelog_result *res)
{
	size_t need = v->quorum != 0 ? v->quorum : v->n_wits, got = 0;
	char why[CL_WHY_MAX];
	struct note *n;
	int rc;

	if (v->n_wits == 0)
		return CLOSURELOG_OK;
	if (need > v->n_wits)
		return fail(res, CLOSURELOG_EUSAGE,
		    "witness quorum is %zu, but only %zu witness keys are given", need, v->n_wits);
	if ((n = wire_arena_alloc(&v->arena, sizeof *n)) == NULL)
		return fail(res, CLOSURELOG_EMALFORMED, "verifier arena exhausted");
	rc = note_open(cp, cp_len, v->wits, v->n_wits, n, why);
	if (rc == CL_EBADSIG)
		return fail(res, CLOSURELOG_EWITNESS, "witness cosignature: %s", why);
	if (rc != 0 && rc != CL_ENOKEY)
		return fail(res, CLOSURELOG_EWITNESS, "checkpoint cosignatures: %s", why);
	if (rc == 0)
		got = note_keys_verified(n, v->n_wits);
	if (got < need)
		return fail(res, CLOSURELOG_EWITNESS,
		    "checkpoint is cosigned by %zu of the %zu witnesses given; %zu needed", got,
		    v->n_wits, need);
	return CLOSURELOG_OK;
}

/* The checks shared by both entry points, from the tlog-proof on.  The
 * arena has been reset by the caller (and may hold the decoded bundle). */
static enum closurelog_status
verify_entry(struct closurelog_verifier *v, const uint8_t *env_buf, size_t env_len,
    const uint8_t *tp_buf, size_t tp_len, const char *want_root, const char *want_sri,
    struct closurelog_result *res)
{
	struct tproof *tp;
	struct sth c;
	struct cl_envelope env;
	struct cl_attestation att;
	uint8_t leaf[MT_HASH_LEN];
	char why[CL_WHY_MAX];
	enum closurelog_status st;
	size_t signer;
	int rc;

	if (env_len == 0)
		return fail(res, CLOSURELOG_EMALFORMED, "envelope is empty");
	if (env_len > CL_ENTRY_MAX)
		return fail(res, CLOSURELOG_EMALFORMED, "envelope is %zu bytes, more than %d",
		    env_len, CL_ENTRY_MAX);

	if ((tp = wire_arena_alloc(&v->arena, sizeof *tp)) == NULL)
		return fail(res, CLOSURELOG_EMALFORMED, "verifier arena exhausted");
	if (tproof_parse(tp_buf, tp_len, tp, why) != 0)
		return fail(res, CLOSURELOG_EMALFORMED, "tlog-proof: %s", why);

	/* The log key must sign the checkpoint; witness lines are ignored. */
	rc = sth_open(tp->checkpoint, tp->checkpoint_len, &v->log, NULL, &c, why);
	if (rc == CL_ENOKEY)
		return fail(res, CLOSURELOG_ECHECKPOINT,
		    "checkpoint is not signed by the log key %s (%08" PRIx32 ")", v->log.name,
		    v->log.id);
	if (rc == CL_EBADSIG)
		return fail(res, CLOSURELOG_ECHECKPOINT,
		    "checkpoint signature by the log key %s (%08" PRIx32 ") is invalid",
		    v->log.name, v->log.id);
	if (rc != 0)
		return fail(res, CLOSURELOG_ECHECKPOINT, "checkpoint: %s", why);
	if (strcmp(c.origin, v->origin) != 0)
		return fail(res, CLOSURELOG_ECHECKPOINT, "checkpoint origin is %s, expected %s",
		    c.origin, v->origin);

	if ((st = witness_check(v, tp->checkpoint, tp->checkpoint_len, res)) != CLOSURELOG_OK)
		return st;

	mt_leaf_hash(leaf, env_buf, env_len);
	rc = mt_inclusion_verify(leaf, tp->index, c.size, MT_PATH(tp->path), tp->n_path, c.root);
	if (rc == MT_EINVAL)
		return fail(res, CLOSURELOG_EINCLUSION,
		    "entry index %" PRIu64 " is not below the checkpoint's tree size %" PRIu64,
		    tp->index, c.size);
	if (rc == MT_EPROOFLEN)
		return fail(res, CLOSURELOG_EINCLUSION,
		    "inclusion proof has %zu hashes; entry %" PRIu64 " of a %" PRIu64
		    "-entry tree needs %zu",
		    tp->n_path, tp->index, c.size, mt_inclusion_len(tp->index, c.size));
	if (rc != 0)
		return fail(res, CLOSURELOG_EINCLUSION,
		    "inclusion proof does not lead to the checkpoint root");

	/* The entry is in the log; now, who signed it? */
	if (wire_envelope_decode(&v->arena, env_buf, env_len, &env, why) != 0)
		return fail(res, CLOSURELOG_EMALFORMED, "envelope: %s", why);
	rc = dsse_verify(&v->arena, &env, v->subs, v->n_subs, &signer, why);
	if (rc == CL_ENOKEY)
		return fail(res, CLOSURELOG_ESUBMITTER, "%s", why);
	if (rc == CL_EBADSIG)
		return fail(res, CLOSURELOG_ESIGNATURE, "%s", why);
	if (rc != 0)
		return fail(res, CLOSURELOG_EMALFORMED, "envelope: %s", why);

	/* Only the signed payload bytes are parsed. */
	if (wire_attestation_decode(&v->arena, env.payload, env.payload_len, &att, why) != 0)
		return fail(res, CLOSURELOG_EATTESTATION, "attestation: %s", why);
	if (want_root != NULL && strcmp(att.root, want_root) != 0)
		return fail(res, CLOSURELOG_EROOT, "root mismatch: attested %s, expected %s",
		    att.root, want_root);
	if (want_sri[0] != '\0' && strcmp(att.nar_hash, want_sri) != 0)
		return fail(res, CLOSURELOG_ENARHASH, "narHash mismatch: attested %s, expected %s",
		    att.nar_hash, want_sri);

	memset(res, 0, sizeof *res);
	res->status = CLOSURELOG_OK;
	res->index = tp->index;
	res->tree_size = c.size;
	copy_str(res->origin, sizeof res->origin, c.origin);
	copy_str(res->root, sizeof res->root, att.root);
	copy_str(res->nar_hash, sizeof res->nar_hash, att.nar_hash);
	copy_str(res->submitter, sizeof res->submitter, v->subs[signer].name);
	snprintf(
	    res->submitter_keyid, sizeof res->submitter_keyid, "%08" PRIx32, v->subs[signer].id);
	return CLOSURELOG_OK;
}

enum closurelog_status
closurelog_verify_bundle(struct closurelog_verifier *v, const uint8_t *bundle, size_t len,
    const char *want_root, const char *want_nar_hash, struct closurelog_result *res)
{
	struct cl_bundle b;
	char want_sri[NIX_HASH_STR_MAX], why[CL_WHY_MAX];
	enum closurelog_status st;

	if (res == NULL)
		return CLOSURELOG_EUSAGE;
	if (v == NULL)
		return fail(res, CLOSURELOG_EUSAGE, "no verifier");
	if (bundle == NULL && len > 0)
		return fail(res, CLOSURELOG_EUSAGE, "bundle is NULL but its length is %zu", len);
	if ((st = expect_check(want_root, want_nar_hash, want_sri, res)) != CLOSURELOG_OK)
		return st;
	wire_arena_reset(&v->arena);
	if (len == 0)
		return fail(res, CLOSURELOG_EMALFORMED, "bundle is empty");
	if (wire_bundle_decode(&v->arena, bundle, len, &b, why) != 0)
		return fail(res, CLOSURELOG_EMALFORMED, "%s", why);
	return verify_entry(v, b.envelope, b.envelope_len, b.tlog_proof, b.tlog_proof_len,
	    want_root, want_sri, res);
}

enum closurelog_status
closurelog_verify_tlog_proof(struct closurelog_verifier *v, const uint8_t *envelope, size_t env_len,
    const uint8_t *tlog_proof, size_t tp_len, const char *want_root, const char *want_nar_hash,
    struct closurelog_result *res)
{
	char want_sri[NIX_HASH_STR_MAX];
	enum closurelog_status st;

	if (res == NULL)
		return CLOSURELOG_EUSAGE;
	if (v == NULL)
		return fail(res, CLOSURELOG_EUSAGE, "no verifier");
	if ((envelope == NULL && env_len > 0) || (tlog_proof == NULL && tp_len > 0))
		return fail(res, CLOSURELOG_EUSAGE, "envelope or tlog-proof is NULL");
	if ((st = expect_check(want_root, want_nar_hash, want_sri, res)) != CLOSURELOG_OK)
		return st;
	wire_arena_reset(&v->arena);
	return verify_entry(v, envelope, env_len, tlog_proof, tp_len, want_root, want_sri, res);
}
