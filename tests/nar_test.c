/*
 * nar_test.c: the NAR walker against real Nix.  Trees are generated on
 * disk (every node kind, empty files and directories, deep nesting, names
 * with spaces, newlines and non-UTF-8 bytes, names that sort differently
 * by bytes than by locale, long symlink targets, large files crossing the
 * buffer boundary, executable bits among other mode bits) and hashed both
 * by nar_hash and by `nix-hash --type sha256` (Debian's nix-bin, which
 * prints base16); the NAR bytes themselves are compared with `nix-store
 * --dump`.  Random trees make it a differential test.  Negative cases:
 * sockets, FIFOs and devices refused, too-deep trees refused, a file that
 * grows or shrinks mid-read refused, a sink error passed through.  And
 * `closurelog nar-hash` itself, in all its output forms.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "harness.h"
#include "nar.h"
#include "nix.h"
#include "testutil.h"

#ifndef NIX_HASH_BIN
#error "NIX_HASH_BIN must name nix-hash"
#endif
#ifndef NIX_STORE_BIN
#error "NIX_STORE_BIN must name nix-store"
#endif

#define FMT(buf, ...) assert_true(snprintf(buf, sizeof buf, __VA_ARGS__) < (int)sizeof buf)

static char tmp[512];

static int
setup(void **state)
{
	(void)state;
	h_tmpdir(tmp, sizeof tmp);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_rmrf(tmp);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_true(len == 0 || write(fd, data, len) == (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
mkdir_ok(const char *path)
{
	if (mkdir(path, 0755) != 0)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

static void
symlink_ok(const char *target, const char *path)
{
	if (symlink(target, path) != 0)
		fail_msg("symlink %s: %s", path, strerror(errno));
}

/* nix-hash --type sha256 PATH (base16) as 32 bytes. */
static void
nix_hash_of(const char *path, uint8_t out[32])
{
	const char *argv[] = {NIX_HASH_BIN, "--type", "sha256", path, NULL};
	struct h_run r;

	h_run(&r, NULL, argv);
	if (r.status != 0)
		fail_msg("nix-hash %s failed (%d): %s", path, r.status, r.err);
	assert_true(r.out_len == 65 && r.out[64] == '\n');
	r.out[64] = '\0';
	tu_unhex(r.out, out, 32);
	h_run_free(&r);
}

/* The walker's hash of path, which must match nix-hash's. */
static void
assert_matches_nix(const char *path)
{
	uint8_t ours[32], theirs[32];
	char why[CL_WHY_MAX] = "", a[65], b[65];

	if (nar_hash(path, ours, why) != 0)
		fail_msg("nar_hash %s: %s", path, why);
	nix_hash_of(path, theirs);
	if (memcmp(ours, theirs, 32) != 0) {
		cl_hex_encode(ours, 32, a);
		cl_hex_encode(theirs, 32, b);
		fail_msg("%s: nar_hash %s, nix-hash %s", path, a, b);
	}
}

struct membuf {
	uint8_t *p;
	size_t len, cap;
};

static int
mem_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct membuf *m = ctx;

	assert_true(len > 0 && len <= NAR_BUF_SIZE);
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		assert_non_null(m->p = realloc(m->p, m->cap));
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* The NAR bytes must be exactly nix-store --dump's. */
static void
assert_dump_matches_nix(const char *path)
{
	const char *argv[] = {NIX_STORE_BIN, "--dump", path, NULL};
	struct membuf m = {0};
	struct h_run r;
	char why[CL_WHY_MAX] = "";

	if (nar_dump(path, mem_sink, &m, why) != 0)
		fail_msg("nar_dump %s: %s", path, why);
	h_run(&r, NULL, argv);
	assert_int_equal(r.status, 0);
	assert_int_equal(m.len, r.out_len);
	assert_memory_equal(m.p, r.out, m.len);
	h_run_free(&r);
	free(m.p);
}

/* ---- Known answers: the vectors' trees ---- */

static void
materialise(const char *path, const json_t *node)
{
	const char *type = tu_str(node, "type");

	if (strcmp(type, "regular") == 0) {
		size_t len;
		uint8_t *data = tu_unhex_alloc(tu_str(node, "contents_hex"), &len);

		write_file(path, data, len,
		    json_is_true(json_object_get(node, "executable")) ? 0755 : 0644);
		free(data);
	} else if (strcmp(type, "symlink") == 0) {
		symlink_ok(tu_str(node, "target"), path);
	} else {
		const char *name;
		json_t *child;
		char sub[1024];

		assert_string_equal(type, "directory");
		mkdir_ok(path);
		json_object_foreach(json_object_get(node, "entries"), name, child)
		{
			FMT(sub, "%s/%s", path, name);
			materialise(sub, child);
		}
	}
}

static void
test_vectors(void **state)
{
	json_t *v = tu_vectors("attestation-vectors.json"), *c;
	size_t i;

	(void)state;
	json_array_foreach(json_object_get(v, "nar"), i, c)
	{
		struct nix_hash h = {.algo = NIX_SHA256, .len = 32};
		char path[600], why[CL_WHY_MAX] = "", sri[NIX_HASH_STR_MAX], n32[64];

		FMT(path, "%s/vec%zu", tmp, i);
		materialise(path, json_object_get(c, "tree"));
		if (nar_hash(path, h.bytes, why) != 0)
			fail_msg("%s: %s", tu_str(c, "id"), why);
		assert_true(nix_hash_sri(&h, sri, sizeof sri) > 0);
		assert_string_equal(sri, tu_str(c, "narHash_sri"));
		nix_base32_encode(h.bytes, 32, n32);
		assert_string_equal(n32, tu_str(c, "narHash_nix32"));
		if (json_object_get(c, "nar_hex") != NULL) {
			struct membuf m = {0};
			size_t len;
			uint8_t *want = tu_unhex_alloc(tu_str(c, "nar_hex"), &len);

			assert_int_equal(nar_dump(path, mem_sink, &m, why), 0);
			assert_int_equal(m.len, len);
			assert_memory_equal(m.p, want, len);
			free(want);
			free(m.p);
		}
	}
	json_decref(v);
}

/* ---- Against nix: hand-made edge cases ---- */

static void
test_every_node_kind(void **state)
{
	char root[600], p[1200], target[4096];
	uint8_t big[3 * NAR_BUF_SIZE + 5];

	(void)state;
	FMT(root, "%s/edge", tmp);
	mkdir_ok(root);
	FMT(p, "%s/empty-file", root);
	write_file(p, "", 0, 0644);
	FMT(p, "%s/empty-exec", root);
	write_file(p, "", 0, 0700);
	FMT(p, "%s/only-owner-x", root);
	write_file(p, "#!/bin/sh\n", 10, 0100);
	FMT(p, "%s/group-x-only", root); /* NAR keeps the owner bit only */
	write_file(p, "y", 1, 0654);
	FMT(p, "%s/read-only", root);
	write_file(p, "ro", 2, 0444);
	FMT(p, "%s/empty-dir", root);
	mkdir_ok(p);
	FMT(p, "%s/name with  spaces", root);
	write_file(p, "s", 1, 0644);
	FMT(p, "%s/new\nline", root);
	write_file(p, "n", 1, 0644);
	FMT(p, "%s/caf\xc3\xa9", root);
	write_file(p, "utf8", 4, 0644);
	FMT(p, "%s/bad\xff\xfe", root); /* not UTF-8 */
	write_file(p, "raw", 3, 0644);
	/* Byte order, not locale order: "B" < "a" < "a.b" < "a0" < "\x80". */
	FMT(p, "%s/B", root);
	write_file(p, "1", 1, 0644);
	FMT(p, "%s/a", root);
	write_file(p, "2", 1, 0644);
	FMT(p, "%s/a.b", root);
	write_file(p, "3", 1, 0644);
	FMT(p, "%s/a0", root);
	write_file(p, "4", 1, 0644);
	FMT(p, "%s/\x80", root);
	write_file(p, "5", 1, 0644);
	/* Contents of every length mod 8. */
	for (int n = 1; n <= 9; n++) {
		FMT(p, "%s/len%d", root, n);
		write_file(p, "abcdefghi", (size_t)n, 0644);
	}
	memset(target, 't', sizeof target - 1);
	target[sizeof target - 1] = '\0';
	FMT(p, "%s/long-link", root);
	symlink_ok(target, p);
	FMT(p, "%s/dangling", root);
	symlink_ok("/nonexistent/x", p);
	FMT(p, "%s/to-dir", root);
	symlink_ok("empty-dir", p);
	FMT(p, "%s/sub", root);
	mkdir_ok(p);
	FMT(p, "%s/sub/inner", root);
	mkdir_ok(p);
	FMT(p, "%s/sub/inner/file", root);
	write_file(p, "deep", 4, 0755);
	randombytes_buf(big, sizeof big);
	FMT(p, "%s/sub/big", root);
	write_file(p, big, sizeof big, 0644);

	assert_matches_nix(root);
	assert_dump_matches_nix(root);
	/* Single nodes at the top, too: a file, an executable, a symlink. */
	FMT(p, "%s/sub/big", root);
	assert_matches_nix(p);
	FMT(p, "%s/only-owner-x", root);
	assert_matches_nix(p);
	FMT(p, "%s/long-link", root);
	assert_matches_nix(p);
	assert_dump_matches_nix(p);
	FMT(p, "%s/empty-dir", root);
	assert_matches_nix(p);
}

static void
test_deep(void **state)
{
	char p[8192];
	size_t n;
	uint8_t h[32];
	char why[CL_WHY_MAX] = "";

	(void)state;
	n = (size_t)snprintf(p, sizeof p, "%s/deep", tmp);
	mkdir_ok(p);
	for (int i = 0; i < NAR_DEPTH_MAX; i++) {
		n += (size_t)snprintf(p + n, sizeof p - n, "/d");
		mkdir_ok(p);
	}
	write_file(h_path(p, "leaf"), "x", 1, 0644);
	FMT(p, "%s/deep", tmp);
	/* NAR_DEPTH_MAX levels below the top: accepted, and nix agrees. */
	assert_matches_nix(p);
	/* One more level is refused, with a reason. */
	FMT(p, "%s/deeper", tmp);
	mkdir_ok(p);
	assert_int_equal(rename(h_path(tmp, "deep"), h_path(p, "d")), 0);
	assert_int_equal(nar_hash(p, h, why), CL_ETOOBIG);
	assert_non_null(strstr(why, "directory levels"));
	for (int i = 0; i < 32; i++)
		assert_int_equal(h[i], 0);
}

/* A tree of random shape and contents from a seed. */
static void
random_tree(const char *path, unsigned depth, uint32_t *seed)
{
	uint32_t kind, n;
	char sub[2048], name[16];

#define RND() (*seed = *seed * 1103515245u + 12345u, (*seed >> 8))
	kind = depth == 0 ? 2 : RND() % 4;
	if (depth > 4)
		kind = RND() % 2;
	switch (kind) {
	case 0: {
		uint8_t buf[3000];

		n = RND() % sizeof buf;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = (uint8_t)RND();
		write_file(path, buf, n, RND() % 2 ? 0755 : 0644);
		break;
	}
	case 1:
		snprintf(sub, sizeof sub, "../t%u", RND() % 1000);
		symlink_ok(sub, path);
		break;
	default:
		mkdir_ok(path);
		n = RND() % 6;
		for (uint32_t i = 0; i < n; i++) {
			size_t len = 1 + RND() % 6;

			for (size_t j = 0; j < len; j++) {
				/* bytes 0x20..0xff except '/' */
				uint8_t c = (uint8_t)(0x20 + RND() % 0xe0);
				name[j] = (char)(c == '/' ? 'x' : c);
			}
			name[len] = '\0';
			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			snprintf(sub, sizeof sub, "%s/%s", path, name);
			if (access(sub, F_OK) == 0 || errno != ENOENT)
				continue;
			random_tree(sub, depth + 1, seed);
		}
	}
#undef RND
}

static void
test_random_trees(void **state)
{
	(void)state;
	for (uint32_t s = 1; s <= 25; s++) {
		char p[600];
		uint32_t seed = s;

		FMT(p, "%s/rand%u", tmp, s);
		random_tree(p, 0, &seed);
		assert_matches_nix(p);
	}
}

/* ---- Refusals ---- */

static void
assert_refused(const char *path, int want, const char *what)
{
	uint8_t h[32];
	char why[CL_WHY_MAX] = "";

	assert_int_equal(nar_hash(path, h, why), want);
	if (strstr(why, what) == NULL)
		fail_msg("refusing %s: reason \"%s\" does not say \"%s\"", path, why, what);
}

static void
test_refuse_special(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[600], p[1200];
	int fd;

	(void)state;
	FMT(dir, "%s/special", tmp);
	mkdir_ok(dir);
	FMT(p, "%s/ok", dir);
	write_file(p, "ok", 2, 0644);
	FMT(p, "%s/fifo", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_refused(dir, CL_EINVAL, "fifo: is a FIFO, which a NAR cannot hold");
	assert_refused(p, CL_EINVAL, "is a FIFO");
	assert_int_equal(unlink(p), 0);

	FMT(p, "%s/sock", dir);
	assert_true(strlen(p) < sizeof sa.sun_path);
	strcpy(sa.sun_path, p);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_refused(dir, CL_EINVAL, "sock: is a socket");
	close(fd);
	assert_int_equal(unlink(p), 0);

	assert_refused("/dev/null", CL_EINVAL, "is a device");
	FMT(p, "%s/missing", dir);
	assert_refused(p, ENOENT, "missing: lstat");
	/* What is left is fine again. */
	assert_matches_nix(dir);
}

/* A sink that changes the file being read, at its first call. */
struct mutate {
	const char *path;
	int action; /* 0 grow, 1 shrink */
	int calls;
};

static int
mutate_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct mutate *m = ctx;

	(void)buf;
	(void)len;
	if (m->calls++ == 0) {
		if (m->action == 0) {
			int fd = open(m->path, O_WRONLY | O_APPEND);

			assert_true(fd >= 0 && write(fd, "more", 4) == 4);
			close(fd);
		} else {
			assert_int_equal(truncate(m->path, 10), 0);
		}
	}
	return 0;
}

static void
test_changed_while_read(void **state)
{
	static uint8_t data[2 * NAR_BUF_SIZE];
	char p[600], why[CL_WHY_MAX] = "";

	(void)state;
	FMT(p, "%s/moving", tmp);
	for (int action = 0; action < 2; action++) {
		struct mutate m = {.path = p, .action = action};

		write_file(p, data, sizeof data, 0644);
		assert_int_equal(nar_dump(p, mutate_sink, &m, why), CL_EMISMATCH);
		assert_non_null(strstr(why, action == 0 ? "grew" : "shrank"));
	}
}

static int
failing_sink(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return EPIPE;
}

static void
test_sink_error(void **state)
{
	char p[600], why[CL_WHY_MAX];

	(void)state;
	FMT(p, "%s/f", tmp);
	write_file(p, "x", 1, 0644);
	assert_int_equal(nar_dump(p, failing_sink, NULL, why), EPIPE);
}

static void
test_name_target_checks(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		int name, target;
	} cases[] = {
	    {"a", 1, 0, 0},
	    {"", 0, CL_EINVAL, CL_EINVAL},
	    {".", 1, CL_EINVAL, 0},
	    {"..", 2, CL_EINVAL, 0},
	    {"...", 3, 0, 0},
	    {".a", 2, 0, 0},
	    {"a/b", 3, CL_EINVAL, 0},
	    {"/", 1, CL_EINVAL, 0},
	    {"a\0b", 3, CL_EINVAL, CL_EINVAL},
	    {"new\nline", 8, 0, 0},
	    {"\xff", 1, 0, 0},
	};
	char why[CL_WHY_MAX], big[NAR_TARGET_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why[0] = '\0';
		assert_int_equal(nar_name_check(cases[i].s, cases[i].len, why), cases[i].name);
		assert_true(cases[i].name == 0 || why[0] != '\0');
		assert_int_equal(nar_target_check(cases[i].s, cases[i].len, why), cases[i].target);
	}
	memset(big, 'n', sizeof big);
	assert_int_equal(nar_name_check(big, NAR_NAME_MAX, why), 0);
	assert_int_equal(nar_name_check(big, NAR_NAME_MAX + 1, why), CL_ETOOBIG);
	assert_int_equal(nar_target_check(big, NAR_TARGET_MAX, why), 0);
	assert_int_equal(nar_target_check(big, NAR_TARGET_MAX + 1, why), CL_ETOOBIG);
}

/* ---- closurelog nar-hash ---- */

static void
test_cli(void **state)
{
	const char *nixb32[] = {NIX_HASH_BIN, "--type", "sha256", "--base32", NULL, NULL};
	struct h_run r, n;
	char a[600], b[600], want[256];
	json_t *j;
	uint8_t h[32];

	(void)state;
	FMT(a, "%s/cli-a", tmp);
	write_file(a, "hello\n", 6, 0644);
	FMT(b, "%s/cli-b", tmp);
	mkdir_ok(b);
	write_file(h_path(b, "x"), "x", 1, 0755);

	assert_int_equal(h_closurelog(&r, "nar-hash", a, NULL), 0);
	assert_string_equal(r.out, "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=\n");
	h_run_free(&r);

	nixb32[4] = b;
	h_run(&n, NULL, nixb32);
	assert_int_equal(n.status, 0);
	assert_int_equal(h_closurelog(&r, "nar-hash", "--base32", a, b, NULL), 0);
	FMT(want, "04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw\n%s", n.out);
	assert_string_equal(r.out, want);
	h_run_free(&r);
	h_run_free(&n);

	assert_int_equal(h_closurelog(&r, "nar-hash", "--json", a, b, NULL), 0);
	assert_non_null(j = json_loads(r.out, 0, NULL));
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(tu_str(json_array_get(j, 0), "path"), a);
	assert_string_equal(tu_str(json_array_get(j, 0), "narHash"),
	    "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=");
	nix_hash_of(b, h);
	{
		char n32[64];

		nix_base32_encode(h, 32, n32);
		assert_string_equal(tu_str(json_array_get(j, 1), "nix32"), n32);
	}
	json_decref(j);
	h_run_free(&r);

	/* Refusals: exit 2, one line naming the path and the problem. */
	assert_int_equal(h_closurelog(&r, "nar-hash", a, "/dev/null", NULL), 2);
	assert_non_null(strstr(r.err, "/dev/null: is a device, which a NAR cannot hold"));
	h_run_free(&r);
	assert_int_equal(h_closurelog(&r, "nar-hash", NULL), 2);
	h_run_free(&r);
	assert_int_equal(h_closurelog(&r, "nar-hash", "--frob", a, NULL), 2);
	h_run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_every_node_kind),
	    cmocka_unit_test(test_deep),
	    cmocka_unit_test(test_random_trees),
	    cmocka_unit_test(test_refuse_special),
	    cmocka_unit_test(test_changed_while_read),
	    cmocka_unit_test(test_sink_error),
	    cmocka_unit_test(test_name_target_checks),
	    cmocka_unit_test(test_cli),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
