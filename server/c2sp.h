/*
 * c2sp.h: the C2SP read routes, c2sp.org/tlog-checkpoint and
 * c2sp.org/tlog-tiles: the latest checkpoint, hash tiles and entry
 * bundles.  What a mirror serves too.
 */
#ifndef CL_C2SP_H
#define CL_C2SP_H

#include "route.h"

/* GET /checkpoint: the latest signed checkpoint. */
void c2sp_checkpoint(struct rt *t, struct http_req *req);

/* GET /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]: a hash tile or
 * an entry bundle that the latest checkpoint covers (404 otherwise; 400
 * for a path that is not the canonical spelling). */
void c2sp_tile(struct rt *t, struct http_req *req);

#endif
