/*
 * dsse.h: DSSE v1 signing and verification (attestations.md §1) with
 * Ed25519 keys in C2SP note-key form (note.h).
 *
 * The signature covers PAE(payload_type, payload) =
 * "DSSEv1 <len(type)> <type> <len(payload)> <payload>", never the payload
 * alone.  The PAE is built in the caller's arena (Ed25519 needs the whole
 * message), so verification allocates nothing from the heap.
 */
#ifndef CL_DSSE_H
#define CL_DSSE_H

#include <stddef.h>
#include <stdint.h>

#include "note.h"
#include "wire.h"

/* Length of PAE(type, payload) for these lengths. */
size_t dsse_pae_len(size_t type_len, size_t payload_len);

/* Write PAE(type, payload) into out (capacity cap).  Returns its length, or
 * 0 if cap is too small. */
size_t dsse_pae(const char *type, size_t type_len, const uint8_t *payload, size_t payload_len,
    uint8_t *out, size_t cap);

/* Sign `payload` (an encoded ClosureAttestation) with s and encode the
 * envelope (payload type CL_PAYLOAD_TYPE, one signature, keyid = s's key ID
 * in hex) into the arena.  Returns 0 or a CL_E* code. */
int dsse_sign(struct wire_arena *a, const struct note_signer *s, const uint8_t *payload, size_t len,
    const uint8_t **env, size_t *env_len, char *why);

/* Verify a decoded envelope against the accepted keys (type 0x01).  Each
 * signature is tried only against keys whose ID matches its keyid.  A
 * signature that matches a key but does not verify fails the envelope
 * (CL_EBADSIG); signatures that match no key are ignored; at least one must
 * verify (else CL_ENOKEY, naming the key ID that signed).  On success
 * *signer (if not NULL) is the index in keys[] of the first key that
 * verified.  Returns 0 or a CL_E* code. */
int dsse_verify(struct wire_arena *a, const struct cl_envelope *env,
    const struct note_verifier *keys, size_t n_keys, size_t *signer, char *why)
    __attribute__((warn_unused_result));

/* Verify a decoded envelope for admission to a log: its signer set must be
 * canonical, so that one payload signed by one set of keys has exactly one
 * encoding.  The signatures' keyids must be strictly ascending (byte order
 * of the 8 lowercase hex digits, which is numeric order; an equal keyid is
 * a key signing twice): CL_ENONCANON otherwise, checked before any
 * signature.  Then every signature's keyid must name a key in keys
 * (CL_ENOKEY) and verify under one of the keys carrying that ID
 * (CL_EBADSIG).  Each refusal names the signature by its position.  On
 * success *signer (if not NULL) is the index in keys[] of the key that made
 * the first signature.  Costs one Ed25519 verification per key tried.
 * Returns 0, those codes, CL_EINVAL (no or too many signatures) or
 * CL_ENOMEM (arena exhausted). */
int dsse_verify_all(struct wire_arena *a, const struct cl_envelope *env,
    const struct note_verifier *keys, size_t n_keys, size_t *signer, char *why)
    __attribute__((warn_unused_result));

#endif
