/*
 * tile.c: C2SP tlog-tiles paths and the arithmetic that maps stored nodes to
 * tiles (tile height 8).
 *
 * Parsing is deliberately strict: every tile has exactly one path, so that
 * caches, mirrors and our own server can never disagree about which bytes a
 * URL names.  Reading nodes out of tiles is the client-side twin of the
 * server's stored-node reader, so both sides run the same proof plans.
 */
#include "tile.h"

#include <stdio.h>
#include <string.h>

int
mt_tile_path(const struct mt_tile *t, char buf[MT_TILE_PATH_MAX])
{
	unsigned groups[8];
	unsigned ng = 0;
	uint64_t n = t->index;
	char *p = buf;
	char *end = buf + MT_TILE_PATH_MAX;

	if (t->width == 0 || t->width > MT_TILE_WIDTH || t->level >= MT_TILE_LEVELS ||
	    (t->entries && t->level != 0)) {
		buf[0] = '\0';
		return MT_EINVAL;
	}
	do {
		groups[ng++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n != 0);

	memcpy(p, "tile/", 5);
	p += 5;
	if (t->entries) {
		memcpy(p, "entries/", 8);
		p += 8;
	} else {
		p += snprintf(p, (size_t)(end - p), "%u/", (unsigned)t->level);
	}
	while (ng-- > 0)
		p += snprintf(p, (size_t)(end - p), ng > 0 ? "x%03u/" : "%03u", groups[ng]);
	if (t->width < MT_TILE_WIDTH)
		snprintf(p, (size_t)(end - p), ".p/%u", (unsigned)t->width);
	return 0;
}

/* A decimal of 1 .. maxdigits digits without leading zeros, at most max. */
static int
parse_small(const char **pp, const char *end, unsigned max, unsigned *out)
{
	const char *p = *pp;
	unsigned v = 0;

	if (p == end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)
			return -1;
		p++;
	}
	*pp = p;
	*out = v;
	return 0;
}

static int
parse_group(const char *p, const char *end, unsigned *out)
{
	if (end - p < 3)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
	}
	*out = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
	return 0;
}

int
mt_tile_parse(const char *path, size_t len, struct mt_tile *t)
{
	const char *p = path, *end = path + len;
	struct mt_tile r = {0};
	unsigned v;
	bool first = true;

	memset(t, 0, sizeof *t);
	if (len < 5 || memcmp(p, "tile/", 5) != 0)
		return MT_EINVAL;
	p += 5;
	if (end - p >= 8 && memcmp(p, "entries/", 8) == 0) {
		r.entries = true;
		p += 8;
	} else {
		if (parse_small(&p, end, MT_TILE_LEVELS - 1, &v) != 0 || p == end || *p != '/')
			return MT_EINVAL;
		r.level = (uint8_t)v;
		p++;
	}
	for (;;) {
		bool more = p < end && *p == 'x';

		if (more)
			p++;
		if (parse_group(p, end, &v) != 0)
			return MT_EINVAL;
		p += 3;
		/* A leading zero group would be a second spelling of a smaller N. */
		if (more && first && v == 0)
			return MT_EINVAL;
		if (r.index > (UINT64_MAX - v) / 1000)
			return MT_EINVAL;
		r.index = r.index * 1000 + v;
		first = false;
		if (!more)
			break;
		if (p == end || *p != '/')
			return MT_EINVAL;
		p++;
	}
	r.width = MT_TILE_WIDTH;
	if (p != end) {
		if (end - p < 3 || memcmp(p, ".p/", 3) != 0)
			return MT_EINVAL;
		p += 3;
		if (parse_small(&p, end, MT_TILE_WIDTH - 1, &v) != 0 || v == 0)
			return MT_EINVAL;
		r.width = (uint16_t)v;
	}
	if (p != end)
		return MT_EINVAL;
	*t = r;
	return 0;
}

unsigned
mt_tile_width(unsigned level, uint64_t index, uint64_t size)
{
	uint64_t hashes, start;

	if (level >= 8 || index > (UINT64_MAX >> 8))
		return 0;
	hashes = size >> (MT_TILE_HEIGHT * level);
	start = index << 8;
	if (hashes <= start)
		return 0;
	return hashes - start >= MT_TILE_WIDTH ? MT_TILE_WIDTH : (unsigned)(hashes - start);
}

uint64_t
mt_tile_count(unsigned level, uint64_t size)
{
	uint64_t hashes;

	if (level >= 8)
		return 0;
	hashes = size >> (MT_TILE_HEIGHT * level);
	return (hashes >> 8) + ((hashes & 0xff) != 0);
}

/* Position of a node within its tile, independent of the tree size. */
static void
node_place(
    const struct mt_node *node, unsigned *level, uint64_t *tile, unsigned *offset, unsigned *count)
{
	unsigned r = node->height % MT_TILE_HEIGHT;
	uint64_t first = node->index << r;

	*level = node->height / MT_TILE_HEIGHT;
	*tile = first >> 8;
	*offset = (unsigned)(first & 0xff);
	*count = 1u << r;
}

int
mt_tile_locate(
    const struct mt_node *node, uint64_t size, struct mt_tile *t, unsigned *offset, unsigned *count)
{
	unsigned level;

	memset(t, 0, sizeof *t);
	if (node->height >= 64 || (size >> node->height) <= node->index)
		return MT_EINVAL;
	node_place(node, &level, &t->index, offset, count);
	t->level = (uint8_t)level;
	t->width = (uint16_t)mt_tile_width(level, t->index, size);
	return 0;
}

int
mt_plan_tiles(
    const struct mt_plan *plan, uint64_t size, struct mt_tile *tiles, size_t max, size_t *n)
{
	size_t k = 0;
	int rc;

	*n = 0;
	for (size_t i = 0; i < plan->n_nodes; i++) {
		struct mt_tile t;
		unsigned off, cnt;
		size_t j;

		if ((rc = mt_tile_locate(&plan->nodes[i], size, &t, &off, &cnt)) != 0)
			return rc;
		for (j = 0; j < k; j++) {
			if (tiles[j].level == t.level && tiles[j].index == t.index)
				break;
		}
		if (j < k)
			continue;
		if (k == max)
			return MT_ENOTILE;
		tiles[k++] = t;
	}
	*n = k;
	return 0;
}

/* Hash of the perfect subtree whose `count` leaves-of-the-subtree are the
 * consecutive hashes in[0..count).  count must be a power of two, 1 .. 256.
 * in is not modified. */
static void
mt_subtree_hash(const uint8_t (*in)[MT_HASH_LEN], unsigned count, uint8_t out[MT_HASH_LEN])
{
	uint8_t scratch[MT_TILE_WIDTH / 2][MT_HASH_LEN];

	if (count <= 1) {
		memcpy(out, in[0], MT_HASH_LEN);
		return;
	}
	for (unsigned i = 0; i < count / 2; i++)
		mt_node_hash(scratch[i], in[2 * i], in[2 * i + 1]);
	for (count /= 2; count > 1; count /= 2) {
		for (unsigned i = 0; i < count / 2; i++)
			mt_node_hash(scratch[i], scratch[2 * i], scratch[2 * i + 1]);
	}
	memcpy(out, scratch[0], MT_HASH_LEN);
}

int
mt_tileset_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN])
{
	const struct mt_tileset *set = ctx;

	for (size_t i = 0; i < n; i++) {
		unsigned level, off, cnt;
		uint64_t idx;
		size_t j;

		if (nodes[i].height >= 64)
			return MT_ENOTILE;
		node_place(&nodes[i], &level, &idx, &off, &cnt);
		for (j = 0; j < set->n; j++) {
			const struct mt_tile *t = &set->tiles[j];

			if (!t->entries && t->level == level && t->index == idx &&
			    t->width >= off + cnt)
				break;
		}
		if (j == set->n)
			return MT_ENOTILE;
		mt_subtree_hash(
		    (const uint8_t(*)[MT_HASH_LEN])(set->data[j] + (size_t)off * MT_HASH_LEN), cnt,
		    out[i]);
	}
	return 0;
}

int
mt_bundle_next(const uint8_t **p, const uint8_t *end, const uint8_t **entry, size_t *len)
{
	const uint8_t *q = *p;
	size_t n;

	if (q > end || end - q < 2)
		return MT_EINVAL;
	n = (size_t)q[0] << 8 | q[1];
	if ((size_t)(end - q - 2) < n)
		return MT_EINVAL;
	*entry = q + 2;
	*len = n;
	*p = q + 2 + n;
	return 0;
}
