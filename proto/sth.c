/*
 * sth.c: signed tree heads as C2SP checkpoints.
 *
 * A checkpoint is three lines of text signed as a note.  This module only
 * adds the text layer on top of note.c: it writes the one spelling of
 * (origin, size, root) and, when reading, accepts nothing else, so that two
 * parties who agree on a tree head also agree on its bytes.  sth_open()
 * follows the client order of the spec: verify the note first, then compare
 * the origin, then read size and root; unverified text is never parsed into
 * a struct sth by it.
 */
#include "sth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "merkle.h"

#define ROOT_B64_LEN CL_B64_LEN(MT_HASH_LEN) /* 44 */

static int
root_is_empty_tree(const uint8_t root[MT_HASH_LEN])
{
	uint8_t empty[MT_HASH_LEN];

	mt_empty_root(empty);
	return memcmp(root, empty, MT_HASH_LEN) == 0;
}

size_t
sth_format(const struct sth *s, char *buf, size_t cap)
{
	char root[ROOT_B64_LEN + 1];
	size_t olen = strnlen(s->origin, sizeof s->origin);

	if (cap > 0)
		buf[0] = '\0';
	if (olen == 0 || olen > STH_ORIGIN_MAX)
		return 0;
	/* An origin with '\n' or a control byte would change the lines. */
	if (note_text_check((const uint8_t *)s->origin, olen, NULL) != 0 ||
	    memchr(s->origin, '\n', olen) != NULL)
		return 0;
	if (cl_b64_encode(s->root, MT_HASH_LEN, root, sizeof root) != ROOT_B64_LEN)
		return 0;
	return cl_format(buf, cap, "%s\n%" PRIu64 "\n%s\n", s->origin, s->size, root);
}

int
sth_parse(const char *text, size_t len, struct sth *out, char *why)
{
	const char *p, *end, *nl;
	size_t n = 0, no;
	int rc;

	memset(out, 0, sizeof *out);
	if (text == NULL || len == 0) {
		rc = cl_why(why, CL_EINVAL, "checkpoint text is empty");
		goto fail;
	}
	if (len > NOTE_MAX_SIZE) {
		rc = cl_why(why, CL_EINVAL, "checkpoint text is %zu bytes, more than %d", len,
		    NOTE_MAX_SIZE);
		goto fail;
	}
	if (text[len - 1] != '\n') {
		rc = cl_why(why, CL_EINVAL, "checkpoint text does not end in a newline");
		goto fail;
	}
	if ((rc = note_text_check((const uint8_t *)text, len, why)) != 0)
		goto fail;
	p = text;
	end = text + len;

	/* Every line below ends in '\n': the text does. */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == p) {
		rc = cl_why(why, CL_EINVAL, "checkpoint origin line is empty");
		goto fail;
	}
	if ((size_t)(nl - p) > STH_ORIGIN_MAX) {
		rc = cl_why(why, CL_EINVAL, "checkpoint origin is %zu bytes, more than %d",
		    (size_t)(nl - p), STH_ORIGIN_MAX);
		goto fail;
	}
	memcpy(out->origin, p, (size_t)(nl - p));
	p = nl + 1;

	if (p == end) {
		rc = cl_why(why, CL_EINVAL, "checkpoint has 1 line, not at least 3");
		goto fail;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	if (cl_u64_parse(p, (size_t)(nl - p), &out->size) != 0) {
		rc = cl_why(why, CL_EINVAL,
		    "checkpoint size is not a decimal without leading zeros that fits 64 bits");
		goto fail;
	}
	p = nl + 1;

	if (p == end) {
		rc = cl_why(why, CL_EINVAL, "checkpoint has 2 lines, not at least 3");
		goto fail;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	/* Check the length before decoding: 31 and 33 bytes are 44
	 * characters too, so the decoded length is checked as well. */
	if ((size_t)(nl - p) != ROOT_B64_LEN ||
	    cl_b64_decode(p, ROOT_B64_LEN, out->root, sizeof out->root, &n) != 0 ||
	    n != MT_HASH_LEN) {
		rc = cl_why(why, CL_EINVAL, "checkpoint root is not canonical base64 of 32 bytes");
		goto fail;
	}
	p = nl + 1;

	if (p < end) {
		out->ext = p;
		out->ext_len = (size_t)(end - p);
		for (no = 1; p < end; no++) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == p) {
				rc = cl_why(
				    why, CL_EINVAL, "checkpoint extension line %zu is empty", no);
				goto fail;
			}
			p = nl + 1;
		}
	}
	if (out->size == 0 && !root_is_empty_tree(out->root)) {
		rc = cl_why(
		    why, CL_EINVAL, "checkpoint of size 0 does not carry the empty-tree root");
		goto fail;
	}
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return rc;
}

int
sth_sign(const struct sth *s, const struct note_signer *log, uint8_t *out, size_t cap,
    size_t *outlen, char *why)
{
	char text[STH_TEXT_MAX + 1];
	size_t n;

	*outlen = 0;
	if (s == NULL || log == NULL)
		return cl_why(why, CL_EINVAL, "checkpoint or log key missing");
	/* Never sign what a witness or our own parser would refuse. */
	if (s->size == 0 && !root_is_empty_tree(s->root))
		return cl_why(
		    why, CL_EINVAL, "a checkpoint of size 0 must carry the empty-tree root");
	if ((n = sth_format(s, text, sizeof text)) == 0)
		return cl_why(why, CL_EINVAL,
		    "checkpoint origin is empty, too long, or has control characters");
	return note_sign(log, (const uint8_t *)text, n, out, cap, outlen, why);
}

int
sth_open(const uint8_t *msg, size_t len, const struct note_verifier *log, const char *origin,
    struct sth *out, char *why)
{
	struct note note;
	const uint8_t *nl;
	size_t olen;
	int rc;

	memset(out, 0, sizeof *out);
	if (log == NULL)
		return cl_why(why, CL_EINVAL, "log key missing");
	if (log->type != NOTE_TYPE_ED25519)
		return cl_why(why, CL_EINVAL,
		    "log key %s is of type 0x%02x, not an Ed25519 note key", log->name, log->type);
	if ((rc = note_open(msg, len, log, 1, &note, why)) != 0)
		return rc;
	if (origin != NULL) {
		/* The text ends in '\n', so its first line is complete. */
		nl = memchr(msg, '\n', note.text_len);
		olen = (size_t)(nl - msg);
		if (olen != strlen(origin) || memcmp(msg, origin, olen) != 0)
			return cl_why(why, CL_EORIGIN, "checkpoint origin is \"%.*s\", not \"%s\"",
			    (int)(olen < 100 ? olen : 100), (const char *)msg, origin);
	}
	return sth_parse((const char *)msg, note.text_len, out, why);
}
