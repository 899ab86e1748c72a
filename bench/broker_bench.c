/*
 * broker_bench.c: what a credential broker pays at a renewal, next to the
 * limits measured in the same run.
 *
 *   nar-hash  the NAR walker on one large file (in the page cache), against
 *             libsodium's single-core SHA-256 over the same number of bytes
 *             in memory: the walker cannot beat that bound, and should be
 *             within 0.8 of it (it adds only NAR framing and read()).
 *
 * Usage: broker_bench [--quick] [--dir DIR] [--json FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "nar.h"

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

/* Best of `runs` SHA-256 passes over `total` bytes of buf (cycled), MB/s. */
static double
sha256_rate(const uint8_t *buf, size_t len, size_t total, int runs)
{
	double best = 0;

	for (int r = 0; r < runs; r++) {
		crypto_hash_sha256_state st;
		uint8_t out[32];
		double t0 = now(), dt;

		crypto_hash_sha256_init(&st);
		for (size_t done = 0; done < total; done += len)
			crypto_hash_sha256_update(&st, buf, len);
		crypto_hash_sha256_final(&st, out);
		dt = now() - t0;
		if (total / dt / 1e6 > best)
			best = total / dt / 1e6;
	}
	return best;
}

static double
nar_rate(const char *path, size_t total, int runs)
{
	double best = 0;

	for (int r = 0; r < runs; r++) {
		uint8_t h[NAR_HASH_LEN];
		char why[CL_WHY_MAX];
		double t0 = now(), dt;

		if (nar_hash(path, h, why) != 0) {
			fprintf(stderr, "broker_bench: nar_hash: %s\n", why);
			exit(1);
		}
		dt = now() - t0;
		if (total / dt / 1e6 > best)
			best = total / dt / 1e6;
	}
	return best;
}

int
main(int argc, char **argv)
{
	const char *json = NULL, *dir = NULL;
	size_t total = (size_t)512 << 20, chunk = NAR_BUF_SIZE;
	char path[4096];
	uint8_t *buf;
	double sha, nar;
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
			fprintf(stderr, "usage: broker_bench [--quick] [--dir DIR] [--json FILE]\n");
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

	/* Interleave, so that both see the same machine load. */
	nar = nar_rate(path, total, 1); /* warms the page cache */
	sha = sha256_rate(buf, chunk, total, runs);
	nar = nar_rate(path, total, runs);
	unlink(path);
	free(buf);

	printf("%-34s %10s %10s %7s\n", "broker", "MB/s", "bound", "ratio");
	printf("%-34s %10.0f %10.0f %7.3f\n", "nar-hash, one large file", nar, sha, nar / sha);
	printf("  (%zu MiB file, best of %d; bound: libsodium SHA-256, one core, in memory)\n",
	    total >> 20, runs);
	if (json != NULL) {
		FILE *f = fopen(json, "w");

		if (f == NULL)
			die(json);
		fprintf(f,
		    "{\"nar_hash\": {\"file_mib\": %zu, \"runs\": %d, \"mb_per_s\": %.1f, "
		    "\"sha256_mb_per_s\": %.1f, \"ratio\": %.3f}}\n",
		    total >> 20, runs, nar, sha, nar / sha);
		fclose(f);
	}
	return 0;
}
