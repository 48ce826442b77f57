/* test_doctor.c - doctor.c: what must not be a finding (the fixtures in
 * tests/doctor/rules hold what must), the pieces the rules stand on, and
 * the writers' output parsed back.
 */
#include "../../helper/doctor.c"

/* libc's free, for open_memstream's buffers (cmocka's replaces free). */
static void libc_free(void *p)
{
	free(p);
}

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static struct doctor_finding found[64];
static size_t n_found;

/* The rule ids found in text, joined by ","; the set in *ret_set. */
static const char *check(const char *text, struct kobj_set **ret_set)
{
	static char ids[1024];
	struct kobj_set *s;
	char err[256];
	size_t dropped, off = 0;
	int line;

	assert_int_equal(kobj_set_new(&s), 0);
	if (kobj_parse(s, 0, text, strlen(text), &line, err, sizeof(err)) != 0)
		fail_msg("%s at %d", err, line);
	doctor_check(s, found, 64, &n_found, &dropped);
	assert_int_equal(dropped, 0);
	ids[0] = '\0';
	for (size_t i = 0; i < n_found; i++)
		off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%s%s", i ? "," : "",
					found[i].rule->id);
	if (ret_set)
		*ret_set = s;
	else
		kobj_set_free(s);
	return ids;
}

#define POD(containers) \
	"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n" containers

static void test_not_findings(void **state)
{
	(void)state;
	/* npm behind an init. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [/lastcall, run, --, npm, start]}\n"),
		      NULL),
		"");
	assert_string_equal(check(POD("  - {name: a, image: x, command: [tini, --, npm, start]}\n"),
				  NULL),
			    "");
	/* A shell that execs, or runs one command (dash and bash exec it). */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [sh, -c, 'cd /app && exec node s.js']}\n"),
		      NULL),
		"");
	assert_string_equal(check(POD("  - {name: a, image: x, command: [sh, -c, 'node s.js']}\n"),
				  NULL),
			    "");
	/* "auto" with the API on: lastcall reads the pod's grace itself. */
	assert_string_equal(
		check("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
		      "  terminationGracePeriodSeconds: 45\n  serviceAccountName: sa\n"
		      "  containers:\n  - name: a\n    image: x\n"
		      "    command: [/lastcall, run, --, node, s.js]\n"
		      "    env: [{name: LASTCALL_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n"
		      "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
		      "metadata: {name: r}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n"
		      "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
		      "metadata: {name: b}\nroleRef: {kind: Role, name: r}\n"
		      "subjects: [{kind: ServiceAccount, name: sa}]\n",
		      NULL),
		"");
	/* The second lastcall moved off 9797, or off altogether. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [/lastcall, run, --, a]}\n"
			  "  - {name: b, image: x, command: [/lastcall, run, --listen, ':9798', --, b]}\n"
			  "  - {name: c, image: x, command: [/lastcall, run, --listen, none, --, c]}\n"),
		      NULL),
		"");
	/* nginx stopped with QUIT, one way or another. */
	assert_string_equal(
		check(POD("  - {name: a, image: nginx:1.27, command: [/lastcall, run, --stop-signal, QUIT, --, nginx]}\n"),
		      NULL),
		"");
	assert_string_equal(
		check(POD("  - {name: a, image: nginx, command: [/lastcall, run, --rewrite, 'TERM:QUIT', --, nginx]}\n"),
		      NULL),
		"");
	assert_string_equal(
		check(POD("  - {name: a, image: nginx, command: [/lastcall, run, --, nginx],"
			  " env: [{name: LASTCALL_STOP_SIGNAL, value: QUIT}]}\n"),
		      NULL),
		"");
	/* A sleep that fits; the sleep action in a distroless image. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, lifecycle: {preStop: {exec: {command: [sh, -c, 'sleep 5']}}}}\n"),
		      NULL),
		"");
	assert_string_equal(
		check(POD("  - {name: a, image: gcr.io/distroless/base, lifecycle: {preStop: {sleep: {seconds: 5}}}}\n"),
		      NULL),
		"");
	/* A Job's native sidecar, and a run that maps 143. */
	assert_string_equal(
		check("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n"
		      "      initContainers: [{name: istio-proxy, image: istio/proxyv2, restartPolicy: Always}]\n"
		      "      containers:\n      - {name: a, image: x, command: [/lastcall, run, --exit-code-map, '143:0', --, ./b]}\n",
		      NULL),
		"");
	/* $(VAR) in a value: unknown here, not wrong. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [/lastcall, run, --allow-from, $(NODE_IP), --, a]}\n"),
		      NULL),
		"");
	/* Objects that are not workloads. */
	assert_string_equal(
		check("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n", NULL),
		"");
}

static void test_variants(void **state)
{
	(void)state;
	/* npm inside sh -c is the package-manager rule, not the shell one. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [sh, -c, 'cd /app && npm start']}\n"),
		      NULL),
		"pid1-package-manager");
	/* sleep as exec, through sh, through lastcall sleep. */
	assert_string_equal(
		check("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
		      "  terminationGracePeriodSeconds: 8\n  containers:\n"
		      "  - {name: a, image: x, lifecycle: {preStop: {exec: {command: [/bin/sleep, '8']}}}}\n"
		      "  - {name: b, image: x, lifecycle: {preStop: {exec: {command: [sh, -c, sleep 20]}}}}\n"
		      "  - {name: c, image: x, lifecycle: {preStop: {exec: {command: [/lastcall, sleep, 5s]}}}}\n",
		      NULL),
		"prestop-sleep-exceeds-grace,prestop-sleep-exceeds-grace,prestop-sleep-exceeds-grace");
	/* The first two use it all (error); the last leaves 3 s (warning). */
	assert_int_equal(found[0].severity, DOCTOR_ERROR);
	assert_int_equal(found[2].severity, DOCTOR_WARNING);
	/* A grace period shorter than the pod's: a warning, not an error. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, command: [/lastcall, run, --grace-period, 25s, --, a]}\n"),
		      NULL),
		"grace-mismatch");
	assert_int_equal(found[0].severity, DOCTOR_WARNING);
	/* A prestop hook's flags come from the container's env too. */
	assert_string_equal(
		check(POD("  - name: a\n    image: x\n    env: [{name: LASTCALL_GRACE_PERIOD, value: 40s}]\n"
			  "    lifecycle: {preStop: {exec: {command: [/x/lastcall, prestop]}}}\n"),
		      NULL),
		"grace-mismatch");
	assert_string_equal(found[0].path, "spec.containers[0].lifecycle.preStop.exec.command");
	/* exec lastcall probe ready as liveness. */
	assert_string_equal(
		check(POD("  - {name: a, image: x, livenessProbe: {exec: {command: [/lastcall, probe, ready]}}}\n"),
		      NULL),
		"liveness-on-readiness");
	/* A sidecar given as a lastcall container of a Job. */
	assert_string_equal(
		check("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n"
		      "      shareProcessNamespace: true\n      containers:\n"
		      "      - {name: a, image: x, command: [./b]}\n"
		      "      - {name: lc, image: lastcall:1, args: [sidecar, --target-process, b]}\n",
		      NULL),
		"job-sidecar-not-native");
}

static void test_pieces(void **state)
{
	char repo[64];
	bool exec;
	struct ctr k = { 0 };
	const char *argv[] = { "bash", "-ec", "npm run start", NULL };

	(void)state;
	image_repo("registry.example.com:5000/team/nginx:1.27@sha256:00", repo, sizeof(repo));
	assert_string_equal(repo, "nginx");
	image_repo(NULL, repo, sizeof(repo));
	assert_string_equal(repo, "");
	assert_string_equal(shell_script(argv, 3), "npm run start");
	assert_true(script_runs_pm("cd /x;yarn start"));
	assert_false(script_runs_pm("npmx start && node"));
	k.c = cJSON_Parse(
		"{\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"  sleep 12\"]}}}}");
	assert_int_equal(prestop_sleep_s(&k, &exec), 12);
	assert_true(exec);
	cJSON_Delete((cJSON *)k.c);
	assert_int_equal(doctor_severity_parse("warning", &(enum doctor_severity){ 0 }), 0);
	assert_int_equal(doctor_severity_parse("fatal", &(enum doctor_severity){ 0 }), -EINVAL);
	/* Every rule has a distinct id. */
	for (size_t i = 0; i < doctor_n_rules; i++)
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(doctor_rules[i].id, doctor_rules[j].id);
}

static void test_writers(void **state)
{
	const char *files[] = { "in.yaml" };
	struct kobj_set *s;
	struct doctor_out o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	cJSON *j;

	(void)state;
	check(POD("  - {name: a, image: x, command: [npm, start]}\n"), &s);
	o = (struct doctor_out){
		.set = s, .files = files, .v = found, .n = n_found, .version = "1"
	};
	f = open_memstream(&buf, &len);
	assert_int_equal(doctor_write_json(f, &o), 0);
	fclose(f);
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "findings"), 0)
				    ->child->valuestring,
			    "pid1-package-manager");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "findings"),
								0),
					     "line")
				 ->valueint,
			 6);
	cJSON_Delete(j);
	libc_free(buf);
	f = open_memstream(&buf, &len);
	assert_int_equal(doctor_write_sarif(f, &o), 0);
	fclose(f);
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "version")->valuestring, "2.1.0");
	cJSON_Delete(j);
	libc_free(buf);
	f = open_memstream(&buf, &len);
	doctor_write_text(f, &o);
	fclose(f);
	assert_non_null(
		strstr(buf,
		       "in.yaml:6: error pid1-package-manager: Pod/p spec.containers[0].command\n"));
	assert_non_null(strstr(buf, "1 object checked: 1 error, 0 warnings, 0 info\n"));
	libc_free(buf);
	kobj_set_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_findings),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
