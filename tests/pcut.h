/*
 * pcut.h: the power-cut journal written by tests/powercut.c (an LD_PRELOAD
 * library loaded into closurelogd) and the rebuilding of a data file from
 * it "as the disk would hold it after a power cut".
 *
 * Model: a write is durable once a later fdatasync/fsync of the file has
 * completed, or at once when made through an O_DSYNC/O_SYNC descriptor.  A
 * failed sync loses every write not yet durable for good (Linux may drop
 * dirty pages after a writeback error).  At the cut, writes not yet durable
 * are dropped (PC_DROP) or, with PC_TORN, each of their 4 KiB blocks
 * independently reaches the disk or not.
 */
#ifndef CL_PCUT_H
#define CL_PCUT_H

#include <stddef.h>
#include <stdint.h>

#define PC_MAGIC 0x50435554u /* "PCUT" */

/* Record operations (one byte). */
#define PC_OP_WRITE     'w' /* write or writev, at the file offset */
#define PC_OP_WRITEV    'v' /* in CL_PC_FAULT counting only: journalled as 'w' */
#define PC_OP_PWRITE    'p'
#define PC_OP_FDATASYNC 'd'
#define PC_OP_FSYNC     'f'
#define PC_OP_DIRSYNC   'D' /* fsync of a directory; data: its path as opened */

#define PC_F_DSYNC  1 /* written through an O_DSYNC/O_SYNC descriptor */
#define PC_F_FAILED 2 /* a sync that failed (injected) */

struct pc_rec {
	uint32_t magic;
	char op;
	uint8_t flags;
	uint16_t pad;
	uint64_t off;
	uint64_t len; /* bytes of data following, for writes */
};

enum pc_mode {
	PC_DROP, /* unsynced writes are lost */
	PC_TORN, /* a random subset of their 4 KiB blocks lands */
};

struct pc_stats {
	size_t writes, syncs, failed_syncs; /* records in the journal */
	size_t lost, torn_blocks;           /* writes not durable; of their blocks, landed */
	size_t calls[256];                  /* journalled calls by operation byte */
	char dirs[4][512];                  /* the first directories synced, in order */
};

/* Rebuild `out` (a path; replaced) from the file `base` (a path, or NULL for a
 * file that did not exist) and the journal of what happened since, under
 * `mode`; seed drives PC_TORN's choices.  A truncated last record (the
 * process died while journalling it) is ignored: that call had not
 * returned.  Fills *st if not NULL.  Returns 0 or -1 with errno (a journal
 * that does not parse gives EINVAL). */
int pc_rebuild(const char *base, const char *journal, const char *out, enum pc_mode mode,
    uint64_t seed, struct pc_stats *st);

/* Set the environment for the next closurelogd started: preload `lib`,
 * journal into `journal`, cut before watched call `cut` (if > 0), inject
 * `fault` (CL_PC_FAULT syntax, or NULL).  ASAN_OPTIONS gets
 * verify_asan_link_order=0 added, so that a sanitized closurelogd accepts
 * the library.  pc_env_clear() puts everything back. */
void pc_env_set(const char *lib, const char *journal, long cut, const char *fault);
void pc_env_clear(void);

/* Copy file src to dst (replacing it).  Returns 0 or -1 with errno. */
int pc_copy(const char *src, const char *dst);

#endif
