/* TLS from C: a broker of the test's own with a TLS listener and throw-away certificates
 * (`tether-testkit broker --tls`), connect by URL with a CA file, mutual TLS, ALPN, and the
 * mutual TLS from PEM bytes alone, and the failures: an untrusted CA (TETHER_TLS at connect), an unreadable CA file (TETHER_TLS at
 * option time, naming the file). WebSocket is in test_websocket.c. */
#include "kit.h"

typedef struct {
    kit k;
    uint16_t tls_port;
    char dir[512];
} tls_broker;

static void start_tls_broker(tls_broker *b, bool require_certificate) {
    const char *testkit = testkit_path();
    char *plain[] = {(char *)testkit, "broker", "--tls", NULL};
    char *mutual[] = {(char *)testkit, "broker", "--tls", "--require-certificate", NULL};
    kit_start(&b->k, require_certificate ? mutual : plain);
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

static void path_in(char *buf, size_t len, const tls_broker *b, const char *file) {
    snprintf(buf, len, "%s/%s", b->dir, file);
}

static tether_options *options(const char *suffix) {
    char id[128];
    unique(id, sizeof id, "c-tls", suffix);
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    return o;
}

static tether_client *client_of(tether_options *o) {
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

/* Publishes one QoS 1 message and waits for its delivery. */
static void publish_one(tether_client *c) {
    const char *payload = "over TLS";
    CHECK_OK(tether_client_publish(c, "c/tls", (const uint8_t *)payload, strlen(payload), 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
}

static void test_ca_file_and_connect_url(void) {
    tls_broker b;
    start_tls_broker(&b, false);
    char ca[600], url[256];
    path_in(ca, sizeof ca, &b, "ca.pem");
    tether_options *o = options("ca");
    CHECK_OK(tether_options_set_tls_ca_file(o, ca));
    const char *const alpn[] = {"mqtt"};
    CHECK_OK(tether_options_set_tls_alpn(o, alpn, 1));
    tether_client *c = client_of(o);
    snprintf(url, sizeof url, "mqtts://localhost:%u", b.tls_port);
    bool session_present = true;
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, &session_present));
    CHECK(!session_present);
    CHECK(tether_client_is_connected(c));
    publish_one(c);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);

    /* By IP: the certificate names 127.0.0.1 too. */
    o = options("ip");
    CHECK_OK(tether_options_set_tls_ca_file(o, ca));
    c = client_of(o);
    snprintf(url, sizeof url, "mqtts://127.0.0.1:%u", b.tls_port);
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    kit_stop(&b.k);
}

static void test_untrusted_ca_is_tether_tls(void) {
    tls_broker b;
    start_tls_broker(&b, false);
    char other[600], url[256];
    path_in(other, sizeof other, &b, "other-ca.pem");
    tether_options *o = options("other");
    CHECK_OK(tether_options_set_tls_ca_file(o, other));
    tether_client *c = client_of(o);
    snprintf(url, sizeof url, "mqtts://localhost:%u", b.tls_port);
    CHECK_RESULT(tether_client_connect_url(c, url, WAIT_MS, NULL), TETHER_TLS);
    if (strstr(tether_last_error(), "unknown issuer") == NULL) FAIL("last error: %s", tether_last_error());
    CHECK(!tether_client_is_connected(c));
    tether_client_free(c);
    kit_stop(&b.k);
}

static void test_mutual_tls(void) {
    tls_broker b;
    start_tls_broker(&b, true);
    char ca[600], cert[600], key[600], url[256];
    path_in(ca, sizeof ca, &b, "ca.pem");
    path_in(cert, sizeof cert, &b, "client.pem");
    path_in(key, sizeof key, &b, "client.key");
    snprintf(url, sizeof url, "mqtts://localhost:%u", b.tls_port);

    tether_options *o = options("mtls");
    CHECK_OK(tether_options_set_tls_ca_file(o, ca));
    CHECK_OK(tether_options_set_tls_client_cert(o, cert, key));
    tether_client *c = client_of(o);
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    publish_one(c);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);

    o = options("mtls-none");
    CHECK_OK(tether_options_set_tls_ca_file(o, ca));
    c = client_of(o);
    CHECK_RESULT(tether_client_connect_url(c, url, WAIT_MS, NULL), TETHER_TLS);
    if (strstr(tether_last_error(), "client certificate") == NULL) FAIL("last error: %s", tether_last_error());
    tether_client_free(c);
    kit_stop(&b.k);
}

/* The whole file at `path` in a malloc'd buffer (freed by the caller), its size in `len`. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) FAIL("cannot open %s", path);
    char *buf = malloc(65536);
    CHECK(buf != NULL);
    *len = fread(buf, 1, 65536, f);
    CHECK(*len > 0 && *len < 65536);
    fclose(f);
    return buf;
}

/* Mutual TLS with the CA, the certificate and the key all given as PEM bytes (no NUL). */
static void test_mutual_tls_from_pem_bytes(void) {
    tls_broker b;
    start_tls_broker(&b, true);
    char path[600], url[256];
    size_t ca_len, cert_len, key_len;
    path_in(path, sizeof path, &b, "ca.pem");
    char *ca = read_all(path, &ca_len);
    path_in(path, sizeof path, &b, "client.pem");
    char *cert = read_all(path, &cert_len);
    path_in(path, sizeof path, &b, "client.key");
    char *key = read_all(path, &key_len);
    snprintf(url, sizeof url, "mqtts://localhost:%u", b.tls_port);

    tether_options *o = options("mtls-pem");
    CHECK_OK(tether_options_set_tls_ca_pem(o, ca, ca_len));
    CHECK_OK(tether_options_set_tls_client_cert_pem(o, cert, cert_len, key, key_len));
    /* Copied: the buffers may go now. */
    free(ca);
    free(cert);
    tether_client *c = client_of(o);
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    publish_one(c);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);

    o = options("pem-bad");
    CHECK_RESULT(tether_options_set_tls_ca_pem(o, "not PEM", 7), TETHER_TLS);
    if (strstr(tether_last_error(), "ca_pem") == NULL) FAIL("last error: %s", tether_last_error());
    CHECK_RESULT(tether_options_set_tls_ca_pem(o, NULL, 0), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_tls_client_cert_pem(o, key, key_len, key, key_len), TETHER_TLS);
    CHECK_RESULT(tether_options_set_tls_client_cert_pem(o, NULL, 0, key, key_len), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_tls_client_cert_pem(NULL, key, key_len, key, key_len), TETHER_NULL_ARGUMENT);
    tether_options_free(o);
    free(key);
    kit_stop(&b.k);
}

static void test_verify_false(void) {
    tls_broker b;
    start_tls_broker(&b, false);
    char url[256];
    snprintf(url, sizeof url, "mqtts://127.0.0.1:%u", b.tls_port);
    tether_options *o = options("insecure");
    CHECK_OK(tether_options_set_tls_verify(o, false));
    tether_client *c = client_of(o);
    CHECK_OK(tether_client_connect_url(c, url, WAIT_MS, NULL));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    kit_stop(&b.k);
}

static void test_bad_arguments(void) {
    tether_options *o = options("bad");
    CHECK_RESULT(tether_options_set_tls_ca_file(o, "/nonexistent/ca.pem"), TETHER_TLS);
    if (strstr(tether_last_error(), "/nonexistent/ca.pem") == NULL) FAIL("last error: %s", tether_last_error());
    CHECK_RESULT(tether_options_set_tls_client_cert(o, "/nonexistent/c.pem", "/nonexistent/c.key"), TETHER_TLS);
    const char *const empty[] = {""};
    CHECK_RESULT(tether_options_set_tls_alpn(o, empty, 1), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_tls_alpn(o, NULL, 1), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_options_set_tls_alpn(o, NULL, 0));
    tether_client *c = client_of(o);
    CHECK_RESULT(tether_client_connect_url(c, "http://127.0.0.1", WAIT_MS, NULL), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_client_connect_url(c, "mqtt://127.0.0.1:0", WAIT_MS, NULL), TETHER_INVALID_ARGUMENT);
    tether_client_free(c);
}

int main(void) {
    /* A test kit process that dies must fail a check, not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    RUN(test_bad_arguments);
    RUN(test_ca_file_and_connect_url);
    RUN(test_untrusted_ca_is_tether_tls);
    RUN(test_mutual_tls);
    RUN(test_mutual_tls_from_pem_bytes);
    RUN(test_verify_false);
    return 0;
}
