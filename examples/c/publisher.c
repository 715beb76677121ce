/* A publisher: COUNT QoS 1 messages with a content type, then waits until the server has
 * acknowledged every one of them.
 *
 *   publisher HOST PORT COUNT
 *
 * Build: cc publisher.c $(pkg-config --cflags --libs tether)   (see README) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tether.h"

static int fail(const char *what, tether_result r) {
    fprintf(stderr, "%s: %s: %s\n", what, tether_result_str(r), tether_last_error());
    return 1;
}

/* Called on the client's dispatch thread as each message is acknowledged (or fails). */
static void on_delivery(void *user_data, uint64_t token, tether_result result, uint8_t reason) {
    (void)user_data;
    printf("delivery %llu: %s (reason code 0x%02x)\n", (unsigned long long)token,
           tether_result_str(result), reason);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT COUNT\n", argv[0]);
        return 2;
    }
    tether_options *options = tether_options_new("tether-example-publisher");
    tether_client *client = NULL;
    tether_result r = tether_client_new(options, &client);
    tether_options_free(options);
    if (r != TETHER_OK) return fail("client", r);
    tether_client_set_on_delivery(client, on_delivery, NULL);
    r = tether_client_connect(client, argv[1], (uint16_t)atoi(argv[2]), 10000, NULL);
    if (r != TETHER_OK) return fail("connect", r);

    tether_properties *props = tether_properties_new();
    tether_properties_set_string(props, TETHER_PROP_CONTENT_TYPE, "text/plain");
    int count = atoi(argv[3]);
    for (int i = 1; i <= count; i++) {
        char text[32];
        snprintf(text, sizeof text, "hello %d", i);
        r = tether_client_publish_with_properties(client, "example/greeting", (const uint8_t *)text,
                                                  strlen(text), 1, false, props, NULL);
        if (r != TETHER_OK) return fail("publish", r);
    }
    tether_properties_free(props);

    r = tether_client_flush(client, 10000); /* waits until every message is acknowledged */
    if (r != TETHER_OK) return fail("flush", r);
    printf("%d messages acknowledged\n", count);
    r = tether_client_disconnect(client, 10000);
    tether_client_free(client);
    return r == TETHER_OK ? 0 : fail("disconnect", r);
}
