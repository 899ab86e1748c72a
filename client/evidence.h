/*
 * evidence.h: fork evidence, the file `closurelog audit` writes when a log
 * signed two checkpoints that cannot both describe one append-only log,
 * and that anyone holding the log key can re-check offline
 * (docs/audit.md, "The evidence file").
 *
 * Pure: no I/O, no global state; encode and parse allocate only inside
 * jansson and free it before they return.  Built into libclosurelog-verify,
 * whose closurelog_evidence_check() (verify.h) is the public face of
 * evidence_parse + evidence_judge.
 */
#ifndef CL_EVIDENCE_H
#define CL_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"
#include "wire.h"

#define EVIDENCE_MAX        (64 * 1024) /* largest evidence file */
#define EVIDENCE_REASON_MAX 1024
#define EVIDENCE_URL_MAX    2048
#define EVIDENCE_MSG_MAX    1024 /* room for evidence_judge's message */

/* What an evidence file says.  "old" is the checkpoint of the smaller tree,
 * "new" the larger.  The struct owns everything (no pointers): about
 * 25 KiB, so allocate it rather than put it on a small stack. */
struct evidence {
	bool proven;
	char reason[EVIDENCE_REASON_MAX]; /* one printable line */
	char vkey[NOTE_VKEY_MAX];         /* the log's verifier key */
	char url[EVIDENCE_URL_MAX];       /* where the auditor saw it, one printable line */
	uint64_t time;                    /* when, in Unix seconds */
	uint64_t old_size, new_size;
	bool have_implied;
	uint8_t implied[MT_HASH_LEN]; /* root at old_size of the tree in the new size's tiles */
	size_t n_proof;
	uint8_t proof[MT_PROOF_MAX][MT_HASH_LEN]; /* PROOF(old, new) computed from the tiles */
	bool have_log_proof;
	size_t n_log_proof;
	uint8_t log_proof[MT_PROOF_MAX][MT_HASH_LEN]; /* what the log answered, if anything */
	uint8_t old_note[CL_CHECKPOINT_MAX], new_note[CL_CHECKPOINT_MAX]; /* signed notes */
	size_t old_len, new_len;
};

/* Serialize ev as JSON into *out (malloc'd, the caller frees it; *len bytes,
 * ending in a newline, NUL after them).  Strings must be UTF-8 without
 * control characters.  Returns 0, CL_EINVAL (a string that is not, a count
 * above MT_PROOF_MAX) or ENOMEM; *out is NULL on failure. */
int evidence_encode(const struct evidence *ev, char **out, size_t *len)
    __attribute__((warn_unused_result));

/* Parse an evidence file buf[0..len) into *ev (caller's storage), strictly:
 * exactly the documented keys, each once, of the documented types, within
 * the caps, hashes in canonical base64.  Nothing is verified.  Returns 0,
 * or CL_EINVAL with why (CL_WHY_MAX bytes) naming the first bad field, and
 * *ev zeroed. */
int evidence_parse(const uint8_t *buf, size_t len, struct evidence *ev, char *why)
    __attribute__((warn_unused_result));

/* Decide whether ev proves that the log with key `key` forked: both
 * checkpoints verify with the key, have one origin and the sizes ev
 * states, ev is marked proven, and either the roots differ at one size or
 * ev's proof leads from an implied root other than the signed one at the
 * smaller size to the signed root at the larger.  Returns 0 with a one-line
 * description in msg (cap bytes, EVIDENCE_MSG_MAX is enough) if it does,
 * else CL_EMISMATCH with the reason in msg. */
int evidence_judge(const struct evidence *ev, const struct note_verifier *key, char *msg,
    size_t cap) __attribute__((warn_unused_result));

#endif
