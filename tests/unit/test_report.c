/* test_report.c - report.c: /status parsed back with cJSON, /metrics
 * checked line by line against the text exposition format, the
 * termination message, the flush deadline, and the termination log file.
 */
#include "../../helper/report.c"

#include <ctype.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static const uint16_t PORTS[] = { 8080, 8443 };

/* A drain at the stop: unready 0, propagate 0, drain 2050, stop 2100. */
static void draining(struct report *r)
{
	memset(r, 0, sizeof(*r));
	r->phase = DRAIN_STOP;
	r->ready = false;
	r->since_t0 = 2500;
	r->deadline_ms = 29000;
	for (int p = 0; p < DRAIN_PHASES; p++)
		r->phase_ms[p] = -1;
	r->phase_ms[DRAIN_UNREADY] = 0;
	r->phase_ms[DRAIN_PROPAGATE] = 0;
	r->phase_ms[DRAIN_DRAIN] = 2050;
	r->phase_ms[DRAIN_STOP] = 2100;
	r->grace_ms = 30000;
	r->inflight = 1;
	r->connections = 3;
	r->ports = PORTS;
	r->n_ports = 2;
	r->connections_dropped = 7;
	r->pinned_ms = 2100;
	r->late_requests = 42;
	r->closed_idle = 5;
}

/* Before any drain: nothing known yet. */
static void serving(struct report *r)
{
	memset(r, 0, sizeof(*r));
	r->phase = DRAIN_SERVING;
	r->ready = true;
	r->since_t0 = -1;
	r->deadline_ms = -1;
	for (int p = 0; p < DRAIN_PHASES; p++)
		r->phase_ms[p] = -1;
	r->grace_ms = 30000;
	r->inflight = -1;
	r->connections = -1;
	r->pinned_ms = -1;
}

/* A number as an integer: assert_int_equal converts to an unsigned type, and
 * a negative double converted to one is undefined (0 on aarch64). */
static long long num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	assert_true(cJSON_IsNumber(v));
	return (long long)v->valuedouble;
}

static void test_status(void **state)
{
	struct report r;
	char buf[HTTPD_BODY_OUT_MAX];
	size_t n;
	cJSON *j, *ports, *ph;

	(void)state;
	draining(&r);
	n = report_status(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_true(n > 0 && buf[n - 1] == '\n');
	j = cJSON_ParseWithLength(buf, n);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "phase")->valuestring, "stop");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "ready")));
	assert_int_equal(num(j, "ms_since_t0"), 2500);
	assert_int_equal(num(j, "deadline_ms"), 29000);
	assert_int_equal(num(j, "inflight"), 1);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "inflight_source")->valuestring,
			    "kernel");
	assert_int_equal(num(j, "connections"), 3);
	assert_int_equal(num(j, "grace_ms"), 30000);
	assert_int_equal(num(j, "pinned_ms"), 2100);
	assert_int_equal(num(j, "connections_unsampled"), 7);
	assert_int_equal(num(j, "late_requests"), 42);
	assert_int_equal(num(j, "closed_idle"), 5);
	ports = cJSON_GetObjectItemCaseSensitive(j, "ports");
	assert_int_equal(cJSON_GetArraySize(ports), 2);
	assert_int_equal(cJSON_GetArrayItem(ports, 1)->valueint, 8443);
	ph = cJSON_GetObjectItemCaseSensitive(j, "phases");
	assert_int_equal(cJSON_GetArraySize(ph), 4);
	assert_int_equal(num(ph, "drain"), 2050);
	assert_null(cJSON_GetObjectItemCaseSensitive(ph, "kill"));
	cJSON_Delete(j);

	serving(&r);
	r.inflight_app = true;
	n = report_status(&r, buf, sizeof(buf));
	j = cJSON_ParseWithLength(buf, n);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "phase")->valuestring, "serving");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ready")));
	assert_int_equal(num(j, "ms_since_t0"), -1);
	assert_int_equal(num(j, "deadline_ms"), -1);
	assert_int_equal(num(j, "pinned_ms"), -1);
	assert_int_equal(num(j, "late_requests"), 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "inflight_source")->valuestring,
			    "app");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "ports")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "phases")), 0);
	cJSON_Delete(j);

	/* Cut short, never past the buffer, always terminated. */
	draining(&r);
	n = report_status(&r, buf, 20);
	assert_int_equal(n, 19);
	assert_int_equal(strlen(buf), 19);
	assert_int_equal(report_status(&r, buf, 0), 0);
}

/* A metric name, optional {label="value",...}, a space and a number. */
static bool sample_line(const char *line, char *name, size_t size)
{
	const char *p = line;
	size_t n = 0;
	char *end;

	if (!isalpha((unsigned char)*p) && *p != '_' && *p != ':')
		return false;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':') {
		if (n + 1 < size)
			name[n++] = *p;
		p++;
	}
	name[n] = '\0';
	if (*p == '{') {
		for (;;) {
			p++;
			if (!isalpha((unsigned char)*p) && *p != '_')
				return false;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			if (p[0] != '=' || p[1] != '"')
				return false;
			p = strchr(p + 2, '"');
			if (!p)
				return false;
			p++;
			if (*p == '}')
				break;
			if (*p != ',')
				return false;
		}
		p++;
	}
	if (*p != ' ')
		return false;
	strtod(p + 1, &end);
	return end != p + 1 && *end == '\0';
}

/* Every line: "# HELP name text", "# TYPE name gauge|counter" before the name's
 * first sample, or a sample of a name already typed. */
static void check_exposition(char *text, size_t *ret_samples)
{
	char typed[16][64], name[64];
	size_t n_typed = 0, samples = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char *sp = strchr(line + 7, ' ');
			assert_non_null(sp);
			/* A counter's name ends in _total (the exposition
			 * format's convention, which Prometheus relies on). */
			assert_true(strcmp(sp + 1, "gauge") == 0 ||
				    (strcmp(sp + 1, "counter") == 0 && sp - line > 13 &&
				     strncmp(sp - 6, "_total", 6) == 0));
			assert_true(n_typed < 16);
			snprintf(typed[n_typed++], sizeof(typed[0]), "%.*s", (int)(sp - line - 7),
				 line + 7);
			continue;
		}
		if (!sample_line(line, name, sizeof(name)))
			fail_msg("not a sample line: %s", line);
		bool found = false;
		for (size_t i = 0; i < n_typed; i++)
			found |= strcmp(typed[i], name) == 0;
		if (!found)
			fail_msg("sample before its TYPE: %s", line);
		samples++;
	}
	*ret_samples = samples;
}

static void test_metrics(void **state)
{
	struct report r;
	char buf[HTTPD_BODY_OUT_MAX];
	size_t n, samples;

	(void)state;
	draining(&r);
	n = report_metrics(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "\nlastcall_phase{phase=\"stop\"} 1\n"));
	assert_non_null(strstr(buf, "\nlastcall_phase{phase=\"serving\"} 0\n"));
	assert_non_null(strstr(buf, "lastcall_phase_start_seconds{phase=\"drain\"} 2.050\n"));
	assert_null(strstr(buf, "lastcall_phase_start_seconds{phase=\"kill\"}"));
	assert_non_null(strstr(buf, "\nlastcall_ready 0\n"));
	assert_non_null(strstr(buf, "\nlastcall_inflight_requests 1\n"));
	assert_non_null(strstr(buf, "\nlastcall_open_connections 3\n"));
	assert_non_null(strstr(buf, "\nlastcall_pinned 1\n"));
	assert_non_null(strstr(buf, "\nlastcall_unsampled_connections 7\n"));
	assert_non_null(strstr(buf, "\nlastcall_late_requests_total 42\n"));
	assert_non_null(strstr(buf, "\nlastcall_closed_idle_total 5\n"));
	check_exposition(buf, &samples);
	/* 7 phases, 4 start times, ready, in flight, connections,
	 * unsampled, pinned, late requests, closed. */
	assert_int_equal(samples, 7 + 4 + 7);

	/* Unknown counts are 0, not -1: a gauge of requests is never negative. */
	serving(&r);
	n = report_metrics(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\nlastcall_ready 1\n"));
	assert_non_null(strstr(buf, "\nlastcall_inflight_requests 0\n"));
	assert_non_null(strstr(buf, "\nlastcall_open_connections 0\n"));
	assert_non_null(strstr(buf, "\nlastcall_pinned 0\n"));
	check_exposition(buf, &samples);
	assert_int_equal(samples, 7 + 7);

	n = report_metrics(&r, buf, 64);
	assert_int_equal(n, 63);
	assert_int_equal(strlen(buf), 63);
}

static void test_summary(void **state)
{
	struct report r;
	char buf[TERMINATION_MSG_MAX];
	cJSON *j, *ph;

	(void)state;
	draining(&r);
	r.inflight = 0;
	r.phase_ms[DRAIN_DONE] = 2110;
	assert_true(report_summary(&r, 0, 143, buf, sizeof(buf)) > 0);
	assert_null(strchr(buf, '\n'));
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_int_equal(num(j, "exit_code"), 0);
	assert_int_equal(num(j, "app_code"), 143);
	assert_int_equal(num(j, "inflight_left"), 0);
	assert_int_equal(num(j, "pinned_ms"), 2100);
	assert_int_equal(num(j, "closed_idle"), 5);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "forced_kill")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "drained")));
	ph = cJSON_GetObjectItemCaseSensitive(j, "phases");
	assert_int_equal(num(ph, "drain"), 2050);
	assert_null(cJSON_GetObjectItemCaseSensitive(ph, "kill")); /* not reached */
	assert_null(cJSON_GetObjectItemCaseSensitive(ph, "serving"));
	assert_int_equal(cJSON_GetArraySize(ph), 5);
	cJSON_Delete(j);

	/* A sidecar does not know the app's status; before any drain. */
	serving(&r);
	r.forced_kill = true;
	assert_true(report_summary(&r, 137, -1, buf, sizeof(buf)) > 0);
	j = cJSON_Parse(buf);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "app_code"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "inflight_left"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "pinned_ms"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "closed_idle"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "forced_kill")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "drained")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "phases")), 0);
	cJSON_Delete(j);
	assert_int_equal(report_summary(&r, 0, 0, buf, 16), -ENOSPC);
}

static void test_flush_until(void **state)
{
	(void)state;
	/* No drain: EXIT_FLUSH_MAX_MS. */
	assert_int_equal(report_flush_until(1000, -1, 30000, 1000, false, 2000),
			 1000 + EXIT_FLUSH_MAX_MS);
	/* Exit URLs with a longer timeout get it... */
	assert_int_equal(report_flush_until(1000, -1, 30000, 1000, true, 2000), 3000);
	/* ...a shorter one changes nothing. */
	assert_int_equal(report_flush_until(1000, -1, 30000, 1000, true, 500),
			 1000 + EXIT_FLUSH_MAX_MS);
	/* Never past half the kill margin before the grace period ends:
	 * T0 0, grace 30000, margin 1000: 29500. */
	assert_int_equal(report_flush_until(29000, 0, 30000, 1000, true, 2000), 29500);
	assert_int_equal(report_flush_until(10000, 0, 30000, 1000, true, 2000), 12000);
	/* Already past it: nothing left (the flush does not wait). */
	assert_true(report_flush_until(29800, 0, 30000, 1000, false, 2000) <= 29800);
}

static void test_termination_log(void **state)
{
	char dir[] = "/tmp/lastcall-report-XXXXXX", path[256], buf[64];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/msg", dir);
	/* A path given on purpose is created, and truncated on the next write. */
	report_termination_log(path, "{\"exit_code\":143,\"long\":true}");
	report_termination_log(path, "{\"exit_code\":0}");
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "{\"exit_code\":0}\n");
	assert_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(path);
	rmdir(dir);
}

static void test_termination_log_symlink(void **state)
{
	char dir[] = "/tmp/lastcall-report-XXXXXX", path[256], victim[256], fifo[256], buf[64];
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/msg", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	/* A symlink where the message goes: not followed, the victim kept. */
	assert_int_equal(symlink(victim, path), 0);
	report_termination_log(path, "{\"exit_code\":0}");
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "precious\n");
	assert_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* A FIFO without a reader: refused at once (the alarm ends the test
	 * if open blocks). */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(5);
	report_termination_log(fifo, "{\"exit_code\":0}");
	alarm(0);
	unlink(fifo);
	unlink(path);
	unlink(victim);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_flush_until),
		cmocka_unit_test(test_termination_log),
		cmocka_unit_test(test_termination_log_symlink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
