/* loop.h - a small epoll event loop with timers on one timerfd.
 *
 * Shaped like redis' ae: register fds with a callback, add timers at
 * absolute CLOCK_MONOTONIC milliseconds, run until loop_stop(). Callbacks
 * may add and remove registrations freely, including ones whose events are
 * pending in the same pass: those are skipped.
 */
#ifndef LASTCALL_LOOP_H
#define LASTCALL_LOOP_H

#include <stdint.h>

struct loop;

typedef void loop_fd_fn(struct loop *l, int fd, uint32_t events, void *data);
typedef void loop_timer_fn(struct loop *l, void *data);

int loop_new(struct loop **ret_loop);
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN...). -EEXIST, -ENOSPC or epoll's errno. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *data);
int loop_mod(struct loop *l, int fd, uint32_t events);
void loop_del(struct loop *l, int fd);

/* Calls fn once at CLOCK_MONOTONIC time due_ms. Returns a timer id > 0 in
 * *ret_id (may be NULL), or -ENOSPC. */
int loop_timer_add(struct loop *l, int64_t due_ms, loop_timer_fn *fn, void *data, int *ret_id);
/* Cancels a timer; ids of fired or cancelled timers are ignored. */
void loop_timer_cancel(struct loop *l, int id);

/* Runs until loop_stop(), at once when it was called before the run (the
 * stop is consumed as the run ends). Returns 0, or a negative errno when
 * epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t loop_now_ms(void);

#endif
