/*
 * key_test.c: key files in a fresh mkdtemp() directory: round trips, the
 * modes they are created with, refusal of loose permissions, of things that
 * are not regular files and of oversized files, and no overwriting.
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

#include <sodium.h>

#include "cl.h"
#include "key.h"
#include "note.h"
#include "testutil.h"

static char why[CL_WHY_MAX];
static char dir[64];

static const char *
path(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	int n = snprintf(p, sizeof buf[0], "%s/%.255s", dir, name);

	assert_true(n > 0 && (size_t)n < sizeof buf[0]);
	return p;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/key_test.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	(void)state;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlink(path(e->d_name)) != 0)
			rmdir(path(e->d_name));
	}
	closedir(d);
	return rmdir(dir);
}

static void
write_file(const char *p, const char *data, size_t len, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Number of entries in the test directory (no temporaries left over). */
static size_t
dir_count(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_signer_roundtrip(void **state)
{
	struct note_signer s, got;
	struct note_verifier v;
	struct note n;
	char l1[NOTE_SIGLINE_MAX], l2[NOTE_SIGLINE_MAX];
	const uint8_t text[] = "round trip\n";
	uint8_t out[512];
	size_t olen;

	(void)state;
	assert_int_equal(note_signer_generate("example.com/key-test", &s, why), 0);
	assert_int_equal(key_signer_save(path("log.key"), &s, why), 0);
	assert_int_equal(tu_mode(path("log.key")), 0600);
	assert_int_equal(dir_count(), 1);
	assert_int_equal(key_signer_load(path("log.key"), &got, why), 0);
	assert_string_equal(got.name, s.name);
	assert_int_equal(got.id, s.id);
	assert_int_equal(sodium_memcmp(got.sk, s.sk, sizeof s.sk), 0);
	/* The loaded key signs exactly as the original. */
	assert_true(note_sign_line(&s, text, sizeof text - 1, l1, sizeof l1) > 0);
	assert_true(note_sign_line(&got, text, sizeof text - 1, l2, sizeof l2) > 0);
	assert_string_equal(l1, l2);
	assert_int_equal(note_sign(&got, text, sizeof text - 1, out, sizeof out, &olen, why), 0);
	note_signer_verifier(&s, &v);
	assert_int_equal(note_open(out, olen, &v, 1, &n, why), 0);

	/* Never overwrite a key, and leave no temporary behind. */
	note_signer_wipe(&got);
	assert_int_equal(note_signer_generate("example.com/other", &got, why), 0);
	assert_int_equal(key_signer_save(path("log.key"), &got, why), EEXIST);
	assert_non_null(strstr(why, "already exists"));
	assert_int_equal(dir_count(), 1);
	note_signer_wipe(&got);
	assert_int_equal(key_signer_load(path("log.key"), &got, why), 0);
	assert_int_equal(sodium_memcmp(got.sk, s.sk, sizeof s.sk), 0);
	/* Not over a dangling symlink either. */
	assert_int_equal(symlink(path("nowhere"), path("dangling.key")), 0);
	assert_int_equal(key_signer_save(path("dangling.key"), &s, why), EEXIST);
	assert_int_equal(access(path("nowhere"), F_OK), -1);
	/* Nor into a missing directory, or at a directory path. */
	assert_int_equal(key_signer_save(path("missing/log.key"), &s, why), ENOENT);
	assert_int_equal(key_signer_save(path("sub/"), &s, why), CL_EINVAL);
	assert_int_equal(key_signer_save("", &s, why), CL_EINVAL);
	/* A key that does not format is not written. */
	memset(&got, 0, sizeof got);
	assert_int_equal(key_signer_save(path("empty.key"), &got, why), CL_EINVAL);
	assert_int_equal(access(path("empty.key"), F_OK), -1);
	note_signer_wipe(&s);
	note_signer_wipe(&got);
	assert_int_equal(unlink(path("log.key")), 0);
	assert_int_equal(unlink(path("dangling.key")), 0);
}

/* The vector's signer string, written by hand, loads as note_signer_parse
 * reads it; with or without the final newline. */
static void
test_signer_vector_file(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	const char *sk = tu_str(json_array_get(json_object_get(vec, "published"), 1), "skey");
	struct note_signer want, got;
	char buf[NOTE_SKEY_MAX + 2];

	(void)state;
	assert_int_equal(note_signer_parse(sk, strlen(sk), &want, why), 0);
	snprintf(buf, sizeof buf, "%s\n", sk);
	write_file(path("a.key"), buf, strlen(buf), 0600);
	assert_int_equal(key_signer_load(path("a.key"), &got, why), 0);
	assert_memory_equal(&got, &want, sizeof got);
	write_file(path("a.key"), sk, strlen(sk), 0400);
	assert_int_equal(key_signer_load(path("a.key"), &got, why), 0);
	assert_memory_equal(&got, &want, sizeof got);
	/* Two newlines, CRLF, a leading space, two keys, a verifier key: no. */
	static const char *const bad[] = {"%s\n\n", "%s\r\n", " %s\n", "%s\n%s\n", "\n%s"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, bad[i], sk, sk);
		write_file(path("a.key"), buf, strlen(buf), 0600);
		memset(&got, 0xa5, sizeof got);
		assert_int_equal(key_signer_load(path("a.key"), &got, why), CL_EINVAL);
		assert_true(sodium_is_zero((const uint8_t *)&got, sizeof got));
		/* The reason names the file, never the secret. */
		assert_null(strstr(why, strrchr(sk, '+') + 1));
	}
	write_file(path("a.key"), "", 0, 0600);
	assert_int_equal(key_signer_load(path("a.key"), &got, why), CL_EINVAL);
	write_file(path("a.key"), "\n", 1, 0600);
	assert_int_equal(key_signer_load(path("a.key"), &got, why), CL_EINVAL);
	sodium_memzero(buf, sizeof buf);
	note_signer_wipe(&want);
	assert_int_equal(unlink(path("a.key")), 0);
	json_decref(vec);
}

static void
test_signer_refusals(void **state)
{
	struct note_signer s, got;
	char *big;
	static const mode_t loose[] = {
	    0640, 0604, 0644, 0660, 0620, 0602, 0610, 0601, 0666, 0700 | 040};

	(void)state;
	assert_int_equal(note_signer_generate("example.com/perm", &s, why), 0);
	assert_int_equal(key_signer_save(path("p.key"), &s, why), 0);
	for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
		assert_int_equal(chmod(path("p.key"), loose[i]), 0);
		memset(&got, 0xa5, sizeof got);
		assert_int_equal(key_signer_load(path("p.key"), &got, why), CL_EKEYPERM);
		assert_true(sodium_is_zero((const uint8_t *)&got, sizeof got));
		assert_non_null(strstr(why, path("p.key")));
		assert_non_null(strstr(why, "chmod 600"));
	}
	assert_int_equal(chmod(path("p.key"), 0640), 0);
	assert_int_equal(key_signer_load(path("p.key"), &got, why), CL_EKEYPERM);
	assert_non_null(strstr(why, "readable by group or others (mode 0640)"));
	/* Owner-only modes are fine. */
	assert_int_equal(chmod(path("p.key"), 0400), 0);
	assert_int_equal(key_signer_load(path("p.key"), &got, why), 0);
	assert_int_equal(chmod(path("p.key"), 0600), 0);

	/* A symlink is followed, and the file it names is what is checked. */
	assert_int_equal(symlink("p.key", path("link.key")), 0);
	assert_int_equal(key_signer_load(path("link.key"), &got, why), 0);
	assert_int_equal(sodium_memcmp(got.sk, s.sk, sizeof s.sk), 0);
	assert_int_equal(chmod(path("p.key"), 0644), 0);
	assert_int_equal(key_signer_load(path("link.key"), &got, why), CL_EKEYPERM);

	/* A directory, a FIFO (without blocking on it), a missing file. */
	assert_int_equal(mkdir(path("d.key"), 0700), 0);
	assert_int_equal(key_signer_load(path("d.key"), &got, why), CL_EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
	assert_int_equal(mkfifo(path("f.key"), 0600), 0);
	assert_int_equal(key_signer_load(path("f.key"), &got, why), CL_EINVAL);
	assert_int_equal(key_signer_load("/dev/null", &got, why), CL_EINVAL);
	assert_int_equal(key_signer_load(path("none.key"), &got, why), ENOENT);
	assert_int_equal(key_signer_load("", &got, why), CL_EINVAL);

	/* Oversized, and just under the cap (then not a key). */
	big = malloc(KEY_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, 'A', KEY_FILE_MAX + 1);
	write_file(path("big.key"), big, KEY_FILE_MAX + 1, 0600);
	assert_int_equal(key_signer_load(path("big.key"), &got, why), CL_ETOOBIG);
	write_file(path("big.key"), big, KEY_FILE_MAX, 0600);
	assert_int_equal(key_signer_load(path("big.key"), &got, why), CL_EINVAL);
	free(big);

	note_signer_wipe(&s);
	note_signer_wipe(&got);
	assert_int_equal(unlink(path("p.key")), 0);
	assert_int_equal(unlink(path("link.key")), 0);
	assert_int_equal(rmdir(path("d.key")), 0);
	assert_int_equal(unlink(path("f.key")), 0);
	assert_int_equal(unlink(path("big.key")), 0);
}

static void
test_verifier_files(void **state)
{
	json_t *vec = tu_vectors("note-vectors.json");
	json_t *d = json_object_get(vec, "derived");
	const char *lvk = tu_str(json_object_get(d, "log"), "vkey");
	const char *wvk = tu_str(json_object_get(d, "witness"), "vkey");
	struct note_verifier v, got;
	char buf[NOTE_VKEY_MAX + 2];
	int fd;

	(void)state;
	assert_int_equal(note_verifier_parse(lvk, strlen(lvk), &v, why), 0);
	assert_int_equal(key_verifier_save(path("log.pub"), &v, why), 0);
	assert_int_equal(tu_mode(path("log.pub")), 0644);
	/* The file is the vkey and a newline. */
	fd = open(path("log.pub"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof buf), (ssize_t)strlen(lvk) + 1);
	close(fd);
	assert_memory_equal(buf, lvk, strlen(lvk));
	assert_int_equal(buf[strlen(lvk)], '\n');
	assert_int_equal(key_verifier_load(path("log.pub"), &got, why), 0);
	assert_memory_equal(&got, &v, sizeof v);
	assert_int_equal(key_verifier_save(path("log.pub"), &v, why), EEXIST);
	/* No permission rule for public keys; the other rules hold. */
	assert_int_equal(chmod(path("log.pub"), 0666), 0);
	assert_int_equal(key_verifier_load(path("log.pub"), &got, why), 0);
	assert_int_equal(mkfifo(path("fifo.pub"), 0644), 0);
	assert_int_equal(key_verifier_load(path("fifo.pub"), &got, why), CL_EINVAL);
	write_file(path("w.pub"), wvk, strlen(wvk), 0644);
	assert_int_equal(key_verifier_load(path("w.pub"), &got, why), 0);
	assert_int_equal(got.type, NOTE_TYPE_COSIG);
	snprintf(buf, sizeof buf, "%s\n\n", wvk);
	write_file(path("w.pub"), buf, strlen(buf), 0644);
	assert_int_equal(key_verifier_load(path("w.pub"), &got, why), CL_EINVAL);
	/* An ML-DSA-style key type in a file. */
	write_file(path("t.pub"), "x+00000000+BgAAAAAA\n", 20, 0644);
	assert_int_equal(key_verifier_load(path("t.pub"), &got, why), CL_ETYPE);

	/* key_verifier_arg: a literal key, then a file, then neither. */
	assert_int_equal(key_verifier_arg(lvk, &got, why), 0);
	assert_memory_equal(&got, &v, sizeof v);
	assert_int_equal(key_verifier_arg(wvk, &got, why), 0);
	assert_int_equal(got.type, NOTE_TYPE_COSIG);
	assert_int_equal(key_verifier_arg(path("log.pub"), &got, why), 0);
	assert_memory_equal(&got, &v, sizeof v);
	assert_int_equal(key_verifier_arg(path("none.pub"), &got, why), ENOENT);
	snprintf(buf, sizeof buf, "%.*s", (int)strlen(lvk) - 1, lvk);
	assert_int_equal(key_verifier_arg(buf, &got, why), CL_EINVAL);
	assert_non_null(strstr(why, "not a usable verifier key"));
	assert_true(sodium_is_zero((const uint8_t *)&got, sizeof got));
	assert_int_equal(key_verifier_arg("", &got, why), CL_EINVAL);
	assert_int_equal(key_verifier_arg(dir, &got, why), CL_EINVAL);

	assert_int_equal(unlink(path("log.pub")), 0);
	assert_int_equal(unlink(path("fifo.pub")), 0);
	assert_int_equal(unlink(path("w.pub")), 0);
	assert_int_equal(unlink(path("t.pub")), 0);
	json_decref(vec);
}

/* Files are created with exactly their mode, whatever the umask. */
static void
test_umask(void **state)
{
	struct note_signer s;
	struct note_verifier v;
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(note_signer_generate("example.com/umask", &s, why), 0);
	note_signer_verifier(&s, &v);
	assert_int_equal(key_signer_save(path("u.key"), &s, why), 0);
	assert_int_equal(tu_mode(path("u.key")), 0600);
	umask(077);
	assert_int_equal(key_verifier_save(path("u.pub"), &v, why), 0);
	assert_int_equal(tu_mode(path("u.pub")), 0644);
	umask(old);
	note_signer_wipe(&s);
	assert_int_equal(unlink(path("u.key")), 0);
	assert_int_equal(unlink(path("u.pub")), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signer_roundtrip),
	    cmocka_unit_test(test_signer_vector_file),
	    cmocka_unit_test(test_signer_refusals),
	    cmocka_unit_test(test_verifier_files),
	    cmocka_unit_test(test_umask),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, setup, teardown);
}
