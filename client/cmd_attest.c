/*
 * cmd_attest.c: closurelog attest, for CI: build a ClosureAttestation from
 * flags, sign it (DSSE, Ed25519) and write the envelope.
 *
 * Inputs are checked with the same rules the log applies (wire.h), so a
 * CI job learns of a bad field here, not at submission.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

enum {
	O_KEY = 256,
	O_ROOT,
	O_NAR,
	O_LOCK,
	O_LOCKD,
	O_SUCC,
	O_SYSTEM,
	O_SANDBOX,
	O_NOSANDBOX,
	O_SUBST,
	O_TPK,
	O_BUILDER,
	O_RUNURL,
	O_TIME,
	O_EXTRA,
};

static const struct option opts[] = {
    {"key", required_argument, NULL, O_KEY},
    {"root", required_argument, NULL, O_ROOT},
    {"nar-hash", required_argument, NULL, O_NAR},
    {"flake-lock", required_argument, NULL, O_LOCK},
    {"flake-lock-digest", required_argument, NULL, O_LOCKD},
    {"successor", required_argument, NULL, O_SUCC},
    {"system", required_argument, NULL, O_SYSTEM},
    {"sandbox", no_argument, NULL, O_SANDBOX},
    {"no-sandbox", no_argument, NULL, O_NOSANDBOX},
    {"substituter", required_argument, NULL, O_SUBST},
    {"trusted-public-key", required_argument, NULL, O_TPK},
    {"builder", required_argument, NULL, O_BUILDER},
    {"run-url", required_argument, NULL, O_RUNURL},
    {"build-time", required_argument, NULL, O_TIME},
    {"extra-digest", required_argument, NULL, O_EXTRA},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

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

int
cli_cmd_attest(int argc, char **argv)
{
	struct cl_attestation att;
	const char *key_path = NULL, *out_path = NULL, *lock_file = NULL, *lock_digest = NULL;
	const char *nar_in = NULL, *time_in = NULL;
	const char *succ[LIST_MAX], *subst[LIST_MAX], *tpk[LIST_MAX];
	size_t n_succ = 0, n_subst = 0, n_tpk = 0, n_extra = 0;
	struct cl_extra_digest extra[CL_EXTRA_MAX];
	struct digest_buf extra_buf[CL_EXTRA_MAX], lock;
	char extra_names[CL_EXTRA_MAX][CL_DIGEST_NAME_MAX + 1];
	char nar_sri[NIX_HASH_STR_MAX], why[CL_WHY_MAX];
	struct note_signer s;
	struct wire_arena a;
	const uint8_t *payload, *env;
	size_t plen, elen;
	void *abuf = NULL;
	int c, rc = CLI_USAGE;

	memset(&att, 0, sizeof att);
	att.system = att.builder_id = att.run_url = "";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key_path = optarg;
			break;
		case O_ROOT:
			att.root = optarg;
			break;
		case O_NAR:
			nar_in = optarg;
			break;
		case O_LOCK:
			lock_file = optarg;
			break;
		case O_LOCKD:
			lock_digest = optarg;
			break;
		case O_SUCC:
		case O_SUBST:
		case O_TPK: {
			const char **list = c == O_SUCC ? succ : c == O_SUBST ? subst : tpk;
			size_t *n = c == O_SUCC ? &n_succ : c == O_SUBST ? &n_subst : &n_tpk;

			if (*n == LIST_MAX)
				return cli_fail(CLI_USAGE, "at most %d of --%s", LIST_MAX,
				    c == O_SUCC        ? "successor"
				        : c == O_SUBST ? "substituter"
				                       : "trusted-public-key");
			list[(*n)++] = optarg;
			break;
		}
		case O_SYSTEM:
			att.system = optarg;
			break;
		case O_SANDBOX:
			att.sandbox = CL_SANDBOX_ON;
			break;
		case O_NOSANDBOX:
			att.sandbox = CL_SANDBOX_OFF;
			break;
		case O_BUILDER:
			att.builder_id = optarg;
			break;
		case O_RUNURL:
			att.run_url = optarg;
			break;
		case O_TIME:
			time_in = optarg;
			break;
		case O_EXTRA: {
			const char *eq = strchr(optarg, '=');
			size_t nl = eq != NULL ? (size_t)(eq - optarg) : 0;

			if (n_extra == CL_EXTRA_MAX)
				return cli_fail(
				    CLI_USAGE, "--extra-digest: at most %d", CL_EXTRA_MAX);
			if (eq == NULL || nl == 0 || nl > CL_DIGEST_NAME_MAX)
				return cli_fail(
				    CLI_USAGE, "--extra-digest: expected NAME=FILE or NAME=HASH");
			memcpy(extra_names[n_extra], optarg, nl);
			extra_names[n_extra][nl] = '\0';
			/* A hash if it parses as one, else a file to hash. */
			{
				struct nix_hash h;

				if (nix_hash_parse(eq + 1, strlen(eq + 1), 0, &h, NULL) == 0) {
					if ((rc = digest_set(
					         "--extra-digest", &h, &extra_buf[n_extra])) != 0)
						return rc;
				} else if ((rc = digest_file("--extra-digest", eq + 1,
				                &extra_buf[n_extra])) != 0) {
					return rc;
				}
			}
			extra[n_extra].name = extra_names[n_extra];
			extra[n_extra].digest = extra_buf[n_extra].d;
			n_extra++;
			break;
		}
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			return cli_fail(CLI_USAGE, "unknown or incomplete option %s (see --help)",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_fail(CLI_USAGE, "unexpected argument \"%s\" (see --help)", argv[optind]);
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
	att.n_successors = n_succ;
	att.substituters = subst;
	att.n_substituters = n_subst;
	att.trusted_keys = tpk;
	att.n_trusted_keys = n_tpk;
	att.extra = extra;
	att.n_extra = n_extra;
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
