/*
 * vbound.h: the Ed25519 verification bound a benchmark divides by.
 *
 * Every submission costs one Ed25519 verification, so what all the cores
 * verify per second when they do nothing else bounds what a log can
 * append: that rate, all the cores verifying at once, is the bound.  On a
 * shared or virtual machine what a core gives drifts by +-20 % within
 * seconds, so the bound is sampled several times around a run, and each
 * sample is timed so that noise cannot bias it: the threads are released
 * together, each verifies for a fixed time and times itself, and the
 * sample is the sum of their rates.  (Timing all threads from one start to
 * the last one's end, as a fixed count per thread does, charges every
 * thread with the slowest one's delays and reads low.)
 *
 * Each round also takes one core verifying alone, times the cores, for
 * the report: where two busy cores give less than twice one (shared
 * execution units, a busy host) the two kinds differ, and the bound is
 * still what the cores give together.  Taking the larger of the two means
 * instead would add their noise to the bound (the larger of two noisy
 * estimates of one rate is biased high).
 */
#ifndef CL_VBOUND_H
#define CL_VBOUND_H

#include <stddef.h>
#include <stdint.h>

#define VB_SAMPLES_MAX 32
#define VB_THREADS_MAX 64

/* What every sample verifies: a signature over a message the size of the
 * real one (the PAE of an envelope).  Borrowed; must outlive the vb. */
struct vb_msg {
	const uint8_t *msg;
	size_t len;
	const uint8_t *sig; /* 64 bytes */
	const uint8_t *pk;  /* 32 bytes */
};

/* Samples taken so far.  Zero it with vb_init. */
struct vb {
	struct vb_msg m;
	unsigned cores;
	size_t n;
	double single[VB_SAMPLES_MAX]; /* one core's rate times the cores */
	double all[VB_SAMPLES_MAX];    /* all the cores verifying at once */
};

/* The bound from the samples (per second). */
struct vb_bound {
	double per_s;          /* all_cores: the bound */
	double single_x_cores; /* mean of the single samples, for the report */
	double all_cores;      /* mean of the all-core samples */
	double lo, hi;         /* the lowest and highest all-core sample */
	size_t n;              /* samples of each kind */
};

/* Start with no samples, for `cores` cores (1 to VB_THREADS_MAX). */
void vb_init(struct vb *v, const struct vb_msg *m, unsigned cores);

/* Ed25519 verifications per second on the calling thread, over n
 * verifications of m; 0 if one fails. */
double vb_one_core(const struct vb_msg *m, int n);

/* Take `rounds` rounds: in each, one thread verifies for `seconds`, then
 * one thread per core does, all at once, for `seconds` (a round costs
 * about 2 * seconds of wall time).  Samples beyond VB_SAMPLES_MAX are not
 * taken.  Returns 0, or -1 if a verification failed, seconds is not
 * positive or a thread could not start (nothing is added for that
 * round). */
int vb_sample(struct vb *v, int rounds, double seconds);

/* The bound from v's samples; all zero without samples. */
void vb_bound_get(const struct vb *v, struct vb_bound *out);

#endif
