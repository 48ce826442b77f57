/* idle.c - see idle.h. */
#include "idle.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "limits.h"

bool idle_still(int fd, const struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	struct stat st;
	int inq = 0, outq = 0;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_ino != c->inode)
		return false;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return false;
	if (ti.tcpi_state != CONN_TCP_ESTABLISHED || ti.tcpi_bytes_received != c->bytes_received)
		return false;
	if (ioctl(fd, SIOCINQ, &inq) < 0 || ioctl(fd, SIOCOUTQ, &outq) < 0)
		return false;
	return inq == 0 && outq == 0;
}

static int cmp_inode(const void *a, const void *b)
{
	const struct conn *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* One of pid's descriptors holds c: copy it, check, shut it down. 1 when
 * closed, 0 when left alone, or the copy's refusal (negative errno). */
static int close_one(int pidfd, int fd, const struct conn *c)
{
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	int r = 0;

	if (copy < 0) {
		/* The descriptor closed since the scan: nothing to do. */
		if (errno == EBADF || errno == ESRCH)
			return 0;
		return -errno;
	}
	if (idle_still(copy, c) && shutdown(copy, SHUT_WR) == 0)
		r = 1;
	close(copy);
	return r;
}

struct pid_ctx {
	int pidfd;
	const struct conn *sorted; /* by inode */
	size_t n;
	bool *done; /* the processes of an app can share a socket */
	size_t closed;
};

static int close_fd(int fd, uint32_t inode, void *data)
{
	struct pid_ctx *ctx = data;
	struct conn key, *hit;
	int r;

	key.inode = inode;
	hit = bsearch(&key, ctx->sorted, ctx->n, sizeof(*ctx->sorted), cmp_inode);
	if (!hit || ctx->done[hit - ctx->sorted])
		return 0;
	r = close_one(ctx->pidfd, fd, hit);
	if (r < 0)
		return r;
	ctx->done[hit - ctx->sorted] = true;
	ctx->closed += (size_t)r;
	return 0;
}

/* Closes those of sorted that pid holds. */
static int close_pid(pid_t pid, const struct conn *sorted, size_t n, bool *done, size_t *closed)
{
	struct pid_ctx ctx = { -1, sorted, n, done, 0 };
	int r;

	ctx.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (ctx.pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	r = conn_pid_sockets(pid, close_fd, &ctx);
	*closed += ctx.closed;
	close(ctx.pidfd);
	return r;
}

int idle_close(const struct conn *conns, size_t n, const pid_t *pids, size_t n_pids,
	       size_t *ret_closed)
{
	struct conn *sorted = NULL;
	bool *done = NULL;
	size_t closed = 0;
	int r = 0;

	*ret_closed = 0;
	if (n == 0 || n_pids == 0)
		return 0;
	if (n > IDLE_CLOSE_MAX)
		n = IDLE_CLOSE_MAX;
	sorted = malloc(n * sizeof(*sorted));
	done = calloc(n, sizeof(*done));
	if (!sorted || !done) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(sorted, conns, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_inode);
	for (size_t i = 0; i < n_pids; i++) {
		r = close_pid(pids[i], sorted, n, done, &closed);
		if (r == -EPERM || r == -ENOSYS || r == -EACCES)
			goto out;
		/* Another process's trouble (gone, out of descriptors) hides
		 * only its own connections: the next sample tries again. */
		r = 0;
	}
out:
	*ret_closed = closed;
	free(sorted);
	free(done);
	return r;
}
