/* sig.c - see sig.h. */
#include "sig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "limits.h"

static const char *const sig_names[SIG_MAX + 1] = {
	[SIGHUP] = "HUP",   [SIGINT] = "INT",	    [SIGQUIT] = "QUIT", [SIGILL] = "ILL",
	[SIGTRAP] = "TRAP", [SIGABRT] = "ABRT",	    [SIGBUS] = "BUS",	[SIGFPE] = "FPE",
	[SIGKILL] = "KILL", [SIGUSR1] = "USR1",	    [SIGSEGV] = "SEGV", [SIGUSR2] = "USR2",
	[SIGPIPE] = "PIPE", [SIGALRM] = "ALRM",	    [SIGTERM] = "TERM", [SIGSTKFLT] = "STKFLT",
	[SIGCHLD] = "CHLD", [SIGCONT] = "CONT",	    [SIGSTOP] = "STOP", [SIGTSTP] = "TSTP",
	[SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU",	    [SIGURG] = "URG",	[SIGXCPU] = "XCPU",
	[SIGXFSZ] = "XFSZ", [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH",
	[SIGIO] = "IO",	    [SIGPWR] = "PWR",	    [SIGSYS] = "SYS",
};

enum sig_policy sig_policy(int sig)
{
	if (sig <= 0 || sig > SIG_MAX || sig >= NSIG)
		return SIG_POLICY_INVALID;
	switch (sig) {
	case SIGKILL:
	case SIGSTOP:
		return SIG_POLICY_UNCATCHABLE;
	case SIGCHLD:
		return SIG_POLICY_REAP;
	/* Job control from a terminal is not ours to pass on (catatonit). */
	case SIGTSTP:
	case SIGTTIN:
	case SIGTTOU:
	/* Our own writes to a closed pipe raise it; EPIPE is enough. */
	case SIGPIPE:
		return SIG_POLICY_IGNORE;
	/* Synchronous faults stay at default so a bug in lastcall dumps core. */
	case SIGSEGV:
	case SIGBUS:
	case SIGFPE:
	case SIGILL:
	case SIGABRT:
	case SIGTRAP:
	case SIGSYS:
		return SIG_POLICY_SYNC;
	default:
		/* glibc and musl keep 32 and 33 for their threads. */
		if (sig > 31 && sig < SIG_RTMIN)
			return SIG_POLICY_RESERVED;
		return SIG_POLICY_FORWARD;
	}
}

/* Parses a decimal int in [0, SIG_MAX]; -1 when s is not one. */
static int parse_small(const char *s)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v > SIG_MAX)
		return -1;
	return (int)v;
}

int sig_parse(const char *s, int allow_zero, int *ret_sig)
{
	int sig = -1;

	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)*s)) {
		sig = parse_small(s);
	} else {
		if (strncasecmp(s, "SIG", 3) == 0)
			s += 3;
		if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
			int base = toupper((unsigned char)s[4]) == 'N' ? SIG_RTMIN : SIG_RTMAX;
			const char *rest = s + 5;
			if (*rest == '\0') {
				sig = base;
			} else if ((*rest == '+' && base == SIG_RTMIN) ||
				   (*rest == '-' && base == SIG_RTMAX)) {
				int off = parse_small(rest + 1);
				if (off >= 0)
					sig = base + (*rest == '+' ? off : -off);
				if (sig < SIG_RTMIN || sig > SIG_RTMAX)
					sig = -1;
			}
		} else {
			for (int i = 1; i <= SIG_MAX; i++) {
				if (sig_names[i] && strcasecmp(s, sig_names[i]) == 0) {
					sig = i;
					break;
				}
			}
			/* Common aliases. */
			if (sig < 0 && strcasecmp(s, "IOT") == 0)
				sig = SIGABRT;
			if (sig < 0 && strcasecmp(s, "POLL") == 0)
				sig = SIGIO;
			if (sig < 0 && strcasecmp(s, "CLD") == 0)
				sig = SIGCHLD;
		}
	}
	if (sig == 0 && allow_zero) {
		*ret_sig = 0;
		return 0;
	}
	if (sig <= 0 || sig_policy(sig) == SIG_POLICY_INVALID ||
	    sig_policy(sig) == SIG_POLICY_RESERVED)
		return -EINVAL;
	*ret_sig = sig;
	return 0;
}

const char *sig_name(int sig, char buf[SIG_NAME_MAX])
{
	if (sig > 0 && sig <= SIG_MAX && sig_names[sig])
		snprintf(buf, SIG_NAME_MAX, "SIG%s", sig_names[sig]);
	else if (sig >= SIG_RTMIN && sig <= SIG_RTMAX)
		snprintf(buf, SIG_NAME_MAX, sig == SIG_RTMIN ? "SIGRTMIN" : "SIGRTMIN+%d",
			 sig - SIG_RTMIN);
	else
		snprintf(buf, SIG_NAME_MAX, "%d", sig);
	return buf;
}

/* Sets (on 1), clears (on 0) or only reads (on -1) sig's bit in set, on
 * the kernel's layout: bit sig - 1, in words of unsigned long. Returns
 * the bit as it is after. */
static bool sig_bit(sigset_t *set, int sig, int on)
{
	const size_t word_bits = 8 * sizeof(unsigned long);
	unsigned long w, mask;
	char *p;

	if (sig <= 0 || sig > SIG_MAX)
		return false;
	p = (char *)set + (size_t)(sig - 1) / word_bits * sizeof(w);
	mask = 1UL << ((unsigned)(sig - 1) % word_bits);
	memcpy(&w, p, sizeof(w));
	if (on >= 0) {
		w = on ? w | mask : w & ~mask;
		memcpy(p, &w, sizeof(w));
	}
	return (w & mask) != 0;
}

void sig_set_add(sigset_t *set, int sig)
{
	sig_bit(set, sig, 1);
}

void sig_set_del(sigset_t *set, int sig)
{
	sig_bit(set, sig, 0);
}

bool sig_set_has(const sigset_t *set, int sig)
{
	/* Read only (on -1): the cast does not lead to a write. */
	return sig_bit((sigset_t *)set, sig, -1);
}

int sig_setmask(const sigset_t *set, sigset_t *old)
{
	/* The kernel's sigset is SIG_MAX bits; the rest of old is zeroed. */
	if (old)
		sigemptyset(old);
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, (size_t)(SIG_MAX / 8)) < 0)
		return -errno;
	return 0;
}

void sig_block_all(sigset_t *ret_orig_mask)
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

int sig_fd_open(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	for (int sig = 1; sig <= SIG_MAX; sig++) {
		enum sig_policy p = sig_policy(sig);
		if (p == SIG_POLICY_FORWARD || p == SIG_POLICY_REAP || p == SIG_POLICY_RESERVED)
			sig_set_add(&mask, sig);
	}
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

bool sig_fd_read(int fd, sig_fd_fn *fn, void *data)
{
	struct signalfd_siginfo si[16];
	bool chld = false;

	/* Level-triggered: what a bounded batch leaves comes back next pass. */
	for (int pass = 0; pass < SIG_READ_BATCH / 16; pass++) {
		ssize_t n = read(fd, si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			int sig = (int)si[i].ssi_signo;

			if (sig_policy(sig) == SIG_POLICY_REAP)
				chld = true;
			else if (sig_policy(sig) == SIG_POLICY_FORWARD && fn)
				fn(data, sig);
		}
	}
	return chld;
}

void sig_rewrite_init(struct sig_rewrite *r)
{
	for (int i = 0; i <= SIG_MAX; i++)
		r->to[i] = i;
}

int sig_rewrite_add(struct sig_rewrite *r, const char *spec, char *err, size_t errlen)
{
	char from_s[32];
	const char *colon = strchr(spec, ':');
	int from, to;
	char name[SIG_NAME_MAX];

	if (!colon || (size_t)(colon - spec) >= sizeof(from_s)) {
		snprintf(err, errlen, "expected FROM:TO (e.g. TERM:QUIT), got \"%s\"", spec);
		return -EINVAL;
	}
	memcpy(from_s, spec, (size_t)(colon - spec));
	from_s[colon - spec] = '\0';
	if (sig_parse(from_s, 0, &from) < 0) {
		snprintf(err, errlen, "unknown signal \"%s\" in \"%s\"", from_s, spec);
		return -EINVAL;
	}
	if (sig_parse(colon + 1, 1, &to) < 0) {
		snprintf(err, errlen, "unknown signal \"%s\" in \"%s\"", colon + 1, spec);
		return -EINVAL;
	}
	if (sig_policy(from) != SIG_POLICY_FORWARD) {
		snprintf(err, errlen, "%s is never forwarded, so it cannot be rewritten",
			 sig_name(from, name));
		return -EINVAL;
	}
	if (to != 0 && sig_policy(to) != SIG_POLICY_FORWARD && to != SIGKILL && to != SIGSTOP &&
	    to != SIGTSTP) {
		snprintf(err, errlen, "cannot rewrite to %s", sig_name(to, name));
		return -EINVAL;
	}
	r->to[from] = to;
	return 0;
}

int sig_rewrite_apply(const struct sig_rewrite *r, int sig)
{
	if (sig <= 0 || sig > SIG_MAX)
		return 0;
	return r->to[sig];
}
