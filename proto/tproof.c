/*
 * tproof.c: c2sp.org/tlog-proof@v1 files, the offline inclusion proof a
 * client can carry around next to the entry it proves.
 *
 * The file is a header, an optional unauthenticated "extra" line, the entry
 * index, the audit path and then a signed checkpoint verbatim.  Parsing
 * accepts exactly one spelling of each value, which is what lets
 * tproof_format() give back the input byte for byte (the fuzz target
 * checks it).  Nothing here is trusted: the checkpoint goes to sth_open()
 * and the path to mt_inclusion_verify() by the caller.
 */
#include "tproof.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"

#define HEADER_LEN   (sizeof TPROOF_HEADER - 1)
#define EXTRA_PREFIX "extra "
#define INDEX_PREFIX "index "
#define PREFIX_LEN   6 /* both prefixes */
#define HASH_B64_LEN CL_B64_LEN(MT_HASH_LEN)

/* Non-empty strict base64 of at most TPROOF_EXTRA_MAX characters. */
static int
extra_check(const char *s, size_t n)
{
	uint8_t buf[TPROOF_EXTRA_MAX / 4 * 3];
	size_t got = 0;

	if (n == 0 || n > TPROOF_EXTRA_MAX)
		return -1;
	return cl_b64_decode(s, n, buf, sizeof buf, &got) == 0 ? 0 : -1;
}

int
tproof_parse(const uint8_t *buf, size_t len, struct tproof *out, char *why)
{
	const char *p = (const char *)buf, *end, *nl;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (buf == NULL) {
		rc = cl_why(why, CL_EINVAL, "tlog-proof missing");
		goto fail;
	}
	if (len > TPROOF_MAX_SIZE) {
		rc = cl_why(
		    why, CL_ETOOBIG, "tlog-proof is %zu bytes, more than %d", len, TPROOF_MAX_SIZE);
		goto fail;
	}
	end = p + len;
	if (len < HEADER_LEN || memcmp(p, TPROOF_HEADER, HEADER_LEN) != 0) {
		rc = cl_why(why, CL_EINVAL, "tlog-proof does not start with %.*s",
		    (int)HEADER_LEN - 1, TPROOF_HEADER);
		goto fail;
	}
	p += HEADER_LEN;

	/* Each line is taken only if it ends in '\n'. */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl != NULL && nl - p >= PREFIX_LEN && memcmp(p, EXTRA_PREFIX, PREFIX_LEN) == 0) {
		if (extra_check(p + PREFIX_LEN, (size_t)(nl - p) - PREFIX_LEN) != 0) {
			rc = cl_why(why, CL_EINVAL,
			    "tlog-proof extra is not non-empty canonical base64 of at most %d "
			    "characters",
			    TPROOF_EXTRA_MAX);
			goto fail;
		}
		out->extra = p + PREFIX_LEN;
		out->extra_len = (size_t)(nl - p) - PREFIX_LEN;
		p = nl + 1;
		nl = memchr(p, '\n', (size_t)(end - p));
	}

	if (nl == NULL || nl - p < PREFIX_LEN || memcmp(p, INDEX_PREFIX, PREFIX_LEN) != 0) {
		rc = cl_why(why, CL_EINVAL, "tlog-proof has no index line after its header");
		goto fail;
	}
	if (cl_u64_parse(p + PREFIX_LEN, (size_t)(nl - p) - PREFIX_LEN, &out->index) != 0) {
		rc = cl_why(why, CL_EINVAL,
		    "tlog-proof index is not a decimal without leading zeros that fits 64 bits");
		goto fail;
	}
	p = nl + 1;

	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			rc = cl_why(
			    why, CL_EINVAL, "tlog-proof has no blank line before its checkpoint");
			goto fail;
		}
		if (nl == p)
			break;
		if (out->n_path == MT_INCLUSION_MAX) {
			rc = cl_why(why, CL_ETOOBIG, "tlog-proof has more than %d hashes",
			    MT_INCLUSION_MAX);
			goto fail;
		}
		if (nl - p != HASH_B64_LEN ||
		    cl_b64_decode(p, HASH_B64_LEN, out->path[out->n_path], MT_HASH_LEN, &n) != 0 ||
		    n != MT_HASH_LEN) {
			rc = cl_why(why, CL_EINVAL,
			    "tlog-proof hash %zu is not canonical base64 of 32 bytes",
			    out->n_path + 1);
			goto fail;
		}
		out->n_path++;
		p = nl + 1;
	}
	p = nl + 1;
	if (p == end) {
		rc = cl_why(why, CL_EINVAL, "tlog-proof has no checkpoint");
		goto fail;
	}
	out->checkpoint = (const uint8_t *)p;
	out->checkpoint_len = (size_t)(end - p);
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return rc;
}

int
tproof_format(const struct tproof *p, uint8_t *out, size_t cap, size_t *outlen)
{
	char idx[32];
	size_t need, pos = 0;
	int n;

	*outlen = 0;
	if (p == NULL || p->n_path > MT_INCLUSION_MAX)
		return CL_EINVAL;
	/* Refuse what tproof_parse would refuse, so that output always
	 * parses back to p. */
	if (p->checkpoint == NULL || p->checkpoint_len == 0)
		return CL_EINVAL;
	if (p->extra != NULL && extra_check(p->extra, p->extra_len) != 0)
		return CL_EINVAL;
	n = snprintf(idx, sizeof idx, INDEX_PREFIX "%" PRIu64 "\n", p->index);
	if (n <= 0 || (size_t)n >= sizeof idx)
		return CL_EINVAL;
	need = HEADER_LEN + (size_t)n + p->n_path * (HASH_B64_LEN + 1) + 1;
	if (p->extra != NULL)
		need += PREFIX_LEN + p->extra_len + 1;
	if (p->checkpoint_len > TPROOF_MAX_SIZE || need + p->checkpoint_len > TPROOF_MAX_SIZE)
		return CL_ETOOBIG;
	need += p->checkpoint_len;
	if (out == NULL || need > cap)
		return CL_ETOOBIG;

	memcpy(out, TPROOF_HEADER, HEADER_LEN);
	pos += HEADER_LEN;
	if (p->extra != NULL) {
		memcpy(out + pos, EXTRA_PREFIX, PREFIX_LEN);
		pos += PREFIX_LEN;
		memcpy(out + pos, p->extra, p->extra_len);
		pos += p->extra_len;
		out[pos++] = '\n';
	}
	memcpy(out + pos, idx, (size_t)n);
	pos += (size_t)n;
	for (size_t i = 0; i < p->n_path; i++) {
		char b64[HASH_B64_LEN + 1];

		cl_b64_encode(p->path[i], MT_HASH_LEN, b64, sizeof b64);
		memcpy(out + pos, b64, HASH_B64_LEN);
		pos += HASH_B64_LEN;
		out[pos++] = '\n';
	}
	out[pos++] = '\n';
	memmove(out + pos, p->checkpoint, p->checkpoint_len);
	pos += p->checkpoint_len;
	*outlen = pos;
	return 0;
}
