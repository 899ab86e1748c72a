/*
 * nar_api.c: closurelog_nar_hash, the library's face of proto/nar.c (the
 * same walker `closurelog nar-hash` runs), with the library's status codes.
 */
#include "closurelog/verify.h"

#include <errno.h>
#include <string.h>

#include "cl.h"
#include "nar.h"
#include "nix.h"

enum closurelog_status
closurelog_nar_hash(const char *path, char out[CLOSURELOG_NAR_HASH_MAX], char *err, size_t err_len)
{
	struct nix_hash h = {.algo = NIX_SHA256, .len = NAR_HASH_LEN};
	char why[CL_WHY_MAX];
	int rc;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (out != NULL)
		out[0] = '\0';
	if (path == NULL || out == NULL)
		return cl_why_n(err, err_len, CLOSURELOG_EUSAGE, "no path or no output buffer");
	if ((rc = nar_hash(path, h.bytes, why)) == 0 &&
	    nix_hash_sri(&h, out, CLOSURELOG_NAR_HASH_MAX) == 0)
		rc = CL_EINVAL;
	if (rc != 0)
		cl_why_n(err, err_len, rc, "%s", why);
	switch (rc) {
	case 0:
		return 0;
	case CL_ENOMEM:
		out[0] = '\0';
		return CLOSURELOG_ESYSTEM;
	case CL_EINVAL:
	case CL_ETOOBIG:
	case CL_EMISMATCH:
	case CL_ECRYPTO:
		out[0] = '\0';
		return CLOSURELOG_EMALFORMED;
	default:
		out[0] = '\0';
		return rc > 0 ? CLOSURELOG_ESYSTEM : CLOSURELOG_EMALFORMED;
	}
}
