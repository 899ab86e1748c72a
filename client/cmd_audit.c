/*
 * cmd_audit.c: closurelog audit and verify-evidence: watch a log for forks
 * and rollbacks, and re-check fork evidence offline.
 *
 * An auditor keeps one trusted checkpoint in a state directory and replaces
 * it only with a checkpoint proven to extend it.  The log's consistency
 * proof is the fast path.  When that proof fails, the log's word is not
 * taken for it either way: the proof is rebuilt from the log's hash tiles
 * at the larger size.  Tiles that lead to the larger signed root but imply
 * another root at the smaller size mean that the log signed two trees that
 * cannot both be prefixes of one append-only log: a fork.  That is written
 * down as evidence that anyone holding the log key can re-check, offline,
 * with closurelog verify-evidence.  The evidence checker is also run by the
 * auditor on what it writes, so that "fork proven" always means the same
 * thing in both commands.
 *
 * --full makes the auditor a monitor: the follower (follow.h) rebuilds the
 * tree from every entry past the position reached last time and checks it
 * against the log's tiles and checkpoint; its right edge is kept in the
 * state directory (state.h), so the next run fetches only what is new.
 *
 * The file formats are in docs/audit.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "closurelog/verify.h"

#include "cl.h"
#include "cli.h"
#include "cosig.h"
#include "evidence.h"
#include "file.h"
#include "follow.h"
#include "http.h"
#include "merkle.h"
#include "note.h"
#include "opts.h"
#include "show.h"
#include "state.h"
#include "sth.h"
#include "wire.h"

#define MSG_MAX 1024

static void
b64_hash(const uint8_t h[MT_HASH_LEN], char out[CL_B64_LEN(MT_HASH_LEN) + 1])
{
	cl_b64_encode(h, MT_HASH_LEN, out, CL_B64_LEN(MT_HASH_LEN) + 1);
}

/* ---- The auditor ---- */

struct audit {
	char url[2048];
	struct note_verifier key;
	char vkey[NOTE_VKEY_MAX];
	const char *origin;
	struct cli_http_opts http;
	struct wire_arena arena;
	void *abuf;
	bool full, json;
	struct cli_state st;
	struct cli_follow *follow;
	struct cli_witnesses wit; /* --witness, --witness-quorum */

	/* The trusted checkpoint (DIR/checkpoint). */
	bool have_old;
	uint8_t *old_note;
	size_t old_len;
	struct sth old;

	/* The log's current checkpoint. */
	bool have_new;
	uint8_t *new_note;
	size_t new_len;
	struct sth cur;

	/* The tree rebuilt by --full (DIR/full), empty without one; every
	 * entry in it was validated. */
	struct mt_range range;
	uint64_t full_from;

	char evidence[CLI_STATE_PATH_MAX]; /* the evidence file written, or "" */
};

/* Print the outcome and return code: a line for people (stdout on success,
 * stderr otherwise), or with --json one JSON object on stdout as well. */
static int __attribute__((format(printf, 4, 5)))
report(struct audit *a, int code, const char *status, const char *fmt, ...)
{
	va_list ap;
	json_t *j = NULL, *f;
	int rc;

	if (a->json && (j = json_object()) != NULL) {
		json_object_set_new(j, "origin", json_string(a->origin));
		cli_show_checkpoint_fields(j, "old_size", "old_root", a->have_old ? &a->old : NULL);
		cli_show_checkpoint_fields(j, "new_size", "new_root", a->have_new ? &a->cur : NULL);
		json_object_set_new(
		    j, "evidence", a->evidence[0] != '\0' ? json_string(a->evidence) : json_null());
		if (a->full && (f = json_object()) != NULL) {
			json_object_set_new(f, "from", json_integer((json_int_t)a->full_from));
			json_object_set_new(f, "size", json_integer((json_int_t)a->range.size));
			json_object_set_new(
			    f, "validated", json_integer((json_int_t)a->range.size));
			json_object_set_new(j, "full", f);
		}
	}
	va_start(ap, fmt);
	rc = cli_show_outcome(code, status, a->json, j, fmt, ap);
	va_end(ap);
	return rc;
}

/* Open DIR, take its lock, and load what it holds: the trusted checkpoint
 * and, with --full, the rebuilt tree.  Failures are usage errors. */
static int
state_load(struct audit *a, const char *dir)
{
	char why[CLI_MSG_MAX];
	int rc;

	if (cli_state_open(&a->st, dir, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	rc = cli_state_checkpoint_load(
	    &a->st, &a->key, a->origin, &a->old_note, &a->old_len, &a->old, why);
	if (rc != 0 && rc != ENOENT)
		return cli_fail(CLI_USAGE, "%s", why);
	a->have_old = rc == 0;
	if (!a->full)
		return 0;
	rc = cli_state_full_load(
	    &a->st, &a->key, a->origin, a->have_old ? &a->old : NULL, &a->range, why);
	if (rc != 0 && rc != ENOENT)
		return cli_fail(CLI_USAGE, "%s", why);
	return 0;
}

/* Write the evidence to DIR/evidence-<unix time>.json (never over an
 * earlier file) after checking that it says what it claims. */
static int
evidence_save(struct audit *a, struct evidence *ev)
{
	char *buf = NULL;
	size_t len;
	char msg[EVIDENCE_MSG_MAX], why[CL_WHY_MAX], stem[40];
	int rc;

	snprintf(ev->vkey, sizeof ev->vkey, "%s", a->vkey);
	cl_line_copy(ev->url, sizeof ev->url, a->url, strlen(a->url));
	cl_line_copy(ev->reason, sizeof ev->reason, ev->reason, strlen(ev->reason));
	ev->time = (uint64_t)time(NULL);
	/* The auditor claims a fork exactly when verify-evidence will agree. */
	if (ev->proven && evidence_judge(ev, &a->key, msg, sizeof msg) != 0) {
		ev->proven = false;
		snprintf(ev->reason, sizeof ev->reason, "unproven: %.900s", msg);
	}
	if ((rc = evidence_encode(ev, &buf, &len)) != 0)
		return cli_fail(CLI_FAIL, "cannot write evidence: %s", cl_strerror(rc));
	snprintf(stem, sizeof stem, "evidence-%" PRIu64, ev->time);
	if (cli_write_new(a->st.dir, stem, ".json", buf, len, 0644, a->evidence, sizeof a->evidence,
	        why) != 0)
		rc = cli_fail(CLI_FAIL, "cannot write evidence: %s", why);
	free(buf);
	return rc;
}

/* The two checkpoints compared: sm is the smaller tree, lg the larger. */
struct pair {
	const uint8_t *sm_note, *lg_note;
	size_t sm_len, lg_len;
	const struct sth *sm, *lg;
	bool rollback; /* sm is the log's current checkpoint, lg the trusted one */
};

static void
evidence_start(struct evidence *ev, const struct pair *p)
{
	memset(ev, 0, sizeof *ev);
	ev->old_size = p->sm->size;
	ev->new_size = p->lg->size;
	/* Both were verified, and checkpoints are capped at CL_CHECKPOINT_MAX. */
	memcpy(ev->old_note, p->sm_note, p->sm_len);
	ev->old_len = p->sm_len;
	memcpy(ev->new_note, p->lg_note, p->lg_len);
	ev->new_len = p->lg_len;
}

/* Record an inconsistency: write the evidence and report it.  Always
 * returns CLI_FAIL (or what a failed write returns). */
static int
inconsistency(struct audit *a, struct evidence *ev)
{
	int rc;

	if ((rc = evidence_save(a, ev)) != 0)
		return report(
		    a, rc, "error", "%s (and the evidence could not be saved)", ev->reason);
	if (ev->proven)
		return report(a, CLI_FAIL, "fork", "%s; evidence in %s", ev->reason, a->evidence);
	return report(
	    a, CLI_FAIL, "unproven", "%s; what was seen is in %s", ev->reason, a->evidence);
}

/* The log's consistency proof from m to n, checked against the pair's
 * roots.  Returns 0 if it verifies; otherwise 1 with why, and *have_lp
 * tells whether the log answered a well-formed proof (then in *lp). */
static int
log_proof_check(
    struct audit *a, const struct pair *p, struct cl_proof *lp, bool *have_lp, char *why)
{
	uint64_t m = p->sm->size, n = p->lg->size;
	struct cli_http_resp r = {0};
	char path[128], w[CL_WHY_MAX];
	int rc = 1;

	*have_lp = false;
	snprintf(path, sizeof path, "v1/proof/consistency?from=%" PRIu64 "&to=%" PRIu64, m, n);
	if (cli_http_get(&a->http, a->url, path, CL_API_MAX, &r, why) != 0)
		return 1;
	wire_arena_reset(&a->arena);
	if (wire_consistency_decode(&a->arena, r.body, r.len, lp, w) != 0) {
		cl_why(why, 1, "malformed consistency proof: %s", w);
	} else if (lp->a != m || lp->b != n) {
		cl_why(why, 1,
		    "asked for a proof from %" PRIu64 " to %" PRIu64
		    ", the log answered one from %" PRIu64 " to %" PRIu64,
		    m, n, lp->a, lp->b);
	} else {
		*have_lp = true;
		if (mt_consistency_verify(
		        m, n, p->sm->root, p->lg->root, MT_PATH(lp->hashes), lp->n) == 0)
			rc = 0;
		else
			cl_why(why, 1,
			    "the log's consistency proof from %" PRIu64 " to %" PRIu64
			    " does not verify",
			    m, n);
	}
	cli_http_resp_free(&r);
	return rc;
}

/* Check that p->sm's tree is a prefix of p->lg's (sizes m < n): first with
 * the log's consistency proof, and if that fails, from the log's tiles at
 * size n.  Returns 0 if consistent; otherwise the outcome has been
 * reported (with evidence where there is some) and the exit code is
 * returned. */
static int
check_prefix(struct audit *a, const struct pair *p)
{
	uint64_t m = p->sm->size, n = p->lg->size;
	struct cl_proof *lp = NULL;
	struct cli_tileproof *tp = NULL;
	struct evidence *ev = NULL;
	char lwhy[CL_WHY_MAX], twhy[CLI_MSG_MAX];
	char s1[CL_B64_LEN(MT_HASH_LEN) + 1], s2[CL_B64_LEN(MT_HASH_LEN) + 1];
	bool have_lp;
	int rc;

	if (m == 0)
		return 0; /* the empty tree is a prefix of every tree */
	lp = malloc(sizeof *lp);
	tp = malloc(sizeof *tp);
	ev = malloc(sizeof *ev);
	if (lp == NULL || tp == NULL || ev == NULL) {
		rc = report(a, CLI_FAIL, "error", "out of memory");
		goto out;
	}
	if (log_proof_check(a, p, lp, &have_lp, lwhy) == 0) {
		rc = 0;
		goto out;
	}

	/* Not on the log's word: recompute everything from its tiles, which
	 * are bound to the signed root of size n. */
	evidence_start(ev, p);
	if (have_lp) {
		ev->have_log_proof = true;
		ev->n_log_proof = lp->n;
		memcpy(ev->log_proof, lp->hashes, lp->n * MT_HASH_LEN);
	}
	if (cli_follow_tiles_prove(a->follow, m, n, tp, twhy) != 0) {
		if (!have_lp) {
			rc = report(a, CLI_FAIL, p->rollback ? "older" : "error",
			    "cannot check consistency from %" PRIu64 " to %" PRIu64
			    ": %s; from tiles: %s",
			    m, n, lwhy, twhy);
			goto out;
		}
		snprintf(ev->reason, sizeof ev->reason,
		    "unproven: the log served inconsistent data: %s, and its tiles at size %" PRIu64
		    " could not be fetched (%.400s)",
		    lwhy, n, twhy);
		rc = inconsistency(a, ev);
		goto out;
	}
	ev->have_implied = true;
	memcpy(ev->implied, tp->small_root, MT_HASH_LEN);
	ev->n_proof = tp->n_path;
	memcpy(ev->proof, tp->path, tp->n_path * MT_HASH_LEN);
	if (mt_consistency_verify(
	        m, n, tp->small_root, p->lg->root, MT_PATH(tp->path), tp->n_path) != 0) {
		b64_hash(tp->large_root, s1);
		snprintf(ev->reason, sizeof ev->reason,
		    "unproven: the log served inconsistent data: %s, and its tiles at size %" PRIu64
		    " do not match its signed checkpoint of that size (they give root %s)",
		    lwhy, n, s1);
		rc = inconsistency(a, ev);
		goto out;
	}
	if (sodium_memcmp(tp->small_root, p->sm->root, MT_HASH_LEN) != 0) {
		b64_hash(tp->small_root, s1);
		b64_hash(p->sm->root, s2);
		ev->proven = true;
		snprintf(ev->reason, sizeof ev->reason,
		    "fork: the log's tiles at size %" PRIu64 " match its signed checkpoint of that "
		    "size and give root %s at size %" PRIu64
		    ", but its signed checkpoint of size %" PRIu64 " has root %s",
		    n, s1, m, m, s2);
		rc = inconsistency(a, ev);
		goto out;
	}
	if (have_lp) {
		snprintf(ev->reason, sizeof ev->reason,
		    "unproven: the log served an invalid consistency proof from %" PRIu64
		    " to %" PRIu64 ", but its tiles are consistent with both checkpoints",
		    m, n);
		rc = inconsistency(a, ev);
		goto out;
	}
	cli_warn("the log's consistency proof was unavailable (%s); consistency proven from its "
	         "tiles instead",
	    lwhy);
	rc = 0;
out:
	free(ev);
	free(tp);
	free(lp);
	return rc;
}

/* --full: rebuild the tree up to the log's checkpoint from the entries.
 * On failure the outcome has been reported and the exit code is returned. */
static int
full_rebuild(struct audit *a)
{
	char why[CLI_MSG_MAX];
	int rc;

	a->full_from = a->range.size;
	if ((rc = cli_follow_run(a->follow, &a->cur, &a->range, NULL, NULL, why)) == 0)
		return 0;
	return report(a, CLI_FAIL, rc == CL_EINVAL ? "invalid" : "error", "%s", why);
}

/* ---- audit ---- */

static const char audit_usage[] =
    "usage: closurelog audit --log URL --log-key PUB --state DIR [--origin O] [--full]\n"
    "           [--json] [--witness VKEY]... [--witness-quorum K]\n"
    "\n"
    "Check that the log's current checkpoint extends the last one this auditor\n"
    "trusted, and trust the new one.  The first run trusts what it sees (trust on\n"
    "first use).  If the log's consistency proof fails, the proof is rebuilt from\n"
    "the log's hash tiles; when they prove that the log signed two incompatible\n"
    "trees, fork evidence is written to DIR/evidence-<unix time>.json (check it with\n"
    "closurelog verify-evidence).  Run it from cron; see docs/audit.md.\n"
    "\n"
    "  --log URL       the log's URL prefix\n"
    "  --log-key PUB   the log's verifier key, or a file holding it\n"
    "  --state DIR     state directory (created mode 0700; one audit at a time)\n"
    "  --origin O      the checkpoint origin expected (default: the log key's name)\n"
    "  --full          monitor mode: also download every new entry and hash tile,\n"
    "                  rebuild the tree and check every entry\n"
    "  --json          print the outcome as one JSON object\n"
    "  --witness VKEY  a witness's cosignature key, or a file holding one\n"
    "                  (repeatable): the log's checkpoint is trusted only when\n"
    "                  cosigned by a quorum of them\n"
    "  --witness-quorum K  how many (default: all)\n"
    "\n"
    "Exit status: 0 consistent; 1 fork, rollback, inconsistent or invalid data, too\n"
    "few witness cosignatures, or the log could not be reached; 2 usage error, or a\n"
    "state directory that is locked, unreadable or tampered with.\n";

static int
audit_run(struct audit *a, const char *dir)
{
	struct pair p;
	const uint8_t *trusted;
	size_t trusted_len;
	const char *status;
	char msg[MSG_MAX], why[CLI_MSG_MAX];
	int rc;

	if ((rc = state_load(a, dir)) != 0)
		return rc;
	if ((rc = cli_follow_checkpoint(a->follow, &a->new_note, &a->new_len, &a->cur, why)) != 0)
		return report(a, CLI_FAIL, "error", "%s", why);
	/* A checkpoint without its witnesses is not trusted, not even first. */
	if (cli_witness_check(&a->wit, a->new_note, a->new_len, why) != 0)
		return report(a, CLI_FAIL, "unwitnessed", "%s", why);
	a->have_new = true;

	if (!a->have_old) {
		status = "first";
		snprintf(msg, sizeof msg,
		    "%s: first checkpoint trusted at size %" PRIu64 " (trust on first use)",
		    a->cur.origin, a->cur.size);
	} else if (a->cur.size == a->old.size) {
		if (sodium_memcmp(a->cur.root, a->old.root, MT_HASH_LEN) != 0) {
			struct evidence *ev = malloc(sizeof *ev);

			if (ev == NULL)
				return report(a, CLI_FAIL, "error", "out of memory");
			p = (struct pair){a->old_note, a->new_note, a->old_len, a->new_len, &a->old,
			    &a->cur, false};
			evidence_start(ev, &p);
			ev->proven = true;
			snprintf(ev->reason, sizeof ev->reason,
			    "fork: the log signed two different roots for size %" PRIu64,
			    a->cur.size);
			rc = inconsistency(a, ev);
			free(ev);
			return rc;
		}
		status = "unchanged";
		snprintf(
		    msg, sizeof msg, "%s unchanged at size %" PRIu64, a->cur.origin, a->cur.size);
	} else if (a->cur.size > a->old.size) {
		p = (struct pair){
		    a->old_note, a->new_note, a->old_len, a->new_len, &a->old, &a->cur, false};
		if ((rc = check_prefix(a, &p)) != 0)
			return rc;
		status = "ok";
		snprintf(msg, sizeof msg,
		    "%s grew from %" PRIu64 " to %" PRIu64 " entries; consistency proven",
		    a->cur.origin, a->old.size, a->cur.size);
	} else {
		/* A rollback, or a stale cache in front of the log.  Either way
		 * the trusted checkpoint stays; tell which it is if we can. */
		cli_warn("log shows an older checkpoint (size %" PRIu64 ") than the trusted one "
		         "(size %" PRIu64 "): a rollback or a stale cache",
		    a->cur.size, a->old.size);
		p = (struct pair){
		    a->new_note, a->old_note, a->new_len, a->old_len, &a->cur, &a->old, true};
		if ((rc = check_prefix(a, &p)) != 0)
			return rc;
		return report(a, CLI_FAIL, "older",
		    "the log shows an older checkpoint (size %" PRIu64 ", trusted %" PRIu64
		    "); it is consistent with the trusted one, which is kept",
		    a->cur.size, a->old.size);
	}

	/* The new checkpoint extends the trusted one. */
	if (a->have_old && a->cur.size == a->old.size) {
		trusted = a->old_note;
		trusted_len = a->old_len;
	} else {
		trusted = a->new_note;
		trusted_len = a->new_len;
	}
	if (a->full && (rc = full_rebuild(a)) != 0)
		return rc;
	/* DIR/checkpoint first: if DIR/full is not written, it lags behind,
	 * which the next run handles. */
	if (trusted == a->new_note) {
		if (cli_state_checkpoint_save(&a->st, trusted, trusted_len, why) != 0)
			return report(a, CLI_USAGE, "error", "%s", why);
	}
	if (a->full) {
		size_t n = strlen(msg);

		if (a->full_from < a->cur.size)
			snprintf(msg + n, sizeof msg - n,
			    "; entries %" PRIu64 "..%" PRIu64 " rebuilt and validated",
			    a->full_from, a->cur.size - 1);
		else
			snprintf(msg + n, sizeof msg - n, "; all %" PRIu64 " entries validated",
			    a->cur.size);
		if (a->full_from < a->cur.size &&
		    cli_state_full_save(&a->st, &a->range, trusted, trusted_len, why) != 0)
			return report(a, CLI_USAGE, "error", "%s", why);
	}
	return report(a, CLI_OK, status, "%s", msg);
}

int
cli_cmd_audit(int argc, char **argv)
{
	struct audit *a;
	const char *log = NULL, *key = NULL, *dir = NULL;
	int first, rc;

	if ((a = calloc(1, sizeof *a)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	a->st.lock_fd = -1;
	{
		const struct cli_opt opts[] = {
		    CLI_STR("log", &log),
		    CLI_STR("log-key", &key),
		    CLI_STR("state", &dir),
		    CLI_STR("origin", &a->origin),
		    CLI_FLAG("full", &a->full),
		    CLI_FLAG("json", &a->json),
		    CLI_WITNESS_OPTS(&a->wit),
		};

		rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), audit_usage, &first);
	}
	if (rc != CLI_GO)
		goto out;
	if (first != argc || log == NULL || key == NULL || dir == NULL) {
		rc = cli_fail(
		    CLI_USAGE, "give --log URL, --log-key PUB and --state DIR (see --help)");
		goto out;
	}
	if ((rc = cli_witness_finish(&a->wit)) != 0 ||
	    (rc = cli_log_url(log, a->url, sizeof a->url)) != 0 ||
	    (rc = cli_verifier_arg("--log-key", key, &a->key)) != 0)
		goto out;
	if (a->key.type != NOTE_TYPE_ED25519) {
		rc = cli_fail(CLI_USAGE, "--log-key: not an Ed25519 note key (type 0x01)");
		goto out;
	}
	if (a->origin == NULL)
		a->origin = a->key.name;
	if (a->origin[0] == '\0' || strlen(a->origin) > STH_ORIGIN_MAX) {
		rc = cli_fail(CLI_USAGE, "--origin: empty or longer than %d bytes", STH_ORIGIN_MAX);
		goto out;
	}
	if (dir[0] == '\0' || strlen(dir) > CLI_STATE_DIR_MAX) {
		rc = cli_fail(CLI_USAGE, "--state: empty or too long");
		goto out;
	}
	note_verifier_format(&a->key, a->vkey, sizeof a->vkey);
	cli_http_defaults(&a->http);
	if ((a->abuf = malloc(WIRE_ARENA_MIN)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	wire_arena_init(&a->arena, a->abuf, WIRE_ARENA_MIN);
	mt_range_init(&a->range);
	a->follow =
	    cli_follow_new(&(struct cli_follow_opts){a->url, &a->key, a->origin, &a->http, true});
	if (a->follow == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	rc = audit_run(a, dir);
out:
	cli_state_close(&a->st);
	cli_follow_free(a->follow);
	free(a->new_note);
	free(a->old_note);
	free(a->abuf);
	free(a);
	return rc;
}

/* ---- verify-evidence ---- */

static const char evidence_usage[] =
    "usage: closurelog verify-evidence --log-key PUB EVIDENCE\n"
    "\n"
    "Re-check, offline, fork evidence written by closurelog audit: both checkpoints\n"
    "must be signed by the log key PUB (a verifier key or a file holding one), and\n"
    "either have the same size and different roots, or the consistency proof in\n"
    "the evidence must lead from a root at the smaller size other than the signed\n"
    "one to the signed root of the larger size.\n"
    "\n"
    "Exit status: 0 the evidence proves that the log forked; 1 it does not (evidence\n"
    "marked unproven, or altered); 2 usage error or malformed evidence.\n";

int
cli_cmd_verify_evidence(int argc, char **argv)
{
	struct note_verifier key;
	struct closurelog_evidence_result *res = NULL;
	const char *key_arg = NULL;
	const struct cli_opt opts[] = {CLI_STR("log-key", &key_arg)};
	uint8_t *buf = NULL;
	size_t len;
	char why[CL_WHY_MAX], vkey[NOTE_VKEY_MAX];
	int first, rc;

	if ((rc = cli_opts_parse(argc, argv, opts, 1, evidence_usage, &first)) != CLI_GO)
		return rc;
	if (key_arg == NULL || first + 1 != argc)
		return cli_fail(CLI_USAGE, "give --log-key PUB and one EVIDENCE file (see --help)");
	if ((rc = cli_verifier_arg("--log-key", key_arg, &key)) != 0)
		return rc;
	note_verifier_format(&key, vkey, sizeof vkey);
	if (cl_file_read(argv[first], CLOSURELOG_EVIDENCE_MAX, CL_FILE_STREAM, &buf, &len, why) !=
	    0)
		return cli_fail(CLI_USAGE, "%s", why);
	if ((res = malloc(sizeof *res)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	/* The library's check, so that this command and a broker agree. */
	switch (closurelog_evidence_check(vkey, buf, len, res)) {
	case CLOSURELOG_OK:
		printf("%s\n", res->message);
		rc = CLI_OK;
		break;
	case CLOSURELOG_ENOFORK:
		rc = cli_fail(CLI_FAIL, "%s: no fork proven: %s", argv[first], res->message);
		break;
	case CLOSURELOG_EMALFORMED:
		rc = cli_fail(CLI_USAGE, "%s: %s", argv[first], res->message);
		break;
	default:
		rc = cli_fail(CLI_FAIL, "%s: %s", argv[first], res->message);
	}
out:
	free(res);
	free(buf);
	return rc;
}
