/* conn.h - the app's TCP connections as the kernel sees them (sock_diag).
 *
 * A dump of TCP sockets through netlink sock_diag with tcp_info, compared
 * with the dump before, tells per connection whether a request is in
 * flight: bytes are queued either way, or data arrived that nothing was
 * sent after (a request not answered yet), or data went out since the last
 * dump (an answer still being written). Idle keep-alive connections are
 * not busy. The comparison also tells whether new connections or new
 * requests arrived in between.
 */
#ifndef LASTCALL_CONN_H
#define LASTCALL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nlmsghdr;

/* TCP states as sock_diag reports them (the kernel's tcp_states.h). */
enum { CONN_TCP_ESTABLISHED = 1, CONN_TCP_LISTEN = 10 };

struct conn {
	uint64_t cookie; /* the kernel's socket cookie: identity */
	uint32_t inode;
	uint16_t lport;	       /* local port, host order */
	uint8_t state;	       /* TCP_ESTABLISHED, TCP_LISTEN... */
	uint32_t rqueue;       /* bytes not read by the app yet */
	uint32_t wqueue;       /* bytes not sent or not acked */
	uint32_t last_recv_ms; /* ms since data was last received */
	uint32_t last_sent_ms; /* ms since data was last sent */
	uint64_t bytes_received;
	uint64_t bytes_sent; /* tcpi_bytes_sent, or tcpi_bytes_acked before 4.19 */
	bool has_info;	     /* tcp_info was present */
	bool has_bytes;	     /* ...with the byte counters (Linux 4.1+) */
	bool pending;	     /* a request not answered yet (set by conn_compare) */
	bool idle;	     /* nothing moved since the last dump (conn_compare) */
};

/*
 * Parses one inet_diag reply message. Returns 0, or -EINVAL for a message
 * that is truncated or not an inet_diag one. Pure.
 */
int conn_parse(const struct nlmsghdr *nlh, struct conn *ret);

/*
 * Whether c holds a request not answered yet, given the same connection in
 * the previous dump (NULL when it is new). The kernel's last-send and
 * last-receive times tick in jiffies (4 ms at HZ=250), so a request that
 * arrives on the tick of the previous answer, or of the accept, looks
 * answered by the times alone: the byte counters decide, and the times
 * only break the tie when both moved since the last dump. Pure.
 */
bool conn_pending(const struct conn *c, const struct conn *prev);

/* True when c has a request in flight: bytes queued, a request pending
 * (c->pending), or data sent since prev (an answer still going out). */
bool conn_busy(const struct conn *c, const struct conn *prev);

/* Sorts a dump by cookie, for conn_compare. */
void conn_sort(struct conn *c, size_t n);

struct conn_stats {
	int established;  /* serving connections now */
	int busy;	  /* of which with a request in flight */
	int new_conns;	  /* not in the previous dump */
	int new_requests; /* known ones that received bytes since */
};

/*
 * Counts the established connections of cur on one of ports (all when
 * n_ports is 0) and compares them with prev (both sorted), setting
 * cur[i].pending for the next comparison, and cur[i].idle for a known
 * connection with nothing queued, no request pending and not a byte
 * either way since prev: between requests, for as long as a sample
 * interval. Pure.
 */
void conn_compare(const struct conn *prev, size_t n_prev, struct conn *cur, size_t n_cur,
		  const uint16_t *ports, size_t n_ports, struct conn_stats *ret);

/*
 * Builds inet_diag filter bytecode that keeps sockets whose local port is
 * one of ports (n_ports >= 1): per port "sport >= P && sport <= P", the
 * blocks chained so that the kernel's audit (inet_diag_bc_audit) accepts
 * it on every kernel since 2.6. Returns the length, or -ENOSPC when it
 * does not fit in size. Pure.
 */
int conn_bytecode_ports(const uint16_t *ports, size_t n_ports, void *buf, size_t size);

/*
 * Dumps the TCP sockets (IPv4 and IPv6) in the states of state_mask
 * (1 << CONN_TCP_ESTABLISHED...) into out; with n_ports > 0 only those
 * whose local port is one of ports, filtered in the kernel. Returns 0
 * with *ret_n, or with more than cap the number left out (positive, with
 * *ret_n == cap; -ENOBUFS when cap is 0), or a negative errno.
 */
int conn_dump(uint32_t state_mask, const uint16_t *ports, size_t n_ports, struct conn *out,
	      size_t cap, size_t *ret_n);

/* Called with each socket descriptor of a process and its inode; a
 * negative errno stops the walk and is returned. */
typedef int conn_socket_fn(int fd, uint32_t inode, void *data);

/*
 * Calls fn for each socket among pid's descriptors (/proc/PID/fd links
 * "socket:[INODE]"). 0, also when pid is gone (nothing of it to find);
 * -EACCES when its fds are not ours to read (another user's, not
 * dumpable); -E2BIG past CONN_PID_FDS_MAX descriptors; any other failure
 * to open or read the directory is its negative errno: a caller must not
 * take what it could not see for "nothing there" (opening /proc/PID/fd
 * takes a descriptor, which a process at its RLIMIT_NOFILE does not have:
 * EMFILE).
 */
int conn_pid_sockets(pid_t pid, conn_socket_fn *fn, void *data);

/*
 * The TCP ports on which the processes pids listen: their socket inodes
 * (from /proc/PID/fd) matched against the listening sockets; with pids
 * NULL, every listening port of the network namespace. Sorted, unique.
 * Returns 0 or a negative errno, never a partial answer: a pid that is
 * gone has nothing to find, but one whose fds cannot be read (EMFILE at
 * our RLIMIT_NOFILE, ENFILE, ENOMEM; -EACCES for another user's when no
 * other pid listens) is an error, as is a failed dump.
 */
int conn_listen_ports(const pid_t *pids, size_t n_pids, uint16_t *ports, size_t cap, size_t *ret_n);

#endif
