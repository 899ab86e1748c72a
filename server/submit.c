/*
 * submit.c: submissions, from the HTTP thread to the log and back.
 *
 * The log's threads verify and commit; when a job is done they push it on
 * its HTTP thread's completion list and wake the thread, which answers the
 * whole run from one read transaction (every answer's checkpoint is
 * committed, so the snapshot covers all of them).  The request, and the
 * body the log reads in place, stay with their connection until the
 * answer (http.h).  Answered records are kept for reuse: fewer large
 * mallocs on the hot path.
 */
#include "submit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPARE_MAX 1024

struct sub {
	struct log_job job; /* first: the log hands it back as a log_job */
	struct rt *t;
	struct http_req *req;
	struct sub *next_done;
};

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

	/* On a log thread: queue it for the HTTP thread that owns it. */
	pthread_mutex_lock(&t->done_mu);
	s->next_done = t->done_head;
	t->done_head = s;
	pthread_mutex_unlock(&t->done_mu);
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
	rc = mt_inclusion_prove(
	    j->index, j->ckpt->size, st_node_read, t->reader, r.inclusion.hashes, &r.inclusion.n);
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

void
sub_drain(struct rt *t)
{
	struct sub *s;
	bool open;

	pthread_mutex_lock(&t->done_mu);
	s = t->done_head;
	t->done_head = NULL;
	pthread_mutex_unlock(&t->done_mu);
	if (s == NULL)
		return;
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
	int rc;

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
	if ((rc = log_submit(t->log, &s->job)) != 0) {
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
}
