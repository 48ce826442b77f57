/* fuzz_log.c - log values with arbitrary bytes (an API server's message,
 * an app's argv, a URL from a flag) through log_format_line, in logfmt and
 * in JSON, into a buffer of any size.
 *
 * Input: byte 0 picks the format and the field layout, bytes 1-2 the
 * buffer size (1..LOG_LINE_MAX), bytes 3-6 an integer; the rest, split on
 * the first NUL, are two string values. The formats are the product's own
 * kind (literal keys, one conversion per value): the format string is
 * never from outside, the values are.
 *
 * Promises checked (log.h): the line fits the buffer, ends with its only
 * newline, is valid UTF-8 with no raw control byte; in JSON it parses
 * (cJSON) as an object, and a value given as well-formed UTF-8 comes back
 * byte for byte unless the line was truncated (then it says truncated).
 */
#include <cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "limits.h"
#include "log.h"

#include "fuzz.h"

static size_t line(char *buf, size_t size, enum log_format f, const char *ts, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_format_line(buf, size, f, ts, LOG_WARN, "fuzz_event", fmt, ap);
	va_end(ap);
	return n;
}

/* Well-formed UTF-8 (Unicode table 3-7), written apart from log.c's. */
static bool utf8_valid(const unsigned char *s, size_t n, bool allow_controls)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], need, min;
		unsigned long cp;

		if (c < 0x80) {
			if (!allow_controls && (c < 0x20 || c == 0x7f))
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		for (unsigned k = 1; k <= need; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		/* C1 controls and U+2028/U+2029 are escaped too. */
		if (!allow_controls && (cp < 0xa0 || cp == 0x2028 || cp == 0x2029))
			return false;
		i += need + 1;
	}
	return true;
}

static void check_line(const char *buf, size_t size, size_t n, enum log_format f, const char *v1,
		       const char *v2, bool simple)
{
	FUZZ_ASSERT(n < size);
	FUZZ_ASSERT(strlen(buf) == n);
	if (size < 128)
		return; /* too small for the fields every line has: cut anywhere */
	FUZZ_ASSERT(n >= 1 && buf[n - 1] == '\n' && memchr(buf, '\n', n) == buf + n - 1);
	FUZZ_ASSERT(utf8_valid((const unsigned char *)buf, n - 1, false));
	if (f != LOG_FMT_JSON)
		return;

	cJSON *root = cJSON_ParseWithLength(buf, n);
	FUZZ_ASSERT(cJSON_IsObject(root));
	bool truncated = cJSON_GetObjectItemCaseSensitive(root, "truncated") != NULL;
	const char *vals[2] = { v1, v2 };
	const char *keys[2] = { "a", "b" };
	for (int i = 0; simple && i < 2; i++) {
		const cJSON *got = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
		size_t len = strlen(vals[i]);

		if (!got) {
			FUZZ_ASSERT(truncated);
			continue;
		}
		FUZZ_ASSERT(cJSON_IsString(got));
		/* Values are cut at LOG_VALUE_MAX - 1 bytes before escaping. */
		if (len < LOG_VALUE_MAX - 1 &&
		    utf8_valid((const unsigned char *)vals[i], len, true))
			FUZZ_ASSERT(strcmp(got->valuestring, vals[i]) == 0);
	}
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	enum log_format f;
	const char *ts;
	char *v1, *v2;
	size_t bufsize, n;
	int num;

	if (size < 7 || size > 4 * LOG_LINE_MAX)
		return 0;
	f = data[0] & 1 ? LOG_FMT_JSON : LOG_FMT_LOGFMT;
	ts = data[0] & 2 ? "2026-01-02T03:04:05.678Z" : NULL;
	bufsize = 1 + (((size_t)data[1] << 8 | data[2]) % LOG_LINE_MAX);
	memcpy(&num, data + 3, sizeof(num));
	/* Exactly bufsize bytes: ASan sees a write past the size given. */
	buf = malloc(bufsize);
	v1 = fuzz_cstr(data + 7, size - 7);
	size_t used = v1 ? 7 + strlen(v1) + 1 : size;
	v2 = fuzz_cstr(data + (used < size ? used : size), used < size ? size - used : 0);
	if (!buf || !v1 || !v2)
		goto out;

	switch (data[0] >> 2 & 3) {
	case 0:
		n = line(buf, bufsize, f, ts, "a=%s b=%s", v1, v2);
		check_line(buf, bufsize, n, f, v1, v2, true);
		break;
	case 1:
		/* A value of several parts, precision and width, numbers. */
		n = line(buf, bufsize, f, ts, "a=[%.*s] n=%d x=%05x b=%-8s flag",
			 (int)(num & 0x3ff), v1, num, (unsigned)num, v2);
		check_line(buf, bufsize, n, f, v1, v2, false);
		break;
	case 2:
		n = line(buf, bufsize, f, ts, "url=%s code=%ld pct=100%% ch=%c", v1, (long)num,
			 v2[0] ? v2[0] : 'x');
		check_line(buf, bufsize, n, f, v1, v2, false);
		break;
	default:
		n = line(buf, bufsize, f, ts, "b=%s a=%s ms=%lld z=%zu", v2, v1, (long long)num,
			 (size_t)(unsigned)num);
		check_line(buf, bufsize, n, f, v1, v2, true);
		break;
	}
out:
	free(buf);
	free(v1);
	free(v2);
	return 0;
}
