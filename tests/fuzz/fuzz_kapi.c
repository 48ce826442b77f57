/* fuzz_kapi.c - the Kubernetes API server's answers: a Pod (or its
 * PartialObjectMetadata) through kapi_parse_pod, EndpointSlices (one, or
 * a page of the list) through kapi_parse_slices, and any answer, a
 * Status object or not, through kapi_error_message, which puts it into a
 * log line.
 *
 * Input: the body, handed over as fetch.c hands one (NUL after it).
 */
#include <string.h>

#include "kapi.h"
#include "limits.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kapi_pod pod;
	struct kapi_slices sl;
	char err[256], msg[KAPI_MESSAGE_MAX];
	char *body;

	if (size > FETCH_BODY_MAX)
		return 0;
	body = fuzz_body(data, size);
	if (!body)
		return 0;
	memset(err, 0, sizeof(err));
	if (kapi_parse_pod(body, size, &pod, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(memchr(pod.uid, '\0', sizeof(pod.uid)));
		FUZZ_ASSERT(pod.deletion_grace_s >= -1 && pod.deletion_grace_s <= 1000000000);
	} else {
		FUZZ_ASSERT(err[0] && memchr(err, '\0', sizeof(err)));
	}
	memset(err, 0, sizeof(err));
	if (kapi_parse_slices(body, size, "web-0", &sl, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(sl.n <= KAPI_SLICES_MAX);
		FUZZ_ASSERT(memchr(sl.cont, '\0', sizeof(sl.cont)));
		for (size_t i = 0; i < sl.n; i++)
			FUZZ_ASSERT(memchr(sl.v[i].name, '\0', sizeof(sl.v[i].name)));
	} else {
		FUZZ_ASSERT(err[0] && memchr(err, '\0', sizeof(err)));
	}
	/* One line, within the buffer. */
	kapi_error_message(body, size, msg, sizeof(msg));
	FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) && !strpbrk(msg, "\n\r"));
	free(body);
	return 0;
}
