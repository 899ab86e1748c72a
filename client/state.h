/*
 * state.h: an auditor's state directory (docs/audit.md).
 *
 *   DIR/lock        flock'd for the life of the process: one audit at a time
 *   DIR/checkpoint  the last checkpoint trusted, a signed note as the log
 *                   served it
 *   DIR/full        with --full: the right edge of the tree rebuilt from the
 *                   entries, and the signed checkpoint it matched (JSON)
 *
 * Nothing in the directory is trusted more than the log key: every file is
 * verified again when loaded, and one that does not add up is refused as
 * tampered.  Files are replaced whole (cl_file_write, file.h), never
 * edited.  Every function that fails writes one line to why (CLI_MSG_MAX
 * bytes) naming the file.
 */
#ifndef CL_STATE_H
#define CL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"
#include "sth.h"

/* Room the directory name must leave in a path for the names above. */
#define CLI_STATE_PATH_MAX 4096
#define CLI_STATE_DIR_MAX  (CLI_STATE_PATH_MAX - 64)

/* Largest DIR/full accepted. */
#define CLI_STATE_FULL_MAX (64 * 1024)

struct cli_state {
	char dir[CLI_STATE_PATH_MAX];
	int lock_fd; /* -1 when closed */
};

/* Create dir (mode 0700) if needed and take DIR/lock.  Returns 0; EBUSY
 * when another process holds the lock ("another audit is running");
 * ENAMETOOLONG; or errno.  Close with cli_state_close, even on failure. */
int cli_state_open(struct cli_state *s, const char *dir, char *why)
    __attribute__((warn_unused_result));

/* Release the lock; a closed state is a no-op. */
void cli_state_close(struct cli_state *s);

/* DIR/<name> into out; "" if it does not fit (cli_state_open rules it out). */
void cli_state_path(const struct cli_state *s, const char *name, char out[CLI_STATE_PATH_MAX]);

/* Read DIR/checkpoint and verify it with key and origin.  *note is malloc'd
 * (the caller frees it), *c points into it.  Returns 0; ENOENT if there is
 * none (nothing allocated); CL_EORIGIN or CL_EBADSIG-class codes for a
 * tampered file; or errno. */
int cli_state_checkpoint_load(const struct cli_state *s, const struct note_verifier *key,
    const char *origin, uint8_t **note, size_t *len, struct sth *c, char *why)
    __attribute__((warn_unused_result));

/* Replace DIR/checkpoint with note[0..len).  Returns 0 or errno. */
int cli_state_checkpoint_save(const struct cli_state *s, const uint8_t *note, size_t len, char *why)
    __attribute__((warn_unused_result));

/* Parse the bytes of a DIR/full file, checking its form only: the tree's
 * size and right edge into *range, the checkpoint it claims into
 * note/note_len (pointing into a copy that *note_buf holds; the caller
 * frees *note_buf).  Pure: no I/O.  Returns 0 or CL_EINVAL with why naming
 * the field. */
int cli_state_full_parse(const uint8_t *buf, size_t len, struct mt_range *range, uint8_t **note_buf,
    size_t *note_len, char *why) __attribute__((warn_unused_result));

/* Read DIR/full into *range and check it: its checkpoint is signed by key
 * for origin, its tree is that checkpoint's, and it is not ahead of (nor
 * different from, at equal size) trusted, the checkpoint loaded from
 * DIR/checkpoint (NULL if there was none).  Returns 0; ENOENT if there is
 * none; CL_EINVAL for a file that is malformed or does not add up (why:
 * "state DIR/full: <what>: refusing a tampered state"); or errno.  On
 * failure *range is the empty tree. */
int cli_state_full_load(const struct cli_state *s, const struct note_verifier *key,
    const char *origin, const struct sth *trusted, struct mt_range *range, char *why)
    __attribute__((warn_unused_result));

/* The bytes of a DIR/full file for range and the checkpoint note[0..len)
 * (UTF-8) into *out (malloc'd, not NUL-terminated; the caller frees it).
 * Pure.  Returns 0, CL_EINVAL (note not UTF-8), CL_ETOOBIG or ENOMEM. */
int cli_state_full_encode(const struct mt_range *range, const uint8_t *note, size_t len, char **out,
    size_t *out_len) __attribute__((warn_unused_result));

/* Replace DIR/full with range and the checkpoint note[0..len) it matches.
 * Returns 0, CL_ETOOBIG, ENOMEM or errno. */
int cli_state_full_save(const struct cli_state *s, const struct mt_range *range,
    const uint8_t *note, size_t len, char *why) __attribute__((warn_unused_result));

#endif
