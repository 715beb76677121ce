/* An application's own Topic Alias (TETHER_PROP_TOPIC_ALIAS) with automatic aliases off:
 * delivered under its topic through mosquitto (Topic Alias Maximum 10), refused at the call
 * when 0, above the server's maximum, or while automatic aliases are on. */
#include "common.h"

static tether_client *client(const char *name, bool auto_alias) {
    char id[96];
    unique(id, sizeof id, "alias", name);
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_auto_topic_alias(o, auto_alias));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    return c;
}

static tether_result publish_aliased(tether_client *c, const char *topic, uint16_t alias) {
    tether_properties *p = tether_properties_new();
    CHECK(p != NULL);
    /* Alias 0 is refused already here ([MQTT-3.3.2-8]); give 1 and check the call instead. */
    CHECK_OK(tether_properties_set_u16(p, TETHER_PROP_TOPIC_ALIAS, alias));
    uint64_t token = 0;
    tether_result r = tether_client_publish_with_properties(c, topic, (const uint8_t *)"x", 1, 1, false, p, &token);
    tether_properties_free(p);
    return r;
}

static void test_manual_alias_reaches_the_subscriber(void) {
    char topic[96], filter[96];
    unique(topic, sizeof topic, "tether-c/alias", "t");
    snprintf(filter, sizeof filter, "%s", topic);
    tether_client *sub = client("sub", true);
    CHECK_OK(tether_client_subscribe(sub, filter, 1, WAIT_MS));
    tether_client *pub = client("pub", false);
    CHECK_OK(publish_aliased(pub, topic, 1));
    CHECK_OK(publish_aliased(pub, topic, 10));
    CHECK_OK(tether_client_flush(pub, WAIT_MS));
    for (int i = 0; i < 2; i++) {
        tether_message *m = NULL;
        CHECK_OK(tether_client_recv(sub, WAIT_MS, &m));
        CHECK(strcmp(tether_message_topic(m), topic) == 0);
        tether_message_free(m);
    }
    /* [MQTT-3.3.2-9] above mosquitto's Topic Alias Maximum 10: refused, nothing sent. */
    CHECK_RESULT(publish_aliased(pub, topic, 11), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "topic_alias 11") != NULL);
    CHECK_OK(tether_client_disconnect(pub, WAIT_MS));
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(pub);
    tether_client_free(sub);
}

static void test_manual_alias_refused_with_automatic_aliases_on(void) {
    tether_client *c = client("auto", true);
    CHECK_RESULT(publish_aliased(c, "tether-c/alias/auto", 1), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "topic_alias") != NULL);
    tether_properties *p = tether_properties_new();
    CHECK_RESULT(tether_properties_set_u16(p, TETHER_PROP_TOPIC_ALIAS, 0), TETHER_INVALID_ARGUMENT);
    tether_properties_free(p);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
}

int main(void) {
    RUN(test_manual_alias_reaches_the_subscriber);
    RUN(test_manual_alias_refused_with_automatic_aliases_on);
    return 0;
}
