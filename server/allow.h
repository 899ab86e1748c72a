/*
 * allow.h: the submitter allowlist, a file of C2SP verifier keys (one per
 * line; blank lines and lines starting with '#' ignored).
 *
 * The list is immutable once loaded; a reload (SIGHUP) builds a new one and
 * swaps it in, and work in flight keeps the snapshot it started with.
 */
#ifndef CL_ALLOW_H
#define CL_ALLOW_H

#include <stddef.h>

#include "note.h"

#define ALLOW_MAX_KEYS 4096
#define ALLOW_FILE_MAX (4 * 1024 * 1024)

/* One snapshot of the list. */
struct allow_list {
	size_t n;
	unsigned refs; /* private to allow.c */
	struct note_verifier keys[];
};

struct allow;

/* A holder for the current list, initially loaded from path.  A missing
 * file is an empty list (writes are refused until keys are added and the
 * server is sent SIGHUP).  Returns 0, or CL_EINVAL (naming the file and
 * line of the first bad key), CL_ETOOBIG or errno with why. */
int allow_open(const char *path, struct allow **out, char *why);

/* Re-read the file; on success swap the new list in, on failure keep the
 * old one.  Thread-safe.  Returns what allow_open would. */
int allow_reload(struct allow *a, char *why);

/* The current snapshot, with a reference the caller drops with
 * allow_release.  Thread-safe; never NULL. */
const struct allow_list *allow_acquire(struct allow *a);
void allow_release(struct allow *a, const struct allow_list *l);

/* Free the holder (no snapshot may be held).  NULL is fine. */
void allow_close(struct allow *a);

#endif
