/*
 * metrics.h: closurelogd's Prometheus metrics.
 *
 * A fixed set of counters, gauges and histograms, updated lock-free with C11
 * atomics from any thread, and rendered in the Prometheus text exposition
 * format (version 0.0.4) for GET /metrics.  Names are prefixed
 * "closurelog_".
 */
#ifndef CL_METRICS_H
#define CL_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_counter {
	M_APPENDS,       /* entries appended (201) */
	M_DUPLICATES,    /* submissions answered with an existing entry (200) */
	M_BATCHES,       /* batches committed */
	M_CHECKPOINTS,   /* checkpoints signed */
	M_HTTP_REQUESTS, /* HTTP requests answered, all routes */
	M_HTTP_ERRORS,   /* answered with 4xx or 5xx */
	M_N_COUNTERS,
};

/* Why a submission or request was refused: closurelog_rejects_total{reason=...}. */
enum metrics_reject {
	R_MALFORMED,            /* not a canonical envelope or attestation protobuf */
	R_TOO_BIG,              /* body or entry above its cap */
	R_UNKNOWN_SUBMITTER,    /* no signature by an allowlisted key */
	R_BAD_SIGNATURE,        /* an allowlisted key's signature does not verify */
	R_INVALID_FIELD,        /* the attestation breaks a field rule */
	R_NO_SUBMITTERS,        /* the allowlist is empty */
	R_OVERLOAD,             /* queue full: 503 */
	R_STORAGE,              /* commit failed, e.g. map full: 507 / 503 */
	R_RATE_LIMITED,         /* per-client rate limit: 429 */
	R_TOO_MANY_CONNECTIONS, /* connection limit: 503 */
	R_TIMEOUT,              /* request not received in time: connection closed */
	R_BAD_REQUEST,          /* any other bad request (path, query, method) */
	R_NO_QUORUM,            /* the witnesses did not cosign a checkpoint: 503 */
	M_N_REJECTS,
};

enum metrics_gauge {
	G_TREE_SIZE,        /* entries in the log (latest checkpoint size) */
	G_OPEN_CONNECTIONS, /* HTTP connections open now */
	G_QUEUE_DEPTH,      /* submissions accepted but not yet answered */
	M_N_GAUGES,
};

enum metrics_hist {
	H_BATCH_SIZE,      /* entries per committed batch */
	H_COMMIT_SECONDS,  /* LMDB write transaction, begin to durable commit */
	H_APPEND_SECONDS,  /* submission received to answer with a signed checkpoint */
	H_REQUEST_SECONDS, /* any HTTP request, received to answered */
	M_N_HISTS,
};

struct metrics;

/* A zeroed metrics set, or NULL if out of memory.  Free with metrics_free. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Add n to a counter / a reject reason.  Safe from any thread.  m may be
 * NULL (then nothing happens), so library code can run without metrics. */
void metrics_count(struct metrics *m, enum metrics_counter c, uint64_t n);
void metrics_reject(struct metrics *m, enum metrics_reject r);

/* Count a connection accepted onto HTTP thread `thread`:
 * closurelog_http_connections_total{thread="N"}.  Threads from
 * METRICS_THREADS_MAX - 1 on share the last slot. */
#define METRICS_THREADS_MAX 64
void metrics_thread_conn(struct metrics *m, unsigned thread);
uint64_t metrics_thread_conn_get(const struct metrics *m, unsigned thread);

/* Set or add to a gauge. */
void metrics_gauge_set(struct metrics *m, enum metrics_gauge g, int64_t v);
void metrics_gauge_add(struct metrics *m, enum metrics_gauge g, int64_t delta);

/* Seconds on the monotonic clock: what durations are measured with. */
double metrics_now(void);

/* Record one observation in a histogram (NaN is ignored). */
void metrics_observe(struct metrics *m, enum metrics_hist h, double v);

/* Read back (for tests and the benchmark). */
uint64_t metrics_counter_get(const struct metrics *m, enum metrics_counter c);
uint64_t metrics_reject_get(const struct metrics *m, enum metrics_reject r);
int64_t metrics_gauge_get(const struct metrics *m, enum metrics_gauge g);
/* Count and sum of a histogram's observations. */
void metrics_hist_get(const struct metrics *m, enum metrics_hist h, uint64_t *count, double *sum);

/* Render every metric (with # HELP and # TYPE lines) into a malloc'd,
 * NUL-terminated buffer; *len gets its length.  Returns NULL (and *len 0)
 * if out of memory.  The caller frees it.  A NULL m renders every metric
 * as zero. */
char *metrics_render_alloc(const struct metrics *m, size_t *len);

/* Have metrics_render_alloc append another module's metrics: append(arg,
 * &buf, &len) grows the malloc'd NUL-terminated text (0 or ENOMEM; on
 * ENOMEM the render fails).  Set once, before any thread renders. */
void metrics_extra_set(
    struct metrics *m, int (*append)(void *arg, char **buf, size_t *len), void *arg);

#endif
