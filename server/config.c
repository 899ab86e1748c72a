/*
 * config.c: closurelogd's settings from defaults, a config file and flags.
 *
 * One table describes every setting: its flag name (also its name in the
 * config file), the kind of value it takes, where it lands in struct cfg,
 * its range and its line of --help.  getopt_long's option table, the config
 * file handler and cfg_usage are all built from it, so a setting cannot be
 * known to one and missing from another.  Every value goes through the same
 * strict parsers whichever way it arrives: integers are plain decimal
 * digits, checked for overflow and range; nothing is silently truncated or
 * clamped.
 *
 * The config file is read by the one capped reader, cl_file_read (a
 * regular file of at most CFG_FILE_MAX bytes), and parsed by inih
 * (ini_parse_stream) over a line reader of ours, which keeps the file's
 * rules that inih alone would loosen: an indented line is a setting, not a
 * continuation of the previous value;
 * a line inih would split (it reads at most 200 bytes) is refused rather
 * than cut; NUL bytes and [sections] are refused.
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

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>
#include <ini.h>

#include "cl.h"
#include "file.h"
#include "key.h"
#include "note.h"
#include "sth.h"
#include "wire.h"

#define CFG_LINE_MAX  4096
#define RATE_BURST_NA (-1.0)

enum kind {
	K_PATH,    /* char[CFG_PATH_MAX], non-empty */
	K_LISTEN,  /* listen_host and listen_port */
	K_ORIGIN,  /* char[256], 1..255 printable ASCII, no space, no '+' */
	K_USER,    /* char[64], [A-Za-z0-9._-]{1,63} */
	K_UINT,    /* unsigned, decimal in [min, max] */
	K_SIZE,    /* size_t, decimal with an optional K/M/G/T suffix, in [min, max] */
	K_RATE,    /* double, finite and non-negative */
	K_BOOL,    /* no value: sets a bool */
	K_WITNESS, /* VKEY=URL: appends to the witness lists; may repeat */
	K_CONFIG,  /* --config FILE: read first, flags only */
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
    {"rate-prefix6", 0, K_UINT, OFF(rate_prefix6), 0, 128, "BITS", NULL,
        "IPv6 clients are rate limited per prefix of this length (0..128)"},
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
    {"batch-max-entries", 0, K_UINT, OFF(batch_max_entries), 1, 100000, "N", NULL,
        "most envelopes in one POST /v1/entries/batch; more get 400 (1..100000)"},
    {"batch-max-bytes", 0, K_SIZE, OFF(batch_max_bytes), 64 * 1024, (size_t)1 << 30, "BYTES", NULL,
        "largest POST /v1/entries/batch body, with suffix K, M or G; larger get 413 "
        "(64K..1G)"},
    {"verify-threads", 0, K_UINT, OFF(verify_threads), 0, 256, "N", "number of online CPUs",
        "threads checking submission signatures; 0 means one per CPU (0..256)"},
    {"http-threads", 0, K_UINT, OFF(http_threads), 0, 64, "N", "number of online CPUs",
        "threads serving HTTP, connections dealt to them in turn; 0: one per CPU (0..64)"},
    {"map-size", 0, K_SIZE, OFF(map_size), 1024 * 1024, SIZE_MAX, "BYTES", NULL,
        "size of the store's map at start, with suffix K, M, G or T (at least 1M)"},
    {"map-max", 0, K_SIZE, OFF(map_max), 1024 * 1024, SIZE_MAX, "BYTES", NULL,
        "when the map is full it doubles online up to BYTES (never below --map-size)"},
    {"witness", 0, K_WITNESS, 0, 0, 0, "VKEY=URL", "none",
        "gather cosignatures from this witness (its type-0x04 key or key file, and its "
        "http:// submission prefix) before publishing; repeatable"},
    {"witness-quorum", 0, K_UINT, OFF(witness_quorum), 0, CFG_WITNESSES_MAX, "K", "every --witness",
        "publish a checkpoint once K witnesses cosigned it (0: all)"},
    {"witness-timeout", 0, K_UINT, OFF(witness_timeout_ms), 1, 600000, "MS", NULL,
        "a witness that takes longer to answer is down for that round (1..600000)"},
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
	c->rate_prefix6 = 64;
	c->idle_timeout = 30;
	c->request_timeout = 10;
	c->batch_window_us = 0;
	c->batch_max = 4096;
	c->queue_max = 65536;
	c->batch_max_entries = 1000;
	c->batch_max_bytes = (size_t)4 << 20;
	c->verify_threads = 0;
	c->http_threads = 0;
	c->map_size = (size_t)64 << 30;
	c->witness_timeout_ms = 3000;
	c->map_max = (size_t)1 << 40;
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
	char host[256];
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
	if (*s == '[' || strspn(host, "0123456789.") == hn) {
		/* A literal (all digits and dots can only be IPv4): libevent's
		 * parser, given the host alone since it reads a port with atoi. */
		struct sockaddr_storage ss;
		int sslen = (int)sizeof ss, family = *s == '[' ? AF_INET6 : AF_INET;
		char lit[sizeof host + 2];

		snprintf(lit, sizeof lit, *s == '[' ? "[%s]" : "%s", host);
		if (evutil_parse_sockaddr_port(lit, (struct sockaddr *)&ss, &sslen) != 0 ||
		    ss.ss_family != family)
			return cl_why(why, 2, "\"%s\" is not an %s address", host,
			    family == AF_INET6 ? "IPv6" : "IPv4");
	} else if (!hostname_ok(host, hn)) {
		/* A name is resolved (getaddrinfo) when the server binds; here
		 * only its RFC 1123 syntax is checked, without the network. */
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

/* "VKEY=URL": split at the first "=http" (a key string has no '=', and a
 * path is unlikely to hold "=http"); the key is read by cfg_finish. */
static int
val_witness(const char *s, struct cfg *c, char *why)
{
	const char *eq = strstr(s, "=http");
	size_t kn;

	if (c->n_witnesses >= CFG_WITNESSES_MAX)
		return cl_why(why, 2, "at most %d witnesses", CFG_WITNESSES_MAX);
	if (eq == NULL || eq == s)
		return cl_why(why, 2, "\"%.100s\" is not VKEY=http://HOST:PORT/PREFIX", s);
	kn = (size_t)(eq - s);
	if (kn >= CFG_PATH_MAX || strlen(eq + 1) >= CFG_URL_MAX)
		return cl_why(why, 2, "key or URL too long");
	if (strncmp(eq + 1, "https://", 8) == 0)
		return cl_why(why, 2,
		    "\"%.100s\": https:// witnesses are not supported, only http://: the witness "
		    "client speaks plain HTTP (a cosignature is verified whatever carries it); "
		    "give "
		    "the witness's http:// address, or that of a local TLS proxy to it",
		    eq + 1);
	if (strncmp(eq + 1, "http://", 7) != 0)
		return cl_why(why, 2, "\"%.100s\": only http:// witnesses are supported", eq + 1);
	memcpy(c->witness_vkey[c->n_witnesses], s, kn);
	c->witness_vkey[c->n_witnesses][kn] = '\0';
	snprintf(c->witness_url[c->n_witnesses], CFG_URL_MAX, "%s", eq + 1);
	c->n_witnesses++;
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
	case K_WITNESS:
		return val_witness(s, c, why);
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

/* Make a reason one printable line: values are echoed in reasons, and a
 * config file or argument may hold any byte. */
static int
reason_clean(char *why, int rc)
{
	for (char *p = why; rc != 0 && *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
	}
	return rc;
}

/* What the inih reader and handler share: the file's bytes, the reading
 * position and line number, and the first error. */
struct file_state {
	struct cfg *c;
	const char *path;
	const char *buf;
	size_t len, pos;
	unsigned lineno;
	unsigned seen[N_OPTS]; /* the line each setting was set on, or 0 */
	unsigned err_line;     /* line of the first error, or 0 */
	char *why;
};

static int file_fail(struct file_state *fs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first error (on the current line); later ones are dropped. */
static int
file_fail(struct file_state *fs, const char *fmt, ...)
{
	char reason[CL_WHY_MAX];
	va_list ap;

	if (fs->err_line != 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	fs->err_line = fs->lineno;
	cl_why(fs->why, 2, "%s:%u: %s", fs->path, fs->lineno, reason);
	return 0;
}

/* inih's line reader, over the file in memory.  It hands inih one line at a
 * time with its leading blanks removed, so that an indented line is a
 * setting (inih would take it for a continuation of the previous value),
 * and comment lines as empty lines, so that a long comment is no problem.
 * A line inih could not take whole (it reads at most num - 1 bytes, and
 * would split a longer one silently), a line above CFG_LINE_MAX and a NUL
 * byte end the file with an error instead. */
static char *
file_reader(char *str, int num, void *arg)
{
	struct file_state *fs = arg;
	const char *line, *nl;
	size_t n, cut;

	if (fs->err_line != 0 || fs->pos >= fs->len)
		return NULL;
	line = fs->buf + fs->pos;
	nl = memchr(line, '\n', fs->len - fs->pos);
	n = (nl != NULL ? (size_t)(nl - line) : fs->len - fs->pos);
	fs->pos += n + (nl != NULL);
	fs->lineno++;
	if (n > CFG_LINE_MAX) {
		file_fail(fs, "line longer than %d bytes", CFG_LINE_MAX);
		return NULL;
	}
	if (memchr(line, '\0', n) != NULL) {
		file_fail(fs, "contains a NUL byte");
		return NULL;
	}
	for (cut = 0; cut < n && is_blank(line[cut]); cut++)
		;
	line += cut;
	n -= cut;
	if (n > 0 && (line[0] == '#' || line[0] == ';'))
		n = 0;
	if (n > 0 && line[0] == '[') {
		file_fail(fs, "sections are not supported");
		return NULL;
	}
	if (n + 2 > (size_t)num) {
		file_fail(fs, "a setting's line may be at most %d bytes", num - 2);
		return NULL;
	}
	memcpy(str, line, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* inih's handler: one "name = value", both trimmed by inih. */
static int
file_setting(void *arg, const char *section, const char *name, const char *value)
{
	struct file_state *fs = arg;
	char reason[CL_WHY_MAX];
	const struct opt *o;

	if (fs->err_line != 0)
		return 1;
	(void)section; /* always "": the reader refuses section lines */
	if (name[0] == '\0')
		return file_fail(fs, "no setting name before '='");
	o = opt_find(name, strlen(name));
	if (o == NULL || o->kind == K_BOOL) {
		/* Echo the name only if it cannot play tricks on a terminal. */
		for (const char *q = name; *q != '\0'; q++) {
			if (*q < '!' || *q > '~')
				return file_fail(fs, "unknown setting");
		}
		return file_fail(fs, "unknown setting \"%s\"", name);
	}
	if (o->kind == K_CONFIG)
		return file_fail(fs, "config files cannot include others");
	if (fs->seen[o - opts] != 0 && o->kind != K_WITNESS)
		return file_fail(
		    fs, "%s is set twice (first on line %u)", o->name, fs->seen[o - opts]);
	fs->seen[o - opts] = fs->lineno;
	if (opt_apply(o, value, fs->c, reason) != 0)
		return file_fail(fs, "%s: %s", o->name, reason);
	return 1;
}

int
cfg_file_parse(struct cfg *c, const char *name, const char *buf, size_t len, char *why)
{
	struct file_state *fs;
	int line, rc = 2;

	if (len > CFG_FILE_MAX)
		return cl_why(why, 2, "%s: larger than %d bytes", name, CFG_FILE_MAX);
	if ((fs = calloc(1, sizeof *fs)) == NULL)
		return cl_why(why, 2, "%s: out of memory", name);
	fs->c = c;
	fs->path = name;
	fs->buf = buf;
	fs->len = len;
	fs->why = why;
	line = ini_parse_stream(file_reader, fs, file_setting, fs);
	if (line > 0 && (fs->err_line == 0 || (unsigned)line < fs->err_line)) {
		/* inih's own refusal, on an earlier line than ours: a line with
		 * neither '=' nor ':'. */
		fs->err_line = 0;
		fs->lineno = (unsigned)line;
		file_fail(fs, "expected \"name = value\"");
	}
	if (fs->err_line == 0 && line < 0)
		cl_why(why, 2, "%s: out of memory", name);
	else if (fs->err_line == 0)
		rc = 0;
	free(fs);
	return reason_clean(why, rc);
}

static int
file_apply(struct cfg *c, const char *path, char *why)
{
	char reason[CL_WHY_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (cl_file_read(path, CFG_FILE_MAX, 0, &buf, &len, reason) != 0)
		return cl_why(why, 2, "config file %s", reason);
	rc = cfg_file_parse(c, path, (const char *)buf, len, why);
	free(buf);
	return rc;
}

/* ---- Flags ---- */

/* getopt_long's table, from opts[]: option i returns 256 + i ('h' for -h). */
static void
longopts_fill(struct option lo[N_OPTS + 1])
{
	for (size_t i = 0; i < N_OPTS; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].kind == K_BOOL ? no_argument : required_argument;
		lo[i].flag = NULL;
		lo[i].val = opts[i].shortname != 0 ? opts[i].shortname : 256 + (int)i;
	}
	memset(&lo[N_OPTS], 0, sizeof lo[N_OPTS]);
}

static const struct opt *
opt_by_val(int val)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		if ((opts[i].shortname != 0 ? opts[i].shortname : 256 + (int)i) == val)
			return &opts[i];
	}
	return NULL;
}

/* The next flag of argv, through getopt_long: *o and *val (NULL for
 * K_BOOL), or 1 at the end.  Flags must be spelled in full: getopt_long
 * takes any unambiguous prefix, which would change meaning the day a
 * longer flag is added. */
static int
flag_next(int argc, char **argv, const struct option *lo, const struct opt **o, const char **val,
    char *why)
{
	int start = optind > 0 ? optind : 1, idx = -1, ch; /* optind 0: glibc's fresh start */
	const char *a = start < argc ? argv[start] : "";

	*val = NULL;
	ch = getopt_long(argc, argv, "+:h", lo, &idx);
	if (ch == -1) {
		if (optind == start + 1 && strcmp(a, "--") == 0)
			return cl_why(why, 2, "unexpected argument \"--\" (see --help)");
		if (optind < argc)
			return cl_why(
			    why, 2, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return 1;
	}
	if (ch == ':' || ch == '?') {
		const struct opt *known = optopt != 0 ? opt_by_val(optopt) : NULL;
		size_t n = strcspn(a, "=");

		if (ch == ':' && known != NULL)
			return cl_why(why, 2, "--%s needs a value", known->name);
		if (known != NULL && known->kind == K_BOOL && a[0] == '-' && a[1] == '-')
			return cl_why(why, 2, "--%s takes no value", known->name);
		if (a[0] == '-' && a[1] == '-')
			return cl_why(why, 2, "unknown flag \"%.*s\" (see --help)", (int)n, a);
		return cl_why(why, 2, "unknown flag \"-%c\" (see --help)", optopt);
	}
	*o = opt_by_val(ch);
	if (idx >= 0 && a[0] == '-' && a[1] == '-') {
		size_t n = strcspn(a + 2, "=");

		if (n != strlen(lo[idx].name))
			return cl_why(why, 2, "unknown flag \"--%.*s\"; did you mean --%s?", (int)n,
			    a + 2, lo[idx].name);
	}
	*val = optarg;
	return 0;
}

static int
args_apply(struct cfg *c, int argc, char **argv, char *why)
{
	struct option lo[N_OPTS + 1];
	char reason[CL_WHY_MAX];
	const char *config = NULL, *val;
	const struct opt *o;
	int rc;

	longopts_fill(lo);
	opterr = 0;
	/* Pass 1: find --config and catch malformed arguments. */
	optind = 0; /* glibc: start afresh */
	while ((rc = flag_next(argc, argv, lo, &o, &val, why)) == 0) {
		if (o->kind != K_CONFIG)
			continue;
		if (config != NULL)
			return cl_why(why, 2, "--config given twice");
		if (val_path(val, NULL, reason) != 0)
			return cl_why(why, 2, "--config: %s", reason);
		config = val;
	}
	if (rc != 1)
		return 2;
	if (config != NULL && file_apply(c, config, why) != 0)
		return 2;
	/* Pass 2: every other flag, over the file's settings. */
	optind = 0;
	while ((rc = flag_next(argc, argv, lo, &o, &val, why)) == 0) {
		if (o->kind == K_CONFIG)
			continue;
		if (o->kind == K_BOOL) {
			*(bool *)(void *)((char *)c + o->off) = true;
			continue;
		}
		if (opt_apply(o, val, c, reason) != 0)
			return cl_why(why, 2, "--%s: %s", o->name, reason);
	}
	return rc == 1 ? 0 : 2;
}

int
cfg_parse(struct cfg *c, int argc, char **argv, char *why)
{
	return reason_clean(why, args_apply(c, argc, argv, why));
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
	size_t longest = STH_NOTE_MAX;

	if (c->data_dir[0] == '\0')
		return cl_why(why, 2, "--data: empty path");
	if (path_derive(c->key_path, c->data_dir, "log.key", "--key", why) != 0 ||
	    path_derive(c->submitters, c->data_dir, "submitters", "--submitters", why) != 0)
		return 2;
	if (c->rate_burst < 0)
		c->rate_burst = 2 * c->rate;
	if (c->map_max < c->map_size)
		c->map_max = c->map_size;
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
	if (c->n_witnesses == 0 && c->witness_quorum > 0)
		return cl_why(
		    why, 2, "--witness-quorum %u without any --witness", c->witness_quorum);
	if (c->witness_quorum > c->n_witnesses)
		return cl_why(why, 2, "--witness-quorum %u is more than the %zu witnesses given",
		    c->witness_quorum, c->n_witnesses);
	if (c->witness_quorum == 0)
		c->witness_quorum = (unsigned)c->n_witnesses;
	for (size_t i = 0; i < c->n_witnesses; i++) {
		char reason[CL_WHY_MAX];
		struct note_verifier *v = &c->witness_key[i];

		if (key_verifier_arg(c->witness_vkey[i], v, reason) != 0)
			return reason_clean(why, cl_why(why, 2, "--witness: %s", reason));
		if (v->type != NOTE_TYPE_COSIG)
			return cl_why(why, 2,
			    "--witness: %s is not a cosignature/v1 (type 0x04) key; use the "
			    "witness's witness.pub",
			    v->name);
		for (size_t j = 0; j < i; j++) {
			if (c->witness_key[j].id == v->id &&
			    strcmp(c->witness_key[j].name, v->name) == 0)
				return cl_why(why, 2, "--witness: %s is given twice", v->name);
		}
		longest += NOTE_COSIG_LINE_LEN(strlen(v->name));
	}
	/* Every answer carries the checkpoint, and API messages cap it: one
	 * cosigned by every witness must fit beside the longest line the log
	 * itself can sign. */
	if (longest > CL_CHECKPOINT_MAX)
		return cl_why(why, 2,
		    "--witness: a checkpoint cosigned by all %zu witnesses could be %zu bytes, "
		    "more than the %d an answer carries; use fewer witnesses or shorter "
		    "witness names",
		    c->n_witnesses, longest, CL_CHECKPOINT_MAX);
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
	case K_WITNESS:
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
	    "Config file (--config, INI syntax): one \"name = value\" per line, names as\n"
	    "the flags without \"--\" (for example \"listen = 0.0.0.0:8080\"); lines\n"
	    "starting with '#' or ';' are comments, and so is the rest of a line from\n"
	    "\" ;\" on.  The file is read before the flags, wherever --config appears,\n"
	    "and flags override it.  Unknown or repeated names and [sections] are errors.\n"
	    "\n"
	    "Signals: SIGHUP reloads the submitters file.  SIGTERM and SIGINT stop\n"
	    "accepting connections, finish the batches in flight, and exit.\n");
}
