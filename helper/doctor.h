/* doctor.h - `lastcall doctor`: the shutdown mistakes in Kubernetes
 * workloads, found in their manifests before they cost requests.
 *
 * The rules are pure functions over the objects kobj.c read: Pods and the
 * pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
 * ReplicationControllers, Jobs and CronJobs, with the Services, Roles and
 * RoleBindings beside them. Each finding names its rule (a stable id), a
 * severity, the object and the exact field path, one line of why and one
 * of the fix. lastcall's own flags in a manifest are read with lastcall's
 * own option tables (cfg_parse_with over the container's env), so the
 * doctor and the binary never disagree on what a flag means.
 */
#ifndef LASTCALL_DOCTOR_H
#define LASTCALL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

#include "kobj.h"

enum doctor_severity {
	DOCTOR_INFO,
	DOCTOR_WARNING,
	DOCTOR_ERROR,
	DOCTOR_NONE, /* --fail-on none: above every finding */
};

struct doctor_rule {
	const char *id;	   /* stable: "pid1-package-manager" */
	const char *title; /* one line */
	enum doctor_severity severity;
};

extern const struct doctor_rule doctor_rules[];
extern const size_t doctor_n_rules;

struct doctor_finding {
	const struct doctor_rule *rule;
	enum doctor_severity severity; /* the rule's, or as the case is */
	size_t object;		       /* kobj_at index */
	const cJSON *at;	       /* the node, for its line; or NULL */
	char path[256];		       /* spec.template.spec.containers[0].command */
	char why[512];
	char fix[512];
};

const char *doctor_severity_name(enum doctor_severity s);
/* "error", "warning", "info" or "none". */
int doctor_severity_parse(const char *s, enum doctor_severity *ret);

/*
 * Runs every rule over the objects of s, in their order. Writes at most
 * max findings to out and their count to *ret_n; *ret_dropped counts
 * those beyond max. Pure.
 */
void doctor_check(const struct kobj_set *s, struct doctor_finding *out, size_t max, size_t *ret_n,
		  size_t *ret_dropped);

/* How a finding is shown: files[f] is the name of input f. */
struct doctor_out {
	struct kobj_set *set;
	const char *const *files;
	const struct doctor_finding *v;
	size_t n;
	const char *version;
};

/* "Kind/name" (with "namespace/" when set) of object i, into buf. */
void doctor_object_name(const struct kobj_set *s, size_t i, char *buf, size_t size);

/* Text for people: one block per finding, then a count line. */
void doctor_write_text(FILE *f, const struct doctor_out *o);
/* {"findings":[...],"summary":{...}}; SARIF 2.1.0. -ENOMEM or 0. */
int doctor_write_json(FILE *f, const struct doctor_out *o);
int doctor_write_sarif(FILE *f, const struct doctor_out *o);

#endif
