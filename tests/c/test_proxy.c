/* An HTTP CONNECT proxy from C: the test kit's proxy (`tether-testkit http-proxy`) with basic
 * credentials in front of a broker of the test's own with a TLS listener (`broker --tls`);
 * publish and receive through it over TCP and TLS, the proxy counting the tunnels; wrong
 * credentials give TETHER_PROXY with the 407 in tether_last_error(); bad arguments (NULL,
 * an https:// proxy) are refused when set. */
#include "kit.h"

typedef struct {
    kit k;
    uint16_t tls_port;
    char dir[512];
} tls_broker;

static void start_tls_broker(tls_broker *b) {
    char *argv[] = {(char *)testkit_path(), "broker", "--tls", NULL};
    kit_start(&b->k, argv);
    char line[520];
    int port = 0;
    kit_read_line(&b->k, line, sizeof line, KIT_WAIT_MS);
    if (sscanf(line, "TLS_PORT %d", &port) != 1 || port <= 0 || port > 65535) FAIL("said %s", line);
    b->tls_port = (uint16_t)port;
    kit_read_line(&b->k, line, sizeof line, KIT_WAIT_MS);
    if (strncmp(line, "TLS_DIR ", 8) != 0) FAIL("said %s", line);
    size_t n = strlen(line + 8);
    if (n >= sizeof b->dir) FAIL("TLS_DIR too long: %s", line);
    memcpy(b->dir, line + 8, n + 1);
}

/* The proxy, requiring user "user" and password "s@cret". */
static void start_http_proxy(kit *p) {
    char *argv[] = {(char *)testkit_path(), "http-proxy", "--user", "user", "--password", "s@cret", NULL};
    kit_start(p, argv);
}

/* The proxy's counter `name` (from its one-line JSON stats). */
static long proxy_stat(kit *p, const char *name) {
    char answer[1024], key[64];
    kit_command(p, "stats", answer, sizeof answer);
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(answer, key);
    if (at == NULL) FAIL("no %s in %s", name, answer);
    return atol(at + strlen(key));
}

static tether_client *client_via(const char *suffix, const char *proxy_url, const char *ca) {
    char id[128];
    unique(id, sizeof id, "c-proxy", suffix);
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_proxy(o, proxy_url));
    if (ca != NULL) CHECK_OK(tether_options_set_tls_ca_file(o, ca));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

/* Connects to `url`, subscribes, publishes one QoS 1 message to itself and receives it. */
static void round_trip(tether_client *c, const char *url, const char *topic) {
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(c, keep_message, &got));
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(c, topic, 1, WAIT_MS));
    const char *payload = "through the proxy";
    CHECK_OK(tether_client_publish(c, topic, (const uint8_t *)payload, strlen(payload), 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    CHECK(waiter_wait(&got.w, 1, WAIT_MS));
    CHECK(payload_is(got.kept[0], payload));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    inbox_destroy(&got);
}

static void test_tcp_and_tls_through_the_proxy(void) {
    tls_broker b;
    start_tls_broker(&b);
    kit p;
    start_http_proxy(&p);
    char via[256], url[256], ca[600], topic[128];
    snprintf(via, sizeof via, "http://user:s%%40cret@127.0.0.1:%u", p.port);
    snprintf(ca, sizeof ca, "%s/ca.pem", b.dir);

    unique(topic, sizeof topic, "tether-c/proxy", "tcp");
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", b.k.port);
    round_trip(client_via("tcp", via, NULL), url, topic);
    CHECK(proxy_stat(&p, "tunnels") == 1);

    /* TLS end to end through the tunnel, the certificate checked against "localhost". */
    unique(topic, sizeof topic, "tether-c/proxy", "tls");
    snprintf(url, sizeof url, "mqtts://localhost:%u", b.tls_port);
    round_trip(client_via("tls", via, ca), url, topic);
    CHECK(proxy_stat(&p, "tunnels") == 2);
    CHECK(proxy_stat(&p, "auth_failures") == 0);
    kit_stop(&p);
    kit_stop(&b.k);
}

static void test_wrong_credentials_are_tether_proxy(void) {
    kit p;
    start_http_proxy(&p);
    char via[256], url[256];
    snprintf(via, sizeof via, "http://user:wrong@127.0.0.1:%u", p.port);
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", broker_port());
    tether_client *c = client_via("407", via, NULL);
    CHECK_RESULT(tether_client_connect_url(c, url, WAIT_MS, NULL), TETHER_PROXY);
    if (strstr(tether_last_error(), "407 Proxy Authentication Required") == NULL)
        FAIL("last error: %s", tether_last_error());
    if (strstr(tether_last_error(), "wrong") != NULL) FAIL("the password leaked: %s", tether_last_error());
    CHECK(!tether_client_is_connected(c));
    tether_client_free(c);
    CHECK(proxy_stat(&p, "auth_failures") == 1);
    CHECK(proxy_stat(&p, "tunnels") == 0);
    CHECK(strcmp(tether_result_str(TETHER_PROXY), "") != 0);
    kit_stop(&p);
}

static void test_bad_arguments(void) {
    tether_options *o = tether_options_new("c-proxy-bad");
    CHECK(o != NULL);
    CHECK_RESULT(tether_options_set_proxy(NULL, "http://127.0.0.1:3128"), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_proxy(o, NULL), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_proxy(o, "https://127.0.0.1:3128"), TETHER_INVALID_ARGUMENT);
    if (strstr(tether_last_error(), "only http://") == NULL) FAIL("last error: %s", tether_last_error());
    CHECK_RESULT(tether_options_set_proxy(o, "http://127.0.0.1:0"), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_proxy(o, "http://a%3Ab:pw@127.0.0.1:3128"), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_proxy(o, "http://127.0.0.1:3128"));
    /* A Unix socket cannot go through the proxy. */
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    CHECK_RESULT(tether_client_connect_url(c, "unix:///tmp/tether-c-none.sock", WAIT_MS, NULL),
                 TETHER_INVALID_ARGUMENT);
    tether_client_free(c);
    /* "" clears it. */
    CHECK_OK(tether_options_set_proxy(o, ""));
    tether_options_free(o);
}

int main(void) {
    /* A test kit process that dies must fail a check, not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    RUN(test_bad_arguments);
    RUN(test_wrong_credentials_are_tether_proxy);
    RUN(test_tcp_and_tls_through_the_proxy);
    return 0;
}
