/*
 * lgbatch_test.c: the benchmark's batch load generator (bench/lgbatch.c
 * over bench/loadgen.c) against a real closurelogd on 127.0.0.1:0, so that
 * a measurement cannot count an error as an append: envelopes from a key
 * that is not allowlisted, resubmitted envelopes, a batch above the
 * server's cap, a garbled answer and the wrong log key must all count as
 * failures; only fresh, allowlisted envelopes count as verified appends.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sodium.h>

#include "lgbatch.h"
#include "loadgen.h"
#include "srvutil.h"
#include "testutil.h"

#define N_REQ 4
#define B     8
#define N     (N_REQ * B)

/* Envelopes first .. first+N-1 by signer, as batch requests of B. */
struct run {
	uint8_t *envs[N];
	struct cl_span spans[N];
	struct lg_req reqs[N_REQ];
	struct lg_res res[N_REQ];
	size_t n_req, b;
};

static void
run_build(struct run *r, const struct h_server *s, uint64_t first, const struct note_signer *signer,
    size_t n_req, size_t b)
{
	char hp[32];

	memset(r, 0, sizeof *r);
	r->n_req = n_req;
	r->b = b;
	snprintf(hp, sizeof hp, "127.0.0.1:%u", s->port);
	for (size_t i = 0; i < n_req * b; i++) {
		size_t len;

		r->envs[i] = su_envelope(first + i, signer, &len);
		r->spans[i] = (struct cl_span){r->envs[i], len};
	}
	for (size_t k = 0; k < n_req; k++)
		assert_int_equal(lg_batch_request(&r->reqs[k], hp, &r->spans[k * b], b), 0);
}

/* Send every request (2 connections, closed loop) and tally the answers
 * against log_key; again after an earlier run_go frees its answers. */
static void
run_go(struct run *r, const struct h_server *s, const struct note_verifier *log_key,
    struct lg_batch_tally *t)
{
	struct lg_cfg cfg = {"127.0.0.1", (uint16_t)s->port, 2, 0, true, 0};
	struct lg_stats st;
	struct wire_arena a;
	size_t cap = 0;
	void *buf;

	lg_res_free(r->res, r->n_req); /* answers of an earlier run of the same requests */
	assert_int_equal(lg_run(&cfg, r->reqs, r->n_req, r->res, &st), 0);
	assert_int_equal(st.answered, r->n_req);
	for (size_t k = 0; k < r->n_req; k++) {
		size_t c = wire_batch_decode_arena(r->res[k].len, r->b);

		cap = c > cap ? c : cap;
	}
	assert_non_null(buf = malloc(cap));
	wire_arena_init(&a, buf, cap);
	memset(t, 0, sizeof *t);
	for (size_t k = 0; k < r->n_req; k++)
		lg_batch_check(&a, log_key, &r->spans[k * r->b], r->b, &r->res[k], 1, t);
	free(buf);
}

static void
run_free(struct run *r)
{
	lg_res_free(r->res, r->n_req);
	for (size_t k = 0; k < r->n_req; k++)
		free(r->reqs[k].bytes);
	for (size_t i = 0; i < r->n_req * r->b; i++)
		free(r->envs[i]);
}

static void
test_counts(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk, wrong;
	struct note_signer stranger, other_log;
	uint8_t seed[32];
	struct lg_batch_tally t;
	struct run r;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	memset(seed, 0x77, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example.com", seed, &stranger, NULL), 0);

	/* Fresh envelopes from the allowlisted key: all verified appends. */
	run_build(&r, &s, 0, NULL, N_REQ, B);
	run_go(&r, &s, &lk, &t);
	assert_int_equal(t.appended, N);
	assert_int_equal(lg_batch_failures(&t), 0);
	assert_int_equal(t.proofs, N);
	assert_int_equal(t.checkpoints, N_REQ);
	assert_true(t.max_size >= N);

	/* The same answers checked against another log's key: none counts. */
	memset(seed, 0x55, sizeof seed);
	assert_int_equal(note_signer_from_seed("other.log.example", seed, &other_log, NULL), 0);
	note_signer_verifier(&other_log, &wrong);
	{
		struct wire_arena a;
		size_t cap = wire_batch_decode_arena(r.res[0].len, B);
		void *buf = malloc(cap);

		assert_non_null(buf);
		wire_arena_init(&a, buf, cap);
		memset(&t, 0, sizeof t);
		lg_batch_check(&a, &wrong, &r.spans[0], B, &r.res[0], 1, &t);
		assert_int_equal(t.appended, 0);
		assert_int_equal(lg_batch_failures(&t), B);

		/* A garbled answer: never N verified appends. */
		for (size_t off = 0; off < r.res[1].len; off += 97) {
			r.res[1].body[off] ^= 0x01;
			memset(&t, 0, sizeof t);
			lg_batch_check(&a, &lk, &r.spans[B], B, &r.res[1], 1, &t);
			assert_true(lg_batch_failures(&t) >= 1);
			assert_int_equal(t.appended + lg_batch_failures(&t), B);
			r.res[1].body[off] ^= 0x01;
		}
		/* The answer to another request's envelopes. */
		memset(&t, 0, sizeof t);
		lg_batch_check(&a, &lk, &r.spans[2 * B], B, &r.res[1], 1, &t);
		assert_int_equal(t.appended, 0);
		free(buf);
	}

	/* The same envelopes again: logged already, so not appends. */
	run_go(&r, &s, &lk, &t);
	assert_int_equal(t.appended, 0);
	assert_int_equal(t.duplicates, N);
	assert_int_equal(lg_batch_failures(&t), N);
	run_free(&r);

	/* A key the log does not allowlist: every envelope refused. */
	run_build(&r, &s, 1000, &stranger, N_REQ, B);
	run_go(&r, &s, &lk, &t);
	assert_int_equal(t.appended, 0);
	assert_int_equal(t.refused, N);
	assert_int_equal(lg_batch_failures(&t), N);
	run_free(&r);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
}

/* A whole request refused (over --batch-max-entries): all its envelopes
 * are failures. */
static void
test_request_refused(void **state)
{
	static const char *const extra[] = {"--batch-max-entries", "4", NULL};
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	struct lg_batch_tally t;
	struct run r;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, extra);
	su_log_key(&s, &lk);
	run_build(&r, &s, 2000, NULL, 2, 5);
	run_go(&r, &s, &lk, &t);
	assert_int_equal(r.res[0].status, 400);
	assert_int_equal(t.appended, 0);
	assert_int_equal(t.refused, 10);
	run_free(&r);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_request_refused),
	};

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
