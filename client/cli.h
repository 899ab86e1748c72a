/*
 * cli.h: what the closurelog subcommands share.
 *
 * Exit codes, for every command: 0 full success; 1 a verification failed
 * or the log refused or could not be reached; 2 usage or input error.
 * Failures print one line, "closurelog <command>: <reason>", on stderr.
 */
#ifndef CL_CLI_H
#define CL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "note.h"
#include "sth.h"

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

/* Room for a one-line message that may name a path or a URL. */
#define CLI_MSG_MAX 1024

struct cli_http_opts;

/* Subcommands: argv[0] is the subcommand name. */
int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_attest(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_submit(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);
int cli_cmd_verify_evidence(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_mirror(int argc, char **argv);
int cli_cmd_get(int argc, char **argv);
int cli_cmd_prove(int argc, char **argv);
int cli_cmd_search(int argc, char **argv);
int cli_cmd_nar_hash(int argc, char **argv);
int cli_cmd_check(int argc, char **argv);
int cli_cmd_policy(int argc, char **argv);

/* Name of the running subcommand, for messages. */
extern const char *cli_command;

/* Print "closurelog <command>: <message>\n" to stderr and return code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print a warning line ("closurelog <command>: warning: ...") to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write buf to a new file dir/<stem><ext>, or dir/<stem>-<i><ext> for the
 * first i in 1..999 free, never replacing a file (cl_file_write with
 * CL_FILE_EXCL: durable, never partial).  The name used goes to out (cap
 * bytes), "" on failure.  Returns 0 or errno with why. */
int cli_write_new(const char *dir, const char *stem, const char *ext, const void *buf, size_t len,
    mode_t mode, char *out, size_t cap, char *why);

/* A verifier key from a command-line argument: the key string itself or a
 * file holding it.  Prints the failure; returns 0 or CLI_USAGE. */
int cli_verifier_arg(const char *opt, const char *arg, struct note_verifier *v);

/* A canonical decimal uint64 from a command-line argument (cl_u64_parse).
 * Prints the failure; returns 0 or CLI_USAGE. */
int cli_u64_arg(const char *opt, const char *arg, uint64_t *v);

/* The URL prefix of a log: strip one trailing '/'.  Returns 0 or
 * CLI_USAGE (not http:// or https://). */
int cli_log_url(const char *arg, char *out, size_t cap);

/* Parse a signed checkpoint note[0..len).  With key (not NULL) it must
 * carry a valid signature by that key; without, it is only parsed (the
 * caller says so to the user).  *c points into note.  Returns 0 or a
 * CL_E* code with why. */
int cli_checkpoint_open(const uint8_t *note, size_t len, const struct note_verifier *key,
    struct sth *c, char *why) __attribute__((warn_unused_result));

/* Fetch <url>/checkpoint and open it as cli_checkpoint_open does; with key,
 * its origin must also be `origin` (NULL: any).  On success *note (malloc'd,
 * the caller frees it) holds the note of *len bytes and *c points into it.
 * Returns 0, or the exit code with why (CLI_MSG_MAX bytes): "cannot fetch
 * the checkpoint: ..." or "the log's checkpoint does not verify: ...". */
int cli_checkpoint_fetch(const struct cli_http_opts *o, const char *url,
    const struct note_verifier *key, const char *origin, uint8_t **note, size_t *len, struct sth *c,
    char *why) __attribute__((warn_unused_result));

/* Write a formatted one-line reason into why (CLI_MSG_MAX bytes) and
 * return rc, as cl_why does for CL_WHY_MAX. */
int cli_why(char *why, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print a progress line, "closurelog <command>: <message>", on stderr. */
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True if argv has -h or --help. */
bool cli_wants_help(int argc, char **argv);

#endif
