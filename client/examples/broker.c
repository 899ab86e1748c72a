/*
 * broker.c: an example credential broker built on libclosurelog-verify.
 *
 *   broker LOG_KEY_FILE SUBMITTERS_FILE BUNDLE ROOT
 *   broker renew POLICY ROOT NAR_HASH MINUTES [PREV_ROOT]
 *
 * A deployment asks for a credential for the closure ROOT and shows the
 * proof bundle CI produced for it.  The broker issues the credential only
 * if the bundle proves, offline, that an accepted CI key attested exactly
 * ROOT and that the attestation is in the log whose key it trusts.  It
 * prints "issue" (exit 0) or "deny: <reason>" (exit 1), and fails closed:
 * anything it cannot read or parse is a denial.  Exit 2 is a wrong command
 * line.
 *
 * LOG_KEY_FILE holds one C2SP verifier key.  SUBMITTERS_FILE holds one
 * verifier key per line; blank lines and lines starting with '#' are
 * skipped (the format of closurelogd's submitters file).
 *
 * renew gates a credential renewal on a policy (the data.json that
 * `closurelog policy build` writes): the workload presents its closure
 * root, its narHash, the lifetime it asks for and, after a hotfix, the
 * root it ran before.  The broker loads the policy once (a real one at
 * start-up, and again when CI publishes a new one), then decides each
 * renewal with no allocation; any number of threads may decide at once.
 * It prints "issue env_hash=<narHash> policy_id=<revision>" (the tags for
 * the credential; exit 0) or one "deny: <reason>" line per failed rule
 * (exit 1).
 *
 * It uses only the public header and the C library, like a broker built
 * out of tree with `cc broker.c $(pkg-config --cflags --libs closurelog-verify)`.
 */
#include <closurelog/verify.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX  (1024 * 1024)
#define KEYS_MAX  CLOSURELOG_SUBMITTER_KEYS_MAX
#define LINE_MAX_ 1024

static int __attribute__((format(printf, 1, 2))) deny(const char *fmt, ...)
{
	va_list ap;

	printf("deny: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

/* Read a whole file (at most FILE_MAX bytes) into a malloc'd buffer with a
 * NUL after the data. */
static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(FILE_MAX + 1)) != NULL) {
		n = fread(buf, 1, FILE_MAX + 1, f);
		if (ferror(f) || n > FILE_MAX) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = n;
		}
	}
	fclose(f);
	return buf;
}

/* Remove trailing whitespace (a key file ends in a newline). */
static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* broker renew POLICY ROOT NAR_HASH MINUTES [PREV_ROOT] */
static int
renew(int argc, char **argv)
{
	struct closurelog_policy *policy = NULL;
	struct closurelog_decision d;
	struct closurelog_request req;
	char err[CLOSURELOG_ERR_MAX], *end;
	unsigned char *doc;
	unsigned long long minutes;
	uint64_t m;
	size_t len;
	int rc;

	if (argc != 6 && argc != 7) {
		fprintf(
		    stderr, "usage: %s renew POLICY ROOT NAR_HASH MINUTES [PREV_ROOT]\n", argv[0]);
		return 2;
	}
	minutes = strtoull(argv[5], &end, 10);
	if (argv[5][0] < '0' || argv[5][0] > '9' || *end != '\0')
		return deny("MINUTES \"%s\" is not a number", argv[5]);
	m = minutes;

	/* Once, at start-up. */
	if ((doc = slurp(argv[2], &len)) == NULL)
		return deny("cannot read the policy %s", argv[2]);
	rc = closurelog_policy_load(doc, len, NULL, &policy, err, sizeof err);
	free(doc);
	if (rc != 0)
		return deny("policy %s: %s", argv[2], err);

	/* At each renewal. */
	req.root = argv[3];
	req.nar_hash = argv[4];
	req.prev_root = argc == 7 ? argv[6] : NULL;
	req.requested_minutes = &m;
	rc = closurelog_policy_decide(policy, &req, &d);
	if (rc == 0 && d.allow) {
		printf("issue env_hash=%s policy_id=%s\n", d.env_hash, d.policy_id);
	} else {
		for (size_t i = 0; i < d.n_reasons; i++)
			deny("%s", d.reasons[i]);
	}
	closurelog_policy_free(policy);
	return rc == 0 && d.allow ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct closurelog_verifier *v = NULL;
	struct closurelog_result res;
	char log_key[LINE_MAX_], err[CLOSURELOG_ERR_MAX];
	char *subs_text = NULL, *line, *next;
	const char **subs = NULL;
	unsigned char *bundle = NULL;
	size_t n_subs = 0, len, bundle_len = 0;
	FILE *f;
	int rc = 1;

	if (argc >= 2 && strcmp(argv[1], "renew") == 0)
		return renew(argc, argv);
	if (argc != 5) {
		fprintf(stderr,
		    "usage: %s LOG_KEY_FILE SUBMITTERS_FILE BUNDLE ROOT\n"
		    "       %s renew POLICY ROOT NAR_HASH MINUTES [PREV_ROOT]\n",
		    argv[0], argv[0]);
		return 2;
	}

	if ((f = fopen(argv[1], "r")) == NULL || fgets(log_key, sizeof log_key, f) == NULL) {
		if (f != NULL)
			fclose(f);
		return deny("cannot read the log key from %s", argv[1]);
	}
	fclose(f);
	chomp(log_key);

	if ((subs_text = (char *)slurp(argv[2], &len)) == NULL) {
		rc = deny("cannot read the submitters file %s", argv[2]);
		goto out;
	}
	if ((subs = calloc(KEYS_MAX, sizeof *subs)) == NULL) {
		rc = deny("out of memory");
		goto out;
	}
	for (line = subs_text; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		chomp(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n_subs == KEYS_MAX) {
			rc = deny("too many keys in %s", argv[2]);
			goto out;
		}
		subs[n_subs++] = line;
	}

	/* One verifier per thread; a real broker creates it once at startup. */
	if (closurelog_verifier_new(log_key, NULL, subs, n_subs, &v, err, sizeof err) != 0) {
		rc = deny("broker configuration: %s", err);
		goto out;
	}
	if ((bundle = slurp(argv[3], &bundle_len)) == NULL) {
		rc = deny("cannot read the bundle %s", argv[3]);
		goto out;
	}
	if (closurelog_verify_bundle(v, bundle, bundle_len, argv[4], NULL, &res) != CLOSURELOG_OK) {
		rc = deny("%s", res.reason);
		goto out;
	}
	printf("issue\n");
	fprintf(stderr, "%s: entry %llu of %s, attested by %s (%s)\n", res.root,
	    (unsigned long long)res.index, res.origin, res.submitter, res.submitter_keyid);
	rc = 0;
out:
	closurelog_verifier_free(v);
	free(bundle);
	free(subs);
	free(subs_text);
	return rc;
}
