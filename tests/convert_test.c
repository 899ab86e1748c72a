/*
 * convert_test.c: a store of layout 3 (every entry under its own key, as
 * closurelogd wrote before full entry bundles) converted by closurelogd at
 * start, across power cuts.
 *
 * The fixture is a real log bulk-loaded through the log code (three steps
 * of 64 bundles and a few more, and a partial bundle), served once to take
 * its checkpoint, every hash tile and every entry bundle; then rewritten in
 * layout 3 (its bundles back under one key per entry, layout 3 recorded).
 * closurelogd, with tests/powercut.c preloaded, then starts on it and the
 * power is cut at a call of its start spread over the whole conversion,
 * with unsynced writes dropped or torn; closurelogd starts again on what
 * the disk holds (a second cut in half of the runs), and then without
 * cuts.  Every time the checkpoint it serves, every tile and every entry
 * bundle must be byte for byte what they were, and the store, stopped,
 * must be layout 4 with one value per full bundle and only the partial
 * bundle's entries under their own keys.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "allow.h"
#include "cl.h"
#include "log.h"
#include "pcut.h"
#include "signer.h"
#include "srvutil.h"
#include "store.h"
#include "testutil.h"
#include "tile.h"

#ifndef CL_PC_LIB
#error "CL_PC_LIB must name the power-cut library"
#endif

enum { FULL = 3 * 64 + 4, N = FULL * 256 + 55 };

struct fx {
	char dir[512], data[600], db[700], sdb[700], base[600], base2[600], journal[600], subs[600],
	    err[700];
	uint8_t *envs[N];
	size_t lens[N];
	/* What the log served before it was rewritten in layout 3. */
	uint8_t *ckpt;
	size_t ckpt_len;
	char (*paths)[MT_TILE_PATH_MAX];
	uint8_t **tiles;
	size_t *tile_lens, n_tiles;
};

static struct fx fx;

/* Every tile path of the tree of N leaves: entry bundles and hash tiles,
 * full and partial. */
static void
paths_make(void)
{
	size_t cap = 2 * mt_tile_count(0, N) + 8, n = 0;

	fx.paths = calloc(cap, sizeof *fx.paths);
	assert_non_null(fx.paths);
	for (unsigned lv = 0; lv < 3; lv++) {
		for (uint64_t i = 0; i < mt_tile_count(lv, N); i++) {
			struct mt_tile t = {
			    i, (uint16_t)mt_tile_width(lv, i, N), (uint8_t)lv, false};

			assert_int_equal(mt_tile_path(&t, fx.paths[n++]), 0);
			if (lv == 0) {
				t.entries = true;
				assert_int_equal(mt_tile_path(&t, fx.paths[n++]), 0);
			}
		}
	}
	fx.n_tiles = n;
}

/* The log as the server serves it matches the reference (or, with take,
 * becomes it).  Entry bundles are checked against the envelopes too. */
static void
served_check(const struct h_server *s, bool take)
{
	char url[256];
	uint8_t *body;
	size_t len;

	snprintf(url, sizeof url, "%s/checkpoint", s->url);
	assert_int_equal(h_get(url, &body, &len), 200);
	if (take) {
		fx.ckpt = body;
		fx.ckpt_len = len;
		fx.tiles = calloc(fx.n_tiles, sizeof *fx.tiles);
		fx.tile_lens = calloc(fx.n_tiles, sizeof *fx.tile_lens);
		assert_true(fx.tiles != NULL && fx.tile_lens != NULL);
	} else {
		assert_int_equal(len, fx.ckpt_len);
		assert_memory_equal(body, fx.ckpt, len);
		free(body);
	}
	for (size_t i = 0; i < fx.n_tiles; i++) {
		snprintf(url, sizeof url, "%s/%s", s->url, fx.paths[i]);
		if (h_get(url, &body, &len) != 200)
			fail_msg("%s: not served", fx.paths[i]);
		if (take) {
			fx.tiles[i] = body;
			fx.tile_lens[i] = len;
		} else {
			if (len != fx.tile_lens[i] || memcmp(body, fx.tiles[i], len) != 0)
				fail_msg("%s: not what it was before the conversion", fx.paths[i]);
			free(body);
		}
	}
	if (take) {
		/* The entry bundles hold exactly the envelopes. */
		for (size_t i = 0; i < fx.n_tiles; i++) {
			struct mt_tile t;
			size_t at = 0;

			assert_int_equal(mt_tile_parse(fx.paths[i], strlen(fx.paths[i]), &t), 0);
			if (!t.entries)
				continue;
			for (unsigned j = 0; j < t.width; j++) {
				size_t e = t.index * 256 + j;

				assert_true(fx.tile_lens[i] - at >= 2 + fx.lens[e]);
				assert_int_equal(
				    (size_t)fx.tiles[i][at] << 8 | fx.tiles[i][at + 1], fx.lens[e]);
				assert_memory_equal(fx.tiles[i] + at + 2, fx.envs[e], fx.lens[e]);
				at += 2 + fx.lens[e];
			}
			assert_int_equal(at, fx.tile_lens[i]);
		}
	}
}

static MDB_env *
raw_open(MDB_txn **txn, MDB_dbi *meta, MDB_dbi *entries)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, fx.data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
	assert_int_equal(mdb_dbi_open(*txn, "entries", 0, entries), 0);
	return env;
}

/* The stopped store's layout, full bundles and entries under their own
 * keys. */
static void
raw_state(uint64_t *layout, uint64_t *bundles, uint64_t *entries)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, e, b;
	MDB_stat st;
	MDB_val v;

	env = raw_open(&txn, &meta, &e);
	assert_int_equal(mdb_get(txn, meta, &(MDB_val){6, "layout"}, &v), 0);
	*layout = cl_be64_get(v.mv_data);
	assert_int_equal(mdb_stat(txn, e, &st), 0);
	*entries = st.ms_entries;
	*bundles = 0;
	if (mdb_dbi_open(txn, "bundles", 0, &b) == 0) {
		assert_int_equal(mdb_stat(txn, b, &st), 0);
		*bundles = st.ms_entries;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Rewrite the stopped store in layout 3. */
static void
make_layout3(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, e, b;
	uint8_t kb[8];

	env = raw_open(&txn, &meta, &e);
	assert_int_equal(mdb_dbi_open(txn, "bundles", 0, &b), 0);
	assert_int_equal(mdb_drop(txn, b, 1), 0);
	for (uint64_t i = 0; i < (uint64_t)FULL * 256; i++) {
		cl_be64_put(kb, i);
		assert_int_equal(mdb_put(txn, e, &(MDB_val){8, kb},
		                     &(MDB_val){fx.lens[i], fx.envs[i]}, MDB_NOOVERWRITE),
		    0);
	}
	cl_be64_put(kb, 3);
	assert_int_equal(mdb_put(txn, meta, &(MDB_val){6, "layout"}, &(MDB_val){8, kb}, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Start closurelogd on the store, with the power-cut library (cut before
 * watched call `cut` if > 0) unless bare.  Returns 0, or -2 if the cut
 * killed it while starting. */
static int
start(struct h_server *s, bool bare, long cut)
{
	const char *args[] = {"--submitters", fx.subs, "--rate", "0", NULL};
	char out[2048];
	int status, rc;

	if (!bare)
		pc_env_set(CL_PC_LIB, fx.journal, cut, NULL, NULL);
	rc = h_server_try_start(s, fx.data, args, &status, out, sizeof out);
	pc_env_clear();
	if (rc != 0 && cut > 0 && status == 128 + SIGKILL)
		return -2;
	if (rc != 0)
		fail_msg("closurelogd did not start (exit %d): %s", status, out);
	return 0;
}

/* The fixture: a bulk-loaded log served once for the reference, then
 * rewritten in layout 3 and copied as the base of every run. */
static int
setup(void **state)
{
	char why[CL_WHY_MAX], key[700], pub[700], vkey[NOTE_VKEY_MAX];
	struct log_cfg lc = {1, 4096, 4096, 0, (size_t)1 << 30, NULL, NULL, NULL};
	struct note_verifier v;
	struct st *st;
	struct signer *sg;
	struct allow *al;
	struct log *lg;
	struct h_server s;
	size_t done;
	uint64_t layout, bundles, entries;

	(void)state;
	h_tmpdir(fx.dir, sizeof fx.dir);
	snprintf(fx.data, sizeof fx.data, "%s/data", fx.dir);
	snprintf(fx.db, sizeof fx.db, "%s/data.mdb", fx.data);
	snprintf(fx.sdb, sizeof fx.sdb, "%s/search/data.mdb", fx.data);
	snprintf(fx.base, sizeof fx.base, "%s/base", fx.dir);
	snprintf(fx.base2, sizeof fx.base2, "%s/base2", fx.dir);
	snprintf(fx.journal, sizeof fx.journal, "%s/journal", fx.dir);
	snprintf(fx.subs, sizeof fx.subs, "%s/submitters", fx.dir);
	snprintf(fx.err, sizeof fx.err, "%s.stderr", fx.data);
	snprintf(key, sizeof key, "%s/log.key", fx.data);
	snprintf(pub, sizeof pub, "%s/log.pub", fx.data);
	assert_int_equal(mkdir(fx.base, 0700), 0);
	assert_int_equal(mkdir(fx.base2, 0700), 0);
	h_write(fx.subs, su_ci_vkey, strlen(su_ci_vkey));
	for (size_t i = 0; i < N; i++)
		fx.envs[i] = su_envelope_noisy(i, &fx.lens[i]);

	assert_int_equal(st_open(fx.data, (size_t)1 << 30, &st, why), 0);
	assert_int_equal(signer_open(key, pub, "localhost/closurelog", 1, "", &sg, why), 0);
	signer_verifier(sg, &v);
	note_verifier_format(&v, vkey, sizeof vkey);
	assert_int_equal(st_init(st, "localhost/closurelog", vkey), 0);
	assert_int_equal(allow_open(fx.subs, &al, why), 0);
	assert_int_equal(log_open(st, sg, al, NULL, &lc, &lg, why), 0);
	assert_int_equal(
	    log_bulk_append(lg, (const uint8_t *const *)fx.envs, fx.lens, N, &done, why), 0);
	assert_int_equal(done, N);
	log_stop(lg);
	log_free(lg);
	allow_close(al);
	signer_close(sg);
	st_close(st);

	paths_make();
	h_server_start(
	    &s, fx.data, (const char *const[]){"--submitters", fx.subs, "--rate", "0", NULL});
	served_check(&s, true);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	raw_state(&layout, &bundles, &entries);
	assert_int_equal(layout, ST_LAYOUT);
	assert_int_equal(bundles, FULL);
	assert_int_equal(entries, N - FULL * 256);
	make_layout3();
	raw_state(&layout, &bundles, &entries);
	assert_int_equal(layout, 3);
	assert_int_equal(bundles, 0);
	assert_int_equal(entries, N);
	assert_int_equal(pc_base_add(fx.base, fx.db), 0);
	assert_int_equal(pc_base_add(fx.base, fx.sdb), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pc_env_clear();
	for (size_t i = 0; i < N; i++)
		free(fx.envs[i]);
	for (size_t i = 0; i < fx.n_tiles && fx.tiles != NULL; i++)
		free(fx.tiles[i]);
	free(fx.tiles);
	free(fx.tile_lens);
	free(fx.paths);
	free(fx.ckpt);
	h_rmrf(fx.dir);
	return 0;
}

/* The finished conversion: served as before, stored as layout 4. */
static void
converted_check(void)
{
	struct h_server s;
	uint64_t layout, bundles, entries;

	assert_int_equal(start(&s, true, 0), 0);
	served_check(&s, false);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	raw_state(&layout, &bundles, &entries);
	assert_int_equal(layout, ST_LAYOUT);
	assert_int_equal(bundles, FULL);
	assert_int_equal(entries, N - FULL * 256);
}

/* Uncut: converted at start, with progress on stderr. */
static void
test_convert(void **state)
{
	struct h_server s;
	uint8_t *err;
	size_t len;

	(void)state;
	assert_int_equal(pc_base_restore(fx.base), 0);
	assert_int_equal(start(&s, true, 0), 0);
	h_server_stop(&s, SIGKILL);
	err = h_read(fx.err, &len);
	assert_non_null(strstr((char *)err, "converting the store in"));
	assert_non_null(strstr((char *)err, "0 of 50176 entries into bundles"));
	assert_non_null(strstr((char *)err, "converted 50176 of 50176 entries"));
	free(err);
	converted_check();
}

/* Power cuts spread over the conversion, a second one in the resumed
 * conversion every other run. */
static void
test_convert_cuts(void **state)
{
	struct h_server s;
	struct pc_stats st;
	size_t calls, runs = 0, mid = 0, twice = 0;
	uint64_t seed = 0x2545f4914f6cdd1dull;

	(void)state;
	/* The calls of an uncut start. */
	assert_int_equal(pc_base_restore(fx.base), 0);
	unlink(fx.journal);
	assert_int_equal(start(&s, false, 0), 0);
	h_server_stop(&s, SIGKILL);
	assert_int_equal(pc_stats_read(fx.journal, &st), 0);
	calls = st.writes + st.syncs;
	assert_true(calls > 8);
	for (size_t k = 1; k <= 16; k++) {
		long cut = (long)(k * calls / 16);
		uint64_t layout, bundles, entries;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		assert_int_equal(pc_base_restore(fx.base), 0);
		unlink(fx.journal);
		if (start(&s, false, cut) == 0)
			h_server_stop(&s, SIGKILL); /* cut after the start: now, then */
		assert_int_equal(
		    pc_rebuild(fx.journal, fx.base, false, k % 2 ? PC_DROP : PC_TORN, seed, NULL),
		    0);
		raw_state(&layout, &bundles, &entries);
		if (layout == 3 && bundles > 0)
			mid++;
		if (k % 2 == 0 && layout == 3) {
			/* Cut again, somewhere in what is left. */
			assert_int_equal(pc_base_add(fx.base2, fx.db), 0);
			assert_int_equal(pc_base_add(fx.base2, fx.sdb), 0);
			unlink(fx.journal);
			if (start(&s, false, 1 + (long)(seed >> 33) % (long)calls) == 0)
				h_server_stop(&s, SIGKILL);
			assert_int_equal(
			    pc_rebuild(fx.journal, fx.base2, false, PC_TORN, seed >> 7, NULL), 0);
			twice++;
		}
		converted_check();
		runs++;
	}
	print_message("  %zu power cuts over the %zu calls of a start converting %d entries "
	              "(%zu left it half converted, %zu followed by a second cut): every "
	              "entry, tile and the checkpoint byte for byte as before\n",
	    runs, calls, N, mid, twice);
	assert_true(mid > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_convert),
	    cmocka_unit_test(test_convert_cuts),
	};

	if (sodium_init() < 0)
		return 1;
	su_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
