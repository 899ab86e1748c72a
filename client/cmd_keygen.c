/*
 * cmd_keygen.c: closurelog keygen NAME OUTPREFIX
 *
 * Writes OUTPREFIX.key (the private key, mode 0600) and OUTPREFIX.pub (the
 * verifier key), both in C2SP signed-note key format, and prints the
 * verifier key.  Never overwrites an existing key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"
#include "cli.h"
#include "key.h"
#include "note.h"

static const char usage[] =
    "usage: closurelog keygen NAME OUTPREFIX\n"
    "\n"
    "Create an Ed25519 key named NAME (a key name: no spaces, no '+'; a schemeless\n"
    "URL such as ci.example.com/builder is recommended).  Writes OUTPREFIX.key\n"
    "(private, mode 0600) and OUTPREFIX.pub (the verifier key, for the log's\n"
    "submitters file and for verifiers), and prints the verifier key.  Existing\n"
    "files are never overwritten.\n";

int
cli_cmd_keygen(int argc, char **argv)
{
	struct note_signer s;
	struct note_verifier v;
	char key_path[4096], pub_path[4096], vkey[NOTE_VKEY_MAX], why[CL_WHY_MAX];
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (argc != 3 || argv[1][0] == '-') {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if ((size_t)snprintf(key_path, sizeof key_path, "%s.key", argv[2]) >= sizeof key_path ||
	    (size_t)snprintf(pub_path, sizeof pub_path, "%s.pub", argv[2]) >= sizeof pub_path)
		return cli_fail(CLI_USAGE, "OUTPREFIX is too long");
	if (note_signer_generate(argv[1], &s, why) != 0)
		return cli_fail(CLI_USAGE, "NAME: %s", why);
	note_signer_verifier(&s, &v);
	rc = key_signer_save(key_path, &s, why);
	note_signer_wipe(&s);
	if (rc != 0)
		return cli_fail(rc == EEXIST ? CLI_USAGE : CLI_FAIL, "%s", why);
	if (key_verifier_save(pub_path, &v, why) != 0)
		return cli_fail(CLI_FAIL, "%s", why);
	note_verifier_format(&v, vkey, sizeof vkey);
	printf("%s\n", vkey);
	return CLI_OK;
}
