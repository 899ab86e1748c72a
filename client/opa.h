/*
 * opa.h: OPA policy bundles (policy-bundle.md §4) as closurelog writes and
 * reads them: a gzip'd ustar archive holding /data.json, /.manifest and
 * the Rego policy.
 *
 * Writing is deterministic: entries in the order given, mode 0644, owner 0,
 * mtime 0, no user or group names, a gzip header with no name and mtime 0,
 * zlib level 9; the same files give the same bytes.
 *
 * Reading is strict, for an archive that came over the network: the gzip
 * stream is one member whose CRC and length zlib checks, with nothing after
 * it, inflated to at most CLI_OPA_TAR_MAX bytes; tar headers must carry
 * the ustar magic and a correct checksum and octal sizes; only regular
 * files and directories are allowed (no links, no pax or GNU extension
 * headers), names must be relative without "..", no name may repeat, and
 * the archive must end in zero blocks.  A data.json below the root (which
 * OPA would mount under a sub-path) is refused: closurelog reads the whole
 * document from /data.json.
 */
#ifndef CL_OPA_H
#define CL_OPA_H

#include <stddef.h>
#include <stdint.h>

#include "closurelog/verify.h"

/* Largest inflated archive read, and largest .manifest. */
#define CLI_OPA_TAR_MAX      (CLOSURELOG_POLICY_MAX + 1024 * 1024)
#define CLI_OPA_MANIFEST_MAX (64 * 1024)

struct cli_opa_file {
	const char *name; /* relative path, at most 100 bytes */
	const uint8_t *data;
	size_t len;
};

/* Write files[0..n) as a bundle.tar.gz into a malloc'd *out (caller frees).
 * Returns 0, CL_EINVAL (a name too long) or ENOMEM, with why. */
int cli_opa_write(
    const struct cli_opa_file *files, size_t n, uint8_t **out, size_t *len, char *why);

/* What a bundle holds for closurelog. */
struct cli_opa_bundle {
	uint8_t *data; /* /data.json (malloc'd, NUL added) */
	size_t data_len;
	char *revision; /* .manifest's revision (malloc'd), or NULL without a manifest */
};

/* Read a bundle.tar.gz (gz[0..len), borrowed).  On success b holds
 * /data.json and the revision; the caller frees them with cli_opa_clear.
 * Returns 0 or CL_EINVAL / CL_ETOOBIG / ENOMEM with why; on failure b is
 * empty. */
int cli_opa_read(const uint8_t *gz, size_t len, struct cli_opa_bundle *b, char *why);

/* The Rego policy bundles carry: docs/closurelog.rego, embedded at build
 * time (client/embed.cmake), NUL-terminated. */
extern const char cli_rego_policy[];

/* Free what b holds and empty it. */
void cli_opa_clear(struct cli_opa_bundle *b);

#endif
