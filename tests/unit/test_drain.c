/* test_drain.c - drain.c: budget fitting, the phase machine driven with
 * explicit times, phase names, and a seeded random walk over event
 * sequences checking the machine's invariants. Pure: no clock, no syscalls.
 */
#include "../../helper/drain.c"

#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* The defaults of lastcall run. */
static const struct drain_budget DEF = {
	.grace_ms = 30000,
	.kill_margin_ms = 1000,
	.stop_timeout_ms = 5000,
	.min_delay_ms = 2000,
	.quiet_ms = 1000,
	.max_delay_ms = 15000,
	.proxy_sync_ms = 1000,
};

#define T0 1000
/* With DEF from T0: kill at T0 + 30000 - 1000, stop at kill - 5000. */
#define KILL_AT (T0 + 29000)
#define STOP_AT (KILL_AT - 5000)

/* Every phase's start time must be -1 except those listed (a bit set). */
static void assert_at_only(const struct drain *d, unsigned phases)
{
	for (int p = 0; p < DRAIN_PHASES; p++) {
		if (!(phases & (1u << p)))
			assert_int_equal(d->at[p], -1);
		else
			assert_true(d->at[p] >= 0);
	}
}

/* The fitted budget's invariants, whatever went in. */
static void assert_fits(const struct drain_budget *in, const struct drain_budget *b)
{
	int64_t usable = b->grace_ms - b->kill_margin_ms;
	int64_t window = usable - b->stop_timeout_ms;

	assert_int_equal(b->grace_ms, in->grace_ms);
	assert_true(b->kill_margin_ms >= 0);
	assert_true(b->stop_timeout_ms >= 0);
	assert_true(b->min_delay_ms >= 0);
	assert_true(b->quiet_ms >= 0);
	assert_true(b->kill_margin_ms * 2 <= b->grace_ms);
	assert_true(b->kill_margin_ms + b->stop_timeout_ms + b->min_delay_ms <= b->grace_ms);
	assert_true(b->min_delay_ms <= b->max_delay_ms);
	assert_true(b->max_delay_ms <= window);
	assert_true(b->quiet_ms <= window);
	/* Nothing grows, except max_delay up to min_delay. */
	assert_true(b->kill_margin_ms <= in->kill_margin_ms);
	assert_true(b->stop_timeout_ms <= in->stop_timeout_ms);
	assert_true(b->min_delay_ms <= in->min_delay_ms);
	assert_true(b->quiet_ms <= in->quiet_ms);
}

/* ---- drain_budget_fit ---- */

static void test_budget_defaults_unchanged(void **state)
{
	(void)state;
	struct drain_budget out;
	char why[512] = "untouched";

	assert_false(drain_budget_fit(&DEF, &out, why, sizeof(why)));
	assert_memory_equal(&out, &DEF, sizeof(out));
	assert_string_equal(why, "untouched");
	/* why may be NULL. */
	assert_false(drain_budget_fit(&DEF, &out, NULL, 0));
}

static void test_budget_tight_grace_compresses(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[512] = "";

	in.grace_ms = 5000;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	/* usable 4000 = 5000 - 1000; stop:min = 5000:2000 kept. */
	assert_int_equal(out.grace_ms, 5000);
	assert_int_equal(out.kill_margin_ms, 1000);
	assert_int_equal(out.stop_timeout_ms, 2857); /* 4000 * 5000 / 7000 */
	assert_int_equal(out.min_delay_ms, 1143);
	assert_int_equal(out.stop_timeout_ms + out.min_delay_ms, 4000);
	assert_int_equal(out.max_delay_ms, 1143); /* window = 4000 - 2857 */
	assert_int_equal(out.quiet_ms, 1000);	  /* fits the window */
	assert_true(out.max_delay_ms >= out.min_delay_ms);
	assert_fits(&in, &out);
	/* The proportion: 5/2 within rounding. */
	assert_true(out.stop_timeout_ms * 2 <= out.min_delay_ms * 5 + 5);
	assert_true(out.stop_timeout_ms * 2 >= out.min_delay_ms * 5 - 5);

	assert_non_null(strstr(why, "grace=5000ms"));
	assert_non_null(strstr(why, "kill_margin=1000ms"));
	assert_non_null(strstr(why, "stop_timeout=2857ms"));
	assert_non_null(strstr(why, "min_delay=1143ms"));
	assert_non_null(strstr(why, "max_delay=1143ms"));
	assert_non_null(strstr(why, "quiet=1000ms"));
	assert_non_null(strstr(why, "(asked 1000/5000/2000/15000/1000)"));
	assert_null(strchr(why, '\n'));
}

static void test_budget_why_truncated(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[16];

	memset(why, 'x', sizeof(why));
	in.grace_ms = 5000;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_string_equal(why, "grace=5000ms ho");
}

static void test_budget_margin_halved(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[512];

	in.grace_ms = 3000;
	in.kill_margin_ms = 2000; /* more than half */
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.kill_margin_ms, 1500);
	/* usable 1500, stop:min = 5:2 */
	assert_int_equal(out.stop_timeout_ms, 1071);
	assert_int_equal(out.min_delay_ms, 429);
	assert_int_equal(out.max_delay_ms, 429);
	assert_int_equal(out.quiet_ms, 429);
	assert_fits(&in, &out);
	assert_non_null(strstr(why, "kill_margin=1500ms"));

	/* Exactly half is kept. */
	in = DEF;
	in.grace_ms = 20000;
	in.kill_margin_ms = 10000;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.kill_margin_ms, 10000);
	assert_int_equal(out.stop_timeout_ms, 5000);
	assert_int_equal(out.min_delay_ms, 2000);
	assert_int_equal(out.max_delay_ms, 5000); /* 10000 - 5000 */
	assert_int_equal(out.quiet_ms, 1000);
	assert_fits(&in, &out);
}

static void test_budget_tiny_grace(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[512];

	in.grace_ms = 1000;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.kill_margin_ms, 500);
	assert_int_equal(out.stop_timeout_ms, 357); /* 500 * 5000 / 7000 */
	assert_int_equal(out.min_delay_ms, 143);
	assert_int_equal(out.max_delay_ms, 143);
	assert_int_equal(out.quiet_ms, 143);
	assert_int_equal(out.kill_margin_ms + out.stop_timeout_ms + out.min_delay_ms, 1000);
	assert_fits(&in, &out);

	/* Zero grace: everything zero, nothing negative. */
	in.grace_ms = 0;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.kill_margin_ms, 0);
	assert_int_equal(out.stop_timeout_ms, 0);
	assert_int_equal(out.min_delay_ms, 0);
	assert_int_equal(out.max_delay_ms, 0);
	assert_int_equal(out.quiet_ms, 0);
	assert_fits(&in, &out);
}

static void test_budget_max_raised_to_min(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[512];

	in.max_delay_ms = 500;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.max_delay_ms, 2000);
	assert_int_equal(out.min_delay_ms, 2000);
	assert_int_equal(out.stop_timeout_ms, 5000);
	assert_int_equal(out.kill_margin_ms, 1000);
	assert_int_equal(out.quiet_ms, 1000);
	assert_non_null(strstr(why, "max_delay=2000ms"));
	assert_fits(&in, &out);
}

static void test_budget_caps_quiet_and_max(void **state)
{
	(void)state;
	struct drain_budget in = DEF, out;
	char why[512];

	/* usable 9000, window 4000: max and quiet are capped, nothing else. */
	in.grace_ms = 10000;
	in.quiet_ms = 6000;
	assert_true(drain_budget_fit(&in, &out, why, sizeof(why)));
	assert_int_equal(out.kill_margin_ms, 1000);
	assert_int_equal(out.stop_timeout_ms, 5000);
	assert_int_equal(out.min_delay_ms, 2000);
	assert_int_equal(out.max_delay_ms, 4000);
	assert_int_equal(out.quiet_ms, 4000);
	assert_fits(&in, &out);
}

/* A tiny deterministic PRNG (xorshift64*), so runs are reproducible. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Uniform-ish in [0, n). */
static int64_t rnd(int64_t n)
{
	return n <= 0 ? 0 : (int64_t)(rng() % (uint64_t)n);
}

static struct drain_budget random_budget(void)
{
	struct drain_budget b;

	if (rnd(4) == 0)
		return DEF;
	b.grace_ms = rnd(4) == 0 ? rnd(3000) : rnd(60001);
	b.kill_margin_ms = rnd(5001);
	b.stop_timeout_ms = rnd(10001);
	b.min_delay_ms = rnd(5001);
	b.quiet_ms = rnd(3001);
	b.max_delay_ms = rnd(20001);
	return b;
}

static void test_budget_random_invariants(void **state)
{
	(void)state;
	rng_state = 0x5eed1234abcdULL;
	for (int i = 0; i < 5000; i++) {
		struct drain_budget in = random_budget(), out, again;
		char why[512] = "";
		bool changed = drain_budget_fit(&in, &out, why, sizeof(why));

		assert_fits(&in, &out);
		assert_int_equal(changed, memcmp(&in, &out, sizeof(in)) != 0);
		assert_int_equal(changed, why[0] != '\0');
		/* Fitting is idempotent. */
		assert_false(drain_budget_fit(&out, &again, NULL, 0));
		assert_memory_equal(&out, &again, sizeof(out));
	}
}

/* ---- the phase machine ---- */

/* A drain with the default budget, triggered at T0. */
static void start(struct drain *d)
{
	drain_init(d, &DEF);
	assert_int_equal(drain_trigger(d, T0), DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE);
	assert_int_equal(d->phase, DRAIN_PROPAGATE);
}

/* start, then the propagation ends at T0 + min_delay with no traffic. */
static void start_drain(struct drain *d)
{
	start(d);
	assert_int_equal(drain_tick(d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(d->phase, DRAIN_DRAIN);
}

static void test_init(void **state)
{
	(void)state;
	struct drain d;

	drain_init(&d, &DEF);
	assert_int_equal(d.phase, DRAIN_SERVING);
	assert_int_equal(d.t0, -1);
	assert_int_equal(d.last_traffic, -1);
	assert_int_equal(d.inflight, -1);
	assert_int_equal(d.idle_samples, 0);
	assert_false(d.child_gone);
	assert_memory_equal(&d.b, &DEF, sizeof(DEF));
	assert_at_only(&d, 0);
	assert_int_equal(drain_kill_at(&d), -1);
	assert_int_equal(drain_stop_at(&d), -1);
	assert_int_equal(drain_next_deadline(&d), -1);
}

static void test_trigger_unready_then_propagate(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(d.t0, T0);
	assert_int_equal(d.at[DRAIN_UNREADY], T0);
	assert_int_equal(d.at[DRAIN_PROPAGATE], T0);
	assert_at_only(&d, 1u << DRAIN_UNREADY | 1u << DRAIN_PROPAGATE);
	assert_int_equal(drain_kill_at(&d), KILL_AT);
	assert_int_equal(drain_stop_at(&d), STOP_AT);
}

static void test_trigger_idempotent(void **state)
{
	(void)state;
	struct drain d, before;

	start(&d);
	before = d;
	assert_int_equal(drain_trigger(&d, T0 + 500), 0);
	assert_memory_equal(&d, &before, sizeof(d));
	/* Also later, in another phase. */
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	before = d;
	assert_int_equal(drain_trigger(&d, T0 + 2100), 0);
	assert_memory_equal(&d, &before, sizeof(d));
}

static void test_propagate_min_delay(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_next_deadline(&d), T0 + 2000);
	assert_int_equal(drain_tick(&d, T0 + 1999), 0);
	assert_int_equal(d.phase, DRAIN_PROPAGATE);
	/* Samples without new traffic do not extend it. */
	assert_int_equal(drain_traffic(&d, T0 + 1500, 0, 0), 0);
	assert_int_equal(drain_next_deadline(&d), T0 + 2000);
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 2000);
	assert_int_equal(drain_next_deadline(&d), STOP_AT);
}

static void test_propagate_quiet_after_traffic(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_traffic(&d, T0 + 1500, 1, 0), 0);
	assert_int_equal(d.last_traffic, T0 + 1500);
	assert_int_equal(drain_next_deadline(&d), T0 + 2500);
	assert_int_equal(drain_tick(&d, T0 + 2000), 0);
	assert_int_equal(drain_traffic(&d, T0 + 2400, 0, 0), 0);
	assert_int_equal(drain_tick(&d, T0 + 2499), 0);
	assert_int_equal(d.phase, DRAIN_PROPAGATE);
	/* The sample that finds the quiet period over ends it too. */
	assert_int_equal(drain_traffic(&d, T0 + 2500, 0, 0), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 2500);
}

static void test_propagate_traffic_before_trigger_ignored(void **state)
{
	(void)state;
	struct drain_budget b = DEF;
	struct drain d;

	/* Quiet longer than min_delay, so where it counts from shows. */
	b.quiet_ms = 3000;
	drain_init(&d, &b);
	assert_int_equal(drain_traffic(&d, T0 - 10, 1, 0), 0);
	assert_int_equal(drain_trigger(&d, T0), DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE);
	/* Quiet counts from T0 at the earliest. */
	assert_int_equal(drain_next_deadline(&d), T0 + 3000);
	assert_int_equal(drain_tick(&d, T0 + 2990), 0);
	assert_int_equal(drain_tick(&d, T0 + 3000), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
}

static void test_propagate_capped_by_max_delay(void **state)
{
	(void)state;
	struct drain d;
	int64_t t;

	start(&d);
	for (t = T0 + 500; t < T0 + 15000; t += 500) {
		assert_int_equal(drain_traffic(&d, t, 1, 0), 0);
		assert_int_equal(d.phase, DRAIN_PROPAGATE);
		/* quiet after the last traffic, at least min_delay, at most
		 * max_delay. */
		int64_t end = t + 1000 > T0 + 2000 ? t + 1000 : T0 + 2000;
		assert_int_equal(drain_next_deadline(&d), end < T0 + 15000 ? end : T0 + 15000);
	}
	assert_int_equal(drain_traffic(&d, T0 + 15000, 1, 0), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 15000);
}

/* ---- pinned traffic ---- */

/* Pinned keep-alive clients through kube-proxy: requests on the old
 * connections every 100 ms, no new connection, 3 in flight. Propagation
 * cannot tell them from an L7 balancer's pool and runs to max_delay; then
 * the stop goes at once, not at stop_at. */
static void test_pinned_after_max_delay(void **state)
{
	(void)state;
	struct drain d;
	int64_t t;

	start(&d);
	for (t = T0 + 100; t < T0 + 15000; t += 100) {
		assert_int_equal(drain_traffic(&d, t, 0, 1), 0);
		assert_int_equal(drain_inflight(&d, t, 3), 0);
		assert_int_equal(d.phase, DRAIN_PROPAGATE);
	}
	assert_int_equal(drain_traffic(&d, T0 + 15000, 0, 1),
			 DRAIN_ACT_PHASE | DRAIN_ACT_STOP | DRAIN_ACT_PINNED);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 15000);
	assert_int_equal(drain_pinned_ms(&d), 15000);
	assert_true(T0 + 15000 < STOP_AT);
}

/* Requests on old connections with new connections still coming (an L7
 * balancer, or clients that reconnect): not pinned, the drain waits. */
static void test_not_pinned_while_new_connections(void **state)
{
	(void)state;
	struct drain d;
	int64_t t;

	start(&d);
	for (t = T0 + 100; t < STOP_AT; t += 100) {
		/* A new connection every 900 ms: within the quiet period. */
		assert_int_equal(drain_traffic(&d, t, (t - T0) % 900 == 0, 1) & DRAIN_ACT_PINNED,
				 0);
		assert_int_equal(drain_inflight(&d, t, 2) & DRAIN_ACT_STOP, 0);
	}
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(drain_tick(&d, STOP_AT), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(drain_pinned_ms(&d), -1);
}

/* Long requests and nothing new: wait for them, as before. */
static void test_long_requests_are_waited_for(void **state)
{
	(void)state;
	struct drain d;
	int64_t t;

	start(&d);
	assert_int_equal(drain_traffic(&d, T0 + 100, 0, 1), 0);
	for (t = T0 + 200; t < T0 + 10000; t += 100) {
		assert_int_equal(drain_traffic(&d, t, 0, 0) & DRAIN_ACT_STOP, 0);
		assert_int_equal(drain_inflight(&d, t, 4) & DRAIN_ACT_STOP, 0);
	}
	/* Quiet since T0 + 100: the drain began at the min_delay floor. */
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 2000);
	/* Done when they are. */
	assert_int_equal(drain_inflight(&d, T0 + 10000, 0), 0);
	assert_int_equal(drain_inflight(&d, T0 + 10100, 0), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(drain_pinned_ms(&d), -1);
}

/* Quiet propagation, then requests come back on an old connection with
 * nothing new for a quiet period: pinned, the stop goes at once. A sample
 * with nothing in flight is no verdict. */
static void test_pinned_after_quiet(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(drain_inflight(&d, T0 + 2050, 0), 0);
	assert_int_equal(drain_traffic(&d, T0 + 2100, 0, 1), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2100, 1),
			 DRAIN_ACT_PHASE | DRAIN_ACT_STOP | DRAIN_ACT_PINNED);
	assert_int_equal(drain_pinned_ms(&d), 2100);
}

/* A new connection within the quiet period defers the verdict by that
 * much, and the traffic's end (no request for a quiet period) cancels it. */
static void test_pinned_needs_quiet_connections(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(drain_traffic(&d, T0 + 2500, 1, 1), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2500, 2), 0);
	assert_int_equal(drain_traffic(&d, T0 + 3400, 0, 1), 0);
	assert_int_equal(drain_traffic(&d, T0 + 3500, 0, 1),
			 DRAIN_ACT_PHASE | DRAIN_ACT_STOP | DRAIN_ACT_PINNED);
	assert_int_equal(drain_pinned_ms(&d), 3500);

	start(&d);
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(drain_traffic(&d, T0 + 2500, 1, 1), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2500, 2), 0);
	/* The last request at 2500; by 3600 it is a long one. */
	assert_int_equal(drain_traffic(&d, T0 + 3600, 0, 0), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
}

/* The API's removal signal: pinned requests go on, no new connection
 * since before; propagation ends at removal + proxy_sync, not max_delay,
 * and the pinned verdict with it. */
static void test_removed_ends_propagation(void **state)
{
	(void)state;
	struct drain d;
	int64_t t;

	start(&d);
	/* Before the drain a removal means nothing. */
	drain_init(&d, &DEF);
	assert_int_equal(drain_removed(&d, T0 - 10), 0);
	assert_int_equal(d.removed_at, -1);
	start(&d);
	for (t = T0 + 100; t < T0 + 2300; t += 100) {
		assert_int_equal(drain_traffic(&d, t, 0, 1), 0);
		assert_int_equal(drain_inflight(&d, t, 3), 0);
	}
	/* Removed at 2300: synced at 3300, before max_delay; the quiet
	 * period after the last request (3200) still counts while they come. */
	assert_int_equal(drain_removed(&d, T0 + 2300), 0);
	assert_int_equal(drain_next_deadline(&d), T0 + 3200);
	/* A second signal changes nothing. */
	assert_int_equal(drain_removed(&d, T0 + 2400), 0);
	assert_int_equal(d.removed_at, T0 + 2300);
	for (t = T0 + 2400; t < T0 + 3300; t += 100)
		assert_int_equal(drain_traffic(&d, t, 0, 1), 0);
	assert_int_equal(drain_traffic(&d, T0 + 3300, 0, 1),
			 DRAIN_ACT_PHASE | DRAIN_ACT_STOP | DRAIN_ACT_PINNED);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 3300);
	assert_int_equal(drain_pinned_ms(&d), 3300);
}

/* After the removal a new connection still says a proxy lags: the quiet
 * period counts from it. Never before min_delay either. */
static void test_removed_waits_for_new_connections(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_removed(&d, T0 + 100), 0);
	/* min_delay (2000) is the floor, not removal + sync (1100). */
	assert_int_equal(drain_next_deadline(&d), T0 + 2000);
	assert_int_equal(drain_traffic(&d, T0 + 1900, 1, 1), 0);
	assert_int_equal(drain_next_deadline(&d), T0 + 2900);
	assert_int_equal(drain_traffic(&d, T0 + 2800, 0, 1), 0);
	assert_int_equal(d.phase, DRAIN_PROPAGATE);
	assert_int_equal(drain_tick(&d, T0 + 2900), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
}

static void test_propagate_capped_by_stop_at(void **state)
{
	(void)state;
	struct drain_budget b = DEF; /* deliberately not fitted */
	struct drain d;
	int64_t t;

	b.max_delay_ms = 1000000;
	b.quiet_ms = 100000;
	drain_init(&d, &b);
	assert_int_equal(drain_trigger(&d, T0), DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE);
	assert_int_equal(drain_next_deadline(&d), STOP_AT);
	for (t = T0 + 1000; t < STOP_AT; t += 1000) {
		assert_int_equal(drain_traffic(&d, t, 1, 0), 0);
		assert_int_equal(drain_next_deadline(&d), STOP_AT);
	}
	assert_int_equal(d.phase, DRAIN_PROPAGATE);
	/* At stop_at the propagation and the drain both end. */
	assert_int_equal(drain_tick(&d, STOP_AT), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_DRAIN], STOP_AT);
	assert_int_equal(d.at[DRAIN_STOP], STOP_AT);
}

static void test_drain_idle_samples(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_inflight(&d, T0 + 2100, 0), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.idle_samples, 1);
	assert_int_equal(drain_inflight(&d, T0 + 2200, 0), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 2200);
	assert_int_equal(drain_next_deadline(&d), KILL_AT);
	assert_at_only(&d, 1u << DRAIN_UNREADY | 1u << DRAIN_PROPAGATE | 1u << DRAIN_DRAIN |
				   1u << DRAIN_STOP);
	/* More samples change nothing. */
	assert_int_equal(drain_inflight(&d, T0 + 2300, 0), 0);
	assert_int_equal(d.phase, DRAIN_STOP);
}

/* Idle samples from the propagation phase may predate the last request:
 * only samples taken while draining can end the drain. */
static void test_drain_ignores_samples_before_it(void **state)
{
	(void)state;
	struct drain d;

	drain_init(&d, &DEF);
	drain_trigger(&d, T0);
	assert_int_equal(drain_inflight(&d, T0 + 500, 0), 0);
	assert_int_equal(drain_inflight(&d, T0 + 800, 0), 0);
	assert_int_equal(drain_tick(&d, T0 + 2000), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.idle_samples, 0);
	assert_int_equal(drain_inflight(&d, T0 + 2100, 0), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2200, 0), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 2200);
}

static void test_drain_busy_sample_resets(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_inflight(&d, T0 + 2100, 0), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2200, 3), 0);
	assert_int_equal(d.idle_samples, 0);
	assert_int_equal(d.inflight, 3);
	assert_int_equal(drain_inflight(&d, T0 + 2300, 0), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(drain_inflight(&d, T0 + 2400, 0), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 2400);
}

static void test_drain_failed_sample_ignored(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	/* A failed sample does not count as idle... */
	assert_int_equal(drain_inflight(&d, T0 + 2100, 0), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2200, -1), 0);
	assert_int_equal(drain_inflight(&d, T0 + 2300, -1), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.idle_samples, 1);
	assert_int_equal(d.inflight, 0); /* the last good sample */
	/* ...nor breaks the streak. */
	assert_int_equal(drain_inflight(&d, T0 + 2400, 0), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 2400);

	/* Failed samples alone never end the drain. */
	start_drain(&d);
	for (int64_t t = T0 + 2100; t < STOP_AT; t += 100)
		assert_int_equal(drain_inflight(&d, t, -1), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(d.inflight, -1);
}

static void test_drain_ends_at_stop_at(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_inflight(&d, T0 + 3000, 7), 0);
	assert_int_equal(drain_tick(&d, STOP_AT - 1), 0);
	assert_int_equal(drain_inflight(&d, STOP_AT - 1, 7), 0);
	assert_int_equal(d.phase, DRAIN_DRAIN);
	assert_int_equal(drain_tick(&d, STOP_AT), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_STOP], STOP_AT);

	/* The same through a sample that still sees requests in flight. */
	start_drain(&d);
	assert_int_equal(drain_inflight(&d, STOP_AT, 7), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
}

static void test_kill_at_deadline(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_tick(&d, STOP_AT), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(drain_next_deadline(&d), KILL_AT);
	assert_int_equal(drain_tick(&d, KILL_AT - 1), 0);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(drain_tick(&d, KILL_AT), DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
	assert_int_equal(d.phase, DRAIN_KILL);
	assert_int_equal(d.at[DRAIN_KILL], KILL_AT);
	assert_int_equal(drain_next_deadline(&d), -1);
	/* Nothing more happens until everything is gone. */
	assert_int_equal(drain_tick(&d, KILL_AT + 5000), 0);
	assert_int_equal(drain_inflight(&d, KILL_AT + 5000, 0), 0);
	assert_int_equal(drain_traffic(&d, KILL_AT + 5000, 1, 0), 0);
	assert_int_equal(drain_child_exited(&d, KILL_AT + 5000), 0);
	assert_int_equal(d.phase, DRAIN_KILL);
	assert_int_equal(drain_all_gone(&d, KILL_AT + 6000), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DONE);
	assert_int_equal(d.at[DRAIN_DONE], KILL_AT + 6000);
}

static void test_kill_when_late(void **state)
{
	(void)state;
	struct drain d;

	/* The first event after kill_at, from propagate: straight to kill,
	 * no stop signal. */
	start(&d);
	assert_int_equal(drain_tick(&d, KILL_AT + 10), DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
	assert_int_equal(d.phase, DRAIN_KILL);
	assert_int_equal(d.at[DRAIN_KILL], KILL_AT + 10);
	assert_int_equal(d.at[DRAIN_DRAIN], -1);
	assert_int_equal(d.at[DRAIN_STOP], -1);
}

/* The pod's deletion grace (5 s) is shorter than --grace-period (30 s). */
static void refit_to(struct drain_budget *b, int64_t grace_ms)
{
	struct drain_budget in = DEF;

	in.grace_ms = grace_ms;
	drain_budget_fit(&in, b, NULL, 0);
}

static void test_refit_shorter_moves_deadlines(void **state)
{
	(void)state;
	struct drain d;
	struct drain_budget b;

	start(&d);
	refit_to(&b, 5000);
	/* 5 s holds margin 1 s, then stop 5 s and min delay 2 s shrink to 4 s
	 * in proportion: stop 2857, min delay 1143. */
	assert_int_equal(drain_refit(&d, T0 + 100, &b), 0);
	assert_int_equal(d.b.grace_ms, 5000);
	assert_int_equal(drain_kill_at(&d), T0 + 4000);
	assert_int_equal(drain_stop_at(&d), T0 + 4000 - b.stop_timeout_ms);
	assert_int_equal(d.t0, T0);
	assert_int_equal(d.phase, DRAIN_PROPAGATE);
	assert_int_equal(drain_next_deadline(&d), T0 + b.min_delay_ms);
	/* The compressed delay and stop timeout fill the 4 s: the drain
	 * window is empty, the stop signal goes when propagation ends. */
	assert_int_equal(drain_stop_at(&d), T0 + b.min_delay_ms);
	assert_int_equal(drain_tick(&d, T0 + b.min_delay_ms), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + b.min_delay_ms);
	assert_int_equal(drain_tick(&d, T0 + 4000), DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
}

static void test_refit_longer_ignored(void **state)
{
	(void)state;
	struct drain d;
	struct drain_budget b;

	start(&d);
	refit_to(&b, 60000);
	assert_int_equal(drain_refit(&d, T0 + 100, &b), 0);
	assert_int_equal(d.b.grace_ms, 30000);
	assert_int_equal(drain_kill_at(&d), KILL_AT);
	/* Equal: nothing either. */
	refit_to(&b, 30000);
	assert_int_equal(drain_refit(&d, T0 + 100, &b), 0);
	assert_int_equal(drain_kill_at(&d), KILL_AT);
}

static void test_refit_past_deadline_kills(void **state)
{
	(void)state;
	struct drain d;
	struct drain_budget b;

	/* The answer came late: the new kill deadline has passed already. */
	start_drain(&d);
	refit_to(&b, 3000);
	assert_int_equal(drain_refit(&d, T0 + 2600, &b), DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
	assert_int_equal(d.phase, DRAIN_KILL);
	assert_int_equal(d.at[DRAIN_STOP], -1);
	/* Within the window: the stop signal goes at once. */
	start_drain(&d);
	refit_to(&b, 4000);
	assert_true(T0 + 2100 >= drain_stop_at(&d) - 30000 + 4000);
	assert_int_equal(drain_refit(&d, T0 + 2100, &b), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
}

static void test_refit_before_trigger(void **state)
{
	(void)state;
	struct drain d;
	struct drain_budget b;

	drain_init(&d, &DEF);
	refit_to(&b, 5000);
	assert_int_equal(drain_refit(&d, T0, &b), 0);
	assert_int_equal(d.phase, DRAIN_SERVING);
	assert_int_equal(drain_trigger(&d, T0), DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE);
	assert_int_equal(drain_kill_at(&d), T0 + 4000);
}

static void test_late_repeat_trigger(void **state)
{
	(void)state;
	struct drain d, before;

	/* A second trigger changes nothing even past kill_at; the pending
	 * deadline (kill_at) stays, and the next tick kills. */
	start_drain(&d);
	before = d;
	assert_int_equal(drain_trigger(&d, KILL_AT + 100), 0);
	assert_memory_equal(&d, &before, sizeof(d));
	assert_int_equal(drain_next_deadline(&d), STOP_AT);
	assert_int_equal(drain_tick(&d, KILL_AT + 100), DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
	assert_int_equal(d.phase, DRAIN_KILL);
}

static void test_child_exit_during_propagate(void **state)
{
	(void)state;
	struct drain d;

	start(&d);
	assert_int_equal(drain_child_exited(&d, T0 + 500), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_true(d.child_gone);
	assert_int_equal(d.at[DRAIN_DRAIN], T0 + 500);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 500);
	assert_int_equal(drain_next_deadline(&d), KILL_AT);
	assert_int_equal(drain_all_gone(&d, T0 + 600), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DONE);
}

static void test_child_exit_during_drain(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_inflight(&d, T0 + 2100, 4), 0);
	assert_int_equal(drain_child_exited(&d, T0 + 2200), DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
	assert_int_equal(d.at[DRAIN_STOP], T0 + 2200);
}

static void test_child_exit_before_trigger(void **state)
{
	(void)state;
	struct drain d;

	drain_init(&d, &DEF);
	assert_int_equal(drain_child_exited(&d, T0 - 100), 0);
	assert_int_equal(d.phase, DRAIN_SERVING);
	/* A trigger after that runs straight to the stop. */
	assert_int_equal(drain_trigger(&d, T0),
			 DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE | DRAIN_ACT_STOP);
	assert_int_equal(d.phase, DRAIN_STOP);
}

static void test_all_gone(void **state)
{
	(void)state;
	struct drain d;

	start_drain(&d);
	assert_int_equal(drain_all_gone(&d, T0 + 2500), DRAIN_ACT_PHASE);
	assert_int_equal(d.phase, DRAIN_DONE);
	assert_int_equal(d.at[DRAIN_DONE], T0 + 2500);
	assert_true(d.child_gone);
	assert_int_equal(drain_next_deadline(&d), -1);
	/* Done is final. */
	assert_int_equal(drain_all_gone(&d, T0 + 2600), 0);
	assert_int_equal(drain_tick(&d, KILL_AT + 1), 0);
	assert_int_equal(drain_child_exited(&d, KILL_AT + 1), 0);
	assert_int_equal(drain_trigger(&d, KILL_AT + 1), 0);
	assert_int_equal(d.phase, DRAIN_DONE);
	assert_int_equal(d.at[DRAIN_DONE], T0 + 2500);
	assert_int_equal(d.at[DRAIN_KILL], -1);
}

static void test_events_before_trigger(void **state)
{
	(void)state;
	struct drain d;

	drain_init(&d, &DEF);
	assert_int_equal(drain_traffic(&d, 100, 1, 0), 0);
	assert_int_equal(drain_traffic(&d, 200, 0, 0), 0);
	assert_int_equal(drain_inflight(&d, 300, 0), 0);
	assert_int_equal(drain_inflight(&d, 400, 0), 0);
	assert_int_equal(drain_inflight(&d, 500, -1), 0);
	assert_int_equal(drain_tick(&d, 100000), 0);
	assert_int_equal(drain_child_exited(&d, 100000), 0);
	assert_int_equal(d.phase, DRAIN_SERVING);
	assert_int_equal(d.t0, -1);
	assert_at_only(&d, 0);
	assert_int_equal(drain_kill_at(&d), -1);
	assert_int_equal(drain_stop_at(&d), -1);
	assert_int_equal(drain_next_deadline(&d), -1);
}

static void test_zero_grace(void **state)
{
	(void)state;
	struct drain_budget in = DEF, b;
	struct drain d;

	in.grace_ms = 0;
	drain_budget_fit(&in, &b, NULL, 0);
	drain_init(&d, &b);
	/* kill_at == T0: the trigger goes straight to kill, never to stop. */
	assert_int_equal(drain_trigger(&d, T0),
			 DRAIN_ACT_UNREADY | DRAIN_ACT_PHASE | DRAIN_ACT_KILL);
	assert_int_equal(d.phase, DRAIN_KILL);
	assert_int_equal(drain_kill_at(&d), T0);
	assert_int_equal(drain_stop_at(&d), T0);
}

/* ---- phase names ---- */

static void test_phase_names(void **state)
{
	(void)state;
	static const char *const want[DRAIN_PHASES] = {
		"serving", "unready", "propagate", "drain", "stop", "kill", "done",
	};

	for (int p = 0; p < DRAIN_PHASES; p++) {
		enum drain_phase back = DRAIN_PHASES;

		assert_string_equal(drain_phase_name((enum drain_phase)p), want[p]);
		assert_int_equal(drain_phase_parse(drain_phase_name((enum drain_phase)p), &back),
				 0);
		assert_int_equal(back, p);
	}
	assert_string_equal(drain_phase_name(DRAIN_PHASES), "unknown");
	assert_string_equal(drain_phase_name((enum drain_phase)99), "unknown");
}

static void test_phase_parse(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "Serving", "STOP", "drain ", " drain", "drainedx", "unknown", "kil", "done\n",
	};
	enum drain_phase p = DRAIN_SERVING;

	assert_int_equal(drain_phase_parse("drained", &p), 0);
	assert_int_equal(p, DRAIN_STOP);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = DRAIN_KILL;
		assert_int_equal(drain_phase_parse(bad[i], &p), -EINVAL);
		assert_int_equal(p, DRAIN_KILL); /* untouched */
	}
}

/* ---- random event sequences ---- */

enum ev { EV_TRIGGER, EV_TRAFFIC, EV_INFLIGHT, EV_CHILD, EV_GONE, EV_TICK };

static void test_random_sequences(void **state)
{
	(void)state;
	int seen[DRAIN_PHASES] = { 0 }, stop_then_kill = 0;

	rng_state = 0x1a57ca11ULL;
	for (int run = 0; run < 1000; run++) {
		struct drain_budget in = random_budget(), b;
		struct drain d;
		int64_t now = rnd(100000);
		int n_events = 1 + (int)rnd(200), stops = 0, kills = 0, dones = 0;
		int64_t stop_time = -1;

		drain_budget_fit(&in, &b, NULL, 0);
		drain_init(&d, &b);
		for (int i = 0; i < n_events; i++) {
			enum drain_phase before = d.phase;
			int64_t t0_before = d.t0;
			int64_t r = rnd(100);
			enum ev ev;
			unsigned act;

			/* Time never goes back; often it stands still. */
			if (rnd(3) != 0)
				now += rnd(4) == 0 ? rnd(20000) : rnd(1500);
			if (r < 8)
				ev = EV_TRIGGER;
			else if (r < 35)
				ev = EV_TRAFFIC;
			else if (r < 70)
				ev = EV_INFLIGHT;
			else if (r < 73)
				ev = EV_CHILD;
			else if (r < 75)
				ev = EV_GONE;
			else
				ev = EV_TICK;
			switch (ev) {
			case EV_TRIGGER:
				act = drain_trigger(&d, now);
				break;
			case EV_TRAFFIC:
				act = rnd(10) == 0 ? drain_removed(&d, now)
						   : drain_traffic(&d, now, rnd(2), rnd(2));
				break;
			case EV_INFLIGHT:
				act = drain_inflight(&d, now, (int)rnd(5) - 1);
				break;
			case EV_CHILD:
				act = drain_child_exited(&d, now);
				break;
			case EV_GONE:
				act = drain_all_gone(&d, now);
				break;
			default:
				act = drain_tick(&d, now);
				break;
			}

			/* Forward only; the phase bit says whether it moved. */
			assert_true(d.phase >= before);
			assert_int_equal(!!(act & DRAIN_ACT_PHASE), d.phase != before);
			assert_int_equal(act & ~31u, 0);
			/* The pinned verdict is a reason to stop, never alone. */
			if (act & DRAIN_ACT_PINNED) {
				assert_true(act & DRAIN_ACT_STOP);
				assert_true(before < DRAIN_STOP);
				assert_int_equal(d.pinned_at, now);
			}
			if (before == DRAIN_SERVING && ev != EV_TRIGGER && ev != EV_GONE)
				assert_int_equal(act, 0);
			/* T0 is set once, by the first trigger. */
			if (t0_before >= 0)
				assert_int_equal(d.t0, t0_before);
			if (act & DRAIN_ACT_UNREADY)
				assert_int_equal(d.t0, now);
			if (act & DRAIN_ACT_STOP) {
				stops++;
				stop_time = now;
				assert_int_equal(d.phase, DRAIN_STOP);
				assert_true(now < drain_kill_at(&d));
				assert_true(now >= d.t0);
			}
			if (act & DRAIN_ACT_KILL) {
				kills++;
				assert_int_equal(d.phase, DRAIN_KILL);
				assert_true(now >= drain_kill_at(&d));
				assert_true(stop_time < 0 || stop_time <= now);
			}
			if (d.phase == DRAIN_DONE && before != DRAIN_DONE)
				dones++;
			assert_true(stops <= 1);
			assert_true(kills <= 1);
			assert_true(dones <= 1);
			/* A repeated trigger changes nothing, by contract, even when
			 * late; every other event re-evaluates the deadlines. */
			bool settles = !(ev == EV_TRIGGER && before != DRAIN_SERVING);
			/* Past kill_at, any event leaves the drain in kill or done. */
			if (settles && d.t0 >= 0 && now >= drain_kill_at(&d))
				assert_true(d.phase >= DRAIN_KILL);
			/* The next deadline is in the future, or there is none. */
			int64_t next = drain_next_deadline(&d);
			if (d.phase == DRAIN_SERVING || d.phase >= DRAIN_KILL)
				assert_int_equal(next, -1);
			else if (settles)
				assert_true(next > now && next <= drain_kill_at(&d));
			/* Each phase reached has a start time, in order. */
			int64_t last = -1;
			for (int p = DRAIN_UNREADY; p <= (int)d.phase && p < DRAIN_DONE; p++) {
				if (d.at[p] < 0)
					continue;
				assert_true(d.at[p] >= last);
				assert_true(d.at[p] <= now);
				last = d.at[p];
			}
			for (int p = (int)d.phase + 1; p < DRAIN_PHASES; p++)
				assert_int_equal(d.at[p], -1);
		}
		seen[d.phase]++;
		stop_then_kill += stops && kills;
	}
	/* The walk reached every final phase, and the full path too. */
	for (int p = DRAIN_SERVING; p < DRAIN_PHASES; p++) {
		if (p != DRAIN_UNREADY)
			assert_true(seen[p] > 0);
	}
	assert_true(stop_then_kill > 0);
}

/* What the shell and the reports read, through the accessors. */
static void test_accessors(void **state)
{
	struct drain d;

	(void)state;
	drain_init(&d, &DEF);
	assert_int_equal(drain_phase_now(&d), DRAIN_SERVING);
	assert_int_equal(drain_t0(&d), -1);
	assert_int_equal(drain_since_t0(&d, T0 + 5), -1);
	assert_int_equal(drain_phase_ms(&d, DRAIN_UNREADY), -1);
	assert_int_equal(drain_budget(&d)->grace_ms, 30000);
	drain_trigger(&d, T0);
	assert_int_equal(drain_phase_now(&d), DRAIN_PROPAGATE);
	assert_int_equal(drain_t0(&d), T0);
	assert_int_equal(drain_since_t0(&d, T0 + 5), 5);
	assert_int_equal(drain_phase_ms(&d, DRAIN_UNREADY), 0);
	assert_int_equal(drain_phase_ms(&d, DRAIN_PROPAGATE), 0);
	drain_tick(&d, T0 + 2000);
	assert_int_equal(drain_phase_ms(&d, DRAIN_DRAIN), 2000);
	assert_int_equal(drain_phase_ms(&d, DRAIN_STOP), -1);
	assert_int_equal(drain_phase_ms(&d, DRAIN_PHASES), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_defaults_unchanged),
		cmocka_unit_test(test_budget_tight_grace_compresses),
		cmocka_unit_test(test_budget_why_truncated),
		cmocka_unit_test(test_budget_margin_halved),
		cmocka_unit_test(test_budget_tiny_grace),
		cmocka_unit_test(test_budget_max_raised_to_min),
		cmocka_unit_test(test_budget_caps_quiet_and_max),
		cmocka_unit_test(test_budget_random_invariants),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_refit_shorter_moves_deadlines),
		cmocka_unit_test(test_refit_longer_ignored),
		cmocka_unit_test(test_refit_past_deadline_kills),
		cmocka_unit_test(test_refit_before_trigger),
		cmocka_unit_test(test_trigger_unready_then_propagate),
		cmocka_unit_test(test_trigger_idempotent),
		cmocka_unit_test(test_propagate_min_delay),
		cmocka_unit_test(test_propagate_quiet_after_traffic),
		cmocka_unit_test(test_propagate_traffic_before_trigger_ignored),
		cmocka_unit_test(test_propagate_capped_by_max_delay),
		cmocka_unit_test(test_propagate_capped_by_stop_at),
		cmocka_unit_test(test_drain_idle_samples),
		cmocka_unit_test(test_drain_ignores_samples_before_it),
		cmocka_unit_test(test_drain_busy_sample_resets),
		cmocka_unit_test(test_drain_failed_sample_ignored),
		cmocka_unit_test(test_drain_ends_at_stop_at),
		cmocka_unit_test(test_kill_at_deadline),
		cmocka_unit_test(test_kill_when_late),
		cmocka_unit_test(test_late_repeat_trigger),
		cmocka_unit_test(test_child_exit_during_propagate),
		cmocka_unit_test(test_child_exit_during_drain),
		cmocka_unit_test(test_child_exit_before_trigger),
		cmocka_unit_test(test_all_gone),
		cmocka_unit_test(test_events_before_trigger),
		cmocka_unit_test(test_zero_grace),
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test(test_phase_parse),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_pinned_after_max_delay),
		cmocka_unit_test(test_not_pinned_while_new_connections),
		cmocka_unit_test(test_long_requests_are_waited_for),
		cmocka_unit_test(test_pinned_after_quiet),
		cmocka_unit_test(test_pinned_needs_quiet_connections),
		cmocka_unit_test(test_removed_ends_propagation),
		cmocka_unit_test(test_removed_waits_for_new_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
