/* status.c - see status.h. */
#include "status.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int status_from_wait(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return (128 + WTERMSIG(wstatus)) & 0xff;
	return STATUS_LASTCALL_FAILED;
}

void status_map_init(struct status_map *m)
{
	for (int i = 0; i < 256; i++)
		m->to[i] = (unsigned char)i;
}

/* Parses a decimal exit code 0..255 ending at end (or at '\0'). */
static int parse_code(const char *s, char stop)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end != stop || v > 255)
		return -1;
	return (int)v;
}

int status_map_add(struct status_map *m, const char *spec, char *err, size_t errlen)
{
	int from = parse_code(spec, ':');
	const char *colon = from >= 0 ? spec + strcspn(spec, ":") : NULL;
	int to = colon ? parse_code(colon + 1, '\0') : -1;

	if (from < 0 || to < 0) {
		snprintf(err, errlen,
			 "expected FROM:TO with exit codes 0..255 (e.g. 143:0), got \"%s\"", spec);
		return -EINVAL;
	}
	m->to[from] = (unsigned char)to;
	return 0;
}

int status_map_apply(const struct status_map *m, int code)
{
	return m->to[code & 0xff];
}
