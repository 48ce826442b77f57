/* prestop.h - `lastcall prestop`: the preStop exec hook. */
#ifndef LASTCALL_PRESTOP_H
#define LASTCALL_PRESTOP_H

#include "cfg.h"

extern const struct cfg_cmd prestop_cmd;

/* argv[0] is "prestop". Returns the process exit code. */
int prestop_main(int argc, char **argv);

#endif
