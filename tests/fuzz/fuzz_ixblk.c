/*
 * fuzz_ixblk.c: a search run's key block (server/ixblk.c) as read from
 * disk must never crash the check, and a block it accepts must be what a
 * cursor relies on: 1..IXB_MAX whole keys, strictly ascending, the first
 * equal to the record's key.  The first IXB_KEY bytes are the record's
 * key (shorter input: all of it); the rest is the value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ixblk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t klen = size < IXB_KEY ? size : IXB_KEY, n;
	MDB_val k = {klen, (void *)data}, v = {size - klen, (void *)(data + klen)};
	const uint8_t *p = v.mv_data;

	if (ixb_check(&k, &v) != 0)
		return 0;
	n = v.mv_size / IXB_KEY;
	if (klen != IXB_KEY || v.mv_size % IXB_KEY != 0 || n == 0 || n > IXB_MAX ||
	    memcmp(p, data, IXB_KEY) != 0)
		abort();
	for (size_t i = 1; i < n; i++) {
		if (memcmp(p + (i - 1) * IXB_KEY, p + i * IXB_KEY, IXB_KEY) >= 0)
			abort();
	}
	return 0;
}
