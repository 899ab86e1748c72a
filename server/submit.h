/*
 * submit.h: POST /v1/entries.  The body is handed to the log (log.h) and
 * the request is answered from this thread's completion queue once the
 * log has committed the entry durably and signed a checkpoint over it.
 */
#ifndef CL_SUBMIT_H
#define CL_SUBMIT_H

#include "route.h"

/* Take a submission: checks Content-Type (415) and size (400, 413), then
 * queues it on the log; the answer comes through sub_drain. */
void sub_post(struct rt *t, struct http_req *req);

/* Answer every submission the log has finished for this thread (the
 * callback of t->wake, which the log threads activate). */
void sub_drain(struct rt *t);

/* Free the spare submission records of t. */
void sub_free_spares(struct rt *t);

#endif
