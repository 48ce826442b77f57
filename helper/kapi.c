/* kapi.c - see kapi.h. */
#include "kapi.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>


static const char *const kubelet_types[] = {
	"Ready", "ContainersReady", "Initialized", "PodScheduled",
	"PodReadyToStartContainers", "DisruptionTarget",
};

bool kapi_gate_type_ok(const char *type)
{
	if (!type || !*type || strlen(type) >= KAPI_TYPE_MAX)
		return false;
	for (size_t i = 0; i < sizeof(kubelet_types) / sizeof(kubelet_types[0]); i++) {
		if (strcmp(type, kubelet_types[i]) == 0)
			return false;
	}
	/* A qualified name: [prefix/]name of [A-Za-z0-9._-]. */
	for (const char *p = type; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("._-/", *p))
			return false;
	}
	return true;
}

/* Prints j unformatted into buf; frees j. Length or -ENOSPC/-ENOMEM. */
static int print_into(cJSON *j, char *buf, size_t size)
{
	int r;

	if (!j)
		return -ENOMEM;
	if (size > INT32_MAX)
		size = INT32_MAX;
	r = cJSON_PrintPreallocated(j, buf, (int)size, false) ? (int)strlen(buf) : -ENOSPC;
	cJSON_Delete(j);
	return r;
}

int kapi_gate_patch(char *buf, size_t size, const char *uid, const char *type,
		    bool status, const char *reason, const char *message,
		    const char *now_rfc3339)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *meta, *st, *conds, *c;

	if (!root)
		return -ENOMEM;
	if (uid && *uid) {
		meta = cJSON_AddObjectToObject(root, "metadata");
		if (!meta || !cJSON_AddStringToObject(meta, "uid", uid))
			goto fail;
	}
	st = cJSON_AddObjectToObject(root, "status");
	conds = st ? cJSON_AddArrayToObject(st, "conditions") : NULL;
	c = cJSON_CreateObject();
	if (!conds || !c)
		goto fail_c;
	cJSON_AddItemToArray(conds, c);
	if (!cJSON_AddStringToObject(c, "type", type) ||
	    !cJSON_AddStringToObject(c, "status", status ? "True" : "False") ||
	    !cJSON_AddStringToObject(c, "reason", reason) ||
	    !cJSON_AddStringToObject(c, "message", message) ||
	    !cJSON_AddStringToObject(c, "lastTransitionTime", now_rfc3339))
		goto fail;
	return print_into(root, buf, size);
fail_c:
	cJSON_Delete(c);
fail:
	cJSON_Delete(root);
	return -ENOMEM;
}

int kapi_parse_pod(const char *json, size_t len, struct kapi_pod *ret, char *err,
		   size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *kind, *meta, *uid, *ts, *grace;
	struct kapi_pod pod = { .deletion_grace_s = -1 };
	int r = -EINVAL;

	if (!root) {
		snprintf(err, errlen, "not JSON");
		return -EINVAL;
	}
	kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	if (!cJSON_IsObject(root) || !cJSON_IsString(kind) || strcmp(kind->valuestring, "Pod") != 0) {
		snprintf(err, errlen, "not a Pod");
		goto out;
	}
	if (!cJSON_IsObject(meta)) {
		snprintf(err, errlen, "a Pod without metadata");
		goto out;
	}
	uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
	if (!cJSON_IsString(uid) || strlen(uid->valuestring) >= sizeof(pod.uid)) {
		snprintf(err, errlen, "metadata.uid is missing or not a string");
		goto out;
	}
	snprintf(pod.uid, sizeof(pod.uid), "%s", uid->valuestring);
	ts = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp");
	if (ts && !cJSON_IsNull(ts) && !cJSON_IsString(ts)) {
		snprintf(err, errlen, "metadata.deletionTimestamp is not a string");
		goto out;
	}
	pod.deleting = cJSON_IsString(ts);
	grace = cJSON_GetObjectItemCaseSensitive(meta, "deletionGracePeriodSeconds");
	if (grace && !cJSON_IsNull(grace)) {
		if (!cJSON_IsNumber(grace) || grace->valuedouble < 0 ||
		    grace->valuedouble > 1e9 || grace->valuedouble != (double)(int64_t)grace->valuedouble) {
			snprintf(err, errlen, "metadata.deletionGracePeriodSeconds is not a count of seconds");
			goto out;
		}
		pod.deletion_grace_s = (int64_t)grace->valuedouble;
	}
	*ret = pod;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int kapi_event_body(char *buf, size_t size, const char *ns, const char *pod,
		    const char *uid, const char *reason, const char *type,
		    const char *message, const char *now_rfc3339)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *meta, *obj, *src;
	char name[KAPI_NAME_MAX + 32];
	struct timespec t;

	if (!root)
		return -ENOMEM;
	/* Unique per event: the pod's name, then a nanosecond stamp in hex. */
	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(name, sizeof(name), "%s.%llx", pod,
		 (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec);
	meta = cJSON_AddObjectToObject(root, "metadata");
	obj = cJSON_AddObjectToObject(root, "involvedObject");
	src = cJSON_AddObjectToObject(root, "source");
	if (!meta || !obj || !src || !cJSON_AddStringToObject(root, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(root, "kind", "Event") ||
	    !cJSON_AddStringToObject(meta, "name", name) ||
	    !cJSON_AddStringToObject(meta, "namespace", ns) ||
	    !cJSON_AddStringToObject(obj, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(obj, "kind", "Pod") ||
	    !cJSON_AddStringToObject(obj, "name", pod) ||
	    !cJSON_AddStringToObject(obj, "namespace", ns) ||
	    (uid && *uid && !cJSON_AddStringToObject(obj, "uid", uid)) ||
	    !cJSON_AddStringToObject(root, "reason", reason) ||
	    !cJSON_AddStringToObject(root, "message", message) ||
	    !cJSON_AddStringToObject(root, "type", type) ||
	    !cJSON_AddStringToObject(root, "firstTimestamp", now_rfc3339) ||
	    !cJSON_AddStringToObject(root, "lastTimestamp", now_rfc3339) ||
	    !cJSON_AddNumberToObject(root, "count", 1) ||
	    !cJSON_AddStringToObject(src, "component", "lastcall")) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	return print_into(root, buf, size);
}

int kapi_summary_json(char *buf, size_t size, const struct kapi_summary *s)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *phases;

	if (!root)
		return -ENOMEM;
	phases = cJSON_CreateObject();
	if (!phases || !cJSON_AddNumberToObject(root, "exit_code", s->exit_code) ||
	    (s->app_code >= 0 && !cJSON_AddNumberToObject(root, "app_code", s->app_code)) ||
	    !cJSON_AddBoolToObject(root, "forced_kill", s->forced_kill) ||
	    !cJSON_AddBoolToObject(root, "drained", s->drained) ||
	    (s->inflight_left >= 0 &&
	     !cJSON_AddNumberToObject(root, "inflight_left", s->inflight_left))) {
		cJSON_Delete(phases);
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(root, "phases", phases);
	for (size_t i = 0; i < s->n_phases && i < KAPI_PHASES_MAX; i++) {
		if (s->phase_ms[i] >= 0 &&
		    !cJSON_AddNumberToObject(phases, s->phase_names[i], (double)s->phase_ms[i])) {
			cJSON_Delete(root);
			return -ENOMEM;
		}
	}
	return print_into(root, buf, size);
}

void kapi_now(char *buf, size_t size, bool micro)
{
	struct timeval tv;
	struct tm tm;
	char base[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (micro)
		snprintf(buf, size, "%s.%06ldZ", base, (long)tv.tv_usec);
	else
		snprintf(buf, size, "%sZ", base);
}
