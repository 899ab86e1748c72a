/*
 * http.h: an HTTP/1.1 server connection layer on libevent, with its limits
 * enforced natively.  Generic: it knows no closurelog route, so that other
 * servers (a witness, a mirror) can reuse it.
 *
 * One listening socket; the thread of bases[0] accepts and hands each
 * connection to the next thread in turn (round robin), where it lives
 * until it closes.  Requests are parsed with the packaged http-parser.
 * Each connection carries one request at a time: a pipelined run of
 * requests is parsed and answered in order, and all the answers produced
 * in one turn of the loop leave in one write.
 *
 * What the layer refuses by itself, each with one text/plain line and
 * then closing the connection (the handler never sees these):
 *   400  malformed request line, header or chunked body; a Content-Length
 *        that is not one canonical decimal, repeated, or sent together with
 *        Transfer-Encoding; a Transfer-Encoding other than "chunked"; a
 *        missing or repeated Host in HTTP/1.1; garbage that is no request
 *   408  a request not received in full within request_timeout of its
 *        first byte (a new connection: of its acceptance)
 *   411  a POST with neither Content-Length nor chunked encoding
 *   413  a body above max_body (big_body_max on big_body_path), refused
 *        before it is read when its length is declared
 *   414  a request-target above max_url
 *   417  an Expect other than 100-continue
 *   431  request line and headers above max_headers, or over 100 headers
 *   501  a method token that is no known HTTP method
 *   503  the connection is beyond max_conns (answered to its first request)
 *   505  a version other than HTTP/1.x
 * An idle keep-alive connection is closed quietly after idle_timeout; so
 * is one whose peer does not read its answers within idle_timeout.
 *
 * Threads: every function below runs on the thread that owns what it is
 * given (a request's connection, or bases[0] for http_stop), except where
 * it says otherwise.
 */
#ifndef CL_HTTP_H
#define CL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

struct http;
struct http_conn;

struct http_limits {
	unsigned max_conns;        /* open connections, all threads together */
	double request_timeout;    /* seconds: a request's first byte to its last */
	double idle_timeout;       /* seconds: keep-alive idle, or a peer not reading */
	size_t max_url;            /* bytes of the request-target */
	size_t max_headers;        /* bytes of the request line and headers */
	size_t max_body;           /* bytes of a body, declared or chunked */
	const char *big_body_path; /* NULL, or the one path (exact, query aside)
				    * whose bodies may reach big_body_max */
	size_t big_body_max;
};

enum http_verb {
	HTTP_V_GET,
	HTTP_V_HEAD,
	HTTP_V_POST,
	HTTP_V_OTHER, /* a known method this layer does not serve itself (PUT...) */
};

/* A request, as the handler gets it.  Owned by its connection; valid from
 * the handler call until the one http_reply for it. */
struct http_req {
	enum http_verb method;
	const char *method_name; /* "GET", "PUT", ... */
	const char *target;      /* the request-target as sent, NUL-terminated */
	const char *path;        /* the target up to '?' (NUL-terminated copy) */
	const char *query;       /* after the first '?', or NULL if none */
	size_t query_len;
	const char *content_type; /* the Content-Type value, or NULL if none */
	const uint8_t *body;      /* body bytes (NULL when body_len is 0) */
	size_t body_len;
	const struct sockaddr *peer; /* the client's address */
	unsigned thread;             /* index of the thread serving it */
	double t0;                   /* monotonic seconds at its first byte */
	struct http_conn *conn;
};

/* Called on the connection's thread for every request that passed the
 * layer's checks.  It must lead to exactly one http_reply for req, now or
 * later on the same thread (e.g. after other threads did the work). */
typedef void (*http_handler_fn)(void *arg, struct http_req *req);

/* Why the layer refused a request by itself (http.h's list above). */
enum http_refusal {
	HTTP_REFUSE_BAD_REQUEST,          /* 400, 411, 417, 501, 505 */
	HTTP_REFUSE_TOO_BIG,              /* 413, 414, 431 */
	HTTP_REFUSE_TIMEOUT,              /* 408, or a new connection sent nothing in time */
	HTTP_REFUSE_TOO_MANY_CONNECTIONS, /* 503 */
};

/* Observers, each called on the thread concerned with that thread's arg;
 * any may be NULL. */
struct http_hooks {
	/* A connection was accepted onto this thread (+1) or closed (-1). */
	void (*conn)(void *arg, int delta);
	/* A final answer was queued: every request, refusals included. */
	void (*replied)(void *arg, int status, double seconds);
	/* The layer refused a request (or a connection) by itself. */
	void (*refused)(void *arg, enum http_refusal why);
};

/* Serve on listen_fd (bound, listening, non-blocking) with n threads, one
 * per event base bases[0..n); the caller runs each base's loop on its own
 * thread.  args[i] is passed to the handler and hooks for thread i.  The
 * layer takes listen_fd (closed by http_stop or http_free, also when
 * http_new fails); lim, hooks, bases and args are copied or borrowed and
 * must outlive the server.  Returns 0, or an errno with a reason in why
 * (CL_WHY_MAX bytes). */
int http_new(const struct http_limits *lim, int listen_fd, unsigned n,
    struct event_base *const *bases, http_handler_fn fn, const struct http_hooks *hooks,
    void *const *args, struct http **out, char *why);

/* Answer req: status, Content-Type, extra header lines (each ending in
 * "\r\n"; NULL for none) and the body (copied; for HEAD only its length
 * is sent).  close_after asks to close the connection after this answer.
 * After it, req is gone. */
void http_reply(struct http_req *req, int status, const char *ctype, const char *headers,
    const void *body, size_t len, bool close_after);

/* Like http_reply, with the body taken from buf (drained, not freed). */
void http_reply_buffer(
    struct http_req *req, int status, const char *ctype, const char *headers, struct evbuffer *buf);

/* The reason phrase for a status ("Not Found"), "Error" if unknown. */
const char *http_reason(int status);

/* On bases[0]'s thread: stop accepting and close the listening socket.
 * Open connections keep being served.  Idempotent. */
void http_stop(struct http *h);

/* Close every connection and free everything.  Call after every base's
 * loop has returned.  NULL is fine. */
void http_free(struct http *h);

#endif
