/*
 * fuzz_ixrun.c: the search environment's run manifest (meta "runs",
 * server/ixrun.c) as read from disk must never crash the decoder, and a
 * manifest it accepts must cover [0, upto) with distinct slots, each
 * range non-empty and adjacent to the previous, and encode back to exactly
 * the input.  The first 8 bytes are upto; the rest is the manifest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "ixrun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ixr_set s;
	uint8_t again[IXR_MAX];
	bool used[IXR_SLOTS] = {false};
	uint64_t upto, from = 0;
	size_t first;

	if (size < 8)
		return 0;
	upto = cl_be64_get(data);
	if (ixr_decode(data + 8, size - 8, upto, &s) != 0) {
		if (s.n != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (s.run[i].slot >= IXR_SLOTS || used[s.run[i].slot] || s.run[i].from != from ||
		    s.run[i].to <= from)
			abort();
		used[s.run[i].slot] = true;
		from = s.run[i].to;
	}
	if (from != upto || ixr_encode(&s, again) != size - 8 ||
	    memcmp(again, data + 8, size - 8) != 0)
		abort();
	/* A merge it picks lies inside the manifest and keeps it whole. */
	if (ixr_pick(
	        &s, 1 + data[7] % 64, 2 + data[6] % (IXR_FANOUT_MAX - 1), data[5] % 8, &first)) {
		unsigned fan = 2 + data[6] % (IXR_FANOUT_MAX - 1);
		uint8_t enc[IXR_MAX];

		if (first + fan > s.n)
			abort();
		ixr_replace(&s, first, fan, s.run[first].slot);
		if (ixr_decode(enc, ixr_encode(&s, enc), upto, &s) != 0)
			abort();
	}
	return 0;
}
