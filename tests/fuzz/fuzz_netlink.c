/* fuzz_netlink.c - sock_diag replies, as the kernel would send them to
 * conn_dump, through nl_walk and conn_parse, then the dump-to-dump
 * comparison the drain decides on (conn_sort, conn_compare).
 *
 * Input: datagrams, each a 2-byte little-endian length then that many
 * bytes (a datagram cut short by the input's end is taken as it is).
 * Each is copied into a buffer of its own size (malloc aligns it as
 * conn.c's receive buffer is, and ASan sees a read past the datagram) and
 * walked with a fixed sequence number and port id (FUZZ_SEQ, FUZZ_PORTID:
 * the seeds carry them); the data messages go through conn_parse as
 * conn.c's dump_cb does. A walk that ends the dump (DONE, an
 * error) closes one dump: it is sorted and compared with the one before,
 * as successive samples are.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <string.h>

#include "conn.h"
#include "limits.h"
#include "nl.h"

#include "fuzz.h"

#define FUZZ_SEQ 0x4c43u
#define FUZZ_PORTID 4242u
/* Connections kept per dump: enough for any input of max_len bytes. */
#define FUZZ_CONNS 256

struct dump {
	struct conn c[FUZZ_CONNS];
	size_t n;
	size_t dropped;
};

/* As conn.c's dump_cb: parse, keep what fits. */
static void on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct conn c;

	FUZZ_ASSERT(nlh->nlmsg_len >= NLMSG_HDRLEN);
	if (conn_parse(nlh, &c) < 0)
		return;
	FUZZ_ASSERT(!c.has_bytes || c.has_info);
	if (d->n < FUZZ_CONNS)
		d->c[d->n++] = c;
	else
		d->dropped++;
}

/* Sorts cur and compares it with prev, as sample_take does. */
static void close_dump(struct dump *prev, struct dump *cur, unsigned round)
{
	static const uint16_t ports[] = { 80, 8080, 9797 };
	struct conn_stats st;

	conn_sort(cur->c, cur->n);
	for (size_t i = 1; i < cur->n; i++)
		FUZZ_ASSERT(cur->c[i - 1].cookie <= cur->c[i].cookie);
	conn_compare(prev->c, prev->n, cur->c, cur->n, ports, round % 2 ? 0 : 3, &st);
	FUZZ_ASSERT(st.established >= 0 && (size_t)st.established <= cur->n);
	FUZZ_ASSERT(st.busy <= st.established && st.new_conns <= st.established);
	FUZZ_ASSERT(st.new_requests <= st.established);
	*prev = *cur;
	cur->n = 0;
	cur->dropped = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dump prev, cur;
	unsigned round = 0;

	if (size > 4 * NETLINK_BUF_SIZE)
		return 0;
	prev.n = cur.n = 0;
	for (size_t off = 0; off + 2 <= size;) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		int r;

		off += 2;
		if (len > size - off)
			len = size - off;
		if (len > NETLINK_BUF_SIZE)
			len = NETLINK_BUF_SIZE;
		char *dgram = fuzz_bytes(data + off, len);
		if (!dgram)
			break;
		off += len;
		r = nl_walk(dgram, len, FUZZ_SEQ, FUZZ_PORTID, on_msg, &cur);
		free(dgram);
		FUZZ_ASSERT(r == NL_MORE || r == NL_DONE || (r < 0 && r >= -4095));
		if (r != NL_MORE)
			close_dump(&prev, &cur, round++);
	}
	if (cur.n)
		close_dump(&prev, &cur, round);
	return 0;
}
