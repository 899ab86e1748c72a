/*
 * allow.c: load, reload and share the submitter allowlist.
 *
 * Snapshots are reference counted so that a SIGHUP reload never pulls a
 * list out from under a verifier thread.  A malformed file never replaces
 * a good list: the reload fails, says which line is wrong, and the old
 * list stays in force.
 */
#include "allow.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "file.h"

/* A snapshot: the public list, its keys, and a reference count guarded by
 * allow.mu (lists from allow_list_parse have refs 1 and no holder). */
typedef struct snap {
	unsigned refs;
	struct allow_list pub;
	struct note_verifier keys[];
} snap;

static snap *
snap_of(const struct allow_list *l)
{
	return (snap *)(void *)((char *)(uintptr_t)l - offsetof(snap, pub));
}

struct allow {
	pthread_mutex_t mu;
	snap *cur;
	char path[];
};

/* Parse text into a new snapshot. */
static int
snap_parse(const char *path, const char *buf, size_t len, snap **out, char *why)
{
	snap *s = NULL;
	const char *line, *next;
	size_t cap = 16, lineno = 0;
	int rc;

	*out = NULL;
	if (len > ALLOW_FILE_MAX)
		return cl_why(why, CL_ETOOBIG, "%s: larger than %d bytes", path, ALLOW_FILE_MAX);
	if ((s = malloc(sizeof *s + cap * sizeof s->keys[0])) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	s->refs = 1;
	s->pub.n = 0;
	for (line = buf; line != NULL && line < buf + len; line = next) {
		const char *end;
		struct note_verifier v;
		char inner[CL_WHY_MAX];
		size_t i;

		lineno++;
		next = memchr(line, '\n', (size_t)(buf + len - line));
		end = next != NULL ? next : buf + len;
		if (next != NULL)
			next++;
		while (line < end && (*line == ' ' || *line == '\t'))
			line++;
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		if (line == end || *line == '#')
			continue;
		if ((rc = note_verifier_parse(line, (size_t)(end - line), &v, inner)) != 0) {
			cl_why(why, rc, "%s:%zu: %s", path, lineno, inner);
			goto out;
		}
		if (v.type != NOTE_TYPE_ED25519) {
			rc = cl_why(why, CL_ETYPE,
			    "%s:%zu: submitter keys must be Ed25519 (type 0x01)", path, lineno);
			goto out;
		}
		for (i = 0; i < s->pub.n; i++) {
			if (memcmp(&s->keys[i], &v, sizeof v) == 0)
				break;
		}
		if (i < s->pub.n)
			continue; /* the same key twice is harmless */
		if (s->pub.n == ALLOW_MAX_KEYS) {
			rc = cl_why(why, CL_ETOOBIG, "%s: more than %d keys", path, ALLOW_MAX_KEYS);
			goto out;
		}
		if (s->pub.n == cap) {
			snap *t = realloc(s, sizeof *s + 2 * cap * sizeof s->keys[0]);

			if (t == NULL) {
				rc = cl_why(why, ENOMEM, "out of memory");
				goto out;
			}
			s = t;
			cap *= 2;
		}
		s->keys[s->pub.n++] = v;
	}
	s->pub.keys = s->keys;
	*out = s;
	s = NULL;
	rc = 0;
out:
	free(s);
	return rc;
}

/* Read and parse the file at path (missing: an empty list). */
static int
parse(const char *path, snap **out, char *why)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = cl_file_read(path, ALLOW_FILE_MAX, 0, &buf, &len, why);
	if (rc != 0 && rc != ENOENT)
		return rc;
	rc = snap_parse(path, buf != NULL ? (const char *)buf : "", len, out, why);
	free(buf);
	return rc;
}

int
allow_list_parse(const char *name, const char *buf, size_t len, struct allow_list **out, char *why)
{
	snap *s;
	int rc;

	*out = NULL;
	if ((rc = snap_parse(name, buf, len, &s, why)) != 0)
		return rc;
	*out = &s->pub;
	return 0;
}

void
allow_list_free(struct allow_list *l)
{
	if (l != NULL)
		free(snap_of(l));
}

int
allow_open(const char *path, struct allow **out, char *why)
{
	struct allow *a;
	size_t plen = strlen(path) + 1;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof *a + plen)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	memcpy(a->path, path, plen);
	if ((rc = parse(path, &a->cur, why)) != 0) {
		free(a);
		return rc;
	}
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return 0;
}

int
allow_reload(struct allow *a, char *why)
{
	snap *fresh, *old;
	int rc;

	if ((rc = parse(a->path, &fresh, why)) != 0)
		return rc;
	pthread_mutex_lock(&a->mu);
	old = a->cur;
	a->cur = fresh;
	if (--old->refs > 0)
		old = NULL;
	pthread_mutex_unlock(&a->mu);
	free(old);
	return 0;
}

const struct allow_list *
allow_acquire(struct allow *a)
{
	snap *s;

	pthread_mutex_lock(&a->mu);
	s = a->cur;
	s->refs++;
	pthread_mutex_unlock(&a->mu);
	return &s->pub;
}

void
allow_release(struct allow *a, const struct allow_list *l)
{
	snap *s = snap_of(l);
	bool last;

	pthread_mutex_lock(&a->mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&a->mu);
	if (last)
		free(s);
}

void
allow_close(struct allow *a)
{
	if (a == NULL)
		return;
	free(a->cur);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
