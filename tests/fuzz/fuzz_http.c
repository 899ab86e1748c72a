/*
 * fuzz_http.c: the HTTP/1.1 connection layer (http.h) parsing whatever a
 * client sends.  Each input is written, as one client connection, into a
 * real server: one event base, a listening Unix socket, the very accept,
 * read, parse and answer code closurelogd and closurelog-witness run.
 * The client then half-closes and reads until the server closes.
 *
 * Invariants, besides no crash, leak or undefined behaviour:
 *   - every request the handler sees is within the limits and coherent
 *     (path a prefix of the target, query after '?', body within max_body);
 *   - the byte stream the client gets is a run of well-formed answers:
 *     a status line, headers with one Content-Length, and that many body
 *     bytes; a refusal by the layer is text/plain, one line, and last;
 *   - the server closes the connection once the client has half-closed,
 *     and no connection stays open after an input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "cl.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_URL  256
#define MAX_HDRS 2048
#define MAX_BODY 1024

static struct event_base *base;
static struct http *srv;
static struct sockaddr_un addr;
static int n_open;

struct client {
	int fd;
	const uint8_t *in;
	size_t in_len, in_off;
	uint8_t *out;
	size_t out_len, out_cap;
	bool eof;
	struct event *rd, *wr;
};

static void
on_req(void *arg, struct http_req *r)
{
	size_t tl = strlen(r->target), pl = strlen(r->path);

	(void)arg;
	if (tl > MAX_URL || pl > tl || memcmp(r->path, r->target, pl) != 0 ||
	    r->body_len > MAX_BODY || (r->body_len > 0 && r->body == NULL))
		abort();
	if (r->query != NULL &&
	    (r->query != r->target + pl + 1 || r->target[pl] != '?' || r->query_len != tl - pl - 1))
		abort();
	if (r->query == NULL && pl != tl)
		abort();
	/* Some answers ask to close: the layer must then stop there. */
	http_reply(r, 200, "text/plain", NULL, NULL, 0, r->body_len % 7 == 3);
}

static void
on_conn(void *arg, int delta)
{
	(void)arg;
	n_open += delta;
}

static void
setup(void)
{
	static const struct http_limits lim = {4, 5.0, 5.0, MAX_URL, MAX_HDRS, MAX_BODY, NULL, 0};
	static const struct http_hooks hooks = {on_conn, NULL, NULL};
	void *args[1] = {NULL};
	char why[CL_WHY_MAX];
	int fd;

	if ((base = event_base_new()) == NULL)
		abort();
	/* An abstract-namespace socket: no file to clean up. */
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "fuzz_http.%d", (int)getpid());
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0)
		abort();
	if (http_new(&lim, fd, 1, &base, on_req, &hooks, args, &srv, why) != 0)
		abort();
}

static void
client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if ((what & EV_WRITE) && c->in_off < c->in_len) {
		ssize_t n = send(fd, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);

		if (n > 0)
			c->in_off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->in_off = c->in_len; /* the server closed early */
		if (c->in_off == c->in_len) {
			shutdown(fd, SHUT_WR);
			event_del(c->wr);
		}
	}
	if (what & EV_READ) {
		for (;;) {
			ssize_t n;

			if (c->out_cap - c->out_len < 4096) {
				c->out_cap = c->out_cap * 2 + 8192;
				if ((c->out = realloc(c->out, c->out_cap)) == NULL)
					abort();
			}
			n = recv(fd, c->out + c->out_len, c->out_cap - c->out_len, 0);
			if (n > 0) {
				c->out_len += (size_t)n;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				c->eof = true;
			break;
		}
	}
	if (c->eof && c->in_off == c->in_len)
		event_base_loopbreak(base);
}

static const uint8_t *
find(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return p + i;
	return NULL;
}

/* The answers, one after another. */
static void
check_answers(const uint8_t *p, size_t n)
{
	while (n > 0) {
		const uint8_t *end = find(p, n, "\r\n\r\n"), *cl;
		size_t hl, len = 0;
		int status;
		char head[4096];

		if (end == NULL || n < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0)
			abort();
		hl = (size_t)(end - p) + 4;
		if (hl >= sizeof head)
			abort();
		memcpy(head, p, hl);
		head[hl] = '\0';
		status = atoi(head + 9);
		if (status < 100 || status > 599)
			abort();
		p += hl;
		n -= hl;
		if (status == 100)
			continue;
		if ((cl = find((const uint8_t *)head, hl, "\r\nContent-Length: ")) == NULL)
			abort();
		len = strtoul((const char *)cl + 18, NULL, 10);
		if (status == 200) {
			if (len != 0)
				abort();
			continue;
		}
		/* A refusal: text/plain, the last answer; its one line is there
		 * unless it answered a HEAD. */
		if (strstr(head, "\r\nContent-Type: text/plain; charset=utf-8\r\n") == NULL ||
		    strstr(head, "\r\nConnection: close\r\n") == NULL || (n != 0 && n != len) ||
		    len == 0)
			abort();
		if (n == len && (p[len - 1] != '\n' || memchr(p, '\n', len - 1) != NULL))
			abort();
		return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client c = {.fd = -1, .in = data, .in_len = size};

	if (base == NULL)
		setup();
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, sizeof addr) != 0)
		abort();
	c.rd = event_new(base, c.fd, EV_READ | EV_PERSIST, client_cb, &c);
	c.wr = event_new(base, c.fd, EV_WRITE | EV_PERSIST, client_cb, &c);
	if (c.rd == NULL || c.wr == NULL || event_add(c.rd, NULL) != 0)
		abort();
	if (size == 0)
		shutdown(c.fd, SHUT_WR);
	else if (event_add(c.wr, NULL) != 0)
		abort();
	event_base_dispatch(base);
	event_free(c.rd);
	event_free(c.wr);
	close(c.fd);
	/* The server must let go of the connection by itself. */
	while (n_open > 0)
		event_base_loop(base, EVLOOP_ONCE);
	check_answers(c.out, c.out_len);
	free(c.out);
	return 0;
}
