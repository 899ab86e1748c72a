/*
 * tproof.h: the C2SP offline inclusion proof, c2sp.org/tlog-proof@v1
 * (tiles-and-witness.md §4):
 *
 *   c2sp.org/tlog-proof@v1\n
 *   [extra <base64>\n]
 *   index <decimal>\n
 *   <base64 hash>\n ...            (0 .. 64 lines, leaf to root)
 *   \n
 *   <checkpoint, a signed note, verbatim>
 *
 * Parsing is strict (one spelling per proof) and allocation-free: the
 * result points into the caller's buffer.  The checkpoint is not verified
 * here; callers pass it to sth_open().
 */
#ifndef CL_TPROOF_H
#define CL_TPROOF_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

#define TPROOF_HEADER    "c2sp.org/tlog-proof@v1\n"
#define TPROOF_EXTRA_MAX 4096        /* longest base64 "extra" value we accept */
#define TPROOF_MAX_SIZE  (16 * 1024) /* whole file: 64 hashes and a checkpoint of up to 8 KiB */

struct tproof {
	uint64_t index;
	size_t n_path;
	uint8_t path[MT_INCLUSION_MAX][MT_HASH_LEN];
	const char *extra; /* base64 text of the extra line, or NULL; unauthenticated */
	size_t extra_len;
	const uint8_t *checkpoint; /* the signed note, to the end of the input */
	size_t checkpoint_len;
};

/* Parse buf[0..len).  Rejects: a wrong header, a malformed or non-canonical
 * index (leading zeros, sign, overflow), more than 64 hashes, a hash line
 * that is not strict base64 of exactly 32 bytes, an extra line that is not
 * strict base64, a missing blank line, an empty checkpoint, len above
 * TPROOF_MAX_SIZE.  Returns 0 or CL_EINVAL / CL_ETOOBIG with *out zeroed. */
int tproof_parse(const uint8_t *buf, size_t len, struct tproof *out, char *why)
    __attribute__((warn_unused_result));

/* Write p (with extra, if p->extra is not NULL, and p->checkpoint verbatim)
 * into out (capacity cap).  Returns 0 and sets *outlen, or CL_ETOOBIG /
 * CL_EINVAL (n_path > 64). */
int tproof_format(const struct tproof *p, uint8_t *out, size_t cap, size_t *outlen);

#endif
