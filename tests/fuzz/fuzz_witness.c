/*
 * fuzz_witness.c: the add-checkpoint body parser must never crash, and
 * whatever it accepts must format back to exactly the same bytes; then the
 * whole witness decision runs on the input (against the vector log key, in
 * a temporary state directory) and must answer with a status of the spec's
 * table and a one-line body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "note.h"
#include "witness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The log and witness keys of note-vectors.json ("derived"). */
static const char LOG_VKEY[] =
    "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const uint8_t WITNESS_SEED[32] = {0x03, 0xd1, 0xa0, 0x4d, 0xbe, 0x67, 0xe1, 0x1d, 0xd4, 0x76,
    0x87, 0x04, 0x0f, 0x45, 0xfc, 0x57, 0xeb, 0x69, 0xcb, 0xdc, 0x67, 0x6a, 0xc3, 0x53, 0x7f, 0x64,
    0x09, 0xe7, 0x0c, 0x12, 0x87, 0x22};

static struct wit *w;
static char dir[] = "/tmp/fuzz_witness.XXXXXX";

/* Leave no state directory behind. */
static void
cleanup(void)
{
	char p[sizeof dir + 16];

	wit_close(w);
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

static struct wit *
witness(void)
{
	struct note_verifier log;
	struct note_signer key;
	struct wit_config c;

	if (w != NULL)
		return w;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL ||
	    note_verifier_parse(LOG_VKEY, sizeof LOG_VKEY - 1, &log, NULL) != 0 ||
	    note_signer_from_seed("example.com/witness-test", WITNESS_SEED, &key, NULL) != 0)
		abort();
	c = (struct wit_config){dir, 0, &log, 1, &key};
	if (wit_open(&c, &w, NULL) != 0)
		abort();
	atexit(cleanup);
	note_signer_wipe(&key);
	return w;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[WIT_BODY_MAX];
	struct wit_body b;
	struct wit_reply r;
	size_t len = 0;

	if (wit_body_parse(data, size, &b, NULL) == 0) {
		if (wit_body_format(&b, out, sizeof out, &len) != 0)
			abort();
		if (len != size || memcmp(out, data, size) != 0)
			abort();
	}
	wit_add_checkpoint(witness(), data, size, 1700000000, &r);
	switch (r.status) {
	case 200:
	case 400:
	case 403:
	case 404:
	case 409:
	case 422:
		break;
	default:
		abort();
	}
	if (r.len == 0 || r.len > sizeof r.body || r.body[r.len - 1] != '\n' ||
	    memchr(r.body, '\n', r.len - 1) != NULL)
		abort();
	return 0;
}
