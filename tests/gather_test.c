/*
 * gather_test.c: closurelogd gathering cosignatures from three real
 * closurelog-witness processes (issue 13, items 2 to 4), k = 2.
 *
 * In order, on one log: concurrent load (every answer's checkpoint carries
 * >= 2 valid cosignatures); `closurelog submit` + `verify --witness`; a
 * slow witness (SIGSTOP) is down for the round and the log still
 * publishes; two slow witnesses: 503 naming them, nothing acknowledged,
 * and the log resumes by itself when they come back; one witness killed:
 * still publishes; a restored older copy of the data directory is refused
 * (409 with a larger size), loudly; two copies of one data directory
 * running at once: no size is ever cosigned with two roots.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cl.h"
#include "key.h"
#include "srvutil.h"
#include "testutil.h"
#include "wire.h"

#define N_WIT  3
#define QUORUM 2

struct env {
	char dir[512], data[700], subs[700], ci_key[700], ci_pub[700];
	struct h_server s;
	struct h_witness w[N_WIT];
	struct note_verifier log_key, wkey[N_WIT];
	char warg[N_WIT][1400];
	uint64_t next; /* the next envelope number */
};

static struct env E;

/* Start closurelogd on data with the three witnesses, k = 2. */
static void
log_start(struct h_server *s, const char *data)
{
	const char *args[] = {"--submitters", E.subs, "--witness-quorum", "2", "--witness-timeout",
	    "1000", "--witness", E.warg[0], "--witness", E.warg[1], "--witness", E.warg[2], NULL};

	h_server_start(s, data, args);
}

/* How many of the witnesses validly cosigned note[0..len) (after checking
 * the log's signature). */
static size_t
cosigners(const uint8_t *note, size_t len)
{
	struct note *n = malloc(sizeof *n);
	struct sth c;
	char why[CL_WHY_MAX];
	size_t k;

	assert_non_null(n);
	if (sth_open(note, len, &E.log_key, NULL, &c, why) != 0)
		fail_msg("checkpoint: %s", why);
	if (note_open(note, len, E.wkey, N_WIT, n, why) != 0) {
		free(n);
		return 0;
	}
	k = note_keys_verified(n, N_WIT);
	free(n);
	return k;
}

/* Submit the next envelope (or envelope `which` if not UINT64_MAX). */
static long
submit(const struct h_server *s, uint64_t which, struct su_ack *ack, char *why)
{
	size_t len;
	uint8_t *env = su_envelope(which != UINT64_MAX ? which : E.next++, NULL, &len);
	long st = su_submit(s, &E.log_key, env, len, ack, why);

	free(env);
	return st;
}

static char *
get(const struct h_server *s, const char *path, long *status)
{
	char url[256];
	uint8_t *body = NULL;
	size_t len;

	snprintf(url, sizeof url, "%s%s", s->url, path);
	assert_int_equal(h_http("GET", url, NULL, 0, status, &body, &len), 0);
	return (char *)body;
}

/* Poll /metrics until it holds `want` (up to 30 s). */
static void
metrics_wait(const struct h_server *s, const char *want)
{
	double deadline = h_now() + 30;
	char *m = NULL;
	long st;

	while (h_now() < deadline) {
		free(m);
		m = get(s, "/metrics", &st);
		if (st == 200 && strstr(m, want) != NULL) {
			free(m);
			return;
		}
		usleep(50000);
	}
	fail_msg("/metrics never showed %s:\n%s", want, m);
}

/* The number after `key` in text, or UINT64_MAX if key is not there. */
static uint64_t
metric(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p != NULL ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

/* How many add-checkpoint requests witness i answered with `status`. */
static uint64_t
wit_answers(int i, int status)
{
	char path[64], key[96], *m;
	long st;
	uint64_t n;
	struct h_server ws;

	memset(&ws, 0, sizeof ws);
	snprintf(ws.url, sizeof ws.url, "%s", E.w[i].url);
	snprintf(path, sizeof path, "/metrics");
	m = get(&ws, path, &st);
	assert_int_equal(st, 200);
	snprintf(
	    key, sizeof key, "closurelog_witness_add_checkpoint_total{status=\"%d\"} ", status);
	n = metric(m, key);
	free(m);
	assert_true(n != UINT64_MAX);
	return n;
}

/* Poll the log's /metrics until every witness is up and has cosigned at
 * least `size` (up to 30 s). */
static void
all_cosigned_wait(const struct h_server *s, uint64_t size)
{
	double deadline = h_now() + 30;
	char key[160], *m = NULL;
	long st;

	while (h_now() < deadline) {
		int ok = 0;

		free(m);
		m = get(s, "/metrics", &st);
		for (int i = 0; st == 200 && i < N_WIT; i++) {
			uint64_t got;

			snprintf(key, sizeof key,
			    "closurelog_witness_cosigned_size{witness=\"w%d.gather.test/"
			    "witness\"} ",
			    i);
			got = metric(m, key);
			snprintf(key, sizeof key,
			    "closurelog_witness_state{witness=\"w%d.gather.test/"
			    "witness\",state=\"up\"} "
			    "1",
			    i);
			ok += got != UINT64_MAX && got >= size && strstr(m, key) != NULL;
		}
		if (ok == N_WIT) {
			free(m);
			return;
		}
		usleep(50000);
	}
	fail_msg("the witnesses never all cosigned size %llu:\n%s", (unsigned long long)size, m);
}

static char *
slurp(const char *path)
{
	size_t len;

	return (char *)h_read(path, &len);
}

static int
setup(void **state)
{
	(void)state;
	memset(&E, 0, sizeof E);
	su_init();
	h_tmpdir(E.dir, sizeof E.dir);
	snprintf(E.data, sizeof E.data, "%s/data", E.dir);
	snprintf(E.subs, sizeof E.subs, "%s/submitters", E.dir);
	snprintf(E.ci_key, sizeof E.ci_key, "%s/ci.key", E.dir);
	snprintf(E.ci_pub, sizeof E.ci_pub, "%s/ci.pub", E.dir);
	assert_int_equal(key_signer_save(E.ci_key, &su_ci, NULL), 0);
	assert_int_equal(key_verifier_save(E.ci_pub, &su_ci_pub, NULL), 0);
	/* A first start makes the log key, which the witnesses need. */
	su_start(&E.s, E.dir, NULL);
	su_log_key(&E.s, &E.log_key);
	h_server_stop(&E.s, SIGTERM);
	for (int i = 0; i < N_WIT; i++) {
		char name[64], wdir[700];
		const char *args[] = {"--log", E.s.vkey, "--name", name, NULL};

		snprintf(name, sizeof name, "w%d.gather.test/witness", i);
		snprintf(wdir, sizeof wdir, "%s/witness%d", E.dir, i);
		h_witness_start(&E.w[i], wdir, args);
		assert_int_equal(
		    note_verifier_parse(E.w[i].vkey, strlen(E.w[i].vkey), &E.wkey[i], NULL), 0);
		snprintf(E.warg[i], sizeof E.warg[i], "%s=%s/", E.w[i].vkey, E.w[i].url);
	}
	log_start(&E.s, E.data);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (E.s.pid > 0)
		h_server_stop(&E.s, SIGTERM);
	for (int i = 0; i < N_WIT; i++) {
		if (E.w[i].pid > 0) {
			kill(E.w[i].pid, SIGCONT);
			h_witness_stop(&E.w[i], SIGTERM);
		}
	}
	h_rmrf(E.dir);
	return 0;
}

/* Before any submission the log publishes the empty tree, cosigned; then
 * many clients at once: every answer's checkpoint is cosigned by >= k. */
static void
test_load(void **state)
{
	enum { N = 400 };
	uint8_t *envs[N];
	size_t lens[N];
	struct su_result *res = calloc(N, sizeof *res);
	uint64_t max_size = 0;
	char *ck;
	long st;
	double deadline = h_now() + 30;

	(void)state;
	assert_non_null(res);
	/* GET /checkpoint: 503 until the first cosigned one, then cosigned. */
	for (;;) {
		ck = get(&E.s, "/checkpoint", &st);
		if (st == 200)
			break;
		assert_int_equal(st, 503);
		assert_non_null(strstr(ck, "cosigned"));
		free(ck);
		assert_true(h_now() < deadline);
		usleep(20000);
	}
	assert_true(cosigners((uint8_t *)ck, strlen(ck)) >= QUORUM);
	free(ck);

	for (size_t i = 0; i < N; i++)
		envs[i] = su_envelope(E.next++, NULL, &lens[i]);
	su_blast(&E.s, envs, lens, N, 8, res);
	for (size_t i = 0; i < N; i++) {
		struct su_ack ack;

		if (res[i].status != 201)
			fail_msg("envelope %zu: %ld %s", i, res[i].status, (char *)res[i].body);
		su_check_ack(
		    &E.log_key, envs[i], lens[i], res[i].status, res[i].body, res[i].len, &ack);
		if (cosigners(ack.note, ack.note_len) < QUORUM)
			fail_msg("envelope %zu: checkpoint of size %llu has fewer than %d "
			         "cosignatures:\n%.*s",
			    i, (unsigned long long)ack.ckpt.size, QUORUM, (int)ack.note_len,
			    (char *)ack.note);
		if (ack.ckpt.size > max_size)
			max_size = ack.ckpt.size;
		free(envs[i]);
	}
	su_results_free(res, N);
	free(res);
	assert_true(max_size >= N);
	ck = get(&E.s, "/checkpoint", &st);
	assert_int_equal(st, 200);
	assert_true(cosigners((uint8_t *)ck, strlen(ck)) >= QUORUM);
	free(ck);
	metrics_wait(
	    &E.s, "closurelog_witness_state{witness=\"w0.gather.test/witness\",state=\"up\"} 1");
	metrics_wait(
	    &E.s, "closurelog_witness_latency_seconds{witness=\"w2.gather.test/witness\"}");
}

/* closurelog submit writes a bundle with the cosigned checkpoint, which
 * verify accepts with the witnesses' keys and the quorum. */
static void
test_cli_bundle(void **state)
{
	char env[700], bundle[700];
	struct h_run r;
	size_t len;
	uint8_t *e = su_envelope(E.next++, NULL, &len);

	(void)state;
	snprintf(env, sizeof env, "%s/cli.envelope", E.dir);
	snprintf(bundle, sizeof bundle, "%s/cli.bundle", E.dir);
	h_write(env, e, len);
	free(e);
	assert_int_equal(h_closurelog(&r, "submit", "--log", E.s.url, "--log-key", E.s.pub, "-o",
	                     bundle, env, NULL),
	    0);
	h_run_free(&r);
	if (h_closurelog(&r, "verify", "--log-key", E.s.pub, "--submitter-key", E.ci_pub,
	        "--witness", E.w[0].vkey, "--witness", E.w[1].vkey, "--witness", E.w[2].vkey,
	        "--witness-quorum", "2", bundle, NULL) != 0)
		fail_msg("verify: %s %s", r.out, r.err);
	h_run_free(&r);
	/* All three cosigned it or not: quorum 3 is met only if they did, but
	 * a quorum of 2 must never fail here. */
}

/* closurelog policy build --witness: built from a checkpoint with enough
 * valid cosignatures, refused (exit 1, nothing written) from one without. */
static void
test_policy_witnessed(void **state)
{
	char out[700], sdir[700], sdir2[700], other[NOTE_VKEY_MAX], why[CL_WHY_MAX], k[16];
	char want[128], *ck;
	size_t have;
	long st;
	struct note_signer ks;
	struct note_verifier kv;
	struct h_run r;

	(void)state;
	snprintf(out, sizeof out, "%s/policy.json", E.dir);
	snprintf(sdir, sizeof sdir, "%s/policy-state", E.dir);
	snprintf(sdir2, sizeof sdir2, "%s/policy-state2", E.dir);
	if (h_closurelog(&r, "policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
	        "--submitter-key", E.ci_pub, "--state", sdir, "-o", out, "--witness", E.w[0].vkey,
	        "--witness", E.w[1].vkey, "--witness", E.w[2].vkey, "--witness-quorum", "2",
	        NULL) != 0)
		fail_msg("policy build with its witnesses: %s %s", r.out, r.err);
	h_run_free(&r);
	assert_int_equal(access(out, F_OK), 0);
	unlink(out);

	/* A witness that never cosigned this log. */
	assert_int_equal(note_signer_generate("other.gather.test/witness", &ks, why), 0);
	note_cosigner_verifier(&ks, &kv);
	note_signer_wipe(&ks);
	assert_true(note_verifier_format(&kv, other, sizeof other) > 0);
	/* All of them and that one, with a quorum one more than the
	 * published checkpoint carries (no submission moves it meanwhile). */
	ck = get(&E.s, "/checkpoint", &st);
	assert_int_equal(st, 200);
	have = cosigners((uint8_t *)ck, strlen(ck));
	free(ck);
	snprintf(k, sizeof k, "%zu", have + 1);
	snprintf(want, sizeof want, "cosigned by %zu of the 4 witnesses given; %zu needed", have,
	    have + 1);
	assert_int_equal(h_closurelog(&r, "policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
	                     "--submitter-key", E.ci_pub, "--state", sdir2, "-o", out, "--witness",
	                     E.w[0].vkey, "--witness", E.w[1].vkey, "--witness", E.w[2].vkey,
	                     "--witness", other, "--witness-quorum", k, NULL),
	    1);
	if (strstr(r.err, want) == NULL || strstr(r.err, "nothing written") == NULL)
		fail_msg("policy build, one witness short: %s", r.err);
	h_run_free(&r);
	assert_int_equal(access(out, F_OK), -1);
	/* A quorum without witnesses, or above their number: usage. */
	assert_int_equal(h_closurelog(&r, "policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
	                     "--submitter-key", E.ci_pub, "--state", sdir2, "-o", out,
	                     "--witness-quorum", "1", NULL),
	    2);
	h_run_free(&r);
	assert_int_equal(h_closurelog(&r, "policy", "build", "--log", E.s.url, "--log-key", E.s.pub,
	                     "--submitter-key", E.ci_pub, "--state", sdir2, "-o", out, "--witness",
	                     other, "--witness-quorum", "2", NULL),
	    2);
	h_run_free(&r);
	assert_int_equal(access(out, F_OK), -1);
}

/* Each witness's cosigned size is kept in DATA/witness-sizes (0600) across
 * restarts, so that the first round after a start costs no 409; but it is
 * only a hint: a size larger than the log's, a wrong one and junk lines
 * are answered by a 409 and a resync, and the log publishes all the same. */
static void
test_sizes_hint(void **state)
{
	char sizes[800], why[CL_WHY_MAX], line[4096], *text;
	struct su_ack ack;
	struct stat sb;
	uint64_t n409[N_WIT], size;
	long st;

	(void)state;
	snprintf(sizes, sizeof sizes, "%s/witness-sizes", E.data);
	st = submit(&E.s, UINT64_MAX, &ack, why);
	if (st != 201)
		fail_msg("submit: %ld %s", st, why);
	all_cosigned_wait(&E.s, ack.ckpt.size);
	h_server_stop(&E.s, SIGTERM);
	assert_int_equal(stat(sizes, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	text = slurp(sizes);
	for (int i = 0; i < N_WIT; i++) {
		snprintf(line, sizeof line, "%s ", E.w[i].vkey);
		if (strstr(text, line) == NULL)
			fail_msg("%s does not name witness %d:\n%s", sizes, i, text);
		assert_true(metric(text, line) >= ack.ckpt.size);
		n409[i] = wit_answers(i, 409);
	}
	free(text);

	/* A restart: the first round sends proofs from the kept sizes. */
	log_start(&E.s, E.data);
	st = submit(&E.s, UINT64_MAX, &ack, why);
	if (st != 201)
		fail_msg("after a restart: %ld %s", st, why);
	all_cosigned_wait(&E.s, ack.ckpt.size);
	for (int i = 0; i < N_WIT; i++)
		assert_int_equal(wit_answers(i, 409), n409[i]);

	/* Hints that lie: larger than the log, smaller than the witness, and
	 * junk.  Each lie costs one 409, and nothing else. */
	h_server_stop(&E.s, SIGTERM);
	size = ack.ckpt.size;
	snprintf(line, sizeof line, "%s 1000000000000\n%s 1\nnot a key 7\n%s twelve\n%s",
	    E.w[0].vkey, E.w[1].vkey, E.w[2].vkey, E.w[2].vkey);
	h_write(sizes, line, strlen(line)); /* w2's last line has no newline */
	for (int i = 0; i < N_WIT; i++)
		n409[i] = wit_answers(i, 409);
	log_start(&E.s, E.data);
	st = submit(&E.s, UINT64_MAX, &ack, why);
	if (st != 201)
		fail_msg("after lying hints: %ld %s", st, why);
	assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
	assert_true(ack.ckpt.size > size);
	all_cosigned_wait(&E.s, ack.ckpt.size);
	assert_int_equal(wit_answers(0, 409), n409[0] + 1);
	assert_int_equal(wit_answers(1, 409), n409[1] + 1);
	assert_int_equal(wit_answers(2, 409), n409[2] + 1);
	/* And the file tells the truth again once the log stops. */
	h_server_stop(&E.s, SIGTERM);
	text = slurp(sizes);
	snprintf(line, sizeof line, "%s ", E.w[0].vkey);
	assert_true(metric(text, line) >= ack.ckpt.size && metric(text, line) < 1000000000000ULL);
	free(text);
	log_start(&E.s, E.data);
}

/* A slow witness is down for the round; two slow: 503 naming them, and
 * the log resumes by itself when they answer again; one dead: publishes. */
static void
test_failures(void **state)
{
	struct su_ack ack;
	char why[CL_WHY_MAX], *ck, *m;
	uint64_t pending, size_before;
	long st;
	double deadline;

	(void)state;
	/* w2 stopped: the quorum of w0 and w1 still publishes. */
	assert_int_equal(kill(E.w[2].pid, SIGSTOP), 0);
	for (int i = 0; i < 3; i++) {
		st = submit(&E.s, UINT64_MAX, &ack, why);
		if (st != 201)
			fail_msg("one slow witness: %ld %s", st, why);
		assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
	}
	metrics_wait(
	    &E.s, "closurelog_witness_state{witness=\"w2.gather.test/witness\",state=\"down\"} 1");

	/* w1 stopped too: nothing is acknowledged, and the reason names both. */
	ck = get(&E.s, "/checkpoint", &st);
	assert_int_equal(st, 200);
	size_before = strtoull(strchr(ck, '\n') + 1, NULL, 10);
	free(ck);
	assert_int_equal(kill(E.w[1].pid, SIGSTOP), 0);
	pending = E.next;
	st = submit(&E.s, UINT64_MAX, &ack, why);
	if (st != 503)
		fail_msg("two slow witnesses: %ld %s", st, why);
	assert_non_null(strstr(why, "w1.gather.test/witness"));
	assert_non_null(strstr(why, "w2.gather.test/witness"));
	assert_non_null(strstr(why, "2 of 3 needed"));
	for (int i = 0; i < 2; i++) {
		st = submit(&E.s, UINT64_MAX, &ack, why);
		if (st != 503)
			fail_msg("two slow witnesses: %ld %s", st, why);
	}
	/* The published checkpoint did not move, and is still cosigned. */
	ck = get(&E.s, "/checkpoint", &st);
	assert_int_equal(st, 200);
	assert_int_equal(strtoull(strchr(ck, '\n') + 1, NULL, 10), size_before);
	assert_true(cosigners((uint8_t *)ck, strlen(ck)) >= QUORUM);
	free(ck);
	m = get(&E.s, "/metrics", &st);
	assert_non_null(strstr(m, "closurelog_rejects_total{reason=\"no_witness_quorum\"} "));
	assert_null(strstr(m, "closurelog_rejects_total{reason=\"no_witness_quorum\"} 0\n"));
	free(m);

	/* They come back: the log resumes without being told, and the entry
	 * refused earlier is in, cosigned (200, already logged). */
	assert_int_equal(kill(E.w[1].pid, SIGCONT), 0);
	assert_int_equal(kill(E.w[2].pid, SIGCONT), 0);
	deadline = h_now() + 60;
	do {
		st = submit(&E.s, pending, &ack, why);
		if (st == 200 || st == 201)
			break;
		assert_int_equal(st, 503);
		usleep(100000);
	} while (h_now() < deadline);
	if (st != 200)
		fail_msg("after the witnesses came back: %ld %s", st, why);
	assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
	assert_true(ack.ckpt.size > size_before);

	/* One of three gone for good: still published. */
	h_witness_stop(&E.w[2], SIGKILL);
	for (int i = 0; i < 3; i++) {
		st = submit(&E.s, UINT64_MAX, &ack, why);
		if (st != 201)
			fail_msg("one dead witness: %ld %s", st, why);
		assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
	}
	metrics_wait(
	    &E.s, "closurelog_witness_state{witness=\"w2.gather.test/witness\",state=\"down\"} 1");
}

/* Restart witness i on its own port, on the data directory E.w[i].dir
 * with suffix appended (its own state, or a saved copy of it). */
static void
wit_restart(int i, const char *suffix)
{
	char name[64], wdir[700], listen[32];
	const char *args[] = {"--log", E.s.vkey, "--name", name, "--listen", listen, NULL};
	unsigned port = E.w[i].port;

	h_witness_stop(&E.w[i], SIGTERM);
	snprintf(name, sizeof name, "w%d.gather.test/witness", i);
	snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
	snprintf(wdir, sizeof wdir, "%s/witness%d%s", E.dir, i, suffix);
	h_witness_start(&E.w[i], wdir, args);
	assert_int_equal(E.w[i].port, port);
}

/* An older copy of the data directory: the witnesses hold larger sizes
 * (409), and the log refuses to publish, in its log and in its 503s.  A
 * refused witness is asked again (with a backoff): when witnesses come
 * back that can cosign, the log publishes again by itself. */
static void
test_rollback(void **state)
{
	char old[800], cmd[2000], why[CL_WHY_MAX], errf[820], *err, *ck;
	struct h_server o;
	struct su_ack ack;
	uint64_t old_size;
	long st;

	(void)state;
	h_server_stop(&E.s, SIGTERM);
	snprintf(old, sizeof old, "%s/data-old", E.dir);
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", E.data, old);
	assert_int_equal(system(cmd), 0);
	/* And w0's and w1's state as it is now (nothing writes it while the
	 * log is stopped), to bring them back later. */
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof cmd, "cp -a '%s' '%s-old'", E.w[i].dir, E.w[i].dir);
		assert_int_equal(system(cmd), 0);
	}
	log_start(&E.s, E.data);
	for (int i = 0; i < 5; i++) {
		st = submit(&E.s, UINT64_MAX, &ack, why);
		if (st != 201)
			fail_msg("before the rollback: %ld %s", st, why);
	}
	h_server_stop(&E.s, SIGTERM);

	log_start(&o, old);
	/* It serves what it had on record (an old, truly cosigned checkpoint)
	 * but publishes nothing new. */
	ck = get(&o, "/checkpoint", &st);
	assert_int_equal(st, 200);
	old_size = strtoull(strchr(ck, '\n') + 1, NULL, 10);
	assert_true(old_size < ack.ckpt.size);
	free(ck);
	st = submit(&o, UINT64_MAX, &ack, why);
	if (st != 503)
		fail_msg("a rolled back log: %ld %s", st, why);
	assert_non_null(strstr(why, "rollback"));
	assert_non_null(strstr(why, "w0.gather.test/witness"));
	ck = get(&o, "/checkpoint", &st);
	assert_int_equal(strtoull(strchr(ck, '\n') + 1, NULL, 10), old_size);
	free(ck);
	metrics_wait(
	    &o, "closurelog_witness_state{witness=\"w0.gather.test/witness\",state=\"refused\"} 1");

	/* w0 and w1 come back with the state they had when this copy was
	 * made (on the same ports): the refusing log asks them again after
	 * its backoff, resyncs, and publishes, without a restart. */
	wit_restart(0, "-old");
	wit_restart(1, "-old");
	{
		double deadline = h_now() + 90;

		do {
			st = submit(&o, UINT64_MAX, &ack, why);
			if (st == 201)
				break;
			assert_int_equal(st, 503);
			usleep(200000);
		} while (h_now() < deadline);
		if (st != 201)
			fail_msg("witnesses back, still: %ld %s", st, why);
	}
	assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
	metrics_wait(
	    &o, "closurelog_witness_state{witness=\"w0.gather.test/witness\",state=\"up\"} 1");
	metrics_wait(
	    &o, "closurelog_witness_state{witness=\"w1.gather.test/witness\",state=\"up\"} 1");
	h_server_stop(&o, SIGTERM);
	wit_restart(0, "");
	wit_restart(1, "");
	snprintf(errf, sizeof errf, "%s.stderr", old);
	err = slurp(errf);
	if (strstr(err, "REFUSING TO PUBLISH: rollback") == NULL)
		fail_msg("no loud refusal in the log:\n%s", err);
	free(err);

	/* The real one carries on. */
	log_start(&E.s, E.data);
	st = submit(&E.s, UINT64_MAX, &ack, why);
	if (st != 201)
		fail_msg("after the rollback attempt: %ld %s", st, why);
}

/* Two copies of one data directory at once: whatever they manage, no size
 * is ever cosigned with two different roots, and the loser says why. */
static void
test_clone(void **state)
{
	enum { N = 12 };
	char clone[800], cmd[2000], why[CL_WHY_MAX], errf[820], *e1, *e2;
	struct h_server b;
	struct su_ack ack;
	struct {
		uint64_t size;
		uint8_t root[32];
	} seen[2 * N];
	size_t n_seen = 0, refused = 0;
	long st;

	(void)state;
	h_server_stop(&E.s, SIGTERM);
	snprintf(clone, sizeof clone, "%s/data-clone", E.dir);
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", E.data, clone);
	assert_int_equal(system(cmd), 0);
	log_start(&E.s, E.data);
	log_start(&b, clone);
	for (int i = 0; i < 2 * N; i++) {
		const struct h_server *s = i % 2 == 0 ? &E.s : &b;

		st = submit(s, UINT64_MAX, &ack, why);
		if (st == 503) {
			refused++;
			continue;
		}
		if (st != 201)
			fail_msg("clone %d: %ld %s", i % 2, st, why);
		assert_true(cosigners(ack.note, ack.note_len) >= QUORUM);
		for (size_t k = 0; k < n_seen; k++) {
			if (seen[k].size == ack.ckpt.size &&
			    memcmp(seen[k].root, ack.ckpt.root, 32) != 0)
				fail_msg("size %llu cosigned with two roots",
				    (unsigned long long)ack.ckpt.size);
		}
		seen[n_seen].size = ack.ckpt.size;
		memcpy(seen[n_seen].root, ack.ckpt.root, 32);
		n_seen++;
	}
	/* They cannot both go on: one (at least) was refused. */
	assert_true(refused >= 1);
	h_server_stop(&b, SIGTERM);
	h_server_stop(&E.s, SIGTERM);
	E.s.pid = 0;
	snprintf(errf, sizeof errf, "%s.stderr", E.data);
	e1 = slurp(errf);
	snprintf(errf, sizeof errf, "%s.stderr", clone);
	e2 = slurp(errf);
	if (strstr(e1, "REFUSING TO PUBLISH") == NULL && strstr(e2, "REFUSING TO PUBLISH") == NULL)
		fail_msg("no loud refusal:\n%s\n%s", e1, e2);
	free(e1);
	free(e2);
}

/* A batch posted to a log that has never had a checkpoint cosigned (a new
 * log the witnesses do not know) is refused whole with one 503 line, and
 * the server keeps serving. */
static void
test_batch_uncosigned(void **state)
{
	char data[800], url[256];
	struct h_server s;
	struct cl_span sp;
	struct wire_arena a;
	static uint8_t ebuf[8192];
	const uint8_t *enc;
	uint8_t *env, *body = NULL;
	size_t elen, blen;
	long st;
	char *hz;

	(void)state;
	snprintf(data, sizeof data, "%s/data-unknown", E.dir);
	log_start(&s, data);
	env = su_envelope(E.next++, NULL, &sp.len);
	sp.data = env;
	wire_arena_init(&a, ebuf, sizeof ebuf);
	assert_int_equal(wire_batch_encode(&a, &sp, 1, &enc, &elen), 0);
	snprintf(url, sizeof url, "%s/v1/entries/batch", s.url);
	assert_int_equal(h_http("POST", url, enc, elen, &st, &body, &blen), 0);
	assert_int_equal(st, 503);
	assert_non_null(body);
	assert_non_null(strstr((char *)body, "not published"));
	assert_null(memchr(body, '\n', blen - 1));
	free(body);
	hz = get(&s, "/healthz", &st);
	assert_int_equal(st, 200);
	free(hz);
	free(env);
	h_server_stop(&s, SIGTERM);
}

/* An https:// witness is refused at start, with a reason (exit 2); the
 * same witness over http:// is accepted (the log starts and serves). */
static void
test_https_refused(void **state)
{
	char data[800], warg[1400], err[2048] = "";
	const char *args[] = {"--submitters", E.subs, "--witness", warg, NULL};
	struct h_server s;
	int status = 0;

	(void)state;
	snprintf(data, sizeof data, "%s/data-https", E.dir);
	snprintf(warg, sizeof warg, "%s=https://127.0.0.1:%u/", E.w[0].vkey, E.w[0].port);
	assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), -1);
	assert_int_equal(status, 2);
	if (strstr(err, "https:// witnesses are not supported") == NULL)
		fail_msg("no clear reason: %s", err);
	snprintf(warg, sizeof warg, "%s=http://127.0.0.1:%u/", E.w[0].vkey, E.w[0].port);
	assert_int_equal(h_server_try_start(&s, data, args, &status, err, sizeof err), 0);
	h_server_stop(&s, SIGTERM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_cli_bundle),
	    cmocka_unit_test(test_policy_witnessed),
	    cmocka_unit_test(test_sizes_hint),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_rollback),
	    cmocka_unit_test(test_clone),
	    cmocka_unit_test(test_batch_uncosigned),
	    cmocka_unit_test(test_https_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
