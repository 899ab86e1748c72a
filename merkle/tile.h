/*
 * tile.h: C2SP tlog-tiles arithmetic for tile height 8.
 *
 * A hash tile at level L, index N holds up to 256 stored nodes of height 8L:
 * position j is the node (height 8L, index N*256 + j).  An entry bundle
 * (tile/entries/N) holds the entries whose leaf hashes form tile 0/N.
 * A tile is *full* at width 256 and *partial* (path suffix .p/W) below.
 * No I/O, no allocation; errors are the MT_E* codes of merkle.h.
 */
#ifndef CL_TILE_H
#define CL_TILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

#define MT_TILE_HEIGHT   8
#define MT_TILE_WIDTH    256
#define MT_TILE_LEVELS   64 /* levels 0 .. 63 are valid in paths */
#define MT_TILE_PATH_MAX 64 /* longest path plus NUL: "tile/entries/x018/.../615.p/255" */

struct mt_tile {
	uint64_t index;
	uint16_t width; /* 1 .. 256; 256 is a full tile */
	uint8_t level;  /* 0 .. 63; 0 for entry bundles */
	bool entries;   /* an entry bundle (tile/entries/...) rather than a hash tile */
};

/* Write the tile's path ("tile/0/x001/234", "tile/entries/005.p/17"; no
 * leading '/') into buf, NUL-terminated.  Returns 0, or MT_EINVAL if the
 * width is 0 or above 256, the level above 63, or an entry bundle has a
 * non-zero level. */
int mt_tile_path(const struct mt_tile *t, char buf[MT_TILE_PATH_MAX]);

/* Parse a tile path of exactly len bytes (no leading '/', no query) into *t.
 * Strict: only the canonical spelling mt_tile_path would write is accepted;
 * leading zeros in the level or width, ".p/256", ".p/0", an "x000" group at
 * the front, short or long digit groups, and an index above 2^64 - 1 are all
 * rejected with MT_EINVAL (and *t is zeroed). */
int mt_tile_parse(const char *path, size_t len, struct mt_tile *t)
    __attribute__((warn_unused_result));

/* The tile that holds the given stored node in a tree of `size` leaves, and
 * where in it: the node is the perfect-subtree fold of the *count =
 * 2^(height mod 8) hashes starting at position *offset of tile
 * (height / 8, *).  t->width is that tile's width at `size`.  Returns 0, or
 * MT_EINVAL if the node is not complete within `size`. */
int mt_tile_locate(const struct mt_node *node, uint64_t size, struct mt_tile *t, unsigned *offset,
    unsigned *count);

/* Width of tile (level, index) at tree size `size`: 1 .. 256, or 0 if the
 * tile has no hashes yet at that size. */
unsigned mt_tile_width(unsigned level, uint64_t index, uint64_t size);

/* Number of hash tiles a tree of `size` leaves has at `level` (full and
 * partial).  An entry-bundle count is mt_tile_count(0, size). */
uint64_t mt_tile_count(unsigned level, uint64_t size);

/* The distinct tiles, with their widths at `size`, that hold the nodes of
 * `plan`.  Writes at most `max` tiles to tiles[] and the number to *n.
 * Returns 0, MT_EINVAL if a node is not complete within `size`, or
 * MT_ENOTILE if more than `max` tiles are needed. */
int mt_plan_tiles(
    const struct mt_plan *plan, uint64_t size, struct mt_tile *tiles, size_t max, size_t *n);

/* The next entry of an entry bundle (each entry is a uint16 big-endian
 * length, then that many bytes).  *p points at the entry's length and end
 * just past the bundle; both are borrowed.  On success *entry (pointing
 * into the bundle) and *len are the entry and *p moves past it.  Returns 0,
 * or MT_EINVAL, with nothing changed, when fewer than 2 bytes are left or
 * the length runs past end.  A bundle of width W is exactly W calls that
 * return 0 leaving *p == end. */
int mt_bundle_next(const uint8_t **p, const uint8_t *end, const uint8_t **entry, size_t *len)
    __attribute__((warn_unused_result));

/* A set of downloaded hash tiles, for reading stored nodes out of them.
 * data[i] points at tiles[i].width * 32 bytes of tile body.  Everything is
 * borrowed: the caller keeps it alive while the set is in use. */
struct mt_tileset {
	const struct mt_tile *tiles;
	const uint8_t *const *data;
	size_t n;
};

/* An mt_read_fn over a struct mt_tileset (passed as ctx): each node is the
 * perfect-subtree fold of its hashes from the matching tile.  Returns 0, or
 * MT_ENOTILE if a node's tile is absent from the set or too narrow. */
int mt_tileset_read(void *ctx, const struct mt_node *nodes, size_t n, uint8_t (*out)[MT_HASH_LEN]);

#endif
