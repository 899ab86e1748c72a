/*
 * cmd_query.c: closurelog get, prove and search: read the log, for people
 * and (--json) scripts.
 *
 * Everything fetched is checked as far as it can be: an entry's leaf hash
 * against its bytes, a proof against the checkpoint it came with (and the
 * checkpoint against the log key, when given).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "file.h"
#include "http.h"
#include "merkle.h"
#include "nix.h"
#include "opts.h"
#include "show.h"
#include "sth.h"
#include "tproof.h"
#include "wire.h"

#define FETCH_MAX (CL_API_MAX + 4096)

struct query {
	char url[2048];
	struct cli_http_opts http;
	struct wire_arena a;
	void *abuf;
	bool json;
	struct note_verifier log_key;
	bool have_key;
};

static int
query_init(struct query *q, const char *log)
{
	int rc;

	if (log == NULL)
		return cli_fail(CLI_USAGE, "--log URL is required (see --help)");
	if ((rc = cli_log_url(log, q->url, sizeof q->url)) != 0)
		return rc;
	cli_http_defaults(&q->http);
	if ((q->abuf = malloc(WIRE_ARENA_MIN)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	wire_arena_init(&q->a, q->abuf, WIRE_ARENA_MIN);
	return 0;
}

/* GET a path of the log; an answer that is not 2xx is reported and is a
 * failure. */
static int
fetch(struct query *q, const char *path, struct cli_http_resp *r)
{
	char why[CL_WHY_MAX];
	int rc;

	if ((rc = cli_http_get(&q->http, q->url, path, FETCH_MAX, r, why)) != 0)
		return cli_fail(rc, "the log answered %s", why);
	return 0;
}

/* rc is the exit code for an answer the log refused.  A request the log
 * found wrong (CLI_USAGE) may only ask for something past the end of the
 * log (n >= size, or n > size when !below): that is the log's refusal
 * (CLI_FAIL), not a usage error. */
static int
past_end(struct query *q, int rc, uint64_t n, bool below)
{
	uint8_t *note;
	size_t len;
	struct sth c;
	char why[CLI_MSG_MAX];

	if (rc != CLI_USAGE ||
	    cli_checkpoint_fetch(&q->http, q->url, NULL, NULL, &note, &len, &c, why) != 0)
		return rc;
	free(note);
	return n > c.size || (below && n == c.size) ? CLI_FAIL : rc;
}

/* ---- get ---- */

static const char get_usage[] =
    "usage: closurelog get --log URL INDEX [--json] [-o ENVELOPE]\n"
    "\n"
    "Fetch entry INDEX: show it (its signatures are not checked here; use\n"
    "closurelog prove and verify for that), or with -o save the envelope bytes.\n"
    "\n"
    "Exit status: 0 fetched and checked; 1 INDEX is past the end of the log, the log\n"
    "refused or could not be reached, or its answer does not check out; 2 usage error.\n";

int
cli_cmd_get(int argc, char **argv)
{
	struct query q;
	struct cli_http_resp r = {0};
	struct cl_entry e;
	struct cl_envelope env;
	struct cl_attestation att;
	const char *log = NULL, *out = NULL;
	const struct cli_opt opts[] = {
	    CLI_STR("log", &log),
	    CLI_FLAG("json", &q.json),
	    CLI_STR_SHORT("output", 'o', &out),
	};
	uint8_t leaf[MT_HASH_LEN];
	uint64_t index;
	char path[64], why[CL_WHY_MAX], hex[65];
	int first, rc;

	memset(&q, 0, sizeof q);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), get_usage, &first)) != CLI_GO)
		return rc;
	if (first + 1 != argc)
		return cli_fail(CLI_USAGE, "give one INDEX (see --help)");
	if ((rc = cli_u64_arg("INDEX", argv[first], &index)) != 0)
		return rc;
	if ((rc = query_init(&q, log)) != 0)
		return rc;
	snprintf(path, sizeof path, "v1/entries/%" PRIu64, index);
	if ((rc = fetch(&q, path, &r)) != 0) {
		rc = past_end(&q, rc, index, true);
		goto out;
	}
	if (wire_entry_decode(&q.a, r.body, r.len, &e, why) != 0) {
		rc = cli_fail(CLI_FAIL, "malformed answer: %s", why);
		goto out;
	}
	if (e.index != index) {
		rc = cli_fail(CLI_FAIL,
		    "asked for entry %" PRIu64 ", the log answered with %" PRIu64, index, e.index);
		goto out;
	}
	mt_leaf_hash(leaf, e.envelope, e.envelope_len);
	if (sodium_memcmp(leaf, e.leaf_hash, MT_HASH_LEN) != 0) {
		rc = cli_fail(CLI_FAIL, "the entry's bytes do not hash to its leaf hash");
		goto out;
	}
	if (out != NULL) {
		if (cl_file_write(out, e.envelope, e.envelope_len, 0644, CL_FILE_STREAM, why) != 0)
			rc = cli_fail(CLI_FAIL, "%s", why);
		goto out;
	}
	if (wire_envelope_decode(&q.a, e.envelope, e.envelope_len, &env, why) != 0 ||
	    wire_attestation_decode(&q.a, env.payload, env.payload_len, &att, why) != 0) {
		rc = cli_fail(CLI_FAIL, "entry %llu: %s", (unsigned long long)e.index, why);
		goto out;
	}
	cl_hex_encode(leaf, sizeof leaf, hex);
	if (q.json) {
		json_t *j = json_object(), *sigs = json_array();

		json_object_set_new(j, "index", json_integer((json_int_t)e.index));
		json_object_set_new(j, "leaf_hash", json_string(hex));
		for (size_t i = 0; i < env.n_sigs; i++)
			json_array_append_new(sigs, json_string(env.sigs[i].keyid));
		json_object_set_new(j, "signer_keyids", sigs);
		json_object_set_new(j, "attestation", cli_show_attestation_json(&att));
		rc = cli_show_json_print(j);
	} else {
		printf("entry %llu\n  %-20s %s\n", (unsigned long long)e.index, "leaf hash", hex);
		for (size_t i = 0; i < env.n_sigs; i++)
			printf("  %-20s key %s\n", i == 0 ? "signed by" : "", env.sigs[i].keyid);
		cli_show_attestation_text(stdout, &att);
	}
out:
	cli_http_resp_free(&r);
	free(q.abuf);
	return rc;
}

/* ---- prove ---- */

static const char prove_usage[] =
    "usage: closurelog prove --log URL --index I [--log-key PUB] [-o BUNDLE] [--json]\n"
    "       closurelog prove --log URL --from M [--to N] [--log-key PUB] [--json]\n"
    "\n"
    "With --index: fetch a proof bundle for entry I against the log's latest\n"
    "checkpoint, check that its inclusion proof leads to that checkpoint (signed by\n"
    "PUB, when given), and save it with -o or show it.\n"
    "With --from: fetch the consistency proof from tree size M to size N (default:\n"
    "the size of the latest checkpoint, signed by PUB when given) and show it.  It\n"
    "can only be checked against a checkpoint for size M: closurelog audit keeps\n"
    "one and does that.\n"
    "\n"
    "Exit status: 0 fetched and checked; 1 I, M or N is past the end of the log, the\n"
    "log refused or could not be reached, or a proof does not check out; 2 usage\n"
    "error.\n";

/* The latest checkpoint, verified when a log key is known. */
static int
latest_checkpoint(struct query *q, struct sth *c, uint8_t **note, size_t *note_len)
{
	char why[CLI_MSG_MAX];
	int rc;

	rc = cli_checkpoint_fetch(
	    &q->http, q->url, q->have_key ? &q->log_key : NULL, NULL, note, note_len, c, why);
	return rc != 0 ? cli_fail(rc, "%s", why) : 0;
}

static int
prove_inclusion(struct query *q, uint64_t index, const char *out)
{
	struct cli_http_resp r = {0};
	struct cl_bundle b;
	struct tproof *tp = wire_arena_alloc(&q->a, sizeof *tp);
	struct sth c;
	uint8_t leaf[MT_HASH_LEN];
	char path[64], why[CL_WHY_MAX];
	int rc;

	if (tp == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	snprintf(path, sizeof path, "v1/bundle/%" PRIu64, index);
	if ((rc = fetch(q, path, &r)) != 0)
		return past_end(q, rc, index, true);
	if (wire_bundle_decode(&q->a, r.body, r.len, &b, why) != 0 ||
	    tproof_parse(b.tlog_proof, b.tlog_proof_len, tp, why) != 0) {
		rc = cli_fail(CLI_FAIL, "malformed bundle from the log: %s", why);
		goto out;
	}
	if (tp->index != index) {
		rc = cli_fail(CLI_FAIL,
		    "asked for entry %" PRIu64 ", the log's bundle is for entry %" PRIu64, index,
		    tp->index);
		goto out;
	}
	if ((rc = cli_checkpoint_open(tp->checkpoint, tp->checkpoint_len,
	         q->have_key ? &q->log_key : NULL, &c, why)) != 0) {
		rc = cli_fail(CLI_FAIL, "the bundle's checkpoint does not verify: %s", why);
		goto out;
	}
	mt_leaf_hash(leaf, b.envelope, b.envelope_len);
	if (mt_inclusion_verify(leaf, tp->index, c.size, MT_PATH(tp->path), tp->n_path, c.root) !=
	    0) {
		rc = cli_fail(CLI_FAIL, "inclusion proof does not lead to the checkpoint root");
		goto out;
	}
	if (out != NULL) {
		rc = cl_file_write(out, r.body, r.len, 0644, CL_FILE_STREAM, why) == 0
		    ? CLI_OK
		    : cli_fail(CLI_FAIL, "%s", why);
	} else if (q->json) {
		json_t *j = json_object(), *p = json_array();
		char hex[65];

		json_object_set_new(j, "index", json_integer((json_int_t)tp->index));
		json_object_set_new(j, "checkpoint", cli_show_checkpoint_json(&c));
		for (size_t i = 0; i < tp->n_path; i++) {
			cl_hex_encode(tp->path[i], 32, hex);
			json_array_append_new(p, json_string(hex));
		}
		json_object_set_new(j, "inclusion_path", p);
		json_object_set_new(j, "checkpoint_signature_checked", json_boolean(q->have_key));
		rc = cli_show_json_print(j);
	} else {
		printf("entry %llu is in %s at size %llu (%zu proof hashes; checkpoint signature "
		       "%s)\n",
		    (unsigned long long)tp->index, c.origin, (unsigned long long)c.size, tp->n_path,
		    q->have_key ? "verified" : "not checked");
		rc = CLI_OK;
	}
out:
	cli_http_resp_free(&r);
	return rc;
}

/* to is the size to prove up to, or NULL for the latest checkpoint's. */
static int
prove_consistency(struct query *q, uint64_t from, const uint64_t *to)
{
	struct cli_http_resp r = {0};
	struct cl_proof p;
	uint8_t *note = NULL;
	size_t note_len;
	struct sth latest;
	uint64_t n;
	char path[128], why[CL_WHY_MAX];
	int rc;

	if (to != NULL) {
		n = *to;
	} else {
		if ((rc = latest_checkpoint(q, &latest, &note, &note_len)) != 0)
			return rc;
		n = latest.size;
	}
	snprintf(path, sizeof path, "v1/proof/consistency?from=%" PRIu64 "&to=%" PRIu64, from, n);
	if ((rc = fetch(q, path, &r)) != 0) {
		rc = past_end(q, rc, from > n ? from : n, false);
		goto out;
	}
	if (wire_consistency_decode(&q->a, r.body, r.len, &p, why) != 0) {
		rc = cli_fail(CLI_FAIL, "malformed answer: %s", why);
		goto out;
	}
	if (p.a != from || p.b != n) {
		rc = cli_fail(CLI_FAIL,
		    "asked for sizes %" PRIu64 " to %" PRIu64 ", the log answered %" PRIu64
		    " to %" PRIu64,
		    from, n, p.a, p.b);
		goto out;
	}
	if (q->json) {
		json_t *j = json_object(), *h = json_array();
		char hex[65];

		json_object_set_new(j, "from", json_integer((json_int_t)p.a));
		json_object_set_new(j, "to", json_integer((json_int_t)p.b));
		for (size_t i = 0; i < p.n; i++) {
			cl_hex_encode(p.hashes[i], 32, hex);
			json_array_append_new(h, json_string(hex));
		}
		json_object_set_new(j, "hashes", h);
		rc = cli_show_json_print(j);
	} else {
		printf("consistency proof from size %llu to %llu:\n", (unsigned long long)p.a,
		    (unsigned long long)p.b);
		for (size_t i = 0; i < p.n; i++) {
			char hex[65];

			cl_hex_encode(p.hashes[i], 32, hex);
			printf("  %s\n", hex);
		}
		if (to == NULL)
			printf("(to the latest checkpoint; check it with closurelog audit)\n");
		rc = CLI_OK;
	}
out:
	cli_http_resp_free(&r);
	free(note);
	return rc;
}

int
cli_cmd_prove(int argc, char **argv)
{
	struct query q;
	const char *log = NULL, *out = NULL;
	uint64_t i, m, n;
	bool index = false, from = false, to = false;
	const struct cli_opt opts[] = {
	    CLI_STR("log", &log),
	    CLI_VKEY("log-key", &q.log_key, &q.have_key),
	    CLI_U64("index", &i, &index),
	    CLI_U64("from", &m, &from),
	    CLI_U64("to", &n, &to),
	    CLI_FLAG("json", &q.json),
	    CLI_STR_SHORT("output", 'o', &out),
	};
	int first, rc;

	memset(&q, 0, sizeof q);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), prove_usage, &first)) !=
	    CLI_GO)
		return rc;
	if (first != argc || index == from || (to && !from) || (out != NULL && !index))
		return cli_fail(CLI_USAGE, "give --index, or --from [--to] (see --help)");
	if ((rc = query_init(&q, log)) != 0)
		return rc;
	rc = index ? prove_inclusion(&q, i, out) : prove_consistency(&q, m, to ? &n : NULL);
	free(q.abuf);
	return rc;
}

/* ---- search ---- */

static const char search_usage[] =
    "usage: closurelog search --log URL (--root PATH | --nar-hash HASH | --submitter KEY)\n"
    "           [--json]\n"
    "\n"
    "List the indices of the entries for a root store path, a narHash (any Nix\n"
    "form) or a submitter (a verifier key, a file holding one, or 64 hex digits of\n"
    "its public key), in log order.  Pages through every result.\n";

static void
url_escape(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in != '\0' && n + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
		    ch == '/') {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
}

int
cli_cmd_search(int argc, char **argv)
{
	struct query q;
	const char *log = NULL, *name = NULL, *val = NULL, *by[3] = {NULL, NULL, NULL};
	const struct cli_opt opts[] = {
	    CLI_STR("log", &log),
	    CLI_STR("root", &by[0]),
	    CLI_STR("nar-hash", &by[1]),
	    CLI_STR("submitter", &by[2]),
	    CLI_FLAG("json", &q.json),
	};
	static const char *const names[] = {"root", "nar_hash", "submitter"};
	char arg[1024], esc[3200], why[CL_WHY_MAX];
	uint64_t start = 0;
	json_t *all = NULL;
	int first, rc;

	memset(&q, 0, sizeof q);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), search_usage, &first)) !=
	    CLI_GO)
		return rc;
	for (int i = 0; i < 3; i++) {
		if (by[i] != NULL && val != NULL)
			return cli_fail(CLI_USAGE, "give one of --root, --nar-hash, --submitter");
		if (by[i] != NULL) {
			name = names[i];
			val = by[i];
		}
	}
	if (first != argc || val == NULL)
		return cli_fail(
		    CLI_USAGE, "give one of --root, --nar-hash, --submitter (see --help)");
	/* Check locally what can be checked, so a typo is not a silent miss;
	 * after that, every value is short enough to escape whole. */
	if (strcmp(name, "root") == 0 && nix_store_path_check(val, strlen(val), why) != 0)
		return cli_fail(CLI_USAGE, "--root: %s", why);
	if (strcmp(name, "nar_hash") == 0) {
		struct nix_hash h;

		if (nix_hash_parse(val, strlen(val), NIX_SHA256, &h, why) != 0)
			return cli_fail(CLI_USAGE, "--nar-hash: %s", why);
		if (h.algo != NIX_SHA256)
			return cli_fail(CLI_USAGE, "--nar-hash: must be a sha256 hash");
		nix_hash_sri(&h, arg, sizeof arg);
		val = arg;
	}
	if (strcmp(name, "submitter") == 0) {
		struct note_verifier v;
		uint8_t pub[32];

		if (strlen(val) == 64 && cl_hex_decode(val, 64, pub, sizeof pub) == 0) {
			cl_hex_encode(pub, 32, arg);
		} else {
			if ((rc = cli_verifier_arg("--submitter", val, &v)) != 0)
				return rc;
			cl_hex_encode(v.pub, 32, arg);
		}
		val = arg;
	}
	url_escape(val, esc, sizeof esc);
	if ((rc = query_init(&q, log)) != 0)
		return rc;
	if (q.json && (all = json_array()) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	for (;;) {
		struct cli_http_resp r = {0};
		struct cl_search_result sr;
		char path[3400];

		snprintf(path, sizeof path, "v1/search?%s=%s&start=%" PRIu64, name, esc, start);
		if ((rc = fetch(&q, path, &r)) != 0)
			goto out;
		wire_arena_reset(&q.a);
		if (wire_search_result_decode(&q.a, r.body, r.len, &sr, why) != 0) {
			cli_http_resp_free(&r);
			rc = cli_fail(CLI_FAIL, "malformed answer: %s", why);
			goto out;
		}
		for (size_t i = 0; i < sr.n; i++) {
			if (sr.indices[i] < start) {
				cli_http_resp_free(&r);
				rc = cli_fail(CLI_FAIL, "the log answered out of order");
				goto out;
			}
			if (all != NULL)
				json_array_append_new(all, json_integer((json_int_t)sr.indices[i]));
			else
				printf("%" PRIu64 "\n", sr.indices[i]);
		}
		cli_http_resp_free(&r);
		if (!sr.truncated || sr.n == 0)
			break;
		start = sr.indices[sr.n - 1] + 1;
	}
	if (all != NULL) {
		json_t *j = json_object();

		json_object_set_new(j, "indices", all);
		all = NULL;
		rc = cli_show_json_print(j);
	} else {
		rc = CLI_OK;
	}
out:
	json_decref(all);
	free(q.abuf);
	return rc;
}
