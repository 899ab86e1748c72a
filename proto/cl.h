/*
 * cl.h: closurelog's shared error codes, one-line reasons, and strict
 * base64/hex helpers over libsodium.
 *
 * Error convention (STYLE.md): 0 is success; our codes are negative, in bands
 * (MT_E* -1000.., CL_E* -1100..); positive values are errno.  cl_strerror()
 * names any of them.  Functions that judge untrusted input also take
 * `char *why` (CL_WHY_MAX bytes, may be NULL) and write there a one-line
 * reason naming the field and what is wrong with it.
 */
#ifndef CL_CL_H
#define CL_CL_H

#include <stddef.h>
#include <stdint.h>

#define CL_WHY_MAX 256

#define CL_EINVAL    (-1101) /* malformed input */
#define CL_ETOOBIG   (-1102) /* input exceeds a size or count cap */
#define CL_ENONCANON (-1103) /* valid but not in the one canonical encoding */
#define CL_EBADSIG   (-1104) /* a signature does not verify */
#define CL_ENOKEY    (-1105) /* no signature by an accepted key */
#define CL_EKEYPERM  (-1106) /* private key file is readable by group or others */
#define CL_ENOMEM    (-1107) /* out of memory (or out of arena) */
#define CL_ECRYPTO   (-1108) /* libsodium failed */
#define CL_EORIGIN   (-1109) /* checkpoint origin is not the expected one */
#define CL_ETYPE     (-1110) /* unexpected payload or key type */
#define CL_EMISMATCH (-1111) /* valid, but not what the caller asked for */

/* Static description of any code: 0, MT_E*, CL_E*, or a positive errno. */
const char *cl_strerror(int code);

/* Write a formatted one-line reason into why (if why is not NULL), and
 * return rc unchanged, so that `return cl_why(why, CL_EINVAL, "...")` works. */
int cl_why(char *why, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same for a caller's buffer of cap bytes (the libclosurelog-verify
 * err/err_len convention): nothing is written when why is NULL or cap is 0. */
int cl_why_n(char *why, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Format into buf (cap bytes) all or nothing: returns the length written,
 * or 0 with buf empty (when cap > 0) if it does not fit or cannot be
 * formatted, so that no caller can use a cut line. */
size_t cl_format(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copy s[0..n) into out (cap >= 1 bytes, always NUL-terminated), stopping
 * at a NUL or a '\n' and at cap - 1 bytes, with every byte outside
 * printable ASCII replaced by '?': text from untrusted input (an HTTP
 * reason, a URL) then prints as one line.  out may be s.  Returns the
 * length written. */
size_t cl_line_copy(char *out, size_t cap, const char *s, size_t n);

/* Strict standard base64 (RFC 4648 §4, with padding, canonical trailing
 * bits) of exactly inlen characters into out (capacity cap).  Returns 0 and
 * sets *outlen, or CL_EINVAL (also when out is too small). */
int cl_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
    __attribute__((warn_unused_result));

/* cl_b64_decode, and on failure *stop (if not NULL) is the offset at which
 * decoding stopped: the first byte that is not base64 where it stands
 * (padding included), or inlen when the length is wrong or nothing but the
 * final bits are. */
int cl_b64_decode_at(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen,
    size_t *stop) __attribute__((warn_unused_result));

/* Standard padded base64 of in[0..len) into out (capacity cap, NUL added).
 * Returns the length written (without NUL), or 0 if cap is too small. */
size_t cl_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Base64 length (without NUL) of len bytes. */
#define CL_B64_LEN(len) ((((len) + 2) / 3) * 4)

/* A canonical ASCII decimal of exactly n bytes (digits only, no sign, no
 * leading zeros except "0" itself) that fits a uint64.  Returns 0, or -1
 * (and leaves *v alone). */
int cl_u64_parse(const char *s, size_t n, uint64_t *v) __attribute__((warn_unused_result));

/* Big-endian integers, as signed notes and the store's keys hold them. */
static inline uint32_t
cl_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
cl_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t
cl_be64_get(const uint8_t *p)
{
	return (uint64_t)cl_be32_get(p) << 32 | cl_be32_get(p + 4);
}

static inline void
cl_be64_put(uint8_t *p, uint64_t v)
{
	cl_be32_put(p, (uint32_t)(v >> 32));
	cl_be32_put(p + 4, (uint32_t)v);
}

/* A C2SP key ID as we spell it everywhere: exactly 8 lowercase hex digits. */
#define CL_KEYID_LEN 8

/* Parse s[0..len) as a key ID in that one spelling into *id.  Returns 0 or
 * CL_EINVAL (and leaves *id alone). */
int cl_keyid_parse(const char *s, size_t len, uint32_t *id) __attribute__((warn_unused_result));

/* Lowercase hex of in[0..len) into out (2*len + 1 bytes, NUL-terminated). */
void cl_hex_encode(const uint8_t *in, size_t len, char *out);

/* Exactly 2*len hex digits (either case) into out[0..len).  Returns 0 or
 * CL_EINVAL. */
int cl_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t len)
    __attribute__((warn_unused_result));

/* cl_hex_decode, and on failure *stop (if not NULL) is the offset of the
 * first byte that is not a hex digit, or inlen when the length is wrong. */
int cl_hex_decode_at(const char *in, size_t inlen, uint8_t *out, size_t len, size_t *stop)
    __attribute__((warn_unused_result));

#endif
