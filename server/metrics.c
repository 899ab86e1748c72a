/*
 * metrics.c: closurelogd's counters, gauges and histograms, and their
 * Prometheus text rendering (exposition format 0.0.4).
 *
 * Every update is one relaxed atomic operation (a compare-and-swap loop for
 * a histogram's sum), so the hot paths of the event loop and the verify
 * threads never take a lock and never wait for a scrape.  Relaxed order is
 * enough: each value is independent, and a scrape only needs each number to
 * be one that really occurred, not a snapshot of all of them at one instant.
 *
 * A histogram keeps one non-cumulative count per bucket plus one for
 * observations above the last bound.  Its count is the sum of those, so the
 * rendered +Inf bucket and _count always agree even while other threads
 * observe; the sum may be a few observations ahead or behind, which
 * Prometheus tolerates.  The set of metrics is fixed at compile time: the
 * tables below name them, and the enums in metrics.h index them.
 */
#include "metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HIST_BOUNDS_MAX 16

struct hist {
	/* bucket[i] counts v <= bound[i] (and > bound[i-1]); bucket[n] the rest. */
	_Atomic uint64_t bucket[HIST_BOUNDS_MAX + 1];
	_Atomic uint64_t sum_bits; /* the bit pattern of a double */
};

struct metrics {
	_Atomic uint64_t counter[M_N_COUNTERS];
	_Atomic uint64_t reject[M_N_REJECTS];
	_Atomic int64_t gauge[M_N_GAUGES];
	int (*extra)(void *arg, char **buf, size_t *len);
	void *extra_arg;
	_Atomic uint64_t thread_conns[METRICS_THREADS_MAX];
	atomic_uint n_threads; /* 1 + the highest thread that counted */
	struct hist hist[M_N_HISTS];
};

static const struct {
	const char *name, *help;
} counter_info[M_N_COUNTERS] = {
    [M_APPENDS] = {"closurelog_appends_total", "Entries appended to the log."},
    [M_DUPLICATES] = {"closurelog_duplicates_total",
        "Submissions answered with an entry already in the log."},
    [M_BATCHES] = {"closurelog_batches_total", "Batches committed to the store."},
    [M_CHECKPOINTS] = {"closurelog_checkpoints_signed_total", "Checkpoints signed."},
    [M_HTTP_REQUESTS] = {"closurelog_http_requests_total", "HTTP requests answered."},
    [M_HTTP_ERRORS] = {"closurelog_http_errors_total",
        "HTTP requests answered with a 4xx or 5xx status."},
};

static const char *const reject_reason[M_N_REJECTS] = {
    [R_MALFORMED] = "malformed",
    [R_TOO_BIG] = "too_big",
    [R_UNKNOWN_SUBMITTER] = "unknown_submitter",
    [R_BAD_SIGNATURE] = "bad_signature",
    [R_INVALID_FIELD] = "invalid_field",
    [R_NO_SUBMITTERS] = "no_submitters",
    [R_OVERLOAD] = "overload",
    [R_STORAGE] = "storage",
    [R_RATE_LIMITED] = "rate_limited",
    [R_TOO_MANY_CONNECTIONS] = "too_many_connections",
    [R_TIMEOUT] = "timeout",
    [R_BAD_REQUEST] = "bad_request",
    [R_NO_QUORUM] = "no_witness_quorum",
};

static const struct {
	const char *name, *help;
} gauge_info[M_N_GAUGES] = {
    [G_TREE_SIZE] = {"closurelog_tree_size", "Entries in the log (latest checkpoint size)."},
    [G_OPEN_CONNECTIONS] = {"closurelog_open_connections", "HTTP connections open now."},
    [G_QUEUE_DEPTH] = {"closurelog_queue_depth", "Submissions accepted but not yet answered."},
};

/* Bounds as literals, so that le="..." shows them exactly as written here. */
struct bound {
	double v;
	const char *s;
};

static const struct bound batch_bounds[] = {
    {1, "1"},
    {2, "2"},
    {4, "4"},
    {8, "8"},
    {16, "16"},
    {32, "32"},
    {64, "64"},
    {128, "128"},
    {256, "256"},
    {512, "512"},
    {1024, "1024"},
    {2048, "2048"},
    {4096, "4096"},
    {8192, "8192"},
};

static const struct bound seconds_bounds[] = {
    {0.0001, "0.0001"},
    {0.00025, "0.00025"},
    {0.0005, "0.0005"},
    {0.001, "0.001"},
    {0.0025, "0.0025"},
    {0.005, "0.005"},
    {0.01, "0.01"},
    {0.025, "0.025"},
    {0.05, "0.05"},
    {0.1, "0.1"},
    {0.25, "0.25"},
    {0.5, "0.5"},
    {1, "1"},
    {2.5, "2.5"},
    {5, "5"},
    {10, "10"},
};

#define N_BATCH_BOUNDS   (sizeof batch_bounds / sizeof batch_bounds[0])
#define N_SECONDS_BOUNDS (sizeof seconds_bounds / sizeof seconds_bounds[0])
_Static_assert(N_BATCH_BOUNDS <= HIST_BOUNDS_MAX, "too many batch size buckets");
_Static_assert(N_SECONDS_BOUNDS <= HIST_BOUNDS_MAX, "too many seconds buckets");

static const struct {
	const char *name, *help;
	const struct bound *bounds;
	size_t n_bounds;
} hist_info[M_N_HISTS] = {
    [H_BATCH_SIZE] = {"closurelog_batch_size", "Entries per committed batch.", batch_bounds,
        N_BATCH_BOUNDS},
    [H_COMMIT_SECONDS] = {"closurelog_commit_seconds",
        "Store write transactions, from begin to durable commit, in seconds.", seconds_bounds,
        N_SECONDS_BOUNDS},
    [H_APPEND_SECONDS] = {"closurelog_append_seconds",
        "Submissions, from received to answered with a signed checkpoint, in seconds.",
        seconds_bounds, N_SECONDS_BOUNDS},
    [H_REQUEST_SECONDS] = {"closurelog_request_seconds",
        "HTTP requests, from received to answered, in seconds.", seconds_bounds, N_SECONDS_BOUNDS},
};

static uint64_t
dbl_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

static double
bits_dbl(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

struct metrics *
metrics_new(void)
{
	struct metrics *m = malloc(sizeof *m);

	if (m == NULL)
		return NULL;
	/* atomic_init, not calloc's zeroes: C17 only promises it for the former. */
	for (size_t i = 0; i < M_N_COUNTERS; i++)
		atomic_init(&m->counter[i], 0);
	for (size_t i = 0; i < M_N_REJECTS; i++)
		atomic_init(&m->reject[i], 0);
	for (size_t i = 0; i < M_N_GAUGES; i++)
		atomic_init(&m->gauge[i], 0);
	m->extra = NULL;
	m->extra_arg = NULL;
	for (size_t i = 0; i < METRICS_THREADS_MAX; i++)
		atomic_init(&m->thread_conns[i], 0);
	atomic_init(&m->n_threads, 0);
	for (size_t h = 0; h < M_N_HISTS; h++) {
		for (size_t i = 0; i <= HIST_BOUNDS_MAX; i++)
			atomic_init(&m->hist[h].bucket[i], 0);
		atomic_init(&m->hist[h].sum_bits, dbl_bits(0.0));
	}
	return m;
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_count(struct metrics *m, enum metrics_counter c, uint64_t n)
{
	if (m == NULL || (unsigned)c >= M_N_COUNTERS)
		return;
	atomic_fetch_add_explicit(&m->counter[c], n, memory_order_relaxed);
}

void
metrics_reject(struct metrics *m, enum metrics_reject r)
{
	if (m == NULL || (unsigned)r >= M_N_REJECTS)
		return;
	atomic_fetch_add_explicit(&m->reject[r], 1, memory_order_relaxed);
}

void
metrics_gauge_set(struct metrics *m, enum metrics_gauge g, int64_t v)
{
	if (m == NULL || (unsigned)g >= M_N_GAUGES)
		return;
	atomic_store_explicit(&m->gauge[g], v, memory_order_relaxed);
}

void
metrics_gauge_add(struct metrics *m, enum metrics_gauge g, int64_t delta)
{
	if (m == NULL || (unsigned)g >= M_N_GAUGES)
		return;
	atomic_fetch_add_explicit(&m->gauge[g], delta, memory_order_relaxed);
}

void
metrics_observe(struct metrics *m, enum metrics_hist h, double v)
{
	struct hist *hs;
	size_t i, n;
	uint64_t old, new;

	/* A NaN would turn the sum into NaN for the rest of the process. */
	if (m == NULL || (unsigned)h >= M_N_HISTS || isnan(v))
		return;
	hs = &m->hist[h];
	n = hist_info[h].n_bounds;
	for (i = 0; i < n && v > hist_info[h].bounds[i].v; i++)
		;
	atomic_fetch_add_explicit(&hs->bucket[i], 1, memory_order_relaxed);
	old = atomic_load_explicit(&hs->sum_bits, memory_order_relaxed);
	do
		new = dbl_bits(bits_dbl(old) + v);
	while (!atomic_compare_exchange_weak_explicit(
	    &hs->sum_bits, &old, new, memory_order_relaxed, memory_order_relaxed));
}

void
metrics_thread_conn(struct metrics *m, unsigned thread)
{
	unsigned n;

	if (m == NULL)
		return;
	if (thread >= METRICS_THREADS_MAX)
		thread = METRICS_THREADS_MAX - 1;
	atomic_fetch_add_explicit(&m->thread_conns[thread], 1, memory_order_relaxed);
	n = atomic_load_explicit(&m->n_threads, memory_order_relaxed);
	while (n < thread + 1 &&
	    !atomic_compare_exchange_weak_explicit(
	        &m->n_threads, &n, thread + 1, memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t
metrics_thread_conn_get(const struct metrics *m, unsigned thread)
{
	if (m == NULL || thread >= METRICS_THREADS_MAX)
		return 0;
	return atomic_load_explicit(
	    (_Atomic uint64_t *)&m->thread_conns[thread], memory_order_relaxed);
}

uint64_t
metrics_counter_get(const struct metrics *m, enum metrics_counter c)
{
	if (m == NULL || (unsigned)c >= M_N_COUNTERS)
		return 0;
	/* The C17 atomic loads take non-const pointers in some libcs. */
	return atomic_load_explicit((_Atomic uint64_t *)&m->counter[c], memory_order_relaxed);
}

uint64_t
metrics_reject_get(const struct metrics *m, enum metrics_reject r)
{
	if (m == NULL || (unsigned)r >= M_N_REJECTS)
		return 0;
	return atomic_load_explicit((_Atomic uint64_t *)&m->reject[r], memory_order_relaxed);
}

int64_t
metrics_gauge_get(const struct metrics *m, enum metrics_gauge g)
{
	if (m == NULL || (unsigned)g >= M_N_GAUGES)
		return 0;
	return atomic_load_explicit((_Atomic int64_t *)&m->gauge[g], memory_order_relaxed);
}

/* Per-bucket counts of one histogram into b[0..n_bounds]; returns their sum. */
static uint64_t
hist_load(const struct metrics *m, enum metrics_hist h, uint64_t b[HIST_BOUNDS_MAX + 1])
{
	struct hist *hs = (struct hist *)&m->hist[h];
	uint64_t total = 0;

	for (size_t i = 0; i <= hist_info[h].n_bounds; i++) {
		b[i] = atomic_load_explicit(&hs->bucket[i], memory_order_relaxed);
		total += b[i];
	}
	return total;
}

static double
hist_sum(const struct metrics *m, enum metrics_hist h)
{
	struct hist *hs = (struct hist *)&m->hist[h];

	return bits_dbl(atomic_load_explicit(&hs->sum_bits, memory_order_relaxed));
}

void
metrics_hist_get(const struct metrics *m, enum metrics_hist h, uint64_t *count, double *sum)
{
	uint64_t b[HIST_BOUNDS_MAX + 1];
	uint64_t c = 0;
	double s = 0;

	if (m != NULL && (unsigned)h < M_N_HISTS) {
		c = hist_load(m, h, b);
		s = hist_sum(m, h);
	}
	if (count != NULL)
		*count = c;
	if (sum != NULL)
		*sum = s;
}

/* A sample value as Prometheus parses it: the shortest decimal spelling that
 * reads back as the same double, or +Inf, -Inf, NaN. */
static void
fmt_double(char *out, size_t cap, double v)
{
	if (isnan(v)) {
		snprintf(out, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, cap, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static void
family(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *
metrics_render_alloc(const struct metrics *m, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	uint64_t b[HIST_BOUNDS_MAX + 1];
	char num[32];
	unsigned n_threads;
	int bad;

	if (len != NULL)
		*len = 0;
	if ((f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	for (size_t i = 0; i < M_N_COUNTERS; i++) {
		family(f, counter_info[i].name, counter_info[i].help, "counter");
		fprintf(f, "%s %llu\n", counter_info[i].name,
		    (unsigned long long)metrics_counter_get(m, (enum metrics_counter)i));
	}
	family(f, "closurelog_rejects_total", "Submissions and requests refused, by reason.",
	    "counter");
	for (size_t i = 0; i < M_N_REJECTS; i++)
		fprintf(f, "closurelog_rejects_total{reason=\"%s\"} %llu\n", reject_reason[i],
		    (unsigned long long)metrics_reject_get(m, (enum metrics_reject)i));
	family(f, "closurelog_http_connections_total",
	    "HTTP connections accepted, by the HTTP thread serving them.", "counter");
	/* Thread 0 always: a family has at least one sample. */
	n_threads = m != NULL
	    ? atomic_load_explicit((atomic_uint *)&m->n_threads, memory_order_relaxed)
	    : 0;
	for (unsigned i = 0; i < (n_threads > 0 ? n_threads : 1); i++)
		fprintf(f, "closurelog_http_connections_total{thread=\"%u\"} %llu\n", i,
		    (unsigned long long)metrics_thread_conn_get(m, i));
	for (size_t i = 0; i < M_N_GAUGES; i++) {
		family(f, gauge_info[i].name, gauge_info[i].help, "gauge");
		fprintf(f, "%s %lld\n", gauge_info[i].name,
		    (long long)metrics_gauge_get(m, (enum metrics_gauge)i));
	}
	for (size_t h = 0; h < M_N_HISTS; h++) {
		const char *name = hist_info[h].name;
		uint64_t total = 0, cum = 0;
		double sum = 0;

		family(f, name, hist_info[h].help, "histogram");
		memset(b, 0, sizeof b);
		if (m != NULL) {
			total = hist_load(m, (enum metrics_hist)h, b);
			sum = hist_sum(m, (enum metrics_hist)h);
		}
		for (size_t i = 0; i < hist_info[h].n_bounds; i++) {
			cum += b[i];
			fprintf(f, "%s_bucket{le=\"%s\"} %llu\n", name, hist_info[h].bounds[i].s,
			    (unsigned long long)cum);
		}
		fmt_double(num, sizeof num, sum);
		fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %s\n%s_count %llu\n", name,
		    (unsigned long long)total, name, num, name, (unsigned long long)total);
	}
	bad = ferror(f);
	/* fclose settles buf and size; a failed write or flush leaves them unusable. */
	if (fclose(f) != 0 || bad) {
		free(buf);
		return NULL;
	}
	if (m != NULL && m->extra != NULL && m->extra(m->extra_arg, &buf, &size) != 0) {
		free(buf);
		return NULL;
	}
	if (len != NULL)
		*len = size;
	return buf;
}

void
metrics_extra_set(struct metrics *m, int (*append)(void *arg, char **buf, size_t *len), void *arg)
{
	m->extra = append;
	m->extra_arg = arg;
}

double
metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
