/*
 * cmd_policy.c: closurelog policy build, the policy bundle a broker
 * checks renewals against, built from the log itself.
 *
 * The entries come from the follower (follow.h): the log's tiles and entry
 * bundles, checked against its signed checkpoint, never its search
 * indexes, whose word is worth no more than the log's.  What each entry
 * contributes is pdoc.c's business; this file runs the follower, resumes
 * from and saves the state directory, and writes data.json or the OPA
 * bundle.  State is saved only after a run that verified to the end, and
 * only after the output is written, so an interrupted run leaves the
 * previous state, which the next run resumes from.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cl.h"
#include "cli.h"
#include "cosig.h"
#include "file.h"
#include "follow.h"
#include "nix.h"
#include "note.h"
#include "opa.h"
#include "opts.h"
#include "pdoc.h"
#include "state.h"

#define RECORDS_FILE "policy-records.jsonl"
#define RECORDS_MAX  ((size_t)1 << 30)
#define LIST_MAX     (16 * 1024 * 1024) /* --approve and --submitter-keys files */

static const char usage[] =
    "usage: closurelog policy build --log URL --log-key PUB\n"
    "           (--submitter-key PUB... | --submitter-keys FILE) --state DIR\n"
    "           (-o data.json | --opa -o bundle.tar.gz) [--max-minutes N]\n"
    "           [--require-sandbox] [--system S] [--approve FILE] [--origin ORIGIN]\n"
    "           [--witness VKEY]... [--witness-quorum K]\n"
    "\n"
    "Follow the log from its verified tiles and entry bundles (never its search\n"
    "indexes) and write the data document a broker checks renewals against\n"
    "(docs/policy.md):\n"
    "  nix.roots            every root attested by an accepted submitter key that\n"
    "                       passes --require-sandbox and --system, with its narHash,\n"
    "                       successors and provenance (log index, submitter, build\n"
    "                       system, sandbox)\n"
    "  nix.approved_roots   all of them, or only those --approve FILE names\n"
    "  nix.conflicts        roots attested with different narHashes (neither\n"
    "                       recorded nor approved), with every index involved\n"
    "  policies.max_minutes --max-minutes (default 15)\n"
    "  closurelog           the checkpoint it was built at, its revision, the rules\n"
    "The same log state gives the same bytes.\n"
    "\n"
    "  --log URL              the log's URL prefix\n"
    "  --log-key PUB          the log's verifier key, or a file holding it\n"
    "  --origin ORIGIN        the checkpoint origin (default: the log key's name)\n"
    "  --submitter-key PUB    an accepted submitter (CI) key; repeatable\n"
    "  --submitter-keys FILE  accepted keys, one a line ('#' comments, blank lines)\n"
    "  --state DIR            state directory of its own (mode 0700), to resume from:\n"
    "                         a later run reads only the new entries\n"
    "  -o FILE                the output: data.json, or with --opa a bundle.tar.gz\n"
    "                         holding data.json, .manifest (revision: the\n"
    "                         checkpoint) and closurelog.rego\n"
    "  --max-minutes N        the longest credential lifetime allowed (default 15)\n"
    "  --require-sandbox      only builds made with the sandbox on\n"
    "  --system S             only builds for system S (e.g. x86_64-linux)\n"
    "  --approve FILE         approve only the store paths FILE lists, one a line\n"
    "                         (the rest are recorded, usable as successors)\n" CLI_WITNESS_USAGE
    "                         A checkpoint without enough valid cosignatures is\n"
    "                         refused: nothing is written (exit 1).\n"
    "\n"
    "Progress goes to standard error on long runs.\n"
    "Exit status: 0 written; 1 the log's data did not verify or the log could not\n"
    "be reached; 2 usage or input error, or a state directory that is locked or\n"
    "does not add up.\n";

struct build {
	char url[1024];
	struct note_verifier key;
	const char *origin;
	struct note_verifier *subs;
	size_t n_subs, cap_subs;
	char **approve;
	size_t n_approve;
	uint8_t *approve_buf, *subs_buf;
	struct cli_http_opts http;
	struct cli_state st;
	struct cli_follow *follow;
	struct cli_pdoc *doc;
	struct mt_range range;
	struct cli_witnesses wit;
};

static int
sub_add(struct build *b, const char *opt, const char *arg)
{
	if (b->n_subs == b->cap_subs) {
		size_t cap = b->cap_subs ? 2 * b->cap_subs : 8;
		struct note_verifier *n = realloc(b->subs, cap * sizeof *n);

		if (n == NULL)
			return cli_fail(CLI_FAIL, "out of memory");
		b->subs = n;
		b->cap_subs = cap;
	}
	if (cli_verifier_arg(opt, arg, &b->subs[b->n_subs]) != 0)
		return CLI_USAGE;
	if (b->subs[b->n_subs].type != NOTE_TYPE_ED25519)
		return cli_fail(CLI_USAGE, "%s: %s is not an Ed25519 note key", opt, arg);
	b->n_subs++;
	return 0;
}

/* --submitter-key PUB (opts.h CLI_OPT_FN; dst: the struct build). */
static int
sub_opt(void *b, const char *arg)
{
	return sub_add(b, "--submitter-key", arg);
}

/* --max-minutes N, at most what a policy document may say (dst: uint64_t). */
static int
max_minutes_opt(void *max, const char *arg)
{
	int rc;

	if ((rc = cli_u64_arg("--max-minutes", arg, max)) != 0)
		return rc;
	if (*(uint64_t *)max > CLOSURELOG_POLICY_MINUTES_MAX)
		return cli_fail(
		    CLI_USAGE, "--max-minutes: at most %d", CLOSURELOG_POLICY_MINUTES_MAX);
	return 0;
}

/* Split a file into its lines (in place), skipping blank lines and '#'
 * comments; call fn for each. */
static int
lines_each(const char *opt, const char *path, uint8_t **buf,
    int (*fn)(struct build *, const char *opt, const char *line, size_t lineno), struct build *b)
{
	char why[CL_WHY_MAX], *line, *next;
	size_t len, lineno = 0;
	int rc;

	if ((rc = cl_file_read(path, LIST_MAX, CL_FILE_STREAM, buf, &len, why)) != 0)
		return cli_fail(CLI_USAGE, "%s: %s", opt, why);
	if (memchr(*buf, '\0', len) != NULL)
		return cli_fail(CLI_USAGE, "%s %s: has a NUL byte", opt, path);
	for (line = (char *)*buf; line != NULL; line = next) {
		size_t n;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if ((rc = fn(b, opt, line, lineno)) != 0)
			return rc;
	}
	return 0;
}

static int
sub_line(struct build *b, const char *opt, const char *line, size_t lineno)
{
	char what[64];

	snprintf(what, sizeof what, "%s line %zu", opt, lineno);
	return sub_add(b, what, line);
}

static int
approve_line(struct build *b, const char *opt, const char *line, size_t lineno)
{
	char why[CL_WHY_MAX];
	char **n;

	if (nix_store_path_check(line, strlen(line), why) != 0)
		return cli_fail(CLI_USAGE, "%s line %zu: %s", opt, lineno, why);
	if ((n = realloc(b->approve, (b->n_approve + 1) * sizeof *n)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	b->approve = n;
	b->approve[b->n_approve++] = (char *)line;
	return 0;
}

static int
on_entry(void *ctx, const struct cli_follow_entry *e, char *why)
{
	struct build *b = ctx;
	char w[CL_WHY_MAX];
	int rc;

	if ((rc = cli_pdoc_add(b->doc, e->index, e->data, e->len, w)) != 0)
		snprintf(why, CLI_MSG_MAX, "entry %" PRIu64 ": %s", e->index, w);
	return rc;
}

static void
warn_unapproved(const char *root)
{
	cli_warn("--approve names %s, which no accepted attestation records: not approved", root);
}

/* Resume: the tree rebuilt so far (DIR/full, checked against
 * DIR/checkpoint as the audit state is) and the records drawn from it.  A
 * state whose records do not match the tree or the rules starts over:
 * *fresh is then set.  Returns 0 or the exit code. */
static int
state_resume(struct build *b, const char *dir, bool *fresh)
{
	char why[CLI_MSG_MAX], path[CLI_STATE_PATH_MAX];
	uint8_t *buf = NULL, *note = NULL;
	struct sth trusted;
	size_t len;
	int rc;

	*fresh = true;
	if (cli_state_open(&b->st, dir, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	rc = cli_state_checkpoint_load(&b->st, &b->key, b->origin, &note, &len, &trusted, why);
	if (rc == ENOENT)
		return 0;
	if (rc == 0)
		rc = cli_state_full_load(&b->st, &b->key, b->origin, &trusted, &b->range, why);
	free(note);
	if (rc != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	cli_state_path(&b->st, RECORDS_FILE, path);
	rc = cl_file_read(path, RECORDS_MAX, 0, &buf, &len, why);
	if (rc == 0)
		rc = cli_pdoc_load(b->doc, buf, len, b->range.size, why);
	free(buf);
	if (rc != 0) {
		cli_warn("state %s: %s; rebuilding from the first entry", path, why);
		mt_range_init(&b->range);
		return 0;
	}
	*fresh = false;
	return 0;
}

static int
output_write(struct build *b, const char *out, bool opa, const uint8_t *note, size_t note_len,
    const struct sth *c)
{
	char *data = NULL, *state = NULL, *manifest = NULL, rev[CLOSURELOG_POLICY_ID_MAX];
	char why[CLI_MSG_MAX], path[CLI_STATE_PATH_MAX];
	uint8_t *gz = NULL;
	size_t len, slen, gzlen;
	int rc;

	if ((rc = cli_pdoc_build(b->doc, c, &data, &len, rev, warn_unapproved, why)) != 0) {
		rc = cli_fail(CLI_FAIL, "%s", why);
		goto out;
	}
	if (len > CLOSURELOG_POLICY_MAX) {
		rc = cli_fail(CLI_FAIL,
		    "the data document is %zu bytes, more than the %d libclosurelog-verify "
		    "loads (CLOSURELOG_POLICY_MAX); narrow it with --system, --require-sandbox "
		    "or fewer submitter keys",
		    len, CLOSURELOG_POLICY_MAX);
		goto out;
	}
	if (opa) {
		json_t *m = json_pack("{s:s, s:[s,s,s], s:{s:{s:s, s:I}}}", "revision", rev,
		    "roots", "nix", "policies", "closurelog", "metadata", "checkpoint", "origin",
		    c->origin, "size", (json_int_t)c->size);
		struct cli_opa_file files[3];

		manifest = m == NULL ? NULL : json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(m);
		if (manifest == NULL) {
			rc = cli_fail(CLI_FAIL, "out of memory");
			goto out;
		}
		files[0] =
		    (struct cli_opa_file){".manifest", (const uint8_t *)manifest, strlen(manifest)};
		files[1] = (struct cli_opa_file){"data.json", (const uint8_t *)data, len};
		files[2] = (struct cli_opa_file){
		    "closurelog.rego", (const uint8_t *)cli_rego_policy, strlen(cli_rego_policy)};
		if ((rc = cli_opa_write(files, 3, &gz, &gzlen, why)) != 0) {
			rc = cli_fail(CLI_FAIL, "%s", why);
			goto out;
		}
		rc = cl_file_write(out, gz, gzlen, 0644, CL_FILE_STREAM, why);
	} else {
		rc = cl_file_write(out, data, len, 0644, CL_FILE_STREAM, why);
	}
	if (rc != 0) {
		rc = cli_fail(CLI_USAGE, "-o: %s", why);
		goto out;
	}
	/* Records first, then the tree: a crash between leaves records that
	 * do not match the tree, which the next run detects and rebuilds. */
	if ((rc = cli_pdoc_save(b->doc, b->range.size, &state, &slen, why)) != 0) {
		rc = cli_fail(CLI_FAIL, "%s", why);
		goto out;
	}
	cli_state_path(&b->st, RECORDS_FILE, path);
	if (cl_file_write(path, state, slen, 0600, 0, why) != 0 ||
	    cli_state_checkpoint_save(&b->st, note, note_len, why) != 0 ||
	    cli_state_full_save(&b->st, &b->range, note, note_len, why) != 0) {
		rc = cli_fail(CLI_USAGE, "state: %s", why);
		goto out;
	}
	rc = 0;
out:
	free(data);
	free(state);
	free(manifest);
	free(gz);
	return rc;
}

static int
policy_build(int argc, char **argv)
{
	static const char *const no_roots[1] = {NULL};
	const char *log = NULL, *key = NULL, *dir = NULL, *out = NULL, *system = NULL;
	const char *approve = NULL, *subs_file = NULL;
	struct build *b;
	struct cli_pdoc_rules rules = {0};
	struct sth c;
	uint8_t *note = NULL;
	size_t note_len = 0;
	uint64_t max_minutes = 15, from;
	bool opa = false, sandbox = false, fresh;
	char why[CLI_MSG_MAX];
	int first, rc = CLI_USAGE;

	if ((b = calloc(1, sizeof *b)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	b->st.lock_fd = -1;
	mt_range_init(&b->range);
	{
		const struct cli_opt opts[] = {
		    CLI_STR("log", &log),
		    CLI_STR("log-key", &key),
		    CLI_STR("origin", &b->origin),
		    CLI_FN("submitter-key", b, sub_opt, true),
		    CLI_STR("submitter-keys", &subs_file),
		    CLI_STR("state", &dir),
		    CLI_STR_SHORT("output", 'o', &out),
		    CLI_FLAG("opa", &opa),
		    CLI_FN("max-minutes", &max_minutes, max_minutes_opt, true),
		    CLI_FLAG("require-sandbox", &sandbox),
		    CLI_STR("system", &system),
		    CLI_STR("approve", &approve),
		    CLI_WITNESS_OPTS(&b->wit),
		};

		rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first);
	}
	if (rc != CLI_GO)
		goto out;
	rc = CLI_USAGE;
	if (first != argc || log == NULL || key == NULL || dir == NULL || out == NULL) {
		cli_fail(CLI_USAGE,
		    "give --log URL, --log-key PUB, --state DIR and -o FILE "
		    "(see --help)");
		goto out;
	}
	if ((rc = cli_witness_finish(&b->wit)) != 0)
		goto out;
	if (subs_file != NULL &&
	    (rc = lines_each("--submitter-keys", subs_file, &b->subs_buf, sub_line, b)) != 0)
		goto out;
	if (b->n_subs == 0) {
		rc = cli_fail(CLI_USAGE,
		    "give at least one --submitter-key or --submitter-keys "
		    "FILE: without one nothing can be recorded");
		goto out;
	}
	if (approve != NULL &&
	    (rc = lines_each("--approve", approve, &b->approve_buf, approve_line, b)) != 0)
		goto out;
	if (system != NULL && (system[0] == '\0' || strlen(system) > CL_SYSTEM_MAX)) {
		rc = cli_fail(CLI_USAGE, "--system: empty or longer than %d bytes", CL_SYSTEM_MAX);
		goto out;
	}
	if ((rc = cli_log_url(log, b->url, sizeof b->url)) != 0 ||
	    (rc = cli_verifier_arg("--log-key", key, &b->key)) != 0)
		goto out;
	if (b->origin == NULL)
		b->origin = b->key.name;
	if (strlen(dir) == 0 || strlen(dir) > CLI_STATE_DIR_MAX) {
		rc = cli_fail(CLI_USAGE, "--state: empty or too long");
		goto out;
	}

	rules = (struct cli_pdoc_rules){b->subs, b->n_subs, sandbox, system,
	    approve != NULL ? (const char *const *)b->approve : NULL, b->n_approve, max_minutes};
	if (approve != NULL && b->n_approve == 0)
		rules.approve = no_roots; /* an empty list approves nothing */
	if ((b->doc = cli_pdoc_new(&rules)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	if ((rc = state_resume(b, dir, &fresh)) != 0)
		goto out;
	if (fresh) {
		/* Whatever a refused records file left in the builder goes. */
		cli_pdoc_free(b->doc);
		if ((b->doc = cli_pdoc_new(&rules)) == NULL) {
			rc = cli_fail(CLI_FAIL, "out of memory");
			goto out;
		}
	}

	cli_http_defaults(&b->http);
	b->follow =
	    cli_follow_new(&(struct cli_follow_opts){b->url, &b->key, b->origin, &b->http, true});
	if (b->follow == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	if ((rc = cli_follow_checkpoint(b->follow, &note, &note_len, &c, why)) != 0) {
		rc = cli_fail(rc, "%s", why);
		goto out;
	}
	/* A policy is no better than the checkpoint it is built at: one the
	 * witnesses have not cosigned may show this builder a fork. */
	if (cli_witness_check(&b->wit, note, note_len, why) != 0) {
		rc = cli_fail(CLI_FAIL, "checkpoint %" PRIu64 ": %s; nothing written", c.size, why);
		goto out;
	}
	if (c.size < b->range.size) {
		rc = cli_fail(CLI_FAIL,
		    "the log's checkpoint has %" PRIu64 " entries, fewer than the %" PRIu64
		    " this state has read: the log rolled back (or --state is another log's)",
		    c.size, b->range.size);
		goto out;
	}
	from = b->range.size;
	if ((rc = cli_follow_run(b->follow, &c, &b->range, on_entry, b, why)) != 0) {
		rc = cli_fail(CLI_FAIL, "%s", why);
		goto out;
	}
	if ((rc = output_write(b, out, opa, note, note_len, &c)) != 0)
		goto out;
	{
		const struct cli_pdoc_stats *s = cli_pdoc_stats(b->doc);
		char range[64] = "no new entries";

		if (from < c.size)
			snprintf(
			    range, sizeof range, "entries %" PRIu64 "..%" PRIu64, from, c.size - 1);
		fprintf(stderr,
		    "closurelog policy: %s written at checkpoint %" PRIu64 " (%s read now: %" PRIu64
		    " accepted, %" PRIu64 " not by an accepted key, %" PRIu64
		    " with a bad signature, %" PRIu64 " outside the constraints)\n",
		    out, c.size, range, s->accepted, s->unsigned_by_accepted, s->bad_signature,
		    s->constrained);
	}
	rc = CLI_OK;
out:
	cli_state_close(&b->st);
	cli_follow_free(b->follow);
	cli_pdoc_free(b->doc);
	free(note);
	free(b->subs);
	free(b->approve);
	free(b->approve_buf);
	free(b->subs_buf);
	free(b);
	return rc;
}

int
cli_cmd_policy(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "build") == 0)
		return policy_build(argc - 1, argv + 1); /* its --help too */
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	return cli_fail(CLI_USAGE, "unknown subcommand (closurelog policy build --help)");
}
