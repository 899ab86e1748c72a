/*
 * file_test.c: the capped reader and the durable writer (proto/file.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"
#include "file.h"
#include "testutil.h"

static char dir[512];

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

/* Files in dir whose name contains s. */
static int
count(const char *s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, s) != NULL;
	closedir(d);
	return n;
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
