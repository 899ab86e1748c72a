/*
 * pbcanon.c: the re-encoding rule (pbcanon.h), for differential tests.
 */
#include "pbcanon.h"

#include <stdlib.h>
#include <string.h>

#include "closurelog.pb-c.h"
#include "wirecanon.h"

int
pbc_repacks(const ProtobufCMessageDescriptor *d, const uint8_t *b, size_t len)
{
	static uint8_t again[1 << 20];
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, b);
	int rc = -1;

	if (m == NULL)
		return -1;
	if (wire_unknown_tag(m) == 0) {
		size_t n = protobuf_c_message_get_packed_size(m);

		if (n > sizeof again)
			abort();
		rc = n == len && protobuf_c_message_pack(m, again) == n &&
		    (n == 0 || memcmp(again, b, n) == 0);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

const ProtobufCMessageDescriptor *const pbc_types[] = {
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
