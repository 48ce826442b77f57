/* fuzz_proc.c - what lastcall reads of other processes: /proc/PID/stat
 * (proc_parse_stat: comm may hold anything, ')' and newlines included),
 * a pid file (proc_parse_pid, --pid-file), and comm and cmdline
 * (proc_named, which --target-process and --process match against).
 *
 * proc_named and read_stat are proc.c's statics, reading through a
 * directory fd as they read /proc: proc.c is included to reach them (the
 * target is linked without proc.o), and the files are written into a
 * directory of this process's own, laid out as /proc/PID.
 *
 * Input: byte 0 picks what is read. Pure parsers get the rest as the
 * bytes read. Through files: NAME NUL COMM NUL CMDLINE, where CMDLINE is
 * the rest (NULs between its arguments), and the stat file is the rest.
 */
#include "../../helper/proc.c"

#include <sys/stat.h>

#include "fuzz.h"

static char dir_path[64];
static int dir_fd = -1;

static void cleanup(void)
{
	static const char *const files[] = { "1/stat", "1/comm", "1/cmdline" };

	if (dir_fd < 0)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlinkat(dir_fd, files[i], 0);
	unlinkat(dir_fd, "1", AT_REMOVEDIR);
	close(dir_fd);
	rmdir(dir_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir_path, sizeof(dir_path), "%s/lastcall-fuzz-proc.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir_path)) {
		perror("fuzz_proc: mkdtemp");
		exit(1);
	}
	dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 || mkdirat(dir_fd, "1", 0700) < 0) {
		perror("fuzz_proc: the /proc/PID stand-in");
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

static void put(const char *name, const void *data, size_t size)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static void check_stat(const struct proc_stat *st)
{
	FUZZ_ASSERT(st->pid > 0);
	FUZZ_ASSERT(isalpha((unsigned char)st->state));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_stat st;
	pid_t pid;
	char *bytes;

	if (size < 1 || size > PROC_CMDLINE_MAX + 256)
		return 0;
	data++, size--;
	switch (data[-1] % 4) {
	case 0:
		bytes = fuzz_bytes(data, size);
		if (bytes && proc_parse_stat(bytes, size, &st) == 0)
			check_stat(&st);
		free(bytes);
		break;
	case 1:
		bytes = fuzz_bytes(data, size);
		if (bytes && proc_parse_pid(bytes, size, &pid) == 0)
			FUZZ_ASSERT(pid > 0);
		free(bytes);
		break;
	case 2:
		put("1/stat", data, size);
		if (read_stat(dir_fd, "1", &st) == 0)
			check_stat(&st);
		break;
	default: {
		char *name = fuzz_cstr(data, size);
		size_t off = name ? strlen(name) + 1 : size;
		const uint8_t *comm = data + (off < size ? off : size);
		size_t comm_len = strnlen((const char *)comm, size - (size_t)(comm - data));
		size_t rest = (size_t)(comm - data) + comm_len + 1;

		if (name && strlen(name) < 256) {
			put("1/comm", comm, comm_len);
			put("1/cmdline", data + (rest < size ? rest : size),
			    rest < size ? size - rest : 0);
			proc_named(dir_fd, "1", name);
		}
		free(name);
		break;
	}
	}
	return 0;
}
