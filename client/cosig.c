/*
 * cosig.c: witness options and cosignature checks for the client.
 *
 * The quorum check is note_open() with the witness keys, which sinks the
 * note on any bad line by a given witness and leaves the count of
 * distinct witnesses to note_keys_verified(): the same rule as
 * libclosurelog-verify, so that a checkpoint audit accepts is one a broker
 * accepts.  inspect judges each line on its own instead, so that one bad
 * line does not hide what the others are.
 */
#include "cosig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "cli.h"
#include "closurelog/verify.h"

#define COSIG_PAYLOAD 76 /* key ID (4) || timestamp (8) || Ed25519 signature (64) */

int
cli_witness_arg(void *ctx, const char *arg)
{
	struct cli_witnesses *w = ctx;
	struct note_verifier v;
	int rc;

	if ((rc = cli_verifier_arg("--witness", arg, &v)) != 0)
		return rc;
	if (v.type != NOTE_TYPE_COSIG)
		return cli_fail(CLI_USAGE,
		    "--witness %s: a type 0x%02x key, not a witness cosignature key (0x04)", v.name,
		    v.type);
	for (size_t i = 0; i < w->n; i++) {
		if (w->keys[i].id == v.id && strcmp(w->keys[i].name, v.name) == 0)
			return cli_fail(
			    CLI_USAGE, "--witness %s+%08" PRIx32 " is given twice", v.name, v.id);
	}
	if (w->n == CLI_WITNESS_MAX)
		return cli_fail(CLI_USAGE, "at most %d --witness keys", CLI_WITNESS_MAX);
	w->keys[w->n++] = v;
	return 0;
}

int
cli_witness_quorum_arg(void *ctx, const char *arg)
{
	struct cli_witnesses *w = ctx;
	uint64_t k;
	int rc;

	if ((rc = cli_u64_arg("--witness-quorum", arg, &k)) != 0)
		return rc;
	if (k == 0 || k > CLI_WITNESS_MAX)
		return cli_fail(CLI_USAGE, "--witness-quorum must be 1 to %d", CLI_WITNESS_MAX);
	w->quorum = (size_t)k;
	return 0;
}

int
cli_witness_finish(const struct cli_witnesses *w)
{
	if (w->quorum > 0 && w->n == 0)
		return cli_fail(CLI_USAGE, "--witness-quorum needs --witness keys");
	if (w->quorum > w->n)
		return cli_fail(CLI_USAGE, "--witness-quorum %zu, but only %zu --witness keys",
		    w->quorum, w->n);
	return 0;
}

size_t
cli_witness_need(const struct cli_witnesses *w)
{
	return w->quorum != 0 ? w->quorum : w->n;
}

int
cli_witness_check(const struct cli_witnesses *w, const uint8_t *note, size_t len, char *why)
{
	struct note *n;
	char sub[CL_WHY_MAX];
	size_t got = 0, need = cli_witness_need(w);
	int rc;

	if (w->n == 0)
		return 0;
	if ((n = malloc(sizeof *n)) == NULL)
		return cl_why(why, CLI_FAIL, "out of memory");
	rc = note_open(note, len, w->keys, w->n, n, sub);
	if (rc == 0)
		got = note_keys_verified(n, w->n);
	free(n);
	if (rc != 0 && rc != CL_ENOKEY)
		return cl_why(why, CLI_FAIL, "witness cosignature: %s", sub);
	if (got < need)
		return cl_why(why, CLI_FAIL,
		    "checkpoint is cosigned by %zu of the %zu witnesses given; %zu needed", got,
		    w->n, need);
	return 0;
}

int
cli_cosig_line(const struct cli_witnesses *w, const uint8_t *msg, const struct note *n, size_t i,
    struct cli_cosig *out)
{
	const struct note_sig *s = &n->sigs[i];
	const char *b64 = s->name + s->name_len + 1;
	size_t blen = (size_t)(s->line + s->line_len - 1 - b64), got = 0;
	uint8_t raw[COSIG_PAYLOAD], *one = NULL;
	struct note *on = NULL;
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->witness = -1;
	/* The note parsed, so the value is canonical base64 of >= 5 bytes. */
	if (blen == CL_B64_LEN(COSIG_PAYLOAD) &&
	    cl_b64_decode(b64, blen, raw, sizeof raw, &got) == 0 && got == COSIG_PAYLOAD) {
		out->has_time = true;
		out->timestamp = cl_be64_get(raw + 4);
	}
	if (w->n == 0)
		return 0;
	/* The line alone under the text: its own verdict. */
	if ((one = malloc(n->text_len + 1 + s->line_len)) == NULL ||
	    (on = malloc(sizeof *on)) == NULL) {
		rc = ENOMEM;
		goto out;
	}
	memcpy(one, msg, n->text_len);
	one[n->text_len] = '\n';
	memcpy(one + n->text_len + 1, s->line, s->line_len);
	switch (note_open(one, n->text_len + 1 + s->line_len, w->keys, w->n, on, NULL)) {
	case 0:
		out->status = CLI_COSIG_VALID;
		out->witness = on->sigs[0].key;
		out->timestamp = on->sigs[0].timestamp;
		break;
	case CL_EBADSIG:
		out->status = CLI_COSIG_INVALID;
		for (size_t k = 0; k < w->n; k++) {
			if (w->keys[k].id == s->id && strlen(w->keys[k].name) == s->name_len &&
			    memcmp(w->keys[k].name, s->name, s->name_len) == 0)
				out->witness = (int)k;
		}
		break;
	default:
		break; /* not by a given witness */
	}
out:
	free(one);
	free(on);
	return rc;
}

int
cli_witness_verifier(const struct cli_witnesses *w, struct closurelog_verifier *v)
{
	char err[CLOSURELOG_ERR_MAX], wk[NOTE_VKEY_MAX];
	int rc;

	for (size_t i = 0; i < w->n; i++) {
		note_verifier_format(&w->keys[i], wk, sizeof wk);
		if ((rc = closurelog_verifier_add_witness(v, wk, err, sizeof err)) != 0)
			return cli_fail(rc == CLOSURELOG_EUSAGE ? CLI_USAGE : CLI_FAIL, "%s", err);
	}
	if (w->quorum > 0 &&
	    closurelog_verifier_set_witness_quorum(v, w->quorum, err, sizeof err) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	return 0;
}
