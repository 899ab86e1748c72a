/*
 * submit.c: submissions, from the HTTP thread to the log and back.
 *
 * What costs CPU here is paid per turn or per run, not per request.  The
 * submissions an HTTP thread takes in one turn of its loop are queued on
 * the log together (one lock, one wake-up of the verifiers).  The log's
 * threads verify and commit; when a job is done they push it on its HTTP
 * thread's lock-free completion stack, and only the push onto an empty
 * stack wakes the thread, which answers the whole run from one read
 * transaction (every answer's checkpoint is committed, so the snapshot
 * covers all of them), the proofs through the thread's proof cache
 * (pcache.h).  The request, and the body the log reads in place, stay with
 * their connection until the answer (http.h).  Answered records are kept
 * for reuse: fewer large mallocs on the hot path.
 *
 * A batch queues each envelope as its own job, through the very path a
 * single submission takes (same verifier, signer-set rule and dedup), and
 * counts them down; all of them go to the log in one call (a group, see
 * log_submit_group), so the verifiers share the batch out and the
 * committer takes it in few commits.  The job that brings the count to zero
 * pushes the batch for its HTTP thread, which answers every envelope against the
 * latest checkpoint: each job's checkpoint covers its entry and the
 * latest is at least as large, so one checkpoint covers the whole batch.
 */
#include "submit.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#define SPARE_MAX 1024

/* A batch: one log_job per envelope, answered together when the last is
 * done. */
struct sub_bjob {
	struct log_job job; /* first: the log hands it back as a log_job */
	struct sub_batch *b;
};

struct sub_batch {
	struct rt *t;
	struct http_req *req;
	atomic_size_t pending; /* queued jobs not done, plus one while queueing */
	struct sub_batch *next_done;
	size_t n;
	struct sub_bjob jobs[];
};

struct sub {
	struct log_job job; /* first: the log hands it back as a log_job */
	struct rt *t;
	struct http_req *req;
	struct sub *next_done;
};

/* The inclusion proof of index in the tree of `size` from t's reader (in
 * a transaction), through the thread's proof cache. */
static int
prove(struct rt *t, uint64_t index, uint64_t size, struct cl_proof *p)
{
	return pc_inclusion(&t->pcache, t->reader, index, size, p->hashes, &p->n);
}

/* "application/x-protobuf", in any case, with or without parameters. */
static bool
is_protobuf(const char *ct)
{
	size_t n = strlen(RT_CT_PROTOBUF);

	if (ct == NULL || strncasecmp(ct, RT_CT_PROTOBUF, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void
sub_done(struct log_job *job)
{
	struct sub *s = (struct sub *)job;
	struct rt *t = s->t;
	struct sub *old = atomic_load_explicit(&t->done_head, memory_order_relaxed);

	/* On a log thread: push it for the HTTP thread that owns it (s may
	 * be answered as soon as it is on the stack: only t is used after). */
	do
		s->next_done = old;
	while (!atomic_compare_exchange_weak_explicit(
	    &t->done_head, &old, s, memory_order_release, memory_order_relaxed));
	/* The thread takes the whole stack: only the first of a run wakes it. */
	if (old == NULL)
		event_active(t->wake, EV_READ, 0);
}

/* Answer a finished submission; reader_open says whether t's reader is in
 * a transaction. */
static void
sub_answer(struct sub *s, bool reader_open)
{
	struct rt *t = s->t;
	struct log_job *j = &s->job;
	struct cl_submit_response r;
	const uint8_t *out;
	size_t len;
	int rc;

	if (j->status >= 400) {
		/* The log counted the reject reason already. */
		rt_fail(t, s->req, j->status, -1, NULL, "%s", j->why);
		return;
	}
	memset(&r, 0, sizeof r);
	r.index = j->index;
	memcpy(r.leaf_hash, j->leaf, MT_HASH_LEN);
	r.inclusion.a = j->index;
	r.inclusion.b = j->ckpt->size;
	r.checkpoint = j->ckpt->note;
	r.checkpoint_len = j->ckpt->len;
	r.duplicate = j->status == 200;
	if (!reader_open) {
		rt_fail(t, s->req, 503, R_STORAGE, NULL, "store unavailable");
		return;
	}
	rc = prove(t, j->index, j->ckpt->size, &r.inclusion);
	if (rc != 0) {
		rt_fail(t, s->req, 500, R_STORAGE, NULL, "proof failed: %s", st_strerror(rc));
		return;
	}
	wire_arena_reset(&t->arena);
	rc = wire_submit_response_encode(&t->arena, &r, &out, &len);
	if (rc == 0)
		metrics_observe(t->m, H_APPEND_SECONDS, metrics_now() - s->req->t0);
	rt_reply_pb(t, s->req, j->status, rc, out, len);
}

/* Bits of v (0 for 0): an inclusion proof at size v has at most that many
 * hashes. */
static size_t
bits(uint64_t v)
{
	return v == 0 ? 0 : 64 - (size_t)__builtin_clzll(v);
}

/* Answer a batch whose jobs are all done, then free it.  The answer is
 * written result by result as each proof is made (wire_batch_result_put)
 * into the evbuffer that goes out, so nothing the size of the batch is
 * built beside it: no array of results with room for the longest proof,
 * no protobuf-c structs, no second copy of the bytes. */
static void
batch_answer(struct rt *t, struct sub_batch *b)
{
	struct log_ckpt *ck = log_checkpoint(t->log); /* NULL before the first cosigned one */
	struct evbuffer *body = NULL;
	struct cl_batch_result x;
	/* A result's piece, then the checkpoint's: a cosigned checkpoint with
	 * many witnesses is longer than a result. */
	uint8_t piece[WIRE_BATCH_RESULT_MAX > WIRE_BATCH_CHECKPOINT_MAX
	        ? WIRE_BATCH_RESULT_MAX
	        : WIRE_BATCH_CHECKPOINT_MAX];
	int rc = 0, enc = 0; /* the proofs', the encoding's */

	for (size_t i = 0; i < b->n; i++) {
		struct log_ckpt *jc = b->jobs[i].job.ckpt;

		/* The latest is never smaller than a job's; keep the rule local. */
		if (jc != NULL && (ck == NULL || jc->size > ck->size)) {
			log_ckpt_unref(ck);
			ck = log_ckpt_ref(jc);
		}
	}
	if (ck == NULL) {
		/* Only with witnesses: nothing cosigned yet, and no job logged. */
		rt_fail(t, b->req, 503, R_NO_QUORUM, NULL,
		    "not published: no witness-cosigned checkpoint yet; resubmit the batch");
		goto out;
	}
	/* Room for the results at about the proof length of this size, in one
	 * block (a longer answer only takes more blocks). */
	if ((body = evbuffer_new()) == NULL ||
	    evbuffer_expand(body,
	        b->n * (64 + (2 + MT_HASH_LEN) * bits(ck->size)) +
	            wire_batch_checkpoint_size(ck->len)) != 0) {
		rt_fail(t, b->req, 503, R_OVERLOAD, NULL, "out of memory");
		goto out;
	}
	/* Begun after taking ck: the snapshot holds every node under it. */
	if (!rt_reader_begin(t, b->req))
		goto out;
	for (size_t i = 0; i < b->n && rc == 0 && enc == 0; i++) {
		struct log_job *j = &b->jobs[i].job;
		size_t n;

		x.status = (unsigned)j->status;
		x.reason = NULL;
		if (j->status >= 400) {
			x.reason = j->why[0] != '\0' ? j->why : "refused";
		} else {
			x.index = j->index;
			memcpy(x.leaf_hash, j->leaf, MT_HASH_LEN);
			x.inclusion.a = j->index;
			x.inclusion.b = ck->size;
			if ((rc = prove(t, j->index, ck->size, &x.inclusion)) != 0)
				break;
		}
		if ((n = wire_batch_result_put(&x, piece)) == 0)
			enc = CL_EINVAL;
		else if (evbuffer_add(body, piece, n) != 0)
			enc = CL_ENOMEM;
	}
	st_reader_end(t->reader);
	if (rc == 0 && enc == 0) {
		size_t n = wire_batch_checkpoint_put(ck->note, ck->len, piece);

		if (n == 0)
			enc = CL_EINVAL;
		else if (evbuffer_add(body, piece, n) != 0)
			enc = CL_ENOMEM;
	}
	if (rc != 0)
		rt_fail(t, b->req, 500, R_STORAGE, NULL, "proof failed: %s", st_strerror(rc));
	else if (enc != 0)
		rt_fail(
		    t, b->req, 500, -1, NULL, "encoding the answer failed: %s", cl_strerror(enc));
	else
		http_reply_buffer(b->req, 200, RT_CT_PROTOBUF, RT_CACHE_NO_CACHE, body);
out:
	for (size_t i = 0; i < b->n; i++)
		log_ckpt_unref(b->jobs[i].job.ckpt);
	log_ckpt_unref(ck);
	if (body != NULL)
		evbuffer_free(body);
	free(b);
}

/* The batch's last job is done (on any thread): push it for its own, as
 * sub_done does. */
static void
batch_finished(struct sub_batch *b)
{
	struct rt *t = b->t;
	struct sub_batch *old = atomic_load_explicit(&t->batch_done, memory_order_relaxed);

	do
		b->next_done = old;
	while (!atomic_compare_exchange_weak_explicit(
	    &t->batch_done, &old, b, memory_order_release, memory_order_relaxed));
	if (old == NULL)
		event_active(t->wake, EV_READ, 0);
}

static void
bjob_done(struct log_job *job)
{
	struct sub_batch *b = ((struct sub_bjob *)job)->b;

	if (atomic_fetch_sub(&b->pending, 1) == 1)
		batch_finished(b);
}

/* Refuse one envelope of a batch without queueing it; reject >= 0 counts
 * that reason (as rt_fail does). */
static void bjob_refuse(struct rt *t, struct log_job *j, int status, int reject, const char *fmt,
    ...) __attribute__((format(printf, 5, 6)));

static void
bjob_refuse(struct rt *t, struct log_job *j, int status, int reject, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->why, sizeof j->why, fmt, ap);
	va_end(ap);
	j->status = status;
	j->reason = R_OVERLOAD;
	if (reject >= 0) {
		j->reason = (enum metrics_reject)reject;
		metrics_reject(t->m, j->reason);
	}
}

void
sub_batch_post(struct rt *t, struct http_req *req)
{
	struct cl_span *envs = NULL;
	struct sub_batch *b = NULL;
	struct log_job **q = NULL;
	size_t n, n_q = 0, queued;
	char why[CL_WHY_MAX];
	int rc;

	if (!rt_no_query(t, req))
		return;
	if (!is_protobuf(req->content_type)) {
		rt_fail(t, req, 415, R_BAD_REQUEST, NULL,
		    "Content-Type must be application/x-protobuf (a serialized EntryBatch)");
		return;
	}
	if ((envs = malloc(t->batch_max_entries * sizeof *envs)) == NULL) {
		rt_fail(t, req, 503, R_OVERLOAD, NULL, "out of memory");
		return;
	}
	rc = wire_batch_decode(req->body, req->body_len, envs, t->batch_max_entries, &n, why);
	if (rc == 0 && n == 0)
		rc = cl_why(why, CL_EINVAL, "empty batch: send at least one envelope");
	if (rc != 0) {
		rt_fail(t, req, 400, rc == CL_ETOOBIG ? R_TOO_BIG : R_MALFORMED, NULL, "%s%s", why,
		    rc == CL_ETOOBIG ? " (--batch-max-entries)" : "");
		goto out;
	}
	if ((b = calloc(1, sizeof *b + n * sizeof b->jobs[0])) == NULL ||
	    (q = malloc(n * sizeof *q)) == NULL) {
		free(b);
		rt_fail(t, req, 503, R_OVERLOAD, NULL, "out of memory");
		goto out;
	}
	b->t = t;
	b->req = req;
	b->n = n;
	atomic_init(&b->pending, n + 1);
	for (size_t i = 0; i < n; i++) {
		struct log_job *j = &b->jobs[i].job;

		b->jobs[i].b = b;
		/* The refusals sub_post gives a body of this size. */
		if (envs[i].len == 0) {
			bjob_refuse(t, j, 400, R_MALFORMED, "empty envelope");
		} else if (envs[i].len > CL_ENTRY_MAX) {
			bjob_refuse(t, j, 413, R_TOO_BIG,
			    "entry is %zu bytes; an entry must fit an entry bundle (%d bytes)",
			    envs[i].len, CL_ENTRY_MAX);
		} else {
			j->body = envs[i].data;
			j->len = envs[i].len;
			j->done = bjob_done;
			q[n_q++] = j;
		}
	}
	/* All at once: one lock and one wake-up, and the verifiers share the
	 * batch out between them; as a group, so that it is committed in as
	 * few commits as the log's batch size allows. */
	queued = log_submit_group(t->log, q, n_q, &rc);
	for (size_t i = queued; i < n_q; i++) {
		/* The log counted the overload refusals. */
		if (rc == LOG_EBUSY)
			bjob_refuse(t, q[i], 503, -1,
			    "too many submissions in flight; resubmit this envelope");
		else
			bjob_refuse(t, q[i], 503, R_OVERLOAD, "the log is shutting down");
	}
	/* What was not queued, and the hold while queueing. */
	if (atomic_fetch_sub(&b->pending, n - queued + 1) == n - queued + 1)
		batch_finished(b);
out:
	free(q);
	free(envs);
}

void
sub_drain(struct rt *t)
{
	struct sub_batch *b = atomic_exchange_explicit(&t->batch_done, NULL, memory_order_acquire);
	struct sub *s = atomic_exchange_explicit(&t->done_head, NULL, memory_order_acquire), *fifo;
	bool open;

	while (b != NULL) {
		struct sub_batch *next = b->next_done;

		batch_answer(t, b);
		b = next;
	}
	if (s == NULL)
		return;
	/* The stack holds the latest first: answer in the order they were
	 * done. */
	for (fifo = NULL; s != NULL;) {
		struct sub *next = s->next_done;

		s->next_done = fifo;
		fifo = s;
		s = next;
	}
	s = fifo;
	open = st_reader_begin(t->reader) == 0;
	while (s != NULL) {
		struct sub *next = s->next_done;

		sub_answer(s, open);
		log_ckpt_unref(s->job.ckpt);
		if (t->n_spare < SPARE_MAX) {
			s->next_done = t->spare;
			t->spare = s;
			t->n_spare++;
		} else {
			free(s);
		}
		s = next;
	}
	if (open)
		st_reader_end(t->reader);
}

void
sub_post(struct rt *t, struct http_req *req)
{
	struct sub *s;

	if (!rt_no_query(t, req))
		return;
	if (!is_protobuf(req->content_type)) {
		rt_fail(t, req, 415, R_BAD_REQUEST, NULL,
		    "Content-Type must be application/x-protobuf (a serialized Envelope)");
		return;
	}
	if (req->body_len == 0) {
		rt_fail(t, req, 400, R_MALFORMED, NULL, "empty body: send a serialized Envelope");
		return;
	}
	if (req->body_len > CL_ENTRY_MAX) {
		rt_fail(t, req, 413, R_TOO_BIG, NULL,
		    "entry is %zu bytes; an entry must fit an entry bundle (%d bytes)",
		    req->body_len, CL_ENTRY_MAX);
		return;
	}
	if ((s = t->spare) != NULL) {
		t->spare = s->next_done;
		t->n_spare--;
		memset(s, 0, sizeof *s);
	} else if ((s = calloc(1, sizeof *s)) == NULL) {
		rt_fail(t, req, 503, R_OVERLOAD, NULL, "out of memory");
		return;
	}
	s->t = t;
	s->req = req;
	s->job.body = req->body;
	s->job.len = req->body_len;
	s->job.done = sub_done;
	/* The requests of one turn of the loop go to the log together: one
	 * lock and one wake-up of the verifiers instead of one each.  The
	 * flush event, activated now, runs after the turn's other callbacks. */
	t->pending[t->n_pending++] = &s->job;
	if (t->n_pending == 1)
		event_active(t->flush, EV_READ, 0);
	else if (t->n_pending == RT_PENDING_MAX)
		sub_flush(t);
}

void
sub_flush(struct rt *t)
{
	struct log_job *jobs[RT_PENDING_MAX];
	size_t n = t->n_pending, queued;
	int rc;

	if (n == 0)
		return;
	/* A refusal below may start the next request of its connection, and
	 * sub_post hold it anew. */
	memcpy(jobs, t->pending, n * sizeof jobs[0]);
	t->n_pending = 0;
	queued = log_submit_many(t->log, jobs, n, &rc);
	for (size_t i = queued; i < n; i++) {
		struct sub *s = (struct sub *)jobs[i];
		struct http_req *req = s->req;

		free(s);
		if (rc == LOG_EBUSY)
			rt_fail(t, req, 503, -1, NULL, "too many submissions in flight; retry");
		else
			rt_fail(t, req, 503, -1, NULL, "the log is shutting down");
	}
}

void
sub_free_spares(struct rt *t)
{
	while (t->spare != NULL) {
		struct sub *next = t->spare->next_done;

		free(t->spare);
		t->spare = next;
	}
	t->n_spare = 0;
	for (size_t i = 0; i < t->n_pending; i++)
		free(t->pending[i]);
	t->n_pending = 0;
}
