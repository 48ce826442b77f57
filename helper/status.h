/* status.h - exit status mapping. Pure. */
#ifndef LASTCALL_STATUS_H
#define LASTCALL_STATUS_H

#include <stddef.h>

/* Exit codes of lastcall's own, as env(1), timeout(1) and docker run. */
#define STATUS_LASTCALL_FAILED 125
#define STATUS_NOT_EXECUTABLE 126
#define STATUS_NOT_FOUND 127

/* The shell convention: the exit code, or 128+n when killed by signal n. */
int status_from_wait(int wstatus);

/* FROM:TO remaps of the final exit code, e.g. 143:0. */
struct status_map {
	unsigned char to[256];
};

void status_map_init(struct status_map *m);
/* Parses "FROM:TO" (0..255 each). -EINVAL with a reason in err. */
int status_map_add(struct status_map *m, const char *spec, char *err, size_t errlen);
int status_map_apply(const struct status_map *m, int code);

#endif
