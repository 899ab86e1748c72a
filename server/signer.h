/*
 * signer.h: the log's private key, in a process of its own.
 *
 * signer_open() forks a small signer process that loads (or creates) the
 * key; the calling process, which goes on to parse network input, never
 * reads the key file and never has the key in its memory.  It asks the
 * signer for checkpoints over a socket pair, one fixed-size request at a
 * time, and the signer signs only a tree that extends the last one it
 * signed: the same size with the same root, or a larger size with a
 * consistency proof from the last signed tree.  The first checkpoint asked
 * for is the baseline (closurelogd asks for the stored tree's in log_open,
 * before any thread or socket exists).  docs/design.md, "The signer".
 */
#ifndef CL_SIGNER_H
#define CL_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

struct signer;

/* Start the signer process and wait until it holds the key.  It loads the
 * key from key_path; if the file does not exist and `create` is set, it
 * generates a key named `name` (the log's origin), writes it to key_path
 * (mode 0600) and its verifier key to pub_path (mode 0644).  A key file
 * readable by group or others is refused (CL_EKEYPERM); the key name must
 * equal `name` (CL_EORIGIN).  With a non-empty `user` the signer then
 * switches to that user (as root only).  Call it before starting threads:
 * it forks.  *out is owned by the caller (signer_close).  Returns 0 or a
 * CL_E* code / errno, with why (CL_WHY_MAX bytes). */
int signer_open(const char *key_path, const char *pub_path, const char *name, int create,
    const char *user, struct signer **out, char *why) __attribute__((warn_unused_result));

/* Watch the signer process from a thread of its own: if it ends before
 * signer_close (killed, or crashed), died(arg, why) is called once, on that
 * thread, with why naming the process and how it ended.  The log cannot
 * sign anything after that; the caller is expected to stop.  Returns 0 or
 * the pthread_create error with why.  At most one watcher per signer. */
int signer_watch(struct signer *s, void (*died)(void *arg, const char *why), void *arg, char *why)
    __attribute__((warn_unused_result));

/* Stop the signer process (it exits when its socket closes), wait for it
 * and free s.  NULL is fine. */
void signer_close(struct signer *s);

/* The verifier key of the log key. */
void signer_verifier(const struct signer *s, struct note_verifier *v);

/* Have the checkpoint (origin = the key's name, size, root) signed into
 * out (STH_NOTE_MAX bytes suffice), its length into *len.  When size is
 * larger than the last signed size, the consistency proof from that size is
 * read through `read`/ctx (stored nodes of the tree of `size` leaves);
 * otherwise read may be NULL.  Ed25519 is deterministic, so the same
 * (size, root) always yields the same bytes.  Safe to call from any thread.
 * Returns 0; MT_EINVAL if size is smaller than the last signed size;
 * MT_EBADPROOF if root is not a tree extending the last signed one; read's
 * error; CL_E* for a bad checkpoint; or an errno if the signer is gone. */
int signer_checkpoint(struct signer *s, uint64_t size, const uint8_t root[MT_HASH_LEN],
    mt_read_fn read, void *ctx, uint8_t *out, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

#endif
