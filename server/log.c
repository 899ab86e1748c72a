/*
 * log.c: verifier pool, group commit, tree state and checkpoints.
 *
 * Why this shape.  An Ed25519 verification costs ~40 us and a durable LMDB
 * commit about a millisecond, while a put inside a transaction costs a few
 * microseconds.  So signature checks are spread over a thread pool, and one
 * committer thread appends everything that arrived while the previous
 * commit was syncing: the batch size adapts to the load by itself, and
 * latency stays near one commit.  The envelopes of one batch request are a
 * group (log_submit_group): its answer waits for all of them, so the
 * committer is not woken for a group until its last job is verified, and
 * the group lands in one large commit instead of one per verifier turn
 * (fewer checkpoints signed, fewer syncs, less committer CPU per entry).
 *
 * The commit pipeline.  The store syncs a commit's data pages when it
 * commits and its meta page only with the next commit's data flush, or
 * with st_sync (store.h): one device flush per commit.  So the batch just
 * committed is *pending*: its jobs wait, unanswered and its tree unsigned,
 * until the next commit returns (under load) or, when no batch is waiting,
 * until the committer syncs it at once.  Under load a batch is answered
 * one commit later, and never before its data and meta page are on disk.
 *
 * Ordering guarantees:
 *  - a job is answered only after the transaction holding its entry has
 *    been committed and its meta page flushed: the commit is durable;
 *  - a checkpoint is signed only after the data it covers is durable
 *    (Ed25519 is deterministic, so re-signing a committed tree after a
 *    restart reproduces the published bytes; the store keeps the latest
 *    checkpoint as a record, written with the following batch);
 *  - the search tail's entries are handed to the indexer (ix_committed)
 *    only once durable, but for a pending batch when a later commit or its
 *    sync fails with an I/O error: its jobs are refused, and its entries,
 *    which the reopened store then holds, stay in the tail (should they
 *    not survive a power cut after all, the search index is ahead of the
 *    log at the next start and rebuilt, as ix_open does for any mismatch);
 *  - a failed commit restores the in-memory tree state from the store, so
 *    the next batch continues from what is durable.  After an I/O error
 *    the commit is not retried (a failed fsync may have dropped the dirty
 *    pages, so a second fsync proves nothing): the store is reopened, and
 *    the tree it holds must still have the published checkpoint's root at
 *    its size, or the log refuses writes until a restart;
 *  - a full map is grown online (doubling, up to cfg.map_max) and the same
 *    batch committed again: no queued submission is lost to it.
 *
 * The committer owns the tree state: the right edge of the stored tree and
 * its rightmost fat tiles (edge.h), which every append fills in.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>
#include <sodium.h>

#include "dsse.h"
#include "edge.h"
#include "index.h"
#include "sth.h"
#include "tiles.h"
#include "wire.h"

/* Jobs queued together by log_submit_group: answered together, so
 * committing some of them before the rest are verified lets no answer out
 * sooner.  Counts the group's jobs not yet through a verifier; freed by
 * the verifier that brings it to zero.  Under log.mu. */
struct group {
	size_t unverified;
};

/* The log's state of a job, in its log_private bytes. */
struct job_state {
	struct log_job *next;
	struct group *group; /* NULL, or its group until it is verified */
	char root[NIX_STORE_PATH_MAX + 1];
	uint8_t nar[32], submitter[32];
	bool signed_by_submitter;
	uint64_t covered; /* with witnesses: the size of the checkpoint signed over it */
};
_Static_assert(sizeof(struct job_state) <= LOG_JOB_PRIVATE, "LOG_JOB_PRIVATE is too small");

static struct job_state *
js(struct log_job *j)
{
	return (struct job_state *)(void *)j->log_private;
}

struct queue {
	struct log_job *head, *tail;
	size_t n;
};

struct log {
	struct st *st;
	struct signer *sg;
	struct allow *al;
	struct metrics *m;
	struct log_cfg cfg;

	pthread_mutex_t mu; /* queues, flags, in_flight */
	pthread_cond_t verify_cv, commit_cv;
	struct queue verify_q, commit_q;
	/* Whether commit_q holds a job someone waits for: one not in a group,
	 * or the last of a group to be verified.  Only then, or with a full
	 * batch, is committing worth waking the committer for: the jobs of a
	 * group still being verified go together in fewer, larger commits. */
	size_t commit_ready;
	size_t in_flight;
	unsigned verifiers_running;
	bool stopping, stopped;
	struct verifier *verifiers;
	pthread_t committer;
	bool threads_started;

	/* With witnesses: committed jobs waiting for a cosigned checkpoint, in
	 * commit order (so their covered sizes never decrease). */
	struct ga *ga;
	pthread_mutex_t await_mu;
	struct queue await_q;
	bool ga_started;

	pthread_mutex_t ckpt_mu;
	struct log_ckpt *ckpt;
	uint64_t ckpt_stored_size; /* size of the checkpoint recorded in the store */
	struct tiles *tiledir;     /* --tiles-dir, or NULL */
	bool tiles_failing;        /* the last tiles_write failed (reported) */

	/* Committer-only state. */
	struct log_job **batch_jobs; /* cfg.batch_max slots */
	bool broken;                 /* the tree state could not be reloaded */
	/* The pending commit (see above): committed, its meta page not yet
	 * flushed.  pend_jobs are its jobs still to answer, pend_size and
	 * pend_root its tree.  Once it is durable and signed, its jobs move to
	 * ready_jobs, for the caller of commit_batch to answer. */
	bool pending;
	struct log_job **pend_jobs, **ready_jobs; /* cfg.batch_max slots each */
	size_t n_pend, n_ready;
	uint64_t pend_size;
	uint8_t pend_root[MT_HASH_LEN];
	struct edge *edge;
	struct ix *ix;          /* search indexes; the committer fills their tail */
	bool ix_owned;          /* opened by log_open (no cfg.ix) */
	struct st_batch *batch; /* while a batch is being written */
	struct log_ckpt *offer; /* with witnesses: signed, to offer once its jobs wait */
};

/* ---- Checkpoints ---- */

struct log_ckpt *
log_ckpt_ref(struct log_ckpt *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
log_ckpt_unref(struct log_ckpt *c)
{
	if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		free(c);
}

static struct log_ckpt *
ckpt_alloc(const uint8_t *note, size_t len, uint64_t size, const uint8_t root[MT_HASH_LEN])
{
	struct log_ckpt *c = malloc(sizeof *c + len);

	if (c != NULL) {
		atomic_init(&c->refs, 1);
		c->size = size;
		memcpy(c->root, root, MT_HASH_LEN);
		c->len = len;
		memcpy(c->note, note, len);
	}
	return c;
}

static int
ckpt_make(struct log *l, uint64_t size, const uint8_t root[MT_HASH_LEN], struct log_ckpt **out)
{
	uint8_t note[STH_NOTE_MAX];
	size_t len;
	struct log_ckpt *c;
	struct st_reader *r = NULL;
	int rc;

	*out = NULL;
	/* Never sign what might not last. */
	if (!st_sync_on(l->st))
		return CL_EINVAL;
	/* The signer signs only a tree extending the last one it signed: it
	 * gets the consistency proof from the committed tiles. */
	if ((rc = st_reader_new(l->st, &r)) == 0 && (rc = st_reader_begin(r)) == 0) {
		rc = signer_checkpoint(l->sg, size, root, st_node_read, r, note, sizeof note, &len);
		st_reader_end(r);
	}
	st_reader_free(r);
	if (rc != 0)
		return rc;
	if ((c = ckpt_alloc(note, len, size, root)) == NULL)
		return ENOMEM;
	*out = c;
	metrics_count(l->m, M_CHECKPOINTS, 1);
	return 0;
}

/* Make c the published checkpoint; takes over the caller's reference. */
static void
ckpt_publish(struct log *l, struct log_ckpt *c)
{
	struct log_ckpt *old;

	pthread_mutex_lock(&l->ckpt_mu);
	old = l->ckpt;
	l->ckpt = c;
	pthread_mutex_unlock(&l->ckpt_mu);
	log_ckpt_unref(old);
	metrics_gauge_set(l->m, G_TREE_SIZE, (int64_t)c->size);
	/* --tiles-dir: the full tiles this checkpoint covers, now that it is
	 * published.  A failure is reported once and retried next time. */
	if (l->tiledir != NULL) {
		char why[CL_WHY_MAX];
		bool ok = tiles_write(l->tiledir, l->st, c->size, why) == 0;

		if (!ok && !l->tiles_failing)
			fprintf(stderr, "closurelogd: %s (tried again at each checkpoint)\n", why);
		else if (ok && l->tiles_failing)
			fprintf(stderr, "closurelogd: tiles are written again\n");
		l->tiles_failing = !ok;
	}
}

struct log_ckpt *
log_checkpoint(struct log *l)
{
	struct log_ckpt *c;

	pthread_mutex_lock(&l->ckpt_mu);
	c = l->ckpt != NULL ? log_ckpt_ref(l->ckpt) : NULL;
	pthread_mutex_unlock(&l->ckpt_mu);
	return c;
}

/* Whether the stored tree has `root` at `size` (which must not exceed the
 * stored size).  Returns 0, ST_ECORRUPT if it has another root, or a store
 * error. */
static int
tree_root_check(struct log *l, uint64_t size, const uint8_t root[MT_HASH_LEN])
{
	struct st_reader *r = NULL;
	uint8_t got[MT_HASH_LEN];
	int rc;

	if ((rc = st_reader_new(l->st, &r)) != 0 || (rc = st_reader_begin(r)) != 0)
		goto out;
	if (size > st_reader_size(r))
		rc = ST_ECORRUPT;
	else if ((rc = mt_root_at(size, st_node_read, r, got)) == 0 &&
	    sodium_memcmp(got, root, MT_HASH_LEN) != 0)
		rc = ST_ECORRUPT;
	st_reader_end(r);
out:
	st_reader_free(r);
	return rc;
}

static void
job_fail(struct log_job *job, int status, enum metrics_reject reason, const char *fmt,
    const char *detail)
{
	job->status = status;
	job->reason = reason;
	cl_why(job->why, status, fmt, detail);
}

/* The entries batch_write looks up ahead of the one it writes: their
 * table slots and filter blocks load meanwhile (ix_probe_make). */
#define PROBE_AHEAD 8

/* Start loading what batch_write reads of job j: its fields, its body
 * (copied into the store) and the search keys a verifier wrote.  A verifier
 * thread on another core wrote them all, so each line is a cache miss
 * that would otherwise stall the committer once per line. */
static void
job_prefetch(struct log_job *j)
{
	__builtin_prefetch(&j->body);
	__builtin_prefetch(&j->status, 1);
	__builtin_prefetch(&j->leaf[MT_HASH_LEN - 1], 1);
	__builtin_prefetch(js(j)->root); /* a store path spans two lines */
	__builtin_prefetch(js(j)->root + 64);
	__builtin_prefetch(js(j)->nar);
	__builtin_prefetch(&js(j)->signed_by_submitter);
}

/* Start loading the first kilobyte of job j's body (the hardware follows
 * on from there), written on another core: for the verifier that decodes
 * it next, and the committer that copies it into the store.  j itself
 * should be on its way already. */
static void
body_prefetch(const struct log_job *j)
{
	for (size_t off = 0; off < j->len && off < 1024; off += 64)
		__builtin_prefetch(j->body + off);
}

/* Write a batch of prepared jobs in one transaction and commit it.  Jobs
 * already in the log (committed, or earlier in this batch) get status 200
 * and their original index.  Returns 0, 1 if there was nothing to write
 * (only duplicates that the published checkpoint `prev` covers; never
 * with prev NULL, before the witnesses cosigned a first one), or an
 * error with the batch abandoned, and the search tail (ix_rollback) and
 * the tree state to be restored by the caller. */
static int
batch_write(
    struct log *l, struct log_job **jobs, size_t n, const struct log_ckpt *prev, size_t *appended)
{
	struct ix_probe pr[PROBE_AHEAD];
	int rc;

	*appended = 0;
	/* Wait, holding no transaction, until the search tail has room. */
	if ((rc = ix_room(l->ix, n)) != 0)
		return rc;
	if ((rc = st_batch_begin(l->st, &l->batch)) != 0)
		return rc;
	/* Jobs two strides ahead have their fields loading, jobs one stride
	 * ahead their bodies and probes. */
	for (size_t i = 0; i < n && i < 2 * PROBE_AHEAD; i++)
		job_prefetch(jobs[i]);
	for (size_t i = 0; i < n && i < PROBE_AHEAD; i++) {
		ix_probe_make(l->ix, jobs[i]->leaf, &pr[i]);
		body_prefetch(jobs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		struct log_job *j = jobs[i];
		const struct ix_probe *p = &pr[i % PROBE_AHEAD];

		/* The slot the last entry's probe left free. */
		if (i > 0 && i - 1 + PROBE_AHEAD < n) {
			ix_probe_make(
			    l->ix, jobs[i - 1 + PROBE_AHEAD]->leaf, &pr[(i - 1) % PROBE_AHEAD]);
			body_prefetch(jobs[i - 1 + PROBE_AHEAD]);
		}
		if (i + 2 * PROBE_AHEAD < n)
			job_prefetch(jobs[i + 2 * PROBE_AHEAD]);
		/* A leaf hash is the entry's SHA-256: equal hashes are equal
		 * entries. */
		rc = ix_dedup_find(l->ix, l->batch, p, &j->index);
		if (rc == 0) {
			j->status = 200;
			continue;
		}
		if (rc != ST_ENOTFOUND)
			goto fail;
		j->index = edge_size(l->edge);
		if ((rc = st_batch_entry_put(l->batch, j->index, j->body, j->len)) != 0)
			goto fail;
		if ((rc = edge_append(l->edge, l->batch, j->leaf)) != 0)
			goto fail;
		if ((rc = ix_add(l->ix, j->index, p, js(j)->root, js(j)->nar,
		         js(j)->signed_by_submitter ? js(j)->submitter : NULL)) != 0)
			goto fail;
		j->status = 201;
		(*appended)++;
	}
	if (*appended == 0 && prev != NULL && prev->size == edge_size(l->edge)) {
		/* Only duplicates, and the published checkpoint covers them all:
		 * nothing to write.  (After a failed signing it does not, and
		 * the batch goes on to sign the committed tree.) */
		st_batch_abort(l->batch);
		l->batch = NULL;
		return 1; /* nothing was added to the search tail */
	}
	if ((rc = edge_flush(l->edge, l->batch)) != 0)
		goto fail;
	if ((rc = st_batch_size_put(l->batch, edge_size(l->edge))) != 0)
		goto fail;
	/* The previous checkpoint covers committed data: record it now. */
	if (prev != NULL && prev->size != l->ckpt_stored_size &&
	    (rc = st_batch_checkpoint_put(l->batch, prev->note, prev->len)) != 0)
		goto fail;
	rc = st_batch_commit(l->batch);
	l->batch = NULL;
	return rc;
fail:
	st_batch_abort(l->batch);
	l->batch = NULL;
	return rc;
}

/* An I/O error: the system's, not ours or LMDB's own. */
static bool
is_io_error(int rc)
{
	return (rc > 0 && rc != ENOMEM) || rc == MDB_PANIC;
}

/* After a failed commit: go back to what the store holds.  After an I/O
 * error the environment is reopened first.  Either way the stored tree
 * must still hold the published checkpoint; if it does not, or the state
 * cannot be read, the log refuses writes until a restart.  `what` gets the
 * action taken, for the log line. */
static void
recover(struct log *l, int failure, char *what, size_t cap)
{
	char why[CL_WHY_MAX] = "";
	struct log_ckpt *published = NULL;
	uint64_t size, upto, tail;
	int rc = 0;

	if (is_io_error(failure) && (rc = st_reopen(l->st, why)) != 0) {
		snprintf(what, cap, "the store could not be reopened (%s)", why);
		l->broken = true;
		return;
	}
	if ((rc = edge_load(l->edge, l->st, &size, why)) != 0) {
		snprintf(what, cap, "the tree state could not be reloaded (%s)", why);
		l->broken = true;
		return;
	}
	/* A commit reported failed may have landed all the same: the search
	 * tail (rolled back) would then miss its entries, and dedup with it.
	 * A restart indexes them from the store. */
	ix_stat(l->ix, &upto, &tail);
	if (upto + tail != size) {
		snprintf(what, cap,
		    "the store holds %llu entries but the search index knows of %llu",
		    (unsigned long long)size, (unsigned long long)(upto + tail));
		l->broken = true;
		return;
	}
	/* (With witnesses, before the first cosigned checkpoint, nothing is
	 * published yet.) */
	published = log_checkpoint(l);
	if (published != NULL && (rc = tree_root_check(l, published->size, published->root)) != 0) {
		snprintf(what, cap,
		    "the stored tree no longer holds the published checkpoint at %llu (%s)",
		    (unsigned long long)published->size, st_strerror(rc));
		l->broken = true;
		log_ckpt_unref(published);
		return;
	}
	log_ckpt_unref(published);
	snprintf(what, cap, "%s; it holds %llu entries",
	    is_io_error(failure) ? "reopened the store" : "reloaded the tree state",
	    (unsigned long long)size);
}

/* Refuse jobs[0..n) after the store failed with rc (what: the action
 * taken, for the answer when the map is at its ceiling). */
static void
jobs_fail_storage(struct log *l, struct log_job **jobs, size_t n, int rc, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (rc == MDB_MAP_FULL)
			job_fail(jobs[i], 507, R_STORAGE, "log storage is full: %s", what);
		else if (rc == ENOSPC || rc == EDQUOT)
			job_fail(jobs[i], 507, R_STORAGE, "log storage is full: %s",
			    "the disk has no space left");
		else if (l->broken)
			job_fail(jobs[i], 503, R_STORAGE,
			    "the log cannot write until it is restarted: %s", st_strerror(rc));
		else
			job_fail(jobs[i], 503, R_STORAGE, "storage error, try again: %s",
			    st_strerror(rc));
	}
}

/* Move the pending commit's jobs to ready_jobs (empty), for the caller to
 * answer. */
static void
pend_release(struct log *l)
{
	struct log_job **t = l->ready_jobs;

	l->ready_jobs = l->pend_jobs;
	l->n_ready = l->n_pend;
	l->pend_jobs = t;
	l->n_pend = 0;
	l->pending = false;
}

/* The pending commit is durable: hand its entries to the indexer, sign its
 * tree and publish the checkpoint, and fill in its jobs' results.  With
 * witnesses the checkpoint is offered to the gatherer instead, and the
 * jobs are left with status < 400 and no ckpt: the caller queues them to
 * wait for it.  Returns 0, or the signer's error (the jobs then get 500
 * with why). */
static int
pend_seal(struct log *l, char *why)
{
	struct log_ckpt *ck = NULL;
	int rc;

	ix_committed(l->ix, l->pend_size);
	if ((rc = ckpt_make(l, l->pend_size, l->pend_root, &ck)) != 0) {
		/* The entries are in; a restart will sign them.  Answer with
		 * the error rather than without a checkpoint. */
		cl_why(why, rc, "signing the checkpoint failed: %s", cl_strerror(rc));
		for (size_t i = 0; i < l->n_pend; i++)
			job_fail(l->pend_jobs[i], 500, R_STORAGE, "%s", why);
	} else if (l->ga != NULL) {
		for (size_t i = 0; i < l->n_pend; i++)
			js(l->pend_jobs[i])->covered = ck->size;
		log_ckpt_unref(l->offer);
		l->offer = ck;
	} else {
		ckpt_publish(l, log_ckpt_ref(ck));
		for (size_t i = 0; i < l->n_pend; i++) {
			l->pend_jobs[i]->ckpt = log_ckpt_ref(ck);
			if (l->pend_jobs[i]->status == 200)
				metrics_count(l->m, M_DUPLICATES, 1);
		}
		log_ckpt_unref(ck);
	}
	pend_release(l);
	return rc;
}

/* Settle the pending commit after `failure`, a failed flush that may have
 * dropped its meta page (0: none; a sync is tried first): durable and
 * answered, or refused.  A refused one keeps its entries in the search
 * tail (see the top of the file): the store reopened after the I/O error
 * holds them.  Returns 0, or the sync's error to recover from. */
static int
pend_settle(struct log *l, int failure, char *why)
{
	if (!l->pending)
		return 0;
	if (failure == 0 && (failure = st_sync(l->st)) == 0) {
		(void)pend_seal(l, why); /* a signing failure is in the answers */
		return 0;
	}
	ix_committed(l->ix, l->pend_size);
	jobs_fail_storage(l, l->pend_jobs, l->n_pend, failure, "");
	pend_release(l);
	return failure;
}

/* With no next batch waiting: flush the pending commit's meta page now,
 * and sign and answer it (into ready_jobs), or, if the flush fails, refuse
 * its jobs and recover as after a failed commit.  Returns 0, the sync's
 * error or the signer's (with why). */
static int
pend_flush(struct log *l, char *why)
{
	char what[CL_WHY_MAX + 128];
	size_t n = l->n_pend;
	int rc;

	if (!l->pending)
		return 0;
	if ((rc = st_sync(l->st)) == 0)
		return pend_seal(l, why);
	(void)pend_settle(l, rc, why);
	recover(l, rc, what, sizeof what);
	cl_why(why, rc, "%s", st_strerror(rc));
	fprintf(stderr, "closurelogd: sync of the commit of %zu submission%s failed: %s; %s\n", n,
	    n == 1 ? "" : "s", st_strerror(rc), what);
	return rc;
}

/* Append a batch of prepared jobs in one transaction.  The commit before
 * it, if pending, is durable once this one is committed: it is sealed
 * (pend_seal: signed, its jobs into ready_jobs).  This batch's jobs that
 * are appended or duplicates then wait as the pending commit, and their
 * slots in jobs[] are set to NULL; the others (refused, or duplicates the
 * published checkpoint covers) get their results at once.  A failure
 * settles the pending commit first (pend_settle).  In the bulk loader's
 * mode (no sync) nothing is pending or signed. */
static int
commit_batch(struct log *l, struct log_job **jobs, size_t n, char *why)
{
	struct log_ckpt *prev = log_checkpoint(l);
	size_t appended = 0, map = 0;
	double t0 = metrics_now();
	char what[CL_WHY_MAX + 128];
	int rc;

	if (l->broken) {
		rc = ST_ECORRUPT;
		cl_why(why, rc, "%s", st_strerror(rc));
		for (size_t i = 0; i < n; i++)
			job_fail(jobs[i], 503, R_STORAGE,
			    "the log cannot write until it is restarted: %s", st_strerror(rc));
		log_ckpt_unref(prev);
		return rc;
	}
	for (;;) {
		int grow, failure;

		rc = batch_write(l, jobs, n, prev, &appended);
		if (rc == 0 || rc == 1)
			break;
		/* Settle the pending commit before the rollback drops its
		 * entries from the search tail.  After an I/O error this
		 * commit's flush may have lost its meta page: no sync can
		 * prove it durable any more. */
		failure = pend_settle(l, is_io_error(rc) ? rc : 0, why);
		ix_rollback(l->ix);
		recover(l, is_io_error(failure) ? failure : rc, what, sizeof what);
		if (rc != MDB_MAP_FULL || l->broken)
			goto fail;
		/* Full: grow the map with no transaction active, and write
		 * the same batch again. */
		if ((grow = st_map_grow(l->st, l->cfg.map_max, &map)) != 0) {
			if (grow != MDB_MAP_FULL)
				rc = grow;
			snprintf(what, sizeof what,
			    "the map is at its ceiling of %zu bytes (--map-max)", map);
			goto fail;
		}
		fprintf(stderr, "closurelogd: store map full; grown to %zu bytes\n", map);
	}
	if (rc == 1) {
		/* The published checkpoint covers them all. */
		for (size_t i = 0; i < n; i++) {
			jobs[i]->ckpt = log_ckpt_ref(prev);
			metrics_count(l->m, M_DUPLICATES, 1);
		}
		log_ckpt_unref(prev);
		return 0;
	}
	if (prev != NULL)
		l->ckpt_stored_size = prev->size;
	edge_committed(l->edge);
	metrics_observe(l->m, H_COMMIT_SECONDS, metrics_now() - t0);
	metrics_observe(l->m, H_BATCH_SIZE, (double)appended);
	metrics_count(l->m, M_BATCHES, 1);
	metrics_count(l->m, M_APPENDS, appended);
	log_ckpt_unref(prev);

	/* The benchmark's bulk loader (sync off): nothing is signed. */
	if (!st_sync_on(l->st)) {
		ix_committed(l->ix, edge_size(l->edge));
		return 0;
	}
	/* This commit's data flush made the pending one's meta page durable:
	 * now, and only now, sign it. */
	if (l->pending)
		(void)pend_seal(l, why); /* a signing failure is in its answers */
	l->pending = true;
	l->pend_size = edge_size(l->edge);
	edge_root(l->edge, l->pend_root);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->status < 400) {
			l->pend_jobs[l->n_pend++] = jobs[i];
			jobs[i] = NULL;
		}
	}
	return 0;

fail:
	log_ckpt_unref(prev);
	/* Nothing of this batch is acknowledged; say why, once, in the log. */
	cl_why(why, rc, "%s", st_strerror(rc));
	fprintf(stderr, "closurelogd: commit of %zu submission%s failed: %s; %s\n", n,
	    n == 1 ? "" : "s", st_strerror(rc), what);
	jobs_fail_storage(l, jobs, n, rc, what);
	return rc;
}

/* ---- Verification ---- */

/* Check one submission and fill in its leaf hash and search keys; keys:
 * the submitter allowlist its signatures must verify under (the caller
 * holds it, allow_acquire), or NULL to check no signature.  Returns true
 * if it may be appended; otherwise the job holds the refusal. */
static bool
prepare(struct wire_arena *a, struct log_job *j, const struct allow_list *keys)
{
	struct cl_envelope env;
	struct cl_attestation att;
	size_t who = 0;
	char why[CL_WHY_MAX];
	int rc;

	wire_arena_reset(a);
	if ((rc = wire_envelope_decode(a, j->body, j->len, &env, why)) != 0) {
		/* A count or field cap is a broken rule (400): 413 is for the
		 * body's size, which the HTTP front end checks. */
		job_fail(j, 400, rc == CL_ETOOBIG ? R_TOO_BIG : R_MALFORMED, "%s", why);
		return false;
	}
	if (keys != NULL) {
		if (keys->n == 0) {
			job_fail(j, 403, R_NO_SUBMITTERS, "%s",
			    "this log accepts no submitters yet (the submitters file has no "
			    "key, or is missing)");
			return false;
		}
		/* Every signature must be by an allowlisted key and verify, in
		 * ascending keyid order: anyone can read an entry, and a set
		 * that admitted extra, reordered or repeated signatures would
		 * let them log it again at a new index. */
		if ((rc = dsse_verify_all(a, &env, keys->keys, keys->n, &who, why)) != 0) {
			if (rc == CL_ENOKEY || rc == CL_EBADSIG)
				job_fail(j, 403,
				    rc == CL_EBADSIG ? R_BAD_SIGNATURE : R_UNKNOWN_SUBMITTER, "%s",
				    why);
			else
				job_fail(j, rc == CL_ENOMEM ? 500 : 400, R_MALFORMED, "%s", why);
			return false;
		}
		memcpy(js(j)->submitter, keys->keys[who].pub, 32);
	}
	js(j)->signed_by_submitter = keys != NULL;
	/* Only the verified payload bytes are parsed. */
	if ((rc = wire_attestation_decode(a, env.payload, env.payload_len, &att, why)) != 0) {
		job_fail(j, 400,
		    rc == CL_EINVAL || rc == CL_ETOOBIG ? R_INVALID_FIELD : R_MALFORMED, "%s", why);
		return false;
	}
	/* The decoder checked both: it decoded the digest, and a store path
	 * fits its root. */
	memcpy(js(j)->nar, att.nar_digest, sizeof js(j)->nar);
	memcpy(js(j)->root, att.root, strlen(att.root) + 1);
	mt_leaf_hash(j->leaf, j->body, j->len);
	return true;
}

/* The search keys of a stored entry, decoded in an arena of its own (so
 * any thread at once): the submitter, if `sig`, is the allowlisted key
 * that signed it, if one does now. */
static int
entry_decode(struct log *l, const uint8_t *leaf_bytes, size_t len, bool sig, struct ix_keys *out)
{
	const struct allow_list *keys;
	struct wire_arena a;
	struct log_job j;
	void *buf = malloc(WIRE_ARENA_MIN);
	int rc = 0;

	if (buf == NULL)
		return ENOMEM;
	keys = sig ? allow_acquire(l->al) : NULL;
	wire_arena_init(&a, buf, WIRE_ARENA_MIN);
	memset(&j, 0, sizeof j);
	j.body = leaf_bytes;
	j.len = len;
	if ((keys != NULL && prepare(&a, &j, keys)) || prepare(&a, &j, NULL)) {
		memcpy(out->root, js(&j)->root, sizeof out->root);
		memcpy(out->nar, js(&j)->nar, 32);
		memcpy(out->submitter, js(&j)->submitter, 32);
		out->has_submitter = js(&j)->signed_by_submitter;
	} else {
		rc = ST_ECORRUPT; /* it was checked before it was stored */
	}
	if (keys != NULL)
		allow_release(l->al, keys);
	free(buf);
	return rc;
}

/* An ix_keys_fn (arg: the log), for rebuilding the search indexes. */
static int
entry_keys(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out)
{
	return entry_decode(arg, leaf_bytes, len, true, out);
}

/* An ix_fields_fn (arg: the log): a stored entry's root and narHash, to
 * confirm a search candidate. */
static int
entry_fields(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out)
{
	return entry_decode(arg, leaf_bytes, len, false, out);
}

static void
queue_push(struct queue *q, struct log_job *j)
{
	js(j)->next = NULL;
	if (q->tail != NULL)
		js(q->tail)->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct log_job *
queue_pop(struct queue *q)
{
	struct log_job *j = q->head;

	if (j != NULL) {
		q->head = js(j)->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->n--;
	}
	return j;
}

/* Answer jobs[0..n) (NULL slots skipped) and forget them: one lock for
 * the lot, since the committer answers whole batches. */
static void
jobs_done(struct log *l, struct log_job *const *jobs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += jobs[i] != NULL;
	if (k == 0)
		return;
	pthread_mutex_lock(&l->mu);
	l->in_flight -= k;
	pthread_mutex_unlock(&l->mu);
	metrics_gauge_add(l->m, G_QUEUE_DEPTH, -(int64_t)k);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i] == NULL)
			continue;
		if (jobs[i]->status >= 400)
			metrics_reject(l->m, jobs[i]->reason);
		jobs[i]->done(jobs[i]);
	}
}

/* Answer a job and forget it. */
static void
job_done(struct log *l, struct log_job *j)
{
	jobs_done(l, &j, 1);
}

/* A verifier thread and the arena it decodes in. */
struct verifier {
	struct log *l;
	pthread_t tid;
	void *arena;
};

/* Verifiers take up to this many jobs per turn: fewer lock round trips,
 * and the signature code stays warm in the core's caches. */
#define VERIFY_BATCH 16

static void *
verifier_main(void *arg)
{
	struct verifier *v = arg;
	struct log *l = v->l;
	struct wire_arena a;

	pthread_setname_np(pthread_self(), "cl-verify");
	wire_arena_init(&a, v->arena, WIRE_ARENA_MIN);
	for (;;) {
		struct log_job *mine[VERIFY_BATCH];
		size_t n = 0, share;

		pthread_mutex_lock(&l->mu);
		while (l->verify_q.n == 0 && !l->stopping)
			pthread_cond_wait(&l->verify_cv, &l->mu);
		/* A fair share, so the other verifiers are not left idle. */
		share = (l->verify_q.n + l->cfg.verify_threads - 1) / l->cfg.verify_threads;
		while (n < VERIFY_BATCH && n < share && l->verify_q.n > 0)
			mine[n++] = queue_pop(&l->verify_q);
		pthread_mutex_unlock(&l->mu);
		if (n == 0)
			break; /* stopping and drained */
		struct log_job *refused[VERIFY_BATCH];
		size_t n_refused = 0, ready = 0;
		bool ok[VERIFY_BATCH];
		/* One allowlist for the turn: a reload applies from the next. */
		const struct allow_list *keys = allow_acquire(l->al);

		for (size_t i = 1; i < n; i++)
			__builtin_prefetch(mine[i]);
		for (size_t i = 0; i < n; i++) {
			if (i + 1 < n)
				body_prefetch(mine[i + 1]);
			ok[i] = prepare(&a, mine[i], keys);
		}
		allow_release(l->al, keys);
		pthread_mutex_lock(&l->mu);
		for (size_t i = 0; i < n; i++) {
			struct group *g = js(mine[i])->group;

			/* A refusal counts too: a group is ready once all of
			 * it is through, whatever became of each job. */
			js(mine[i])->group = NULL;
			if (g == NULL)
				ready += ok[i];
			else if (--g->unverified == 0) {
				free(g);
				ready++;
			}
			if (ok[i])
				queue_push(&l->commit_q, mine[i]);
			else
				refused[n_refused++] = mine[i];
		}
		/* Nothing queued (all committed, or refused): nothing waits. */
		l->commit_ready = l->commit_q.n > 0 ? l->commit_ready + ready : 0;
		if (ready > 0 || l->commit_q.n >= l->cfg.batch_max)
			pthread_cond_signal(&l->commit_cv);
		pthread_mutex_unlock(&l->mu);
		jobs_done(l, refused, n_refused);
	}
	pthread_mutex_lock(&l->mu);
	l->verifiers_running--;
	pthread_cond_broadcast(&l->commit_cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Hand the checkpoint signed last to the gatherer. */
static void
offer_flush(struct log *l)
{
	if (l->offer != NULL) {
		ga_offer(l->ga, l->offer->note, l->offer->len, l->offer->size);
		log_ckpt_unref(l->offer);
		l->offer = NULL;
	}
}

/* The gatherer's callbacks, on its thread: answer what waits. */
static void
await_answer(struct log *l, uint64_t size, struct log_ckpt *ck, const char *why)
{
	struct queue done = {NULL, NULL, 0};
	struct log_job *j;

	pthread_mutex_lock(&l->await_mu);
	while (l->await_q.head != NULL && js(l->await_q.head)->covered <= size)
		queue_push(&done, queue_pop(&l->await_q));
	pthread_mutex_unlock(&l->await_mu);
	while ((j = queue_pop(&done)) != NULL) {
		if (ck != NULL) {
			j->ckpt = log_ckpt_ref(ck);
			if (j->status == 200)
				metrics_count(l->m, M_DUPLICATES, 1);
		} else {
			job_fail(j, 503, R_NO_QUORUM, "not published: %s retry later", why);
		}
		job_done(l, j);
	}
}

static void
on_cosigned(void *arg, const uint8_t *note, size_t len, uint64_t size)
{
	struct log *l = arg;
	struct note *n = malloc(sizeof *n);
	struct log_ckpt *c = NULL;
	struct sth s;

	/* The gatherer hands back our own signed note with lines appended:
	 * its text parses (the root is kept with the checkpoint). */
	if (n != NULL && note_open(note, len, NULL, 0, n, NULL) == 0 &&
	    sth_parse((const char *)note, n->text_len, &s, NULL) == 0 && s.size == size)
		c = ckpt_alloc(note, len, size, s.root);
	free(n);
	if (c == NULL) {
		await_answer(l, size, NULL, "out of memory");
		return;
	}
	ckpt_publish(l, log_ckpt_ref(c));
	await_answer(l, size, c, NULL);
	log_ckpt_unref(c);
}

static void
on_no_quorum(void *arg, uint64_t size, const char *why)
{
	await_answer(arg, size, NULL, why);
}

/* Answer the jobs commit_batch or pend_flush made ready; with witnesses,
 * queue those that wait for a cosigned checkpoint and hand it over. */
static void
ready_answer(struct log *l)
{
	if (l->ga != NULL) {
		/* Queue the waiting ones at once: the gatherer may answer them
		 * as soon as they are on the queue. */
		pthread_mutex_lock(&l->await_mu);
		for (size_t i = 0; i < l->n_ready; i++) {
			if (l->ready_jobs[i]->status < 400 && l->ready_jobs[i]->ckpt == NULL) {
				queue_push(&l->await_q, l->ready_jobs[i]);
				l->ready_jobs[i] = NULL;
			}
		}
		pthread_mutex_unlock(&l->await_mu);
		offer_flush(l);
	}
	jobs_done(l, l->ready_jobs, l->n_ready);
	l->n_ready = 0;
}

/* The longest the committer waits, with a commit pending, for submissions
 * being verified (see committer_main). */
#define PEND_WAIT_MS 5

/* Whether a commit is worth making now (under log.mu): jobs wait that
 * someone waits for (commit_ready), or a full batch, or the log stops. */
static bool
commit_due(const struct log *l)
{
	return l->commit_q.n > 0 &&
	    (l->commit_ready > 0 || l->commit_q.n >= l->cfg.batch_max || l->stopping);
}

static void *
committer_main(void *arg)
{
	struct log *l = arg;
	struct log_job **jobs = l->batch_jobs;
	char why[CL_WHY_MAX];

	pthread_setname_np(pthread_self(), "cl-commit");
	for (;;) {
		size_t n = 0;

		pthread_mutex_lock(&l->mu);
		while (!commit_due(l) && !l->pending && !(l->stopping && l->verifiers_running == 0))
			pthread_cond_wait(&l->commit_cv, &l->mu);
		/* Submissions already queued for verification make the next
		 * batch, whose commit flushes the pending one's meta page too:
		 * wait for them rather than flush twice, but never longer than
		 * PEND_WAIT_MS, so that what waits does not depend on traffic
		 * still to come. */
		if (!commit_due(l) && l->pending && l->verify_q.n > 0) {
			struct timespec dl;

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += PEND_WAIT_MS * 1000000L;
			dl.tv_sec += dl.tv_nsec / 1000000000;
			dl.tv_nsec %= 1000000000;
			while (!commit_due(l) && !l->stopping &&
			    pthread_cond_timedwait(&l->commit_cv, &l->mu, &dl) != ETIMEDOUT)
				;
		}
		if (!commit_due(l)) {
			pthread_mutex_unlock(&l->mu);
			if (!l->pending)
				break; /* stopping, everything answered */
			/* No next batch to carry the pending commit's meta
			 * page to disk (held group jobs wait for their group):
			 * flush it now, and answer. */
			(void)pend_flush(l, why); /* the answers say how it went */
			ready_answer(l);
			continue;
		}
		/* Optionally wait a little for a fuller batch. */
		if (l->cfg.batch_window_us > 0 && l->commit_q.n < l->cfg.batch_max &&
		    !l->stopping) {
			struct timespec dl;

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += (long)l->cfg.batch_window_us * 1000;
			dl.tv_sec += dl.tv_nsec / 1000000000;
			dl.tv_nsec %= 1000000000;
			while (l->commit_q.n < l->cfg.batch_max && !l->stopping &&
			    pthread_cond_timedwait(&l->commit_cv, &l->mu, &dl) != ETIMEDOUT)
				;
		}
		while (n < l->cfg.batch_max && l->commit_q.n > 0)
			jobs[n++] = queue_pop(&l->commit_q);
		/* What is left over (a full batch) is committed next turn. */
		if (l->commit_q.n == 0)
			l->commit_ready = 0;
		pthread_mutex_unlock(&l->mu);

		(void)commit_batch(l, jobs, n, why);
		/* The older batch first, then what this one refused. */
		ready_answer(l);
		jobs_done(l, jobs, n);
	}
	return NULL;
}

/* ---- Life cycle ---- */

int
log_open(struct st *st, struct signer *sg, struct allow *al, struct metrics *m,
    const struct log_cfg *cfg, struct log **out, char *why)
{
	struct log *l;
	struct st_meta meta;
	struct log_ckpt *ck = NULL;
	uint8_t root[MT_HASH_LEN];
	uint64_t size;
	int rc;

	*out = NULL;
	if (cfg->verify_threads == 0 || cfg->batch_max == 0 || cfg->queue_max == 0)
		return cl_why(
		    why, CL_EINVAL, "log: threads, batch and queue sizes must be positive");
	/* A pending commit's entries wait in the search tail, not yet
	 * indexable, beside the next batch's (ix_room): two must fit. */
	if (cfg->batch_max > IX_TAIL_MAX / 2)
		return cl_why(
		    why, CL_EINVAL, "log: a batch may hold at most %d entries", IX_TAIL_MAX / 2);
	if (!st_sync_on(st))
		return cl_why(why, CL_EINVAL, "log: the store does not sync; refusing to sign");
	if ((l = calloc(1, sizeof *l)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	l->st = st;
	l->sg = sg;
	l->al = al;
	l->m = m;
	l->cfg = *cfg;
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->ckpt_mu, NULL);
	pthread_mutex_init(&l->await_mu, NULL);
	l->ga = cfg->ga;
	pthread_cond_init(&l->verify_cv, NULL);
	pthread_cond_init(&l->commit_cv, NULL);

	if (cfg->tiles_dir != NULL && cfg->tiles_dir[0] != '\0' &&
	    (rc = tiles_open(cfg->tiles_dir, &l->tiledir, why)) != 0)
		goto fail;
	if ((rc = edge_new(&l->edge)) != 0) {
		cl_why(why, rc, "out of memory");
		goto fail;
	}
	if ((rc = edge_load(l->edge, st, &size, why)) != 0)
		goto fail;
	/* The stored tree may be a crashed process's last commit, its meta
	 * page still only in the page cache: flush it before indexing or
	 * signing it. */
	if ((rc = st_sync(st)) != 0) {
		cl_why(why, rc, "store: %s", st_strerror(rc));
		goto fail;
	}
	l->ix = cfg->ix;
	if (l->ix == NULL && (rc = ix_open(st, &l->ix, why)) == 0)
		l->ix_owned = true;
	if (rc == 0)
		rc = ix_start(l->ix, entry_keys, l, entry_fields, l, why);
	if (rc != 0)
		goto fail;
	edge_root(l->edge, root);
	if ((rc = ckpt_make(l, size, root, &ck)) != 0) {
		cl_why(why, rc, "cannot sign the checkpoint: %s", cl_strerror(rc));
		goto fail;
	}
	/* The record of the last checkpoint must be for a tree the store
	 * holds: its root is the stored tree's root at its size, and if it is
	 * for the stored size it begins with exactly what signing the tree
	 * gives again, followed by nothing but signature lines (cosignatures,
	 * which sth_open parsed as such). */
	if ((rc = st_meta_get(st, &meta)) != 0) {
		cl_why(why, rc, "store: %s", st_strerror(rc));
		goto fail;
	}
	if (meta.checkpoint != NULL) {
		struct note_verifier v;
		struct sth prev;

		signer_verifier(sg, &v);
		if (sth_open(meta.checkpoint, meta.checkpoint_len, &v, NULL, &prev, NULL) != 0 ||
		    prev.size > size || tree_root_check(l, prev.size, prev.root) != 0 ||
		    (prev.size == size &&
		        (meta.checkpoint_len < ck->len ||
		            memcmp(meta.checkpoint, ck->note, ck->len) != 0))) {
			st_meta_free(&meta);
			rc = cl_why(why, ST_ECORRUPT,
			    "store: the recorded checkpoint does not match the stored tree");
			goto fail;
		}
		l->ckpt_stored_size = prev.size;
		/* With witnesses, what was published before is what is served
		 * until the witnesses cosign again, if it carries the quorum. */
		if (l->ga != NULL && ga_quorum_met(l->ga, meta.checkpoint, meta.checkpoint_len)) {
			struct log_ckpt *rec =
			    ckpt_alloc(meta.checkpoint, meta.checkpoint_len, prev.size, prev.root);

			if (rec == NULL) {
				st_meta_free(&meta);
				rc = cl_why(why, ENOMEM, "out of memory");
				goto fail;
			}
			ckpt_publish(l, rec);
		}
	}
	st_meta_free(&meta);
	if (l->ga == NULL) {
		ckpt_publish(l, ck);
		ck = NULL;
	} else {
		struct ga_sink sink = {on_cosigned, on_no_quorum, l};

		if ((rc = ga_start(l->ga, &sink, why)) != 0)
			goto fail;
		l->ga_started = true;
		ga_offer(l->ga, ck->note, ck->len, ck->size);
		log_ckpt_unref(ck);
		ck = NULL;
	}

	if ((l->verifiers = calloc(cfg->verify_threads, sizeof *l->verifiers)) == NULL ||
	    (l->batch_jobs = calloc(cfg->batch_max, sizeof *l->batch_jobs)) == NULL ||
	    (l->pend_jobs = calloc(cfg->batch_max, sizeof *l->pend_jobs)) == NULL ||
	    (l->ready_jobs = calloc(cfg->batch_max, sizeof *l->ready_jobs)) == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->verify_threads; i++) {
		struct verifier *v = &l->verifiers[i];

		v->l = l;
		if ((v->arena = malloc(WIRE_ARENA_MIN)) == NULL) {
			rc = cl_why(why, ENOMEM, "out of memory");
			log_stop(l);
			goto fail;
		}
		if ((rc = pthread_create(&v->tid, NULL, verifier_main, v)) != 0) {
			cl_why(why, rc, "cannot start a verifier thread: %s", strerror(rc));
			log_stop(l);
			goto fail;
		}
		l->verifiers_running++;
	}
	if ((rc = pthread_create(&l->committer, NULL, committer_main, l)) != 0) {
		cl_why(why, rc, "cannot start the committer thread: %s", strerror(rc));
		log_stop(l);
		goto fail;
	}
	l->threads_started = true;
	*out = l;
	return 0;
fail:
	log_ckpt_unref(ck);
	log_free(l);
	return rc;
}

struct ix *
log_index(struct log *l)
{
	return l->ix;
}

/* log_submit_many and log_submit_group: a group's record, when wanted,
 * is made before taking the lock; without memory the jobs go ungrouped,
 * which changes only how they are spread over commits. */
static size_t
submit_jobs(struct log *l, struct log_job *const *jobs, size_t n, bool together, int *rc)
{
	struct group *g = NULL;
	size_t room, k;

	*rc = 0;
	if (n == 0)
		return 0;
	if (together && n > 1)
		g = malloc(sizeof *g);
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		free(g);
		*rc = LOG_ESTOPPED;
		return 0;
	}
	room = l->in_flight < l->cfg.queue_max ? l->cfg.queue_max - l->in_flight : 0;
	k = n < room ? n : room;
	l->in_flight += k;
	if (g != NULL && k < 2) {
		free(g);
		g = NULL;
	}
	if (g != NULL)
		g->unverified = k;
	for (size_t i = 0; i < k; i++) {
		jobs[i]->status = 0;
		jobs[i]->ckpt = NULL;
		jobs[i]->why[0] = '\0';
		js(jobs[i])->group = g;
		queue_push(&l->verify_q, jobs[i]);
	}
	/* One wake-up for the lot: a verifier takes a fair share and leaves
	 * the rest to the others. */
	if (k == 1)
		pthread_cond_signal(&l->verify_cv);
	else if (k > 1)
		pthread_cond_broadcast(&l->verify_cv);
	pthread_mutex_unlock(&l->mu);
	if (k > 0)
		metrics_gauge_add(l->m, G_QUEUE_DEPTH, (int64_t)k);
	if (k < n) {
		*rc = LOG_EBUSY;
		for (size_t i = k; i < n; i++)
			metrics_reject(l->m, R_OVERLOAD);
	}
	return k;
}

size_t
log_submit_many(struct log *l, struct log_job *const *jobs, size_t n, int *rc)
{
	return submit_jobs(l, jobs, n, false, rc);
}

size_t
log_submit_group(struct log *l, struct log_job *const *jobs, size_t n, int *rc)
{
	return submit_jobs(l, jobs, n, true, rc);
}

int
log_submit(struct log *l, struct log_job *job)
{
	int rc;

	if (log_submit_many(l, &job, 1, &rc) == 1)
		return 0;
	return rc;
}

void
log_stop(struct log *l)
{
	struct log_ckpt *ck;
	struct st_batch *b;
	unsigned n_verifiers;

	pthread_mutex_lock(&l->mu);
	if (l->stopped) {
		pthread_mutex_unlock(&l->mu);
		return;
	}
	l->stopping = true;
	n_verifiers = l->verifiers_running;
	pthread_cond_broadcast(&l->verify_cv);
	pthread_cond_broadcast(&l->commit_cv);
	pthread_mutex_unlock(&l->mu);

	for (unsigned i = 0; i < n_verifiers; i++)
		pthread_join(l->verifiers[i].tid, NULL);
	if (l->threads_started)
		pthread_join(l->committer, NULL);
	if (l->ga_started) {
		/* No callback runs after this: what still waits is refused. */
		ga_stop(l->ga);
		l->ga_started = false;
		await_answer(l, UINT64_MAX, NULL,
		    "the log is shutting down before the witnesses cosigned it");
	}

	/* Leave the latest checkpoint on record. */
	ck = log_checkpoint(l);
	if (ck != NULL && ck->size != l->ckpt_stored_size) {
		int rc;

		if ((rc = st_batch_begin(l->st, &b)) == 0) {
			if ((rc = st_batch_checkpoint_put(b, ck->note, ck->len)) != 0)
				st_batch_abort(b);
			else if ((rc = st_batch_commit(b)) == 0 && (rc = st_sync(l->st)) == 0)
				l->ckpt_stored_size = ck->size;
		}
		/* Only a record: the next start signs the stored tree again. */
		if (rc != 0)
			fprintf(stderr, "closurelogd: the last checkpoint was not recorded: %s\n",
			    st_strerror(rc));
	}
	log_ckpt_unref(ck);
	pthread_mutex_lock(&l->mu);
	l->stopped = true;
	pthread_mutex_unlock(&l->mu);
}

void
log_free(struct log *l)
{
	if (l == NULL)
		return;
	log_ckpt_unref(l->ckpt);
	log_ckpt_unref(l->offer);
	tiles_close(l->tiledir);
	for (unsigned i = 0; l->verifiers != NULL && i < l->cfg.verify_threads; i++)
		free(l->verifiers[i].arena);
	free(l->verifiers);
	free(l->batch_jobs);
	free(l->pend_jobs);
	free(l->ready_jobs);
	if (l->ix_owned)
		ix_close(l->ix);
	edge_free(l->edge);
	pthread_cond_destroy(&l->verify_cv);
	pthread_cond_destroy(&l->commit_cv);
	pthread_mutex_destroy(&l->ckpt_mu);
	pthread_mutex_destroy(&l->await_mu);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* ---- Bulk load ---- */

/* Entries [0, n) of a bulk load's batch to check and hash (prepare) into
 * jobs[0, n), in arena a, on one thread: the loader's own or its helper.
 * bad gets the first refused entry's place, or n. */
struct bulk_part {
	const uint8_t *const *bodies;
	const size_t *lens;
	struct log_job *jobs;
	size_t n;
	struct wire_arena *a;
	size_t bad;
};

static void
bulk_prepare(struct bulk_part *p)
{
	p->bad = p->n;
	for (size_t i = 0; i < p->n; i++) {
		struct log_job *j = &p->jobs[i];

		memset(j, 0, sizeof *j);
		j->body = p->bodies[i];
		j->len = p->lens[i];
		if (!prepare(p->a, j, NULL)) {
			p->bad = i;
			return;
		}
	}
}

static void *
bulk_prepare_main(void *arg)
{
	bulk_prepare(arg);
	return NULL;
}

/* Run p on a helper thread (*started) or, should none start, on this one.
 * The helper owns p, its jobs and its arena until bulk_join. */
static void
bulk_start(struct bulk_part *p, pthread_t *t, bool *started)
{
	*started = pthread_create(t, NULL, bulk_prepare_main, p) == 0;
	if (!*started)
		bulk_prepare(p);
}

static void
bulk_join(pthread_t t, bool started)
{
	if (started)
		pthread_join(t, NULL);
}

/* Commit the k prepared jobs[] as one batch, as the committer does, and
 * count the new entries into *appended.  ptrs: k slots. */
static int
bulk_commit(struct log *l, struct log_job *jobs, struct log_job **ptrs, size_t k, size_t *appended,
    char *why)
{
	int rc;

	for (size_t i = 0; i < k; i++)
		ptrs[i] = &jobs[i];
	/* Synchronous: each batch durable and signed before the next (its
	 * jobs' results are in jobs[], the pointers commit_batch and pend_flush
	 * move around aside).  The committer's state, so under log.mu: a
	 * committer woken meanwhile must not see this batch pending and flush
	 * and answer it too. */
	pthread_mutex_lock(&l->mu);
	if ((rc = commit_batch(l, ptrs, k, why)) == 0)
		rc = pend_flush(l, why);
	l->n_ready = 0;
	pthread_mutex_unlock(&l->mu);
	if (l->ga != NULL)
		offer_flush(l);
	for (size_t i = 0; i < k; i++) {
		if (jobs[i].status == 201)
			(*appended)++;
		log_ckpt_unref(jobs[i].ckpt);
	}
	return rc;
}

/* Two threads, one core each: while this one commits batch N (dedup, the
 * store's puts, bundle compression, the tree's nodes and tiles), a helper
 * checks and hashes batch N+1 (decoding, the canonical-form checks and the
 * leaf hashes, about half of an entry's cost).  The first batch, with
 * nothing to commit beside it, is prepared in two halves at once.  Every
 * batch is committed by this thread, in order, through commit_batch, so
 * the store holds exactly what the committer would write; a refused entry
 * stops the load before its batch, as it always has. */
int
log_bulk_append(struct log *l, const uint8_t *const *bodies, const size_t *lens, size_t n,
    size_t *appended, char *why)
{
	struct wire_arena a[2];
	void *buf[2] = {malloc(WIRE_ARENA_MIN), malloc(WIRE_ARENA_MIN)};
	struct log_job *jobs[2] = {
	    calloc(l->cfg.batch_max, sizeof *jobs[0]), calloc(l->cfg.batch_max, sizeof *jobs[1])};
	struct log_job **ptrs = calloc(l->cfg.batch_max, sizeof *ptrs);
	size_t at = 0, k, bad, max = l->cfg.batch_max;
	unsigned cur = 0;
	int rc = 0;

	*appended = 0;
	if (buf[0] == NULL || buf[1] == NULL || jobs[0] == NULL || jobs[1] == NULL ||
	    ptrs == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto out;
	}
	wire_arena_init(&a[0], buf[0], WIRE_ARENA_MIN);
	wire_arena_init(&a[1], buf[1], WIRE_ARENA_MIN);
	k = n < max ? n : max;
	{
		struct bulk_part lo = {bodies, lens, jobs[0], k / 2, &a[0], 0};
		struct bulk_part hi = {
		    bodies + k / 2, lens + k / 2, jobs[0] + k / 2, k - k / 2, &a[1], 0};
		pthread_t t;
		bool started = false;

		if (hi.n > 0)
			bulk_start(&hi, &t, &started);
		bulk_prepare(&lo);
		bulk_join(t, started);
		bad = lo.bad < lo.n ? lo.bad : lo.n + hi.bad;
	}
	while (k > 0) {
		size_t nk = n - at - k < max ? n - at - k : max;
		struct bulk_part next = {
		    bodies + at + k, lens + at + k, jobs[cur ^ 1], nk, &a[1], 0};
		pthread_t t;
		bool started = false;

		if (bad < k) {
			rc = cl_why(why, CL_EINVAL, "entry %zu: %s", at + bad, jobs[cur][bad].why);
			break;
		}
		if (nk > 0)
			bulk_start(&next, &t, &started);
		rc = bulk_commit(l, jobs[cur], ptrs, k, appended, why);
		bulk_join(t, started);
		if (rc != 0)
			break;
		at += k;
		k = nk;
		bad = next.bad;
		cur ^= 1;
	}
out:
	free(ptrs);
	free(jobs[1]);
	free(jobs[0]);
	free(buf[1]);
	free(buf[0]);
	return rc;
}
