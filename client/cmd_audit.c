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
 * --full makes the auditor a monitor: it downloads every entry bundle and
 * hash tile past the position it reached last time, one tile at a time,
 * rebuilds the tree from the entries, and checks every node it completes
 * against the log's tiles and the final root against the checkpoint.  The
 * rebuilt right edge (struct mt_range) is saved with the checkpoint it
 * matches, so the next run fetches only what is new.
 *
 * The file formats are in docs/audit.md.
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
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "http.h"
#include "merkle.h"
#include "note.h"
#include "show.h"
#include "sth.h"
#include "tile.h"
#include "wire.h"

#define TILE_MAX     (MT_TILE_WIDTH * MT_HASH_LEN)                /* one full hash tile */
#define BUNDLE_MAX   ((size_t)MT_TILE_WIDTH * (2 + CL_ENTRY_MAX)) /* one full entry bundle */
#define EVIDENCE_MAX (64 * 1024)
#define FULL_MAX     (64 * 1024)
#define TILES_MAX    (3 * MT_NODES_MAX)    /* tiles of one consistency proof and two roots */
#define LEVELS       (64 / MT_TILE_HEIGHT) /* tile levels a 2^64 tree can have */
#define PATH_LEN     4096
#define MSG_MAX      1024

#define EVIDENCE_HEADER "closurelog fork evidence v1\n"
#define FULL_HEADER     "closurelog audit full state v1\n"

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

/* A decimal without leading zeros that fits uint64_t. */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int
field_u64(struct lines *l, const char *key, uint64_t *out)
{
	const char *v;
	size_t n;

	return line_field(l, key, &v, &n) == 0 ? parse_u64(v, n, out) : -1;
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
	char url[PATH_LEN];
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
	char dir[PATH_LEN];
	struct note_verifier key;
	char vkey[NOTE_VKEY_MAX];
	const char *origin;
	struct cli_http_opts http;
	struct wire_arena arena;
	void *abuf;
	bool full, json;
	int lock_fd;

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

	char evidence[PATH_LEN]; /* the evidence file written, or "" */
};

static void
state_path(const struct audit *a, const char *name, char out[PATH_LEN])
{
	/* Cannot be too long: --state is checked to leave room for names. */
	if ((size_t)snprintf(out, PATH_LEN, "%s/%s", a->dir, name) >= PATH_LEN)
		out[0] = '\0';
}

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

/* GET <log>/<path>, keeping at most max bytes.  Returns 0 with a 200
 * answer in *r, or 1 with why. */
static int
fetch(struct audit *a, const char *path, size_t max, struct cli_http_resp *r, char *why)
{
	char url[PATH_LEN + 2048], reason[CL_WHY_MAX];

	snprintf(url, sizeof url, "%s/%s", a->url, path);
	if (cli_http_request(&a->http, url, NULL, 0, max, r, why) != 0)
		return 1;
	if (cli_http_answer(r, reason) != 0) {
		cl_why(why, 1, "%.80s: %s", path, reason);
		cli_http_resp_free(r);
		return 1;
	}
	return 0;
}

/* Create DIR if needed and take its lock for the life of the process. */
static int
state_open(struct audit *a)
{
	char path[PATH_LEN];
	struct stat st;

	if (mkdir(a->dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(
		    CLI_USAGE, "cannot create the state directory %s: %s", a->dir, strerror(errno));
	if (stat(a->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_fail(CLI_USAGE, "state %s is not a directory", a->dir);
	state_path(a, "lock", path);
	if ((a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return cli_fail(CLI_USAGE, "cannot open %s: %s", path, strerror(errno));
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return cli_fail(CLI_USAGE, "another audit is running (%s is locked)", path);
		return cli_fail(CLI_USAGE, "cannot lock %s: %s", path, strerror(errno));
	}
	return 0;
}

/* Read DIR/checkpoint, if there is one, and verify it again: the state
 * directory is not trusted more than the log key. */
static int
state_load_checkpoint(struct audit *a)
{
	char path[PATH_LEN], why[CL_WHY_MAX];
	int rc;

	state_path(a, "checkpoint", path);
	rc = cli_read_file(path, CL_CHECKPOINT_MAX, &a->old_note, &a->old_len, why);
	if (rc == ENOENT)
		return 0;
	if (rc != 0)
		return cli_fail(CLI_USAGE, "cannot read the state: %s", why);
	rc = sth_open(a->old_note, a->old_len, &a->key, a->origin, &a->old, why);
	if (rc == CL_EORIGIN)
		return cli_fail(CLI_USAGE,
		    "state %s is not for the origin \"%s\" (%s): refusing a tampered state", path,
		    a->origin, why);
	if (rc != 0)
		return cli_fail(CLI_USAGE,
		    "state %s is not signed by the log key: refusing a tampered state (%s)", path,
		    why);
	a->have_old = true;
	return 0;
}

/* Read DIR/full: the right edge of the tree rebuilt so far and the signed
 * checkpoint it was checked against (docs/audit.md).  A state that does
 * not add up is refused as tampered. */
static int
state_load_full(struct audit *a)
{
	char path[PATH_LEN], why[CL_WHY_MAX];
	uint8_t *buf = NULL, root[MT_HASH_LEN];
	const uint8_t *note;
	size_t len, note_len, hl = strlen(FULL_HEADER);
	struct lines l;
	struct sth c;
	uint64_t size, validated;
	const char *bad = NULL;
	int rc;

	mt_range_init(&a->range);
	state_path(a, "full", path);
	rc = cli_read_file(path, FULL_MAX, &buf, &len, why);
	if (rc == ENOENT)
		return 0;
	if (rc != 0)
		return cli_fail(CLI_USAGE, "cannot read the state: %s", why);
	l.p = (const char *)buf;
	l.end = (const char *)buf + len;
	if (len < hl || memcmp(buf, FULL_HEADER, hl) != 0) {
		bad = "its first line is wrong";
		goto out;
	}
	l.p += hl;
	if (field_u64(&l, "size", &size) != 0 || field_u64(&l, "validated", &validated) != 0) {
		bad = "size or validated is malformed";
		goto out;
	}
	a->range.size = size;
	for (int h = 63; h >= 0; h--) {
		const char *v;
		size_t n;
		uint64_t height;

		if (!(size >> h & 1))
			continue;
		if (line_field(&l, "edge", &v, &n) != 0 || n < 46 || v[n - 45] != ' ' ||
		    parse_u64(v, n - 45, &height) != 0 || height != (uint64_t)h ||
		    parse_hash(v + n - 44, 44, a->range.hash[h]) != 0) {
			bad = "its edge hashes are malformed or do not match its size";
			goto out;
		}
	}
	if (field_bytes(&l, "checkpoint", CL_CHECKPOINT_MAX, &note, &note_len) != 0 ||
	    l.end - l.p != 4 || memcmp(l.p, "end\n", 4) != 0) {
		bad = "its checkpoint is malformed, or it does not end with \"end\"";
		goto out;
	}
	if (sth_open(note, note_len, &a->key, a->origin, &c, why) != 0) {
		bad = "its checkpoint is not signed by the log key";
		goto out;
	}
	mt_range_root(&a->range, root);
	if (c.size != size || sodium_memcmp(root, c.root, MT_HASH_LEN) != 0) {
		bad = "its tree does not match its signed checkpoint";
		goto out;
	}
	if (validated != size) {
		bad = "not all of its entries were validated";
		goto out;
	}
	if (!a->have_old) {
		bad = "there is no DIR/checkpoint beside it";
		goto out;
	}
	if (size > a->old.size ||
	    (size == a->old.size && sodium_memcmp(c.root, a->old.root, MT_HASH_LEN) != 0)) {
		bad = "it is ahead of, or disagrees with, DIR/checkpoint";
		goto out;
	}
out:
	free(buf);
	if (bad != NULL) {
		mt_range_init(&a->range);
		return cli_fail(CLI_USAGE, "state %s: %s: refusing a tampered state", path, bad);
	}
	return 0;
}

/* Write DIR/full for the rebuilt tree, which matches checkpoint note. */
static int
state_save_full(struct audit *a, const uint8_t *note, size_t note_len, char *why)
{
	struct text t = {malloc(FULL_MAX), 0, FULL_MAX, false};
	char path[PATH_LEN], b64[CL_B64_LEN(MT_HASH_LEN) + 1];
	int rc;

	if (t.p == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	text_add(&t, FULL_HEADER, strlen(FULL_HEADER));
	text_printf(&t, "size %" PRIu64 "\n", a->range.size);
	text_printf(&t, "validated %" PRIu64 "\n", a->range.size);
	for (int h = 63; h >= 0; h--) {
		if (!(a->range.size >> h & 1))
			continue;
		b64_hash(a->range.hash[h], b64);
		text_printf(&t, "edge %d %s\n", h, b64);
	}
	text_printf(&t, "checkpoint %zu\n", note_len);
	text_add(&t, note, note_len);
	text_printf(&t, "end\n");
	state_path(a, "full", path);
	if (t.over)
		rc = cl_why(why, CL_ETOOBIG, "%s: too large", path);
	else
		rc = cli_write_file(path, t.p, t.len, 0600, why);
	free(t.p);
	return rc;
}

/* Fetch and verify the log's checkpoint into a->cur. */
static int
checkpoint_fetch(struct audit *a)
{
	struct cli_http_resp r = {0};
	char why[CL_WHY_MAX];

	if (fetch(a, "checkpoint", CL_CHECKPOINT_MAX, &r, why) != 0)
		return report(a, CLI_FAIL, "error", "cannot fetch the checkpoint: %s", why);
	if (sth_open(r.body, r.len, &a->key, a->origin, &a->cur, why) != 0) {
		cli_http_resp_free(&r);
		return report(
		    a, CLI_FAIL, "error", "the log's checkpoint does not verify: %s", why);
	}
	a->new_note = r.body;
	a->new_len = r.len;
	a->have_new = true;
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
	if (cli_write_new(
	        a->dir, stem, ".txt", buf, len, 0644, a->evidence, sizeof a->evidence, why) != 0) {
		/* Kept under a temporary name if it got that far: say where. */
		rc = cli_fail(CLI_FAIL, "cannot write evidence: %s", why);
		if (access(a->evidence, F_OK) != 0)
			a->evidence[0] = '\0';
	}
	free(buf);
	return rc;
}

/* What the log's tiles at size n say about sizes m < n. */
struct tileproof {
	uint8_t small_root[MT_HASH_LEN], large_root[MT_HASH_LEN];
	uint8_t path[MT_PROOF_MAX][MT_HASH_LEN];
	size_t n_path;
};

/* Fetch the tiles that PROOF(m, n), MTH(D[m]) and MTH(D[n]) need at size n
 * (only paths a checkpoint of size n implies) and compute them locally.
 * Returns 0, or 1 with why. */
static int
tiles_prove(struct audit *a, uint64_t m, uint64_t n, struct tileproof *tp, char *why)
{
	struct mt_plan *plans = malloc(3 * sizeof *plans);
	struct mt_tile *tiles = malloc(TILES_MAX * sizeof *tiles), one[MT_NODES_MAX];
	struct cli_http_resp *resp = calloc(TILES_MAX, sizeof *resp);
	const uint8_t **data = calloc(TILES_MAX, sizeof *data);
	uint8_t(*out)[MT_HASH_LEN] = malloc(MT_PROOF_MAX * MT_HASH_LEN);
	struct mt_tileset set;
	size_t nt = 0, k;
	int rc = 1;

	if (plans == NULL || tiles == NULL || resp == NULL || data == NULL || out == NULL) {
		cl_why(why, 1, "out of memory");
		goto out;
	}
	if (mt_consistency_plan(m, n, &plans[0]) != 0 || mt_root_plan(m, &plans[1]) != 0 ||
	    mt_root_plan(n, &plans[2]) != 0) {
		cl_why(why, 1, "cannot plan a proof from %" PRIu64 " to %" PRIu64, m, n);
		goto out;
	}
	for (int p = 0; p < 3; p++) {
		if (mt_plan_tiles(&plans[p], n, one, MT_NODES_MAX, &k) != 0) {
			cl_why(why, 1, "cannot place the proof's nodes in tiles");
			goto out;
		}
		for (size_t i = 0; i < k; i++) {
			size_t j;

			for (j = 0; j < nt; j++) {
				if (tiles[j].level == one[i].level &&
				    tiles[j].index == one[i].index)
					break;
			}
			if (j == nt && nt < TILES_MAX)
				tiles[nt++] = one[i];
		}
	}
	for (size_t i = 0; i < nt; i++) {
		char tpath[MT_TILE_PATH_MAX];

		if (mt_tile_path(&tiles[i], tpath) != 0) {
			cl_why(why, 1, "bad tile");
			goto out;
		}
		if (fetch(a, tpath, TILE_MAX, &resp[i], why) != 0)
			goto out;
		if (resp[i].len != (size_t)tiles[i].width * MT_HASH_LEN) {
			cl_why(why, 1, "%s: %zu bytes, not %u hashes", tpath, resp[i].len,
			    (unsigned)tiles[i].width);
			goto out;
		}
		data[i] = resp[i].body;
	}
	set.tiles = tiles;
	set.data = data;
	set.n = nt;
	if (mt_plan_run(&plans[1], mt_tileset_read, &set, out, &k) != 0 || k != 1) {
		cl_why(why, 1, "the tiles lack a node of the root at %" PRIu64, m);
		goto out;
	}
	memcpy(tp->small_root, out[0], MT_HASH_LEN);
	if (mt_plan_run(&plans[2], mt_tileset_read, &set, out, &k) != 0 || k != 1) {
		cl_why(why, 1, "the tiles lack a node of the root at %" PRIu64, n);
		goto out;
	}
	memcpy(tp->large_root, out[0], MT_HASH_LEN);
	if (mt_plan_run(&plans[0], mt_tileset_read, &set, tp->path, &tp->n_path) != 0) {
		cl_why(why, 1, "the tiles lack a node of the proof");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; resp != NULL && i < TILES_MAX; i++)
		cli_http_resp_free(&resp[i]);
	free(out);
	free(data);
	free(resp);
	free(tiles);
	free(plans);
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

/* Check that p->sm's tree is a prefix of p->lg's (sizes m < n): first with
 * the log's consistency proof, and if that fails, from the log's tiles at
 * size n.  Returns 0 if consistent; otherwise the outcome has been
 * reported (with evidence where there is some) and the exit code is
 * returned. */
static int
check_prefix(struct audit *a, const struct pair *p)
{
	uint64_t m = p->sm->size, n = p->lg->size;
	struct cli_http_resp r = {0};
	struct cl_proof *lp = NULL;
	struct tileproof *tp = NULL;
	struct evidence *ev = NULL;
	char path[128], lwhy[CL_WHY_MAX], twhy[CL_WHY_MAX];
	char s1[CL_B64_LEN(MT_HASH_LEN) + 1], s2[CL_B64_LEN(MT_HASH_LEN) + 1];
	bool have_lp = false;
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
	snprintf(path, sizeof path, "v1/proof/consistency?from=%" PRIu64 "&to=%" PRIu64, m, n);
	if (fetch(a, path, CL_API_MAX, &r, lwhy) == 0) {
		wire_arena_reset(&a->arena);
		if (wire_consistency_decode(&a->arena, r.body, r.len, lp, twhy) != 0) {
			cl_why(lwhy, 1, "malformed consistency proof: %s", twhy);
		} else if (lp->a != m || lp->b != n) {
			cl_why(lwhy, 1,
			    "asked for a proof from %" PRIu64 " to %" PRIu64
			    ", the log answered one from %" PRIu64 " to %" PRIu64,
			    m, n, lp->a, lp->b);
		} else {
			have_lp = true;
			if (mt_consistency_verify(
			        m, n, p->sm->root, p->lg->root, lp->hashes[0], lp->n) == 0) {
				rc = 0;
				goto out;
			}
			cl_why(lwhy, 1,
			    "the log's consistency proof from %" PRIu64 " to %" PRIu64
			    " does not verify",
			    m, n);
		}
		cli_http_resp_free(&r);
	}

	/* Not on the log's word: recompute everything from its tiles, which
	 * are bound to the signed root of size n. */
	evidence_start(ev, p);
	if (have_lp) {
		ev->have_log_proof = true;
		ev->n_log_proof = lp->n;
		memcpy(ev->log_proof, lp->hashes, lp->n * MT_HASH_LEN);
	}
	if (tiles_prove(a, m, n, tp, twhy) != 0) {
		if (!have_lp) {
			rc = report(a, CLI_FAIL, p->rollback ? "older" : "error",
			    "cannot check consistency from %" PRIu64 " to %" PRIu64
			    ": %s; from tiles: %s",
			    m, n, lwhy, twhy);
			goto out;
		}
		snprintf(ev->reason, sizeof ev->reason,
		    "unproven: the log served inconsistent data: %s, and its tiles at size %" PRIu64
		    " could not be fetched (%s)",
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
	cli_http_resp_free(&r);
	free(ev);
	free(tp);
	free(lp);
	return rc;
}

/* ---- --full: rebuild the tree from the entries ---- */

struct rebuild {
	struct audit *a;
	uint64_t size; /* the checkpoint's size: every tile is fetched at it */
	struct {
		bool valid;
		uint64_t index;
		unsigned width;
		uint8_t data[TILE_MAX];
	} tile[LEVELS];
	char why[MSG_MAX];
};

/* Fetch hash tile (level, index) at the checkpoint's size into the cache. */
static int
rebuild_tile(struct rebuild *rb, unsigned level, uint64_t index)
{
	struct mt_tile t = {index, 0, (uint8_t)level, false};
	struct cli_http_resp r = {0};
	char path[MT_TILE_PATH_MAX], why[CL_WHY_MAX];

	rb->tile[level].valid = false;
	t.width = (uint16_t)mt_tile_width(level, index, rb->size);
	if (mt_tile_path(&t, path) != 0) {
		snprintf(rb->why, sizeof rb->why, "tile %u/%" PRIu64 " is not in the tree", level,
		    index);
		return 1;
	}
	if (fetch(rb->a, path, TILE_MAX, &r, why) != 0) {
		snprintf(rb->why, sizeof rb->why, "cannot fetch %s: %s", path, why);
		return 1;
	}
	if (r.len != (size_t)t.width * MT_HASH_LEN) {
		snprintf(rb->why, sizeof rb->why, "%s: %zu bytes, not %u hashes", path, r.len,
		    (unsigned)t.width);
		cli_http_resp_free(&r);
		return 1;
	}
	memcpy(rb->tile[level].data, r.body, r.len);
	rb->tile[level].index = index;
	rb->tile[level].width = t.width;
	rb->tile[level].valid = true;
	cli_http_resp_free(&r);
	return 0;
}

/* mt_emit_fn: every stored node the rebuilt tree completes at a tile level
 * must be the hash the log serves in that tile. */
static int
rebuild_emit(void *ctx, const struct mt_node *node, const uint8_t hash[MT_HASH_LEN])
{
	struct rebuild *rb = ctx;
	unsigned level = node->height / MT_TILE_HEIGHT, pos = (unsigned)(node->index & 0xff);
	uint64_t ti = node->index >> 8;
	struct mt_tile t = {ti, 0, (uint8_t)level, false};
	char path[MT_TILE_PATH_MAX];

	if (node->height % MT_TILE_HEIGHT != 0)
		return 0;
	if ((!rb->tile[level].valid || rb->tile[level].index != ti) &&
	    rebuild_tile(rb, level, ti) != 0)
		return 1;
	t.width = (uint16_t)rb->tile[level].width;
	mt_tile_path(&t, path);
	if (pos >= rb->tile[level].width) {
		snprintf(rb->why, sizeof rb->why, "%s has no position %u", path, pos);
		return 1;
	}
	if (sodium_memcmp(hash, rb->tile[level].data + (size_t)pos * MT_HASH_LEN, MT_HASH_LEN) == 0)
		return 0;
	if (level == 0)
		snprintf(rb->why, sizeof rb->why,
		    "entry %" PRIu64 ": its leaf hash does not match position %u of %s",
		    node->index, pos, path);
	else
		snprintf(rb->why, sizeof rb->why,
		    "%s: position %u does not match the tree rebuilt from the entries", path, pos);
	return 1;
}

/* Download and check every entry from the rebuilt size up to the
 * checkpoint's, one bundle at a time.  On success a->range describes the
 * whole tree; on failure it is unchanged and
 * the failure has been reported. */
static int
full_rebuild(struct audit *a, const struct sth *c)
{
	struct rebuild *rb = calloc(1, sizeof *rb);
	struct mt_range *r = malloc(sizeof *r);
	struct cli_http_resp resp = {0};
	uint64_t s0 = a->range.size, n = c->size;
	uint8_t root[MT_HASH_LEN];
	char why[CL_WHY_MAX], s1[CL_B64_LEN(MT_HASH_LEN) + 1], s2[CL_B64_LEN(MT_HASH_LEN) + 1];
	int rc;

	a->full_from = s0;
	if (rb == NULL || r == NULL) {
		rc = report(a, CLI_FAIL, "error", "out of memory");
		goto out;
	}
	rb->a = a;
	rb->size = n;
	*r = a->range;
	for (uint64_t t = s0 >> 8; s0 < n && t <= (n - 1) >> 8; t++) {
		struct mt_tile bt = {t, (uint16_t)mt_tile_width(0, t, n), 0, true};
		char path[MT_TILE_PATH_MAX];
		const uint8_t *q, *end;

		mt_tile_path(&bt, path);
		if (fetch(a, path, BUNDLE_MAX, &resp, why) != 0) {
			rc = report(a, CLI_FAIL, "error", "cannot fetch %s: %s", path, why);
			goto out;
		}
		q = resp.body;
		end = resp.body + resp.len;
		for (unsigned j = 0; j < bt.width; j++) {
			uint64_t idx = t * MT_TILE_WIDTH + j;
			struct cl_envelope env;
			struct cl_attestation att;
			uint8_t leaf[MT_HASH_LEN];
			size_t elen;

			if (end - q < 2 || (size_t)(end - q - 2) < ((size_t)q[0] << 8 | q[1])) {
				rc = report(a, CLI_FAIL, "invalid",
				    "%s: truncated at entry %" PRIu64, path, idx);
				goto out;
			}
			elen = (size_t)q[0] << 8 | q[1];
			q += 2;
			if (idx >= s0) {
				mt_leaf_hash(leaf, q, elen);
				if ((rc = mt_range_append(r, leaf, rebuild_emit, rb)) != 0) {
					rc = report(a, CLI_FAIL, "invalid", "%s",
					    rc == MT_EFULL ? "the tree is full" : rb->why);
					goto out;
				}
				wire_arena_reset(&a->arena);
				if (wire_envelope_decode(&a->arena, q, elen, &env, why) != 0) {
					rc = report(a, CLI_FAIL, "invalid",
					    "entry %" PRIu64 ": not a valid envelope: %s", idx,
					    why);
					goto out;
				}
				if (wire_attestation_decode(
				        &a->arena, env.payload, env.payload_len, &att, why) != 0) {
					rc = report(a, CLI_FAIL, "invalid",
					    "entry %" PRIu64 ": not a valid attestation: %s", idx,
					    why);
					goto out;
				}
			}
			q += elen;
		}
		if (q != end) {
			rc = report(a, CLI_FAIL, "invalid", "%s: %zu bytes after its %u entries",
			    path, (size_t)(end - q), (unsigned)bt.width);
			goto out;
		}
		cli_http_resp_free(&resp);
	}
	mt_range_root(r, root);
	if (sodium_memcmp(root, c->root, MT_HASH_LEN) != 0) {
		b64_hash(root, s1);
		b64_hash(c->root, s2);
		rc = report(a, CLI_FAIL, "invalid",
		    "the tree rebuilt from the log's %" PRIu64 " entries has root %s, but the "
		    "checkpoint says %s",
		    n, s1, s2);
		goto out;
	}
	a->range = *r;
	rc = 0;
out:
	cli_http_resp_free(&resp);
	free(r);
	free(rb);
	return rc;
}

/* ---- audit ---- */

static const char audit_usage[] =
    "usage: closurelog audit --log URL --log-key PUB --state DIR [--origin O] [--full]\n"
    "           [--json]\n"
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
    "\n"
    "Exit status: 0 consistent; 1 fork, rollback, inconsistent or invalid data, or\n"
    "the log could not be reached; 2 usage error, or a state directory that is\n"
    "locked, unreadable or tampered with.\n";

static int
audit_run(struct audit *a)
{
	struct pair p;
	const uint8_t *trusted;
	size_t trusted_len;
	const char *status;
	char msg[MSG_MAX], why[CL_WHY_MAX], path[PATH_LEN];
	int rc;

	if ((rc = state_open(a)) != 0 || (rc = state_load_checkpoint(a)) != 0)
		return rc;
	if (a->full && (rc = state_load_full(a)) != 0)
		return rc;
	if ((rc = checkpoint_fetch(a)) != 0)
		return rc;

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
	if (a->full && (rc = full_rebuild(a, &a->cur)) != 0)
		return rc;
	/* DIR/checkpoint first: if DIR/full is not written, it lags behind,
	 * which the next run handles. */
	if (trusted == a->new_note) {
		state_path(a, "checkpoint", path);
		if (cli_write_file(path, trusted, trusted_len, 0600, why) != 0)
			return report(a, CLI_USAGE, "error", "cannot save the state: %s", why);
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
		    state_save_full(a, trusted, trusted_len, why) != 0)
			return report(a, CLI_USAGE, "error", "cannot save the state: %s", why);
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct audit *a;
	const char *log = NULL, *key = NULL, *dir = NULL;
	int c, rc;

	if ((a = calloc(1, sizeof *a)) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	a->lock_fd = -1;
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
	if ((rc = cli_log_url(log, a->url, sizeof a->url)) != 0 ||
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
	if (dir[0] == '\0' || strlen(dir) + 64 > sizeof a->dir) {
		rc = cli_fail(CLI_USAGE, "--state: empty or too long");
		goto out;
	}
	snprintf(a->dir, sizeof a->dir, "%s", dir);
	note_verifier_format(&a->key, a->vkey, sizeof a->vkey);
	cli_http_defaults(&a->http);
	if ((a->abuf = malloc(WIRE_ARENA_MIN)) == NULL) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	wire_arena_init(&a->arena, a->abuf, WIRE_ARENA_MIN);
	mt_range_init(&a->range);
	rc = audit_run(a);
out:
	if (a->lock_fd >= 0)
		close(a->lock_fd); /* and with it the lock */
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
