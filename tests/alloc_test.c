/*
 * alloc_test.c: allocation failure at every point, for every decoder, the
 * note and checkpoint parsers and DSSE verification.
 *
 * The decoders allocate only from the caller's arena (wire.h), one
 * allocation after another, so an arena of c bytes makes the first
 * allocation that does not fit in c fail: sweeping c over every size from 0
 * to what a representative input needs fails each of its allocations in
 * turn.  Each must give CL_ENOMEM with a reason and the output zeroed.  The
 * test also links with -Wl,--wrap=malloc,calloc,realloc and makes every
 * heap allocation fail while all of this runs: none of it may touch the
 * heap (a parse that did would fail here, or leak under ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cl.h"
#include "dsse.h"
#include "merkle.h"
#include "note.h"
#include "sth.h"
#include "testutil.h"
#include "tproof.h"
#include "wire.h"

/* ---- Heap allocations fail while `heap_off` is set ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static bool heap_off;
static unsigned long heap_tried;

void *
__wrap_malloc(size_t n)
{
	if (heap_off) {
		heap_tried++;
		return NULL;
	}
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	if (heap_off) {
		heap_tried++;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	if (heap_off) {
		heap_tried++;
		return NULL;
	}
	return __real_realloc(p, n);
}

/* ---- Representative inputs ---- */

static uint8_t arena_buf[WIRE_ARENA_MIN], work_buf[WIRE_ARENA_MIN];
static struct note_signer ci, logk;
static struct note_verifier ci_pub, log_pub;

struct input {
	const char *name;
	uint8_t bytes[65536];
	size_t len;
};

static struct input att_in = {.name = "attestation"}, env_in = {.name = "envelope"},
                    incl_in = {.name = "inclusion"}, cons_in = {.name = "consistency"},
                    sub_in = {.name = "submit response"}, entry_in = {.name = "entry"},
                    search_in = {.name = "search result"}, bundle_in = {.name = "bundle"};
static uint8_t note_in[STH_NOTE_MAX];
static size_t note_len;
static uint8_t tproof_in[TPROOF_MAX_SIZE];
static size_t tproof_len;

static void
keep(struct input *in, const uint8_t *b, size_t len)
{
	assert_true(len <= sizeof in->bytes);
	memcpy(in->bytes, b, len);
	in->len = len;
}

static int
setup(void **state)
{
	static const char *const succ[] = {"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt",
	    "/nix/store/d8gvjwks7vzhji6bjm5kkim3fc3bqc9h-source"};
	static const char *const subst[] = {"https://cache.nixos.org", "https://example.org/c"};
	static const char *const tkeys[] = {
	    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="};
	static const uint8_t lock[32] = {7}, blake[32] = {9};
	static const struct cl_extra_digest extra[] = {{"src.tar", {"blake3", blake, 32}}};
	struct wire_arena a;
	struct cl_attestation att;
	struct cl_proof p;
	struct cl_submit_response r;
	struct cl_entry e;
	struct cl_bundle bd;
	struct cl_search_result sr;
	struct sth s;
	struct tproof tp;
	uint64_t idx[12];
	const uint8_t *out;
	size_t len;
	char why[CL_WHY_MAX];
	uint8_t seed[32] = {1}, seed2[32] = {2};

	(void)state;
	assert_true(sodium_init() >= 0);
	assert_int_equal(note_signer_from_seed("ci.example.org/builder", seed, &ci, why), 0);
	assert_int_equal(note_signer_from_seed("log.example.org/alloc", seed2, &logk, why), 0);
	note_signer_verifier(&ci, &ci_pub);
	note_signer_verifier(&logk, &log_pub);

	wire_arena_init(&a, arena_buf, sizeof arena_buf);
	memset(&att, 0, sizeof att);
	att.root = "/nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source";
	att.nar_hash = "sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU=";
	att.flake_lock = (struct cl_digest){"sha256", lock, 32};
	att.successors = succ;
	att.n_successors = 2;
	att.system = "x86_64-linux";
	att.sandbox = CL_SANDBOX_ON;
	att.substituters = subst;
	att.n_substituters = 2;
	att.trusted_keys = tkeys;
	att.n_trusted_keys = 1;
	att.builder_id = "runner-1";
	att.run_url = "https://ci.example.org/run/1";
	att.build_time = 1700000000;
	att.extra = extra;
	att.n_extra = 1;
	if (wire_attestation_encode(&a, &att, &out, &len, why) != 0)
		fail_msg("attestation: %s", why);
	keep(&att_in, out, len);
	if (dsse_sign(&a, &ci, att_in.bytes, att_in.len, &out, &len, why) != 0)
		fail_msg("envelope: %s", why);
	keep(&env_in, out, len);

	memset(&p, 0, sizeof p);
	p.a = 5;
	p.b = 1000;
	p.n = 10;
	for (size_t i = 0; i < p.n; i++)
		memset(p.hashes[i], (int)i + 1, MT_HASH_LEN);
	assert_int_equal(wire_inclusion_encode(&a, &p, &out, &len), 0);
	keep(&incl_in, out, len);
	p.a = 600;
	assert_int_equal(wire_consistency_encode(&a, &p, &out, &len), 0);
	keep(&cons_in, out, len);

	memset(&s, 0, sizeof s);
	snprintf(s.origin, sizeof s.origin, "%s", "log.example.org/alloc");
	s.size = 1000;
	memset(s.root, 3, MT_HASH_LEN);
	assert_int_equal(sth_sign(&s, &logk, note_in, sizeof note_in, &note_len, why), 0);

	memset(&r, 0, sizeof r);
	r.index = 5;
	r.inclusion = p;
	r.inclusion.a = 5;
	r.checkpoint = note_in;
	r.checkpoint_len = note_len;
	assert_int_equal(wire_submit_response_encode(&a, &r, &out, &len), 0);
	keep(&sub_in, out, len);

	memset(&e, 0, sizeof e);
	e.index = 5;
	mt_leaf_hash(e.leaf_hash, env_in.bytes, env_in.len);
	e.envelope = env_in.bytes;
	e.envelope_len = env_in.len;
	assert_int_equal(wire_entry_encode(&a, &e, &out, &len), 0);
	keep(&entry_in, out, len);

	for (size_t i = 0; i < 12; i++)
		idx[i] = i * 7 + 1;
	sr = (struct cl_search_result){idx, 12, true};
	assert_int_equal(wire_search_result_encode(&a, &sr, &out, &len), 0);
	keep(&search_in, out, len);

	memset(&tp, 0, sizeof tp);
	tp.index = 5;
	tp.n_path = 10;
	for (size_t i = 0; i < tp.n_path; i++)
		memset(tp.path[i], (int)i + 1, MT_HASH_LEN);
	tp.checkpoint = note_in;
	tp.checkpoint_len = note_len;
	assert_int_equal(tproof_format(&tp, tproof_in, sizeof tproof_in, &tproof_len), 0);

	bd = (struct cl_bundle){env_in.bytes, env_in.len, tproof_in, tproof_len};
	assert_int_equal(wire_bundle_encode(&a, &bd, &out, &len), 0);
	keep(&bundle_in, out, len);
	return 0;
}

/* ---- The sweep ---- */

typedef int (*decode_fn)(struct wire_arena *, const uint8_t *, size_t, void *, char *);

#define DECODER(fn, type)                                                                          \
	static int fn##_any(struct wire_arena *a, const uint8_t *b, size_t n, void *o, char *w)    \
	{                                                                                          \
		return fn(a, b, n, (type *)o, w);                                                  \
	}
DECODER(wire_attestation_decode, struct cl_attestation)
DECODER(wire_envelope_decode, struct cl_envelope)
DECODER(wire_inclusion_decode, struct cl_proof)
DECODER(wire_consistency_decode, struct cl_proof)
DECODER(wire_submit_response_decode, struct cl_submit_response)
DECODER(wire_entry_decode, struct cl_entry)
DECODER(wire_search_result_decode, struct cl_search_result)
DECODER(wire_bundle_decode, struct cl_bundle)

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0)
			return false;
	}
	return true;
}

/* Decode in with arenas of every size below what it needs: each must fail
 * with CL_ENOMEM, a reason and a zeroed output; the size it needs works.
 * Heap allocation is off throughout.  Returns the sizes tried. */
static size_t
sweep(decode_fn dec, const struct input *in, size_t out_size)
{
	static uint8_t out[sizeof(struct cl_submit_response) + sizeof(struct cl_proof)];
	struct wire_arena a;
	char why[CL_WHY_MAX];
	size_t need, tried = 0;

	assert_true(out_size <= sizeof out);
	heap_off = true;
	heap_tried = 0;
	wire_arena_init(&a, work_buf, sizeof work_buf);
	if (dec(&a, in->bytes, in->len, out, why) != 0)
		fail_msg("%s: %s", in->name, why);
	need = a.used;
	for (size_t cap = 0; cap < need; cap++) {
		int rc;

		wire_arena_init(&a, work_buf, cap);
		memset(out, 0xa5, out_size);
		why[0] = '\0';
		rc = dec(&a, in->bytes, in->len, out, why);
		if (rc != CL_ENOMEM || why[0] == '\0' || !all_zero(out, out_size))
			fail_msg("%s with a %zu-byte arena (of %zu): rc %d, \"%s\", output %s",
			    in->name, cap, need, rc, why,
			    all_zero(out, out_size) ? "zeroed" : "NOT zeroed");
		tried++;
	}
	wire_arena_init(&a, work_buf, need);
	assert_int_equal(dec(&a, in->bytes, in->len, out, why), 0);
	heap_off = false;
	assert_int_equal(heap_tried, 0);
	return tried;
}

static void
test_decoders(void **state)
{
	static const struct {
		decode_fn fn;
		const struct input *in;
		size_t size;
	} cases[] = {
	    {wire_attestation_decode_any, &att_in, sizeof(struct cl_attestation)},
	    {wire_envelope_decode_any, &env_in, sizeof(struct cl_envelope)},
	    {wire_inclusion_decode_any, &incl_in, sizeof(struct cl_proof)},
	    {wire_consistency_decode_any, &cons_in, sizeof(struct cl_proof)},
	    {wire_submit_response_decode_any, &sub_in, sizeof(struct cl_submit_response)},
	    {wire_entry_decode_any, &entry_in, sizeof(struct cl_entry)},
	    {wire_search_result_decode_any, &search_in, sizeof(struct cl_search_result)},
	    {wire_bundle_decode_any, &bundle_in, sizeof(struct cl_bundle)},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = sweep(cases[i].fn, cases[i].in, cases[i].size);

		print_message("  %-16s %5zu bytes in: %5zu arena sizes failed cleanly\n",
		    cases[i].in->name, cases[i].in->len, n);
	}
}

/* DSSE verification builds the PAE in the arena: too small an arena fails
 * it with an error, never a pass. */
static void
test_dsse_verify(void **state)
{
	struct wire_arena a;
	struct cl_envelope env;
	char why[CL_WHY_MAX];
	size_t who, need, tried = 0;

	(void)state;
	heap_off = true;
	heap_tried = 0;
	wire_arena_init(&a, arena_buf, sizeof arena_buf);
	assert_int_equal(wire_envelope_decode(&a, env_in.bytes, env_in.len, &env, why), 0);
	wire_arena_init(&a, work_buf, sizeof work_buf);
	assert_int_equal(dsse_verify(&a, &env, &ci_pub, 1, &who, why), 0);
	need = a.used;
	for (size_t cap = 0; cap < need; cap++) {
		wire_arena_init(&a, work_buf, cap);
		why[0] = '\0';
		if (dsse_verify(&a, &env, &ci_pub, 1, &who, why) != CL_ENOMEM || why[0] == '\0')
			fail_msg("dsse_verify with a %zu-byte arena (of %zu) did not fail cleanly",
			    cap, need);
		tried++;
	}
	heap_off = false;
	assert_int_equal(heap_tried, 0);
	print_message("  dsse_verify: %zu arena sizes failed cleanly\n", tried);
}

/* The note, checkpoint and tlog-proof parsers use no arena and must not
 * touch the heap: with every allocation failing they still work, and
 * still refuse what they refuse. */
static void
test_parsers_never_allocate(void **state)
{
	struct sth s;
	struct tproof tp;
	struct note_verifier v;
	char why[CL_WHY_MAX], vk[NOTE_VKEY_MAX];
	uint8_t bad[STH_NOTE_MAX];

	(void)state;
	note_verifier_format(&log_pub, vk, sizeof vk);
	heap_off = true;
	heap_tried = 0;
	assert_int_equal(
	    sth_open(note_in, note_len, &log_pub, "log.example.org/alloc", &s, why), 0);
	assert_int_equal(s.size, 1000);
	memcpy(bad, note_in, note_len);
	bad[note_len - 3] ^= 1;
	assert_int_not_equal(sth_open(bad, note_len, &log_pub, NULL, &s, why), 0);
	assert_int_equal(tproof_parse(tproof_in, tproof_len, &tp, why), 0);
	assert_int_equal(tp.n_path, 10);
	assert_int_not_equal(tproof_parse(tproof_in, tproof_len / 2, &tp, why), 0);
	assert_int_equal(note_verifier_parse(vk, strlen(vk), &v, why), 0);
	heap_off = false;
	assert_int_equal(heap_tried, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decoders),
	    cmocka_unit_test(test_dsse_verify),
	    cmocka_unit_test(test_parsers_never_allocate),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
