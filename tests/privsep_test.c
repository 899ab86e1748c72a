/*
 * privsep_test.c: a real closurelogd keeps its log key out of the process
 * that serves HTTP.  After the server has started, accepted a submission
 * and signed its checkpoint, the test reads every readable mapping of the
 * main process through /proc/PID/mem and looks for the key's secret seed
 * (read from the key file) and for the key file's text: neither may be
 * there.  As a positive control the same scan must find the seed in the
 * signer process, which must also be in seccomp strict mode.  (Mappings
 * larger than 4 GiB are skipped: that is the LMDB map, a file the key is
 * never written to, and sanitizer shadow memory.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "harness.h"
#include "key.h"
#include "testutil.h"

#define ROOT        "/nix/store/0c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source"
#define NAR         "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define SKIP_LARGER ((uint64_t)4 << 30)
#define CHUNK       (1024 * 1024)

/* Whether needle[0..n) occurs in any readable mapping of pid. */
static int
mem_contains(pid_t pid, const uint8_t *needle, size_t n)
{
	char path[64], line[1024];
	uint8_t *buf = malloc(CHUNK + n);
	FILE *maps;
	int mem, found = 0, regions = 0;

	assert_non_null(buf);
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	assert_non_null(maps = fopen(path, "r"));
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	if (mem < 0)
		fail_msg("%s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof line, maps) != NULL) {
		uint64_t lo, hi;
		char perms[8];

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &lo, &hi, perms) != 3)
			fail_msg("bad maps line: %s", line);
		if (perms[0] != 'r' || hi - lo > SKIP_LARGER)
			continue;
		regions++;
		/* Chunks overlap by n bytes so that no match straddles two. */
		for (uint64_t at = lo; !found && at < hi; at += CHUNK) {
			size_t want = (size_t)(hi - at < CHUNK + n ? hi - at : CHUNK + n);
			ssize_t got = pread(mem, buf, want, (off_t)at);

			if (got < (ssize_t)n)
				continue; /* [vvar] and friends cannot be read */
			for (size_t i = 0; i + n <= (size_t)got; i++) {
				if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0) {
					found = 1;
					break;
				}
			}
		}
	}
	assert_true(regions > 0);
	close(mem);
	fclose(maps);
	free(buf);
	return found;
}

/* The one child process of pid. */
static pid_t
child_of(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t child = 0;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], *p;
		FILE *f;
		int ppid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof buf, f);
		fclose(f);
		/* pid (comm) state ppid: comm may hold spaces, so go from ')'. */
		if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 2, "%*c %d", &ppid) != 1)
			continue;
		if (ppid == (int)pid) {
			child = (pid_t)atoi(e->d_name);
			n++;
		}
	}
	closedir(d);
	assert_int_equal(n, 1);
	return child;
}

static int
seccomp_mode(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int mode = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "Seccomp:", 8) == 0)
			mode = atoi(line + 8);
	}
	fclose(f);
	return mode;
}

static void
test_key_not_in_server(void **state)
{
	char dir[512], data[600], why[CL_WHY_MAX];
	struct h_server s;
	struct h_run r;
	struct note_signer key;
	uint8_t *text;
	size_t len;
	pid_t signer;
	const char *extra[] = {"--submitters", NULL, NULL};

	(void)state;
	h_tmpdir(dir, sizeof dir);
	if (h_closurelog(&r, "keygen", "ci.example.com/builder", h_path(dir, "ci"), NULL) != 0)
		fail_msg("keygen: %s", r.err);
	h_run_free(&r);
	extra[1] = h_path(dir, "ci.pub");
	snprintf(data, sizeof data, "%s/data", dir);
	h_server_start(&s, data, extra);
	if (h_closurelog(&r, "attest", "--key", h_path(dir, "ci.key"), "--root", ROOT, "--nar-hash",
	        NAR, "--flake-lock-digest", NAR, "-o", h_path(dir, "env"), NULL) != 0)
		fail_msg("attest: %s", r.err);
	h_run_free(&r);
	if (h_closurelog(&r, "submit", "--log", s.url, "--log-key", s.pub, "-o",
	        h_path(dir, "bundle"), h_path(dir, "env"), NULL) != 0)
		fail_msg("submit: %s", r.err);
	h_run_free(&r);

	assert_int_equal(key_signer_load(h_path(data, "log.key"), &key, why), 0);
	text = h_read(h_path(data, "log.key"), &len);
	while (len > 0 && text[len - 1] == '\n')
		len--;
	signer = child_of(s.pid);

	assert_false(mem_contains(s.pid, key.sk, 32));
	assert_false(mem_contains(s.pid, text, len));
	assert_true(mem_contains(signer, key.sk, 32));
	assert_int_equal(seccomp_mode(signer), 1); /* SECCOMP_MODE_STRICT */
	assert_int_equal(seccomp_mode(s.pid), 0);

	/* It stops cleanly, and has reaped the signer by then. */
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	assert_int_equal(kill(signer, 0), -1);
	assert_int_equal(errno, ESRCH);
	sodium_memzero(&key, sizeof key);
	sodium_memzero(text, len);
	free(text);
	h_rmrf(dir);
}

/* The signer process dies (SIGKILL): closurelogd says so and exits with
 * status 1 by itself, for its supervisor to restart it, instead of
 * answering 500 to every submission. */
static void
test_signer_death(void **state)
{
	char dir[512], data[600], errf[700], want[128], *err;
	const char *extra[] = {"--submitters", NULL, NULL};
	struct h_server s;
	struct h_run r;
	struct timespec t0, t;
	size_t len;
	pid_t signer, got = 0;
	int st = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	if (h_closurelog(&r, "keygen", "ci.example.com/builder", h_path(dir, "ci"), NULL) != 0)
		fail_msg("keygen: %s", r.err);
	h_run_free(&r);
	extra[1] = h_path(dir, "ci.pub");
	snprintf(data, sizeof data, "%s/data", dir);
	h_server_start(&s, data, extra);
	signer = child_of(s.pid);
	assert_int_equal(kill(signer, SIGKILL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		while ((got = waitpid(s.pid, &st, WNOHANG)) < 0 && errno == EINTR)
			;
		if (got == s.pid)
			break;
		usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 60);
	if (got != s.pid) {
		h_server_stop(&s, SIGKILL);
		fail_msg("closurelogd kept running without its signer");
	}
	s.pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	snprintf(errf, sizeof errf, "%s.stderr", data);
	err = (char *)h_read(errf, &len);
	snprintf(want, sizeof want, "FATAL: the signer process (pid %d) was killed by signal %d",
	    (int)signer, SIGKILL);
	if (strstr(err, want) == NULL)
		fail_msg("no clear line about the signer in:\n%s", err);
	free(err);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_not_in_server),
	    cmocka_unit_test(test_signer_death),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
