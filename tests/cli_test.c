/*
 * cli_test.c: the closurelog commands CI and operators use (keygen,
 * attest, inspect, submit, get, prove, search), run as real processes,
 * against a real closurelogd where they need one.  Checks exit codes
 * (0 success, 1 verification failure or refusal, 2 usage or input error),
 * the one-line reasons, and what the files contain.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "harness.h"
#include "key.h"
#include "testutil.h"
#include "wire.h"

static const char *const ROOT = "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source";
static const char *const NAR_SRI = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";
static const char *const NAR_HEX =
    "sha256:b6c401cde9a4683e8ff53a84c05992ea615c0b05119427a876707b5ab4fa5a65";

static char dir[512];

static const char *
path(const char *name)
{
	return h_path(dir, name);
}

/* One line on stderr, starting "closurelog <cmd>: ". */
static void
assert_one_line_error(const struct h_run *r, const char *cmd, const char *text)
{
	char prefix[64];

	snprintf(prefix, sizeof prefix, "closurelog %s: ", cmd);
	if (strncmp(r->err, prefix, strlen(prefix)) != 0 ||
	    strchr(r->err, '\n') != r->err + r->err_len - 1 ||
	    (text != NULL && strstr(r->err, text) == NULL))
		fail_msg("stderr \"%s\" is not one \"%s...%s\" line", r->err, prefix,
		    text != NULL ? text : "");
}

static int
setup(void **state)
{
	(void)state;
	h_tmpdir(dir, sizeof dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_rmrf(dir);
	return 0;
}

/* closurelog CMD [SUB] ARGS... (NULL-terminated) */
#define RUN_SUB(r, cmd, sub, ...)                                                                  \
	((sub) != NULL ? h_closurelog((r), (cmd), (sub), __VA_ARGS__)                              \
	               : h_closurelog((r), (cmd), __VA_ARGS__))

/* The broker's commands take the same option rules as the others: an
 * unknown option, an option missing its argument (or a flag given one)
 * and a command missing its operand are one usage line and exit 2; help
 * wins over all of them. */
static void
test_help_broker(void **state)
{
	static const struct {
		const char *cmd, *sub, *takes_arg; /* cmd: the stderr prefix */
	} cmds[] = {
	    {"policy", "build", "--log"},
	    {"policy", "build", "-o"},
	    {"check", NULL, "--policy"},
	    {"check", NULL, "--requested-minutes"},
	    {"nar-hash", NULL, NULL},
	};
	struct h_run r;

	(void)state;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const char *c = cmds[i].cmd, *s = cmds[i].sub, *a = cmds[i].takes_arg;

		RUN_SUB(&r, c, s, "--help", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: closurelog"));
		h_run_free(&r);
		RUN_SUB(&r, c, s, "--frobnicate", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, c, "unknown or incomplete option --frobnicate");
		h_run_free(&r);
		if (a != NULL) {
			RUN_SUB(&r, c, s, a, NULL);
			assert_int_equal(r.status, 2);
			assert_one_line_error(&r, c, "unknown or incomplete option");
			h_run_free(&r);
		} else {
			RUN_SUB(&r, c, s, "--json=yes", "x", NULL);
			assert_int_equal(r.status, 2);
			assert_one_line_error(&r, c, "unknown or incomplete option --json=yes");
			h_run_free(&r);
			RUN_SUB(&r, c, s, "--json", NULL);
			assert_int_equal(r.status, 2);
			assert_one_line_error(&r, c, "give at least one PATH");
			h_run_free(&r);
		}
		RUN_SUB(&r, c, s, "--frobnicate", "--help", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: closurelog"));
		h_run_free(&r);
	}
}

static void
test_help(void **state)
{
	static const char *const cmds[] = {"keygen", "attest", "inspect", "submit", "verify",
	    "audit", "verify-evidence", "get", "prove", "search"};
	struct h_run r;

	(void)state;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		h_closurelog(&r, cmds[i], "--help", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: closurelog"));
		h_run_free(&r);
	}
	/* Every command with options (cmds[1..]) refuses an unknown one, and
	 * one whose argument is missing, with one usage line; help wins. */
	for (size_t i = 1; i < sizeof cmds / sizeof cmds[0]; i++) {
		h_closurelog(&r, cmds[i], "--frobnicate", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, cmds[i], "unknown or incomplete option --frobnicate");
		h_run_free(&r);
		h_closurelog(
		    &r, cmds[i], strcmp(cmds[i], "inspect") == 0 ? "--log-key" : "--log", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, cmds[i], "option");
		h_run_free(&r);
		h_closurelog(&r, cmds[i], "--frobnicate", "--help", NULL);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: closurelog"));
		h_run_free(&r);
	}
	h_closurelog(&r, "--help", NULL);
	assert_int_equal(r.status, 0);
	h_run_free(&r);
	h_closurelog(&r, "frobnicate", NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	h_closurelog(&r, NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	{
		const char *argv[] = {h_bin("closurelogd"), "--help", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "--data"));
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelogd"), "--listen", "nowhere", NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 2);
		h_run_free(&r);
	}
}

static void
test_keygen(void **state)
{
	struct h_run r;
	struct stat st;
	struct note_signer s;
	struct note_verifier v;

	(void)state;
	h_closurelog(&r, "keygen", "ci.example.com/builder", path("ci"), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "ci.example.com/builder+"));
	h_run_free(&r);
	assert_int_equal(stat(path("ci.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(key_signer_load(path("ci.key"), &s, NULL), 0);
	assert_int_equal(key_verifier_load(path("ci.pub"), &v, NULL), 0);
	assert_string_equal(s.name, "ci.example.com/builder");
	assert_int_equal(s.id, v.id);
	note_signer_wipe(&s);
	/* Never overwrites; refuses bad names. */
	h_closurelog(&r, "keygen", "ci.example.com/builder", path("ci"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "keygen", "exist");
	h_run_free(&r);
	h_closurelog(&r, "keygen", "has space", path("x"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "keygen", NULL);
	h_run_free(&r);
	h_closurelog(&r, "keygen", "a+b", path("x"), NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	h_closurelog(&r, "keygen", "only-one-arg", NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
}

static void
attest_ok(const char *key, const char *out, const char *builder)
{
	struct h_run r;

	h_closurelog(&r, "attest", "--key", key, "--root", ROOT, "--nar-hash", NAR_HEX,
	    "--flake-lock-digest",
	    "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "--successor",
	    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", "--system", "x86_64-linux",
	    "--sandbox", "--substituter", "https://cache.nixos.org", "--trusted-public-key",
	    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", "--builder", builder,
	    "--run-url", "https://ci.example.com/runs/1", "--build-time", "1763800000",
	    "--extra-digest",
	    "sbom=sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "-o",
	    out, NULL);
	if (r.status != 0)
		fail_msg("attest failed: %s", r.err);
	h_run_free(&r);
}

static void
test_attest_inspect(void **state)
{
	struct h_run r;
	uint8_t *env, arena_buf[64 * 1024], *big;
	size_t len;
	json_t *j;
	json_error_t je;

	(void)state;
	h_closurelog(&r, "keygen", "ci.example.com/builder", path("ci"), NULL);
	h_run_free(&r);
	h_closurelog(&r, "keygen", "other.example.com", path("other"), NULL);
	h_run_free(&r);
	attest_ok(path("ci.key"), path("a.env"), "runner 1");

	/* The envelope verifies with the CI key and holds what was asked. */
	{
		struct wire_arena a;
		struct cl_envelope e;
		struct cl_attestation att;
		struct note_verifier v;
		static uint8_t big_arena[WIRE_ARENA_MIN];

		env = h_read(path("a.env"), &len);
		wire_arena_init(&a, big_arena, sizeof big_arena);
		assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
		assert_int_equal(key_verifier_load(path("ci.pub"), &v, NULL), 0);
		assert_int_equal(dsse_verify(&a, &e, &v, 1, NULL, NULL), 0);
		assert_int_equal(
		    wire_attestation_decode(&a, e.payload, e.payload_len, &att, NULL), 0);
		assert_string_equal(att.root, ROOT);
		assert_string_equal(att.nar_hash, NAR_SRI); /* stored as SRI whatever the input */
		assert_int_equal(att.n_successors, 1);
		assert_int_equal(att.sandbox, CL_SANDBOX_ON);
		assert_int_equal(att.build_time, 1763800000);
		assert_int_equal(att.n_extra, 1);
		assert_string_equal(att.extra[0].name, "sbom");
		free(env);
	}
	(void)arena_buf;
	/* A flake.lock file is hashed, in pieces: a file of several of them
	 * gets the same digest as hashing it whole. */
	{
		size_t n = 200 * 1000 + 7;
		uint8_t *lock = malloc(n), want[32];
		struct wire_arena a;
		struct cl_envelope e;
		struct cl_attestation att;
		static uint8_t big_arena[WIRE_ARENA_MIN];

		assert_non_null(lock);
		for (size_t i = 0; i < n; i++)
			lock[i] = (uint8_t)(i * 31 + i / 977);
		h_write(path("flake.lock"), lock, n);
		crypto_hash_sha256(want, lock, n);
		free(lock);
		h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash",
		    NAR_SRI, "--flake-lock", path("flake.lock"), "-o", path("b.env"), NULL);
		assert_int_equal(r.status, 0);
		h_run_free(&r);
		env = h_read(path("b.env"), &len);
		wire_arena_init(&a, big_arena, sizeof big_arena);
		assert_int_equal(wire_envelope_decode(&a, env, len, &e, NULL), 0);
		assert_int_equal(
		    wire_attestation_decode(&a, e.payload, e.payload_len, &att, NULL), 0);
		assert_string_equal(att.flake_lock.algorithm, "sha256");
		assert_int_equal(att.flake_lock.len, 32);
		assert_memory_equal(att.flake_lock.value, want, 32);
		free(env);
	}
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", NAR_SRI,
	    "--flake-lock", path("no-such.lock"), "-o", path("b.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "--flake-lock");
	h_run_free(&r);

	/* inspect: text and JSON, with signature status. */
	h_closurelog(&r, "inspect", path("a.env"), "--submitter-key", path("ci.pub"), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ROOT));
	assert_non_null(strstr(r.out, "valid, ci.example.com/builder"));
	h_run_free(&r);
	h_closurelog(
	    &r, "inspect", "--json", path("a.env"), "--submitter-key", path("other.pub"), NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "envelope");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(j, "signatures"), 0), "status")),
	    "unknown key");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "attestation"), "nar_hash")),
	    NAR_SRI);
	json_decref(j);
	h_run_free(&r);
	/* A tampered envelope: the CI key's signature is INVALID, exit 1. */
	env = h_read(path("a.env"), &len);
	env[len - 11] ^= 1;
	h_write(path("bad.env"), env, len);
	free(env);
	h_closurelog(&r, "inspect", path("bad.env"), "--submitter-key", path("ci.pub"), NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "INVALID"));
	h_run_free(&r);
	/* Not something inspect knows: exit 2. */
	h_write(path("junk"), "junk", 4);
	h_closurelog(&r, "inspect", path("junk"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "inspect", "not an envelope");
	h_run_free(&r);

	/* attest refuses bad input with the field named, exit 2. */
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", "/nix/store/bad",
	    "--nar-hash", NAR_SRI, "--flake-lock-digest", NAR_SRI, "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "root");
	h_run_free(&r);
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", "md5:00",
	    "--flake-lock-digest", NAR_SRI, "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "--nar-hash");
	h_run_free(&r);
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", NAR_SRI,
	    "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "flake-lock");
	h_run_free(&r);
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", NAR_SRI,
	    "--flake-lock-digest", NAR_SRI, "--run-url", "ftp://x/y", "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "run_url");
	h_run_free(&r);
	h_closurelog(&r, "attest", "--bogus", NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	/* A private key others can read is refused. */
	chmod(path("ci.key"), 0644);
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", NAR_SRI,
	    "--flake-lock-digest", NAR_SRI, "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "readable by group or others");
	h_run_free(&r);
	chmod(path("ci.key"), 0600);
	/* A builder string too long for the field cap. */
	big = malloc(400);
	memset(big, 'b', 399);
	big[399] = '\0';
	h_closurelog(&r, "attest", "--key", path("ci.key"), "--root", ROOT, "--nar-hash", NAR_SRI,
	    "--flake-lock-digest", NAR_SRI, "--builder", (char *)big, "-o", path("c.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "attest", "builder_id");
	h_run_free(&r);
	free(big);
}

static void
test_submit_and_query(void **state)
{
	struct h_server s;
	struct h_run r;
	char data[600], subs[600], logarg[128], line[700];
	const char *args[3];
	json_t *j;
	json_error_t je;

	(void)state;
	h_closurelog(&r, "keygen", "ci.example.com/builder", path("ci"), NULL);
	h_run_free(&r);
	h_closurelog(&r, "keygen", "stranger.example.com", path("stranger"), NULL);
	h_run_free(&r);
	{
		size_t len;
		uint8_t *pub = h_read(path("ci.pub"), &len);

		snprintf(subs, sizeof subs, "%s", path("submitters"));
		snprintf(line, sizeof line, "%s", (char *)pub);
		h_write(subs, line, strlen(line));
		free(pub);
	}
	snprintf(data, sizeof data, "%s", path("data"));
	args[0] = "--submitters";
	args[1] = subs;
	args[2] = NULL;
	h_server_start(&s, data, args);
	snprintf(logarg, sizeof logarg, "%s/", s.url); /* a trailing slash is fine */

	attest_ok(path("ci.key"), path("a.env"), "runner 1");
	attest_ok(path("ci.key"), path("b.env"), "runner 2");
	attest_ok(path("stranger.key"), path("s.env"), "runner 3");
	h_closurelog(&r, "submit", "--log", logarg, "--log-key", s.pub, path("a.env"), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "logged at index 0"));
	assert_non_null(strstr(r.out, "signature verified"));
	h_run_free(&r);
	/* Resubmission is idempotent. */
	h_closurelog(&r, "submit", "--log", s.url, "--log-key", s.vkey, path("a.env"), "-o",
	    path("a2.bundle"), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "already logged at index 0"));
	h_run_free(&r);
	/* Several at once into a directory; the stranger's is refused (exit
	 * 1, the log's reason), the others are written. */
	h_closurelog(&r, "submit", "--log", s.url, "--log-key", s.pub, "-o", path("out"),
	    path("b.env"), path("s.env"), NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "not an accepted submitter"));
	h_run_free(&r);
	{
		struct stat st;

		assert_int_equal(stat(path("out/b.env.bundle"), &st), 0);
		assert_int_not_equal(stat(path("out/s.env.bundle"), &st), 0);
		assert_int_equal(stat(path("a.env.bundle"), &st), 0);
	}
	/* A wrong log key: the answer does not check out, no bundle. */
	h_closurelog(&r, "submit", "--log", s.url, "--log-key", path("ci.pub"), "-o",
	    path("x.bundle"), path("a.env"), NULL);
	assert_int_equal(r.status, 1);
	assert_one_line_error(&r, "submit", "checkpoint does not verify");
	h_run_free(&r);
	/* Nothing listening: retried, then exit 1. */
	{
		const char *argv[] = {h_bin("closurelog"), "submit", "--log", "http://127.0.0.1:1",
		    path("a.env"), NULL};
		setenv("CLOSURELOG_ATTEMPTS", "2", 1);
		setenv("CLOSURELOG_BACKOFF_MS", "10", 1);
		h_run(&r, NULL, argv);
		unsetenv("CLOSURELOG_ATTEMPTS");
		unsetenv("CLOSURELOG_BACKOFF_MS");
		assert_int_equal(r.status, 1);
		/* A line for the one retry, then the failure. */
		assert_non_null(strstr(r.err, "warning: http://127.0.0.1:1/v1/entries: "));
		assert_non_null(strstr(r.err, "; try 2 of 2 in 10 ms\n"));
		assert_null(strstr(r.err, "try 3"));
		h_run_free(&r);
	}
	/* --json: one array, an object per envelope logged. */
	h_closurelog(&r, "submit", "--log", s.url, "--log-key", s.pub, "--json", "-o",
	    path("j.bundle"), path("a.env"), NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "index")), 0);
	assert_true(json_is_true(json_object_get(json_array_get(j, 0), "duplicate")));
	assert_true(
	    json_is_true(json_object_get(json_array_get(j, 0), "checkpoint_signature_checked")));
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(j, 0), "bundle")), path("j.bundle"));
	json_decref(j);
	h_run_free(&r);
	/* Into one directory, two envelopes of one base name would collide. */
	h_closurelog(
	    &r, "submit", "--log", s.url, "-o", path("out"), path("a.env"), path("a.env"), NULL);
	assert_int_equal(r.status, 2);
	assert_one_line_error(&r, "submit", "would both be saved as a.env.bundle");
	h_run_free(&r);
	h_closurelog(&r, "submit", "--log", "ftp://x", path("a.env"), NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	h_closurelog(&r, "submit", "--log", s.url, path("missing.env"), NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);

	/* get / prove / search */
	h_closurelog(&r, "get", "--log", s.url, "1", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "entry 1"));
	assert_non_null(strstr(r.out, "runner 2"));
	h_run_free(&r);
	h_closurelog(&r, "get", "--log", s.url, "--json", "0", NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "index")), 0);
	json_decref(j);
	h_run_free(&r);
	h_closurelog(&r, "get", "--log", s.url, "0", "-o", path("got.env"), NULL);
	assert_int_equal(r.status, 0);
	h_run_free(&r);
	{
		size_t l1, l2;
		uint8_t *a = h_read(path("a.env"), &l1), *b = h_read(path("got.env"), &l2);

		assert_int_equal(l1, l2);
		assert_memory_equal(a, b, l1);
		free(a);
		free(b);
	}
	/* Past the end of the log: the log refuses (exit 1, as --help says). */
	h_closurelog(&r, "get", "--log", s.url, "7", NULL);
	assert_int_equal(r.status, 1);
	assert_one_line_error(&r, "get", "beyond");
	h_run_free(&r);
	h_closurelog(&r, "get", "--log", s.url, "2", NULL);
	assert_int_equal(r.status, 1);
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--index", "2", NULL);
	assert_int_equal(r.status, 1);
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--from", "1", "--to", "3", NULL);
	assert_int_equal(r.status, 1);
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--index", "0", "--log-key", s.pub, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "entry 0 is in"));
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--index", "1", "--log-key", s.pub, "-o",
	    path("p.bundle"), NULL);
	assert_int_equal(r.status, 0);
	h_run_free(&r);
	h_closurelog(&r, "inspect", path("p.bundle"), "--log-key", s.pub, "--submitter-key",
	    path("ci.pub"), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "leads to the checkpoint root"));
	h_run_free(&r);
	/* A bad envelope signature is reported as such, and does not make the
	 * log's checkpoint signature look bad. */
	{
		size_t blen, elen;
		uint8_t *b = h_read(path("a.env.bundle"), &blen), *e = h_read(path("a.env"), &elen);
		size_t at = 0;

		while (at + elen <= blen && memcmp(b + at, e, elen) != 0)
			at++;
		assert_true(at + elen <= blen);
		/* The envelope ends in its signature: sig, then the 8-character
		 * keyid (tag, length, text): flip the signature's last byte. */
		b[at + elen - 11] ^= 1;
		h_write(path("badsig.bundle"), b, blen);
		free(b);
		free(e);
	}
	h_closurelog(&r, "inspect", path("badsig.bundle"), "--log-key", s.pub, "--submitter-key",
	    path("ci.pub"), NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "INVALID"));
	assert_non_null(strstr(r.out, "valid (log key)"));
	assert_null(strstr(r.out, "did not sign"));
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--from", "1", "--to", "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "to")), 2);
	json_decref(j);
	h_run_free(&r);
	h_closurelog(&r, "prove", "--log", s.url, "--from", "3", NULL);
	assert_int_equal(r.status, 1);
	h_run_free(&r);
	/* A request that is wrong whatever the log's size stays a usage error. */
	h_closurelog(&r, "prove", "--log", s.url, "--from", "2", "--to", "1", NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);
	/* Numbers are checked before anything is asked of the log. */
	{
		static const char *const bad[][3] = {
		    {"get", "01", NULL},
		    {"get", "18446744073709551616", NULL},
		    {"prove", "--index", "+1"},
		    {"prove", "--from", ""},
		};

		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			h_closurelog(&r, bad[i][0], "--log", "http://127.0.0.1:1", bad[i][1],
			    bad[i][2], NULL);
			assert_int_equal(r.status, 2);
			assert_non_null(strstr(r.err, "no leading zeros"));
			h_run_free(&r);
		}
		h_closurelog(&r, "prove", "--log", "http://127.0.0.1:1", "--from", "1", "--to",
		    "2&x=y", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, "prove", "--to");
		h_run_free(&r);
		h_closurelog(
		    &r, "search", "--log", "http://127.0.0.1:1", "--nar-hash", "sha256:zz", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, "search", "--nar-hash");
		h_run_free(&r);
		h_closurelog(&r, "search", "--log", "http://127.0.0.1:1", "--nar-hash",
		    "md5:00000000000000000000000000000000", NULL);
		assert_int_equal(r.status, 2);
		assert_one_line_error(&r, "search", "must be a sha256 hash");
		h_run_free(&r);
	}
	/* A narHash in another form finds the same entries. */
	h_closurelog(&r, "search", "--log", s.url, "--nar-hash", NAR_SRI, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "0\n1\n");
	h_run_free(&r);
	h_closurelog(&r, "search", "--log", s.url, "--root", ROOT, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "0\n1\n");
	h_run_free(&r);
	h_closurelog(&r, "search", "--log", s.url, "--nar-hash", NAR_HEX, "--json", NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "indices")), 2);
	json_decref(j);
	h_run_free(&r);
	h_closurelog(&r, "search", "--log", s.url, "--submitter", path("stranger.pub"), NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	h_run_free(&r);
	h_closurelog(&r, "search", "--log", s.url, "--root", "/nix/store/nope", NULL);
	assert_int_equal(r.status, 2);
	h_run_free(&r);

	/* inspect a checkpoint file, against the right and a wrong key. */
	{
		char url[128];
		long status;
		uint8_t *body;
		size_t len;

		snprintf(url, sizeof url, "%s/checkpoint", s.url);
		assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
		h_write(path("checkpoint"), body, len);
		free(body);
	}
	h_closurelog(&r, "inspect", path("checkpoint"), "--log-key", s.pub, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "valid (log key)"));
	h_run_free(&r);
	h_closurelog(&r, "inspect", path("checkpoint"), "--log-key", path("ci.pub"), NULL);
	assert_int_equal(r.status, 1);
	h_run_free(&r);

	/* A bundle ends in checkpoint text and may hold no NUL byte at all:
	 * inspect must still take it for a bundle.  The attestation here has
	 * no zero byte, so only the signature might; try until one has none
	 * (each try has a 78% chance). */
	{
		bool probed = false;

		for (int i = 0; i < 32 && !probed; i++) {
			char builder[32];
			size_t blen;
			uint8_t *b;

			snprintf(builder, sizeof builder, "probe %d", i);
			h_closurelog(&r, "attest", "--key", path("ci.key"), "--root",
			    "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", "--nar-hash",
			    NAR_HEX, "--flake-lock-digest",
			    "sha256-ERERERERERERERERERERERERERERERERERERERERERE=", "--builder",
			    builder, "-o", path("probe.env"), NULL);
			assert_int_equal(r.status, 0);
			h_run_free(&r);
			h_closurelog(&r, "submit", "--log", s.url, "--log-key", s.pub, "-o",
			    path("probe.bundle"), path("probe.env"), NULL);
			assert_int_equal(r.status, 0);
			h_run_free(&r);
			b = h_read(path("probe.bundle"), &blen);
			probed = memchr(b, '\0', blen) == NULL;
			free(b);
		}
		assert_true(probed);
		h_closurelog(&r, "inspect", "--json", path("probe.bundle"), NULL);
		assert_int_equal(r.status, 0);
		j = json_loads(r.out, 0, &je);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "type")), "bundle");
		json_decref(j);
		h_run_free(&r);
	}
	h_server_stop(&s, SIGTERM);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_help, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_broker, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attest_inspect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_and_query, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
