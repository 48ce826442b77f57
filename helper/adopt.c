/* adopt.c - see adopt.h.
 *
 * Nothing here is our child: signals are never forwarded (a --drain-on
 * signal starts the drain), and a SIGCHLD only reaps what a helper left.
 * The app is watched by its pidfd, or polled through /proc on kernels
 * without one, and looked for again when it is gone before the drain.
 */
#include "adopt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "limits.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "shut.h"

struct adopt {
	const struct sup_opts *o;
	enum sup_mode mode;
	struct loop *loop;
	int sfd;
	bool present; /* the app was found and has not exited */
	pid_t pid;    /* the app's main process, while present */
	int pidfd;    /* readable when it exits, or -1 */
	bool stopped; /* the stop signal went to it */
	bool seek_failed_logged;
	int64_t seek_ms; /* looking for it: backs off to SAMPLE_IDLE_MS */
	int watch_timer;
	bool ended;
	bool app_left; /* it still ran when we finished */
	int code;      /* what adopt_run returns */
	struct shut *sh;
};

static const char *target_name(const struct sup_opts *o)
{
	return o->pid_file ? o->pid_file : o->target_process ? o->target_process : "none";
}

static void finish(struct adopt *a, int code)
{
	a->code = code;
	a->app_left = a->present;
	a->ended = true;
	shut_end(a->sh);
	loop_timer_cancel(a->loop, a->watch_timer);
	a->watch_timer = 0;
	if (a->pidfd >= 0)
		loop_del(a->loop, a->pidfd);
	loop_stop(a->loop);
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
	pid_t pids[PID1_CHILDREN_MAX];
	size_t n = 0, others = 0;

	if (proc_descendants(1, 0, pids, PID1_CHILDREN_MAX, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		others += pids[i] != getpid();
	return others == 0;
}

static bool hook_on_pid1(const struct adopt *a)
{
	return a->mode == SUP_MODE_HOOK && a->present && a->pid == 1;
}

static void on_watch_timer(struct loop *l, void *data);

/* Polls only what no fd tells: the app while it is missing, its exit
 * without a pidfd, and a stopped PID 1's children. */
static void watch_arm(struct adopt *a)
{
	int64_t next;

	loop_timer_cancel(a->loop, a->watch_timer);
	a->watch_timer = 0;
	if (a->ended)
		return;
	if (!a->present) {
		next = a->seek_ms;
		a->seek_ms = a->seek_ms * 2 > SAMPLE_IDLE_MS ? SAMPLE_IDLE_MS : a->seek_ms * 2;
		if (shut_phase(a->sh) != DRAIN_SERVING)
			next = a->o->sample_ms;
	} else if (a->stopped && hook_on_pid1(a)) {
		next = PID1_POLL_MS;
	} else if (a->pidfd < 0) {
		next = a->o->sample_ms;
	} else {
		return; /* the pidfd says when it exits */
	}
	if (loop_timer_add(a->loop, loop_now_ms() + next, on_watch_timer, a, &a->watch_timer) < 0)
		log_error("timer_failed", "what=watch");
}

/* The app's process is gone (exited, or its pidfd said so). */
static void target_gone(struct adopt *a)
{
	if (!a->present)
		return;
	log_info("target_exited", "pid=%d ms=%lld", a->pid, shut_ms(a->sh, loop_now_ms()));
	if (a->pidfd >= 0) {
		loop_del(a->loop, a->pidfd);
		close(a->pidfd);
		a->pidfd = -1;
	}
	a->present = false;
	if (shut_phase(a->sh) == DRAIN_SERVING) {
		/* Crashed or restarted by the kubelet: wait for the next one. */
		a->seek_ms = a->o->sample_ms;
		shut_app_lost(a->sh);
		watch_arm(a);
		return;
	}
	shut_app_exited(a->sh, -1);
	shut_all_gone(a->sh);
	finish(a, a->code);
}

static void on_target_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct adopt *a = data;

	(void)events;
	if (a->ended)
		loop_del(l, fd);
	else
		target_gone(a);
}

/*
 * Of several processes of the app's name (a shared PID namespace holds
 * every container's), the one that serves: its tree listens on a --port,
 * or on any TCP port when none is given. Asked only when there is a
 * choice; a tie goes to the oldest.
 */
static bool serves(pid_t pid, void *data)
{
	const struct adopt *a = data;
	pid_t pids[PROC_TREE_MAX];
	uint16_t ports[PORTS_MAX];
	size_t n = 0, np = 0;

	pids[0] = pid;
	if (proc_descendants(pid, 0, pids + 1, PROC_TREE_MAX - 1, &n) < 0 ||
	    conn_listen_ports(pids, n + 1, ports, PORTS_MAX, &np) < 0)
		return false;
	if (a->o->ports.n == 0)
		return np > 0;
	for (size_t i = 0; i < np; i++) {
		for (size_t k = 0; k < a->o->ports.n; k++) {
			if (ports[i] == a->o->ports.v[k])
				return true;
		}
	}
	return false;
}

/* Looks for the app by --pid-file or --target-process. */
static void seek(struct adopt *a)
{
	const struct sup_opts *o = a->o;
	pid_t pid = 0;
	int r;

	if (a->present || (!o->pid_file && !o->target_process))
		return;
	r = o->pid_file ? proc_read_pid_file(o->pid_file, &pid)
			: proc_find(o->target_process, getpid(), serves, a, &pid);
	if (r == 0 && (pid == getpid() || !proc_alive(pid)))
		r = -ESRCH;
	if (r < 0) {
		if (!a->seek_failed_logged)
			log_info("target_missing", "target=%s error=%s", target_name(o),
				 r == -ESRCH ? "no such process" : strerror(-r));
		a->seek_failed_logged = true;
		return;
	}
	a->seek_failed_logged = false;
	a->pid = pid;
	a->present = true;
	a->pidfd = sup_pidfd_open(pid);
	if (a->pidfd >= 0 && loop_add(a->loop, a->pidfd, EPOLLIN, on_target_fd, a) < 0) {
		close(a->pidfd);
		a->pidfd = -1;
	}
	/* Without a pidfd (before Linux 5.3) the watch timer polls /proc. */
	log_info("target_found", "pid=%d target=%s watch=%s", pid, target_name(o),
		 a->pidfd >= 0 ? "pidfd" : "proc");
	shut_app_found(a->sh);
}

static void on_watch_timer(struct loop *l, void *data)
{
	struct adopt *a = data;

	(void)l;
	a->watch_timer = 0;
	if (a->present && a->pidfd < 0 && !proc_alive(a->pid))
		target_gone(a);
	if (a->ended)
		return;
	if (a->stopped && hook_on_pid1(a) && pid1_stopping()) {
		log_info("returning", "reason=pid1_stopping ms=%lld",
			 shut_ms(a->sh, loop_now_ms()));
		finish(a, 0);
		return;
	}
	seek(a);
	watch_arm(a);
}

static void on_signal(void *data, int sig)
{
	struct adopt *a = data;
	char name[SIG_NAME_MAX], origin[SIG_NAME_MAX + 8];
	bool drain_on = a->o->drain_on[sig];

	if (a->ended)
		return; /* finished earlier in the same batch */
	sig_name(sig, name);
	switch (shut_signal_action(a->mode, sig, drain_on, a->present, shut_phase(a->sh))) {
	case SHUT_SIG_DRAIN:
		snprintf(origin, sizeof(origin), "signal:%s", name);
		shut_trigger(a->sh, origin);
		break;
	case SHUT_SIG_END:
		if (drain_on)
			log_info("app_gone", "signal=%s", name);
		else /* --drain-on none: a sidecar that only serves probes */
			log_info("stopping", "signal=%s drain=off", name);
		finish(a, 0);
		break;
	case SHUT_SIG_INTERRUPT:
		log_warn("interrupted", "signal=%s ms=%lld", name, shut_ms(a->sh, loop_now_ms()));
		finish(a, 1);
		break;
	default:
		log_debug("signal_ignored", "signal=%s", name);
		break;
	}
}

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct adopt *a = data;

	(void)l;
	(void)events;
	/* Nothing of ours runs; reap whatever a helper left. Once finished,
	 * signals are read and dropped. */
	if (sig_fd_read(fd, a->ended ? NULL : on_signal, a)) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

/* ---- what the drain shell asks of us ---- */

static const char *op_target(void *data, pid_t *ret_pid)
{
	*ret_pid = ((struct adopt *)data)->pid;
	return "process";
}

static int op_stop(void *data, int sig)
{
	struct adopt *a = data;

	return a->present ? sup_pidfd_signal(a->pidfd, a->pid, sig) : -ESRCH;
}

/* The app and what it started, while it is there. */
static size_t op_kill(void *data)
{
	struct adopt *a = data;
	pid_t pids[PROC_TREE_MAX];
	size_t n = 0, sent = 0;
	int r;

	/* Only a sidecar kills (a hook leaves it to the kubelet): its exit
	 * code says so. */
	a->code = 128 + SIGKILL;
	if (!a->present)
		return 0;
	/* Look before signalling, so what dies at once is still counted. */
	r = proc_descendants(a->pid, 0, pids, PROC_TREE_MAX, &n);
	sent += sup_pidfd_signal(a->pidfd, a->pid, SIGKILL) == 0;
	if (r < 0) {
		log_warn("proc_scan_failed", "error=%s", strerror(-r));
		return sent;
	}
	for (size_t i = 0; i < n; i++)
		sent += kill(pids[i], SIGKILL) == 0;
	return sent;
}

static bool op_running(void *data)
{
	return ((struct adopt *)data)->present;
}

/* The app and its descendants; a hook with no app named: the whole pod. */
static int op_pids(void *data, pid_t *pids, size_t cap, size_t *ret_n)
{
	struct adopt *a = data;
	int r;

	if (a->mode == SUP_MODE_HOOK && !a->o->pid_file && !a->o->target_process)
		return 1;
	if (!a->present || cap < 1)
		return -ESRCH;
	pids[0] = a->pid;
	r = proc_descendants(a->pid, 0, pids + 1, cap - 1, ret_n);
	if (r == 0)
		(*ret_n)++;
	return r;
}

static void op_done(void *data, int code)
{
	finish(data, code);
}

/* Watch the exit from now on: at once, and closely for a hook's PID 1. */
static void op_stopped(void *data)
{
	struct adopt *a = data;

	a->stopped = true;
	watch_arm(a);
	if (hook_on_pid1(a)) {
		loop_timer_cancel(a->loop, a->watch_timer);
		a->watch_timer = 0;
		if (loop_timer_add(a->loop, loop_now_ms(), on_watch_timer, a, &a->watch_timer) < 0)
			log_error("timer_failed", "what=watch");
	}
}

static const struct shut_ops adopt_shut_ops = {
	.target = op_target,
	.stop = op_stop,
	.kill = op_kill,
	.running = op_running,
	.pids = op_pids,
	.done = op_done,
	.stopped = op_stopped,
};

int adopt_run(const struct sup_opts *o, enum sup_mode mode)
{
	struct adopt a = { .o = o, .mode = mode, .sfd = -1, .pidfd = -1, .seek_ms = o->sample_ms };
	struct shut_role role = shut_role_for(mode, o);
	char sig[SIG_NAME_MAX];
	int r;

	if (sup_open(&a.loop, &a.sfd, on_signalfd, &a) < 0 ||
	    shut_new(a.loop, o, &role, &adopt_shut_ops, &a, &a.sh) < 0) {
		a.code = STATUS_LASTCALL_FAILED;
		goto out;
	}
	/*
	 * From now on we must not die: the app may be there, and a hook's
	 * failure to drain must not be worse than no hook. Every error below
	 * is logged and survived.
	 */
	seek(&a);
	log_info("started", "mode=%s target=%s stop_signal=%s drain=%s grace_ms=%lld",
		 mode == SUP_MODE_HOOK ? "hook" : "sidecar", target_name(o),
		 o->stop_signal ? sig_name(o->stop_signal, sig) : "none",
		 shut_drains(a.sh) ? "on" : "off", (long long)shut_grace_ms(a.sh));
	/* A hook's own grace only bounds its wait. */
	sup_log_grace(o, mode == SUP_MODE_HOOK ? LOG_DEBUG : LOG_INFO);
	watch_arm(&a);
	shut_start(a.sh);
	if (mode == SUP_MODE_HOOK)
		shut_trigger(a.sh, "prestop:standalone");

	r = loop_run(a.loop);
	if (r < 0) {
		log_error("loop_failed", "error=%s", strerror(-r));
		a.code = STATUS_LASTCALL_FAILED;
	}
	shut_exit(a.sh, a.code, -1, a.app_left);
	log_info("exiting", "code=%d ms=%lld", a.code, shut_ms(a.sh, loop_now_ms()));
out:
	shut_free(a.sh);
	if (a.pidfd >= 0)
		close(a.pidfd);
	loop_free(a.loop);
	if (a.sfd >= 0)
		close(a.sfd);
	return a.code;
}
