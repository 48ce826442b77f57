/* fuzz_kapi.c - the Kubernetes API server's answers: a Pod (or its
 * PartialObjectMetadata) through kapi_parse_pod, and any answer, a
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
	/* One line, within the buffer. */
	kapi_error_message(body, size, msg, sizeof(msg));
	FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) && !strpbrk(msg, "\n\r"));
	free(body);
	return 0;
}
