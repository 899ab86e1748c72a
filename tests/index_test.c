/*
 * index_test.c: the search indexes (server/index.c) over a real store, fed
 * the way the committer feeds them.  Against a naive model: deduplication
 * and leaf lookups find every entry at its index, on either side of the
 * hand-over from the tail to the search runs, while the indexer writes and
 * merges runs and a second thread looks entries up and searches without
 * pause (a trim before the search commit is visible, a lookup that reads
 * them in the wrong order, or a reader that sees a half-swapped manifest,
 * would lose one); search results are exact, ascending, paged, and never
 * past the reader's snapshot, also for a snapshot older than several
 * merges; the tail never holds more than IX_TAIL_MAX entries.  All of it
 * with the production sizes and with small runs and merge steps (ix_tune),
 * through many flushes, merges and swaps, and with the keys hashed to one
 * bit or none (ix_tune.hash_drop), so that every search and leaf candidate
 * collides with half the others and only confirmation against the entry
 * keeps the answers exact.  A rolled-back batch is
 * forgotten.  A crash right after any commit of a rebuild with merges
 * leaves an environment the next start accepts without rebuilding.  At
 * start, a search environment behind the log (a power cut) is caught up
 * with only the missing entries; one that is missing, ahead of the log,
 * for another tree, of another layout, with a manifest that does not
 * decode, or a damaged file, is rebuilt.
 */
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "cl.h"
#include "edge.h"
#include "harness.h"
#include "index.h"
#include "ixrun.h"
#include "store.h"
#include "testutil.h"

struct fx {
	char dir[512];
	struct st *st;
	struct ix *ix;
	struct edge *edge;
	atomic_size_t keys_calls;
	uint64_t bad_keys;   /* entry bad_keys - 1's keys cannot be read (0: none) */
	bool tuned;          /* ix_tune(tune) before ix_start */
	struct ix_tune tune; /* after_commit: fx_commit, arg the fx */
	atomic_size_t commits[IX_COMMIT_SWAP + 1];
	size_t exit_at; /* in a child: _exit(0) after this many commits (0: never) */
	size_t chunk;   /* append commits at most this many entries at once (0: all) */
	bool settle;    /* append waits for the indexer (drain) after each batch */
};

/* The indexer's commits, counted by kind; in a crash child, the process
 * ends after the exit_at-th (a crash at that point: nothing after it
 * reaches the disk, nothing is closed). */
static void
fx_commit(void *arg, enum ix_commit what)
{
	struct fx *f = arg;
	size_t total = 0;

	atomic_fetch_add(&f->commits[what], 1);
	for (int i = 0; i <= IX_COMMIT_SWAP; i++)
		total += atomic_load(&f->commits[i]);
	if (f->exit_at != 0 && total == f->exit_at)
		_exit(0);
}

/* Small runs, merged three at a time in steps of a few hundred keys:
 * many flushes, merges and swaps in a test's few thousand entries. */
static void
fx_small(struct fx *f, size_t batch, size_t step)
{
	f->tuned = true;
	f->tune = (struct ix_tune){batch, 3, step, fx_commit, f, 0};
}

/* Entry i: 16 bytes holding i; its keys: root "r<i % 3>", narHash {i % 5},
 * submitter {9} for i % 4 == 0, {8} for i % 4 == 2, none for odd i.  With
 * `blocks` set (test_collisions only), root and narHash go by blocks of
 * that many entries instead: j = i / blocks for i. */
static uint64_t blocks;

/* The committer's calls, each through its own probe. */
static int
dedup_find(struct ix *ix, struct st_batch *b, const uint8_t leaf[MT_HASH_LEN], uint64_t *idx)
{
	struct ix_probe p;

	ix_probe_make(ix, leaf, &p);
	return ix_dedup_find(ix, b, &p, idx);
}

static int
tail_add(struct ix *ix, uint64_t i, const uint8_t leaf[MT_HASH_LEN], const char *root,
    const uint8_t nar[32], const uint8_t *submitter)
{
	struct ix_probe p;

	ix_probe_make(ix, leaf, &p);
	return ix_add(ix, i, &p, root, nar, submitter);
}

static void
body_of(uint64_t i, uint8_t body[16])
{
	memset(body, 0, 16);
	memcpy(body, &i, sizeof i);
}

static void
keys_of(uint64_t i, struct ix_keys *k)
{
	uint64_t j = blocks != 0 ? i / blocks : i;

	memset(k, 0, sizeof *k);
	snprintf(k->root, sizeof k->root, "r%u", (unsigned)(j % 3));
	k->nar[0] = (uint8_t)(j % 5);
	k->submitter[0] = i % 4 == 0 ? 9 : 8;
	k->has_submitter = i % 2 == 0;
}

static bool
has_key(uint64_t i, enum ix_which which, const void *key)
{
	struct ix_keys k;

	keys_of(i, &k);
	if (which == IX_BY_ROOT)
		return strcmp(k.root, key) == 0;
	if (which == IX_BY_NAR)
		return memcmp(k.nar, key, 32) == 0;
	return k.has_submitter && memcmp(k.submitter, key, 32) == 0;
}

static int
test_keys(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out)
{
	struct fx *f = arg;
	uint64_t i;

	if (len != 16)
		return CL_EINVAL;
	memcpy(&i, leaf_bytes, sizeof i);
	atomic_fetch_add(&f->keys_calls, 1);
	if (i + 1 == f->bad_keys)
		return ST_ECORRUPT;
	keys_of(i, out);
	return 0;
}

/* The fields ix_search confirms, decoded from the entry: any thread. */
static int
test_fields(void *arg, const uint8_t *leaf_bytes, size_t len, struct ix_keys *out)
{
	uint64_t i;

	(void)arg;
	if (len != 16)
		return CL_EINVAL;
	memcpy(&i, leaf_bytes, sizeof i);
	keys_of(i, out);
	return 0;
}

static void
fx_start(struct fx *f)
{
	char why[256];
	uint64_t size;
	int rc;

	assert_int_equal(st_open(f->dir, (size_t)1 << 30, &f->st, why), 0);
	rc = st_init(f->st, "example.org/log", "example.org/log+12345678+AQ");
	assert_true(rc == 0 || rc == CL_EINVAL); /* new, or initialised before */
	assert_int_equal(edge_new(&f->edge), 0);
	assert_int_equal(edge_load(f->edge, f->st, &size, why), 0);
	atomic_store(&f->keys_calls, 0);
	assert_int_equal(ix_open(f->st, &f->ix, why), 0);
	if (f->tuned)
		assert_int_equal(ix_tune(f->ix, &f->tune), 0);
	assert_int_equal(ix_start(f->ix, test_keys, f, test_fields, f, why), 0);
}

static void
fx_stop(struct fx *f)
{
	ix_close(f->ix);
	edge_free(f->edge);
	st_close(f->st);
	f->ix = NULL;
	f->edge = NULL;
	f->st = NULL;
}

/* Append entries [size, size + n) as the committer does, in one batch;
 * with every batch the tail stays within its bound. */
static void
append_batch(struct fx *f, size_t n)
{
	struct st_batch *b;
	uint64_t size = edge_size(f->edge), upto, tail, idx;

	assert_int_equal(ix_room(f->ix, n), 0);
	assert_int_equal(st_batch_begin(f->st, &b), 0);
	for (uint64_t i = size; i < size + n; i++) {
		uint8_t body[16], leaf[MT_HASH_LEN];
		struct ix_keys k;

		body_of(i, body);
		keys_of(i, &k);
		mt_leaf_hash(leaf, body, sizeof body);
		assert_int_equal(dedup_find(f->ix, b, leaf, &idx), ST_ENOTFOUND);
		assert_int_equal(st_batch_entry_put(b, i, body, sizeof body), 0);
		assert_int_equal(edge_append(f->edge, b, leaf), 0);
		assert_int_equal(
		    tail_add(f->ix, i, leaf, k.root, k.nar, k.has_submitter ? k.submitter : NULL),
		    0);
		/* Found at once, in the same batch. */
		assert_int_equal(dedup_find(f->ix, b, leaf, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(edge_flush(f->edge, b), 0);
	assert_int_equal(st_batch_size_put(b, size + n), 0);
	assert_int_equal(st_batch_commit(b), 0);
	edge_committed(f->edge);
	ix_committed(f->ix, size + n);
	ix_stat(f->ix, &upto, &tail);
	assert_true(upto <= size + n);
	assert_true(tail <= IX_TAIL_MAX);
}

static void drain(struct fx *f);

/* Append n entries in batches of at most f->chunk. */
static void
append(struct fx *f, size_t n)
{
	while (n > 0) {
		size_t k = f->chunk != 0 && n > f->chunk ? f->chunk : n;

		append_batch(f, k);
		if (f->settle)
			drain(f);
		n -= k;
	}
}

/* Wait (generously) until the indexer has taken what it takes: all but
 * fewer than a batch of entries. */
static void
drain(struct fx *f)
{
	size_t batch = f->tuned ? f->tune.batch : IX_BATCH;
	uint64_t upto, tail;

	for (int i = 0; i < 6000; i++) {
		ix_stat(f->ix, &upto, &tail);
		if (tail < batch)
			return;
		usleep(10000);
	}
	fail_msg("the indexer did not catch up");
}

/* Every entry below size (a sample far back, all of the last 600) is found
 * by deduplication and by leaf hash, and nothing else is.  (The batch and
 * the snapshot one after the other: a thread holding a snapshot must not
 * begin a batch, nor the other way round.) */
static void
check_leaves(struct fx *f, uint64_t size)
{
	struct st_batch *b;
	struct st_reader *r;
	uint64_t idx;

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0) {
			assert_int_equal(st_batch_begin(f->st, &b), 0);
		} else {
			assert_int_equal(st_reader_new(f->st, &r), 0);
			assert_int_equal(st_reader_begin(r), 0);
			assert_int_equal(st_reader_size(r), size);
		}
		for (uint64_t i = 0; i < size + 2; i += (i + 600 < size ? 97 : 1)) {
			uint8_t body[16], leaf[MT_HASH_LEN];
			int rc;

			body_of(i, body);
			mt_leaf_hash(leaf, body, sizeof body);
			if (pass == 0)
				rc = dedup_find(f->ix, b, leaf, &idx);
			else
				rc = ix_leaf_find(f->ix, r, leaf, &idx);
			if (i < size) {
				assert_int_equal(rc, 0);
				assert_int_equal(idx, i);
			} else {
				assert_int_equal(rc, ST_ENOTFOUND);
			}
		}
		if (pass == 0) {
			st_batch_abort(b);
		} else {
			st_reader_end(r);
			st_reader_free(r);
		}
	}
}

/* ix_search against the model, paged by `page`, from start, in r. */
static void
check_search(struct fx *f, struct st_reader *r, enum ix_which which, const void *key,
    size_t key_len, uint64_t start, size_t page)
{
	uint64_t size = st_reader_size(r), want = start, out[64];
	size_t n;
	bool more = true;

	assert_true(page <= 64);
	while (more) {
		assert_int_equal(
		    ix_search(f->ix, r, which, key, key_len, start, out, page, &n, &more), 0);
		for (size_t i = 0; i < n; i++) {
			while (want < size && !has_key(want, which, key))
				want++;
			assert_int_equal(out[i], want);
			want++;
		}
		if (more) {
			assert_int_equal(n, page);
			start = out[n - 1] + 1;
		}
	}
	while (want < size && !has_key(want, which, key))
		want++;
	assert_int_equal(want, size); /* nothing left out */
}

static void
check_searches(struct fx *f)
{
	static const uint8_t sub[32] = {9}, sub8[32] = {8}, sub7[32] = {7}, nar2[32] = {2},
	                     nar7[32] = {7};
	struct st_reader *r;
	uint64_t size;

	assert_int_equal(st_reader_new(f->st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	size = st_reader_size(r);
	check_search(f, r, IX_BY_ROOT, "r1", 2, size > 700 ? size - 700 : 0, 64);
	check_search(f, r, IX_BY_NAR, nar2, 32, size > 300 ? size - 300 : 0, 7);
	check_search(f, r, IX_BY_SUBMITTER, sub, 32, size > 500 ? size - 500 : 0, 13);
	check_search(f, r, IX_BY_SUBMITTER, sub8, 32, size > 400 ? size - 400 : 0, 11);
	check_search(f, r, IX_BY_SUBMITTER, sub7, 32, 0, 5); /* no match */
	check_search(f, r, IX_BY_NAR, nar7, 32, 0, 5);       /* no match */
	check_search(f, r, IX_BY_ROOT, "zz", 2, 0, 5);
	st_reader_end(r);
	st_reader_free(r);
}

struct hammer {
	struct fx *f;
	atomic_bool stop;
	size_t lookups, searches;
};

/* One page of ix_search by narHash {k} from start in r, checked exactly:
 * the matches are the indices equal to k mod 5.  NULL, or what is wrong
 * (no cmocka asserts outside the test's thread). */
static const char *
search_probe(struct fx *f, struct st_reader *r, uint64_t start, unsigned k)
{
	uint64_t size = st_reader_size(r), out[8], want = start + (k + 5 - start % 5) % 5;
	uint8_t nar[32] = {(uint8_t)k};
	size_t n;
	bool more;

	if (ix_search(f->ix, r, IX_BY_NAR, nar, 32, start, out, 8, &n, &more) != 0)
		return "a search failed during the hand-over";
	for (size_t i = 0; i < n; i++, want += 5) {
		if (out[i] != want)
			return "a search result was wrong during the hand-over";
	}
	if (n < 8 && want < size)
		return "a search missed results during the hand-over";
	if (more != (n == 8 && want < size))
		return "a search said more wrongly during the hand-over";
	return NULL;
}

/* Look committed entries up without pause while the indexer hands them
 * over: every one must be found. */
static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct st_reader *r;
	uint64_t x = 88172645463325252u;

	if (st_reader_new(h->f->st, &r) != 0)
		return "reader";
	while (!atomic_load(&h->stop)) {
		uint64_t size, i, idx;
		uint8_t body[16], leaf[MT_HASH_LEN];
		int rc;

		if (st_reader_begin(r) != 0) {
			st_reader_free(r);
			return "reader begin";
		}
		size = st_reader_size(r);
		if (size == 0) {
			st_reader_end(r);
			continue;
		}
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Mostly the newest entries: those the hand-over moves. */
		i = x % 4 == 0 ? x % size : size - 1 - (x >> 8) % (size < 40000 ? size : 40000);
		if (x % 3 == 0) {
			const char *bad = search_probe(h->f, r, i, (unsigned)(x >> 40) % 5);

			st_reader_end(r);
			if (bad != NULL) {
				st_reader_free(r);
				return (void *)bad;
			}
			h->searches++;
			continue;
		}
		body_of(i, body);
		mt_leaf_hash(leaf, body, sizeof body);
		rc = ix_leaf_find(h->f->ix, r, leaf, &idx);
		st_reader_end(r);
		if (rc != 0 || idx != i) {
			st_reader_free(r);
			return "an entry was not found during the hand-over";
		}
		h->lookups++;
	}
	st_reader_free(r);
	return NULL;
}

static void *
append50_main(void *arg)
{
	append(arg, 50);
	return NULL;
}

/* Appends in steps of many sizes, each checked at once (the tail holds
 * the newest) and, every third, once indexed, with a second thread
 * looking entries up and searching without pause all the while. */
static void
model(struct fx *f)
{
	static const size_t steps[] = {1, 300, 20000, 5, 17000, 65536, 65536, 65536, 3, 12000};
	struct hammer h = {f, false, 0, 0};
	pthread_t t;
	void *res;
	uint64_t size = 0;

	h_tmpdir(f->dir, sizeof f->dir);
	fx_start(f);
	assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		struct st_reader *old;

		append(f, steps[s]);
		size += steps[s];
		check_leaves(f, size);
		check_searches(f);
		if (s % 3 == 1) {
			drain(f);
			check_leaves(f, size);
			check_searches(f);
		}
		/* A snapshot sees nothing appended after it (by another
		 * thread, as the committer would). */
		assert_int_equal(st_reader_new(f->st, &old), 0);
		assert_int_equal(st_reader_begin(old), 0);
		{
			pthread_t w;

			assert_int_equal(pthread_create(&w, NULL, append50_main, f), 0);
			assert_int_equal(pthread_join(w, NULL), 0);
		}
		size += 50;
		check_search(f, old, IX_BY_ROOT, "r2", 2,
		    st_reader_size(old) > 40 ? st_reader_size(old) - 40 : 0, 64);
		{
			uint8_t body[16], leaf[MT_HASH_LEN];
			uint64_t idx;

			body_of(size - 1, body);
			mt_leaf_hash(leaf, body, sizeof body);
			assert_int_equal(ix_leaf_find(f->ix, old, leaf, &idx), ST_ENOTFOUND);
		}
		st_reader_end(old);
		st_reader_free(old);
	}
	atomic_store(&h.stop, true);
	assert_int_equal(pthread_join(t, &res), 0);
	if (res != NULL)
		fail_msg("%s", (char *)res);
	assert_true(h.lookups > 0 && h.searches > 0);
	print_message("  %llu entries, %zu lookups and %zu searches during the hand-over\n",
	    (unsigned long long)size, h.lookups, h.searches);
	assert_int_equal(ix_room(f->ix, IX_TAIL_MAX + 1), CL_EINVAL);
	assert_int_equal(
	    ix_search(f->ix, NULL, IX_BY_NAR, "short", 5, 0, NULL, 1, &(size_t){0}, &(bool){false}),
	    CL_EINVAL);
	/* Started: too late to tune. */
	assert_int_equal(ix_tune(f->ix, &f->tune), CL_EINVAL);
	fx_stop(f);
	h_rmrf(f->dir);
}

static void
test_model(void **state)
{
	struct fx f = {0};

	(void)state;
	f.tune = (struct ix_tune){IX_BATCH, IX_FANOUT, IX_STEP, NULL, NULL, 0};
	model(&f);
}

/* The same with small runs and merge steps: lookups and searches stay
 * exact, ascending and paged across many flushes, merges and swaps (the
 * hammer's read transactions straddle them), deduplication strict across
 * the runs and the tail.  The indexer catches up after each batch, so its
 * runs stay small and merge (a fast appender would have it flush all as a
 * few large runs, and merge next to nothing). */
static void
test_model_merges(void **state)
{
	struct fx f = {0};

	(void)state;
	fx_small(&f, 1000, 5000);
	f.chunk = 700;
	f.settle = true;
	model(&f);
	print_message("  %zu runs, %zu merge steps, %zu swaps\n",
	    atomic_load(&f.commits[IX_COMMIT_RUN]), atomic_load(&f.commits[IX_COMMIT_STEP]),
	    atomic_load(&f.commits[IX_COMMIT_SWAP]));
	assert_true(atomic_load(&f.commits[IX_COMMIT_STEP]) > 10);
	assert_true(atomic_load(&f.commits[IX_COMMIT_SWAP]) > 10);
}

/* Every search of the model's keys, from the start and from the middle,
 * against the model. */
static void
check_all_searches(struct fx *f)
{
	static const char *roots[] = {"r0", "r1", "r2", "zz"};
	struct st_reader *r;
	uint64_t size;

	assert_int_equal(st_reader_new(f->st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	size = st_reader_size(r);
	for (unsigned k = 0; k < 4; k++) {
		check_search(f, r, IX_BY_ROOT, roots[k], 2, 0, 13);
		check_search(f, r, IX_BY_ROOT, roots[k], 2, size / 2, 64);
	}
	for (unsigned k = 0; k < 8; k++) {
		uint8_t key[32] = {(uint8_t)k};

		check_search(f, r, IX_BY_NAR, key, 32, 0, 11);
		check_search(f, r, IX_BY_NAR, key, 32, size / 3, 64);
		key[0] = (uint8_t)(6 + k);
		check_search(f, r, IX_BY_SUBMITTER, key, 32, 0, 17);
		check_search(f, r, IX_BY_SUBMITTER, key, 32, size / 2 + 1, 64);
	}
	st_reader_end(r);
	st_reader_free(r);
}

/* Keys hashed to no bit at all (ix_tune.hash_drop): every leaf, root and
 * narHash key collides with every other (then to one bit: with about half
 * of them).  Searches stay exact,
 * ascending and paged (a candidate counts only once the entry confirms
 * it, or, for a run whose records of that value are unmarked, one of them
 * does), deduplication strict (append_batch: each new entry, colliding
 * with hundreds, is not found and is appended, then found at its index;
 * check_leaves: every identical entry gets its index back), in the tail,
 * in runs and merges, and from the runs after a restart.  With keys by
 * blocks of entries: of 37, most runs (of 100) mark their collisions
 * themselves; of 300, each run holds one key per value, another run the
 * same value of another key, and only their merge can mark it. */
static void
collisions(uint64_t b)
{
	struct fx f = {0};

	blocks = b;
	h_tmpdir(f.dir, sizeof f.dir);
	fx_small(&f, 100, 300);
	f.tune.hash_drop = 32;
	f.chunk = 100;
	f.settle = true;
	fx_start(&f);
	/* Checked as runs are made and merged, not only at the end. */
	for (uint64_t n = 0; n < 1050;) {
		size_t k = n + 100 <= 1050 ? 100 : (size_t)(1050 - n);

		append(&f, k);
		n += k;
		check_leaves(&f, n);
		check_all_searches(&f);
	}
	fx_stop(&f);
	assert_true(atomic_load(&f.commits[IX_COMMIT_SWAP]) > 2);
	fx_start(&f); /* all of it from the runs now */
	assert_int_equal(f.keys_calls, 0);
	check_leaves(&f, 1050);
	check_all_searches(&f);
	append(&f, 7);
	check_leaves(&f, 1057);
	check_all_searches(&f);
	fx_stop(&f);
	/* Written with other bits: rebuilt, not misread. */
	f.tune.hash_drop = 31;
	fx_start(&f);
	assert_int_equal(f.keys_calls, 1057);
	check_leaves(&f, 1057);
	check_all_searches(&f);
	fx_stop(&f);
	h_rmrf(f.dir);
	blocks = 0;
}

static void
test_collisions(void **state)
{
	(void)state;
	collisions(0);
	collisions(37);
	collisions(300);
}

/* A bad tune is refused. */
static void
test_tune(void **state)
{
	static const struct ix_tune bad[] = {
	    {0, 8, 100, NULL, NULL, 0},
	    {IX_TAIL_MAX + 1, 8, 100, NULL, NULL, 0},
	    {100, 1, 100, NULL, NULL, 0},
	    {100, 17, 100, NULL, NULL, 0},
	    {100, 8, 0, NULL, NULL, 0},
	    {100, 8, 100, NULL, NULL, 33},
	};
	struct fx f = {0};
	char why[256];

	(void)state;
	h_tmpdir(f.dir, sizeof f.dir);
	assert_int_equal(st_open(f.dir, (size_t)1 << 30, &f.st, why), 0);
	assert_int_equal(st_init(f.st, "example.org/log", "example.org/log+12345678+AQ"), 0);
	assert_int_equal(ix_open(f.st, &f.ix, why), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(ix_tune(f.ix, &bad[i]), CL_EINVAL);
	ix_close(f.ix);
	st_close(f.st);
	h_rmrf(f.dir);
}

/* A crash right after any commit of a rebuild that writes runs and merges
 * them (the child ends there: nothing after it is written, nothing is
 * closed): the next start accepts what is on disk, indexing only what it
 * lacks (never a rebuild), finishes the merges, and answers exactly. */
static void
test_crash(void **state)
{
	enum { N = 2000 };
	struct fx f;
	char path[700];
	size_t total = 0;

	(void)state;
	memset(&f, 0, sizeof f);
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	append(&f, N);
	fx_stop(&f);
	snprintf(path, sizeof path, "%s/search", f.dir);
	/* How many commits a whole rebuild makes. */
	h_rmrf(path);
	fx_small(&f, 50, 400);
	fx_start(&f);
	fx_stop(&f);
	for (int i = 0; i <= IX_COMMIT_SWAP; i++)
		total += atomic_load(&f.commits[i]);
	assert_true(atomic_load(&f.commits[IX_COMMIT_STEP]) > 3);
	assert_true(atomic_load(&f.commits[IX_COMMIT_SWAP]) > 2);
	for (size_t k = 1; k <= total; k++) {
		int status;
		pid_t pid;

		h_rmrf(path);
		for (int i = 0; i <= IX_COMMIT_SWAP; i++)
			atomic_store(&f.commits[i], 0);
		f.exit_at = k;
		fflush(NULL);
		assert_true((pid = fork()) >= 0);
		if (pid == 0) {
			/* (No cmocka asserts in the child.) */
			char why[256];

			if (st_open(f.dir, (size_t)1 << 30, &f.st, why) == 0 &&
			    ix_open(f.st, &f.ix, why) == 0 && ix_tune(f.ix, &f.tune) == 0 &&
			    ix_start(f.ix, test_keys, &f, test_fields, &f, why) != 0)
				_exit(4);
			_exit(3); /* the crash did not come */
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("the child did not stop at commit %zu", k);
		f.exit_at = 0;
		fx_start(&f);
		if (f.keys_calls >= N)
			fail_msg("rebuilt after a crash at commit %zu", k);
		check_leaves(&f, N);
		check_searches(&f);
		fx_stop(&f);
	}
	print_message("  a crash after each of %zu commits\n", total);
	h_rmrf(f.dir);
}

/* A reader whose snapshot predates merges and their swaps (the runs it
 * was answered from are gone, their slots reused): its answers are still
 * exact for its snapshot, nothing past it. */
static void
test_reader_across_swaps(void **state)
{
	static const uint8_t sub[32] = {9};
	struct fx f = {0};
	struct st_reader *r;
	uint64_t size, idx, total = 1000;
	size_t swaps;

	(void)state;
	h_tmpdir(f.dir, sizeof f.dir);
	fx_small(&f, 100, 200);
	f.chunk = 100;
	fx_start(&f);
	append(&f, 1000);
	drain(&f);
	assert_int_equal(st_reader_new(f.st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	size = st_reader_size(r);
	swaps = atomic_load(&f.commits[IX_COMMIT_SWAP]);
	/* A few batches at a time, the indexer caught up after each, so that
	 * its runs stay small (a fast appender would have it flush everything
	 * as one run, and merge nothing), until three merges have swapped. */
	while (atomic_load(&f.commits[IX_COMMIT_SWAP]) < swaps + 3) {
		if (total >= 50000)
			fail_msg("no three merge swaps in %llu entries", (unsigned long long)total);
		append(&f, 300);
		total += 300;
		drain(&f);
	}
	check_search(&f, r, IX_BY_ROOT, "r0", 2, 0, 64);
	check_search(&f, r, IX_BY_SUBMITTER, sub, 32, size / 2, 9);
	for (uint64_t i = 0; i < size + 300; i += 7) {
		uint8_t body[16], leaf[MT_HASH_LEN];

		body_of(i, body);
		mt_leaf_hash(leaf, body, sizeof body);
		if (i < size) {
			assert_int_equal(ix_leaf_find(f.ix, r, leaf, &idx), 0);
			assert_int_equal(idx, i);
		} else {
			assert_int_equal(ix_leaf_find(f.ix, r, leaf, &idx), ST_ENOTFOUND);
		}
	}
	st_reader_end(r);
	st_reader_free(r);
	check_leaves(&f, total);
	check_searches(&f);
	fx_stop(&f);
	h_rmrf(f.dir);
}

/* A batch that failed: its entries are dropped from the tail, and the same
 * indices can be used again. */
static void
test_rollback(void **state)
{
	struct fx f = {0};
	struct st_batch *b;
	uint8_t body[16], leaf[MT_HASH_LEN];
	struct ix_keys k;
	uint64_t idx;

	(void)state;
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	append(&f, 10);
	assert_int_equal(st_batch_begin(f.st, &b), 0);
	for (uint64_t i = 10; i < 20; i++) {
		body_of(i, body);
		keys_of(i, &k);
		mt_leaf_hash(leaf, body, sizeof body);
		assert_int_equal(tail_add(f.ix, i, leaf, k.root, k.nar, NULL), 0);
	}
	/* The tail refuses an index that is not its next one. */
	assert_int_equal(tail_add(f.ix, 30, leaf, k.root, k.nar, NULL), ST_ECORRUPT);
	assert_int_equal(dedup_find(f.ix, b, leaf, &idx), 0);
	st_batch_abort(b);
	ix_rollback(f.ix);
	assert_int_equal(st_batch_begin(f.st, &b), 0);
	assert_int_equal(dedup_find(f.ix, b, leaf, &idx), ST_ENOTFOUND);
	st_batch_abort(b);
	append(&f, 10); /* entries 10..19 for real */
	check_leaves(&f, 20);
	check_searches(&f);
	fx_stop(&f);
	h_rmrf(f.dir);
}

/* Raw access to a closed search environment. */
static void
raw_meta_put(const char *dir, const char *key, const void *val, size_t len)
{
	char path[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;

	snprintf(path, sizeof path, "%s/search", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_put(txn, meta, &(MDB_val){strlen(key), (void *)key},
	                     &(MDB_val){len, (void *)val}, 0),
	    0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Make database `name` (DUPSORT, one record) in a closed search
 * environment, as another layout would have it. */
static void
raw_db_put(const char *dir, const char *name)
{
	char path[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi d;

	snprintf(path, sizeof path, "%s/search", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, name, MDB_CREATE | MDB_DUPSORT, &d), 0);
	assert_int_equal(
	    mdb_put(txn, d, &(MDB_val){8, "12345678"}, &(MDB_val){8, "00000001"}, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static bool
raw_db_exists(const char *dir, const char *name)
{
	char path[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi d;
	int rc;

	snprintf(path, sizeof path, "%s/search", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	rc = mdb_dbi_open(txn, name, 0, &d);
	assert_true(rc == 0 || rc == MDB_NOTFOUND);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0;
}

/* The manifest of a closed search environment. */
static void
raw_runs_get(const char *dir, struct ixr_set *runs)
{
	char path[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val v, u;

	snprintf(path, sizeof path, "%s/search", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_get(txn, meta, &(MDB_val){4, "upto"}, &u), 0);
	assert_int_equal(u.mv_size, 8);
	assert_int_equal(mdb_get(txn, meta, &(MDB_val){4, "runs"}, &v), 0);
	assert_int_equal(ixr_decode(v.mv_data, v.mv_size, cl_be64_get(u.mv_data), runs), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Cut the last byte off the first block of the first run of a closed
 * search environment (its leaf keys: read at every start). */
static void
raw_block_damage(const char *dir)
{
	char path[700], name[8];
	uint8_t key[64], val[4096];
	struct ixr_set runs;
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_dbi d;
	MDB_val k, v;

	raw_runs_get(dir, &runs);
	assert_true(runs.n >= 1);
	snprintf(path, sizeof path, "%s/search", dir);
	snprintf(name, sizeof name, "run%02u", (unsigned)runs.run[0].slot);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, name, 0, &d), 0);
	assert_int_equal(mdb_cursor_open(txn, d, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_true(k.mv_size <= sizeof key && v.mv_size <= sizeof val && v.mv_size > 1);
	memcpy(key, k.mv_data, k.mv_size);
	memcpy(val, v.mv_data, v.mv_size);
	mdb_cursor_close(c);
	k.mv_data = key;
	v.mv_data = val;
	v.mv_size--;
	assert_int_equal(mdb_put(txn, d, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
file_copy(const char *from, const char *to)
{
	size_t len;
	uint8_t *data = h_read(from, &len);

	h_write(to, data, len);
	free(data);
}

static void
copy_search(const char *dir, const char *to)
{
	char a[700], b[700];

	snprintf(a, sizeof a, "%s/search/data.mdb", dir);
	snprintf(b, sizeof b, "%s/data.mdb", to);
	file_copy(a, b);
}

static void
restore_search(const char *dir, const char *from)
{
	char a[700], b[700];

	snprintf(a, sizeof a, "%s/data.mdb", from);
	snprintf(b, sizeof b, "%s/search/data.mdb", dir);
	file_copy(a, b);
}

static void
test_restart(void **state)
{
	struct fx f = {0};
	char saved[600], path[700];
	uint8_t b8[8], junk[MT_HASH_LEN] = {1}, man[IXR_MAX];
	struct ixr_set runs;
	uint64_t behind;
	size_t len;

	(void)state;
	h_tmpdir(f.dir, sizeof f.dir);
	snprintf(saved, sizeof saved, "%s/saved", f.dir);
	assert_int_equal(mkdir(saved, 0700), 0);
	fx_start(&f);
	append(&f, 20000);
	drain(&f);
	fx_stop(&f);
	/* ix_close indexed everything: nothing to catch up. */
	fx_start(&f);
	assert_int_equal(f.keys_calls, 0);
	fx_stop(&f);
	/* Behind the log, as a power cut leaves it: only the rest is read. */
	copy_search(f.dir, saved);
	fx_start(&f);
	append(&f, 3000);
	fx_stop(&f);
	restore_search(f.dir, saved);
	fx_start(&f);
	assert_int_equal(f.keys_calls, 3000);
	check_leaves(&f, 23000);
	check_searches(&f);
	fx_stop(&f);
	behind = 23000;

	/* Ahead of the log (an older main store put back), for another tree,
	 * missing, a damaged file, another layout, a manifest that does not
	 * decode, or a damaged block of keys: rebuilt from every entry. */
	for (int c = 0; c < 9; c++) {
		if (c == 0) {
			raw_runs_get(f.dir, &runs);
			runs.run[runs.n - 1].to = behind + 5;
			cl_be64_put(b8, behind + 5);
			raw_meta_put(f.dir, "upto", b8, 8);
			raw_meta_put(f.dir, "runs", man, ixr_encode(&runs, man));
		} else if (c == 1) {
			raw_meta_put(f.dir, "root", junk, sizeof junk);
		} else if (c == 2) {
			snprintf(path, sizeof path, "%s/search", f.dir);
			h_rmrf(path);
		} else if (c == 3) {
			snprintf(path, sizeof path, "%s/search/data.mdb", f.dir);
			assert_int_equal(truncate(path, 100), 0);
		} else if (c == 4) {
			/* Layout 1: one DUPSORT B-tree per key. */
			cl_be64_put(b8, 1);
			raw_meta_put(f.dir, "layout", b8, 8);
			raw_db_put(f.dir, "leaf");
			raw_db_put(f.dir, "by_root");
		} else if (c == 5) {
			/* Layout 2: runs of full keys (41 bytes), which this layout
			 * would misread. */
			cl_be64_put(b8, 2);
			raw_meta_put(f.dir, "layout", b8, 8);
		} else if (c == 6) {
			/* A manifest that does not decode. */
			raw_runs_get(f.dir, &runs);
			assert_true(runs.n >= 1);
			len = ixr_encode(&runs, man);
			raw_meta_put(f.dir, "runs", man, len - 1);
		} else if (c == 7) {
			/* Layout 3: a record per key, which this layout would
			 * misread. */
			cl_be64_put(b8, 3);
			raw_meta_put(f.dir, "layout", b8, 8);
		} else {
			raw_block_damage(f.dir);
		}
		fx_start(&f);
		assert_int_equal(f.keys_calls, behind);
		check_leaves(&f, behind);
		check_searches(&f);
		fx_stop(&f);
		if (c == 4) {
			/* Its databases are gone, not left to take space. */
			assert_false(raw_db_exists(f.dir, "leaf"));
			assert_false(raw_db_exists(f.dir, "by_root"));
			assert_true(raw_db_exists(f.dir, "run00"));
		}
	}
	h_rmrf(f.dir);
}

/* A reader whose snapshot is older than the search store's upto: an entry
 * past the snapshot, already trimmed from the tail, is not found. */
static void
test_stale_reader(void **state)
{
	struct fx f;
	struct st_reader *r;
	uint64_t idx = 777777, upto = 0, tail;
	uint8_t body[16], leaf[MT_HASH_LEN];

	(void)state;
	memset(&f, 0, sizeof f);
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	append(&f, 10);
	assert_int_equal(st_reader_new(f.st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(st_reader_size(r), 10);
	for (int k = 0; k < 3; k++)
		append(&f, IX_BATCH);
	for (int i = 0; i < 60000 && upto <= 10 + IX_BATCH; i++) {
		ix_stat(f.ix, &upto, &tail);
		usleep(10000);
	}
	assert_true(upto > 10 + IX_BATCH);
	body_of(15, body); /* past r's snapshot, in the search store now */
	mt_leaf_hash(leaf, body, sizeof body);
	assert_int_equal(ix_leaf_find(f.ix, r, leaf, &idx), ST_ENOTFOUND);
	assert_int_equal(idx, 777777);
	body_of(5, body); /* in the snapshot */
	mt_leaf_hash(leaf, body, sizeof body);
	assert_int_equal(ix_leaf_find(f.ix, r, leaf, &idx), 0);
	assert_int_equal(idx, 5);
	st_reader_end(r);
	st_reader_free(r);
	fx_stop(&f);
	h_rmrf(f.dir);
}

/* A batch that fits only once the indexer writes a run shorter than
 * IX_BATCH gets its room (it used to wait for ever). */
static void
test_room_short_run(void **state)
{
	struct fx f;

	(void)state;
	memset(&f, 0, sizeof f);
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	append(&f, IX_BATCH - 1);
	assert_int_equal(ix_room(f.ix, IX_TAIL_MAX - IX_BATCH + 2), 0);
	fx_stop(&f);
	h_rmrf(f.dir);
}

/* An entry whose search keys cannot be read (it parsed when it was
 * stored; a parser change, say) does not stop the rebuild: it is found by
 * its leaf hash, not by search, and every other entry is indexed.  With
 * full and with no-bit key hashes (its leaf key colliding with all the
 * others: still a strict duplicate, never a search result), read by
 * several threads. */
static void
unreadable_keys(unsigned drop)
{
	static const uint8_t nar2[32] = {2};
	struct fx f;
	struct st_reader *r;
	char path[700];
	uint64_t out[64];
	size_t n;
	bool more, seen[3] = {false};

	memset(&f, 0, sizeof f);
	h_tmpdir(f.dir, sizeof f.dir);
	f.tuned = true;
	/* Runs of 15 entries: the rebuild reads keys in a thread per core. */
	f.tune = (struct ix_tune){5, 3, 100, NULL, NULL, drop};
	fx_start(&f);
	append(&f, 50);
	fx_stop(&f);
	snprintf(path, sizeof path, "%s/search", f.dir);
	h_rmrf(path);
	f.bad_keys = 7 + 1; /* root "r1", narHash {2} */
	fx_start(&f);
	assert_int_equal(f.keys_calls, 50);
	check_leaves(&f, 50);
	assert_int_equal(st_reader_new(f.st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(ix_search(f.ix, r, IX_BY_NAR, nar2, 32, 0, out, 64, &n, &more), 0);
	assert_false(more);
	assert_int_equal(n, 9); /* 2, 12, ..., 47 but not 7 */
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(out[i], 7);
		assert_int_equal(out[i] % 5, 2);
	}
	assert_int_equal(ix_search(f.ix, r, IX_BY_ROOT, "r1", 2, 0, out, 64, &n, &more), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(out[i], 7);
		seen[0] |= out[i] == 4;
		seen[1] |= out[i] == 10;
	}
	assert_true(seen[0] && seen[1]);
	st_reader_end(r);
	st_reader_free(r);
	/* The log goes on past it, and the entry is still a duplicate. */
	append(&f, 5);
	check_leaves(&f, 55);
	fx_stop(&f);
	h_rmrf(f.dir);
}

static void
test_unreadable_keys(void **state)
{
	(void)state;
	unreadable_keys(0);
	unreadable_keys(32);
}

/* Damage found only while starting (a run holding entries past its range),
 * after the
 * server dropped root for --user: the index is rebuilt in place (it was:
 * its files unlinked in root's DIR/search, EACCES, the server refused to
 * start).  Needs root and a "nobody" user, as CI has. */
static void
test_repair_unprivileged(void **state)
{
	struct passwd *pw = getpwnam("nobody");
	struct fx f;
	struct st_reader *r;
	struct ixr_set runs;
	uint8_t root[MT_HASH_LEN], b8[8], man[IXR_MAX];
	int status;
	pid_t pid;

	(void)state;
	if (getuid() != 0 || pw == NULL)
		skip();
	memset(&f, 0, sizeof f);
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	append(&f, 100);
	assert_int_equal(st_reader_new(f.st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	assert_int_equal(mt_root_at(60, st_node_read, r, root), 0);
	st_reader_end(r);
	st_reader_free(r);
	fx_stop(&f);
	/* It says it has [0, 60) (the right root there, one run) but its run
	 * holds [0, 100): found only when the run is read. */
	raw_runs_get(f.dir, &runs);
	assert_int_equal(runs.n, 1);
	runs.run[0].to = 60;
	cl_be64_put(b8, 60);
	raw_meta_put(f.dir, "upto", b8, 8);
	raw_meta_put(f.dir, "root", root, sizeof root);
	raw_meta_put(f.dir, "runs", man, ixr_encode(&runs, man));
	fflush(NULL);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		/* As closurelogd: opened as root, started as the user.  (No
		 * cmocka asserts in the child.) */
		char why[256];
		int rc = 1;

		if (st_open(f.dir, (size_t)1 << 30, &f.st, why) == 0 &&
		    ix_open(f.st, &f.ix, why) == 0 && setgid(pw->pw_gid) == 0 &&
		    setuid(pw->pw_uid) == 0) {
			rc = ix_start(f.ix, test_keys, &f, test_fields, &f, why);
			if (rc != 0)
				fprintf(stderr, "index_test: %s\n", why);
			ix_close(f.ix);
		}
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fx_start(&f);
	assert_int_equal(f.keys_calls, 0); /* rebuilt, all of it, by the child */
	check_leaves(&f, 100);
	check_searches(&f);
	fx_stop(&f);
	h_rmrf(f.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_model_merges),
	    cmocka_unit_test(test_collisions),
	    cmocka_unit_test(test_tune),
	    cmocka_unit_test(test_crash),
	    cmocka_unit_test(test_reader_across_swaps),
	    cmocka_unit_test(test_rollback),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_stale_reader),
	    cmocka_unit_test(test_room_short_run),
	    cmocka_unit_test(test_unreadable_keys),
	    cmocka_unit_test(test_repair_unprivileged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
