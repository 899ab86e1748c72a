/*
 * fuzz_audit_state.c: the reader of an auditor's DIR/full (client/state.h)
 * on arbitrary bytes.  It must never crash or read out of bounds; whatever
 * parses must encode again and parse back to the same tree and checkpoint.
 * (DIR/checkpoint is a signed note: fuzz_note covers its reader.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "cli.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mt_range r1, r2;
	char why[CLI_MSG_MAX], *text;
	uint8_t *n1 = NULL, *n2 = NULL;
	size_t l1, l2, tl;
	int rc;

	if (cli_state_full_parse(data, size, &r1, &n1, &l1, why) != 0) {
		if (n1 != NULL || r1.size != 0)
			abort(); /* nothing of a refused file is left */
		return 0;
	}
	rc = cli_state_full_encode(&r1, n1, l1, &text, &tl);
	if (rc == CL_ETOOBIG) {
		free(n1);
		return 0;
	}
	if (rc != 0 || cli_state_full_parse((const uint8_t *)text, tl, &r2, &n2, &l2, why) != 0 ||
	    r1.size != r2.size || l1 != l2 || memcmp(n1, n2, l1) != 0)
		abort();
	for (int h = 0; h < 64; h++) {
		if ((r1.size >> h & 1) && memcmp(r1.hash[h], r2.hash[h], MT_HASH_LEN) != 0)
			abort();
	}
	free(text);
	free(n1);
	free(n2);
	return 0;
}
