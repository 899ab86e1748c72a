/*
 * show.h: how the client shows attestations, envelopes and checkpoints,
 * as text for people and as JSON (jansson) for scripts.  Shared by
 * inspect, get, verify and search so that one thing always looks the same.
 */
#ifndef CL_SHOW_H
#define CL_SHOW_H

#include <stdio.h>

#include <jansson.h>

#include "note.h"
#include "sth.h"
#include "wire.h"

/* The attestation as a JSON object (new reference), or NULL. */
json_t *cli_show_attestation_json(const struct cl_attestation *att);

/* The attestation as aligned "  name: value" lines. */
void cli_show_attestation_text(FILE *f, const struct cl_attestation *att);

/* A checkpoint (parsed) as JSON: origin, size, root (base64 and hex). */
json_t *cli_show_checkpoint_json(const struct sth *c);

/* Print JSON to stdout, indented, with a final newline; decrefs j.
 * Returns 0 or CLI_FAIL. */
int cli_show_json_print(json_t *j);

#endif
