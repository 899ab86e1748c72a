/*
 * rawhttp.h: a raw-socket HTTP/1.1 client for tests that must send what
 * curl will not (malformed framing, pipelined runs, half requests) and see
 * exactly what a server answers and when it closes.  One connection is
 * read at a time: bytes read ahead of an answer wait in a static buffer,
 * cleared by rh_reset().  Failures fail the running cmocka test.
 */
#ifndef CL_TEST_RAWHTTP_H
#define CL_TEST_RAWHTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <setjmp.h>

#include <cmocka.h>

/* One answer. */
struct rh_resp {
	int status;
	char head[4096]; /* status line and headers, NUL-terminated */
	uint8_t *body;   /* malloc'd, NUL-terminated; the caller frees it */
	size_t len;
};

/* A blocking TCP connection to 127.0.0.1:port, with a 30 s receive
 * timeout.  The caller closes it. */
int rh_open(unsigned port);

/* Forget bytes read ahead (call before reading a new connection). */
void rh_reset(void);

/* Send all of p[0..n), stopping quietly if the server closed early. */
void rh_send(int fd, const void *p, size_t n);
void rh_send_str(int fd, const char *s);

/* Read one more chunk; bytes read, 0 on EOF, -1 on error (errno: EAGAIN
 * is the receive timeout, not a close). */
ssize_t rh_fill(int fd);

/* Read one answer (headers and its Content-Length body; no body when head
 * is true).  Returns 0, or -1 if the connection ended first. */
int rh_read(int fd, struct rh_resp *r, bool head);

/* Fail unless the server closes fd (EOF or reset, not a receive timeout)
 * with nothing more sent. */
void rh_expect_closed(int fd);

/* The value of header name in r (into out[0..cap)), or NULL. */
const char *rh_header(const struct rh_resp *r, const char *name, char *out, size_t cap);

/* Fail unless r is an error in the contract's shape: text/plain, one
 * line. */
void rh_one_line(const struct rh_resp *r);

#endif
