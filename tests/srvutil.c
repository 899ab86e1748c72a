/*
 * srvutil.c: keys, envelopes and checked submissions for the server tests.
 */
#include "srvutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "testutil.h"
#include "wire.h"

struct note_signer su_ci;
struct note_verifier su_ci_pub;
char su_ci_vkey[NOTE_VKEY_MAX];

static uint8_t su_arena_buf[WIRE_ARENA_MIN];

void
su_init(void)
{
	uint8_t seed[32];

	memset(seed, 0x42, sizeof seed);
	if (note_signer_from_seed("ci.example.com/builder", seed, &su_ci, NULL) != 0)
		abort();
	note_signer_verifier(&su_ci, &su_ci_pub);
	note_verifier_format(&su_ci_pub, su_ci_vkey, sizeof su_ci_vkey);
}

static uint8_t *
envelope_make(uint64_t n, const struct note_signer *signer, const char *run_url, size_t *len)
{
	static const uint8_t lock[32] = {7};
	static const char *const roots[] = {
	    "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source",
	    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt",
	    "/nix/store/d8gvjwks7vzhji6bjm5kkim3fc3bqc9h-source",
	};
	struct wire_arena a;
	struct cl_attestation att;
	const uint8_t *payload, *env;
	size_t plen;
	char builder[64];
	uint8_t *out;

	wire_arena_init(&a, su_arena_buf, sizeof su_arena_buf);
	memset(&att, 0, sizeof att);
	snprintf(builder, sizeof builder, "runner-%llu", (unsigned long long)n);
	att.root = roots[n % 3];
	att.nar_hash = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";
	att.flake_lock = (struct cl_digest){"sha256", lock, 32};
	att.system = "x86_64-linux";
	att.sandbox = CL_SANDBOX_ON;
	att.builder_id = builder;
	att.run_url = run_url;
	att.build_time = 1700000000 + n;
	if (wire_attestation_encode(&a, &att, &payload, &plen, NULL) != 0 ||
	    dsse_sign(&a, signer != NULL ? signer : &su_ci, payload, plen, &env, len, NULL) != 0)
		abort();
	out = malloc(*len);
	assert_non_null(out);
	memcpy(out, env, *len);
	return out;
}

uint8_t *
su_envelope(uint64_t n, const struct note_signer *signer, size_t *len)
{
	return envelope_make(n, signer, "", len);
}

uint8_t *
su_envelope_noisy(uint64_t n, size_t *len)
{
	uint8_t seed[randombytes_SEEDBYTES] = {0}, noise[200];
	char url[2 * sizeof noise + 64];
	size_t at;

	memcpy(seed, &n, sizeof n);
	randombytes_buf_deterministic(noise, sizeof noise, seed);
	at = (size_t)snprintf(url, sizeof url, "https://ci.example.com/runs/");
	sodium_bin2hex(url + at, sizeof url - at, noise, sizeof noise);
	return envelope_make(n, NULL, url, len);
}

void
su_start(struct h_server *s, const char *dir, const char *const *extra)
{
	char path[600], data[600];
	const char *args[40];
	size_t n = 0;

	snprintf(path, sizeof path, "%s/submitters", dir);
	h_write(path, su_ci_vkey, strlen(su_ci_vkey));
	snprintf(data, sizeof data, "%s/data", dir);
	args[n++] = "--submitters";
	args[n++] = path;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 38; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	h_server_start(s, data, args);
}

void
su_log_key(const struct h_server *s, struct note_verifier *v)
{
	assert_int_equal(note_verifier_parse(s->vkey, strlen(s->vkey), v, NULL), 0);
}

void
su_check_ack(const struct note_verifier *log_key, const uint8_t *env, size_t len, long status,
    const uint8_t *body, size_t blen, struct su_ack *ack)
{
	char w[CL_WHY_MAX];
	uint8_t leaf[MT_HASH_LEN];
	struct wire_arena a;
	struct cl_submit_response r;
	void *abuf;

	assert_true(status == 200 || status == 201);
	abuf = malloc(WIRE_ARENA_MIN);
	assert_non_null(abuf);
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	if (wire_submit_response_decode(&a, body, blen, &r, w) != 0)
		fail_msg("bad submit response: %s", w);
	mt_leaf_hash(leaf, env, len);
	assert_memory_equal(leaf, r.leaf_hash, 32);
	assert_true(r.checkpoint_len < sizeof ack->note);
	if (sth_open(r.checkpoint, r.checkpoint_len, log_key, NULL, &ack->ckpt, w) != 0)
		fail_msg("checkpoint does not verify: %s", w);
	ack->ckpt.ext = NULL;
	assert_int_equal(r.inclusion.a, r.index);
	assert_int_equal(r.inclusion.b, ack->ckpt.size);
	assert_int_equal(mt_inclusion_verify(leaf, r.index, ack->ckpt.size,
	                     MT_PATH(r.inclusion.hashes), r.inclusion.n, ack->ckpt.root),
	    0);
	assert_int_equal(r.duplicate, status == 200);
	ack->index = r.index;
	memcpy(ack->leaf, leaf, 32);
	ack->duplicate = r.duplicate;
	memcpy(ack->note, r.checkpoint, r.checkpoint_len);
	ack->note_len = r.checkpoint_len;
	free(abuf);
}

long
su_submit(const struct h_server *s, const struct note_verifier *log_key, const uint8_t *env,
    size_t len, struct su_ack *ack, char *why)
{
	char url[128];
	uint8_t *body = NULL;
	size_t blen = 0;
	long status;

	snprintf(url, sizeof url, "%s/v1/entries", s->url);
	if (h_http("POST", url, env, len, &status, &body, &blen) != 0) {
		free(body);
		return 0;
	}
	if (status == 200 || status == 201)
		su_check_ack(log_key, env, len, status, body, blen, ack);
	else if (why != NULL)
		snprintf(why, 256, "%s", (char *)body);
	free(body);
	return status;
}

/* ---- Many submissions at once ---- */

struct blast {
	const struct h_server *s;
	uint8_t *const *envs;
	const size_t *lens;
	size_t n;
	unsigned threads, id;
	struct su_result *res;
};

static size_t
blast_sink(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct su_result *r = arg;
	size_t n = size * nmemb;
	uint8_t *t = realloc(r->body, r->len + n + 1);

	if (t == NULL)
		return 0;
	memcpy(t + r->len, ptr, n);
	r->body = t;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t
blast_header(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct su_result *r = arg;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0)
		snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(n - 12), buf + 12);
	return n;
}

static void *
blast_main(void *arg)
{
	struct blast *b = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	char url[128];

	snprintf(url, sizeof url, "%s/v1/entries", b->s->url);
	for (size_t i = b->id; c != NULL && i < b->n; i += b->threads) {
		struct su_result *r = &b->res[i];

		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, b->envs[i]);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->lens[i]);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, blast_sink);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, blast_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		else
			r->status = 0;
	}
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	return NULL;
}

void
su_blast(const struct h_server *s, uint8_t *const *envs, const size_t *lens, size_t n,
    unsigned threads, struct su_result *res)
{
	pthread_t tid[64];
	struct blast b[64];

	assert_true(threads > 0 && threads <= 64);
	memset(res, 0, n * sizeof *res);
	for (unsigned t = 0; t < threads; t++) {
		b[t] = (struct blast){s, envs, lens, n, threads, t, res};
		assert_int_equal(pthread_create(&tid[t], NULL, blast_main, &b[t]), 0);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
}

void
su_results_free(struct su_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(res[i].body);
		res[i].body = NULL;
	}
}

void
su_checkpoint(const struct h_server *s, const struct note_verifier *log_key, struct sth *c)
{
	char url[128], why[CL_WHY_MAX];
	uint8_t *body;
	size_t len;
	long status;

	snprintf(url, sizeof url, "%s/checkpoint", s->url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 200);
	if (sth_open(body, len, log_key, NULL, c, why) != 0)
		fail_msg("checkpoint: %s", why);
	c->ext = NULL;
	free(body);
}

void
su_check_consistent(const struct h_server *s, uint64_t m, const uint8_t old_root[32], uint64_t n,
    const uint8_t new_root[32])
{
	char url[256], why[CL_WHY_MAX];
	uint8_t *body;
	size_t len;
	long status;
	struct wire_arena a;
	struct cl_proof p;
	void *abuf = malloc(WIRE_ARENA_MIN);

	assert_non_null(abuf);
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	snprintf(url, sizeof url, "%s/v1/proof/consistency?from=%llu&to=%llu", s->url,
	    (unsigned long long)m, (unsigned long long)n);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 200);
	if (wire_consistency_decode(&a, body, len, &p, why) != 0)
		fail_msg("consistency proof: %s", why);
	assert_int_equal(p.a, m);
	assert_int_equal(p.b, n);
	if (mt_consistency_verify(m, n, old_root, new_root, MT_PATH(p.hashes), p.n) != 0)
		fail_msg("checkpoints at %llu and %llu are not consistent", (unsigned long long)m,
		    (unsigned long long)n);
	free(body);
	free(abuf);
}
