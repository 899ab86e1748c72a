/*
 * api.c: closurelogd's HTTP threads, request dispatch, signals and
 * shutdown.
 *
 * Why it is shaped this way:
 *
 *  - Connections, limits and HTTP itself are http.c's (generic); the
 *    routes live by concern in c2sp.c (checkpoint, tiles), v1read.c (the
 *    /v1 reads) and submit.c (submissions).  This file only ties them to
 *    the threads and answers what is about the server as a whole:
 *    /healthz, /metrics, the method and rate checks.
 *  - Reads never wait: each is a short LMDB read transaction on the HTTP
 *    thread that received it.  Writes never block the loop: the body goes
 *    to the log's verifier pool and the answer comes back through the
 *    thread's completion queue (submit.c).
 *  - Rate limiting is one check per request on the peer's address.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "c2sp.h"
#include "http.h"
#include "ratelimit.h"
#include "route.h"
#include "submit.h"
#include "v1read.h"

struct api_thread {
	struct api *a;
	unsigned id;
	pthread_t tid;
	struct event_base *base;
	struct rt rt;
	void *arena_buf;
	struct event *stop_ev, *exit_ev;
};

struct api {
	struct cfg cfg;
	struct st *st;
	struct log *log;
	struct allow *al;
	struct metrics *m;
	struct http *http;
	struct api_thread *threads;
	unsigned n_threads;
	struct event *sig_term, *sig_int, *sig_hup;
	struct rl *rl; /* shared by the HTTP threads; NULL: no limit */
	atomic_bool shutting_down;
	pthread_t stopper;
	bool stopper_started;
};

/* ---- Rate limit ---- */

/* The client's rate limit (ratelimit.h): one check per request. */
static bool
rate_ok(struct api *a, const struct sockaddr *sa)
{
	return a->rl == NULL || rl_allow(a->rl, sa, metrics_now());
}

/* ---- Server routes ---- */

static void
get_metrics(struct api_thread *t, struct http_req *req)
{
	size_t len;
	char *text;

	if (!rt_no_query(&t->rt, req))
		return;
	if ((text = metrics_render_alloc(t->a->m, &len)) == NULL) {
		rt_fail(&t->rt, req, 500, -1, NULL, "out of memory");
		return;
	}
	rt_reply(
	    req, 200, "text/plain; version=0.0.4; charset=utf-8", RT_CACHE_NO_STORE, text, len);
	free(text);
}

static void
get_healthz(struct api_thread *t, struct http_req *req)
{
	struct log_ckpt *ck;
	char line[64];
	int n;

	if (!rt_no_query(&t->rt, req))
		return;
	/* Up, even before the witnesses cosign: 0 until they have. */
	ck = log_checkpoint(t->rt.log);
	n = snprintf(
	    line, sizeof line, "ok %llu\n", ck != NULL ? (unsigned long long)ck->size : 0ULL);
	log_ckpt_unref(ck);
	rt_reply(req, 200, RT_CT_TEXT, RT_CACHE_NO_STORE, line, (size_t)n);
}

/* ---- Dispatch ---- */

#define ALLOW_READ  "Allow: GET, HEAD\r\n"
#define ALLOW_WRITE "Allow: POST\r\n"

static void
route(void *arg, struct http_req *req)
{
	struct api_thread *t = arg;
	struct rt *r = &t->rt;
	const char *path = req->path;

	if (!rate_ok(t->a, req->peer)) {
		rt_fail(r, req, 429, R_RATE_LIMITED, NULL,
		    "rate limit exceeded for this client; slow down");
		return;
	}
	if (path[0] != '/') {
		/* "OPTIONS *" and CONNECT's authority form: no such thing here. */
		if ((strcmp(path, "*") == 0 && strcmp(req->method_name, "OPTIONS") == 0) ||
		    strcmp(req->method_name, "CONNECT") == 0)
			rt_fail(r, req, 405, R_BAD_REQUEST, "Allow: GET, HEAD, POST\r\n",
			    "%s is not served; this server answers GET, HEAD and POST",
			    req->method_name);
		else
			rt_fail(r, req, 400, R_BAD_REQUEST, NULL, "malformed request path");
		return;
	}
	if (strcmp(path, "/v1/entries") == 0) {
		if (req->method != HTTP_V_POST)
			rt_fail(
			    r, req, 405, R_BAD_REQUEST, ALLOW_WRITE, "use POST for /v1/entries");
		else
			sub_post(r, req);
		return;
	}
	if (strcmp(path, "/v1/entries/batch") == 0) {
		if (req->method != HTTP_V_POST)
			rt_fail(r, req, 405, R_BAD_REQUEST, ALLOW_WRITE,
			    "use POST for /v1/entries/batch");
		else
			sub_batch_post(r, req);
		return;
	}
	if (strcmp(path, "/checkpoint") != 0 && strncmp(path, "/tile/", 6) != 0 &&
	    strncmp(path, "/v1/entries/", 12) != 0 && strcmp(path, "/v1/proof/inclusion") != 0 &&
	    strcmp(path, "/v1/proof/consistency") != 0 && strncmp(path, "/v1/bundle/", 11) != 0 &&
	    strcmp(path, "/v1/search") != 0 && strcmp(path, "/healthz") != 0 &&
	    strcmp(path, "/metrics") != 0) {
		rt_fail(r, req, 404, -1, NULL, "no such resource: %.80s", path);
		return;
	}
	if (req->method != HTTP_V_GET && req->method != HTTP_V_HEAD) {
		rt_fail(r, req, 405, R_BAD_REQUEST, ALLOW_READ, "use GET for %.80s", path);
		return;
	}
	if (strcmp(path, "/checkpoint") == 0)
		c2sp_checkpoint(r, req);
	else if (strncmp(path, "/tile/", 6) == 0)
		c2sp_tile(r, req);
	else if (strncmp(path, "/v1/entries/", 12) == 0)
		v1_entry(r, req, path + 12);
	else if (strcmp(path, "/v1/proof/inclusion") == 0)
		v1_inclusion(r, req);
	else if (strcmp(path, "/v1/proof/consistency") == 0)
		v1_consistency(r, req);
	else if (strncmp(path, "/v1/bundle/", 11) == 0)
		v1_bundle(r, req, path + 11);
	else if (strcmp(path, "/v1/search") == 0)
		v1_search(r, req);
	else if (strcmp(path, "/healthz") == 0)
		get_healthz(t, req);
	else
		get_metrics(t, req);
}

/* ---- Metrics from the connection layer ---- */

static void
hook_conn(void *arg, int delta)
{
	struct api_thread *t = arg;

	metrics_gauge_add(t->a->m, G_OPEN_CONNECTIONS, delta);
	if (delta > 0)
		metrics_thread_conn(t->a->m, t->id);
}

static void
hook_replied(void *arg, int status, double seconds)
{
	struct api_thread *t = arg;

	metrics_count(t->a->m, M_HTTP_REQUESTS, 1);
	if (status >= 400)
		metrics_count(t->a->m, M_HTTP_ERRORS, 1);
	metrics_observe(t->a->m, H_REQUEST_SECONDS, seconds);
}

static void
hook_refused(void *arg, enum http_refusal why)
{
	static const enum metrics_reject reason[] = {
	    [HTTP_REFUSE_BAD_REQUEST] = R_BAD_REQUEST,
	    [HTTP_REFUSE_TOO_BIG] = R_TOO_BIG,
	    [HTTP_REFUSE_TIMEOUT] = R_TIMEOUT,
	    [HTTP_REFUSE_TOO_MANY_CONNECTIONS] = R_TOO_MANY_CONNECTIONS,
	};
	struct api_thread *t = arg;

	metrics_reject(t->a->m, reason[why]);
}

/* ---- Threads, signals, shutdown ---- */

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;

	(void)fd;
	(void)what;
	sub_drain(&t->rt);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;

	(void)fd;
	(void)what;
	sub_flush(&t->rt);
}

/* Shutdown, phase 1: accept no new connections. */
static void
thread_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;

	(void)fd;
	(void)what;
	if (t->id == 0)
		http_stop(t->a->http);
}

/* Phase 2: the log has answered everything; send the answers and leave. */
static void
thread_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_thread *t = arg;
	struct timeval grace = {0, 500000};

	(void)fd;
	(void)what;
	sub_drain(&t->rt);
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
	/* A thread may have nothing to wait for until a connection is
	 * handed to it. */
	event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int
thread_init(struct api *a, struct api_thread *t, unsigned id, struct log *log, char *why)
{
	int rc;

	t->a = a;
	t->id = id;
	t->rt.log = log;
	t->rt.m = a->m;
	atomic_init(&t->rt.done_head, NULL);
	atomic_init(&t->rt.batch_done, NULL);
	/* No epoll changelist: a socket is closed right after its event is
	 * deleted, and its number may come back from accept (on any thread)
	 * before the loop would flush a deferred change.  Read interest stays
	 * on and write interest is asked for only when a socket is full, so
	 * there is little toggling to fold anyway. */
	if ((t->base = event_base_new()) == NULL)
		return cl_why(why, ENOMEM, "libevent: cannot create an event base");
	if ((rc = st_reader_new(a->st, &t->rt.reader)) != 0)
		return cl_why(why, rc, "store: %s", st_strerror(rc));
	if ((t->arena_buf = malloc(WIRE_ARENA_MIN)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	wire_arena_init(&t->rt.arena, t->arena_buf, WIRE_ARENA_MIN);
	t->rt.wake = event_new(t->base, -1, 0, wake_cb, t);
	t->rt.flush = event_new(t->base, -1, 0, flush_cb, t);
	t->stop_ev = event_new(t->base, -1, 0, thread_stop_cb, t);
	t->exit_ev = event_new(t->base, -1, 0, thread_exit_cb, t);
	if (t->rt.wake == NULL || t->rt.flush == NULL || t->stop_ev == NULL || t->exit_ev == NULL)
		return cl_why(why, ENOMEM, "libevent: cannot create events");
	return 0;
}

int
api_new(const struct cfg *cfg, int *fd, struct st *st, struct log *log, struct allow *al,
    struct metrics *m, struct api **out, char *why)
{
	static const struct http_hooks hooks = {hook_conn, hook_replied, hook_refused};
	struct http_limits lim;
	struct event_base **bases = NULL;
	void **args = NULL;
	struct api *a;
	int rc, lfd = *fd;

	*out = NULL;
	*fd = -1; /* ours from here on, whatever happens */
	if (evthread_use_pthreads() != 0) {
		close(lfd);
		return cl_why(why, EINVAL, "libevent: no pthreads support");
	}
	if ((a = calloc(1, sizeof *a)) == NULL) {
		close(lfd);
		return cl_why(why, ENOMEM, "out of memory");
	}
	a->cfg = *cfg;
	a->st = st;
	a->log = log;
	a->al = al;
	a->m = m;
	a->n_threads = cfg->http_threads > 0 ? cfg->http_threads : 1;
	if ((cfg->rate > 0 &&
	        (a->rl = rl_new(
	             cfg->rate, cfg->rate_burst, cfg->rate_prefix6, RL_ENTRIES_DEFAULT)) == NULL) ||
	    (a->threads = calloc(a->n_threads, sizeof *a->threads)) == NULL ||
	    (bases = calloc(a->n_threads, sizeof *bases)) == NULL ||
	    (args = calloc(a->n_threads, sizeof *args)) == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		close(lfd);
		goto fail;
	}
	for (unsigned i = 0; i < a->n_threads; i++) {
		if ((rc = thread_init(a, &a->threads[i], i, log, why)) != 0) {
			close(lfd);
			goto fail;
		}
		a->threads[i].rt.batch_max_entries = cfg->batch_max_entries;
		bases[i] = a->threads[i].base;
		args[i] = &a->threads[i];
	}
	lim.max_conns = cfg->max_conns;
	lim.request_timeout = (double)cfg->request_timeout;
	lim.idle_timeout = (double)cfg->idle_timeout;
	lim.max_url = RT_QUERY_MAX;
	lim.max_headers = API_HEADERS_MAX;
	lim.max_body = API_BODY_MAX;
	lim.big_body_path = "/v1/entries/batch";
	lim.big_body_max = cfg->batch_max_bytes;
	if ((rc = http_new(&lim, lfd, a->n_threads, bases, route, &hooks, args, &a->http, why)) !=
	    0)
		goto fail;
	a->sig_term = evsignal_new(a->threads[0].base, SIGTERM, signal_cb, a);
	a->sig_int = evsignal_new(a->threads[0].base, SIGINT, signal_cb, a);
	a->sig_hup = evsignal_new(a->threads[0].base, SIGHUP, signal_cb, a);
	if (a->sig_term == NULL || a->sig_int == NULL || a->sig_hup == NULL ||
	    event_add(a->sig_term, NULL) != 0 || event_add(a->sig_int, NULL) != 0 ||
	    event_add(a->sig_hup, NULL) != 0) {
		rc = cl_why(why, ENOMEM, "libevent: cannot install signal handlers");
		goto fail;
	}
	free(bases);
	free(args);
	*out = a;
	return 0;
fail:
	free(bases);
	free(args);
	api_free(a);
	return rc;
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
	http_free(a->http); /* closes every connection */
	for (unsigned i = 0; a->threads != NULL && i < a->n_threads; i++) {
		struct api_thread *t = &a->threads[i];

		if (t->rt.wake != NULL)
			event_free(t->rt.wake);
		if (t->rt.flush != NULL)
			event_free(t->rt.flush);
		if (t->stop_ev != NULL)
			event_free(t->stop_ev);
		if (t->exit_ev != NULL)
			event_free(t->exit_ev);
		if (t->base != NULL)
			event_base_free(t->base);
		sub_free_spares(&t->rt);
		st_reader_free(t->rt.reader);
		pc_free(&t->rt.pcache);
		free(t->arena_buf);
	}
	free(a->threads);
	rl_free(a->rl);
	free(a);
}
