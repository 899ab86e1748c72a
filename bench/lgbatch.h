/*
 * lgbatch.h: batch submissions (POST /v1/entries/batch) for the load
 * generator: building the requests before a run and checking every answer
 * after it, so that a benchmark counts only envelopes the log really
 * appended and proved.
 */
#ifndef CL_LGBATCH_H
#define CL_LGBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "loadgen.h"
#include "note.h"
#include "wire.h"

/* Build the request POSTing envs[0..n) as one EntryBatch to
 * /v1/entries/batch into r (r->bytes malloc'd; free it).  envs and their
 * bytes are borrowed for the call.  Returns 0, or -1 (out of memory, n
 * above CL_BATCH_MAX). */
int lg_batch_request(struct lg_req *r, const char *host_port, const struct cl_span *envs, size_t n);

/* What the answers to batch requests said, envelope by envelope. */
struct lg_batch_tally {
	size_t appended;    /* result 201, leaf hash and inclusion proof verified */
	size_t duplicates;  /* result 200: already logged, so not an append */
	size_t refused;     /* a result >= 400, or the whole request failed */
	size_t bad;         /* an answer that does not verify: wrong count, leaf, proof */
	size_t proofs;      /* inclusion proofs verified */
	size_t checkpoints; /* signed checkpoints verified (one per answer) */
	uint64_t max_size;  /* largest checkpoint size seen */
};

/* Check the answer r to one batch request of envs[0..n) against the log
 * key: HTTP 200, a canonical BatchResponse with exactly n results, a
 * checkpoint signed by log_key, and for each 201 or 200 result the leaf
 * hash of its envelope; the inclusion proof of every `proof_every`-th
 * result (1 = all; 0 is taken as 1) is verified against the checkpoint.
 * Adds to *t; a failed request counts all n envelopes as refused.
 * a: scratch arena of at least wire_batch_decode_arena(r->len, n) bytes,
 * reset by the call.  Nothing is kept past the call. */
void lg_batch_check(struct wire_arena *a, const struct note_verifier *log_key,
    const struct cl_span *envs, size_t n, const struct lg_res *r, size_t proof_every,
    struct lg_batch_tally *t);

/* Envelopes that did not end as verified appends: refused, bad and
 * duplicates.  A benchmark of new envelopes wants 0. */
size_t lg_batch_failures(const struct lg_batch_tally *t);

#endif
