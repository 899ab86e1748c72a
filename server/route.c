/*
 * route.c: answers in the shape docs/api.md promises, and query strings
 * read strictly, for every closurelogd route.
 *
 * Query values are checked as bytes with lengths, never as C strings of
 * unknown extent: "index=0%00junk" is refused, not read as "0".
 */
#include "route.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cl.h"

void
rt_reply(struct http_req *req, int code, const char *ctype, const char *cache, const void *body,
    size_t len)
{
	http_reply(req, code, ctype, cache, body, len, false);
}

void
rt_fail(struct rt *t, struct http_req *req, int code, int reject, const char *headers,
    const char *fmt, ...)
{
	char line[CL_WHY_MAX + 2], hdr[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	/* One line: no stray newlines from untrusted text. */
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	snprintf(hdr, sizeof hdr, "%s%s%s", RT_CACHE_NO_STORE,
	    code == 503 || code == 429 ? "Retry-After: 1\r\n" : "", headers != NULL ? headers : "");
	if (reject >= 0)
		metrics_reject(t->m, (enum metrics_reject)reject);
	http_reply(req, code, RT_CT_TEXT, hdr, line, (size_t)n, false);
}

void
rt_reply_pb(struct rt *t, struct http_req *req, int code, int rc, const uint8_t *out, size_t len)
{
	if (rc != 0) {
		rt_fail(t, req, 500, -1, NULL, "encoding the answer failed: %s", cl_strerror(rc));
		return;
	}
	rt_reply(req, code, RT_CT_PROTOBUF, RT_CACHE_NO_CACHE, out, len);
}

bool
rt_u64(const char *s, uint64_t *out)
{
	return s != NULL && cl_u64_parse(s, strlen(s), out) == 0;
}

bool
rt_reader_begin(struct rt *t, struct http_req *req)
{
	int rc = st_reader_begin(t->reader);

	if (rc != 0)
		rt_fail(t, req, 503, R_STORAGE, NULL, "store unavailable: %s", st_strerror(rc));
	return rc == 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
rt_no_query(struct rt *t, struct http_req *req)
{
	if (req->query == NULL)
		return true;
	rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "%.80s takes no query parameters", req->path);
	return false;
}

int
rt_query_parse(const char *q, size_t len, const char *const *allowed, size_t n, char *buf,
    const char **vals, char *why)
{
	const char *end = q + len;
	size_t used = 0;

	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	if (q == NULL)
		return 0;
	for (;;) {
		const char *amp = memchr(q, '&', (size_t)(end - q)), *eq;
		const char *pe = amp != NULL ? amp : end;
		size_t i, nl;
		char *out;

		eq = memchr(q, '=', (size_t)(pe - q));
		if (eq == NULL || eq == q)
			goto bad_pair;
		nl = (size_t)(eq - q);
		for (i = 0; i < n; i++) {
			if (strlen(allowed[i]) == nl && memcmp(allowed[i], q, nl) == 0)
				break;
		}
		if (i == n) {
			/* The name is untrusted: only printable bytes are shown. */
			int k = 0;

			while ((size_t)k < nl && k < 40 && q[k] >= 0x20 && q[k] < 0x7f)
				k++;
			return cl_why(why, CL_EINVAL, "unknown parameter \"%.*s%s\"", k, q,
			    (size_t)k < nl ? "..." : "");
		}
		if (vals[i] != NULL)
			return cl_why(why, CL_EINVAL, "parameter \"%s\" given twice", allowed[i]);
		if (eq + 1 == pe)
			return cl_why(why, CL_EINVAL, "%s: empty value", allowed[i]);
		/* Decoded values never outgrow their encoding, so a buffer as
		 * long as the query plus one NUL per pair holds all of them;
		 * the check below keeps that promise for any caller. */
		out = buf + used;
		for (const char *p = eq + 1; p < pe; p++) {
			int ch = (unsigned char)*p;

			if (ch == '%') {
				int hi, lo;

				if (pe - p < 3 || (hi = hexval(p[1])) < 0 ||
				    (lo = hexval(p[2])) < 0)
					return cl_why(why, CL_EINVAL,
					    "%s: malformed percent-encoding", allowed[i]);
				ch = hi * 16 + lo;
				p += 2;
			}
			if (ch < 0x20 || ch == 0x7f)
				return cl_why(why, CL_EINVAL, "%s: control character in the value",
				    allowed[i]);
			if (used >= RT_QUERY_MAX)
				return cl_why(why, CL_EINVAL, "query too long");
			buf[used++] = (char)ch;
		}
		buf[used++] = '\0';
		vals[i] = out;
		if (amp == NULL)
			return 0;
		q = amp + 1;
	}
bad_pair:
	return cl_why(why, CL_EINVAL, "malformed query: each parameter is name=value");
}

bool
rt_query(
    struct rt *t, struct http_req *req, const char *const *allowed, size_t n, const char **vals)
{
	char why[CL_WHY_MAX];

	if (rt_query_parse(req->query, req->query_len, allowed, n, t->query, vals, why) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	rt_fail(t, req, 400, R_BAD_REQUEST, NULL, "%s", why);
	return false;
}
