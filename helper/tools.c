/* tools.c - see tools.h. */
#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "doctor.h"
#include "kobj.h"
#include "loop.h"
#include "status.h"

#ifndef LASTCALL_VERSION
#define LASTCALL_VERSION "0.0.0-dev"
#endif

/* ---- probe ---- */

struct probe_opts {
	struct cli_common common;
	const char *control;
	int64_t timeout_ms;
};

static const struct cfg_opt probe_opts_table[] = {
	{ "control", 0, CFG_STRING, 0, offsetof(struct probe_opts, control), "PATH",
	  "/tmp/lastcall.sock", "The instance's control socket (or http://HOST:PORT)", NULL },
	{ "timeout", 0, CFG_DURATION, 0, offsetof(struct probe_opts, timeout_ms), "DURATION", "1s",
	  "Give up after this long: not ready", NULL },
	CLI_LOG_OPTS(struct probe_opts, common),
};

const struct cfg_cmd tools_probe_cmd = {
	.name = "probe",
	.args = "ready|live",
	.summary = "Exec probe: exit 0 when the instance is ready (or live), else 1.",
	.description =
		"Asks the lastcall instance on --control for /readyz or /livez, for an\n"
		"exec readinessProbe or livenessProbe in images without curl:\n"
		"  readinessProbe: {exec: {command: [/lastcall, probe, ready]}}\n"
		"Exit codes: 0 ready (live); 1 not, or no answer; 125 bad usage.\n",
	.opts = probe_opts_table,
	.n_opts = sizeof(probe_opts_table) / sizeof(probe_opts_table[0]),
};

int tools_probe_main(int argc, char **argv)
{
	struct probe_opts o;
	struct client_reply reply;
	char err[512];
	const char *path;
	int argi, code;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&tools_probe_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi + 1 != argc)
		return cli_fail(&tools_probe_cmd, "expected one argument: ready or live");
	if (strcmp(argv[argi], "ready") == 0)
		path = "/readyz";
	else if (strcmp(argv[argi], "live") == 0)
		path = "/livez";
	else
		return cli_fail(&tools_probe_cmd, "expected ready or live");
	if (client_call(o.control, "GET", path, o.timeout_ms, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "lastcall probe: no answer: %s\n", err);
		return 1;
	}
	if (reply.status != 200) {
		reply.body[strcspn(reply.body, "\n")] = '\0';
		fprintf(stderr, "lastcall probe: %s: %ld %s\n", argv[argi], reply.status,
			reply.body);
		return 1;
	}
	return 0;
}

/* ---- sleep ---- */

struct sleep_opts {
	struct cli_common common;
};

static const struct cfg_opt sleep_opts_table[] = {
	CLI_LOG_OPTS(struct sleep_opts, common),
};

const struct cfg_cmd tools_sleep_cmd = {
	.name = "sleep",
	.args = "DURATION",
	.summary = "Sleep for DURATION; end early, with 0, on SIGTERM or SIGINT.",
	.description =
		"A sleep for images that have none (distroless, scratch), e.g. as a\n"
		"preStop hook: lifecycle: {preStop: {exec: {command: [/lastcall, sleep, 5s]}}}\n"
		"DURATION: 5, 5s, 1500ms, 1m, 1m30s.\n"
		"Exit codes: 0 slept, or ended by SIGTERM/SIGINT; 125 bad usage.\n",
	.opts = sleep_opts_table,
	.n_opts = sizeof(sleep_opts_table) / sizeof(sleep_opts_table[0]),
};

int tools_sleep_main(int argc, char **argv)
{
	struct sleep_opts o;
	int64_t ms, end;
	sigset_t set;
	int argi, code;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&tools_sleep_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi + 1 != argc)
		return cli_fail(&tools_sleep_cmd, "expected one argument: a DURATION");
	if (cfg_parse_duration(argv[argi], &ms) < 0) {
		char msg[CFG_VALUE_MAX + 64];
		snprintf(msg, sizeof(msg), "\"%s\" is not a duration (5, 5s, 1500ms, 1m)",
			 argv[argi]);
		return cli_fail(&tools_sleep_cmd, msg);
	}
	/* main blocked every signal: wait for the ending ones synchronously. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	end = loop_now_ms() + ms;
	for (;;) {
		int64_t left = end - loop_now_ms();
		struct timespec ts;

		if (left <= 0)
			return 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		if (sigtimedwait(&set, NULL, &ts) > 0)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return 0;
	}
}

/* ---- install ---- */

struct install_opts {
	struct cli_common common;
	const char *name;
};

static const struct cfg_opt install_opts_table[] = {
	{ "name", 0, CFG_STRING, 0, offsetof(struct install_opts, name), "NAME", "lastcall",
	  "File name in DIR", NULL },
	CLI_LOG_OPTS(struct install_opts, common),
};

const struct cfg_cmd tools_install_cmd = {
	.name = "install",
	.args = "DIR",
	.summary = "Copy this binary into DIR (mode 0755, atomically).",
	.description =
		"For an init container that fills an emptyDir the app container then\n"
		"runs lastcall from (scratch images have no cp):\n"
		"  initContainers: [{name: lastcall, image: lastcall, args: [install, /shared]}]\n"
		"The copy is written to a temporary file in DIR, then renamed: a\n"
		"container never sees a half-written binary.\n"
		"Exit codes: 0 installed; 125 failed (DIR missing or not writable...).\n",
	.opts = install_opts_table,
	.n_opts = sizeof(install_opts_table) / sizeof(install_opts_table[0]),
};

/* Copies fd in to DIR/NAME through a temporary file. */
static int install_copy(int in, const char *dir, const char *name, off_t *ret_size, char *err,
			size_t errlen)
{
	char tmp[4096], dst[4096], buf[65536];
	int out = -1, r = 0;
	off_t size = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return r;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r = w < 0 ? -errno : -EIO;
				break;
			}
			off += w;
		}
		if (r < 0)
			break;
		size += n;
	}
	if (r == 0 && (fchmod(out, 0755) < 0 || fsync(out) < 0))
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", dst, strerror(-r));
		unlink(tmp);
		return r;
	}
	*ret_size = size;
	return 0;
}

int tools_install_main(int argc, char **argv)
{
	struct install_opts o;
	char err[8192];
	struct stat st;
	off_t size = 0;
	int argi, code, in, r;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&tools_install_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	if (argi + 1 != argc)
		return cli_fail(&tools_install_cmd, "expected one argument: the DIR to copy into");
	if (!o.name[0] || strchr(o.name, '/') || strcmp(o.name, ".") == 0 ||
	    strcmp(o.name, "..") == 0)
		return cli_fail(&tools_install_cmd, "--name: a file name, without /");
	if (stat(argv[argi], &st) < 0) {
		fprintf(stderr, "lastcall install: %s: %s\n", argv[argi], strerror(errno));
		return STATUS_LASTCALL_FAILED;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "lastcall install: %s: not a directory\n", argv[argi]);
		return STATUS_LASTCALL_FAILED;
	}
	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "lastcall install: cannot read my own binary: %s\n",
			strerror(errno));
		return STATUS_LASTCALL_FAILED;
	}
	r = install_copy(in, argv[argi], o.name, &size, err, sizeof(err));
	close(in);
	if (r < 0) {
		fprintf(stderr, "lastcall install: %s\n", err);
		return STATUS_LASTCALL_FAILED;
	}
	printf("installed %s/%s (%lld bytes)\n", argv[argi], o.name, (long long)size);
	return 0;
}

/* ---- doctor ---- */

enum doctor_output { DOCTOR_TEXT, DOCTOR_JSON, DOCTOR_SARIF };

struct doctor_opts {
	struct cli_common common;
	enum doctor_output output;
	enum doctor_severity fail_on;
};

static int parse_output(void *field, const char *value, char *err, size_t errlen)
{
	static const char *const names[] = { "text", "json", "sarif" };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(value, names[i]) == 0) {
			*(enum doctor_output *)field = (enum doctor_output)i;
			return 0;
		}
	}
	snprintf(err, errlen, "expected text, json or sarif");
	return -EINVAL;
}

static int parse_fail_on(void *field, const char *value, char *err, size_t errlen)
{
	if (doctor_severity_parse(value, field) < 0) {
		snprintf(err, errlen, "expected error, warning, info or none");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_opt doctor_opts_table[] = {
	{ "output", 'o', CFG_CUSTOM, 0, offsetof(struct doctor_opts, output), "text|json|sarif",
	  "text", "Findings as text for people, JSON, or SARIF for code scanning", parse_output },
	{ "fail-on", 0, CFG_CUSTOM, 0, offsetof(struct doctor_opts, fail_on), "SEVERITY", "error",
	  "Exit 1 when a finding is this severe (error, warning, info; none: never)",
	  parse_fail_on },
	CLI_LOG_OPTS(struct doctor_opts, common),
};

const struct cfg_cmd tools_doctor_cmd = {
	.name = "doctor",
	.args = "[FILE|-]...",
	.summary = "Find the shutdown mistakes in Kubernetes workloads, from their manifests.",
	.description =
		"Reads Kubernetes objects (YAML with several documents, JSON, kind: List,\n"
		"kubectl get -o yaml|json; stdin when no FILE or -) and checks the pods\n"
		"of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and\n"
		"CronJobs, with the Services, Roles and RoleBindings given beside them:\n"
		"  kubectl get deploy,svc,role,rolebinding -o yaml | lastcall doctor\n"
		"Each finding has a rule id, a severity, the object and the field, why it\n"
		"loses requests and how to fix it.\n"
		"Exit codes: 0 no finding reaches --fail-on; 1 one does; 125 bad usage or\n"
		"input that cannot be read (said with the file and line).\n",
	.opts = doctor_opts_table,
	.n_opts = sizeof(doctor_opts_table) / sizeof(doctor_opts_table[0]),
};

/* Reads all of fd, at most KOBJ_INPUT_MAX bytes, into a new buffer (the
 * cap's worth of address space; only what is read is touched). */
static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
	char *buf = malloc(KOBJ_INPUT_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while (len <= KOBJ_INPUT_MAX) {
		n = read(fd, buf + len, KOBJ_INPUT_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KOBJ_INPUT_MAX) {
		free(buf);
		return -EFBIG;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* Reads one input into the set; says why not on stderr. 0 or 125. */
static int doctor_read(struct kobj_set *set, int index, const char *name)
{
	char err[256], *buf = NULL;
	size_t len = 0;
	int fd, r, line;

	fd = strcmp(name, "-") == 0 ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "lastcall doctor: %s: %s\n", name, strerror(errno));
		return STATUS_LASTCALL_FAILED;
	}
	r = read_all(fd, &buf, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r < 0) {
		fprintf(stderr, "lastcall doctor: %s: %s\n", name,
			r == -EFBIG ? "larger than the 16 MiB an input may be" : strerror(-r));
		return STATUS_LASTCALL_FAILED;
	}
	r = kobj_parse(set, index, buf, len, &line, err, sizeof(err));
	free(buf);
	if (r < 0) {
		if (line > 0)
			fprintf(stderr, "lastcall doctor: %s:%d: %s\n", name, line, err);
		else
			fprintf(stderr, "lastcall doctor: %s: %s\n", name, err);
		return STATUS_LASTCALL_FAILED;
	}
	return 0;
}

int tools_doctor_main(int argc, char **argv)
{
	static const char *const stdin_only[] = { "-" };
	struct doctor_opts o;
	struct kobj_set *set = NULL;
	struct doctor_finding *found = NULL;
	struct doctor_out out = { 0 };
	const char *const *files;
	size_t n_files, n = 0, dropped = 0;
	int argi, code, stdin_uses = 0, r = 0;

	memset(&o, 0, sizeof(o));
	if (cli_parse(&tools_doctor_cmd, &o, &o.common, argc, argv, &argi, &code))
		return code;
	files = argi < argc ? (const char *const *)argv + argi : stdin_only;
	n_files = argi < argc ? (size_t)(argc - argi) : 1;
	if (n_files > DOCTOR_FILES_MAX)
		return cli_fail(&tools_doctor_cmd, "too many files");
	for (size_t i = 0; i < n_files; i++)
		stdin_uses += strcmp(files[i], "-") == 0;
	if (stdin_uses > 1)
		return cli_fail(&tools_doctor_cmd, "- (stdin) given twice");
	found = calloc(DOCTOR_FINDINGS_MAX, sizeof(*found));
	if (!found || kobj_set_new(&set) < 0) {
		fprintf(stderr, "lastcall doctor: out of memory\n");
		code = STATUS_LASTCALL_FAILED;
		goto out;
	}
	for (size_t i = 0; i < n_files; i++) {
		code = doctor_read(set, (int)i, files[i]);
		if (code)
			goto out;
	}
	doctor_check(set, found, DOCTOR_FINDINGS_MAX, &n, &dropped);
	out = (struct doctor_out){
		.set = set, .files = files, .v = found, .n = n, .version = LASTCALL_VERSION
	};
	if (o.output == DOCTOR_JSON)
		r = doctor_write_json(stdout, &out);
	else if (o.output == DOCTOR_SARIF)
		r = doctor_write_sarif(stdout, &out);
	else
		doctor_write_text(stdout, &out);
	if (dropped)
		fprintf(stderr, "lastcall doctor: %zu more findings not shown (at most %d)\n",
			dropped, DOCTOR_FINDINGS_MAX);
	if (r < 0 || fflush(stdout) == EOF) {
		fprintf(stderr, "lastcall doctor: cannot write the findings\n");
		code = STATUS_LASTCALL_FAILED;
		goto out;
	}
	code = 0;
	for (size_t i = 0; i < n; i++) {
		if (found[i].severity >= o.fail_on)
			code = 1;
	}
	if (dropped && o.fail_on <= DOCTOR_ERROR)
		code = 1;
out:
	kobj_set_free(set);
	free(found);
	return code;
}
