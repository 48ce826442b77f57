/* test_nl.c - nl.c: building requests, walking replies (well formed,
 * cut short, lying about their lengths, not ours, errors), attributes, and
 * one real sock_diag round trip with the kernel.
 */
#include "../../helper/nl.c"

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

union buf {
	struct nlmsghdr h;
	uint64_t align;
	char b[1024];
};

struct seen {
	int n;
	uint16_t types[8];
};

static void count(const struct nlmsghdr *nlh, void *data)
{
	struct seen *s = data;

	if (s->n < 8)
		s->types[s->n] = nlh->nlmsg_type;
	s->n++;
}

/* Appends a message of type with payload len (filled with fill) at *off. */
static struct nlmsghdr *add(union buf *b, size_t *off, uint16_t type, uint16_t flags, uint32_t seq,
			    uint32_t pid, size_t len, int fill)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(b->b + *off);

	assert_true(*off + NLMSG_ALIGN(NLMSG_HDRLEN + len) <= sizeof(b->b));
	nlh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = pid;
	memset(b->b + *off + NLMSG_HDRLEN, fill, len);
	*off += NLMSG_ALIGN(nlh->nlmsg_len);
	return nlh;
}

static void put_int(struct nlmsghdr *nlh, int v)
{
	memcpy((char *)nlh + NLMSG_HDRLEN, &v, sizeof(v));
}

static void test_build(void **state)
{
	(void)state;
	union buf b;
	struct nlmsghdr *nlh;
	char *extra;

	memset(&b, 0xaa, sizeof(b));
	nlh = nl_msg_start(&b, sizeof(b), 20, NLM_F_REQUEST | NLM_F_DUMP, 99);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_len, NLMSG_HDRLEN);
	assert_int_equal(nlh->nlmsg_type, 20);
	assert_int_equal(nlh->nlmsg_seq, 99);
	assert_int_equal(nlh->nlmsg_pid, 0);

	/* The family header is zeroed and padded to 4. */
	extra = nl_msg_extra(nlh, sizeof(b), 5);
	assert_ptr_equal(extra, b.b + NLMSG_HDRLEN);
	assert_int_equal(nlh->nlmsg_len, NLMSG_HDRLEN + 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(extra[i], 0);

	/* An attribute of 3 bytes: length 7, padded to 8 with zeroes. */
	assert_int_equal(nl_attr_put(nlh, sizeof(b), 1, "abc", 3), 0);
	assert_int_equal(nlh->nlmsg_len, NLMSG_HDRLEN + 16);
	assert_int_equal(((struct nlattr *)(extra + 8))->nla_len, 7);
	assert_int_equal(extra[15], 0);

	/* Reading back what was built. */
	const struct nlattr *a = nl_attr_next(nlh, 5, NULL);
	assert_non_null(a);
	assert_int_equal(nl_attr_type(a), 1);
	assert_int_equal(nl_attr_len(a), 3);
	assert_memory_equal(nl_attr_data(a), "abc", 3);
	assert_null(nl_attr_next(nlh, 5, a));
}

static void test_build_no_room(void **state)
{
	(void)state;
	union buf b;
	struct nlmsghdr *nlh;
	char big[600];

	assert_null(nl_msg_start(&b, NLMSG_HDRLEN - 1, 20, 0, 1));
	nlh = nl_msg_start(&b, 64, 20, 0, 1);
	assert_null(nl_msg_extra(nlh, 64, 64));
	assert_null(nl_msg_extra(nlh, 64, SIZE_MAX));
	assert_non_null(nl_msg_extra(nlh, 64, 40));
	assert_int_equal(nl_attr_put(nlh, 64, 1, big, 5), -ENOSPC);
	assert_int_equal(nl_attr_put(nlh, 64, 1, big, 4), 0);
	assert_int_equal(nlh->nlmsg_len, 64);

	/* Longer than an attribute's 16-bit length can say. */
	nlh = nl_msg_start(&b, sizeof(b), 20, 0, 1);
	assert_int_equal(nl_attr_put(nlh, SIZE_MAX / 2, 1, big, 0x10000), -ENOSPC);
}

static void test_walk_dump(void **state)
{
	(void)state;
	union buf b;
	size_t off = 0;
	struct seen s = { 0, { 0 } };

	memset(&b, 0, sizeof(b));
	add(&b, &off, 20, NLM_F_MULTI, 5, 77, 13, 1); /* padded to 16 */
	add(&b, &off, NLMSG_NOOP, 0, 5, 77, 0, 0);
	add(&b, &off, 21, NLM_F_MULTI, 5, 0, 0, 0); /* from the kernel */
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), NL_MORE);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.types[0], 20);
	assert_int_equal(s.types[1], 21);

	/* The next datagram ends the dump; nothing after DONE is read. */
	off = 0;
	add(&b, &off, 22, NLM_F_MULTI, 5, 77, 4, 2);
	put_int(add(&b, &off, NLMSG_DONE, NLM_F_MULTI, 5, 77, 4, 0), 0);
	add(&b, &off, 23, 0, 5, 77, 4, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), NL_DONE);
	assert_int_equal(s.n, 3);

	/* A DONE without a payload, and an ack, end it too. */
	off = 0;
	add(&b, &off, NLMSG_DONE, 0, 5, 77, 0, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), NL_DONE);
	off = 0;
	put_int(add(&b, &off, NLMSG_ERROR, 0, 5, 77, sizeof(struct nlmsgerr), 0), 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), NL_DONE);
	assert_int_equal(s.n, 3);
}

static void test_walk_errors(void **state)
{
	(void)state;
	union buf b;
	size_t off;
	struct seen s = { 0, { 0 } };

	memset(&b, 0, sizeof(b));
	/* The kernel's error, as a negative errno. */
	off = 0;
	put_int(add(&b, &off, NLMSG_ERROR, 0, 5, 77, sizeof(struct nlmsgerr), 0), -EPERM);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPERM);
	off = 0;
	put_int(add(&b, &off, NLMSG_DONE, NLM_F_MULTI, 5, 77, 4, 0), -ENOMEM);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -ENOMEM);

	/* Errors that are no errno, or without room for one. */
	off = 0;
	put_int(add(&b, &off, NLMSG_ERROR, 0, 5, 77, 4, 0), 3);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	off = 0;
	put_int(add(&b, &off, NLMSG_ERROR, 0, 5, 77, 4, 0), -100000);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	off = 0;
	put_int(add(&b, &off, NLMSG_ERROR, 0, 5, 77, 4, 0), INT32_MIN);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	off = 0;
	add(&b, &off, NLMSG_ERROR, 0, 5, 77, 2, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	off = 0;
	add(&b, &off, NLMSG_DONE, 0, 5, 77, 2, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);

	/* Overrun, and a dump the kernel says changed under it. */
	off = 0;
	add(&b, &off, NLMSG_OVERRUN, 0, 5, 77, 0, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -ENOBUFS);
	off = 0;
	add(&b, &off, 20, NLM_F_MULTI | NLM_F_DUMP_INTR, 5, 77, 4, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EINTR);
	assert_int_equal(s.n, 0);
}

static void test_walk_malformed(void **state)
{
	(void)state;
	union buf b;
	size_t off;
	struct seen s = { 0, { 0 } };
	struct nlmsghdr *nlh;

	memset(&b, 0, sizeof(b));
	/* Nothing, or less than a header. */
	assert_int_equal(nl_walk(&b, 0, 5, 77, count, &s), -EPROTO);
	off = 0;
	add(&b, &off, 20, 0, 5, 77, 0, 0);
	assert_int_equal(nl_walk(&b, NLMSG_HDRLEN - 1, 5, 77, count, &s), -EPROTO);

	/* A second message cut short: the first was still delivered. */
	off = 0;
	add(&b, &off, 20, 0, 5, 77, 8, 0);
	add(&b, &off, 21, 0, 5, 77, 8, 0);
	assert_int_equal(nl_walk(&b, off - 1, 5, 77, count, &s), -EPROTO);
	assert_int_equal(s.n, 1);
	s.n = 0;

	/* Lengths that lie: longer than received, shorter than a header, 0. */
	off = 0;
	nlh = add(&b, &off, 20, 0, 5, 77, 8, 0);
	nlh->nlmsg_len = (uint32_t)off + 4;
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	nlh->nlmsg_len = UINT32_MAX;
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	nlh->nlmsg_len = NLMSG_HDRLEN - 1;
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	nlh->nlmsg_len = 0; /* would loop for ever if accepted */
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	assert_int_equal(s.n, 0);

	/* Not an answer to our request, or addressed to someone else. */
	off = 0;
	add(&b, &off, 20, 0, 6, 77, 0, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	off = 0;
	add(&b, &off, 20, 0, 5, 78, 0, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), -EPROTO);
	assert_int_equal(s.n, 0);

	/* Control types we do not know are skipped, not delivered. */
	off = 0;
	add(&b, &off, NLMSG_MIN_TYPE - 1, 0, 5, 77, 0, 0);
	assert_int_equal(nl_walk(&b, off, 5, 77, count, &s), NL_MORE);
	assert_int_equal(s.n, 0);
}

static void test_attrs_malformed(void **state)
{
	(void)state;
	union buf b;
	struct nlmsghdr *nlh;
	struct nlattr *a;
	const struct nlattr *it;
	int n;

	nlh = nl_msg_start(&b, sizeof(b), 20, 0, 1);
	nl_msg_extra(nlh, sizeof(b), 8);
	assert_int_equal(nl_attr_put(nlh, sizeof(b), 1, "aaaa", 4), 0);
	assert_int_equal(nl_attr_put(nlh, sizeof(b), 2 | NLA_F_NESTED, "bb", 2), 0);
	assert_int_equal(nl_attr_put(nlh, sizeof(b), 3, "c", 1), 0);
	n = 0;
	for (it = nl_attr_next(nlh, 8, NULL); it; it = nl_attr_next(nlh, 8, it))
		assert_int_equal(nl_attr_type(it), ++n);
	assert_int_equal(n, 3);

	/* The second claims more than the message holds: the walk stops
	 * before it, and the third is never reached. */
	a = (struct nlattr *)(b.b + NLMSG_HDRLEN + 8 + 8);
	a->nla_len = 200;
	it = nl_attr_next(nlh, 8, NULL);
	assert_non_null(it);
	assert_null(nl_attr_next(nlh, 8, it));
	/* Shorter than its own header (0 would never advance). */
	a->nla_len = 0;
	assert_null(nl_attr_next(nlh, 8, it));
	a->nla_len = 3;
	assert_null(nl_attr_next(nlh, 8, it));
	a->nla_len = 6;

	/* A message cut inside an attribute header, or a family header
	 * longer than the message. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 8 + 8 + 2;
	it = nl_attr_next(nlh, 8, NULL);
	assert_non_null(it);
	assert_null(nl_attr_next(nlh, 8, it));
	assert_null(nl_attr_next(nlh, 64, NULL));
	nlh->nlmsg_len = NLMSG_HDRLEN;
	assert_null(nl_attr_next(nlh, 8, NULL));
}

/* One real dump of the listening TCP sockets: the kernel answers our
 * request, and a socket listening here is in it. */
struct found {
	uint16_t port;
	int hits;
	int msgs;
};

static void find_port(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	const struct inet_diag_msg *m = NLMSG_DATA(nlh);

	f->msgs++;
	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*m)) && ntohs(m->id.idiag_sport) == f->port)
		f->hits++;
}

static void test_kernel_round_trip(void **state)
{
	(void)state;
	static union {
		struct nlmsghdr h;
		char b[32768];
	} buf;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct found f = { 0, 0, 0 };
	struct nl_sock nl;
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	int lfd, r = NL_MORE;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	f.port = ntohs(sa.sin_port);

	assert_int_equal(nl_open(NETLINK_SOCK_DIAG, &nl), 0);
	assert_true(nl.portid != 0);
	nlh = nl_msg_start(&buf, sizeof(buf), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 42);
	req = nl_msg_extra(nlh, sizeof(buf), sizeof(*req));
	req->sdiag_family = AF_INET;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = 1u << 10; /* TCP_LISTEN */
	assert_int_equal(nl_send(&nl, nlh), 0);
	for (int i = 0; i < 1000 && r == NL_MORE; i++) {
		r = nl_recv(&nl, &buf, sizeof(buf));
		assert_true(r > 0);
		r = nl_walk(&buf, (size_t)r, 42, nl.portid, find_port, &f);
	}
	assert_int_equal(r, NL_DONE);
	assert_int_equal(f.hits, 1);
	assert_true(f.msgs >= 1);

	/* A request the kernel refuses comes back as its errno. */
	nlh = nl_msg_start(&buf, sizeof(buf), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 43);
	req = nl_msg_extra(nlh, sizeof(buf), sizeof(*req));
	req->sdiag_family = 255;
	assert_int_equal(nl_send(&nl, nlh), 0);
	r = nl_recv(&nl, &buf, sizeof(buf));
	assert_true(r > 0);
	r = nl_walk(&buf, (size_t)r, 43, nl.portid, find_port, &f);
	assert_true(r < 0);

	/* A buffer too small for the datagram: refused, not half-read. */
	nlh = nl_msg_start(&buf, sizeof(buf), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 44);
	req = nl_msg_extra(nlh, sizeof(buf), sizeof(*req));
	req->sdiag_family = AF_INET;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = 1u << 10;
	assert_int_equal(nl_send(&nl, nlh), 0);
	assert_int_equal(nl_recv(&nl, &buf, NLMSG_HDRLEN), -EPROTO);

	nl_close(&nl);
	assert_int_equal(nl.fd, -1);
	nl_close(&nl);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_no_room),
		cmocka_unit_test(test_walk_dump),
		cmocka_unit_test(test_walk_errors),
		cmocka_unit_test(test_walk_malformed),
		cmocka_unit_test(test_attrs_malformed),
		cmocka_unit_test(test_kernel_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
