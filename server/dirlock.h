/*
 * dirlock.h: one closurelogd per data directory.
 *
 * LMDB lets several processes open one environment, and two servers on one
 * directory would each sign checkpoints from their own view of the tree: a
 * reader switching between them sees the log roll back.  So the server
 * holds an exclusive lock on DIR/closurelogd.lock for its whole life, and
 * the file names the pid that holds it.
 */
#ifndef CL_DIRLOCK_H
#define CL_DIRLOCK_H

#include <sys/types.h>

#define DIRLOCK_FILE "closurelogd.lock"

/* Create dir (mode 0700) if it does not exist, then take an exclusive,
 * non-blocking flock(2) on dir/DIRLOCK_FILE (created 0600) and write this
 * process's pid into it.  On success *fd is the lock: keep it open for as
 * long as the directory is in use (the kernel releases the lock when the
 * process exits, however it exits); close it to release.  If another
 * process holds the lock, returns EWOULDBLOCK, *holder gets its pid (0 if
 * it has not written it yet) and why says "data directory DIR is in use
 * by pid N".  Other failures return errno with why. */
int dirlock_take(const char *dir, int *fd, pid_t *holder, char *why)
    __attribute__((warn_unused_result));

#endif
