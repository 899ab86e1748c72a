/*
 * ixblk.h: a search run's keys packed in blocks, one LMDB record a block.
 *
 * A run (ixrun.h, index.h) is a sorted set of fixed IXB_KEY-byte keys.
 * Stored one LMDB record a key, every key costs a B-tree insert when it is
 * written and again at every merge, and 20 bytes of a page; so the keys
 * are packed, in order, IXB_MAX at most to a record whose LMDB key is the
 * block's first key and whose value is the block itself (n * IXB_KEY
 * bytes, strictly ascending keys).  The blocks of a run ascend too: each
 * block's first key is above the last key of the block before.  A value of
 * IXB_MAX keys fills one overflow page of a 4 KiB-page environment.
 *
 * A writer appends keys to a run; a cursor walks them, or seeks the first
 * key >= a given one.  Both work inside the caller's transaction through
 * the caller's LMDB cursor (borrowed; the caller closes it), and a
 * cursor's keys point into LMDB's pages: valid until the transaction ends
 * or the cursor moves.  Errors: 0, MDB_NOTFOUND (no such key, or the end),
 * ST_ECORRUPT (a block that breaks the rules above, or keys put out of
 * order), or LMDB's own.
 */
#ifndef CL_IXBLK_H
#define CL_IXBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "cl.h"

#define IXB_KEY 10
/* (4096 - 16 bytes of page header) / IXB_KEY. */
#define IXB_MAX 408

/* Order of two keys (memcmp's, without the call): < 0, 0 or > 0. */
static inline int
ixb_cmp(const uint8_t *a, const uint8_t *b)
{
	uint64_t x = cl_be64_get(a), y = cl_be64_get(b);
	unsigned p, q;

	if (x != y)
		return x < y ? -1 : 1;
	p = (unsigned)a[8] << 8 | a[9];
	q = (unsigned)b[8] << 8 | b[9];
	return (p > q) - (p < q);
}

/* Whether the LMDB record k/v (borrowed) is a valid block: k IXB_KEY
 * bytes, v 1..IXB_MAX keys, strictly ascending, the first equal to k.
 * Returns 0 or ST_ECORRUPT. */
int ixb_check(const MDB_val *k, const MDB_val *v) __attribute__((warn_unused_result));

struct ixb_writer {
	MDB_cursor *c;
	size_t n; /* keys in buf */
	bool any; /* last holds a key */
	uint8_t last[IXB_KEY];
	uint8_t buf[IXB_MAX * IXB_KEY];
};

/* Start appending through c (a write cursor on the run's database, which
 * is empty or holds only keys <= after).  after: the run's last key, to
 * put only keys above it (copied), or NULL. */
void ixb_writer_init(struct ixb_writer *w, MDB_cursor *c, const uint8_t *after);

/* Append key (copied), above every key put before (else ST_ECORRUPT,
 * nothing put); a full block is written.  Returns 0 or an error. */
int ixb_put(struct ixb_writer *w, const uint8_t key[IXB_KEY]) __attribute__((warn_unused_result));

/* Write the keys still held (a shorter block).  Needed before the
 * transaction commits; the writer may go on afterwards.  Returns 0 or an
 * error. */
int ixb_flush(struct ixb_writer *w) __attribute__((warn_unused_result));

struct ixb_cursor {
	MDB_cursor *c;
	const uint8_t *blk; /* LMDB's */
	size_t n, at;
};

/* A cursor over the run that c (borrowed) is open on, at no key yet. */
void ixb_cursor_init(struct ixb_cursor *r, MDB_cursor *c);

/* Move to the run's first key, the first key >= key (borrowed), or the
 * next key. */
int ixb_first(struct ixb_cursor *r) __attribute__((warn_unused_result));
int ixb_seek(struct ixb_cursor *r, const uint8_t key[IXB_KEY]) __attribute__((warn_unused_result));
int ixb_next(struct ixb_cursor *r) __attribute__((warn_unused_result));

/* The key the cursor is at (after a call above returned 0). */
static inline const uint8_t *
ixb_key(const struct ixb_cursor *r)
{
	return r->blk + r->at * IXB_KEY;
}

#endif
