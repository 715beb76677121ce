/* The API without traffic: versions, results, ownership, and bad arguments, each of which
 * must give its result and a last-error text, never a crash. Also the connection failures:
 * nothing listening (TETHER_IO) and a refusal by the server (TETHER_CONNECTION_REFUSED with
 * the CONNACK reason code). */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

static const char NOT_UTF8[] = {'a', (char)0xff, (char)0xfe, 0};

static void test_version_and_results(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", TETHER_VERSION_MAJOR, TETHER_VERSION_MINOR,
             TETHER_VERSION_PATCH);
    CHECK(strcmp(tether_version(), expected) == 0);
    /* A thread that has not failed yet has an empty last error. */
    CHECK(strcmp(tether_last_error(), "") == 0);
    CHECK(tether_last_reason_code() == 0);
    const tether_result all[] = {
        TETHER_OK,           TETHER_INVALID_ARGUMENT, TETHER_NULL_ARGUMENT,      TETHER_INVALID_UTF8,
        TETHER_INVALID_TOPIC, TETHER_PACKET_TOO_LARGE, TETHER_NOT_SUPPORTED,     TETHER_INVALID_STATE,
        TETHER_NOT_CONNECTED, TETHER_QUEUE_FULL,       TETHER_CLOSED,            TETHER_WOULD_DEADLOCK,
        TETHER_DROPPED,       TETHER_TIMEOUT,          TETHER_IO,                TETHER_CONNECTION_REFUSED,
        TETHER_DISCONNECTED,  TETHER_PROTOCOL_ERROR,   TETHER_REJECTED,          TETHER_SESSION_LOST,
        TETHER_PANIC,
    };
    const char *unknown = tether_result_str(12345);
    CHECK(strcmp(unknown, "unknown tether_result") == 0);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = tether_result_str(all[i]);
        CHECK(s != NULL && s[0] != '\0' && strcmp(s, unknown) != 0);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(s, tether_result_str(all[j])) != 0);
    }
    CHECK(TETHER_OK == 0);
}

static void test_options_misuse(void) {
    CHECK(tether_options_new(NULL) == NULL);
    CHECK(strstr(tether_last_error(), "client_id") != NULL);
    CHECK(tether_options_new(NOT_UTF8) == NULL);
    CHECK(strstr(tether_last_error(), "UTF-8") != NULL);
    tether_options_free(NULL);

    CHECK_RESULT(tether_options_set_clean_start(NULL, true), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_keep_alive(NULL, 5), TETHER_NULL_ARGUMENT);
    tether_options *o = tether_options_new("api");
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_keep_alive(o, 30));
    CHECK_OK(tether_options_set_session_expiry_interval(o, TETHER_SESSION_NEVER_EXPIRES));
    CHECK_RESULT(tether_options_set_receive_maximum(o, 0), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_max_packet_size(o, 0), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_receive_maximum(o, 10));
    CHECK_OK(tether_options_set_max_packet_size(o, 1 << 20));
    CHECK_OK(tether_options_set_topic_alias_maximum(o, 5));
    CHECK_OK(tether_options_set_manual_acks(o, false));
    CHECK_OK(tether_options_set_auto_topic_alias(o, true));
    CHECK_RESULT(tether_options_set_quota_retry(NULL, 3, 50), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_options_set_quota_retry(o, 3, 50));
    CHECK_RESULT(tether_options_set_max_inflight(o, 0), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "max_inflight") != NULL);
    CHECK_OK(tether_options_set_max_inflight(o, 1000));
    CHECK_RESULT(tether_options_set_reconnect(o, true, 500, 100), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_reconnect(o, true, 50, 1000));
    CHECK_RESULT(tether_options_set_queue_limits(o, 10, 1000, 9), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_queue_limits(o, 0, 1000, TETHER_OVERFLOW_FAIL), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_queue_limits(o, 10, 1000, TETHER_OVERFLOW_DROP_OLDEST));
    CHECK_RESULT(tether_options_set_on_session_lost(o, 7), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_on_session_lost(o, TETHER_SESSION_LOST_FAIL));
    CHECK_RESULT(tether_options_set_connect_timeout(o, 0), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_credentials(o, NULL, NULL, 0), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_credentials(o, NOT_UTF8, NULL, 0), TETHER_INVALID_UTF8);
    CHECK_RESULT(tether_options_set_credentials(o, "user", NULL, 4), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_options_set_credentials(o, "user", (const uint8_t *)"pw\0x", 4));

    /* Will: topic, QoS and properties are checked. */
    CHECK_RESULT(tether_options_set_will(o, "a/#", NULL, 0, 1, false, NULL), TETHER_INVALID_TOPIC);
    CHECK_RESULT(tether_options_set_will(o, "a/b", NULL, 0, 3, false, NULL), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_will(o, NULL, NULL, 0, 1, false, NULL), TETHER_NULL_ARGUMENT);
    tether_properties *wp = tether_properties_new();
    CHECK_OK(tether_properties_set_u32(wp, TETHER_PROP_SESSION_EXPIRY_INTERVAL, 10));
    CHECK_RESULT(tether_options_set_will(o, "a/b", (const uint8_t *)"x", 1, 1, false, wp), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "Session Expiry Interval") != NULL);
    tether_properties_free(wp);
    wp = tether_properties_new();
    CHECK_OK(tether_properties_set_u32(wp, TETHER_PROP_WILL_DELAY_INTERVAL, 0));
    CHECK_OK(tether_properties_set_string(wp, TETHER_PROP_CONTENT_TYPE, "text/plain"));
    CHECK_OK(tether_options_set_will(o, "a/b", (const uint8_t *)"bye", 3, 1, false, wp));
    tether_properties_free(wp);

    /* Connect properties: only those CONNECT carries. */
    tether_properties *cp = tether_properties_new();
    CHECK_OK(tether_properties_set_u32(cp, TETHER_PROP_SESSION_EXPIRY_INTERVAL, 3600));
    CHECK_OK(tether_properties_set_u16(cp, TETHER_PROP_RECEIVE_MAXIMUM, 100));
    CHECK_OK(tether_properties_set_u8(cp, TETHER_PROP_REQUEST_PROBLEM_INFORMATION, 1));
    CHECK_OK(tether_properties_add_user_property(cp, "site", "a"));
    CHECK_OK(tether_options_set_connect_properties(o, cp));
    CHECK_OK(tether_properties_set_u8(cp, TETHER_PROP_PAYLOAD_FORMAT_INDICATOR, 1));
    CHECK_RESULT(tether_options_set_connect_properties(o, cp), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "not a CONNECT property") != NULL);
    CHECK_RESULT(tether_options_set_connect_properties(o, NULL), TETHER_NULL_ARGUMENT);
    tether_properties_free(cp);
    tether_options_free(o);
}

static void test_properties(void) {
    tether_properties *p = tether_properties_new();
    CHECK(p != NULL);
    tether_properties_free(NULL);
    /* Wrong type for the identifier, forbidden values, unknown identifiers. */
    CHECK_RESULT(tether_properties_set_u32(p, TETHER_PROP_RECEIVE_MAXIMUM, 5), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "tether_properties_set_u16") != NULL);
    CHECK_RESULT(tether_properties_set_u16(p, TETHER_PROP_RECEIVE_MAXIMUM, 0), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_u8(p, TETHER_PROP_PAYLOAD_FORMAT_INDICATOR, 2), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_u32(p, 0x04, 1), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_u32(p, 0xFF, 1), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_u32(p, TETHER_PROP_SUBSCRIPTION_IDENTIFIER, 0), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_string(p, TETHER_PROP_CONTENT_TYPE, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_properties_set_string(p, TETHER_PROP_CONTENT_TYPE, NOT_UTF8), TETHER_INVALID_UTF8);
    CHECK_RESULT(tether_properties_set_string(p, TETHER_PROP_CORRELATION_DATA, "x"), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_properties_set_binary(p, TETHER_PROP_CORRELATION_DATA, NULL, 3), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_properties_add_user_property(p, "k", NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_properties_set_u8(NULL, TETHER_PROP_PAYLOAD_FORMAT_INDICATOR, 1), TETHER_NULL_ARGUMENT);

    /* What was set reads back; a later value replaces an earlier one. */
    CHECK_OK(tether_properties_set_u32(p, TETHER_PROP_MESSAGE_EXPIRY_INTERVAL, 1));
    CHECK_OK(tether_properties_set_u32(p, TETHER_PROP_MESSAGE_EXPIRY_INTERVAL, 60));
    CHECK_OK(tether_properties_set_string(p, TETHER_PROP_CONTENT_TYPE, "text/plain"));
    CHECK_OK(tether_properties_set_binary(p, TETHER_PROP_CORRELATION_DATA, (const uint8_t *)"\x01\x00\x02", 3));
    CHECK_OK(tether_properties_add_user_property(p, "k", "v1"));
    CHECK_OK(tether_properties_add_user_property(p, "k", "v2"));
    uint32_t v = 0;
    CHECK(tether_properties_get_u32(p, TETHER_PROP_MESSAGE_EXPIRY_INTERVAL, &v) && v == 60);
    CHECK(!tether_properties_get_u32(p, TETHER_PROP_SESSION_EXPIRY_INTERVAL, &v) && v == 60);
    CHECK(strcmp(tether_properties_get_string(p, TETHER_PROP_CONTENT_TYPE), "text/plain") == 0);
    CHECK(tether_properties_get_string(p, TETHER_PROP_RESPONSE_TOPIC) == NULL);
    size_t len = 0;
    const uint8_t *data = tether_properties_get_binary(p, TETHER_PROP_CORRELATION_DATA, &len);
    CHECK(data != NULL && len == 3 && memcmp(data, "\x01\x00\x02", 3) == 0);
    CHECK(tether_properties_user_property_count(p) == 2);
    const char *key = NULL, *value = NULL;
    CHECK(tether_properties_get_user_property(p, 1, &key, &value));
    CHECK(strcmp(key, "k") == 0 && strcmp(value, "v2") == 0);
    CHECK(!tether_properties_get_user_property(p, 2, &key, &value));
    CHECK(tether_properties_user_property_count(NULL) == 0);
    CHECK(tether_properties_get_string(NULL, TETHER_PROP_CONTENT_TYPE) == NULL);
    tether_properties_free(p);
}

static void test_client_misuse(void) {
    tether_client *c = NULL;
    CHECK_RESULT(tether_client_new(NULL, &c), TETHER_NULL_ARGUMENT);
    tether_options *o = tether_options_new("api-misuse");
    CHECK_RESULT(tether_client_new(o, NULL), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    tether_client_free(NULL);

    /* A NULL client, for every call that takes one. */
    CHECK_RESULT(tether_client_connect(NULL, "127.0.0.1", 1, 10, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_publish(NULL, "t", NULL, 0, 0, false), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_subscribe(NULL, "t", 0, 10), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_unsubscribe(NULL, "t", 10), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_flush(NULL, 10), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_disconnect(NULL, 10), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_set_on_message(NULL, NULL, NULL), TETHER_NULL_ARGUMENT);
    CHECK(tether_client_event_fd(NULL) == -1);
    CHECK(!tether_client_is_connected(NULL));

    /* Bad publishes fail at the call, before anything is queued. */
    const uint8_t payload[] = "x";
    CHECK_RESULT(tether_client_publish(c, NULL, payload, 1, 0, false), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_publish(c, NOT_UTF8, payload, 1, 0, false), TETHER_INVALID_UTF8);
    CHECK_RESULT(tether_client_publish(c, "a/+", payload, 1, 0, false), TETHER_INVALID_TOPIC);
    CHECK_RESULT(tether_client_publish(c, "", payload, 1, 0, false), TETHER_INVALID_TOPIC);
    CHECK_RESULT(tether_client_publish(c, "a/b", payload, 1, 3, false), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "qos") != NULL);
    CHECK_RESULT(tether_client_publish(c, "a/b", NULL, 5, 0, false), TETHER_NULL_ARGUMENT);
    /* Oversize: refused from the length alone, the buffer is never read. */
    CHECK_RESULT(tether_client_publish(c, "a/b", payload, (size_t)300 * 1024 * 1024, 1, false),
                 TETHER_PACKET_TOO_LARGE);
    CHECK_RESULT(tether_client_publish(c, "a/b", payload, SIZE_MAX, 1, false), TETHER_PACKET_TOO_LARGE);
    tether_properties *pp = tether_properties_new();
    CHECK_OK(tether_properties_set_u32(pp, TETHER_PROP_SESSION_EXPIRY_INTERVAL, 1));
    uint64_t token = 77;
    CHECK_RESULT(tether_client_publish_with_properties(c, "a/b", payload, 1, 1, false, pp, &token),
                 TETHER_INVALID_ARGUMENT);
    CHECK(token == 77); /* outputs are written only on TETHER_OK */
    tether_properties_free(pp);
    pp = tether_properties_new();
    CHECK_OK(tether_properties_set_string(pp, TETHER_PROP_RESPONSE_TOPIC, "reply/#"));
    CHECK_RESULT(tether_client_publish_with_properties(c, "a/b", payload, 1, 1, false, pp, &token),
                 TETHER_INVALID_TOPIC);
    tether_properties_free(pp);

    /* Bad subscriptions. */
    uint8_t code = 99;
    CHECK_RESULT(tether_client_subscribe(c, "a/#/b", 1, 10), TETHER_INVALID_TOPIC);
    CHECK_RESULT(tether_client_subscribe(c, "a/b", 3, 10), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_client_subscribe(c, NOT_UTF8, 0, 10), TETHER_INVALID_UTF8);
    CHECK_RESULT(tether_client_subscribe_with_options(c, "a", 1, false, false, 3, 0, 10, &code),
                 TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_client_subscribe_with_options(c, "a", 1, false, false, 0, 268435456, 10, &code),
                 TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_client_subscribe_with_options(c, "$share/g/a", 1, true, false, 0, 0, 10, &code),
                 TETHER_INVALID_ARGUMENT);
    CHECK(code == 99);
    CHECK_RESULT(tether_client_unsubscribe(c, "a/#/b", 10), TETHER_INVALID_TOPIC);

    /* Connect arguments. */
    CHECK_RESULT(tether_client_connect(c, NULL, 1883, 10, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_connect(c, "", 1883, 10, NULL), TETHER_INVALID_ARGUMENT);

    /* Polling: needs an output, times out when nothing came, refused with on_message. */
    tether_message *m = NULL;
    CHECK_RESULT(tether_client_recv(c, 0, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_recv(c, TETHER_NO_WAIT, &m), TETHER_TIMEOUT);
    CHECK_RESULT(tether_client_recv(c, 20, &m), TETHER_TIMEOUT);
    CHECK(m == NULL);
    CHECK(tether_client_event_fd(c) >= 0);
    CHECK_OK(tether_client_set_on_message(c, keep_message, NULL));
    CHECK_RESULT(tether_client_recv(c, 0, &m), TETHER_INVALID_STATE);
    CHECK_OK(tether_client_set_on_message(c, NULL, NULL));

    /* Nothing published: flush returns at once. Not connected: disconnect is fine. */
    CHECK_OK(tether_client_flush(c, 1000));
    CHECK_OK(tether_client_disconnect(c, 1000));
    CHECK(!tether_client_is_connected(c));
    tether_stats stats;
    CHECK_OK(tether_client_stats(c, &stats));
    CHECK(!stats.connected && stats.messages_in == 0);
    CHECK_RESULT(tether_client_stats(c, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_ack(c, NULL), TETHER_NULL_ARGUMENT);

    /* Message accessors with NULL. */
    CHECK(tether_message_topic(NULL) == NULL);
    CHECK(tether_message_payload(NULL, NULL) == NULL);
    CHECK(tether_message_qos(NULL) == 0);
    CHECK(!tether_message_retain(NULL) && !tether_message_dup(NULL));
    CHECK(tether_message_properties(NULL) == NULL);
    CHECK(tether_message_copy(NULL) == NULL);
    tether_message_free(NULL);
    tether_client_free(c);
}

/* The call must refuse its argument with TETHER_INVALID_ARGUMENT and a last error that names
 * the field (the parameter, or the MQTT name of the property). */
#define CHECK_REFUSED(call, field)                                                         \
    do {                                                                                   \
        CHECK_RESULT(call, TETHER_INVALID_ARGUMENT);                                       \
        if (strstr(tether_last_error(), (field)) == NULL)                                  \
            FAIL("%s: the last error does not name %s: %s", #call, (field),                \
                 tether_last_error());                                                     \
    } while (0)

/* Every integer argument outside its MQTT range, and every property set with a value its
 * identifier does not take. The C types already rule out negative numbers and values wider
 * than the field; what is left is checked here. */
static void test_out_of_range_values(void) {
    tether_options *o = tether_options_new("api-ranges");
    CHECK(o != NULL);
    CHECK_REFUSED(tether_options_set_receive_maximum(o, 0), "receive_maximum");
    CHECK_REFUSED(tether_options_set_max_packet_size(o, 0), "max_packet_size");
    CHECK_REFUSED(tether_options_set_reconnect(o, true, 1001, 1000), "min_delay_ms");
    CHECK_REFUSED(tether_options_set_queue_limits(o, 0, 1000, TETHER_OVERFLOW_BLOCK), "max_messages");
    CHECK_REFUSED(tether_options_set_queue_limits(o, 10, 0, TETHER_OVERFLOW_BLOCK), "max_bytes");
    CHECK_REFUSED(tether_options_set_queue_limits(o, 10, 10, 3), "overflow_policy");
    CHECK_REFUSED(tether_options_set_on_session_lost(o, 2), "policy");
    CHECK_REFUSED(tether_options_set_connect_timeout(o, 0), "timeout_ms");
    CHECK_REFUSED(tether_options_set_will(o, "w", NULL, 0, 3, false, NULL), "qos");
    CHECK_REFUSED(tether_options_set_will(o, "w", NULL, 0, 255, false, NULL), "qos");
    /* The edges that are allowed. */
    CHECK_OK(tether_options_set_receive_maximum(o, 1));
    CHECK_OK(tether_options_set_receive_maximum(o, UINT16_MAX));
    CHECK_OK(tether_options_set_max_packet_size(o, UINT32_MAX));
    CHECK_OK(tether_options_set_topic_alias_maximum(o, 0));
    CHECK_OK(tether_options_set_topic_alias_maximum(o, UINT16_MAX));
    CHECK_OK(tether_options_set_keep_alive(o, UINT16_MAX));
    CHECK_OK(tether_options_set_reconnect(o, true, 1000, 1000));
    CHECK_OK(tether_options_set_queue_limits(o, SIZE_MAX, SIZE_MAX, TETHER_OVERFLOW_FAIL));
    CHECK_OK(tether_options_set_will(o, "w", NULL, 0, 2, false, NULL));

    tether_properties *p = tether_properties_new();
    CHECK_REFUSED(tether_properties_set_u16(p, TETHER_PROP_RECEIVE_MAXIMUM, 0), "Receive Maximum");
    CHECK_REFUSED(tether_properties_set_u32(p, TETHER_PROP_MAXIMUM_PACKET_SIZE, 0), "Maximum Packet Size");
    CHECK_REFUSED(tether_properties_set_u8(p, TETHER_PROP_PAYLOAD_FORMAT_INDICATOR, 2), "Payload Format Indicator");
    CHECK_REFUSED(tether_properties_set_u8(p, TETHER_PROP_REQUEST_PROBLEM_INFORMATION, 2),
                  "Request Problem Information");
    CHECK_REFUSED(tether_properties_set_u8(p, TETHER_PROP_REQUEST_RESPONSE_INFORMATION, 255),
                  "Request Response Information");
    CHECK_REFUSED(tether_properties_set_u32(p, TETHER_PROP_SUBSCRIPTION_IDENTIFIER, 0), "Subscription Identifier");
    CHECK_REFUSED(tether_properties_set_u32(p, TETHER_PROP_SUBSCRIPTION_IDENTIFIER, 268435456),
                  "Subscription Identifier");
    CHECK_REFUSED(tether_properties_set_u16(p, TETHER_PROP_TOPIC_ALIAS, 0), "Topic Alias");
    /* An identifier set with the setter of another width names the property and its setter. */
    CHECK_REFUSED(tether_properties_set_u32(p, TETHER_PROP_TOPIC_ALIAS_MAXIMUM, 10), "Topic Alias Maximum");
    CHECK(strstr(tether_last_error(), "tether_properties_set_u16") != NULL);
    CHECK_REFUSED(tether_properties_set_u16(p, TETHER_PROP_SESSION_EXPIRY_INTERVAL, 10), "Session Expiry Interval");
    CHECK(strstr(tether_last_error(), "tether_properties_set_u32") != NULL);
    CHECK_REFUSED(tether_properties_set_u8(p, TETHER_PROP_MESSAGE_EXPIRY_INTERVAL, 1), "Message Expiry Interval");
    CHECK_REFUSED(tether_properties_set_string(p, TETHER_PROP_RECEIVE_MAXIMUM, "1"), "Receive Maximum");
    CHECK_REFUSED(tether_properties_set_u32(p, 0x04, 1), "0x04");
    /* Nothing refused was kept. */
    uint32_t v = 77;
    CHECK(!tether_properties_get_u32(p, TETHER_PROP_RECEIVE_MAXIMUM, &v) && v == 77);
    CHECK(!tether_properties_get_u32(p, TETHER_PROP_SUBSCRIPTION_IDENTIFIER, &v) && v == 77);
    CHECK_OK(tether_properties_set_u32(p, TETHER_PROP_SUBSCRIPTION_IDENTIFIER, 268435455));
    CHECK_OK(tether_properties_set_u16(p, TETHER_PROP_TOPIC_ALIAS_MAXIMUM, UINT16_MAX));
    tether_properties_free(p);

    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    const uint8_t payload[] = "x";
    CHECK_REFUSED(tether_client_publish(c, "a/b", payload, 1, 3, false), "qos");
    CHECK_REFUSED(tether_client_publish_with_properties(c, "a/b", payload, 1, 255, false, NULL, NULL), "qos");
    CHECK_REFUSED(tether_client_subscribe(c, "a/b", 3, 10), "qos");
    uint8_t code = 99;
    CHECK_REFUSED(tether_client_subscribe_with_options(c, "a", 3, false, false, 0, 0, 10, &code), "qos");
    CHECK_REFUSED(tether_client_subscribe_with_options(c, "a", 1, false, false, 3, 0, 10, &code), "retain_handling");
    CHECK_REFUSED(tether_client_subscribe_with_options(c, "a", 1, false, false, 0, 268435456, 10, &code),
                  "subscription_identifier");
    CHECK_REFUSED(tether_client_subscribe_with_options(c, "a", 1, false, false, 0, UINT32_MAX, 10, &code),
                  "subscription_identifier");
    CHECK(code == 99);
    CHECK_REFUSED(tether_client_connect(c, "127.0.0.1", 0, 10, NULL), "port");
    CHECK(!tether_client_is_connected(c));
    tether_client_free(c);
    CHECK_REFUSED(tether_set_log_callback(NULL, NULL, 9), "max_level");
}

/* A port on which nothing listens: bound, then closed. */
static void test_connection_failures(void) {
    tether_client *c = new_client("api-nobody", true, 0);
    bool present = true;
    CHECK_RESULT(tether_client_connect(c, "127.0.0.1", closed_port(), WAIT_MS, &present), TETHER_IO);
    CHECK(present == true);
    tether_client_free(c);

    /* The runner's broker refuses empty client identifiers (allow_zero_length_clientid
     * false): a CONNACK refusal, whose reason code is kept. */
    c = new_client("", true, 0);
    CHECK_RESULT(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL), TETHER_CONNECTION_REFUSED);
    uint8_t code = tether_last_reason_code();
    CHECK(code >= 0x80);
    char hex[8];
    snprintf(hex, sizeof hex, "0x%02X", code);
    CHECK(strstr(tether_last_error(), hex) != NULL);
    tether_client_free(c);
}

typedef struct {
    waiter w;
} log_seen;

static void on_log(void *user_data, uint8_t level, const char *target, const char *message) {
    log_seen *seen = (log_seen *)user_data;
    CHECK(level >= TETHER_LOG_ERROR && level <= TETHER_LOG_TRACE);
    CHECK(target != NULL && message != NULL);
    if (strncmp(target, "tether", 6) == 0) waiter_add(&seen->w, 1);
}

static void test_log_callback(void) {
    /* Static: the logging thread may still be inside on_log when logging is switched off. */
    static log_seen seen;
    waiter_init(&seen.w);
    CHECK_RESULT(tether_set_log_callback(on_log, &seen, 9), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_set_log_callback(on_log, &seen, TETHER_LOG_DEBUG));
    tether_client *c = new_client("api-log", true, 0);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK(waiter_wait(&seen.w, 1, WAIT_MS));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    CHECK_OK(tether_set_log_callback(NULL, NULL, 0));
}

int main(void) {
    RUN(test_version_and_results);
    RUN(test_options_misuse);
    RUN(test_properties);
    RUN(test_client_misuse);
    RUN(test_out_of_range_values);
    RUN(test_connection_failures);
    RUN(test_log_callback);
    return 0;
}
