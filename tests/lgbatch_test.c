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

/* Check envs[0..B) against the answer made of res's results as mutated
 * (re-encoded with res's checkpoint) into *t. */
static void
check_mutant(const struct note_verifier *lk, const struct cl_span *envs,
    const struct cl_batch_response *res, struct cl_batch_result *x, struct lg_batch_tally *t)
{
	struct cl_batch_response m = *res;
	struct wire_arena ea, ca;
	size_t ecap = wire_batch_response_arena(B, res->checkpoint_len);
	void *ebuf = malloc(ecap), *cbuf;
	const uint8_t *out;
	struct lg_res r = {200, 0, NULL, 0};

	assert_non_null(ebuf);
	m.results = x;
	wire_arena_init(&ea, ebuf, ecap);
	assert_int_equal(wire_batch_response_encode(&ea, &m, &out, &r.len), 0);
	r.body = (uint8_t *)out;
	assert_non_null(cbuf = malloc(wire_batch_decode_arena(r.len, B)));
	wire_arena_init(&ca, cbuf, wire_batch_decode_arena(r.len, B));
	memset(t, 0, sizeof *t);
	lg_batch_check(&ca, lk, envs, B, &r, 1, t);
	free(cbuf);
	free(ebuf);
}

/* Bad proofs inside an otherwise good answer, at the first result (which
 * fills the cache of proven nodes), in the middle and at the end (checked
 * against it): every bit flip of every hash, the wrong index, a proof
 * truncated or extended, two results' proofs swapped, each fails exactly
 * its own envelopes and no other. */
static void
test_bad_proofs(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	struct lg_batch_tally t;
	struct cl_batch_response res;
	struct cl_batch_result *x;
	struct wire_arena a;
	struct run r;
	void *buf;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	/* The last request's results share most of their paths. */
	run_build(&r, &s, 3000, NULL, N_REQ, B);
	run_go(&r, &s, &lk, &t);
	assert_int_equal(t.appended, N);
	assert_non_null(buf = malloc(wire_batch_decode_arena(r.res[N_REQ - 1].len, B)));
	wire_arena_init(&a, buf, wire_batch_decode_arena(r.res[N_REQ - 1].len, B));
	assert_int_equal(wire_batch_response_decode(
	                     &a, r.res[N_REQ - 1].body, r.res[N_REQ - 1].len, B, &res, NULL),
	    0);
	assert_int_equal(res.n, B);
	assert_non_null(x = malloc(B * sizeof *x));
	const struct cl_span *envs = &r.spans[(N_REQ - 1) * B];

	/* Unchanged, re-encoded: all verify. */
	memcpy(x, res.results, B * sizeof *x);
	check_mutant(&lk, envs, &res, x, &t);
	assert_int_equal(t.appended, B);
	assert_int_equal(t.proofs, B);
	for (size_t k = 0; k < B; k += (k == 0 ? B / 2 : B / 2 - 1)) {
		const struct cl_proof *p = &res.results[k].inclusion;

		assert_true(p->n >= 3);
		for (size_t j = 0; j < p->n; j++) {
			for (unsigned bit = 0; bit < 8 * MT_HASH_LEN; bit++) {
				memcpy(x, res.results, B * sizeof *x);
				x[k].inclusion.hashes[j][bit / 8] ^= (uint8_t)(1u << (bit % 8));
				check_mutant(&lk, envs, &res, x, &t);
				assert_int_equal(t.bad, 1);
				assert_int_equal(t.appended, B - 1);
			}
		}
		/* The wrong index (its proof's own position and a neighbour's). */
		for (int d = -2; d <= 2; d++) {
			if (d == 0 || (d < 0 && res.results[k].index < (uint64_t)-d))
				continue;
			memcpy(x, res.results, B * sizeof *x);
			x[k].index = x[k].inclusion.a = res.results[k].index + (uint64_t)(int64_t)d;
			check_mutant(&lk, envs, &res, x, &t);
			assert_int_equal(t.bad, 1);
			assert_int_equal(t.appended, B - 1);
		}
		/* Truncated at either end; extended. */
		memcpy(x, res.results, B * sizeof *x);
		x[k].inclusion.n--;
		check_mutant(&lk, envs, &res, x, &t);
		assert_int_equal(t.bad, 1);
		memcpy(x, res.results, B * sizeof *x);
		x[k].inclusion.n--;
		memmove(x[k].inclusion.hashes[0], x[k].inclusion.hashes[1],
		    x[k].inclusion.n * MT_HASH_LEN);
		check_mutant(&lk, envs, &res, x, &t);
		assert_int_equal(t.bad, 1);
		memcpy(x, res.results, B * sizeof *x);
		memcpy(x[k].inclusion.hashes[x[k].inclusion.n++], x[k].leaf_hash, MT_HASH_LEN);
		check_mutant(&lk, envs, &res, x, &t);
		assert_int_equal(t.bad, 1);
		/* Swapped with the next result's proof. */
		if (k + 1 < B) {
			memcpy(x, res.results, B * sizeof *x);
			x[k].inclusion = res.results[k + 1].inclusion;
			x[k].inclusion.a = x[k].index;
			x[k + 1].inclusion = res.results[k].inclusion;
			x[k + 1].inclusion.a = x[k + 1].index;
			check_mutant(&lk, envs, &res, x, &t);
			assert_int_equal(t.bad, 2);
			assert_int_equal(t.appended, B - 2);
		}
	}
	free(x);
	free(buf);
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
	    cmocka_unit_test(test_bad_proofs),
	};

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
