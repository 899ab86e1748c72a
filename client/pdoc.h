/*
 * pdoc.h: the data document of a policy bundle (docs/policy.md), built
 * deterministically from log entries by `closurelog policy build`.
 *
 * Rules (what each entry contributes):
 *   - an entry counts only when an accepted submitter key signed it
 *     (dsse_verify over the envelope; the payload is decoded only from
 *     the bytes that signature covers), and it passes the constraints:
 *     with require_sandbox, build.sandbox must be on; with system, the
 *     build system must be exactly that;
 *   - nix.roots holds every root such entries attest, with its narHash,
 *     the union of the successors they list, how many there are
 *     (attestations), and the provenance (log index, submitter, system,
 *     sandbox) of the earliest CLI_PDOC_PROVENANCE_MAX of them;
 *   - when they give different narHashes for one root, the root is neither
 *     recorded nor approved, and nix.conflicts lists it with every index
 *     involved (and each one's narHash and submitter);
 *   - nix.approved_roots holds the recorded roots, or with an approve list
 *     only the recorded roots it names (a named root that is not recorded
 *     is reported to the caller, not approved);
 *   - policies.max_minutes is the given lifetime;
 *   - closurelog.checkpoint and closurelog.revision name the checkpoint the
 *     document was built at; closurelog.submitter_keys lists the accepted
 *     keys, so that `closurelog check --bundle` can verify proofs with them.
 * The same entries, keys, constraints and checkpoint give the same bytes:
 * every array is sorted, object keys are written sorted, and the JSON is
 * compact.  The document is written one root at a time, so memory holds
 * the records and the output text, never a JSON tree of the whole log.
 */
#ifndef CL_PDOC_H
#define CL_PDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"
#include "sth.h"

/* Entries listed in one root's provenance (the earliest). */
#define CLI_PDOC_PROVENANCE_MAX 16

struct cli_pdoc_rules {
	const struct note_verifier *subs; /* accepted submitter keys (borrowed) */
	size_t n_subs;
	bool require_sandbox;
	const char *system;         /* NULL: any build system */
	const char *const *approve; /* NULL: approve every recorded root */
	size_t n_approve;
	uint64_t max_minutes;
};

struct cli_pdoc;

/* A builder under rules r (copied; pointers borrowed for its life), or
 * NULL when out of memory. */
struct cli_pdoc *cli_pdoc_new(const struct cli_pdoc_rules *r);

void cli_pdoc_free(struct cli_pdoc *d);

/* Counts of what cli_pdoc_add saw. */
struct cli_pdoc_stats {
	uint64_t entries, accepted, unsigned_by_accepted, bad_signature, constrained;
};

/* Consider the log entry at index, the serialized envelope env[0..len)
 * (borrowed), already proven to be in the log.  Entries must come in
 * increasing index order.  Returns 0 (the entry was taken or skipped by
 * the rules: see cli_pdoc_stats), CL_EINVAL (index not increasing) or
 * ENOMEM, with why. */
int cli_pdoc_add(struct cli_pdoc *d, uint64_t index, const uint8_t *env, size_t len, char *why);

const struct cli_pdoc_stats *cli_pdoc_stats(const struct cli_pdoc *d);

/* The data document at checkpoint c, as a malloc'd NUL-terminated JSON
 * text (*out, the caller frees it; *len without the NUL), and its revision
 * in rev (CLOSURELOG_POLICY_ID_MAX bytes).  Names in the approve list that
 * no accepted entry records are passed, one at a time, to unapproved (may
 * be NULL).  Returns 0 or ENOMEM with why. */
int cli_pdoc_build(struct cli_pdoc *d, const struct sth *c, char **out, size_t *len, char *rev,
    void (*unapproved)(const char *root), char *why);

/* Save and restore the accepted records (the builder's whole state) as
 * JSON Lines (a header line with the rules and the tree size it covers,
 * then one record a line), so that a later run resumes.  cli_pdoc_save returns a malloc'd text; cli_pdoc_load
 * refuses (CL_EINVAL with why) a text made under other rules or for
 * another size.  Both return 0, CL_EINVAL or ENOMEM. */
int cli_pdoc_save(const struct cli_pdoc *d, uint64_t size, char **out, size_t *len, char *why);
int cli_pdoc_load(struct cli_pdoc *d, const uint8_t *buf, size_t len, uint64_t size, char *why);

#endif
