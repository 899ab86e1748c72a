/*
 * durable_test.c: closurelogd's start-up and durability rules that are not
 * power cuts: the data directory's entries are fsynced when it is created,
 * log.pub must be the log's key, the recorded checkpoint's root must be the
 * stored tree's root at the checkpoint's own size, and the log signs
 * nothing while the store does not sync (the benchmark's bulk mode, linked
 * here from the benchmark's copy of the server code).
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

#ifndef CL_PC_LIB
#error "CL_PC_LIB must name the power-cut library"
#endif

/* A new data directory (and a new parent): both directory entries are
 * synced before the server answers, the parent first, and then the search
 * index's directory, in the data directory and its own entries. */
static void
test_dir_synced(void **state)
{
	char dir[512], parent[600], data[700], journal[600], subs[600];
	const char *args[] = {"--submitters", subs, NULL};
	struct h_server s;
	struct pc_stats st;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(parent, sizeof parent, "%s/logs", dir);
	snprintf(data, sizeof data, "%s/data", parent);
	snprintf(journal, sizeof journal, "%s/journal", dir);
	snprintf(subs, sizeof subs, "%s/submitters", dir);
	h_write(subs, su_ci_vkey, strlen(su_ci_vkey));
	assert_int_equal(mkdir(parent, 0700), 0);
	pc_env_set(CL_PC_LIB, journal, 0, NULL, NULL);
	h_server_start(&s, data, args);
	pc_env_clear();
	/* Started: everything it did before answering is journalled. */
	assert_int_equal(pc_stats_read(journal, &st), 0);
	h_server_stop(&s, SIGKILL);
	assert_true(st.calls[PC_OP_DIRSYNC] >= 4);
	assert_string_equal(st.dirs[0], parent);
	assert_string_equal(st.dirs[1], data);
	assert_string_equal(st.dirs[2], data);
	assert_string_equal(st.dirs[3], h_path(data, "search"));

	/* A data directory made beforehand, with the keys in it already: the
	 * store's own files' entries are synced all the same (nothing else
	 * syncs this directory then). */
	{
		char other[700];

		snprintf(other, sizeof other, "%s/other", parent);
		assert_int_equal(mkdir(other, 0700), 0);
		assert_int_equal(pc_copy(h_path(data, "log.key"), h_path(other, "log.key")), 0);
		assert_int_equal(pc_copy(h_path(data, "log.pub"), h_path(other, "log.pub")), 0);
		unlink(journal);
		pc_env_set(CL_PC_LIB, journal, 0, NULL, NULL);
		h_server_start(&s, other, args);
		pc_env_clear();
		assert_int_equal(pc_stats_read(journal, &st), 0);
		h_server_stop(&s, SIGKILL);
		assert_int_equal(st.calls[PC_OP_DIRSYNC], 3);
		assert_string_equal(st.dirs[0], other);
		assert_string_equal(st.dirs[1], other);
		assert_string_equal(st.dirs[2], h_path(other, "search"));
	}
	h_rmrf(dir);
}

/* A log.pub that is not the log's key is refused. */
static void
test_pub_mismatch(void **state)
{
	char dir[512], data[600], pub[700], err[2048];
	struct h_server s;
	int status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(pub, sizeof pub, "%s/log.pub", data);
	su_start(&s, dir, NULL);
	h_server_stop(&s, SIGTERM);
	/* Another key (the CI submitter's) in its place. */
	h_write(pub, su_ci_vkey, strlen(su_ci_vkey));
	{
		const char *args[] = {"--submitters", h_path(dir, "submitters"), NULL};

		assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
	}
	assert_int_equal(status, 1);
	assert_non_null(strstr(err, "not this log's key"));
	/* Removed, it is written again and the log starts. */
	assert_int_equal(unlink(pub), 0);
	su_start(&s, dir, NULL);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

/* Flip a byte of every hash in fat tile (0, 0) of the store in data. */
static void
tile_corrupt(const char *data)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t key[8] = {0}, tile[ST_TILE_BYTES];
	MDB_val k = {8, key}, v;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "tiles", 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_int_equal(v.mv_size, ST_TILE_BYTES);
	memcpy(tile, v.mv_data, ST_TILE_BYTES);
	for (size_t i = 0; i < ST_TILE_HASHES; i++)
		tile[i * MT_HASH_LEN] ^= 1;
	v = (MDB_val){ST_TILE_BYTES, tile};
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The recorded checkpoint is for a smaller tree than the stored one (the
 * server was killed): its root is still checked, at its own size. */
static void
test_ckpt_root_at_own_size(void **state)
{
	char dir[512], data[600], err[2048];
	struct h_server s;
	struct note_verifier lk;
	int status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(data, sizeof data, "%s/data", dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	/* One commit each: the store records the checkpoint of the one
	 * before, so after the kill it holds 6 entries and a record for 5. */
	for (uint64_t i = 0; i < 6; i++) {
		struct su_ack a;
		size_t len;
		uint8_t *env = su_envelope(i, NULL, &len);

		assert_int_equal(su_submit(&s, &lk, env, len, &a, NULL), 201);
		free(env);
	}
	h_server_stop(&s, SIGKILL);
	/* Unaltered, it starts. */
	su_start(&s, dir, NULL);
	h_server_stop(&s, SIGKILL);
	tile_corrupt(data);
	{
		const char *args[] = {"--submitters", h_path(dir, "submitters"), NULL};

		assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
	}
	assert_int_equal(status, 1);
	assert_non_null(strstr(err, "recorded checkpoint does not match"));
	h_rmrf(dir);
}

/* The benchmark's bulk mode: with sync off the log signs nothing, and a
 * log does not even open. */
static void
test_no_signing_while_sync_off(void **state)
{
	char dir[512], key[600], pub[600], subs[600], why[CL_WHY_MAX];
	struct st *st;
	struct signer *sg;
	struct allow *al;
	struct log *lg;
	struct log_ckpt *ck;
	struct log_cfg lc = {1, 16, 16, 0, (size_t)1 << 30, NULL, NULL, NULL};
	struct note_verifier v;
	char vkey[NOTE_VKEY_MAX];
	uint8_t *envs[5];
	size_t lens[5], done;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(key, sizeof key, "%s/log.key", dir);
	snprintf(pub, sizeof pub, "%s/log.pub", dir);
	snprintf(subs, sizeof subs, "%s/subs", dir);
	h_write(subs, "", 0);
	for (size_t i = 0; i < 5; i++)
		envs[i] = su_envelope(i, NULL, &lens[i]);
	assert_int_equal(st_open(h_path(dir, "data"), (size_t)1 << 26, &st, why), 0);
	assert_int_equal(signer_open(key, pub, "example.org/bulk", 1, "", &sg, why), 0);
	signer_verifier(sg, &v);
	note_verifier_format(&v, vkey, sizeof vkey);
	assert_int_equal(st_init(st, "example.org/bulk", vkey), 0);
	assert_int_equal(allow_open(subs, &al, why), 0);

	assert_int_equal(log_open(st, sg, al, NULL, &lc, &lg, why), 0);
	assert_int_equal(log_bulk_append(lg, (const uint8_t *const *)envs, lens, 3, &done, why), 0);
	ck = log_checkpoint(lg);
	assert_int_equal(ck->size, 3);
	log_ckpt_unref(ck);
	/* Off: appended, not signed. */
	assert_int_equal(st_sync_set(st, false), 0);
	assert_false(st_sync_on(st));
	assert_int_equal(
	    log_bulk_append(lg, (const uint8_t *const *)envs + 3, lens + 3, 2, &done, why), 0);
	assert_int_equal(done, 2);
	ck = log_checkpoint(lg);
	assert_int_equal(ck->size, 3);
	log_ckpt_unref(ck);
	log_stop(lg);
	log_free(lg);
	assert_int_equal(log_open(st, sg, al, NULL, &lc, &lg, why), CL_EINVAL);
	assert_non_null(strstr(why, "does not sync"));
	/* On again (everything synced): the whole tree is signed. */
	assert_int_equal(st_sync_set(st, true), 0);
	assert_int_equal(log_open(st, sg, al, NULL, &lc, &lg, why), 0);
	ck = log_checkpoint(lg);
	assert_int_equal(ck->size, 5);
	log_ckpt_unref(ck);
	log_stop(lg);
	log_free(lg);
	allow_close(al);
	signer_close(sg);
	st_close(st);
	for (size_t i = 0; i < 5; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* A failed test must not leave the preload set for the next one. */
static int
env_clear(void **state)
{
	(void)state;
	pc_env_clear();
	unsetenv("CL_TEST_DAEMON");
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_dir_synced, env_clear),
	    cmocka_unit_test_teardown(test_pub_mismatch, env_clear),
	    cmocka_unit_test_teardown(test_ckpt_root_at_own_size, env_clear),
	    cmocka_unit_test_teardown(test_no_signing_while_sync_off, env_clear),
	};

	if (sodium_init() < 0)
		return 1;
	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
