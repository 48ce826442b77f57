/* client.h - one blocking HTTP call to a lastcall instance, for the client
 * subcommands (prestop, probe), and the abstract socket name that both
 * sides of the control socket compute. */
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
 * http://HOST:PORT when sock starts with "http://". When nothing is at
 * the path (or nothing listens there), the abstract socket of the
 * caller's mount namespace is tried before giving up: an instance whose
 * --control path could not be bound (a read-only root filesystem) listens
 * there. Returns 0 when an answer came (any status); -ENOENT or
 * -ECONNREFUSED when no instance is there; -ETIMEDOUT; another negative
 * errno when the socket is there but cannot be reached (-EACCES...), or
 * -EIO; each with a one-line reason in err.
 */
int client_call(const char *sock, const char *method, const char *path, int64_t timeout_ms,
		struct client_reply *ret, char *err, size_t errlen);

/*
 * The abstract Unix socket name of the caller's container, without the
 * leading NUL byte: "lastcall-INODE", the inode of its mount namespace
 * (/proc/self/ns/mnt). Every container of a pod has a mount namespace of
 * its own but shares the network namespace, where abstract names live, so
 * two containers never collide, and an exec hook or probe, which runs in
 * the container's mount namespace, finds its own instance. The one place
 * this name is made (httpd.c binds it). -errno when /proc cannot tell,
 * -ENAMETOOLONG when size is too small.
 */
int client_abstract_name(char *buf, size_t size);

/* The phase and ms_since_t0 of a /status body. -EINVAL when it is not
 * one (phase left "", ms -1). Pure. */
int client_status_parse(const char *json, size_t len, char *phase, size_t size, long long *ret_ms);

#endif
