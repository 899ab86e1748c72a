/*
 * witness.c: the tlog-witness decision and its durable state.
 *
 * Everything that can be judged from the request alone (body syntax, the
 * origin, the log signature, the checkpoint text) is judged before the
 * write transaction starts; what depends on the stored state (the old
 * size, the consistency proof, the root at an equal size) is judged inside
 * it, and the cosignature is made and stored in that same transaction.
 * LMDB admits one write transaction at a time across threads and
 * processes, so the compare-and-store cannot race, and mdb_txn_commit
 * returns only once the data is synced (no MDB_NOSYNC), so a 200 is never
 * sent for a state a crash could lose.
 *
 * State, database "latest": key = the origin's bytes, value = u64 BE size
 * || 32-byte root || the cosigned checkpoint (text, "\n", the log's
 * verified signature lines, our cosignature line).
 */
#include "witness.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>
#include <sodium.h>

#include "cl.h"
#include "sth.h"

#define DEFAULT_MAP_SIZE ((size_t)256 << 20)
#define VALUE_HDR        (8 + MT_HASH_LEN)

enum { S_200, S_400, S_403, S_404, S_409, S_422, S_500, N_STATUS };
static const int status_code[N_STATUS] = {200, 400, 403, 404, 409, 422, 500};

struct origin {
	char name[NOTE_NAME_MAX + 1];
	char hex[2 * 32 + 1]; /* lowercase hex SHA-256(name), the GET path */
	size_t first, n;      /* its keys: logs[first .. first + n) */
	uint64_t size;        /* latest cosigned size (metrics); valid if `known` */
	bool known;
};

struct wit {
	MDB_env *env;
	MDB_dbi latest;
	struct note_signer *key; /* sodium_malloc'd */
	struct note_verifier *logs;
	struct origin *origins;
	size_t n_logs, n_origins;
	uint64_t answers[N_STATUS];
	double seconds; /* sum of the time spent judging add-checkpoint bodies */
};

static int
key_cmp(const void *a, const void *b)
{
	const struct note_verifier *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read origin's stored value in txn: 0 with *size and root (and the note,
 * if note is not NULL, valid until txn ends), or ENOENT. */
static int
state_get(struct wit *w, MDB_txn *txn, const char *origin, uint64_t *size,
    uint8_t root[MT_HASH_LEN], MDB_val *note)
{
	MDB_val k = {strlen(origin), (void *)origin}, v;
	int rc;

	if ((rc = mdb_get(txn, w->latest, &k, &v)) == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return rc;
	if (v.mv_size <= VALUE_HDR)
		return MDB_CORRUPTED;
	*size = cl_be64_get(v.mv_data);
	if (root != NULL)
		memcpy(root, (const uint8_t *)v.mv_data + 8, MT_HASH_LEN);
	if (note != NULL) {
		note->mv_data = (uint8_t *)v.mv_data + VALUE_HDR;
		note->mv_size = v.mv_size - VALUE_HDR;
	}
	return 0;
}

int
wit_open(const struct wit_config *c, struct wit **out, char *why)
{
	struct wit *w;
	MDB_txn *txn = NULL;
	int rc;

	*out = NULL;
	if (c->n_logs == 0 || c->n_logs > WIT_LOGS_MAX)
		return cl_why(why, CL_EINVAL, "a witness needs 1 to %d log keys, not %zu",
		    WIT_LOGS_MAX, c->n_logs);
	for (size_t i = 0; i < c->n_logs; i++) {
		if (c->logs[i].type != NOTE_TYPE_ED25519)
			return cl_why(why, CL_EINVAL,
			    "log key %s+%08" PRIx32 " is not an Ed25519 note key", c->logs[i].name,
			    c->logs[i].id);
	}
	if ((w = calloc(1, sizeof *w)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((w->key = sodium_malloc(sizeof *w->key)) == NULL ||
	    (w->logs = calloc(c->n_logs, sizeof *w->logs)) == NULL ||
	    (w->origins = calloc(c->n_logs, sizeof *w->origins)) == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(w->key, c->key, sizeof *w->key);
	memcpy(w->logs, c->logs, c->n_logs * sizeof *w->logs);
	w->n_logs = c->n_logs;
	qsort(w->logs, w->n_logs, sizeof *w->logs, key_cmp);
	for (size_t i = 0; i < w->n_logs; i++) {
		struct origin *o;
		uint8_t h[32];

		if (i > 0 && key_cmp(&w->logs[i - 1], &w->logs[i]) == 0) {
			rc = cl_why(why, CL_EINVAL, "log key %s+%08" PRIx32 " is configured twice",
			    w->logs[i].name, w->logs[i].id);
			goto fail;
		}
		if (i > 0 && strcmp(w->logs[i - 1].name, w->logs[i].name) == 0) {
			w->origins[w->n_origins - 1].n++;
			continue;
		}
		o = &w->origins[w->n_origins++];
		memcpy(o->name, w->logs[i].name, sizeof o->name);
		o->first = i;
		o->n = 1;
		crypto_hash_sha256(h, (const uint8_t *)o->name, strlen(o->name));
		cl_hex_encode(h, sizeof h, o->hex);
	}

	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
		rc = errno;
		cl_why(why, rc, "cannot create data directory %s: %s", c->dir, strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_create(&w->env)) != 0 || (rc = mdb_env_set_maxdbs(w->env, 1)) != 0 ||
	    (rc = mdb_env_set_mapsize(w->env, c->map_size ? c->map_size : DEFAULT_MAP_SIZE)) != 0) {
		cl_why(why, rc, "lmdb: %s", mdb_strerror(rc));
		goto fail;
	}
	/* No MDB_NOSYNC: a commit is durable when mdb_txn_commit returns. */
	if ((rc = mdb_env_open(w->env, c->dir, 0, 0600)) != 0) {
		cl_why(why, rc, "cannot open witness state in %s: %s", c->dir, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_txn_begin(w->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "latest", MDB_CREATE, &w->latest)) != 0) {
		cl_why(why, rc, "cannot open witness state: %s", mdb_strerror(rc));
		goto fail;
	}
	for (size_t i = 0; i < w->n_origins; i++) {
		struct origin *o = &w->origins[i];

		rc = state_get(w, txn, o->name, &o->size, NULL, NULL);
		if (rc != 0 && rc != ENOENT) {
			cl_why(why, rc, "witness state for %s: %s", o->name, mdb_strerror(rc));
			goto fail;
		}
		o->known = rc == 0;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		cl_why(why, rc, "cannot open witness state: %s", mdb_strerror(rc));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	wit_close(w);
	return rc;
}

void
wit_close(struct wit *w)
{
	if (w == NULL)
		return;
	if (w->env != NULL)
		mdb_env_close(w->env);
	if (w->key != NULL)
		sodium_free(w->key); /* wipes */
	free(w->logs);
	free(w->origins);
	free(w);
}

void
wit_verifier(const struct wit *w, struct note_verifier *v)
{
	note_cosigner_verifier(w->key, v);
}

static struct origin *
origin_find(struct wit *w, const char *name, size_t len)
{
	for (size_t i = 0; i < w->n_origins; i++) {
		if (strlen(w->origins[i].name) == len && memcmp(w->origins[i].name, name, len) == 0)
			return &w->origins[i];
	}
	return NULL;
}

/* Set *r to a one-line text answer. */
static void
reply_text(struct wit_reply *r, int status, const char *line)
{
	int n = snprintf(r->body, sizeof r->body, "%s\n", line);

	r->status = status;
	r->type = WIT_TEXT_TYPE;
	r->len = n < 0 ? 0 : (size_t)n >= sizeof r->body ? sizeof r->body - 1 : (size_t)n;
	/* One line, whatever the reason quotes. */
	for (size_t i = 0; i + 1 < r->len; i++) {
		if (r->body[i] == '\n' || r->body[i] == '\r')
			r->body[i] = ' ';
	}
	if (r->len > 0)
		r->body[r->len - 1] = '\n';
}

/* A checkpoint text that sth_parse refused only because its size is 0 and
 * its root is not the empty-tree root: the spec answers that with 422, not
 * 400.  Tell it apart by parsing a copy with the empty root put in. */
static bool
only_empty_root_wrong(const uint8_t *text, size_t len)
{
	static const char empty[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
	const uint8_t *l1 = memchr(text, '\n', len), *l2, *l3;
	struct sth s;
	uint8_t *copy;
	bool ok;

	if (l1 == NULL || (l2 = memchr(l1 + 1, '\n', len - (size_t)(l1 + 1 - text))) == NULL ||
	    l2 - l1 != 2 || l1[1] != '0' ||
	    (l3 = memchr(l2 + 1, '\n', len - (size_t)(l2 + 1 - text))) == NULL ||
	    (size_t)(l3 - l2 - 1) != sizeof empty - 1)
		return false;
	if ((copy = malloc(len)) == NULL)
		return false;
	memcpy(copy, text, len);
	memcpy(copy + (l2 + 1 - text), empty, sizeof empty - 1);
	ok = sth_parse((const char *)copy, len, &s, NULL) == 0;
	free(copy);
	return ok;
}

/* The cosigned checkpoint we store: text, "\n", the log's verified lines,
 * our line.  malloc'd into *out with the value header in front. */
static int
value_build(const uint8_t *msg, const struct note *n, uint64_t size,
    const uint8_t root[MT_HASH_LEN], const char *line, size_t line_len, uint8_t **out, size_t *len)
{
	size_t need = VALUE_HDR + n->text_len + 1 + line_len, pos;
	uint8_t *v;

	for (size_t i = 0; i < n->n_sigs; i++)
		need += n->sigs[i].key >= 0 ? n->sigs[i].line_len : 0;
	if ((v = malloc(need)) == NULL)
		return ENOMEM;
	cl_be64_put(v, size);
	memcpy(v + 8, root, MT_HASH_LEN);
	memcpy(v + VALUE_HDR, msg, n->text_len);
	pos = VALUE_HDR + n->text_len;
	v[pos++] = '\n';
	for (size_t i = 0; i < n->n_sigs; i++) {
		if (n->sigs[i].key < 0)
			continue;
		memcpy(v + pos, n->sigs[i].line, n->sigs[i].line_len);
		pos += n->sigs[i].line_len;
	}
	memcpy(v + pos, line, line_len);
	*out = v;
	*len = need;
	return 0;
}

/* The decision itself; returns the status index. */
static int
judge(struct wit *w, const uint8_t *buf, size_t len, uint64_t now, struct wit_reply *r)
{
	char why[CL_WHY_MAX], msg[CL_WHY_MAX + 64], line[NOTE_SIGLINE_MAX];
	uint8_t stored_root[MT_HASH_LEN], *value = NULL;
	struct note note;
	struct wit_body b;
	struct origin *o;
	struct sth c;
	const uint8_t *nl;
	MDB_txn *txn = NULL;
	uint64_t stored = 0;
	size_t value_len = 0, line_len;
	bool empty_root_wrong = false;
	int rc, st;

	if (wit_body_parse(buf, len, &b, why) != 0) {
		reply_text(r, 400, why);
		return S_400;
	}
	/* Parse the note without keys first, to learn the origin. */
	if (note_open(b.note, b.note_len, NULL, 0, &note, why) != 0) {
		snprintf(msg, sizeof msg, "checkpoint: %s", why);
		reply_text(r, 400, msg);
		return S_400;
	}
	nl = memchr(b.note, '\n', note.text_len);
	if ((o = origin_find(w, (const char *)b.note, (size_t)(nl - b.note))) == NULL) {
		snprintf(msg, sizeof msg, "origin \"%.*s\" is not a log this witness witnesses",
		    (int)((size_t)(nl - b.note) < 100 ? (size_t)(nl - b.note) : 100),
		    (const char *)b.note);
		reply_text(r, 404, msg);
		return S_404;
	}
	rc = note_open(b.note, b.note_len, &w->logs[o->first], o->n, &note, why);
	if (rc == CL_ENOKEY || rc == CL_EBADSIG) {
		snprintf(msg, sizeof msg, "log signature: %s", why);
		reply_text(r, 403, msg);
		return S_403;
	}
	if (rc != 0) {
		snprintf(msg, sizeof msg, "checkpoint: %s", why);
		reply_text(r, 400, msg);
		return S_400;
	}
	if (note.text_len > WIT_TEXT_MAX) {
		snprintf(msg, sizeof msg, "checkpoint text is %zu bytes, more than %d",
		    note.text_len, WIT_TEXT_MAX);
		reply_text(r, 400, msg);
		return S_400;
	}
	if (sth_parse((const char *)b.note, note.text_len, &c, why) != 0) {
		if (!only_empty_root_wrong(b.note, note.text_len)) {
			snprintf(msg, sizeof msg, "checkpoint: %s", why);
			reply_text(r, 400, msg);
			return S_400;
		}
		empty_root_wrong = true; /* size 0: judged after the old-size checks */
	}
	if (b.old > c.size) {
		snprintf(msg, sizeof msg,
		    "old size %" PRIu64 " is larger than the checkpoint's %" PRIu64, b.old, c.size);
		reply_text(r, 400, msg);
		return S_400;
	}

	if ((rc = mdb_txn_begin(w->env, NULL, 0, &txn)) != 0)
		goto internal;
	rc = state_get(w, txn, o->name, &stored, stored_root, NULL);
	if (rc == ENOENT)
		mt_empty_root(stored_root); /* nothing stored: size 0 */
	else if (rc != 0)
		goto internal;
	if (b.old != stored) {
		r->status = 409;
		r->type = WIT_SIZE_TYPE;
		r->len = (size_t)snprintf(r->body, sizeof r->body, "%" PRIu64 "\n", stored);
		st = S_409;
		goto out;
	}
	if (empty_root_wrong) {
		reply_text(r, 422, "checkpoint of size 0 does not carry the empty-tree root");
		st = S_422;
		goto out;
	}
	if (b.old == 0 && b.n_proof > 0) {
		reply_text(r, 422, "old size is 0, but the consistency proof is not empty");
		st = S_422;
		goto out;
	}
	if (b.old == c.size && sodium_memcmp(stored_root, c.root, MT_HASH_LEN) != 0) {
		snprintf(msg, sizeof msg,
		    "checkpoint of size %" PRIu64
		    " has a root other than the one cosigned at that size",
		    c.size);
		reply_text(r, 422, msg);
		st = S_422;
		goto out;
	}
	if ((rc = mt_consistency_verify(
	         b.old, c.size, stored_root, c.root, MT_PATH(b.proof), b.n_proof)) != 0) {
		snprintf(msg, sizeof msg, "consistency proof from %" PRIu64 " to %" PRIu64 ": %s",
		    b.old, c.size, cl_strerror(rc));
		reply_text(r, 422, msg);
		st = S_422;
		goto out;
	}
	if ((line_len = note_cosign_line(w->key, b.note, note.text_len, now, line, sizeof line)) ==
	    0) {
		rc = CL_ECRYPTO;
		goto internal;
	}
	if ((rc = value_build(b.note, &note, c.size, c.root, line, line_len, &value, &value_len)) !=
	    0)
		goto internal;
	{
		MDB_val k = {strlen(o->name), o->name}, v = {value_len, value};

		if ((rc = mdb_put(txn, w->latest, &k, &v, 0)) != 0)
			goto internal;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto internal;
	o->size = c.size;
	o->known = true;
	r->status = 200;
	r->type = WIT_TEXT_TYPE;
	memcpy(r->body, line, line_len); /* line_len < NOTE_SIGLINE_MAX < WIT_REPLY_MAX */
	r->len = line_len;
	st = S_200;
	goto out;
internal:
	snprintf(msg, sizeof msg, "witness cannot store its state: %s",
	    rc < -30000 ? mdb_strerror(rc) : cl_strerror(rc));
	reply_text(r, 500, msg);
	st = S_500;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	free(value);
	return st;
}

void
wit_add_checkpoint(struct wit *w, const uint8_t *buf, size_t len, uint64_t now, struct wit_reply *r)
{
	double t0 = mono_now();
	int st;

	memset(r, 0, sizeof *r);
	if (now == 0 || now > (uint64_t)INT64_MAX) {
		reply_text(r, 500, "witness clock is not set");
		st = S_500;
	} else {
		st = judge(w, buf, len, now, r);
	}
	w->answers[st]++;
	w->seconds += mono_now() - t0;
}

int
wit_checkpoint_alloc(struct wit *w, const char *hex, size_t hexlen, uint8_t **out, size_t *len)
{
	struct origin *o = NULL;
	MDB_txn *txn = NULL;
	MDB_val note;
	uint64_t size;
	int rc;

	*out = NULL;
	*len = 0;
	if (hexlen != 64)
		return CL_EINVAL;
	for (size_t i = 0; i < hexlen; i++) {
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return CL_EINVAL;
	}
	for (size_t i = 0; i < w->n_origins && o == NULL; i++) {
		if (memcmp(w->origins[i].hex, hex, 64) == 0)
			o = &w->origins[i];
	}
	if (o == NULL)
		return ENOENT;
	if ((rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	if ((rc = state_get(w, txn, o->name, &size, NULL, &note)) == 0) {
		if ((*out = malloc(note.mv_size)) == NULL) {
			rc = ENOMEM;
		} else {
			memcpy(*out, note.mv_data, note.mv_size);
			*len = note.mv_size;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int
wit_size_get(struct wit *w, const char *origin, uint64_t *size)
{
	MDB_txn *txn = NULL;
	int rc;

	if ((rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn)) != 0)
		return rc;
	rc = state_get(w, txn, origin, size, NULL, NULL);
	mdb_txn_abort(txn);
	return rc;
}

/* Append to a growing buffer; returns -1 when out of memory. */
static int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		char *nb = realloc(*buf, *cap * 2 + (size_t)n);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = *cap * 2 + (size_t)n;
	}
}

/* A Prometheus label value: backslash, double quote and newline escaped
 * (origins may hold the first two). */
static void
label_escape(const char *s, char *out, size_t cap)
{
	size_t j = 0;

	for (; *s != '\0' && j + 3 < cap; s++) {
		if (*s == '\\' || *s == '"')
			out[j++] = '\\';
		out[j++] = *s;
	}
	out[j] = '\0';
}

char *
wit_metrics_render_alloc(struct wit *w, size_t *len)
{
	size_t cap = 1024;
	char *buf = malloc(cap), lab[2 * NOTE_NAME_MAX + 1];
	uint64_t total = 0;

	*len = 0;
	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	if (buf_printf(&buf, len, &cap,
	        "# HELP closurelog_witness_add_checkpoint_total add-checkpoint requests answered, "
	        "by status.\n"
	        "# TYPE closurelog_witness_add_checkpoint_total counter\n") != 0)
		goto fail;
	for (int i = 0; i < N_STATUS; i++) {
		total += w->answers[i];
		if (buf_printf(&buf, len, &cap,
		        "closurelog_witness_add_checkpoint_total{status=\"%d\"} %" PRIu64 "\n",
		        status_code[i], w->answers[i]) != 0)
			goto fail;
	}
	if (buf_printf(&buf, len, &cap,
	        "# HELP closurelog_witness_add_checkpoint_seconds time spent judging and storing "
	        "add-checkpoint requests.\n"
	        "# TYPE closurelog_witness_add_checkpoint_seconds summary\n"
	        "closurelog_witness_add_checkpoint_seconds_sum %.6f\n"
	        "closurelog_witness_add_checkpoint_seconds_count %" PRIu64 "\n"
	        "# HELP closurelog_witness_log_size latest tree size cosigned, per log origin "
	        "(absent: none yet).\n"
	        "# TYPE closurelog_witness_log_size gauge\n",
	        w->seconds, total) != 0)
		goto fail;
	for (size_t i = 0; i < w->n_origins; i++) {
		if (!w->origins[i].known)
			continue;
		label_escape(w->origins[i].name, lab, sizeof lab);
		if (buf_printf(&buf, len, &cap,
		        "closurelog_witness_log_size{origin=\"%s\"} %" PRIu64 "\n", lab,
		        w->origins[i].size) != 0)
			goto fail;
	}
	return buf;
fail:
	free(buf);
	*len = 0;
	return NULL;
}
