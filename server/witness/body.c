/*
 * body.c: the tlog-witness add-checkpoint request body, both ways.
 *
 * The witness parses it from the network and closurelogd writes it for its
 * witnesses, so one module holds both directions and the fuzz target checks
 * that they agree: whatever parses formats back to the same bytes, which
 * makes "one spelling per body" a tested property rather than a hope.
 */
#include "witness.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"

#define OLD_PREFIX     "old "
#define OLD_PREFIX_LEN 4
#define HASH_B64_LEN   CL_B64_LEN(MT_HASH_LEN)

int
wit_body_parse(const uint8_t *buf, size_t len, struct wit_body *out, char *why)
{
	const char *p = (const char *)buf, *end, *nl;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (buf == NULL) {
		rc = cl_why(why, CL_EINVAL, "add-checkpoint body missing");
		goto fail;
	}
	if (len > WIT_BODY_MAX) {
		rc = cl_why(why, CL_ETOOBIG, "add-checkpoint body is %zu bytes, more than %d", len,
		    WIT_BODY_MAX);
		goto fail;
	}
	end = p + len;
	nl = memchr(p, '\n', len);
	if (nl == NULL || nl - p < OLD_PREFIX_LEN || memcmp(p, OLD_PREFIX, OLD_PREFIX_LEN) != 0) {
		rc = cl_why(why, CL_EINVAL, "add-checkpoint body does not start with an old line");
		goto fail;
	}
	if (cl_u64_parse(p + OLD_PREFIX_LEN, (size_t)(nl - p) - OLD_PREFIX_LEN, &out->old) != 0) {
		rc = cl_why(why, CL_EINVAL,
		    "old size is not a decimal without leading zeros that fits 64 bits");
		goto fail;
	}
	p = nl + 1;
	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			rc = cl_why(why, CL_EINVAL,
			    "add-checkpoint body has no empty line before its checkpoint");
			goto fail;
		}
		if (nl == p)
			break;
		if (out->n_proof == WIT_PROOF_MAX) {
			rc = cl_why(why, CL_ETOOBIG, "consistency proof has more than %d hashes",
			    WIT_PROOF_MAX);
			goto fail;
		}
		if (nl - p != HASH_B64_LEN ||
		    cl_b64_decode(p, HASH_B64_LEN, out->proof[out->n_proof], MT_HASH_LEN, &n) !=
		        0 ||
		    n != MT_HASH_LEN) {
			rc = cl_why(why, CL_EINVAL,
			    "consistency proof line %zu is not canonical base64 of 32 bytes",
			    out->n_proof + 1);
			goto fail;
		}
		out->n_proof++;
		p = nl + 1;
	}
	p = nl + 1;
	if (p == end) {
		rc = cl_why(why, CL_EINVAL, "add-checkpoint body has no checkpoint");
		goto fail;
	}
	out->note = (const uint8_t *)p;
	out->note_len = (size_t)(end - p);
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return rc;
}

int
wit_body_format(const struct wit_body *b, uint8_t *out, size_t cap, size_t *outlen)
{
	char line[OLD_PREFIX_LEN + 20 + 2];
	size_t pos, need;
	int n;

	*outlen = 0;
	if (b->n_proof > WIT_PROOF_MAX || b->note == NULL || b->note_len == 0)
		return CL_EINVAL;
	n = snprintf(line, sizeof line, OLD_PREFIX "%" PRIu64 "\n", b->old);
	need = (size_t)n + b->n_proof * (HASH_B64_LEN + 1) + 1 + b->note_len;
	if (need > cap || need > WIT_BODY_MAX)
		return CL_ETOOBIG;
	memcpy(out, line, (size_t)n);
	pos = (size_t)n;
	for (size_t i = 0; i < b->n_proof; i++) {
		char h[HASH_B64_LEN + 1];

		cl_b64_encode(b->proof[i], MT_HASH_LEN, h, sizeof h);
		memcpy(out + pos, h, HASH_B64_LEN);
		pos += HASH_B64_LEN;
		out[pos++] = '\n';
	}
	out[pos++] = '\n';
	memcpy(out + pos, b->note, b->note_len);
	*outlen = pos + b->note_len;
	return 0;
}
