/* drain.h - the drain engine's state machine. Pure: time comes in as an
 * argument, actions and the next deadline go out; no syscalls.
 *
 * T0 is the first trigger. From it the phases run in order:
 *   unready    readiness off (the caller flips /readyz, posts to the app)
 *   propagate  at least min_delay, then until no new connection or request
 *              for quiet, capped by max_delay and the budget
 *   drain      until no connection has a request in flight, or the budget,
 *              or only pinned traffic is left (below)
 *   stop       the stop signal goes out; wait for the app to exit
 *   kill       at T0 + grace - kill_margin: SIGKILL whatever is left
 *   done       the app and every leftover are gone
 */
#ifndef LASTCALL_DRAIN_H
#define LASTCALL_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRAIN_IDLE_SAMPLES 2

enum drain_phase {
	DRAIN_SERVING,
	DRAIN_UNREADY,
	DRAIN_PROPAGATE,
	DRAIN_DRAIN,
	DRAIN_STOP,
	DRAIN_KILL,
	DRAIN_DONE,
	DRAIN_PHASES,
};

/* What the caller must do after an event; a bit set. */
enum drain_action {
	DRAIN_ACT_UNREADY = 1, /* readiness off, tell the app */
	DRAIN_ACT_STOP = 2,    /* send the stop signal */
	DRAIN_ACT_KILL = 4,    /* SIGKILL every process left */
	DRAIN_ACT_PHASE = 8,   /* the phase changed: log it */
	DRAIN_ACT_PINNED = 16, /* the stop comes early: only pinned traffic is left */
};

struct drain_budget {
	int64_t grace_ms;
	int64_t kill_margin_ms;
	int64_t stop_timeout_ms;
	int64_t min_delay_ms;
	int64_t quiet_ms;
	int64_t max_delay_ms;
	int64_t proxy_sync_ms; /* removal seen in the API -> every proxy follows */
};

/*
 * Fits the delays into the grace period: the kill margin, then the stop
 * timeout and the minimum delay shrink in proportion, then the quiet period
 * and the maximum delay are capped by what is left. Returns true when
 * something had to shrink, with a one-line account in why.
 */
bool drain_budget_fit(const struct drain_budget *in, struct drain_budget *out, char *why,
		      size_t whylen);

struct drain {
	struct drain_budget b; /* already fitted */
	enum drain_phase phase;
	int64_t t0;
	int64_t at[DRAIN_PHASES]; /* when each phase began, -1 if not */
	int64_t last_traffic;	  /* last new connection or request seen */
	int64_t last_conn;	  /* last new connection seen */
	int64_t last_request;	  /* last request on a known connection */
	int64_t pinned_at;	  /* when only pinned traffic was left, -1 */
	int64_t removed_at;	  /* the endpoint's removal seen in the API, -1 */
	int inflight;		  /* last sample, -1 when unknown */
	int idle_samples;	  /* consecutive samples with nothing in flight */
	bool child_gone;	  /* the main child exited */
};

void drain_init(struct drain *d, const struct drain_budget *fitted);

/* The first trigger starts the drain at now; later ones change nothing. */
unsigned drain_trigger(struct drain *d, int64_t now);
/*
 * A traffic sample: new connections, and requests on known ones, since the
 * last sample.
 *
 * Pinned traffic: kube-proxy leaves the conntrack entries of established
 * connections alone when an endpoint goes (kubernetes#102631), so a
 * keep-alive client keeps sending over its old connection for as long as
 * it uses it; only new connections go elsewhere. At the TCP level that
 * looks like an L7 balancer's pooled connections before it removes the
 * endpoint, so the verdict waits for what tells them apart: propagation
 * over (quiet, or capped by max_delay), requests still arriving on old
 * connections within the quiet period, and no new connection for as long.
 * Waiting cannot end that traffic, only the app closing its connections
 * can: the stop signal goes then (DRAIN_ACT_PINNED with DRAIN_ACT_STOP).
 * A connection busy with a long request, with no new requests, is waited
 * for as before.
 */
unsigned drain_traffic(struct drain *d, int64_t now, int new_conns, int new_requests);
/*
 * The API says every EndpointSlice that listed this pod has it not ready
 * (or no longer lists it): the proxies stop sending new connections once
 * they have synced, proxy_sync_ms later. From then propagation ends when
 * no new connection has come for the quiet period, whatever requests
 * still arrive on known ones (pinned: drain_traffic), and the pinned
 * verdict can follow at once. The first call counts; it changes nothing
 * before the drain.
 */
unsigned drain_removed(struct drain *d, int64_t now);
/* An in-flight sample; inflight < 0 is a failed sample (ignored). The drain
 * ends after DRAIN_IDLE_SAMPLES samples in a row with nothing in flight, so
 * a request arriving within the clock tick of the last answer is not missed. */
unsigned drain_inflight(struct drain *d, int64_t now, int inflight);
/* The main child has exited (before or during the drain). */
unsigned drain_child_exited(struct drain *d, int64_t now);
/* Every process is gone. */
unsigned drain_all_gone(struct drain *d, int64_t now);
/* A shorter grace period learnt after T0 (the pod's deletion grace):
 * takes the newly fitted budget when its grace is shorter, keeping T0 and
 * the phases passed, and moves on at once if a deadline already passed.
 * A longer one changes nothing (the grace only shrinks once deletion
 * started). */
unsigned drain_refit(struct drain *d, int64_t now, const struct drain_budget *fitted);
/* Before T0 only: the budget, newly fitted (the pod's own grace period
 * read at start), keeping whatever was learnt (the child gone). */
void drain_rebudget(struct drain *d, const struct drain_budget *fitted);
/* Time passed: re-evaluate deadlines. */
unsigned drain_tick(struct drain *d, int64_t now);

/* What the engine knows, for those who report it; nobody else reads
 * struct drain's fields. */
enum drain_phase drain_phase_now(const struct drain *d);
/* T0, or -1 before the drain. */
int64_t drain_t0(const struct drain *d);
/* ms from T0 to now, or -1 before the drain. */
int64_t drain_since_t0(const struct drain *d, int64_t now);
/* ms from T0 to the start of phase p, or -1 when p was not reached. */
int64_t drain_phase_ms(const struct drain *d, enum drain_phase p);
/* The budget in force (fitted; shrunk by drain_refit). */
const struct drain_budget *drain_budget(const struct drain *d);

/* ms from T0 to the pinned verdict, or -1. */
int64_t drain_pinned_ms(const struct drain *d);

/* The next time drain_tick must run, or -1 when no deadline is pending. */
int64_t drain_next_deadline(const struct drain *d);
/* The SIGKILL deadline (T0 + grace - margin), or -1 before T0. */
int64_t drain_kill_at(const struct drain *d);
/* The end of the drain window (kill_at - stop_timeout), or -1 before T0. */
int64_t drain_stop_at(const struct drain *d);

const char *drain_phase_name(enum drain_phase p);
int drain_phase_parse(const char *s, enum drain_phase *ret);

#endif
