/* fuzz_app.c - the app's answer to --app-inflight-url, {"inflight": N},
 * through app_inflight_parse.
 *
 * Input: the body, handed over as fetch.c hands one (NUL after it).
 */
#include <limits.h>
#include <string.h>

#include "app.h"
#include "limits.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	char *body;
	int n = -1;

	if (size > FETCH_BODY_MAX)
		return 0;
	body = fuzz_body(data, size);
	if (!body)
		return 0;
	memset(err, 0, sizeof(err));
	if (app_inflight_parse(body, size, &n, err, sizeof(err)) == 0)
		FUZZ_ASSERT(n >= 0 && n <= INT_MAX);
	else
		FUZZ_ASSERT(err[0] && memchr(err, '\0', sizeof(err)) && n == -1);
	free(body);
	return 0;
}
