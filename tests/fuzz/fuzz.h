/* fuzz.h - what the libFuzzer targets share (STYLE 23).
 *
 * Each tests/fuzz/fuzz_NAME.c is one libFuzzer target over one kind of
 * input that comes from outside lastcall, linked with the product's
 * objects built with clang and ASan+UBSan (make fuzz-bins). A target calls
 * the real parser and checks what its contract promises; a broken promise
 * is an abort(), which libFuzzer reports like a crash.
 */
#ifndef LASTCALL_FUZZ_H
#define LASTCALL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points (it ships no header). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: says which, then aborts (libFuzzer saves the input). */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a C string in a buffer of exactly its size, so that ASan
 * sees a read one byte past the end; an embedded NUL ends it, as it would
 * end an argv string or an environment value. NULL when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, data, n);
		s[n] = '\0';
	}
	return s;
}

/* The input as bytes in a buffer of exactly their size (at least 1 byte,
 * for malloc), not NUL-terminated: a parser given (buf, len) must not look
 * further. */
static inline char *fuzz_bytes(const uint8_t *data, size_t size)
{
	char *b = malloc(size ? size : 1);

	if (b && size)
		memcpy(b, data, size);
	return b;
}

/* The input as an HTTP body the way fetch.c and client.c hand one over:
 * len bytes plus a NUL after them, in a buffer of exactly len + 1. */
static inline char *fuzz_body(const uint8_t *data, size_t size)
{
	char *b = malloc(size + 1);

	if (b) {
		memcpy(b, data, size);
		b[size] = '\0';
	}
	return b;
}

#endif
