/*
 * fuzz_ebundle.c: a stored entry bundle (server/ebundle.c) as read from
 * disk must never crash the decoder, and a bundle it accepts must be 256
 * entries of 1 .. CL_ENTRY_MAX bytes that fill its C2SP form exactly, and
 * encode back into a frame that decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct eb_dec *d, *again;
	static struct eb_enc *e;
	const uint8_t *raw, *raw2, *z;
	size_t raw_len, raw2_len, zlen, at = 0;

	if (d == NULL && (eb_dec_new(&d) != 0 || eb_dec_new(&again) != 0 || eb_enc_new(&e) != 0))
		abort();
	if (eb_decode(d, data, size) != 0)
		return 0;
	eb_dec_raw(d, &raw, &raw_len);
	eb_enc_reset(e);
	for (unsigned j = 0; j < EB_ENTRIES; j++) {
		const uint8_t *p;
		size_t n;

		eb_dec_entry(d, j, &p, &n);
		if (n == 0 || n > CL_ENTRY_MAX || p != raw + at + 2 ||
		    ((size_t)raw[at] << 8 | raw[at + 1]) != n)
			abort();
		at += 2 + n;
		if (eb_enc_add(e, p, n) != 0)
			abort();
	}
	if (at != raw_len || eb_enc_finish(e, &z, &zlen) != 0 || eb_decode(again, z, zlen) != 0)
		abort();
	eb_dec_raw(again, &raw2, &raw2_len);
	if (raw2_len != raw_len || memcmp(raw2, raw, raw_len) != 0)
		abort();
	return 0;
}
