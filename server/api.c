/*
 * api.c: routes, replies, connection limits and shutdown for closurelogd.
 *
 * Why it is shaped this way:
 *
 *  - Reads never wait: each is a short LMDB read transaction (renewed and
 *    reset around the one request) on the HTTP thread that received it.
 *  - Writes never block the loop: the body is handed to the log's verifier
 *    pool and the request is answered from a completion queue that the log
 *    fills after the durable commit.  evhttp keeps an unanswered request
 *    alive even if its connection dies (it only detaches it), so the body
 *    can be read in place by the log threads.
 *  - libevent 2.1's evhttp has no connection limit and no per-request
 *    deadline, so both are added here: every connection's bufferevent is
 *    created by us (evhttp_set_bevcb) and held with an extra reference; a
 *    sweep timer notices when evhttp lets one go (its callbacks are
 *    cleared) and releases it, and shuts down connections that have not
 *    delivered a request within --request-timeout (slowloris).  A
 *    connection beyond --max-conns is answered 503 and closed.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <sodium.h>

#include "nix.h"
#include "note.h"
#include "ratelimit.h"
#include "tile.h"
#include "tiles.h"
#include "tproof.h"
#include "wire.h"

#define SWEEP_USEC       100000
#define SEARCH_PAGE      CL_SEARCH_MAX
#define CT_PROTOBUF      "application/x-protobuf"
#define CT_TEXT          "text/plain; charset=utf-8"
#define CT_OCTETS        "application/octet-stream"
#define CACHE_IMMUTABLE  "public, max-age=31536000, immutable"
#define CACHE_CHECKPOINT "no-cache"

struct api_thread;

/* One accepted connection (see the comment at the top). */
struct conn {
	struct bufferevent *bev;
	struct api_thread *t;
	double since; /* accepted, or its last answer sent */
	bool busy;    /* a request of it is being answered */
	bool over;    /* accepted beyond --max-conns */
	struct conn *next;
};

/* A submission in flight. */
struct sub {
	struct log_job job;
	struct api_thread *t;
	struct evhttp_request *req;
	struct conn *c;
	double t0;
	struct sub *next_done;
};

struct api_thread {
	struct api *a;
	unsigned id;
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct st_reader *reader;
	struct wire_arena arena;
	void *arena_buf;
	struct conn *conns;
	struct event *sweep, *wake, *stop_ev, *exit_ev;
	pthread_mutex_t done_mu;
	struct sub *done_head;
	struct sub *spare; /* answered submissions, for reuse (fewer large mallocs) */
	size_t n_spare;
	bool stopping;
};

#define SPARE_MAX 1024

struct api {
	struct cfg cfg;
	int *fds; /* one listening socket per HTTP thread */
	struct st *st;
	struct log *log;
	struct allow *al;
	struct metrics *m;
	struct api_thread *threads;
	unsigned n_threads;
	struct event *sig_term, *sig_int, *sig_hup;
	atomic_uint n_conns;
	struct rl *rl; /* shared by the HTTP threads; NULL: no limit */
	/* A connection's record by its socket, for O(1) lookups.  Shared by the
	 * HTTP threads, as socket numbers are; an entry is only ever one of the
	 * reading thread's own connections (it is cleared before our reference,
	 * which holds the socket open, is dropped), so relaxed atomics suffice. */
	_Atomic(struct conn *) *by_fd;
	size_t n_by_fd;
	atomic_bool shutting_down;
	pthread_t stopper;
	bool stopper_started;
};

/* ---- Replies ---- */

static void
finish(struct api_thread *t, struct conn *c, double t0, int code)
{
	double now = metrics_now();

	metrics_count(t->a->m, M_HTTP_REQUESTS, 1);
	if (code >= 400)
		metrics_count(t->a->m, M_HTTP_ERRORS, 1);
	metrics_observe(t->a->m, H_REQUEST_SECONDS, now - t0);
	if (c != NULL) {
		c->busy = false;
		c->since = now;
	}
}

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	}
	return "Error";
}

/* Send what the request's output buffer holds, with these headers. */
static void
send_reply(struct api_thread *t, struct evhttp_request *req, struct conn *c, double t0, int code,
    const char *ctype, const char *cache)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	if (cache != NULL)
		evhttp_add_header(h, "Cache-Control", cache);
	evhttp_send_reply(req, code, reason_phrase(code), NULL);
	finish(t, c, t0, code);
}

static void
reply(struct api_thread *t, struct evhttp_request *req, struct conn *c, double t0, int code,
    const char *ctype, const char *cache, const void *body, size_t len)
{
	if (len > 0 && evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0) {
		evhttp_send_error(req, 500, NULL);
		finish(t, c, t0, 500);
		return;
	}
	send_reply(t, req, c, t0, code, ctype, cache);
}

/* A one-line text error.  503 and 429 say when to come back. */
static void __attribute__((format(printf, 7, 8)))
reply_error(struct api_thread *t, struct evhttp_request *req, struct conn *c, double t0, int code,
    int reject, const char *fmt, ...)
{
	char line[CL_WHY_MAX + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	/* One line: no stray newlines from untrusted text. */
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	if (code == 503 || code == 429)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
	if (reject >= 0)
		metrics_reject(t->a->m, (enum metrics_reject)reject);
	reply(t, req, c, t0, code, CT_TEXT, "no-store", line, (size_t)n);
}

/* ---- Connections ---- */

static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct api_thread *t = arg;
	struct conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev;
	unsigned n;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c == NULL || bev == NULL) {
		free(c);
		return bev; /* evhttp copes; this one is simply not tracked */
	}
	/* Our reference keeps the bufferevent (and its socket) until the
	 * sweep sees that evhttp is done with it. */
	bufferevent_incref(bev);
	c->bev = bev;
	c->t = t;
	c->since = metrics_now();
	n = atomic_fetch_add(&t->a->n_conns, 1) + 1;
	c->over = n > t->a->cfg.max_conns;
	c->next = t->conns;
	t->conns = c;
	metrics_gauge_add(t->a->m, G_OPEN_CONNECTIONS, 1);
	return bev;
}

static struct conn *
conn_of(struct api_thread *t, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	struct api *a = t->a;

	if (fd < 0)
		return NULL;
	if ((size_t)fd < a->n_by_fd) {
		struct conn *c = atomic_load_explicit(&a->by_fd[fd], memory_order_relaxed);

		if (c != NULL && c->bev == bev)
			return c;
	}
	/* First request on this connection: find it once, remember it. */
	for (struct conn *c = t->conns; c != NULL; c = c->next) {
		if (c->bev == bev) {
			if ((size_t)fd < a->n_by_fd)
				atomic_store_explicit(&a->by_fd[fd], c, memory_order_relaxed);
			return c;
		}
	}
	return NULL;
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;
	struct conn **pp = &t->conns;
	double now = metrics_now(), limit = (double)t->a->cfg.request_timeout;

	(void)fd;
	(void)what;
	while (*pp != NULL) {
		struct conn *c = *pp;
		bufferevent_data_cb rd = NULL;

		bufferevent_getcb(c->bev, &rd, NULL, NULL, NULL);
		/* A connection whose request is still being answered stays
		 * listed (the answer updates it) even if evhttp dropped it. */
		if (rd == NULL && !c->busy) {
			/* evhttp has freed the connection: drop our reference,
			 * which closes the socket. */
			evutil_socket_t s = bufferevent_getfd(c->bev);

			if (s >= 0 && (size_t)s < t->a->n_by_fd &&
			    atomic_load_explicit(&t->a->by_fd[s], memory_order_relaxed) == c)
				atomic_store_explicit(&t->a->by_fd[s], NULL, memory_order_relaxed);
			*pp = c->next;
			bufferevent_decref(c->bev);
			free(c);
			atomic_fetch_sub(&t->a->n_conns, 1);
			metrics_gauge_add(t->a->m, G_OPEN_CONNECTIONS, -1);
			continue;
		}
		if (rd != NULL && !c->busy && now - c->since > limit) {
			/* No complete request in time: make evhttp see EOF. */
			evutil_socket_t s = bufferevent_getfd(c->bev);

			if (s >= 0)
				shutdown(s, SHUT_RDWR);
			metrics_reject(t->a->m, R_TIMEOUT);
			c->since = now; /* once is enough */
		}
		pp = &c->next;
	}
}

/* The client's rate limit (ratelimit.h). */
static bool
rate_ok(struct api_thread *t, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *sa;

	if (t->a->rl == NULL || evcon == NULL || (sa = evhttp_connection_get_addr(evcon)) == NULL)
		return true;
	return rl_allow(t->a->rl, sa, metrics_now());
}

/* ---- Query parameters ---- */

/* A canonical decimal uint64 query value. */
static bool
parse_u64(const char *s, uint64_t *out)
{
	return s != NULL && cl_u64_parse(s, strlen(s), out) == 0;
}

/* ---- Read routes ---- */

struct ctx {
	struct api_thread *t;
	struct evhttp_request *req;
	struct conn *c;
	double t0;
	const char *path; /* without the query */
};

#define FAIL(x, code, reject, ...)                                                                 \
	reply_error((x)->t, (x)->req, (x)->c, (x)->t0, code, reject, __VA_ARGS__)

/* Parse the query of x into q, refusing names not in `allowed` (NULL-ended)
 * and repeated names.  On refusal answers 400 and returns false; q is
 * initialised either way and the caller clears it. */
static bool
query_parse(struct ctx *x, struct evkeyvalq *q, const char *const *allowed)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(x->req);
	const char *qs = uri != NULL ? evhttp_uri_get_query(uri) : NULL;

	TAILQ_INIT(q);
	if (qs == NULL)
		return true;
	if (evhttp_parse_query_str(qs, q) != 0) {
		FAIL(x, 400, R_BAD_REQUEST, "malformed query string");
		return false;
	}
	for (struct evkeyval *kv = q->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
		size_t i;

		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(kv->key, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			FAIL(x, 400, R_BAD_REQUEST, "unknown parameter \"%.40s\"", kv->key);
			return false;
		}
		for (struct evkeyval *o = q->tqh_first; o != kv; o = o->next.tqe_next) {
			if (strcmp(o->key, kv->key) == 0) {
				FAIL(x, 400, R_BAD_REQUEST, "parameter \"%.40s\" given twice",
				    kv->key);
				return false;
			}
		}
	}
	return true;
}

static void
get_checkpoint(struct ctx *x)
{
	struct log_ckpt *ck = log_checkpoint(x->t->a->log);

	reply(x->t, x->req, x->c, x->t0, 200, CT_TEXT, CACHE_CHECKPOINT, ck->note, ck->len);
	log_ckpt_unref(ck);
}

static bool
reader_begin(struct ctx *x)
{
	int rc = st_reader_begin(x->t->reader);

	if (rc != 0)
		FAIL(x, 503, R_STORAGE, "store unavailable: %s", st_strerror(rc));
	return rc == 0;
}

/* tiles_bundle's put() into an evbuffer. */
static int
evbuffer_put(void *ctx, const void *data, size_t len)
{
	return evbuffer_add(ctx, data, len) == 0 ? 0 : ENOMEM;
}

static void
get_tile(struct ctx *x)
{
	struct mt_tile tile;
	struct st_reader *r = x->t->reader;
	const uint8_t *data;
	unsigned width;
	int rc;

	if (mt_tile_parse(x->path + 1, strlen(x->path + 1), &tile) != 0) {
		FAIL(x, 400, R_BAD_REQUEST, "malformed tile path %.80s", x->path);
		return;
	}
	/* Tiles exist for what a published checkpoint covers.  Take the
	 * checkpoint before the snapshot, so the snapshot holds all of it. */
	{
		struct log_ckpt *ck = log_checkpoint(x->t->a->log);

		width = mt_tile_width(tile.level, tile.index, ck->size);
		log_ckpt_unref(ck);
	}
	if (tile.width > width) {
		FAIL(x, 404, -1, "tile %.80s does not exist (yet)", x->path + 1);
		return;
	}
	if (!reader_begin(x))
		return;
	if (!tile.entries) {
		if ((rc = st_tile_get(r, tile.level, tile.index, &data)) != 0) {
			st_reader_end(r);
			FAIL(x, 500, R_STORAGE, "tile lookup failed: %s", st_strerror(rc));
			return;
		}
		reply(x->t, x->req, x->c, x->t0, 200, CT_OCTETS, CACHE_IMMUTABLE, data,
		    (size_t)tile.width * MT_HASH_LEN);
		st_reader_end(r);
		return;
	}
	/* An entry bundle: uint16 big-endian length, then the leaf bytes. */
	struct evbuffer *b = evhttp_request_get_output_buffer(x->req);
	bool ok = tiles_bundle(r, tile.index, tile.width, evbuffer_put, b) == 0;

	st_reader_end(r);
	if (!ok) {
		evbuffer_drain(b, evbuffer_get_length(b));
		FAIL(x, 500, R_STORAGE, "entry bundle could not be read");
		return;
	}
	send_reply(x->t, x->req, x->c, x->t0, 200, CT_OCTETS, CACHE_IMMUTABLE);
}

/* Send an encoded API message, or a 500 if encoding it failed (rc). */
static void
reply_pb(struct ctx *x, int code, int rc, const uint8_t *out, size_t len)
{
	if (rc != 0) {
		FAIL(x, 500, -1, "encoding the answer failed: %s", cl_strerror(rc));
		return;
	}
	reply(x->t, x->req, x->c, x->t0, code, CT_PROTOBUF, "no-cache", out, len);
}

static void
get_entry(struct ctx *x, const char *arg)
{
	struct cl_entry e;
	const uint8_t *out;
	size_t len;
	uint64_t index;
	int rc;

	if (!parse_u64(arg, &index)) {
		FAIL(x, 400, R_BAD_REQUEST, "index: not a decimal number");
		return;
	}
	if (!reader_begin(x))
		return;
	rc = st_entry_get(x->t->reader, index, &e.envelope, &e.envelope_len);
	if (rc == ST_ENOTFOUND) {
		uint64_t size = st_reader_size(x->t->reader);

		st_reader_end(x->t->reader);
		FAIL(x, 404, -1, "index %llu is beyond the log's size %llu",
		    (unsigned long long)index, (unsigned long long)size);
		return;
	}
	if (rc != 0) {
		st_reader_end(x->t->reader);
		FAIL(x, 500, R_STORAGE, "store: %s", st_strerror(rc));
		return;
	}
	e.index = index;
	mt_leaf_hash(e.leaf_hash, e.envelope, e.envelope_len);
	wire_arena_reset(&x->t->arena);
	rc = wire_entry_encode(&x->t->arena, &e, &out, &len);
	st_reader_end(x->t->reader);
	reply_pb(x, 200, rc, out, len);
}

/* The size a proof is asked against: a given one no larger than the
 * published checkpoint, else the published checkpoint's. */
static bool
proof_size(struct ctx *x, const char *s, uint64_t published, const char *name, uint64_t *size)
{
	if (s == NULL) {
		*size = published;
		return true;
	}
	if (!parse_u64(s, size)) {
		FAIL(x, 400, R_BAD_REQUEST, "%s: not a decimal number", name);
		return false;
	}
	if (*size > published) {
		FAIL(x, 400, R_BAD_REQUEST, "%s %llu is beyond the log's size %llu", name,
		    (unsigned long long)*size, (unsigned long long)published);
		return false;
	}
	return true;
}

static void
get_inclusion(struct ctx *x)
{
	static const char *const allowed[] = {"index", "leaf_hash", "size", NULL};
	struct evkeyvalq q;
	const char *si, *sl;
	struct log_ckpt *ck = log_checkpoint(x->t->a->log);
	struct cl_proof p;
	const uint8_t *out;
	uint8_t leaf[MT_HASH_LEN];
	size_t len;
	int rc;

	memset(&p, 0, sizeof p);
	if (!query_parse(x, &q, allowed))
		goto out;
	si = evhttp_find_header(&q, "index");
	sl = evhttp_find_header(&q, "leaf_hash");
	if ((si == NULL) == (sl == NULL)) {
		FAIL(x, 400, R_BAD_REQUEST, "give exactly one of index and leaf_hash");
		goto out;
	}
	if (!proof_size(x, evhttp_find_header(&q, "size"), ck->size, "size", &p.b))
		goto out;
	if (si != NULL && !parse_u64(si, &p.a)) {
		FAIL(x, 400, R_BAD_REQUEST, "index: not a decimal number");
		goto out;
	}
	if (sl != NULL && cl_hex_decode(sl, strlen(sl), leaf, sizeof leaf) != 0) {
		FAIL(x, 400, R_BAD_REQUEST, "leaf_hash: not 64 hex digits");
		goto out;
	}
	if (!reader_begin(x))
		goto out;
	if (sl != NULL && (rc = st_leaf_find(x->t->reader, leaf, &p.a)) != 0) {
		st_reader_end(x->t->reader);
		if (rc == ST_ENOTFOUND)
			FAIL(x, 404, -1, "leaf_hash is not in the log");
		else
			FAIL(x, 500, R_STORAGE, "store: %s", st_strerror(rc));
		goto out;
	}
	if (p.a >= p.b) {
		st_reader_end(x->t->reader);
		FAIL(x, 400, R_BAD_REQUEST, "index %llu is not below size %llu",
		    (unsigned long long)p.a, (unsigned long long)p.b);
		goto out;
	}
	rc = mt_inclusion_prove(p.a, p.b, st_node_read, x->t->reader, p.hashes, &p.n);
	st_reader_end(x->t->reader);
	if (rc != 0) {
		FAIL(x, 500, R_STORAGE, "proof failed: %s", st_strerror(rc));
		goto out;
	}
	wire_arena_reset(&x->t->arena);
	rc = wire_inclusion_encode(&x->t->arena, &p, &out, &len);
	reply_pb(x, 200, rc, out, len);
out:
	evhttp_clear_headers(&q);
	log_ckpt_unref(ck);
}

static void
get_consistency(struct ctx *x)
{
	static const char *const allowed[] = {"from", "to", NULL};
	struct evkeyvalq q;
	const char *sf;
	struct log_ckpt *ck = log_checkpoint(x->t->a->log);
	struct cl_proof p;
	const uint8_t *out;
	size_t len;
	int rc;

	memset(&p, 0, sizeof p);
	if (!query_parse(x, &q, allowed))
		goto out;
	if ((sf = evhttp_find_header(&q, "from")) == NULL || !parse_u64(sf, &p.a)) {
		FAIL(x, 400, R_BAD_REQUEST, "from: missing or not a decimal number");
		goto out;
	}
	if (!proof_size(x, evhttp_find_header(&q, "to"), ck->size, "to", &p.b))
		goto out;
	if (p.a > p.b) {
		FAIL(x, 400, R_BAD_REQUEST, "from %llu is larger than to %llu",
		    (unsigned long long)p.a, (unsigned long long)p.b);
		goto out;
	}
	if (!reader_begin(x))
		goto out;
	rc = mt_consistency_prove(p.a, p.b, st_node_read, x->t->reader, p.hashes, &p.n);
	st_reader_end(x->t->reader);
	if (rc != 0) {
		FAIL(x, 500, R_STORAGE, "proof failed: %s", st_strerror(rc));
		goto out;
	}
	wire_arena_reset(&x->t->arena);
	rc = wire_consistency_encode(&x->t->arena, &p, &out, &len);
	reply_pb(x, 200, rc, out, len);
out:
	evhttp_clear_headers(&q);
	log_ckpt_unref(ck);
}

/* A ProofBundle for `index` against checkpoint ck: the leaf and a
 * c2sp.org/tlog-proof@v1.  Uses the thread's open reader. */
static int
bundle_build(struct api_thread *t, uint64_t index, const struct log_ckpt *ck, const uint8_t **out,
    size_t *len)
{
	struct cl_bundle b;
	struct tproof *tp;
	uint8_t *text;
	size_t text_len, path_n;
	int rc;

	if ((rc = st_entry_get(t->reader, index, &b.envelope, &b.envelope_len)) != 0)
		return rc;
	tp = wire_arena_alloc(&t->arena, sizeof *tp);
	text = wire_arena_alloc(&t->arena, CL_TPROOF_MAX);
	if (tp == NULL || text == NULL)
		return CL_ENOMEM;
	memset(tp, 0, sizeof *tp);
	if ((rc = mt_inclusion_prove(
	         index, ck->size, st_node_read, t->reader, tp->path, &path_n)) != 0)
		return rc;
	tp->index = index;
	tp->n_path = path_n;
	tp->checkpoint = ck->note;
	tp->checkpoint_len = ck->len;
	if ((rc = tproof_format(tp, text, CL_TPROOF_MAX, &text_len)) != 0)
		return rc;
	b.tlog_proof = text;
	b.tlog_proof_len = text_len;
	return wire_bundle_encode(&t->arena, &b, out, len);
}

static void
get_bundle(struct ctx *x, const char *arg)
{
	struct log_ckpt *ck = log_checkpoint(x->t->a->log);
	const uint8_t *out;
	size_t len;
	uint64_t index;
	int rc;

	if (!parse_u64(arg, &index)) {
		FAIL(x, 400, R_BAD_REQUEST, "index: not a decimal number");
		goto out;
	}
	if (index >= ck->size) {
		FAIL(x, 404, -1, "index %llu is beyond the log's size %llu",
		    (unsigned long long)index, (unsigned long long)ck->size);
		goto out;
	}
	if (!reader_begin(x))
		goto out;
	wire_arena_reset(&x->t->arena);
	rc = bundle_build(x->t, index, ck, &out, &len);
	st_reader_end(x->t->reader);
	if (rc != 0)
		FAIL(x, 500, R_STORAGE, "bundle failed: %s", st_strerror(rc));
	else
		reply(x->t, x->req, x->c, x->t0, 200, CT_PROTOBUF, "no-cache", out, len);
out:
	log_ckpt_unref(ck);
}

/* submitter=: a verifier key string, or 64 hex digits of an Ed25519 key. */
static bool
submitter_key(const char *s, uint8_t pub[32])
{
	struct note_verifier v;

	if (cl_hex_decode(s, strlen(s), pub, 32) == 0)
		return true;
	if (note_verifier_parse(s, strlen(s), &v, NULL) == 0 && v.type == NOTE_TYPE_ED25519) {
		memcpy(pub, v.pub, 32);
		return true;
	}
	return false;
}

static void
get_search(struct ctx *x)
{
	static const char *const allowed[] = {"root", "nar_hash", "submitter", "start", NULL};
	static const char *const names[ST_N_INDEXES] = {"root", "nar_hash", "submitter"};
	struct evkeyvalq q;
	const char *val = NULL, *ss;
	enum st_index which = ST_N_INDEXES;
	uint64_t start = 0, *idx = NULL;
	uint8_t digest[32];
	const void *key = NULL;
	size_t key_len = 0, len;
	struct cl_search_result sr;
	const uint8_t *out;
	bool more;
	int rc;

	if (!query_parse(x, &q, allowed))
		goto out;
	for (int i = 0; i < ST_N_INDEXES; i++) {
		const char *v = evhttp_find_header(&q, names[i]);

		if (v == NULL)
			continue;
		if (val != NULL) {
			FAIL(
			    x, 400, R_BAD_REQUEST, "give exactly one of root, nar_hash, submitter");
			goto out;
		}
		val = v;
		which = (enum st_index)i;
	}
	if (val == NULL) {
		FAIL(x, 400, R_BAD_REQUEST, "give exactly one of root, nar_hash, submitter");
		goto out;
	}
	if ((ss = evhttp_find_header(&q, "start")) != NULL && !parse_u64(ss, &start)) {
		FAIL(x, 400, R_BAD_REQUEST, "start: not a decimal number");
		goto out;
	}
	if (which == ST_BY_ROOT) {
		char why[CL_WHY_MAX];

		if (nix_store_path_check(val, strlen(val), why) != 0) {
			FAIL(x, 400, R_BAD_REQUEST, "root: %s", why);
			goto out;
		}
		key = val;
		key_len = strlen(val);
	} else if (which == ST_BY_NAR) {
		struct nix_hash h;
		char why[CL_WHY_MAX];

		if ((rc = nix_hash_parse(val, strlen(val), NIX_SHA256, &h, why)) != 0 ||
		    h.algo != NIX_SHA256) {
			FAIL(x, 400, R_BAD_REQUEST, "nar_hash: %s",
			    rc != 0 ? why : "must be a sha256 hash");
			goto out;
		}
		memcpy(digest, h.bytes, 32);
		key = digest;
		key_len = 32;
	} else {
		if (!submitter_key(val, digest)) {
			FAIL(x, 400, R_BAD_REQUEST,
			    "submitter: not a verifier key or 64 hex digits of a public key");
			goto out;
		}
		key = digest;
		key_len = 32;
	}
	wire_arena_reset(&x->t->arena);
	if ((idx = wire_arena_alloc(&x->t->arena, SEARCH_PAGE * sizeof *idx)) == NULL) {
		FAIL(x, 500, -1, "out of memory");
		goto out;
	}
	if (!reader_begin(x))
		goto out;
	rc = st_search(x->t->reader, which, key, key_len, start, idx, SEARCH_PAGE, &sr.n, &more);
	st_reader_end(x->t->reader);
	if (rc != 0) {
		FAIL(x, 500, R_STORAGE, "search failed: %s", st_strerror(rc));
		goto out;
	}
	sr.indices = idx;
	sr.truncated = more;
	rc = wire_search_result_encode(&x->t->arena, &sr, &out, &len);
	reply_pb(x, 200, rc, out, len);
out:
	evhttp_clear_headers(&q);
}

static void
get_metrics(struct ctx *x)
{
	size_t len;
	char *text = metrics_render_alloc(x->t->a->m, &len);

	if (text == NULL) {
		FAIL(x, 500, -1, "out of memory");
		return;
	}
	reply(x->t, x->req, x->c, x->t0, 200, "text/plain; version=0.0.4; charset=utf-8",
	    "no-store", text, len);
	free(text);
}

static void
get_healthz(struct ctx *x)
{
	struct log_ckpt *ck = log_checkpoint(x->t->a->log);
	char line[64];
	int n = snprintf(line, sizeof line, "ok %llu\n", (unsigned long long)ck->size);

	log_ckpt_unref(ck);
	reply(x->t, x->req, x->c, x->t0, 200, CT_TEXT, "no-store", line, (size_t)n);
}

/* ---- Submissions ---- */

static void
sub_done(struct log_job *job)
{
	struct sub *s = (struct sub *)job;
	struct api_thread *t = s->t;

	/* On a log thread: queue it for the HTTP thread that owns it. */
	pthread_mutex_lock(&t->done_mu);
	s->next_done = t->done_head;
	t->done_head = s;
	pthread_mutex_unlock(&t->done_mu);
	event_active(t->wake, EV_READ, 0);
}

/* Answer a finished submission; reader_open says whether the thread's
 * reader is in a transaction (one for a whole run of answers). */
static void
sub_answer(struct sub *s, bool reader_open)
{
	struct api_thread *t = s->t;
	struct ctx x = {t, s->req, s->c, s->t0, NULL};
	struct log_job *j = &s->job;
	struct cl_submit_response r;
	const uint8_t *out;
	size_t len;
	int rc;

	if (j->status >= 400) {
		/* The log counted the reject reason already. */
		FAIL(&x, j->status, -1, "%s", j->why);
		return;
	}
	memset(&r, 0, sizeof r);
	r.index = j->index;
	memcpy(r.leaf_hash, j->leaf, MT_HASH_LEN);
	r.inclusion.a = j->index;
	r.inclusion.b = j->ckpt->size;
	r.checkpoint = j->ckpt->note;
	r.checkpoint_len = j->ckpt->len;
	r.duplicate = j->status == 200;
	if (!reader_open) {
		FAIL(&x, 503, R_STORAGE, "store unavailable");
		return;
	}
	rc = mt_inclusion_prove(
	    j->index, j->ckpt->size, st_node_read, t->reader, r.inclusion.hashes, &r.inclusion.n);
	if (rc != 0) {
		FAIL(&x, 500, R_STORAGE, "proof failed: %s", st_strerror(rc));
		return;
	}
	wire_arena_reset(&t->arena);
	rc = wire_submit_response_encode(&t->arena, &r, &out, &len);
	if (rc == 0)
		metrics_observe(t->a->m, H_APPEND_SECONDS, metrics_now() - s->t0);
	reply_pb(&x, j->status, rc, out, len);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;
	struct sub *s;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&t->done_mu);
	s = t->done_head;
	t->done_head = NULL;
	pthread_mutex_unlock(&t->done_mu);
	/* One read transaction for the whole run: every answer's checkpoint
	 * is committed, so the snapshot covers all of them. */
	if (s != NULL) {
		bool open = st_reader_begin(t->reader) == 0;

		while (s != NULL) {
			struct sub *next = s->next_done;

			sub_answer(s, open);
			log_ckpt_unref(s->job.ckpt);
			if (t->n_spare < SPARE_MAX) {
				s->next_done = t->spare;
				t->spare = s;
				t->n_spare++;
			} else {
				free(s);
			}
			s = next;
		}
		if (open)
			st_reader_end(t->reader);
	}
}

static void
post_entry(struct ctx *x)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(x->req);
	size_t len = evbuffer_get_length(in);
	struct sub *s;
	int rc;

	if (len == 0) {
		FAIL(x, 400, R_MALFORMED, "empty body: send a serialized Envelope");
		return;
	}
	if (len > CL_ENTRY_MAX) {
		FAIL(x, 413, R_TOO_BIG,
		    "entry is %zu bytes; an entry must fit an entry bundle (%d bytes)", len,
		    CL_ENTRY_MAX);
		return;
	}
	if ((s = x->t->spare) != NULL) {
		x->t->spare = s->next_done;
		x->t->n_spare--;
		memset(s, 0, sizeof *s);
	} else if ((s = calloc(1, sizeof *s)) == NULL) {
		FAIL(x, 503, R_OVERLOAD, "out of memory");
		return;
	}
	s->t = x->t;
	s->req = x->req;
	s->c = x->c;
	s->t0 = x->t0;
	/* evhttp keeps the request, and so its body, until we answer it. */
	s->job.body = evbuffer_pullup(in, -1);
	s->job.len = len;
	s->job.done = sub_done;
	if (s->job.body == NULL) {
		free(s);
		FAIL(x, 503, R_OVERLOAD, "out of memory");
		return;
	}
	if ((rc = log_submit(x->t->a->log, &s->job)) != 0) {
		free(s);
		if (rc == LOG_EBUSY)
			FAIL(x, 503, -1, "too many submissions in flight; retry");
		else
			FAIL(x, 503, -1, "the log is shutting down");
	}
}

/* ---- Dispatch ---- */

static void
route(struct evhttp_request *req, void *arg)
{
	struct api_thread *t = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct ctx x = {t, req, conn_of(t, req), metrics_now(), path};

	if (x.c != NULL)
		x.c->busy = true;
	if (x.c != NULL && x.c->over) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		FAIL(&x, 503, R_TOO_MANY_CONNECTIONS, "too many connections; retry later");
		return;
	}
	if (!rate_ok(t, req)) {
		FAIL(&x, 429, R_RATE_LIMITED, "rate limit exceeded for this client; slow down");
		return;
	}
	if (path == NULL || path[0] != '/') {
		FAIL(&x, 400, R_BAD_REQUEST, "malformed request path");
		return;
	}
	if (strcmp(path, "/v1/entries") == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			FAIL(&x, 405, R_BAD_REQUEST, "use POST for /v1/entries");
			return;
		}
		post_entry(&x);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		FAIL(&x, 405, R_BAD_REQUEST, "use GET for %.80s", path);
		return;
	}
	if (strcmp(path, "/checkpoint") == 0)
		get_checkpoint(&x);
	else if (strncmp(path, "/tile/", 6) == 0)
		get_tile(&x);
	else if (strncmp(path, "/v1/entries/", 12) == 0)
		get_entry(&x, path + 12);
	else if (strcmp(path, "/v1/proof/inclusion") == 0)
		get_inclusion(&x);
	else if (strcmp(path, "/v1/proof/consistency") == 0)
		get_consistency(&x);
	else if (strncmp(path, "/v1/bundle/", 11) == 0)
		get_bundle(&x, path + 11);
	else if (strcmp(path, "/v1/search") == 0)
		get_search(&x);
	else if (strcmp(path, "/healthz") == 0)
		get_healthz(&x);
	else if (strcmp(path, "/metrics") == 0)
		get_metrics(&x);
	else
		FAIL(&x, 404, -1, "no such resource: %.80s", path);
}

/* ---- Threads, signals, shutdown ---- */

/* Shutdown, phase 1: accept no new connections. */
static void
thread_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;

	(void)fd;
	(void)what;
	t->stopping = true;
	if (t->bound != NULL) {
		evhttp_del_accept_socket(t->http, t->bound);
		t->bound = NULL;
	}
}

/* Phase 2: the log has answered everything; send the answers and leave. */
static void
thread_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;
	struct timeval grace = {0, 500000};

	wake_cb(fd, what, t);
	event_base_loopexit(t->base, &grace);
}

static void *
stopper_main(void *arg)
{
	struct api *a = arg;

	log_stop(a->log);
	for (unsigned i = 0; i < a->n_threads; i++)
		event_active(a->threads[i].exit_ev, EV_READ, 0);
	return NULL;
}

void
api_shutdown(struct api *a)
{
	bool was = atomic_exchange(&a->shutting_down, true);

	if (was)
		return;
	for (unsigned i = 0; i < a->n_threads; i++)
		event_active(a->threads[i].stop_ev, EV_READ, 0);
	/* log_stop blocks until every queued submission is answered. */
	if (pthread_create(&a->stopper, NULL, stopper_main, a) == 0)
		a->stopper_started = true;
	else
		stopper_main(a);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct api *a = arg;
	char why[CL_WHY_MAX];

	(void)what;
	if (sig == SIGHUP) {
		if (allow_reload(a->al, why) != 0)
			fprintf(stderr, "closurelogd: submitters not reloaded: %s\n", why);
		else
			fprintf(stderr, "closurelogd: submitters reloaded\n");
		return;
	}
	fprintf(stderr, "closurelogd: stopping (signal %d)\n", (int)sig);
	api_shutdown(a);
}

static void *
thread_main(void *arg)
{
	struct api_thread *t = arg;
	char name[16];

	/* Thread 0 is the main thread: it keeps the process's name. */
	if (t->id > 0) {
		snprintf(name, sizeof name, "cl-http%u", t->id % 100);
		pthread_setname_np(pthread_self(), name);
	}
	event_base_dispatch(t->base);
	return NULL;
}

static int
thread_init(struct api *a, struct api_thread *t, unsigned id, char *why)
{
	struct timeval sweep = {0, SWEEP_USEC};
	struct event_config *ec = NULL;
	int rc;

	t->a = a;
	t->id = id;
	pthread_mutex_init(&t->done_mu, NULL);
	/* evhttp turns read and write interest on and off several times per
	 * request; the changelist folds those into one epoll_ctl per turn of
	 * the loop.  (Its caveat, dup'd fds in one base, does not apply.) */
	if ((ec = event_config_new()) == NULL ||
	    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0 ||
	    (t->base = event_base_new_with_config(ec)) == NULL ||
	    (t->http = evhttp_new(t->base)) == NULL) {
		if (ec != NULL)
			event_config_free(ec);
		return cl_why(why, ENOMEM, "libevent: cannot create an event base");
	}
	event_config_free(ec);
	if ((rc = st_reader_new(a->st, &t->reader)) != 0)
		return cl_why(why, rc, "store: %s", st_strerror(rc));
	if ((t->arena_buf = malloc(WIRE_ARENA_MIN)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	wire_arena_init(&t->arena, t->arena_buf, WIRE_ARENA_MIN);
	evhttp_set_bevcb(t->http, conn_new, t);
	evhttp_set_gencb(t->http, route, t);
	evhttp_set_max_body_size(t->http, API_BODY_MAX);
	evhttp_set_max_headers_size(t->http, 16384);
	evhttp_set_timeout(t->http, (int)a->cfg.idle_timeout);
	evhttp_set_allowed_methods(t->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	if ((t->bound = evhttp_accept_socket_with_handle(t->http, a->fds[id])) == NULL)
		return cl_why(why, EINVAL, "cannot serve on the listening socket");
	a->fds[id] = -1; /* evhttp closes it when freed */
	t->sweep = event_new(t->base, -1, EV_PERSIST, sweep_cb, t);
	t->wake = event_new(t->base, -1, 0, wake_cb, t);
	t->stop_ev = event_new(t->base, -1, 0, thread_stop_cb, t);
	t->exit_ev = event_new(t->base, -1, 0, thread_exit_cb, t);
	if (t->sweep == NULL || t->wake == NULL || t->stop_ev == NULL || t->exit_ev == NULL ||
	    event_add(t->sweep, &sweep) != 0)
		return cl_why(why, ENOMEM, "libevent: cannot create events");
	return 0;
}

int
api_new(const struct cfg *cfg, int *fds, struct st *st, struct log *log, struct allow *al,
    struct metrics *m, struct api **out, char *why)
{
	struct api *a;
	struct rlimit rl;
	int rc;

	*out = NULL;
	if (evthread_use_pthreads() != 0)
		return cl_why(why, EINVAL, "libevent: no pthreads support");
	if ((a = calloc(1, sizeof *a)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	a->cfg = *cfg;
	a->fds = fds;
	a->st = st;
	a->log = log;
	a->al = al;
	a->m = m;
	a->n_threads = cfg->http_threads > 0 ? cfg->http_threads : 1;
	a->n_by_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	        rl.rlim_cur < (1u << 20)
	    ? (size_t)rl.rlim_cur
	    : (1u << 20);
	if ((a->by_fd = calloc(a->n_by_fd, sizeof *a->by_fd)) == NULL ||
	    (cfg->rate > 0 &&
	        (a->rl = rl_new(
	             cfg->rate, cfg->rate_burst, cfg->rate_prefix6, RL_ENTRIES_DEFAULT)) == NULL) ||
	    (a->threads = calloc(a->n_threads, sizeof *a->threads)) == NULL) {
		api_free(a);
		return cl_why(why, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < a->n_threads; i++) {
		if ((rc = thread_init(a, &a->threads[i], i, why)) != 0) {
			api_free(a);
			return rc;
		}
	}
	a->sig_term = evsignal_new(a->threads[0].base, SIGTERM, signal_cb, a);
	a->sig_int = evsignal_new(a->threads[0].base, SIGINT, signal_cb, a);
	a->sig_hup = evsignal_new(a->threads[0].base, SIGHUP, signal_cb, a);
	if (a->sig_term == NULL || a->sig_int == NULL || a->sig_hup == NULL ||
	    event_add(a->sig_term, NULL) != 0 || event_add(a->sig_int, NULL) != 0 ||
	    event_add(a->sig_hup, NULL) != 0) {
		api_free(a);
		return cl_why(why, ENOMEM, "libevent: cannot install signal handlers");
	}
	*out = a;
	return 0;
}

int
api_run(struct api *a)
{
	unsigned started;
	int rc = 0;

	for (started = 1; started < a->n_threads; started++) {
		rc = pthread_create(
		    &a->threads[started].tid, NULL, thread_main, &a->threads[started]);
		if (rc != 0)
			break;
	}
	/* If a thread could not start, the ones that did stop the usual way. */
	if (rc != 0)
		api_shutdown(a);
	thread_main(&a->threads[0]);
	for (unsigned i = 1; i < started; i++)
		pthread_join(a->threads[i].tid, NULL);
	if (a->stopper_started) {
		pthread_join(a->stopper, NULL);
		a->stopper_started = false;
	}
	return rc;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	if (a->sig_term != NULL)
		event_free(a->sig_term);
	if (a->sig_int != NULL)
		event_free(a->sig_int);
	if (a->sig_hup != NULL)
		event_free(a->sig_hup);
	for (unsigned i = 0; a->threads != NULL && i < a->n_threads; i++) {
		struct api_thread *t = &a->threads[i];

		if (t->http != NULL)
			evhttp_free(t->http); /* frees the connections and their requests */
		while (t->conns != NULL) {
			struct conn *c = t->conns;

			t->conns = c->next;
			bufferevent_decref(c->bev);
			free(c);
		}
		if (t->sweep != NULL)
			event_free(t->sweep);
		if (t->wake != NULL)
			event_free(t->wake);
		if (t->stop_ev != NULL)
			event_free(t->stop_ev);
		if (t->exit_ev != NULL)
			event_free(t->exit_ev);
		if (t->base != NULL)
			event_base_free(t->base);
		while (t->spare != NULL) {
			struct sub *next = t->spare->next_done;

			free(t->spare);
			t->spare = next;
		}
		st_reader_free(t->reader);
		free(t->arena_buf);
		pthread_mutex_destroy(&t->done_mu);
	}
	free(a->threads);
	free(a->by_fd);
	rl_free(a->rl);
	free(a);
}
