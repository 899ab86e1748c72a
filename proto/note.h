/*
 * note.h: C2SP signed notes (c2sp.org/signed-note) and their keys, with
 * Ed25519 note signatures (type 0x01) and Ed25519 cosignature/v1
 * timestamped witness signatures (type 0x04).
 *
 * Keys are the C2SP verifier-key strings `<name>+<8 hex key ID>+<base64(type
 * || pubkey)>` and the Go-style signer strings `PRIVATE+KEY+<name>+<8 hex key
 * ID>+<base64(0x01 || 32-byte seed)>`.  The key ID is
 * SHA-256(name || 0x0A || type || pubkey)[0:4], read as a big-endian uint32.
 *
 * No allocation: parsed notes point into the caller's buffer.  Secrets live
 * only in struct note_signer, which callers wipe with note_signer_wipe().
 * Errors are the CL_E* codes of cl.h, with a one-line reason in `why`.
 */
#ifndef CL_NOTE_H
#define CL_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTE_NAME_MAX    255     /* longest key name we accept, in bytes */
#define NOTE_MAX_SIZE    1000000 /* longest note we parse (Go ParseTree uses 1e6) */
#define NOTE_SIGS_MAX    100     /* most signature lines in a note (Go note.Open) */
#define NOTE_SIG_B64_MAX 8192    /* longest base64 value on a signature line */
#define NOTE_VKEY_MAX    (NOTE_NAME_MAX + 1 + 8 + 1 + 48 + 1)  /* vkey string + NUL */
#define NOTE_SKEY_MAX    (12 + NOTE_VKEY_MAX)                  /* "PRIVATE+KEY+" + ... */
#define NOTE_SIGLINE_MAX (4 + NOTE_NAME_MAX + 1 + 104 + 1 + 1) /* one Ed25519 line + NUL */
/* A cosignature/v1 line by a key named with name_len bytes: the em dash
 * and space, the name, a space, base64 of key hash, timestamp and
 * signature (4 + 8 + 64 bytes), the newline. */
#define NOTE_COSIG_LINE_LEN(name_len) (4 + (name_len) + 1 + 104 + 1)
/* Longest text a cosignature/v1 is made or checked over.  Ed25519 needs the
 * whole signed message in one buffer, and the note code does not allocate,
 * so the message is built on the stack: note_cosign_line() fails and
 * note_open() returns CL_ETOOBIG for a type-0x04 line by a configured key
 * on a longer text.  Checkpoints are a few hundred bytes. */
#define NOTE_COSIG_TEXT_MAX 16384

#define NOTE_TYPE_ED25519 0x01 /* signature over the note text */
#define NOTE_TYPE_COSIG   0x04 /* cosignature/v1: timestamped, over a checkpoint */

/* A public key that can verify note signatures. */
struct note_verifier {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;  /* key ID */
	uint8_t type; /* NOTE_TYPE_ED25519 or NOTE_TYPE_COSIG */
	uint8_t pub[32];
};

/* A private key (always type 0x01).  sk is libsodium's 64-byte secret key
 * (seed || public key).  Wipe with note_signer_wipe(). */
struct note_signer {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t sk[64];
};

/* Key ID of (name, type, pub[0..publen)). */
uint32_t note_key_id(const char *name, uint8_t type, const uint8_t *pub, size_t publen);

/* The character rules of a note (and of its text): valid UTF-8 (no
 * overlongs, surrogates or values above U+10FFFF) and no byte below 0x20
 * except '\n'.  Returns 0 or CL_EINVAL naming the offset. */
int note_text_check(const uint8_t *s, size_t len, char *why) __attribute__((warn_unused_result));

/* Check a key name: 1 .. NOTE_NAME_MAX bytes of valid UTF-8, with no '+',
 * no Unicode whitespace and no control characters.  Returns 0 or CL_EINVAL. */
int note_name_check(const char *name, size_t len, char *why) __attribute__((warn_unused_result));

/* Parse a verifier key string of exactly len bytes (type 0x01 or 0x04; the
 * stated key ID must match the recomputed one).  Returns 0, or CL_EINVAL /
 * CL_ETYPE (unsupported key type) with *v zeroed. */
int note_verifier_parse(const char *s, size_t len, struct note_verifier *v, char *why)
    __attribute__((warn_unused_result));

/* Write v's verifier key string, NUL-terminated, into buf (NOTE_VKEY_MAX
 * bytes always suffice).  Returns the length, or 0 if cap is too small. */
size_t note_verifier_format(const struct note_verifier *v, char *buf, size_t cap);

/* Parse a signer key string of exactly len bytes.  Returns 0 or CL_EINVAL
 * (s is not echoed into why: it is a secret); on error *s is wiped. */
int note_signer_parse(const char *str, size_t len, struct note_signer *s, char *why)
    __attribute__((warn_unused_result));

/* Write s's signer key string, NUL-terminated, into buf (NOTE_SKEY_MAX
 * bytes suffice).  Returns the length, or 0 if cap is too small.  The
 * caller wipes buf when done. */
size_t note_signer_format(const struct note_signer *s, char *buf, size_t cap);

/* A fresh random key named `name`.  Returns 0, CL_EINVAL (bad name) or
 * CL_ECRYPTO. */
int note_signer_generate(const char *name, struct note_signer *s, char *why);

/* The signer from a 32-byte seed (deterministic; for tests and fixtures). */
int note_signer_from_seed(
    const char *name, const uint8_t seed[32], struct note_signer *s, char *why);

/* The type-0x01 verifier of a signer. */
void note_signer_verifier(const struct note_signer *s, struct note_verifier *v);

/* Zero a signer's secret. */
void note_signer_wipe(struct note_signer *s);

/* Format one Ed25519 signature line "— <name> <base64(id||sig)>\n" for
 * text[0..len), NUL-terminated, into line (NOTE_SIGLINE_MAX bytes).
 * Returns the line's length, or 0 on failure. */
size_t note_sign_line(
    const struct note_signer *s, const uint8_t *text, size_t len, char *line, size_t cap);

/* Sign text[0..len) (which must end in '\n' and pass the note character
 * rules) and write the whole note, text + "\n" + one signature line, into
 * out (capacity cap).  Returns 0 and sets *outlen, or CL_EINVAL /
 * CL_ETOOBIG. */
int note_sign(const struct note_signer *s, const uint8_t *text, size_t len, uint8_t *out,
    size_t cap, size_t *outlen, char *why);

/* One signature line of a parsed note. */
struct note_sig {
	const char *name; /* into the note buffer; not NUL-terminated */
	size_t name_len;
	uint32_t id;
	int key;            /* index into the verifiers that verified this line, or -1 */
	uint64_t timestamp; /* cosignature/v1 time, when key >= 0 and the key is type 0x04 */
	const char *line;   /* the whole line, including "— " and the final '\n' */
	size_t line_len;
};

struct note {
	size_t text_len; /* the signed text is msg[0 .. text_len), ending in '\n' */
	size_t n_sigs;
	struct note_sig sigs[NOTE_SIGS_MAX];
	size_t n_verified; /* lines with key >= 0 */
};

/* Parse and verify a signed note msg[0..len) against `keys`.
 * Rules (checkpoint-and-note.md): len <= NOTE_MAX_SIZE; valid UTF-8 and no
 * byte below 0x20 except '\n' anywhere; split at the last "\n\n"; every
 * signature line well formed (non-empty name, strict base64 of >= 5 bytes);
 * at most NOTE_SIGS_MAX lines.  A line whose (name, key ID) matches a key
 * must verify (type 0x01: Ed25519 over the text; type 0x04: cosignature/v1
 * over "cosignature/v1\ntime <t>\n" || text), else CL_EBADSIG; lines that
 * match no key are kept with key = -1.  A repeated (name, ID) line is kept
 * but not verified twice.  At least one key must verify, else CL_ENOKEY.
 * n_keys may be 0 to parse without verifying (then CL_ENOKEY is not
 * returned and every key is -1).  Returns 0 or a CL_E* code with *out
 * zeroed.  *out points into msg: keep msg alive while using it. */
int note_open(const uint8_t *msg, size_t len, const struct note_verifier *keys, size_t n_keys,
    struct note *out, char *why) __attribute__((warn_unused_result));

/* How many distinct keys (indices 0 .. n_keys-1 of the keys given to
 * note_open) verified a line of n: a k-of-n witness count, in which one
 * key's repeated lines count once. */
size_t note_keys_verified(const struct note *n, size_t n_keys);

/* Make a cosignature/v1 line for the checkpoint text text[0..len) at time
 * `timestamp` (POSIX seconds, 1 .. 2^63-1) with signer s acting as a type
 * 0x04 witness key (its verifier is note_cosigner_verifier(s)).  Writes the
 * line, NUL-terminated, into line (capacity cap).  Returns its length or 0. */
size_t note_cosign_line(const struct note_signer *s, const uint8_t *text, size_t len,
    uint64_t timestamp, char *line, size_t cap);

/* The type-0x04 verifier for a signer's key used as a witness. */
void note_cosigner_verifier(const struct note_signer *s, struct note_verifier *v);

#endif
