/*
 * nix.c: Nix's hash spellings and store-path syntax, checked strictly.
 *
 * Attestations name their subjects the way Nix does: store paths, and NAR
 * hashes written as SRI, "<algo>:<digest>" or bare digests in base16, nix32
 * or base64.  The log accepts all the spellings Nix accepts on the way in,
 * but keeps exactly one (padded SRI) on the way out, so every check here
 * turns a spelling into bytes or refuses it with the reason; nothing is
 * repaired or guessed.  Every function works on caller buffers and on
 * (pointer, length) input, so embedded NULs are data to reject, not the end
 * of the string, and lengths are capped before any byte is looked at.
 */
#include "nix.h"

#include <string.h>

#include "cl.h"

static const char b32_alphabet[32] = "0123456789abcdfghijklmnpqrsvwxyz";

static const struct {
	enum nix_algo algo;
	const char *name;
	size_t len;
} algos[] = {
    {NIX_MD5, "md5", 16},
    {NIX_SHA1, "sha1", 20},
    {NIX_SHA256, "sha256", 32},
    {NIX_SHA512, "sha512", 64},
};

#define NALGOS      (sizeof algos / sizeof algos[0])
#define B64_MAX     88 /* padded base64 of the longest digest */
#define HASH_IN_MAX (NIX_HASH_STR_MAX - 1)

/* Index into algos[] of a, or -1. */
static int
algo_index(enum nix_algo a)
{
	for (size_t i = 0; i < NALGOS; i++) {
		if (algos[i].algo == a)
			return (int)i;
	}
	return -1;
}

/* Each nix32 digit's value plus one, by byte (0: not a digit), so that a
 * store path's 32 digits cost a load each, not a scan of the alphabet
 * (nix_test holds it to b32_alphabet for all 256 bytes). */
static const uint8_t b32_value[256] = {['0'] = 1,
    ['1'] = 2,
    ['2'] = 3,
    ['3'] = 4,
    ['4'] = 5,
    ['5'] = 6,
    ['6'] = 7,
    ['7'] = 8,
    ['8'] = 9,
    ['9'] = 10,
    ['a'] = 11,
    ['b'] = 12,
    ['c'] = 13,
    ['d'] = 14,
    ['f'] = 15,
    ['g'] = 16,
    ['h'] = 17,
    ['i'] = 18,
    ['j'] = 19,
    ['k'] = 20,
    ['l'] = 21,
    ['m'] = 22,
    ['n'] = 23,
    ['p'] = 24,
    ['q'] = 25,
    ['r'] = 26,
    ['s'] = 27,
    ['v'] = 28,
    ['w'] = 29,
    ['x'] = 30,
    ['y'] = 31,
    ['z'] = 32};

/* Value of a nix32 digit, or -1 (NUL and bytes from 0x80 up included). */
static int
b32_digit(unsigned char c)
{
	return (int)b32_value[c] - 1;
}

/* A byte as a reason names it: "character 'x'" if printable ASCII, else
 * "byte 0xNN", so that reasons stay one printable line. */
static const char *
show(unsigned char c, char buf[16])
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\'') {
		memcpy(buf, "character 'x'", 14);
		buf[11] = (char)c;
	} else {
		memcpy(buf, "byte 0x", 7);
		buf[7] = hex[c >> 4];
		buf[8] = hex[c & 15];
		buf[9] = '\0';
	}
	return buf;
}

size_t
nix_base32_len(size_t nbytes)
{
	/* (8n - 1)/5 + 1 is ceil(8n/5); split by 5 so 8n cannot overflow. */
	return nbytes / 5 * 8 + (nbytes % 5 * 8 + 4) / 5;
}

void
nix_base32_encode(const uint8_t *in, size_t len, char *out)
{
	size_t n = nix_base32_len(len);

	for (size_t k = 0; k < n; k++) {
		size_t b = 5 * k, i = b / 8;
		unsigned j = b % 8, c = in[i] >> j;

		if (i + 1 < len)
			c |= (unsigned)in[i + 1] << (8 - j);
		/* Digit k (least significant first) is printed at n-1-k. */
		out[n - 1 - k] = b32_alphabet[c & 31];
	}
	out[n] = '\0';
}

/* nix_base32_decode, saying what is wrong in why (if not NULL), with `what`
 * naming the field and `base` added to offsets so they count from the start
 * of the caller's string.  Clears out on failure. */
static int
b32_decode(const char *in, size_t inlen, uint8_t *out, size_t len, char *why, const char *what,
    size_t base)
{
	char cb[16];
	int rc = CL_EINVAL;

	memset(out, 0, len);
	if (inlen != nix_base32_len(len)) {
		cl_why(why, rc, "%s: nix32 of %zu bytes is %zu characters, not %zu", what, len,
		    nix_base32_len(len), inlen);
		goto out;
	}
	/* Validate the alphabet first so a bad character is reported before
	 * any overflow it might also cause. */
	for (size_t k = 0; k < inlen; k++) {
		if (b32_digit((unsigned char)in[k]) < 0) {
			cl_why(why, rc, "%s: %s at offset %zu is not in the nix32 alphabet", what,
			    show((unsigned char)in[k], cb), base + k);
			goto out;
		}
	}
	for (size_t n = 0; n < inlen; n++) {
		unsigned d = (unsigned)b32_digit((unsigned char)in[inlen - 1 - n]);
		size_t b = 5 * n, i = b / 8;
		unsigned j = b % 8;

		out[i] |= (uint8_t)(d << j);
		if ((d >> (8 - j)) != 0) {
			if (i + 1 >= len) {
				cl_why(why, rc,
				    "%s: nix32 %s at offset %zu sets bits beyond %zu bytes", what,
				    show((unsigned char)in[inlen - 1 - n], cb),
				    base + inlen - 1 - n, len);
				goto out;
			}
			out[i + 1] |= (uint8_t)(d >> (8 - j));
		}
	}
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, len);
	return rc;
}

int
nix_base32_decode(const char *in, size_t inlen, uint8_t *out, size_t len)
{
	if (in == NULL && inlen != 0)
		return CL_EINVAL;
	return b32_decode(in, inlen, out, len, NULL, "nix32", 0);
}

/* Strict base16 of exactly 2*len digits, either case (why, what and base
 * as for b32_decode). */
static int
b16_decode(const char *in, size_t inlen, uint8_t *out, size_t len, char *why, const char *what,
    size_t base)
{
	char cb[16];
	size_t stop;

	if (cl_hex_decode_at(in, inlen, out, len, &stop) == 0)
		return 0;
	if (stop < inlen)
		return cl_why(why, CL_EINVAL, "%s: %s at offset %zu is not a base16 digit", what,
		    show((unsigned char)in[stop], cb), base + stop);
	return cl_why(why, CL_EINVAL, "%s: base16 does not decode to %zu bytes", what, len);
}

/* Strict standard base64 of len bytes: padded, or (if padded is 0) exactly
 * unpadded, with zero trailing bits either way (why, what and base as for
 * b32_decode). */
static int
b64_decode(const char *in, size_t inlen, uint8_t *out, size_t len, int padded, char *why,
    const char *what, size_t base)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char buf[B64_MAX + 1], cb[16];
	size_t full = CL_B64_LEN(len), bare = (4 * len + 2) / 3, got = 0, stop;
	const char *pad;

	if (inlen != (padded ? full : bare))
		return cl_why(why, CL_EINVAL, "%s: base64 of %zu bytes is %zu characters, not %zu",
		    what, len, padded ? full : bare, inlen);
	/* Unpadded input gets its padding put back first, since
	 * cl_b64_decode takes only the padded form. */
	memcpy(buf, in, inlen);
	memset(buf + inlen, '=', full - inlen);
	buf[full] = '\0';
	if (cl_b64_decode_at(buf, full, out, len, &got, &stop) == 0 && got == len)
		return 0;
	/* Where libsodium stopped names the byte at fault, unless it is one of
	 * the alphabet that follows padding put too early. */
	if (stop < inlen && buf[stop] != '=' && memchr(alpha, buf[stop], 64) == NULL)
		return cl_why(why, CL_EINVAL, "%s: %s at offset %zu is not in the base64 alphabet",
		    what, show((unsigned char)buf[stop], cb), base + stop);
	if ((pad = memchr(buf, '=', inlen)) != NULL && (size_t)(pad - buf) < bare)
		return cl_why(why, CL_EINVAL,
		    "%s: base64 padding '=' at offset %zu is before the end of the digest", what,
		    base + (size_t)(pad - buf));
	return cl_why(why, CL_EINVAL,
	    "%s: base64 is not the canonical encoding of %zu bytes "
	    "(padding or trailing bits)",
	    what, len);
}

/* Decode a digest of algos[ai] whose encoding is told by its length (the
 * "<algo>:" and bare forms). */
static int
digest_by_length(const char *d, size_t dlen, int ai, uint8_t *out, char *why, size_t base)
{
	size_t n = algos[ai].len;

	if (dlen == 2 * n)
		return b16_decode(d, dlen, out, n, why, "hash", base);
	if (dlen == nix_base32_len(n))
		return b32_decode(d, dlen, out, n, why, "hash", base);
	if (dlen == CL_B64_LEN(n))
		return b64_decode(d, dlen, out, n, 1, why, "hash", base);
	return cl_why(why, CL_EINVAL,
	    "hash: %s digest of %zu characters is not base16 (%zu), nix32 (%zu) or base64 (%zu)",
	    algos[ai].name, dlen, 2 * n, nix_base32_len(n), (size_t)CL_B64_LEN(n));
}

int
nix_hash_parse(const char *s, size_t len, enum nix_algo default_algo, struct nix_hash *h, char *why)
{
	size_t p;
	int ai = -1, rc = CL_EINVAL;

	memset(h, 0, sizeof *h);
	if (s == NULL || len == 0) {
		cl_why(why, rc, "hash: empty");
		goto out;
	}
	if (len > HASH_IN_MAX) {
		cl_why(why, rc, "hash: %zu characters, longer than the %d of any hash", len,
		    HASH_IN_MAX);
		goto out;
	}
	if (default_algo != 0 && algo_index(default_algo) < 0) {
		cl_why(why, rc, "hash: default algorithm %d is not one we know", (int)default_algo);
		goto out;
	}
	/* Neither separator occurs in an algorithm name or in any of the
	 * digest alphabets, so the first one found is the only candidate. */
	for (p = 0; p < len && s[p] != ':' && s[p] != '-'; p++)
		;
	if (p == len) {
		if (default_algo == 0) {
			cl_why(why, rc, "hash: no \"<algo>:\" or \"<algo>-\" prefix");
			goto out;
		}
		ai = algo_index(default_algo);
		rc = digest_by_length(s, len, ai, h->bytes, why, 0);
		goto out;
	}
	for (size_t i = 0; i < NALGOS && ai < 0; i++) {
		if (strlen(algos[i].name) == p && memcmp(algos[i].name, s, p) == 0)
			ai = (int)i;
	}
	if (ai < 0) {
		char cb[16];
		size_t k;

		/* Quote the name only when that keeps the reason one short,
		 * printable line. */
		for (k = 0; k < p && s[k] > ' ' && s[k] < 0x7f; k++)
			;
		if (p == 0)
			cl_why(why, rc, "hash: empty algorithm before '%c'", s[p]);
		else if (k < p)
			cl_why(why, rc, "hash: %s at offset %zu in the algorithm name",
			    show((unsigned char)s[k], cb), k);
		else if (p <= 16)
			cl_why(why, rc, "hash: unknown algorithm \"%.*s\"", (int)p, s);
		else
			cl_why(why, rc, "hash: unknown algorithm of %zu characters", p);
		goto out;
	}
	if (s[p] == ':') {
		rc = digest_by_length(s + p + 1, len - p - 1, ai, h->bytes, why, p + 1);
	} else {
		/* SRI is always base64; the unpadded spelling is the only
		 * other one Nix takes. */
		size_t dlen = len - p - 1, n = algos[ai].len;

		if (dlen != CL_B64_LEN(n) && dlen != (4 * n + 2) / 3) {
			cl_why(why, rc,
			    "hash: SRI %s digest is %zu characters, not %zu (or %zu unpadded)",
			    algos[ai].name, dlen, (size_t)CL_B64_LEN(n), (4 * n + 2) / 3);
			goto out;
		}
		rc = b64_decode(
		    s + p + 1, dlen, h->bytes, n, dlen == CL_B64_LEN(n), why, "hash", p + 1);
	}
out:
	if (rc == 0) {
		h->algo = algos[ai].algo;
		h->len = (uint8_t)algos[ai].len;
	} else {
		memset(h, 0, sizeof *h);
	}
	return rc;
}

size_t
nix_hash_sri(const struct nix_hash *h, char *out, size_t cap)
{
	int ai = algo_index(h->algo);
	size_t p, n;

	if (out == NULL || cap == 0)
		return 0;
	out[0] = '\0';
	if (ai < 0 || h->len != algos[ai].len)
		return 0;
	p = strlen(algos[ai].name);
	if (cap < p + 1 + CL_B64_LEN(h->len) + 1)
		return 0;
	memcpy(out, algos[ai].name, p);
	out[p++] = '-';
	n = cl_b64_encode(h->bytes, h->len, out + p, cap - p);
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	return p + n;
}

int
nix_nar_hash_check(const char *s, size_t len, uint8_t digest[32], char *why)
{
	uint8_t d[32];
	int rc = CL_EINVAL;

	if (s == NULL || len == 0) {
		cl_why(why, rc, "narHash: empty");
		goto out;
	}
	if (len != NIX_SRI_SHA256_LEN) {
		cl_why(why, rc, "narHash: %zu characters, not the %d of SRI sha256", len,
		    NIX_SRI_SHA256_LEN);
		goto out;
	}
	if (memcmp(s, "sha256-", 7) != 0) {
		cl_why(why, rc, "narHash: does not start with \"sha256-\"");
		goto out;
	}
	if ((rc = b64_decode(s + 7, len - 7, d, sizeof d, 1, why, "narHash", 7)) != 0)
		goto out;
	if (digest != NULL)
		memcpy(digest, d, sizeof d);
out:
	if (rc != 0 && digest != NULL)
		memset(digest, 0, 32);
	return rc;
}

static int
name_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '-' || c == '.' || c == '_' || c == '?' || c == '=';
}

int
nix_store_path_check(const char *s, size_t len, char *why)
{
	const size_t dl = sizeof NIX_STORE_DIR - 1, hp = dl + NIX_HASH_PART_LEN;
	const char *name;
	size_t nlen;
	char cb[16];

	if (s == NULL || len == 0)
		return cl_why(why, CL_EINVAL, "store path: empty");
	if (len > NIX_STORE_PATH_MAX)
		return cl_why(why, CL_EINVAL,
		    "store path: %zu characters, longer than the %d allowed (name at most %d)", len,
		    NIX_STORE_PATH_MAX, NIX_NAME_MAX);
	if (len < dl || memcmp(s, NIX_STORE_DIR, dl) != 0)
		return cl_why(
		    why, CL_EINVAL, "store path: does not start with \"%s\"", NIX_STORE_DIR);
	for (size_t k = dl; k < hp; k++) {
		if (k == len)
			return cl_why(why, CL_EINVAL,
			    "store path: hash part is %zu characters, not %d", len - dl,
			    NIX_HASH_PART_LEN);
		/* 32 nix32 digits are exactly 160 bits: no excess to check. */
		if (b32_digit((unsigned char)s[k]) < 0) {
			if (s[k] == '-')
				return cl_why(why, CL_EINVAL,
				    "store path: hash part is %zu characters, not %d", k - dl,
				    NIX_HASH_PART_LEN);
			return cl_why(why, CL_EINVAL,
			    "store path: %s at offset %zu is not in the nix32 alphabet",
			    show((unsigned char)s[k], cb), k);
		}
	}
	if (len == hp)
		return cl_why(why, CL_EINVAL, "store path: no '-' and name after the hash part");
	if (s[hp] != '-')
		return cl_why(why, CL_EINVAL,
		    "store path: %s at offset %zu should be '-' after the %d-character "
		    "hash part",
		    show((unsigned char)s[hp], cb), hp, NIX_HASH_PART_LEN);
	name = s + hp + 1;
	nlen = len - hp - 1;
	if (nlen == 0)
		return cl_why(why, CL_EINVAL, "store path: empty name");
	/* The length cap above already bounds nlen by NIX_NAME_MAX. */
	for (size_t k = 0; k < nlen; k++) {
		unsigned char c = (unsigned char)name[k];

		if (name_char_ok(c))
			continue;
		if (c == '/' && k == nlen - 1)
			return cl_why(
			    why, CL_EINVAL, "store path: trailing '/' at offset %zu", hp + 1 + k);
		return cl_why(why, CL_EINVAL,
		    "store path: %s at offset %zu is not allowed in a name", show(c, cb),
		    hp + 1 + k);
	}
	if ((nlen == 1 && name[0] == '.') || (nlen == 2 && memcmp(name, "..", 2) == 0))
		return cl_why(
		    why, CL_EINVAL, "store path: name \"%.*s\" is not allowed", (int)nlen, name);
	if ((nlen >= 2 && memcmp(name, ".-", 2) == 0) || (nlen >= 3 && memcmp(name, "..-", 3) == 0))
		return cl_why(why, CL_EINVAL, "store path: name may not start with \"%s\"",
		    name[1] == '-' ? ".-" : "..-");
	return 0;
}

const char *
nix_algo_name(enum nix_algo a)
{
	int ai = algo_index(a);

	return ai < 0 ? NULL : algos[ai].name;
}
