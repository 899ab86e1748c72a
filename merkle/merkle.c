/*
 * merkle.c: RFC 6962 hashing, the incremental right edge, proof plans and
 * RFC 9162 verification.
 *
 * Generation is split in two.  A *plan* walks the RFC 6962 recursion and
 * writes down, for each proof hash, the half-open leaf range [a, b) it is the
 * MTH of, decomposed into complete subtrees (stored nodes).  Running the plan
 * fetches every stored node in one reader call and folds each group.  The
 * split lets the server answer from LMDB in one batch and lets a client learn
 * which tiles to fetch before it fetches them.
 *
 * Verification follows RFC 9162 §2.1.3.2 / §2.1.4.2 step by step, after an
 * exact length check so that a wrong-length proof is reported as such and
 * never hashed.
 */
#include "merkle.h"

#include <string.h>

#include <sodium.h>

static unsigned
bitlen64(uint64_t x)
{
	return x == 0 ? 0 : 64 - (unsigned)__builtin_clzll(x);
}

static uint64_t
shr64(uint64_t x, unsigned s)
{
	return s >= 64 ? 0 : x >> s;
}

void
mt_leaf_hash(uint8_t out[MT_HASH_LEN], const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;
	const uint8_t prefix = 0x00;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, out);
}

void
mt_node_hash(
    uint8_t out[MT_HASH_LEN], const uint8_t left[MT_HASH_LEN], const uint8_t right[MT_HASH_LEN])
{
	/* One contiguous 65-byte message is cheaper than three updates. */
	uint8_t buf[1 + 2 * MT_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, MT_HASH_LEN);
	memcpy(buf + 1 + MT_HASH_LEN, right, MT_HASH_LEN);
	crypto_hash_sha256(out, buf, sizeof buf);
}

void
mt_empty_root(uint8_t out[MT_HASH_LEN])
{
	crypto_hash_sha256(out, NULL, 0);
}

/* ---- Right edge ---- */

void
mt_range_init(struct mt_range *r)
{
	memset(r, 0, sizeof *r);
}

int
mt_range_load(struct mt_range *r, uint64_t size, mt_read_fn read, void *ctx)
{
	struct mt_plan plan;
	uint8_t hashes[MT_NODES_MAX][MT_HASH_LEN];
	int rc;

	mt_range_init(r);
	if (size == 0)
		return 0;
	(void)mt_root_plan(size, &plan);
	if ((rc = read(ctx, plan.nodes, plan.n_nodes, hashes)) != 0)
		return rc;
	for (size_t i = 0; i < plan.n_nodes; i++)
		memcpy(r->hash[plan.nodes[i].height], hashes[i], MT_HASH_LEN);
	r->size = size;
	return 0;
}

int
mt_range_append(struct mt_range *r, const uint8_t leaf[MT_HASH_LEN], mt_emit_fn emit, void *ctx)
{
	uint64_t i = r->size;
	struct mt_node node = {i, 0};
	uint8_t h[MT_HASH_LEN];
	unsigned level = 0;
	int rc;

	if (i == UINT64_MAX)
		return MT_EFULL;
	memcpy(h, leaf, MT_HASH_LEN);
	if (emit != NULL && (rc = emit(ctx, &node, h)) != 0)
		return rc;
	/* Each trailing 1 bit of the old size is a left sibling waiting for us. */
	while ((i >> level) & 1) {
		mt_node_hash(h, r->hash[level], h);
		level++;
		node.height = (uint8_t)level;
		node.index = i >> level;
		if (emit != NULL && (rc = emit(ctx, &node, h)) != 0)
			return rc;
	}
	memcpy(r->hash[level], h, MT_HASH_LEN);
	r->size = i + 1;
	return 0;
}

void
mt_range_root(const struct mt_range *r, uint8_t root[MT_HASH_LEN])
{
	uint64_t size = r->size;
	unsigned h;

	if (size == 0) {
		mt_empty_root(root);
		return;
	}
	/* Fold from the smallest (rightmost) subtree leftwards. */
	h = (unsigned)__builtin_ctzll(size);
	memcpy(root, r->hash[h], MT_HASH_LEN);
	for (h++; h < 64; h++) {
		if ((size >> h) & 1)
			mt_node_hash(root, r->hash[h], root);
	}
}

/* ---- Plans ---- */

/* Largest power of two strictly less than n, for n >= 2. */
static uint64_t
split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

struct span {
	uint64_t a, b;
};

/* Append MTH(D[a:b]) as one element: the complete subtrees of [a, b), left to
 * right.  Within the RFC recursion a is always a multiple of the first
 * subtree's size, so the right fold of these is exactly MTH(D[a:b]). */
static int
plan_add(struct mt_plan *p, uint64_t a, uint64_t b)
{
	size_t first = p->n_nodes;

	if (p->n_elems >= MT_PROOF_MAX)
		return MT_EINVAL;
	while (a < b) {
		unsigned h = a == 0 ? 63 : (unsigned)__builtin_ctzll(a);
		unsigned fit = 63 - (unsigned)__builtin_clzll(b - a);

		if (fit < h)
			h = fit;
		if (p->n_nodes >= MT_NODES_MAX)
			return MT_EINVAL;
		p->nodes[p->n_nodes].index = a >> h;
		p->nodes[p->n_nodes].height = (uint8_t)h;
		p->n_nodes++;
		a += (uint64_t)1 << h;
	}
	p->elem_nodes[p->n_elems++] = (uint8_t)(p->n_nodes - first);
	return 0;
}

/* The recursions produce elements root first; proofs list them leaf first. */
static int
plan_from_spans(struct mt_plan *p, const struct span *s, size_t n)
{
	int rc;

	p->n_elems = p->n_nodes = 0;
	while (n-- > 0) {
		if ((rc = plan_add(p, s[n].a, s[n].b)) != 0)
			return rc;
	}
	return 0;
}

int
mt_inclusion_plan(uint64_t index, uint64_t size, struct mt_plan *plan)
{
	struct span s[MT_PROOF_MAX];
	uint64_t lo = 0, hi = size;
	size_t n = 0;

	plan->n_elems = plan->n_nodes = 0;
	if (index >= size)
		return MT_EINVAL;
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k) {
			s[n++] = (struct span){lo + k, hi};
			hi = lo + k;
		} else {
			s[n++] = (struct span){lo, lo + k};
			lo += k;
		}
	}
	return plan_from_spans(plan, s, n);
}

int
mt_consistency_plan(uint64_t m, uint64_t n, struct mt_plan *plan)
{
	struct span s[MT_PROOF_MAX];
	uint64_t lo = 0, hi = n;
	size_t ns = 0;
	int complete = 1; /* SUBPROOF's b: still on the path of the old root */

	plan->n_elems = plan->n_nodes = 0;
	if (m > n)
		return MT_EINVAL;
	if (m == 0 || m == n)
		return 0;
	while (m != hi) {
		uint64_t k = split_point(hi - lo);

		if (m <= lo + k) {
			s[ns++] = (struct span){lo + k, hi};
			hi = lo + k;
		} else {
			s[ns++] = (struct span){lo, lo + k};
			lo += k;
			complete = 0;
		}
	}
	if (!complete)
		s[ns++] = (struct span){lo, hi};
	return plan_from_spans(plan, s, ns);
}

int
mt_root_plan(uint64_t size, struct mt_plan *plan)
{
	plan->n_elems = plan->n_nodes = 0;
	if (size == 0)
		return 0;
	/* [0, size) decomposes into one node per set bit: at most 64. */
	return plan_add(plan, 0, size);
}

int
mt_plan_run(const struct mt_plan *plan, mt_read_fn read, void *ctx, uint8_t (*out)[MT_HASH_LEN],
    size_t *n_out)
{
	uint8_t hashes[MT_NODES_MAX][MT_HASH_LEN];
	size_t first = 0;
	int rc;

	*n_out = 0;
	if (plan->n_nodes > 0 && (rc = read(ctx, plan->nodes, plan->n_nodes, hashes)) != 0)
		return rc;
	for (size_t e = 0; e < plan->n_elems; e++) {
		size_t last = first + plan->elem_nodes[e] - 1;

		memcpy(out[e], hashes[last], MT_HASH_LEN);
		while (last-- > first)
			mt_node_hash(out[e], hashes[last], out[e]);
		first += plan->elem_nodes[e];
	}
	*n_out = plan->n_elems;
	return 0;
}

void
mt_edge_init(struct mt_edge *e, const struct mt_range *r)
{
	const uint8_t *below = NULL;

	memset(e, 0, sizeof *e);
	e->size = r->size;
	/* Upwards from the lowest set bit: each fold is the node of its bit
	 * over the fold of every lower bit (mt_range_root, kept at each step). */
	for (unsigned h = 0; h < 64; h++) {
		if ((r->size >> h & 1) == 0)
			continue;
		if (below == NULL)
			memcpy(e->fold[h], r->hash[h], MT_HASH_LEN);
		else
			mt_node_hash(e->fold[h], r->hash[h], below);
		below = e->fold[h];
	}
}

/* The height h whose fold in e is the hash of nodes[0..n), or -1.  The
 * nodes are a plan element: the complete subtrees of one span [x, end), left
 * to right.  It is a fold of e exactly when the span ends at e->size and
 * starts at x_h for the first node's height h, a set bit of e->size; a plan
 * decomposes such a span into exactly the right-edge nodes e folded. */
static int
edge_match(const struct mt_edge *e, const struct mt_node *nodes, size_t n)
{
	const struct mt_node *f = &nodes[0], *l = &nodes[n - 1];
	uint64_t x, low;

	if (n < 2 || f->height >= 64 || l->height >= 64)
		return -1;
	if (shr64(e->size, l->height) != l->index + 1 || (l->index + 1) << l->height != e->size)
		return -1;
	if ((e->size >> f->height & 1) == 0)
		return -1;
	low = f->height == 63 ? UINT64_MAX : ((uint64_t)2 << f->height) - 1;
	x = e->size & ~low;
	if (f->index != x >> f->height)
		return -1;
	return f->height;
}

int
mt_plan_run_edge(const struct mt_plan *plan, const struct mt_edge *e, mt_read_fn read, void *ctx,
    uint8_t (*out)[MT_HASH_LEN], size_t *n_out, size_t *n_reused)
{
	uint8_t hashes[MT_NODES_MAX][MT_HASH_LEN];
	struct mt_node want[MT_NODES_MAX];
	int fold[MT_PROOF_MAX];
	size_t first = 0, n_want = 0, reused = 0;
	int rc;

	*n_out = 0;
	if (n_reused != NULL)
		*n_reused = 0;
	for (size_t i = 0; i < plan->n_elems; i++) {
		fold[i] = edge_match(e, plan->nodes + first, plan->elem_nodes[i]);
		if (fold[i] < 0) {
			memcpy(
			    want + n_want, plan->nodes + first, plan->elem_nodes[i] * sizeof *want);
			n_want += plan->elem_nodes[i];
		}
		first += plan->elem_nodes[i];
	}
	if (n_want > 0 && (rc = read(ctx, want, n_want, hashes)) != 0)
		return rc;
	first = 0;
	for (size_t i = 0; i < plan->n_elems; i++) {
		size_t k = plan->elem_nodes[i], last = first + k - 1;

		/* hashes[] holds only the nodes read: first counts those. */
		if (fold[i] >= 0) {
			memcpy(out[i], e->fold[fold[i]], MT_HASH_LEN);
			reused++;
			continue;
		}
		memcpy(out[i], hashes[last], MT_HASH_LEN);
		while (last-- > first)
			mt_node_hash(out[i], hashes[last], out[i]);
		first += k;
	}
	*n_out = plan->n_elems;
	if (n_reused != NULL)
		*n_reused = reused;
	return 0;
}

int
mt_inclusion_prove(uint64_t index, uint64_t size, mt_read_fn read, void *ctx,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct mt_plan plan;
	int rc;

	*n_path = 0;
	if ((rc = mt_inclusion_plan(index, size, &plan)) != 0)
		return rc;
	return mt_plan_run(&plan, read, ctx, path, n_path);
}

int
mt_consistency_prove(uint64_t m, uint64_t n, mt_read_fn read, void *ctx,
    uint8_t (*path)[MT_HASH_LEN], size_t *n_path)
{
	struct mt_plan plan;
	int rc;

	*n_path = 0;
	if ((rc = mt_consistency_plan(m, n, &plan)) != 0)
		return rc;
	return mt_plan_run(&plan, read, ctx, path, n_path);
}

int
mt_root_at(uint64_t size, mt_read_fn read, void *ctx, uint8_t root[MT_HASH_LEN])
{
	struct mt_plan plan;
	uint8_t out[MT_PROOF_MAX][MT_HASH_LEN];
	size_t n;
	int rc;

	if (size == 0) {
		mt_empty_root(root);
		return 0;
	}
	(void)mt_root_plan(size, &plan);
	if ((rc = mt_plan_run(&plan, read, ctx, out, &n)) != 0)
		return rc;
	memcpy(root, out[0], MT_HASH_LEN);
	return 0;
}

/* ---- Lengths ---- */

size_t
mt_inclusion_len(uint64_t index, uint64_t size)
{
	unsigned inner;

	if (index >= size)
		return 0;
	inner = bitlen64(index ^ (size - 1));
	return inner + (size_t)__builtin_popcountll(shr64(index, inner));
}

size_t
mt_consistency_len(uint64_t m, uint64_t n)
{
	unsigned fork, shift, border;

	if (m == 0 || m >= n)
		return 0;
	fork = bitlen64((m - 1) ^ (n - 1));
	shift = (unsigned)__builtin_ctzll(m);
	border = (unsigned)__builtin_popcountll(shr64(m - 1, fork));
	return ((m & (m - 1)) == 0 ? 0 : 1) + fork - shift + border;
}

/* ---- Verification ---- */

/* root = the root that `path` leads to from `leaf` at `index` in a tree of
 * `size` leaves.  Same errors as mt_inclusion_verify except MT_EBADPROOF. */
static int
mt_inclusion_root(const uint8_t leaf[MT_HASH_LEN], uint64_t index, uint64_t size,
    const uint8_t (*path)[MT_HASH_LEN], size_t n_path, uint8_t root[MT_HASH_LEN])
{
	uint64_t fn, sn;
	uint8_t r[MT_HASH_LEN];

	if (index >= size)
		return MT_EINVAL;
	if (n_path != mt_inclusion_len(index, size))
		return MT_EPROOFLEN;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, MT_HASH_LEN);
	for (size_t i = 0; i < n_path; i++) {
		const uint8_t *p = path[i];

		if (sn == 0)
			return MT_EPROOFLEN;
		if ((fn & 1) == 1 || fn == sn) {
			mt_node_hash(r, p, r);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			mt_node_hash(r, r, p);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MT_EPROOFLEN;
	memcpy(root, r, MT_HASH_LEN);
	return 0;
}

int
mt_inclusion_verify(const uint8_t leaf[MT_HASH_LEN], uint64_t index, uint64_t size,
    const uint8_t (*path)[MT_HASH_LEN], size_t n_path, const uint8_t root[MT_HASH_LEN])
{
	uint8_t r[MT_HASH_LEN];
	int rc;

	if ((rc = mt_inclusion_root(leaf, index, size, path, n_path, r)) != 0)
		return rc;
	return sodium_memcmp(r, root, MT_HASH_LEN) == 0 ? 0 : MT_EBADPROOF;
}

void
mt_vcache_init(struct mt_vcache *c, uint64_t size, const uint8_t root[MT_HASH_LEN])
{
	c->size = size;
	memcpy(c->root, root, MT_HASH_LEN);
	c->have = 0;
}

/* The invariant: c's nodes all lie on the one path stored in c->tail (a
 * node and the nodes above it), each with the number of that path's hashes
 * from it to the root.  At the start of a step the state (fn, sn) is
 * index >> level and (size - 1) >> level, so (level, fn) names the node
 * being folded, and fixes the rest of the path. */
int
mt_inclusion_verify_cached(struct mt_vcache *c, const uint8_t leaf[MT_HASH_LEN], uint64_t index,
    const uint8_t (*path)[MT_HASH_LEN], size_t n_path)
{
	uint8_t r[MT_HASH_LEN], val[MT_INCLUSION_MAX][MT_HASH_LEN];
	uint8_t lv[MT_INCLUSION_MAX];
	uint64_t fns[MT_INCLUSION_MAX], fn, sn;
	unsigned level = 0;
	size_t met = SIZE_MAX;

	if (index >= c->size)
		return MT_EINVAL;
	if (n_path != mt_inclusion_len(index, c->size))
		return MT_EPROOFLEN;
	fn = index;
	sn = c->size - 1;
	memcpy(r, leaf, MT_HASH_LEN);
	for (size_t i = 0; i < n_path; i++) {
		const uint8_t *p = path[i];

		if (sn == 0)
			return MT_EPROOFLEN;
		/* sn != 0: there is tree above, so level < 64. */
		if ((c->have >> level & 1) != 0 && c->fn[level] == fn) {
			size_t k = n_path - i;

			if (c->rest[level] != k ||
			    sodium_memcmp(c->node[level], r, MT_HASH_LEN) != 0 ||
			    memcmp(path[i], c->tail[MT_INCLUSION_MAX - k], k * MT_HASH_LEN) != 0)
				return MT_EBADPROOF;
			met = i;
			break;
		}
		lv[i] = (uint8_t)level;
		fns[i] = fn;
		memcpy(val[i], r, MT_HASH_LEN);
		if ((fn & 1) == 1 || fn == sn) {
			mt_node_hash(r, p, r);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
				level++;
			}
		} else {
			mt_node_hash(r, r, p);
		}
		fn >>= 1;
		sn >>= 1;
		level++;
	}
	if (met == SIZE_MAX) {
		if (sn != 0)
			return MT_EPROOFLEN;
		if (sodium_memcmp(r, c->root, MT_HASH_LEN) != 0)
			return MT_EBADPROOF;
		c->have = 0;
		met = n_path;
	} else {
		/* The matched node and those above it stay: they are on this
		 * path too.  The ones below were another leaf's. */
		c->have &= ~(uint64_t)0 << level;
	}
	for (size_t j = 0; j < met; j++) {
		c->have |= (uint64_t)1 << lv[j];
		c->fn[lv[j]] = fns[j];
		c->rest[lv[j]] = (uint8_t)(n_path - j);
		memcpy(c->node[lv[j]], val[j], MT_HASH_LEN);
	}
	if (n_path > 0)
		memcpy(c->tail[MT_INCLUSION_MAX - n_path], path[0], n_path * MT_HASH_LEN);
	return 0;
}

int
mt_consistency_verify(uint64_t m, uint64_t n, const uint8_t old_root[MT_HASH_LEN],
    const uint8_t new_root[MT_HASH_LEN], const uint8_t (*path)[MT_HASH_LEN], size_t n_path)
{
	uint8_t fr[MT_HASH_LEN], sr[MT_HASH_LEN];
	uint64_t fn, sn;
	size_t i;

	if (m > n)
		return MT_EINVAL;
	if (m == 0 || m == n) {
		if (n_path != 0)
			return MT_EPROOFLEN;
		if (m == 0) {
			uint8_t empty[MT_HASH_LEN];

			mt_empty_root(empty);
			return sodium_memcmp(old_root, empty, MT_HASH_LEN) == 0 ? 0 : MT_EBADPROOF;
		}
		return sodium_memcmp(old_root, new_root, MT_HASH_LEN) == 0 ? 0 : MT_EBADPROOF;
	}
	if (n_path == 0 || n_path != mt_consistency_len(m, n))
		return MT_EPROOFLEN;

	/* RFC 9162 §2.1.4.2.  When m is a power of two the old root is the
	 * implicit first element of the path. */
	fn = m - 1;
	sn = n - 1;
	while ((fn & 1) == 1) {
		fn >>= 1;
		sn >>= 1;
	}
	if ((m & (m - 1)) == 0) {
		memcpy(fr, old_root, MT_HASH_LEN);
		i = 0;
	} else {
		memcpy(fr, path[0], MT_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MT_HASH_LEN);
	for (; i < n_path; i++) {
		const uint8_t *c = path[i];

		if (sn == 0)
			return MT_EPROOFLEN;
		if ((fn & 1) == 1 || fn == sn) {
			mt_node_hash(fr, c, fr);
			mt_node_hash(sr, c, sr);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			mt_node_hash(sr, sr, c);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MT_EPROOFLEN;
	if (sodium_memcmp(fr, old_root, MT_HASH_LEN) != 0 ||
	    sodium_memcmp(sr, new_root, MT_HASH_LEN) != 0)
		return MT_EBADPROOF;
	return 0;
}
