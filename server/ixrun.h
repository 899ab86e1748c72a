/*
 * ixrun.h: the search environment's run manifest and merge policy.
 *
 * The search indexes (index.h) are kept as sorted runs, each a named LMDB
 * database ("run00" ... in DIR/search) holding the keys of one contiguous
 * range of entries [from, to).  The manifest lists the runs in index
 * order: together they cover [0, upto) exactly, each range starting where
 * the one before it ends.  It is stored as meta "runs", a sequence of
 * IXR_REC-byte records, one per run, oldest first:
 *
 *   slot (u8, < IXR_SLOTS, each at most once) | to (u64 big-endian)
 *
 * (from is the previous record's to, 0 for the first; to > from).  This
 * module only encodes, decodes and chooses merges: no I/O, no allocation.
 */
#ifndef CL_IXRUN_H
#define CL_IXRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The named run databases in DIR/search, and so the most runs at once. */
#define IXR_SLOTS 64
#define IXR_REC   9
/* The most bytes of an encoded manifest. */
#define IXR_MAX (IXR_SLOTS * IXR_REC)
/* From this many runs on, merges pick the cheapest window even across
 * levels, so that a flush and a merge target always find a free slot. */
#define IXR_CROWDED (IXR_SLOTS - 8)
/* The largest fanout ixr_pick accepts. */
#define IXR_FANOUT_MAX 16

struct ixr_run {
	uint8_t slot;
	uint64_t from, to; /* entries [from, to) */
};

struct ixr_set {
	size_t n;
	struct ixr_run run[IXR_SLOTS];
};

/* Encode s into out (IXR_MAX bytes, caller's).  Returns the length. */
size_t ixr_encode(const struct ixr_set *s, uint8_t out[IXR_MAX]);

/* Decode the len bytes at p (borrowed) into *out: a manifest of runs
 * covering exactly [0, upto).  Strict: len a multiple of IXR_REC and at
 * most IXR_MAX, slots < IXR_SLOTS and distinct, ranges non-empty, each
 * starting where the previous ends, the last ending at upto (no record at
 * all for upto 0).  Returns 0, or ST_ECORRUPT with *out empty. */
int ixr_decode(const uint8_t *p, size_t len, uint64_t upto, struct ixr_set *out)
    __attribute__((warn_unused_result));

/* The level of a run of n entries: 0 below base * fanout, then one more
 * for each factor of fanout (base >= 1, 2 <= fanout <= IXR_FANOUT_MAX). */
unsigned ixr_level(uint64_t n, uint64_t base, unsigned fanout);

/* The next merge for s, if any: `fanout` adjacent runs of one level below
 * `top`, the lowest such level, oldest first; or, once s holds IXR_CROWDED
 * runs or more, the adjacent `fanout` with the fewest entries, whatever
 * their levels.  (Runs of level top and above so merge only when crowded:
 * a merge needs room for its output beside its sources, so the largest
 * merge sets how much free space the file keeps.)  On true, runs
 * [*first, *first + fanout) of s are to be merged into one. */
bool ixr_pick(const struct ixr_set *s, uint64_t base, unsigned fanout, unsigned top, size_t *first);

/* Replace runs [first, first + count) of s by one run in `slot` covering
 * their ranges.  first + count <= s->n, count >= 1. */
void ixr_replace(struct ixr_set *s, size_t first, size_t count, uint8_t slot);

#endif
