/*
 * policy.c: the broker's decision (closurelog_policy_decide), exactly the
 * Rego policy of policy-bundle.md §3, over the table policy_load.c built.
 *
 * The two Rego rules share their last two conditions (narHash and
 * lifetime), so the decision is computed as (rule 1's admission or rule
 * 2's) and narHash and lifetime, which is the same boolean; and each
 * condition that fails gets its own reason, so a person reading a denial
 * learns everything that is wrong at once, not one thing per retry.
 * Nothing here allocates: reasons go into the caller's fixed buffers.
 */
#include "policy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

_Static_assert(sizeof(((struct closurelog_decision *)0)->policy_id) ==
        sizeof(((struct closurelog_policy *)0)->id),
    "policy_id is copied whole");
_Static_assert(CLOSURELOG_NAR_HASH_MAX >= NIX_SRI_SHA256_LEN + 1, "SRI fits");
_Static_assert(CLOSURELOG_REASON_MAX >= 2 * NIX_STORE_PATH_MAX + 64, "two paths fit a reason");
_Static_assert(CLOSURELOG_REASON_MAX >= NIX_STORE_PATH_MAX + 2 * NIX_SRI_SHA256_LEN + 64,
    "a narHash mismatch fits a reason");

static int
str_cmp(const void *key, const void *elt)
{
	return strcmp(key, *(const char *const *)elt);
}

static int
root_cmp(const void *key, const void *elt)
{
	return strcmp(key, ((const struct pol_root *)elt)->path);
}

const struct pol_root *
pol_root_find(const struct closurelog_policy *p, const char *path)
{
	if (p->n_roots == 0)
		return NULL;
	return bsearch(path, p->roots, p->n_roots, sizeof p->roots[0], root_cmp);
}

bool
pol_str_in(const char *const *v, size_t n, const char *s)
{
	return n > 0 && bsearch(s, v, n, sizeof v[0], str_cmp) != NULL;
}

void
closurelog_policy_free(struct closurelog_policy *p)
{
	if (p == NULL)
		return;
	free(p->roots);
	free(p->ptrs);
	free(p->pool);
	free(p);
}

const char *
closurelog_policy_id(const struct closurelog_policy *p)
{
	return p == NULL ? "" : p->id;
}

uint64_t
closurelog_policy_max_minutes(const struct closurelog_policy *p)
{
	return p == NULL ? 0 : p->max_minutes;
}

static void __attribute__((format(printf, 2, 3)))
reason(struct closurelog_decision *d, const char *fmt, ...)
{
	va_list ap;

	if (d->n_reasons == CLOSURELOG_REASONS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(d->reasons[d->n_reasons++], CLOSURELOG_REASON_MAX, fmt, ap);
	va_end(ap);
}

static int
usage(struct closurelog_decision *d, const char *what, const char *why)
{
	d->allow = 0;
	d->n_reasons = 0;
	d->env_hash[0] = '\0';
	reason(d, "%s: %s", what, why);
	return CLOSURELOG_EUSAGE;
}

/* A request's store path: an exact, canonical store path. */
static int
path_check(const char *s, char *why)
{
	return nix_store_path_check(s, strnlen(s, NIX_STORE_PATH_MAX + 1), why);
}

enum closurelog_status
closurelog_policy_decide(const struct closurelog_policy *p, const struct closurelog_request *req,
    struct closurelog_decision *d)
{
	const struct pol_root *r, *prev = NULL;
	struct nix_hash h;
	char why[CL_WHY_MAX];
	bool approved, successor = false, nar_ok, minutes_ok;

	if (d == NULL)
		return CLOSURELOG_EUSAGE;
	memset(d, 0, sizeof *d);
	if (p == NULL || req == NULL)
		return usage(d, "request", "no policy or no request");
	memcpy(d->policy_id, p->id, sizeof d->policy_id); /* NUL-terminated, same size */
	if (req->root == NULL || path_check(req->root, why) != 0)
		return usage(d, "root", req->root == NULL ? "missing" : why);
	if (req->prev_root != NULL && path_check(req->prev_root, why) != 0)
		return usage(d, "previous root", why);
	if (req->nar_hash == NULL ||
	    nix_hash_parse(req->nar_hash, strnlen(req->nar_hash, NIX_HASH_STR_MAX + 1), NIX_SHA256,
	        &h, why) != 0)
		return usage(d, "narHash", req->nar_hash == NULL ? "missing" : why);
	if (h.algo != NIX_SHA256)
		return usage(d, "narHash", "a narHash is always sha256");
	if (nix_hash_sri(&h, d->env_hash, sizeof d->env_hash) == 0)
		return usage(d, "narHash", "cannot be formatted");

	r = pol_root_find(p, req->root);
	approved = r != NULL && r->approved;
	if (req->prev_root != NULL) {
		prev = pol_root_find(p, req->prev_root);
		successor = prev != NULL && pol_str_in(prev->succ, prev->n_succ, req->root);
	}
	nar_ok = r != NULL && memcmp(r->nar, h.bytes, sizeof r->nar) == 0;
	minutes_ok = req->requested_minutes != NULL && *req->requested_minutes <= p->max_minutes;
	d->allow = (approved || successor) && nar_ok && minutes_ok;
	if (d->allow)
		return 0;

	if (!approved && !successor) {
		reason(d, "%s is not an approved root", req->root);
		if (req->prev_root != NULL && prev == NULL)
			reason(d, "previous root %s is not recorded in the policy", req->prev_root);
		else if (req->prev_root != NULL)
			reason(d, "%s is not a successor of %s", req->root, req->prev_root);
	}
	if (!nar_ok && r == NULL)
		reason(d, "no narHash is recorded for %s%s", req->root,
		    pol_str_in(p->conflicts, p->n_conflicts, req->root)
		        ? ": the log holds conflicting narHashes for it"
		        : "");
	else if (!nar_ok)
		reason(d, "narHash mismatch for %s: recorded %s, presented %s", req->root, r->sri,
		    d->env_hash);
	if (!minutes_ok && req->requested_minutes == NULL)
		reason(
		    d, "no requested lifetime; policy allows %" PRIu64 " minutes", p->max_minutes);
	else if (!minutes_ok)
		reason(d, "requested %" PRIu64 " minutes, policy allows %" PRIu64,
		    *req->requested_minutes, p->max_minutes);
	return 0;
}
