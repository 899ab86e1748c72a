/*
 * cmd_check.c: closurelog check, the broker's decision at a renewal,
 * offline: is this closure, with this narHash, allowed by the policy
 * bundle CI built from the log?
 *
 * The decision is the library's (closurelog_policy_decide), so that the
 * command and a broker linking libclosurelog-verify always agree; this
 * file only gathers the inputs (the policy from data.json or a bundle, the
 * narHash from the request or recomputed from disk) and, with --bundle,
 * checks proof bundles with the library's verifier so that a broker can
 * insist that the approving attestation is in the log, not only in a
 * document someone handed it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cl.h"
#include "cli.h"
#include "closurelog/verify.h"
#include "cosig.h"
#include "file.h"
#include "nix.h"
#include "note.h"
#include "opa.h"
#include "opts.h"
#include "show.h"

static const char usage[] =
    "usage: closurelog check --policy FILE (--root PATH --nar-hash HASH | --path DIR [--root "
    "PATH])\n"
    "           [--prev-root PATH] [--requested-minutes N]\n"
    "           [--bundle FILE... --log-key PUB [--origin ORIGIN]\n"
    "            [--witness VKEY]... [--witness-quorum K]] [--json]\n"
    "\n"
    "Decide, offline, whether a broker may issue credentials to a workload running\n"
    "the closure ROOT with narHash HASH, under the policy built by `closurelog policy\n"
    "build` (docs/policy.md).  Exactly the Rego rule of docs/closurelog.rego:\n"
    "  allow if ROOT is approved, or ROOT is a successor recorded for --prev-root;\n"
    "       and HASH is the narHash recorded for ROOT;\n"
    "       and --requested-minutes is at most the policy's max_minutes.\n"
    "A denial prints one reason per condition that failed.\n"
    "\n"
    "  --policy FILE            data.json, or an OPA bundle.tar.gz holding it\n"
    "  --root PATH              the workload's closure root, /nix/store/<hash>-<name>\n"
    "  --nar-hash HASH          its narHash, in any Nix form\n"
    "  --path DIR               recompute the narHash from DIR on disk (the running-bag\n"
    "                           check); the root is DIR itself when it is a store path,\n"
    "                           else give --root\n"
    "  --prev-root PATH         the root the workload ran before (a successor move)\n"
    "  --requested-minutes N    the credential lifetime asked for; without it the\n"
    "                           Rego rule, and so this command, denies\n"
    "  --bundle FILE            a proof bundle (closurelog submit); repeatable.  Each\n"
    "                           must verify with --log-key and the submitter keys the\n"
    "                           policy names, and one must attest ROOT with its narHash\n"
    "  --log-key PUB            the log's key (a key string or a file), with --bundle\n"
    "  --origin ORIGIN          the checkpoint origin (default: the log key's name)\n"
    "  --witness VKEY, --witness-quorum K\n"
    "                           with --bundle: the bundles' checkpoints must also be\n"
    "                           cosigned by K of these witnesses (as for verify)\n"
    "  --json                   print {allow, reasons, env_hash, policy_id}\n"
    "\n"
    "Without --json: \"allow <root> env_hash=<sri> policy_id=<id>\" on standard output,\n"
    "or \"deny: <reason>\" lines on standard error.  env_hash and policy_id are the tags\n"
    "to put on an issued credential.\n"
    "\n"
    "Exit status: 0 allow; 1 deny; 2 usage or input error (a policy that is refused,\n"
    "an unreadable file, a malformed root or narHash, a tree a NAR cannot hold).\n";

#define EXTRA_MAX 8 /* reasons the bundles add to the decision's */

struct check {
	struct closurelog_decision d;
	char extra[EXTRA_MAX][CLOSURELOG_REASON_MAX + 320];
	size_t n_extra;
};

/* The data document and its revision from --policy: a bundle when it is
 * gzip, data.json otherwise.  *data is malloc'd; *rev too (or NULL). */
static int
policy_read(const char *path, uint8_t **data, size_t *len, char **rev)
{
	struct cli_opa_bundle b;
	char why[CL_WHY_MAX];
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	*rev = NULL;
	if ((rc = cl_file_read(path, CLI_OPA_TAR_MAX, CL_FILE_STREAM, &buf, &n, why)) != 0)
		return cli_fail(CLI_USAGE, "--policy: %s", why);
	if (n < 2 || buf[0] != 0x1f || buf[1] != 0x8b) {
		*data = buf;
		*len = n;
		return 0;
	}
	rc = cli_opa_read(buf, n, &b, why);
	free(buf);
	if (rc != 0)
		return cli_fail(CLI_USAGE, "--policy %s: %s", path, why);
	*data = b.data;
	*len = b.data_len;
	*rev = b.revision;
	return 0;
}

/* closurelog.rules.submitter_keys of the document (validated by the
 * library already) into a malloc'd array of borrowed strings from *doc. */
static int
policy_keys(const uint8_t *data, size_t len, json_t **doc, const char ***keys, size_t *n)
{
	json_t *arr, *k;
	size_t i;

	*doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
	arr = json_object_get(
	    json_object_get(json_object_get(*doc, "closurelog"), "rules"), "submitter_keys");
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > CLOSURELOG_SUBMITTER_KEYS_MAX)
		return cli_fail(CLI_USAGE,
		    "--bundle: the policy names no submitter keys "
		    "(closurelog.rules.submitter_keys) "
		    "to verify bundles with");
	if ((*keys = calloc(json_array_size(arr), sizeof **keys)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	json_array_foreach(arr, i, k)
	{
		if (((*keys)[i] = json_string_value(k)) == NULL)
			return cli_fail(CLI_USAGE,
			    "--policy: closurelog.rules.submitter_keys[%zu] "
			    "is not a string",
			    i);
	}
	*n = json_array_size(arr);
	return 0;
}

/* Verify each bundle; one must attest root with the presented narHash. */
static int
bundles_check(struct check *ck, const char *const *bundles, size_t n_bundles, const char *log_arg,
    const char *origin, const struct cli_witnesses *wit, const uint8_t *data, size_t len,
    const char *root)
{
	struct note_verifier lk;
	struct closurelog_verifier *v = NULL;
	struct closurelog_result res;
	char log_key[NOTE_VKEY_MAX], err[CLOSURELOG_ERR_MAX];
	const char **keys = NULL;
	json_t *doc = NULL;
	size_t n_keys = 0;
	bool supported = false;
	int rc;

	if ((rc = cli_verifier_arg("--log-key", log_arg, &lk)) != 0)
		goto out;
	if (note_verifier_format(&lk, log_key, sizeof log_key) == 0) {
		rc = cli_fail(CLI_USAGE, "--log-key: cannot format the key");
		goto out;
	}
	if ((rc = policy_keys(data, len, &doc, &keys, &n_keys)) != 0)
		goto out;
	if ((rc = closurelog_verifier_new(log_key, origin, keys, n_keys, &v, err, sizeof err)) !=
	    0) {
		rc = cli_fail(rc == CLOSURELOG_EUSAGE ? CLI_USAGE : CLI_FAIL, "%s", err);
		goto out;
	}
	if ((rc = cli_witness_verifier(wit, v)) != 0)
		goto out;
	for (size_t i = 0; i < n_bundles; i++) {
		uint8_t *b = NULL;
		size_t bl = 0;
		char why[CL_WHY_MAX];
		enum closurelog_status st;

		if ((rc = cl_file_read(
		         bundles[i], CLOSURELOG_BUNDLE_MAX, CL_FILE_STREAM, &b, &bl, why)) != 0) {
			rc = cli_fail(CLI_USAGE, "--bundle: %s", why);
			goto out;
		}
		st = closurelog_verify_bundle(v, b, bl, NULL, NULL, &res);
		free(b);
		if (st != CLOSURELOG_OK) {
			if (ck->n_extra < EXTRA_MAX)
				snprintf(ck->extra[ck->n_extra++], sizeof ck->extra[0],
				    "proof bundle %s does not verify: %s", bundles[i], res.reason);
			continue;
		}
		if (strcmp(res.root, root) == 0 && strcmp(res.nar_hash, ck->d.env_hash) == 0)
			supported = true;
	}
	if (!supported && ck->n_extra < EXTRA_MAX)
		snprintf(ck->extra[ck->n_extra++], sizeof ck->extra[0],
		    "no proof bundle shows %s with narHash %s in the log", root, ck->d.env_hash);
	rc = 0;
out:
	closurelog_verifier_free(v);
	free(keys);
	json_decref(doc);
	return rc;
}

static int
print_json(const struct check *ck, bool allow)
{
	json_t *j, *reasons = json_array();

	for (size_t i = 0; i < ck->d.n_reasons; i++)
		json_array_append_new(reasons, json_string(ck->d.reasons[i]));
	for (size_t i = 0; i < ck->n_extra; i++)
		json_array_append_new(reasons, json_string(ck->extra[i]));
	j = json_pack("{s:b, s:o, s:s, s:s}", "allow", allow, "reasons", reasons, "env_hash",
	    ck->d.env_hash, "policy_id", ck->d.policy_id);
	if (j == NULL)
		return cli_fail(CLI_FAIL, "cannot format the decision as JSON");
	return cli_show_json_print(j);
}

int
cli_cmd_check(int argc, char **argv)
{
	const char *policy = NULL, *root = NULL, *nar = NULL, *dir = NULL, *prev = NULL;
	const char *log_arg = NULL, *origin = NULL;
	const char **bundles = NULL;
	char *rev = NULL, err[CLOSURELOG_ERR_MAX], sri[CLOSURELOG_NAR_HASH_MAX];
	struct closurelog_policy *p = NULL;
	struct check *ck = NULL;
	struct cli_witnesses *wit = NULL;
	uint8_t *data = NULL;
	struct cli_opt_list bl = {.cap = (size_t)argc};
	size_t len = 0, n_bundles;
	uint64_t minutes = 0;
	bool json = false, have_minutes = false, allow;
	int first, rc = CLI_USAGE;

	if ((bundles = calloc((size_t)argc + 1, sizeof *bundles)) == NULL ||
	    (ck = calloc(1, sizeof *ck)) == NULL || (wit = calloc(1, sizeof *wit)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	bl.v = bundles;
	{
		const struct cli_opt opts[] = {
		    CLI_STR("policy", &policy),
		    CLI_STR("root", &root),
		    CLI_STR("nar-hash", &nar),
		    CLI_STR("path", &dir),
		    CLI_STR("prev-root", &prev),
		    CLI_U64("requested-minutes", &minutes, &have_minutes),
		    CLI_LIST("bundle", &bl),
		    CLI_STR("log-key", &log_arg),
		    CLI_STR("origin", &origin),
		    CLI_FLAG("json", &json),
		    CLI_WITNESS_OPTS(wit),
		};

		rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first);
	}
	if (rc != CLI_GO)
		goto out;
	n_bundles = bl.n;
	rc = CLI_USAGE;
	if (first < argc) {
		cli_fail(CLI_USAGE, "unexpected argument %s (see --help)", argv[first]);
		goto out;
	}
	if (policy == NULL) {
		cli_fail(CLI_USAGE, "give the policy with --policy FILE (see --help)");
		goto out;
	}
	if ((dir == NULL) == (nar == NULL)) {
		cli_fail(CLI_USAGE, "give either --nar-hash HASH or --path DIR (see --help)");
		goto out;
	}
	if (dir != NULL && root == NULL) {
		if (nix_store_path_check(dir, strlen(dir), NULL) != 0) {
			cli_fail(CLI_USAGE,
			    "--path %s is not a store path: name the closure root with --root",
			    dir);
			goto out;
		}
		root = dir;
	}
	if (root == NULL) {
		cli_fail(CLI_USAGE, "give the closure root with --root PATH (see --help)");
		goto out;
	}
	if ((n_bundles > 0) != (log_arg != NULL)) {
		cli_fail(CLI_USAGE, "--bundle and --log-key go together (see --help)");
		goto out;
	}
	if (wit->n > 0 && n_bundles == 0) {
		cli_fail(
		    CLI_USAGE, "--witness applies to the checkpoints of --bundle (see --help)");
		goto out;
	}
	if ((rc = cli_witness_finish(wit)) != 0)
		goto out;

	if ((rc = policy_read(policy, &data, &len, &rev)) != 0)
		goto out;
	if ((rc = closurelog_policy_load(data, len, rev, &p, err, sizeof err)) != 0) {
		rc = cli_fail(rc == CLOSURELOG_ESYSTEM ? CLI_FAIL : CLI_USAGE, "--policy %s: %s",
		    policy, err);
		goto out;
	}
	if (dir != NULL) {
		if ((rc = closurelog_nar_hash(dir, sri, err, sizeof err)) != 0) {
			rc = cli_fail(CLI_USAGE, "--path: %s", err);
			goto out;
		}
		nar = sri;
	}
	if (closurelog_policy_decide(p,
	        &(struct closurelog_request){root, nar, prev, have_minutes ? &minutes : NULL},
	        &ck->d) != 0) {
		rc = cli_fail(CLI_USAGE, "%s", ck->d.reasons[0]);
		goto out;
	}
	if (n_bundles > 0 &&
	    (rc = bundles_check(ck, bundles, n_bundles, log_arg, origin, wit, data, len, root)) !=
	        0)
		goto out;

	allow = ck->d.allow && ck->n_extra == 0;
	if (json) {
		rc = print_json(ck, allow);
		if (rc == CLI_OK && !allow)
			rc = CLI_FAIL;
		goto out;
	}
	if (allow) {
		printf(
		    "allow %s env_hash=%s policy_id=%s\n", root, ck->d.env_hash, ck->d.policy_id);
		rc = CLI_OK;
		goto out;
	}
	for (size_t i = 0; i < ck->d.n_reasons; i++)
		fprintf(stderr, "deny: %s\n", ck->d.reasons[i]);
	for (size_t i = 0; i < ck->n_extra; i++)
		fprintf(stderr, "deny: %s\n", ck->extra[i]);
	rc = CLI_FAIL;
out:
	closurelog_policy_free(p);
	free(data);
	free(rev);
	free(bundles);
	free(ck);
	free(wit);
	return rc;
}
