/*
 * cmd_nar_hash.c: closurelog nar-hash, the narHash of paths on disk.
 *
 * The running-bag check of a broker: recompute what Nix recorded for a
 * store path from the bytes that are there now.  The walk is proto/nar.c,
 * the same code libclosurelog-verify runs (closurelog_nar_hash), so the
 * command and the library always agree.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cl.h"
#include "cli.h"
#include "nar.h"
#include "nix.h"
#include "opts.h"
#include "show.h"

static const char usage[] =
    "usage: closurelog nar-hash [--base32] [--json] PATH...\n"
    "\n"
    "Serialise each PATH as a NAR (Nix ARchive: file contents, the executable bit,\n"
    "symlink targets, directory entries sorted by name) and print its SHA-256, the\n"
    "narHash Nix records for a store path, one line per PATH in order.  The result is\n"
    "byte for byte that of `nix-hash --type sha256 PATH`.  A symlink PATH is hashed as\n"
    "a symlink (not followed).  Sockets, FIFOs and devices cannot be in a NAR and\n"
    "are refused.\n"
    "\n"
    "  --base32   print Nix's base-32 (nix32) digest instead of SRI sha256-<base64>\n"
    "  --json     print a JSON array of {path, narHash, nix32}\n"
    "\n"
    "Exit status: 0 every PATH was hashed; 2 a PATH cannot be read or holds\n"
    "something a NAR cannot represent (nothing is printed for it or after it).\n";

int
cli_cmd_nar_hash(int argc, char **argv)
{
	bool base32 = false, json = false;
	const struct cli_opt opts[] = {
	    CLI_FLAG("base32", &base32),
	    CLI_FLAG("json", &json),
	};
	json_t *arr = NULL;
	int first, rc;

	if ((rc = cli_opts_parse(argc, argv, opts, CLI_OPTS_N(opts), usage, &first)) != CLI_GO)
		return rc;
	if (first == argc)
		return cli_fail(CLI_USAGE, "give at least one PATH (see --help)");
	if (json && (arr = json_array()) == NULL)
		return cli_fail(CLI_FAIL, "out of memory");
	for (int i = first; i < argc; i++) {
		struct nix_hash h = {.algo = NIX_SHA256, .len = NAR_HASH_LEN};
		char why[CL_WHY_MAX], sri[NIX_HASH_STR_MAX], n32[64];

		if ((rc = nar_hash(argv[i], h.bytes, why)) != 0) {
			json_decref(arr);
			return cli_fail(rc == CL_ENOMEM ? CLI_FAIL : CLI_USAGE, "%s", why);
		}
		if (nix_hash_sri(&h, sri, sizeof sri) == 0) {
			json_decref(arr);
			return cli_fail(CLI_FAIL, "cannot format the hash");
		}
		nix_base32_encode(h.bytes, h.len, n32);
		if (json) {
			json_t *o = json_pack(
			    "{s:s, s:s, s:s}", "path", argv[i], "narHash", sri, "nix32", n32);

			if (o == NULL || json_array_append_new(arr, o) != 0) {
				json_decref(arr);
				return cli_fail(
				    CLI_USAGE, "%s: cannot be shown in JSON (not UTF-8?)", argv[i]);
			}
		} else {
			printf("%s\n", base32 ? n32 : sri);
		}
	}
	if (json)
		return cli_show_json_print(arr);
	return fflush(stdout) == 0 ? CLI_OK : cli_fail(CLI_FAIL, "cannot write the output");
}
