/*
 * batch_test.c: POST /v1/entries/batch against a real closurelogd on
 * 127.0.0.1:0: a batch of hundreds of distinct envelopes, all appended,
 * proven against one checkpoint and committed as one group; a batch mixing
 * good, repeated, unknown-signer, malformed, empty and already-logged
 * envelopes; the count and byte caps; truncated and garbled bodies; batches
 * racing singles; a batch larger than the queue's room; and `closurelog
 * submit` with many envelope files, with and without threads.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cl.h"
#include "merkle.h"
#include "srvutil.h"
#include "sth.h"
#include "testutil.h"
#include "wire.h"

/* A batch's answer, checked: the checkpoint verifies with the log key and
 * every logged result's leaf hash and proof lead to its root. */
struct bans {
	long status;
	uint8_t *body; /* the error line when status != 200 */
	size_t len;
	struct cl_batch_response r;
	struct sth c;
	void *abuf;
};

static void
bans_free(struct bans *b)
{
	free(b->body);
	free(b->abuf);
	memset(b, 0, sizeof *b);
}

/* POST raw bytes to /v1/entries/batch; no checks. */
static long
post_raw(const struct h_server *s, const void *body, size_t len, uint8_t **out, size_t *out_len)
{
	char url[128];
	long status;

	snprintf(url, sizeof url, "%s/v1/entries/batch", s->url);
	assert_int_equal(h_http("POST", url, body, len, &status, out, out_len), 0);
	return status;
}

/* Encode envs[0..n) and POST them; no cmocka asserts (racer threads use
 * it).  Returns 0, or -1 if the request could not be made. */
static int
batch_send(
    const struct h_server *s, uint8_t *const *envs, const size_t *lens, size_t n, struct bans *b)
{
	struct cl_span *sp = calloc(n + 1, sizeof *sp);
	size_t cap = 64, elen;
	struct wire_arena a;
	const uint8_t *enc;
	void *ebuf = NULL;
	char url[128];
	int rc = -1;

	memset(b, 0, sizeof *b);
	if (sp == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sp[i].data = envs[i];
		sp[i].len = lens[i];
		cap += lens[i] + 32;
	}
	if ((ebuf = malloc(cap)) != NULL) {
		wire_arena_init(&a, ebuf, cap);
		snprintf(url, sizeof url, "%s/v1/entries/batch", s->url);
		if (wire_batch_encode(&a, sp, n, &enc, &elen) == 0)
			rc = h_http("POST", url, enc, elen, &b->status, &b->body, &b->len);
	}
	free(ebuf);
	free(sp);
	return rc;
}

/* Decode and check a 200 answer to the batch envs[0..n). */
static void
batch_check(const struct note_verifier *lk, uint8_t *const *envs, const size_t *lens, size_t n,
    struct bans *b)
{
	struct wire_arena a;
	size_t cap;
	char why[CL_WHY_MAX];

	if (b->status != 200)
		return;
	cap = wire_batch_decode_arena(b->len, n);
	b->abuf = malloc(cap);
	assert_non_null(b->abuf);
	wire_arena_init(&a, b->abuf, cap);
	if (wire_batch_response_decode(&a, b->body, b->len, n, &b->r, why) != 0)
		fail_msg("bad batch response: %s", why);
	assert_int_equal(b->r.n, n);
	if (sth_open(b->r.checkpoint, b->r.checkpoint_len, lk, NULL, &b->c, why) != 0)
		fail_msg("batch checkpoint does not verify: %s", why);
	b->c.ext = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct cl_batch_result *x = &b->r.results[i];
		uint8_t leaf[MT_HASH_LEN];

		if (x->status >= 400)
			continue;
		mt_leaf_hash(leaf, envs[i], lens[i]);
		assert_memory_equal(leaf, x->leaf_hash, MT_HASH_LEN);
		assert_int_equal(x->inclusion.a, x->index);
		assert_int_equal(x->inclusion.b, b->c.size);
		assert_int_equal(mt_inclusion_verify(leaf, x->index, b->c.size,
		                     MT_PATH(x->inclusion.hashes), x->inclusion.n, b->c.root),
		    0);
	}
}

static void
post_batch(const struct h_server *s, const struct note_verifier *lk, uint8_t *const *envs,
    const size_t *lens, size_t n, struct bans *b)
{
	assert_int_equal(batch_send(s, envs, lens, n, b), 0);
	batch_check(lk, envs, lens, n, b);
}

/* The entry at index holds exactly env. */
static void
expect_entry(const struct h_server *s, uint64_t index, const uint8_t *env, size_t len)
{
	static uint8_t abuf[WIRE_ARENA_MIN];
	struct wire_arena a;
	struct cl_entry e;
	char url[256];
	uint8_t *body;
	size_t blen;
	long status;

	snprintf(url, sizeof url, "%s/v1/entries/%llu", s->url, (unsigned long long)index);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &blen), 0);
	assert_int_equal(status, 200);
	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(wire_entry_decode(&a, body, blen, &e, NULL), 0);
	assert_int_equal(e.envelope_len, len);
	assert_memory_equal(e.envelope, env, len);
	free(body);
}

/* A sample from the server's /metrics: the line that begins with name. */
static double
metric_get(const struct h_server *s, const char *name)
{
	char url[128];
	uint8_t *body;
	size_t len, nl = strlen(name);
	long status;
	double v = -1;

	snprintf(url, sizeof url, "%s/metrics", s->url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 200);
	for (char *p = (char *)body; p != NULL; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
	}
	free(body);
	if (v < 0)
		fail_msg("no %s in /metrics", name);
	return v;
}

/* ---- Hundreds in one batch ---- */

#define N_BIG 400

static void
test_batch_many(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	uint8_t *envs[N_BIG], seen[N_BIG] = {0};
	size_t lens[N_BIG];
	struct bans b;
	struct sth latest;
	double commits;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < N_BIG; i++)
		envs[i] = su_envelope(1000 + i, NULL, &lens[i]);
	commits = metric_get(&s, "closurelog_batch_size_count");
	post_batch(&s, &lk, envs, lens, N_BIG, &b);
	if (b.status != 200)
		fail_msg("batch: HTTP %ld %s", b.status, (char *)b.body);
	/* Shared out over the verifiers, committed as one group. */
	assert_int_equal(metric_get(&s, "closurelog_batch_size_count") - commits, 1);
	/* One checkpoint covers all of them. */
	assert_int_equal(b.c.size, N_BIG);
	for (size_t i = 0; i < N_BIG; i++) {
		const struct cl_batch_result *x = &b.r.results[i];

		if (x->status != 201)
			fail_msg("envelope %zu: %u %s", i, x->status, x->reason);
		assert_true(x->index < N_BIG);
		assert_false(seen[x->index]);
		seen[x->index] = 1;
	}
	for (size_t i = 0; i < N_BIG; i += 37)
		expect_entry(&s, b.r.results[i].index, envs[i], lens[i]);
	su_checkpoint(&s, &lk, &latest);
	assert_int_equal(latest.size, N_BIG);
	assert_memory_equal(latest.root, b.c.root, MT_HASH_LEN);
	bans_free(&b);
	/* The same batch again: all already logged, at the same indices. */
	post_batch(&s, &lk, envs, lens, N_BIG, &b);
	assert_int_equal(b.status, 200);
	for (size_t i = 0; i < N_BIG; i++)
		assert_int_equal(b.r.results[i].status, 200);
	assert_int_equal(b.c.size, N_BIG);
	bans_free(&b);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	for (size_t i = 0; i < N_BIG; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* ---- One bad envelope does not fail the others ---- */

static void
test_batch_mixed(void **state)
{
	char dir[512], id[16];
	struct h_server s;
	struct note_verifier lk;
	struct note_signer stranger;
	uint8_t seed[32], *envs[9];
	size_t lens[9];
	struct su_ack old;
	struct bans b;
	enum { GOOD1, OLD, GOOD1_AGAIN, STRANGER, GARBAGE, EMPTY, GOOD2, BADSIG, TOOBIG, N };

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	memset(seed, 0x99, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example.com", seed, &stranger, NULL), 0);
	snprintf(id, sizeof id, "%08x", (unsigned)stranger.id);
	envs[OLD] = su_envelope(1, NULL, &lens[OLD]);
	assert_int_equal(su_submit(&s, &lk, envs[OLD], lens[OLD], &old, NULL), 201);
	envs[GOOD1] = su_envelope(2, NULL, &lens[GOOD1]);
	envs[GOOD1_AGAIN] = su_envelope(2, NULL, &lens[GOOD1_AGAIN]);
	envs[STRANGER] = su_envelope(3, &stranger, &lens[STRANGER]);
	envs[GARBAGE] = (uint8_t *)strdup("garbage");
	lens[GARBAGE] = 7;
	envs[EMPTY] = (uint8_t *)strdup("");
	lens[EMPTY] = 0;
	envs[GOOD2] = su_envelope(4, NULL, &lens[GOOD2]);
	envs[BADSIG] = su_envelope(5, NULL, &lens[BADSIG]);
	envs[BADSIG][lens[BADSIG] - 11] ^= 1; /* the signature's last byte */
	envs[TOOBIG] = calloc(1, CL_ENTRY_MAX + 1);
	lens[TOOBIG] = CL_ENTRY_MAX + 1;

	post_batch(&s, &lk, envs, lens, N, &b);
	if (b.status != 200)
		fail_msg("batch: HTTP %ld %s", b.status, (char *)b.body);
	/* The two copies of GOOD1: one appended, one already logged, one index. */
	assert_true(b.r.results[GOOD1].status == 201 || b.r.results[GOOD1].status == 200);
	assert_int_equal(b.r.results[GOOD1].status + b.r.results[GOOD1_AGAIN].status, 201 + 200);
	assert_int_equal(b.r.results[GOOD1].index, b.r.results[GOOD1_AGAIN].index);
	assert_int_equal(b.r.results[OLD].status, 200);
	assert_int_equal(b.r.results[OLD].index, old.index);
	assert_int_equal(b.r.results[GOOD2].status, 201);
	/* Refusals: the status and reason a single submission gets. */
	assert_int_equal(b.r.results[STRANGER].status, 403);
	assert_non_null(strstr(b.r.results[STRANGER].reason, id));
	assert_int_equal(b.r.results[GARBAGE].status, 400);
	assert_non_null(strstr(b.r.results[GARBAGE].reason, "malformed protobuf"));
	assert_int_equal(b.r.results[EMPTY].status, 400);
	assert_non_null(strstr(b.r.results[EMPTY].reason, "empty"));
	assert_int_equal(b.r.results[BADSIG].status, 403);
	assert_non_null(strstr(b.r.results[BADSIG].reason, "does not verify"));
	assert_int_equal(b.r.results[TOOBIG].status, 413);
	/* The good ones are in the log, the checkpoint covers them: 1 + 2. */
	assert_int_equal(b.c.size, 3);
	expect_entry(&s, b.r.results[GOOD1].index, envs[GOOD1], lens[GOOD1]);
	expect_entry(&s, b.r.results[GOOD2].index, envs[GOOD2], lens[GOOD2]);
	bans_free(&b);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	for (size_t i = 0; i < N; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* ---- Caps and bad bodies ---- */

static void
expect_raw(const struct h_server *s, const void *body, size_t len, long code, const char *text)
{
	uint8_t *out;
	size_t olen;
	long status = post_raw(s, body, len, &out, &olen);

	if (status != code || strstr((char *)out, text) == NULL)
		fail_msg("got %ld \"%s\", want %ld with \"%s\"", status, (char *)out, code, text);
	assert_non_null(memchr(out, '\n', olen));
	assert_true((char *)memchr(out, '\n', olen) == (char *)out + olen - 1);
	free(out);
}

static void
test_batch_caps(void **state)
{
	static const char *const extra[] = {
	    "--batch-max-entries", "4", "--batch-max-bytes", "65536", NULL};
	char dir[512], url[256];
	struct h_server s;
	struct note_verifier lk;
	uint8_t *envs[5], *big, *body;
	size_t lens[5], blen;
	struct bans b;
	long status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, extra);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < 5; i++)
		envs[i] = su_envelope(10 + i, NULL, &lens[i]);
	/* Four is fine, five is over the count: 400 and nothing appended. */
	post_batch(&s, &lk, envs, lens, 4, &b);
	assert_int_equal(b.status, 200);
	bans_free(&b);
	post_batch(&s, &lk, envs, lens, 5, &b);
	assert_int_equal(b.status, 400);
	assert_non_null(strstr((char *)b.body, "batch-max-entries"));
	bans_free(&b);
	/* Over the bytes: 413, whether it is one envelope or many. */
	big = calloc(1, 70000);
	assert_non_null(big);
	expect_raw(&s, big, 65537, 413, "too large");
	expect_raw(&s, big, 65536, 400, "entry batch"); /* at the cap: judged */
	free(big);
	/* Empty, truncated, garbled, unknown fields, bad varints: 400. */
	expect_raw(&s, "", 0, 400, "empty batch");
	expect_raw(&s,
	    "\x0a\x05"
	    "ab",
	    4, 400, "truncated");
	expect_raw(&s, "\x12\x01x", 3, 400, "unknown field number 2");
	expect_raw(&s, "\x0a\x81\x00", 3, 400, "entry batch");
	expect_raw(&s, "\x0a", 1, 400, "entry batch");
	expect_raw(&s, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, 400, "entry batch");
	{
		/* A good batch cut short at every byte but the element
		 * boundaries: 400 each time, and the server keeps serving. */
		struct cl_span sp[2] = {{envs[4], lens[4]}, {envs[3], lens[3]}};
		static uint8_t ebuf[200000];
		struct wire_arena a;
		const uint8_t *enc;
		size_t elen, first;

		wire_arena_init(&a, ebuf, sizeof ebuf);
		assert_int_equal(wire_batch_encode(&a, sp, 2, &enc, &elen), 0);
		first = elen - lens[3] - (lens[3] < 128 ? 2 : 3);
		for (size_t cut = 1; cut < elen; cut += 1 + cut / 8) {
			if (cut == first)
				continue;
			assert_int_equal(post_raw(&s, enc, cut, &body, &blen), 400);
			free(body);
		}
	}
	/* Methods and media type. */
	snprintf(url, sizeof url, "%s/v1/entries/batch", s.url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &blen), 0);
	assert_int_equal(status, 405);
	free(body);
	/* Still serving, nothing from the refused batches appended. */
	{
		struct sth c;

		su_checkpoint(&s, &lk, &c);
		assert_int_equal(c.size, 4);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	for (size_t i = 0; i < 5; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* ---- Batches racing singles ---- */

#define N_THREADS 4
#define PER_BATCH 150
#define N_SINGLES 600

struct racer {
	const struct h_server *s;
	const struct note_verifier *lk;
	uint8_t *envs[PER_BATCH];
	size_t lens[PER_BATCH];
	struct bans b;
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	/* Checked on the main thread: cmocka asserts only there. */
	if (batch_send(r->s, r->envs, r->lens, PER_BATCH, &r->b) != 0)
		r->b.status = -1;
	return NULL;
}

static void
test_batch_concurrent(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	static struct racer rs[N_THREADS];
	pthread_t th[N_THREADS];
	uint8_t *singles[N_SINGLES];
	size_t slens[N_SINGLES];
	struct su_result *res = calloc(N_SINGLES, sizeof *res);
	uint8_t *seen = calloc(N_THREADS * PER_BATCH + N_SINGLES, 1);
	const size_t total = N_THREADS * PER_BATCH + N_SINGLES;
	struct sth latest;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t t = 0; t < N_THREADS; t++) {
		rs[t].s = &s;
		rs[t].lk = &lk;
		for (size_t i = 0; i < PER_BATCH; i++)
			rs[t].envs[i] =
			    su_envelope(100000 + t * PER_BATCH + i, NULL, &rs[t].lens[i]);
	}
	for (size_t i = 0; i < N_SINGLES; i++)
		singles[i] = su_envelope(200000 + i, NULL, &slens[i]);
	for (size_t t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, racer_main, &rs[t]), 0);
	su_blast(&s, singles, slens, N_SINGLES, 8, res);
	for (size_t t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (size_t i = 0; i < N_SINGLES; i++) {
		struct su_ack a;

		if (res[i].status != 201)
			fail_msg("single %zu: HTTP %ld", i, res[i].status);
		su_check_ack(&lk, singles[i], slens[i], res[i].status, res[i].body, res[i].len, &a);
		assert_true(a.index < total);
		assert_false(seen[a.index]);
		seen[a.index] = 1;
	}
	for (size_t t = 0; t < N_THREADS; t++) {
		if (rs[t].b.status != 200)
			fail_msg("batch %zu: HTTP %ld", t, rs[t].b.status);
		batch_check(&lk, rs[t].envs, rs[t].lens, PER_BATCH, &rs[t].b);
		assert_int_equal(rs[t].b.r.n, PER_BATCH);
		for (size_t i = 0; i < PER_BATCH; i++) {
			const struct cl_batch_result *x = &rs[t].b.r.results[i];

			if (x->status != 201)
				fail_msg(
				    "batch %zu envelope %zu: %u %s", t, i, x->status, x->reason);
			assert_true(x->index < total);
			assert_false(seen[x->index]);
			seen[x->index] = 1;
			assert_true(x->index < rs[t].b.c.size);
		}
		su_checkpoint(&s, &lk, &latest);
		if (rs[t].b.c.size < latest.size)
			su_check_consistent(
			    &s, rs[t].b.c.size, rs[t].b.c.root, latest.size, latest.root);
		bans_free(&rs[t].b);
		for (size_t i = 0; i < PER_BATCH; i++)
			free(rs[t].envs[i]);
	}
	su_checkpoint(&s, &lk, &latest);
	assert_int_equal(latest.size, total);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	su_results_free(res, N_SINGLES);
	for (size_t i = 0; i < N_SINGLES; i++)
		free(singles[i]);
	free(res);
	free(seen);
	h_rmrf(dir);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* ---- A batch larger than the queue's room ---- */

static void
test_batch_backpressure(void **state)
{
	static const char *const extra[] = {"--queue-max", "8", NULL};
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	uint8_t *envs[60];
	size_t lens[60], admitted = 0, busy = 0;
	struct bans b;
	struct su_ack a;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, extra);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < 60; i++)
		envs[i] = su_envelope(7000 + i, NULL, &lens[i]);
	/* The batch takes the room there is and answers at once: the rest
	 * get 503 results to resubmit, never a wait. */
	post_batch(&s, &lk, envs, lens, 60, &b);
	assert_int_equal(b.status, 200);
	for (size_t i = 0; i < 60; i++) {
		const struct cl_batch_result *x = &b.r.results[i];

		if (x->status == 201) {
			admitted++;
		} else {
			assert_int_equal(x->status, 503);
			assert_non_null(strstr(x->reason, "resubmit"));
			busy++;
		}
	}
	assert_true(admitted >= 8);
	assert_int_equal(admitted + busy, 60);
	bans_free(&b);
	/* A single still gets in afterwards: the batch left nothing queued. */
	assert_int_equal(su_submit(&s, &lk, envs[59], lens[59], &a, NULL) / 100, 2);
	/* closurelog submit resubmits the 503 ones until all are in. */
	{
		static char files[40][700];
		const char *argv[48];
		struct h_run r;
		size_t n = 0;

		argv[n++] = h_bin("closurelog");
		argv[n++] = "submit";
		argv[n++] = "--log";
		argv[n++] = s.url;
		argv[n++] = "--log-key";
		argv[n++] = s.vkey;
		for (size_t i = 0; i < 40; i++) {
			snprintf(files[i], sizeof files[i], "%s/b%02zu.env", dir, i);
			h_write(files[i], envs[i + 20], lens[i + 20]);
			argv[n++] = files[i];
		}
		argv[n] = NULL;
		setenv("CLOSURELOG_BACKOFF_MS", "10", 1);
		setenv("CLOSURELOG_ATTEMPTS", "20", 1);
		h_run(&r, NULL, argv);
		unsetenv("CLOSURELOG_BACKOFF_MS");
		unsetenv("CLOSURELOG_ATTEMPTS");
		if (r.status != 0)
			fail_msg("submit: exit %d: %s", r.status, r.err);
		assert_int_equal(count(r.out, "logged at index"), 40);
		h_run_free(&r);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	for (size_t i = 0; i < 60; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* ---- closurelog submit with many files ---- */

/* Start argv (n at 0) with `closurelog submit` to s's log, writing bundles
 * into outdir, batch envelopes per request, --json; returns the count. */
static size_t
submit_args(const char **argv, const struct h_server *s, const char *outdir, const char *batch)
{
	size_t n = 0;

	argv[n++] = h_bin("closurelog");
	argv[n++] = "submit";
	argv[n++] = "--log";
	argv[n++] = s->url;
	argv[n++] = "--log-key";
	argv[n++] = s->vkey;
	argv[n++] = "-o";
	argv[n++] = outdir;
	argv[n++] = "--batch-entries";
	argv[n++] = batch;
	argv[n++] = "--json";
	return n;
}

#define N_FILES 70

static void
test_cli_many(void **state)
{
	char dir[512], files[N_FILES + 2][700], outdir[600], sdir[560];
	const char *argv[N_FILES + 16];
	struct h_server s;
	struct note_verifier lk;
	struct note_signer stranger;
	uint8_t seed[32];
	struct h_run r;
	size_t n = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	snprintf(sdir, sizeof sdir, "%s/envs", dir);
	assert_int_equal(mkdir(sdir, 0755), 0);
	for (size_t i = 0; i < N_FILES; i++) {
		size_t len;
		uint8_t *env = su_envelope(5000 + i, NULL, &len);

		snprintf(files[i], sizeof files[i], "%s/e%03zu.env", sdir, i);
		h_write(files[i], env, len);
		free(env);
	}
	memset(seed, 0x77, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example.com", seed, &stranger, NULL), 0);
	{
		size_t len;
		uint8_t *env = su_envelope(9, &stranger, &len);

		snprintf(files[N_FILES], sizeof files[N_FILES], "%s/stranger.env", sdir);
		h_write(files[N_FILES], env, len);
		free(env);
	}
	snprintf(outdir, sizeof outdir, "%s/bundles", dir);
	/* All good, in batches of 16 (5 batches), with --json. */
	n = submit_args(argv, &s, outdir, "16");
	for (size_t i = 0; i < N_FILES; i++)
		argv[n++] = files[i];
	argv[n] = NULL;
	h_run(&r, NULL, argv);
	if (r.status != 0)
		fail_msg("submit: exit %d: %s", r.status, r.err);
	assert_int_equal(count(r.out, "\"duplicate\": false"), N_FILES);
	assert_non_null(strstr(r.err, "70 of 70 envelopes done")); /* the progress line */
	h_run_free(&r);
	/* Every bundle verifies offline. */
	for (size_t i = 0; i < N_FILES; i += 23) {
		char bundle[700];

		snprintf(bundle, sizeof bundle, "%s/e%03zu.env.bundle", outdir, i);
		h_closurelog(
		    &r, "verify", "--log-key", s.vkey, "--submitter-key", su_ci_vkey, bundle, NULL);
		if (r.status != 0)
			fail_msg("verify %s: exit %d: %s", bundle, r.status, r.err);
		h_run_free(&r);
	}
	/* Again, plus the stranger's, with one bundle's name taken by a
	 * directory: the rest already logged and their bundles written, in
	 * order; the stranger's listed with the log's reason, the blocked
	 * bundle with why it could not be written; exit 1. */
	{
		char b[700];

		snprintf(b, sizeof b, "%s/e005.env.bundle", outdir);
		assert_int_equal(unlink(b), 0);
		assert_int_equal(mkdir(b, 0755), 0);
		snprintf(b, sizeof b, "%s/e006.env.bundle", outdir);
		assert_int_equal(unlink(b), 0);
	}
	n = 10; /* drop --json */
	for (size_t i = 0; i <= N_FILES; i++)
		argv[n++] = files[i];
	argv[n] = NULL;
	h_run(&r, NULL, argv);
	assert_int_equal(r.status, 1);
	assert_int_equal(count(r.out, "already logged at index"), N_FILES - 1);
	assert_non_null(strstr(r.err, "stranger.env: the log refused it (HTTP 403"));
	assert_int_equal(count(r.err, "refused"), 1);
	assert_non_null(strstr(r.err, "e005.env: cannot rename"));
	assert_non_null(strstr(r.err, "e005.env.bundle: Is a directory"));
	assert_true(strstr(r.out, "e004.env: already") < strstr(r.out, "e006.env: already"));
	assert_true(strstr(r.out, "e006.env: already") < strstr(r.out, "e007.env: already"));
	h_run_free(&r);
	{
		char bundle[700];

		snprintf(bundle, sizeof bundle, "%s/e006.env.bundle", outdir);
		h_closurelog(
		    &r, "verify", "--log-key", s.vkey, "--submitter-key", su_ci_vkey, bundle, NULL);
		if (r.status != 0)
			fail_msg("verify %s: exit %d: %s", bundle, r.status, r.err);
		h_run_free(&r);
	}
	{
		struct stat st;
		char b[700];

		snprintf(b, sizeof b, "%s/stranger.env.bundle", outdir);
		assert_int_not_equal(stat(b, &st), 0);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	h_rmrf(dir);
}

/* ---- closurelog submit when no thread can start ---- */

#ifndef CL_NOTHREAD_LIB
#error "CL_NOTHREAD_LIB must name the nothread library"
#endif

#define N_NOTHREAD 40 /* in batches of 8: 5 */

/* closurelog submit sends each batch from a thread of its own, so that the
 * next one travels while the last one is judged.  With the nothread
 * library preloaded no thread starts, and each batch is sent from the main
 * thread instead: every envelope logged, in order, every bundle written
 * and verifying, exit 0. */
static void
test_cli_nothread(void **state)
{
	char dir[512], files[N_NOTHREAD][700], bundles[N_NOTHREAD][700], outdir[600];
	const char *argv[N_NOTHREAD + 16];
	struct h_server s;
	struct h_run r;
	json_t *j;
	json_int_t first;
	bool seen[N_NOTHREAD] = {false};
	size_t n = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	snprintf(outdir, sizeof outdir, "%s/bundles", dir);
	n = submit_args(argv, &s, outdir, "8");
	for (size_t i = 0; i < N_NOTHREAD; i++) {
		size_t len;
		uint8_t *env = su_envelope(6000 + i, NULL, &len);

		snprintf(files[i], sizeof files[i], "%s/t%02zu.env", dir, i);
		snprintf(bundles[i], sizeof bundles[i], "%s/t%02zu.env.bundle", outdir, i);
		h_write(files[i], env, len);
		free(env);
		argv[n++] = files[i];
	}
	argv[n] = NULL;
	h_preload(CL_NOTHREAD_LIB);
	h_run(&r, NULL, argv);
	h_preload_clear();
	if (r.status != 0)
		fail_msg("submit: exit %d: %s", r.status, r.err);
	/* Every batch was refused its thread. */
	assert_int_equal(count(r.err, "nothread: pthread_create refused"), N_NOTHREAD / 8);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), N_NOTHREAD);
	first = json_integer_value(json_object_get(json_array_get(j, 0), "index"));
	for (size_t i = 1; i < N_NOTHREAD; i++) {
		json_int_t at = json_integer_value(json_object_get(json_array_get(j, i), "index"));

		first = at < first ? at : first;
	}
	for (size_t i = 0; i < N_NOTHREAD; i++) {
		json_t *e = json_array_get(j, i);
		json_int_t at = json_integer_value(json_object_get(e, "index")) - first;

		/* Reported in the order given, each batch logged after the one
		 * before it (and in a batch, in the order the log's workers
		 * finish). */
		assert_true(at >= 0 && at < N_NOTHREAD && !seen[at]);
		seen[at] = true;
		assert_int_equal(at / 8, i / 8);
		assert_string_equal(json_string_value(json_object_get(e, "envelope")), files[i]);
		assert_true(json_is_false(json_object_get(e, "duplicate")));
		assert_string_equal(json_string_value(json_object_get(e, "bundle")), bundles[i]);
	}
	json_decref(j);
	h_run_free(&r);
	for (size_t i = 0; i < N_NOTHREAD; i++) {
		h_closurelog(&r, "verify", "--log-key", s.vkey, "--submitter-key", su_ci_vkey,
		    bundles[i], NULL);
		if (r.status != 0)
			fail_msg("verify %s: exit %d: %s", bundles[i], r.status, r.err);
		h_run_free(&r);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	h_rmrf(dir);
}

/* ---- The longest checkpoint ---- */

/* As many witnesses as closurelogd takes, with names as long as fit: one
 * cosigned by all of them is as long as an answer may carry. */
#define N_WIT     32 /* closurelogd's GA_WITNESSES_MAX */
#define WIT_NAMES (CL_CHECKPOINT_MAX - STH_NOTE_MAX - N_WIT * NOTE_COSIG_LINE_LEN(0))

/* Start witness i in dir, named with exactly len bytes. */
static void
wit_start(struct h_witness *w, const char *dir, const char *log_vkey, int i, size_t len)
{
	char name[NOTE_NAME_MAX + 1], wdir[700];
	const char *args[] = {"--log", log_vkey, "--name", name, NULL};
	int at = snprintf(name, sizeof name, "w%02d.many.test/", i);

	assert_true(len > (size_t)at && len <= NOTE_NAME_MAX);
	memset(name + at, 'n', len - (size_t)at);
	name[len] = '\0';
	snprintf(wdir, sizeof wdir, "%s/witness%d-%zu", dir, i, len);
	h_witness_start(w, wdir, args);
}

/* How many of keys[0..N_WIT) cosigned the log-signed note. */
static size_t
cosigned_by(const uint8_t *note, size_t len, const struct note_verifier *keys)
{
	struct note *n = malloc(sizeof *n);
	char why[CL_WHY_MAX];
	size_t k;

	assert_non_null(n);
	if (note_open(note, len, keys, N_WIT, n, why) != 0)
		fail_msg("cosigned checkpoint: %s", why);
	k = note_keys_verified(n, N_WIT);
	free(n);
	return k;
}

/* One witness name longer than fits is refused at start (exit 2, with the
 * reason); at the limit, every answer, single and batch, carries the
 * checkpoint with every cosignature, and its proofs verify. */
static void
test_batch_witnesses(void **state)
{
	enum { N = 300 };
	static struct h_witness w[N_WIT + 1];
	static char warg[N_WIT][sizeof w[0].vkey + sizeof w[0].url + 2];
	static struct note_verifier wkey[N_WIT];
	const char *args[2 * N_WIT + 3];
	char dir[512], data[600], subs[600], err[2048] = "", url[128];
	struct h_server s;
	struct note_verifier lk;
	uint8_t *envs[N];
	size_t lens[N], names = WIT_NAMES, each = names / N_WIT, len;
	struct bans b;
	struct su_ack a;
	double deadline;
	long st;
	int status = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	h_server_stop(&s, SIGTERM);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(subs, sizeof subs, "%s/submitters", dir);
	args[0] = "--submitters";
	args[1] = subs;
	for (int i = 0; i < N_WIT; i++) {
		/* The last takes what the others leave. */
		wit_start(&w[i], dir, s.vkey, i, i < N_WIT - 1 ? each : names - each * (N_WIT - 1));
		assert_int_equal(
		    note_verifier_parse(w[i].vkey, strlen(w[i].vkey), &wkey[i], NULL), 0);
		snprintf(warg[i], sizeof warg[i], "%s=%s/", w[i].vkey, w[i].url);
		args[2 + 2 * i] = "--witness";
		args[3 + 2 * i] = warg[i];
	}
	args[2 + 2 * N_WIT] = NULL;

	/* One byte more in one name: refused, naming the cap. */
	wit_start(&w[N_WIT], dir, s.vkey, N_WIT - 1, names - each * (N_WIT - 1) + 1);
	snprintf(warg[N_WIT - 1], sizeof warg[0], "%s=%s/", w[N_WIT].vkey, w[N_WIT].url);
	assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
	assert_int_equal(status, 2);
	if (strstr(err, "could be 8193 bytes") == NULL)
		fail_msg("no clear reason: %s", err);
	h_witness_stop(&w[N_WIT], SIGTERM);
	snprintf(warg[N_WIT - 1], sizeof warg[0], "%s=%s/", w[N_WIT - 1].vkey, w[N_WIT - 1].url);

	h_server_start(&s, data, args);
	snprintf(url, sizeof url, "%s/checkpoint", s.url);
	for (deadline = h_now() + 60;;) {
		uint8_t *ck;

		st = h_get(url, &ck, &len);
		free(ck);
		if (st == 200)
			break;
		assert_int_equal(st, 503);
		assert_true(h_now() < deadline);
		usleep(50000);
	}
	for (size_t i = 0; i < N; i++)
		envs[i] = su_envelope(90000 + i, NULL, &lens[i]);
	post_batch(&s, &lk, envs, lens, N, &b);
	if (b.status != 200)
		fail_msg("batch: %ld %.*s", b.status, (int)b.len, (char *)b.body);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(b.r.results[i].status, 201);
	/* Longer than the piece of one result, as long as the cap allows
	 * less the log's line, which here is shorter than the longest. */
	assert_true(b.r.checkpoint_len > CL_CHECKPOINT_MAX - STH_NOTE_MAX);
	assert_int_equal(cosigned_by(b.r.checkpoint, b.r.checkpoint_len, wkey), N_WIT);
	bans_free(&b);

	free(envs[0]);
	envs[0] = su_envelope(99999, NULL, &lens[0]);
	assert_int_equal(su_submit(&s, &lk, envs[0], lens[0], &a, NULL), 201);
	assert_int_equal(cosigned_by(a.note, a.note_len, wkey), N_WIT);

	for (size_t i = 0; i < N; i++)
		free(envs[i]);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	for (int i = 0; i < N_WIT; i++)
		h_witness_stop(&w[i], SIGTERM);
	h_rmrf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_many),
	    cmocka_unit_test(test_batch_mixed),
	    cmocka_unit_test(test_batch_caps),
	    cmocka_unit_test(test_batch_concurrent),
	    cmocka_unit_test(test_batch_backpressure),
	    cmocka_unit_test(test_cli_many),
	    cmocka_unit_test(test_cli_nothread),
	    cmocka_unit_test(test_batch_witnesses),
	};

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
