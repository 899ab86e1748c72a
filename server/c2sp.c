/*
 * c2sp.c: checkpoint, hash tiles and entry bundles, exactly as
 * c2sp.org/tlog-checkpoint and c2sp.org/tlog-tiles lay them out.
 *
 * Tiles exist for what a published checkpoint covers: the checkpoint is
 * taken before the read snapshot, so the snapshot holds all of it, and a
 * tile the store has already but no checkpoint covers is not served.
 */
#include "c2sp.h"

#include <errno.h>
#include <string.h>

#include <event2/buffer.h>

#include "tile.h"
#include "tiles.h"

void
c2sp_checkpoint(struct rt *t, struct http_req *req)
{
	struct log_ckpt *ck;

	if (!rt_no_query(t, req))
		return;
	ck = log_checkpoint(t->log);
	rt_reply(req, 200, RT_CT_TEXT, RT_CACHE_NO_CACHE, ck->note, ck->len);
	log_ckpt_unref(ck);
}

/* tiles_bundle's put() into an evbuffer. */
static int
evbuffer_put(void *ctx, const void *data, size_t len)
{
	return evbuffer_add(ctx, data, len) == 0 ? 0 : ENOMEM;
}

/* An entry bundle: per entry, uint16 big-endian length, then the leaf. */
static void
entry_bundle(struct rt *t, struct http_req *req, const struct mt_tile *tile)
{
	struct evbuffer *b = evbuffer_new();
	bool ok =
	    b != NULL && tiles_bundle(t->reader, tile->index, tile->width, evbuffer_put, b) == 0;

	st_reader_end(t->reader);
	if (!ok)
		rt_fail(t, req, 500, R_STORAGE, NULL, "entry bundle could not be read");
	else
		http_reply_buffer(req, 200, RT_CT_OCTETS, RT_CACHE_IMMUTABLE, b);
	if (b != NULL)
		evbuffer_free(b);
}

void
c2sp_tile(struct rt *t, struct http_req *req)
{
	struct mt_tile tile;
	struct log_ckpt *ck;
	const uint8_t *data;
	unsigned width;
	int rc;

	if (!rt_no_query(t, req))
		return;
	if (mt_tile_parse(req->path + 1, strlen(req->path + 1), &tile) != 0) {
		rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "malformed tile path %.80s", req->path);
		return;
	}
	ck = log_checkpoint(t->log);
	width = mt_tile_width(tile.level, tile.index, ck->size);
	log_ckpt_unref(ck);
	if (tile.width > width) {
		rt_fail(t, req, 404, -1, NULL, "tile %.80s does not exist (yet)", req->path + 1);
		return;
	}
	if (!rt_reader_begin(t, req))
		return;
	if (tile.entries) {
		entry_bundle(t, req, &tile);
		return;
	}
	if ((rc = st_tile_get(t->reader, tile.level, tile.index, &data)) != 0) {
		st_reader_end(t->reader);
		rt_fail(t, req, 500, R_STORAGE, NULL, "tile lookup failed: %s", st_strerror(rc));
		return;
	}
	/* http_reply copies the bytes: the transaction may end after it. */
	rt_reply(
	    req, 200, RT_CT_OCTETS, RT_CACHE_IMMUTABLE, data, (size_t)tile.width * MT_HASH_LEN);
	st_reader_end(t->reader);
}
