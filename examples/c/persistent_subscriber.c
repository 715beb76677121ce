/* A subscriber whose session survives: it asks the server to keep its session forever, so
 * messages published while it is away wait for it. Run it, stop it, publish, run it again.
 *
 *   persistent_subscriber HOST PORT COUNT    (receives COUNT messages, then leaves)
 *
 * Build: cc persistent_subscriber.c $(pkg-config --cflags --libs tether)   (see README) */
#include <stdio.h>
#include <stdlib.h>

#include "tether.h"

static int fail(const char *what, tether_result r) {
    fprintf(stderr, "%s: %s: %s\n", what, tether_result_str(r), tether_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT COUNT\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[3]);
    tether_options *options = tether_options_new("tether-example-subscriber");
    tether_options_set_clean_start(options, false);
    tether_options_set_session_expiry_interval(options, TETHER_SESSION_NEVER_EXPIRES);
    tether_client *client = NULL;
    tether_result r = tether_client_new(options, &client);
    tether_options_free(options);
    if (r != TETHER_OK) return fail("client", r);

    bool session_present = false;
    r = tether_client_connect(client, argv[1], (uint16_t)atoi(argv[2]), 10000, &session_present);
    if (r != TETHER_OK) return fail("connect", r);
    printf("connected, session present: %s\n", session_present ? "yes" : "no");
    r = tether_client_subscribe(client, "example/#", 1, 10000);
    if (r != TETHER_OK) return fail("subscribe", r);

    /* No callback set: messages wait for tether_client_recv. */
    for (int i = 0; i < count; i++) {
        tether_message *m = NULL;
        r = tether_client_recv(client, 10000, &m);
        if (r != TETHER_OK) return fail("recv", r);
        size_t len = 0;
        const uint8_t *payload = tether_message_payload(m, &len);
        printf("%s: %.*s\n", tether_message_topic(m), (int)len, (const char *)payload);
        tether_message_free(m);
    }
    /* A clean goodbye; the server keeps the session (and queues for it) until we return. */
    r = tether_client_disconnect(client, 10000);
    tether_client_free(client);
    return r == TETHER_OK ? 0 : fail("disconnect", r);
}
