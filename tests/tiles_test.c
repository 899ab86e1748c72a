/*
 * tiles_test.c: closurelogd --tiles-dir when writing fails.  A tiles
 * directory whose "tile" is a plain file makes every write fail: the
 * server must say so once (not at every checkpoint), keep serving and
 * committing, and write the files as soon as the obstacle is gone, saying
 * that too.  The files it then writes are the tiles it serves.  And under
 * any umask, what it creates is readable by the web server (0755, 0644).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "srvutil.h"
#include "testutil.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static char *
server_stderr(const char *dir, size_t *len)
{
	return (char *)h_read(h_path(dir, "data.stderr"), len);
}

/* Submit envelopes first .. first + n - 1; each must be logged. */
static void
submit(const struct h_server *s, uint64_t first, size_t n)
{
	uint8_t **envs = calloc(n, sizeof *envs);
	size_t *lens = calloc(n, sizeof *lens);
	struct su_result *res = calloc(n, sizeof *res);

	assert_non_null(envs);
	assert_non_null(lens);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++)
		envs[i] = su_envelope(first + i, NULL, &lens[i]);
	/* One thread: one batch, one checkpoint per submission. */
	su_blast(s, envs, lens, n, 1, res);
	for (size_t i = 0; i < n; i++) {
		if (res[i].status != 201)
			fail_msg("submission %zu: %ld", (size_t)(first + i), res[i].status);
		free(envs[i]);
	}
	su_results_free(res, n);
	free(res);
	free(envs);
	free(lens);
}

static void
test_write_failure_reported_once_then_recovered(void **state)
{
	char dir[512], tiles[600];
	const char *extra[] = {"--tiles-dir", tiles, NULL};
	struct h_server s;
	char *err, u[128];
	size_t len, wlen, glen;
	uint8_t *want, *got;
	long status = 0;
	double deadline;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(tiles, sizeof tiles, "%s/tiles", dir);
	assert_int_equal(mkdir(tiles, 0755), 0);
	h_write(h_path(tiles, "tile"), "not a directory", 15);
	su_start(&s, dir, extra);

	/* 256 entries complete a tile; the 10 after it are 10 more checkpoints
	 * that find the same obstacle. */
	submit(&s, 0, 266);
	err = server_stderr(dir, &len);
	if (count(err, "closurelogd: tiles: ") != 1)
		fail_msg("want the tiles failure reported once, got:\n%s", err);
	assert_int_equal(count(err, "written again"), 0);
	free(err);

	/* Gone: the next checkpoint writes the tile and the bundle. */
	assert_int_equal(unlink(h_path(tiles, "tile")), 0);
	submit(&s, 266, 1);
	err = server_stderr(dir, &len);
	assert_int_equal(count(err, "closurelogd: tiles are written again"), 1);
	free(err);
	deadline = (double)time(NULL) + 30;
	while (access(h_path(tiles, "tile/0/000"), F_OK) != 0 && (double)time(NULL) < deadline)
		usleep(10000);
	for (int i = 0; i < 2; i++) {
		const char *path = i == 0 ? "tile/0/000" : "tile/entries/000";

		snprintf(u, sizeof u, "%s/%s", s.url, path);
		assert_int_equal(h_http("GET", u, NULL, 0, &status, &want, &wlen), 0);
		assert_int_equal(status, 200);
		got = h_read(h_path(tiles, path), &glen);
		assert_int_equal(glen, wlen);
		assert_memory_equal(got, want, wlen);
		free(got);
		free(want);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	h_rmrf(dir);
}

/* Under umask 077 the directory closurelogd creates, its subdirectories
 * and its files must still be readable by the web server's user. */
static void
test_modes_whatever_the_umask(void **state)
{
	char dir[512], tiles[600];
	const char *extra[] = {"--tiles-dir", tiles, NULL};
	static const struct {
		const char *path;
		mode_t mode;
	} want[] = {
	    {"", 0755},
	    {"tile", 0755},
	    {"tile/0", 0755},
	    {"tile/entries", 0755},
	    {"tile/0/000", 0644},
	    {"tile/entries/000", 0644},
	};
	struct h_server s;
	mode_t old;
	double deadline;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(tiles, sizeof tiles, "%s/tiles", dir);
	old = umask(077); /* the server inherits it */
	su_start(&s, dir, extra);
	umask(old);
	submit(&s, 0, 256);
	deadline = (double)time(NULL) + 30;
	while (
	    access(h_path(tiles, "tile/entries/000"), F_OK) != 0 && (double)time(NULL) < deadline)
		usleep(10000);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *path = want[i].path[0] == '\0' ? tiles : h_path(tiles, want[i].path);
		mode_t got = tu_mode(path);

		if (got != want[i].mode)
			fail_msg("%s: mode %04o, want %04o", path, (unsigned)got,
			    (unsigned)want[i].mode);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_failure_reported_once_then_recovered),
	    cmocka_unit_test(test_modes_whatever_the_umask),
	};

	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
