/*
 * signer.h: the log's private key, and nothing else.  Only signer.c sees
 * the secret; the rest of closurelogd asks it for signed checkpoints.
 */
#ifndef CL_SIGNER_H
#define CL_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

struct signer;

/* Load the log key from key_path.  If the file does not exist and
 * `create` is set, generate a key named `name` (the log's origin), write it
 * to key_path (mode 0600) and its verifier key to pub_path (mode 0644).
 * A key file readable by group or others is refused (CL_EKEYPERM).  The key
 * name must equal `name`.  Returns 0 or a CL_E* code / errno with why. */
int signer_open(const char *key_path, const char *pub_path, const char *name, int create,
    struct signer **out, char *why) __attribute__((warn_unused_result));

/* Wipe and free.  NULL is fine. */
void signer_close(struct signer *s);

/* The verifier key of the log key. */
void signer_verifier(const struct signer *s, struct note_verifier *v);

/* Sign the checkpoint (origin = the key's name, size, root) into out
 * (STH_NOTE_MAX bytes suffice).  Ed25519 is deterministic, so the same
 * (size, root) always yields the same bytes.  Returns 0 or a CL_E* code. */
int signer_checkpoint(const struct signer *s, uint64_t size, const uint8_t root[MT_HASH_LEN],
    uint8_t *out, size_t cap, size_t *len) __attribute__((warn_unused_result));

#endif
