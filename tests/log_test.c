/*
 * log_test.c: the write path (server/log.c) in process, without HTTP: a
 * submission's answer for every rule (appended, already logged, each
 * signer-set refusal, bad payload, no submitters), checkpoints that cover
 * each answer and verify, a full queue, a stopped log, a restart that
 * signs the same checkpoint again from the store alone, and the bulk
 * loader through the same checks; a group (one batch request's envelopes)
 * spread over the verifiers, answered once each and committed together.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

#include "allow.h"
#include "cl.h"
#include "dsse.h"
#include "harness.h"
#include "index.h"
#include "log.h"
#include "metrics.h"
#include "signer.h"
#include "srvutil.h"
#include "sth.h"
#include "store.h"
#include "testutil.h"
#include "wire.h"

struct env {
	char dir[512], subs[600];
	struct st *st;
	struct signer *sg;
	struct allow *al;
	struct metrics *m;
	struct log *l;
	struct note_verifier lk;
	const struct ix_tune *tune; /* NULL: the log opens its own index */
	struct ix *ix;
};

/* A job and a way to wait for it. */
struct waiter {
	struct log_job job;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	unsigned calls; /* done() must be called exactly once */
};

static void
waiter_done(struct log_job *job)
{
	struct waiter *w = job->arg;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->calls++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
waiter_init(struct waiter *w, const uint8_t *body, size_t len)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->job.body = body;
	w->job.len = len;
	w->job.done = waiter_done;
	w->job.arg = w;
}

static void
waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

static void
env_open_cfg(struct env *e, const struct log_cfg *cfg)
{
	char data[600], key[700], pub[700], why[CL_WHY_MAX];
	struct log_cfg c;
	struct st_meta meta;
	char vkey[NOTE_VKEY_MAX];

	snprintf(data, sizeof data, "%s/data", e->dir);
	snprintf(key, sizeof key, "%s/log.key", data);
	snprintf(pub, sizeof pub, "%s/log.pub", data);
	if (st_open(data, (size_t)64 << 20, &e->st, why) != 0)
		fail_msg("st_open: %s", why);
	if (signer_open(key, pub, "example.org/log", 1, "", &e->sg, why) != 0)
		fail_msg("signer_open: %s", why);
	signer_verifier(e->sg, &e->lk);
	if (st_meta_get(e->st, &meta) == ST_ENOTFOUND) {
		note_verifier_format(&e->lk, vkey, sizeof vkey);
		assert_int_equal(st_init(e->st, "example.org/log", vkey), 0);
	} else {
		st_meta_free(&meta);
	}
	if (allow_open(e->subs, &e->al, why) != 0)
		fail_msg("allow_open: %s", why);
	assert_non_null(e->m = metrics_new());
	c = *cfg;
	if (e->tune != NULL) {
		if (ix_open(e->st, &e->ix, why) != 0)
			fail_msg("ix_open: %s", why);
		assert_int_equal(ix_tune(e->ix, e->tune), 0);
		c.ix = e->ix;
	}
	if (log_open(e->st, e->sg, e->al, e->m, &c, &e->l, why) != 0)
		fail_msg("log_open: %s", why);
}

static void
env_open(struct env *e, unsigned queue_max, unsigned window_us)
{
	struct log_cfg cfg = {2, queue_max, 64, window_us, 0, NULL, NULL, NULL};

	env_open_cfg(e, &cfg);
}

static void
env_close(struct env *e)
{
	log_stop(e->l);
	log_free(e->l);
	ix_close(e->ix);
	e->ix = NULL;
	metrics_free(e->m);
	allow_close(e->al);
	signer_close(e->sg);
	st_close(e->st);
}

/* Submit and wait; returns the status.  why gets the reason. */
static int
submit(struct env *e, const uint8_t *body, size_t len, uint64_t *index, char *why)
{
	struct waiter w;
	int status;

	waiter_init(&w, body, len);
	assert_int_equal(log_submit(e->l, &w.job), 0);
	waiter_wait(&w);
	status = w.job.status;
	if (why != NULL)
		snprintf(why, CL_WHY_MAX, "%s", status >= 400 ? w.job.why : "");
	if (status < 400) {
		struct sth c;
		char w2[CL_WHY_MAX];

		/* The answer's checkpoint covers its entry and verifies. */
		assert_non_null(w.job.ckpt);
		if (sth_open(
		        w.job.ckpt->note, w.job.ckpt->len, &e->lk, "example.org/log", &c, w2) != 0)
			fail_msg("checkpoint: %s", w2);
		assert_true(c.size > w.job.index);
		assert_int_equal(c.size, w.job.ckpt->size);
		if (index != NULL)
			*index = w.job.index;
		log_ckpt_unref(w.job.ckpt);
	} else {
		assert_null(w.job.ckpt);
	}
	return status;
}

/* env with its signatures replaced by sigs[0..n). */
static uint8_t *
resign(const uint8_t *env, size_t len, const struct cl_signature *sigs, size_t n, size_t *out_len)
{
	static uint8_t abuf[WIRE_ARENA_MIN];
	struct wire_arena a;
	struct cl_envelope e;
	const uint8_t *enc;
	uint8_t *out;

	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
	memcpy(e.sigs, sigs, n * sizeof *sigs);
	e.n_sigs = n;
	assert_int_equal(wire_envelope_encode(&a, &e, &enc, out_len, NULL), 0);
	assert_non_null(out = malloc(*out_len));
	memcpy(out, enc, *out_len);
	return out;
}

static void
test_submissions(void **state)
{
	struct env e;
	char why[CL_WHY_MAX];
	uint8_t *env1, *env2, *bad;
	size_t l1, l2, lb;
	uint64_t idx;
	struct note_signer stranger;
	uint8_t seed[32], rnd[64];

	(void)state;
	memset(&e, 0, sizeof e);
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	/* No submitters yet: the file is missing, and the reason says so. */
	env_open(&e, 1000, 0);
	env1 = su_envelope(1, NULL, &l1);
	assert_int_equal(submit(&e, env1, l1, NULL, why), 403);
	assert_non_null(strstr(why, "accepts no submitters"));
	assert_non_null(strstr(why, "or is missing"));
	env_close(&e);

	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	env_open(&e, 1000, 0);
	assert_int_equal(submit(&e, env1, l1, &idx, why), 201);
	assert_int_equal(idx, 0);
	assert_int_equal(submit(&e, env1, l1, &idx, why), 200);
	assert_int_equal(idx, 0);
	env2 = su_envelope(2, NULL, &l2);
	assert_int_equal(submit(&e, env2, l2, &idx, why), 201);
	assert_int_equal(idx, 1);
	assert_int_equal(metrics_counter_get(e.m, M_APPENDS), 2);
	assert_int_equal(metrics_counter_get(e.m, M_DUPLICATES), 1);

	/* Not an envelope. */
	assert_int_equal(submit(&e, (const uint8_t *)"\xff\xff", 2, NULL, why), 400);
	/* Signed by a stranger. */
	memset(seed, 0x77, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example", seed, &stranger, NULL), 0);
	bad = su_envelope(3, &stranger, &lb);
	assert_int_equal(submit(&e, bad, lb, NULL, why), 403);
	assert_non_null(strstr(why, "not an accepted submitter"));
	free(bad);
	/* The CI signature flipped. */
	bad = malloc(l1);
	memcpy(bad, env1, l1);
	bad[l1 - 11] ^= 1;
	assert_int_equal(submit(&e, bad, l1, NULL, why), 403);
	assert_non_null(strstr(why, "does not verify"));
	free(bad);
	/* The logged entry with an extra signature, in and out of order. */
	{
		static uint8_t abuf[WIRE_ARENA_MIN];
		struct wire_arena a;
		struct cl_envelope d;
		struct cl_signature set[2];
		bool after;

		wire_arena_init(&a, abuf, sizeof abuf);
		assert_int_equal(wire_envelope_decode(&a, env1, l1, &d, NULL), 0);
		randombytes_buf(rnd, sizeof rnd);
		after = strcmp(d.sigs[0].keyid, "deadbeef") < 0;
		set[after ? 0 : 1] = d.sigs[0];
		set[after ? 1 : 0] = (struct cl_signature){"deadbeef", rnd, 64};
		bad = resign(env1, l1, set, 2, &lb);
		assert_int_equal(submit(&e, bad, lb, NULL, why), 403);
		assert_non_null(strstr(why, "deadbeef"));
		free(bad);
		{
			struct cl_signature t = set[0];

			set[0] = set[1];
			set[1] = t;
		}
		bad = resign(env1, l1, set, 2, &lb);
		assert_int_equal(submit(&e, bad, lb, NULL, why), 400);
		assert_non_null(strstr(why, "ascending"));
		free(bad);
	}
	assert_int_equal(metrics_reject_get(e.m, R_UNKNOWN_SUBMITTER), 2);
	assert_int_equal(metrics_reject_get(e.m, R_BAD_SIGNATURE), 1);

	/* Restart: the same checkpoint, signed again from the store alone. */
	{
		struct log_ckpt *c1 = log_checkpoint(e.l), *c2;
		uint8_t note[STH_NOTE_MAX];
		size_t nlen = c1->len;

		assert_int_equal(c1->size, 2);
		memcpy(note, c1->note, nlen);
		log_ckpt_unref(c1);
		env_close(&e);
		env_open(&e, 1000, 0);
		c2 = log_checkpoint(e.l);
		assert_int_equal(c2->size, 2);
		assert_int_equal(c2->len, nlen);
		assert_memory_equal(c2->note, note, nlen);
		log_ckpt_unref(c2);
		assert_int_equal(submit(&e, env2, l2, &idx, why), 200);
		assert_int_equal(idx, 1);
	}
	/* Stopped: submissions are refused without an answer. */
	log_stop(e.l);
	{
		struct waiter w;

		waiter_init(&w, env1, l1);
		assert_int_equal(log_submit(e.l, &w.job), LOG_ESTOPPED);
		pthread_mutex_destroy(&w.mu);
		pthread_cond_destroy(&w.cv);
	}
	env_close(&e);
	note_signer_wipe(&stranger);
	free(env1);
	free(env2);
	h_rmrf(e.dir);
}

/* queue_max 1 with a long batch window: the first job waits in the log,
 * so a second is refused with LOG_EBUSY (and not answered). */
static void
test_queue_full(void **state)
{
	struct env e;
	struct waiter w1, w2;
	uint8_t *a, *b;
	size_t la, lb;

	(void)state;
	memset(&e, 0, sizeof e);
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	env_open(&e, 1, 1000000);
	a = su_envelope(10, NULL, &la);
	b = su_envelope(11, NULL, &lb);
	waiter_init(&w1, a, la);
	waiter_init(&w2, b, lb);
	assert_int_equal(log_submit(e.l, &w1.job), 0);
	assert_int_equal(log_submit(e.l, &w2.job), LOG_EBUSY);
	waiter_wait(&w1);
	assert_int_equal(w1.job.status, 201);
	log_ckpt_unref(w1.job.ckpt);
	assert_false(w2.done);
	pthread_mutex_destroy(&w2.mu);
	pthread_cond_destroy(&w2.cv);
	env_close(&e);
	free(a);
	free(b);
	h_rmrf(e.dir);
}

/* log_submit_many: as many as the queue has room for, from the first, in
 * order; the rest are refused (LOG_EBUSY) and never answered; a stopped
 * log queues none (LOG_ESTOPPED); an empty call queues nothing. */
static void
test_submit_many(void **state)
{
	enum { N = 5, ROOM = 3 };
	struct env e;
	struct waiter w[N];
	struct log_job *jobs[N];
	uint8_t *bodies[N];
	size_t lens[N];
	int rc = 1;

	(void)state;
	memset(&e, 0, sizeof e);
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	/* A long batch window: nothing is answered before all are queued. */
	env_open(&e, ROOM, 1000000);
	assert_int_equal(log_submit_many(e.l, jobs, 0, &rc), 0);
	assert_int_equal(rc, 0);
	for (int i = 0; i < N; i++) {
		bodies[i] = su_envelope((uint64_t)(20 + i), NULL, &lens[i]);
		waiter_init(&w[i], bodies[i], lens[i]);
		jobs[i] = &w[i].job;
	}
	assert_int_equal(log_submit_many(e.l, jobs, N, &rc), ROOM);
	assert_int_equal(rc, LOG_EBUSY);
	unsigned seen = 0;

	for (int i = 0; i < ROOM; i++) {
		waiter_wait(&w[i]);
		assert_int_equal(w[i].job.status, 201);
		/* The first ROOM, each appended once (two verifiers may swap
		 * their order). */
		assert_true(w[i].job.index < ROOM);
		seen |= 1u << w[i].job.index;
		log_ckpt_unref(w[i].job.ckpt);
	}
	assert_int_equal(seen, (1u << ROOM) - 1);
	for (int i = ROOM; i < N; i++)
		assert_false(w[i].done);
	assert_int_equal(metrics_reject_get(e.m, R_OVERLOAD), N - ROOM);
	log_stop(e.l);
	assert_int_equal(log_submit_many(e.l, jobs + ROOM, N - ROOM, &rc), 0);
	assert_int_equal(rc, LOG_ESTOPPED);
	for (int i = ROOM; i < N; i++) {
		assert_false(w[i].done);
		pthread_mutex_destroy(&w[i].mu);
		pthread_cond_destroy(&w[i].cv);
	}
	env_close(&e);
	for (int i = 0; i < N; i++)
		free(bodies[i]);
	h_rmrf(e.dir);
}

/* Submit n jobs as one group, wait for all; each is answered exactly once.
 * Returns how many commits the log made meanwhile. */
static uint64_t
submit_group(struct env *e, struct waiter *w, uint8_t *const *bodies, const size_t *lens, size_t n)
{
	struct log_job **jobs = calloc(n, sizeof *jobs);
	uint64_t commits = metrics_counter_get(e->m, M_BATCHES);
	int rc = 1;

	assert_non_null(jobs);
	for (size_t i = 0; i < n; i++) {
		waiter_init(&w[i], bodies[i], lens[i]);
		jobs[i] = &w[i].job;
	}
	assert_int_equal(log_submit_group(e->l, jobs, n, &rc), n);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++) {
		waiter_wait(&w[i]);
		assert_int_equal(w[i].calls, 1);
	}
	free(jobs);
	return metrics_counter_get(e->m, M_BATCHES) - commits;
}

/* A group is shared out over four verifiers and its verified jobs are
 * held until the last is through: one commit, one checkpoint, each good
 * envelope at its own index, each bad one refused with its own reason,
 * and a repeat of an earlier one answered with that one's index.  A group
 * larger than the batch size still goes out, in full batches. */
static void
test_submit_group(void **state)
{
	enum { NG = 120, BIG = 300 };
	struct log_cfg cfg = {4, 10000, 256, 0, 0, NULL, NULL, NULL};
	struct env e;
	struct waiter w[BIG];
	uint8_t *bodies[BIG], seen[NG + BIG] = {0}, *single;
	size_t lens[BIG], n_good = 0, l_single;
	struct note_signer stranger;
	uint8_t seed[32];
	uint64_t first;

	(void)state;
	memset(&e, 0, sizeof e);
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	memset(seed, 0x42, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example", seed, &stranger, NULL), 0);
	env_open_cfg(&e, &cfg);
	single = su_envelope(7, NULL, &l_single);
	assert_int_equal(submit(&e, single, l_single, &first, NULL), 201);
	for (size_t i = 0; i < NG; i++) {
		if (i % 10 == 3) {
			bodies[i] = su_envelope(1000 + i, &stranger, &lens[i]);
		} else if (i % 10 == 6) {
			bodies[i] = (uint8_t *)strdup("\xff\xff");
			lens[i] = 2;
		} else if (i == 9) {
			bodies[i] = su_envelope(7, NULL, &lens[i]); /* logged above */
		} else {
			bodies[i] = su_envelope(1000 + i, NULL, &lens[i]);
			n_good++;
		}
	}
	assert_int_equal(submit_group(&e, w, bodies, lens, NG), 1);
	for (size_t i = 0; i < NG; i++) {
		struct log_job *j = &w[i].job;

		if (i % 10 == 3) {
			assert_int_equal(j->status, 403);
			assert_non_null(strstr(j->why, "not an accepted submitter"));
			assert_null(j->ckpt);
		} else if (i % 10 == 6) {
			assert_int_equal(j->status, 400);
			assert_null(j->ckpt);
		} else if (i == 9) {
			assert_int_equal(j->status, 200);
			assert_int_equal(j->index, first);
		} else {
			assert_int_equal(j->status, 201);
			/* After the single, below the group's end, each once. */
			assert_true(j->index > first && j->index <= n_good);
			assert_false(seen[j->index]);
			seen[j->index] = 1;
		}
		if (j->ckpt != NULL) {
			/* One commit: one checkpoint for the whole group. */
			assert_int_equal(j->ckpt->size, n_good + 1);
			log_ckpt_unref(j->ckpt);
		}
	}
	for (size_t i = 0; i < NG; i++)
		free(bodies[i]);

	/* Larger than a batch: more than one commit, every job answered. */
	for (size_t i = 0; i < BIG; i++)
		bodies[i] = su_envelope(5000 + i, NULL, &lens[i]);
	assert_true(submit_group(&e, w, bodies, lens, BIG) >= (BIG + 255) / 256);
	for (size_t i = 0; i < BIG; i++) {
		assert_int_equal(w[i].job.status, 201);
		assert_true(w[i].job.index > n_good && w[i].job.index <= n_good + BIG);
		assert_false(seen[w[i].job.index]);
		seen[w[i].job.index] = 1;
		log_ckpt_unref(w[i].job.ckpt);
		free(bodies[i]);
	}
	env_close(&e);
	note_signer_wipe(&stranger);
	free(single);
	h_rmrf(e.dir);
}

/* The bulk loader: the same checks (but the signature) and the same tree;
 * with tune, over an index that writes many small runs and merges them
 * while the load goes on (deduplication stays strict across them). */
static void
bulk(const struct ix_tune *tune)
{
	struct env e;
	enum { NB = 300 };
	uint8_t *bodies[NB + 1];
	size_t lens[NB + 1], appended = 0;
	char why[CL_WHY_MAX];
	struct log_ckpt *c;

	memset(&e, 0, sizeof e);
	e.tune = tune;
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	env_open(&e, 1000, 0);
	for (size_t i = 0; i < NB; i++)
		bodies[i] = su_envelope(100 + i, NULL, &lens[i]);
	for (size_t at = 0; at < NB; at += 50) {
		assert_int_equal(log_bulk_append(e.l, (const uint8_t *const *)bodies + at,
		                     lens + at, 50, &appended, why),
		    0);
		assert_int_equal(appended, 50);
	}
	/* Again: all duplicates, wherever they are now; and after a restart,
	 * with the tail empty and every entry in the search runs. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			env_close(&e);
			env_open(&e, 1000, 0);
		}
		assert_int_equal(
		    log_bulk_append(e.l, (const uint8_t *const *)bodies, lens, NB, &appended, why),
		    0);
		assert_int_equal(appended, 0);
	}
	/* A malformed one is refused by name. */
	bodies[NB] = (uint8_t *)"\xff";
	lens[NB] = 1;
	assert_int_not_equal(
	    log_bulk_append(e.l, (const uint8_t *const *)&bodies[NB], &lens[NB], 1, &appended, why),
	    0);
	assert_non_null(strstr(why, "entry 0"));
	c = log_checkpoint(e.l);
	assert_int_equal(c->size, NB);
	log_ckpt_unref(c);
	/* A submission after the bulk load lands after it and is a duplicate
	 * of a bulk entry when it is one. */
	{
		uint64_t idx;

		assert_int_equal(submit(&e, bodies[7], lens[7], &idx, why), 200);
		assert_int_equal(idx, 7);
	}
	/* A malformed one in a later batch of a call (batches of 64, the
	 * next prepared while one is committed): the batches before its own
	 * are in, its own is not, and it is named by its place in the call. */
	{
		enum { M = 200, BAD = 150 };
		uint8_t *more[M];
		size_t ml[M];

		for (size_t i = 0; i < M; i++)
			more[i] = su_envelope(1000 + i, NULL, &ml[i]);
		more[BAD][0] ^= 0xff;
		assert_int_not_equal(
		    log_bulk_append(e.l, (const uint8_t *const *)more, ml, M, &appended, why), 0);
		assert_int_equal(appended, 128);
		assert_non_null(strstr(why, "entry 150:"));
		c = log_checkpoint(e.l);
		assert_int_equal(c->size, NB + 128);
		log_ckpt_unref(c);
		for (size_t i = 0; i < M; i++)
			free(more[i]);
	}
	for (size_t i = 0; i < NB; i++)
		free(bodies[i]);
	env_close(&e);
	h_rmrf(e.dir);
}

/* A batch larger than half the search tail is refused at open: the
 * pending commit's entries stay in the tail, unindexable, until the next
 * commit makes them durable, so that next batch's ix_room must find room
 * beside a whole pending batch or the committer waits on itself forever. */
static void
test_batch_max_tail(void **state)
{
	struct env e;
	struct log_cfg cfg = {2, 1000, IX_TAIL_MAX / 2 + 1, 0, 0, NULL, NULL, NULL};
	char why[CL_WHY_MAX] = "";

	(void)state;
	memset(&e, 0, sizeof e);
	h_tmpdir(e.dir, sizeof e.dir);
	snprintf(e.subs, sizeof e.subs, "%s/subs", e.dir);
	h_write(e.subs, su_ci_vkey, strlen(su_ci_vkey));
	cfg.batch_max = IX_TAIL_MAX / 2;
	env_open_cfg(&e, &cfg);
	log_stop(e.l);
	log_free(e.l);
	cfg.batch_max = IX_TAIL_MAX / 2 + 1;
	assert_int_equal(log_open(e.st, e.sg, e.al, e.m, &cfg, &e.l, why), CL_EINVAL);
	assert_non_null(strstr(why, "batch"));
	e.l = NULL;
	metrics_free(e.m);
	allow_close(e.al);
	signer_close(e.sg);
	st_close(e.st);
	h_rmrf(e.dir);
}

/* Every key and value of database `name` in the LMDB environments ea and
 * eb is the same; returns how many records it holds (0 if neither has it). */
static size_t
db_same(MDB_env *ea, MDB_env *eb, const char *name)
{
	MDB_txn *ta, *tb;
	MDB_dbi da, db;
	MDB_cursor *ca, *cb;
	MDB_val ka, va, kb, vb;
	size_t n = 0;
	int ra, rb;

	assert_int_equal(mdb_txn_begin(ea, NULL, MDB_RDONLY, &ta), 0);
	assert_int_equal(mdb_txn_begin(eb, NULL, MDB_RDONLY, &tb), 0);
	ra = mdb_dbi_open(ta, name, 0, &da);
	rb = mdb_dbi_open(tb, name, 0, &db);
	assert_int_equal(ra, rb);
	if (ra == 0) {
		assert_int_equal(mdb_cursor_open(ta, da, &ca), 0);
		assert_int_equal(mdb_cursor_open(tb, db, &cb), 0);
		for (MDB_cursor_op op = MDB_FIRST;; op = MDB_NEXT) {
			ra = mdb_cursor_get(ca, &ka, &va, op);
			rb = mdb_cursor_get(cb, &kb, &vb, op);
			assert_int_equal(ra, rb);
			if (ra != 0)
				break;
			/* A main database's values are the named databases'
			 * own records (page numbers): only its keys must match. */
			assert_memory_equal(ka.mv_data, kb.mv_data, ka.mv_size);
			assert_int_equal(ka.mv_size, kb.mv_size);
			if (name != NULL) {
				assert_int_equal(va.mv_size, vb.mv_size);
				assert_memory_equal(va.mv_data, vb.mv_data, va.mv_size);
			}
			n++;
		}
		assert_int_equal(ra, MDB_NOTFOUND);
		mdb_cursor_close(ca);
		mdb_cursor_close(cb);
	} else {
		assert_int_equal(ra, MDB_NOTFOUND);
	}
	mdb_txn_abort(ta);
	mdb_txn_abort(tb);
	return n;
}

static MDB_env *
env_mdb(const char *dir)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, h_path(dir, "data"), MDB_RDONLY, 0600), 0);
	return env;
}

/* The bulk loader writes what the committer writes: the same envelopes
 * (every 50th a repeat of an earlier one), bulk-loaded in calls of several
 * sizes over batches of 64 (a call of one entry, of one batch and one
 * more, of many batches, so that a helper thread prepares some batches
 * while others are committed), and submitted through the verifier and the
 * committer, leave every key and value of the log's databases the same:
 * the size, the signed checkpoint on record (the same log key), the tiles,
 * the compressed bundles and the open bundle's entries. */
static void
test_bulk_same_store(void **state)
{
	enum { N = 1000 };
	static const size_t calls[] = {1, 63, 64, 65, 300, 507};
	struct env a, b;
	struct log_cfg cfg = {1, N, 64, 0, 0, NULL, NULL, NULL};
	uint8_t *bodies[N];
	size_t lens[N], at = 0, appended, fresh = 0;
	struct waiter *w = calloc(N, sizeof *w);
	struct log_job *jobs[N];
	char why[CL_WHY_MAX];
	MDB_env *ea, *eb;
	int rc = 1;

	(void)state;
	assert_non_null(w);
	for (size_t i = 0; i < N; i++) {
		if (i % 50 == 49) {
			bodies[i] = bodies[i - 7];
			lens[i] = lens[i - 7];
		} else {
			bodies[i] = su_envelope(500 + i, NULL, &lens[i]);
			fresh++;
		}
	}
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	h_tmpdir(a.dir, sizeof a.dir);
	h_tmpdir(b.dir, sizeof b.dir);
	snprintf(a.subs, sizeof a.subs, "%s/subs", a.dir);
	snprintf(b.subs, sizeof b.subs, "%s/subs", b.dir);
	h_write(a.subs, su_ci_vkey, strlen(su_ci_vkey));
	h_write(b.subs, su_ci_vkey, strlen(su_ci_vkey));
	env_open_cfg(&a, &cfg);
	for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
		assert_int_equal(log_bulk_append(a.l, (const uint8_t *const *)bodies + at,
		                     lens + at, calls[c], &appended, why),
		    0);
		at += calls[c];
	}
	assert_int_equal(at, N);
	env_close(&a);

	/* The same log key, so that the same tree gets the same checkpoint. */
	assert_int_equal(mkdir(h_path(b.dir, "data"), 0700), 0);
	for (int k = 0; k < 2; k++) {
		const char *f = k == 0 ? "data/log.key" : "data/log.pub";
		size_t len;
		uint8_t *bytes = h_read(h_path(a.dir, f), &len);

		h_write(h_path(b.dir, f), bytes, len);
		assert_int_equal(chmod(h_path(b.dir, f), 0600), 0);
		free(bytes);
	}
	env_open_cfg(&b, &cfg); /* one verifier: committed in submission order */
	for (size_t i = 0; i < N; i++) {
		waiter_init(&w[i], bodies[i], lens[i]);
		jobs[i] = &w[i].job;
	}
	assert_int_equal(log_submit_many(b.l, jobs, N, &rc), N);
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < N; i++) {
		waiter_wait(&w[i]);
		assert_int_equal(w[i].job.status, i % 50 == 49 ? 200 : 201);
		log_ckpt_unref(w[i].job.ckpt);
	}
	env_close(&b);

	ea = env_mdb(a.dir);
	eb = env_mdb(b.dir);
	assert_int_equal(db_same(ea, eb, NULL), 4);
	assert_int_equal(db_same(ea, eb, "bundles"), fresh / 256);
	assert_int_equal(db_same(ea, eb, "entries"), fresh % 256);
	assert_true(db_same(ea, eb, "tiles") > fresh / 256);
	assert_true(db_same(ea, eb, "meta") >= 4); /* size and checkpoint among them */
	mdb_env_close(ea);
	mdb_env_close(eb);
	for (size_t i = 0; i < N; i++) {
		if (i % 50 != 49)
			free(bodies[i]);
	}
	free(w);
	h_rmrf(a.dir);
	h_rmrf(b.dir);
}

static void
count_swaps(void *arg, enum ix_commit what)
{
	if (what == IX_COMMIT_SWAP)
		atomic_fetch_add((atomic_size_t *)arg, 1);
}

static void
test_bulk(void **state)
{
	static atomic_size_t swaps;
	const struct ix_tune small = {16, 2, 40, count_swaps, &swaps, 0};

	(void)state;
	bulk(NULL);
	bulk(&small);
	assert_true(atomic_load(&swaps) > 0); /* merged while loading */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submissions),
	    cmocka_unit_test(test_queue_full),
	    cmocka_unit_test(test_submit_many),
	    cmocka_unit_test(test_submit_group),
	    cmocka_unit_test(test_bulk),
	    cmocka_unit_test(test_bulk_same_store),
	    cmocka_unit_test(test_batch_max_tail),
	};

	if (sodium_init() < 0)
		return 1;
	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
