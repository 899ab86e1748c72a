/*
 * loadgen.c: closed- and open-loop HTTP/1.1 load on libevent.
 *
 * One event loop, one thread, `conns` keep-alive connections, each with at
 * most one request in flight.  Answers are parsed just enough (status line,
 * Content-Length) to find where they end: closurelogd always sends a
 * Content-Length.  The generator shares the machine with the server, so it
 * is kept lean: raw sockets under libevent's event API rather than
 * bufferevents.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct lg;

/* One connection: a non-blocking socket with one persistent read event.
 * Requests are written with send() directly; a write event is armed only
 * when the socket buffer is full, so that a request costs the generator
 * about one send and one recv, not a round of epoll_ctl calls. */
struct conn {
	struct lg *lg;
	evutil_socket_t fd;
	struct event *rd, *wr;
	bool connected, busy, dead;
	size_t cur;     /* request in flight */
	double t_start; /* when its latency clock started */
	const uint8_t *out;
	size_t out_left;
	uint8_t *in; /* the answer so far */
	size_t in_len, in_cap, head_len, clen;
	int status;
};

struct lg {
	const struct lg_cfg *cfg;
	const struct lg_req *reqs;
	struct lg_res *res;
	size_t n, next, done, alive;
	struct event_base *base;
	struct event *tick;
	struct conn *conns;
	double t0, t_last;
	bool stop_issuing;
};

double
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
lg_request(struct lg_req *r, const char *method, const char *host_port, const char *path,
    const uint8_t *body, size_t len)
{
	char head[1024];
	int h;

	if (body != NULL)
		h = snprintf(head, sizeof head,
		    "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    method, path, host_port, len);
	else
		h = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path,
		    host_port);
	if (h < 0 || (size_t)h >= sizeof head)
		return -1;
	if ((r->bytes = malloc((size_t)h + len)) == NULL)
		return -1;
	memcpy(r->bytes, head, (size_t)h);
	if (body != NULL)
		memcpy(r->bytes + h, body, len);
	r->len = (size_t)h + (body != NULL ? len : 0);
	return 0;
}

/* The time request i was due: open loop, on the schedule; closed, now. */
static double
due_time(const struct lg *g, size_t i)
{
	return g->cfg->rate > 0 ? g->t0 + (double)i / g->cfg->rate : lg_now();
}

static size_t
due_count(const struct lg *g)
{
	double e;
	size_t d;

	if (g->cfg->rate <= 0)
		return g->n;
	e = lg_now() - g->t0;
	d = (size_t)(e * g->cfg->rate) + 1;
	return d < g->n ? d : g->n;
}

static void
maybe_finish(struct lg *g)
{
	if (g->done == g->n || (g->stop_issuing && g->done == g->next) || g->alive == 0)
		event_base_loopbreak(g->base);
}

static void
conn_kill(struct conn *c)
{
	struct lg *g = c->lg;

	if (c->dead)
		return;
	if (c->busy) {
		g->res[c->cur].status = 0;
		c->busy = false;
		g->done++;
	}
	c->dead = true;
	if (c->connected && g->alive > 0)
		g->alive--;
	event_del(c->rd);
	event_del(c->wr);
	maybe_finish(g);
}

/* Write what is pending; arm the write event only if the kernel is full. */
static void
flush_out(struct conn *c)
{
	while (c->out_left > 0) {
		ssize_t n = send(c->fd, c->out, c->out_left, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wr, NULL);
			return;
		}
		if (n <= 0) {
			conn_kill(c);
			return;
		}
		c->out += n;
		c->out_left -= (size_t)n;
	}
}

static bool
send_next(struct conn *c)
{
	struct lg *g = c->lg;

	if (!c->connected || c->busy || c->dead || g->stop_issuing || g->next >= due_count(g))
		return false;
	c->cur = g->next++;
	c->t_start = due_time(g, c->cur);
	c->busy = true;
	c->in_len = c->head_len = c->clen = 0;
	c->out = g->reqs[c->cur].bytes;
	c->out_left = g->reqs[c->cur].len;
	flush_out(c);
	return true;
}

static void
complete(struct conn *c)
{
	struct lg *g = c->lg;
	struct lg_res *r = &g->res[c->cur];
	double now = lg_now(), lat = now - c->t_start;

	r->status = c->status;
	r->latency_us = lat > 4294 ? UINT32_MAX : (uint32_t)(lat * 1e6);
	if (g->cfg->keep_bodies && (r->body = malloc(c->clen + 1)) != NULL) {
		memcpy(r->body, c->in + c->head_len, c->clen);
		r->body[c->clen] = '\0';
		r->len = c->clen;
	}
	c->busy = false;
	g->done++;
	g->t_last = now;
}

/* Parse the head once it is complete: status and Content-Length. */
static bool
parse_head(struct conn *c)
{
	uint8_t *end = NULL;

	for (size_t i = 3; i < c->in_len; i++) {
		if (c->in[i] == '\n' && c->in[i - 1] == '\r' && c->in[i - 2] == '\n' &&
		    c->in[i - 3] == '\r') {
			end = c->in + i + 1;
			break;
		}
	}
	if (end == NULL)
		return false;
	c->head_len = (size_t)(end - c->in);
	c->status = strncmp((char *)c->in, "HTTP/1.", 7) == 0 ? atoi((char *)c->in + 9) : 0;
	for (char *p = (char *)c->in; p < (char *)end - 2; p++) {
		if (p[0] == '\n' && strncasecmp(p + 1, "Content-Length:", 15) == 0)
			c->clen = strtoul(p + 16, NULL, 10);
	}
	return true;
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)what;
	for (;;) {
		ssize_t n;

		if (c->in_cap - c->in_len < 16384) {
			size_t cap = c->in_cap ? 2 * c->in_cap : 65536;
			uint8_t *t = realloc(c->in, cap);

			if (t == NULL) {
				conn_kill(c);
				return;
			}
			c->in = t;
			c->in_cap = cap;
		}
		n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_kill(c);
			return;
		}
		if (!c->busy) {
			c->in_len = 0; /* nothing asked: stray bytes */
			continue;
		}
		c->in_len += (size_t)n;
		if (c->head_len == 0 && !parse_head(c))
			continue;
		if (c->in_len < c->head_len + c->clen)
			continue;
		complete(c);
		if (!send_next(c))
			maybe_finish(c->lg);
		return;
	}
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int err = 0;
	socklen_t len = sizeof err;

	(void)what;
	if (!c->connected) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			conn_kill(c);
			return;
		}
		c->connected = true;
		c->lg->alive++;
		if (c->lg->t0 == 0)
			c->lg->t0 = lg_now();
		event_add(c->rd, NULL);
		send_next(c);
		return;
	}
	flush_out(c);
}

/* The calling thread's CPU seconds: user + system, and system alone. */
static void
thread_cpu(double *all, double *sys)
{
	struct rusage ru;

	*all = *sys = 0;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	*all = *sys + (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

/* Open loop: hand due requests to idle connections. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lg *g = arg;

	(void)fd;
	(void)what;
	if (g->cfg->max_seconds > 0 && g->t0 > 0 && lg_now() - g->t0 > g->cfg->max_seconds) {
		g->stop_issuing = true;
		maybe_finish(g);
		return;
	}
	for (unsigned i = 0; i < g->cfg->conns; i++)
		send_next(&g->conns[i]);
}

int
lg_run(const struct lg_cfg *cfg, const struct lg_req *reqs, size_t n, struct lg_res *res,
    struct lg_stats *st)
{
	struct lg g;
	struct sockaddr_in sa;
	/* Open loop: a fine tick releases requests on schedule.  Closed loop:
	 * answers drive sends, and a coarse tick only enforces max_seconds,
	 * so that the generator does not wake 5 000 times a second for
	 * nothing (it shares the cores with the server). */
	struct timeval tick = {0, cfg->rate > 0 ? 200 : 10000};
	double cpu0, sys0, cpu1, sys1;
	int rc = 0;

	memset(&g, 0, sizeof g);
	memset(st, 0, sizeof *st);
	memset(res, 0, n * sizeof *res);
	g.cfg = cfg;
	g.reqs = reqs;
	g.res = res;
	g.n = n;
	if ((g.base = event_base_new()) == NULL ||
	    (g.conns = calloc(cfg->conns, sizeof *g.conns)) == NULL)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->port);
	inet_pton(AF_INET, cfg->host, &sa.sin_addr);
	for (unsigned i = 0; i < cfg->conns; i++) {
		struct conn *c = &g.conns[i];
		int one = 1;

		c->lg = &g;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			c->dead = true;
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->rd = event_new(g.base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
		c->wr = event_new(g.base, c->fd, EV_WRITE, on_writable, c);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
			c->dead = true;
		else
			event_add(c->wr, NULL);
	}
	g.tick = event_new(g.base, -1, EV_PERSIST, on_tick, &g);
	if (cfg->rate > 0 || cfg->max_seconds > 0)
		event_add(g.tick, &tick);
	thread_cpu(&cpu0, &sys0);
	event_base_dispatch(g.base);
	thread_cpu(&cpu1, &sys1);
	st->cpu_s = cpu1 - cpu0;
	st->cpu_sys_s = sys1 - sys0;
	st->sent = g.next;
	st->answered = 0;
	for (size_t i = 0; i < g.next; i++) {
		if (res[i].status != 0)
			st->answered++;
	}
	st->failed = g.next - st->answered;
	st->seconds = g.t_last > g.t0 ? g.t_last - g.t0 : 0;
	st->achieved_rate = st->seconds > 0 ? (double)st->answered / st->seconds : 0;
	lg_percentiles(res, g.next, st);
	if (g.done == 0)
		rc = -1;
	for (unsigned i = 0; i < cfg->conns; i++) {
		struct conn *c = &g.conns[i];

		if (c->rd != NULL)
			event_free(c->rd);
		if (c->wr != NULL)
			event_free(c->wr);
		if (c->fd >= 0)
			close(c->fd);
		free(c->in);
	}
	if (g.tick != NULL)
		event_free(g.tick);
	free(g.conns);
	event_base_free(g.base);
	return rc;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
lg_percentiles(const struct lg_res *res, size_t n, struct lg_stats *st)
{
	uint32_t *l = malloc((n ? n : 1) * sizeof *l);
	size_t k = 0;

	st->p50_us = st->p95_us = st->p99_us = st->max_us = 0;
	if (l == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (res[i].status != 0)
			l[k++] = res[i].latency_us;
	}
	if (k > 0) {
		qsort(l, k, sizeof *l, cmp_u32);
		st->p50_us = l[(k - 1) * 50 / 100];
		st->p95_us = l[(k - 1) * 95 / 100];
		st->p99_us = l[(k - 1) * 99 / 100];
		st->max_us = l[k - 1];
	}
	free(l);
}

void
lg_res_free(struct lg_res *res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(res[i].body);
		res[i].body = NULL;
	}
}

void
lg_heap_warm(size_t bytes)
{
	enum { PIECE = 16 << 20 };
	size_t n = (bytes + PIECE - 1) / PIECE;
	void **p = calloc(n ? n : 1, sizeof *p);

	if (p == NULL)
		return;
	/* Blocks up to 32 MiB come from the heap, and the heap is never
	 * handed back to the kernel: freed answers are reused, not unmapped
	 * and faulted in again. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
	for (size_t i = 0; i < n; i++) {
		if ((p[i] = malloc(PIECE)) != NULL)
			memset(p[i], 1, PIECE);
	}
	for (size_t i = n; i-- > 0;)
		free(p[i]);
	free(p);
}
