/*
 * config.h: closurelogd's settings, from built-in defaults, an optional
 * config file, and command-line flags, in that order of precedence
 * (flags win).
 *
 * Config file (INI syntax, read with inih): one "name = value" per line,
 * names as the long flags without "--" (e.g. "listen = 0.0.0.0:8080"); a
 * line starting with '#' or ';' is a comment, and so is the rest of a line
 * from " ;" on; blank lines are ignored.  At most 64 KiB, 4096 bytes per
 * line, 198 bytes per setting line (inih's line buffer).  Unknown names,
 * repeated names, [sections], malformed values and values out of range are
 * errors naming the file, the line and the setting.
 */
#ifndef CL_CONFIG_H
#define CL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "note.h"

#define CFG_PATH_MAX      4096
#define CFG_FILE_MAX      (64 * 1024)
#define CFG_WITNESSES_MAX 32   /* --witness given at most this often */
#define CFG_URL_MAX       1024 /* a witness's submission prefix */

struct cfg {
	char data_dir[CFG_PATH_MAX];   /* --data, default "./closurelog-data" */
	char listen_host[256];         /* --listen HOST:PORT, default 127.0.0.1:8080;
					* an IPv6 [host] is stored without brackets */
	uint16_t listen_port;          /* 0 asks the kernel for a free port */
	char origin[256];              /* --origin, default "" (then: the store's, or
					* "localhost/closurelog" for a new log) */
	char key_path[CFG_PATH_MAX];   /* --key, default "<data>/log.key" ("" until cfg_finish) */
	char submitters[CFG_PATH_MAX]; /* --submitters, default "<data>/submitters" (same) */
	char user[64];                 /* --user, default "" (do not drop privileges) */
	char port_file[CFG_PATH_MAX];  /* --port-file: write the bound port here (tests) */
	char tiles_dir[CFG_PATH_MAX];  /* --tiles-dir: write full tiles here, default "" (no) */

	unsigned max_conns;    /* --max-conns, default 1024 */
	double rate;           /* --rate requests/s per client IP, 0 = off, default 2000 */
	double rate_burst;     /* --rate-burst, default 2 * rate; negative until
				    * cfg_finish means "not given", and with rate > 0
				    * it must be at least 1 */
	unsigned rate_prefix6; /* --rate-prefix6 bits of an IPv6 client's key, default 64 */
	unsigned
	    idle_timeout; /* --idle-timeout seconds (keep-alive idle, slow writes), default 30 */
	unsigned request_timeout; /* --request-timeout seconds to receive one request, default 10 */
	unsigned
	    batch_window_us; /* --batch-window microseconds to wait for a fuller batch, default 0 */
	unsigned batch_max;  /* --batch-max entries per commit, default 4096 */
	unsigned queue_max;  /* --queue-max submissions in flight, default 65536 */
	unsigned batch_max_entries; /* --batch-max-entries envelopes in one POST
				     * /v1/entries/batch, default 1000 */
	size_t batch_max_bytes;     /* --batch-max-bytes of one batch body, default 4M */
	unsigned verify_threads;    /* --verify-threads, default: number of CPUs */
	unsigned http_threads;      /* --http-threads, default: number of CPUs */
	size_t map_size;            /* --map-size bytes (suffixes K M G T), default 64G */
	size_t map_max;             /* --map-max bytes: growth ceiling, default 1T, >= map_size */

	/* --witness VKEY=URL, repeatable (in a config file too: each line adds
	 * one): the witness's cosignature verifier key (type 0x04; a key
	 * string or a file holding one, read by cfg_finish) and its submission
	 * prefix, http:// only. */
	size_t n_witnesses;
	char witness_vkey[CFG_WITNESSES_MAX][CFG_PATH_MAX];
	char witness_url[CFG_WITNESSES_MAX][CFG_URL_MAX];
	struct note_verifier witness_key[CFG_WITNESSES_MAX]; /* by cfg_finish */
	unsigned witness_quorum;     /* --witness-quorum K, default 0: all (cfg_finish sets it) */
	unsigned witness_timeout_ms; /* --witness-timeout MS per request, default 3000 */
	bool help, version;
};

/* Fill c with the defaults.  The paths that depend on the data directory
 * are resolved by cfg_finish. */
void cfg_defaults(struct cfg *c);

/* Apply argv (argv[0] is the program) through getopt_long.  "--config
 * FILE" is read first, wherever it appears, then every other flag overrides
 * it.  Flags take "--name value" or "--name=value" and must be spelled in
 * full (no abbreviations); there are no positional arguments.  Uses
 * getopt's globals, so not thread-safe.  Returns 0, or 2 with a one-line
 * reason in why (CL_WHY_MAX bytes) for any unknown flag, missing or bad
 * value, or config file problem. */
int cfg_parse(struct cfg *c, int argc, char **argv, char *why) __attribute__((warn_unused_result));

/* Apply the config file text buf (len bytes, not NUL-terminated, borrowed
 * for the call) to c, as --config does with a file; name is the file's
 * name for the reasons.  Returns 0, or 2 with a one-line reason (naming
 * name, the line and the setting) in why.  On failure c may hold the
 * settings of the lines before the bad one. */
int cfg_file_parse(struct cfg *c, const char *name, const char *buf, size_t len, char *why)
    __attribute__((warn_unused_result));

/* Resolve defaults that depend on others (key path, submitters path, rate
 * burst, verify threads, witness quorum), read the witness keys, and check
 * cross-field rules.  Returns 0 or 2 with
 * why. */
int cfg_finish(struct cfg *c, char *why) __attribute__((warn_unused_result));

/* Print the --help text to f. */
void cfg_usage(FILE *f);

#endif
