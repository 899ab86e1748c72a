/*
 * server_test.c: closurelogd driven over HTTP on 127.0.0.1 with port 0:
 * concurrent appends with every proof checked, deduplication, the read
 * API, bad input of every kind, tiles that rebuild the root, restarts,
 * and the fixed origin and key of a data directory.
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "key.h"
#include "merkle.h"
#include "nix.h"
#include "srvutil.h"
#include "testutil.h"
#include "tile.h"
#include "tproof.h"
#include "wire.h"

static uint8_t abuf[WIRE_ARENA_MIN];

static long
get(const struct h_server *s, const char *path, uint8_t **body, size_t *len)
{
	char url[1024];
	long status;

	snprintf(url, sizeof url, "%s%s", s->url, path);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, body, len), 0);
	return status;
}

/* GET path; expect `code` and a one-line body containing `text`. */
static void
expect(const struct h_server *s, const char *method, const char *path, const void *data,
    size_t dlen, long code, const char *text)
{
	char url[1024];
	uint8_t *body;
	size_t len;
	long status;

	snprintf(url, sizeof url, "%s%s", s->url, path);
	assert_int_equal(h_http(method, url, data, dlen, &status, &body, &len), 0);
	if (status != code || (text != NULL && strstr((char *)body, text) == NULL))
		fail_msg("%s %s: got %ld \"%s\", want %ld with \"%s\"", method, path, status,
		    (char *)body, code, text != NULL ? text : "");
	if (code >= 400) {
		/* Errors are one line of text. */
		char *nl = memchr(body, '\n', len);

		assert_non_null(nl);
		assert_true((size_t)(nl - (char *)body) == len - 1);
	}
	free(body);
}

static void
check_acks_consistent(const struct h_server *s, struct su_ack *acks, size_t n)
{
	/* Distinct checkpoints, by size; each must extend the previous. */
	struct su_ack *prev = NULL;

	for (;;) {
		struct su_ack *next = NULL;

		for (size_t i = 0; i < n; i++) {
			if ((prev == NULL || acks[i].ckpt.size > prev->ckpt.size) &&
			    (next == NULL || acks[i].ckpt.size < next->ckpt.size))
				next = &acks[i];
		}
		if (next == NULL)
			break;
		/* Same size, same root: a log signs one tree per size. */
		for (size_t i = 0; i < n; i++) {
			if (acks[i].ckpt.size == next->ckpt.size)
				assert_memory_equal(acks[i].ckpt.root, next->ckpt.root, 32);
		}
		if (prev != NULL)
			su_check_consistent(
			    s, prev->ckpt.size, prev->ckpt.root, next->ckpt.size, next->ckpt.root);
		prev = next;
	}
}

/* ---- Appends ---- */

#define N_CONCURRENT 2000

static void
test_concurrent_appends(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	uint8_t **envs = calloc(N_CONCURRENT, sizeof *envs);
	size_t *lens = calloc(N_CONCURRENT, sizeof *lens);
	struct su_result *res = calloc(N_CONCURRENT, sizeof *res);
	struct su_ack *acks = calloc(N_CONCURRENT, sizeof *acks);
	uint8_t *seen = calloc(N_CONCURRENT, 1);
	struct sth latest;

	(void)state;
	assert_non_null(envs);
	assert_non_null(acks);
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < N_CONCURRENT; i++)
		envs[i] = su_envelope(i, NULL, &lens[i]);
	su_blast(&s, envs, lens, N_CONCURRENT, 16, res);
	for (size_t i = 0; i < N_CONCURRENT; i++) {
		if (res[i].status != 201)
			fail_msg("submission %zu: HTTP %ld %s", i, res[i].status,
			    res[i].body != NULL ? (char *)res[i].body : "");
		su_check_ack(
		    &lk, envs[i], lens[i], res[i].status, res[i].body, res[i].len, &acks[i]);
		assert_true(acks[i].index < N_CONCURRENT);
		assert_false(seen[acks[i].index]);
		seen[acks[i].index] = 1;
	}
	check_acks_consistent(&s, acks, N_CONCURRENT);
	su_checkpoint(&s, &lk, &latest);
	assert_int_equal(latest.size, N_CONCURRENT);
	/* Group commit happened: far fewer checkpoints than entries. */
	{
		size_t distinct = 0;

		for (size_t i = 0; i < N_CONCURRENT; i++) {
			bool first = true;

			for (size_t j = 0; j < i && first; j++)
				first = acks[j].ckpt.size != acks[i].ckpt.size;
			distinct += first;
		}
		print_message("  %d entries in %zu batches\n", N_CONCURRENT, distinct);
		assert_true(distinct < N_CONCURRENT);
	}
	/* Every entry is stored at its index, with its exact bytes. */
	for (size_t i = 0; i < N_CONCURRENT; i += 97) {
		char path[64];
		uint8_t *body;
		size_t len;
		struct wire_arena a;
		struct cl_entry e;

		wire_arena_init(&a, abuf, sizeof abuf);
		snprintf(path, sizeof path, "/v1/entries/%llu", (unsigned long long)acks[i].index);
		assert_int_equal(get(&s, path, &body, &len), 200);
		assert_int_equal(wire_entry_decode(&a, body, len, &e, NULL), 0);
		assert_int_equal(e.envelope_len, lens[i]);
		assert_memory_equal(e.envelope, envs[i], lens[i]);
		free(body);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	su_results_free(res, N_CONCURRENT);
	for (size_t i = 0; i < N_CONCURRENT; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	free(res);
	free(acks);
	free(seen);
	h_rmrf(dir);
}

static void
test_dedup(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack a1, a2;
	uint8_t *env, *copies[16];
	size_t len, lens[16];
	struct su_result res[16];
	int created = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	env = su_envelope(1, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &a1, NULL), 201);
	assert_int_equal(su_submit(&s, &lk, env, len, &a2, NULL), 200);
	assert_int_equal(a1.index, a2.index);
	assert_true(a2.duplicate);
	/* Identical submissions racing each other get one index, one 201. */
	for (int i = 0; i < 16; i++) {
		copies[i] = su_envelope(99, NULL, &lens[i]);
	}
	su_blast(&s, copies, lens, 16, 16, res);
	for (int i = 0; i < 16; i++) {
		struct su_ack a;

		su_check_ack(&lk, copies[i], lens[i], res[i].status, res[i].body, res[i].len, &a);
		assert_int_equal(a.index, 1);
		created += res[i].status == 201;
		free(copies[i]);
	}
	assert_int_equal(created, 1);
	su_results_free(res, 16);
	h_server_stop(&s, SIGTERM);
	free(env);
	h_rmrf(dir);
}

/* ---- Bad input ---- */

static void
test_bad_input(void **state)
{
	char dir[512], path[600];
	struct h_server s;
	struct note_verifier lk;
	struct note_signer stranger;
	uint8_t seed[32], *env, *big;
	size_t len;
	struct su_ack a;
	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	env = su_envelope(5, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &a, NULL), 201);

	/* Bodies. */
	expect(&s, "POST", "/v1/entries", "", 0, 400, "empty body");
	expect(&s, "POST", "/v1/entries", "garbage", 7, 400, "malformed protobuf");
	big = calloc(1, 131072 + 1);
	assert_non_null(big);
	expect(&s, "POST", "/v1/entries", big, CL_ENTRY_MAX + 1, 413, "entry bundle");
	{
		char url[128];
		long status;

		/* Far above an entry the server refuses it before reading it all. */
		snprintf(url, sizeof url, "%s/v1/entries", s.url);
		assert_int_equal(h_http("POST", url, big, 131072 + 1, &status, NULL, NULL), 0);
		assert_int_equal(status, 413);
	}
	free(big);
	{
		/* Non-canonical: the same envelope with a field repeated. */
		uint8_t *nc = malloc(len + 8);

		memcpy(nc, env, len);
		/* field 2 (payload_type) again, as the empty string */
		nc[len] = 0x12;
		nc[len + 1] = 0x00;
		expect(&s, "POST", "/v1/entries", nc, len + 2, 400, "canonical");
		free(nc);
	}
	/* Signatures. */
	memset(seed, 0x99, sizeof seed);
	assert_int_equal(note_signer_from_seed("stranger.example.com", seed, &stranger, NULL), 0);
	{
		uint8_t *e2;
		size_t l2;
		char id[16];

		e2 = su_envelope(6, &stranger, &l2);
		snprintf(id, sizeof id, "%08x", (unsigned)stranger.id);
		expect(&s, "POST", "/v1/entries", e2, l2, 403, id);
		free(e2);
		/* A signature of the CI key over other bytes. */
		e2 = su_envelope(7, NULL, &l2);
		e2[l2 - 11] ^= 1; /* last byte of the signature, before the keyid */
		expect(&s, "POST", "/v1/entries", e2, l2, 403, "does not verify");
		free(e2);
	}
	/* An attestation field that breaks a rule, properly signed. */
	{
		struct wire_arena ar;
		const uint8_t *out;
		size_t olen;
		uint8_t pay[512];
		size_t plen = 0;
		static const char bad_root[] = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x";
		static const char nar[] = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";
		uint8_t lock[34] = {0x0a, 0x06, 's', 'h', 'a', '2', '5', '6', 0x12, 0x20};

		/* ClosureAttestation{root=bad, nar_hash, flake_lock_digest} by hand,
		 * because the encoder refuses a bad root. */
		pay[plen++] = 0x0a;
		pay[plen++] = (uint8_t)strlen(bad_root);
		memcpy(pay + plen, bad_root, strlen(bad_root));
		plen += strlen(bad_root);
		pay[plen++] = 0x12;
		pay[plen++] = (uint8_t)strlen(nar);
		memcpy(pay + plen, nar, strlen(nar));
		plen += strlen(nar);
		pay[plen++] = 0x1a;
		pay[plen++] = 2 + 6 + 2 + 32;
		memcpy(pay + plen, lock, 10);
		memset(pay + plen + 10, 3, 32);
		plen += 42;
		wire_arena_init(&ar, abuf, sizeof abuf);
		assert_int_equal(dsse_sign(&ar, &su_ci, pay, plen, &out, &olen, NULL), 0);
		expect(&s, "POST", "/v1/entries", out, olen, 400, "root");
	}
	/* Methods and paths. */
	expect(&s, "GET", "/v1/entries", NULL, 0, 405, "POST");
	expect(&s, "POST", "/checkpoint", "x", 1, 405, "GET");
	expect(&s, "GET", "/nope", NULL, 0, 404, "no such resource");
	/* Indices and sizes. */
	expect(&s, "GET", "/v1/entries/1", NULL, 0, 404, "beyond");
	expect(&s, "GET", "/v1/entries/01", NULL, 0, 400, "index");
	expect(&s, "GET", "/v1/entries/-1", NULL, 0, 400, "index");
	expect(&s, "GET", "/v1/entries/18446744073709551616", NULL, 0, 400, "index");
	expect(&s, "GET", "/v1/proof/inclusion?index=1&size=1", NULL, 0, 400, "not below");
	expect(&s, "GET", "/v1/proof/inclusion?index=0&size=2", NULL, 0, 400, "beyond");
	expect(&s, "GET", "/v1/proof/inclusion?index=0&leaf_hash=00", NULL, 0, 400, "exactly one");
	expect(&s, "GET", "/v1/proof/inclusion?leaf_hash=zz", NULL, 0, 400, "leaf_hash");
	expect(&s, "GET", "/v1/proof/inclusion?index=0&bogus=1", NULL, 0, 400, "unknown parameter");
	expect(&s, "GET", "/v1/proof/inclusion?index=0&index=0", NULL, 0, 400, "twice");
	expect(&s, "GET",
	    "/v1/proof/inclusion?leaf_hash="
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    NULL, 0, 404, "not in the log");
	expect(&s, "GET", "/v1/proof/consistency?from=2&to=1", NULL, 0, 400, "larger");
	expect(&s, "GET", "/v1/proof/consistency?from=0&to=5", NULL, 0, 400, "beyond");
	expect(&s, "GET", "/v1/proof/consistency?to=1", NULL, 0, 400, "from");
	expect(&s, "GET", "/v1/bundle/1", NULL, 0, 404, "beyond");
	expect(&s, "GET", "/v1/search?root=/nix/store/x", NULL, 0, 400, "root");
	expect(&s, "GET", "/v1/search?nar_hash=md5:00", NULL, 0, 400, "nar_hash");
	/* The parser's reason comes through; a good hash of another algorithm is named. */
	expect(&s, "GET", "/v1/search?nar_hash=foo:00", NULL, 0, 400, "unknown algorithm");
	expect(&s, "GET", "/v1/search?nar_hash=md5:00000000000000000000000000000000", NULL, 0, 400,
	    "must be a sha256 hash");
	expect(&s, "GET", "/v1/search", NULL, 0, 400, "exactly one");
	expect(&s, "GET", "/v1/search?submitter=xyz", NULL, 0, 400, "submitter");
	/* Tiles. */
	expect(&s, "GET", "/tile/0/0", NULL, 0, 400, "malformed tile path");
	expect(&s, "GET", "/tile/0/x000/001", NULL, 0, 400, "malformed tile path");
	expect(&s, "GET", "/tile/0/000.p/0", NULL, 0, 400, "malformed tile path");
	expect(&s, "GET", "/tile/0/000", NULL, 0, 404, "does not exist");
	expect(&s, "GET", "/tile/0/000.p/2", NULL, 0, 404, "does not exist");
	expect(&s, "GET", "/tile/0/000.p/1", NULL, 0, 200, NULL);
	expect(&s, "GET", "/tile/entries/000.p/1", NULL, 0, 200, NULL);
	expect(&s, "GET", "/tile/9/000.p/1", NULL, 0, 404, "does not exist");

	/* Still serving after all that. */
	{
		uint8_t *e3;
		size_t l3;

		e3 = su_envelope(8, NULL, &l3);
		assert_int_equal(su_submit(&s, &lk, e3, l3, &a, NULL), 201);
		assert_int_equal(a.index, 1);
		free(e3);
	}
	snprintf(path, sizeof path, "/metrics");
	{
		uint8_t *body;
		size_t blen;

		assert_int_equal(get(&s, path, &body, &blen), 200);
		assert_non_null(strstr(
		    (char *)body, "closurelog_rejects_total{reason=\"unknown_submitter\"} 1"));
		assert_non_null(
		    strstr((char *)body, "closurelog_rejects_total{reason=\"bad_signature\"} 1"));
		assert_non_null(
		    strstr((char *)body, "closurelog_rejects_total{reason=\"invalid_field\"} 1"));
		assert_non_null(strstr((char *)body, "closurelog_appends_total 2"));
		assert_non_null(strstr((char *)body, "closurelog_tree_size 2"));
		free(body);
	}
	note_signer_wipe(&stranger);
	h_server_stop(&s, SIGTERM);
	free(env);
	h_rmrf(dir);
}

/* ---- The read API ---- */

/* Search by root, narHash (any form) and submitter, with paging, in the
 * 40 entries of test_read_api. */
static void
read_searches(struct h_server *s)
{
	struct cl_search_result r;
	struct wire_arena a;
	uint8_t *body;
	size_t len;
	char path[512], hex[65];

	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(
	    get(s, "/v1/search?root=/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", &body,
	        &len),
	    200);
	assert_int_equal(wire_search_result_decode(&a, body, len, &r, NULL), 0);
	assert_int_equal(r.n, 13); /* n % 3 == 1 for n < 40 */
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.indices[i] % 3, 1);
	assert_false(r.truncated);
	free(body);
	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(
	    get(s,
	        "/v1/search?nar_hash=sha256:"
	        "b6c401cde9a4683e8ff53a84c05992ea615c0b05119427a876707b5ab4fa5a65&start=30",
	        &body, &len),
	    200);
	assert_int_equal(wire_search_result_decode(&a, body, len, &r, NULL), 0);
	assert_int_equal(r.n, 10);
	assert_int_equal(r.indices[0], 30);
	free(body);
	cl_hex_encode(su_ci_pub.pub, 32, hex);
	snprintf(path, sizeof path, "/v1/search?submitter=%s", hex);
	wire_arena_init(&a, abuf, sizeof abuf);
	assert_int_equal(get(s, path, &body, &len), 200);
	assert_int_equal(wire_search_result_decode(&a, body, len, &r, NULL), 0);
	assert_int_equal(r.n, 40);
	free(body);
}

static void
test_read_api(void **state)
{
	char dir[512], path[512], hex[65];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack acks[40];
	uint8_t *envs[40], *body;
	size_t lens[40], len;
	struct wire_arena a;
	struct sth latest;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (int i = 0; i < 40; i++) {
		envs[i] = su_envelope((uint64_t)i, NULL, &lens[i]);
		assert_int_equal(su_submit(&s, &lk, envs[i], lens[i], &acks[i], NULL), 201);
		assert_int_equal(acks[i].index, (uint64_t)i);
	}
	su_checkpoint(&s, &lk, &latest);
	assert_int_equal(latest.size, 40);

	/* Inclusion by index and by leaf hash, at the latest and older sizes. */
	for (int i = 0; i < 40; i += 7) {
		struct cl_proof p;

		for (int k = 0; k < 2; k++) {
			wire_arena_init(&a, abuf, sizeof abuf);
			cl_hex_encode(acks[i].leaf, 32, hex);
			if (k == 0)
				snprintf(path, sizeof path, "/v1/proof/inclusion?index=%d", i);
			else
				snprintf(path, sizeof path,
				    "/v1/proof/inclusion?leaf_hash=%s&size=%llu", hex,
				    (unsigned long long)acks[i].ckpt.size);
			assert_int_equal(get(&s, path, &body, &len), 200);
			assert_int_equal(wire_inclusion_decode(&a, body, len, &p, NULL), 0);
			assert_int_equal(p.a, (uint64_t)i);
			if (k == 0)
				assert_int_equal(mt_inclusion_verify(acks[i].leaf, p.a, p.b,
				                     MT_PATH(p.hashes), p.n, latest.root),
				    0);
			else
				assert_int_equal(mt_inclusion_verify(acks[i].leaf, p.a, p.b,
				                     MT_PATH(p.hashes), p.n, acks[i].ckpt.root),
				    0);
			free(body);
		}
	}
	/* Every checkpoint handed out is consistent with the next and the latest. */
	check_acks_consistent(&s, acks, 40);
	{
		uint8_t empty[32];

		mt_empty_root(empty);
		su_check_consistent(&s, 0, empty, 40, latest.root);
	}
	su_check_consistent(&s, 40, latest.root, 40, latest.root);

	/* A bundle is an envelope plus a tlog-proof against the latest checkpoint. */
	{
		struct cl_bundle b;
		struct tproof tp;
		struct sth c;

		wire_arena_init(&a, abuf, sizeof abuf);
		assert_int_equal(get(&s, "/v1/bundle/13", &body, &len), 200);
		assert_int_equal(wire_bundle_decode(&a, body, len, &b, NULL), 0);
		assert_int_equal(b.envelope_len, lens[13]);
		assert_memory_equal(b.envelope, envs[13], lens[13]);
		assert_int_equal(tproof_parse(b.tlog_proof, b.tlog_proof_len, &tp, NULL), 0);
		assert_int_equal(tp.index, 13);
		assert_int_equal(
		    sth_open(tp.checkpoint, tp.checkpoint_len, &lk, NULL, &c, NULL), 0);
		assert_int_equal(mt_inclusion_verify(acks[13].leaf, 13, c.size, MT_PATH(tp.path),
		                     tp.n_path, c.root),
		    0);
		free(body);
	}
	read_searches(&s);
	/* Again from the search runs (the stop indexed the tail): each root
	 * and narHash candidate is confirmed against the stored envelope. */
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	su_start(&s, dir, NULL);
	read_searches(&s);
	/* Headers: tiles are immutable, the checkpoint is not. */
	expect(&s, "GET", "/healthz", NULL, 0, 200, "ok 40");
	expect(&s, "GET", "/metrics", NULL, 0, 200, "closurelog_batch_size_bucket");
	for (int i = 0; i < 40; i++)
		free(envs[i]);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

/* ---- Tiles rebuild the root ---- */

#define N_TILES 700

static void
test_tiles_rebuild_root(void **state)
{
	char dir[512], path[MT_TILE_PATH_MAX + 8];
	struct h_server s;
	struct note_verifier lk;
	uint8_t **envs = calloc(N_TILES, sizeof *envs);
	size_t *lens = calloc(N_TILES, sizeof *lens);
	struct su_result *res = calloc(N_TILES, sizeof *res);
	struct sth c;
	struct mt_tile tiles[8];
	uint8_t *data[8];
	size_t nt = 0;
	struct mt_range r;
	uint8_t root[32];

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < N_TILES; i++)
		envs[i] = su_envelope(i + 1000, NULL, &lens[i]);
	su_blast(&s, envs, lens, N_TILES, 8, res);
	for (size_t i = 0; i < N_TILES; i++)
		assert_int_equal(res[i].status, 201);
	su_checkpoint(&s, &lk, &c);
	assert_int_equal(c.size, N_TILES);

	/* Every hash tile of the tree, at its width for this size. */
	for (unsigned l = 0; l < 2; l++) {
		for (uint64_t k = 0; k < mt_tile_count(l, c.size); k++) {
			size_t len;

			tiles[nt] = (struct mt_tile){
			    k, (uint16_t)mt_tile_width(l, k, c.size), (uint8_t)l, false};
			assert_int_equal(mt_tile_path(&tiles[nt], path + 1), 0);
			path[0] = '/';
			assert_int_equal(get(&s, path, &data[nt], &len), 200);
			assert_int_equal(len, (size_t)tiles[nt].width * 32);
			nt++;
		}
	}
	{
		struct mt_tileset set = {tiles, (const uint8_t *const *)data, nt};

		assert_int_equal(mt_root_at(c.size, mt_tileset_read, &set, root), 0);
		assert_memory_equal(root, c.root, 32);
	}
	/* Entry bundles hold the exact leaves, hashing to tile 0's hashes; the
	 * leaves rebuild the same root. */
	mt_range_init(&r);
	for (uint64_t k = 0; k < mt_tile_count(0, c.size); k++) {
		struct mt_tile t = {k, (uint16_t)mt_tile_width(0, k, c.size), 0, true};
		uint8_t *b;
		size_t len, at = 0;

		assert_int_equal(mt_tile_path(&t, path + 1), 0);
		assert_int_equal(get(&s, path, &b, &len), 200);
		for (unsigned j = 0; j < t.width; j++) {
			size_t el;
			uint8_t leaf[32];

			assert_true(at + 2 <= len);
			el = (size_t)b[at] << 8 | b[at + 1];
			assert_true(at + 2 + el <= len);
			mt_leaf_hash(leaf, b + at + 2, el);
			assert_memory_equal(leaf, data[k] + (size_t)j * 32, 32);
			assert_int_equal(mt_range_append(&r, leaf, NULL, NULL), 0);
			at += 2 + el;
		}
		assert_int_equal(at, len);
		free(b);
	}
	mt_range_root(&r, root);
	assert_memory_equal(root, c.root, 32);
	/* Full tiles of a partial tile, and wider partials, are not served. */
	expect(&s, "GET", "/tile/0/002", NULL, 0, 404, "does not exist");
	snprintf(path, sizeof path, "/tile/0/002.p/%u", mt_tile_width(0, 2, c.size) + 1);
	expect(&s, "GET", path, NULL, 0, 404, "does not exist");
	{
		/* Immutable caching for tiles. */
		char url[256];
		long status;

		snprintf(url, sizeof url, "%s/tile/0/000", s.url);
		assert_int_equal(h_http("HEAD", url, NULL, 0, &status, NULL, NULL), 0);
		assert_int_equal(status, 200);
	}
	for (size_t i = 0; i < nt; i++)
		free(data[i]);
	su_results_free(res, N_TILES);
	for (size_t i = 0; i < N_TILES; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	free(res);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

/* ---- Restarts, origin and key ---- */

static void
test_restart(void **state)
{
	char dir[512], data[600], other[1024];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack a, b;
	struct sth before, after;
	uint8_t *env, *ck1, *ck2;
	size_t len, l1, l2;
	char err[2048];
	int status;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (int i = 0; i < 10; i++) {
		env = su_envelope((uint64_t)i, NULL, &len);
		assert_int_equal(su_submit(&s, &lk, env, len, &a, NULL), 201);
		free(env);
	}
	su_checkpoint(&s, &lk, &before);
	assert_int_equal(get(&s, "/checkpoint", &ck1, &l1), 200);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);

	/* A restart continues from the store alone, with the very same
	 * checkpoint bytes (Ed25519 is deterministic). */
	su_start(&s, dir, NULL);
	su_checkpoint(&s, &lk, &after);
	assert_int_equal(after.size, 10);
	assert_memory_equal(after.root, before.root, 32);
	assert_int_equal(get(&s, "/checkpoint", &ck2, &l2), 200);
	assert_int_equal(l1, l2);
	assert_memory_equal(ck1, ck2, l1);
	env = su_envelope(3, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &b, NULL), 200);
	assert_int_equal(b.index, 3);
	free(env);
	env = su_envelope(10, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &b, NULL), 201);
	assert_int_equal(b.index, 10);
	free(env);
	su_check_consistent(&s, 10, before.root, 11, b.ckpt.root);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);

	/* The origin and the key are fixed when the data directory is made. */
	snprintf(data, sizeof data, "%s/data", dir);
	{
		static const char *const args[] = {"--origin", "other.example/log", NULL};

		assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
		assert_int_equal(status, 1);
		assert_non_null(strstr(err, "origin"));
	}
	{
		char key_path[1024];
		const char *args[] = {"--key", key_path, NULL};
		struct note_signer other_key;

		/* Same name, another key. */
		snprintf(key_path, sizeof key_path, "%s/otherkey.key", dir);
		assert_int_equal(note_signer_generate("localhost/closurelog", &other_key, NULL), 0);
		assert_int_equal(key_signer_save(key_path, &other_key, NULL), 0);
		note_signer_wipe(&other_key);
		assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
		assert_int_equal(status, 1);
		assert_non_null(strstr(err, "not the key this log was created with"));
	}
	/* A key file others can read is refused. */
	snprintf(other, sizeof other, "%s/log.key", data);
	chmod(other, 0644);
	assert_int_equal(h_server_try_start(&s, data, NULL, &status, err, sizeof err), -1);
	assert_non_null(strstr(err, "readable by group or others"));
	chmod(other, 0600);
	free(ck1);
	free(ck2);
	h_rmrf(dir);
}

/* Poll the server's stderr until `text` appears there `count` times (10 s). */
static void
wait_stderr(const struct h_server *s, const char *text, int count)
{
	char path[600];

	snprintf(path, sizeof path, "%s.stderr", s->dir);
	for (int i = 0; i < 1000; i++) {
		size_t len;
		uint8_t *e = h_read(path, &len);
		int n = 0;

		for (const char *p = (char *)e; (p = strstr(p, text)) != NULL; p += strlen(text))
			n++;
		free(e);
		if (n >= count)
			return;
		usleep(10000);
	}
	fail_msg("the server did not say \"%s\" %d times", text, count);
}

static void
test_submitters_reload(void **state)
{
	char dir[512], path[600], data[600], line[700];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack a;
	uint8_t *env[3];
	size_t len[3];
	static const char *extra[3];
	int n;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/subs", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	n = snprintf(line, sizeof line, "# CI\n%s\n", su_ci_vkey);
	h_write(path, line, (size_t)n);
	extra[0] = "--submitters";
	extra[1] = path;
	h_server_start(&s, data, extra);
	su_log_key(&s, &lk);
	for (int i = 0; i < 3; i++)
		env[i] = su_envelope((uint64_t)i + 1, NULL, &len[i]);
	assert_int_equal(su_submit(&s, &lk, env[0], len[0], &a, NULL), 201);
	/* A bad file on reload keeps the old, non-empty list: the CI key still
	 * gets 201 (an empty or lost list would answer 403). */
	h_write(path, "not a key\n", 10);
	kill(s.pid, SIGHUP);
	wait_stderr(&s, "submitters not reloaded", 1);
	assert_int_equal(su_submit(&s, &lk, env[1], len[1], &a, NULL), 201);
	/* A good file replaces it: an empty list refuses the CI key ... */
	h_write(path, "# nobody yet\n", 13);
	kill(s.pid, SIGHUP);
	wait_stderr(&s, "submitters reloaded", 1);
	expect(&s, "POST", "/v1/entries", env[2], len[2], 403, "no submitters");
	/* ... and the key back admits it again. */
	h_write(path, line, (size_t)n);
	kill(s.pid, SIGHUP);
	wait_stderr(&s, "submitters reloaded", 2);
	assert_int_equal(su_submit(&s, &lk, env[2], len[2], &a, NULL), 201);
	for (int i = 0; i < 3; i++)
		free(env[i]);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

/* Started as root with --user, the server runs as that user once it has
 * opened its data directory, key and socket, and still serves. */
static void
test_privilege_drop(void **state)
{
	char dir[512], path[64], line[256];
	struct h_server s;
	struct note_verifier lk;
	struct su_ack a;
	static const char *const args[] = {"--user", "nobody", NULL};
	struct passwd *pw = getpwnam("nobody");
	uint8_t *env;
	size_t len;
	FILE *f;
	long uid = -1;

	(void)state;
	if (getuid() != 0 || pw == NULL)
		skip(); /* needs root and a "nobody" user, as CI has */
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	snprintf(path, sizeof path, "/proc/%d/status", (int)s.pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "Uid:", 4) == 0)
			uid = strtol(line + 4, NULL, 10);
	}
	fclose(f);
	assert_int_equal(uid, (long)pw->pw_uid);
	su_log_key(&s, &lk);
	env = su_envelope(1, NULL, &len);
	assert_int_equal(su_submit(&s, &lk, env, len, &a, NULL), 201);
	free(env);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	/* A user that does not exist: refused at start. */
	{
		static const char *const bad[] = {"--user", "no-such-user-here", NULL};
		char data[600], err[2048];
		int status;

		snprintf(data, sizeof data, "%s/data", dir);
		assert_int_equal(h_server_try_start(&s, data, bad, &status, err, sizeof err), -1);
		assert_int_equal(status, 1);
		assert_non_null(strstr(err, "--user"));
	}
	h_rmrf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_appends),
	    cmocka_unit_test(test_dedup),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_read_api),
	    cmocka_unit_test(test_tiles_rebuild_root),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_submitters_reload),
	    cmocka_unit_test(test_privilege_drop),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
