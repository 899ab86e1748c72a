/*
 * dsse.c: DSSE v1 pre-authentication encoding, Ed25519 signing and the
 * submitter-key policy.
 *
 * Pure Ed25519 needs the whole signed message at once, so the PAE is built
 * in the caller's arena.  Key lookup goes by the keyid hint only: every
 * signature costs at most one verification per key carrying that ID, so an
 * envelope can never make a verifier try its whole allowlist.
 */
#include "dsse.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"

static size_t
dec_len(size_t n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

size_t
dsse_pae_len(size_t type_len, size_t payload_len)
{
	return 7 + dec_len(type_len) + 1 + type_len + 1 + dec_len(payload_len) + 1 + payload_len;
}

/* Write n in decimal at out; returns the digits written (dec_len(n)).
 * By hand, not by snprintf: this is on every verification's path. */
static size_t
dec_put(size_t n, uint8_t *out)
{
	size_t d = dec_len(n);

	for (size_t i = d; i > 0; i--) {
		out[i - 1] = (uint8_t)('0' + n % 10);
		n /= 10;
	}
	return d;
}

size_t
dsse_pae(const char *type, size_t type_len, const uint8_t *payload, size_t payload_len,
    uint8_t *out, size_t cap)
{
	size_t need = dsse_pae_len(type_len, payload_len), at = 7;

	if (cap < need)
		return 0;
	memcpy(out, "DSSEv1 ", 7);
	at += dec_put(type_len, out + at);
	out[at++] = ' ';
	memcpy(out + at, type, type_len);
	at += type_len;
	out[at++] = ' ';
	at += dec_put(payload_len, out + at);
	out[at++] = ' ';
	if (payload_len > 0)
		memcpy(out + at, payload, payload_len);
	return at + payload_len;
}

static uint8_t *
pae_alloc(
    struct wire_arena *a, const char *type, const uint8_t *payload, size_t len, size_t *pae_len)
{
	size_t tl = strlen(type), need = dsse_pae_len(tl, len);
	uint8_t *pae = wire_arena_alloc(a, need);

	if (pae == NULL)
		return NULL;
	*pae_len = dsse_pae(type, tl, payload, len, pae, need);
	return pae;
}

int
dsse_sign(struct wire_arena *a, const struct note_signer *s, const uint8_t *payload, size_t len,
    const uint8_t **env, size_t *env_len, char *why)
{
	struct cl_envelope e;
	uint8_t sig[crypto_sign_BYTES];
	char keyid[CL_KEYID_LEN + 1];
	size_t pae_len;
	uint8_t *pae;

	*env = NULL;
	*env_len = 0;
	if (len == 0 || len > CL_ENTRY_MAX)
		return cl_why(
		    why, CL_ETOOBIG, "payload: %zu bytes (1 to %d allowed)", len, CL_ENTRY_MAX);
	if ((pae = pae_alloc(a, CL_PAYLOAD_TYPE, payload, len, &pae_len)) == NULL)
		return cl_why(why, CL_ENOMEM, "arena exhausted");
	if (crypto_sign_detached(sig, NULL, pae, pae_len, s->sk) != 0)
		return cl_why(why, CL_ECRYPTO, "Ed25519 signing failed");
	snprintf(keyid, sizeof keyid, "%08x", (unsigned)s->id);
	memset(&e, 0, sizeof e);
	e.payload = payload;
	e.payload_len = len;
	e.payload_type = CL_PAYLOAD_TYPE;
	e.sigs[0].keyid = keyid;
	e.sigs[0].sig = sig;
	e.sigs[0].sig_len = sizeof sig;
	e.n_sigs = 1;
	return wire_envelope_encode(a, &e, env, env_len, why);
}

int
dsse_verify(struct wire_arena *a, const struct cl_envelope *env, const struct note_verifier *keys,
    size_t n_keys, size_t *signer, char *why)
{
	const uint8_t *pae = NULL;
	size_t pae_len = 0, first = SIZE_MAX;

	if (env->n_sigs == 0 || env->n_sigs > CL_SIGS_MAX)
		return cl_why(why, CL_EINVAL, "envelope.signatures: need 1 to %d", CL_SIGS_MAX);
	for (size_t i = 0; i < env->n_sigs; i++) {
		const struct cl_signature *s = &env->sigs[i];
		size_t ok = SIZE_MAX;
		bool matched = false;
		uint32_t id;

		/* wire_envelope_decode admits only well-formed ones; others match no key. */
		if (cl_keyid_parse(s->keyid, strlen(s->keyid), &id) != 0 ||
		    s->sig_len != crypto_sign_BYTES)
			continue;
		/* Several accepted keys may share one 4-byte ID: try each. */
		for (size_t k = 0; k < n_keys && ok == SIZE_MAX; k++) {
			if (keys[k].type != NOTE_TYPE_ED25519 || keys[k].id != id)
				continue;
			matched = true;
			if (pae == NULL &&
			    (pae = pae_alloc(a, env->payload_type, env->payload, env->payload_len,
			         &pae_len)) == NULL)
				return cl_why(why, CL_ENOMEM, "arena exhausted");
			if (crypto_sign_verify_detached(s->sig, pae, pae_len, keys[k].pub) == 0)
				ok = k;
		}
		if (matched && ok == SIZE_MAX)
			return cl_why(why, CL_EBADSIG,
			    "envelope signature %zu by key %s does not verify", i, s->keyid);
		if (ok != SIZE_MAX && first == SIZE_MAX)
			first = ok;
	}
	if (first == SIZE_MAX)
		return cl_why(why, CL_ENOKEY,
		    "signed by key %.8s, which is not an accepted submitter", env->sigs[0].keyid);
	if (signer != NULL)
		*signer = first;
	return 0;
}

int
dsse_verify_all(struct wire_arena *a, const struct cl_envelope *env,
    const struct note_verifier *keys, size_t n_keys, size_t *signer, char *why)
{
	const uint8_t *pae = NULL;
	size_t pae_len = 0, first = SIZE_MAX;

	if (env->n_sigs == 0 || env->n_sigs > CL_SIGS_MAX)
		return cl_why(why, CL_EINVAL, "envelope.signatures: need 1 to %d", CL_SIGS_MAX);
	/* Order first: it costs nothing, and a reordered or repeated set is
	 * refused whatever its signatures are worth. */
	for (size_t i = 1; i < env->n_sigs; i++) {
		int c = strcmp(env->sigs[i - 1].keyid, env->sigs[i].keyid);

		if (c == 0)
			return cl_why(why, CL_ENONCANON,
			    "envelope.signatures[%zu]: key %.8s signs twice (also signature %zu)",
			    i, env->sigs[i].keyid, i - 1);
		if (c > 0)
			return cl_why(why, CL_ENONCANON,
			    "envelope.signatures[%zu]: key ID %.8s comes after %.8s; signatures "
			    "must "
			    "be in ascending key ID order",
			    i, env->sigs[i].keyid, env->sigs[i - 1].keyid);
	}
	for (size_t i = 0; i < env->n_sigs; i++) {
		const struct cl_signature *s = &env->sigs[i];
		size_t ok = SIZE_MAX;
		bool matched = false;
		uint32_t id;

		if (cl_keyid_parse(s->keyid, strlen(s->keyid), &id) != 0)
			return cl_why(
			    why, CL_ENOKEY, "envelope.signatures[%zu]: keyid is not a key ID", i);
		if (s->sig_len != crypto_sign_BYTES)
			return cl_why(why, CL_EBADSIG,
			    "envelope.signatures[%zu]: not an Ed25519 signature", i);
		/* Several accepted keys may share one 4-byte ID: try each. */
		for (size_t k = 0; k < n_keys && ok == SIZE_MAX; k++) {
			if (keys[k].type != NOTE_TYPE_ED25519 || keys[k].id != id)
				continue;
			matched = true;
			if (pae == NULL &&
			    (pae = pae_alloc(a, env->payload_type, env->payload, env->payload_len,
			         &pae_len)) == NULL)
				return cl_why(why, CL_ENOMEM, "arena exhausted");
			if (crypto_sign_verify_detached(s->sig, pae, pae_len, keys[k].pub) == 0)
				ok = k;
		}
		if (!matched)
			return cl_why(why, CL_ENOKEY,
			    "envelope.signatures[%zu]: key %.8s is not an accepted submitter", i,
			    s->keyid);
		if (ok == SIZE_MAX)
			return cl_why(why, CL_EBADSIG,
			    "envelope.signatures[%zu]: the signature by key %.8s does not verify",
			    i, s->keyid);
		if (first == SIZE_MAX)
			first = ok;
	}
	if (signer != NULL)
		*signer = first;
	return 0;
}
