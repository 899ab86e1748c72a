/*
 * fuzz_query.c: closurelogd's strict query parser (rt_query_parse) must
 * never crash or write past its buffer, and must agree with a naive model
 * of the rules in route.h.  The first byte of input picks how many of the
 * names "a", "index", "root", "n" are allowed (its value mod 5) and, with
 * its top bit, that there is no query at all; the rest is the query ("" is
 * a bare '?').
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"a", "index", "root", "n"};

static int
hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The rules, one pair at a time: true if the whole query is acceptable,
 * with want[i] the decoded value of names[i] (or NULL). */
static bool
model(const char *q, size_t len, size_t n, char want[4][RT_QUERY_MAX + 1], bool have[4])
{
	size_t start = 0, total = 0;

	memset(have, 0, 4 * sizeof have[0]);
	for (;;) {
		size_t end = start, eq, i, o = 0;

		while (end < len && q[end] != '&')
			end++;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		if (eq == end || eq == start)
			return false;
		for (i = 0; i < n; i++)
			if (strlen(names[i]) == eq - start &&
			    memcmp(names[i], q + start, eq - start) == 0)
				break;
		if (i == n || have[i] || eq + 1 == end)
			return false;
		for (size_t p = eq + 1; p < end; p++) {
			int ch = (unsigned char)q[p];

			if (ch == '%') {
				if (end - p < 3 || hexv(q[p + 1]) < 0 || hexv(q[p + 2]) < 0)
					return false;
				ch = hexv(q[p + 1]) * 16 + hexv(q[p + 2]);
				p += 2;
			}
			if (ch < 0x20 || ch == 0x7f)
				return false;
			want[i][o++] = (char)ch;
			if (++total > RT_QUERY_MAX)
				return false;
		}
		want[i][o] = '\0';
		total++;
		have[i] = true;
		if (end == len)
			return true;
		start = end + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char want[4][RT_QUERY_MAX + 1];
	const char *vals[4];
	char why[CL_WHY_MAX], *buf, *q = NULL;
	bool have[4], ok;
	size_t n, len;
	int rc;

	if (size < 1 || size > 2 * RT_QUERY_MAX)
		return 0;
	n = data[0] % 5;
	len = size - 1;
	/* Exact-size copies, so that ASan sees any read or write past them. */
	if (!(data[0] & 0x80)) {
		if ((q = malloc(len > 0 ? len : 1)) == NULL)
			abort();
		memcpy(q, data + 1, len);
	}
	if ((buf = malloc(RT_QUERY_MAX + 1)) == NULL)
		abort();
	rc = rt_query_parse(q, len, names, n, buf, vals, why);
	/* No query is acceptable; a bare '?' is not. */
	ok = q == NULL ? true : model(q, len, n, want, have);
	if (q == NULL)
		memset(have, 0, sizeof have);
	if ((rc == 0) != ok)
		abort();
	if (rc != 0) {
		if (rc != CL_EINVAL || memchr(why, '\n', strnlen(why, sizeof why)) != NULL ||
		    strnlen(why, sizeof why) == sizeof why)
			abort();
	} else {
		for (size_t i = 0; i < n; i++) {
			if ((vals[i] != NULL) != have[i])
				abort();
			if (vals[i] != NULL &&
			    (vals[i] < buf || vals[i] > buf + RT_QUERY_MAX ||
			        strcmp(vals[i], want[i]) != 0))
				abort();
		}
	}
	free(buf);
	free(q);
	return 0;
}
