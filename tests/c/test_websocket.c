/* WebSocket from C: a broker of the test's own with WebSocket listeners
 * (`tether-testkit broker --ws --wss`), connect by ws:// and wss:// URL (the CA of the test
 * certificates, ALPN offered) with an extra handshake header, publish and subscribe through
 * it; an HTTP server that refuses the upgrade (404) gives
 * TETHER_WEBSOCKET with the status in tether_last_error(); bad headers are refused. */
#include "kit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct {
    kit k;
    uint16_t ws_port;
    uint16_t wss_port;
    char dir[512];
} ws_broker;

static void start_ws_broker(ws_broker *b) {
    char *argv[] = {(char *)testkit_path(), "broker", "--ws", "--wss", NULL};
    kit_start(&b->k, argv);
    char line[520];
    int port = 0;
    kit_read_line(&b->k, line, sizeof line, KIT_WAIT_MS);
    if (sscanf(line, "WS_PORT %d", &port) != 1 || port <= 0 || port > 65535) FAIL("said %s", line);
    b->ws_port = (uint16_t)port;
    kit_read_line(&b->k, line, sizeof line, KIT_WAIT_MS);
    if (sscanf(line, "WSS_PORT %d", &port) != 1 || port <= 0 || port > 65535) FAIL("said %s", line);
    b->wss_port = (uint16_t)port;
    kit_read_line(&b->k, line, sizeof line, KIT_WAIT_MS);
    if (strncmp(line, "TLS_DIR ", 8) != 0) FAIL("said %s", line);
    size_t n = strlen(line + 8);
    if (n >= sizeof b->dir) FAIL("TLS_DIR too long: %s", line);
    memcpy(b->dir, line + 8, n + 1);
}

/* A client sending an Authorization header; with `ca`, trusting it for wss:// and offering
 * ALPN "mqtt" (ALPN applies to wss:// as to mqtts://). */
static tether_client *client_with_header_and_ca(const char *suffix, const char *ca) {
    char id[128];
    unique(id, sizeof id, "c-ws", suffix);
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_ws_header(o, "Authorization", "Bearer c-token"));
    if (ca != NULL) {
        CHECK_OK(tether_options_set_tls_ca_file(o, ca));
        const char *const alpn[] = {"mqtt"};
        CHECK_OK(tether_options_set_tls_alpn(o, alpn, 1));
    }
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

static tether_client *client_with_header(const char *suffix) {
    return client_with_header_and_ca(suffix, NULL);
}

static void test_pubsub_over_ws(void) {
    ws_broker b;
    start_ws_broker(&b);
    char url[256], topic[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/mqtt", b.ws_port);
    unique(topic, sizeof topic, "tether-c/ws", "t");

    tether_client *c = client_with_header("pubsub");
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(c, keep_message, &got));
    bool present = true;
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, &present));
    CHECK(!present);
    CHECK(tether_client_is_connected(c));
    CHECK_OK(tether_client_subscribe(c, topic, 1, WAIT_MS));
    const char *payload = "over WebSocket";
    CHECK_OK(tether_client_publish(c, topic, (const uint8_t *)payload, strlen(payload), 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    CHECK(waiter_wait(&got.w, 1, WAIT_MS));
    CHECK(payload_is(got.kept[0], payload));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    inbox_destroy(&got);

    /* wss://: WebSocket over TLS, the server's certificate checked against "localhost". */
    char ca[600];
    snprintf(ca, sizeof ca, "%s/ca.pem", b.dir);
    snprintf(url, sizeof url, "wss://localhost:%u/mqtt", b.wss_port);
    unique(topic, sizeof topic, "tether-c/wss", "t");
    c = client_with_header_and_ca("wss", ca);
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(c, keep_message, &got));
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(c, topic, 1, WAIT_MS));
    const char *secure = "over WebSocket over TLS";
    CHECK_OK(tether_client_publish(c, topic, (const uint8_t *)secure, strlen(secure), 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    CHECK(waiter_wait(&got.w, 1, WAIT_MS));
    CHECK(payload_is(got.kept[0], secure));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    inbox_destroy(&got);

    /* A wss:// server whose CA is not trusted (the system's roots only): TETHER_TLS. */
    c = client_with_header("wss-untrusted");
    CHECK_RESULT(tether_client_connect_url(c, url, WAIT_MS, NULL), TETHER_TLS);
    tether_client_free(c);
    kit_stop(&b.k);
}

/* A one-connection HTTP server that answers 404 to whatever it is asked. */
typedef struct {
    int fd;
    uint16_t port;
    pthread_t thread;
} http_404;

static void *serve_404(void *arg) {
    http_404 *h = arg;
    int conn = accept(h->fd, NULL, NULL);
    if (conn >= 0) {
        char buf[4096];
        ssize_t n = read(conn, buf, sizeof buf);
        (void)n;
        const char *answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        ssize_t w = write(conn, answer, strlen(answer));
        (void)w;
        close(conn);
    }
    return NULL;
}

static void start_404(http_404 *h) {
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(h->fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(h->fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(h->fd, 4) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(h->fd, (struct sockaddr *)&a, &len) == 0);
    h->port = ntohs(a.sin_port);
    CHECK(pthread_create(&h->thread, NULL, serve_404, h) == 0);
}

static void test_refused_upgrade_is_tether_websocket(void) {
    http_404 h;
    start_404(&h);
    char url[256];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/mqtt", h.port);
    tether_client *c = client_with_header("404");
    CHECK_RESULT(tether_client_connect_url(c, url, WAIT_MS, NULL), TETHER_WEBSOCKET);
    if (strstr(tether_last_error(), "upgrade refused: 404 Not Found") == NULL)
        FAIL("last error: %s", tether_last_error());
    CHECK(!tether_client_is_connected(c));
    tether_client_free(c);
    pthread_join(h.thread, NULL);
    close(h.fd);
    CHECK(strcmp(tether_result_str(TETHER_WEBSOCKET), "") != 0);
}

static void test_bad_headers(void) {
    tether_options *o = tether_options_new("c-ws-bad");
    CHECK(o != NULL);
    CHECK_RESULT(tether_options_set_ws_header(o, "bad name", "x"), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_ws_header(o, "X-Ok", "a\nb"), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_ws_header(o, "Sec-WebSocket-Protocol", "other"), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_ws_header(o, NULL, "x"), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_options_set_ws_header(o, "X-Ok", "yes"));
    tether_options_free(o);
}

int main(void) {
    /* A test kit process that dies must fail a check, not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    RUN(test_bad_headers);
    RUN(test_refused_upgrade_is_tether_websocket);
    RUN(test_pubsub_over_ws);
    return 0;
}
