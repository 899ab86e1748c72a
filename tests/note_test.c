/*
 * note_test.c: signed notes and note keys against every published and
 * derived vector in note-vectors.json (read at run time), then against
 * mutated, truncated and malformed notes and keys.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "note.h"
#include "testutil.h"

#define EMDASH "\xe2\x80\x94"

static char why[CL_WHY_MAX];

/* ---- helpers ---- */

static void
verifier_parse_ok(const char *s, struct note_verifier *v)
{
	int rc = note_verifier_parse(s, strlen(s), v, why);

	if (rc != 0)
		fail_msg("%s: %s", s, why);
}

static void
signer_from_hex_seed(const char *name, const char *seed_hex, struct note_signer *s)
{
	uint8_t seed[32];

	tu_unhex(seed_hex, seed, sizeof seed);
	assert_int_equal(note_signer_from_seed(name, seed, s, why), 0);
	sodium_memzero(seed, sizeof seed);
}

static bool
all_zero(const void *p, size_t n)
{
	return sodium_is_zero(p, n) == 1;
}

/* Decode the base64 value of a signature line "— name b64\n" into raw. */
static size_t
line_value(const char *line, uint8_t *raw, size_t cap)
{
	const char *b64 = strrchr(line, ' ') + 1;
	size_t n = 0, blen = strlen(b64);

	assert_true(blen > 0 && b64[blen - 1] == '\n');
	assert_int_equal(cl_b64_decode(b64, blen - 1, raw, cap, &n), 0);
	return n;
}

/* Every one-byte change of `note` (signed by some of keys) must not verify
 * as the original.  With one signature, note_open must fail outright; with
 * several, it may succeed only if the text is intact and every line that
 * verifies is an original line. */
static void
check_mutations(const char *note, const struct note_verifier *keys, size_t n_keys)
{
	size_t len = strlen(note), n_orig;
	uint8_t *m = malloc(len);
	struct note o, got;

	assert_non_null(m);
	assert_int_equal(note_open((const uint8_t *)note, len, keys, n_keys, &o, why), 0);
	n_orig = o.n_sigs;
	for (size_t i = 0; i < len; i++) {
		const uint8_t b = (uint8_t)note[i];
		const uint8_t subst[] = {(uint8_t)(b ^ 0x01), b == 'A' ? 'B' : 'A',
		    (uint8_t)(b ^ 0x20),
		    b == '~' ? '!' : (b >= 0x20 && b < 0x7e ? (uint8_t)(b + 1) : '~')};

		for (size_t k = 0; k < sizeof subst; k++) {
			int rc;

			if (subst[k] == b)
				continue;
			memcpy(m, note, len);
			m[i] = subst[k];
			rc = note_open(m, len, keys, n_keys, &got, NULL);
			if (rc != 0) {
				assert_int_equal(got.n_verified, 0);
				assert_int_equal(got.n_sigs, 0);
				continue;
			}
			if (n_orig == 1)
				fail_msg("byte %zu changed from 0x%02x to 0x%02x still verifies", i,
				    b, subst[k]);
			assert_int_equal(got.text_len, o.text_len);
			assert_memory_equal(m, note, o.text_len);
			for (size_t j = 0; j < got.n_sigs; j++) {
				bool found = false;

				if (got.sigs[j].key < 0)
					continue;
				for (size_t q = 0; q < o.n_sigs; q++)
					found |= got.sigs[j].line_len == o.sigs[q].line_len &&
					    memcmp(got.sigs[j].line, o.sigs[q].line,
					        got.sigs[j].line_len) == 0;
				if (!found)
					fail_msg("byte %zu: an altered line verifies", i);
			}
		}
	}
	free(m);
}

/* Every proper prefix of a one-signature note fails; of a note with several
 * signatures, only the prefixes that end at a line boundary succeed. */
static void
check_truncations(const char *note, const struct note_verifier *keys, size_t n_keys)
{
	size_t len = strlen(note);
	struct note o, got;

	assert_int_equal(note_open((const uint8_t *)note, len, keys, n_keys, &o, why), 0);
	for (size_t k = 0; k < len; k++) {
		int rc = note_open((const uint8_t *)note, k, keys, n_keys, &got, NULL);
		bool boundary = false;

		for (size_t q = 1; q < o.n_sigs; q++)
			boundary |= o.sigs[q].line == note + k;
		if (boundary)
			assert_int_equal(rc, 0);
		else if (rc == 0)
			fail_msg("prefix of %zu bytes verifies", k);
	}
}

/* ---- published and derived keys ---- */

static void
check_vkey(const char *vk, struct note_verifier *v)
{
	char buf[NOTE_VKEY_MAX], idhex[9];
	const char *p1 = strchr(vk, '+');

	verifier_parse_ok(vk, v);
	assert_int_equal(note_verifier_format(v, buf, sizeof buf), strlen(vk));
	assert_string_equal(buf, vk);
	/* The stated ID, recomputed from name, type and key. */
	snprintf(idhex, sizeof idhex, "%08" PRIx32, v->id);
	assert_memory_equal(p1 + 1, idhex, 8);
	assert_int_equal(note_key_id(v->name, v->type, v->pub, sizeof v->pub), v->id);
	assert_int_equal((size_t)(p1 - vk), strlen(v->name));
	assert_memory_equal(vk, v->name, strlen(v->name));
}

static void
check_skey(const char *sk, const struct note_verifier *want)
{
	struct note_signer s;
	struct note_verifier v;
	char buf[NOTE_SKEY_MAX];

	assert_int_equal(note_signer_parse(sk, strlen(sk), &s, why), 0);
	assert_int_equal(note_signer_format(&s, buf, sizeof buf), strlen(sk));
	assert_string_equal(buf, sk);
	note_signer_verifier(&s, &v);
	assert_memory_equal(&v, want, sizeof v);
	/* Too small a buffer gets nothing, not a partial secret. */
	memset(buf, 'x', sizeof buf);
	assert_int_equal(note_signer_format(&s, buf, strlen(sk)), 0);
	for (size_t i = 0; i < strlen(sk); i++)
		assert_int_equal(buf[i], 'x');
	sodium_memzero(buf, sizeof buf);
	note_signer_wipe(&s);
	assert_true(all_zero(&s, sizeof s));
}

static void
test_published_keys(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json"), *e;
	json_t *pub = json_object_get(vec, "published");
	size_t i;

	(void)state;
	assert_true(json_array_size(pub) >= 5);
	json_array_foreach(pub, i, e)
	{
		struct note_verifier v, v2;
		struct note_signer s;
		uint8_t want[32];

		check_vkey(tu_str(e, "vkey"), &v);
		assert_int_equal(v.type, NOTE_TYPE_ED25519);
		if (json_object_get(e, "pubkey_hex") != NULL) {
			tu_unhex(tu_str(e, "pubkey_hex"), want, 32);
			assert_memory_equal(v.pub, want, 32);
		}
		if (json_object_get(e, "skey") != NULL)
			check_skey(tu_str(e, "skey"), &v);
		if (json_object_get(e, "seed_hex") != NULL) {
			signer_from_hex_seed(v.name, tu_str(e, "seed_hex"), &s);
			assert_int_equal(s.id, v.id);
			note_signer_verifier(&s, &v2);
			assert_memory_equal(&v2, &v, sizeof v);
			tu_unhex(tu_str(e, "seed_hex"), want, 32);
			assert_memory_equal(s.sk, want, 32);
			note_signer_wipe(&s);
		}
	}
	json_decref(vec);
}

static void
test_derived_keys(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	json_t *log = json_object_get(d, "log"), *wit = json_object_get(d, "witness");
	struct note_verifier lv, wv, v;
	struct note_signer ls, ws;
	uint8_t want[32];
	char idhex[9], buf[NOTE_VKEY_MAX];

	(void)state;
	check_vkey(tu_str(log, "vkey"), &lv);
	assert_string_equal(lv.name, tu_str(log, "name"));
	assert_int_equal(lv.type, NOTE_TYPE_ED25519);
	snprintf(idhex, sizeof idhex, "%08" PRIx32, lv.id);
	assert_string_equal(idhex, tu_str(log, "key_id_hex"));
	tu_unhex(tu_str(log, "pubkey_hex"), want, 32);
	assert_memory_equal(lv.pub, want, 32);
	check_skey(tu_str(log, "skey_go_format"), &lv);
	signer_from_hex_seed(tu_str(log, "name"), tu_str(log, "seed_hex"), &ls);
	note_signer_verifier(&ls, &v);
	assert_memory_equal(&v, &lv, sizeof v);

	check_vkey(tu_str(wit, "vkey"), &wv);
	assert_string_equal(wv.name, tu_str(wit, "name"));
	assert_int_equal(wv.type, tu_u64(wit, "sig_type"));
	assert_int_equal(wv.type, NOTE_TYPE_COSIG);
	snprintf(idhex, sizeof idhex, "%08" PRIx32, wv.id);
	assert_string_equal(idhex, tu_str(wit, "key_id_hex"));
	tu_unhex(tu_str(wit, "pubkey_hex"), want, 32);
	assert_memory_equal(wv.pub, want, 32);
	signer_from_hex_seed(tu_str(wit, "name"), tu_str(wit, "seed_hex"), &ws);
	note_cosigner_verifier(&ws, &v);
	assert_memory_equal(&v, &wv, sizeof v);
	assert_int_equal(note_verifier_format(&v, buf, sizeof buf), strlen(tu_str(wit, "vkey")));
	/* The same key as a note key has another ID. */
	note_signer_verifier(&ws, &v);
	assert_int_not_equal(v.id, wv.id);
	note_signer_wipe(&ls);
	note_signer_wipe(&ws);
	json_decref(vec);
}

/* ---- published notes: reproduce and verify ---- */

static void
test_published_notes(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json"), *e;
	json_t *pub = json_object_get(vec, "published");
	struct note_verifier all[16];
	size_t i, n_all = 0, n_notes = 0;

	(void)state;
	json_array_foreach(pub, i, e)
	{
		verifier_parse_ok(tu_str(e, "vkey"), &all[n_all++]);
	}
	json_array_foreach(pub, i, e)
	{
		const char *text, *note;
		struct note_verifier *v = &all[i];
		struct note n;
		size_t tlen, nlen;

		if (json_object_get(e, "note") == NULL)
			continue;
		n_notes++;
		text = tu_str(e, "text");
		note = tu_str(e, "note");
		tlen = strlen(text);
		nlen = strlen(note);

		/* Signed with the seed, byte for byte. */
		if (json_object_get(e, "seed_hex") != NULL) {
			struct note_signer s;
			uint8_t out[1024];
			char line[NOTE_SIGLINE_MAX];
			size_t olen;

			signer_from_hex_seed(v->name, tu_str(e, "seed_hex"), &s);
			assert_int_equal(
			    note_sign(&s, (const uint8_t *)text, tlen, out, sizeof out, &olen, why),
			    0);
			assert_int_equal(olen, nlen);
			assert_memory_equal(out, note, nlen);
			assert_int_equal(
			    note_sign_line(&s, (const uint8_t *)text, tlen, line, sizeof line),
			    nlen - tlen - 1);
			assert_string_equal(line, note + tlen + 1);
			note_signer_wipe(&s);
		}

		/* Verified with its own key. */
		assert_int_equal(note_open((const uint8_t *)note, nlen, v, 1, &n, why), 0);
		assert_int_equal(n.text_len, tlen);
		assert_memory_equal(note, text, tlen);
		assert_int_equal(n.n_sigs, 1);
		assert_int_equal(n.n_verified, 1);
		assert_int_equal(n.sigs[0].key, 0);
		assert_int_equal(n.sigs[0].id, v->id);
		assert_int_equal(n.sigs[0].name_len, strlen(v->name));
		assert_memory_equal(n.sigs[0].name, v->name, strlen(v->name));
		assert_ptr_equal(n.sigs[0].line, note + tlen + 1);
		assert_int_equal(n.sigs[0].line_len, nlen - tlen - 1);
		assert_int_equal(n.sigs[0].timestamp, 0);

		/* Among all the published keys, the right one is named. */
		assert_int_equal(note_open((const uint8_t *)note, nlen, all, n_all, &n, why), 0);
		assert_int_equal(n.sigs[0].key, (int)i);

		/* Without keys: parsed, nothing verified. */
		assert_int_equal(note_open((const uint8_t *)note, nlen, NULL, 0, &n, why), 0);
		assert_int_equal(n.n_verified, 0);
		assert_int_equal(n.sigs[0].key, -1);

		/* Any other published key alone: no signature by it. */
		for (size_t k = 0; k < n_all; k++) {
			if (k == i)
				continue;
			assert_int_equal(
			    note_open((const uint8_t *)note, nlen, &all[k], 1, &n, why), CL_ENOKEY);
			assert_true(all_zero(&n, sizeof n));
		}

		check_mutations(note, v, 1);
		check_truncations(note, v, 1);
	}
	assert_int_equal(n_notes, 4);
	json_decref(vec);
}

/* A key with the right name but another ID is ignored; a key with the
 * right name and ID must verify or sink the note. */
static void
test_wrong_keys(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pub = json_object_get(vec, "published");
	json_t *pn = json_array_get(pub, 1), *enoch = json_array_get(pub, 2);
	const char *note = tu_str(pn, "note"), *text = tu_str(pn, "text");
	size_t nlen = strlen(note), tlen = strlen(text);
	struct note_verifier v, other, keys[2];
	struct note_signer s;
	struct note n;
	uint8_t raw[128];
	char b64[256], *bad;
	size_t rlen;

	(void)state;
	verifier_parse_ok(tu_str(pn, "vkey"), &v);

	/* Same name, another key, so another ID. */
	signer_from_hex_seed(v.name, tu_str(enoch, "seed_hex"), &s);
	note_signer_verifier(&s, &other);
	note_signer_wipe(&s);
	assert_string_equal(other.name, v.name);
	assert_int_not_equal(other.id, v.id);
	assert_int_equal(note_open((const uint8_t *)note, nlen, &other, 1, &n, why), CL_ENOKEY);

	/* Same name and ID, another public key: the line must verify. */
	other.id = v.id;
	assert_int_equal(note_open((const uint8_t *)note, nlen, &other, 1, &n, why), CL_EBADSIG);
	assert_true(all_zero(&n, sizeof n));
	/* ... and it still sinks the note if another key verifies nothing. */
	keys[0] = v;
	keys[1] = other;
	assert_int_equal(note_open((const uint8_t *)note, nlen, keys, 2, &n, why), 0);
	assert_int_equal(n.sigs[0].key, 0);

	/* Right key, signature bytes altered but re-encoded canonically. */
	rlen = line_value(note + tlen + 1, raw, sizeof raw);
	assert_int_equal(rlen, 68);
	raw[4 + 10] ^= 0x40;
	cl_b64_encode(raw, rlen, b64, sizeof b64);
	bad = malloc(nlen + 1);
	assert_non_null(bad);
	snprintf(bad, nlen + 1, "%s\n" EMDASH " %s %s\n", text, v.name, b64);
	assert_int_equal(strlen(bad), nlen);
	assert_int_equal(note_open((const uint8_t *)bad, nlen, &v, 1, &n, why), CL_EBADSIG);
	/* A short Ed25519 payload by the right (name, ID) is a bad signature. */
	cl_b64_encode(raw, rlen - 1, b64, sizeof b64);
	snprintf(bad, nlen + 1, "%s\n" EMDASH " %s %s\n", text, v.name, b64);
	assert_int_equal(note_open((const uint8_t *)bad, strlen(bad), &v, 1, &n, why), CL_EBADSIG);
	free(bad);
	json_decref(vec);
}

/* ---- cosignatures ---- */

static void
test_cosignature(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	json_t *log = json_object_get(d, "log"), *wit = json_object_get(d, "witness");
	json_t *cs = json_object_get(d, "cosignature");
	const char *body = tu_str(d, "checkpoint8_body"), *cp8 = tu_str(d, "checkpoint8");
	const char *cosigned = tu_str(d, "checkpoint8_cosigned");
	const char *want_line = tu_str(cs, "line"), *signed_msg = tu_str(cs, "signed_message");
	uint64_t ts = tu_u64(cs, "timestamp");
	struct note_verifier keys[2], swapped[2];
	struct note_signer ws;
	struct note n;
	char line[NOTE_SIGLINE_MAX], joined[1024];
	uint8_t raw[128], want_raw[76];
	size_t rlen;

	(void)state;
	verifier_parse_ok(tu_str(log, "vkey"), &keys[0]);
	verifier_parse_ok(tu_str(wit, "vkey"), &keys[1]);
	signer_from_hex_seed(tu_str(wit, "name"), tu_str(wit, "seed_hex"), &ws);

	/* The line, byte for byte, and the witness's 200 response is it. */
	assert_int_equal(
	    note_cosign_line(&ws, (const uint8_t *)body, strlen(body), ts, line, sizeof line),
	    strlen(want_line));
	assert_string_equal(line, want_line);
	assert_string_equal(line, tu_str(d, "witness_add_checkpoint_response_200"));
	rlen = line_value(line, raw, sizeof raw);
	assert_int_equal(rlen, 76);
	tu_unhex(tu_str(cs, "raw_hex"), want_raw, sizeof want_raw);
	assert_memory_equal(raw, want_raw, 76);
	/* The signature is over the published signed message. */
	assert_int_equal(crypto_sign_verify_detached(raw + 12, (const uint8_t *)signed_msg,
	                     strlen(signed_msg), keys[1].pub),
	    0);
	/* A client appends the response to the checkpoint. */
	snprintf(joined, sizeof joined, "%s%s", cp8, line);
	assert_string_equal(joined, cosigned);

	/* Verified with both keys, the time reported. */
	assert_int_equal(
	    note_open((const uint8_t *)cosigned, strlen(cosigned), keys, 2, &n, why), 0);
	assert_int_equal(n.text_len, strlen(body));
	assert_int_equal(n.n_sigs, 2);
	assert_int_equal(n.n_verified, 2);
	assert_int_equal(n.sigs[0].key, 0);
	assert_int_equal(n.sigs[0].timestamp, 0);
	assert_int_equal(n.sigs[1].key, 1);
	assert_int_equal(n.sigs[1].timestamp, ts);
	assert_int_equal(n.sigs[1].timestamp, 1700000000);
	assert_int_equal(n.sigs[1].id, keys[1].id);
	assert_int_equal(note_keys_verified(&n, 2), 2);
	assert_int_equal(note_keys_verified(&n, 1), 1); /* only key 0 asked about */
	swapped[0] = keys[1];
	swapped[1] = keys[0];
	assert_int_equal(
	    note_open((const uint8_t *)cosigned, strlen(cosigned), swapped, 2, &n, why), 0);
	assert_int_equal(n.sigs[0].key, 1);
	assert_int_equal(n.sigs[1].key, 0);
	/* The witness key alone verifies its line and ignores the log's. */
	assert_int_equal(
	    note_open((const uint8_t *)cosigned, strlen(cosigned), &keys[1], 1, &n, why), 0);
	assert_int_equal(n.n_verified, 1);
	assert_int_equal(n.sigs[0].key, -1);
	assert_int_equal(n.sigs[1].key, 0);
	assert_int_equal(note_keys_verified(&n, 1), 1);
	/* The witness's line twice: one witness. */
	{
		char twice[2048];
		const char *wl = strrchr(cosigned, '\n');

		while (wl > cosigned && wl[-1] != '\n')
			wl--;
		snprintf(twice, sizeof twice, "%s%s", cosigned, wl);
		assert_int_equal(
		    note_open((const uint8_t *)twice, strlen(twice), keys, 2, &n, why), 0);
		assert_int_equal(n.n_sigs, 3);
		assert_int_equal(note_keys_verified(&n, 2), 2);
	}
	/* The witness key as a plain note key (type 0x01) has another ID. */
	note_signer_verifier(&ws, &swapped[0]);
	assert_int_equal(
	    note_open((const uint8_t *)cosigned, strlen(cosigned), &swapped[0], 1, &n, why),
	    CL_ENOKEY);

	check_mutations(cosigned, keys, 2);
	check_mutations(cosigned, &keys[1], 1);
	check_truncations(cosigned, keys, 2);
	note_signer_wipe(&ws);
	json_decref(vec);
}

/* Build "text\n— name base64(payload)\n" into out. */
static size_t
note_with_payload(
    const char *text, const char *name, const uint8_t *payload, size_t plen, char *out, size_t cap)
{
	char b64[256];
	int n;

	assert_true(cl_b64_encode(payload, plen, b64, sizeof b64) > 0);
	n = snprintf(out, cap, "%s\n" EMDASH " %s %s\n", text, name, b64);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void
be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
test_cosignature_edges(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	json_t *wit = json_object_get(d, "witness");
	const char *body = tu_str(d, "checkpoint8_body");
	size_t blen = strlen(body), nlen, mlen;
	struct note_verifier wv;
	struct note_signer ws;
	struct note n;
	char line[NOTE_SIGLINE_MAX], note[1024], *big, *big2;
	uint8_t payload[76], msg[256];
	const uint64_t max = (uint64_t)INT64_MAX;

	(void)state;
	signer_from_hex_seed(tu_str(wit, "name"), tu_str(wit, "seed_hex"), &ws);
	note_cosigner_verifier(&ws, &wv);

	/* Timestamps: 1 .. 2^63-1. */
	assert_int_equal(
	    note_cosign_line(&ws, (const uint8_t *)body, blen, 0, line, sizeof line), 0);
	assert_int_equal(
	    note_cosign_line(&ws, (const uint8_t *)body, blen, max + 1, line, sizeof line), 0);
	assert_int_equal(note_cosign_line(&ws, (const uint8_t *)body, blen, 1, line, 10), 0);
	assert_true(note_cosign_line(&ws, (const uint8_t *)body, blen, max, line, sizeof line) > 0);
	snprintf(note, sizeof note, "%s\n%s", body, line);
	assert_int_equal(note_open((const uint8_t *)note, strlen(note), &wv, 1, &n, why), 0);
	assert_int_equal(n.sigs[0].timestamp, max);

	/* A correctly signed cosignature with time 2^63 is still refused. */
	mlen = (size_t)snprintf(
	    (char *)msg, sizeof msg, "cosignature/v1\ntime %" PRIu64 "\n%s", max + 1, body);
	be32_put(payload, wv.id);
	be32_put(payload + 4, 0x80000000u);
	be32_put(payload + 8, 0);
	assert_int_equal(crypto_sign_detached(payload + 12, NULL, msg, mlen, ws.sk), 0);
	assert_int_equal(crypto_sign_verify_detached(payload + 12, msg, mlen, wv.pub), 0);
	nlen = note_with_payload(body, wv.name, payload, sizeof payload, note, sizeof note);
	assert_int_equal(note_open((const uint8_t *)note, nlen, &wv, 1, &n, why), CL_EBADSIG);

	/* An Ed25519 note signature under the cosigner's (name, ID): the
	 * payload is 68 bytes, not 76. */
	assert_int_equal(
	    crypto_sign_detached(payload + 4, NULL, (const uint8_t *)body, blen, ws.sk), 0);
	nlen = note_with_payload(body, wv.name, payload, 68, note, sizeof note);
	assert_int_equal(note_open((const uint8_t *)note, nlen, &wv, 1, &n, why), CL_EBADSIG);

	/* Text beyond NOTE_COSIG_TEXT_MAX: no line, and a matching line on
	 * such a note cannot be checked. */
	big = malloc(NOTE_COSIG_TEXT_MAX + 2048);
	assert_non_null(big);
	memset(big, 'a', NOTE_COSIG_TEXT_MAX);
	big[NOTE_COSIG_TEXT_MAX] = '\n';
	assert_int_equal(note_cosign_line(&ws, (const uint8_t *)big, NOTE_COSIG_TEXT_MAX + 1, 5,
	                     line, sizeof line),
	    0);
	assert_true(note_cosign_line(&ws, (const uint8_t *)big + 1, NOTE_COSIG_TEXT_MAX, 5, line,
	                sizeof line) > 0);
	be32_put(payload, wv.id);
	memset(payload + 4, 0, 8);
	big[NOTE_COSIG_TEXT_MAX + 1] = '\0';
	big2 = malloc(NOTE_COSIG_TEXT_MAX + 2048);
	assert_non_null(big2);
	nlen = note_with_payload(
	    big, wv.name, payload, sizeof payload, big2, NOTE_COSIG_TEXT_MAX + 2048);
	assert_int_equal(note_open((const uint8_t *)big2, nlen, &wv, 1, &n, why), CL_ETOOBIG);
	/* Without the witness key the line is just unknown. */
	assert_int_equal(note_open((const uint8_t *)big2, nlen, NULL, 0, &n, why), 0);
	free(big);
	free(big2);
	note_signer_wipe(&ws);
	json_decref(vec);
}

/* Repeated lines are kept and checked once; unknown lines are kept. */
static void
test_repeated_and_unknown(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	const char *cp8 = tu_str(d, "checkpoint8"), *body = tu_str(d, "checkpoint8_body");
	const char *line = cp8 + strlen(body) + 1;
	struct note_verifier v;
	struct note n;
	char buf[2048];

	(void)state;
	verifier_parse_ok(tu_str(json_object_get(d, "log"), "vkey"), &v);
	snprintf(buf, sizeof buf, "%s%s", cp8, line);
	assert_int_equal(note_open((const uint8_t *)buf, strlen(buf), &v, 1, &n, why), 0);
	assert_int_equal(n.n_sigs, 2);
	assert_int_equal(n.n_verified, 1);
	assert_int_equal(n.sigs[0].key, 0);
	assert_int_equal(n.sigs[1].key, -1);

	snprintf(buf, sizeof buf, "%s\n" EMDASH " other.example/key AAAAAAA=\n%s", body, line);
	assert_int_equal(note_open((const uint8_t *)buf, strlen(buf), &v, 1, &n, why), 0);
	assert_int_equal(n.n_sigs, 2);
	assert_int_equal(n.sigs[0].key, -1);
	assert_int_equal(n.sigs[0].name_len, strlen("other.example/key"));
	assert_int_equal(n.sigs[0].id, 0);
	assert_int_equal(n.sigs[1].key, 0);
	json_decref(vec);
}

/* ---- malformed notes ---- */

static const struct {
	const char *note;
	int want; /* with no keys */
} bad_notes[] = {
    {"", CL_EINVAL},
    {"\n", CL_EINVAL},
    {"hello\n", CL_EINVAL},                          /* no blank line */
    {"hello\n\n", CL_EINVAL},                        /* no signature lines */
    {"hello\n\n" EMDASH " k AAAAAAA=", CL_EINVAL},   /* no final newline */
    {"hello\n\n- k AAAAAAA=\n", CL_EINVAL},          /* not an em dash */
    {"hello\n\n" EMDASH "k AAAAAAA=\n", CL_EINVAL},  /* no space after it */
    {"hello\n\n" EMDASH " kAAAAAAA=\n", CL_EINVAL},  /* no space after the name */
    {"hello\n\n" EMDASH "  AAAAAAA=\n", CL_EINVAL},  /* empty name */
    {"hello\n\n" EMDASH " k \n", CL_EINVAL},         /* empty signature */
    {"hello\n\n" EMDASH " k AAAAAA==\n", CL_EINVAL}, /* 4 bytes */
    {"hello\n\n" EMDASH " k AAAAAAB=\n", CL_EINVAL}, /* non-canonical bits */
    {"hello\n\n" EMDASH " k AAAAAAA\n", CL_EINVAL},  /* no padding */
    {"hello\n\n" EMDASH " k AAAA*AA=\n", CL_EINVAL},
    {"hello\n\n" EMDASH " k AAAAAAA= \n", CL_EINVAL},
    {"hello\n\n" EMDASH " k  AAAAAAA=\n", CL_EINVAL},
    {"hello\n\n" EMDASH " a+b AAAAAAA=\n", CL_EINVAL},
    {"hello\n\n" EMDASH " a\xc2\xa0"
     "b AAAAAAA=\n",
        CL_EINVAL},
    {"hello\n\n" EMDASH " a\xe3\x80\x80"
     "b AAAAAAA=\n",
        CL_EINVAL},
    {"hello\n\n" EMDASH " a\x7f"
     "b AAAAAAA=\n",
        CL_EINVAL},
    {"hello\n\n" EMDASH " k AAAAAAA=\n\n", CL_EINVAL}, /* blank line after */
    {"hello\n\n" EMDASH " k AAAAAAA=\nx\n", CL_EINVAL},
    {"hel\tlo\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hel\rlo\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hel\x1flo\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hello\r\n\r\n" EMDASH " k AAAAAAA=\r\n", CL_EINVAL},
    {"hello\n\n" EMDASH " k\tAAAAAAA=\n", CL_EINVAL},
    {"hello\xc0\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},         /* overlong NUL */
    {"hello\xc1\xbf\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},         /* overlong */
    {"hello\xe0\x80\xaf\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},     /* overlong '/' */
    {"hello\xf0\x80\x80\xaf\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL}, /* overlong '/' */
    {"hello\xed\xa0\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},     /* surrogate */
    {"hello\xed\xbf\xbf\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},     /* surrogate */
    {"hello\xf4\x90\x80\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL}, /* U+110000 */
    {"hello\xf5\x80\x80\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hello\xff\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hello\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL}, /* lone continuation */
    {"hello\xc3\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL}, /* cut short */
    {"hello\xe2\x80\n\n" EMDASH " k AAAAAAA=\n", CL_EINVAL},
    {"hello\n\n\xe2\x80 k AAAAAAA=\n", CL_EINVAL},
    {"hello\n\n" EMDASH " k AAAAAAA=\xe2\x80\n", CL_EINVAL},
    /* Accepted without keys: */
    {"hello\n\n" EMDASH " k AAAAAAA=\n", 0},
    {"\n\n" EMDASH " k AAAAAAA=\n", 0},
    {"a\n\nb\n\n" EMDASH " k AAAAAAA=\n", 0}, /* the text has a blank line */
    {"hello\x7f\n\n" EMDASH " k AAAAAAA=\n", 0},
    {"h\xc3\xa9\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\n\n" EMDASH " k AAAAAAA=\n",
        0},
    {"hello\n\n" EMDASH " k AAAAAAA=\n" EMDASH " k AAAAAAA=\n", 0},
    {"hello\n\n" EMDASH " \xc3\xa9.example/x AAAAAAA=\n", 0},
};

static void
test_malformed_notes(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	struct note_verifier v;
	struct note n;

	(void)state;
	verifier_parse_ok(tu_str(json_array_get(json_object_get(vec, "published"), 1), "vkey"), &v);
	for (size_t i = 0; i < sizeof bad_notes / sizeof bad_notes[0]; i++) {
		const uint8_t *m = (const uint8_t *)bad_notes[i].note;
		size_t len = strlen(bad_notes[i].note);
		int rc = note_open(m, len, NULL, 0, &n, why);

		if (rc != bad_notes[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, rc, why, bad_notes[i].want);
		if (rc != 0)
			assert_true(all_zero(&n, sizeof n));
		/* With a key, malformed stays malformed, and the rest has no
		 * signature by it. */
		rc = note_open(m, len, &v, 1, &n, why);
		assert_int_equal(rc, bad_notes[i].want == 0 ? CL_ENOKEY : bad_notes[i].want);
	}
	/* A NUL byte is a control byte too. */
	{
		static const char nul[] = "he\0lo\n\n" EMDASH " k AAAAAAA=\n";

		assert_int_equal(
		    note_open((const uint8_t *)nul, sizeof nul - 1, NULL, 0, &n, why), CL_EINVAL);
	}
	/* Bad arguments. */
	assert_int_equal(note_open(NULL, 0, NULL, 0, &n, why), CL_EINVAL);
	assert_int_equal(note_open((const uint8_t *)"a\n\n", 3, NULL, 1, &n, why), CL_EINVAL);
	json_decref(vec);
}

/* Signature line counts and sizes at and past their caps. */
static void
test_note_limits(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pn = json_array_get(json_object_get(vec, "published"), 1);
	const char *note = tu_str(pn, "note"), *unknown = EMDASH " k AAAAAAA=\n";
	size_t nlen = strlen(note), ulen = strlen(unknown), cap = NOTE_MAX_SIZE + 64, len, olen;
	struct note_verifier v;
	struct note_signer s;
	struct note n;
	uint8_t *buf = malloc(cap), *out = malloc(cap);

	(void)state;
	assert_non_null(buf);
	assert_non_null(out);
	verifier_parse_ok(tu_str(pn, "vkey"), &v);

	/* 99 unknown lines and the real one: 100 lines, fine. */
	memcpy(buf, note, nlen);
	len = nlen;
	for (int i = 0; i < NOTE_SIGS_MAX - 1; i++) {
		memcpy(buf + len, unknown, ulen);
		len += ulen;
	}
	assert_int_equal(note_open(buf, len, &v, 1, &n, why), 0);
	assert_int_equal(n.n_sigs, NOTE_SIGS_MAX);
	assert_int_equal(n.n_verified, 1);
	/* One more is too many. */
	memcpy(buf + len, unknown, ulen);
	len += ulen;
	assert_int_equal(note_open(buf, len, &v, 1, &n, why), CL_ETOOBIG);
	assert_int_equal(note_open(buf, len, NULL, 0, &n, why), CL_ETOOBIG);

	/* A signature of NOTE_SIG_B64_MAX characters parses; one quantum more
	 * does not. */
	memcpy(buf, "x\n\n" EMDASH " k ", 9);
	len = 9;
	memset(buf + len, 'A', NOTE_SIG_B64_MAX);
	len += NOTE_SIG_B64_MAX;
	buf[len++] = '\n';
	assert_int_equal(note_open(buf, len, NULL, 0, &n, why), 0);
	memset(buf + len - 1, 'A', 4);
	len += 4;
	buf[len - 1] = '\n';
	assert_int_equal(note_open(buf, len, NULL, 0, &n, why), CL_ETOOBIG);

	/* A signed note of exactly NOTE_MAX_SIZE bytes opens; a byte more of
	 * text and note_sign refuses, and so would note_open. */
	signer_from_hex_seed(v.name, tu_str(pn, "seed_hex"), &s);
	len = NOTE_MAX_SIZE - 1 - (nlen - strlen(tu_str(pn, "text")) - 1);
	memset(buf, 'a', len);
	for (size_t i = 99; i < len; i += 100)
		buf[i] = '\n';
	buf[len - 1] = '\n';
	assert_int_equal(note_sign(&s, buf, len, out, cap, &olen, why), 0);
	assert_int_equal(olen, NOTE_MAX_SIZE);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
	assert_int_equal(n.text_len, len);
	buf[len - 1] = 'a';
	buf[len] = '\n';
	assert_int_equal(note_sign(&s, buf, len + 1, out, cap, &olen, why), CL_ETOOBIG);
	assert_int_equal(olen, 0);
	memset(out, 'a', NOTE_MAX_SIZE + 1);
	assert_int_equal(note_open(out, NOTE_MAX_SIZE + 1, NULL, 0, &n, why), CL_ETOOBIG);

	note_signer_wipe(&s);
	free(buf);
	free(out);
	json_decref(vec);
}

/* note_sign refuses text that would not make a note. */
static void
test_sign_errors(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pn = json_array_get(json_object_get(vec, "published"), 1);
	struct note_signer s, g1, g2;
	struct note_verifier v;
	struct note n;
	uint8_t out[1024];
	char line[NOTE_SIGLINE_MAX], buf[NOTE_SKEY_MAX];
	size_t olen = 99;
	static const char *const bad[] = {
	    "", "no newline", "tab\there\n", "cr\r\n", "\xc0\x80\n", "\xed\xa0\x80\n"};

	(void)state;
	signer_from_hex_seed("PeterNeumann", tu_str(pn, "seed_hex"), &s);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(note_sign(&s, (const uint8_t *)bad[i], strlen(bad[i]), out,
		                     sizeof out, &olen, why),
		    CL_EINVAL);
		assert_int_equal(olen, 0);
	}
	assert_int_equal(
	    note_sign(&s, (const uint8_t *)"hi\n", 3, out, 50, &olen, why), CL_ETOOBIG);
	assert_int_equal(note_sign(&s, (const uint8_t *)"hi\n", 3, out, sizeof out, &olen, why), 0);
	note_signer_verifier(&s, &v);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
	/* A text that is only "\n" makes a note too. */
	assert_int_equal(note_sign(&s, (const uint8_t *)"\n", 1, out, sizeof out, &olen, why), 0);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
	assert_int_equal(n.text_len, 1);
	/* In place. */
	memcpy(out, "in place\n", 9);
	assert_int_equal(note_sign(&s, out, 9, out, sizeof out, &olen, why), 0);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
	assert_int_equal(note_sign_line(&s, (const uint8_t *)"x\n", 2, line, 20), 0);
	note_signer_wipe(&s);

	/* Fresh keys differ, round-trip, and sign what their verifier checks. */
	assert_int_equal(note_signer_generate("example.com/gen", &g1, why), 0);
	assert_int_equal(note_signer_generate("example.com/gen", &g2, why), 0);
	assert_int_not_equal(sodium_memcmp(g1.sk, g2.sk, sizeof g1.sk), 0);
	assert_true(note_signer_format(&g1, buf, sizeof buf) > 0);
	assert_int_equal(note_signer_parse(buf, strlen(buf), &s, why), 0);
	assert_int_equal(sodium_memcmp(s.sk, g1.sk, sizeof s.sk), 0);
	assert_int_equal(s.id, g1.id);
	sodium_memzero(buf, sizeof buf);
	assert_int_equal(
	    note_sign(&g1, (const uint8_t *)"gen\n", 4, out, sizeof out, &olen, why), 0);
	note_signer_verifier(&s, &v);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
	assert_int_equal(note_signer_generate("bad name", &g2, why), CL_EINVAL);
	assert_true(all_zero(&g2, sizeof g2));
	note_signer_wipe(&s);
	note_signer_wipe(&g1);
	json_decref(vec);
}

/* Base64 is ASCII.  (libsodium 1.0.18's decoder reads every byte from
 * 0x80 up as '/', so these would otherwise be second spellings.) */
static void
test_base64_is_ascii(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pn = json_array_get(json_object_get(vec, "published"), 1);
	struct note_signer s;
	struct note_verifier v;
	struct note n;
	uint8_t out[256];
	char text[64], vk[NOTE_VKEY_MAX], sk[NOTE_SKEY_MAX], *p;
	size_t olen;
	int found = 0;

	(void)state;
	/* A validly signed note whose signature holds "//", re-spelled with
	 * the UTF-8 sequence C2 BF, must not verify. */
	signer_from_hex_seed("example.com/respell", tu_str(pn, "seed_hex"), &s);
	note_signer_verifier(&s, &v);
	for (int i = 0; i < 100000 && !found; i++) {
		snprintf(text, sizeof text, "respell %d\n", i);
		assert_int_equal(note_sign(&s, (const uint8_t *)text, strlen(text), out,
		                     sizeof out - 1, &olen, why),
		    0);
		out[olen] = '\0';
		if ((p = strstr((char *)out + strlen(text), "//")) == NULL)
			continue;
		found = 1;
		assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);
		memcpy(p, "\xc2\xbf", 2);
		assert_int_equal(note_open(out, olen, &v, 1, &n, why), CL_EINVAL);
		assert_int_equal(note_open(out, olen, NULL, 0, &n, why), CL_EINVAL);
	}
	assert_true(found);
	assert_int_equal(note_open((const uint8_t *)"x\n\n" EMDASH " k AAAA\xc2\xbf"
	                                            "A=\n",
	                     17, NULL, 0, &n, why),
	    CL_EINVAL);

	/* A verifier key with its '/' spelled as a high byte. */
	snprintf(vk, sizeof vk, "%s", tu_str(pn, "vkey"));
	assert_non_null(p = strchr(strrchr(vk, '+'), '/'));
	*p = (char)0xbf;
	assert_int_equal(note_verifier_parse(vk, strlen(vk), &v, why), CL_EINVAL);

	/* Likewise a signer key: a seed of 0xff bytes encodes as '/'s. */
	{
		uint8_t seed[32];
		struct note_signer t;

		memset(seed, 0xff, sizeof seed);
		note_signer_wipe(&s);
		assert_int_equal(note_signer_from_seed("k", seed, &s, why), 0);
		assert_true(note_signer_format(&s, sk, sizeof sk) > 0);
		assert_non_null(p = strchr(strrchr(sk, '+'), '/'));
		assert_int_equal(note_signer_parse(sk, strlen(sk), &t, why), 0);
		*p = (char)0x80;
		assert_int_equal(note_signer_parse(sk, strlen(sk), &t, why), CL_EINVAL);
		note_signer_wipe(&t);
	}
	sodium_memzero(sk, sizeof sk);
	note_signer_wipe(&s);
	json_decref(vec);
}

/* ---- key names and malformed key strings ---- */

static void
test_names(void **state)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
	    {"a", 1},
	    {"example.com/log", 1},
	    {"sum.golang.org", 1},
	    {"\xc3\xa9t\xc3\xa9", 1},
	    {"\xf0\x9f\x94\x91", 1},
	    {"", 0},
	    {"a+b", 0},
	    {"+", 0},
	    {"a b", 0},
	    {"a\tb", 0},
	    {"a\nb", 0},
	    {"a\vb", 0},
	    {"a\fb", 0},
	    {"a\rb", 0},
	    {"a\x1f", 0},
	    {"a\x7f", 0},
	    {"a\xc2\x85", 0},     /* U+0085 */
	    {"a\xc2\xa0", 0},     /* U+00A0 */
	    {"a\xe1\x9a\x80", 0}, /* U+1680 */
	    {"a\xe2\x80\x80", 0}, /* U+2000 */
	    {"a\xe2\x80\x85", 0}, /* U+2005 */
	    {"a\xe2\x80\x8a", 0}, /* U+200A */
	    {"a\xe2\x80\xa8", 0}, /* U+2028 */
	    {"a\xe2\x80\xa9", 0}, /* U+2029 */
	    {"a\xe2\x80\xaf", 0}, /* U+202F */
	    {"a\xe2\x81\x9f", 0}, /* U+205F */
	    {"a\xe3\x80\x80", 0}, /* U+3000 */
	    {"a\xc0\xa0", 0},     /* overlong space */
	    {"a\xed\xa0\x80", 0},
	    {"a\xf4\x90\x80\x80", 0},
	    {"a\xff", 0},
	};
	char longname[NOTE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = note_name_check(cases[i].name, strlen(cases[i].name), why);

		if ((rc == 0) != cases[i].ok)
			fail_msg("name case %zu: got %d", i, rc);
		if (rc != 0)
			assert_int_equal(rc, CL_EINVAL);
	}
	/* U+200B ZERO WIDTH SPACE is not White_Space. */
	assert_int_equal(note_name_check("a\xe2\x80\x8b", 4, why), 0);
	assert_int_equal(note_name_check("a\0b", 3, why), CL_EINVAL);
	assert_int_equal(note_name_check(NULL, 0, why), CL_EINVAL);
	memset(longname, 'n', sizeof longname);
	assert_int_equal(note_name_check(longname, NOTE_NAME_MAX, why), 0);
	assert_int_equal(note_name_check(longname, NOTE_NAME_MAX + 1, why), CL_EINVAL);
}

/* "<name>+<id>+base64(raw)" with the given ID. */
static void
vkey_build(char *out, size_t cap, const char *name, uint32_t id, const uint8_t *raw, size_t rlen)
{
	char *b64 = malloc(CL_B64_LEN(rlen) + 1);

	assert_non_null(b64);
	assert_true(cl_b64_encode(raw, rlen, b64, CL_B64_LEN(rlen) + 1) > 0 || rlen == 0);
	if (rlen == 0)
		b64[0] = '\0';
	snprintf(out, cap, "%s+%08" PRIx32 "+%s", name, id, b64);
	free(b64);
}

static void
vkey_bad(const char *s, int want)
{
	struct note_verifier v;
	int rc;

	memset(&v, 0xa5, sizeof v);
	rc = note_verifier_parse(s, strlen(s), &v, why);
	if (rc != want)
		fail_msg("vkey \"%.80s\": got %d (%s), want %d", s, rc, why, want);
	assert_true(all_zero(&v, sizeof v));
}

static void
test_malformed_vkeys(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pn = json_array_get(json_object_get(vec, "published"), 1);
	const char *vk = tu_str(pn, "vkey");
	struct note_verifier v;
	uint8_t raw[1 + 1312];
	char s[4096], name[NOTE_NAME_MAX + 2];
	size_t vlen = strlen(vk);

	(void)state;
	verifier_parse_ok(vk, &v);
	raw[0] = NOTE_TYPE_ED25519;
	memcpy(raw + 1, v.pub, 32);

	/* The ID: wrong, wrong case, wrong length, not hex. */
	vkey_build(s, sizeof s, v.name, v.id ^ 1, raw, 33);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "%s", vk);
	for (char *p = strchr(s, '+') + 1; *p != '+'; p++)
		*p = (char)(*p >= 'a' ? *p - 32 : *p);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "PeterNeumann+c74f20a+%s", strrchr(vk, '+') + 1);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "PeterNeumann+c74f20a30+%s", strrchr(vk, '+') + 1);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "PeterNeumann+c74f20g3+%s", strrchr(vk, '+') + 1);
	vkey_bad(s, CL_EINVAL);
	/* Missing parts. */
	vkey_bad("", CL_EINVAL);
	vkey_bad("PeterNeumann", CL_EINVAL);
	vkey_bad("PeterNeumann+c74f20a3", CL_EINVAL);
	vkey_bad("PeterNeumann+c74f20a3+", CL_EINVAL);
	snprintf(s, sizeof s, "+c74f20a3+%s", strrchr(vk, '+') + 1);
	vkey_bad(s, CL_EINVAL);
	/* Types: 0x02 (ECDSA), 0x00, 0x06 (ML-DSA-44, long). */
	raw[0] = 0x02;
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 0x02, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_ETYPE);
	raw[0] = 0x00;
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 0x00, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_ETYPE);
	raw[0] = 0x06;
	memset(raw + 33, 0x5a, sizeof raw - 33);
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 0x06, raw + 1, 1312), raw, sizeof raw);
	vkey_bad(s, CL_ETYPE);
	raw[0] = NOTE_TYPE_ED25519;
	vkey_build(s, sizeof s, v.name, v.id, raw, 1);
	vkey_bad(s, CL_EINVAL);
	/* Key lengths: 31 and 33 bytes, with IDs that match them. */
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 1, raw + 1, 31), raw, 32);
	vkey_bad(s, CL_EINVAL);
	raw[33] = 7;
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 1, raw + 1, 33), raw, 34);
	vkey_bad(s, CL_EINVAL);
	raw[0] = NOTE_TYPE_COSIG;
	vkey_build(s, sizeof s, v.name, note_key_id(v.name, 4, raw + 1, 33), raw, 34);
	vkey_bad(s, CL_EINVAL);
	raw[0] = NOTE_TYPE_ED25519;
	/* Base64: non-canonical last character, no padding, bad character,
	 * trailing newline or space. */
	snprintf(s, sizeof s, "%s", vk);
	s[vlen - 1] = s[vlen - 1] == 'W' ? 'X' : 'W';
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "%.*s", (int)vlen - 1, vk);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "%s", vk);
	s[vlen - 5] = '*';
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "%s\n", vk);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, "%s ", vk);
	vkey_bad(s, CL_EINVAL);
	snprintf(s, sizeof s, " %s", vk);
	vkey_bad(s, CL_EINVAL);
	/* Names: space, '+', NBSP, too long; each with its own right ID. */
	vkey_build(
	    s, sizeof s, "Peter Neumann", note_key_id("Peter Neumann", 1, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_EINVAL);
	vkey_build(s, sizeof s, "Peter\xc2\xa0Neumann",
	    note_key_id("Peter\xc2\xa0Neumann", 1, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_EINVAL);
	vkey_build(
	    s, sizeof s, "Peter+Neumann", note_key_id("Peter+Neumann", 1, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_EINVAL);
	memset(name, 'n', sizeof name);
	name[NOTE_NAME_MAX + 1] = '\0';
	vkey_build(s, sizeof s, name, note_key_id(name, 1, raw + 1, 32), raw, 33);
	vkey_bad(s, CL_EINVAL);
	/* The longest name fits NOTE_VKEY_MAX both ways. */
	name[NOTE_NAME_MAX] = '\0';
	vkey_build(s, sizeof s, name, note_key_id(name, 1, raw + 1, 32), raw, 33);
	assert_int_equal(strlen(s) + 1, NOTE_VKEY_MAX - 4);
	verifier_parse_ok(s, &v);
	{
		char out[NOTE_VKEY_MAX];

		assert_int_equal(note_verifier_format(&v, out, sizeof out), strlen(s));
		assert_string_equal(out, s);
		assert_int_equal(note_verifier_format(&v, out, strlen(s)), 0);
	}
	/* The split is at the first two '+' only: sum.golang.org's key has
	 * '+' in its base64. */
	verifier_parse_ok(tu_str(json_array_get(json_object_get(vec, "published"), 3), "vkey"), &v);
	json_decref(vec);
}

static void
skey_bad(const char *s)
{
	struct note_signer sg;
	int rc;

	memset(&sg, 0xa5, sizeof sg);
	why[0] = '\0';
	rc = note_signer_parse(s, strlen(s), &sg, why);
	if (rc != CL_EINVAL)
		fail_msg("skey case: got %d (%s)", rc, why);
	assert_true(all_zero(&sg, sizeof sg));
	/* The secret is never echoed. */
	if (strrchr(s, '+') != NULL && strlen(strrchr(s, '+')) > 8)
		assert_null(strstr(why, strrchr(s, '+') + 1));
}

static void
test_malformed_skeys(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *pn = json_array_get(json_object_get(vec, "published"), 1);
	const char *sk = tu_str(pn, "skey");
	uint8_t raw[34], pk[32], skb[64];
	char s[512], b64[64];
	size_t slen = strlen(sk);

	(void)state;
	tu_unhex(tu_str(pn, "seed_hex"), raw + 1, 32);
	crypto_sign_seed_keypair(pk, skb, raw + 1);
	sodium_memzero(skb, sizeof skb);

	snprintf(s, sizeof s, "private+key+%s", sk + 12);
	skey_bad(s);
	snprintf(s, sizeof s, "PRIVATE+KEY+%s", sk);
	skey_bad(s);
	skey_bad(sk + 12);
	skey_bad("PRIVATE+KEY+");
	skey_bad("PRIVATE+KEY+PeterNeumann+c74f20a3+");
	snprintf(s, sizeof s, "%s", sk);
	s[slen - 2] ^= 1; /* another seed: the ID no longer matches */
	skey_bad(s);
	snprintf(s, sizeof s, "%s", sk);
	s[12 + 13] = s[12 + 13] == '0' ? '1' : '0'; /* the ID */
	skey_bad(s);
	snprintf(s, sizeof s, "%s=", sk);
	skey_bad(s);
	snprintf(s, sizeof s, "%s\n", sk);
	skey_bad(s);
	/* Type byte 0x04, then a 31- and a 33-byte seed. */
	raw[0] = 0x04;
	cl_b64_encode(raw, 33, b64, sizeof b64);
	snprintf(s, sizeof s, "PRIVATE+KEY+PeterNeumann+c74f20a3+%s", b64);
	skey_bad(s);
	raw[0] = 0x01;
	cl_b64_encode(raw, 32, b64, sizeof b64);
	snprintf(s, sizeof s, "PRIVATE+KEY+PeterNeumann+c74f20a3+%s", b64);
	skey_bad(s);
	raw[33] = 0;
	cl_b64_encode(raw, 34, b64, sizeof b64);
	snprintf(s, sizeof s, "PRIVATE+KEY+PeterNeumann+c74f20a3+%s", b64);
	skey_bad(s);
	/* A good one built the same way, to show the cases above are near. */
	cl_b64_encode(raw, 33, b64, sizeof b64);
	snprintf(s, sizeof s, "PRIVATE+KEY+PeterNeumann+%08" PRIx32 "+%s",
	    note_key_id("PeterNeumann", 1, pk, 32), b64);
	assert_string_equal(s, sk);
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(b64, sizeof b64);
	sodium_memzero(s, sizeof s);
	json_decref(vec);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_published_keys),
	    cmocka_unit_test(test_derived_keys),
	    cmocka_unit_test(test_published_notes),
	    cmocka_unit_test(test_wrong_keys),
	    cmocka_unit_test(test_cosignature),
	    cmocka_unit_test(test_cosignature_edges),
	    cmocka_unit_test(test_repeated_and_unknown),
	    cmocka_unit_test(test_malformed_notes),
	    cmocka_unit_test(test_note_limits),
	    cmocka_unit_test(test_sign_errors),
	    cmocka_unit_test(test_base64_is_ascii),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_malformed_vkeys),
	    cmocka_unit_test(test_malformed_skeys),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
