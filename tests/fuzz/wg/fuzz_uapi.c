/* Fuzz target for the UAPI parser and applier: each input is one request against a live
 * device (its datagrams switched off so nothing leaves while fuzzing).  Inputs that would
 * rebind the UDP port are skipped, so the fuzzer never grabs ports others use; the device
 * is reset every 256 inputs so state stays bounded. */
#include <stdlib.h>
#include <string.h>

#include "wg/internal.h"

static uv_loop_t loop;
static struct wg_device *dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned int runs;
	char *reply = NULL;
	size_t reply_len;

	if (!dev) {
		struct wg_device_config cfg = { .name = "fuzzU" };
		uv_loop_init(&loop);
		if (wg_device_new(&loop, &cfg, NULL, NULL, &dev) < 0)
			return 0;
		dev->tx_disabled = true;
	}
	if (memmem(data, size, "listen_port", 11))
		return 0;
	if (wg_device_uapi_request(dev, (const char *)data, size, &reply, &reply_len) == 0) {
		/* every answer is text that ends with errno=N and a blank line */
		if (reply_len < 9 || memcmp(reply + reply_len - 2, "\n\n", 2) != 0)
			__builtin_trap();
		free(reply);
	}
	if (++runs % 256 == 0) {
		wg_device_peer_remove_all(dev);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	return 0;
}
