/* sup.h - the supervisor behind `lastcall run`: spawn, forward, reap, exit;
 * and the options every mode shares (run, sidecar and hook: adopt.h). */
#ifndef LASTCALL_SUP_H
#define LASTCALL_SUP_H

#include <signal.h>
#include <stdint.h>

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "drain.h"
#include "fetch.h"
#include "httpd.h"
#include "kapi.h"
#include "limits.h"
#include "log.h"
#include "loop.h"
#include "report.h"
#include "sig.h"
#include "status.h"
/* Where Kubernetes mounts the service account. */
#define SUP_KUBE_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

enum sup_target {
	SUP_TARGET_GROUP, /* the child's process group (the default) */
	SUP_TARGET_CHILD, /* the child alone */
};

/* Who the supervisor is: the parent of the app, or next to it. */
enum sup_mode {
	SUP_MODE_RUN,	  /* `run`: spawns the app, forwards, reaps */
	SUP_MODE_SIDECAR, /* `sidecar`: finds the app in a shared PID namespace */
	SUP_MODE_HOOK,	  /* `prestop` standalone: drains at once, returns */
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
	bool close_idle; /* close idle connections for the app (idle.h) */
	int64_t sample_ms;
	struct sup_ports {
		uint16_t v[PORTS_MAX];
		size_t n;
	} ports;		     /* serving ports; none: discover */
	const char *listen;	     /* HOST:PORT of the probes, or NULL */
	const char *control;	     /* control socket path, or NULL */
	struct app_urls app;	     /* the app's own endpoints, each optional */
	struct httpd_acl allow;	     /* may GET /prestop over TCP, with loopback */
	const char *ready_file;	     /* exists while ready, or NULL */
	const char *termination_log; /* the summary at exit, or NULL */
	struct kapi_config kube;     /* the API, when kube.pod_name is set */
	struct sup_exit_urls {
		struct fetch_target v[ON_EXIT_URLS_MAX];
		size_t n;
	} on_exit; /* POSTed once the app is gone */

	/* sidecar and hook: the app's main process, by name or pid file. */
	const char *target_process;
	const char *pid_file;

	/* Where the grace period was assumed ("podman"), and how to set it;
	 * NULL when it was given. */
	const char *grace_assumed;
	const char *grace_hint;
};

/*
 * The loop and the signalfd (sig_fd_open) on it, calling fn: what every
 * mode opens first. 0, or a negative errno, logged.
 */
int sup_open(struct loop **ret_loop, int *ret_sfd, loop_fd_fn *fn, void *data);
/* Says, at level, what grace period was assumed and how to set it, when
 * it was not given (a line of its own: start errors stay one line). */
void sup_log_grace(const struct sup_opts *o, enum log_level level);
/* A pidfd for pid, or -1 (before Linux 5.3). */
int sup_pidfd_open(pid_t pid);
/* Signals pid through pidfd when there is one (it cannot hit a reused
 * pid), else by kill(2). 0 or a negative errno (-ESRCH: gone). */
int sup_pidfd_signal(int pidfd, pid_t pid, int sig);

/*
 * Runs argv as the supervised child until it and every descendant are
 * gone, and returns the exit code for lastcall: the child's status mapped
 * through exit_map, or 125/126/127 when it could not be started.
 */
int sup_run(const struct sup_opts *o, char *const argv[], const sigset_t *orig_mask);

#endif
