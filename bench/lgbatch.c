/*
 * lgbatch.c: batch requests for the load generator and the checks on
 * their answers.
 *
 * The request is encoded once, before the run, with the same encoder the
 * client uses (wire_batch_encode), so that during the run the generator
 * only copies bytes.  The answer is checked after the run, off the clock,
 * as strictly as `closurelog submit` checks it: decoding the answer
 * canonically, one result per envelope, the checkpoint's signature, and
 * each logged envelope's leaf hash and inclusion proof (every hash of it,
 * through the answer's cache of proven nodes, mt_vcache).  Anything short of
 * a verified 201 is not an append, so a refused envelope can never be
 * counted as one.
 */
#include "lgbatch.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"
#include "sth.h"

int
lg_batch_request(struct lg_req *r, const char *host_port, const struct cl_span *envs, size_t n)
{
	struct wire_arena a;
	const uint8_t *body;
	size_t cap = 64, len;
	void *buf;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		cap += envs[i].len + 32;
	if ((buf = malloc(cap)) == NULL)
		return -1;
	wire_arena_init(&a, buf, cap);
	if (wire_batch_encode(&a, envs, n, &body, &len) == 0)
		rc = lg_request(r, "POST", host_port, "/v1/entries/batch", body, len);
	free(buf);
	return rc;
}

void
lg_batch_check(struct wire_arena *a, const struct note_verifier *log_key,
    const struct cl_span *envs, size_t n, const struct lg_res *r, size_t proof_every,
    struct lg_batch_tally *t)
{
	struct cl_batch_response br;
	struct sth c;
	struct mt_vcache vc;

	if (proof_every == 0)
		proof_every = 1;
	wire_arena_reset(a);
	if (r->status != 200 || r->body == NULL) {
		t->refused += n;
		return;
	}
	if (wire_batch_response_decode(a, r->body, r->len, n, &br, NULL) != 0 || br.n != n ||
	    sth_open(br.checkpoint, br.checkpoint_len, log_key, NULL, &c, NULL) != 0) {
		t->bad += n;
		return;
	}
	t->checkpoints++;
	/* The answers share most of their paths: each proof is folded only
	 * up to a node an earlier one proved, and matched from there. */
	mt_vcache_init(&vc, c.size, c.root);
	if (c.size > t->max_size)
		t->max_size = c.size;
	for (size_t i = 0; i < n; i++) {
		const struct cl_batch_result *x = &br.results[i];
		uint8_t leaf[MT_HASH_LEN];

		if (x->status >= 400) {
			t->refused++;
			continue;
		}
		mt_leaf_hash(leaf, envs[i].data, envs[i].len);
		if ((x->status != 201 && x->status != 200) ||
		    sodium_memcmp(leaf, x->leaf_hash, MT_HASH_LEN) != 0 ||
		    x->inclusion.b != c.size) {
			t->bad++;
			continue;
		}
		if (i % proof_every == 0) {
			if (mt_inclusion_verify_cached(&vc, leaf, x->index,
			        MT_PATH(x->inclusion.hashes), x->inclusion.n) != 0) {
				t->bad++;
				continue;
			}
			t->proofs++;
		}
		if (x->status == 201)
			t->appended++;
		else
			t->duplicates++;
	}
}

size_t
lg_batch_failures(const struct lg_batch_tally *t)
{
	return t->refused + t->bad + t->duplicates;
}
