/*
 * follow.h: follow a tlog-tiles log from what it serves, trusting only its
 * key: the signed checkpoint, the hash tiles and the entry bundles.
 *
 * A follower rebuilds the log's tree from the entries, checks every stored
 * node the rebuild completes at a tile level against the log's hash tile,
 * and the final root against a signed checkpoint.  The caller keeps the
 * right edge of the rebuilt tree (struct mt_range) with the checkpoint it
 * matched, and a later run resumes from it: only new bundles and the tiles
 * they touch are fetched.  Used by `closurelog audit --full`; meant for
 * every command that must read the log's entries on the log key's word
 * alone (a policy bundle builder, a mirror).
 *
 * Return codes, for every function below: 0; CL_EINVAL when the log served
 * data that does not check out (a tile, a bundle, an entry, a root); EIO
 * when the log could not be reached or answered an error; ENOMEM; or what
 * the caller's entry callback returned.  why gets one line (CLI_MSG_MAX
 * bytes, cli.h) naming the tile, bundle or entry at fault.
 */
#ifndef CL_FOLLOW_H
#define CL_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "wire.h"

/* Where to follow.  Every pointer is borrowed for the follower's life. */
struct cli_follow_opts {
	const char *url;                  /* the log's URL prefix, no trailing '/' */
	const struct note_verifier *key;  /* the log key */
	const char *origin;               /* the checkpoint origin expected */
	const struct cli_http_opts *http; /* timeouts and retries */
	bool progress;                    /* progress lines on stderr for long runs */
};

struct cli_follow;

/* One entry of the log, as cli_follow_run hands it to its callback.  Every
 * pointer is valid only during the call.  The entry's leaf hash is the one
 * at `index` in the log's level-0 tile, and env and att are its decoded
 * Envelope and Attestation.  The tiles themselves are bound to the
 * checkpoint only when the run ends: a caller must discard what it drew
 * from the entries of a run that does not return 0. */
struct cli_follow_entry {
	uint64_t index;
	const uint8_t *data; /* the serialized Envelope, len bytes */
	size_t len;
	const uint8_t *leaf_hash; /* MT_HASH_LEN bytes: MTH of the entry */
	const struct cl_envelope *env;
	const struct cl_attestation *att;
};

/* Called once per entry, in index order.  Return 0 to go on; any other
 * value stops the run, which returns it (with why, CLI_MSG_MAX bytes, as
 * the callback filled it). */
typedef int (*cli_follow_fn)(void *ctx, const struct cli_follow_entry *e, char *why);

/* A follower for the log o describes (copied; its pointers borrowed).
 * Returns NULL when out of memory.  Free it with cli_follow_free. */
struct cli_follow *cli_follow_new(const struct cli_follow_opts *o)
    __attribute__((warn_unused_result));

/* Free f and everything it holds; NULL is a no-op. */
void cli_follow_free(struct cli_follow *f);

/* Fetch the log's checkpoint and verify it with the log key and origin
 * (cli_checkpoint_fetch).  *note is malloc'd, the caller frees it; *c
 * points into it.  Returns 0, or the exit code (cli.h) with why. */
int cli_follow_checkpoint(struct cli_follow *f, uint8_t **note, size_t *len, struct sth *c,
    char *why) __attribute__((warn_unused_result));

/* What the log's hash tiles at size n say about a size m <= n: the roots
 * of both trees and PROOF(m, n). */
struct cli_tileproof {
	uint8_t small_root[MT_HASH_LEN], large_root[MT_HASH_LEN];
	uint8_t path[MT_PROOF_MAX][MT_HASH_LEN];
	size_t n_path;
};

/* Fetch the tiles that PROOF(m, n), MTH(D[m]) and MTH(D[n]) need at size n
 * (0 < m <= n; only tiles a checkpoint of size n implies) and compute them
 * into *tp.  Nothing is checked against a checkpoint: compare
 * tp->large_root with the signed root of size n.  Returns 0, EIO, CL_EINVAL
 * or ENOMEM with why. */
int cli_follow_tiles_prove(struct cli_follow *f, uint64_t m, uint64_t n, struct cli_tileproof *tp,
    char *why) __attribute__((warn_unused_result));

/* Extend *range, a tree the caller verified before (or the empty tree), to
 * the tree of the verified checkpoint c (c->size >= range->size), reading
 * each new entry bundle once and the hash tiles it completes, calling fn
 * (may be NULL) with ctx for each new entry.  With progress set, a line on
 * stderr every few seconds of a long run.  On success *range is c's tree;
 * on failure it is unchanged.  Returns 0, CL_EINVAL, EIO, ENOMEM or what fn
 * returned, with why. */
int cli_follow_run(struct cli_follow *f, const struct sth *c, struct mt_range *range,
    cli_follow_fn fn, void *ctx, char *why) __attribute__((warn_unused_result));

#endif
