/* nl.c - see nl.h. */
#include "nl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int nl_open(int protocol, struct nl_sock *ret)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t salen = sizeof(sa);
	int fd, r;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return -errno;
	/* nl_pid 0: the kernel picks our address. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (salen != sizeof(sa) || sa.nl_family != AF_NETLINK) {
		close(fd);
		return -EPROTO;
	}
	ret->fd = fd;
	ret->portid = sa.nl_pid;
	return 0;
}

void nl_close(struct nl_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

struct nlmsghdr *nl_msg_start(void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = buf;

	if (size < NLMSG_HDRLEN)
		return NULL;
	memset(buf, 0, NLMSG_HDRLEN);
	nlh->nlmsg_len = NLMSG_HDRLEN;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

void *nl_msg_extra(struct nlmsghdr *nlh, size_t size, size_t len)
{
	char *p = (char *)nlh + nlh->nlmsg_len;

	if (len > size || NLMSG_ALIGN(len) > size - nlh->nlmsg_len)
		return NULL;
	memset(p, 0, NLMSG_ALIGN(len));
	nlh->nlmsg_len += (uint32_t)NLMSG_ALIGN(len);
	return p;
}

int nl_attr_put(struct nlmsghdr *nlh, size_t size, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)nlh + nlh->nlmsg_len);
	size_t total = NLA_HDRLEN + len;

	if (len > 0xffff - NLA_HDRLEN || NLA_ALIGN(total) > size - nlh->nlmsg_len)
		return -ENOSPC;
	a->nla_type = type;
	a->nla_len = (uint16_t)total;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	memset((char *)a + total, 0, NLA_ALIGN(total) - total);
	nlh->nlmsg_len += (uint32_t)NLA_ALIGN(total);
	return 0;
}

int nl_send(const struct nl_sock *s, const struct nlmsghdr *nlh)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	n = sendto(s->fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (n < 0)
		return -errno;
	return (size_t)n == nlh->nlmsg_len ? 0 : -EIO;
}

int nl_recv(const struct nl_sock *s, void *buf, size_t size)
{
	struct sockaddr_nl from;
	struct iovec iov = { buf, size };
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1
	};
	ssize_t n;

	n = recvmsg(s->fd, &mh, 0);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	/* A datagram cut short, or sent by a process rather than the kernel. */
	if ((mh.msg_flags & MSG_TRUNC) || mh.msg_namelen != sizeof(from) || from.nl_pid != 0)
		return -EPROTO;
	return (int)n;
}

/* The error an NLMSG_ERROR or NLMSG_DONE carries: 0, a negative errno, or
 * -EPROTO when there is no room for it or it is not an errno. */
static int carried_error(const struct nlmsghdr *nlh)
{
	int err;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(err))
		return -EPROTO;
	memcpy(&err, (const char *)nlh + NLMSG_HDRLEN, sizeof(err));
	if (err > 0 || err < -4095)
		return -EPROTO;
	return err;
}

int nl_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid, nl_msg_fn *fn, void *data)
{
	const char *p = buf;
	size_t off = 0;

	if (len == 0)
		return -EPROTO;
	while (off < len) {
		const struct nlmsghdr *nlh = (const void *)(p + off);
		size_t rest = len - off;
		int err;

		if (rest < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > rest)
			return -EPROTO;
		if (nlh->nlmsg_seq != seq || (nlh->nlmsg_pid != 0 && nlh->nlmsg_pid != portid))
			return -EPROTO;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			return -EINTR;
		switch (nlh->nlmsg_type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_DONE:
			/* A dump's DONE may carry an error (int 0 when fine). */
			err = nlh->nlmsg_len > NLMSG_HDRLEN ? carried_error(nlh) : 0;
			return err < 0 ? err : NL_DONE;
		case NLMSG_ERROR:
			err = carried_error(nlh);
			return err < 0 ? err : NL_DONE; /* 0 is an ack */
		case NLMSG_OVERRUN:
			return -ENOBUFS;
		default:
			if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
				fn(nlh, data);
			break;
		}
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	return NL_MORE;
}

const struct nlattr *nl_attr_next(const struct nlmsghdr *nlh, size_t hdrlen,
				  const struct nlattr *prev)
{
	const struct nlattr *a;
	size_t off;

	if (prev)
		off = (size_t)((const char *)prev - (const char *)nlh) + NLA_ALIGN(prev->nla_len);
	else
		off = NLMSG_HDRLEN + NLMSG_ALIGN(hdrlen);
	if (off > nlh->nlmsg_len || nlh->nlmsg_len - off < NLA_HDRLEN)
		return NULL;
	a = (const void *)((const char *)nlh + off);
	if (a->nla_len < NLA_HDRLEN || a->nla_len > nlh->nlmsg_len - off)
		return NULL;
	return a;
}

uint16_t nl_attr_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

const void *nl_attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

size_t nl_attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}
