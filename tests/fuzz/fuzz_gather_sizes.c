/*
 * fuzz_gather_sizes.c: closurelogd's witness sizes file (a hint read at
 * start, server/gather.c) must never crash the parser, and a size it
 * reports for a witness must come from a whole line of the input that is
 * exactly that witness's key, a space, the size in canonical decimal and a
 * newline.
 */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gather.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct note_verifier keys[2];
	uint64_t sizes[2];
	bool found[2];
	char want[NOTE_VKEY_MAX + 32];

	memset(keys, 0, sizeof keys);
	for (int i = 0; i < 2; i++) {
		snprintf(keys[i].name, sizeof keys[i].name, "w%d.fuzz.example/witness", i);
		keys[i].id = 0x01020304u + (uint32_t)i;
		keys[i].type = NOTE_TYPE_COSIG;
		memset(keys[i].pub, 0x40 + i, sizeof keys[i].pub);
	}
	ga_sizes_parse(data, size, keys, 2, sizes, found);
	for (int i = 0; i < 2; i++) {
		size_t n;

		if (!found[i])
			continue;
		n = note_verifier_format(&keys[i], want, sizeof want);
		n += (size_t)snprintf(want + n, sizeof want - n, " %" PRIu64 "\n", sizes[i]);
		/* At the start of the input or of a line. */
		if (!(size >= n && memcmp(data, want, n) == 0)) {
			char line[NOTE_VKEY_MAX + 33] = "\n";

			memcpy(line + 1, want, n);
			if (memmem(data, size, line, n + 1) == NULL)
				abort();
		}
	}
	return 0;
}
