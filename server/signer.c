/*
 * signer.c: holds the log's Ed25519 key for the life of the process and
 * signs checkpoints with it.
 *
 * The key lives in one sodium_malloc'd (guarded, locked) struct, wiped on
 * close.  A first start generates the key so that `make run` needs no
 * setup; a key file others can read is refused rather than used.
 */
#include "signer.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cl.h"
#include "key.h"
#include "sth.h"

struct signer {
	struct note_signer key;
};

int
signer_open(const char *key_path, const char *pub_path, const char *name, int create,
    struct signer **out, char *why)
{
	struct signer *s;
	struct note_verifier v;
	struct stat st;
	int rc;

	*out = NULL;
	if ((s = sodium_malloc(sizeof *s)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if (create && stat(key_path, &st) != 0 && errno == ENOENT) {
		if ((rc = note_signer_generate(name, &s->key, why)) != 0)
			goto fail;
		if ((rc = key_signer_save(key_path, &s->key, why)) != 0)
			goto fail;
		note_signer_verifier(&s->key, &v);
		if ((rc = key_verifier_save(pub_path, &v, why)) != 0 && rc != EEXIST)
			goto fail;
	} else if ((rc = key_signer_load(key_path, &s->key, why)) != 0) {
		goto fail;
	}
	if (strcmp(s->key.name, name) != 0) {
		rc = cl_why(why, CL_EORIGIN, "log key %s is named \"%s\", but the origin is \"%s\"",
		    key_path, s->key.name, name);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sodium_free(s); /* wipes */
	return rc;
}

void
signer_close(struct signer *s)
{
	if (s != NULL)
		sodium_free(s);
}

void
signer_verifier(const struct signer *s, struct note_verifier *v)
{
	note_signer_verifier(&s->key, v);
}

int
signer_checkpoint(const struct signer *s, uint64_t size, const uint8_t root[MT_HASH_LEN],
    uint8_t *out, size_t cap, size_t *len)
{
	struct sth c;

	memset(&c, 0, sizeof c);
	if (strlen(s->key.name) >= sizeof c.origin)
		return CL_EINVAL;
	memcpy(c.origin, s->key.name, strlen(s->key.name) + 1);
	c.size = size;
	memcpy(c.root, root, MT_HASH_LEN);
	return sth_sign(&c, &s->key, out, cap, len, NULL);
}
