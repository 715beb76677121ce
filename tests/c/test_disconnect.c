/* Who ended the connection (on_disconnect_ex): a server's DISCONNECT with its reason code
 * and reason string, a lost link, the client's own keep-alive expiry, and the client's
 * DISCONNECT. The server's side is a scripted server on 127.0.0.1 in a thread of this test
 * (mosquitto 2.0.11 closes a taken-over connection without DISCONNECT 0x8E); the client's
 * DISCONNECT goes to mosquitto. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

/* What the scripted server does after its CONNACK. */
typedef enum { SEND_DISCONNECT, CLOSE, STAY_SILENT } script;

typedef struct {
    int listener;
    uint16_t port;
    script what;
    pthread_t thread;
} scripted_server;

/* Reads one whole packet (CONNECT is small: its length fits one byte), bounded by the
 * socket's receive timeout. */
static void read_connect(int fd) {
    uint8_t buf[512];
    size_t have = 0;
    for (int i = 0; i < 64 && have < sizeof buf; i++) {
        ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
        if (n <= 0) FAIL("the client sent no CONNECT");
        have += (size_t)n;
        if (have >= 2 && buf[1] < 0x80 && have >= 2u + buf[1]) return;
    }
    FAIL("CONNECT too long for the scripted server");
}

static void *serve(void *arg) {
    scripted_server *s = (scripted_server *)arg;
    int fd = accept(s->listener, NULL, NULL);
    if (fd < 0) FAIL("accept: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    read_connect(fd);
    static const uint8_t connack[] = {0x20, 3, 0, 0, 0};
    CHECK(send(fd, connack, sizeof connack, 0) == (ssize_t)sizeof connack);
    if (s->what == SEND_DISCONNECT) {
        /* DISCONNECT 0x8E Session taken over, Reason String "taken over". */
        static const uint8_t disconnect[] = {0xE0, 15, 0x8E, 13, 0x1F, 0, 10,
                                             't',  'a', 'k',  'e', 'n', ' ', 'o', 'v', 'e', 'r'};
        CHECK(send(fd, disconnect, sizeof disconnect, 0) == (ssize_t)sizeof disconnect);
    }
    if (s->what != CLOSE) {
        /* Read (and never answer: no PINGRESP) until the client closes, at most 64 reads. */
        uint8_t sink[256];
        for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, 0) > 0; i++) {
        }
    }
    close(fd);
    return NULL;
}

static void server_start(scripted_server *s, script what) {
    s->what = what;
    s->listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s->listener >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s->listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(s->listener, 1) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(s->listener, (struct sockaddr *)&addr, &len) == 0);
    s->port = ntohs(addr.sin_port);
    CHECK(pthread_create(&s->thread, NULL, serve, s) == 0);
}

static void server_stop(scripted_server *s) {
    pthread_join(s->thread, NULL);
    close(s->listener);
}

/* What the two disconnect callbacks saw. */
typedef struct {
    waiter w;
    uint8_t by;
    uint8_t reason_code;
    bool had_reason_string;
    char reason_string[64];
    uint8_t legacy_reason_code;
    tether_result legacy_cause;
    int legacy_calls;
} seen;

static void on_disconnect(void *user_data, uint8_t reason_code, tether_result cause) {
    seen *s = (seen *)user_data;
    pthread_mutex_lock(&s->w.mu);
    s->legacy_reason_code = reason_code;
    s->legacy_cause = cause;
    s->legacy_calls++;
    pthread_mutex_unlock(&s->w.mu);
}

static void on_disconnect_ex(void *user_data, uint8_t by, uint8_t reason_code, const char *reason_string) {
    seen *s = (seen *)user_data;
    pthread_mutex_lock(&s->w.mu);
    if (s->w.count == 0) {
        s->by = by;
        s->reason_code = reason_code;
        s->had_reason_string = reason_string != NULL;
        /* Borrowed until we return: copied. */
        if (reason_string != NULL) snprintf(s->reason_string, sizeof s->reason_string, "%s", reason_string);
    }
    s->w.count++;
    pthread_cond_broadcast(&s->w.cv);
    pthread_mutex_unlock(&s->w.mu);
}

static tether_client *watched_client(const char *name, uint16_t keep_alive, seen *s) {
    char id[96];
    unique(id, sizeof id, "disconnect", name);
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_keep_alive(o, keep_alive));
    /* One connection per test: a reconnect would meet a server that is gone. */
    CHECK_OK(tether_options_set_reconnect(o, false, 100, 1000));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    memset(s, 0, sizeof *s);
    waiter_init(&s->w);
    CHECK_OK(tether_client_set_on_disconnect(c, on_disconnect, s));
    CHECK_OK(tether_client_set_on_disconnect_ex(c, on_disconnect_ex, s));
    return c;
}

static void run_scripted(script what, uint16_t keep_alive, seen *s) {
    scripted_server server;
    server_start(&server, what);
    tether_client *c = watched_client("scripted", keep_alive, s);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", server.port, WAIT_MS, NULL));
    CHECK(waiter_wait(&s->w, 1, WAIT_MS));
    tether_client_free(c);
    server_stop(&server);
    CHECK(s->legacy_calls == 1);
    waiter_destroy(&s->w);
}

static void test_server_disconnect_is_by_server_with_its_reason(void) {
    seen s;
    run_scripted(SEND_DISCONNECT, 60, &s);
    CHECK(s.by == TETHER_DISCONNECT_BY_SERVER);
    CHECK(s.reason_code == 0x8E);
    CHECK(s.had_reason_string && strcmp(s.reason_string, "taken over") == 0);
    CHECK(s.legacy_reason_code == 0x8E && s.legacy_cause == TETHER_DISCONNECTED);
}

static void test_lost_link_is_lost_with_reason_code_0x80(void) {
    seen s;
    run_scripted(CLOSE, 60, &s);
    CHECK(s.by == TETHER_DISCONNECT_LOST);
    CHECK(s.reason_code == 0 && !s.had_reason_string);
    /* The same number as Python's on_disconnect(reason_code): 0x80, not 0 (normal). */
    CHECK(s.legacy_reason_code == 0x80 && s.legacy_cause == TETHER_IO);
}

static void test_keep_alive_expiry_is_not_a_server_disconnect(void) {
    seen s;
    /* keep-alive 1 s: PINGREQ after 1 s, no PINGRESP, dead after 1.5 s. */
    run_scripted(STAY_SILENT, 1, &s);
    CHECK(s.by == TETHER_DISCONNECT_KEEP_ALIVE);
    CHECK(s.reason_code == 0 && !s.had_reason_string);
    /* The old callback keeps its old values. */
    CHECK(s.legacy_reason_code == 0x8D && s.legacy_cause == TETHER_TIMEOUT);
}

static void test_clients_own_disconnect_is_by_client(void) {
    seen s;
    tether_client *c = watched_client("own", 60, &s);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    CHECK(waiter_wait(&s.w, 1, WAIT_MS));
    CHECK(s.by == TETHER_DISCONNECT_BY_CLIENT);
    CHECK(s.reason_code == 0x00 && !s.had_reason_string);
    tether_client_free(c);
    waiter_destroy(&s.w);
}

int main(void) {
    RUN(test_server_disconnect_is_by_server_with_its_reason);
    RUN(test_lost_link_is_lost_with_reason_code_0x80);
    RUN(test_keep_alive_expiry_is_not_a_server_disconnect);
    RUN(test_clients_own_disconnect_is_by_client);
    return 0;
}
