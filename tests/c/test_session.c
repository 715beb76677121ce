/* A session that survives: the subscriber asks for a session that never expires (once
 * through the general properties object, once through the direct setter), leaves, messages
 * are published while it is away, and it comes back with clean_start = false to a present
 * session and its queued messages, in order. Also the will message, published by the server
 * when a client ends without DISCONNECT (tether_client_free). */
#include "common.h"

#define AWAY 5

static void test_persistent_session(void) {
    char id[96], topic[96];
    unique(id, sizeof id, "session", "sub");
    unique(topic, sizeof topic, "tether-c/session", "queued");

    /* First life: a fresh session that never expires, set the general way. */
    tether_options *o = tether_options_new(id);
    tether_properties *p = tether_properties_new();
    CHECK_OK(tether_properties_set_u32(p, TETHER_PROP_SESSION_EXPIRY_INTERVAL, TETHER_SESSION_NEVER_EXPIRES));
    CHECK_OK(tether_options_set_connect_properties(o, p));
    tether_properties_free(p);
    CHECK_OK(tether_options_set_clean_start(o, true));
    tether_client *sub = NULL;
    CHECK_OK(tether_client_new(o, &sub));
    tether_options_free(o);
    bool present = true;
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker_port(), WAIT_MS, &present));
    CHECK(!present);
    CHECK_OK(tether_client_subscribe(sub, topic, 1, WAIT_MS));
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(sub);

    /* While it is away. */
    char pid[96];
    unique(pid, sizeof pid, "session", "pub");
    tether_client *pub = new_client(pid, true, 0);
    CHECK_OK(tether_client_connect(pub, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    for (int i = 0; i < AWAY; i++) {
        char text[16];
        snprintf(text, sizeof text, "away-%d", i);
        CHECK_OK(tether_client_publish(pub, topic, (const uint8_t *)text, strlen(text), 1, false));
    }
    CHECK_OK(tether_client_flush(pub, WAIT_MS));
    CHECK_OK(tether_client_disconnect(pub, WAIT_MS));
    tether_client_free(pub);

    /* Second life, a new client object: resume, set the direct way. */
    sub = new_client(id, false, TETHER_SESSION_NEVER_EXPIRES);
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(sub, keep_message, &got));
    present = false;
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker_port(), WAIT_MS, &present));
    CHECK(present);
    if (!waiter_wait(&got.w, AWAY, WAIT_MS)) {
        tether_stats st;
        CHECK_OK(tether_client_stats(sub, &st));
        FAIL("received %d of %d; stats: in %llu, connected %d, inbox %llu", waiter_count(&got.w), AWAY,
             (unsigned long long)st.messages_in, st.connected, (unsigned long long)st.inbox);
    }
    for (int i = 0; i < AWAY; i++) {
        char text[16];
        snprintf(text, sizeof text, "away-%d", i);
        CHECK(payload_is(got.kept[i], text));
        CHECK(tether_message_qos(got.kept[i]) == 1);
    }
    CHECK(waiter_count(&got.w) == AWAY);

    /* End the session on the server: connect clean with expiry 0. */
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(sub);
    inbox_destroy(&got);
    sub = new_client(id, true, 0);
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker_port(), WAIT_MS, &present));
    CHECK(!present);
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(sub);
}

static void test_will_on_free(void) {
    char id[96], will_topic[96];
    unique(id, sizeof id, "session", "will");
    unique(will_topic, sizeof will_topic, "tether-c/session", "will");

    char wid[96];
    unique(wid, sizeof wid, "session", "watcher");
    tether_client *watcher = new_client(wid, true, 0);
    CHECK_OK(tether_client_connect(watcher, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(watcher, will_topic, 1, WAIT_MS));

    tether_options *o = tether_options_new(id);
    tether_properties *wp = tether_properties_new();
    CHECK_OK(tether_properties_set_string(wp, TETHER_PROP_CONTENT_TYPE, "text/plain"));
    CHECK_OK(tether_properties_add_user_property(wp, "why", "gone"));
    CHECK_OK(tether_options_set_will(o, will_topic, (const uint8_t *)"bye", 3, 1, false, wp));
    tether_properties_free(wp);
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    tether_client_free(c); /* no DISCONNECT: the server publishes the will */

    tether_message *m = NULL;
    CHECK_OK(tether_client_recv(watcher, WAIT_MS, &m));
    CHECK(payload_is(m, "bye"));
    const tether_properties *mp = tether_message_properties(m);
    CHECK(strcmp(tether_properties_get_string(mp, TETHER_PROP_CONTENT_TYPE), "text/plain") == 0);
    const char *k = NULL, *v = NULL;
    CHECK(tether_properties_get_user_property(mp, 0, &k, &v) && strcmp(k, "why") == 0 && strcmp(v, "gone") == 0);
    tether_message_free(m);
    CHECK_OK(tether_client_disconnect(watcher, WAIT_MS));
    tether_client_free(watcher);
}

int main(void) {
    RUN(test_persistent_session);
    RUN(test_will_on_free);
    return 0;
}
