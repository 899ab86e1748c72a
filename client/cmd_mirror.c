/*
 * cmd_mirror.c: closurelog mirror: follow a log into a static C2SP
 * tlog-tiles directory that any static file server can serve as the log.
 *
 * A mirror is an auditor that keeps the log's data.  Its state directory,
 * OUT/.closurelog-mirror, is an audit state directory (state.h): the last
 * checkpoint mirrored and the right edge of the tree rebuilt from the
 * entries.  Each run proves the log's new checkpoint consistent with the
 * one mirrored, from the log's hash tiles (a static log, such as another
 * mirror, serves nothing else), then follows the log (follow.h) from where
 * the last run stopped, building the tiles and bundles from the verified
 * entries (mirror.h).  Order of writes: tiles and bundles, then the state,
 * then OUT/checkpoint, so that whatever a crash leaves, the checkpoint
 * served is one whose every tile is on disk, and the state never falls
 * behind what was served.
 *
 * A log whose new checkpoint is not consistent with the mirrored one is
 * handed to the auditor's fork check on the same state directory, which
 * writes the evidence there (docs/audit.md); the mirror is left as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "cosig.h"
#include "file.h"
#include "follow.h"
#include "http.h"
#include "merkle.h"
#include "mirror.h"
#include "note.h"
#include "show.h"
#include "state.h"
#include "sth.h"

#define STATE_NAME ".closurelog-mirror"
#define OUT_MAX    3800 /* room for the state and staging paths under it */

static const char usage[] =
    "usage: closurelog mirror --log URL --log-key PUB --out DIR [--origin O] [--json]\n"
    "           [--witness VKEY]... [--witness-quorum K]\n"
    "\n"
    "Follow the log into DIR as a static C2SP tlog-tiles log: DIR/checkpoint,\n"
    "DIR/tile/<L>/<N>[.p/<W>] and DIR/tile/entries/<N>[.p/<W>], ready to be served\n"
    "by any static file server (and mirrored again).  Every entry, every tile and\n"
    "the checkpoint are verified with the log key before they are written; each\n"
    "new checkpoint must be consistent with the one mirrored last.  Full tiles and\n"
    "bundles are written once; DIR/checkpoint is replaced last, atomically.  Run it\n"
    "again (from cron or a timer) to catch up: it resumes where it stopped.\n"
    "\n"
    "State is kept in DIR/" STATE_NAME "/ (mode 0700; one mirror at a time).\n"
    "A log whose new checkpoint does not extend the mirrored one is refused and\n"
    "the mirror left unchanged; fork evidence is written to\n"
    "DIR/" STATE_NAME "/evidence-<time>.json (check it with\n"
    "closurelog verify-evidence).  See docs/mirror.md.\n"
    "\n"
    "  --log URL       the log's URL prefix (closurelogd, or another mirror)\n"
    "  --log-key PUB   the log's verifier key, or a file holding it\n"
    "  --out DIR       the mirror directory (created if missing)\n"
    "  --origin O      the checkpoint origin expected (default: the log key's name)\n"
    "  --json          print the outcome as one JSON object\n" CLI_WITNESS_USAGE "\n"
    "Exit status: 0 mirrored (or already up to date); 1 fork, rollback, invalid data,\n"
    "too few witness cosignatures, the log could not be reached, or the mirror\n"
    "directory was altered; 2 usage error, or a state that is locked or tampered\n"
    "with.\n";

struct mirror {
	char url[2048], out[CLI_STATE_PATH_MAX], sdir[CLI_STATE_PATH_MAX];
	const char *key_arg;
	struct note_verifier key;
	const char *origin;
	struct cli_http_opts http;
	struct cli_witnesses wit;
	bool json;
	int out_fd; /* flock'd: one mirror per directory */
	struct cli_state st;
	struct cli_follow *follow;

	bool have_old;
	uint8_t *old_note, *new_note;
	size_t old_len, new_len;
	struct sth old, cur;
	bool have_new;
	struct mt_range range;
	uint64_t from, added;
};

/* Print the outcome and return code (cli_show_outcome). */
static int __attribute__((format(printf, 4, 5)))
report(struct mirror *m, int code, const char *status, const char *fmt, ...)
{
	va_list ap;
	json_t *j = NULL;
	int rc;

	if (m->json && (j = json_object()) != NULL) {
		json_object_set_new(j, "origin", json_string(m->origin));
		json_object_set_new(j, "out", json_string(m->out));
		json_object_set_new(j, "old_size",
		    m->have_old ? json_integer((json_int_t)m->old.size) : json_null());
		cli_show_checkpoint_fields(j, "size", "root", m->have_new ? &m->cur : NULL);
		json_object_set_new(j, "from", json_integer((json_int_t)m->from));
		json_object_set_new(j, "mirrored", json_integer((json_int_t)m->added));
	}
	va_start(ap, fmt);
	rc = cli_show_outcome(code, status, m->json, j, fmt, ap);
	va_end(ap);
	return rc;
}

/* The log's new checkpoint does not simply extend the mirrored one: let
 * the auditor's fork check judge it on the state directory, where it
 * writes its evidence, and refuse whatever it says. */
static int
refuse(struct mirror *m, const char *what)
{
	char vkey[NOTE_VKEY_MAX], why[CLI_MSG_MAX];
	const char *argv[12];
	int argc = 0, rc;

	note_verifier_format(&m->key, vkey, sizeof vkey);
	argv[argc++] = "audit";
	argv[argc++] = "--log";
	argv[argc++] = m->url;
	argv[argc++] = "--log-key";
	argv[argc++] = vkey;
	argv[argc++] = "--state";
	argv[argc++] = m->sdir;
	argv[argc++] = "--origin";
	argv[argc++] = m->origin;
	if (m->json)
		argv[argc++] = "--json";
	argv[argc] = NULL;
	cli_warn("%s; checking the log for a fork, the mirror is left as it was", what);
	cli_state_close(&m->st); /* the auditor takes the state's lock */
	rc = cli_cmd_audit(argc, (char **)argv);
	if (rc != CLI_OK)
		return rc;
	/* The log's own consistency proof satisfied the auditor, but its tiles
	 * do not: the log serves inconsistent data, which is not mirrored.  The
	 * auditor trusted the new checkpoint; the mirror goes back to its own. */
	if (cli_state_open(&m->st, m->sdir, why) != 0 ||
	    cli_state_checkpoint_save(&m->st, m->old_note, m->old_len, why) != 0)
		cli_warn("%s", why);
	return cli_fail(CLI_FAIL, "%s: the log's tiles disagree with its consistency proof", what);
}

/* Is the log's checkpoint m->cur consistent with the mirrored m->old? */
static bool
extends(struct mirror *m)
{
	struct cli_tileproof *tp;
	char why[CLI_MSG_MAX] = "";
	bool ok;

	if (m->cur.size < m->old.size)
		return false;
	if (m->cur.size == m->old.size)
		return sodium_memcmp(m->cur.root, m->old.root, MT_HASH_LEN) == 0;
	if (m->old.size == 0)
		return true;
	if ((tp = malloc(sizeof *tp)) == NULL)
		return false;
	ok = false;
	if (cli_follow_tiles_prove(m->follow, m->old.size, m->cur.size, tp, why) != 0)
		;
	else if (sodium_memcmp(tp->large_root, m->cur.root, MT_HASH_LEN) != 0)
		snprintf(why, sizeof why,
		    "they give another root at size %" PRIu64 " than its checkpoint", m->cur.size);
	else if (sodium_memcmp(tp->small_root, m->old.root, MT_HASH_LEN) != 0 ||
	    mt_consistency_verify(m->old.size, m->cur.size, m->old.root, m->cur.root,
	        MT_PATH(tp->path), tp->n_path) != 0)
		snprintf(why, sizeof why,
		    "they give another root at size %" PRIu64 " than the checkpoint mirrored",
		    m->old.size);
	else
		ok = true;
	if (!ok)
		cli_warn("consistency from %" PRIu64 " to %" PRIu64
		         " not proven from the log's tiles: %s",
		    m->old.size, m->cur.size, why);
	free(tp);
	return ok;
}

/* Load the state: the mirrored checkpoint and tree.  Usage errors. */
static int
state_load(struct mirror *m)
{
	char why[CLI_MSG_MAX];
	int rc;

	if (cli_state_open(&m->st, m->sdir, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	rc = cli_state_checkpoint_load(
	    &m->st, &m->key, m->origin, &m->old_note, &m->old_len, &m->old, why);
	if (rc != 0 && rc != ENOENT)
		return cli_fail(CLI_USAGE, "%s", why);
	m->have_old = rc == 0;
	rc = cli_state_full_load(
	    &m->st, &m->key, m->origin, m->have_old ? &m->old : NULL, &m->range, why);
	if (rc != 0 && rc != ENOENT)
		return cli_fail(CLI_USAGE, "%s", why);
	return 0;
}

/* Follow the log from m->range to m->cur into the output directory, and
 * publish.  Returns 0 or the outcome reported. */
static int
follow(struct mirror *m)
{
	struct cli_mirror *w = NULL;
	char why[CLI_MSG_MAX], stage[CLI_STATE_PATH_MAX];
	int rc;

	cli_state_path(&m->st, "stage", stage);
	if (cli_mirror_new(&w, m->out, stage, why) != 0)
		return report(m, CLI_FAIL, "error", "%s", why);
	if (m->range.size > 0 && cli_mirror_resume(w, &m->range, why) != 0) {
		cli_warn("%s; mirroring again from the first entry", why);
		cli_mirror_free(w);
		mt_range_init(&m->range);
		if (cli_mirror_new(&w, m->out, stage, why) != 0)
			return report(m, CLI_FAIL, "error", "%s", why);
	}
	m->from = m->range.size;
	if ((rc = cli_follow_run(m->follow, &m->cur, &m->range, cli_mirror_entry, w, why)) != 0) {
		rc = report(m, CLI_FAIL, rc == CL_EINVAL ? "invalid" : "error", "%s", why);
		goto out;
	}
	if ((rc = cli_mirror_publish(w, why)) != 0) {
		rc = report(m, CLI_FAIL, rc == CL_EINVAL ? "altered" : "error", "%s", why);
		goto out;
	}
	m->added = cli_mirror_added(w);
	/* The state before the checkpoint served: the next run never starts
	 * behind a checkpoint a client may have seen. */
	if (cli_state_checkpoint_save(&m->st, m->new_note, m->new_len, why) != 0 ||
	    cli_state_full_save(&m->st, &m->range, m->new_note, m->new_len, why) != 0) {
		rc = report(m, CLI_USAGE, "error", "%s", why);
		goto out;
	}
	rc = 0;
out:
	if (rc == 0) {
		char path[CLI_STATE_PATH_MAX + 16];

		snprintf(path, sizeof path, "%s/checkpoint", m->out);
		if (cl_file_write(path, m->new_note, m->new_len, 0644, 0, why) != 0)
			rc = report(m, CLI_FAIL, "error", "%s", why);
		else if (cli_mirror_prune(w) != 0)
			cli_warn("some partial tiles no longer needed could not be removed");
	}
	cli_mirror_free(w);
	return rc;
}

static int
mirror_run(struct mirror *m)
{
	char why[CLI_MSG_MAX];
	const char *status;
	int rc;

	if (mkdir(m->out, 0755) != 0 && errno != EEXIST)
		return cli_fail(CLI_USAGE, "%s: %s", m->out, strerror(errno));
	if ((m->out_fd = open(m->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return cli_fail(CLI_USAGE, "%s: %s", m->out, strerror(errno));
	if (flock(m->out_fd, LOCK_EX | LOCK_NB) != 0)
		return cli_fail(CLI_USAGE, "%s: another mirror is writing to it", m->out);
	if ((rc = state_load(m)) != 0)
		return rc;
	if ((rc = cli_follow_checkpoint(m->follow, &m->new_note, &m->new_len, &m->cur, why)) != 0)
		return report(m, CLI_FAIL, "error", "%s", why);
	if (cli_witness_check(&m->wit, m->new_note, m->new_len, why) != 0)
		return report(m, CLI_FAIL, "unwitnessed", "%s", why);
	m->have_new = true;
	if (m->have_old && !extends(m)) {
		snprintf(why, sizeof why,
		    "the log's checkpoint (size %" PRIu64 ") does not extend the mirrored one "
		    "(size %" PRIu64 ")",
		    m->cur.size, m->old.size);
		return refuse(m, why);
	}
	if (m->have_old && m->cur.size == m->old.size) {
		/* Keep the note mirrored: the log may have re-signed it. */
		free(m->new_note);
		m->new_note = m->old_note;
		m->new_len = m->old_len;
		m->old_note = NULL;
		status = "unchanged";
	} else {
		status = m->have_old ? "ok" : "first";
	}
	if ((rc = follow(m)) != 0)
		return rc;
	if (m->added == 0)
		return report(m, CLI_OK, status, "%s: mirror up to date at size %" PRIu64,
		    m->cur.origin, m->cur.size);
	return report(m, CLI_OK, status,
	    "%s: mirrored entries %" PRIu64 "..%" PRIu64 " into %s; size %" PRIu64 "%s",
	    m->cur.origin, m->from, m->cur.size - 1, m->out, m->cur.size,
	    m->have_old ? ", consistent with the last checkpoint mirrored" : " (first run)");
}

int
cli_cmd_mirror(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"log", required_argument, NULL, 'l'},
	    {"log-key", required_argument, NULL, 'k'},
	    {"out", required_argument, NULL, 'o'},
	    {"origin", required_argument, NULL, 'O'},
	    {"json", no_argument, NULL, 'j'},
	    {"witness", required_argument, NULL, 'w'},
	    {"witness-quorum", required_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mirror *m;
	const char *log = NULL, *out = NULL;
	int c, rc;

	if ((m = calloc(1, sizeof *m)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	m->st.lock_fd = -1;
	m->out_fd = -1;
	optind = 1;
	opterr = 0;
	rc = -1;
	while (rc < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log = optarg;
			break;
		case 'k':
			m->key_arg = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'O':
			m->origin = optarg;
			break;
		case 'j':
			m->json = true;
			break;
		case 'w':
			if ((c = cli_witness_arg(&m->wit, optarg)) != 0)
				rc = c;
			break;
		case 'q':
			if ((c = cli_witness_quorum_arg(&m->wit, optarg)) != 0)
				rc = c;
			break;
		case 'h':
			fputs(usage, stdout);
			rc = CLI_OK;
			break;
		default:
			rc = cli_fail(CLI_USAGE, "unknown or incomplete option %s (see --help)",
			    argv[optind - 1]);
		}
	}
	if (rc >= 0)
		goto out;
	if (optind != argc || log == NULL || m->key_arg == NULL || out == NULL) {
		rc =
		    cli_fail(CLI_USAGE, "give --log URL, --log-key PUB and --out DIR (see --help)");
		goto out;
	}
	if ((rc = cli_witness_finish(&m->wit)) != 0 ||
	    (rc = cli_log_url(log, m->url, sizeof m->url)) != 0 ||
	    (rc = cli_verifier_arg("--log-key", m->key_arg, &m->key)) != 0)
		goto out;
	if (m->key.type != NOTE_TYPE_ED25519) {
		rc = cli_fail(CLI_USAGE, "--log-key: not an Ed25519 note key (type 0x01)");
		goto out;
	}
	if (m->origin == NULL)
		m->origin = m->key.name;
	if (m->origin[0] == '\0' || strlen(m->origin) > STH_ORIGIN_MAX) {
		rc = cli_fail(CLI_USAGE, "--origin: empty or longer than %d bytes", STH_ORIGIN_MAX);
		goto out;
	}
	if (out[0] == '\0' || strlen(out) > OUT_MAX) {
		rc = cli_fail(CLI_USAGE, "--out: empty or too long");
		goto out;
	}
	snprintf(m->out, sizeof m->out, "%s", out);
	snprintf(m->sdir, sizeof m->sdir, "%s/" STATE_NAME, out);
	cli_http_defaults(&m->http);
	mt_range_init(&m->range);
	m->follow =
	    cli_follow_new(&(struct cli_follow_opts){m->url, &m->key, m->origin, &m->http, true});
	if (m->follow == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	rc = mirror_run(m);
out:
	cli_state_close(&m->st);
	if (m->out_fd >= 0)
		close(m->out_fd);
	cli_follow_free(m->follow);
	free(m->new_note);
	free(m->old_note);
	free(m);
	return rc;
}
