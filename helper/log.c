/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"

static enum log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_FMT_LOGFMT;
static int log_fd = 2;
static int log_tee_fd = -1;

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn",
	[LOG_ERROR] = "error", [LOG_OFF] = "off",
};

void log_setup(enum log_level min, enum log_format format, int fd)
{
	log_min = min;
	log_fmt = format;
	log_fd = fd;
}

void log_tee(int fd)
{
	log_tee_fd = fd;
}

static void write_line(int fd, const char *line, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*ret_level = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *ret_format)
{
	if (strcmp(s, "logfmt") == 0) {
		*ret_format = LOG_FMT_LOGFMT;
		return 0;
	}
	if (strcmp(s, "json") == 0) {
		*ret_format = LOG_FMT_JSON;
		return 0;
	}
	return -EINVAL;
}

/* A bounded output buffer: appends past the end set 'full' and stop. */
struct out {
	char *buf;
	size_t size;
	size_t len;
	bool full;
	bool fields; /* a field was written: the next one needs a separator */
};

static void out_putc(struct out *o, char c)
{
	if (o->len + 1 >= o->size) {
		o->full = true;
		return;
	}
	o->buf[o->len++] = c;
	o->buf[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	while (*s && !o->full)
		out_putc(o, *s++);
}

/*
 * The length of the well-formed UTF-8 sequence s starts with, or 0 when it
 * starts none: a stray continuation byte, a sequence cut short, an
 * overlong form, a UTF-16 surrogate, past U+10FFFF, 0xF5..0xFF (the
 * Unicode standard's table 3-7). s is NUL-terminated and NUL is never a
 * continuation byte, so nothing past the end is read. Pure.
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2)
		return 0;
	if (s[0] < 0xe0) {
		n = 2;
	} else if (s[0] < 0xf0) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] < 0xf5) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return n;
}

/* The code point of the n-byte sequence at s when it is written as a \u
 * escape: the C0 and C1 controls, DEL, and U+2028/U+2029 (line breaks to
 * some readers); else -1 (passed as it is). Pure. */
static long escaped_code(const unsigned char *s, size_t n)
{
	if (n == 1)
		return s[0] < 0x20 || s[0] == 0x7f ? s[0] : -1;
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return s[1];
	if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
		return 0x2000 | (s[2] & 0x3f);
	return -1;
}

static bool needs_quotes(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	if (*p == '\0')
		return true;
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0 || escaped_code(p, n) >= 0 || *p == ' ' || *p == '"' || *p == '=' ||
		    *p == '\\')
			return true;
		p += n;
	}
	return false;
}

/*
 * Writes v as a quoted string body with JSON escapes (valid for logfmt
 * too), always valid UTF-8 and valid JSON whatever the bytes: each byte
 * that does not belong to a well-formed UTF-8 sequence becomes \ufffd
 * (U+FFFD, the replacement character), one per byte, as decoders that
 * replace rather than fail do; controls become \u escapes.
 */
static void out_escaped(struct out *o, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)v;

	while (*p && !o->full) {
		size_t n = utf8_len(p);
		long code;

		if (n == 0) {
			out_puts(o, "\\ufffd");
			p++;
			continue;
		}
		switch (*p) {
		/* clang-format off */
		case '"': out_puts(o, "\\\""); break;
		case '\\': out_puts(o, "\\\\"); break;
		case '\n': out_puts(o, "\\n"); break;
		case '\r': out_puts(o, "\\r"); break;
		case '\t': out_puts(o, "\\t"); break;
		/* clang-format on */
		default:
			code = escaped_code(p, n);
			if (code >= 0) {
				out_puts(o, "\\u");
				for (int shift = 12; shift >= 0; shift -= 4)
					out_putc(o, hex[(code >> shift) & 15]);
			} else {
				for (size_t i = 0; i < n; i++)
					out_putc(o, (char)p[i]);
			}
		}
		p += n;
	}
}

/* Writes a whole field or, when it does not fit, nothing: a cut field would
 * leave an open quote or half an escape in the line. */
static void out_field(struct out *o, enum log_format format, const char *key, const char *value,
		      bool numeric)
{
	size_t start = o->len;
	bool sep = o->fields;

	if (o->full)
		return;
	o->fields = true;
	if (format == LOG_FMT_JSON) {
		out_puts(o, sep ? ",\"" : "\"");
		out_escaped(o, key);
		out_puts(o, "\":");
		if (numeric) {
			out_puts(o, value);
		} else {
			out_putc(o, '"');
			out_escaped(o, value);
			out_putc(o, '"');
		}
	} else {
		if (sep)
			out_putc(o, ' ');
		out_puts(o, key);
		out_putc(o, '=');
		if (needs_quotes(value)) {
			out_putc(o, '"');
			out_escaped(o, value);
			out_putc(o, '"');
		} else {
			out_puts(o, value);
		}
	}
	if (o->full) {
		o->len = start;
		o->buf[start] = '\0';
		o->fields = sep;
	}
}

/* Whether an integer conversion printed a valid JSON number: "%05d", "%+d"
 * and "%.0d" of 0 print "00042", "+42" and "", which are not. */
static bool json_integer(const char *v)
{
	if (*v == '-')
		v++;
	if (*v == '0')
		return v[1] == '\0';
	if (*v < '1' || *v > '9')
		return false;
	while (*v >= '0' && *v <= '9')
		v++;
	return *v == '\0';
}

/*
 * Formats one conversion starting at *pfmt (just after '%') into val.
 * Returns false on a conversion we do not support. *numeric tells whether
 * the conversion was an integer one.
 */
static bool format_conv(const char **pfmt, va_list *ap, struct out *val, bool *numeric)
{
	char spec[32];
	size_t n = 0;
	const char *f = *pfmt;
	int width = -1, prec = -1;
	bool has_width = false, has_prec = false;
	char tmp[LOG_VALUE_MAX];

	spec[n++] = '%';
	while (*f && strchr("-+ 0#", *f) && n < 8)
		spec[n++] = *f++;
	if (*f == '*') {
		width = va_arg(*ap, int);
		has_width = true;
		spec[n++] = '*';
		f++;
	} else {
		while (*f >= '0' && *f <= '9' && n < 16)
			spec[n++] = *f++;
	}
	if (*f == '.') {
		spec[n++] = *f++;
		if (*f == '*') {
			prec = va_arg(*ap, int);
			has_prec = true;
			spec[n++] = '*';
			f++;
		} else {
			while (*f >= '0' && *f <= '9' && n < 24)
				spec[n++] = *f++;
		}
	}
	/* clang-format off */
	enum { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG, L_SIZE, L_INTMAX, L_PTRDIFF } len = L_INT;
	if (f[0] == 'h' && f[1] == 'h') { len = L_CHAR; spec[n++] = *f++; spec[n++] = *f++; }
	else if (f[0] == 'h') { len = L_SHORT; spec[n++] = *f++; }
	else if (f[0] == 'l' && f[1] == 'l') { len = L_LLONG; spec[n++] = *f++; spec[n++] = *f++; }
	else if (f[0] == 'l') { len = L_LONG; spec[n++] = *f++; }
	else if (f[0] == 'z') { len = L_SIZE; spec[n++] = *f++; }
	else if (f[0] == 'j') { len = L_INTMAX; spec[n++] = *f++; }
	else if (f[0] == 't') { len = L_PTRDIFF; spec[n++] = *f++; }
	char conv = *f;
	if (conv == '\0' || n + 2 > sizeof(spec))
		return false;
	spec[n++] = conv;
	spec[n] = '\0';
	f++;

	/* Always pass width and precision, padding the format for snprintf. */
#define FMT1(x)                                                               \
	do {                                                                  \
		if (has_width && has_prec)                                    \
			snprintf(tmp, sizeof(tmp), spec, width, prec, x);     \
		else if (has_width)                                           \
			snprintf(tmp, sizeof(tmp), spec, width, x);           \
		else if (has_prec)                                            \
			snprintf(tmp, sizeof(tmp), spec, prec, x);            \
		else                                                          \
			snprintf(tmp, sizeof(tmp), spec, x);                  \
	} while (0)

	_Pragma("GCC diagnostic push");
	_Pragma("GCC diagnostic ignored \"-Wformat-nonliteral\"");
	*numeric = false;
	switch (conv) {
	case 'd':
	case 'i':
		*numeric = true;
		switch (len) {
		case L_LONG: FMT1(va_arg(*ap, long)); break;
		case L_LLONG: FMT1(va_arg(*ap, long long)); break;
		case L_SIZE: FMT1(va_arg(*ap, ssize_t)); break;
		case L_INTMAX: FMT1(va_arg(*ap, intmax_t)); break;
		case L_PTRDIFF: FMT1(va_arg(*ap, ptrdiff_t)); break;
		default: FMT1(va_arg(*ap, int)); break;
		}
		break;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		*numeric = conv == 'u';
		switch (len) {
		case L_LONG: FMT1(va_arg(*ap, unsigned long)); break;
		case L_LLONG: FMT1(va_arg(*ap, unsigned long long)); break;
		case L_SIZE: FMT1(va_arg(*ap, size_t)); break;
		case L_INTMAX: FMT1(va_arg(*ap, uintmax_t)); break;
		case L_PTRDIFF: FMT1(va_arg(*ap, ptrdiff_t)); break;
		default: FMT1(va_arg(*ap, unsigned int)); break;
		}
		break;
	/* clang-format on */
	case 'c':
		FMT1(va_arg(*ap, int));
		break;
	case 's': {
		const char *s = va_arg(*ap, const char *);
		FMT1(s ? s : "(null)");
		break;
	}
	case '%':
		strcpy(tmp, "%");
		break;
	default:
		_Pragma("GCC diagnostic pop");
		return false;
	}
	_Pragma("GCC diagnostic pop");
#undef FMT1
	out_puts(val, tmp);
	*pfmt = f;
	return true;
}

size_t log_format_line(char *buf, size_t size, enum log_format format, const char *ts,
		       enum log_level level, const char *event, const char *fmt, va_list ap)
{
	/* Keep room for the truncation marker and the line end. */
	static const size_t reserve = 32;
	struct out o = { buf, size, 0, false, false };
	va_list aq;
	/* Format text was skipped without reading its argument: the next
	 * va_arg would read the wrong one, so no conversion may follow. */
	bool lost = false;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (format == LOG_FMT_JSON)
		out_putc(&o, '{');
	o.size = size > reserve ? size - reserve : 1;
	if (ts)
		out_field(&o, format, "ts", ts, false);
	out_field(&o, format, "level", level_names[level], false);
	out_field(&o, format, "prog", "lastcall", false);
	out_field(&o, format, "event", event, false);

	va_copy(aq, ap);
	const char *f = fmt;
	while (*f && !o.full) {
		char key[64];
		char value[LOG_VALUE_MAX];
		struct out v = { value, sizeof(value), 0, false, false };
		size_t k = 0;
		int convs = 0;
		bool numeric = false, literal = false;

		value[0] = '\0';
		while (*f == ' ')
			f++;
		if (!*f)
			break;
		while (*f && *f != '=' && *f != ' ' && k + 1 < sizeof(key)) {
			if (*f == '%')
				lost = true;
			key[k++] = *f++;
		}
		key[k] = '\0';
		if (*f != '=') {
			/* A bare word: keep it as a flag-like field. */
			while (*f && *f != ' ') {
				if (*f == '%')
					lost = true;
				f++;
			}
			out_field(&o, format, key, "true", true);
			continue;
		}
		f++;
		while (*f && *f != ' ') {
			if (*f == '%') {
				bool num = false;
				f++;
				if (lost || !format_conv(&f, &aq, &v, &num)) {
					lost = true;
					out_puts(&v, "<bad-format>");
					while (*f && *f != ' ')
						f++;
					literal = true;
					break;
				}
				convs++;
				numeric = num;
			} else {
				out_putc(&v, *f++);
				literal = true;
			}
		}
		out_field(&o, format, key, value,
			  numeric && convs == 1 && !literal && json_integer(value));
	}
	va_end(aq);

	/* Restore the reserve for the tail. */
	o.size = size;
	if (o.full || o.len + reserve > size) {
		o.full = false;
		out_field(&o, format, "truncated", "1", true);
	}
	if (format == LOG_FMT_JSON)
		out_putc(&o, '}');
	out_putc(&o, '\n');
	return o.len;
}

static void log_timestamp(char *buf, size_t size)
{
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char ts[96];
	va_list ap;
	int saved = errno;

	if (level < log_min || level >= LOG_OFF) {
		errno = saved;
		return;
	}
	log_timestamp(ts, sizeof(ts));
	va_start(ap, fmt);
	size_t len = log_format_line(line, sizeof(line), log_fmt, ts, level, event, fmt, ap);
	va_end(ap);

	/* One write per line so lines from several processes never mix. */
	write_line(log_fd, line, len);
	if (log_tee_fd >= 0)
		write_line(log_tee_fd, line, len);
	errno = saved;
}
