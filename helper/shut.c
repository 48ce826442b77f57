/* shut.c - see shut.h.
 *
 * Every event funnels into apply(), which carries out what the drain
 * engine asked for, in order: log each phase passed, readiness off, the
 * stop, the kill; then re-arms the one drain timer for the engine's next
 * deadline. The sample timer feeds the engine traffic and in-flight
 * samples until the stop; from then on the owner watches the app's exit.
 */
#include "shut.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "fetch.h"
#include "httpd.h"
#include "idle.h"
#include "kapi.h"
#include "limits.h"
#include "log.h"
#include "loop.h"
#include "ready.h"
#include "report.h"
#include "sample.h"

struct shut {
	struct loop *loop;
	const struct sup_opts *o;
	struct shut_role role;
	const struct shut_ops *ops;
	void *data;
	bool ended; /* shut_end: nothing fires any more */

	struct drain d;
	enum drain_phase logged; /* the last phase logged */
	int drain_timer;
	int sample_timer;
	bool by_hook;	/* the drain was started by a preStop hook */
	bool signalled; /* ...and the kubelet's stop signal came since */
	bool held;	/* the stop signal waits for the kubelet's */
	int64_t hold_until;
	int hold_timer;
	int64_t seek_ms; /* sampling interval while the app is not ready */
	bool forced_kill;
	long long late_requests; /* on connections open before, since T0 */
	long long closed_idle;	 /* connections closed for the app */
	bool idle_refused;	 /* ...until the kernel said no */
	int64_t last_sample_at;	 /* the last dump compared, -1 */
	int64_t sample_gap;	 /* ms between it and the one before */

	struct sample *smp; /* NULL when the role samples nothing */
	bool sample_failed_logged;
	bool truncated_logged;
	bool ports_denied_logged;
	struct ready ready;

	struct fetch *fetch; /* outgoing HTTP: app URLs, API, exit URLs */
	struct app *app;
	bool app_url_ready; /* the last --app-ready-url answer */
	int app_inflight;   /* the last --app-inflight-url answer, -1 none */
	struct kapi *kapi;
	bool pod_retried; /* the T0 read of the pod was tried again */
	bool spec_read;	  /* the pod's spec grace was taken */
	struct httpd *httpd;
};

/* ---- the roles: pure ---- */

struct shut_role shut_role_for(enum sup_mode mode, const struct sup_opts *o)
{
	struct shut_role r = { 0 };
	bool hook = mode == SUP_MODE_HOOK;

	for (int sig = 1; sig <= SIG_MAX; sig++)
		r.drains |= o->drain_on[sig];
	/* A hook exists to drain. */
	r.drains |= hook;
	/* Next to an app, readiness follows it; a run samples only for what
	 * needs it (a drain, the probes, the gate). */
	r.sampled = mode != SUP_MODE_RUN || r.drains || o->listen || o->control || o->kube.gate;
	r.stop_returns = hook && o->stop_signal == 0;
	r.stop_needs_app = hook;
	r.kill_ours = !hook;
	r.ready_at_start = hook;
	r.report = !hook;
	r.hold_stop = mode == SUP_MODE_RUN;
	return r;
}

enum shut_sig shut_signal_action(enum sup_mode mode, int sig, bool drain_on, bool app_there,
				 enum drain_phase phase)
{
	switch (mode) {
	case SUP_MODE_RUN:
		return drain_on && app_there ? SHUT_SIG_DRAIN : SHUT_SIG_FORWARD;
	case SUP_MODE_SIDECAR:
		/* Never forwarded: the app is not our child. */
		if (!drain_on)
			return sig == SIGTERM || sig == SIGINT ? SHUT_SIG_END : SHUT_SIG_IGNORE;
		/* A native sidecar's SIGTERM comes after the app exited. */
		if (!app_there && phase == DRAIN_SERVING)
			return SHUT_SIG_END;
		return SHUT_SIG_DRAIN;
	case SUP_MODE_HOOK:
	default:
		return sig == SIGTERM || sig == SIGINT || sig == SIGHUP ? SHUT_SIG_INTERRUPT
									: SHUT_SIG_IGNORE;
	}
}

/* ---- what the shell knows ---- */

long long shut_ms(const struct shut *sh, int64_t now)
{
	return (long long)drain_since_t0(&sh->d, now);
}

bool shut_drains(const struct shut *sh)
{
	return sh->role.drains;
}

enum drain_phase shut_phase(const struct shut *sh)
{
	return drain_phase_now(&sh->d);
}

int64_t shut_kill_at(const struct shut *sh)
{
	return drain_kill_at(&sh->d);
}

int64_t shut_grace_ms(const struct shut *sh)
{
	return drain_budget(&sh->d)->grace_ms;
}

static size_t n_ports(const struct shut *sh)
{
	const uint16_t *p;

	return sh->smp ? sample_ports(sh->smp, &p) : 0;
}

static bool app_ready(const struct shut *sh)
{
	return ready_app(app_has(sh->app, APP_READY), sh->app_url_ready, n_ports(sh));
}

static bool is_ready(const struct shut *sh)
{
	return ready_is(drain_phase_now(&sh->d), app_ready(sh), sh->ops->running(sh->data));
}

/* In flight as reported: by the app when it counts, else by the kernel. */
static int inflight_now(const struct shut *sh)
{
	const struct conn_stats *st = sample_stats(sh->smp);

	if (app_has(sh->app, APP_INFLIGHT))
		return sh->app_inflight;
	return st ? st->busy : -1;
}

static void snapshot(const struct shut *sh, struct report *r)
{
	const struct conn_stats *st = sample_stats(sh->smp);
	int64_t now = loop_now_ms();

	memset(r, 0, sizeof(*r));
	r->phase = drain_phase_now(&sh->d);
	r->ready = is_ready(sh);
	r->since_t0 = drain_since_t0(&sh->d, now);
	r->deadline_ms = drain_t0(&sh->d) < 0 ? -1 : drain_kill_at(&sh->d) - drain_t0(&sh->d);
	for (int p = 0; p < DRAIN_PHASES; p++)
		r->phase_ms[p] = drain_phase_ms(&sh->d, (enum drain_phase)p);
	r->grace_ms = drain_budget(&sh->d)->grace_ms;
	r->inflight = inflight_now(sh);
	r->inflight_app = app_has(sh->app, APP_INFLIGHT);
	r->connections = st ? st->established : -1;
	r->connections_dropped = sh->smp ? sample_dropped(sh->smp) : 0;
	r->n_ports = sh->smp ? sample_ports(sh->smp, &r->ports) : 0;
	r->forced_kill = sh->forced_kill;
	r->pinned_ms = drain_pinned_ms(&sh->d);
	r->late_requests = sh->late_requests;
	r->closed_idle = sh->closed_idle;
}

/* ---- the engine's actions ---- */

static void on_drain_timer(struct loop *l, void *data);

static void log_phase(struct shut *sh, enum drain_phase p)
{
	const struct drain_budget *b = drain_budget(&sh->d);
	const struct conn_stats *st = sample_stats(sh->smp);
	long long ms = (long long)drain_phase_ms(&sh->d, p);
	int inflight = inflight_now(sh);

	switch (p) {
	case DRAIN_UNREADY:
		log_info("phase", "phase=unready ms=%lld deadline_ms=%lld stop_by_ms=%lld", ms,
			 (long long)(drain_kill_at(&sh->d) - drain_t0(&sh->d)),
			 (long long)(drain_stop_at(&sh->d) - drain_t0(&sh->d)));
		break;
	case DRAIN_PROPAGATE:
		log_info("phase",
			 "phase=propagate ms=%lld min_delay_ms=%lld quiet_ms=%lld max_delay_ms=%lld",
			 ms, (long long)b->min_delay_ms, (long long)b->quiet_ms,
			 (long long)b->max_delay_ms);
		break;
	case DRAIN_DRAIN:
		log_info("phase", "phase=drain ms=%lld inflight=%d connections=%d source=%s", ms,
			 inflight, st ? st->established : -1,
			 app_has(sh->app, APP_INFLIGHT) ? "app" : "kernel");
		kapi_event(sh->kapi, "TrafficQuiet", false,
			   "no new traffic reaches the app at %lld ms; %d requests in flight", ms,
			   inflight);
		break;
	case DRAIN_STOP:
		if (drain_pinned_ms(&sh->d) >= 0) {
			/* Say why the stop comes early, once: users should learn
			 * why a pod of theirs drains the way it does. */
			log_info("pinned",
				 "connections=%d late_requests=%lld ms=%lld action=stop hint=%s",
				 st ? st->established : -1, sh->late_requests, ms,
				 "keep-alive clients stay on their connections to this pod "
				 "(Services keep conntrack entries); only the app closing them "
				 "ends that traffic");
			kapi_event(sh->kapi, "PinnedTraffic", false,
				   "only keep-alive connections pinned to this pod still send "
				   "requests (%d open, no new one): stop signal at %lld ms so the "
				   "app closes them",
				   st ? st->established : -1, ms);
		}
		log_info("phase", "phase=stop ms=%lld inflight=%d reason=%s", ms, inflight,
			 !sh->ops->running(sh->data)	? "app_exited"
			 : drain_pinned_ms(&sh->d) >= 0 ? "pinned"
			 : inflight > 0			? "window_over"
							: "drained");
		kapi_event(sh->kapi, "Drained", inflight > 0, "%s at %lld ms",
			   inflight > 0 ? "drain window over with requests in flight"
					: "no request in flight",
			   ms);
		break;
	case DRAIN_KILL:
		log_warn("phase", "phase=kill ms=%lld forced=true", ms);
		break;
	default:
		log_info("phase", "phase=%s ms=%lld", drain_phase_name(p), ms);
		break;
	}
}

static void stop(struct shut *sh, int64_t now)
{
	char name[SIG_NAME_MAX];
	pid_t pid = 0;
	const char *target = sh->ops->target(sh->data, &pid);
	int r;

	sig_name(sh->o->stop_signal, name);
	log_info("stop_signal_sent", "signal=%s target=%s pid=%d ms=%lld", name, target, (int)pid,
		 shut_ms(sh, now));
	r = sh->ops->stop(sh->data, sh->o->stop_signal);
	if (r < 0)
		log_warn("stop_signal_failed", "signal=%s target=%s pid=%d error=%s", name, target,
			 (int)pid, strerror(-r));
	kapi_event(sh->kapi, "StopSignalSent", r < 0, "%s to the app (pid %d) at %lld ms%s", name,
		   (int)pid, shut_ms(sh, now), r < 0 ? ", not delivered" : "");
	if (sh->ops->stopped)
		sh->ops->stopped(sh->data);
}

static void release(struct shut *sh, const char *by)
{
	int64_t now = loop_now_ms();

	loop_timer_cancel(sh->loop, sh->hold_timer);
	sh->hold_timer = 0;
	if (!sh->held)
		return;
	sh->held = false;
	log_info("stop_released", "by=%s ms=%lld", by, shut_ms(sh, now));
	if (sh->ops->running(sh->data))
		stop(sh, now);
}

static void on_hold_timer(struct loop *l, void *data)
{
	struct shut *sh = data;

	(void)l;
	sh->hold_timer = 0;
	release(sh, "deadline");
}

/*
 * Drained, and a preStop hook started the drain: the hook returns now and
 * the kubelet sends the stop signal right after. Sending ours at once
 * would race it: PID 1's exit kills the hook (FailedPreStopHook, and the
 * hook's last lines lost). Wait for the kubelet's, until the stop-by
 * deadline, or STOP_HOLD_MS when that has passed, never past the kill.
 */
static void hold(struct shut *sh, int64_t now)
{
	int64_t until = drain_stop_at(&sh->d);

	if (until < now + STOP_HOLD_MS)
		until = now + STOP_HOLD_MS;
	sh->held = true;
	sh->hold_until = until;
	log_info("stop_held", "reason=prestop_hook until_ms=%lld ms=%lld",
		 (long long)(until - drain_t0(&sh->d)), shut_ms(sh, now));
}

/* (Re-)arms the hold's timer: never past the kill, which a shorter grace
 * learnt meanwhile may have moved. */
static void hold_arm(struct shut *sh)
{
	int64_t until = sh->hold_until;

	if (!sh->held)
		return;
	/* Just before the kill: the app gets its stop signal first. */
	if (until > drain_kill_at(&sh->d) - 1)
		until = drain_kill_at(&sh->d) - 1;
	loop_timer_cancel(sh->loop, sh->hold_timer);
	sh->hold_timer = 0;
	if (loop_timer_add(sh->loop, until, on_hold_timer, sh, &sh->hold_timer) < 0)
		release(sh, "timer_failed");
}

void shut_signalled(struct shut *sh, const char *origin)
{
	if (drain_phase_now(&sh->d) == DRAIN_SERVING)
		return;
	sh->signalled = true;
	if (!sh->held)
		return;
	/* The kubelet's stop signal reached the app (forwarded: not one of
	 * --drain-on, say nginx's QUIT): ours would only come on top. */
	loop_timer_cancel(sh->loop, sh->hold_timer);
	sh->hold_timer = 0;
	sh->held = false;
	log_info("stop_released", "by=%s ms=%lld", origin, shut_ms(sh, loop_now_ms()));
}

/* The shell is done: the owner ends its loop with code. */
static void done(struct shut *sh, int code)
{
	shut_end(sh);
	sh->ops->done(sh->data, code);
}

/* Killed after the pinned verdict: name the cause, the app kept the
 * connections its clients are pinned to. */
static void pinned_left(struct shut *sh, int64_t now)
{
	const struct conn_stats *st = sample_stats(sh->smp);
	const char *fix =
		sh->o->close_idle
			? "close-idle could not catch them idle: answer Connection: close "
			  "once stopping"
			: "answer Connection: close once stopping, or run with --close-idle";

	log_warn("pinned_left", "connections=%d late_requests=%lld ms=%lld hint=%s",
		 st ? st->established : -1, sh->late_requests, shut_ms(sh, now), fix);
	kapi_event(sh->kapi, "PinnedConnections", true,
		   "killed with %d keep-alive connections still open: the app did not close "
		   "the connections its clients are pinned to; %s",
		   st ? st->established : -1, fix);
}

/* Carries out what the drain engine asked for. */
static void apply(struct shut *sh, unsigned act)
{
	int64_t now = loop_now_ms();

	if (sh->ended)
		return;
	if (act & DRAIN_ACT_PHASE) {
		/* Several phases can pass in one step: log each once, in order. */
		for (int p = (int)sh->logged + 1; p <= (int)drain_phase_now(&sh->d); p++) {
			if (drain_phase_ms(&sh->d, (enum drain_phase)p) >= 0)
				log_phase(sh, (enum drain_phase)p);
		}
		sh->logged = drain_phase_now(&sh->d);
		httpd_notify(sh->httpd);
	}
	if (act & DRAIN_ACT_UNREADY) {
		/* Out of every load balancer's rotation first, before any delay. */
		ready_set(&sh->ready, false);
		app_call(sh->app, APP_DRAIN);
	}
	if (act & DRAIN_ACT_STOP) {
		/* Nothing left to learn from the slices. */
		kapi_unwatch_slices(sh->kapi);
		if (sh->role.stop_returns) {
			/* The kubelet sends the stop signal once the hook returns. */
			log_info("drained", "ms=%lld", shut_ms(sh, now));
			done(sh, 0);
			return;
		}
		if (sh->ops->running(sh->data)) {
			if (sh->role.hold_stop && sh->by_hook && !sh->signalled)
				hold(sh, now);
			else
				stop(sh, now);
		} else if (sh->role.stop_needs_app) {
			log_error("stop_signal_failed", "error=no_target ms=%lld",
				  shut_ms(sh, now));
			done(sh, 1);
			return;
		}
	}
	if (act & DRAIN_ACT_KILL) {
		if (!sh->role.kill_ours) {
			/* Not ours to SIGKILL: the kubelet does, after the stop signal. */
			log_warn("budget_exhausted", "ms=%lld", shut_ms(sh, now));
			done(sh, 1);
			return;
		}
		/* Too late for a stop signal now. */
		sh->held = false;
		loop_timer_cancel(sh->loop, sh->hold_timer);
		sh->hold_timer = 0;
		size_t n = sh->ops->kill(sh->data);
		log_warn("forced_kill", "count=%zu ms=%lld", n, shut_ms(sh, now));
		kapi_event(sh->kapi, "ForcedKill", true,
			   "%zu processes SIGKILLed at %lld ms, %lld ms before the grace period ends",
			   n, shut_ms(sh, now), (long long)drain_budget(&sh->d)->kill_margin_ms);
		sh->forced_kill = true;
		if (drain_pinned_ms(&sh->d) >= 0)
			pinned_left(sh, now);
	}
	/* One timer, at the engine's next deadline (and the hold's, which the
	 * kill bounds); three of the loop's LOOP_TIMERS_MAX slots at most are
	 * the shell's (these and the sample timer), each cancelled before it
	 * is set again. */
	loop_timer_cancel(sh->loop, sh->drain_timer);
	sh->drain_timer = 0;
	int64_t next = drain_next_deadline(&sh->d);
	if (next >= 0 && loop_timer_add(sh->loop, next, on_drain_timer, sh, &sh->drain_timer) < 0)
		log_error("timer_failed", "what=drain");
	hold_arm(sh);
}

static void sample(struct shut *sh);
static void sample_at(struct shut *sh, int64_t due);

static void on_drain_timer(struct loop *l, void *data)
{
	struct shut *sh = data;

	(void)l;
	sh->drain_timer = 0;
	/* The propagation's quiet deadline: a sample now first. The last one
	 * may be old (a loaded node, a slow dump), and quiet is only what a
	 * sample saw, not what none was taken to see. */
	if (sh->smp && drain_phase_now(&sh->d) == DRAIN_PROPAGATE) {
		sample(sh);
		/* The next one a whole interval after it. */
		if (!sh->ended)
			sample_at(sh, loop_now_ms() + sh->o->sample_ms);
	}
	if (!sh->ended)
		apply(sh, drain_tick(&sh->d, loop_now_ms()));
}

/* ---- sampling ---- */

static void on_sample_timer(struct loop *l, void *data);

static void sample_at(struct shut *sh, int64_t due)
{
	loop_timer_cancel(sh->loop, sh->sample_timer);
	sh->sample_timer = 0;
	if (loop_timer_add(sh->loop, due, on_sample_timer, sh, &sh->sample_timer) < 0)
		log_error("timer_failed", "what=sample");
}

/* Finds the serving ports, when not given: those the app's processes
 * listen on (a hook with no app named: every one of the pod's). */
static void discover(struct shut *sh)
{
	pid_t pids[PROC_TREE_MAX];
	size_t n = 0;
	char list[PORTS_MAX * 6 + 8];
	int r;

	/* Nothing new listens in the pod: no scan of /proc (it reads every
	 * process's fds, and costs what a busy pod has processes). */
	if (!sh->smp || !sample_discovers(sh->smp) || !sample_listeners_changed(sh->smp))
		return;
	r = sh->ops->pids(sh->data, pids, PROC_TREE_MAX, &n);
	if (r < 0)
		return;
	r = sample_discover(sh->smp, r == 1 ? NULL : pids, n);
	if (r == -EACCES && !sh->ports_denied_logged) {
		log_warn("ports_unknown", "error=%s hint=%s",
			 "cannot read /proc/PID/fd (another user)",
			 "give --port, or run as the app's user");
		sh->ports_denied_logged = true;
	} else if (r == 1) {
		sample_ports_text(sh->smp, list, sizeof(list));
		log_info("ports", "ports=%s discovered=true", list);
	}
}

/* Whether idle connections are closed for the app now: asked for, and
 * propagation over (a new connection would come back here before), until
 * the kill. */
static bool closing(const struct shut *sh)
{
	enum drain_phase p = drain_phase_now(&sh->d);

	return sh->o->close_idle && !sh->idle_refused && sh->smp && p >= DRAIN_DRAIN &&
	       p < DRAIN_KILL;
}

/* Closes the connections the last sample found idle (idle.h). */
static void close_idle(struct shut *sh)
{
	struct conn idle[IDLE_CLOSE_MAX];
	pid_t pids[PROC_TREE_MAX];
	size_t n, n_pids = 0, closed = 0;
	int r;

	n = sample_idle(sh->smp, idle, sizeof(idle) / sizeof(idle[0]));
	if (n == 0 || sh->ops->pids(sh->data, pids, PROC_TREE_MAX, &n_pids) != 0)
		return;
	r = idle_close(idle, n, pids, n_pids, &closed);
	if (closed > 0) {
		sh->closed_idle += (long long)closed;
		log_info("closed_idle", "count=%zu total=%lld ms=%lld", closed, sh->closed_idle,
			 shut_ms(sh, loop_now_ms()));
	}
	if (r == -EPERM || r == -ENOSYS || r == -EACCES) {
		/* Said once, with the fix; the drain goes on without it. */
		sh->idle_refused = true;
		log_warn("close_idle_refused", "error=%s hint=%s", strerror(-r),
			 "no ptrace rights over the app: add CAP_SYS_PTRACE to the container "
			 "(securityContext.capabilities.add), or run lastcall as the app's user");
		kapi_event(sh->kapi, "CloseIdleRefused", true,
			   "--close-idle cannot take the app's connections (%s): add "
			   "CAP_SYS_PTRACE to the container",
			   strerror(-r));
	}
}

/* Takes one connection sample and feeds it to the drain engine. */
static void sample(struct shut *sh)
{
	bool app_counts = app_has(sh->app, APP_INFLIGHT);
	int conns = 0, requests = 0, busy;
	enum drain_phase phase = drain_phase_now(&sh->d);
	int64_t now;
	unsigned act;
	int r;

	if (phase == DRAIN_SERVING) {
		discover(sh);
		app_call(sh->app, APP_READY);
	}
	ready_set(&sh->ready, is_ready(sh));
	/* The app counts its own requests: ask it (the answer feeds the
	 * engine); the kernel's view still drives propagation. */
	if (app_counts && phase == DRAIN_DRAIN)
		app_call(sh->app, APP_INFLIGHT);
	r = sample_take(sh->smp, &conns, &requests);
	if (r == -ENOENT) {
		/* Nothing serves: nothing to wait for, as far as we can see. */
		if (phase != DRAIN_SERVING && !app_counts)
			apply(sh, drain_inflight(&sh->d, loop_now_ms(), 0));
		return;
	}
	if (r < 0) {
		if (!sh->sample_failed_logged)
			log_warn("sample_failed", "error=%s", strerror(-r));
		sh->sample_failed_logged = true;
		/* A failed sample is retried, never taken as "idle". */
		if (!app_counts)
			apply(sh, drain_inflight(&sh->d, loop_now_ms(), -1));
		return;
	}
	now = loop_now_ms();
	/* Idle is "nothing moved between two dumps": only as good as the
	 * time between them (conn.h). */
	sh->sample_gap = sh->last_sample_at < 0 ? 0 : now - sh->last_sample_at;
	sh->last_sample_at = now;
	if (phase == DRAIN_SERVING)
		return;
	busy = sample_stats(sh->smp)->busy;
	if (sample_dropped(sh->smp) > 0) {
		/* More connections than a dump keeps: the ones left out may
		 * be new, or busy. Never end a phase early on a part. */
		if (!sh->truncated_logged)
			log_warn("sample_truncated", "kept=%d dropped=%zu hint=%s", CONN_MAX,
				 sample_dropped(sh->smp),
				 "propagation and the drain run to their caps while it lasts");
		sh->truncated_logged = true;
		conns = conns > 0 ? conns : 1;
		busy = -1;
	}
	/* Requests on connections already open: those a Service keeps
	 * sending to this pod once its endpoint is gone (drain_traffic). */
	sh->late_requests += requests;
	act = drain_traffic(&sh->d, now, conns, requests);
	if (!app_counts)
		act |= drain_inflight(&sh->d, now, busy);
	apply(sh, act);
	if (!sh->ended && closing(sh) && sh->sample_gap >= sh->o->sample_ms)
		close_idle(sh);
}

static void on_sample_timer(struct loop *l, void *data)
{
	struct shut *sh = data;
	int64_t next;

	(void)l;
	sh->sample_timer = 0;
	if (sh->ended || (drain_phase_now(&sh->d) >= DRAIN_STOP && !closing(sh)))
		return;
	sample(sh);
	if (sh->ended)
		return;
	next = sample_next_ms(drain_phase_now(&sh->d), app_ready(sh), sh->o->sample_ms,
			      &sh->seek_ms);
	/* After the stop the app's exit is watched, not its traffic; but
	 * connections it keeps open are still closed for it when idle. */
	if (next < 0 && closing(sh))
		next = sh->o->sample_ms;
	if (next >= 0)
		sample_at(sh, loop_now_ms() + next);
}

void shut_start(struct shut *sh)
{
	if (sh->smp)
		sample_at(sh, loop_now_ms());
}

/* ---- events in ---- */

void shut_trigger(struct shut *sh, const char *origin)
{
	int64_t now = loop_now_ms();
	unsigned act;

	if (sh->ended)
		return;
	if (!sh->role.drains) {
		log_warn("drain_disabled", "origin=%s", origin);
		return;
	}
	/* The app may have started listening since the last look. */
	if (drain_phase_now(&sh->d) == DRAIN_SERVING)
		discover(sh);
	/* Signals come from the kubelet (or a user); anything else (POST
	 * /drain, GET /prestop) from a preStop hook. */
	bool signal = strncmp(origin, "signal:", 7) == 0;
	act = drain_trigger(&sh->d, now);
	if (!act) {
		log_info("drain_already_started", "origin=%s ms=%lld", origin, shut_ms(sh, now));
		sh->signalled |= signal;
		if (signal)
			release(sh, origin);
		return;
	}
	/* A hook that waits for the app's exit (--until done) gets no hold:
	 * the kubelet's signal would only come after it. */
	sh->by_hook = !signal && strcmp(origin, "control:until-exit") != 0;
	log_info("drain_started", "origin=%s ports=%zu", origin, n_ports(sh));
	kapi_event(sh->kapi, "DrainStarted", false,
		   "drain started by %s; stop signal by %lld ms, SIGKILL at %lld ms", origin,
		   (long long)(drain_stop_at(&sh->d) - drain_t0(&sh->d)),
		   (long long)(drain_kill_at(&sh->d) - drain_t0(&sh->d)));
	apply(sh, act);
	if (sh->ended)
		return;
	/* The grace period in force may be shorter than ours (kubectl delete
	 * --grace-period, evictions): the pod says. */
	kapi_get_pod(sh->kapi);
	/* The endpoint's removal, when the API can tell (drain_removed). */
	kapi_watch_slices(sh->kapi);
	/* Sample at the drain's pace from now on. */
	if (sh->smp)
		sample_at(sh, now + sh->o->sample_ms);
}

void shut_app_found(struct shut *sh)
{
	/* Another process: what it listens on is to be found anew. */
	if (sh->smp)
		sample_forget(sh->smp);
	if (drain_phase_now(&sh->d) == DRAIN_SERVING)
		discover(sh);
}

void shut_app_lost(struct shut *sh)
{
	if (sh->smp)
		sample_forget(sh->smp);
	sh->seek_ms = sh->o->sample_ms;
	ready_set(&sh->ready, false);
}

/* The Event for the app's exit: ms since T0, or before any drain. */
void shut_app_exited(struct shut *sh, int code)
{
	int64_t now = loop_now_ms();

	if (drain_t0(&sh->d) < 0)
		kapi_event(sh->kapi, "AppExited", code != 0,
			   "the app exited (code %d) before any drain", code);
	else if (code < 0)
		kapi_event(sh->kapi, "AppExited", false, "the app exited at %lld ms",
			   shut_ms(sh, now));
	else
		kapi_event(sh->kapi, "AppExited", false, "the app exited (code %d) at %lld ms",
			   code, shut_ms(sh, now));
	if (sh->role.drains)
		apply(sh, drain_child_exited(&sh->d, now));
}

void shut_all_gone(struct shut *sh)
{
	if (sh->role.drains)
		apply(sh, drain_all_gone(&sh->d, loop_now_ms()));
}

void shut_end(struct shut *sh)
{
	sh->ended = true;
	/* Nothing to learn any more; its reads would take the exit flush's
	 * requests. */
	kapi_unwatch_slices(sh->kapi);
	loop_timer_cancel(sh->loop, sh->drain_timer);
	loop_timer_cancel(sh->loop, sh->sample_timer);
	loop_timer_cancel(sh->loop, sh->hold_timer);
	sh->drain_timer = sh->sample_timer = sh->hold_timer = 0;
}

/* ---- the endpoints ---- */

static bool api_ready(void *data)
{
	return is_ready(data);
}

static int api_phase(void *data)
{
	return (int)drain_phase_now(&((struct shut *)data)->d);
}

static void api_drain(void *data, const char *origin)
{
	shut_trigger(data, origin);
}

static size_t api_status(void *data, char *buf, size_t size)
{
	struct report r;

	snapshot(data, &r);
	return report_status(&r, buf, size);
}

static size_t api_metrics(void *data, char *buf, size_t size)
{
	struct report r;

	snapshot(data, &r);
	return report_metrics(&r, buf, size);
}

static const struct httpd_ops shut_httpd_ops = {
	.ready = api_ready,
	.status = api_status,
	.metrics = api_metrics,
	.drain = api_drain,
	.phase = api_phase,
};

/* ---- the app's endpoints and the Kubernetes API ---- */

/* An answer from one of the app's own endpoints. */
static void on_app(void *data, enum app_call call, int value)
{
	struct shut *sh = data;

	switch (call) {
	case APP_READY:
		/* Readiness is frozen from T0 on. */
		if (drain_phase_now(&sh->d) == DRAIN_SERVING)
			sh->app_url_ready = value == 1;
		break;
	case APP_INFLIGHT:
		if (value >= 0)
			sh->app_inflight = value;
		/* Only answers to requests sent while draining may end it. */
		if (drain_phase_now(&sh->d) == DRAIN_DRAIN)
			apply(sh, drain_inflight(&sh->d, loop_now_ms(), value));
		break;
	default:
		break;
	}
}

static void on_gate_done(void *data, bool status, long http)
{
	struct shut *sh = data;

	/* Failures are logged by kapi, once per streak. */
	if (http >= 200 && http < 300)
		log_info("readiness_gate", "type=%s status=%s ms=%lld", sh->o->kube.gate,
			 status ? "True" : "False", shut_ms(sh, loop_now_ms()));
}

/* The own pod's spec, read at start: its terminationGracePeriodSeconds
 * is the kubelet's budget, whatever --grace-period says (issue 16). */
static void on_pod_spec(struct shut *sh, const struct kapi_pod *pod)
{
	const struct sup_opts *o = sh->o;
	struct drain_budget in = o->budget, fitted;
	int64_t grace = drain_budget(&sh->d)->grace_ms;
	int64_t pod_ms = (pod->spec_grace_s < 1 ? 1 : pod->spec_grace_s) * 1000;
	char fix[256], why[512];

	in.grace_ms = kapi_grace_settle(o->budget.grace_ms, o->grace_assumed != NULL,
					pod->spec_grace_s, fix, sizeof(fix));
	if (fix[0])
		log_warn("grace_mismatch", "flag_ms=%lld pod_ms=%lld grace_ms=%lld fix=%s",
			 (long long)o->budget.grace_ms, (long long)pod_ms, (long long)in.grace_ms,
			 fix);
	else
		log_info("pod_grace", "spec_ms=%lld grace_ms=%lld", (long long)pod_ms,
			 (long long)in.grace_ms);
	if (in.grace_ms == grace)
		return;
	if (drain_budget_fit(&in, &fitted, why, sizeof(why)))
		log_info("budget_compressed", "detail=%s", why);
	/* An assumed grace may grow, but only before T0. */
	if (drain_t0(&sh->d) < 0 && in.grace_ms > grace)
		drain_rebudget(&sh->d, &fitted);
	else
		apply(sh, drain_refit(&sh->d, loop_now_ms(), &fitted));
}

/* The own pod: its spec at start (the grace period), its metadata at T0
 * (a deletion grace period may be shorter). */
static void on_pod(void *data, const struct kapi_pod *pod)
{
	struct shut *sh = data;
	struct drain_budget in = sh->o->budget, fitted;
	int64_t now = loop_now_ms(), pod_ms, grace = drain_budget(&sh->d)->grace_ms;
	char why[512];
	unsigned act;

	if (sh->ended)
		return;
	/* Once: an API server may send the whole Pod for the metadata too. */
	if (pod && pod->spec_grace_s >= 0 && !sh->spec_read) {
		sh->spec_read = true;
		on_pod_spec(sh, pod);
	}
	if (drain_t0(&sh->d) < 0 || sh->ended)
		return;
	if (!pod) {
		/* Once more: one blip at T0 must not cost the real deadline. */
		if (!sh->pod_retried) {
			sh->pod_retried = true;
			kapi_get_pod(sh->kapi);
		}
		return;
	}
	if (!pod->deleting || pod->deletion_grace_s < 0) {
		/* A probe kill, an eviction without API deletion: ours holds. */
		log_info("pod_grace", "deleting=%s grace_ms=%lld ms=%lld",
			 pod->deleting ? "true" : "false", (long long)grace, shut_ms(sh, now));
		return;
	}
	/* Kubernetes never gives less than 1 s. */
	pod_ms = (pod->deletion_grace_s < 1 ? 1 : pod->deletion_grace_s) * 1000;
	if (pod_ms >= grace) {
		log_info("pod_grace", "deleting=true pod_ms=%lld grace_ms=%lld ms=%lld",
			 (long long)pod_ms, (long long)grace, shut_ms(sh, now));
		return;
	}
	in.grace_ms = pod_ms;
	drain_budget_fit(&in, &fitted, why, sizeof(why));
	act = drain_refit(&sh->d, now, &fitted);
	log_warn("grace_shortened",
		 "flag_ms=%lld pod_ms=%lld deadline_ms=%lld stop_by_ms=%lld ms=%lld",
		 (long long)sh->o->budget.grace_ms, (long long)pod_ms,
		 (long long)(drain_kill_at(&sh->d) - drain_t0(&sh->d)),
		 (long long)(drain_stop_at(&sh->d) - drain_t0(&sh->d)), shut_ms(sh, now));
	log_info("budget_compressed", "detail=%s", why);
	/* Also re-arms the drain timer for the new deadlines. */
	apply(sh, act);
}

/* Every EndpointSlice has this pod not ready: the proxies follow within
 * --proxy-sync (drain_removed). */
static void on_removed(void *data, size_t n)
{
	struct shut *sh = data;
	int64_t now = loop_now_ms();

	log_info("endpoints_removed", "slices=%zu ms=%lld proxy_sync_ms=%lld", n, shut_ms(sh, now),
		 (long long)drain_budget(&sh->d)->proxy_sync_ms);
	apply(sh, drain_removed(&sh->d, now));
}

static const struct kapi_ops shut_kapi_ops = {
	.gate_done = on_gate_done,
	.pod = on_pod,
	.removed = on_removed,
};

static int kube_setup(struct shut *sh)
{
	const struct kapi_config *c = &sh->o->kube;
	char err[512];
	int r;

	if (!c->pod_name)
		return 0;
	r = kapi_new(sh->loop, sh->fetch, c, &shut_kapi_ops, sh, &sh->kapi, err, sizeof(err));
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
	sh->ready.kapi = sh->kapi;
	/* The spec's grace period; the uid, the patches' precondition and
	 * the Events' target. */
	kapi_get_pod_spec(sh->kapi);
	return 0;
}

/* ---- life ---- */

/* The HTTP client and its users: the app's URLs and the API. Logged. */
static int clients_new(struct shut *sh)
{
	const struct sup_opts *o = sh->o;
	bool app_urls = o->app.url[APP_READY] || o->app.url[APP_DRAIN] || o->app.url[APP_INFLIGHT];
	char err[256];
	int r;

	if (!app_urls && !o->kube.pod_name && !o->on_exit.n)
		return 0;
	r = fetch_new(sh->loop, &sh->fetch);
	if (r < 0) {
		log_error("start_failed", "what=http_client error=%s", strerror(-r));
		return r;
	}
	if (app_urls) {
		r = app_new(sh->fetch, &o->app, on_app, sh, &sh->app, err, sizeof(err));
		if (r < 0) {
			log_error("start_failed", "what=app_urls error=%s", err);
			return r;
		}
	}
	return kube_setup(sh);
}

/* The sampler and the endpoints, for a role that samples. Logged. */
static int sampling_new(struct shut *sh)
{
	const struct sup_opts *o = sh->o;
	char err[256];
	int r;

	r = sample_new(o->ports.v, o->ports.n, &sh->smp);
	if (r < 0) {
		log_error("start_failed", "what=sampler error=%s", strerror(-r));
		return r;
	}
	if (!o->listen && !o->control)
		return 0;
	r = httpd_new(sh->loop, o->listen, o->control, &o->allow, &shut_httpd_ops, sh, &sh->httpd,
		      err, sizeof(err));
	if (r < 0 && r != -EADDRINUSE && o->control && strncmp(err, "--control", 9) == 0) {
		/* Neither the path nor the container's abstract name (no /proc,
		 * say): the control socket is optional, the app is not. One
		 * taken by another live instance (EADDRINUSE) stays fatal: two
		 * would answer for one app. */
		log_warn("control_off", "error=%s hint=%s", err,
			 "lastcall prestop and probe cannot reach this instance; set --control "
			 "to a writable path, or use GET /prestop");
		r = httpd_new(sh->loop, o->listen, NULL, &o->allow, &shut_httpd_ops, sh, &sh->httpd,
			      err, sizeof(err));
	}
	if (r == -EADDRINUSE && strncmp(err, "--listen", 8) == 0) {
		/* Containers of a pod share one network: likely another
		 * container's lastcall on the default port. Going on without
		 * the port would leave the probes to that one, answering for
		 * its own app: a clear crash is better. */
		log_error("start_failed", "what=endpoints error=%s hint=%s", err,
			  "the containers of a pod share one network: if another runs lastcall, "
			  "give each its own --listen (LASTCALL_LISTEN), say :9798, or none");
		return r;
	}
	if (r < 0) {
		log_error("start_failed", "what=endpoints error=%s", err);
		return r;
	}
	r = httpd_control_fallback(sh->httpd);
	if (r < 0)
		/* An optional part: the app starts all the same (a read-only root
		 * with no volume at /tmp), and prestop and probe still find us. */
		log_warn("control_fallback", "path=%s error=%s listen=%s hint=%s", o->control,
			 strerror(-r), httpd_control_name(sh->httpd),
			 "mount a writable volume (emptyDir) at the socket's directory, or set "
			 "--control (LASTCALL_CONTROL) to a writable path");
	log_info("endpoints", "listen=%s port=%d control=%s", o->listen ? o->listen : "none",
		 httpd_port(sh->httpd),
		 httpd_control_name(sh->httpd) ? httpd_control_name(sh->httpd) : "none");
	return 0;
}

int shut_new(struct loop *l, const struct sup_opts *o, const struct shut_role *role,
	     const struct shut_ops *ops, void *data, struct shut **ret)
{
	struct shut *sh = calloc(1, sizeof(*sh));
	struct drain_budget fitted;
	char why[512];
	int r;

	if (!sh) {
		log_error("start_failed", "what=memory error=%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	sh->loop = l;
	sh->o = o;
	sh->role = *role;
	sh->ops = ops;
	sh->data = data;
	sh->seek_ms = o->sample_ms;
	sh->app_inflight = -1;
	sh->last_sample_at = -1;
	/* A warning when the delays asked for had to shrink; the caps (the
	 * quiet period, the maximum delay) meeting a short grace period is
	 * what they are for. */
	if (drain_budget_fit(&o->budget, &fitted, why, sizeof(why))) {
		bool cut = fitted.kill_margin_ms != o->budget.kill_margin_ms ||
			   fitted.stop_timeout_ms != o->budget.stop_timeout_ms ||
			   fitted.min_delay_ms != o->budget.min_delay_ms;
		log_event(cut ? LOG_WARN : LOG_INFO, "budget_compressed", "detail=%s", why);
	}
	drain_init(&sh->d, &fitted);
	ready_init(&sh->ready, o->ready_file, role->ready_at_start);
	r = clients_new(sh);
	if (r == 0 && role->sampled)
		r = sampling_new(sh);
	if (r < 0) {
		shut_free(sh);
		return r;
	}
	*ret = sh;
	return 0;
}

void shut_free(struct shut *sh)
{
	if (!sh)
		return;
	shut_end(sh);
	httpd_free(sh->httpd);
	/* The fetch first: it aborts what the app and API clients started. */
	fetch_free(sh->fetch);
	app_free(sh->app);
	kapi_free(sh->kapi);
	sample_free(sh->smp);
	free(sh);
}

void shut_exit(struct shut *sh, int code, int app_code, bool app_left)
{
	const struct drain_budget *b = drain_budget(&sh->d);
	char line[TERMINATION_MSG_MAX];
	struct report r;

	shut_end(sh);
	/* The app is gone: the endpoints close now (a waiter gets its answer,
	 * a hook arriving late finds no instance, which means nothing to
	 * drain), not after the flush. */
	snapshot(sh, &r);
	httpd_free(sh->httpd);
	sh->httpd = NULL;
	if (!sh->role.report)
		return;
	if (sh->o->termination_log && report_summary(&r, code, app_code, line, sizeof(line)) > 0)
		report_termination_log(sh->o->termination_log, line);
	if (!sh->fetch)
		return;
	report_flush(sh->loop, &sh->fetch, sh->kapi, sh->o->on_exit.v, sh->o->on_exit.n,
		     sh->o->app.timeout_ms,
		     report_flush_until(loop_now_ms(), drain_t0(&sh->d), b->grace_ms,
					b->kill_margin_ms, sh->o->on_exit.n > 0,
					sh->o->app.timeout_ms),
		     app_left);
	/* The fetch is gone: so must be what used it. */
	app_free(sh->app);
	kapi_free(sh->kapi);
	sh->app = NULL;
	sh->kapi = sh->ready.kapi = NULL;
}
