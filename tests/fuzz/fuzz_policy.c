/*
 * fuzz_policy.c: closurelog_policy_load on arbitrary data documents must
 * never crash and must say why it refuses; a policy it accepts must decide
 * requests drawn from its own roots consistently: allow only with no
 * reasons, deny with at least one, and the narHash check exactly a byte
 * comparison with what it recorded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "closurelog/verify.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct closurelog_policy *p = NULL;
	char err[CLOSURELOG_ERR_MAX] = "";
	uint64_t m = size % 40;

	if (closurelog_policy_load(data, size, NULL, &p, err, sizeof err) != 0) {
		if (p != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < p->n_roots; i++) {
		const struct pol_root *r = &p->roots[i];
		const char *prev = i > 0 ? p->roots[i - 1].path : NULL;
		struct closurelog_request req = {r->path, r->sri, prev, &m};
		struct closurelog_decision d;

		if (closurelog_policy_decide(p, &req, &d) != 0)
			abort();
		if (d.allow != (d.n_reasons == 0) || strcmp(d.env_hash, r->sri) != 0)
			abort();
		if (r->approved && m <= p->max_minutes && !d.allow)
			abort();
		if (pol_root_find(p, r->path) != r)
			abort();
		for (size_t k = 0; k < r->n_succ; k++) {
			if (!pol_str_in(r->succ, r->n_succ, r->succ[k]))
				abort();
		}
	}
	closurelog_policy_free(p);
	return 0;
}
