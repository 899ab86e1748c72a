/*
 * opts.c: the option table parser (opts.h), a thin layer over getopt_long:
 * it builds getopt's long-option array and short-option string from the
 * table, then stores each value where the table says.
 */
#include "opts.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"
#include "cli.h"

#define OPTS_MAX 32

static bool
takes_arg(const struct cli_opt *o)
{
	if (o->type == CLI_OPT_FN)
		return o->has_arg;
	return o->type != CLI_OPT_FLAG;
}

/* Store optarg for o.  Returns CLI_GO or an exit code. */
static int
apply(const struct cli_opt *o, const char *arg)
{
	struct cli_opt_list *l;
	char opt[64];
	int rc;

	snprintf(opt, sizeof opt, "--%s", o->name);
	switch (o->type) {
	case CLI_OPT_FLAG:
		*(bool *)o->dst = true;
		break;
	case CLI_OPT_STR:
		*(const char **)o->dst = arg;
		break;
	case CLI_OPT_U64:
	case CLI_OPT_VKEY:
		rc = o->type == CLI_OPT_U64 ? cli_u64_arg(opt, arg, o->dst)
		                            : cli_verifier_arg(opt, arg, o->dst);
		if (rc != 0)
			return rc;
		if (o->seen != NULL)
			*o->seen = true;
		break;
	case CLI_OPT_LIST:
		l = o->dst;
		if (l->n == l->cap)
			return cli_fail(CLI_USAGE, "at most %zu of --%s", l->cap, o->name);
		l->v[l->n++] = arg;
		break;
	case CLI_OPT_FN:
		if ((rc = o->fn(o->dst, arg)) != 0)
			return rc;
		break;
	}
	return CLI_GO;
}

int
cli_opts_parse(
    int argc, char **argv, const struct cli_opt *opts, size_t n, const char *usage, int *first)
{
	struct option lo[OPTS_MAX + 2];
	char so[2 * OPTS_MAX + 2] = "h";
	size_t k = 1;
	int c, rc = CLI_GO;

	if (n > OPTS_MAX)
		return cli_fail(CLI_FAIL, "too many options in the table");
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++) {
		lo[i] = (struct option){opts[i].name,
		    takes_arg(&opts[i]) ? required_argument : no_argument, NULL, 256 + (int)i};
		if (opts[i].short_name != 0) {
			so[k++] = opts[i].short_name;
			if (takes_arg(&opts[i]))
				so[k++] = ':';
		}
	}
	so[k] = '\0';
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	opterr = 0;
	while (rc == CLI_GO && (c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		const struct cli_opt *o = NULL;

		if (c >= 256 && (size_t)(c - 256) < n) {
			o = &opts[c - 256];
		} else {
			for (size_t i = 0; i < n && o == NULL; i++) {
				if (opts[i].short_name != 0 && opts[i].short_name == c)
					o = &opts[i];
			}
		}
		if (o != NULL)
			rc = apply(o, optarg);
		else
			rc = cli_fail(CLI_USAGE, "unknown or incomplete option %s (see --help)",
			    argv[optind - 1]);
	}
	*first = optind;
	return rc;
}
