/*
 * cli_verify_test.c: `closurelog verify` and the example broker, end to
 * end: keys from `closurelog keygen`, an envelope from `closurelog attest`,
 * a bundle from `closurelog submit` to a real closurelogd, then verify in
 * every way a person or a broker can get it wrong.  Exit codes: 0 valid,
 * 1 a check failed, 2 usage or input error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "testutil.h"
#include "wire.h"

#define ROOT       "/nix/store/0c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source"
#define OTHER_ROOT "/nix/store/1c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source"
#define NAR        "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
/* The same narHash in nix32 and hex. */
#define NAR_NIX32 "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
#define NAR_HEX   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define OTHER_NAR "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define LOCK      "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

struct env {
	char dir[512];
	char data[700], data2[700];
	struct h_server s, s2;
	char ci_key[700], ci_pub[700], other_pub[700], subs[700];
	char envelope[700], bundle[700], bundle2[700], corrupt[700], tproof[700];
	char ci_keyid[9];
};

static struct env E;

static void
path(char *out, const char *name)
{
	snprintf(out, 700, "%s/%s", E.dir, name);
}

/* Run `closurelog <args...>` (NULL-terminated) and return its result. */
static void
run(struct h_run *r, const char *const *args)
{
	const char *argv[40];
	int n = 0;

	argv[n++] = h_bin("closurelog");
	for (int i = 0; args[i] != NULL && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	h_run(r, NULL, argv);
}

static void
expect(const struct h_run *r, int status, const char *out_has, const char *err_has)
{
	if (r->status != status)
		fail_msg(
		    "exit %d, want %d\nstdout: %s\nstderr: %s", r->status, status, r->out, r->err);
	if (out_has != NULL && strstr(r->out, out_has) == NULL)
		fail_msg("stdout lacks \"%s\":\n%s", out_has, r->out);
	if (err_has != NULL && strstr(r->err, err_has) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", err_has, r->err);
}

static void
keygen(const char *name, const char *prefix)
{
	char p[700];
	struct h_run r;
	const char *args[] = {"keygen", name, p, NULL};

	path(p, prefix);
	run(&r, args);
	expect(&r, 0, "+", NULL);
	h_run_free(&r);
}

static void
submit(const struct h_server *s, const char *out)
{
	struct h_run r;
	const char *args[] = {
	    "submit", "--log", s->url, "--log-key", s->pub, "-o", out, E.envelope, NULL};

	run(&r, args);
	expect(&r, 0, "logged at index", NULL);
	h_run_free(&r);
}

static int
setup(void **state)
{
	static const char *extra[3];
	struct h_run r;
	uint8_t *pub, *b;
	size_t len;
	char line[1400];
	int n;

	(void)state;
	memset(&E, 0, sizeof E);
	h_tmpdir(E.dir, sizeof E.dir);
	keygen("ci.example.com/builder", "ci");
	keygen("ci.example.com/other", "other");
	path(E.ci_key, "ci.key");
	path(E.ci_pub, "ci.pub");
	path(E.other_pub, "other.pub");
	path(E.subs, "submitters");

	/* Both keys may submit; the verifier decides which it accepts. */
	pub = h_read(E.ci_pub, &len);
	memcpy(E.ci_keyid, strchr((char *)pub, '+') + 1, 8);
	n = snprintf(line, sizeof line, "%s", (char *)pub);
	free(pub);
	pub = h_read(E.other_pub, &len);
	n += snprintf(line + n, sizeof line - (size_t)n, "%s", (char *)pub);
	free(pub);
	h_write(E.subs, line, (size_t)n);

	extra[0] = "--submitters";
	extra[1] = E.subs;
	path(E.data, "data");
	path(E.data2, "data2");
	h_server_start(&E.s, E.data, extra);
	h_server_start(&E.s2, E.data2, extra);

	path(E.envelope, "closure.envelope");
	{
		const char *args[] = {"attest", "--key", E.ci_key, "--root", ROOT, "--nar-hash",
		    NAR, "--flake-lock-digest", LOCK, "--system", "x86_64-linux", "-o", E.envelope,
		    NULL};

		run(&r, args);
		expect(&r, 0, NULL, NULL);
		h_run_free(&r);
	}
	path(E.bundle, "closure.bundle");
	path(E.bundle2, "closure2.bundle");
	submit(&E.s, E.bundle);
	submit(&E.s2, E.bundle2);

	/* A copy with one byte changed, in the middle (the envelope). */
	b = h_read(E.bundle, &len);
	b[len / 2] ^= 0x01;
	path(E.corrupt, "corrupt.bundle");
	h_write(E.corrupt, b, len);
	free(b);

	/* The tlog-proof of the bundle, on its own. */
	{
		struct cl_bundle cb;
		struct wire_arena a;
		void *abuf = malloc(WIRE_ARENA_MIN);

		assert_non_null(abuf);
		wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
		b = h_read(E.bundle, &len);
		assert_int_equal(wire_bundle_decode(&a, b, len, &cb, NULL), 0);
		path(E.tproof, "closure.tlog-proof");
		h_write(E.tproof, cb.tlog_proof, cb.tlog_proof_len);
		free(b);
		free(abuf);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_server_stop(&E.s, SIGTERM);
	h_server_stop(&E.s2, SIGTERM);
	h_rmrf(E.dir);
	return 0;
}

static void
test_ok(void **state)
{
	struct h_run r;
	char want[600];
	const char *plain[] = {
	    "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, E.bundle, NULL};
	const char *checked[] = {"verify", "--log-key", E.s.vkey, "--submitter-key", E.other_pub,
	    "--submitter-key", E.ci_pub, "--root", ROOT, "--nar-hash", NAR_NIX32, E.bundle, NULL};
	const char *hex[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--nar-hash", NAR_HEX, "--origin", "localhost/closurelog", E.bundle, NULL};

	(void)state;
	snprintf(want, sizeof want,
	    "OK: %s (narHash %s) is entry 0 of localhost/closurelog (size 1), signed by "
	    "ci.example.com/builder (%s)\n",
	    ROOT, NAR, E.ci_keyid);
	run(&r, plain);
	expect(&r, 0, NULL, "no --root or --nar-hash given");
	assert_string_equal(r.out, want);
	h_run_free(&r);
	run(&r, checked);
	expect(&r, 0, NULL, NULL);
	assert_string_equal(r.out, want);
	assert_string_equal(r.err, "");
	h_run_free(&r);
	run(&r, hex);
	expect(&r, 0, "OK: ", NULL);
	h_run_free(&r);
}

static void
test_json(void **state)
{
	struct h_run r;
	json_t *j;
	json_error_t je;
	const char *ok[] = {"verify", "--json", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--root", ROOT, E.bundle, NULL};
	const char *bad[] = {"verify", "--json", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--root", OTHER_ROOT, E.bundle, NULL};

	(void)state;
	run(&r, ok);
	expect(&r, 0, NULL, NULL);
	j = json_loads(r.out, 0, &je);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", je.text, r.out);
	assert_string_equal(tu_str(j, "status"), "OK");
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 0);
	assert_string_equal(tu_str(j, "reason"), "");
	assert_int_equal(tu_u64(j, "index"), 0);
	assert_int_equal(tu_u64(j, "tree_size"), 1);
	assert_string_equal(tu_str(j, "origin"), "localhost/closurelog");
	assert_string_equal(tu_str(j, "root"), ROOT);
	assert_string_equal(tu_str(j, "nar_hash"), NAR);
	assert_string_equal(tu_str(j, "submitter"), "ci.example.com/builder");
	assert_string_equal(tu_str(j, "submitter_keyid"), E.ci_keyid);
	json_decref(j);
	h_run_free(&r);

	run(&r, bad);
	expect(&r, 1, NULL, NULL);
	j = json_loads(r.out, 0, &je);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", je.text, r.out);
	assert_string_equal(tu_str(j, "status"), "EROOT");
	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_non_null(strstr(tu_str(j, "reason"), "root mismatch"));
	assert_null(json_object_get(j, "root"));
	json_decref(j);
	h_run_free(&r);
}

static void
test_failures(void **state)
{
	struct h_run r;
	char want[600];
	const char *wrong_root[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--root", OTHER_ROOT, E.bundle, NULL};
	const char *wrong_nar[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--nar-hash", OTHER_NAR, E.bundle, NULL};
	const char *other_only[] = {
	    "verify", "--log-key", E.s.pub, "--submitter-key", E.other_pub, E.bundle, NULL};
	const char *corrupt[] = {
	    "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, E.corrupt, NULL};
	const char *other_log[] = {
	    "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, E.bundle2, NULL};
	const char *other_origin[] = {"verify", "--log-key", E.s.pub, "--origin", "x.example/log",
	    "--submitter-key", E.ci_pub, E.bundle, NULL};

	(void)state;
	run(&r, wrong_root);
	snprintf(
	    want, sizeof want, "FAIL: root mismatch: attested %s, expected %s\n", ROOT, OTHER_ROOT);
	expect(&r, 1, NULL, want);
	assert_string_equal(r.out, "");
	h_run_free(&r);

	run(&r, wrong_nar);
	snprintf(want, sizeof want, "FAIL: narHash mismatch: attested %s, expected %s\n", NAR,
	    OTHER_NAR);
	expect(&r, 1, NULL, want);
	h_run_free(&r);

	run(&r, other_only);
	snprintf(want, sizeof want, "FAIL: signed by key %s, which is not an accepted submitter\n",
	    E.ci_keyid);
	expect(&r, 1, NULL, want);
	h_run_free(&r);

	run(&r, corrupt);
	expect(&r, 1, NULL, "FAIL: ");
	h_run_free(&r);

	/* The same envelope, logged by another log with the same origin. */
	run(&r, other_log);
	expect(&r, 1, NULL, "FAIL: checkpoint is not signed by the log key localhost/closurelog");
	h_run_free(&r);
	{
		const char *right[] = {
		    "verify", "--log-key", E.s2.pub, "--submitter-key", E.ci_pub, E.bundle2, NULL};

		run(&r, right);
		expect(&r, 0, "OK: ", NULL);
		h_run_free(&r);
	}

	run(&r, other_origin);
	expect(&r, 1, NULL,
	    "FAIL: checkpoint origin is localhost/closurelog, expected x.example/log\n");
	h_run_free(&r);

	/* A file larger than any bundle is not read in full: it fails as a
	 * malformed bundle would, not as an input error. */
	{
		char big[700];
		uint8_t *zeros = calloc(1, CL_API_MAX + 1);
		const char *args[] = {
		    "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, big, NULL};

		assert_non_null(zeros);
		path(big, "big.bundle");
		h_write(big, zeros, CL_API_MAX + 1);
		free(zeros);
		run(&r, args);
		expect(&r, 1, NULL, "FAIL: BUNDLE: ");
		assert_non_null(strstr(r.err, "larger than"));
		h_run_free(&r);
	}
}

static void
test_tlog_proof_files(void **state)
{
	struct h_run r;
	const char *ok[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--tlog-proof", E.tproof, "--envelope", E.envelope, "--root", ROOT, NULL};
	const char *mixed[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	    "--tlog-proof", E.tproof, "--envelope", E.corrupt, NULL};

	(void)state;
	run(&r, ok);
	expect(&r, 0, "OK: " ROOT, NULL);
	h_run_free(&r);
	/* Any other bytes as the envelope. */
	run(&r, mixed);
	expect(&r, 1, NULL, "FAIL: ");
	h_run_free(&r);
}

static void
test_usage(void **state)
{
	struct h_run r;
	char missing[700];
	const char *cases[][12] = {
	    /* No --log-key. */
	    {"verify", "--submitter-key", E.ci_pub, E.bundle, NULL},
	    /* No --submitter-key. */
	    {"verify", "--log-key", E.s.pub, E.bundle, NULL},
	    /* No bundle. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, NULL},
	    /* A bundle and --tlog-proof. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, "--tlog-proof", E.tproof,
	        "--envelope", E.envelope, E.bundle, NULL},
	    /* --tlog-proof without --envelope. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, "--tlog-proof", E.tproof,
	        NULL},
	    /* An unreadable bundle. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, missing, NULL},
	    /* A malformed key. */
	    {"verify", "--log-key", "example.com+12345678+AAAA", "--submitter-key", E.ci_pub,
	        E.bundle, NULL},
	    /* A missing key file. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", missing, E.bundle, NULL},
	    /* A malformed expected root or narHash. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, "--root", "/tmp/x",
	        E.bundle, NULL},
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, "--nar-hash",
	        "sha256-nope", E.bundle, NULL},
	    /* Two bundles, an unknown option. */
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, E.bundle, E.bundle, NULL},
	    {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, "--frobnicate", E.bundle,
	        NULL},
	};

	(void)state;
	path(missing, "no-such-file");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(&r, cases[i]);
		if (r.status != 2)
			fail_msg("case %zu: exit %d, want 2\nstdout: %s\nstderr: %s", i, r.status,
			    r.out, r.err);
		assert_non_null(strstr(r.err, "closurelog verify: "));
		assert_string_equal(r.out, "");
		h_run_free(&r);
	}
	{
		const char *help[] = {"verify", "--help", NULL};

		run(&r, help);
		expect(&r, 0, "--submitter-key", NULL);
		assert_non_null(strstr(r.out, "--tlog-proof"));
		assert_non_null(strstr(r.out, "Exit status"));
		h_run_free(&r);
	}
}

static void
test_broker(void **state)
{
	struct h_run r;
	const char *issue[] = {
	    h_bin("closurelog-broker-example"), E.s.pub, E.subs, E.bundle, ROOT, NULL};
	const char *deny[] = {
	    h_bin("closurelog-broker-example"), E.s.pub, E.subs, E.bundle, OTHER_ROOT, NULL};
	const char *deny_log[] = {
	    h_bin("closurelog-broker-example"), E.s.pub, E.subs, E.bundle2, ROOT, NULL};

	(void)state;
	h_run(&r, NULL, issue);
	expect(&r, 0, NULL, NULL);
	assert_string_equal(r.out, "issue\n");
	h_run_free(&r);
	h_run(&r, NULL, deny);
	expect(&r, 1, "deny: root mismatch: attested " ROOT, NULL);
	h_run_free(&r);
	h_run(&r, NULL, deny_log);
	expect(&r, 1, "deny: checkpoint is not signed by the log key", NULL);
	h_run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_tlog_proof_files),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_broker),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
