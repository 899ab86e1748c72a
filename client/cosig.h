/*
 * cosig.h: the --witness VKEY (repeatable) and --witness-quorum K options
 * that verify, audit and inspect share, and the checks behind them:
 * cosignature/v1 lines (C2SP tlog-cosignature) by the given witnesses on a
 * checkpoint the log key has signed.
 */
#ifndef CL_CLI_COSIG_H
#define CL_CLI_COSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"

#define CLI_WITNESS_MAX 64 /* CLOSURELOG_WITNESS_KEYS_MAX */

struct cli_witnesses {
	struct note_verifier keys[CLI_WITNESS_MAX]; /* type 0x04 */
	size_t n;
	size_t quorum; /* 0: not given, every witness */
};

/* Help text lines for the two options, for a command's usage. */
#define CLI_WITNESS_USAGE                                                                          \
	"  --witness VKEY         a witness's cosignature key (type 0x04), or a file\n"            \
	"                         holding one; repeatable\n"                                       \
	"  --witness-quorum K     require cosignatures by K of the --witness keys\n"               \
	"                         (default: all of them)\n"

/* --witness ARG into ctx (a struct cli_witnesses): a verifier key string
 * or a file holding one, type 0x04, not given before.  Prints the failure;
 * returns 0 or CLI_USAGE.  The shape of an opts.h callback. */
int cli_witness_arg(void *ctx, const char *arg);

/* --witness-quorum ARG into ctx (a struct cli_witnesses): 1 ..
 * CLI_WITNESS_MAX.  Returns 0 or CLI_USAGE. */
int cli_witness_quorum_arg(void *ctx, const char *arg);

/* The two options' entries in an opts.h table, for w. */
#define CLI_WITNESS_OPTS(w)                                                                        \
	CLI_FN("witness", (w), cli_witness_arg, true),                                             \
	    CLI_FN("witness-quorum", (w), cli_witness_quorum_arg, true)

/* After parsing: a quorum needs witnesses, at least K of them.  Returns 0
 * or CLI_USAGE (printed). */
int cli_witness_finish(const struct cli_witnesses *w);

/* Give the library verifier v w's witnesses and quorum (nothing without
 * witnesses).  Prints the failure; returns 0, CLI_USAGE or CLI_FAIL. */
struct closurelog_verifier;
int cli_witness_verifier(const struct cli_witnesses *w, struct closurelog_verifier *v);

/* The number of cosignatures required (0 without witnesses). */
size_t cli_witness_need(const struct cli_witnesses *w);

/* Check the checkpoint note[0..len) (whose log signature the caller has
 * verified) for cosignatures by a quorum of w.  Returns 0 (also when w has
 * no witnesses), or CLI_FAIL with why (CLI_MSG_MAX bytes): too few, or a
 * line by a given witness that does not verify. */
int cli_witness_check(const struct cli_witnesses *w, const uint8_t *note, size_t len, char *why);

/* What signature line i of the parsed note n (msg its buffer) is as a
 * cosignature. */
struct cli_cosig {
	enum { CLI_COSIG_OTHER, CLI_COSIG_VALID, CLI_COSIG_INVALID } status;
	int witness;        /* index into w->keys when VALID or INVALID, else -1 */
	uint64_t timestamp; /* the line's cosignature/v1 time, when it has that shape */
	bool has_time;      /* the payload is 76 bytes (key ID, time, signature) */
};

/* Judge line i of n on its own against w (no witnesses: every line is
 * OTHER, with its time if it has one).  Returns 0 or ENOMEM. */
int cli_cosig_line(const struct cli_witnesses *w, const uint8_t *msg, const struct note *n,
    size_t i, struct cli_cosig *out);

#endif
