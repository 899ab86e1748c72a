/*
 * config.c: closurelogd's settings from defaults, a config file and flags.
 *
 * One table describes every setting: its flag name (also its name in the
 * config file), the kind of value it takes, where it lands in struct cfg,
 * its range and its line of --help.  The flag parser, the config file
 * reader and cfg_usage all walk that table, so a setting cannot be known to
 * one and missing from another.  Every value goes through the same strict
 * parsers whichever way it arrives: integers are plain decimal digits,
 * checked for overflow and range; nothing is silently truncated or clamped.
 *
 * cfg_parse reads argv twice: the first pass finds --config (and catches
 * unknown flags and missing values), so that the file is applied before any
 * flag whatever the order; the second applies the other flags on top.
 *
 * Until cfg_finish runs, an empty key or submitters path and a negative
 * rate_burst mean "not given": the values the parsers accept can never be
 * those, so no extra state is needed in struct cfg.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl.h"

#define CFG_FILE_MAX  (64 * 1024)
#define CFG_LINE_MAX  4096
#define RATE_BURST_NA (-1.0)

enum kind {
	K_PATH,   /* char[CFG_PATH_MAX], non-empty */
	K_LISTEN, /* listen_host and listen_port */
	K_ORIGIN, /* char[256], 1..255 printable ASCII, no space, no '+' */
	K_USER,   /* char[64], [A-Za-z0-9._-]{1,63} */
	K_UINT,   /* unsigned, decimal in [min, max] */
	K_SIZE,   /* size_t, decimal with an optional K/M/G/T suffix, in [min, max] */
	K_RATE,   /* double, finite and non-negative */
	K_BOOL,   /* no value: sets a bool */
	K_CONFIG, /* --config FILE: read first, flags only */
};

struct opt {
	const char *name; /* flag without "--", and the config file name */
	char shortname;   /* -h, or 0 */
	enum kind kind;
	size_t off; /* into struct cfg */
	unsigned long long min, max;
	const char *arg;  /* metavariable for --help, NULL for K_BOOL */
	const char *def;  /* default for --help, NULL to print the cfg_defaults value */
	const char *help; /* one line for --help */
};

#define OFF(field) offsetof(struct cfg, field)

static const struct opt opts[] = {
    {"data", 0, K_PATH, OFF(data_dir), 0, 0, "DIR", NULL,
        "directory of the log's store (created if missing)"},
    {"listen", 0, K_LISTEN, 0, 0, 0, "HOST:PORT", NULL,
        "address to serve HTTP on; HOST is IPv4, a name or [IPv6]; PORT 0 picks a free one"},
    {"origin", 0, K_ORIGIN, OFF(origin), 0, 0, "NAME",
        "the store's, or localhost/closurelog for a new log",
        "checkpoint origin line of a new log; must match an existing one"},
    {"key", 0, K_PATH, OFF(key_path), 0, 0, "FILE", "DIR/log.key",
        "the log's private signing key (created if missing, mode 0600)"},
    {"submitters", 0, K_PATH, OFF(submitters), 0, 0, "FILE", "DIR/submitters",
        "allowlist of submitter public keys, one per line"},
    {"user", 0, K_USER, OFF(user), 0, 0, "NAME", "none, keep privileges",
        "user to switch to after binding the socket and opening the store"},
    {"port-file", 0, K_PATH, OFF(port_file), 0, 0, "FILE", "none",
        "write the bound port number to FILE once listening"},
    {"tiles-dir", 0, K_PATH, OFF(tiles_dir), 0, 0, "DIR", "none",
        "write each full tile and entry bundle once to DIR, for a web server (docs/deploy.md)"},
    {"max-conns", 0, K_UINT, OFF(max_conns), 1, 1000000, "N", NULL,
        "most HTTP connections open at once (1..1000000)"},
    {"rate", 0, K_RATE, OFF(rate), 0, 0, "R", NULL,
        "requests per second allowed per client IP address; 0 turns the limit off"},
    {"rate-burst", 0, K_RATE, OFF(rate_burst), 0, 0, "N", "2 * rate",
        "requests a client IP address may send at once above its rate"},
    {"idle-timeout", 0, K_UINT, OFF(idle_timeout), 1, 3600, "SECS", NULL,
        "close keep-alive connections idle, or writes stalled, this long (1..3600)"},
    {"request-timeout", 0, K_UINT, OFF(request_timeout), 1, 3600, "SECS", NULL,
        "close connections that take longer to send one request (1..3600)"},
    {"batch-window", 0, K_UINT, OFF(batch_window_us), 0, 1000000, "USECS", NULL,
        "wait this long for a fuller batch before committing (0..1000000)"},
    {"batch-max", 0, K_UINT, OFF(batch_max), 1, 65536, "N", NULL,
        "most entries committed in one transaction (1..65536)"},
    {"queue-max", 0, K_UINT, OFF(queue_max), 1, 10000000, "N", NULL,
        "most submissions in flight; beyond it submissions get 503 (1..10000000)"},
    {"verify-threads", 0, K_UINT, OFF(verify_threads), 0, 256, "N", "number of online CPUs",
        "threads checking submission signatures; 0 means one per CPU (0..256)"},
    {"http-threads", 0, K_UINT, OFF(http_threads), 0, 64, "N", "number of online CPUs",
        "threads serving HTTP, each on its own SO_REUSEPORT socket; 0 means one per CPU (0..64)"},
    {"map-size", 0, K_SIZE, OFF(map_size), 1024 * 1024, SIZE_MAX, "BYTES", NULL,
        "largest size the store may grow to, with suffix K, M, G or T (at least 1M)"},
    {"config", 0, K_CONFIG, 0, 0, 0, "FILE", "none",
        "read settings from FILE first; flags override them"},
    {"help", 'h', K_BOOL, OFF(help), 0, 0, NULL, NULL, "print this help and exit"},
    {"version", 0, K_BOOL, OFF(version), 0, 0, NULL, NULL, "print the version and exit"},
};

#define N_OPTS (sizeof opts / sizeof opts[0])

void
cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->data_dir, sizeof c->data_dir, "%s", "./closurelog-data");
	snprintf(c->listen_host, sizeof c->listen_host, "%s", "127.0.0.1");
	c->listen_port = 8080;
	c->max_conns = 1024;
	c->rate = 2000;
	c->rate_burst = RATE_BURST_NA;
	c->idle_timeout = 30;
	c->request_timeout = 10;
	c->batch_window_us = 0;
	c->batch_max = 4096;
	c->queue_max = 65536;
	c->verify_threads = 0;
	c->http_threads = 0;
	c->map_size = (size_t)64 << 30;
}

/* ---- Value parsers: each writes a reason (without the setting's name) ---- */

/* The leading digits of s as a canonical decimal (cl_u64_parse: no sign,
 * no space, no leading zero).  *end gets the first byte after the digits.
 * Returns 0, -1 without digits, -2 if they are not canonical or too large. */
static int
parse_u64(const char *s, unsigned long long *out, const char **end)
{
	size_t n = strspn(s, "0123456789");
	uint64_t v;

	*end = s + n;
	if (n == 0)
		return -1;
	if (cl_u64_parse(s, n, &v) != 0)
		return -2;
	*out = v;
	return 0;
}

static int
val_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out,
    char *why)
{
	const char *end;
	int rc = parse_u64(s, out, &end);

	if (rc == -1 || *end != '\0')
		return cl_why(why, 2, "\"%s\" is not a decimal number", s);
	if (rc == -2)
		return cl_why(
		    why, 2, "\"%s\" has a leading zero or is too large (at most %llu)", s, max);
	if (*out < min || *out > max)
		return cl_why(why, 2, "%llu is out of range %llu..%llu", *out, min, max);
	return 0;
}

static int
val_size(const char *s, unsigned long long min, unsigned long long max, size_t *out, char *why)
{
	unsigned long long v;
	const char *end;
	unsigned shift = 0;

	switch (parse_u64(s, &v, &end)) {
	case -1:
		return cl_why(why, 2, "\"%s\" is not a size (digits, then K, M, G or T)", s);
	case -2:
		return cl_why(why, 2, "\"%s\" has a leading zero or is too large", s);
	}
	if (*end != '\0') {
		switch (*end) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		case 'T':
		case 't':
			shift = 40;
			break;
		default:
			return cl_why(
			    why, 2, "\"%s\" has an unknown size suffix (K, M, G or T)", s);
		}
		if (end[1] != '\0')
			return cl_why(
			    why, 2, "\"%s\" is not a size (digits, then K, M, G or T)", s);
		if (v > (ULLONG_MAX >> shift))
			return cl_why(why, 2, "\"%s\" is too large", s);
		v <<= shift;
	}
	if (v > SIZE_MAX)
		return cl_why(why, 2, "\"%s\" is too large", s);
	if (v < min)
		return cl_why(why, 2, "\"%s\" is below the minimum of %llu bytes", s, min);
	if (v > max)
		return cl_why(why, 2, "\"%s\" is above the maximum of %llu bytes", s, max);
	*out = (size_t)v;
	return 0;
}

/* A non-negative finite decimal: digits with an optional fraction and
 * exponent.  strtod alone would also take a sign, leading spaces, hex,
 * "inf" and "nan". */
static int
val_rate(const char *s, double *out, char *why)
{
	char *end;
	double v;

	if (!((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')) ||
	    strpbrk(s, "xX") != NULL)
		return cl_why(why, 2, "\"%s\" is not a non-negative decimal number", s);
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return cl_why(why, 2, "\"%s\" is not a non-negative decimal number", s);
	if (errno == ERANGE || !isfinite(v) || v < 0)
		return cl_why(why, 2, "\"%s\" is out of range", s);
	*out = v;
	return 0;
}

/* Check a path; copy it to dst unless dst is NULL. */
static int
val_path(const char *s, char *dst, char *why)
{
	size_t n = strlen(s);

	if (n == 0)
		return cl_why(why, 2, "empty path");
	if (n >= CFG_PATH_MAX)
		return cl_why(why, 2, "path is longer than %d bytes", CFG_PATH_MAX - 1);
	if (dst != NULL)
		memcpy(dst, s, n + 1);
	return 0;
}

static int
val_origin(const char *s, char *dst, char *why)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return cl_why(why, 2, "must be 1..255 bytes, not %zu", n);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == ' ')
			return cl_why(why, 2, "must not contain spaces (byte %zu)", i);
		if (ch < ' ' || ch > '~')
			return cl_why(why, 2, "byte %zu is not printable ASCII", i);
		if (ch == '+')
			return cl_why(why, 2, "must not contain '+' (byte %zu)", i);
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int
val_user(const char *s, char *dst, char *why)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return cl_why(why, 2, "must be 1..63 characters, not %zu", n);
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return cl_why(why, 2, "\"%s\" has a character outside [A-Za-z0-9._-]", s);
	memcpy(dst, s, n + 1);
	return 0;
}

/* An RFC 1123 host name: dot-separated labels of 1..63 letters, digits and
 * '-', not starting or ending with '-', at most 253 bytes. */
static int
hostname_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = h[i];

		if (ch == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-') {
			if (ch == '-' && label == 0)
				return 0;
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && h[n - 1] != '-';
}

static int
val_listen(const char *s, struct cfg *c, char *why)
{
	char host[256], v4[4];
	unsigned char v6[16];
	const char *colon, *h = s;
	size_t hn;
	unsigned long long port;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return cl_why(why, 2, "\"%s\" is not [IPV6]:PORT", s);
		h = s + 1;
		hn = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return cl_why(why, 2, "\"%s\" is not HOST:PORT", s);
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return cl_why(
			    why, 2, "\"%s\": put an IPv6 address in brackets, [::1]:8080", s);
		hn = (size_t)(colon - s);
	}
	if (hn == 0)
		return cl_why(why, 2, "\"%s\" has no host", s);
	if (hn >= sizeof host)
		return cl_why(why, 2, "host is longer than %zu bytes", sizeof host - 1);
	memcpy(host, h, hn);
	host[hn] = '\0';
	if (*s == '[') {
		if (inet_pton(AF_INET6, host, v6) != 1)
			return cl_why(why, 2, "\"%s\" is not an IPv6 address", host);
	} else if (strspn(host, "0123456789.") == hn) {
		/* All digits and dots: only an IPv4 literal makes sense. */
		if (inet_pton(AF_INET, host, v4) != 1)
			return cl_why(why, 2, "\"%s\" is not an IPv4 address", host);
	} else if (!hostname_ok(host, hn)) {
		return cl_why(why, 2, "\"%s\" is not a host name", host);
	}
	if (colon[1] == '\0')
		return cl_why(why, 2, "\"%s\" has no port", s);
	if (val_uint(colon + 1, 0, 65535, &port, why) != 0)
		return cl_why(why, 2, "\"%s\": port must be a number 0..65535", s);
	memcpy(c->listen_host, host, hn + 1);
	c->listen_port = (uint16_t)port;
	return 0;
}

/* Parse value s of setting o into c.  Not for K_BOOL or K_CONFIG. */
static int
opt_apply(const struct opt *o, const char *s, struct cfg *c, char *why)
{
	char *base = (char *)c;
	unsigned long long u;

	switch (o->kind) {
	case K_PATH:
		return val_path(s, base + o->off, why);
	case K_LISTEN:
		return val_listen(s, c, why);
	case K_ORIGIN:
		return val_origin(s, base + o->off, why);
	case K_USER:
		return val_user(s, base + o->off, why);
	case K_UINT:
		if (val_uint(s, o->min, o->max, &u, why) != 0)
			return 2;
		*(unsigned *)(void *)(base + o->off) = (unsigned)u;
		return 0;
	case K_SIZE:
		return val_size(s, o->min, o->max, (size_t *)(void *)(base + o->off), why);
	case K_RATE:
		return val_rate(s, (double *)(void *)(base + o->off), why);
	case K_BOOL:
	case K_CONFIG:
		break;
	}
	return cl_why(why, 2, "cannot be set here");
}

/* ---- The config file ---- */

static const struct opt *
opt_find(const char *name, size_t n)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		if (strlen(opts[i].name) == n && memcmp(opts[i].name, name, n) == 0)
			return &opts[i];
	}
	return NULL;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Apply one line (NUL-terminated, no newline); seen[] has the line on which
 * each setting was set earlier in the file, or 0. */
static int
file_line(
    struct cfg *c, const char *path, unsigned lineno, char *line, unsigned seen[N_OPTS], char *why)
{
	char reason[CL_WHY_MAX];
	char *p = line, *eq, *name_end, *val, *val_end;
	const struct opt *o;

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if ((eq = strchr(p, '=')) == NULL)
		return cl_why(why, 2, "%s:%u: expected \"name = value\"", path, lineno);
	for (name_end = eq; name_end > p && is_blank(name_end[-1]); name_end--)
		;
	if (name_end == p)
		return cl_why(why, 2, "%s:%u: no setting name before '='", path, lineno);
	*name_end = '\0';
	for (val = eq + 1; is_blank(*val); val++)
		;
	for (val_end = val + strlen(val); val_end > val && is_blank(val_end[-1]); val_end--)
		;
	*val_end = '\0';
	o = opt_find(p, strlen(p));
	if (o == NULL || o->kind == K_BOOL) {
		/* Echo the name only if it cannot play tricks on a terminal. */
		for (const char *q = p; *q != '\0'; q++) {
			if (*q < '!' || *q > '~')
				return cl_why(why, 2, "%s:%u: unknown setting", path, lineno);
		}
		return cl_why(why, 2, "%s:%u: unknown setting \"%s\"", path, lineno, p);
	}
	if (o->kind == K_CONFIG)
		return cl_why(why, 2, "%s:%u: config files cannot include others", path, lineno);
	if (seen[o - opts] != 0)
		return cl_why(why, 2, "%s:%u: %s is set twice (first on line %u)", path, lineno,
		    o->name, seen[o - opts]);
	seen[o - opts] = lineno;
	if (opt_apply(o, val, c, reason) != 0)
		return cl_why(why, 2, "%s:%u: %s: %s", path, lineno, o->name, reason);
	return 0;
}

static int
file_apply(struct cfg *c, const char *path, char *why)
{
	char line[CFG_LINE_MAX + 1];
	unsigned seen[N_OPTS] = {0};
	char *buf = NULL;
	FILE *f = NULL;
	size_t n, start, lineno = 0;
	int rc = 2;

	if ((f = fopen(path, "r")) == NULL) {
		cl_why(why, 2, "cannot open config file %s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(CFG_FILE_MAX + 1)) == NULL) {
		cl_why(why, 2, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, CFG_FILE_MAX + 1, f);
	if (ferror(f)) {
		cl_why(why, 2, "cannot read config file %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > CFG_FILE_MAX) {
		cl_why(why, 2, "%s: larger than %d bytes", path, CFG_FILE_MAX);
		goto out;
	}
	for (start = 0; start < n;) {
		const char *nl = memchr(buf + start, '\n', n - start);
		size_t len = (nl != NULL ? (size_t)(nl - buf) : n) - start;

		lineno++;
		if (len > CFG_LINE_MAX) {
			cl_why(why, 2, "%s:%zu: line longer than %d bytes", path, lineno,
			    CFG_LINE_MAX);
			goto out;
		}
		if (memchr(buf + start, '\0', len) != NULL) {
			cl_why(why, 2, "%s:%zu: contains a NUL byte", path, lineno);
			goto out;
		}
		memcpy(line, buf + start, len);
		line[len] = '\0';
		if (file_line(c, path, (unsigned)lineno, line, seen, why) != 0)
			goto out;
		start += len + 1;
	}
	rc = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* ---- Flags ---- */

/* Identify argv[*i] as a flag, and its value (inline after '=', or the next
 * argument, consumed).  *val is NULL for K_BOOL. */
static int
flag_next(int argc, char **argv, int *i, const struct opt **out, const char **val, char *why)
{
	const char *a = argv[*i], *name, *eq;
	const struct opt *o = NULL;
	size_t n;

	*val = NULL;
	if (a[0] == '-' && a[1] != '-' && a[1] != '\0' && a[2] == '\0') {
		for (size_t k = 0; k < N_OPTS; k++) {
			if (opts[k].shortname == a[1])
				o = &opts[k];
		}
		if (o == NULL)
			return cl_why(why, 2, "unknown flag \"%s\" (see --help)", a);
		*out = o;
		return 0;
	}
	if (a[0] != '-' || a[1] != '-' || a[2] == '\0')
		return cl_why(why, 2, "unexpected argument \"%s\" (see --help)", a);
	name = a + 2;
	eq = strchr(name, '=');
	n = eq != NULL ? (size_t)(eq - name) : strlen(name);
	if ((o = opt_find(name, n)) == NULL)
		return cl_why(why, 2, "unknown flag \"--%.*s\" (see --help)", (int)n, name);
	if (o->kind == K_BOOL) {
		if (eq != NULL)
			return cl_why(why, 2, "--%s takes no value", o->name);
	} else if (eq != NULL) {
		*val = eq + 1;
	} else if (*i + 1 < argc) {
		*val = argv[++*i];
	} else {
		return cl_why(why, 2, "--%s needs a value", o->name);
	}
	*out = o;
	return 0;
}

int
cfg_parse(struct cfg *c, int argc, char **argv, char *why)
{
	char reason[CL_WHY_MAX];
	const char *config = NULL, *val;
	const struct opt *o;

	/* Pass 1: find --config and catch malformed arguments. */
	for (int i = 1; i < argc; i++) {
		if (flag_next(argc, argv, &i, &o, &val, why) != 0)
			return 2;
		if (o->kind != K_CONFIG)
			continue;
		if (config != NULL)
			return cl_why(why, 2, "--config given twice");
		if (val_path(val, NULL, reason) != 0)
			return cl_why(why, 2, "--config: %s", reason);
		config = val;
	}
	if (config != NULL && file_apply(c, config, why) != 0)
		return 2;
	/* Pass 2: every other flag, over the file's settings. */
	for (int i = 1; i < argc; i++) {
		if (flag_next(argc, argv, &i, &o, &val, why) != 0)
			return 2;
		if (o->kind == K_CONFIG)
			continue;
		if (o->kind == K_BOOL) {
			*(bool *)(void *)((char *)c + o->off) = true;
			continue;
		}
		if (opt_apply(o, val, c, reason) != 0)
			return cl_why(why, 2, "--%s: %s", o->name, reason);
	}
	return 0;
}

/* dst = data_dir "/" leaf, unless dst was given. */
static int
path_derive(char *dst, const char *data_dir, const char *leaf, const char *what, char *why)
{
	size_t n = strlen(data_dir);
	const char *sep = n > 0 && data_dir[n - 1] == '/' ? "" : "/";
	int w;

	if (dst[0] != '\0')
		return 0;
	w = snprintf(dst, CFG_PATH_MAX, "%s%s%s", data_dir, sep, leaf);
	if (w < 0 || w >= CFG_PATH_MAX) {
		dst[0] = '\0';
		return cl_why(why, 2, "%s: \"<data>%s%s\" would be longer than %d bytes; set %s",
		    what, sep, leaf, CFG_PATH_MAX - 1, what);
	}
	return 0;
}

int
cfg_finish(struct cfg *c, char *why)
{
	long cpus;

	if (c->data_dir[0] == '\0')
		return cl_why(why, 2, "--data: empty path");
	if (path_derive(c->key_path, c->data_dir, "log.key", "--key", why) != 0 ||
	    path_derive(c->submitters, c->data_dir, "submitters", "--submitters", why) != 0)
		return 2;
	if (c->rate_burst < 0)
		c->rate_burst = 2 * c->rate;
	/* A token bucket smaller than one request would refuse every request. */
	if (c->rate > 0 && c->rate_burst < 1)
		return cl_why(why, 2,
		    "--rate-burst: %g is below 1, so no request would pass --rate %g; "
		    "set it to at least 1",
		    c->rate_burst, c->rate);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	if (c->verify_threads == 0)
		c->verify_threads = (unsigned)(cpus > 256 ? 256 : cpus);
	if (c->http_threads == 0)
		c->http_threads = (unsigned)(cpus > 64 ? 64 : cpus);
	return 0;
}

/* The default of o, as --help shows it. */
static void
opt_default(const struct opt *o, const struct cfg *d, char *out, size_t cap)
{
	const char *base = (const char *)d;
	size_t sz;

	if (o->def != NULL) {
		snprintf(out, cap, "%s", o->def);
		return;
	}
	switch (o->kind) {
	case K_PATH:
	case K_ORIGIN:
	case K_USER:
		snprintf(out, cap, "%s", base + o->off);
		break;
	case K_LISTEN:
		snprintf(out, cap, "%s:%u", d->listen_host, (unsigned)d->listen_port);
		break;
	case K_UINT:
		snprintf(out, cap, "%u", *(const unsigned *)(const void *)(base + o->off));
		break;
	case K_SIZE:
		sz = *(const size_t *)(const void *)(base + o->off);
		if (sz != 0 && sz % ((size_t)1 << 30) == 0)
			snprintf(out, cap, "%zuG", sz >> 30);
		else if (sz != 0 && sz % ((size_t)1 << 20) == 0)
			snprintf(out, cap, "%zuM", sz >> 20);
		else
			snprintf(out, cap, "%zu", sz);
		break;
	case K_RATE:
		snprintf(out, cap, "%g", *(const double *)(const void *)(base + o->off));
		break;
	case K_BOOL:
	case K_CONFIG:
		out[0] = '\0';
		break;
	}
}

void
cfg_usage(FILE *f)
{
	struct cfg d;
	char flag[64], def[300];

	cfg_defaults(&d);
	fprintf(f,
	    "usage: closurelogd [--config FILE] [--name VALUE | --name=VALUE]...\n\n"
	    "closurelogd serves a closurelog transparency log of Nix build attestations.\n\n"
	    "Flags:\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->shortname != 0)
			snprintf(flag, sizeof flag, "-%c, --%s", o->shortname, o->name);
		else if (o->arg != NULL)
			snprintf(flag, sizeof flag, "--%s %s", o->name, o->arg);
		else
			snprintf(flag, sizeof flag, "--%s", o->name);
		fprintf(f, "  %s\n        %s", flag, o->help);
		if (o->kind != K_BOOL) {
			opt_default(o, &d, def, sizeof def);
			fprintf(f, "\n        default: %s", def);
		}
		fputc('\n', f);
	}
	fprintf(f,
	    "\n"
	    "Config file (--config): one \"name = value\" per line, names as the flags\n"
	    "without \"--\" (for example \"listen = 0.0.0.0:8080\"); lines starting with '#'\n"
	    "are comments.  The file is read before the flags, wherever --config appears,\n"
	    "and flags override it.  Unknown or repeated names are errors.\n"
	    "\n"
	    "Signals: SIGHUP reloads the submitters file.  SIGTERM and SIGINT stop\n"
	    "accepting connections, finish the batches in flight, and exit.\n");
}
