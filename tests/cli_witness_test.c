/*
 * cli_witness_test.c: witnesses end to end.  A real closurelogd logs an
 * attestation; three real closurelog-witness processes cosign the bundle's
 * checkpoint over HTTP (add-checkpoint); the lines they answer are put
 * into copies of the bundle.  Then `closurelog verify`, `inspect` and
 * `audit` with --witness and --witness-quorum: quorum met, not met, a bad
 * cosignature, a bad log key (told apart from too few witnesses), and the
 * usage errors.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "testutil.h"
#include "wire.h"

#define ROOT  "/nix/store/0c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source"
#define NAR   "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define LOCK  "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define N_WIT 3

struct env {
	char dir[512], data[700], wdata[N_WIT][700];
	struct h_server s;
	struct h_witness w[N_WIT];
	char ci_key[700], ci_pub[700], subs[700], envelope[700], bundle[700];
	char b_all[700], b_one[700], b_bad[700], tp_all[700];
	char *line[N_WIT]; /* each witness's cosignature line */
};

static struct env E;

static void
path(char *out, const char *name)
{
	snprintf(out, 700, "%s/%s", E.dir, name);
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
expect(const char *const *args, int status, const char *out_has, const char *err_has)
{
	struct h_run r;

	run(&r, args);
	if (r.status != status)
		fail_msg(
		    "exit %d, want %d\nstdout: %s\nstderr: %s", r.status, status, r.out, r.err);
	if (out_has != NULL && strstr(r.out, out_has) == NULL)
		fail_msg("stdout lacks \"%s\":\n%s", out_has, r.out);
	if (err_has != NULL && strstr(r.err, err_has) == NULL)
		fail_msg("stderr lacks \"%s\":\n%s", err_has, r.err);
	h_run_free(&r);
}

/* The bundle with the cosignature lines of witnesses mask (bit i: witness
 * i; line `bad`, if < N_WIT, with one bit flipped) appended to its
 * checkpoint, written to out; its tlog-proof to tp_out if not NULL. */
static void
bundle_with(unsigned mask, int bad, const char *out, const char *tp_out)
{
	struct cl_bundle b, nb;
	struct wire_arena a;
	void *abuf = malloc(WIRE_ARENA_MIN);
	uint8_t *in, *tp;
	const uint8_t *enc;
	size_t len, tp_len, enc_len;

	assert_non_null(abuf);
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	in = h_read(E.bundle, &len);
	assert_int_equal(wire_bundle_decode(&a, in, len, &b, NULL), 0);
	assert_non_null(tp = malloc(b.tlog_proof_len + N_WIT * 400));
	memcpy(tp, b.tlog_proof, b.tlog_proof_len);
	tp_len = b.tlog_proof_len;
	for (int i = 0; i < N_WIT; i++) {
		size_t l = strlen(E.line[i]);

		if (!(mask & (1u << i)))
			continue;
		memcpy(tp + tp_len, E.line[i], l);
		/* Swap one character of the signature for another base64
		 * character: 72 bytes fill 96 characters exactly, so the line
		 * stays canonical base64 and only the signature breaks. */
		if (i == bad)
			tp[tp_len + l - 8] = tp[tp_len + l - 8] == 'A' ? 'B' : 'A';
		tp_len += l;
	}
	nb = b;
	nb.tlog_proof = tp;
	nb.tlog_proof_len = tp_len;
	assert_int_equal(wire_bundle_encode(&a, &nb, &enc, &enc_len), 0);
	h_write(out, enc, enc_len);
	if (tp_out != NULL)
		h_write(tp_out, tp, tp_len);
	free(tp);
	free(in);
	free(abuf);
}

static int
setup(void **state)
{
	static const char *extra[3];
	struct h_run r;
	uint8_t *b, *cp;
	size_t len;

	(void)state;
	memset(&E, 0, sizeof E);
	h_tmpdir(E.dir, sizeof E.dir);
	path(E.ci_key, "ci.key");
	path(E.ci_pub, "ci.pub");
	{
		const char *args[] = {"keygen", "ci.example.com/builder", E.dir, NULL};
		char p[700];

		path(p, "ci");
		args[2] = p;
		run(&r, args);
		assert_int_equal(r.status, 0);
		h_run_free(&r);
	}
	path(E.subs, "submitters");
	b = h_read(E.ci_pub, &len);
	h_write(E.subs, b, len);
	free(b);
	extra[0] = "--submitters";
	extra[1] = E.subs;
	path(E.data, "data");
	h_server_start(&E.s, E.data, extra);
	path(E.envelope, "closure.envelope");
	{
		const char *args[] = {"attest", "--key", E.ci_key, "--root", ROOT, "--nar-hash",
		    NAR, "--flake-lock-digest", LOCK, "--system", "x86_64-linux", "-o", E.envelope,
		    NULL};

		run(&r, args);
		assert_int_equal(r.status, 0);
		h_run_free(&r);
	}
	path(E.bundle, "closure.bundle");
	{
		const char *args[] = {"submit", "--log", E.s.url, "--log-key", E.s.pub, "-o",
		    E.bundle, E.envelope, NULL};

		run(&r, args);
		assert_int_equal(r.status, 0);
		h_run_free(&r);
	}

	/* Three witnesses cosign the log's checkpoint (first contact: old 0). */
	{
		char url[128];
		long st;
		uint8_t *ans;
		size_t alen;

		snprintf(url, sizeof url, "%s/checkpoint", E.s.url);
		assert_int_equal(h_http("GET", url, NULL, 0, &st, &cp, &len), 0);
		assert_int_equal(st, 200);
		for (int i = 0; i < N_WIT; i++) {
			char name[64], *body;
			const char *wextra[] = {"--log", E.s.vkey, "--name", name, NULL};

			snprintf(name, sizeof name, "w%d.example.com/witness", i);
			snprintf(E.wdata[i], sizeof E.wdata[i], "%s/witness%d", E.dir, i);
			h_witness_start(&E.w[i], E.wdata[i], wextra);
			assert_non_null(body = malloc(len + 8));
			memcpy(body, "old 0\n\n", 7);
			memcpy(body + 7, cp, len);
			snprintf(url, sizeof url, "%s/add-checkpoint", E.w[i].url);
			assert_int_equal(h_http("POST", url, body, len + 7, &st, &ans, &alen), 0);
			if (st != 200)
				fail_msg("witness %d: %ld %s", i, st, (char *)ans);
			E.line[i] = (char *)ans;
			free(body);
		}
		free(cp);
	}
	path(E.b_all, "all.bundle");
	path(E.tp_all, "all.tlog-proof");
	path(E.b_one, "one.bundle");
	path(E.b_bad, "bad.bundle");
	bundle_with(7, -1, E.b_all, E.tp_all);
	bundle_with(2, -1, E.b_one, NULL);
	bundle_with(7, 2, E.b_bad, NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_server_stop(&E.s, SIGTERM);
	for (int i = 0; i < N_WIT; i++) {
		h_witness_stop(&E.w[i], SIGTERM);
		free(E.line[i]);
	}
	h_rmrf(E.dir);
	return 0;
}

#define W3 "--witness", E.w[0].vkey, "--witness", E.w[1].vkey, "--witness", E.w[2].vkey

static void
test_verify(void **state)
{
	(void)state;
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
		    "--root", ROOT, W3, E.b_all, NULL};
		expect(a, 0, "OK: " ROOT, NULL);
	}
	/* Cosignatures do not disturb a verifier that asks for none. */
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
		    "--root", ROOT, E.b_all, NULL};
		expect(a, 0, "OK: ", NULL);
	}
	/* One of three: too few by default, enough with a quorum of 1. */
	{
		const char *a[] = {
		    "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3, E.b_one, NULL};
		expect(a, 1, NULL,
		    "FAIL: checkpoint is cosigned by 1 of the 3 witnesses given; 3 needed");
	}
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3,
		    "--witness-quorum", "1", E.b_one, NULL};
		expect(a, 0, "OK: ", NULL);
	}
	{
		const char *a[] = {"verify", "--json", "--log-key", E.s.pub, "--submitter-key",
		    E.ci_pub, W3, "--witness-quorum", "2", E.b_one, NULL};
		expect(a, 1, "\"status\": \"EWITNESS\"", NULL);
	}
	/* A bad cosignature by a given witness. */
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3,
		    "--witness-quorum", "2", E.b_bad, NULL};
		expect(a, 1, NULL, "does not verify");
	}
	/* The witnesses cosigned, but the log key is another: ECHECKPOINT. */
	{
		const char *a[] = {"verify", "--json", "--log-key", E.ci_pub, "--origin",
		    "localhost/closurelog", "--submitter-key", E.ci_pub, W3, E.b_all, NULL};
		expect(a, 1, "\"status\": \"ECHECKPOINT\"", NULL);
	}
	/* The tlog-proof with its envelope. */
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3,
		    "--tlog-proof", E.tp_all, "--envelope", E.envelope, NULL};
		expect(a, 0, "OK: ", NULL);
	}
	/* Usage. */
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3,
		    "--witness-quorum", "4", E.b_all, NULL};
		expect(a, 2, NULL, "only 3");
	}
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
		    "--witness-quorum", "1", E.b_all, NULL};
		expect(a, 2, NULL, "needs --witness");
	}
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
		    "--witness", E.s.vkey, E.b_all, NULL};
		expect(a, 2, NULL, "not a witness cosignature key");
	}
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
		    "--witness", E.w[0].vkey, "--witness", E.w[0].vkey, E.b_all, NULL};
		expect(a, 2, NULL, "given twice");
	}
	{
		const char *a[] = {"verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub, W3,
		    "--witness-quorum", "0", E.b_all, NULL};
		expect(a, 2, NULL, "--witness-quorum");
	}
}

static void
test_inspect(void **state)
{
	char want[200];

	(void)state;
	{
		const char *a[] = {"inspect", "--log-key", E.s.pub, W3, E.b_all, NULL};
		struct h_run r;

		run(&r, a);
		assert_int_equal(r.status, 0);
		for (int i = 0; i < N_WIT; i++) {
			snprintf(want, sizeof want, "w%d.example.com/witness key ", i);
			if (strstr(r.out, want) == NULL)
				fail_msg("no line for witness %d:\n%s", i, r.out);
		}
		assert_non_null(strstr(r.out, "valid (witness cosignature) at 20"));
		assert_non_null(strstr(r.out, "quorum met"));
		assert_null(strstr(r.out, "time not checked"));
		h_run_free(&r);
	}
	/* Without the witness keys: the times are shown, unchecked. */
	{
		const char *a[] = {"inspect", E.b_all, NULL};
		expect(a, 0, "(time not checked)", NULL);
	}
	{
		const char *a[] = {"inspect", "--json", "--log-key", E.s.pub, W3, E.b_one, NULL};
		expect(a, 1, "\"witness_quorum_met\": false", NULL);
	}
	{
		const char *a[] = {"inspect", "--log-key", E.s.pub, W3, E.b_bad, NULL};
		expect(a, 1, "INVALID (witness cosignature)", NULL);
	}
	{
		const char *a[] = {"inspect", "--witness", E.s.vkey, E.b_all, NULL};
		expect(a, 2, NULL, "not a witness cosignature key");
	}
}

/* This closurelogd runs without --witness (gather_test covers one with):
 * an audit that requires witnesses refuses its checkpoint, and trusts
 * nothing. */
static void
test_audit(void **state)
{
	char st[700];

	(void)state;
	path(st, "audit-state");
	{
		const char *a[] = {"audit", "--log", E.s.url, "--log-key", E.s.pub, "--state", st,
		    W3, "--witness-quorum", "1", NULL};
		expect(a, 1, NULL, "cosigned by 0 of the 3");
	}
	{
		const char *a[] = {
		    "audit", "--log", E.s.url, "--log-key", E.s.pub, "--state", st, NULL};
		expect(a, 0, "first checkpoint trusted", NULL);
	}
	{
		const char *a[] = {"audit", "--log", E.s.url, "--log-key", E.s.pub, "--state", st,
		    "--witness-quorum", "2", NULL};
		expect(a, 2, NULL, "needs --witness");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_inspect),
	    cmocka_unit_test(test_audit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
