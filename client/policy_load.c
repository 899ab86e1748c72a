/*
 * policy_load.c: closurelog_policy_load, the data document (policy-bundle.md
 * §2) to the immutable table of policy.h.  The only code in the library that
 * sees JSON.
 *
 * The document comes from CI, through whatever carried the bundle, so it
 * is untrusted input: its size is capped before parsing, jansson refuses
 * duplicate keys and invalid UTF-8, and every member the Rego policy reads
 * is checked for the one form the decision compares (canonical SRI
 * narHashes, canonical store paths), so that byte comparison at decision
 * time means what string equality means to OPA.  A first pass checks and
 * measures, a second copies into three allocations sized exactly, so a
 * decision never finds a half-built table.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cl.h"

#define MALFORMED(...) cl_why_n(err, err_len, CLOSURELOG_EMALFORMED, __VA_ARGS__)

/* A store path string member of the document; what names it for errors. */
static int
path_member(const json_t *v, const char *what, char *err, size_t err_len)
{
	char why[CL_WHY_MAX];

	if (!json_is_string(v))
		return MALFORMED("%s: not a string", what);
	if (nix_store_path_check(json_string_value(v), json_string_length(v), why) != 0)
		return MALFORMED("%s: %s", what, why);
	return 0;
}

static int
key_check(const char *key, const char *what, char *err, size_t err_len)
{
	char why[CL_WHY_MAX];

	if (nix_store_path_check(key, strlen(key), why) != 0)
		return MALFORMED("%s key \"%.80s\": %s", what, key, why);
	return 0;
}

static int
ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
root_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pol_root *)a)->path, ((const struct pol_root *)b)->path);
}

/* Printable ASCII, 1 .. CLOSURELOG_POLICY_ID_MAX - 1 bytes. */
static bool
id_ok(const char *s, size_t n)
{
	if (n == 0 || n >= CLOSURELOG_POLICY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}

/* First pass: check nix.roots and measure it. */
static int
roots_check(const json_t *roots, size_t *n_succ, size_t *bytes, char *err, size_t err_len)
{
	const char *key;
	const json_t *val;
	char what[400], why[CL_WHY_MAX];

	if (json_object_size(roots) > CLOSURELOG_POLICY_ROOTS_MAX)
		return MALFORMED("nix.roots: %zu roots, more than %d", json_object_size(roots),
		    CLOSURELOG_POLICY_ROOTS_MAX);
	json_object_foreach((json_t *)roots, key, val)
	{
		const json_t *nh, *succ, *s;
		size_t i;
		int rc;

		if ((rc = key_check(key, "nix.roots", err, err_len)) != 0)
			return rc;
		snprintf(what, sizeof what, "nix.roots[\"%s\"]", key);
		if (!json_is_object(val))
			return MALFORMED("%s: not an object", what);
		nh = json_object_get(val, "narHash");
		if (!json_is_string(nh))
			return MALFORMED("%s.narHash: missing or not a string", what);
		if (nix_nar_hash_check(json_string_value(nh), json_string_length(nh), NULL, why) !=
		    0)
			return MALFORMED("%s.narHash: %s", what, why);
		succ = json_object_get(val, "successors");
		if (!json_is_array(succ))
			return MALFORMED("%s.successors: missing or not an array", what);
		if (json_array_size(succ) > CLOSURELOG_POLICY_SUCCESSORS_MAX)
			return MALFORMED(
			    "%s.successors: more than %d", what, CLOSURELOG_POLICY_SUCCESSORS_MAX);
		json_array_foreach(succ, i, s)
		{
			char sw[450];

			snprintf(sw, sizeof sw, "%s.successors[%zu]", what, i);
			if ((rc = path_member(s, sw, err, err_len)) != 0)
				return rc;
			if (strcmp(json_string_value(s), key) == 0)
				return MALFORMED("%s: is the root itself", sw);
			*bytes += json_string_length(s) + 1;
		}
		*n_succ += json_array_size(succ);
		*bytes += strlen(key) + 1;
	}
	return 0;
}

/* Second pass: copy nix.roots into p (sized by the first pass). */
static int
roots_fill(struct closurelog_policy *p, const json_t *roots, char **pool, const char ***ptrs,
    char *err, size_t err_len)
{
	const char *key;
	const json_t *val;
	size_t n = 0;

	json_object_foreach((json_t *)roots, key, val)
	{
		struct pol_root *r = &p->roots[n++];
		const json_t *nh = json_object_get(val, "narHash");
		const json_t *succ = json_object_get(val, "successors"), *s;
		const char **sv = *ptrs;
		size_t i, len = strlen(key);

		memcpy(*pool, key, len + 1);
		r->path = *pool;
		*pool += len + 1;
		/* Checked by roots_check; this decodes it. */
		if (nix_nar_hash_check(
		        json_string_value(nh), json_string_length(nh), r->nar, NULL) != 0)
			return MALFORMED("nix.roots[\"%s\"].narHash: cannot be decoded", key);
		memcpy(r->sri, json_string_value(nh), NIX_SRI_SHA256_LEN + 1);
		json_array_foreach(succ, i, s)
		{
			len = json_string_length(s);
			memcpy(*pool, json_string_value(s), len + 1);
			sv[i] = *pool;
			*pool += len + 1;
		}
		r->n_succ = json_array_size(succ);
		r->succ = sv;
		*ptrs += r->n_succ;
		qsort(sv, r->n_succ, sizeof sv[0], ptr_cmp);
		for (i = 1; i < r->n_succ; i++) {
			if (strcmp(sv[i - 1], sv[i]) == 0)
				return MALFORMED(
				    "nix.roots[\"%s\"].successors: %s is listed twice", key, sv[i]);
		}
	}
	p->n_roots = n;
	qsort(p->roots, n, sizeof p->roots[0], root_cmp);
	return 0;
}

static int
conflicts_check(const json_t *conf, const json_t *roots, size_t *bytes, char *err, size_t err_len)
{
	const char *key;
	const json_t *val;
	int rc;

	if (!json_is_object(conf))
		return MALFORMED("nix.conflicts: not an object");
	if (json_object_size(conf) > CLOSURELOG_POLICY_ROOTS_MAX)
		return MALFORMED("nix.conflicts: more than %d", CLOSURELOG_POLICY_ROOTS_MAX);
	json_object_foreach((json_t *)conf, key, val)
	{
		if ((rc = key_check(key, "nix.conflicts", err, err_len)) != 0)
			return rc;
		if (!json_is_array(val))
			return MALFORMED("nix.conflicts[\"%s\"]: not an array", key);
		if (json_object_get(roots, key) != NULL)
			return MALFORMED(
			    "nix.conflicts[\"%s\"]: also has an entry in nix.roots", key);
		*bytes += strlen(key) + 1;
	}
	return 0;
}

static int
load(const json_t *doc, const char *revision, const uint8_t *json, size_t len,
    struct closurelog_policy *p, char *err, size_t err_len)
{
	const json_t *nix, *roots, *appr, *conf, *pol, *mm, *cl, *rev, *a;
	size_t n_succ = 0, bytes = 0, n_conf, i;
	char *pool;
	const char **ptrs;
	int rc;

	if (!json_is_object(doc))
		return MALFORMED("the data document is not a JSON object");
	nix = json_object_get(doc, "nix");
	if (!json_is_object(nix))
		return MALFORMED("nix: missing or not an object");
	roots = json_object_get(nix, "roots");
	if (!json_is_object(roots))
		return MALFORMED("nix.roots: missing or not an object");
	appr = json_object_get(nix, "approved_roots");
	if (!json_is_array(appr))
		return MALFORMED("nix.approved_roots: missing or not an array");
	pol = json_object_get(doc, "policies");
	if (!json_is_object(pol))
		return MALFORMED("policies: missing or not an object");
	mm = json_object_get(pol, "max_minutes");
	if (!json_is_integer(mm) || json_integer_value(mm) < 0 ||
	    json_integer_value(mm) > CLOSURELOG_POLICY_MINUTES_MAX)
		return MALFORMED("policies.max_minutes: missing or not an integer in 0 .. %d",
		    CLOSURELOG_POLICY_MINUTES_MAX);
	p->max_minutes = (uint64_t)json_integer_value(mm);

	if ((rc = roots_check(roots, &n_succ, &bytes, err, err_len)) != 0)
		return rc;
	conf = json_object_get(nix, "conflicts");
	n_conf = conf == NULL ? 0 : json_object_size(conf);
	if (conf != NULL && (rc = conflicts_check(conf, roots, &bytes, err, err_len)) != 0)
		return rc;
	if (json_array_size(appr) > CLOSURELOG_POLICY_ROOTS_MAX)
		return MALFORMED("nix.approved_roots: more than %d", CLOSURELOG_POLICY_ROOTS_MAX);

	p->roots = calloc(json_object_size(roots) + 1, sizeof p->roots[0]);
	p->ptrs = calloc(n_succ + n_conf + 1, sizeof p->ptrs[0]);
	p->pool = malloc(bytes + 1);
	if (p->roots == NULL || p->ptrs == NULL || p->pool == NULL)
		return cl_why_n(
		    err, err_len, CLOSURELOG_ESYSTEM, "out of memory loading the policy");
	pool = p->pool;
	ptrs = p->ptrs;
	if ((rc = roots_fill(p, roots, &pool, &ptrs, err, err_len)) != 0)
		return rc;
	if (conf != NULL) {
		const char *key;
		const json_t *val;

		p->conflicts = ptrs;
		json_object_foreach((json_t *)conf, key, val)
		{
			size_t kl = strlen(key);

			memcpy(pool, key, kl + 1);
			ptrs[p->n_conflicts++] = pool;
			pool += kl + 1;
		}
		qsort(p->conflicts, p->n_conflicts, sizeof p->conflicts[0], ptr_cmp);
	}

	json_array_foreach(appr, i, a)
	{
		char what[64];
		struct pol_root *r;

		snprintf(what, sizeof what, "nix.approved_roots[%zu]", i);
		if ((rc = path_member(a, what, err, err_len)) != 0)
			return rc;
		r = (struct pol_root *)pol_root_find(p, json_string_value(a));
		if (r == NULL)
			return MALFORMED(
			    "%s: %s has no entry in nix.roots", what, json_string_value(a));
		if (r->approved)
			return MALFORMED("%s: %s is listed twice", what, r->path);
		r->approved = true;
	}

	/* The ID: the bundle's revision, the document's own, or its digest. */
	cl = json_object_get(doc, "closurelog");
	rev = json_is_object(cl) ? json_object_get(cl, "revision") : NULL;
	if (rev != NULL &&
	    (!json_is_string(rev) || !id_ok(json_string_value(rev), json_string_length(rev))))
		return MALFORMED("closurelog.revision: not 1 to %d printable ASCII characters",
		    CLOSURELOG_POLICY_ID_MAX - 1);
	if (revision != NULL && rev != NULL && strcmp(revision, json_string_value(rev)) != 0)
		return MALFORMED("the bundle's revision \"%s\" is not the document's "
		                 "closurelog.revision \"%s\"",
		    revision, json_string_value(rev));
	if (revision != NULL) {
		snprintf(p->id, sizeof p->id, "%s", revision);
	} else if (rev != NULL) {
		snprintf(p->id, sizeof p->id, "%s", json_string_value(rev));
	} else {
		uint8_t d[crypto_hash_sha256_BYTES];

		if (crypto_hash_sha256(d, json, len) != 0)
			return cl_why_n(err, err_len, CLOSURELOG_ESYSTEM, "SHA-256 failed");
		memcpy(p->id, "sha256-", 7);
		cl_b64_encode(d, sizeof d, p->id + 7, sizeof p->id - 7);
	}
	return 0;
}

enum closurelog_status
closurelog_policy_load(const uint8_t *json, size_t len, const char *revision,
    struct closurelog_policy **out, char *err, size_t err_len)
{
	struct closurelog_policy *p = NULL;
	json_t *doc = NULL;
	json_error_t jerr;
	int rc;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (out == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "no place for the policy (out)");
	*out = NULL;
	if (json == NULL && len > 0)
		return cl_why_n(
		    err, err_len, CLOSURELOG_EUSAGE, "document is NULL but has a length");
	if (revision != NULL && !id_ok(revision, strnlen(revision, CLOSURELOG_POLICY_ID_MAX)))
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE,
		    "revision: not 1 to %d printable ASCII characters",
		    CLOSURELOG_POLICY_ID_MAX - 1);
	if (len > CLOSURELOG_POLICY_MAX)
		return cl_why_n(err, err_len, CLOSURELOG_EMALFORMED,
		    "data document is %zu bytes, more than %d", len, CLOSURELOG_POLICY_MAX);
	if (len == 0)
		return cl_why_n(err, err_len, CLOSURELOG_EMALFORMED, "data document is empty");
	if (sodium_init() < 0)
		return cl_why_n(
		    err, err_len, CLOSURELOG_ESYSTEM, "libsodium cannot be initialised");
	if ((doc = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EMALFORMED, "data document: line %d: %s",
		    jerr.line, jerr.text);
	if ((p = calloc(1, sizeof *p)) == NULL) {
		rc = cl_why_n(err, err_len, CLOSURELOG_ESYSTEM, "out of memory loading the policy");
		goto out;
	}
	if ((rc = load(doc, revision, json, len, p, err, err_len)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	closurelog_policy_free(p);
	json_decref(doc);
	return rc;
}
