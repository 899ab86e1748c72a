/*
 * signer.c: the log key in a process of its own, as signify and OpenSSH
 * keep theirs.
 *
 * Why this shape.  closurelogd parses hostile HTTP and protobuf input in
 * many threads; a memory-safety bug there must not hand out the log key,
 * and must not let an attacker sign a tree that forks the log.  So
 * signer_open() forks before any socket exists: the child loads the key
 * into sodium_malloc'd memory, gives up root, tells the parent the verifier
 * key, closes every other descriptor and enters seccomp strict mode, where
 * the only system calls left are read, write and exit on its socket.  (A
 * filter would allow more for no gain: signing needs no other call.)  The
 * parent never opens the key file.
 *
 * The protocol is one fixed-size request and one fixed-size reply per
 * message on a SOCK_SEQPACKET socket pair, so that framing needs no
 * parsing.  The signer remembers the last (size, root) it signed and signs
 * a new checkpoint only if it extends that tree: equal size and root, or a
 * larger size and an RFC 6962 consistency proof, which the parent builds
 * from the store's tiles.  A compromised parent can therefore still sign
 * trees that extend the log (it holds the data), but not a smaller tree or
 * a fork of a signed one.
 *
 * The signer ignores SIGINT, SIGTERM and SIGHUP: stopping closurelogd
 * (SIGTERM to the main process, or ^C to the process group) must leave it
 * alive to sign the checkpoint of the last batch; it exits when the parent
 * closes the socket or dies, and signer_close makes sure of it.
 */
#define _GNU_SOURCE /* close_range */
#include "signer.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "key.h"
#include "priv.h"
#include "sth.h"

/* The signer's first message: whether it holds the key, and its verifier key. */
struct sg_hello {
	int32_t rc;
	char why[CL_WHY_MAX];
	char vkey[NOTE_VKEY_MAX];
};

struct sg_req {
	uint64_t size;
	uint32_t n_proof;
	uint8_t root[MT_HASH_LEN];
	uint8_t proof[MT_PROOF_MAX][MT_HASH_LEN];
};

struct sg_rep {
	int32_t rc;
	uint32_t len;
	uint8_t note[STH_NOTE_MAX];
};

struct signer {
	pthread_mutex_t mu; /* one request at a time on fd */
	int fd;
	pid_t pid;
	struct note_verifier v;
	bool signed_any;      /* the signer has its baseline */
	uint64_t signed_size; /* size of the last checkpoint it signed */

	/* signer_watch: the watcher waits for the process's end without
	 * reaping it (so that the pid stays ours to kill); signer_close
	 * joins it and reaps. */
	pthread_t watcher;
	bool watching;
	pthread_mutex_t close_mu;
	bool closing; /* under close_mu: an end after this is expected */
	void (*died)(void *arg, const char *why);
	void *died_arg;
};

/* ---- The signer process ---- */

/* The only way out of strict mode: exit(2), not exit_group(2).  The
 * process has one thread, so this ends it. */
static void __attribute__((noreturn)) child_exit(int status)
{
	syscall(SYS_exit, status);
	_exit(status); /* not reached */
}

/* Load or create the key; 0 or a code with why. */
static int
child_key(const char *key_path, const char *pub_path, const char *name, int create,
    struct note_signer *key, char *why)
{
	struct note_verifier v;
	struct stat st;
	int rc;

	if (create && stat(key_path, &st) != 0 && errno == ENOENT) {
		if ((rc = note_signer_generate(name, key, why)) != 0 ||
		    (rc = key_signer_save(key_path, key, why)) != 0)
			return rc;
		note_signer_verifier(key, &v);
		if ((rc = key_verifier_save(pub_path, &v, why)) != 0 && rc != EEXIST)
			return rc;
	} else if ((rc = key_signer_load(key_path, key, why)) != 0) {
		return rc;
	}
	if (strcmp(key->name, name) != 0)
		return cl_why(why, CL_EORIGIN,
		    "log key %s is named \"%s\", but the origin is \"%s\"", key_path, key->name,
		    name);
	return 0;
}

/* Answer one request: sign it if it extends the last signed tree. */
static void
child_sign(const struct note_signer *key, const struct sg_req *q, bool *have, uint64_t *size,
    uint8_t root[MT_HASH_LEN], struct sg_rep *p)
{
	struct sth c;
	size_t len = 0;
	int rc = 0;

	memset(p, 0, sizeof *p);
	if (q->n_proof > MT_PROOF_MAX)
		rc = CL_EINVAL;
	else if (!*have && q->n_proof != 0)
		rc = CL_EINVAL;
	else if (*have)
		rc = mt_consistency_verify(*size, q->size, root, q->root, q->proof, q->n_proof);
	if (rc == 0) {
		memset(&c, 0, sizeof c);
		memcpy(c.origin, key->name, strlen(key->name) + 1);
		c.size = q->size;
		memcpy(c.root, q->root, MT_HASH_LEN);
		rc = sth_sign(&c, key, p->note, sizeof p->note, &len, NULL);
	}
	if (rc == 0) {
		*have = true;
		*size = q->size;
		memcpy(root, q->root, MT_HASH_LEN);
		p->len = (uint32_t)len;
	}
	p->rc = rc;
}

static void __attribute__((noreturn)) child_main(int fd, const char *key_path, const char *pub_path,
    const char *name, int create, const char *user)
{
	struct note_signer *key;
	struct note_verifier v;
	struct sg_hello h;
	struct sg_req q;
	struct sg_rep p;
	char w[CL_WHY_MAX];
	uint8_t root[MT_HASH_LEN];
	uint64_t size = 0;
	bool have = false;
	ssize_t n;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* No core dumps, no ptrace or /proc/PID/mem by the same user. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(&h, 0, sizeof h);
	if ((key = sodium_malloc(sizeof *key)) == NULL)
		h.rc = cl_why(h.why, ENOMEM, "out of memory");
	else if ((h.rc = child_key(key_path, pub_path, name, create, key, h.why)) == 0 &&
	    priv_drop(user, w) != 0)
		h.rc = cl_why(h.why, CL_EINVAL, "the signer cannot switch to --user: %s", w);
	if (h.rc == 0) {
		note_signer_verifier(key, &v);
		note_verifier_format(&v, h.vkey, sizeof h.vkey);
	}
	if (write(fd, &h, sizeof h) != (ssize_t)sizeof h || h.rc != 0)
		_exit(1);
	/* Keep only the socket (on descriptor 3) and the standard ones, then
	 * leave nothing but read, write and exit. */
	if ((fd != 3 && dup2(fd, 3) != 3) || close_range(4, ~0U, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
		_exit(1);
	fd = 3;
	for (;;) {
		n = read(fd, &q, sizeof q);
		if (n == 0)
			break; /* the parent has gone */
		if (n != (ssize_t)sizeof q) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		child_sign(key, &q, &have, &size, root, &p);
		if (write(fd, &p, sizeof p) != (ssize_t)sizeof p)
			break;
	}
	sodium_memzero(key, sizeof *key);
	child_exit(0);
}

/* ---- The network-facing side ---- */

static int
recv_all(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : EPIPE; /* 0: the signer exited */
}

static int
send_all(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : EPIPE;
}

int
signer_open(const char *key_path, const char *pub_path, const char *name, int create,
    const char *user, struct signer **out, char *why)
{
	struct signer *s;
	struct sg_hello h;
	int sv[2], rc;

	*out = NULL;
	if (strlen(name) >= sizeof(((struct sth *)0)->origin))
		return cl_why(why, CL_EINVAL, "the origin is too long");
	if ((s = calloc(1, sizeof *s)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	s->fd = -1;
	s->pid = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->close_mu, NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = cl_why(why, errno, "cannot create the signer's socket: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL); /* nothing buffered is written twice */
	if ((s->pid = fork()) < 0) {
		rc = cl_why(why, errno, "cannot start the signer: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (s->pid == 0) {
		close(sv[0]);
		child_main(sv[1], key_path, pub_path, name, create, user);
	}
	close(sv[1]);
	s->fd = sv[0];
	memset(&h, 0, sizeof h);
	if ((rc = recv_all(s->fd, &h, sizeof h)) != 0) {
		cl_why(why, rc, "the signer exited before it had the key");
		goto fail;
	}
	h.why[sizeof h.why - 1] = '\0';
	h.vkey[sizeof h.vkey - 1] = '\0';
	if ((rc = h.rc) != 0) {
		cl_why(why, rc, "%s", h.why);
		goto fail;
	}
	if ((rc = note_verifier_parse(h.vkey, strlen(h.vkey), &s->v, why)) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	signer_close(s);
	return rc;
}

void
signer_close(struct signer *s)
{
	int status;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->close_mu);
	s->closing = true;
	pthread_mutex_unlock(&s->close_mu);
	if (s->fd >= 0)
		close(s->fd);
	/* The signer leaves by itself on EOF, but its exit(2) ends only its
	 * own thread, and a sanitizer runtime may have started another in it:
	 * make sure the whole process goes.  It holds nothing to save. */
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		if (s->watching)
			pthread_join(s->watcher, NULL);
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_destroy(&s->close_mu);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void *
watcher_main(void *arg)
{
	struct signer *s = arg;
	char why[CL_WHY_MAX];
	siginfo_t info;
	bool expected;
	int rc;

	pthread_setname_np(pthread_self(), "cl-sigwatch");
	memset(&info, 0, sizeof info);
	while ((rc = waitid(P_PID, (id_t)s->pid, &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&s->close_mu);
	expected = s->closing;
	pthread_mutex_unlock(&s->close_mu);
	if (expected)
		return NULL;
	if (rc != 0)
		snprintf(why, sizeof why, "the signer process (pid %d) cannot be watched: %s",
		    (int)s->pid, strerror(errno));
	else if (info.si_code == CLD_EXITED)
		snprintf(why, sizeof why, "the signer process (pid %d) exited with status %d",
		    (int)s->pid, info.si_status);
	else
		snprintf(why, sizeof why, "the signer process (pid %d) was killed by signal %d",
		    (int)s->pid, info.si_status);
	s->died(s->died_arg, why);
	return NULL;
}

int
signer_watch(struct signer *s, void (*died)(void *arg, const char *why), void *arg, char *why)
{
	int rc;

	if (s->watching || s->pid <= 0)
		return cl_why(why, CL_EINVAL, "the signer is already watched");
	s->died = died;
	s->died_arg = arg;
	if ((rc = pthread_create(&s->watcher, NULL, watcher_main, s)) != 0)
		return cl_why(why, rc, "cannot start the signer watcher: %s", strerror(rc));
	s->watching = true;
	return 0;
}

void
signer_verifier(const struct signer *s, struct note_verifier *v)
{
	*v = s->v;
}

int
signer_checkpoint(struct signer *s, uint64_t size, const uint8_t root[MT_HASH_LEN], mt_read_fn read,
    void *ctx, uint8_t *out, size_t cap, size_t *len)
{
	struct sg_req q;
	struct sg_rep p;
	size_t n = 0;
	int rc;

	*len = 0;
	memset(&q, 0, sizeof q);
	q.size = size;
	memcpy(q.root, root, MT_HASH_LEN);
	pthread_mutex_lock(&s->mu);
	if (s->signed_any && size < s->signed_size) {
		rc = MT_EINVAL; /* the signer would refuse it too */
		goto out;
	}
	if (s->signed_any && size > s->signed_size) {
		if (read == NULL) {
			rc = CL_EINVAL;
			goto out;
		}
		if ((rc = mt_consistency_prove(s->signed_size, size, read, ctx, q.proof, &n)) != 0)
			goto out;
		q.n_proof = (uint32_t)n;
	}
	if ((rc = send_all(s->fd, &q, sizeof q)) != 0 || (rc = recv_all(s->fd, &p, sizeof p)) != 0)
		goto out;
	if ((rc = p.rc) != 0)
		goto out;
	if (p.len > sizeof p.note || p.len > cap) {
		rc = CL_ETOOBIG;
		goto out;
	}
	memcpy(out, p.note, p.len);
	*len = p.len;
	s->signed_any = true;
	s->signed_size = size;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}
