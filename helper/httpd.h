/* httpd.h - the probe and control endpoints, libmicrohttpd inside our loop.
 *
 * TCP (--listen), read-only: GET /readyz /livez /status /metrics, and
 * GET /prestop (start the drain, answer once drained) from 127.0.0.1, ::1
 * and the --allow-from addresses only: the kubelet's preStop httpGet comes
 * from the node, and anyone else who can reach the pod must not be able
 * to take it out of rotation. Not the rest of 127.0.0.0/8: Istio's sidecar
 * (default redirect mode) hands every inbound mesh connection to the pod's
 * ports from 127.0.0.6 (istio/istio#29603).
 * Unix socket (--control, mode 0600, and only for our own user or root,
 * checked with SO_PEERCRED): the same, plus POST /drain and
 * GET /wait?phase=NAME&timeout=DURATION (long-poll until the phase).
 * When the --control path cannot be bound (a read-only root filesystem),
 * the socket falls back to the abstract name of the container's mount
 * namespace (client_abstract_name), open only to callers in that mount
 * namespace.
 * Malformed, oversized or unknown requests get a 4xx; connections are
 * capped; nothing a client sends can stop the supervisor.
 */
#ifndef LASTCALL_HTTPD_H
#define LASTCALL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "limits.h"

struct loop;
struct httpd;

/* Addresses allowed to change state over TCP, besides loopback. */
struct httpd_acl {
	struct httpd_net {
		sa_family_t family;
		uint8_t addr[16];
		uint8_t prefix; /* bits */
	} v[HTTPD_ALLOW_MAX];
	size_t n;
};

/* Adds "10.0.0.5", "10.0.0.0/8", "fd00::1" or "fd00::/8". -EINVAL with a
 * reason in err, -ENOSPC past HTTPD_ALLOW_MAX. Pure. */
int httpd_acl_add(struct httpd_acl *acl, const char *spec, char *err, size_t errlen);
/* 127.0.0.1, ::1, ::ffff:127.0.0.1 or an entry of acl (may be NULL); the
 * rest of 127.0.0.0/8 only through acl (see above). Pure. */
bool httpd_acl_allows(const struct httpd_acl *acl, const struct sockaddr *sa);

/* What the endpoints ask of their owner. Bodies are written into buf. */
struct httpd_ops {
	bool (*ready)(void *data);
	size_t (*status)(void *data, char *buf, size_t size);
	size_t (*metrics)(void *data, char *buf, size_t size);
	void (*drain)(void *data, const char *origin);
	int (*phase)(void *data); /* enum drain_phase */
};

/*
 * Starts the endpoints: listen is "HOST:PORT" (NULL: none), control a Unix
 * socket path (NULL: none). A control path where another live instance
 * answers is an error (-EADDRINUSE); a stale socket file is replaced. A
 * control path that cannot be bound (EROFS, EACCES, a missing directory)
 * is not an error: the socket takes the abstract name instead, and
 * httpd_control_fallback says so; only when that name is taken too
 * (another lastcall in this container) is it one.
 * Errors: a negative errno, with a reason in err.
 */
int httpd_new(struct loop *l, const char *listen, const char *control,
	      const struct httpd_acl *allow, const struct httpd_ops *ops, void *data,
	      struct httpd **ret, char *err, size_t errlen);
/* Answers every request still waiting (200 when its phase was reached,
 * else 503), stops the endpoints and removes the control socket file.
 * NULL is fine. */
void httpd_free(struct httpd *h);
/* The phase changed: the /wait requests it satisfies are answered from
 * the loop, never from inside this call (it may come from a handler of
 * ours, through ops->drain, and libmicrohttpd must not be re-entered). */
void httpd_notify(struct httpd *h);
/* The TCP port actually bound (for --listen with port 0), or 0. */
int httpd_port(const struct httpd *h);
/* Where the control socket listens: its path, or "@NAME" for the abstract
 * fallback; NULL without one. */
const char *httpd_control_name(const struct httpd *h);
/* 0, or the negative errno with which binding the --control path failed
 * when the abstract name was taken instead. The caller warns with the fix:
 * a writable volume (emptyDir) at the socket's directory, or --control. */
int httpd_control_fallback(const struct httpd *h);

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a sockaddr. Pure. */
int httpd_parse_addr(const char *s, struct sockaddr_storage *ret, size_t *ret_len);

#endif
