/* sample.c - see sample.h. */
#include "sample.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

struct sample {
	uint16_t ports[PORTS_MAX];
	size_t n_ports;
	bool given;		 /* the ports were given: never discovered */
	struct conn *prev, *cur; /* two dumps, sorted by cookie */
	size_t n_prev;
	bool have_prev;
	struct conn_stats stats;
	bool stats_valid;
	size_t dropped;		/* left out of the last dump */
	struct conn *listeners; /* the namespace's listening sockets */
	uint64_t seen_sig;	/* their signature when the ports were found */
	uint64_t new_sig;	/* ...and at the last look */
	bool seen_valid;
};

int sample_new(const uint16_t *ports, size_t n, struct sample **ret)
{
	struct sample *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->prev = calloc(CONN_MAX, sizeof(*s->prev));
	s->cur = calloc(CONN_MAX, sizeof(*s->cur));
	s->listeners = calloc(CONN_LISTEN_MAX, sizeof(*s->listeners));
	if (!s->prev || !s->cur || !s->listeners) {
		sample_free(s);
		return -ENOMEM;
	}
	if (n > PORTS_MAX)
		n = PORTS_MAX;
	if (n)
		memcpy(s->ports, ports, n * sizeof(ports[0]));
	s->n_ports = n;
	s->given = n > 0;
	*ret = s;
	return 0;
}

void sample_free(struct sample *s)
{
	if (!s)
		return;
	free(s->prev);
	free(s->cur);
	free(s->listeners);
	free(s);
}

bool sample_discovers(const struct sample *s)
{
	return !s->given;
}

int sample_listeners_changed(struct sample *s)
{
	uint64_t sig = 1469598103934665603ULL; /* FNV-1a over inode, port */
	size_t n = 0;

	if (s->given)
		return 0;
	if (conn_dump(1u << CONN_TCP_LISTEN, NULL, 0, s->listeners, CONN_LISTEN_MAX, &n) < 0)
		return 1; /* not known: look */
	/* The dump's order is the kernel's hash order: sum the entries'
	 * hashes so that it does not matter. */
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ULL;
		uint64_t v = ((uint64_t)s->listeners[i].inode << 16) | s->listeners[i].lport;

		for (int b = 0; b < 6; b++, v >>= 8)
			h = (h ^ (v & 0xff)) * 1099511628211ULL;
		sig += h;
	}
	sig += n;
	s->new_sig = sig;
	return !s->seen_valid || sig != s->seen_sig;
}

int sample_discover(struct sample *s, const pid_t *pids, size_t n)
{
	uint16_t ports[PORTS_MAX];
	size_t np = 0;
	int r;

	if (s->given)
		return 0;
	/* The app runs (the caller asks only then) but none of its processes
	 * was seen: its tree could not be read (each /proc/PID/stat takes a
	 * descriptor), which says nothing about where it listens. */
	if (pids && n == 0)
		return -ESRCH;
	r = conn_listen_ports(pids, n, ports, PORTS_MAX, &np);
	if (r < 0)
		return r;
	s->seen_sig = s->new_sig;
	s->seen_valid = true;
	if (np == s->n_ports && memcmp(ports, s->ports, np * sizeof(ports[0])) == 0)
		return 0;
	memcpy(s->ports, ports, np * sizeof(ports[0]));
	s->n_ports = np;
	return 1;
}

void sample_forget(struct sample *s)
{
	if (!s->given)
		s->n_ports = 0;
	s->have_prev = false;
	s->seen_valid = false;
}

size_t sample_ports(const struct sample *s, const uint16_t **ret)
{
	*ret = s->ports;
	return s->n_ports;
}

void sample_ports_text(const struct sample *s, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_ports && len < size; i++) {
		int w = snprintf(buf + len, size - len, "%s%u", i ? "," : "", s->ports[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	if (s->n_ports == 0)
		snprintf(buf, size, "none");
}

int sample_take(struct sample *s, int *ret_conns, int *ret_requests)
{
	struct conn *t;
	size_t n = 0;
	int r;

	if (s->n_ports == 0) {
		s->stats_valid = false;
		return -ENOENT;
	}
	r = conn_dump(1u << CONN_TCP_ESTABLISHED, s->ports, s->n_ports, s->cur, CONN_MAX, &n);
	if (r < 0)
		return r; /* the last good counts stay */
	s->dropped = (size_t)r;
	conn_sort(s->cur, n);
	conn_compare(s->prev, s->have_prev ? s->n_prev : 0, s->cur, n, s->ports, s->n_ports,
		     &s->stats);
	*ret_conns = s->have_prev ? s->stats.new_conns : 0;
	*ret_requests = s->have_prev ? s->stats.new_requests : 0;
	t = s->prev;
	s->prev = s->cur;
	s->cur = t;
	s->n_prev = n;
	s->have_prev = true;
	s->stats_valid = true;
	return 0;
}

size_t sample_dropped(const struct sample *s)
{
	return s->stats_valid ? s->dropped : 0;
}

size_t sample_idle(const struct sample *s, struct conn *out, size_t cap)
{
	size_t n = 0;

	/* After sample_take, prev holds the last dump. */
	for (size_t i = 0; s->stats_valid && i < s->n_prev && n < cap; i++) {
		if (s->prev[i].idle)
			out[n++] = s->prev[i];
	}
	return n;
}

const struct conn_stats *sample_stats(const struct sample *s)
{
	return s && s->stats_valid ? &s->stats : NULL;
}

int64_t sample_next_ms(enum drain_phase phase, bool app_ready, int64_t sample_ms, int64_t *seek_ms)
{
	int64_t interval;

	if (phase >= DRAIN_STOP)
		return -1;
	if (phase != DRAIN_SERVING)
		return sample_ms;
	if (app_ready)
		return SAMPLE_IDLE_MS;
	interval = *seek_ms;
	*seek_ms = *seek_ms * 2 > SAMPLE_IDLE_MS ? SAMPLE_IDLE_MS : *seek_ms * 2;
	return interval;
}
