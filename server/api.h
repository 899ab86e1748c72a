/*
 * api.h: closurelogd's HTTP front end.
 *
 * One or more HTTP threads, each with its own event_base, sharing one
 * listening socket through the connection layer (http.h), which hands the
 * accepted connections round robin to the threads.  Reads (checkpoint, tiles, entries, proofs,
 * bundles, search) are answered on the HTTP thread from a short LMDB read
 * transaction.  Submissions are handed to the log (log.h) and answered
 * when the log calls back, after the durable commit.  docs/api.md lists
 * every route, parameter, status and limit.
 */
#ifndef CL_API_H
#define CL_API_H

#include <stddef.h>

#include "allow.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "wire.h"

/* Request bodies above this are refused (413) before they are read.  It
 * is a little above CL_ENTRY_MAX, so that a slightly large envelope gets
 * the one-line reason from the submit route. */
#define API_BODY_MAX (CL_ENTRY_MAX + 4096)

/* Request line and headers above this are refused (431). */
#define API_HEADERS_MAX 16384

struct api;

/* Set up cfg->http_threads HTTP threads serving the listening socket *fd
 * (bound, listening, non-blocking, without SO_REUSEPORT).  The api takes
 * the socket, even when api_new fails, and sets *fd to -1.  st, log, al
 * and m are borrowed and must outlive the api.  Nothing runs until
 * api_run.  Returns 0 or an error code with why. */
int api_new(const struct cfg *cfg, int *fd, struct st *st, struct log *log, struct allow *al,
    struct metrics *m, struct api **out, char *why);

/* Run every HTTP thread; the calling thread serves as the first one and
 * handles the signals: SIGTERM and SIGINT shut down (api_shutdown), SIGHUP
 * re-reads the submitters file.  Returns 0 after a shutdown. */
int api_run(struct api *a);

/* From any thread: stop accepting connections, let the log answer
 * everything in flight, flush the answers, and make api_run return.
 * Idempotent. */
void api_shutdown(struct api *a);

/* Free everything api_new made.  NULL is fine. */
void api_free(struct api *a);

#endif
