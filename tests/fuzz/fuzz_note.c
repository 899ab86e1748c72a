/*
 * fuzz_note.c: note_open must never crash, with a known log key, a known
 * witness key, or no key at all.  Whatever it accepts goes on to
 * sth_parse, and a checkpoint without extension lines must format back to
 * exactly its text (one spelling per checkpoint).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "note.h"
#include "sth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The log and witness keys of the worked example in tiles-and-witness.md. */
static const char *const vkeys[] = {
    "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "example.com/witness-test+7bab4ff8+BHAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
};

static void
check_text(const uint8_t *data, const struct note *n)
{
	struct sth s;
	char buf[STH_TEXT_MAX + 1];
	size_t len;

	if (sth_parse((const char *)data, n->text_len, &s, NULL) != 0 || s.ext_len != 0)
		return;
	len = sth_format(&s, buf, sizeof buf);
	if (len != n->text_len || memcmp(buf, data, len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct note_verifier keys[2];
	static int ready;
	static struct note n;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		for (int i = 0; i < 2; i++) {
			if (note_verifier_parse(vkeys[i], strlen(vkeys[i]), &keys[i], NULL) != 0)
				abort();
		}
		ready = 1;
	}
	if (note_open(data, size, NULL, 0, &n, NULL) == 0) {
		if (n.n_verified != 0 || n.text_len == 0 || n.text_len >= size ||
		    data[n.text_len - 1] != '\n')
			abort();
		check_text(data, &n);
	}
	if (note_open(data, size, keys, 2, &n, NULL) == 0) {
		if (n.n_verified == 0)
			abort();
		check_text(data, &n);
	}
	(void)note_open(data, size, &keys[1], 1, &n, NULL);
	return 0;
}
