/*
 * witness_server_test.c: a real closurelog-witness on 127.0.0.1:0, driven
 * over HTTP: the spec's status table (with its content types), the
 * cosignature it returns verified against DIR/witness.pub, the cosigned
 * checkpoint it serves, hostile requests answered with one text line while
 * it keeps serving, its state surviving SIGKILL, two processes sharing one
 * data directory never both moving a log on from one size, and its flags.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cl.h"
#include "harness.h"
#include "key.h"
#include "note.h"
#include "rawhttp.h"
#include "testutil.h"

static char why[CL_WHY_MAX];

struct fx {
	json_t *vec, *d;
	char tmp[512], data[600];
	struct note_signer log;
	const char *log_vkey;
	struct h_witness w;
};

struct answer {
	long status;
	char type[128];
	char *body;
	size_t len;
};

static size_t
sink(char *p, size_t sz, size_t n, void *arg)
{
	struct answer *a = arg;
	char *nb = realloc(a->body, a->len + sz * n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + a->len, p, sz * n);
	a->len += sz * n;
	nb[a->len] = '\0';
	a->body = nb;
	return sz * n;
}

/* One request; the answer's status, content type and body. */
static struct answer
req(const char *method, const char *url, const void *data, size_t len)
{
	struct answer a = {0};
	CURL *c = curl_easy_init();
	char *ct = NULL;

	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	if (data != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(a.type, sizeof a.type, "%s", ct != NULL ? ct : "");
	curl_easy_cleanup(c);
	if (a.body == NULL)
		a.body = calloc(1, 1);
	return a;
}

static struct answer
post(struct fx *f, const char *body)
{
	char url[128];

	snprintf(url, sizeof url, "%s/add-checkpoint", f->w.url);
	return req("POST", url, body, strlen(body));
}

/* POST and check the status, the content type and the one-line body. */
static struct answer
expect(struct fx *f, const char *body, long status)
{
	struct answer a = post(f, body);

	if (a.status != status)
		fail_msg("wanted %ld, got %ld: %s", status, a.status, a.body);
	assert_string_equal(
	    a.type, status == 409 ? "text/x.tlog.size" : "text/plain; charset=utf-8");
	assert_true(a.len > 0 && a.body[a.len - 1] == '\n');
	assert_null(memchr(a.body, '\n', a.len - 1));
	return a;
}

static void
expect_free(struct fx *f, const char *body, long status)
{
	struct answer a = expect(f, body, status);

	free(a.body);
}

static char *
cat(const char *first, ...)
{
	va_list ap;
	size_t len = 0;
	char *out;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	assert_non_null(out = malloc(len + 1));
	out[0] = '\0';
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

static char *
signed_note(const struct note_signer *s, const char *text)
{
	uint8_t out[4096];
	size_t len = 0;
	char *n;

	assert_int_equal(
	    note_sign(s, (const uint8_t *)text, strlen(text), out, sizeof out, &len, why), 0);
	assert_non_null(n = malloc(len + 1));
	memcpy(n, out, len);
	n[len] = '\0';
	return n;
}

/* Start the witness, with up to four more flags (NULL-terminated). */
static void
start_with(struct fx *f, const char *const *more)
{
	const char *extra[12] = {"--log", f->log_vkey, "--name", "example.com/witness-it"};
	size_t n = 4;

	for (; more != NULL && *more != NULL; more++)
		extra[n++] = *more;
	extra[n] = NULL;
	h_witness_start(&f->w, f->data, extra);
}

static void
start(struct fx *f)
{
	start_with(f, NULL);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const json_t *log;
	uint8_t seed[32];

	assert_non_null(f);
	f->vec = tu_vectors("note-vectors.json");
	f->d = json_object_get(f->vec, "derived");
	log = json_object_get(f->d, "log");
	tu_unhex(tu_str(log, "seed_hex"), seed, sizeof seed);
	assert_int_equal(note_signer_from_seed(tu_str(log, "name"), seed, &f->log, why), 0);
	f->log_vkey = tu_str(log, "vkey");
	h_tmpdir(f->tmp, sizeof f->tmp);
	snprintf(f->data, sizeof f->data, "%s/w", f->tmp);
	start(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	h_witness_stop(&f->w, SIGTERM);
	h_rmrf(f->tmp);
	note_signer_wipe(&f->log);
	json_decref(f->vec);
	free(f);
	return 0;
}

/* The proof lines of the vector request (6 -> 8), each with '\n'. */
static void
vector_proof(struct fx *f, char lines[3][64])
{
	const char *t = strchr(tu_str(f->d, "witness_add_checkpoint_request"), '\n') + 1;

	for (int i = 0; i < 3; i++) {
		const char *nl = strchr(t, '\n');

		snprintf(lines[i], 64, "%.*s", (int)(nl + 1 - t), t);
		t = nl + 1;
	}
}

/* The status table over HTTP, row by row. */
static void
test_status_table(void **state)
{
	struct fx *f = *state;
	const char *c6 = tu_str(f->d, "checkpoint6"), *c8 = tu_str(f->d, "checkpoint8");
	struct note_signer other, same_name;
	char p[3][64], *b, *n;
	struct answer a;

	/* 404: an origin the witness does not witness. */
	assert_int_equal(note_signer_generate("other.example/log", &other, why), 0);
	n = signed_note(
	    &other, "other.example/log\n6\nduZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=\n");
	b = cat("old 0\n\n", n, NULL);
	expect_free(f, b, 404);
	free(b);
	free(n);
	/* 403: the right origin, but no line by its key. */
	assert_int_equal(note_signer_generate("example.com/tlog-test", &same_name, why), 0);
	n = signed_note(&same_name, tu_str(f->d, "checkpoint6_body"));
	b = cat("old 0\n\n", n, NULL);
	expect_free(f, b, 403);
	free(b);
	free(n);
	/* 400: old > size, and a malformed body. */
	b = cat("old 7\n\n", c6, NULL);
	expect_free(f, b, 400);
	free(b);
	expect_free(f, "old 0\nnot a hash\n\n", 400);
	/* 422: size 0 without the empty-tree root. */
	n = signed_note(
	    &f->log, "example.com/tlog-test\n0\nduZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=\n");
	b = cat("old 0\n\n", n, NULL);
	expect_free(f, b, 422);
	free(b);
	free(n);
	/* 200: first contact at 6; the line verifies with DIR/witness.pub. */
	{
		struct note_verifier wv;
		struct note nt;
		uint64_t t0 = (uint64_t)time(NULL);
		char *full;

		b = cat("old 0\n\n", c6, NULL);
		a = expect(f, b, 200);
		free(b);
		assert_int_equal(key_verifier_load(h_path(f->data, "witness.pub"), &wv, why), 0);
		assert_int_equal(wv.type, NOTE_TYPE_COSIG);
		assert_string_equal(wv.name, "example.com/witness-it");
		full = cat(c6, a.body, NULL);
		assert_int_equal(
		    note_open((const uint8_t *)full, strlen(full), &wv, 1, &nt, why), 0);
		assert_true(
		    nt.sigs[1].timestamp >= t0 && nt.sigs[1].timestamp <= (uint64_t)time(NULL));
		free(full);
		free(a.body);
	}
	/* 409: old 0 when the witness is at 6, body "6\n". */
	b = cat("old 0\n\n", c8, NULL);
	a = expect(f, b, 409);
	assert_string_equal(a.body, "6\n");
	free(a.body);
	free(b);
	/* 422: a failing proof; 422: a proof with old 0. */
	vector_proof(f, p);
	b = cat("old 6\n", p[0], p[2], p[1], "\n", c8, NULL);
	expect_free(f, b, 422);
	free(b);
	/* 200: the vector request moves it to 8. */
	expect_free(f, tu_str(f->d, "witness_add_checkpoint_request"), 200);
	/* 422: another root at the cosigned size 8. */
	n = signed_note(
	    &f->log, "example.com/tlog-test\n8\nduZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=\n");
	b = cat("old 8\n\n", n, NULL);
	expect_free(f, b, 422);
	free(b);
	free(n);
	/* 409 for a rollback to 6: the witness holds 8. */
	b = cat("old 6\n\n", c6, NULL);
	a = expect(f, b, 409);
	assert_string_equal(a.body, "8\n");
	free(a.body);
	free(b);
	note_signer_wipe(&other);
	note_signer_wipe(&same_name);
}

/* GET /<hex SHA-256(origin)>/checkpoint and /metrics. */
static void
test_get(void **state)
{
	struct fx *f = *state;
	const char *origin = tu_str(json_object_get(f->d, "log"), "name");
	char url[256], hex[65];
	uint8_t h[32];
	struct note_verifier lv, wv, both[2];
	struct note nt;
	struct answer a;
	char *b;

	crypto_hash_sha256(h, (const uint8_t *)origin, strlen(origin));
	cl_hex_encode(h, sizeof h, hex);
	snprintf(url, sizeof url, "%s/%s/checkpoint", f->w.url, hex);
	a = req("GET", url, NULL, 0);
	assert_int_equal(a.status, 404); /* nothing cosigned yet */
	free(a.body);
	b = cat("old 0\n\n", tu_str(f->d, "checkpoint8"), NULL);
	expect_free(f, b, 200);
	free(b);
	a = req("GET", url, NULL, 0);
	assert_int_equal(a.status, 200);
	assert_int_equal(note_verifier_parse(f->log_vkey, strlen(f->log_vkey), &lv, why), 0);
	assert_int_equal(note_verifier_parse(f->w.vkey, strlen(f->w.vkey), &wv, why), 0);
	both[0] = lv;
	both[1] = wv;
	assert_int_equal(note_open((const uint8_t *)a.body, a.len, both, 2, &nt, why), 0);
	assert_int_equal(nt.n_sigs, 2);
	assert_int_equal(nt.n_verified, 2);
	assert_memory_equal(a.body, tu_str(f->d, "checkpoint8_body"), nt.text_len);
	free(a.body);

	snprintf(url, sizeof url, "%s/metrics", f->w.url);
	a = req("GET", url, NULL, 0);
	assert_int_equal(a.status, 200);
	assert_non_null(
	    strstr(a.body, "closurelog_witness_add_checkpoint_total{status=\"200\"} 1\n"));
	assert_non_null(
	    strstr(a.body, "closurelog_witness_log_size{origin=\"example.com/tlog-test\"} 8\n"));
	free(a.body);
}

/* Hostile requests get one text line, and the witness keeps serving. */
static void
test_hostile(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *method, *path;
		long status;
	} cases[] = {
	    {"GET", "/add-checkpoint", 405},
	    {"PUT", "/add-checkpoint", 405},
	    {"DELETE", "/metrics", 405},
	    {"POST", "/checkpoint", 405},
	    {"GET", "/nope", 404},
	    {"GET", "/0000000000000000000000000000000000000000000000000000000000000000/checkpoint",
	        404},
	    {"GET", "/ZZ/checkpoint", 404},
	    {"POST", "/add-checkpoint?x=1", 400},
	};
	char url[256], *big;
	struct answer a;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(url, sizeof url, "%s%s", f->w.url, cases[i].path);
		/* A POST says how long its (empty) body is: one without a
		 * length is refused 411 before routing (test_protocol). */
		a = req(cases[i].method, url, strcmp(cases[i].method, "POST") == 0 ? "" : NULL, 0);
		if (a.status != cases[i].status)
			fail_msg("%s %s: wanted %ld, got %ld", cases[i].method, cases[i].path,
			    cases[i].status, a.status);
		assert_string_equal(a.type, "text/plain; charset=utf-8");
		assert_true(a.len > 0 && a.body[a.len - 1] == '\n');
		assert_null(memchr(a.body, '\n', a.len - 1));
		free(a.body);
	}
	/* A body over the cap: refused without being judged. */
	assert_non_null(big = malloc(2 * 65536 + 1));
	memset(big, 'A', 2 * 65536);
	big[2 * 65536] = '\0';
	memcpy(big, "old 0\n", 6);
	a = post(f, big);
	assert_int_equal(a.status, 413);
	assert_string_equal(a.type, "text/plain; charset=utf-8");
	free(a.body);
	free(big);
	/* Binary junk and an empty body. */
	expect_free(f, "", 400);
	expect_free(f, "old 0\n\n\xff\xfe\n\n\xe2\x80\x94 x AAAAAAAA\n", 400);
	/* Still serving. */
	{
		char *b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);

		expect_free(f, b, 200);
		free(b);
	}
}

/* The metric line name{labels} value, or -1 if absent. */
static long long
metric(struct fx *f, const char *line)
{
	char url[128];
	struct answer a;
	const char *p;
	long long v = -1;

	snprintf(url, sizeof url, "%s/metrics", f->w.url);
	a = req("GET", url, NULL, 0);
	assert_int_equal(a.status, 200);
	if ((p = strstr(a.body, line)) != NULL && p[strlen(line)] == ' ')
		v = atoll(p + strlen(line) + 1);
	free(a.body);
	return v;
}

/* Protocol errors the connection layer answers itself: the RFC status,
 * one text/plain line, and the connection closed; wrong methods get 405
 * with Allow and keep the connection.  The witness keeps serving. */
static void
test_protocol(void **state)
{
	struct fx *f = *state;
	static char flood[20000], long_url[1200];
	static const struct {
		const char *name, *raw;
		int status;
		bool closes;
		const char *allow;
	} cases[] = {
	    {"POST without a length", "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n\r\n", 411, true,
	        NULL},
	    {"two Content-Lengths",
	        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\n"
	        "Content-Length: 4\r\n\r\nold 0",
	        400, true, NULL},
	    {"Content-Length and chunked",
	        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\n"
	        "Transfer-Encoding: chunked\r\n\r\n3\r\nold\r\n0\r\n\r\n",
	        400, true, NULL},
	    {"body over 64 KiB, declared",
	        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 65537\r\n\r\n", 413,
	        true, NULL},
	    {"version 9.9", "GET /metrics HTTP/9.9\r\nHost: w\r\n\r\n", 505, true, NULL},
	    {"unknown method", "BREW /metrics HTTP/1.1\r\nHost: w\r\n\r\n", 501, true, NULL},
	    {"no Host", "GET /metrics HTTP/1.1\r\n\r\n", 400, true, NULL},
	    {"TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, true, NULL},
	    {"header flood", flood, 431, true, NULL},
	    {"long target", long_url, 414, true, NULL},
	    {"GET add-checkpoint", "GET /add-checkpoint HTTP/1.1\r\nHost: w\r\n\r\n", 405, false,
	        "POST"},
	    {"PUT metrics", "PUT /metrics HTTP/1.1\r\nHost: w\r\nContent-Length: 0\r\n\r\n", 405,
	        false, "GET, HEAD"},
	    {"query", "GET /metrics?x=1 HTTP/1.1\r\nHost: w\r\n\r\n", 400, false, NULL},
	};
	char v[128], *b;
	struct rh_resp r;

	snprintf(flood, sizeof flood, "GET /metrics HTTP/1.1\r\nHost: w\r\n");
	while (strlen(flood) < sizeof flood - 100)
		strcat(flood, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	strcat(flood, "\r\n");
	snprintf(long_url, sizeof long_url, "GET /");
	while (strlen(long_url) < sizeof long_url - 40)
		strcat(long_url, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	strcat(long_url, " HTTP/1.1\r\nHost: w\r\n\r\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int fd = rh_open(f->w.port);

		rh_reset();
		rh_send_str(fd, cases[i].raw);
		if (rh_read(fd, &r, false) != 0)
			fail_msg("%s: no answer", cases[i].name);
		if (r.status != cases[i].status)
			fail_msg("%s: wanted %d, got %d: %s", cases[i].name, cases[i].status,
			    r.status, (char *)r.body);
		rh_one_line(&r);
		if (cases[i].allow != NULL) {
			assert_non_null(rh_header(&r, "Allow", v, sizeof v));
			assert_string_equal(v, cases[i].allow);
		}
		free(r.body);
		if (cases[i].closes) {
			rh_expect_closed(fd);
		} else {
			/* Same connection, next request. */
			rh_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: w\r\n\r\n");
			assert_int_equal(rh_read(fd, &r, false), 0);
			assert_int_equal(r.status, 200);
			free(r.body);
		}
		close(fd);
	}
	assert_true(
	    metric(f, "closurelog_witness_http_refused_total{reason=\"bad_request\"}") >= 6);
	assert_true(metric(f, "closurelog_witness_http_refused_total{reason=\"too_big\"}") >= 3);
	b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);
	expect_free(f, b, 200);
	free(b);
}

/* --max-conns: the connection beyond the cap gets one 503 line and is
 * closed; the ones within it keep being served, and a slot freed is
 * reused. */
static void
test_max_conns(void **state)
{
	struct fx *f = *state;
	const char *more[] = {"--max-conns", "2", NULL};
	const char *get = "GET /metrics HTTP/1.1\r\nHost: w\r\n\r\n";
	struct rh_resp r;
	int a, b, c;
	bool ok = false;

	h_witness_stop(&f->w, SIGTERM);
	start_with(f, more);
	a = rh_open(f->w.port);
	b = rh_open(f->w.port);
	/* Both are accepted (each answered) before the third comes. */
	rh_reset();
	rh_send_str(a, get);
	assert_int_equal(rh_read(a, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	rh_send_str(b, get);
	assert_int_equal(rh_read(b, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	c = rh_open(f->w.port);
	rh_send_str(c, get);
	assert_int_equal(rh_read(c, &r, false), 0);
	assert_int_equal(r.status, 503);
	rh_one_line(&r);
	free(r.body);
	rh_expect_closed(c);
	close(c);
	/* The first two still work. */
	rh_send_str(a, get);
	assert_int_equal(rh_read(a, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	/* Free a slot: a new connection gets in once the witness has seen
	 * the close (polled, with a generous deadline). */
	close(a);
	for (int i = 0; i < 200 && !ok; i++) {
		c = rh_open(f->w.port);
		rh_reset();
		rh_send_str(c, get);
		assert_int_equal(rh_read(c, &r, false), 0);
		ok = r.status == 200;
		free(r.body);
		close(c);
		if (!ok)
			usleep(50000);
	}
	assert_true(ok);
	close(b);
	assert_true(
	    metric(f, "closurelog_witness_http_refused_total{reason=\"too_many_connections\"}") >=
	    1);
}

/* A slow client: a request not whole within --request-timeout gets one
 * 408 line and is closed; an idle keep-alive connection is closed quietly
 * after --idle-timeout, not at the request deadline. */
static void
test_slow_client(void **state)
{
	struct fx *f = *state;
	const char *more[] = {"--request-timeout", "1", "--idle-timeout", "8", NULL};
	struct rh_resp r;
	struct timespec t0, t1;
	int fd;

	h_witness_stop(&f->w, SIGTERM);
	start_with(f, more);
	fd = rh_open(f->w.port);
	rh_reset();
	rh_send_str(
	    fd, "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 100\r\n\r\nold");
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 408);
	rh_one_line(&r);
	free(r.body);
	rh_expect_closed(fd);
	close(fd);
	/* Idle: answered, then kept open past the request deadline (a
	 * request sent after it is served), then closed with nothing sent. */
	fd = rh_open(f->w.port);
	rh_reset();
	rh_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: w\r\n\r\n");
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	{
		/* Wait out the 1 s request deadline without sending. */
		struct timespec d = {1, 500000000};

		nanosleep(&d, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (t1.tv_sec - t0.tv_sec < 4) {
		/* Only meaningful well inside the 8 s idle deadline (a loaded
		 * machine may have slept much longer). */
		rh_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: w\r\n\r\n");
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 200);
		free(r.body);
	}
	rh_expect_closed(fd);
	close(fd);
	assert_true(metric(f, "closurelog_witness_http_refused_total{reason=\"timeout\"}") >= 1);
}

/* A 200 is durable: SIGKILL right after it, and the restarted witness
 * still holds the size. */
static void
test_durable(void **state)
{
	struct fx *f = *state;
	struct answer a;
	char *b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);

	expect_free(f, b, 200);
	h_witness_stop(&f->w, SIGKILL);
	start(f);
	a = expect(f, b, 409);
	assert_string_equal(a.body, "6\n");
	free(a.body);
	free(b);
}

struct racer {
	const char *url, *body;
	pthread_t tid;
	long status;
	char answer[32];
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	uint8_t *b = NULL;
	size_t len = 0;

	if (h_http("POST", r->url, r->body, strlen(r->body), &r->status, &b, &len) == 0)
		snprintf(r->answer, sizeof r->answer, "%.*s", (int)len, (char *)b);
	free(b);
	return NULL;
}

/* Many clients race the same move (6 -> 8) against two witness processes
 * sharing one data directory: exactly one is cosigned, every other gets
 * 409 with the new size. */
static void
test_race(void **state)
{
	struct fx *f = *state;
	const char *extra[] = {"--log", f->log_vkey, NULL};
	struct h_witness second;
	struct racer r[16];
	char urls[2][128];
	int ok = 0;
	char *b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);

	expect_free(f, b, 200);
	free(b);
	h_witness_start(&second, f->data, extra);
	snprintf(urls[0], sizeof urls[0], "%s/add-checkpoint", f->w.url);
	snprintf(urls[1], sizeof urls[1], "%s/add-checkpoint", second.url);
	for (int i = 0; i < 16; i++) {
		memset(&r[i], 0, sizeof r[i]);
		r[i].url = urls[i % 2];
		r[i].body = tu_str(f->d, "witness_add_checkpoint_request");
		assert_int_equal(pthread_create(&r[i].tid, NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < 16; i++) {
		pthread_join(r[i].tid, NULL);
		if (r[i].status == 200)
			ok++;
		else if (r[i].status != 409 || strcmp(r[i].answer, "8\n") != 0)
			fail_msg("racer %d: %ld %s", i, r[i].status, r[i].answer);
	}
	assert_int_equal(ok, 1);
	h_witness_stop(&second, SIGTERM);
}

/* Two witness processes on one data directory: of two requests moving the
 * log on from the same size, at most one is cosigned. */
static void
test_two_processes(void **state)
{
	struct fx *f = *state;
	const char *extra[] = {"--log", f->log_vkey, NULL};
	struct h_witness second;
	struct answer a;
	char url[128], *b;

	b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);
	expect_free(f, b, 200);
	free(b);
	h_witness_start(&second, f->data, extra);
	expect_free(f, tu_str(f->d, "witness_add_checkpoint_request"), 200);
	snprintf(url, sizeof url, "%s/add-checkpoint", second.url);
	b = (char *)tu_str(f->d, "witness_add_checkpoint_request");
	a = req("POST", url, b, strlen(b));
	assert_int_equal(a.status, 409);
	assert_string_equal(a.body, "8\n");
	free(a.body);
	h_witness_stop(&second, SIGTERM);
}

/* Flags and key files. */
static void
test_flags(void **state)
{
	struct fx *f = *state;
	struct h_witness w2;
	struct h_run r;
	char dir[700], err[2048];
	int st = 0;

	{
		const char *argv[] = {h_bin("closurelog-witness"), "--help", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "--log VKEY"));
		assert_non_null(strstr(r.out, "--max-conns N"));
		assert_non_null(strstr(r.out, "--request-timeout SECS"));
		assert_non_null(strstr(r.out, "--idle-timeout SECS"));
		h_run_free(&r);
	}
	{
		/* Limits out of range, or not canonical decimals: usage errors. */
		static const char *const bad[][2] = {
		    {"--max-conns", "0"},
		    {"--max-conns", "01"},
		    {"--request-timeout", "3601"},
		    {"--idle-timeout", "-1"},
		    {"--idle-timeout", "5s"},
		};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			const char *argv[] = {h_bin("closurelog-witness"), "--data", f->tmp,
			    "--listen", "127.0.0.1:0", "--log", f->log_vkey, bad[i][0], bad[i][1],
			    NULL};

			h_run(&r, NULL, argv);
			assert_int_equal(r.status, 2);
			assert_non_null(strstr(r.err, bad[i][0]));
			h_run_free(&r);
		}
	}
	{
		const char *argv[] = {
		    h_bin("closurelog-witness"), "--data", f->tmp, "--listen", "127.0.0.1:0", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 2);
		assert_non_null(strstr(r.err, "--log"));
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelog-witness"), "--data", f->tmp, "--listen",
		    "127.0.0.1:0", "--log", "example.com/x+00000000+AAAA", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 2);
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelog-witness"), "--data", f->tmp, "--listen",
		    "127.0.0.1:99999", "--log", f->log_vkey, NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 2);
		assert_non_null(strstr(r.err, "not HOST:PORT"));
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelog-witness"), "--bogus", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 2);
		h_run_free(&r);
	}
	/* The key is 0600; a key others can read is refused. */
	{
		struct stat sb;

		assert_int_equal(stat(h_path(f->data, "witness.key"), &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	h_witness_stop(&f->w, SIGTERM);
	assert_int_equal(chmod(h_path(f->data, "witness.key"), 0644), 0);
	{
		const char *extra[] = {"--log", f->log_vkey, NULL};

		assert_int_equal(
		    h_witness_try_start(&w2, f->data, extra, &st, err, sizeof err), -1);
		assert_int_equal(st, 1);
		assert_non_null(strstr(err, "witness.key"));
	}
	assert_int_equal(chmod(h_path(f->data, "witness.key"), 0600), 0);
	/* --key naming a file that does not exist is an error, not a new key. */
	snprintf(dir, sizeof dir, "%s/w2", f->tmp);
	{
		const char *extra[] = {
		    "--log", f->log_vkey, "--key", h_path(f->tmp, "missing.key"), NULL};

		assert_int_equal(h_witness_try_start(&w2, dir, extra, &st, err, sizeof err), -1);
		assert_int_equal(st, 1);
	}
	/* --key of another witness's key: it is used, and w2/witness.pub
	 * is written for it. */
	{
		const char *extra[] = {
		    "--log", f->log_vkey, "--key", h_path(f->data, "witness.key"), NULL};

		h_witness_start(&w2, dir, extra);
		start(f);
		assert_string_equal(w2.vkey, f->w.vkey);
		h_witness_stop(&w2, SIGTERM);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_conns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
	};

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
