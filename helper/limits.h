/* limits.h - every limit of lastcall in one place.
 *
 * Anything fed from outside (flags, environment, /proc, signals) has a cap
 * here; going past it is an error, never a reallocation.
 */
#ifndef LASTCALL_LIMITS_H
#define LASTCALL_LIMITS_H

/* One log line, whole; written with a single write(2). */
#define LOG_LINE_MAX 2048
/* One formatted field value before quoting. */
#define LOG_VALUE_MAX 512

/* Longest flag value or environment value we accept. */
#define CFG_VALUE_MAX 4096
/* Entries in a repeatable flag taken from one environment variable. */
#define CFG_LIST_MAX 64
/* Error message buffer for flag parsing. */
#define CFG_ERR_MAX 256

/* Longest durations we accept: one day. */
#define DURATION_MAX_MS (24LL * 60 * 60 * 1000)

/* Longest resolved path of the command to execute. */
#define SPAWN_PATH_MAX 4096
/* File descriptors below this are told apart as inherited (open when
 * lastcall started: they pass to the app) or lastcall's own (closed on the
 * app's exec); those at or above it are taken as inherited and left alone.
 * 1024 is the usual soft RLIMIT_NOFILE, so lastcall's own fds, which take
 * the lowest free numbers, are below it unless it inherited about as many. */
#define SPAWN_FDS_MAX 1024

/* Event loop: registered fds and timers. Timers cannot run out by
 * construction: each user keeps one id per timer and cancels it before
 * arming it again, so at most 10 are armed at once (fetch 1, httpd 3: its
 * two servers and the /wait deadline, kapi 1, the drain shell 3, sup's
 * leftovers or adopt's watch 1, the exit flush 1). The callers that can
 * check still do, and log. */
#define LOOP_FDS_MAX 64
#define LOOP_TIMERS_MAX 16
#define LOOP_EVENTS_BATCH 32

/* signalfd reads per loop pass before yielding to other fds. */
#define SIG_READ_BATCH 64

/* /proc/PID/stat is one line; comm is at most 16 bytes, the rest numbers. */
#define PROC_STAT_MAX 1024
/* Processes examined per /proc scan; more are handled in further passes. */
#define PROC_SCAN_MAX 32768
/* Processes of one name considered when looking for the main one, and the
 * part of /proc/PID/cmdline read to find argv[0]. */
#define PROC_FIND_MAX 256
#define PROC_CMDLINE_MAX 4096

/* sock_diag: connections per dump (more are counted, not kept: the
 * sample is then taken as unknown, sample.h; a unit test may lower it),
 * listening sockets, and recv rounds per dump. */
#ifndef CONN_MAX
#define CONN_MAX 16384
#endif
#define CONN_LISTEN_MAX 1024
/* Descriptors of one process looked through for its sockets. */
#define CONN_PID_FDS_MAX 1048576
#define NETLINK_DUMP_ROUNDS_MAX 4096
#define NETLINK_BUF_SIZE 32768
/* Serving ports, given or discovered. */
#define PORTS_MAX 16

/* HTTP endpoints: connections in all and per client address, memory per
 * connection (bounds the request line and headers: larger gets 413/431),
 * request bodies, response bodies, idle timeout, long-poll waiters. */
#define HTTPD_CONN_MAX 64
#define HTTPD_CONN_PER_IP_MAX 16
#define HTTPD_CONN_MEMORY (16 * 1024)
#define HTTPD_BODY_IN_MAX 1024
#define HTTPD_BODY_OUT_MAX 8192
#define HTTPD_IDLE_TIMEOUT_S 10
#define HTTPD_BACKLOG 64
#define HTTPD_WAITERS_MAX 32
#define HTTPD_WAIT_DEFAULT_MS (60 * 1000)
/* --allow-from entries. */
#define HTTPD_ALLOW_MAX 16
/* How often parked long polls are checked for clients that went away
 * (they are also checked whenever the waiters fill up), and how many
 * server runs the last answers get at exit. */
#define HTTPD_WAITER_CHECK_MS 1000
#define HTTPD_CLOSE_RUNS_MAX 16
/* The endpoints' gate (httpd.c): a connection reaches libmicrohttpd
 * only with its whole request head (request line and headers, at most
 * HTTPD_HEAD_MAX bytes: larger gets 431), which must arrive within
 * HTTPD_HEAD_TIMEOUT_MS of the accept however it trickles (else 408);
 * until then it waits in the gate, HTTPD_CONN_MAX in all and
 * HTTPD_CONN_PER_IP_MAX per address, a new one taking the place of the
 * oldest waiting one when full. Accepts per wakeup, and how long accepting
 * pauses when lastcall is out of descriptors with none waiting to give
 * back. */
#define HTTPD_HEAD_MAX (8 * 1024)
#define HTTPD_HEAD_TIMEOUT_MS 2000
#define HTTPD_ACCEPT_BATCH 32
#define HTTPD_ACCEPT_PAUSE_MS 100
/* The TCP socket's listen backlog (the kernel caps it at somaxconn): room
 * for a burst of connections while the gate works through it. A full one
 * drops SYNs, and a probe's dropped SYN is retried after 1 s, the
 * kubelet's whole default timeout. */
#define HTTPD_TCP_BACKLOG 1024

/* Outgoing HTTP (fetch.c): requests under way at once (the app's three
 * URLs, five API calls, the exit URLs), URL length (a
 * sockaddr_un path is at most 108 bytes), response bodies kept (a Pod
 * object with its managedFields is often 10-30 KiB), and the
 * connect timeout cap within each request's total timeout. */
#define FETCH_REQUESTS_MAX 16
#define FETCH_URL_MAX 2048
#define FETCH_UNIX_PATH_MAX 108
#define FETCH_BODY_MAX (64 * 1024)
#define FETCH_CONNECT_TIMEOUT_MAX_MS 1000
/* A request libcurl has not ended this long after its timeout is ended
 * by fetch.c itself: an allocation that fails inside curl's timer
 * handling can leave a transfer with no timer of its own, and nothing
 * would ever end it. */
#define FETCH_BACKSTOP_MS 500

/* Processes of the app's tree looked at per /proc scan: to find its
 * listening sockets, and to signal what it leaves behind (leftovers forked
 * past it are caught by the next pass: reaping re-scans). */
#define PROC_TREE_MAX 1024

/* --close-idle (idle.c): idle connections closed per sample at most (the
 * next sample takes the rest). */
#define IDLE_CLOSE_MAX 64
/* Children of PID 1 a standalone hook looks at to tell it is stopping. */
#define PID1_CHILDREN_MAX 64

/* `run`, drained by a preStop hook: the stop signal waits for the
 * kubelet's (sent as soon as the hook returns) until the stop-by deadline,
 * or this long when that has passed. */
#define STOP_HOLD_MS 500

/* A standalone hook that stopped the container's PID 1 looks this often
 * whether PID 1's children are gone (it must return before PID 1 exits). */
#define PID1_POLL_MS 5

/* Kubernetes API: object names and uids, condition types, the service
 * account token (a projected JWT is about 1 KiB), Events waiting to be
 * posted (one at a time, so they arrive in order), and the retry backoff
 * of a failing readiness-gate patch. */
#define KAPI_NAME_MAX 254
#define KAPI_UID_MAX 64
#define KAPI_TYPE_MAX 317
#define KAPI_TOKEN_MAX 16384
#define KAPI_EVENTS_MAX 16
#define KAPI_MESSAGE_MAX 256
#define KAPI_RETRY_MIN_MS 1000
#define KAPI_RETRY_MAX_MS 30000
/* EndpointSlices (the removal signal, kapi_watch_slices): those listing
 * this pod that are followed, slices per page of the list at T0 (a page
 * must fit in FETCH_BODY_MAX: a slice of 100 endpoints is about 35 KiB),
 * pages at most, tries of a page that failed, the list's continue token,
 * and how often the followed ones are read again. */
#define KAPI_SLICES_MAX 4
#define KAPI_SLICES_PAGE 2
#define KAPI_SLICES_PAGES 200
#define KAPI_SLICES_TRIES 2
#define KAPI_CONTINUE_MAX 1024
#define KAPI_SLICES_POLL_MS 250
/* At exit, what is still being sent (Events, --on-exit-url) gets at most
 * this long, never past the kill deadline. */
#define EXIT_FLUSH_MAX_MS 1000
/* ...polling this often whether it is done (curl has no "all done" fd). */
#define EXIT_FLUSH_POLL_MS 10
/* --on-exit-url entries. */
#define ON_EXIT_URLS_MAX 4
/* A termination message; Kubernetes keeps its first 4096 bytes. */
#define TERMINATION_MSG_MAX 4096

/* `lastcall doctor` (kobj.c, doctor.c): the bytes of one input (a file or
 * stdin: `kubectl get -o yaml` of a big namespace is a few MiB), nesting
 * depth (a pod spec is about 12 deep), nodes in all (aliases count each
 * copy: a YAML "billion laughs" stops here, not in memory), anchors per
 * document, objects in all, input files, findings. */
#define KOBJ_INPUT_MAX (16 * 1024 * 1024)
#define KOBJ_DEPTH_MAX 64
#define KOBJ_NODES_MAX 1000000
#define KOBJ_ANCHORS_MAX 1024
#define KOBJ_OBJECTS_MAX 8192
#define DOCTOR_FILES_MAX 256
#define DOCTOR_FINDINGS_MAX 4096
/* Containers per pod, lastcall invocations per container (command, hooks,
 * probes) and words in one. */
#define DOCTOR_CONTAINERS_MAX 64
#define DOCTOR_ARGV_MAX 128

/* Connection sampling before the drain (only to find the serving ports). */
#define SAMPLE_IDLE_MS 1000

#endif
