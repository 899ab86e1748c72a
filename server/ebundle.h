/*
 * ebundle.h: the stored form of a full entry bundle (store.h's bundles
 * database): the 256 entries of C2SP tlog-tiles entry bundle N, in that
 * bundle's own byte format (per entry a big-endian uint16 length, then the
 * entry), as one zstd frame.
 *
 * The frame records its decompressed size and a checksum of it (XXH64, 4
 * bytes); the decoder refuses anything but exactly one frame, with a
 * checksum that matches, without a dictionary, whose content size is
 * known, at most EB_RAW_MAX, and is exactly what decompressing gives,
 * holding exactly
 * EB_ENTRIES entries of 1 .. CL_ENTRY_MAX bytes with nothing after the last.
 * The stored bytes are input like any other: a damaged value is refused,
 * never trusted.
 *
 * One encoder per writing thread, one decoder per reading thread; neither
 * is shared.
 */
#ifndef CL_EBUNDLE_H
#define CL_EBUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define EB_ENTRIES 256
#define EB_RAW_MAX ((size_t)EB_ENTRIES * (2 + CL_ENTRY_MAX))

/* The zstd level bundles are written with: docs/design.md ("Entry
 * bundles") has the measurements behind it. */
#define EB_LEVEL (-3)

struct eb_enc;
struct eb_dec;

/* A new encoder (empty), in *out: the caller's (eb_enc_free).  Returns 0 or
 * ENOMEM. */
int eb_enc_new(struct eb_enc **out) __attribute__((warn_unused_result));

/* Free an encoder.  NULL is fine. */
void eb_enc_free(struct eb_enc *e);

/* Start a new bundle, dropping whatever was added. */
void eb_enc_reset(struct eb_enc *e);

/* Entries added to the bundle being built. */
size_t eb_enc_count(const struct eb_enc *e);

/* Add the next entry: len bytes from data (copied; borrowed for the call).
 * Returns 0, CL_EINVAL (len 0, or EB_ENTRIES added already), CL_ETOOBIG
 * (len above CL_ENTRY_MAX) or ENOMEM. */
int eb_enc_add(struct eb_enc *e, const uint8_t *data, size_t len)
    __attribute__((warn_unused_result));

/* zstd failed for a reason other than memory: with a buffer of
 * ZSTD_compressBound bytes that is an internal error (zstd refused how it
 * was called), reported as EB_EZSTD minus zstd's ZSTD_ErrorCode, in
 * [EB_EZSTD_LAST, EB_EZSTD) (a code past the band gets EB_EZSTD_LAST);
 * eb_strerror names it, in zstd's words. */
#define EB_EZSTD      (-1400)
#define EB_EZSTD_LAST (-1499)

/* An EB_EZSTD code's message: "zstd: " and zstd's own description (a
 * static string, which st_strerror passes on), or NULL for a code outside
 * the band.  Safe from any thread. */
const char *eb_strerror(int rc);

/* Compress the EB_ENTRIES entries added: *out points at *len bytes owned by
 * the encoder, valid until its next call.  Returns 0, CL_EINVAL (fewer than
 * EB_ENTRIES added), ENOMEM (zstd could not allocate, or the output buffer
 * could not grow) or an EB_EZSTD code (any other zstd failure). */
int eb_enc_finish(struct eb_enc *e, const uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/* A new decoder, in *out: the caller's (eb_dec_free).  Returns 0 or ENOMEM. */
int eb_dec_new(struct eb_dec **out) __attribute__((warn_unused_result));

/* Free a decoder.  NULL is fine. */
void eb_dec_free(struct eb_dec *d);

/* Decode a stored bundle (untrusted: z, len borrowed for the call) into the
 * decoder, replacing what it held.  Returns 0, ST_ECORRUPT for anything but
 * a well-formed bundle (see the top of this file; the decoder then holds
 * nothing), or ENOMEM. */
int eb_decode(struct eb_dec *d, const uint8_t *z, size_t len) __attribute__((warn_unused_result));

/* The decoded bundle in C2SP entry bundle form: *raw points at *len bytes
 * owned by the decoder, valid until its next eb_decode or eb_dec_free.
 * Only after eb_decode returned 0. */
void eb_dec_raw(const struct eb_dec *d, const uint8_t **raw, size_t *len);

/* Entry j (< EB_ENTRIES) of the decoded bundle, valid as eb_dec_raw's.
 * Only after eb_decode returned 0. */
void eb_dec_entry(const struct eb_dec *d, unsigned j, const uint8_t **data, size_t *len);

#endif
