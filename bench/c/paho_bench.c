/* The Eclipse Paho C peer (MQTTAsync, MQTT 5) under the benchmark workloads; with
 * --protocol 4 the same on MQTT 3.1.1 through Paho's non-v5 API (MQTTVERSION_3_1_1,
 * cleansession, onSuccess/onFailure callbacks), which then has no Receive Maximum to obey.
 *
 * Used the way Paho's asynchronous API is meant for throughput: MQTTAsync_sendMessage never
 * waits; each publish's completion arrives in its onSuccess5/onFailure5 callback. We keep at
 * most --window publishes outstanding (published, not yet completed) by counting completions,
 * and let Paho keep up to 1000 in flight (the broker's Receive Maximum).
 * Paho C has no TCP_NODELAY option: its sockets keep Nagle's algorithm.
 *
 *   paho_bench --workload pub|e2e|lat --port P [--n N] [--qos Q] [--size B] [--protocol 4|5] [--tls-ca CA.pem] ...
 */
#include "bench_common.h"

#include <MQTTAsync.h>

#define INFLIGHT 1000

/* MQTT 5 (the default), or 3.1.1 through the non-v5 API when --protocol 4. */
static bool v5 = true;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 pending, 1 ok, -1 failed */
    int code;
} signal_t;

static void sig_init(signal_t *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void sig_set(signal_t *s, int state, int code) {
    pthread_mutex_lock(&s->mu);
    s->state = state;
    s->code = code;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int sig_wait(signal_t *s, uint64_t timeout_ns) {
    uint64_t deadline = mono_ns() + timeout_ns;
    pthread_mutex_lock(&s->mu);
    while (s->state == 0 && mono_ns() < deadline) {
        struct timespec ts = realtime_after(50000000ull);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    int st = s->state;
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void on_ok(void *ctx, MQTTAsync_successData5 *r) {
    sig_set(ctx, 1, r ? r->reasonCode : 0);
}

static void on_fail(void *ctx, MQTTAsync_failureData5 *r) {
    sig_set(ctx, -1, r ? (int)r->reasonCode : -1);
}

static void on_sub_ok(void *ctx, MQTTAsync_successData5 *r) {
    int code = r ? r->reasonCode : 0;
    sig_set(ctx, code >= 0x80 ? -1 : 1, code);
}

static void on_published(void *ctx, MQTTAsync_successData5 *r) {
    /* Reason codes below 0x80 (0x10 "no matching subscribers" included) are successes. */
    window_release(ctx, !r || r->reasonCode < 0x80);
}

static void on_publish_failed(void *ctx, MQTTAsync_failureData5 *r) {
    (void)r;
    window_release(ctx, false);
}

/* The MQTT 3.1.1 (non-v5) forms of the callbacks above. */
static void on_ok3(void *ctx, MQTTAsync_successData *r) {
    (void)r;
    sig_set(ctx, 1, 0);
}

static void on_fail3(void *ctx, MQTTAsync_failureData *r) {
    sig_set(ctx, -1, r ? r->code : -1);
}

static void on_sub_ok3(void *ctx, MQTTAsync_successData *r) {
    int granted = r ? r->alt.qos : 0; /* 0x80: refused */
    sig_set(ctx, granted >= 0x80 ? -1 : 1, granted);
}

static void on_published3(void *ctx, MQTTAsync_successData *r) {
    (void)r;
    window_release(ctx, true); /* 3.1.1 acknowledgements carry no reason code */
}

static void on_publish_failed3(void *ctx, MQTTAsync_failureData *r) {
    (void)r;
    window_release(ctx, false);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m) {
    (void)topic_len;
    if (ctx) tracker_record(ctx, m->payload, (size_t)m->payloadlen);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause) {
    (void)ctx;
    fprintf(stderr, "paho: connection lost: %s\n", cause ? cause : "?");
}

/* The --persist file directory, removed at exit (Paho leaves its empty per-client folder). */
static char persist_dir[64];

static void remove_persist_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", persist_dir);
    if (system(cmd) != 0) fprintf(stderr, "paho: could not remove %s\n", persist_dir);
}

static int make_client(const bench_args *a, const char *id, void *msg_ctx, MQTTAsync *out, char *err, size_t errlen) {
    char uri[128];
    snprintf(uri, sizeof uri, "%s://%s:%d", a->tls_ca ? "ssl" : "tcp", a->host, a->port);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    if (!v5) {
        MQTTAsync_createOptions co3 = MQTTAsync_createOptions_initializer;
        co = co3;
    }
    /* Applies while connected too: room for every outstanding publish. */
    co.maxBufferedMessages = (int)a->window + 16;
    /* --persist file: Paho's file persistence (one file per message, written with fopen/fwrite/
     * fclose, no fsync) in a fresh directory, beside tether's session store in the benchmark. */
    int persistence = MQTTCLIENT_PERSISTENCE_NONE;
    if (a->persist && !strcmp(a->persist, "file")) {
        if (!persist_dir[0]) {
            snprintf(persist_dir, sizeof persist_dir, "/tmp/paho-bench-persist-XXXXXX");
            if (!mkdtemp(persist_dir)) {
                snprintf(err, errlen, "mkdtemp failed");
                return -1;
            }
            atexit(remove_persist_dir);
        }
        persistence = MQTTCLIENT_PERSISTENCE_DEFAULT;
    }
    int rc = MQTTAsync_createWithOptions(out, uri, id, persistence,
                                         persistence == MQTTCLIENT_PERSISTENCE_DEFAULT ? persist_dir : NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "create: %d", rc);
        return -1;
    }
    MQTTAsync_setCallbacks(*out, msg_ctx, on_lost, on_message, NULL);
    static signal_t s; /* static: Paho holds the context pointer */
    sig_init(&s);
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer5;
    if (!v5) {
        MQTTAsync_connectOptions opts3 = MQTTAsync_connectOptions_initializer;
        opts = opts3;
        opts.MQTTVersion = MQTTVERSION_3_1_1;
        opts.cleansession = 1;
        opts.onSuccess = on_ok3;
        opts.onFailure = on_fail3;
    } else {
        opts.cleanstart = 1;
        opts.onSuccess5 = on_ok;
        opts.onFailure5 = on_fail;
    }
    opts.keepAliveInterval = 60;
    opts.maxInflight = INFLIGHT;
    opts.context = &s;
    /* TLS (ssl://, built against libpaho-mqtt3as): trust the CA file, check the server's
     * certificate and that it is for the host connected to (127.0.0.1, an IP SAN). */
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (a->tls_ca) {
        ssl.trustStore = a->tls_ca;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1;
        opts.ssl = &ssl;
    }
    rc = MQTTAsync_connect(*out, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "connect: %d", rc);
        return -1;
    }
    int st = sig_wait(&s, 10000000000ull);
    if (st != 1) {
        snprintf(err, errlen, "connect %s: %s (%d)", id, st == 0 ? "timed out" : "refused", s.code);
        return -1;
    }
    return 0;
}

/* Publishes one message, waiting for a window slot first. */
static int send_one(MQTTAsync c, const bench_args *a, window *w, uint8_t *buf, uint64_t seq, uint64_t stamp, int qos,
                    uint64_t deadline, outcome *o) {
    if (!window_acquire(w, deadline)) {
        outcome_fail(o, "timed out waiting for the window at message %" PRIu64, seq);
        return -1;
    }
    fill_payload(buf, a->size, seq, stamp);
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = buf;
    m.payloadlen = (int)a->size;
    m.qos = qos;
    m.retained = 0;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    if (v5) {
        r.onSuccess5 = on_published;
        r.onFailure5 = on_publish_failed;
    } else {
        r.onSuccess = on_published3;
        r.onFailure = on_publish_failed3;
    }
    r.context = w;
    int rc = MQTTAsync_sendMessage(c, a->topic, &m, &r);
    if (rc != MQTTASYNC_SUCCESS) {
        window_release(w, false);
        outcome_fail(o, "sendMessage %" PRIu64 ": %d", seq, rc);
        return -1;
    }
    return 0;
}

static void run_pub(const bench_args *a, outcome *o) {
    uint64_t deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    char id[64], err[256];
    snprintf(id, sizeof id, "paho-pub-%d", (int)getpid());
    MQTTAsync c;
    if (make_client(a, id, NULL, &c, err, sizeof err)) {
        outcome_fail(o, "%s", err);
        return;
    }
    /* static: completions may still arrive on Paho's thread after this function returns */
    static window w;
    window_init(&w, a->window);
    uint8_t *buf = malloc(a->size);
    o->n = a->n;
    uint64_t total = a->n + (a->qos == 0 ? 1 : 0);
    uint64_t t0 = mono_ns();
    for (uint64_t i = 0; i < a->n; i++)
        if (send_one(c, a, &w, buf, i, 0, a->qos, deadline, o)) break;
    if (a->qos == 0 && !o->error[0]) send_one(c, a, &w, buf, MARKER, 0, 1, deadline, o);
    bool all = !o->error[0] && window_wait_all(&w, total, deadline);
    o->elapsed_s = (double)(w.last_done_ns - t0) / 1e9;
    o->has_acked = true;
    o->acked = w.completed;
    if (!o->error[0] && !all) outcome_fail(o, "timed out with %" PRIu64 " of %" PRIu64 " complete", w.completed, total);
    if (w.failed) outcome_fail(o, "%" PRIu64 " publishes failed", w.failed);
    o->ok = !o->error[0];
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    if (!v5) {
        MQTTAsync_disconnectOptions d3 = MQTTAsync_disconnectOptions_initializer;
        d = d3;
    }
    d.timeout = 1000;
    MQTTAsync_disconnect(c, &d);
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
    char id[64], err[256];
    MQTTAsync sub, pub;
    snprintf(id, sizeof id, "paho-sub-%d", (int)getpid());
    if (make_client(a, id, &t, &sub, err, sizeof err)) {
        outcome_fail(o, "%s", err);
        return;
    }
    static signal_t s;
    sig_init(&s);
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    if (v5) {
        r.onSuccess5 = on_sub_ok;
        r.onFailure5 = on_fail;
    } else {
        r.onSuccess = on_sub_ok3;
        r.onFailure = on_fail3;
    }
    r.context = &s;
    int rc = MQTTAsync_subscribe(sub, a->topic, a->qos, &r);
    if (rc != MQTTASYNC_SUCCESS || sig_wait(&s, 10000000000ull) != 1) {
        outcome_fail(o, "subscribe: rc %d reason %d", rc, s.code);
        return;
    }
    snprintf(id, sizeof id, "paho-pub-%d", (int)getpid());
    if (make_client(a, id, NULL, &pub, err, sizeof err)) {
        outcome_fail(o, "%s", err);
        return;
    }
    /* static: the marker's completion may arrive on Paho's thread after this function
     * returns (the subscriber can have it first) */
    static window w;
    window_init(&w, a->window);
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
    bench_args a = parse_args(argc, argv, "paho-c");
    v5 = a.protocol == 5;
    outcome o;
    memset(&o, 0, sizeof o);
    o.ok = true;
    if (!strcmp(a.workload, "pub")) run_pub(&a, &o);
    else if (!strcmp(a.workload, "e2e")) run_e2e(&a, &o, false);
    else if (!strcmp(a.workload, "lat")) run_e2e(&a, &o, true);
    else outcome_fail(&o, "unsupported workload %s", a.workload);
    outcome_print(&o, &a);
    /* Leave at once: the library's threads need no orderly teardown for a measurement. */
    _exit(o.ok && !o.error[0] ? 0 : 1);
}
