/* sup.h - the supervisor behind `lastcall run`: spawn, forward, reap, exit. */
#ifndef LASTCALL_SUP_H
#define LASTCALL_SUP_H

#include <signal.h>
#include <stdint.h>

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
