/* httpd.c - see httpd.h. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "client.h"
#include "drain.h"
#include "limits.h"
#include "log.h"
#include "loop.h"

struct gate;

struct server {
	struct httpd *h;
	struct MHD_Daemon *d;
	int epfd;
	int timer;
	bool control;
	struct gate *gate; /* accepts, holds each request head until whole */
};

/* Per-request state, allocated on the first call of the handler. A long
 * poll (/wait, /prestop) is parked: suspended, in the waiter table until
 * it is woken, then answered by the handler's next call; it counts in
 * httpd.parked from parking until libmicrohttpd is done with it. */
struct req {
	size_t body;
	const char *refusal; /* 403 text: a control-socket caller we do not serve */
	enum { REQ_NEW, REQ_PARKED, REQ_WOKEN, REQ_ANSWERED } state;
	enum { WAKE_PHASE, WAKE_GONE, WAKE_CLOSING } wake;
	struct MHD_Connection *conn;
	int target; /* enum drain_phase */
	int64_t deadline;
};

struct httpd {
	struct loop *loop;
	struct httpd_acl allow;
	const struct httpd_ops *ops;
	void *data;
	struct server tcp, unix_;
	char control_path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" when abstract */
	char control_name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	int control_fallback; /* the path's negative errno when abstract */
	char mntns[64];	      /* readlink of /proc/self/ns/mnt, when abstract */
	uid_t euid;
	int port;
	struct req *waiters[HTTPD_WAITERS_MAX]; /* NULL: a free slot */
	size_t parked;
	bool notified; /* the phase changed: wake the waiters from the loop */
	bool closing;  /* httpd_free: answer everyone, park no one */
	int wait_timer;
};

int httpd_parse_addr(const char *s, struct sockaddr_storage *ret, size_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	char *end;
	long port;

	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (host[0] == '\0')
		strcpy(host, "0.0.0.0");
	struct sockaddr_in *in4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

int httpd_acl_add(struct httpd_acl *acl, const char *spec, char *err, size_t errlen)
{
	struct httpd_net net = { 0 };
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(spec, '/');
	size_t hlen = slash ? (size_t)(slash - spec) : strlen(spec);
	long prefix = -1;
	int max;

	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, net.addr) == 1) {
		net.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, net.addr) == 1) {
		net.family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	if (slash) {
		char *end;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix < 0 || prefix > max)
			goto bad;
	}
	net.prefix = (uint8_t)(prefix < 0 ? max : prefix);
	if (acl->n >= HTTPD_ALLOW_MAX) {
		snprintf(err, errlen, "at most %d addresses", HTTPD_ALLOW_MAX);
		return -ENOSPC;
	}
	acl->v[acl->n++] = net;
	return 0;
bad:
	snprintf(err, errlen,
		 "expected an IP address or ADDRESS/PREFIX (10.0.0.5, 10.0.0.0/8, fd00::/8)");
	return -EINVAL;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool httpd_acl_allows(const struct httpd_acl *acl, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	uint8_t a[16];
	sa_family_t fam = sa->sa_family;

	if (fam == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (fam == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		if (memcmp(a, lo6, 16) == 0)
			return true;
		/* ::ffff:a.b.c.d (a v4 client on a dual-stack socket) is v4. */
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			fam = AF_INET;
		}
	} else {
		return false;
	}
	/* 127.0.0.1 only: a mesh sidecar relays everyone from other loopback
	 * addresses (Istio: 127.0.0.6, istio/istio#29603). */
	if (fam == AF_INET && memcmp(a, lo4, 4) == 0)
		return true;
	for (size_t i = 0; acl && i < acl->n; i++) {
		if (acl->v[i].family == fam && prefix_match(a, acl->v[i].addr, acl->v[i].prefix))
			return true;
	}
	return false;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       const char *body, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	/* TCP: one request per connection. Only a whole request head gets
	 * past the gate (below), and a kept-alive connection would let the
	 * next one trickle in libmicrohttpd, whose timeout restarts on every
	 * byte. Probes (the kubelet's, a load balancer's) open a connection
	 * per request anyway. The control socket keeps its connections: only
	 * lastcall's own user reaches it. */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family != AF_UNIX)
		MHD_add_response_header(r, "Connection", "close");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return respond(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static enum MHD_Result respond_status(struct httpd *h, struct MHD_Connection *c, unsigned code)
{
	char buf[HTTPD_BODY_OUT_MAX];
	size_t n = h->ops->status(h->data, buf, sizeof(buf));

	return respond(c, code, "application/json", buf, n);
}

/* ---- who may use the control socket ---- */

/*
 * Why a caller on the control socket is refused, or NULL. Its file is
 * 0600, but a chmod, or a directory shared with another user, must not let
 * another user in: SO_PEERCRED says who connected (root may, as it can
 * anyway). The abstract fallback has no file at all and is shared by every
 * container of the pod (one network namespace): only a process in our own
 * mount namespace, as a preStop exec hook or an exec probe in this
 * container is, may use it. SO_PEERCRED's pid is 0 when the peer is not in
 * our PID namespace, which refuses it too.
 */
static const char *peer_refusal(const struct httpd *h, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char path[64], link[sizeof(h->mntns)];
	ssize_t n;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return "cannot tell who is calling\n";
	if (cred.uid != 0 && cred.uid != h->euid)
		return "the control socket is for lastcall's own user only\n";
	if (!h->mntns[0])
		return NULL;
	if (cred.pid <= 0)
		return "only from this container (its mount namespace)\n";
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)cred.pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return "only from this container (its mount namespace)\n";
	link[n] = '\0';
	if (strcmp(link, h->mntns) != 0)
		return "only from this container (its mount namespace)\n";
	return NULL;
}

/* ---- long polls ---- */

static void server_run(struct server *s);

/* True when the client of a parked request has closed or reset its end:
 * a suspended connection is not read by libmicrohttpd, so nobody else
 * would notice, and the slot would stay taken until its deadline (a day,
 * for /prestop). Data waiting is a live client (a pipelined request). */
static bool peer_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	char byte;
	ssize_t n;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	n = recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Takes waiter i out of the table and resumes its connection: the
 * handler's next call answers it. The slot is free at once. Resuming is
 * safe from anywhere, a handler included; running MHD is not. */
static void waiter_wake(struct httpd *h, size_t i, int why)
{
	struct req *rq = h->waiters[i];

	h->waiters[i] = NULL;
	rq->state = REQ_WOKEN;
	rq->wake = why;
	MHD_resume_connection(rq->conn);
}

/* Frees the slots of waiters whose client went away. Returns how many. */
static size_t waiters_reap(struct httpd *h)
{
	size_t n = 0;

	for (size_t i = 0; i < HTTPD_WAITERS_MAX; i++) {
		if (h->waiters[i] && peer_gone(h->waiters[i]->conn)) {
			waiter_wake(h, i, WAKE_GONE);
			n++;
		}
	}
	return n;
}

static void on_wait_timer(struct loop *l, void *data);

/* One timer: at once after a phase change, else at the first deadline,
 * and at least every HTTPD_WAITER_CHECK_MS while anyone waits, to notice
 * clients that went away. */
static void waiters_arm(struct httpd *h)
{
	int64_t now = loop_now_ms(), due = -1;

	loop_timer_cancel(h->loop, h->wait_timer);
	h->wait_timer = 0;
	for (size_t i = 0; i < HTTPD_WAITERS_MAX; i++) {
		if (h->waiters[i] && (due < 0 || h->waiters[i]->deadline < due))
			due = h->waiters[i]->deadline;
	}
	if (due >= 0 && due > now + HTTPD_WAITER_CHECK_MS)
		due = now + HTTPD_WAITER_CHECK_MS;
	if (h->notified)
		due = now;
	if (due >= 0)
		loop_timer_add(h->loop, due, on_wait_timer, h, &h->wait_timer);
}

/* From the loop only: wakes the waiters whose phase is reached or whose
 * deadline passed, and those whose client left, then lets libmicrohttpd
 * answer them at once (the phase may be the last one before we exit): the
 * first run calls their handlers, the second writes. */
static void on_wait_timer(struct loop *l, void *data)
{
	struct httpd *h = data;
	int phase = h->ops->phase(h->data);
	int64_t now = loop_now_ms();
	size_t woken = waiters_reap(h);

	(void)l;
	h->wait_timer = 0;
	h->notified = false;
	for (size_t i = 0; i < HTTPD_WAITERS_MAX; i++) {
		struct req *rq = h->waiters[i];
		if (rq && (phase >= rq->target || rq->deadline <= now)) {
			waiter_wake(h, i, WAKE_PHASE);
			woken++;
		}
	}
	waiters_arm(h);
	for (int i = 0; woken && i < 2; i++) {
		if (h->unix_.d)
			server_run(&h->unix_);
		if (h->tcp.d)
			server_run(&h->tcp);
	}
}

void httpd_notify(struct httpd *h)
{
	if (!h)
		return;
	h->notified = true;
	waiters_arm(h);
}

/* Answers with the status once the phase is target (200) or after
 * timeout_ms (408), holding the request suspended meanwhile. */
static enum MHD_Result wait_phase(struct httpd *h, struct MHD_Connection *c, struct req *rq,
				  enum drain_phase target, int64_t timeout_ms)
{
	if (h->ops->phase(h->data) >= (int)target)
		return respond_status(h, c, MHD_HTTP_OK);
	if (h->closing)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < HTTPD_WAITERS_MAX; i++) {
			if (h->waiters[i])
				continue;
			rq->state = REQ_PARKED;
			rq->conn = c;
			rq->target = (int)target;
			rq->deadline = loop_now_ms() + timeout_ms;
			h->waiters[i] = rq;
			h->parked++;
			MHD_suspend_connection(c);
			waiters_arm(h);
			return MHD_YES;
		}
		/* Full: callers that gave up may still hold slots. */
		if (!waiters_reap(h))
			break;
	}
	return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many waiters\n");
}

/* A parked request woke: its phase, its timeout, its client gone, or we
 * are exiting. */
static enum MHD_Result wait_done(struct httpd *h, struct MHD_Connection *c, struct req *rq)
{
	bool reached = h->ops->phase(h->data) >= rq->target;

	rq->state = REQ_ANSWERED;
	if (rq->wake == WAKE_GONE)
		return MHD_NO; /* close it */
	if (reached)
		return respond_status(h, c, MHD_HTTP_OK);
	if (rq->wake == WAKE_CLOSING)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
	return respond_status(h, c, MHD_HTTP_REQUEST_TIMEOUT);
}

/* GET /wait?phase=NAME&timeout=DURATION on the control socket. */
static enum MHD_Result handle_wait(struct httpd *h, struct MHD_Connection *c, struct req *rq)
{
	const char *ps = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "phase");
	const char *ts = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeout");
	enum drain_phase target;
	int64_t timeout_ms = HTTPD_WAIT_DEFAULT_MS;

	if (!ps || drain_phase_parse(ps, &target) < 0)
		return respond_text(c, MHD_HTTP_BAD_REQUEST,
				    "phase must be one of serving, unready, propagate, "
				    "drain, drained, stop, kill, done\n");
	if (ts && cfg_parse_duration(ts, &timeout_ms) < 0)
		return respond_text(c, MHD_HTTP_BAD_REQUEST,
				    "timeout must be a duration like 30s\n");
	return wait_phase(h, c, rq, target, timeout_ms);
}

/* GET /prestop: the kubelet's preStop httpGet. Starts the drain and holds
 * the answer until drained: the kubelet sends the stop signal only when
 * the hook returns. No timeout of ours: the drain engine reaches "drained"
 * within its budget, or the app is gone. */
static enum MHD_Result handle_prestop(struct httpd *h, struct server *s, struct MHD_Connection *c,
				      struct req *rq)
{
	const union MHD_ConnectionInfo *ci;

	if (!s->control) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (!ci || !ci->client_addr || !httpd_acl_allows(&h->allow, ci->client_addr))
			return respond_text(c, MHD_HTTP_FORBIDDEN,
					    "/prestop only from 127.0.0.1, ::1 and --allow-from\n");
	}
	h->ops->drain(h->data, s->control ? "prestop:control" : "prestop:http");
	if (h->ops->phase(h->data) == DRAIN_SERVING)
		return respond_text(c, MHD_HTTP_CONFLICT, "the drain is off (--drain-on none)\n");
	return wait_phase(h, c, rq, DRAIN_STOP, DURATION_MAX_MS);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct httpd *h = s->h;
	struct req *rq = *con_cls;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;

	(void)version;
	(void)upload;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		if (s->control) {
			/* POST /drain may come with a body: counted below. */
			rq->refusal = peer_refusal(h, c);
			return MHD_YES;
		}
		/* TCP: answered now, on the head alone. No endpoint there
		 * reads a body, and waiting for one would let it trickle
		 * (libmicrohttpd then closes rather than read it). */
	}
	if (*upload_size) {
		/* Bodies are not used: count and drop them, within a cap. */
		rq->body += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->state == REQ_WOKEN)
		return wait_done(h, c, rq);
	if (rq->refusal)
		return respond_text(c, MHD_HTTP_FORBIDDEN, rq->refusal);
	if (rq->body > HTTPD_BODY_IN_MAX)
		return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
	if (h->closing)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");

	if (strcmp(url, "/livez") == 0 || strcmp(url, "/readyz") == 0 ||
	    strcmp(url, "/status") == 0 || strcmp(url, "/metrics") == 0) {
		if (!get)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
		if (url[1] == 'l')
			return respond_text(c, MHD_HTTP_OK, "ok\n");
		if (url[1] == 'r') {
			bool ready = h->ops->ready(h->data);
			return respond_text(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
					    ready ? "ready\n" : "not ready\n");
		}
		if (url[1] == 's')
			return respond_status(h, c, MHD_HTTP_OK);
		char buf[HTTPD_BODY_OUT_MAX];
		size_t n = h->ops->metrics(h->data, buf, sizeof(buf));
		return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, n);
	}
	if (strcmp(url, "/prestop") == 0) {
		if (!get && !post)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
		return handle_prestop(h, s, c, rq);
	}
	if (strcmp(url, "/drain") == 0 || strcmp(url, "/wait") == 0) {
		/* State changes only through the 0600 control socket. */
		if (!s->control)
			return respond_text(c, MHD_HTTP_FORBIDDEN, "only on the control socket\n");
		if (url[1] == 'd') {
			if (!post)
				return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
			/* A hook that waits past the stop (prestop --until done)
			 * must not have the stop held for the kubelet's signal,
			 * which only comes once it returns. */
			const char *until =
				MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until");
			enum drain_phase p = DRAIN_STOP;

			if (until && drain_phase_parse(until, &p) < 0)
				return respond_text(c, MHD_HTTP_BAD_REQUEST, "bad until phase\n");
			h->ops->drain(h->data, p > DRAIN_STOP ? "control:until-exit" : "control");
			if (h->ops->phase(h->data) == DRAIN_SERVING)
				return respond_text(c, MHD_HTTP_CONFLICT,
						    "the drain is off (--drain-on none)\n");
			return respond_status(h, c, MHD_HTTP_ACCEPTED);
		}
		if (!get)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
		return handle_wait(h, c, rq);
	}
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* libmicrohttpd is done with a request: answered, or its connection
 * closed. A parked one is only counted out here, once its answer is sent. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode code)
{
	struct server *s = cls;
	struct httpd *h = s->h;
	struct req *rq = *con_cls;

	(void)c;
	(void)code;
	if (!rq)
		return;
	for (size_t i = 0; rq->state == REQ_PARKED && i < HTTPD_WAITERS_MAX; i++) {
		if (h->waiters[i] == rq)
			h->waiters[i] = NULL;
	}
	if (rq->state != REQ_NEW)
		h->parked--;
	free(rq);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("httpd", "msg=%s", msg);
}

/* ---- the gate: libmicrohttpd sees whole request heads only ----
 *
 * libmicrohttpd keeps a connection while its request arrives, restarting
 * its timeout on every byte, and refuses new ones at its limits: a few
 * clients leaving requests half-sent (or sending a byte every few
 * seconds) held every place, and the kubelet's probes were refused. So
 * the listening sockets are ours: a connection waits here, in a fixed
 * table (HTTPD_CONN_MAX, HTTPD_CONN_PER_IP_MAX per address), until its
 * request line and headers have all arrived, read with MSG_PEEK so that
 * libmicrohttpd, given the socket then (MHD_add_connection), reads them
 * itself. A head must be whole within HTTPD_HEAD_TIMEOUT_MS of the
 * accept, whatever it trickles (408), and a new connection takes the
 * place of the oldest waiting one when the table is full: a probe sends
 * its request at once, so it passes through while what waits is what has
 * been half-sent longest. Accepting ourselves also keeps libmicrohttpd's
 * accept out of the way when we are out of descriptors (it busy-waits
 * when that happens with no connection open). The cost per server: the
 * table (3 KiB) and a descriptor per waiting connection, plus an 8 KiB
 * buffer on the stack while looking; libmicrohttpd's 16 KiB per
 * connection is spent on whole requests only, answered at once.
 */

/* A connection whose request head has not all arrived. */
struct pending {
	int fd; /* -1: a free slot */
	uint32_t gen;
	int64_t since; /* accepted, ms */
	socklen_t alen;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
};

struct gate {
	int epfd; /* the listening socket and the waiting connections */
	int lfd;
	int64_t paused_until; /* -1: accepting */
	uint32_t gen;	      /* tells a slot's new connection from its last */
	struct pending p[HTTPD_CONN_MAX];
};

/* epoll data of the listening socket; a waiting connection's is its slot
 * and generation. */
#define GATE_LISTENER UINT64_MAX

enum head { HEAD_MORE, HEAD_DONE, HEAD_BAD, HEAD_TOO_BIG };

/* RFC 9110 5.6.2's token characters. */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Past the LF of the line at off, or 0 while it has not all arrived. */
static size_t line_end(const char *b, size_t len, size_t off)
{
	const char *lf = memchr(b + off, '\n', len - off);

	return lf ? (size_t)(lf - b) + 1 : 0;
}

static bool line_empty(const char *b, size_t off, size_t end)
{
	return end - off == 1 || (end - off == 2 && b[off] == '\r');
}

/* "METHOD SP TARGET SP HTTP/d.d" (then CRLF or LF), the method a token of
 * mlen bytes already checked. */
static bool request_line_ok(const char *line, size_t len, size_t mlen)
{
	const char *v;

	len -= line[len - 1] == '\n';
	len -= len > 0 && line[len - 1] == '\r';
	if (len < mlen + 2 + 9)
		return false;
	v = line + len - 9;
	return v[0] == ' ' && memcmp(v + 1, "HTTP/", 5) == 0 && v[6] >= '0' && v[6] <= '9' &&
	       v[7] == '.' && v[8] >= '0' && v[8] <= '9';
}

/*
 * What the first len bytes of a connection say, read as libmicrohttpd
 * reads them (lines end at LF, a CR before it dropped; empty lines before
 * the request line skipped): HEAD_DONE once the request line and the
 * headers are in, up to the empty line; HEAD_BAD when the request line is
 * no "METHOD SP TARGET SP HTTP/d.d" with a token for the method, told at
 * the first byte that gives it away (TLS, a port scanner's junk);
 * HEAD_TOO_BIG when max bytes hold no whole head; else HEAD_MORE.
 * A line with no SP at all is why this checks the request line:
 * libmicrohttpd (0.9.75, parse_initial_message_line) closes on it without
 * an answer, where the client deserves a 400. Other defects (a bad
 * version, a bad header line) pass: libmicrohttpd answers them. Pure.
 */
static enum head head_scan(const char *b, size_t len, size_t max)
{
	size_t off = 0, end, m;

	while ((end = line_end(b, len, off)) && line_empty(b, off, end))
		off = end;
	if (off + 1 == len && b[off] == '\r')
		return HEAD_MORE; /* the CR of another empty line */
	for (m = off; m < len && tchar((unsigned char)b[m]); m++)
		;
	if (m < len && (m == off || b[m] != ' '))
		return HEAD_BAD;
	end = line_end(b, len, off);
	if (!end)
		return len >= max ? HEAD_TOO_BIG : HEAD_MORE;
	if (!request_line_ok(b + off, end - off, m - off))
		return HEAD_BAD;
	for (off = end; (end = line_end(b, len, off)); off = end) {
		if (line_empty(b, off, end))
			return HEAD_DONE;
	}
	return len >= max ? HEAD_TOO_BIG : HEAD_MORE;
}

static bool same_addr(const struct pending *p, const struct sockaddr *sa)
{
	if (p->addr.sa.sa_family != sa->sa_family)
		return false;
	if (sa->sa_family == AF_INET)
		return memcmp(&p->addr.in4.sin_addr,
			      &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4) == 0;
	if (sa->sa_family == AF_INET6)
		return memcmp(&p->addr.in6.sin6_addr,
			      &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16) == 0;
	return true;
}

/* The oldest waiting connection of the address that holds the most, or
 * -1 when none waits. Pure. */
static int gate_oldest_of_most(const struct pending *p, size_t cap)
{
	size_t most = 0;
	int victim = -1;

	for (size_t i = 0; i < cap; i++) {
		size_t k = 0;

		if (p[i].fd < 0)
			continue;
		for (size_t j = 0; j < cap; j++)
			k += p[j].fd >= 0 && same_addr(&p[j], &p[i].addr.sa);
		if (k > most || (k == most && p[i].since < p[victim].since)) {
			most = k;
			victim = (int)i;
		}
	}
	return victim;
}

/*
 * Which waiting connection gives its place to a new one from sa, or -1
 * while there is room. An address holding HTTPD_CONN_PER_IP_MAX gives its
 * own oldest: a flood from one address, or a mesh proxy that relays every
 * client from one (Istio's 127.0.0.6), displaces only itself, and a fresh
 * request from it still gets in. When all cap places are taken, the
 * address holding the most gives its oldest. Pure.
 */
static int gate_victim(const struct pending *p, size_t cap, const struct sockaddr *sa)
{
	size_t own = 0, used = 0;
	int oldest = -1;

	for (size_t i = 0; i < cap; i++) {
		if (p[i].fd < 0)
			continue;
		used++;
		if (!same_addr(&p[i], sa))
			continue;
		own++;
		if (oldest < 0 || p[i].since < p[oldest].since)
			oldest = (int)i;
	}
	if (own >= HTTPD_CONN_PER_IP_MAX)
		return oldest;
	return used < cap ? -1 : gate_oldest_of_most(p, cap);
}

/* When the gate next needs the timer: the first head deadline, or the end
 * of a pause in accepting; -1 for never. */
static int64_t gate_due(const struct gate *g)
{
	int64_t due = g->paused_until;

	for (size_t i = 0; i < HTTPD_CONN_MAX; i++) {
		int64_t d = g->p[i].since + HTTPD_HEAD_TIMEOUT_MS;

		if (g->p[i].fd >= 0 && (due < 0 || d < due))
			due = d;
	}
	return due;
}

static void gate_close(struct gate *g, size_t i)
{
	close(g->p[i].fd); /* which takes it out of the epoll set */
	g->p[i].fd = -1;
}

/* Answers a connection that will not be passed on, and closes it. What
 * it sent is read first, so that the close is a FIN and not the RST that
 * unread bytes cause, which can overtake the answer at the client. Best
 * effort: the socket is non-blocking, and the answer fits its buffer. */
static void gate_refuse(int fd, const char *status, const char *why)
{
	char buf[4096];
	int n;

	for (int k = 0; k < HTTPD_HEAD_MAX / (int)sizeof(buf) + 1; k++) {
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	}
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
		     status, strlen(why), why);
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("httpd", "msg=%s status=%s error=%s", "cannot answer", status,
			  strerror(errno));
	close(fd);
}

/*
 * Acts on what p's client sent so far: a whole head goes to libmicrohttpd
 * (which closes the connection itself when it cannot take it, at its own
 * limit), a bad or oversized one gets its 4xx here, a client gone is
 * closed. True when p->fd is no longer the gate's; false while its head
 * is still coming. hup: the client has sent all it will.
 */
static bool gate_look(struct server *s, const struct pending *p, bool hup)
{
	char buf[HTTPD_HEAD_MAX];
	enum head st = HEAD_MORE;
	ssize_t n;

	n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		close(p->fd);
		return true;
	}
	if (n > 0)
		st = head_scan(buf, (size_t)n, sizeof(buf));
	switch (st) {
	case HEAD_DONE:
		epoll_ctl(s->gate->epfd, EPOLL_CTL_DEL, p->fd, NULL);
		if (MHD_add_connection(s->d, p->fd, &p->addr.sa, p->alen) != MHD_YES)
			log_debug("httpd", "msg=%s", "a request refused at the connection limit");
		return true;
	case HEAD_BAD:
		gate_refuse(p->fd, "400 Bad Request", "not an HTTP/1.x request\n");
		return true;
	case HEAD_TOO_BIG:
		gate_refuse(p->fd, "431 Request Header Fields Too Large",
			    "request head too large\n");
		return true;
	case HEAD_MORE:
		break;
	}
	if (hup)
		close(p->fd);
	return hup;
}

/* Looks at waiting connection i again; frees its place when it is done. */
static void gate_check(struct server *s, size_t i, bool hup)
{
	if (gate_look(s, &s->gate->p[i], hup))
		s->gate->p[i].fd = -1;
}

/* A new connection: looked at at once, since a probe's head is usually
 * in and needs no place at all; else it takes one, the oldest waiting
 * connection's when full (gate_victim). */
static void gate_admit(struct server *s, const struct pending *from)
{
	struct gate *g = s->gate;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
	size_t i;
	int v;

	if (gate_look(s, from, false))
		return;
	v = gate_victim(g->p, HTTPD_CONN_MAX, &from->addr.sa);
	if (v >= 0)
		gate_close(g, (size_t)v);
	for (i = 0; i < HTTPD_CONN_MAX && g->p[i].fd >= 0; i++)
		;
	if (i == HTTPD_CONN_MAX) { /* cannot be: a place was just freed */
		close(from->fd);
		return;
	}
	g->p[i] = *from;
	g->p[i].gen = ++g->gen;
	g->p[i].since = loop_now_ms();
	/* Edge-triggered: peeking leaves the bytes in, and each arrival wakes
	 * us once. Bytes that came since the look are reported by the add. */
	ev.data.u64 = (uint64_t)g->p[i].gen << 32 | i;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, from->fd, &ev) < 0)
		gate_close(g, i);
}

/* Out of descriptors with a connection in the backlog: a waiting one
 * gives its own back, one of the TCP socket's (the network's) for either
 * server, one of the control socket's only for the control socket. */
static bool gate_give_back(struct server *s)
{
	struct gate *tcp = s->h->tcp.gate;
	int v;

	if (tcp && (v = gate_oldest_of_most(tcp->p, HTTPD_CONN_MAX)) >= 0) {
		gate_close(tcp, (size_t)v);
		return true;
	}
	if (s->gate != tcp && (v = gate_oldest_of_most(s->gate->p, HTTPD_CONN_MAX)) >= 0) {
		gate_close(s->gate, (size_t)v);
		return true;
	}
	return false;
}

static void gate_pause(struct gate *g)
{
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, g->lfd, NULL);
	g->paused_until = loop_now_ms() + HTTPD_ACCEPT_PAUSE_MS;
}

static void gate_resume(struct gate *g)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = GATE_LISTENER };

	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->lfd, &ev) == 0 || errno == EEXIST)
		g->paused_until = -1;
	else
		g->paused_until = loop_now_ms() + HTTPD_ACCEPT_PAUSE_MS;
}

/* Whether a connection waits in the listening socket's backlog. */
static bool backlog_waiting(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN);
}

/* Accepts what the listening socket holds, a batch per wakeup. Out of
 * descriptors (EMFILE at our RLIMIT_NOFILE, ENFILE), a waiting connection
 * gives its own back (gate_give_back): a probe behind it in the backlog
 * gets in. With none waiting, accepting pauses a little, rather than spin
 * on a listening socket that stays readable. */
static void gate_accept(struct server *s)
{
	struct gate *g = s->gate;

	for (int k = 0; k < HTTPD_ACCEPT_BATCH; k++) {
		struct pending from = { .fd = -1 };
		int fd;

		from.alen = sizeof(from.addr);
		fd = accept4(g->lfd, &from.addr.sa, &from.alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			/* A Unix client's bound path may not fit: its address
			 * is not used. */
			if (from.alen > sizeof(from.addr))
				from.alen = sizeof(from.addr);
			from.fd = fd;
			gate_admit(s, &from);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		/* accept(2): a connection that failed in the backlog, or
		 * network errors passed on: try the next one. */
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM ||
		    errno == ENETDOWN || errno == ENETUNREACH || errno == EHOSTUNREACH ||
		    errno == EHOSTDOWN || errno == ENONET || errno == ENOPROTOOPT ||
		    errno == EOPNOTSUPP)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* accept4 says EMFILE before it looks at the backlog:
			 * give a place back only for a connection there. */
			if (!backlog_waiting(g->lfd))
				return;
			if (gate_give_back(s))
				continue;
		}
		log_debug("httpd", "msg=%s error=%s", "accept paused", strerror(errno));
		gate_pause(g);
		return;
	}
}

static void on_gate_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct server *s = data;
	struct gate *g = s->gate;
	struct epoll_event ev[HTTPD_ACCEPT_BATCH];
	int n;

	(void)l;
	(void)fd;
	(void)events;
	n = epoll_wait(g->epfd, ev, HTTPD_ACCEPT_BATCH, 0);
	for (int k = 0; k < n; k++) {
		uint64_t u = ev[k].data.u64;
		size_t i = (size_t)(u & 0xffffffffu);

		if (u == GATE_LISTENER)
			gate_accept(s);
		else if (i < HTTPD_CONN_MAX && g->p[i].fd >= 0 &&
			 g->p[i].gen == (uint32_t)(u >> 32))
			gate_check(s, i, ev[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
	}
	/* The heads passed on get their answers now; the timer follows. */
	server_run(s);
}

/* From the server's timer: heads overdue get a 408; a pause ends. */
static void gate_tick(struct gate *g)
{
	int64_t now = loop_now_ms();

	for (size_t i = 0; i < HTTPD_CONN_MAX; i++) {
		if (g->p[i].fd >= 0 && now - g->p[i].since >= HTTPD_HEAD_TIMEOUT_MS) {
			gate_refuse(g->p[i].fd, "408 Request Timeout",
				    "request head took too long\n");
			g->p[i].fd = -1;
		}
	}
	if (g->paused_until >= 0 && now >= g->paused_until)
		gate_resume(g);
}

/* Takes the listening socket lfd (closed on failure too). */
static int gate_start(struct server *s, int lfd)
{
	struct gate *g = calloc(1, sizeof(*g));

	if (!g) {
		close(lfd);
		return -ENOMEM;
	}
	s->gate = g;
	g->lfd = lfd;
	g->paused_until = -1;
	for (size_t i = 0; i < HTTPD_CONN_MAX; i++)
		g->p[i].fd = -1;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0)
		return -errno;
	gate_resume(g);
	if (g->paused_until >= 0)
		return -EIO;
	return loop_add(s->h->loop, g->epfd, EPOLLIN, on_gate_fd, s);
}

static void gate_stop(struct server *s)
{
	struct gate *g = s->gate;

	if (!g)
		return;
	for (size_t i = 0; i < HTTPD_CONN_MAX; i++) {
		if (g->p[i].fd >= 0)
			gate_close(g, i);
	}
	if (g->epfd >= 0) {
		loop_del(s->h->loop, g->epfd);
		close(g->epfd);
	}
	close(g->lfd);
	free(g);
	s->gate = NULL;
}

static void on_server_timer(struct loop *l, void *data)
{
	(void)l;
	struct server *s = data;
	s->timer = 0;
	if (s->gate)
		gate_tick(s->gate);
	server_run(s);
}

/* Runs MHD once and re-arms the server's one timer: MHD's connection
 * timeouts, and the gate's head deadlines. */
static void server_run(struct server *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	int64_t due = -1, g;

	MHD_run(s->d);
	loop_timer_cancel(s->h->loop, s->timer);
	s->timer = 0;
	if (MHD_get_timeout(s->d, &t) == MHD_YES)
		due = loop_now_ms() + (int64_t)t;
	g = s->gate ? gate_due(s->gate) : -1;
	if (g >= 0 && (due < 0 || g < due))
		due = g;
	if (due >= 0)
		loop_timer_add(s->h->loop, due, on_server_timer, s, &s->timer);
}

static void on_server_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	server_run(data);
}

static int server_start(struct httpd *h, struct server *s, int lfd, bool control, char *err,
			size_t errlen)
{
	const union MHD_DaemonInfo *info;
	int r;

	s->h = h;
	s->control = control;
	/* The listening socket is the gate's, which passes on whole heads. */
	/* clang-format off */
	s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
				MHD_USE_NO_LISTEN_SOCKET,
				0, NULL, NULL, handler, s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTPD_CONN_MAX,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)HTTPD_CONN_PER_IP_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTPD_IDLE_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONN_MEMORY,
				MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	/* clang-format on */
	if (!s->d) {
		snprintf(err, errlen, "cannot start the HTTP server");
		close(lfd);
		return -EIO;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	s->epfd = info ? info->epoll_fd : -1;
	if (s->epfd < 0 || loop_add(h->loop, s->epfd, EPOLLIN, on_server_fd, s) < 0) {
		snprintf(err, errlen, "cannot watch the HTTP server");
		close(lfd);
		return -EIO;
	}
	r = gate_start(s, lfd);
	if (r < 0) {
		snprintf(err, errlen, "cannot watch the listening socket: %s", strerror(-r));
		return r;
	}
	return 0;
}

static int tcp_socket(const char *listen_s, int *ret_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	size_t len;
	int fd, one = 1;

	if (httpd_parse_addr(listen_s, &ss, &len) < 0) {
		snprintf(err, errlen, "--listen: expected HOST:PORT, got \"%s\"", listen_s);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ||
	    listen(fd, HTTPD_TCP_BACKLOG) < 0)
		goto fail;
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, (socklen_t *)&len);
	*ret_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
fail:
	snprintf(err, errlen, "--listen %s: %s", listen_s, strerror(errno));
	int r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

/* A listening AF_UNIX socket bound to sa (len bytes): mode 0600 for a
 * path. The fd, or a negative errno. */
static int unix_listen(const struct sockaddr_un *sa, socklen_t len)
{
	int fd, r;
	mode_t old;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)sa, len);
	umask(old);
	if (r < 0 || listen(fd, HTTPD_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The --control path. -EADDRINUSE with *ret_live when another instance
 * answers there; a stale file from a dead one is replaced. */
static int path_socket(const char *path, bool *ret_live)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int probe;

	*ret_live = false;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		bool live = connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(probe);
		if (live) {
			*ret_live = true;
			return -EADDRINUSE;
		}
	}
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	return unix_listen(&sa, sizeof(sa));
}

/* The fallback: the abstract name of our mount namespace, which a client
 * in this container computes alike (client_abstract_name). Abstract names
 * live in the network namespace, which every container of the pod shares,
 * and have no permissions: peer_refusal checks each caller. */
static int abstract_socket(struct httpd *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path) - 1];
	ssize_t n;
	int r;

	r = client_abstract_name(name, sizeof(name));
	if (r < 0)
		return r;
	snprintf(h->control_name, sizeof(h->control_name), "@%s", name);
	n = readlink("/proc/self/ns/mnt", h->mntns, sizeof(h->mntns) - 1);
	if (n < 0)
		return -errno;
	h->mntns[n] = '\0';
	memcpy(sa.sun_path + 1, name, strlen(name));
	return unix_listen(&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name)));
}

/*
 * The control socket: the path, or the abstract fallback when the path
 * cannot be bound. The control socket is optional (probes and the preStop
 * hook can use --listen), so a read-only root filesystem must not keep the
 * app from starting (STYLE 11): the fallback, and a warning from the
 * caller. A live instance on the path, or on the abstract name, is an
 * error: two supervisors must not both believe they own the container.
 */
static int control_socket(struct httpd *h, const char *path, char *err, size_t errlen)
{
	bool live;
	int fd, r;

	fd = path_socket(path, &live);
	if (fd >= 0) {
		snprintf(h->control_path, sizeof(h->control_path), "%s", path);
		snprintf(h->control_name, sizeof(h->control_name), "%s", path);
		return fd;
	}
	if (live) {
		snprintf(err, errlen, "--control %s: another lastcall is listening there", path);
		return fd;
	}
	if (fd == -ENAMETOOLONG) {
		snprintf(err, errlen, "--control: path too long");
		return fd;
	}
	h->control_fallback = fd;
	r = abstract_socket(h);
	if (r < 0) {
		snprintf(err, errlen, "--control %s: %s; the fallback %s: %s", path, strerror(-fd),
			 h->control_name[0] ? h->control_name : "abstract socket",
			 r == -EADDRINUSE ? "another lastcall in this container holds it"
					  : strerror(-r));
		h->control_name[0] = '\0';
		return r;
	}
	return r;
}

int httpd_new(struct loop *l, const char *listen_s, const char *control,
	      const struct httpd_acl *allow, const struct httpd_ops *ops, void *data,
	      struct httpd **ret, char *err, size_t errlen)
{
	struct httpd *h;
	int fd, r;

	h = calloc(1, sizeof(*h));
	if (!h) {
		/* The caller logs err: never leave it unwritten. */
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->loop = l;
	h->ops = ops;
	h->data = data;
	h->euid = geteuid();
	if (allow)
		h->allow = *allow;
	h->tcp.epfd = h->unix_.epfd = -1;
	if (listen_s) {
		fd = tcp_socket(listen_s, &h->port, err, errlen);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		r = server_start(h, &h->tcp, fd, false, err, errlen);
		if (r < 0)
			goto fail;
	}
	if (control) {
		fd = control_socket(h, control, err, errlen);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		r = server_start(h, &h->unix_, fd, true, err, errlen);
		if (r < 0)
			goto fail;
	}
	*ret = h;
	return 0;
fail:
	httpd_free(h);
	return r;
}

static void server_stop(struct httpd *h, struct server *s)
{
	if (!s->d)
		return;
	loop_timer_cancel(h->loop, s->timer);
	gate_stop(s);
	if (s->epfd >= 0)
		loop_del(h->loop, s->epfd);
	MHD_stop_daemon(s->d);
	s->d = NULL;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	/* libmicrohttpd aborts the process when stopped with a connection
	 * suspended ("MHD_stop_daemon() called while we have suspended
	 * connections"), and the app's exit code would be lost to a 134:
	 * answer every waiter and let libmicrohttpd send it first. Resuming
	 * only raises a flag; the runs do the work. */
	h->closing = true;
	for (size_t i = 0; i < HTTPD_WAITERS_MAX; i++) {
		if (h->waiters[i])
			waiter_wake(h, i, WAKE_CLOSING);
	}
	for (int i = 0; h->parked > 0 && i < HTTPD_CLOSE_RUNS_MAX; i++) {
		if (h->unix_.d)
			MHD_run(h->unix_.d);
		if (h->tcp.d)
			MHD_run(h->tcp.d);
	}
	loop_timer_cancel(h->loop, h->wait_timer);
	server_stop(h, &h->tcp);
	server_stop(h, &h->unix_);
	if (h->control_path[0])
		unlink(h->control_path);
	free(h);
}

int httpd_port(const struct httpd *h)
{
	return h ? h->port : 0;
}

const char *httpd_control_name(const struct httpd *h)
{
	return h && h->control_name[0] ? h->control_name : NULL;
}

int httpd_control_fallback(const struct httpd *h)
{
	return h ? h->control_fallback : 0;
}
