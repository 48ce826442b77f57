/* tools.h - the small subcommands every distroless pod needs:
 * `probe` (exec-probe client), `sleep` (a sleep that ends on SIGTERM) and
 * `install` (copy this binary into a shared volume); and `doctor`, which
 * checks a workload's manifests (kobj.c reads them, doctor.c judges). */
#ifndef LASTCALL_TOOLS_H
#define LASTCALL_TOOLS_H

#include "cfg.h"

extern const struct cfg_cmd tools_probe_cmd;
extern const struct cfg_cmd tools_sleep_cmd;
extern const struct cfg_cmd tools_install_cmd;
extern const struct cfg_cmd tools_doctor_cmd;

/* argv[0] is the subcommand. Each returns the process exit code. */
int tools_probe_main(int argc, char **argv);
int tools_sleep_main(int argc, char **argv);
int tools_install_main(int argc, char **argv);
int tools_doctor_main(int argc, char **argv);

#endif
