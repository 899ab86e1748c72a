/*
 * ebundle_test.c: the stored form of full entry bundles (server/ebundle.c).
 * A frame made by the zstd CLI decodes to the known bundle (known answer);
 * what the encoder makes decodes back to exactly its entries, in C2SP entry
 * bundle form; the encoder's limits; and the decoder refuses, never
 * crashes on, every truncation, a trailing byte, every single bit flip
 * that changes the content, and well-formed zstd frames that are not
 * bundles (too few or too many entries, an empty entry, a length prefix
 * running past the end, bytes after the last entry, no checksum, no
 * content size, two frames, a skippable frame).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "cl.h"
#include "ebundle.h"
#include "store.h"
#include "testutil.h"

/* Entry j of the vector: 'closurelog bundle vector entry <j>;' repeated,
 * cut to 1 + 53 j mod 400 bytes. */
static size_t
vector_entry(unsigned j, uint8_t *out)
{
	char base[64];
	size_t n = 1 + (53u * j) % 400,
	       b = (size_t)snprintf(base, sizeof base, "closurelog bundle vector entry %u;", j);

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)base[i % b];
	return n;
}

/* The C2SP form of entries made by fn, in a malloc'd buffer. */
static uint8_t *
c2sp_of(size_t (*fn)(unsigned, uint8_t *), size_t *len)
{
	uint8_t *raw = malloc(EB_RAW_MAX), e[CL_ENTRY_MAX];

	assert_non_null(raw);
	*len = 0;
	for (unsigned j = 0; j < EB_ENTRIES; j++) {
		size_t n = fn(j, e);

		raw[*len] = (uint8_t)(n >> 8);
		raw[*len + 1] = (uint8_t)n;
		memcpy(raw + *len + 2, e, n);
		*len += 2 + n;
	}
	return raw;
}

static uint8_t *
vector_frame(size_t *len, json_t **root)
{
	*root = tu_vectors("ebundle-vectors.json");
	return tu_unhex_alloc(tu_str(*root, "frame_hex"), len);
}

static void
test_known_answer(void **state)
{
	json_t *root;
	size_t zlen, want_len, raw_len, elen;
	uint8_t *z = vector_frame(&zlen, &root), *want = c2sp_of(vector_entry, &want_len);
	uint8_t digest[32], sha[32], e[512];
	const uint8_t *raw, *data;
	struct eb_dec *d;

	(void)state;
	assert_int_equal(eb_dec_new(&d), 0);
	assert_int_equal(eb_decode(d, z, zlen), 0);
	eb_dec_raw(d, &raw, &raw_len);
	assert_int_equal(raw_len, tu_u64(root, "raw_len"));
	tu_unhex(tu_str(root, "raw_sha256"), digest, sizeof digest);
	crypto_hash_sha256(sha, raw, raw_len);
	assert_memory_equal(sha, digest, sizeof sha);
	assert_int_equal(raw_len, want_len);
	assert_memory_equal(raw, want, raw_len);
	for (unsigned j = 0; j < EB_ENTRIES; j++) {
		elen = vector_entry(j, e);
		eb_dec_entry(d, j, &data, &raw_len);
		assert_int_equal(raw_len, elen);
		assert_memory_equal(data, e, elen);
	}
	eb_dec_free(d);
	eb_dec_free(NULL);
	free(want);
	free(z);
	json_decref(root);
}

/* Entries of every length class: 1 byte, the maximum, and random ones. */
static size_t
mixed_entry(unsigned j, uint8_t *out)
{
	size_t n = j == 0 ? 1 : j == 1 ? CL_ENTRY_MAX : 1 + (j * 7919u) % 700;

	randombytes_buf_deterministic(out, n, (const uint8_t[32]){(uint8_t)j, (uint8_t)(j >> 8)});
	return n;
}

static void
test_roundtrip(void **state)
{
	static uint8_t e[CL_ENTRY_MAX + 1];
	struct eb_enc *enc;
	struct eb_dec *d;
	const uint8_t *z, *raw;
	size_t zlen, raw_len, want_len;
	uint8_t *want = c2sp_of(mixed_entry, &want_len);

	(void)state;
	assert_int_equal(eb_enc_new(&enc), 0);
	assert_int_equal(eb_dec_new(&d), 0);
	for (int round = 0; round < 2; round++) {
		eb_enc_reset(enc);
		assert_int_equal(eb_enc_add(enc, e, 0), CL_EINVAL);
		assert_int_equal(eb_enc_add(enc, e, CL_ENTRY_MAX + 1), CL_ETOOBIG);
		for (unsigned j = 0; j < EB_ENTRIES; j++) {
			size_t n = mixed_entry(j, e);

			if (j == EB_ENTRIES - 1)
				assert_int_equal(eb_enc_finish(enc, &z, &zlen), CL_EINVAL);
			assert_int_equal(eb_enc_add(enc, e, n), 0);
		}
		assert_int_equal(eb_enc_count(enc), EB_ENTRIES);
		assert_int_equal(eb_enc_add(enc, e, 1), CL_EINVAL); /* a 257th */
		assert_int_equal(eb_enc_finish(enc, &z, &zlen), 0);
		assert_int_equal(eb_decode(d, z, zlen), 0);
		eb_dec_raw(d, &raw, &raw_len);
		assert_int_equal(raw_len, want_len);
		assert_memory_equal(raw, want, raw_len);
	}
	eb_enc_free(enc);
	eb_enc_free(NULL);
	eb_dec_free(d);
	free(want);
}

static void
test_truncated(void **state)
{
	json_t *root;
	size_t zlen;
	uint8_t *z = vector_frame(&zlen, &root), *longer = malloc(zlen + 1);
	struct eb_dec *d;

	(void)state;
	assert_non_null(longer);
	assert_int_equal(eb_dec_new(&d), 0);
	for (size_t n = 0; n < zlen; n++)
		assert_int_equal(eb_decode(d, z, n), ST_ECORRUPT);
	memcpy(longer, z, zlen);
	longer[zlen] = 0;
	assert_int_equal(eb_decode(d, longer, zlen + 1), ST_ECORRUPT);
	assert_int_equal(eb_decode(d, z, zlen), 0);
	eb_dec_free(d);
	free(longer);
	free(z);
	json_decref(root);
}

/* Every single bit flip is refused, or (a bit zstd does not need, such as
 * a larger window) gives exactly the bundle: never other bytes. */
static void
test_bit_flips(void **state)
{
	json_t *root;
	size_t zlen, want_len, raw_len, refused = 0;
	uint8_t *z = vector_frame(&zlen, &root), *want = c2sp_of(vector_entry, &want_len);
	const uint8_t *raw;
	struct eb_dec *d;

	(void)state;
	assert_int_equal(eb_dec_new(&d), 0);
	for (size_t bit = 0; bit < zlen * 8; bit++) {
		int rc;

		z[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = eb_decode(d, z, zlen);
		z[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (rc == ST_ECORRUPT) {
			refused++;
			continue;
		}
		assert_int_equal(rc, 0);
		eb_dec_raw(d, &raw, &raw_len);
		assert_int_equal(raw_len, want_len);
		assert_memory_equal(raw, want, raw_len);
	}
	print_message("  %zu of %zu single bit flips refused, the rest decode to the same bundle\n",
	    refused, zlen * 8);
	assert_true(refused > zlen * 8 * 9 / 10);
	eb_dec_free(d);
	free(want);
	free(z);
	json_decref(root);
}

/* raw (len bytes) as one zstd frame, with a checksum and content size
 * unless told otherwise; *zlen its length; malloc'd. */
static uint8_t *
frame(const uint8_t *raw, size_t len, bool checksum, bool size_known, size_t *zlen)
{
	size_t cap = ZSTD_compressBound(len) + 64;
	uint8_t *z = malloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();

	assert_true(z != NULL && c != NULL);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum)));
	if (size_known) {
		*zlen = ZSTD_compress2(c, z, cap, raw, len);
	} else {
		ZSTD_inBuffer in = {raw, len, 0};
		ZSTD_outBuffer out = {z, cap, 0};

		/* Streamed without a pledged size: none in the header. */
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
		assert_int_equal(ZSTD_compressStream2(c, &out, &in, ZSTD_e_end), 0);
		*zlen = out.pos;
	}
	assert_false(ZSTD_isError(*zlen));
	ZSTD_freeCCtx(c);
	return z;
}

static void
test_not_bundles(void **state)
{
	size_t raw_len, zlen, z2len;
	uint8_t *raw = c2sp_of(vector_entry, &raw_len), *z, *two;
	struct eb_dec *d;
	/* The last entry's bytes, 2 + its length, end the bundle. */
	size_t last = 2 + (1 + (53u * 255) % 400);
	uint8_t skippable[16] = {0x50, 0x2a, 0x4d, 0x18, 8, 0, 0, 0};

	(void)state;
	raw = realloc(raw, EB_RAW_MAX);
	assert_non_null(raw);
	assert_int_equal(eb_dec_new(&d), 0);
	/* The good one, as the test makes frames. */
	z = frame(raw, raw_len, true, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), 0);
	/* Two frames, back to back. */
	two = malloc(2 * zlen);
	assert_non_null(two);
	memcpy(two, z, zlen);
	memcpy(two + zlen, z, zlen);
	assert_int_equal(eb_decode(d, two, 2 * zlen), ST_ECORRUPT);
	free(two);
	free(z);
	/* No checksum; no content size. */
	z = frame(raw, raw_len, false, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	z = frame(raw, raw_len, true, false, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	/* 255 entries. */
	z = frame(raw, raw_len - last, true, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	/* 257 entries; one byte after the last; a prefix past the end. */
	raw[raw_len] = 0;
	raw[raw_len + 1] = 1;
	raw[raw_len + 2] = 'x';
	z = frame(raw, raw_len + 3, true, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	z = frame(raw, raw_len + 1, true, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	raw[raw_len - last + 1]++;
	z = frame(raw, raw_len, true, true, &zlen);
	assert_int_equal(eb_decode(d, z, zlen), ST_ECORRUPT);
	free(z);
	raw[raw_len - last + 1]--;
	/* An empty entry (the first, then one more at the end to keep 256). */
	memmove(raw + 2, raw + 2 + 1, raw_len - 3);
	raw[0] = 0;
	raw[1] = 0;
	z = frame(raw, raw_len - 1, true, true, &z2len);
	assert_int_equal(eb_decode(d, z, z2len), ST_ECORRUPT);
	free(z);
	/* A skippable frame; nothing at all. */
	assert_int_equal(eb_decode(d, skippable, sizeof skippable), ST_ECORRUPT);
	assert_int_equal(eb_decode(d, skippable, 0), ST_ECORRUPT);
	eb_dec_free(d);
	free(raw);
}

/* A zstd failure in the encoder other than for memory is an internal
 * error, reported in its own band and named as zstd's, in zstd's words, by
 * eb_strerror and st_strerror; nothing outside the band is zstd's.  (The
 * failure itself cannot be driven: the encoder compresses into a buffer
 * of ZSTD_compressBound bytes, and libzstd's own allocations are not ours
 * to make fail.) */
static void
test_zstd_errors(void **state)
{
	static const ZSTD_ErrorCode codes[] = {ZSTD_error_GENERIC, ZSTD_error_parameter_unsupported,
	    ZSTD_error_stage_wrong, ZSTD_error_dstSize_tooSmall};
	static const int others[] = {
	    0, ENOMEM, CL_EINVAL, ST_ECORRUPT, EB_EZSTD, EB_EZSTD_LAST - 1};

	(void)state;
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		int rc = EB_EZSTD - (int)codes[i];
		char want[128];

		snprintf(want, sizeof want, "zstd: %s", ZSTD_getErrorString(codes[i]));
		assert_true(rc < EB_EZSTD && rc >= EB_EZSTD_LAST);
		assert_non_null(eb_strerror(rc));
		assert_string_equal(eb_strerror(rc), want);
		assert_string_equal(st_strerror(rc), want);
	}
	assert_non_null(eb_strerror(EB_EZSTD_LAST));
	assert_memory_equal(eb_strerror(EB_EZSTD_LAST), "zstd: ", 6);
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		assert_null(eb_strerror(others[i]));
	assert_string_equal(st_strerror(ST_ECORRUPT), "store is inconsistent");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answer),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_not_bundles),
	    cmocka_unit_test(test_zstd_errors),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
