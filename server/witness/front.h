/*
 * front.h: closurelog-witness's HTTP front end, a thin libevent evhttp
 * binding of the witness core (witness.h): it moves request bodies in and
 * answers out and holds no witness logic, so that it can be moved onto
 * another connection layer without touching the core.
 *
 * Routes:
 *   POST /add-checkpoint               wit_add_checkpoint (C2SP tlog-witness)
 *   GET  /<hex SHA-256(origin)>/checkpoint   latest cosigned checkpoint, or 404
 *   GET  /metrics                      Prometheus text
 * Any other request gets a one-line text/plain 4xx.
 */
#ifndef CL_WITNESS_FRONT_H
#define CL_WITNESS_FRONT_H

#include <event2/event.h>

#include "witness.h"

#define WFRONT_TIMEOUT 30 /* seconds a connection may idle or take to send a request */

struct wfront;

/* Serve the witness w on the listening socket fd (owned by the front end
 * from now on, closed by wfront_free) in base.  w is borrowed and must
 * outlive the front end.  Returns 0 and *out, or ENOMEM with why. */
int wfront_new(
    struct event_base *base, evutil_socket_t fd, struct wit *w, struct wfront **out, char *why);

/* Stop serving and free.  NULL is fine. */
void wfront_free(struct wfront *f);

#endif
