/* drain.c - see drain.h. */
#include "drain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const phase_names[DRAIN_PHASES] = {
	[DRAIN_SERVING] = "serving", [DRAIN_UNREADY] = "unready", [DRAIN_PROPAGATE] = "propagate",
	[DRAIN_DRAIN] = "drain",     [DRAIN_STOP] = "stop",	  [DRAIN_KILL] = "kill",
	[DRAIN_DONE] = "done",
};

const char *drain_phase_name(enum drain_phase p)
{
	return p < DRAIN_PHASES ? phase_names[p] : "unknown";
}

int drain_phase_parse(const char *s, enum drain_phase *ret)
{
	for (int i = 0; i < DRAIN_PHASES; i++) {
		if (strcmp(s, phase_names[i]) == 0) {
			*ret = (enum drain_phase)i;
			return 0;
		}
	}
	/* "drained" is the moment just before the stop signal would go. */
	if (strcmp(s, "drained") == 0) {
		*ret = DRAIN_STOP;
		return 0;
	}
	return -EINVAL;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

bool drain_budget_fit(const struct drain_budget *in, struct drain_budget *out, char *why,
		      size_t whylen)
{
	struct drain_budget b = *in;
	int64_t usable;

	/* A margin as large as the grace would leave nothing: halve it. */
	if (b.kill_margin_ms * 2 > b.grace_ms)
		b.kill_margin_ms = b.grace_ms / 2;
	usable = b.grace_ms - b.kill_margin_ms;
	if (b.stop_timeout_ms + b.min_delay_ms > usable) {
		int64_t sum = b.stop_timeout_ms + b.min_delay_ms;
		b.stop_timeout_ms = sum > 0 ? usable * b.stop_timeout_ms / sum : 0;
		b.min_delay_ms = usable - b.stop_timeout_ms;
	}
	int64_t window = usable - b.stop_timeout_ms;
	b.max_delay_ms = min64(b.max_delay_ms, window);
	if (b.max_delay_ms < b.min_delay_ms)
		b.max_delay_ms = b.min_delay_ms;
	b.quiet_ms = min64(b.quiet_ms, window);

	*out = b;
	bool changed = memcmp(&b, in, sizeof(b)) != 0;
	if (changed && why)
		snprintf(why, whylen,
			 "grace=%lldms holds kill_margin=%lldms stop_timeout=%lldms "
			 "min_delay=%lldms max_delay=%lldms quiet=%lldms "
			 "(asked %lld/%lld/%lld/%lld/%lld)",
			 (long long)b.grace_ms, (long long)b.kill_margin_ms,
			 (long long)b.stop_timeout_ms, (long long)b.min_delay_ms,
			 (long long)b.max_delay_ms, (long long)b.quiet_ms,
			 (long long)in->kill_margin_ms, (long long)in->stop_timeout_ms,
			 (long long)in->min_delay_ms, (long long)in->max_delay_ms,
			 (long long)in->quiet_ms);
	return changed;
}

void drain_init(struct drain *d, const struct drain_budget *fitted)
{
	memset(d, 0, sizeof(*d));
	d->b = *fitted;
	d->phase = DRAIN_SERVING;
	d->t0 = -1;
	d->last_traffic = -1;
	d->last_conn = -1;
	d->last_request = -1;
	d->pinned_at = -1;
	d->removed_at = -1;
	d->inflight = -1;
	for (int i = 0; i < DRAIN_PHASES; i++)
		d->at[i] = -1;
}

enum drain_phase drain_phase_now(const struct drain *d)
{
	return d->phase;
}

int64_t drain_t0(const struct drain *d)
{
	return d->t0;
}

int64_t drain_since_t0(const struct drain *d, int64_t now)
{
	return d->t0 < 0 ? -1 : now - d->t0;
}

int64_t drain_phase_ms(const struct drain *d, enum drain_phase p)
{
	return p >= DRAIN_PHASES || d->t0 < 0 || d->at[p] < 0 ? -1 : d->at[p] - d->t0;
}

int64_t drain_pinned_ms(const struct drain *d)
{
	return d->pinned_at < 0 ? -1 : d->pinned_at - d->t0;
}

const struct drain_budget *drain_budget(const struct drain *d)
{
	return &d->b;
}

int64_t drain_kill_at(const struct drain *d)
{
	return d->t0 < 0 ? -1 : d->t0 + d->b.grace_ms - d->b.kill_margin_ms;
}

int64_t drain_stop_at(const struct drain *d)
{
	return d->t0 < 0 ? -1 : drain_kill_at(d) - d->b.stop_timeout_ms;
}

static unsigned enter(struct drain *d, enum drain_phase p, int64_t now)
{
	unsigned act = DRAIN_ACT_PHASE;

	d->phase = p;
	d->at[p] = now;
	/* Only samples taken while draining may end the drain: older ones can
	 * predate the last request. */
	if (p == DRAIN_DRAIN)
		d->idle_samples = 0;
	if (p == DRAIN_UNREADY)
		act |= DRAIN_ACT_UNREADY;
	if (p == DRAIN_STOP)
		act |= DRAIN_ACT_STOP;
	if (p == DRAIN_KILL)
		act |= DRAIN_ACT_KILL;
	return act;
}

/* When propagation may end given what has been seen. */
static int64_t propagate_end(const struct drain *d)
{
	int64_t floor = d->t0 + d->b.min_delay_ms;
	int64_t cap = min64(d->t0 + d->b.max_delay_ms, drain_stop_at(d));
	int64_t quiet_from = d->last_traffic > d->t0 ? d->last_traffic : d->t0;
	int64_t end = quiet_from + d->b.quiet_ms;

	/* The endpoint is gone from every proxy: only new connections still
	 * tell of one that lags; requests on known ones are pinned. */
	if (d->removed_at >= 0) {
		int64_t synced = d->removed_at + d->b.proxy_sync_ms;
		int64_t conn_from = d->last_conn > d->t0 ? d->last_conn : d->t0;
		int64_t by_conn = conn_from + d->b.quiet_ms;
		int64_t removed_end = synced > by_conn ? synced : by_conn;

		if (removed_end < end)
			end = removed_end;
	}
	if (end < floor)
		end = floor;
	return end < cap ? end : cap;
}

/* Propagation is over and only pinned traffic is left: requests keep
 * coming on known connections, none on a new one (drain_traffic). */
static bool pinned(const struct drain *d, int64_t now)
{
	int64_t conn_from = d->last_conn > d->t0 ? d->last_conn : d->t0;

	return d->inflight > 0 && d->last_request >= 0 && now - d->last_request <= d->b.quiet_ms &&
	       now - conn_from >= d->b.quiet_ms;
}

/* Moves through every phase whose end condition holds at now. */
static unsigned advance(struct drain *d, int64_t now)
{
	unsigned act = 0;

	for (;;) {
		enum drain_phase before = d->phase;

		if (d->phase >= DRAIN_UNREADY && d->phase < DRAIN_KILL && now >= drain_kill_at(d)) {
			act |= enter(d, DRAIN_KILL, now);
			break;
		}
		switch (d->phase) {
		case DRAIN_UNREADY:
			act |= enter(d, DRAIN_PROPAGATE, now);
			break;
		case DRAIN_PROPAGATE:
			if (d->child_gone || now >= propagate_end(d))
				act |= enter(d, DRAIN_DRAIN, now);
			break;
		case DRAIN_DRAIN:
			if (d->child_gone || d->idle_samples >= DRAIN_IDLE_SAMPLES ||
			    now >= drain_stop_at(d)) {
				act |= enter(d, DRAIN_STOP, now);
			} else if (pinned(d, now)) {
				d->pinned_at = now;
				act |= enter(d, DRAIN_STOP, now) | DRAIN_ACT_PINNED;
			}
			break;
		default:
			break;
		}
		if (d->phase == before)
			break;
	}
	return act;
}

unsigned drain_trigger(struct drain *d, int64_t now)
{
	if (d->phase != DRAIN_SERVING)
		return 0;
	d->t0 = now;
	return enter(d, DRAIN_UNREADY, now) | advance(d, now);
}

unsigned drain_traffic(struct drain *d, int64_t now, int new_conns, int new_requests)
{
	if (new_conns > 0)
		d->last_conn = now;
	if (new_requests > 0)
		d->last_request = now;
	if (new_conns > 0 || new_requests > 0)
		d->last_traffic = now;
	return d->phase == DRAIN_SERVING ? 0 : advance(d, now);
}

unsigned drain_removed(struct drain *d, int64_t now)
{
	if (d->phase == DRAIN_SERVING)
		return 0;
	if (d->removed_at < 0)
		d->removed_at = now;
	return advance(d, now);
}

unsigned drain_inflight(struct drain *d, int64_t now, int inflight)
{
	/* A failed sample proves nothing: keep the last good one (Istio
	 * #50596 aborted live connections on one failed stats call). */
	if (inflight >= 0) {
		d->inflight = inflight;
		d->idle_samples = inflight == 0 ? d->idle_samples + 1 : 0;
	}
	return d->phase == DRAIN_SERVING ? 0 : advance(d, now);
}

unsigned drain_child_exited(struct drain *d, int64_t now)
{
	d->child_gone = true;
	return d->phase == DRAIN_SERVING ? 0 : advance(d, now);
}

unsigned drain_all_gone(struct drain *d, int64_t now)
{
	if (d->phase == DRAIN_DONE)
		return 0;
	d->child_gone = true;
	return enter(d, DRAIN_DONE, now);
}

unsigned drain_refit(struct drain *d, int64_t now, const struct drain_budget *fitted)
{
	if (fitted->grace_ms >= d->b.grace_ms)
		return 0;
	d->b = *fitted;
	return d->phase == DRAIN_SERVING ? 0 : advance(d, now);
}

void drain_rebudget(struct drain *d, const struct drain_budget *fitted)
{
	if (d->t0 < 0)
		d->b = *fitted;
}

unsigned drain_tick(struct drain *d, int64_t now)
{
	return d->phase == DRAIN_SERVING ? 0 : advance(d, now);
}

int64_t drain_next_deadline(const struct drain *d)
{
	switch (d->phase) {
	case DRAIN_UNREADY:
	case DRAIN_PROPAGATE:
		return min64(propagate_end(d), drain_kill_at(d));
	case DRAIN_DRAIN:
		return drain_stop_at(d);
	case DRAIN_STOP:
		return drain_kill_at(d);
	default:
		return -1;
	}
}
