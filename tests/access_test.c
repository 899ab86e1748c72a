/*
 * access_test.c: who may write to closurelogd, and how much, against real
 * processes on 127.0.0.1 with port 0: who may add an entry (every signature allowlisted, verifying, in
 * ascending keyid order), one server per data directory, and a per-client
 * rate limit that two sources cannot share their way around.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "srvutil.h"
#include "testutil.h"
#include "wire.h"

static uint8_t abuf[WIRE_ARENA_MIN];

/* POST env to /v1/entries; expect `code` and a one-line body containing
 * every one of the texts (NULL-terminated). */
static void
expect_post(const struct h_server *s, const uint8_t *env, size_t len, long code, ...)
{
	char url[128];
	uint8_t *body;
	size_t blen;
	long status;
	va_list ap;
	const char *t;

	snprintf(url, sizeof url, "%s/v1/entries", s->url);
	assert_int_equal(h_http("POST", url, env, len, &status, &body, &blen), 0);
	if (status != code)
		fail_msg("POST: got %ld \"%s\", want %ld", status, (char *)body, code);
	va_start(ap, code);
	while ((t = va_arg(ap, const char *)) != NULL) {
		if (strstr((char *)body, t) == NULL)
			fail_msg(
			    "POST: got %ld \"%s\", want \"%s\" in it", status, (char *)body, t);
	}
	va_end(ap);
	assert_true(blen > 0 && memchr(body, '\n', blen) == body + blen - 1);
	free(body);
}

/* The log's size, from a verified checkpoint. */
static uint64_t
log_size(const struct h_server *s)
{
	struct note_verifier lk;
	struct sth c;

	su_log_key(s, &lk);
	su_checkpoint(s, &lk, &c);
	return c.size;
}

/* env's signatures replaced by sigs[0..n), encoded into a malloc'd copy. */
static uint8_t *
resign(const uint8_t *env, size_t len, const struct cl_signature *sigs, size_t n, size_t *out_len)
{
	struct wire_arena a;
	struct cl_envelope e;
	const uint8_t *enc;
	uint8_t *out;

	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
	for (size_t i = 0; i < n; i++)
		e.sigs[i] = sigs[i];
	e.n_sigs = n;
	assert_int_equal(wire_envelope_encode(&a, &e, &enc, out_len, NULL), 0);
	assert_non_null(out = malloc(*out_len));
	memcpy(out, enc, *out_len);
	return out;
}

/* The one signature of a single-signature envelope (copied into the
 * caller's buffers). */
static struct cl_signature
sig_of(const uint8_t *env, size_t len, char keyid[9], uint8_t sig[64])
{
	struct wire_arena a;
	struct cl_envelope e;

	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
	assert_int_equal(e.n_sigs, 1);
	memcpy(keyid, e.sigs[0].keyid, 9);
	memcpy(sig, e.sigs[0].sig, 64);
	return (struct cl_signature){keyid, sig, 64};
}

/* An envelope over the same payload as `env`, signed by s instead. */
static uint8_t *
sign_same(const uint8_t *env, size_t len, const struct note_signer *s, size_t *out_len)
{
	struct wire_arena a;
	struct cl_envelope e;
	const uint8_t *enc;
	uint8_t *out;

	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
	assert_int_equal(dsse_sign(&a, s, e.payload, e.payload_len, &enc, out_len, NULL), 0);
	assert_non_null(out = malloc(*out_len));
	memcpy(out, enc, *out_len);
	return out;
}

/* ---- Signer sets ---- */

static void
test_signer_sets(void **state)
{
	char dir[512], subs[600], data[600], line[2 * NOTE_VKEY_MAX + 8];
	char ci_id[9], co_id[9], st_id[9];
	uint8_t ci_sig[64], co_sig[64], st_sig[64], rnd[64], *entries, *env, *e2;
	struct note_signer co, stranger;
	struct note_verifier co_pub;
	char co_vkey[NOTE_VKEY_MAX];
	struct cl_signature ci_s, co_s, st_s, set[3];
	struct note_verifier lk;
	struct su_ack ack;
	struct h_server s;
	uint8_t seed[32];
	size_t len, l2, elen;
	const char *extra[3];
	char url[160];
	long status;
	int n;

	(void)state;
	memset(seed, 0x31, sizeof seed);
	assert_int_equal(note_signer_from_seed("cosigner.example.com", seed, &co, NULL), 0);
	note_signer_verifier(&co, &co_pub);
	note_verifier_format(&co_pub, co_vkey, sizeof co_vkey);
	memset(seed, 0x32, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example.com", seed, &stranger, NULL), 0);

	h_tmpdir(dir, sizeof dir);
	snprintf(subs, sizeof subs, "%s/subs", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	n = snprintf(line, sizeof line, "%s\n%s\n", su_ci_vkey, co_vkey);
	h_write(subs, line, (size_t)n);
	extra[0] = "--submitters";
	extra[1] = subs;
	extra[2] = NULL;
	h_server_start(&s, data, extra);
	su_log_key(&s, &lk);

	env = su_envelope(1, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &ack, NULL), 201);
	assert_int_equal(ack.index, 0);

	/* The attack: read the entry back from the public entry
	 * bundle, add Signature{64 random bytes, keyid "deadbeef"}, POST. */
	snprintf(url, sizeof url, "%s/tile/entries/000.p/1", s.url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &entries, &elen), 0);
	assert_int_equal(status, 200);
	assert_true(elen >= 2 && ((size_t)entries[0] << 8 | entries[1]) == elen - 2);
	assert_int_equal(elen - 2, len);
	assert_memory_equal(entries + 2, env, len);
	ci_s = sig_of(entries + 2, elen - 2, ci_id, ci_sig);
	free(entries);
	randombytes_buf(rnd, sizeof rnd);
	{
		struct cl_signature junk = {"deadbeef", rnd, 64};
		bool after = strcmp(ci_id, "deadbeef") < 0;

		set[0] = after ? ci_s : junk;
		set[1] = after ? junk : ci_s;
		e2 = resign(env, len, set, 2, &l2);
		/* In order it is an unknown key; out of order, refused before. */
		expect_post(&s, e2, l2, 403, after ? "signatures[1]" : "signatures[0]", "deadbeef",
		    "not an accepted submitter", NULL);
		free(e2);
		/* The other order is refused too, for its order. */
		set[0] = after ? junk : ci_s;
		set[1] = after ? ci_s : junk;
		e2 = resign(env, len, set, 2, &l2);
		expect_post(&s, e2, l2, 400, "signatures[1]", "ascending", NULL);
		free(e2);
	}

	/* Two allowlisted keys: accepted in ascending keyid order only. */
	e2 = sign_same(env, len, &co, &l2);
	co_s = sig_of(e2, l2, co_id, co_sig);
	free(e2);
	assert_true(strcmp(ci_id, co_id) != 0);
	{
		bool ci_first = strcmp(ci_id, co_id) < 0;

		set[0] = ci_first ? co_s : ci_s;
		set[1] = ci_first ? ci_s : co_s;
		e2 = resign(env, len, set, 2, &l2);
		expect_post(&s, e2, l2, 400, "signatures[1]", "ascending", NULL);
		free(e2);
		/* A failing signature by an allowlisted key, in order. */
		set[0] = ci_first ? ci_s : co_s;
		set[1] = ci_first ? co_s : ci_s;
		memset(rnd, 0x5a, sizeof rnd);
		set[1].sig = rnd;
		e2 = resign(env, len, set, 2, &l2);
		expect_post(
		    &s, e2, l2, 403, "signatures[1]", "does not verify", set[1].keyid, NULL);
		free(e2);
		/* Both good, in order: a new entry (the signer set is part of it). */
		set[0] = ci_first ? ci_s : co_s;
		set[1] = ci_first ? co_s : ci_s;
		e2 = resign(env, len, set, 2, &l2);
		assert_int_equal(su_submit(&s, &lk, e2, l2, &ack, NULL), 201);
		assert_int_equal(ack.index, 1);
		/* The same bytes again: the same entry. */
		assert_int_equal(su_submit(&s, &lk, e2, l2, &ack, NULL), 200);
		assert_int_equal(ack.index, 1);
		free(e2);
	}
	/* The same key twice. */
	set[0] = ci_s;
	set[1] = ci_s;
	e2 = resign(env, len, set, 2, &l2);
	expect_post(&s, e2, l2, 400, "signatures[1]", ci_id, NULL);
	free(e2);
	/* A real signature by a key that is not on the list, beside a good one. */
	e2 = sign_same(env, len, &stranger, &l2);
	st_s = sig_of(e2, l2, st_id, st_sig);
	free(e2);
	{
		bool ci_first = strcmp(ci_id, st_id) < 0;

		set[0] = ci_first ? ci_s : st_s;
		set[1] = ci_first ? st_s : ci_s;
		e2 = resign(env, len, set, 2, &l2);
		expect_post(&s, e2, l2, 403, ci_first ? "signatures[1]" : "signatures[0]", st_id,
		    "not an accepted submitter", NULL);
		free(e2);
	}
	/* None of the refusals grew the log. */
	assert_int_equal(log_size(&s), 2);
	free(env);
	note_signer_wipe(&co);
	note_signer_wipe(&stranger);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	h_rmrf(dir);
}

/* ---- One server per data directory ---- */

static void
test_data_dir_lock(void **state)
{
	char dir[512], data[600], err[2048], want[700];
	struct h_server s, t;
	struct note_verifier lk;
	struct su_ack ack;
	uint8_t *env;
	size_t len;
	int status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(data, sizeof data, "%s/data", dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	/* A second server on the same directory exits 1 at once, naming the
	 * first one's pid. */
	assert_int_equal(h_server_try_start(&t, data, NULL, &status, err, sizeof err), -1);
	assert_int_equal(status, 1);
	snprintf(want, sizeof want, "data directory %s is in use by pid %ld", data, (long)s.pid);
	if (strstr(err, want) == NULL)
		fail_msg("second server said \"%s\", want \"%s\"", err, want);
	/* The first one is unharmed and still the writer. */
	env = su_envelope(1, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &ack, NULL), 201);
	/* A crash releases the lock: the next server takes the directory. */
	h_server_stop(&s, SIGKILL);
	su_start(&s, dir, NULL);
	assert_int_equal(log_size(&s), 1);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	/* And a clean stop does too. */
	su_start(&s, dir, NULL);
	assert_int_equal(su_submit(&s, &lk, env, len, &ack, NULL), 200);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	free(env);
	h_rmrf(dir);
}

/* ---- Rate limits ---- */

/* GET path from local address `from` (e.g. "127.0.0.2"), on a connection of
 * its own; returns the HTTP status. */
static int
get_from(const struct h_server *s, const char *from, const char *path)
{
	struct sockaddr_in src, dst;
	char req[256], buf[64];
	size_t got = 0;
	int fd, n, status = 0;

	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, from, &src.sin_addr), 1);
	dst = src;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr), 1);
	dst.sin_port = htons((uint16_t)s->port);
	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
	n = snprintf(
	    req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	while (got < 12) {
		ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	if (got >= 12 && sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		status = 0;
	return status;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Two sources from 127.0.0.0/8, alternating.  These two collided in the
 * old direct-mapped table (FNV-1a of the address text, mod 4096), where
 * each reset the other to a full burst and, with --rate 1, they were
 * limited once in 20.  Now each is limited on its own, gets its own burst,
 * and together they get no more than their two buckets. */
static void
test_rate_two_sources(void **state)
{
	char dir[512];
	struct h_server s;
	static const char *const args[] = {"--rate", "0.1", "--rate-burst", "2", NULL};
	static const char *const from[] = {"127.0.0.5", "127.0.0.140"};
	int ok[2] = {0, 0}, limited = 0;
	double t0, elapsed;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	t0 = mono();
	for (int i = 0; i < 40; i++) {
		int st = get_from(&s, from[i % 2], "/checkpoint");

		if (st == 200)
			ok[i % 2]++;
		else if (st == 429)
			limited++;
		else
			fail_msg("GET /checkpoint from %s: status %d", from[i % 2], st);
	}
	elapsed = mono() - t0;
	/* Each source its own burst: neither was starved by the other. */
	assert_true(ok[0] >= 2);
	assert_true(ok[1] >= 2);
	/* And no more than burst + refill each, however slow the machine. */
	assert_true(ok[0] <= 2 + (int)(elapsed * 0.1) + 1);
	assert_true(ok[1] <= 2 + (int)(elapsed * 0.1) + 1);
	assert_int_equal(ok[0] + ok[1] + limited, 40);
	/* A third source is a client of its own. */
	assert_int_equal(get_from(&s, "127.0.0.4", "/checkpoint"), 200);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signer_sets),
	    cmocka_unit_test(test_data_dir_lock),
	    cmocka_unit_test(test_rate_two_sources),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
