/* test_log.c - log.c: logfmt and JSON lines (quoting, escaping, numbers,
 * truncation, bad formats, bytes that are not UTF-8), level/format
 * parsing, log_event to an fd. */
#include "../../helper/log.c"

#include <cJSON.h>
#include <fcntl.h>
#include <stdlib.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static size_t fmt_line(char *buf, size_t size, enum log_format format, const char *ts,
		       enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static size_t fmt_line(char *buf, size_t size, enum log_format format, const char *ts,
		       enum log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = log_format_line(buf, size, format, ts, level, event, fmt, ap);
	va_end(ap);
	/* Always terminated, and the length is the string's. */
	assert_true(size == 0 || len < size);
	if (size)
		assert_int_equal(strlen(buf), len);
	return len;
}

static char out[LOG_LINE_MAX];

/* One info line of event "ev" without timestamp, in out. */
/* clang-format off */
#define LOGFMT(...) \
	(fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "ev", __VA_ARGS__), out)
#define JSON(...) \
	(fmt_line(out, sizeof(out), LOG_FMT_JSON, NULL, LOG_INFO, "ev", __VA_ARGS__), out)
/* clang-format on */

#define LF "level=info prog=lastcall event=ev"
#define JS "{\"level\":\"info\",\"prog\":\"lastcall\",\"event\":\"ev\""

static const char ts[] = "2024-01-02T03:04:05.678Z";

static void test_logfmt_basic(void **state)
{
	(void)state;
	assert_string_equal(LOGFMT("a=%d b=%s", 1, "hello"), LF " a=1 b=hello\n");
	assert_int_equal(fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "ev",
				  "a=%d b=%s", 1, "hello"),
			 strlen(LF " a=1 b=hello\n"));
	/* A bare word is a flag; a conversion in it is not formatted. */
	assert_string_equal(LOGFMT("%s", ""), LF " %s=true\n");
	assert_string_equal(LOGFMT(" "), LF "\n");
	assert_string_equal(LOGFMT("  a=1   b=%u  ", 2u), LF " a=1 b=2\n");
	assert_string_equal(LOGFMT("mode=pid1 ready"), LF " mode=pid1 ready=true\n");
	assert_string_equal(LOGFMT("pct=%d%%", 50), LF " pct=50%\n");
	assert_string_equal(LOGFMT("t=%dms", 5), LF " t=5ms\n");
	assert_string_equal(LOGFMT("x=%x o=%o X=%#X c=%c", 255u, 8u, 255u, 'q'),
			    LF " x=ff o=10 X=0XFF c=q\n");
	assert_string_equal(LOGFMT("s=%.3s w=%*d", "abcdef", 3, 7), LF " s=abc w=\"  7\"\n");
	/* volatile: a NULL the compiler cannot see (it rightly warns). */
	const char *volatile null_str = NULL;
	assert_string_equal(LOGFMT("s=%s", null_str), LF " s=(null)\n");

	fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, ts, LOG_WARN, "child_exited", "pid=%d code=%d",
		 42, 143);
	assert_string_equal(out,
			    "ts=2024-01-02T03:04:05.678Z level=warn prog=lastcall "
			    "event=child_exited pid=42 code=143\n");
	fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_DEBUG, "e", "a=%s", "");
	assert_string_equal(out, "level=debug prog=lastcall event=e a=\"\"\n");
	fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_ERROR, "e", " ");
	assert_string_equal(out, "level=error prog=lastcall event=e\n");
}

static void test_logfmt_quoting(void **state)
{
	(void)state;
	assert_string_equal(LOGFMT("m=%s", "hello world"), LF " m=\"hello world\"\n");
	assert_string_equal(LOGFMT("m=%s", "say \"hi\""), LF " m=\"say \\\"hi\\\"\"\n");
	assert_string_equal(LOGFMT("m=%s", "a\\b"), LF " m=\"a\\\\b\"\n");
	assert_string_equal(LOGFMT("m=%s", "a\nb"), LF " m=\"a\\nb\"\n");
	assert_string_equal(LOGFMT("m=%s", "a\r\tb"), LF " m=\"a\\r\\tb\"\n");
	assert_string_equal(LOGFMT("m=%s", "k=v"), LF " m=\"k=v\"\n");
	assert_string_equal(LOGFMT("m=%s", ""), LF " m=\"\"\n");
	assert_string_equal(LOGFMT("m=%s", "\x01\x1f\x7f"), LF " m=\"\\u0001\\u001f\\u007f\"\n");
	/* Bytes of UTF-8 pass as they are, unquoted. */
	assert_string_equal(LOGFMT("m=%s", "h\xc3\xa9llo"), LF " m=h\xc3\xa9llo\n");
	assert_string_equal(LOGFMT("m=%s", "plain-value_1.2:3/4"), LF " m=plain-value_1.2:3/4\n");
	/* Literal text and conversions in one value are quoted as a whole. */
	assert_string_equal(LOGFMT("m=[%s]", "a b"), LF " m=\"[a b]\"\n");

	fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "my ev", "a=1");
	assert_string_equal(out, "level=info prog=lastcall event=\"my ev\" a=1\n");
}

static void test_json_basic(void **state)
{
	(void)state;
	assert_string_equal(JSON("a=%d b=%s", 1, "hello"), JS ",\"a\":1,\"b\":\"hello\"}\n");
	assert_string_equal(JSON(" "), JS "}\n");
	assert_string_equal(JSON("ready mode=pid1"), JS ",\"ready\":true,\"mode\":\"pid1\"}\n");
	fmt_line(out, sizeof(out), LOG_FMT_JSON, ts, LOG_ERROR, "exec_failed", "cmd=%s code=%d",
		 "/bin/x", 127);
	assert_string_equal(out,
			    "{\"ts\":\"2024-01-02T03:04:05.678Z\",\"level\":\"error\","
			    "\"prog\":\"lastcall\",\"event\":\"exec_failed\","
			    "\"cmd\":\"/bin/x\",\"code\":127}\n");
}

static void test_json_numbers(void **state)
{
	(void)state;
	/* Exactly one integer conversion: a number. */
	assert_string_equal(JSON("n=%d", -5), JS ",\"n\":-5}\n");
	assert_string_equal(JSON("n=%i", 0), JS ",\"n\":0}\n");
	assert_string_equal(JSON("n=%u", 7u), JS ",\"n\":7}\n");
	assert_string_equal(JSON("n=%lld", (long long)INT64_MIN),
			    JS ",\"n\":-9223372036854775808}\n");
	assert_string_equal(JSON("n=%llu", (unsigned long long)UINT64_MAX),
			    JS ",\"n\":18446744073709551615}\n");
	assert_string_equal(JSON("n=%zu", (size_t)12345), JS ",\"n\":12345}\n");
	assert_string_equal(JSON("n=%zd", (ssize_t)-3), JS ",\"n\":-3}\n");
	assert_string_equal(JSON("n=%ld", -70000L), JS ",\"n\":-70000}\n");
	assert_string_equal(JSON("n=%hhd", (signed char)-1), JS ",\"n\":-1}\n");
	assert_string_equal(JSON("n=%hu", (unsigned short)65535), JS ",\"n\":65535}\n");
	assert_string_equal(JSON("n=%jd", (intmax_t)9), JS ",\"n\":9}\n");
	assert_string_equal(JSON("n=%td", (ptrdiff_t)-9), JS ",\"n\":-9}\n");
	assert_string_equal(JSON("n=%-d", 4), JS ",\"n\":4}\n");

	/* Strings: %s, non-decimal, %c, and anything with literal text. */
	assert_string_equal(JSON("n=%s", "42"), JS ",\"n\":\"42\"}\n");
	assert_string_equal(JSON("n=%x", 255u), JS ",\"n\":\"ff\"}\n");
	assert_string_equal(JSON("n=%o", 8u), JS ",\"n\":\"10\"}\n");
	assert_string_equal(JSON("n=%c", '7'), JS ",\"n\":\"7\"}\n");
	assert_string_equal(JSON("t=%dms", 5), JS ",\"t\":\"5ms\"}\n");
	assert_string_equal(JSON("t=-%d", 5), JS ",\"t\":\"-5\"}\n");
	assert_string_equal(JSON("n=%d%d", 1, 2), JS ",\"n\":\"12\"}\n");
	assert_string_equal(JSON("n=%d%%", 50), JS ",\"n\":\"50%\"}\n");
	assert_string_equal(JSON("n=%%"), JS ",\"n\":\"%\"}\n");

	/* Integer conversions whose text is no JSON number stay strings. */
	assert_string_equal(JSON("n=%05d", 7), JS ",\"n\":\"00007\"}\n");
	assert_string_equal(JSON("n=%+d", 7), JS ",\"n\":\"+7\"}\n");
	assert_string_equal(JSON("n=%.0d", 0), JS ",\"n\":\"\"}\n");
	assert_string_equal(JSON("n=%.3d", 7), JS ",\"n\":\"007\"}\n");
	assert_string_equal(JSON("n=%3d", 7), JS ",\"n\":\"  7\"}\n");
	assert_string_equal(JSON("n=%*d", 4, 7), JS ",\"n\":\"   7\"}\n");
	assert_string_equal(JSON("n=% d", 7), JS ",\"n\":\" 7\"}\n");
}

static void test_json_escaping(void **state)
{
	(void)state;
	assert_string_equal(JSON("m=%s", "a\"b\\c\nd\te\rf\x01g\x7f"),
			    JS ",\"m\":\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u007f\"}\n");
	assert_string_equal(JSON("m=%s", "k=v w"), JS ",\"m\":\"k=v w\"}\n");
	assert_string_equal(JSON("m=%s", ""), JS ",\"m\":\"\"}\n");
	assert_string_equal(JSON("m=%s", "h\xc3\xa9llo"), JS ",\"m\":\"h\xc3\xa9llo\"}\n");
	/* Keys and the event name are escaped too. */
	assert_string_equal(JSON("k\"\\=%d", 1), JS ",\"k\\\"\\\\\":1}\n");
	fmt_line(out, sizeof(out), LOG_FMT_JSON, "t\"s", LOG_INFO, "e\"v\n", " ");
	assert_string_equal(out,
			    "{\"ts\":\"t\\\"s\",\"level\":\"info\",\"prog\":\"lastcall\","
			    "\"event\":\"e\\\"v\\n\"}\n");
}

/*
 * Whether s[0..len) is well-formed UTF-8, written apart from log.c's
 * check: decode each sequence, then refuse overlong forms, surrogates and
 * anything past U+10FFFF.
 */
static bool valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned long cp, min;
		size_t n;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			n = 2, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4, cp = s[i] & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* The JSON line in out parses (cJSON, with its length), is valid UTF-8
 * and one line; returns its "m" string (a static copy). */
static const char *json_m(size_t len)
{
	static char m[LOG_LINE_MAX];
	cJSON *root, *v;

	assert_true(len > 0 && out[len - 1] == '\n');
	assert_null(memchr(out, '\n', len - 1));
	if (!valid_utf8(out, len))
		fail_msg("not UTF-8: %s", out);
	root = cJSON_ParseWithLength(out, len);
	if (!root)
		fail_msg("not JSON: %s", out);
	v = cJSON_GetObjectItemCaseSensitive(root, "m");
	assert_true(cJSON_IsString(v));
	snprintf(m, sizeof(m), "%s", v->valuestring);
	cJSON_Delete(root);
	return m;
}

#define RC "\xef\xbf\xbd" /* U+FFFD */

static void test_json_invalid_utf8(void **state)
{
	static const struct {
		const char *in;
		const char *json; /* the escaped value in the line */
		const char *back; /* what a JSON parser reads back */
	} cases[] = {
		/* Stray continuation bytes. */
		{ "\x80", "\\ufffd", RC },
		{ "a\xbf"
		  "b",
		  "a\\ufffdb", "a" RC "b" },
		{ "\x80\x80", "\\ufffd\\ufffd", RC RC },
		/* Sequences cut short: at the end, and by an ASCII byte. */
		{ "\xc3", "\\ufffd", RC },
		{ "\xc3z", "\\ufffdz", RC "z" },
		{ "\xe6\x97", "\\ufffd\\ufffd", RC RC },
		{ "\xe6\x97z", "\\ufffd\\ufffdz", RC RC "z" },
		{ "\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd", RC RC RC },
		{ "\xf0\x9f\x98z", "\\ufffd\\ufffd\\ufffdz", RC RC RC "z" },
		/* A lead byte where a continuation should be. */
		{ "\xc3\xc3\xa9", "\\ufffd\xc3\xa9", RC "\xc3\xa9" },
		/* Overlong forms of '/' and of U+0000. */
		{ "\xc0\xaf", "\\ufffd\\ufffd", RC RC },
		{ "\xc1\xbf", "\\ufffd\\ufffd", RC RC },
		{ "\xc0\x80", "\\ufffd\\ufffd", RC RC },
		{ "\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd", RC RC RC },
		{ "\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd", RC RC RC },
		{ "\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd", RC RC RC RC },
		{ "\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd", RC RC RC RC },
		/* UTF-16 surrogates encoded in UTF-8 (CESU-8). */
		{ "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd", RC RC RC },
		{ "\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd", RC RC RC },
		{ "\xed\xa0\xbd\xed\xb8\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd",
		  RC RC RC RC RC RC },
		/* Past U+10FFFF, and bytes that never occur. */
		{ "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd", RC RC RC RC },
		{ "\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd", RC RC RC RC },
		{ "\xff", "\\ufffd", RC },
		{ "\xfe\xff", "\\ufffd\\ufffd", RC RC },
		{ "a\xff\"b", "a\\ufffd\\\"b", "a" RC "\"b" },
		/* Latin-1, as a misconfigured app might print its argv. */
		{ "caf\xe9", "caf\\ufffd", "caf" RC },
	};
	char want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = fmt_line(out, sizeof(out), LOG_FMT_JSON, NULL, LOG_INFO, "ev", "m=%s",
				      cases[i].in);

		snprintf(want, sizeof(want), JS ",\"m\":\"%s\"}\n", cases[i].json);
		if (strcmp(out, want) != 0)
			fail_msg("case %zu: got %s want %s", i, out, want);
		assert_string_equal(json_m(len), cases[i].back);
	}
}

static void test_json_valid_utf8(void **state)
{
	static const char *const good[] = {
		"h\xc3\xa9llo",			    /* é */
		"\xe6\x97\xa5\xe6\x9c\xac",	    /* 日本 */
		"\xf0\x9f\x98\x80",		    /* 😀, 4 bytes */
		"\xc2\xa0\xdf\xbf",		    /* U+00A0, U+07FF */
		"\xe0\xa0\x80\xed\x9f\xbf",	    /* U+0800, U+D7FF */
		"\xee\x80\x80\xef\xbf\xbf",	    /* U+E000, U+FFFF */
		"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", /* U+10000, U+10FFFF */
		RC,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char want[256];
		size_t len;

		/* As it is, in both formats; unquoted in logfmt. */
		len = fmt_line(out, sizeof(out), LOG_FMT_JSON, NULL, LOG_INFO, "ev", "m=%s",
			       good[i]);
		snprintf(want, sizeof(want), JS ",\"m\":\"%s\"}\n", good[i]);
		assert_string_equal(out, want);
		assert_string_equal(json_m(len), good[i]);
		snprintf(want, sizeof(want), LF " m=%s\n", good[i]);
		assert_string_equal(LOGFMT("m=%s", good[i]), want);
	}
	/* C1 controls and the Unicode line and paragraph separators are
	 * escaped: some readers take them for line ends. */
	assert_string_equal(JSON("m=%s",
				 "a\xc2\x85"
				 "b\xc2\x9f"),
			    JS ",\"m\":\"a\\u0085b\\u009f\"}\n");
	assert_string_equal(JSON("m=%s", "\xe2\x80\xa8\xe2\x80\xa9"),
			    JS ",\"m\":\"\\u2028\\u2029\"}\n");
	assert_string_equal(json_m(strlen(out)), "\xe2\x80\xa8\xe2\x80\xa9");
	assert_string_equal(LOGFMT("m=%s",
				   "a\xe2\x80\xa8"
				   "b"),
			    LF " m=\"a\\u2028b\"\n");
	assert_string_equal(LOGFMT("m=%s", "\xc2\x85"), LF " m=\"\\u0085\"\n");
}

static void test_logfmt_invalid_utf8(void **state)
{
	(void)state;
	/* Quoted, so the escape is read as one; valid UTF-8, one line. */
	assert_string_equal(LOGFMT("m=%s", "\xff"), LF " m=\"\\ufffd\"\n");
	assert_string_equal(LOGFMT("m=%s", "caf\xe9"), LF " m=\"caf\\ufffd\"\n");
	assert_string_equal(LOGFMT("m=%s", "\xed\xa0\x80\n"),
			    LF " m=\"\\ufffd\\ufffd\\ufffd\\n\"\n");
	assert_true(valid_utf8(out, strlen(out)));
	/* The event name too. */
	fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "e\x80v", "a=1");
	assert_string_equal(out, "level=info prog=lastcall event=\"e\\ufffdv\" a=1\n");
}

/* Every string of one and two bytes, and random ones of up to 12: each
 * JSON line parses, each line of either format is UTF-8 and one line. */
static void test_any_bytes(void **state)
{
	char in[16];
	size_t len;

	(void)state;
	for (int a = 1; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			in[2] = '\0';
			len = fmt_line(out, sizeof(out), LOG_FMT_JSON, NULL, LOG_INFO, "ev", "m=%s",
				       in);
			(void)json_m(len);
			len = fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "ev",
				       "m=%s", in);
			assert_true(valid_utf8(out, len));
			assert_null(memchr(out, '\n', len - 1));
		}
	}
	srandom(42);
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(random() % 12);

		for (size_t k = 0; k < n; k++) {
			/* Mostly high bytes: where UTF-8 goes wrong. */
			long r = random();
			in[k] = (char)(r % 4 ? 0x80 | (r >> 8) : 1 + (r >> 8) % 255);
		}
		in[n] = '\0';
		len = fmt_line(out, sizeof(out), LOG_FMT_JSON, NULL, LOG_INFO, "ev", "m=%s", in);
		(void)json_m(len);
		len = fmt_line(out, sizeof(out), LOG_FMT_LOGFMT, NULL, LOG_INFO, "ev", "m=%s", in);
		assert_true(valid_utf8(out, len));
		assert_null(memchr(out, '\n', len - 1));
	}
}

/* Formats the compiler rightly refuses; the logger must survive them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
static void test_bad_format(void **state)
{
	int target = 0x41414141; /* no NUL: read as a string, ASan would tell */

	(void)state;
	assert_string_equal(LOGFMT("a=%f", 1.5), LF " a=<bad-format>\n");
	assert_string_equal(JSON("a=%f", 1.5), JS ",\"a\":\"<bad-format>\"}\n");
	assert_string_equal(LOGFMT("a=%y mode=x", 1), LF " a=<bad-format> mode=x\n");
	assert_string_equal(LOGFMT("a=%Lf", (long double)1), LF " a=<bad-format>\n");
	assert_string_equal(LOGFMT("a=%1$d", 1), LF " a=<bad-format>\n");
	assert_string_equal(LOGFMT("a=50%"), LF " a=50<bad-format>\n");
	assert_string_equal(LOGFMT("a=x%fy z=1", 1.5), LF " a=x<bad-format> z=1\n");
	/* %n is never honoured. */
	assert_string_equal(LOGFMT("a=%n", &target), LF " a=<bad-format>\n");
	assert_int_equal(target, 0x41414141);

	/* An unread argument shifts every later one: conversions after a
	 * bad one are refused instead of reading the wrong argument. */
	assert_string_equal(LOGFMT("a=%p b=%s c=%d", (void *)&target, "ok", 3),
			    LF " a=<bad-format> b=<bad-format> c=<bad-format>\n");
	assert_string_equal(LOGFMT("a=%f b=%d", 1.5, 7), LF " a=<bad-format> b=<bad-format>\n");
	/* Same for a conversion hidden in a bare word or an over-long key. */
	assert_string_equal(LOGFMT("x%d b=%d", 1, 2), LF " x%d=true b=<bad-format>\n");
	assert_string_equal(
		LOGFMT("k123456789k123456789k123456789k123456789k123456789k123456789kkkk=%d b=%s",
		       1, "ok"),
		LF
		" k123456789k123456789k123456789k123456789k123456789k123456789kkk=true"
		" b=<bad-format>\n");
	/* Width or precision from an argument, then a bad conversion. */
	assert_string_equal(LOGFMT("a=%*f b=%d", 3, 1.5, 2), LF " a=<bad-format> b=<bad-format>\n");
}
#pragma GCC diagnostic pop

static void test_value_max(void **state)
{
	char big[LOG_VALUE_MAX * 2];
	char want[LOG_LINE_MAX];

	(void)state;
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* One value is cut at LOG_VALUE_MAX - 1 bytes, before quoting. */
	snprintf(want, sizeof(want), LF " m=%.*s\n", LOG_VALUE_MAX - 1, big);
	assert_string_equal(LOGFMT("m=%s", big), want);
	snprintf(want, sizeof(want), LF " m=%.*sX\n", LOG_VALUE_MAX - 2, big);
	big[LOG_VALUE_MAX - 2] = '\0';
	assert_string_equal(LOGFMT("m=%sX", big), want);
}

/* Checks a truncated line of size bytes against the untruncated one. */
static void check_truncated(enum log_format format, const char *line, size_t len, size_t size,
			    const char *full)
{
	const char *marker = format == LOG_FMT_JSON ? "\"truncated\":1}\n" : "truncated=1\n";
	char sep = format == LOG_FMT_JSON ? ',' : ' ';
	size_t mlen = strlen(marker);
	size_t head;

	if (strcmp(line, full) == 0)
		return;
	if (len < mlen || strcmp(line + len - mlen, marker) != 0)
		fail_msg("size %zu: no truncation marker: \"%s\"", size, line);
	/* Whole fields of the full line, then the marker. */
	head = len - mlen;
	if (head > 0 && line[head - 1] == sep)
		head--;
	if (strncmp(line, full, head) != 0 || (head > 1 && full[head] != sep))
		fail_msg("size %zu: \"%s\" does not end at a field of \"%s\"", size, line, full);
	if (format == LOG_FMT_JSON)
		assert_int_equal(line[0], '{');
}

static void test_truncation_sizes(void **state)
{
	static const enum log_format formats[] = { LOG_FMT_LOGFMT, LOG_FMT_JSON };
	char full[LOG_LINE_MAX];

	(void)state;
	for (size_t fi = 0; fi < 2; fi++) {
		enum log_format format = formats[fi];
		size_t full_len = fmt_line(full, sizeof(full), format, ts, LOG_INFO, "ev",
					   "msg=%s k=%d name=%s q=%s", "hello \"world\" again", 5,
					   "x y", "\x01\x02\x03");

		for (size_t size = 1; size <= full_len + 40; size++) {
			/* An allocation of exactly size bytes, guarded by cmocka. */
			char *buf = malloc(size);
			size_t len;

			assert_non_null(buf);
			memset(buf, 0x55, size);
			len = fmt_line(buf, size, format, ts, LOG_INFO, "ev",
				       "msg=%s k=%d name=%s q=%s", "hello \"world\" again", 5,
				       "x y", "\x01\x02\x03");
			/* Past the reserve, every line is well formed. */
			if (size > 32)
				check_truncated(format, buf, len, size, full);
			if (size >= full_len + 33)
				assert_string_equal(buf, full);
			free(buf);
		}
	}
}

static void test_truncation_escaped(void **state)
{
	char ctl[LOG_VALUE_MAX];

	(void)state;
	/* 511 control bytes escape to 6 bytes each: more than a line. */
	memset(ctl, '\x01', sizeof(ctl) - 1);
	ctl[sizeof(ctl) - 1] = '\0';
	assert_string_equal(LOGFMT("a=1 v=%s b=2", ctl), LF " a=1 truncated=1\n");
	assert_string_equal(JSON("a=%d v=%s b=2", 1, ctl), JS ",\"a\":1,\"truncated\":1}\n");
}

static void test_level_format_parse(void **state)
{
	static const struct {
		const char *s;
		enum log_level level;
	} levels[] = {
		{ "debug", LOG_DEBUG },	 { "info", LOG_INFO },	 { "warn", LOG_WARN },
		{ "warning", LOG_WARN }, { "error", LOG_ERROR }, { "off", LOG_OFF },
	};
	static const char *const bad_levels[] = {
		"", "INFO", "Info", "information", "fatal", " info", "info ", "warnings", "0",
	};
	static const char *const bad_formats[] = { "", "JSON", "text", "logfmt ", "jsonl" };
	enum log_level level;
	enum log_format format;

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		level = (enum log_level)(-1);
		assert_int_equal(log_level_parse(levels[i].s, &level), 0);
		assert_int_equal(level, levels[i].level);
	}
	for (size_t i = 0; i < sizeof(bad_levels) / sizeof(bad_levels[0]); i++) {
		level = LOG_ERROR;
		assert_int_equal(log_level_parse(bad_levels[i], &level), -EINVAL);
		assert_int_equal(level, LOG_ERROR);
	}
	assert_int_equal(log_format_parse("logfmt", &format), 0);
	assert_int_equal(format, LOG_FMT_LOGFMT);
	assert_int_equal(log_format_parse("json", &format), 0);
	assert_int_equal(format, LOG_FMT_JSON);
	for (size_t i = 0; i < sizeof(bad_formats) / sizeof(bad_formats[0]); i++) {
		format = LOG_FMT_JSON;
		assert_int_equal(log_format_parse(bad_formats[i], &format), -EINVAL);
		assert_int_equal(format, LOG_FMT_JSON);
	}
}

static int pipefd[2] = { -1, -1 };

static int pipe_setup(void **state)
{
	(void)state;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static int pipe_teardown(void **state)
{
	(void)state;
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, 2);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

/* Everything in the pipe now; "" when it is empty. */
static const char *drain(void)
{
	static char buf[LOG_LINE_MAX * 4];
	size_t n = 0;
	ssize_t r;

	while ((r = read(pipefd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	assert_true(r < 0 && errno == EAGAIN);
	buf[n] = '\0';
	return buf;
}

/* Checks "ts=2024-01-02T03:04:05.678Z " and returns what follows. */
static const char *skip_ts(const char *line, const char *prefix, const char *suffix)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	assert_true(strncmp(line, prefix, strlen(prefix)) == 0);
	line += strlen(prefix);
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd')
			assert_true(line[i] >= '0' && line[i] <= '9');
		else
			assert_int_equal(line[i], pattern[i]);
	}
	line += strlen(pattern);
	assert_true(strncmp(line, suffix, strlen(suffix)) == 0);
	return line + strlen(suffix);
}

static void test_event_to_fd(void **state)
{
	const char *got;

	(void)state;
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, pipefd[1]);
	errno = ENOTTY;
	log_info("ev_x", "a=%d b=%s", 1, "two words");
	assert_int_equal(errno, ENOTTY);
	got = skip_ts(drain(), "ts=", " ");
	assert_string_equal(got, "level=info prog=lastcall event=ev_x a=1 b=\"two words\"\n");

	log_warn("w", "n=%zu", (size_t)3);
	log_error("e", "x=y");
	got = drain();
	got = skip_ts(got, "ts=", " level=warn prog=lastcall event=w n=3\n");
	skip_ts(got, "ts=", " level=error prog=lastcall event=e x=y\n");

	/* JSON, and debug once the minimum allows it. */
	log_setup(LOG_DEBUG, LOG_FMT_JSON, pipefd[1]);
	log_debug("d", "n=%d", -1);
	got = skip_ts(drain(), "{\"ts\":\"", "\",");
	assert_string_equal(got,
			    "\"level\":\"debug\",\"prog\":\"lastcall\",\"event\":\"d\",\"n\":-1}\n");
}

static void test_event_below_minimum(void **state)
{
	(void)state;
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, pipefd[1]);
	errno = EDOM;
	log_debug("quiet", "a=1");
	assert_int_equal(errno, EDOM);
	assert_string_equal(drain(), "");

	log_setup(LOG_ERROR, LOG_FMT_LOGFMT, pipefd[1]);
	log_info("quiet", "a=1");
	log_warn("quiet", "a=1");
	assert_string_equal(drain(), "");

	log_setup(LOG_OFF, LOG_FMT_JSON, pipefd[1]);
	log_error("quiet", "a=1");
	assert_string_equal(drain(), "");

	/* LOG_OFF is a minimum, never a level to log at. */
	log_setup(LOG_DEBUG, LOG_FMT_LOGFMT, pipefd[1]);
	errno = EDOM;
	log_event(LOG_OFF, "quiet", "a=1");
	assert_int_equal(errno, EDOM);
	assert_string_equal(drain(), "");
}

static void test_event_long_line_whole(void **state)
{
	char v[400];
	const char *got;

	(void)state;
	memset(v, 'z', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, pipefd[1]);
	log_info("long", "a=%s b=%s c=%s d=%s", v, v, v, v);
	got = drain();
	/* One line, whole. */
	assert_true(strlen(got) > 4 * sizeof(v));
	assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
	assert_non_null(strstr(got, " d=zzz"));
	/* A line over LOG_LINE_MAX arrives cut but terminated. */
	log_info("long", "a=%s b=%s c=%s d=%s e=%s f=%s", v, v, v, v, v, v);
	got = drain();
	assert_true(strlen(got) < LOG_LINE_MAX);
	assert_non_null(strstr(got, " truncated=1\n"));
	assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
}

static void test_event_write_fails(void **state)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(devnull >= 0);
	/* Writing to a read-only fd fails with EBADF; errno stays ours. */
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, devnull);
	errno = ERANGE;
	log_info("lost", "a=1");
	assert_int_equal(errno, ERANGE);
	log_setup(LOG_INFO, LOG_FMT_LOGFMT, -1);
	log_info("lost", "a=1");
	assert_int_equal(errno, ERANGE);
	close(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logfmt_basic),
		cmocka_unit_test(test_logfmt_quoting),
		cmocka_unit_test(test_json_basic),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_invalid_utf8),
		cmocka_unit_test(test_json_valid_utf8),
		cmocka_unit_test(test_logfmt_invalid_utf8),
		cmocka_unit_test(test_any_bytes),
		cmocka_unit_test(test_bad_format),
		cmocka_unit_test(test_value_max),
		cmocka_unit_test(test_truncation_sizes),
		cmocka_unit_test(test_truncation_escaped),
		cmocka_unit_test(test_level_format_parse),
		cmocka_unit_test_setup_teardown(test_event_to_fd, pipe_setup, pipe_teardown),
		cmocka_unit_test_setup_teardown(test_event_below_minimum, pipe_setup,
						pipe_teardown),
		cmocka_unit_test_setup_teardown(test_event_long_line_whole, pipe_setup,
						pipe_teardown),
		cmocka_unit_test_setup_teardown(test_event_write_fails, pipe_setup, pipe_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
