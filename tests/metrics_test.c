/*
 * metrics_test.c: the metrics set under concurrent updates from several
 * threads, with a NULL set, and its Prometheus text checked by a small
 * line-by-line parser of the 0.0.4 exposition format.  (No libm calls:
 * the tests link without -lm.)
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

#define N_THREADS 8
#define N_ROUNDS  20000

static const char *const reasons[M_N_REJECTS] = {
    "malformed",
    "too_big",
    "unknown_submitter",
    "bad_signature",
    "invalid_field",
    "no_submitters",
    "overload",
    "storage",
    "rate_limited",
    "too_many_connections",
    "timeout",
    "bad_request",
    "no_witness_quorum",
};

static const struct {
	const char *name, *type;
} families[] = {
    {"closurelog_appends_total", "counter"},
    {"closurelog_duplicates_total", "counter"},
    {"closurelog_batches_total", "counter"},
    {"closurelog_checkpoints_signed_total", "counter"},
    {"closurelog_http_requests_total", "counter"},
    {"closurelog_http_errors_total", "counter"},
    {"closurelog_rejects_total", "counter"},
    {"closurelog_http_connections_total", "counter"},
    {"closurelog_tree_size", "gauge"},
    {"closurelog_open_connections", "gauge"},
    {"closurelog_queue_depth", "gauge"},
    {"closurelog_batch_size", "histogram"},
    {"closurelog_commit_seconds", "histogram"},
    {"closurelog_append_seconds", "histogram"},
    {"closurelog_request_seconds", "histogram"},
};

#define N_FAMILIES (sizeof families / sizeof families[0])

/* ---- Concurrency ---- */

static void *
hammer(void *arg)
{
	struct metrics *m = arg;

	for (int i = 0; i < N_ROUNDS; i++) {
		metrics_count(m, M_APPENDS, 1);
		metrics_count(m, M_HTTP_REQUESTS, 3);
		metrics_reject(m, (enum metrics_reject)(i % M_N_REJECTS));
		metrics_gauge_add(m, G_OPEN_CONNECTIONS, 1);
		metrics_gauge_add(m, G_QUEUE_DEPTH, 2);
		metrics_gauge_add(m, G_OPEN_CONNECTIONS, -1);
		metrics_observe(m, H_BATCH_SIZE, (double)(i % 7)); /* exact sums */
		metrics_observe(m, H_REQUEST_SECONDS, 0.001);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct metrics *m = metrics_new();
	pthread_t t[N_THREADS];
	uint64_t count, want_reject;
	double sum, want_sum = 0;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	assert_int_equal(metrics_counter_get(m, M_APPENDS), N_THREADS * N_ROUNDS);
	assert_int_equal(metrics_counter_get(m, M_HTTP_REQUESTS), 3 * N_THREADS * N_ROUNDS);
	assert_int_equal(metrics_counter_get(m, M_DUPLICATES), 0);
	for (int r = 0; r < M_N_REJECTS; r++) {
		want_reject = 0;
		for (int i = 0; i < N_ROUNDS; i++)
			want_reject += i % M_N_REJECTS == r;
		assert_int_equal(
		    metrics_reject_get(m, (enum metrics_reject)r), want_reject * N_THREADS);
	}
	assert_int_equal(metrics_gauge_get(m, G_OPEN_CONNECTIONS), 0);
	assert_int_equal(metrics_gauge_get(m, G_QUEUE_DEPTH), 2 * N_THREADS * N_ROUNDS);

	metrics_hist_get(m, H_BATCH_SIZE, &count, &sum);
	assert_int_equal(count, N_THREADS * N_ROUNDS);
	for (int i = 0; i < N_ROUNDS; i++)
		want_sum += i % 7;
	assert_true(sum == want_sum * N_THREADS);

	/* Equal addends give the same partial sums in any interleaving. */
	metrics_hist_get(m, H_REQUEST_SECONDS, &count, &sum);
	assert_int_equal(count, N_THREADS * N_ROUNDS);
	want_sum = 0;
	for (int i = 0; i < N_THREADS * N_ROUNDS; i++)
		want_sum += 0.001;
	assert_true(sum == want_sum);
	metrics_free(m);
}

/* ---- NULL and single-thread semantics ---- */

static void
test_null(void **state)
{
	uint64_t count = 99;
	double sum = 99;
	size_t len = 0;
	char *text;

	(void)state;
	metrics_count(NULL, M_APPENDS, 5);
	metrics_reject(NULL, R_MALFORMED);
	metrics_gauge_set(NULL, G_TREE_SIZE, 7);
	metrics_gauge_add(NULL, G_TREE_SIZE, 7);
	metrics_observe(NULL, H_COMMIT_SECONDS, 0.5);
	assert_int_equal(metrics_counter_get(NULL, M_APPENDS), 0);
	assert_int_equal(metrics_reject_get(NULL, R_MALFORMED), 0);
	assert_int_equal(metrics_gauge_get(NULL, G_TREE_SIZE), 0);
	metrics_hist_get(NULL, H_COMMIT_SECONDS, &count, &sum);
	assert_int_equal(count, 0);
	assert_true(sum == 0);
	metrics_free(NULL);

	/* Rendering no set at all shows every metric at zero. */
	text = metrics_render_alloc(NULL, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_non_null(strstr(text, "\nclosurelog_appends_total 0\n"));
	free(text);
}

static void
test_gauges(void **state)
{
	struct metrics *m = metrics_new();

	(void)state;
	assert_non_null(m);
	metrics_gauge_set(m, G_TREE_SIZE, 1000);
	metrics_gauge_add(m, G_TREE_SIZE, 24);
	assert_int_equal(metrics_gauge_get(m, G_TREE_SIZE), 1024);
	metrics_gauge_add(m, G_QUEUE_DEPTH, -3);
	assert_int_equal(metrics_gauge_get(m, G_QUEUE_DEPTH), -3);
	metrics_gauge_set(m, G_QUEUE_DEPTH, 0);
	assert_int_equal(metrics_gauge_get(m, G_QUEUE_DEPTH), 0);
	metrics_free(m);
}

/* The value on the line starting with `prefix` (which ends before the space). */
static double
sample(const char *text, const char *prefix)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof key, "\n%s ", prefix);
	p = strstr(text, key);
	if (p == NULL)
		fail_msg("no sample \"%s\"", prefix);
	return strtod(p + strlen(key), NULL);
}

static void
test_buckets(void **state)
{
	struct metrics *m = metrics_new();
	uint64_t count;
	double sum;
	char *text;

	(void)state;
	assert_non_null(m);
	/* Bounds are inclusive (le), so a value on a bound lands in its bucket. */
	metrics_observe(m, H_BATCH_SIZE, 1);
	metrics_observe(m, H_BATCH_SIZE, 3);
	metrics_observe(m, H_BATCH_SIZE, 8192);
	metrics_observe(m, H_BATCH_SIZE, 8193);
	metrics_observe(m, H_COMMIT_SECONDS, 0.0001);
	metrics_observe(m, H_COMMIT_SECONDS, 0.00011);
	metrics_observe(m, H_COMMIT_SECONDS, 10);
	metrics_observe(m, H_COMMIT_SECONDS, 11);
	metrics_observe(m, H_COMMIT_SECONDS, NAN); /* dropped: it would poison the sum */
	metrics_hist_get(m, H_COMMIT_SECONDS, &count, &sum);
	assert_int_equal(count, 4);
	assert_true(sum > 21.00021 - 1e-9 && sum < 21.00021 + 1e-9);

	text = metrics_render_alloc(m, NULL);
	assert_non_null(text);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"1\"}") == 1);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"2\"}") == 1);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"4\"}") == 2);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"4096\"}") == 2);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"8192\"}") == 3);
	assert_true(sample(text, "closurelog_batch_size_bucket{le=\"+Inf\"}") == 4);
	assert_true(sample(text, "closurelog_batch_size_sum") == 1 + 3 + 8192 + 8193);
	assert_true(sample(text, "closurelog_batch_size_count") == 4);
	assert_true(sample(text, "closurelog_commit_seconds_bucket{le=\"0.0001\"}") == 1);
	assert_true(sample(text, "closurelog_commit_seconds_bucket{le=\"0.00025\"}") == 2);
	assert_true(sample(text, "closurelog_commit_seconds_bucket{le=\"5\"}") == 2);
	assert_true(sample(text, "closurelog_commit_seconds_bucket{le=\"10\"}") == 3);
	assert_true(sample(text, "closurelog_commit_seconds_bucket{le=\"+Inf\"}") == 4);
	assert_true(sample(text, "closurelog_append_seconds_count") == 0);
	free(text);
	metrics_free(m);
}

/* ---- The exposition format, line by line ---- */

static bool
name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
	    (!first && ch >= '0' && ch <= '9');
}

/* Length of the metric or label name at p (0 if none). */
static size_t
name_len(const char *p)
{
	size_t n = 0;

	while (name_char(p[n], n == 0))
		n++;
	return n;
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Per-family state while checking its samples. */
struct fam {
	char name[128], type[32];
	bool help, typed;
	int n_samples;
	/* histograms */
	double last_le, last_bucket;
	bool inf_seen, sum_seen, count_seen;
	double inf_count;
	/* rejects */
	bool reason_seen[M_N_REJECTS];
};

static void
fam_close(struct fam *f)
{
	if (f->name[0] == '\0')
		return;
	if (!f->help || !f->typed)
		fail_msg("%s: missing HELP or TYPE", f->name);
	if (f->n_samples == 0)
		fail_msg("%s: no samples", f->name);
	if (strcmp(f->type, "histogram") == 0) {
		if (!f->inf_seen || !f->sum_seen || !f->count_seen)
			fail_msg("%s: needs le=\"+Inf\", _sum and _count", f->name);
	}
	if (strcmp(f->name, "closurelog_rejects_total") == 0) {
		for (int r = 0; r < M_N_REJECTS; r++) {
			if (!f->reason_seen[r])
				fail_msg("no rejects_total line for reason \"%s\"", reasons[r]);
		}
	}
}

/* One "name{labels} value" line of family f. */
static void
check_sample(struct fam *f, const char *line)
{
	size_t n = name_len(line), ln;
	const char *p = line + n, *suffix = "";
	char label[64], lval[64], *end;
	double v;
	bool have_le = false;
	double le = 0;

	if (n == 0)
		fail_msg("bad sample line \"%s\"", line);
	if (f->name[0] == '\0' || !f->typed)
		fail_msg("sample before HELP/TYPE: \"%s\"", line);
	if (strcmp(f->type, "histogram") == 0) {
		if (ends_with(line, n, "_bucket"))
			suffix = "_bucket";
		else if (ends_with(line, n, "_sum"))
			suffix = "_sum";
		else if (ends_with(line, n, "_count"))
			suffix = "_count";
		else
			fail_msg("histogram sample without a suffix: \"%s\"", line);
	}
	if (n - strlen(suffix) != strlen(f->name) || memcmp(line, f->name, strlen(f->name)) != 0)
		fail_msg("sample \"%s\" outside its family %s", line, f->name);
	if (*p == '{') {
		p++;
		for (;;) {
			ln = name_len(p);
			assert_true(ln > 0 && ln < sizeof label);
			memcpy(label, p, ln);
			label[ln] = '\0';
			p += ln;
			assert_true(p[0] == '=' && p[1] == '"');
			p += 2;
			end = strchr(p, '"');
			assert_non_null(end);
			assert_true((size_t)(end - p) < sizeof lval);
			memcpy(lval, p, (size_t)(end - p));
			lval[end - p] = '\0';
			assert_null(strchr(lval, '\\'));
			p = end + 1;
			if (strcmp(label, "le") == 0) {
				have_le = true;
				le = strcmp(lval, "+Inf") == 0 ? INFINITY : strtod(lval, &end);
				if (!isinf(le))
					assert_true(*end == '\0');
			} else if (strcmp(label, "reason") == 0) {
				int r;

				for (r = 0; r < M_N_REJECTS; r++) {
					if (strcmp(reasons[r], lval) == 0)
						break;
				}
				if (r == M_N_REJECTS || f->reason_seen[r])
					fail_msg("unknown or repeated reason \"%s\"", lval);
				f->reason_seen[r] = true;
			} else if (strcmp(label, "thread") == 0) {
				assert_string_equal(f->name, "closurelog_http_connections_total");
				assert_true(lval[0] >= '0' && lval[0] <= '9');
			} else {
				fail_msg("unexpected label \"%s\"", label);
			}
			if (*p == ',') {
				p++;
				continue;
			}
			assert_true(*p == '}');
			p++;
			break;
		}
	}
	if (*p != ' ')
		fail_msg("no space before the value: \"%s\"", line);
	p++;
	if (strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0 || strcmp(p, "NaN") == 0) {
		v = strcmp(p, "NaN") == 0 ? NAN : (p[0] == '+' ? INFINITY : -INFINITY);
	} else {
		assert_true(*p != '\0' && *p != ' ');
		v = strtod(p, &end);
		if (*end != '\0')
			fail_msg("bad value in \"%s\"", line);
	}
	f->n_samples++;

	if (strcmp(f->type, "counter") == 0)
		assert_true(v >= 0 && v < 1e19 && v == (double)(uint64_t)v);
	if (strcmp(suffix, "_bucket") == 0) {
		assert_true(have_le);
		assert_false(f->inf_seen);
		if (f->n_samples > 1)
			assert_true(le > f->last_le);
		/* Cumulative: never smaller than the bucket below. */
		assert_true(v >= f->last_bucket);
		f->last_le = le;
		f->last_bucket = v;
		if (isinf(le)) {
			f->inf_seen = true;
			f->inf_count = v;
		}
	} else if (strcmp(suffix, "_sum") == 0) {
		assert_true(f->inf_seen);
		f->sum_seen = true;
	} else if (strcmp(suffix, "_count") == 0) {
		assert_true(f->inf_seen && f->sum_seen);
		if (v != f->inf_count)
			fail_msg("%s: _count %g but le=\"+Inf\" %g", f->name, v, f->inf_count);
		f->count_seen = true;
	} else {
		assert_false(have_le);
	}
}

/* Check a whole rendering; returns the number of families. */
static size_t
check_text(const char *text, size_t len)
{
	char seen[N_FAMILIES] = {0};
	struct fam f;
	const char *p = text;
	char line[512], cname[128], ctype[32];
	size_t n_fam = 0;

	assert_int_equal(len, strlen(text));
	assert_true(len > 0 && text[len - 1] == '\n');
	memset(&f, 0, sizeof f);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p);

		assert_non_null(nl);
		assert_true(n > 0 && n < sizeof line);
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			size_t k = name_len(line + 7), i;

			assert_true(k > 0 && k < sizeof cname && line[7 + k] == ' ');
			assert_true(line[8 + k] != '\0');
			memcpy(cname, line + 7, k);
			cname[k] = '\0';
			fam_close(&f);
			memset(&f, 0, sizeof f);
			memcpy(f.name, cname, k + 1);
			f.help = true;
			for (i = 0; i < N_FAMILIES; i++) {
				if (strcmp(families[i].name, cname) == 0)
					break;
			}
			if (i == N_FAMILIES || seen[i])
				fail_msg("unexpected or repeated family \"%s\"", cname);
			seen[i] = 1;
			n_fam++;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s %31s", cname, ctype), 2);
			assert_string_equal(cname, f.name);
			assert_false(f.typed);
			assert_int_equal(f.n_samples, 0);
			for (size_t i = 0; i < N_FAMILIES; i++) {
				if (strcmp(families[i].name, cname) == 0)
					assert_string_equal(families[i].type, ctype);
			}
			snprintf(f.type, sizeof f.type, "%s", ctype);
			f.typed = true;
		} else {
			assert_true(line[0] != '#');
			check_sample(&f, line);
		}
	}
	fam_close(&f);
	for (size_t i = 0; i < N_FAMILIES; i++) {
		if (!seen[i])
			fail_msg("family %s missing", families[i].name);
	}
	return n_fam;
}

static void
test_render(void **state)
{
	struct metrics *m = metrics_new();
	size_t len;
	char *text;

	(void)state;
	assert_non_null(m);
	/* Empty, then with something in every metric. */
	text = metrics_render_alloc(m, &len);
	assert_non_null(text);
	assert_int_equal(check_text(text, len), N_FAMILIES);
	free(text);

	for (int c = 0; c < M_N_COUNTERS; c++)
		metrics_count(m, (enum metrics_counter)c, (uint64_t)(c + 1) * 1000);
	for (int r = 0; r < M_N_REJECTS; r++) {
		for (int i = 0; i <= r; i++)
			metrics_reject(m, (enum metrics_reject)r);
	}
	metrics_gauge_set(m, G_TREE_SIZE, 123456789012LL);
	metrics_gauge_set(m, G_OPEN_CONNECTIONS, 17);
	metrics_gauge_set(m, G_QUEUE_DEPTH, -1);
	for (int i = 0; i < 10000; i++) {
		metrics_observe(m, H_BATCH_SIZE, i % 9000);
		metrics_observe(m, H_COMMIT_SECONDS, i * 1e-4);
		metrics_observe(m, H_APPEND_SECONDS, 1.0 / (i + 1));
		metrics_observe(m, H_REQUEST_SECONDS, i * 3e-7);
	}
	text = metrics_render_alloc(m, &len);
	assert_non_null(text);
	assert_int_equal(check_text(text, len), N_FAMILIES);
	assert_true(sample(text, "closurelog_appends_total") == 1000);
	assert_true(sample(text, "closurelog_http_errors_total") == 6000);
	assert_true(sample(text, "closurelog_checkpoints_signed_total") == 4000);
	assert_true(sample(text, "closurelog_rejects_total{reason=\"malformed\"}") == 1);
	assert_true(sample(text, "closurelog_rejects_total{reason=\"bad_request\"}") == 12);
	assert_true(sample(text, "closurelog_tree_size") == 123456789012.0);
	assert_true(sample(text, "closurelog_queue_depth") == -1);
	assert_true(sample(text, "closurelog_request_seconds_count") == 10000);
	free(text);
	metrics_free(m);
}

/* Connections per HTTP thread: one line per thread up to the highest that
 * counted; threads past the last slot share it. */
static void
test_thread_conns(void **state)
{
	struct metrics *m = metrics_new();
	char *text;

	(void)state;
	assert_non_null(m);
	text = metrics_render_alloc(m, NULL);
	assert_true(sample(text, "closurelog_http_connections_total{thread=\"0\"}") == 0);
	assert_null(strstr(text, "thread=\"1\""));
	free(text);
	metrics_thread_conn(m, 0);
	metrics_thread_conn(m, 2);
	metrics_thread_conn(m, 2);
	metrics_thread_conn(m, 1000);
	assert_int_equal(metrics_thread_conn_get(m, 2), 2);
	assert_int_equal(metrics_thread_conn_get(m, METRICS_THREADS_MAX - 1), 1);
	metrics_free(m);
	m = metrics_new();
	metrics_thread_conn(m, 0);
	metrics_thread_conn(m, 2);
	metrics_thread_conn(m, 2);
	text = metrics_render_alloc(m, NULL);
	assert_true(sample(text, "closurelog_http_connections_total{thread=\"0\"}") == 1);
	assert_true(sample(text, "closurelog_http_connections_total{thread=\"1\"}") == 0);
	assert_true(sample(text, "closurelog_http_connections_total{thread=\"2\"}") == 2);
	assert_null(strstr(text, "thread=\"3\""));
	free(text);
	metrics_free(m);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_null),
	    cmocka_unit_test(test_gauges),
	    cmocka_unit_test(test_buckets),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_thread_conns),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
