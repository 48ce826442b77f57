/* fuzz_client.c - an instance's GET /status answer as `lastcall prestop`
 * reads it while it waits (client_status_parse): the phase and the ms
 * since T0. The answer comes over the control socket or, with
 * --control http://HOST:PORT, from whatever answers there.
 *
 * Input: the body, handed over as client.c hands one (NUL after it).
 */
#include <string.h>

#include "client.h"
#include "limits.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char phase[32];
	long long ms = 0;
	char *body;

	if (size > FETCH_BODY_MAX)
		return 0;
	body = fuzz_body(data, size);
	if (!body)
		return 0;
	memset(phase, 'x', sizeof(phase));
	if (client_status_parse(body, size, phase, sizeof(phase), &ms) == 0)
		FUZZ_ASSERT(memchr(phase, '\0', sizeof(phase)));
	else
		FUZZ_ASSERT(phase[0] == '\0' && ms == -1);
	free(body);
	return 0;
}
