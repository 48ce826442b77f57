/* idle.c - see idle.h. */
#include "idle.h"

#include <dirent.h>
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

/* Closes those of sorted (by inode) that pid holds; done[i] marks each
 * handled, since the processes of an app can share a socket. */
static int close_pid(pid_t pid, const struct conn *sorted, size_t n, bool *done, size_t *closed)
{
	char path[64], link[64];
	struct dirent *de;
	DIR *dir = NULL;
	int pidfd = -1, r = 0;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir) {
		r = errno == ENOENT || errno == ESRCH ? 0 : -errno;
		goto out;
	}
	for (size_t seen = 0; seen < IDLE_FDS_MAX; seen++) {
		struct conn key, *hit;
		unsigned long ino;
		ssize_t len;
		long fd;
		char *end;

		de = readdir(dir);
		if (!de)
			break;
		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
		/* Reading the links takes ptrace rights over the app too. */
		if (len < 0 && (errno == EACCES || errno == EPERM)) {
			r = -EACCES;
			goto out;
		}
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		key.inode = (uint32_t)ino;
		hit = bsearch(&key, sorted, n, sizeof(*sorted), cmp_inode);
		if (!hit || done[hit - sorted])
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end || fd < 0 || fd > INT32_MAX)
			continue;
		r = close_one(pidfd, (int)fd, hit);
		if (r < 0)
			goto out;
		done[hit - sorted] = true;
		*closed += (size_t)r;
		r = 0;
	}
out:
	if (dir)
		closedir(dir);
	close(pidfd);
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
