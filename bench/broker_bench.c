/*
 * broker_bench.c: what a credential broker pays at a renewal, next to the
 * limits measured in the same run.
 *
 *   nar-hash  the NAR walker on one large file (in the page cache), against
 *             libsodium's single-core SHA-256 over the same number of bytes
 *             in memory: the walker cannot beat that bound, and should be
 *             within 0.8 of it (it adds only NAR framing and read()).
 *   decide    closurelog_policy_decide() on a policy of 10^5 roots, one
 *             thread and one thread per core, on one shared policy; and
 *             the time to load that policy.
 *
 * Usage: broker_bench [--quick] [--dir DIR] [--json FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "closurelog/verify.h"
#include "nar.h"
#include "nix.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "broker_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CPU time of this process (one thread runs at a time here), in seconds:
 * on a shared machine wall time also measures the neighbours. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct rate {
	double wall, cpu; /* MB/s, best run */
};

static void
best(struct rate *r, size_t total, double wall, double cpu)
{
	if (total / wall / 1e6 > r->wall)
		r->wall = total / wall / 1e6;
	if (total / cpu / 1e6 > r->cpu)
		r->cpu = total / cpu / 1e6;
}

/* One SHA-256 pass over `total` bytes of buf (cycled). */
static void
sha256_once(const uint8_t *buf, size_t len, size_t total, struct rate *r)
{
	crypto_hash_sha256_state st;
	uint8_t out[32];
	double t0 = now(), c0 = cpu_now();

	crypto_hash_sha256_init(&st);
	for (size_t done = 0; done < total; done += len)
		crypto_hash_sha256_update(&st, buf, len);
	crypto_hash_sha256_final(&st, out);
	best(r, total, now() - t0, cpu_now() - c0);
}

/* One nar_hash of the file. */
static void
nar_once(const char *path, size_t total, struct rate *r)
{
	uint8_t h[NAR_HASH_LEN];
	char why[CL_WHY_MAX];
	double t0 = now(), c0 = cpu_now();

	if (nar_hash(path, h, why) != 0) {
		fprintf(stderr, "broker_bench: nar_hash: %s\n", why);
		exit(1);
	}
	best(r, total, now() - t0, cpu_now() - c0);
}

/* ---- Policy decisions ---- */

#define N_ROOTS 100000
#define N_REQS  1024

static const char nix32[] = "0123456789abcdfghijklmnpqrsvwxyz";

static void
store_path(unsigned n, char out[64])
{
	uint8_t h[32];

	crypto_hash_sha256(h, (const uint8_t *)&n, sizeof n);
	memcpy(out, "/nix/store/", 11);
	for (int i = 0; i < 32; i++)
		out[11 + i] = nix32[h[i] % 32];
	snprintf(out + 43, 21, "-app-%u", n);
}

static void
nar_of(unsigned n, char out[64])
{
	struct nix_hash h = {.algo = NIX_SHA256, .len = 32};

	n ^= 0x5a5a5a5a;
	crypto_hash_sha256(h.bytes, (const uint8_t *)&n, sizeof n);
	nix_hash_sri(&h, out, 64);
}

static struct {
	char root[64], prev[64], nar[64];
	uint64_t minutes;
	struct closurelog_request req;
} reqs[N_REQS];

struct decider {
	const struct closurelog_policy *p;
	double seconds;
	uint64_t n, allowed;
};

static void *
decide_run(void *arg)
{
	struct decider *d = arg;
	struct closurelog_decision out;
	double t0 = now();
	uint64_t i = 0;

	do {
		for (int k = 0; k < 1000; k++, i++) {
			if (closurelog_policy_decide(d->p, &reqs[i % N_REQS].req, &out) == 0)
				d->allowed += (uint64_t)out.allow;
		}
	} while (now() - t0 < d->seconds);
	d->seconds = now() - t0;
	d->n = i;
	return NULL;
}

static double
decide_rate(const struct closurelog_policy *p, int threads, double seconds)
{
	pthread_t t[64];
	struct decider d[64];
	double rate = 0;

	for (int i = 0; i < threads; i++) {
		d[i] = (struct decider){p, seconds, 0, 0};
		if (pthread_create(&t[i], NULL, decide_run, &d[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		rate += (double)d[i].n / d[i].seconds;
	}
	return rate;
}

static void
bench_decide(bool quick, double *load_s, double *one, double *all, int *cores)
{
	json_t *roots = json_object(), *appr = json_array(), *doc;
	struct closurelog_policy *p;
	char err[CLOSURELOG_ERR_MAX], *text;
	double t0;
	long nc = sysconf(_SC_NPROCESSORS_ONLN);

	for (unsigned i = 0; i < N_ROOTS; i++) {
		char r[64], s[64], n[64];

		store_path(i, r);
		store_path(i + 1, s);
		nar_of(i, n);
		json_object_set_new(
		    roots, r, json_pack("{s:s, s:[s]}", "narHash", n, "successors", s));
		if (i % 2 == 0)
			json_array_append_new(appr, json_string(r));
	}
	doc = json_pack("{s:{s:o, s:o}, s:{s:i}}", "nix", "approved_roots", appr, "roots", roots,
	    "policies", "max_minutes", 15);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		die("json_dumps");
	t0 = now();
	if (closurelog_policy_load(
	        (const uint8_t *)text, strlen(text), NULL, &p, err, sizeof err) != 0) {
		fprintf(stderr, "broker_bench: policy: %s\n", err);
		exit(1);
	}
	*load_s = now() - t0;
	free(text);
	/* Requests: approved roots, successor moves, mismatches, unknowns. */
	for (unsigned i = 0; i < N_REQS; i++) {
		unsigned r = (i * 7919u) % N_ROOTS;

		store_path(r, reqs[i].root);
		store_path(r ? r - 1 : 0, reqs[i].prev);
		nar_of(i % 5 == 0 ? r + 1 : r, reqs[i].nar);
		reqs[i].minutes = i % 20;
		reqs[i].req = (struct closurelog_request){
		    reqs[i].root, reqs[i].nar, i % 3 == 0 ? reqs[i].prev : NULL, &reqs[i].minutes};
	}
	*cores = nc < 1 ? 1 : nc > 64 ? 64 : (int)nc;
	*one = decide_rate(p, 1, quick ? 0.5 : 2.0);
	*all = decide_rate(p, *cores, quick ? 0.5 : 2.0);
	closurelog_policy_free(p);
}

int
main(int argc, char **argv)
{
	double load_s, one, all;
	int cores;
	const char *json = NULL, *dir = NULL;
	size_t total = (size_t)512 << 20, chunk = NAR_BUF_SIZE;
	char path[4096];
	uint8_t *buf;
	struct rate sha = {0}, nar = {0}, warm = {0};
	int fd, runs = 5;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			total = (size_t)64 << 20;
			runs = 3;
		} else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
			json = argv[++i];
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			fprintf(
			    stderr, "usage: broker_bench [--quick] [--dir DIR] [--json FILE]\n");
			return 2;
		}
	}
	if (sodium_init() < 0)
		return 1;
	if (dir == NULL)
		dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof path, "%s/broker-bench-XXXXXX", dir);
	if ((fd = mkstemp(path)) < 0)
		die("mkstemp");
	if ((buf = malloc(chunk)) == NULL)
		die("malloc");
	randombytes_buf(buf, chunk);
	for (size_t done = 0; done < total; done += chunk) {
		if (write(fd, buf, chunk) != (ssize_t)chunk)
			die("write");
	}
	close(fd);

	/* Warm the page cache, then interleave the runs so that both see the
	 * same machine load; keep each one's best. */
	nar_once(path, total, &warm);
	for (int r = 0; r < runs; r++) {
		sha256_once(buf, chunk, total, &sha);
		nar_once(path, total, &nar);
	}
	unlink(path);
	free(buf);

	bench_decide(runs == 3, &load_s, &one, &all, &cores);

	printf("%-34s %10s %10s %7s\n", "broker", "MB/s", "bound", "ratio");
	printf("%-34s %10.0f %10.0f %7.3f\n", "nar-hash, one large file (CPU time)", nar.cpu,
	    sha.cpu, nar.cpu / sha.cpu);
	printf("%-34s %10.0f %10.0f %7.3f\n", "nar-hash, one large file (wall)", nar.wall, sha.wall,
	    nar.wall / sha.wall);
	printf("  (%zu MiB file in the page cache, best of %d interleaved runs; bound: libsodium\n"
	       "  SHA-256 on one core over the same bytes in memory)\n",
	    total >> 20, runs);
	printf("%-34s %10.0f decisions/s\n", "policy decide, 1 thread", one);
	printf("%-34s %10.0f decisions/s\n", "policy decide, 1 thread per core", all);
	printf("  (%d roots, %d cores; loading the policy took %.2f s)\n", N_ROOTS, cores, load_s);
	if (json != NULL) {
		FILE *f = fopen(json, "w");

		if (f == NULL)
			die(json);
		fprintf(f,
		    "{\"nar_hash\": {\"file_mib\": %zu, \"runs\": %d, \"cpu_mb_per_s\": %.1f, "
		    "\"sha256_cpu_mb_per_s\": %.1f, \"ratio_cpu\": %.3f, \"wall_mb_per_s\": %.1f, "
		    "\"sha256_wall_mb_per_s\": %.1f, \"ratio_wall\": %.3f},\n"
		    " \"decide\": {\"roots\": %d, \"load_seconds\": %.3f, \"per_s_1_thread\": "
		    "%.0f, "
		    "\"threads\": %d, \"per_s_all_threads\": %.0f}}\n",
		    total >> 20, runs, nar.cpu, sha.cpu, nar.cpu / sha.cpu, nar.wall, sha.wall,
		    nar.wall / sha.wall, N_ROOTS, load_s, one, cores, all);
		fclose(f);
	}
	return 0;
}
