/*
 * front.c: the witness core on closurelogd's HTTP connection layer.  The
 * layer refuses malformed, oversized, slow and surplus requests by itself;
 * what reaches route() is a well-framed request, which ends in exactly one
 * http_reply.  The add-checkpoint answer (status, type, body) comes whole
 * from wit_add_checkpoint.  Everything runs on the one event-loop thread.
 */
#include "front.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "cl.h"

#define CACHE_NO_STORE "Cache-Control: no-store\r\n"

struct wfront {
	struct http *http;
	struct wit *w;
	/* Connection-layer counters, for /metrics. */
	uint64_t conns;
	uint64_t refused[HTTP_REFUSE_TOO_MANY_CONNECTIONS + 1];
};

static void
reply(struct http_req *req, int code, const char *type, const char *headers, const void *body,
    size_t len)
{
	char hdr[128];

	snprintf(hdr, sizeof hdr, "%s%s", CACHE_NO_STORE, headers != NULL ? headers : "");
	http_reply(req, code, type, hdr, body, len, false);
}

/* One text/plain line from fmt; headers: extra header lines or NULL. */
static void __attribute__((format(printf, 4, 5)))
reply_error(struct http_req *req, int code, const char *headers, const char *fmt, ...)
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
	reply(req, code, WIT_TEXT_TYPE, headers, line, (size_t)n);
}

static void
post_add_checkpoint(struct wfront *f, struct http_req *req)
{
	struct wit_reply r;

	/* The layer capped the body at WIT_BODY_MAX (413 beyond). */
	wit_add_checkpoint(f->w, req->body != NULL ? req->body : (const uint8_t *)"", req->body_len,
	    (uint64_t)time(NULL), &r);
	reply(req, r.status, r.type, NULL, r.body, r.len);
}

static void
get_checkpoint(struct wfront *f, struct http_req *req, const char *hex, size_t n)
{
	uint8_t *cp = NULL;
	size_t len = 0;
	int rc = wit_checkpoint_alloc(f->w, hex, n, &cp, &len);

	if (rc == 0)
		reply(req, 200, WIT_TEXT_TYPE, NULL, cp, len);
	else if (rc == ENOENT || rc == CL_EINVAL)
		reply_error(req, 404, NULL, "no checkpoint cosigned for that origin");
	else
		reply_error(req, 500, NULL, "cannot read witness state: %s", cl_strerror(rc));
	free(cp);
}

static void
get_metrics(struct wfront *f, struct http_req *req)
{
	static const char *const why[] = {
	    [HTTP_REFUSE_BAD_REQUEST] = "bad_request",
	    [HTTP_REFUSE_TOO_BIG] = "too_big",
	    [HTTP_REFUSE_TIMEOUT] = "timeout",
	    [HTTP_REFUSE_TOO_MANY_CONNECTIONS] = "too_many_connections",
	};
	struct evbuffer *b = evbuffer_new();
	size_t len = 0;
	char *m = wit_metrics_render_alloc(f->w, &len);
	int bad = b == NULL || m == NULL || evbuffer_add(b, m, len) != 0;

	bad = bad ||
	    evbuffer_add_printf(b,
	        "# HELP closurelog_witness_connections open HTTP connections\n"
	        "# TYPE closurelog_witness_connections gauge\n"
	        "closurelog_witness_connections %" PRIu64 "\n"
	        "# HELP closurelog_witness_http_refused_total requests and "
	        "connections the HTTP layer refused, by reason\n"
	        "# TYPE closurelog_witness_http_refused_total counter\n",
	        f->conns) < 0;
	for (size_t i = 0; !bad && i < sizeof why / sizeof why[0]; i++)
		bad = evbuffer_add_printf(b,
		          "closurelog_witness_http_refused_total{reason=\"%s\"} %" PRIu64 "\n",
		          why[i], f->refused[i]) < 0;
	free(m);
	if (bad)
		reply_error(req, 500, NULL, "out of memory");
	else
		http_reply_buffer(
		    req, 200, "text/plain; version=0.0.4; charset=utf-8", CACHE_NO_STORE, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void
route(void *arg, struct http_req *req)
{
	struct wfront *f = arg;
	const char *path = req->path;
	size_t n = strlen(path);

	if (path[0] != '/') {
		reply_error(req, 400, NULL, "malformed request path");
		return;
	}
	if (req->query != NULL) {
		reply_error(req, 400, NULL, "%.80s takes no query", path);
		return;
	}
	if (strcmp(path, "/add-checkpoint") == 0) {
		if (req->method != HTTP_V_POST)
			reply_error(req, 405, "Allow: POST\r\n", "use POST for /add-checkpoint");
		else
			post_add_checkpoint(f, req);
		return;
	}
	if (req->method != HTTP_V_GET && req->method != HTTP_V_HEAD) {
		reply_error(req, 405, "Allow: GET, HEAD\r\n", "use GET for %.80s", path);
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		get_metrics(f, req);
	else if (n == 1 + 64 + strlen("/checkpoint") && strcmp(path + 65, "/checkpoint") == 0)
		get_checkpoint(f, req, path + 1, 64);
	else
		reply_error(req, 404, NULL, "no such resource: %.80s", path);
}

static void
on_conn(void *arg, int delta)
{
	struct wfront *f = arg;

	f->conns += (uint64_t)(int64_t)delta;
}

static void
on_refused(void *arg, enum http_refusal why)
{
	struct wfront *f = arg;

	if ((size_t)why < sizeof f->refused / sizeof f->refused[0])
		f->refused[why]++;
}

int
wfront_new(struct event_base *base, int fd, struct wit *w, const struct http_limits *lim,
    struct wfront **out, char *why)
{
	static const struct http_hooks hooks = {on_conn, NULL, on_refused};
	struct http_limits l = *lim;
	struct wfront *f;
	void *args[1];
	int rc;

	*out = NULL;
	if ((f = calloc(1, sizeof *f)) == NULL) {
		evutil_closesocket(fd);
		return cl_why(why, ENOMEM, "out of memory");
	}
	f->w = w;
	l.max_body = WIT_BODY_MAX;
	args[0] = f;
	if ((rc = http_new(&l, fd, 1, &base, route, &hooks, args, &f->http, why)) != 0) {
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void
wfront_stop(struct wfront *f)
{
	if (f != NULL)
		http_stop(f->http);
}

void
wfront_free(struct wfront *f)
{
	if (f == NULL)
		return;
	http_free(f->http);
	free(f);
}
