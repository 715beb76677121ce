/* MQTT 3.1.1 from C: tether_options_set_protocol_version(options, 4). The persistent session
 * through a fault proxy of its own: QoS 1 messages published while the link is silent, the
 * link cut, the session resumed (Clean Session 0) and every message delivered, resent with
 * DUP. Also the argument check and a 5.0-only feature refused with TETHER_NOT_SUPPORTED. */
#include "common.h"
#include "kit.h"

#define N 20

static long long json_int(const char *json, const char *key) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (at == NULL) FAIL("no %s in %s", pattern, json);
    return strtoll(at + strlen(pattern), NULL, 10);
}

static tether_client *v311_client(const char *id, uint32_t expiry) {
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_protocol_version(o, 4));
    CHECK_OK(tether_options_set_session_expiry_interval(o, expiry));
    CHECK_OK(tether_options_set_reconnect(o, true, 50, 500));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

static void test_version_argument(void) {
    tether_options *o = tether_options_new("v311-args");
    CHECK_RESULT(tether_options_set_protocol_version(o, 3), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "protocol_version") != NULL);
    CHECK_RESULT(tether_options_set_protocol_version(o, 6), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_protocol_version(o, 5));
    CHECK_OK(tether_options_set_protocol_version(o, 4));
    /* A 5.0-only CONNECT option on 3.1.1. */
    CHECK_OK(tether_options_set_receive_maximum(o, 10));
    tether_client *c = NULL;
    tether_result r = tether_client_new(o, &c);
    if (r == TETHER_OK) {
        CHECK_RESULT(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL), TETHER_NOT_SUPPORTED);
        tether_client_free(c);
    } else {
        CHECK(r == TETHER_NOT_SUPPORTED);
    }
    tether_options_free(o);
}

static void test_persistent_session_through_a_cut(void) {
    char upstream[64], id[96], pid[96], topic[96];
    snprintf(upstream, sizeof upstream, "127.0.0.1:%u", broker_port());
    char *proxy_argv[] = {(char *)testkit_path(), "proxy", "--upstream", upstream, NULL};
    kit proxy;
    kit_start(&proxy, proxy_argv);
    unique(id, sizeof id, "v311", "sub");
    unique(pid, sizeof pid, "v311", "pub");
    unique(topic, sizeof topic, "tether-c/v311", "keep");

    tether_client *sub = v311_client(id, 0);
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(sub, keep_message, &got));
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(sub, topic, 1, WAIT_MS));

    tether_client *pub = v311_client(pid, TETHER_SESSION_NEVER_EXPIRES);
    bool present = true;
    CHECK_OK(tether_client_connect(pub, "127.0.0.1", proxy.port, WAIT_MS, &present));
    CHECK(!present);

    /* The PUBLISH packets leave the client and vanish: they stay in flight. */
    kit_ok(&proxy, "blackhole on");
    for (int i = 0; i < N; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", i);
        CHECK_OK(tether_client_publish(pub, topic, (const uint8_t *)text, strlen(text), 1, false));
    }
    tether_stats st;
    long long deadline = now_ms() + WAIT_MS;
    do {
        CHECK_OK(tether_client_stats(pub, &st));
        if (st.inflight == N) break;
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    } while (now_ms() < deadline);
    CHECK(st.inflight == N);
    kit_ok(&proxy, "blackhole off");
    kit_ok(&proxy, "cut");

    /* The reconnect resumes the session and sends them again with DUP; nothing is lost. */
    CHECK_OK(tether_client_flush(pub, WAIT_MS));
    if (!waiter_wait(&got.w, N, WAIT_MS)) FAIL("received %d of %d", waiter_count(&got.w), N);
    bool seen[N] = {false};
    for (int i = 0; i < waiter_count(&got.w); i++) {
        char text[16];
        for (int k = 0; k < N; k++) {
            snprintf(text, sizeof text, "%d", k);
            if (payload_is(got.kept[i], text)) seen[k] = true;
        }
    }
    for (int k = 0; k < N; k++) CHECK(seen[k]);
    char stats[KIT_LINE];
    kit_command(&proxy, "stats", stats, sizeof stats);
    CHECK(json_int(stats, "dup_publishes") >= 1);
    CHECK_OK(tether_client_stats(pub, &st));
    CHECK(st.retransmissions >= 1);

    /* A 5.0-only feature on a connected 3.1.1 client: refused, nothing sent. */
    tether_properties *p = tether_properties_new();
    CHECK_OK(tether_properties_add_user_property(p, "k", "v"));
    CHECK_RESULT(tether_client_publish_with_properties(pub, topic, (const uint8_t *)"x", 1, 1, false, p, NULL),
                 TETHER_NOT_SUPPORTED);
    tether_properties_free(p);

    CHECK_OK(tether_client_disconnect(pub, WAIT_MS));
    tether_client_free(pub);
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(sub);
    inbox_destroy(&got);
    kit_stop(&proxy);
}

int main(void) {
    RUN(test_version_argument);
    RUN(test_persistent_session_through_a_cut);
    return 0;
}
