/*
 * audit_test.c: closurelog audit and verify-evidence against real
 * closurelogd processes: trust on first use, growth, the state lock, a
 * forked log (two servers sharing one key) caught from tiles and its
 * evidence re-checked offline and refused once altered, a rollback, a
 * tampered state directory refused, and --full rebuilding a log of more
 * than one tile, resuming where it stopped, and naming an entry altered on
 * disk.
 *
 * Small batches of envelopes come from `closurelog attest`; the bulk for
 * --full is signed in process with the same library calls attest makes,
 * which keeps the test fast under sanitizers.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "harness.h"
#include "testutil.h"

#include "cl.h"
#include "dsse.h"
#include "ebundle.h"
#include "key.h"
#include "sth.h"
#include "wire.h"

#define STORE_PATH "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source"
#define NAR_SRI    "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU="
#define ARGS_MAX   1024

static char dir[512], sub_key[700], submitters[700];
static unsigned build_time = 1000000; /* each envelope gets its own */

static const char *
path(const char *name)
{
	return h_path(dir, name);
}

/* Run closurelog with args (NULL-terminated); returns the exit status. */
static int
run(struct h_run *r, const char *const *args)
{
	const char *argv[ARGS_MAX];
	size_t n = 0;

	argv[n++] = h_bin("closurelog");
	for (; *args != NULL && n < ARGS_MAX - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	h_run(r, NULL, argv);
	return r->status;
}

/* Servers and the mixed log a test started, for teardown to stop when an
 * assertion ends the test early. */
static struct h_server *live[4];
static pid_t mixer;

static void mixed_stop(pid_t pid);

static void
start(struct h_server *s, const char *data)
{
	const char *extra[] = {"--submitters", submitters, NULL};
	size_t i;

	h_server_start(s, data, extra);
	for (i = 0; i < 4 && live[i] != NULL && live[i] != s; i++)
		;
	if (i < 4)
		live[i] = s;
}

/* An envelope through `closurelog attest`. */
static void
attest(const char *out)
{
	struct h_run r;
	char t[32];

	snprintf(t, sizeof t, "%u", build_time++);
	if (h_closurelog(&r, "attest", "--key", sub_key, "--root", STORE_PATH, "--nar-hash",
	        NAR_SRI, "--flake-lock-digest", NAR_SRI, "--build-time", t, "-o", out, NULL) != 0)
		fail_msg("attest: %s", r.err);
	h_run_free(&r);
}

/* The same, signed in process. */
static void
attest_fast(const char *out)
{
	static uint8_t abuf[WIRE_ARENA_MIN];
	struct note_signer s;
	struct wire_arena a;
	struct cl_attestation att;
	uint8_t lock[32];
	const uint8_t *payload, *env;
	size_t plen, elen;
	char why[CL_WHY_MAX];

	if (key_signer_load(sub_key, &s, why) != 0)
		fail_msg("%s", why);
	crypto_hash_sha256(lock, (const uint8_t *)"flake.lock", 10);
	memset(&att, 0, sizeof att);
	att.root = STORE_PATH;
	att.nar_hash = NAR_SRI;
	att.flake_lock.algorithm = "sha256";
	att.flake_lock.value = lock;
	att.flake_lock.len = sizeof lock;
	att.system = att.builder_id = att.run_url = "";
	att.build_time = build_time++;
	wire_arena_init(&a, abuf, sizeof abuf);
	if (wire_attestation_encode(&a, &att, &payload, &plen, why) != 0 ||
	    dsse_sign(&a, &s, payload, plen, &env, &elen, why) != 0)
		fail_msg("signing: %s", why);
	note_signer_wipe(&s);
	h_write(out, env, elen);
}

/* Make n distinct envelopes and submit them to s. */
static void
add_entries(const struct h_server *s, size_t n, bool fast)
{
	const char **args = calloc(n + 8, sizeof *args);
	char(*names)[700] = calloc(n, sizeof *names);
	struct h_run r;
	size_t k = 0;

	assert_non_null(args);
	assert_non_null(names);
	args[k++] = "submit";
	args[k++] = "--log";
	args[k++] = s->url;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "%s/env-%u.env", dir, build_time);
		if (fast)
			attest_fast(names[i]);
		else
			attest(names[i]);
		args[k++] = names[i];
	}
	args[k] = NULL;
	if (run(&r, args) != 0)
		fail_msg("submit: %s", r.err);
	h_run_free(&r);
	free(names);
	free(args);
}

/* closurelog audit against s with state dir st and up to two extra flags. */
static int
audit(struct h_run *r, const struct h_server *s, const char *st, const char *x1, const char *x2)
{
	return h_closurelog(
	    r, "audit", "--log", s->url, "--log-key", s->pub, "--state", st, x1, x2, NULL);
}

/* Check a run's exit status and output; AUDIT_TEST_VERBOSE=1 shows them. */
static void
expect(struct h_run *r, int status, const char *out, const char *err)
{
	if (getenv("AUDIT_TEST_VERBOSE") != NULL)
		fprintf(stderr, "exit %d\n%s%s", r->status, r->out, r->err);
	if (r->status != status || (out != NULL && strstr(r->out, out) == NULL) ||
	    (err != NULL && strstr(r->err, err) == NULL))
		fail_msg("exit %d (want %d)\nstdout: %s\nstderr: %s\n(want \"%s\" / \"%s\")",
		    r->status, status, r->out, r->err, out != NULL ? out : "",
		    err != NULL ? err : "");
	h_run_free(r);
}

/* The size line of DIR/checkpoint. */
static unsigned long long
state_size(const char *st)
{
	char p[800];
	size_t len;
	uint8_t *b;
	char *nl;
	unsigned long long n;

	snprintf(p, sizeof p, "%s/checkpoint", st);
	b = h_read(p, &len);
	nl = strchr((char *)b, '\n');
	assert_non_null(nl);
	n = strtoull(nl + 1, NULL, 10);
	free(b);
	return n;
}

/* The first evidence file in st, into out; false if there is none. */
static bool
evidence_find(const char *st, char *out, size_t cap)
{
	DIR *d = opendir(st);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "evidence-", 9) == 0) {
			snprintf(out, cap, "%s/%s", st, e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* How many evidence files st holds; fails on a leftover temporary one. */
static size_t
evidence_count(const char *st)
{
	DIR *d = opendir(st);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "evidence-", 9) != 0)
			continue;
		assert_null(strstr(e->d_name, ".tmp."));
		n++;
	}
	closedir(d);
	return n;
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	uint8_t *b = h_read(from, &len);

	h_write(to, b, len);
	assert_int_equal(chmod(to, mode), 0);
	free(b);
}

static unsigned long long
requests_served(const struct h_server *s)
{
	char url[128];
	uint8_t *body;
	size_t len;
	long status;
	const char *m;
	unsigned long long n;

	snprintf(url, sizeof url, "%s/metrics", s->url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 200);
	m = strstr((char *)body, "\nclosurelog_http_requests_total ");
	assert_non_null(m);
	n = strtoull(m + strlen("\nclosurelog_http_requests_total "), NULL, 10);
	free(body);
	return n;
}

static int
setup(void **state)
{
	struct h_run r;
	char prefix[700];

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(prefix, sizeof prefix, "%s/sub", dir);
	snprintf(sub_key, sizeof sub_key, "%s/sub.key", dir);
	snprintf(submitters, sizeof submitters, "%s/submitters", dir);
	if (h_closurelog(&r, "keygen", "ci.example.com/builder", prefix, NULL) != 0)
		fail_msg("keygen: %s", r.err);
	h_run_free(&r);
	copy_file(path("sub.pub"), submitters, 0644);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		if (live[i] != NULL && live[i]->pid > 0)
			h_server_stop(live[i], SIGKILL);
		live[i] = NULL;
	}
	if (mixer > 0)
		mixed_stop(mixer);
	h_rmrf(dir);
	return 0;
}

static void
test_help(void **state)
{
	struct h_run r;

	(void)state;
	h_closurelog(&r, "audit", "--help", NULL);
	expect(&r, 0, "--state DIR", NULL);
	h_closurelog(&r, "verify-evidence", "--help", NULL);
	expect(&r, 0, "--log-key PUB", NULL);
	h_closurelog(&r, "audit", "--log", "http://127.0.0.1:1", NULL);
	expect(&r, 2, NULL, "--state");
	h_closurelog(&r, "verify-evidence", "--log-key", path("sub.pub"), NULL);
	expect(&r, 2, NULL, "EVIDENCE");
}

static void
test_tofu_growth_lock(void **state)
{
	char st[700];
	static struct h_server s; /* static: teardown stops it if a test fails */
	struct h_run r;
	struct stat sb;
	json_t *j;
	char lock[800];
	int fd;

	(void)state;
	snprintf(st, sizeof st, "%s", path("state"));
	start(&s, path("data"));
	add_entries(&s, 3, false);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 3 (trust on first use)", NULL);
	assert_int_equal(stat(st, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(state_size(st), 3);

	add_entries(&s, 4, false);
	audit(&r, &s, st, NULL, NULL);
	expect(
	    &r, 0, "OK: localhost/closurelog grew from 3 to 7 entries; consistency proven", NULL);
	assert_int_equal(state_size(st), 7);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 0, "unchanged at size 7", NULL);

	audit(&r, &s, st, "--json", NULL);
	assert_int_equal(r.status, 0);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "unchanged");
	assert_int_equal(json_integer_value(json_object_get(j, "new_size")), 7);
	assert_true(json_is_null(json_object_get(j, "evidence")));
	json_decref(j);
	h_run_free(&r);

	/* One audit at a time. */
	snprintf(lock, sizeof lock, "%s/lock", st);
	fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 2, NULL, "another audit is running");
	close(fd);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 0, "unchanged at size 7", NULL);

	/* A state path that is not a directory. */
	h_write(path("not-a-dir"), "x", 1);
	audit(&r, &s, path("not-a-dir"), NULL, NULL);
	expect(&r, 2, NULL, "not a directory");
	h_server_stop(&s, SIGTERM);
}

/* Flip bytes of the evidence between the first occurrences of `from` and
 * `to` (every `stride`-th one) and check that none of the results is
 * accepted. */
static void
tamper_region(const char *ev, const char *pub, const char *from, const char *to, size_t stride)
{
	const char *alt = path("altered.txt");
	size_t len;
	uint8_t *b = h_read(ev, &len);
	const char *p = strstr((char *)b, from), *q;
	size_t start, end, tried = 0;

	assert_non_null(p);
	q = strstr(p + strlen(from), to);
	assert_non_null(q);
	start = (size_t)(p - (char *)b) + strlen(from);
	end = (size_t)(q - (char *)b);
	for (size_t i = start; i < end; i += stride) {
		struct h_run r;

		b[i] ^= 0x01;
		h_write(alt, b, len);
		b[i] ^= 0x01;
		if (h_closurelog(&r, "verify-evidence", "--log-key", pub, alt, NULL) == 0)
			fail_msg(
			    "evidence with byte %zu altered still proves a fork: %s", i, r.out);
		assert_true(r.status == 1 || r.status == 2);
		h_run_free(&r);
		tried++;
	}
	assert_true(tried > 0);
	free(b);
}

/* Two logs with one key and one origin: a fork waiting to happen. */
static void
twins_start(struct h_server *a, struct h_server *b)
{
	start(a, path("data-a"));
	h_server_stop(a, SIGTERM);
	assert_int_equal(mkdir(path("data-b"), 0700), 0);
	copy_file(path("data-a/log.key"), path("data-b/log.key"), 0600);
	copy_file(path("data-a/log.pub"), path("data-b/log.pub"), 0644);
	start(a, path("data-a"));
	start(b, path("data-b"));
	assert_string_equal(a->vkey, b->vkey);
}

static void
test_fork(void **state)
{
	char sa[700], sb[700];
	static struct h_server a, b; /* static: teardown stops them if a test fails */
	struct h_run r;
	char ev[900], ev2[900];
	size_t len;
	uint8_t *buf;
	char *st;

	(void)state;
	snprintf(sa, sizeof sa, "%s", path("state-a"));
	snprintf(sb, sizeof sb, "%s", path("state-b"));
	twins_start(&a, &b);
	add_entries(&a, 3, false);
	add_entries(&b, 5, false);

	audit(&r, &a, sa, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 3", NULL);
	audit(&r, &b, sa, "--json", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "fork: the log's tiles at size 5"));
	assert_non_null(strstr(r.out, "\"status\": \"fork\""));
	h_run_free(&r);
	assert_true(evidence_find(sa, ev, sizeof ev));
	assert_int_equal(state_size(sa), 3); /* the trusted checkpoint stays */
	/* Auditing the fork again writes new evidence beside the first (in
	 * the same second: under another name), which stays as it was. */
	{
		size_t l1, l2;
		uint8_t *before = h_read(ev, &l1), *after;

		audit(&r, &b, sa, NULL, NULL);
		expect(&r, 1, NULL, "fork");
		after = h_read(ev, &l2);
		assert_int_equal(l1, l2);
		assert_memory_equal(before, after, l1);
		free(before);
		free(after);
		assert_int_equal(evidence_count(sa), 2);
	}

	buf = h_read(ev, &len);
	assert_non_null(strstr((char *)buf, "\"format\": \"closurelog fork evidence v1\""));
	assert_non_null(strstr((char *)buf, "\"status\": \"proven\""));
	free(buf);
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, ev, NULL);
	expect(&r, 0, "fork proven: localhost/closurelog signed size 3", NULL);
	/* Another key proves nothing. */
	h_closurelog(&r, "verify-evidence", "--log-key", path("sub.pub"), ev, NULL);
	expect(&r, 1, NULL, "no fork proven");
	/* Nor does any altered checkpoint, implied root or proof hash. */
	tamper_region(ev, a.pub, "\"old_checkpoint\": \"", "\",\n  \"old_size\"", 3);
	tamper_region(ev, a.pub, "\"new_checkpoint\": \"", "\",\n  \"new_size\"", 3);
	tamper_region(ev, a.pub, "\"implied_old_root\": \"", "\",\n  \"log_key\"", 2);
	tamper_region(ev, a.pub, "\"proof\": [", "]", 2);
	/* Marked unproven: not a proof, even with the same numbers. */
	buf = h_read(ev, &len);
	st = strstr((char *)buf, "\"status\": \"proven\"");
	assert_non_null(st);
	{
		char *alt = malloc(len + 2);

		memcpy(alt, buf, (size_t)(st - (char *)buf));
		memcpy(alt + (st - (char *)buf), "\"status\": \"unproven\"", 20);
		memcpy(
		    alt + (st - (char *)buf) + 20, st + 18, len - (size_t)(st - (char *)buf) - 18);
		h_write(path("unproven.txt"), alt, len + 2);
		free(alt);
	}
	free(buf);
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, path("unproven.txt"), NULL);
	expect(&r, 1, NULL, "marked unproven");
	h_write(path("garbage.txt"), "closurelog fork evidence v1\nstatus maybe\n", 41);
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, path("garbage.txt"), NULL);
	expect(&r, 2, NULL, "malformed evidence");
	h_write(path("garbage.json"), "{\"format\": \"closurelog fork evidence v1\"}\n", 43);
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, path("garbage.json"), NULL);
	expect(&r, 2, NULL, "malformed evidence");

	/* Trusting the larger B first, A looks rolled back: it cannot show
	 * that its tree extends to size 5, so the audit fails. */
	audit(&r, &b, sb, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 5", NULL);
	audit(&r, &a, sb, NULL, NULL);
	expect(&r, 1, NULL, "log shows an older checkpoint");
	assert_int_equal(state_size(sb), 5);
	/* Then A at the same size with another root. */
	add_entries(&a, 2, false);
	audit(&r, &a, sb, NULL, NULL);
	expect(&r, 1, NULL, "two different roots for size 5");
	assert_true(evidence_find(sb, ev2, sizeof ev2));
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, ev2, NULL);
	expect(
	    &r, 0, "fork proven: localhost/closurelog signed two different roots for size 5", NULL);
	tamper_region(ev2, a.pub, "\"new_checkpoint\": \"", "\",\n  \"new_size\"", 5);

	h_server_stop(&a, SIGTERM);
	h_server_stop(&b, SIGTERM);
}

/* A log made of parts of others: GET /checkpoint from `ckpt` (a base URL,
 * or with ckpt_file the bytes of that file: a stale cache), consistency
 * proofs from `proof`, tiles from `tiles`.  A child process answering one
 * request per connection; stop it with mixed_stop. */
static pid_t
mixed_start(const char *ckpt, const char *ckpt_file, const char *proof, const char *tiles,
    char *url, size_t cap)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	pid_t pid;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, cap, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(fd);
		mixer = pid;
		return pid;
	}
	/* Never outlive the test, nor hold its output open. */
	alarm(120);
	{
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	for (;;) {
		char req[4096], target[2048], up[4096];
		int c = accept(fd, NULL, NULL);
		size_t n = 0, len = 0;
		ssize_t got;
		uint8_t *body = NULL;
		long status = 0;
		const char *base;

		if (c < 0)
			continue;
		while (n < sizeof req - 1 && (got = read(c, req + n, sizeof req - 1 - n)) > 0) {
			n += (size_t)got;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		req[n] = '\0';
		if (sscanf(req, "GET %2047s", target) == 1) {
			base = strncmp(target, "/tile/", 6) == 0     ? tiles
			    : strncmp(target, "/v1/proof/", 10) == 0 ? proof
			                                             : ckpt;
			snprintf(up, sizeof up, "%s%s", base, target);
			if (base == ckpt && ckpt_file != NULL) {
				body = h_read(ckpt_file, &len);
				status = 200;
			} else {
				h_http("GET", up, NULL, 0, &status, &body, &len);
			}
			if (status == 0)
				status = 502;
			dprintf(c,
			    "HTTP/1.1 %ld X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			    status, len);
			if (len > 0 && write(c, body, len) < 0)
				_exit(1);
			free(body);
		}
		close(c);
	}
}

static void
mixed_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	mixer = 0;
}

/* Audit a log that serves parts of two: the auditor must not take the
 * log's proof as the last word, and must not claim a fork it cannot prove. */
static void
test_inconsistent_log(void **state)
{
	char st[700], st2[700], stale[700], url[64], ev[900];
	static struct h_server a, b; /* static: teardown stops them if a test fails */
	struct h_run r;
	pid_t mix;

	(void)state;
	snprintf(st, sizeof st, "%s", path("state"));
	snprintf(st2, sizeof st2, "%s", path("state-2"));
	snprintf(stale, sizeof stale, "%s", path("stale-checkpoint"));
	twins_start(&a, &b);
	add_entries(&a, 3, false);
	add_entries(&b, 3, false);
	audit(&r, &a, st, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 3", NULL);
	copy_file(path("state/checkpoint"), stale, 0644);
	add_entries(&a, 2, false);
	add_entries(&b, 2, false);

	/* B's checkpoint and proof with A's tiles: nothing adds up. */
	mix = mixed_start(b.url, NULL, b.url, a.url, url, sizeof url);
	h_closurelog(&r, "audit", "--log", url, "--log-key", a.pub, "--state", st, NULL);
	mixed_stop(mix);
	expect(&r, 1, NULL, "unproven: the log served inconsistent data");
	assert_true(evidence_find(st, ev, sizeof ev));
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, ev, NULL);
	expect(&r, 1, NULL, "marked unproven");
	unlink(ev);
	assert_int_equal(state_size(st), 3);

	/* A's checkpoint and tiles but B's proof: the tiles show the log is
	 * consistent, yet it served a bad proof. */
	mix = mixed_start(a.url, NULL, b.url, a.url, url, sizeof url);
	h_closurelog(&r, "audit", "--log", url, "--log-key", a.pub, "--state", st, NULL);
	mixed_stop(mix);
	expect(&r, 1, NULL, "invalid consistency proof from 3 to 5, but its tiles are consistent");
	assert_true(evidence_find(st, ev, sizeof ev));
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, ev, NULL);
	expect(&r, 1, NULL, "marked unproven");
	assert_int_equal(state_size(st), 3);

	/* No proof endpoint at all: the tiles prove consistency. */
	mix = mixed_start(a.url, NULL, "http://127.0.0.1:1", a.url, url, sizeof url);
	h_closurelog(&r, "audit", "--log", url, "--log-key", a.pub, "--state", st, NULL);
	mixed_stop(mix);
	expect(&r, 0, "grew from 3 to 5 entries", "consistency proven from its tiles instead");
	assert_int_equal(state_size(st), 5);

	/* A stale cache in front of A: an older checkpoint, consistent with
	 * the trusted one, which is kept. */
	mix = mixed_start(a.url, stale, a.url, a.url, url, sizeof url);
	h_closurelog(&r, "audit", "--log", url, "--log-key", a.pub, "--state", st, "--json", NULL);
	mixed_stop(mix);
	assert_non_null(strstr(r.out, "\"status\": \"older\""));
	expect(&r, 1, NULL, "log shows an older checkpoint");
	assert_int_equal(state_size(st), 5);

	/* A rollback onto the other branch: A's checkpoint of size 5 against
	 * a trusted B of size 7, whose tiles are still served. */
	add_entries(&b, 2, false);
	audit(&r, &b, st2, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 7", NULL);
	mix = mixed_start(a.url, NULL, a.url, b.url, url, sizeof url);
	h_closurelog(&r, "audit", "--log", url, "--log-key", a.pub, "--state", st2, NULL);
	mixed_stop(mix);
	expect(&r, 1, NULL, "fork: the log's tiles at size 7");
	assert_int_equal(state_size(st2), 7);
	assert_true(evidence_find(st2, ev, sizeof ev));
	h_closurelog(&r, "verify-evidence", "--log-key", a.pub, ev, NULL);
	expect(&r, 0, "fork proven: localhost/closurelog signed size 5 with root", NULL);

	h_server_stop(&a, SIGTERM);
	h_server_stop(&b, SIGTERM);
}

static void
test_tampered_state(void **state)
{
	char st[700], ck[700], full[700];
	static struct h_server s; /* static: teardown stops it if a test fails */
	struct h_run r;
	struct note_signer other;
	struct note_verifier v;
	struct sth c;
	uint8_t *orig, *edited, note[STH_NOTE_MAX];
	size_t len, note_len, flen;
	char why[CL_WHY_MAX], *p;

	(void)state;
	snprintf(st, sizeof st, "%s", path("state"));
	snprintf(ck, sizeof ck, "%s", path("state/checkpoint"));
	snprintf(full, sizeof full, "%s", path("state/full"));
	start(&s, path("data"));
	add_entries(&s, 2, false);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 0, "first checkpoint trusted at size 2", NULL);
	orig = h_read(ck, &len);

	/* The size line changed. */
	edited = malloc(len + 1);
	memcpy(edited, orig, len + 1);
	p = strstr((char *)edited, "\n2\n");
	assert_non_null(p);
	p[1] = '3';
	h_write(ck, edited, len);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 2, NULL, "is not signed by the log key: refusing a tampered state");
	free(edited);

	/* A well-formed checkpoint signed by another key of the same name. */
	assert_int_equal(key_verifier_load(s.pub, &v, why), 0);
	assert_int_equal(note_signer_generate("localhost/closurelog", &other, why), 0);
	assert_int_equal(sth_open(orig, len, &v, NULL, &c, why), 0);
	assert_int_equal(sth_sign(&c, &other, note, sizeof note, &note_len, why), 0);
	note_signer_wipe(&other);
	h_write(ck, note, note_len);
	audit(&r, &s, st, NULL, NULL);
	expect(&r, 2, NULL, "is not signed by the log key: refusing a tampered state");

	h_write(ck, orig, len);
	audit(&r, &s, st, "--full", NULL);
	expect(&r, 0, "unchanged at size 2; entries 0..1 rebuilt and validated", NULL);

	/* DIR/full whose tree does not match its checkpoint. */
	edited = h_read(full, &flen);
	p = strstr((char *)edited, "\"hash\": \"");
	assert_non_null(p);
	p[9] = p[9] == 'A' ? 'B' : 'A';
	h_write(full, edited, flen);
	audit(&r, &s, st, "--full", NULL);
	expect(&r, 2, NULL, "refusing a tampered state");
	free(edited);

	free(orig);
	h_server_stop(&s, SIGTERM);
}

/* Flip one byte of entry `index` in the store of a stopped server: under
 * its own key, or inside its full bundle, which is then written again as a
 * well-formed bundle (the damage is in the entry, not in the encoding). */
static void
corrupt_entry(const char *data, uint64_t index)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v, nv;
	uint8_t key[8], *copy;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "entries", 0, &dbi), 0);
	cl_be64_put(key, index);
	k.mv_size = sizeof key;
	k.mv_data = key;
	if (mdb_get(txn, dbi, &k, &v) == 0) {
		copy = malloc(v.mv_size);
		assert_non_null(copy);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[v.mv_size / 2] ^= 0x01;
		nv.mv_size = v.mv_size;
		nv.mv_data = copy;
	} else {
		struct eb_dec *d;
		struct eb_enc *e;
		const uint8_t *z;
		size_t zlen;

		assert_int_equal(mdb_dbi_open(txn, "bundles", 0, &dbi), 0);
		cl_be64_put(key, index / EB_ENTRIES);
		assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
		assert_int_equal(eb_dec_new(&d), 0);
		assert_int_equal(eb_enc_new(&e), 0);
		assert_int_equal(eb_decode(d, v.mv_data, v.mv_size), 0);
		for (unsigned j = 0; j < EB_ENTRIES; j++) {
			const uint8_t *p;
			size_t n;
			uint8_t buf[CL_ENTRY_MAX];

			eb_dec_entry(d, j, &p, &n);
			memcpy(buf, p, n);
			if (j == index % EB_ENTRIES)
				buf[n / 2] ^= 0x01;
			assert_int_equal(eb_enc_add(e, buf, n), 0);
		}
		assert_int_equal(eb_enc_finish(e, &z, &zlen), 0);
		copy = malloc(zlen);
		assert_non_null(copy);
		memcpy(copy, z, zlen);
		nv.mv_size = zlen;
		nv.mv_data = copy;
		eb_enc_free(e);
		eb_dec_free(d);
	}
	assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(copy);
}

static void
test_full(void **state)
{
	char st[700];
	static struct h_server s; /* static: teardown stops it if a test fails */
	struct h_run r;
	unsigned long long before, after;
	size_t len;
	uint8_t *b;

	(void)state;
	snprintf(st, sizeof st, "%s", path("state"));
	start(&s, path("data"));
	/* More than one tile, so that a level-1 node is checked too. */
	add_entries(&s, 300, true);
	audit(&r, &s, st, "--full", NULL);
	expect(&r, 0, "size 300 (trust on first use); entries 0..299 rebuilt and validated", NULL);
	b = h_read(path("state/full"), &len);
	assert_non_null(strstr((char *)b, "\"size\": 300\n"));
	free(b);

	/* Resuming fetches only the new part: the checkpoint, the proof, one
	 * entry bundle and one hash tile. */
	add_entries(&s, 20, true);
	before = requests_served(&s);
	audit(&r, &s, st, "--full", "--json");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"from\": 300"));
	assert_non_null(strstr(r.out, "\"validated\": 320"));
	h_run_free(&r);
	after = requests_served(&s);
	assert_true(after - before <= 5);
	b = h_read(path("state/full"), &len);
	assert_non_null(strstr((char *)b, "\"size\": 320\n"));
	free(b);
	assert_int_equal(state_size(st), 320);
	audit(&r, &s, st, "--full", NULL);
	expect(&r, 0, "all 320 entries validated", NULL);

	/* An entry altered on disk: the tree still proves consistency, but the
	 * monitor sees that the entry does not hash to its leaf. */
	h_server_stop(&s, SIGTERM);
	corrupt_entry(path("data"), 137);
	start(&s, path("data"));
	audit(&r, &s, path("state-2"), "--full", NULL);
	expect(&r, 1, NULL, "entry 137: its leaf hash does not match position 137 of tile/0/000");
	/* Nothing is saved... */
	assert_int_equal(access(path("state-2/checkpoint"), F_OK), -1);
	assert_int_equal(access(path("state-2/full"), F_OK), -1);
	audit(&r, &s, st, "--full", NULL); /* ...and the old state needs nothing new */
	expect(&r, 0, "all 320 entries validated", NULL);
	h_server_stop(&s, SIGTERM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_help, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tofu_growth_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inconsistent_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
