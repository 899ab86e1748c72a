/*
 * state.c: the auditor's state directory (state.h).
 *
 * DIR/full is JSON (docs/audit.md), read strictly: no unknown or repeated
 * keys, the right edge exactly one hash per set bit of the size, from the
 * highest height down, each in canonical base64.  The checks that need the
 * log key (the checkpoint's signature, the tree's root) come after the
 * parse, which is pure so that it can be fuzzed on its own.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "file.h"
#include "wire.h"

#define FULL_FORMAT "closurelog audit full state v1"

void
cli_state_path(const struct cli_state *s, const char *name, char out[CLI_STATE_PATH_MAX])
{
	if ((size_t)snprintf(out, CLI_STATE_PATH_MAX, "%s/%s", s->dir, name) >= CLI_STATE_PATH_MAX)
		out[0] = '\0';
}

int
cli_state_open(struct cli_state *s, const char *dir, char *why)
{
	char path[CLI_STATE_PATH_MAX];
	struct stat st;

	s->lock_fd = -1;
	if (dir[0] == '\0' || strlen(dir) > CLI_STATE_DIR_MAX)
		return cli_why(why, ENAMETOOLONG, "the state directory name is empty or too long");
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_why(
		    why, errno, "cannot create the state directory %s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_why(why, ENOTDIR, "state %s is not a directory", dir);
	cli_state_path(s, "lock", path);
	if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return cli_why(why, errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return cli_why(why, EBUSY, "another audit is running (%s is locked)", path);
		return cli_why(why, errno, "cannot lock %s: %s", path, strerror(errno));
	}
	return 0;
}

void
cli_state_close(struct cli_state *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* and with it the lock */
	s->lock_fd = -1;
}

int
cli_state_checkpoint_load(const struct cli_state *s, const struct note_verifier *key,
    const char *origin, uint8_t **note, size_t *len, struct sth *c, char *why)
{
	char path[CLI_STATE_PATH_MAX], w[CL_WHY_MAX];
	int rc;

	cli_state_path(s, "checkpoint", path);
	rc = cl_file_read(path, CL_CHECKPOINT_MAX, 0, note, len, w);
	if (rc == ENOENT)
		return rc;
	if (rc != 0)
		return cli_why(why, rc, "cannot read the state: %s", w);
	rc = sth_open(*note, *len, key, origin, c, w);
	if (rc == CL_EORIGIN)
		cli_why(why, rc,
		    "state %s is not for the origin \"%s\" (%s): refusing a tampered state", path,
		    origin, w);
	else if (rc != 0)
		cli_why(why, rc,
		    "state %s is not signed by the log key: refusing a tampered state (%s)", path,
		    w);
	if (rc != 0) {
		free(*note);
		*note = NULL;
		*len = 0;
	}
	return rc;
}

int
cli_state_checkpoint_save(const struct cli_state *s, const uint8_t *note, size_t len, char *why)
{
	char path[CLI_STATE_PATH_MAX], w[CL_WHY_MAX];
	int rc;

	cli_state_path(s, "checkpoint", path);
	if ((rc = cl_file_write(path, note, len, 0600, 0, w)) != 0)
		return cli_why(why, rc, "cannot save the state: %s", w);
	return 0;
}

int
cli_state_full_parse(const uint8_t *buf, size_t len, struct mt_range *range, uint8_t **note_buf,
    size_t *note_len, char *why)
{
	json_t *j = NULL, *edge;
	json_error_t jerr;
	const char *format, *note;
	json_int_t size;
	size_t nlen, want = 0, i = 0;
	int rc = CL_EINVAL;

	mt_range_init(range);
	*note_buf = NULL;
	*note_len = 0;
	if ((j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		cli_why(why, rc, "not JSON (%s at byte %d)", jerr.text, jerr.position);
		goto out;
	}
	if (json_unpack_ex(j, &jerr, JSON_STRICT, "{s:s, s:I, s:o, s:s%}", "format", &format,
	        "size", &size, "edge", &edge, "checkpoint", &note, &nlen) != 0) {
		cli_why(why, rc, "%s", jerr.text);
		goto out;
	}
	if (strcmp(format, FULL_FORMAT) != 0) {
		cli_why(why, rc, "format is not \"" FULL_FORMAT "\"");
		goto out;
	}
	if (size < 0) {
		cli_why(why, rc, "size is negative");
		goto out;
	}
	for (int h = 0; h < 64; h++)
		want += (uint64_t)size >> h & 1;
	if (!json_is_array(edge) || json_array_size(edge) != want) {
		cli_why(why, rc, "edge does not hold one hash per set bit of size");
		goto out;
	}
	range->size = (uint64_t)size;
	for (int h = 63; h >= 0; h--) {
		json_t *e = json_array_get(edge, i);
		json_int_t height;
		const char *b64;
		size_t blen, got;

		if (!((uint64_t)size >> h & 1))
			continue;
		i++;
		if (json_unpack_ex(e, &jerr, JSON_STRICT, "{s:I, s:s%}", "height", &height, "hash",
		        &b64, &blen) != 0 ||
		    height != h ||
		    cl_b64_decode(b64, blen, range->hash[h], MT_HASH_LEN, &got) != 0 ||
		    got != MT_HASH_LEN) {
			cli_why(why, rc, "edge %zu is not {\"height\": %d, \"hash\": <base64>}",
			    i - 1, h);
			goto out;
		}
	}
	if (nlen > CL_CHECKPOINT_MAX) {
		cli_why(why, CL_EINVAL, "checkpoint is longer than %d bytes", CL_CHECKPOINT_MAX);
		goto out;
	}
	if ((*note_buf = malloc(nlen + 1)) == NULL) {
		rc = cli_why(why, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*note_buf, note, nlen + 1);
	*note_len = nlen;
	rc = 0;
out:
	json_decref(j);
	if (rc != 0)
		mt_range_init(range);
	return rc;
}

/* Why a well-formed DIR/full does not add up, or NULL if it does. */
static const char *
full_check(const struct mt_range *range, const uint8_t *note, size_t note_len,
    const struct note_verifier *key, const char *origin, const struct sth *trusted)
{
	uint8_t root[MT_HASH_LEN];
	struct sth c;

	if (sth_open(note, note_len, key, origin, &c, NULL) != 0)
		return "its checkpoint is not signed by the log key";
	mt_range_root(range, root);
	if (c.size != range->size || sodium_memcmp(root, c.root, MT_HASH_LEN) != 0)
		return "its tree does not match its signed checkpoint";
	if (trusted == NULL)
		return "there is no DIR/checkpoint beside it";
	if (c.size > trusted->size ||
	    (c.size == trusted->size && sodium_memcmp(c.root, trusted->root, MT_HASH_LEN) != 0))
		return "it is ahead of, or disagrees with, DIR/checkpoint";
	return NULL;
}

int
cli_state_full_load(const struct cli_state *s, const struct note_verifier *key, const char *origin,
    const struct sth *trusted, struct mt_range *range, char *why)
{
	char path[CLI_STATE_PATH_MAX], w[CLI_MSG_MAX];
	uint8_t *buf = NULL, *note = NULL;
	size_t len, note_len;
	const char *bad;
	int rc;

	mt_range_init(range);
	cli_state_path(s, "full", path);
	rc = cl_file_read(path, CLI_STATE_FULL_MAX, 0, &buf, &len, w);
	if (rc == ENOENT)
		return rc;
	if (rc != 0)
		return cli_why(why, rc, "cannot read the state: %s", w);
	if (cli_state_full_parse(buf, len, range, &note, &note_len, w) != 0)
		bad = w;
	else
		bad = full_check(range, note, note_len, key, origin, trusted);
	rc = 0;
	if (bad != NULL) {
		mt_range_init(range);
		rc = cli_why(why, CL_EINVAL, "state %s: %s: refusing a tampered state", path, bad);
	}
	free(note);
	free(buf);
	return rc;
}

int
cli_state_full_encode(
    const struct mt_range *range, const uint8_t *note, size_t len, char **out, size_t *out_len)
{
	char b64[CL_B64_LEN(MT_HASH_LEN) + 1];
	json_t *j, *edge = json_array();
	char *text;
	size_t n;

	*out = NULL;
	*out_len = 0;
	for (int h = 63; edge != NULL && h >= 0; h--) {
		if (!(range->size >> h & 1))
			continue;
		cl_b64_encode(range->hash[h], MT_HASH_LEN, b64, sizeof b64);
		if (json_array_append_new(
		        edge, json_pack("{s:i, s:s}", "height", h, "hash", b64)) != 0) {
			json_decref(edge);
			return ENOMEM;
		}
	}
	/* json_pack fails (NULL) on a checkpoint that is not UTF-8. */
	j = json_pack("{s:s, s:I, s:o, s:s%}", "format", FULL_FORMAT, "size",
	    (json_int_t)range->size, "edge", edge, "checkpoint", (const char *)note, len);
	if (j == NULL)
		return edge == NULL ? ENOMEM : CL_EINVAL;
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		return ENOMEM;
	n = strlen(text);
	if (n + 1 > CLI_STATE_FULL_MAX) {
		free(text);
		return CL_ETOOBIG;
	}
	text[n] = '\n'; /* a text file: end it with a newline, not a NUL */
	*out = text;
	*out_len = n + 1;
	return 0;
}

int
cli_state_full_save(const struct cli_state *s, const struct mt_range *range, const uint8_t *note,
    size_t len, char *why)
{
	char path[CLI_STATE_PATH_MAX], w[CL_WHY_MAX], *text;
	size_t n;
	int rc;

	cli_state_path(s, "full", path);
	if ((rc = cli_state_full_encode(range, note, len, &text, &n)) != 0)
		return cli_why(why, rc, "cannot save the state: %s: %s", path, cl_strerror(rc));
	if ((rc = cl_file_write(path, text, n, 0600, 0, w)) != 0)
		cli_why(why, rc, "cannot save the state: %s", w);
	free(text);
	return rc;
}
