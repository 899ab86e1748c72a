/*
 * wire_test.c: DSSE vectors, attestation and envelope round trips, strict
 * canonical decoding, field validation, envelope tampering, and the API
 * messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "note.h"
#include "testutil.h"
#include "wire.h"

static uint8_t arena_buf[WIRE_ARENA_MIN];
static struct wire_arena arena;

static const char *const good_root = "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source";
static const char *const good_succ[] = {
    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt",
    "/nix/store/d8gvjwks7vzhji6bjm5kkim3fc3bqc9h-source",
};
static const char *const good_subs[] = {"https://cache.nixos.org"};
static const char *const good_keys[] = {
    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="};
static const uint8_t lock_digest[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t sbom_digest[64] = {9, 9, 9};

static struct cl_extra_digest good_extra[] = {
    {"sbom", {"sha512", sbom_digest, 64}},
    {"cargo-lock", {"sha256", lock_digest, 32}},
};

static void
good_attestation(struct cl_attestation *att)
{
	memset(att, 0, sizeof *att);
	att->root = good_root;
	att->nar_hash = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";
	att->flake_lock = (struct cl_digest){"sha256", lock_digest, 32};
	att->successors = good_succ;
	att->n_successors = 2;
	att->system = "x86_64-linux";
	att->sandbox = CL_SANDBOX_ON;
	att->substituters = good_subs;
	att->n_substituters = 1;
	att->trusted_keys = good_keys;
	att->n_trusted_keys = 1;
	att->builder_id = "github-actions runner 7";
	att->run_url = "https://ci.example.com/runs/42";
	att->build_time = 1763800000;
	att->extra = good_extra;
	att->n_extra = 2;
}

static int
setup(void **state)
{
	(void)state;
	wire_arena_init(&arena, arena_buf, sizeof arena_buf);
	return 0;
}

/* ---- DSSE vectors ---- */

static void
test_dsse_vectors(void **state)
{
	json_t *v = tu_vectors("attestation-vectors.json");
	json_t *d = json_object_get(v, "dsse");
	json_t *pub = json_object_get(d, "published"),
	       *der = json_object_get(d, "derived_in_toto_ed25519");
	const char *type = tu_str(pub, "payloadType"), *payload = tu_str(pub, "payload_ascii");
	uint8_t out[4096], seed[32], sig[64], want_sig[64], h[32], want_h[32];
	struct note_signer s;
	size_t n, len;

	(void)state;
	n = dsse_pae(
	    type, strlen(type), (const uint8_t *)payload, strlen(payload), out, sizeof out);
	assert_int_equal(n, strlen(tu_str(pub, "pae_ascii")));
	assert_memory_equal(out, tu_str(pub, "pae_ascii"), n);
	assert_int_equal(n, dsse_pae_len(strlen(type), strlen(payload)));
	uint8_t *want = tu_unhex_alloc(tu_str(pub, "pae_hex"), &len);
	assert_int_equal(len, n);
	assert_memory_equal(out, want, n);
	free(want);
	/* Too small a buffer writes nothing. */
	assert_int_equal(
	    dsse_pae(type, strlen(type), (const uint8_t *)payload, strlen(payload), out, n - 1), 0);

	/* The Ed25519 in-toto example: PAE length and hash, and the signature
	 * reproduced bit for bit from the seed. */
	type = tu_str(der, "payloadType");
	payload = tu_str(der, "statement_json");
	n = dsse_pae(
	    type, strlen(type), (const uint8_t *)payload, strlen(payload), out, sizeof out);
	assert_int_equal(n, tu_u64(der, "pae_length"));
	crypto_hash_sha256(h, out, n);
	tu_unhex(tu_str(der, "pae_sha256_hex"), want_h, 32);
	assert_memory_equal(h, want_h, 32);
	tu_unhex(tu_str(der, "seed_hex"), seed, 32);
	assert_int_equal(note_signer_from_seed("in-toto-test", seed, &s, NULL), 0);
	assert_int_equal(crypto_sign_detached(sig, NULL, out, n, s.sk), 0);
	assert_int_equal(cl_b64_decode(tu_str(der, "sig_b64"), strlen(tu_str(der, "sig_b64")),
	                     want_sig, sizeof want_sig, &len),
	    0);
	assert_int_equal(len, 64);
	assert_memory_equal(sig, want_sig, 64);
	uint8_t pk[32];
	tu_unhex(tu_str(der, "pubkey_hex"), pk, 32);
	assert_memory_equal(s.sk + 32, pk, 32);
	note_signer_wipe(&s);
	json_decref(v);
}

/* The PAE's decimal lengths, against printf's, at every digit count. */
static void
test_dsse_pae_lengths(void **state)
{
	static const size_t lens[] = {0, 1, 9, 10, 11, 99, 100, 999, 1000, 4096, 9999, 10000, 65535,
	    99999, 100000, 999999, 1000000};
	static uint8_t payload[1000001], out[1000100];
	static char want[1000100];
	const char *type = CL_PAYLOAD_TYPE;

	(void)state;
	memset(payload, 'p', sizeof payload);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		for (size_t tl = 0; tl <= strlen(type); tl += strlen(type)) {
			size_t n = dsse_pae(type, tl, payload, lens[i], out, sizeof out);
			int h = snprintf(
			    want, sizeof want, "DSSEv1 %zu %.*s %zu ", tl, (int)tl, type, lens[i]);

			assert_int_equal(n, (size_t)h + lens[i]);
			assert_int_equal(n, dsse_pae_len(tl, lens[i]));
			assert_memory_equal(out, want, (size_t)h);
			assert_memory_equal(out + h, payload, lens[i]);
			assert_int_equal(dsse_pae(type, tl, payload, lens[i], out, n - 1), 0);
		}
	}
}

/* ---- Attestations ---- */

static void
assert_att_equal(const struct cl_attestation *a, const struct cl_attestation *b)
{
	assert_string_equal(a->root, b->root);
	assert_string_equal(a->nar_hash, b->nar_hash);
	assert_string_equal(a->flake_lock.algorithm, b->flake_lock.algorithm);
	assert_int_equal(a->flake_lock.len, b->flake_lock.len);
	assert_memory_equal(a->flake_lock.value, b->flake_lock.value, a->flake_lock.len);
	assert_int_equal(a->n_successors, b->n_successors);
	for (size_t i = 0; i < a->n_successors; i++)
		assert_string_equal(a->successors[i], b->successors[i]);
	assert_string_equal(a->system, b->system);
	assert_int_equal(a->sandbox, b->sandbox);
	assert_int_equal(a->n_substituters, b->n_substituters);
	for (size_t i = 0; i < a->n_substituters; i++)
		assert_string_equal(a->substituters[i], b->substituters[i]);
	assert_int_equal(a->n_trusted_keys, b->n_trusted_keys);
	for (size_t i = 0; i < a->n_trusted_keys; i++)
		assert_string_equal(a->trusted_keys[i], b->trusted_keys[i]);
	assert_string_equal(a->builder_id, b->builder_id);
	assert_string_equal(a->run_url, b->run_url);
	assert_int_equal(a->build_time, b->build_time);
	assert_int_equal(a->n_extra, b->n_extra);
	for (size_t i = 0; i < a->n_extra; i++) {
		assert_string_equal(a->extra[i].name, b->extra[i].name);
		assert_string_equal(a->extra[i].digest.algorithm, b->extra[i].digest.algorithm);
		assert_int_equal(a->extra[i].digest.len, b->extra[i].digest.len);
		assert_memory_equal(
		    a->extra[i].digest.value, b->extra[i].digest.value, a->extra[i].digest.len);
	}
}

static void
test_attestation_roundtrip(void **state)
{
	struct cl_attestation att, back, min;
	const uint8_t *buf, *buf2;
	size_t len, len2;
	char why[CL_WHY_MAX];

	(void)state;
	good_attestation(&att);
	assert_int_equal(wire_attestation_encode(&arena, &att, &buf, &len, why), 0);
	assert_int_equal(wire_attestation_decode(&arena, buf, len, &back, why), 0);
	assert_att_equal(&att, &back);
	/* The decoder hands out the digest nar_hash spells. */
	{
		static const uint8_t want[32] = {0xb6, 0xc4, 0x01, 0xcd, 0xe9, 0xa4, 0x68, 0x3e,
		    0x8f, 0xf5, 0x3a, 0x84, 0xc0, 0x59, 0x92, 0xea, 0x61, 0x5c, 0x0b, 0x05, 0x11,
		    0x94, 0x27, 0xa8, 0x76, 0x70, 0x7b, 0x5a, 0xb4, 0xfa, 0x5a, 0x65};

		assert_memory_equal(back.nar_digest, want, 32);
	}
	/* Encoding is deterministic and decoding reproduces the bytes. */
	assert_int_equal(wire_attestation_encode(&arena, &back, &buf2, &len2, why), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);

	/* The smallest attestation: root, narHash and flake.lock digest. */
	memset(&min, 0, sizeof min);
	min.root = good_root;
	min.nar_hash = att.nar_hash;
	min.flake_lock = att.flake_lock;
	min.system = min.builder_id = min.run_url = "";
	assert_int_equal(wire_attestation_encode(&arena, &min, &buf, &len, why), 0);
	assert_int_equal(wire_attestation_decode(&arena, buf, len, &back, why), 0);
	assert_att_equal(&min, &back);
}

/* ---- Hand-built protobuf, to show decoders refuse other spellings ---- */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void
pb_varint(struct pb *p, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		p->b[p->n++] = c | (v ? 0x80 : 0);
	} while (v);
}

static void
pb_bytes(struct pb *p, unsigned field, const void *data, size_t len)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, len);
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

static void
pb_str(struct pb *p, unsigned field, const char *s)
{
	pb_bytes(p, field, s, strlen(s));
}

static void
pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

/* Digest{algorithm="sha256", value=lock_digest} */
static void
pb_digest(struct pb *out)
{
	out->n = 0;
	pb_str(out, 1, "sha256");
	pb_bytes(out, 2, lock_digest, 32);
}

static int
decode_att(const struct pb *p, char *why)
{
	struct cl_attestation att;

	wire_arena_reset(&arena);
	return wire_attestation_decode(&arena, p->b, p->n, &att, why);
}

static void
test_attestation_canonical(void **state)
{
	struct pb d, p;
	char why[CL_WHY_MAX];
	const char *nar = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";

	(void)state;
	pb_digest(&d);

	/* The canonical minimal message decodes. */
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	assert_int_equal(decode_att(&p, why), 0);

	/* Fields out of order. */
	p.n = 0;
	pb_str(&p, 2, nar);
	pb_str(&p, 1, good_root);
	pb_bytes(&p, 3, d.b, d.n);
	assert_int_equal(decode_att(&p, why), CL_ENONCANON);

	/* A non-repeated field twice (the last would win). */
	p.n = 0;
	pb_str(&p, 1, "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt");
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	assert_int_equal(decode_att(&p, why), CL_ENONCANON);

	/* An unknown field, at the top and nested. */
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	pb_uint(&p, 99, 1);
	assert_int_equal(decode_att(&p, why), CL_EINVAL);
	assert_non_null(strstr(why, "unknown field number 99"));
	struct pb d2 = d;
	pb_uint(&d2, 15, 7);
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d2.b, d2.n);
	assert_int_equal(decode_att(&p, why), CL_EINVAL);
	assert_non_null(strstr(why, "unknown field number 15"));

	/* A default value written out explicitly (build.build_time = 0). */
	struct pb b = {.n = 0};
	pb_str(&b, 1, "x86_64-linux");
	pb_uint(&b, 7, 0);
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	pb_bytes(&p, 5, b.b, b.n);
	assert_int_equal(decode_att(&p, why), CL_ENONCANON);

	/* An empty BuildMetadata: a second spelling of none. */
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	pb_bytes(&p, 5, "", 0);
	assert_int_equal(decode_att(&p, why), CL_ENONCANON);
	assert_non_null(strstr(why, "build: empty message must be left out"));
	/* Any one field makes it not empty. */
	for (unsigned field = 1; field <= 7; field++) {
		struct pb b1 = {{0}, 0};

		if (field == 2 || field == 7)
			pb_uint(&b1, field, 1);
		else if (field == 3 || field == 6)
			pb_str(&b1, field, "https://cache.example");
		else if (field == 4)
			pb_str(&b1, field, good_keys[0]);
		else
			pb_str(&b1, field, field == 1 ? "x86_64-linux" : "builder");
		p.n = 0;
		pb_str(&p, 1, good_root);
		pb_str(&p, 2, nar);
		pb_bytes(&p, 3, d.b, d.n);
		pb_bytes(&p, 5, b1.b, b1.n);
		assert_int_equal(decode_att(&p, why), 0);
	}

	/* A length written as a non-minimal varint. */
	p.n = 0;
	pb_varint(&p, 1 << 3 | 2);
	p.b[p.n++] = 0x80 | (uint8_t)strlen(good_root);
	p.b[p.n++] = 0x00;
	memcpy(p.b + p.n, good_root, strlen(good_root));
	p.n += strlen(good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	assert_int_equal(decode_att(&p, why), CL_ENONCANON);

	/* A NUL inside a string cannot survive re-encoding. */
	char withnul[128];
	size_t rl = strlen(good_root);
	memcpy(withnul, good_root, rl);
	withnul[rl] = '\0';
	withnul[rl + 1] = 'x';
	p.n = 0;
	pb_bytes(&p, 1, withnul, rl + 2);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	assert_int_not_equal(decode_att(&p, why), 0);

	/* Truncated and empty input. */
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	for (size_t cut = 0; cut < p.n; cut++) {
		struct pb t = p;

		t.n = cut;
		assert_int_not_equal(decode_att(&t, why), 0);
	}

	/* Sandbox out of the enum's range. */
	b.n = 0;
	pb_uint(&b, 2, 3);
	p.n = 0;
	pb_str(&p, 1, good_root);
	pb_str(&p, 2, nar);
	pb_bytes(&p, 3, d.b, d.n);
	pb_bytes(&p, 5, b.b, b.n);
	assert_int_equal(decode_att(&p, why), CL_EINVAL);
	assert_non_null(strstr(why, "build.sandbox"));
}

static const char *long_str(size_t n, char c);

static void
test_attestation_fields(void **state)
{
	static const char *const dup_succ[] = {
	    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt",
	    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt"};
	static const char *const root_succ[] = {
	    "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source"};
	static const char *const bad_succ[] = {"/nix/store/short-x"};
	static const char *const bad_subs[] = {"cache.nixos.org"};
	static const char *const bad_keys[] = {"cache.nixos.org-1:AAAA"};
	static const char *const nocolon_keys[] = {"6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="};
	static const char *many[CL_SUCCESSORS_MAX + 1];
	static char many_buf[CL_SUCCESSORS_MAX + 1][80];
	struct cl_extra_digest bad_extra[] = {{"SBOM", {"sha256", lock_digest, 32}}};
	struct cl_extra_digest dup_extra[] = {
	    {"sbom", {"sha256", lock_digest, 32}}, {"sbom", {"sha256", lock_digest, 32}}};
	struct cl_attestation att;
	const uint8_t *buf;
	size_t len;
	char why[CL_WHY_MAX];
	int rc;

#define EXPECT_BAD(mutate, field)                                                                  \
	do {                                                                                       \
		good_attestation(&att);                                                            \
		mutate;                                                                            \
		wire_arena_reset(&arena);                                                          \
		why[0] = '\0';                                                                     \
		rc = wire_attestation_encode(&arena, &att, &buf, &len, why);                       \
		if (rc == 0)                                                                       \
			fail_msg("accepted attestation with bad %s", field);                       \
		if (strstr(why, field) == NULL)                                                    \
			fail_msg("reason \"%s\" does not name %s", why, field);                    \
	} while (0)

	(void)state;
	EXPECT_BAD(att.root = "", "root");
	EXPECT_BAD(att.root = "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiime-source", "root");
	EXPECT_BAD(att.root = "/usr/bin/env", "root");
	EXPECT_BAD(att.nar_hash = "", "nar_hash");
	EXPECT_BAD(att.nar_hash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
	    "nar_hash");
	EXPECT_BAD(att.nar_hash = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU", "nar_hash");
	EXPECT_BAD(
	    att.nar_hash = "sha512-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=", "nar_hash");
	EXPECT_BAD(att.flake_lock = (struct cl_digest){0}, "flake_lock_digest");
	EXPECT_BAD(att.flake_lock.algorithm = "md5", "flake_lock_digest");
	EXPECT_BAD(att.flake_lock.len = 31, "flake_lock_digest");
	EXPECT_BAD(att.flake_lock.algorithm = "", "flake_lock_digest");
	EXPECT_BAD((att.successors = dup_succ, att.n_successors = 2), "successors[1]");
	EXPECT_BAD((att.successors = root_succ, att.n_successors = 1), "successors[0]");
	EXPECT_BAD((att.successors = bad_succ, att.n_successors = 1), "successors[0]");
	for (size_t i = 0; i <= CL_SUCCESSORS_MAX; i++) {
		snprintf(many_buf[i], sizeof many_buf[i],
		    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-p%zu", i);
		many[i] = many_buf[i];
	}
	EXPECT_BAD((att.successors = many, att.n_successors = CL_SUCCESSORS_MAX + 1), "successors");
	EXPECT_BAD(att.system = "x86_64", "build.system");
	EXPECT_BAD(att.system = "X86_64-linux", "build.system");
	EXPECT_BAD(att.system = "x86_64-linux-gnu", "build.system");
	EXPECT_BAD(att.system = "-linux", "build.system");
	EXPECT_BAD(att.sandbox = 3, "build.sandbox");
	EXPECT_BAD(att.substituters = bad_subs, "build.substituters[0]");
	EXPECT_BAD(att.trusted_keys = bad_keys, "build.trusted_public_keys[0]");
	EXPECT_BAD(att.trusted_keys = nocolon_keys, "build.trusted_public_keys[0]");
	EXPECT_BAD(att.builder_id = "tab\there", "build.builder_id");
	EXPECT_BAD(att.builder_id = long_str(CL_TEXT_MAX + 1, 'b'), "build.builder_id");
	EXPECT_BAD(att.run_url = "ftp://ci.example.com/1", "build.run_url");
	EXPECT_BAD(att.run_url = "https://", "build.run_url");
	EXPECT_BAD(att.run_url = "https://ci.example.com/a b", "build.run_url");
	EXPECT_BAD(att.run_url = long_str(CL_URL_MAX + 1, 'u'), "build.run_url");
	EXPECT_BAD((att.extra = bad_extra, att.n_extra = 1), "extra_digests.name");
	EXPECT_BAD((att.extra = dup_extra, att.n_extra = 2), "extra_digests[1]");
	EXPECT_BAD(att.n_extra = CL_EXTRA_MAX + 1, "extra_digests");
#undef EXPECT_BAD
}

static const char *
long_str(size_t n, char c)
{
	static char buf[4096];

	memset(buf, c, n);
	buf[n] = '\0';
	if (c == 'u')
		memcpy(buf, "https://", 8);
	return buf;
}

/* ---- Envelopes and DSSE ---- */

static void
make_keys(struct note_signer *ci, struct note_verifier *ci_pub, struct note_signer *other,
    struct note_verifier *other_pub)
{
	uint8_t seed[32];

	memset(seed, 0x11, sizeof seed);
	assert_int_equal(note_signer_from_seed("ci.example.com", seed, ci, NULL), 0);
	note_signer_verifier(ci, ci_pub);
	memset(seed, 0x22, sizeof seed);
	assert_int_equal(note_signer_from_seed("other.example.com", seed, other, NULL), 0);
	note_signer_verifier(other, other_pub);
}

/* The whole submit-side check: decode, verify against keys, decode the
 * verified payload.  Returns the first failure. */
static int
full_check(const uint8_t *buf, size_t len, const struct note_verifier *keys, size_t n, char *why)
{
	struct cl_envelope env;
	struct cl_attestation att;
	int rc;

	wire_arena_reset(&arena);
	if ((rc = wire_envelope_decode(&arena, buf, len, &env, why)) != 0)
		return rc;
	if ((rc = dsse_verify(&arena, &env, keys, n, NULL, why)) != 0)
		return rc;
	return wire_attestation_decode(&arena, env.payload, env.payload_len, &att, why);
}

static void
test_envelope(void **state)
{
	struct note_signer ci, other;
	struct note_verifier keys[2], twin;
	struct cl_attestation att;
	struct cl_envelope env;
	const uint8_t *payload, *e;
	size_t plen, elen, who = 99;
	char why[CL_WHY_MAX], keyid[9];
	uint8_t *copy;

	(void)state;
	make_keys(&ci, &keys[0], &other, &keys[1]);
	good_attestation(&att);
	assert_int_equal(wire_attestation_encode(&arena, &att, &payload, &plen, why), 0);
	assert_int_equal(dsse_sign(&arena, &ci, payload, plen, &e, &elen, why), 0);
	copy = malloc(elen);
	assert_non_null(copy);
	memcpy(copy, e, elen);

	assert_int_equal(full_check(copy, elen, keys, 2, why), 0);
	wire_arena_reset(&arena);
	assert_int_equal(wire_envelope_decode(&arena, copy, elen, &env, why), 0);
	snprintf(keyid, sizeof keyid, "%08x", (unsigned)ci.id);
	assert_string_equal(env.sigs[0].keyid, keyid);
	assert_string_equal(env.payload_type, CL_PAYLOAD_TYPE);
	assert_int_equal(dsse_verify(&arena, &env, keys, 2, &who, why), 0);
	assert_int_equal(who, 0);
	assert_int_equal(dsse_verify(&arena, &env, &keys[1], 1, &who, why), CL_ENOKEY);
	assert_non_null(strstr(why, keyid));
	assert_non_null(strstr(why, "not an accepted submitter"));
	assert_int_equal(dsse_verify(&arena, &env, keys, 0, &who, why), CL_ENOKEY);

	/* A key that claims the same ID but is another key: the signature
	 * must not verify under it, and a twin beside the real key is fine. */
	twin = keys[1];
	twin.id = keys[0].id;
	assert_int_equal(dsse_verify(&arena, &env, &twin, 1, &who, why), CL_EBADSIG);
	struct note_verifier pair[2] = {twin, keys[0]};
	assert_int_equal(dsse_verify(&arena, &env, pair, 2, &who, why), 0);
	assert_int_equal(who, 1);

	/* Every single-byte change to the envelope fails the whole check. */
	for (size_t i = 0; i < elen; i++) {
		static const uint8_t flips[] = {0x01, 0x80, 0xff};

		for (size_t f = 0; f < sizeof flips; f++) {
			copy[i] ^= flips[f];
			if (full_check(copy, elen, keys, 2, why) == 0)
				fail_msg(
				    "envelope with byte %zu ^ 0x%02x still verifies", i, flips[f]);
			copy[i] ^= flips[f];
		}
	}
	for (size_t cut = 0; cut < elen; cut++)
		assert_int_not_equal(full_check(copy, cut, keys, 2, why), 0);
	assert_int_equal(full_check(copy, elen, keys, 2, why), 0);
	free(copy);
	note_signer_wipe(&ci);
	note_signer_wipe(&other);
}

static void
test_envelope_rules(void **state)
{
	struct note_signer ci, other;
	struct note_verifier keys[2];
	struct cl_envelope env, back;
	const uint8_t *e;
	uint8_t sig[64] = {0}, *big;
	size_t elen;
	char why[CL_WHY_MAX];

	(void)state;
	make_keys(&ci, &keys[0], &other, &keys[1]);
	memset(&env, 0, sizeof env);
	env.payload = (const uint8_t *)"x";
	env.payload_len = 1;
	env.payload_type = "application/vnd.in-toto+json";
	env.sigs[0] = (struct cl_signature){"0011aabb", sig, 64};
	env.n_sigs = 1;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), CL_ETYPE);
	assert_non_null(strstr(why, "payload_type"));

	env.payload_type = CL_PAYLOAD_TYPE;
	env.sigs[0].keyid = "0011AABB";
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), CL_EINVAL);
	assert_non_null(strstr(why, "keyid"));
	env.sigs[0].keyid = "";
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), CL_EINVAL);

	env.sigs[0].keyid = "0011aabb";
	env.sigs[0].sig_len = 63;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), CL_EINVAL);
	assert_non_null(strstr(why, "signatures[0].sig"));
	env.sigs[0].sig_len = 64;

	/* Empty repeated elements decode to far more than their wire size:
	 * thousands of them are refused as too big, not as out of memory. */
	{
		uint8_t *pad = malloc(CL_ENTRY_MAX - 1);

		assert_non_null(pad);
		for (size_t i = 0; i + 1 < CL_ENTRY_MAX - 1; i += 2) {
			pad[i] = 0x1a; /* field 3 (signatures), length-delimited */
			pad[i + 1] = 0x00;
		}
		assert_int_equal(
		    wire_envelope_decode(&arena, pad, CL_ENTRY_MAX - 1, &back, why), CL_ETOOBIG);
		assert_non_null(strstr(why, "too many repeated elements"));
		free(pad);
	}

	/* One signature per key ID. */
	env.sigs[1] = env.sigs[0];
	env.n_sigs = 2;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), CL_EINVAL);
	assert_non_null(strstr(why, "signatures[1].keyid: 0011aabb is repeated"));

	{
		static const char *const ids[CL_SIGS_MAX] = {
		    "0011aabb", "0011aabc", "ffffffff", "00000000"};

		for (size_t i = 0; i < CL_SIGS_MAX; i++)
			env.sigs[i] = (struct cl_signature){ids[i], sig, 64};
	}
	env.n_sigs = CL_SIGS_MAX;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &back, why), 0);
	assert_int_equal(back.n_sigs, CL_SIGS_MAX);
	env.n_sigs = CL_SIGS_MAX + 1;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), CL_EINVAL);
	env.n_sigs = 0;
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), CL_EINVAL);

	/* A leaf must fit an entry bundle: over CL_ENTRY_MAX is refused on both sides. */
	big = calloc(1, CL_ENTRY_MAX + 1);
	assert_non_null(big);
	env.n_sigs = 1;
	env.payload = big;
	env.payload_len = CL_ENTRY_MAX;
	wire_arena_reset(&arena);
	assert_int_equal(wire_envelope_encode(&arena, &env, &e, &elen, why), CL_ETOOBIG);
	assert_int_equal(
	    wire_envelope_decode(&arena, big, CL_ENTRY_MAX + 1, &back, why), CL_ETOOBIG);
	assert_int_equal(dsse_sign(&arena, &ci, big, CL_ENTRY_MAX + 1, &e, &elen, why), CL_ETOOBIG);
	free(big);

	/* Two signatures: one accepted key verifies, the unknown one is ignored;
	 * a known key with a bad signature fails the envelope. */
	{
		struct cl_attestation att;
		const uint8_t *payload, *e1;
		size_t plen, e1len;
		struct cl_envelope one, two;
		uint8_t badsig[64];
		char other_id[9];

		good_attestation(&att);
		wire_arena_reset(&arena);
		assert_int_equal(wire_attestation_encode(&arena, &att, &payload, &plen, why), 0);
		assert_int_equal(dsse_sign(&arena, &ci, payload, plen, &e1, &e1len, why), 0);
		assert_int_equal(wire_envelope_decode(&arena, e1, e1len, &one, why), 0);
		two = one;
		memset(badsig, 0x5a, sizeof badsig);
		snprintf(other_id, sizeof other_id, "%08x", (unsigned)other.id);
		two.sigs[1] = (struct cl_signature){other_id, badsig, 64};
		two.n_sigs = 2;
		assert_int_equal(dsse_verify(&arena, &two, keys, 1, NULL, why), 0);
		assert_int_equal(dsse_verify(&arena, &two, keys, 2, NULL, why), CL_EBADSIG);
		assert_non_null(strstr(why, other_id));
	}

	/* A tiny arena reports exhaustion rather than failing oddly. */
	{
		uint8_t small[64];
		struct wire_arena tiny;
		struct cl_attestation att;
		const uint8_t *out;
		size_t olen;

		wire_arena_init(&tiny, small, sizeof small);
		good_attestation(&att);
		assert_int_equal(wire_attestation_encode(&tiny, &att, &out, &olen, why), CL_ENOMEM);
	}
	note_signer_wipe(&ci);
	note_signer_wipe(&other);
}

/* The log's admission rule: every signature by an accepted key, each
 * verifying, in strictly ascending keyid order (so no key twice). */
static void
test_envelope_signer_set(void **state)
{
	struct note_signer ci, other;
	struct note_verifier keys[2];
	struct cl_attestation att;
	struct cl_envelope one, oth, env;
	const uint8_t *payload, *e;
	size_t plen, elen, who = 99;
	char why[CL_WHY_MAX];
	uint8_t badsig[64], rnd[64];
	struct cl_signature lo, hi;
	size_t lo_key, hi_key;

	(void)state;
	make_keys(&ci, &keys[0], &other, &keys[1]);
	good_attestation(&att);
	assert_int_equal(wire_attestation_encode(&arena, &att, &payload, &plen, why), 0);
	assert_int_equal(dsse_sign(&arena, &ci, payload, plen, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &one, why), 0);
	assert_int_equal(dsse_sign(&arena, &other, payload, plen, &e, &elen, why), 0);
	assert_int_equal(wire_envelope_decode(&arena, e, elen, &oth, why), 0);
	/* lo and hi: the two signatures, in keyid order. */
	if (strcmp(one.sigs[0].keyid, oth.sigs[0].keyid) < 0) {
		lo = one.sigs[0], hi = oth.sigs[0], lo_key = 0, hi_key = 1;
	} else {
		lo = oth.sigs[0], hi = one.sigs[0], lo_key = 1, hi_key = 0;
	}

	/* One signature, by an accepted key. */
	assert_int_equal(dsse_verify_all(&arena, &one, keys, 2, &who, why), 0);
	assert_int_equal(who, 0);
	/* Both, in order: the first signature's key is the submitter. */
	env = one;
	env.sigs[0] = lo;
	env.sigs[1] = hi;
	env.n_sigs = 2;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), 0);
	assert_int_equal(who, lo_key);
	/* Reversed: refused before any signature is checked. */
	env.sigs[0] = hi;
	env.sigs[1] = lo;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_ENONCANON);
	assert_non_null(strstr(why, "signatures[1]"));
	assert_non_null(strstr(why, "ascending"));
	/* The same key twice (the decoder refuses it too; this holds without it). */
	env.sigs[0] = lo;
	env.sigs[1] = lo;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_ENONCANON);
	assert_non_null(strstr(why, "signatures[1]"));
	assert_non_null(strstr(why, "twice"));
	/* A second signature by a key that is not accepted: dsse_verify would
	 * ignore it, the log refuses it. */
	env.sigs[0] = lo;
	env.sigs[1] = hi;
	assert_int_equal(dsse_verify(&arena, &env, &keys[lo_key], 1, NULL, why), 0);
	assert_int_equal(dsse_verify_all(&arena, &env, &keys[lo_key], 1, &who, why), CL_ENOKEY);
	assert_non_null(strstr(why, "signatures[1]"));
	assert_non_null(strstr(why, hi.keyid));
	assert_non_null(strstr(why, "not an accepted submitter"));
	/* ... and the first one too, when it is the stranger. */
	assert_int_equal(dsse_verify_all(&arena, &env, &keys[hi_key], 1, &who, why), CL_ENOKEY);
	assert_non_null(strstr(why, "signatures[0]"));
	/* An accepted key whose signature fails. */
	memset(badsig, 0x5a, sizeof badsig);
	env.sigs[1].sig = badsig;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_EBADSIG);
	assert_non_null(strstr(why, "signatures[1]"));
	assert_non_null(strstr(why, "does not verify"));
	/* The attack: 64 random bytes as key "deadbeef" beside a good
	 * signature, on either side of it. */
	randombytes_buf(rnd, sizeof rnd);
	env = one;
	env.n_sigs = 2;
	if (strcmp(one.sigs[0].keyid, "deadbeef") < 0)
		env.sigs[1] = (struct cl_signature){"deadbeef", rnd, 64};
	else {
		env.sigs[0] = (struct cl_signature){"deadbeef", rnd, 64};
		env.sigs[1] = one.sigs[0];
	}
	assert_int_equal(dsse_verify(&arena, &env, keys, 2, NULL, why), 0);
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_ENOKEY);
	assert_non_null(strstr(why, "deadbeef"));
	/* No signatures, too many. */
	env.n_sigs = 0;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_EINVAL);
	env.n_sigs = CL_SIGS_MAX + 1;
	assert_int_equal(dsse_verify_all(&arena, &env, keys, 2, &who, why), CL_EINVAL);
	note_signer_wipe(&ci);
	note_signer_wipe(&other);
}

/* ---- API messages ---- */

static void
test_api_messages(void **state)
{
	struct cl_proof p, q;
	struct cl_submit_response r, r2;
	struct cl_entry en, en2;
	struct cl_search_result sr, sr2;
	struct cl_bundle b, b2;
	const uint8_t *out;
	size_t len;
	char why[CL_WHY_MAX];
	static const uint64_t idx[] = {0, 3, 9, 1000000};
	static const uint64_t unsorted[] = {3, 3};

	(void)state;
	memset(&p, 0, sizeof p);
	p.a = 5;
	p.b = 8;
	p.n = 3;
	for (size_t i = 0; i < 3; i++)
		memset(p.hashes[i], (int)i + 1, 32);
	assert_int_equal(wire_inclusion_encode(&arena, &p, &out, &len), 0);
	assert_int_equal(wire_inclusion_decode(&arena, out, len, &q, why), 0);
	assert_memory_equal(&p, &q, sizeof p);
	assert_int_equal(wire_consistency_encode(&arena, &p, &out, &len), 0);
	assert_int_equal(wire_consistency_decode(&arena, out, len, &q, why), 0);
	assert_memory_equal(&p, &q, sizeof p);
	/* An inclusion proof is not a consistency proof's bytes' twin: same
	 * layout, but each decodes only as what it is labelled by the caller. */
	{
		struct pb raw = {.n = 0};
		uint8_t h31[31] = {0};

		pb_uint(&raw, 1, 5);
		pb_uint(&raw, 2, 8);
		pb_bytes(&raw, 3, h31, sizeof h31);
		assert_int_equal(wire_inclusion_decode(&arena, raw.b, raw.n, &q, why), CL_EINVAL);
		assert_non_null(strstr(why, "hashes[0]"));
		raw.n = 0;
		pb_uint(&raw, 1, 5);
		pb_uint(&raw, 2, 8);
		for (int i = 0; i < MT_PROOF_MAX + 1; i++)
			pb_bytes(&raw, 3, p.hashes[0], 32);
		assert_int_equal(
		    wire_consistency_decode(&arena, raw.b, raw.n, &q, why), CL_ETOOBIG);
	}

	memset(&r, 0, sizeof r);
	r.index = p.a;
	memset(r.leaf_hash, 0xab, 32);
	r.inclusion = p;
	r.checkpoint = (const uint8_t *)"origin\n8\nroot\n\n- sig\n";
	r.checkpoint_len = strlen((const char *)r.checkpoint);
	r.duplicate = true;
	assert_int_equal(wire_submit_response_encode(&arena, &r, &out, &len), 0);
	assert_int_equal(wire_submit_response_decode(&arena, out, len, &r2, why), 0);
	assert_int_equal(r2.index, 5);
	assert_memory_equal(r2.leaf_hash, r.leaf_hash, 32);
	assert_memory_equal(&r2.inclusion, &p, sizeof p);
	assert_int_equal(r2.checkpoint_len, r.checkpoint_len);
	assert_memory_equal(r2.checkpoint, r.checkpoint, r.checkpoint_len);
	assert_true(r2.duplicate);
	/* The proof must be for the entry the answer names. */
	r.index = 7;
	assert_int_equal(wire_submit_response_encode(&arena, &r, &out, &len), 0);
	assert_int_equal(wire_submit_response_decode(&arena, out, len, &r2, why), CL_EINVAL);
	assert_non_null(strstr(why, "not the entry's index 7"));

	memset(&en, 0, sizeof en);
	en.index = 12;
	memset(en.leaf_hash, 3, 32);
	en.envelope = (const uint8_t *)"leaf";
	en.envelope_len = 4;
	assert_int_equal(wire_entry_encode(&arena, &en, &out, &len), 0);
	assert_int_equal(wire_entry_decode(&arena, out, len, &en2, why), 0);
	assert_int_equal(en2.index, 12);
	assert_int_equal(en2.envelope_len, 4);
	assert_memory_equal(en2.envelope, "leaf", 4);

	sr.indices = idx;
	sr.n = 4;
	sr.truncated = true;
	assert_int_equal(wire_search_result_encode(&arena, &sr, &out, &len), 0);
	assert_int_equal(wire_search_result_decode(&arena, out, len, &sr2, why), 0);
	assert_int_equal(sr2.n, 4);
	assert_memory_equal(sr2.indices, idx, sizeof idx);
	assert_true(sr2.truncated);
	sr.indices = unsorted;
	sr.n = 2;
	assert_int_equal(wire_search_result_encode(&arena, &sr, &out, &len), 0);
	assert_int_equal(wire_search_result_decode(&arena, out, len, &sr2, why), CL_EINVAL);

	b.envelope = (const uint8_t *)"env";
	b.envelope_len = 3;
	b.tlog_proof = (const uint8_t *)"c2sp.org/tlog-proof@v1\n";
	b.tlog_proof_len = strlen((const char *)b.tlog_proof);
	assert_int_equal(wire_bundle_encode(&arena, &b, &out, &len), 0);
	assert_int_equal(wire_bundle_decode(&arena, out, len, &b2, why), 0);
	assert_int_equal(b2.envelope_len, 3);
	assert_memory_equal(b2.tlog_proof, b.tlog_proof, b.tlog_proof_len);
	b.envelope_len = 0;
	assert_int_equal(wire_bundle_encode(&arena, &b, &out, &len), 0);
	assert_int_equal(wire_bundle_decode(&arena, out, len, &b2, why), CL_EINVAL);
	assert_non_null(strstr(why, "bundle.envelope"));
}

/* cl_why and cl_why_n return rc unchanged, write at most their cap
 * (always terminated), and write nothing without a buffer. */
static void
test_why(void **state)
{
	char buf[8], big[CL_WHY_MAX + 8];

	(void)state;
	memset(buf, 'x', sizeof buf);
	assert_int_equal(cl_why_n(buf, 4, CL_EINVAL, "%s", "abcdef"), CL_EINVAL);
	assert_string_equal(buf, "abc");
	assert_int_equal(buf[4], 'x');
	memset(buf, 'x', sizeof buf);
	assert_int_equal(cl_why_n(buf, 0, 5, "y"), 5);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(cl_why_n(NULL, 8, CL_ENOMEM, "y"), CL_ENOMEM);
	assert_int_equal(cl_why(NULL, CL_ETOOBIG, "y"), CL_ETOOBIG);
	memset(big, 'x', sizeof big);
	assert_int_equal(cl_why(big, 0, "%0*d", CL_WHY_MAX + 4, 1), 0);
	assert_int_equal(strlen(big), CL_WHY_MAX - 1);
	/* cl_format: all or nothing */
	assert_int_equal(cl_format(buf, sizeof buf, "%s", "1234567"), 7);
	assert_string_equal(buf, "1234567");
	assert_int_equal(cl_format(buf, sizeof buf, "%s", "12345678"), 0);
	assert_string_equal(buf, "");
	assert_int_equal(cl_format(buf, 0, "%s", ""), 0);
}

/* The shared base64 decoder admits exactly one spelling per value. */
/* ---- Batches ---- */

static const struct {
	const char *name;
	const uint8_t *buf;
	size_t len;
	int want;
	size_t n;
} batch_cases[] = {
    {"empty message", (const uint8_t *)"", 0, 0, 0},
    {"one empty envelope", (const uint8_t *)"\x0a\x00", 2, 0, 1},
    {"two envelopes", (const uint8_t *)"\x0a\x01x\x0a\x02yz", 7, 0, 2},
    {"unknown field 2", (const uint8_t *)"\x12\x01x", 3, CL_EINVAL, 0},
    {"field 1 as varint", (const uint8_t *)"\x08\x01", 2, CL_EINVAL, 0},
    {"truncated element", (const uint8_t *)"\x0a\x05xy", 4, CL_EINVAL, 0},
    {"truncated length", (const uint8_t *)"\x0a\x80", 2, CL_EINVAL, 0},
    {"non-minimal length", (const uint8_t *)"\x0a\x81\x00x", 4, CL_EINVAL, 0},
    {"non-minimal tag", (const uint8_t *)"\x8a\x00\x00", 3, CL_EINVAL, 0},
    {"lone tag", (const uint8_t *)"\x0a", 1, CL_EINVAL, 0},
    {"length above 2^63", (const uint8_t *)"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11,
        CL_EINVAL, 0},
};

static void
test_batch(void **state)
{
	struct cl_span envs[8], got[8];
	const uint8_t *out;
	size_t len, n;
	char why[CL_WHY_MAX];
	uint8_t big[300];

	(void)state;
	for (size_t i = 0; i < sizeof batch_cases / sizeof batch_cases[0]; i++) {
		int rc = wire_batch_decode(batch_cases[i].buf, batch_cases[i].len, got, 8, &n, why);

		if (rc != batch_cases[i].want || n != batch_cases[i].n)
			fail_msg("%s: got %d (%s), %zu elements", batch_cases[i].name, rc, why, n);
		if (rc != 0)
			assert_non_null(strstr(why, "entry batch"));
	}
	/* Round trip through protobuf-c, with a 2-byte length. */
	memset(big, 'b', sizeof big);
	envs[0] = (struct cl_span){(const uint8_t *)"first", 5};
	envs[1] = (struct cl_span){big, sizeof big};
	envs[2] = (struct cl_span){(const uint8_t *)"", 0};
	assert_int_equal(wire_batch_encode(&arena, envs, 3, &out, &len), 0);
	assert_int_equal(wire_batch_decode(out, len, got, 8, &n, why), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(got[i].len, envs[i].len);
		assert_memory_equal(got[i].data, envs[i].data, envs[i].len);
		assert_true(got[i].data >= out && got[i].data + got[i].len <= out + len);
	}
	/* The count cap, and every truncation of a good batch. */
	assert_int_equal(wire_batch_decode(out, len, got, 2, &n, why), CL_ETOOBIG);
	assert_int_equal(n, 0);
	for (size_t cut = 1; cut < len; cut++) {
		int rc = wire_batch_decode(out, cut, got, 8, &n, why);

		/* A cut exactly between elements is a shorter, valid batch. */
		if (cut == 7 || cut == 7 + 3 + sizeof big)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, CL_EINVAL);
	}
}

static void
test_batch_response(void **state)
{
	static struct cl_batch_result res[3];
	struct cl_batch_response r = {res, 3, (const uint8_t *)"note\n", 5}, d;
	const uint8_t *out, *out2;
	size_t len, len2;
	char why[CL_WHY_MAX];
	uint8_t *bad;

	(void)state;
	memset(res, 0, sizeof res);
	res[0].status = 201;
	res[0].index = 7;
	memset(res[0].leaf_hash, 0xaa, 32);
	res[0].inclusion.a = 7;
	res[0].inclusion.b = 9;
	res[0].inclusion.n = 2;
	memset(res[0].inclusion.hashes, 0x55, 64);
	res[1].status = 403;
	res[1].reason = "no signature by an accepted submitter key";
	res[2].status = 200; /* index 0, an empty proof: all defaults */
	res[2].inclusion.b = 1;
	assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), 0);
	assert_int_equal(wire_batch_response_decode(&arena, out, len, 3, &d, why), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.results[0].index, 7);
	assert_int_equal(d.results[0].inclusion.n, 2);
	assert_memory_equal(d.results[0].inclusion.hashes, res[0].inclusion.hashes, 64);
	assert_string_equal(d.results[1].reason, res[1].reason);
	assert_int_equal(d.results[2].status, 200);
	assert_int_equal(d.checkpoint_len, 5);
	assert_int_equal(wire_batch_response_encode(&arena, &d, &out2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(out2, out, len);
	/* More results than were sent. */
	assert_int_equal(wire_batch_response_decode(&arena, out, len, 2, &d, why), CL_ETOOBIG);
	/* Every truncation fails.  A one-bit flip may still decode (a flipped
	 * hash byte), but then only as exactly the flipped bytes. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(wire_batch_response_decode(&arena, out, cut, 3, &d, why), 0);
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t bit = 0; bit < 8 * len; bit++) {
		memcpy(bad, out, len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		wire_arena_reset(&arena);
		if (wire_batch_response_decode(&arena, bad, len, 3, &d, why) != 0)
			continue;
		assert_int_equal(wire_batch_response_encode(&arena, &d, &out2, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(out2, bad, len);
	}
	free(bad);
	/* The encoder refuses results that break the rules. */
	res[1].reason = "";
	assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), CL_EINVAL);
	res[1].reason = "two\nlines";
	assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), CL_EINVAL);
	res[1].reason = "x";
	res[0].reason = "appended, with a reason";
	assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), CL_EINVAL);
	res[0].reason = NULL;
	res[0].inclusion.a = 8;
	assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), CL_EINVAL);
}

/* xorshift64: the next of *s. */
static uint64_t
xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value of a random bit length, so of every varint length. */
static uint64_t
xs_wide(uint64_t *s)
{
	uint64_t v = xs(s);

	return v >> (xs(s) % 64);
}

/* The answer written piece by piece is what the canonical decoder takes
 * back (so protobuf-c's own encoding of what it decodes) with every field
 * as given: random results of every kind, indices and sizes of every varint
 * length, proofs of 0 to MT_PROOF_MAX hashes, reasons of 1 to 255 bytes. */
static void
test_batch_response_pieces(void **state)
{
	static struct cl_batch_result res[8];
	static char reasons[8][CL_WHY_MAX];
	static uint8_t pieces[8 * WIRE_BATCH_RESULT_MAX + 64];
	uint64_t x = 0x2545f4914f6cdd1dULL;
	char why[CL_WHY_MAX];

	(void)state;
	for (int round = 0; round < 3000; round++) {
		struct cl_batch_response r = {res, 1 + round % 8, (const uint8_t *)"note\n", 5}, d;
		const uint8_t *out;
		size_t len, at = 0;

		for (size_t i = 0; i < r.n; i++) {
			struct cl_batch_result *e = &res[i];

			memset(e, 0, sizeof *e);
			switch (xs(&x) % 4) {
			case 0:
			case 1:
				e->status = xs(&x) % 2 ? 201 : 200;
				e->index = xs(&x) % 3 == 0 ? 0 : xs_wide(&x);
				e->inclusion.a = e->index;
				e->inclusion.b = xs(&x) % 5 == 0 ? 0 : xs_wide(&x);
				e->inclusion.n = xs(&x) % (MT_PROOF_MAX + 1);
				for (size_t h = 0; h < e->inclusion.n; h++)
					memset(e->inclusion.hashes[h], (int)(xs(&x) & 0xff),
					    MT_HASH_LEN);
				memset(e->leaf_hash, (int)(xs(&x) & 0xff), MT_HASH_LEN);
				break;
			default: {
				size_t n = 1 + xs(&x) % (CL_WHY_MAX - 1);

				e->status = 400 + (unsigned)(xs(&x) % 200);
				for (size_t k = 0; k < n; k++)
					reasons[i][k] = (char)(' ' + xs(&x) % 95);
				reasons[i][n] = '\0';
				e->reason = reasons[i];
			}
			}
			len = wire_batch_result_put(e, pieces + at);
			assert_true(len > 0 && len <= WIRE_BATCH_RESULT_MAX);
			at += len;
		}
		at += wire_batch_checkpoint_put(r.checkpoint, r.checkpoint_len, pieces + at);
		wire_arena_reset(&arena);
		assert_int_equal(wire_batch_response_encode(&arena, &r, &out, &len), 0);
		assert_int_equal(len, at);
		assert_memory_equal(out, pieces, len);
		assert_int_equal(wire_batch_response_decode(&arena, out, len, r.n, &d, why), 0);
		assert_int_equal(d.n, r.n);
		for (size_t i = 0; i < r.n; i++) {
			assert_int_equal(d.results[i].status, res[i].status);
			if (res[i].status >= 400) {
				assert_string_equal(d.results[i].reason, res[i].reason);
				continue;
			}
			assert_int_equal(d.results[i].index, res[i].index);
			assert_memory_equal(d.results[i].leaf_hash, res[i].leaf_hash, MT_HASH_LEN);
			assert_int_equal(d.results[i].inclusion.b, res[i].inclusion.b);
			assert_int_equal(d.results[i].inclusion.n, res[i].inclusion.n);
			assert_memory_equal(d.results[i].inclusion.hashes, res[i].inclusion.hashes,
			    res[i].inclusion.n * MT_HASH_LEN);
		}
	}
	/* What the encoder refuses, each piece refuses. */
	memset(&res[0], 0, sizeof res[0]);
	res[0].status = 201;
	res[0].inclusion.n = MT_PROOF_MAX + 1;
	assert_int_equal(wire_batch_result_put(&res[0], pieces), 0);
	res[0].inclusion.n = 0;
	res[0].inclusion.a = 1;
	assert_int_equal(wire_batch_result_put(&res[0], pieces), 0);
	res[0].status = 302;
	res[0].inclusion.a = 0;
	assert_int_equal(wire_batch_result_put(&res[0], pieces), 0);
	assert_int_equal(wire_batch_checkpoint_put((const uint8_t *)"", 0, pieces), 0);
	assert_int_equal(wire_batch_checkpoint_put(pieces, CL_CHECKPOINT_MAX + 1, pieces), 0);
	/* The longest checkpoint (many witnesses' cosignatures) fills exactly
	 * WIRE_BATCH_CHECKPOINT_MAX, more than a result's piece (under ASan
	 * a byte past the exact-size buffer fails). */
	uint8_t *ck = calloc(1, CL_CHECKPOINT_MAX), *big = malloc(WIRE_BATCH_CHECKPOINT_MAX);

	assert_non_null(ck);
	assert_non_null(big);
	assert_true(WIRE_BATCH_CHECKPOINT_MAX > WIRE_BATCH_RESULT_MAX);
	assert_int_equal(wire_batch_checkpoint_size(CL_CHECKPOINT_MAX), WIRE_BATCH_CHECKPOINT_MAX);
	assert_int_equal(
	    wire_batch_checkpoint_put(ck, CL_CHECKPOINT_MAX, big), WIRE_BATCH_CHECKPOINT_MAX);
	assert_memory_equal(big + 3, ck, CL_CHECKPOINT_MAX);
	free(ck);
	free(big);
}

static void
test_base64_strict(void **state)
{
	uint8_t out[64];
	size_t n;
	char buf[8];

	(void)state;
	assert_int_equal(cl_b64_decode("//8=", 4, out, sizeof out, &n), 0);
	assert_int_equal(n, 2);
	/* libsodium 1.0.18 reads any byte >= 0x80 as '/': refused here. */
	for (unsigned c = 0x80; c <= 0xff; c++) {
		memcpy(buf, "//8=", 4);
		buf[0] = (char)c;
		assert_int_equal(cl_b64_decode(buf, 4, out, sizeof out, &n), CL_EINVAL);
	}
	assert_int_equal(cl_b64_decode("//9=", 4, out, sizeof out, &n), CL_EINVAL); /* bits */
	assert_int_equal(cl_b64_decode("//8", 3, out, sizeof out, &n), CL_EINVAL);  /* padding */
	assert_int_equal(cl_b64_decode("-_8=", 4, out, sizeof out, &n), CL_EINVAL); /* URL-safe */
	assert_int_equal(cl_b64_decode("//8=", 4, out, 1, &n), CL_EINVAL);          /* room */
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_dsse_vectors, setup),
	    cmocka_unit_test(test_dsse_pae_lengths),
	    cmocka_unit_test_setup(test_attestation_roundtrip, setup),
	    cmocka_unit_test_setup(test_attestation_canonical, setup),
	    cmocka_unit_test_setup(test_attestation_fields, setup),
	    cmocka_unit_test_setup(test_envelope, setup),
	    cmocka_unit_test_setup(test_envelope_rules, setup),
	    cmocka_unit_test_setup(test_envelope_signer_set, setup),
	    cmocka_unit_test_setup(test_api_messages, setup),
	    cmocka_unit_test(test_why),
	    cmocka_unit_test(test_base64_strict),
	    cmocka_unit_test_setup(test_batch, setup),
	    cmocka_unit_test_setup(test_batch_response, setup),
	    cmocka_unit_test_setup(test_batch_response_pieces, setup),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
