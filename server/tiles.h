/*
 * tiles.h: full tiles and entry bundles as files, for a web server to serve.
 *
 * With --tiles-dir, closurelogd writes each full hash tile and each full
 * entry bundle once, under its C2SP tlog-tiles path (DIR/tile/0/x001/234,
 * DIR/tile/entries/005), as soon as a published checkpoint covers it:
 * written to a temporary name, fsync'd, then renamed, so that a file that
 * exists is complete.  Full tiles never change, so nginx can serve them
 * with immutable cache headers and send everything else (the checkpoint,
 * partial tiles, the API) to closurelogd (deploy/nginx/closurelog.conf).
 * A file that is missing, after a crash or a failed write, is only slower
 * to get: the web server falls back to closurelogd, and the next checkpoint
 * writes it.
 */
#ifndef CL_TILES_H
#define CL_TILES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct tiles;

/* Open (creating it, mode 0755, if missing) the directory dir.  The files
 * are made readable by all (0644, directories 0755) whatever the umask:
 * they are public, and the web server runs as another user; an existing
 * dir keeps its own mode.  *out is the
 * caller's (tiles_close).  Returns 0 or an errno with why. */
int tiles_open(const char *dir, struct tiles **out, char *why);

/* Free t.  NULL is fine. */
void tiles_close(struct tiles *t);

/* Write every full tile and entry bundle of the tree of `size` leaves that
 * has not been written yet (files already there are left alone, so that
 * the first call after a start only fills in what is missing).  Reads from
 * the store through its own reader.  Called by one thread at a time.
 * Returns 0, or an errno / ST_E* code with why (CL_WHY_MAX bytes): what
 * was not written is tried again by the next call. */
int tiles_write(struct tiles *t, struct st *st, uint64_t size, char *why);

/* Produce entry bundle `index` of width `width` (C2SP: each entry as a
 * big-endian uint16 length and its bytes) from the snapshot r, handing it
 * to put() in pieces.  Returns 0, an ST_E* or LMDB code from the store,
 * CL_ETOOBIG for an entry above 65535 bytes, or put()'s non-zero result. */
int tiles_bundle(struct st_reader *r, uint64_t index, unsigned width,
    int (*put)(void *ctx, const void *data, size_t len), void *ctx);

#endif
