/*
 * opa.c: OPA bundle archives, written and read with zlib and a ustar codec
 * of our own.
 *
 * Why not libarchive: a bundle needs three regular files in one archive
 * format, and reading must refuse everything else (links, sparse files,
 * extension headers, a second gzip member); a general archive library
 * would have to be fenced in to do less than it does.  ustar is 512-byte
 * headers with octal fields, small enough to check completely.
 */
#include "opa.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "cl.h"

#define BLOCK 512

/* ---- ustar ---- */

static void
octal(char *field, size_t width, uint64_t v)
{
	/* width - 1 digits, zero-padded, then NUL */
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (char)('0' + (v & 7));
	field[width - 1] = '\0';
}

static unsigned
checksum(const uint8_t *h)
{
	unsigned sum = 0;

	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum;
}

static void
header(uint8_t h[BLOCK], const char *name, size_t size)
{
	char *c = (char *)h;

	memset(h, 0, BLOCK);
	memcpy(c, name, strlen(name));
	octal(c + 100, 8, 0644);
	octal(c + 108, 8, 0);
	octal(c + 116, 8, 0);
	octal(c + 124, 12, size);
	octal(c + 136, 12, 0);
	c[156] = '0';
	memcpy(c + 257, "ustar", 6);
	memcpy(c + 263, "00", 2);
	/* The checksum field: six octal digits, NUL, space. */
	octal(c + 148, 7, checksum(h));
	c[155] = ' ';
}

/* ---- gzip ---- */

struct growbuf {
	uint8_t *p;
	size_t len, cap;
};

static int
grow(struct growbuf *b, size_t need)
{
	uint8_t *np;
	size_t cap = b->cap ? b->cap : 64 * 1024;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL)
		return ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

int
cli_opa_write(const struct cli_opa_file *files, size_t n, uint8_t **out, size_t *len, char *why)
{
	struct growbuf tar = {0}, gz = {0};
	z_stream z = {0};
	int rc = 0, zrc;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t pad = (BLOCK - files[i].len % BLOCK) % BLOCK;

		if (strlen(files[i].name) == 0 || strlen(files[i].name) > 100) {
			rc = cl_why(why, CL_EINVAL, "bundle file name \"%s\" is not 1 to 100 bytes",
			    files[i].name);
			goto out;
		}
		if ((rc = grow(&tar, tar.len + BLOCK + files[i].len + pad)) != 0)
			goto oom;
		header(tar.p + tar.len, files[i].name, files[i].len);
		tar.len += BLOCK;
		memcpy(tar.p + tar.len, files[i].data, files[i].len);
		memset(tar.p + tar.len + files[i].len, 0, pad);
		tar.len += files[i].len + pad;
	}
	if ((rc = grow(&tar, tar.len + 2 * BLOCK)) != 0)
		goto oom;
	memset(tar.p + tar.len, 0, 2 * BLOCK);
	tar.len += 2 * BLOCK;

	/* windowBits 15 + 16: a gzip wrapper with zlib's default header (no
	 * name, mtime 0), so the bytes depend on the input only. */
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		goto oom;
	if ((rc = grow(&gz, deflateBound(&z, tar.len) + 64)) != 0) {
		deflateEnd(&z);
		goto oom;
	}
	z.next_in = tar.p;
	z.avail_in = (uInt)tar.len;
	z.next_out = gz.p;
	z.avail_out = (uInt)gz.cap;
	zrc = deflate(&z, Z_FINISH);
	gz.len = gz.cap - z.avail_out;
	deflateEnd(&z);
	if (zrc != Z_STREAM_END) {
		rc = cl_why(why, CL_EINVAL, "gzip: deflate failed (%d)", zrc);
		goto out;
	}
	*out = gz.p;
	*len = gz.len;
	gz.p = NULL;
	goto out;
oom:
	rc = cl_why(why, ENOMEM, "out of memory writing the bundle");
out:
	free(tar.p);
	free(gz.p);
	return rc;
}

static int
gunzip(const uint8_t *in, size_t len, struct growbuf *out, char *why)
{
	z_stream z = {0};
	int zrc, rc = 0;

	if (len < 18 || in[0] != 0x1f || in[1] != 0x8b)
		return cl_why(why, CL_EINVAL, "not a gzip file (a bundle is a .tar.gz)");
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return cl_why(why, ENOMEM, "out of memory reading the bundle");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	do {
		if (out->len == out->cap) {
			if (out->cap >= CLI_OPA_TAR_MAX) {
				rc = cl_why(why, CL_ETOOBIG,
				    "bundle: the archive inflates to more than %d bytes",
				    CLI_OPA_TAR_MAX);
				goto out;
			}
			if (grow(out, out->cap + 1) != 0) {
				rc = cl_why(why, ENOMEM, "out of memory reading the bundle");
				goto out;
			}
			if (out->cap > CLI_OPA_TAR_MAX)
				out->cap = CLI_OPA_TAR_MAX;
		}
		z.next_out = out->p + out->len;
		z.avail_out = (uInt)(out->cap - out->len);
		zrc = inflate(&z, Z_NO_FLUSH);
		out->len = out->cap - z.avail_out;
		if (zrc != Z_OK && zrc != Z_STREAM_END) {
			rc = cl_why(why, CL_EINVAL, "bundle: gzip data is corrupt (%s)",
			    z.msg != NULL            ? z.msg
			        : zrc == Z_BUF_ERROR ? "truncated"
			                             : "error");
			goto out;
		}
		if (zrc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			rc = cl_why(why, CL_EINVAL, "bundle: gzip data is truncated");
			goto out;
		}
	} while (zrc != Z_STREAM_END);
	if (z.avail_in != 0)
		rc = cl_why(why, CL_EINVAL, "bundle: %u bytes after the gzip stream", z.avail_in);
out:
	inflateEnd(&z);
	return rc;
}

/* An octal field: digits, then NUL or space padding to the end. */
static int
octal_parse(const uint8_t *f, size_t width, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	while (i < width && f[i] == ' ')
		i++;
	if (i == width || f[i] < '0' || f[i] > '7')
		return -1;
	for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
		if (*v > (UINT64_MAX >> 3))
			return -1;
		*v = *v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < width; i++) {
		if (f[i] != '\0' && f[i] != ' ')
			return -1;
	}
	return 0;
}

static bool
zero_block(const uint8_t *b)
{
	for (size_t i = 0; i < BLOCK; i++) {
		if (b[i] != 0)
			return false;
	}
	return true;
}

/* The entry's name (prefix/name), normalised: no leading "/" or "./", no
 * trailing "/".  Returns 0; 1 for the archive's root itself ("./"); -1 for
 * a name we refuse (control characters, empty, "." or ".." components). */
static int
entry_name(const uint8_t *h, char out[260])
{
	char name[101], prefix[156], *p;
	size_t n;

	memcpy(name, h, 100);
	name[100] = '\0';
	memcpy(prefix, h + 345, 155);
	prefix[155] = '\0';
	if (prefix[0] != '\0')
		snprintf(out, 260, "%s/%s", prefix, name);
	else
		snprintf(out, 260, "%s", name);
	p = out;
	while (p[0] == '/' || (p[0] == '.' && p[1] == '/'))
		p += p[0] == '/' ? 1 : 2;
	memmove(out, p, strlen(p) + 1);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	for (p = out; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	}
	if (out[0] == '\0')
		return 1;
	for (p = out;;) {
		char *slash = strchr(p, '/');
		size_t cl = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (cl == 0 || (cl == 1 && p[0] == '.') || (cl == 2 && p[0] == '.' && p[1] == '.'))
			return -1;
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

/* Does name end in "/<file>"? */
static bool
below_root(const char *name, const char *file)
{
	size_t n = strlen(name), f = strlen(file);

	return n > f && name[n - f - 1] == '/' && strcmp(name + n - f, file) == 0;
}

static int
manifest_revision(const uint8_t *m, size_t len, char **rev, char *why)
{
	json_t *j;
	json_error_t jerr;
	const json_t *r;

	if (len > CLI_OPA_MANIFEST_MAX)
		return cl_why(why, CL_ETOOBIG, "bundle: .manifest is more than %d bytes",
		    CLI_OPA_MANIFEST_MAX);
	if ((j = json_loadb((const char *)m, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return cl_why(
		    why, CL_EINVAL, "bundle: .manifest: line %d: %s", jerr.line, jerr.text);
	r = json_object_get(j, "revision");
	if (!json_is_object(j) || !json_is_string(r)) {
		json_decref(j);
		return cl_why(why, CL_EINVAL, "bundle: .manifest has no revision string");
	}
	*rev = strdup(json_string_value(r));
	json_decref(j);
	return *rev == NULL ? cl_why(why, ENOMEM, "out of memory") : 0;
}

int
cli_opa_read(const uint8_t *gz, size_t len, struct cli_opa_bundle *b, char *why)
{
	struct growbuf tar = {0};
	char names[64][260];
	size_t n_names = 0, at = 0;
	const uint8_t *data = NULL, *man = NULL;
	size_t data_len = 0, man_len = 0;
	int rc;

	memset(b, 0, sizeof *b);
	if ((rc = gunzip(gz, len, &tar, why)) != 0)
		goto out;
	for (;;) {
		const uint8_t *h = tar.p + at;
		char name[260];
		uint64_t size, sum;
		char type;

		if (tar.len - at < BLOCK) {
			rc = cl_why(
			    why, CL_EINVAL, "bundle: the archive is truncated at byte %zu", at);
			goto out;
		}
		if (zero_block(h))
			break;
		if (memcmp(h + 257, "ustar", 6) != 0 || memcmp(h + 263, "00", 2) != 0) {
			rc = cl_why(
			    why, CL_EINVAL, "bundle: entry at byte %zu is not a ustar header", at);
			goto out;
		}
		if (octal_parse(h + 148, 8, &sum) != 0 || sum != checksum(h)) {
			rc = cl_why(why, CL_EINVAL, "bundle: bad header checksum at byte %zu", at);
			goto out;
		}
		if (octal_parse(h + 124, 12, &size) != 0 || size > tar.len - at - BLOCK) {
			rc = cl_why(
			    why, CL_EINVAL, "bundle: bad size in the header at byte %zu", at);
			goto out;
		}
		if ((rc = entry_name(h, name)) < 0 || (rc == 1 && h[156] != '5')) {
			rc = cl_why(
			    why, CL_EINVAL, "bundle: refusing the entry name at byte %zu", at);
			goto out;
		}
		rc = 0;
		type = (char)h[156];
		if (type == '5') {
			if (size != 0) {
				rc =
				    cl_why(why, CL_EINVAL, "bundle: directory %s has a size", name);
				goto out;
			}
		} else if (type == '0' || type == '\0') {
			for (size_t i = 0; i < n_names; i++) {
				if (strcmp(names[i], name) == 0) {
					rc = cl_why(
					    why, CL_EINVAL, "bundle: %s appears twice", name);
					goto out;
				}
			}
			if (n_names == sizeof names / sizeof names[0]) {
				rc = cl_why(why, CL_ETOOBIG, "bundle: more than %zu files",
				    sizeof names / sizeof names[0]);
				goto out;
			}
			memcpy(names[n_names++], name, sizeof name);
			if (strcmp(name, "data.json") == 0) {
				data = h + BLOCK;
				data_len = (size_t)size;
			} else if (strcmp(name, ".manifest") == 0) {
				man = h + BLOCK;
				man_len = (size_t)size;
			} else if (below_root(name, "data.json") || below_root(name, "data.yaml") ||
			    strcmp(name, "data.yaml") == 0) {
				rc = cl_why(why, CL_EINVAL,
				    "bundle: %s: data files below the root are not supported",
				    name);
				goto out;
			}
		} else {
			rc = cl_why(why, CL_EINVAL,
			    "bundle: %s: entry type '%c' (only files and directories are allowed)",
			    name, type >= 0x20 && type < 0x7f ? type : '?');
			goto out;
		}
		at += BLOCK + (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
		if (at > tar.len) {
			rc = cl_why(why, CL_EINVAL, "bundle: the archive is truncated in %s", name);
			goto out;
		}
	}
	/* Two zero blocks, then nothing but zero padding. */
	for (size_t i = at; i < tar.len; i++) {
		if (tar.p[i] != 0) {
			rc = cl_why(why, CL_EINVAL, "bundle: data after the end of the archive");
			goto out;
		}
	}
	if (tar.len - at < 2 * BLOCK) {
		rc = cl_why(why, CL_EINVAL, "bundle: the archive does not end in two zero blocks");
		goto out;
	}
	if (data == NULL) {
		rc = cl_why(why, CL_EINVAL, "bundle: no /data.json");
		goto out;
	}
	if (man != NULL && (rc = manifest_revision(man, man_len, &b->revision, why)) != 0)
		goto out;
	if ((b->data = malloc(data_len + 1)) == NULL) {
		rc = cl_why(why, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(b->data, data, data_len);
	b->data[data_len] = '\0';
	b->data_len = data_len;
out:
	if (rc != 0)
		cli_opa_clear(b);
	free(tar.p);
	return rc;
}

void
cli_opa_clear(struct cli_opa_bundle *b)
{
	free(b->data);
	free(b->revision);
	memset(b, 0, sizeof *b);
}
