/* loop.c - see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"

struct loop_fd {
	int fd;	      /* -1 when the slot is free */
	uint32_t gen; /* bumped on every reuse, checked on dispatch */
	loop_fd_fn *fn;
	void *data;
};

struct loop_timer {
	int id; /* 0 when the slot is free */
	int64_t due_ms;
	loop_timer_fn *fn;
	void *data;
};

struct loop {
	int epfd;
	int tfd;
	bool stop;
	int next_timer_id;
	struct loop_fd fds[LOOP_FDS_MAX];
	struct loop_timer timers[LOOP_TIMERS_MAX];
};

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int loop_new(struct loop **ret_loop)
{
	struct loop *l;
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->tfd = -1;
	for (size_t i = 0; i < LOOP_FDS_MAX; i++)
		l->fds[i].fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		goto fail;
	/* The timerfd is marked by a data value no fd slot can have. */
	ev.data.u64 = UINT64_MAX;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0)
		goto fail;
	*ret_loop = l;
	return 0;
fail:
	r = -errno;
	loop_free(l);
	return r;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

static struct loop_fd *find_fd(struct loop *l, int fd)
{
	for (size_t i = 0; i < LOOP_FDS_MAX; i++) {
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	}
	return NULL;
}

static uint64_t fd_key(struct loop *l, struct loop_fd *s)
{
	return ((uint64_t)s->gen << 32) | (uint64_t)(s - l->fds);
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *data)
{
	struct loop_fd *s;
	struct epoll_event ev = { .events = events };

	if (fd < 0)
		return -EBADF;
	if (find_fd(l, fd))
		return -EEXIST;
	s = find_fd(l, -1);
	if (!s)
		return -ENOSPC;
	s->gen++;
	ev.data.u64 = fd_key(l, s);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->fd = fd;
	s->fn = fn;
	s->data = data;
	return 0;
}

int loop_mod(struct loop *l, int fd, uint32_t events)
{
	struct loop_fd *s = find_fd(l, fd);
	struct epoll_event ev = { .events = events };

	if (!s || fd < 0)
		return -ENOENT;
	ev.data.u64 = fd_key(l, s);
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void loop_del(struct loop *l, int fd)
{
	struct loop_fd *s = find_fd(l, fd);

	if (!s || fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->fd = -1;
	s->gen++;
}

/* Arms the timerfd for the earliest timer, or disarms it. */
static void timers_arm(struct loop *l)
{
	struct itimerspec its;
	bool any = false;
	int64_t first = 0;

	memset(&its, 0, sizeof(its));
	/* Not a -1 sentinel: due times may be negative (in the past) too. */
	for (size_t i = 0; i < LOOP_TIMERS_MAX; i++) {
		if (l->timers[i].id && (!any || l->timers[i].due_ms < first)) {
			first = l->timers[i].due_ms;
			any = true;
		}
	}
	if (any) {
		/* 0 would disarm: a due time in the past fires at once. */
		if (first <= 0)
			first = 1;
		its.it_value.tv_sec = first / 1000;
		its.it_value.tv_nsec = (first % 1000) * 1000000;
	}
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int loop_timer_add(struct loop *l, int64_t due_ms, loop_timer_fn *fn, void *data, int *ret_id)
{
	for (size_t i = 0; i < LOOP_TIMERS_MAX; i++) {
		struct loop_timer *t = &l->timers[i];
		if (t->id)
			continue;
		if (++l->next_timer_id <= 0)
			l->next_timer_id = 1;
		t->id = l->next_timer_id;
		t->due_ms = due_ms;
		t->fn = fn;
		t->data = data;
		timers_arm(l);
		if (ret_id)
			*ret_id = t->id;
		return 0;
	}
	return -ENOSPC;
}

void loop_timer_cancel(struct loop *l, int id)
{
	if (id <= 0)
		return;
	for (size_t i = 0; i < LOOP_TIMERS_MAX; i++) {
		if (l->timers[i].id == id) {
			l->timers[i].id = 0;
			timers_arm(l);
			return;
		}
	}
}

static struct loop_timer *find_timer(struct loop *l, int id)
{
	for (size_t i = 0; i < LOOP_TIMERS_MAX; i++) {
		if (id > 0 && l->timers[i].id == id)
			return &l->timers[i];
	}
	return NULL;
}

/*
 * Fires every due timer, earliest first (equal times: the first added), as
 * several may be due at once when the loop was late. Each may add or cancel
 * timers: one cancelled by an earlier callback does not fire, one added by
 * a callback waits for the next pass.
 */
static void timers_fire(struct loop *l)
{
	uint64_t expirations;
	int64_t now = loop_now_ms();
	int due[LOOP_TIMERS_MAX];
	size_t n_due = 0;

	while (read(l->tfd, &expirations, sizeof(expirations)) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < LOOP_TIMERS_MAX; i++) {
		if (l->timers[i].id && l->timers[i].due_ms <= now)
			due[n_due++] = l->timers[i].id;
	}
	while (!l->stop) {
		struct loop_timer *next = NULL;

		for (size_t k = 0; k < n_due; k++) {
			struct loop_timer *c = find_timer(l, due[k]);
			if (c && (!next || c->due_ms < next->due_ms ||
				  (c->due_ms == next->due_ms && c->id < next->id)))
				next = c;
		}
		if (!next)
			break;
		struct loop_timer t = *next;
		next->id = 0;
		t.fn(l, t.data);
	}
	timers_arm(l);
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_EVENTS_BATCH];

	/* A stop asked for before the run (a callback ran by hand, say the
	 * drain that a standalone hook starts and ends at once) is honoured:
	 * the stop is consumed when the run ends, not when it begins. */
	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, LOOP_EVENTS_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			l->stop = false;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			uint64_t key = evs[i].data.u64;
			if (key == UINT64_MAX) {
				timers_fire(l);
				continue;
			}
			struct loop_fd *s = &l->fds[key & 0xffffffffu];
			/* Removed or replaced by an earlier callback of this pass. */
			if (s->fd < 0 || s->gen != (uint32_t)(key >> 32))
				continue;
			s->fn(l, s->fd, evs[i].events, s->data);
		}
	}
	l->stop = false;
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
