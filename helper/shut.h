/* shut.h - the drain shell: one for every mode (run, sidecar, hook).
 *
 * It owns the drain engine (drain.c) and everything that feeds it or
 * carries out its actions: the drain and sample timers, the connection
 * sampler, readiness, the app's and the Kubernetes API's clients, the
 * probe endpoints, the phase log lines and Events, the exit report.
 * Events come in through the functions below; what only the owner of the
 * app's processes can do goes out through struct shut_ops. What differs
 * between the modes is data (struct shut_role), decided by a pure function;
 * the shell has no mode.
 *
 * A SIGTERM's way: the owner's signalfd callback asks shut_signal_action,
 * calls shut_trigger; the engine says unready (readiness off, the app
 * told), then each sample or timer moves it on; at the stop the shell
 * calls ops->stop, at the deadline ops->kill; the owner reports the exit
 * (shut_app_exited, shut_all_gone) and ends the loop.
 */
#ifndef LASTCALL_SHUT_H
#define LASTCALL_SHUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "drain.h"
#include "sup.h"

struct loop;
struct shut;

/* What differs between the modes, as the shell reads it. */
struct shut_role {
	bool drains;	     /* a drain can start at all */
	bool sampled;	     /* the sample timer runs (readiness, ports, a drain) */
	bool stop_returns;   /* drained is the end: done(0), no stop signal
			      * (a hook without --signal; the kubelet signals) */
	bool stop_needs_app; /* a stop with no app to signal fails: done(1) */
	bool kill_ours;	     /* at the deadline we SIGKILL; else done(1) and
			      * the kubelet's SIGKILL follows (a hook) */
	bool ready_at_start; /* --ready-file exists already (a hook) */
	bool report;	     /* termination message and exit flush (not a
			      * hook: the kubelet waits for it, and only PID
			      * 1's message is shown) */
	bool hold_stop;	     /* a drain a preStop hook started holds the stop
			      * signal for the kubelet's (run: the hook must
			      * return before PID 1 exits, or the kernel kills
			      * it: FailedPreStopHook) */
};

/* The role of mode with these options. Pure. */
struct shut_role shut_role_for(enum sup_mode mode, const struct sup_opts *o);

/* What a signal read by the owner does. */
enum shut_sig {
	SHUT_SIG_FORWARD,   /* run: send it on to the app */
	SHUT_SIG_DRAIN,	    /* start the drain (shut_trigger) */
	SHUT_SIG_END,	    /* stop now, exit 0 (a sidecar without a drain,
			     * or whose app is gone: a native sidecar's
			     * SIGTERM comes after the app's exit) */
	SHUT_SIG_INTERRUPT, /* a hook interrupted: exit 1 */
	SHUT_SIG_IGNORE,
};

/* What sig does in mode: drain_on is whether it is a --drain-on signal,
 * app_there whether the app runs (adopted: was found), phase the drain's.
 * Pure. */
enum shut_sig shut_signal_action(enum sup_mode mode, int sig, bool drain_on, bool app_there,
				 enum drain_phase phase);

/* What only the owner of the app's processes can do. */
struct shut_ops {
	/* What the stop signal goes to ("child", "group", "process"), and
	 * its pid: said in the log before it is sent (a hook stopping PID 1
	 * may die with it before it could say anything after). */
	const char *(*target)(void *data, pid_t *ret_pid);
	/* Sends the stop signal: 0 or a negative errno. */
	int (*stop)(void *data, int sig);
	/* SIGKILLs every process left: how many it reached. */
	size_t (*kill)(void *data);
	/* The app runs (adopted: is there). */
	bool (*running)(void *data);
	/* The processes whose listening sockets are the serving ports: 0 with
	 * up to cap pids; 1: every listening socket of the pod (no app named);
	 * -ESRCH: no app now. */
	int (*pids)(void *data, pid_t *pids, size_t cap, size_t *ret_n);
	/* The shell is done with exit code (a hook drained, ran out of time,
	 * or could not signal). The owner ends its loop. Only called where
	 * the role has stop_returns, stop_needs_app or not kill_ours: NULL
	 * for the others. */
	void (*done)(void *data, int code);
	/* The stop signal went out (may be NULL): an adopted app's exit is
	 * watched closely from now on. */
	void (*stopped)(void *data);
};

/*
 * Sets up everything before the app starts (run) or is looked for:
 * the budget fitted (logged when it had to shrink), the ready file, the
 * HTTP client, the app's URLs, the API, the sampler, the endpoints.
 * A negative errno when something asked for cannot be had (logged with
 * what and why): the caller exits 125 before any app runs.
 */
int shut_new(struct loop *l, const struct sup_opts *o, const struct shut_role *role,
	     const struct shut_ops *ops, void *data, struct shut **ret);
/* Accepts NULL. */
void shut_free(struct shut *sh);

/* Starts sampling (the app started or is looked for). */
void shut_start(struct shut *sh);
/* Starts the drain; origin says who ("signal:SIGTERM", "prestop:control").
 * Later triggers are logged and change nothing. */
void shut_trigger(struct shut *sh, const char *origin);
/* A signal reached the app (run: forwarded): while the stop signal is
 * held for the kubelet's, this was it (an image's STOPSIGNAL that is not a
 * --drain-on signal, nginx's QUIT): ours is not sent on top. */
void shut_signalled(struct shut *sh, const char *origin);
/* The app found (adopted): its ports are looked for at once. */
void shut_app_found(struct shut *sh);
/* The app gone before the drain (adopted: crashed or restarted): not ready,
 * its ports forgotten until it is found again. */
void shut_app_lost(struct shut *sh);
/* The app exited, with code (0..255) or -1 when unknown (adopted). */
void shut_app_exited(struct shut *sh, int code);
/* Every process is gone. */
void shut_all_gone(struct shut *sh);
/* Nothing of the shell may fire any more (the owner is finishing). */
void shut_end(struct shut *sh);

/* Whether a drain can start at all. */
bool shut_drains(const struct shut *sh);
enum drain_phase shut_phase(const struct shut *sh);
/* ms since T0 at now, or -1 before the drain. */
long long shut_ms(const struct shut *sh, int64_t now);
/* The SIGKILL deadline, or -1 before the drain. */
int64_t shut_kill_at(const struct shut *sh);
/* The grace period in force. */
int64_t shut_grace_ms(const struct shut *sh);

/*
 * The app and everything it started are gone (app_left: the app still runs,
 * a sidecar or hook told to stop): the termination message with code and
 * app_code (-1: unknown), the --on-exit-url calls and the last Events,
 * as the role says. Runs the loop for the flush.
 */
void shut_exit(struct shut *sh, int code, int app_code, bool app_left);

#endif
