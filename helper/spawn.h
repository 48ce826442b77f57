/* spawn.h - start the command in its own process group. */
#ifndef LASTCALL_SPAWN_H
#define LASTCALL_SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Records the fds open now as the ones lastcall was started with: they,
 * and every fd from SPAWN_FDS_MAX on, pass to the child of spawn_child;
 * every other fd is closed on its exec. Call it first thing in main,
 * before any library can open an fd. Without it, spawn_child leaves the
 * fds as they are.
 */
void spawn_init(void);

/*
 * Finds file the way execvp does: as given when it holds a '/', else in
 * each directory of path (PATH; NULL means the default). Returns 0 with
 * the path in out, -ENOENT when nothing matches, -EACCES when only
 * non-executable candidates exist, -ENAMETOOLONG.
 */
int spawn_resolve(const char *file, const char *path, char *out, size_t size);

/* Whose failure a failed spawn_child is: CMD's (it cannot be found or
 * executed: 127, 126), or lastcall's, before any CMD could run (fork
 * refused by the pids limit, no memory, no fd for the error pipe: 125). */
enum spawn_failure {
	SPAWN_FAILED_EXEC,
	SPAWN_FAILED_START,
};

/*
 * Forks and executes argv[0] (resolved with PATH) in a new process group,
 * with the signal mask orig_mask and every disposition back at default.
 * If stdin is a terminal whose foreground group we are in, the child's
 * group becomes the foreground one. Only the fds spawn_init recorded
 * reach the child: the others are marked close-on-exec here (for good: we
 * exec nothing else). Returns 0 and the child's pid once the exec has
 * succeeded, or a negative errno: the exec's (ENOENT, EACCES...) or
 * fork's (EAGAIN...), and then *failure says which.
 */
int spawn_child(char *const argv[], const sigset_t *orig_mask, pid_t *ret_pid,
		enum spawn_failure *failure);

#endif
