/*
 * pcut.c: rebuild a data file from the power-cut journal (see pcut.h).
 *
 * Writes are resolved first (durable, lost, or pending at the cut) and only
 * then applied in journal order, so that a lost write never hides a later
 * durable one to the same bytes and a durable one is never undone by a
 * later write that did not land.
 */
#include "pcut.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PC_BLOCK 4096

enum fate { F_PENDING, F_DURABLE, F_LOST };

struct wrec {
	uint64_t off, len;
	const uint8_t *data;
	enum fate fate;
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

static char *saved_asan; /* ASAN_OPTIONS before pc_env_set, or NULL */
static bool asan_saved;

void
pc_env_set(const char *lib, const char *journal, long cut, const char *fault)
{
	const char *old = getenv("ASAN_OPTIONS");
	char cutv[32], asan[1024];

	snprintf(cutv, sizeof cutv, "%ld", cut);
	setenv("LD_PRELOAD", lib, 1);
	setenv("CL_PC_JOURNAL", journal, 1);
	setenv("CL_PC_CUT", cut > 0 ? cutv : "", 1);
	setenv("CL_PC_FAULT", fault != NULL ? fault : "", 1);
	if (!asan_saved) {
		saved_asan = old != NULL ? strdup(old) : NULL;
		asan_saved = true;
	}
	snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", old != NULL ? old : "",
	    old != NULL && old[0] != '\0' ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
}

void
pc_env_clear(void)
{
	unsetenv("LD_PRELOAD");
	unsetenv("CL_PC_JOURNAL");
	unsetenv("CL_PC_CUT");
	unsetenv("CL_PC_FAULT");
	if (asan_saved) {
		if (saved_asan != NULL)
			setenv("ASAN_OPTIONS", saved_asan, 1);
		else
			unsetenv("ASAN_OPTIONS");
		free(saved_asan);
		saved_asan = NULL;
		asan_saved = false;
	}
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

int
pc_rebuild(const char *base, const char *journal, const char *out, enum pc_mode mode, uint64_t seed,
    struct pc_stats *st)
{
	uint8_t *img = NULL, *jb = NULL;
	size_t size = 0, cap = 0, jlen, n = 0, ncap = 0, first_pending = 0;
	struct wrec *w = NULL;
	struct pc_stats s;
	uint64_t rs = seed * 2 + 1;
	int rc = -1;

	memset(&s, 0, sizeof s);
	if (base != NULL && read_all(base, &img, &size) != 0)
		return -1;
	cap = size;
	if (read_all(journal, &jb, &jlen) != 0)
		goto out;
	for (size_t at = 0; at + sizeof(struct pc_rec) <= jlen;) {
		struct pc_rec r;

		memcpy(&r, jb + at, sizeof r);
		if (r.magic != PC_MAGIC) {
			errno = EINVAL;
			goto out;
		}
		if (r.len > jlen - at - sizeof r)
			break; /* torn last record */
		at += sizeof r;
		s.calls[(unsigned char)r.op]++;
		if (r.op == PC_OP_WRITE || r.op == PC_OP_PWRITE) {
			if (n == ncap) {
				struct wrec *t;

				ncap = ncap ? ncap * 2 : 256;
				if ((t = realloc(w, ncap * sizeof *w)) == NULL)
					goto out;
				w = t;
			}
			w[n] = (struct wrec){
			    r.off, r.len, jb + at, (r.flags & PC_F_DSYNC) ? F_DURABLE : F_PENDING};
			n++;
			s.writes++;
			at += r.len;
		} else if (r.op == PC_OP_FDATASYNC || r.op == PC_OP_FSYNC) {
			bool failed = (r.flags & PC_F_FAILED) != 0;

			s.syncs++;
			s.failed_syncs += failed;
			for (size_t i = first_pending; i < n; i++) {
				if (w[i].fate == F_PENDING)
					w[i].fate = failed ? F_LOST : F_DURABLE;
			}
			first_pending = n;
		} else if (r.op == PC_OP_DIRSYNC) {
			size_t k = s.calls[PC_OP_DIRSYNC] - 1;

			if (k < 4)
				snprintf(s.dirs[k], sizeof s.dirs[k], "%.*s", (int)r.len,
				    (const char *)jb + at);
			at += r.len;
		} else {
			errno = EINVAL;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (w[i].fate == F_DURABLE) {
			if (apply(&img, &size, &cap, w[i].off, w[i].data, w[i].len) != 0)
				goto out;
			continue;
		}
		s.lost++;
		if (w[i].fate == F_LOST || mode == PC_DROP)
			continue;
		/* Torn: each block that the write touches lands or not. */
		for (uint64_t o = w[i].off; o < w[i].off + w[i].len;) {
			uint64_t end = (o / PC_BLOCK + 1) * PC_BLOCK;

			if (end > w[i].off + w[i].len)
				end = w[i].off + w[i].len;
			if (next_rand(&rs) & 1) {
				if (apply(&img, &size, &cap, o, w[i].data + (o - w[i].off),
				        end - o) != 0)
					goto out;
				s.torn_blocks++;
			}
			o = end;
		}
	}
	if (base != NULL || n > 0) {
		if (write_all(out, img, size) != 0)
			goto out;
	} else if (unlink(out) != 0 && errno != ENOENT) {
		goto out;
	}
	if (st != NULL)
		*st = s;
	rc = 0;
out:
	free(w);
	free(jb);
	free(img);
	return rc;
}
