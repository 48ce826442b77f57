/* httpd.h - the probe and control endpoints, libmicrohttpd inside our loop.
 *
 * TCP (--listen), read-only: GET /readyz /livez /status /metrics, and
 * GET /prestop (start the drain, answer once drained) from loopback and
 * the --allow-from addresses only: the kubelet's preStop httpGet comes
 * from the node, and anyone else who can reach the pod must not be able
 * to take it out of rotation.
 * Unix socket (--control, mode 0600): the same, plus POST /drain and
 * GET /wait?phase=NAME&timeout=DURATION (long-poll until the phase).
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
/* Loopback (127.0.0.0/8, ::1, and their v4-mapped forms) or an entry of
 * acl (may be NULL). Pure. */
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
 * answers is an error (-EADDRINUSE); a stale socket file is replaced.
 * Errors: a negative errno, with a reason in err.
 */
int httpd_new(struct loop *l, const char *listen, const char *control,
	      const struct httpd_acl *allow, const struct httpd_ops *ops, void *data,
	      struct httpd **ret, char *err, size_t errlen);
/* Stops the endpoints and removes the control socket file. NULL is fine. */
void httpd_free(struct httpd *h);
/* The phase changed: answers the /wait requests it satisfies. */
void httpd_notify(struct httpd *h);
/* The TCP port actually bound (for --listen with port 0), or 0. */
int httpd_port(const struct httpd *h);

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a sockaddr. Pure. */
int httpd_parse_addr(const char *s, struct sockaddr_storage *ret, size_t *ret_len);

#endif
