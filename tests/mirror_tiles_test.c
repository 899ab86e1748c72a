/*
 * mirror_tiles_test.c: the mirror's tile writer (client/mirror.c) in
 * process.  Known answers: the C2SP 70,000-entry tree (entry i is ascii(i))
 * written by the mirror gives the tile and bundle bodies of the vectors
 * (cross-checked with Go).  Differential: the same tree mirrored in runs
 * that stop at awkward sizes (each resumed from the files of the last) is
 * the same directory as one run, file for file, plus the older widths of
 * the tiles still partial.  Negative: a partial tile or bundle altered,
 * truncated, grown or missing is refused on resume; a full tile altered
 * stops publishing; a run never published leaves nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "testutil.h"

#include "cl.h"
#include "cli.h"
#include "merkle.h"
#include "mirror.h"
#include "tile.h"

#define SIZE 70000

static char dir[512];

/* Feed entries [from, to) (entry i is ascii(i)) to w, tracking r. */
static void
feed(struct cli_mirror *w, struct mt_range *r, uint64_t from, uint64_t to)
{
	char why[CLI_MSG_MAX];

	for (uint64_t i = from; i < to; i++) {
		char e[24];
		int n = snprintf(e, sizeof e, "%llu", (unsigned long long)i);
		uint8_t leaf[MT_HASH_LEN];
		struct cli_follow_entry ce = {i, (const uint8_t *)e, (size_t)n, leaf, NULL, NULL};

		mt_leaf_hash(leaf, (const uint8_t *)e, (size_t)n);
		assert_int_equal(mt_range_append(r, leaf, NULL, NULL), 0);
		if (cli_mirror_entry(w, &ce, why) != 0)
			fail_msg("entry %llu: %s", (unsigned long long)i, why);
	}
}

/* One run: resume out at r, add [r->size, to), publish and prune. */
static void
run(const char *out, struct mt_range *r, uint64_t to)
{
	struct cli_mirror *w;
	char why[CLI_MSG_MAX];

	if (cli_mirror_new(&w, out, h_path(dir, "stage"), why) != 0)
		fail_msg("%s", why);
	if (cli_mirror_resume(w, r, why) != 0)
		fail_msg("resume at %llu: %s", (unsigned long long)r->size, why);
	feed(w, r, r->size, to);
	if (cli_mirror_publish(w, why) != 0)
		fail_msg("publish: %s", why);
	assert_int_equal(cli_mirror_prune(w), 0);
	cli_mirror_free(w);
}

static void
mkout(const char *out)
{
	assert_int_equal(mkdir(out, 0755), 0);
}

static void
check_sha(const char *out, const char *rel, const char *hex, uint64_t length)
{
	size_t len;
	uint8_t *b = h_read(h_path(out, rel), &len), got[32], want[32];

	assert_int_equal(len, length);
	crypto_hash_sha256(got, b, len);
	tu_unhex(hex, want, 32);
	if (memcmp(got, want, 32) != 0)
		fail_msg("%s: not the vector's body", rel);
	free(b);
}

static int
count(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_vectors_and_resume(void **state)
{
	json_t *v = tu_vectors("merkle-vectors.json");
	json_t *lt = json_object_get(v, "large_tree"), *c;
	char one[600], many[600];
	static const uint64_t stops[] = {0, 1, 255, 256, 257, 1000, 65535, 65536, 65537, 69999};
	struct mt_range r;
	size_t i;

	(void)state;
	assert_int_equal(tu_u64(lt, "size"), SIZE);
	snprintf(one, sizeof one, "%s", h_path(dir, "one"));
	snprintf(many, sizeof many, "%s", h_path(dir, "many"));
	mkout(one);
	mkout(many);
	mt_range_init(&r);
	run(one, &r, SIZE);
	json_array_foreach(json_object_get(lt, "tiles"), i, c)
	    check_sha(one, tu_str(c, "path"), tu_str(c, "sha256"), tu_u64(c, "length"));
	json_array_foreach(json_object_get(lt, "entry_bundles"), i, c)
	    check_sha(one, tu_str(c, "path"), tu_str(c, "sha256"), tu_u64(c, "length"));
	/* Exactly the partials size 70,000 implies (spec example). */
	assert_int_equal(count(h_path(one, "tile/0/273.p")), 1);
	assert_int_equal(count(h_path(one, "tile/1/001.p")), 1);
	assert_int_equal(count(h_path(one, "tile/2/000.p")), 1);
	assert_int_equal(count(h_path(one, "tile/entries/273.p")), 1);
	assert_int_equal(count(h_path(one, "tile/0")), 274);
	assert_int_equal(count(h_path(one, "tile/2")), 1);
	assert_int_equal(access(h_path(one, "tile/3"), F_OK), -1);
	assert_int_equal(count(h_path(dir, "stage")), 0);

	mt_range_init(&r);
	for (size_t k = 1; k < sizeof stops / sizeof stops[0]; k++)
		run(many, &r, stops[k]);
	run(many, &r, SIZE);
	/* The same files, and the partial widths of the tiles still partial
	 * that earlier runs published (69,999 and 70,000 at level 0). */
	assert_true(h_tree_within(one, many));
	assert_int_equal(count(h_path(many, "tile/0/273.p")), 2);
	assert_int_equal(count(h_path(many, "tile/entries/273.p")), 2);
	assert_int_equal(access(h_path(many, "tile/0/273.p/111"), F_OK), 0);
	assert_int_equal(count(h_path(many, "tile/1/001.p")), 1);
	assert_int_equal(count(h_path(many, "tile/2/000.p")), 1);
	assert_int_equal(count(h_path(many, "tile/0")), 274);
	assert_int_equal(count(h_path(many, "tile/1")), 2);
	assert_int_equal(count(h_path(many, "tile/entries")), 274);
	json_decref(v);
}

/* Mirror 600 entries in one run; the range at 600 goes to *r. */
static void
base(const char *out, struct mt_range *r)
{
	mkout(out);
	mt_range_init(r);
	run(out, r, 600);
}

static void
flip(const char *p, size_t at)
{
	size_t len;
	uint8_t *b = h_read(p, &len);

	assert_true(at < len);
	b[at] ^= 0x80;
	h_write(p, b, len);
	free(b);
}

static void
test_resume_refuses(void **state)
{
	static const struct {
		const char *file; /* under out, at size 600 */
		int how;          /* 0 flip, 1 truncate, 2 append, 3 remove */
		int want;
	} cases[] = {
	    {"tile/entries/002.p/88", 0, CL_EINVAL},
	    {"tile/entries/002.p/88", 1, CL_EINVAL},
	    {"tile/entries/002.p/88", 2, CL_EINVAL},
	    {"tile/entries/002.p/88", 3, ENOENT},
	    {"tile/1/000.p/2", 0, CL_EINVAL},
	    {"tile/1/000.p/2", 1, CL_EINVAL},
	    {"tile/1/000.p/2", 2, CL_EINVAL},
	    {"tile/1/000.p/2", 3, ENOENT},
	};
	char why[CLI_MSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[600];
		struct mt_range r;
		struct cli_mirror *w;
		const char *p;
		size_t len;
		uint8_t *b;

		snprintf(out, sizeof out, "%s/case-%zu", dir, i);
		base(out, &r);
		p = h_path(out, cases[i].file);
		b = h_read(p, &len);
		switch (cases[i].how) {
		case 0:
			flip(p, len / 2);
			break;
		case 1:
			h_write(p, b, len - 1);
			break;
		case 2:
			b[len] = 0;
			h_write(p, b, len + 1);
			break;
		default:
			assert_int_equal(unlink(p), 0);
		}
		free(b);
		assert_int_equal(cli_mirror_new(&w, out, h_path(dir, "stage"), why), 0);
		assert_int_equal(cli_mirror_resume(w, &r, why), cases[i].want);
		cli_mirror_free(w);
	}
	/* The level-0 partial tile is not read back: its hashes come from the
	 * bundle, and the next run writes it again from them. */
	{
		char out[600], p[700];
		struct mt_range r;
		size_t len, len2;
		uint8_t *good, *now;

		snprintf(out, sizeof out, "%s/level0", dir);
		base(out, &r);
		snprintf(p, sizeof p, "%s", h_path(out, "tile/0/002.p/88"));
		good = h_read(p, &len);
		flip(p, 100);
		run(out, &r, 600);
		now = h_read(p, &len2);
		assert_int_equal(len, len2);
		assert_memory_equal(good, now, len);
		free(good);
		free(now);
	}
}

static void
test_publish(void **state)
{
	char out[600], why[CLI_MSG_MAX];
	struct mt_range r;
	struct cli_mirror *w;

	(void)state;
	snprintf(out, sizeof out, "%s", h_path(dir, "pub"));
	base(out, &r);
	/* A run not published leaves the output and the staging area as
	 * they were. */
	assert_int_equal(cli_mirror_new(&w, out, h_path(dir, "stage"), why), 0);
	assert_int_equal(cli_mirror_resume(w, &r, why), 0);
	feed(w, &r, 600, 800);
	assert_true(count(h_path(dir, "stage")) > 0);
	cli_mirror_free(w);
	assert_int_equal(count(h_path(dir, "stage")), 0);
	assert_int_equal(access(h_path(out, "tile/0/002"), F_OK), -1);
	assert_int_equal(access(h_path(out, "tile/0/002.p/88"), F_OK), 0);

	/* Mirroring again from the start over a full tile that was altered:
	 * refused, naming it; an identical one is fine. */
	flip(h_path(out, "tile/0/001"), 1);
	mt_range_init(&r);
	assert_int_equal(cli_mirror_new(&w, out, h_path(dir, "stage"), why), 0);
	assert_int_equal(cli_mirror_resume(w, &r, why), 0);
	feed(w, &r, 0, 600);
	assert_int_equal(cli_mirror_publish(w, why), CL_EINVAL);
	assert_non_null(strstr(why, "tile/0/001 already exists and differs"));
	cli_mirror_free(w);
	flip(h_path(out, "tile/0/001"), 1);
	mt_range_init(&r);
	run(out, &r, 600);
}

static int
setup(void **state)
{
	(void)state;
	h_tmpdir(dir, sizeof dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_rmrf(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_vectors_and_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
