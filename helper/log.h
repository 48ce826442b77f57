/* log.h - one line per event on stderr, logfmt or JSON.
 *
 * An event is a name plus fields given as a printf format made of
 * space-separated "key=value" pairs, e.g.
 *
 *	log_info("child_exited", "pid=%d code=%d", pid, code);
 *
 * Each value is formatted on its own, so it can be quoted for logfmt or
 * escaped for JSON; a value that is exactly one numeric conversion becomes
 * a JSON number. Supported conversions: d i u x X o c s %, with flags,
 * width, precision (also '*') and the length modifiers hh h l ll z j t.
 * Whatever bytes a value holds (an API server's message, an app's argv),
 * a line is one line of valid UTF-8, and in JSON valid JSON: controls and
 * U+2028/U+2029 are written as \u escapes (logfmt quotes such a value), and
 * every byte that is not part of a well-formed UTF-8 sequence becomes
 * \ufffd, one per byte; well-formed UTF-8 passes as it is.
 * Only the top layer logs; lower layers return errors. errno is preserved.
 */
#ifndef LASTCALL_LOG_H
#define LASTCALL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FMT_LOGFMT, LOG_FMT_JSON };

/* Sets the minimum level, the format and the fd lines go to (2 by default). */
void log_setup(enum log_level min, enum log_format format, int fd);

/* Also writes every line to fd (-1: no more). */
void log_tee(int fd);

/* Parses "debug|info|warn|error|off" / "logfmt|json". 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret_level);
int log_format_parse(const char *s, enum log_format *ret_format);

/* Formats one event line (with trailing newline) into buf, without the
 * timestamp when ts is NULL. Pure: used by log_event and the unit tests.
 * Returns the line length (truncated lines end with a truncated=1 field). */
size_t log_format_line(char *buf, size_t size, enum log_format format, const char *ts,
		       enum log_level level, const char *event, const char *fmt, va_list ap);

void log_event(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...) log_event(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_event(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_event(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_event(LOG_ERROR, __VA_ARGS__)

#endif
