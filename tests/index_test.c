/*
 * index_test.c: the search indexes (server/index.c) over a real store, fed
 * the way the committer feeds them.  Against a naive model: deduplication
 * and leaf lookups find every entry at its index, on either side of the
 * hand-over from the tail to the search environment, while the indexer
 * runs and a second thread looks entries up without pause (a trim before
 * the search commit is visible, or a lookup that reads them in the wrong
 * order, would lose one); search results are exact, ascending, paged, and
 * never past the reader's snapshot; the tail never holds more than
 * IX_TAIL_MAX entries.  A rolled-back batch is forgotten.  At start, a
 * search environment behind the log (a power cut) is caught up with only
 * the missing entries; one that is missing, ahead of the log, for another
 * tree, or a damaged file, is rebuilt.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "cl.h"
#include "edge.h"
#include "harness.h"
#include "index.h"
#include "store.h"
#include "testutil.h"

struct fx {
	char dir[512];
	struct st *st;
	struct ix *ix;
	struct edge *edge;
	size_t keys_calls;
};

/* Entry i: 16 bytes holding i; its keys: root "r<i % 3>", narHash {i % 5},
 * submitter {9} for even i only. */
static void
body_of(uint64_t i, uint8_t body[16])
{
	memset(body, 0, 16);
	memcpy(body, &i, sizeof i);
}

static void
keys_of(uint64_t i, struct ix_keys *k)
{
	memset(k, 0, sizeof *k);
	snprintf(k->root, sizeof k->root, "r%u", (unsigned)(i % 3));
	k->nar[0] = (uint8_t)(i % 5);
	k->submitter[0] = 9;
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
	keys_of(i, out);
	f->keys_calls++;
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
	f->keys_calls = 0;
	assert_int_equal(ix_open(f->st, &f->ix, why), 0);
	assert_int_equal(ix_start(f->ix, test_keys, f, why), 0);
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

/* Append entries [size, size + n) as the committer does; with every batch
 * the tail stays within its bound. */
static void
append(struct fx *f, size_t n)
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
		assert_int_equal(ix_dedup_find(f->ix, b, leaf, &idx), ST_ENOTFOUND);
		assert_int_equal(st_batch_entry_put(b, i, body, sizeof body), 0);
		assert_int_equal(edge_append(f->edge, b, leaf), 0);
		ix_add(f->ix, i, leaf, k.root, k.nar, k.has_submitter ? k.submitter : NULL);
		/* Found at once, in the same batch. */
		assert_int_equal(ix_dedup_find(f->ix, b, leaf, &idx), 0);
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

/* Wait (generously) until the indexer has taken what it takes: all but
 * fewer than IX_BATCH entries. */
static void
drain(struct fx *f)
{
	uint64_t upto, tail;

	for (int i = 0; i < 6000; i++) {
		ix_stat(f->ix, &upto, &tail);
		if (tail < IX_BATCH)
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
				rc = ix_dedup_find(f->ix, b, leaf, &idx);
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
	static const uint8_t sub[32] = {9}, nar2[32] = {2}, nar7[32] = {7};
	struct st_reader *r;
	uint64_t size;

	assert_int_equal(st_reader_new(f->st, &r), 0);
	assert_int_equal(st_reader_begin(r), 0);
	size = st_reader_size(r);
	check_search(f, r, IX_BY_ROOT, "r1", 2, size > 700 ? size - 700 : 0, 64);
	check_search(f, r, IX_BY_NAR, nar2, 32, size > 300 ? size - 300 : 0, 7);
	check_search(f, r, IX_BY_SUBMITTER, sub, 32, size > 500 ? size - 500 : 0, 13);
	check_search(f, r, IX_BY_NAR, nar7, 32, 0, 5); /* no match */
	check_search(f, r, IX_BY_ROOT, "zz", 2, 0, 5);
	st_reader_end(r);
	st_reader_free(r);
}

struct hammer {
	struct fx *f;
	atomic_bool stop;
	size_t lookups;
};

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

static void
test_model(void **state)
{
	static const size_t steps[] = {1, 300, 20000, 5, 17000, 65536, 65536, 65536, 3, 12000};
	struct fx f = {0};
	struct hammer h = {&f, false, 0};
	pthread_t t;
	void *res;
	uint64_t size = 0;

	(void)state;
	h_tmpdir(f.dir, sizeof f.dir);
	fx_start(&f);
	assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		struct st_reader *old;

		append(&f, steps[s]);
		size += steps[s];
		/* At once (the tail holds the newest), then once indexed. */
		check_leaves(&f, size);
		check_searches(&f);
		if (s % 3 == 1) {
			drain(&f);
			check_leaves(&f, size);
			check_searches(&f);
		}
		/* A snapshot sees nothing appended after it (by another
		 * thread, as the committer would). */
		assert_int_equal(st_reader_new(f.st, &old), 0);
		assert_int_equal(st_reader_begin(old), 0);
		{
			pthread_t w;

			assert_int_equal(pthread_create(&w, NULL, append50_main, &f), 0);
			assert_int_equal(pthread_join(w, NULL), 0);
		}
		size += 50;
		check_search(&f, old, IX_BY_ROOT, "r2", 2,
		    st_reader_size(old) > 40 ? st_reader_size(old) - 40 : 0, 64);
		{
			uint8_t body[16], leaf[MT_HASH_LEN];
			uint64_t idx;

			body_of(size - 1, body);
			mt_leaf_hash(leaf, body, sizeof body);
			assert_int_equal(ix_leaf_find(f.ix, old, leaf, &idx), ST_ENOTFOUND);
		}
		st_reader_end(old);
		st_reader_free(old);
	}
	atomic_store(&h.stop, true);
	assert_int_equal(pthread_join(t, &res), 0);
	if (res != NULL)
		fail_msg("%s", (char *)res);
	assert_true(h.lookups > 0);
	print_message("  %llu entries, %zu lookups during the hand-over\n",
	    (unsigned long long)size, h.lookups);
	assert_int_equal(ix_room(f.ix, IX_TAIL_MAX + 1), CL_EINVAL);
	assert_int_equal(
	    ix_search(f.ix, NULL, IX_BY_NAR, "short", 5, 0, NULL, 1, &(size_t){0}, &(bool){false}),
	    CL_EINVAL);
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
		ix_add(f.ix, i, leaf, k.root, k.nar, NULL);
	}
	assert_int_equal(ix_dedup_find(f.ix, b, leaf, &idx), 0);
	st_batch_abort(b);
	ix_rollback(f.ix);
	assert_int_equal(st_batch_begin(f.st, &b), 0);
	assert_int_equal(ix_dedup_find(f.ix, b, leaf, &idx), ST_ENOTFOUND);
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
	uint8_t b8[8], junk[MT_HASH_LEN] = {1};
	uint64_t behind;

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
	 * missing, or a damaged file: rebuilt from every entry. */
	for (int c = 0; c < 4; c++) {
		if (c == 0) {
			cl_be64_put(b8, behind + 5);
			raw_meta_put(f.dir, "upto", b8, 8);
		} else if (c == 1) {
			raw_meta_put(f.dir, "root", junk, sizeof junk);
		} else if (c == 2) {
			snprintf(path, sizeof path, "%s/search", f.dir);
			h_rmrf(path);
		} else {
			snprintf(path, sizeof path, "%s/search/data.mdb", f.dir);
			assert_int_equal(truncate(path, 100), 0);
		}
		fx_start(&f);
		assert_int_equal(f.keys_calls, behind);
		check_leaves(&f, behind);
		check_searches(&f);
		fx_stop(&f);
	}
	h_rmrf(f.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_rollback),
	    cmocka_unit_test(test_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
