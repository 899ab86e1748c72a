/*
 * config.h: closurelogd's settings, from built-in defaults, an optional
 * config file, and command-line flags, in that order of precedence
 * (flags win).
 *
 * Config file: one "name = value" per line, names as the long flags without
 * "--" (e.g. "listen = 0.0.0.0:8080"), '#' starts a comment line, blank
 * lines ignored.  Unknown names, repeated names, malformed values and
 * values out of range are errors naming the file, the line and the
 * setting.
 */
#ifndef CL_CONFIG_H
#define CL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_PATH_MAX 4096

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

	unsigned max_conns; /* --max-conns, default 1024 */
	double rate;        /* --rate requests/s per client IP, 0 = off, default 2000 */
	double rate_burst;  /* --rate-burst, default 2 * rate; negative until
				    * cfg_finish means "not given", and with rate > 0
				    * it must be at least 1 */
	unsigned
	    idle_timeout; /* --idle-timeout seconds (keep-alive idle, slow writes), default 30 */
	unsigned request_timeout; /* --request-timeout seconds to receive one request, default 10 */
	unsigned
	    batch_window_us; /* --batch-window microseconds to wait for a fuller batch, default 0 */
	unsigned batch_max;  /* --batch-max entries per commit, default 4096 */
	unsigned queue_max;  /* --queue-max submissions in flight, default 65536 */
	unsigned verify_threads; /* --verify-threads, default: number of CPUs */
	unsigned http_threads;   /* --http-threads, default: number of CPUs */
	size_t map_size;         /* --map-size bytes (suffixes K M G T), default 64G */
	bool help, version;
};

/* Fill c with the defaults.  The paths that depend on the data directory
 * are resolved by cfg_finish. */
void cfg_defaults(struct cfg *c);

/* Apply argv (argv[0] is the program).  "--config FILE" is read first,
 * wherever it appears, then every other flag overrides it.  Flags take
 * "--name value" or "--name=value".  Returns 0, or 2 with a one-line
 * reason in why (CL_WHY_MAX bytes) for any unknown flag, missing or bad
 * value, or config file problem. */
int cfg_parse(struct cfg *c, int argc, char **argv, char *why);

/* Resolve defaults that depend on others (key path, submitters path, rate
 * burst, verify threads) and check cross-field rules.  Returns 0 or 2 with
 * why. */
int cfg_finish(struct cfg *c, char *why);

/* Print the --help text to f. */
void cfg_usage(FILE *f);

#endif
