/*
 * file.h: small files, read with a cap and written durably.  The one
 * reader and the one writer that key files, allowlists, state files,
 * bundles and evidence all go through.
 *
 * Reading caps the size before allocating (fstat for regular files, one
 * byte past the cap for streams) and refuses what is not a regular file
 * unless asked to read a stream.  Writing goes to a fresh temporary name
 * in the same directory (O_EXCL, exact mode whatever the umask), fsync,
 * then rename over the target, or link to it when the target must not be
 * replaced, then fsync of the directory: a crash leaves the old file or
 * the new one, never a part of one, under the final name.
 */
#ifndef CL_FILE_H
#define CL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cl.h"

/* Flags of cl_file_read and cl_file_write. */
#define CL_FILE_SECRET 0x1 /* read: refuse a file group or others may access (CL_EKEYPERM) */
#define CL_FILE_STREAM 0x2 /* "-" is stdin / stdout; pipes and devices too */
#define CL_FILE_EXCL   0x4 /* write: never replace an existing file (EEXIST) */

/* Read the whole file at path, at most cap bytes, into *buf: malloc'd by
 * the reader, cap + 1 bytes at most, NUL-terminated after the *len data
 * bytes; the caller frees it (after sodium_memzero with CL_FILE_SECRET).
 * Opening never blocks on a FIFO.  Returns 0; ENOENT and other errno;
 * CL_EINVAL (empty path, or not a regular file without CL_FILE_STREAM);
 * CL_ETOOBIG (over cap); CL_EKEYPERM.  why (CL_WHY_MAX bytes) names the
 * file.  On failure *buf is NULL and nothing read is left in memory. */
int cl_file_read(const char *path, size_t cap, unsigned flags, uint8_t **buf, size_t *len,
    char *why) __attribute__((warn_unused_result));

/* Make path hold exactly buf[0..len) with the given mode, durably (above).
 * With CL_FILE_EXCL an existing path (even a dangling symlink) is EEXIST
 * and left alone.  A path that is, or leads to, a device, a FIFO or a
 * socket is never replaced: with CL_FILE_STREAM buf is written into it
 * (as to "-", standard output), without it that is CL_EINVAL.
 * Returns 0, CL_EINVAL (empty path, or one naming a directory),
 * ENAMETOOLONG, EEXIST or another errno, with why naming the file.  On
 * failure no temporary file is left behind. */
int cl_file_write(const char *path, const void *buf, size_t len, mode_t mode, unsigned flags,
    char *why) __attribute__((warn_unused_result));

/* One file of cl_file_write_many: path and buf[0..len) are the caller's;
 * rc (0 or as cl_file_write) and why are filled in. */
struct cl_file_out {
	const char *path;
	const void *buf;
	size_t len;
	int rc;
	char why[CL_WHY_MAX];
};

/* Write every file of files[0..n) as cl_file_write(path, buf, len, mode,
 * 0, why) would, each replacing what its path held (a device, FIFO or
 * socket is refused, CL_EINVAL, as there), but with fewer
 * flushes: for each run of neighbours in one directory, their temporary
 * files are written, the file system holding them is flushed once
 * (syncfs), they are renamed into place, and the directory is flushed
 * once.  A file whose write or rename fails does not stop the others.
 * When a flush fails, every file of its run not failed already fails with
 * that errno and a why naming it: after a failed syncfs nothing of the run
 * is renamed (the old files stay); after a failed directory fsync the new
 * files are in place but may not survive a crash.  No temporary file is
 * left behind.  Returns 0 if every file was written, or the first error. */
int cl_file_write_many(struct cl_file_out *files, size_t n, mode_t mode);

#endif
