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

/* One snapshot of the list: n distinct Ed25519 verifier keys, in file
 * order.  Read-only; valid until released. */
struct allow_list {
	size_t n;
	const struct note_verifier *keys;
};

struct allow;

/* Parse allowlist text buf (len bytes, not NUL-terminated, borrowed for the
 * call; name is the file's name for the reasons) into a new list, which the
 * caller frees with allow_list_free.  The same key twice counts once.
 * Returns 0, or CL_EINVAL (naming name and the line of the first bad key),
 * CL_ETYPE (a key that is not Ed25519), CL_ETOOBIG (above ALLOW_FILE_MAX
 * bytes or ALLOW_MAX_KEYS keys) or ENOMEM, with why and *out NULL. */
int allow_list_parse(const char *name, const char *buf, size_t len, struct allow_list **out,
    char *why) __attribute__((warn_unused_result));

/* Free a list from allow_list_parse.  NULL is fine. */
void allow_list_free(struct allow_list *l);

/* A holder for the current list, initially loaded from path.  A missing
 * file is an empty list (writes are refused until keys are added and the
 * server is sent SIGHUP).  Returns 0, or what allow_list_parse does, or
 * errno (naming the file) with why. */
int allow_open(const char *path, struct allow **out, char *why) __attribute__((warn_unused_result));

/* Re-read the file; on success swap the new list in, on failure keep the
 * old one.  Thread-safe.  Returns what allow_open would. */
int allow_reload(struct allow *a, char *why) __attribute__((warn_unused_result));

/* The current snapshot, with a reference the caller drops with
 * allow_release.  Thread-safe; never NULL. */
const struct allow_list *allow_acquire(struct allow *a);
void allow_release(struct allow *a, const struct allow_list *l);

/* Free the holder (no snapshot may be held).  NULL is fine. */
void allow_close(struct allow *a);

#endif
