/* kapi.c - see kapi.h. */
#include "kapi.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "log.h"
#include "loop.h"

static const char *const kubelet_types[] = {
	"Ready",	"ContainersReady",	     "Initialized",
	"PodScheduled", "PodReadyToStartContainers", "DisruptionTarget",
};

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The name part of a qualified name: 1..63 of [A-Za-z0-9._-], alphanumeric
 * at both ends. */
static bool name_ok(const char *p, size_t n)
{
	if (n == 0 || n > 63 || !alnum(p[0]) || !alnum(p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!alnum(p[i]) && !strchr("._-", p[i]))
			return false;
	}
	return true;
}

/* A DNS subdomain prefix: 1..253 of lower-case labels joined by dots. */
static bool prefix_ok(const char *p, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0, start = 0; i <= n; i++) {
		if (i < n && p[i] != '.') {
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '-'))
				return false;
			continue;
		}
		/* A label: 1..63, not starting or ending with '-'. */
		if (i == start || i - start > 63 || p[start] == '-' || p[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

bool kapi_gate_type_ok(const char *type)
{
	const char *slash;

	if (!type || !*type || strlen(type) >= KAPI_TYPE_MAX)
		return false;
	for (size_t i = 0; i < sizeof(kubelet_types) / sizeof(kubelet_types[0]); i++) {
		if (strcmp(type, kubelet_types[i]) == 0)
			return false;
	}
	/* A qualified name, as the API server validates condition types:
	 * [prefix/]name. */
	slash = strchr(type, '/');
	if (!slash)
		return name_ok(type, strlen(type));
	return prefix_ok(type, (size_t)(slash - type)) && name_ok(slash + 1, strlen(slash + 1));
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

int kapi_gate_patch(char *buf, size_t size, const char *uid, const char *type, bool status,
		    const char *reason, const char *message, const char *now_rfc3339)
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

int kapi_parse_pod(const char *json, size_t len, struct kapi_pod *ret, char *err, size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *kind, *meta, *uid, *ts, *grace, *spec;
	struct kapi_pod pod = { .deletion_grace_s = -1, .spec_grace_s = -1 };
	int r = -EINVAL;

	if (!root) {
		snprintf(err, errlen, "not JSON");
		return -EINVAL;
	}
	kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	if (!cJSON_IsObject(root) || !cJSON_IsString(kind) ||
	    (strcmp(kind->valuestring, "Pod") != 0 &&
	     strcmp(kind->valuestring, "PartialObjectMetadata") != 0)) {
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
		if (!cJSON_IsNumber(grace) || grace->valuedouble < 0 || grace->valuedouble > 1e9 ||
		    grace->valuedouble != (double)(int64_t)grace->valuedouble) {
			snprintf(err, errlen,
				 "metadata.deletionGracePeriodSeconds is not a count of seconds");
			goto out;
		}
		pod.deletion_grace_s = (int64_t)grace->valuedouble;
	}
	/* PartialObjectMetadata has no spec. */
	spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
	grace = cJSON_GetObjectItemCaseSensitive(spec, "terminationGracePeriodSeconds");
	if (grace && !cJSON_IsNull(grace)) {
		if (!cJSON_IsNumber(grace) || grace->valuedouble < 0 || grace->valuedouble > 1e9 ||
		    grace->valuedouble != (double)(int64_t)grace->valuedouble) {
			snprintf(err, errlen,
				 "spec.terminationGracePeriodSeconds is not a count of seconds");
			goto out;
		}
		pod.spec_grace_s = (int64_t)grace->valuedouble;
	}
	*ret = pod;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int64_t kapi_grace_settle(int64_t flag_ms, bool assumed, int64_t spec_s, char *fix, size_t fixlen)
{
	int64_t pod_ms;

	if (fixlen)
		fix[0] = '\0';
	if (spec_s < 0)
		return flag_ms;
	/* 0 is allowed in a spec; the kubelet still gives the stop a moment,
	 * and lastcall plans for at least 1 s (as --grace-period). */
	pod_ms = (spec_s < 1 ? 1 : spec_s) * 1000;
	if (assumed || pod_ms == flag_ms)
		return pod_ms;
	if (flag_ms > pod_ms) {
		snprintf(fix, fixlen,
			 "--grace-period (LASTCALL_GRACE_PERIOD) is longer than the pod's terminationGracePeriodSeconds: the kubelet kills at %llds; set it to %llds",
			 (long long)spec_s, (long long)spec_s);
		return pod_ms;
	}
	snprintf(fix, fixlen,
		 "--grace-period (LASTCALL_GRACE_PERIOD) is shorter than the pod's terminationGracePeriodSeconds: lastcall stops early; set it to %llds",
		 (long long)spec_s);
	return flag_ms;
}

/* One slice: its name, and this pod's endpoint in it. */
static int parse_slice(const cJSON *sl, const char *pod, struct kapi_slice *ret, char *err,
		       size_t errlen)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(sl, "metadata");
	const cJSON *name = meta ? cJSON_GetObjectItemCaseSensitive(meta, "name") : NULL;
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(sl, "endpoints");
	const cJSON *ep;
	struct kapi_slice v = { .listed = false };

	if (!cJSON_IsObject(sl) || !cJSON_IsString(name) ||
	    strlen(name->valuestring) >= sizeof(v.name)) {
		snprintf(err, errlen, "an EndpointSlice without metadata.name");
		return -EINVAL;
	}
	snprintf(v.name, sizeof(v.name), "%s", name->valuestring);
	/* endpoints may be null or absent: no endpoint at all. */
	if (eps && !cJSON_IsNull(eps) && !cJSON_IsArray(eps)) {
		snprintf(err, errlen, "endpoints of %s is not a list", v.name);
		return -EINVAL;
	}
	if (!cJSON_IsArray(eps))
		eps = NULL;
	cJSON_ArrayForEach(ep, eps)
	{
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(ep, "targetRef");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ref, "kind");
		const cJSON *rname = cJSON_GetObjectItemCaseSensitive(ref, "name");
		const cJSON *cond = cJSON_GetObjectItemCaseSensitive(ep, "conditions");
		const cJSON *ready = cJSON_GetObjectItemCaseSensitive(cond, "ready");

		if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Pod") != 0 ||
		    !cJSON_IsString(rname) || strcmp(rname->valuestring, pod) != 0)
			continue;
		if (ready && !cJSON_IsNull(ready) && !cJSON_IsBool(ready)) {
			snprintf(err, errlen, "conditions.ready in %s is not a boolean", v.name);
			return -EINVAL;
		}
		/* Listed twice (one address per family): ready if either is. */
		v.ready = (v.listed && v.ready) || !cJSON_IsFalse(ready);
		v.listed = true;
	}
	*ret = v;
	return 0;
}

int kapi_parse_slices(const char *json, size_t len, const char *pod, struct kapi_slices *ret,
		      char *err, size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *kind, *items, *item, *meta, *cont;
	struct kapi_slices *out = ret;
	struct kapi_slice v;
	int r = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!root) {
		snprintf(err, errlen, "not JSON");
		return -EINVAL;
	}
	kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	if (!cJSON_IsObject(root) || !cJSON_IsString(kind)) {
		snprintf(err, errlen, "not an EndpointSlice or a list of them");
		goto out;
	}
	if (strcmp(kind->valuestring, "EndpointSlice") == 0) {
		r = parse_slice(root, pod, &out->v[0], err, errlen);
		out->n = r == 0;
		goto out;
	}
	if (strcmp(kind->valuestring, "EndpointSliceList") != 0) {
		snprintf(err, errlen, "not an EndpointSlice or a list of them");
		goto out;
	}
	items = cJSON_GetObjectItemCaseSensitive(root, "items");
	if (items && !cJSON_IsNull(items) && !cJSON_IsArray(items)) {
		snprintf(err, errlen, "items is not a list");
		goto out;
	}
	if (!cJSON_IsArray(items))
		items = NULL;
	cJSON_ArrayForEach(item, items)
	{
		if (parse_slice(item, pod, &v, err, errlen) < 0)
			goto out;
		if (!v.listed)
			continue;
		if (out->n < KAPI_SLICES_MAX)
			out->v[out->n++] = v;
		else
			out->more++;
	}
	meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	cont = meta ? cJSON_GetObjectItemCaseSensitive(meta, "continue") : NULL;
	if (cJSON_IsString(cont)) {
		if (strlen(cont->valuestring) >= sizeof(out->cont)) {
			snprintf(err, errlen, "metadata.continue is longer than %d bytes",
				 KAPI_CONTINUE_MAX - 1);
			goto out;
		}
		snprintf(out->cont, sizeof(out->cont), "%s", cont->valuestring);
	}
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int kapi_event_body(char *buf, size_t size, const char *ns, const char *pod, const char *uid,
		    const char *reason, const char *type, const char *message,
		    const char *now_rfc3339)
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

void kapi_error_message(const char *body, size_t len, char *buf, size_t size)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	const char *from = cJSON_IsString(msg) ? msg->valuestring : body;
	size_t n = 0;

	/* One line, printable: never a raw newline into the log. */
	/* The length first: a body need not be NUL-terminated. */
	for (const char *p = from; (size_t)(p - from) < len && *p && n + 1 < size; p++)
		buf[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
	buf[n] = '\0';
	cJSON_Delete(root);
}

/* ---- the client ---- */

enum kapi_call { KAPI_GATE, KAPI_POD, KAPI_EVENT, KAPI_SLICES, KAPI_CALLS };

/* Only the pod's metadata (no spec, no status: all lastcall reads at T0
 * is in it), from API servers that can (1.15 on); others send the Pod. */
#define KAPI_ACCEPT_METADATA \
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

static const char *const call_names[KAPI_CALLS] = { "gate", "get_pod", "event", "slices" };

/* Two gate patches (the old wish in flight, the new one), two GETs (the
 * spec's grace and the uid at start, the deletion grace at T0), an Event,
 * a read of each slice. */
#define KAPI_REQS (5 + KAPI_SLICES_MAX)

struct kapi_req {
	struct kapi *k;
	enum kapi_call call;
	bool busy;
	int value;    /* gate: the status it sets */
	uint64_t seq; /* gate: the order it was sent in */
	int slice;    /* slices: the one read, -1 for a page of the list */
};

struct kapi_queued {
	char reason[32];
	bool warning;
	char message[KAPI_MESSAGE_MAX];
	char time[40];
};

struct kapi {
	struct fetch *f;
	struct loop *loop;
	int retry_timer;
	struct kapi_config c;
	const struct kapi_ops *ops;
	void *data;
	char ns[KAPI_NAME_MAX];
	char uid[KAPI_UID_MAX]; /* given, or learnt from GET pod */
	char base[128];		/* https://HOST:PORT */
	char ca[512];
	struct kapi_req req[KAPI_REQS];
	bool failing[KAPI_CALLS];

	int gate_want;	   /* -1 nothing asked yet, 0, 1 */
	int gate_have;	   /* the last one answered 2xx, -1 unknown */
	uint64_t gate_seq; /* patches sent */
	uint64_t have_seq; /* the seq of the one gate_have is from */
	int64_t gate_retry_at;
	int64_t gate_backoff_ms;

	/* The EndpointSlices listing this pod (kapi_watch_slices). */
	enum { SLICES_OFF, SLICES_LISTING, SLICES_READING, SLICES_DONE } sl_state;
	struct kapi_slice sl[KAPI_SLICES_MAX];
	bool sl_gone[KAPI_SLICES_MAX]; /* the pod is not ready in it, or gone */
	size_t sl_n, sl_more, sl_pages, sl_waiting;
	int sl_list_tries; /* failed tries of the current page */
	int sl_timer;
	char sl_cont[KAPI_CONTINUE_MAX];

	struct kapi_queued events[KAPI_EVENTS_MAX];
	size_t ev_head, ev_n;
	bool ev_busy;
	size_t ev_dropped;
};

/* Reads a small file of dir into buf, trimmed. 0 or a negative errno. */
static int read_small(const char *dir, const char *name, char *buf, size_t size)
{
	char path[512];
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	e = errno;
	close(fd);
	if (n < 0)
		return -e;
	if ((size_t)n == size - 1)
		return -EFBIG;
	buf[n] = '\0';
	while (n > 0 && strchr("\n\r \t", buf[n - 1]))
		buf[--n] = '\0';
	return n > 0 ? 0 : -ENODATA;
}

int kapi_new(struct loop *l, struct fetch *f, const struct kapi_config *c,
	     const struct kapi_ops *ops, void *data, struct kapi **ret, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kapi *k;
	int r;

	if (!c->pod_name || !*c->pod_name || strlen(c->pod_name) >= KAPI_NAME_MAX) {
		snprintf(err, errlen,
			 "--pod-name: the pod's name is needed (downward API metadata.name)");
		return -EINVAL;
	}
	if (c->pod_uid && strlen(c->pod_uid) >= KAPI_UID_MAX) {
		snprintf(err, errlen, "--pod-uid: longer than %d bytes", KAPI_UID_MAX - 1);
		return -EINVAL;
	}
	if (c->gate && !kapi_gate_type_ok(c->gate)) {
		snprintf(err, errlen,
			 "--readiness-gate \"%s\": not a condition type lastcall may set (kubelet-owned, or not a qualified name)",
			 c->gate);
		return -EINVAL;
	}
	if (!host || !*host || !port || !*port) {
		snprintf(err, errlen,
			 "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)");
		return -EINVAL;
	}
	if (strlen(host) + strlen(port) > 100 || strspn(port, "0123456789") != strlen(port)) {
		snprintf(err, errlen, "KUBERNETES_SERVICE_HOST/_PORT: not an address and a port");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	k->loop = l;
	k->f = f;
	k->c = *c;
	k->ops = ops;
	k->data = data;
	k->gate_want = -1;
	k->gate_have = -1;
	k->gate_backoff_ms = KAPI_RETRY_MIN_MS;
	if (c->pod_uid)
		snprintf(k->uid, sizeof(k->uid), "%s", c->pod_uid);
	r = read_small(c->dir, "namespace", k->ns, sizeof(k->ns));
	if (r < 0) {
		snprintf(err, errlen, "%s/namespace: %s", c->dir, strerror(-r));
		free(k);
		return -EINVAL;
	}
	snprintf(k->ca, sizeof(k->ca), "%s/ca.crt", c->dir);
	if (access(k->ca, R_OK) < 0) {
		snprintf(err, errlen, "%s: %s", k->ca, strerror(errno));
		free(k);
		return -EINVAL;
	}
	/* An IPv6 service address needs brackets in a URL. */
	snprintf(k->base, sizeof(k->base), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	*ret = k;
	return 0;
}

void kapi_free(struct kapi *k)
{
	if (!k)
		return;
	if (k->ev_n + k->ev_busy + k->ev_dropped > 0)
		log_warn("kube_events_dropped", "count=%zu", k->ev_n + k->ev_busy + k->ev_dropped);
	loop_timer_cancel(k->loop, k->retry_timer);
	loop_timer_cancel(k->loop, k->sl_timer);
	free(k);
}

size_t kapi_pending(const struct kapi *k)
{
	size_t n = 0;

	if (!k)
		return 0;
	for (size_t i = 0; i < KAPI_REQS; i++)
		n += k->req[i].busy;
	return n + k->ev_n;
}

size_t kapi_events_waiting(const struct kapi *k)
{
	if (!k || k->failing[KAPI_EVENT])
		return 0;
	return k->ev_n + k->ev_busy;
}

static void failed(struct kapi *k, enum kapi_call call, const struct fetch_result *r)
{
	char msg[200];

	if (k->failing[call])
		return;
	k->failing[call] = true;
	if (r->status) {
		kapi_error_message(r->body, r->len, msg, sizeof(msg));
		log_warn("kube_api_failed", "call=%s status=%ld error=%s", call_names[call],
			 r->status, msg);
	} else {
		log_warn("kube_api_failed", "call=%s error=%s", call_names[call], r->error);
	}
}

static void succeeded(struct kapi *k, enum kapi_call call)
{
	if (k->failing[call])
		log_info("kube_api_recovered", "call=%s", call_names[call]);
	k->failing[call] = false;
}

static void gate_kick(struct kapi *k);
static void event_kick(struct kapi *k);

static void on_retry_timer(struct loop *l, void *data)
{
	struct kapi *k = data;

	(void)l;
	k->retry_timer = 0;
	gate_kick(k);
}

/* A failed patch is sent again after the backoff, whoever calls next. */
static void gate_backoff(struct kapi *k)
{
	k->gate_retry_at = loop_now_ms() + k->gate_backoff_ms;
	k->gate_backoff_ms = k->gate_backoff_ms * 2 > KAPI_RETRY_MAX_MS ? KAPI_RETRY_MAX_MS
									: k->gate_backoff_ms * 2;
	loop_timer_cancel(k->loop, k->retry_timer);
	k->retry_timer = 0;
	loop_timer_add(k->loop, k->gate_retry_at, on_retry_timer, k, &k->retry_timer);
}

static void slices_answer(struct kapi *k, int slice, const struct fetch_result *r, bool ok);

static void on_done(void *data, const struct fetch_result *r)
{
	struct kapi_req *q = data;
	struct kapi *k = q->k;
	bool ok = r->status >= 200 && r->status < 300;
	struct kapi_pod pod;
	char err[256];

	q->busy = false;
	if (ok)
		succeeded(k, q->call);
	else
		failed(k, q->call, r);
	switch (q->call) {
	case KAPI_GATE:
		if (ok) {
			/* Taken in the order the answers come: an older patch
			 * answered last may have been applied last. */
			k->gate_have = q->value;
			k->have_seq = q->seq;
			k->gate_backoff_ms = KAPI_RETRY_MIN_MS;
		} else {
			/* An error answer changed nothing. No answer at all (a
			 * timeout, a dropped connection): the server may still
			 * apply it, even after a newer one; the condition is
			 * unknown until the next patch is answered. */
			if (r->status == 0)
				k->gate_have = -1;
			gate_backoff(k);
		}
		if (k->ops->gate_done)
			k->ops->gate_done(k->data, q->value == 1, r->status);
		gate_kick(k);
		break;
	case KAPI_POD:
		if (ok && kapi_parse_pod(r->body, r->len, &pod, err, sizeof(err)) < 0) {
			log_warn("kube_api_bad_answer", "call=get_pod error=\"%s\"", err);
			ok = false;
		}
		if (ok && !k->uid[0])
			snprintf(k->uid, sizeof(k->uid), "%s", pod.uid);
		if (k->ops->pod)
			k->ops->pod(k->data, ok ? &pod : NULL);
		break;
	case KAPI_EVENT:
		k->ev_busy = false;
		event_kick(k);
		break;
	case KAPI_SLICES:
		slices_answer(k, q->slice, r, ok);
		break;
	default:
		break;
	}
}

/* Starts one call; the token is read now (it rotates). */
static int start(struct kapi *k, enum kapi_call call, const char *method, const char *path,
		 const char *body, const char *content_type, const char *accept,
		 struct kapi_req **ret_q)
{
	struct fetch_target t;
	struct fetch_extra x = { .cainfo = k->ca, .content_type = content_type, .accept = accept };
	struct kapi_req *q = NULL;
	char token[KAPI_TOKEN_MAX];
	int r;

	for (size_t i = 0; i < KAPI_REQS && !q; i++) {
		if (!k->req[i].busy)
			q = &k->req[i];
	}
	if (!q)
		return -ENOSPC;
	r = read_small(k->c.dir, "token", token, sizeof(token));
	if (r < 0) {
		explicit_bzero(token, sizeof(token));
		if (!k->failing[call])
			log_warn("kube_api_failed", "call=%s error=\"%s/token: %s\"",
				 call_names[call], k->c.dir, strerror(-r));
		k->failing[call] = true;
		return r;
	}
	x.bearer = token;
	snprintf(t.url, sizeof(t.url), "%s%s", k->base, path);
	t.unix_path[0] = '\0';
	q->k = k;
	q->call = call;
	r = fetch_start_ex(k->f, &t, method, body, k->c.timeout_ms, &x, on_done, q);
	explicit_bzero(token, sizeof(token));
	if (r < 0) {
		if (!k->failing[call])
			log_warn("kube_api_failed", "call=%s error=\"%s\"", call_names[call],
				 strerror(-r));
		k->failing[call] = true;
		return r;
	}
	q->busy = true;
	*ret_q = q;
	return 0;
}

static void gate_send(struct kapi *k, bool status)
{
	char path[KAPI_NAME_MAX * 2 + 64], body[1024], now[40];
	struct kapi_req *q;

	kapi_now(now, sizeof(now), false);
	if (kapi_gate_patch(body, sizeof(body), k->uid, k->c.gate, status,
			    status ? "AppReady" : "Draining",
			    status ? "lastcall: the app is ready" : "lastcall: draining", now) < 0)
		return;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status", k->ns, k->c.pod_name);
	if (start(k, KAPI_GATE, "PATCH", path, body, "application/strategic-merge-patch+json",
		  "application/json", &q) < 0) {
		gate_backoff(k);
		return;
	}
	q->value = status;
	q->seq = ++k->gate_seq;
}

static size_t gates_in_flight(const struct kapi *k)
{
	size_t n = 0;

	for (size_t i = 0; i < KAPI_REQS; i++)
		n += k->req[i].busy && k->req[i].call == KAPI_GATE;
	return n;
}

/* Whether a gate patch setting v, sent after the one gate_have is from
 * (newer: it may still change the condition), is in flight. */
static bool gate_flying(const struct kapi *k, int v)
{
	for (size_t i = 0; i < KAPI_REQS; i++) {
		const struct kapi_req *q = &k->req[i];
		if (q->busy && q->call == KAPI_GATE && q->value == v && q->seq > k->have_seq)
			return true;
	}
	return false;
}

static void gate_kick(struct kapi *k)
{
	int want = k->gate_want;

	if (!k->c.gate || want < 0 || gate_flying(k, want))
		return;
	/* Settled: the server has it, and nothing newer may undo it. */
	if (k->gate_have == want && !gate_flying(k, !want))
		return;
	/* After a failure, not before the backoff (a new wish resets it). */
	if (loop_now_ms() < k->gate_retry_at)
		return;
	/* The old wish may still be in flight: the new one goes now. */
	if (gates_in_flight(k) < 2)
		gate_send(k, want);
}

void kapi_gate(struct kapi *k, bool status)
{
	if (!k || !k->c.gate)
		return;
	if (k->gate_want != (int)status) {
		/* A new wish is not held back by the last one's failures. */
		k->gate_want = status;
		k->gate_retry_at = 0;
		k->gate_backoff_ms = KAPI_RETRY_MIN_MS;
	}
	gate_kick(k);
}

static void get_pod(struct kapi *k, const char *accept)
{
	char path[KAPI_NAME_MAX * 2 + 64];
	struct kapi_req *q;

	if (!k)
		return;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", k->ns, k->c.pod_name);
	if (start(k, KAPI_POD, "GET", path, NULL, NULL, accept, &q) < 0 && k->ops->pod)
		k->ops->pod(k->data, NULL);
}

void kapi_get_pod(struct kapi *k)
{
	get_pod(k, KAPI_ACCEPT_METADATA);
}

void kapi_get_pod_spec(struct kapi *k)
{
	get_pod(k, "application/json");
}

static void event_kick(struct kapi *k)
{
	char path[KAPI_NAME_MAX + 64], body[2048];
	struct kapi_req *q;

	while (!k->ev_busy && k->ev_n > 0) {
		struct kapi_queued *e = &k->events[k->ev_head];

		k->ev_head = (k->ev_head + 1) % KAPI_EVENTS_MAX;
		k->ev_n--;
		if (kapi_event_body(body, sizeof(body), k->ns, k->c.pod_name, k->uid, e->reason,
				    e->warning ? "Warning" : "Normal", e->message, e->time) < 0) {
			k->ev_dropped++;
			continue;
		}
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", k->ns);
		if (start(k, KAPI_EVENT, "POST", path, body, "application/json", "application/json",
			  &q) < 0) {
			k->ev_dropped++;
			continue;
		}
		k->ev_busy = true;
	}
}

void kapi_event(struct kapi *k, const char *reason, bool warning, const char *fmt, ...)
{
	struct kapi_queued *e;
	va_list ap;

	if (!k || !k->c.events)
		return;
	if (k->ev_n == KAPI_EVENTS_MAX) {
		k->ev_dropped++;
		return;
	}
	e = &k->events[(k->ev_head + k->ev_n) % KAPI_EVENTS_MAX];
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->warning = warning;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	kapi_now(e->time, sizeof(e->time), false);
	k->ev_n++;
	event_kick(k);
}

/* ---- EndpointSlices: the removal signal ---- */

/* The continue token in a query: percent-encoded but for the unreserved. */
static void query_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in && n + 4 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

static void slices_done(struct kapi *k)
{
	k->sl_state = SLICES_DONE;
	loop_timer_cancel(k->loop, k->sl_timer);
	k->sl_timer = 0;
}

/* One page of the namespace's slices. */
static void slices_list(struct kapi *k)
{
	char path[KAPI_NAME_MAX + KAPI_CONTINUE_MAX * 3 + 128], cont[KAPI_CONTINUE_MAX * 3 + 1];
	struct kapi_req *q;

	cont[0] = '\0';
	query_escape(k->sl_cont, cont, sizeof(cont));
	snprintf(path, sizeof(path),
		 "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices?limit=%d%s%s", k->ns,
		 KAPI_SLICES_PAGE, cont[0] ? "&continue=" : "", cont);
	k->sl_pages++;
	if (start(k, KAPI_SLICES, "GET", path, NULL, NULL, "application/json", &q) < 0) {
		slices_done(k);
		return;
	}
	q->slice = -1;
	k->sl_waiting = 1;
}

/* Reads again each slice that still has the pod ready. */
static void slices_round(struct kapi *k);

static void slices_read(struct kapi *k)
{
	char path[KAPI_NAME_MAX * 2 + 128];
	struct kapi_req *q;

	k->sl_waiting = 0;
	for (size_t i = 0; i < k->sl_n; i++) {
		if (k->sl_gone[i])
			continue;
		snprintf(path, sizeof(path),
			 "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s", k->ns,
			 k->sl[i].name);
		if (start(k, KAPI_SLICES, "GET", path, NULL, NULL, "application/json", &q) < 0)
			continue;
		q->slice = (int)i;
		k->sl_waiting++;
	}
	/* None could start (no request free, the token unreadable): the
	 * next round will try again. */
	if (k->sl_waiting == 0)
		slices_round(k);
}

static void on_slices_timer(struct loop *l, void *data)
{
	struct kapi *k = data;

	(void)l;
	k->sl_timer = 0;
	if (k->sl_state == SLICES_READING)
		slices_read(k);
}

/* The round's answers are in: removed everywhere, or read again later. */
static void slices_round(struct kapi *k)
{
	size_t gone = 0;

	for (size_t i = 0; i < k->sl_n; i++)
		gone += k->sl_gone[i];
	if (gone == k->sl_n) {
		slices_done(k);
		if (k->ops->removed)
			k->ops->removed(k->data, k->sl_n);
		return;
	}
	loop_timer_cancel(k->loop, k->sl_timer);
	k->sl_timer = 0;
	if (loop_timer_add(k->loop, loop_now_ms() + KAPI_SLICES_POLL_MS, on_slices_timer, k,
			   &k->sl_timer) < 0)
		slices_done(k);
}

static void slices_answer(struct kapi *k, int slice, const struct fetch_result *r, bool ok)
{
	struct kapi_slices got;
	char err[256];

	if (k->sl_waiting > 0)
		k->sl_waiting--;
	if (k->sl_state == SLICES_DONE || k->sl_state == SLICES_OFF)
		return;
	/* A slice deleted since the list lists nobody. */
	if (slice >= 0 && r->status == 404) {
		k->sl_gone[slice] = true;
		ok = false;
	} else if (ok &&
		   kapi_parse_slices(r->body, r->len, k->c.pod_name, &got, err, sizeof(err)) < 0) {
		log_warn("kube_api_bad_answer", "call=slices error=\"%s\"", err);
		ok = false;
	}
	if (k->sl_state == SLICES_LISTING) {
		if (!ok && r->status != 401 && r->status != 403 &&
		    k->sl_list_tries < KAPI_SLICES_TRIES) {
			/* A blip (a timeout, a 5xx): the same page again. */
			k->sl_list_tries++;
			k->sl_pages--;
			slices_list(k);
			return;
		}
		if (!ok) {
			/* Refused, or failing for good: the drain goes by
			 * traffic alone. */
			slices_done(k);
			if (r->status == 401 || r->status == 403)
				log_warn("endpoints_unknown", "status=%ld hint=%s", r->status,
					 "give the service account list on endpointslices "
					 "(discovery.k8s.io) to end propagation on the removal");
			else
				log_warn("endpoints_unknown", "status=%ld error=%s", r->status,
					 r->status ? "the list failed" : r->error);
			return;
		}
		k->sl_list_tries = 0;
		for (size_t i = 0; i < got.n; i++) {
			if (k->sl_n == KAPI_SLICES_MAX) {
				k->sl_more++;
				continue;
			}
			k->sl[k->sl_n] = got.v[i];
			k->sl_gone[k->sl_n] = !got.v[i].ready;
			k->sl_n++;
		}
		k->sl_more += got.more;
		snprintf(k->sl_cont, sizeof(k->sl_cont), "%s", got.cont);
		if (got.cont[0] && k->sl_pages < KAPI_SLICES_PAGES) {
			slices_list(k);
			return;
		}
		/* "Removed from every slice" is only said of every one. */
		if (k->sl_more > 0 || got.cont[0]) {
			slices_done(k);
			log_warn("endpoints_unknown", "slices=%zu more=%zu listed_all=%s hint=%s",
				 k->sl_n, k->sl_more, got.cont[0] ? "false" : "true",
				 "more EndpointSlices than lastcall follows: no removal signal, the "
				 "drain goes by traffic alone");
			return;
		}
		if (k->sl_n == 0) {
			slices_done(k);
			log_info("endpoints_unknown", "slices=0 hint=%s",
				 "no EndpointSlice lists this pod: no Service selects it");
			return;
		}
		log_info("endpoint_slices", "slices=%zu", k->sl_n);
		k->sl_state = SLICES_READING;
		slices_round(k);
		return;
	}
	if (ok && slice >= 0 && got.n == 1)
		k->sl_gone[slice] = !got.v[0].listed || !got.v[0].ready;
	if (k->sl_waiting == 0)
		slices_round(k);
}

void kapi_watch_slices(struct kapi *k)
{
	if (!k || k->sl_state != SLICES_OFF)
		return;
	k->sl_state = SLICES_LISTING;
	slices_list(k);
}

void kapi_unwatch_slices(struct kapi *k)
{
	if (k && k->sl_state != SLICES_OFF)
		slices_done(k);
}
