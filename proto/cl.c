/*
 * cl.c: error names, reasons, and the strict encodings every parser shares.
 *
 * All base64 and hex goes through libsodium, whose decoders reject stray
 * characters and non-zero padding bits, so that each value has exactly one
 * accepted spelling.
 */
#include "cl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"

const char *
cl_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case MT_EINVAL:
		return "index or size out of range";
	case MT_EBADPROOF:
		return "proof does not lead to the expected root";
	case MT_EPROOFLEN:
		return "proof has the wrong number of hashes";
	case MT_EFULL:
		return "tree is full";
	case MT_ENOTILE:
		return "a needed tile is missing";
	case CL_EINVAL:
		return "malformed input";
	case CL_ETOOBIG:
		return "input too large";
	case CL_ENONCANON:
		return "non-canonical encoding";
	case CL_EBADSIG:
		return "signature does not verify";
	case CL_ENOKEY:
		return "no signature by an accepted key";
	case CL_EKEYPERM:
		return "private key file is readable by others";
	case CL_ENOMEM:
		return "out of memory";
	case CL_ECRYPTO:
		return "cryptographic library failure";
	case CL_EORIGIN:
		return "unexpected checkpoint origin";
	case CL_ETYPE:
		return "unexpected type";
	case CL_EMISMATCH:
		return "does not match what was expected";
	}
	if (code > 0)
		return strerror(code);
	return "unknown error";
}

static int
why_v(char *why, size_t cap, int rc, const char *fmt, va_list ap)
{
	if (why != NULL && cap > 0)
		vsnprintf(why, cap, fmt, ap);
	return rc;
}

int
cl_why(char *why, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = why_v(why, CL_WHY_MAX, rc, fmt, ap);
	va_end(ap);
	return rc;
}

int
cl_why_n(char *why, size_t cap, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = why_v(why, cap, rc, fmt, ap);
	va_end(ap);
	return rc;
}

size_t
cl_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

int
cl_b64_decode_at(
    const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen, size_t *stop)
{
	const char *end = NULL;
	size_t n = 0;

	*outlen = 0;
	if (stop != NULL)
		*stop = inlen;
	/* Padded base64 is always a multiple of 4; libsodium also insists. */
	if (inlen % 4 != 0 || inlen / 4 * 3 > cap + 2)
		return CL_EINVAL;
	/* libsodium 1.0.18 decodes every byte from 0x80 up as '/', which would
	 * give a value a second spelling: refuse them first.  No early exit,
	 * since private keys pass through here too. */
	{
		unsigned high = 0;

		for (size_t i = 0; i < inlen; i++)
			high |= (unsigned char)in[i] >> 7;
		if (high != 0) {
			for (size_t i = 0; stop != NULL && i < inlen; i++) {
				if ((unsigned char)in[i] >= 0x80) {
					*stop = i;
					break;
				}
			}
			return CL_EINVAL;
		}
	}
	/* With an end pointer libsodium stops at the first byte it cannot
	 * use instead of failing: that is where the input is wrong. */
	if (sodium_base642bin(
	        out, cap, in, inlen, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + inlen) {
		if (stop != NULL && end != NULL)
			*stop = (size_t)(end - in);
		return CL_EINVAL;
	}
	*outlen = n;
	return 0;
}

int
cl_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
{
	return cl_b64_decode_at(in, inlen, out, cap, outlen, NULL);
}

size_t
cl_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

	if (cap < need)
		return 0;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return need - 1;
}

int
cl_u64_parse(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int
cl_keyid_parse(const char *s, size_t len, uint32_t *id)
{
	uint32_t v = 0;

	if (len != CL_KEYID_LEN)
		return CL_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			v = v << 4 | (uint32_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = v << 4 | (uint32_t)(s[i] - 'a' + 10);
		else
			return CL_EINVAL;
	}
	*id = v;
	return 0;
}

void
cl_hex_encode(const uint8_t *in, size_t len, char *out)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

int
cl_hex_decode_at(const char *in, size_t inlen, uint8_t *out, size_t len, size_t *stop)
{
	const char *end = NULL;
	size_t n = 0;
	int rc;

	if (stop != NULL)
		*stop = inlen;
	if (inlen != 2 * len)
		return CL_EINVAL;
	/* With an end pointer libsodium stops at the first byte that is not a
	 * digit; it fails only when that leaves an odd digit, and then points
	 * at that digit, one before the byte at fault (inlen is even here). */
	rc = sodium_hex2bin(out, len, in, inlen, NULL, &n, &end);
	if (rc == 0 && n == len && end == in + inlen)
		return 0;
	if (stop != NULL && end != NULL)
		*stop = (size_t)(end - in) + (rc != 0);
	return CL_EINVAL;
}

int
cl_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t len)
{
	return cl_hex_decode_at(in, inlen, out, len, NULL);
}

size_t
cl_line_copy(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	for (; k < n && k + 1 < cap && s[k] != '\0' && s[k] != '\n'; k++)
		out[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
	out[k] = '\0';
	return k;
}
