/*
 * fault_test.c: closurelogd under faults and abuse: kill -9 in the middle
 * of a concurrent load, a full LMDB map, SIGTERM with submissions in
 * flight, overload, too many connections, slow clients and per-client
 * rate limits.  After each, acknowledged data must be intact and the
 * server must keep serving.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "merkle.h"
#include "srvutil.h"
#include "testutil.h"
#include "wire.h"

static uint8_t abuf[WIRE_ARENA_MIN];

/* Every acknowledged entry is at its index with its bytes, and every
 * acknowledged checkpoint is consistent with the server's tree now. */
static void
check_acks_survived(const struct h_server *s, const struct note_verifier *lk, struct su_result *res,
    uint8_t *const *envs, const size_t *lens, size_t n, size_t *n_acked)
{
	struct sth now;

	su_checkpoint(s, lk, &now);
	*n_acked = 0;
	for (size_t i = 0; i < n; i++) {
		struct su_ack a;
		char url[256];
		uint8_t *body;
		size_t len;
		long status;
		struct wire_arena ar;
		struct cl_entry e;

		if (res[i].status != 201 && res[i].status != 200)
			continue;
		su_check_ack(lk, envs[i], lens[i], res[i].status, res[i].body, res[i].len, &a);
		(*n_acked)++;
		assert_true(a.index < now.size);
		snprintf(
		    url, sizeof url, "%s/v1/entries/%llu", s->url, (unsigned long long)a.index);
		assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
		assert_int_equal(status, 200);
		wire_arena_init(&ar, abuf, sizeof abuf);
		assert_int_equal(wire_entry_decode(&ar, body, len, &e, NULL), 0);
		assert_int_equal(e.envelope_len, lens[i]);
		assert_memory_equal(e.envelope, envs[i], lens[i]);
		free(body);
		/* Checking each distinct checkpoint once is enough. */
		if (i % 23 == 0 || a.ckpt.size == now.size)
			su_check_consistent(s, a.ckpt.size, a.ckpt.root, now.size, now.root);
	}
}

/* ---- kill -9 under load ---- */

#define N_KILL 3000

/* Send sig to the server from a thread once the log holds `after`
 * entries, so that the signal lands mid-load however fast the machine. */
struct killer {
	const struct h_server *s;
	uint64_t after;
	int sig;
};

static void *
killer_main(void *arg)
{
	struct killer *k = arg;
	char url[128];

	snprintf(url, sizeof url, "%s/healthz", k->s->url);
	for (int i = 0; i < 3000; i++) {
		uint8_t *body = NULL;
		size_t len;
		long status;
		unsigned long long size = 0;

		if (h_http("GET", url, NULL, 0, &status, &body, &len) == 0 && status == 200 &&
		    sscanf((char *)body, "ok %llu", &size) == 1 && size >= k->after) {
			free(body);
			break;
		}
		free(body);
		usleep(5000);
	}
	kill(k->s->pid, k->sig);
	return NULL;
}

static void
test_kill9_under_load(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	uint8_t **envs = calloc(N_KILL, sizeof *envs);
	size_t *lens = calloc(N_KILL, sizeof *lens), acked, failed = 0;
	struct su_result *res = calloc(N_KILL, sizeof *res);
	struct killer k;
	pthread_t kt;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < N_KILL; i++)
		envs[i] = su_envelope(i, NULL, &lens[i]);
	/* Kill the server while 16 clients are mid-way through. */
	k = (struct killer){&s, N_KILL / 3, SIGKILL};
	assert_int_equal(pthread_create(&kt, NULL, killer_main, &k), 0);
	su_blast(&s, envs, lens, N_KILL, 16, res);
	pthread_join(kt, NULL);
	{
		int st = h_server_stop(&s, SIGKILL);

		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	for (size_t i = 0; i < N_KILL; i++)
		failed += res[i].status == 0;
	print_message("  killed after %zu acknowledgements; %zu requests failed\n",
	    (size_t)N_KILL - failed, failed);
	assert_true(failed > 0); /* it really died mid-load */

	su_start(&s, dir, NULL);
	check_acks_survived(&s, &lk, res, envs, lens, N_KILL, &acked);
	assert_int_equal(acked, (size_t)N_KILL - failed);
	/* And it goes on appending. */
	{
		struct su_ack a;
		struct sth before;
		uint8_t *e;
		size_t l;

		su_checkpoint(&s, &lk, &before);
		e = su_envelope(N_KILL + 1, NULL, &l);
		assert_int_equal(su_submit(&s, &lk, e, l, &a, NULL), 201);
		assert_int_equal(a.index, before.size);
		free(e);
	}
	h_server_stop(&s, SIGTERM);
	su_results_free(res, N_KILL);
	for (size_t i = 0; i < N_KILL; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	free(res);
	h_rmrf(dir);
}

/* ---- SIGTERM with submissions in flight ---- */

#define N_TERM 2000

static void
test_sigterm_under_load(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	uint8_t **envs = calloc(N_TERM, sizeof *envs);
	size_t *lens = calloc(N_TERM, sizeof *lens), acked;
	struct su_result *res = calloc(N_TERM, sizeof *res);
	struct killer k;
	pthread_t kt;
	int st;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, NULL);
	su_log_key(&s, &lk);
	for (size_t i = 0; i < N_TERM; i++)
		envs[i] = su_envelope(i, NULL, &lens[i]);
	k = (struct killer){&s, N_TERM / 4, SIGTERM};
	assert_int_equal(pthread_create(&kt, NULL, killer_main, &k), 0);
	su_blast(&s, envs, lens, N_TERM, 16, res);
	pthread_join(kt, NULL);
	while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR)
		;
	s.pid = 0;
	/* A clean exit, having answered what it accepted. */
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	su_start(&s, dir, NULL);
	check_acks_survived(&s, &lk, res, envs, lens, N_TERM, &acked);
	print_message("  %zu of %d acknowledged before the stop\n", acked, N_TERM);
	for (size_t i = 0; i < N_TERM; i++) {
		/* Refused ones were refused with a clear 503, not cut off. */
		if (res[i].status != 200 && res[i].status != 201)
			assert_true(res[i].status == 503 || res[i].status == 0);
	}
	h_server_stop(&s, SIGTERM);
	su_results_free(res, N_TERM);
	for (size_t i = 0; i < N_TERM; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	free(res);
	h_rmrf(dir);
}

/* ---- A full map ---- */

static void
test_map_full(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	static const char *const small[] = {"--map-size", "1M", "--map-max", "1M", NULL};
	static const char *const large[] = {"--map-size", "64M", NULL};
	uint8_t *envs[4000];
	size_t lens[4000], n = 0, acked_n = 0;
	long status = 0;
	char why[256];

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, small);
	su_log_key(&s, &lk);
	while (n < 4000) {
		struct su_ack a;

		/* Noisy: bundles compress envelopes that differ in little. */
		envs[n] = su_envelope_noisy(n, &lens[n]);
		status = su_submit(&s, &lk, envs[n], lens[n], &a, why);
		acked_n += status == 201;
		n++;
		if (status != 201)
			break;
	}
	assert_int_equal(status, 507);
	assert_non_null(strstr(why, "full"));
	print_message("  map full after %zu entries\n", acked_n);
	/* Still serving reads, and still refusing writes clearly. */
	{
		struct sth c;
		struct su_ack a;

		su_checkpoint(&s, &lk, &c);
		assert_int_equal(c.size, acked_n);
		assert_int_equal(su_submit(&s, &lk, envs[n - 1], lens[n - 1], &a, why), 507);
	}
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	/* Grown: writes resume, nothing lost or corrupted. */
	su_start(&s, dir, large);
	{
		struct sth c;
		struct su_ack a;

		su_checkpoint(&s, &lk, &c);
		assert_int_equal(c.size, acked_n);
		assert_int_equal(su_submit(&s, &lk, envs[n - 1], lens[n - 1], &a, why), 201);
		assert_int_equal(a.index, acked_n);
		for (size_t i = 0; i + 1 < n; i += 11) {
			struct su_ack d;

			assert_int_equal(su_submit(&s, &lk, envs[i], lens[i], &d, why), 200);
			assert_int_equal(d.index, i);
		}
	}
	h_server_stop(&s, SIGTERM);
	for (size_t i = 0; i < n; i++)
		free(envs[i]);
	h_rmrf(dir);
}

/* ---- Overload, connections, slow clients, rate limits ---- */

static void
test_overload(void **state)
{
	char dir[512];
	struct h_server s;
	struct note_verifier lk;
	/* One submission in flight at most, and each batch waits 200 ms. */
	static const char *const args[] = {
	    "--queue-max", "1", "--batch-window", "200000", "--rate", "0", NULL};
	uint8_t *envs[32];
	size_t lens[32];
	struct su_result res[32];
	int busy = 0, ok = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	su_log_key(&s, &lk);
	for (int i = 0; i < 32; i++)
		envs[i] = su_envelope((uint64_t)i, NULL, &lens[i]);
	su_blast(&s, envs, lens, 32, 16, res);
	for (int i = 0; i < 32; i++) {
		if (res[i].status == 503) {
			busy++;
			assert_non_null(strstr((char *)res[i].body, "too many submissions"));
			assert_true(atoi(res[i].retry_after) >= 1);
		} else {
			struct su_ack a;

			su_check_ack(
			    &lk, envs[i], lens[i], res[i].status, res[i].body, res[i].len, &a);
			ok++;
		}
		free(envs[i]);
	}
	print_message("  %d accepted, %d told to retry\n", ok, busy);
	assert_true(busy > 0);
	assert_true(ok > 0);
	su_results_free(res, 32);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

static int
connect_to(const struct h_server *s)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static void
test_too_many_connections(void **state)
{
	char dir[512], url[128];
	struct h_server s;
	static const char *const args[] = {"--max-conns", "4", NULL};
	int fds[4];
	long status;
	uint8_t *body;
	size_t len;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	for (int i = 0; i < 4; i++)
		fds[i] = connect_to(&s);
	usleep(200000);
	snprintf(url, sizeof url, "%s/checkpoint", s.url);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
	assert_int_equal(status, 503);
	assert_non_null(strstr((char *)body, "too many connections"));
	free(body);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	/* The server notices the closes as they come; allow 5 s. */
	for (int i = 0; i < 50; i++) {
		assert_int_equal(h_http("GET", url, NULL, 0, &status, NULL, NULL), 0);
		if (status == 200)
			break;
		usleep(100000);
	}
	assert_int_equal(status, 200);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

static void
test_slow_clients(void **state)
{
	char dir[512], url[128];
	struct h_server s;
	static const char *const args[] = {"--request-timeout", "1", "--max-conns", "8", NULL};
	static const char partial[] = "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int slow[6];
	double t0;
	long status;
	char buf[512];

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	snprintf(url, sizeof url, "%s/checkpoint", s.url);
	/* Six connections trickle a request, a byte every 200 ms. */
	for (int i = 0; i < 6; i++) {
		slow[i] = connect_to(&s);
		assert_int_equal(
		    send(slow[i], partial, sizeof partial - 1, 0), (ssize_t)sizeof partial - 1);
	}
	t0 = h_now();
	for (int round = 0; round < 15; round++) {
		for (int i = 0; i < 6; i++)
			(void)send(slow[i], "a", 1, MSG_NOSIGNAL);
		/* Others are served meanwhile. */
		assert_int_equal(h_http("GET", url, NULL, 0, &status, NULL, NULL), 0);
		assert_int_equal(status, 200);
		usleep(200000);
	}
	/* After about --request-timeout the server has cut them off: each
	 * gets a 408 line and then the server's close (EOF or a reset), which
	 * a receive timeout (EAGAIN) is not. */
	for (int i = 0; i < 6; i++) {
		struct timeval tv = {20, 0};
		size_t got = 0;
		ssize_t n;

		setsockopt(slow[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		while ((n = recv(slow[i], buf + got, sizeof buf - 1 - got, 0)) > 0 &&
		    got + (size_t)n < sizeof buf - 1)
			got += (size_t)n;
		if (n > 0) /* more than the buffer: keep reading to the end */
			while ((n = recv(slow[i], buf, sizeof buf, 0)) > 0)
				;
		assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
		buf[got] = '\0';
		assert_true(got > 13 && strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
		close(slow[i]);
	}
	assert_true(h_now() - t0 < 10);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

static void
test_rate_limit(void **state)
{
	char dir[512], url[128];
	struct h_server s;
	static const char *const args[] = {"--rate", "2", "--rate-burst", "3", NULL};
	long status;
	uint8_t *body;
	size_t len;
	int limited = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	su_start(&s, dir, args);
	snprintf(url, sizeof url, "%s/checkpoint", s.url);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(h_http("GET", url, NULL, 0, &status, &body, &len), 0);
		if (status == 429) {
			limited++;
			assert_non_null(strstr((char *)body, "rate limit"));
		} else {
			assert_int_equal(status, 200);
		}
		free(body);
	}
	assert_true(limited >= 5);
	sleep(2);
	assert_int_equal(h_http("GET", url, NULL, 0, &status, NULL, NULL), 0);
	assert_int_equal(status, 200);
	h_server_stop(&s, SIGTERM);
	h_rmrf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill9_under_load),
	    cmocka_unit_test(test_sigterm_under_load),
	    cmocka_unit_test(test_map_full),
	    cmocka_unit_test(test_overload),
	    cmocka_unit_test(test_too_many_connections),
	    cmocka_unit_test(test_slow_clients),
	    cmocka_unit_test(test_rate_limit),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	su_init();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
