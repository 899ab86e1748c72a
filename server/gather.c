/*
 * gather.c: cosignatures from the witnesses before a checkpoint is
 * published.
 *
 * Why this shape.  A witness round trip (a connection, its fsync, an
 * Ed25519 signature) costs about as much as a group commit, and a slow or
 * dead witness costs a whole timeout; neither may stall the committer.  So
 * the gatherer runs its own libevent loop on its own thread, with one
 * keep-alive evhttp client connection per witness, and works in rounds: a
 * round takes the newest checkpoint offered, sends it to every idle
 * witness, and ends as soon as the quorum has cosigned it (publish) or so
 * many witnesses failed it that the quorum cannot be met (fail).  Each
 * witness has at most one request in flight: a witness still busy with an
 * older checkpoint gets the round's checkpoint when it answers, so a slow
 * witness delays only itself.  After a failed round the next one waits
 * retry_ms, so that a log whose witnesses are gone does not spin, and
 * resumes by itself when they answer again.
 *
 * What the gatherer believes each witness holds (its cosigned size) starts
 * unknown: the first request says "old 0" and a witness with state answers
 * 409 with its size, from which the gatherer resends with a proof.
 */
#include "gather.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "cl.h"
#include "file.h"
#include "merkle.h"
#include "metrics.h"
#include "sth.h"
#include "witness.h"

#define GA_NOTE_MAX    STH_NOTE_MAX
#define GA_REPLY_MAX   4096 /* longest witness answer read */
#define GA_RESYNC_MAX  2    /* 409 resyncs of one checkpoint before giving up */
#define GA_BACKOFF_MAX 30.0 /* seconds: longest wait before asking a failed witness again */
#define GA_SIZES_MAX   (GA_WITNESSES_MAX * (NOTE_VKEY_MAX + 24) + 256) /* sizes file cap */
#define GA_SAVE_S      1 /* seconds between writes of the sizes file */

enum wstate { W_UNKNOWN, W_UP, W_DOWN, W_REFUSED };
static const char *const wstate_name[] = {"unknown", "up", "down", "refused"};

/* Per round, per witness.  WR_SKIPPED: not asked, for it is waiting out
 * its backoff; it counts as failed unless the quorum needs it. */
enum wround { WR_PENDING, WR_OK, WR_FAILED, WR_SKIPPED };

struct wit {
	struct ga *g;
	struct note_verifier key;
	char url[GA_URL_MAX];
	char host[256];
	char path[GA_URL_MAX + 16]; /* <prefix path>/add-checkpoint */
	int port;
	struct evhttp_connection *conn;

	/* Gatherer thread only. */
	bool size_known;
	bool size_hinted;   /* size came from the sizes file, not from the witness */
	uint64_t size;      /* what the witness holds, as far as we know */
	bool hint_known;    /* the sizes file named it at start */
	uint64_t hint;      /* the size the file named */
	double next_try;    /* when down or refused: not asked before this (metrics_now) */
	bool busy;          /* a request is in flight */
	uint64_t sent_size; /* the checkpoint it is for */
	unsigned resyncs;
	double t0;

	/* Shared with readers of the metrics, under ga.mu. */
	enum wstate state;
	char why[CL_WHY_MAX];
	double latency; /* seconds, last answered request */
	double backoff; /* seconds it is left alone after failing; 0 while it answers */
	bool cosigned;  /* cosigned_size was answered by the witness in this run */
	uint64_t cosigned_size;
	uint64_t n_ok, n_fail;
};

struct round {
	bool active;
	uint8_t note[GA_NOTE_MAX];
	size_t len;
	uint64_t size;
	enum wround st[GA_WITNESSES_MAX];
	char line[GA_WITNESSES_MAX][NOTE_SIGLINE_MAX];
	size_t line_len[GA_WITNESSES_MAX];
	unsigned n_ok, n_failed;
};

struct ga {
	struct wit w[GA_WITNESSES_MAX];
	size_t n;
	unsigned quorum, timeout_ms, retry_ms;
	double backoff_min; /* seconds: the first wait after a witness fails */
	struct st *st;
	FILE *errlog;
	struct ga_sink sink;
	char sizes_path[4096]; /* "" for none */

	struct event_base *base;
	struct event *wake, *retry, *save;
	struct st_reader *reader;
	pthread_t tid;
	bool started;

	pthread_mutex_t mu; /* offered, stop, and the witnesses' shared fields */
	uint8_t offered[GA_NOTE_MAX];
	size_t offered_len;
	uint64_t offered_size;
	bool have_offer, stop;
	uint64_t published_size, n_published, n_failed_rounds;
	bool published_any;

	/* Gatherer thread only. */
	struct round r;
	bool waiting_retry;
	bool sizes_dirty; /* a cosigned size changed since the sizes file was written */
	bool save_pending;
};

static void round_start(struct ga *g);
static void wit_send(struct wit *w);
static void wit_ask(struct wit *w);
static void sizes_changed(struct ga *g);
static void sizes_load(struct ga *g);

static void
say(struct ga *g, const char *fmt, const char *a, const char *b)
{
	if (g->errlog == NULL)
		return;
	fprintf(g->errlog, "closurelogd: witness %s: ", a);
	fprintf(g->errlog, fmt, b);
	fputc('\n', g->errlog);
	fflush(g->errlog);
}

/* Set a witness's state and reason; report changes (every refusal) on the
 * error stream. */
static void
wit_state(struct wit *w, enum wstate s, const char *why)
{
	struct ga *g = w->g;
	bool changed;

	double backoff;
	char msg[CL_WHY_MAX + 320];

	pthread_mutex_lock(&g->mu);
	changed = w->state != s || (s == W_REFUSED && strcmp(w->why, why) != 0);
	w->state = s;
	snprintf(w->why, sizeof w->why, "%s", why);
	if (s == W_UP) {
		w->n_ok++;
		w->backoff = 0;
	} else {
		/* Left alone for a while, doubling each failure: a dead or
		 * refusing witness is not hammered, and is asked again. */
		w->n_fail++;
		w->backoff = w->backoff == 0 ? g->backoff_min : w->backoff * 2;
		if (w->backoff > GA_BACKOFF_MAX)
			w->backoff = GA_BACKOFF_MAX;
		w->next_try = metrics_now() + w->backoff;
	}
	backoff = w->backoff;
	pthread_mutex_unlock(&g->mu);
	if (!changed)
		return;
	if (s == W_REFUSED) {
		snprintf(msg, sizeof msg,
		    "REFUSING TO PUBLISH: %s (the witness saw a larger or another tree: was the "
		    "data directory restored from an older copy, or is a copy of it running "
		    "elsewhere?  This witness is asked again in %.1f s, then less and less "
		    "often.)",
		    why, backoff);
		say(g, "%s", w->key.name, msg);
	} else if (s == W_DOWN)
		say(g, "down: %s", w->key.name, why);
	else
		say(g, "%s", w->key.name, "up");
}

/* ---- Configuration ---- */

static int
url_split(struct wit *w, char *why)
{
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(w->url, 0);
	const char *scheme, *host, *path;
	size_t n;
	int rc = 0;

	if (u == NULL)
		return cl_why(why, CL_EINVAL, "witness URL \"%.200s\" does not parse", w->url);
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	if (scheme == NULL || strcmp(scheme, "http") != 0) {
		rc = cl_why(
		    why, CL_EINVAL, "witness URL \"%.200s\": only http:// is supported", w->url);
		goto out;
	}
	if (host == NULL || host[0] == '\0' || strlen(host) >= sizeof w->host ||
	    evhttp_uri_get_query(u) != NULL || evhttp_uri_get_fragment(u) != NULL ||
	    evhttp_uri_get_userinfo(u) != NULL) {
		rc = cl_why(why, CL_EINVAL,
		    "witness URL \"%.200s\": needs a host and no user, query or fragment", w->url);
		goto out;
	}
	snprintf(w->host, sizeof w->host, "%s", host);
	w->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
	if (path == NULL)
		path = "";
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	snprintf(w->path, sizeof w->path, "%.*s/add-checkpoint", (int)n, path);
out:
	evhttp_uri_free(u);
	return rc;
}

int
ga_new(const struct ga_cfg *c, struct ga **out, char *why)
{
	struct ga *g;
	int rc;

	*out = NULL;
	if (c->n_witnesses == 0 || c->n_witnesses > GA_WITNESSES_MAX)
		return cl_why(why, CL_EINVAL, "between 1 and %d witnesses, not %zu",
		    GA_WITNESSES_MAX, c->n_witnesses);
	if (c->quorum == 0 || c->quorum > c->n_witnesses)
		return cl_why(why, CL_EINVAL, "witness quorum %u is not in 1..%zu", c->quorum,
		    c->n_witnesses);
	if ((g = calloc(1, sizeof *g)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	pthread_mutex_init(&g->mu, NULL);
	g->n = c->n_witnesses;
	g->quorum = c->quorum;
	g->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 1;
	g->retry_ms = c->retry_ms;
	g->backoff_min = c->retry_ms > 0 ? c->retry_ms / 1e3 : 0.001;
	g->st = c->st;
	g->errlog = c->errlog;
	if (c->sizes_path != NULL &&
	    snprintf(g->sizes_path, sizeof g->sizes_path, "%s", c->sizes_path) >=
	        (int)sizeof g->sizes_path) {
		rc = cl_why(why, CL_EINVAL, "witness sizes file path too long");
		goto fail;
	}
	for (size_t i = 0; i < g->n; i++) {
		struct wit *w = &g->w[i];

		w->g = g;
		w->key = c->witnesses[i].key;
		if (w->key.type != NOTE_TYPE_COSIG) {
			rc = cl_why(why, CL_EINVAL,
			    "witness %s: not a cosignature/v1 key (type 0x04)", w->key.name);
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (g->w[j].key.id == w->key.id &&
			    strcmp(g->w[j].key.name, w->key.name) == 0) {
				rc = cl_why(
				    why, CL_EINVAL, "witness %s is configured twice", w->key.name);
				goto fail;
			}
		}
		snprintf(w->url, sizeof w->url, "%s", c->witnesses[i].url);
		if ((rc = url_split(w, why)) != 0)
			goto fail;
	}
	sizes_load(g);
	*out = g;
	return 0;
fail:
	ga_free(g);
	return rc;
}

/* ---- The sizes file ----
 *
 * One line per witness, "<its verifier key> <size>\n": the size it last
 * cosigned for this log, so that the first round after a restart sends a
 * consistency proof instead of costing a 409 per witness.  Only a hint:
 * a missing, unreadable or malformed file, or a line naming another key,
 * is ignored, a size larger than the log's is not believed, and a 409
 * still resyncs.  Written whole (cl_file_write: temporary file, fsync,
 * rename) at most every GA_SAVE_S seconds and when the gatherer stops. */

void
ga_sizes_parse(const uint8_t *buf, size_t len, const struct note_verifier *keys, size_t n,
    uint64_t *sizes, bool *found)
{
	char vk[NOTE_VKEY_MAX];
	size_t at = 0;

	for (size_t i = 0; i < n; i++)
		found[i] = false;
	while (at < len) {
		const char *line = (const char *)buf + at, *nl = memchr(line, '\n', len - at), *sp;
		uint64_t size;

		if (nl == NULL)
			break; /* a last line without its newline is not trusted */
		at += (size_t)(nl - line) + 1;
		for (sp = nl; sp > line && sp[-1] != ' '; sp--)
			;
		if (sp == line || cl_u64_parse(sp, (size_t)(nl - sp), &size) != 0)
			continue;
		sp--; /* the space */
		for (size_t i = 0; i < n; i++) {
			size_t kl = note_verifier_format(&keys[i], vk, sizeof vk);

			if (kl == (size_t)(sp - line) && memcmp(vk, line, kl) == 0) {
				found[i] = true;
				sizes[i] = size;
			}
		}
	}
}

static void
sizes_load(struct ga *g)
{
	struct note_verifier keys[GA_WITNESSES_MAX];
	uint64_t sizes[GA_WITNESSES_MAX];
	bool found[GA_WITNESSES_MAX];
	uint8_t *buf = NULL;
	size_t len;
	char why[CL_WHY_MAX];
	int rc;

	if (g->sizes_path[0] == '\0')
		return;
	if ((rc = cl_file_read(g->sizes_path, GA_SIZES_MAX, 0, &buf, &len, why)) != 0) {
		if (rc != ENOENT)
			say(g, "%s; starting without it", "sizes file", why);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		keys[i] = g->w[i].key;
	ga_sizes_parse(buf, len, keys, g->n, sizes, found);
	free(buf);
	for (size_t i = 0; i < g->n; i++) {
		if (found[i]) {
			g->w[i].hint_known = g->w[i].size_known = g->w[i].size_hinted = true;
			g->w[i].hint = g->w[i].size = sizes[i];
		}
	}
}

static void
sizes_save(struct ga *g)
{
	char *buf, why[CL_WHY_MAX];
	size_t at = 0, cap = g->n * (NOTE_VKEY_MAX + 24);

	if (g->sizes_path[0] == '\0' || (buf = malloc(cap)) == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n; i++) {
		struct wit *w = &g->w[i];
		size_t kl;

		if (!w->cosigned && !w->hint_known)
			continue;
		kl = note_verifier_format(&w->key, buf + at, cap - at);
		at += kl;
		at += (size_t)snprintf(buf + at, cap - at, " %llu\n",
		    (unsigned long long)(w->cosigned ? w->cosigned_size : w->hint));
	}
	pthread_mutex_unlock(&g->mu);
	g->sizes_dirty = false;
	if (cl_file_write(g->sizes_path, buf, at, 0600, 0, why) != 0)
		say(g, "%s (only a hint: the witnesses' 409 answers resync)", "sizes file", why);
	free(buf);
}

static void
on_save(evutil_socket_t fd, short what, void *arg)
{
	struct ga *g = arg;

	(void)fd;
	(void)what;
	g->save_pending = false;
	sizes_save(g);
}

/* A witness's cosigned size moved: write the file soon. */
static void
sizes_changed(struct ga *g)
{
	g->sizes_dirty = true;
	if (g->sizes_path[0] == '\0' || g->save_pending)
		return;
	g->save_pending = true;
	event_add(g->save, &(struct timeval){GA_SAVE_S, 0});
}

/* ---- Rounds ---- */

/* "name (state: why)" for each witness that did not cosign this round. */
static void
round_reason(struct ga *g, char *why)
{
	size_t at;

	at = (size_t)snprintf(
	    why, CL_WHY_MAX, "witnesses did not cosign (%u of %zu needed):", g->quorum, g->n);
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n && at < CL_WHY_MAX; i++) {
		if (g->r.st[i] == WR_OK)
			continue;
		at += (size_t)snprintf(why + at, CL_WHY_MAX - at, " %s: %s;", g->w[i].key.name,
		    g->w[i].why[0] != '\0' ? g->w[i].why : "no answer yet");
	}
	pthread_mutex_unlock(&g->mu);
}

static void
round_publish(struct ga *g)
{
	uint8_t *buf;
	size_t len = g->r.len;

	if ((buf = malloc(g->r.len + g->n * NOTE_SIGLINE_MAX)) == NULL) {
		/* Not published; the retry timer tries again. */
		g->r.active = false;
		g->waiting_retry = true;
		event_add(g->retry, &(struct timeval){0, (long)g->retry_ms * 1000});
		return;
	}
	memcpy(buf, g->r.note, g->r.len);
	for (size_t i = 0; i < g->n; i++) {
		if (g->r.st[i] == WR_OK) {
			memcpy(buf + len, g->r.line[i], g->r.line_len[i]);
			len += g->r.line_len[i];
		}
	}
	pthread_mutex_lock(&g->mu);
	g->published_size = g->r.size;
	g->published_any = true;
	g->n_published++;
	pthread_mutex_unlock(&g->mu);
	g->r.active = false;
	g->sink.published(g->sink.arg, buf, len, g->r.size);
	free(buf);
}

/* The quorum cannot be met without the down witnesses this round skipped
 * for their backoff: ask them now rather than refuse to publish (one may
 * be back).  Refused ones wait out their backoff. */
static void
round_unskip(struct ga *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct wit *w = &g->w[i];

		if (g->r.st[i] == WR_SKIPPED && w->state == W_DOWN && !w->busy) {
			g->r.st[i] = WR_PENDING;
			g->r.n_failed--;
			wit_send(w);
		}
	}
}

/* End the round if its outcome is known. */
static void
round_check(struct ga *g)
{
	char why[CL_WHY_MAX];

	if (!g->r.active)
		return;
	if (g->r.n_failed > g->n - g->quorum)
		round_unskip(g);
	if (g->r.n_ok >= g->quorum) {
		round_publish(g);
		round_start(g);
	} else if (g->r.n_failed > g->n - g->quorum) {
		round_reason(g, why);
		pthread_mutex_lock(&g->mu);
		g->n_failed_rounds++;
		pthread_mutex_unlock(&g->mu);
		g->r.active = false;
		g->sink.failed(g->sink.arg, g->r.size, why);
		g->waiting_retry = true;
		event_add(g->retry,
		    &(struct timeval){
		        (time_t)(g->retry_ms / 1000), (long)(g->retry_ms % 1000) * 1000});
	}
}

/* Count witness i as failed for the current round (once). */
static void
round_fail(struct ga *g, size_t i)
{
	if (g->r.active && g->r.st[i] == WR_PENDING) {
		g->r.st[i] = WR_FAILED;
		g->r.n_failed++;
	}
}

/* Start a round on the newest offered checkpoint, if it is not published
 * yet and no round or retry wait is on. */
static void
round_start(struct ga *g)
{
	if (g->r.active || g->waiting_retry)
		return;
	pthread_mutex_lock(&g->mu);
	if (!g->have_offer || (g->published_any && g->offered_size <= g->published_size)) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	memcpy(g->r.note, g->offered, g->offered_len);
	g->r.len = g->offered_len;
	g->r.size = g->offered_size;
	pthread_mutex_unlock(&g->mu);
	g->r.active = true;
	g->r.n_ok = g->r.n_failed = 0;
	for (size_t i = 0; i < g->n; i++) {
		g->r.st[i] = WR_PENDING;
		g->r.line_len[i] = 0;
	}
	for (size_t i = 0; i < g->n; i++)
		wit_ask(&g->w[i]);
	round_check(g);
}

/* ---- One witness ---- */

/* Ask w to cosign the round's checkpoint, unless a request is in flight
 * (it takes the round's checkpoint when it answers) or it failed and is
 * waiting out its backoff (then it is skipped: see round_unskip).  A refused witness
 * whose backoff is over is asked afresh, from what it says it holds: it
 * may have been repaired, or the log may have been. */
static void
wit_ask(struct wit *w)
{
	struct ga *g = w->g;

	if (w->busy)
		return;
	if ((w->state == W_DOWN || w->state == W_REFUSED) && metrics_now() < w->next_try) {
		size_t i = (size_t)(w - g->w);

		if (g->r.active && g->r.st[i] == WR_PENDING) {
			g->r.st[i] = WR_SKIPPED;
			g->r.n_failed++;
		}
		return;
	}
	if (w->state == W_REFUSED)
		w->size_known = w->size_hinted = false;
	wit_send(w);
}

/* The witness answered that it holds `size` (cosigned, or said in a 409). */
static void
wit_holds(struct wit *w, uint64_t size, bool cosigned)
{
	struct ga *g = w->g;

	w->size = size;
	w->size_known = true;
	w->size_hinted = false;
	if (cosigned) {
		pthread_mutex_lock(&g->mu);
		w->cosigned_size = size;
		w->cosigned = true;
		pthread_mutex_unlock(&g->mu);
		sizes_changed(g);
	}
}

/* The witness failed the request for w->sent_size. */
static void
wit_failed(struct wit *w, enum wstate s, const char *why)
{
	struct ga *g = w->g;
	size_t i = (size_t)(w - g->w);

	wit_state(w, s, why);
	if (g->r.active && (w->sent_size == g->r.size || s == W_REFUSED))
		round_fail(g, i);
}

/* Verify a 200 answer: the witness's cosignature line(s) over the round's
 * checkpoint.  Keeps the verified line in the round. */
static int
wit_accept(struct wit *w, const uint8_t *body, size_t blen, char *why)
{
	struct ga *g = w->g;
	size_t i = (size_t)(w - g->w);
	uint8_t buf[GA_NOTE_MAX + GA_REPLY_MAX];
	struct note n;
	int rc;

	if (blen == 0 || body[blen - 1] != '\n')
		return cl_why(why, CL_EINVAL, "its answer is not cosignature lines");
	memcpy(buf, g->r.note, g->r.len);
	memcpy(buf + g->r.len, body, blen);
	if ((rc = note_open(buf, g->r.len + blen, &w->key, 1, &n, why)) != 0)
		return cl_why(why, rc, "its cosignature does not verify: %s", cl_strerror(rc));
	for (size_t k = 0; k < n.n_sigs; k++) {
		if (n.sigs[k].key == 0 && n.sigs[k].line_len < NOTE_SIGLINE_MAX) {
			memcpy(g->r.line[i], n.sigs[k].line, n.sigs[k].line_len);
			g->r.line_len[i] = n.sigs[k].line_len;
			return 0;
		}
	}
	return cl_why(why, CL_ENOKEY, "no cosignature line by its key");
}

/* A witness's reason, to quote in ours: printable ASCII, one line, cut. */
static void
quote(const uint8_t *body, size_t blen, char out[128])
{
	size_t n = 0;

	for (size_t k = 0; k < blen && n < 127; k++) {
		if (body[k] == '\n' && k + 1 == blen)
			break;
		out[n++] = body[k] >= ' ' && body[k] <= '~' ? (char)body[k] : '?';
	}
	out[n] = '\0';
}

static void
wit_answer(struct evhttp_request *req, void *arg)
{
	struct wit *w = arg;
	struct ga *g = w->g;
	size_t i = (size_t)(w - g->w);
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	uint8_t body[GA_REPLY_MAX];
	size_t blen = 0;
	char why[CL_WHY_MAX], said[128];
	uint64_t size;
	bool resend = false;

	w->busy = false;
	if (code != 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		blen = evbuffer_get_length(in);
		if (blen > sizeof body)
			blen = sizeof body;
		evbuffer_copyout(in, body, blen);
		pthread_mutex_lock(&g->mu);
		w->latency = metrics_now() - w->t0;
		pthread_mutex_unlock(&g->mu);
	}
	quote(body, blen, said);
	switch (code) {
	case 0:
		wit_failed(w, W_DOWN,
		    req == NULL ? "no answer" : "no answer (connection failed or timed out)");
		break;
	case 200:
		if (!g->r.active || w->sent_size != g->r.size) {
			/* An older round's checkpoint (the round ended without
			 * it): it moved the witness on all the same. */
			wit_holds(w, w->sent_size, true);
			wit_state(w, W_UP, "");
			break;
		}
		if (wit_accept(w, body, blen, why) != 0) {
			wit_failed(w, W_DOWN, why);
			break;
		}
		wit_holds(w, w->sent_size, true);
		wit_state(w, W_UP, "");
		g->r.st[i] = WR_OK;
		g->r.n_ok++;
		break;
	case 409:
		if (blen < 2 || body[blen - 1] != '\n' ||
		    cl_u64_parse((const char *)body, blen - 1, &size) != 0) {
			wit_failed(w, W_DOWN, "409 without a size");
			break;
		}
		if (size > w->sent_size) {
			cl_why(why, 0, "rollback: it cosigned size %llu > this log's %llu",
			    (unsigned long long)size, (unsigned long long)w->sent_size);
			wit_failed(w, W_REFUSED, why);
			break;
		}
		if (w->resyncs >= GA_RESYNC_MAX) {
			wit_failed(w, W_DOWN, "409 again after resyncing");
			break;
		}
		w->resyncs++;
		wit_holds(w, size, false);
		resend = true;
		break;
	case 422:
		cl_why(why, 0, "fork: 422 for %llu -> %llu (%.60s)", (unsigned long long)w->size,
		    (unsigned long long)w->sent_size, said);
		wit_failed(w, W_REFUSED, why);
		break;
	default:
		cl_why(why, 0, "HTTP %d: %s", code, said);
		wit_failed(w, W_DOWN, why);
		break;
	}
	if (resend) {
		wit_send(w);
		round_check(g);
		return;
	}
	w->resyncs = 0;
	/* Idle again: take the current round's checkpoint if it has not. */
	if (g->r.active && g->r.st[i] == WR_PENDING && w->sent_size != g->r.size)
		wit_ask(w);
	round_check(g);
}

/* Send w the round's checkpoint, with a proof from what it holds. */
static void
wit_send(struct wit *w)
{
	struct ga *g = w->g;
	struct wit_body *b = NULL;
	struct evhttp_request *req = NULL;
	uint8_t *out = NULL;
	size_t len;
	uint64_t old = w->size_known ? w->size : 0;
	char why[CL_WHY_MAX];
	int rc;

	w->sent_size = g->r.size;
	if (old > g->r.size && w->size_hinted) {
		/* Only the sizes file said so: ask, and let a 409 tell. */
		w->size_known = w->size_hinted = false;
		old = 0;
	}
	if (old > g->r.size) {
		cl_why(why, 0, "rollback: it cosigned size %llu > this log's %llu",
		    (unsigned long long)old, (unsigned long long)g->r.size);
		wit_failed(w, W_REFUSED, why);
		return;
	}
	if ((b = calloc(1, sizeof *b)) == NULL || (out = malloc(WIT_BODY_MAX)) == NULL) {
		wit_failed(w, W_DOWN, "out of memory");
		goto out;
	}
	b->old = old;
	if (old > 0 && old < g->r.size) {
		if ((rc = st_reader_begin(g->reader)) != 0) {
			wit_failed(w, W_DOWN, "cannot read the store for a proof");
			goto out;
		}
		rc = mt_consistency_prove(
		    old, g->r.size, st_node_read, g->reader, b->proof, &b->n_proof);
		st_reader_end(g->reader);
		if (rc != 0 || b->n_proof > WIT_PROOF_MAX) {
			cl_why(why, 0, "consistency proof %llu -> %llu failed: %s",
			    (unsigned long long)old, (unsigned long long)g->r.size,
			    cl_strerror(rc));
			wit_failed(w, W_DOWN, why);
			goto out;
		}
	}
	b->note = g->r.note;
	b->note_len = g->r.len;
	if (wit_body_format(b, out, WIT_BODY_MAX, &len) != 0) {
		wit_failed(w, W_DOWN, "cannot format the request");
		goto out;
	}
	if (w->conn == NULL) {
		if ((w->conn = evhttp_connection_base_new(
		         g->base, NULL, w->host, (unsigned short)w->port)) == NULL) {
			wit_failed(w, W_DOWN, "cannot make a connection");
			goto out;
		}
		evhttp_connection_set_timeout_tv(w->conn,
		    &(struct timeval){
		        (time_t)(g->timeout_ms / 1000), (long)(g->timeout_ms % 1000) * 1000});
		evhttp_connection_set_retries(w->conn, 0);
		evhttp_connection_set_max_body_size(w->conn, GA_REPLY_MAX);
	}
	if ((req = evhttp_request_new(wit_answer, w)) == NULL) {
		wit_failed(w, W_DOWN, "out of memory");
		goto out;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", w->host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", WIT_TEXT_TYPE);
	if (evbuffer_add(evhttp_request_get_output_buffer(req), out, len) != 0) {
		evhttp_request_free(req);
		wit_failed(w, W_DOWN, "out of memory");
		goto out;
	}
	w->busy = true;
	w->t0 = metrics_now();
	/* On failure evhttp frees req (and calls no callback). */
	if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, w->path) != 0) {
		w->busy = false;
		wit_failed(w, W_DOWN, "cannot send the request");
	}
out:
	free(out);
	free(b);
}

/* ---- The thread ---- */

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct ga *g = arg;
	bool stop;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&g->mu);
	stop = g->stop;
	pthread_mutex_unlock(&g->mu);
	if (stop) {
		event_base_loopbreak(g->base);
		return;
	}
	round_start(g);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ga *g = arg;

	(void)fd;
	(void)what;
	g->waiting_retry = false;
	round_start(g);
}

static void *
ga_main(void *arg)
{
	struct ga *g = arg;

	/* Idle between rounds with nothing pending: keep running until ga_stop. */
	event_base_loop(g->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
ga_start(struct ga *g, const struct ga_sink *sink, char *why)
{
	int rc;

	g->sink = *sink;
	if (evthread_use_pthreads() != 0)
		return cl_why(why, ENOMEM, "libevent threads failed");
	if ((g->base = event_base_new()) == NULL ||
	    (g->wake = event_new(g->base, -1, 0, on_wake, g)) == NULL ||
	    (g->retry = evtimer_new(g->base, on_retry, g)) == NULL ||
	    (g->save = evtimer_new(g->base, on_save, g)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((rc = st_reader_new(g->st, &g->reader)) != 0)
		return cl_why(why, rc, "store: %s", st_strerror(rc));
	if ((rc = pthread_create(&g->tid, NULL, ga_main, g)) != 0)
		return cl_why(why, rc, "cannot start the gatherer thread: %s", strerror(rc));
	g->started = true;
	/* An offer made before the thread ran is picked up here. */
	event_active(g->wake, 0, 0);
	return 0;
}

void
ga_offer(struct ga *g, const uint8_t *note, size_t len, uint64_t size)
{
	if (len > GA_NOTE_MAX)
		return; /* cannot happen: the log signs STH_NOTE_MAX at most */
	pthread_mutex_lock(&g->mu);
	if (!g->have_offer || size >= g->offered_size) {
		memcpy(g->offered, note, len);
		g->offered_len = len;
		g->offered_size = size;
		g->have_offer = true;
	}
	pthread_mutex_unlock(&g->mu);
	if (g->wake != NULL)
		event_active(g->wake, 0, 0);
}

int
ga_quorum_met(const struct ga *g, const uint8_t *note, size_t len)
{
	struct note_verifier keys[GA_WITNESSES_MAX];
	struct note *n = malloc(sizeof *n);
	int ok;

	if (n == NULL)
		return 0;
	for (size_t i = 0; i < g->n; i++)
		keys[i] = g->w[i].key;
	ok = note_open(note, len, keys, g->n, n, NULL) == 0 &&
	    note_keys_verified(n, g->n) >= g->quorum;
	free(n);
	return ok;
}

static int buf_printf(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
buf_printf(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *nb;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (nb = realloc(*buf, *len + (size_t)n + 1)) == NULL)
		return ENOMEM;
	va_start(ap, fmt);
	vsnprintf(nb + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*buf = nb;
	*len += (size_t)n;
	return 0;
}

int
ga_metrics_append(struct ga *g, char **buf, size_t *len)
{
	char *b = malloc(*len + 1);
	size_t n = *len;
	int rc = 0;

	if (b == NULL)
		return ENOMEM;
	memcpy(b, *buf, *len + 1);
	pthread_mutex_lock(&g->mu);
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_witness_state Each witness's state (1 for the current one).\n"
	    "# TYPE closurelog_witness_state gauge\n");
	for (size_t i = 0; i < g->n; i++) {
		for (int s = W_UNKNOWN; s <= W_REFUSED; s++)
			rc |= buf_printf(&b, &n,
			    "closurelog_witness_state{witness=\"%s\",state=\"%s\"} %d\n",
			    g->w[i].key.name, wstate_name[s], g->w[i].state == (enum wstate)s);
	}
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_witness_latency_seconds The last add-checkpoint round trip.\n"
	    "# TYPE closurelog_witness_latency_seconds gauge\n");
	for (size_t i = 0; i < g->n; i++)
		rc |=
		    buf_printf(&b, &n, "closurelog_witness_latency_seconds{witness=\"%s\"} %.6f\n",
		        g->w[i].key.name, g->w[i].latency);
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_witness_backoff_seconds How long a failed witness is left alone "
	    "before it is asked again (0 while it answers).\n"
	    "# TYPE closurelog_witness_backoff_seconds gauge\n");
	for (size_t i = 0; i < g->n; i++)
		rc |=
		    buf_printf(&b, &n, "closurelog_witness_backoff_seconds{witness=\"%s\"} %.3f\n",
		        g->w[i].key.name, g->w[i].backoff);
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_witness_cosigned_size The latest size each witness cosigned.\n"
	    "# TYPE closurelog_witness_cosigned_size gauge\n");
	for (size_t i = 0; i < g->n; i++)
		rc |= buf_printf(&b, &n, "closurelog_witness_cosigned_size{witness=\"%s\"} %llu\n",
		    g->w[i].key.name, (unsigned long long)g->w[i].cosigned_size);
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_witness_requests_total add-checkpoint requests by result.\n"
	    "# TYPE closurelog_witness_requests_total counter\n");
	for (size_t i = 0; i < g->n; i++)
		rc |= buf_printf(&b, &n,
		    "closurelog_witness_requests_total{witness=\"%s\",result=\"ok\"} %llu\n"
		    "closurelog_witness_requests_total{witness=\"%s\",result=\"failed\"} %llu\n",
		    g->w[i].key.name, (unsigned long long)g->w[i].n_ok, g->w[i].key.name,
		    (unsigned long long)g->w[i].n_fail);
	rc |= buf_printf(&b, &n,
	    "# HELP closurelog_cosigned_checkpoints_total Checkpoints published with the quorum.\n"
	    "# TYPE closurelog_cosigned_checkpoints_total counter\n"
	    "closurelog_cosigned_checkpoints_total %llu\n"
	    "# HELP closurelog_witness_failed_rounds_total Rounds that missed the quorum.\n"
	    "# TYPE closurelog_witness_failed_rounds_total counter\n"
	    "closurelog_witness_failed_rounds_total %llu\n"
	    "# HELP closurelog_cosigned_size Size of the published cosigned checkpoint.\n"
	    "# TYPE closurelog_cosigned_size gauge\n"
	    "closurelog_cosigned_size %llu\n",
	    (unsigned long long)g->n_published, (unsigned long long)g->n_failed_rounds,
	    (unsigned long long)g->published_size);
	pthread_mutex_unlock(&g->mu);
	if (rc != 0) {
		free(b);
		return ENOMEM;
	}
	free(*buf);
	*buf = b;
	*len = n;
	return 0;
}

void
ga_stop(struct ga *g)
{
	if (g == NULL || !g->started)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_mutex_unlock(&g->mu);
	event_active(g->wake, 0, 0);
	pthread_join(g->tid, NULL);
	g->started = false;
	if (g->sizes_dirty)
		sizes_save(g); /* the thread is gone: this one owns the state now */
}

void
ga_free(struct ga *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++) {
		if (g->w[i].conn != NULL)
			evhttp_connection_free(g->w[i].conn);
	}
	if (g->wake != NULL)
		event_free(g->wake);
	if (g->retry != NULL)
		event_free(g->retry);
	if (g->save != NULL)
		event_free(g->save);
	if (g->base != NULL)
		event_base_free(g->base);
	st_reader_free(g->reader);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
