/*
 * wire.c: protobuf-c messages <-> closurelog types, with canonical decoding.
 *
 * protobuf-c accepts many encodings of one message (fields in any order,
 * repeated non-repeated fields, explicit defaults, unpacked scalars, long
 * varints) and keeps unknown fields.  A transparency log must not: two
 * spellings of one attestation would be two leaves.  So every decoder
 * unpacks into the arena, refuses unknown fields at any depth, and
 * requires the very bytes that packing the message again would give
 * (checked on the input in one pass, wirecanon.c).  Only then are the
 * fields converted and checked.
 */
#include "wire.h"

#include <stdio.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "cl.h"
#include "closurelog.pb-c.h"
#include "nix.h"
#include "wirecanon.h"

/* ---- Arena ---- */

void
wire_arena_init(struct wire_arena *a, void *buf, size_t cap)
{
	a->base = buf;
	a->cap = cap;
	a->used = 0;
	a->exhausted = false;
}

void
wire_arena_reset(struct wire_arena *a)
{
	a->used = 0;
	a->exhausted = false;
}

void *
wire_arena_alloc(struct wire_arena *a, size_t n)
{
	size_t at = (a->used + 15) & ~(size_t)15;

	if (at > a->cap || n > a->cap - at) {
		a->exhausted = true;
		return NULL;
	}
	a->used = at + n;
	return a->base + at;
}

static void *
pb_alloc(void *data, size_t size)
{
	return wire_arena_alloc(data, size == 0 ? 1 : size);
}

static void
pb_free(void *data, void *ptr)
{
	/* Arena memory is released all at once by wire_arena_reset. */
	(void)data;
	(void)ptr;
}

/* ---- Canonical decoding ---- */

static ProtobufCMessage *
decode(struct wire_arena *a, const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
    size_t cap, const char *what, int *rc, char *why)
{
	ProtobufCAllocator al = {pb_alloc, pb_free, a};
	ProtobufCMessage *m;
	uint32_t tag;

	if (len > cap) {
		*rc = cl_why(
		    why, CL_ETOOBIG, "%s: %zu bytes is above the limit of %zu", what, len, cap);
		return NULL;
	}
	a->exhausted = false;
	m = protobuf_c_message_unpack(d, &al, len, buf);
	if (m == NULL) {
		/* Within the byte caps, only thousands of tiny repeated
		 * elements (each decoded to a struct) fill a full-size arena. */
		if (a->exhausted && a->cap >= WIRE_ARENA_MIN)
			*rc = cl_why(why, CL_ETOOBIG, "%s: too many repeated elements", what);
		else if (a->exhausted)
			*rc = cl_why(why, CL_ENOMEM, "%s: decoding arena exhausted", what);
		else
			*rc = cl_why(why, CL_EINVAL, "%s: malformed protobuf", what);
		return NULL;
	}
	if ((tag = wire_unknown_tag(m)) != 0) {
		*rc = cl_why(why, CL_EINVAL, "%s: unknown field number %u", what, (unsigned)tag);
		return NULL;
	}
	/* Exactly what packing m again would give (wirecanon.h). */
	if (!wire_canonical(d, buf, len)) {
		*rc = cl_why(why, CL_ENONCANON, "%s: not canonically encoded", what);
		return NULL;
	}
	*rc = 0;
	return m;
}

static int
encode(struct wire_arena *a, const ProtobufCMessage *m, size_t cap, const uint8_t **out,
    size_t *len, char *why)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (n > cap)
		return cl_why(why, CL_ETOOBIG, "%s: %zu bytes is above the limit of %zu",
		    m->descriptor->short_name, n, cap);
	if ((buf = wire_arena_alloc(a, n == 0 ? 1 : n)) == NULL)
		return cl_why(why, CL_ENOMEM, "encoding arena exhausted");
	protobuf_c_message_pack(m, buf);
	*out = buf;
	*len = n;
	return 0;
}

/* ---- Field checks ---- */

static const struct {
	const char *name;
	size_t len;
} digest_algs[] = {
    {"sha256", 32},
    {"sha384", 48},
    {"sha512", 64},
    {"sha3-256", 32},
    {"sha3-512", 64},
    {"blake3", 32},
};

/* Length in bytes of a digest algorithm's output, or 0 if unknown. */
static size_t
wire_digest_len(const char *algorithm)
{
	for (size_t i = 0; i < sizeof digest_algs / sizeof digest_algs[0]; i++) {
		if (strcmp(algorithm, digest_algs[i].name) == 0)
			return digest_algs[i].len;
	}
	return 0;
}

static int
check_digest(const struct cl_digest *d, const char *field, char *why)
{
	size_t want;

	if (d->algorithm == NULL || d->algorithm[0] == '\0')
		return cl_why(why, CL_EINVAL, "%s: missing algorithm", field);
	if ((want = wire_digest_len(d->algorithm)) == 0)
		return cl_why(
		    why, CL_EINVAL, "%s: unknown algorithm \"%.32s\"", field, d->algorithm);
	if (d->len != want)
		return cl_why(why, CL_EINVAL, "%s: %s digest is %zu bytes, not %zu", field,
		    d->algorithm, d->len, want);
	return 0;
}

/* Printable ASCII (with spaces only if `spaces`), at most max bytes. */
static int
check_text(const char *s, size_t max, bool spaces, const char *field, char *why)
{
	size_t n = strlen(s);

	if (n > max)
		return cl_why(
		    why, CL_ETOOBIG, "%s: %zu bytes is above the limit of %zu", field, n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || (c == 0x20 && !spaces))
			return cl_why(why, CL_EINVAL,
			    "%s: byte 0x%02x at offset %zu is not allowed", field,
			    (unsigned char)s[i], i);
	}
	return 0;
}

static int
check_url(const char *s, bool http_only, const char *field, char *why)
{
	size_t i = 0;
	int rc;

	if ((rc = check_text(s, CL_URL_MAX, false, field, why)) != 0)
		return rc;
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return cl_why(why, CL_EINVAL, "%s: not a URL (no scheme)", field);
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.')
		i++;
	if (strncmp(s + i, "://", 3) != 0 || s[i + 3] == '\0')
		return cl_why(why, CL_EINVAL, "%s: not a URL (expected <scheme>://...)", field);
	if (http_only && !(i == 4 && strncmp(s, "http", 4) == 0) &&
	    !(i == 5 && strncmp(s, "https", 5) == 0))
		return cl_why(why, CL_EINVAL, "%s: scheme must be http or https", field);
	return 0;
}

static int
check_system(const char *s, char *why)
{
	size_t n = strlen(s), dash = 0;

	if (n > CL_SYSTEM_MAX)
		return cl_why(why, CL_ETOOBIG, "build.system: longer than %d bytes", CL_SYSTEM_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-') {
			if (dash != 0 || i == 0 || i + 1 == n)
				return cl_why(
				    why, CL_EINVAL, "build.system: \"%s\" is not <arch>-<os>", s);
			dash = i;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
			return cl_why(
			    why, CL_EINVAL, "build.system: \"%.64s\" is not <arch>-<os>", s);
		}
	}
	if (dash == 0)
		return cl_why(why, CL_EINVAL, "build.system: \"%s\" is not <arch>-<os>", s);
	return 0;
}

/* A Nix public key: "<name>:<base64 of 32 bytes>". */
static int
check_nix_key(const char *s, const char *field, char *why)
{
	const char *colon;
	uint8_t key[33];
	size_t n;
	int rc;

	if ((rc = check_text(s, CL_TEXT_MAX, false, field, why)) != 0)
		return rc;
	colon = strchr(s, ':');
	if (colon == NULL || colon == s)
		return cl_why(why, CL_EINVAL, "%s: not <name>:<base64 key>", field);
	if (cl_b64_decode(colon + 1, strlen(colon + 1), key, sizeof key, &n) != 0 || n != 32)
		return cl_why(why, CL_EINVAL, "%s: key is not base64 of 32 bytes", field);
	return 0;
}

static int
check_digest_name(const char *s, char *why)
{
	size_t n = strlen(s);

	if (n == 0 || n > CL_DIGEST_NAME_MAX)
		return cl_why(why, CL_EINVAL, "extra_digests.name: must be 1 to %d bytes",
		    CL_DIGEST_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return cl_why(why, CL_EINVAL,
			    "extra_digests.name: \"%.64s\" has characters outside [a-z0-9._-]", s);
	}
	return 0;
}

/* Check every field against the rules in docs/formats.md: root and
 * successors are store paths; nar_hash canonical SRI sha256; flake_lock
 * required, with a known algorithm and matching length; system matches
 * [a-z0-9_]+-[a-z0-9_]+; URLs are printable ASCII with a scheme; trusted
 * keys are "<name>:<base64 of 32 bytes>"; counts and lengths within caps;
 * successors distinct and not the root.  nar (NULL: not wanted) gets the
 * digest of nar_hash.  Returns 0 or CL_EINVAL/CL_ETOOBIG. */
static int
wire_attestation_check(const struct cl_attestation *att, uint8_t nar[32], char *why)
{
	char field[64], inner[CL_WHY_MAX];
	int rc;

	if (att->root == NULL || att->root[0] == '\0')
		return cl_why(why, CL_EINVAL, "root: missing");
	if ((rc = nix_store_path_check(att->root, strlen(att->root), inner)) != 0)
		return cl_why(why, rc, "root: %.200s", inner);
	if (att->nar_hash == NULL || att->nar_hash[0] == '\0')
		return cl_why(why, CL_EINVAL, "nar_hash: missing");
	if ((rc = nix_nar_hash_check(att->nar_hash, strlen(att->nar_hash), nar, inner)) != 0)
		return cl_why(why, rc, "nar_hash: %.200s", inner);
	if (att->flake_lock.algorithm == NULL && att->flake_lock.len == 0)
		return cl_why(why, CL_EINVAL, "flake_lock_digest: missing");
	if ((rc = check_digest(&att->flake_lock, "flake_lock_digest", why)) != 0)
		return rc;

	if (att->n_successors > CL_SUCCESSORS_MAX)
		return cl_why(why, CL_ETOOBIG, "successors: %zu is above the limit of %d",
		    att->n_successors, CL_SUCCESSORS_MAX);
	for (size_t i = 0; i < att->n_successors; i++) {
		const char *s = att->successors[i];

		if ((rc = nix_store_path_check(s, strlen(s), inner)) != 0)
			return cl_why(why, rc, "successors[%zu]: %.200s", i, inner);
		if (strcmp(s, att->root) == 0)
			return cl_why(why, CL_EINVAL, "successors[%zu]: equals root", i);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(s, att->successors[j]) == 0)
				return cl_why(why, CL_EINVAL,
				    "successors[%zu]: repeats successors[%zu]", i, j);
		}
	}

	if (att->system[0] != '\0' && (rc = check_system(att->system, why)) != 0)
		return rc;
	if (att->sandbox != CL_SANDBOX_UNSPECIFIED && att->sandbox != CL_SANDBOX_ON &&
	    att->sandbox != CL_SANDBOX_OFF)
		return cl_why(why, CL_EINVAL, "build.sandbox: unknown value %d", (int)att->sandbox);
	if (att->n_substituters > CL_SUBSTITUTERS_MAX)
		return cl_why(why, CL_ETOOBIG, "build.substituters: %zu is above the limit of %d",
		    att->n_substituters, CL_SUBSTITUTERS_MAX);
	for (size_t i = 0; i < att->n_substituters; i++) {
		snprintf(field, sizeof field, "build.substituters[%zu]", i);
		if ((rc = check_url(att->substituters[i], false, field, why)) != 0)
			return rc;
	}
	if (att->n_trusted_keys > CL_TRUSTED_KEYS_MAX)
		return cl_why(why, CL_ETOOBIG,
		    "build.trusted_public_keys: %zu is above the limit of %d", att->n_trusted_keys,
		    CL_TRUSTED_KEYS_MAX);
	for (size_t i = 0; i < att->n_trusted_keys; i++) {
		snprintf(field, sizeof field, "build.trusted_public_keys[%zu]", i);
		if ((rc = check_nix_key(att->trusted_keys[i], field, why)) != 0)
			return rc;
	}
	if ((rc = check_text(att->builder_id, CL_TEXT_MAX, true, "build.builder_id", why)) != 0)
		return rc;
	if (att->run_url[0] != '\0' &&
	    (rc = check_url(att->run_url, true, "build.run_url", why)) != 0)
		return rc;

	if (att->n_extra > CL_EXTRA_MAX)
		return cl_why(why, CL_ETOOBIG, "extra_digests: %zu is above the limit of %d",
		    att->n_extra, CL_EXTRA_MAX);
	for (size_t i = 0; i < att->n_extra; i++) {
		if ((rc = check_digest_name(att->extra[i].name, why)) != 0)
			return rc;
		snprintf(field, sizeof field, "extra_digests[%zu].digest", i);
		if ((rc = check_digest(&att->extra[i].digest, field, why)) != 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(att->extra[i].name, att->extra[j].name) == 0)
				return cl_why(why, CL_EINVAL,
				    "extra_digests[%zu]: name \"%s\" repeats", i,
				    att->extra[i].name);
		}
	}
	return 0;
}

/* ---- Attestations ---- */

int
wire_attestation_encode(struct wire_arena *a, const struct cl_attestation *att, const uint8_t **out,
    size_t *len, char *why)
{
	Closurelog__V1__ClosureAttestation m = CLOSURELOG__V1__CLOSURE_ATTESTATION__INIT;
	Closurelog__V1__Digest fl = CLOSURELOG__V1__DIGEST__INIT;
	Closurelog__V1__BuildMetadata b = CLOSURELOG__V1__BUILD_METADATA__INIT;
	Closurelog__V1__ExtraDigest *ex = NULL, **exp = NULL;
	Closurelog__V1__Digest *exd = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = wire_attestation_check(att, NULL, why)) != 0)
		return rc;
	m.root = (char *)att->root;
	m.nar_hash = (char *)att->nar_hash;
	fl.algorithm = (char *)att->flake_lock.algorithm;
	fl.value.data = (uint8_t *)att->flake_lock.value;
	fl.value.len = att->flake_lock.len;
	m.flake_lock_digest = &fl;
	m.successors = (char **)att->successors;
	m.n_successors = att->n_successors;

	b.system = (char *)att->system;
	b.sandbox = (Closurelog__V1__Sandbox)att->sandbox;
	b.substituters = (char **)att->substituters;
	b.n_substituters = att->n_substituters;
	b.trusted_public_keys = (char **)att->trusted_keys;
	b.n_trusted_public_keys = att->n_trusted_keys;
	b.builder_id = (char *)att->builder_id;
	b.run_url = (char *)att->run_url;
	b.build_time = att->build_time;
	/* An all-default BuildMetadata is left out, so that "no metadata"
	 * has one spelling: absent (the decoder refuses an empty one). */
	if (b.system[0] != '\0' || b.sandbox != 0 || b.n_substituters != 0 ||
	    b.n_trusted_public_keys != 0 || b.builder_id[0] != '\0' || b.run_url[0] != '\0' ||
	    b.build_time != 0)
		m.build = &b;

	if (att->n_extra > 0) {
		ex = wire_arena_alloc(a, att->n_extra * sizeof *ex);
		exd = wire_arena_alloc(a, att->n_extra * sizeof *exd);
		exp = wire_arena_alloc(a, att->n_extra * sizeof *exp);
		if (ex == NULL || exd == NULL || exp == NULL)
			return cl_why(why, CL_ENOMEM, "encoding arena exhausted");
		for (size_t i = 0; i < att->n_extra; i++) {
			closurelog__v1__extra_digest__init(&ex[i]);
			closurelog__v1__digest__init(&exd[i]);
			ex[i].name = (char *)att->extra[i].name;
			exd[i].algorithm = (char *)att->extra[i].digest.algorithm;
			exd[i].value.data = (uint8_t *)att->extra[i].digest.value;
			exd[i].value.len = att->extra[i].digest.len;
			ex[i].digest = &exd[i];
			exp[i] = &ex[i];
		}
		m.extra_digests = exp;
		m.n_extra_digests = att->n_extra;
	}
	return encode(a, &m.base, CL_ENTRY_MAX, out, len, why);
}

static void
digest_from_pb(struct cl_digest *d, const Closurelog__V1__Digest *pb)
{
	if (pb == NULL)
		return;
	d->algorithm = pb->algorithm;
	d->value = pb->value.data;
	d->len = pb->value.len;
}

int
wire_attestation_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_attestation *att, char *why)
{
	const Closurelog__V1__ClosureAttestation *m;
	struct cl_extra_digest *ex = NULL;
	int rc;

	memset(att, 0, sizeof *att);
	m = (const Closurelog__V1__ClosureAttestation *)decode(a,
	    &closurelog__v1__closure_attestation__descriptor, buf, len, CL_ENTRY_MAX, "attestation",
	    &rc, why);
	if (m == NULL)
		return rc;
	att->root = m->root;
	att->nar_hash = m->nar_hash;
	digest_from_pb(&att->flake_lock, m->flake_lock_digest);
	att->successors = (const char *const *)m->successors;
	att->n_successors = m->n_successors;
	att->system = att->builder_id = att->run_url = "";
	if (m->build != NULL) {
		const Closurelog__V1__BuildMetadata *b = m->build;

		/* An empty BuildMetadata would be a second spelling of none: one
		 * whose fields are all defaults packs to nothing (it has no
		 * unknown fields). */
		if (b->system[0] == '\0' && b->sandbox == 0 && b->n_substituters == 0 &&
		    b->n_trusted_public_keys == 0 && b->builder_id[0] == '\0' &&
		    b->run_url[0] == '\0' && b->build_time == 0) {
			rc = cl_why(why, CL_ENONCANON, "build: empty message must be left out");
			goto fail;
		}
		att->system = m->build->system;
		att->sandbox = (enum cl_sandbox)m->build->sandbox;
		att->substituters = (const char *const *)m->build->substituters;
		att->n_substituters = m->build->n_substituters;
		att->trusted_keys = (const char *const *)m->build->trusted_public_keys;
		att->n_trusted_keys = m->build->n_trusted_public_keys;
		att->builder_id = m->build->builder_id;
		att->run_url = m->build->run_url;
		att->build_time = m->build->build_time;
	}
	if (m->n_extra_digests > 0) {
		if (m->n_extra_digests > CL_EXTRA_MAX) {
			rc = cl_why(why, CL_ETOOBIG, "extra_digests: %zu is above the limit of %d",
			    m->n_extra_digests, CL_EXTRA_MAX);
			goto fail;
		}
		if ((ex = wire_arena_alloc(a, m->n_extra_digests * sizeof *ex)) == NULL) {
			rc = cl_why(why, CL_ENOMEM, "decoding arena exhausted");
			goto fail;
		}
		for (size_t i = 0; i < m->n_extra_digests; i++) {
			memset(&ex[i], 0, sizeof ex[i]);
			ex[i].name = m->extra_digests[i]->name;
			digest_from_pb(&ex[i].digest, m->extra_digests[i]->digest);
			if (ex[i].digest.algorithm == NULL)
				ex[i].digest.algorithm = "";
		}
		att->extra = ex;
		att->n_extra = m->n_extra_digests;
	}
	if ((rc = wire_attestation_check(att, att->nar_digest, why)) != 0)
		goto fail;
	return 0;
fail:
	memset(att, 0, sizeof *att);
	return rc;
}

/* ---- Envelopes ---- */

int
wire_envelope_encode(struct wire_arena *a, const struct cl_envelope *env, const uint8_t **out,
    size_t *len, char *why)
{
	Closurelog__V1__Envelope m = CLOSURELOG__V1__ENVELOPE__INIT;
	Closurelog__V1__Signature sig[CL_SIGS_MAX], *sp[CL_SIGS_MAX];

	*out = NULL;
	*len = 0;
	if (env->n_sigs == 0 || env->n_sigs > CL_SIGS_MAX)
		return cl_why(why, CL_EINVAL, "signatures: need 1 to %d", CL_SIGS_MAX);
	m.payload.data = (uint8_t *)env->payload;
	m.payload.len = env->payload_len;
	m.payload_type = (char *)env->payload_type;
	for (size_t i = 0; i < env->n_sigs; i++) {
		closurelog__v1__signature__init(&sig[i]);
		sig[i].sig.data = (uint8_t *)env->sigs[i].sig;
		sig[i].sig.len = env->sigs[i].sig_len;
		sig[i].keyid = (char *)env->sigs[i].keyid;
		sp[i] = &sig[i];
	}
	m.signatures = sp;
	m.n_signatures = env->n_sigs;
	return encode(a, &m.base, CL_ENTRY_MAX, out, len, why);
}

int
wire_envelope_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_envelope *env, char *why)
{
	const Closurelog__V1__Envelope *m;
	int rc;

	memset(env, 0, sizeof *env);
	m = (const Closurelog__V1__Envelope *)decode(
	    a, &closurelog__v1__envelope__descriptor, buf, len, CL_ENTRY_MAX, "envelope", &rc, why);
	if (m == NULL)
		return rc;
	if (strcmp(m->payload_type, CL_PAYLOAD_TYPE) != 0)
		return cl_why(why, CL_ETYPE, "envelope.payload_type: \"%.80s\" is not %s",
		    m->payload_type, CL_PAYLOAD_TYPE);
	if (m->payload.len == 0)
		return cl_why(why, CL_EINVAL, "envelope.payload: empty");
	if (m->n_signatures == 0)
		return cl_why(why, CL_EINVAL, "envelope.signatures: none");
	if (m->n_signatures > CL_SIGS_MAX)
		return cl_why(why, CL_ETOOBIG, "envelope.signatures: %zu is above the limit of %d",
		    m->n_signatures, CL_SIGS_MAX);
	for (size_t i = 0; i < m->n_signatures; i++) {
		const Closurelog__V1__Signature *s = m->signatures[i];
		uint32_t id;

		if (s->sig.len != 64)
			return cl_why(why, CL_EINVAL,
			    "envelope.signatures[%zu].sig: %zu bytes, an Ed25519 signature is 64",
			    i, s->sig.len);
		if (cl_keyid_parse(s->keyid, strlen(s->keyid), &id) != 0)
			return cl_why(why, CL_EINVAL,
			    "envelope.signatures[%zu].keyid: must be the key ID as 8 lowercase hex "
			    "digits",
			    i);
		/* One signature per key ID: a repeat would only cost another check. */
		for (size_t k = 0; k < i; k++) {
			if (strcmp(m->signatures[k]->keyid, s->keyid) == 0)
				return cl_why(why, CL_EINVAL,
				    "envelope.signatures[%zu].keyid: %s is repeated", i, s->keyid);
		}
		env->sigs[i].keyid = s->keyid;
		env->sigs[i].sig = s->sig.data;
		env->sigs[i].sig_len = s->sig.len;
	}
	env->n_sigs = m->n_signatures;
	env->payload = m->payload.data;
	env->payload_len = m->payload.len;
	env->payload_type = m->payload_type;
	return 0;
}

/* ---- Proofs ---- */

/* p from a proof message's two numbers and its hashes; zeroed on error. */
static int
proof_from_pb(struct cl_proof *p, uint64_t a, uint64_t b, size_t n, const ProtobufCBinaryData *h,
    const char *what, char *why)
{
	memset(p, 0, sizeof *p);
	if (n > MT_PROOF_MAX)
		return cl_why(why, CL_ETOOBIG, "%s.hashes: %zu is above the limit of %d", what, n,
		    MT_PROOF_MAX);
	for (size_t i = 0; i < n; i++) {
		if (h[i].len != MT_HASH_LEN) {
			memset(p, 0, sizeof *p);
			return cl_why(
			    why, CL_EINVAL, "%s.hashes[%zu]: %zu bytes, not 32", what, i, h[i].len);
		}
		memcpy(p->hashes[i], h[i].data, MT_HASH_LEN);
	}
	p->a = a;
	p->b = b;
	p->n = n;
	return 0;
}

/* A proof message's two numbers and hashes from p (the hashes point into p). */
static int
proof_to_pb(struct wire_arena *ar, const struct cl_proof *p, uint64_t *a, uint64_t *b, size_t *n,
    ProtobufCBinaryData **out)
{
	ProtobufCBinaryData *h = NULL;

	if (p->n > MT_PROOF_MAX)
		return CL_EINVAL;
	if (p->n > 0 && (h = wire_arena_alloc(ar, p->n * sizeof *h)) == NULL)
		return CL_ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		h[i].len = MT_HASH_LEN;
		h[i].data = (uint8_t *)p->hashes[i];
	}
	*a = p->a;
	*b = p->b;
	*n = p->n;
	*out = h;
	return 0;
}

int
wire_inclusion_encode(
    struct wire_arena *a, const struct cl_proof *p, const uint8_t **out, size_t *len)
{
	Closurelog__V1__InclusionProof m = CLOSURELOG__V1__INCLUSION_PROOF__INIT;
	int rc;

	if ((rc = proof_to_pb(a, p, &m.index, &m.tree_size, &m.n_hashes, &m.hashes)) != 0)
		return rc;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_inclusion_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_proof *p, char *why)
{
	const Closurelog__V1__InclusionProof *m;
	int rc;

	memset(p, 0, sizeof *p);
	m = (const Closurelog__V1__InclusionProof *)decode(a,
	    &closurelog__v1__inclusion_proof__descriptor, buf, len, CL_API_MAX, "inclusion proof",
	    &rc, why);
	if (m == NULL)
		return rc;
	return proof_from_pb(p, m->index, m->tree_size, m->n_hashes, m->hashes, "inclusion", why);
}

int
wire_consistency_encode(
    struct wire_arena *a, const struct cl_proof *p, const uint8_t **out, size_t *len)
{
	Closurelog__V1__ConsistencyProof m = CLOSURELOG__V1__CONSISTENCY_PROOF__INIT;
	int rc;

	if ((rc = proof_to_pb(a, p, &m.from_size, &m.to_size, &m.n_hashes, &m.hashes)) != 0)
		return rc;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_consistency_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_proof *p, char *why)
{
	const Closurelog__V1__ConsistencyProof *m;
	int rc;

	memset(p, 0, sizeof *p);
	m = (const Closurelog__V1__ConsistencyProof *)decode(a,
	    &closurelog__v1__consistency_proof__descriptor, buf, len, CL_API_MAX,
	    "consistency proof", &rc, why);
	if (m == NULL)
		return rc;
	return proof_from_pb(
	    p, m->from_size, m->to_size, m->n_hashes, m->hashes, "consistency", why);
}

/* ---- Submit responses, entries, search results, bundles ---- */

int
wire_submit_response_encode(
    struct wire_arena *a, const struct cl_submit_response *r, const uint8_t **out, size_t *len)
{
	Closurelog__V1__SubmitResponse m = CLOSURELOG__V1__SUBMIT_RESPONSE__INIT;
	Closurelog__V1__InclusionProof ip = CLOSURELOG__V1__INCLUSION_PROOF__INIT;
	int rc;

	m.index = r->index;
	m.leaf_hash.data = (uint8_t *)r->leaf_hash;
	m.leaf_hash.len = MT_HASH_LEN;
	if ((rc = proof_to_pb(
	         a, &r->inclusion, &ip.index, &ip.tree_size, &ip.n_hashes, &ip.hashes)) != 0)
		return rc;
	m.inclusion = &ip;
	m.checkpoint.data = (uint8_t *)r->checkpoint;
	m.checkpoint.len = r->checkpoint_len;
	m.duplicate = r->duplicate;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_submit_response_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_submit_response *r, char *why)
{
	const Closurelog__V1__SubmitResponse *m;
	int rc;

	memset(r, 0, sizeof *r);
	m = (const Closurelog__V1__SubmitResponse *)decode(a,
	    &closurelog__v1__submit_response__descriptor, buf, len, CL_API_MAX, "submit response",
	    &rc, why);
	if (m == NULL)
		return rc;
	if (m->leaf_hash.len != MT_HASH_LEN)
		return cl_why(why, CL_EINVAL, "submit response.leaf_hash: %zu bytes, not 32",
		    m->leaf_hash.len);
	if (m->inclusion == NULL)
		return cl_why(why, CL_EINVAL, "submit response.inclusion: missing");
	if (m->checkpoint.len == 0 || m->checkpoint.len > CL_CHECKPOINT_MAX)
		return cl_why(
		    why, CL_EINVAL, "submit response.checkpoint: %zu bytes", m->checkpoint.len);
	if (m->inclusion->index != m->index)
		return cl_why(why, CL_EINVAL,
		    "submit response.inclusion.index: %llu, not the entry's index %llu",
		    (unsigned long long)m->inclusion->index, (unsigned long long)m->index);
	if ((rc = proof_from_pb(&r->inclusion, m->inclusion->index, m->inclusion->tree_size,
	         m->inclusion->n_hashes, m->inclusion->hashes, "submit response.inclusion", why)) !=
	    0)
		return rc;
	r->index = m->index;
	memcpy(r->leaf_hash, m->leaf_hash.data, MT_HASH_LEN);
	r->checkpoint = m->checkpoint.data;
	r->checkpoint_len = m->checkpoint.len;
	r->duplicate = m->duplicate;
	return 0;
}

int
wire_entry_encode(struct wire_arena *a, const struct cl_entry *e, const uint8_t **out, size_t *len)
{
	Closurelog__V1__Entry m = CLOSURELOG__V1__ENTRY__INIT;

	m.index = e->index;
	m.leaf_hash.data = (uint8_t *)e->leaf_hash;
	m.leaf_hash.len = MT_HASH_LEN;
	m.envelope.data = (uint8_t *)e->envelope;
	m.envelope.len = e->envelope_len;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_entry_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_entry *e, char *why)
{
	const Closurelog__V1__Entry *m;
	int rc;

	memset(e, 0, sizeof *e);
	m = (const Closurelog__V1__Entry *)decode(
	    a, &closurelog__v1__entry__descriptor, buf, len, CL_API_MAX, "entry", &rc, why);
	if (m == NULL)
		return rc;
	if (m->leaf_hash.len != MT_HASH_LEN)
		return cl_why(
		    why, CL_EINVAL, "entry.leaf_hash: %zu bytes, not 32", m->leaf_hash.len);
	if (m->envelope.len == 0 || m->envelope.len > CL_ENTRY_MAX)
		return cl_why(why, CL_EINVAL, "entry.envelope: %zu bytes", m->envelope.len);
	e->index = m->index;
	memcpy(e->leaf_hash, m->leaf_hash.data, MT_HASH_LEN);
	e->envelope = m->envelope.data;
	e->envelope_len = m->envelope.len;
	return 0;
}

int
wire_search_result_encode(
    struct wire_arena *a, const struct cl_search_result *r, const uint8_t **out, size_t *len)
{
	Closurelog__V1__SearchResult m = CLOSURELOG__V1__SEARCH_RESULT__INIT;

	m.indices = (uint64_t *)r->indices;
	m.n_indices = r->n;
	m.truncated = r->truncated;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_search_result_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_search_result *r, char *why)
{
	const Closurelog__V1__SearchResult *m;
	int rc;

	memset(r, 0, sizeof *r);
	m = (const Closurelog__V1__SearchResult *)decode(a,
	    &closurelog__v1__search_result__descriptor, buf, len, CL_API_MAX, "search result", &rc,
	    why);
	if (m == NULL)
		return rc;
	if (m->n_indices > CL_SEARCH_MAX)
		return cl_why(why, CL_ETOOBIG,
		    "search result.indices: %zu is above the limit of %d", m->n_indices,
		    CL_SEARCH_MAX);
	for (size_t i = 1; i < m->n_indices; i++) {
		if (m->indices[i] <= m->indices[i - 1])
			return cl_why(
			    why, CL_EINVAL, "search result.indices: not ascending at %zu", i);
	}
	r->indices = m->indices;
	r->n = m->n_indices;
	r->truncated = m->truncated;
	return 0;
}

int
wire_bundle_encode(
    struct wire_arena *a, const struct cl_bundle *b, const uint8_t **out, size_t *len)
{
	Closurelog__V1__ProofBundle m = CLOSURELOG__V1__PROOF_BUNDLE__INIT;

	m.envelope.data = (uint8_t *)b->envelope;
	m.envelope.len = b->envelope_len;
	m.tlog_proof.data = (uint8_t *)b->tlog_proof;
	m.tlog_proof.len = b->tlog_proof_len;
	return encode(a, &m.base, CL_API_MAX, out, len, NULL);
}

int
wire_bundle_decode(
    struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_bundle *b, char *why)
{
	const Closurelog__V1__ProofBundle *m;
	int rc;

	memset(b, 0, sizeof *b);
	m = (const Closurelog__V1__ProofBundle *)decode(
	    a, &closurelog__v1__proof_bundle__descriptor, buf, len, CL_API_MAX, "bundle", &rc, why);
	if (m == NULL)
		return rc;
	if (m->envelope.len == 0 || m->envelope.len > CL_ENTRY_MAX)
		return cl_why(why, CL_EINVAL, "bundle.envelope: %zu bytes (1 to %d allowed)",
		    m->envelope.len, CL_ENTRY_MAX);
	if (m->tlog_proof.len == 0 || m->tlog_proof.len > CL_TPROOF_MAX)
		return cl_why(why, CL_EINVAL, "bundle.tlog_proof: %zu bytes (1 to %d allowed)",
		    m->tlog_proof.len, CL_TPROOF_MAX);
	b->envelope = m->envelope.data;
	b->envelope_len = m->envelope.len;
	b->tlog_proof = m->tlog_proof.data;
	b->tlog_proof_len = m->tlog_proof.len;
	return 0;
}

/* ---- Batches ---- */

int
wire_batch_decode(
    const uint8_t *buf, size_t len, struct cl_span *out, size_t max, size_t *n, char *why)
{
	size_t at = 0, k = 0;

	*n = 0;
	while (at < len) {
		uint64_t tag, elen;

		if (!wire_varint_read(buf, len, &at, &tag))
			return cl_why(
			    why, CL_EINVAL, "entry batch: malformed field tag at byte %zu", at);
		if (tag != ((1 << 3) | 2))
			return cl_why(why, CL_EINVAL, "entry batch: unknown field number %llu",
			    (unsigned long long)(tag >> 3));
		if (!wire_varint_read(buf, len, &at, &elen) || elen > len - at)
			return cl_why(why, CL_EINVAL,
			    "entry batch.envelopes[%zu]: truncated or malformed length", k);
		if (k == max)
			return cl_why(why, CL_ETOOBIG,
			    "entry batch: more than %zu envelopes (the limit)", max);
		out[k].data = buf + at;
		out[k].len = (size_t)elen;
		at += (size_t)elen;
		k++;
	}
	*n = k;
	return 0;
}

int
wire_batch_encode(
    struct wire_arena *a, const struct cl_span *envs, size_t n, const uint8_t **out, size_t *len)
{
	Closurelog__V1__EntryBatch m = CLOSURELOG__V1__ENTRY_BATCH__INIT;
	ProtobufCBinaryData *v = NULL;

	if (n > CL_BATCH_MAX)
		return CL_EINVAL;
	if (n > 0 && (v = wire_arena_alloc(a, n * sizeof *v)) == NULL)
		return CL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].data = (uint8_t *)envs[i].data;
		v[i].len = envs[i].len;
	}
	m.envelopes = v;
	m.n_envelopes = n;
	return encode(a, &m.base, SIZE_MAX, out, len, NULL);
}

size_t
wire_batch_response_arena(size_t n, size_t ckpt_len)
{
	return n * WIRE_BATCH_RESULT_MAX + wire_batch_checkpoint_size(ckpt_len) + 16;
}

size_t
wire_batch_decode_arena(size_t len, size_t n)
{
	return 4 * len + n * (sizeof(struct cl_batch_result) + 512) + WIRE_ARENA_MIN;
}

static bool
batch_result_ok(const struct cl_batch_result *r)
{
	if (r->status == 200 || r->status == 201)
		return r->reason == NULL || r->reason[0] == '\0';
	return r->status >= 400 && r->status <= 599 && r->reason != NULL && r->reason[0] != '\0' &&
	    strlen(r->reason) < CL_WHY_MAX && strchr(r->reason, '\n') == NULL;
}

/* Varints and fields as protobuf-c packs them (the batch answer is
 * written by hand: see wire_batch_result_put). */
static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t
varint_put(uint64_t v, uint8_t *out)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* A length-delimited field's tag (field < 16) and length. */
static size_t
ld_head_put(unsigned field, size_t len, uint8_t *out)
{
	out[0] = (uint8_t)(field << 3 | 2);
	return 1 + varint_put(len, out + 1);
}

/* A varint field (field < 16), left out at 0 as proto3 does. */
static size_t
vi_field_put(unsigned field, uint64_t v, uint8_t *out)
{
	if (v == 0)
		return 0;
	out[0] = (uint8_t)(field << 3);
	return 1 + varint_put(v, out + 1);
}

size_t
wire_batch_result_put(const struct cl_batch_result *x, uint8_t out[WIRE_BATCH_RESULT_MAX])
{
	size_t body, ip = 0, at;

	if (!batch_result_ok(x))
		return 0;
	/* BatchEntryResult's fields in number order: status, then index,
	 * leaf_hash and inclusion for a logged one, reason for a refusal. */
	body = 1 + varint_len(x->status);
	if (x->status < 400) {
		const struct cl_proof *p = &x->inclusion;

		if (p->a != x->index || p->n > MT_PROOF_MAX)
			return 0;
		ip = (p->a != 0 ? 1 + varint_len(p->a) : 0) +
		    (p->b != 0 ? 1 + varint_len(p->b) : 0) + p->n * (2 + MT_HASH_LEN);
		body += (x->index != 0 ? 1 + varint_len(x->index) : 0) + 2 + MT_HASH_LEN + 1 +
		    varint_len(ip) + ip;
	} else {
		size_t r = strlen(x->reason);

		body += 1 + varint_len(r) + r;
	}
	at = ld_head_put(1, body, out);
	at += vi_field_put(1, x->status, out + at);
	if (x->status < 400) {
		const struct cl_proof *p = &x->inclusion;

		at += vi_field_put(2, x->index, out + at);
		at += ld_head_put(3, MT_HASH_LEN, out + at);
		memcpy(out + at, x->leaf_hash, MT_HASH_LEN);
		at += MT_HASH_LEN;
		at += ld_head_put(4, ip, out + at);
		at += vi_field_put(1, p->a, out + at);
		at += vi_field_put(2, p->b, out + at);
		for (size_t i = 0; i < p->n; i++) {
			at += ld_head_put(3, MT_HASH_LEN, out + at);
			memcpy(out + at, p->hashes[i], MT_HASH_LEN);
			at += MT_HASH_LEN;
		}
	} else {
		size_t r = strlen(x->reason);

		at += ld_head_put(5, r, out + at);
		memcpy(out + at, x->reason, r);
		at += r;
	}
	return at;
}

size_t
wire_batch_checkpoint_size(size_t len)
{
	return 1 + varint_len(len) + len;
}

_Static_assert(CL_CHECKPOINT_MAX < 1 << 14, "a checkpoint's length takes two varint bytes");

size_t
wire_batch_checkpoint_put(const uint8_t *ckpt, size_t len, uint8_t out[WIRE_BATCH_CHECKPOINT_MAX])
{
	size_t at;

	if (len == 0 || len > CL_CHECKPOINT_MAX)
		return 0;
	at = ld_head_put(2, len, out);
	memcpy(out + at, ckpt, len);
	return at + len;
}

int
wire_batch_response_encode(
    struct wire_arena *a, const struct cl_batch_response *r, const uint8_t **out, size_t *len)
{
	uint8_t *buf;
	size_t at = 0, n;

	*out = NULL;
	*len = 0;
	if (r->n > CL_BATCH_MAX || r->checkpoint_len == 0 || r->checkpoint_len > CL_CHECKPOINT_MAX)
		return CL_EINVAL;
	if ((buf = wire_arena_alloc(a, wire_batch_response_arena(r->n, r->checkpoint_len))) == NULL)
		return CL_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		if ((n = wire_batch_result_put(&r->results[i], buf + at)) == 0)
			return CL_EINVAL;
		at += n;
	}
	at += wire_batch_checkpoint_put(r->checkpoint, r->checkpoint_len, buf + at);
	*out = buf;
	*len = at;
	return 0;
}

int
wire_batch_response_decode(struct wire_arena *a, const uint8_t *buf, size_t len, size_t max,
    struct cl_batch_response *r, char *why)
{
	const Closurelog__V1__BatchResponse *m;
	struct cl_batch_result *v = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	m = (const Closurelog__V1__BatchResponse *)decode(a,
	    &closurelog__v1__batch_response__descriptor, buf, len, SIZE_MAX, "batch response", &rc,
	    why);
	if (m == NULL)
		return rc;
	if (m->n_results > max || m->n_results > CL_BATCH_MAX)
		return cl_why(why, CL_ETOOBIG,
		    "batch response.results: %zu, more than the %zu sent", m->n_results, max);
	if (m->checkpoint.len == 0 || m->checkpoint.len > CL_CHECKPOINT_MAX)
		return cl_why(
		    why, CL_EINVAL, "batch response.checkpoint: %zu bytes", m->checkpoint.len);
	if (m->n_results > 0 && (v = wire_arena_alloc(a, m->n_results * sizeof *v)) == NULL)
		return cl_why(why, CL_ENOMEM, "batch response: decoding arena exhausted");
	for (size_t i = 0; i < m->n_results; i++) {
		const Closurelog__V1__BatchEntryResult *e = m->results[i];
		struct cl_batch_result *x = &v[i];

		memset(x, 0, sizeof *x);
		x->status = e->status;
		x->reason = e->reason;
		if (!batch_result_ok(x))
			return cl_why(why, CL_EINVAL,
			    "batch response.results[%zu]: status %u with a %s reason", i, e->status,
			    e->reason[0] == '\0' ? "missing" : "malformed or unexpected");
		if (e->status >= 400) {
			if (e->index != 0 || e->leaf_hash.len != 0 || e->inclusion != NULL)
				return cl_why(why, CL_EINVAL,
				    "batch response.results[%zu]: a refusal with a proof", i);
			continue;
		}
		if (e->leaf_hash.len != MT_HASH_LEN)
			return cl_why(why, CL_EINVAL,
			    "batch response.results[%zu].leaf_hash: %zu bytes, not 32", i,
			    e->leaf_hash.len);
		if (e->inclusion == NULL || e->inclusion->index != e->index)
			return cl_why(why, CL_EINVAL,
			    "batch response.results[%zu].inclusion: missing or not for index %llu",
			    i, (unsigned long long)e->index);
		if ((rc = proof_from_pb(&x->inclusion, e->inclusion->index, e->inclusion->tree_size,
		         e->inclusion->n_hashes, e->inclusion->hashes, "batch response.inclusion",
		         why)) != 0)
			return rc;
		x->index = e->index;
		memcpy(x->leaf_hash, e->leaf_hash.data, MT_HASH_LEN);
	}
	r->results = v;
	r->n = m->n_results;
	r->checkpoint = m->checkpoint.data;
	r->checkpoint_len = m->checkpoint.len;
	return 0;
}
