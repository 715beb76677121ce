/* The same story gives the same callbacks in C and Python (tests/python/test_same_story.py
 * runs this script with the Python face and expects the same lines):
 *
 *   1. a CONNACK that refuses the connection (an empty client identifier, which the runner's
 *      broker refuses): "disconnect refused <the CONNACK's reason code>", and no on_connect;
 *   2. a link lost under the client (the fault proxy's `cut`): "connect 0",
 *      "disconnect lost 0x80", then "connect 0" again after the automatic reconnect.
 *
 * Each callback writes one line: "connect <reason code>" or "disconnect <by> <reason code>",
 * where <reason code> is on_disconnect's simple one and <by> comes from on_disconnect_ex. */
#include "common.h"
#include "kit.h"

#define MAX_LINES 8

typedef struct {
    waiter w;
    char lines[MAX_LINES][48];
    uint8_t simple_code; /* on_disconnect's reason_code, waiting for on_disconnect_ex */
    tether_result cause;
} story;

static void add_line(story *s, const char *line) {
    pthread_mutex_lock(&s->w.mu);
    if (s->w.count < MAX_LINES) snprintf(s->lines[s->w.count], sizeof s->lines[0], "%s", line);
    s->w.count++;
    pthread_cond_broadcast(&s->w.cv);
    pthread_mutex_unlock(&s->w.mu);
}

static void on_connect(void *user_data, bool session_present, uint8_t reason_code) {
    (void)session_present;
    char line[48];
    snprintf(line, sizeof line, "connect %u", reason_code);
    add_line((story *)user_data, line);
}

static void on_disconnect(void *user_data, uint8_t reason_code, tether_result cause) {
    story *s = (story *)user_data;
    /* on_disconnect_ex follows at once, on the same thread. */
    s->simple_code = reason_code;
    s->cause = cause;
}

static const char *by_name(uint8_t by) {
    switch (by) {
    case TETHER_DISCONNECT_BY_SERVER: return "server";
    case TETHER_DISCONNECT_BY_CLIENT: return "client";
    case TETHER_DISCONNECT_KEEP_ALIVE: return "keep_alive";
    case TETHER_DISCONNECT_LOST: return "lost";
    case TETHER_DISCONNECT_REFUSED: return "refused";
    default: return "?";
    }
}

static void on_disconnect_ex(void *user_data, uint8_t by, uint8_t reason_code, const char *reason_string) {
    (void)reason_code;
    (void)reason_string;
    story *s = (story *)user_data;
    char line[48];
    snprintf(line, sizeof line, "disconnect %s 0x%02X", by_name(by), s->simple_code);
    add_line(s, line);
}

static tether_client *told(const char *id, bool reconnect, story *s) {
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_reconnect(o, reconnect, 50, 1000));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    memset(s, 0, sizeof *s);
    waiter_init(&s->w);
    CHECK_OK(tether_client_set_on_connect(c, on_connect, s));
    CHECK_OK(tether_client_set_on_disconnect(c, on_disconnect, s));
    CHECK_OK(tether_client_set_on_disconnect_ex(c, on_disconnect_ex, s));
    return c;
}

static void expect_lines(story *s, const char *const *want, int n) {
    CHECK(waiter_wait(&s->w, n, WAIT_MS));
    pthread_mutex_lock(&s->w.mu);
    for (int i = 0; i < n; i++) {
        if (strcmp(s->lines[i], want[i]) != 0) FAIL("line %d: \"%s\", expected \"%s\"", i, s->lines[i], want[i]);
    }
    pthread_mutex_unlock(&s->w.mu);
}

static void test_a_refused_connack_goes_to_on_disconnect(void) {
    story s;
    tether_client *c = told("", false, &s);
    CHECK_RESULT(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL), TETHER_CONNECTION_REFUSED);
    uint8_t code = tether_last_reason_code();
    CHECK(code >= 0x80);
    char refused[48];
    snprintf(refused, sizeof refused, "disconnect refused 0x%02X", code);
    const char *want[] = {refused};
    expect_lines(&s, want, 1);
    CHECK(s.cause == TETHER_CONNECTION_REFUSED);
    /* Nothing else: no on_connect for a refusal. */
    CHECK(!waiter_wait(&s.w, 2, 300));
    tether_client_free(c);
    waiter_destroy(&s.w);
}

static void test_a_lost_link_is_0x80_then_a_reconnect(void) {
    char upstream[64], id[96];
    snprintf(upstream, sizeof upstream, "127.0.0.1:%u", broker_port());
    char *proxy_argv[] = {(char *)testkit_path(), "proxy", "--upstream", upstream, NULL};
    kit proxy;
    kit_start(&proxy, proxy_argv);
    unique(id, sizeof id, "story", "lost");
    story s;
    tether_client *c = told(id, true, &s);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", proxy.port, WAIT_MS, NULL));
    CHECK(waiter_wait(&s.w, 1, WAIT_MS));
    kit_ok(&proxy, "cut");
    const char *want[] = {"connect 0", "disconnect lost 0x80", "connect 0"};
    expect_lines(&s, want, 3);
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    waiter_destroy(&s.w);
    kit_stop(&proxy);
}

int main(void) {
    RUN(test_a_refused_connack_goes_to_on_disconnect);
    RUN(test_a_lost_link_is_0x80_then_a_reconnect);
    return 0;
}
