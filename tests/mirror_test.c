/*
 * mirror_test.c: closurelog mirror against real processes: a closurelogd
 * mirrored while it takes submissions, the mirror served by a real nginx
 * (config generated here, unprivileged, on a loopback port) and audited
 * with `closurelog audit --full` through it, a mirror of that mirror,
 * resuming after more entries (the partials of tiles now full removed), altered mirror
 * files caught by the auditor and by the mirror itself, and a forked log
 * (two closurelogd sharing one key) refused with the mirror left as it was
 * and the fork evidence kept; missing witness cosignatures, a wrong key, a
 * tampered state and a second mirror on one directory refused; and a
 * mirror killed mid-run completed by the next.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "srvutil.h"
#include "testutil.h"
#include "tile.h"

#define NGINX "/usr/sbin/nginx"

static char dir[512];
static struct h_server srv, twin;
static pid_t nginx_pid;
static uint64_t next_env = 1;

static const char *
path(const char *name)
{
	return h_path(dir, name);
}

static void
verbose(const struct h_run *r)
{
	if (getenv("MIRROR_TEST_VERBOSE") != NULL)
		fprintf(stderr, "status %d\nstdout: %s\nstderr: %s\n", r->status, r->out, r->err);
}

/* Check a run's exit status, and that out_has / err_has (if not NULL) are in
 * its stdout / stderr; frees it. */
static void
expect(struct h_run *r, int status, const char *out_has, const char *err_has)
{
	verbose(r);
	if (r->status != status || (out_has != NULL && strstr(r->out, out_has) == NULL) ||
	    (err_has != NULL && strstr(r->err, err_has) == NULL))
		fail_msg(
		    "exit %d (want %d)\nstdout: %s\nstderr: %s", r->status, status, r->out, r->err);
	h_run_free(r);
}

static int
mirror(struct h_run *r, const char *url, const char *pub, const char *out)
{
	return h_closurelog(r, "mirror", "--log", url, "--log-key", pub, "--out", out, NULL);
}

/* Submit n new envelopes to s from 8 threads; every one must be logged. */
static void
submit(const struct h_server *s, size_t n)
{
	uint8_t **envs = calloc(n, sizeof *envs);
	size_t *lens = calloc(n, sizeof *lens);
	struct su_result *res = calloc(n, sizeof *res);

	assert_non_null(envs);
	assert_non_null(lens);
	assert_non_null(res);
	for (size_t i = 0; i < n; i++)
		envs[i] = su_envelope(next_env++, NULL, &lens[i]);
	su_blast(s, envs, lens, n, 8, res);
	for (size_t i = 0; i < n; i++) {
		if (res[i].status != 200 && res[i].status != 201)
			fail_msg("submission %zu: HTTP %ld", i, res[i].status);
		free(envs[i]);
	}
	su_results_free(res, n);
	free(res);
	free(lens);
	free(envs);
}

struct load {
	const struct h_server *s;
	size_t n;
	volatile int done;
};

static void *
load_main(void *arg)
{
	struct load *l = arg;

	submit(l->s, l->n);
	l->done = 1;
	return NULL;
}

/* The size in a checkpoint file. */
static uint64_t
file_size(const char *p)
{
	size_t len;
	uint8_t *b = h_read(p, &len);
	char *nl = memchr(b, '\n', len);
	uint64_t n;

	assert_non_null(nl);
	n = strtoull(nl + 1, NULL, 10);
	free(b);
	return n;
}

static bool
same_files(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = h_read(a, &la), *y = h_read(b, &lb);
	bool same = la == lb && memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return same;
}

/* diff -r of two mirrors' served files (the state directories apart). */
static int
diff_mirrors(const char *a, const char *b)
{
	const char *argv[] = {"/usr/bin/diff", "-r", "-x", ".closurelog-mirror", a, b, NULL};
	struct h_run r;
	int st;

	h_run(&r, NULL, argv);
	st = r.status;
	if (st != 0)
		fprintf(stderr, "diff: %s%s", r.out, r.err);
	h_run_free(&r);
	return st;
}

static void
flip(const char *p, size_t at)
{
	size_t len;
	uint8_t *b = h_read(p, &len);

	assert_true(at < len);
	b[at] ^= 0x01;
	h_write(p, b, len);
	free(b);
}

static unsigned
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Serve root with nginx on a loopback port as a static tlog-tiles log;
 * the URL goes to url.  Pid file, logs and temp paths are under dir. */
static void
nginx_start(const char *root, char *url, size_t cap)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		unsigned port = free_port();
		char conf[8192], ngx[600];
		FILE *f;

		snprintf(ngx, sizeof ngx, "%s", path("nginx"));
		mkdir(ngx, 0700);
		snprintf(conf, sizeof conf,
		    "daemon off;\n"
		    "master_process off;\n"
		    "worker_processes 1;\n"
		    "pid %s/nginx.pid;\n"
		    "error_log %s/error.log warn;\n"
		    "events { worker_connections 64; }\n"
		    "http {\n"
		    "  access_log %s/access.log;\n"
		    "  client_body_temp_path %s/body;\n"
		    "  proxy_temp_path %s/proxy;\n"
		    "  fastcgi_temp_path %s/fastcgi;\n"
		    "  uwsgi_temp_path %s/uwsgi;\n"
		    "  scgi_temp_path %s/scgi;\n"
		    "  types { }\n"
		    "  default_type application/octet-stream;\n"
		    "  server {\n"
		    "    listen 127.0.0.1:%u;\n"
		    "    root %s;\n"
		    "    location = /checkpoint {\n"
		    "      default_type \"text/plain; charset=utf-8\";\n"
		    "      add_header Cache-Control \"no-cache\";\n"
		    "    }\n"
		    "    location /tile/ {\n"
		    "      add_header Cache-Control \"max-age=31536000, immutable\";\n"
		    "    }\n"
		    "    location / { return 404; }\n"
		    "  }\n"
		    "}\n",
		    ngx, ngx, ngx, ngx, ngx, ngx, ngx, ngx, port, root);
		f = fopen(h_path(ngx, "nginx.conf"), "w");
		assert_non_null(f);
		fputs(conf, f);
		fclose(f);
		snprintf(url, cap, "http://127.0.0.1:%u", port);
		nginx_pid = fork();
		assert_true(nginx_pid >= 0);
		if (nginx_pid == 0) {
			execl(NGINX, NGINX, "-p", ngx, "-e", h_path(ngx, "error.log"), "-c",
			    h_path(ngx, "nginx.conf"), (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 1000; i++) {
			char u[256];
			long status = 0;
			int ws;

			snprintf(u, sizeof u, "%s/checkpoint", url);
			if (h_http("GET", u, NULL, 0, &status, NULL, NULL) == 0 && status == 200)
				return;
			if (waitpid(nginx_pid, &ws, WNOHANG) == nginx_pid) {
				nginx_pid = 0;
				break; /* the port was taken meanwhile: try another */
			}
			usleep(20000);
		}
		if (nginx_pid > 0)
			fail_msg("nginx did not serve %s", url);
	}
	fail_msg("nginx did not start (see %s)", path("nginx/error.log"));
}

static void
nginx_stop(void)
{
	int ws;

	if (nginx_pid <= 0)
		return;
	kill(nginx_pid, SIGTERM);
	waitpid(nginx_pid, &ws, 0);
	nginx_pid = 0;
}

static bool
evidence_find(const char *st, char *out, size_t cap)
{
	DIR *d = opendir(st);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "evidence-", 9) == 0) {
			snprintf(out, cap, "%s/%s", st, e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* audit --full of url with a fresh state directory named st. */
static int
audit_full(struct h_run *r, const char *url, const char *st)
{
	return h_closurelog(
	    r, "audit", "--log", url, "--log-key", srv.pub, "--state", path(st), "--full", NULL);
}

static void
test_mirror_nginx(void **state)
{
	struct load l = {&srv, 700, 0};
	char out[700], out2[700], url[128], stale[700], ev[1200];
	struct h_run r;
	pthread_t t;
	int runs = 0;

	(void)state;
	snprintf(out, sizeof out, "%s", path("mirror"));
	snprintf(out2, sizeof out2, "%s", path("mirror2"));
	su_start(&srv, dir, NULL);

	/* Mirror while the log takes submissions: every run must succeed. */
	assert_int_equal(pthread_create(&t, NULL, load_main, &l), 0);
	do {
		mirror(&r, srv.url, srv.pub, out);
		expect(&r, 0, "OK: ", NULL);
		runs++;
	} while (!l.done);
	pthread_join(t, NULL);
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "OK: ", NULL);
	assert_true(runs >= 1);
	assert_int_equal(file_size(h_path(out, "checkpoint")), 700);
	assert_true(
	    same_files(h_path(out, "checkpoint"), h_path(out, ".closurelog-mirror/checkpoint")));
	/* 700 = 2 full tiles and 188 in the third. */
	assert_int_equal(access(h_path(out, "tile/entries/002.p/188"), F_OK), 0);
	assert_int_equal(access(h_path(out, "tile/0/002.p/188"), F_OK), 0);
	assert_int_equal(access(h_path(out, "tile/1/000.p/2"), F_OK), 0);
	assert_int_equal(access(h_path(out, "tile/entries/001"), F_OK), 0);

	/* Unchanged log: up to date, nothing rewritten. */
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirror up to date at size 700", NULL);
	h_closurelog(
	    &r, "mirror", "--log", srv.url, "--log-key", srv.pub, "--out", out, "--json", NULL);
	expect(&r, 0, "\"status\": \"unchanged\"", NULL);

	/* The mirror, served by nginx, is the log. */
	nginx_start(out, url, sizeof url);
	audit_full(&r, url, "audit1");
	expect(&r, 0, "entries 0..699 rebuilt and validated", NULL);

	/* A mirror of the mirror, through nginx: the same files. */
	mirror(&r, url, srv.pub, out2);
	expect(&r, 0, "mirrored entries 0..699", NULL);
	assert_true(h_tree_within(out2, out));

	/* More entries: the mirror resumes and drops partial tiles no longer
	 * implied; the auditor and the second mirror resume through nginx. */
	snprintf(stale, sizeof stale, "%s", h_path(out, "tile/0/002.p/188"));
	submit(&srv, 100);
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirrored entries 700..799", NULL);
	assert_int_equal(file_size(h_path(out, "checkpoint")), 800);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(h_path(out, "tile/0/003.p/32"), F_OK), 0);
	assert_int_equal(access(h_path(out, "tile/0/002.p"), F_OK), -1);
	assert_int_equal(access(h_path(out, "tile/entries/002.p"), F_OK), -1);
	/* Tile 1/0 is still partial: every width served so far stays. */
	assert_int_equal(access(h_path(out, "tile/1/000.p/2"), F_OK), 0);
	assert_int_equal(access(h_path(out, "tile/1/000.p/3"), F_OK), 0);
	audit_full(&r, url, "audit1");
	expect(&r, 0, "entries 700..799 rebuilt and validated", NULL);
	mirror(&r, url, srv.pub, out2);
	expect(&r, 0, "mirrored entries 700..799", NULL);
	assert_true(h_tree_within(out2, out));

	/* Altered files are caught by an auditor through nginx. */
	flip(h_path(out, "tile/entries/001"), 300);
	audit_full(&r, url, "audit2");
	expect(&r, 1, NULL, "entry 256: its leaf hash does not match");
	flip(h_path(out, "tile/entries/001"), 300);
	flip(h_path(out, "tile/0/000"), 5000);
	audit_full(&r, url, "audit3");
	expect(&r, 1, NULL, "tile/0/000");
	flip(h_path(out, "tile/0/000"), 5000);
	flip(h_path(out, "tile/1/000.p/3"), 40);
	audit_full(&r, url, "audit4");
	expect(&r, 1, NULL, "tile/1/000.p/3: position 1 does not match");

	/* The mirror checks its own partial tile before resuming from it: it
	 * starts over, and a full tile altered meanwhile stops it. */
	submit(&srv, 10);
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirrored entries 0..809", "mirroring again from the first entry");
	audit_full(&r, url, "audit6");
	expect(&r, 0, "entries 0..809 rebuilt and validated", NULL);
	/* A mirror serving a tile that contradicts its checkpoint is not
	 * mirrored further: the second mirror stays as it was and keeps what
	 * it saw (unproven: no fork is proven by bad tiles alone). */
	flip(h_path(out, "tile/0/003.p/42"), 33);
	mirror(&r, url, srv.pub, out2);
	expect(&r, 1, NULL, "unproven");
	assert_int_equal(file_size(h_path(out2, "checkpoint")), 800);
	assert_true(evidence_find(h_path(out2, ".closurelog-mirror"), ev, sizeof ev));
	flip(h_path(out, "tile/0/003.p/42"), 33);
	mirror(&r, url, srv.pub, out2);
	expect(&r, 0, "mirrored entries 800..809", NULL);
	assert_true(h_tree_within(out2, out));
	flip(h_path(out, "tile/0/001"), 7);
	flip(h_path(out, "tile/entries/003.p/42"), 9);
	submit(&srv, 1);
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 1, NULL, "tile/0/001 already exists and differs from the log's");
	assert_int_equal(file_size(h_path(out, "checkpoint")), 810);
	nginx_stop();
	h_server_stop(&srv, SIGTERM);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	uint8_t *b = h_read(from, &len);

	h_write(to, b, len);
	assert_int_equal(chmod(to, mode), 0);
	free(b);
}

static void
test_fork(void **state)
{
	char a[600], b[600], out[700], copy[700], ev[1200];
	struct h_run r;

	(void)state;
	snprintf(a, sizeof a, "%s", path("a"));
	snprintf(b, sizeof b, "%s", path("b"));
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	su_start(&srv, a, NULL);
	h_server_stop(&srv, SIGTERM);
	assert_int_equal(mkdir(h_path(b, "data"), 0700), 0);
	copy_file(h_path(a, "data/log.key"), h_path(b, "data/log.key"), 0600);
	copy_file(h_path(a, "data/log.pub"), h_path(b, "data/log.pub"), 0644);
	su_start(&srv, a, NULL);
	su_start(&twin, b, NULL);
	assert_string_equal(srv.vkey, twin.vkey);

	submit(&srv, 300);
	next_env = 1000000; /* the twin logs other entries */
	submit(&twin, 520);
	snprintf(out, sizeof out, "%s", path("mirror"));
	snprintf(copy, sizeof copy, "%s", path("copy"));
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirrored entries 0..299", NULL);
	{
		const char *argv[] = {"/bin/cp", "-a", out, copy, NULL};

		h_run(&r, NULL, argv);
		assert_int_equal(r.status, 0);
		h_run_free(&r);
	}
	mirror(&r, twin.url, srv.pub, out);
	expect(&r, 1, NULL, "fork");
	assert_int_equal(diff_mirrors(out, copy), 0);
	assert_int_equal(file_size(h_path(out, "checkpoint")), 300);
	assert_true(evidence_find(h_path(out, ".closurelog-mirror"), ev, sizeof ev));
	h_closurelog(&r, "verify-evidence", "--log-key", srv.pub, ev, NULL);
	expect(&r, 0, "fork proven", NULL);
	/* Still refused on the next run, and the honest log still mirrors. */
	mirror(&r, twin.url, srv.pub, out);
	expect(&r, 1, NULL, "fork");
	submit(&srv, 5);
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirrored entries 300..304", NULL);
	h_server_stop(&twin, SIGTERM);

	/* A checkpoint without the cosignatures asked for is not mirrored. */
	{
		const char *wextra[] = {"--log", srv.vkey, NULL};
		struct h_witness w;

		h_witness_start(&w, path("witness"), wextra);
		submit(&srv, 1);
		h_closurelog(&r, "mirror", "--log", srv.url, "--log-key", srv.pub, "--out", out,
		    "--witness", w.vkey, NULL);
		expect(&r, 1, NULL, "witness");
		assert_int_equal(file_size(h_path(out, "checkpoint")), 305);
		h_closurelog(&r, "mirror", "--log", srv.url, "--log-key", srv.pub, "--out", out,
		    "--witness-quorum", "1", NULL);
		expect(&r, 2, NULL, "--witness");
		h_witness_stop(&w, SIGTERM);
	}
	/* A wrong log key is refused before anything is written. */
	h_closurelog(&r, "mirror", "--log", srv.url, "--log-key", su_ci_vkey, "--out", out, NULL);
	expect(&r, 2, NULL, "not signed by the log key");
	assert_int_equal(file_size(h_path(out, "checkpoint")), 305);
	h_closurelog(
	    &r, "mirror", "--log", srv.url, "--log-key", su_ci_vkey, "--out", path("fresh"), NULL);
	expect(&r, 1, NULL, "does not verify");
	assert_int_equal(access(path("fresh/checkpoint"), F_OK), -1);
	assert_int_equal(access(path("fresh/tile"), F_OK), -1);
	/* A state not signed by the log key is refused as tampered. */
	{
		const char *cp = h_path(out, ".closurelog-mirror/checkpoint");
		size_t len;
		uint8_t *keep = h_read(cp, &len);

		flip(cp, len - 10);
		mirror(&r, srv.url, srv.pub, out);
		expect(&r, 2, NULL, "tampered");
		h_write(cp, keep, len);
		free(keep);
	}
	/* One mirror per directory. */
	{
		int fd = open(out, O_RDONLY | O_DIRECTORY);

		assert_true(fd >= 0);
		assert_int_equal(flock(fd, LOCK_EX), 0);
		mirror(&r, srv.url, srv.pub, out);
		expect(&r, 2, NULL, "another mirror is writing to it");
		close(fd);
	}
	mirror(&r, srv.url, srv.pub, out);
	expect(&r, 0, "mirrored entries 305..305", NULL);
	h_server_stop(&srv, SIGTERM);
}

/* Every tile and bundle a checkpoint of size n implies is in out. */
static void
implied_present(const char *out, uint64_t n)
{
	for (unsigned l = 0; l < 64 / MT_TILE_HEIGHT && (l == 0 || (n >> (8 * l)) != 0); l++) {
		for (uint64_t i = 0; i < mt_tile_count(l, n); i++) {
			struct mt_tile t = {i, (uint16_t)mt_tile_width(l, i, n), (uint8_t)l, false};
			char rel[MT_TILE_PATH_MAX];

			for (int e = 0; e <= (l == 0); e++) {
				t.entries = e;
				assert_int_equal(mt_tile_path(&t, rel), 0);
				if (access(h_path(out, rel), F_OK) != 0)
					fail_msg(
					    "size %llu: %s is missing", (unsigned long long)n, rel);
			}
		}
	}
}

/* SIGKILL a mirror in the middle of its run, at whatever point it has
 * reached once it has staged a file: the next run completes the mirror,
 * which then holds exactly what one uninterrupted run writes. */
static void
test_killed(void **state)
{
	char out[700], ref[700];
	struct h_run r;
	int killed = 0;

	(void)state;
	snprintf(out, sizeof out, "%s", path("mirror"));
	snprintf(ref, sizeof ref, "%s", path("ref"));
	su_start(&srv, dir, NULL);
	for (int round = 0; round < 4; round++) {
		const char *stage = h_path(out, ".closurelog-mirror/stage");
		pid_t pid;
		int ws;
		bool done = false;

		submit(&srv, 1500);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			execl(h_bin("closurelog"), "closurelog", "mirror", "--log", srv.url,
			    "--log-key", srv.pub, "--out", out, (char *)NULL);
			_exit(127);
		}
		/* Poll until it has staged something, or it is done. */
		for (int i = 0; i < 200000 && !done; i++) {
			DIR *d = opendir(stage);
			struct dirent *e;

			while (d != NULL && (e = readdir(d)) != NULL && !done)
				done = e->d_name[0] != '.';
			if (d != NULL)
				closedir(d);
			if (!done && waitpid(pid, &ws, WNOHANG) == pid)
				break;
			if (!done)
				usleep(100);
		}
		if (done) {
			kill(pid, SIGKILL);
			killed++;
		}
		waitpid(pid, &ws, 0);
		/* Whatever it left: every tile and bundle the served checkpoint
		 * implies is there (the checkpoint is written last), and the next
		 * run finishes the job. */
		if (access(h_path(out, "checkpoint"), F_OK) == 0)
			implied_present(out, file_size(h_path(out, "checkpoint")));
		mirror(&r, srv.url, srv.pub, out);
		expect(&r, 0, "OK: ", NULL);
	}
	fprintf(stderr, "test_killed: %d of 4 runs killed mid-run\n", killed);
	mirror(&r, srv.url, srv.pub, ref);
	expect(&r, 0, "mirrored entries 0..5999", NULL);
	assert_true(h_tree_within(ref, out));
	assert_true(same_files(h_path(ref, "checkpoint"), h_path(out, "checkpoint")));
	h_server_stop(&srv, SIGTERM);
}

static void
test_usage(void **state)
{
	struct h_run r;

	(void)state;
	h_closurelog(&r, "mirror", "--help", NULL);
	expect(&r, 0, "usage: closurelog mirror", NULL);
	h_closurelog(&r, "--help", NULL);
	expect(&r, 0, "mirror", NULL);
	h_closurelog(&r, "mirror", "--log", "http://127.0.0.1:1", NULL);
	expect(&r, 2, NULL, "give --log URL, --log-key PUB and --out DIR");
	h_closurelog(&r, "mirror", "--log", "ftp://x", "--log-key", "x", "--out", path("m"), NULL);
	expect(&r, 2, NULL, NULL);
}

static int
setup(void **state)
{
	(void)state;
	h_tmpdir(dir, sizeof dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nginx_stop();
	if (srv.pid > 0)
		h_server_stop(&srv, SIGKILL);
	if (twin.pid > 0)
		h_server_stop(&twin, SIGKILL);
	srv.pid = twin.pid = 0;
	h_rmrf(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mirror_nginx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed, setup, teardown),
	};

	su_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
