/*
 * vbound.c: sampling the Ed25519 verification bound (see vbound.h).
 *
 * A round is one sample with one thread and then one with a thread per
 * core, back to back, so that both kinds see the same seconds of the
 * machine.  In a sample every thread waits until all exist, then verifies
 * until its own clock says the sample's time is up; its rate is what it
 * did over the time it measured, and the sample is the sum of the rates.
 * A thread that the machine slows only lowers its own rate.
 */
#include "vbound.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
vb_init(struct vb *v, const struct vb_msg *m, unsigned cores)
{
	memset(v, 0, sizeof *v);
	v->m = *m;
	v->cores = cores < 1 ? 1 : cores > VB_THREADS_MAX ? VB_THREADS_MAX : cores;
}

static bool
verify(const struct vb_msg *m)
{
	return crypto_sign_verify_detached(m->sig, m->msg, m->len, m->pk) == 0;
}

double
vb_one_core(const struct vb_msg *m, int n)
{
	double t = now();

	if (n < 1)
		return 0;
	for (int i = 0; i < n; i++) {
		if (!verify(m))
			return 0;
	}
	return n / (now() - t);
}

/* Where the threads of a sample wait until all of them exist. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* 0 waiting, 1 go, -1 give up */
};

struct worker {
	const struct vb_msg *m;
	struct gate *g;
	double seconds;
	double rate; /* out: verifications per second; 0 if one failed */
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	double t0, t;
	long n = 0;
	int state;

	pthread_mutex_lock(&w->g->mu);
	while ((state = w->g->state) == 0)
		pthread_cond_wait(&w->g->cv, &w->g->mu);
	pthread_mutex_unlock(&w->g->mu);
	if (state < 0)
		return NULL;
	t0 = now();
	do {
		if (!verify(w->m))
			return NULL;
		n++;
	} while ((t = now()) - t0 < w->seconds);
	w->rate = (double)n / (t - t0);
	return NULL;
}

/* `threads` threads verifying at once for `seconds`: the sum of their
 * rates; 0 on failure. */
static double
sample(const struct vb_msg *m, unsigned threads, double seconds)
{
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	pthread_t t[VB_THREADS_MAX];
	struct worker w[VB_THREADS_MAX];
	unsigned started = 0;
	double sum = 0;
	bool ok;

	for (; started < threads; started++) {
		w[started] = (struct worker){m, &g, seconds, 0};
		if (pthread_create(&t[started], NULL, worker_main, &w[started]) != 0)
			break;
	}
	ok = started == threads;
	pthread_mutex_lock(&g.mu);
	g.state = ok ? 1 : -1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		ok = ok && w[i].rate > 0;
		sum += w[i].rate;
	}
	return ok ? sum : 0;
}

int
vb_sample(struct vb *v, int rounds, double seconds)
{
	if (!(seconds > 0))
		return -1;
	for (int r = 0; r < rounds && v->n < VB_SAMPLES_MAX; r++) {
		double one = sample(&v->m, 1, seconds), all;

		if (one == 0 || (all = sample(&v->m, v->cores, seconds)) == 0)
			return -1;
		v->single[v->n] = one * v->cores;
		v->all[v->n] = all;
		v->n++;
	}
	return 0;
}

void
vb_bound_get(const struct vb *v, struct vb_bound *out)
{
	memset(out, 0, sizeof *out);
	if (v->n == 0)
		return;
	out->lo = out->hi = v->all[0];
	for (size_t i = 0; i < v->n; i++) {
		out->single_x_cores += v->single[i] / (double)v->n;
		out->all_cores += v->all[i] / (double)v->n;
		out->lo = v->all[i] < out->lo ? v->all[i] : out->lo;
		out->hi = v->all[i] > out->hi ? v->all[i] : out->hi;
	}
	out->per_s = out->all_cores;
	out->n = v->n;
}
