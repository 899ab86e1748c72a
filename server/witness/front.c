/*
 * front.c: evhttp binding of the witness core.  Each handler ends in
 * exactly one reply; errors are one text/plain line.  The add-checkpoint
 * answer (status, type, body) comes whole from wit_add_checkpoint.
 */
#include "front.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cl.h"

struct wfront {
	struct evhttp *http;
	struct wit *w;
};

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	}
	return "Internal Server Error";
}

static void
reply(struct evhttp_request *req, int code, const char *type, const void *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (len > 0 && evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason_phrase(code), NULL);
}

static void __attribute__((format(printf, 3, 4)))
reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
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
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	reply(req, code, WIT_TEXT_TYPE, line, (size_t)n);
}

static void
post_add_checkpoint(struct wfront *f, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct wit_reply r;
	const uint8_t *body;

	if (len > WIT_BODY_MAX) {
		reply_error(
		    req, 413, "add-checkpoint body is %zu bytes, more than %d", len, WIT_BODY_MAX);
		return;
	}
	if ((body = evbuffer_pullup(in, -1)) == NULL && len > 0) {
		reply_error(req, 500, "out of memory");
		return;
	}
	wit_add_checkpoint(
	    f->w, body != NULL ? body : (const uint8_t *)"", len, (uint64_t)time(NULL), &r);
	reply(req, r.status, r.type, r.body, r.len);
}

static void
get_checkpoint(struct wfront *f, struct evhttp_request *req, const char *hex, size_t n)
{
	uint8_t *cp = NULL;
	size_t len = 0;
	int rc = wit_checkpoint_alloc(f->w, hex, n, &cp, &len);

	if (rc == 0)
		reply(req, 200, WIT_TEXT_TYPE, cp, len);
	else if (rc == ENOENT || rc == CL_EINVAL)
		reply_error(req, 404, "no checkpoint cosigned for that origin");
	else
		reply_error(req, 500, "cannot read witness state: %s", cl_strerror(rc));
	free(cp);
}

static void
get_metrics(struct wfront *f, struct evhttp_request *req)
{
	size_t len = 0;
	char *m = wit_metrics_render_alloc(f->w, &len);

	if (m == NULL) {
		reply_error(req, 500, "out of memory");
		return;
	}
	reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", m, len);
	free(m);
}

static void
route(struct evhttp_request *req, void *arg)
{
	struct wfront *f = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	size_t n;

	if (path == NULL || path[0] != '/') {
		reply_error(req, 400, "malformed request path");
		return;
	}
	if (evhttp_uri_get_query(uri) != NULL) {
		reply_error(req, 400, "%.80s takes no query", path);
		return;
	}
	if (strcmp(path, "/add-checkpoint") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			reply_error(req, 405, "use POST for /add-checkpoint");
		else
			post_add_checkpoint(f, req);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		reply_error(req, 405, "use GET for %.80s", path);
		return;
	}
	n = strlen(path);
	if (strcmp(path, "/metrics") == 0)
		get_metrics(f, req);
	else if (n == 1 + 64 + strlen("/checkpoint") && strcmp(path + 65, "/checkpoint") == 0)
		get_checkpoint(f, req, path + 1, 64);
	else
		reply_error(req, 404, "no such resource: %.80s", path);
}

int
wfront_new(
    struct event_base *base, evutil_socket_t fd, struct wit *w, struct wfront **out, char *why)
{
	struct wfront *f;

	*out = NULL;
	if ((f = calloc(1, sizeof *f)) == NULL || (f->http = evhttp_new(base)) == NULL) {
		free(f);
		evutil_closesocket(fd);
		return cl_why(why, ENOMEM, "out of memory");
	}
	f->w = w;
	/* Bodies up to four times the cap are read and refused with a
	 * one-line reason; evhttp cuts off anything larger itself (413)
	 * before buffering it. */
	evhttp_set_max_body_size(f->http, 4 * WIT_BODY_MAX);
	evhttp_set_max_headers_size(f->http, 16384);
	evhttp_set_timeout(f->http, WFRONT_TIMEOUT);
	/* Every method evhttp knows reaches route(), which answers the wrong
	 * ones with a one-line 405 (evhttp's own refusal is an HTML 501). */
	evhttp_set_allowed_methods(f->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(f->http, WIT_TEXT_TYPE);
	evhttp_set_gencb(f->http, route, f);
	if (evhttp_accept_socket(f->http, fd) != 0) {
		evhttp_free(f->http);
		free(f);
		evutil_closesocket(fd);
		return cl_why(why, ENOMEM, "cannot serve the listening socket");
	}
	*out = f;
	return 0;
}

void
wfront_free(struct wfront *f)
{
	if (f == NULL)
		return;
	evhttp_free(f->http);
	free(f);
}
