/*
 * mirror.h: a static C2SP tlog-tiles directory built from a log's verified
 * entries (docs/mirror.md).
 *
 * A writer takes the entries the follower (follow.h) hands out, in index
 * order, and makes from them every entry bundle and every hash tile of the
 * tree, full and partial.  Nothing goes under its final name while the run
 * is unverified: files are staged (written and fsync'd) in a staging
 * directory, and cli_mirror_publish moves them into the output directory
 * only after the follower has bound the run to a signed checkpoint.  Full
 * tiles and bundles are written once: one already there must hold the same
 * bytes, or publishing stops.  Partial tiles (.p/W) are written under a
 * new name as the log grows; cli_mirror_prune removes them once their tile
 * is full and the checkpoint implying it is in place.
 *
 * Every function that fails writes one line to why (CLI_MSG_MAX bytes)
 * naming the file; the codes are 0, CL_EINVAL (a file that does not check
 * out), ENOMEM or errno.
 */
#ifndef CL_MIRROR_H
#define CL_MIRROR_H

#include <stdint.h>

#include "follow.h"
#include "merkle.h"

struct cli_mirror;

/* A writer into the directory out (which must exist), staging under stage
 * (created if needed, emptied of what a crashed run left).  Both strings
 * are copied.  *m is NULL on failure; free it with cli_mirror_free. */
int cli_mirror_new(struct cli_mirror **m, const char *out, const char *stage, char *why)
    __attribute__((warn_unused_result));

/* Free m and remove what it staged and did not publish; NULL is a no-op. */
void cli_mirror_free(struct cli_mirror *m);

/* Start from the tree r (trusted: rebuilt by the follower and kept in the
 * mirror's state): read back from the output directory the partial entry
 * bundle and the partial hash tiles at r->size, and check each against r's
 * right edge.  Returns 0; CL_EINVAL or ENOENT when one is missing, altered
 * or does not fit r (the caller may start again from the empty tree). */
int cli_mirror_resume(struct cli_mirror *m, const struct mt_range *r, char *why)
    __attribute__((warn_unused_result));

/* cli_follow_fn: add one entry (ctx is the struct cli_mirror); stages each
 * bundle and tile that the entry completes.  Entries must come in order,
 * starting at the size given to cli_mirror_resume (0 without). */
int cli_mirror_entry(void *ctx, const struct cli_follow_entry *e, char *why);

/* After a run that returned 0: stage the partial bundle and tiles at the
 * size reached, then move everything staged into the output directory and
 * fsync the directories written.  Returns 0, or CL_EINVAL when a full tile
 * or bundle already in the output differs from the log's (the mirror was
 * altered), or errno. */
int cli_mirror_publish(struct cli_mirror *m, char *why) __attribute__((warn_unused_result));

/* After the checkpoint for the size reached is in place: remove the .p
 * directory (every partial width) of each tile and bundle that became full
 * since cli_mirror_resume.  A tile still partial keeps all its widths: the
 * spec has a log serve the partials of every size it published, until the
 * full tile exists.  Best effort: returns the number of names that could
 * not be removed. */
unsigned cli_mirror_prune(struct cli_mirror *m);

/* Number of entries added since cli_mirror_resume. */
uint64_t cli_mirror_added(const struct cli_mirror *m);

#endif
