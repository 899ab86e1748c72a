/*
 * fuzz_bundle.c: mt_bundle_next must never read past the bundle, must move
 * only forward and only on success, and the entries it splits out must
 * encode back to exactly the bytes they came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *e, *before;
	size_t len;

	while (p != end) {
		before = p;
		if (mt_bundle_next(&p, end, &e, &len) != 0) {
			if (p != before)
				abort();
			break;
		}
		if (e != before + 2 || len != ((size_t)before[0] << 8 | before[1]) ||
		    p != e + len || p > end)
			abort();
	}
	return 0;
}
