/*
 * fuzz_wirecanon.c: the one-pass canonical check (proto/wirecanon.c)
 * against the re-encoding it replaced (tests/pbcanon.c), for any input
 * protobuf-c unpacks without unknown fields.  The first byte picks the
 * message type (mod the number of types in closurelog.proto); the two
 * must agree on every such input, and the check must never crash on one.
 */
#include <stdint.h>
#include <stdlib.h>

#include "closurelog.pb-c.h"
#include "pbcanon.h"
#include "wirecanon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const types[] = {
    &closurelog__v1__digest__descriptor,
    &closurelog__v1__extra_digest__descriptor,
    &closurelog__v1__build_metadata__descriptor,
    &closurelog__v1__closure_attestation__descriptor,
    &closurelog__v1__signature__descriptor,
    &closurelog__v1__envelope__descriptor,
    &closurelog__v1__inclusion_proof__descriptor,
    &closurelog__v1__consistency_proof__descriptor,
    &closurelog__v1__submit_response__descriptor,
    &closurelog__v1__entry__descriptor,
    &closurelog__v1__search_result__descriptor,
    &closurelog__v1__proof_bundle__descriptor,
    &closurelog__v1__entry_batch__descriptor,
    &closurelog__v1__batch_entry_result__descriptor,
    &closurelog__v1__batch_response__descriptor,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	int want;

	if (size == 0 || size > 65536)
		return 0;
	d = types[data[0] % (sizeof types / sizeof types[0])];
	if ((want = pbc_repacks(d, data + 1, size - 1)) < 0)
		return 0;
	if (wire_canonical(d, data + 1, size - 1) != (want == 1))
		abort();
	return 0;
}
