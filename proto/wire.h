/*
 * wire.h: closurelog's protobuf messages (proto/closurelog.proto) as the
 * project's own C types, and strict, canonical decoding of untrusted bytes.
 *
 * Nothing outside wire.c sees a protobuf-c type.  Decoding and encoding
 * allocate only from a caller-supplied arena (struct wire_arena), so that a
 * verifier can run with no heap allocation at all and a server worker can
 * reset one arena per request.  Everything a decoder returns points into
 * the arena (or into the input) and stays valid until the arena is reset.
 *
 * Every decoder rejects: input above its cap (before parsing), malformed
 * protobuf, unknown fields (at any depth), and any encoding that does not
 * re-serialize to exactly the same bytes (field order, explicit defaults,
 * unpacked repeated scalars, duplicate fields, non-minimal varints).
 * Errors are CL_E* codes (cl.h) with a one-line reason in `why` naming the
 * field and the problem.
 */
#ifndef CL_WIRE_H
#define CL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "tproof.h"

#define CL_PAYLOAD_TYPE "application/vnd.closurelog.attestation.v1+protobuf"

/* Caps.  A leaf (the serialized Envelope) must fit one entry of a C2SP
 * entry bundle: a uint16 length prefix, so at most 65535 bytes. */
#define CL_ENTRY_MAX        65535
#define CL_SIGS_MAX         4 /* signatures on one envelope */
#define CL_SUCCESSORS_MAX   64
#define CL_SUBSTITUTERS_MAX 32
#define CL_TRUSTED_KEYS_MAX 32
#define CL_EXTRA_MAX        16
#define CL_URL_MAX          512
#define CL_TEXT_MAX         256 /* builder_id, trusted key strings */
#define CL_SYSTEM_MAX       64
#define CL_DIGEST_NAME_MAX  64
#define CL_CHECKPOINT_MAX   8192 /* a checkpoint note inside an API message */
#define CL_TPROOF_MAX       TPROOF_MAX_SIZE
#define CL_SEARCH_MAX       1000                                  /* indices in one search result */
#define CL_API_MAX          (CL_ENTRY_MAX + CL_TPROOF_MAX + 1024) /* any API message */

/* An arena of at least WIRE_ARENA_MIN bytes can decode and re-encode the
 * largest envelope and its attestation.  A message padded with thousands
 * of empty repeated elements (an element decodes to a struct many times
 * its wire size) can still fill it: decoders then answer CL_ETOOBIG, and
 * CL_ENOMEM only from a smaller arena. */
#define WIRE_ARENA_MIN (512 * 1024)

struct wire_arena {
	uint8_t *base;
	size_t cap, used;
	bool exhausted; /* an allocation failed since the last reset */
};

/* Point the arena at buf[0..cap) (borrowed; the caller frees it). */
void wire_arena_init(struct wire_arena *a, void *buf, size_t cap);

/* Forget everything allocated from the arena. */
void wire_arena_reset(struct wire_arena *a);

/* n bytes, 16-byte aligned, or NULL when the arena is full. */
void *wire_arena_alloc(struct wire_arena *a, size_t n);

/* ---- Attestations ---- */

struct cl_digest {
	const char *algorithm; /* "sha256", "sha384", "sha512", "sha3-256", "sha3-512", "blake3" */
	const uint8_t *value;
	size_t len;
};

struct cl_extra_digest {
	const char *name; /* 1..64 of [a-z0-9._-] */
	struct cl_digest digest;
};

enum cl_sandbox {
	CL_SANDBOX_UNSPECIFIED = 0,
	CL_SANDBOX_ON = 1,
	CL_SANDBOX_OFF = 2,
};

/* All strings are NUL-terminated.  Optional strings are "" when unset
 * (never NULL); arrays may be NULL when their count is 0. */
struct cl_attestation {
	const char *root;     /* store path */
	const char *nar_hash; /* canonical SRI sha256 */
	struct cl_digest flake_lock;
	const char *const *successors;
	size_t n_successors;
	const char *system;
	enum cl_sandbox sandbox;
	const char *const *substituters;
	size_t n_substituters;
	const char *const *trusted_keys;
	size_t n_trusted_keys;
	const char *builder_id;
	const char *run_url;
	uint64_t build_time;
	const struct cl_extra_digest *extra;
	size_t n_extra;
	/* Set by wire_attestation_decode: the 32 bytes nar_hash spells
	 * (ignored by the encoder). */
	uint8_t nar_digest[32];
};

/* Check, then serialize att canonically into the arena.  *out points into
 * the arena.  Returns 0 or a CL_E* code. */
int wire_attestation_encode(struct wire_arena *a, const struct cl_attestation *att,
    const uint8_t **out, size_t *len, char *why);

/* Decode untrusted bytes (canonical, no unknown fields) and check them.
 * Returns 0 or a CL_E* code with *att zeroed. */
int wire_attestation_decode(struct wire_arena *a, const uint8_t *buf, size_t len,
    struct cl_attestation *att, char *why) __attribute__((warn_unused_result));

/* ---- Envelopes ---- */

struct cl_signature {
	const char *keyid; /* the signer's C2SP key ID: 8 lowercase hex digits */
	const uint8_t *sig;
	size_t sig_len; /* 64 */
};

struct cl_envelope {
	const uint8_t *payload;
	size_t payload_len;
	const char *payload_type;
	struct cl_signature sigs[CL_SIGS_MAX];
	size_t n_sigs; /* 1 .. CL_SIGS_MAX */
};

/* Serialize env canonically into the arena.  Returns 0 or CL_ETOOBIG (above
 * CL_ENTRY_MAX), CL_EINVAL, CL_ENOMEM. */
int wire_envelope_encode(struct wire_arena *a, const struct cl_envelope *env, const uint8_t **out,
    size_t *len, char *why);

/* Decode an untrusted envelope: len <= CL_ENTRY_MAX, canonical, no unknown
 * fields, payload_type == CL_PAYLOAD_TYPE (CL_ETYPE otherwise), 1 ..
 * CL_SIGS_MAX signatures of exactly 64 bytes each, each keyid exactly 8
 * lowercase hex digits (DSSE makes keyid optional; closurelog requires it,
 * so that a verifier tries one key per signature), payload non-empty.  The payload is NOT parsed: the
 * caller verifies signatures first (dsse.h), then decodes the verified
 * payload bytes with wire_attestation_decode.  payload points into the
 * arena.  Returns 0 or a CL_E* code with *env zeroed. */
int wire_envelope_decode(struct wire_arena *a, const uint8_t *buf, size_t len,
    struct cl_envelope *env, char *why) __attribute__((warn_unused_result));

/* ---- API messages ---- */

/* An inclusion proof (index, tree size) or a consistency proof (from, to). */
struct cl_proof {
	uint64_t a, b;
	size_t n;
	uint8_t hashes[MT_PROOF_MAX][MT_HASH_LEN];
};

struct cl_submit_response {
	uint64_t index;
	uint8_t leaf_hash[MT_HASH_LEN];
	struct cl_proof inclusion;
	const uint8_t *checkpoint; /* signed note */
	size_t checkpoint_len;
	bool duplicate;
};

struct cl_entry {
	uint64_t index;
	uint8_t leaf_hash[MT_HASH_LEN];
	const uint8_t *envelope;
	size_t envelope_len;
};

struct cl_search_result {
	const uint64_t *indices;
	size_t n;
	bool truncated;
};

struct cl_bundle {
	const uint8_t *envelope;
	size_t envelope_len;
	const uint8_t *tlog_proof;
	size_t tlog_proof_len;
};

/* Encoders write into the arena and set *out and *len.  Decoders accept only
 * canonical input within CL_API_MAX and the field caps above: proof hashes
 * exactly 32 bytes, at most MT_PROOF_MAX of them; checkpoint at most
 * CL_CHECKPOINT_MAX; envelope at most CL_ENTRY_MAX; tlog_proof at most
 * CL_TPROOF_MAX; at most CL_SEARCH_MAX indices, ascending.  Decoded byte
 * fields point into the arena.  All return 0 or a CL_E* code. */
int wire_inclusion_encode(
    struct wire_arena *a, const struct cl_proof *p, const uint8_t **out, size_t *len);
int wire_inclusion_decode(struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_proof *p,
    char *why) __attribute__((warn_unused_result));
int wire_consistency_encode(
    struct wire_arena *a, const struct cl_proof *p, const uint8_t **out, size_t *len);
int wire_consistency_decode(struct wire_arena *a, const uint8_t *buf, size_t len,
    struct cl_proof *p, char *why) __attribute__((warn_unused_result));
int wire_submit_response_encode(
    struct wire_arena *a, const struct cl_submit_response *r, const uint8_t **out, size_t *len);
int wire_submit_response_decode(struct wire_arena *a, const uint8_t *buf, size_t len,
    struct cl_submit_response *r, char *why) __attribute__((warn_unused_result));
int wire_entry_encode(
    struct wire_arena *a, const struct cl_entry *e, const uint8_t **out, size_t *len);
int wire_entry_decode(struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_entry *e,
    char *why) __attribute__((warn_unused_result));
int wire_search_result_encode(
    struct wire_arena *a, const struct cl_search_result *r, const uint8_t **out, size_t *len);
int wire_search_result_decode(struct wire_arena *a, const uint8_t *buf, size_t len,
    struct cl_search_result *r, char *why) __attribute__((warn_unused_result));
int wire_bundle_encode(
    struct wire_arena *a, const struct cl_bundle *b, const uint8_t **out, size_t *len);
int wire_bundle_decode(struct wire_arena *a, const uint8_t *buf, size_t len, struct cl_bundle *b,
    char *why) __attribute__((warn_unused_result));

/* ---- Batches (POST /v1/entries/batch) ---- */

/* Hard limit on envelopes in one batch; servers configure lower caps. */
#define CL_BATCH_MAX 100000

/* One envelope of a batch: bytes inside the decoded buffer. */
struct cl_span {
	const uint8_t *data;
	size_t len;
};

/* One envelope's answer.  status 201 or 200: index, leaf_hash and
 * inclusion are set, reason is "".  Otherwise (a refusal, >= 400) only
 * status and reason (one line, < CL_WHY_MAX bytes, never ""). */
struct cl_batch_result {
	unsigned status;
	uint64_t index;
	uint8_t leaf_hash[MT_HASH_LEN];
	struct cl_proof inclusion;
	const char *reason;
};

struct cl_batch_response {
	const struct cl_batch_result *results;
	size_t n;
	const uint8_t *checkpoint; /* signed note */
	size_t checkpoint_len;
};

/* Decode an untrusted EntryBatch without copying: out[0..*n) get the
 * envelopes, pointing into buf (borrowed; valid as long as buf).  out has
 * room for max entries (max <= CL_BATCH_MAX).  Canonical by construction:
 * only field 1, length-delimited, minimal varints, nothing after the last
 * element; elements are not decoded (each is checked as a submission).
 * Returns 0, CL_ETOOBIG with more than max envelopes, or CL_EINVAL
 * (malformed, unknown field, non-minimal varint, truncated) with *n = 0. */
int wire_batch_decode(const uint8_t *buf, size_t len, struct cl_span *out, size_t max, size_t *n,
    char *why) __attribute__((warn_unused_result));

/* Serialize envs[0..n) as an EntryBatch into the arena (room for the
 * total envelope bytes plus 32 per envelope plus 64).  Returns 0,
 * CL_EINVAL (n > CL_BATCH_MAX) or CL_ENOMEM.  The
 * envelopes are not checked: the log judges each one. */
int wire_batch_encode(struct wire_arena *a, const struct cl_span *envs, size_t n,
    const uint8_t **out, size_t *len) __attribute__((warn_unused_result));

/* Bytes of arena wire_batch_response_encode needs for n results and a
 * checkpoint of ckpt_len bytes, and wire_batch_response_decode for an
 * answer of len bytes with at most n results. */
size_t wire_batch_response_arena(size_t n, size_t ckpt_len);
size_t wire_batch_decode_arena(size_t len, size_t n);

/* Encode r (results and checkpoint borrowed) into the arena.  Returns 0,
 * CL_EINVAL (a result that breaks the rules of struct cl_batch_result,
 * inclusion.a other than index, more than MT_PROOF_MAX hashes; no or too
 * large a checkpoint; more than CL_BATCH_MAX results) or CL_ENOMEM. */
int wire_batch_response_encode(struct wire_arena *a, const struct cl_batch_response *r,
    const uint8_t **out, size_t *len) __attribute__((warn_unused_result));

/* The same BatchResponse written piece by piece, as a server makes its
 * results one at a time: the pieces of results[0..n) in order, then the
 * checkpoint's, concatenated, are exactly what wire_batch_response_encode
 * writes (protobuf-c's canonical encoding).  No allocation. */
#define WIRE_BATCH_RESULT_MAX                                                                      \
	(3 + 6 + 11 + 2 + MT_HASH_LEN + 3 + 11 + 11 + MT_PROOF_MAX * (2 + MT_HASH_LEN))

/* One result's piece into out (room for WIRE_BATCH_RESULT_MAX bytes).
 * Returns its length, or 0 for a result wire_batch_response_encode
 * refuses. */
size_t wire_batch_result_put(const struct cl_batch_result *x, uint8_t out[WIRE_BATCH_RESULT_MAX]);

/* The checkpoint's piece (the last) and its length: out needs
 * wire_batch_checkpoint_size(len) bytes.  Returns the length written, or
 * 0 if len is 0 or above CL_CHECKPOINT_MAX. */
#define WIRE_BATCH_CHECKPOINT_MAX (1 + 2 + CL_CHECKPOINT_MAX) /* its largest piece */
size_t wire_batch_checkpoint_size(size_t len);
size_t wire_batch_checkpoint_put(
    const uint8_t *ckpt, size_t len, uint8_t out[WIRE_BATCH_CHECKPOINT_MAX]);

/* Decode an untrusted BatchResponse of at most max results (canonical, no
 * unknown fields): every result follows the rules of struct
 * cl_batch_result, inclusion.a == index, the checkpoint 1 ..
 * CL_CHECKPOINT_MAX bytes.  r->results and reasons point into the arena.
 * Returns 0 or a CL_E* code with *r zeroed. */
int wire_batch_response_decode(struct wire_arena *a, const uint8_t *buf, size_t len, size_t max,
    struct cl_batch_response *r, char *why) __attribute__((warn_unused_result));

#endif
