/*
 * main.c: closurelog-witness, a C2SP tlog-witness server.
 *
 * Reads its flags (getopt_long), loads the witness key (creating it, 0600,
 * with its cosignature verifier key beside it, on first start), opens the
 * witness state, and serves the front end (closurelogd's HTTP layer) on one
 * libevent loop until SIGTERM or SIGINT.  Exit codes: 0 after a clean stop, 2 for a usage
 * error, 1 for any other failure to start.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <netinet/in.h>
#include <sodium.h>

#include "cl.h"
#include "front.h"
#include "key.h"
#include "note.h"
#include "witness.h"

#define PATH_MAX_LEN 4096

struct opts {
	const char *data, *listen, *key, *port_file, *name;
	uint64_t max_conns, request_timeout, idle_timeout;
	struct note_verifier logs[WIT_LOGS_MAX];
	size_t n_logs;
};

static void
usage(FILE *f)
{
	fputs("usage: closurelog-witness --data DIR --listen HOST:PORT --log VKEY... [options]\n"
	      "\n"
	      "A C2SP tlog-witness: cosigns a log's checkpoints (cosignature/v1) once it has\n"
	      "checked a consistency proof from the latest size it cosigned for that log.\n"
	      "\n"
	      "  --data DIR          state directory (LMDB; created 0700)\n"
	      "  --listen HOST:PORT  address to serve on (port 0: any free port)\n"
	      "  --log VKEY          a witnessed log's verifier key, or a file holding one; its\n"
	      "                      name is the log's origin (repeatable; several keys may\n"
	      "                      share one origin)\n"
	      "  --key FILE          witness key (default DIR/witness.key, created on first\n"
	      "                      start with its verifier key in DIR/witness.pub)\n"
	      "  --name NAME         the witness key's name when it is created (default: the\n"
	      "                      host name followed by /witness)\n"
	      "  --port-file FILE    write the bound port here once serving\n"
	      "  --max-conns N       open connections at most; one more is answered 503\n"
	      "                      (default 256)\n"
	      "  --request-timeout SECS  a request must arrive whole within SECS of its first\n"
	      "                      byte, or it is answered 408 (default 10)\n"
	      "  --idle-timeout SECS close a keep-alive connection idle for SECS, or whose\n"
	      "                      peer does not read its answers (default 30)\n"
	      "  --help              this text\n"
	      "\n"
	      "Routes: POST /add-checkpoint; GET /<hex SHA-256(origin)>/checkpoint (the latest\n"
	      "cosigned checkpoint); GET /metrics.\n",
	    f);
}

static int listen_split(const char *spec, char *host, char *serv, char *why);

/* A canonical decimal in [lo, hi]. */
static bool
uint_arg(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	return cl_u64_parse(s, strlen(s), v) == 0 && *v >= lo && *v <= hi;
}

/* Parse argv; 0, or 2 with why (or 1 with nothing after --help). */
static int
opts_parse(struct opts *o, int argc, char **argv, char *why)
{
	static const struct option longs[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"log", required_argument, NULL, 'L'},
	    {"key", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"port-file", required_argument, NULL, 'p'},
	    {"max-conns", required_argument, NULL, 'C'},
	    {"request-timeout", required_argument, NULL, 'R'},
	    {"idle-timeout", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char sub[CL_WHY_MAX];
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->data = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'p':
			o->port_file = optarg;
			break;
		case 'C':
			if (!uint_arg(optarg, 1, 1000000, &o->max_conns))
				return cl_why(why, 2,
				    "--max-conns %.80s: not a number from 1 to 1000000", optarg);
			break;
		case 'R':
			if (!uint_arg(optarg, 1, 3600, &o->request_timeout))
				return cl_why(why, 2,
				    "--request-timeout %.80s: not a number of seconds from 1 to "
				    "3600",
				    optarg);
			break;
		case 'I':
			if (!uint_arg(optarg, 1, 3600, &o->idle_timeout))
				return cl_why(why, 2,
				    "--idle-timeout %.80s: not a number of seconds from 1 to 3600",
				    optarg);
			break;
		case 'L':
			if (o->n_logs == WIT_LOGS_MAX)
				return cl_why(why, 2, "more than %d --log keys", WIT_LOGS_MAX);
			if (key_verifier_arg(optarg, &o->logs[o->n_logs], sub) != 0)
				return cl_why(why, 2, "--log %.80s: %s", optarg, sub);
			if (o->logs[o->n_logs].type != NOTE_TYPE_ED25519)
				return cl_why(why, 2,
				    "--log %.80s: not an Ed25519 log key (type 0x01)", optarg);
			o->n_logs++;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			return cl_why(why, 2, "%s needs a value", argv[optind - 1]);
		default:
			return cl_why(why, 2, "unknown option %s (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cl_why(why, 2, "unexpected argument %.80s (see --help)", argv[optind]);
	if (o->data == NULL)
		return cl_why(why, 2, "--data DIR is required");
	if (o->listen == NULL)
		return cl_why(why, 2, "--listen HOST:PORT is required");
	{
		char host[256], serv[8];

		if (listen_split(o->listen, host, serv, why) != 0)
			return 2;
	}
	if (o->n_logs == 0)
		return cl_why(why, 2, "at least one --log VKEY is required");
	if (o->name != NULL && note_name_check(o->name, strlen(o->name), sub) != 0)
		return cl_why(why, 2, "--name: %s", sub);
	return 0;
}

/* Load the witness key, or create it (default path only) with its
 * verifier key; DIR/witness.pub must then hold that verifier key. */
static int
key_setup(const struct opts *o, struct note_signer *s, char *why)
{
	char key_path[PATH_MAX_LEN], pub_path[PATH_MAX_LEN], host[200], name[NOTE_NAME_MAX + 1];
	char want[NOTE_VKEY_MAX], have[NOTE_VKEY_MAX];
	struct note_verifier v, on_disk;
	struct stat st;
	int rc;

	snprintf(key_path, sizeof key_path, "%s/witness.key", o->data);
	snprintf(pub_path, sizeof pub_path, "%s/witness.pub", o->data);
	if (o->key != NULL)
		snprintf(key_path, sizeof key_path, "%s", o->key);
	if (o->key == NULL && stat(key_path, &st) != 0 && errno == ENOENT) {
		if (o->name != NULL) {
			snprintf(name, sizeof name, "%s", o->name);
		} else {
			if (gethostname(host, sizeof host) != 0)
				snprintf(host, sizeof host, "localhost");
			host[sizeof host - 1] = '\0';
			snprintf(name, sizeof name, "%s/witness", host);
		}
		if ((rc = note_signer_generate(name, s, why)) != 0 ||
		    (rc = key_signer_save(key_path, s, why)) != 0)
			return rc;
		fprintf(stderr, "closurelog-witness: created witness key %s\n", key_path);
	} else if ((rc = key_signer_load(key_path, s, why)) != 0) {
		return rc;
	}
	if (o->name != NULL && strcmp(o->name, s->name) != 0)
		return cl_why(why, CL_EINVAL, "witness key %s is named \"%s\", not \"%s\"",
		    key_path, s->name, o->name);
	note_cosigner_verifier(s, &v);
	rc = key_verifier_save(pub_path, &v, why);
	if (rc == EEXIST) {
		if ((rc = key_verifier_load(pub_path, &on_disk, why)) != 0)
			return rc;
		note_verifier_format(&v, want, sizeof want);
		note_verifier_format(&on_disk, have, sizeof have);
		if (strcmp(want, have) != 0)
			return cl_why(why, CL_EMISMATCH, "%s holds %s, not the witness key's %s",
			    pub_path, have, want);
	}
	return rc;
}

/* Split HOST:PORT ([v6]:PORT too) into host (256 bytes) and serv (8).
 * Returns 0 or 2 with why. */
static int
listen_split(const char *spec, char *host, char *serv, char *why)
{
	const char *colon = strrchr(spec, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535)
		return cl_why(why, 2, "--listen %.80s: not HOST:PORT", spec);
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl == 0 || hl >= 256)
		return cl_why(why, 2, "--listen: bad host");
	memcpy(host, spec, hl);
	host[hl] = '\0';
	snprintf(serv, 8, "%s", colon + 1);
	return 0;
}

/* A listening TCP socket on HOST:PORT; *port gets the bound port.
 * Returns the socket or -1 with why. */
static evutil_socket_t
listen_on(const char *spec, unsigned *port, char *why)
{
	char host[256], serv[8];
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = -1, on = 1, rc;

	if (listen_split(spec, host, serv, why) != 0)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0) {
		cl_why(why, 1, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		cl_why(why, 1, "cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Write the port durably (a reader that sees it can connect). */
static int
port_file_write(const char *path, unsigned port, char *why)
{
	char tmp[PATH_MAX_LEN];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%u\n", port) < 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		return cl_why(why, 1, "%s: %s", path, strerror(errno));
	return 0;
}

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	fprintf(stderr, "closurelog-witness: stopping (signal %d)\n", (int)sig);
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct note_signer key;
	struct note_verifier wv;
	struct wit *w = NULL;
	struct wfront *front = NULL;
	struct event_base *base = NULL;
	struct event *sig_term = NULL, *sig_int = NULL;
	char why[CL_WHY_MAX] = "", vk[NOTE_VKEY_MAX];
	evutil_socket_t fd;
	unsigned port = 0;
	int rc, status = 1;

	memset(&o, 0, sizeof o);
	o.max_conns = WFRONT_MAX_CONNS;
	o.request_timeout = WFRONT_REQUEST_TIMEOUT;
	o.idle_timeout = WFRONT_IDLE_TIMEOUT;
	memset(&key, 0, sizeof key);
	if ((rc = opts_parse(&o, argc, argv, why)) != 0) {
		if (rc == 1)
			return 0;
		fprintf(stderr, "closurelog-witness: %s\n", why);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "closurelog-witness: libsodium failed to initialise\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdir(o.data, 0700) != 0 && errno != EEXIST) {
		fprintf(
		    stderr, "closurelog-witness: cannot create %s: %s\n", o.data, strerror(errno));
		return 1;
	}
	if (key_setup(&o, &key, why) != 0)
		goto out;
	{
		struct wit_config c = {o.data, 0, o.logs, o.n_logs, &key};

		rc = wit_open(&c, &w, why);
	}
	note_signer_wipe(&key); /* the core holds its own guarded copy */
	if (rc != 0)
		goto out;
	if ((fd = listen_on(o.listen, &port, why)) < 0)
		goto out;
	if ((base = event_base_new()) == NULL) {
		evutil_closesocket(fd);
		cl_why(why, 1, "libevent: cannot create the event loop");
		goto out;
	}
	{
		struct http_limits lim = {(unsigned)o.max_conns, (double)o.request_timeout,
		    (double)o.idle_timeout, WFRONT_URL_MAX, WFRONT_HEADERS_MAX, WIT_BODY_MAX, NULL,
		    0};

		if (wfront_new(base, fd, w, &lim, &front, why) != 0)
			goto out;
	}
	if ((sig_term = evsignal_new(base, SIGTERM, stop_cb, base)) == NULL ||
	    (sig_int = evsignal_new(base, SIGINT, stop_cb, base)) == NULL ||
	    event_add(sig_term, NULL) != 0 || event_add(sig_int, NULL) != 0) {
		cl_why(why, 1, "libevent: cannot install signal handlers");
		goto out;
	}
	if (o.port_file != NULL && port_file_write(o.port_file, port, why) != 0)
		goto out;
	wit_verifier(w, &wv);
	note_verifier_format(&wv, vk, sizeof vk);
	fprintf(stderr, "closurelog-witness: %s serving %zu log key(s) on %s (port %u)\n", vk,
	    o.n_logs, o.listen, port);
	if (event_base_dispatch(base) != 0) {
		cl_why(why, 1, "libevent: event loop failed");
		goto out;
	}
	status = 0;
out:
	if (status != 0)
		fprintf(stderr, "closurelog-witness: %s\n", why);
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	wfront_free(front);
	if (base != NULL)
		event_base_free(base);
	wit_close(w);
	return status;
}
