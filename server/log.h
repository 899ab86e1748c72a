/*
 * log.h: closurelogd's write path.
 *
 * A submission (struct log_job) goes through a pool of verifier threads
 * (decode the envelope, check its signature against the submitter
 * allowlist, decode and check the attestation), then to one committer
 * thread that appends whatever has arrived, up to a batch size, in one
 * LMDB write transaction and commits it; once the commit is durable (the
 * next commit's flush, or a flush of its own when no batch follows), and
 * only then, it signs one checkpoint for that tree and answers every job
 * in the batch.
 *
 * Threads: jobs are answered through job->done on a log thread; the caller
 * hands the answer back to its own event loop.
 */
#ifndef CL_LOG_H
#define CL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allow.h"
#include "cl.h"
#include "gather.h"
#include "merkle.h"
#include "metrics.h"
#include "nix.h"
#include "signer.h"
#include "store.h"

#define LOG_EBUSY    (-1301) /* too many submissions in flight: try again later */
#define LOG_ESTOPPED (-1302) /* the log is shutting down */

/* Bytes of struct log_job private to the log (checked in log.c). */
#define LOG_JOB_PRIVATE (NIX_STORE_PATH_MAX + 112)

/* A signed checkpoint, shared by reference count. */
struct log_ckpt {
	atomic_uint refs;
	uint64_t size;
	uint8_t root[MT_HASH_LEN];
	size_t len;
	uint8_t note[]; /* the signed note, len bytes */
};

/* Take and drop references.  log_ckpt_unref(NULL) is fine. */
struct log_ckpt *log_ckpt_ref(struct log_ckpt *c);
void log_ckpt_unref(struct log_ckpt *c);

struct log_job {
	/* Set by the submitter; borrowed by the log until done() is called. */
	const uint8_t *body;
	size_t len;
	void (*done)(struct log_job *job); /* called exactly once, on a log thread */
	void *arg;

	/* Results, valid in and after done().  The reason text comes last: a
	 * batch's answer reads the others of every job, in one cache line or
	 * two. */
	int status; /* 201 appended, 200 already logged, else an HTTP error status */
	enum metrics_reject reason; /* when status >= 400 */
	uint64_t index;
	uint8_t leaf[MT_HASH_LEN];
	struct log_ckpt *ckpt; /* when status < 400: a checkpoint that covers index;
				* the job owns this reference (log_ckpt_unref it) */
	char why[CL_WHY_MAX];  /* when status >= 400: one line */

	/* Room for the log's own state of the job (the queue link, the search
	 * keys it extracted); opaque outside log.c. */
	_Alignas(max_align_t) unsigned char log_private[LOG_JOB_PRIVATE];
};

struct ix;

struct log_cfg {
	unsigned verify_threads;  /* >= 1 */
	unsigned queue_max;       /* submissions in flight before LOG_EBUSY */
	unsigned batch_max;       /* entries per write transaction */
	unsigned batch_window_us; /* wait this long for a fuller batch (0: never wait) */
	size_t map_max;           /* grow a full map online up to this many bytes */
	const char *tiles_dir;    /* write full tiles here (tiles.h); NULL or "": no */
	/* Witnesses: NULL publishes every checkpoint as soon as it is signed.
	 * Otherwise the log offers each signed checkpoint to this gatherer,
	 * publishes only what it returns cosigned, and answers a submission
	 * only with a cosigned checkpoint that covers it (or 503 when the
	 * quorum fails).  Borrowed: the log starts it in log_open and stops it
	 * in log_stop; it must outlive the log. */
	struct ga *ga;
	/* The search index (index.h), opened with ix_open over the same store
	 * (before privileges are dropped); log_open starts it.  Borrowed: the
	 * caller closes it after log_free.  NULL: the log opens its own. */
	struct ix *ix;
};

struct log;

/* Start the log over an initialised store: rebuild the tree state from the
 * store alone, bring the search index up to the store (index.h: ix_start,
 * which may rebuild it, with progress on stderr), check that the recorded checkpoint's root is the stored
 * tree's root at the checkpoint's size, flush the stored tree (a crashed
 * process's last meta page may be in the page cache only) and sign it for the stored
 * size, and start the threads.  Refuses (CL_EINVAL) while the store does
 * not sync (st_sync_on): nothing is signed over data that may not last. The checkpoint on record may carry
 * cosignatures after the log's signature line.  st, sg, al and m stay owned by the caller and must outlive the
 * log.  Returns 0 or an error code with why. */
int log_open(struct st *st, struct signer *sg, struct allow *al, struct metrics *m,
    const struct log_cfg *cfg, struct log **out, char *why) __attribute__((warn_unused_result));

/* Queue a submission.  Returns 0 (done() will be called), LOG_EBUSY or
 * LOG_ESTOPPED (done() will not be called). */
int log_submit(struct log *l, struct log_job *job) __attribute__((warn_unused_result));

/* Queue jobs[0..n) in order, under one lock and with one wake-up of the
 * verifiers: as many as the queue has room for (queue_max), from the
 * first.  Returns how many were queued (done() will be called for each of
 * them); *rc is 0 if all were, LOG_EBUSY if the queue had room for only
 * the returned number (the rest, each counted as an overload refusal,
 * will not be called back), or LOG_ESTOPPED with none queued.  The
 * array is borrowed for the call only. */
size_t log_submit_many(struct log *l, struct log_job *const *jobs, size_t n, int *rc)
    __attribute__((warn_unused_result));

/* As log_submit_many, for jobs the caller answers together (the envelopes
 * of one batch request): the log may hold the verified ones until the
 * last of them is verified, so that they land in few large commits rather
 * than in one per verifier turn.  Every queued job is still checked,
 * committed and answered exactly as a single submission is; the held ones
 * go out sooner with any commit made for other jobs, when the commit queue
 * fills (cfg.batch_max), or when the log stops. */
size_t log_submit_group(struct log *l, struct log_job *const *jobs, size_t n, int *rc)
    __attribute__((warn_unused_result));

/* A reference to the published checkpoint.  Without witnesses never NULL
 * once open.  With witnesses, it is the latest cosigned checkpoint: at
 * start the one on record if it carries the quorum, else NULL until the
 * witnesses cosign one (readers answer 503 meanwhile). */
struct log_ckpt *log_checkpoint(struct log *l);

/* The log's search indexes (index.h), for readers; valid until log_free. */
struct ix *log_index(struct log *l);

/* Stop accepting submissions, answer everything queued, store the latest
 * checkpoint, and join the threads.  Idempotent. */
void log_stop(struct log *l);

/* Free a stopped log.  NULL is fine. */
void log_free(struct log *l);

/* Bulk load, for building large trees in benchmarks: append the given
 * leaves (serialized envelopes) synchronously through the same checks
 * (except the signature, which is not verified), the same store code and
 * the same Merkle code as the committer, in batches of cfg.batch_max,
 * each committed on the calling thread while a helper thread it starts
 * (and joins before returning) checks the next; the store gets exactly
 * what the committer would write.  Only while no submissions are in
 * flight.  With the store's sync turned
 * off (the benchmark's st_sync_set) nothing is signed: the published
 * checkpoint stays the one from before.  Returns 0 or the first error;
 * *appended gets the number of new entries. */
int log_bulk_append(struct log *l, const uint8_t *const *bodies, const size_t *lens, size_t n,
    size_t *appended, char *why) __attribute__((warn_unused_result));

#endif
