/*
 * fuzz_evidence.c: the fork evidence parser (client/evidence.h) and
 * closurelog_evidence_check on arbitrary bytes.  Neither may crash or read
 * out of bounds; whatever parses must encode again, and parse back to the
 * same encoding; the public check must agree with the parser on what is
 * malformed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of tests/vectors/note-vectors.json. */
#define VKEY "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evidence ev, back;
	static struct closurelog_evidence_result res;
	char why[CL_WHY_MAX], *t1 = NULL, *t2 = NULL;
	size_t l1, l2;
	int rc = evidence_parse(data, size, &ev, why);
	enum closurelog_status st = closurelog_evidence_check(VKEY, data, size, &res);

	if (st != res.status || res.message[sizeof res.message - 1] != '\0')
		abort();
	if ((rc != 0) != (st == CLOSURELOG_EMALFORMED))
		abort();
	if (rc != 0)
		return 0;
	if (evidence_encode(&ev, &t1, &l1) != 0 ||
	    evidence_parse((const uint8_t *)t1, l1, &back, why) != 0 ||
	    evidence_encode(&back, &t2, &l2) != 0 || l1 != l2 || memcmp(t1, t2, l1) != 0)
		abort();
	free(t1);
	free(t2);
	return 0;
}
