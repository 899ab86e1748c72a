/*
 * evidence.c: fork evidence in JSON (evidence.h, docs/audit.md).
 *
 * The file is JSON so that other tools can read it, but the reader is as
 * strict as a binary decoder: the keys are a fixed set, each present once,
 * hashes are canonical base64 of exactly 32 bytes, and the checkpoints are
 * carried verbatim as strings, so that their signatures can be checked on
 * the bytes the log signed.  Judging is separate from parsing: a file can
 * be well formed and prove nothing.
 */
#include "evidence.h"

#include "closurelog/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cl.h"
#include "sth.h"

_Static_assert(EVIDENCE_MAX == CLOSURELOG_EVIDENCE_MAX, "one cap for evidence");
_Static_assert(EVIDENCE_MSG_MAX <= sizeof(((struct closurelog_evidence_result *)0)->message),
    "the judge's message fits the result");

#define FORMAT "closurelog fork evidence v1"

static json_t *
hash_json(const uint8_t h[MT_HASH_LEN])
{
	char b64[CL_B64_LEN(MT_HASH_LEN) + 1];

	cl_b64_encode(h, MT_HASH_LEN, b64, sizeof b64);
	return json_string(b64);
}

static json_t *
hashes_json(const uint8_t (*h)[MT_HASH_LEN], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, hash_json(h[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int
evidence_encode(const struct evidence *ev, char **out, size_t *len)
{
	json_t *j = NULL;
	char *text;
	size_t n;

	*out = NULL;
	*len = 0;
	if (ev->n_proof > MT_PROOF_MAX || ev->n_log_proof > MT_PROOF_MAX ||
	    ev->old_len > CL_CHECKPOINT_MAX || ev->new_len > CL_CHECKPOINT_MAX)
		return CL_EINVAL;
	/* json_pack fails (NULL) on a string that is not UTF-8. */
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:s%, s:s%}",
	    "format", FORMAT, "status", ev->proven ? "proven" : "unproven", "reason", ev->reason,
	    "log_key", ev->vkey, "log_url", ev->url, "time", (json_int_t)ev->time, "old_size",
	    (json_int_t)ev->old_size, "new_size", (json_int_t)ev->new_size, "implied_old_root",
	    ev->have_implied ? hash_json(ev->implied) : json_null(), "proof",
	    hashes_json((const uint8_t(*)[MT_HASH_LEN])ev->proof, ev->n_proof), "log_proof",
	    ev->have_log_proof
	        ? hashes_json((const uint8_t(*)[MT_HASH_LEN])ev->log_proof, ev->n_log_proof)
	        : json_null(),
	    "old_checkpoint", (const char *)ev->old_note, ev->old_len, "new_checkpoint",
	    (const char *)ev->new_note, ev->new_len);
	if (j == NULL)
		return CL_EINVAL;
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		return ENOMEM;
	n = strlen(text);
	if ((*out = malloc(n + 2)) != NULL) {
		memcpy(*out, text, n);
		(*out)[n] = '\n';
		(*out)[n + 1] = '\0';
		*len = n + 1;
	}
	free(text);
	return *out != NULL ? 0 : ENOMEM;
}

/* A string field into out (cap bytes): printable, without NUL. */
static int
text_get(const char *s, size_t n, char *out, size_t cap)
{
	if (n + 1 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

static int
hash_get(const json_t *v, uint8_t out[MT_HASH_LEN])
{
	size_t got;

	if (!json_is_string(v) ||
	    cl_b64_decode(json_string_value(v), json_string_length(v), out, MT_HASH_LEN, &got) !=
	        0 ||
	    got != MT_HASH_LEN)
		return -1;
	return 0;
}

static int
hashes_get(const json_t *a, uint8_t (*out)[MT_HASH_LEN], size_t *n)
{
	if (!json_is_array(a) || json_array_size(a) > MT_PROOF_MAX)
		return -1;
	for (size_t i = 0; i < json_array_size(a); i++) {
		if (hash_get(json_array_get(a, i), out[i]) != 0)
			return -1;
	}
	*n = json_array_size(a);
	return 0;
}

static int
note_get(const char *s, size_t n, uint8_t *out, size_t *len)
{
	if (n > CL_CHECKPOINT_MAX)
		return -1;
	memcpy(out, s, n);
	*len = n;
	return 0;
}

static int
parse(const json_t *j, struct evidence *ev, char *why)
{
	const char *format, *status, *reason, *vkey, *url, *oldc, *newc;
	size_t reason_n, vkey_n, url_n, oldc_n, newc_n;
	json_int_t t, os, ns;
	json_t *implied, *proof, *log_proof;
	json_error_t jerr;

	if (json_unpack_ex((json_t *)j, &jerr, JSON_STRICT,
	        "{s:s, s:s, s:s%, s:s%, s:s%, s:I, s:I, s:I, s:o, s:o, s:o, s:s%, s:s%}", "format",
	        &format, "status", &status, "reason", &reason, &reason_n, "log_key", &vkey, &vkey_n,
	        "log_url", &url, &url_n, "time", &t, "old_size", &os, "new_size", &ns,
	        "implied_old_root", &implied, "proof", &proof, "log_proof", &log_proof,
	        "old_checkpoint", &oldc, &oldc_n, "new_checkpoint", &newc, &newc_n) != 0)
		return cl_why(why, CL_EINVAL, "%s", jerr.text);
	if (strcmp(format, FORMAT) != 0)
		return cl_why(why, CL_EINVAL, "format: not \"" FORMAT "\"");
	if (strcmp(status, "proven") == 0)
		ev->proven = true;
	else if (strcmp(status, "unproven") != 0)
		return cl_why(why, CL_EINVAL, "status: neither \"proven\" nor \"unproven\"");
	if (text_get(reason, reason_n, ev->reason, sizeof ev->reason) != 0)
		return cl_why(why, CL_EINVAL, "reason: too long or not one printable line");
	if (text_get(vkey, vkey_n, ev->vkey, sizeof ev->vkey) != 0)
		return cl_why(why, CL_EINVAL, "log_key: too long or not one printable line");
	if (text_get(url, url_n, ev->url, sizeof ev->url) != 0)
		return cl_why(why, CL_EINVAL, "log_url: too long or not one printable line");
	if (t < 0 || os < 0 || ns < 0)
		return cl_why(why, CL_EINVAL, "time, old_size, new_size: negative");
	ev->time = (uint64_t)t;
	ev->old_size = (uint64_t)os;
	ev->new_size = (uint64_t)ns;
	if (ev->old_size > ev->new_size)
		return cl_why(why, CL_EINVAL, "old_size is larger than new_size");
	if (!json_is_null(implied)) {
		if (hash_get(implied, ev->implied) != 0)
			return cl_why(why, CL_EINVAL,
			    "implied_old_root: neither null nor the base64 of a hash");
		ev->have_implied = true;
	}
	if (hashes_get(proof, ev->proof, &ev->n_proof) != 0)
		return cl_why(why, CL_EINVAL, "proof: not an array of at most %d base64 hashes",
		    MT_PROOF_MAX);
	if (!json_is_null(log_proof)) {
		if (hashes_get(log_proof, ev->log_proof, &ev->n_log_proof) != 0)
			return cl_why(why, CL_EINVAL,
			    "log_proof: neither null nor an array of at most %d base64 hashes",
			    MT_PROOF_MAX);
		ev->have_log_proof = true;
	}
	if (note_get(oldc, oldc_n, ev->old_note, &ev->old_len) != 0 ||
	    note_get(newc, newc_n, ev->new_note, &ev->new_len) != 0)
		return cl_why(why, CL_EINVAL,
		    "old_checkpoint, new_checkpoint: longer than %d bytes", CL_CHECKPOINT_MAX);
	return 0;
}

int
evidence_parse(const uint8_t *buf, size_t len, struct evidence *ev, char *why)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	memset(ev, 0, sizeof *ev);
	if (len > EVIDENCE_MAX)
		return cl_why(why, CL_EINVAL, "larger than %d bytes", EVIDENCE_MAX);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return cl_why(why, CL_EINVAL, "not JSON: %s (line %d, column %d)", jerr.text,
		    jerr.line, jerr.column);
	rc = parse(j, ev, why);
	json_decref(j);
	if (rc != 0)
		memset(ev, 0, sizeof *ev);
	return rc;
}

int
evidence_judge(const struct evidence *ev, const struct note_verifier *key, char *msg, size_t cap)
{
	struct sth o, nw;
	char vkey[NOTE_VKEY_MAX], why[CL_WHY_MAX];
	char r1[CL_B64_LEN(MT_HASH_LEN) + 1], r2[CL_B64_LEN(MT_HASH_LEN) + 1];
	const int no = CL_EMISMATCH;

	note_verifier_format(key, vkey, sizeof vkey);
	if (strcmp(vkey, ev->vkey) != 0) {
		snprintf(msg, cap, "the evidence is about the log key %s, not %s", ev->vkey, vkey);
		return no;
	}
	if (sth_open(ev->old_note, ev->old_len, key, NULL, &o, why) != 0) {
		snprintf(msg, cap, "the old checkpoint does not verify with the log key: %s", why);
		return no;
	}
	if (sth_open(ev->new_note, ev->new_len, key, NULL, &nw, why) != 0) {
		snprintf(msg, cap, "the new checkpoint does not verify with the log key: %s", why);
		return no;
	}
	if (strcmp(o.origin, nw.origin) != 0) {
		snprintf(msg, cap, "the checkpoints are for different origins (\"%s\", \"%s\")",
		    o.origin, nw.origin);
		return no;
	}
	if (o.size != ev->old_size || nw.size != ev->new_size) {
		snprintf(msg, cap, "old_size and new_size do not match the checkpoints' sizes");
		return no;
	}
	if (!ev->proven) {
		const char *r = ev->reason;

		if (strncmp(r, "unproven: ", 10) == 0)
			r += 10;
		snprintf(msg, cap, "the evidence is marked unproven: %.900s", r);
		return no;
	}
	cl_b64_encode(o.root, MT_HASH_LEN, r1, sizeof r1);
	cl_b64_encode(nw.root, MT_HASH_LEN, r2, sizeof r2);
	if (o.size == nw.size) {
		if (sodium_memcmp(o.root, nw.root, MT_HASH_LEN) == 0) {
			snprintf(msg, cap, "both checkpoints have the same root: no fork");
			return no;
		}
		snprintf(msg, cap,
		    "fork proven: %s signed two different roots for size %" PRIu64 " (%s and %s)",
		    o.origin, o.size, r1, r2);
		return 0;
	}
	if (o.size == 0) {
		snprintf(msg, cap, "the empty tree is a prefix of every tree: no fork");
		return no;
	}
	if (!ev->have_implied) {
		snprintf(msg, cap, "no implied_old_root to compare with the old checkpoint");
		return no;
	}
	if (mt_consistency_verify(
	        o.size, nw.size, ev->implied, nw.root, MT_PATH(ev->proof), ev->n_proof) != 0) {
		snprintf(msg, cap,
		    "the proof does not lead from implied_old_root at size %" PRIu64
		    " to the root of the checkpoint of size %" PRIu64,
		    o.size, nw.size);
		return no;
	}
	if (sodium_memcmp(ev->implied, o.root, MT_HASH_LEN) == 0) {
		snprintf(msg, cap,
		    "implied_old_root equals the old checkpoint's root: the "
		    "checkpoints are consistent");
		return no;
	}
	cl_b64_encode(ev->implied, MT_HASH_LEN, r2, sizeof r2);
	snprintf(msg, cap,
	    "fork proven: %s signed size %" PRIu64
	    " with root %s, but its signed tree of size %" PRIu64 " has root %s at size %" PRIu64,
	    o.origin, o.size, r1, nw.size, r2, o.size);
	return 0;
}

enum closurelog_status
closurelog_evidence_check(const char *log_key, const uint8_t *evidence, size_t len,
    struct closurelog_evidence_result *res)
{
	struct note_verifier key;
	struct evidence *ev = NULL;
	char why[CL_WHY_MAX];
	size_t klen;

	if (res == NULL)
		return CLOSURELOG_EUSAGE;
	memset(res, 0, sizeof *res);
	res->status = CLOSURELOG_EUSAGE;
	if (log_key == NULL || (evidence == NULL && len > 0)) {
		snprintf(res->message, sizeof res->message, "a NULL argument");
		return res->status;
	}
	klen = strnlen(log_key, NOTE_VKEY_MAX);
	if (klen >= NOTE_VKEY_MAX || note_verifier_parse(log_key, klen, &key, why) != 0 ||
	    key.type != NOTE_TYPE_ED25519) {
		snprintf(res->message, sizeof res->message,
		    "the log key is not an Ed25519 verifier key string");
		return res->status;
	}
	if (sodium_init() < 0 || (ev = malloc(sizeof *ev)) == NULL) {
		res->status = CLOSURELOG_ESYSTEM;
		snprintf(res->message, sizeof res->message, "out of memory, or no libsodium");
		return res->status;
	}
	if (evidence_parse(evidence, len, ev, why) != 0) {
		res->status = CLOSURELOG_EMALFORMED;
		snprintf(res->message, sizeof res->message, "malformed evidence: %s", why);
	} else {
		res->old_size = ev->old_size;
		res->new_size = ev->new_size;
		res->status = evidence_judge(ev, &key, res->message, sizeof res->message) == 0
		    ? CLOSURELOG_OK
		    : CLOSURELOG_ENOFORK;
	}
	free(ev);
	return res->status;
}
