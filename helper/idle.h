/* idle.h - closes idle keep-alive connections on the app's behalf
 * (--close-idle), for apps that never close them themselves.
 *
 * A Service keeps sending a keep-alive client's requests to a deleted pod
 * for as long as the client uses its connection (drain.h: pinned); an
 * app that keeps such connections open (Node's server.close()) holds the
 * pod until SIGKILL. Closing a connection between requests is what HTTP
 * allows a server (RFC 9112 9.6) and what pooling clients expect: they
 * open a new one, which the Service sends elsewhere.
 *
 * The socket is the app's: its descriptor is copied with pidfd_getfd
 * (ptrace rights over the app: lastcall run is its parent and the same
 * user; under the RuntimeDefault seccomp profile the call also needs
 * CAP_SYS_PTRACE, moby#41665), checked once more, and shut down for
 * writing: the client gets a FIN, not a reset, and the app closes its
 * descriptor when the client closes its end.
 */
#ifndef LASTCALL_IDLE_H
#define LASTCALL_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conn.h"

/*
 * Whether the connection behind the copied descriptor fd is still as idle
 * as the sample saw it (c): the same socket (inode), established, nothing
 * queued either way, nothing received since. Pure but for the fd's
 * getsockopt/ioctl/fstat.
 */
bool idle_still(int fd, const struct conn *c);

/*
 * Closes each of conns (idle in the last sample, conn.h) that one of pids
 * holds: finds its descriptor in /proc/PID/fd, copies it, checks it with
 * idle_still, and shuts it down for writing. *ret_closed: how many.
 * Returns 0, or -EPERM / -ENOSYS / -EACCES when the kernel refuses the
 * copy or the app's descriptor links (no ptrace rights over the app,
 * seccomp, no pidfd_getfd before Linux 5.6): the caller stops trying. A connection that went away
 * or got busy meanwhile is left alone.
 */
int idle_close(const struct conn *conns, size_t n, const pid_t *pids, size_t n_pids,
	       size_t *ret_closed);

#endif
