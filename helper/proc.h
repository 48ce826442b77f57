/* proc.h - the process tree from /proc. */
#ifndef LASTCALL_PROC_H
#define LASTCALL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc_stat {
	pid_t pid;
	pid_t ppid;
	pid_t pgrp;
	char state;
	unsigned long long starttime; /* clock ticks after boot; 0 if cut */
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
int proc_descendants(pid_t pid, pid_t pgrp, pid_t *out, size_t cap, size_t *ret_n);

/*
 * Whether pid is a live process: /proc/PID/stat exists and is not a zombie
 * (a process that is not our child stays a zombie until its parent reaps
 * it, and kill(pid, 0) still succeeds on it).
 */
bool proc_alive(pid_t pid);

/* Whether pid is the one to prefer among several of a name. */
typedef bool proc_prefer_fn(pid_t pid, void *data);

/*
 * Finds the main process called name: its comm (at most 15 characters) or
 * the base name of its argv[0] equals name, and its parent does not match
 * too (nginx's master, not its workers). Of several, one that prefer (may
 * be NULL; asked only when there is a choice) likes, then the oldest.
 * Skips skip (ourselves). Returns 0 with *ret_pid, -ESRCH when none
 * matches, or a negative errno when /proc cannot be read.
 */
int proc_find(const char *name, pid_t skip, proc_prefer_fn *prefer, void *data, pid_t *ret_pid);

/* Whether pid is called name, by the rule proc_find uses. */
bool proc_is_named(pid_t pid, const char *name);

/* Parses a pid file's text: a decimal pid > 0, optionally followed by
 * whitespace. Pure. 0 or -EINVAL. */
int proc_parse_pid(const char *buf, size_t len, pid_t *ret_pid);

/* Reads a pid file. 0, -EINVAL (not a pid) or open/read's negative errno. */
int proc_read_pid_file(const char *path, pid_t *ret_pid);

#endif
