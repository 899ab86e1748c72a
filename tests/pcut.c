/*
 * pcut.c: rebuild a data file from the power-cut journal (see pcut.h).
 *
 * Writes are resolved first (durable, lost, or pending at the cut; a sync
 * resolves its own file's writes only) and only then applied in journal
 * order, so that a lost write never hides a later
 * durable one to the same bytes and a durable one is never undone by a
 * later write that did not land.
 */
#include "pcut.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define PC_BLOCK 4096

enum fate { F_PENDING, F_DURABLE, F_LOST };

struct wrec {
	unsigned file;
	uint64_t off, len;
	const uint8_t *data;
	enum fate fate;
};

/* A parsed journal: the writes with their fate at the cut, and the files. */
struct journal {
	uint8_t *buf;
	size_t len;
	struct wrec *w;
	size_t n, cap;
	char paths[PC_FILES_MAX][512];
	size_t n_files;
};

static int
read_all(const char *path, uint8_t **out, size_t *len)
{
	struct stat sb;
	uint8_t *b = NULL;
	size_t got = 0;
	int fd, e;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &sb) != 0)
		goto fail;
	if ((b = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	close(fd);
	*out = b;
	*len = got;
	return 0;
fail:
	e = errno;
	free(b);
	close(fd);
	errno = e;
	return -1;
}

static int
write_all(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), e;
	size_t put = 0;

	if (fd < 0)
		return -1;
	while (put < len) {
		ssize_t r = write(fd, data + put, len - put);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		put += (size_t)r;
	}
	return close(fd);
}

void
pc_env_set(const char *lib, const char *journal, long cut, const char *cut_op, const char *fault)
{
	char cutv[32];

	snprintf(cutv, sizeof cutv, "%ld", cut);
	h_preload(lib);
	setenv("CL_PC_JOURNAL", journal, 1);
	setenv("CL_PC_CUT", cut > 0 ? cutv : "", 1);
	setenv("CL_PC_CUT_OP", cut > 0 && cut_op != NULL ? cut_op : "", 1);
	setenv("CL_PC_FAULT", fault != NULL ? fault : "", 1);
}

void
pc_env_clear(void)
{
	h_preload_clear();
	unsetenv("CL_PC_JOURNAL");
	unsetenv("CL_PC_CUT");
	unsetenv("CL_PC_CUT_OP");
	unsetenv("CL_PC_FAULT");
}

int
pc_copy(const char *src, const char *dst)
{
	uint8_t *b;
	size_t len;
	int rc;

	if (read_all(src, &b, &len) != 0)
		return -1;
	rc = write_all(dst, b, len);
	free(b);
	return rc;
}

/* xorshift64*: reproducible choices from a seed. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int
apply(uint8_t **img, size_t *size, size_t *cap, uint64_t off, const uint8_t *data, uint64_t len)
{
	if (off + len > *cap) {
		size_t nc = (size_t)(off + len) * 2;
		uint8_t *t = realloc(*img, nc);

		if (t == NULL)
			return -1;
		*img = t;
		*cap = nc;
	}
	if (off > *size)
		memset(*img + *size, 0, (size_t)(off - *size));
	memcpy(*img + off, data, (size_t)len);
	if (off + len > *size)
		*size = (size_t)(off + len);
	return 0;
}

static void
journal_free(struct journal *j)
{
	free(j->w);
	free(j->buf);
	memset(j, 0, sizeof *j);
}

static int
journal_read(const char *path, struct journal *j, struct pc_stats *s)
{
	size_t first[PC_FILES_MAX] = {0}; /* first write not yet resolved, by file */
	/* The journal's file for each of the writing process's numbers: a
	 * journal may hold several processes in turn (a crash, then a
	 * restart on the same files), each naming its files from 0. */
	size_t map[PC_FILES_MAX];

	for (size_t f = 0; f < PC_FILES_MAX; f++)
		map[f] = PC_FILES_MAX;
	memset(j, 0, sizeof *j);
	memset(s, 0, sizeof *s);
	if (read_all(path, &j->buf, &j->len) != 0)
		return -1;
	for (size_t at = 0; at + sizeof(struct pc_rec) <= j->len;) {
		struct pc_rec r;
		const uint8_t *data;

		memcpy(&r, j->buf + at, sizeof r);
		if (r.magic != PC_MAGIC || r.file >= PC_FILES_MAX)
			goto bad;
		if (r.len > j->len - at - sizeof r)
			break; /* torn last record */
		at += sizeof r;
		data = j->buf + at;
		at += r.len;
		s->calls[(unsigned char)r.op]++;
		if (r.op == PC_OP_WRITE || r.op == PC_OP_PWRITE || r.op == PC_OP_FDATASYNC ||
		    r.op == PC_OP_FSYNC) {
			if (map[r.file] == PC_FILES_MAX)
				goto bad;
			r.file = map[r.file];
		}
		switch (r.op) {
		case PC_OP_NAME: {
			size_t f = 0;

			if (r.len >= sizeof j->paths[0])
				goto bad;
			while (f < j->n_files &&
			    !(strlen(j->paths[f]) == r.len &&
			        memcmp(j->paths[f], data, r.len) == 0))
				f++;
			if (f == PC_FILES_MAX)
				goto bad;
			if (f == j->n_files) {
				memcpy(j->paths[f], data, r.len);
				j->paths[f][r.len] = '\0';
				j->n_files++;
			}
			map[r.file] = f;
			break;
		}
		case PC_OP_WRITE:
		case PC_OP_PWRITE:
			if (r.file >= j->n_files)
				goto bad;
			if (j->n == j->cap) {
				struct wrec *t;

				j->cap = j->cap ? j->cap * 2 : 256;
				if ((t = realloc(j->w, j->cap * sizeof *t)) == NULL)
					goto fail;
				j->w = t;
			}
			j->w[j->n++] = (struct wrec){r.file, r.off, r.len, data,
			    (r.flags & PC_F_DSYNC) ? F_DURABLE : F_PENDING};
			s->writes++;
			break;
		case PC_OP_FDATASYNC:
		case PC_OP_FSYNC: {
			bool failed = (r.flags & PC_F_FAILED) != 0;

			if (r.file >= j->n_files)
				goto bad;
			s->syncs++;
			s->failed_syncs += failed;
			/* A sync covers the writes to its own file only. */
			for (size_t i = first[r.file]; i < j->n; i++) {
				if (j->w[i].file == r.file && j->w[i].fate == F_PENDING)
					j->w[i].fate = failed ? F_LOST : F_DURABLE;
			}
			first[r.file] = j->n;
			break;
		}
		case PC_OP_DIRSYNC: {
			size_t k = s->calls[PC_OP_DIRSYNC] - 1;

			if (k < 4)
				snprintf(s->dirs[k], sizeof s->dirs[k], "%.*s", (int)r.len,
				    (const char *)data);
			break;
		}
		default:
			goto bad;
		}
	}
	s->files = j->n_files;
	return 0;
bad:
	errno = EINVAL;
fail:
	journal_free(j);
	return -1;
}

int
pc_stats_read(const char *journal, struct pc_stats *st)
{
	struct journal j;

	if (journal_read(journal, &j, st) != 0)
		return -1;
	journal_free(&j);
	return 0;
}

/* base_dir/<path with each '/' as '%'>. */
static void
base_name(char *out, size_t cap, const char *base_dir, const char *path)
{
	size_t n = (size_t)snprintf(out, cap, "%s/", base_dir);

	for (; *path != '\0' && n + 1 < cap; path++)
		out[n++] = *path == '/' ? '%' : *path;
	out[n] = '\0';
}

int
pc_base_add(const char *base_dir, const char *path)
{
	char base[1024];

	base_name(base, sizeof base, base_dir, path);
	return pc_copy(path, base);
}

int
pc_base_restore(const char *base_dir)
{
	DIR *d = opendir(base_dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char from[1024], to[512];

		if (e->d_name[0] != '%')
			continue;
		snprintf(from, sizeof from, "%s/%s", base_dir, e->d_name);
		snprintf(to, sizeof to, "%s", e->d_name);
		for (char *c = to; *c != '\0'; c++)
			*c = *c == '%' ? '/' : *c;
		rc = pc_copy(from, to);
	}
	closedir(d);
	return rc;
}

/* Rebuild file f of j from its base copy; the result goes to its path (and
 * to base_dir with new_base). */
static int
rebuild_one(const struct journal *j, unsigned f, const char *base_dir, bool new_base,
    enum pc_mode mode, uint64_t *rs, struct pc_stats *s)
{
	char base[1024];
	uint8_t *img = NULL;
	size_t size = 0, cap;
	bool exists, written = false;
	int rc = -1;

	base_name(base, sizeof base, base_dir, j->paths[f]);
	exists = read_all(base, &img, &size) == 0;
	if (!exists && errno != ENOENT)
		return -1;
	cap = size;
	for (size_t i = 0; i < j->n; i++) {
		const struct wrec *w = &j->w[i];

		if (w->file != f)
			continue;
		if (w->fate == F_DURABLE) {
			if (apply(&img, &size, &cap, w->off, w->data, w->len) != 0)
				goto out;
			written = true;
			continue;
		}
		s->lost++;
		if (w->fate == F_LOST || mode == PC_DROP)
			continue;
		/* Torn: each block that the write touches lands or not. */
		for (uint64_t o = w->off; o < w->off + w->len;) {
			uint64_t end = (o / PC_BLOCK + 1) * PC_BLOCK;

			if (end > w->off + w->len)
				end = w->off + w->len;
			if (next_rand(rs) & 1) {
				if (apply(&img, &size, &cap, o, w->data + (o - w->off), end - o) !=
				    0)
					goto out;
				written = true;
				s->torn_blocks++;
			}
			o = end;
		}
	}
	if (exists || written) {
		if (write_all(j->paths[f], img, size) != 0 ||
		    (new_base && write_all(base, img, size) != 0))
			goto out;
	} else if (unlink(j->paths[f]) != 0 && errno != ENOENT) {
		goto out;
	}
	rc = 0;
out:
	free(img);
	return rc;
}

int
pc_rebuild(const char *journal, const char *base_dir, bool new_base, enum pc_mode mode,
    uint64_t seed, struct pc_stats *st)
{
	struct journal j;
	struct pc_stats s;
	uint64_t rs = seed * 2 + 1;
	int rc = 0;

	if (journal_read(journal, &j, &s) != 0)
		return -1;
	for (unsigned f = 0; f < j.n_files && rc == 0; f++)
		rc = rebuild_one(&j, f, base_dir, new_base, mode, &rs, &s);
	journal_free(&j);
	if (rc == 0 && st != NULL)
		*st = s;
	return rc;
}
