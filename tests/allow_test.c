/*
 * allow_test.c: the submitter allowlist (server/allow.c): a table of files
 * and what each gives (keys, or a refusal naming the line), the caps, a
 * missing file as an empty list, and reloads: a bad file keeps the old
 * list, a good one replaces it, and a snapshot held across a reload stays
 * valid until released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "allow.h"
#include "cl.h"
#include "harness.h"
#include "note.h"
#include "testutil.h"

static char k1[NOTE_VKEY_MAX], k2[NOTE_VKEY_MAX];

static void
keys_init(void)
{
	struct note_signer s;
	struct note_verifier v;
	uint8_t seed[32];

	memset(seed, 1, sizeof seed);
	assert_int_equal(note_signer_from_seed("ci.example.com", seed, &s, NULL), 0);
	note_signer_verifier(&s, &v);
	note_verifier_format(&v, k1, sizeof k1);
	memset(seed, 2, sizeof seed);
	assert_int_equal(note_signer_from_seed("ci2.example.com", seed, &s, NULL), 0);
	note_signer_verifier(&s, &v);
	note_verifier_format(&v, k2, sizeof k2);
	note_signer_wipe(&s);
}

/* Parse text with "K1"/"K2" standing for the two keys. */
static int
parse(const char *tmpl, struct allow_list **out, char *why)
{
	char text[4096], *p = text;

	for (const char *t = tmpl; *t != '\0';) {
		if (strncmp(t, "K1", 2) == 0 || strncmp(t, "K2", 2) == 0) {
			p += sprintf(p, "%s", t[1] == '1' ? k1 : k2);
			t += 2;
		} else {
			*p++ = *t++;
		}
	}
	*p = '\0';
	return allow_list_parse("subs", text, strlen(text), out, why);
}

static void
test_parse_table(void **state)
{
	static const struct {
		const char *text;
		int rc;
		size_t n;
		const char *why; /* substring of the reason */
	} cases[] = {
	    {"", 0, 0, NULL},
	    {"# nobody\n\n   \n", 0, 0, NULL},
	    {"K1", 0, 1, NULL},
	    {"K1\n", 0, 1, NULL},
	    {"  K1 \t\r\n# c\nK2\n", 0, 2, NULL},
	    {"K1\nK1\n", 0, 1, NULL}, /* the same key twice counts once */
	    {"K2\nK1\n", 0, 2, NULL},
	    {"K1\nnot a key\n", CL_EINVAL, 0, "subs:2:"},
	    {"\n\n\nK1 trailing\n", CL_EINVAL, 0, "subs:4:"},
	    {"K1\nK1x\n", CL_EINVAL, 0, "subs:2:"},
	    {"PRIVATE+KEY+x+00000000+AQ\n", CL_EINVAL, 0, "subs:1:"},
	};
	char why[CL_WHY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct allow_list *l = NULL;
		int rc = parse(cases[i].text, &l, why);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, why);
		if (rc != 0) {
			assert_null(l);
			if (strstr(why, cases[i].why) == NULL)
				fail_msg(
				    "case %zu: reason \"%s\" lacks \"%s\"", i, why, cases[i].why);
			continue;
		}
		assert_int_equal(l->n, cases[i].n);
		allow_list_free(l);
	}
	/* Order is the file's. */
	{
		struct allow_list *l;
		char got[NOTE_VKEY_MAX];

		assert_int_equal(parse("K2\nK1\n", &l, why), 0);
		note_verifier_format(&l->keys[0], got, sizeof got);
		assert_string_equal(got, k2);
		note_verifier_format(&l->keys[1], got, sizeof got);
		assert_string_equal(got, k1);
		allow_list_free(l);
	}
	allow_list_free(NULL);
}

/* A key of another type than Ed25519 is refused by name. */
static void
test_wrong_type(void **state)
{
	struct note_verifier v;
	struct allow_list *l;
	char text[NOTE_VKEY_MAX + 2], why[CL_WHY_MAX];
	int rc;

	(void)state;
	assert_int_equal(note_verifier_parse(k1, strlen(k1), &v, NULL), 0);
	v.type = NOTE_TYPE_COSIG; /* a witness key: not Ed25519 (0x01) */
	v.id = note_key_id(v.name, v.type, v.pub, sizeof v.pub);
	assert_true(note_verifier_format(&v, text, sizeof text) > 0);
	rc = allow_list_parse("subs", text, strlen(text), &l, why);
	assert_int_equal(rc, CL_ETYPE);
	assert_null(l);
	assert_non_null(strstr(why, "subs:1:"));
	assert_non_null(strstr(why, "Ed25519"));
}

static void
test_caps(void **state)
{
	struct allow_list *l;
	char why[CL_WHY_MAX];
	size_t klen = strlen(k1);
	char *big = malloc(ALLOW_FILE_MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, '#', ALLOW_FILE_MAX + 1);
	assert_int_equal(allow_list_parse("subs", big, ALLOW_FILE_MAX + 1, &l, why), CL_ETOOBIG);
	assert_null(l);
	big[ALLOW_FILE_MAX - 1] = '\n';
	assert_int_equal(allow_list_parse("subs", big, ALLOW_FILE_MAX, &l, why), 0);
	assert_int_equal(l->n, 0);
	allow_list_free(l);
	free(big);
	/* ALLOW_MAX_KEYS distinct keys fit, one more does not. */
	{
		size_t cap = (ALLOW_MAX_KEYS + 1) * (klen + 8);
		char *text = malloc(cap), *p = text;
		struct note_verifier v;

		assert_non_null(text);
		assert_int_equal(note_verifier_parse(k1, klen, &v, NULL), 0);
		for (unsigned i = 0; i <= ALLOW_MAX_KEYS; i++) {
			char line[NOTE_VKEY_MAX];

			memcpy(v.pub, &i, sizeof i); /* distinct keys (IDs need not match) */
			note_verifier_format(&v, line, sizeof line);
			p += sprintf(p, "%s\n", line);
		}
		if (allow_list_parse("subs", text, (size_t)(p - text), &l, why) == 0)
			fail_msg("more than ALLOW_MAX_KEYS keys accepted");
		assert_null(l);
		free(text);
	}
}

static void
test_open_reload(void **state)
{
	char dir[512], path[600], why[CL_WHY_MAX], line[2 * NOTE_VKEY_MAX + 4];
	struct allow *a;
	const struct allow_list *s1, *s2, *s3;
	int n;

	(void)state;
	h_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/subs", dir);
	/* Missing: an empty list. */
	assert_int_equal(allow_open(path, &a, why), 0);
	s1 = allow_acquire(a);
	assert_int_equal(s1->n, 0);
	allow_release(a, s1);
	/* A good file replaces it; a snapshot held across survives. */
	n = snprintf(line, sizeof line, "%s\n", k1);
	h_write(path, line, (size_t)n);
	s1 = allow_acquire(a);
	assert_int_equal(allow_reload(a, why), 0);
	s2 = allow_acquire(a);
	assert_int_equal(s1->n, 0);
	assert_int_equal(s2->n, 1);
	allow_release(a, s1);
	/* A bad file keeps the old list, and says which line. */
	n = snprintf(line, sizeof line, "%s\nbogus\n", k2);
	h_write(path, line, (size_t)n);
	assert_int_equal(allow_reload(a, why), CL_EINVAL);
	assert_non_null(strstr(why, ":2:"));
	s3 = allow_acquire(a);
	assert_ptr_equal(s3, s2);
	assert_int_equal(s3->n, 1);
	allow_release(a, s3);
	/* Two keys. */
	n = snprintf(line, sizeof line, "%s\n%s\n", k1, k2);
	h_write(path, line, (size_t)n);
	assert_int_equal(allow_reload(a, why), 0);
	allow_release(a, s2); /* the old snapshot, released after the swap */
	s3 = allow_acquire(a);
	assert_int_equal(s3->n, 2);
	allow_release(a, s3);
	/* A directory is not a file. */
	allow_close(a);
	assert_int_equal(allow_open(dir, &a, why), CL_EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
	allow_close(NULL);
	h_rmrf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_open_reload),
	};

	if (sodium_init() < 0)
		return 1;
	keys_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
