/*
 * gather.h: closurelogd's witness client: it gathers cosignatures
 * (c2sp.org/tlog-witness add-checkpoint, cosignature/v1) on the log's
 * signed checkpoints before they are published.
 *
 * The log offers every checkpoint it signs (ga_offer); the gatherer, on its
 * own thread and event loop, sends the newest one to every witness with a
 * consistency proof from the size that witness last cosigned, and calls
 * back `published` with the checkpoint and the cosignature lines appended
 * once `quorum` witnesses have cosigned it, or `failed` once too many of
 * them cannot.  Checkpoints offered while a round is running are not sent
 * one by one: the next round takes the newest, so one cosigned checkpoint
 * covers every batch committed meanwhile.
 *
 * A witness that answers 409 with a size at most the checkpoint's is
 * resynced (the request is sent again from that size).  A 409 with a
 * larger size (the log was rolled back, e.g. restored from an old copy of
 * its data directory) and a 422 (the witness holds another tree at that
 * size: a fork, e.g. a cloned data directory) make the witness "refused":
 * the gatherer says so loudly on its error stream and names the refusal in
 * every failure reason.  A refused or down witness is left alone for a
 * backoff (retry_ms, doubling with each failure up to 30 s) and then asked
 * again (a refused one afresh, from "old 0"), so that a witness that comes
 * back is used again without a restart.
 *
 * The size each witness last cosigned is kept in the sizes file across
 * restarts, as a hint only (a wrong one costs a 409 and a resync).
 */
#ifndef CL_GATHER_H
#define CL_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "note.h"
#include "store.h"

#define GA_WITNESSES_MAX 32              /* most witnesses one log gathers from */
#define GA_URL_MAX       1024            /* longest submission prefix */
#define GA_SIZES_FILE    "witness-sizes" /* in the data directory: see sizes_path */

/* One witness: its cosignature verifier key (type 0x04) and its submission
 * prefix, "http://host[:port][/path]" ("/add-checkpoint" is appended). */
struct ga_witness {
	struct note_verifier key;
	char url[GA_URL_MAX];
};

struct ga_cfg {
	const struct ga_witness *witnesses; /* n_witnesses of them, copied */
	size_t n_witnesses;                 /* 1 .. GA_WITNESSES_MAX */
	unsigned quorum;                    /* 1 .. n_witnesses */
	unsigned timeout_ms;                /* one request's deadline; later = down for the round */
	unsigned retry_ms;                  /* wait after a failed round before the next */
	struct st *st;                      /* consistency proofs are read here; outlives the ga */
	const char *sizes_path;             /* each witness's last cosigned size, a hint kept
	                                       across restarts (see gather.c); NULL for none */
	FILE *errlog;                       /* state changes are reported here (or NULL) */
};

/* What the gatherer tells the log, on the gatherer's thread. */
struct ga_sink {
	/* The checkpoint of `size` is cosigned: note[0..len) is the signed
	 * checkpoint with >= quorum verified cosignature lines appended
	 * (borrowed for the call). */
	void (*published)(void *arg, const uint8_t *note, size_t len, uint64_t size);
	/* The quorum cannot be reached for the checkpoint of `size`; why
	 * names every witness that did not cosign and why. */
	void (*failed)(void *arg, uint64_t size, const char *why);
	void *arg;
};

struct ga;

/* Check the configuration (URLs must be http://; no key twice; quorum in
 * range) and make a gatherer.  Returns 0 and *out, or CL_EINVAL / ENOMEM
 * with why. */
int ga_new(const struct ga_cfg *c, struct ga **out, char *why) __attribute__((warn_unused_result));

/* Start the gatherer's thread, which calls sink's functions until
 * ga_stop.  Returns 0 or an errno / LMDB code with why. */
int ga_start(struct ga *g, const struct ga_sink *sink, char *why)
    __attribute__((warn_unused_result));

/* Offer the newest signed checkpoint note[0..len) (copied) of `size`;
 * sizes only grow.  Thread-safe; never blocks on the network. */
void ga_offer(struct ga *g, const uint8_t *note, size_t len, uint64_t size);

/* 1 if note[0..len) carries verified cosignatures by at least quorum of the
 * configured witnesses, else 0.  Thread-safe. */
int ga_quorum_met(const struct ga *g, const uint8_t *note, size_t len);

/* Append each witness's state, latency and cosigned size, and the
 * gatherer's counters, in the Prometheus text format, to the malloc'd
 * NUL-terminated buffer *buf of *len bytes (reallocated).  Returns 0 or
 * ENOMEM (then *buf is unchanged).  Thread-safe. */
int ga_metrics_append(struct ga *g, char **buf, size_t *len);

/* Parse the sizes file's bytes buf[0..len) (untrusted: a hint): for each
 * keys[i] (of n) that a complete line "<its verifier key> <decimal size>\n"
 * names, found[i] is true and sizes[i] the size (the last such line wins);
 * other keys get found[i] false.  Lines that do not parse, and a last line
 * without its newline, are skipped.  No allocation; all borrowed. */
void ga_sizes_parse(const uint8_t *buf, size_t len, const struct note_verifier *keys, size_t n,
    uint64_t *sizes, bool *found);

/* Stop and join the thread: no callback runs after it returns.
 * Idempotent; a gatherer never started is fine. */
void ga_stop(struct ga *g);

/* Free a stopped gatherer.  NULL is fine. */
void ga_free(struct ga *g);

#endif
