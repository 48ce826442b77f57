/* test_kapi.c - kapi.c's JSON: the readiness-gate patch and the Event are
 * read back with cJSON field by field; Pod objects, good and malformed;
 * each of them with every allocation failing in turn (failalloc.h). */
#include "../../helper/kapi.c"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static const char *str_at(const cJSON *j, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);

	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static void test_gate_types(void **state)
{
	(void)state;
	assert_true(kapi_gate_type_ok("example.com/drained"));
	assert_true(kapi_gate_type_ok("lastcall.io/ready"));
	assert_true(kapi_gate_type_ok("Custom_1.x-y"));
	/* The kubelet's own, and junk. */
	assert_false(kapi_gate_type_ok("Ready"));
	assert_false(kapi_gate_type_ok("ContainersReady"));
	assert_false(kapi_gate_type_ok("PodScheduled"));
	assert_false(kapi_gate_type_ok("Initialized"));
	assert_false(kapi_gate_type_ok(""));
	assert_false(kapi_gate_type_ok(NULL));
	assert_false(kapi_gate_type_ok("a b"));
	assert_false(kapi_gate_type_ok("x\"y"));
	/* Qualified names as the API server checks them. */
	assert_true(kapi_gate_type_ok("a.b-c.example/x_y.Z-9"));
	assert_false(kapi_gate_type_ok("/x"));
	assert_false(kapi_gate_type_ok("x/"));
	assert_false(kapi_gate_type_ok("a//b"));
	assert_false(kapi_gate_type_ok("a/b/c"));
	assert_false(kapi_gate_type_ok("Example.com/x")); /* prefix lower case */
	assert_false(kapi_gate_type_ok("-a.com/x"));
	assert_false(kapi_gate_type_ok("a..com/x"));
	assert_false(kapi_gate_type_ok("a.com/-x"));
	assert_false(kapi_gate_type_ok("a.com/x."));
	char name[80];
	memset(name, 'n', 63);
	name[63] = '\0';
	assert_true(kapi_gate_type_ok(name));
	strcat(name, "n");
	assert_false(kapi_gate_type_ok(name)); /* 64: too long */
}

static void test_gate_patch(void **state)
{
	char buf[1024];
	int n;
	cJSON *j, *conds, *c;

	(void)state;
	n = kapi_gate_patch(buf, sizeof(buf), "u-1", "example.com/ready", false, "Draining",
			    "say \"bye\"", "2026-11-21T07:00:00Z");
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_string_equal(str_at(j, "metadata", "uid"), "u-1");
	conds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "status"),
						 "conditions");
	assert_true(cJSON_IsArray(conds));
	assert_int_equal(cJSON_GetArraySize(conds), 1);
	c = cJSON_GetArrayItem(conds, 0);
	assert_string_equal(str_at(c, "type", NULL), "example.com/ready");
	assert_string_equal(str_at(c, "status", NULL), "False");
	assert_string_equal(str_at(c, "reason", NULL), "Draining");
	assert_string_equal(str_at(c, "message", NULL), "say \"bye\"");
	assert_string_equal(str_at(c, "lastTransitionTime", NULL), "2026-11-21T07:00:00Z");
	cJSON_Delete(j);

	/* No uid: no metadata at all. True. */
	n = kapi_gate_patch(buf, sizeof(buf), NULL, "t", true, "Ready", "m", "x");
	assert_true(n > 0);
	j = cJSON_Parse(buf);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "metadata"));
	c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
				       cJSON_GetObjectItemCaseSensitive(j, "status"), "conditions"),
			       0);
	assert_string_equal(str_at(c, "status", NULL), "True");
	cJSON_Delete(j);

	/* Too small a buffer. */
	assert_int_equal(kapi_gate_patch(buf, 20, "u", "t", true, "r", "m", "x"), -ENOSPC);
}

static void test_event_body(void **state)
{
	char buf[2048];
	cJSON *j;

	(void)state;
	assert_true(kapi_event_body(buf, sizeof(buf), "ns1", "pod-a", "uid-9", "DrainStarted",
				    "Normal", "T0", "2026-11-21T07:00:00Z") > 0);
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_string_equal(str_at(j, "kind", NULL), "Event");
	assert_string_equal(str_at(j, "metadata", "namespace"), "ns1");
	assert_memory_equal(str_at(j, "metadata", "name"), "pod-a.", 6);
	assert_string_equal(str_at(j, "involvedObject", "kind"), "Pod");
	assert_string_equal(str_at(j, "involvedObject", "name"), "pod-a");
	assert_string_equal(str_at(j, "involvedObject", "uid"), "uid-9");
	assert_string_equal(str_at(j, "reason", NULL), "DrainStarted");
	assert_string_equal(str_at(j, "type", NULL), "Normal");
	assert_string_equal(str_at(j, "source", "component"), "lastcall");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "count")->valueint, 1);
	cJSON_Delete(j);
	assert_int_equal(kapi_event_body(buf, 64, "ns1", "pod-a", "u", "R", "Normal", "m", "x"),
			 -ENOSPC);
}

/* --grace-period against the pod's spec (issue 16). */
static void test_grace_settle(void **state)
{
	char fix[256];

	(void)state;
	/* Unknown: the flag. */
	assert_int_equal(kapi_grace_settle(20000, false, -1, fix, sizeof(fix)), 20000);
	assert_string_equal(fix, "");
	/* The same: nothing to say. */
	assert_int_equal(kapi_grace_settle(30000, false, 30, fix, sizeof(fix)), 30000);
	assert_string_equal(fix, "");
	/* Assumed ("auto"): the pod's, longer or shorter. */
	assert_int_equal(kapi_grace_settle(30000, true, 60, fix, sizeof(fix)), 60000);
	assert_string_equal(fix, "");
	assert_int_equal(kapi_grace_settle(30000, true, 5, fix, sizeof(fix)), 5000);
	/* Given and longer: the pod's, and the flag is to fix. */
	assert_int_equal(kapi_grace_settle(20000, false, 3, fix, sizeof(fix)), 3000);
	assert_non_null(strstr(fix, "--grace-period"));
	assert_non_null(strstr(fix, "longer"));
	assert_non_null(strstr(fix, "set it to 3s"));
	/* Given and shorter: kept (the smaller), still said. */
	assert_int_equal(kapi_grace_settle(2000, false, 3, fix, sizeof(fix)), 2000);
	assert_non_null(strstr(fix, "shorter"));
	/* 0 in a spec: at least 1 s. */
	assert_int_equal(kapi_grace_settle(30000, true, 0, fix, sizeof(fix)), 1000);
	/* A small buffer stays terminated. */
	assert_int_equal(kapi_grace_settle(20000, false, 3, fix, 8), 3000);
	assert_int_equal(strlen(fix), 7);
}

static int pod(const char *json, struct kapi_pod *p, char *err)
{
	memset(p, 0x5a, sizeof(*p));
	return kapi_parse_pod(json, strlen(json), p, err, 256);
}

static void test_parse_slices(void **state)
{
	struct kapi_slices sl;
	char err[256], big[KAPI_CONTINUE_MAX + 200];
	const char *one =
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-x7k2p\"},"
		"\"endpoints\":[{\"addresses\":[\"10.1.0.9\"],\"conditions\":{\"ready\":true},"
		"\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\"}},"
		"{\"addresses\":[\"10.1.0.10\"],\"conditions\":{\"ready\":false,\"terminating\":true},"
		"\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}}]}";
	const char *list =
		"{\"kind\":\"EndpointSliceList\",\"metadata\":{\"continue\":\"eyJ2Ijo/+=\"},\"items\":["
		"{\"metadata\":{\"name\":\"a\"},\"endpoints\":[{\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}}]},"
		"{\"metadata\":{\"name\":\"b\"},\"endpoints\":null},"
		"{\"metadata\":{\"name\":\"c\"},\"endpoints\":[{\"targetRef\":{\"kind\":\"Node\",\"name\":\"web-0\"}}]},"
		"{\"metadata\":{\"name\":\"d\"},\"endpoints\":[{\"conditions\":{\"ready\":false},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}},"
		"{\"conditions\":{\"ready\":true},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}}]}]}";

	(void)state;
	/* One slice: this pod listed, not ready. */
	assert_int_equal(kapi_parse_slices(one, strlen(one), "web-0", &sl, err, sizeof(err)), 0);
	assert_int_equal(sl.n, 1);
	assert_string_equal(sl.v[0].name, "web-x7k2p");
	assert_true(sl.v[0].listed);
	assert_false(sl.v[0].ready);
	/* ...and another pod's view of it: ready. One that is not in it. */
	assert_int_equal(kapi_parse_slices(one, strlen(one), "web-1", &sl, err, sizeof(err)), 0);
	assert_true(sl.v[0].listed && sl.v[0].ready);
	assert_int_equal(kapi_parse_slices(one, strlen(one), "web-2", &sl, err, sizeof(err)), 0);
	assert_int_equal(sl.n, 1);
	assert_false(sl.v[0].listed);
	/* A list: only the slices listing the pod; unset ready is ready; listed
	 * twice (two families), ready if either is; the continue token. */
	assert_int_equal(kapi_parse_slices(list, strlen(list), "web-0", &sl, err, sizeof(err)), 0);
	assert_int_equal(sl.n, 2);
	assert_string_equal(sl.v[0].name, "a");
	assert_true(sl.v[0].ready);
	assert_string_equal(sl.v[1].name, "d");
	assert_true(sl.v[1].ready);
	assert_string_equal(sl.cont, "eyJ2Ijo/+=");
	/* Wrong kinds and types: one line each. */
	assert_int_equal(kapi_parse_slices("[]", 2, "web-0", &sl, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not an EndpointSlice or a list of them");
	assert_int_equal(kapi_parse_slices("{\"kind\":\"Pod\"}", 14, "web-0", &sl, err,
					   sizeof(err)),
			 -EINVAL);
	assert_int_equal(kapi_parse_slices("nope", 4, "web-0", &sl, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not JSON");
	const char *badready =
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"x\"},\"endpoints\":"
		"[{\"conditions\":{\"ready\":\"no\"},\"targetRef\":{\"kind\":\"Pod\","
		"\"name\":\"web-0\"}}]}";
	assert_int_equal(kapi_parse_slices(badready, strlen(badready), "web-0", &sl, err,
					   sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "conditions.ready in x is not a boolean");
	const char *noname = "{\"kind\":\"EndpointSliceList\",\"items\":[{\"metadata\":{}}]}";
	assert_int_equal(kapi_parse_slices(noname, strlen(noname), "web-0", &sl, err, sizeof(err)),
			 -EINVAL);
	/* A continue token past its limit is refused, not cut. */
	int n = snprintf(big, sizeof(big),
			 "{\"kind\":\"EndpointSliceList\",\"metadata\":{\"continue\":\"");
	memset(big + n, 'a', KAPI_CONTINUE_MAX);
	snprintf(big + n + KAPI_CONTINUE_MAX, sizeof(big) - (size_t)n - KAPI_CONTINUE_MAX, "\"}}");
	assert_int_equal(kapi_parse_slices(big, strlen(big), "web-0", &sl, err, sizeof(err)),
			 -EINVAL);
	/* More slices than followed: counted. */
	char many[2048];
	size_t len =
		(size_t)snprintf(many, sizeof(many), "{\"kind\":\"EndpointSliceList\",\"items\":[");
	for (int i = 0; i < KAPI_SLICES_MAX + 2; i++)
		len += (size_t)
			snprintf(many + len, sizeof(many) - len,
				 "%s{\"metadata\":{\"name\":\"s%d\"},\"endpoints\":[{\"targetRef\":"
				 "{\"kind\":\"Pod\",\"name\":\"web-0\"}}]}",
				 i ? "," : "", i);
	len += (size_t)snprintf(many + len, sizeof(many) - len, "]}");
	assert_int_equal(kapi_parse_slices(many, len, "web-0", &sl, err, sizeof(err)), 0);
	assert_int_equal(sl.n, KAPI_SLICES_MAX);
	assert_int_equal(sl.more, 2);
}

static void test_parse_pod(void **state)
{
	struct kapi_pod p;
	char err[256];

	(void)state;
	assert_int_equal(pod("{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"abc\",\"name\":\"x\"}}", &p,
			     err),
			 0);
	assert_string_equal(p.uid, "abc");
	assert_false(p.deleting);
	assert_int_equal(p.deletion_grace_s, -1);
	assert_int_equal(p.spec_grace_s, -1);

	/* The whole Pod, as read at start: the spec's grace period. */
	assert_int_equal(pod("{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"abc\"},"
			     "\"spec\":{\"terminationGracePeriodSeconds\":45}}",
			     &p, err),
			 0);
	assert_int_equal(p.spec_grace_s, 45);
	assert_int_equal(pod("{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"abc\"},\"spec\":[]}", &p,
			     err),
			 0);
	assert_int_equal(p.spec_grace_s, -1);

	assert_int_equal(pod("{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"abc\","
			     "\"deletionTimestamp\":\"2026-11-21T07:00:00Z\","
			     "\"deletionGracePeriodSeconds\":5}}",
			     &p, err),
			 0);
	assert_true(p.deleting);
	assert_int_equal(p.deletion_grace_s, 5);

	/* What an API server sends for the metadata-only Accept. */
	assert_int_equal(
		pod("{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
		    "\"metadata\":{\"uid\":\"u1\",\"deletionTimestamp\":\"2026-11-21T07:00:00Z\","
		    "\"deletionGracePeriodSeconds\":3}}",
		    &p, err),
		0);
	assert_string_equal(p.uid, "u1");
	assert_int_equal(p.deletion_grace_s, 3);

	/* null is the same as absent */
	assert_int_equal(pod("{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\","
			     "\"deletionGracePeriodSeconds\":null}}",
			     &p, err),
			 0);
	assert_int_equal(p.deletion_grace_s, -1);

	const struct {
		const char *json, *why;
	} bad[] = {
		{ "", "not JSON" },
		{ "{\"kind\":\"Pod\",", "not JSON" },
		{ "[1,2]", "not a Pod" },
		{ "{\"kind\":\"Status\",\"code\":404}", "not a Pod" },
		{ "{\"kind\":7,\"metadata\":{}}", "not a Pod" },
		{ "{\"kind\":\"Pod\"}", "without metadata" },
		{ "{\"kind\":\"Pod\",\"metadata\":[]}", "without metadata" },
		{ "{\"kind\":\"Pod\",\"metadata\":{}}", "metadata.uid" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":5}}", "metadata.uid" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\",\"deletionTimestamp\":3}}",
		  "deletionTimestamp" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\",\"deletionGracePeriodSeconds\":\"5\"}}",
		  "deletionGracePeriodSeconds" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\",\"deletionGracePeriodSeconds\":-1}}",
		  "deletionGracePeriodSeconds" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\",\"deletionGracePeriodSeconds\":2.5}}",
		  "deletionGracePeriodSeconds" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\",\"deletionGracePeriodSeconds\":1e300}}",
		  "deletionGracePeriodSeconds" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\"},\"spec\":{\"terminationGracePeriodSeconds\":\"30\"}}",
		  "terminationGracePeriodSeconds" },
		{ "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"a\"},\"spec\":{\"terminationGracePeriodSeconds\":-3}}",
		  "terminationGracePeriodSeconds" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (pod(bad[i].json, &p, err) != -EINVAL)
			fail_msg("accepted %s", bad[i].json);
		if (!strstr(err, bad[i].why))
			fail_msg("%s: error \"%s\" does not say \"%s\"", bad[i].json, err,
				 bad[i].why);
	}
	/* A uid longer than any real one. */
	char big[200];
	snprintf(big, sizeof(big), "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"%0100d\"}}", 0);
	assert_int_equal(pod(big, &p, err), -EINVAL);
}

static void test_error_message(void **state)
{
	(void)state;
	char buf[64];
	const char *st =
		"{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":"
		"\"pods \\\"web-0\\\" is forbidden:\\nno RBAC\",\"code\":403}";

	kapi_error_message(st, strlen(st), buf, sizeof(buf));
	assert_string_equal(buf, "pods \"web-0\" is forbidden: no RBAC");
	/* Not a Status: the start of the body, on one line, cut to fit. */
	kapi_error_message("<html>\nbad gateway\n</html>", 27, buf, 16);
	assert_string_equal(buf, "<html> bad gate");
	/* A message that is not a string: the body. */
	kapi_error_message("{\"message\":5}", 13, buf, sizeof(buf));
	assert_string_equal(buf, "{\"message\":5}");
	/* The body's length bounds what is read. */
	kapi_error_message("abcdef", 3, buf, sizeof(buf));
	assert_string_equal(buf, "abc");
	kapi_error_message("", 0, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_now(void **state)
{
	char a[40], b[40];

	(void)state;
	kapi_now(a, sizeof(a), false);
	kapi_now(b, sizeof(b), true);
	assert_int_equal(strlen(a), 20);
	assert_int_equal(strlen(b), 27);
	assert_int_equal(a[10], 'T');
	assert_int_equal(a[19], 'Z');
	assert_int_equal(b[19], '.');
	assert_int_equal(b[26], 'Z');
}

/* ---- every allocation failing in turn ---- */

static void patch_round(long n, void *data)
{
	char buf[1024];
	int r = kapi_gate_patch(buf, sizeof(buf), "u-1", "example.com/ready", false, "Draining",
				"lastcall: drain", "2024-01-01T00:00:00Z");

	(void)n;
	if (failalloc.failed)
		assert_int_equal(r, -ENOMEM);
	else
		assert_string_equal(buf, data);
}

static void event_round(long n, void *data)
{
	char buf[2048];
	int r = kapi_event_body(buf, sizeof(buf), "ns1", "pod-a", "uid-9", "DrainStarted", "Normal",
				"m", "2024-01-01T00:00:00.000000Z");

	(void)n;
	if (failalloc.failed) {
		assert_int_equal(r, -ENOMEM);
		return;
	}
	assert_int_equal(r, *(int *)data);
	assert_non_null(strstr(buf, "\"reason\":\"DrainStarted\""));
}

static const char pod_json[] =
	"{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"abc\","
	"\"deletionTimestamp\":\"2024-01-01T00:00:00Z\","
	"\"deletionGracePeriodSeconds\":45}}";

/* A Pod that could not be read is an error with its reason, never a Pod
 * with default values (no grace period taken for none). */
static void pod_round(long n, void *data)
{
	struct kapi_pod p;
	char err[256] = "";
	int r = pod(pod_json, &p, err);

	(void)n;
	(void)data;
	if (failalloc.failed) {
		assert_int_equal(r, -EINVAL);
		assert_true(strlen(err) > 0);
		assert_int_equal(p.deletion_grace_s, 0x5a5a5a5a5a5a5a5a);
		return;
	}
	assert_int_equal(r, 0);
	assert_string_equal(p.uid, "abc");
	assert_true(p.deleting);
	assert_int_equal(p.deletion_grace_s, 45);
}

/* The API's message, or else the body itself: something to log. */
static void message_round(long n, void *data)
{
	const char *st = "{\"kind\":\"Status\",\"message\":\"forbidden\"}";
	char buf[64];

	(void)n;
	(void)data;
	kapi_error_message(st, strlen(st), buf, sizeof(buf));
	assert_string_equal(buf, failalloc.failed ? st : "forbidden");
}

static void test_alloc_fails(void **state)
{
	char want[1024];
	int len;

	(void)state;
	if (failalloc_off())
		return;
	failalloc_cjson();
	assert_true(kapi_gate_patch(want, sizeof(want), "u-1", "example.com/ready", false,
				    "Draining", "lastcall: drain", "2024-01-01T00:00:00Z") > 0);
	assert_true(failalloc_each(patch_round, want) >= 10);
	len = kapi_event_body(want, sizeof(want), "ns1", "pod-a", "uid-9", "DrainStarted", "Normal",
			      "m", "2024-01-01T00:00:00.000000Z");
	assert_true(len > 0);
	assert_true(failalloc_each(event_round, &len) >= 20);
	assert_true(failalloc_each(pod_round, NULL) >= 5);
	assert_true(failalloc_each(message_round, NULL) >= 3);
	cJSON_InitHooks(NULL);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate_types),
		cmocka_unit_test(test_gate_patch),
		cmocka_unit_test(test_event_body),
		cmocka_unit_test(test_parse_pod),
		cmocka_unit_test(test_grace_settle),
		cmocka_unit_test(test_parse_slices),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_alloc_fails),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
