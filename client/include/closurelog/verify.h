/*
 * closurelog/verify.h: offline verification of closurelog proof bundles,
 * for credential brokers and anything else that must decide, without
 * network access, whether a Nix closure was attested by an accepted CI key
 * and published in a transparency log.
 *
 * A proof bundle (the ProofBundle message of closurelog.proto, written by
 * `closurelog submit`) holds a DSSE envelope, which is the log entry, and
 * a c2sp.org/tlog-proof@v1 text: the entry's index, its inclusion proof and
 * the log's signed checkpoint.  A bundle verifies when all of this holds:
 *
 *   1. the bundle and the tlog-proof are well formed and within the caps;
 *   2. the checkpoint is signed by the log key and names the expected origin;
 *   3. the inclusion proof leads from SHA-256(0x00 || envelope) at the
 *      proof's index to the root of the checkpoint;
 *   4. the envelope carries a valid signature by an accepted submitter key,
 *      and no invalid signature by an accepted key; signatures by keys the
 *      caller does not accept are ignored, and so is their order (closurelogd
 *      admits only envelopes whose every signature is allowlisted, verifies
 *      and comes in ascending keyid order, but a broker may accept fewer keys
 *      than the log, and entries logged before that rule keep verifying);
 *   5. the signed payload is a valid closure attestation;
 *   6. the attested root store path and narHash are the ones the caller
 *      expects (when it says which it expects).
 *
 * The checks run in that order and the first failure decides the status.
 * Witness cosignatures on the checkpoint are checked only by a verifier
 * given witness keys (closurelog_verifier_add_witness, below): then at
 * least a quorum of them must have cosigned, right after check 2.  Verification proves that an entry is in the log the checkpoint
 * describes, not that the checkpoint is the log's latest or that the log
 * has not forked: that is what `closurelog audit` and witnesses are for.
 *
 * Keys are C2SP verifier-key strings (c2sp.org/signed-note):
 * "<name>+<8 hex key ID>+<base64(0x01 || 32-byte Ed25519 public key)>".
 *
 * Memory and time: closurelog_verifier_new() allocates everything
 * verification will ever need; the verify functions allocate nothing and
 * do no I/O.  A verification costs one Ed25519 verification for the
 * checkpoint, one per envelope signature by an accepted key (an envelope
 * has at most 4), and work linear in the input size, which is capped.
 * A verification uses about 32 KiB of stack (mostly the signed-note
 * parser's): give broker threads at least 64 KiB.
 *
 * Link with `pkg-config --cflags --libs closurelog-verify`.  The library
 * initialises libsodium itself (sodium_init(), which is idempotent).
 */
#ifndef CLOSURELOG_VERIFY_H
#define CLOSURELOG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most submitter keys one verifier accepts. */
#define CLOSURELOG_SUBMITTER_KEYS_MAX 4096

/* Recommended size of the err buffer of closurelog_verifier_new(). */
#define CLOSURELOG_ERR_MAX 256

/* Largest bundle (bytes) that can verify; larger input is CLOSURELOG_EMALFORMED. */
#define CLOSURELOG_BUNDLE_MAX (65535 + 16384 + 1024)

/* Outcome of a verification.  The numeric values are stable. */
enum closurelog_status {
	CLOSURELOG_OK = 0,
	CLOSURELOG_EMALFORMED,   /* the bundle, tlog-proof or envelope cannot be decoded, or is
				  * above a size cap */
	CLOSURELOG_ECHECKPOINT,  /* the checkpoint is not validly signed by the log key, names
				  * another origin, or cannot be parsed */
	CLOSURELOG_EINCLUSION,   /* the inclusion proof does not lead from the envelope to the
				  * checkpoint's root (or its index or length is wrong) */
	CLOSURELOG_ESUBMITTER,   /* no signature by an accepted submitter key */
	CLOSURELOG_ESIGNATURE,   /* a signature by an accepted submitter key is invalid */
	CLOSURELOG_EATTESTATION, /* the signed payload is not a valid closure attestation */
	CLOSURELOG_EROOT,        /* the attested root is not the expected one */
	CLOSURELOG_ENARHASH,     /* the attested narHash is not the expected one */
	CLOSURELOG_EUSAGE,       /* bad arguments: NULL pointers, a malformed expected root or
				  * narHash, a malformed key */
	CLOSURELOG_EWITNESS,     /* the log signed the checkpoint, but fewer witnesses than the
				  * quorum cosigned it (or a witness's cosignature is invalid) */
	CLOSURELOG_ESYSTEM,      /* the system failed: out of memory, or libsodium cannot be
				  * initialised */
	CLOSURELOG_ENOFORK,      /* fork evidence that is well formed but proves no fork */
};

/* The status as a stable, static, upper-case string: "OK", "EMALFORMED",
 * "ECHECKPOINT", "EINCLUSION", "ESUBMITTER", "ESIGNATURE", "EATTESTATION",
 * "EROOT", "ENARHASH", "EUSAGE", "EWITNESS", "ESYSTEM", "ENOFORK"; "UNKNOWN"
 * for any other value.  Never NULL.  Thread-safe. */
const char *closurelog_status_name(enum closurelog_status status);

/* What a verification found.  Strings are NUL-terminated.  When status is
 * CLOSURELOG_OK every field is set.  Otherwise only status and reason are:
 * the other fields are zeroed, so that nothing from a bundle that failed
 * can be mistaken for a checked value. */
struct closurelog_result {
	enum closurelog_status status;
	char reason[256];        /* "" on success; otherwise one line saying what is wrong */
	uint64_t index;          /* the entry's index in the log */
	uint64_t tree_size;      /* the checkpoint's tree size */
	char origin[256];        /* the checkpoint's origin */
	char root[256];          /* the attested root store path, /nix/store/<hash>-<name> */
	char nar_hash[64];       /* the attested narHash, canonical SRI: "sha256-<base64>" */
	char submitter[256];     /* the name of the submitter key that verified */
	char submitter_keyid[9]; /* its C2SP key ID, 8 lowercase hex digits */
};

/* Opaque: the accepted keys, the expected origin and a work arena. */
struct closurelog_verifier;

/* Create a verifier.
 *   log_key         the log's verifier key string (in): an Ed25519 (type
 *                   0x01) C2SP verifier key; borrowed for the call.
 *   origin          the checkpoint origin to require (in), or NULL for the
 *                   log key's name (closurelogd's default); borrowed.
 *   submitter_keys  n verifier key strings of the accepted submitters
 *                   (in), Ed25519 (type 0x01); borrowed.  1 <= n <=
 *                   CLOSURELOG_SUBMITTER_KEYS_MAX.  Duplicates are allowed.
 *   out             receives the new verifier, owned by the caller, who
 *                   frees it with closurelog_verifier_free(); set to NULL
 *                   on failure.
 *   err             (out, may be NULL) err_len bytes for a one-line,
 *                   NUL-terminated reason on failure ("" on success);
 *                   CLOSURELOG_ERR_MAX is enough.
 * Allocates, once, a 512 KiB work arena and about 300 bytes per key.
 * Key strings are taken exactly: no surrounding whitespace or newline.
 * Returns CLOSURELOG_OK (0); CLOSURELOG_EUSAGE if an argument is NULL, n
 * is out of range, a key does not parse or is not an Ed25519 note key, or
 * origin is empty, longer than 255 bytes or contains control characters;
 * CLOSURELOG_ESYSTEM if memory runs out or libsodium cannot be
 * initialised.  Thread-safe (it calls sodium_init(), which is thread-safe
 * since libsodium 1.0.11). */
enum closurelog_status closurelog_verifier_new(const char *log_key, const char *origin,
    const char *const *submitter_keys, size_t n, struct closurelog_verifier **out, char *err,
    size_t err_len) __attribute__((warn_unused_result));

/* Free a verifier and everything it owns.  NULL is allowed.  The verifier
 * must not be in use by another thread. */
void closurelog_verifier_free(struct closurelog_verifier *v);

/* Verify a proof bundle (the serialized ProofBundle message).
 *   v              a verifier (in/out: its work arena is reused).
 *   bundle, len    the untrusted bundle bytes (in); borrowed for the call.
 *                  bundle may be NULL only when len is 0.
 *   want_root      (in, may be NULL: accept any root) the store path the
 *                  attestation must name, /nix/store/<hash>-<name>, compared
 *                  as an exact string.
 *   want_nar_hash  (in, may be NULL: accept any narHash) the sha256 narHash
 *                  it must carry, in any form Nix writes: SRI
 *                  "sha256-<base64>", "sha256:<nix32 or hex>", or a bare
 *                  nix32, hex or base64 digest; compared as bytes.
 *   res            (out) the result, always fully written (see struct
 *                  closurelog_result).
 * Returns res->status: CLOSURELOG_OK when every check holds; otherwise the
 * first check that failed, in the order listed at the top of this file.
 * Malformed want_root or want_nar_hash gives CLOSURELOG_EUSAGE before the
 * bundle is looked at; NULL v or res gives CLOSURELOG_EUSAGE (and res, if
 * not NULL, says so).
 * No heap allocation, no I/O, no global state.  Not thread-safe for one
 * verifier: use one verifier per thread (distinct verifiers may be used
 * concurrently).  Nothing in res points into the input or the verifier. */
enum closurelog_status closurelog_verify_bundle(struct closurelog_verifier *v,
    const uint8_t *bundle, size_t len, const char *want_root, const char *want_nar_hash,
    struct closurelog_result *res) __attribute__((warn_unused_result));

/* Verify a c2sp.org/tlog-proof@v1 text and the envelope it proves, given
 * separately (for example as two files) rather than in one bundle.
 *   envelope, env_len      the serialized DSSE envelope, the log entry (in,
 *                          borrowed; at most 65535 bytes).
 *   tlog_proof, tp_len     the tlog-proof text (in, borrowed; at most 16 KiB).
 * Everything else, the checks, the result and the rules on threads and
 * memory are as for closurelog_verify_bundle(). */
enum closurelog_status closurelog_verify_tlog_proof(struct closurelog_verifier *v,
    const uint8_t *envelope, size_t env_len, const uint8_t *tlog_proof, size_t tp_len,
    const char *want_root, const char *want_nar_hash, struct closurelog_result *res)
    __attribute__((warn_unused_result));

/* ---- Fork evidence ----
 *
 * `closurelog audit` writes fork evidence (a JSON file, docs/audit.md) when
 * a log signed two checkpoints that cannot both be states of one
 * append-only log.  Anyone holding the log key can check such a claim,
 * offline, with closurelog_evidence_check(): a fork is proven when both
 * checkpoints verify with the log key, have one origin, and either have
 * one size and two roots, or the evidence's consistency proof leads from a
 * root at the smaller size other than the signed one to the signed root at
 * the larger size (finding such a proof otherwise takes a SHA-256
 * collision). */

/* Largest evidence file (bytes); larger input is CLOSURELOG_EMALFORMED. */
#define CLOSURELOG_EVIDENCE_MAX (64 * 1024)

/* What closurelog_evidence_check found. */
struct closurelog_evidence_result {
	enum closurelog_status status;
	char message[1024];          /* OK: "fork proven: <origin> signed ..."; otherwise why not */
	uint64_t old_size, new_size; /* the sizes the evidence states; 0 unless well formed */
};

/* Check fork evidence.
 *   log_key        the log's verifier key string (in, borrowed): Ed25519.
 *   evidence, len  the untrusted evidence file's bytes (in, borrowed).
 *   res            (out) always fully written.
 * Returns res->status: CLOSURELOG_OK when the evidence proves that the log
 * forked; CLOSURELOG_ENOFORK when it is well formed but does not (marked
 * unproven, about another key, altered checkpoints, sizes, roots or proof);
 * CLOSURELOG_EMALFORMED when it cannot be parsed or is over
 * CLOSURELOG_EVIDENCE_MAX; CLOSURELOG_EUSAGE for a NULL argument or a
 * malformed key; CLOSURELOG_ESYSTEM when memory runs out.  Allocates
 * (about 30 KiB, freed before it returns), does no I/O, keeps no state:
 * thread-safe. */
enum closurelog_status closurelog_evidence_check(const char *log_key, const uint8_t *evidence,
    size_t len, struct closurelog_evidence_result *res) __attribute__((warn_unused_result));

/* ---- Witnesses (C2SP tlog-cosignature, cosignature/v1) ----
 *
 * A verifier with witness keys also requires, right after the log
 * signature (check 2), that at least `quorum` distinct witnesses added here
 * made a valid cosignature/v1 line on the checkpoint; otherwise the
 * verification fails with CLOSURELOG_EWITNESS, which tells "not enough
 * witnesses" apart from a bad log signature (CLOSURELOG_ECHECKPOINT).  A
 * line by an added witness key that does not verify is CLOSURELOG_EWITNESS
 * too.  Lines by keys not added are ignored; cosignature timestamps are
 * not judged.  A verifier without witness keys checks none (as before). */

/* Most witness keys one verifier accepts. */
#define CLOSURELOG_WITNESS_KEYS_MAX 64

/* Add a witness's verifier key string (type 0x04, cosignature/v1:
 * "<name>+<key ID>+<base64(0x04 || 32-byte key)>"), borrowed for the call.
 * Call before verifying (not concurrently with a verification on v).
 * Allocates a little.  err as for closurelog_verifier_new.  Returns 0;
 * CLOSURELOG_EUSAGE if v or the key is NULL, the key does not parse or is
 * not of type 0x04, it was added already, or CLOSURELOG_WITNESS_KEYS_MAX
 * are added; CLOSURELOG_ESYSTEM when memory runs out. */
enum closurelog_status closurelog_verifier_add_witness(struct closurelog_verifier *v,
    const char *witness_key, char *err, size_t err_len) __attribute__((warn_unused_result));

/* Require k (1 .. CLOSURELOG_WITNESS_KEYS_MAX) distinct witnesses'
 * cosignatures.  Until this is called the quorum is every added witness.
 * Returns 0 or CLOSURELOG_EUSAGE (v NULL, k out of range).  A quorum
 * larger than the number of witnesses added makes every verification fail
 * with CLOSURELOG_EUSAGE. */
enum closurelog_status closurelog_verifier_set_witness_quorum(struct closurelog_verifier *v,
    size_t k, char *err, size_t err_len) __attribute__((warn_unused_result));

/* ======================================================================
 * Policy decisions: the broker's allow/deny at a renewal (broker section)
 * ======================================================================
 *
 * A policy is the data document of an OPA policy bundle (docs/policy.md):
 *
 *   {"nix": {"approved_roots": [ROOT...],
 *            "roots": {ROOT: {"narHash": "sha256-...", "successors": [ROOT...]}},
 *            "conflicts": {ROOT: [...]}},            (optional)
 *    "policies": {"max_minutes": N}}
 *
 * as `closurelog policy build` writes it (or anything else does).  The
 * decision is exactly that of the Rego policy in docs/closurelog.rego:
 *
 *   allow  if  root is approved                       (rule 1)
 *              or prev_root is recorded and lists root among its
 *              successors                            (rule 2, a hotfix move)
 *         and  the presented narHash is the one recorded for root
 *         and  requested_minutes <= policies.max_minutes
 *
 * Note what rule 2 does not ask, in the Rego as here: that prev_root be
 * approved, or that root be approved on its own.  A deny carries one
 * readable reason per failed condition.
 *
 * JSON: loading parses the document with jansson, so the library depends
 * on it (closurelog-verify.pc says so); deciding touches no JSON at all:
 * closurelog_policy_load() turns the document into an immutable table
 * (sorted roots, decoded narHashes, sorted successor lists) and
 * closurelog_policy_decide() only searches it.  A broker loads once (at
 * start-up, or when CI publishes a new bundle: load the new one, swap a
 * pointer, free the old one when no decision uses it), then decides with no
 * heap allocation, no I/O and no locks: any number of threads may decide
 * against one policy concurrently.  A decision uses under 2 KiB of stack.
 */

/* Largest data document closurelog_policy_load() reads, in bytes. */
#define CLOSURELOG_POLICY_MAX (64 * 1024 * 1024)
/* Most roots (and most conflicts) in one policy. */
#define CLOSURELOG_POLICY_ROOTS_MAX 1000000
/* Most successors of one root. */
#define CLOSURELOG_POLICY_SUCCESSORS_MAX 1024
/* Largest policies.max_minutes (a year). */
#define CLOSURELOG_POLICY_MINUTES_MAX 525600
/* Most reasons in one decision, and the size of each (NUL included). */
#define CLOSURELOG_REASONS_MAX 4
#define CLOSURELOG_REASON_MAX  640
/* Size of a policy ID (NUL included). */
#define CLOSURELOG_POLICY_ID_MAX 256
/* Size of an SRI sha256 narHash string (NUL included). */
#define CLOSURELOG_NAR_HASH_MAX 64

/* Opaque, immutable once loaded. */
struct closurelog_policy;

/* Load a policy from a data document.
 *   json, len  the document's bytes (in, borrowed for the call); UTF-8 JSON
 *              of at most CLOSURELOG_POLICY_MAX bytes.
 *   revision   (in, may be NULL) the bundle's revision, from an OPA
 *              bundle's .manifest: it becomes the policy ID.  When the
 *              document names its own revision (closurelog.revision, as
 *              policy build writes it) the two must be equal.  With NULL,
 *              the ID is the document's closurelog.revision, or else
 *              "sha256-<base64 of SHA-256 of the bytes>".  1 .. 255
 *              printable ASCII bytes.
 *   out        receives the policy, owned by the caller, who frees it with
 *              closurelog_policy_free(); NULL on failure.
 *   err        (out, may be NULL) err_len bytes for a one-line reason on
 *              failure, naming the member that is wrong ("" on success).
 * Strict: duplicate keys, invalid UTF-8, a narHash that is not canonical
 * SRI sha256, a malformed or repeated store path, a successor equal to its
 * root, an approved root with no entry in nix.roots, a conflicting root
 * that also has an entry, a max_minutes that is not an integer in
 * 0 .. CLOSURELOG_POLICY_MINUTES_MAX, or any cap above exceeded: all are
 * refused.  Unknown members are allowed and ignored, as OPA ignores data a
 * policy does not read.  Allocates about 200 bytes per root and successor.
 * Returns 0; CLOSURELOG_EMALFORMED for a document that is refused;
 * CLOSURELOG_EUSAGE for NULL arguments or a bad revision;
 * CLOSURELOG_ESYSTEM when memory runs out or libsodium cannot be
 * initialised.  Thread-safe. */
enum closurelog_status closurelog_policy_load(const uint8_t *json, size_t len, const char *revision,
    struct closurelog_policy **out, char *err, size_t err_len) __attribute__((warn_unused_result));

/* Free a policy.  NULL is allowed.  No decision may be using it. */
void closurelog_policy_free(struct closurelog_policy *p);

/* The policy ID (see closurelog_policy_load), a static string owned by p;
 * and policies.max_minutes. */
const char *closurelog_policy_id(const struct closurelog_policy *p);
uint64_t closurelog_policy_max_minutes(const struct closurelog_policy *p);

/* What a workload presents at a renewal (the Rego input).  Strings are
 * borrowed for the call. */
struct closurelog_request {
	const char *root;      /* its closure root, /nix/store/<hash>-<name> */
	const char *nar_hash;  /* its narHash, in any form Nix writes (as for
			       * closurelog_verify_bundle's want_nar_hash); compared as
			       * bytes with the recorded one */
	const char *prev_root; /* the root it ran before, for a successor move; or NULL */
	const uint64_t *requested_minutes; /* the lifetime asked for; NULL if none was
					    * asked, which the Rego rule denies */
};

/* A decision.  Nothing in it points anywhere else. */
struct closurelog_decision {
	int allow;        /* 1 allow, 0 deny */
	size_t n_reasons; /* 0 when allowed; 1 .. CLOSURELOG_REASONS_MAX when denied */
	char reasons[CLOSURELOG_REASONS_MAX][CLOSURELOG_REASON_MAX];
	char env_hash[CLOSURELOG_NAR_HASH_MAX];   /* the presented narHash as canonical
						   * SRI, the env_hash to tag a credential
						   * with ("" if it did not parse) */
	char policy_id[CLOSURELOG_POLICY_ID_MAX]; /* the policy's ID, the policy_id tag */
};

/* Decide a request against a policy.
 *   p    a loaded policy (in; only read).
 *   req  the request (in).
 *   d    (out) the decision, always fully written.
 * Reasons, one per failed condition, in this order:
 *   "<root> is not an approved root"  (rule 1 failed)
 *   "<root> is not a successor of <prev_root>", or "previous root
 *     <prev_root> is not recorded in the policy"  (rule 2 failed; only when
 *     prev_root is given)
 *   "narHash mismatch for <root>: recorded <sri>, presented <sri>", or "no
 *     narHash is recorded for <root>" (with ": the log holds conflicting
 *     narHashes for it" when it is a conflict)
 *   "requested <n> minutes, policy allows <max>", or "no requested
 *     lifetime; policy allows <max> minutes"
 * Returns 0 when decided (d->allow says how); CLOSURELOG_EUSAGE when p, req
 * or d is NULL, or req is malformed (root or prev_root not a store path,
 * nar_hash not a sha256 hash): then d->allow is 0 and d->reasons[0] says
 * what is wrong.  A caller must treat every non-zero return as a denial.
 * No heap allocation, no I/O, no global state; thread-safe. */
enum closurelog_status closurelog_policy_decide(const struct closurelog_policy *p,
    const struct closurelog_request *req, struct closurelog_decision *d)
    __attribute__((warn_unused_result));

/* The narHash of the tree at path (a store path or any directory, file or
 * symlink; symlinks are not followed) as canonical SRI into out: the NAR
 * serialisation of attestations.md §5, hashed with SHA-256, equal to what
 * Nix records.  Streams the files through one 256 KiB buffer; allocates
 * that buffer and, per directory on the current path, its entry names
 * (freed on return).  Sockets, FIFOs and devices, deeper than 256 levels,
 * more than 2^20 entries in a directory, a file that changes while being
 * read: all refused.  Returns 0; CLOSURELOG_EUSAGE for NULL arguments;
 * CLOSURELOG_EMALFORMED for a tree a NAR cannot hold or that changed;
 * CLOSURELOG_ESYSTEM when memory runs out or a file system call fails
 * (err names the call and the path); with a one-line reason in err
 * (err_len bytes, may be NULL).  Thread-safe. */
enum closurelog_status closurelog_nar_hash(const char *path, char out[CLOSURELOG_NAR_HASH_MAX],
    char *err, size_t err_len) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif

#endif
