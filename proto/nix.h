/*
 * nix.h: Nix hash encodings and store-path syntax (attestations.md §3-4).
 *
 * nix32 is Nix's base-32: alphabet "0123456789abcdfghijklmnpqrsvwxyz", the
 * bytes read as one little-endian integer, most significant digit first.
 * A hash is written as SRI ("sha256-<base64>", canonical for closurelog),
 * "<algo>:<digest>" or a bare digest, where the digest's encoding (base16,
 * nix32 or base64) is inferred from its length.
 * No allocation.  Errors are CL_EINVAL with a one-line reason in `why`.
 */
#ifndef CL_NIX_H
#define CL_NIX_H

#include <stddef.h>
#include <stdint.h>

#include "cl.h"

#define NIX_STORE_DIR      "/nix/store/"
#define NIX_HASH_PART_LEN  32 /* nix32 characters of a store path's hash part */
#define NIX_NAME_MAX       211
#define NIX_STORE_PATH_MAX (11 + NIX_HASH_PART_LEN + 1 + NIX_NAME_MAX)
#define NIX_SRI_SHA256_LEN (7 + 44)      /* "sha256-" + padded base64 */
#define NIX_HASH_STR_MAX   (7 + 128 + 1) /* longest hash string we format, + NUL */

enum nix_algo {
	NIX_MD5 = 1,
	NIX_SHA1,
	NIX_SHA256,
	NIX_SHA512,
};

struct nix_hash {
	enum nix_algo algo;
	uint8_t len; /* 16, 20, 32 or 64 */
	uint8_t bytes[64];
};

/* Characters of the nix32 encoding of nbytes bytes: (8*nbytes - 1)/5 + 1,
 * and 0 for 0 bytes. */
size_t nix_base32_len(size_t nbytes);

/* nix32 of in[0..len) into out (nix_base32_len(len) + 1 bytes, NUL-terminated). */
void nix_base32_encode(const uint8_t *in, size_t len, char *out);

/* Decode exactly nix_base32_len(len) characters into out[0..len).  Rejects
 * characters outside the alphabet and bits beyond len bytes (a 52-char
 * sha256 starting with '2' or higher).  Returns 0 or CL_EINVAL. */
int nix_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t len)
    __attribute__((warn_unused_result));

/* Parse a hash in any form Nix accepts: SRI "<algo>-<base64>" (padding
 * optional), "<algo>:<base16 (any case)|nix32|base64>", or, when
 * default_algo is not 0, a bare digest of that algorithm.  default_algo
 * applies to bare digests only: a prefixed hash of another algorithm is
 * accepted as that algorithm, so callers that need one algorithm check
 * h->algo.  Input longer than NIX_HASH_STR_MAX is refused.  Returns 0, or
 * CL_EINVAL with *h zeroed. */
int nix_hash_parse(const char *s, size_t len, enum nix_algo default_algo, struct nix_hash *h,
    char *why) __attribute__((warn_unused_result));

/* Write h as padded SRI ("sha256-...") into out, NUL-terminated
 * (NIX_HASH_STR_MAX bytes suffice).  Returns the length, or 0 if cap is too
 * small or h is inconsistent (unknown algorithm, or a length that is not
 * the algorithm's). */
size_t nix_hash_sri(const struct nix_hash *h, char *out, size_t cap);

/* Check that s[0..len) is a canonical SRI sha256 narHash: exactly
 * "sha256-" + 44 characters of padded strict base64 of 32 bytes.  On
 * success, if digest is not NULL, it receives the 32 bytes (zeroed on
 * failure).  Returns 0 or CL_EINVAL. */
int nix_nar_hash_check(const char *s, size_t len, uint8_t digest[32], char *why)
    __attribute__((warn_unused_result));

/* Check a store path: "/nix/store/" + 32 nix32 characters + "-" + a name
 * of 1 .. 211 characters from [A-Za-z0-9+-._?=], not "." or "..", not
 * starting with ".-" or "..-"; nothing after it (no trailing '/').
 * Returns 0 or CL_EINVAL, naming the first thing wrong. */
int nix_store_path_check(const char *s, size_t len, char *why) __attribute__((warn_unused_result));

/* Name of an algorithm ("sha256"), or NULL. */
const char *nix_algo_name(enum nix_algo a);

#endif
