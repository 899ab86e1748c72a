/*
 * config_test.c: closurelogd's settings: the defaults, every flag in both
 * spellings, the config file applied before the flags wherever --config
 * stands, a table of bad flags and bad files that must each be refused with
 * a reason, the defaults cfg_finish derives, and the --help text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl.h"
#include "config.h"
#include "testutil.h"

#define MAX_ARGS 12

/* A temporary directory for config files, made once per test. */
struct tmp {
	char dir[64];
	char path[128]; /* dir "/closurelogd.conf" */
};

static int
tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof *t);

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof t->dir, "/tmp/config_test.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof t->path, "%s/closurelogd.conf", t->dir);
	*state = t;
	return 0;
}

static int
tmp_teardown(void **state)
{
	struct tmp *t = *state;

	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A refusal must come with a one-line, non-empty, printable reason. */
static void
assert_reason(const char *why, const char *what)
{
	if (why[0] == '\0' || strlen(why) >= CL_WHY_MAX)
		fail_msg("bad reason \"%s\" for %s", why, what);
	for (const char *p = why; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			fail_msg("control byte in reason \"%s\" for %s", why, what);
	}
}

/* Parse args (NULL-terminated, "@" stands for the config file path) over the
 * defaults into c; returns cfg_parse's code. */
static int
parse(struct cfg *c, const char *const *args, const char *path, char *why)
{
	char *argv[MAX_ARGS + 1];
	char eq[MAX_ARGS][256];
	int argc = 0;

	cfg_defaults(c);
	why[0] = '\0';
	argv[argc++] = (char *)"closurelogd";
	for (int i = 0; args[i] != NULL; i++) {
		assert_true(argc < MAX_ARGS);
		if (strcmp(args[i], "@") == 0) {
			argv[argc++] = (char *)path;
		} else if (strcmp(args[i], "--config=@") == 0) {
			snprintf(eq[i], sizeof eq[i], "--config=%s", path);
			argv[argc++] = eq[i];
		} else {
			argv[argc++] = (char *)args[i];
		}
	}
	argv[argc] = NULL;
	return cfg_parse(c, argc, argv, why);
}

/* ---- Defaults ---- */

static void
test_defaults(void **state)
{
	struct cfg c;
	char why[CL_WHY_MAX] = "";
	const char *none[] = {NULL};

	(void)state;
	cfg_defaults(&c);
	assert_string_equal(c.data_dir, "./closurelog-data");
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_string_equal(c.origin, "");
	assert_string_equal(c.key_path, "");
	assert_string_equal(c.submitters, "");
	assert_string_equal(c.user, "");
	assert_string_equal(c.port_file, "");
	assert_int_equal(c.max_conns, 1024);
	assert_true(c.rate == 2000);
	assert_int_equal(c.idle_timeout, 30);
	assert_int_equal(c.request_timeout, 10);
	assert_int_equal(c.batch_window_us, 0);
	assert_int_equal(c.batch_max, 4096);
	assert_int_equal(c.queue_max, 65536);
	assert_int_equal(c.verify_threads, 0);
	assert_int_equal(c.http_threads, 0);
	assert_int_equal(c.map_size, (size_t)64 << 30);
	assert_int_equal(c.rate_prefix6, 64);
	assert_false(c.help);
	assert_false(c.version);

	/* No arguments change nothing. */
	assert_int_equal(parse(&c, none, NULL, why), 0);
	assert_string_equal(c.data_dir, "./closurelog-data");
	assert_int_equal(c.max_conns, 1024);
}

/* ---- Every flag, "--name value" and "--name=value" ---- */

enum field {
	F_DATA,
	F_LISTEN, /* want_s host, want_n port */
	F_ORIGIN,
	F_KEY,
	F_SUBMITTERS,
	F_USER,
	F_PORT_FILE,
	F_MAX_CONNS,
	F_RATE,
	F_RATE_BURST,
	F_IDLE,
	F_REQUEST,
	F_WINDOW,
	F_BATCH_MAX,
	F_QUEUE_MAX,
	F_VERIFY,
	F_HTTP,
	F_MAP,
	F_RATE_PREFIX6,
};

static const struct {
	const char *flag, *value;
	enum field field;
	const char *want_s;
	double want_n;
} good[] = {
    {"data", "/var/lib/closurelog", F_DATA, "/var/lib/closurelog", 0},
    {"listen", "0.0.0.0:9000", F_LISTEN, "0.0.0.0", 9000},
    {"listen", "[::1]:8080", F_LISTEN, "::1", 8080},
    {"listen", "[::]:0", F_LISTEN, "::", 0},
    {"listen", "localhost:65535", F_LISTEN, "localhost", 65535},
    {"listen", "log.example.org:443", F_LISTEN, "log.example.org", 443},
    {"origin", "log.example.org/closurelog", F_ORIGIN, "log.example.org/closurelog", 0},
    {"key", "/etc/closurelog/log.key", F_KEY, "/etc/closurelog/log.key", 0},
    {"submitters", "subs.txt", F_SUBMITTERS, "subs.txt", 0},
    {"user", "_closure-log.1", F_USER, "_closure-log.1", 0},
    {"port-file", "/tmp/port", F_PORT_FILE, "/tmp/port", 0},
    {"max-conns", "1", F_MAX_CONNS, NULL, 1},
    {"max-conns", "1000000", F_MAX_CONNS, NULL, 1000000},
    {"rate", "0", F_RATE, NULL, 0},
    {"rate", "12.5", F_RATE, NULL, 12.5},
    {"rate", "1e3", F_RATE, NULL, 1000},
    {"rate-burst", "100", F_RATE_BURST, NULL, 100},
    {"idle-timeout", "3600", F_IDLE, NULL, 3600},
    {"request-timeout", "1", F_REQUEST, NULL, 1},
    {"batch-window", "0", F_WINDOW, NULL, 0},
    {"batch-window", "1000000", F_WINDOW, NULL, 1000000},
    {"batch-max", "65536", F_BATCH_MAX, NULL, 65536},
    {"queue-max", "10000000", F_QUEUE_MAX, NULL, 10000000},
    {"verify-threads", "0", F_VERIFY, NULL, 0},
    {"verify-threads", "256", F_VERIFY, NULL, 256},
    {"http-threads", "64", F_HTTP, NULL, 64},
    {"map-size", "1M", F_MAP, NULL, 1048576},
    {"map-size", "2G", F_MAP, NULL, 2147483648.0},
    {"map-size", "1T", F_MAP, NULL, 1099511627776.0},
    {"map-size", "5000000", F_MAP, NULL, 5000000},
    {"map-size", "2048K", F_MAP, NULL, 2097152},
    {"rate-prefix6", "48", F_RATE_PREFIX6, NULL, 48},
    {"rate-prefix6", "128", F_RATE_PREFIX6, NULL, 128},
};

static void
check_field(const struct cfg *c, size_t row)
{
	const char *s = good[row].want_s;
	double n = good[row].want_n;

	switch (good[row].field) {
	case F_DATA:
		assert_string_equal(c->data_dir, s);
		break;
	case F_LISTEN:
		assert_string_equal(c->listen_host, s);
		assert_int_equal(c->listen_port, (unsigned)n);
		break;
	case F_ORIGIN:
		assert_string_equal(c->origin, s);
		break;
	case F_KEY:
		assert_string_equal(c->key_path, s);
		break;
	case F_SUBMITTERS:
		assert_string_equal(c->submitters, s);
		break;
	case F_USER:
		assert_string_equal(c->user, s);
		break;
	case F_PORT_FILE:
		assert_string_equal(c->port_file, s);
		break;
	case F_MAX_CONNS:
		assert_true(c->max_conns == n);
		break;
	case F_RATE:
		assert_true(c->rate == n);
		break;
	case F_RATE_BURST:
		assert_true(c->rate_burst == n);
		break;
	case F_IDLE:
		assert_true(c->idle_timeout == n);
		break;
	case F_REQUEST:
		assert_true(c->request_timeout == n);
		break;
	case F_WINDOW:
		assert_true(c->batch_window_us == n);
		break;
	case F_BATCH_MAX:
		assert_true(c->batch_max == n);
		break;
	case F_QUEUE_MAX:
		assert_true(c->queue_max == n);
		break;
	case F_VERIFY:
		assert_true(c->verify_threads == n);
		break;
	case F_HTTP:
		assert_true(c->http_threads == n);
		break;
	case F_MAP:
		assert_true(c->map_size == n);
		break;
	case F_RATE_PREFIX6:
		assert_true(c->rate_prefix6 == n);
		break;
	}
}

static void
test_flags(void **state)
{
	struct cfg c;
	char why[CL_WHY_MAX], name[64], joined[512];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *two[] = {name, good[i].value, NULL};
		const char *one[] = {joined, NULL};

		snprintf(name, sizeof name, "--%s", good[i].flag);
		snprintf(joined, sizeof joined, "--%s=%s", good[i].flag, good[i].value);
		if (parse(&c, two, NULL, why) != 0)
			fail_msg("%s %s: %s", name, good[i].value, why);
		check_field(&c, i);
		if (parse(&c, one, NULL, why) != 0)
			fail_msg("%s: %s", joined, why);
		check_field(&c, i);
	}
}

static void
test_bool_flags(void **state)
{
	struct cfg c;
	char why[CL_WHY_MAX];
	const char *help[] = {"--help", NULL}, *h[] = {"-h", NULL},
	           *version[] = {"--version", NULL};
	const char *both[] = {"--max-conns=5", "--version", "-h", NULL};

	(void)state;
	assert_int_equal(parse(&c, help, NULL, why), 0);
	assert_true(c.help);
	assert_false(c.version);
	assert_int_equal(parse(&c, h, NULL, why), 0);
	assert_true(c.help);
	assert_int_equal(parse(&c, version, NULL, why), 0);
	assert_true(c.version);
	assert_false(c.help);
	assert_int_equal(parse(&c, both, NULL, why), 0);
	assert_true(c.help && c.version);
	assert_int_equal(c.max_conns, 5);
}

/* ---- The config file, then the flags ---- */

static const char conf_text[] = "# closurelogd settings\n"
                                "\n"
                                "listen = 0.0.0.0:9000\n"
                                "   max-conns=10\n"
                                "\tdata =  /srv/log data  \n"
                                "origin = example.org/log\r\n"
                                "  # an indented comment = not a setting\n"
                                "rate = 50\n"
                                "map-size = 2G"; /* no final newline */

static void
test_config_order(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char why[CL_WHY_MAX];
	const char *only[] = {"--config", "@", NULL};
	const char *before[] = {"--max-conns", "20", "--rate=7", "--config", "@", NULL};
	const char *after[] = {"--max-conns=30", "--config=@", "--listen", "[::1]:1", NULL};
	const char *middle[] = {"--data", "/d", "--config", "@", "--batch-max", "9", NULL};

	write_file(t->path, conf_text, strlen(conf_text));

	assert_int_equal(parse(&c, only, t->path, why), 0);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(c.max_conns, 10);
	assert_string_equal(c.data_dir, "/srv/log data");
	assert_string_equal(c.origin, "example.org/log");
	assert_true(c.rate == 50);
	assert_int_equal(c.map_size, (size_t)2 << 30);
	assert_int_equal(c.batch_max, 4096); /* not in the file: default */

	/* Flags before --config still win over the file. */
	assert_int_equal(parse(&c, before, t->path, why), 0);
	assert_int_equal(c.max_conns, 20);
	assert_true(c.rate == 7);
	assert_int_equal(c.listen_port, 9000);

	assert_int_equal(parse(&c, after, t->path, why), 0);
	assert_int_equal(c.max_conns, 30);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 1);
	assert_string_equal(c.data_dir, "/srv/log data");

	assert_int_equal(parse(&c, middle, t->path, why), 0);
	assert_string_equal(c.data_dir, "/d");
	assert_int_equal(c.batch_max, 9);
	assert_int_equal(c.max_conns, 10);

	/* An empty file and a file of comments set nothing. */
	write_file(t->path, "", 0);
	assert_int_equal(parse(&c, only, t->path, why), 0);
	assert_int_equal(c.max_conns, 1024);
	write_file(t->path, "#x\n\n# y = 1\n", 11);
	assert_int_equal(parse(&c, only, t->path, why), 0);
}

/* ---- Refusals ---- */

static const struct {
	const char *args[MAX_ARGS];
} bad_flags[] = {
    {{"--bogus", NULL}},
    {{"--bogus=1", NULL}},
    {{"-x", NULL}},
    {{"stray", NULL}},
    {{"--", NULL}},
    {{"-", NULL}},
    {{"--data", NULL}},
    {{"--max-conns", NULL}},
    {{"--help=yes", NULL}},
    {{"--data=", NULL}},
    {{"--key", "", NULL}},
    {{"--max-conns", "0", NULL}},
    {{"--max-conns", "1000001", NULL}},
    {{"--max-conns", "1e3", NULL}},
    {{"--max-conns", "-1", NULL}},
    {{"--max-conns", "+1", NULL}},
    {{"--max-conns", " 1", NULL}},
    {{"--max-conns", "1 ", NULL}},
    {{"--max-conns", "", NULL}},
    {{"--max-conns", "0x10", NULL}},
    {{"--max-conns", "99999999999999999999", NULL}},
    {{"--max-conns", "4294967297", NULL}},
    {{"--idle-timeout", "0", NULL}},
    {{"--idle-timeout", "3601", NULL}},
    {{"--idle-timeout", "060", NULL}},
    {{"--map-size", "01G", NULL}},
    {{"--request-timeout", "0", NULL}},
    {{"--batch-max", "65537", NULL}},
    {{"--batch-window", "1000001", NULL}},
    {{"--queue-max", "0", NULL}},
    {{"--queue-max", "10000001", NULL}},
    {{"--verify-threads", "257", NULL}},
    {{"--http-threads", "65", NULL}},
    {{"--listen", "127.0.0.1", NULL}},
    {{"--listen", ":80", NULL}},
    {{"--listen", "1.2.3.4:65536", NULL}},
    {{"--listen", "1.2.3.4:", NULL}},
    {{"--listen", "1.2.3.4:-1", NULL}},
    {{"--listen", "1.2.3.4:8o", NULL}},
    {{"--listen", "1.2.3:80", NULL}},
    {{"--listen", "256.1.1.1:80", NULL}},
    {{"--listen", "::1:80", NULL}},
    {{"--listen", "[::1]", NULL}},
    {{"--listen", "[::1]80", NULL}},
    {{"--listen", "[1.2.3.4]:80", NULL}},
    {{"--listen", "[]:80", NULL}},
    {{"--listen", "bad_host:80", NULL}},
    {{"--listen", "-bad.org:80", NULL}},
    {{"--listen", "a..b:80", NULL}},
    {{"--map-size", "10", NULL}},
    {{"--map-size", "1023K", NULL}},
    {{"--map-size", "1Q", NULL}},
    {{"--map-size", "1MB", NULL}},
    {{"--map-size", "M", NULL}},
    {{"--map-size", "99999999999T", NULL}},
    {{"--origin", "a b", NULL}},
    {{"--origin", "a+b", NULL}},
    {{"--origin", "", NULL}},
    {{"--origin", "caf\xc3\xa9", NULL}},
    {{"--origin", "a\tb", NULL}},
    {{"--rate", "-1", NULL}},
    {{"--rate", "nan", NULL}},
    {{"--rate", "inf", NULL}},
    {{"--rate", "1e999", NULL}},
    {{"--rate", "0x10", NULL}},
    {{"--rate", "1.5x", NULL}},
    {{"--rate", "", NULL}},
    {{"--rate", " 1", NULL}},
    {{"--rate-burst", "-0.5", NULL}},
    {{"--user", "x y", NULL}},
    {{"--user", "", NULL}},
    {{"--user", "root;", NULL}},
    {{"--user", "a234567890123456789012345678901234567890123456789012345678901234", NULL}},
    {{"--config", "@", "--config", "@", NULL}},
    {{"--config=@", "--config=@", NULL}},
    {{"--config", "/nonexistent/closurelogd.conf", NULL}},
    {{"--config", "", NULL}},
    /* Flags are spelled in full: getopt_long alone would take prefixes. */
    {{"--max", "5", NULL}},
    {{"--rate-b=5", NULL}},
    {{"--vers", NULL}},
    {{"--rate-prefix6", "129", NULL}},
    {{"--rate-prefix6", "64x", NULL}},
};

static void
test_bad_flags(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char why[CL_WHY_MAX], what[512];

	write_file(t->path, "max-conns = 5\n", 14);
	for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
		const char *const *a = bad_flags[i].args;
		int rc = parse(&c, a, t->path, why);

		snprintf(what, sizeof what, "%s %s %s", a[0], a[1] ? a[1] : "",
		    a[1] && a[2] ? a[2] : "");
		if (rc != 2)
			fail_msg("\"%s\" gave %d, want 2", what, rc);
		assert_reason(why, what);
	}
}

static void
test_long_path(void **state)
{
	struct cfg c;
	char why[CL_WHY_MAX], *path = malloc(CFG_PATH_MAX + 1);
	const char *args[] = {"--data", path, NULL};

	(void)state;
	assert_non_null(path);
	memset(path, 'a', CFG_PATH_MAX);
	path[CFG_PATH_MAX] = '\0';
	assert_int_equal(parse(&c, args, NULL, why), 2);
	assert_reason(why, "--data of CFG_PATH_MAX bytes");
	path[CFG_PATH_MAX - 1] = '\0'; /* the longest that fits */
	assert_int_equal(parse(&c, args, NULL, why), 0);
	assert_int_equal(strlen(c.data_dir), CFG_PATH_MAX - 1);
	/* ... but then <data>/log.key does not. */
	assert_int_equal(cfg_finish(&c, why), 2);
	assert_reason(why, "derived key path too long");
	free(path);
}

static const struct {
	const char *text;
	const char *want; /* a substring of the reason */
} bad_files[] = {
    {"# settings\nlisen = 1.2.3.4:5\n", "closurelogd.conf:2: unknown setting \"lisen\""},
    {"max-conns = 5\nrate = 1\nmax-conns = 6\n", ":3: max-conns is set twice (first on line 1)"},
    {"max-conns 5\n", ":1: expected \"name = value\""},
    {"= 5\n", ":1:"},
    {"max-conns =\n", ":1: max-conns:"},
    {"max-conns = 0\n", ":1: max-conns:"},
    {"\n\n\n\n\n\n\nlisten = 1.2.3.4\n", "closurelogd.conf:8: listen:"},
    {"map-size = 1Q\n", "map-size"},
    {"origin = a b\n", "origin"},
    {"config = /etc/other.conf\n", ":1:"},
    {"help = 1\n", ":1: unknown setting"},
    {"--max-conns = 5\n", "unknown setting"},
    {"max-conns = 5 # five\n", "max-conns"},
    {"max\x1b[2Jconns = 5\n", ":1: unknown setting"},
    {"[server]\nmax-conns = 5\n", ":1: sections are not supported"},
    {"rate = 1\n  \tmax-conns 5\n", ":2: expected \"name = value\""},
    {"rate = 1\n\n   max-conns = 5 6\n", ":3: max-conns"},
    /* Found by fuzz_config: a value echoed in the reason kept its control bytes. */
    {"listen = [::2]:0\vrate = \xbd"
     "8!\n",
        ":1: listen:"},
};

static void
test_bad_files(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char why[CL_WHY_MAX];
	const char *args[] = {"--config", "@", NULL};

	for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
		write_file(t->path, bad_files[i].text, strlen(bad_files[i].text));
		if (parse(&c, args, t->path, why) != 2)
			fail_msg("file \"%s\" accepted", bad_files[i].text);
		assert_reason(why, bad_files[i].text);
		if (strstr(why, bad_files[i].want) == NULL)
			fail_msg("reason \"%s\" lacks \"%s\"", why, bad_files[i].want);
		/* Errors name the file. */
		assert_non_null(strstr(why, t->path));
	}
}

/* Size caps: 64 KiB for the file, 4096 bytes for a line; and no NUL bytes. */
static void
test_file_caps(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char why[CL_WHY_MAX];
	const char *args[] = {"--config", "@", NULL};
	size_t big = 64 * 1024;
	char *text = malloc(big + 2);

	assert_non_null(text);
	/* Exactly 64 KiB of comment lines is fine, one byte more is not. */
	memset(text, '#', big);
	for (size_t i = 100; i < big; i += 100)
		text[i] = '\n';
	write_file(t->path, text, big);
	assert_int_equal(parse(&c, args, t->path, why), 0);
	text[big] = '\n';
	write_file(t->path, text, big + 1);
	assert_int_equal(parse(&c, args, t->path, why), 2);
	assert_reason(why, "oversized file");
	assert_non_null(strstr(why, t->path));

	/* A 4096-byte line is fine, a 4097-byte one is not. */
	memset(text, '#', 4097);
	text[4096] = '\n';
	write_file(t->path, text, 4097);
	assert_int_equal(parse(&c, args, t->path, why), 0);
	text[4096] = '#';
	text[4097] = '\n';
	write_file(t->path, text, 4098);
	assert_int_equal(parse(&c, args, t->path, why), 2);
	assert_reason(why, "long line");
	assert_non_null(strstr(why, ":1:"));

	/* A setting's line inih would split is refused, never cut short: a
	 * data path of 191 bytes fits in inih's 198, one of 192 does not. */
	memcpy(text, "data = /", 8);
	memset(text + 8, 'd', 190);
	text[198] = '\n';
	write_file(t->path, text, 199);
	assert_int_equal(parse(&c, args, t->path, why), 0);
	assert_int_equal(strlen(c.data_dir), 191);
	text[198] = 'd';
	text[199] = '\n';
	write_file(t->path, text, 200);
	assert_int_equal(parse(&c, args, t->path, why), 2);
	assert_reason(why, "setting line above inih's buffer");
	assert_non_null(strstr(why, ":1: a setting's line may be at most 198 bytes"));
	/* A " ;" comment after a value is an INI comment. */
	write_file(t->path, "max-conns = 7 ; seven\n", 22);
	assert_int_equal(parse(&c, args, t->path, why), 0);
	assert_int_equal(c.max_conns, 7);

	write_file(t->path, "rate = 1\0\n", 10);
	assert_int_equal(parse(&c, args, t->path, why), 2);
	assert_reason(why, "NUL byte");

	/* A directory is not a config file. */
	assert_int_equal(parse(&c, args, t->dir, why), 2);
	assert_reason(why, "directory");
	free(text);
}

/* ---- cfg_finish ---- */

static void
test_finish(void **state)
{
	struct cfg c;
	char why[CL_WHY_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *none[] = {NULL};
	const char *data[] = {"--data", "/srv/cl/", "--rate", "10", "--verify-threads", "3", NULL};
	const char *given[] = {"--data=/x", "--key=/k", "--submitters=/s", "--rate-burst=5", NULL};
	const char *off[] = {"--rate", "0", NULL};
	const char *tiny[] = {"--rate", "0.1", NULL};
	const char *tiny_ok[] = {"--rate", "0.1", "--rate-burst", "1", NULL};
	const char *burst0[] = {"--rate-burst", "0", NULL};

	(void)state;
	if (cpus < 1)
		cpus = 1;
	if (cpus > 256)
		cpus = 256;

	assert_int_equal(parse(&c, none, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_string_equal(c.key_path, "./closurelog-data/log.key");
	assert_string_equal(c.submitters, "./closurelog-data/submitters");
	assert_true(c.rate_burst == 4000);
	assert_int_equal(c.verify_threads, (unsigned)cpus);
	assert_int_equal(c.http_threads, (unsigned)(cpus > 64 ? 64 : cpus));
	/* Finishing twice changes nothing. */
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_string_equal(c.key_path, "./closurelog-data/log.key");
	assert_true(c.rate_burst == 4000);

	assert_int_equal(parse(&c, data, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_string_equal(c.key_path, "/srv/cl/log.key");
	assert_string_equal(c.submitters, "/srv/cl/submitters");
	assert_true(c.rate_burst == 20);
	assert_int_equal(c.verify_threads, 3);

	assert_int_equal(parse(&c, given, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_string_equal(c.key_path, "/k");
	assert_string_equal(c.submitters, "/s");
	assert_true(c.rate_burst == 5);

	/* Rate limiting off: the burst does not matter. */
	assert_int_equal(parse(&c, off, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_true(c.rate == 0 && c.rate_burst == 0);

	/* A bucket smaller than one request would refuse everything. */
	assert_int_equal(parse(&c, tiny, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 2);
	assert_reason(why, "rate 0.1 without a burst");
	assert_int_equal(parse(&c, tiny_ok, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 0);
	assert_int_equal(parse(&c, burst0, NULL, why), 0);
	assert_int_equal(cfg_finish(&c, why), 2);
	assert_reason(why, "rate-burst 0");
}

/* ---- --witness ---- */

#define WKEY "example.com/witness-test+7bab4ff8+BHAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH"
#define LKEY "example.com/tlog-test+462c75dd+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

static void
test_witness(void **state)
{
	static const char *const one[] = {"--witness", WKEY "=http://127.0.0.1:9/w/", NULL};
	static const char *const twice[] = {
	    "--witness", WKEY "=http://a:1", "--witness", WKEY "=http://b:1", NULL};
	static const char *const logkey[] = {"--witness", LKEY "=http://a:1", NULL};
	static const char *const quorum[] = {
	    "--witness", WKEY "=http://a:1", "--witness-quorum", "2", NULL};
	static const char *const lonely[] = {"--witness-quorum", "1", NULL};
	static const struct {
		const char *args[4];
		const char *reason;
	} bad[] = {
	    {{"--witness", WKEY "=https://a:1", NULL}, "https:// witnesses are not supported"},
	    {{"--witness", WKEY "=httpx://a:1", NULL}, "only http://"},
	    {{"--witness", WKEY, NULL}, "not VKEY=http"},
	    {{"--witness", "=http://a:1", NULL}, "not VKEY=http"},
	    {{"--witness-timeout", "0", NULL}, "out of range"},
	    {{"--witness-quorum", "33", NULL}, "out of range"},
	};
	struct cfg *c = malloc(sizeof *c);
	char why[CL_WHY_MAX];

	(void)state;
	assert_non_null(c);
	assert_int_equal(parse(c, one, NULL, why), 0);
	assert_int_equal(cfg_finish(c, why), 0);
	assert_int_equal(c->n_witnesses, 1);
	assert_int_equal(c->witness_quorum, 1);
	assert_int_equal(c->witness_timeout_ms, 3000);
	assert_string_equal(c->witness_url[0], "http://127.0.0.1:9/w/");
	assert_int_equal(c->witness_key[0].type, 0x04);
	assert_string_equal(c->witness_key[0].name, "example.com/witness-test");

	assert_int_equal(parse(c, twice, NULL, why), 0);
	assert_int_equal(cfg_finish(c, why), 2);
	assert_reason(why, "given twice");
	if (strstr(why, "given twice") == NULL)
		fail_msg("reason \"%s\" lacks %s", why, "given twice");
	assert_int_equal(parse(c, logkey, NULL, why), 0);
	assert_int_equal(cfg_finish(c, why), 2);
	assert_reason(why, "type 0x04");
	if (strstr(why, "type 0x04") == NULL)
		fail_msg("reason \"%s\" lacks %s", why, "type 0x04");
	assert_int_equal(parse(c, quorum, NULL, why), 0);
	assert_int_equal(cfg_finish(c, why), 2);
	assert_reason(why, "more than the 1 witnesses");
	if (strstr(why, "more than the 1 witnesses") == NULL)
		fail_msg("reason \"%s\" lacks %s", why, "more than the 1 witnesses");
	assert_int_equal(parse(c, lonely, NULL, why), 0);
	assert_int_equal(cfg_finish(c, why), 2);
	assert_reason(why, "without any --witness");
	if (strstr(why, "without any --witness") == NULL)
		fail_msg("reason \"%s\" lacks %s", why, "without any --witness");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(c, bad[i].args, NULL, why), 2);
		assert_reason(why, bad[i].reason);
		if (strstr(why, bad[i].reason) == NULL)
			fail_msg("reason \"%s\" lacks %s", why, bad[i].reason);
	}
	free(c);
}

/* ---- --help ---- */

static void
test_usage(void **state)
{
	static const char *const flags[] = {"--data", "--listen", "--origin", "--key",
	    "--submitters", "--user", "--port-file", "--max-conns", "--rate", "--rate-burst",
	    "--idle-timeout", "--request-timeout", "--batch-window", "--batch-max", "--queue-max",
	    "--verify-threads", "--http-threads", "--map-size", "--config", "--help", "-h",
	    "--rate-prefix6", "--version", "--witness", "--witness-quorum", "--witness-timeout",
	    "SIGHUP", "SIGTERM", "SIGINT", "127.0.0.1:8080", "64G"};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	cfg_usage(f);
	assert_int_equal(fclose(f), 0);
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (strstr(text, flags[i]) == NULL)
			fail_msg("--help does not mention %s", flags[i]);
	}
	free(text);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_bool_flags),
	    cmocka_unit_test_setup_teardown(test_config_order, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_flags, tmp_setup, tmp_teardown),
	    cmocka_unit_test(test_long_path),
	    cmocka_unit_test_setup_teardown(test_bad_files, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_file_caps, tmp_setup, tmp_teardown),
	    cmocka_unit_test(test_finish),
	    cmocka_unit_test(test_witness),
	    cmocka_unit_test(test_usage),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
