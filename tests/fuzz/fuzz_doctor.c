/* fuzz_doctor.c - what `lastcall doctor` reads: YAML (libyaml's events
 * into cJSON, scalars resolved, anchors copied and counted, merge keys)
 * or JSON, through kobj_parse; then every rule over what it read
 * (doctor_check) and the three writers.
 *
 * Input: the bytes of one file, as the doctor reads one (no NUL after).
 * Promises: an error has a reason and a line within the input; what is
 * read stays within the limits and is a Kubernetes object; findings name
 * their rule, a field path and a why, and their lines are in the input;
 * the JSON and SARIF writers give JSON that parses back.
 */
#include <errno.h>
#include <string.h>

#include "doctor.h"
#include "kobj.h"
#include "limits.h"

#include "fuzz.h"

#define FINDINGS 256

/* The lines of the input as YAML counts them (libyaml's marks): a break
 * is LF, CRLF, a CR alone, NEL, LS or PS. JSON's lines (LF only) are never
 * more. */
static int lines_in(const uint8_t *data, size_t size)
{
	int n = 1;

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n')))
			n++;
		else if (i + 1 < size && data[i] == 0xc2 && data[i + 1] == 0x85)
			n++;
		else if (i + 2 < size && data[i] == 0xe2 && data[i + 1] == 0x80 &&
			 (data[i + 2] == 0xa8 || data[i + 2] == 0xa9))
			n++;
	}
	return n;
}

/* A writer's output, which must parse back as JSON. */
static void json_back(int (*write)(FILE *, const struct doctor_out *), const struct doctor_out *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cJSON *j;

	if (!f)
		return;
	if (write(f, o) < 0) {
		fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	j = cJSON_ParseWithLength(buf, len);
	FUZZ_ASSERT(j != NULL);
	cJSON_Delete(j);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct doctor_finding found[FINDINGS];
	static const char *const files[] = { "input" };
	struct kobj_set *s = NULL;
	char err[256], *buf;
	size_t n = 0, dropped = 0;
	int line = -1, r, last = lines_in(data, size);

	if (size > 256 * 1024)
		return 0;
	buf = fuzz_bytes(data, size);
	if (!buf || kobj_set_new(&s) < 0)
		goto out;
	memset(err, 0, sizeof(err));
	r = kobj_parse(s, 0, buf, size, &line, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_ASSERT(line >= 0 && line <= last);
	if (r < 0) {
		FUZZ_ASSERT(err[0] && memchr(err, '\0', sizeof(err)) && !strchr(err, '\n'));
		goto out;
	}
	FUZZ_ASSERT(kobj_count(s) <= KOBJ_OBJECTS_MAX);
	for (size_t i = 0; i < kobj_count(s); i++) {
		const struct kobj *o = kobj_at(s, i);

		FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o->obj, "kind")));
		FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o->obj, "apiVersion")));
		FUZZ_ASSERT(o->line >= 1 && o->line <= last);
	}
	doctor_check(s, found, FINDINGS, &n, &dropped);
	FUZZ_ASSERT(n <= FINDINGS);
	for (size_t i = 0; i < n; i++) {
		const struct doctor_finding *f = &found[i];
		int l = kobj_line(s, f->at);

		FUZZ_ASSERT(f->rule && f->object < kobj_count(s));
		FUZZ_ASSERT(memchr(f->path, '\0', sizeof(f->path)) && f->path[0]);
		FUZZ_ASSERT(memchr(f->why, '\0', sizeof(f->why)) && f->why[0]);
		FUZZ_ASSERT(memchr(f->fix, '\0', sizeof(f->fix)) && f->fix[0]);
		FUZZ_ASSERT(l >= 0 && l <= last);
	}
	struct doctor_out o = { .set = s, .files = files, .v = found, .n = n, .version = "fuzz" };
	json_back(doctor_write_json, &o);
	json_back(doctor_write_sarif, &o);
out:
	kobj_set_free(s);
	free(buf);
	return 0;
}
