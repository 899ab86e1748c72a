/*
 * pdoc.c: the policy data document builder (pdoc.h).
 *
 * Entries are judged one at a time as the follower hands them over, and
 * only what the document needs is kept (a record per accepted entry: a
 * few hundred bytes), so a long log costs memory in proportion to what it
 * attests, never to the envelopes.  The document is built only at the end,
 * from the records sorted by (root, index): grouping is then one pass, and
 * conflicts are seen whole, with every index involved.
 */
#include "pdoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cl.h"
#include "closurelog/verify.h"
#include "dsse.h"
#include "nix.h"
#include "wire.h"

struct rec {
	uint64_t index;
	void *blob; /* the one allocation holding the strings and succ below */
	const char *root;
	char nar[NIX_SRI_SHA256_LEN + 1];
	size_t sub; /* index into rules.subs */
	const char *system;
	enum cl_sandbox sandbox;
	const char **succ; /* in the same allocation */
	size_t n_succ;
};

struct cli_pdoc {
	struct cli_pdoc_rules rules;
	struct wire_arena arena;
	void *arena_buf;
	struct rec *recs;
	size_t n, cap;
	bool any;
	uint64_t last;
	struct cli_pdoc_stats stats;
};

struct cli_pdoc *
cli_pdoc_new(const struct cli_pdoc_rules *r)
{
	struct cli_pdoc *d = calloc(1, sizeof *d);

	if (d == NULL || (d->arena_buf = malloc(WIRE_ARENA_MIN)) == NULL) {
		free(d);
		return NULL;
	}
	d->rules = *r;
	wire_arena_init(&d->arena, d->arena_buf, WIRE_ARENA_MIN);
	return d;
}

void
cli_pdoc_free(struct cli_pdoc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->recs[i].blob);
	free(d->recs);
	free(d->arena_buf);
	free(d);
}

const struct cli_pdoc_stats *
cli_pdoc_stats(const struct cli_pdoc *d)
{
	return &d->stats;
}

/* Append a record, copying its strings into one allocation: the
 * successor pointers, then root, system and the successor strings. */
static int
rec_push(struct cli_pdoc *d, uint64_t index, const char *root, const char *nar, size_t sub,
    const char *system, enum cl_sandbox sandbox, const char *const *succ, size_t n_succ)
{
	struct rec *r;
	size_t bytes = strlen(root) + 1 + strlen(system) + 1;
	char *blob, *p;

	for (size_t i = 0; i < n_succ; i++)
		bytes += strlen(succ[i]) + 1;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		struct rec *nr = realloc(d->recs, cap * sizeof *nr);

		if (nr == NULL)
			return ENOMEM;
		d->recs = nr;
		d->cap = cap;
	}
	if ((blob = malloc(n_succ * sizeof(char *) + bytes)) == NULL)
		return ENOMEM;
	r = &d->recs[d->n++];
	memset(r, 0, sizeof *r);
	r->blob = blob;
	r->index = index;
	r->succ = (const char **)(void *)blob;
	r->n_succ = n_succ;
	p = blob + n_succ * sizeof(char *);
	r->root = memcpy(p, root, strlen(root) + 1);
	p += strlen(root) + 1;
	r->system = memcpy(p, system, strlen(system) + 1);
	p += strlen(system) + 1;
	for (size_t i = 0; i < n_succ; i++) {
		r->succ[i] = memcpy(p, succ[i], strlen(succ[i]) + 1);
		p += strlen(succ[i]) + 1;
	}
	snprintf(r->nar, sizeof r->nar, "%s", nar);
	r->sub = sub;
	r->sandbox = sandbox;
	return 0;
}

int
cli_pdoc_add(struct cli_pdoc *d, uint64_t index, const uint8_t *env_buf, size_t len, char *why)
{
	struct cl_envelope env;
	struct cl_attestation att;
	size_t signer;
	int rc;

	if (d->any && index <= d->last)
		return cl_why(
		    why, CL_EINVAL, "entry %" PRIu64 " after entry %" PRIu64, index, d->last);
	d->any = true;
	d->last = index;
	d->stats.entries++;
	wire_arena_reset(&d->arena);
	if (wire_envelope_decode(&d->arena, env_buf, len, &env, NULL) != 0) {
		d->stats.unsigned_by_accepted++;
		return 0;
	}
	rc = dsse_verify(&d->arena, &env, d->rules.subs, d->rules.n_subs, &signer, NULL);
	if (rc == CL_EBADSIG) {
		d->stats.bad_signature++;
		return 0;
	}
	if (rc != 0) {
		d->stats.unsigned_by_accepted++;
		return 0;
	}
	/* Only the payload bytes the signature covers are parsed. */
	if (wire_attestation_decode(&d->arena, env.payload, env.payload_len, &att, NULL) != 0) {
		d->stats.unsigned_by_accepted++;
		return 0;
	}
	if ((d->rules.require_sandbox && att.sandbox != CL_SANDBOX_ON) ||
	    (d->rules.system != NULL && strcmp(att.system, d->rules.system) != 0)) {
		d->stats.constrained++;
		return 0;
	}
	if (rec_push(d, index, att.root, att.nar_hash, signer, att.system, att.sandbox,
	        att.successors, att.n_successors) != 0)
		return cl_why(why, ENOMEM, "out of memory recording entry %" PRIu64, index);
	d->stats.accepted++;
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
	int c = strcmp(x->root, y->root);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *
sandbox_name(enum cl_sandbox s)
{
	return s == CL_SANDBOX_ON ? "on" : s == CL_SANDBOX_OFF ? "off" : "unspecified";
}

/* "<name>+<key ID>" of submitter i. */
static void
sub_name(const struct cli_pdoc *d, size_t i, char *out, size_t cap)
{
	snprintf(out, cap, "%s+%08" PRIx32, d->rules.subs[i].name, d->rules.subs[i].id);
}

/* The rules the records depend on, as JSON (new reference). */
static json_t *
rules_json(const struct cli_pdoc *d)
{
	json_t *keys = json_array(), *j;
	char **v = calloc(d->rules.n_subs + 1, sizeof *v);

	if (keys == NULL || v == NULL) {
		json_decref(keys);
		free(v);
		return NULL;
	}
	for (size_t i = 0; i < d->rules.n_subs; i++) {
		char buf[NOTE_VKEY_MAX];

		note_verifier_format(&d->rules.subs[i], buf, sizeof buf);
		v[i] = strdup(buf);
	}
	qsort(v, d->rules.n_subs, sizeof v[0], str_cmp);
	for (size_t i = 0; i < d->rules.n_subs; i++) {
		if (v[i] != NULL && (i == 0 || v[i - 1] == NULL || strcmp(v[i], v[i - 1]) != 0))
			json_array_append_new(keys, json_string(v[i]));
		free(v[i]);
	}
	free(v);
	j = json_pack("{s:o, s:b, s:s?}", "submitter_keys", keys, "require_sandbox",
	    d->rules.require_sandbox, "system", d->rules.system);
	return j;
}

int
cli_pdoc_build(struct cli_pdoc *d, const struct sth *c, char **out, size_t *len, char *rev,
    void (*unapproved)(const char *root), char *why)
{
	const struct rec **v = NULL;
	json_t *doc = NULL, *roots, *conflicts, *approved, *rules;
	const char **appr = NULL;
	size_t n_appr = 0;
	char root_b64[64], root_hex[65];
	int rc = ENOMEM;

	*out = NULL;
	*len = 0;
	if ((v = calloc(d->n + 1, sizeof *v)) == NULL ||
	    (appr = calloc(d->n + 1, sizeof *appr)) == NULL)
		goto out;
	for (size_t i = 0; i < d->n; i++)
		v[i] = &d->recs[i];
	qsort(v, d->n, sizeof v[0], rec_cmp);
	roots = json_object();
	conflicts = json_object();
	approved = json_array();
	rules = rules_json(d);
	cl_b64_encode(c->root, MT_HASH_LEN, root_b64, sizeof root_b64);
	cl_hex_encode(c->root, MT_HASH_LEN, root_hex);
	if (strlen(c->origin) + 90 < CLOSURELOG_POLICY_ID_MAX)
		snprintf(rev, CLOSURELOG_POLICY_ID_MAX, "%s/%" PRIu64 "/%s", c->origin, c->size,
		    root_hex);
	else
		snprintf(rev, CLOSURELOG_POLICY_ID_MAX, "%" PRIu64 "/%s", c->size, root_hex);
	doc = json_pack("{s:{s:o, s:o, s:o}, s:{s:I}, s:{s:{s:s, s:I, s:s}, s:s, s:o}}", "nix",
	    "roots", roots, "conflicts", conflicts, "approved_roots", approved, "policies",
	    "max_minutes", (json_int_t)d->rules.max_minutes, "closurelog", "checkpoint", "origin",
	    c->origin, "size", (json_int_t)c->size, "root_hash", root_b64, "revision", rev, "rules",
	    rules);
	if (doc == NULL)
		goto out;

	for (size_t i = 0; i < d->n;) {
		const char *root = v[i]->root;
		size_t j = i;
		bool same = true;

		while (j < d->n && strcmp(v[j]->root, root) == 0) {
			same = same && strcmp(v[j]->nar, v[i]->nar) == 0;
			j++;
		}
		if (!same) {
			json_t *list = json_array();

			for (size_t k = i; k < j; k++) {
				char sn[NOTE_NAME_MAX + 16];

				sub_name(d, v[k]->sub, sn, sizeof sn);
				json_array_append_new(list,
				    json_pack("{s:I, s:s, s:s}", "index", (json_int_t)v[k]->index,
				        "narHash", v[k]->nar, "submitter", sn));
			}
			json_object_set_new(conflicts, root, list);
		} else {
			json_t *prov = json_array(), *succ = json_array();
			size_t ns = 0;
			const char **sv;

			for (size_t k = i; k < j; k++)
				ns += v[k]->n_succ;
			if ((sv = calloc(ns + 1, sizeof *sv)) == NULL)
				goto out;
			ns = 0;
			for (size_t k = i; k < j; k++) {
				char sn[NOTE_NAME_MAX + 16];

				for (size_t s = 0; s < v[k]->n_succ; s++)
					sv[ns++] = v[k]->succ[s];
				sub_name(d, v[k]->sub, sn, sizeof sn);
				json_array_append_new(prov,
				    json_pack("{s:I, s:s, s:s, s:s}", "index",
				        (json_int_t)v[k]->index, "submitter", sn, "system",
				        v[k]->system, "sandbox", sandbox_name(v[k]->sandbox)));
			}
			qsort(sv, ns, sizeof sv[0], str_cmp);
			for (size_t s = 0; s < ns; s++) {
				if (s == 0 || strcmp(sv[s], sv[s - 1]) != 0)
					json_array_append_new(succ, json_string(sv[s]));
			}
			free(sv);
			json_object_set_new(roots, root,
			    json_pack("{s:s, s:o, s:o}", "narHash", v[i]->nar, "successors", succ,
			        "provenance", prov));
			appr[n_appr++] = root;
		}
		i = j;
	}

	/* Approved: every recorded root, or those the approve list names. */
	if (d->rules.approve == NULL) {
		for (size_t i = 0; i < n_appr; i++)
			json_array_append_new(approved, json_string(appr[i]));
	} else {
		const char **want = calloc(d->rules.n_approve + 1, sizeof *want);

		if (want == NULL)
			goto out;
		memcpy(want, d->rules.approve, d->rules.n_approve * sizeof *want);
		qsort(want, d->rules.n_approve, sizeof want[0], str_cmp);
		for (size_t i = 0; i < d->rules.n_approve; i++) {
			if (i > 0 && strcmp(want[i], want[i - 1]) == 0)
				continue;
			if (json_object_get(roots, want[i]) != NULL)
				json_array_append_new(approved, json_string(want[i]));
			else if (unapproved != NULL)
				unapproved(want[i]);
		}
		free(want);
	}
	*out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (*out == NULL)
		goto out;
	*len = strlen(*out);
	rc = 0;
out:
	if (rc != 0)
		cl_why(why, rc, "out of memory building the data document");
	json_decref(doc);
	free(appr);
	free(v);
	return rc;
}

int
cli_pdoc_save(const struct cli_pdoc *d, uint64_t size, char **out, size_t *len, char *why)
{
	json_t *recs = json_array(), *j;

	*out = NULL;
	for (size_t i = 0; recs != NULL && i < d->n; i++) {
		const struct rec *r = &d->recs[i];
		json_t *succ = json_array();
		char vk[NOTE_VKEY_MAX];

		note_verifier_format(&d->rules.subs[r->sub], vk, sizeof vk);
		for (size_t s = 0; s < r->n_succ; s++)
			json_array_append_new(succ, json_string(r->succ[s]));
		if (json_array_append_new(recs,
		        json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:o}", "index",
		            (json_int_t)r->index, "root", r->root, "narHash", r->nar, "submitter",
		            vk, "system", r->system, "sandbox", (int)r->sandbox, "successors",
		            succ)) != 0) {
			json_decref(recs);
			recs = NULL;
		}
	}
	j = json_pack("{s:i, s:I, s:o*, s:o*}", "version", 1, "size", (json_int_t)size, "rules",
	    rules_json(d), "records", recs);
	if (j == NULL || (*out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		json_decref(j);
		return cl_why(why, ENOMEM, "out of memory saving the builder state");
	}
	json_decref(j);
	*len = strlen(*out);
	return 0;
}

int
cli_pdoc_load(struct cli_pdoc *d, const uint8_t *buf, size_t len, uint64_t size, char *why)
{
	json_t *j, *rules = NULL, *recs, *r;
	json_error_t jerr;
	size_t i;
	int rc = CL_EINVAL;

	if ((j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return cl_why(why, CL_EINVAL, "line %d: %s", jerr.line, jerr.text);
	if (json_integer_value(json_object_get(j, "version")) != 1 ||
	    !json_is_integer(json_object_get(j, "size")) ||
	    (uint64_t)json_integer_value(json_object_get(j, "size")) != size) {
		cl_why(why, CL_EINVAL, "it covers another tree size than the follower's state");
		goto out;
	}
	rules = rules_json(d);
	if (rules == NULL || !json_equal(rules, json_object_get(j, "rules"))) {
		cl_why(why, CL_EINVAL,
		    "it was built with other submitter keys, --require-sandbox or --system");
		goto out;
	}
	recs = json_object_get(j, "records");
	if (!json_is_array(recs)) {
		cl_why(why, CL_EINVAL, "no records");
		goto out;
	}
	json_array_foreach(recs, i, r)
	{
		const char *root = json_string_value(json_object_get(r, "root"));
		const char *nar = json_string_value(json_object_get(r, "narHash"));
		const char *sub = json_string_value(json_object_get(r, "submitter"));
		const char *sys = json_string_value(json_object_get(r, "system"));
		json_t *succ = json_object_get(r, "successors"), *s;
		json_int_t idx = json_integer_value(json_object_get(r, "index"));
		json_int_t sb = json_integer_value(json_object_get(r, "sandbox"));
		const char *sv[CL_SUCCESSORS_MAX];
		struct note_verifier key;
		size_t k, si = d->rules.n_subs;

		if (root == NULL || nar == NULL || sub == NULL || sys == NULL || idx < 0 ||
		    !json_is_array(succ) || json_array_size(succ) > CL_SUCCESSORS_MAX ||
		    nix_store_path_check(root, strlen(root), NULL) != 0 ||
		    nix_nar_hash_check(nar, strlen(nar), NULL, NULL) != 0 ||
		    note_verifier_parse(sub, strlen(sub), &key, NULL) != 0 ||
		    (d->n > 0 && (uint64_t)idx <= d->recs[d->n - 1].index) || sb < 0 || sb > 2) {
			cl_why(why, CL_EINVAL, "record %zu is malformed", i);
			goto out;
		}
		for (k = 0; k < d->rules.n_subs; k++) {
			if (key.id == d->rules.subs[k].id &&
			    memcmp(key.pub, d->rules.subs[k].pub, 32) == 0) {
				si = k;
				break;
			}
		}
		json_array_foreach(succ, k, s)
		{
			if ((sv[k] = json_string_value(s)) == NULL) {
				cl_why(why, CL_EINVAL, "record %zu is malformed", i);
				goto out;
			}
		}
		if (si == d->rules.n_subs) {
			cl_why(why, CL_EINVAL, "record %zu names a key that is not accepted", i);
			goto out;
		}
		if (rec_push(d, (uint64_t)idx, root, nar, si, sys, (enum cl_sandbox)sb, sv,
		        json_array_size(succ)) != 0) {
			rc = cl_why(why, ENOMEM, "out of memory");
			goto out;
		}
	}
	/* The records cover entries 0 .. size - 1, accepted or not. */
	d->any = size > 0;
	d->last = size > 0 ? size - 1 : 0;
	rc = 0;
out:
	json_decref(rules);
	json_decref(j);
	return rc;
}
