/*
 * http.c: libcurl requests with timeouts, a body cap and retries.
 *
 * 429 and 503 mean "later", and closurelogd's writes are idempotent (a
 * resubmitted envelope gets its original index), so every request is
 * retried on them and on network errors, with exponential backoff that
 * honours a short Retry-After.
 */
#include "http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cl.h"
#include "cli.h"

struct sink {
	uint8_t *buf;
	size_t len, cap, max;
	bool over;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->len + n > s->max) {
		s->over = true;
		return 0; /* makes libcurl abort the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		uint8_t *t;

		while (cap < s->len + n + 1)
			cap *= 2;
		if ((t = realloc(s->buf, cap)) == NULL)
			return 0;
		s->buf = t;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static long
env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	uint64_t x;

	if (v == NULL || cl_u64_parse(v, strlen(v), &x) != 0)
		return def;
	return x >= (uint64_t)min && x <= (uint64_t)max ? (long)x : def;
}

void
cli_http_defaults(struct cli_http_opts *o)
{
	o->timeout_ms = env_long("CLOSURELOG_TIMEOUT_MS", 30000, 1, 3600000);
	o->attempts = (unsigned)env_long("CLOSURELOG_ATTEMPTS", 6, 1, 100);
	o->backoff_ms = env_long("CLOSURELOG_BACKOFF_MS", 200, 0, 60000);
	o->retry_lines = false;
}

int
cli_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : 1;
}

void
cli_http_cleanup(void)
{
	curl_global_cleanup();
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

int
cli_http_request(const struct cli_http_opts *o, const char *url, const uint8_t *body,
    size_t body_len, size_t max_body, struct cli_http_resp *r, char *why)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	long delay = o->backoff_ms;
	int rc = 1;

	memset(r, 0, sizeof *r);
	if (c == NULL)
		return cl_why(why, 1, "libcurl: cannot start");
	if (body != NULL)
		hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	for (unsigned attempt = 1; attempt <= o->attempts; attempt++) {
		struct sink s = {NULL, 0, 0, max_body, false};
		CURLcode cc;
		long status = 0;
		curl_off_t retry_after = 0;

		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
		curl_easy_setopt(
		    c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms < 10000 ? o->timeout_ms : 10000L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(c, CURLOPT_USERAGENT, "closurelog/" CL_VERSION);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		if (body != NULL) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		}
		cc = curl_easy_perform(c);
		if (s.over) {
			free(s.buf);
			rc = cl_why(why, 1, "%s: answer larger than %zu bytes", url, max_body);
			break;
		}
		if (cc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
			cli_http_resp_free(r);
			r->status = status;
			r->body = s.buf != NULL ? s.buf : calloc(1, 1);
			r->len = s.len;
			rc = 0;
			if ((status != 429 && status != 503) || attempt == o->attempts)
				break;
			if (retry_after > 0 && retry_after * 1000 > delay && retry_after <= 10)
				delay = (long)retry_after * 1000;
		} else {
			free(s.buf);
			rc = cl_why(why, 1, "%s: %s", url, curl_easy_strerror(cc));
			if (attempt == o->attempts)
				break;
		}
		if (o->retry_lines) {
			char reason[CL_WHY_MAX];

			if (rc == 0)
				cli_http_answer(r, reason);
			cli_warn("%s; try %u of %u in %ld ms", rc == 0 ? reason : why, attempt + 1,
			    o->attempts, delay);
		}
		sleep_ms(delay);
		delay *= 2;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (rc != 0)
		cli_http_resp_free(r);
	return rc;
}

void
cli_http_resp_free(struct cli_http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int
cli_http_answer(const struct cli_http_resp *r, char *why)
{
	char reason[160] = "";

	if (r->status >= 200 && r->status < 300)
		return 0;
	if (r->body != NULL)
		cl_line_copy(reason, sizeof reason, (const char *)r->body, r->len);
	return cl_why(why, r->status == 400 || r->status == 404 ? CLI_USAGE : CLI_FAIL,
	    "HTTP %ld: %s", r->status, reason);
}

int
cli_http_get(const struct cli_http_opts *o, const char *base, const char *path, size_t max_body,
    struct cli_http_resp *r, char *why)
{
	char url[8192], reason[CL_WHY_MAX];
	int rc;

	if ((size_t)snprintf(url, sizeof url, "%s/%s", base, path) >= sizeof url)
		return cl_why(why, CLI_USAGE, "%.80s: URL too long", path);
	if (cli_http_request(o, url, NULL, 0, max_body, r, why) != 0)
		return CLI_FAIL;
	if ((rc = cli_http_answer(r, reason)) != 0) {
		cli_http_resp_free(r);
		return cl_why(why, rc, "%.80s: %s", path, reason);
	}
	return 0;
}
