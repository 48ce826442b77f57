/* nl.h - the little of netlink that lastcall speaks.
 *
 * One request in a caller's buffer, then the kernel's replies read and
 * checked until NLMSG_DONE. Every length in a reply is checked against the
 * bytes actually received before anything is read: a message or an
 * attribute that claims more than is there ends the walk with -EPROTO.
 * Enough for sock_diag; no multicast, no acks of our own.
 */
#ifndef LASTCALL_NL_H
#define LASTCALL_NL_H

#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;
struct nlattr;

struct nl_sock {
	int fd;
	uint32_t portid; /* the address the kernel gave us */
};

/* Opens and binds a netlink socket of protocol (NETLINK_SOCK_DIAG...),
 * close-on-exec. Returns 0 or a negative errno. */
int nl_open(int protocol, struct nl_sock *ret);
void nl_close(struct nl_sock *s);

/*
 * Starts a request of type with flags and seq in buf (size bytes, aligned
 * for struct nlmsghdr), its payload zeroed. NULL when size is too small.
 */
struct nlmsghdr *nl_msg_start(void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq);

/* Appends len zeroed bytes (the family header) to the message; returns
 * them, or NULL when they do not fit in size. */
void *nl_msg_extra(struct nlmsghdr *nlh, size_t size, size_t len);

/* Appends an attribute; 0, or -ENOSPC when it does not fit in size. */
int nl_attr_put(struct nlmsghdr *nlh, size_t size, uint16_t type, const void *data, size_t len);

/* Sends the message to the kernel; 0 or a negative errno. */
int nl_send(const struct nl_sock *s, const struct nlmsghdr *nlh);

/* Reads one datagram of replies into buf; its length or a negative errno
 * (-EPROTO for one cut short by the buffer, -EAGAIN for a signal). */
int nl_recv(const struct nl_sock *s, void *buf, size_t size);

/* Called for every data message (type >= NLMSG_MIN_TYPE) of the reply. */
typedef void nl_msg_fn(const struct nlmsghdr *nlh, void *data);

enum { NL_DONE = 0, NL_MORE = 1 };

/*
 * Walks the messages of one datagram, calling fn for each data message.
 * Messages must answer seq and come from the kernel or to portid. Returns
 * NL_MORE when the dump goes on in the next datagram, NL_DONE at
 * NLMSG_DONE (or an ack), the kernel's error (negative errno) at
 * NLMSG_ERROR, -EINTR when the kernel says the dump was interrupted, or
 * -EPROTO for a reply that is malformed or not ours. Pure.
 */
int nl_walk(const void *buf, size_t len, uint32_t seq, uint32_t portid, nl_msg_fn *fn, void *data);

/*
 * The attributes after the family header (hdrlen bytes) of a message whose
 * length nl_walk checked: the first with prev NULL, then the one after
 * prev. NULL at the end, or at an attribute whose length is impossible
 * (the rest of the message is ignored, as the kernel does). Pure.
 */
const struct nlattr *nl_attr_next(const struct nlmsghdr *nlh, size_t hdrlen,
				  const struct nlattr *prev);

/* An attribute's type (without the nested/byte-order bits), payload and
 * payload length. */
uint16_t nl_attr_type(const struct nlattr *a);
const void *nl_attr_data(const struct nlattr *a);
size_t nl_attr_len(const struct nlattr *a);

#endif
