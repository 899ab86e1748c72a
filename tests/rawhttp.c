/*
 * rawhttp.c: the raw-socket HTTP client of rawhttp.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "rawhttp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int
rh_open(unsigned port)
{
	struct sockaddr_in sa;
	struct timeval tv = {30, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

void
rh_send(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return; /* the server may close early: what it said is read later */
		b += k;
		n -= (size_t)k;
	}
}

void
rh_send_str(int fd, const char *s)
{
	rh_send(fd, s, strlen(s));
}

/* Bytes read ahead of the current answer, per socket (one at a time). */
static uint8_t pend[1 << 20];
static size_t pend_len;

ssize_t
rh_fill(int fd)
{
	ssize_t n = recv(fd, pend + pend_len, sizeof pend - pend_len, 0);

	if (n > 0)
		pend_len += (size_t)n;
	return n;
}

int
rh_read(int fd, struct rh_resp *r, bool head)
{
	char *end;
	size_t hl, cl = 0;
	const char *p;

	r->status = 0;
	r->body = NULL;
	for (;;) {
		pend[pend_len] = '\0';
		if ((end = strstr((char *)pend, "\r\n\r\n")) != NULL)
			break;
		if (pend_len >= sizeof pend - 1 || rh_fill(fd) <= 0)
			return -1;
	}
	hl = (size_t)(end - (char *)pend) + 4;
	assert_true(hl < sizeof r->head);
	memcpy(r->head, pend, hl);
	r->head[hl] = '\0';
	r->status = atoi(r->head + 9);
	if ((p = strcasestr(r->head, "\r\nContent-Length: ")) != NULL)
		cl = strtoull(p + 18, NULL, 10);
	if (head || r->status == 100)
		cl = 0;
	while (pend_len < hl + cl) {
		if (rh_fill(fd) <= 0)
			return -1;
	}
	r->body = malloc(cl + 1);
	assert_non_null(r->body);
	memcpy(r->body, pend + hl, cl);
	r->body[cl] = '\0';
	r->len = cl;
	memmove(pend, pend + hl + cl, pend_len - hl - cl);
	pend_len -= hl + cl;
	return 0;
}

void
rh_expect_closed(int fd)
{
	ssize_t n;

	assert_int_equal(pend_len, 0);
	n = rh_fill(fd);
	if (n > 0)
		fail_msg("more bytes after the last answer: %.*s", (int)pend_len, (char *)pend);
	if (n < 0 && errno != ECONNRESET)
		fail_msg("connection not closed by the server: %s", strerror(errno));
}

const char *
rh_header(const struct rh_resp *r, const char *name, char *out, size_t cap)
{
	char key[64];
	const char *p, *e;

	snprintf(key, sizeof key, "\r\n%s: ", name);
	if ((p = strcasestr(r->head, key)) == NULL)
		return NULL;
	p += strlen(key);
	e = strstr(p, "\r\n");
	snprintf(out, cap, "%.*s", (int)(e - p), p);
	return out;
}

void
rh_one_line(const struct rh_resp *r)
{
	char ct[128];

	assert_non_null(rh_header(r, "Content-Type", ct, sizeof ct));
	assert_string_equal(ct, "text/plain; charset=utf-8");
	assert_true(r->len > 1);
	assert_true(r->body[r->len - 1] == '\n');
	assert_null(memchr(r->body, '\n', r->len - 1));
}

void
rh_reset(void)
{
	pend_len = 0;
}
