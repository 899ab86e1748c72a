/*
 * opa_test.c: OPA bundle archives (client/opa.c): the writer's output
 * reads back, byte for byte the same each time; the reader refuses every
 * kind of malformed or unexpected archive with its own reason: gzip
 * (not gzip, trailing bytes, a second member, truncation, an inflation
 * bomb) and tar (checksums, magic, sizes, links, names with "..", repeated
 * names, data files below the root, missing end blocks, trailing data), and
 * manifests without a revision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cl.h"
#include "opa.h"
#include "testutil.h"

static const char data[] = "{\"nix\": {}}";
static const char manifest[] = "{\"revision\": \"r-1\", \"roots\": [\"nix\"]}";

static uint8_t *
bundle(const struct cli_opa_file *f, size_t n, size_t *len)
{
	uint8_t *out;
	char why[CL_WHY_MAX];

	if (cli_opa_write(f, n, &out, len, why) != 0)
		fail_msg("write: %s", why);
	return out;
}

static uint8_t *
standard(size_t *len)
{
	struct cli_opa_file f[] = {
	    {".manifest", (const uint8_t *)manifest, sizeof manifest - 1},
	    {"data.json", (const uint8_t *)data, sizeof data - 1},
	    {"closurelog.rego", (const uint8_t *)"package x\n", 10},
	};

	return bundle(f, 3, len);
}

static uint8_t *
gunzip_all(const uint8_t *gz, size_t len, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	inflateEnd(&z);
	return out;
}

static uint8_t *
gzip_all(const uint8_t *in, size_t len, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = compressBound(len) + 64;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static void
refused(const uint8_t *gz, size_t len, const char *reason)
{
	struct cli_opa_bundle b;
	char why[CL_WHY_MAX] = "";

	if (cli_opa_read(gz, len, &b, why) == 0)
		fail_msg("accepted an archive that should fail with \"%s\"", reason);
	assert_null(b.data);
	assert_null(b.revision);
	if (strstr(why, reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
}

static void
test_roundtrip(void **state)
{
	struct cli_opa_bundle b;
	size_t l1, l2;
	uint8_t *g1 = standard(&l1), *g2 = standard(&l2);
	char why[CL_WHY_MAX];

	(void)state;
	assert_int_equal(l1, l2);
	assert_memory_equal(g1, g2, l1);
	/* gzip header: no name, mtime 0 */
	assert_int_equal(g1[3], 0);
	assert_int_equal(g1[4] | g1[5] | g1[6] | g1[7], 0);
	assert_int_equal(cli_opa_read(g1, l1, &b, why), 0);
	assert_int_equal(b.data_len, sizeof data - 1);
	assert_memory_equal(b.data, data, b.data_len);
	assert_string_equal(b.revision, "r-1");
	cli_opa_clear(&b);
	/* Without a manifest there is no revision. */
	{
		struct cli_opa_file f = {"data.json", (const uint8_t *)data, sizeof data - 1};
		uint8_t *g = bundle(&f, 1, &l2);

		assert_int_equal(cli_opa_read(g, l2, &b, why), 0);
		assert_null(b.revision);
		cli_opa_clear(&b);
		free(g);
	}
	free(g1);
	free(g2);
}

static void
test_gzip_refused(void **state)
{
	size_t len, n;
	uint8_t *g = standard(&len), *two;

	(void)state;
	refused((const uint8_t *)"{\"nix\": {}}", 11, "not a gzip file");
	/* Trailing bytes, and a second member. */
	assert_non_null(two = malloc(2 * len));
	memcpy(two, g, len);
	two[len] = 0;
	refused(two, len + 1, "after the gzip stream");
	memcpy(two + len, g, len);
	refused(two, 2 * len, "after the gzip stream");
	free(two);
	/* Truncations. */
	for (n = 18; n < len; n += 7)
		refused(g, n, "bundle: ");
	/* A CRC mismatch. */
	g[len - 6] ^= 1;
	refused(g, len, "corrupt");
	free(g);
	/* A bomb: more than CLI_OPA_TAR_MAX bytes inflated. */
	{
		size_t big = (size_t)CLI_OPA_TAR_MAX + 4096, gl;
		uint8_t *zeros = calloc(1, big), *bomb;

		assert_non_null(zeros);
		bomb = gzip_all(zeros, big, &gl);
		free(zeros);
		refused(bomb, gl, "inflates to more than");
		free(bomb);
	}
}

/* Mutate the tar inside the standard bundle with fn, then read it. */
static void
tar_case(void (*fn)(uint8_t *tar, size_t *len), const char *reason)
{
	size_t glen, tlen, olen;
	uint8_t *g = standard(&glen), *tar = gunzip_all(g, glen, &tlen), *out;

	fn(tar, &tlen);
	out = gzip_all(tar, tlen, &olen);
	refused(out, olen, reason);
	free(out);
	free(tar);
	free(g);
}

/* Recompute the checksum of the header at h. */
static void
resum(uint8_t *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void
t_checksum(uint8_t *t, size_t *len)
{
	(void)len;
	t[1] ^= 1;
}
static void
t_magic(uint8_t *t, size_t *len)
{
	(void)len;
	memcpy(t + 257, "ustar ", 6);
	resum(t);
}
static void
t_symlink(uint8_t *t, size_t *len)
{
	(void)len;
	t[156] = '2';
	resum(t);
}
static void
t_pax(uint8_t *t, size_t *len)
{
	(void)len;
	t[156] = 'x';
	resum(t);
}
static void
t_dotdot(uint8_t *t, size_t *len)
{
	(void)len;
	memcpy(t, "../manifest", 12);
	resum(t);
}
static void
t_size(uint8_t *t, size_t *len)
{
	(void)len;
	memcpy(t + 124, "0000000009x", 11);
	resum(t);
}
static void
t_size_huge(uint8_t *t, size_t *len)
{
	(void)len;
	memcpy(t + 124, "77777777777", 11);
	resum(t);
}
static void
t_no_end(uint8_t *t, size_t *len)
{
	(void)t;
	*len -= 1024;
}
static void
t_trailing(uint8_t *t, size_t *len)
{
	t[*len - 1] = 'x';
}
static void
t_rename_dup(uint8_t *t, size_t *len)
{
	/* The third entry (closurelog.rego) renamed to data.json. */
	size_t at = 0;

	(void)len;
	for (int i = 0; i < 2; i++) {
		unsigned long size = strtoul((char *)t + at + 124, NULL, 8);

		at += 512 + (size + 511) / 512 * 512;
	}
	memset(t + at, 0, 100);
	memcpy(t + at, "./data.json", 11);
	resum(t + at);
}
static void
t_nested(uint8_t *t, size_t *len)
{
	size_t at = 0;

	(void)len;
	for (int i = 0; i < 2; i++) {
		unsigned long size = strtoul((char *)t + at + 124, NULL, 8);

		at += 512 + (size + 511) / 512 * 512;
	}
	memset(t + at, 0, 100);
	memcpy(t + at, "nix/data.json", 13);
	resum(t + at);
}

static void
test_tar_refused(void **state)
{
	(void)state;
	tar_case(t_checksum, "bad header checksum");
	tar_case(t_magic, "not a ustar header");
	tar_case(t_symlink, "only files and directories");
	tar_case(t_pax, "only files and directories");
	tar_case(t_dotdot, "refusing the entry name");
	tar_case(t_size, "bad size");
	tar_case(t_size_huge, "bad size");
	tar_case(t_no_end, "");
	tar_case(t_trailing, "data after the end");
	tar_case(t_rename_dup, "appears twice");
	tar_case(t_nested, "below the root are not supported");
}

static void
test_content_refused(void **state)
{
	struct cli_opa_file f[2] = {
	    {".manifest", (const uint8_t *)"{\"roots\": []}", 13},
	    {"data.json", (const uint8_t *)data, sizeof data - 1},
	};
	size_t len;
	uint8_t *g;

	(void)state;
	g = bundle(f, 2, &len);
	refused(g, len, "no revision string");
	free(g);
	f[0].data = (const uint8_t *)"{revision";
	f[0].len = 9;
	g = bundle(f, 2, &len);
	refused(g, len, ".manifest: line 1");
	free(g);
	g = bundle(f, 1, &len);
	refused(g, len, "no /data.json");
	free(g);
	/* The writer refuses names it cannot store. */
	{
		char name[102], why[CL_WHY_MAX];
		struct cli_opa_file l = {name, (const uint8_t *)"", 0};
		uint8_t *out;

		memset(name, 'n', 101);
		name[101] = '\0';
		assert_int_equal(cli_opa_write(&l, 1, &out, &len, why), CL_EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_gzip_refused),
	    cmocka_unit_test(test_tar_refused),
	    cmocka_unit_test(test_content_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
