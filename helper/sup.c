/* sup.c - see sup.h.
 *
 * One epoll loop reads a signalfd. Signals only set work for the loop:
 * forwardable ones are sent on at once, a drain trigger starts the drain
 * engine, SIGCHLD asks for a reaping pass. The drain engine (drain.c) is
 * pure; this file feeds it signals, connection samples and the child's
 * exit, and carries out its actions: readiness off, the stop signal, the
 * final SIGKILL.
 *
 * sidecar and hook modes (sup_adopt) run the same engine next to an app
 * that is not our child: found by name or pid file, watched through a
 * pidfd (readable when it exits), signalled through it.
 *
 * When the main child is gone, leftovers get SIGTERM, then SIGKILL after
 * orphan_grace (or at the drain's kill deadline if that comes first), and
 * we return as soon as waitpid says no child remains (no fixed sleep:
 * tini#180 left them to the kernel's SIGKILL, dumb-init#212 exited without
 * waiting).
 */
#include "sup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "fetch.h"
#include "httpd.h"
#include "kapi.h"
#include "limits.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "spawn.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

enum sup_state {
	SUP_RUNNING,		/* the main child runs (adopted: is there) */
	SUP_LEFTOVER_TERM,	/* it exited; others got SIGTERM */
	SUP_LEFTOVER_KILL,	/* SIGKILL until none */
	SUP_DONE,
	SUP_SEEKING,		/* adopted: no app process found (yet, or again) */
};

struct sup {
	const struct sup_opts *o;
	enum sup_mode mode;
	struct loop *loop;
	int sfd;
	pid_t child;		/* also its process group id (adopted: the app) */
	int pidfd;		/* race-free signalling of the child, or -1 */
	int exit_code;		/* adopted modes: what sup_adopt returns */
	bool seek_failed_logged;
	bool ports_denied_logged;
	bool ready_file_on;	/* --ready-file exists (as far as we made it) */
	bool forced_kill;
	enum sup_state state;
	int child_code;		/* 0..255, valid once the child is reaped */
	int kill_timer;
	int64_t child_exit_ms;

	/* The drain engine and what feeds it. */
	bool draining_enabled;
	struct drain d;
	struct httpd *httpd;
	int drain_timer;
	int sample_timer;
	struct conn *prev, *cur;	/* two dumps, sorted by cookie */
	size_t n_prev;
	bool have_prev;
	struct conn_stats stats;
	bool stats_valid;
	bool sample_failed_logged;
	uint16_t ports[PORTS_MAX];
	size_t n_ports;
	bool app_ready;
	struct fetch *fetch;		/* outgoing HTTP, when an app URL is set */
	struct app *app;
	bool app_url_ready;		/* the last --app-ready-url answer */
	int app_inflight;		/* the last --app-inflight-url answer */
	int64_t seek_ms;		/* sampling interval while no port is seen */
	enum drain_phase logged;	/* the last phase logged */

	/* The Kubernetes API and --on-exit-url, through the same fetch. */
	struct kapi *kapi;
	int flush_timer;
	int64_t flush_until;
	size_t on_exit_pending;
	bool pod_retried;	/* the T0 read of the pod was tried again */
	bool target_left;	/* adopted: the app still ran when we finished */
};

void sup_signals_init(sigset_t *ret_orig_mask)
{
	sigset_t all;
	struct sigaction ign;

	/* Every signal but the faults, on the kernel's bits and through the
	 * system call: sigfillset leaves out what the libc keeps (musl:
	 * 32..34) and glibc's sigprocmask will not block 32 and 33; at their
	 * default action they would end lastcall when it is not PID 1. */
	sigemptyset(&all);
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		if (sig_policy(sig) != SIG_POLICY_SYNC)
			sig_set_add(&all, sig);
	}
	sig_setmask(&all, ret_orig_mask);

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		if (sig_policy(sig) == SIG_POLICY_IGNORE) {
			sigaction(sig, &ign, NULL);
			sig_set_del(&all, sig);
		}
	}
	/* Ignored ones are unblocked again so they cannot pile up pending. */
	sig_setmask(&all, NULL);
}

static void join_argv(char *const argv[], char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; argv[i] && n + 1 < size; i++) {
		int w = snprintf(buf + n, size - n, "%s%s", i ? " " : "", argv[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

static long long since_t0(const struct sup *s, int64_t now)
{
	return s->d.t0 < 0 ? -1 : (long long)(now - s->d.t0);
}

static int send_target(struct sup *s, int sig, const char **ret_target);

/*
 * Sends sig to every leftover: the child's group and all our descendants.
 * Returns how many descendants it reached.
 */
static size_t signal_leftovers(struct sup *s, int sig)
{
	pid_t pids[1024];
	size_t n = 0, sent = 0;
	int r;

	if (s->mode != SUP_MODE_RUN) {
		/* Not our children: the app and what it started, while it is there. */
		if (s->state != SUP_RUNNING)
			return 0;
		r = proc_descendants(s->child, 0, pids, sizeof(pids) / sizeof(pids[0]), &n);
		const char *target;
		sent += send_target(s, sig, &target) == 0;
	} else {
		/* Look before signalling, so what dies at once is still counted. */
		r = proc_descendants(getpid(), s->child, pids,
				     sizeof(pids) / sizeof(pids[0]), &n);
		kill(-s->child, sig);
	}
	if (r < 0) {
		log_warn("proc_scan_failed", "error=%s", strerror(-r));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (kill(pids[i], sig) == 0)
			sent++;
	}
	return sent;
}

/* The end: nothing may fire any more while the last calls are flushed. */
static void finish(struct sup *s)
{
	/* Adopted: the app may still run (a hook, a sidecar told to stop). */
	s->target_left = s->mode != SUP_MODE_RUN && s->state == SUP_RUNNING;
	s->state = SUP_DONE;
	loop_timer_cancel(s->loop, s->drain_timer);
	loop_timer_cancel(s->loop, s->sample_timer);
	loop_timer_cancel(s->loop, s->kill_timer);
	s->drain_timer = s->sample_timer = s->kill_timer = 0;
	if (s->mode != SUP_MODE_RUN && s->pidfd >= 0)
		loop_del(s->loop, s->pidfd);
	loop_stop(s->loop);
}

static void on_kill_timer(struct loop *l, void *data)
{
	struct sup *s = data;
	size_t n;

	(void)l;
	s->kill_timer = 0;
	if (s->state != SUP_LEFTOVER_TERM)
		return;
	s->state = SUP_LEFTOVER_KILL;
	n = signal_leftovers(s, SIGKILL);
	log_warn("leftovers_killed", "count=%zu after_ms=%lld", n,
		 (long long)(loop_now_ms() - s->child_exit_ms));
}

static void drain_apply(struct sup *s, unsigned act);

/* The Event for the app's exit: ms since T0, or before any drain. */
static void app_exited_event(struct sup *s, int code)
{
	int64_t now = loop_now_ms();

	if (s->d.t0 < 0)
		kapi_event(s->kapi, "AppExited", code != 0,
			   "the app exited (code %d) before any drain", code);
	else if (code < 0)
		kapi_event(s->kapi, "AppExited", false, "the app exited at %lld ms",
			   since_t0(s, now));
	else
		kapi_event(s->kapi, "AppExited", false, "the app exited (code %d) at %lld ms",
			   code, since_t0(s, now));
}

/* Reaps every zombie; returns false when no child at all remains. */
static bool reap(struct sup *s)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0) {
			if (pid == s->child) {
				s->child_code = status_from_wait(st);
				s->child_exit_ms = loop_now_ms();
				if (WIFSIGNALED(st)) {
					char name[SIG_NAME_MAX];
					log_info("child_exited", "pid=%d signal=%s code=%d ms=%lld",
						 pid, sig_name(WTERMSIG(st), name), s->child_code,
						 since_t0(s, s->child_exit_ms));
				} else {
					log_info("child_exited", "pid=%d code=%d ms=%lld", pid,
						 s->child_code, since_t0(s, s->child_exit_ms));
				}
				app_exited_event(s, s->child_code);
				if (s->pidfd >= 0) {
					close(s->pidfd);
					s->pidfd = -1;
				}
				s->state = SUP_LEFTOVER_TERM;
			} else {
				log_debug("reaped", "pid=%d code=%d", pid, status_from_wait(st));
			}
			continue;
		}
		if (pid == 0)
			return true;
		if (errno == EINTR)
			continue;
		if (errno == ECHILD)
			return false;
		/* Cannot happen with valid arguments; keep going regardless. */
		log_error("waitpid_failed", "error=%s", strerror(errno));
		return true;
	}
}

static void after_reap(struct sup *s, bool children_left, bool child_just_exited)
{
	if (s->state == SUP_RUNNING)
		return;
	if (child_just_exited && s->draining_enabled)
		drain_apply(s, drain_child_exited(&s->d, loop_now_ms()));
	if (!children_left) {
		if (s->draining_enabled)
			drain_apply(s, drain_all_gone(&s->d, loop_now_ms()));
		finish(s);
		return;
	}
	if (child_just_exited) {
		int64_t now = loop_now_ms();
		int64_t at = now + s->o->orphan_grace_ms;
		int64_t kill_at = drain_kill_at(&s->d);
		size_t n = signal_leftovers(s, SIGTERM);

		/* Never past the drain's deadline. */
		if (kill_at >= 0 && kill_at < at)
			at = kill_at;
		log_info("leftovers_terminating", "count=%zu grace_ms=%lld", n,
			 (long long)(at - now));
		if (loop_timer_add(s->loop, at, on_kill_timer, s, &s->kill_timer) < 0)
			on_kill_timer(s->loop, s);
	} else if (s->state == SUP_LEFTOVER_KILL) {
		/* Something forked after the SIGKILL sweep. */
		signal_leftovers(s, SIGKILL);
	}
}

/* Sends sig to the configured target; returns 0 or a negative errno. */
static int send_target(struct sup *s, int sig, const char **ret_target)
{
	int r;

	if (s->mode != SUP_MODE_RUN) {
		*ret_target = "process";
		if (s->state != SUP_RUNNING)
			return -ESRCH;
		r = s->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0)
				  : kill(s->child, sig);
		if (r < 0 && errno == ENOSYS)
			r = kill(s->child, sig);
	} else if (s->state != SUP_RUNNING || s->o->target == SUP_TARGET_GROUP) {
		/* The child gone, what is left is its group. */
		*ret_target = "group";
		r = kill(-s->child, sig);
	} else {
		*ret_target = "child";
		r = s->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0)
				  : kill(s->child, sig);
		if (r < 0 && errno == ENOSYS)
			r = kill(s->child, sig);
	}
	return r < 0 ? -errno : 0;
}

static void forward(struct sup *s, int sig)
{
	char from[SIG_NAME_MAX], to_name[SIG_NAME_MAX];
	int to = sig_rewrite_apply(&s->o->rewrite, sig);
	const char *target;
	int r;

	sig_name(sig, from);
	if (to == 0) {
		log_info("signal_dropped", "signal=%s", from);
		return;
	}
	sig_name(to, to_name);
	r = send_target(s, to, &target);
	if (r < 0 && r != -ESRCH) {
		log_warn("signal_forward_failed", "signal=%s target=%s error=%s", to_name,
			 target, strerror(-r));
		return;
	}
	/* Terminal resizes can come in bursts: not worth an info line each. */
	log_event(sig == SIGWINCH ? LOG_DEBUG : LOG_INFO, "signal_forwarded",
		  "signal=%s sent=%s target=%s pgid=%d delivered=%s", from, to_name,
		  target, s->child, r < 0 ? "false" : "true");
}

/* ---- the drain engine's shell ---- */

static void sample(struct sup *s);
static void discover_ports(struct sup *s);
static int inflight_now(const struct sup *s);
static bool api_ready(void *data);

/* --ready-file: exists while /readyz would answer 200 (an exec probe's
 * `test -f`), removed at T0. */
static void ready_file_set(struct sup *s, bool on)
{
	const char *path = s->o->ready_file;
	int fd;

	if (!path || on == s->ready_file_on)
		return;
	if (on) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "ready\n", 6) != 6) {
			log_warn("ready_file_failed", "path=%s error=%s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return;
		}
		close(fd);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("ready_file_failed", "path=%s error=%s", path, strerror(errno));
		return;
	}
	s->ready_file_on = on;
	log_info("ready_file", "path=%s ready=%s", path, on ? "true" : "false");
}

static void finish_with(struct sup *s, int code)
{
	s->exit_code = code;
	finish(s);
}

/* Adopted: the app's process is gone (exited, or its pidfd said so). */
static void target_gone(struct sup *s)
{
	int64_t now = loop_now_ms();

	if (s->state != SUP_RUNNING)
		return;
	log_info("target_exited", "pid=%d ms=%lld", s->child, since_t0(s, now));
	if (s->pidfd >= 0) {
		loop_del(s->loop, s->pidfd);
		close(s->pidfd);
		s->pidfd = -1;
	}
	s->state = SUP_SEEKING;
	if (s->d.phase == DRAIN_SERVING) {
		/* Crashed or restarted by the kubelet: wait for the next one. */
		if (s->o->ports.n == 0)
			s->n_ports = 0;
		s->have_prev = false;
		s->app_ready = false;
		s->seek_ms = s->o->sample_ms;
		ready_file_set(s, false);
		return;
	}
	app_exited_event(s, -1);
	drain_apply(s, drain_child_exited(&s->d, now));
	drain_apply(s, drain_all_gone(&s->d, now));
	finish_with(s, s->exit_code);
}

static void on_target_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct sup *s = data;

	(void)l;
	(void)events;
	if (s->state == SUP_DONE)
		loop_del(s->loop, fd);
	else
		target_gone(s);
}

/* Adopted: looks for the app by --pid-file or --target-process. */
static void seek_target(struct sup *s)
{
	const struct sup_opts *o = s->o;
	pid_t pid = 0;
	int r;

	if (s->mode == SUP_MODE_RUN || s->state != SUP_SEEKING ||
	    (!o->pid_file && !o->target_process))
		return;
	r = o->pid_file ? proc_read_pid_file(o->pid_file, &pid)
			: proc_find(o->target_process, getpid(), &pid);
	if (r == 0 && (pid == getpid() || !proc_alive(pid)))
		r = -ESRCH;
	if (r < 0) {
		if (!s->seek_failed_logged)
			log_info("target_missing", "target=%s error=%s",
				 o->pid_file ? o->pid_file : o->target_process,
				 r == -ESRCH ? "no such process" : strerror(-r));
		s->seek_failed_logged = true;
		return;
	}
	s->seek_failed_logged = false;
	s->child = pid;
	s->state = SUP_RUNNING;
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd >= 0 && loop_add(s->loop, s->pidfd, EPOLLIN, on_target_fd, s) < 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
	/* Without a pidfd (before Linux 5.3) the sample timer polls /proc. */
	log_info("target_found", "pid=%d target=%s watch=%s", pid,
		 o->pid_file ? o->pid_file : o->target_process, s->pidfd >= 0 ? "pidfd" : "proc");
	if (s->d.phase == DRAIN_SERVING && o->ports.n == 0)
		discover_ports(s);
}

/* Adopted, each sample: notice an exit without a pidfd; find the app. */
static void watch_target(struct sup *s)
{
	if (s->mode == SUP_MODE_RUN)
		return;
	if (s->state == SUP_RUNNING && s->pidfd < 0 && !proc_alive(s->child))
		target_gone(s);
	if (s->state == SUP_SEEKING)
		seek_target(s);
}

/*
 * Hook, after --signal went to the container's PID 1: when PID 1 exits the
 * kernel kills this hook with everything else in the namespace. Return
 * once its children are gone (nginx's workers: the master follows), so the
 * kubelet may see the hook succeed; when PID 1 is faster, the hook is
 * killed, which changes nothing but the kubelet's FailedPreStopHook event.
 */
static bool pid1_stopping(void)
{
	pid_t pids[64];
	size_t n = 0, others = 0;

	if (proc_descendants(1, 0, pids, sizeof(pids) / sizeof(pids[0]), &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		others += pids[i] != getpid();
	return others == 0;
}

static void on_drain_timer(struct loop *l, void *data)
{
	struct sup *s = data;

	(void)l;
	s->drain_timer = 0;
	if (s->state != SUP_DONE)
		drain_apply(s, drain_tick(&s->d, loop_now_ms()));
}

static void on_sample_timer(struct loop *l, void *data)
{
	struct sup *s = data;
	int64_t interval;

	(void)l;
	s->sample_timer = 0;
	watch_target(s);
	if (s->state == SUP_DONE)
		return;
	if (s->d.phase >= DRAIN_STOP) {
		if (s->mode == SUP_MODE_RUN)
			return;
		/* Adopted: keep watching the app until it is gone. */
		bool pid1 = s->mode == SUP_MODE_HOOK && s->child == 1 && s->state == SUP_RUNNING;
		if (pid1 && pid1_stopping()) {
			log_info("returning", "reason=pid1_stopping ms=%lld",
				 since_t0(s, loop_now_ms()));
			finish_with(s, 0);
			return;
		}
		loop_timer_add(s->loop, loop_now_ms() + (pid1 ? PID1_POLL_MS : s->o->sample_ms),
			       on_sample_timer, s, &s->sample_timer);
		return;
	}
	sample(s);
	if (s->state == SUP_DONE)
		return;
	/* Fast while draining. Before, slow once the app listens (only to
	 * notice new ports); until then fast, since readiness waits on it,
	 * backing off so an app that never listens costs no /proc scan each
	 * 100 ms. */
	if (s->d.phase != DRAIN_SERVING) {
		interval = s->o->sample_ms;
	} else if (s->app_ready) {
		interval = SAMPLE_IDLE_MS;
	} else {
		interval = s->seek_ms;
		s->seek_ms = s->seek_ms * 2 > SAMPLE_IDLE_MS ? SAMPLE_IDLE_MS : s->seek_ms * 2;
	}
	loop_timer_add(s->loop, loop_now_ms() + interval, on_sample_timer, s,
		       &s->sample_timer);
}

static void log_phase(struct sup *s, enum drain_phase p, int64_t now)
{
	switch (p) {
	case DRAIN_UNREADY:
		log_info("phase", "phase=unready ms=%lld deadline_ms=%lld stop_by_ms=%lld",
			 since_t0(s, now), (long long)(drain_kill_at(&s->d) - s->d.t0),
			 (long long)(drain_stop_at(&s->d) - s->d.t0));
		break;
	case DRAIN_PROPAGATE:
		log_info("phase", "phase=propagate ms=%lld min_delay_ms=%lld quiet_ms=%lld max_delay_ms=%lld",
			 since_t0(s, now), (long long)s->d.b.min_delay_ms,
			 (long long)s->d.b.quiet_ms, (long long)s->d.b.max_delay_ms);
		break;
	case DRAIN_DRAIN:
		log_info("phase", "phase=drain ms=%lld inflight=%d connections=%d source=%s",
			 since_t0(s, now), inflight_now(s),
			 s->stats_valid ? s->stats.established : -1,
			 app_has(s->app, APP_INFLIGHT) ? "app" : "kernel");
		kapi_event(s->kapi, "TrafficQuiet", false,
			   "no new traffic reaches the app at %lld ms; %d requests in flight",
			   since_t0(s, now), inflight_now(s));
		break;
	case DRAIN_STOP:
		log_info("phase", "phase=stop ms=%lld inflight=%d", since_t0(s, now),
			 inflight_now(s));
		kapi_event(s->kapi, "Drained", inflight_now(s) > 0,
			   "%s at %lld ms", inflight_now(s) > 0 ? "drain window over with requests in flight"
								  : "no request in flight",
			   since_t0(s, now));
		break;
	case DRAIN_KILL:
		log_warn("phase", "phase=kill ms=%lld forced=true", since_t0(s, now));
		break;
	default:
		log_info("phase", "phase=%s ms=%lld", drain_phase_name(p), since_t0(s, now));
		break;
	}
}

/* Carries out what the drain engine asked for. */
static void drain_apply(struct sup *s, unsigned act)
{
	int64_t now = loop_now_ms();

	if (act & DRAIN_ACT_PHASE) {
		/* Several phases can pass in one step: log each once, in order. */
		for (int p = (int)s->logged + 1; p <= (int)s->d.phase; p++) {
			if (s->d.at[p] >= 0)
				log_phase(s, (enum drain_phase)p, s->d.at[p]);
		}
		s->logged = s->d.phase;
		httpd_notify(s->httpd);
	}
	if (act & DRAIN_ACT_UNREADY) {
		/* Out of every load balancer's rotation first, before any delay. */
		kapi_gate(s->kapi, false);
		ready_file_set(s, false);
		app_call(s->app, APP_DRAIN);
	}
	if ((act & DRAIN_ACT_STOP) && s->mode == SUP_MODE_HOOK &&
	    (s->o->stop_signal == 0 || s->state != SUP_RUNNING)) {
		/* The kubelet sends the stop signal once the hook returns. */
		if (s->o->stop_signal == 0) {
			log_info("drained", "ms=%lld", since_t0(s, now));
			finish_with(s, 0);
		} else {
			log_error("stop_signal_failed", "error=no_target ms=%lld", since_t0(s, now));
			finish_with(s, 1);
		}
		return;
	}
	if ((act & DRAIN_ACT_STOP) && s->state == SUP_RUNNING) {
		char name[SIG_NAME_MAX];
		const char *target;
		int r = send_target(s, s->o->stop_signal, &target);
		log_info("stop_signal_sent", "signal=%s target=%s pid=%d ms=%lld delivered=%s",
			 sig_name(s->o->stop_signal, name), target, s->child, since_t0(s, now),
			 r < 0 ? "false" : "true");
		kapi_event(s->kapi, "StopSignalSent", r < 0, "%s to the app (pid %d) at %lld ms%s",
			   name, s->child, since_t0(s, now), r < 0 ? ", not delivered" : "");
		/* Adopted: watch the exit from now on (at once for a hook's PID 1). */
		if (s->mode != SUP_MODE_RUN) {
			loop_timer_cancel(s->loop, s->sample_timer);
			loop_timer_add(s->loop, now, on_sample_timer, s, &s->sample_timer);
		}
	}
	if ((act & DRAIN_ACT_KILL) && s->mode == SUP_MODE_HOOK) {
		/* Not ours to SIGKILL: the kubelet does, after the stop signal. */
		log_warn("budget_exhausted", "ms=%lld", since_t0(s, now));
		finish_with(s, 1);
		return;
	}
	if (act & DRAIN_ACT_KILL) {
		size_t n = signal_leftovers(s, SIGKILL);
		log_warn("forced_kill", "count=%zu ms=%lld", n, since_t0(s, now));
		kapi_event(s->kapi, "ForcedKill", true,
			   "%zu processes SIGKILLed at %lld ms, %lld ms before the grace period ends",
			   n, since_t0(s, now), (long long)s->d.b.kill_margin_ms);
		s->forced_kill = true;
		if (s->state == SUP_LEFTOVER_TERM)
			s->state = SUP_LEFTOVER_KILL;
		if (s->mode == SUP_MODE_SIDECAR)
			s->exit_code = 128 + SIGKILL;
	}
	loop_timer_cancel(s->loop, s->drain_timer);
	s->drain_timer = 0;
	int64_t next = drain_next_deadline(&s->d);
	if (next >= 0)
		loop_timer_add(s->loop, next, on_drain_timer, s, &s->drain_timer);
}

static void trigger(struct sup *s, const char *origin)
{
	int64_t now = loop_now_ms();
	unsigned act;

	if (!s->draining_enabled) {
		log_warn("drain_disabled", "origin=%s", origin);
		return;
	}
	/* The app may have started listening since the last look. */
	if (s->d.phase == DRAIN_SERVING && s->o->ports.n == 0)
		discover_ports(s);
	act = drain_trigger(&s->d, now);
	if (!act) {
		log_info("drain_already_started", "origin=%s ms=%lld", origin, since_t0(s, now));
		return;
	}
	log_info("drain_started", "origin=%s ports=%zu", origin, s->n_ports);
	kapi_event(s->kapi, "DrainStarted", false,
		   "drain started by %s; stop signal by %lld ms, SIGKILL at %lld ms", origin,
		   (long long)(drain_stop_at(&s->d) - s->d.t0),
		   (long long)(drain_kill_at(&s->d) - s->d.t0));
	drain_apply(s, act);
	/* The grace period in force may be shorter than ours (kubectl delete
	 * --grace-period, evictions): the pod says. */
	kapi_get_pod(s->kapi);
	/* Sample at the drain's pace from now on. */
	loop_timer_cancel(s->loop, s->sample_timer);
	s->sample_timer = 0;
	loop_timer_add(s->loop, now + s->o->sample_ms, on_sample_timer, s, &s->sample_timer);
}

/*
 * Finds the serving ports, when not given: those the child's process tree
 * (adopted: the app's) listens on; a hook with no app named takes every
 * listening port of the pod's network namespace.
 */
static void discover_ports(struct sup *s)
{
	pid_t pids[1024];
	size_t n = 0, np = 0;
	uint16_t ports[PORTS_MAX];
	int r;

	if (s->mode == SUP_MODE_HOOK && !s->o->pid_file && !s->o->target_process) {
		r = conn_listen_ports(NULL, 0, ports, PORTS_MAX, &np);
	} else {
		if (s->state != SUP_RUNNING)
			return;
		if (s->mode == SUP_MODE_RUN) {
			r = proc_descendants(getpid(), 0, pids, sizeof(pids) / sizeof(pids[0]), &n);
		} else {
			pids[0] = s->child;
			r = proc_descendants(s->child, 0, pids + 1,
					     sizeof(pids) / sizeof(pids[0]) - 1, &n);
			n++;
		}
		if (r < 0)
			return;
		r = conn_listen_ports(pids, n, ports, PORTS_MAX, &np);
	}
	if (r == -EACCES) {
		if (!s->ports_denied_logged)
			log_warn("ports_unknown", "pid=%d error=%s hint=%s", s->child,
				 "cannot read /proc/PID/fd (another user)",
				 "give --port, or run as the app's user");
		s->ports_denied_logged = true;
		return;
	}
	if (r < 0)
		return;
	if (np != s->n_ports || memcmp(ports, s->ports, np * sizeof(ports[0])) != 0) {
		char list[PORTS_MAX * 6 + 1] = "";
		for (size_t i = 0; i < np; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u",
				 i ? "," : "", ports[i]);
		memcpy(s->ports, ports, sizeof(ports));
		s->n_ports = np;
		log_info("ports", "ports=%s discovered=true", np ? list : "none");
	}
}

/* Takes one connection sample and feeds it to the drain engine. */
static void sample(struct sup *s)
{
	size_t n = 0;
	int r;

	bool app_counts = app_has(s->app, APP_INFLIGHT);

	if (s->o->ports.n == 0 && s->d.phase == DRAIN_SERVING)
		discover_ports(s);
	if (app_has(s->app, APP_READY)) {
		s->app_ready = s->app_url_ready;
		if (s->d.phase == DRAIN_SERVING)
			app_call(s->app, APP_READY);
	} else {
		s->app_ready = s->n_ports > 0;
	}
	ready_file_set(s, api_ready(s));
	kapi_gate(s->kapi, api_ready(s));
	/* The app counts its own requests: ask it (the answer feeds the
	 * engine); the kernel's view still drives propagation. */
	if (app_counts && s->d.phase == DRAIN_DRAIN)
		app_call(s->app, APP_INFLIGHT);
	if (s->n_ports == 0) {
		/* Nothing serves: nothing to wait for, as far as we can see. */
		s->stats_valid = false;
		if (s->d.phase != DRAIN_SERVING && !app_counts)
			drain_apply(s, drain_inflight(&s->d, loop_now_ms(), 0));
		return;
	}
	r = conn_dump(1u << CONN_TCP_ESTABLISHED, s->ports, s->n_ports, s->cur, CONN_MAX, &n);
	if (r < 0) {
		if (!s->sample_failed_logged)
			log_warn("sample_failed", "error=%s", strerror(-r));
		s->sample_failed_logged = true;
		/* A failed sample is retried, never taken as "idle". */
		if (!app_counts)
			drain_apply(s, drain_inflight(&s->d, loop_now_ms(), -1));
		return;
	}
	conn_sort(s->cur, n);
	conn_compare(s->prev, s->have_prev ? s->n_prev : 0, s->cur, n, s->ports,
		     s->n_ports, &s->stats);
	bool fresh = s->have_prev && (s->stats.new_conns > 0 || s->stats.new_requests > 0);
	struct conn *t = s->prev;
	s->prev = s->cur;
	s->cur = t;
	s->n_prev = n;
	s->have_prev = true;
	s->stats_valid = true;
	if (s->d.phase == DRAIN_SERVING)
		return;
	int64_t now = loop_now_ms();
	unsigned act = drain_traffic(&s->d, now, fresh);
	if (!app_counts)
		act |= drain_inflight(&s->d, now, s->stats.busy);
	drain_apply(s, act);
}

/* An answer from one of the app's own endpoints. */
static void on_app(void *data, enum app_call call, int value)
{
	struct sup *s = data;

	switch (call) {
	case APP_READY:
		s->app_url_ready = value == 1;
		if (s->d.phase == DRAIN_SERVING)
			s->app_ready = s->app_url_ready;
		break;
	case APP_INFLIGHT:
		if (value >= 0)
			s->app_inflight = value;
		/* Only answers to requests sent while draining may end it. */
		if (s->d.phase == DRAIN_DRAIN)
			drain_apply(s, drain_inflight(&s->d, loop_now_ms(), value));
		break;
	default:
		break;
	}
}

/* In flight as reported: by the app when it counts, else by the kernel. */
static int inflight_now(const struct sup *s)
{
	if (app_has(s->app, APP_INFLIGHT))
		return s->app_inflight;
	return s->stats_valid ? s->stats.busy : -1;
}

static bool api_ready(void *data)
{
	struct sup *s = data;

	return s->d.phase == DRAIN_SERVING && s->app_ready && s->state == SUP_RUNNING;
}

static int api_phase(void *data)
{
	return (int)((struct sup *)data)->d.phase;
}

static void api_drain(void *data, const char *origin)
{
	trigger(data, origin);
}

static size_t api_status(void *data, char *buf, size_t size)
{
	struct sup *s = data;
	int64_t now = loop_now_ms();
	char ports[PORTS_MAX * 6 + 1] = "";
	char phases[256] = "";
	int n;

	for (size_t i = 0; i < s->n_ports; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%u",
			 i ? "," : "", s->ports[i]);
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES; p++) {
		if (s->d.at[p] < 0)
			continue;
		snprintf(phases + strlen(phases), sizeof(phases) - strlen(phases),
			 "%s\"%s\":%lld", phases[0] ? "," : "", drain_phase_name(p),
			 (long long)(s->d.at[p] - s->d.t0));
	}
	n = snprintf(buf, size,
		     "{\"phase\":\"%s\",\"ready\":%s,\"ms_since_t0\":%lld,"
		     "\"deadline_ms\":%lld,\"inflight\":%d,\"inflight_source\":\"%s\","
		     "\"connections\":%d,\"ports\":[%s],\"phases\":{%s},\"grace_ms\":%lld}\n",
		     drain_phase_name(s->d.phase), api_ready(s) ? "true" : "false",
		     since_t0(s, now),
		     s->d.t0 < 0 ? -1LL : (long long)(drain_kill_at(&s->d) - s->d.t0),
		     inflight_now(s), app_has(s->app, APP_INFLIGHT) ? "app" : "kernel",
		     s->stats_valid ? s->stats.established : -1, ports, phases,
		     (long long)s->d.b.grace_ms);
	return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
}

static size_t api_metrics(void *data, char *buf, size_t size)
{
	struct sup *s = data;
	size_t len = 0;

#define PUT(...)                                                                \
	do {                                                                    \
		int w_ = snprintf(buf + len, size - len, __VA_ARGS__);          \
		if (w_ > 0)                                                     \
			len = (size_t)w_ < size - len ? len + (size_t)w_ : size - 1; \
	} while (0)
	PUT("# HELP lastcall_phase The drain phase lastcall is in (1 for the current one).\n"
	    "# TYPE lastcall_phase gauge\n");
	for (int p = 0; p < DRAIN_PHASES; p++)
		PUT("lastcall_phase{phase=\"%s\"} %d\n", drain_phase_name(p),
		    p == (int)s->d.phase);
	PUT("# HELP lastcall_phase_start_seconds When each phase began, seconds after the drain started.\n"
	    "# TYPE lastcall_phase_start_seconds gauge\n");
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES; p++) {
		if (s->d.at[p] >= 0)
			PUT("lastcall_phase_start_seconds{phase=\"%s\"} %.3f\n",
			    drain_phase_name(p), (double)(s->d.at[p] - s->d.t0) / 1000.0);
	}
	PUT("# HELP lastcall_ready Whether /readyz answers 200.\n"
	    "# TYPE lastcall_ready gauge\nlastcall_ready %d\n", api_ready(s));
	PUT("# HELP lastcall_inflight_requests Requests in flight (from the app, or serving connections busy).\n"
	    "# TYPE lastcall_inflight_requests gauge\nlastcall_inflight_requests %d\n",
	    inflight_now(s) < 0 ? 0 : inflight_now(s));
	PUT("# HELP lastcall_open_connections Established connections on the serving ports.\n"
	    "# TYPE lastcall_open_connections gauge\nlastcall_open_connections %d\n",
	    s->stats_valid ? s->stats.established : 0);
#undef PUT
	return len;
}

static const struct httpd_ops sup_httpd_ops = {
	.ready = api_ready,
	.status = api_status,
	.metrics = api_metrics,
	.drain = api_drain,
	.phase = api_phase,
};

/* A signal to a sidecar or a hook: never forwarded (the app is not our
 * child); a --drain-on signal starts the drain, or ends a sidecar whose
 * app is already gone (a native sidecar's SIGTERM comes after the app's
 * exit); TERM, INT or HUP interrupt a hook. */
static void adopted_signal(struct sup *s, int sig)
{
	char name[SIG_NAME_MAX], origin[SIG_NAME_MAX + 8];

	sig_name(sig, name);
	if (s->mode == SUP_MODE_HOOK) {
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			log_warn("interrupted", "signal=%s ms=%lld", name,
				 since_t0(s, loop_now_ms()));
			finish_with(s, 1);
		}
		return;
	}
	if (!s->o->drain_on[sig]) {
		/* --drain-on none: a sidecar that only serves probes stops. */
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping", "signal=%s drain=off", name);
			finish_with(s, 0);
		} else {
			log_debug("signal_ignored", "signal=%s", name);
		}
		return;
	}
	if (s->state != SUP_RUNNING && s->d.phase == DRAIN_SERVING) {
		log_info("app_gone", "signal=%s", name);
		finish_with(s, 0);
		return;
	}
	snprintf(origin, sizeof(origin), "signal:%s", name);
	trigger(s, origin);
}

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct sup *s = data;
	struct signalfd_siginfo si[16];
	bool reap_pending = false;

	(void)l;
	(void)events;
	if (s->state == SUP_DONE) {
		/* Exiting (the last Events, --on-exit-url): nothing is left to
		 * signal or reap; read them so the loop does not spin. */
		while (read(fd, si, sizeof(si)) > 0)
			;
		return;
	}
	/* Level-triggered: what a bounded batch leaves comes back next pass. */
	for (int pass = 0; pass < SIG_READ_BATCH / 16; pass++) {
		ssize_t n = read(fd, si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			int sig = (int)si[i].ssi_signo;
			switch (sig_policy(sig)) {
			case SIG_POLICY_REAP:
				reap_pending = true;
				break;
			case SIG_POLICY_FORWARD:
				if (s->mode != SUP_MODE_RUN) {
					adopted_signal(s, sig);
				} else if (s->draining_enabled && s->o->drain_on[sig] &&
				    s->state == SUP_RUNNING) {
					char name[SIG_NAME_MAX], origin[SIG_NAME_MAX + 8];
					snprintf(origin, sizeof(origin), "signal:%s",
						 sig_name(sig, name));
					trigger(s, origin);
				} else {
					forward(s, sig);
				}
				break;
			default:
				break;
			}
		}
	}
	if (reap_pending && s->mode != SUP_MODE_RUN) {
		/* Nothing of ours runs; reap whatever a helper left. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	} else if (reap_pending) {
		bool was_running = s->state == SUP_RUNNING;
		bool left = reap(s);
		after_reap(s, left, was_running && s->state != SUP_RUNNING);
	}
}

/* The loop broke (it cannot in practice): wait for the children, blocking. */
static void degrade_wait(struct sup *s)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, 0)) != -1 || errno == EINTR) {
		if (pid == s->child)
			s->child_code = status_from_wait(st);
	}
}

/* ---- the Kubernetes API and --on-exit-url ---- */

static void on_gate_done(void *data, bool status, long http)
{
	struct sup *s = data;
	int64_t now = loop_now_ms();

	/* Failures are logged by kapi, once per streak. */
	if (http >= 200 && http < 300)
		log_info("readiness_gate", "type=%s status=%s ms=%lld", s->o->kube.gate,
			 status ? "True" : "False", since_t0(s, now));
}

/* The own pod, read at T0: its deletion grace period may be shorter. */
static void on_pod(void *data, const struct kapi_pod *pod)
{
	struct sup *s = data;
	struct drain_budget in = s->o->budget, fitted;
	int64_t now = loop_now_ms(), pod_ms;
	char why[512];
	unsigned act;

	if (s->d.t0 < 0 || s->state == SUP_DONE)
		return;
	if (!pod) {
		/* Once more: one blip at T0 must not cost the real deadline. */
		if (!s->pod_retried) {
			s->pod_retried = true;
			kapi_get_pod(s->kapi);
		}
		return;
	}
	if (!pod->deleting || pod->deletion_grace_s < 0) {
		/* A probe kill, an eviction without API deletion: ours holds. */
		log_info("pod_grace", "deleting=%s grace_ms=%lld ms=%lld",
			 pod->deleting ? "true" : "false", (long long)s->d.b.grace_ms,
			 since_t0(s, now));
		return;
	}
	/* Kubernetes never gives less than 1 s. */
	pod_ms = (pod->deletion_grace_s < 1 ? 1 : pod->deletion_grace_s) * 1000;
	if (pod_ms >= s->d.b.grace_ms) {
		log_info("pod_grace", "deleting=true pod_ms=%lld grace_ms=%lld ms=%lld",
			 (long long)pod_ms, (long long)s->d.b.grace_ms, since_t0(s, now));
		return;
	}
	in.grace_ms = pod_ms;
	drain_budget_fit(&in, &fitted, why, sizeof(why));
	act = drain_refit(&s->d, now, &fitted);
	log_warn("grace_shortened", "flag_ms=%lld pod_ms=%lld deadline_ms=%lld stop_by_ms=%lld ms=%lld",
		 (long long)s->o->budget.grace_ms, (long long)pod_ms,
		 (long long)(drain_kill_at(&s->d) - s->d.t0),
		 (long long)(drain_stop_at(&s->d) - s->d.t0), since_t0(s, now));
	log_info("budget_compressed", "detail=%s", why);
	/* Also re-arms the drain timer for the new deadlines. */
	drain_apply(s, act);
}

static const struct kapi_ops sup_kapi_ops = {
	.gate_done = on_gate_done,
	.pod = on_pod,
};

static int kube_setup(struct sup *s)
{
	const struct kapi_config *c = &s->o->kube;
	char err[512];
	int r;

	if (!c->pod_name)
		return 0;
	r = kapi_new(s->loop, s->fetch, c, &sup_kapi_ops, s, &s->kapi, err, sizeof(err));
	if (r < 0 && (c->gate || c->events)) {
		log_error("start_failed", "what=kube_api error=\"%s\"", err);
		return r;
	}
	if (r < 0) {
		/* Only the deadline lookup was asked for: go on without it. */
		log_warn("kube_api_off", "error=\"%s\"", err);
		return 0;
	}
	log_info("kube_api", "pod=%s gate=%s events=%s timeout_ms=%lld", c->pod_name,
		 c->gate ? c->gate : "none", c->events ? "true" : "false",
		 (long long)c->timeout_ms);
	/* The uid is the patches' precondition and the Events' target. */
	if (!c->pod_uid)
		kapi_get_pod(s->kapi);
	return 0;
}

struct exit_call {
	struct sup *s;
	const struct fetch_target *t;
};

static void on_exit_done(void *data, const struct fetch_result *r)
{
	struct exit_call *c = data;
	const char *url = c->t->url;

	c->s->on_exit_pending--;
	if (r->status >= 200 && r->status < 300)
		log_info("on_exit_url", "url=%s status=%ld took_ms=%lld", url, r->status,
			 (long long)r->ms);
	else if (r->status)
		log_warn("on_exit_url_failed", "url=%s status=%ld took_ms=%lld", url, r->status,
			 (long long)r->ms);
	else
		log_warn("on_exit_url_failed", "url=%s error=\"%s\" took_ms=%lld", url, r->error,
			 (long long)r->ms);
}

/* What is worth waiting for at exit: the --on-exit-url calls, and the
 * last Events unless posting Events fails (then they would only time
 * out). Not a gate patch: the pod is going. */
static bool flush_pending(const struct sup *s)
{
	return s->on_exit_pending > 0 || kapi_events_waiting(s->kapi) > 0;
}

static void on_flush_timer(struct loop *l, void *data)
{
	struct sup *s = data;

	s->flush_timer = 0;
	if (!flush_pending(s) || loop_now_ms() >= s->flush_until)
		loop_stop(l);
	else
		loop_timer_add(l, loop_now_ms() + 10, on_flush_timer, s, &s->flush_timer);
}

/*
 * The app is gone: POST the --on-exit-url (a mesh proxy may go now) and
 * give what is still being sent a little time: at most EXIT_FLUSH_MAX_MS
 * (or the --app-timeout of the exit calls), never past the grace period.
 * Not in a hook: the kubelet waits for it to stop the app.
 */
static void sup_flush(struct sup *s)
{
	struct exit_call calls[ON_EXIT_URLS_MAX];
	int64_t now = loop_now_ms(), end;

	if (!s->fetch || s->mode == SUP_MODE_HOOK)
		return;
	s->flush_until = now + EXIT_FLUSH_MAX_MS;
	if (s->o->on_exit.n && now + s->o->app.timeout_ms > s->flush_until)
		s->flush_until = now + s->o->app.timeout_ms;
	if (s->d.t0 >= 0) {
		/* The kubelet's SIGKILL comes at T0 + grace: be gone before. */
		end = s->d.t0 + s->d.b.grace_ms - s->d.b.kill_margin_ms / 2;
		if (end < s->flush_until)
			s->flush_until = end;
	}
	for (size_t i = 0; i < s->o->on_exit.n; i++) {
		const char *url = s->o->on_exit.v[i].url;
		int r = 0;

		calls[i] = (struct exit_call){ .s = s, .t = &s->o->on_exit.v[i] };
		if (s->target_left) {
			/* A sidecar told to stop while its app runs: the proxy
			 * must stay for the app. */
			log_info("on_exit_url_skipped", "url=%s reason=app_running", url);
			continue;
		}
		if (s->flush_until <= now)
			r = -ETIME;
		else
			r = fetch_start(s->fetch, calls[i].t, "POST", NULL,
					s->flush_until - now < s->o->app.timeout_ms
						? s->flush_until - now : s->o->app.timeout_ms,
					on_exit_done, &calls[i]);
		if (r < 0)
			log_warn("on_exit_url_failed", "url=%s error=\"%s\"", url,
				 r == -ETIME ? "no time left in the grace period" : strerror(-r));
		else
			s->on_exit_pending++;
	}
	if (flush_pending(s) && s->flush_until > now &&
	    loop_timer_add(s->loop, now + 10, on_flush_timer, s, &s->flush_timer) == 0)
		loop_run(s->loop);
	/* calls[] goes out of scope: nothing may call back into it. */
	if (s->on_exit_pending)
		log_warn("on_exit_url_failed", "count=%zu error=\"no answer before the exit\"",
			 s->on_exit_pending);
	fetch_free(s->fetch);
	s->fetch = NULL;
}

/* Sets up what the drain engine needs before the child starts. */
static int drain_setup(struct sup *s)
{
	const struct sup_opts *o = s->o;
	struct drain_budget fitted;
	char why[512], err[256];
	int r;

	for (int sig = 1; sig <= SIG_MAX; sig++)
		s->draining_enabled |= o->drain_on[sig];
	/* A hook exists to drain. */
	s->draining_enabled |= s->mode == SUP_MODE_HOOK;
	if (drain_budget_fit(&o->budget, &fitted, why, sizeof(why)))
		log_warn("budget_compressed", "detail=%s", why);
	drain_init(&s->d, &fitted);
	memcpy(s->ports, o->ports.v, sizeof(s->ports));
	s->n_ports = o->ports.n;
	s->seek_ms = o->sample_ms;
	s->app_inflight = -1;
	if (o->ready_file) {
		/* A hook finds the app ready: it removes the file at T0. Others
		 * start not ready: a file left by the last run must go. */
		s->ready_file_on = true;
		if (s->mode != SUP_MODE_HOOK)
			ready_file_set(s, false);
	}
	bool app_urls = o->app.url[APP_READY] || o->app.url[APP_DRAIN] || o->app.url[APP_INFLIGHT];
	if (app_urls || o->kube.pod_name || o->on_exit.n) {
		r = fetch_new(s->loop, &s->fetch);
		if (r < 0) {
			log_error("start_failed", "what=http_client error=%s", strerror(-r));
			return r;
		}
	}
	if (app_urls) {
		r = app_new(s->fetch, &o->app, on_app, s, &s->app, err, sizeof(err));
		if (r < 0) {
			log_error("start_failed", "what=app_urls error=%s", err);
			return r;
		}
	}
	r = kube_setup(s);
	if (r < 0)
		return r;
	/* Nothing samples connections without a drain, endpoints or a gate
	 * (next to an app, the sample timer always runs: it watches it). */
	if (s->mode == SUP_MODE_RUN && !s->draining_enabled && !o->listen && !o->control &&
	    !o->kube.gate)
		return 0;
	s->prev = calloc(CONN_MAX, sizeof(*s->prev));
	s->cur = calloc(CONN_MAX, sizeof(*s->cur));
	if (!s->prev || !s->cur)
		return -ENOMEM;
	if (o->listen || o->control) {
		r = httpd_new(s->loop, o->listen, o->control, &o->allow, &sup_httpd_ops, s,
			      &s->httpd, err, sizeof(err));
		if (r < 0) {
			log_error("start_failed", "what=endpoints error=%s", err);
			return r;
		}
		log_info("endpoints", "listen=%s port=%d control=%s",
			 o->listen ? o->listen : "none", httpd_port(s->httpd),
			 o->control ? o->control : "none");
	}
	return 0;
}

/*
 * The termination message: one JSON line that `kubectl describe pod`
 * shows. The default path is only written when it exists (Kubernetes
 * mounts it); a path given on purpose is created.
 */
static void write_termination_log(struct sup *s, int code, int app_code)
{
	const char *path = s->o->termination_log;
	struct kapi_summary sum = {
		.drained = s->d.t0 >= 0,
		.forced_kill = s->forced_kill,
		.inflight_left = s->d.t0 >= 0 ? inflight_now(s) : -1,
		.app_code = app_code,
		.exit_code = code,
	};
	char buf[TERMINATION_MSG_MAX];
	int flags = O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY, fd, n;

	if (!path)
		return;
	for (int p = DRAIN_UNREADY; p < DRAIN_PHASES && sum.n_phases < KAPI_PHASES_MAX; p++) {
		sum.phase_names[sum.n_phases] = drain_phase_name(p);
		sum.phase_ms[sum.n_phases++] = s->d.at[p] >= 0 ? s->d.at[p] - s->d.t0 : -1;
	}
	n = kapi_summary_json(buf, sizeof(buf) - 1, &sum);
	if (n < 0)
		return;
	buf[n++] = '\n';
	if (strcmp(path, SUP_TERMINATION_LOG) != 0)
		flags |= O_CREAT;
	fd = open(path, flags, 0644);
	if (fd < 0) {
		if (errno != ENOENT || (flags & O_CREAT))
			log_warn("termination_log_failed", "path=%s error=%s", path, strerror(errno));
		return;
	}
	if (write(fd, buf, (size_t)n) != n)
		log_warn("termination_log_failed", "path=%s error=%s", path, strerror(errno));
	close(fd);
}

/* The signalfd, the loop and the drain engine: everything before the app. */
static int sup_open(struct sup *s)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		enum sig_policy p = sig_policy(sig);
		if (p == SIG_POLICY_FORWARD || p == SIG_POLICY_REAP || p == SIG_POLICY_RESERVED)
			sig_set_add(&mask, sig);
	}
	s->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sfd < 0) {
		log_error("start_failed", "what=signalfd error=%s", strerror(errno));
		return -errno;
	}
	r = loop_new(&s->loop);
	if (r == 0)
		r = loop_add(s->loop, s->sfd, EPOLLIN, on_signalfd, s);
	if (r < 0) {
		log_error("start_failed", "what=event_loop error=%s", strerror(-r));
		return r;
	}
	return drain_setup(s);
}

static void sup_close(struct sup *s)
{
	httpd_free(s->httpd);
	fetch_free(s->fetch);
	app_free(s->app);
	kapi_free(s->kapi);
	free(s->prev);
	free(s->cur);
	if (s->pidfd >= 0)
		close(s->pidfd);
	loop_free(s->loop);
	if (s->sfd >= 0)
		close(s->sfd);
}

int sup_run(const struct sup_opts *o, char *const argv[],
	    const sigset_t *orig_mask)
{
	struct sup s = { .o = o, .mode = SUP_MODE_RUN, .sfd = -1, .pidfd = -1,
			 .state = SUP_RUNNING };
	char cmd[256];
	int r, code;

	join_argv(argv, cmd, sizeof(cmd));
	/* Not PID 1: orphans would go to the real init; make them ours. */
	bool pid1 = getpid() == 1;
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("subreaper_failed", "error=%s", strerror(errno));

	if (sup_open(&s) < 0) {
		code = STATUS_LASTCALL_FAILED;
		goto out;
	}

	r = spawn_child(argv, orig_mask, &s.child);
	if (r < 0) {
		code = r == -ENOENT || r == -ENOTDIR ? STATUS_NOT_FOUND
						      : STATUS_NOT_EXECUTABLE;
		log_error("exec_failed", "cmd=%s error=%s code=%d", argv[0],
			  strerror(-r), code);
		goto out;
	}

	/*
	 * From now on we must not die: the child runs, and everything it
	 * started is ours to reap. Every error below is logged and survived.
	 */
	s.pidfd = (int)syscall(SYS_pidfd_open, s.child, 0);
	log_info("started", "pid=%d cmd=%s mode=%s target=%s drain=%s grace_ms=%lld",
		 s.child, cmd, pid1 ? "pid1" : "subreaper",
		 o->target == SUP_TARGET_CHILD ? "child" : "group",
		 s.draining_enabled ? "on" : "off", (long long)s.d.b.grace_ms);
	/* Sampling finds the app ready: the drain, the probes and the gate
	 * condition need it. */
	if (s.draining_enabled || s.httpd || o->kube.gate)
		loop_timer_add(s.loop, loop_now_ms(), on_sample_timer, &s, &s.sample_timer);

	r = loop_run(s.loop);
	if (r < 0) {
		log_error("loop_failed", "error=%s", strerror(-r));
		degrade_wait(&s);
	}
	code = status_map_apply(&o->exit_map, s.child_code);
	write_termination_log(&s, code, s.child_code);
	sup_flush(&s);
	log_info("exiting", "code=%d child_code=%d ms=%lld", code, s.child_code,
		 since_t0(&s, loop_now_ms()));
out:
	sup_close(&s);
	return code;
}

int sup_adopt(const struct sup_opts *o, enum sup_mode mode)
{
	struct sup s = { .o = o, .mode = mode, .sfd = -1, .pidfd = -1,
			 .state = SUP_SEEKING };
	char sig[SIG_NAME_MAX];
	int r;

	if (sup_open(&s) < 0) {
		sup_close(&s);
		return STATUS_LASTCALL_FAILED;
	}
	seek_target(&s);
	log_info("started", "mode=%s target=%s stop_signal=%s drain=%s grace_ms=%lld",
		 mode == SUP_MODE_HOOK ? "hook" : "sidecar",
		 o->pid_file ? o->pid_file : o->target_process ? o->target_process : "none",
		 o->stop_signal ? sig_name(o->stop_signal, sig) : "none",
		 s.draining_enabled ? "on" : "off", (long long)s.d.b.grace_ms);
	loop_timer_add(s.loop, loop_now_ms(), on_sample_timer, &s, &s.sample_timer);
	if (mode == SUP_MODE_HOOK)
		trigger(&s, "prestop:standalone");

	r = loop_run(s.loop);
	if (r < 0) {
		log_error("loop_failed", "error=%s", strerror(-r));
		s.exit_code = STATUS_LASTCALL_FAILED;
	}
	if (mode == SUP_MODE_SIDECAR)
		write_termination_log(&s, s.exit_code, -1);
	sup_flush(&s);
	log_info("exiting", "code=%d ms=%lld", s.exit_code, since_t0(&s, loop_now_ms()));
	sup_close(&s);
	return s.exit_code;
}
