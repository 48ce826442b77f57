/* ready.h - readiness: whether lastcall tells the world the app may get
 * traffic, and the one writer of what says so outside the process:
 * --ready-file (an exec readinessProbe's `test -f`) and the readiness gate
 * condition (kapi). /readyz reads ready_is through the shell.
 */
#ifndef LASTCALL_READY_H
#define LASTCALL_READY_H

#include <stdbool.h>
#include <stddef.h>

#include "drain.h"

struct kapi;

/* Ready: before the drain, the app there, and the app ready. Pure. */
bool ready_is(enum drain_phase phase, bool app_ready, bool app_running);

/* Whether the app is ready: by its own --app-ready-url when it has one
 * (url_ready is the last answer), else once it listens on a serving
 * port. Pure. */
bool ready_app(bool has_ready_url, bool url_ready, size_t n_ports);

struct ready {
	const char *file;  /* --ready-file, or NULL */
	bool file_on;	   /* the file exists, as far as we made it */
	struct kapi *kapi; /* the gate, or NULL */
};

/*
 * file may be NULL. on_at_start: the file is taken to exist (a hook finds
 * the app ready and removes it at T0); otherwise one left by the last run
 * is removed now. kapi may be set later (it is made after).
 */
void ready_init(struct ready *r, const char *file, bool on_at_start);

/* Says ready or not: the file and the gate, each only on a change (the
 * gate retries by itself). Failures are logged, never fatal. */
void ready_set(struct ready *r, bool on);

#endif
