/*
 * nar.h: the NAR serialisation of a file tree on disk (attestations.md §5),
 * and its SHA-256, the narHash that Nix records for a store path.
 *
 * The walker reads the tree with lstat semantics (a symlink is serialised
 * as a symlink, also at the top), keeps only what NAR keeps (file contents,
 * the owner-execute bit, symlink targets, directory entries sorted by the
 * bytes of their names) and refuses what NAR cannot represent: sockets,
 * FIFOs and devices.  A file that changes size while it is read, or a node
 * replaced between lstat and open, is an error, never a silent mix.
 *
 * Memory contract (what a library caller can plan for): one walk allocates
 * a NAR_BUF_SIZE output buffer and a NAR_TARGET_MAX + 1 byte symlink
 * buffer, once, and for each directory on the current path (at most
 * NAR_DEPTH_MAX deep) the names of its entries (at most NAR_ENTRIES_MAX,
 * each at most NAR_NAME_MAX bytes) plus one pointer per entry; a
 * directory's names are freed before its parent's next entry is read.
 * So memory is bounded by the widest directories on one root-to-leaf path,
 * never by file sizes or the tree's total size.  It holds one file
 * descriptor per directory level plus one.  Everything is freed on return,
 * also on failure.  No global state: concurrent walks are safe.
 *
 * Errors: CL_EINVAL (a node NAR cannot represent, or a name it refuses),
 * CL_ETOOBIG (a cap above), CL_EMISMATCH (the tree changed under the
 * walk), CL_ENOMEM, or a positive errno from the file system; each with a
 * one-line reason in `why` (CL_WHY_MAX bytes, may be NULL) naming the path.
 */
#ifndef CL_NAR_H
#define CL_NAR_H

#include <stddef.h>
#include <stdint.h>

#include "cl.h"

#define NAR_HASH_LEN    32
#define NAR_BUF_SIZE    (256 * 1024) /* output buffer: the size of each sink call */
#define NAR_DEPTH_MAX   256          /* directory levels below the top */
#define NAR_ENTRIES_MAX (1u << 20)   /* entries in one directory */
#define NAR_NAME_MAX    255          /* bytes of one entry name (Linux NAME_MAX) */
#define NAR_TARGET_MAX  4095         /* bytes of one symlink target (PATH_MAX - 1) */

/* Receives the NAR bytes in order, in pieces of at most NAR_BUF_SIZE
 * (borrowed for the call).  Returns 0 to go on; anything else stops the
 * walk and is returned by nar_dump. */
typedef int (*nar_sink_fn)(void *ctx, const uint8_t *buf, size_t len);

/* Serialise the tree at path (in, borrowed) as a NAR into sink.  Returns 0
 * when the whole NAR was delivered, the sink's non-zero value, or an error
 * above.  On failure the sink may have received a prefix. */
int nar_dump(const char *path, nar_sink_fn sink, void *ctx, char *why)
    __attribute__((warn_unused_result));

/* SHA-256 of the NAR of path into out (zeroed on failure).  Returns 0 or an
 * error above. */
int nar_hash(const char *path, uint8_t out[NAR_HASH_LEN], char *why)
    __attribute__((warn_unused_result));

/* Check that name[0..len) can be a NAR directory entry name: 1 ..
 * NAR_NAME_MAX bytes, not "." or "..", no '/' and no NUL.  Returns 0 or
 * CL_EINVAL / CL_ETOOBIG. */
int nar_name_check(const char *name, size_t len, char *why);

/* Check that target[0..len) can be a NAR symlink target: 1 ..
 * NAR_TARGET_MAX bytes, no NUL.  Returns 0 or CL_EINVAL / CL_ETOOBIG. */
int nar_target_check(const char *target, size_t len, char *why);

#endif
