/* proc.h - the process tree from /proc. */
#ifndef LASTCALL_PROC_H
#define LASTCALL_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct proc_stat {
	pid_t pid;
	pid_t ppid;
	pid_t pgrp;
	char state;
};

/*
 * Parses the text of /proc/PID/stat. comm may hold spaces and ')' so the
 * fields after it are found from the last ')'. Pure. 0 or -EINVAL.
 */
int proc_parse_stat(const char *buf, size_t len, struct proc_stat *ret);

/*
 * Finds the live descendants of pid (not pid itself) plus every member of
 * process group pgrp (when > 0), skipping zombies. Writes up to cap pids
 * into out; *ret_n is the number written. Returns 0, or a negative errno
 * when /proc cannot be read.
 */
int proc_descendants(pid_t pid, pid_t pgrp, pid_t *out, size_t cap,
		     size_t *ret_n);

#endif
