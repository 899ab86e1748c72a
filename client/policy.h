/*
 * policy.h: the in-memory form of a loaded policy, shared by the loader
 * (policy_load.c, the only code that sees JSON) and the decision
 * (policy.c, which sees none).  Internal to libclosurelog-verify; the
 * contract brokers use is closurelog/verify.h.
 *
 * A policy is immutable once closurelog_policy_load() returns it: every
 * array is sorted by strcmp (bytes) so that a decision is a few binary
 * searches, and every string lives in one pool owned by the policy.
 */
#ifndef CL_POLICY_H
#define CL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "closurelog/verify.h"
#include "nix.h"

struct pol_root {
	const char *path; /* the store path, in the pool */
	uint8_t nar[32];  /* its recorded narHash */
	char sri[NIX_SRI_SHA256_LEN + 1];
	bool approved;           /* listed in nix.approved_roots */
	const char *const *succ; /* its successors, sorted, distinct */
	size_t n_succ;
};

struct closurelog_policy {
	struct pol_root *roots; /* sorted by path, distinct */
	size_t n_roots;
	const char **conflicts; /* roots with conflicting narHashes, sorted */
	size_t n_conflicts;
	uint64_t max_minutes;
	char id[CLOSURELOG_POLICY_ID_MAX];
	char *pool;        /* every string above */
	const char **ptrs; /* every successor pointer and conflict pointer */
};

/* The root named path, or NULL.  No allocation. */
const struct pol_root *pol_root_find(const struct closurelog_policy *p, const char *path);

/* Is s in the sorted array v[0..n)?  No allocation. */
bool pol_str_in(const char *const *v, size_t n, const char *s);

#endif
