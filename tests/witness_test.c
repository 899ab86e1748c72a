/*
 * witness_test.c: the tlog-witness core (server/witness) in process.
 *
 * The add-checkpoint vector of note-vectors.json is answered byte for byte
 * (cosignature line, 409 body, stored cosigned checkpoint); then the spec's
 * status table is walked row by row, including the order of its checks
 * (a body that is wrong in two ways gets the earlier row's answer); then
 * the parser's malformed bodies, its round trip, and the state surviving a
 * reopen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "testutil.h"
#include "witness.h"

#define TS 1700000000u

static char why[CL_WHY_MAX];

struct fx {
	json_t *vec, *d;
	struct note_signer log, wkey, other;
	struct note_verifier logv;
	char dir[256];
	struct wit *w;
};

static void
seed_signer(const json_t *obj, struct note_signer *s)
{
	uint8_t seed[32];

	tu_unhex(tu_str(obj, "seed_hex"), seed, sizeof seed);
	assert_int_equal(note_signer_from_seed(tu_str(obj, "name"), seed, s, why), 0);
}

static void
fx_open(struct fx *f)
{
	struct wit_config c = {f->dir, 0, &f->logv, 1, &f->wkey};

	assert_int_equal(wit_open(&c, &f->w, why), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	assert_non_null(f);
	f->vec = tu_vectors("note-vectors.json");
	f->d = json_object_get(f->vec, "derived");
	seed_signer(json_object_get(f->d, "log"), &f->log);
	seed_signer(json_object_get(f->d, "witness"), &f->wkey);
	assert_int_equal(note_signer_generate("other.example/log", &f->other, why), 0);
	note_signer_verifier(&f->log, &f->logv);
	snprintf(f->dir, sizeof f->dir, "%s/witness_test.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	fx_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	wit_close(f->w);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	note_signer_wipe(&f->log);
	note_signer_wipe(&f->wkey);
	note_signer_wipe(&f->other);
	json_decref(f->vec);
	free(f);
	return 0;
}

/* Concatenate strings (NULL-terminated list) into a new buffer. */
static char *
cat(const char *first, ...)
{
	va_list ap;
	size_t len = 0;
	char *out;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	assert_non_null(out = malloc(len + 1));
	out[0] = '\0';
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

/* Sign `text` with s into a malloc'd note string. */
static char *
signed_note(const struct note_signer *s, const char *text)
{
	uint8_t out[4096];
	size_t len = 0;
	char *n;

	assert_int_equal(
	    note_sign(s, (const uint8_t *)text, strlen(text), out, sizeof out, &len, why), 0);
	assert_non_null(n = malloc(len + 1));
	memcpy(n, out, len);
	n[len] = '\0';
	return n;
}

static struct wit_reply
add(struct fx *f, const char *body)
{
	struct wit_reply r;

	wit_add_checkpoint(f->w, (const uint8_t *)body, strlen(body), TS, &r);
	return r;
}

static void
expect(struct fx *f, const char *body, int status)
{
	struct wit_reply r = add(f, body);

	if (r.status != status)
		fail_msg("wanted %d, got %d: %.*s", status, r.status, (int)r.len, r.body);
	assert_true(r.len > 0 && r.body[r.len - 1] == '\n');
	assert_null(memchr(r.body, '\n', r.len - 1)); /* one line */
	if (status == 409)
		assert_string_equal(r.type, WIT_SIZE_TYPE);
	else
		assert_string_equal(r.type, WIT_TEXT_TYPE);
}

/* The proof lines of the vector request (old 6 -> 8), each with '\n'. */
static void
vector_proof(struct fx *f, char lines[3][64])
{
	const char *t = strchr(tu_str(f->d, "witness_add_checkpoint_request"), '\n') + 1;

	for (int i = 0; i < 3; i++) {
		const char *nl = strchr(t, '\n');

		snprintf(lines[i], 64, "%.*s", (int)(nl + 1 - t), t);
		t = nl + 1;
	}
}

/* Put the witness at size 6 (old 0, no proof: the first contact). */
static void
at_six(struct fx *f)
{
	char *b = cat("old 0\n\n", tu_str(f->d, "checkpoint6"), NULL);

	expect(f, b, 200);
	free(b);
}

static void
test_vector_bytes(void **state)
{
	struct fx *f = *state;
	struct note_verifier wv;
	char vk[NOTE_VKEY_MAX], hex[65];
	const char *origin = tu_str(json_object_get(f->d, "log"), "name");
	uint8_t h[32], *cp = NULL;
	size_t len = 0;
	struct wit_reply r;
	uint64_t size = 0;
	char *b;

	wit_verifier(f->w, &wv);
	assert_true(note_verifier_format(&wv, vk, sizeof vk) > 0);
	assert_string_equal(vk, tu_str(json_object_get(f->d, "witness"), "vkey"));

	/* A client without state says old 0 and learns the size: 409 "6\n". */
	at_six(f);
	b = cat("old 0\n\n", tu_str(f->d, "checkpoint8"), NULL);
	r = add(f, b);
	free(b);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.type, WIT_SIZE_TYPE);
	assert_int_equal(r.len,
	    strlen(tu_str(f->d,
	        "witness_add_checkpoint_response_409_if_witness_is_at_6_and_client_says_old_0")));
	assert_memory_equal(r.body,
	    tu_str(f->d,
	        "witness_add_checkpoint_response_409_if_witness_is_at_6_and_client_says_old_0"),
	    r.len);

	/* The vector request, answered with the vector's cosignature line. */
	r = add(f, tu_str(f->d, "witness_add_checkpoint_request"));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, WIT_TEXT_TYPE);
	assert_int_equal(r.len, strlen(tu_str(f->d, "witness_add_checkpoint_response_200")));
	assert_memory_equal(r.body, tu_str(f->d, "witness_add_checkpoint_response_200"), r.len);
	assert_int_equal(wit_size_get(f->w, origin, &size), 0);
	assert_int_equal(size, 8);

	/* What GET serves: the vector's cosigned checkpoint, byte for byte. */
	crypto_hash_sha256(h, (const uint8_t *)origin, strlen(origin));
	cl_hex_encode(h, sizeof h, hex);
	assert_int_equal(wit_checkpoint_alloc(f->w, hex, 64, &cp, &len), 0);
	assert_int_equal(len, strlen(tu_str(f->d, "checkpoint8_cosigned")));
	assert_memory_equal(cp, tu_str(f->d, "checkpoint8_cosigned"), len);
	free(cp);
	hex[0] = hex[0] == '0' ? '1' : '0';
	assert_int_equal(wit_checkpoint_alloc(f->w, hex, 64, &cp, &len), ENOENT);
	assert_int_equal(wit_checkpoint_alloc(f->w, "ABCD", 4, &cp, &len), CL_EINVAL);
	assert_null(cp);

	/* The state outlives the process. */
	wit_close(f->w);
	fx_open(f);
	assert_int_equal(wit_size_get(f->w, origin, &size), 0);
	assert_int_equal(size, 8);
	b = cat("old 6\n\n", tu_str(f->d, "checkpoint8"), NULL);
	r = add(f, b);
	free(b);
	assert_int_equal(r.status, 409);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.body, "8\n", 2);
}

/* Row 1: an origin the witness does not know is 404, even when the body
 * is also wrong in a later row's way (old > size). */
static void
test_404_unknown_origin(void **state)
{
	struct fx *f = *state;
	char *cp = signed_note(
	    &f->other, "other.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
	char *b = cat("old 0\n\n", cp, NULL), *b2 = cat("old 9\n\n", cp, NULL);

	expect(f, b, 404);
	expect(f, b2, 404);
	free(b);
	free(b2);
	free(cp);
}

/* Row 2: no signature by a trusted key, or a trusted key's line that does
 * not verify: 403 (before old > size). */
static void
test_403_log_signature(void **state)
{
	struct fx *f = *state;
	struct note_signer same_name;
	const char *c8 = tu_str(f->d, "checkpoint8");
	char *forged, *b, *flip;

	/* Right name, wrong key: its line matches no configured key. */
	assert_int_equal(note_signer_generate("example.com/tlog-test", &same_name, why), 0);
	forged = signed_note(&same_name, tu_str(f->d, "checkpoint8_body"));
	b = cat("old 0\n\n", forged, NULL);
	expect(f, b, 403);
	free(b);
	b = cat("old 9\n\n", forged, NULL);
	expect(f, b, 403);
	free(b);
	free(forged);
	note_signer_wipe(&same_name);

	/* The trusted key's line, one bit of its signature flipped. */
	flip = strdup(c8);
	assert_non_null(flip);
	flip[strlen(flip) - 10] ^= 0x01; /* a base64 letter to its neighbour */
	b = cat("old 0\n\n", flip, NULL);
	expect(f, b, 403);
	free(b);
	free(flip);

	/* A signed text that differs from the one signed. */
	flip = strdup(c8);
	flip[strlen("example.com/tlog-test\n")] = '9';
	b = cat("old 0\n\n", flip, NULL);
	expect(f, b, 403);
	free(b);
	free(flip);
}

/* Row 3: old > size, and malformed bodies: 400. */
static void
test_400(void **state)
{
	struct fx *f = *state;
	const char *c8 = tu_str(f->d, "checkpoint8");
	char *twoline = signed_note(&f->log, "example.com/tlog-test\n8\n");
	char *badroot = signed_note(&f->log, "example.com/tlog-test\n8\nnot-a-root\n");
	char *lead0 = signed_note(
	    &f->log, "example.com/tlog-test\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
	char p[3][64];
	const char *bodies[] = {
	    cat("old 9\n\n", c8, NULL),
	    cat("", c8, NULL),
	    cat("old 08\n\n", c8, NULL),
	    cat("old -1\n\n", c8, NULL),
	    cat("old 18446744073709551616\n\n", c8, NULL),
	    cat("old  0\n\n", c8, NULL),
	    cat("Old 0\n\n", c8, NULL),
	    cat("old 0\r\n\n", c8, NULL),
	    cat("old 0\n", c8, NULL), /* no empty line: the text is taken as a proof line */
	    cat("old 0\n\n", NULL),
	    cat("old 0\n\n", twoline, NULL),
	    cat("old 0\n\n", badroot, NULL),
	    cat("old 0\n\n", lead0, NULL),
	    cat("old 0\n\n", tu_str(f->d, "checkpoint8_body"), NULL), /* unsigned */
	    cat("old "
	        "0\n\nexample.com/tlog-test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
	        "\xe2\x80\x94 example.com/tlog-test \xff\n",
	        NULL),
	};

	vector_proof(f, p);
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		expect(f, bodies[i], 400);
		free((void *)bodies[i]);
	}
	/* A proof hash that is not base64 of 32 bytes, in every way. */
	{
		const char *bad[] = {"DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o\n",
		    "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o==\n",
		    "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72p=\n", /* non-canonical bits */
		    "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY7w==\n", /* 31 bytes */
		    " DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=\n"};

		at_six(f);
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char *b = cat("old 6\n", p[0], bad[i], p[2], "\n", c8, NULL);

			expect(f, b, 400);
			free(b);
		}
	}
	free(twoline);
	free(badroot);
	free(lead0);
}

/* Row 4: old differs from the stored size: 409 with the stored size. */
static void
test_409(void **state)
{
	struct fx *f = *state;
	const char *c8 = tu_str(f->d, "checkpoint8");
	char p[3][64], *b;
	struct wit_reply r;

	/* Nothing stored: the stored size is 0. */
	vector_proof(f, p);
	b = cat("old 6\n", p[0], p[1], p[2], "\n", c8, NULL);
	r = add(f, b);
	assert_int_equal(r.status, 409);
	assert_memory_equal(r.body, "0\n", r.len);
	/* At 6: old 0 and old 7 are both refused with 6. */
	at_six(f);
	expect(f, b, 200); /* (the right old: moves to 8) */
	free(b);
	b = cat("old 7\n\n", c8, NULL);
	r = add(f, b);
	assert_int_equal(r.status, 409);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.body, "8\n", 2);
	free(b);
	/* Rolling back to 6 is a 409 too, and the checkpoint is not cosigned. */
	b = cat("old 6\n\n", tu_str(f->d, "checkpoint6"), NULL);
	r = add(f, b);
	assert_int_equal(r.status, 409);
	assert_memory_equal(r.body, "8\n", 2);
	free(b);
}

/* Rows 5-7: 422. */
static void
test_422(void **state)
{
	struct fx *f = *state;
	const char *c8 = tu_str(f->d, "checkpoint8");
	char p[3][64], *b, *zero, *other8, flipped[64];

	/* Size 0 whose root is not the empty-tree root. */
	zero = signed_note(
	    &f->log, "example.com/tlog-test\n0\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
	b = cat("old 0\n\n", zero, NULL);
	expect(f, b, 422);
	free(b);

	/* old 0 with a proof. */
	vector_proof(f, p);
	b = cat("old 0\n", p[0], "\n", c8, NULL);
	expect(f, b, 422);
	free(b);

	/* A failing proof: one bit flipped, one hash missing, one too many,
	 * the hashes out of order. */
	at_six(f);
	snprintf(flipped, sizeof flipped, "%s", p[1]);
	flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
	{
		char *bad[] = {
		    cat("old 6\n", p[0], flipped, p[2], "\n", c8, NULL),
		    cat("old 6\n", p[0], p[1], "\n", c8, NULL),
		    cat("old 6\n", p[0], p[1], p[2], p[2], "\n", c8, NULL),
		    cat("old 6\n", p[1], p[0], p[2], "\n", c8, NULL),
		    cat("old 6\n\n", c8, NULL),
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			expect(f, bad[i], 422);
			free(bad[i]);
		}
	}
	/* Still at 6: the good proof moves it to 8. */
	b = cat("old 6\n", p[0], p[1], p[2], "\n", c8, NULL);
	expect(f, b, 200);
	free(b);

	/* old == size with another root: 422 (a fork at a cosigned size). */
	other8 = signed_note(
	    &f->log, "example.com/tlog-test\n8\nduZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=\n");
	b = cat("old 8\n\n", other8, NULL);
	expect(f, b, 422);
	free(b);
	/* ... and with the same root: cosigned again. */
	b = cat("old 8\n\n", c8, NULL);
	expect(f, b, 200);
	free(b);
	/* A proof with old == size is not the empty proof: 422. */
	b = cat("old 8\n", p[0], "\n", c8, NULL);
	expect(f, b, 422);
	free(b);
	free(zero);
	free(other8);
}

/* Row 8: success; several log keys for one origin; unknown lines ignored. */
static void
test_200(void **state)
{
	struct fx *f = *state;
	struct note_signer rot;
	struct note_verifier keys[2], wv;
	struct wit_config c;
	struct wit_reply r;
	struct note n;
	char *cp, *b, *full;
	uint8_t msg[4096];
	size_t len = 0;

	/* A second key for the same origin (key rotation). */
	assert_int_equal(note_signer_generate("example.com/tlog-test", &rot, why), 0);
	keys[0] = f->logv;
	note_signer_verifier(&rot, &keys[1]);
	wit_close(f->w);
	c = (struct wit_config){f->dir, 0, keys, 2, &f->wkey};
	assert_int_equal(wit_open(&c, &f->w, why), 0);
	cp = signed_note(&rot, tu_str(f->d, "checkpoint6_body"));
	/* An unknown key's line in front: ignored. */
	b = cat("old 0\n\n", cp, "\xe2\x80\x94 someone.else Zm9vYmFyYmF6\n", NULL);
	r = add(f, b);
	assert_int_equal(r.status, 200);
	free(b);
	/* The line verifies as cosignature/v1 by our key at TS. */
	full = cat(cp, "", NULL);
	memcpy(msg, full, strlen(full));
	memcpy(msg + strlen(full), r.body, r.len);
	len = strlen(full) + r.len;
	wit_verifier(f->w, &wv);
	assert_int_equal(note_open(msg, len, &wv, 1, &n, why), 0);
	assert_int_equal(n.n_verified, 1);
	assert_int_equal(n.sigs[1].timestamp, TS);
	free(full);
	free(cp);
	note_signer_wipe(&rot);

	/* Opening with a bad configuration fails. */
	wit_close(f->w);
	f->w = NULL;
	keys[1] = keys[0];
	assert_int_equal(wit_open(&c, &f->w, why), CL_EINVAL);
	note_cosigner_verifier(&f->wkey, &keys[1]);
	assert_int_equal(wit_open(&c, &f->w, why), CL_EINVAL);
	c.n_logs = 0;
	assert_int_equal(wit_open(&c, &f->w, why), CL_EINVAL);
	fx_open(f);
	/* A zero clock is our failure, not the client's. */
	b = cat("old 6\n\n", tu_str(f->d, "checkpoint6"), NULL);
	wit_add_checkpoint(f->w, (const uint8_t *)b, strlen(b), 0, &r);
	assert_int_equal(r.status, 500);
	free(b);
}

/* The parser alone: caps, and format(parse(x)) == x. */
static void
test_body_parse(void **state)
{
	struct fx *f = *state;
	const char *req = tu_str(f->d, "witness_add_checkpoint_request");
	struct wit_body b;
	uint8_t out[WIT_BODY_MAX], *big;
	size_t len = 0, pos;
	char p[3][64];

	assert_int_equal(wit_body_parse((const uint8_t *)req, strlen(req), &b, why), 0);
	assert_int_equal(b.old, 6);
	assert_int_equal(b.n_proof, 3);
	assert_int_equal(b.note_len, strlen(tu_str(f->d, "checkpoint8")));
	assert_int_equal(wit_body_format(&b, out, sizeof out, &len), 0);
	assert_int_equal(len, strlen(req));
	assert_memory_equal(out, req, len);
	assert_int_equal(wit_body_format(&b, out, len - 1, &len), CL_ETOOBIG);
	/* Every truncation fails (no body is a prefix of another that parses
	 * to a shorter note... except by cutting the note, which parse leaves
	 * to note_open). */
	for (size_t n = 0; n < strlen("old 6\n") + 3 * 45 + 1; n++)
		assert_int_not_equal(wit_body_parse((const uint8_t *)req, n, &b, why), 0);

	/* 63 proof lines parse, 64 do not. */
	vector_proof(f, p);
	big = malloc(WIT_BODY_MAX + 1);
	assert_non_null(big);
	for (int n = 63; n <= 64; n++) {
		pos = (size_t)sprintf((char *)big, "old 1\n");
		for (int i = 0; i < n; i++)
			pos += (size_t)sprintf((char *)big + pos, "%s", p[0]);
		pos += (size_t)sprintf((char *)big + pos, "\nx\n");
		assert_int_equal(wit_body_parse(big, pos, &b, why), n == 63 ? 0 : CL_ETOOBIG);
	}
	memset(big, 'a', WIT_BODY_MAX + 1);
	memcpy(big, "old 0\n\n", 7);
	assert_int_equal(wit_body_parse(big, WIT_BODY_MAX + 1, &b, why), CL_ETOOBIG);
	assert_int_equal(b.note_len, 0);
	assert_int_equal(wit_body_parse(big, WIT_BODY_MAX, &b, why), 0);
	free(big);
}

/* Metrics count answers by status and show the latest size per origin. */
static void
test_metrics(void **state)
{
	struct fx *f = *state;
	size_t len = 0;
	char *m;

	at_six(f);
	expect(f, "old 0\n", 400);
	assert_non_null(m = wit_metrics_render_alloc(f->w, &len));
	assert_int_equal(strlen(m), len);
	assert_non_null(strstr(m, "closurelog_witness_add_checkpoint_total{status=\"200\"} 1\n"));
	assert_non_null(strstr(m, "closurelog_witness_add_checkpoint_total{status=\"400\"} 1\n"));
	assert_non_null(
	    strstr(m, "closurelog_witness_log_size{origin=\"example.com/tlog-test\"} 6\n"));
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_vector_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_404_unknown_origin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_403_log_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_400, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_409, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_422, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_200, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_parse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
