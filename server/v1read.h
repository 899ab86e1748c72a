/*
 * v1read.h: the /v1 read routes: entries, inclusion and consistency
 * proofs, proof bundles and search.  Each answers from one short read
 * transaction against the latest published checkpoint (docs/api.md).
 */
#ifndef CL_V1READ_H
#define CL_V1READ_H

#include "route.h"

/* GET /v1/entries/<index>: arg is the path after "/v1/entries/". */
void v1_entry(struct rt *t, struct http_req *req, const char *arg);

/* GET /v1/proof/inclusion?index=I|leaf_hash=HEX[&size=N] */
void v1_inclusion(struct rt *t, struct http_req *req);

/* GET /v1/proof/consistency?from=M[&to=N] */
void v1_consistency(struct rt *t, struct http_req *req);

/* GET /v1/bundle/<index>: arg is the path after "/v1/bundle/". */
void v1_bundle(struct rt *t, struct http_req *req, const char *arg);

/* GET /v1/search?root=|nar_hash=|submitter=[&start=I] */
void v1_search(struct rt *t, struct http_req *req);

#endif
