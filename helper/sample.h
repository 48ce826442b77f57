/* sample.h - the connection sampler: the serving ports (given, or found
 * among the listening sockets of the app's processes) and a sock_diag dump
 * of their established connections, compared with the last one.
 * It does the I/O and returns what it saw; the shell logs and decides.
 */
#ifndef LASTCALL_SAMPLE_H
#define LASTCALL_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "drain.h"

struct sample;

/* ports (n may be 0: found by sample_discover) are copied. 0 or -ENOMEM. */
int sample_new(const uint16_t *ports, size_t n, struct sample **ret);
/* Accepts NULL. */
void sample_free(struct sample *s);

/* Whether the ports are found rather than given. */
bool sample_discovers(const struct sample *s);
/*
 * Whether the network namespace's listening sockets changed since the
 * ports were last found (1), or not (0): one sock_diag dump, so that the
 * /proc scan behind sample_discover (every process's fds) runs only when
 * it could find something new. 1 when it cannot tell; 0 for given ports.
 */
int sample_listeners_changed(struct sample *s);
/*
 * Finds the serving ports: those pids listen on (pids NULL: every
 * listening socket of the network namespace). 1 when they changed, 0 when
 * not (or they were given), or a negative errno with the ports kept:
 * -EACCES (another user's /proc/PID/fd), -ESRCH (no pid: the app's tree
 * could not be read), -EMFILE and the like (out of descriptors): what
 * could not be seen is never taken for "no port".
 */
int sample_discover(struct sample *s, const pid_t *pids, size_t n);
/* The app is gone before the drain (adopted, to be found again): forget
 * the ports found and the last dump. */
void sample_forget(struct sample *s);
/* The serving ports now. */
size_t sample_ports(const struct sample *s, const uint16_t **ret);
/* "8080,8443", or "none". */
void sample_ports_text(const struct sample *s, char *buf, size_t size);

/*
 * Dumps the serving connections and compares them with the last dump:
 * 0 with *ret_conns and *ret_requests, the new connections and the
 * requests on known ones since the last dump (both 0 on the first).
 * -ENOENT when there is no port to watch (sample_stats says NULL then), or
 * the dump's negative errno (the last good counts stay).
 */
int sample_take(struct sample *s, int *ret_conns, int *ret_requests);
/* How many serving connections the last dump left out (more than
 * CONN_MAX): its counts are then a part, and the caller must not take
 * "nothing new" or "idle" from them. */
size_t sample_dropped(const struct sample *s);
/* Copies into out (up to cap) the connections of the last dump that were
 * idle (conn.h: conn_compare); returns how many. */
size_t sample_idle(const struct sample *s, struct conn *out, size_t cap);
/* The last good dump's counts, or NULL when there is none. */
const struct conn_stats *sample_stats(const struct sample *s);

/*
 * When to sample next, in ms from now, or -1 for never (from the stop
 * on the app's exit is watched, not its traffic). Fast while draining;
 * before, slow once the app is ready (only to notice new ports), and
 * until then fast, since readiness waits on it, backing off (*seek_ms
 * doubles up to SAMPLE_IDLE_MS) so an app that never listens costs no
 * /proc scan every sample_ms. Pure.
 */
int64_t sample_next_ms(enum drain_phase phase, bool app_ready, int64_t sample_ms, int64_t *seek_ms);

#endif
