/*
 * vbound.h: the Ed25519 verification bound a benchmark divides by.
 *
 * Every submission costs one Ed25519 verification, so what all the cores
 * can verify per second bounds what a log can append.  On a shared or
 * virtual machine what a core gives drifts by +-15 % over minutes, and two
 * busy cores may give less than twice one (shared execution units or a
 * shared host core).  So the bound is sampled several times around a run,
 * two ways each time: one core's rate times the cores, and all the cores
 * verifying at once; the bound is the larger of the two means, so that
 * neither a slower concurrent rate nor a noisy single sample can make it
 * smaller than what the machine did give.
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
	double per_s;          /* max(single_x_cores, all_cores) */
	double single_x_cores; /* mean of the single samples */
	double all_cores;      /* mean of the all-core samples */
	double lo, hi;         /* the lowest and highest sample of the kind that won */
	size_t n;              /* samples of each kind */
};

/* Start with no samples, for `cores` cores (1 to VB_THREADS_MAX). */
void vb_init(struct vb *v, const struct vb_msg *m, unsigned cores);

/* Ed25519 verifications per second on the calling thread, over n
 * verifications of m; 0 if one fails. */
double vb_one_core(const struct vb_msg *m, int n);

/* Take `rounds` samples of each kind, n verifications per thread each (a
 * round costs about (1 + cores) * n verifications' time on one core).
 * Samples beyond VB_SAMPLES_MAX are not taken.  Returns 0, or -1 if a
 * verification failed or a thread could not start (nothing is added for
 * that round). */
int vb_sample(struct vb *v, int rounds, int n);

/* The bound from v's samples; all zero without samples. */
void vb_bound_get(const struct vb *v, struct vb_bound *out);

#endif
