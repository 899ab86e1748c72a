/*
 * harness.h: helpers for integration tests that run the real closurelogd
 * and closurelog binaries: temporary directories, server processes on
 * 127.0.0.1 with port 0, running commands with their output captured, and
 * plain HTTP requests.
 */
#ifndef CL_HARNESS_H
#define CL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef CL_BIN_DIR
#error "CL_BIN_DIR must name the build's bin directory"
#endif

struct h_server {
	pid_t pid;
	char dir[512]; /* the data directory */
	char url[64];  /* http://127.0.0.1:<port> */
	unsigned port;
	char pub[600];  /* path of the log's public key file */
	char vkey[600]; /* the log's verifier key */
};

/* A fresh directory under $TMPDIR (or /tmp) in out; aborts the test on
 * failure. */
void h_tmpdir(char *out, size_t cap);

/* rm -rf dir. */
void h_rmrf(const char *dir);

/* build/bin/<name>. */
const char *h_bin(const char *name);

/* Start closurelogd on 127.0.0.1:0 with --data data_dir and the extra
 * arguments (NULL-terminated, may be NULL), wait until it serves (up to 10
 * s), and fill in s.  Fails the test if it does not come up. */
void h_server_start(struct h_server *s, const char *data_dir, const char *const *extra);

/* Like h_server_start, but return -1 (instead of failing) if the server
 * exits; *status gets its exit status and stderr_out (if not NULL, cap
 * bytes) what it printed. */
int h_server_try_start(struct h_server *s, const char *data_dir, const char *const *extra,
    int *status, char *stderr_out, size_t cap);

/* Send sig (SIGTERM to stop cleanly, SIGKILL to crash it) and wait.
 * Returns the wait status. */
int h_server_stop(struct h_server *s, int sig);

struct h_run {
	int status; /* exit code, or 128 + signal */
	char *out, *err;
	size_t out_len, err_len;
};

/* Run argv[0] (a path) with argv, stdin from in_path (or /dev/null if
 * NULL), capturing stdout and stderr.  Fails the test if it cannot start. */
void h_run(struct h_run *r, const char *in_path, const char *const *argv);
void h_run_free(struct h_run *r);

/* Preload lib (LD_PRELOAD) into the programs started from now on, until
 * h_preload_clear().  ASAN_OPTIONS gets verify_asan_link_order=0 added, so
 * that a sanitized program accepts a library loaded before the sanitizer's;
 * h_preload_clear() puts both back as they were. */
void h_preload(const char *lib);
void h_preload_clear(void);

/* Run build/bin/closurelog with the arguments that follow (NULL-terminated)
 * and return its exit status. */
int h_closurelog(struct h_run *r, ...);

/* "<dir>/<name>" in one of 8 rotating static buffers. */
const char *h_path(const char *dir, const char *name);

/* One HTTP request with libcurl (no retries).  *status gets the HTTP
 * status (0 on network failure); *body (malloc'd, NUL-terminated) and *len
 * the answer, if body is not NULL.  Returns 0 or -1. */
int h_http(const char *method, const char *url, const void *data, size_t data_len, long *status,
    uint8_t **body, size_t *len);

/* GET url with h_http; returns the HTTP status, 0 on a network failure
 * (*body NULL then). */
long h_get(const char *url, uint8_t **body, size_t *len);

/* Whether every regular file under sub (recursively; names starting with
 * '.' skipped) is under super too, with the same bytes.  Prints the first
 * one that is not. */
bool h_tree_within(const char *sub, const char *super);

/* Write a file (0644) or fail the test. */
void h_write(const char *path, const void *data, size_t len);

/* Read a file into a malloc'd buffer (NUL added) or fail the test. */
uint8_t *h_read(const char *path, size_t *len);

/* Seconds on the monotonic clock, for the tests' polling deadlines. */
double h_now(void);

/* A closurelog-witness on 127.0.0.1:0. */
struct h_witness {
	pid_t pid;
	char dir[512]; /* its --data directory */
	char url[64];  /* http://127.0.0.1:<port> */
	unsigned port;
	char vkey[600]; /* its cosignature verifier key (from <dir>/witness.pub) */
};

/* Start closurelog-witness --data data_dir --listen 127.0.0.1:0 with the
 * extra arguments (NULL-terminated: --log VKEY ...), wait until it serves
 * (up to 10 s) and fill in w.  Returns 0, or -1 if it exited (then *status
 * is its exit status and stderr_out, if not NULL, what it printed). */
int h_witness_try_start(struct h_witness *w, const char *data_dir, const char *const *extra,
    int *status, char *stderr_out, size_t cap);

/* Like h_witness_try_start, failing the test if it does not come up. */
void h_witness_start(struct h_witness *w, const char *data_dir, const char *const *extra);

/* Send sig and wait; returns the wait status. */
int h_witness_stop(struct h_witness *w, int sig);

#endif
