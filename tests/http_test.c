/*
 * http_test.c: closurelogd's HTTP contract (docs/api.md), driven with raw
 * sockets against a real server on 127.0.0.1 with port 0: every refusal
 * of the connection layer with its status and one text/plain line,
 * framing errors closing the connection, methods and Allow, strict query
 * strings, Content-Type, count caps, pipelining, keep-alive and request
 * deadlines, the exclusive port and connections spread over threads.
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "cl.h"
#include "rawhttp.h"
#include "srvutil.h"
#include "testutil.h"

/* Send req on a fresh connection; expect one answer with `status` and a
 * line containing `text`, then (if `closes`) the server's close. */
static void
exchange(const struct h_server *s, const char *name, const void *req, size_t len, int status,
    const char *text, bool closes)
{
	struct rh_resp r;
	int fd = rh_open(s->port);

	rh_reset();
	rh_send(fd, req, len);
	if (rh_read(fd, &r, false) != 0)
		fail_msg("%s: no answer", name);
	if (r.status != status || (text != NULL && strstr((char *)r.body, text) == NULL))
		fail_msg("%s: got %d \"%s\", want %d with \"%s\"", name, r.status, (char *)r.body,
		    status, text != NULL ? text : "");
	if (status >= 400)
		rh_one_line(&r);
	if (closes) {
		char v[32];

		assert_non_null(rh_header(&r, "Connection", v, sizeof v));
		assert_string_equal(v, "close");
		rh_expect_closed(fd);
	}
	free(r.body);
	close(fd);
}

static void
exchange_str(const struct h_server *s, const char *name, const char *req, int status,
    const char *text, bool closes)
{
	exchange(s, name, req, strlen(req), status, text, closes);
}

static long
metric(const struct h_server *s, const char *name)
{
	char url[128];
	uint8_t *body;
	size_t len;
	long status, v = -1;
	const char *p;

	snprintf(url, sizeof url, "%s/metrics", s->url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 200);
	if ((p = strstr((char *)body, name)) != NULL && p[strlen(name)] == ' ')
		v = atol(p + strlen(name) + 1);
	free(body);
	return v;
}

/* A fresh log (in a new directory under dir[512]) holding one entry. */
static void
start_with_one_entry(struct h_server *s, char *dir)
{
	struct note_verifier lk;
	struct su_ack a;
	uint8_t *env;
	size_t len;

	h_tmpdir(dir, 512);
	su_start(s, dir, NULL);
	su_log_key(s, &lk);
	env = su_envelope(1, NULL, &len);
	assert_int_equal(su_submit(s, &lk, env, len, &a, NULL), 201);
	free(env);
}

/* ---- Protocol refusals by the connection layer ---- */

static void
test_protocol_refusals(void **state)
{
	static const struct {
		const char *name, *req;
		int status;
		const char *text;
	} cases[] = {
	    {"unknown method", "FOO /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method"},
	    {"garbage", "\x01\x02\x03 junk\r\n\r\n", 400, "not an HTTP request"},
	    {"HTTP/0.9", "GET /checkpoint\r\n", 505, "0.9"},
	    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"},
	    {"version 9.9", "GET /checkpoint HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTP/1.1"},
	    {"negative Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
	        "Content-Length"},
	    {"non-numeric Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
	        "Content-Length"},
	    {"huge Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: "
	        "999999999999999999999999\r\n\r\n",
	        400, "Content-Length"},
	    {"leading zero Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 01\r\n\r\nx", 400,
	        "Content-Length"},
	    {"two different Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: "
	        "application/x-protobuf\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	        400, "Content-Length"},
	    {"two equal Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: "
	        "1\r\n\r\nx",
	        400, "Content-Length"},
	    {"Transfer-Encoding with Content-Length",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
	        "chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
	        400, "Transfer-Encoding"},
	    {"unknown transfer coding",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
	        "chunked"},
	    {"malformed chunk",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: "
	        "application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	        400, "malformed request"},
	    {"POST without length", "POST /v1/entries HTTP/1.1\r\nHost: x\r\n\r\n", 411,
	        "Content-Length"},
	    {"declared body too large",
	        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", 413,
	        "too large"},
	    {"no Host", "GET /checkpoint HTTP/1.1\r\n\r\n", 400, "Host"},
	    {"two Hosts", "GET /checkpoint HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "Host"},
	    {"unknown expectation", "GET /checkpoint HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n",
	        417, "100-continue"},
	    {"raw NUL in the target", "GET /check\0point HTTP/1.1\r\nHost: x\r\n\r\n", 400,
	        "malformed request"},
	};
	char dir[512];
	struct h_server s;
	static const char *const args[] = {"--rate", "0", NULL};

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].req);

		if (strcmp(cases[i].name, "raw NUL in the target") == 0)
			len = sizeof "GET /check\0point HTTP/1.1\r\nHost: x\r\n\r\n" - 1;
		exchange(
		    &s, cases[i].name, cases[i].req, len, cases[i].status, cases[i].text, true);
	}
	/* Header floods and a 100 KB target. */
	{
		size_t cap = 200000, n = 0;
		char *big = malloc(cap);

		assert_non_null(big);
		n = (size_t)snprintf(big, cap, "GET /checkpoint HTTP/1.1\r\nHost: x\r\n");
		for (int i = 0; i < 200; i++)
			n += (size_t)snprintf(big + n, cap - n, "X-H%d: 1\r\n", i);
		n += (size_t)snprintf(big + n, cap - n, "\r\n");
		exchange(&s, "200 headers", big, n, 431, "headers", true);
		n = (size_t)snprintf(big, cap, "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Big: ");
		memset(big + n, 'a', 20000);
		n += 20000;
		n += (size_t)snprintf(big + n, cap - n, "\r\n\r\n");
		exchange(&s, "20 KB header", big, n, 431, "headers", true);
		n = (size_t)snprintf(big, cap, "GET /");
		memset(big + n, 'a', 100000);
		n += 100000;
		n += (size_t)snprintf(big + n, cap - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
		exchange(&s, "100 KB target", big, n, 414, "too long", true);
		/* A chunked body over the cap, refused while it arrives. */
		n = (size_t)snprintf(big, cap,
		    "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: "
		    "application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 10; i++) {
			n += (size_t)snprintf(big + n, cap - n, "2000\r\n");
			memset(big + n, 'b', 0x2000);
			n += 0x2000;
			n += (size_t)snprintf(big + n, cap - n, "\r\n");
		}
		exchange(&s, "chunked body too large", big, n, 413, "too large", true);
		free(big);
	}
	/* A valid request with garbage pipelined behind it: the first is
	 * answered, the garbage refused, the connection closed. */
	{
		static const char two[] =
		    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x01garbage\r\n\r\n";
		struct rh_resp r;
		int fd = rh_open(s.port);

		rh_reset();
		rh_send(fd, two, sizeof two - 1);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 200);
		free(r.body);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 400);
		rh_one_line(&r);
		free(r.body);
		rh_expect_closed(fd);
		close(fd);
	}
	/* Still serving, and every refusal was counted. */
	exchange_str(&s, "after", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, "ok 0", false);
	assert_true(metric(&s, "closurelog_rejects_total{reason=\"bad_request\"}") >= 18);
	assert_true(metric(&s, "closurelog_rejects_total{reason=\"too_big\"}") >= 5);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
}

/* ---- Methods ---- */

static void
test_methods(void **state)
{
	static const char *const methods[] = {"PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"};
	static const struct {
		const char *req;
		bool head; /* a HEAD answer: no body to read */
		int status;
		const char *header, *value; /* a header it must carry, or NULL */
		const char *body;           /* its body, or NULL */
	} on_one[] = {
	    {"DELETE /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n", false, 405, "Allow", "GET, HEAD",
	        NULL},
	    {"GET /v1/entries HTTP/1.1\r\nHost: x\r\n\r\n", false, 405, "Allow", "POST", NULL},
	    {"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true, 200, "Content-Length",
	        "5" /* "ok 0\n" */, NULL},
	    {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false, 200, NULL, NULL, "ok 0\n"},
	};
	char dir[512], req[256], v[64];
	struct h_server s;
	struct rh_resp r;
	int fd;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		snprintf(req, sizeof req,
		    "%s /checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", methods[i]);
		exchange_str(&s, methods[i], req, 405, "use GET", false);
		snprintf(req, sizeof req,
		    "%s /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", methods[i]);
		exchange_str(&s, methods[i], req, 405, "use POST", false);
	}
	exchange_str(
	    &s, "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405, "OPTIONS", false);
	exchange_str(&s, "CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
	    405, "CONNECT", true);
	/* On one connection: Allow names what the route takes; HEAD has the
	 * headers of GET and no body (the GET after it would not parse if it
	 * had one). */
	fd = rh_open(s.port);
	rh_reset();
	for (size_t i = 0; i < sizeof on_one / sizeof on_one[0]; i++) {
		rh_send_str(fd, on_one[i].req);
		assert_int_equal(rh_read(fd, &r, on_one[i].head), 0);
		if (r.status != on_one[i].status)
			fail_msg("%s: %d, want %d", on_one[i].req, r.status, on_one[i].status);
		if (on_one[i].header != NULL) {
			assert_non_null(rh_header(&r, on_one[i].header, v, sizeof v));
			assert_string_equal(v, on_one[i].value);
		}
		if (on_one[i].body != NULL)
			assert_string_equal((char *)r.body, on_one[i].body);
		free(r.body);
	}
	close(fd);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
}

/* ---- Query strings ---- */

static void
test_queries(void **state)
{
	static const struct {
		const char *path, *text;
	} cases[] = {
	    {"/v1/proof/inclusion?index=0%00junk", "control character"},
	    {"/v1/proof/inclusion?index=0%2", "percent-encoding"},
	    {"/v1/proof/inclusion?index=0%zz", "percent-encoding"},
	    {"/v1/proof/inclusion?index=", "empty value"},
	    {"/v1/proof/inclusion?index", "name=value"},
	    {"/v1/proof/inclusion?index=0&", "name=value"},
	    {"/v1/proof/inclusion?&index=0", "name=value"},
	    {"/v1/proof/inclusion?index=00", "index"},
	    {"/v1/proof/inclusion?index=%30", NULL}, /* decodes to "0": fine, see below */
	    {"/v1/proof/inclusion?index=0&index=0", "twice"},
	    {"/v1/proof/inclusion?index=0&foo=1", "unknown parameter"},
	    /* Indices: canonical decimals below the size (1 here), nothing else. */
	    {"/v1/proof/inclusion?index=1", "not below size 1"},
	    {"/v1/proof/inclusion?index=18446744073709551615", "not below size 1"},
	    {"/v1/proof/inclusion?index=18446744073709551616", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=99999999999999999999999", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=-1", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=%2B0", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=0x0", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=%200", "index: not a decimal"},
	    {"/v1/proof/inclusion?index=0&size=0", "not below size 0"},
	    {"/v1/proof/inclusion?index=0&size=01", "size: not a decimal"},
	    {"/v1/proof/inclusion?index=0&size=2", "beyond the log's size 1"},
	    {"/v1/proof/inclusion?index=0&size=1", NULL},
	    {"/v1/proof/consistency?from=0&from=0", "twice"},
	    {"/v1/search?root=/nix/store/00000000000000000000000000000000-x%00junk",
	        "control character"},
	    {"/v1/search?root=/nix/store/00000000000000000000000000000000-x&foo=", "unknown"},
	    {"/v1/entries/0?foo=1", "takes no query"},
	    {"/v1/bundle/0?foo=1", "takes no query"},
	    {"/checkpoint?x=1", "takes no query"},
	    {"/checkpoint?", "takes no query"},
	    {"/tile/0/000.p/1?x=1", "takes no query"},
	    {"/healthz?x=1", "takes no query"},
	    {"/metrics?x=1", "takes no query"},
	};
	char dir[512], req[512];
	struct h_server s;

	(void)state;
	start_with_one_entry(&s, dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", cases[i].path);
		if (cases[i].text == NULL)
			exchange_str(&s, cases[i].path, req, 200, NULL, false);
		else
			exchange_str(&s, cases[i].path, req, 400, cases[i].text, false);
	}
	exchange_str(&s, "POST with a query",
	    "POST /v1/entries?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: "
	    "application/x-protobuf\r\nContent-Length: 1\r\n\r\nx",
	    400, "takes no query", false);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
}

/* ---- Submissions: Content-Type and count caps ---- */

static void
post_raw(const struct h_server *s, const char *name, const char *ctype, const uint8_t *body,
    size_t len, int status, const char *text)
{
	char head[512];
	uint8_t *req;
	size_t hl;

	hl = (size_t)snprintf(head, sizeof head,
	    "POST /v1/entries HTTP/1.1\r\nHost: x\r\n%s%s%sContent-Length: %zu\r\n\r\n",
	    ctype != NULL ? "Content-Type: " : "", ctype != NULL ? ctype : "",
	    ctype != NULL ? "\r\n" : "", len);
	req = malloc(hl + len);
	assert_non_null(req);
	memcpy(req, head, hl);
	memcpy(req + hl, body, len);
	exchange(s, name, req, hl + len, status, text, false);
	free(req);
}

static void
test_submissions(void **state)
{
	char dir[512];
	struct h_server s;
	uint8_t *env, *many;
	size_t len;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	env = su_envelope(3, NULL, &len);
	post_raw(&s, "no Content-Type", NULL, env, len, 415, "application/x-protobuf");
	post_raw(&s, "form Content-Type", "application/x-www-form-urlencoded", env, len, 415,
	    "application/x-protobuf");
	post_raw(&s, "text Content-Type", "text/plain", env, len, 415, "Content-Type");
	/* Five signatures: the last field is the one signature (tag 0x1a, 76
	 * bytes: 64-byte sig and an 8-digit keyid); repeat it four times. */
	assert_int_equal(env[len - 78], 0x1a);
	assert_int_equal(env[len - 77], 76);
	many = malloc(len + 4 * 78);
	assert_non_null(many);
	memcpy(many, env, len);
	for (int i = 0; i < 4; i++)
		memcpy(many + len + 78 * (size_t)i, env + len - 78, 78);
	post_raw(&s, "five signatures", "application/x-protobuf", many, len + 4 * 78, 400, NULL);
	free(many);
	/* Parameters on the media type are fine, and so is its case. */
	post_raw(&s, "parameters", "Application/X-Protobuf; foo=bar", env, len, 201, NULL);
	/* Expect: 100-continue gets the interim answer, then the real one. */
	{
		char head[256];
		struct rh_resp r;
		int fd = rh_open(s.port), n;

		n = snprintf(head, sizeof head,
		    "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: "
		    "application/x-protobuf\r\nExpect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
		    len);
		rh_reset();
		rh_send(fd, head, (size_t)n);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 100);
		free(r.body);
		rh_send(fd, env, len);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 200); /* the same envelope again */
		free(r.body);
		close(fd);
	}
	free(env);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
}

/* ---- Pipelining ---- */

static void
test_pipelining(void **state)
{
	char dir[512], *req;
	struct h_server s;
	struct rh_resp r;
	uint8_t *env;
	size_t len, n = 0, cap = 65536;
	int fd;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	env = su_envelope(9, NULL, &len);
	req = malloc(cap);
	assert_non_null(req);
	/* GET, POST (answered later, from another thread), GET, a 404: in
	 * one send, answered in order. */
	n += (size_t)snprintf(req + n, cap - n, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	n += (size_t)snprintf(req + n, cap - n,
	    "POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: "
	    "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
	    len);
	memcpy(req + n, env, len);
	n += len;
	n += (size_t)snprintf(req + n, cap - n, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	n += (size_t)snprintf(req + n, cap - n, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	n += (size_t)snprintf(
	    req + n, cap - n, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	fd = rh_open(s.port);
	rh_reset();
	rh_send(fd, req, n);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "ok 0\n");
	free(r.body);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 201);
	free(r.body);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "ok 1\n");
	free(r.body);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 404);
	free(r.body);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	rh_expect_closed(fd);
	close(fd);
	/* A client that half-closes after its requests still gets every
	 * answer, then the close. */
	fd = rh_open(s.port);
	rh_reset();
	rh_send_str(
	    fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	shutdown(fd, SHUT_WR);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 404);
	free(r.body);
	rh_expect_closed(fd);
	close(fd);
	free(req);
	free(env);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
}

/* A client that sends requests one by one and reads nothing until the end:
 * answers leave either in one send each, straight from the layer's own
 * buffer (a request that came alone), or through the output buffer
 * (requests that came together), interleaved; every one arrives whole and
 * in order, and the connection stays in step.  (The pacing only makes lone
 * requests likely; the test holds either way.) */
static void
test_unread_answers(void **state)
{
	enum { N = 400 };
	char dir[512];
	struct h_server s;
	struct rh_resp r, first;
	const char *req = "GET /v1/entries/0 HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd;

	(void)state;
	start_with_one_entry(&s, dir);
	fd = rh_open(s.port);
	rh_reset();
	rh_send_str(fd, req);
	assert_int_equal(rh_read(fd, &first, false), 0);
	assert_int_equal(first.status, 200);
	for (int i = 0; i < N; i++) {
		struct timespec pace = {0, 200000};

		rh_send_str(fd, req);
		nanosleep(&pace, NULL);
	}
	for (int i = 0; i < N; i++) {
		if (rh_read(fd, &r, false) != 0)
			fail_msg("answer %d of %d: connection ended", i, N);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, first.len);
		assert_memory_equal(r.body, first.body, first.len);
		free(r.body);
	}
	/* The connection is still in step. */
	rh_send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(rh_read(fd, &r, false), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "ok 1\n");
	free(r.body);
	free(first.body);
	close(fd);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0);
	h_rmrf(dir);
}

/* Answers to a client that reads nothing: once the connection's buffers
 * are full (a megabyte or two on loopback), a lone answer is taken by the
 * kernel only in part and the rest is queued, and every later answer is
 * queued behind it.  Paced so that most requests are alone when they are
 * answered (the direct send), with answers of some kilobytes (a partial
 * tile of 100 hashes) so that the buffers fill soon, alternating with a
 * short one so that a lost, doubled or reordered piece shows.  All must
 * arrive whole and in order once the client reads. */
static void
test_partial_sends(void **state)
{
	enum { ENTRIES = 100, N = 3000 };
	static const char *const reqs[2] = {
	    "GET /tile/0/000.p/100 HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack a;
	struct rh_resp r, want[2];
	int fd;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (int i = 0; i < ENTRIES; i++) {
		size_t len;
		uint8_t *env = su_envelope(1000 + i, NULL, &len);

		assert_int_equal(su_submit(&s, &lk, env, len, &a, NULL), 201);
		free(env);
	}
	for (int k = 0; k < 2; k++) {
		fd = rh_open(s.port);
		rh_reset();
		rh_send_str(fd, reqs[k]);
		assert_int_equal(rh_read(fd, &want[k], false), 0);
		assert_int_equal(want[k].status, 200);
		close(fd);
	}
	assert_int_equal(want[0].len, 32 * ENTRIES);
	fd = rh_open(s.port);
	rh_reset();
	for (int i = 0; i < N; i++) {
		struct timespec pace = {0, 300000};

		rh_send_str(fd, reqs[i % 2]);
		nanosleep(&pace, NULL);
	}
	for (int i = 0; i < N; i++) {
		const struct rh_resp *w = &want[i % 2];

		if (rh_read(fd, &r, false) != 0)
			fail_msg("answer %d of %d: connection ended", i, N);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, w->len);
		assert_memory_equal(r.body, w->body, w->len);
		free(r.body);
	}
	free(want[0].body);
	free(want[1].body);
	close(fd);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0);
	h_rmrf(dir);
}

/* ---- Keep-alive and deadlines ---- */

/* A keep-alive connection idle for well over --request-timeout (1 s) is
 * not cut off: the deadline runs from a request's first byte.  Then, per
 * case, what is sent next and what follows: a whole request is served and
 * the connection is closed quietly at --idle-timeout (no timeout reject);
 * a request that trickles is cut off with 408 and counted. */
static void
test_idle_and_deadline(void **state)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	static const struct {
		const char *name, *idle_timeout, *next;
		int status;    /* the answer to next */
		long timeouts; /* closurelog_rejects_total{reason="timeout"} after */
	} cases[] = {
	    {"served after idling, closed at the idle timeout", "5", get, 200, 0},
	    {"begun after idling, then trickling: 408", "30", "GET /hea", 408, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[] = {
		    "--request-timeout", "1", "--idle-timeout", cases[i].idle_timeout, NULL};
		char dir[512];
		struct h_server s;
		struct rh_resp r;
		struct pollfd pf;
		int fd;

		print_message("  %s\n", cases[i].name);
		h_tmpdir(dir, sizeof dir);
		su_start(&s, dir, args);
		fd = rh_open(s.port);
		rh_reset();
		rh_send(fd, get, sizeof get - 1);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, 200);
		free(r.body);
		pf.fd = fd;
		pf.events = POLLIN;
		assert_int_equal(poll(&pf, 1, 2500), 0);
		rh_send_str(fd, cases[i].next);
		assert_int_equal(rh_read(fd, &r, false), 0);
		assert_int_equal(r.status, cases[i].status);
		if (r.status >= 400)
			rh_one_line(&r);
		free(r.body);
		rh_expect_closed(fd);
		close(fd);
		assert_int_equal(
		    metric(&s, "closurelog_rejects_total{reason=\"timeout\"}"), cases[i].timeouts);
		assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit */
		h_rmrf(dir);
	}
}

/* ---- One log per port; threads share the load ---- */

static void
test_port_exclusive(void **state)
{
	char dir[512], dir2[512], listen[64], err[2048];
	struct h_server s, s2;
	static const char *const args[] = {"--http-threads", "2", NULL};
	const char *args2[] = {"--listen", listen, "--submitters", NULL, NULL};
	int status;
	long t0, t1;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	h_tmpdir(dir2, sizeof dir2);
	su_start(&s, dir, args);
	snprintf(listen, sizeof listen, "127.0.0.1:%u", s.port);
	args2[3] = h_path(dir, "submitters");
	assert_int_equal(
	    h_server_try_start(&s2, h_path(dir2, "data"), args2, &status, err, sizeof err), -1);
	assert_int_equal(status, 1);
	assert_non_null(strstr(err, "address in use"));
	/* The first keeps serving, every connection; and its two threads
	 * share them (dealt in turn). */
	for (int i = 0; i < 8; i++)
		exchange_str(
		    &s, "after", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, "ok 0", false);
	t0 = metric(&s, "closurelog_http_connections_total{thread=\"0\"}");
	t1 = metric(&s, "closurelog_http_connections_total{thread=\"1\"}");
	print_message("  connections: thread 0 %ld, thread 1 %ld\n", t0, t1);
	assert_true(t0 >= 4);
	assert_true(t1 >= 4);
	assert_int_equal(h_server_stop(&s, SIGTERM), 0); /* a clean exit: no leak, no crash */
	h_rmrf(dir);
	h_rmrf(dir2);
}

/* ---- Entries no checkpoint covers yet ---- */

/* Put entry `index` and size index + 1 into the store behind the server's
 * back (LMDB is multi-process): stored, but covered by no checkpoint. */
static void
store_unpublished(const char *data, uint64_t index)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi entries, meta;
	MDB_val k, v;
	uint8_t key[8], size[8];

	cl_be64_put(key, index);
	cl_be64_put(size, index + 1);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "entries", 0, &entries), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	k = (MDB_val){sizeof key, key};
	v = (MDB_val){5, "hello"};
	assert_int_equal(mdb_put(txn, entries, &k, &v, 0), 0);
	k = (MDB_val){4, "size"};
	v = (MDB_val){sizeof size, size};
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_entry_not_published(void **state)
{
	char dir[512];
	struct h_server s;

	(void)state;
	start_with_one_entry(&s, dir);
	store_unpublished(h_path(dir, "data"), 1);
	exchange_str(
	    &s, "entry 0", "GET /v1/entries/0 HTTP/1.1\r\nHost: x\r\n\r\n", 200, NULL, false);
	exchange_str(&s, "entry 1", "GET /v1/entries/1 HTTP/1.1\r\nHost: x\r\n\r\n", 404,
	    "not yet published", false);
	exchange_str(&s, "entry 2", "GET /v1/entries/2 HTTP/1.1\r\nHost: x\r\n\r\n", 404,
	    "beyond the log's size 1", false);
	/* The store no longer matches the server's tree: no clean stop. */
	h_server_stop(&s, SIGKILL);
	h_rmrf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_protocol_refusals),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_submissions),
	    cmocka_unit_test(test_pipelining),
	    cmocka_unit_test(test_unread_answers),
	    cmocka_unit_test(test_partial_sends),
	    cmocka_unit_test(test_idle_and_deadline),
	    cmocka_unit_test(test_port_exclusive),
	    cmocka_unit_test(test_entry_not_published),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
