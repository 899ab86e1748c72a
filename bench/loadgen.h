/*
 * loadgen.h: an HTTP/1.1 load generator on libevent, for the benchmarks.
 *
 * Requests are prepared in full (request line, headers, body) before the
 * run, so that the generator only copies bytes.  Each of `conns` keep-alive
 * connections carries one request at a time.  Closed loop (rate 0): a
 * connection sends its next request as soon as the answer arrives.  Open
 * loop (rate > 0): requests are due at a fixed rate whatever the server
 * does, and latency counts from when a request was due, not when a
 * connection was free to send it, so that queueing is not hidden
 * ("coordinated omission").
 */
#ifndef CL_LOADGEN_H
#define CL_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds on the monotonic clock. */
double lg_now(void);

struct lg_req {
	uint8_t *bytes; /* the whole HTTP request; owned by the caller */
	size_t len;
};

struct lg_res {
	int status; /* HTTP status, 0 if no answer */
	uint32_t latency_us;
	uint8_t *body; /* when keep_bodies: malloc'd answer body */
	size_t len;
};

struct lg_cfg {
	const char *host; /* IPv4 literal */
	uint16_t port;
	unsigned conns;
	double rate; /* requests per second; 0 = closed loop */
	bool keep_bodies;
	double max_seconds; /* stop issuing after this long (0 = until all sent) */
};

struct lg_stats {
	size_t sent, answered, failed; /* failed: no answer (network) */
	double seconds;                /* first send to last answer */
	uint32_t p50_us, p95_us, p99_us, max_us;
	double achieved_rate; /* answered / seconds */
	double cpu_s;         /* the generator's own CPU time (user + system) in the run */
	double cpu_sys_s;     /* the kernel's part of it (send, recv, epoll, TCP) */
};

/* Build "METHOD path HTTP/1.1" with Host, Content-Length (and
 * Content-Type for a body) into r (malloc'd).  Returns 0 or -1. */
int lg_request(struct lg_req *r, const char *method, const char *host_port, const char *path,
    const uint8_t *body, size_t len);

/* Send reqs[0..n) (each once, in order) and record res[i] for each.
 * Returns 0, or -1 if no connection could be made. */
int lg_run(const struct lg_cfg *cfg, const struct lg_req *reqs, size_t n, struct lg_res *res,
    struct lg_stats *st);

/* Latency percentiles over res (answered ones only). */
void lg_percentiles(const struct lg_res *res, size_t n, struct lg_stats *st);

void lg_res_free(struct lg_res *res, size_t n);

/* Touch `bytes` of heap now and keep every freed block in the process
 * from now on (mallopt), so that the answer bodies a timed run keeps
 * (keep_bodies) land in memory already faulted in.  Without it, on a VM,
 * the first touch of each page the bodies fill (about 130 MB in a batch
 * run at 10^7) cost the generator, and so the server's cores, up to
 * 1.3 ms of kernel time per batch answer.  Call once, before the runs;
 * best effort (nothing is reported: at worst nothing is warmed). */
void lg_heap_warm(size_t bytes);

#endif
