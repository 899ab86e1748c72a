/*
 * cmd_attest.c: closurelog attest, for CI: build a ClosureAttestation from
 * flags, sign it (DSSE, Ed25519) and write the envelope.
 *
 * Inputs are checked with the same rules the log applies (wire.h), so a
 * CI job learns of a bad field here, not at submission.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cl.h"
#include "cli.h"
#include "dsse.h"
#include "file.h"
#include "key.h"
#include "nix.h"
#include "opts.h"
#include "wire.h"

static const char usage[] =
    "usage: closurelog attest --key FILE --root PATH --nar-hash HASH\n"
    "           (--flake-lock FILE | --flake-lock-digest HASH) [options] -o OUT\n"
    "\n"
    "Sign a closure attestation with the CI key and write the DSSE envelope (binary\n"
    "protobuf) to OUT ('-' for standard output).\n"
    "\n"
    "  --key FILE                 the submitter's private key (mode 0600)\n"
    "  --root PATH                the closure's root store path, /nix/store/<hash>-<name>\n"
    "  --nar-hash HASH            its narHash: sha256-<base64> (SRI), sha256:<nix32|hex>\n"
    "  --flake-lock FILE          the flake.lock used (its SHA-256 is attested)\n"
    "  --flake-lock-digest HASH   or the digest itself (sha256 or sha512, any Nix form)\n"
    "  --successor PATH           a store path allowed to replace the root (repeatable)\n"
    "  --system SYSTEM            Nix system, e.g. x86_64-linux\n"
    "  --sandbox | --no-sandbox   whether the build ran in the Nix sandbox\n"
    "  --substituter URL          a binary cache the build used (repeatable)\n"
    "  --trusted-public-key KEY   a Nix signing key it trusted, name:base64 (repeatable)\n"
    "  --builder ID               the builder's identity\n"
    "  --run-url URL              the CI run (http or https)\n"
    "  --build-time SECONDS       build time (default: now, or $SOURCE_DATE_EPOCH)\n"
    "  --extra-digest NAME=FILE   an extra digest (e.g. sbom=sbom.json), SHA-256 of FILE;\n"
    "                             NAME=HASH takes a digest in any Nix form (repeatable)\n"
    "  -o, --output OUT           where to write the envelope\n";

#define LIST_MAX 64

struct digest_buf {
	struct cl_digest d;
	uint8_t bytes[64];
};

/* A digest from a parsed Nix hash; sha256 and sha512 only. */
static int
digest_set(const char *opt, const struct nix_hash *h, struct digest_buf *out)
{
	if (h->algo != NIX_SHA256 && h->algo != NIX_SHA512)
		return cli_fail(CLI_USAGE, "%s: use a sha256 or sha512 digest", opt);
	memcpy(out->bytes, h->bytes, h->len);
	out->d.algorithm = nix_algo_name(h->algo);
	out->d.value = out->bytes;
	out->d.len = h->len;
	return 0;
}

/* A digest from a Nix hash string (a bare one is sha256). */
static int
digest_parse(const char *opt, const char *s, struct digest_buf *out)
{
	struct nix_hash h;
	char why[CL_WHY_MAX];

	if (nix_hash_parse(s, strlen(s), NIX_SHA256, &h, why) != 0)
		return cli_fail(CLI_USAGE, "%s: %s", opt, why);
	return digest_set(opt, &h, out);
}

/* The SHA-256 of a file ('-': standard input), read in pieces: any size. */
static int
digest_file(const char *opt, const char *path, struct digest_buf *out)
{
	crypto_hash_sha256_state st;
	uint8_t chunk[64 * 1024];
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return cli_fail(CLI_USAGE, "%s: %s: %s", opt, path, strerror(errno));
	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof chunk);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = got < 0 ? errno : 0;
			break;
		}
		crypto_hash_sha256_update(&st, chunk, (size_t)got);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (err != 0)
		return cli_fail(CLI_USAGE, "%s: %s: %s", opt, path, strerror(err));
	crypto_hash_sha256_final(&st, out->bytes);
	out->d.algorithm = "sha256";
	out->d.value = out->bytes;
	out->d.len = 32;
	return 0;
}

/* The --extra-digest values, in order. */
struct extras {
	size_t n;
	struct cl_extra_digest d[CL_EXTRA_MAX];
	struct digest_buf buf[CL_EXTRA_MAX];
	char names[CL_EXTRA_MAX][CL_DIGEST_NAME_MAX + 1];
};

/* --extra-digest NAME=FILE or NAME=HASH. */
static int
extra_add(void *ctx, const char *arg)
{
	struct extras *x = ctx;
	const char *eq = strchr(arg, '=');
	size_t nl = eq != NULL ? (size_t)(eq - arg) : 0;
	struct nix_hash h;
	int rc;

	if (x->n == CL_EXTRA_MAX)
		return cli_fail(CLI_USAGE, "--extra-digest: at most %d", CL_EXTRA_MAX);
	if (eq == NULL || nl == 0 || nl > CL_DIGEST_NAME_MAX)
		return cli_fail(CLI_USAGE, "--extra-digest: expected NAME=FILE or NAME=HASH");
	memcpy(x->names[x->n], arg, nl);
	x->names[x->n][nl] = '\0';
	/* A hash if it parses as one, else a file to hash. */
	if (nix_hash_parse(eq + 1, strlen(eq + 1), 0, &h, NULL) == 0)
		rc = digest_set("--extra-digest", &h, &x->buf[x->n]);
	else
		rc = digest_file("--extra-digest", eq + 1, &x->buf[x->n]);
	if (rc != 0)
		return rc;
	x->d[x->n].name = x->names[x->n];
	x->d[x->n].digest = x->buf[x->n].d;
	x->n++;
	return 0;
}

static int
sandbox_on(void *att, const char *arg)
{
	(void)arg;
	((struct cl_attestation *)att)->sandbox = CL_SANDBOX_ON;
	return 0;
}

static int
sandbox_off(void *att, const char *arg)
{
	(void)arg;
	((struct cl_attestation *)att)->sandbox = CL_SANDBOX_OFF;
	return 0;
}

int
cli_cmd_attest(int argc, char **argv)
{
	struct cl_attestation att;
	const char *key_path = NULL, *out_path = NULL, *lock_file = NULL, *lock_digest = NULL;
	const char *nar_in = NULL, *time_in = NULL;
	const char *succ[LIST_MAX], *subst[LIST_MAX], *tpk[LIST_MAX];
	struct cli_opt_list succ_l = {succ, 0, LIST_MAX}, subst_l = {subst, 0, LIST_MAX},
	                    tpk_l = {tpk, 0, LIST_MAX};
	struct extras x;
	struct digest_buf lock;
	char nar_sri[NIX_HASH_STR_MAX], why[CL_WHY_MAX];
	struct note_signer s;
	struct wire_arena a;
	const uint8_t *payload, *env;
	size_t plen, elen;
	void *abuf = NULL;
	int first, rc;
	const struct cli_opt opts[] = {
	    CLI_STR("key", &key_path),
	    CLI_STR("root", &att.root),
	    CLI_STR("nar-hash", &nar_in),
	    CLI_STR("flake-lock", &lock_file),
	    CLI_STR("flake-lock-digest", &lock_digest),
	    CLI_LIST("successor", &succ_l),
	    CLI_STR("system", &att.system),
	    CLI_FN("sandbox", &att, sandbox_on, false),
	    CLI_FN("no-sandbox", &att, sandbox_off, false),
	    CLI_LIST("substituter", &subst_l),
	    CLI_LIST("trusted-public-key", &tpk_l),
	    CLI_STR("builder", &att.builder_id),
	    CLI_STR("run-url", &att.run_url),
	    CLI_STR("build-time", &time_in),
	    CLI_FN("extra-digest", &x, extra_add, true),
	    CLI_STR_SHORT("output", 'o', &out_path),
	};

	memset(&att, 0, sizeof att);
	memset(&x, 0, sizeof x);
	att.system = att.builder_id = att.run_url = "";
	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		return rc;
	if (first != argc)
		return cli_fail(CLI_USAGE, "unexpected argument \"%s\" (see --help)", argv[first]);
	if (key_path == NULL || att.root == NULL || nar_in == NULL || out_path == NULL)
		return cli_fail(
		    CLI_USAGE, "--key, --root, --nar-hash and -o are required (see --help)");
	if ((lock_file == NULL) == (lock_digest == NULL))
		return cli_fail(
		    CLI_USAGE, "give exactly one of --flake-lock and --flake-lock-digest");

	{
		struct nix_hash h;

		if (nix_hash_parse(nar_in, strlen(nar_in), NIX_SHA256, &h, why) != 0)
			return cli_fail(CLI_USAGE, "--nar-hash: %s", why);
		if (h.algo != NIX_SHA256)
			return cli_fail(CLI_USAGE, "--nar-hash: a narHash is a sha256 hash");
		nix_hash_sri(&h, nar_sri, sizeof nar_sri);
		att.nar_hash = nar_sri;
	}
	if ((rc = lock_file != NULL ? digest_file("--flake-lock", lock_file, &lock)
	                            : digest_parse("--flake-lock-digest", lock_digest, &lock)) != 0)
		return rc;
	att.flake_lock = lock.d;
	att.successors = succ;
	att.n_successors = succ_l.n;
	att.substituters = subst;
	att.n_substituters = subst_l.n;
	att.trusted_keys = tpk;
	att.n_trusted_keys = tpk_l.n;
	att.extra = x.d;
	att.n_extra = x.n;
	if (time_in == NULL)
		time_in = getenv("SOURCE_DATE_EPOCH");
	if (time_in != NULL && *time_in != '\0') {
		if ((rc = cli_u64_arg("--build-time", time_in, &att.build_time)) != 0)
			return rc;
	} else {
		att.build_time = (uint64_t)time(NULL);
	}

	if (key_signer_load(key_path, &s, why) != 0)
		return cli_fail(CLI_USAGE, "--key: %s", why);
	if ((abuf = malloc(WIRE_ARENA_MIN)) == NULL) {
		note_signer_wipe(&s);
		return cli_fail(CLI_FAIL, "out of memory");
	}
	wire_arena_init(&a, abuf, WIRE_ARENA_MIN);
	if (wire_attestation_encode(&a, &att, &payload, &plen, why) != 0) {
		rc = cli_fail(CLI_USAGE, "%s", why);
		goto out;
	}
	if (dsse_sign(&a, &s, payload, plen, &env, &elen, why) != 0) {
		rc = cli_fail(CLI_FAIL, "signing failed: %s", why);
		goto out;
	}
	if (cl_file_write(out_path, env, elen, 0644, CL_FILE_STREAM, why) != 0) {
		rc = cli_fail(CLI_FAIL, "%s", why);
		goto out;
	}
	rc = CLI_OK;
out:
	note_signer_wipe(&s);
	free(abuf);
	return rc;
}
