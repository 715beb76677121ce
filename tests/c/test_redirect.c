/* Server redirection (MQTT 5.0 section 4.11) from C: a scripted server answers CONNECT with
 * CONNACK 0x9D "Server moved" and a Server Reference naming the runner's broker. By default
 * the client follows it and connects there; with tether_options_set_follow_server_references
 * false the connect fails with TETHER_CONNECTION_REFUSED and reason code 0x9D. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct {
    int listener;
    uint16_t port;
    char reference[32];
    int connections;
    pthread_t thread;
} moved_server;

static void *serve(void *arg) {
    moved_server *s = arg;
    for (int i = 0; i < 2; i++) {
        int c = accept(s->listener, NULL, NULL);
        if (c < 0) return NULL;
        s->connections++;
        unsigned char buf[512];
        size_t have = 0;
        /* CONNECT is small: its remaining length fits in one byte. */
        for (int reads = 0; reads < 64 && have < sizeof buf; reads++) {
            ssize_t n = recv(c, buf + have, sizeof buf - have, 0);
            if (n <= 0) break;
            have += (size_t)n;
            if (have >= 2 && buf[1] < 0x80 && have >= 2u + buf[1]) break;
        }
        size_t len = strlen(s->reference);
        unsigned char out[64];
        size_t k = 0;
        out[k++] = 0x20;                      /* CONNACK */
        out[k++] = (unsigned char)(2 + 1 + 3 + len);
        out[k++] = 0;                         /* no session present */
        out[k++] = 0x9D;                      /* Server moved */
        out[k++] = (unsigned char)(3 + len);  /* property length */
        out[k++] = 0x1C;                      /* Server Reference */
        out[k++] = 0;
        out[k++] = (unsigned char)len;
        memcpy(out + k, s->reference, len);
        k += len;
        if (send(c, out, k, 0) < 0) perror("send");
        close(c); /* [MQTT-3.2.2-7] the server closes after a refusal */
    }
    return NULL;
}

static void start(moved_server *s) {
    memset(s, 0, sizeof *s);
    s->listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s->listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(s->listener, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(s->listener, 4) == 0);
    socklen_t al = sizeof a;
    CHECK(getsockname(s->listener, (struct sockaddr *)&a, &al) == 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->reference, sizeof s->reference, "127.0.0.1:%u", (unsigned)broker_port());
    CHECK(pthread_create(&s->thread, NULL, serve, s) == 0);
}

static void stop(moved_server *s) {
    shutdown(s->listener, SHUT_RDWR);
    close(s->listener);
    pthread_join(s->thread, NULL);
}

static tether_client *client(const char *id, bool follow) {
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_RESULT(tether_options_set_follow_server_references(NULL, follow), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_options_set_follow_server_references(o, follow));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

static void test_server_moved_is_followed(void) {
    moved_server s;
    start(&s);
    char id[96];
    unique(id, sizeof id, "redirect", "follow");
    tether_client *c = client(id, true);
    bool present = true;
    CHECK_OK(tether_client_connect(c, "127.0.0.1", s.port, WAIT_MS, &present));
    CHECK(!present);
    char topic[96];
    unique(topic, sizeof topic, "tether-c/redirect", "t");
    CHECK_OK(tether_client_subscribe(c, topic, 1, WAIT_MS));
    CHECK_OK(tether_client_publish(c, topic, (const uint8_t *)"x", 1, 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    stop(&s);
    CHECK(s.connections == 1);
}

static void test_redirects_off_is_a_refusal(void) {
    moved_server s;
    start(&s);
    char id[96];
    unique(id, sizeof id, "redirect", "off");
    tether_client *c = client(id, false);
    CHECK_RESULT(tether_client_connect(c, "127.0.0.1", s.port, WAIT_MS, NULL), TETHER_CONNECTION_REFUSED);
    CHECK(tether_last_reason_code() == 0x9D);
    tether_client_free(c);
    stop(&s);
    CHECK(s.connections == 1);
}

int main(void) {
    RUN(test_server_moved_is_followed);
    RUN(test_redirects_off_is_a_refusal);
    return 0;
}
