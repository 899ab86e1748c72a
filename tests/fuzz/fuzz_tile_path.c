/*
 * fuzz_tile_path.c: mt_tile_parse must never crash, and whatever it accepts
 * must format back to exactly the same bytes (one spelling per tile).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_tile t;
	char buf[MT_TILE_PATH_MAX];

	if (mt_tile_parse((const char *)data, size, &t) != 0)
		return 0;
	if (mt_tile_path(&t, buf) != 0)
		abort();
	if (strlen(buf) != size || memcmp(buf, data, size) != 0)
		abort();
	return 0;
}
