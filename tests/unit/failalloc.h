/* failalloc.h - fail the Nth allocation (STYLE 21), for the unit tests of
 * the modules that allocate: each allocation of a call fails in turn, and
 * the call must end in a clean error (or a documented degrade), never a
 * crash, and leak nothing.
 *
 * How: the test binary is linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
 * (the Makefile's UNIT_WRAP list). ld then sends every call the objects
 * of the test binary make (the module under test and the other modules it
 * links) to the __wrap_ functions below, while calls made inside shared
 * libraries (glibc's opendir, libcurl, libmicrohttpd) are left alone, as
 * are ASan's own. __real_malloc is the malloc the binary would have
 * called, which under -fsanitize=address is ASan's: every block is still
 * bounds-checked and leak-tracked, and LeakSanitizer is asked after each
 * round (__lsan_do_recoverable_leak_check) so that a leak is pinned on the
 * round that made it. cJSON is a shared library, so its allocations are
 * routed here with cJSON_InitHooks (failalloc_cjson), which also makes
 * cJSON use malloc and copy instead of realloc. cmocka's own test_malloc
 * is not used: it would need the product to call it.
 */
#ifndef LASTCALL_FAILALLOC_H
#define LASTCALL_FAILALLOC_H

/* cmocka.h, under UNIT_TESTING, makes malloc, calloc, realloc and free its
 * own checker's: here they are the C library's (ASan's), whether this
 * header comes before cmocka.h or after it. */
#pragma push_macro("malloc")
#pragma push_macro("calloc")
#pragma push_macro("realloc")
#pragma push_macro("free")
#undef malloc
#undef calloc
#undef realloc
#undef free

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rounds need ASan: its leak check after each, and a dynamic link
 * (where only the test binary's own calls are wrapped). The unit tests
 * cross-built for arm64 have no sanitizer (musl has none) and link every
 * library statically, whose allocations --wrap would fail as well: there
 * the rounds are skipped. */
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define FAILALLOC_LEAKED() __lsan_do_recoverable_leak_check()
#else
#define FAILALLOC_OFF 1
#define FAILALLOC_LEAKED() 0
#endif

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);

/* The allocation that fails (0 = the first after failalloc_arm), or -1:
 * none. calls counts the allocations since failalloc_arm; failed whether
 * the one armed was reached. */
static struct {
	long fail_at;
	long calls;
	int failed;
} failalloc = { .fail_at = -1 };

static int failalloc_hit(void)
{
	if (failalloc.fail_at < 0)
		return 0;
	if (failalloc.calls++ != failalloc.fail_at)
		return 0;
	failalloc.failed = 1;
	errno = ENOMEM;
	return 1;
}

void *__wrap_malloc(size_t size);
void *__wrap_malloc(size_t size)
{
	return failalloc_hit() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
	return failalloc_hit() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size);
void *__wrap_realloc(void *p, size_t size)
{
	return failalloc_hit() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
	return failalloc_hit() ? NULL : __real_strdup(s);
}

static void failalloc_arm(long n)
{
	failalloc.fail_at = n;
	failalloc.calls = 0;
	failalloc.failed = 0;
}

static void failalloc_disarm(void)
{
	failalloc.fail_at = -1;
}

#ifdef cJSON__h
static void *failalloc_cjson_malloc(size_t size)
{
	return __wrap_malloc(size);
}

static void failalloc_cjson_free(void *p)
{
	free(p);
}

/* cJSON's allocations through the wrappers. */
static void failalloc_cjson(void)
{
	cJSON_Hooks h = { .malloc_fn = failalloc_cjson_malloc, .free_fn = failalloc_cjson_free };

	cJSON_InitHooks(&h);
}
#pragma pop_macro("malloc")
#pragma pop_macro("calloc")
#pragma pop_macro("realloc")
#pragma pop_macro("free")

#endif

/* Whether the rounds cannot run here (FAILALLOC_OFF): a test that fails
 * allocations returns at once then. Not cmocka's skip(): cmocka 1.1.5
 * reports it as "not ok N # SKIP", which TAP readers count as failed. */
static int failalloc_off(void)
{
#ifdef FAILALLOC_OFF
	return 1;
#else
	return 0;
#endif
}

/* How many rounds failalloc_each runs at most: no call here allocates
 * nearly as often, and a loop that never ends must not hang the suite. */
#define FAILALLOC_ROUNDS_MAX 10000

/*
 * Calls round(n, data) for n = 0, 1, 2...: in round n the nth allocation
 * fails (round must arm nothing itself; it asserts its own outcome, given
 * whether an allocation failed: failalloc.failed). Ends after the first
 * round in which nothing failed (every allocation of the call was tried),
 * and fails the test if a round leaked. Returns the number of
 * allocations the whole call makes.
 */
static long failalloc_each(void (*round)(long n, void *data), void *data)
{
	long n;

	if (failalloc_off())
		abort(); /* the caller should have returned */
	for (n = 0; n < FAILALLOC_ROUNDS_MAX; n++) {
		failalloc_arm(n);
		round(n, data);
		failalloc_disarm();
		if (FAILALLOC_LEAKED()) {
			fprintf(stderr,
				"failalloc: a leak in the round that failed allocation %ld\n", n);
			abort();
		}
		if (!failalloc.failed)
			break;
	}
	if (n == FAILALLOC_ROUNDS_MAX)
		abort();
	return n;
}

#pragma pop_macro("malloc")
#pragma pop_macro("calloc")
#pragma pop_macro("realloc")
#pragma pop_macro("free")

#endif
