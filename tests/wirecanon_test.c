/*
 * wirecanon_test.c: the one-pass canonical check (proto/wirecanon.c)
 * against the rule it replaced, "protobuf-c packs the unpacked message
 * back to exactly the input": known answers for each rule, then every bit
 * flip, truncation, deletion and insertion of seed messages of every type
 * in the schema (each field set, repeated fields with empty and zero
 * elements), plus random multi-byte edits, compared input by input with
 * the re-encoding.  Inputs protobuf-c cannot unpack, or that carry unknown
 * fields, are not compared: the decoders refuse those before this check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "closurelog.pb-c.h"
#include "pbcanon.h"
#include "testutil.h"
#include "wirecanon.h"

#define BUF_MAX 4096

#define N_TYPES PBC_N_TYPES

struct tally {
	size_t compared, canonical, refused;
};

static void
compare(const ProtobufCMessageDescriptor *d, const uint8_t *b, size_t len, struct tally *t)
{
	int want = pbc_repacks(d, b, len);

	if (want < 0)
		return;
	if (wire_canonical(d, b, len) != (want == 1)) {
		fprintf(stderr, "%s, %zu bytes: wire_canonical %d, re-encoding %d:", d->name, len,
		    !want, want);
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", b[i]);
		fprintf(stderr, "\n");
		fail();
	}
	t->compared++;
	if (want == 1)
		t->canonical++;
	else
		t->refused++;
}

static void
test_supported(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_TYPES; i++)
		assert_true(wire_canonical_supported(pbc_types[i]));
	/* A proto2-style or oneof field, or a type this does not handle. */
	ProtobufCFieldDescriptor f = closurelog__v1__digest__descriptor.fields[0];
	ProtobufCMessageDescriptor d = closurelog__v1__digest__descriptor;

	d.n_fields = 1;
	d.fields = &f;
	assert_true(wire_canonical_supported(&d));
	f.label = PROTOBUF_C_LABEL_OPTIONAL;
	assert_false(wire_canonical_supported(&d));
	f.label = PROTOBUF_C_LABEL_NONE;
	f.type = PROTOBUF_C_TYPE_SINT64;
	assert_false(wire_canonical_supported(&d));
	f.type = PROTOBUF_C_TYPE_STRING;
	f.flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
	assert_false(wire_canonical_supported(&d));
}

/* ---- Known answers ---- */

static const struct {
	const ProtobufCMessageDescriptor *d;
	const char *hex;
	bool want;
	const char *what;
} known[] = {
    {&closurelog__v1__digest__descriptor, "", true, "empty message"},
    {&closurelog__v1__digest__descriptor, "0a067368613235361202abcd", true, "two fields"},
    {&closurelog__v1__digest__descriptor, "1202abcd0a06736861323536", false, "out of order"},
    {&closurelog__v1__digest__descriptor, "0a01610a0162", false, "a field twice"},
    {&closurelog__v1__digest__descriptor, "0a00", false, "explicit empty string"},
    {&closurelog__v1__digest__descriptor, "1200", false, "explicit empty bytes"},
    {&closurelog__v1__digest__descriptor, "0a03610062", false, "NUL in a string"},
    {&closurelog__v1__digest__descriptor, "8a0003616263", false, "long tag varint"},
    {&closurelog__v1__digest__descriptor, "0a8300616263", false, "long length varint"},
    {&closurelog__v1__search_result__descriptor, "0a03010203", true, "packed run"},
    {&closurelog__v1__search_result__descriptor, "0a0100", true, "packed zero element"},
    {&closurelog__v1__search_result__descriptor, "08010802", false, "unpacked elements"},
    {&closurelog__v1__search_result__descriptor, "0a00", false, "empty packed run"},
    {&closurelog__v1__search_result__descriptor, "0a01010a0102", false, "two packed runs"},
    {&closurelog__v1__search_result__descriptor, "0a03810001", false, "long element varint"},
    {&closurelog__v1__search_result__descriptor, "1001", true, "true"},
    {&closurelog__v1__search_result__descriptor, "1000", false, "explicit false"},
    {&closurelog__v1__search_result__descriptor, "1002", false, "true spelled 2"},
    {&closurelog__v1__build_metadata__descriptor, "1001", true, "enum 1"},
    {&closurelog__v1__build_metadata__descriptor, "10ffffffffffffffffff01", true,
        "enum -1, sign-extended"},
    {&closurelog__v1__build_metadata__descriptor, "10ffffffff0f", false, "enum -1 in 32 bits"},
    {&closurelog__v1__build_metadata__descriptor, "1080808080f8ffffffff01", true, "enum INT32_MIN"},
    {&closurelog__v1__build_metadata__descriptor, "10fffffffff7ffffffff01", false,
        "enum below INT32_MIN"},
    {&closurelog__v1__build_metadata__descriptor, "3800", false, "explicit zero uint64"},
    {&closurelog__v1__build_metadata__descriptor, "38ffffffffffffffffff01", true, "uint64 max"},
    {&closurelog__v1__build_metadata__descriptor, "1a00", true, "empty repeated string"},
    {&closurelog__v1__build_metadata__descriptor, "1a01611a0162", true, "repeated strings"},
    {&closurelog__v1__build_metadata__descriptor, "1a01612201621a0163", false,
        "a repeated field split"},
    {&closurelog__v1__batch_entry_result__descriptor, "08ffffffff0f", true, "uint32 max"},
    {&closurelog__v1__batch_entry_result__descriptor, "088080808010", false, "uint32 above 2^32"},
    {&closurelog__v1__closure_attestation__descriptor, "2a00", true, "present empty submessage"},
    {&closurelog__v1__closure_attestation__descriptor, "2a0238012a023801", false,
        "a submessage twice"},
    {&closurelog__v1__closure_attestation__descriptor, "2a03388100", false,
        "bad varint inside a submessage"},
    {&closurelog__v1__closure_attestation__descriptor, "2a023800", false,
        "explicit default inside a submessage"},
    {&closurelog__v1__envelope__descriptor, "1a001a00", true, "empty repeated messages"},
    {&closurelog__v1__entry_batch__descriptor, "0a000a0101", true, "empty repeated bytes"},
};

static void
test_known(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		size_t len = 0;
		uint8_t *b = known[i].hex[0] != '\0' ? tu_unhex_alloc(known[i].hex, &len) : NULL;

		if (wire_canonical(known[i].d, b, len) != known[i].want) {
			fprintf(stderr, "%s: %s\n", known[i].d->name, known[i].what);
			fail();
		}
		/* The table itself is what protobuf-c does. */
		assert_int_equal(pbc_repacks(known[i].d, b, len), known[i].want ? 1 : 0);
		free(b);
	}
}

/* ---- Seeds of every type, every field set ---- */

struct seed {
	const ProtobufCMessageDescriptor *d;
	uint8_t b[BUF_MAX];
	size_t len;
};

static struct seed seeds[N_TYPES];

static uint8_t hash_a[32] = {1, 2, 3}, hash_b[32] = {0xff, 0x80};

static void
seed_put(size_t *k, const ProtobufCMessage *m)
{
	struct seed *s = &seeds[(*k)++];

	s->d = m->descriptor;
	s->len = protobuf_c_message_get_packed_size(m);
	assert_true(s->len <= sizeof s->b);
	assert_int_equal(protobuf_c_message_pack(m, s->b), s->len);
	assert_int_equal(pbc_repacks(s->d, s->b, s->len), 1);
}

static void
seeds_build(void)
{
	static char *subs[] = {"https://a.example", "", "https://b.example"};
	static char *keys[] = {"k:AAAA"};
	static char *succ[] = {"/nix/store/x", "/nix/store/y"};
	static uint64_t idx[] = {0, 1, 300, UINT64_MAX};
	ProtobufCBinaryData hashes[] = {{32, hash_a}, {32, hash_b}, {0, NULL}};
	Closurelog__V1__Digest dg = CLOSURELOG__V1__DIGEST__INIT, dg2 = dg;
	Closurelog__V1__ExtraDigest ex = CLOSURELOG__V1__EXTRA_DIGEST__INIT, ex2 = ex,
	                            *exs[] = {&ex, &ex2};
	Closurelog__V1__BuildMetadata bm = CLOSURELOG__V1__BUILD_METADATA__INIT;
	Closurelog__V1__ClosureAttestation ca = CLOSURELOG__V1__CLOSURE_ATTESTATION__INIT;
	Closurelog__V1__Signature sg = CLOSURELOG__V1__SIGNATURE__INIT, sg2 = sg,
	                          *sgs[] = {&sg, &sg2};
	Closurelog__V1__Envelope en = CLOSURELOG__V1__ENVELOPE__INIT;
	Closurelog__V1__InclusionProof ip = CLOSURELOG__V1__INCLUSION_PROOF__INIT;
	Closurelog__V1__ConsistencyProof cp = CLOSURELOG__V1__CONSISTENCY_PROOF__INIT;
	Closurelog__V1__SubmitResponse sr = CLOSURELOG__V1__SUBMIT_RESPONSE__INIT;
	Closurelog__V1__Entry et = CLOSURELOG__V1__ENTRY__INIT;
	Closurelog__V1__SearchResult se = CLOSURELOG__V1__SEARCH_RESULT__INIT;
	Closurelog__V1__ProofBundle pb = CLOSURELOG__V1__PROOF_BUNDLE__INIT;
	Closurelog__V1__EntryBatch eb = CLOSURELOG__V1__ENTRY_BATCH__INIT;
	Closurelog__V1__BatchEntryResult br = CLOSURELOG__V1__BATCH_ENTRY_RESULT__INIT, br2 = br,
	                                 *brs[] = {&br, &br2};
	Closurelog__V1__BatchResponse bs = CLOSURELOG__V1__BATCH_RESPONSE__INIT;
	size_t k = 0;

	dg.algorithm = "sha256";
	dg.value = (ProtobufCBinaryData){32, hash_a};
	seed_put(&k, &dg.base);
	ex.name = "sbom";
	ex.digest = &dg;
	ex2.name = "x";
	ex2.digest = &dg2; /* empty */
	seed_put(&k, &ex.base);
	bm.system = "x86_64-linux";
	bm.sandbox = (Closurelog__V1__Sandbox)-2;
	bm.substituters = subs;
	bm.n_substituters = 3;
	bm.trusted_public_keys = keys;
	bm.n_trusted_public_keys = 1;
	bm.builder_id = "b";
	bm.run_url = "https://r";
	bm.build_time = 1ull << 40;
	seed_put(&k, &bm.base);
	ca.root = "/nix/store/r";
	ca.nar_hash = "sha256-x";
	ca.flake_lock_digest = &dg;
	ca.successors = succ;
	ca.n_successors = 2;
	ca.build = &bm;
	ca.extra_digests = exs;
	ca.n_extra_digests = 2;
	seed_put(&k, &ca.base);
	sg.sig = (ProtobufCBinaryData){32, hash_b};
	sg.keyid = "0011aabb";
	sg2.keyid = "ffffffff";
	seed_put(&k, &sg.base);
	en.payload = (ProtobufCBinaryData){32, hash_a};
	en.payload_type = "t";
	en.signatures = sgs;
	en.n_signatures = 2;
	seed_put(&k, &en.base);
	ip.index = 5;
	ip.tree_size = 1ull << 33;
	ip.hashes = hashes;
	ip.n_hashes = 3;
	seed_put(&k, &ip.base);
	cp.from_size = 127;
	cp.to_size = 128;
	cp.hashes = hashes;
	cp.n_hashes = 2;
	seed_put(&k, &cp.base);
	sr.index = 5;
	sr.leaf_hash = (ProtobufCBinaryData){32, hash_a};
	sr.inclusion = &ip;
	sr.checkpoint = (ProtobufCBinaryData){5, (uint8_t *)"note\n"};
	sr.duplicate = true;
	seed_put(&k, &sr.base);
	et.index = 1;
	et.leaf_hash = (ProtobufCBinaryData){32, hash_b};
	et.envelope = (ProtobufCBinaryData){3, (uint8_t *)"env"};
	seed_put(&k, &et.base);
	se.indices = idx;
	se.n_indices = 4;
	se.truncated = true;
	seed_put(&k, &se.base);
	pb.envelope = (ProtobufCBinaryData){3, (uint8_t *)"env"};
	pb.tlog_proof = (ProtobufCBinaryData){4, (uint8_t *)"tlog"};
	seed_put(&k, &pb.base);
	eb.envelopes = hashes;
	eb.n_envelopes = 3;
	seed_put(&k, &eb.base);
	br.status = 201;
	br.index = 7;
	br.leaf_hash = (ProtobufCBinaryData){32, hash_a};
	br.inclusion = &ip;
	br2.status = 4000000000u;
	br2.reason = "refused";
	seed_put(&k, &br.base);
	bs.results = brs;
	bs.n_results = 2;
	bs.checkpoint = (ProtobufCBinaryData){5, (uint8_t *)"note\n"};
	seed_put(&k, &bs.base);
	assert_int_equal(k, N_TYPES);
}

/* ---- Mutations ---- */

static void
test_mutations(void **state)
{
	static const uint8_t inserts[] = {0x00, 0x01, 0x02, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22,
	    0x2a, 0x32, 0x38, 0x7f, 0x80, 0xff};
	uint8_t b[BUF_MAX + 1];
	struct tally t = {0};

	(void)state;
	seeds_build();
	for (size_t s = 0; s < N_TYPES; s++) {
		const struct seed *sd = &seeds[s];

		compare(sd->d, sd->b, sd->len, &t);
		/* The seed as every other type, too. */
		for (size_t o = 0; o < N_TYPES; o++)
			compare(pbc_types[o], sd->b, sd->len, &t);
		for (size_t bit = 0; bit < 8 * sd->len; bit++) {
			memcpy(b, sd->b, sd->len);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			compare(sd->d, b, sd->len, &t);
		}
		for (size_t n = 0; n < sd->len; n++) {
			compare(sd->d, sd->b, n, &t); /* truncated */
			memcpy(b, sd->b, n);          /* one byte deleted */
			memcpy(b + n, sd->b + n + 1, sd->len - n - 1);
			compare(sd->d, b, sd->len - 1, &t);
		}
		for (size_t n = 0; n <= sd->len; n++) {
			for (size_t v = 0; v < sizeof inserts; v++) {
				memcpy(b, sd->b, n);
				b[n] = inserts[v];
				memcpy(b + n + 1, sd->b + n, sd->len - n);
				compare(sd->d, b, sd->len + 1, &t);
			}
		}
	}
	/* Each run of mutations is counted: the comparison saw both answers
	 * many times over (the counts are those of this fixed set of inputs), so
	 * it cannot pass by never deciding. */
	assert_true(t.canonical > 1000);
	assert_true(t.refused > 200);
}

/* Random edits, several per input: byte writes, copies of a stretch
 * elsewhere (a field twice, fields swapped) and cuts. */
static void
test_random(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	uint8_t b[BUF_MAX * 2];
	struct tally t = {0};

	(void)state;
	seeds_build();
	for (int round = 0; round < 200000; round++) {
		const struct seed *sd = &seeds[round % N_TYPES];
		size_t len = sd->len, edits;

		memcpy(b, sd->b, len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		edits = 1 + x % 4;
		for (size_t e = 0; e < edits && len > 0; e++) {
			size_t at, from, n;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			at = (x >> 8) % len;
			switch (x % 3) {
			case 0:
				b[at] = (uint8_t)(x >> 40);
				break;
			case 1: /* copy a stretch to another place */
				from = (x >> 24) % len;
				n = 1 + (x >> 48) % 12;
				if (from + n > len)
					n = len - from;
				if (len + n > sizeof b)
					break;
				memmove(b + at + n, b + at, len - at);
				memmove(b + at, b + (from < at ? from : from + n), n);
				len += n;
				break;
			default: /* cut a stretch */
				n = 1 + (x >> 48) % 8;
				if (at + n > len)
					n = len - at;
				memmove(b + at, b + at + n, len - at - n);
				len -= n;
				break;
			}
		}
		compare(sd->d, b, len, &t);
	}
	assert_true(t.canonical > 1000);
	assert_true(t.refused > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_supported),
	    cmocka_unit_test(test_known),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
