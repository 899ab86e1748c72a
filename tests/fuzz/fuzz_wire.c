/*
 * fuzz_wire.c: every protobuf decoder in wire.h, and the submit-side chain
 * (envelope, then DSSE verification, then the attestation of the payload).
 * The first input byte picks the decoder (mod 10).  Decoders must never crash, and
 * whatever they accept must encode back to exactly the input (one spelling
 * per message).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsse.h"
#include "note.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t arena_buf[WIRE_ARENA_MIN];

static void
same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_arena a;
	const uint8_t *out;
	size_t len;

	if (size == 0)
		return 0;
	wire_arena_init(&a, arena_buf, sizeof arena_buf);
	switch (data[0] % 10) {
	case 0: {
		struct cl_envelope env;
		struct cl_attestation att;
		struct note_verifier key;
		static const char vkey[] =
		    "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

		if (wire_envelope_decode(&a, data + 1, size - 1, &env, NULL) != 0)
			return 0;
		if (wire_envelope_encode(&a, &env, &out, &len, NULL) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		if (note_verifier_parse(vkey, strlen(vkey), &key, NULL) != 0)
			abort();
		(void)dsse_verify(&a, &env, &key, 1, NULL, NULL);
		/* The log's rule is stricter: it never admits what the offline
		 * check refuses. */
		if (dsse_verify_all(&a, &env, &key, 1, NULL, NULL) == 0 &&
		    dsse_verify(&a, &env, &key, 1, NULL, NULL) != 0)
			abort();
		(void)wire_attestation_decode(&a, env.payload, env.payload_len, &att, NULL);
		break;
	}
	case 1: {
		struct cl_attestation att;

		if (wire_attestation_decode(&a, data + 1, size - 1, &att, NULL) != 0)
			return 0;
		if (wire_attestation_encode(&a, &att, &out, &len, NULL) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 2:
	case 3: {
		struct cl_proof p;
		int incl = data[0] % 10 == 2;

		if ((incl ? wire_inclusion_decode : wire_consistency_decode)(
		        &a, data + 1, size - 1, &p, NULL) != 0)
			return 0;
		if ((incl ? wire_inclusion_encode : wire_consistency_encode)(&a, &p, &out, &len) !=
		    0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 4: {
		struct cl_submit_response r;

		if (wire_submit_response_decode(&a, data + 1, size - 1, &r, NULL) != 0)
			return 0;
		if (wire_submit_response_encode(&a, &r, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 5: {
		struct cl_entry e;

		if (wire_entry_decode(&a, data + 1, size - 1, &e, NULL) != 0)
			return 0;
		if (wire_entry_encode(&a, &e, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 6: {
		struct cl_search_result r;

		if (wire_search_result_decode(&a, data + 1, size - 1, &r, NULL) != 0)
			return 0;
		if (wire_search_result_encode(&a, &r, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 7: {
		struct cl_bundle b;

		if (wire_bundle_decode(&a, data + 1, size - 1, &b, NULL) != 0)
			return 0;
		if (wire_bundle_encode(&a, &b, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 8: {
		/* The hand-written batch decoder: what it accepts, protobuf-c
		 * encodes back to the same bytes. */
		static struct cl_span envs[64];
		size_t n;

		if (wire_batch_decode(data + 1, size - 1, envs, 64, &n, NULL) != 0)
			return 0;
		for (size_t i = 0; i < n; i++) {
			if (envs[i].data < data + 1 || envs[i].data + envs[i].len > data + size)
				abort();
		}
		if (wire_batch_encode(&a, envs, n, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	case 9: {
		struct cl_batch_response r;

		if (wire_batch_response_decode(&a, data + 1, size - 1, 64, &r, NULL) != 0)
			return 0;
		if (wire_batch_response_encode(&a, &r, &out, &len) != 0)
			abort();
		same(out, len, data + 1, size - 1);
		break;
	}
	}
	return 0;
}
