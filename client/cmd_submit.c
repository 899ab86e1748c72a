/*
 * cmd_submit.c: closurelog submit: send envelopes to a log and keep, for
 * each, a proof bundle that `closurelog verify` checks offline.
 *
 * The log's answer is trusted only after it checks out: the leaf hash is
 * the envelope's, the checkpoint is signed by the log key (when given),
 * and the inclusion proof leads from the leaf to the checkpoint's root.
 * Only then is the bundle written.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "file.h"
#include "http.h"
#include "merkle.h"
#include "opts.h"
#include "show.h"
#include "sth.h"
#include "tproof.h"
#include "wire.h"

static const char usage[] =
    "usage: closurelog submit --log URL [--log-key PUB] [-o BUNDLE|DIR] [--json]\n"
    "                         [--batch-entries N] [--batch-bytes BYTES] ENVELOPE...\n"
    "\n"
    "Submit each ENVELOPE (from closurelog attest) to the log at URL and write a\n"
    "proof bundle for it, after checking the log's answer: the leaf hash must be the\n"
    "envelope's and the inclusion proof must lead to the returned checkpoint, signed\n"
    "by the log key PUB (a verifier key or a file holding one).  Without --log-key\n"
    "the checkpoint signature is not checked here (closurelog verify checks it).\n"
    "Resubmitting is safe: an envelope already in the log gets its original index.\n"
    "One envelope goes to POST /v1/entries; several go to POST /v1/entries/batch in\n"
    "batches of at most N envelopes and BYTES bytes (keep them within the log's\n"
    "--batch-max-entries and --batch-max-bytes).  503 and network errors are\n"
    "retried, with a warning line on stderr before each retry; so are envelopes\n"
    "a batch answers with 503.  Every envelope the log\n"
    "refuses is listed with its reason, and the exit status is then 1.\n"
    "\n"
    "  -o BUNDLE   where to write the bundle; with several envelopes, a directory\n"
    "              (one ENVELOPE-base-name.bundle each).  Default: ENVELOPE.bundle\n"
    "              beside each envelope.  Every bundle is durable before it is\n"
    "              reported; a batch's bundles in one directory are flushed together\n"
    "              (one syncfs of their file system, one fsync of the directory).\n"
    "  --json      print one JSON array: for each envelope logged, {envelope, index,\n"
    "              duplicate, checkpoint, checkpoint_signature_checked, bundle}\n"
    "              (failures are reported on stderr, one line each)\n"
    "  --batch-entries N      envelopes per batch, 1..100000 (default 500)\n"
    "  --batch-bytes BYTES    bytes per batch body, at least 65536 (default 2097152)\n"
    "\n"
    "A progress line goes to standard error every few seconds on long runs.\n"
    "Environment: CLOSURELOG_TIMEOUT_MS, CLOSURELOG_ATTEMPTS, CLOSURELOG_BACKOFF_MS.\n";

#define BATCH_ENTRIES_DEFAULT 500
#define BATCH_BYTES_DEFAULT   (2u << 20)
#define BATCH_BYTES_MIN       (64u << 10)
#define PROGRESS_S            3

struct submit {
	char url[2048];
	struct note_verifier log_key;
	bool have_key;
	bool json;
	struct cli_http_opts http;
	struct wire_arena a;
	json_t *out; /* --json: the array printed at the end */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The last component of path (after the last '/'). */
static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static int
base_cmp(const void *a, const void *b)
{
	return strcmp(base_name(*(char *const *)a), base_name(*(char *const *)b));
}

/* One envelope given on the command line. */
struct item {
	const char *path;
	char bundle[4096];
	uint8_t *buf; /* while in a batch */
	size_t len;
	unsigned tries; /* batches that answered it with 503 */
};

/* Report one envelope: a line on stdout (or an element of --json), and the
 * reason on stderr when it failed (code != CLI_OK).  Returns code. */
static int
report(struct submit *s, const struct item *it, int code, const struct cl_batch_result *r,
    const struct sth *c, const char *reason)
{
	if (code != CLI_OK)
		cli_fail(code, "%s: %s", it->path, reason);
	if (s->json) {
		json_t *j;

		if (code != CLI_OK)
			return code;
		j = json_pack("{s:s, s:I, s:b, s:o, s:b, s:s}", "envelope", it->path, "index",
		    (json_int_t)r->index, "duplicate", r->status == 200, "checkpoint",
		    cli_show_checkpoint_json(c), "checkpoint_signature_checked", s->have_key,
		    "bundle", it->bundle);
		if (j == NULL || json_array_append_new(s->out, j) != 0)
			return cli_fail(CLI_FAIL, "%s: out of memory", it->path);
	} else if (code == CLI_OK) {
		printf("%s: %s at index %llu; checkpoint %s size %llu%s\n", it->path,
		    r->status == 200 ? "already logged" : "logged", (unsigned long long)r->index,
		    c->origin, (unsigned long long)c->size,
		    s->have_key ? " (signature verified)" : " (signature not checked)");
	}
	return code;
}

/* Check one logged envelope's answer against the opened checkpoint c (its
 * note is ckpt) and make its bundle: malloc'd into *bundle (the caller
 * frees it).  Returns CLI_OK, or CLI_FAIL with msg (CLI_MSG_MAX bytes). */
static int
make_bundle(struct submit *s, const struct item *it, const struct cl_batch_result *r,
    const uint8_t *ckpt, size_t ckpt_len, const struct sth *c, uint8_t **bundle, size_t *bundle_len,
    char *msg)
{
	uint8_t leaf[MT_HASH_LEN];
	struct tproof *tp = wire_arena_alloc(&s->a, sizeof *tp);
	uint8_t *text = wire_arena_alloc(&s->a, CL_TPROOF_MAX);
	const uint8_t *enc;
	struct cl_bundle b;
	size_t text_len;
	int rc;

	*bundle = NULL;
	if (tp == NULL || text == NULL)
		return cli_why(msg, CLI_FAIL, "out of memory");
	mt_leaf_hash(leaf, it->buf, it->len);
	if (sodium_memcmp(leaf, r->leaf_hash, MT_HASH_LEN) != 0)
		return cli_why(msg, CLI_FAIL, "the log answered for a different leaf hash");
	if (r->inclusion.a != r->index || r->inclusion.b != c->size)
		return cli_why(msg, CLI_FAIL,
		    "the inclusion proof is not for index %llu in the checkpoint",
		    (unsigned long long)r->index);
	if ((rc = mt_inclusion_verify(leaf, r->index, c->size, MT_PATH(r->inclusion.hashes),
	         r->inclusion.n, c->root)) != 0)
		return cli_why(msg, CLI_FAIL,
		    "inclusion proof does not lead to the checkpoint root (%s)", cl_strerror(rc));
	memset(tp, 0, sizeof *tp);
	tp->index = r->index;
	tp->n_path = r->inclusion.n;
	memcpy(tp->path, r->inclusion.hashes, r->inclusion.n * MT_HASH_LEN);
	tp->checkpoint = ckpt;
	tp->checkpoint_len = ckpt_len;
	if ((rc = tproof_format(tp, text, CL_TPROOF_MAX, &text_len)) != 0)
		return cli_why(msg, CLI_FAIL, "cannot write the tlog-proof: %s", cl_strerror(rc));
	b.envelope = it->buf;
	b.envelope_len = it->len;
	b.tlog_proof = text;
	b.tlog_proof_len = text_len;
	if ((rc = wire_bundle_encode(&s->a, &b, &enc, bundle_len)) != 0)
		return cli_why(msg, CLI_FAIL, "cannot encode the bundle: %s", cl_strerror(rc));
	if ((*bundle = malloc(*bundle_len)) == NULL)
		return cli_why(msg, CLI_FAIL, "out of memory");
	memcpy(*bundle, enc, *bundle_len);
	return CLI_OK;
}

/* Read an envelope and refuse locally what the log would refuse. */
static int
item_load(struct submit *s, struct item *it)
{
	struct cl_envelope env;
	char why[CL_WHY_MAX];

	if (it->buf != NULL)
		return CLI_OK;
	wire_arena_reset(&s->a);
	if (cl_file_read(it->path, CL_ENTRY_MAX, CL_FILE_STREAM, &it->buf, &it->len, why) != 0)
		return report(s, it, CLI_USAGE, NULL, NULL, why);
	if (wire_envelope_decode(&s->a, it->buf, it->len, &env, why) != 0) {
		free(it->buf);
		it->buf = NULL;
		return report(s, it, CLI_USAGE, NULL, NULL, why);
	}
	return CLI_OK;
}

static void
item_unload(struct item *it)
{
	free(it->buf);
	it->buf = NULL;
}

/* The single-entry route: POST /v1/entries. */
static int
submit_one(struct submit *s, struct item *it)
{
	struct cl_submit_response r;
	struct cl_batch_result br;
	struct cli_http_resp resp = {0};
	struct sth c;
	uint8_t *bundle = NULL;
	size_t bundle_len;
	char why[CL_WHY_MAX], msg[CLI_MSG_MAX], url[2100];
	int rc;

	if ((rc = item_load(s, it)) != CLI_OK)
		return rc;
	snprintf(url, sizeof url, "%s/v1/entries", s->url);
	if (cli_http_request(&s->http, url, it->buf, it->len, CL_API_MAX, &resp, why) != 0) {
		rc = report(s, it, CLI_FAIL, NULL, NULL, why);
		goto out;
	}
	if ((rc = cli_http_answer(&resp, why)) != 0) {
		snprintf(msg, sizeof msg, "the log refused it (%s)", why);
		rc = report(s, it, rc, NULL, NULL, msg);
		goto out;
	}
	wire_arena_reset(&s->a);
	if (wire_submit_response_decode(&s->a, resp.body, resp.len, &r, why) != 0) {
		snprintf(msg, sizeof msg, "malformed answer from the log: %s", why);
		rc = report(s, it, CLI_FAIL, NULL, NULL, msg);
		goto out;
	}
	if (cli_checkpoint_open(
	        r.checkpoint, r.checkpoint_len, s->have_key ? &s->log_key : NULL, &c, why) != 0) {
		snprintf(msg, sizeof msg, "the log's checkpoint does not verify: %s", why);
		rc = report(s, it, CLI_FAIL, NULL, NULL, msg);
		goto out;
	}
	memset(&br, 0, sizeof br);
	br.status = r.duplicate ? 200 : 201;
	br.index = r.index;
	memcpy(br.leaf_hash, r.leaf_hash, MT_HASH_LEN);
	br.inclusion = r.inclusion;
	if ((rc = make_bundle(s, it, &br, r.checkpoint, r.checkpoint_len, &c, &bundle, &bundle_len,
	         msg)) != CLI_OK)
		rc = report(s, it, rc, &br, &c, msg);
	else if (cl_file_write(it->bundle, bundle, bundle_len, 0644, CL_FILE_STREAM, why) != 0)
		rc = report(s, it, CLI_FAIL, &br, &c, why);
	else
		rc = report(s, it, CLI_OK, &br, &c, NULL);
	free(bundle);
out:
	cli_http_resp_free(&resp);
	item_unload(it);
	return rc;
}

/* A batch on its way to the log, sent from a thread of its own, so that
 * the next batch travels while the last one's answers are checked and its
 * bundles flushed. */
struct flight {
	struct submit *s;
	size_t *batch; /* its envelopes, as indices into the items */
	size_t n;      /* 0: no batch */
	void *ebuf;    /* the request body's arena */
	const uint8_t *body;
	size_t body_len;
	struct cli_http_resp resp;
	int rc; /* 0, or the exit code for the whole batch with msg */
	char msg[CLI_MSG_MAX];
	pthread_t t;
	bool thread; /* t runs flight_main */
};

/* Room for the log's answer to n envelopes. */
static size_t
answer_cap(size_t n)
{
	return n * (MT_PROOF_MAX * (MT_HASH_LEN + 2) + CL_WHY_MAX + 64) + CL_CHECKPOINT_MAX + 1024;
}

static void *
flight_main(void *arg)
{
	struct flight *f = arg;
	char why[CL_WHY_MAX], url[2100];

	snprintf(url, sizeof url, "%s/v1/entries/batch", f->s->url);
	f->rc = cli_http_request(
	    &f->s->http, url, f->body, f->body_len, answer_cap(f->n), &f->resp, why);
	if (f->rc == 0 && (f->rc = cli_http_answer(&f->resp, why)) != 0)
		snprintf(f->msg, sizeof f->msg, "the log refused the batch (%s)", why);
	else if (f->rc != 0)
		snprintf(f->msg, sizeof f->msg, "%s", why);
	return NULL;
}

/* Encode f's envelopes and send them, from a new thread (or from this one
 * if none can start). */
static void
flight_start(struct submit *s, const struct item *items, struct flight *f)
{
	struct cl_span *envs = calloc(f->n, sizeof *envs);
	struct wire_arena ea;
	size_t ecap = 64;

	f->s = s;
	f->rc = 0;
	f->thread = false;
	memset(&f->resp, 0, sizeof f->resp);
	for (size_t i = 0; i < f->n; i++)
		ecap += items[f->batch[i]].len + 32;
	if (envs == NULL || (f->ebuf = malloc(ecap)) == NULL) {
		f->rc = cli_why(f->msg, CLI_FAIL, "out of memory");
		free(envs);
		return;
	}
	for (size_t i = 0; i < f->n; i++) {
		envs[i].data = items[f->batch[i]].buf;
		envs[i].len = items[f->batch[i]].len;
	}
	wire_arena_init(&ea, f->ebuf, ecap);
	if (wire_batch_encode(&ea, envs, f->n, &f->body, &f->body_len) != 0)
		f->rc = cli_why(f->msg, CLI_FAIL, "cannot encode a batch");
	free(envs);
	if (f->rc != 0)
		return;
	if (pthread_create(&f->t, NULL, flight_main, f) == 0)
		f->thread = true;
	else
		flight_main(f);
}

/* Wait for f's answer, judge every result and free what f holds.  Those
 * the log answered with 503 go to *retry (room for f->n).  Returns the
 * worst exit code among them. */
static int
flight_land(
    struct item *items, struct flight *f, size_t *retry, size_t *n_retry, void *dbuf, size_t dcap)
{
	struct submit *s = f->s;
	struct cl_file_out *files = NULL;
	static char oom[] = "out of memory", again[] = "to be sent again";
	/* Per envelope: why its answer did not check out, or `again`. */
	char **fails = NULL;
	size_t n = f->n, n_files = 0;
	struct cl_batch_response br;
	struct wire_arena da;
	struct sth c;
	char why[CL_WHY_MAX], msg[CLI_MSG_MAX];
	int rc, worst = CLI_OK;

	*n_retry = 0;
	if (f->thread)
		pthread_join(f->t, NULL);
	rc = f->rc;
	snprintf(msg, sizeof msg, "%s", f->msg);
	wire_arena_init(&da, dbuf, dcap);
	if (rc == 0 &&
	    wire_batch_response_decode(&da, f->resp.body, f->resp.len, n, &br, why) != 0) {
		snprintf(msg, sizeof msg, "malformed answer from the log: %s", why);
		rc = CLI_FAIL;
	}
	if (rc == 0 && br.n != n) {
		snprintf(
		    msg, sizeof msg, "the log answered %zu results for %zu envelopes", br.n, n);
		rc = CLI_FAIL;
	}
	if (rc == 0 &&
	    cli_checkpoint_open(
	        br.checkpoint, br.checkpoint_len, s->have_key ? &s->log_key : NULL, &c, why) != 0) {
		snprintf(msg, sizeof msg, "the log's checkpoint does not verify: %s", why);
		rc = CLI_FAIL;
	}
	if (rc == 0 &&
	    ((files = calloc(n, sizeof *files)) == NULL ||
	        (fails = calloc(n, sizeof *fails)) == NULL)) {
		snprintf(msg, sizeof msg, "out of memory");
		rc = CLI_FAIL;
	}
	if (rc != 0) {
		/* The whole batch failed: every envelope in it with the reason. */
		for (size_t i = 0; i < n; i++)
			report(s, &items[f->batch[i]], rc, NULL, NULL, msg);
		worst = rc;
		goto out;
	}
	/* Check every answer and make its bundle, then write all the bundles
	 * with one flush (cl_file_write_many), then report in order. */
	for (size_t i = 0; i < n; i++) {
		const struct cl_batch_result *r = &br.results[i];
		struct item *it = &items[f->batch[i]];
		uint8_t *bundle;

		if (r->status == 503 && it->tries + 1 < s->http.attempts) {
			it->tries++;
			retry[(*n_retry)++] = f->batch[i];
			fails[i] = again;
			continue;
		}
		if (r->status >= 400)
			continue;
		wire_arena_reset(&s->a);
		if (make_bundle(s, it, r, br.checkpoint, br.checkpoint_len, &c, &bundle,
		        &files[n_files].len, msg) != CLI_OK) {
			if ((fails[i] = strdup(msg)) == NULL)
				fails[i] = oom;
			continue;
		}
		files[n_files].path = it->bundle;
		files[n_files++].buf = bundle;
	}
	cl_file_write_many(files, n_files, 0644);
	for (size_t i = 0, k = 0; i < n; i++) {
		const struct cl_batch_result *r = &br.results[i];
		struct item *it = &items[f->batch[i]];

		if (fails[i] == again)
			continue;
		if (r->status >= 400) {
			snprintf(msg, sizeof msg, "the log refused it (HTTP %u: %s)", r->status,
			    r->reason);
			rc = report(s, it, CLI_FAIL, r, &c, msg);
		} else if (fails[i] != NULL) {
			rc = report(s, it, CLI_FAIL, r, &c, fails[i]);
		} else {
			/* The bundles are in the order of their envelopes. */
			rc = report(s, it, files[k].rc == 0 ? CLI_OK : CLI_FAIL, r, &c,
			    files[k].rc == 0 ? NULL : files[k].why);
			k++;
		}
		if (rc > worst)
			worst = rc;
	}
out:
	for (size_t i = 0; fails != NULL && i < n; i++) {
		if (fails[i] != oom && fails[i] != again)
			free(fails[i]);
	}
	for (size_t k = 0; k < n_files; k++)
		free((void *)files[k].buf);
	free(fails);
	free(files);
	cli_http_resp_free(&f->resp);
	free(f->ebuf);
	f->ebuf = NULL;
	return worst;
}

/* Submit items through POST /v1/entries/batch, in batches within max_n
 * envelopes and max_bytes bytes, two at a time: while one batch travels,
 * the one before it is judged. */
static int
submit_many(struct submit *s, struct item *items, size_t n_items, size_t max_n, size_t max_bytes)
{
	size_t *todo = calloc(n_items, sizeof *todo), *retry = calloc(max_n, sizeof *retry);
	size_t n_todo = 0, head = 0, done = 0,
	       dcap = wire_batch_decode_arena(answer_cap(max_n), max_n);
	struct flight fl[2];
	void *dbuf = malloc(dcap);
	double last = now_s();
	long backoff = s->http.backoff_ms;
	int worst = CLI_OK, rc, cur = 0;

	memset(fl, 0, sizeof fl);
	fl[0].batch = calloc(max_n, sizeof *fl[0].batch);
	fl[1].batch = calloc(max_n, sizeof *fl[1].batch);
	if (todo == NULL || retry == NULL || dbuf == NULL || fl[0].batch == NULL ||
	    fl[1].batch == NULL) {
		worst = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_items; i++)
		todo[n_todo++] = i;
	/* todo is a queue: retried envelopes go back at its end (its room
	 * is enough: each leaves it before it returns). */
	for (;;) {
		struct flight *f = &fl[cur], *prev = &fl[1 - cur];
		size_t bytes = 0, n_retry = 0;

		f->n = 0;
		while (head < n_todo && f->n < max_n) {
			struct item *it = &items[todo[head]];

			if ((rc = item_load(s, it)) != CLI_OK) {
				if (rc > worst)
					worst = rc;
				head++;
				done++;
				continue;
			}
			if (f->n > 0 && bytes + it->len + 8 > max_bytes)
				break;
			bytes += it->len + 8;
			f->batch[f->n++] = todo[head++];
		}
		if (f->n > 0)
			flight_start(s, items, f);
		if (prev->n == 0 && f->n == 0)
			break;
		cur = 1 - cur;
		if (prev->n == 0)
			continue;
		if ((rc = flight_land(items, prev, retry, &n_retry, dbuf, dcap)) > worst)
			worst = rc;
		for (size_t i = 0; i < prev->n; i++) {
			bool again = false;

			for (size_t k = 0; k < n_retry && !again; k++)
				again = retry[k] == prev->batch[i];
			if (!again) {
				item_unload(&items[prev->batch[i]]);
				done++;
			}
		}
		prev->n = 0;
		/* Move the unfinished to the end of the queue; the slots freed
		 * at its front make room, and head only grows. */
		if (n_retry > 0) {
			memmove(todo, todo + head, (n_todo - head) * sizeof *todo);
			n_todo -= head;
			head = 0;
			memcpy(todo + n_todo, retry, n_retry * sizeof *todo);
			n_todo += n_retry;
			sleep_ms(backoff);
			backoff = backoff < 5000 ? 2 * backoff : backoff;
		} else {
			backoff = s->http.backoff_ms;
		}
		if (n_items > max_n && now_s() - last >= PROGRESS_S) {
			cli_progress("%zu of %zu envelopes done", done, n_items);
			last = now_s();
		}
	}
	if (n_items > max_n)
		cli_progress("%zu of %zu envelopes done", done, n_items);
out:
	free(dbuf);
	free(retry);
	free(fl[0].batch);
	free(fl[1].batch);
	free(todo);
	return worst;
}

int
cli_cmd_submit(int argc, char **argv)
{
	struct submit s;
	struct item *items = NULL;
	const char *log = NULL, *out = NULL;
	uint64_t max_n = BATCH_ENTRIES_DEFAULT, max_bytes = BATCH_BYTES_DEFAULT;
	const struct cli_opt opts[] = {
	    CLI_STR("log", &log),
	    CLI_VKEY("log-key", &s.log_key, &s.have_key),
	    CLI_STR_SHORT("output", 'o', &out),
	    CLI_FLAG("json", &s.json),
	    CLI_U64("batch-entries", &max_n, NULL),
	    CLI_U64("batch-bytes", &max_bytes, NULL),
	};
	size_t n_items;
	void *abuf = NULL;
	int first, rc, worst = CLI_OK;
	bool out_dir;

	memset(&s, 0, sizeof s);
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		return rc;
	if (max_n < 1 || max_n > CL_BATCH_MAX)
		return cli_fail(CLI_USAGE, "--batch-entries: 1 to %d", CL_BATCH_MAX);
	if (max_bytes < BATCH_BYTES_MIN || max_bytes > ((uint64_t)1 << 30))
		return cli_fail(CLI_USAGE, "--batch-bytes: %u to %u", BATCH_BYTES_MIN, 1u << 30);
	if (log == NULL || first == argc)
		return cli_fail(CLI_USAGE, "give --log URL and at least one ENVELOPE (see --help)");
	if ((rc = cli_log_url(log, s.url, sizeof s.url)) != 0)
		return rc;
	n_items = (size_t)(argc - first);
	out_dir = out != NULL && n_items > 1;
	/* In one directory, bundles are named after the envelopes' base
	 * names: two alike would write the same bundle.  Sorted, equal names
	 * are neighbours: O(n log n) for thousands of files. */
	if (out_dir) {
		char **names = calloc(n_items, sizeof *names);

		if (names == NULL)
			return cli_fail(CLI_FAIL, "out of memory");
		for (size_t i = 0; i < n_items; i++)
			names[i] = argv[first + (int)i];
		qsort(names, n_items, sizeof *names, base_cmp);
		for (size_t i = 1; i < n_items; i++) {
			if (strcmp(base_name(names[i]), base_name(names[i - 1])) == 0) {
				rc = cli_fail(CLI_USAGE,
				    "%s and %s would both be saved as %s.bundle in %s",
				    names[i - 1], names[i], base_name(names[i]), out);
				free(names);
				return rc;
			}
		}
		free(names);
	}
	if (out_dir && mkdir(out, 0755) != 0) {
		struct stat st;

		if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
			return cli_fail(
			    CLI_USAGE, "-o %s: not a directory (several envelopes given)", out);
	}
	cli_http_defaults(&s.http);
	s.http.retry_lines = true; /* a submission may wait for seconds: say why */
	if ((items = calloc(n_items, sizeof *items)) == NULL ||
	    (abuf = malloc(WIRE_ARENA_MIN)) == NULL || (s.json && (s.out = json_array()) == NULL)) {
		rc = cli_fail(CLI_FAIL, "out of memory");
		goto out;
	}
	wire_arena_init(&s.a, abuf, WIRE_ARENA_MIN);
	for (size_t i = 0; i < n_items; i++) {
		struct item *it = &items[i];
		int n;

		it->path = argv[first + (int)i];
		if (out != NULL && !out_dir)
			n = snprintf(it->bundle, sizeof it->bundle, "%s", out);
		else if (out_dir)
			n = snprintf(it->bundle, sizeof it->bundle, "%s/%s.bundle", out,
			    base_name(it->path));
		else
			n = snprintf(it->bundle, sizeof it->bundle, "%s.bundle", it->path);
		if (n < 0 || (size_t)n >= sizeof it->bundle) {
			rc = cli_fail(
			    CLI_USAGE, "%s: the bundle's path would be too long", it->path);
			goto out;
		}
	}
	if (n_items == 1)
		worst = submit_one(&s, &items[0]);
	else
		worst = submit_many(&s, items, n_items, (size_t)max_n, (size_t)max_bytes);
	if (s.json) {
		if ((rc = cli_show_json_print(s.out)) > worst)
			worst = rc;
		s.out = NULL;
	}
	rc = worst;
out:
	if (s.out != NULL)
		json_decref(s.out);
	for (size_t i = 0; items != NULL && i < n_items; i++)
		item_unload(&items[i]);
	free(items);
	free(abuf);
	return rc;
}
