/*
 * cmd_inspect.c: closurelog inspect FILE: show an envelope, a proof bundle,
 * a c2sp.org/tlog-proof or a checkpoint, for people or (--json) scripts,
 * with the status of each signature when keys are given.
 *
 * inspect recognises the file by its content, parses it with the same
 * strict decoders as everything else, and checks only what it is given
 * keys for; `closurelog verify` is the command that decides.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"
#include "cli.h"
#include "cosig.h"
#include "dsse.h"
#include "file.h"
#include "merkle.h"
#include "opts.h"
#include "show.h"
#include "sth.h"
#include "tproof.h"
#include "wire.h"

#define INSPECT_MAX (1024 * 1024)
#define KEYS_MAX    64

static const char usage[] =
    "usage: closurelog inspect FILE [--json] [--log-key PUB] [--submitter-key PUB]...\n"
    "           [--witness VKEY]... [--witness-quorum K]\n"
    "\n"
    "Show a DSSE envelope, a proof bundle, a c2sp.org/tlog-proof@v1 file or a signed\n"
    "checkpoint.  PUB is a verifier key, or a file holding one.  With keys, each\n"
    "signature is reported as valid, INVALID or from an unknown key.\n"
    "\n"
    "  --json                 machine-readable output\n"
    "  --log-key PUB          check checkpoint signatures against the log's key\n"
    "  --submitter-key PUB    check envelope signatures (repeatable)\n" CLI_WITNESS_USAGE
    "Each cosignature/v1 line is shown with its time; with --witness keys, with\n"
    "its witness and whether it is valid, and the quorum is checked.\n"
    "\n"
    "Exit status: 0 parsed (and every checked signature valid), 1 a checked\n"
    "signature is not valid, 2 the file is not something inspect knows.\n";

struct inspect {
	bool json;
	struct note_verifier log_key;
	bool have_log_key;
	struct note_verifier subs[KEYS_MAX];
	size_t n_subs;
	struct cli_witnesses wit;
	struct wire_arena *a;
	bool failed; /* a checked signature did not verify */
	json_t *out;
};

static const char *
sig_status(struct inspect *in, const struct cl_envelope *env, size_t i, char *who, size_t cap)
{
	struct cl_envelope one = *env;
	size_t k;
	int rc;

	who[0] = '\0';
	if (in->n_subs == 0)
		return "not checked";
	one.sigs[0] = env->sigs[i];
	one.n_sigs = 1;
	rc = dsse_verify(in->a, &one, in->subs, in->n_subs, &k, NULL);
	if (rc == 0) {
		snprintf(who, cap, "%s", in->subs[k].name);
		return "valid";
	}
	if (rc == CL_ENOKEY)
		return "unknown key";
	in->failed = true;
	return "INVALID";
}

/* Show envelope env, decoded from buf[0..len), and its attestation;
 * returns CLI_OK or CLI_USAGE. */
static int
show_envelope(struct inspect *in, const struct cl_envelope *envp, const uint8_t *buf, size_t len,
    json_t *into)
{
	const struct cl_envelope env = *envp;
	struct cl_attestation att;
	uint8_t leaf[MT_HASH_LEN];
	char hex[65], why[CL_WHY_MAX], who[NOTE_NAME_MAX + 1];
	json_t *sigs = json_array();
	int rc;

	mt_leaf_hash(leaf, buf, len);
	cl_hex_encode(leaf, sizeof leaf, hex);
	if (!in->json) {
		printf("envelope (%zu bytes)\n", len);
		printf("  %-20s %s\n", "leaf hash", hex);
		printf("  %-20s %s\n", "payload type", env.payload_type);
	}
	for (size_t i = 0; i < env.n_sigs; i++) {
		const char *st = sig_status(in, &env, i, who, sizeof who);
		json_t *s = json_object();

		json_object_set_new(s, "keyid", json_string(env.sigs[i].keyid));
		json_object_set_new(s, "status", json_string(st));
		if (who[0] != '\0')
			json_object_set_new(s, "key", json_string(who));
		json_array_append_new(sigs, s);
		if (!in->json)
			printf("  %-20s key %s: %s%s%s\n", i == 0 ? "signatures" : "",
			    env.sigs[i].keyid, st, who[0] != '\0' ? ", " : "", who);
	}
	json_object_set_new(into, "leaf_hash", json_string(hex));
	json_object_set_new(into, "payload_type", json_string(env.payload_type));
	json_object_set_new(into, "signatures", sigs);
	if ((rc = wire_attestation_decode(in->a, env.payload, env.payload_len, &att, why)) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	if (!in->json) {
		printf("attestation\n");
		cli_show_attestation_text(stdout, &att);
	}
	json_object_set_new(into, "attestation", cli_show_attestation_json(&att));
	return CLI_OK;
}

/* Show a signed checkpoint note, and parse it into *cp. */
static int
show_checkpoint(struct inspect *in, const uint8_t *buf, size_t len, json_t *into, struct sth *cp)
{
	struct note *n = wire_arena_alloc(in->a, sizeof *n);
	struct sth c;
	char why[CL_WHY_MAX];
	json_t *sigs = json_array();
	bool log_signed = in->have_log_key;
	int rc;

	if (n == NULL) {
		json_decref(sigs);
		return cli_fail(CLI_FAIL, "out of memory");
	}
	rc = note_open(buf, len, &in->log_key, in->have_log_key ? 1 : 0, n, why);
	if (rc == CL_ENOKEY || rc == CL_EBADSIG) {
		/* Show it anyway, and say the log key did not sign it. */
		in->failed = true;
		log_signed = false;
		rc = note_open(buf, len, NULL, 0, n, why);
	}
	if (rc != 0 || (rc = sth_parse((const char *)buf, n->text_len, &c, why)) != 0) {
		json_decref(sigs);
		return cli_fail(CLI_USAGE, "checkpoint: %s", why);
	}
	if (!in->json) {
		char b64[45];

		cl_b64_encode(c.root, 32, b64, sizeof b64);
		printf("checkpoint\n");
		printf("  %-20s %s\n", "origin", c.origin);
		printf("  %-20s %llu\n", "size", (unsigned long long)c.size);
		printf("  %-20s %s\n", "root", b64);
	}
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *s = &n->sigs[i];
		const char *st = !in->have_log_key ? "not checked"
		    : s->key >= 0                  ? "valid (log key)"
		    : log_signed                   ? "unknown key"
		                                   : "not the log key's";
		char id[9], when[64] = "";
		json_t *o = json_object();
		struct cli_cosig cs;

		if (cli_cosig_line(&in->wit, buf, n, i, &cs) != 0) {
			json_decref(o);
			json_decref(sigs);
			return cli_fail(CLI_FAIL, "out of memory");
		}
		if (s->key < 0 && cs.status == CLI_COSIG_VALID) {
			st = "valid (witness cosignature)";
		} else if (cs.status == CLI_COSIG_INVALID) {
			st = "INVALID (witness cosignature)";
			in->failed = true;
		}
		snprintf(id, sizeof id, "%08x", (unsigned)s->id);
		json_object_set_new(o, "name", json_stringn(s->name, s->name_len));
		json_object_set_new(o, "keyid", json_string(id));
		json_object_set_new(o, "status", json_string(st));
		if (cs.has_time) {
			time_t t = (time_t)cs.timestamp;
			struct tm tm;

			if (cs.timestamp <= (uint64_t)INT64_MAX && gmtime_r(&t, &tm) != NULL)
				strftime(when, sizeof when, " at %Y-%m-%dT%H:%M:%SZ", &tm);
			json_object_set_new(
			    o, "cosignature_time", json_integer((json_int_t)cs.timestamp));
			json_object_set_new(o, "cosignature_time_checked",
			    json_boolean(cs.status == CLI_COSIG_VALID));
		}
		json_array_append_new(sigs, o);
		if (!in->json)
			printf("  %-20s %.*s key %s: %s%s%s\n", i == 0 ? "signatures" : "",
			    (int)s->name_len, s->name, id, st, when,
			    cs.has_time && cs.status != CLI_COSIG_VALID ? " (time not checked)"
			                                                : "");
	}
	if (in->wit.n > 0) {
		char wwhy[CLI_MSG_MAX];
		bool ok = cli_witness_check(&in->wit, buf, len, wwhy) == 0;

		json_object_set_new(into, "witness_quorum_met", json_boolean(ok));
		if (!ok)
			in->failed = true;
		if (!in->json)
			printf("  %-20s %s\n", "witnesses", ok ? "quorum met" : wwhy);
	}
	json_object_set_new(into, "checkpoint", cli_show_checkpoint_json(&c));
	json_object_set_new(into, "signatures", sigs);
	if (in->have_log_key && !log_signed && !in->json)
		printf("  the log key did not sign this checkpoint\n");
	*cp = c;
	return CLI_OK;
}

/* Show a tlog-proof; leaf (if not NULL) is the entry's leaf hash, to
 * report whether the proof leads to the checkpoint's root. */
static int
show_tproof(struct inspect *in, const uint8_t *buf, size_t len, const uint8_t *leaf, json_t *into)
{
	struct tproof *p = wire_arena_alloc(in->a, sizeof *p);
	struct sth c;
	char why[CL_WHY_MAX];
	json_t *cp = json_object(), *path = json_array();
	int rc;

	if (p == NULL || cp == NULL || path == NULL) {
		json_decref(cp);
		json_decref(path);
		return cli_fail(CLI_FAIL, "out of memory");
	}
	if ((rc = tproof_parse(buf, len, p, why)) != 0) {
		json_decref(cp);
		json_decref(path);
		return cli_fail(CLI_USAGE, "tlog-proof: %s", why);
	}
	if (!in->json) {
		printf("tlog-proof (c2sp.org/tlog-proof@v1)\n");
		printf("  %-20s %llu\n", "index", (unsigned long long)p->index);
		printf("  %-20s %zu hashes\n", "inclusion path", p->n_path);
	}
	for (size_t i = 0; i < p->n_path; i++) {
		char hex[65];

		cl_hex_encode(p->path[i], 32, hex);
		json_array_append_new(path, json_string(hex));
	}
	json_object_set_new(into, "index", json_integer((json_int_t)p->index));
	json_object_set_new(into, "inclusion_path", path);
	if ((rc = show_checkpoint(in, p->checkpoint, p->checkpoint_len, cp, &c)) != 0) {
		json_decref(cp);
		return rc;
	}
	json_object_set_new(into, "checkpoint", cp);
	if (leaf != NULL) {
		bool ok = mt_inclusion_verify(
		              leaf, p->index, c.size, MT_PATH(p->path), p->n_path, c.root) == 0;

		json_object_set_new(into, "inclusion_leads_to_root", json_boolean(ok));
		if (!in->json)
			printf("  %-20s %s\n", "inclusion proof",
			    ok ? "leads to the checkpoint root"
			       : "does NOT lead to the checkpoint root");
		if (!ok)
			in->failed = true;
	}
	return CLI_OK;
}

/* --submitter-key, repeatable up to KEYS_MAX. */
static int
submitter_add(void *ctx, const char *arg)
{
	struct inspect *in = ctx;
	int rc;

	if (in->n_subs == KEYS_MAX)
		return cli_fail(CLI_USAGE, "at most %d --submitter-key", KEYS_MAX);
	if ((rc = cli_verifier_arg("--submitter-key", arg, &in->subs[in->n_subs])) != 0)
		return rc;
	in->n_subs++;
	return 0;
}

int
cli_cmd_inspect(int argc, char **argv)
{
	struct inspect in;
	struct wire_arena a;
	void *abuf = NULL;
	uint8_t *buf = NULL;
	size_t len;
	char why[CL_WHY_MAX];
	const struct cli_opt opts[] = {
	    CLI_FLAG("json", &in.json),
	    CLI_VKEY("log-key", &in.log_key, &in.have_log_key),
	    CLI_FN("submitter-key", &in, submitter_add, true),
	    CLI_WITNESS_OPTS(&in.wit),
	};
	int first, rc;

	memset(&in, 0, sizeof in);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		return rc;
	if (first + 1 != argc)
		return cli_fail(CLI_USAGE, "give exactly one FILE (see --help)");
	if ((rc = cli_witness_finish(&in.wit)) != 0)
		return rc;
	if (cl_file_read(argv[first], INSPECT_MAX, CL_FILE_STREAM, &buf, &len, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	if ((abuf = malloc(WIRE_ARENA_MIN)) == NULL || (in.out = json_object()) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	in.a = &a;

	/* The strict protobuf decoders go first: they never take text, while
	 * a bundle's bytes may well look like text ending in a checkpoint. */
	{
		struct cl_envelope env;
		struct cl_bundle b;
		struct sth ck;

		if (wire_envelope_decode(&a, buf, len, &env, NULL) == 0) {
			json_object_set_new(in.out, "type", json_string("envelope"));
			rc = show_envelope(&in, &env, buf, len, in.out);
		} else if (wire_arena_reset(&a), wire_bundle_decode(&a, buf, len, &b, NULL) == 0) {
			json_t *e = json_object(), *t = json_object();
			uint8_t leaf[MT_HASH_LEN];

			json_object_set_new(in.out, "type", json_string("bundle"));
			mt_leaf_hash(leaf, b.envelope, b.envelope_len);
			if (!in.json)
				printf("proof bundle (%zu bytes)\n", len);
			if ((rc = wire_envelope_decode(
			         &a, b.envelope, b.envelope_len, &env, why)) != 0)
				rc = cli_fail(CLI_USAGE, "%s", why);
			else
				rc = show_envelope(&in, &env, b.envelope, b.envelope_len, e);
			if (rc == 0)
				rc = show_tproof(&in, b.tlog_proof, b.tlog_proof_len, leaf, t);
			json_object_set_new(in.out, "envelope", e);
			json_object_set_new(in.out, "tlog_proof", t);
		} else if (len >= strlen(TPROOF_HEADER) &&
		    memcmp(buf, TPROOF_HEADER, strlen(TPROOF_HEADER)) == 0) {
			json_object_set_new(in.out, "type", json_string("tlog-proof"));
			rc = show_tproof(&in, buf, len, NULL, in.out);
		} else if (memchr(buf, '\0', len) == NULL && len > 0 && buf[len - 1] == '\n' &&
		    strstr((char *)buf, "\n\n\xe2\x80\x94 ") != NULL) {
			json_object_set_new(in.out, "type", json_string("checkpoint"));
			rc = show_checkpoint(&in, buf, len, in.out, &ck);
		} else {
			rc = cli_fail(CLI_USAGE,
			    "%s is not an envelope, proof bundle, tlog-proof or checkpoint",
			    argv[first]);
		}
	}
	if (rc == CLI_OK && in.json) {
		json_object_set_new(
		    in.out, "all_checked_signatures_valid", json_boolean(!in.failed));
		rc = cli_show_json_print(in.out);
		in.out = NULL;
	}
	if (rc == CLI_OK && in.failed)
		rc = CLI_FAIL;
out:
	json_decref(in.out);
	free(abuf);
	free(buf);
	return rc;
}
