/* proc.c - see proc.h. */
#include "proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
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
	*ret = st;
	return 0;
}

static int read_stat(int dirfd, const char *name, struct proc_stat *ret)
{
	char path[64], buf[PROC_STAT_MAX];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stat", name);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	return proc_parse_stat(buf, (size_t)n, ret);
}

int proc_descendants(pid_t pid, pid_t pgrp, pid_t *out, size_t cap,
		     size_t *ret_n)
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
