/* test_conn.c - conn.c: parsing sock_diag replies built here with nl.c,
 * the busy rule, sorting and comparing dumps, and real dumps of loopback
 * sockets this test opens (sock_diag in the test's network namespace);
 * the listening ports of processes, and what it says when it cannot look.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>

/* opendir as conn.c sees it, failing on demand: /proc/PID/fd takes a
 * descriptor, which a process at its RLIMIT_NOFILE does not have. The
 * dump before it has just closed its own, so only a seam reaches this. */
static int opendir_errno;

static DIR *test_opendir(const char *path)
{
	if (opendir_errno) {
		errno = opendir_errno;
		return NULL;
	}
	return opendir(path);
}

#define opendir test_opendir
#include "../../helper/conn.c"
#undef opendir

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* ---- conn_parse on hand-made messages ---- */

/* Room for one reply: header, inet_diag_msg, a few attributes. */
union msgbuf {
	struct nlmsghdr h;
	uint64_t align;
	char b[2048];
};

struct fake {
	uint8_t family;
	uint8_t state;
	uint16_t sport;
	uint64_t cookie;
	uint32_t inode;
	uint32_t rqueue;
	uint32_t wqueue;
};

/* Appends an attribute to a message in a union msgbuf. */
static void put_attr(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data)
{
	assert_int_equal(nl_attr_put(nlh, sizeof(union msgbuf), type, data, len), 0);
}

/* Builds an inet_diag reply without attributes. */
static struct nlmsghdr *put_msg(union msgbuf *buf, const struct fake *f)
{
	struct nlmsghdr *nlh;
	struct inet_diag_msg *m;

	memset(buf, 0, sizeof(*buf));
	nlh = nl_msg_start(buf->b, sizeof(buf->b), SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 7);
	m = nl_msg_extra(nlh, sizeof(buf->b), sizeof(*m));
	m->idiag_family = f->family;
	m->idiag_state = f->state;
	m->id.idiag_sport = htons(f->sport);
	m->id.idiag_dport = htons(54321);
	m->id.idiag_src[0] = htonl(INADDR_LOOPBACK);
	m->id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
	memcpy(m->id.idiag_cookie, &f->cookie, sizeof(f->cookie));
	m->idiag_inode = f->inode;
	m->idiag_rqueue = f->rqueue;
	m->idiag_wqueue = f->wqueue;
	return nlh;
}

/* A tcp_info with recognizable values in the fields conn reads. */
static struct tcp_info sample_info(void)
{
	struct tcp_info ti;

	memset(&ti, 0, sizeof(ti));
	ti.tcpi_state = CONN_TCP_ESTABLISHED;
	ti.tcpi_last_data_sent = 1234;
	ti.tcpi_last_data_recv = 567;
	ti.tcpi_last_ack_recv = 89;
	ti.tcpi_rcv_ssthresh = 65535;
	ti.tcpi_bytes_received = 0x123456789aULL;
	return ti;
}

static const struct fake F = {
	.family = AF_INET,
	.state = CONN_TCP_ESTABLISHED,
	.sport = 8080,
	.cookie = 0x8000000000001234ULL,
	.inode = 424242,
	.rqueue = 11,
	.wqueue = 22,
};

static void test_parse_full(void **state)
{
	(void)state;
	union msgbuf buf;
	struct tcp_info ti = sample_info();
	struct nlmsghdr *nlh = put_msg(&buf, &F);
	struct conn c;
	uint32_t mem[4] = { 1, 2, 3, 4 };

	/* Another attribute before the info is skipped. */
	put_attr(nlh, INET_DIAG_MEMINFO, sizeof(mem), mem);
	put_attr(nlh, INET_DIAG_INFO, sizeof(ti), &ti);
	assert_int_equal(nl_attr_put(nlh, sizeof(buf), INET_DIAG_CONG, "cubic", 6), 0);
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_true(c.cookie == 0x8000000000001234ULL);
	assert_int_equal(c.inode, 424242);
	assert_int_equal(c.lport, 8080);
	assert_int_equal(c.state, CONN_TCP_ESTABLISHED);
	assert_int_equal(c.rqueue, 11);
	assert_int_equal(c.wqueue, 22);
	assert_int_equal(c.last_recv_ms, 567);
	assert_int_equal(c.last_sent_ms, 1234);
	assert_true(c.bytes_received == 0x123456789aULL);
	assert_true(c.has_info);
}

static void test_parse_ipv6_listen(void **state)
{
	(void)state;
	union msgbuf buf;
	struct fake f = F;
	struct conn c;

	f.family = AF_INET6;
	f.state = CONN_TCP_LISTEN;
	f.sport = 65535; /* byte order matters at both ends */
	f.rqueue = 0;
	f.wqueue = 128;
	assert_int_equal(conn_parse(put_msg(&buf, &f), &c), 0);
	assert_int_equal(c.lport, 65535);
	assert_int_equal(c.state, CONN_TCP_LISTEN);
	assert_int_equal(c.wqueue, 128);

	f.sport = 0x0102;
	assert_int_equal(conn_parse(put_msg(&buf, &f), &c), 0);
	assert_int_equal(c.lport, 0x0102);
}

static void test_parse_no_info(void **state)
{
	(void)state;
	union msgbuf buf;
	struct nlmsghdr *nlh = put_msg(&buf, &F);
	struct conn c;

	assert_int_equal(nl_attr_put(nlh, sizeof(buf), INET_DIAG_CONG, "cubic", 6), 0);
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_false(c.has_info);
	assert_int_equal(c.last_recv_ms, 0);
	assert_int_equal(c.last_sent_ms, 0);
	assert_true(c.bytes_received == 0);
	assert_int_equal(c.lport, 8080);
	assert_int_equal(c.rqueue, 11);

	/* No attribute at all: the exact minimum length. */
	nlh = put_msg(&buf, &F);
	assert_int_equal(nlh->nlmsg_len, NLMSG_HDRLEN + sizeof(struct inet_diag_msg));
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_false(c.has_info);
}

static void test_parse_bad(void **state)
{
	(void)state;
	union msgbuf buf;
	struct nlmsghdr *nlh;
	struct fake f = F;
	struct conn c, before;

	memset(&c, 0x5a, sizeof(c));
	before = c;

	/* Truncated: one byte short of the inet_diag_msg. */
	nlh = put_msg(&buf, &F);
	nlh->nlmsg_len = NLMSG_HDRLEN + sizeof(struct inet_diag_msg) - 1;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);
	nlh->nlmsg_len = NLMSG_HDRLEN;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);
	nlh->nlmsg_len = 0;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);

	/* Not a sock_diag reply. */
	nlh = put_msg(&buf, &F);
	nlh->nlmsg_type = NLMSG_DONE;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);
	nlh->nlmsg_type = NLMSG_ERROR;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY + 1;
	assert_int_equal(conn_parse(nlh, &c), -EINVAL);

	/* Not an inet family. */
	f.family = AF_UNIX;
	assert_int_equal(conn_parse(put_msg(&buf, &f), &c), -EINVAL);
	f.family = AF_UNSPEC;
	assert_int_equal(conn_parse(put_msg(&buf, &f), &c), -EINVAL);
	f.family = AF_NETLINK;
	assert_int_equal(conn_parse(put_msg(&buf, &f), &c), -EINVAL);

	/* Nothing was written on failure. */
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_parse_short_info(void **state)
{
	(void)state;
	union msgbuf buf;
	struct tcp_info ti = sample_info();
	struct nlmsghdr *nlh;
	struct conn c;

	/* An older kernel's tcp_info, up to and including tcpi_rcv_ssthresh:
	 * the times are there, bytes_received is not. */
	nlh = put_msg(&buf, &F);
	put_attr(nlh, INET_DIAG_INFO,
		 offsetof(struct tcp_info, tcpi_rcv_ssthresh) + sizeof(ti.tcpi_rcv_ssthresh), &ti);
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_true(c.has_info);
	assert_int_equal(c.last_recv_ms, 567);
	assert_int_equal(c.last_sent_ms, 1234);
	assert_true(c.bytes_received == 0);

	/* Exactly up to tcpi_rcv_ssthresh (excluded). */
	nlh = put_msg(&buf, &F);
	put_attr(nlh, INET_DIAG_INFO, offsetof(struct tcp_info, tcpi_rcv_ssthresh), &ti);
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_true(c.has_info);
	assert_int_equal(c.last_recv_ms, 567);
	assert_true(c.bytes_received == 0);

	/* Cut inside tcpi_bytes_received: not taken. */
	nlh = put_msg(&buf, &F);
	put_attr(nlh, INET_DIAG_INFO, offsetof(struct tcp_info, tcpi_bytes_received) + 4, &ti);
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_true(c.has_info);
	assert_true(c.bytes_received == 0);

	/* Ending right after tcpi_bytes_received: taken. */
	nlh = put_msg(&buf, &F);
	put_attr(nlh, INET_DIAG_INFO,
		 offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received),
		 &ti);
	assert_int_equal(conn_parse(nlh, &c), 0);
	assert_true(c.bytes_received == 0x123456789aULL);

	/* Longer than this build's struct (a newer kernel): the rest is
	 * ignored. */
	{
		char big[sizeof(ti) + 64];

		memset(big, 0x77, sizeof(big));
		memcpy(big, &ti, sizeof(ti));
		nlh = put_msg(&buf, &F);
		put_attr(nlh, INET_DIAG_INFO, sizeof(big), big);
		assert_int_equal(conn_parse(nlh, &c), 0);
		assert_int_equal(c.last_recv_ms, 567);
		assert_true(c.bytes_received == 0x123456789aULL);
	}
}

static void test_parse_info_too_short(void **state)
{
	(void)state;
	union msgbuf buf;
	struct tcp_info ti = sample_info();
	static const size_t lens[] = {
		0,
		1,
		offsetof(struct tcp_info, tcpi_last_data_sent),
		offsetof(struct tcp_info, tcpi_last_data_recv),
		offsetof(struct tcp_info, tcpi_last_data_recv) + 2,
	};
	struct conn c;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct nlmsghdr *nlh = put_msg(&buf, &F);

		put_attr(nlh, INET_DIAG_INFO, lens[i], &ti);
		assert_int_equal(conn_parse(nlh, &c), -EINVAL);
	}
}

/* ---- conn_pending and conn_busy ---- */

/* A connection with counters: rx bytes received, tx bytes sent, received
 * recv_ago ms ago, sent sent_ago ms ago. */
static struct conn io(uint64_t rx, uint64_t tx, uint32_t recv_ago, uint32_t sent_ago)
{
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.state = CONN_TCP_ESTABLISHED;
	c.has_info = true;
	c.has_bytes = true;
	c.bytes_received = rx;
	c.bytes_sent = tx;
	c.last_recv_ms = recv_ago;
	c.last_sent_ms = sent_ago;
	return c;
}

static void test_pending_new_connection(void **state)
{
	(void)state;
	struct conn c;

	/* Accepted, nothing yet. */
	c = io(0, 0, 0, 0);
	assert_false(conn_pending(&c, NULL));
	/* The first request arrived on the accept's tick: the times tie,
	 * the counters say it is unanswered. */
	c = io(120, 0, 8, 8);
	assert_true(conn_pending(&c, NULL));
	/* Request and answer before the first look: the newer wins... */
	c = io(120, 300, 9, 5);
	assert_false(conn_pending(&c, NULL));
	c = io(240, 300, 2, 5);
	assert_true(conn_pending(&c, NULL));
	/* ...and a tie says answered. */
	c = io(120, 300, 5, 5);
	assert_false(conn_pending(&c, NULL));
}

static void test_pending_across_dumps(void **state)
{
	(void)state;
	struct conn prev, c;

	/* A keep-alive request on the tick of the previous answer. */
	prev = io(120, 300, 50, 50);
	prev.pending = false;
	c = io(240, 300, 3, 3);
	assert_true(conn_pending(&c, &prev));
	/* Nothing moves while the app works: still pending. */
	prev = c;
	prev.pending = true;
	c = io(240, 300, 900, 900);
	assert_true(conn_pending(&c, &prev));
	/* The answer goes out: answered. */
	c = io(240, 600, 1000, 1);
	assert_false(conn_pending(&c, &prev));
	/* An idle connection stays idle. */
	prev = io(240, 600, 5000, 4000);
	prev.pending = false;
	c = io(240, 600, 5100, 4100);
	assert_false(conn_pending(&c, &prev));
	/* Both moved since: the newer wins, a tie says answered. */
	c = io(360, 900, 10, 20);
	assert_true(conn_pending(&c, &prev));
	c = io(360, 900, 20, 10);
	assert_false(conn_pending(&c, &prev));
	c = io(360, 900, 10, 10);
	assert_false(conn_pending(&c, &prev));
}

static void test_pending_without_counters(void **state)
{
	(void)state;
	struct conn c;

	/* Kernels before 4.1: the times alone, strictly. */
	c = io(0, 0, 10, 20);
	c.has_bytes = false;
	assert_true(conn_pending(&c, NULL));
	c.last_recv_ms = 20;
	assert_false(conn_pending(&c, NULL));
	c.last_recv_ms = 30;
	assert_false(conn_pending(&c, NULL));
	/* No tcp_info at all: never pending. */
	c.has_info = false;
	c.last_recv_ms = 10;
	assert_false(conn_pending(&c, NULL));
}

static void test_busy(void **state)
{
	(void)state;
	struct conn prev, c;

	memset(&c, 0, sizeof(c));
	assert_false(conn_busy(&c, NULL)); /* no info, no queues */
	c.rqueue = 1;
	assert_true(conn_busy(&c, NULL));
	c.rqueue = 0;
	c.wqueue = 1;
	assert_true(conn_busy(&c, NULL));
	c.wqueue = 0;
	c.pending = true;
	assert_true(conn_busy(&c, NULL));

	/* An answer still going out since the last dump: busy once. */
	prev = io(100, 1000, 500, 10);
	c = io(100, 5000, 600, 1);
	assert_true(conn_busy(&c, &prev));
	prev = c;
	assert_false(conn_busy(&c, &prev));
	/* Without counters, sending proves nothing. */
	c.has_bytes = false;
	c.bytes_sent = 9000;
	assert_false(conn_busy(&c, &prev));
}

/* ---- conn_sort and conn_compare ---- */

static struct conn mk(uint64_t cookie, uint16_t lport, uint8_t st, uint64_t bytes)
{
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.cookie = cookie;
	c.lport = lport;
	c.state = st;
	c.bytes_received = bytes;
	c.bytes_sent = bytes; /* every request answered */
	c.has_info = true;
	c.has_bytes = true;
	c.last_recv_ms = 100; /* idle: answered after the last request */
	c.last_sent_ms = 50;
	return c;
}

static void assert_sorted(const struct conn *c, size_t n)
{
	for (size_t i = 1; i < n; i++)
		assert_true(c[i - 1].cookie <= c[i].cookie);
}

static void test_sort(void **state)
{
	(void)state;
	struct conn c[6] = {
		mk(UINT64_MAX, 1, 1, 0), mk(3, 2, 1, 0), mk(0x8000000000000000ULL, 3, 1, 0),
		mk(1, 4, 1, 0),		 mk(0, 5, 1, 0), mk(3, 6, 1, 0),
	};

	conn_sort(NULL, 0);
	conn_sort(c, 1);
	assert_true(c[0].cookie == UINT64_MAX);
	conn_sort(c, 6);
	assert_sorted(c, 6);
	assert_true(c[0].cookie == 0);
	assert_int_equal(c[0].lport, 5);
	assert_true(c[1].cookie == 1);
	assert_true(c[4].cookie == 0x8000000000000000ULL);
	assert_true(c[5].cookie == UINT64_MAX);
}

/* The previous dump and the current one, shuffled; sorted by the test. */
static struct conn prev[6], cur[8];

static void setup_dumps(void)
{
	/* prev: cookies 5, 10, 15 (gone now), 20, 50 (listener), 40000 */
	prev[0] = mk(20, 8080, CONN_TCP_ESTABLISHED, 150);
	prev[1] = mk(5, 8080, CONN_TCP_ESTABLISHED, 70);
	prev[1].pending = true; /* a request in the works since before */
	prev[2] = mk(15, 8080, CONN_TCP_ESTABLISHED, 1);
	prev[3] = mk(10, 8080, CONN_TCP_ESTABLISHED, 100);
	prev[4] = mk(50, 8080, CONN_TCP_LISTEN, 0);
	prev[5] = mk(40000, 9090, CONN_TCP_ESTABLISHED, 9);

	/* unchanged */
	cur[0] = mk(10, 8080, CONN_TCP_ESTABLISHED, 100);
	/* a new request: received more bytes */
	cur[1] = mk(20, 8080, CONN_TCP_ESTABLISHED, 200);
	/* new, with bytes not read yet: busy */
	cur[2] = mk(30, 8080, CONN_TCP_ESTABLISHED, 0);
	cur[2].rqueue = 5;
	/* new, on another port */
	cur[3] = mk(40, 9090, CONN_TCP_ESTABLISHED, 0);
	/* the listener: never counted */
	cur[4] = mk(50, 8080, CONN_TCP_LISTEN, 0);
	/* known, unchanged bytes, still working on its request: busy */
	cur[5] = mk(5, 8080, CONN_TCP_ESTABLISHED, 70);
	cur[5].last_recv_ms = 3;
	cur[5].last_sent_ms = 40;
	/* a new listener on a port of ours: never counted */
	cur[6] = mk(60, 8080, CONN_TCP_LISTEN, 0);
	/* known, on another port, got a request */
	cur[7] = mk(40000, 9090, CONN_TCP_ESTABLISHED, 10);

	conn_sort(prev, 6);
	conn_sort(cur, 8);
	assert_sorted(prev, 6);
	assert_sorted(cur, 8);
}

static void test_compare_ports(void **state)
{
	(void)state;
	static const uint16_t p8080[] = { 8080 };
	static const uint16_t both[] = { 9090, 8080 };
	static const uint16_t other[] = { 7070 };
	struct conn_stats st;

	setup_dumps();

	/* 8080: 10 (unchanged), 20 (a request, answered, but the answer went
	 * out since the last look: busy this once), 30 (new, busy), 5 (busy). */
	memset(&st, 0xff, sizeof(st));
	conn_compare(prev, 6, cur, 8, p8080, 1, &st);
	assert_int_equal(st.established, 4);
	assert_int_equal(st.busy, 3);
	assert_false(cur[2].pending); /* 20: answered */
	assert_true(cur[0].pending);  /* 5: carried over */
	assert_int_equal(st.new_conns, 1);
	assert_int_equal(st.new_requests, 1);
	/* Idle (--close-idle may close it): 10 alone, known and unchanged;
	 * not 5 (pending), 20 (a request), 30 (new), the listeners, nor
	 * 40000 (another port). */
	for (int i = 0; i < 8; i++)
		assert_int_equal(cur[i].idle, cur[i].cookie == 10);

	/* Both ports, and all ports: 40 (new) and 40000 (request) as well. */
	conn_compare(prev, 6, cur, 8, both, 2, &st);
	assert_int_equal(st.established, 6);
	assert_int_equal(st.busy, 4);
	assert_int_equal(st.new_conns, 2);
	assert_int_equal(st.new_requests, 2);
	conn_compare(prev, 6, cur, 8, NULL, 0, &st);
	assert_int_equal(st.established, 6);
	assert_int_equal(st.busy, 4);
	assert_int_equal(st.new_conns, 2);
	assert_int_equal(st.new_requests, 2);

	/* A port nobody uses. */
	conn_compare(prev, 6, cur, 8, other, 1, &st);
	assert_int_equal(st.established, 0);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.new_conns, 0);
	assert_int_equal(st.new_requests, 0);
}

static void test_compare_prev_cases(void **state)
{
	(void)state;
	static const uint16_t p8080[] = { 8080 };
	struct conn_stats st;

	setup_dumps();

	/* No previous dump: every connection is new, none has a request. */
	conn_compare(NULL, 0, cur, 8, p8080, 1, &st);
	assert_int_equal(st.established, 4);
	assert_int_equal(st.busy, 2);
	assert_int_equal(st.new_conns, 4);
	assert_int_equal(st.new_requests, 0);

	/* Against itself: nothing new. */
	conn_compare(cur, 8, cur, 8, NULL, 0, &st);
	assert_int_equal(st.established, 6);
	assert_int_equal(st.new_conns, 0);
	assert_int_equal(st.new_requests, 0);

	/* Nothing now. */
	conn_compare(prev, 6, NULL, 0, NULL, 0, &st);
	assert_int_equal(st.established, 0);
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.new_conns, 0);
	assert_int_equal(st.new_requests, 0);

	/* A single unchanged connection is neither new nor a request; fewer
	 * bytes (never happens) is not a request either. */
	{
		struct conn a = mk(77, 8080, CONN_TCP_ESTABLISHED, 500);
		struct conn b = a;

		conn_compare(&a, 1, &b, 1, p8080, 1, &st);
		assert_int_equal(st.established, 1);
		assert_int_equal(st.busy, 0);
		assert_int_equal(st.new_conns, 0);
		assert_int_equal(st.new_requests, 0);
		b.bytes_received = 499;
		conn_compare(&a, 1, &b, 1, p8080, 1, &st);
		assert_int_equal(st.new_requests, 0);
		b.bytes_received = 501;
		conn_compare(&a, 1, &b, 1, p8080, 1, &st);
		assert_int_equal(st.new_requests, 1);
	}
}

/* ---- real dumps of loopback sockets ---- */

struct pair {
	int lfd; /* listening on 127.0.0.1:port */
	int cfd; /* the client */
	int sfd; /* the accepted server side */
	uint16_t port;
	ino_t lino, cino, sino;
};

static ino_t inode_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	return st.st_ino;
}

/* A listener on 127.0.0.1 (port 0: the kernel picks), returns its port. */
static int listen_on(int family, uint16_t port, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static void pair_open(struct pair *p)
{
	struct sockaddr_in a;

	p->lfd = listen_on(AF_INET, 0, &p->port);
	assert_true(p->lfd >= 0);
	assert_true(p->port > 0);
	p->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->cfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(p->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(p->cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	p->sfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(p->sfd >= 0);
	p->lino = inode_of(p->lfd);
	p->cino = inode_of(p->cfd);
	p->sino = inode_of(p->sfd);
}

static void pair_close(struct pair *p)
{
	close(p->cfd);
	close(p->sfd);
	close(p->lfd);
}

static const struct conn *find_inode(const struct conn *c, size_t n, ino_t ino)
{
	const struct conn *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (c[i].inode == (uint32_t)ino) {
			assert_null(found); /* one socket, one entry */
			found = &c[i];
		}
	}
	return found;
}

static const uint32_t BOTH = (1u << CONN_TCP_ESTABLISHED) | (1u << CONN_TCP_LISTEN);

static void test_dump_real(void **state)
{
	(void)state;
	struct pair p;
	struct conn *d1 = calloc(CONN_MAX, sizeof(*d1));
	struct conn *d2 = calloc(CONN_MAX, sizeof(*d2));
	struct conn ours1[2], ours2[2];
	const struct conn *l, *s, *c;
	struct pollfd pfd;
	size_t n1 = 0, n2 = 0;
	struct conn_stats st;

	assert_non_null(d1);
	assert_non_null(d2);
	pair_open(&p);

	assert_int_equal(conn_dump(BOTH, NULL, 0, d1, CONN_MAX, &n1), 0);
	assert_true(n1 >= 3);
	l = find_inode(d1, n1, p.lino);
	s = find_inode(d1, n1, p.sino);
	c = find_inode(d1, n1, p.cino);
	assert_non_null(l);
	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(l->state, CONN_TCP_LISTEN);
	assert_int_equal(l->lport, p.port);
	assert_true(l->has_info);
	assert_int_equal(s->state, CONN_TCP_ESTABLISHED);
	assert_int_equal(s->lport, p.port);
	assert_true(s->has_info);
	assert_int_equal(s->rqueue, 0);
	assert_true(s->bytes_received == 0);
	/* (Not busy either, in practice; not asserted: the kernel stamps the
	 * last send and receive times of a new socket in two reads of the
	 * clock, which could straddle a jiffy.) */
	assert_int_equal(c->state, CONN_TCP_ESTABLISHED);
	assert_true(c->lport != p.port);
	assert_true(c->has_info);
	/* Cookies tell sockets apart. */
	assert_true(l->cookie != s->cookie && s->cookie != c->cookie && l->cookie != c->cookie);
	ours1[0] = *l;
	ours1[1] = *s;

	/* Bytes the server has not read: in flight. */
	assert_int_equal(write(p.cfd, "hello", 5), 5);
	pfd.fd = p.sfd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 10000), 1);

	assert_int_equal(conn_dump(BOTH, NULL, 0, d2, CONN_MAX, &n2), 0);
	s = find_inode(d2, n2, p.sino);
	l = find_inode(d2, n2, p.lino);
	assert_non_null(s);
	assert_non_null(l);
	assert_int_equal(s->rqueue, 5);
	assert_true(s->bytes_received == 5);
	assert_true(s->has_info);
	assert_true(conn_busy(s, NULL));
	assert_true(s->cookie == ours1[1].cookie);
	ours2[0] = *l;
	ours2[1] = *s;

	/* Between the two dumps, on our port: one known connection, busy,
	 * with a new request; the listener does not count. */
	conn_sort(ours1, 2);
	conn_sort(ours2, 2);
	conn_compare(ours1, 2, ours2, 2, &p.port, 1, &st);
	assert_int_equal(st.established, 1);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.new_conns, 0);
	assert_int_equal(st.new_requests, 1);

	/* The app reads the request and works on it: nothing queued, and
	 * most likely the same jiffy for the accept and the request, so only
	 * the counters can tell it is unanswered. */
	{
		char buf[8];
		struct conn d3[2], d4[2];

		assert_int_equal(read(p.sfd, buf, sizeof(buf)), 5);
		assert_int_equal(conn_dump(BOTH, NULL, 0, d2, CONN_MAX, &n2), 0);
		s = find_inode(d2, n2, p.sino);
		assert_non_null(s);
		assert_int_equal(s->rqueue, 0);
		d3[0] = *s;
		conn_compare(ours2, 2, d3, 1, &p.port, 1, &st);
		assert_int_equal(st.busy, 1);
		assert_true(d3[0].pending);
		assert_int_equal(st.new_requests, 0);

		/* The answer goes out and is read: busy while it went out... */
		assert_int_equal(write(p.sfd, "world", 5), 5);
		pfd.fd = p.cfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		assert_int_equal(read(p.cfd, buf, sizeof(buf)), 5);
		/* (wait for the ACK, so the send queue is empty) */
		for (int i = 0; i < 1000; i++) {
			assert_int_equal(conn_dump(BOTH, NULL, 0, d2, CONN_MAX, &n2), 0);
			s = find_inode(d2, n2, p.sino);
			assert_non_null(s);
			if (s->wqueue == 0)
				break;
			usleep(1000);
		}
		assert_int_equal(s->wqueue, 0);
		d4[0] = *s;
		conn_compare(d3, 1, d4, 1, &p.port, 1, &st);
		assert_false(d4[0].pending);
		assert_int_equal(st.busy, 1);
		/* ...and idle from the next look on. */
		d3[0] = d4[0];
		conn_compare(d4, 1, d3, 1, &p.port, 1, &st);
		assert_int_equal(st.busy, 0);
	}

	/* IPv6 sockets are dumped too (when the host has ::1). */
	{
		uint16_t port6 = 0;
		int fd6 = listen_on(AF_INET6, 0, &port6);

		if (fd6 >= 0) {
			assert_int_equal(conn_dump(BOTH, NULL, 0, d2, CONN_MAX, &n2), 0);
			l = find_inode(d2, n2, inode_of(fd6));
			assert_non_null(l);
			assert_int_equal(l->state, CONN_TCP_LISTEN);
			assert_int_equal(l->lport, port6);
			assert_true(l->has_info);
			close(fd6);
		} else {
			print_message("# no IPv6 loopback: IPv6 dump not checked\n");
		}
	}

	/* Only listeners when only LISTEN is asked. */
	assert_int_equal(conn_dump(1u << CONN_TCP_LISTEN, NULL, 0, d2, CONN_MAX, &n2), 0);
	for (size_t i = 0; i < n2; i++)
		assert_int_equal(d2[i].state, CONN_TCP_LISTEN);
	assert_non_null(find_inode(d2, n2, p.lino));
	assert_null(find_inode(d2, n2, p.sino));

	pair_close(&p);
	free(d1);
	free(d2);
}

static void test_dump_cap(void **state)
{
	(void)state;
	struct pair p;
	struct conn one[1];
	size_t n = 99;

	pair_open(&p);
	/* Nothing fits: ENOBUFS, and *ret_n untouched. */
	assert_int_equal(conn_dump(BOTH, NULL, 0, one, 0, &n), -ENOBUFS);
	assert_int_equal(n, 99);
	/* One fits: the rest are counted (the pair's other end and its
	 * listener at least), not kept. */
	memset(one, 0, sizeof(one));
	assert_true(conn_dump(BOTH, NULL, 0, one, 1, &n) >= 2);
	assert_int_equal(n, 1);
	assert_true(one[0].state == CONN_TCP_ESTABLISHED || one[0].state == CONN_TCP_LISTEN);
	/* No state asked: nothing, and that is fine. */
	n = 99;
	assert_int_equal(conn_dump(0, NULL, 0, one, 1, &n), 0);
	assert_int_equal(n, 0);
	pair_close(&p);
}

/* ---- conn_bytecode_ports ---- */

static bool has_port(const uint16_t *ports, size_t n, uint16_t port);

/* The kernel's bytecode audit (net/ipv4/inet_diag.c, the parts our ops
 * use): every op on the "yes" chain, every "no" landing on it, at the end
 * (accept) or at end + 4 (reject). */
static bool bc_valid_cc(const char *bc, int len, int cc)
{
	while (len >= 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;

		if (cc > len)
			return false;
		if (cc == len)
			return true;
		if (op->yes < 4 || op->yes & 3)
			return false;
		len -= op->yes;
		bc += op->yes;
	}
	return false;
}

static bool bc_audit(const char *bytecode, int bytecode_len)
{
	const char *bc = bytecode;
	int len = bytecode_len;

	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		int min_len = sizeof(*op);

		switch (op->code) {
		case INET_DIAG_BC_S_GE:
		case INET_DIAG_BC_S_LE:
			min_len += sizeof(*op);
			if (len < min_len)
				return false;
			break;
		case INET_DIAG_BC_JMP:
			break;
		default:
			return false;
		}
		if (op->no < min_len || op->no > len + 4 || op->no & 3)
			return false;
		if (op->no < len && !bc_valid_cc(bytecode, bytecode_len, len - op->no))
			return false;
		if (op->yes < min_len || op->yes > len + 4 || op->yes & 3)
			return false;
		bc += op->yes;
		len -= op->yes;
	}
	return len == 0;
}

/* The kernel's inet_diag_bc_run for a local port. */
static bool bc_run(const char *bc, int len, uint16_t sport)
{
	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		bool yes = true;

		switch (op->code) {
		case INET_DIAG_BC_JMP:
			yes = false;
			break;
		case INET_DIAG_BC_S_GE:
			yes = sport >= op[1].no;
			break;
		case INET_DIAG_BC_S_LE:
			yes = sport <= op[1].no;
			break;
		}
		len -= yes ? op->yes : op->no;
		bc += yes ? op->yes : op->no;
	}
	return len == 0;
}

static void test_bytecode_one_port(void **state)
{
	(void)state;
	struct inet_diag_bc_op bc[8];
	const uint16_t port = 8080;

	assert_int_equal(conn_bytecode_ports(&port, 1, bc, sizeof(bc)), 16);
	assert_int_equal(bc[0].code, INET_DIAG_BC_S_GE);
	assert_int_equal(bc[0].yes, 8);
	assert_int_equal(bc[0].no, 20); /* end + 4: reject */
	assert_int_equal(bc[1].no, 8080);
	assert_int_equal(bc[2].code, INET_DIAG_BC_S_LE);
	assert_int_equal(bc[2].yes, 8); /* to the end: accept */
	assert_int_equal(bc[2].no, 12); /* end + 4: reject */
	assert_int_equal(bc[3].no, 8080);
	assert_true(bc_audit((const char *)bc, 16));
	assert_true(bc_run((const char *)bc, 16, 8080));
	assert_false(bc_run((const char *)bc, 16, 8079));
	assert_false(bc_run((const char *)bc, 16, 8081));
}

static void test_bytecode_many_ports(void **state)
{
	(void)state;
	struct inet_diag_bc_op bc[PORTS_MAX * 5];
	uint16_t ports[PORTS_MAX];
	static const uint16_t probe[] = { 0,	1,    79,   80,	  81,	442,   443,  444,
					  8079, 8080, 8081, 9000, 9001, 65534, 65535 };

	for (size_t n = 1; n <= PORTS_MAX; n++) {
		int len;

		/* 80, 443, 8080, 65535, then 9000.. */
		for (size_t i = 0; i < n; i++)
			ports[i] = i == 0   ? 80
				   : i == 1 ? 443
				   : i == 2 ? 8080
				   : i == 3 ? 65535
					    : (uint16_t)(9000 + i);
		len = conn_bytecode_ports(ports, n, bc, sizeof(bc));
		assert_int_equal(len, (int)(n * 20 - 4));
		assert_true(bc_audit((const char *)bc, len));
		for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
			bool member = false;
			for (size_t i = 0; i < n; i++)
				member |= ports[i] == probe[k];
			assert_int_equal(bc_run((const char *)bc, len, probe[k]), member);
		}
		for (size_t i = 0; i < n; i++)
			assert_true(bc_run((const char *)bc, len, ports[i]));
	}
}

static void test_bytecode_limits(void **state)
{
	(void)state;
	struct inet_diag_bc_op bc[10]; /* 40 bytes: room for 2 ports (36) */
	const uint16_t ports[3] = { 1, 2, 3 };

	assert_int_equal(conn_bytecode_ports(ports, 0, bc, sizeof(bc)), -ENOSPC);
	assert_int_equal(conn_bytecode_ports(ports, 1, bc, 15), -ENOSPC);
	assert_int_equal(conn_bytecode_ports(ports, 2, bc, sizeof(bc)), 36);
	assert_int_equal(conn_bytecode_ports(ports, 3, bc, sizeof(bc)), -ENOSPC);
}

/* The kernel takes the filter and applies it. */
static void test_dump_filtered(void **state)
{
	(void)state;
	struct pair p;
	struct conn *d = calloc(CONN_MAX, sizeof(*d));
	uint16_t other, ports[3];
	int ofd;
	size_t n = 0;

	assert_non_null(d);
	pair_open(&p);
	ofd = listen_on(AF_INET, 0, &other);
	assert_true(ofd >= 0);

	/* Our port among others, in the middle: only those ports come back. */
	ports[0] = other;
	ports[1] = p.port;
	ports[2] = 1;
	assert_int_equal(conn_dump(BOTH, ports, 3, d, CONN_MAX, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(has_port(ports, 3, d[i].lport));
	assert_non_null(find_inode(d, n, p.lino));
	assert_non_null(find_inode(d, n, p.sino));
	assert_non_null(find_inode(d, n, inode_of(ofd)));
	assert_null(find_inode(d, n, p.cino)); /* the client: an ephemeral port */

	/* Only ours, established only: the accepted side alone. */
	assert_int_equal(conn_dump(1u << CONN_TCP_ESTABLISHED, &p.port, 1, d, CONN_MAX, &n), 0);
	assert_int_equal(n, 1);
	assert_true(d[0].inode == p.sino);
	assert_true(d[0].has_info);

	close(ofd);
	pair_close(&p);
	free(d);
}

static bool has_port(const uint16_t *ports, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (ports[i] == port)
			return true;
	}
	return false;
}

static void assert_strictly_sorted(const uint16_t *ports, size_t n)
{
	for (size_t i = 1; i < n; i++)
		assert_true(ports[i - 1] < ports[i]);
}

static void test_listen_ports_self(void **state)
{
	(void)state;
	struct pair p;
	pid_t self = getpid();
	uint16_t ports[PORTS_MAX], port2 = 0, port6 = 0;
	size_t n = 99;
	int fd2, fd6;

	pair_open(&p);
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), 0);
	assert_true(n >= 1);
	assert_true(has_port(ports, n, p.port));
	assert_strictly_sorted(ports, n);
	/* The client's and the accepted socket's ports are not listening. */
	{
		struct sockaddr_in a;
		socklen_t len = sizeof(a);

		assert_int_equal(getsockname(p.cfd, (struct sockaddr *)&a, &len), 0);
		assert_false(has_port(ports, n, ntohs(a.sin_port)));
	}

	/* A second listener; and the same port on ::1 counted once. */
	fd2 = listen_on(AF_INET, 0, &port2);
	assert_true(fd2 >= 0);
	fd6 = listen_on(AF_INET6, p.port, &port6);
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), 0);
	assert_true(has_port(ports, n, p.port));
	assert_true(has_port(ports, n, port2));
	assert_strictly_sorted(ports, n);
	if (fd6 >= 0) {
		size_t count = 0;

		assert_int_equal(port6, p.port);
		for (size_t i = 0; i < n; i++)
			count += ports[i] == p.port;
		assert_int_equal(count, 1);
	}

	/* cap bounds the answer. */
	assert_int_equal(conn_listen_ports(&self, 1, ports, 1, &n), 0);
	assert_int_equal(n, 1);

	/* No pids, no ports. */
	n = 99;
	assert_int_equal(conn_listen_ports(&self, 0, ports, PORTS_MAX, &n), 0);
	assert_int_equal(n, 0);

	/* pids NULL: every listening port here, ours among them. */
	{
		static uint16_t all[CONN_LISTEN_MAX];
		size_t n_all = 0;

		assert_int_equal(conn_listen_ports(NULL, 0, all, CONN_LISTEN_MAX, &n_all), 0);
		assert_true(has_port(all, n_all, p.port));
		assert_true(has_port(all, n_all, port2));
		assert_strictly_sorted(all, n_all);
	}

	if (fd6 >= 0)
		close(fd6);
	close(fd2);
	pair_close(&p);
}

static void test_listen_ports_other_pid(void **state)
{
	(void)state;
	struct pair p;
	int ready[2], hold[2];
	uint16_t ports[PORTS_MAX];
	pid_t pids[2], child;
	size_t n = 99;
	char x;
	int st;

	pair_open(&p);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* No sockets of its own: drop the inherited ones, say so, wait. */
		close(p.lfd);
		close(p.cfd);
		close(p.sfd);
		close(ready[0]);
		close(hold[1]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &x, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &x, 1), 1);

	assert_int_equal(conn_listen_ports(&child, 1, ports, PORTS_MAX, &n), 0);
	assert_int_equal(n, 0);
	/* With the test's own pid beside it, the port is found. */
	pids[0] = child;
	pids[1] = getpid();
	assert_int_equal(conn_listen_ports(pids, 2, ports, PORTS_MAX, &n), 0);
	assert_true(has_port(ports, n, p.port));

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* A pid that is gone: nothing, no error. */
	n = 99;
	assert_int_equal(conn_listen_ports(&child, 1, ports, PORTS_MAX, &n), 0);
	assert_int_equal(n, 0);

	close(ready[0]);
	close(hold[1]);
	pair_close(&p);
}

/* What cannot be looked at is an error, never "no port": a caller would
 * turn unready, or drain at once. */
static void test_listen_ports_unreadable(void **state)
{
	(void)state;
	struct pair p;
	struct rlimit old, none;
	pid_t self = getpid(), pids[2] = { 1, getpid() };
	uint16_t ports[PORTS_MAX];
	size_t n = 99;
	int r, fd;

	pair_open(&p);
	/* /proc/PID/fd out of reach: out of descriptors, another user's. */
	opendir_errno = EMFILE;
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), -EMFILE);
	opendir_errno = ENFILE;
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), -ENFILE);
	opendir_errno = EACCES;
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), -EACCES);
	assert_int_equal(n, 99); /* written only on success */
	/* Gone is gone: nothing to find there. */
	opendir_errno = ENOENT;
	assert_int_equal(conn_listen_ports(&self, 1, ports, PORTS_MAX, &n), 0);
	assert_int_equal(n, 0);
	opendir_errno = 0;
	/* One pid unreadable, another listening: its ports are an answer. */
	assert_int_equal(conn_listen_ports(pids, 2, ports, PORTS_MAX, &n), 0);
	assert_true(has_port(ports, n, p.port));

	/* For real: no descriptor left for the dump (the lowest free number
	 * at the limit). The limit is restored before any assert. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	none = old;
	none.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	n = 99;
	r = conn_listen_ports(&self, 1, ports, PORTS_MAX, &n);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, -EMFILE);
	assert_int_equal(n, 99);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_ipv6_listen),
		cmocka_unit_test(test_parse_no_info),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_short_info),
		cmocka_unit_test(test_parse_info_too_short),
		cmocka_unit_test(test_pending_new_connection),
		cmocka_unit_test(test_pending_across_dumps),
		cmocka_unit_test(test_pending_without_counters),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_compare_ports),
		cmocka_unit_test(test_compare_prev_cases),
		cmocka_unit_test(test_dump_real),
		cmocka_unit_test(test_dump_cap),
		cmocka_unit_test(test_bytecode_one_port),
		cmocka_unit_test(test_bytecode_many_ports),
		cmocka_unit_test(test_bytecode_limits),
		cmocka_unit_test(test_dump_filtered),
		cmocka_unit_test(test_listen_ports_self),
		cmocka_unit_test(test_listen_ports_other_pid),
		cmocka_unit_test(test_listen_ports_unreadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
