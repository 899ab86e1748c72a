/*
 * pcut.h: the power-cut journal written by tests/powercut.c (an LD_PRELOAD
 * library loaded into closurelogd) and the rebuilding of the store's files
 * from it "as the disk would hold them after a power cut".
 *
 * Watched files: every file whose name ends in ".mdb" but lock.mdb (LMDB's
 * lock file holds no durable state), wherever it is, so that a store split
 * over several LMDB environments is covered as a whole.  Each is known by
 * the path it was opened with; a 'N' record names it before its first
 * write, and every record carries its number.
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

#include <stdbool.h>
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
#define PC_OP_NAME      'N' /* file `file` is the path in data */
#define PC_FILES_MAX    16

#define PC_F_DSYNC  1 /* written through an O_DSYNC/O_SYNC descriptor */
#define PC_F_FAILED 2 /* a sync that failed (injected) */

struct pc_rec {
	uint32_t magic;
	char op;
	uint8_t flags;
	uint16_t file; /* for writes, syncs and names */
	uint64_t off;
	uint64_t len; /* bytes of data following, for writes */
};

enum pc_mode {
	PC_DROP, /* unsynced writes are lost */
	PC_TORN, /* a random subset of their 4 KiB blocks lands */
};

struct pc_stats {
	size_t files;                       /* files named */
	size_t writes, syncs, failed_syncs; /* records in the journal */
	size_t lost, torn_blocks;           /* writes not durable; of their blocks, landed */
	size_t calls[256];                  /* journalled calls by operation byte */
	char dirs[4][512];                  /* the first directories synced, in order */
};

/* Rebuild every file the journal names, in place, from its copy in
 * directory base_dir (none: the file did not exist) and the journal of what
 * happened since, under `mode`; seed drives PC_TORN's choices.  With
 * new_base, the results also become the copies in base_dir.  A truncated
 * last record (the process died while journalling it) is ignored: that call
 * had not returned.  Fills *st if not NULL.  Returns 0 or -1 with errno (a
 * journal that does not parse gives EINVAL). */
int pc_rebuild(const char *journal, const char *base_dir, bool new_base, enum pc_mode mode,
    uint64_t seed, struct pc_stats *st);

/* Only count what the journal holds (nothing is written). */
int pc_stats_read(const char *journal, struct pc_stats *st);

/* Copy the file at path into base_dir as its base copy. */
int pc_base_add(const char *base_dir, const char *path);

/* Put every file copied in base_dir back in its place. */
int pc_base_restore(const char *base_dir);

/* Set the environment for the next closurelogd started: preload `lib`,
 * journal into `journal`, cut before watched call `cut` (if > 0; counting
 * only the calls of `cut_op`, CL_PC_CUT_OP syntax, if not NULL), inject
 * `fault` (CL_PC_FAULT syntax, or NULL), with h_preload (harness.h).
 * pc_env_clear() puts everything back. */
void pc_env_set(
    const char *lib, const char *journal, long cut, const char *cut_op, const char *fault);
void pc_env_clear(void);

/* Copy file src to dst (replacing it).  Returns 0 or -1 with errno. */
int pc_copy(const char *src, const char *dst);

#endif
