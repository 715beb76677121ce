/* Calls from inside callbacks: publishing works (it only queues); a call that would wait on
 * the client's own dispatch thread returns TETHER_WOULD_DEADLOCK at once, and its
 * TETHER_NO_WAIT form works; a full queue under the Block policy gives TETHER_QUEUE_FULL
 * instead of blocking; tether_client_free is deferred until the callback returns. */
#include "common.h"

static tether_client *connected(const char *name, bool with_callback, inbox *b) {
    char id[96];
    unique(id, sizeof id, "callbacks", name);
    tether_client *c = new_client(id, true, 0);
    if (with_callback) CHECK_OK(tether_client_set_on_message(c, keep_message, b));
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    return c;
}

/* --- publishing from on_message ------------------------------------------------------- */

typedef struct {
    tether_client *self;
    const char *reply_topic;
    waiter w;
    tether_result results[8];
    pthread_t threads[8];
} echo;

static void echo_back(void *user_data, const tether_message *m) {
    echo *e = (echo *)user_data;
    size_t len = 0;
    const uint8_t *payload = tether_message_payload(m, &len);
    tether_result r = tether_client_publish(e->self, e->reply_topic, payload, len, 1, false);
    pthread_mutex_lock(&e->w.mu);
    if (e->w.count < 8) {
        e->results[e->w.count] = r;
        e->threads[e->w.count] = pthread_self();
    }
    e->w.count++;
    pthread_cond_broadcast(&e->w.cv);
    pthread_mutex_unlock(&e->w.mu);
}

static void test_publish_from_callback(void) {
    char ping[96], pong[96];
    unique(ping, sizeof ping, "tether-c/callbacks", "ping");
    unique(pong, sizeof pong, "tether-c/callbacks", "pong");
    echo e;
    memset(&e, 0, sizeof e);
    waiter_init(&e.w);
    e.reply_topic = pong;
    char id[96];
    unique(id, sizeof id, "callbacks", "echo");
    e.self = new_client(id, true, 0);
    CHECK_OK(tether_client_set_on_message(e.self, echo_back, &e));
    CHECK_OK(tether_client_connect(e.self, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(e.self, ping, 1, WAIT_MS));

    tether_client *peer = connected("peer", false, NULL);
    CHECK_OK(tether_client_subscribe(peer, pong, 1, WAIT_MS));
    for (int i = 0; i < 5; i++) {
        char text[16];
        snprintf(text, sizeof text, "n%d", i);
        CHECK_OK(tether_client_publish(peer, ping, (const uint8_t *)text, strlen(text), 1, false));
    }
    for (int i = 0; i < 5; i++) {
        tether_message *m = NULL;
        CHECK_OK(tether_client_recv(peer, WAIT_MS, &m));
        char text[16];
        snprintf(text, sizeof text, "n%d", i);
        CHECK(payload_is(m, text));
        tether_message_free(m);
    }
    CHECK(waiter_wait(&e.w, 5, WAIT_MS));
    /* Every callback ran on the same thread, which is not this one. */
    for (int i = 0; i < 5; i++) {
        CHECK(e.results[i] == TETHER_OK);
        CHECK(pthread_equal(e.threads[i], e.threads[0]));
    }
    CHECK(!pthread_equal(e.threads[0], pthread_self()));
    CHECK_OK(tether_client_flush(e.self, WAIT_MS));
    tether_client_free(peer);
    tether_client_free(e.self);
    waiter_destroy(&e.w);
}

/* --- blocking calls from on_connect -------------------------------------------------- */

typedef struct {
    tether_client *self;
    const char *topic;
    waiter w;
    tether_result subscribe, unsubscribe, flush, disconnect, connect, recv, recv_now, subscribe_now;
    char error[256];
} inside;

static void on_connect_try_everything(void *user_data, bool session_present, uint8_t reason_code) {
    inside *in = (inside *)user_data;
    (void)session_present;
    (void)reason_code;
    tether_message *m = NULL;
    in->subscribe = tether_client_subscribe(in->self, in->topic, 1, 1000);
    snprintf(in->error, sizeof in->error, "%s", tether_last_error());
    in->unsubscribe = tether_client_unsubscribe(in->self, in->topic, TETHER_WAIT_FOREVER);
    in->flush = tether_client_flush(in->self, 1000);
    in->disconnect = tether_client_disconnect(in->self, 1000);
    in->connect = tether_client_connect(in->self, "127.0.0.1", broker_port(), 1000, NULL);
    in->recv = tether_client_recv(in->self, 1000, &m);
    in->recv_now = tether_client_recv(in->self, TETHER_NO_WAIT, &m);
    /* Without waiting: the usual way to subscribe again on every connect. */
    uint8_t code = 0;
    in->subscribe_now =
        tether_client_subscribe_with_options(in->self, in->topic, 1, false, false, 0, 0, TETHER_NO_WAIT, &code);
    waiter_add(&in->w, 1);
}

static void test_blocking_calls_from_callback(void) {
    char topic[96], id[96];
    unique(topic, sizeof topic, "tether-c/callbacks", "resubscribed");
    unique(id, sizeof id, "callbacks", "inside");
    inside in;
    memset(&in, 0, sizeof in);
    waiter_init(&in.w);
    in.topic = topic;
    in.self = new_client(id, true, 0);
    CHECK_OK(tether_client_set_on_connect(in.self, on_connect_try_everything, &in));
    CHECK_OK(tether_client_connect(in.self, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK(waiter_wait(&in.w, 1, WAIT_MS));
    CHECK(in.subscribe == TETHER_WOULD_DEADLOCK);
    CHECK(strstr(in.error, "callback") != NULL);
    CHECK(in.unsubscribe == TETHER_WOULD_DEADLOCK);
    CHECK(in.flush == TETHER_WOULD_DEADLOCK);
    CHECK(in.disconnect == TETHER_WOULD_DEADLOCK);
    CHECK(in.connect == TETHER_WOULD_DEADLOCK);
    CHECK(in.recv == TETHER_WOULD_DEADLOCK);
    CHECK(in.recv_now == TETHER_TIMEOUT);
    CHECK(in.subscribe_now == TETHER_OK);
    CHECK(tether_client_is_connected(in.self)); /* nothing was done by the refused calls */

    /* The subscription sent from the callback is in place once a later SUBACK is back
     * (the server handles one client's requests in order). */
    char other[96];
    unique(other, sizeof other, "tether-c/callbacks", "later");
    CHECK_OK(tether_client_subscribe(in.self, other, 0, WAIT_MS));
    tether_client *peer = connected("inside-peer", false, NULL);
    CHECK_OK(tether_client_publish(peer, topic, (const uint8_t *)"hi", 2, 1, false));
    tether_message *m = NULL;
    CHECK_OK(tether_client_recv(in.self, WAIT_MS, &m));
    CHECK(payload_is(m, "hi"));
    tether_message_free(m);
    tether_client_free(peer);
    tether_client_free(in.self);
    waiter_destroy(&in.w);
}

/* --- a full queue under the Block policy, from a callback ------------------------------ */

typedef struct {
    tether_client *self;
    const char *topic;
    waiter w;
    int accepted;
    tether_result last;
    char error[256];
} flood;

static void on_message_flood(void *user_data, const tether_message *m) {
    flood *f = (flood *)user_data;
    (void)m;
    /* Leave first, so that the messages pile up in the queue (2 messages at most). */
    CHECK_OK(tether_client_disconnect(f->self, TETHER_NO_WAIT));
    f->last = TETHER_OK;
    for (int i = 0; i < 5000 && f->last == TETHER_OK; i++) {
        f->last = tether_client_publish(f->self, f->topic, (const uint8_t *)"x", 1, 1, false);
        if (f->last == TETHER_OK) f->accepted++;
    }
    snprintf(f->error, sizeof f->error, "%s", tether_last_error());
    waiter_add(&f->w, 1);
}

static void test_queue_full_in_callback(void) {
    char topic[96], id[96];
    unique(topic, sizeof topic, "tether-c/callbacks", "flood");
    unique(id, sizeof id, "callbacks", "flood");
    flood f;
    memset(&f, 0, sizeof f);
    waiter_init(&f.w);
    f.topic = topic;
    tether_options *o = tether_options_new(id);
    CHECK_OK(tether_options_set_queue_limits(o, 2, 1 << 20, TETHER_OVERFLOW_BLOCK));
    CHECK_OK(tether_client_new(o, &f.self));
    tether_options_free(o);
    CHECK_OK(tether_client_set_on_message(f.self, on_message_flood, &f));
    CHECK_OK(tether_client_connect(f.self, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(f.self, topic, 0, WAIT_MS));
    CHECK_OK(tether_client_publish(f.self, topic, (const uint8_t *)"go", 2, 0, false));
    CHECK(waiter_wait(&f.w, 1, WAIT_MS));
    CHECK(f.last == TETHER_QUEUE_FULL);
    CHECK(strstr(f.error, "callback") != NULL);
    CHECK(f.accepted > 0 && f.accepted < 5000);
    tether_client_free(f.self); /* the queued messages go with it */
    waiter_destroy(&f.w);
}

/* --- tether_client_free from its own callback ----------------------------------------- */

typedef struct {
    tether_client *self;
    waiter w;
} self_destruct;

static void free_myself(void *user_data, const tether_message *m) {
    self_destruct *s = (self_destruct *)user_data;
    CHECK(payload_is(m, "first"));
    tether_client_free(s->self); /* deferred until this callback returns */
    s->self = NULL;
    waiter_add(&s->w, 1);
}

static void test_free_in_callback(void) {
    char topic[96], id[96];
    unique(topic, sizeof topic, "tether-c/callbacks", "free");
    unique(id, sizeof id, "callbacks", "free");
    self_destruct s;
    waiter_init(&s.w);
    s.self = new_client(id, true, 0);
    CHECK_OK(tether_client_set_on_message(s.self, free_myself, &s));
    CHECK_OK(tether_client_connect(s.self, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(s.self, topic, 1, WAIT_MS));

    /* A witness receives everything sent to the topic. */
    inbox seen;
    inbox_init(&seen);
    tether_client *witness = connected("free-witness", true, &seen);
    CHECK_OK(tether_client_subscribe(witness, topic, 1, WAIT_MS));
    tether_client *peer = connected("free-peer", false, NULL);
    CHECK_OK(tether_client_publish(peer, topic, (const uint8_t *)"first", 5, 1, false));
    CHECK(waiter_wait(&s.w, 1, WAIT_MS));
    for (int i = 0; i < 3; i++) CHECK_OK(tether_client_publish(peer, topic, (const uint8_t *)"more", 4, 1, false));
    CHECK(waiter_wait(&seen.w, 4, WAIT_MS));
    /* The freed client called back once and never again. */
    CHECK(waiter_count(&s.w) == 1);
    tether_client_free(peer);
    tether_client_free(witness);
    inbox_destroy(&seen);
    waiter_destroy(&s.w);
}

int main(void) {
    RUN(test_publish_from_callback);
    RUN(test_blocking_calls_from_callback);
    RUN(test_queue_full_in_callback);
    RUN(test_free_in_callback);
    return 0;
}
