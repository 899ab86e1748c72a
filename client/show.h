/*
 * show.h: how the client shows attestations, envelopes and checkpoints,
 * as text for people and as JSON (jansson) for scripts.  Shared by
 * inspect, get, verify and search so that one thing always looks the same.
 */
#ifndef CL_SHOW_H
#define CL_SHOW_H

#include <stdarg.h>
#include <stdbool.h>
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

/* Set j[size_key] and j[root_key] (hex) to c's size and root, or both to
 * null when c is NULL.  j is borrowed. */
void cli_show_checkpoint_fields(
    json_t *j, const char *size_key, const char *root_key, const struct sth *c);

/* The outcome of a run (audit, mirror): the message fmt/ap as one line
 * for people ("OK: ..." on stdout when code is CLI_OK, cli_fail's line on
 * stderr otherwise) and, with json, one JSON object on stdout too:
 * "status", "message", then the members of fields (taken over: decref'd
 * here; NULL, with json, is out of memory).  Returns code, or CLI_FAIL
 * when the JSON of a success could not be printed. */
int cli_show_outcome(int code, const char *status, bool json, json_t *fields, const char *fmt,
    va_list ap) __attribute__((format(printf, 5, 0)));

#endif
