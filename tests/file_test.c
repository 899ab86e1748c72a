/*
 * file_test.c: the capped reader and the durable writer (proto/file.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"
#include "file.h"
#include "testutil.h"

static char dir[512];

/* Faults, for the file system calls file.c makes (linked with --wrap):
 * with *_fail_at = k > 0, the k-th call from then on fails, with EIO
 * (ENOSPC for rename) and without doing anything.  dir_fsyncs counts the
 * fsyncs of directories, syncfs_calls the calls of syncfs. */
int __real_syncfs(int fd);
int __wrap_syncfs(int fd);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);

static int syncfs_fail_at, dir_fsync_fail_at, file_fsync_fail_at, rename_fail_at;
static int syncfs_calls, dir_fsyncs;

/* Whether this call is the one *at counts down to. */
static bool
fault(int *at)
{
	return *at > 0 && --*at == 0;
}

int
__wrap_syncfs(int fd)
{
	syncfs_calls++;
	if (fault(&syncfs_fail_at)) {
		errno = EIO;
		return -1;
	}
	return __real_syncfs(fd);
}

int
__wrap_fsync(int fd)
{
	struct stat st;
	bool is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);

	dir_fsyncs += is_dir;
	if (fault(is_dir ? &dir_fsync_fail_at : &file_fsync_fail_at)) {
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

int
__wrap_rename(const char *from, const char *to)
{
	if (fault(&rename_fail_at)) {
		errno = ENOSPC;
		return -1;
	}
	return __real_rename(from, to);
}

static const char *
path(const char *name)
{
	static char p[4][700];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static void
put(const char *name, const char *data, mode_t mode)
{
	FILE *f = fopen(path(name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path(name), mode), 0);
}

/* Files in directory in whose name contains s. */
static int
count_in(const char *in, const char *s)
{
	DIR *d = opendir(in);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, s) != NULL;
	closedir(d);
	return n;
}

/* Files in dir whose name contains s. */
static int
count(const char *s)
{
	return count_in(dir, s);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/cl-file-test.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_read(void **state)
{
	static const struct {
		const char *data;
		mode_t mode;
		size_t cap;
		unsigned flags;
		int want;
	} cases[] = {
	    {"hello\n", 0644, 6, 0, 0},
	    {"hello\n", 0644, 5, 0, CL_ETOOBIG},
	    {"", 0644, 0, 0, 0},
	    {"secret\n", 0600, 100, CL_FILE_SECRET, 0},
	    {"secret\n", 0640, 100, CL_FILE_SECRET, CL_EKEYPERM},
	    {"secret\n", 0602, 100, CL_FILE_SECRET, CL_EKEYPERM},
	    {"secret\n", 0610, 100, CL_FILE_SECRET, CL_EKEYPERM},
	    {"secret\n", 0640, 100, 0, 0},
	};
	char why[CL_WHY_MAX];
	uint8_t *b;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		put("f", cases[i].data, cases[i].mode);
		assert_int_equal(
		    cl_file_read(path("f"), cases[i].cap, cases[i].flags, &b, &len, why),
		    cases[i].want);
		if (cases[i].want != 0) {
			assert_null(b);
			assert_non_null(strstr(why, path("f")));
			continue;
		}
		assert_int_equal(len, strlen(cases[i].data));
		assert_memory_equal(b, cases[i].data, len);
		assert_int_equal(b[len], '\0');
		free(b);
	}
	assert_int_equal(cl_file_read(path("none"), 10, 0, &b, &len, why), ENOENT);
	assert_int_equal(cl_file_read("", 10, 0, &b, &len, why), CL_EINVAL);
	/* Not regular files: refused without CL_FILE_STREAM; a FIFO without a
	 * writer does not block. */
	assert_int_equal(cl_file_read(dir, 10, 0, &b, &len, why), CL_EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
	assert_int_equal(mkfifo(path("fifo"), 0600), 0);
	assert_int_equal(cl_file_read(path("fifo"), 10, 0, &b, &len, why), CL_EINVAL);
	assert_int_equal(cl_file_read("/dev/null", 10, 0, &b, &len, why), CL_EINVAL);
	assert_int_equal(cl_file_read("/dev/null", 10, CL_FILE_STREAM, &b, &len, why), 0);
	assert_int_equal(len, 0);
	free(b);
	/* A stream over the cap: one byte past it is enough to tell. */
	assert_int_equal(
	    cl_file_read("/dev/zero", 100000, CL_FILE_STREAM, &b, &len, why), CL_ETOOBIG);
	assert_null(b);
}

static void
test_write(void **state)
{
	char why[CL_WHY_MAX];
	uint8_t *b;
	size_t len;
	struct stat st;
	mode_t old = umask(077);

	(void)state;
	/* Replace, with exactly the mode asked for whatever the umask. */
	assert_int_equal(cl_file_write(path("w"), "one", 3, 0644, 0, why), 0);
	assert_int_equal(cl_file_write(path("w"), "two!", 4, 0644, 0, why), 0);
	assert_int_equal(stat(path("w"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(cl_file_read(path("w"), 100, 0, &b, &len, why), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(b, "two!", 4);
	free(b);
	/* Never replace with CL_FILE_EXCL, a dangling symlink included. */
	assert_int_equal(cl_file_write(path("w"), "three", 5, 0600, CL_FILE_EXCL, why), EEXIST);
	assert_non_null(strstr(why, "already exists"));
	assert_int_equal(symlink(path("nowhere"), path("dangling")), 0);
	assert_int_equal(cl_file_write(path("dangling"), "x", 1, 0600, CL_FILE_EXCL, why), EEXIST);
	assert_int_equal(access(path("nowhere"), F_OK), -1);
	assert_int_equal(cl_file_write(path("new"), "x", 1, 0600, CL_FILE_EXCL, why), 0);
	assert_int_equal(stat(path("new"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Bad names. */
	assert_int_equal(cl_file_write(path("sub/"), "x", 1, 0600, 0, why), CL_EINVAL);
	assert_int_equal(cl_file_write("", "x", 1, 0600, 0, why), CL_EINVAL);
	assert_int_equal(cl_file_write(path("missing/f"), "x", 1, 0600, 0, why), ENOENT);
	/* Writing over a directory fails, and leaves no temporary file. */
	assert_int_equal(mkdir(path("adir"), 0700), 0);
	assert_int_not_equal(cl_file_write(path("adir"), "x", 1, 0600, 0, why), 0);
	assert_int_equal(count(".tmp."), 0);
	umask(old);
}

/* A FIFO, or a symlink to one (as /dev/stdout is), is written into as a
 * stream and never replaced by a regular file (`-o /dev/null` once made
 * /dev/null one); without CL_FILE_STREAM it is refused. */
static void
test_write_special(void **state)
{
	char why[CL_WHY_MAX], got[16];
	struct stat st;
	int rd;

	(void)state;
	assert_int_equal(mkfifo(path("fifo-out"), 0600), 0);
	assert_int_equal(symlink(path("fifo-out"), path("fifo-link")), 0);
	assert_int_equal(cl_file_write(path("fifo-out"), "x", 1, 0644, 0, why), CL_EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
	/* A reader first, so that opening for writing does not wait. */
	rd = open(path("fifo-out"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(rd >= 0);
	assert_int_equal(cl_file_write(path("fifo-out"), "one", 3, 0644, CL_FILE_STREAM, why), 0);
	assert_int_equal(cl_file_write(path("fifo-link"), "two", 3, 0644, CL_FILE_STREAM, why), 0);
	assert_int_equal(read(rd, got, sizeof got), 6);
	assert_memory_equal(got, "onetwo", 6);
	close(rd);
	assert_int_equal(stat(path("fifo-out"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(lstat(path("fifo-link"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(count(".tmp."), 0);
}

/* Many files with few flushes: each written as cl_file_write would (exact
 * mode, replacing), runs of neighbours in one directory together, and a
 * file that cannot be written fails alone, with a reason naming it. */
static void
test_write_many(void **state)
{
	static const struct {
		const char *name; /* in dir; NULL: the empty name; "BIG": a path too long */
		const char *data;
		int want; /* 0, an errno or a CL_E code; -1: any error */
	} cases[] = {
	    {"m1", "first", 0},
	    {"m2", "second, replacing", 0},
	    {"mdir", "over a directory", -1},
	    {"sub/m3", "in another directory", 0},
	    {"m4", "back in the first", 0},
	    {"missing/m5", "no such directory", ENOENT},
	    {NULL, "an empty name", CL_EINVAL},
	    {"msub/", "names a directory", CL_EINVAL},
	    {"BIG", "a path too long", ENAMETOOLONG},
	    {"m6", "last", 0},
	    {"mfifo", "over a FIFO", CL_EINVAL},
	};
	enum { N = sizeof cases / sizeof cases[0] };
	static char paths[N][5000];
	struct cl_file_out files[N];
	char why[CL_WHY_MAX];
	uint8_t *b;
	size_t len;
	struct stat st;
	mode_t old = umask(077);
	int rc;

	(void)state;
	assert_int_equal(mkdir(path("sub"), 0700), 0);
	assert_int_equal(mkdir(path("mdir"), 0700), 0);
	assert_int_equal(mkfifo(path("mfifo"), 0600), 0);
	put("m2", "old", 0600);
	for (size_t i = 0; i < N; i++) {
		if (cases[i].name == NULL) {
			paths[i][0] = '\0';
		} else if (strcmp(cases[i].name, "BIG") == 0) {
			/* Over PATH_MAX, in components short enough to be names. */
			int n = snprintf(paths[i], sizeof paths[i], "%s", dir);

			while (n < 4200)
				n += snprintf(
				    paths[i] + n, sizeof paths[i] - (size_t)n, "/%0100d", 0);
		} else {
			snprintf(paths[i], sizeof paths[i], "%s", path(cases[i].name));
		}
		files[i] = (struct cl_file_out){
		    .path = paths[i], .buf = cases[i].data, .len = strlen(cases[i].data)};
	}
	/* The first failure is what it returns. */
	rc = cl_file_write_many(files, N, 0644);
	assert_int_not_equal(files[2].rc, 0);
	assert_int_equal(rc, files[2].rc);
	for (size_t i = 0; i < N; i++) {
		if (cases[i].want == 0) {
			assert_int_equal(files[i].rc, 0);
			assert_int_equal(stat(paths[i], &st), 0);
			assert_int_equal(st.st_mode & 07777, 0644);
			assert_int_equal(cl_file_read(paths[i], 100, 0, &b, &len, why), 0);
			assert_int_equal(len, strlen(cases[i].data));
			assert_memory_equal(b, cases[i].data, len);
			free(b);
			continue;
		}
		if (cases[i].want != -1)
			assert_int_equal(files[i].rc, cases[i].want);
		else
			assert_int_not_equal(files[i].rc, 0);
		if (cases[i].name != NULL && strcmp(cases[i].name, "BIG") != 0)
			if (strstr(files[i].why, paths[i]) == NULL)
				fail_msg("%zu: %s", i, files[i].why);
	}
	/* The directory and the FIFO are still what they were, and no
	 * temporary file is left. */
	assert_int_equal(stat(path("mdir"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(stat(path("mfifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(count(".tmp."), 0);
	assert_int_equal(count_in(path("sub"), ".tmp."), 0);
	/* All good: 0. */
	files[0] = (struct cl_file_out){.path = paths[0], .buf = "again", .len = 5};
	files[1] = (struct cl_file_out){.path = paths[3], .buf = "again", .len = 5};
	assert_int_equal(cl_file_write_many(files, 2, 0600), 0);
	assert_int_equal(stat(paths[3], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(cl_file_write_many(files, 0, 0600), 0);
	umask(old);
}

/* Whether the file at p holds exactly data. */
static bool
holds(const char *p, const char *data)
{
	char why[CL_WHY_MAX];
	uint8_t *b;
	size_t len;
	bool same;

	if (cl_file_read(p, 1000, 0, &b, &len, why) != 0)
		return false;
	same = len == strlen(data) && memcmp(b, data, len) == 0;
	free(b);
	return same;
}

/* cl_file_write when a flush fails: the file's, before the rename (the
 * old file stays), or the directory's, after it; either way an error that
 * names the file, and no temporary file left. */
static void
test_write_faults(void **state)
{
	char why[CL_WHY_MAX];

	(void)state;
	put("wf", "old", 0600);
	file_fsync_fail_at = 1;
	assert_int_equal(cl_file_write(path("wf"), "new", 3, 0600, 0, why), EIO);
	assert_non_null(strstr(why, path("wf")));
	assert_true(holds(path("wf"), "old"));
	assert_int_equal(count(".tmp."), 0);
	dir_fsync_fail_at = 1;
	assert_int_equal(cl_file_write(path("wf"), "new", 3, 0600, 0, why), EIO);
	assert_non_null(strstr(why, path("wf")));
	assert_non_null(strstr(why, "fsync"));
	assert_int_equal(count(".tmp."), 0);
	assert_int_equal(file_fsync_fail_at + dir_fsync_fail_at, 0);
}

/* cl_file_write_many when a flush or a rename fails.  Two runs: four files
 * in directory r1 (one, whose temporary name is too long, fails on its
 * own; one replaces an old file), then one in r2.  A failed flush fails
 * every other file of its run, each with an error naming it, and no
 * other run; a failed rename fails its file alone; never a temporary file
 * left, and each run's file system and directory flushed once. */
static void
test_write_many_faults(void **state)
{
	enum { N = 5, LONG = 2 }; /* files[LONG] fails on its own */
	static const char *const names[N] = {"r1/a", "r1/b", NULL, "r1/c", "r2/d"};
	static const char *const data[N] = {"a", "b, replacing", "long", "c", "d"};
	static const struct {
		int *at;            /* the fault armed */
		int call;           /* the call that fails: the second rename is b's */
		int want[N], first; /* each file's rc; what the call returns */
		const char *reason; /* in the why of every file that fails but files[LONG] */
		int dir_fsyncs;     /* fsyncs of directories it makes */
	} cases[] = {
	    {&syncfs_fail_at, 1, {EIO, EIO, ENAMETOOLONG, EIO, 0}, EIO, "flush", 1},
	    {&dir_fsync_fail_at, 1, {EIO, EIO, ENAMETOOLONG, EIO, 0}, EIO, "fsync", 2},
	    {&rename_fail_at, 2, {0, ENOSPC, ENAMETOOLONG, 0, 0}, ENOSPC, "rename", 2},
	};
	char paths[N][800];
	struct cl_file_out files[N];

	(void)state;
	for (size_t i = 0; i < N; i++) {
		if (i == LONG) /* a name, but not with ".tmp." and 16 digits after it */
			snprintf(paths[i], sizeof paths[i], "%s/r1/%0240d", dir, 0);
		else
			snprintf(paths[i], sizeof paths[i], "%s", path(names[i]));
	}
	assert_int_equal(mkdir(path("r1"), 0700), 0);
	assert_int_equal(mkdir(path("r2"), 0700), 0);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int rc;

		for (size_t i = 0; i < N; i++) {
			unlink(paths[i]);
			files[i] = (struct cl_file_out){
			    .path = paths[i], .buf = data[i], .len = strlen(data[i])};
		}
		put("r1/b", "old", 0600);
		*cases[c].at = cases[c].call;
		syncfs_calls = dir_fsyncs = 0;
		rc = cl_file_write_many(files, N, 0644);
		assert_int_equal(*cases[c].at, 0);
		assert_int_equal(syncfs_calls, 2);
		assert_int_equal(dir_fsyncs, cases[c].dir_fsyncs);
		assert_int_equal(rc, cases[c].first);
		for (size_t i = 0; i < N; i++) {
			if (files[i].rc != cases[c].want[i])
				fail_msg("case %zu, %s: %d (%s), want %d", c, paths[i], files[i].rc,
				    files[i].why, cases[c].want[i]);
			if (files[i].rc == 0) {
				assert_true(holds(paths[i], data[i]));
				continue;
			}
			if (i == LONG) /* its why is too short for its name */
				continue;
			if (strstr(files[i].why, paths[i]) == NULL ||
			    strstr(files[i].why, cases[c].reason) == NULL)
				fail_msg("case %zu, %s: %s", c, paths[i], files[i].why);
			/* Not renamed (only the directory's flush fails after the
			 * renames): the old file stays, a new one is not there. */
			if (cases[c].at != &dir_fsync_fail_at)
				assert_true(
				    i == 1 ? holds(paths[i], "old") : access(paths[i], F_OK) != 0);
		}
		assert_int_equal(count_in(path("r1"), ".tmp."), 0);
		assert_int_equal(count_in(path("r2"), ".tmp."), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_write),
	    cmocka_unit_test(test_write_special),
	    cmocka_unit_test(test_write_many),
	    cmocka_unit_test(test_write_faults),
	    cmocka_unit_test(test_write_many_faults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
