/*
 * route.h: what closurelogd's route modules share (c2sp.c, v1read.c,
 * submit.c): the per-thread route state, answers in the API's shape, and
 * the one query-string parser.
 *
 * Every function runs on the HTTP thread that owns the request.
 */
#ifndef CL_ROUTE_H
#define CL_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pcache.h"
#include "store.h"
#include "wire.h"

#define RT_CT_PROTOBUF     "application/x-protobuf"
#define RT_CT_TEXT         "text/plain; charset=utf-8"
#define RT_CT_OCTETS       "application/octet-stream"
#define RT_CACHE_IMMUTABLE "Cache-Control: public, max-age=31536000, immutable\r\n"
#define RT_CACHE_NO_CACHE  "Cache-Control: no-cache\r\n"
#define RT_CACHE_NO_STORE  "Cache-Control: no-store\r\n"
#define RT_QUERY_MAX       8192 /* the request-target limit: no query is longer */
#define RT_PENDING_MAX     64   /* submissions held for the end of a loop turn */

struct sub;
struct sub_batch;

/* One HTTP thread's route state.  Owned by the thread (api.c); log, m and
 * reader are set up by it and outlive every request. */
struct rt {
	struct log *log;
	struct metrics *m;
	struct st_reader *reader;
	struct pcache
	    pcache; /* proofs' edges and nodes (v1read.c, submit.c); zeroed: empty; pc_free */
	struct wire_arena arena;
	char query[RT_QUERY_MAX + 1]; /* decoded query values of the current request */
	/* Submissions and batches answered by the log, waiting for this
	 * thread (submit.c): stacks the log's threads push on without a lock
	 * and this thread empties whole; the push onto an empty stack
	 * activates wake, so a run of answers costs one wake-up. */
	struct event *wake;
	/* Submissions taken in this turn of the loop, queued on the log
	 * together when the turn's callbacks are done (flush, submit.c). */
	struct event *flush;
	struct log_job *pending[RT_PENDING_MAX];
	size_t n_pending;
	_Atomic(struct sub *) done_head;
	_Atomic(struct sub_batch *) batch_done;
	size_t batch_max_entries; /* --batch-max-entries */
	struct sub *spare;        /* answered submissions, for reuse */
	size_t n_spare;
};

/* Answer 200-class (or any) status with a body; cache is one of the
 * RT_CACHE_* header lines (or NULL). */
void rt_reply(struct http_req *req, int code, const char *ctype, const char *cache,
    const void *body, size_t len);

/* Answer an error: one text/plain line from fmt (newlines in it become
 * spaces).  reject >= 0 counts a closurelog_rejects_total reason.  headers:
 * extra header lines (e.g. "Allow: GET, HEAD\r\n") or NULL; 429 and 503 get
 * Retry-After by themselves. */
void rt_fail(struct rt *t, struct http_req *req, int code, int reject, const char *headers,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Send an encoded API message, or a 500 if encoding failed (rc != 0). */
void rt_reply_pb(
    struct rt *t, struct http_req *req, int code, int rc, const uint8_t *out, size_t len);

/* Parse the query string q[0..len) (NULL: none) against allowed[0..n)
 * (names).  Each parameter is "name=value", separated by '&'; a value is
 * percent-decoded (%XX) and must not be empty or contain control bytes
 * (NUL included).  Unknown, repeated, empty or malformed parameters are
 * refused.  vals[i] gets the decoded, NUL-terminated value of allowed[i]
 * in buf (RT_QUERY_MAX + 1 bytes, the caller's), or NULL if absent.  No
 * allocation, no I/O.  Returns 0, or CL_EINVAL with a one-line reason in
 * why (CL_WHY_MAX bytes); vals is then partly filled and must not be
 * used. */
int rt_query_parse(const char *q, size_t len, const char *const *allowed, size_t n, char *buf,
    const char **vals, char *why) __attribute__((warn_unused_result));

/* rt_query_parse on req's query into t->query: the values stay valid
 * until the next call.  On refusal answers 400 with the reason and returns
 * false. */
bool rt_query(
    struct rt *t, struct http_req *req, const char *const *allowed, size_t n, const char **vals);

/* Refuse any query string (400): for routes that take no parameters. */
bool rt_no_query(struct rt *t, struct http_req *req);

/* A canonical decimal uint64 (no sign, no leading zeros). */
bool rt_u64(const char *s, uint64_t *out);

/* The published checkpoint (the caller unrefs it), or NULL after answering
 * 503: with witnesses, none is cosigned yet since the start. */
struct log_ckpt *rt_checkpoint(struct rt *t, struct http_req *req);

/* Begin a read transaction on t->reader; on failure answers 503. */
bool rt_reader_begin(struct rt *t, struct http_req *req);

#endif
