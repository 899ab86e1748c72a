/*
 * cli.c: messages, output names and argument helpers for the closurelog
 * subcommands.  Files are read and written through proto/file.h.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"
#include "file.h"
#include "http.h"
#include "key.h"
#include "wire.h"

const char *cli_command = "";

/* "closurelog <command>: <tag><message>\n" on stderr. */
static void
say(const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "closurelog %s: %s", cli_command, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
cli_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("", fmt, ap);
	va_end(ap);
	return code;
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("warning: ", fmt, ap);
	va_end(ap);
}

void
cli_progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("", fmt, ap);
	va_end(ap);
}

int
cli_why(char *why, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, CLI_MSG_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

int
cli_write_new(const char *dir, const char *stem, const char *ext, const void *buf, size_t len,
    mode_t mode, char *out, size_t cap, char *why)
{
	int rc = EEXIST;

	for (int i = 0; i < 1000 && rc == EEXIST; i++) {
		int n = i == 0 ? snprintf(out, cap, "%s/%s%s", dir, stem, ext)
		               : snprintf(out, cap, "%s/%s-%d%s", dir, stem, i, ext);

		if (n < 0 || (size_t)n >= cap)
			return cl_why(why, ENAMETOOLONG, "%s/%s: path too long", dir, stem);
		rc = cl_file_write(out, buf, len, mode, CL_FILE_EXCL, why);
	}
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

int
cli_u64_arg(const char *opt, const char *arg, uint64_t *v)
{
	if (cl_u64_parse(arg, strlen(arg), v) != 0)
		return cli_fail(CLI_USAGE,
		    "%s: \"%.40s\" is not a decimal number (no sign, no leading zeros, below 2^64)",
		    opt, arg);
	return 0;
}

int
cli_verifier_arg(const char *opt, const char *arg, struct note_verifier *v)
{
	char why[CL_WHY_MAX];

	if (key_verifier_arg(arg, v, why) != 0)
		return cli_fail(CLI_USAGE, "%s: %s", opt, why);
	return 0;
}

int
cli_log_url(const char *arg, char *out, size_t cap)
{
	size_t n = strlen(arg);

	if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
		return cli_fail(CLI_USAGE, "--log: \"%s\" is not an http:// or https:// URL", arg);
	if (n > 0 && arg[n - 1] == '/')
		n--;
	if (n + 1 > cap)
		return cli_fail(CLI_USAGE, "--log: URL too long");
	memcpy(out, arg, n);
	out[n] = '\0';
	return 0;
}

int
cli_checkpoint_open(
    const uint8_t *note, size_t len, const struct note_verifier *key, struct sth *c, char *why)
{
	struct note *n;
	int rc;

	if (key != NULL)
		return sth_open(note, len, key, NULL, c, why);
	if ((n = malloc(sizeof *n)) == NULL)
		return cl_why(why, ENOMEM, "out of memory");
	if ((rc = note_open(note, len, NULL, 0, n, why)) == 0)
		rc = sth_parse((const char *)note, n->text_len, c, why);
	free(n);
	return rc;
}

int
cli_checkpoint_fetch(const struct cli_http_opts *o, const char *url,
    const struct note_verifier *key, const char *origin, uint8_t **note, size_t *len, struct sth *c,
    char *why)
{
	struct cli_http_resp r = {0};
	char w[CL_WHY_MAX];
	int rc;

	*note = NULL;
	*len = 0;
	if ((rc = cli_http_get(o, url, "checkpoint", CL_CHECKPOINT_MAX, &r, w)) != 0) {
		snprintf(why, CLI_MSG_MAX, "cannot fetch the checkpoint: %s", w);
		return rc;
	}
	rc = key != NULL ? sth_open(r.body, r.len, key, origin, c, w)
	                 : cli_checkpoint_open(r.body, r.len, NULL, c, w);
	if (rc != 0) {
		cli_http_resp_free(&r);
		snprintf(why, CLI_MSG_MAX, "the log's checkpoint does not verify: %s", w);
		return CLI_FAIL;
	}
	*note = r.body;
	*len = r.len;
	return 0;
}

bool
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
		if (strcmp(argv[i], "--") == 0)
			break;
	}
	return false;
}
