/* The libmosquitto peer (MQTT 5; MQTT 3.1.1 with --protocol 4) under the benchmark workloads.
 *
 * Used the way libmosquitto's threaded interface is meant: mosquitto_loop_start runs the
 * network loop in its own thread, mosquitto_publish_v5 queues from ours and returns at once,
 * each completion arrives in the on_publish_v5 callback (QoS 0: written; QoS 1: PUBACK;
 * QoS 2: PUBCOMP). We keep at most --window publishes outstanding by counting completions;
 * MOSQ_OPT_SEND_MAXIMUM lets 1000 be in flight (the broker's Receive Maximum), and
 * MOSQ_OPT_TCP_NODELAY is on.
 *
 *   mosq_bench --workload pub|e2e|lat --port P [--n N] [--qos Q] [--size B] [--protocol 4|5] [--tls-ca CA.pem] ...
 */
#include "bench_common.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>

#define INFLIGHT 1000

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 pending, 1 ok, -1 failed */
    int code;
    window *w;
    tracker *t;
} ctx_t;

static void ctx_init(ctx_t *c, window *w, tracker *t) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->w = w;
    c->t = t;
}

static void ctx_set(ctx_t *c, int state, int code) {
    pthread_mutex_lock(&c->mu);
    c->state = state;
    c->code = code;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int ctx_wait(ctx_t *c, uint64_t timeout_ns) {
    uint64_t deadline = mono_ns() + timeout_ns;
    pthread_mutex_lock(&c->mu);
    while (c->state == 0 && mono_ns() < deadline) {
        struct timespec ts = realtime_after(50000000ull);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    int st = c->state;
    c->state = 0;
    pthread_mutex_unlock(&c->mu);
    return st;
}

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *p) {
    (void)m;
    (void)flags;
    (void)p;
    ctx_set(obj, rc == 0 ? 1 : -1, rc);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int count, const int *granted,
                         const mosquitto_property *p) {
    (void)m;
    (void)mid;
    (void)p;
    int code = count > 0 ? granted[0] : 0x80;
    ctx_set(obj, code >= 0x80 ? -1 : 1, code);
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason, const mosquitto_property *p) {
    (void)m;
    (void)mid;
    (void)p;
    ctx_t *c = obj;
    /* Reason codes below 0x80 (0x10 "no matching subscribers" included) are successes. */
    if (c->w) window_release(c->w, reason < 0x80);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *p) {
    (void)m;
    (void)p;
    ctx_t *c = obj;
    if (c->t) tracker_record(c->t, msg->payload, (size_t)msg->payloadlen);
}

static struct mosquitto *make_client(const bench_args *a, const char *id, ctx_t *ctx, char *err, size_t errlen) {
    struct mosquitto *m = mosquitto_new(id, true, ctx);
    if (!m) {
        snprintf(err, errlen, "mosquitto_new failed");
        return NULL;
    }
    /* MQTT 3.1.1 when asked (--protocol 4): the _v5 calls below work on it without properties,
     * and SEND_MAXIMUM is then the client's own window (3.1.1 has no Receive Maximum). */
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, a->protocol == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, INFLIGHT);
    /* As many incoming QoS>0 messages in flight as the other clients allow (the default,
     * 20, would throttle the subscriber). */
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    /* TLS (--tls-ca): trust that CA file; libmosquitto checks the server's certificate and
     * its name (127.0.0.1, an IP SAN) by default. */
    if (a->tls_ca) {
        int trc = mosquitto_tls_set(m, a->tls_ca, NULL, NULL, NULL, NULL);
        if (trc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "tls_set: %s", mosquitto_strerror(trc));
            mosquitto_destroy(m);
            return NULL;
        }
    }
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_publish_v5_callback_set(m, on_publish);
    mosquitto_message_v5_callback_set(m, on_message);
    int rc = mosquitto_connect_bind_v5(m, a->host, a->port, 60, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "connect: %s", mosquitto_strerror(rc));
        return NULL;
    }
    rc = mosquitto_loop_start(m);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "loop_start: %s", mosquitto_strerror(rc));
        return NULL;
    }
    int st = ctx_wait(ctx, 10000000000ull);
    if (st != 1) {
        snprintf(err, errlen, "connect %s: %s (%d)", id, st == 0 ? "timed out" : "refused", ctx->code);
        return NULL;
    }
    return m;
}

static int send_one(struct mosquitto *m, const bench_args *a, window *w, uint8_t *buf, uint64_t seq,
                    uint64_t stamp, int qos, uint64_t deadline, outcome *o) {
    if (!window_acquire(w, deadline)) {
        outcome_fail(o, "timed out waiting for the window at message %" PRIu64, seq);
        return -1;
    }
    fill_payload(buf, a->size, seq, stamp);
    int rc = mosquitto_publish_v5(m, NULL, a->topic, (int)a->size, buf, qos, false, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        window_release(w, false);
        outcome_fail(o, "publish %" PRIu64 ": %s", seq, mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static void run_pub(const bench_args *a, outcome *o) {
    uint64_t deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    static window w; /* static: callbacks run on libmosquitto's thread */
    window_init(&w, a->window);
    static ctx_t ctx;
    ctx_init(&ctx, &w, NULL);
    char id[64], err[256];
    snprintf(id, sizeof id, "mosq-pub-%d", (int)getpid());
    struct mosquitto *m = make_client(a, id, &ctx, err, sizeof err);
    if (!m) {
        outcome_fail(o, "%s", err);
        return;
    }
    /* What TLS negotiated, for the report (libmosquitto hands out its OpenSSL session). */
    SSL *ssl = a->tls_ca ? mosquitto_ssl_get(m) : NULL;
    if (ssl) snprintf(o->tls_session, sizeof o->tls_session, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    uint8_t *buf = malloc(a->size);
    o->n = a->n;
    uint64_t total = a->n + (a->qos == 0 ? 1 : 0);
    uint64_t t0 = mono_ns();
    for (uint64_t i = 0; i < a->n; i++)
        if (send_one(m, a, &w, buf, i, 0, a->qos, deadline, o)) break;
    if (a->qos == 0 && !o->error[0]) send_one(m, a, &w, buf, MARKER, 0, 1, deadline, o);
    bool all = !o->error[0] && window_wait_all(&w, total, deadline);
    o->elapsed_s = (double)(w.last_done_ns - t0) / 1e9;
    o->has_acked = true;
    o->acked = w.completed;
    if (!o->error[0] && !all) outcome_fail(o, "timed out with %" PRIu64 " of %" PRIu64 " complete", w.completed, total);
    if (w.failed) outcome_fail(o, "%" PRIu64 " publishes failed", w.failed);
    o->ok = !o->error[0];
    free(buf);
}

static void run_e2e(const bench_args *a, outcome *o, bool paced) {
    uint64_t deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    uint64_t n = paced ? paced_count(a) : a->n;
    static tracker t;
    tracker_init(&t, n, paced);
    o->t = &t;
    o->paced = paced;
    o->n = n;
    static ctx_t sctx, pctx;
    static window w;
    window_init(&w, a->window);
    ctx_init(&sctx, NULL, &t);
    ctx_init(&pctx, &w, NULL);
    char id[64], err[256];
    snprintf(id, sizeof id, "mosq-sub-%d", (int)getpid());
    struct mosquitto *sub = make_client(a, id, &sctx, err, sizeof err);
    if (!sub) {
        outcome_fail(o, "%s", err);
        return;
    }
    int rc = mosquitto_subscribe_v5(sub, NULL, a->topic, a->qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS || ctx_wait(&sctx, 10000000000ull) != 1) {
        outcome_fail(o, "subscribe: %s (%d)", mosquitto_strerror(rc), sctx.code);
        return;
    }
    snprintf(id, sizeof id, "mosq-pub-%d", (int)getpid());
    struct mosquitto *pub = make_client(a, id, &pctx, err, sizeof err);
    if (!pub) {
        outcome_fail(o, "%s", err);
        return;
    }
    uint8_t *buf = malloc(a->size);
    uint64_t period = 1000000000ull / a->rate;
    uint64_t t0 = mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (paced) sleep_until_ns(t0 + period * i);
        if (send_one(pub, a, &w, buf, i, paced ? mono_ns() : 0, a->qos, deadline, o)) break;
    }
    if (!o->error[0]) send_one(pub, a, &w, buf, MARKER, 0, a->qos == 0 ? 1 : a->qos, deadline, o);
    bool done = tracker_wait(&t, deadline);
    o->elapsed_s = done ? (double)(t.last_ns - t0) / 1e9 : 0;
    if (!done) outcome_fail(o, "timed out waiting for messages");
    o->ok = !o->error[0];
    free(buf);
}

int main(int argc, char **argv) {
    bench_args a = parse_args(argc, argv, "libmosquitto");
    outcome o;
    memset(&o, 0, sizeof o);
    o.ok = true;
    mosquitto_lib_init();
    if (!strcmp(a.workload, "pub")) run_pub(&a, &o);
    else if (!strcmp(a.workload, "e2e")) run_e2e(&a, &o, false);
    else if (!strcmp(a.workload, "lat")) run_e2e(&a, &o, true);
    else outcome_fail(&o, "unsupported workload %s", a.workload);
    outcome_print(&o, &a);
    _exit(o.ok && !o.error[0] ? 0 : 1);
}
