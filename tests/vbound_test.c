/*
 * vbound_test.c: the benchmark's Ed25519 bound (bench/vbound.c): the
 * bound is the mean of the all-core samples, whichever kind is larger, and
 * its spread is theirs; a signature that does not verify is a failed
 * sample, never a rate; and real samples are positive, counted and last
 * as long as asked.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "testutil.h"
#include "vbound.h"

static uint8_t pk[32], sk[64], msg[352], sig[64];
static struct vb_msg m = {msg, sizeof msg, sig, pk};

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_sign_keypair(pk, sk);
	memset(msg, 0x5a, sizeof msg);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
	return 0;
}

static void
test_bound_math(void **state)
{
	static const struct {
		double single[3], all[3];
		double want, lo, hi, single_mean;
	} cases[] = {
	    /* Two busy cores give less than twice one: still what they give. */
	    {{20000, 24000, 22000}, {15000, 16000, 17000}, 16000, 15000, 17000, 22000},
	    /* All at once is the larger. */
	    {{20000, 20000, 20000}, {21000, 23000, 22000}, 22000, 21000, 23000, 20000},
	    /* Equal means; the spread is the all-core samples'. */
	    {{10000, 30000, 20000}, {19000, 20000, 21000}, 20000, 19000, 21000, 20000},
	};
	struct vb v;
	struct vb_bound b;

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		vb_init(&v, &m, 2);
		for (int i = 0; i < 3; i++) {
			v.single[i] = cases[c].single[i];
			v.all[i] = cases[c].all[i];
		}
		v.n = 3;
		vb_bound_get(&v, &b);
		assert_true(b.per_s > cases[c].want - 1e-6 && b.per_s < cases[c].want + 1e-6);
		assert_true(b.per_s == b.all_cores);
		assert_true(b.single_x_cores > cases[c].single_mean - 1e-6 &&
		    b.single_x_cores < cases[c].single_mean + 1e-6);
		assert_true(b.lo == cases[c].lo && b.hi == cases[c].hi);
		assert_int_equal(b.n, 3);
	}
	vb_init(&v, &m, 2);
	vb_bound_get(&v, &b);
	assert_true(b.per_s == 0 && b.n == 0);
}

static void
test_samples(void **state)
{
	struct vb v;
	struct vb_bound b;

	(void)state;
	double t;

	vb_init(&v, &m, 2);
	t = h_now();
	assert_int_equal(vb_sample(&v, 2, 0.05), 0);
	/* Two rounds of two samples of 0.05 s each: at least 0.2 s. */
	assert_true(h_now() - t >= 0.2);
	assert_int_equal(v.n, 2);
	for (size_t i = 0; i < v.n; i++)
		assert_true(v.single[i] > 0 && v.all[i] > 0);
	vb_bound_get(&v, &b);
	assert_true(b.per_s > 0 && b.lo <= b.per_s && b.per_s <= b.hi);
	assert_true(vb_one_core(&m, 10) > 0);
	/* Never more samples than there is room for. */
	vb_init(&v, &m, 1);
	assert_int_equal(vb_sample(&v, VB_SAMPLES_MAX + 3, 0.001), 0);
	assert_int_equal(v.n, VB_SAMPLES_MAX);
	/* A sample must last some time. */
	vb_init(&v, &m, 2);
	assert_int_equal(vb_sample(&v, 1, 0), -1);
	assert_int_equal(vb_sample(&v, 1, -1), -1);
	assert_int_equal(v.n, 0);
}

static void
test_bad_signature(void **state)
{
	uint8_t bad[64];
	struct vb_msg bm = m;
	struct vb v;

	(void)state;
	for (size_t bit = 0; bit < 8 * sizeof sig; bit += 37) {
		memcpy(bad, sig, sizeof bad);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bm.sig = bad;
		assert_true(vb_one_core(&bm, 3) == 0);
		vb_init(&v, &bm, 2);
		assert_int_equal(vb_sample(&v, 1, 0.01), -1);
		assert_int_equal(v.n, 0);
	}
	/* A shorter message than the signed one. */
	bm = m;
	bm.len--;
	assert_true(vb_one_core(&bm, 1) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bound_math),
	    cmocka_unit_test(test_samples),
	    cmocka_unit_test(test_bad_signature),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
