/*
 * powerloss_test.c: closurelogd across simulated power cuts and I/O faults.
 *
 * Each cycle starts closurelogd with tests/powercut.c preloaded (it journals
 * every write and sync of data.mdb and cuts the power, SIGKILL, just before
 * a randomly chosen write or sync), drives it with concurrent submissions,
 * then rebuilds data.mdb as the disk would hold it (tests/pcut.h: unsynced
 * writes dropped, or torn at 4 KiB boundaries) and starts the next cycle on
 * the result.  After every cycle the store must open, every acknowledged
 * entry must be at its index with its bytes, and every checkpoint handed out
 * must be consistent with the recovered tree.  Checkpoint consistency is
 * transitive, so each cycle checks the checkpoints of the previous cycle and
 * the tree it started from; the end checks every acknowledgement again.
 *
 * A third run cuts only just before an fdatasync: with the commit pipeline
 * (a commit's meta page is flushed by the next commit's data flush), that
 * is the instant where the last commit is on disk but its meta page is
 * not, and where an answer sent too early would be lost.
 *
 * The same harness runs a closurelogd built with MDB_NOSYNC
 * (closurelogd-nosync, tests only) and requires the checks to catch it, and
 * injects EIO and ENOSPC into every write, pwrite and fdatasync of a short
 * workload in turn, and EIO into the first syncs and writes of a
 * concurrent one (a commit failing while the one before it is pending).
 *
 * Usage: powerloss_test [drop|torn|synccut|nosync|faults|faults_concurrent|mapgrow|
 *                       crash_restart|bundlecut] [CYCLES]
 * (no argument: all with the short cycle counts used by `make test`).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "merkle.h"
#include "pcut.h"
#include "srvutil.h"
#include "testutil.h"
#include "wire.h"

#ifndef CL_PC_LIB
#error "CL_PC_LIB must name the power-cut library"
#endif

struct pl_ack {
	uint64_t index, env; /* entry index; envelope number */
};

struct pl_ck {
	uint64_t size;
	uint8_t root[MT_HASH_LEN];
};

struct pl {
	char dir[512], data[600], db[700], base[700], journal[700], subs[700], err[700];
	const char *daemon;
	enum pc_mode mode;
	const char *cut_op; /* cut before the n-th call of this kind (NULL: any) */
	uint64_t seed;
	struct note_verifier lk;
	bool have_key;
	/* Every envelope made, by number. */
	uint8_t **envs;
	size_t *lens, n_envs, cap_envs;
	/* All acknowledgements, and where this cycle's begin. */
	struct pl_ack *acks;
	size_t n_acks, cap_acks, cycle_acks;
	/* Checkpoints to check against the next recovered tree. */
	struct pl_ck *cks;
	size_t n_cks, cap_cks;
	size_t calls_max; /* most watched calls seen in one uncut cycle */
	size_t syncs_max; /* most fdatasyncs seen in one uncut cycle */
	/* Numbers for the report. */
	size_t cycles, cuts, start_cuts, acked, lost_writes, torn_blocks, search_cycles;
	char why[1024]; /* the first violation */
};

static uint64_t
rnd(struct pl *p)
{
	p->seed ^= p->seed >> 12;
	p->seed ^= p->seed << 25;
	p->seed ^= p->seed >> 27;
	return p->seed * 2685821657736338717ull;
}

static void
pl_init(struct pl *p, const char *daemon, enum pc_mode mode, uint64_t seed)
{
	memset(p, 0, sizeof *p);
	h_tmpdir(p->dir, sizeof p->dir);
	snprintf(p->data, sizeof p->data, "%s/data", p->dir);
	snprintf(p->db, sizeof p->db, "%s/data.mdb", p->data);
	snprintf(p->base, sizeof p->base, "%s/base", p->dir);
	assert_int_equal(mkdir(p->base, 0700), 0);
	snprintf(p->journal, sizeof p->journal, "%s/journal", p->dir);
	snprintf(p->subs, sizeof p->subs, "%s/submitters", p->dir);
	snprintf(p->err, sizeof p->err, "%s.stderr", p->data);
	h_write(p->subs, su_ci_vkey, strlen(su_ci_vkey));
	p->daemon = daemon;
	p->mode = mode;
	p->seed = seed | 1;
}

static void
pl_free(struct pl *p)
{
	for (size_t i = 0; i < p->n_envs; i++)
		free(p->envs[i]);
	free(p->envs);
	free(p->lens);
	free(p->acks);
	free(p->cks);
	h_rmrf(p->dir);
}

static int
pl_fail(struct pl *p, const char *fmt, ...)
{
	va_list ap;

	if (p->why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof p->why, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void
pl_ck_add(struct pl *p, uint64_t size, const uint8_t root[MT_HASH_LEN])
{
	for (size_t i = 0; i < p->n_cks; i++) {
		if (p->cks[i].size == size)
			return; /* a second root for one size is caught by the check */
	}
	if (p->n_cks == p->cap_cks) {
		p->cap_cks = p->cap_cks ? p->cap_cks * 2 : 64;
		p->cks = realloc(p->cks, p->cap_cks * sizeof *p->cks);
		assert_non_null(p->cks);
	}
	p->cks[p->n_cks].size = size;
	memcpy(p->cks[p->n_cks].root, root, MT_HASH_LEN);
	p->n_cks++;
}

/* Start closurelogd on the data directory, with the power-cut library
 * (journal, cut before watched call `cut` if > 0, fault spec if not NULL)
 * unless bare.  Returns 0, -2 if the cut killed it while starting, or -1
 * with the reason in p->why. */
static int
pl_start(struct pl *p, struct h_server *s, bool bare, long cut, const char *fault,
    const char *const *extra)
{
	const char *args[20];
	char out[2048];
	size_t n = 0;
	int status, rc;

	args[n++] = "--submitters";
	args[n++] = p->subs;
	args[n++] = "--verify-threads";
	args[n++] = "2";
	args[n++] = "--http-threads";
	args[n++] = "2";
	/* The checks read every acknowledged entry back, fast. */
	args[n++] = "--rate";
	args[n++] = "0";
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 19; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	setenv("CL_TEST_DAEMON", p->daemon, 1);
	if (!bare)
		pc_env_set(CL_PC_LIB, p->journal, cut, p->cut_op, fault);
	rc = h_server_try_start(s, p->data, args, &status, out, sizeof out);
	pc_env_clear();
	unsetenv("CL_TEST_DAEMON");
	/* The cut can land in the start-up's own writes (creating or
	 * repairing the store): a power cut like any other. */
	if (rc != 0 && cut > 0 && status == 128 + SIGKILL)
		return -2;
	if (rc != 0)
		return pl_fail(p, "closurelogd did not start on the recovered store (exit %d): %s",
		    status, out);
	if (!p->have_key) {
		su_log_key(s, &p->lk);
		p->have_key = true;
	}
	return 0;
}

/* GET url into *body; returns the status (0 on a network error). */
/* The checks after a cycle, on a freshly started server.  On success the
 * recovered head replaces the checkpoints to check next time. */
static int
pl_check(struct pl *p, const struct h_server *s, size_t from_ack)
{
	static uint8_t abuf[WIRE_ARENA_MIN];
	char url[256], w[CL_WHY_MAX];
	uint8_t *body;
	size_t len;
	struct sth head;
	int rc = 0;

	snprintf(url, sizeof url, "%s/checkpoint", s->url);
	if (h_get(url, &body, &len) != 200 || sth_open(body, len, &p->lk, NULL, &head, w) != 0) {
		free(body);
		return pl_fail(p, "no valid checkpoint after recovery");
	}
	free(body);
	for (size_t i = 0; i < p->n_cks && rc == 0; i++) {
		const struct pl_ck *c = &p->cks[i];
		struct wire_arena a;
		struct cl_proof pr;

		if (c->size > head.size) {
			rc = pl_fail(p,
			    "a checkpoint for %" PRIu64 " entries was handed out, the recovered "
			    "tree has %" PRIu64,
			    c->size, head.size);
			break;
		}
		if (c->size == 0)
			continue;
		if (c->size == head.size) {
			if (memcmp(c->root, head.root, MT_HASH_LEN) != 0)
				rc = pl_fail(p,
				    "the recovered tree of size %" PRIu64
				    " has another root than the checkpoint handed out",
				    c->size);
			continue;
		}
		snprintf(url, sizeof url, "%s/v1/proof/consistency?from=%" PRIu64 "&to=%" PRIu64,
		    s->url, c->size, head.size);
		wire_arena_init(&a, abuf, sizeof abuf);
		if (h_get(url, &body, &len) != 200 ||
		    wire_consistency_decode(&a, body, len, &pr, w) != 0 ||
		    mt_consistency_verify(
		        c->size, head.size, c->root, head.root, MT_PATH(pr.hashes), pr.n) != 0)
			rc = pl_fail(p,
			    "the checkpoint handed out at %" PRIu64
			    " is not consistent with the recovered tree at %" PRIu64,
			    c->size, head.size);
		free(body);
	}
	for (size_t i = from_ack; i < p->n_acks && rc == 0; i++) {
		const struct pl_ack *k = &p->acks[i];
		struct wire_arena a;
		struct cl_entry e;
		long st;

		snprintf(url, sizeof url, "%s/v1/entries/%" PRIu64, s->url, k->index);
		wire_arena_init(&a, abuf, sizeof abuf);
		st = h_get(url, &body, &len);
		if (st != 200 || wire_entry_decode(&a, body, len, &e, w) != 0 ||
		    e.envelope_len != p->lens[k->env] ||
		    memcmp(e.envelope, p->envs[k->env], e.envelope_len) != 0)
			rc = pl_fail(p,
			    "acknowledged entry %" PRIu64
			    " is %s after recovery (HTTP %ld, tree size %" PRIu64 ")",
			    k->index, st == 200 ? "different" : "missing", st, head.size);
		free(body);
	}
	/* The search index after recovery (behind the log, rebuilt or caught
	 * up at start): every acknowledged entry is found by its leaf hash at
	 * its index, and deduplication is strict: submitting it again gives
	 * its index back, never a new one.  (Every ack of a short run; a
	 * sample of the others, the newest first: those are the ones in the
	 * search index's lag window.) */
	for (size_t i = p->n_acks; i-- > 0 && rc == 0;) {
		const struct pl_ack *k = &p->acks[i];
		struct wire_arena a;
		struct cl_proof pr;
		struct su_ack again;
		uint8_t leaf[MT_HASH_LEN];
		char hex[2 * MT_HASH_LEN + 1];
		long st;

		if (p->n_acks - i > 8 && i % 61 != 0)
			continue;
		mt_leaf_hash(leaf, p->envs[k->env], p->lens[k->env]);
		sodium_bin2hex(hex, sizeof hex, leaf, sizeof leaf);
		snprintf(url, sizeof url, "%s/v1/proof/inclusion?leaf_hash=%s&size=%" PRIu64,
		    s->url, hex, head.size);
		wire_arena_init(&a, abuf, sizeof abuf);
		st = h_get(url, &body, &len);
		if (st != 200 || wire_inclusion_decode(&a, body, len, &pr, w) != 0 ||
		    pr.a != k->index)
			rc = pl_fail(p,
			    "acknowledged entry %" PRIu64
			    " is not found by its leaf hash after recovery (HTTP %ld)",
			    k->index, st);
		free(body);
		if (rc != 0)
			break;
		st = su_submit(s, &p->lk, p->envs[k->env], p->lens[k->env], &again, w);
		if (st != 200 || again.index != k->index)
			rc = pl_fail(p,
			    "acknowledged entry %" PRIu64
			    " submitted again after recovery: HTTP %ld, "
			    "index %" PRIu64 " (deduplication missed it)",
			    k->index, st, again.index);
	}
	if (rc == 0) {
		p->n_cks = 0;
		pl_ck_add(p, head.size, head.root);
	}
	return rc;
}

/* Submit n new envelopes from 4 threads; record every acknowledgement and
 * the checkpoint it came with.  Statuses other than an answer, a lost
 * connection or (when allowed) a storage error fail the test. */
static size_t
pl_load(struct pl *p, const struct h_server *s, size_t n, bool storage_errors_ok)
{
	struct su_result *res = calloc(n, sizeof *res);
	size_t first = p->n_envs, got = 0;

	assert_non_null(res);
	if (p->n_envs + n > p->cap_envs) {
		p->cap_envs = (p->n_envs + n) * 2;
		p->envs = realloc(p->envs, p->cap_envs * sizeof *p->envs);
		p->lens = realloc(p->lens, p->cap_envs * sizeof *p->lens);
		assert_true(p->envs != NULL && p->lens != NULL);
	}
	for (size_t i = 0; i < n; i++)
		p->envs[first + i] = su_envelope(first + i, NULL, &p->lens[first + i]);
	p->n_envs += n;
	su_blast(s, p->envs + first, p->lens + first, n, 4, res);
	for (size_t i = 0; i < n; i++) {
		struct su_ack a;

		if (res[i].status == 200 || res[i].status == 201) {
			su_check_ack(&p->lk, p->envs[first + i], p->lens[first + i], res[i].status,
			    res[i].body, res[i].len, &a);
			if (p->n_acks == p->cap_acks) {
				p->cap_acks = p->cap_acks ? p->cap_acks * 2 : 1024;
				p->acks = realloc(p->acks, p->cap_acks * sizeof *p->acks);
				assert_non_null(p->acks);
			}
			p->acks[p->n_acks++] = (struct pl_ack){a.index, first + i};
			pl_ck_add(p, a.ckpt.size, a.ckpt.root);
			got++;
		} else if (res[i].status != 0 &&
		    !(storage_errors_ok && (res[i].status == 503 || res[i].status == 507))) {
			fail_msg("submission answered %ld: %s", res[i].status,
			    res[i].body != NULL ? (char *)res[i].body : "");
		}
	}
	su_results_free(res, n);
	free(res);
	p->acked += got;
	return got;
}

/* After the server died: rebuild data.mdb from the base and the journal,
 * and make the result the next base. */
static void
pl_rebuild(struct pl *p, enum pc_mode mode)
{
	struct pc_stats st;
	size_t calls;

	if (pc_rebuild(p->journal, p->base, true, mode, rnd(p), &st) != 0)
		fail_msg("rebuilding the store: %s", strerror(errno));
	p->lost_writes += st.lost;
	p->torn_blocks += st.torn_blocks;
	if (st.files >= 2)
		p->search_cycles++; /* the search index was written too */
	calls = st.writes + st.syncs;
	if (calls > p->calls_max)
		p->calls_max = calls;
	if (st.calls[PC_OP_FDATASYNC] > p->syncs_max)
		p->syncs_max = st.calls[PC_OP_FDATASYNC];
	unlink(p->journal);
}

/* Run `cycles` power cuts.  Returns 0, or -1 at the first violation (with
 * p->why). */
static int
pl_run(struct pl *p, size_t cycles, size_t per_cycle)
{
	struct h_server s;

	for (size_t c = 0; c < cycles; c++) {
		long cut = 0;
		int rc;

		/* The first cycle creates the store; the cut is somewhere in the
		 * calls a cycle makes (learnt from the cycles so far), or after
		 * the load when it lands beyond them. */
		if (c > 0) {
			size_t most = p->cut_op != NULL ? p->syncs_max : p->calls_max;

			cut = 1 + (long)(rnd(p) % (most + most / 4 + 2));
		}
		if ((rc = pl_start(p, &s, false, cut, NULL, NULL)) == -2) {
			p->cuts++;
			p->start_cuts++;
			pl_rebuild(p, PC_DROP);
			p->cycles++;
			continue;
		}
		if (rc != 0)
			return -1;
		if (c > 0 && pl_check(p, &s, p->cycle_acks) != 0) {
			h_server_stop(&s, SIGKILL);
			return -1;
		}
		p->cycle_acks = p->n_acks;
		pl_load(p, &s, per_cycle, false);
		/* Cut by the library at a write or sync, or now, after the load. */
		{
			int st;

			if (waitpid(s.pid, &st, WNOHANG) == s.pid) {
				s.pid = 0;
				assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
				p->cuts++;
			} else {
				st = h_server_stop(&s, SIGKILL);
				assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			}
		}
		pl_rebuild(p, p->mode == PC_TORN && (c & 1) ? PC_TORN : PC_DROP);
		p->cycles++;
	}
	/* Last: a plain server, the last cycle's checks and every
	 * acknowledgement ever. */
	if (pl_start(p, &s, true, 0, NULL, NULL) != 0)
		return -1;
	{
		int rc = pl_check(p, &s, 0);

		h_server_stop(&s, SIGTERM);
		return rc;
	}
}

static size_t n_cycles = 0; /* 0: the short default */

static void
test_power_cuts(enum pc_mode mode, const char *cut_op, size_t cycles)
{
	struct pl p;

	pl_init(&p, "closurelogd", mode, 0x9e3779b97f4a7c15ull + (uint64_t)time(NULL));
	p.cut_op = cut_op;
	if (pl_run(&p, cycles, 24) != 0)
		fail_msg("power cut %zu (seed base %s): %s", p.cycles, "time", p.why);
	print_message("  %s: %zu cycles (%zu cut at %s, %zu of them while starting; "
	              "the rest after the load; %zu wrote the search index too), %zu entries "
	              "acknowledged, 0 lost; %zu unsynced writes dropped, %zu torn blocks landed\n",
	    cut_op != NULL        ? "sync cuts"
	        : mode == PC_TORN ? "drop+torn"
	                          : "drop",
	    p.cycles, p.cuts, cut_op != NULL ? "an fdatasync" : "a write or sync", p.start_cuts,
	    p.search_cycles, p.acked, p.lost_writes, p.torn_blocks);
	pl_free(&p);
}

static void
test_drop(void **state)
{
	(void)state;
	test_power_cuts(PC_DROP, NULL, n_cycles ? n_cycles : 100);
}

static void
test_torn(void **state)
{
	(void)state;
	test_power_cuts(PC_TORN, NULL, n_cycles ? n_cycles : 100);
}

/* Cuts just before a sync: between a commit's data flush and the next
 * one, its meta page is written but not durable. */
static void
test_synccut(void **state)
{
	(void)state;
	test_power_cuts(PC_TORN, "fdatasync", n_cycles ? n_cycles : 60);
}

/* The same harness must catch a store that does not sync. */
static void
test_nosync_detected(void **state)
{
	struct pl p;
	int rc;

	(void)state;
	pl_init(&p, "closurelogd-nosync", PC_DROP, 12345);
	rc = pl_run(&p, n_cycles ? n_cycles : 20, 24);
	print_message("  MDB_NOSYNC: %s after %zu cycles and %zu acknowledgements: %s\n",
	    rc != 0 ? "caught" : "NOT caught", p.cycles, p.acked, p.why);
	assert_int_equal(rc, -1);
	assert_true(p.acked > 0);
	pl_free(&p);
}

/* ---- I/O faults ---- */

#define FAULT_SUBS 10
/* The base log's entries: the workload's FAULT_SUBS entries after them
 * complete entry bundle 0 (index 255), so that a fault or a cut lands in
 * every call of the commit that writes a full bundle and deletes its
 * entries' keys too. */
#define FAULT_BASE 250

/* Make envelopes first .. first + n - 1 if they are not there yet. */
static void
pl_envs(struct pl *p, size_t n)
{
	if (n <= p->n_envs)
		return;
	if (n > p->cap_envs) {
		p->cap_envs = n * 2;
		p->envs = realloc(p->envs, p->cap_envs * sizeof *p->envs);
		p->lens = realloc(p->lens, p->cap_envs * sizeof *p->lens);
		assert_true(p->envs != NULL && p->lens != NULL);
	}
	for (; p->n_envs < n; p->n_envs++)
		p->envs[p->n_envs] = su_envelope(p->n_envs, NULL, &p->lens[p->n_envs]);
}

struct fault_tally {
	size_t runs, refused_503, refused_507, at_stop, later_ok, acked;
};

/* One run: the base store, a fault at call n of op (errno e), FAULT_SUBS
 * submissions one after the other, a power cut, and the checks on the
 * rebuilt store.  The server is stopped with SIGTERM when stop_clean (its
 * shutdown writes a checkpoint record), else killed.  n == 0: no fault;
 * work and all then get the journal's counts of each operation during the
 * submissions and in all. */
static void
fault_run(struct pl *p, const char *op, long n, int e, bool stop_clean, struct fault_tally *t,
    struct pc_stats *work, struct pc_stats *all)
{
	struct h_server s;
	char spec[64], why[256];
	size_t first = FAULT_BASE, refused = 0;
	bool failed_seen = false;
	struct pc_stats st;

	snprintf(spec, sizeof spec, "%s:%ld:%d", op, n, e);
	if (pc_base_restore(p->base) != 0)
		fail_msg("restoring the base store: %s", strerror(errno));
	unlink(p->journal);
	if (pl_start(p, &s, false, 0, n > 0 ? spec : NULL, NULL) != 0) {
		/* The fault hit the start-up's flush of the stored tree: a
		 * clear refusal to start, naming the store, is right. */
		if (n > 0 && strstr(p->why, "closurelogd: log: store: ") != NULL)
			return;
		fail_msg("%s: %s", spec, p->why);
	}
	p->n_acks = 0;
	p->n_cks = 0;
	for (size_t i = 0; i < FAULT_SUBS; i++) {
		struct su_ack a;
		long status;

		why[0] = '\0';
		status = su_submit(&s, &p->lk, p->envs[first + i], p->lens[first + i], &a, why);
		if (status == 200 || status == 201) {
			p->acks[p->n_acks++] = (struct pl_ack){a.index, first + i};
			pl_ck_add(p, a.ckpt.size, a.ckpt.root);
			t->later_ok += failed_seen;
			t->acked++;
			continue;
		}
		/* A clear refusal: 507 for a full disk, 503 for an I/O error. */
		if (status != (e == ENOSPC ? 507 : 503) || strstr(why, "storage") == NULL)
			fail_msg("%s: submission %zu answered %ld: %s", spec, i, status, why);
		status == 507 ? t->refused_507++ : t->refused_503++;
		failed_seen = true;
		refused++;
	}
	/* A client retries what was refused: the log must have recovered. */
	if (refused > 0) {
		struct su_ack a;
		size_t last = first + FAULT_SUBS - 1;
		long status = su_submit(&s, &p->lk, p->envs[last], p->lens[last], &a, why);

		if (status != 200 && status != 201)
			fail_msg("%s: the log did not recover: %ld %s", spec, status, why);
		if (status == 201 || p->n_acks == 0 || p->acks[p->n_acks - 1].env != last)
			p->acks[p->n_acks++] = (struct pl_ack){a.index, last};
		pl_ck_add(p, a.ckpt.size, a.ckpt.root);
		t->later_ok++;
	}
	if (n == 0)
		assert_int_equal(pc_stats_read(p->journal, work), 0);
	/* SIGTERM: the shutdown's own writes get their turn at the fault. */
	h_server_stop(&s, stop_clean ? SIGTERM : SIGKILL);
	if (pc_rebuild(p->journal, p->base, false, PC_DROP, 0, &st) != 0)
		fail_msg("rebuilding: %s", strerror(errno));
	if (n == 0) {
		*all = st;
		assert_int_equal(refused, 0);
	} else {
		uint8_t *err;
		size_t elen;

		/* Every failure says so in the log. */
		err = h_read(p->err, &elen);
		if (strstr((char *)err, "Sanitizer") != NULL)
			fail_msg("%s: %s", spec, (char *)err);
		if (refused > 0 && strstr((char *)err, "commit of") == NULL)
			fail_msg("%s: no log line for the failure: %s", spec, (char *)err);
		if (refused == 0) {
			/* A fault in the search indexer's commit refuses nothing:
			 * it is reported, retried, and redone at the next start. */
			if ((!stop_clean ||
			        strstr((char *)err, "checkpoint was not recorded") == NULL) &&
			    strstr((char *)err, "search indexing failed") == NULL)
				fail_msg("%s: the fault was not reported: %s", spec, (char *)err);
			t->at_stop++;
		}
		free(err);
	}
	t->runs++;
	if (pl_start(p, &s, true, 0, NULL, NULL) != 0 || pl_check(p, &s, 0) != 0)
		fail_msg("%s: after the power cut: %s", spec, p->why);
	h_server_stop(&s, SIGKILL);
}

/* The base for the fault runs: a log with FAULT_BASE entries, cleanly
 * stopped, its files copied into p->base; envelopes for FAULT_SUBS more. */
static void
pl_base_make(struct pl *p)
{
	struct h_server s;
	char sdb[720];

	pl_envs(p, FAULT_BASE + FAULT_SUBS);
	p->acks = calloc(FAULT_SUBS + 1, sizeof *p->acks);
	p->cap_acks = FAULT_SUBS + 1;
	assert_non_null(p->acks);
	if (pl_start(p, &s, true, 0, NULL, NULL) != 0)
		fail_msg("%s", p->why);
	for (size_t i = 0; i < FAULT_BASE; i++) {
		struct su_ack a;

		assert_int_equal(su_submit(&s, &p->lk, p->envs[i], p->lens[i], &a, NULL), 201);
	}
	h_server_stop(&s, SIGTERM);
	assert_int_equal(pc_base_add(p->base, p->db), 0);
	snprintf(sdb, sizeof sdb, "%s/search/data.mdb", p->data);
	assert_int_equal(pc_base_add(p->base, sdb), 0);
}

static void
test_faults(void **state)
{
	static const char *const ops[] = {"write", "pwrite", "fdatasync", "fsync"};
	static const char op_byte[] = {PC_OP_WRITE, PC_OP_PWRITE, PC_OP_FDATASYNC, PC_OP_FSYNC};
	static const int errs[] = {EIO, ENOSPC};
	struct pl p;
	struct pc_stats work, ref;
	struct fault_tally total = {0};

	(void)state;
	pl_init(&p, "closurelogd", PC_DROP, 7);
	pl_base_make(&p);
	/* How many calls of each kind the workload makes, without faults. */
	fault_run(&p, "write", 0, 0, true, &total, &work, &ref);
	total = (struct fault_tally){0};
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		size_t n_calls = ref.calls[(unsigned char)op_byte[o]],
		       n_work = work.calls[(unsigned char)op_byte[o]];

		for (size_t k = 0; k < sizeof errs / sizeof errs[0]; k++) {
			struct fault_tally t = {0};

			for (long n = 1; n <= (long)n_calls; n++)
				fault_run(&p, ops[o], n, errs[k], n > (long)n_work, &t, NULL, NULL);
			print_message(
			    "  %-9s %-6s: %zu calls failed in turn: %zu answered 503, %zu "
			    "answered 507, %zu hit the shutdown's writes (checkpoint record, "
			    "search index); "
			    "%zu later submissions acknowledged; 0 lost\n",
			    ops[o], errs[k] == EIO ? "EIO" : "ENOSPC", n_calls, t.refused_503,
			    t.refused_507, t.at_stop, t.later_ok);
			total.runs += t.runs;
			total.acked += t.acked;
		}
	}
	print_message(
	    "  %zu faults injected, %zu entries acknowledged, 0 lost\n", total.runs, total.acked);
	assert_true(ref.calls[PC_OP_FDATASYNC] > 0 && ref.calls[PC_OP_PWRITE] > 0);
	pl_free(&p);
}

/* A power cut at every call, in turn, of a workload of FAULT_SUBS
 * submissions one after the other that completes an entry bundle (its
 * commit writes the bundle and deletes 250 keys): unsynced writes dropped
 * or (every other cut) torn.  Every acknowledged entry survives, at its
 * index with its bytes, found by its leaf hash, and every checkpoint handed
 * out is consistent with the recovered tree. */
static void
test_bundlecut(void **state)
{
	struct pl p;
	struct h_server s;
	struct pc_stats ref;
	size_t runs = 0, start_cuts = 0, acked = 0;
	long calls = 0;

	(void)state;
	pl_init(&p, "closurelogd", PC_DROP, 5);
	pl_base_make(&p);
	/* How many calls the start and the workload make, uncut. */
	for (long cut = 0;; cut++) {
		int rc, st;

		if (pc_base_restore(p.base) != 0)
			fail_msg("restoring the base store: %s", strerror(errno));
		unlink(p.journal);
		p.n_acks = 0;
		p.n_cks = 0;
		rc = pl_start(&p, &s, false, cut, NULL, NULL);
		if (rc == -2) {
			start_cuts++;
		} else if (rc != 0) {
			fail_msg("cut %ld: %s", cut, p.why);
		} else {
			for (size_t i = 0; i < FAULT_SUBS; i++) {
				struct su_ack a;
				size_t e = FAULT_BASE + i;
				long status = su_submit(&s, &p.lk, p.envs[e], p.lens[e], &a, NULL);

				if (status == 0)
					break; /* the power went */
				if (status != 201)
					fail_msg(
					    "cut %ld: submission %zu answered %ld", cut, i, status);
				p.acks[p.n_acks++] = (struct pl_ack){a.index, e};
				pl_ck_add(&p, a.ckpt.size, a.ckpt.root);
			}
			if (waitpid(s.pid, &st, WNOHANG) == s.pid)
				s.pid = 0;
			else
				h_server_stop(&s, SIGKILL);
		}
		if (cut == 0) {
			assert_int_equal(pc_stats_read(p.journal, &ref), 0);
			calls = (long)(ref.writes + ref.syncs);
			assert_int_equal(p.n_acks, FAULT_SUBS);
			continue;
		}
		acked += p.n_acks;
		if (pc_rebuild(
		        p.journal, p.base, false, cut % 2 ? PC_DROP : PC_TORN, rnd(&p), NULL) != 0)
			fail_msg("rebuilding: %s", strerror(errno));
		if (pl_start(&p, &s, true, 0, NULL, NULL) != 0 || pl_check(&p, &s, 0) != 0)
			fail_msg("cut at call %ld of %ld: %s", cut, calls, p.why);
		h_server_stop(&s, SIGKILL);
		runs++;
		if (cut >= calls)
			break;
	}
	print_message("  %zu power cuts, one at each call of the start and of %d submissions "
	              "completing entry bundle 0 (%zu in the start): %zu entries acknowledged, 0 "
	              "lost\n",
	    runs, FAULT_SUBS, start_cuts, acked);
	pl_free(&p);
}

/* Faults under concurrent load: a commit (or a flush) fails while the
 * batch before it may be pending, committed with its meta page not yet
 * flushed.  Whatever was acknowledged must survive a power cut, and the
 * log must take submissions again.  For a failed fdatasync, a second run
 * cuts the power at the very next one: then nothing the failed flush
 * should have made durable has been made durable by a later commit. */
static void
test_faults_concurrent(void **state)
{
	static const char *const ops[] = {"fdatasync", "pwrite"};
	struct pl p;
	struct h_server s;
	size_t runs = 0, cuts = 0, acked = 0, refused = 0;

	(void)state;
	pl_init(&p, "closurelogd", PC_DROP, 11);
	/* 250 entries: each run's 24 complete entry bundle 0. */
	pl_base_make(&p);
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		for (long n = 2; n <= 12; n++) {
			for (int cut = 0; cut < (o == 0 ? 2 : 1); cut++) {
				char spec[64];
				struct pc_stats st;
				size_t got;
				int rc;

				snprintf(spec, sizeof spec, "%s:%ld:%d", ops[o], n, EIO);
				if (pc_base_restore(p.base) != 0)
					fail_msg("restoring the base store: %s", strerror(errno));
				unlink(p.journal);
				p.n_acks = 0;
				p.n_cks = 0;
				p.cut_op = cut ? "fdatasync" : NULL;
				rc = pl_start(&p, &s, false, cut ? n + 1 : 0, spec, NULL);
				p.cut_op = NULL;
				if (rc == -2)
					continue; /* the cut landed in the start-up */
				if (rc != 0)
					fail_msg("%s: %s", spec, p.why);
				got = pl_load(&p, &s, 24, true);
				acked += got;
				refused += 24 - got;
				if (cut) {
					h_server_stop(&s, SIGKILL);
				} else {
					/* Recovered: the next one is acknowledged. */
					if (pl_load(&p, &s, 1, false) != 1)
						fail_msg("%s: the log did not take a submission "
						         "after the fault",
						    spec);
					h_server_stop(&s, SIGKILL);
				}
				if (pc_rebuild(p.journal, p.base, false, PC_DROP, 0, &st) != 0)
					fail_msg("rebuilding: %s", strerror(errno));
				if (pl_start(&p, &s, true, 0, NULL, NULL) != 0 ||
				    pl_check(&p, &s, 0) != 0)
					fail_msg("%s%s: after the power cut: %s", spec,
					    cut ? " and a cut at the next fdatasync" : "", p.why);
				h_server_stop(&s, SIGKILL);
				runs++;
				cuts += (size_t)cut;
			}
		}
	}
	print_message("  %zu faults under 4 concurrent clients (%zu of them cut at the next "
	              "fdatasync): %zu submissions refused or cut off, %zu acknowledged, 0 lost; "
	              "the log took submissions again after each fault\n",
	    runs, cuts, refused, acked);
	assert_true(refused > 0);
	pl_free(&p);
}

/* ---- A map that grows online ---- */

struct prober {
	const struct h_server *s;
	atomic_bool stop;
	size_t reads, bad;
};

/* Read while the map grows: every read must succeed. */
static void *
prober_main(void *arg)
{
	struct prober *pr = arg;
	char url[160];

	while (!pr->stop) {
		uint8_t *body;
		size_t len;
		long st;

		snprintf(url, sizeof url, "%s/%s", pr->s->url,
		    pr->reads % 2 ? "checkpoint" : "v1/entries/0");
		st = h_get(url, &body, &len);
		free(body);
		pr->bad += st != 200;
		pr->reads++;
	}
	return NULL;
}

static void
test_mapgrow(void **state)
{
	static const char *const flags[] = {"--map-size", "1M", "--map-max", "256M", NULL};
	enum { N = 6000 };
	struct pl p;
	struct h_server s;
	struct su_result *res = calloc(N, sizeof *res);
	struct prober pr;
	pthread_t tid;
	uint8_t *err;
	size_t elen, grown = 0;
	struct su_ack a;

	(void)state;
	assert_non_null(res);
	pl_init(&p, "closurelogd", PC_DROP, 3);
	/* Noisy: bundles would compress near-identical envelopes to little. */
	p.cap_envs = N + 1;
	p.envs = calloc(p.cap_envs, sizeof *p.envs);
	p.lens = calloc(p.cap_envs, sizeof *p.lens);
	assert_true(p.envs != NULL && p.lens != NULL);
	for (; p.n_envs < N + 1; p.n_envs++)
		p.envs[p.n_envs] = su_envelope_noisy(p.n_envs, &p.lens[p.n_envs]);
	if (pl_start(&p, &s, true, 0, NULL, flags) != 0)
		fail_msg("%s", p.why);
	assert_int_equal(su_submit(&s, &p.lk, p.envs[N], p.lens[N], &a, NULL), 201);
	pr = (struct prober){&s, false, 0, 0};
	assert_int_equal(pthread_create(&tid, NULL, prober_main, &pr), 0);
	su_blast(&s, p.envs, p.lens, N, 8, res);
	pr.stop = true;
	pthread_join(tid, NULL);
	for (size_t i = 0; i < N; i++) {
		if (res[i].status != 201)
			fail_msg("submission %zu answered %ld while the map grew: %s", i,
			    res[i].status, res[i].body != NULL ? (char *)res[i].body : "");
		su_check_ack(
		    &p.lk, p.envs[i], p.lens[i], res[i].status, res[i].body, res[i].len, &a);
	}
	su_results_free(res, N);
	assert_int_equal(pr.bad, 0);
	err = h_read(p.err, &elen);
	for (const char *q = (char *)err; (q = strstr(q, "grown to")) != NULL; q++)
		grown++;
	free(err);
	print_message("  %d concurrent submissions from a 1 MiB map: all acknowledged; the map "
	              "grew %zu times; %zu reads meanwhile, all answered\n",
	    N, grown, pr.reads);
	assert_true(grown >= 2);
	/* And it all survives a restart at the original --map-size. */
	assert_int_equal(WEXITSTATUS(h_server_stop(&s, SIGTERM)), 0);
	if (pl_start(&p, &s, true, 0, NULL, flags) != 0)
		fail_msg("%s", p.why);
	{
		struct sth c;

		su_checkpoint(&s, &p.lk, &c);
		assert_int_equal(c.size, N + 1);
		assert_int_equal(su_submit(&s, &p.lk, p.envs[0], p.lens[0], &a, NULL), 200);
	}
	h_server_stop(&s, SIGTERM);
	free(res);
	pl_free(&p);
}

/* A failed test must not leave the preload set for the next one. */
/* ---- A process crash, then a power cut ---- */

/* A crash of the process (not the machine) with a commit pending leaves
 * its meta page in the page cache only.  The restarted closurelogd reads
 * that tree: it must make it durable before it signs and serves a
 * checkpoint for it, or a power cut then takes back a tree the log signed.
 * Each round crashes closurelogd just before one of its first syncs under
 * load (a commit's meta page written, not flushed), restarts it on the
 * crashed process's files, takes the checkpoint it serves, crashes it
 * again, and cuts the power: the recovered tree must hold that checkpoint
 * and every acknowledged entry. */
static void
test_crash_restart(void **state)
{
	struct pl p;
	struct h_server s;
	char url[256], w[CL_WHY_MAX];
	int st;

	(void)state;
	pl_init(&p, "closurelogd", PC_DROP, 11);
	if (pl_start(&p, &s, false, 0, NULL, NULL) != 0)
		fail_msg("%s", p.why);
	pl_load(&p, &s, 8, false);
	h_server_stop(&s, SIGKILL);
	pl_rebuild(&p, PC_DROP);
	for (long cut = 1; cut <= 10; cut++) {
		uint8_t *body;
		size_t len;
		struct sth head;
		int rc;

		p.cut_op = "fdatasync";
		rc = pl_start(&p, &s, false, cut, NULL, NULL);
		p.cut_op = NULL;
		if (rc == -2) {
			pl_rebuild(&p, PC_DROP);
			continue;
		}
		if (rc != 0)
			fail_msg("%s", p.why);
		pl_load(&p, &s, 40, false);
		if (waitpid(s.pid, &st, WNOHANG) == s.pid)
			s.pid = 0;
		else
			h_server_stop(&s, SIGKILL);
		/* The process is gone, the page cache holds its writes. */
		if (pl_start(&p, &s, false, 0, NULL, NULL) != 0)
			fail_msg("cut %ld: %s", cut, p.why);
		snprintf(url, sizeof url, "%s/checkpoint", s.url);
		if (h_get(url, &body, &len) != 200 ||
		    sth_open(body, len, &p.lk, NULL, &head, w) != 0)
			fail_msg("cut %ld: no valid checkpoint after the crash", cut);
		free(body);
		pl_ck_add(&p, head.size, head.root);
		h_server_stop(&s, SIGKILL);
		/* Now the power cut. */
		pl_rebuild(&p, PC_DROP);
		if (pl_start(&p, &s, false, 0, NULL, NULL) != 0)
			fail_msg("cut %ld: %s", cut, p.why);
		rc = pl_check(&p, &s, p.cycle_acks);
		h_server_stop(&s, SIGTERM);
		if (rc != 0)
			fail_msg("crash at sync %ld, restart, power cut: %s", cut, p.why);
		p.cycle_acks = p.n_acks;
		pl_rebuild(&p, PC_DROP);
	}
	pl_free(&p);
}

static int
env_clear(void **state)
{
	(void)state;
	pc_env_clear();
	unsetenv("CL_TEST_DAEMON");
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest all[] = {
	    cmocka_unit_test_teardown(test_drop, env_clear),
	    cmocka_unit_test_teardown(test_torn, env_clear),
	    cmocka_unit_test_teardown(test_synccut, env_clear),
	    cmocka_unit_test_teardown(test_nosync_detected, env_clear),
	    cmocka_unit_test_teardown(test_faults, env_clear),
	    cmocka_unit_test_teardown(test_faults_concurrent, env_clear),
	    cmocka_unit_test_teardown(test_mapgrow, env_clear),
	    cmocka_unit_test_teardown(test_crash_restart, env_clear),
	    cmocka_unit_test_teardown(test_bundlecut, env_clear),
	};
	const char *only = argc > 1 ? argv[1] : NULL;

	if (argc > 2)
		n_cycles = strtoul(argv[2], NULL, 10);
	su_init();
	if (only != NULL) {
		char filter[64];

		snprintf(filter, sizeof filter, "test_%s*", only);
		cmocka_set_test_filter(filter);
	}
	return cmocka_run_group_tests(all, NULL, NULL);
}
