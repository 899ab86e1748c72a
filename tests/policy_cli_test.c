/*
 * policy_cli_test.c: `closurelog policy build` against a real closurelogd,
 * and `closurelog check` on what it wrote, end to end.
 *
 * The log holds attestations chosen to exercise every rule: an approved
 * root with a successor, the successor (recorded, not approved), a root
 * signed only by a key that is not accepted, a build without the sandbox,
 * a build for another system, one root attested twice with different
 * narHashes (a conflict), and a root whose narHash is that of a directory
 * on disk (the running-bag check).  Then: the document's contents, its
 * determinism (a fresh state and a resumed state give the same bytes),
 * the OPA bundle, every rule of check allowed and denied with its reason,
 * --json, --bundle with the log key, and tampered documents and bundles.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cl.h"
#include "harness.h"
#include "note.h"
#include "opa.h"
#include "testutil.h"

#define H(c)   "/nix/store/" c "c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-app"
#define ROOT_A H("a")
#define ROOT_B H("b")
#define ROOT_C H("c")
#define ROOT_D H("d")
#define ROOT_E H("f")
#define ROOT_F H("g")
#define ROOT_G H("h")
#define ROOT_Z H("z")
#define NAR_A  "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define NAR_B  "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="
#define NAR_C  "sha256-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="
#define NAR_D  "sha256-DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDA="
#define NAR_E1 "sha256-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEA="
#define NAR_E2 "sha256-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA="
#define NAR_X  "sha256-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXA="
#define LOCK   "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static struct {
	char dir[512];
	struct h_server s;
	char ci_key[700], ci_pub[700], other_key[700], subs[700], approve[700];
	char bag[700], bag_nar[64];
	char bundle_a[700], bundle_b[700];
} E;

static const char *
path(const char *name)
{
	return h_path(E.dir, name);
}

static void
run(struct h_run *r, const char *const *args)
{
	const char *argv[48];
	int n = 0;

	argv[n++] = h_bin("closurelog");
	for (int i = 0; args[i] != NULL && n < 47; i++)
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

/* Attest and submit one closure; the bundle goes to bundle_out (or a
 * scratch file). */
static void
log_one(const char *key, const char *root, const char *nar, const char *system, bool sandbox,
    const char *successor, const char *bundle_out)
{
	const char *args[40];
	struct h_run r;
	int n = 0;
	char env[700], bundle[700];

	snprintf(env, sizeof env, "%s", path("one.envelope"));
	snprintf(bundle, sizeof bundle, "%s", bundle_out != NULL ? bundle_out : path("one.bundle"));
	args[n++] = "attest";
	args[n++] = "--key";
	args[n++] = key;
	args[n++] = "--root";
	args[n++] = root;
	args[n++] = "--nar-hash";
	args[n++] = nar;
	args[n++] = "--flake-lock-digest";
	args[n++] = LOCK;
	args[n++] = "--system";
	args[n++] = system;
	args[n++] = sandbox ? "--sandbox" : "--no-sandbox";
	args[n++] = "--build-time";
	args[n++] = "1700000000";
	if (successor != NULL) {
		args[n++] = "--successor";
		args[n++] = successor;
	}
	args[n++] = "-o";
	args[n++] = env;
	args[n] = NULL;
	run(&r, args);
	expect(&r, 0, NULL, NULL);
	h_run_free(&r);
	{
		const char *sargs[] = {
		    "submit", "--log", E.s.url, "--log-key", E.s.pub, "-o", bundle, env, NULL};

		run(&r, sargs);
		expect(&r, 0, "logged at index", NULL);
		h_run_free(&r);
	}
}

static void
keygen(const char *name, const char *prefix)
{
	const char *args[] = {"keygen", name, path(prefix), NULL};
	struct h_run r;

	run(&r, args);
	expect(&r, 0, NULL, NULL);
	h_run_free(&r);
}

static int
setup(void **state)
{
	static const char *extra[3];
	uint8_t *a, *b;
	size_t la, lb;
	char *both;
	struct h_run r;

	(void)state;
	memset(&E, 0, sizeof E);
	h_tmpdir(E.dir, sizeof E.dir);
	keygen("ci.example.com/builder", "ci");
	keygen("ci.example.com/other", "other");
	snprintf(E.ci_key, sizeof E.ci_key, "%s", path("ci.key"));
	snprintf(E.ci_pub, sizeof E.ci_pub, "%s", path("ci.pub"));
	snprintf(E.other_key, sizeof E.other_key, "%s", path("other.key"));
	snprintf(E.subs, sizeof E.subs, "%s", path("submitters"));
	a = h_read(E.ci_pub, &la);
	b = h_read(path("other.pub"), &lb);
	assert_non_null(both = malloc(la + lb + 1));
	memcpy(both, a, la);
	memcpy(both + la, b, lb);
	h_write(E.subs, both, la + lb);
	free(both);
	free(a);
	free(b);
	extra[0] = "--submitters";
	extra[1] = E.subs;
	h_server_start(&E.s, path("data"), extra);

	/* The running bag: a directory whose narHash is attested for ROOT_G. */
	snprintf(E.bag, sizeof E.bag, "%s", path("bag"));
	assert_int_equal(mkdir(E.bag, 0755), 0);
	h_write(h_path(E.bag, "bin"), "#!/bin/sh\necho app\n", 19);
	{
		const char *args[] = {"nar-hash", E.bag, NULL};

		run(&r, args);
		expect(&r, 0, "sha256-", NULL);
		memcpy(E.bag_nar, r.out, 51);
		h_run_free(&r);
	}

	snprintf(E.bundle_a, sizeof E.bundle_a, "%s", path("a.bundle"));
	snprintf(E.bundle_b, sizeof E.bundle_b, "%s", path("b.bundle"));
	log_one(E.ci_key, ROOT_A, NAR_A, "x86_64-linux", true, ROOT_B, E.bundle_a); /* 0 */
	log_one(E.ci_key, ROOT_B, NAR_B, "x86_64-linux", true, NULL, E.bundle_b);   /* 1 */
	log_one(E.other_key, ROOT_C, NAR_C, "x86_64-linux", true, NULL, NULL);      /* 2 */
	log_one(E.ci_key, ROOT_D, NAR_D, "x86_64-linux", false, NULL, NULL);        /* 3 */
	log_one(E.ci_key, ROOT_E, NAR_E1, "x86_64-linux", true, NULL, NULL);        /* 4 */
	log_one(E.ci_key, ROOT_E, NAR_E2, "x86_64-linux", true, NULL, NULL);        /* 5 */
	log_one(E.ci_key, ROOT_F, NAR_A, "aarch64-linux", true, NULL, NULL);        /* 6 */
	log_one(E.ci_key, ROOT_G, E.bag_nar, "x86_64-linux", true, NULL, NULL);     /* 7 */

	snprintf(E.approve, sizeof E.approve, "%s", path("approve"));
	{
		const char text[] = "# release review 2026-12\n" ROOT_A "\n" ROOT_E "\n" ROOT_G
		                    "\n\n" ROOT_Z "\n" ROOT_D "\n";

		h_write(E.approve, text, sizeof text - 1);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_server_stop(&E.s, SIGTERM);
	h_rmrf(E.dir);
	return 0;
}

/* policy build with the test's rules into out (--opa if opa). */
static void
build(struct h_run *r, const char *state_dir, const char *out, bool opa)
{
	const char *args[] = {"policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
	    "--submitter-key", E.ci_pub, "--state", state_dir, "--require-sandbox", "--system",
	    "x86_64-linux", "--approve", E.approve, "--max-minutes", "15", "-o", out,
	    opa ? "--opa" : NULL, NULL};

	run(r, args);
}

static void
test_build_document(void **state)
{
	struct h_run r;
	json_t *doc, *nix, *roots, *conf, *a, *prov;

	(void)state;
	build(&r, path("state1"), path("data.json"), false);
	expect(&r, 0, NULL, "written at checkpoint 8");
	/* ROOT_Z is named but never attested: said, not approved. */
	assert_non_null(strstr(r.err, ROOT_Z ", which no accepted attestation records"));
	h_run_free(&r);

	assert_non_null(doc = json_load_file(path("data.json"), JSON_REJECT_DUPLICATES, NULL));
	nix = json_object_get(doc, "nix");
	roots = json_object_get(nix, "roots");
	/* A, B, G recorded; C (unaccepted key), D (no sandbox), F (other
	 * system) excluded; E conflicting. */
	assert_int_equal(json_object_size(roots), 3);
	a = json_object_get(roots, ROOT_A);
	assert_string_equal(tu_str(a, "narHash"), NAR_A);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(a, "successors"), 0)), ROOT_B);
	prov = json_array_get(json_object_get(a, "provenance"), 0);
	assert_int_equal(tu_u64(prov, "index"), 0);
	assert_string_equal(tu_str(prov, "system"), "x86_64-linux");
	assert_string_equal(tu_str(prov, "sandbox"), "on");
	assert_non_null(strstr(tu_str(prov, "submitter"), "ci.example.com/builder+"));
	assert_non_null(json_object_get(roots, ROOT_B));
	assert_non_null(json_object_get(roots, ROOT_G));
	assert_null(json_object_get(roots, ROOT_C));
	assert_null(json_object_get(roots, ROOT_D));
	assert_null(json_object_get(roots, ROOT_F));
	/* Approved: what --approve names and is recorded (A, G; not D or Z). */
	assert_int_equal(json_array_size(json_object_get(nix, "approved_roots")), 2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(nix, "approved_roots"), 0)), ROOT_A);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(nix, "approved_roots"), 1)), ROOT_G);
	/* The conflict, with both indices. */
	conf = json_object_get(json_object_get(nix, "conflicts"), ROOT_E);
	assert_int_equal(json_array_size(conf), 2);
	assert_int_equal(tu_u64(json_array_get(conf, 0), "index"), 4);
	assert_string_equal(tu_str(json_array_get(conf, 0), "narHash"), NAR_E1);
	assert_int_equal(tu_u64(json_array_get(conf, 1), "index"), 5);
	assert_string_equal(tu_str(json_array_get(conf, 1), "narHash"), NAR_E2);
	assert_null(json_object_get(roots, ROOT_E));
	assert_int_equal(tu_u64(json_object_get(doc, "policies"), "max_minutes"), 15);
	assert_int_equal(
	    tu_u64(json_object_get(json_object_get(doc, "closurelog"), "checkpoint"), "size"), 8);
	json_decref(doc);
}

static void
assert_same_file(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = h_read(a, &la), *y = h_read(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(x, y, la);
	free(x);
	free(y);
}

static void
test_build_deterministic_and_resumable(void **state)
{
	struct h_run r;

	(void)state;
	/* A fresh state gives the same bytes. */
	build(&r, path("state2"), path("data2.json"), false);
	expect(&r, 0, NULL, NULL);
	h_run_free(&r);
	assert_same_file(path("data.json"), path("data2.json"));
	/* A new entry: resumed (state1, reads entry 8 only) and fresh agree. */
	log_one(E.ci_key, ROOT_Z, NAR_D, "x86_64-linux", true, NULL, NULL); /* 8 */
	build(&r, path("state1"), path("data3.json"), false);
	expect(&r, 0, NULL, "entries 8..8 read now: 1 accepted");
	h_run_free(&r);
	build(&r, path("state3"), path("data4.json"), false);
	expect(&r, 0, NULL, "entries 0..8 read now");
	h_run_free(&r);
	assert_same_file(path("data3.json"), path("data4.json"));
	/* Now ROOT_Z is recorded, and approved by the list. */
	{
		json_t *doc = json_load_file(path("data3.json"), 0, NULL);
		json_t *appr = json_object_get(json_object_get(doc, "nix"), "approved_roots");

		assert_int_equal(json_array_size(appr), 3);
		json_decref(doc);
	}
	/* Another state directory's lock, or other rules on the same state:
	 * the records are rebuilt, and the result is still the same. */
	{
		const char *args[] = {"policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
		    "--submitter-key", E.ci_pub, "--state", path("state1"), "--system",
		    "x86_64-linux", "--approve", E.approve, "-o", path("data5.json"), NULL};

		run(&r, args);
		expect(&r, 0, NULL, "rebuilding from the first entry");
		h_run_free(&r);
	}
}

static void
test_build_opa_bundle(void **state)
{
	struct h_run r;
	struct cli_opa_bundle b;
	uint8_t *gz;
	size_t len;
	char why[CL_WHY_MAX];

	(void)state;
	build(&r, path("state4"), path("bundle.tar.gz"), true);
	expect(&r, 0, NULL, NULL);
	h_run_free(&r);
	build(&r, path("state5"), path("bundle2.tar.gz"), true);
	expect(&r, 0, NULL, NULL);
	h_run_free(&r);
	assert_same_file(path("bundle.tar.gz"), path("bundle2.tar.gz"));
	gz = h_read(path("bundle.tar.gz"), &len);
	if (cli_opa_read(gz, len, &b, why) != 0)
		fail_msg("bundle: %s", why);
	assert_non_null(b.revision);
	assert_non_null(strstr(b.revision, "/9/"));
	assert_non_null(strstr((char *)b.data, b.revision));
	cli_opa_clear(&b);
	free(gz);
}

/* closurelog check --policy P --root R --nar-hash N [more...] */
static void
check(
    struct h_run *r, const char *policy, const char *root, const char *nar, const char *const *more)
{
	const char *args[40] = {"check", "--policy", policy, "--root", root, "--nar-hash", nar};
	int n = 7;

	for (int i = 0; more != NULL && more[i] != NULL; i++)
		args[n++] = more[i];
	args[n] = NULL;
	run(r, args);
}

static void
test_check_rules(void **state)
{
	static const struct {
		const char *root, *nar, *more[6];
		int status;
		const char *out, *err;
	} cases[] = {
	    {ROOT_A, NAR_A, {"--requested-minutes", "15"}, 0, "allow " ROOT_A " env_hash=" NAR_A,
	        NULL},
	    {ROOT_A, NAR_A, {"--requested-minutes", "16"}, 1, NULL,
	        "deny: requested 16 minutes, policy allows 15"},
	    {ROOT_A, NAR_A, {NULL}, 1, NULL,
	        "deny: no requested lifetime; policy allows 15 minutes"},
	    {ROOT_A, NAR_B, {"--requested-minutes", "5"}, 1, NULL,
	        "deny: narHash mismatch for " ROOT_A ": recorded " NAR_A ", presented " NAR_B},
	    {ROOT_B, NAR_B, {"--requested-minutes", "5"}, 1, NULL,
	        "deny: " ROOT_B " is not an approved root"},
	    {ROOT_B, NAR_B, {"--requested-minutes", "5", "--prev-root", ROOT_A}, 0, "allow", NULL},
	    {ROOT_B, NAR_B, {"--requested-minutes", "5", "--prev-root", ROOT_G}, 1, NULL,
	        "deny: " ROOT_B " is not a successor of " ROOT_G},
	    {ROOT_B, NAR_B, {"--requested-minutes", "5", "--prev-root", ROOT_C}, 1, NULL,
	        "deny: previous root " ROOT_C " is not recorded in the policy"},
	    {ROOT_B, NAR_A, {"--requested-minutes", "5", "--prev-root", ROOT_A}, 1, NULL,
	        "deny: narHash mismatch for " ROOT_B},
	    {ROOT_E, NAR_E1, {"--requested-minutes", "5"}, 1, NULL,
	        "the log holds conflicting narHashes for it"},
	    {ROOT_C, NAR_C, {"--requested-minutes", "5"}, 1, NULL,
	        "deny: no narHash is recorded for " ROOT_C},
	    {ROOT_D, NAR_D, {"--requested-minutes", "5"}, 1, NULL, "is not an approved root"},
	    {ROOT_F, NAR_A, {"--requested-minutes", "5"}, 1, NULL, "is not an approved root"},
	    /* input errors */
	    {"/nix/store/bad", NAR_A, {"--requested-minutes", "5"}, 2, NULL, "root: "},
	    {ROOT_A, "sha256-short", {"--requested-minutes", "5"}, 2, NULL, "narHash: "},
	    {ROOT_A, NAR_A, {"--requested-minutes", "-1"}, 2, NULL, "--requested-minutes"},
	    {ROOT_A, NAR_A, {"--prev-root", "x", "--requested-minutes", "1"}, 2, NULL,
	        "previous root: "},
	};
	const char *pol[] = {path("data.json"), path("bundle.tar.gz")};

	(void)state;
	for (size_t p = 0; p < 2; p++) {
		char pbuf[700];

		snprintf(pbuf, sizeof pbuf, "%s", pol[p]);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			struct h_run r;

			check(&r, pbuf, cases[i].root, cases[i].nar, cases[i].more);
			if (r.status != cases[i].status)
				fail_msg("policy %zu case %zu: exit %d, want %d: %s", p, i,
				    r.status, cases[i].status, r.err);
			expect(&r, cases[i].status, cases[i].out, cases[i].err);
			h_run_free(&r);
		}
	}
}

static void
test_check_json_and_path(void **state)
{
	struct h_run r;
	json_t *j;
	char pol[700];

	(void)state;
	snprintf(pol, sizeof pol, "%s", path("bundle.tar.gz"));
	{
		const char *more[] = {
		    "--requested-minutes", "30", "--prev-root", ROOT_G, "--json", NULL};

		check(&r, pol, ROOT_B, NAR_A, more);
		expect(&r, 1, NULL, NULL);
		assert_non_null(j = json_loads(r.out, 0, NULL));
		assert_true(json_is_false(json_object_get(j, "allow")));
		assert_int_equal(json_array_size(json_object_get(j, "reasons")), 4);
		assert_string_equal(tu_str(j, "env_hash"), NAR_A);
		assert_non_null(strstr(tu_str(j, "policy_id"), "/9/"));
		json_decref(j);
		h_run_free(&r);
	}
	{
		const char *more[] = {"--requested-minutes", "3", "--json", NULL};

		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 0, NULL, NULL);
		assert_non_null(j = json_loads(r.out, 0, NULL));
		assert_true(json_is_true(json_object_get(j, "allow")));
		assert_int_equal(json_array_size(json_object_get(j, "reasons")), 0);
		json_decref(j);
		h_run_free(&r);
	}
	/* --path: the narHash recomputed from disk. */
	{
		const char *args[] = {"check", "--policy", pol, "--path", E.bag, "--root", ROOT_G,
		    "--requested-minutes", "5", NULL};

		run(&r, args);
		expect(&r, 0, "allow " ROOT_G, NULL);
		h_run_free(&r);
		/* The running bag mutated: denied. */
		h_write(h_path(E.bag, "bin"), "#!/bin/sh\necho pwned\n", 21);
		run(&r, args);
		expect(&r, 1, NULL, "deny: narHash mismatch for " ROOT_G);
		h_run_free(&r);
		h_write(h_path(E.bag, "bin"), "#!/bin/sh\necho app\n", 19);
		/* A path that is not a store path needs --root. */
		args[5] = NULL;
		run(&r, args);
		expect(&r, 2, NULL, "is not a store path: name the closure root with --root");
		h_run_free(&r);
	}
	/* Usage errors. */
	{
		const char *args[] = {"check", "--policy", pol, "--root", ROOT_A, NULL};

		run(&r, args);
		expect(&r, 2, NULL, "--nar-hash HASH or --path DIR");
		h_run_free(&r);
	}
}

static void
test_check_bundles(void **state)
{
	struct h_run r;
	char pol[700], bad[700];

	(void)state;
	snprintf(pol, sizeof pol, "%s", path("data.json"));
	{
		const char *more[] = {
		    "--requested-minutes", "5", "--bundle", E.bundle_a, "--log-key", E.s.pub, NULL};

		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 0, "allow", NULL);
		h_run_free(&r);
		/* A bundle for another root does not support A. */
		more[3] = E.bundle_b;
		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 1, NULL,
		    "deny: no proof bundle shows " ROOT_A " with narHash " NAR_A " in the log");
		h_run_free(&r);
		/* A successor move with both bundles: B's bundle supports B. */
		{
			const char *m2[] = {"--requested-minutes", "5", "--prev-root", ROOT_A,
			    "--bundle", E.bundle_a, "--bundle", E.bundle_b, "--log-key", E.s.pub,
			    NULL};

			check(&r, pol, ROOT_B, NAR_B, m2);
			expect(&r, 0, "allow", NULL);
			h_run_free(&r);
		}
		/* A corrupted bundle does not verify. */
		{
			size_t len;
			uint8_t *b = h_read(E.bundle_a, &len);

			b[len / 2] ^= 1;
			snprintf(bad, sizeof bad, "%s", path("bad.bundle"));
			h_write(bad, b, len);
			free(b);
		}
		more[3] = bad;
		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 1, NULL, "does not verify");
		h_run_free(&r);
		/* The wrong log key. */
		more[3] = E.bundle_a;
		more[5] = E.ci_pub;
		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 1, NULL, "does not verify");
		h_run_free(&r);
		/* With a witness required: the bundle's checkpoint has no cosignature. */
		{
			struct note_verifier w = {.type = NOTE_TYPE_COSIG};
			char wkey[NOTE_VKEY_MAX];
			const char *m3[] = {"--requested-minutes", "5", "--bundle", E.bundle_a,
			    "--log-key", E.s.pub, "--witness", wkey, NULL};

			snprintf(w.name, sizeof w.name, "witness.example.com");
			memset(w.pub, 7, sizeof w.pub);
			w.id = note_key_id(w.name, NOTE_TYPE_COSIG, w.pub, sizeof w.pub);
			assert_true(note_verifier_format(&w, wkey, sizeof wkey) > 0);
			check(&r, pol, ROOT_A, NAR_A, m3);
			expect(&r, 1, NULL, "does not verify");
			h_run_free(&r);
			m3[2] = "--witness";
			m3[3] = wkey;
			m3[4] = NULL;
			check(&r, pol, ROOT_A, NAR_A, m3);
			expect(&r, 2, NULL, "--witness applies to the checkpoints of --bundle");
			h_run_free(&r);
		}
		/* --bundle needs --log-key. */
		more[4] = NULL;
		check(&r, pol, ROOT_A, NAR_A, more);
		expect(&r, 2, NULL, "--bundle and --log-key go together");
		h_run_free(&r);
	}
}

/* Replace the first occurrence of from with to (same length) in a copy. */
static void
edit_file(const char *in, const char *out, const char *from, const char *to)
{
	size_t len;
	uint8_t *b = h_read(in, &len);
	char *p = strstr((char *)b, from);

	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
	h_write(out, b, len);
	free(b);
}

static void
test_tampered(void **state)
{
	struct h_run r;
	char t[700], dj[700];
	size_t len;
	uint8_t *gz;

	(void)state;
	snprintf(dj, sizeof dj, "%s", path("data.json"));
	snprintf(t, sizeof t, "%s", path("tampered.json"));
	/* A narHash swapped for another valid one: the document alone cannot
	 * tell, but the proof bundle can. */
	edit_file(dj, t, NAR_A, NAR_X);
	{
		const char *more[] = {"--requested-minutes", "5", NULL, NULL, NULL, NULL, NULL};

		check(&r, t, ROOT_A, NAR_X, more);
		expect(&r, 0, "allow", NULL);
		h_run_free(&r);
		more[2] = "--bundle";
		more[3] = E.bundle_a;
		more[4] = "--log-key";
		more[5] = E.s.pub;
		check(&r, t, ROOT_A, NAR_X, more);
		expect(&r, 1, NULL, "no proof bundle shows " ROOT_A " with narHash " NAR_X);
		h_run_free(&r);
	}
	/* Edits that break the document's form are refused (exit 2). */
	{
		static const char *const edits[][2] = {
		    {"\"max_minutes\":15", "\"max_minutes\":-5"},
		    {NAR_A, "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="},
		    {"\"approved_roots\"", "\"approved_rootz\""},
		    {"\"narHash\":\"" NAR_A, "\"narHasX\":\"" NAR_A},
		};
		const char *more[] = {"--requested-minutes", "5", NULL};

		for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
			edit_file(dj, t, edits[i][0], edits[i][1]);
			check(&r, t, ROOT_A, NAR_A, more);
			if (r.status != 2)
				fail_msg("edit %zu: exit %d: %s", i, r.status, r.out);
			expect(&r, 2, NULL, "--policy");
			h_run_free(&r);
		}
	}
	/* Every single-byte change and every truncation of the bundle.tar.gz
	 * is refused, or (in the gzip header's free fields) leaves the policy
	 * exactly as it was. */
	gz = h_read(path("bundle.tar.gz"), &len);
	for (size_t i = 0; i < len; i += (i < 64 ? 1 : 37)) {
		const char *more[] = {"--requested-minutes", "5", "--json", NULL};

		gz[i] ^= 0x20;
		h_write(t, gz, len);
		gz[i] ^= 0x20;
		check(&r, t, ROOT_A, NAR_A, more);
		if (r.status != 2 && !(r.status == 0 && strstr(r.out, "\"allow\": true") != NULL))
			fail_msg("byte %zu flipped: exit %d\n%s%s", i, r.status, r.out, r.err);
		h_run_free(&r);
	}
	for (size_t cut = 0; cut < len; cut += 53) {
		const char *more[] = {"--requested-minutes", "5", NULL};

		h_write(t, gz, cut);
		check(&r, t, ROOT_A, NAR_A, more);
		expect(&r, 2, NULL, NULL);
		h_run_free(&r);
	}
	free(gz);
	/* A bundle whose data.json names another revision than its manifest. */
	{
		struct cli_opa_bundle b;
		struct cli_opa_file f[2];
		char why[CL_WHY_MAX], *m = "{\"revision\": \"someone-else\"}";
		uint8_t *out;
		size_t olen;
		const char *more[] = {"--requested-minutes", "5", NULL};

		gz = h_read(path("bundle.tar.gz"), &len);
		assert_int_equal(cli_opa_read(gz, len, &b, why), 0);
		f[0] = (struct cli_opa_file){".manifest", (uint8_t *)m, strlen(m)};
		f[1] = (struct cli_opa_file){"data.json", b.data, b.data_len};
		assert_int_equal(cli_opa_write(f, 2, &out, &olen, why), 0);
		h_write(t, out, olen);
		check(&r, t, ROOT_A, NAR_A, more);
		expect(&r, 2, NULL, "is not the document's closurelog.revision");
		h_run_free(&r);
		free(out);
		cli_opa_clear(&b);
		free(gz);
	}
}

/* The example broker gates a renewal on the same policy. */
static void
test_example_broker(void **state)
{
	struct h_run r;
	char pol[700];

	(void)state;
	snprintf(pol, sizeof pol, "%s", path("data.json"));
	{
		const char *argv[] = {
		    h_bin("closurelog-broker-example"), "renew", pol, ROOT_A, NAR_A, "10", NULL};

		h_run(&r, NULL, argv);
		expect(&r, 0, "issue env_hash=" NAR_A " policy_id=", NULL);
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelog-broker-example"), "renew", pol, ROOT_B,
		    NAR_B, "30", ROOT_A, NULL};

		h_run(&r, NULL, argv);
		expect(&r, 1, "deny: requested 30 minutes, policy allows 15\n", NULL);
		h_run_free(&r);
	}
	{
		const char *argv[] = {h_bin("closurelog-broker-example"), "renew", pol, ROOT_B,
		    NAR_B, "5", ROOT_G, NULL};

		h_run(&r, NULL, argv);
		expect(&r, 1,
		    "deny: " ROOT_B " is not an approved root\ndeny: " ROOT_B
		    " is not a successor of " ROOT_G "\n",
		    NULL);
		h_run_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_document),
	    cmocka_unit_test(test_build_deterministic_and_resumable),
	    cmocka_unit_test(test_build_opa_bundle),
	    cmocka_unit_test(test_check_rules),
	    cmocka_unit_test(test_check_json_and_path),
	    cmocka_unit_test(test_check_bundles),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_example_broker),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
