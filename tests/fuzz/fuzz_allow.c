/*
 * fuzz_allow.c: the submitter allowlist parser must never crash; a refusal
 * says why and returns no list; an accepted list holds distinct Ed25519
 * keys, each of which formats to a key string that parses back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allow.h"
#include "cl.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct allow_list *l = (struct allow_list *)1;
	char why[CL_WHY_MAX], vkey[NOTE_VKEY_MAX];
	char *buf = malloc(size > 0 ? size : 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	why[0] = '\0';
	if (allow_list_parse("fuzz", buf, size, &l, why) != 0) {
		if (l != NULL || why[0] == '\0' || strlen(why) >= CL_WHY_MAX)
			abort();
		free(buf);
		return 0;
	}
	if (l->n > ALLOW_MAX_KEYS)
		abort();
	for (size_t i = 0; i < l->n; i++) {
		struct note_verifier back;

		if (l->keys[i].type != NOTE_TYPE_ED25519)
			abort();
		for (size_t k = 0; k < i; k++) {
			if (memcmp(&l->keys[k], &l->keys[i], sizeof l->keys[i]) == 0)
				abort();
		}
		note_verifier_format(&l->keys[i], vkey, sizeof vkey);
		if (note_verifier_parse(vkey, strlen(vkey), &back, NULL) != 0 ||
		    memcmp(&back, &l->keys[i], sizeof back) != 0)
			abort();
	}
	allow_list_free(l);
	free(buf);
	return 0;
}
