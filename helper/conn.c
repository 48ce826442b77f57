/* conn.c - see conn.h. */
#include "conn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"
#include "nl.h"

int conn_parse(const struct nlmsghdr *nlh, struct conn *ret)
{
	const struct inet_diag_msg *msg;
	const struct nlattr *attr;
	struct conn c;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*msg) || nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return -EINVAL;
	msg = NLMSG_DATA(nlh);
	if (msg->idiag_family != AF_INET && msg->idiag_family != AF_INET6)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	memcpy(&c.cookie, msg->id.idiag_cookie, sizeof(c.cookie));
	c.inode = msg->idiag_inode;
	c.lport = ntohs(msg->id.idiag_sport);
	c.state = msg->idiag_state;
	c.rqueue = msg->idiag_rqueue;
	c.wqueue = msg->idiag_wqueue;

	for (attr = nl_attr_next(nlh, sizeof(*msg), NULL); attr;
	     attr = nl_attr_next(nlh, sizeof(*msg), attr)) {
		struct tcp_info ti;
		size_t len;

		if (nl_attr_type(attr) != INET_DIAG_INFO)
			continue;
		/* Older kernels send a shorter tcp_info: zero the rest. */
		len = nl_attr_len(attr);
		if (len > sizeof(ti))
			len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, nl_attr_data(attr), len);
		if (len < offsetof(struct tcp_info, tcpi_rcv_ssthresh))
			return -EINVAL;
		c.last_recv_ms = ti.tcpi_last_data_recv;
		c.last_sent_ms = ti.tcpi_last_data_sent;
		if (len >= offsetof(struct tcp_info, tcpi_bytes_received) +
				   sizeof(ti.tcpi_bytes_received)) {
			c.bytes_received = ti.tcpi_bytes_received;
			c.bytes_sent = ti.tcpi_bytes_acked;
			c.has_bytes = true;
		}
		if (len >= offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(ti.tcpi_bytes_sent))
			c.bytes_sent = ti.tcpi_bytes_sent;
		c.has_info = true;
	}
	*ret = c;
	return 0;
}

bool conn_pending(const struct conn *c, const struct conn *prev)
{
	bool rx, tx;

	if (!c->has_info)
		return false;
	/* Received strictly more recently than sent: the answer is due. */
	if (!c->has_bytes)
		return c->last_recv_ms < c->last_sent_ms;
	rx = prev ? c->bytes_received > prev->bytes_received : c->bytes_received > 0;
	tx = prev ? c->bytes_sent > prev->bytes_sent : c->bytes_sent > 0;
	if (rx && !tx)
		return true; /* data came, nothing went out since */
	if (!rx && !tx)
		return prev && prev->pending; /* nothing happened: as before */
	if (!rx)
		return false; /* answered */
	/* Both moved: the newer wins; on the same tick, say answered (a
	 * wrong "answered" costs little, as the app finishes what it holds;
	 * a wrong "pending" would hold the drain to its deadline). */
	return c->last_recv_ms < c->last_sent_ms;
}

bool conn_busy(const struct conn *c, const struct conn *prev)
{
	if (c->rqueue > 0 || c->wqueue > 0 || c->pending)
		return true;
	return prev && c->has_bytes && c->bytes_sent > prev->bytes_sent;
}

static int cmp_cookie(const void *a, const void *b)
{
	const struct conn *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

void conn_sort(struct conn *c, size_t n)
{
	if (n > 1)
		qsort(c, n, sizeof(*c), cmp_cookie);
}

static bool port_in(uint16_t p, const uint16_t *ports, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (ports[i] == p)
			return true;
	}
	return false;
}

void conn_compare(const struct conn *prev, size_t n_prev, struct conn *cur, size_t n_cur,
		  const uint16_t *ports, size_t n_ports, struct conn_stats *ret)
{
	struct conn_stats st = { 0, 0, 0, 0 };
	size_t j = 0;

	for (size_t i = 0; i < n_cur; i++) {
		struct conn *c = &cur[i];
		const struct conn *p = NULL;

		c->pending = false;
		c->idle = false;
		if (c->state != CONN_TCP_ESTABLISHED || !port_in(c->lport, ports, n_ports))
			continue;
		st.established++;
		while (j < n_prev && prev[j].cookie < c->cookie)
			j++;
		if (j < n_prev && prev[j].cookie == c->cookie) {
			p = &prev[j];
			if (c->bytes_received > p->bytes_received)
				st.new_requests++;
		} else {
			st.new_conns++;
		}
		c->pending = conn_pending(c, p);
		if (conn_busy(c, p))
			st.busy++;
		else if (p && c->has_bytes && c->bytes_received == p->bytes_received)
			c->idle = true;
	}
	*ret = st;
}

struct dump_ctx {
	struct conn *out;
	size_t cap;
	size_t n;
	size_t dropped;
};

static void dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct conn c;

	if (conn_parse(nlh, &c) < 0)
		return;
	if (ctx->n < ctx->cap)
		ctx->out[ctx->n++] = c;
	else
		ctx->dropped++;
}

int conn_bytecode_ports(const uint16_t *ports, size_t n_ports, void *buf, size_t size)
{
	/* Per port: GE (8 bytes), LE (8), then JMP (4) to the end, but for
	 * the last port, whose LE falls through to the end. A test that
	 * fails jumps to the next port's block, or past the end + 4 (the
	 * kernel's "reject") after the last. The audit follows the "yes"
	 * jumps, so every op must lie on that chain: the JMP's yes (4)
	 * steps to the next block, its no jumps to the end (accept). */
	struct inet_diag_bc_op *op = buf;
	size_t len = n_ports * 20 - 4, off = 0;

	if (n_ports == 0 || len > size || len > 0xffff)
		return -ENOSPC;
	for (size_t i = 0; i < n_ports; i++) {
		bool last = i + 1 == n_ports;
		uint16_t miss = last ? (uint16_t)(len - off + 4) : 20;

		op[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 8, miss };
		op[1] = (struct inet_diag_bc_op){ 0, 0, ports[i] };
		miss = last ? (uint16_t)(len - off - 8 + 4) : 12;
		op[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 8, miss };
		op[3] = (struct inet_diag_bc_op){ 0, 0, ports[i] };
		if (last)
			break;
		op[4] = (struct inet_diag_bc_op){ INET_DIAG_BC_JMP, 4, (uint16_t)(len - off - 16) };
		op += 5;
		off += 20;
	}
	return (int)len;
}

static int dump_family(const struct nl_sock *nl, uint32_t seq, int family, uint32_t state_mask,
		       const void *bc, size_t bc_len, struct dump_ctx *ctx)
{
	static union {
		struct nlmsghdr h;
		char b[NETLINK_BUF_SIZE];
	} buf;
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	int r;

	nlh = nl_msg_start(&buf, sizeof(buf), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq);
	req = nl_msg_extra(nlh, sizeof(buf), sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = state_mask;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (bc_len && nl_attr_put(nlh, sizeof(buf), INET_DIAG_REQ_BYTECODE, bc, bc_len) < 0)
		return -ENOSPC;

	r = nl_send(nl, nlh);
	if (r < 0)
		return r;
	for (int rounds = 0; rounds < NETLINK_DUMP_ROUNDS_MAX; rounds++) {
		r = nl_recv(nl, &buf, sizeof(buf));
		if (r < 0)
			return r;
		r = nl_walk(&buf, (size_t)r, seq, nl->portid, dump_cb, ctx);
		if (r != NL_MORE)
			return r;
	}
	return -E2BIG;
}

int conn_dump(uint32_t state_mask, const uint16_t *ports, size_t n_ports, struct conn *out,
	      size_t cap, size_t *ret_n)
{
	struct dump_ctx ctx = { out, cap, 0, 0 };
	struct inet_diag_bc_op bc[PORTS_MAX * 5];
	size_t bc_len = 0;
	struct nl_sock nl;
	uint32_t seq = (uint32_t)time(NULL);
	int r;

	if (n_ports > 0) {
		r = conn_bytecode_ports(ports, n_ports, bc, sizeof(bc));
		if (r < 0)
			return r;
		bc_len = (size_t)r;
	}
	r = nl_open(NETLINK_SOCK_DIAG, &nl);
	if (r < 0)
		return r;
	r = dump_family(&nl, seq, AF_INET, state_mask, bc, bc_len, &ctx);
	if (r == 0)
		r = dump_family(&nl, seq + 1, AF_INET6, state_mask, bc, bc_len, &ctx);
	if (r == 0 && ctx.n == 0 && ctx.dropped)
		r = -ENOBUFS;
	if (r == 0) {
		*ret_n = ctx.n;
		r = ctx.dropped > INT32_MAX ? INT32_MAX : (int)ctx.dropped;
	}
	nl_close(&nl);
	return r;
}

static int cmp_inode(const void *a, const void *b)
{
	const struct conn *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

int conn_pid_sockets(pid_t pid, conn_socket_fn *fn, void *data)
{
	char path[64], link[64];
	struct dirent *de;
	DIR *dir;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT || errno == ESRCH)
			return 0;
		return errno == EACCES || errno == EPERM ? -EACCES : -errno;
	}
	for (size_t seen = 0;; seen++) {
		unsigned long ino;
		ssize_t len;
		long fd;
		char *end;

		if (seen == CONN_PID_FDS_MAX) {
			r = -E2BIG;
			break;
		}
		errno = 0;
		de = readdir(dir);
		if (!de) {
			/* The process exiting under us is "gone". */
			if (errno && errno != ENOENT && errno != ESRCH)
				r = -errno;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		/* One link that cannot be read (the fd closed since readdir)
		 * hides only itself, and takes no descriptor; one we may not
		 * read (a process not dumpable, not ours) hides them all. */
		len = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
		if (len < 0 && (errno == EACCES || errno == EPERM)) {
			r = -EACCES;
			break;
		}
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end || fd < 0 || fd > INT32_MAX)
			continue;
		r = fn((int)fd, (uint32_t)ino, data);
		if (r < 0)
			break;
	}
	closedir(dir);
	return r < 0 ? r : 0;
}

struct owned_ctx {
	const struct conn *ls;
	size_t n_ls;
	bool *owned;
};

/* Marks owned[i] for the listening socket ls[i] (sorted by inode) that
 * holds inode. Matching as the links are read keeps no list of the
 * process's sockets, so a server with many thousands of connections is
 * read whole. */
static int mark_owned(int fd, uint32_t inode, void *data)
{
	struct owned_ctx *ctx = data;
	struct conn key, *hit;

	(void)fd;
	key.inode = inode;
	hit = bsearch(&key, ctx->ls, ctx->n_ls, sizeof(*ctx->ls), cmp_inode);
	if (hit)
		ctx->owned[hit - ctx->ls] = true;
	return 0;
}

int conn_listen_ports(const pid_t *pids, size_t n_pids, uint16_t *ports, size_t cap, size_t *ret_n)
{
	struct conn *ls = NULL;
	bool *owned = NULL;
	size_t n_ls = 0, n = 0;
	bool denied = false;
	int r;

	ls = calloc(CONN_LISTEN_MAX, sizeof(*ls));
	owned = calloc(CONN_LISTEN_MAX, sizeof(*owned));
	if (!ls || !owned) {
		r = -ENOMEM;
		goto out;
	}
	r = conn_dump(1u << CONN_TCP_LISTEN, NULL, 0, ls, CONN_LISTEN_MAX, &n_ls);
	if (r < 0)
		goto out;
	qsort(ls, n_ls, sizeof(*ls), cmp_inode);
	for (size_t i = 0; i < n_ls; i++)
		owned[i] = pids == NULL;
	for (size_t i = 0; i < n_pids && pids; i++) {
		struct owned_ctx ctx = { ls, n_ls, owned };

		r = conn_pid_sockets(pids[i], mark_owned, &ctx);
		if (r == -EACCES)
			denied = true;
		else if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n_ls; i++) {
		bool dup = false;

		for (size_t k = 0; k < n && !dup; k++)
			dup = ports[k] == ls[i].lport;
		if (owned[i] && !dup && n < cap)
			ports[n++] = ls[i].lport;
	}
	/* Small: insertion sort. */
	for (size_t i = 1; i < n; i++) {
		uint16_t p = ports[i];
		size_t k = i;
		for (; k > 0 && ports[k - 1] > p; k--)
			ports[k] = ports[k - 1];
		ports[k] = p;
	}
	/* Not knowing is not "none": a caller would drain at once, or turn
	 * unready. More listening sockets than the dump holds may hide the
	 * app's among those left out. */
	r = 0;
	if (n == 0 && denied)
		r = -EACCES;
	else if (n == 0 && pids && n_ls == CONN_LISTEN_MAX)
		r = -ENOBUFS;
	if (r == 0)
		*ret_n = n;
out:
	free(ls);
	free(owned);
	return r;
}
