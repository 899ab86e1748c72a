/*
 * tile_test.c: C2SP tlog-tiles paths (round trips and strict rejection), the
 * node-to-tile arithmetic, the tile and entry-bundle vectors of the 70,000
 * entry tree, and proofs read out of tiles against proofs read from storage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"
#include "testutil.h"
#include "tile.h"

typedef uint8_t hash_t[MT_HASH_LEN];

static void
ms_build(struct tu_memstore *ms, uint64_t n)
{
	struct mt_range r;
	char buf[24];

	memset(ms, 0, sizeof *ms);
	mt_range_init(&r);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t leaf[32];
		int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)i);

		mt_leaf_hash(leaf, (const uint8_t *)buf, (size_t)len);
		assert_int_equal(mt_range_append(&r, leaf, tu_ms_emit, ms), 0);
	}
}

/* ---- Paths ---- */

static void
assert_tile_equal(const struct mt_tile *a, const struct mt_tile *b)
{
	assert_int_equal(a->index, b->index);
	assert_int_equal(a->width, b->width);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->entries, b->entries);
}

static void
test_path_roundtrip(void **state)
{
	static const struct {
		const char *path;
		uint8_t level;
		bool entries;
		uint64_t index;
		uint16_t width;
	} cases[] = {
	    {"tile/0/000", 0, false, 0, 256},
	    {"tile/0/001", 0, false, 1, 256},
	    {"tile/0/999", 0, false, 999, 256},
	    {"tile/0/x001/000", 0, false, 1000, 256},
	    {"tile/3/x001/x234/067", 3, false, 1234067, 256},
	    {"tile/0/273.p/112", 0, false, 273, 112},
	    {"tile/1/001.p/17", 1, false, 1, 17},
	    {"tile/2/000.p/1", 2, false, 0, 1},
	    {"tile/63/000.p/255", 63, false, 0, 255},
	    {"tile/entries/000", 0, true, 0, 256},
	    {"tile/entries/273.p/112", 0, true, 273, 112},
	    {"tile/entries/x018/x446/x744/x073/x709/x551/615", 0, true, UINT64_MAX, 256},
	    {"tile/10/x018/x446/x744/x073/x709/x551/615.p/255", 10, false, UINT64_MAX, 255},
	};
	char buf[MT_TILE_PATH_MAX];
	struct mt_tile t;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mt_tile want = {
		    cases[i].index, cases[i].width, cases[i].level, cases[i].entries};

		assert_int_equal(mt_tile_parse(cases[i].path, strlen(cases[i].path), &t), 0);
		assert_int_equal(t.level, want.level);
		assert_int_equal(t.entries, want.entries);
		assert_int_equal(t.index, want.index);
		assert_int_equal(t.width, want.width);
		assert_int_equal(mt_tile_path(&want, buf), 0);
		assert_string_equal(buf, cases[i].path);
	}
	/* Every index in a wide sample survives format then parse. */
	for (uint64_t n = 0, step = 1; n < UINT64_MAX / 3; n += step, step = step * 3 + 1) {
		for (unsigned w = 1; w <= 256; w += 51) {
			struct mt_tile a = {n, (uint16_t)w, (uint8_t)(n % 64), false};

			assert_int_equal(mt_tile_path(&a, buf), 0);
			assert_int_equal(mt_tile_parse(buf, strlen(buf), &t), 0);
			assert_tile_equal(&a, &t);
			a.level = 0;
			a.entries = true;
			assert_int_equal(mt_tile_path(&a, buf), 0);
			assert_int_equal(mt_tile_parse(buf, strlen(buf), &t), 0);
			assert_tile_equal(&a, &t);
		}
	}
	/* Tiles that have no path. */
	struct mt_tile bad = {0, 0, 0, false};
	assert_int_equal(mt_tile_path(&bad, buf), MT_EINVAL);
	bad.width = 257;
	assert_int_equal(mt_tile_path(&bad, buf), MT_EINVAL);
	bad.width = 1;
	bad.level = 64;
	assert_int_equal(mt_tile_path(&bad, buf), MT_EINVAL);
	bad.level = 1;
	bad.entries = true;
	assert_int_equal(mt_tile_path(&bad, buf), MT_EINVAL);
}

static void
test_path_reject(void **state)
{
	static const char *bad[] = {
	    "",
	    "tile",
	    "tile/",
	    "tile/0",
	    "tile/0/",
	    "/tile/0/000",
	    "tile//000",
	    "tile/00/000", /* leading zero level */
	    "tile/01/000",
	    "tile/64/000", /* level out of range */
	    "tile/100/000",
	    "tile/-1/000",
	    "tile/+1/000",
	    "tile/a/000",
	    "tile/0/0", /* short group */
	    "tile/0/00",
	    "tile/0/0000", /* long group */
	    "tile/0/1",
	    "tile/0/x000/001", /* non-canonical leading zero group */
	    "tile/0/x000/x001/000",
	    "tile/0/x001", /* x group must be followed by another */
	    "tile/0/x001/",
	    "tile/0/001/000", /* non-final group without x */
	    "tile/0/x1/000",
	    "tile/0/x0001/000",
	    "tile/0/X001/000",
	    "tile/0/x001//000",
	    "tile/0/000/",
	    "tile/0/000.p/",
	    "tile/0/000.p/0",   /* empty partial */
	    "tile/0/000.p/256", /* a full tile has no .p */
	    "tile/0/000.p/300",
	    "tile/0/000.p/012", /* leading zero width */
	    "tile/0/000.p/01",
	    "tile/0/000.p/1/",
	    "tile/0/000.p/1x",
	    "tile/0/000.q/1",
	    "tile/0/000p/1",
	    "tile/0/000.p1",
	    "tile/0/000 ",
	    "tile/0/00a",
	    "tile/entries",
	    "tile/entries/",
	    "tile/entries/0",
	    "tile/entries/x000/000",
	    "tile/entry/000",
	    "tile/entries/000.p/256",
	    "tile/data/000",
	    "TILE/0/000",
	    "tile/0/x018/x446/x744/x073/x709/x551/616", /* 2^64 */
	    "tile/0/x100/x000/x000/x000/x000/x000/000", /* 10^20 */
	    "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
	};
	struct mt_tile t;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (mt_tile_parse(bad[i], strlen(bad[i]), &t) != MT_EINVAL)
			fail_msg("accepted malformed tile path \"%s\"", bad[i]);
		assert_int_equal(t.index, 0);
		assert_int_equal(t.width, 0);
	}
	/* The length bounds the parse: a valid prefix is not a valid path. */
	assert_int_equal(mt_tile_parse("tile/0/0001", 10, &t), 0);
	assert_int_equal(mt_tile_parse("tile/0/000", 9, &t), MT_EINVAL);
	/* An embedded NUL is just a bad byte. */
	assert_int_equal(mt_tile_parse("tile/0/00\0", 10, &t), MT_EINVAL);
}

/* ---- Arithmetic ---- */

static void
test_widths(void **state)
{
	(void)state;
	/* merkle.md / tiles-and-witness.md examples. */
	assert_int_equal(mt_tile_count(0, 70000), 274);
	assert_int_equal(mt_tile_width(0, 272, 70000), 256);
	assert_int_equal(mt_tile_width(0, 273, 70000), 112);
	assert_int_equal(mt_tile_width(0, 274, 70000), 0);
	assert_int_equal(mt_tile_count(1, 70000), 2);
	assert_int_equal(mt_tile_width(1, 0, 70000), 256);
	assert_int_equal(mt_tile_width(1, 1, 70000), 17);
	assert_int_equal(mt_tile_count(2, 70000), 1);
	assert_int_equal(mt_tile_width(2, 0, 70000), 1);
	assert_int_equal(mt_tile_count(3, 70000), 0);
	assert_int_equal(mt_tile_count(0, 256), 1);
	assert_int_equal(mt_tile_width(0, 0, 256), 256);
	assert_int_equal(mt_tile_width(1, 0, 256), 1);
	assert_int_equal(mt_tile_count(0, 0), 0);
	assert_int_equal(mt_tile_width(0, 0, 0), 0);
	assert_int_equal(mt_tile_count(7, UINT64_MAX), 1);
	assert_int_equal(mt_tile_width(7, 0, UINT64_MAX), 255);
	assert_int_equal(mt_tile_count(8, UINT64_MAX), 0);

	struct mt_tile t;
	unsigned off, cnt;
	struct mt_node node = {5, 3}; /* leaves [40, 48) */

	assert_int_equal(mt_tile_locate(&node, 48, &t, &off, &cnt), 0);
	assert_int_equal(t.level, 0);
	assert_int_equal(t.index, 0);
	assert_int_equal(t.width, 48);
	assert_int_equal(off, 40);
	assert_int_equal(cnt, 8);
	assert_int_equal(mt_tile_locate(&node, 47, &t, &off, &cnt), MT_EINVAL);
	node = (struct mt_node){1, 8}; /* leaves [256, 512): hash 1 of tile 1/0 */
	assert_int_equal(mt_tile_locate(&node, 70000, &t, &off, &cnt), 0);
	assert_int_equal(t.level, 1);
	assert_int_equal(t.index, 0);
	assert_int_equal(t.width, 256);
	assert_int_equal(off, 1);
	assert_int_equal(cnt, 1);
	node = (struct mt_node){0, 16};
	assert_int_equal(mt_tile_locate(&node, 70000, &t, &off, &cnt), 0);
	assert_int_equal(t.level, 2);
	assert_int_equal(t.width, 1);
}

/* ---- The 70,000-entry vectors ---- */

static uint8_t *
tile_body(const struct tu_memstore *ms, const struct mt_tile *t)
{
	uint8_t *b = malloc((size_t)t->width * 32);

	assert_non_null(b);
	for (unsigned j = 0; j < t->width; j++) {
		uint64_t i = t->index * 256 + j;

		assert_true(i < ms->n[8 * t->level]);
		memcpy(b + (size_t)j * 32, ms->h[8 * t->level][i], 32);
	}
	return b;
}

static void
test_tile_vectors(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *lt = json_object_get(v, "large_tree");
	json_t *tiles = json_object_get(lt, "tiles"),
	       *bundles = json_object_get(lt, "entry_bundles");
	uint64_t size = tu_u64(lt, "size");
	struct tu_memstore ms;
	size_t i;
	json_t *c;
	uint8_t got[32], want[32];
	char buf[MT_TILE_PATH_MAX];

	(void)state;
	assert_true(json_array_size(tiles) >= 6);
	assert_true(json_array_size(bundles) >= 2);
	ms_build(&ms, size);
	json_array_foreach(tiles, i, c)
	{
		struct mt_tile t;
		const char *path = tu_str(c, "path");
		uint8_t *body;

		assert_int_equal(mt_tile_parse(path, strlen(path), &t), 0);
		assert_int_equal(t.level, tu_u64(c, "level"));
		assert_int_equal(t.index, tu_u64(c, "index"));
		assert_int_equal(t.width, tu_u64(c, "width"));
		assert_int_equal(mt_tile_width(t.level, t.index, size), t.width);
		assert_int_equal(mt_tile_path(&t, buf), 0);
		assert_string_equal(buf, path);
		body = tile_body(&ms, &t);
		assert_int_equal((size_t)t.width * 32, tu_u64(c, "length"));
		crypto_hash_sha256(got, body, (size_t)t.width * 32);
		tu_unhex(tu_str(c, "sha256"), want, 32);
		assert_memory_equal(got, want, 32);
		free(body);
	}
	json_array_foreach(bundles, i, c)
	{
		struct mt_tile t;
		const char *path = tu_str(c, "path");
		crypto_hash_sha256_state st;
		uint64_t len = 0;

		assert_int_equal(mt_tile_parse(path, strlen(path), &t), 0);
		assert_true(t.entries);
		assert_int_equal(t.index, tu_u64(c, "index"));
		assert_int_equal(t.width, tu_u64(c, "width"));
		assert_int_equal(mt_tile_width(0, t.index, size), t.width);
		crypto_hash_sha256_init(&st);
		for (unsigned j = 0; j < t.width; j++) {
			char e[24];
			int n =
			    snprintf(e, sizeof e, "%llu", (unsigned long long)(t.index * 256 + j));
			uint8_t be[2] = {(uint8_t)(n >> 8), (uint8_t)n};

			crypto_hash_sha256_update(&st, be, 2);
			crypto_hash_sha256_update(&st, (const uint8_t *)e, (size_t)n);
			len += 2 + (uint64_t)n;
		}
		crypto_hash_sha256_final(&st, got);
		assert_int_equal(len, tu_u64(c, "length"));
		tu_unhex(tu_str(c, "sha256"), want, 32);
		assert_memory_equal(got, want, 32);
	}
	tu_ms_free(&ms);
	json_decref(v);
}

/* ---- Entry bundles: split one entry at a time ---- */

static void
test_bundle_next(void **state)
{
	static const struct {
		const char *hex; /* the bundle */
		int entries;     /* entries split before the first failure (-1: none fail) */
	} cases[] = {
	    {"", -1}, {"0000", -1},   /* one empty entry */
	    {"000161", -1},           /* "a" */
	    {"00016100026263", -1},   /* "a", "bc" */
	    {"00", 0},                /* half a length */
	    {"0001", 0},              /* a length with no bytes */
	    {"000261", 0},            /* one byte short */
	    {"00016100", 1},          /* the second length cut */
	    {"0001610003626364", -1}, /* "a", "bcd" */
	    {"ffff", 0},              /* 65535 announced, none there */
	};
	uint8_t buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].hex) / 2;
		const uint8_t *p = buf, *end, *e, *before;
		size_t len;
		int k = 0;

		tu_unhex(cases[i].hex, buf, n);
		end = buf + n;
		while (p != end) {
			before = p;
			if (mt_bundle_next(&p, end, &e, &len) != 0) {
				assert_ptr_equal(p, before); /* nothing moved */
				break;
			}
			assert_ptr_equal(e, before + 2);
			assert_ptr_equal(p, e + len);
			k++;
		}
		if (cases[i].entries < 0)
			assert_ptr_equal(p, end);
		else
			assert_int_equal(k, cases[i].entries);
	}
	/* The largest entry fits exactly. */
	{
		uint8_t *big = calloc(1, 2 + 65535);
		const uint8_t *p = big, *e;
		size_t len;

		assert_non_null(big);
		big[0] = big[1] = 0xff;
		assert_int_equal(mt_bundle_next(&p, big + 2 + 65535, &e, &len), 0);
		assert_int_equal(len, 65535);
		p = big;
		assert_int_equal(mt_bundle_next(&p, big + 2 + 65534, &e, &len), MT_EINVAL);
		free(big);
	}
}

/* ---- Proofs and roots read out of tiles equal those read from storage ---- */

struct tiles_at {
	struct mt_tile tiles[4096];
	const uint8_t *data[4096];
	uint8_t *owned[4096];
	size_t n;
};

/* Every tile of a tree of `size`, at its width for that size. */
static void
tiles_build(struct tiles_at *ta, const struct tu_memstore *ms, uint64_t size)
{
	ta->n = 0;
	for (unsigned l = 0; l < 8; l++) {
		for (uint64_t k = 0; k < mt_tile_count(l, size); k++) {
			struct mt_tile t = {
			    k, (uint16_t)mt_tile_width(l, k, size), (uint8_t)l, false};

			assert_true(ta->n < 4096);
			ta->tiles[ta->n] = t;
			ta->owned[ta->n] = tile_body(ms, &t);
			ta->data[ta->n] = ta->owned[ta->n];
			ta->n++;
		}
	}
}

static void
tiles_free(struct tiles_at *ta)
{
	for (size_t i = 0; i < ta->n; i++)
		free(ta->owned[i]);
	ta->n = 0;
}

static void
check_size_via_tiles(struct tu_memstore *ms, struct tiles_at *ta, uint64_t size, uint64_t seed)
{
	struct mt_tileset set = {ta->tiles, ta->data, ta->n};
	hash_t a[MT_PROOF_MAX], b[MT_PROOF_MAX];
	struct mt_tile need[32];
	struct mt_plan plan;
	size_t na, nb, nt;
	uint8_t ra[32], rb[32];

	assert_int_equal(mt_root_at(size, tu_ms_read, ms, ra), 0);
	assert_int_equal(mt_root_at(size, mt_tileset_read, &set, rb), 0);
	assert_memory_equal(ra, rb, 32);
	for (int k = 0; k < 24; k++) {
		uint64_t i = (seed * 2654435761u + (uint64_t)k * 40503u) % size;
		uint64_t m = i + 1;

		assert_int_equal(mt_inclusion_prove(i, size, tu_ms_read, ms, a, &na), 0);
		assert_int_equal(mt_inclusion_prove(i, size, mt_tileset_read, &set, b, &nb), 0);
		assert_int_equal(na, nb);
		if (na > 0)
			assert_memory_equal(a, b, na * 32);
		assert_int_equal(mt_consistency_prove(m, size, tu_ms_read, ms, a, &na), 0);
		assert_int_equal(mt_consistency_prove(m, size, mt_tileset_read, &set, b, &nb), 0);
		assert_int_equal(na, nb);
		if (na > 0)
			assert_memory_equal(a, b, na * 32);
		/* The tiles a plan names are present in the set at these widths. */
		assert_int_equal(mt_inclusion_plan(i, size, &plan), 0);
		assert_int_equal(mt_plan_tiles(&plan, size, need, 32, &nt), 0);
		for (size_t j = 0; j < nt; j++) {
			size_t q;

			for (q = 0; q < ta->n; q++) {
				if (ta->tiles[q].level == need[j].level &&
				    ta->tiles[q].index == need[j].index)
					break;
			}
			assert_true(q < ta->n);
			assert_int_equal(ta->tiles[q].width, need[j].width);
		}
	}
}

static void
test_tileset_proofs(void **state)
{
	static const uint64_t sizes[] = {1, 2, 3, 255, 256, 257, 511, 512, 1000, 65535, 65536,
	    65537, 65791, 66000, 69888, 70000};
	struct tu_memstore ms;
	struct tiles_at *ta = calloc(1, sizeof *ta);

	(void)state;
	assert_non_null(ta);
	ms_build(&ms, 70000);
	for (uint64_t s = 1; s <= 600; s++) {
		tiles_build(ta, &ms, s);
		check_size_via_tiles(&ms, ta, s, s);
		tiles_free(ta);
	}
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		tiles_build(ta, &ms, sizes[k]);
		check_size_via_tiles(&ms, ta, sizes[k], k);
		tiles_free(ta);
	}
	/* A missing or too-narrow tile is reported, not guessed. */
	tiles_build(ta, &ms, 1000);
	struct mt_tileset set = {ta->tiles, ta->data, ta->n};
	uint8_t r[32];
	assert_int_equal(mt_root_at(1000, mt_tileset_read, &set, r), 0);
	ta->tiles[3].width = 231; /* tile 0/003 holds 232 hashes at size 1000 */
	assert_int_equal(mt_root_at(1000, mt_tileset_read, &set, r), MT_ENOTILE);
	set.n = 3;
	assert_int_equal(mt_root_at(1000, mt_tileset_read, &set, r), MT_ENOTILE);
	ta->tiles[3].width = 232;
	tiles_free(ta);
	free(ta);
	tu_ms_free(&ms);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_roundtrip),
	    cmocka_unit_test(test_path_reject),
	    cmocka_unit_test(test_widths),
	    cmocka_unit_test(test_tile_vectors),
	    cmocka_unit_test(test_bundle_next),
	    cmocka_unit_test(test_tileset_proofs),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
