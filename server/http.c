/*
 * http.c: the HTTP/1.1 connection layer (see http.h for the contract).
 *
 * Why it is shaped this way:
 *
 *  - One listening socket without SO_REUSEPORT, so that no other process
 *    can join the port; the accepting thread deals connections out round
 *    robin, so the threads still share the load.  A handed-over socket
 *    travels through a small locked queue and an event_active.
 *  - Raw sockets, not bufferevents: a request costs one recv, and the
 *    answers of one turn of the loop one write; read interest stays on
 *    (it is dropped only when the input buffer is full or the connection
 *    is closing) and write interest is asked for only when the kernel
 *    did not take everything.
 *  - One request at a time per connection: http-parser is paused at the
 *    end of each message, so that the request (and its body) stay put
 *    until the handler answers, which may be later, from a completion
 *    queue.  The bytes after it wait in the input buffer.
 *  - One timer per connection, on libevent's common timeouts (O(1)): the
 *    request deadline from a request's first byte, the idle deadline
 *    between requests and while the peer is not reading, none while the
 *    handler has the request.  The deadline is a number; the event moves
 *    only when the deadline comes earlier than the event fires, and an
 *    event that fires early is re-added for the rest.
 *  - A lone answer (nothing queued before it, no pipelined request behind
 *    it) is sent at once from the buffer it was put together in; only
 *    what the kernel does not take goes through the output evbuffer.
 *  - Every refusal the layer makes is one text/plain line and closes the
 *    connection: after a framing error the rest of the stream cannot be
 *    trusted (request smuggling).  Closing is a half close and a short
 *    drain, so that the refusal is not lost to a reset.
 */
#define _GNU_SOURCE /* accept4 */
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "cl.h"

#define IN_CAP      16384      /* input buffer per connection */
#define OUT_HIGH    (1u << 20) /* stop parsing while more than this waits to be sent */
#define MAX_HEADERS 100
#define ACCEPT_RUN  64 /* accepts per readiness of the listening socket */
#define LINGER_SEC  2.0

enum hdr_kind { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONTENT_TYPE, H_HOST, H_EXPECT };

enum conn_state {
	C_WAIT,    /* between requests: no byte of the next one yet */
	C_READING, /* a request has begun */
	C_BUSY,    /* the handler has the request */
	C_LINGER,  /* half-closed after a final answer: draining, then close */
};

struct worker;

/* A connection deadline's length: libevent's common timeout, and seconds. */
struct timeout {
	const struct timeval *tv;
	double s;
};

struct http_conn {
	struct worker *w;
	int fd;
	struct event *rd, *wr, *timer;
	double deadline; /* monotonic seconds the timer is for; 0: none */
	double armed;    /* when the pending timer event fires; 0: not pending */
	http_parser p;
	enum conn_state state;
	bool fresh;       /* no request yet on this connection */
	bool over;        /* beyond max_conns */
	bool closing;     /* close once the output is sent */
	bool peer_eof;    /* the peer sent FIN */
	bool dead;        /* socket gone; waiting only for the handler's answer */
	bool reading_off; /* read interest dropped */
	bool writing;     /* write interest on */
	size_t body_max;  /* this request's body cap (lim.max_body or .big_body_max) */
	bool in_handler;  /* the handler is running for this request */
	struct sockaddr_storage peer;
	struct evbuffer *out;
	uint8_t in[IN_CAP];
	size_t in_off, in_len;

	/* The request being parsed or answered. */
	struct http_req req;
	int fail;             /* a refusal decided in a parser callback */
	const char *fail_why; /* its reason */
	size_t url_len, hdr_bytes;
	unsigned n_headers, n_cl, n_te, n_host, n_ctype;
	enum hdr_kind kind;
	bool in_value; /* the last callback was a header value */
	char field[24];
	size_t field_len;
	char val[128]; /* the value of an interesting header */
	size_t val_len;
	bool val_long;
	char ctype[128];
	bool te_chunked, expect_continue, expect_bad, cl_bad, msg_done;
	uint8_t *body;
	size_t body_len, body_cap;
	struct http_conn *prev, *next;
	char *url; /* max_url + 1 bytes */
	char *path;
};

struct handoff {
	int fd;
	struct sockaddr_storage peer;
};

struct worker {
	struct http *h;
	unsigned id;
	struct event_base *base;
	void *arg;
	struct http_conn *conns;
	struct timeout t_request, t_idle, t_linger;
	struct event *adopt;
	pthread_mutex_t mu;
	struct handoff *queue;
	size_t q_len, q_cap;
	time_t date_at;
	char date[40];
};

struct http {
	struct http_limits lim;
	http_handler_fn fn;
	struct http_hooks hooks;
	int listen_fd;
	struct event *accept_ev;
	struct worker *w;
	unsigned n, next;
	atomic_uint n_conns;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timeval
tv_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
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
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	case 507:
		return "Insufficient Storage";
	}
	return "Error";
}

/* ---- Connections: life and death ---- */

static bool conn_process(struct http_conn *c);
static bool conn_flush(struct http_conn *c);

static void
conn_free(struct http_conn *c)
{
	free(c->body);
	free(c->url);
	free(c);
}

/* Close the socket.  A connection whose request the handler still has
 * stays allocated (dead) until the answer comes. */
static void
conn_close(struct http_conn *c)
{
	struct worker *w = c->w;

	if (c->fd < 0)
		return;
	event_free(c->rd);
	event_free(c->wr);
	event_free(c->timer);
	close(c->fd);
	c->fd = -1;
	evbuffer_free(c->out);
	c->out = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	atomic_fetch_sub(&w->h->n_conns, 1);
	if (w->h->hooks.conn != NULL)
		w->h->hooks.conn(w->arg, -1);
	if (c->state == C_BUSY)
		c->dead = true;
	else
		conn_free(c);
}

/* Set the connection's deadline to `t` from now (NULL: none).  The timer
 * event is moved only when the deadline comes earlier than it fires: a
 * request moves the deadline three times (its first byte, the handler,
 * the answer), and re-adding the event each time cost more than the rest
 * of the bookkeeping of a request.  An event that fires before the
 * deadline is re-added for the time left (timer_cb). */
static void
timer_set(struct http_conn *c, const struct timeout *t)
{
	if (t == NULL) {
		c->deadline = 0;
		return;
	}
	c->deadline = now_s() + t->s;
	if (c->armed == 0 || c->deadline < c->armed) {
		event_add(c->timer, t->tv);
		c->armed = c->deadline;
	}
}

/* Reset the per-request state for the next request. */
static void
req_reset(struct http_conn *c)
{
	c->fail = 0;
	c->fail_why = NULL;
	c->url_len = c->hdr_bytes = 0;
	c->n_headers = c->n_cl = c->n_te = c->n_host = c->n_ctype = 0;
	c->kind = H_OTHER;
	c->in_value = false;
	c->field_len = c->val_len = 0;
	c->val_long = false;
	c->te_chunked = c->expect_continue = c->expect_bad = c->cl_bad = c->msg_done = false;
	c->body_len = 0;
	memset(&c->req, 0, sizeof c->req);
}

/* ---- Answers ---- */

static const char *
date_now(struct worker *w)
{
	time_t t = time(NULL);

	if (t != w->date_at) {
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w->date_at = t;
	}
	return w->date;
}

/* An answer's head being put together: bytes, and whether they fitted. */
struct head {
	char b[4096];
	size_t n;
	bool over;
};

static void
head_put(struct head *h, const void *s, size_t len)
{
	if (len > sizeof h->b - h->n) {
		h->over = true;
		return;
	}
	memcpy(h->b + h->n, s, len);
	h->n += len;
}

static void
head_str(struct head *h, const char *s)
{
	head_put(h, s, strlen(s));
}

static void
head_num(struct head *h, size_t v)
{
	char d[24];
	size_t i = sizeof d;

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	head_put(h, d + i, sizeof d - i);
}

/* Put the status line and headers of an answer together in h, and after
 * them the body (body[0..len), NULL: none) when it fits.  Returns 0 or -1;
 * *body_in says whether the body went in too. */
static int
head_make(struct http_conn *c, struct head *h, int status, const char *ctype, const char *headers,
    size_t len, bool keep, const void *body, bool *body_in)
{
	/* Built by hand, not by printf: this is on every answer's path. */
	h->n = 0;
	h->over = false;
	*body_in = false;
	head_str(h, "HTTP/1.1 ");
	head_num(h, (size_t)status);
	head_str(h, " ");
	head_str(h, http_reason(status));
	head_str(h, "\r\nDate: ");
	head_str(h, date_now(c->w));
	head_str(h, "\r\nContent-Type: ");
	head_str(h, ctype);
	head_str(h, "\r\nContent-Length: ");
	head_num(h, len);
	head_str(h, "\r\n");
	if (headers != NULL)
		head_str(h, headers);
	if (!keep)
		head_str(h, "Connection: close\r\n");
	else if (c->p.http_minor == 0)
		head_str(h, "Connection: keep-alive\r\n");
	head_str(h, "\r\n");
	/* The head alone must fit what it always had (under 512 bytes). */
	if (h->over || h->n >= 512)
		return -1;
	if (body != NULL && len > 0 && len <= sizeof h->b - h->n) {
		head_put(h, body, len);
		*body_in = true;
	}
	return 0;
}

/* Queue h's bytes, or send them at once when they are the connection's
 * whole output and no pipelined request waits behind this one: a lone
 * answer then costs one send from where it was put together, with no copy
 * into the output buffer.  (A pipelined run is still answered in one write
 * by conn_flush.)  What the kernel does not take, or refuses, is queued,
 * and conn_flush deals with it as with any output.  Returns 0 or -1. */
static int
head_out(struct http_conn *c, const struct head *h)
{
	size_t off = 0;

	if (evbuffer_get_length(c->out) == 0 && !c->writing && c->in_off == c->in_len) {
		ssize_t n;

		do
			n = send(c->fd, h->b, h->n, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			off = (size_t)n;
	}
	if (off == h->n)
		return 0;
	return evbuffer_add(c->out, h->b + off, h->n - off);
}

/* After an answer is queued: count it, move on to the next request. */
static void
answered(struct http_conn *c, int status, bool keep)
{
	struct worker *w = c->w;

	if (w->h->hooks.replied != NULL)
		w->h->hooks.replied(w->arg, status, now_s() - c->req.t0);
	if (!keep)
		c->closing = true;
	c->state = C_WAIT;
	c->fresh = false;
	req_reset(c);
}

static bool
keep_alive(struct http_conn *c, bool close_after)
{
	return !close_after && !c->closing && !c->over && c->msg_done && !c->p.upgrade &&
	    http_should_keep_alive(&c->p);
}

/* The reply once the connection is known to be alive. */
static void
reply_live(struct http_conn *c, int status, const char *ctype, const char *headers,
    const void *body, size_t len, struct evbuffer *buf, bool close_after)
{
	bool keep = keep_alive(c, close_after);
	bool head = c->req.method == HTTP_V_HEAD;
	size_t blen = buf != NULL ? evbuffer_get_length(buf) : len;
	struct head h;
	bool queued;

	if (head_make(c, &h, status, ctype, headers, blen, keep, head || buf != NULL ? NULL : body,
	        &queued) != 0) {
		keep = false;
	} else if (!head && !queued) {
		if (evbuffer_add(c->out, h.b, h.n) != 0)
			keep = false;
		if (buf != NULL)
			evbuffer_add_buffer(c->out, buf);
		else if (len > 0 && evbuffer_add(c->out, body, len) != 0)
			keep = false;
	} else if (head_out(c, &h) != 0) {
		keep = false;
	}
	if (buf != NULL)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	answered(c, status, keep);
}

static void
reply_any(struct http_req *req, int status, const char *ctype, const char *headers,
    const void *body, size_t len, struct evbuffer *buf, bool close_after)
{
	struct http_conn *c = req->conn;
	bool async = !c->in_handler;

	if (c->dead) {
		/* The peer went away while the handler worked. */
		struct worker *w = c->w;

		if (w->h->hooks.replied != NULL)
			w->h->hooks.replied(w->arg, status, now_s() - req->t0);
		if (buf != NULL)
			evbuffer_drain(buf, evbuffer_get_length(buf));
		conn_free(c);
		return;
	}
	reply_live(c, status, ctype, headers, body, len, buf, close_after);
	/* An answer from the completion queue: carry on with what came in
	 * meanwhile and send it all.  (Synchronous answers are sent by the
	 * read callback, after the whole pipelined run.) */
	if (async && conn_process(c))
		conn_flush(c);
}

void
http_reply(struct http_req *req, int status, const char *ctype, const char *headers,
    const void *body, size_t len, bool close_after)
{
	reply_any(req, status, ctype, headers, body, len, NULL, close_after);
}

void
http_reply_buffer(
    struct http_req *req, int status, const char *ctype, const char *headers, struct evbuffer *buf)
{
	reply_any(req, status, ctype, headers, NULL, 0, buf, false);
}

/* A refusal by the layer: one line, then close. */
static void __attribute__((format(printf, 4, 5)))
refuse(struct http_conn *c, int status, enum http_refusal why, const char *fmt, ...)
{
	struct worker *w = c->w;
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (w->h->hooks.refused != NULL)
		w->h->hooks.refused(w->arg, why);
	if (c->req.t0 == 0)
		c->req.t0 = now_s();
	c->closing = true;
	reply_live(c, status, "text/plain; charset=utf-8",
	    status == 503 ? "Retry-After: 1\r\n" : NULL, line, (size_t)n, NULL, true);
}

/* ---- Output ---- */

/* Half-close and drain what the peer still sends, so that the last answer
 * is not destroyed by a reset; close on EOF or after LINGER_SEC. */
static void
conn_linger(struct http_conn *c)
{
	c->state = C_LINGER;
	shutdown(c->fd, SHUT_WR);
	if (c->reading_off) {
		event_add(c->rd, NULL);
		c->reading_off = false;
	}
	timer_set(c, &c->w->t_linger);
}

/* Send what is queued.  Returns false if the connection is gone. */
static bool
conn_flush(struct http_conn *c)
{
	size_t left;

	while ((left = evbuffer_get_length(c->out)) > 0) {
		int n = evbuffer_write(c->out, c->fd);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_close(c);
			return false;
		}
		if ((size_t)n < left)
			break; /* the kernel took what it could */
	}
	left = evbuffer_get_length(c->out);
	if (left > 0) {
		if (!c->writing) {
			event_add(c->wr, NULL);
			c->writing = true;
		}
		if (c->state != C_BUSY)
			timer_set(c, &c->w->t_idle);
		return true;
	}
	if (c->writing) {
		event_del(c->wr);
		c->writing = false;
	}
	if (c->closing && c->state != C_BUSY && c->state != C_LINGER)
		conn_linger(c);
	return true;
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (!conn_flush(c))
		return;
	/* Output drained: parse what was held back. */
	if (!c->writing && c->state != C_LINGER && conn_process(c))
		conn_flush(c);
}

/* ---- Parsing ---- */

static struct http_conn *
conn_of(http_parser *p)
{
	return p->data;
}

static int
fail_cb(struct http_conn *c, int status, const char *why)
{
	c->fail = status;
	c->fail_why = why;
	return 1;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);
	const struct http_limits *lim = &c->w->h->lim;

	if (len > lim->max_url - c->url_len)
		return fail_cb(c, 414, "request-target too long");
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->hdr_bytes += len;
	return 0;
}

/* The header just completed (field and value), if it is one we read. */
static int
header_end(struct http_conn *c)
{
	char *v = c->val;
	size_t n = c->val_len;

	if (c->kind == H_OTHER)
		return 0;
	/* Optional whitespace around the value is not part of it. */
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	v[n] = '\0';
	switch (c->kind) {
	case H_CONTENT_LENGTH:
		c->n_cl++;
		/* One canonical decimal: http-parser also takes leading zeros. */
		if (c->val_long || n == 0 || (n > 1 && v[0] == '0'))
			c->cl_bad = true;
		break;
	case H_TRANSFER_ENCODING:
		c->n_te++;
		c->te_chunked = !c->val_long && strcasecmp(v, "chunked") == 0;
		break;
	case H_CONTENT_TYPE:
		c->n_ctype++;
		if (c->val_long)
			return fail_cb(c, 400, "Content-Type too long");
		memcpy(c->ctype, v, n + 1);
		break;
	case H_HOST:
		c->n_host++;
		break;
	case H_EXPECT:
		if (!c->val_long && strcasecmp(v, "100-continue") == 0)
			c->expect_continue = true;
		else
			c->expect_bad = true;
		break;
	case H_OTHER:
		break;
	}
	return 0;
}

static int
hdr_count(struct http_conn *c, size_t len)
{
	const struct http_limits *lim = &c->w->h->lim;

	if (len > lim->max_headers || c->hdr_bytes > lim->max_headers - len)
		return fail_cb(c, 431, "request headers too large");
	c->hdr_bytes += len;
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (hdr_count(c, len + 4) != 0)
		return 1;
	if (c->in_value || c->n_headers == 0) {
		if (c->in_value && header_end(c) != 0)
			return 1;
		if (++c->n_headers > MAX_HEADERS)
			return fail_cb(c, 431, "more than 100 request headers");
		c->in_value = false;
		c->field_len = 0;
		c->val_len = 0;
		c->val_long = false;
	}
	if (len > sizeof c->field - 1 - c->field_len) {
		c->field_len = sizeof c->field; /* no header we read is this long */
	} else {
		memcpy(c->field + c->field_len, at, len);
		c->field_len += len;
	}
	return 0;
}

static enum hdr_kind
hdr_kind(const char *f, size_t n)
{
	static const struct {
		const char *name;
		enum hdr_kind kind;
	} known[] = {
	    {"content-length", H_CONTENT_LENGTH},
	    {"transfer-encoding", H_TRANSFER_ENCODING},
	    {"content-type", H_CONTENT_TYPE},
	    {"host", H_HOST},
	    {"expect", H_EXPECT},
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strlen(known[i].name) == n && strncasecmp(f, known[i].name, n) == 0)
			return known[i].kind;
	}
	return H_OTHER;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (hdr_count(c, len) != 0)
		return 1;
	if (!c->in_value) {
		c->in_value = true;
		c->kind = c->field_len <= sizeof c->field - 1 ? hdr_kind(c->field, c->field_len)
		                                              : H_OTHER;
	}
	if (c->kind == H_OTHER)
		return 0;
	if (len > sizeof c->val - 1 - c->val_len)
		c->val_long = true;
	else {
		memcpy(c->val + c->val_len, at, len);
		c->val_len += len;
	}
	return 0;
}

static enum http_verb
method_of(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return HTTP_V_GET;
	case HTTP_HEAD:
		return HTTP_V_HEAD;
	case HTTP_POST:
		return HTTP_V_POST;
	}
	return HTTP_V_OTHER;
}

static int
on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	const struct http_limits *lim = &c->w->h->lim;

	if (c->in_value && header_end(c) != 0)
		return -1;
	c->in_value = false;
	if (p->http_major != 1) {
		fail_cb(c, 505, "only HTTP/1.0 and HTTP/1.1 are served");
		return -1;
	}
	if (c->cl_bad || c->n_cl > 1) {
		fail_cb(c, 400, "malformed or repeated Content-Length");
		return -1;
	}
	if (c->n_te > 0 && c->n_cl > 0) {
		fail_cb(c, 400, "Transfer-Encoding together with Content-Length");
		return -1;
	}
	if (c->n_te > 1 || (c->n_te == 1 && !c->te_chunked)) {
		fail_cb(c, 400, "the only transfer coding served is a single \"chunked\"");
		return -1;
	}
	if (p->http_minor >= 1 && c->n_host != 1) {
		fail_cb(c, 400, "an HTTP/1.1 request needs exactly one Host header");
		return -1;
	}
	if (c->n_ctype > 1) {
		fail_cb(c, 400, "repeated Content-Type");
		return -1;
	}
	if (c->expect_bad) {
		fail_cb(c, 417, "the only expectation served is 100-continue");
		return -1;
	}
	if (p->method == HTTP_POST && c->n_cl == 0 && c->n_te == 0) {
		fail_cb(c, 411, "a POST needs Content-Length (or chunked encoding)");
		return -1;
	}
	/* The one route with a larger cap, matched on the path before any
	 * '?' (the target is complete by now). */
	c->body_max = lim->max_body;
	if (lim->big_body_path != NULL) {
		size_t n = strlen(lim->big_body_path);

		if (c->url_len >= n && memcmp(c->url, lim->big_body_path, n) == 0 &&
		    (c->url_len == n || c->url[n] == '?'))
			c->body_max = lim->big_body_max;
	}
	if (c->n_cl == 1 && p->content_length > c->body_max) {
		fail_cb(c, 413, "request body too large");
		return -1;
	}
	if (c->n_cl == 1 && p->content_length > 0 && p->content_length > c->body_cap) {
		uint8_t *b = realloc(c->body, (size_t)p->content_length);

		if (b == NULL) {
			fail_cb(c, 503, "out of memory");
			return -1;
		}
		c->body = b;
		c->body_cap = (size_t)p->content_length;
	}
	if (c->expect_continue && p->http_minor >= 1 && (c->n_cl == 0 || p->content_length > 0))
		evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (len > c->body_max - c->body_len)
		return fail_cb(c, 413, "request body too large");
	if (len > c->body_cap - c->body_len) {
		/* Chunked: grow by doubling, up to the cap. */
		size_t cap = c->body_cap > 0 ? c->body_cap : 4096;
		uint8_t *b;

		while (cap - c->body_len < len)
			cap *= 2;
		if (cap > c->body_max)
			cap = c->body_max;
		if ((b = realloc(c->body, cap)) == NULL)
			return fail_cb(c, 503, "out of memory");
		c->body = b;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);

	c->msg_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Is s[0..n) a method token followed by a space (RFC 9110 tchar)? */
static bool
looks_like_method(const uint8_t *s, size_t n)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t i;

	for (i = 0; i < n && i < 32; i++) {
		unsigned char ch = s[i];

		if (ch == ' ')
			return i > 0;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		        (ch >= '0' && ch <= '9') || (ch != '\0' && strchr(tchar, ch) != NULL)))
			return false;
	}
	return false;
}

/* Does the request line in s[0..n) end in an HTTP version other than 1.x
 * (e.g. the HTTP/2 preface, "PRI * HTTP/2.0")? */
static bool
other_version(const uint8_t *s, size_t n)
{
	const uint8_t *e = memchr(s, '\r', n);

	if (e == NULL || e - s < 8)
		return false;
	return memcmp(e - 8, "HTTP/", 5) == 0 && e[-3] != '1' && e[-3] >= '0' && e[-3] <= '9' &&
	    e[-2] == '.';
}

/* A parser error: answer it and close. */
static void
parse_failed(struct http_conn *c, const uint8_t *start, size_t n)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->p);

	if (c->fail != 0) {
		refuse(c, c->fail,
		    c->fail == 505 || c->fail == 411 || c->fail == 417 || c->fail == 400 ||
		            c->fail == 503
		        ? HTTP_REFUSE_BAD_REQUEST
		        : HTTP_REFUSE_TOO_BIG,
		    "%s", c->fail_why);
		return;
	}
	switch (e) {
	case HPE_INVALID_METHOD:
		if (other_version(start, n))
			refuse(c, 505, HTTP_REFUSE_BAD_REQUEST,
			    "only HTTP/1.0 and HTTP/1.1 are served");
		else if (looks_like_method(start, n))
			refuse(c, 501, HTTP_REFUSE_BAD_REQUEST, "unknown method");
		else
			refuse(c, 400, HTTP_REFUSE_BAD_REQUEST, "not an HTTP request");
		return;
	case HPE_HEADER_OVERFLOW:
		refuse(c, 431, HTTP_REFUSE_TOO_BIG, "request headers too large");
		return;
	case HPE_INVALID_CONTENT_LENGTH:
		refuse(c, 400, HTTP_REFUSE_BAD_REQUEST, "malformed Content-Length");
		return;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		refuse(c, 400, HTTP_REFUSE_BAD_REQUEST,
		    "repeated Content-Length, or Content-Length with Transfer-Encoding");
		return;
	case HPE_INVALID_VERSION:
		refuse(c, 505, HTTP_REFUSE_BAD_REQUEST, "only HTTP/1.0 and HTTP/1.1 are served");
		return;
	default:
		refuse(c, 400, HTTP_REFUSE_BAD_REQUEST, "malformed request: %s",
		    http_errno_description(e));
	}
}

static void
dispatch(struct http_conn *c)
{
	struct http_req *r = &c->req;
	struct http *h = c->w->h;
	char *q;

	c->url[c->url_len] = '\0';
	/* path: a copy up to '?', after the target in the same buffer. */
	q = memchr(c->url, '?', c->url_len);
	c->path = c->url + c->url_len + 1;
	if (q != NULL) {
		memcpy(c->path, c->url, (size_t)(q - c->url));
		c->path[q - c->url] = '\0';
		r->query = q + 1;
		r->query_len = c->url_len - (size_t)(q + 1 - c->url);
	} else {
		memcpy(c->path, c->url, c->url_len + 1);
	}
	r->method = method_of(c->p.method);
	r->method_name = http_method_str((enum http_method)c->p.method);
	r->target = c->url;
	r->path = c->path;
	r->content_type = c->n_ctype > 0 ? c->ctype : NULL;
	r->body = c->body_len > 0 ? c->body : NULL;
	r->body_len = c->body_len;
	r->peer = (const struct sockaddr *)&c->peer;
	r->thread = c->w->id;
	r->conn = c;
	if (c->over) {
		refuse(
		    c, 503, HTTP_REFUSE_TOO_MANY_CONNECTIONS, "too many connections; retry later");
		return;
	}
	c->state = C_BUSY;
	timer_set(c, NULL);
	c->in_handler = true;
	h->fn(c->w->arg, r);
	c->in_handler = false;
}

/* Parse and answer what the input buffer holds, one request at a time.
 * Returns false if the connection is gone. */
static bool
conn_process(struct http_conn *c)
{
	while (c->state != C_BUSY && c->state != C_LINGER && !c->closing && c->in_off < c->in_len &&
	    evbuffer_get_length(c->out) <= OUT_HIGH) {
		const uint8_t *start = c->in + c->in_off;
		size_t avail = c->in_len - c->in_off, n;

		if (c->state == C_WAIT) {
			c->state = C_READING;
			if (c->req.t0 == 0)
				c->req.t0 = now_s();
			if (!c->fresh)
				timer_set(c, &c->w->t_request);
		}
		n = http_parser_execute(&c->p, &settings, (const char *)start, avail);
		c->in_off += n;
		if (HTTP_PARSER_ERRNO(&c->p) == HPE_PAUSED) {
			http_parser_pause(&c->p, 0);
			dispatch(c);
			continue;
		}
		if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK) {
			parse_failed(c, start, avail);
			break;
		}
		if (c->p.http_major == 0 && c->p.http_minor == 9) {
			refuse(c, 505, HTTP_REFUSE_BAD_REQUEST, "HTTP/0.9 is not served");
			break;
		}
		if (c->p.upgrade && !c->msg_done) {
			/* CONNECT or Upgrade ended the parse early. */
			refuse(c, 400, HTTP_REFUSE_BAD_REQUEST, "protocol upgrades are not served");
			break;
		}
	}
	if (c->state == C_BUSY)
		return true;
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0 && c->in_len - c->in_off < IN_CAP / 2) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->state == C_WAIT && !c->closing)
		timer_set(c, &c->w->t_idle);
	if (c->peer_eof && c->state != C_LINGER && !c->closing) {
		/* Nothing more will come: send what is answered, then close (a
		 * partial request is abandoned). */
		if (evbuffer_get_length(c->out) == 0) {
			conn_close(c);
			return false;
		}
		c->closing = true;
	}
	/* Room to read again, if reading was paused for a full buffer. */
	if (c->reading_off && c->in_len < IN_CAP && !c->peer_eof) {
		event_add(c->rd, NULL);
		c->reading_off = false;
	}
	return true;
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	ssize_t n;

	(void)what;
	if (c->state == C_LINGER) {
		uint8_t sink[4096];

		n = read(fd, sink, sizeof sink);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (c->in_len == IN_CAP && c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == IN_CAP) {
		/* Full while a request is being answered: wait for it. */
		event_del(c->rd);
		c->reading_off = true;
		return;
	}
	/* recv, not read: the socket call, without the file layer's checks. */
	n = recv(fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		c->peer_eof = true;
		event_del(c->rd);
		c->reading_off = true;
		if (c->state == C_BUSY)
			return; /* answer it, then close */
	} else {
		c->in_len += (size_t)n;
	}
	if (conn_process(c))
		conn_flush(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	double now;

	(void)fd;
	(void)what;
	c->armed = 0;
	if (c->deadline == 0)
		return; /* none since the event was added */
	if ((now = now_s()) < c->deadline) {
		struct timeval tv = tv_of(c->deadline - now);

		event_add(c->timer, &tv);
		c->armed = c->deadline;
		return;
	}
	c->deadline = 0;
	switch (c->state) {
	case C_BUSY:
		return; /* the server is working on it */
	case C_READING:
		refuse(c, 408, HTTP_REFUSE_TIMEOUT, "request not received in time");
		conn_flush(c);
		return;
	case C_WAIT:
		if (evbuffer_get_length(c->out) == 0 && c->fresh) {
			/* A new connection that never sent a request. */
			if (c->w->h->hooks.refused != NULL)
				c->w->h->hooks.refused(c->w->arg, HTTP_REFUSE_TIMEOUT);
		}
		conn_close(c); /* idle, or the peer does not read */
		return;
	case C_LINGER:
		conn_close(c);
		return;
	}
}

/* ---- Accepting ---- */

static void
conn_start(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct http *h = w->h;
	struct http_conn *c = calloc(1, sizeof *c);
	unsigned n;

	if (c == NULL || (c->url = malloc(2 * (h->lim.max_url + 1))) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->peer = *peer;
	c->fresh = true;
	c->state = C_WAIT;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	c->rd = event_new(w->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->wr = event_new(w->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	c->timer = evtimer_new(w->base, timer_cb, c);
	c->out = evbuffer_new();
	if (c->rd == NULL || c->wr == NULL || c->timer == NULL || c->out == NULL ||
	    event_add(c->rd, NULL) != 0) {
		if (c->rd != NULL)
			event_free(c->rd);
		if (c->wr != NULL)
			event_free(c->wr);
		if (c->timer != NULL)
			event_free(c->timer);
		if (c->out != NULL)
			evbuffer_free(c->out);
		close(fd);
		conn_free(c);
		return;
	}
	n = atomic_fetch_add(&h->n_conns, 1) + 1;
	c->over = n > h->lim.max_conns;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	if (h->hooks.conn != NULL)
		h->hooks.conn(w->arg, 1);
	/* The first request's deadline runs from the connection. */
	timer_set(c, &w->t_request);
}

static void
adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	for (;;) {
		struct handoff ho;

		pthread_mutex_lock(&w->mu);
		if (w->q_len == 0) {
			pthread_mutex_unlock(&w->mu);
			return;
		}
		ho = w->queue[--w->q_len];
		pthread_mutex_unlock(&w->mu);
		conn_start(w, ho.fd, &ho.peer);
	}
}

static void
handoff(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	bool ok = true;

	pthread_mutex_lock(&w->mu);
	if (w->q_len == w->q_cap) {
		size_t cap = w->q_cap > 0 ? w->q_cap * 2 : 64;
		struct handoff *q = realloc(w->queue, cap * sizeof *q);

		if (q == NULL)
			ok = false;
		else {
			w->queue = q;
			w->q_cap = cap;
		}
	}
	if (ok)
		w->queue[w->q_len++] = (struct handoff){fd, *peer};
	pthread_mutex_unlock(&w->mu);
	if (!ok) {
		close(fd);
		return;
	}
	event_active(w->adopt, EV_READ, 0);
}

static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct http *h = arg;

	(void)what;
	for (int i = 0; i < ACCEPT_RUN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct worker *w;

		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: try again next time */
		w = &h->w[h->next++ % h->n];
		if (w == &h->w[0])
			conn_start(w, fd, &ss);
		else
			handoff(w, fd, &ss);
	}
}

/* ---- Setup ---- */

int
http_new(const struct http_limits *lim, int listen_fd, unsigned n, struct event_base *const *bases,
    http_handler_fn fn, const struct http_hooks *hooks, void *const *args, struct http **out,
    char *why)
{
	struct http *h;

	*out = NULL;
	if (n == 0 || lim->max_url == 0 || lim->max_headers == 0) {
		close(listen_fd);
		return cl_why(why, EINVAL, "http: bad limits");
	}
	if ((h = calloc(1, sizeof *h)) == NULL || (h->w = calloc(n, sizeof *h->w)) == NULL) {
		free(h);
		close(listen_fd);
		return cl_why(why, ENOMEM, "out of memory");
	}
	h->lim = *lim;
	h->fn = fn;
	if (hooks != NULL)
		h->hooks = *hooks;
	h->listen_fd = listen_fd;
	h->n = n;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &h->w[i];
		struct timeval tr = tv_of(lim->request_timeout), ti = tv_of(lim->idle_timeout),
		               tl = tv_of(LINGER_SEC);

		w->h = h;
		w->id = i;
		w->base = bases[i];
		w->arg = args[i];
		pthread_mutex_init(&w->mu, NULL);
		w->t_request.tv = event_base_init_common_timeout(bases[i], &tr);
		w->t_request.s = lim->request_timeout;
		w->t_idle.tv = event_base_init_common_timeout(bases[i], &ti);
		w->t_idle.s = lim->idle_timeout;
		w->t_linger.tv = event_base_init_common_timeout(bases[i], &tl);
		w->t_linger.s = LINGER_SEC;
		w->adopt = event_new(bases[i], -1, 0, adopt_cb, w);
		if (w->t_request.tv == NULL || w->t_idle.tv == NULL || w->t_linger.tv == NULL ||
		    w->adopt == NULL) {
			http_free(h);
			return cl_why(why, ENOMEM, "libevent: cannot create events");
		}
	}
	h->accept_ev = event_new(bases[0], listen_fd, EV_READ | EV_PERSIST, accept_cb, h);
	if (h->accept_ev == NULL || event_add(h->accept_ev, NULL) != 0) {
		http_free(h);
		return cl_why(why, ENOMEM, "libevent: cannot watch the listening socket");
	}
	*out = h;
	return 0;
}

void
http_stop(struct http *h)
{
	if (h == NULL || h->listen_fd < 0)
		return;
	if (h->accept_ev != NULL) {
		event_free(h->accept_ev);
		h->accept_ev = NULL;
	}
	close(h->listen_fd);
	h->listen_fd = -1;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	http_stop(h);
	for (unsigned i = 0; h->w != NULL && i < h->n; i++) {
		struct worker *w = &h->w[i];

		while (w->conns != NULL) {
			struct http_conn *c = w->conns;

			c->state = C_WAIT; /* nothing answers it any more */
			conn_close(c);
		}
		for (size_t j = 0; j < w->q_len; j++)
			close(w->queue[j].fd);
		free(w->queue);
		if (w->adopt != NULL)
			event_free(w->adopt);
		pthread_mutex_destroy(&w->mu);
	}
	free(h->w);
	free(h);
}
