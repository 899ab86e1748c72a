/*
 * opts.h: command-line options from a table, through getopt_long, so that
 * each closurelog command is its logic and not its parsing.
 *
 * A command lists its options once, with where each one's value goes; the
 * parser fills them in order (a repeated single-valued option: the last
 * one counts, as with getopt), prints --help, and reports an unknown
 * option, a missing argument, a list over its cap or a value that does not
 * parse as one usage line.  Rules between options (one of, together,
 * required) stay in the command, where they read as its logic.
 */
#ifndef CL_OPTS_H
#define CL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_GO (-1) /* cli_opts_parse: go on with the command */

enum cli_opt_type {
	CLI_OPT_FLAG, /* no argument; dst: bool *, set to true */
	CLI_OPT_STR,  /* dst: const char **, the argument (borrowed from argv) */
	CLI_OPT_U64,  /* dst: uint64_t *, a canonical decimal (cl_u64_parse); seen: bool * */
	CLI_OPT_LIST, /* dst: struct cli_opt_list *, the argument appended */
	CLI_OPT_VKEY, /* dst: struct note_verifier *, a key or a key file (cli_verifier_arg) */
	CLI_OPT_FN,   /* fn(dst, arg): arg is NULL for an option without argument */
};

/* A repeatable option's values: v has room for cap, n are used. */
struct cli_opt_list {
	const char **v;
	size_t n, cap;
};

struct cli_opt {
	const char *name; /* the long name, without "--" */
	char short_name;  /* a one-letter alias ('o' for -o), or 0 */
	enum cli_opt_type type;
	void *dst;
	bool *seen; /* CLI_OPT_U64, CLI_OPT_VKEY: set when given (may be NULL) */
	/* CLI_OPT_FN: apply the option; return 0, or an exit code after
	 * printing why (cli_fail); has_arg says whether it takes one. */
	int (*fn)(void *dst, const char *arg);
	bool has_arg;
};

/* Table entries (designated, so that unused fields are zero). */
/* clang-format off */
#define CLI_FLAG(n, d)         {.name = (n), .type = CLI_OPT_FLAG, .dst = (d)}
#define CLI_STR(n, d)          {.name = (n), .type = CLI_OPT_STR, .dst = (d)}
#define CLI_STR_SHORT(n, c, d) {.name = (n), .short_name = (c), .type = CLI_OPT_STR, .dst = (d)}
#define CLI_U64(n, d, s)       {.name = (n), .type = CLI_OPT_U64, .dst = (d), .seen = (s)}
#define CLI_LIST(n, l)         {.name = (n), .type = CLI_OPT_LIST, .dst = (l)}
#define CLI_VKEY(n, d, s)      {.name = (n), .type = CLI_OPT_VKEY, .dst = (d), .seen = (s)}
#define CLI_FN(n, d, f, a)     {.name = (n), .type = CLI_OPT_FN, .dst = (d), .fn = (f), .has_arg = (a)}
/* clang-format on */

#define CLI_OPTS_N(opts) (sizeof(opts) / sizeof((opts)[0]))

/* Parse argv[1..argc) by opts[0..n) (n <= 32), and -h/--help (anywhere:
 * help wins).  Positional arguments are left at argv[*first..argc).
 * Returns CLI_GO to go on; CLI_OK after printing usage to stdout for
 * --help; or CLI_USAGE, or an fn's code, after printing the reason. */
int cli_opts_parse(int argc, char **argv, const struct cli_opt *opts, size_t n, const char *usage,
    int *first) __attribute__((warn_unused_result));

#endif
