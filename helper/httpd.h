/* httpd.h - the probe and control endpoints, libmicrohttpd inside our loop.
 *
 * TCP (--listen), read-only: GET /readyz /livez /status /metrics.
 * Unix socket (--control, mode 0600): the same, plus POST /drain and
 * GET /wait?phase=NAME&timeout=DURATION (long-poll until the phase).
 * Malformed, oversized or unknown requests get a 4xx; connections are
 * capped; nothing a client sends can stop the supervisor.
 */
#ifndef LASTCALL_HTTPD_H
#define LASTCALL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct httpd;

/* What the endpoints ask of their owner. Bodies are written into buf. */
struct httpd_ops {
	bool (*ready)(void *data);
	size_t (*status)(void *data, char *buf, size_t size);
	size_t (*metrics)(void *data, char *buf, size_t size);
	void (*drain)(void *data, const char *origin);
	int (*phase)(void *data);	/* enum drain_phase */
};

/*
 * Starts the endpoints: listen is "HOST:PORT" (NULL: none), control a Unix
 * socket path (NULL: none). A control path where another live instance
 * answers is an error (-EADDRINUSE); a stale socket file is replaced.
 * Errors: a negative errno, with a reason in err.
 */
int httpd_new(struct loop *l, const char *listen, const char *control,
	      const struct httpd_ops *ops, void *data, struct httpd **ret,
	      char *err, size_t errlen);
/* Stops the endpoints and removes the control socket file. NULL is fine. */
void httpd_free(struct httpd *h);
/* The phase changed: answers the /wait requests it satisfies. */
void httpd_notify(struct httpd *h);
/* The TCP port actually bound (for --listen with port 0), or 0. */
int httpd_port(const struct httpd *h);

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a sockaddr. Pure. */
struct sockaddr_storage;
int httpd_parse_addr(const char *s, struct sockaddr_storage *ret, size_t *ret_len);

#endif
