/*
 * ixblk.c: search runs' keys packed IXB_MAX to an LMDB record.
 *
 * Written one record a key, the indexer spent about half its time in
 * LMDB: a cursor put per key, walking from the root to the last leaf and
 * comparing, at the flush and again at every merge.  Packed, a put is made
 * per block and a merge is a merge of arrays, LMDB only handing over
 * pages; a record takes IXB_KEY bytes instead of 8 + IXB_KEY + 2.  Blocks
 * are checked whole when a cursor reaches them, so a seek's binary search
 * and a merge's order may rely on them.
 */
#include "ixblk.h"

#include <string.h>

#include "store.h"

int
ixb_check(const MDB_val *k, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	size_t n = v->mv_size / IXB_KEY;

	if (k->mv_size != IXB_KEY || v->mv_size % IXB_KEY != 0 || n == 0 || n > IXB_MAX ||
	    memcmp(k->mv_data, p, IXB_KEY) != 0)
		return ST_ECORRUPT;
	for (size_t i = 1; i < n; i++) {
		if (ixb_cmp(p + (i - 1) * IXB_KEY, p + i * IXB_KEY) >= 0)
			return ST_ECORRUPT;
	}
	return 0;
}

void
ixb_writer_init(struct ixb_writer *w, MDB_cursor *c, const uint8_t *after)
{
	w->c = c;
	w->n = 0;
	w->any = after != NULL;
	if (after != NULL)
		memcpy(w->last, after, IXB_KEY);
}

int
ixb_flush(struct ixb_writer *w)
{
	MDB_val k = {IXB_KEY, w->buf}, v = {w->n * IXB_KEY, w->buf};
	int rc;

	if (w->n == 0)
		return 0;
	if ((rc = mdb_cursor_put(w->c, &k, &v, MDB_APPEND)) != 0)
		return rc == MDB_KEYEXIST ? ST_ECORRUPT : rc;
	w->n = 0;
	return 0;
}

int
ixb_put(struct ixb_writer *w, const uint8_t key[IXB_KEY])
{
	if (w->any && ixb_cmp(w->last, key) >= 0)
		return ST_ECORRUPT;
	memcpy(w->buf + w->n * IXB_KEY, key, IXB_KEY);
	memcpy(w->last, key, IXB_KEY);
	w->any = true;
	if (++w->n == IXB_MAX)
		return ixb_flush(w);
	return 0;
}

void
ixb_cursor_init(struct ixb_cursor *r, MDB_cursor *c)
{
	r->c = c;
	r->blk = NULL;
	r->n = r->at = 0;
}

/* Take the block k/v, at key `at`. */
static int
load(struct ixb_cursor *r, const MDB_val *k, const MDB_val *v, size_t at)
{
	int rc;

	if ((rc = ixb_check(k, v)) != 0)
		return rc;
	r->blk = v->mv_data;
	r->n = v->mv_size / IXB_KEY;
	r->at = at;
	return 0;
}

int
ixb_first(struct ixb_cursor *r)
{
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_get(r->c, &k, &v, MDB_FIRST)) != 0)
		return rc;
	return load(r, &k, &v, 0);
}

int
ixb_next(struct ixb_cursor *r)
{
	const uint8_t *prev;
	MDB_val k, v;
	int rc;

	if (r->blk == NULL)
		return ixb_first(r);
	if (r->at + 1 < r->n) {
		r->at++;
		return 0;
	}
	prev = ixb_key(r);
	if ((rc = mdb_cursor_get(r->c, &k, &v, MDB_NEXT)) != 0)
		return rc;
	if ((rc = load(r, &k, &v, 0)) != 0)
		return rc;
	return ixb_cmp(prev, r->blk) < 0 ? 0 : ST_ECORRUPT;
}

int
ixb_seek(struct ixb_cursor *r, const uint8_t key[IXB_KEY])
{
	MDB_val k = {IXB_KEY, (void *)key}, v;
	size_t lo, hi;
	int rc, before;

	rc = mdb_cursor_get(r->c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == IXB_KEY && memcmp(k.mv_data, key, IXB_KEY) == 0)
		return load(r, &k, &v, 0);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	/* The block before the first that starts above key may hold it. */
	before = mdb_cursor_get(r->c, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
	if (before == MDB_NOTFOUND)
		return rc == 0 ? ixb_first(r) : MDB_NOTFOUND;
	if (before != 0)
		return before;
	if ((rc = load(r, &k, &v, 0)) != 0)
		return rc;
	for (lo = 0, hi = r->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (ixb_cmp(r->blk + mid * IXB_KEY, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->n) {
		r->at = lo;
		return 0;
	}
	r->at = r->n - 1;
	return ixb_next(r);
}
