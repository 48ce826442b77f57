/* test_loop.c - loop.c: fd callbacks (also removed or replaced mid-pass),
 * timers (order, cancel, due in the past), and the registration limits.
 * Real timers of tens of milliseconds; order is asserted, never duration.
 * loop_new with its allocation failing (failalloc.h). */
#include "../../helper/loop.c"

#include <fcntl.h>
#include <sys/eventfd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

static struct loop *l;

static int setup(void **state)
{
	(void)state;
	return loop_new(&l);
}

static int teardown(void **state)
{
	(void)state;
	loop_free(l);
	l = NULL;
	return 0;
}

/* What callbacks saw. */
static struct {
	int calls;
	int fd;
	uint32_t events;
	void *data;
	int order[LOOP_TIMERS_MAX * 2];
	int n_order;
} seen;

static int pipe_nb(int p[2])
{
	return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

static void on_readable_stop(struct loop *lp, int fd, uint32_t events, void *data)
{
	char buf[16];

	seen.calls++;
	seen.fd = fd;
	seen.events = events;
	seen.data = data;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	loop_stop(lp);
}

static void test_new_free(void **state)
{
	struct loop *other = NULL;

	(void)state;
	assert_int_equal(loop_new(&other), 0);
	assert_non_null(other);
	loop_free(other);
	loop_free(NULL);
	assert_true(loop_now_ms() > 0);
	int64_t a = loop_now_ms(), b = loop_now_ms();
	assert_true(b >= a);
}

static void test_fd_callback(void **state)
{
	int p[2], tag;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pipe_nb(p), 0);
	assert_int_equal(loop_add(l, p[0], EPOLLIN, on_readable_stop, &tag), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.fd, p[0]);
	assert_true(seen.events & EPOLLIN);
	assert_ptr_equal(seen.data, &tag);

	/* Removed: no longer called, and can be added again. */
	loop_del(l, p[0]);
	assert_int_equal(loop_add(l, p[0], EPOLLIN, on_readable_stop, NULL), 0);
	loop_del(l, p[0]);
	close(p[0]);
	close(p[1]);
}

static void test_fd_mod(void **state)
{
	int p[2];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pipe_nb(p), 0);
	/* A pipe's write end is never readable, but is writable. */
	assert_int_equal(loop_add(l, p[1], EPOLLIN, on_readable_stop, NULL), 0);
	assert_int_equal(loop_mod(l, p[1], EPOLLOUT), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.fd, p[1]);
	assert_true(seen.events & EPOLLOUT);
	assert_int_equal(loop_mod(l, p[0], EPOLLIN), -ENOENT);
	assert_int_equal(loop_mod(l, -1, EPOLLIN), -ENOENT);
	loop_del(l, p[1]);
	close(p[0]);
	close(p[1]);
}

/* Two fds pending at once; the first callback removes the other. */
static int pair[2][2];
static int pair_calls[2];

static void on_pair_del_other(struct loop *lp, int fd, uint32_t events, void *data)
{
	int i = (int)(intptr_t)data;

	(void)events;
	pair_calls[i]++;
	loop_del(lp, pair[1 - i][0]);
	loop_del(lp, fd);
	loop_stop(lp);
}

static void test_del_pending_in_same_pass(void **state)
{
	(void)state;
	pair_calls[0] = pair_calls[1] = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe_nb(pair[i]), 0);
		assert_int_equal(loop_add(l, pair[i][0], EPOLLIN, on_pair_del_other,
					  (void *)(intptr_t)i),
				 0);
		assert_int_equal(write(pair[i][1], "x", 1), 1);
	}
	/* loop_stop is only honoured after the pass: the second event is
	 * in the same batch, skipped because its fd is gone. */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(pair_calls[0] + pair_calls[1], 1);
	for (int i = 0; i < 2; i++) {
		close(pair[i][0]);
		close(pair[i][1]);
	}
}

/* The first callback replaces the other fd with a new one, which takes
 * the freed slot: the stale event must not reach the new registration. */
static int newfd = -1;
static int replaced_calls, new_calls;

static void on_new(struct loop *lp, int fd, uint32_t events, void *data)
{
	uint64_t v;

	(void)events;
	(void)data;
	new_calls++;
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	loop_stop(lp);
}

static void on_pair_replace_other(struct loop *lp, int fd, uint32_t events, void *data)
{
	int i = (int)(intptr_t)data;

	(void)events;
	replaced_calls++;
	loop_del(lp, pair[1 - i][0]);
	loop_del(lp, fd);
	/* No loop_stop: the loop goes on to the new fd. */
	assert_int_equal(loop_add(lp, newfd, EPOLLIN, on_new, NULL), 0);
}

static void test_replace_pending_in_same_pass(void **state)
{
	(void)state;
	replaced_calls = new_calls = 0;
	newfd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(newfd >= 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe_nb(pair[i]), 0);
		assert_int_equal(loop_add(l, pair[i][0], EPOLLIN, on_pair_replace_other,
					  (void *)(intptr_t)i),
				 0);
		assert_int_equal(write(pair[i][1], "x", 1), 1);
	}
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(replaced_calls, 1);
	assert_int_equal(new_calls, 1);
	loop_del(l, newfd);
	close(newfd);
	for (int i = 0; i < 2; i++) {
		close(pair[i][0]);
		close(pair[i][1]);
	}
}

static void test_add_errors(void **state)
{
	int p[2];
	int file = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_int_equal(pipe_nb(p), 0);
	assert_int_equal(loop_add(l, p[0], EPOLLIN, on_readable_stop, NULL), 0);
	assert_int_equal(loop_add(l, p[0], EPOLLIN, on_readable_stop, NULL), -EEXIST);
	assert_int_equal(loop_add(l, -1, EPOLLIN, on_readable_stop, NULL), -EBADF);
	/* epoll's own error: regular files cannot be watched. */
	assert_true(file >= 0);
	assert_int_equal(loop_add(l, file, EPOLLIN, on_readable_stop, NULL), -EPERM);
	/* Deleting what is not there is harmless. */
	loop_del(l, file);
	loop_del(l, -1);
	loop_del(l, p[0]);
	loop_del(l, p[0]);
	close(file);
	close(p[0]);
	close(p[1]);
}

static void test_fds_max(void **state)
{
	int fds[LOOP_FDS_MAX + 1];

	(void)state;
	for (int i = 0; i <= LOOP_FDS_MAX; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	for (int i = 0; i < LOOP_FDS_MAX; i++)
		assert_int_equal(loop_add(l, fds[i], EPOLLIN, on_readable_stop, NULL), 0);
	assert_int_equal(loop_add(l, fds[LOOP_FDS_MAX], EPOLLIN, on_readable_stop, NULL), -ENOSPC);
	/* A freed slot can be used again. */
	loop_del(l, fds[3]);
	assert_int_equal(loop_add(l, fds[LOOP_FDS_MAX], EPOLLIN, on_readable_stop, NULL), 0);
	assert_int_equal(loop_add(l, fds[3], EPOLLIN, on_readable_stop, NULL), -ENOSPC);
	for (int i = 0; i <= LOOP_FDS_MAX; i++) {
		loop_del(l, fds[i]);
		close(fds[i]);
	}
}

/* Timers record their tag (data) in seen.order. */
static void on_timer(struct loop *lp, void *data)
{
	(void)lp;
	seen.order[seen.n_order++] = (int)(intptr_t)data;
}

static void on_timer_stop(struct loop *lp, void *data)
{
	on_timer(lp, data);
	loop_stop(lp);
}

static void test_timers_in_due_order(void **state)
{
	int64_t now = loop_now_ms();
	int id[3];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, now + 30, on_timer_stop, (void *)30, &id[0]), 0);
	assert_int_equal(loop_timer_add(l, now + 10, on_timer, (void *)10, &id[1]), 0);
	assert_int_equal(loop_timer_add(l, now + 20, on_timer, (void *)20, &id[2]), 0);
	assert_true(id[0] > 0 && id[1] > 0 && id[2] > 0);
	assert_true(id[0] != id[1] && id[1] != id[2] && id[0] != id[2]);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 3);
	assert_int_equal(seen.order[0], 10);
	assert_int_equal(seen.order[1], 20);
	assert_int_equal(seen.order[2], 30);
	assert_true(loop_now_ms() >= now + 30);
}

static void test_timers_due_together_in_order(void **state)
{
	int64_t now = loop_now_ms();

	(void)state;
	memset(&seen, 0, sizeof(seen));
	/* All due by the time the loop looks: one pass, earliest first,
	 * whatever the order they were added in. Equal times: added first. */
	assert_int_equal(loop_timer_add(l, now - 10, on_timer_stop, (void *)4, NULL), 0);
	assert_int_equal(loop_timer_add(l, now - 30, on_timer, (void *)2, NULL), 0);
	assert_int_equal(loop_timer_add(l, now - 20, on_timer, (void *)3, NULL), 0);
	assert_int_equal(loop_timer_add(l, 0, on_timer, (void *)1, NULL), 0);
	assert_int_equal(loop_timer_add(l, now - 20, on_timer, (void *)33, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 5);
	assert_int_equal(seen.order[0], 1);
	assert_int_equal(seen.order[1], 2);
	assert_int_equal(seen.order[2], 3);
	assert_int_equal(seen.order[3], 33);
	assert_int_equal(seen.order[4], 4);
}

static void test_timer_past_fires_at_once(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, loop_now_ms() - 1000, on_timer_stop, (void *)1, NULL),
			 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 1);
	/* Time 0 (or below) as well. */
	assert_int_equal(loop_timer_add(l, 0, on_timer_stop, (void *)2, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(loop_timer_add(l, -5, on_timer_stop, (void *)3, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 3);
	assert_int_equal(seen.order[1], 2);
	assert_int_equal(seen.order[2], 3);
}

static void test_timer_cancel(void **state)
{
	int64_t now = loop_now_ms();
	int id = 0, id2 = 0;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, now + 10, on_timer, (void *)1, &id), 0);
	assert_int_equal(loop_timer_add(l, now + 20, on_timer_stop, (void *)2, &id2), 0);
	loop_timer_cancel(l, id);
	/* Unknown ids are ignored. */
	loop_timer_cancel(l, 0);
	loop_timer_cancel(l, -1);
	loop_timer_cancel(l, id2 + 1000);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 1);
	assert_int_equal(seen.order[0], 2);
	/* Fired or cancelled ids: ignored too. */
	loop_timer_cancel(l, id);
	loop_timer_cancel(l, id2);
	assert_int_equal(loop_timer_add(l, 0, on_timer_stop, (void *)3, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 2);
	assert_int_equal(seen.order[1], 3);
}

/* A timer that cancels another one due in the same pass. */
static int victim_id;

static void on_timer_cancel_victim(struct loop *lp, void *data)
{
	on_timer(lp, data);
	loop_timer_cancel(lp, victim_id);
}

static void test_timer_cancel_in_same_pass(void **state)
{
	int64_t now = loop_now_ms();

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, now - 10, on_timer, (void *)2, &victim_id), 0);
	assert_int_equal(loop_timer_add(l, now - 20, on_timer_cancel_victim, (void *)1, NULL), 0);
	assert_int_equal(loop_timer_add(l, now + 10, on_timer_stop, (void *)3, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 2);
	assert_int_equal(seen.order[0], 1);
	assert_int_equal(seen.order[1], 3);
}

/* A timer that adds another one, due at once. */
static void on_timer_add_next(struct loop *lp, void *data)
{
	on_timer(lp, data);
	assert_int_equal(loop_timer_add(lp, 0, on_timer_stop, (void *)2, NULL), 0);
}

static void test_timer_added_from_timer(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, 0, on_timer_add_next, (void *)1, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 2);
	assert_int_equal(seen.order[0], 1);
	assert_int_equal(seen.order[1], 2);
}

static void test_timer_stop_keeps_the_rest(void **state)
{
	int64_t now = loop_now_ms();

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, now - 20, on_timer_stop, (void *)1, NULL), 0);
	assert_int_equal(loop_timer_add(l, now - 10, on_timer_stop, (void *)2, NULL), 0);
	/* The first stops the loop; the second waits for the next run. */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 2);
	assert_int_equal(seen.order[1], 2);
}

static void test_timers_max(void **state)
{
	int ids[LOOP_TIMERS_MAX];
	int extra = -1;

	(void)state;
	for (int i = 0; i < LOOP_TIMERS_MAX; i++) {
		assert_int_equal(loop_timer_add(l, loop_now_ms() + 60000, on_timer, NULL, &ids[i]),
				 0);
		assert_true(ids[i] > 0);
		for (int j = 0; j < i; j++)
			assert_true(ids[i] != ids[j]);
	}
	assert_int_equal(loop_timer_add(l, 0, on_timer, NULL, &extra), -ENOSPC);
	assert_int_equal(extra, -1);
	/* Cancelling frees a slot. */
	loop_timer_cancel(l, ids[5]);
	assert_int_equal(loop_timer_add(l, loop_now_ms() + 60000, on_timer, NULL, NULL), 0);
	assert_int_equal(loop_timer_add(l, 0, on_timer, NULL, NULL), -ENOSPC);
}

/* A timer that makes a watched pipe readable. */
static int timer_pipe[2];

static void on_timer_write(struct loop *lp, void *data)
{
	on_timer(lp, data);
	assert_int_equal(write(timer_pipe[1], "x", 1), 1);
}

static void test_fd_and_timer(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pipe_nb(timer_pipe), 0);
	assert_int_equal(loop_add(l, timer_pipe[0], EPOLLIN, on_readable_stop, NULL), 0);
	assert_int_equal(loop_timer_add(l, loop_now_ms() + 10, on_timer_write, (void *)1, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 1);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.fd, timer_pipe[0]);
	loop_del(l, timer_pipe[0]);
	close(timer_pipe[0]);
	close(timer_pipe[1]);
}

/* A stop asked for before the run (a standalone hook whose drain ends
 * before the loop starts) returns at once, and is consumed: the next run
 * goes on until its own stop. */
static void test_stop_before_run(void **state)
{
	int64_t start;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(loop_timer_add(l, loop_now_ms() + 5000, on_timer, (void *)1, NULL), 0);
	loop_stop(l);
	start = loop_now_ms();
	assert_int_equal(loop_run(l), 0);
	assert_true(loop_now_ms() - start < 1000);
	assert_int_equal(seen.n_order, 0);
	assert_int_equal(loop_timer_add(l, loop_now_ms() + 10, on_timer_stop, (void *)2, NULL), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen.n_order, 1);
	assert_int_equal(seen.order[0], 2);
}

/* loop_new with its allocation failing: -ENOMEM, no fd left open. */
static void new_round(long n, void *data)
{
	struct loop *lp = NULL;
	int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC), r;

	(void)n;
	(void)data;
	close(lowest);
	r = loop_new(&lp);
	assert_int_equal(r, failalloc.failed ? -ENOMEM : 0);
	loop_free(lp);
	r = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(r);
	assert_int_equal(r, lowest);
}

static void test_new_alloc_fails(void **state)
{
	(void)state;
	if (failalloc_off())
		return;
	assert_true(failalloc_each(new_round, NULL) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_new_alloc_fails),
		cmocka_unit_test_setup_teardown(test_fd_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_mod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_pending_in_same_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_pending_in_same_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_in_due_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_due_together_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_past_fires_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_cancel_in_same_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_added_from_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_stop_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_and_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_before_run, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
