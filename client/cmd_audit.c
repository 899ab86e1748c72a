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
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "cosig.h"
#include "follow.h"
#include "http.h"
#include "merkle.h"
#include "note.h"
#include "show.h"
#include "state.h"
#include "sth.h"
#include "wire.h"

#define EVIDENCE_MAX (64 * 1024)
#define MSG_MAX      1024

#define EVIDENCE_HEADER "closurelog fork evidence v1\n"

/* ---- Line-oriented parsing of our own text formats ---- */

struct lines {
	const char *p, *end;
};

/* The next line, without its '\n', into *s and *n.  Lines must end in
 * '\n' and hold no control characters.  Returns 0 or -1. */
static int
line_next(struct lines *l, const char **s, size_t *n)
{
	const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));

	if (nl == NULL)
		return -1;
	for (const char *c = l->p; c < nl; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	}
	*s = l->p;
	*n = (size_t)(nl - l->p);
	l->p = nl + 1;
	return 0;
}

/* The next line must be "<key> <value>" with a non-empty value. */
static int
line_field(struct lines *l, const char *key, const char **v, size_t *n)
{
	size_t klen = strlen(key);
	const char *s;
	size_t len;

	if (line_next(l, &s, &len) != 0 || len < klen + 2 || memcmp(s, key, klen) != 0 ||
	    s[klen] != ' ')
		return -1;
	*v = s + klen + 1;
	*n = len - klen - 1;
	return 0;
}

static int
field_u64(struct lines *l, const char *key, uint64_t *out)
{
	const char *v;
	size_t n;

	return line_field(l, key, &v, &n) == 0 ? cl_u64_parse(v, n, out) : -1;
}

/* Strict base64 of exactly one hash. */
static int
parse_hash(const char *s, size_t n, uint8_t out[MT_HASH_LEN])
{
	size_t got;

	if (n != CL_B64_LEN(MT_HASH_LEN) || cl_b64_decode(s, n, out, MT_HASH_LEN, &got) != 0 ||
	    got != MT_HASH_LEN)
		return -1;
	return 0;
}

/* "<key> <count>" and then count lines of one base64 hash each. */
static int
field_hashes(struct lines *l, const char *key, uint8_t (*out)[MT_HASH_LEN], size_t *n_out)
{
	uint64_t count;
	const char *s;
	size_t n;

	if (field_u64(l, key, &count) != 0 || count > MT_PROOF_MAX)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (line_next(l, &s, &n) != 0 || parse_hash(s, n, out[i]) != 0)
			return -1;
	}
	*n_out = (size_t)count;
	return 0;
}

/* "<key> <length>" and then exactly that many raw bytes. */
static int
field_bytes(struct lines *l, const char *key, size_t max, const uint8_t **out, size_t *len)
{
	uint64_t n;

	if (field_u64(l, key, &n) != 0 || n > max || n > (uint64_t)(l->end - l->p))
		return -1;
	*out = (const uint8_t *)l->p;
	*len = (size_t)n;
	l->p += n;
	return 0;
}

/* ---- A growing text buffer ---- */

struct text {
	char *p;
	size_t len, cap;
	bool over;
};

static void
text_add(struct text *t, const void *data, size_t n)
{
	if (t->over || n > t->cap - t->len) {
		t->over = true;
		return;
	}
	memcpy(t->p + t->len, data, n);
	t->len += n;
}

static void __attribute__((format(printf, 2, 3))) text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->over = true;
	else
		t->len += (size_t)n;
}

static void
text_hash(struct text *t, const uint8_t h[MT_HASH_LEN])
{
	char b64[CL_B64_LEN(MT_HASH_LEN) + 1];

	cl_b64_encode(h, MT_HASH_LEN, b64, sizeof b64);
	text_printf(t, "%s\n", b64);
}

static void
b64_hash(const uint8_t h[MT_HASH_LEN], char out[CL_B64_LEN(MT_HASH_LEN) + 1])
{
	cl_b64_encode(h, MT_HASH_LEN, out, CL_B64_LEN(MT_HASH_LEN) + 1);
}

/* Copy s into out, replacing control bytes, so that it fits on one line. */
static void
one_line(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < cap; s++)
		out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	out[n] = '\0';
}

/* ---- Fork evidence ---- */

/* What an evidence file says (docs/audit.md).  "old" is the checkpoint of
 * the smaller tree, "new" the larger; the checkpoints point into the
 * buffer the evidence was parsed from, or into the caller's. */
struct evidence {
	bool proven;
	char reason[MSG_MAX];
	char vkey[NOTE_VKEY_MAX];
	char url[2048];
	uint64_t time;
	uint64_t old_size, new_size;
	bool have_implied;
	uint8_t implied[MT_HASH_LEN]; /* root at old_size of the tree in the new size's tiles */
	size_t n_proof;
	uint8_t proof[MT_PROOF_MAX][MT_HASH_LEN]; /* PROOF(old, new) computed from the tiles */
	bool have_log_proof;
	size_t n_log_proof;
	uint8_t log_proof[MT_PROOF_MAX][MT_HASH_LEN]; /* what the log answered, if anything */
	const uint8_t *old_note, *new_note;
	size_t old_len, new_len;
};

/* Serialize ev into a malloc'd buffer.  Returns 0 or ENOMEM / CL_ETOOBIG. */
static int
evidence_format(const struct evidence *ev, uint8_t **out, size_t *len)
{
	struct text t = {malloc(EVIDENCE_MAX), 0, EVIDENCE_MAX, false};

	*out = NULL;
	*len = 0;
	if (t.p == NULL)
		return ENOMEM;
	text_add(&t, EVIDENCE_HEADER, strlen(EVIDENCE_HEADER));
	text_printf(&t, "status %s\n", ev->proven ? "proven" : "unproven");
	text_printf(&t, "reason %s\n", ev->reason);
	text_printf(&t, "log-key %s\n", ev->vkey);
	text_printf(&t, "log-url %s\n", ev->url);
	text_printf(&t, "time %" PRIu64 "\n", ev->time);
	text_printf(&t, "old-size %" PRIu64 "\n", ev->old_size);
	text_printf(&t, "new-size %" PRIu64 "\n", ev->new_size);
	text_printf(&t, "implied-old-root ");
	if (ev->have_implied)
		text_hash(&t, ev->implied);
	else
		text_printf(&t, "-\n");
	text_printf(&t, "proof %zu\n", ev->n_proof);
	for (size_t i = 0; i < ev->n_proof; i++)
		text_hash(&t, ev->proof[i]);
	if (ev->have_log_proof) {
		text_printf(&t, "log-proof %zu\n", ev->n_log_proof);
		for (size_t i = 0; i < ev->n_log_proof; i++)
			text_hash(&t, ev->log_proof[i]);
	} else {
		text_printf(&t, "log-proof -\n");
	}
	text_printf(&t, "old-checkpoint %zu\n", ev->old_len);
	text_add(&t, ev->old_note, ev->old_len);
	text_printf(&t, "new-checkpoint %zu\n", ev->new_len);
	text_add(&t, ev->new_note, ev->new_len);
	text_printf(&t, "end\n");
	if (t.over) {
		free(t.p);
		return CL_ETOOBIG;
	}
	*out = (uint8_t *)t.p;
	*len = t.len;
	return 0;
}

/* Copy a field value of n bytes into a cap-byte string. */
static int
copy_field(const char *v, size_t n, char *out, size_t cap)
{
	if (n + 1 > cap)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

/* Parse an evidence file.  Returns 0, or CL_EINVAL with why naming the
 * first field that is malformed.  ev points into buf afterwards. */
static int
evidence_parse(const uint8_t *buf, size_t len, struct evidence *ev, char *why)
{
	struct lines l = {(const char *)buf, (const char *)buf + len};
	const char *v;
	size_t n, hl = strlen(EVIDENCE_HEADER);

	memset(ev, 0, sizeof *ev);
	if (len < hl || memcmp(buf, EVIDENCE_HEADER, hl) != 0)
		return cl_why(
		    why, CL_EINVAL, "the first line is not \"closurelog fork evidence v1\"");
	l.p += hl;
	if (line_field(&l, "status", &v, &n) != 0)
		return cl_why(why, CL_EINVAL, "status: missing or malformed");
	if (n == 6 && memcmp(v, "proven", 6) == 0)
		ev->proven = true;
	else if (n != 8 || memcmp(v, "unproven", 8) != 0)
		return cl_why(why, CL_EINVAL, "status: neither \"proven\" nor \"unproven\"");
	if (line_field(&l, "reason", &v, &n) != 0 ||
	    copy_field(v, n, ev->reason, sizeof ev->reason))
		return cl_why(why, CL_EINVAL, "reason: missing or malformed");
	if (line_field(&l, "log-key", &v, &n) != 0 || copy_field(v, n, ev->vkey, sizeof ev->vkey))
		return cl_why(why, CL_EINVAL, "log-key: missing or malformed");
	if (line_field(&l, "log-url", &v, &n) != 0 || copy_field(v, n, ev->url, sizeof ev->url))
		return cl_why(why, CL_EINVAL, "log-url: missing or malformed");
	if (field_u64(&l, "time", &ev->time) != 0)
		return cl_why(why, CL_EINVAL, "time: missing or not a decimal number");
	if (field_u64(&l, "old-size", &ev->old_size) != 0 ||
	    field_u64(&l, "new-size", &ev->new_size) != 0)
		return cl_why(why, CL_EINVAL, "old-size, new-size: missing or not decimal numbers");
	if (ev->old_size > ev->new_size)
		return cl_why(why, CL_EINVAL, "old-size is larger than new-size");
	if (line_field(&l, "implied-old-root", &v, &n) != 0)
		return cl_why(why, CL_EINVAL, "implied-old-root: missing");
	if (!(n == 1 && v[0] == '-')) {
		if (parse_hash(v, n, ev->implied) != 0)
			return cl_why(why, CL_EINVAL, "implied-old-root: not the base64 of a hash");
		ev->have_implied = true;
	}
	if (field_hashes(&l, "proof", ev->proof, &ev->n_proof) != 0)
		return cl_why(why, CL_EINVAL, "proof: malformed count or hash");
	{
		struct lines peek = l;

		if (line_field(&peek, "log-proof", &v, &n) != 0)
			return cl_why(why, CL_EINVAL, "log-proof: missing");
		if (n == 1 && v[0] == '-') {
			l = peek;
		} else {
			if (field_hashes(&l, "log-proof", ev->log_proof, &ev->n_log_proof) != 0)
				return cl_why(why, CL_EINVAL, "log-proof: malformed count or hash");
			ev->have_log_proof = true;
		}
	}
	if (field_bytes(&l, "old-checkpoint", CL_CHECKPOINT_MAX, &ev->old_note, &ev->old_len) != 0)
		return cl_why(why, CL_EINVAL, "old-checkpoint: malformed length or truncated");
	if (field_bytes(&l, "new-checkpoint", CL_CHECKPOINT_MAX, &ev->new_note, &ev->new_len) != 0)
		return cl_why(why, CL_EINVAL, "new-checkpoint: malformed length or truncated");
	if (line_next(&l, &v, &n) != 0 || n != 3 || memcmp(v, "end", 3) != 0 || l.p != l.end)
		return cl_why(why, CL_EINVAL, "the file does not end with the line \"end\"");
	return 0;
}

/* Decide whether ev proves that the log with key `key` forked.  Returns 0
 * with a one-line description in msg if it does, else CLI_FAIL with the
 * reason in msg. */
static int
evidence_judge(const struct evidence *ev, const struct note_verifier *key, char *msg, size_t cap)
{
	struct sth o, nw;
	char vkey[NOTE_VKEY_MAX], why[CL_WHY_MAX];
	char r1[CL_B64_LEN(MT_HASH_LEN) + 1], r2[CL_B64_LEN(MT_HASH_LEN) + 1];

	note_verifier_format(key, vkey, sizeof vkey);
	if (strcmp(vkey, ev->vkey) != 0) {
		snprintf(msg, cap, "the evidence is about the log key %s, not %s", ev->vkey, vkey);
		return CLI_FAIL;
	}
	if (sth_open(ev->old_note, ev->old_len, key, NULL, &o, why) != 0) {
		snprintf(msg, cap, "the old checkpoint does not verify with the log key: %s", why);
		return CLI_FAIL;
	}
	if (sth_open(ev->new_note, ev->new_len, key, NULL, &nw, why) != 0) {
		snprintf(msg, cap, "the new checkpoint does not verify with the log key: %s", why);
		return CLI_FAIL;
	}
	if (strcmp(o.origin, nw.origin) != 0) {
		snprintf(msg, cap, "the checkpoints are for different origins (\"%s\", \"%s\")",
		    o.origin, nw.origin);
		return CLI_FAIL;
	}
	if (o.size != ev->old_size || nw.size != ev->new_size) {
		snprintf(msg, cap, "old-size and new-size do not match the checkpoints' sizes");
		return CLI_FAIL;
	}
	if (!ev->proven) {
		const char *r = ev->reason;

		if (strncmp(r, "unproven: ", 10) == 0)
			r += 10;
		snprintf(msg, cap, "the evidence is marked unproven: %.900s", r);
		return CLI_FAIL;
	}
	b64_hash(o.root, r1);
	b64_hash(nw.root, r2);
	if (o.size == nw.size) {
		if (sodium_memcmp(o.root, nw.root, MT_HASH_LEN) == 0) {
			snprintf(msg, cap, "both checkpoints have the same root: no fork");
			return CLI_FAIL;
		}
		snprintf(msg, cap,
		    "fork proven: %s signed two different roots for size %" PRIu64 " (%s and %s)",
		    o.origin, o.size, r1, r2);
		return 0;
	}
	if (o.size == 0) {
		snprintf(msg, cap, "the empty tree is a prefix of every tree: no fork");
		return CLI_FAIL;
	}
	if (!ev->have_implied) {
		snprintf(msg, cap, "no implied-old-root to compare with the old checkpoint");
		return CLI_FAIL;
	}
	if (mt_consistency_verify(
	        o.size, nw.size, ev->implied, nw.root, ev->proof[0], ev->n_proof) != 0) {
		snprintf(msg, cap,
		    "the proof does not lead from implied-old-root at size %" PRIu64
		    " to the root of the checkpoint of size %" PRIu64,
		    o.size, nw.size);
		return CLI_FAIL;
	}
	if (sodium_memcmp(ev->implied, o.root, MT_HASH_LEN) == 0) {
		snprintf(msg, cap,
		    "implied-old-root equals the old checkpoint's root: the "
		    "checkpoints are consistent");
		return CLI_FAIL;
	}
	b64_hash(ev->implied, r2);
	snprintf(msg, cap,
	    "fork proven: %s signed size %" PRIu64
	    " with root %s, but its signed tree of size %" PRIu64 " has root %s at size %" PRIu64,
	    o.origin, o.size, r1, nw.size, r2, o.size);
	return 0;
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
	char msg[MSG_MAX], hex[2 * MT_HASH_LEN + 1];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (code != CLI_OK)
		cli_fail(code, "%s", msg);
	else if (!a->json)
		printf("OK: %s\n", msg);
	if (!a->json)
		return code;
	j = json_object();
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "message", json_string(msg));
	json_object_set_new(j, "origin", json_string(a->origin));
	if (a->have_old) {
		cl_hex_encode(a->old.root, MT_HASH_LEN, hex);
		json_object_set_new(j, "old_size", json_integer((json_int_t)a->old.size));
		json_object_set_new(j, "old_root", json_string(hex));
	} else {
		json_object_set_new(j, "old_size", json_null());
		json_object_set_new(j, "old_root", json_null());
	}
	if (a->have_new) {
		cl_hex_encode(a->cur.root, MT_HASH_LEN, hex);
		json_object_set_new(j, "new_size", json_integer((json_int_t)a->cur.size));
		json_object_set_new(j, "new_root", json_string(hex));
	} else {
		json_object_set_new(j, "new_size", json_null());
		json_object_set_new(j, "new_root", json_null());
	}
	json_object_set_new(
	    j, "evidence", a->evidence[0] != '\0' ? json_string(a->evidence) : json_null());
	if (a->full) {
		json_t *f = json_object();

		json_object_set_new(f, "from", json_integer((json_int_t)a->full_from));
		json_object_set_new(f, "size", json_integer((json_int_t)a->range.size));
		json_object_set_new(f, "validated", json_integer((json_int_t)a->range.size));
		json_object_set_new(j, "full", f);
	}
	if (cli_show_json_print(j) != CLI_OK && code == CLI_OK)
		return CLI_FAIL;
	return code;
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

/* Write the evidence to DIR/evidence-<unix time>.txt (never over an
 * earlier file) after checking that it says what it claims. */
static int
evidence_save(struct audit *a, struct evidence *ev)
{
	uint8_t *buf = NULL;
	size_t len;
	char msg[MSG_MAX], why[CL_WHY_MAX], stem[40];
	int rc;

	snprintf(ev->vkey, sizeof ev->vkey, "%s", a->vkey);
	one_line(a->url, ev->url, sizeof ev->url);
	one_line(ev->reason, ev->reason, sizeof ev->reason);
	ev->time = (uint64_t)time(NULL);
	/* The auditor claims a fork exactly when verify-evidence will agree. */
	if (ev->proven && evidence_judge(ev, &a->key, msg, sizeof msg) != 0) {
		ev->proven = false;
		snprintf(ev->reason, sizeof ev->reason, "unproven: %.900s", msg);
	}
	if ((rc = evidence_format(ev, &buf, &len)) != 0)
		return cli_fail(CLI_FAIL, "cannot write evidence: %s", cl_strerror(rc));
	snprintf(stem, sizeof stem, "evidence-%" PRIu64, ev->time);
	if (cli_write_new(a->st.dir, stem, ".txt", buf, len, 0644, a->evidence, sizeof a->evidence,
	        why) != 0) {
		/* Kept under a temporary name if it got that far: say where. */
		rc = cli_fail(CLI_FAIL, "cannot write evidence: %s", why);
		if (access(a->evidence, F_OK) != 0)
			a->evidence[0] = '\0';
	}
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
	ev->old_note = p->sm_note;
	ev->old_len = p->sm_len;
	ev->new_note = p->lg_note;
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
		if (mt_consistency_verify(m, n, p->sm->root, p->lg->root, lp->hashes[0], lp->n) ==
		    0)
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
	if (mt_consistency_verify(m, n, tp->small_root, p->lg->root, tp->path[0], tp->n_path) !=
	    0) {
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
    "trees, fork evidence is written to DIR/evidence-<unix time>.txt (check it with\n"
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
	static const struct option opts[] = {
	    {"log", required_argument, NULL, 'l'},
	    {"log-key", required_argument, NULL, 'k'},
	    {"state", required_argument, NULL, 's'},
	    {"origin", required_argument, NULL, 'O'},
	    {"full", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"witness", required_argument, NULL, 'w'},
	    {"witness-quorum", required_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct audit *a;
	const char *log = NULL, *key = NULL, *dir = NULL;
	int c, rc;

	if ((a = calloc(1, sizeof *a)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	a->st.lock_fd = -1;
	optind = 1;
	opterr = 0;
	rc = -1;
	while (rc < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 's':
			dir = optarg;
			break;
		case 'O':
			a->origin = optarg;
			break;
		case 'f':
			a->full = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'w':
			if ((c = cli_witness_arg(&a->wit, optarg)) != 0)
				rc = c;
			break;
		case 'q':
			if ((c = cli_witness_quorum_arg(&a->wit, optarg)) != 0)
				rc = c;
			break;
		case 'h':
			fputs(audit_usage, stdout);
			rc = CLI_OK;
			break;
		default:
			rc = cli_fail(CLI_USAGE, "unknown or incomplete option %s (see --help)",
			    argv[optind - 1]);
		}
	}
	if (rc >= 0)
		goto out;
	if (optind != argc || log == NULL || key == NULL || dir == NULL) {
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
	static const struct option opts[] = {
	    {"log-key", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct note_verifier key;
	struct evidence *ev = NULL;
	const char *key_arg = NULL;
	uint8_t *buf = NULL;
	size_t len;
	char why[CL_WHY_MAX], msg[MSG_MAX];
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_arg = optarg;
			break;
		case 'h':
			fputs(evidence_usage, stdout);
			return CLI_OK;
		default:
			return cli_fail(CLI_USAGE, "unknown or incomplete option %s (see --help)",
			    argv[optind - 1]);
		}
	}
	if (key_arg == NULL || optind + 1 != argc)
		return cli_fail(CLI_USAGE, "give --log-key PUB and one EVIDENCE file (see --help)");
	if ((rc = cli_verifier_arg("--log-key", key_arg, &key)) != 0)
		return rc;
	if (cli_read_file(argv[optind], EVIDENCE_MAX, &buf, &len, why) != 0)
		return cli_fail(CLI_USAGE, "%s", why);
	if ((ev = malloc(sizeof *ev)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	if (evidence_parse(buf, len, ev, why) != 0) {
		rc = cli_fail(CLI_USAGE, "%s: malformed evidence: %s", argv[optind], why);
		goto out;
	}
	if (evidence_judge(ev, &key, msg, sizeof msg) != 0) {
		rc = cli_fail(CLI_FAIL, "%s: no fork proven: %s", argv[optind], msg);
		goto out;
	}
	printf("%s\n", msg);
	rc = CLI_OK;
out:
	free(ev);
	free(buf);
	return rc;
}
