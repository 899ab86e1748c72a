/*
 * cmd_verify.c: closurelog verify, the offline check of a proof bundle (or
 * of a tlog-proof and its envelope) that a broker or a person runs before
 * trusting a closure.
 *
 * The command is a thin shell over libclosurelog-verify, the library
 * brokers link, so that the command line and the library can never
 * disagree about what verifies.  Keys given as files are read here and
 * handed to the library as key strings; everything else is the library's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cl.h"
#include "cli.h"
#include "closurelog/verify.h"
#include "cosig.h"
#include "file.h"
#include "note.h"
#include "opts.h"
#include "show.h"
#include "tproof.h"
#include "wire.h"

static const char usage[] =
    "usage: closurelog verify --log-key PUB --submitter-key PUB [--submitter-key PUB]...\n"
    "           [--origin ORIGIN] [--root PATH] [--nar-hash HASH] [--json]\n"
    "           [--witness VKEY]... [--witness-quorum K]\n"
    "           (BUNDLE | --tlog-proof FILE --envelope FILE)\n"
    "\n"
    "Check offline, with no network access, that a proof bundle (written by\n"
    "closurelog submit) shows a closure attestation signed by an accepted submitter\n"
    "and included in the log.  In order, it checks that:\n"
    "  1. the bundle and its c2sp.org/tlog-proof are well formed;\n"
    "  2. the checkpoint is signed by the log key and has the expected origin,\n"
    "     and (with --witness) cosigned by a quorum of the witnesses (EWITNESS);\n"
    "  3. the inclusion proof leads from the envelope to the checkpoint's root;\n"
    "  4. the envelope is signed by an accepted submitter key, and no accepted\n"
    "     key's signature on it is invalid;\n"
    "  5. the signed payload is a valid closure attestation;\n"
    "  6. its root and narHash are the ones given with --root and --nar-hash.\n"
    "The first check that fails is reported.  A valid bundle does not show that\n"
    "the log has not forked since (closurelog audit checks that); witnesses make\n"
    "a fork shown to the broker but hidden from them impossible.\n"
    "\n"
    "PUB is a C2SP verifier key (name+keyid+base64) or a file holding one.\n"
    "\n"
    "  --log-key PUB          the log's public key (required)\n"
    "  --origin ORIGIN        the checkpoint origin to require (default: the log\n"
    "                         key's name, which is closurelogd's default origin)\n"
    "  --submitter-key PUB    a submitter (CI) key to accept; repeatable, at least one\n"
    "  --root PATH            require this root store path, /nix/store/<hash>-<name>\n"
    "  --nar-hash HASH        require this narHash, in any Nix form (sha256-<base64>,\n"
    "                         sha256:<nix32 or hex>, or a bare nix32/hex digest)\n"
    "  --json                 print the result as a JSON object on standard output:\n"
    "                         ok, status (\"OK\" or the failure, e.g. \"EROOT\"), code,\n"
    "                         reason, and on success index, tree_size, origin, root,\n"
    "                         nar_hash, submitter, submitter_keyid\n"
    "  --tlog-proof FILE      verify a c2sp.org/tlog-proof@v1 file ...\n"
    "  --envelope FILE        ... and the DSSE envelope it proves, instead of a "
    "BUNDLE\n" CLI_WITNESS_USAGE "\n"
    "BUNDLE, FILE: a path, or '-' for standard input.\n"
    "\n"
    "Without --json, success prints one line \"OK: <root> (narHash <hash>) is entry\n"
    "<index> of <origin> (size <size>), signed by <key name> (<key ID>)\" on standard\n"
    "output, and failure prints \"FAIL: <reason>\" on standard error.  Without --root\n"
    "or --nar-hash the bundle only shows what was logged, not that it is the closure\n"
    "you expect: give them when deciding about a specific closure.\n"
    "\n"
    "Exit status: 0 every check holds; 1 a check failed; 2 usage or input error\n"
    "(missing or bad flags, an unreadable file, a malformed key).\n";

/* The key string of a PUB argument (a key or a file), into out. */
static int
key_string(const char *opt, const char *arg, char out[NOTE_VKEY_MAX])
{
	struct note_verifier v;
	int rc;

	if ((rc = cli_verifier_arg(opt, arg, &v)) != 0)
		return rc;
	if (note_verifier_format(&v, out, NOTE_VKEY_MAX) == 0)
		return cli_fail(CLI_USAGE, "%s: cannot format the key", opt);
	return 0;
}

static int
print_json(const struct closurelog_result *r)
{
	json_t *j = json_object();

	if (j == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	json_object_set_new(j, "ok", json_boolean(r->status == CLOSURELOG_OK));
	json_object_set_new(j, "status", json_string(closurelog_status_name(r->status)));
	json_object_set_new(j, "code", json_integer((json_int_t)r->status));
	json_object_set_new(j, "reason", json_string(r->reason));
	if (r->status == CLOSURELOG_OK) {
		json_object_set_new(j, "index", json_integer((json_int_t)r->index));
		json_object_set_new(j, "tree_size", json_integer((json_int_t)r->tree_size));
		json_object_set_new(j, "origin", json_string(r->origin));
		json_object_set_new(j, "root", json_string(r->root));
		json_object_set_new(j, "nar_hash", json_string(r->nar_hash));
		json_object_set_new(j, "submitter", json_string(r->submitter));
		json_object_set_new(j, "submitter_keyid", json_string(r->submitter_keyid));
	}
	return cli_show_json_print(j);
}

/* Read an input file of at most cap bytes, the most the library takes.  A
 * missing or unreadable file is a usage error; a larger one cannot be a
 * valid input, and fails as the library would fail it. */
static int
read_input(const char *what, const char *path, size_t cap, uint8_t **buf, size_t *len)
{
	char why[CL_WHY_MAX];
	int rc;

	if ((rc = cl_file_read(path, cap, CL_FILE_STREAM, buf, len, why)) == CL_ETOOBIG)
		return cli_fail(CLI_FAIL, "FAIL: %s: %s", what, why);
	if (rc != 0)
		return cli_fail(CLI_USAGE, "%s: %s", what, why);
	return 0;
}

int
cli_cmd_verify(int argc, char **argv)
{
	const char *log_arg = NULL, *origin = NULL, *want_root = NULL, *want_nar = NULL;
	const char *tp_path = NULL, *env_path = NULL, *bundle_path = NULL;
	struct cli_opt_list sub_args = {NULL, 0, 0};
	char log_key[NOTE_VKEY_MAX], err[CLOSURELOG_ERR_MAX];
	char(*sub_keys)[NOTE_VKEY_MAX] = NULL;
	const char **sub_ptrs = NULL;
	struct closurelog_verifier *v = NULL;
	struct closurelog_result res;
	enum closurelog_status st;
	struct cli_witnesses wit = {0};
	uint8_t *a = NULL, *b = NULL;
	size_t n_subs = 0, a_len = 0, b_len = 0;
	bool json = false;
	const struct cli_opt opts[] = {
	    CLI_STR("log-key", &log_arg),
	    CLI_STR("origin", &origin),
	    CLI_LIST("submitter-key", &sub_args),
	    CLI_STR("root", &want_root),
	    CLI_STR("nar-hash", &want_nar),
	    CLI_FLAG("json", &json),
	    CLI_STR("tlog-proof", &tp_path),
	    CLI_STR("envelope", &env_path),
	    CLI_WITNESS_OPTS(&wit),
	};
	int first, rc;

	if ((sub_args.v = calloc((size_t)argc + 1, sizeof *sub_args.v)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	sub_args.cap = (size_t)argc + 1;
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		goto out;
	n_subs = sub_args.n;
	if (first < argc)
		bundle_path = argv[first++];
	if (first < argc) {
		rc = cli_fail(CLI_USAGE, "unexpected argument %s (see --help)", argv[first]);
		goto out;
	}
	if (log_arg == NULL) {
		rc = cli_fail(CLI_USAGE, "give the log's key with --log-key (see --help)");
		goto out;
	}
	if (n_subs == 0) {
		rc = cli_fail(CLI_USAGE,
		    "give at least one --submitter-key: without one no bundle can be accepted");
		goto out;
	}
	if ((tp_path == NULL) != (env_path == NULL)) {
		rc = cli_fail(CLI_USAGE, "--tlog-proof and --envelope go together (see --help)");
		goto out;
	}
	if ((bundle_path == NULL) == (tp_path == NULL)) {
		rc = cli_fail(CLI_USAGE,
		    "give either a BUNDLE or --tlog-proof FILE --envelope FILE (see --help)");
		goto out;
	}

	if ((rc = cli_witness_finish(&wit)) != 0)
		goto out;
	if ((rc = key_string("--log-key", log_arg, log_key)) != 0)
		goto out;
	sub_keys = calloc(n_subs, sizeof *sub_keys);
	sub_ptrs = calloc(n_subs, sizeof *sub_ptrs);
	if (sub_keys == NULL || sub_ptrs == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_subs; i++) {
		if ((rc = key_string("--submitter-key", sub_args.v[i], sub_keys[i])) != 0)
			goto out;
		sub_ptrs[i] = sub_keys[i];
	}
	if ((rc = closurelog_verifier_new(
	         log_key, origin, sub_ptrs, n_subs, &v, err, sizeof err)) != 0) {
		rc = cli_fail(rc == CLOSURELOG_EUSAGE ? CLI_USAGE : CLI_FAIL, "%s", err);
		goto out;
	}
	if ((rc = cli_witness_verifier(&wit, v)) != 0)
		goto out;

	if (bundle_path != NULL) {
		if ((rc = read_input("BUNDLE", bundle_path, CLOSURELOG_BUNDLE_MAX, &a, &a_len)) !=
		    0)
			goto out;
		st = closurelog_verify_bundle(v, a, a_len, want_root, want_nar, &res);
	} else {
		if ((rc = read_input("--tlog-proof", tp_path, TPROOF_MAX_SIZE, &a, &a_len)) != 0 ||
		    (rc = read_input("--envelope", env_path, CL_ENTRY_MAX, &b, &b_len)) != 0)
			goto out;
		st = closurelog_verify_tlog_proof(v, b, b_len, a, a_len, want_root, want_nar, &res);
	}

	if (st == CLOSURELOG_EUSAGE) {
		rc = cli_fail(CLI_USAGE, "%s", res.reason);
		goto out;
	}
	if (json) {
		rc = print_json(&res);
		if (rc == CLI_OK && res.status != CLOSURELOG_OK)
			rc = CLI_FAIL;
		goto out;
	}
	if (res.status != CLOSURELOG_OK) {
		rc = cli_fail(CLI_FAIL, "FAIL: %s", res.reason);
		goto out;
	}
	printf("OK: %s (narHash %s) is entry %llu of %s (size %llu), signed by %s (%s)\n", res.root,
	    res.nar_hash, (unsigned long long)res.index, res.origin,
	    (unsigned long long)res.tree_size, res.submitter, res.submitter_keyid);
	if (want_root == NULL && want_nar == NULL)
		cli_warn("no --root or --nar-hash given: this shows what was logged, not that it "
		         "is the closure you expect");
	rc = CLI_OK;
out:
	closurelog_verifier_free(v);
	free(a);
	free(b);
	free(sub_ptrs);
	free(sub_keys);
	free(sub_args.v);
	return rc;
}
