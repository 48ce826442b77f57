/* sup.c - see sup.h.
 *
 * `lastcall run`: one epoll loop reads a signalfd. Signals only set work
 * for the loop: forwardable ones are sent on at once, a drain signal goes
 * to the drain shell (shut.c), SIGCHLD asks for a reaping pass. The shell
 * asks for the stop signal and the final SIGKILL through shut_ops.
 *
 * When the main child is gone, leftovers get SIGTERM, then SIGKILL after
 * orphan_grace (or at the drain's kill deadline if that comes first), and
 * we return as soon as waitpid says no child remains (no fixed sleep:
 * tini#180 left them to the kernel's SIGKILL, dumb-init#212 exited without
 * waiting).
 */
#include "sup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "shut.h"
#include "spawn.h"

/* SYS_pidfd_open and SYS_pidfd_send_signal from the headers, for each
 * architecture (glibc 2.36 and musl 1.2.3 have them): never a number of
 * ours. */

/* The main child's life, as far as the supervisor is concerned. */
enum sup_state {
	SUP_RUNNING,	   /* the main child runs */
	SUP_LEFTOVER_TERM, /* it exited; others got SIGTERM */
	SUP_LEFTOVER_KILL, /* SIGKILL until none */
	SUP_DONE,
};

struct sup {
	const struct sup_opts *o;
	struct loop *loop;
	int sfd;
	pid_t child; /* also its process group id */
	int pidfd;   /* race-free signalling of the child, or -1 */
	enum sup_state state;
	int child_code; /* 0..255, valid once the child is reaped */
	int64_t child_exit_ms;
	int kill_timer;
	struct shut *sh;
};

int sup_open(struct loop **ret_loop, int *ret_sfd, loop_fd_fn *fn, void *data)
{
	int r = sig_fd_open();

	if (r < 0) {
		log_error("start_failed", "what=signalfd error=%s", strerror(-r));
		return r;
	}
	*ret_sfd = r;
	r = loop_new(ret_loop);
	if (r == 0)
		r = loop_add(*ret_loop, *ret_sfd, EPOLLIN, fn, data);
	if (r < 0)
		log_error("start_failed", "what=event_loop error=%s", strerror(-r));
	return r;
}

void sup_log_grace(const struct sup_opts *o, enum log_level level)
{
	if (o->grace_assumed)
		log_event(level, "grace_period", "grace_ms=%lld assumed=%s hint=%s",
			  (long long)o->budget.grace_ms, o->grace_assumed, o->grace_hint);
}

int sup_pidfd_signal(int pidfd, pid_t pid, int sig)
{
	int r = pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0)
			   : kill(pid, sig);

	/* Kernels before 5.1 have no pidfd_send_signal. */
	if (r < 0 && errno == ENOSYS)
		r = kill(pid, sig);
	return r < 0 ? -errno : 0;
}

int sup_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
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

/*
 * Sends sig to every leftover: the child's group and all our descendants.
 * Returns how many descendants it reached.
 */
static size_t signal_leftovers(struct sup *s, int sig)
{
	pid_t pids[PROC_TREE_MAX];
	size_t n = 0, sent = 0;
	/* Look before signalling, so what dies at once is still counted. */
	int r = proc_descendants(getpid(), s->child, pids, PROC_TREE_MAX, &n);

	kill(-s->child, sig);
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
	s->state = SUP_DONE;
	shut_end(s->sh);
	loop_timer_cancel(s->loop, s->kill_timer);
	s->kill_timer = 0;
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

/* Reaps every zombie; returns false when no child at all remains. */
static bool reap(struct sup *s)
{
	for (;;) {
		char name[SIG_NAME_MAX];
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0 && pid != s->child) {
			log_debug("reaped", "pid=%d code=%d", pid, status_from_wait(st));
			continue;
		}
		if (pid > 0) {
			s->child_code = status_from_wait(st);
			s->child_exit_ms = loop_now_ms();
			if (WIFSIGNALED(st))
				log_info("child_exited", "pid=%d signal=%s code=%d ms=%lld", pid,
					 sig_name(WTERMSIG(st), name), s->child_code,
					 shut_ms(s->sh, s->child_exit_ms));
			else
				log_info("child_exited", "pid=%d code=%d ms=%lld", pid,
					 s->child_code, shut_ms(s->sh, s->child_exit_ms));
			if (s->pidfd >= 0) {
				close(s->pidfd);
				s->pidfd = -1;
			}
			s->state = SUP_LEFTOVER_TERM;
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
	if (child_just_exited)
		shut_app_exited(s->sh, s->child_code);
	if (!children_left) {
		shut_all_gone(s->sh);
		finish(s);
		return;
	}
	if (child_just_exited) {
		int64_t now = loop_now_ms();
		int64_t at = now + s->o->orphan_grace_ms;
		int64_t kill_at = shut_kill_at(s->sh);
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

/* What a signal to the app goes to: the child alone when asked and it
 * runs; else its process group (the child gone, that is what is left). */
static const char *target_of(const struct sup *s)
{
	return s->state != SUP_RUNNING || s->o->target == SUP_TARGET_GROUP ? "group" : "child";
}

/* Sends sig to the configured target; returns 0 or a negative errno. */
static int send_target(struct sup *s, int sig)
{
	if (strcmp(target_of(s), "group") == 0)
		return kill(-s->child, sig) < 0 ? -errno : 0;
	return sup_pidfd_signal(s->pidfd, s->child, sig);
}

static void forward(struct sup *s, int sig)
{
	char from[SIG_NAME_MAX], to_name[SIG_NAME_MAX];
	int to = sig_rewrite_apply(&s->o->rewrite, sig);
	const char *target = target_of(s);
	int r;

	sig_name(sig, from);
	if (to == 0) {
		log_info("signal_dropped", "signal=%s", from);
		return;
	}
	sig_name(to, to_name);
	r = send_target(s, to);
	if (r < 0 && r != -ESRCH) {
		log_warn("signal_forward_failed", "signal=%s target=%s error=%s", to_name, target,
			 strerror(-r));
		return;
	}
	/* Terminal resizes can come in bursts: not worth an info line each. */
	log_event(sig == SIGWINCH ? LOG_DEBUG : LOG_INFO, "signal_forwarded",
		  "signal=%s sent=%s target=%s pgid=%d delivered=%s", from, to_name, target,
		  s->child, r < 0 ? "false" : "true");
}

/* A forwardable signal read from the signalfd. */
static void on_signal(void *data, int sig)
{
	struct sup *s = data;
	char name[SIG_NAME_MAX], origin[SIG_NAME_MAX + 8];

	snprintf(origin, sizeof(origin), "signal:%s", sig_name(sig, name));
	if (shut_signal_action(SUP_MODE_RUN, sig, s->o->drain_on[sig], s->state == SUP_RUNNING,
			       shut_phase(s->sh)) == SHUT_SIG_DRAIN) {
		shut_trigger(s->sh, origin);
		return;
	}
	forward(s, sig);
	shut_signalled(s->sh, origin);
}

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct sup *s = data;
	bool reap_pending;

	(void)l;
	(void)events;
	/* Exiting (the last Events, --on-exit-url): nothing is left to signal
	 * or reap; read them so the loop does not spin. */
	reap_pending = sig_fd_read(fd, s->state == SUP_DONE ? NULL : on_signal, s);
	if (s->state == SUP_DONE)
		return;
	if (reap_pending) {
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

/* ---- what the drain shell asks of us ---- */

static const char *op_target(void *data, pid_t *ret_pid)
{
	struct sup *s = data;

	*ret_pid = s->child;
	return target_of(s);
}

static int op_stop(void *data, int sig)
{
	return send_target(data, sig);
}

static size_t op_kill(void *data)
{
	struct sup *s = data;

	if (s->state == SUP_LEFTOVER_TERM)
		s->state = SUP_LEFTOVER_KILL;
	return signal_leftovers(s, SIGKILL);
}

static bool op_running(void *data)
{
	return ((struct sup *)data)->state == SUP_RUNNING;
}

/* The child's whole tree: a server's workers may hold the sockets. */
static int op_pids(void *data, pid_t *pids, size_t cap, size_t *ret_n)
{
	struct sup *s = data;

	if (s->state != SUP_RUNNING)
		return -ESRCH;
	return proc_descendants(getpid(), 0, pids, cap, ret_n);
}

static const struct shut_ops sup_shut_ops = {
	.target = op_target,
	.stop = op_stop,
	.kill = op_kill,
	.running = op_running,
	.pids = op_pids,
	/* No .done: a run ends when its child and leftovers are gone. */
};

int sup_run(const struct sup_opts *o, char *const argv[], const sigset_t *orig_mask)
{
	struct sup s = { .o = o, .sfd = -1, .pidfd = -1, .state = SUP_RUNNING };
	struct shut_role role = shut_role_for(SUP_MODE_RUN, o);
	bool pid1 = getpid() == 1;
	enum spawn_failure failure;
	char cmd[256];
	int r, code;

	join_argv(argv, cmd, sizeof(cmd));
	/* Not PID 1: orphans would go to the real init; make them ours. */
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("subreaper_failed", "error=%s", strerror(errno));

	if (sup_open(&s.loop, &s.sfd, on_signalfd, &s) < 0 ||
	    shut_new(s.loop, o, &role, &sup_shut_ops, &s, &s.sh) < 0) {
		code = STATUS_LASTCALL_FAILED;
		goto out;
	}

	r = spawn_child(argv, orig_mask, &s.child, &failure);
	if (r < 0 && failure == SPAWN_FAILED_START) {
		/* No process for CMD: not CMD's fault (126 would send its
		 * owner looking at the image). */
		code = STATUS_LASTCALL_FAILED;
		log_error("spawn_failed", "cmd=%s error=%s code=%d hint=%s", argv[0], strerror(-r),
			  code,
			  r == -EAGAIN ? "no process could be made: the container's pids limit "
					 "(pids.max, ulimit -u) is reached"
				       : "no process could be made");
		goto out;
	}
	if (r < 0) {
		code = r == -ENOENT || r == -ENOTDIR ? STATUS_NOT_FOUND : STATUS_NOT_EXECUTABLE;
		log_error("exec_failed", "cmd=%s error=%s code=%d", argv[0], strerror(-r), code);
		goto out;
	}

	/*
	 * From now on we must not die: the child runs, and everything it
	 * started is ours to reap. Every error below is logged and survived.
	 */
	s.pidfd = sup_pidfd_open(s.child);
	log_info("started", "pid=%d cmd=%s mode=%s target=%s drain=%s grace_ms=%lld", s.child, cmd,
		 pid1 ? "pid1" : "subreaper", o->target == SUP_TARGET_CHILD ? "child" : "group",
		 shut_drains(s.sh) ? "on" : "off", (long long)shut_grace_ms(s.sh));
	sup_log_grace(o, LOG_INFO);
	/* Sampling finds the app ready: the drain, the probes and the gate
	 * condition need it. */
	shut_start(s.sh);

	r = loop_run(s.loop);
	if (r < 0) {
		log_error("loop_failed", "error=%s", strerror(-r));
		degrade_wait(&s);
	}
	code = status_map_apply(&o->exit_map, s.child_code);
	shut_exit(s.sh, code, s.child_code, false);
	log_info("exiting", "code=%d child_code=%d ms=%lld", code, s.child_code,
		 shut_ms(s.sh, loop_now_ms()));
out:
	shut_free(s.sh);
	if (s.pidfd >= 0)
		close(s.pidfd);
	loop_free(s.loop);
	if (s.sfd >= 0)
		close(s.sfd);
	return code;
}
