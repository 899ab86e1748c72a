/*
 * ratelimit.c: per-address token buckets in a set-associative table.
 *
 * A key hashes (SipHash with a per-process secret) to one set of RL_WAYS
 * entries, each set under its own mutex, so that the HTTP threads contend
 * only when their clients share a set.  Keys that collide on a set live
 * side by side in its ways; a collision never resets anyone's bucket.  A
 * new key takes a free way or the way of a bucket that has refilled to
 * burst (forgetting it loses nothing); if there is none it is charged to
 * the shared overflow bucket (see ratelimit.h for why).
 */
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define RL_WAYS 8

enum { K_OTHER, K_INET, K_INET6 };

struct rl_key {
	uint8_t family; /* K_* */
	uint8_t addr[16];
};

struct bucket {
	double tokens, last;
};

struct entry {
	bool used;
	struct rl_key key;
	struct bucket b;
};

struct set {
	pthread_mutex_t mu;
	struct entry way[RL_WAYS];
};

struct rl {
	double rate, burst;
	unsigned prefix6;
	size_t n_sets;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	pthread_mutex_t over_mu;
	struct bucket over; /* for keys the table has no room for */
	struct set sets[];
};

static void
key_of(const struct rl *rl, const struct sockaddr *sa, struct rl_key *k)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(k, 0, sizeof *k);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		k->family = K_INET;
		memcpy(k->addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		unsigned bits = rl->prefix6;

		if (memcmp(a, mapped, sizeof mapped) == 0) {
			/* A dual-stack socket's IPv4 client is that IPv4 client. */
			k->family = K_INET;
			memcpy(k->addr, a + 12, 4);
			return;
		}
		k->family = K_INET6;
		memcpy(k->addr, a, bits / 8);
		if (bits % 8 != 0)
			k->addr[bits / 8] = a[bits / 8] & (uint8_t)(0xff00u >> (bits % 8));
	}
	/* Any other family: one key for all, all zero. */
}

/* The bucket's level at now (never moving its clock backwards). */
static double
level(const struct rl *rl, const struct bucket *b, double now)
{
	double t = b->tokens;

	if (now > b->last)
		t += (now - b->last) * rl->rate;
	return t < rl->burst ? t : rl->burst;
}

static bool
take(const struct rl *rl, struct bucket *b, double now)
{
	b->tokens = level(rl, b, now);
	if (now > b->last)
		b->last = now;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

struct rl *
rl_new(double rate, double burst, unsigned prefix6, size_t max_entries)
{
	struct rl *rl;
	size_t n_sets;

	if (!isfinite(rate) || rate <= 0 || !isfinite(burst) || burst < 1 || prefix6 > 128 ||
	    max_entries == 0 || max_entries > ((size_t)1 << 28)) {
		errno = EINVAL;
		return NULL;
	}
	n_sets = (max_entries + RL_WAYS - 1) / RL_WAYS;
	if ((rl = calloc(1, sizeof *rl + n_sets * sizeof rl->sets[0])) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	rl->rate = rate;
	rl->burst = burst;
	rl->prefix6 = prefix6;
	rl->n_sets = n_sets;
	crypto_shorthash_keygen(rl->hash_key);
	pthread_mutex_init(&rl->over_mu, NULL);
	rl->over.tokens = burst;
	rl->over.last = -INFINITY;
	for (size_t i = 0; i < n_sets; i++)
		pthread_mutex_init(&rl->sets[i].mu, NULL);
	return rl;
}

bool
rl_allow(struct rl *rl, const struct sockaddr *sa, double now)
{
	struct rl_key k;
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t hv;
	struct set *s;
	struct entry *e = NULL, *spare = NULL;
	bool ok;

	key_of(rl, sa, &k);
	crypto_shorthash(h, (const uint8_t *)&k, sizeof k, rl->hash_key);
	memcpy(&hv, h, sizeof hv);
	s = &rl->sets[hv % rl->n_sets];
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < RL_WAYS && e == NULL; i++) {
		struct entry *w = &s->way[i];

		if (w->used && memcmp(&w->key, &k, sizeof k) == 0)
			e = w;
		else if (!w->used)
			spare = spare != NULL && !spare->used ? spare : w;
		else if ((spare == NULL || spare->used) && level(rl, &w->b, now) >= rl->burst)
			spare = w; /* refilled: forgetting it grants nothing */
	}
	if (e == NULL && spare != NULL) {
		e = spare;
		e->used = true;
		e->key = k;
		e->b.tokens = rl->burst;
		e->b.last = now;
	}
	if (e != NULL) {
		ok = take(rl, &e->b, now);
		pthread_mutex_unlock(&s->mu);
		return ok;
	}
	pthread_mutex_unlock(&s->mu);
	/* No room: a client still spending holds every way of this set. */
	pthread_mutex_lock(&rl->over_mu);
	ok = take(rl, &rl->over, now);
	pthread_mutex_unlock(&rl->over_mu);
	return ok;
}

void
rl_free(struct rl *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < rl->n_sets; i++)
		pthread_mutex_destroy(&rl->sets[i].mu);
	pthread_mutex_destroy(&rl->over_mu);
	free(rl);
}
