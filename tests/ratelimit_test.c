/*
 * ratelimit_test.c: the per-address limiter in process, on a clock the
 * test sets: sources that share a table set do not reset each other, an
 * IPv6 client rotating through its /64 is one client, a table under
 * pressure hands out no fresh full buckets, and many threads at once keep
 * the count exact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"
#include "testutil.h"

static struct sockaddr_storage
v4(uint32_t a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(a);
	in->sin_port = htons((uint16_t)(a * 7)); /* ports never matter */
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	in6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* How many of n requests from sa at time now pass. */
static int
passes(struct rl *rl, const struct sockaddr_storage *ss, int n, double now)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += rl_allow(rl, (const struct sockaddr *)ss, now);
	return ok;
}

static void
test_bad_arguments(void **state)
{
	(void)state;
	errno = 0;
	assert_null(rl_new(0, 2, 64, 16));
	assert_int_equal(errno, EINVAL);
	assert_null(rl_new(-1, 2, 64, 16));
	assert_null(rl_new(NAN, 2, 64, 16));
	assert_null(rl_new(INFINITY, 2, 64, 16));
	assert_null(rl_new(1, 0.5, 64, 16));
	assert_null(rl_new(1, INFINITY, 64, 16));
	assert_null(rl_new(1, 2, 129, 16));
	assert_null(rl_new(1, 2, 64, 0));
	rl_free(NULL);
}

/* One source: burst at once, then rate per second. */
static void
test_one_source(void **state)
{
	struct rl *rl = rl_new(1, 3, 64, 1024);
	struct sockaddr_storage a = v4(0x7f000002);

	(void)state;
	assert_non_null(rl);
	assert_int_equal(passes(rl, &a, 10, 100), 3);
	assert_int_equal(passes(rl, &a, 10, 100.5), 0);
	assert_int_equal(passes(rl, &a, 10, 101), 1);
	assert_int_equal(passes(rl, &a, 10, 103), 2);
	/* A clock that goes back refills nothing. */
	assert_int_equal(passes(rl, &a, 10, 50), 0);
	assert_int_equal(passes(rl, &a, 10, 1000), 3);
	rl_free(rl);
}

/* The bypass: two sources sharing a slot, alternating, each reset
 * the other to a full burst.  Here the table is one set, so every source
 * collides with every other, and each is still limited on its own. */
static void
test_colliding_sources(void **state)
{
	struct rl *rl = rl_new(1, 2, 64, 8);
	struct sockaddr_storage a = v4(0x7f000002), b = v4(0x7f000003);
	int ok_a = 0, ok_b = 0;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 20; i++) {
		double now = 10 + i * 0.05; /* 20 requests each in one second */

		ok_a += rl_allow(rl, SA(a), now);
		ok_b += rl_allow(rl, SA(b), now);
	}
	/* burst 2, plus 1 per second refilled over ~1 s */
	assert_int_equal(ok_a, 2);
	assert_int_equal(ok_b, 2);
	/* Neither took from the other. */
	assert_int_equal(passes(rl, &a, 5, 20), 2);
	assert_int_equal(passes(rl, &b, 5, 20), 2);
	rl_free(rl);
}

/* An IPv6 client taking a fresh address in its /64 for every request is
 * one client; the next /64 is another; the prefix is configurable. */
static void
test_rotating_prefix(void **state)
{
	struct rl *rl = rl_new(1, 4, 64, 4096);
	struct rl *rl48 = rl_new(1, 4, 48, 4096);
	struct rl *rl128 = rl_new(1, 4, 128, 4096);
	int ok = 0, ok48 = 0, ok128 = 0;
	char text[64];

	(void)state;
	assert_non_null(rl);
	assert_non_null(rl48);
	assert_non_null(rl128);
	for (unsigned i = 0; i < 1000; i++) {
		struct sockaddr_storage s;

		snprintf(text, sizeof text, "2001:db8:1:2:%x:%x::%x", i * 7919 % 65536,
		    i * 104729 % 65536, i + 1);
		s = v6(text);
		ok += rl_allow(rl, SA(s), 5);
		ok128 += rl_allow(rl128, SA(s), 5);
		/* Rotating the 4th group too: distinct /64s, one /48. */
		snprintf(text, sizeof text, "2001:db8:1:%x::1", i);
		s = v6(text);
		ok48 += rl_allow(rl48, SA(s), 5);
	}
	assert_int_equal(ok, 4);
	assert_int_equal(ok48, 4);
	assert_int_equal(ok128, 1000); /* /128: every address is a client */
	{
		struct sockaddr_storage n1 = v6("2001:db8:1:3::1");

		assert_int_equal(passes(rl, &n1, 10, 5), 4); /* the neighbouring /64 */
	}
	/* A prefix that is not a multiple of 8: /60 holds 2001:db8:1:20..2f. */
	{
		struct rl *rl60 = rl_new(1, 4, 60, 4096);
		struct sockaddr_storage x = v6("2001:db8:1:20::1"), y = v6("2001:db8:1:2f::9"),
		                        z = v6("2001:db8:1:30::1");

		assert_non_null(rl60);
		assert_int_equal(passes(rl60, &x, 3, 5), 3);
		assert_int_equal(passes(rl60, &y, 3, 5), 1);
		assert_int_equal(passes(rl60, &z, 10, 5), 4);
		rl_free(rl60);
	}
	rl_free(rl);
	rl_free(rl48);
	rl_free(rl128);
}

/* An IPv4 client on a dual-stack socket is the same client. */
static void
test_mapped_ipv4(void **state)
{
	struct rl *rl = rl_new(1, 2, 64, 64);
	struct sockaddr_storage a = v4(0xc0000201), m = v6("::ffff:192.0.2.1");

	(void)state;
	assert_non_null(rl);
	assert_int_equal(passes(rl, &a, 1, 1), 1);
	assert_int_equal(passes(rl, &m, 5, 1), 1);
	rl_free(rl);
}

/* More sources than the table holds: those without room share one
 * overflow bucket, so rotating through many addresses earns one client's
 * allowance, not a burst each; buckets that have refilled are forgotten
 * and their ways reused. */
static void
test_pressure(void **state)
{
	struct rl *rl = rl_new(1, 2, 64, 8); /* one set of 8 ways */
	int ok = 0;

	(void)state;
	assert_non_null(rl);
	/* Eight sources take every way and spend their bursts. */
	for (uint32_t i = 0; i < 8; i++) {
		struct sockaddr_storage s = v4(0x0a000000 + i);

		assert_int_equal(passes(rl, &s, 3, 0), 2);
	}
	/* A thousand more at once: together, one burst. */
	for (uint32_t i = 8; i < 1008; i++) {
		struct sockaddr_storage s = v4(0x0a000000 + i);

		ok += rl_allow(rl, SA(s), 0);
	}
	assert_int_equal(ok, 2);
	/* The eight are still remembered (and still empty). */
	for (uint32_t i = 0; i < 8; i++) {
		struct sockaddr_storage s = v4(0x0a000000 + i);

		assert_int_equal(passes(rl, &s, 1, 0), 0);
	}
	/* Rotating again a second later: one second's refill, in total. */
	ok = 0;
	for (uint32_t i = 2000; i < 3000; i++) {
		struct sockaddr_storage s = v4(0x0a000000 + i);

		ok += rl_allow(rl, SA(s), 1);
	}
	assert_int_equal(ok, 1);
	/* Much later every bucket has refilled: forgetting them grants nothing,
	 * so new sources get ways (and their own burst) again. */
	for (uint32_t i = 5000; i < 5008; i++) {
		struct sockaddr_storage s = v4(0x0a000000 + i);

		assert_int_equal(passes(rl, &s, 3, 100), 2);
	}
	/* ... and, the table full again, the next one shares the overflow. */
	{
		struct sockaddr_storage s = v4(0x0a00ffff), t = v4(0x0a00fffe);

		assert_int_equal(passes(rl, &s, 1, 100) + passes(rl, &t, 3, 100), 2);
	}
	rl_free(rl);
}

/* Threads hammering shared and private keys: every token is counted once. */
struct hammer {
	struct rl *rl;
	uint32_t own;
	int ok_own, ok_shared;
};

static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct sockaddr_storage own = v4(h->own), shared = v4(0x7f000001);

	for (int i = 0; i < 20000; i++) {
		h->ok_own += rl_allow(h->rl, SA(own), 0);
		h->ok_shared += rl_allow(h->rl, SA(shared), 0);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct rl *rl = rl_new(1, 1000, 64, 4096);
	struct hammer h[4];
	pthread_t tid[4];
	int shared = 0;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){rl, 0x0b000000u + (uint32_t)i, 0, 0};
		assert_int_equal(pthread_create(&tid[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(h[i].ok_own, 1000);
		shared += h[i].ok_shared;
	}
	assert_int_equal(shared, 1000);
	rl_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_one_source),
	    cmocka_unit_test(test_colliding_sources),
	    cmocka_unit_test(test_rotating_prefix),
	    cmocka_unit_test(test_mapped_ipv4),
	    cmocka_unit_test(test_pressure),
	    cmocka_unit_test(test_threads),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
