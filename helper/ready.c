/* ready.c - see ready.h. */
#include "ready.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kapi.h"
#include "log.h"

bool ready_is(enum drain_phase phase, bool app_ready, bool app_running)
{
	return phase == DRAIN_SERVING && app_ready && app_running;
}

bool ready_app(bool has_ready_url, bool url_ready, size_t n_ports)
{
	return has_ready_url ? url_ready : n_ports > 0;
}

static void file_set(struct ready *r, bool on)
{
	int fd;

	if (!r->file || on == r->file_on)
		return;
	if (on) {
		/* The app may share the file's directory and run as another
		 * user: a symlink it put there is not followed (ELOOP, left
		 * alone), nor a FIFO waited on (ENXIO without a reader), so
		 * lastcall, often root, neither truncates a file the app points
		 * it at nor hangs. */
		fd = open(r->file,
			  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				  O_NONBLOCK,
			  0644);
		if (fd < 0 && errno == ELOOP) {
			log_warn("ready_file_failed", "path=%s error=%s hint=%s", r->file,
				 strerror(errno),
				 "a symlink is not followed; name the file itself");
			return;
		}
		if (fd < 0 || write(fd, "ready\n", 6) != 6) {
			log_warn("ready_file_failed", "path=%s error=%s", r->file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return;
		}
		close(fd);
	} else if (unlink(r->file) < 0 && errno != ENOENT) {
		log_warn("ready_file_failed", "path=%s error=%s", r->file, strerror(errno));
		return;
	}
	r->file_on = on;
	log_info("ready_file", "path=%s ready=%s", r->file, on ? "true" : "false");
}

void ready_init(struct ready *r, const char *file, bool on_at_start)
{
	memset(r, 0, sizeof(*r));
	r->file = file;
	/* Taken to exist: removed now unless a hook finds the app ready. */
	r->file_on = file != NULL;
	if (!on_at_start)
		file_set(r, false);
}

void ready_set(struct ready *r, bool on)
{
	file_set(r, on);
	kapi_gate(r->kapi, on);
}
