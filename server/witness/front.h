/*
 * front.h: closurelog-witness's HTTP front end, a thin binding of the
 * witness core (witness.h) to the connection layer closurelogd uses
 * (http.h): it moves request bodies in and answers out and holds no
 * witness logic.  The layer gives the witness closurelogd's hostile-input
 * discipline: a connection cap, request and idle deadlines, header and
 * body caps, and one text/plain line for every refusal.
 *
 * Routes:
 *   POST /add-checkpoint               wit_add_checkpoint (C2SP tlog-witness)
 *   GET  /<hex SHA-256(origin)>/checkpoint   latest cosigned checkpoint, or 404
 *   GET  /metrics                      Prometheus text
 * Any other request gets a one-line text/plain 4xx (405 with Allow for a
 * wrong method).  add-checkpoint takes any Content-Type: the spec names
 * none.
 */
#ifndef CL_WITNESS_FRONT_H
#define CL_WITNESS_FRONT_H

#include <event2/event.h>

#include "http.h"
#include "witness.h"

#define WFRONT_MAX_CONNS       256   /* default --max-conns */
#define WFRONT_REQUEST_TIMEOUT 10    /* default --request-timeout, seconds */
#define WFRONT_IDLE_TIMEOUT    30    /* default --idle-timeout, seconds */
#define WFRONT_URL_MAX         1024  /* request-target bytes; our longest path is 76 */
#define WFRONT_HEADERS_MAX     16384 /* request line and headers, bytes */

struct wfront;

/* Serve the witness w on the listening socket fd (bound, listening,
 * non-blocking; owned by the front end from now on, also when this fails)
 * on base's thread, with the connection limits lim (its max_body is
 * ignored: bodies are capped at WIT_BODY_MAX).  w and base are borrowed
 * and must outlive the front end.  Returns 0 and *out, or an errno with
 * why. */
int wfront_new(struct event_base *base, int fd, struct wit *w, const struct http_limits *lim,
    struct wfront **out, char *why);

/* Stop accepting connections (open ones are still served).  NULL is
 * fine. */
void wfront_stop(struct wfront *f);

/* Close every connection and free.  Call after base's loop returned.
 * NULL is fine. */
void wfront_free(struct wfront *f);

#endif
