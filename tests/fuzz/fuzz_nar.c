/*
 * fuzz_nar.c: what the NAR walker takes from the file system without
 * choosing it, entry names and symlink targets, checked on arbitrary
 * bytes: the checks must never crash, must refuse with a reason, and must
 * accept exactly the strings NAR can hold (compared with a direct
 * restatement of the rules).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "nar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char why[CL_WHY_MAX];
	bool name_ok = size >= 1 && size <= NAR_NAME_MAX && memchr(s, '/', size) == NULL &&
	    memchr(s, '\0', size) == NULL && !(size == 1 && s[0] == '.') &&
	    !(size == 2 && s[0] == '.' && s[1] == '.');
	bool target_ok = size >= 1 && size <= NAR_TARGET_MAX && memchr(s, '\0', size) == NULL;
	int rc;

	why[0] = '\0';
	rc = nar_name_check(s, size, why);
	if ((rc == 0) != name_ok || (rc != 0 && why[0] == '\0'))
		abort();
	why[0] = '\0';
	rc = nar_target_check(s, size, why);
	if ((rc == 0) != target_ok || (rc != 0 && why[0] == '\0'))
		abort();
	return 0;
}
