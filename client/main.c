/*
 * main.c: closurelog, the client of the closurelog transparency log.
 *
 * One binary, one subcommand per task: CI signs and submits, brokers
 * verify offline, auditors audit.  Each subcommand parses its own flags
 * and has --help.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "http.h"

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *what;
	bool online; /* talks to a log: needs libcurl */
} commands[] = {
    {"keygen", cli_cmd_keygen, "create an Ed25519 key pair (C2SP note key format)", false},
    {"attest", cli_cmd_attest, "sign a closure attestation into a DSSE envelope", false},
    {"inspect", cli_cmd_inspect, "show an envelope, bundle, tlog-proof or checkpoint", false},
    {"submit", cli_cmd_submit, "submit envelopes to a log and save proof bundles", true},
    {"verify", cli_cmd_verify, "check a proof bundle offline", false},
    {"audit", cli_cmd_audit, "check that the log's new checkpoint extends the last one", true},
    {"mirror", cli_cmd_mirror, "follow a log into a static tlog-tiles directory", true},
    {"verify-evidence", cli_cmd_verify_evidence, "re-check fork evidence written by audit", false},
    {"get", cli_cmd_get, "fetch an entry by index", true},
    {"prove", cli_cmd_prove, "fetch a proof bundle or a consistency proof", true},
    {"search", cli_cmd_search, "find entries by root, narHash or submitter", true},
    {"nar-hash", cli_cmd_nar_hash, "compute the narHash of paths on disk", false},
    {"check", cli_cmd_check, "decide a renewal against a policy bundle, offline", false},
    {"policy", cli_cmd_policy, "build a policy bundle from the log (policy build)", true},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: closurelog <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].what);
	fprintf(f,
	    "\n'closurelog <command> --help' describes a command.\n"
	    "Exit status: 0 success, 1 verification failed or the log refused, 2 usage or "
	    "input error.\n");
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("closurelog %s\n", CL_VERSION);
		return CLI_OK;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "closurelog: libsodium failed to initialise\n");
		return CLI_FAIL;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		cli_command = commands[i].name;
		if (!commands[i].online)
			return commands[i].run(argc - 1, argv + 1);
		if (cli_http_init() != 0) {
			fprintf(stderr, "closurelog: libcurl failed to initialise\n");
			return CLI_FAIL;
		}
		rc = commands[i].run(argc - 1, argv + 1);
		cli_http_cleanup();
		return rc;
	}
	fprintf(stderr, "closurelog: unknown command \"%s\" (see closurelog --help)\n", argv[1]);
	return CLI_USAGE;
}
