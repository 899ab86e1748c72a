/*
 * fuzz_opa.c: the OPA bundle reader (client/opa.c) on arbitrary bytes,
 * both as they come and wrapped in a valid gzip stream (so that the tar
 * parser is reached): it must never crash, must explain a refusal, and
 * whatever it accepts must come back the same through the writer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cl.h"
#include "opa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
read_one(const uint8_t *gz, size_t len)
{
	struct cli_opa_bundle b, back;
	struct cli_opa_file f;
	char why[CL_WHY_MAX] = "";
	uint8_t *out;
	size_t olen;

	if (cli_opa_read(gz, len, &b, why) != 0) {
		if (why[0] == '\0' || b.data != NULL)
			abort();
		return;
	}
	f = (struct cli_opa_file){"data.json", b.data, b.data_len};
	if (cli_opa_write(&f, 1, &out, &olen, why) != 0)
		abort();
	if (cli_opa_read(out, olen, &back, why) != 0 || back.data_len != b.data_len ||
	    memcmp(back.data, b.data, b.data_len) != 0 || back.revision != NULL)
		abort();
	cli_opa_clear(&back);
	free(out);
	cli_opa_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uLongf cap = compressBound(size) + 64;
	uint8_t *gz;
	z_stream z = {0};

	read_one(data, size);
	/* The same bytes as the tar inside a well-formed gzip stream. */
	if ((gz = malloc(cap)) == NULL)
		return 0;
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
		z.next_in = (Bytef *)data;
		z.avail_in = (uInt)size;
		z.next_out = gz;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) == Z_STREAM_END)
			read_one(gz, cap - z.avail_out);
		deflateEnd(&z);
	}
	free(gz);
	return 0;
}
