/* run.h - `lastcall run` (the entrypoint wrapper) and `lastcall sidecar`. */
#ifndef LASTCALL_RUN_H
#define LASTCALL_RUN_H

#include <signal.h>

#include "cfg.h"

extern const struct cfg_cmd run_cmd;
extern const struct cfg_cmd sidecar_cmd;

/* argv[0] is "run". Returns the process exit code. */
int run_main(int argc, char **argv, const sigset_t *orig_mask);

/* argv[0] is "sidecar". */
int sidecar_main(int argc, char **argv);

#endif
