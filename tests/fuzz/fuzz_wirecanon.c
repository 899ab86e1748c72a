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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	int want;

	if (size == 0 || size > 65536)
		return 0;
	d = pbc_types[data[0] % PBC_N_TYPES];
	if ((want = pbc_repacks(d, data + 1, size - 1)) < 0)
		return 0;
	if (wire_canonical(d, data + 1, size - 1) != (want == 1))
		abort();
	return 0;
}
