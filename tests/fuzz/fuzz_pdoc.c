/*
 * fuzz_pdoc.c: the policy builder's saved state (cli_pdoc_load, the JSON
 * Lines of DIR/policy-records.jsonl) on arbitrary bytes: it must never
 * crash, must explain a refusal, and a state it accepts must save back to
 * the same bytes it would save again after a second load.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "pdoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct note_verifier key;
	static int init;
	struct cli_pdoc_rules rules = {&key, 1, true, "x86_64-linux", NULL, 0, 15};
	struct cli_pdoc *d, *again;
	char why[CL_WHY_MAX] = "", *s1 = NULL, *s2 = NULL;
	size_t l1, l2;

	if (!init) {
		const char vk[] =
		    "ci0.bench.example+219cc38e+ARukB1t3yeP7Ps3hXNr1Ih88EDc+Yj97Dh73Y2awr3E3";

		if (note_verifier_parse(vk, strlen(vk), &key, NULL) != 0)
			abort();
		init = 1;
	}
	if ((d = cli_pdoc_new(&rules)) == NULL)
		return 0;
	if (cli_pdoc_load(d, data, size, 12, why) != 0) {
		if (why[0] == '\0')
			abort();
		cli_pdoc_free(d);
		return 0;
	}
	if (cli_pdoc_save(d, 12, &s1, &l1, why) != 0 || (again = cli_pdoc_new(&rules)) == NULL)
		abort();
	if (cli_pdoc_load(again, (const uint8_t *)s1, l1, 12, why) != 0 ||
	    cli_pdoc_save(again, 12, &s2, &l2, why) != 0 || l1 != l2 || memcmp(s1, s2, l1) != 0)
		abort();
	free(s1);
	free(s2);
	cli_pdoc_free(again);
	cli_pdoc_free(d);
	return 0;
}
