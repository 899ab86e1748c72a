/*
 * nginx_test.c: closurelogd --tiles-dir behind a real nginx running the
 * shipped deploy/nginx/closurelog.conf on a loopback port.
 *
 * Submissions go through nginx from several threads while `closurelog
 * audit --full` runs through nginx too; then a fresh full audit through
 * nginx must verify the whole log.  Every full tile and entry bundle must
 * be on disk, byte for byte what closurelogd serves, readable by all, and
 * nginx must have served them from disk (its access log shows no upstream
 * for them) while partial tiles went to closurelogd.  A tile file removed
 * while closurelogd is down is written again when it starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "srvutil.h"
#include "testutil.h"

#ifndef CL_NGINX
#error "CL_NGINX must name the nginx binary"
#endif

#define N_ENTRIES 600 /* two full tiles and bundles, and partial ones (88) */

/* A port that was free a moment ago. */
static unsigned
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

struct nginx {
	pid_t pid;
	char url[64];
};

/* Start nginx with the shipped configuration in front of server s, the
 * tiles directory as its root; wait until it answers /checkpoint. */
static void
nginx_start(struct nginx *n, const char *dir, const char *tiles, const struct h_server *s)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char conf[8192];
		unsigned port = free_port();
		double deadline;
		int len;

		len = snprintf(conf, sizeof conf,
		    "daemon off;\nmaster_process off;\nworker_processes 1;\n"
		    "pid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n"
		    "events { worker_connections 1024; }\n"
		    "http {\n"
		    "  log_format served '$uri $status $upstream_addr';\n"
		    "  access_log %s/access.log served;\n"
		    "  client_body_temp_path %s/ngx-body;\n  proxy_temp_path %s/ngx-proxy;\n"
		    "  fastcgi_temp_path %s/ngx-fcgi;\n  uwsgi_temp_path %s/ngx-uwsgi;\n"
		    "  scgi_temp_path %s/ngx-scgi;\n"
		    "  upstream closurelogd { server 127.0.0.1:%u; keepalive 8; }\n"
		    "  server {\n    listen 127.0.0.1:%u;\n    root %s;\n"
		    "    include %s/deploy/nginx/closurelog.conf;\n  }\n}\n",
		    dir, dir, dir, dir, dir, dir, dir, dir, s->port, port, tiles, CL_SOURCE_DIR);
		assert_true(len > 0 && (size_t)len < sizeof conf);
		h_write(h_path(dir, "nginx.conf"), conf, (size_t)len);
		n->pid = fork();
		assert_true(n->pid >= 0);
		if (n->pid == 0) {
			int null = open("/dev/null", O_RDWR);

			dup2(null, 0);
			dup2(null, 1);
			execl(CL_NGINX, CL_NGINX, "-e", h_path(dir, "nginx-error.log"), "-p", dir,
			    "-c", h_path(dir, "nginx.conf"), (char *)NULL);
			_exit(127);
		}
		snprintf(n->url, sizeof n->url, "http://127.0.0.1:%u", port);
		deadline = h_now() + 30;
		while (h_now() < deadline) {
			char u[96];
			long status = 0;
			int st;

			snprintf(u, sizeof u, "%s/checkpoint", n->url);
			if (h_http("GET", u, NULL, 0, &status, NULL, NULL) == 0 && status == 200)
				return;
			if (waitpid(n->pid, &st, WNOHANG) == n->pid)
				break; /* the port was taken: try another */
			usleep(20000);
		}
		kill(n->pid, SIGKILL);
		waitpid(n->pid, NULL, 0);
	}
	fail_msg("nginx did not start (see %s/nginx-error.log)", dir);
}

static void
nginx_stop(struct nginx *n)
{
	int st;

	kill(n->pid, SIGQUIT); /* graceful */
	while (waitpid(n->pid, &st, 0) < 0 && errno == EINTR)
		;
}

struct load {
	struct h_server via; /* nginx, as a server for su_blast */
	uint8_t **envs;
	size_t *lens;
	struct su_result *res;
};

static void *
load_run(void *arg)
{
	struct load *l = arg;

	su_blast(&l->via, l->envs, l->lens, N_ENTRIES, 8, l->res);
	return NULL;
}

static int
audit(const char *url, const char *pub, const char *state, struct h_run *r)
{
	return h_closurelog(
	    r, "audit", "--log", url, "--log-key", pub, "--state", state, "--full", NULL);
}

/* The file tiles/<path> must hold what closurelogd serves at /<path>. */
static void
check_file(const char *tiles, const struct h_server *s, const char *path)
{
	char u[128];
	struct stat st;
	uint8_t *want, *got;
	size_t wlen, glen;
	long status = 0;

	if (stat(h_path(tiles, path), &st) != 0)
		fail_msg("%s was not written: %s", path, strerror(errno));
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(u, sizeof u, "%s/%s", s->url, path);
	assert_int_equal(h_http("GET", u, NULL, 0, &status, &want, &wlen), 0);
	assert_int_equal(status, 200);
	got = h_read(h_path(tiles, path), &glen);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);
	free(want);
}

/* Whether the access log has a line "<uri> 200 <upstream>", upstream "-"
 * meaning served from disk, or (from_disk false) any upstream but "-". */
static int
served(const char *dir, const char *uri, int from_disk)
{
	size_t len;
	char *log = (char *)h_read(h_path(dir, "access.log"), &len);
	char *line, *save = NULL;
	int found = 0;

	for (line = strtok_r(log, "\n", &save); line != NULL && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char u[256], up[64];
		int status;

		if (sscanf(line, "%255s %d %63s", u, &status, up) != 3 || strcmp(u, uri) != 0 ||
		    status != 200)
			continue;
		found = from_disk ? strcmp(up, "-") == 0 : strcmp(up, "-") != 0;
	}
	free(log);
	return found;
}

static void
test_tiles_behind_nginx(void **state)
{
	static const char *paths[] = {
	    "tile/0/000", "tile/0/001", "tile/entries/000", "tile/entries/001"};
	char dir[512], tiles[600];
	const char *extra[] = {"--tiles-dir", tiles, NULL};
	struct h_server s;
	struct nginx n;
	struct load l;
	struct h_run r;
	pthread_t tid;
	int audits = 0;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(tiles, sizeof tiles, "%s/tiles", dir);
	su_start(&s, dir, extra);
	nginx_start(&n, dir, tiles, &s);

	memset(&l, 0, sizeof l);
	l.via = s;
	snprintf(l.via.url, sizeof l.via.url, "%s", n.url);
	assert_non_null(l.envs = calloc(N_ENTRIES, sizeof *l.envs));
	assert_non_null(l.lens = calloc(N_ENTRIES, sizeof *l.lens));
	assert_non_null(l.res = calloc(N_ENTRIES, sizeof *l.res));
	for (size_t i = 0; i < N_ENTRIES; i++)
		l.envs[i] = su_envelope(i, NULL, &l.lens[i]);

	/* Audits through nginx while submissions go through it. */
	assert_int_equal(pthread_create(&tid, NULL, load_run, &l), 0);
	for (int k = 0; k < 3; k++) {
		if (audit(n.url, s.pub, h_path(dir, "audit-during"), &r) != 0)
			fail_msg("audit during the load: %s%s", r.out, r.err);
		h_run_free(&r);
		audits++;
	}
	assert_int_equal(pthread_join(tid, NULL), 0);
	for (size_t i = 0; i < N_ENTRIES; i++) {
		if (l.res[i].status != 201)
			fail_msg("submission %zu through nginx: %ld %s", i, l.res[i].status,
			    l.res[i].body != NULL ? (char *)l.res[i].body : "");
	}
	assert_int_equal(audits, 3);

	/* The whole log, from scratch, through nginx. */
	if (audit(n.url, s.pub, h_path(dir, "audit-after"), &r) != 0)
		fail_msg("full audit after the load: %s%s", r.out, r.err);
	h_run_free(&r);
	if (audit(n.url, s.pub, h_path(dir, "audit-during"), &r) != 0)
		fail_msg("audit after the load: %s%s", r.out, r.err);
	h_run_free(&r);

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		char uri[64];

		check_file(tiles, &s, paths[i]);
		snprintf(uri, sizeof uri, "/%s", paths[i]);
		if (!served(dir, uri, 1))
			fail_msg("nginx did not serve %s from disk", uri);
	}
	/* Partial tiles are not files, and nginx asks closurelogd for them. */
	assert_int_equal(access(h_path(tiles, "tile/0/002"), F_OK), -1);
	assert_int_equal(access(h_path(tiles, "tile/entries/002"), F_OK), -1);
	if (!served(dir, "/tile/entries/002.p/88", 0))
		fail_msg("nginx did not proxy the partial bundle to closurelogd");
	if (!served(dir, "/checkpoint", 0))
		fail_msg("nginx did not proxy /checkpoint to closurelogd");

	/* closurelogd reported no failure to write a tile. */
	{
		size_t len;
		char *err = (char *)h_read(h_path(dir, "data.stderr"), &len);

		if (strstr(err, "tiles") != NULL)
			fail_msg("closurelogd reported a tiles problem:\n%s", err);
		free(err);
	}

	/* A file lost while closurelogd is down is written at the next start. */
	nginx_stop(&n);
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	assert_int_equal(unlink(h_path(tiles, "tile/entries/001")), 0);
	h_server_start(&s, h_path(dir, "data"), extra);
	check_file(tiles, &s, "tile/entries/001");
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);

	su_results_free(l.res, N_ENTRIES);
	free(l.res);
	for (size_t i = 0; i < N_ENTRIES; i++)
		free(l.envs[i]);
	free(l.envs);
	free(l.lens);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tiles_behind_nginx),
	};

	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
