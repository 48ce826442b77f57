/* proc.c - see proc.h. */
#include "proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits.h"

static bool parse_pid_field(const char **p, pid_t *ret)
{
	char *end;
	long v;

	while (**p == ' ')
		(*p)++;
	if (!isdigit((unsigned char)**p) && **p != '-')
		return false;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno || end == *p || (*end != ' ' && *end != '\0' && *end != '\n'))
		return false;
	*ret = (pid_t)v;
	*p = end;
	return true;
}

int proc_parse_stat(const char *buf, size_t len, struct proc_stat *ret)
{
	char tmp[PROC_STAT_MAX];
	struct proc_stat st;
	const char *p, *rparen;

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	p = tmp;
	if (!parse_pid_field(&p, &st.pid) || st.pid <= 0)
		return -EINVAL;
	rparen = strrchr(tmp, ')');
	if (!rparen || rparen < p || rparen[1] != ' ')
		return -EINVAL;
	p = rparen + 2;
	if (!isalpha((unsigned char)*p) || p[1] != ' ')
		return -EINVAL;
	st.state = *p;
	p += 2;
	if (!parse_pid_field(&p, &st.ppid) || !parse_pid_field(&p, &st.pgrp))
		return -EINVAL;
	/* starttime is field 22: 17 more after pgrp (field 5). */
	st.starttime = 0;
	for (int field = 6; field <= 22 && *p; field++) {
		while (*p == ' ')
			p++;
		if (field == 22) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(p, &end, 10);
			if (!errno && end != p)
				st.starttime = v;
			break;
		}
		p += strcspn(p, " ");
	}
	*ret = st;
	return 0;
}

/* Reads DIR/FILE (relative to dirfd) into buf, NUL-terminated: at most
 * size - 1 bytes, one read (enough for /proc's one-shot files). Returns
 * the length, or a negative errno. */
static ssize_t read_at(int dirfd, const char *dir, const char *file, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return n;
}

static int read_stat(int dirfd, const char *name, struct proc_stat *ret)
{
	char buf[PROC_STAT_MAX];
	ssize_t n = read_at(dirfd, name, "stat", buf, sizeof(buf));

	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	return proc_parse_stat(buf, (size_t)n, ret);
}

int proc_descendants(pid_t pid, pid_t pgrp, pid_t *out, size_t cap, size_t *ret_n)
{
	struct proc_stat *all = NULL;
	size_t n_all = 0, n_out = 0;
	DIR *dir = NULL;
	struct dirent *de;
	int r = 0;

	all = calloc(PROC_SCAN_MAX, sizeof(*all));
	if (!all)
		return -ENOMEM;
	dir = opendir("/proc");
	if (!dir) {
		r = -errno;
		goto out_free;
	}
	while ((de = readdir(dir)) && n_all < PROC_SCAN_MAX) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		/* Gone since readdir, or unreadable: not ours to wait for. */
		if (read_stat(dirfd(dir), de->d_name, &all[n_all]) < 0)
			continue;
		if (all[n_all].state == 'Z' || all[n_all].pid == pid)
			continue;
		n_all++;
	}

	/* Mark descendants by walking parents; the tree is small, the walk
	 * is n^2 at worst and runs only while shutting down. */
	bool *mark = calloc(n_all ? n_all : 1, sizeof(*mark));
	if (!mark) {
		r = -ENOMEM;
		goto out_dir;
	}
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n_all; i++) {
			if (mark[i])
				continue;
			bool hit = all[i].ppid == pid || (pgrp > 0 && all[i].pgrp == pgrp);
			for (size_t j = 0; !hit && j < n_all; j++)
				hit = mark[j] && all[j].pid == all[i].ppid;
			if (hit) {
				mark[i] = true;
				changed = true;
			}
		}
	}
	for (size_t i = 0; i < n_all && n_out < cap; i++) {
		if (mark[i])
			out[n_out++] = all[i].pid;
	}
	free(mark);
	*ret_n = n_out;
out_dir:
	closedir(dir);
out_free:
	free(all);
	return r;
}

bool proc_alive(pid_t pid)
{
	char path[32];
	struct proc_stat st;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	bool alive = read_stat(dfd, ".", &st) == 0 && st.state != 'Z' && st.state != 'X';
	close(dfd);
	return alive;
}

/* Whether process dir (a /proc entry) is called name. */
static bool proc_named(int procfd, const char *dir, const char *name)
{
	char buf[PROC_CMDLINE_MAX];

	if (read_at(procfd, dir, "comm", buf, 17) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, name) == 0)
			return true;
	}
	/* comm is cut at 15 characters, and interpreters rename it.
	 * argv[0] ends at the first NUL. */
	if (read_at(procfd, dir, "cmdline", buf, sizeof(buf)) <= 0)
		return false;
	const char *base = strrchr(buf, '/');
	return strcmp(base ? base + 1 : buf, name) == 0;
}

bool proc_is_named(pid_t pid, const char *name)
{
	char dir[16];

	snprintf(dir, sizeof(dir), "%d", (int)pid);
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return false;
	bool r = proc_named(procfd, dir, name);
	close(procfd);
	return r;
}

int proc_find(const char *name, pid_t skip, proc_prefer_fn *prefer, void *data, pid_t *ret_pid)
{
	struct proc_stat *hits;
	size_t n = 0, seen = 0;
	DIR *dir;
	struct dirent *de;
	int r = -ESRCH;

	hits = calloc(PROC_FIND_MAX, sizeof(*hits));
	if (!hits)
		return -ENOMEM;
	dir = opendir("/proc");
	if (!dir) {
		r = -errno;
		free(hits);
		return r;
	}
	while ((de = readdir(dir)) && seen++ < PROC_SCAN_MAX && n < PROC_FIND_MAX) {
		struct proc_stat st;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (read_stat(dirfd(dir), de->d_name, &st) < 0 || st.pid == skip ||
		    st.state == 'Z' || st.state == 'X')
			continue;
		if (proc_named(dirfd(dir), de->d_name, name))
			hits[n++] = st;
	}
	closedir(dir);
	/* Main processes only (not a child of another hit); of those, one
	 * prefer likes (asked only when there is a choice), then the oldest. */
	const struct proc_stat *best = NULL;
	bool is_main[PROC_FIND_MAX], best_liked = false;
	size_t mains = 0;
	for (size_t i = 0; i < n; i++) {
		is_main[i] = true;
		for (size_t j = 0; j < n && is_main[i]; j++)
			is_main[i] = hits[j].pid != hits[i].ppid;
		mains += is_main[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_main[i])
			continue;
		bool liked = mains > 1 && prefer && prefer(hits[i].pid, data);
		bool older = !best || hits[i].starttime < best->starttime ||
			     (hits[i].starttime == best->starttime && hits[i].pid < best->pid);

		if (!best || (liked && !best_liked) || (liked == best_liked && older)) {
			best = &hits[i];
			best_liked = liked;
		}
	}
	if (best) {
		*ret_pid = best->pid;
		r = 0;
	}
	free(hits);
	return r;
}

int proc_parse_pid(const char *buf, size_t len, pid_t *ret_pid)
{
	char tmp[32];
	char *end;
	long v;

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	if (!isdigit((unsigned char)tmp[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(tmp, &end, 10);
	if (errno || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
		end++;
	if (*end)
		return -EINVAL;
	*ret_pid = (pid_t)v;
	return 0;
}

int proc_read_pid_file(const char *path, pid_t *ret_pid)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return proc_parse_pid(buf, (size_t)n, ret_pid);
}
