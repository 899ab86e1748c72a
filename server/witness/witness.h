/*
 * witness.h: the C2SP tlog-witness core of closurelog-witness
 * (tiles-and-witness.md §3), free of any HTTP code.
 *
 * A witness is configured with the logs it witnesses (their Ed25519 note
 * verifier keys; a key's name is the log's origin, and one origin may have
 * several keys) and its own Ed25519 key, with which it makes cosignature/v1
 * lines.  For each origin it keeps, in LMDB, the latest (size, root) it has
 * cosigned and that cosigned checkpoint.  wit_add_checkpoint() judges one
 * add-checkpoint body and produces the whole answer (status, content type,
 * body); an HTTP binding only moves bytes.
 *
 * The compare-and-store of the latest size runs in one LMDB write
 * transaction, so two requests (from any thread or process sharing the data
 * directory) cannot both move one origin on from the same size, and the
 * transaction is committed, synced, before the 200 answer is made.
 *
 * Errors are 0, CL_E* codes (cl.h), LMDB codes or errno, with a one-line
 * reason in `why` (CL_WHY_MAX bytes).
 */
#ifndef CL_WITNESS_H
#define CL_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

#define WIT_PROOF_MAX 63    /* consistency-proof lines in a body (the spec's 0..63) */
#define WIT_BODY_MAX  65536 /* longest add-checkpoint body we read */
#define WIT_LOGS_MAX  256   /* most log keys one witness is configured with */
/* Longest checkpoint text: what note_cosign_line() can cosign. */
#define WIT_TEXT_MAX  NOTE_COSIG_TEXT_MAX
#define WIT_REPLY_MAX 512 /* an answer body: one cosignature line or one reason line */

#define WIT_SIZE_TYPE "text/x.tlog.size"
#define WIT_TEXT_TYPE "text/plain; charset=utf-8"

/* ---- The add-checkpoint body ---- */

/* "old <size>\n", 0..63 lines of base64 proof hashes, "\n", the note. */
struct wit_body {
	uint64_t old;
	size_t n_proof;
	uint8_t proof[WIT_PROOF_MAX][MT_HASH_LEN];
	const uint8_t *note; /* the checkpoint note, to the end of the body; into the input */
	size_t note_len;
};

/* Parse buf[0..len) strictly: "old " and a canonical decimal (no sign, no
 * leading zeros), each proof line exactly canonical base64 of 32 bytes, at
 * most WIT_PROOF_MAX of them, an empty line, and a non-empty note (not
 * checked here: that is note_open's job).  len above WIT_BODY_MAX is
 * CL_ETOOBIG.  Returns 0, CL_EINVAL or CL_ETOOBIG, with *out zeroed on
 * error.  out->note points into buf. */
int wit_body_parse(const uint8_t *buf, size_t len, struct wit_body *out, char *why);

/* Write b (its note verbatim) into out (capacity cap).  Returns 0 and sets
 * *outlen, or CL_EINVAL (n_proof > WIT_PROOF_MAX, empty note) / CL_ETOOBIG
 * (cap too small, or the result above WIT_BODY_MAX). */
int wit_body_format(const struct wit_body *b, uint8_t *out, size_t cap, size_t *outlen);

/* ---- The witness ---- */

struct wit;

struct wit_config {
	const char *dir;                  /* data directory (created 0700); LMDB lives here */
	size_t map_size;                  /* LMDB map size in bytes; 0 for the default */
	const struct note_verifier *logs; /* n_logs log keys (type 0x01), copied */
	size_t n_logs;                    /* 1 .. WIT_LOGS_MAX */
	const struct note_signer *key;    /* the witness key, copied into guarded memory */
};

/* Open the witness state in c->dir.  Returns 0 and *out, or CL_EINVAL (no
 * logs, too many, a key not of type 0x01, the same key twice), LMDB's code
 * or errno, with why. */
int wit_open(const struct wit_config *c, struct wit **out, char *why);

/* Close, wiping the key copy.  NULL is fine. */
void wit_close(struct wit *w);

/* The witness's cosignature verifier key (type 0x04). */
void wit_verifier(const struct wit *w, struct note_verifier *v);

/* An answer, complete. */
struct wit_reply {
	int status;       /* 200, 400, 403, 404, 409, 422, or 500 (our own failure) */
	const char *type; /* WIT_SIZE_TYPE for 409, WIT_TEXT_TYPE otherwise; static */
	char body[WIT_REPLY_MAX];
	size_t len;
};

/* Judge one add-checkpoint body buf[0..len) at POSIX time `now` (1 ..
 * 2^63-1; the cosignature's timestamp), in the spec's order:
 *   400  malformed body, or a note that does not parse, or a malformed
 *        checkpoint text, or old > size;
 *   404  the origin (first text line) is not a configured log;
 *   403  no line by a key of that origin verifies, or one fails to;
 *   409  old differs from the stored size: body "<stored size>\n";
 *   422  size 0 without the empty-tree root; a proof with old 0; a
 *        consistency proof old -> size that fails; or old == size with a
 *        root other than the stored one;
 *   200  the new (size, root) and cosigned checkpoint are stored and
 *        synced, and the body is our one cosignature/v1 line.
 * A 4xx body is one line naming what is wrong.  Always fills *r. */
void wit_add_checkpoint(
    struct wit *w, const uint8_t *buf, size_t len, uint64_t now, struct wit_reply *r);

/* The latest checkpoint this witness cosigned for the origin whose
 * lowercase hex SHA-256 is hex[0..64): the checkpoint text, the log's
 * verified signature lines, and our cosignature line.  *out is malloc'd
 * (the caller frees it).  Returns 0, ENOENT (unknown origin or nothing
 * cosigned yet), CL_EINVAL (hex is not 64 lowercase hex digits), ENOMEM or
 * an LMDB code. */
int wit_checkpoint_alloc(struct wit *w, const char *hex, size_t hexlen, uint8_t **out, size_t *len);

/* The latest cosigned size of `origin`, for tests and tools: 0 and *size,
 * or ENOENT, or an LMDB code. */
int wit_size_get(struct wit *w, const char *origin, uint64_t *size);

/* Render the witness's metrics (Prometheus text format 0.0.4: answers by
 * status, latest cosigned size per configured origin) into a malloc'd
 * NUL-terminated buffer.  NULL (and *len 0) if out of memory. */
char *wit_metrics_render_alloc(struct wit *w, size_t *len);

#endif
