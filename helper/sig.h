/* sig.h - signal names, the forwarding policy and the rewrite table. Pure. */
#ifndef LASTCALL_SIG_H
#define LASTCALL_SIG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* Highest signal number we handle (Linux: 64). */
#define SIG_MAX 64
#define SIG_NAME_MAX 16
/* Real-time signals by the kernel's numbers. glibc's SIGRTMIN is 34,
 * musl's 35 (it keeps 32..34 for itself): names follow the kernel and
 * glibc, so "SIGRTMIN+1" is 35 in every build of lastcall. */
#define SIG_RTMIN 34
#define SIG_RTMAX 64

enum sig_policy {
	SIG_POLICY_FORWARD,	/* read from signalfd and sent on */
	SIG_POLICY_REAP,	/* SIGCHLD: reap, never forward */
	SIG_POLICY_IGNORE,	/* TTY stop signals and SIGPIPE: set to SIG_IGN */
	SIG_POLICY_SYNC,	/* faults: left unblocked and at default */
	SIG_POLICY_UNCATCHABLE, /* SIGKILL, SIGSTOP */
	SIG_POLICY_RESERVED,	/* 32, 33: the libcs' own (threads): blocked,
				 * read and dropped, never forwarded */
	SIG_POLICY_INVALID,	/* not a signal number */
};

/* What lastcall does with signal sig. */
enum sig_policy sig_policy(int sig);

/*
 * Parses a signal: "TERM", "SIGTERM", "sigterm", "15", "RTMIN+2", "SIGRTMAX-1".
 * With allow_zero, "0" is accepted (the rewrite table's "drop").
 * Returns 0 and *ret_sig, or -EINVAL.
 */
int sig_parse(const char *s, int allow_zero, int *ret_sig);

/* Writes the canonical name ("SIGTERM", "SIGRTMIN+2") of sig into buf. */
const char *sig_name(int sig, char buf[SIG_NAME_MAX]);

/*
 * sigset_t on the kernel's bits, for every signal 1..SIG_MAX: sigaddset
 * refuses the ones a libc keeps (musl: 32..34), which would leave them
 * unblocked, and at their default action they end the process.
 */
void sig_set_add(sigset_t *set, int sig);
void sig_set_del(sigset_t *set, int sig);
bool sig_set_has(const sigset_t *set, int sig);

/* Sets the calling thread's mask to set, the old one into old (NULL: not
 * wanted), through the system call: glibc's sigprocmask quietly leaves 32
 * and 33 unblocked, and nothing handles them. 0 or a negative errno. */
int sig_setmask(const sigset_t *set, sigset_t *old);

/*
 * Blocks every signal but the synchronous faults and ignores the TTY stop
 * signals and SIGPIPE, saving what was there into *ret_orig_mask for the
 * child. Called first thing in main, before anything can raise a signal.
 */
void sig_block_all(sigset_t *ret_orig_mask);

/* A signalfd (CLOEXEC, non-blocking) for every signal lastcall reads:
 * forwarded, SIGCHLD, and the libcs' reserved ones (read and dropped).
 * The fd, or a negative errno. */
int sig_fd_open(void);

/* Reads the signalfd, at most SIG_READ_BATCH signals (the rest come back
 * on the next pass): fn (may be NULL: dropped) for each forwardable one,
 * in order; the reserved ones are dropped. Returns whether SIGCHLD came. */
typedef void sig_fd_fn(void *data, int sig);
bool sig_fd_read(int fd, sig_fd_fn *fn, void *data);

/* FROM:TO rewrites applied to forwarded signals; TO 0 drops the signal. */
struct sig_rewrite {
	int to[SIG_MAX + 1];
};

void sig_rewrite_init(struct sig_rewrite *r);
/*
 * Parses "FROM:TO" and records it. Only forwardable signals can be
 * rewritten, to a forwardable signal or 0. On error returns -EINVAL and
 * writes a reason into err.
 */
int sig_rewrite_add(struct sig_rewrite *r, const char *spec, char *err, size_t errlen);
/* The signal to send for a received sig, 0 to drop it. */
int sig_rewrite_apply(const struct sig_rewrite *r, int sig);

#endif
