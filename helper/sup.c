/* sup.c - see sup.h.
 *
 * One epoll loop reads a signalfd. Signals only set work for the loop:
 * forwardable ones are sent on at once, SIGCHLD asks for a reaping pass.
 * When the main child is gone, leftovers get SIGTERM, then SIGKILL after
 * orphan_grace, and we return as soon as waitpid says no child remains
 * (no fixed sleep: tini#180 left them to the kernel's SIGKILL, dumb-init#212
 * exited without waiting).
 */
#include "sup.h"

#include <errno.h>
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
	SUP_RUNNING,		/* the main child runs */
	SUP_LEFTOVER_TERM,	/* it exited; others got SIGTERM */
	SUP_LEFTOVER_KILL,	/* orphan_grace ran out; SIGKILL until none */
	SUP_DONE,
};

struct sup {
	const struct sup_opts *o;
	struct loop *loop;
	int sfd;
	pid_t child;		/* also its process group id */
	int pidfd;		/* race-free signalling of the child, or -1 */
	enum sup_state state;
	int child_code;		/* 0..255, valid once the child is reaped */
	int kill_timer;
	int64_t child_exit_ms;
};

void sup_signals_init(sigset_t *ret_orig_mask)
{
	sigset_t all;
	struct sigaction ign;

	sigfillset(&all);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig_policy(sig) == SIG_POLICY_SYNC)
			sigdelset(&all, sig);
	}
	sigprocmask(SIG_SETMASK, &all, ret_orig_mask);

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig_policy(sig) == SIG_POLICY_IGNORE) {
			sigaction(sig, &ign, NULL);
			sigdelset(&all, sig);
		}
	}
	/* Ignored ones are unblocked again so they cannot pile up pending. */
	sigprocmask(SIG_SETMASK, &all, NULL);
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

/* Sends sig to every leftover: the child's group and all our descendants. */
static size_t signal_leftovers(struct sup *s, int sig)
{
	pid_t pids[1024];
	size_t n = 0, sent = 0;
	int r;

	if (kill(-s->child, sig) == 0)
		sent++;
	r = proc_descendants(getpid(), s->child, pids, sizeof(pids) / sizeof(pids[0]), &n);
	if (r < 0) {
		log_warn("proc_scan_failed", "error=%s", strerror(-r));
		return sent;
	}
	for (size_t i = 0; i < n; i++) {
		if (kill(pids[i], sig) == 0)
			sent++;
	}
	return n > sent ? n : sent;
}

static void finish(struct sup *s)
{
	s->state = SUP_DONE;
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
	for (int i = 0;; i++) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0) {
			if (pid == s->child) {
				s->child_code = status_from_wait(st);
				s->child_exit_ms = loop_now_ms();
				if (WIFSIGNALED(st)) {
					char name[SIG_NAME_MAX];
					log_info("child_exited", "pid=%d signal=%s code=%d",
						 pid, sig_name(WTERMSIG(st), name), s->child_code);
				} else {
					log_info("child_exited", "pid=%d code=%d", pid,
						 s->child_code);
				}
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
	if (!children_left) {
		finish(s);
		return;
	}
	if (child_just_exited) {
		size_t n = signal_leftovers(s, SIGTERM);
		log_info("leftovers_terminating", "count=%zu grace_ms=%lld", n,
			 (long long)s->o->orphan_grace_ms);
		if (loop_timer_add(s->loop, loop_now_ms() + s->o->orphan_grace_ms,
				   on_kill_timer, s, &s->kill_timer) < 0)
			on_kill_timer(s->loop, s);
	} else if (s->state == SUP_LEFTOVER_KILL) {
		/* Something forked after the SIGKILL sweep. */
		signal_leftovers(s, SIGKILL);
	}
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
	if (s->state != SUP_RUNNING) {
		/* The child is gone: what is left is its group. */
		target = "group";
		r = kill(-s->child, to);
	} else if (s->o->target == SUP_TARGET_CHILD) {
		target = "child";
		r = s->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, s->pidfd, to, NULL, 0)
				  : kill(s->child, to);
		if (r < 0 && errno == ENOSYS)
			r = kill(s->child, to);
	} else {
		target = "group";
		r = kill(-s->child, to);
	}
	if (r < 0 && errno != ESRCH) {
		log_warn("signal_forward_failed", "signal=%s target=%s error=%s", to_name,
			 target, strerror(errno));
		return;
	}
	/* Terminal resizes can come in bursts: not worth an info line each. */
	log_event(sig == SIGWINCH ? LOG_DEBUG : LOG_INFO, "signal_forwarded",
		  "signal=%s sent=%s target=%s pgid=%d delivered=%s", from, to_name,
		  target, s->child, r < 0 ? "false" : "true");
}

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct sup *s = data;
	struct signalfd_siginfo si[16];
	bool reap_pending = false;

	(void)l;
	(void)events;
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
				forward(s, sig);
				break;
			default:
				break;
			}
		}
	}
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

int sup_run(const struct sup_opts *o, char *const argv[],
	    const sigset_t *orig_mask)
{
	struct sup s = { .o = o, .sfd = -1, .pidfd = -1, .state = SUP_RUNNING };
	char cmd[256];
	sigset_t mask;
	int r, code;

	join_argv(argv, cmd, sizeof(cmd));
	/* Not PID 1: orphans would go to the real init; make them ours. */
	bool pid1 = getpid() == 1;
	if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("subreaper_failed", "error=%s", strerror(errno));

	sigemptyset(&mask);
	for (int sig = 1; sig < NSIG; sig++) {
		enum sig_policy p = sig_policy(sig);
		if (p == SIG_POLICY_FORWARD || p == SIG_POLICY_REAP)
			sigaddset(&mask, sig);
	}
	s.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0) {
		log_error("start_failed", "what=signalfd error=%s", strerror(errno));
		return STATUS_LASTCALL_FAILED;
	}
	r = loop_new(&s.loop);
	if (r == 0)
		r = loop_add(s.loop, s.sfd, EPOLLIN, on_signalfd, &s);
	if (r < 0) {
		log_error("start_failed", "what=event_loop error=%s", strerror(-r));
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
	log_info("started", "pid=%d cmd=%s mode=%s target=%s", s.child, cmd,
		 pid1 ? "pid1" : "subreaper",
		 o->target == SUP_TARGET_CHILD ? "child" : "group");

	r = loop_run(s.loop);
	if (r < 0) {
		log_error("loop_failed", "error=%s", strerror(-r));
		degrade_wait(&s);
	}
	code = status_map_apply(&o->exit_map, s.child_code);
	log_info("exiting", "code=%d child_code=%d", code, s.child_code);
out:
	if (s.pidfd >= 0)
		close(s.pidfd);
	loop_free(s.loop);
	close(s.sfd);
	return code;
}
