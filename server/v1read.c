/*
 * v1read.c: the /v1 read routes (see v1read.h and docs/api.md).
 *
 * Everything served is covered by the latest published checkpoint: an
 * entry the store already holds but no checkpoint covers yet is "not yet
 * published" (404), so that nobody builds on an entry the log has not
 * committed to with a signature; search results and leaf-hash look-ups
 * leave such entries out.  Proofs take the right edge of their size from
 * the thread's pcache.
 */
#include "v1read.h"

#include <string.h>

#include "index.h"
#include "nix.h"
#include "note.h"
#include "tproof.h"

#define SEARCH_PAGE CL_SEARCH_MAX

void
v1_entry(struct rt *t, struct http_req *req, const char *arg)
{
	struct log_ckpt *ck;
	struct cl_entry e;
	const uint8_t *out;
	size_t len;
	uint64_t index, published;
	int rc;

	if (!rt_no_query(t, req))
		return;
	if (!rt_u64(arg, &index)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "index: not a decimal number");
		return;
	}
	if ((ck = rt_checkpoint(t, req)) == NULL)
		return;
	published = ck->size;
	log_ckpt_unref(ck);
	if (!rt_reader_begin(t, req))
		return;
	if (index >= published) {
		uint64_t stored = st_reader_size(t->reader);

		st_reader_end(t->reader);
		if (index < stored)
			rt_fail(t, req, 404, -1, NULL,
			    "entry %llu is not yet published (the latest checkpoint has size "
			    "%llu)",
			    (unsigned long long)index, (unsigned long long)published);
		else
			rt_fail(t, req, 404, -1, NULL, "index %llu is beyond the log's size %llu",
			    (unsigned long long)index, (unsigned long long)published);
		return;
	}
	rc = st_entry_get(t->reader, index, &e.envelope, &e.envelope_len);
	if (rc != 0) {
		st_reader_end(t->reader);
		rt_fail(t, req, 500, R_STORAGE, NULL, "store: %s", st_strerror(rc));
		return;
	}
	e.index = index;
	mt_leaf_hash(e.leaf_hash, e.envelope, e.envelope_len);
	wire_arena_reset(&t->arena);
	rc = wire_entry_encode(&t->arena, &e, &out, &len);
	st_reader_end(t->reader);
	rt_reply_pb(t, req, 200, rc, out, len);
}

/* The size a proof is asked against: a given one no larger than the
 * published checkpoint, else the published checkpoint's. */
static bool
proof_size(struct rt *t, struct http_req *req, const char *s, uint64_t published, const char *name,
    uint64_t *size)
{
	if (s == NULL) {
		*size = published;
		return true;
	}
	if (!rt_u64(s, size)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "%s: not a decimal number", name);
		return false;
	}
	if (*size > published) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "%s %llu is beyond the log's size %llu",
		    name, (unsigned long long)*size, (unsigned long long)published);
		return false;
	}
	return true;
}

void
v1_inclusion(struct rt *t, struct http_req *req)
{
	static const char *const allowed[] = {"index", "leaf_hash", "size"};
	const char *v[3];
	struct log_ckpt *ck = NULL;
	struct cl_proof p;
	const uint8_t *out;
	uint8_t leaf[MT_HASH_LEN];
	size_t len;
	int rc;

	memset(&p, 0, sizeof p);
	if (!rt_query(t, req, allowed, 3, v))
		return;
	if ((ck = rt_checkpoint(t, req)) == NULL)
		return;
	if ((v[0] == NULL) == (v[1] == NULL)) {
		rt_fail(
		    t, req, 400, R_BAD_REQUEST, NULL, "give exactly one of index and leaf_hash");
		goto out;
	}
	if (!proof_size(t, req, v[2], ck->size, "size", &p.b))
		goto out;
	if (v[0] != NULL && !rt_u64(v[0], &p.a)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "index: not a decimal number");
		goto out;
	}
	if (v[1] != NULL && cl_hex_decode(v[1], strlen(v[1]), leaf, sizeof leaf) != 0) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "leaf_hash: not 64 hex digits");
		goto out;
	}
	if (!rt_reader_begin(t, req))
		goto out;
	/* A leaf the store holds past the published size is not in the log
	 * yet: its index would tell of an entry nobody can check. */
	if (v[1] != NULL &&
	    ((rc = ix_leaf_find(log_index(t->log), t->reader, leaf, &p.a)) != 0 ||
	        p.a >= ck->size)) {
		st_reader_end(t->reader);
		if (rc == 0 || rc == ST_ENOTFOUND)
			rt_fail(t, req, 404, -1, NULL,
			    "leaf_hash is not in the log (as of the latest checkpoint, size %llu)",
			    (unsigned long long)ck->size);
		else
			rt_fail(t, req, 500, R_STORAGE, NULL, "store: %s", st_strerror(rc));
		goto out;
	}
	if (p.a >= p.b) {
		st_reader_end(t->reader);
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "index %llu is not below size %llu",
		    (unsigned long long)p.a, (unsigned long long)p.b);
		goto out;
	}
	rc = pc_inclusion(&t->pcache, t->reader, p.a, p.b, p.hashes, &p.n);
	st_reader_end(t->reader);
	if (rc != 0) {
		rt_fail(t, req, 500, R_STORAGE, NULL, "proof failed: %s", st_strerror(rc));
		goto out;
	}
	wire_arena_reset(&t->arena);
	rc = wire_inclusion_encode(&t->arena, &p, &out, &len);
	rt_reply_pb(t, req, 200, rc, out, len);
out:
	log_ckpt_unref(ck);
}

void
v1_consistency(struct rt *t, struct http_req *req)
{
	static const char *const allowed[] = {"from", "to"};
	const char *v[2];
	struct log_ckpt *ck = NULL;
	struct cl_proof p;
	const uint8_t *out;
	size_t len;
	int rc;

	memset(&p, 0, sizeof p);
	if (!rt_query(t, req, allowed, 2, v))
		return;
	if ((ck = rt_checkpoint(t, req)) == NULL)
		return;
	if (v[0] == NULL || !rt_u64(v[0], &p.a)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "from: missing or not a decimal number");
		goto out;
	}
	if (!proof_size(t, req, v[1], ck->size, "to", &p.b))
		goto out;
	if (p.a > p.b) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "from %llu is larger than to %llu",
		    (unsigned long long)p.a, (unsigned long long)p.b);
		goto out;
	}
	if (!rt_reader_begin(t, req))
		goto out;
	rc = pc_consistency(&t->pcache, t->reader, p.a, p.b, p.hashes, &p.n);
	st_reader_end(t->reader);
	if (rc != 0) {
		rt_fail(t, req, 500, R_STORAGE, NULL, "proof failed: %s", st_strerror(rc));
		goto out;
	}
	wire_arena_reset(&t->arena);
	rc = wire_consistency_encode(&t->arena, &p, &out, &len);
	rt_reply_pb(t, req, 200, rc, out, len);
out:
	log_ckpt_unref(ck);
}

/* A ProofBundle for `index` against checkpoint ck: the leaf and a
 * c2sp.org/tlog-proof@v1.  Uses the thread's open reader. */
static int
bundle_build(
    struct rt *t, uint64_t index, const struct log_ckpt *ck, const uint8_t **out, size_t *len)
{
	struct cl_bundle b;
	struct tproof *tp;
	uint8_t *text;
	size_t text_len, path_n;
	int rc;

	if ((rc = st_entry_get(t->reader, index, &b.envelope, &b.envelope_len)) != 0)
		return rc;
	tp = wire_arena_alloc(&t->arena, sizeof *tp);
	text = wire_arena_alloc(&t->arena, CL_TPROOF_MAX);
	if (tp == NULL || text == NULL)
		return CL_ENOMEM;
	memset(tp, 0, sizeof *tp);
	if ((rc = pc_inclusion(&t->pcache, t->reader, index, ck->size, tp->path, &path_n)) != 0)
		return rc;
	tp->index = index;
	tp->n_path = path_n;
	tp->checkpoint = ck->note;
	tp->checkpoint_len = ck->len;
	if ((rc = tproof_format(tp, text, CL_TPROOF_MAX, &text_len)) != 0)
		return rc;
	b.tlog_proof = text;
	b.tlog_proof_len = text_len;
	return wire_bundle_encode(&t->arena, &b, out, len);
}

void
v1_bundle(struct rt *t, struct http_req *req, const char *arg)
{
	struct log_ckpt *ck;
	const uint8_t *out;
	size_t len;
	uint64_t index;
	int rc;

	if (!rt_no_query(t, req))
		return;
	if (!rt_u64(arg, &index)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "index: not a decimal number");
		return;
	}
	if ((ck = rt_checkpoint(t, req)) == NULL)
		return;
	if (index >= ck->size) {
		rt_fail(t, req, 404, -1, NULL, "index %llu is beyond the log's size %llu",
		    (unsigned long long)index, (unsigned long long)ck->size);
		goto out;
	}
	if (!rt_reader_begin(t, req))
		goto out;
	wire_arena_reset(&t->arena);
	rc = bundle_build(t, index, ck, &out, &len);
	/* The answer is copied out before the transaction ends. */
	if (rc != 0)
		rt_fail(t, req, 500, R_STORAGE, NULL, "bundle failed: %s", st_strerror(rc));
	else
		rt_reply(req, 200, RT_CT_PROTOBUF, RT_CACHE_NO_CACHE, out, len);
	st_reader_end(t->reader);
out:
	log_ckpt_unref(ck);
}

/* submitter=: a verifier key string, or 64 hex digits of an Ed25519 key. */
static bool
submitter_key(const char *s, uint8_t pub[32])
{
	struct note_verifier v;

	if (cl_hex_decode(s, strlen(s), pub, 32) == 0)
		return true;
	if (note_verifier_parse(s, strlen(s), &v, NULL) == 0 && v.type == NOTE_TYPE_ED25519) {
		memcpy(pub, v.pub, 32);
		return true;
	}
	return false;
}

void
v1_search(struct rt *t, struct http_req *req)
{
	static const char *const allowed[] = {"root", "nar_hash", "submitter", "start"};
	const char *v[4], *val = NULL;
	enum ix_which which = IX_N_KEYS;
	struct log_ckpt *ck;
	uint64_t start = 0, published, *idx = NULL;
	uint8_t digest[32];
	const void *key = NULL;
	size_t key_len = 0, len;
	struct cl_search_result sr;
	const uint8_t *out;
	char why[CL_WHY_MAX];
	bool more;
	int rc;

	if (!rt_query(t, req, allowed, 4, v))
		return;
	for (int i = 0; i < IX_N_KEYS; i++) {
		if (v[i] == NULL)
			continue;
		if (val != NULL) {
			val = NULL;
			break;
		}
		val = v[i];
		which = (enum ix_which)i;
	}
	if (val == NULL) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL,
		    "give exactly one of root, nar_hash, submitter");
		return;
	}
	if (v[3] != NULL && !rt_u64(v[3], &start)) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "start: not a decimal number");
		return;
	}
	if (which == IX_BY_ROOT) {
		if (nix_store_path_check(val, strlen(val), why) != 0) {
			rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "root: %s", why);
			return;
		}
		key = val;
		key_len = strlen(val);
	} else if (which == IX_BY_NAR) {
		struct nix_hash h;

		if ((rc = nix_hash_parse(val, strlen(val), NIX_SHA256, &h, why)) != 0 ||
		    h.algo != NIX_SHA256) {
			rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "nar_hash: %s",
			    rc != 0 ? why : "must be a sha256 hash");
			return;
		}
		memcpy(digest, h.bytes, 32);
		key = digest;
		key_len = 32;
	} else {
		if (!submitter_key(val, digest)) {
			rt_fail(t, req, 400, R_BAD_REQUEST, NULL,
			    "submitter: not a verifier key or 64 hex digits of a public key");
			return;
		}
		key = digest;
		key_len = 32;
	}
	if ((ck = rt_checkpoint(t, req)) == NULL)
		return;
	published = ck->size;
	log_ckpt_unref(ck);
	wire_arena_reset(&t->arena);
	/* One more than a page: whether more follow below the published size. */
	if ((idx = wire_arena_alloc(&t->arena, (SEARCH_PAGE + 1) * sizeof *idx)) == NULL) {
		rt_fail(t, req, 500, -1, NULL, "out of memory");
		return;
	}
	if (!rt_reader_begin(t, req))
		return;
	rc = ix_search(log_index(t->log), t->reader, which, key, key_len, start, idx,
	    SEARCH_PAGE + 1, &sr.n, &more);
	st_reader_end(t->reader);
	if (rc != 0) {
		rt_fail(t, req, 500, R_STORAGE, NULL, "search failed: %s", st_strerror(rc));
		return;
	}
	/* Entries the store holds past the published checkpoint are not in
	 * the log yet: neither they nor their number are shown. */
	while (sr.n > 0 && idx[sr.n - 1] >= published) {
		sr.n--;
		more = false;
	}
	if (sr.n > SEARCH_PAGE) {
		sr.n = SEARCH_PAGE;
		more = true;
	}
	sr.indices = idx;
	sr.truncated = more;
	rc = wire_search_result_encode(&t->arena, &sr, &out, &len);
	rt_reply_pb(t, req, 200, rc, out, len);
}
