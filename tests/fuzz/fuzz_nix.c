/*
 * fuzz_nix.c: the Nix hash and store-path checks must never crash; any hash
 * they accept must format to SRI that parses back to the same algorithm and
 * bytes; a narHash they accept must be its own SRI, byte for byte; and a
 * nix32 string that decodes must be exactly what encoding gives back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "nix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_hash(const char *s, size_t size, enum nix_algo def)
{
	struct nix_hash h, back;
	char why[CL_WHY_MAX], sri[NIX_HASH_STR_MAX], n32[128];
	size_t n;

	why[0] = '\0';
	if (nix_hash_parse(s, size, def, &h, why) != 0) {
		/* A refusal always says why. */
		if (why[0] == '\0' || strlen(why) >= CL_WHY_MAX)
			abort();
		return;
	}
	if (nix_algo_name(h.algo) == NULL)
		abort();
	n = nix_hash_sri(&h, sri, sizeof sri);
	if (n == 0 || n != strlen(sri))
		abort();
	if (nix_hash_parse(sri, n, 0, &back, why) != 0)
		abort();
	if (back.algo != h.algo || back.len != h.len || memcmp(back.bytes, h.bytes, h.len) != 0)
		abort();
	/* Through nix32 too. */
	nix_base32_encode(h.bytes, h.len, n32);
	if (nix_base32_decode(n32, strlen(n32), back.bytes, h.len) != 0 ||
	    memcmp(back.bytes, h.bytes, h.len) != 0)
		abort();
	/* Exactly the padded sha256 SRI spellings are narHashes. */
	if ((h.algo == NIX_SHA256 && size == n && memcmp(s, sri, n) == 0) !=
	    (nix_nar_hash_check(s, size, NULL, NULL) == 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	static const size_t lens[] = {16, 20, 32, 64};
	uint8_t d[32], out[64];
	char why[CL_WHY_MAX], sri[NIX_HASH_STR_MAX], enc[128];
	struct nix_hash h;

	check_hash(s, size, 0);
	for (int a = NIX_MD5; a <= NIX_SHA512; a++)
		check_hash(s, size, (enum nix_algo)a);

	if (nix_nar_hash_check(s, size, d, why) == 0) {
		/* A narHash is a parseable hash whose SRI is itself. */
		if (nix_hash_parse(s, size, 0, &h, why) != 0 || h.algo != NIX_SHA256 ||
		    memcmp(h.bytes, d, 32) != 0)
			abort();
		if (nix_hash_sri(&h, sri, sizeof sri) != size || memcmp(sri, s, size) != 0)
			abort();
	}

	if (nix_store_path_check(s, size, why) == 0) {
		if (size > NIX_STORE_PATH_MAX || memchr(s, '\0', size) != NULL ||
		    memchr(s + 11, '/', size - 11) != NULL)
			abort();
		/* The hash part decodes, and encodes back to itself. */
		if (nix_base32_decode(s + 11, NIX_HASH_PART_LEN, out, 20) != 0)
			abort();
		nix_base32_encode(out, 20, enc);
		if (memcmp(enc, s + 11, NIX_HASH_PART_LEN) != 0)
			abort();
	}

	/* One spelling per value: whatever decodes, encodes back the same. */
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		if (size != nix_base32_len(lens[i]))
			continue;
		if (nix_base32_decode(s, size, out, lens[i]) != 0)
			continue;
		nix_base32_encode(out, lens[i], enc);
		if (memcmp(enc, s, size) != 0)
			abort();
	}
	return 0;
}
