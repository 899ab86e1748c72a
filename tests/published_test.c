/*
 * published_test.c: with a witness configured, every read answers from the
 * latest cosigned checkpoint, never from what the store holds past it.
 *
 * One closurelogd with one witness (quorum 1).  Entries are published;
 * then the witness is stopped (SIGSTOP), so the next submission is stored
 * but not cosigned.  Entries, proofs (by index and by leaf hash, against
 * the default and an explicit size), consistency proofs, bundles, tiles
 * and every kind of search must not show it, nor its index; proofs
 * against the published size verify against its root.  The witness comes
 * back: the next checkpoint covers the entry, and proofs against the new
 * size (a new edge in the threads' proof caches) verify against it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cl.h"
#include "srvutil.h"
#include "testutil.h"
#include "wire.h"

#define N_FIRST 5 /* entries published before the witness stops */

static char dir[512], data[700], subs[700], warg[1400];
static struct h_server s;
static struct h_witness w;
static struct note_verifier log_key;
static uint8_t abuf[1 << 20];

/* GET path: the status, the body in *body (malloc'd, NUL-terminated). */
static long
get(const char *path, uint8_t **body, size_t *len)
{
	char url[512];
	long st;

	snprintf(url, sizeof url, "%s%s", s.url, path);
	assert_int_equal(h_http("GET", url, NULL, 0, &st, body, len), 0);
	return st;
}

/* GET path, expecting status `want` and a body holding `has` (if not NULL)
 * and not `hasnt` (if not NULL). */
static void
expect(const char *path, long want, const char *has, const char *hasnt)
{
	uint8_t *body = NULL;
	size_t len;
	long st = get(path, &body, &len);

	if (st != want)
		fail_msg("GET %s: %ld, not %ld: %s", path, st, want, body ? (char *)body : "");
	if (has != NULL && (body == NULL || strstr((char *)body, has) == NULL))
		fail_msg("GET %s: body lacks \"%s\": %s", path, has, body ? (char *)body : "");
	if (hasnt != NULL && body != NULL && strstr((char *)body, hasnt) != NULL)
		fail_msg("GET %s: body tells \"%s\": %s", path, hasnt, (char *)body);
	free(body);
}

/* Every search answers only indices below `published`, all of them there
 * are (envelope n has root n % 3 and index n), untruncated. */
static void
search_check(uint64_t published)
{
	static const char *const roots[] = {
	    "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source",
	    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt",
	    "/nix/store/d8gvjwks7vzhji6bjm5kkim3fc3bqc9h-source",
	};
	char path[256], hex[65];

	for (int k = 0; k < 5; k++) {
		struct cl_search_result r;
		struct wire_arena a;
		uint8_t *body = NULL;
		size_t len, want = 0;

		if (k < 3) {
			snprintf(path, sizeof path, "/v1/search?root=%s", roots[k]);
			for (uint64_t i = 0; i < published; i++)
				want += i % 3 == (uint64_t)k;
		} else if (k == 3) {
			cl_hex_encode(su_ci_pub.pub, 32, hex);
			snprintf(path, sizeof path, "/v1/search?submitter=%s", hex);
			want = published;
		} else {
			snprintf(path, sizeof path,
			    "/v1/"
			    "search?nar_hash=sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=");
			want = published;
		}
		assert_int_equal(get(path, &body, &len), 200);
		wire_arena_init(&a, abuf, sizeof abuf);
		assert_int_equal(wire_search_result_decode(&a, body, len, &r, NULL), 0);
		if (r.n != want)
			fail_msg("%s: %zu indices, not %zu", path, r.n, want);
		for (size_t i = 0; i < r.n; i++)
			assert_true(r.indices[i] < published);
		assert_false(r.truncated);
		free(body);
	}
}

/* Inclusion proofs of every entry below c->size, by index and by leaf hash,
 * verify against c's root; so does consistency from every older size. */
static void
proofs_check(const struct sth *c, const struct sth *older)
{
	char path[256], hex[65];

	for (uint64_t i = 0; i < c->size; i++) {
		size_t elen;
		uint8_t *env = su_envelope(i, NULL, &elen), leaf[MT_HASH_LEN];

		mt_leaf_hash(leaf, env, elen);
		free(env);
		cl_hex_encode(leaf, 32, hex);
		for (int by_hash = 0; by_hash < 2; by_hash++) {
			struct cl_proof p;
			struct wire_arena a;
			uint8_t *body = NULL;
			size_t len;

			if (by_hash)
				snprintf(path, sizeof path,
				    "/v1/proof/inclusion?leaf_hash=%s&size=%llu", hex,
				    (unsigned long long)c->size);
			else
				snprintf(path, sizeof path,
				    "/v1/proof/inclusion?index=%llu&size=%llu",
				    (unsigned long long)i, (unsigned long long)c->size);
			assert_int_equal(get(path, &body, &len), 200);
			wire_arena_init(&a, abuf, sizeof abuf);
			assert_int_equal(wire_inclusion_decode(&a, body, len, &p, NULL), 0);
			assert_int_equal(p.a, i);
			assert_int_equal(p.b, c->size);
			assert_int_equal(
			    mt_inclusion_verify(leaf, i, c->size, MT_PATH(p.hashes), p.n, c->root),
			    0);
			free(body);
		}
	}
	if (older != NULL)
		su_check_consistent(&s, older->size, older->root, c->size, c->root);
}

static void
test_published_only(void **state)
{
	struct su_ack ack;
	struct sth c, later;
	char why[CL_WHY_MAX], path[256], hex[65];
	uint8_t *env, leaf[MT_HASH_LEN], *body = NULL;
	size_t elen, len;
	double deadline;
	long st;

	(void)state;
	for (uint64_t i = 0; i < N_FIRST; i++) {
		env = su_envelope(i, NULL, &elen);
		st = su_submit(&s, &log_key, env, elen, &ack, why);
		free(env);
		if (st != 201)
			fail_msg("submission %llu: %ld %s", (unsigned long long)i, st, why);
		assert_int_equal(ack.index, i);
	}
	su_checkpoint(&s, &log_key, &c);
	assert_int_equal(c.size, N_FIRST);
	proofs_check(&c, NULL);

	/* The witness stops: the next entry is stored, not published. */
	assert_int_equal(kill(w.pid, SIGSTOP), 0);
	env = su_envelope(N_FIRST, NULL, &elen);
	mt_leaf_hash(leaf, env, elen);
	st = su_submit(&s, &log_key, env, elen, &ack, why);
	free(env);
	if (st != 503)
		fail_msg("with the witness stopped: %ld %s", st, why);
	snprintf(path, sizeof path, "/v1/entries/%d", N_FIRST);
	deadline = h_now() + 60;
	for (;;) {
		st = get(path, &body, &len);
		assert_int_equal(st, 404);
		if (strstr((char *)body, "not yet published") != NULL)
			break;
		free(body);
		body = NULL;
		if (h_now() > deadline)
			fail_msg("entry %d was never stored", N_FIRST);
		usleep(50000);
	}
	free(body);
	su_checkpoint(&s, &log_key, &c);
	assert_int_equal(c.size, N_FIRST);

	/* Nothing tells of it. */
	cl_hex_encode(leaf, 32, hex);
	snprintf(path, sizeof path, "/v1/proof/inclusion?leaf_hash=%s", hex);
	expect(path, 404, "not in the log", "5 is not below");
	snprintf(path, sizeof path, "/v1/proof/inclusion?leaf_hash=%s&size=%d", hex, N_FIRST);
	expect(path, 404, "not in the log", "5 is not below");
	expect("/v1/proof/inclusion?index=5", 400, "not below size 5", NULL);
	expect("/v1/proof/inclusion?index=0&size=6", 400, "beyond", NULL);
	expect("/v1/proof/consistency?from=1&to=6", 400, "beyond", NULL);
	expect("/v1/bundle/5", 404, NULL, NULL);
	expect("/tile/0/000.p/6", 404, NULL, NULL);
	expect("/tile/entries/000.p/6", 404, NULL, NULL);
	expect("/tile/0/000.p/5", 200, NULL, NULL);
	search_check(N_FIRST);
	proofs_check(&c, NULL);

	/* The witness is back: the next checkpoint covers both, and proofs
	 * against it (new edges in the proof caches) verify. */
	assert_int_equal(kill(w.pid, SIGCONT), 0);
	deadline = h_now() + 60;
	do {
		env = su_envelope(N_FIRST + 1, NULL, &elen);
		st = su_submit(&s, &log_key, env, elen, &ack, why);
		free(env);
		if (st == 201 || st == 200)
			break;
		assert_int_equal(st, 503);
		usleep(100000);
	} while (h_now() < deadline);
	if (st != 201 && st != 200)
		fail_msg("after the witness came back: %ld %s", st, why);
	su_checkpoint(&s, &log_key, &later);
	assert_true(later.size >= N_FIRST + 2);
	search_check(later.size);
	proofs_check(&later, &c);
	proofs_check(&c, NULL); /* the old size, still answered right */
}

static int
setup(void **state)
{
	char wdir[700];
	const char *wargs[] = {"--log", NULL, "--name", "w.published.test/witness", NULL};

	(void)state;
	su_init();
	h_tmpdir(dir, sizeof dir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(subs, sizeof subs, "%s/submitters", dir);
	/* A first start makes the log key, which the witness needs. */
	su_start(&s, dir, NULL);
	su_log_key(&s, &log_key);
	h_server_stop(&s, SIGTERM);
	wargs[1] = s.vkey;
	snprintf(wdir, sizeof wdir, "%s/witness", dir);
	h_witness_start(&w, wdir, wargs);
	snprintf(warg, sizeof warg, "%s=%s/", w.vkey, w.url);
	{
		const char *args[] = {"--submitters", subs, "--witness-quorum", "1",
		    "--witness-timeout", "1000", "--witness", warg, NULL};

		h_server_start(&s, data, args);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (s.pid > 0)
		h_server_stop(&s, SIGTERM);
	if (w.pid > 0) {
		kill(w.pid, SIGCONT);
		h_witness_stop(&w, SIGTERM);
	}
	h_rmrf(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_published_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
