/*
 * cmd_submit.c: closurelog submit: send envelopes to a log and keep, for
 * each, a proof bundle that `closurelog verify` checks offline.
 *
 * The log's answer is trusted only after it checks out: the leaf hash is
 * the envelope's, the checkpoint is signed by the log key (when given),
 * and the inclusion proof leads from the leaf to the checkpoint's root.
 * Only then is the bundle written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "file.h"
#include "http.h"
#include "merkle.h"
#include "opts.h"
#include "show.h"
#include "sth.h"
#include "tproof.h"
#include "wire.h"

static const char usage[] =
    "usage: closurelog submit --log URL [--log-key PUB] [-o BUNDLE] [--json] ENVELOPE...\n"
    "\n"
    "Submit each ENVELOPE (from closurelog attest) to the log at URL and write a\n"
    "proof bundle for it, after checking the log's answer: the inclusion proof must\n"
    "lead to the returned checkpoint, signed by the log key PUB (a verifier key or a\n"
    "file holding one).  Without --log-key the checkpoint signature is not checked\n"
    "here (closurelog verify checks it).  Resubmitting is safe: an envelope already\n"
    "in the log gets its original index.  429, 503 and network errors are retried,\n"
    "with a warning line on stderr before each retry.\n"
    "\n"
    "  -o BUNDLE   where to write the bundle; with several envelopes, a directory.\n"
    "              Default: ENVELOPE.bundle beside each envelope.\n"
    "  --json      print one JSON array: for each envelope logged, {envelope, index,\n"
    "              duplicate, checkpoint, checkpoint_signature_checked, bundle}\n"
    "              (failures are reported on stderr, one line each)\n"
    "\n"
    "Environment: CLOSURELOG_TIMEOUT_MS, CLOSURELOG_ATTEMPTS, CLOSURELOG_BACKOFF_MS.\n";

struct submit {
	char url[2048];
	struct note_verifier log_key;
	bool have_key;
	bool json;
	json_t *results; /* with --json: one object per envelope submitted */
	struct cli_http_opts http;
	struct wire_arena a;
};

/* Check the answer and build the bundle.  Returns CLI_OK or CLI_FAIL. */
static int
check_answer(struct submit *s, const char *name, const uint8_t *env, size_t env_len,
    const struct cl_submit_response *r, struct sth *cp, const uint8_t **bundle, size_t *bundle_len)
{
	uint8_t leaf[MT_HASH_LEN];
	struct tproof *tp = wire_arena_alloc(&s->a, sizeof *tp);
	uint8_t *text = wire_arena_alloc(&s->a, CL_TPROOF_MAX);
	struct cl_bundle b;
	struct sth c;
	size_t text_len;
	char why[CL_WHY_MAX];
	int rc;

	if (tp == NULL || text == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	mt_leaf_hash(leaf, env, env_len);
	if (sodium_memcmp(leaf, r->leaf_hash, MT_HASH_LEN) != 0)
		return cli_fail(CLI_FAIL, "%s: the log answered for a different leaf hash", name);
	rc = cli_checkpoint_open(
	    r->checkpoint, r->checkpoint_len, s->have_key ? &s->log_key : NULL, &c, why);
	if (rc != 0)
		return cli_fail(
		    CLI_FAIL, "%s: the log's checkpoint does not verify: %s", name, why);
	if (r->inclusion.a != r->index || r->inclusion.b != c.size)
		return cli_fail(CLI_FAIL,
		    "%s: the inclusion proof is not for index %llu in the checkpoint", name,
		    (unsigned long long)r->index);
	if ((rc = mt_inclusion_verify(leaf, r->index, c.size, MT_PATH(r->inclusion.hashes),
	         r->inclusion.n, c.root)) != 0)
		return cli_fail(CLI_FAIL,
		    "%s: inclusion proof does not lead to the checkpoint root (%s)", name,
		    cl_strerror(rc));

	memset(tp, 0, sizeof *tp);
	tp->index = r->index;
	tp->n_path = r->inclusion.n;
	memcpy(tp->path, r->inclusion.hashes, r->inclusion.n * MT_HASH_LEN);
	tp->checkpoint = r->checkpoint;
	tp->checkpoint_len = r->checkpoint_len;
	if ((rc = tproof_format(tp, text, CL_TPROOF_MAX, &text_len)) != 0)
		return cli_fail(
		    CLI_FAIL, "%s: cannot write the tlog-proof: %s", name, cl_strerror(rc));
	b.envelope = env;
	b.envelope_len = env_len;
	b.tlog_proof = text;
	b.tlog_proof_len = text_len;
	if ((rc = wire_bundle_encode(&s->a, &b, bundle, bundle_len)) != 0)
		return cli_fail(
		    CLI_FAIL, "%s: cannot encode the bundle: %s", name, cl_strerror(rc));
	*cp = c;
	return CLI_OK;
}

/* Say what became of one envelope: a line, or an object of the --json
 * array. */
static int
report(struct submit *s, const char *name, const struct cl_submit_response *r, const struct sth *c,
    const char *bundle)
{
	json_t *j;

	if (!s->json) {
		printf("%s: %s at index %llu; checkpoint %s size %llu%s\n", name,
		    r->duplicate ? "already logged" : "logged", (unsigned long long)r->index,
		    c->origin, (unsigned long long)c->size,
		    s->have_key ? " (signature verified)" : " (signature not checked)");
		return CLI_OK;
	}
	j = json_pack("{s:s, s:I, s:b, s:o, s:b, s:s}", "envelope", name, "index",
	    (json_int_t)r->index, "duplicate", r->duplicate, "checkpoint",
	    cli_show_checkpoint_json(c), "checkpoint_signature_checked", s->have_key, "bundle",
	    bundle);
	if (j == NULL || json_array_append_new(s->results, j) != 0)
		return cli_fail(CLI_FAIL, "%s: out of memory", name);
	return CLI_OK;
}

static int
submit_one(struct submit *s, const char *path, const char *out_path)
{
	struct cl_envelope env;
	struct cl_submit_response r;
	struct cli_http_resp resp = {0};
	const uint8_t *bundle;
	struct sth c;
	size_t len, bundle_len;
	uint8_t *buf = NULL;
	char why[CL_WHY_MAX], url[2100];
	int rc;

	wire_arena_reset(&s->a);
	if (cl_file_read(path, CL_ENTRY_MAX, CL_FILE_STREAM, &buf, &len, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	/* Refuse locally what the log would refuse. */
	if (wire_envelope_decode(&s->a, buf, len, &env, why) != 0) {
		rc = cli_fail(CLI_USAGE, "%s: %s", path, why);
		goto out;
	}
	snprintf(url, sizeof url, "%s/v1/entries", s->url);
	if (cli_http_request(&s->http, url, buf, len, CL_API_MAX, &resp, why) != 0) {
		rc = cli_fail(CLI_FAIL, "%s: %s", path, why);
		goto out;
	}
	if ((rc = cli_http_answer(&resp, why)) != 0) {
		rc = cli_fail(rc, "%s: the log refused it (%s)", path, why);
		goto out;
	}
	if (wire_submit_response_decode(&s->a, resp.body, resp.len, &r, why) != 0) {
		rc = cli_fail(CLI_FAIL, "%s: malformed answer from the log: %s", path, why);
		goto out;
	}
	if ((rc = check_answer(s, path, buf, len, &r, &c, &bundle, &bundle_len)) != 0)
		goto out;
	if (cl_file_write(out_path, bundle, bundle_len, 0644, CL_FILE_STREAM, why) != 0)
		rc = cli_fail(CLI_FAIL, "%s", why);
	else
		rc = report(s, path, &r, &c, out_path);
out:
	cli_http_resp_free(&resp);
	free(buf);
	return rc;
}

/* The last component of path (after the last '/'). */
static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

int
cli_cmd_submit(int argc, char **argv)
{
	struct submit s;
	const char *log = NULL, *out = NULL;
	const struct cli_opt opts[] = {
	    CLI_STR("log", &log),
	    CLI_VKEY("log-key", &s.log_key, &s.have_key),
	    CLI_STR_SHORT("output", 'o', &out),
	    CLI_FLAG("json", &s.json),
	};
	void *abuf;
	int first, rc, worst = CLI_OK;
	bool out_dir;

	memset(&s, 0, sizeof s);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		return rc;
	if (log == NULL || first == argc)
		return cli_fail(CLI_USAGE, "give --log URL and at least one ENVELOPE (see --help)");
	if ((rc = cli_log_url(log, s.url, sizeof s.url)) != 0)
		return rc;
	out_dir = out != NULL && argc - first > 1;
	/* In one directory, bundles are named after the envelopes' base
	 * names: two alike would write the same bundle. */
	for (int i = first; out_dir && i < argc; i++) {
		for (int k = first; k < i; k++) {
			if (strcmp(base_name(argv[i]), base_name(argv[k])) == 0)
				return cli_fail(CLI_USAGE,
				    "%s and %s would both be saved as %s.bundle in %s", argv[k],
				    argv[i], base_name(argv[i]), out);
		}
	}
	if (out_dir && mkdir(out, 0755) != 0) {
		struct stat st;

		if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
			return cli_fail(
			    CLI_USAGE, "-o %s: not a directory (several envelopes given)", out);
	}
	cli_http_defaults(&s.http);
	s.http.retry_lines = true; /* a submission may wait for seconds: say why */
	if ((abuf = malloc(WIRE_ARENA_MIN)) == NULL ||
	    (s.json && (s.results = json_array()) == NULL)) {
		free(abuf);
		return cli_fail(CLI_FAIL, "out of memory");
	}
	wire_arena_init(&s.a, abuf, WIRE_ARENA_MIN);
	for (int i = first; i < argc; i++) {
		char path[4096];
		int n;

		if (out != NULL && !out_dir)
			n = snprintf(path, sizeof path, "%s", out);
		else if (out_dir)
			n = snprintf(path, sizeof path, "%s/%s.bundle", out, base_name(argv[i]));
		else
			n = snprintf(path, sizeof path, "%s.bundle", argv[i]);
		if (n < 0 || (size_t)n >= sizeof path)
			rc =
			    cli_fail(CLI_USAGE, "%s: the bundle's path would be too long", argv[i]);
		else
			rc = submit_one(&s, argv[i], path);
		if (rc > worst)
			worst = rc;
	}
	free(abuf);
	/* With --json, what was logged is printed even when others failed. */
	if (s.json && cli_show_json_print(s.results) != CLI_OK && worst == CLI_OK)
		worst = CLI_FAIL;
	return worst;
}
