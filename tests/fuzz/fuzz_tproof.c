/*
 * fuzz_tproof.c: tproof_parse must never crash, and whatever it accepts
 * must format back to exactly the same bytes (one spelling per proof).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tproof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[TPROOF_MAX_SIZE];
	struct tproof p;
	size_t len = 0;

	if (tproof_parse(data, size, &p, NULL) != 0)
		return 0;
	if (tproof_format(&p, out, sizeof out, &len) != 0)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
