/* test_idle.c - idle.c on real loopback connections: the check on the
 * copied descriptor, and closing the idle connection another process
 * holds (a forked child, as lastcall run's app is) with a FIN it can still
 * read past, never a busy one.
 */
#include "../../helper/idle.c"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "loopback.h"

/* A connected pair: *client, and the server side accepted from lfd. */
static void pair(int lfd, uint16_t port, int *client, int *server)
{
	*client = connect_to(port);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
}

/* The server side as a sample sees it. */
static struct conn seen(int fd)
{
	struct conn c = { 0 };
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	c.inode = (uint32_t)st.st_ino;
	c.state = CONN_TCP_ESTABLISHED;
	c.bytes_received = ti.tcpi_bytes_received;
	c.bytes_sent = ti.tcpi_bytes_sent;
	c.has_bytes = true;
	c.idle = true;
	return c;
}

/* A request and its answer, read on both sides: idle again after. */
static void exchange(int client, int server)
{
	char buf[64];

	assert_int_equal(write(client, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	assert_int_equal(read(server, buf, sizeof(buf)), 18);
	assert_int_equal(write(server, "HTTP/1.1 200 OK\r\n\r\n", 19), 19);
	assert_int_equal(read(client, buf, sizeof(buf)), 19);
}

static bool wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 2000) == 1;
}

/* Whether fd reads the end of the stream within ms. */
static bool eof_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 0;
}

static void test_still(void **state)
{
	uint16_t port;
	int lfd = listener(&port), client, server;
	struct conn c;

	(void)state;
	pair(lfd, port, &client, &server);
	exchange(client, server);
	c = seen(server);
	assert_true(idle_still(server, &c));
	/* Another socket is not this one. */
	assert_false(idle_still(client, &c));
	assert_false(idle_still(lfd, &c));
	/* A request come since the sample, read or not: not idle. */
	assert_int_equal(write(client, "G", 1), 1);
	assert_true(wait_readable(server));
	assert_false(idle_still(server, &c));
	close(client);
	close(server);
	close(lfd);
}

static void test_close_in_child(void **state)
{
	uint16_t port;
	int lfd = listener(&port), idle_c, idle_s, busy_c, busy_s, go[2], status;
	struct conn conns[2];
	size_t closed = 99;
	pid_t child;
	char buf[8];

	(void)state;
	pair(lfd, port, &idle_c, &idle_s);
	pair(lfd, port, &busy_c, &busy_s);
	exchange(idle_c, idle_s);
	conns[0] = seen(idle_s);
	conns[1] = seen(busy_s);
	/* The busy one has a request waiting that the sample did not see. */
	assert_int_equal(write(busy_c, "GET", 3), 3);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* The app: holds both server sides until told, then checks it
		 * can still read on the one closed for writing. */
		close(idle_c);
		close(busy_c);
		if (read(go[0], buf, 1) != 1)
			_exit(2);
		_exit(read(idle_s, buf, sizeof(buf)) == 1 && buf[0] == 'x' ? 0 : 3);
	}
	close(idle_s);
	close(busy_s);
	close(go[0]);
	assert_int_equal(idle_close(conns, 2, &child, 1, &closed), 0);
	assert_int_equal(closed, 1);
	/* A FIN: the client reads the end and can still write. */
	assert_true(eof_within(idle_c, 2000));
	assert_int_equal(write(idle_c, "x", 1), 1);
	assert_false(eof_within(busy_c, 100));
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Gone processes and nothing to close are no error. */
	assert_int_equal(idle_close(conns, 2, &child, 1, &closed), 0);
	assert_int_equal(closed, 0);
	assert_int_equal(idle_close(conns, 0, &child, 1, &closed), 0);
	close(idle_c);
	close(busy_c);
	close(go[1]);
	close(lfd);
}

/* Without ptrace rights over the app (here: the app not dumpable, and no
 * CAP_SYS_PTRACE, as a container without it under RuntimeDefault is
 * refused by seccomp): -EPERM, nothing closed, so that the shell says it
 * once and stops trying (-EACCES when the app's descriptors cannot even be
 * listed). */
static void test_refused(void **state)
{
	uint16_t port;
	int lfd = listener(&port), c, a, go[2], up[2], status;
	struct conn conn;
	pid_t app, tester;
	char buf[4];

	(void)state;
	pair(lfd, port, &c, &a);
	exchange(c, a);
	conn = seen(a);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	app = fork();
	assert_true(app >= 0);
	if (app == 0) {
		/* Up once not dumpable; then until the parent closes go. */
		close(go[1]);
		prctl(PR_SET_DUMPABLE, 0);
		if (write(up[1], "r", 1) != 1 || read(go[0], buf, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	assert_int_equal(read(up[0], buf, 1), 1);
	close(up[0]);
	tester = fork();
	assert_true(tester >= 0);
	if (tester == 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		size_t closed = 99;
		int r;

		if (syscall(SYS_capget, &hdr, data) < 0)
			_exit(3);
		data[0].effective &= ~(1u << CAP_SYS_PTRACE);
		if (syscall(SYS_capset, &hdr, data) < 0)
			_exit(4);
		r = idle_close(&conn, 1, &app, 1, &closed);
		/* Its /proc/PID/fd links are closed to us too: EACCES. */
		_exit((r == -EPERM || r == -EACCES) && closed == 0 ? 0 : 5);
	}
	assert_int_equal(waitpid(tester, &status, 0), tester);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Still open: nothing was closed. */
	assert_false(eof_within(c, 50));
	close(go[1]);
	assert_int_equal(waitpid(app, &status, 0), app);
	close(go[0]);
	close(c);
	close(a);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_still),
		cmocka_unit_test(test_close_in_child),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
