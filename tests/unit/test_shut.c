/* test_shut.c - shut.c: the per-mode decisions (roles and what a signal
 * does in run, classic sidecar, native sidecar and hook), and the shell
 * itself on a real loop with the owner's side faked: the order of the
 * stop and the kill, a hook that returns when drained, and the zero-window
 * hook that must return at once (it used to block until the kubelet gave
 * up: the drain ended before the loop ran, and the loop forgot the stop);
 * the shell with every allocation failing in turn (failalloc.h).
 */
#include "../../helper/shut.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static void defaults(struct sup_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->budget = (struct drain_budget){ .grace_ms = 30000,
					   .kill_margin_ms = 1000,
					   .stop_timeout_ms = 5000,
					   .min_delay_ms = 2000,
					   .quiet_ms = 1000,
					   .max_delay_ms = 15000 };
	o->stop_signal = SIGTERM;
	o->sample_ms = 100;
	o->drain_on[SIGTERM] = o->drain_on[SIGINT] = true;
}

static void test_roles(void **state)
{
	struct sup_opts o;
	struct shut_role r;

	(void)state;
	defaults(&o);
	/* run: drains, samples, sends the stop signal, kills, reports. */
	r = shut_role_for(SUP_MODE_RUN, &o);
	assert_true(r.drains && r.sampled && r.kill_ours && r.report);
	assert_false(r.stop_returns || r.stop_needs_app || r.ready_at_start);
	/* run --drain-on none: no drain; sampling only for the probes or gate. */
	memset(o.drain_on, 0, sizeof(o.drain_on));
	r = shut_role_for(SUP_MODE_RUN, &o);
	assert_false(r.drains || r.sampled);
	o.listen = "127.0.0.1:0";
	assert_true(shut_role_for(SUP_MODE_RUN, &o).sampled);
	o.listen = NULL;
	o.kube.gate = "example.com/ready";
	assert_true(shut_role_for(SUP_MODE_RUN, &o).sampled);
	o.kube.gate = NULL;
	/* sidecar: always samples (readiness follows the app); drains only
	 * with a drain signal; kills at the deadline like run. */
	r = shut_role_for(SUP_MODE_SIDECAR, &o);
	assert_true(r.sampled && r.kill_ours && r.report);
	assert_false(r.drains || r.stop_returns || r.stop_needs_app);
	defaults(&o);
	assert_true(shut_role_for(SUP_MODE_SIDECAR, &o).drains);
	/* hook with --signal: drains whatever drain_on says, the stop needs
	 * the app, the kubelet kills, nothing reported. */
	memset(o.drain_on, 0, sizeof(o.drain_on));
	r = shut_role_for(SUP_MODE_HOOK, &o);
	assert_true(r.drains && r.sampled && r.stop_needs_app && r.ready_at_start);
	assert_false(r.stop_returns || r.kill_ours || r.report);
	/* hook without: drained is the end. */
	o.stop_signal = 0;
	r = shut_role_for(SUP_MODE_HOOK, &o);
	assert_true(r.stop_returns);
	assert_false(r.kill_ours);
}

static void test_signal_actions(void **state)
{
	(void)state;
	/* run: a drain signal drains while the child runs, else forwarded. */
	assert_int_equal(shut_signal_action(SUP_MODE_RUN, SIGTERM, true, true, DRAIN_SERVING),
			 SHUT_SIG_DRAIN);
	assert_int_equal(shut_signal_action(SUP_MODE_RUN, SIGTERM, true, false, DRAIN_SERVING),
			 SHUT_SIG_FORWARD);
	assert_int_equal(shut_signal_action(SUP_MODE_RUN, SIGUSR1, false, true, DRAIN_SERVING),
			 SHUT_SIG_FORWARD);
	/* A second SIGTERM mid-drain goes to the engine (logged, no change). */
	assert_int_equal(shut_signal_action(SUP_MODE_RUN, SIGTERM, true, true, DRAIN_DRAIN),
			 SHUT_SIG_DRAIN);
	/* run --drain-on none: SIGTERM is forwarded like any other. */
	assert_int_equal(shut_signal_action(SUP_MODE_RUN, SIGTERM, false, true, DRAIN_SERVING),
			 SHUT_SIG_FORWARD);

	/* classic sidecar: SIGTERM at T0 with the app there drains. */
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGTERM, true, true, DRAIN_SERVING),
			 SHUT_SIG_DRAIN);
	/* native sidecar: SIGTERM after the app exited ends it. */
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGTERM, true, false, DRAIN_SERVING),
			 SHUT_SIG_END);
	/* ...but while its drain runs (from the preStop), the engine decides. */
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGTERM, true, false, DRAIN_STOP),
			 SHUT_SIG_DRAIN);
	/* A sidecar without a drain stops on TERM and INT, ignores the rest:
	 * nothing is ever forwarded to an app that is not our child. */
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGINT, false, true, DRAIN_SERVING),
			 SHUT_SIG_END);
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGHUP, false, true, DRAIN_SERVING),
			 SHUT_SIG_IGNORE);
	assert_int_equal(shut_signal_action(SUP_MODE_SIDECAR, SIGUSR1, false, true, DRAIN_SERVING),
			 SHUT_SIG_IGNORE);

	/* hook: the kubelet's TERM (its deadline), INT or HUP interrupt it. */
	assert_int_equal(shut_signal_action(SUP_MODE_HOOK, SIGTERM, true, true, DRAIN_DRAIN),
			 SHUT_SIG_INTERRUPT);
	assert_int_equal(shut_signal_action(SUP_MODE_HOOK, SIGHUP, false, false, DRAIN_DRAIN),
			 SHUT_SIG_INTERRUPT);
	assert_int_equal(shut_signal_action(SUP_MODE_HOOK, SIGUSR2, false, true, DRAIN_DRAIN),
			 SHUT_SIG_IGNORE);
}

/* ---- the shell on a real loop, the owner faked ---- */

struct owner {
	struct loop *loop;
	struct shut *sh;
	bool running;
	int stops, kills, dones, done_code;
	int64_t t0, stop_ms, kill_ms, done_ms, signal_ms;
	bool exit_on_stop; /* the app exits at once on the stop signal */
};

static const char *f_target(void *data, pid_t *ret_pid)
{
	(void)data;
	*ret_pid = 42;
	return "child";
}

static int f_stop(void *data, int sig)
{
	struct owner *w = data;

	assert_int_equal(sig, SIGTERM);
	w->stops++;
	w->stop_ms = loop_now_ms() - w->t0;
	if (w->exit_on_stop) {
		w->running = false;
		shut_app_exited(w->sh, 143);
		shut_all_gone(w->sh);
		shut_end(w->sh);
		loop_stop(w->loop);
	}
	return 0;
}

static size_t f_kill(void *data)
{
	struct owner *w = data;

	w->kills++;
	w->kill_ms = loop_now_ms() - w->t0;
	w->running = false;
	shut_all_gone(w->sh);
	shut_end(w->sh);
	loop_stop(w->loop);
	return 3;
}

static bool f_running(void *data)
{
	return ((struct owner *)data)->running;
}

/* No process listens: no port to watch, nothing in flight. */
static int f_pids(void *data, pid_t *pids, size_t cap, size_t *ret_n)
{
	(void)data;
	(void)pids;
	(void)cap;
	*ret_n = 0;
	return 0;
}

static void f_done(void *data, int code)
{
	struct owner *w = data;

	w->dones++;
	w->done_code = code;
	w->done_ms = loop_now_ms() - w->t0;
	loop_stop(w->loop);
}

static const struct shut_ops fake_ops = {
	.target = f_target,
	.stop = f_stop,
	.kill = f_kill,
	.running = f_running,
	.pids = f_pids,
	.done = f_done,
};

/* A short budget: stop by 400 ms, kill at 500 ms. */
static void short_budget(struct sup_opts *o)
{
	defaults(o);
	o->budget = (struct drain_budget){ .grace_ms = 600,
					   .kill_margin_ms = 100,
					   .stop_timeout_ms = 100,
					   .min_delay_ms = 50,
					   .quiet_ms = 20,
					   .max_delay_ms = 300 };
	o->sample_ms = 10;
}

static void run_shell(struct owner *w, const struct sup_opts *o, enum sup_mode mode,
		      const char *origin)
{
	struct shut_role role = shut_role_for(mode, o);

	assert_int_equal(loop_new(&w->loop), 0);
	assert_int_equal(shut_new(w->loop, o, &role, &fake_ops, w, &w->sh), 0);
	shut_start(w->sh);
	w->t0 = loop_now_ms();
	shut_trigger(w->sh, origin);
	assert_int_equal(loop_run(w->loop), 0);
}

static void end_shell(struct owner *w)
{
	shut_free(w->sh);
	loop_free(w->loop);
}

/* run, an app that ignores the stop signal: stop after the floor (no
 * traffic, nothing in flight), SIGKILL at the deadline, once each. */
static void test_run_stop_then_kill(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = true };

	(void)state;
	short_budget(&o);
	run_shell(&w, &o, SUP_MODE_RUN, "signal:SIGTERM");
	assert_int_equal(w.stops, 1);
	assert_int_equal(w.kills, 1);
	assert_int_equal(w.dones, 0);
	assert_true(w.stop_ms >= 50 && w.stop_ms < 400);
	assert_true(w.kill_ms >= 500 && w.kill_ms < 1500);
	assert_int_equal(shut_phase(w.sh), DRAIN_DONE);
	end_shell(&w);
}

/* run, an app that exits on the stop signal: no kill. */
static void test_run_clean(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = true, .exit_on_stop = true };

	(void)state;
	short_budget(&o);
	run_shell(&w, &o, SUP_MODE_RUN, "signal:SIGTERM");
	assert_int_equal(w.stops, 1);
	assert_int_equal(w.kills, 0);
	assert_int_equal(shut_phase(w.sh), DRAIN_DONE);
	end_shell(&w);
}

/* A hook without --signal returns 0 once drained: no stop, no kill. */
static void test_hook_returns_when_drained(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = false };

	(void)state;
	short_budget(&o);
	o.stop_signal = 0;
	run_shell(&w, &o, SUP_MODE_HOOK, "prestop:standalone");
	assert_int_equal(w.dones, 1);
	assert_int_equal(w.done_code, 0);
	assert_int_equal(w.stops + w.kills, 0);
	assert_true(w.done_ms >= 50 && w.done_ms < 400);
	end_shell(&w);
}

/* The zero-window hook: --min-delay 0 and a stop timeout that takes the
 * whole window drain at once, before the loop runs; it must return at
 * once, not when the kubelet gives up. */
static void test_hook_zero_window(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = false };

	(void)state;
	defaults(&o);
	o.stop_signal = 0;
	o.budget.min_delay_ms = 0;
	o.budget.stop_timeout_ms = 29000;
	run_shell(&w, &o, SUP_MODE_HOOK, "prestop:standalone");
	assert_int_equal(w.dones, 1);
	assert_int_equal(w.done_code, 0);
	assert_true(w.done_ms < 1000);
	end_shell(&w);
}

/* A hook told to signal an app that is not there fails at the stop. */
static void test_hook_no_app(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = false };

	(void)state;
	short_budget(&o);
	run_shell(&w, &o, SUP_MODE_HOOK, "prestop:standalone");
	assert_int_equal(w.dones, 1);
	assert_int_equal(w.done_code, 1);
	assert_int_equal(w.stops, 0);
	end_shell(&w);
}

/* A hook whose app ignores the stop: at the deadline it gives up with 1,
 * leaving the SIGKILL to the kubelet. */
static void test_hook_budget_exhausted(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = true };

	(void)state;
	short_budget(&o);
	run_shell(&w, &o, SUP_MODE_HOOK, "prestop:standalone");
	assert_int_equal(w.stops, 1);
	assert_int_equal(w.kills, 0);
	assert_int_equal(w.dones, 1);
	assert_int_equal(w.done_code, 1);
	assert_true(w.done_ms >= 500);
	end_shell(&w);
}

/* Without a drain signal a sidecar's shell refuses to drain. */
static void test_no_drain(void **state)
{
	struct sup_opts o;
	struct owner w = { .running = true };
	struct shut_role role;

	(void)state;
	defaults(&o);
	memset(o.drain_on, 0, sizeof(o.drain_on));
	role = shut_role_for(SUP_MODE_SIDECAR, &o);
	assert_int_equal(loop_new(&w.loop), 0);
	assert_int_equal(shut_new(w.loop, &o, &role, &fake_ops, &w, &w.sh), 0);
	shut_trigger(w.sh, "prestop:control");
	assert_int_equal(shut_phase(w.sh), DRAIN_SERVING);
	assert_int_equal(shut_kill_at(w.sh), -1);
	assert_int_equal(shut_ms(w.sh, loop_now_ms()), -1);
	end_shell(&w);
}

/* ---- run, drained by a preStop hook: the stop waits for the kubelet ---- */

static void kubelet_signal(struct loop *l, void *data)
{
	struct owner *w = data;

	(void)l;
	w->signal_ms = loop_now_ms() - w->t0;
	shut_trigger(w->sh, "signal:SIGTERM");
}

/* Runs a hook-started drain; fn (the kubelet, say) at at ms after T0
 * (fn NULL: nothing). */
static void run_hooked(struct owner *w, int64_t at, loop_timer_fn *fn)
{
	struct sup_opts o;
	struct shut_role role;

	short_budget(&o);
	role = shut_role_for(SUP_MODE_RUN, &o);
	assert_int_equal(loop_new(&w->loop), 0);
	assert_int_equal(shut_new(w->loop, &o, &role, &fake_ops, w, &w->sh), 0);
	shut_start(w->sh);
	w->t0 = loop_now_ms();
	if (fn)
		assert_int_equal(loop_timer_add(w->loop, w->t0 + at, fn, w, NULL), 0);
	shut_trigger(w->sh, "control");
	assert_int_equal(loop_run(w->loop), 0);
}

/* Drained (about 50-100 ms) long before the kubelet's SIGTERM at 250 ms:
 * the stop signal goes with the kubelet's, not at the drained moment. */
static void test_hold_for_kubelet(void **state)
{
	struct owner w = { .running = true, .exit_on_stop = true };

	(void)state;
	run_hooked(&w, 250, kubelet_signal);
	assert_int_equal(w.stops, 1);
	assert_true(w.stop_ms >= w.signal_ms);
	assert_true(w.stop_ms < w.signal_ms + 100);
	end_shell(&w);
}

/* No signal: held until the stop-by deadline (400 ms), then sent. */
static void test_hold_until_deadline(void **state)
{
	struct owner w = { .running = true, .exit_on_stop = true };

	(void)state;
	run_hooked(&w, 0, NULL);
	assert_int_equal(w.stops, 1);
	assert_true(w.stop_ms >= 400 && w.stop_ms < 500 + 200);
	end_shell(&w);
}

/* The kubelet's signal came during the drain (the hook gave up early):
 * nothing to wait for at the stop. */
static void test_no_hold_after_signal(void **state)
{
	struct owner w = { .running = true, .exit_on_stop = true };

	(void)state;
	run_hooked(&w, 10, kubelet_signal);
	assert_int_equal(w.stops, 1);
	assert_true(w.stop_ms >= 50 && w.stop_ms < 300);
	end_shell(&w);
}

/* The kubelet's stop signal is not a --drain-on one (an image's
 * STOPSIGNAL QUIT): forwarded to the app, it releases the hold, and ours
 * does not follow. */
static void kubelet_quit(struct loop *l, void *data)
{
	struct owner *w = data;

	(void)l;
	w->signal_ms = loop_now_ms() - w->t0;
	shut_signalled(w->sh, "signal:SIGQUIT");
	/* nginx quits gracefully. */
	w->running = false;
	shut_app_exited(w->sh, 0);
	shut_all_gone(w->sh);
	shut_end(w->sh);
	loop_stop(w->loop);
}

static void test_hold_released_by_forwarded(void **state)
{
	struct owner w = { .running = true };

	(void)state;
	run_hooked(&w, 250, kubelet_quit);
	assert_int_equal(w.stops, 0);
	assert_int_equal(w.kills, 0);
	assert_true(w.signal_ms >= 250);
	end_shell(&w);
}

/* Held, then a shorter grace period learnt (the pod's deletion grace):
 * the hold ends before the new kill, and the stop goes before it. */
static void shorter_grace(struct loop *l, void *data)
{
	struct owner *w = data;
	struct drain_budget b = *drain_budget(&w->sh->d);

	(void)l;
	assert_true(w->sh->held);
	b.grace_ms = 300; /* kill at T0 + 200 */
	apply(w->sh, drain_refit(&w->sh->d, loop_now_ms(), &b));
}

static void test_hold_refit(void **state)
{
	struct owner w = { .running = true };

	(void)state;
	run_hooked(&w, 150, shorter_grace);
	/* Stopped just before the new kill (not at the old 400 ms hold). */
	assert_int_equal(w.stops, 1);
	assert_int_equal(w.kills, 1);
	assert_true(w.stop_ms >= 150 && w.stop_ms <= w.kill_ms);
	assert_true(w.kill_ms < 400);
	end_shell(&w);
}

/* ---- every allocation failing in turn ---- */

/* The shell of a run with its endpoints, from its start to the app's
 * exit, with each allocation failing: it does not start (logged; main
 * exits 125 before the app runs), or the drain runs its course on time,
 * the stop once, no kill. */
static void shell_round(long n, void *data)
{
	struct sup_opts o;
	struct owner w = { .running = true, .exit_on_stop = true };
	struct shut_role role;
	int r;

	(void)n;
	(void)data;
	short_budget(&o);
	o.listen = "127.0.0.1:0";
	role = shut_role_for(SUP_MODE_RUN, &o);
	if (loop_new(&w.loop) < 0) {
		assert_true(failalloc.failed);
		return;
	}
	r = shut_new(w.loop, &o, &role, &fake_ops, &w, &w.sh);
	if (r < 0) {
		assert_true(failalloc.failed);
		loop_free(w.loop);
		return;
	}
	shut_start(w.sh);
	w.t0 = loop_now_ms();
	shut_trigger(w.sh, "signal:SIGTERM");
	assert_int_equal(loop_run(w.loop), 0);
	assert_int_equal(w.stops, 1);
	assert_int_equal(w.kills, 0);
	assert_true(w.stop_ms >= 50 && w.stop_ms < 400);
	assert_int_equal(shut_phase(w.sh), DRAIN_DONE);
	end_shell(&w);
}

static void test_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	assert_true(failalloc_each(shell_round, NULL) >= 6);
}

/* ---- the quiet deadline samples first ---- */

struct chatter {
	struct loop *loop;
	int c, a, timer;
};

/* A request and its answer on a known connection every 5 ms: traffic
 * that keeps propagation going. */
static void on_chatter(struct loop *l, void *data)
{
	struct chatter *ch = data;
	char b;

	(void)l;
	ch->timer = 0;
	if (write(ch->c, "q", 1) != 1 || read(ch->a, &b, 1) != 1 || write(ch->a, "r", 1) != 1 ||
	    read(ch->c, &b, 1) != 1)
		return;
	loop_timer_add(ch->loop, loop_now_ms() + 5, on_chatter, ch, &ch->timer);
}

/* Traffic all along, but the sample interval (1 s) longer than the whole
 * propagation: the quiet deadline must not be taken on the last (old)
 * sample. Propagation runs to its cap (300 ms), not to the floor (50). */
static void test_quiet_deadline_samples(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct chatter ch = { .c = -1, .a = -1 };
	struct owner w = { .running = true, .exit_on_stop = true };
	struct shut_role role;
	struct sup_opts o;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	ch.c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(ch.c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ch.a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(ch.a >= 0);

	short_budget(&o);
	o.sample_ms = 1000;
	o.ports.v[0] = ntohs(sa.sin_port);
	o.ports.n = 1;
	role = shut_role_for(SUP_MODE_RUN, &o);
	assert_int_equal(loop_new(&w.loop), 0);
	ch.loop = w.loop;
	assert_int_equal(shut_new(w.loop, &o, &role, &fake_ops, &w, &w.sh), 0);
	shut_start(w.sh);
	/* Serving, it has sampled before (every SAMPLE_IDLE_MS once ready). */
	sample(w.sh);
	assert_int_equal(loop_timer_add(w.loop, loop_now_ms(), on_chatter, &ch, &ch.timer), 0);
	w.t0 = loop_now_ms();
	shut_trigger(w.sh, "signal:SIGTERM");
	assert_int_equal(loop_run(w.loop), 0);
	assert_true(drain_phase_ms(&w.sh->d, DRAIN_DRAIN) >= 250);
	assert_int_equal(w.stops, 1);
	loop_timer_cancel(w.loop, ch.timer);
	end_shell(&w);
	close(ch.c);
	close(ch.a);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_signal_actions),
		cmocka_unit_test(test_run_stop_then_kill),
		cmocka_unit_test(test_run_clean),
		cmocka_unit_test(test_hook_returns_when_drained),
		cmocka_unit_test(test_hook_zero_window),
		cmocka_unit_test(test_hook_no_app),
		cmocka_unit_test(test_hook_budget_exhausted),
		cmocka_unit_test(test_no_drain),
		cmocka_unit_test(test_hold_for_kubelet),
		cmocka_unit_test(test_hold_until_deadline),
		cmocka_unit_test(test_no_hold_after_signal),
		cmocka_unit_test(test_hold_released_by_forwarded),
		cmocka_unit_test(test_hold_refit),
		cmocka_unit_test(test_alloc_fails),
		cmocka_unit_test(test_quiet_deadline_samples),
	};

	log_setup(LOG_ERROR, LOG_FMT_LOGFMT, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
