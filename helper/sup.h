/* sup.h - the supervisor behind `lastcall run`: spawn, forward, reap, exit. */
#ifndef LASTCALL_SUP_H
#define LASTCALL_SUP_H

#include <signal.h>
#include <stdint.h>

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "drain.h"
#include "httpd.h"
#include "limits.h"
#include "sig.h"
#include "status.h"

enum sup_target {
	SUP_TARGET_GROUP,	/* the child's process group (the default) */
	SUP_TARGET_CHILD,	/* the child alone */
};

struct sup_opts {
	enum sup_target target;
	struct sig_rewrite rewrite;
	struct status_map exit_map;
	int64_t orphan_grace_ms;

	/* The drain engine. No drain_on signal: signals are only forwarded. */
	bool drain_on[SIG_MAX + 1];
	struct drain_budget budget;
	int stop_signal;
	int64_t sample_ms;
	struct sup_ports {
		uint16_t v[PORTS_MAX];
		size_t n;
	} ports;			/* serving ports; none: discover */
	const char *listen;		/* HOST:PORT of the probes, or NULL */
	const char *control;		/* control socket path, or NULL */
	struct app_urls app;		/* the app's own endpoints, each optional */
	struct httpd_acl allow;		/* may GET /prestop over TCP, with loopback */
};

/*
 * Blocks every signal but the synchronous faults and ignores the TTY stop
 * signals and SIGPIPE, saving what was there into *ret_orig_mask for the
 * child. Called first thing in main, before anything can raise a signal.
 */
void sup_signals_init(sigset_t *ret_orig_mask);

/*
 * Runs argv as the supervised child until it and every descendant are
 * gone, and returns the exit code for lastcall: the child's status mapped
 * through exit_map, or 125/126/127 when it could not be started.
 */
int sup_run(const struct sup_opts *o, char *const argv[],
	    const sigset_t *orig_mask);

#endif
