/*
 * ebundle.c: full entry bundles as stored, one zstd frame each.
 *
 * Why this shape.  Envelopes of one bundle share most of their structure
 * (field tags, the payload type, store path prefixes, key IDs, URLs), and
 * next to each other in one frame zstd finds it without a dictionary to
 * train, ship and version; a bundle is also the unit a sequential reader
 * (the indexer's catch-up, tiles/entries, audits) wants whole.  The frame
 * holds the bundle exactly as C2SP serves it, so serving a full bundle is
 * one decompression and one copy.  The decoder trusts nothing it reads: it
 * checks the frame's declared size before allocating, decompresses into a
 * buffer of exactly that size, and walks every length prefix, so that
 * whatever the bytes, it either yields 256 entries or refuses.
 */
#include "ebundle.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "cl.h"
#include "store.h"

/* RFC 8878 3.1.1.1.1: the Frame_Header_Descriptor (the byte after the
 * magic number) has the Content_Checksum_Flag in bit 2. */
#define FHD_CHECKSUM 0x04

struct eb_enc {
	ZSTD_CCtx *cctx;
	uint8_t *raw, *z;
	size_t raw_len, raw_cap, z_cap;
	size_t n;
};

struct eb_dec {
	ZSTD_DCtx *dctx;
	uint8_t *raw;
	size_t raw_len, raw_cap;
	uint32_t off[EB_ENTRIES]; /* where entry j's bytes start in raw */
	uint16_t len[EB_ENTRIES];
};

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Make *buf hold at least want bytes (growing by doubling). */
static int
grow(uint8_t **buf, size_t *cap, size_t want)
{
	size_t c = *cap == 0 ? 65536 : *cap;
	uint8_t *p;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	if ((p = realloc(*buf, c)) == NULL)
		return ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

int
eb_enc_new(struct eb_enc **out)
{
	struct eb_enc *e = calloc(1, sizeof *e);

	*out = NULL;
	if (e == NULL || (e->cctx = ZSTD_createCCtx()) == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel, EB_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_checksumFlag, 1))) {
		eb_enc_free(e);
		return ENOMEM;
	}
	*out = e;
	return 0;
}

void
eb_enc_free(struct eb_enc *e)
{
	if (e == NULL)
		return;
	ZSTD_freeCCtx(e->cctx);
	free(e->raw);
	free(e->z);
	free(e);
}

void
eb_enc_reset(struct eb_enc *e)
{
	e->raw_len = 0;
	e->n = 0;
}

size_t
eb_enc_count(const struct eb_enc *e)
{
	return e->n;
}

int
eb_enc_add(struct eb_enc *e, const uint8_t *data, size_t len)
{
	int rc;

	if (len == 0 || e->n >= EB_ENTRIES)
		return CL_EINVAL;
	if (len > CL_ENTRY_MAX)
		return CL_ETOOBIG;
	if ((rc = grow(&e->raw, &e->raw_cap, e->raw_len + 2 + len)) != 0)
		return rc;
	e->raw[e->raw_len] = (uint8_t)(len >> 8);
	e->raw[e->raw_len + 1] = (uint8_t)len;
	memcpy(e->raw + e->raw_len + 2, data, len);
	e->raw_len += 2 + len;
	e->n++;
	return 0;
}

/* Our code for a failed zstd call's result z. */
static int
zstd_error(size_t z)
{
	ZSTD_ErrorCode c = ZSTD_getErrorCode(z);

	if (c == ZSTD_error_memory_allocation)
		return ENOMEM;
	return (int)c < EB_EZSTD - EB_EZSTD_LAST ? EB_EZSTD - (int)c : EB_EZSTD_LAST;
}

/* "zstd: " and zstd's words for each code of the band (code c at c - 1),
 * made once: the messages must outlive every call, as strerror's do. */
static char zstd_msgs[EB_EZSTD - EB_EZSTD_LAST][96];
static pthread_once_t zstd_msgs_once = PTHREAD_ONCE_INIT;

static void
zstd_msgs_make(void)
{
	for (int c = 1; c <= EB_EZSTD - EB_EZSTD_LAST; c++)
		snprintf(zstd_msgs[c - 1], sizeof zstd_msgs[c - 1], "zstd: %s",
		    ZSTD_getErrorString((ZSTD_ErrorCode)c));
}

const char *
eb_strerror(int rc)
{
	if (rc >= EB_EZSTD || rc < EB_EZSTD_LAST)
		return NULL;
	pthread_once(&zstd_msgs_once, zstd_msgs_make);
	return zstd_msgs[EB_EZSTD - rc - 1];
}

int
eb_enc_finish(struct eb_enc *e, const uint8_t **out, size_t *len)
{
	size_t bound, n;
	int rc;

	if (e->n != EB_ENTRIES)
		return CL_EINVAL;
	bound = ZSTD_compressBound(e->raw_len);
	if ((rc = grow(&e->z, &e->z_cap, bound)) != 0)
		return rc;
	/* A one-shot compression: the frame records the content size. */
	n = ZSTD_compress2(e->cctx, e->z, e->z_cap, e->raw, e->raw_len);
	if (ZSTD_isError(n))
		return zstd_error(n);
	*out = e->z;
	*len = n;
	return 0;
}

int
eb_dec_new(struct eb_dec **out)
{
	struct eb_dec *d = calloc(1, sizeof *d);

	*out = NULL;
	if (d == NULL || (d->dctx = ZSTD_createDCtx()) == NULL) {
		eb_dec_free(d);
		return ENOMEM;
	}
	*out = d;
	return 0;
}

void
eb_dec_free(struct eb_dec *d)
{
	if (d == NULL)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d->raw);
	free(d);
}

/* Walk the length prefixes of d->raw: exactly EB_ENTRIES entries of 1 ..
 * CL_ENTRY_MAX bytes, filling it to the end. */
static int
entries_index(struct eb_dec *d)
{
	size_t at = 0;

	for (unsigned j = 0; j < EB_ENTRIES; j++) {
		size_t n;

		if (d->raw_len - at < 2)
			return ST_ECORRUPT;
		n = (size_t)d->raw[at] << 8 | d->raw[at + 1];
		at += 2;
		if (n == 0 || n > d->raw_len - at)
			return ST_ECORRUPT;
		d->off[j] = (uint32_t)at;
		d->len[j] = (uint16_t)n;
		at += n;
	}
	return at == d->raw_len ? 0 : ST_ECORRUPT;
}

int
eb_decode(struct eb_dec *d, const uint8_t *z, size_t len)
{
	unsigned long long size;
	size_t got;
	int rc;

	d->raw_len = 0;
	/* Exactly one frame (zstd's magic, not a skippable frame), all of z,
	 * with a content checksum (so that a flipped bit in the data is
	 * refused rather than served), no dictionary, and a declared size in
	 * range, before allocating. */
	if (len < 5 || le32(z) != ZSTD_MAGICNUMBER || (z[4] & FHD_CHECKSUM) == 0 ||
	    ZSTD_findFrameCompressedSize(z, len) != len || ZSTD_getDictID_fromFrame(z, len) != 0)
		return ST_ECORRUPT;
	size = ZSTD_getFrameContentSize(z, len);
	if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
	    size < (unsigned long long)EB_ENTRIES * 3 || size > EB_RAW_MAX)
		return ST_ECORRUPT;
	if ((rc = grow(&d->raw, &d->raw_cap, (size_t)size)) != 0)
		return rc;
	/* Into a buffer of exactly the declared size: a frame that
	 * decompresses to more fails, one that gives less is caught below. */
	got = ZSTD_decompressDCtx(d->dctx, d->raw, (size_t)size, z, len);
	if (ZSTD_isError(got)) {
		if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
			return ENOMEM;
		return ST_ECORRUPT;
	}
	if (got != size)
		return ST_ECORRUPT;
	d->raw_len = got;
	if ((rc = entries_index(d)) != 0)
		d->raw_len = 0;
	return rc;
}

void
eb_dec_raw(const struct eb_dec *d, const uint8_t **raw, size_t *len)
{
	*raw = d->raw;
	*len = d->raw_len;
}

void
eb_dec_entry(const struct eb_dec *d, unsigned j, const uint8_t **data, size_t *len)
{
	*data = d->raw + d->off[j];
	*len = d->len[j];
}
