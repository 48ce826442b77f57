/* client.h - one blocking HTTP call to a lastcall instance, for the client
 * subcommands (prestop, probe). It runs fetch.c in a loop of its own, so
 * it has the same timeouts, caps and no-proxy rule as the supervisor. */
#ifndef LASTCALL_CLIENT_H
#define LASTCALL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

struct client_reply {
	long status; /* 0: no answer (see err) */
	char body[FETCH_BODY_MAX + 1];
	size_t len;
};

/*
 * method PATH on the control socket sock (a Unix socket path), or on
 * http://HOST:PORT when sock starts with "http://". Returns 0 when an
 * answer came (any status), -ECONNREFUSED/-ENOENT when nothing listens
 * there, -ETIMEDOUT, or -EIO, with a one-line reason in err.
 */
int client_call(const char *sock, const char *method, const char *path, int64_t timeout_ms,
		struct client_reply *ret, char *err, size_t errlen);

/* The phase and ms_since_t0 of a /status body. -EINVAL when it is not
 * one (phase left "", ms -1). Pure. */
int client_status_parse(const char *json, size_t len, char *phase, size_t size, long long *ret_ms);

#endif
