/*
 * key.c: signer and verifier key files.
 *
 * A key file is one key string and a newline.  The private one is the log's
 * whole identity, so it is handled like signify and ssh handle theirs:
 * created 0600 under a temporary name, fsynced, then linked into place only
 * if nothing is there yet (an existing key is never replaced, not even by a
 * crash halfway through), and the directory is fsynced so the name
 * survives a power cut (cl_file_write with CL_FILE_EXCL).  Reading refuses
 * anything but a small regular file, and for private keys anything group
 * or others could read or write (cl_file_read with CL_FILE_SECRET).  Every
 * buffer that held key text is wiped before it is freed.
 */
#include "key.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "file.h"

/* Read the key file at path into *buf (malloc'd; the caller wipes and
 * frees it) and set *len to the length of its one line, without the
 * optional final '\n'. */
static int
key_file_read(const char *path, bool secret, char **buf, size_t *len, char *why)
{
	uint8_t *b;
	size_t n;
	char sub[CL_WHY_MAX];
	int rc;

	*buf = NULL;
	*len = 0;
	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "key file path is empty");
	if ((rc = cl_file_read(path, KEY_FILE_MAX, secret ? CL_FILE_SECRET : 0, &b, &n, sub)) != 0)
		return cl_why(why, rc, "key file %s", sub);
	if (n > 0 && b[n - 1] == '\n')
		n--;
	if (n == 0)
		rc = cl_why(why, CL_EINVAL, "key file %s is empty", path);
	else if (memchr(b, '\n', n) != NULL)
		rc = cl_why(why, CL_EINVAL, "key file %s holds more than one line", path);
	if (rc != 0) {
		sodium_memzero(b, n);
		free(b);
		return rc;
	}
	*buf = (char *)b;
	*len = n;
	return 0;
}

/* Make the file `path` hold data[0..len) with the given mode, if and only
 * if path does not exist yet. */
static int
key_file_write(const char *path, const char *data, size_t len, mode_t mode, char *why)
{
	char sub[CL_WHY_MAX];
	int rc;

	if (path == NULL || *path == '\0')
		return cl_why(why, CL_EINVAL, "key file path is empty");
	if ((rc = cl_file_write(path, data, len, mode, CL_FILE_EXCL, sub)) != 0)
		return cl_why(why, rc, "key file %s", sub);
	return 0;
}

/* Wipe and free what key_file_read returned. */
static void
key_file_free(char *buf, size_t len)
{
	if (buf != NULL) {
		sodium_memzero(buf, len + 1);
		free(buf);
	}
}

int
key_signer_load(const char *path, struct note_signer *s, char *why)
{
	char *buf, sub[CL_WHY_MAX];
	size_t n = 0;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = key_file_read(path, true, &buf, &n, why)) == 0 &&
	    (rc = note_signer_parse(buf, n, s, sub)) != 0)
		cl_why(why, rc, "key file %s: %s", path, sub);
	key_file_free(buf, n);
	return rc;
}

int
key_signer_save(const char *path, const struct note_signer *s, char *why)
{
	char buf[NOTE_SKEY_MAX + 1];
	size_t n;
	int rc;

	if ((n = note_signer_format(s, buf, NOTE_SKEY_MAX)) == 0) {
		rc = cl_why(why, CL_EINVAL, "signer key is not valid");
		goto out;
	}
	buf[n++] = '\n';
	rc = key_file_write(path, buf, n, 0600, why);
out:
	sodium_memzero(buf, sizeof buf);
	return rc;
}

int
key_verifier_load(const char *path, struct note_verifier *v, char *why)
{
	char *buf, sub[CL_WHY_MAX];
	size_t n = 0;
	int rc;

	memset(v, 0, sizeof *v);
	if ((rc = key_file_read(path, false, &buf, &n, why)) == 0 &&
	    (rc = note_verifier_parse(buf, n, v, sub)) != 0)
		cl_why(why, rc, "key file %s: %s", path, sub);
	key_file_free(buf, n);
	return rc;
}

int
key_verifier_save(const char *path, const struct note_verifier *v, char *why)
{
	char buf[NOTE_VKEY_MAX + 1];
	size_t n;

	if ((n = note_verifier_format(v, buf, NOTE_VKEY_MAX)) == 0)
		return cl_why(why, CL_EINVAL, "verifier key is not valid");
	buf[n++] = '\n';
	return key_file_write(path, buf, n, 0644, why);
}

int
key_verifier_arg(const char *arg, struct note_verifier *v, char *why)
{
	char sub[CL_WHY_MAX];
	int rc, prc;

	memset(v, 0, sizeof *v);
	if (arg == NULL || *arg == '\0')
		return cl_why(why, CL_EINVAL, "verifier key argument is empty");
	if ((prc = note_verifier_parse(arg, strlen(arg), v, sub)) == 0)
		return 0;
	rc = key_verifier_load(arg, v, why);
	/* No such file, but it looks like a key string: the key string's
	 * fault is the more useful reason. */
	if (rc == ENOENT && strchr(arg, '+') != NULL)
		return cl_why(
		    why, prc, "%.100s is not a usable verifier key (%s) nor a file", arg, sub);
	return rc;
}
