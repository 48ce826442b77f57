/* adopt.h - the drain next to an app that is not our child: `lastcall
 * sidecar` (shared PID namespace) and the standalone preStop hook. */
#ifndef LASTCALL_ADOPT_H
#define LASTCALL_ADOPT_H

#include "sup.h"

/*
 * Finds the app by --pid-file or --target-process (again after a
 * restart), watches it through a pidfd (readable when it exits), signals
 * it through it, and runs the drain shell for it: as a sidecar until the
 * app is gone; as a hook (SUP_MODE_HOOK) at once, returning when drained
 * (stop_signal 0) or once the app it stopped has exited.
 * Exit codes: 0 the app left (a hook: drained); 137 (sidecar) it had to be
 * SIGKILLed; 1 (hook) the budget ran out, there was no app to signal, or
 * the hook was interrupted; 125 lastcall could not start.
 */
int adopt_run(const struct sup_opts *o, enum sup_mode mode);

#endif
