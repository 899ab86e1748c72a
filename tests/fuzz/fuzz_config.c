/*
 * fuzz_config.c: closurelogd's config file reader (inih under our line
 * reader) must never crash or read out of bounds; a refusal is one
 * printable line naming the file; an accepted file leaves settings that
 * cfg_finish either accepts or refuses with a reason, never garbage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reason(const char *why)
{
	size_t n = strlen(why);

	if (n == 0 || n >= CL_WHY_MAX || strncmp(why, "fuzz.conf", 9) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)why[i] < ' ' || why[i] == 0x7f)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg c;
	char why[CL_WHY_MAX];
	/* The input in a buffer of exactly its size, so ASan sees any read past it. */
	char *buf = malloc(size > 0 ? size : 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	cfg_defaults(&c);
	why[0] = '\0';
	if (cfg_file_parse(&c, "fuzz.conf", buf, size, why) != 0) {
		check_reason(why);
	} else {
		if (strlen(c.data_dir) >= CFG_PATH_MAX ||
		    strlen(c.listen_host) >= sizeof c.listen_host ||
		    strlen(c.origin) >= sizeof c.origin || strlen(c.user) >= sizeof c.user)
			abort();
		why[0] = '\0';
		if (cfg_finish(&c, why) != 0 && why[0] == '\0')
			abort();
	}
	free(buf);
	return 0;
}
