/* gate.h - `lastcall gate TYPE true|false`: set the pod's readiness-gate
 * condition once, to take a pod out of rotation without deleting it. */
#ifndef LASTCALL_GATE_H
#define LASTCALL_GATE_H

#include "cfg.h"

extern const struct cfg_cmd gate_cmd;

/* argv[0] is the subcommand. Returns the process exit code. */
int gate_main(int argc, char **argv);

#endif
