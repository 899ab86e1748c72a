/*
 * submit.h: POST /v1/entries.  The body is handed to the log (log.h) and
 * the request is answered from this thread's completion queue once the
 * log has committed the entry durably and signed a checkpoint over it.
 */
#ifndef CL_SUBMIT_H
#define CL_SUBMIT_H

#include "route.h"

/* Take a submission: checks Content-Type (415) and size (400, 413), then
 * holds it for sub_flush, which t->flush runs once the loop's current
 * callbacks are done; the answer comes through sub_drain. */
void sub_post(struct rt *t, struct http_req *req);

/* Queue the submissions sub_post held on the log, all under one lock (the
 * callback of t->flush); those it has no room for get 503. */
void sub_flush(struct rt *t);

/* POST /v1/entries/batch: checks Content-Type (415), the cap
 * t->batch_max_entries (400) and the EntryBatch encoding (400); the HTTP
 * layer has refused bodies above --batch-max-bytes (413).  Then queues
 * every envelope on the log as its own job, exactly as sub_post would (an
 * empty envelope, or one above CL_ENTRY_MAX, gets the refusal sub_post
 * would give, without a job).  Envelopes the log has no room for
 * (LOG_EBUSY) get a 503 result and are not queued: a batch takes only the
 * queue room free when it arrives, never waits for more, so it cannot
 * deadlock and singles compete for the same room.  Once every queued job
 * is done, the request is answered (sub_drain) with one result per
 * envelope against the latest checkpoint, which covers them all. */
void sub_batch_post(struct rt *t, struct http_req *req);

/* Answer every submission and batch the log has finished for this thread (the
 * callback of t->wake, which the log threads activate). */
void sub_drain(struct rt *t);

/* Free the spare submission records of t, any it still holds for
 * sub_flush. */
void sub_free_spares(struct rt *t);

#endif
