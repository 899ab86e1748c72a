/*
 * note.c: C2SP signed notes, their verifier and signer key strings, Ed25519
 * note signatures (type 0x01) and cosignature/v1 witness signatures (0x04).
 *
 * A note is the one place where closurelog acts on signed text from the
 * network, so note_open() is written as a gate: the whole buffer is checked
 * for UTF-8 and control bytes before anything else looks at it, every size
 * is capped before it is decoded, every encoding must be the canonical one,
 * and a line by a configured key either verifies or sinks the note.  Nothing
 * is allocated: the parsed note points into the caller's buffer, and the
 * only secret (struct note_signer) is wiped by whoever holds it, while every
 * temporary copy of a seed made here is wiped before returning.
 */
#include "note.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"

#define SIG_PREFIX      "\xe2\x80\x94 " /* U+2014 EM DASH, then a space */
#define SIG_PREFIX_LEN  4
#define SKEY_PREFIX     "PRIVATE+KEY+"
#define SKEY_PREFIX_LEN 12
#define KEY_B64_LEN     CL_B64_LEN(1 + 32) /* type byte and a 32-byte key or seed */
#define ED_SIG_LEN      crypto_sign_BYTES
#define COSIG_TS_MAX    ((uint64_t)INT64_MAX)
#define COSIG_HDR_MAX   64 /* "cosignature/v1\ntime " + 20 digits + "\n" */

/* Decode the UTF-8 sequence at s[0..n): returns its length and sets *cp, or
 * returns 0 if it is not the shortest encoding of a Unicode scalar value
 * (so overlongs, surrogates and values above U+10FFFF are all refused). */
static size_t
utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xc2) /* a continuation byte, or an overlong 2-byte lead */
		return 0;
	if (s[0] < 0xe0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] < 0xf0) {
		len = 3;
		c = s[0] & 0x0f;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] < 0xf5) {
		len = 4;
		c = s[0] & 0x07;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	*cp = c;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static int
is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	    c == 0x205f || c == 0x3000;
}

static int
is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* The rules cover a whole note, signature lines included. */
int
note_text_check(const uint8_t *s, size_t len, char *why)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < len) {
		if (s[i] < 0x80) {
			if (s[i] < 0x20 && s[i] != '\n')
				return cl_why(why, CL_EINVAL,
				    "note has control byte 0x%02x at offset %zu", s[i], i);
			i++;
			continue;
		}
		if ((k = utf8_next(s + i, len - i, &cp)) == 0)
			return cl_why(why, CL_EINVAL, "note is not valid UTF-8 at offset %zu", i);
		i += k;
	}
	return 0;
}

/* Length of a NUL-terminated name held in a NOTE_NAME_MAX + 1 array, or 0
 * if it is empty or not terminated. */
static size_t
name_len(const char *name)
{
	size_t n = strnlen(name, NOTE_NAME_MAX + 1);

	return n > NOTE_NAME_MAX ? 0 : n;
}

uint32_t
note_key_id(const char *name, uint8_t type, const uint8_t *pub, size_t publen)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];

	/* libsodium's SHA-256 functions cannot fail; they return 0 always. */
	(void)crypto_hash_sha256_init(&st);
	(void)crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	(void)crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
	(void)crypto_hash_sha256_update(&st, &type, 1);
	(void)crypto_hash_sha256_update(&st, pub, publen);
	(void)crypto_hash_sha256_final(&st, h);
	return cl_be32_get(h);
}

int
note_name_check(const char *name, size_t len, char *why)
{
	const uint8_t *s = (const uint8_t *)name;
	size_t i = 0, k;
	uint32_t cp;

	if (name == NULL || len == 0)
		return cl_why(why, CL_EINVAL, "key name is empty");
	if (len > NOTE_NAME_MAX)
		return cl_why(
		    why, CL_EINVAL, "key name is %zu bytes, more than %d", len, NOTE_NAME_MAX);
	while (i < len) {
		if ((k = utf8_next(s + i, len - i, &cp)) == 0)
			return cl_why(why, CL_EINVAL, "key name is not valid UTF-8 at byte %zu", i);
		if (cp == '+')
			return cl_why(why, CL_EINVAL, "key name contains '+'");
		if (is_space(cp))
			return cl_why(
			    why, CL_EINVAL, "key name contains whitespace U+%04" PRIX32, cp);
		if (is_control(cp))
			return cl_why(
			    why, CL_EINVAL, "key name contains control character U+%04" PRIX32, cp);
		i += k;
	}
	return 0;
}

/* Split "<name>+<id>+<rest>" (the rest may hold '+') and check the name and
 * the ID spelling.  `what` names the key kind in reasons. */
static int
key_split(const char *s, size_t len, const char *what, const char **name, size_t *nlen,
    uint32_t *id, const char **rest, size_t *rlen, char *why)
{
	const char *p1, *p2;
	char sub[CL_WHY_MAX];

	if ((p1 = memchr(s, '+', len)) == NULL)
		return cl_why(why, CL_EINVAL, "%s has no '+' after the name", what);
	if (note_name_check(s, (size_t)(p1 - s), sub) != 0)
		return cl_why(why, CL_EINVAL, "%s: %s", what, sub);
	p1++;
	if ((p2 = memchr(p1, '+', len - (size_t)(p1 - s))) == NULL)
		return cl_why(why, CL_EINVAL, "%s has no '+' after the key ID", what);
	if (cl_keyid_parse(p1, (size_t)(p2 - p1), id) != 0)
		return cl_why(why, CL_EINVAL, "%s: key ID is not 8 lowercase hex digits", what);
	*name = s;
	*nlen = (size_t)(p1 - 1 - s);
	*rest = p2 + 1;
	*rlen = len - (size_t)(*rest - s);
	return 0;
}

int
note_verifier_parse(const char *s, size_t len, struct note_verifier *v, char *why)
{
	const char *name, *b64;
	size_t nlen, blen, n = 0;
	uint8_t raw[1 + 32];
	uint32_t id;
	int rc;

	memset(v, 0, sizeof *v);
	if (s == NULL) {
		rc = cl_why(why, CL_EINVAL, "verifier key is missing");
		goto fail;
	}
	if ((rc = key_split(s, len, "verifier key", &name, &nlen, &id, &b64, &blen, why)) != 0)
		goto fail;
	if (blen == 0) {
		rc = cl_why(why, CL_EINVAL, "verifier key has no key after the ID");
		goto fail;
	}
	if (blen > KEY_B64_LEN) {
		/* Too long for the types we know; say which type it is if we
		 * can tell from the first base64 quantum alone. */
		if (cl_b64_decode(b64, 4, raw, sizeof raw, &n) != 0 || n != 3) {
			rc = cl_why(why, CL_EINVAL, "verifier key is not canonical base64");
		} else if (raw[0] != NOTE_TYPE_ED25519 && raw[0] != NOTE_TYPE_COSIG) {
			rc = cl_why(
			    why, CL_ETYPE, "verifier key type 0x%02x is not supported", raw[0]);
		} else {
			rc = cl_why(
			    why, CL_EINVAL, "verifier key is longer than a type byte and 32 bytes");
		}
		goto fail;
	}
	if (cl_b64_decode(b64, blen, raw, sizeof raw, &n) != 0 || n == 0) {
		rc = cl_why(why, CL_EINVAL, "verifier key is not canonical base64");
		goto fail;
	}
	if (raw[0] != NOTE_TYPE_ED25519 && raw[0] != NOTE_TYPE_COSIG) {
		rc = cl_why(why, CL_ETYPE, "verifier key type 0x%02x is not supported", raw[0]);
		goto fail;
	}
	if (n != 1 + 32) {
		rc = cl_why(why, CL_EINVAL, "verifier key is %zu bytes, not 32", n - 1);
		goto fail;
	}
	memcpy(v->name, name, nlen);
	v->name[nlen] = '\0';
	v->type = raw[0];
	memcpy(v->pub, raw + 1, 32);
	v->id = note_key_id(v->name, v->type, v->pub, sizeof v->pub);
	if (v->id != id) {
		rc = cl_why(why, CL_EINVAL,
		    "verifier key ID %08" PRIx32 " is not the key's ID %08" PRIx32, id, v->id);
		goto fail;
	}
	return 0;
fail:
	memset(v, 0, sizeof *v);
	return rc;
}

size_t
note_verifier_format(const struct note_verifier *v, char *buf, size_t cap)
{
	uint8_t raw[1 + 32];
	char b64[KEY_B64_LEN + 1];
	size_t nlen = name_len(v->name);

	if (cap > 0)
		buf[0] = '\0';
	if (nlen == 0 || note_name_check(v->name, nlen, NULL) != 0)
		return 0;
	if (v->type != NOTE_TYPE_ED25519 && v->type != NOTE_TYPE_COSIG)
		return 0;
	raw[0] = v->type;
	memcpy(raw + 1, v->pub, 32);
	if (cl_b64_encode(raw, sizeof raw, b64, sizeof b64) != KEY_B64_LEN)
		return 0;
	return cl_format(buf, cap, "%s+%08" PRIx32 "+%s", v->name, v->id, b64);
}

int
note_signer_parse(const char *str, size_t len, struct note_signer *s, char *why)
{
	const char *name, *b64;
	size_t nlen, blen, n = 0;
	uint8_t raw[1 + 32], pk[crypto_sign_PUBLICKEYBYTES];
	uint32_t id;
	int rc;

	memset(s, 0, sizeof *s);
	/* Reasons name the field at fault but never quote the string: it is
	 * a secret. */
	if (str == NULL || len < SKEY_PREFIX_LEN ||
	    memcmp(str, SKEY_PREFIX, SKEY_PREFIX_LEN) != 0) {
		rc = cl_why(why, CL_EINVAL, "signer key does not start with " SKEY_PREFIX);
		goto out;
	}
	if ((rc = key_split(str + SKEY_PREFIX_LEN, len - SKEY_PREFIX_LEN, "signer key", &name,
	         &nlen, &id, &b64, &blen, why)) != 0)
		goto out;
	if (blen != KEY_B64_LEN || cl_b64_decode(b64, blen, raw, sizeof raw, &n) != 0 ||
	    n != sizeof raw) {
		rc = cl_why(
		    why, CL_EINVAL, "signer key is not base64 of a type byte and a 32-byte seed");
		goto out;
	}
	if (raw[0] != NOTE_TYPE_ED25519) {
		rc = cl_why(why, CL_EINVAL, "signer key type 0x%02x is not Ed25519 (0x01)", raw[0]);
		goto out;
	}
	if (crypto_sign_seed_keypair(pk, s->sk, raw + 1) != 0) {
		rc = cl_why(why, CL_ECRYPTO, "cannot derive the Ed25519 key pair");
		goto out;
	}
	memcpy(s->name, name, nlen);
	s->name[nlen] = '\0';
	/* The ID commits to the public key, which the seed determines. */
	s->id = note_key_id(s->name, NOTE_TYPE_ED25519, pk, sizeof pk);
	if (s->id != id) {
		rc = cl_why(why, CL_EINVAL, "signer key ID does not match its key");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof raw);
	if (rc != 0)
		sodium_memzero(s, sizeof *s);
	return rc;
}

size_t
note_signer_format(const struct note_signer *s, char *buf, size_t cap)
{
	uint8_t raw[1 + 32];
	size_t nlen = name_len(s->name), need, pos;
	char id[CL_KEYID_LEN + 1];

	if (nlen == 0 || note_name_check(s->name, nlen, NULL) != 0)
		return 0;
	need = SKEY_PREFIX_LEN + nlen + 1 + CL_KEYID_LEN + 1 + KEY_B64_LEN;
	/* Check the room first, so that no partial secret is ever written. */
	if (cap < need + 1)
		return 0;
	snprintf(id, sizeof id, "%08" PRIx32, s->id);
	memcpy(buf, SKEY_PREFIX, SKEY_PREFIX_LEN);
	pos = SKEY_PREFIX_LEN;
	memcpy(buf + pos, s->name, nlen);
	pos += nlen;
	buf[pos++] = '+';
	memcpy(buf + pos, id, CL_KEYID_LEN);
	pos += CL_KEYID_LEN;
	buf[pos++] = '+';
	raw[0] = NOTE_TYPE_ED25519;
	memcpy(raw + 1, s->sk, 32); /* libsodium's sk starts with the seed */
	pos += cl_b64_encode(raw, sizeof raw, buf + pos, cap - pos);
	sodium_memzero(raw, sizeof raw);
	return pos;
}

int
note_signer_from_seed(const char *name, const uint8_t seed[32], struct note_signer *s, char *why)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	size_t nlen;
	int rc;

	memset(s, 0, sizeof *s);
	if (name == NULL || seed == NULL)
		return cl_why(why, CL_EINVAL, "signer name or seed is missing");
	nlen = strnlen(name, NOTE_NAME_MAX + 1);
	if ((rc = note_name_check(name, nlen, why)) != 0)
		return rc;
	if (crypto_sign_seed_keypair(pk, s->sk, seed) != 0) {
		sodium_memzero(s, sizeof *s);
		return cl_why(why, CL_ECRYPTO, "cannot derive the Ed25519 key pair");
	}
	memcpy(s->name, name, nlen);
	s->name[nlen] = '\0';
	s->id = note_key_id(s->name, NOTE_TYPE_ED25519, pk, sizeof pk);
	return 0;
}

int
note_signer_generate(const char *name, struct note_signer *s, char *why)
{
	uint8_t seed[32];
	int rc;

	randombytes_buf(seed, sizeof seed);
	rc = note_signer_from_seed(name, seed, s, why);
	sodium_memzero(seed, sizeof seed);
	return rc;
}

void
note_signer_verifier(const struct note_signer *s, struct note_verifier *v)
{
	size_t nlen = name_len(s->name);

	memset(v, 0, sizeof *v);
	memcpy(v->name, s->name, nlen);
	v->id = s->id;
	v->type = NOTE_TYPE_ED25519;
	memcpy(v->pub, s->sk + 32, 32); /* libsodium's sk ends with the public key */
}

void
note_cosigner_verifier(const struct note_signer *s, struct note_verifier *v)
{
	size_t nlen = name_len(s->name);

	memset(v, 0, sizeof *v);
	memcpy(v->name, s->name, nlen);
	v->type = NOTE_TYPE_COSIG;
	memcpy(v->pub, s->sk + 32, 32);
	/* The same key pair gets a different ID as a witness key. */
	v->id = note_key_id(v->name, NOTE_TYPE_COSIG, v->pub, sizeof v->pub);
}

void
note_signer_wipe(struct note_signer *s)
{
	if (s != NULL)
		sodium_memzero(s, sizeof *s);
}

/* Write "— <name> <base64(payload)>\n" and a NUL into line; returns the
 * length without the NUL, or 0 if the name is bad or cap is too small. */
static size_t
sig_line_format(const char *name, const uint8_t *payload, size_t plen, char *line, size_t cap)
{
	size_t nlen = name_len(name), need, pos = 0;

	if (nlen == 0 || note_name_check(name, nlen, NULL) != 0)
		return 0;
	need = SIG_PREFIX_LEN + nlen + 1 + CL_B64_LEN(plen) + 1;
	if (line == NULL || cap < need + 1)
		return 0;
	memcpy(line, SIG_PREFIX, SIG_PREFIX_LEN);
	pos += SIG_PREFIX_LEN;
	memcpy(line + pos, name, nlen);
	pos += nlen;
	line[pos++] = ' ';
	pos += cl_b64_encode(payload, plen, line + pos, cap - pos);
	line[pos++] = '\n';
	line[pos] = '\0';
	return pos;
}

size_t
note_sign_line(const struct note_signer *s, const uint8_t *text, size_t len, char *line, size_t cap)
{
	uint8_t payload[4 + ED_SIG_LEN];

	if (cap > 0 && line != NULL)
		line[0] = '\0';
	if (s == NULL || (text == NULL && len > 0))
		return 0;
	cl_be32_put(payload, s->id);
	if (crypto_sign_detached(payload + 4, NULL, text, len, s->sk) != 0)
		return 0;
	return sig_line_format(s->name, payload, sizeof payload, line, cap);
}

int
note_sign(const struct note_signer *s, const uint8_t *text, size_t len, uint8_t *out, size_t cap,
    size_t *outlen, char *why)
{
	char line[NOTE_SIGLINE_MAX];
	size_t ll, total;
	int rc;

	*outlen = 0;
	if (s == NULL || text == NULL || len == 0 || text[len - 1] != '\n')
		return cl_why(why, CL_EINVAL, "note text must be non-empty and end in a newline");
	if (len > NOTE_MAX_SIZE)
		return cl_why(
		    why, CL_ETOOBIG, "note text is %zu bytes, more than %d", len, NOTE_MAX_SIZE);
	if ((rc = note_text_check(text, len, why)) != 0)
		return rc;
	if ((ll = note_sign_line(s, text, len, line, sizeof line)) == 0)
		return cl_why(why, CL_EINVAL, "cannot sign with key \"%s\"", s->name);
	total = len + 1 + ll;
	if (total > NOTE_MAX_SIZE)
		return cl_why(why, CL_ETOOBIG, "signed note would be %zu bytes, more than %d",
		    total, NOTE_MAX_SIZE);
	if (out == NULL || total > cap)
		return cl_why(
		    why, CL_ETOOBIG, "signed note needs %zu bytes, buffer has %zu", total, cap);
	/* The line is signed already, so out may even be text's buffer. */
	memmove(out, text, len);
	out[len] = '\n';
	memcpy(out + len + 1, line, ll);
	*outlen = total;
	return 0;
}

/* Build "cosignature/v1\ntime <ts>\n" || text into buf; returns its length,
 * or 0 if text is longer than NOTE_COSIG_TEXT_MAX. */
static size_t
cosig_message(uint8_t *buf, uint64_t ts, const uint8_t *text, size_t len)
{
	int n;

	if (len > NOTE_COSIG_TEXT_MAX)
		return 0;
	n = snprintf((char *)buf, COSIG_HDR_MAX, "cosignature/v1\ntime %" PRIu64 "\n", ts);
	if (n <= 0 || n >= COSIG_HDR_MAX)
		return 0;
	if (len > 0)
		memcpy(buf + n, text, len);
	return (size_t)n + len;
}

size_t
note_cosign_line(const struct note_signer *s, const uint8_t *text, size_t len, uint64_t timestamp,
    char *line, size_t cap)
{
	uint8_t msg[COSIG_HDR_MAX + NOTE_COSIG_TEXT_MAX];
	uint8_t payload[4 + 8 + ED_SIG_LEN];
	size_t mlen, nlen;

	if (cap > 0 && line != NULL)
		line[0] = '\0';
	if (s == NULL || (text == NULL && len > 0))
		return 0;
	if (timestamp == 0 || timestamp > COSIG_TS_MAX)
		return 0;
	if ((nlen = name_len(s->name)) == 0)
		return 0;
	if ((mlen = cosig_message(msg, timestamp, text, len)) == 0)
		return 0;
	cl_be32_put(payload, note_key_id(s->name, NOTE_TYPE_COSIG, s->sk + 32, 32));
	cl_be64_put(payload + 4, timestamp);
	if (crypto_sign_detached(payload + 12, NULL, msg, mlen, s->sk) != 0)
		return 0;
	return sig_line_format(s->name, payload, sizeof payload, line, cap);
}

/* A cosignature/v1 signature: a u64 timestamp, then Ed25519 over the
 * cosigned message, which is built in this frame only. */
static int
cosig_verify(const struct note_verifier *k, const uint8_t *text, size_t len, const uint8_t *sig,
    size_t slen, uint64_t *ts)
{
	uint8_t msg[COSIG_HDR_MAX + NOTE_COSIG_TEXT_MAX];
	uint64_t t;
	size_t mlen;

	if (slen != 8 + ED_SIG_LEN)
		return CL_EBADSIG;
	if ((t = cl_be64_get(sig)) > COSIG_TS_MAX)
		return CL_EBADSIG;
	if ((mlen = cosig_message(msg, t, text, len)) == 0)
		return CL_ETOOBIG;
	if (crypto_sign_verify_detached(sig + 8, msg, mlen, k->pub) != 0)
		return CL_EBADSIG;
	*ts = t;
	return 0;
}

/* Check sig[0..slen) (the line's value after the key ID) against key k
 * over text.  Returns 0 (with *ts set for cosignatures), CL_EBADSIG, or
 * CL_ETOOBIG if a cosigned text is too long to check. */
static int
sig_verify(const struct note_verifier *k, const uint8_t *text, size_t len, const uint8_t *sig,
    size_t slen, uint64_t *ts)
{
	*ts = 0;
	if (k->type == NOTE_TYPE_ED25519) {
		if (slen != ED_SIG_LEN)
			return CL_EBADSIG;
		return crypto_sign_verify_detached(sig, text, len, k->pub) == 0 ? 0 : CL_EBADSIG;
	}
	return cosig_verify(k, text, len, sig, slen, ts);
}

/* Parse signature line number out->n_sigs, msg[pos..end) (end is its '\n'),
 * match it against keys and verify it, and append it to out. */
static int
sig_line_open(const uint8_t *msg, size_t pos, size_t end, const struct note_verifier *keys,
    size_t n_keys, struct note *out, char *why)
{
	struct note_sig *sig = &out->sigs[out->n_sigs];
	const char *line = (const char *)msg + pos, *name, *sp, *b64;
	size_t llen = end - pos, nlen, blen, n = 0, no = out->n_sigs + 1;
	uint8_t raw[NOTE_SIG_B64_MAX / 4 * 3];
	char sub[CL_WHY_MAX];
	int matched = 0, rc;

	if (llen < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return cl_why(why, CL_EINVAL,
		    "signature line %zu does not start with an em dash and a space", no);
	name = line + SIG_PREFIX_LEN;
	if ((sp = memchr(name, ' ', llen - SIG_PREFIX_LEN)) == NULL)
		return cl_why(
		    why, CL_EINVAL, "signature line %zu has no space after the key name", no);
	nlen = (size_t)(sp - name);
	if (note_name_check(name, nlen, sub) != 0)
		return cl_why(why, CL_EINVAL, "signature line %zu: %s", no, sub);
	b64 = sp + 1;
	blen = (size_t)(line + llen - b64);
	if (blen == 0)
		return cl_why(why, CL_EINVAL, "signature line %zu has no signature", no);
	if (blen > NOTE_SIG_B64_MAX)
		return cl_why(why, CL_ETOOBIG,
		    "signature line %zu: signature is %zu characters, more than %d", no, blen,
		    NOTE_SIG_B64_MAX);
	if (cl_b64_decode(b64, blen, raw, sizeof raw, &n) != 0)
		return cl_why(
		    why, CL_EINVAL, "signature line %zu: signature is not canonical base64", no);
	if (n < 5)
		return cl_why(why, CL_EINVAL,
		    "signature line %zu: signature is %zu bytes, fewer than 5", no, n);

	sig->name = name;
	sig->name_len = nlen;
	sig->id = cl_be32_get(raw);
	sig->key = -1;
	sig->line = line;
	sig->line_len = llen + 1;
	out->n_sigs++;

	/* A repeated (name, ID) is kept but checked once: the first such line
	 * either verified or already sank the note. */
	for (size_t j = 0; j + 1 < out->n_sigs; j++) {
		const struct note_sig *o = &out->sigs[j];

		if (o->id == sig->id && o->name_len == nlen && memcmp(o->name, name, nlen) == 0)
			return 0;
	}
	for (size_t k = 0; k < n_keys; k++) {
		uint64_t ts;

		if (keys[k].id != sig->id || strlen(keys[k].name) != nlen ||
		    memcmp(keys[k].name, name, nlen) != 0)
			continue;
		/* Two configured keys may share a name and a 32-bit ID; the
		 * line is good if either verifies it. */
		matched = 1;
		rc = sig_verify(&keys[k], msg, out->text_len, raw + 4, n - 4, &ts);
		if (rc == CL_ETOOBIG)
			return cl_why(why, rc,
			    "signature line %zu: text is longer than %d bytes, too long to check a "
			    "cosignature",
			    no, NOTE_COSIG_TEXT_MAX);
		if (rc == 0) {
			sig->key = (int)k;
			sig->timestamp = ts;
			out->n_verified++;
			return 0;
		}
	}
	if (matched)
		return cl_why(why, CL_EBADSIG,
		    "signature line %zu by %.*s+%08" PRIx32 " does not verify", no, (int)nlen, name,
		    sig->id);
	return 0;
}

int
note_open(const uint8_t *msg, size_t len, const struct note_verifier *keys, size_t n_keys,
    struct note *out, char *why)
{
	size_t pos, i;
	int rc;

	memset(out, 0, sizeof *out);
	if (msg == NULL || (keys == NULL && n_keys > 0)) {
		rc = cl_why(why, CL_EINVAL, "note or keys missing");
		goto fail;
	}
	if (len > NOTE_MAX_SIZE) {
		rc = cl_why(why, CL_ETOOBIG, "note is %zu bytes, more than %d", len, NOTE_MAX_SIZE);
		goto fail;
	}
	for (size_t k = 0; k < n_keys; k++) {
		if (name_len(keys[k].name) == 0 ||
		    (keys[k].type != NOTE_TYPE_ED25519 && keys[k].type != NOTE_TYPE_COSIG)) {
			rc = cl_why(why, CL_EINVAL, "verifier %zu is not a valid key", k);
			goto fail;
		}
	}
	if ((rc = note_text_check(msg, len, why)) != 0)
		goto fail;
	/* Text may hold empty lines and signature lines never are empty, so
	 * the separator is the last "\n\n". */
	for (i = len; i >= 2; i--) {
		if (msg[i - 2] == '\n' && msg[i - 1] == '\n')
			break;
	}
	if (i < 2) {
		rc = cl_why(why, CL_EINVAL, "note has no blank line before its signatures");
		goto fail;
	}
	out->text_len = i - 1;
	pos = i;
	if (pos == len) {
		rc = cl_why(why, CL_EINVAL, "note has no signature lines");
		goto fail;
	}
	if (msg[len - 1] != '\n') {
		rc = cl_why(why, CL_EINVAL, "note does not end in a newline");
		goto fail;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(msg + pos, '\n', len - pos);
		size_t end = (size_t)(nl - msg);

		if (out->n_sigs == NOTE_SIGS_MAX) {
			rc = cl_why(why, CL_ETOOBIG, "note has more than %d signature lines",
			    NOTE_SIGS_MAX);
			goto fail;
		}
		if ((rc = sig_line_open(msg, pos, end, keys, n_keys, out, why)) != 0)
			goto fail;
		pos = end + 1;
	}
	if (n_keys > 0 && out->n_verified == 0) {
		if (n_keys == 1)
			rc = cl_why(why, CL_ENOKEY, "note has no signature by %s+%08" PRIx32,
			    keys[0].name, keys[0].id);
		else
			rc = cl_why(
			    why, CL_ENOKEY, "note has no signature by any of the %zu keys", n_keys);
		goto fail;
	}
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return rc;
}

size_t
note_keys_verified(const struct note *n, size_t n_keys)
{
	size_t got = 0;

	for (size_t k = 0; k < n_keys; k++) {
		for (size_t i = 0; i < n->n_sigs; i++) {
			if (n->sigs[i].key == (int)k) {
				got++;
				break;
			}
		}
	}
	return got;
}
