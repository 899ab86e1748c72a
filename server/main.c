/*
 * main.c: closurelogd, the closurelog transparency log server.
 *
 * Startup order matters: open the store, the log key and the submitters
 * file and bind the socket while still privileged; then drop privileges;
 * only then start the log's threads and serve.  A data directory remembers
 * its origin and log key: a start with a different origin or key is
 * refused rather than allowed to fork the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "allow.h"
#include "api.h"
#include "cl.h"
#include "config.h"
#include "dirlock.h"
#include "gather.h"
#include "index.h"
#include "key.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "signer.h"
#include "store.h"

#define DEFAULT_ORIGIN "localhost/closurelog"

static unsigned
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* Bind and listen on host:port: one socket, without SO_REUSEPORT, so
 * that no other process can join the port and split its clients between
 * two logs; the HTTP threads share it through the connection layer.
 * SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT.
 * Returns the socket, or -1 with why. */
static int
listen_on(const struct cfg *c, char *why)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc, fd = -1, err = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%u", (unsigned)c->listen_port);
	if ((rc = getaddrinfo(c->listen_host, port, &hints, &res)) != 0) {
		cl_why(why, EINVAL, "cannot resolve %s: %s", c->listen_host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		int on = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
			err = errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0 && err == EADDRINUSE)
		cl_why(why, err,
		    "cannot listen on %s:%u: address in use (is another closurelogd serving "
		    "it?)",
		    c->listen_host, (unsigned)c->listen_port);
	else if (fd < 0)
		cl_why(why, err, "cannot listen on %s:%u: %s", c->listen_host,
		    (unsigned)c->listen_port, strerror(err));
	return fd;
}

/* The port file is opened while still privileged (it may live where the
 * --user cannot write) and filled only once the server is up, so that a
 * reader that sees a port can connect to it. */
static int
port_file_open(const char *path, int *fd, char *why)
{
	*fd = -1;
	if (path[0] == '\0')
		return 0;
	if ((*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return cl_why(why, -1, "%s: %s", path, strerror(errno));
	return 0;
}

static int
port_file_write(int fd, const char *path, unsigned port, char *why)
{
	char line[16];
	int n = snprintf(line, sizeof line, "%u\n", port);

	if (fd < 0)
		return 0;
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
		return cl_why(why, -1, "%s: %s", path, strerror(errno));
	return 0;
}

static int
ga_metrics(void *arg, char **buf, size_t *len)
{
	return ga_metrics_append(arg, buf, len);
}

/* The gatherer for --witness, or NULL without witnesses. */
static int
gatherer_new(const struct cfg *c, struct st *st, struct ga **out, char *why)
{
	struct ga_witness *w;
	struct ga_cfg gc;
	char sizes[CFG_PATH_MAX + 32];
	int rc;

	*out = NULL;
	if (c->n_witnesses == 0)
		return 0;
	snprintf(sizes, sizeof sizes, "%s/" GA_SIZES_FILE, c->data_dir);
	if ((w = calloc(c->n_witnesses, sizeof *w)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_witnesses; i++) {
		w[i].key = c->witness_key[i];
		snprintf(w[i].url, sizeof w[i].url, "%s", c->witness_url[i]);
	}
	memset(&gc, 0, sizeof gc);
	gc.witnesses = w;
	gc.n_witnesses = c->n_witnesses;
	gc.quorum = c->witness_quorum;
	gc.timeout_ms = c->witness_timeout_ms;
	gc.retry_ms = 1000;
	gc.st = st;
	gc.errlog = stderr;
	gc.sizes_path = sizes;
	rc = ga_new(&gc, out, why);
	free(w);
	return rc;
}

/* What the signer watcher needs: without the signer nothing can be
 * signed, so closurelogd stops, with status 1, for its supervisor to
 * restart it (rather than answer 500 to every submission forever). */
struct signer_death {
	pthread_mutex_t mu;
	struct api *api; /* under mu; NULL once it is being freed */
	atomic_bool died;
};

static void
on_signer_died(void *arg, const char *why)
{
	struct signer_death *d = arg;

	fprintf(stderr,
	    "closurelogd: FATAL: %s: no checkpoint can be signed any more; stopping with "
	    "status 1 so that the service manager restarts closurelogd\n",
	    why);
	atomic_store(&d->died, true);
	pthread_mutex_lock(&d->mu);
	if (d->api != NULL)
		api_shutdown(d->api);
	pthread_mutex_unlock(&d->mu);
}

/* st_open's progress while it converts an older store's entries into
 * bundles: a line at the start, every 5 s, and at the end. */
struct convert_say {
	const char *dir;
	time_t last;
};

static void
on_convert(void *arg, uint64_t done, uint64_t total)
{
	struct convert_say *c = arg;
	time_t now = time(NULL);

	if (c->last == 0)
		fprintf(stderr,
		    "closurelogd: converting the store in %s to layout %d: %llu of %llu entries "
		    "into bundles\n",
		    c->dir, ST_LAYOUT, (unsigned long long)done, (unsigned long long)total);
	else if (done == total || now - c->last >= 5)
		fprintf(stderr, "closurelogd: converted %llu of %llu entries into bundles\n",
		    (unsigned long long)done, (unsigned long long)total);
	else
		return;
	c->last = now;
}

int
main(int argc, char **argv)
{
	struct cfg c;
	struct st *st = NULL;
	struct ix *ix = NULL;
	struct st_meta meta;
	struct signer *sg = NULL;
	struct allow *al = NULL;
	struct metrics *m = NULL;
	struct log *lg = NULL;
	struct ga *ga = NULL;
	struct api *api = NULL;
	struct signer_death death = {PTHREAD_MUTEX_INITIALIZER, NULL, false};
	struct convert_say convert = {NULL, 0};
	struct note_verifier v;
	struct log_cfg lc;
	char why[CL_WHY_MAX], vkey[NOTE_VKEY_MAX], pub_path[CFG_PATH_MAX + 8];
	const char *origin, *what = NULL;
	int lfd = -1, port_fd = -1, lock_fd = -1, rc;
	pid_t holder;
	unsigned port = 0;

	memset(&meta, 0, sizeof meta);
	cfg_defaults(&c);
	if (cfg_parse(&c, argc, argv, why) != 0 || cfg_finish(&c, why) != 0) {
		fprintf(stderr, "closurelogd: %s\n(see closurelogd --help)\n", why);
		return 2;
	}
	if (c.help) {
		cfg_usage(stdout);
		return 0;
	}
	if (c.version) {
		printf("closurelogd %s\n", CL_VERSION);
		return 0;
	}
	if (sodium_init() < 0) {
		what = "libsodium";
		snprintf(why, sizeof why, "initialisation failed");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	/* A new data directory is made durable in its parent first. */
	if ((rc = st_dir_create(c.data_dir, why)) != 0) {
		what = "store";
		goto out;
	}
	/* One server per data directory, before anything in it is opened. */
	if ((rc = dirlock_take(c.data_dir, &lock_fd, &holder, why)) != 0) {
		fprintf(stderr, "closurelogd: %s\n", why);
		goto out;
	}
	convert.dir = c.data_dir;
	if ((rc = st_open_progress(c.data_dir, c.map_size, on_convert, &convert, &st, why)) != 0) {
		what = "store";
		goto out;
	}
	/* The search index's environment too, while privileged. */
	if ((rc = ix_open(st, &ix, why)) != 0) {
		what = "store";
		goto out;
	}
	snprintf(pub_path, sizeof pub_path, "%s/log.pub", c.data_dir);
	rc = st_meta_get(st, &meta);
	if (rc == ST_ENOTFOUND) {
		/* A new log: its origin and key are fixed from now on. */
		origin = c.origin[0] != '\0' ? c.origin : DEFAULT_ORIGIN;
		what = "log key";
		if ((rc = signer_open(c.key_path, pub_path, origin, 1, c.user, &sg, why)) != 0)
			goto out;
		signer_verifier(sg, &v);
		note_verifier_format(&v, vkey, sizeof vkey);
		what = "store";
		if ((rc = st_init(st, origin, vkey)) != 0 || (rc = st_meta_get(st, &meta)) != 0) {
			snprintf(why, sizeof why, "%s", st_strerror(rc));
			goto out;
		}
	} else if (rc != 0) {
		what = "store";
		snprintf(why, sizeof why, "%s", st_strerror(rc));
		goto out;
	} else {
		if (c.origin[0] != '\0' && strcmp(c.origin, meta.origin) != 0) {
			fprintf(stderr,
			    "closurelogd: origin: %s was created with origin \"%s\"; refusing "
			    "--origin \"%s\"\n",
			    c.data_dir, meta.origin, c.origin);
			goto out;
		}
		/* An existing log never gets a fresh key. */
		what = "log key";
		if ((rc = signer_open(c.key_path, pub_path, meta.origin, 0, c.user, &sg, why)) != 0)
			goto out;
		signer_verifier(sg, &v);
		note_verifier_format(&v, vkey, sizeof vkey);
		if (strcmp(vkey, meta.vkey) != 0) {
			fprintf(stderr,
			    "closurelogd: log key: %s is not the key this log was created with "
			    "(%s)\n",
			    c.key_path, meta.vkey);
			what = NULL;
			goto out;
		}
	}
	/* The public key is public: put it back if it went missing.  One that
	 * is there must be this log's key: clients and brokers take it from
	 * there. */
	what = "log.pub";
	if (access(pub_path, F_OK) != 0) {
		struct note_verifier pv;

		signer_verifier(sg, &pv);
		if ((rc = key_verifier_save(pub_path, &pv, why)) != 0)
			goto out;
	} else {
		struct note_verifier pv;
		char pkey[NOTE_VKEY_MAX];

		if ((rc = key_verifier_load(pub_path, &pv, why)) != 0)
			goto out;
		note_verifier_format(&pv, pkey, sizeof pkey);
		if (strcmp(pkey, vkey) != 0) {
			fprintf(stderr,
			    "closurelogd: log.pub: %s holds %s, which is not this log's key %s "
			    "(remove the file and it is written again)\n",
			    pub_path, pkey, vkey);
			what = NULL;
			goto out;
		}
	}
	what = "submitters";
	if ((rc = allow_open(c.submitters, &al, why)) != 0)
		goto out;
	what = "listen";
	if ((lfd = listen_on(&c, why)) < 0)
		goto out;
	port = bound_port(lfd);
	what = "port file";
	if (port_file_open(c.port_file, &port_fd, why) != 0)
		goto out;
	what = "--user";
	if (priv_drop(c.user, why) != 0)
		goto out;

	what = "metrics";
	if ((m = metrics_new()) == NULL) {
		snprintf(why, sizeof why, "out of memory");
		goto out;
	}
	lc.verify_threads = c.verify_threads;
	lc.queue_max = c.queue_max;
	lc.batch_max = c.batch_max;
	lc.batch_window_us = c.batch_window_us;
	lc.map_max = c.map_max;
	lc.tiles_dir = c.tiles_dir;
	lc.ix = ix;
	what = "witnesses";
	if ((rc = gatherer_new(&c, st, &ga, why)) != 0)
		goto out;
	lc.ga = ga;
	if (ga != NULL)
		metrics_extra_set(m, ga_metrics, ga);
	what = "log";
	if ((rc = log_open(st, sg, al, m, &lc, &lg, why)) != 0)
		goto out;
	what = "http";
	if ((rc = api_new(&c, &lfd, st, lg, al, m, &api, why)) != 0)
		goto out;
	what = "signer";
	death.api = api; /* before any thread that could read it */
	if ((rc = signer_watch(sg, on_signer_died, &death, why)) != 0)
		goto out;

	{
		const struct allow_list *keys = allow_acquire(al);
		struct log_ckpt *ck = log_checkpoint(lg);

		printf("closurelogd: log \"%s\", %llu entries, %zu submitter key%s\n", meta.origin,
		    ck != NULL ? (unsigned long long)ck->size : 0ULL, keys->n,
		    keys->n == 1 ? "" : "s");
		if (ga != NULL)
			printf("closurelogd: %zu witness%s, quorum %u%s\n", c.n_witnesses,
			    c.n_witnesses == 1 ? "" : "es", c.witness_quorum,
			    ck == NULL ? "; no cosigned checkpoint yet" : "");
		printf("closurelogd: log key %s\n", vkey);
		printf("closurelogd: listening on http://%s:%u/\n", c.listen_host, port);
		fflush(stdout);
		allow_release(al, keys);
		log_ckpt_unref(ck);
	}
	what = "port file";
	if (port_file_write(port_fd, c.port_file, port, why) != 0)
		goto out;

	what = NULL;
	if (api_run(api) != 0) {
		what = "http";
		snprintf(why, sizeof why, "cannot start the HTTP threads");
	}
	log_stop(lg);
	fprintf(stderr, "closurelogd: stopped\n");
out:
	/* One exit: everything made is released, on success and on failure. */
	if (what != NULL)
		fprintf(stderr, "closurelogd: %s: %s\n", what, why);
	pthread_mutex_lock(&death.mu);
	death.api = NULL;
	pthread_mutex_unlock(&death.mu);
	api_free(api);
	if (lg != NULL)
		log_stop(lg);
	log_free(lg);
	ix_close(ix);
	ga_stop(ga);
	ga_free(ga);
	if (lfd >= 0)
		close(lfd);
	if (port_fd >= 0)
		close(port_fd);
	metrics_free(m);
	allow_close(al);
	signer_close(sg);
	st_meta_free(&meta);
	st_close(st);
	if (lock_fd >= 0)
		close(lock_fd);
	return what == NULL && api != NULL && !atomic_load(&death.died) ? 0 : 1;
}
