/*
 * harness.c: process, file and HTTP plumbing for the integration tests.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testutil.h"

void
h_tmpdir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, cap, "%s/closurelog-test-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(out) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
h_rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
h_bin(const char *name)
{
	static char buf[8][1024];
	static int next;
	char *b = buf[next++ % 8];

	snprintf(b, 1024, "%s/%s", CL_BIN_DIR, name);
	return b;
}

/* A daemon's command line: its fixed arguments and the caller's extras. */
#define H_ARGV_MAX 160

/* Append the NULL-terminated extra to argv[0..n) and terminate it; fails
 * the test rather than drop arguments that do not fit.  Returns the count. */
static int
extra_add(const char **argv, int n, const char *const *extra)
{
	for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (n >= H_ARGV_MAX - 1)
			fail_msg("more than %d arguments for %s", H_ARGV_MAX - 1, argv[0]);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	return n;
}

double
h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run argv (its stderr into err_file) and wait up to 10 s for the port it
 * writes to port_file.  Returns 0 with *pid and *port, or -1 if it exited
 * (*status, stderr_out as for h_server_try_start); fails the test if it
 * neither exits nor serves. */
static int
spawn_serving(const char *const *argv, const char *port_file, const char *err_file, pid_t *pid,
    unsigned *port, int *status, char *stderr_out, size_t cap)
{
	int errfd;
	double deadline;
	pid_t parent;

	*port = 0;
	if ((errfd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		fail_msg("%s: %s", err_file, strerror(errno));
	parent = getpid();
	*pid = fork();
	if (*pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (*pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Die with the test: a failed assertion ends the test process
		 * without stopping what it started. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);

		dup2(null, 0);
		dup2(null, 1);
		dup2(errfd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(errfd);
	deadline = h_now() + 10;
	while (h_now() < deadline) {
		FILE *f = fopen(port_file, "r");
		int st;

		if (f != NULL) {
			if (fscanf(f, "%u", port) == 1) {
				fclose(f);
				break;
			}
			fclose(f);
		}
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			size_t len = 0;
			uint8_t *e = h_read(err_file, &len);

			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			if (stderr_out != NULL)
				snprintf(stderr_out, cap, "%s", (char *)e);
			free(e);
			*pid = 0;
			return -1;
		}
		usleep(10000);
	}
	if (*port == 0)
		fail_msg("%s did not start", argv[0]);
	return 0;
}

int
h_server_try_start(struct h_server *s, const char *data_dir, const char *const *extra, int *status,
    char *stderr_out, size_t cap)
{
	char port_file[600], err_file[600];
	const char *argv[H_ARGV_MAX];
	int n = 0;

	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "%s", data_dir);
	snprintf(port_file, sizeof port_file, "%s.port", data_dir);
	snprintf(err_file, sizeof err_file, "%s.stderr", data_dir);
	unlink(port_file);
	/* CL_TEST_DAEMON: a test-only variant of closurelogd (powerloss_test). */
	argv[n++] =
	    h_bin(getenv("CL_TEST_DAEMON") != NULL ? getenv("CL_TEST_DAEMON") : "closurelogd");
	argv[n++] = "--data";
	argv[n++] = data_dir;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	n = extra_add(argv, n, extra);
	if (spawn_serving(argv, port_file, err_file, &s->pid, &s->port, status, stderr_out, cap) !=
	    0)
		return -1;
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
	snprintf(s->pub, sizeof s->pub, "%s/log.pub", data_dir);
	{
		size_t len;
		uint8_t *v = h_read(s->pub, &len);

		while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
			v[--len] = '\0';
		snprintf(s->vkey, sizeof s->vkey, "%s", (char *)v);
		free(v);
	}
	return 0;
}

void
h_server_start(struct h_server *s, const char *data_dir, const char *const *extra)
{
	char err[2048];
	int status;

	if (h_server_try_start(s, data_dir, extra, &status, err, sizeof err) != 0)
		fail_msg("closurelogd exited with %d: %s", status, err);
}

int
h_server_stop(struct h_server *s, int sig)
{
	int st = 0;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig);
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
	return st;
}

static char *
slurp_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);

	assert_non_null(b);
	for (;;) {
		ssize_t got;

		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
			assert_non_null(b);
		}
		got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

void
h_run(struct h_run *r, const char *in_path, const char *const *argv)
{
	char out_tmp[] = "/tmp/closurelog-run-out-XXXXXX",
	     err_tmp[] = "/tmp/closurelog-run-err-XXXXXX";
	int out_fd = mkstemp(out_tmp), err_fd = mkstemp(err_tmp), st;
	pid_t pid;

	memset(r, 0, sizeof *r);
	if (out_fd < 0 || err_fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	unlink(out_tmp);
	unlink(err_tmp);
	pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	r->out = slurp_fd(out_fd, &r->out_len);
	r->err = slurp_fd(err_fd, &r->err_len);
	close(out_fd);
	close(err_fd);
}

static char *saved_asan; /* ASAN_OPTIONS before h_preload, or NULL */
static bool asan_saved;

void
h_preload(const char *lib)
{
	const char *old = getenv("ASAN_OPTIONS");
	char asan[1024];

	setenv("LD_PRELOAD", lib, 1);
	if (!asan_saved) {
		saved_asan = old != NULL ? strdup(old) : NULL;
		asan_saved = true;
	}
	snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", old != NULL ? old : "",
	    old != NULL && old[0] != '\0' ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
}

void
h_preload_clear(void)
{
	unsetenv("LD_PRELOAD");
	if (asan_saved) {
		if (saved_asan != NULL)
			setenv("ASAN_OPTIONS", saved_asan, 1);
		else
			unsetenv("ASAN_OPTIONS");
		free(saved_asan);
		saved_asan = NULL;
		asan_saved = false;
	}
}

int
h_closurelog(struct h_run *r, ...)
{
	const char *argv[64];
	va_list ap;
	int n = 0;

	argv[n++] = h_bin("closurelog");
	va_start(ap, r);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	h_run(r, NULL, argv);
	return r->status;
}

const char *
h_path(const char *dir, const char *name)
{
	static char buf[8][1024];
	static int next;
	char *b = buf[next++ % 8];

	snprintf(b, sizeof buf[0], "%s/%s", dir, name);
	return b;
}

void
h_run_free(struct h_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

struct hbuf {
	uint8_t *p;
	size_t n;
};

static size_t
h_sink(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct hbuf *b = arg;
	size_t n = size * nmemb;
	uint8_t *t = realloc(b->p, b->n + n + 1);

	if (t == NULL)
		return 0;
	memcpy(t + b->n, ptr, n);
	b->p = t;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

int
h_http(const char *method, const char *url, const void *data, size_t data_len, long *status,
    uint8_t **body, size_t *len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct hbuf b = {NULL, 0};
	CURLcode cc;

	*status = 0;
	if (c == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, h_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (data != NULL) {
		/* The API's one body type (docs/api.md). */
		hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)data_len);
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (b.p == NULL)
		b.p = calloc(1, 1);
	if (body != NULL) {
		*body = b.p;
		*len = b.n;
	} else {
		free(b.p);
	}
	return cc == CURLE_OK ? 0 : -1;
}

void
h_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		fail_msg("%s: %s", path, strerror(errno));
}

uint8_t *
h_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	if (fread(b, 1, (size_t)n, f) != (size_t)n)
		fail_msg("%s: short read", path);
	fclose(f);
	b[n] = '\0';
	*len = (size_t)n;
	return b;
}

int
h_witness_try_start(struct h_witness *w, const char *data_dir, const char *const *extra,
    int *status, char *stderr_out, size_t cap)
{
	char port_file[600], err_file[600];
	const char *argv[H_ARGV_MAX];
	int n = 0;

	memset(w, 0, sizeof *w);
	snprintf(w->dir, sizeof w->dir, "%s", data_dir);
	snprintf(port_file, sizeof port_file, "%s.port", data_dir);
	snprintf(err_file, sizeof err_file, "%s.stderr", data_dir);
	unlink(port_file);
	argv[n++] = h_bin("closurelog-witness");
	argv[n++] = "--data";
	argv[n++] = data_dir;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	n = extra_add(argv, n, extra);
	if (spawn_serving(argv, port_file, err_file, &w->pid, &w->port, status, stderr_out, cap) !=
	    0)
		return -1;
	snprintf(w->url, sizeof w->url, "http://127.0.0.1:%u", w->port);
	{
		size_t len;
		uint8_t *v = h_read(h_path(data_dir, "witness.pub"), &len);

		while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
			v[--len] = '\0';
		snprintf(w->vkey, sizeof w->vkey, "%s", (char *)v);
		free(v);
	}
	return 0;
}

void
h_witness_start(struct h_witness *w, const char *data_dir, const char *const *extra)
{
	char err[2048] = "";
	int st = 0;

	if (h_witness_try_start(w, data_dir, extra, &st, err, sizeof err) != 0)
		fail_msg("closurelog-witness exited %d: %s", st, err);
}

int
h_witness_stop(struct h_witness *w, int sig)
{
	int st = 0;

	if (w->pid <= 0)
		return -1;
	kill(w->pid, sig);
	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	return st;
}

bool
h_tree_within(const char *sub, const char *super)
{
	DIR *d = opendir(sub);
	struct dirent *e;
	bool ok = d != NULL;

	if (d == NULL)
		fprintf(stderr, "h_tree_within: %s: %s\n", sub, strerror(errno));
	while (ok && (e = readdir(d)) != NULL) {
		char a[4096], b[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof a, "%s/%s", sub, e->d_name);
		snprintf(b, sizeof b, "%s/%s", super, e->d_name);
		if (lstat(a, &st) != 0) {
			ok = false;
		} else if (S_ISDIR(st.st_mode)) {
			ok = h_tree_within(a, b);
		} else {
			size_t la, lb;
			uint8_t *x, *y;

			if (access(b, F_OK) != 0) {
				fprintf(stderr, "h_tree_within: %s: missing\n", b);
				ok = false;
				continue;
			}
			x = h_read(a, &la);
			y = h_read(b, &lb);
			if (la != lb || memcmp(x, y, la) != 0) {
				fprintf(stderr, "h_tree_within: %s and %s differ\n", a, b);
				ok = false;
			}
			free(x);
			free(y);
		}
	}
	if (d != NULL)
		closedir(d);
	return ok;
}

long
h_get(const char *url, uint8_t **body, size_t *len)
{
	long status = 0;

	*body = NULL;
	if (h_http("GET", url, NULL, 0, &status, body, len) != 0)
		return 0;
	return status;
}
