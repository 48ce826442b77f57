/* kapi.h - the Kubernetes API, best effort: the pod's readiness-gate
 * condition, its real deletion grace period, Events; and the JSON of it
 * all (cJSON), pure, with the termination message.
 *
 * In-cluster config: the service account's token, ca.crt and namespace
 * files in one directory, the API server at KUBERNETES_SERVICE_HOST and
 * _PORT, the pod's name and uid from the downward API. The token is read
 * again for every call (it rotates) and never logged; TLS is verified
 * against ca.crt only. Every call has a timeout and runs through fetch.c
 * on the supervisor's loop: an API server that is down, slow or refusing
 * never delays the drain. A failing kind of call is logged once, then its
 * recovery.
 */
#ifndef LASTCALL_KAPI_H
#define LASTCALL_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

/* What lastcall reads of its own pod. */
struct fetch;
struct kapi;
struct loop;

struct kapi_config {
	const char *dir;      /* token, ca.crt, namespace */
	const char *pod_name; /* NULL: the API is not used at all */
	const char *pod_uid;  /* precondition and Event uid; NULL: learnt */
	const char *gate;     /* readiness-gate condition type, or NULL */
	bool events;	      /* post core/v1 Events */
	int64_t timeout_ms;   /* of every call */
};

struct kapi_pod {
	char uid[KAPI_UID_MAX];
	bool deleting;		  /* metadata.deletionTimestamp is set */
	int64_t deletion_grace_s; /* metadata.deletionGracePeriodSeconds, -1 */
};

/* Condition types the kubelet owns: never written by lastcall. */
bool kapi_gate_type_ok(const char *type);

/*
 * The strategic-merge patch of pods/NAME/status that sets condition type
 * to True or False: {"metadata":{"uid":UID},"status":{"conditions":[{...}]}}
 * (conditions merge by type; the uid makes it a precondition). uid may be
 * NULL or "". Returns the length, or -ENOSPC.
 */
int kapi_gate_patch(char *buf, size_t size, const char *uid, const char *type, bool status,
		    const char *reason, const char *message, const char *now_rfc3339);

/* Parses a Pod (or its PartialObjectMetadata). -EINVAL with a one-line reason in err when it is
 * not JSON, not a Pod, or its fields have the wrong types. */
int kapi_parse_pod(const char *json, size_t len, struct kapi_pod *ret, char *err, size_t errlen);

/* A core/v1 Event on the pod. type is "Normal" or "Warning". Returns the
 * length, or -ENOSPC. */
int kapi_event_body(char *buf, size_t size, const char *ns, const char *pod, const char *uid,
		    const char *reason, const char *type, const char *message,
		    const char *now_rfc3339);

/* This pod in an EndpointSlice: listed (an endpoint whose targetRef is
 * the Pod pod), and then whether ready (conditions.ready; unset counts as
 * ready, as the API says consumers should take it). */
struct kapi_slice {
	char name[KAPI_NAME_MAX];
	bool listed;
	bool ready;
};

struct kapi_slices {
	struct kapi_slice v[KAPI_SLICES_MAX];
	size_t n;
	size_t more;		      /* listing the pod, past KAPI_SLICES_MAX */
	char cont[KAPI_CONTINUE_MAX]; /* a list's metadata.continue, or "" */
};

/*
 * Parses an EndpointSliceList (the slices that list the Pod pod go in
 * ret->v) or one EndpointSlice (ret->v[0] whether it lists it or not).
 * -EINVAL with a one-line reason in err when it is neither, or its
 * fields have the wrong types. Pure.
 */
int kapi_parse_slices(const char *json, size_t len, const char *pod, struct kapi_slices *ret,
		      char *err, size_t errlen);

/* "2026-11-21T07:00:18Z" (seconds) or with microseconds (MicroTime). */
void kapi_now(char *buf, size_t size, bool micro);

/* The message of an API error answer (a Status object), else the start
 * of the body, on one line, into buf. */
void kapi_error_message(const char *body, size_t len, char *buf, size_t size);

/* ---- the client ---- */

struct kapi_ops {
	/* A gate patch ended: http 2xx set it; 0 means no answer. */
	void (*gate_done)(void *data, bool status, long http);
	/* GET pod ended: pod, or NULL when it failed. */
	void (*pod)(void *data, const struct kapi_pod *pod);
	/* Every EndpointSlice that listed this pod has it not ready, or no
	 * longer lists it (n of them); once. */
	void (*removed)(void *data, size_t n);
};

/*
 * Reads the namespace and checks ca.crt and the API server's address now,
 * so a pod spec that asks for the API without what it needs fails at
 * start (-EINVAL, one line in err).
 */
int kapi_new(struct loop *l, struct fetch *f, const struct kapi_config *c,
	     const struct kapi_ops *ops, void *data, struct kapi **ret, char *err, size_t errlen);
/* Accepts NULL. Free the fetch first: it aborts what is under way. */
void kapi_free(struct kapi *k);

/*
 * The gate condition should be status: patched at once when that is new,
 * else only when the API server does not have it yet: after a failure,
 * again after a backoff of 1 s doubling to 30 s (on a timer: no need to
 * call again). A new wish goes out even while the old one is in flight,
 * and is sent again if the old one is answered last.
 */
void kapi_gate(struct kapi *k, bool status);
/* GETs the pod; ops->pod gets the answer. */
void kapi_get_pod(struct kapi *k);
/*
 * From the drain on: lists the namespace's EndpointSlices (list on
 * endpointslices.discovery.k8s.io), keeps those that list this pod, and
 * reads them again every KAPI_SLICES_POLL_MS until each has the pod not
 * ready or gone, then ops->removed. No slice lists it, or the list is
 * refused: logged once, no signal (the drain goes by traffic alone).
 */
void kapi_watch_slices(struct kapi *k);
/* No more reads of the slices (the stop went out: nothing to learn). */
void kapi_unwatch_slices(struct kapi *k);
/* Queues an Event (when events are on); posted one at a time, in order,
 * stamped now. Dropped when KAPI_EVENTS_MAX wait. */
void kapi_event(struct kapi *k, const char *reason, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Calls under way plus Events waiting. */
size_t kapi_pending(const struct kapi *k);
/* Events queued or being posted, when posting them works (worth waiting
 * for at exit); 0 while Events fail. */
size_t kapi_events_waiting(const struct kapi *k);

#endif
