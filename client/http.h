/*
 * http.h: the closurelog client's HTTP(S), over libcurl.
 *
 * Every call has connect and total timeouts, caps the response body before
 * storing it, and retries 429, 503 and network errors with exponential
 * backoff (safe: GETs are reads and submissions are idempotent).
 */
#ifndef CL_HTTP_H
#define CL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_http_opts {
	long timeout_ms;   /* whole request, default 30000 */
	unsigned attempts; /* total tries, default 6 */
	long backoff_ms;   /* first retry delay, doubled each time, default 200 */
	bool retry_lines;  /* a warning line on stderr before each retry, default off */
};

struct cli_http_resp {
	long status;   /* HTTP status, 0 if no response */
	uint8_t *body; /* malloc'd, NUL-terminated (not counted in len) */
	size_t len;
};

/* Defaults, overridable from the environment: CLOSURELOG_TIMEOUT_MS,
 * CLOSURELOG_ATTEMPTS, CLOSURELOG_BACKOFF_MS. */
void cli_http_defaults(struct cli_http_opts *o);

/* Start/stop libcurl (once per process). */
int cli_http_init(void);
void cli_http_cleanup(void);

/* GET url, or POST body to url (body non-NULL), keeping at most max_body
 * response bytes.  Returns 0 when a response arrived (any status; the last
 * one after retries), or 1 with why (network failure after the last try,
 * or a response over max_body).  Free with cli_http_resp_free. */
int cli_http_request(const struct cli_http_opts *o, const char *url, const uint8_t *body,
    size_t body_len, size_t max_body, struct cli_http_resp *r, char *why);

void cli_http_resp_free(struct cli_http_resp *r);

/* GET <base>/<path> (base: a log URL prefix without a trailing '/'; path:
 * without a leading '/'), keeping at most max_body bytes.  Returns 0 with a
 * 2xx answer in *r (free it with cli_http_resp_free).  Otherwise *r holds
 * nothing and the result is the exit code (cli.h): CLI_FAIL when the log
 * could not be reached, or what cli_http_answer gives for its answer, with
 * why "<path>: HTTP <status>: <reason>" or the network failure. */
int cli_http_get(const struct cli_http_opts *o, const char *base, const char *path, size_t max_body,
    struct cli_http_resp *r, char *why) __attribute__((warn_unused_result));

/* Judge an answer: 0 for a 2xx status.  Otherwise why gets "HTTP <status>:
 * <the body's first line>" (control characters replaced) and the result is
 * the exit code for it (cli.h): CLI_USAGE for 400 and 404, where the log
 * found the request itself wrong (a bad or out-of-range argument), and
 * CLI_FAIL for the rest (refused, overloaded, failing). */
int cli_http_answer(const struct cli_http_resp *r, char *why);

#endif
