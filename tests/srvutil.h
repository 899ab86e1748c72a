/*
 * srvutil.h: what the closurelogd integration tests share: a CI key, signed
 * envelopes made in-process, submitting them, and checking every answer
 * against the log key.
 */
#ifndef CL_SRVUTIL_H
#define CL_SRVUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "wire.h"

/* The CI submitter key (fixed seed) and its verifier key string. */
extern struct note_signer su_ci;
extern struct note_verifier su_ci_pub;
extern char su_ci_vkey[NOTE_VKEY_MAX];

/* Set up the keys; call once from main. */
void su_init(void);

/* A distinct signed envelope for n (malloc'd).  signer NULL: the CI key. */
uint8_t *su_envelope(uint64_t n, const struct note_signer *signer, size_t *len);

/* su_envelope by the CI key with a run URL of 400 random hex digits, so
 * that the store's compression cannot make it small (malloc'd). */
uint8_t *su_envelope_noisy(uint64_t n, size_t *len);

/* Write dir/submitters holding the CI key and start a server on data dir
 * dir/data with extra arguments.  dir is made by h_tmpdir. */
void su_start(struct h_server *s, const char *dir, const char *const *extra);

/* An answer to a submission, checked: the checkpoint verifies with the log
 * key, the proof leads from the envelope's leaf to its root. */
struct su_ack {
	uint64_t index;
	uint8_t leaf[MT_HASH_LEN];
	bool duplicate;
	struct sth ckpt; /* parsed (ext pointers are not kept) */
	uint8_t note[CL_CHECKPOINT_MAX];
	size_t note_len;
};

/* POST an envelope; returns the HTTP status (0 on network error).  On 200
 * or 201 the answer is checked (failing the test if it does not verify)
 * and written to *ack.  why (if not NULL, 256 bytes) gets error bodies. */
long su_submit(const struct h_server *s, const struct note_verifier *log_key, const uint8_t *env,
    size_t len, struct su_ack *ack, char *why);

/* Check an answer (status 200 or 201, body) to the submission of env, as
 * su_submit does; fails the test if it does not verify. */
void su_check_ack(const struct note_verifier *log_key, const uint8_t *env, size_t len, long status,
    const uint8_t *body, size_t blen, struct su_ack *ack);

/* Submit n envelopes from `threads` threads at once, each on its own
 * keep-alive connection; res[i] gets envelope i's status and answer body
 * (malloc'd; free with su_results_free).  No checks: that is for the
 * caller, on the main thread. */
struct su_result {
	long status;
	uint8_t *body;
	size_t len;
	char retry_after[16];
};
void su_blast(const struct h_server *s, uint8_t *const *envs, const size_t *lens, size_t n,
    unsigned threads, struct su_result *res);
void su_results_free(struct su_result *res, size_t n);

/* The log's key from a running server. */
void su_log_key(const struct h_server *s, struct note_verifier *v);

/* GET the latest checkpoint and verify it. */
void su_checkpoint(const struct h_server *s, const struct note_verifier *log_key, struct sth *c);

/* Fetch a consistency proof from m to n and check it against the roots. */
void su_check_consistent(const struct h_server *s, uint64_t m, const uint8_t old_root[32],
    uint64_t n, const uint8_t new_root[32]);

#endif
