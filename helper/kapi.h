/* kapi.h - what lastcall says to Kubernetes, as JSON (cJSON), pure: the
 * readiness-gate condition patch, Events, the Pod it reads back, and the
 * termination message. The calls themselves (through fetch.c, with the
 * service account's token and CA) are not wired in yet.
 */
#ifndef LASTCALL_KAPI_H
#define LASTCALL_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

/* What lastcall reads of its own pod. */
struct kapi_pod {
	char uid[KAPI_UID_MAX];
	bool deleting;			/* metadata.deletionTimestamp is set */
	int64_t deletion_grace_s;	/* metadata.deletionGracePeriodSeconds, -1 */
};

/* Condition types the kubelet owns: never written by lastcall. */
bool kapi_gate_type_ok(const char *type);

/*
 * The strategic-merge patch of pods/NAME/status that sets condition type
 * to True or False: {"metadata":{"uid":UID},"status":{"conditions":[{...}]}}
 * (conditions merge by type; the uid makes it a precondition). uid may be
 * NULL or "". Returns the length, or -ENOSPC.
 */
int kapi_gate_patch(char *buf, size_t size, const char *uid, const char *type,
		    bool status, const char *reason, const char *message,
		    const char *now_rfc3339);

/* Parses a Pod object. -EINVAL with a one-line reason in err when it is
 * not JSON, not a Pod, or its fields have the wrong types. */
int kapi_parse_pod(const char *json, size_t len, struct kapi_pod *ret, char *err,
		   size_t errlen);

/* A core/v1 Event on the pod. type is "Normal" or "Warning". Returns the
 * length, or -ENOSPC. */
int kapi_event_body(char *buf, size_t size, const char *ns, const char *pod,
		    const char *uid, const char *reason, const char *type,
		    const char *message, const char *now_rfc3339);

/* What the termination message says of a shutdown. */
struct kapi_summary {
	const char *phase_names[KAPI_PHASES_MAX];
	int64_t phase_ms[KAPI_PHASES_MAX];	/* ms after T0, -1: not reached */
	size_t n_phases;
	bool drained;		/* a drain ran (T0 known) */
	bool forced_kill;
	int inflight_left;	/* at exit, -1 unknown */
	int app_code;		/* the app's status, -1 unknown (sidecar) */
	int exit_code;
};

/* The one-line JSON of the termination message (kubectl describe pod
 * shows it): {"exit_code":..,"app_code":..,"forced_kill":..,"drained":..,
 * "inflight_left":..,"phases":{"unready":0,...}}. Length or -ENOSPC. */
int kapi_summary_json(char *buf, size_t size, const struct kapi_summary *s);

/* "2026-11-21T07:00:18Z" (seconds) or with microseconds (MicroTime). */
void kapi_now(char *buf, size_t size, bool micro);

#endif
