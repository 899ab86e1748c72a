/*
 * ixrun.c: the run manifest's byte format and the tiered merge policy.
 *
 * Runs cover contiguous, disjoint index ranges, so a merge of adjacent
 * runs is again one range, and levels (by size) fall as indices grow: the
 * manifest reads like a number in base `fanout`, each run rewritten once
 * per level it climbs, O(log N) times in all.  See index.c for how runs
 * are written, merged and read.
 */
#include "ixrun.h"

#include <string.h>

#include "cl.h"
#include "store.h"

size_t
ixr_encode(const struct ixr_set *s, uint8_t out[IXR_MAX])
{
	for (size_t i = 0; i < s->n; i++) {
		out[i * IXR_REC] = s->run[i].slot;
		cl_be64_put(out + i * IXR_REC + 1, s->run[i].to);
	}
	return s->n * IXR_REC;
}

int
ixr_decode(const uint8_t *p, size_t len, uint64_t upto, struct ixr_set *out)
{
	bool used[IXR_SLOTS] = {false};
	uint64_t from = 0;

	out->n = 0;
	if (len % IXR_REC != 0 || len > IXR_MAX)
		goto bad;
	for (size_t i = 0; i < len / IXR_REC; i++) {
		uint8_t slot = p[i * IXR_REC];
		uint64_t to = cl_be64_get(p + i * IXR_REC + 1);

		if (slot >= IXR_SLOTS || used[slot] || to <= from)
			goto bad;
		used[slot] = true;
		out->run[i] = (struct ixr_run){slot, from, to};
		from = to;
	}
	if (from != upto)
		goto bad;
	out->n = len / IXR_REC;
	return 0;
bad:
	memset(out, 0, sizeof *out);
	return ST_ECORRUPT;
}

unsigned
ixr_level(uint64_t n, uint64_t base, unsigned fanout)
{
	unsigned level = 0;

	for (uint64_t q = n / base; q >= fanout; q /= fanout)
		level++;
	return level;
}

static uint64_t
run_len(const struct ixr_run *r)
{
	return r->to - r->from;
}

bool
ixr_pick(const struct ixr_set *s, uint64_t base, unsigned fanout, unsigned top, size_t *first)
{
	unsigned best = ~0u;
	uint64_t least = UINT64_MAX;

	if (fanout < 2 || fanout > IXR_FANOUT_MAX || s->n < fanout)
		return false;
	for (size_t i = 0; i + fanout <= s->n; i++) {
		unsigned lv = ixr_level(run_len(&s->run[i]), base, fanout);
		size_t j = 1;

		while (j < fanout && ixr_level(run_len(&s->run[i + j]), base, fanout) == lv)
			j++;
		if (j == fanout && lv < top && lv < best) {
			best = lv;
			*first = i;
		}
	}
	if (best != ~0u)
		return true;
	if (s->n < IXR_CROWDED)
		return false;
	for (size_t i = 0; i + fanout <= s->n; i++) {
		uint64_t sum = s->run[i + fanout - 1].to - s->run[i].from;

		if (sum < least) {
			least = sum;
			*first = i;
		}
	}
	return true;
}

void
ixr_replace(struct ixr_set *s, size_t first, size_t count, uint8_t slot)
{
	s->run[first].slot = slot;
	s->run[first].to = s->run[first + count - 1].to;
	memmove(
	    &s->run[first + 1], &s->run[first + count], (s->n - first - count) * sizeof s->run[0]);
	s->n -= count - 1;
}
