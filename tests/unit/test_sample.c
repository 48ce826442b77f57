/* test_sample.c - sample.c: the sampling pace, and the sampler on real
 * loopback sockets: ports found from our own listening socket (and looked
 * for again only when the namespace's listening sockets change), kept when
 * they cannot be looked for (out of descriptors, no process seen), a new
 * connection and a request seen as fresh, nothing fresh when idle, and
 * the ports forgotten when the app is gone; more connections than a dump
 * keeps counted, and the idle ones listed; every allocation failing in
 * turn (failalloc.h): a clean error, and the ports never taken for none. */
/* A dump keeps this many connections here, so that going past it takes
 * a few sockets, not sixteen thousand. */
#define CONN_MAX 8
#include "../../helper/sample.c"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "loopback.h"

#include "failalloc.h"

static void test_next_ms(void **state)
{
	int64_t seek = 100;

	(void)state;
	/* Before the app is ready: fast, backing off to SAMPLE_IDLE_MS. */
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), 100);
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), 200);
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), 400);
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), 800);
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), SAMPLE_IDLE_MS);
	assert_int_equal(sample_next_ms(DRAIN_SERVING, false, 100, &seek), SAMPLE_IDLE_MS);
	/* Ready: slow, only to notice new ports. */
	assert_int_equal(sample_next_ms(DRAIN_SERVING, true, 100, &seek), SAMPLE_IDLE_MS);
	/* Draining: the sample interval, whatever the backoff. */
	for (int p = DRAIN_UNREADY; p < DRAIN_STOP; p++)
		assert_int_equal(sample_next_ms((enum drain_phase)p, false, 100, &seek), 100);
	/* From the stop on: never (the owner watches the app's exit). */
	for (int p = DRAIN_STOP; p < DRAIN_PHASES; p++)
		assert_int_equal(sample_next_ms((enum drain_phase)p, true, 100, &seek), -1);
}

/* A network namespace of our own, lo up: no other process's sockets come
 * and go in it (the machine is shared). As a user who may not make one,
 * the test runs in the machine's and may see others' sockets. */
static int own_netns(void **state)
{
	struct ifreq ifr = { 0 };
	int fd;

	(void)state;
	if (unshare(CLONE_NEWNET) < 0)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void test_sampler(void **state)
{
	struct sample *s;
	const uint16_t *ports;
	const struct conn_stats *st;
	uint16_t port, port2;
	int lfd2;
	pid_t self = getpid();
	int conns = -1, reqs = -1, c2, a2;
	char text[64], buf[8];
	int lfd, c, a;

	(void)state;
	lfd = listener(&port);
	assert_int_equal(sample_new(NULL, 0, &s), 0);
	assert_true(sample_discovers(s));
	/* Nothing found yet: nothing to sample. */
	assert_int_equal(sample_take(s, &conns, &reqs), -ENOENT);
	assert_null(sample_stats(s));
	sample_ports_text(s, text, sizeof(text));
	assert_string_equal(text, "none");
	/* Our own listening socket is found, once. */
	assert_int_equal(sample_listeners_changed(s), 1);
	assert_int_equal(sample_discover(s, &self, 1), 1);
	/* Nothing new listens: no need to look again. */
	assert_int_equal(sample_listeners_changed(s), 0);
	assert_int_equal(sample_discover(s, &self, 1), 0);
	lfd2 = listener(&port2);
	assert_int_equal(sample_listeners_changed(s), 1);
	assert_int_equal(sample_discover(s, &self, 1), 1);
	close(lfd2);
	assert_int_equal(sample_listeners_changed(s), 1);
	assert_int_equal(sample_discover(s, &self, 1), 1);
	assert_int_equal(sample_listeners_changed(s), 0);
	assert_int_equal(sample_ports(s, &ports), 1);
	assert_int_equal(ports[0], port);
	/* Not looked at is not "none": the ports stay, and the next look
	 * scans again. No process seen (the app's tree unreadable)... */
	assert_int_equal(sample_discover(s, &self, 0), -ESRCH);
	assert_int_equal(sample_ports(s, &ports), 1);
	/* ...or no descriptor left (the limit at the lowest free number,
	 * restored before any assert). */
	{
		struct rlimit old, none;
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), changed, found;

		assert_true(fd >= 0);
		close(fd);
		lfd2 = listener(&port2);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
		none = old;
		none.rlim_cur = (rlim_t)fd;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
		changed = sample_listeners_changed(s);
		found = sample_discover(s, &self, 1);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
		assert_int_equal(changed, 1);
		assert_int_equal(found, -EMFILE);
		assert_int_equal(sample_ports(s, &ports), 1);
		assert_int_equal(ports[0], port);
		assert_int_equal(sample_listeners_changed(s), 1);
		assert_int_equal(sample_discover(s, &self, 1), 1);
		assert_int_equal(sample_ports(s, &ports), 2);
		close(lfd2);
		assert_int_equal(sample_listeners_changed(s), 1);
		assert_int_equal(sample_discover(s, &self, 1), 1);
		assert_int_equal(sample_listeners_changed(s), 0);
	}
	/* The first dump counts nothing new. */
	c = connect_to(port);
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(conns, 0);
	assert_int_equal(reqs, 0);
	st = sample_stats(s);
	assert_non_null(st);
	assert_int_equal(st->established, 1);
	/* Idle: nothing new. */
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(conns, 0);
	assert_int_equal(reqs, 0);
	/* A request on the known connection is a request, not a connection
	 * (what tells pinned traffic apart). */
	assert_int_equal(write(c, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	assert_true(read(a, buf, sizeof(buf)) > 0);
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(conns, 0);
	assert_int_equal(reqs, 1);
	/* A new connection is one. */
	c2 = connect_to(port);
	a2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a2 >= 0);
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(conns, 1);
	assert_int_equal(reqs, 0);
	close(c2);
	close(a2);
	/* Forgotten: discovered ports go, with the last dump, and the next
	 * look scans again. */
	sample_forget(s);
	assert_int_equal(sample_listeners_changed(s), 1);
	assert_int_equal(sample_ports(s, &ports), 0);
	assert_int_equal(sample_take(s, &conns, &reqs), -ENOENT);
	sample_free(s);

	/* Given ports are never discovered nor forgotten. */
	assert_int_equal(sample_new(&port, 1, &s), 0);
	assert_false(sample_discovers(s));
	assert_int_equal(sample_listeners_changed(s), 0);
	assert_int_equal(sample_discover(s, &self, 1), 0);
	sample_forget(s);
	assert_int_equal(sample_ports(s, &ports), 1);
	sample_ports_text(s, text, sizeof(text));
	snprintf(buf, sizeof(buf), "%u", port);
	assert_string_equal(text, buf);
	sample_free(s);
	sample_free(NULL);
	close(a);
	close(c);
	close(lfd);
}

/* sample_new with each allocation failing: -ENOMEM and nothing kept. */
static void new_round(long n, void *data)
{
	struct sample *s = NULL;
	int r = sample_new(NULL, 0, &s);

	(void)n;
	(void)data;
	if (failalloc.failed) {
		assert_int_equal(r, -ENOMEM);
		assert_null(s);
	} else {
		assert_int_equal(r, 0);
	}
	sample_free(s);
}

struct found {
	struct sample *s;
	uint16_t port;
	pid_t self;
};

/* A look for the ports with each allocation failing: it fails (the
 * caller keeps the ports) or finds the same ones; never "none", which
 * would turn the pod unready. The look that failed is retried. */
static void discover_round(long n, void *data)
{
	struct found *f = data;
	const uint16_t *ports;
	int r;

	(void)n;
	f->s->seen_valid = false; /* as if the listening sockets changed */
	assert_int_equal(sample_listeners_changed(f->s), 1);
	r = sample_discover(f->s, &f->self, 1);
	if (failalloc.failed)
		assert_int_equal(r, -ENOMEM);
	else
		assert_int_equal(r, 0);
	assert_int_equal(sample_ports(f->s, &ports), 1);
	assert_int_equal(ports[0], f->port);
	assert_int_equal(sample_listeners_changed(f->s), failalloc.failed);
}

static void test_alloc_fails(void **state)
{
	struct found f = { .self = getpid() };
	int lfd;

	(void)state;
	if (failalloc_off())
		return;
	assert_true(failalloc_each(new_round, NULL) >= 4);
	lfd = listener(&f.port);
	assert_int_equal(sample_new(NULL, 0, &f.s), 0);
	assert_int_equal(sample_listeners_changed(f.s), 1);
	assert_int_equal(sample_discover(f.s, &f.self, 1), 1);
	assert_true(failalloc_each(discover_round, &f) >= 2);
	sample_free(f.s);
	close(lfd);
}

/* Past CONN_MAX: the rest are counted, not silently dropped; the idle
 * connections of the last dump are listed (--close-idle). */
static void test_truncated(void **state)
{
	struct sample *s;
	uint16_t port;
	int lfd = listener(&port), c[CONN_MAX + 3], a[CONN_MAX + 3], conns, reqs;
	struct conn idle[CONN_MAX];
	char buf[32];

	(void)state;
	assert_int_equal(sample_new(&port, 1, &s), 0);
	for (int i = 0; i < CONN_MAX - 2; i++) {
		c[i] = connect_to(port);
		a[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(a[i] >= 0);
	}
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(sample_dropped(s), 0);
	assert_int_equal(sample_idle(s, idle, CONN_MAX), 0); /* nothing known yet */
	/* A request on one: the others are idle across two dumps. */
	assert_int_equal(write(c[0], "GET / HTTP/1.1\r\n\r\n", 18), 18);
	assert_true(read(a[0], buf, sizeof(buf)) > 0);
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(sample_idle(s, idle, CONN_MAX), CONN_MAX - 3);
	assert_int_equal(sample_idle(s, idle, 2), 2);
	for (int i = CONN_MAX - 2; i < CONN_MAX + 3; i++) {
		c[i] = connect_to(port);
		a[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(a[i] >= 0);
	}
	/* CONN_MAX + 3 accepted sockets on the port (the clients' local
	 * ports are others). */
	assert_int_equal(sample_take(s, &conns, &reqs), 0);
	assert_int_equal(sample_dropped(s), 3);
	assert_non_null(sample_stats(s));
	for (int i = 0; i < CONN_MAX + 3; i++) {
		close(c[i]);
		close(a[i]);
	}
	sample_free(s);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_ms),
		cmocka_unit_test_setup(test_sampler, own_netns),
		cmocka_unit_test_setup(test_truncated, own_netns),
		cmocka_unit_test(test_alloc_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
