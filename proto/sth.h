/*
 * sth.h: signed tree heads as C2SP checkpoints (c2sp.org/tlog-checkpoint).
 *
 * A checkpoint's text is "<origin>\n<size>\n<base64 root>\n" plus optional
 * non-empty extension lines, signed as a note (note.h).  closurelogd signs
 * no extension lines; parsed ones are kept as opaque bytes.
 * Errors are the CL_E* codes of cl.h, with a one-line reason in `why`.
 */
#ifndef CL_STH_H
#define CL_STH_H

#include <stddef.h>
#include <stdint.h>

#include "note.h"

#define STH_ORIGIN_MAX NOTE_NAME_MAX
#define STH_TEXT_MAX   (STH_ORIGIN_MAX + 1 + 20 + 1 + 44 + 1) /* without extensions */
/* A checkpoint signed by one key, as closurelogd writes it. */
#define STH_NOTE_MAX (STH_TEXT_MAX + 1 + NOTE_SIGLINE_MAX)

struct sth {
	char origin[STH_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[32];
	const char *ext; /* extension lines, each ending '\n'; points into the parsed buffer */
	size_t ext_len;  /* 0 when there are none */
};

/* Write the checkpoint text (origin, size, root; no extensions) into buf,
 * NUL-terminated (STH_TEXT_MAX + 1 bytes suffice).  The origin must pass
 * note_name_check-like rules: non-empty, no '\n', no control bytes.
 * Returns the text length, or 0 if the origin is invalid or cap too small. */
size_t sth_format(const struct sth *s, char *buf, size_t cap);

/* Parse checkpoint text text[0..len) (as returned by note_open: it ends in
 * '\n').  Requires >= 3 lines; size is a decimal without leading zeros that
 * fits uint64; root is strict base64 of exactly 32 bytes; extension lines
 * are non-empty.  A size-0 checkpoint must carry the empty-tree root.
 * Returns 0 or CL_EINVAL with *out zeroed. */
int sth_parse(const char *text, size_t len, struct sth *out, char *why)
    __attribute__((warn_unused_result));

/* Format s and sign it with the log key: writes the signed note into out
 * (STH_NOTE_MAX bytes suffice) and its length into *outlen.  Returns 0 or a
 * CL_E* code. */
int sth_sign(const struct sth *s, const struct note_signer *log, uint8_t *out, size_t cap,
    size_t *outlen, char *why);

/* Verify a signed checkpoint msg[0..len) against the log's key `log`, check
 * that its origin equals `origin` (if origin is not NULL; CL_EORIGIN
 * otherwise) and parse it.  Other signatures (witnesses, unknown keys) are
 * ignored here.  Returns 0, or CL_ENOKEY (no valid log signature),
 * CL_EBADSIG, CL_EORIGIN, CL_EINVAL, CL_ETOOBIG.  *out points into msg. */
int sth_open(const uint8_t *msg, size_t len, const struct note_verifier *log, const char *origin,
    struct sth *out, char *why) __attribute__((warn_unused_result));

#endif
