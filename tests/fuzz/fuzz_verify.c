/*
 * fuzz_verify.c: libclosurelog-verify's closurelog_verify_bundle on
 * arbitrary bytes, as a broker would call it on a bundle from a workload.
 * It must never crash, never read out of bounds, and fill in a status and
 * a reason for every input.  A second verifier also requires the vector
 * witness's cosignature, so that the witness check sees the same inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "closurelog/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct closurelog_verifier *v, *vw;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Keys from tests/vectors/note-vectors.json. */
	static const char *const subs[] = {
	    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"};
	struct closurelog_result res;
	enum closurelog_status st;
	char err[256];

	if (v == NULL &&
	    closurelog_verifier_new(
	        "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", NULL,
	        subs, 1, &v, err, sizeof err) != 0)
		abort();
	if (vw == NULL &&
	    (closurelog_verifier_new(
	         "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	         NULL, subs, 1, &vw, err, sizeof err) != 0 ||
	        closurelog_verifier_add_witness(vw,
	            "example.com/witness-test+7bab4ff8+BHAQ0T7lbwuY4ABJ9/"
	            "MYY9bWV3hmSyOGVt2x42NkmdUH",
	            err, sizeof err) != 0))
		abort();
	st = closurelog_verify_bundle(vw, data, size, NULL, NULL, &res);
	if (st != res.status || (st != CLOSURELOG_OK && res.reason[0] == '\0'))
		abort();
	st = closurelog_verify_bundle(v, data, size, NULL, NULL, &res);
	if (st != res.status || res.reason[sizeof res.reason - 1] != '\0')
		abort();
	if (st != CLOSURELOG_OK && res.reason[0] == '\0')
		abort();
	(void)closurelog_verify_bundle(v, data, size,
	    "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source",
	    "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=", &res);
	return 0;
}
