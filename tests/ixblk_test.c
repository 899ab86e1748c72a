/*
 * ixblk_test.c: search runs' key blocks (server/ixblk.c).  Differential:
 * random sorted key sets, written through a writer (with flushes in the
 * middle, as merge steps make them, and an `after` key), read back whole
 * and sought at random keys, against a naive lower bound over the same
 * keys.  Negative: keys put out of order or not above `after` are refused
 * with nothing written; a damaged block (bit flips in its first key or its
 * order, a truncated value, an empty one, one too long, blocks that
 * overlap) is ST_ECORRUPT to every cursor that reaches it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "cl.h"
#include "harness.h"
#include "ixblk.h"
#include "store.h"
#include "testutil.h"

struct env {
	char dir[4096];
	MDB_env *env;
	MDB_dbi dbi;
};

static void
env_up(struct env *e)
{
	MDB_txn *txn;

	h_tmpdir(e->dir, sizeof e->dir);
	assert_int_equal(mdb_env_create(&e->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(e->env, 2), 0);
	assert_int_equal(mdb_env_set_mapsize(e->env, (size_t)1 << 28), 0);
	assert_int_equal(mdb_env_open(e->env, e->dir, MDB_NOSYNC, 0600), 0);
	assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "run", MDB_CREATE, &e->dbi), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
env_down(struct env *e)
{
	mdb_env_close(e->env);
	h_rmrf(e->dir);
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, IXB_KEY);
}

/* Up to n distinct random keys, sorted, their number into *got; few
 * distinct first bytes, so that prefixes repeat. */
static uint8_t (*keys_make(size_t n, unsigned seed, size_t *got))[IXB_KEY]
{
	uint8_t(*k)[IXB_KEY] = malloc((n + 1) * IXB_KEY);
	size_t m = 0;

	assert_non_null(k);
	srand(seed);
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < IXB_KEY; j++)
			k[i][j] = (uint8_t)rand();
		k[i][0] &= 3;
	}
	qsort(k, n, IXB_KEY, cmp_key);
	for (size_t i = 0; i < n; i++) {
		if (m == 0 || memcmp(k[m - 1], k[i], IXB_KEY) != 0)
			memmove(k[m++], k[i], IXB_KEY);
	}
	*got = m;
	return k;
}

/* Write keys [0, n) in transactions of `per` keys each (the writer
 * re-made each time after the run's last key, as a merge step does). */
static void
write_keys(struct env *e, const uint8_t (*k)[IXB_KEY], size_t n, size_t per)
{
	struct ixb_writer *w = malloc(sizeof *w);

	assert_non_null(w);
	for (size_t at = 0; at < n;) {
		MDB_txn *txn;
		MDB_cursor *c;

		assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
		assert_int_equal(mdb_cursor_open(txn, e->dbi, &c), 0);
		ixb_writer_init(w, c, at > 0 ? k[at - 1] : NULL);
		for (size_t i = 0; i < per && at < n; i++, at++)
			assert_int_equal(ixb_put(w, k[at]), 0);
		assert_int_equal(ixb_flush(w), 0);
		mdb_cursor_close(c);
		assert_int_equal(mdb_txn_commit(txn), 0);
	}
	free(w);
}

/* Walk the run from a seek (or the first key): it must give exactly keys
 * [lb, n), where lb is the naive lower bound. */
static void
check_run(struct env *e, const uint8_t (*k)[IXB_KEY], size_t n, unsigned seed)
{
	MDB_txn *txn;
	MDB_cursor *c;
	struct ixb_cursor r;
	size_t i = 0;
	int rc;

	assert_int_equal(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_cursor_open(txn, e->dbi, &c), 0);
	ixb_cursor_init(&r, c);
	for (rc = ixb_first(&r); rc == 0; rc = ixb_next(&r), i++) {
		assert_true(i < n);
		assert_memory_equal(ixb_key(&r), k[i], IXB_KEY);
	}
	assert_int_equal(rc, MDB_NOTFOUND);
	assert_int_equal(i, n);
	srand(seed);
	for (int t = 0; t < 2000; t++) {
		uint8_t q[IXB_KEY];
		size_t lb = 0;

		/* Half the probes are keys of the run, half between them. */
		if (n > 0 && t % 2 == 0) {
			memcpy(q, k[(size_t)rand() % n], IXB_KEY);
		} else {
			for (int j = 0; j < IXB_KEY; j++)
				q[j] = (uint8_t)rand();
			q[0] &= 3;
		}
		while (lb < n && memcmp(k[lb], q, IXB_KEY) < 0)
			lb++;
		rc = ixb_seek(&r, q);
		if (lb == n) {
			assert_int_equal(rc, MDB_NOTFOUND);
			continue;
		}
		assert_int_equal(rc, 0);
		/* A few keys on from there, across blocks. */
		for (size_t j = lb; j < n && j < lb + 500; j++) {
			assert_memory_equal(ixb_key(&r), k[j], IXB_KEY);
			rc = ixb_next(&r);
			assert_int_equal(rc, j + 1 < n ? 0 : MDB_NOTFOUND);
		}
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
}

static void
test_differential(void **state)
{
	static const struct {
		size_t n, per;
	} cases[] = {
	    {0, 1},
	    {1, 1},
	    {2, 1},
	    {IXB_MAX - 1, 100000},
	    {IXB_MAX, 100000},
	    {IXB_MAX + 1, 100000},
	    {5000, 100000},
	    {5000, 1},
	    {5000, 7},
	    {20000, 1000},
	};

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct env e;
		size_t n;
		uint8_t(*k)[IXB_KEY] = keys_make(cases[c].n, (unsigned)c + 1, &n);

		env_up(&e);
		write_keys(&e, (const uint8_t(*)[IXB_KEY])k, n, cases[c].per);
		check_run(&e, (const uint8_t(*)[IXB_KEY])k, n, (unsigned)c + 100);
		env_down(&e);
		free(k);
	}
}

static void
test_cmp(void **state)
{
	uint8_t a[IXB_KEY], b[IXB_KEY];

	(void)state;
	srand(7);
	for (int t = 0; t < 100000; t++) {
		int want, got;

		for (int j = 0; j < IXB_KEY; j++) {
			a[j] = (uint8_t)(rand() % 3);
			b[j] = (uint8_t)(rand() % 3);
		}
		want = memcmp(a, b, IXB_KEY);
		got = ixb_cmp(a, b);
		assert_true(
		    (want < 0 && got < 0) || (want == 0 && got == 0) || (want > 0 && got > 0));
	}
}

static void
test_put_order(void **state)
{
	struct env e;
	struct ixb_writer *w = malloc(sizeof *w);
	uint8_t k1[IXB_KEY] = {0, 1}, k2[IXB_KEY] = {0, 2};
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_stat st;

	(void)state;
	assert_non_null(w);
	env_up(&e);
	assert_int_equal(mdb_txn_begin(e.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_cursor_open(txn, e.dbi, &c), 0);
	ixb_writer_init(w, c, NULL);
	assert_int_equal(ixb_put(w, k2), 0);
	assert_int_equal(ixb_put(w, k1), ST_ECORRUPT); /* below */
	assert_int_equal(ixb_put(w, k2), ST_ECORRUPT); /* equal */
	assert_int_equal(ixb_flush(w), 0);
	ixb_writer_init(w, c, k2);
	assert_int_equal(ixb_put(w, k2), ST_ECORRUPT); /* not above after */
	assert_int_equal(ixb_put(w, k1), ST_ECORRUPT);
	assert_int_equal(ixb_flush(w), 0); /* nothing held */
	/* A new writer that is told nothing still cannot append below the
	 * last block (LMDB's own order). */
	ixb_writer_init(w, c, NULL);
	assert_int_equal(ixb_put(w, k1), 0);
	assert_int_equal(ixb_flush(w), ST_ECORRUPT);
	assert_int_equal(mdb_stat(txn, e.dbi, &st), 0);
	assert_int_equal(st.ms_entries, 1);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	env_down(&e);
	free(w);
}

/* A key of value v (kind 0, index 0). */
static void
key_of(uint8_t out[IXB_KEY], uint32_t v)
{
	memset(out, 0, IXB_KEY);
	cl_be32_put(out + 1, v);
}

/* A run of two records: a good block (keys 1000 and 1005), then the raw
 * record key/val.  Whether a cursor reading the second from the first
 * (ixb_next), and one seeking into it (q, just above its first key: only
 * when seek_sees, as damage between blocks shows only on the way from one
 * to the next), get ST_ECORRUPT (want) or read it whole (want 0: the
 * record is sound, n_keys of them). */
static void
second_block(const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len, int want,
    bool seek_sees, size_t n_keys)
{
	uint8_t good[2 * IXB_KEY], q[IXB_KEY];
	MDB_val k = {IXB_KEY, good}, v = {sizeof good, good};
	struct ixb_cursor r;
	struct env e;
	MDB_txn *txn;
	MDB_cursor *c;
	int rc;

	key_of(good, 1000);
	key_of(good + IXB_KEY, 1005);
	env_up(&e);
	assert_int_equal(mdb_txn_begin(e.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, e.dbi, &k, &v, 0), 0);
	k = (MDB_val){key_len, (void *)key};
	v = (MDB_val){val_len, (void *)val};
	assert_int_equal(mdb_put(txn, e.dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_cursor_open(txn, e.dbi, &c), 0);
	ixb_cursor_init(&r, c);
	assert_int_equal(ixb_first(&r), 0);
	assert_int_equal(ixb_next(&r), 0);
	rc = ixb_next(&r);
	assert_int_equal(rc, want);
	for (size_t i = 1; want == 0 && i < n_keys; i++)
		assert_int_equal(ixb_next(&r), 0);
	if (want == 0)
		assert_int_equal(ixb_next(&r), MDB_NOTFOUND);
	memset(q, 0, sizeof q);
	memcpy(q, key, key_len < IXB_KEY ? key_len : IXB_KEY);
	q[IXB_KEY - 1] |= 1;
	rc = ixb_seek(&r, q);
	if (want == 0 || !seek_sees)
		assert_true(rc == 0 || rc == MDB_NOTFOUND);
	else
		assert_int_equal(rc, want);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	env_down(&e);
}

static void
test_damaged(void **state)
{
	uint8_t blk[(IXB_MAX + 1) * IXB_KEY], b[3 * IXB_KEY], k[IXB_KEY];

	(void)state;
	for (size_t i = 0; i < IXB_MAX + 1; i++)
		key_of(blk + i * IXB_KEY, 1010 + (uint32_t)i);
	/* The control: sound, read whole. */
	second_block(blk, IXB_KEY, blk, 3 * IXB_KEY, 0, true, 3);
	second_block(blk, IXB_KEY, blk, IXB_MAX * IXB_KEY, 0, true, IXB_MAX);
	second_block(blk, IXB_KEY, blk, 3 * IXB_KEY - 1, ST_ECORRUPT, true, 0); /* truncated */
	second_block(blk, IXB_KEY, blk, 0, ST_ECORRUPT, true, 0);               /* empty */
	second_block(blk, IXB_KEY, blk, sizeof blk, ST_ECORRUPT, true, 0);      /* too long */
	second_block(blk, IXB_KEY - 1, blk, 3 * IXB_KEY, ST_ECORRUPT, true, 0); /* short key */
	memcpy(k, blk, IXB_KEY);
	k[IXB_KEY - 1] ^= 1; /* the first key is not the record's */
	second_block(k, IXB_KEY, blk, 3 * IXB_KEY, ST_ECORRUPT, true, 0);
	memcpy(b, blk, sizeof b);
	b[2 * IXB_KEY + 4] ^= 0x80; /* out of order inside */
	second_block(b, IXB_KEY, b, sizeof b, ST_ECORRUPT, true, 0);
	memcpy(b, blk, sizeof b);
	memcpy(b + IXB_KEY, b, IXB_KEY); /* a key twice */
	second_block(b, IXB_KEY, b, sizeof b, ST_ECORRUPT, true, 0);
	/* Sound itself, but overlapping the block before (1003 < 1005). */
	key_of(b, 1003);
	key_of(b + IXB_KEY, 1004);
	key_of(b + 2 * IXB_KEY, 1006);
	second_block(b, IXB_KEY, b, sizeof b, ST_ECORRUPT, false, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmp),
	    cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_put_order),
	    cmocka_unit_test(test_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
