/*
 * show.c: text and JSON renderings of closurelog objects.
 */
#include "show.h"

#include <string.h>

#include "cl.h"
#include "cli.h"

/* A digest as "algo:hex" into out (cap bytes). */
static void
cli_show_digest(const struct cl_digest *d, char *out, size_t cap)
{
	char hex[2 * 64 + 1];

	if (d->len > 64) {
		snprintf(out, cap, "?");
		return;
	}
	cl_hex_encode(d->value, d->len, hex);
	snprintf(out, cap, "%s:%s", d->algorithm, hex);
}

static const char *
sandbox_name(enum cl_sandbox s)
{
	return s == CL_SANDBOX_ON ? "on" : s == CL_SANDBOX_OFF ? "off" : "unspecified";
}

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *
cli_show_attestation_json(const struct cl_attestation *att)
{
	char d[200];
	json_t *j = json_object(), *ex = json_array();

	if (j == NULL || ex == NULL) {
		json_decref(j);
		json_decref(ex);
		return NULL;
	}
	json_object_set_new(j, "root", json_string(att->root));
	json_object_set_new(j, "nar_hash", json_string(att->nar_hash));
	cli_show_digest(&att->flake_lock, d, sizeof d);
	json_object_set_new(j, "flake_lock_digest", json_string(d));
	json_object_set_new(j, "successors", str_array(att->successors, att->n_successors));
	json_object_set_new(j, "system", json_string(att->system));
	json_object_set_new(j, "sandbox", json_string(sandbox_name(att->sandbox)));
	json_object_set_new(j, "substituters", str_array(att->substituters, att->n_substituters));
	json_object_set_new(
	    j, "trusted_public_keys", str_array(att->trusted_keys, att->n_trusted_keys));
	json_object_set_new(j, "builder_id", json_string(att->builder_id));
	json_object_set_new(j, "run_url", json_string(att->run_url));
	json_object_set_new(j, "build_time", json_integer((json_int_t)att->build_time));
	for (size_t i = 0; i < att->n_extra; i++) {
		json_t *e = json_object();

		cli_show_digest(&att->extra[i].digest, d, sizeof d);
		json_object_set_new(e, "name", json_string(att->extra[i].name));
		json_object_set_new(e, "digest", json_string(d));
		json_array_append_new(ex, e);
	}
	json_object_set_new(j, "extra_digests", ex);
	return j;
}

static void
line(FILE *f, const char *name, const char *value)
{
	fprintf(f, "  %-20s %s\n", name, value[0] != '\0' ? value : "-");
}

void
cli_show_attestation_text(FILE *f, const struct cl_attestation *att)
{
	char d[200], t[32];

	line(f, "root", att->root);
	line(f, "narHash", att->nar_hash);
	cli_show_digest(&att->flake_lock, d, sizeof d);
	line(f, "flake.lock", d);
	for (size_t i = 0; i < att->n_successors; i++)
		line(f, i == 0 ? "successors" : "", att->successors[i]);
	if (att->n_successors == 0)
		line(f, "successors", "");
	line(f, "system", att->system);
	line(f, "sandbox", sandbox_name(att->sandbox));
	for (size_t i = 0; i < att->n_substituters; i++)
		line(f, i == 0 ? "substituters" : "", att->substituters[i]);
	for (size_t i = 0; i < att->n_trusted_keys; i++)
		line(f, i == 0 ? "trusted-public-keys" : "", att->trusted_keys[i]);
	line(f, "builder", att->builder_id);
	line(f, "run", att->run_url);
	snprintf(t, sizeof t, "%llu", (unsigned long long)att->build_time);
	line(f, "build time", att->build_time != 0 ? t : "");
	for (size_t i = 0; i < att->n_extra; i++) {
		char nd[260];

		cli_show_digest(&att->extra[i].digest, d, sizeof d);
		snprintf(nd, sizeof nd, "%s %s", att->extra[i].name, d);
		line(f, i == 0 ? "extra digests" : "", nd);
	}
}

json_t *
cli_show_checkpoint_json(const struct sth *c)
{
	char b64[CL_B64_LEN(32) + 1], hex[65];
	json_t *j = json_object();

	if (j == NULL)
		return NULL;
	cl_b64_encode(c->root, 32, b64, sizeof b64);
	cl_hex_encode(c->root, 32, hex);
	json_object_set_new(j, "origin", json_string(c->origin));
	json_object_set_new(j, "size", json_integer((json_int_t)c->size));
	json_object_set_new(j, "root", json_string(b64));
	json_object_set_new(j, "root_hex", json_string(hex));
	return j;
}

int
cli_show_json_print(json_t *j)
{
	int rc;

	if (j == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	fputc('\n', stdout);
	return rc == 0 ? CLI_OK : CLI_FAIL;
}

void
cli_show_checkpoint_fields(
    json_t *j, const char *size_key, const char *root_key, const struct sth *c)
{
	char hex[2 * MT_HASH_LEN + 1];

	if (c == NULL) {
		json_object_set_new(j, size_key, json_null());
		json_object_set_new(j, root_key, json_null());
		return;
	}
	cl_hex_encode(c->root, MT_HASH_LEN, hex);
	json_object_set_new(j, size_key, json_integer((json_int_t)c->size));
	json_object_set_new(j, root_key, json_string(hex));
}

int
cli_show_outcome(
    int code, const char *status, bool json, json_t *fields, const char *fmt, va_list ap)
{
	char msg[CLI_MSG_MAX];
	json_t *j;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (code != CLI_OK)
		cli_fail(code, "%s", msg);
	else if (!json)
		printf("OK: %s\n", msg);
	if (!json) {
		json_decref(fields);
		return code;
	}
	j = json_object();
	if (j == NULL || fields == NULL ||
	    json_object_set_new(j, "status", json_string(status)) != 0 ||
	    json_object_set_new(j, "message", json_string(msg)) != 0 ||
	    json_object_update(j, fields) != 0) {
		json_decref(j);
		j = NULL;
	}
	json_decref(fields);
	if (cli_show_json_print(j) != CLI_OK && code == CLI_OK)
		return CLI_FAIL;
	return code;
}
