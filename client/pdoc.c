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

/* ---- Streamed JSON output ---- */

/* The document and the saved state are written piece by piece, one root
 * or one record at a time (each piece through jansson, for its escaping),
 * so that memory holds the records and the output text, never a JSON tree
 * of the whole log. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1 << 16;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Append j compactly, keys sorted, and release it (NULL: out of memory). */
static void
sb_json(struct sbuf *b, json_t *j)
{
	char *t = j == NULL ? NULL : json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (t == NULL)
		b->oom = true;
	else
		sb_str(b, t);
	free(t);
	json_decref(j);
}

static bool
recorded(const char *const *v, size_t n, const char *root)
{
	return n > 0 && bsearch(&root, v, n, sizeof v[0], str_cmp) != NULL;
}

int
cli_pdoc_build(struct cli_pdoc *d, const struct sth *c, char **out, size_t *len, char *rev,
    void (*unapproved)(const char *root), char *why)
{
	const struct rec **v = NULL;
	const char **rec_roots = NULL;
	size_t *group = NULL, n_groups = 0, n_rec = 0;
	bool *same = NULL;
	struct sbuf b = {0};
	char root_b64[64], root_hex[65], num[32];
	json_t *appr;
	int n, rc = ENOMEM;

	*out = NULL;
	*len = 0;
	v = calloc(d->n + 1, sizeof *v);
	group = calloc(d->n + 2, sizeof *group);
	same = calloc(d->n + 1, sizeof *same);
	rec_roots = calloc(d->n + 1, sizeof *rec_roots);
	if (v == NULL || group == NULL || same == NULL || rec_roots == NULL)
		goto out;
	for (size_t i = 0; i < d->n; i++)
		v[i] = &d->recs[i];
	qsort(v, d->n, sizeof v[0], rec_cmp);
	/* Groups of one root; a group is recorded when its narHashes agree. */
	for (size_t i = 0; i < d->n;) {
		size_t j = i;

		same[n_groups] = true;
		while (j < d->n && strcmp(v[j]->root, v[i]->root) == 0) {
			same[n_groups] = same[n_groups] && strcmp(v[j]->nar, v[i]->nar) == 0;
			j++;
		}
		if (same[n_groups])
			rec_roots[n_rec++] = v[i]->root;
		group[n_groups++] = i;
		i = j;
	}
	group[n_groups] = d->n;

	cl_b64_encode(c->root, MT_HASH_LEN, root_b64, sizeof root_b64);
	cl_hex_encode(c->root, MT_HASH_LEN, root_hex);
	/* <origin>/<size>/<hex root>, or without the origin if that is too long. */
	n = snprintf(
	    rev, CLOSURELOG_POLICY_ID_MAX, "%s/%" PRIu64 "/%s", c->origin, c->size, root_hex);
	if (n < 0 || n >= CLOSURELOG_POLICY_ID_MAX)
		snprintf(rev, CLOSURELOG_POLICY_ID_MAX, "%" PRIu64 "/%s", c->size, root_hex);

	sb_str(&b, "{\"closurelog\":");
	sb_json(&b,
	    json_pack("{s:{s:s, s:I, s:s}, s:s, s:o*}", "checkpoint", "origin", c->origin, "size",
	        (json_int_t)c->size, "root_hash", root_b64, "revision", rev, "rules",
	        rules_json(d)));

	/* Approved: every recorded root, or those the approve list names. */
	appr = json_array();
	if (d->rules.approve == NULL) {
		for (size_t i = 0; appr != NULL && i < n_rec; i++)
			json_array_append_new(appr, json_string(rec_roots[i]));
	} else if (appr != NULL) {
		const char **want = calloc(d->rules.n_approve + 1, sizeof *want);

		if (want == NULL) {
			json_decref(appr);
			goto out;
		}
		memcpy(want, d->rules.approve, d->rules.n_approve * sizeof *want);
		qsort(want, d->rules.n_approve, sizeof want[0], str_cmp);
		for (size_t i = 0; i < d->rules.n_approve; i++) {
			if (i > 0 && strcmp(want[i], want[i - 1]) == 0)
				continue;
			if (recorded(rec_roots, n_rec, want[i]))
				json_array_append_new(appr, json_string(want[i]));
			else if (unapproved != NULL)
				unapproved(want[i]);
		}
		free(want);
	}
	sb_str(&b, ",\"nix\":{\"approved_roots\":");
	sb_json(&b, appr);

	sb_str(&b, ",\"conflicts\":{");
	for (size_t g = 0, k = 0; g < n_groups; g++) {
		json_t *list;

		if (same[g])
			continue;
		if ((list = json_array()) == NULL)
			goto out;
		for (size_t i = group[g]; i < group[g + 1]; i++) {
			char sn[NOTE_NAME_MAX + 16];

			sub_name(d, v[i]->sub, sn, sizeof sn);
			json_array_append_new(list,
			    json_pack("{s:I, s:s, s:s}", "index", (json_int_t)v[i]->index,
			        "narHash", v[i]->nar, "submitter", sn));
		}
		sb_str(&b, k++ > 0 ? "," : "");
		sb_json(&b, json_string(v[group[g]]->root));
		sb_str(&b, ":");
		sb_json(&b, list);
	}

	sb_str(&b, "},\"roots\":{");
	for (size_t g = 0, k = 0; g < n_groups; g++) {
		json_t *prov, *succ;
		const char **sv;
		size_t ns = 0;

		if (!same[g])
			continue;
		for (size_t i = group[g]; i < group[g + 1]; i++)
			ns += v[i]->n_succ;
		prov = json_array();
		succ = json_array();
		if ((sv = calloc(ns + 1, sizeof *sv)) == NULL || prov == NULL || succ == NULL) {
			free(sv);
			json_decref(prov);
			json_decref(succ);
			goto out;
		}
		ns = 0;
		for (size_t i = group[g]; i < group[g + 1]; i++) {
			char sn[NOTE_NAME_MAX + 16];

			for (size_t s = 0; s < v[i]->n_succ; s++)
				sv[ns++] = v[i]->succ[s];
			/* The earliest entries only: a root attested again and
			 * again must not grow the document without bound. */
			if (i - group[g] >= CLI_PDOC_PROVENANCE_MAX)
				continue;
			sub_name(d, v[i]->sub, sn, sizeof sn);
			json_array_append_new(prov,
			    json_pack("{s:I, s:s, s:s, s:s}", "index", (json_int_t)v[i]->index,
			        "submitter", sn, "system", v[i]->system, "sandbox",
			        sandbox_name(v[i]->sandbox)));
		}
		qsort(sv, ns, sizeof sv[0], str_cmp);
		for (size_t s = 0; s < ns; s++) {
			if (s == 0 || strcmp(sv[s], sv[s - 1]) != 0)
				json_array_append_new(succ, json_string(sv[s]));
		}
		free(sv);
		sb_str(&b, k++ > 0 ? "," : "");
		sb_json(&b, json_string(v[group[g]]->root));
		sb_str(&b, ":");
		sb_json(&b,
		    json_pack("{s:s, s:o, s:o, s:I}", "narHash", v[group[g]]->nar, "successors",
		        succ, "provenance", prov, "attestations",
		        (json_int_t)(group[g + 1] - group[g])));
	}
	snprintf(num, sizeof num, "%" PRIu64, d->rules.max_minutes);
	sb_str(&b, "}},\"policies\":{\"max_minutes\":");
	sb_str(&b, num);
	sb_str(&b, "}}\n");
	if (b.oom)
		goto out;
	*out = b.p;
	*len = b.len;
	b.p = NULL;
	rc = 0;
out:
	if (rc != 0)
		cl_why(why, rc, "out of memory building the data document");
	free(b.p);
	free(rec_roots);
	free(same);
	free(group);
	free(v);
	return rc;
}

/* The saved state: JSON Lines.  The first line is {"version", "size",
 * "rules"}; each further line is one record. */
int
cli_pdoc_save(const struct cli_pdoc *d, uint64_t size, char **out, size_t *len, char *why)
{
	struct sbuf b = {0};

	*out = NULL;
	*len = 0;
	sb_json(&b,
	    json_pack("{s:i, s:I, s:o*}", "version", 2, "size", (json_int_t)size, "rules",
	        rules_json(d)));
	sb_str(&b, "\n");
	for (size_t i = 0; i < d->n && !b.oom; i++) {
		const struct rec *r = &d->recs[i];
		json_t *succ = json_array();
		char vk[NOTE_VKEY_MAX];

		note_verifier_format(&d->rules.subs[r->sub], vk, sizeof vk);
		for (size_t s = 0; succ != NULL && s < r->n_succ; s++)
			json_array_append_new(succ, json_string(r->succ[s]));
		sb_json(&b,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:o*}", "index", (json_int_t)r->index,
		        "root", r->root, "narHash", r->nar, "submitter", vk, "system", r->system,
		        "sandbox", (int)r->sandbox, "successors", succ));
		sb_str(&b, "\n");
	}
	if (b.oom) {
		free(b.p);
		return cl_why(why, ENOMEM, "out of memory saving the builder state");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* One saved record line into the builder. */
static int
record_load(struct cli_pdoc *d, const json_t *r, size_t line, char *why)
{
	const char *root = json_string_value(json_object_get(r, "root"));
	const char *nar = json_string_value(json_object_get(r, "narHash"));
	const char *sub = json_string_value(json_object_get(r, "submitter"));
	const char *sys = json_string_value(json_object_get(r, "system"));
	const json_t *succ = json_object_get(r, "successors"), *s;
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
	    (d->n > 0 && (uint64_t)idx <= d->recs[d->n - 1].index) || sb < 0 || sb > 2)
		return cl_why(why, CL_EINVAL, "line %zu: the record is malformed", line);
	for (k = 0; k < d->rules.n_subs; k++) {
		if (key.id == d->rules.subs[k].id &&
		    memcmp(key.pub, d->rules.subs[k].pub, 32) == 0) {
			si = k;
			break;
		}
	}
	if (si == d->rules.n_subs)
		return cl_why(
		    why, CL_EINVAL, "line %zu: the record names a key that is not accepted", line);
	json_array_foreach(succ, k, s)
	{
		if ((sv[k] = json_string_value(s)) == NULL ||
		    nix_store_path_check(sv[k], strlen(sv[k]), NULL) != 0)
			return cl_why(why, CL_EINVAL, "line %zu: the record is malformed", line);
	}
	if (rec_push(d, (uint64_t)idx, root, nar, si, sys, (enum cl_sandbox)sb, sv,
	        json_array_size(succ)) != 0)
		return cl_why(why, ENOMEM, "out of memory");
	return 0;
}

int
cli_pdoc_load(struct cli_pdoc *d, const uint8_t *buf, size_t len, uint64_t size, char *why)
{
	const char *p = (const char *)buf, *end = p + len;
	json_t *rules = NULL;
	size_t line = 0;
	int rc = CL_EINVAL;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		json_error_t jerr;
		json_t *j;

		if (nl == NULL) {
			cl_why(why, CL_EINVAL, "line %zu is not terminated", line + 1);
			goto out;
		}
		line++;
		if ((j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
			cl_why(why, CL_EINVAL, "line %zu: %s", line, jerr.text);
			goto out;
		}
		p = nl + 1;
		if (line == 1) {
			if (json_integer_value(json_object_get(j, "version")) != 2 ||
			    !json_is_integer(json_object_get(j, "size")) ||
			    (uint64_t)json_integer_value(json_object_get(j, "size")) != size) {
				json_decref(j);
				cl_why(why, CL_EINVAL,
				    "it covers another tree size than the follower's state");
				goto out;
			}
			rules = rules_json(d);
			if (rules == NULL || !json_equal(rules, json_object_get(j, "rules"))) {
				json_decref(j);
				cl_why(why, CL_EINVAL,
				    "it was built with other submitter keys, "
				    "--require-sandbox or --system");
				goto out;
			}
			json_decref(j);
			continue;
		}
		rc = record_load(d, j, line, why);
		json_decref(j);
		if (rc != 0)
			goto out;
		rc = CL_EINVAL;
	}
	if (line == 0) {
		cl_why(why, CL_EINVAL, "it is empty");
		goto out;
	}
	/* The records cover entries 0 .. size - 1, accepted or not. */
	d->any = size > 0;
	d->last = size > 0 ? size - 1 : 0;
	rc = 0;
out:
	json_decref(rules);
	return rc;
}
