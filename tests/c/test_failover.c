/* A server list from C (tether_client_connect_urls): the client tries the servers in turn and,
 * when its connection is lost, reconnects to the next one (failover across a cluster's nodes).
 * Here the two "nodes" are a fault proxy in front of the runner's broker and the broker itself,
 * so both know the session: the move resumes it, and what was published meanwhile arrives.
 * (Failover across a real rmqtt cluster is in core/tests/cluster.rs and
 * tests/python/test_cluster.py.) */
#include "kit.h"

static void test_bad_lists_fail_before_connecting(void) {
    char id[96];
    unique(id, sizeof id, "failover", "args");
    tether_client *c = new_client(id, true, 0);
    const char *const one[] = {"mqtt://127.0.0.1:1"};
    CHECK_RESULT(tether_client_connect_urls(NULL, one, 1, WAIT_MS, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_connect_urls(c, NULL, 1, WAIT_MS, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_client_connect_urls(c, one, 0, WAIT_MS, NULL), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "at least one") != NULL);
    const char *const with_null[] = {"mqtt://127.0.0.1:1", NULL};
    CHECK_RESULT(tether_client_connect_urls(c, with_null, 2, WAIT_MS, NULL), TETHER_NULL_ARGUMENT);
    const char *const bad[] = {"mqtt://127.0.0.1:1", "http://127.0.0.1:2"};
    CHECK_RESULT(tether_client_connect_urls(c, bad, 2, WAIT_MS, NULL), TETHER_INVALID_ARGUMENT);
    CHECK(strstr(tether_last_error(), "item 1") != NULL);
    tether_client_free(c);
}

static void test_a_dead_first_server_is_passed_over(void) {
    char id[96], dead[64], live[64];
    unique(id, sizeof id, "failover", "dead-first");
    snprintf(dead, sizeof dead, "mqtt://127.0.0.1:%u", (unsigned)closed_port());
    snprintf(live, sizeof live, "mqtt://127.0.0.1:%u", (unsigned)broker_port());
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_reconnect(o, true, 10, 100));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    const char *const servers[] = {dead, live};
    bool present = true;
    CHECK_OK(tether_client_connect_urls(c, servers, 2, WAIT_MS, &present));
    CHECK(!present);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
}

static void count_connect(void *user_data, bool session_present, uint8_t reason_code) {
    (void)reason_code;
    /* Counts connections that resumed the session. */
    if (session_present) waiter_add((waiter *)user_data, 1);
}

static void test_a_lost_connection_moves_to_the_next_server_and_resumes(void) {
    const char *testkit = testkit_path();
    char upstream[64];
    snprintf(upstream, sizeof upstream, "127.0.0.1:%u", (unsigned)broker_port());
    char *proxy_argv[] = {(char *)testkit, "proxy", "--upstream", upstream, NULL};
    kit proxy;
    kit_start(&proxy, proxy_argv);

    char id[96], topic[96], first[64], second[64];
    unique(id, sizeof id, "failover", "move");
    unique(topic, sizeof topic, "tether-c/failover", "t");
    snprintf(first, sizeof first, "mqtt://127.0.0.1:%u", (unsigned)proxy.port);
    snprintf(second, sizeof second, "mqtt://127.0.0.1:%u", (unsigned)broker_port());
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_session_expiry_interval(o, 300));
    CHECK_OK(tether_options_set_reconnect(o, true, 10, 100));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    waiter resumed;
    waiter_init(&resumed);
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_connect(c, count_connect, &resumed));
    CHECK_OK(tether_client_set_on_message(c, keep_message, &got));

    const char *const servers[] = {first, second};
    bool present = true;
    CHECK_OK(tether_client_connect_urls(c, servers, 2, WAIT_MS, &present));
    CHECK(!present);
    CHECK_OK(tether_client_subscribe(c, topic, 1, WAIT_MS));
    /* The first server goes away for good: the client must move to the second. */
    kit_ok(&proxy, "refuse on");
    kit_ok(&proxy, "cut");
    CHECK_OK(tether_client_publish(c, topic, (const uint8_t *)"after", 5, 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    /* Same broker behind both: the session, with its subscription, was resumed. */
    CHECK(waiter_wait(&resumed, 1, WAIT_MS));
    CHECK(waiter_wait(&got.w, 1, WAIT_MS));
    pthread_mutex_lock(&got.w.mu);
    CHECK(payload_is(got.kept[0], "after"));
    pthread_mutex_unlock(&got.w.mu);
    tether_stats stats;
    CHECK_OK(tether_client_stats(c, &stats));
    CHECK(stats.reconnects >= 1);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    inbox_destroy(&got);
    waiter_destroy(&resumed);
    kit_stop(&proxy);
}

int main(void) {
    RUN(test_bad_lists_fail_before_connecting);
    RUN(test_a_dead_first_server_is_passed_over);
    RUN(test_a_lost_connection_moves_to_the_next_server_and_resumes);
    return 0;
}
