/*
 * vbound.c: sampling the Ed25519 verification bound (see vbound.h).
 *
 * A round is one single-core sample and then one with a thread per core,
 * back to back, so that both kinds see the same minute of the machine.
 * The all-core sample is timed from before the first thread starts to
 * after the last one ends: starting threads costs microseconds against a
 * sample of tenths of a second, and counting it only lowers that kind,
 * which the bound then does not use unless it is still the larger.
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

/* n verifications; false if one fails. */
static bool
verify_n(const struct vb_msg *m, int n)
{
	for (int i = 0; i < n; i++) {
		if (crypto_sign_verify_detached(m->sig, m->msg, m->len, m->pk) != 0)
			return false;
	}
	return true;
}

double
vb_one_core(const struct vb_msg *m, int n)
{
	double t = now();

	if (n < 1 || !verify_n(m, n))
		return 0;
	return n / (now() - t);
}

struct worker {
	const struct vb_msg *m;
	int n;
	bool ok;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	w->ok = verify_n(w->m, w->n);
	return NULL;
}

/* All cores at once: verifications per second of wall time; 0 on failure. */
static double
all_cores(const struct vb_msg *m, unsigned cores, int n)
{
	pthread_t t[VB_THREADS_MAX];
	struct worker w[VB_THREADS_MAX];
	unsigned started = 0;
	bool ok = true;
	double t0 = now(), dt;

	for (; started < cores; started++) {
		w[started] = (struct worker){m, n, false};
		if (pthread_create(&t[started], NULL, worker_main, &w[started]) != 0) {
			ok = false;
			break;
		}
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		ok = ok && w[i].ok;
	}
	dt = now() - t0;
	return ok ? (double)cores * n / dt : 0;
}

int
vb_sample(struct vb *v, int rounds, int n)
{
	for (int r = 0; r < rounds && v->n < VB_SAMPLES_MAX; r++) {
		double one = vb_one_core(&v->m, n), all;

		if (one == 0 || (all = all_cores(&v->m, v->cores, n)) == 0)
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
	const double *won;

	memset(out, 0, sizeof *out);
	if (v->n == 0)
		return;
	for (size_t i = 0; i < v->n; i++) {
		out->single_x_cores += v->single[i] / (double)v->n;
		out->all_cores += v->all[i] / (double)v->n;
	}
	won = out->all_cores > out->single_x_cores ? v->all : v->single;
	out->per_s = won == v->all ? out->all_cores : out->single_x_cores;
	out->lo = out->hi = won[0];
	for (size_t i = 1; i < v->n; i++) {
		out->lo = won[i] < out->lo ? won[i] : out->lo;
		out->hi = won[i] > out->hi ? won[i] : out->hi;
	}
	out->n = v->n;
}
