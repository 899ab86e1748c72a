/*
 * bench.c: closurelog-bench, the benchmark behind `make bench`.
 *
 * One run measures this machine's own limits (Ed25519 verification and
 * SHA-256 on one core, durable LMDB commits in the run's directory), then
 * closurelogd itself.  On a new log: the HTTP front end's CPU per request,
 * appends (closed loop for throughput, open loop at several offered loads
 * for latency) and offline verification of the bundles they produced.  Then
 * the size sweep grows one log through --sizes (default 10^3, 10^5, 10^6,
 * 10^7; quick: 10^3, 10^4) with the bulk loader (the server's own store and
 * log code through log_bulk_append), and at each size starts closurelogd on
 * it and measures proof and tile reads, single-entry and batch submissions
 * of new envelopes (every answer verified), the committer thread's CPU and
 * bytes written per entry, storage per entry and bulk-load speed.  Each
 * number is reported next to the limit that bounds it.  Results go to
 * stdout (tables), OUT/results.json and OUT/latency.dat (new log),
 * OUT/scale.json, OUT/scale.dat and OUT/scale.md (the sweep).
 *
 * usage: closurelog-bench [--quick] [--http-cpu | --scale-only] [--out DIR]
 *            [--bin DIR] [--sizes N,N,...] [--max-size N] [--batch B]
 *            [--batch-conns C]
 *        closurelog-bench bulkload DATA_DIR TOTAL   (used by the run itself)
 *        closurelog-bench submitters FILE | load ... | batchload ... | proofs ...
 *            (profiling)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "closurelog/verify.h"
#include "dsse.h"
#include "key.h"
#include "lgbatch.h"
#include "loadgen.h"
#include "log.h"
#include "merkle.h"
#include "nix.h"
#include "procstat.h"
#include "sth.h"
#include "store.h"
#include "tile.h"
#include "tproof.h"
#include "vbound.h"
#include "wire.h"

#define N_SUBMITTERS 8

/* Envelope numbers of the load generator's submissions in the size sweep:
 * far above any the bulk loader writes (it numbers them by log index), so
 * every timed submission is a new envelope. */
#define SCALE_FIRST 1000000000000ULL

#define OPT_PATH   1024         /* room for file names below these in PATH_MAX buffers */
#define SCALE_MAX  8            /* log sizes in one sweep */
#define HEAP_WARM  (256u << 20) /* lg_heap_warm: above what one run keeps */
#define READ_CONNS 32           /* keep-alive connections of the read phases */

struct opts {
	bool quick;
	bool http_cpu_only; /* --http-cpu: only the front end's CPU per request */
	bool scale_only;    /* --scale-only: the limits and the size sweep */
	char out[OPT_PATH];
	char bin[OPT_PATH];
	char work[OPT_PATH];
	uint64_t max_size;
	uint64_t sizes[SCALE_MAX]; /* the size sweep, ascending */
	size_t n_sizes;
	size_t batch_b;       /* envelopes per batch request */
	unsigned batch_conns; /* connections carrying batches */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* What a failed run leaves behind, for die() to clear: the closurelogd it
 * started and the work directory (a 10^7-entry log is gigabytes).  Only
 * the process that armed it cleans up, not forked children. */
static struct {
	pid_t owner, server;
	char work[OPT_PATH];
} cleanup;

static void
cleanup_arm(const char *work)
{
	cleanup.owner = getpid();
	snprintf(cleanup.work, sizeof cleanup.work, "%s", work);
}

static void
cleanup_run(void)
{
	char cmd[OPT_PATH + 16];
	int st;

	if (cleanup.owner != getpid())
		return;
	if (cleanup.server > 0) {
		kill(cleanup.server, SIGTERM);
		waitpid(cleanup.server, &st, 0);
		cleanup.server = 0;
	}
	if (cleanup.work[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", cleanup.work);
		if (system(cmd) != 0)
			fprintf(stderr, "closurelog-bench: could not remove %s\n", cleanup.work);
		cleanup.work[0] = '\0';
	}
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "closurelog-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup_run();
	exit(1);
}

/* ---- Keys and envelopes ---- */

static struct note_signer submitters[N_SUBMITTERS];

static void
keys_init(void)
{
	for (int i = 0; i < N_SUBMITTERS; i++) {
		uint8_t seed[32];
		char name[64];

		memset(seed, 0x30 + i, sizeof seed);
		snprintf(name, sizeof name, "ci%d.bench.example", i);
		if (note_signer_from_seed(name, seed, &submitters[i], NULL) != 0)
			die("key");
	}
}

/* 32 bytes that look random, a function of (what, n) only, so that envelope
 * n is the same in every run. */
static void
bench_digest(const char *what, uint64_t n, uint8_t out[32])
{
	uint8_t key[8];

	cl_be64_put(key, n);
	crypto_generichash(out, 32, (const uint8_t *)what, strlen(what), key, sizeof key);
}

/* A distinct, signed envelope for entry n, in a malloc'd buffer, as a CI
 * would attest a build: nothing in it repeats across entries but what
 * repeats in a real log, so that compressing the stored entries is not
 * flattered.  1000 distinct outputs (root, with its own nix32 hash part and
 * a package name and version; the narHash follows the root, as for a
 * reproducible build), so search has something to do; per entry a random
 * flake.lock digest, one of four systems, one of 40 builders, a run URL
 * with the CI's run and job numbers, and a build time. */
static uint8_t *
envelope(struct wire_arena *a, uint64_t n, size_t *len)
{
	static const char *const pkgs[] = {"hello", "openssl", "python3.11-requests",
	    "rustc-wrapper", "glibc", "nodejs-slim", "curl", "systemd-minimal", "gcc-wrapper",
	    "perl5.38.2-JSON-PP", "zlib", "coreutils-full", "postgresql", "nix-info"};
	static const char *const systems[] = {
	    "x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"};
	struct cl_attestation att;
	struct nix_hash nar = {NIX_SHA256, 32, {0}};
	uint8_t hpart[32], lock[32], r[32];
	char root[128], hash32[64], nar_sri[NIX_HASH_STR_MAX], builder[64], url[128];
	uint64_t p = n % 1000;
	uint8_t *out;
	const uint8_t *payload, *env;
	size_t plen;

	wire_arena_reset(a);
	memset(&att, 0, sizeof att);
	bench_digest("root", p, hpart);
	nix_base32_encode(hpart, 20, hash32);
	snprintf(root, sizeof root, "/nix/store/%s-%s-%u.%u.%u", hash32,
	    pkgs[p % (sizeof pkgs / sizeof pkgs[0])], (unsigned)(p % 7), (unsigned)(p / 7 % 30),
	    (unsigned)(p % 11));
	bench_digest("nar", p, nar.bytes);
	nix_hash_sri(&nar, nar_sri, sizeof nar_sri);
	bench_digest("lock", n, lock);
	bench_digest("meta", n, r);
	snprintf(builder, sizeof builder, "nix-builder-%02u.ci.example.org", r[0] % 40u);
	snprintf(url, sizeof url, "https://ci.example.org/nixos/infra/runs/%" PRIu64 "/jobs/%u",
	    7100000000u + n / 50 * 7 + r[1] % 5, (unsigned)cl_be32_get(r + 2) % 900000000u);
	att.root = root;
	att.nar_hash = nar_sri;
	att.flake_lock = (struct cl_digest){"sha256", lock, 32};
	att.system = systems[r[6] % 4 == 3 ? r[7] % 4 : 0];
	att.sandbox = CL_SANDBOX_ON;
	att.builder_id = builder;
	att.run_url = url;
	att.build_time = 1700000000 + n * 3 + r[8] % 60;
	if (wire_attestation_encode(a, &att, &payload, &plen, NULL) != 0 ||
	    dsse_sign(a, &submitters[n % N_SUBMITTERS], payload, plen, &env, len, NULL) != 0)
		die("cannot make envelope %" PRIu64, n);
	if ((out = malloc(*len)) == NULL)
		die("out of memory");
	memcpy(out, env, *len);
	return out;
}

struct signjob {
	uint64_t first;
	size_t n, step, off;
	uint8_t **envs;
	size_t *lens;
};

static void *
sign_main(void *arg)
{
	struct signjob *j = arg;
	struct wire_arena a;
	void *buf = malloc(WIRE_ARENA_MIN);

	wire_arena_init(&a, buf, WIRE_ARENA_MIN);
	for (size_t i = j->off; i < j->n; i += j->step)
		j->envs[i] = envelope(&a, j->first + i, &j->lens[i]);
	free(buf);
	return NULL;
}

/* Envelopes first .. first+n-1, signed on every core. */
static void
envelopes(uint64_t first, size_t n, uint8_t **envs, size_t *lens)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t t[16];
	struct signjob j[16];
	int k = cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus;

	for (int i = 0; i < k; i++) {
		j[i] = (struct signjob){first, n, (size_t)k, (size_t)i, envs, lens};
		pthread_create(&t[i], NULL, sign_main, &j[i]);
	}
	for (int i = 0; i < k; i++)
		pthread_join(t[i], NULL);
}

/* ---- Limits ---- */

struct limits {
	double ed25519_verify_per_s; /* one core */
	double sha256_leaf_per_s;    /* one core, envelope-sized leaves */
	double lmdb_commit_per_s;    /* durable commits of one small put */
	size_t env_len;
};

/* What the bound verifies: the DSSE PAE of a bench envelope (what the
 * log's verifiers verify, so the same SHA-512 work), its signature and
 * key.  Set by bound_init. */
static struct vb_msg bound_m;

static void
bound_init(void)
{
	static uint8_t pae[CL_ENTRY_MAX + 128], sig[64];
	struct wire_arena a;
	void *buf = malloc(WIRE_ARENA_MIN);
	struct cl_envelope e;
	uint8_t *env;
	size_t len;

	if (buf == NULL)
		die("out of memory");
	wire_arena_init(&a, buf, WIRE_ARENA_MIN);
	env = envelope(&a, SCALE_FIRST, &len);
	if (wire_envelope_decode(&a, env, len, &e, NULL) != 0 || e.sigs[0].sig_len != sizeof sig)
		die("cannot decode the bench's own envelope");
	bound_m.len = dsse_pae(
	    e.payload_type, strlen(e.payload_type), e.payload, e.payload_len, pae, sizeof pae);
	memcpy(sig, e.sigs[0].sig, sizeof sig);
	bound_m.msg = pae;
	bound_m.sig = sig;
	bound_m.pk = submitters[SCALE_FIRST % N_SUBMITTERS].sk + 32;
	if (bound_m.len == 0 || vb_one_core(&bound_m, 1) == 0)
		die("the bench's own envelope does not verify");
	free(env);
	free(buf);
}

/* Ed25519 verifications per second on one core, of the bound's message,
 * over n verifications. */
static double
ed25519_rate(int n)
{
	double r = vb_one_core(&bound_m, n);

	if (r == 0)
		die("verify");
	return r;
}

/* Add `rounds` rounds of samples of the bound to v (see vbound.h). */
static void
bound_sample(struct vb *v, const struct opts *o, int rounds)
{
	if (vb_sample(v, rounds, o->quick ? 0.05 : 0.25) != 0)
		die("verify");
}

static void
measure_limits(const struct opts *o, struct limits *lim)
{
	struct wire_arena a;
	void *buf = malloc(WIRE_ARENA_MIN);
	uint8_t *env, h[32];
	size_t len;
	double t;
	int n;
	MDB_env *e;
	MDB_dbi dbi;
	char dir[PATH_MAX];

	wire_arena_init(&a, buf, WIRE_ARENA_MIN);
	env = envelope(&a, 0, &len);
	lim->env_len = len;
	lim->ed25519_verify_per_s = ed25519_rate(o->quick ? 4000 : 40000);
	n = o->quick ? 100000 : 1000000;
	t = lg_now();
	for (int i = 0; i < n; i++) {
		env[0] ^= (uint8_t)i;
		mt_leaf_hash(h, env, len);
	}
	lim->sha256_leaf_per_s = n / (lg_now() - t);

	snprintf(dir, sizeof dir, "%s/lmdb-limit", o->work);
	mkdir(dir, 0700);
	if (mdb_env_create(&e) != 0 || mdb_env_set_mapsize(e, 64u << 20) != 0 ||
	    mdb_env_open(e, dir, 0, 0600) != 0)
		die("lmdb limit env");
	n = o->quick ? 200 : 2000;
	t = lg_now();
	for (int i = 0; i < n; i++) {
		MDB_txn *txn;
		MDB_val k = {sizeof i, &i}, v = {32, h};

		if (mdb_txn_begin(e, NULL, 0, &txn) != 0 || mdb_dbi_open(txn, NULL, 0, &dbi) != 0 ||
		    mdb_put(txn, dbi, &k, &v, 0) != 0 || mdb_txn_commit(txn) != 0)
			die("lmdb commit");
	}
	lim->lmdb_commit_per_s = n / (lg_now() - t);
	mdb_env_close(e);
	free(env);
	free(buf);
}

/* ---- closurelogd under test ---- */

struct server {
	pid_t pid;
	uint16_t port;
	char hostport[32];
	char data[PATH_MAX];
	struct note_verifier log_key;
};

/* The bench's submitter keys, one verifier key per line. */
static void
write_submitters(const char *path)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	for (int i = 0; i < N_SUBMITTERS; i++) {
		struct note_verifier v;
		char vkey[NOTE_VKEY_MAX];

		note_signer_verifier(&submitters[i], &v);
		note_verifier_format(&v, vkey, sizeof vkey);
		fprintf(f, "%s\n", vkey);
	}
	fclose(f);
}

static void
server_start(const struct opts *o, struct server *s, const char *data, double *startup)
{
	char bin[PATH_MAX], port_file[PATH_MAX + 8], subs[PATH_MAX + 16], pub[PATH_MAX + 16];

	if (strlen(data) >= OPT_PATH * 2)
		die("path too long: %s", data);
	double t0 = lg_now();
	FILE *f;

	memset(s, 0, sizeof *s);
	snprintf(s->data, sizeof s->data, "%s", data);
	snprintf(bin, sizeof bin, "%s/closurelogd", o->bin);
	snprintf(port_file, sizeof port_file, "%s.port", data);
	snprintf(subs, sizeof subs, "%s.submitters", data);
	unlink(port_file);
	write_submitters(subs);
	if ((s->pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (s->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execl(bin, bin, "--data", data, "--listen", "127.0.0.1:0", "--port-file", port_file,
		    "--submitters", subs, "--rate", "0", "--max-conns", "4096", "--queue-max",
		    "1000000", (char *)NULL);
		_exit(127);
	}
	cleanup.server = s->pid;
	for (;;) {
		unsigned port = 0;
		int st;

		if ((f = fopen(port_file, "r")) != NULL) {
			if (fscanf(f, "%u", &port) == 1) {
				fclose(f);
				s->port = (uint16_t)port;
				break;
			}
			fclose(f);
		}
		if (waitpid(s->pid, &st, WNOHANG) == s->pid)
			die("closurelogd exited at start (status %d)", st);
		if (lg_now() - t0 > 600)
			die("closurelogd did not start");
		usleep(1000);
	}
	if (startup != NULL)
		*startup = lg_now() - t0;
	snprintf(s->hostport, sizeof s->hostport, "127.0.0.1:%u", (unsigned)s->port);
	snprintf(pub, sizeof pub, "%s/log.pub", data);
	if (key_verifier_load(pub, &s->log_key, NULL) != 0)
		die("cannot read %s", pub);
}

static void
server_stop(struct server *s)
{
	int st;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	cleanup.server = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("closurelogd did not stop cleanly (status %d)", st);
}

/* One GET, its body (malloc'd), or NULL. */
static uint8_t *
http_get(const struct server *s, const char *path, size_t *len)
{
	struct lg_req r;
	struct lg_res res;
	struct lg_stats st;
	struct lg_cfg cfg = {"127.0.0.1", s->port, 1, 0, true, 0};

	if (lg_request(&r, "GET", s->hostport, path, NULL, 0) != 0)
		return NULL;
	if (lg_run(&cfg, &r, 1, &res, &st) != 0 || res.status != 200) {
		free(r.bytes);
		lg_res_free(&res, 1);
		return NULL;
	}
	free(r.bytes);
	*len = res.len;
	return res.body;
}

/* A number from the Prometheus text: the sample named exactly `name`. */
static double
metric(const struct server *s, const char *name)
{
	size_t len, nl = strlen(name);
	uint8_t *b = http_get(s, "/metrics", &len);
	double v = 0;

	for (char *p = (char *)b; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
	}
	free(b);
	return v;
}

/* ---- Appends ---- */

struct curve_point {
	double offered, achieved;
	uint32_t p50_us, p99_us;
};

struct appends {
	size_t n, ok, bad_proofs;
	double per_s, seconds;
	uint32_t p50_us, p95_us, p99_us, max_us;
	double server_cores, batch_mean, distinct_checkpoints;
	struct curve_point curve[16];
	size_t n_curve;
	/* Real bundles from the run, for the offline verification phase. */
	uint8_t **bundles;
	size_t *bundle_lens, n_bundles;
	struct note_verifier log_key;
};

/* Check a submit answer; on success, build its bundle if wanted. */
static bool
check_answer(struct wire_arena *a, const struct note_verifier *lk, const uint8_t *env,
    size_t env_len, const struct lg_res *r, uint8_t **bundle, size_t *bundle_len, uint64_t *ck_size)
{
	static uint8_t last_note[1024];
	static size_t last_len;
	static struct sth last;
	struct cl_submit_response sr;
	struct sth c;
	uint8_t leaf[32];

	wire_arena_reset(a);
	if (r->status != 201 && r->status != 200)
		return false;
	if (wire_submit_response_decode(a, r->body, r->len, &sr, NULL) != 0)
		return false;
	/* Checkpoints repeat across a batch: verify each distinct one once. */
	if (sr.checkpoint_len == last_len && memcmp(sr.checkpoint, last_note, last_len) == 0) {
		c = last;
	} else {
		if (sth_open(sr.checkpoint, sr.checkpoint_len, lk, NULL, &c, NULL) != 0 ||
		    sr.checkpoint_len > sizeof last_note)
			return false;
		memcpy(last_note, sr.checkpoint, sr.checkpoint_len);
		last_len = sr.checkpoint_len;
		c.ext = NULL;
		last = c;
	}
	mt_leaf_hash(leaf, env, env_len);
	if (sodium_memcmp(leaf, sr.leaf_hash, 32) != 0 || sr.inclusion.b != c.size ||
	    mt_inclusion_verify(
	        leaf, sr.index, c.size, MT_PATH(sr.inclusion.hashes), sr.inclusion.n, c.root) != 0)
		return false;
	*ck_size = c.size;
	if (bundle != NULL) {
		struct tproof *tp = wire_arena_alloc(a, sizeof *tp);
		uint8_t *text = wire_arena_alloc(a, CL_TPROOF_MAX);
		struct cl_bundle b;
		const uint8_t *out;
		size_t tl, ol;

		memset(tp, 0, sizeof *tp);
		tp->index = sr.index;
		tp->n_path = sr.inclusion.n;
		memcpy(tp->path, sr.inclusion.hashes, sr.inclusion.n * 32);
		tp->checkpoint = sr.checkpoint;
		tp->checkpoint_len = sr.checkpoint_len;
		if (tproof_format(tp, text, CL_TPROOF_MAX, &tl) != 0)
			return false;
		b = (struct cl_bundle){env, env_len, text, tl};
		if (wire_bundle_encode(a, &b, &out, &ol) != 0 || (*bundle = malloc(ol)) == NULL)
			return false;
		memcpy(*bundle, out, ol);
		*bundle_len = ol;
	}
	return true;
}

static void
post_requests(const struct server *s, uint64_t first, size_t n, uint8_t ***envs, size_t **lens,
    struct lg_req **reqs)
{
	*envs = calloc(n, sizeof **envs);
	*lens = calloc(n, sizeof **lens);
	*reqs = calloc(n, sizeof **reqs);
	if (*envs == NULL || *lens == NULL || *reqs == NULL)
		die("out of memory");
	envelopes(first, n, *envs, *lens);
	for (size_t i = 0; i < n; i++) {
		if (lg_request(&(*reqs)[i], "POST", s->hostport, "/v1/entries", (*envs)[i],
		        (*lens)[i]) != 0)
			die("out of memory");
	}
}

static void
free_requests(uint8_t **envs, size_t *lens, struct lg_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(envs[i]);
		free(reqs[i].bytes);
	}
	free(envs);
	free(lens);
	free(reqs);
}

static void
bench_appends(const struct opts *o, struct appends *ap)
{
	struct server s;
	char data[PATH_MAX + 16];
	uint8_t **envs;
	size_t *lens;
	struct lg_req *reqs;
	struct lg_res *res;
	struct lg_stats st;
	struct lg_cfg cfg = {"127.0.0.1", 0, 256, 0, true, 0}; /* enough to saturate */
	struct wire_arena a;
	void *abuf = malloc(WIRE_ARENA_MIN);
	double cpu0, cpu1, b0, bn0, b1, bn1;
	uint64_t next = 0, last_size = 0;
	size_t keep;

	memset(ap, 0, sizeof *ap);
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	snprintf(data, sizeof data, "%s/appends", o->work);
	server_start(o, &s, data, NULL);
	ap->log_key = s.log_key;
	cfg.port = s.port;

	/* Closed loop: as fast as the server answers. */
	ap->n = o->quick ? 5000 : 200000;
	post_requests(&s, next, ap->n, &envs, &lens, &reqs);
	next += ap->n;
	res = calloc(ap->n, sizeof *res);
	b0 = metric(&s, "closurelog_batch_size_sum");
	bn0 = metric(&s, "closurelog_batch_size_count");
	cpu0 = ps_cpu_seconds(s.pid);
	if (lg_run(&cfg, reqs, ap->n, res, &st) != 0)
		die("load generator could not connect");
	cpu1 = ps_cpu_seconds(s.pid);
	b1 = metric(&s, "closurelog_batch_size_sum");
	bn1 = metric(&s, "closurelog_batch_size_count");
	ap->seconds = st.seconds;
	ap->per_s = st.achieved_rate;
	ap->p50_us = st.p50_us;
	ap->p95_us = st.p95_us;
	ap->p99_us = st.p99_us;
	ap->max_us = st.max_us;
	ap->server_cores = st.seconds > 0 ? (cpu1 - cpu0) / st.seconds : 0;
	ap->batch_mean = bn1 > bn0 ? (b1 - b0) / (bn1 - bn0) : 0;
	ap->distinct_checkpoints = bn1 - bn0;
	/* Every answer's proof must verify against its signed checkpoint. */
	keep = o->quick ? 1000 : 20000;
	ap->bundles = calloc(keep, sizeof *ap->bundles);
	ap->bundle_lens = calloc(keep, sizeof *ap->bundle_lens);
	for (size_t i = 0; i < ap->n; i++) {
		bool want = ap->n_bundles < keep;

		if (check_answer(&a, &s.log_key, envs[i], lens[i], &res[i],
		        want ? &ap->bundles[ap->n_bundles] : NULL,
		        want ? &ap->bundle_lens[ap->n_bundles] : NULL, &last_size)) {
			ap->ok++;
			ap->n_bundles += want;
		} else {
			ap->bad_proofs++;
		}
	}
	lg_res_free(res, ap->n);
	free(res);
	free_requests(envs, lens, reqs, ap->n);
	(void)last_size;

	/* Open loop at fractions of that rate: latency against offered load. */
	{
		static const double fr[] = {0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.2};
		double secs = o->quick ? 1.0 : 4.0;

		for (size_t k = 0; k < sizeof fr / sizeof fr[0]; k++) {
			struct curve_point *cp = &ap->curve[ap->n_curve];
			size_t n = (size_t)(fr[k] * ap->per_s * secs) + 1;
			struct lg_cfg oc = {
			    "127.0.0.1", s.port, 256, fr[k] * ap->per_s, false, secs * 3};

			post_requests(&s, next, n, &envs, &lens, &reqs);
			next += n;
			res = calloc(n, sizeof *res);
			if (lg_run(&oc, reqs, n, res, &st) != 0)
				die("load generator could not connect");
			cp->offered = oc.rate;
			cp->achieved = st.achieved_rate;
			cp->p50_us = st.p50_us;
			cp->p99_us = st.p99_us;
			ap->n_curve++;
			free(res);
			free_requests(envs, lens, reqs, n);
		}
	}
	server_stop(&s);
	free(abuf);
}

/* ---- Bulk load: the server's own store and log code, no HTTP ---- */

static int
bulkload_main(const char *data, uint64_t total)
{
	char key[PATH_MAX + 16], pub[PATH_MAX + 16], subs[PATH_MAX + 16], why[CL_WHY_MAX];
	struct st *st;
	struct st_meta meta;
	struct signer *sg;
	struct allow *al;
	struct log *lg;
	struct log_cfg lc = {1, 1, 16384, 0, (size_t)1 << 40, NULL, NULL, NULL};
	struct log_ckpt *ck;
	uint64_t have;
	size_t chunk = 65536;
	double t0 = lg_now(), t_append = 0, t_report = t0, t1;
	uint64_t from;

	keys_init();
	snprintf(key, sizeof key, "%s/log.key", data);
	snprintf(pub, sizeof pub, "%s/log.pub", data);
	snprintf(subs, sizeof subs, "%s/none", data);
	if (st_open(data, (size_t)64 << 30, &st, why) != 0)
		die("store: %s", why);
	if (st_meta_get(st, &meta) != 0)
		die("store %s is not initialised (start closurelogd on it once)", data);
	if (signer_open(key, pub, meta.origin, 0, "", &sg, why) != 0 ||
	    allow_open(subs, &al, why) != 0 || log_open(st, sg, al, NULL, &lc, &lg, why) != 0)
		die("%s", why);
	/* Set-up, not measurement: one sync at the end instead of one per
	 * batch lets the page cache absorb rewrites of index pages.  The log
	 * signs nothing meanwhile; closurelogd signs the tree when it next
	 * starts. */
	if (st_sync_set(st, false) != 0)
		die("store: cannot switch syncing off for the bulk load");
	ck = log_checkpoint(lg);
	from = have = ck->size;
	log_ckpt_unref(ck);
	while (have < total) {
		size_t n = total - have < chunk ? (size_t)(total - have) : chunk, done;
		uint8_t **envs = calloc(n, sizeof *envs);
		size_t *lens = calloc(n, sizeof *lens);

		envelopes(have, n, envs, lens);
		t1 = lg_now();
		if (log_bulk_append(lg, (const uint8_t *const *)envs, lens, n, &done, why) != 0)
			die("bulk append at %" PRIu64 ": %s", have, why);
		t_append += lg_now() - t1;
		if (done != n)
			die("bulk append: %zu of %zu were new", done, n);
		have += n;
		if (lg_now() - t_report > 10) {
			t_report = lg_now();
			fprintf(stderr, "  bulk load: %" PRIu64 " of %" PRIu64 " entries, %.0f/s\n",
			    have, total, (double)(have - from) / (t_report - t0));
		}
		for (size_t i = 0; i < n; i++)
			free(envs[i]);
		free(envs);
		free(lens);
	}
	t1 = lg_now();
	log_stop(lg);
	log_free(lg);
	if (st_sync_set(st, true) != 0)
		die("store: final sync failed");
	t_append += lg_now() - t1;
	allow_close(al);
	signer_close(sg);
	st_meta_free(&meta);
	st_close(st);
	/* Wall time, and the part in the log's code (appends and the final
	 * sync): what a migration from existing envelopes would take. */
	printf("%.3f %.3f\n", lg_now() - t0, t_append);
	return 0;
}

/* ---- Appends and reads as the log grows ---- */

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* GET paths[0..n) over conns keep-alive connections, closed loop, every
 * answer's status checked (200): the rate answered.  *cores: the server's
 * CPU over the run's wall time (0 when s->pid is 0: not ours to read). */
static double
run_gets(const struct server *s, const char *const *paths, size_t n, unsigned conns,
    struct lg_stats *st, double *cores)
{
	struct lg_req *reqs = calloc(n, sizeof *reqs);
	struct lg_res *res = calloc(n, sizeof *res);
	struct lg_cfg cfg = {"127.0.0.1", s->port, conns, 0, false, 0};
	double c0, c1;
	size_t ok = 0;

	for (size_t i = 0; i < n; i++) {
		if (lg_request(&reqs[i], "GET", s->hostport, paths[i], NULL, 0) != 0)
			die("out of memory");
	}
	c0 = ps_cpu_seconds(s->pid);
	if (lg_run(&cfg, reqs, n, res, st) != 0)
		die("load generator could not connect");
	c1 = ps_cpu_seconds(s->pid);
	for (size_t i = 0; i < n; i++) {
		ok += res[i].status == 200;
		free(reqs[i].bytes);
	}
	if (ok != n)
		die("%zu of %zu reads failed", n - ok, n);
	*cores = st->seconds > 0 ? (c1 - c0) / st->seconds : 0;
	free(reqs);
	free(res);
	return st->achieved_rate;
}

/* One timed submission run at one log size. */
struct phase {
	size_t sent, requests;      /* envelopes, HTTP requests */
	size_t ok;                  /* 201 answers whose proof verified */
	size_t failed;              /* every other envelope: refused, duplicate, unverified */
	double seconds, per_s;      /* verified appends per second of the run */
	uint32_t p50_us, p99_us;    /* per request, to its answer with a signed checkpoint */
	double commit_cpu_us;       /* committer thread (cl-commit) CPU per append */
	double commit_wchar;        /* bytes it handed the kernel to write, per append */
	double index_cpu_us;        /* the search indexer thread (cl-index), per append */
	double index_wchar;         /* and the bytes it wrote, per append */
	double write_bytes;         /* the process's write_bytes (pages dirtied), per append */
	double commits, batch_mean; /* durable commits in the run; appends per commit */
	double server_cores;        /* closurelogd's CPU over the run's wall time */
	double lg_cpu_us;           /* the load generator's CPU per request */
	double lg_sys_us;           /* the kernel's part of it */
};

struct scale_point {
	uint64_t size;       /* entries when the measurements at this size began */
	uint64_t size_after; /* and after the timed submissions */
	uint64_t bulk_entries;
	double bulk_s, bulk_append_s; /* bulk load wall time; the part in the log's code */
	double startup_s, loadavg;
	double proofs_per_s, tiles_per_s, read_cores;
	uint32_t proof_p50_us, proof_p99_us, tile_p50_us;
	struct phase single, batch;
	size_t batch_proofs; /* inclusion proofs checked in batch answers */
	/* The Ed25519 bound of all cores next to the batch run (vbound.h):
	 * from the samples taken just before and just after it together, and
	 * from each side's alone. */
	struct vb_bound bound, bound_before, bound_after;
	double store_bytes_per_entry;  /* the main store's disk use (DIR) / size_after */
	double search_bytes_per_entry; /* the search indexes' (DIR/search) / size_after */
};

struct scale {
	struct scale_point pt[SCALE_MAX];
	size_t n, failures;
	double loadavg_start, loadavg_end;
};

/* What a phase reads from the server before and after its run. */
struct srv_sample {
	struct ps_thread commit, index; /* index zero when there is no indexer thread */
	uint64_t write_bytes;
	double cpu_s, batch_sum, batch_count;
};

static void
srv_sample(const struct server *s, pid_t commit_tid, pid_t index_tid, struct srv_sample *x)
{
	x->batch_sum = metric(s, "closurelog_batch_size_sum");
	x->batch_count = metric(s, "closurelog_batch_size_count");
	if (ps_thread_sample(s->pid, commit_tid, &x->commit) != 0)
		die("cannot read closurelogd's committer thread (cl-commit)");
	memset(&x->index, 0, sizeof x->index);
	if (index_tid != 0 && ps_thread_sample(s->pid, index_tid, &x->index) != 0)
		die("cannot read closurelogd's search indexer thread (cl-index)");
	x->write_bytes = ps_write_bytes(s->pid);
	x->cpu_s = ps_cpu_seconds(s->pid);
}

static void
phase_finish(struct phase *ph, const struct srv_sample *a, const struct srv_sample *b,
    const struct lg_stats *st)
{
	double n = ph->ok > 0 ? (double)ph->ok : 1;

	ph->seconds = st->seconds;
	ph->per_s = st->seconds > 0 ? (double)ph->ok / st->seconds : 0;
	ph->p50_us = st->p50_us;
	ph->p99_us = st->p99_us;
	ph->commit_cpu_us = (b->commit.cpu_s - a->commit.cpu_s) * 1e6 / n;
	ph->commit_wchar = (double)(b->commit.wchar - a->commit.wchar) / n;
	ph->index_cpu_us = (b->index.cpu_s - a->index.cpu_s) * 1e6 / n;
	ph->index_wchar = (double)(b->index.wchar - a->index.wchar) / n;
	ph->write_bytes = (double)(b->write_bytes - a->write_bytes) / n;
	ph->commits = b->batch_count - a->batch_count;
	ph->batch_mean = ph->commits > 0 ? (b->batch_sum - a->batch_sum) / ph->commits : 0;
	ph->server_cores = st->seconds > 0 ? (b->cpu_s - a->cpu_s) / st->seconds : 0;
	ph->lg_cpu_us = ph->requests > 0 ? st->cpu_s * 1e6 / (double)ph->requests : 0;
	ph->lg_sys_us = ph->requests > 0 ? st->cpu_sys_s * 1e6 / (double)ph->requests : 0;
}

/* Proofs and tiles at random indices against the latest size: one
 * untimed pass warms the server's caches and page tables over the tree,
 * as a long-running log's are, then the timed one. */
static void
scale_reads(const struct opts *o, const struct server *s, struct scale_point *p)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL ^ p->size;
	size_t nreq = o->quick ? 5000 : 100000;
	char **paths = calloc(nreq, sizeof *paths);
	struct lg_stats st;
	double c;

	if (paths == NULL)
		die("out of memory");
	for (size_t i = 0; i < nreq; i++) {
		char buf[96];

		snprintf(
		    buf, sizeof buf, "/v1/proof/inclusion?index=%" PRIu64, rng(&seed) % p->size);
		if ((paths[i] = strdup(buf)) == NULL)
			die("out of memory");
	}
	(void)run_gets(s, (const char *const *)paths, nreq, READ_CONNS, &st, &c);
	p->proofs_per_s =
	    run_gets(s, (const char *const *)paths, nreq, READ_CONNS, &st, &p->read_cores);
	p->proof_p50_us = st.p50_us;
	p->proof_p99_us = st.p99_us;
	for (size_t i = 0; i < nreq; i++) {
		char buf[96];
		struct mt_tile t = {rng(&seed) % mt_tile_count(0, p->size), 256, 0, false};

		t.width = (uint16_t)mt_tile_width(0, t.index, p->size);
		buf[0] = '/';
		mt_tile_path(&t, buf + 1);
		free(paths[i]);
		if ((paths[i] = strdup(buf)) == NULL)
			die("out of memory");
	}
	(void)run_gets(s, (const char *const *)paths, nreq, READ_CONNS, &st, &c);
	p->tiles_per_s = run_gets(s, (const char *const *)paths, nreq, READ_CONNS, &st, &c);
	p->tile_p50_us = st.p50_us;
	for (size_t i = 0; i < nreq; i++)
		free(paths[i]);
	free(paths);
}

/* Single-entry submissions of new envelopes, closed loop. */
static void
scale_single(const struct opts *o, const struct server *s, pid_t tid, pid_t itid, uint64_t *next,
    struct phase *ph)
{
	struct lg_cfg cfg = {"127.0.0.1", s->port, 256, 0, true, 0};
	uint8_t **envs;
	size_t *lens;
	struct lg_req *reqs;
	struct lg_res *res;
	struct lg_stats st;
	struct srv_sample a, b;
	struct wire_arena ar;
	void *abuf = malloc(WIRE_ARENA_MIN);
	uint64_t ck_size;

	ph->sent = ph->requests = o->quick ? 2000 : 30000;
	post_requests(s, *next, ph->sent, &envs, &lens, &reqs);
	*next += ph->sent;
	if (abuf == NULL || (res = calloc(ph->sent, sizeof *res)) == NULL)
		die("out of memory");
	srv_sample(s, tid, itid, &a);
	if (lg_run(&cfg, reqs, ph->sent, res, &st) != 0)
		die("load generator could not connect");
	srv_sample(s, tid, itid, &b);
	wire_arena_init(&ar, abuf, WIRE_ARENA_MIN);
	for (size_t i = 0; i < ph->sent; i++) {
		if (res[i].status == 201 &&
		    check_answer(&ar, &s->log_key, envs[i], lens[i], &res[i], NULL, NULL, &ck_size))
			ph->ok++;
		else
			ph->failed++;
	}
	phase_finish(ph, &a, &b, &st);
	lg_res_free(res, ph->sent);
	free(res);
	free_requests(envs, lens, reqs, ph->sent);
	free(abuf);
}

/* Batch submissions of envelopes first.. : nreq requests of bsz over
 * conns connections, closed loop, every answer checked after the run (off
 * the clock).  With a and b, the server's counters around the run; with
 * phase, what phase_finish makes of them. */
static void
batch_run(const struct server *s, uint64_t first, size_t nreq, size_t bsz, unsigned conns,
    pid_t tid, pid_t itid, struct phase *ph, struct lg_batch_tally *t, struct lg_stats *st)
{
	struct lg_cfg cfg = {"127.0.0.1", s->port, conns, 0, true, 0};
	size_t n = nreq * bsz, maxlen = 0;
	uint8_t **envs;
	size_t *lens;
	struct cl_span *spans;
	struct lg_req *reqs;
	struct lg_res *res;
	struct srv_sample a, b;
	struct wire_arena ar;
	void *abuf;

	envs = calloc(n, sizeof *envs);
	lens = calloc(n, sizeof *lens);
	spans = calloc(n, sizeof *spans);
	reqs = calloc(nreq, sizeof *reqs);
	res = calloc(nreq, sizeof *res);
	if (envs == NULL || lens == NULL || spans == NULL || reqs == NULL || res == NULL)
		die("out of memory");
	envelopes(first, n, envs, lens);
	for (size_t i = 0; i < n; i++)
		spans[i] = (struct cl_span){envs[i], lens[i]};
	for (size_t r = 0; r < nreq; r++) {
		if (lg_batch_request(&reqs[r], s->hostport, &spans[r * bsz], bsz) != 0)
			die("cannot build a batch request");
	}
	if (ph != NULL)
		srv_sample(s, tid, itid, &a);
	if (lg_run(&cfg, reqs, nreq, res, st) != 0)
		die("load generator could not connect");
	if (ph != NULL)
		srv_sample(s, tid, itid, &b);
	for (size_t r = 0; r < nreq; r++)
		maxlen = res[r].len > maxlen ? res[r].len : maxlen;
	if ((abuf = malloc(wire_batch_decode_arena(maxlen, bsz))) == NULL)
		die("out of memory");
	wire_arena_init(&ar, abuf, wire_batch_decode_arena(maxlen, bsz));
	memset(t, 0, sizeof *t);
	for (size_t r = 0; r < nreq; r++)
		lg_batch_check(&ar, &s->log_key, &spans[r * bsz], bsz, &res[r], 1, t);
	if (ph != NULL) {
		ph->sent = n;
		ph->requests = nreq;
		ph->ok = t->appended;
		ph->failed = lg_batch_failures(t);
		phase_finish(ph, &a, &b, st);
	}
	free(abuf);
	lg_res_free(res, nreq);
	free(res);
	for (size_t r = 0; r < nreq; r++)
		free(reqs[r].bytes);
	free(reqs);
	for (size_t i = 0; i < n; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	free(spans);
}

/* Batch submissions of new envelopes: o->batch_b per request over
 * o->batch_conns connections, closed loop; every answer checked.  Long
 * enough that the run's first and last requests, when fewer than all the
 * connections keep the log busy, weigh little; but at most `room`
 * entries, so that the log does not grow past the next size measured. */
static void
scale_batch(const struct opts *o, const struct server *s, pid_t tid, pid_t itid, uint64_t *next,
    uint64_t room, struct phase *ph, size_t *proofs)
{
	uint64_t want = o->quick ? 4000 : 150000;
	size_t bsz = o->batch_b, nreq = (size_t)((want < room ? want : room) / bsz);
	struct lg_batch_tally t;
	struct lg_stats st;

	if (nreq == 0)
		nreq = 1;
	batch_run(s, *next, nreq, bsz, o->batch_conns, tid, itid, ph, &t, &st);
	*next += nreq * bsz;
	*proofs = t.proofs;
}

/* Grow one log through o->sizes: at each size, bulk-load to it, start
 * closurelogd, then reads, single and batch submissions of new
 * envelopes, with the committer's CPU and bytes per entry. */
static void scale_write(const struct opts *o, const struct limits *lim, const struct scale *sc);

static void
bench_scale(const struct opts *o, const struct limits *lim, struct scale *sc)
{
	char data[PATH_MAX + 16], path[PATH_MAX + 32], cmd[PATH_MAX * 3];
	struct server s;
	uint64_t have = 0, next = SCALE_FIRST;

	memset(sc, 0, sizeof *sc);
	sc->loadavg_start = ps_loadavg();
	snprintf(data, sizeof data, "%s/scale", o->work);
	/* Create the log (origin, key) once through the server itself. */
	server_start(o, &s, data, NULL);
	server_stop(&s);
	for (size_t k = 0; k < o->n_sizes; k++) {
		struct scale_point *p = &sc->pt[sc->n];
		pid_t tid, itid;
		FILE *f;

		if (o->sizes[k] > o->max_size)
			continue;
		p->loadavg = ps_loadavg();
		if (o->sizes[k] > have) {
			fprintf(stderr, "size %" PRIu64 ": bulk load of %" PRIu64 " entries...\n",
			    o->sizes[k], o->sizes[k] - have);
			snprintf(cmd, sizeof cmd, "'%s/closurelog-bench' bulkload '%s' %" PRIu64,
			    o->bin, data, o->sizes[k]);
			if ((f = popen(cmd, "r")) == NULL ||
			    fscanf(f, "%lf %lf", &p->bulk_s, &p->bulk_append_s) != 2 ||
			    pclose(f) != 0)
				die("bulk load to %" PRIu64 " failed", o->sizes[k]);
			p->bulk_entries = o->sizes[k] - have;
			have = o->sizes[k];
		} else {
			fprintf(stderr, "size %" PRIu64 ": the log already holds %" PRIu64 "\n",
			    o->sizes[k], have);
		}
		p->size = have;
		server_start(o, &s, data, &p->startup_s);
		if ((uint64_t)metric(&s, "closurelog_tree_size") != have)
			die("the log holds %.0f entries, not %" PRIu64,
			    metric(&s, "closurelog_tree_size"), have);
		/* A thread names itself once it runs: on a loaded machine that
		 * can be a little after the server answers. */
		for (int t = 0; (tid = ps_thread_find(s.pid, "cl-commit")) == 0 && t < 500; t++)
			usleep(10000);
		if (tid == 0)
			die("closurelogd has no committer thread named cl-commit");
		itid = ps_thread_find(s.pid, "cl-index"); /* 0 before layout 3 */
		fprintf(stderr, "size %" PRIu64 ": reads...\n", have);
		scale_reads(o, &s, p);
		fprintf(stderr, "size %" PRIu64 ": single submissions...\n", have);
		scale_single(o, &s, tid, itid, &next, &p->single);
		have += p->single.ok;
		/* The bound again, just before and just after the batch run: on
		 * a shared machine what a core gives changes during a long sweep,
		 * and one sample next to a run of seconds is noisy.  So several
		 * short samples each side of all cores verifying at once, with
		 * one core's rate times the cores beside them (vbound.h). */
		{
			struct vb before, after, both;

			vb_init(&before, &bound_m, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
			after = before;
			bound_sample(&before, o, 4);
			fprintf(stderr, "size %" PRIu64 ": batch submissions...\n", have);
			scale_batch(o, &s, tid, itid, &next,
			    k + 1 < o->n_sizes && o->sizes[k + 1] > have ? o->sizes[k + 1] - have
			                                                 : UINT64_MAX,
			    &p->batch, &p->batch_proofs);
			bound_sample(&after, o, 4);
			both = before;
			for (size_t i = 0; i < after.n && both.n < VB_SAMPLES_MAX; i++, both.n++) {
				both.single[both.n] = after.single[i];
				both.all[both.n] = after.all[i];
			}
			vb_bound_get(&before, &p->bound_before);
			vb_bound_get(&after, &p->bound_after);
			vb_bound_get(&both, &p->bound);
		}
		have += p->batch.ok;
		server_stop(&s);
		p->size_after = have;
		p->store_bytes_per_entry = (double)ps_dir_bytes(data) / (double)have;
		snprintf(path, sizeof path, "%s/search", data);
		p->search_bytes_per_entry = (double)ps_dir_bytes(path) / (double)have;
		sc->failures += p->single.failed + p->batch.failed;
		fprintf(stderr,
		    "size %" PRIu64 ": %.0f appends/s single (p99 %.1f ms), %.0f entries/s batch, "
		    "committer %.1f us/entry, %.0f proofs/s\n",
		    p->size, p->single.per_s, p->single.p99_us / 1e3, p->batch.per_s,
		    p->single.commit_cpu_us, p->proofs_per_s);
		sc->n++;
		sc->loadavg_end = ps_loadavg();
		scale_write(o, lim, sc);
	}
	sc->loadavg_end = ps_loadavg();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", data);
	if (system(cmd) != 0)
		fprintf(stderr, "closurelog-bench: could not remove %s\n", data);
}

/* ---- The HTTP front end's CPU per request ---- */

struct httpcpu {
	size_t n;
	double get_us, post_us;         /* HTTP-thread CPU per request, microseconds */
	double get_sys_us, post_sys_us; /* the kernel's part of it (syscalls, TCP) */
};

/* CPU seconds the server's HTTP threads have used: every thread but the
 * log's verifiers (Ed25519) and committer, so the front end's own cost. */
static double
http_cpu_seconds(pid_t pid, double *sys)
{
	static const char *const skip[] = {"cl-verify", "cl-commit", "cl-index", "cl-sigwatch"};

	return ps_cpu_seconds_except(pid, skip, 4, sys);
}

/* CPU time per request is steadier on a shared machine than throughput:
 * other load slows a run down but does not add to the server's own
 * threads' CPU time.  Small GETs (/checkpoint) and submissions, each
 * over 32 keep-alive connections; the verifiers' Ed25519 and the
 * committer's threads are left out (http_cpu_seconds). */
static void
bench_http_cpu(const struct opts *o, struct httpcpu *hc)
{
	struct server s;
	char data[PATH_MAX + 16];
	uint8_t **envs;
	size_t *lens;
	struct lg_req *reqs;
	struct lg_res *res;
	struct lg_stats st;
	struct lg_cfg cfg = {"127.0.0.1", 0, 32, 0, false, 0};
	char **paths;
	double c0, c1, cores, s0 = 0, s1 = 0;

	memset(hc, 0, sizeof *hc);
	hc->n = o->quick ? 20000 : 100000;
	snprintf(data, sizeof data, "%s/httpcpu", o->work);
	server_start(o, &s, data, NULL);
	cfg.port = s.port;
	if ((paths = calloc(hc->n, sizeof *paths)) == NULL)
		die("out of memory");
	for (size_t i = 0; i < hc->n; i++)
		paths[i] = "/checkpoint";
	(void)run_gets(&s, (const char *const *)paths, hc->n / 4, READ_CONNS, &st, &cores);
	c0 = http_cpu_seconds(s.pid, &s0);
	(void)run_gets(&s, (const char *const *)paths, hc->n, READ_CONNS, &st, &cores);
	c1 = http_cpu_seconds(s.pid, &s1);
	hc->get_us = (c1 - c0) * 1e6 / (double)hc->n;
	hc->get_sys_us = (s1 - s0) * 1e6 / (double)hc->n;
	free(paths);

	post_requests(&s, 0, hc->n, &envs, &lens, &reqs);
	if ((res = calloc(hc->n, sizeof *res)) == NULL)
		die("out of memory");
	s0 = s1 = 0;
	c0 = http_cpu_seconds(s.pid, &s0);
	if (lg_run(&cfg, reqs, hc->n, res, &st) != 0)
		die("load generator could not connect");
	c1 = http_cpu_seconds(s.pid, &s1);
	for (size_t i = 0; i < hc->n; i++) {
		if (res[i].status != 201)
			die("submission %zu: status %d", i, res[i].status);
	}
	hc->post_us = (c1 - c0) * 1e6 / (double)hc->n;
	hc->post_sys_us = (s1 - s0) * 1e6 / (double)hc->n;
	lg_res_free(res, hc->n);
	free(res);
	free_requests(envs, lens, reqs, hc->n);
	server_stop(&s);
}

static void
report_http_cpu(const struct httpcpu *hc)
{
	printf("\n%-44s %14s %12s\n", "HTTP front end CPU per request", "microseconds",
	    "of it kernel");
	printf(
	    "%-44s %14.1f %12.1f\n", "  GET /checkpoint (small read)", hc->get_us, hc->get_sys_us);
	printf("%-44s %14.1f %12.1f\n", "  POST /v1/entries (without Ed25519, commit)", hc->post_us,
	    hc->post_sys_us);
}

/* ---- Offline verification ---- */

struct verify {
	double per_s, bound_per_s;
	size_t n, failed;
};

static void
bench_verify(
    const struct opts *o, const struct appends *ap, const struct limits *lim, struct verify *vr)
{
	struct closurelog_verifier *v;
	char lk[NOTE_VKEY_MAX], subs[N_SUBMITTERS][NOTE_VKEY_MAX], err[256];
	const char *subp[N_SUBMITTERS];
	struct closurelog_result res;
	size_t rounds = o->quick ? 2 : 3;
	double t;

	memset(vr, 0, sizeof *vr);
	note_verifier_format(&ap->log_key, lk, sizeof lk);
	for (int i = 0; i < N_SUBMITTERS; i++) {
		struct note_verifier sv;

		note_signer_verifier(&submitters[i], &sv);
		note_verifier_format(&sv, subs[i], sizeof subs[i]);
		subp[i] = subs[i];
	}
	if (closurelog_verifier_new(lk, NULL, subp, N_SUBMITTERS, &v, err, sizeof err) != 0)
		die("verifier: %s", err);
	t = lg_now();
	for (size_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < ap->n_bundles; i++) {
			if (closurelog_verify_bundle(v, ap->bundles[i], ap->bundle_lens[i], NULL,
			        NULL, &res) != CLOSURELOG_OK)
				vr->failed++;
			vr->n++;
		}
	}
	vr->per_s = (double)vr->n / (lg_now() - t);
	vr->bound_per_s = lim->ed25519_verify_per_s / 2;
	closurelog_verifier_free(v);
}

/* ---- Output ---- */

static json_t *
limits_json(const struct limits *lim)
{
	json_t *jl = json_object();

	json_object_set_new(jl, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_set_new(jl, "ed25519_verify_per_s", json_real(lim->ed25519_verify_per_s));
	json_object_set_new(jl, "sha256_leaf_per_s", json_real(lim->sha256_leaf_per_s));
	json_object_set_new(jl, "lmdb_commit_per_s", json_real(lim->lmdb_commit_per_s));
	json_object_set_new(jl, "envelope_bytes", json_integer((json_int_t)lim->env_len));
	return jl;
}

/* How a bound came out of its samples (vbound.h). */
static json_t *
bound_json(const struct vb_bound *b)
{
	json_t *j = json_object();

	json_object_set_new(j, "per_s", json_real(b->per_s));
	json_object_set_new(j, "one_core_times_cores_per_s", json_real(b->single_x_cores));
	json_object_set_new(j, "all_cores_at_once_per_s", json_real(b->all_cores));
	json_object_set_new(j, "lowest_sample_per_s", json_real(b->lo));
	json_object_set_new(j, "highest_sample_per_s", json_real(b->hi));
	json_object_set_new(j, "samples", json_integer((json_int_t)b->n));
	return j;
}

static json_t *
phase_json(const struct phase *ph, double bound)
{
	json_t *j = json_object();

	json_object_set_new(j, "sent", json_integer((json_int_t)ph->sent));
	json_object_set_new(j, "requests", json_integer((json_int_t)ph->requests));
	json_object_set_new(j, "appended", json_integer((json_int_t)ph->ok));
	json_object_set_new(j, "failed", json_integer((json_int_t)ph->failed));
	json_object_set_new(j, "seconds", json_real(ph->seconds));
	json_object_set_new(j, "per_s", json_real(ph->per_s));
	json_object_set_new(j, "ratio_to_verify_bound", json_real(ph->per_s / bound));
	json_object_set_new(j, "request_p50_ms", json_real(ph->p50_us / 1e3));
	json_object_set_new(j, "request_p99_ms", json_real(ph->p99_us / 1e3));
	json_object_set_new(j, "committer_cpu_us_per_entry", json_real(ph->commit_cpu_us));
	json_object_set_new(j, "committer_wchar_per_entry", json_real(ph->commit_wchar));
	json_object_set_new(j, "indexer_cpu_us_per_entry", json_real(ph->index_cpu_us));
	json_object_set_new(j, "indexer_wchar_per_entry", json_real(ph->index_wchar));
	json_object_set_new(j, "write_bytes_per_entry", json_real(ph->write_bytes));
	json_object_set_new(j, "commits", json_real(ph->commits));
	json_object_set_new(j, "entries_per_commit", json_real(ph->batch_mean));
	json_object_set_new(j, "server_cores", json_real(ph->server_cores));
	json_object_set_new(j, "loadgen_cpu_us_per_request", json_real(ph->lg_cpu_us));
	json_object_set_new(j, "loadgen_kernel_us_per_request", json_real(ph->lg_sys_us));
	return j;
}

/* The size sweep's files: OUT/scale.json, OUT/scale.dat and OUT/scale.md,
 * rewritten after each size so that an interrupted sweep keeps what it
 * measured. */
static void
scale_write(const struct opts *o, const struct limits *lim, const struct scale *sc)
{
	char path[PATH_MAX + 32];
	json_t *j = json_object(), *jp = json_array();
	FILE *f;
	double bound = lim->ed25519_verify_per_s * (double)sysconf(_SC_NPROCESSORS_ONLN);

	json_object_set_new(j, "limits", limits_json(lim));
	json_object_set_new(j, "verify_bound_per_s_at_start", json_real(bound));
	json_object_set_new(j, "loadavg_start", json_real(sc->loadavg_start));
	json_object_set_new(j, "loadavg_end", json_real(sc->loadavg_end));
	json_object_set_new(j, "batch_entries", json_integer((json_int_t)o->batch_b));
	json_object_set_new(j, "batch_connections", json_integer(o->batch_conns));
	json_object_set_new(j, "failures", json_integer((json_int_t)sc->failures));
	for (size_t i = 0; i < sc->n; i++) {
		const struct scale_point *p = &sc->pt[i];
		json_t *r = json_object();

		json_object_set_new(r, "size", json_integer((json_int_t)p->size));
		json_object_set_new(r, "size_after", json_integer((json_int_t)p->size_after));
		json_object_set_new(r, "loadavg", json_real(p->loadavg));
		json_object_set_new(r, "bulk_entries", json_integer((json_int_t)p->bulk_entries));
		json_object_set_new(r, "bulk_load_s", json_real(p->bulk_s));
		json_object_set_new(r, "bulk_append_s", json_real(p->bulk_append_s));
		json_object_set_new(r, "bulk_per_s",
		    json_real(
		        p->bulk_append_s > 0 ? (double)p->bulk_entries / p->bulk_append_s : 0));
		json_object_set_new(r, "startup_s", json_real(p->startup_s));
		json_object_set_new(
		    r, "store_bytes_per_entry", json_real(p->store_bytes_per_entry));
		json_object_set_new(
		    r, "search_bytes_per_entry", json_real(p->search_bytes_per_entry));
		json_object_set_new(r, "proofs_per_s", json_real(p->proofs_per_s));
		json_object_set_new(r, "proof_p50_ms", json_real(p->proof_p50_us / 1e3));
		json_object_set_new(r, "proof_p99_ms", json_real(p->proof_p99_us / 1e3));
		json_object_set_new(r, "tiles_per_s", json_real(p->tiles_per_s));
		json_object_set_new(r, "tile_p50_ms", json_real(p->tile_p50_us / 1e3));
		json_object_set_new(r, "read_server_cores", json_real(p->read_cores));
		json_object_set_new(r, "verify_bound_per_s", json_real(p->bound.per_s));
		json_object_set_new(
		    r, "verify_bound_before_batch_per_s", json_real(p->bound_before.per_s));
		json_object_set_new(
		    r, "verify_bound_after_batch_per_s", json_real(p->bound_after.per_s));
		json_object_set_new(r, "verify_bound", bound_json(&p->bound));
		json_object_set_new(r, "single", phase_json(&p->single, p->bound.per_s));
		json_object_set_new(r, "batch", phase_json(&p->batch, p->bound.per_s));
		json_object_set_new(
		    r, "batch_proofs_checked", json_integer((json_int_t)p->batch_proofs));
		json_array_append_new(jp, r);
	}
	json_object_set_new(j, "sizes", jp);
	json_object_set_new(j, "quick", json_boolean(o->quick));
	snprintf(path, sizeof path, "%s/scale.json", o->out);
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		die("cannot write %s", path);
	json_decref(j);

	snprintf(path, sizeof path, "%s/scale.dat", o->out);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f,
	    "# size single_per_s batch_per_s single_p99_ms batch_p99_ms "
	    "committer_cpu_us_per_entry committer_wchar_per_entry write_bytes_per_entry "
	    "store_bytes_per_entry proofs_per_s verify_bound_per_s\n");
	for (size_t i = 0; i < sc->n; i++) {
		const struct scale_point *p = &sc->pt[i];

		fprintf(f, "%" PRIu64 " %.0f %.0f %.3f %.3f %.2f %.0f %.0f %.0f %.0f %.0f\n",
		    p->size, p->single.per_s, p->batch.per_s, p->single.p99_us / 1e3,
		    p->batch.p99_us / 1e3, p->single.commit_cpu_us, p->single.commit_wchar,
		    p->single.write_bytes, p->store_bytes_per_entry, p->proofs_per_s,
		    p->bound.per_s);
	}
	fclose(f);
	/* The tables of BENCHMARKS.md, "Appends as the log grows", ready to
	 * paste. */
	snprintf(path, sizeof path, "%s/scale.md", o->out);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f,
	    "Load average %.1f at the start, %.1f at the end; Ed25519 bound of %ld cores "
	    "%.0f/s at the start (one core's rate times the cores; each size's ratio is to the "
	    "bound sampled in 4 rounds just before and 4 just after its batch run: the mean of "
	    "all cores verifying the DSSE PAE of a bench envelope at once for 0.25 s, each "
	    "thread timing itself, with one core's rate times the cores beside it); "
	    "batches of %zu envelopes over %u connections.\n\n",
	    sc->loadavg_start, sc->loadavg_end, sysconf(_SC_NPROCESSORS_ONLN), bound, o->batch_b,
	    o->batch_conns);
	fprintf(f,
	    "| log size | load avg | single appends/s | p50 / p99 | batch entries/s | "
	    "of Ed25519 bound | batch request p50 / p99 | proofs/s | tiles/s | "
	    "bulk load entries/s | store B/entry (+ search indexes) |\n"
	    "|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sc->n; i++) {
		const struct scale_point *p = &sc->pt[i];

		fprintf(f,
		    "| %" PRIu64 " | %.1f | %.0f | %.0f / %.0f ms | %.0f | %.2f of %.0f | "
		    "%.2f / %.2f s | %.0f | %.0f | %.0f | %.0f (+ %.0f) |\n",
		    p->size, p->loadavg, p->single.per_s, p->single.p50_us / 1e3,
		    p->single.p99_us / 1e3, p->batch.per_s, p->batch.per_s / p->bound.per_s,
		    p->bound.per_s, p->batch.p50_us / 1e6, p->batch.p99_us / 1e6, p->proofs_per_s,
		    p->tiles_per_s,
		    p->bulk_append_s > 0 ? (double)p->bulk_entries / p->bulk_append_s : 0,
		    p->store_bytes_per_entry, p->search_bytes_per_entry);
	}
	fprintf(f,
	    "\nThe Ed25519 bound next to each batch run (`sizes[].verify_bound`):\n\n"
	    "| log size | bound/s (all cores at once) | samples (lowest – highest) | before / "
	    "after the run | one core × cores | batch of one core × cores |\n"
	    "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sc->n; i++) {
		const struct scale_point *p = &sc->pt[i];

		fprintf(f,
		    "| %" PRIu64 " | %.0f | %zu (%.0f – %.0f) | %.0f / %.0f | %.0f | %.2f |\n",
		    p->size, p->bound.per_s, p->bound.n, p->bound.lo, p->bound.hi,
		    p->bound_before.per_s, p->bound_after.per_s, p->bound.single_x_cores,
		    p->batch.per_s / p->bound.single_x_cores);
	}
	fprintf(f,
	    "\nThe write path per appended entry (`sizes[].single` and `sizes[].batch`):\n\n"
	    "| log size | phase | committer CPU µs/entry | committer wchar B/entry | "
	    "indexer CPU µs/entry | indexer wchar B/entry | process write_bytes B/entry | "
	    "entries/commit | server cores | generator µs/request (kernel) |\n"
	    "|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sc->n; i++) {
		for (int k = 0; k < 2; k++) {
			const struct phase *ph = k == 0 ? &sc->pt[i].single : &sc->pt[i].batch;

			fprintf(f,
			    "| %" PRIu64 " | %s | %.1f | %.0f | %.1f | %.0f | %.0f | %.0f | %.2f | "
			    "%.1f (%.1f)%s |\n",
			    sc->pt[i].size, k == 0 ? "single" : "batch", ph->commit_cpu_us,
			    ph->commit_wchar, ph->index_cpu_us, ph->index_wchar, ph->write_bytes,
			    ph->batch_mean, ph->server_cores, ph->lg_cpu_us, ph->lg_sys_us,
			    k == 0 ? "" : " per batch");
		}
	}
	fclose(f);
}

/* The size sweep's table on stdout. */
static void
report_scale(const struct limits *lim, const struct scale *sc)
{
	double bound = lim->ed25519_verify_per_s * (double)sysconf(_SC_NPROCESSORS_ONLN);

	printf("\nappends as the log grows (load average %.1f at the start, %.1f at the end; "
	       "Ed25519 bound of all cores %.0f/s)\n",
	    sc->loadavg_start, sc->loadavg_end, bound);
	printf("%10s %9s %8s %9s %6s %9s %9s %9s %8s %9s %9s %9s\n", "size", "single/s", "p99 ms",
	    "batch/s", "ratio", "batch p99", "commit us", "wchar B", "store B", "bulk/s",
	    "proofs/s", "lg us/req");
	for (size_t i = 0; i < sc->n; i++) {
		const struct scale_point *p = &sc->pt[i];

		printf("%10" PRIu64 " %9.0f %8.1f %9.0f %6.2f %9.1f %9.1f %9.0f %8.0f %9.0f %9.0f "
		       "%9.1f\n",
		    p->size, p->single.per_s, p->single.p99_us / 1e3, p->batch.per_s,
		    p->batch.per_s / p->bound.per_s, p->batch.p99_us / 1e3, p->single.commit_cpu_us,
		    p->single.commit_wchar, p->store_bytes_per_entry,
		    p->bulk_append_s > 0 ? (double)p->bulk_entries / p->bulk_append_s : 0,
		    p->proofs_per_s, p->single.lg_cpu_us);
	}
	printf("%-44s %14zu\n", "  envelopes not verified as appended", sc->failures);
}

static void
report(const struct opts *o, const struct limits *lim, const struct appends *ap,
    const struct verify *vr, const struct httpcpu *hc)
{
	char path[PATH_MAX + 32];
	json_t *j = json_object(), *ja = json_object(), *jc = json_array(), *jv = json_object(),
	       *jh;
	FILE *f;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* The append bound: every append costs one Ed25519 verification, and
	 * the machine has `cpus` cores for them. */
	double append_bound = lim->ed25519_verify_per_s * (double)cpus;

	printf("\nclosurelog benchmark%s: %ld cores\n\n", o->quick ? " (quick)" : "", cpus);
	printf("%-44s %14s %12s\n", "limit (measured in this run)", "per second", "");
	printf("%-44s %14.0f\n", "Ed25519 verifications, one core", lim->ed25519_verify_per_s);
	printf("%-44s %14.0f\n", "SHA-256 leaf hashes (envelope-sized), one core",
	    lim->sha256_leaf_per_s);
	printf("%-44s %14.0f\n", "durable LMDB commits", lim->lmdb_commit_per_s);
	printf("\n%-44s %14s %12s\n", "closurelogd", "value", "of limit");
	printf("%-44s %14.0f %11.0f%%\n", "appends/s (durable, verified; closed loop)", ap->per_s,
	    100 * ap->per_s / append_bound);
	printf("%-44s %11.1f ms\n", "  latency to signed checkpoint p50", ap->p50_us / 1e3);
	printf("%-44s %11.1f ms\n", "  p95", ap->p95_us / 1e3);
	printf("%-44s %11.1f ms\n", "  p99", ap->p99_us / 1e3);
	printf("%-44s %11.1f ms\n", "  max", ap->max_us / 1e3);
	printf("%-44s %14.1f\n", "  mean batch (entries per commit)", ap->batch_mean);
	printf("%-44s %14.2f %11.0f%%\n", "  server CPU (cores busy)", ap->server_cores,
	    100 * ap->server_cores / (double)cpus);
	printf("%-44s %14zu\n", "  answers whose proof did not verify", ap->bad_proofs);
	for (size_t i = 0; i < ap->n_curve; i++)
		printf("  offered %8.0f/s: achieved %8.0f/s, p50 %7.1f ms, p99 %7.1f ms\n",
		    ap->curve[i].offered, ap->curve[i].achieved, ap->curve[i].p50_us / 1e3,
		    ap->curve[i].p99_us / 1e3);
	printf("\n%-44s %14.0f %11.0f%%\n", "offline bundle verifications/s, one core", vr->per_s,
	    100 * vr->per_s / vr->bound_per_s);
	printf("%-44s %14.0f\n", "  bound: 2 Ed25519 verifies per bundle", vr->bound_per_s);
	printf("%-44s %14zu\n", "  bundles that failed", vr->failed);
	report_http_cpu(hc);

	json_object_set_new(j, "limits", limits_json(lim));
	json_object_set_new(ja, "entries", json_integer((json_int_t)ap->n));
	json_object_set_new(ja, "per_s", json_real(ap->per_s));
	json_object_set_new(ja, "ratio_to_verify_bound", json_real(ap->per_s / append_bound));
	json_object_set_new(ja, "p50_ms", json_real(ap->p50_us / 1e3));
	json_object_set_new(ja, "p95_ms", json_real(ap->p95_us / 1e3));
	json_object_set_new(ja, "p99_ms", json_real(ap->p99_us / 1e3));
	json_object_set_new(ja, "max_ms", json_real(ap->max_us / 1e3));
	json_object_set_new(ja, "batch_mean", json_real(ap->batch_mean));
	json_object_set_new(ja, "server_cores", json_real(ap->server_cores));
	json_object_set_new(ja, "bad_proofs", json_integer((json_int_t)ap->bad_proofs));
	for (size_t i = 0; i < ap->n_curve; i++) {
		json_t *c = json_object();

		json_object_set_new(c, "offered_per_s", json_real(ap->curve[i].offered));
		json_object_set_new(c, "achieved_per_s", json_real(ap->curve[i].achieved));
		json_object_set_new(c, "p50_ms", json_real(ap->curve[i].p50_us / 1e3));
		json_object_set_new(c, "p99_ms", json_real(ap->curve[i].p99_us / 1e3));
		json_array_append_new(jc, c);
	}
	json_object_set_new(ja, "latency_vs_offered_load", jc);
	json_object_set_new(j, "appends", ja);
	json_object_set_new(jv, "per_s", json_real(vr->per_s));
	json_object_set_new(jv, "bound_per_s", json_real(vr->bound_per_s));
	json_object_set_new(jv, "ratio", json_real(vr->per_s / vr->bound_per_s));
	json_object_set_new(jv, "failed", json_integer((json_int_t)vr->failed));
	json_object_set_new(j, "offline_verify", jv);
	jh = json_object();
	json_object_set_new(jh, "requests", json_integer((json_int_t)hc->n));
	json_object_set_new(jh, "get_checkpoint_us", json_real(hc->get_us));
	json_object_set_new(jh, "get_checkpoint_kernel_us", json_real(hc->get_sys_us));
	json_object_set_new(jh, "submit_us", json_real(hc->post_us));
	json_object_set_new(jh, "submit_kernel_us", json_real(hc->post_sys_us));
	json_object_set_new(j, "http_cpu_per_request", jh);
	json_object_set_new(j, "quick", json_boolean(o->quick));
	snprintf(path, sizeof path, "%s/results.json", o->out);
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		die("cannot write %s", path);
	json_decref(j);

	snprintf(path, sizeof path, "%s/latency.dat", o->out);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "# offered_per_s achieved_per_s p50_ms p99_ms\n");
	for (size_t i = 0; i < ap->n_curve; i++)
		fprintf(f, "%.0f %.0f %.3f %.3f\n", ap->curve[i].offered, ap->curve[i].achieved,
		    ap->curve[i].p50_us / 1e3, ap->curve[i].p99_us / 1e3);
	fclose(f);
}

static void
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: closurelog-bench [--quick] [--http-cpu | --scale-only] [--out DIR] [--bin "
	    "DIR]\n"
	    "                        [--sizes N,N,...] [--max-size N] [--batch B] "
	    "[--batch-conns C]\n"
	    "       closurelog-bench bulkload DATA_DIR TOTAL\n"
	    "       closurelog-bench submitters FILE\n"
	    "       closurelog-bench load PORT N CONNS [RATE] [FIRST]\n"
	    "       closurelog-bench batchload PORT DATA_DIR N B CONNS [FIRST]\n"
	    "       closurelog-bench proofs PORT N CONNS SIZE\n");
	exit(code);
}

/* Random inclusion-proof reads against a running closurelogd of SIZE
 * entries: closurelog-bench proofs PORT N CONNS SIZE.  Prints the rate,
 * the latency and the generator's own CPU per request (user and kernel),
 * so that a run shows what the client side costs on a shared machine. */
static int
proofs_main(char **argv)
{
	struct server s;
	size_t n = strtoull(argv[3], NULL, 10);
	unsigned long conns = strtoul(argv[4], NULL, 10);
	uint64_t size = strtoull(argv[5], NULL, 10), seed = 0x9e3779b97f4a7c15ULL;
	char **paths;
	struct lg_stats st;
	double cores;

	if (n == 0 || conns == 0 || conns > 4096 || size == 0)
		die("proofs: N, CONNS (1..4096) and SIZE must be positive numbers");
	if ((paths = calloc(n, sizeof *paths)) == NULL)
		die("out of memory");
	memset(&s, 0, sizeof s);
	s.port = (uint16_t)atoi(argv[2]);
	snprintf(s.hostport, sizeof s.hostport, "127.0.0.1:%u", (unsigned)s.port);
	for (size_t i = 0; i < n; i++) {
		char buf[96];

		snprintf(buf, sizeof buf, "/v1/proof/inclusion?index=%" PRIu64, rng(&seed) % size);
		if ((paths[i] = strdup(buf)) == NULL)
			die("out of memory");
	}
	printf("%.0f proofs/s",
	    run_gets(&s, (const char *const *)paths, n, (unsigned)conns, &st, &cores));
	printf(", p50 %.2f ms, p99 %.2f ms, generator %.1f us/request (%.1f in the kernel)\n",
	    st.p50_us / 1e3, st.p99_us / 1e3, st.cpu_s * 1e6 / (double)n,
	    st.cpu_sys_s * 1e6 / (double)n);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return 0;
}

/* Drive a running closurelogd (whose submitters file came from the
 * `submitters` subcommand) with N appends: for profiling it in isolation. */
static int
load_main(int argc, char **argv)
{
	struct server s;
	uint8_t **envs;
	size_t *lens, n = strtoull(argv[3], NULL, 10);
	struct lg_req *reqs;
	struct lg_res *res;
	struct lg_stats st;
	struct lg_cfg cfg = {"127.0.0.1", 0, 64, 0, false, 0};
	size_t ok = 0;

	keys_init();
	memset(&s, 0, sizeof s);
	s.port = (uint16_t)atoi(argv[2]);
	snprintf(s.hostport, sizeof s.hostport, "127.0.0.1:%u", (unsigned)s.port);
	cfg.port = s.port;
	cfg.conns = (unsigned)atoi(argv[4]);
	if (argc > 5)
		cfg.rate = atof(argv[5]);
	post_requests(&s, argc > 6 ? strtoull(argv[6], NULL, 10) : 0, n, &envs, &lens, &reqs);
	res = calloc(n, sizeof *res);
	if (lg_run(&cfg, reqs, n, res, &st) != 0)
		die("cannot connect");
	for (size_t i = 0; i < n; i++) {
		if (res[i].status == 201 || res[i].status == 200)
			ok++;
		else if (ok + 5 > i)
			fprintf(stderr, "request %zu: status %d\n", i, res[i].status);
	}
	printf("%zu/%zu ok, %.0f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", ok, n,
	    st.achieved_rate, st.p50_us / 1e3, st.p99_us / 1e3, st.max_us / 1e3);
	free_requests(envs, lens, reqs, n);
	free(res);
	return 0;
}

/* Drive a running closurelogd over DATA_DIR (for its log key; its
 * submitters file from the `submitters` subcommand) with N envelopes in
 * batches of B over CONNS connections, every answer checked: for
 * profiling the batch path in isolation. */
static int
batchload_main(int argc, char **argv)
{
	struct server s;
	size_t n = strtoull(argv[4], NULL, 10), bsz = strtoull(argv[5], NULL, 10);
	unsigned conns = (unsigned)strtoul(argv[6], NULL, 10);
	uint64_t first = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
	struct lg_batch_tally t;
	struct lg_stats st;
	char pub[PATH_MAX + 16];
	struct opts o = {.quick = false};
	struct vb vb;
	struct vb_bound b;

	if (bsz < 1 || bsz > CL_BATCH_MAX || conns < 1 || conns > 4096 || n < bsz)
		die("batchload: B 1..%d, CONNS 1..4096, N >= B", CL_BATCH_MAX);
	keys_init();
	memset(&s, 0, sizeof s);
	s.port = (uint16_t)atoi(argv[2]);
	snprintf(s.hostport, sizeof s.hostport, "127.0.0.1:%u", (unsigned)s.port);
	snprintf(pub, sizeof pub, "%s/log.pub", argv[3]);
	if (key_verifier_load(pub, &s.log_key, NULL) != 0)
		die("cannot read %s", pub);
	bound_init();
	vb_init(&vb, &bound_m, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	bound_sample(&vb, &o, 4);
	batch_run(&s, first, n / bsz, bsz, conns, 0, 0, NULL, &t, &st);
	bound_sample(&vb, &o, 4);
	vb_bound_get(&vb, &b);
	printf("%zu/%zu appended and proved, %zu failed, %.0f entries/s, request p50 %.1f ms, "
	       "p99 %.1f ms, max %.1f ms\n",
	    t.appended, n / bsz * bsz, lg_batch_failures(&t), t.appended / st.seconds,
	    st.p50_us / 1e3, st.p99_us / 1e3, st.max_us / 1e3);
	printf("%.3f of the Ed25519 bound %.0f/s (%u cores at once, %zu samples %.0f-%.0f); "
	       "%.3f of one core x %u %.0f/s\n",
	    t.appended / st.seconds / b.per_s, b.per_s, vb.cores, b.n, b.lo, b.hi,
	    t.appended / st.seconds / b.single_x_cores, vb.cores, b.single_x_cores);
	return lg_batch_failures(&t) == 0 ? 0 : 1;
}

/* Parse "1e3,1e5,1000000" into o->sizes, ascending. */
static void
parse_sizes(struct opts *o, const char *arg)
{
	const char *p = arg;

	o->n_sizes = 0;
	while (*p != '\0') {
		char *end;
		double v = strtod(p, &end);

		if (end == p || v < 1 || v > 1e9 || v != (double)(uint64_t)v ||
		    o->n_sizes == SCALE_MAX ||
		    (o->n_sizes > 0 && (uint64_t)v <= o->sizes[o->n_sizes - 1]) ||
		    (*end != ',' && *end != '\0')) {
			fprintf(stderr,
			    "closurelog-bench: --sizes: want up to %d ascending sizes from 1 to "
			    "1e9, "
			    "like 1e3,1e5\n",
			    SCALE_MAX);
			exit(2);
		}
		o->sizes[o->n_sizes++] = (uint64_t)v;
		p = *end == ',' ? end + 1 : end;
	}
}

int
main(int argc, char **argv)
{
	static const uint64_t full_sizes[] = {1000, 100000, 1000000, 10000000};
	static const uint64_t quick_sizes[] = {1000, 10000};
	struct opts o;
	struct limits lim;
	struct appends ap;
	struct verify vr;
	struct httpcpu hc;
	struct scale sc;
	char self[OPT_PATH];
	const char *sizes = NULL;
	ssize_t n;
	int rc = 0;

	if (sodium_init() < 0)
		die("libsodium");
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "bulkload") == 0)
		return bulkload_main(argv[2], strtoull(argv[3], NULL, 10));
	/* The answers a run keeps for checking: 30 000 single ones of about
	 * 1.3 KB, or 150 000 entries' worth of batch answers, 0.9 KB each. */
	if (!(argc == 4 && strcmp(argv[1], "bulkload") == 0))
		lg_heap_warm(HEAP_WARM);
	if (argc >= 5 && strcmp(argv[1], "load") == 0)
		return load_main(argc, argv);
	if (argc >= 7 && strcmp(argv[1], "batchload") == 0)
		return batchload_main(argc, argv);
	if (argc == 6 && strcmp(argv[1], "proofs") == 0)
		return proofs_main(argv);
	if (argc == 3 && strcmp(argv[1], "submitters") == 0) {
		keys_init();
		write_submitters(argv[2]);
		return 0;
	}
	memset(&o, 0, sizeof o);
	memset(&ap, 0, sizeof ap);
	memset(&vr, 0, sizeof vr);
	o.max_size = 10000000;
	/* As a CI farm would submit: 500 envelopes per request is `closurelog
	 * submit`'s own batch size, and 8 connections are 8 CI jobs
	 * submitting at once.  4 000 envelopes in flight keep the verifiers
	 * fed: the verify queue, sampled every 2 ms through a run, held
	 * 2 000-3 900 jobs and never drained before the run's tail. */
	o.batch_b = 500;
	o.batch_conns = 8;
	snprintf(o.out, sizeof o.out, "build/bench");
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) > 0) {
		self[n] = '\0';
		snprintf(o.bin, sizeof o.bin, "%s", self);
		*strrchr(o.bin, '/') = '\0';
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0)
			usage(0);
		else if (strcmp(argv[i], "--quick") == 0)
			o.quick = true;
		else if (strcmp(argv[i], "--http-cpu") == 0)
			o.http_cpu_only = true;
		else if (strcmp(argv[i], "--scale-only") == 0)
			o.scale_only = true;
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			snprintf(o.out, sizeof o.out, "%s", argv[++i]);
		else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
			snprintf(o.bin, sizeof o.bin, "%s", argv[++i]);
		else if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc)
			o.max_size = (uint64_t)strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
			sizes = argv[++i];
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			o.batch_b = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--batch-conns") == 0 && i + 1 < argc)
			o.batch_conns = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			usage(2);
	}
	if (o.batch_b < 1 || o.batch_b > CL_BATCH_MAX || o.batch_conns < 1 ||
	    o.batch_conns > 4096) {
		fprintf(stderr, "closurelog-bench: --batch 1..%d, --batch-conns 1..4096\n",
		    CL_BATCH_MAX);
		exit(2);
	}
	if (sizes != NULL) {
		parse_sizes(&o, sizes);
	} else {
		const uint64_t *d = o.quick ? quick_sizes : full_sizes;

		o.n_sizes = o.quick ? 2 : 4;
		memcpy(o.sizes, d, o.n_sizes * sizeof *d);
	}
	mkdir(o.out, 0755);
	if (strlen(o.out) > OPT_PATH - 16)
		die("--out: path too long");
	snprintf(o.work, sizeof o.work, "%.1000s/work-XXXXXX", o.out);
	if (mkdtemp(o.work) == NULL)
		die("mkdtemp: %s", strerror(errno));
	cleanup_arm(o.work);
	keys_init();
	bound_init();
	if (!o.scale_only) {
		fprintf(stderr, "HTTP front end CPU...\n");
		bench_http_cpu(&o, &hc);
		if (o.http_cpu_only) {
			report_http_cpu(&hc);
			goto done;
		}
	}
	fprintf(stderr, "limits...\n");
	measure_limits(&o, &lim);
	if (!o.scale_only) {
		fprintf(stderr, "appends...\n");
		bench_appends(&o, &ap);
		fprintf(stderr, "offline verification...\n");
		bench_verify(&o, &ap, &lim, &vr);
		report(&o, &lim, &ap, &vr, &hc);
	}
	fprintf(stderr, "appends and reads as the log grows...\n");
	bench_scale(&o, &lim, &sc);
	report_scale(&lim, &sc);
	rc = ap.bad_proofs == 0 && vr.failed == 0 && sc.failures == 0 ? 0 : 1;
done:
	cleanup_run();
	return rc;
}
