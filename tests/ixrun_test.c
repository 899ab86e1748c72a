/*
 * ixrun_test.c: the run manifest (server/ixrun.c).  The decoder accepts
 * exactly the manifests that cover [0, upto) with adjacent non-empty
 * ranges in distinct slots, and encodes them back byte for byte; every
 * other input (a bit flip, a truncation, a wrong upto) is refused.  The
 * merge policy, driven through many flushes as the indexer drives it,
 * keeps the number of runs logarithmic in the entries (fanout - 1 per
 * level at most, plus what a merge under way holds back) and below the
 * slot count even when merges lag far behind or the sizes are extreme.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "harness.h"
#include "index.h"
#include "ixrun.h"
#include "store.h"
#include "testutil.h"

struct rec {
	uint8_t slot;
	uint64_t to;
};

static size_t
man(const struct rec *r, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i * IXR_REC] = r[i].slot;
		cl_be64_put(out + i * IXR_REC + 1, r[i].to);
	}
	return n * IXR_REC;
}

static void
test_decode(void **state)
{
	static const struct {
		const char *what;
		size_t n;
		struct rec r[4];
		uint64_t upto;
		int want;
	} cases[] = {
	    {"empty", 0, {{0, 0}}, 0, 0},
	    {"one run", 1, {{5, 100}}, 100, 0},
	    {"three runs", 3, {{2, 10}, {0, 30}, {63, 31}}, 31, 0},
	    {"empty but upto", 0, {{0, 0}}, 1, ST_ECORRUPT},
	    {"short of upto", 2, {{0, 10}, {1, 20}}, 21, ST_ECORRUPT},
	    {"past upto", 2, {{0, 10}, {1, 20}}, 19, ST_ECORRUPT},
	    {"slot twice", 2, {{4, 10}, {4, 20}}, 20, ST_ECORRUPT},
	    {"slot too big", 1, {{IXR_SLOTS, 10}}, 10, ST_ECORRUPT},
	    {"empty range first", 2, {{0, 0}, {1, 20}}, 20, ST_ECORRUPT},
	    {"empty range", 2, {{0, 10}, {1, 10}}, 10, ST_ECORRUPT},
	    {"backwards", 3, {{0, 10}, {1, 5}, {2, 20}}, 20, ST_ECORRUPT},
	};
	uint8_t b[IXR_MAX + IXR_REC], again[IXR_MAX];
	struct ixr_set s;

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t len = man(cases[c].r, cases[c].n, b);
		int rc = ixr_decode(b, len, cases[c].upto, &s);

		if (rc != cases[c].want)
			fail_msg("%s: %d, want %d", cases[c].what, rc, cases[c].want);
		if (rc != 0) {
			assert_int_equal(s.n, 0);
			continue;
		}
		assert_int_equal(s.n, cases[c].n);
		assert_int_equal(ixr_encode(&s, again), len);
		assert_memory_equal(again, b, len);
		for (size_t i = 0; i < s.n; i++) {
			assert_int_equal(s.run[i].slot, cases[c].r[i].slot);
			assert_int_equal(s.run[i].from, i == 0 ? 0 : cases[c].r[i - 1].to);
			assert_int_equal(s.run[i].to, cases[c].r[i].to);
		}
		/* Truncated, one byte more, or the last to flipped: refused. */
		if (len > 0) {
			assert_int_equal(ixr_decode(b, len - 1, cases[c].upto, &s), ST_ECORRUPT);
			assert_int_equal(s.n, 0);
			b[len - 1] ^= 1;
			assert_int_equal(ixr_decode(b, len, cases[c].upto, &s), ST_ECORRUPT);
			b[len - 1] ^= 1;
		}
		b[len] = 0;
		assert_int_equal(ixr_decode(b, len + 1, cases[c].upto, &s), ST_ECORRUPT);
	}
	/* More records than slots: refused by length alone. */
	memset(b, 0, sizeof b);
	assert_int_equal(ixr_decode(b, IXR_MAX + IXR_REC, 0, &s), ST_ECORRUPT);
}

static void
test_level(void **state)
{
	static const struct {
		uint64_t n, base;
		unsigned fanout, want;
	} cases[] = {
	    {1, 16384, 8, 0},
	    {16384, 16384, 8, 0},
	    {131071, 16384, 8, 0},
	    {131072, 16384, 8, 1},
	    {1048575, 16384, 8, 1},
	    {1048576, 16384, 8, 2},
	    {10000000, 16384, 8, 3},
	    {1, 1, 2, 0},
	    {2, 1, 2, 1},
	    {UINT64_MAX, 1, 2, 63},
	};

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		assert_int_equal(
		    ixr_level(cases[c].n, cases[c].base, cases[c].fanout), cases[c].want);
}

/* Pick a slot as the indexer does: the lowest that no run holds, nor the
 * merge's target (`target`, or -1).  -1 if none. */
static int
free_slot(const struct ixr_set *s, int target)
{
	bool used[IXR_SLOTS] = {false};

	for (size_t i = 0; i < s->n; i++)
		used[s->run[i].slot] = true;
	for (int k = 0; k < IXR_SLOTS; k++) {
		if (!used[k] && k != target)
			return k;
	}
	return -1;
}

/* Flush runs of `flush` entries (varied by the step number when vary) for
 * `rounds` flushes, starting a merge (ixr_pick with `top`) whenever one is
 * due and finishing it `lag` flushes later, as the indexer does with
 * merges that take turns (sooner if a flush finds no free slot: it waits
 * for the merge then).  The manifest stays whole, a started merge always
 * finds a target, and at most `bound` runs (a merge's target counted)
 * exist at once.  Returns the most runs seen; the most entries one merge
 * took into *largest (if not NULL). */
static size_t
simulate(uint64_t base, unsigned fanout, unsigned top, uint64_t flush, bool vary, size_t rounds,
    size_t lag, size_t bound, uint64_t *largest)
{
	struct ixr_set s = {0};
	uint8_t b[IXR_MAX];
	uint64_t upto = 0, big = 0;
	size_t most = 0, first = 0, wait = 0;
	int target = -1, slot;

	for (size_t r = 0; r < rounds; r++) {
		uint64_t n = vary ? flush + (r * 7919) % (flush * 7) : flush;

		if ((slot = free_slot(&s, target)) < 0 && target >= 0) {
			ixr_replace(&s, first, fanout, (uint8_t)target);
			target = -1;
			slot = free_slot(&s, target);
		}
		if (slot < 0)
			fail_msg("no free slot at flush %zu (%zu runs)", r, s.n);
		s.run[s.n++] = (struct ixr_run){(uint8_t)slot, upto, upto + n};
		upto += n;
		if (target >= 0 && ++wait >= lag) {
			ixr_replace(&s, first, fanout, (uint8_t)target);
			target = -1;
		}
		if (target < 0 && ixr_pick(&s, base, fanout, top, &first)) {
			if (first + fanout > s.n)
				fail_msg("merge past the manifest");
			if (s.run[first + fanout - 1].to - s.run[first].from > big)
				big = s.run[first + fanout - 1].to - s.run[first].from;
			if ((target = free_slot(&s, -1)) < 0)
				fail_msg("no slot for a merge at flush %zu", r);
			wait = 0;
			if (lag == 0) {
				ixr_replace(&s, first, fanout, (uint8_t)target);
				target = -1;
			}
		}
		most = s.n + (target >= 0) > most ? s.n + (target >= 0) : most;
		assert_int_equal(ixr_decode(b, ixr_encode(&s, b), upto, &s), 0);
	}
	if (most > bound)
		fail_msg("%zu runs at once, bound %zu", most, bound);
	if (largest != NULL)
		*largest = big;
	return most;
}

static void
test_policy(void **state)
{
	uint64_t big;
	size_t most;

	(void)state;
	/* Merges keep up: fanout - 1 runs per level, log_8 of 10^7 / 16384
	 * levels (10^7 entries in flushes of 16384), without a top level. */
	assert_true(simulate(16384, 8, ~0u, 16384, false, 610, 0, 7 * 5, &big) >= 8 - 1);
	assert_int_equal(big, (uint64_t)1 << 23); /* a run of 2^23 made at once */
	/* The indexer's: levels 0 and 1 merge, runs of 2^20 entries (level 2)
	 * and more stay until the slots are crowded, so no merge takes more
	 * than 2^20 entries up to 10^7 (7 + 7 + 9 runs), and beyond, at 10^8,
	 * the crowded rule keeps every flush a slot, merging far less than
	 * the whole. */
	assert_true(simulate(16384, 8, IX_TOP, 16384, false, 610, 0, 7 + 7 + 9, &big) > 7 + 7);
	assert_int_equal(big, (uint64_t)1 << 20);
	most = simulate(16384, 8, IX_TOP, 16384, false, 6100, 0, IXR_SLOTS, &big);
	assert_true(big < (uint64_t)6100 * 16384 / 4);
	print_message("  10^8 entries: at most %zu runs, the largest merge %llu entries\n", most,
	    (unsigned long long)big);
	simulate(16384, 8, IX_TOP, 16384, true, 6100, 3, IXR_SLOTS, NULL);
	/* Flushes of varied size, merges a few flushes behind. */
	simulate(16384, 8, ~0u, 16384, true, 3000, 3, IXR_SLOTS, NULL);
	simulate(64, 3, ~0u, 40, true, 20000, 2, IXR_SLOTS, NULL);
	simulate(64, 3, IX_TOP, 40, true, 20000, 2, IXR_SLOTS, NULL);
	/* Extreme sizes: one-entry runs, fanout 2, merges far behind: the
	 * crowded rule still leaves a free slot for every flush. */
	simulate(1, 2, ~0u, 1, false, 50000, 0, 17 * 1 + 1, NULL);
	simulate(1, 2, ~0u, 1, false, 20000, 6, IXR_SLOTS, NULL);
	simulate(1000, 16, ~0u, 1, false, 20000, 9, IXR_SLOTS, NULL);
	simulate(1, 2, 0, 1, false, 20000, 6, IXR_SLOTS, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_level),
	    cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
