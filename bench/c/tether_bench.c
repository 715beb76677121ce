/* tether's C face (libtether, include/tether.h) under the benchmark workloads.
 *
 * Used the way tether.h describes: tether_client_publish queues and returns at once (a full
 * queue makes the publisher wait, so no window of our own is needed); on_delivery reports
 * each completion (QoS 0: written; QoS 1: PUBACK; QoS 2: PUBCOMP) on the client's dispatch
 * thread, and we count them, as for the C peers; messages arrive in on_message.
 *
 *   tether_bench --workload pub|e2e|lat|idle --port P [--n N] [--qos Q] [--size B] [--protocol 4|5] [--tls-ca CA.pem] ...
 *
 * --protocol 4 (MQTT 3.1.1) applies to pub, e2e and lat; idle clients always speak 5.0.
 */
#include "bench_common.h"

#include <tether.h>

typedef struct {
    window w; /* used only as a completion counter here (limit never reached) */
    tracker *t;
} ctx_t;

static void on_delivery(void *ud, uint64_t token, tether_result result, uint8_t reason_code) {
    (void)token;
    ctx_t *c = ud;
    /* Reason codes below 0x80 (0x10 "no matching subscribers" included) are successes. */
    window_release(&c->w, result == TETHER_OK && reason_code < 0x80);
}

static void on_message(void *ud, const tether_message *m) {
    ctx_t *c = ud;
    size_t len = 0;
    const uint8_t *p = tether_message_payload(m, &len);
    if (c->t && p) tracker_record(c->t, p, len);
}

static tether_client *make_client(const bench_args *a, const char *id, ctx_t *ctx, bool deliveries, bool messages,
                                  char *err, size_t errlen) {
    tether_options *o = tether_options_new(id);
    if (!o) {
        snprintf(err, errlen, "options_new: %s", tether_last_error());
        return NULL;
    }
    tether_options_set_keep_alive(o, 60);
    /* MQTT 3.1.1 when asked (--protocol 4); session expiry 0 then goes out as Clean Session 1. */
    if (a && a->protocol == 4 && tether_options_set_protocol_version(o, 4) != TETHER_OK) {
        snprintf(err, errlen, "set_protocol_version: %s", tether_last_error());
        tether_options_free(o);
        return NULL;
    }
    /* No Receive Maximum on 3.1.1: the same window of 1000 the peers are given. */
    if (a && a->protocol == 4 && tether_options_set_max_inflight(o, 1000) != TETHER_OK) {
        snprintf(err, errlen, "set_max_inflight: %s", tether_last_error());
        tether_options_free(o);
        return NULL;
    }
    /* TLS (--tls-ca): trust that CA file; the connect below then goes to an mqtts:// URL. */
    if (a && a->tls_ca && tether_options_set_tls_ca_file(o, a->tls_ca) != TETHER_OK) {
        snprintf(err, errlen, "set_tls_ca_file: %s", tether_last_error());
        tether_options_free(o);
        return NULL;
    }
    tether_client *c = NULL;
    tether_result r = tether_client_new(o, &c);
    tether_options_free(o);
    if (r != TETHER_OK) {
        snprintf(err, errlen, "client_new: %s: %s", tether_result_str(r), tether_last_error());
        return NULL;
    }
    if (deliveries) tether_client_set_on_delivery(c, on_delivery, ctx);
    if (messages) tether_client_set_on_message(c, on_message, ctx);
    if (a && a->tls_ca) {
        char url[300];
        snprintf(url, sizeof url, "mqtts://%s:%d", a->host, a->port);
        r = tether_client_connect_url(c, url, 10000, NULL);
        if (r != TETHER_OK) {
            snprintf(err, errlen, "connect %s to %s: %s: %s", id, url, tether_result_str(r), tether_last_error());
            return NULL;
        }
    } else if (a) {
        r = tether_client_connect(c, a->host, (uint16_t)a->port, 10000, NULL);
        if (r != TETHER_OK) {
            snprintf(err, errlen, "connect %s: %s: %s", id, tether_result_str(r), tether_last_error());
            return NULL;
        }
    }
    return c;
}

static int send_one(tether_client *c, const bench_args *a, ctx_t *ctx, uint8_t *buf, uint64_t seq, uint64_t stamp,
                    int qos, outcome *o) {
    fill_payload(buf, a->size, seq, stamp);
    pthread_mutex_lock(&ctx->w.mu);
    ctx->w.outstanding++;
    pthread_mutex_unlock(&ctx->w.mu);
    tether_result r = tether_client_publish(c, a->topic, buf, a->size, (uint8_t)qos, false);
    if (r != TETHER_OK) {
        window_release(&ctx->w, false);
        outcome_fail(o, "publish %" PRIu64 ": %s: %s", seq, tether_result_str(r), tether_last_error());
        return -1;
    }
    return 0;
}

static void run_pub(const bench_args *a, outcome *o) {
    uint64_t deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    static ctx_t ctx;
    window_init(&ctx.w, INT64_MAX);
    char id[64], err[256];
    snprintf(id, sizeof id, "tether-c-pub-%d", (int)getpid());
    tether_client *c = make_client(a, id, &ctx, true, false, err, sizeof err);
    if (!c) {
        outcome_fail(o, "%s", err);
        return;
    }
    uint8_t *buf = malloc(a->size);
    o->n = a->n;
    uint64_t total = a->n + (a->qos == 0 ? 1 : 0);
    uint64_t t0 = mono_ns();
    for (uint64_t i = 0; i < a->n; i++)
        if (send_one(c, a, &ctx, buf, i, 0, a->qos, o)) break;
    if (a->qos == 0 && !o->error[0]) send_one(c, a, &ctx, buf, MARKER, 0, 1, o);
    bool all = !o->error[0] && window_wait_all(&ctx.w, total, deadline);
    o->elapsed_s = (double)(ctx.w.last_done_ns - t0) / 1e9;
    o->has_acked = true;
    o->acked = ctx.w.completed;
    if (!o->error[0] && !all)
        outcome_fail(o, "timed out with %" PRIu64 " of %" PRIu64 " complete", ctx.w.completed, total);
    if (ctx.w.failed) outcome_fail(o, "%" PRIu64 " publishes failed", ctx.w.failed);
    /* Every delivery was reported, so flush has nothing left to wait for. */
    tether_result r = tether_client_flush(c, 10000);
    if (r != TETHER_OK) outcome_fail(o, "flush: %s", tether_result_str(r));
    o->ok = !o->error[0];
    tether_client_disconnect(c, 1000);
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
    sctx.t = &t;
    window_init(&pctx.w, INT64_MAX);
    char id[64], err[256];
    snprintf(id, sizeof id, "tether-c-sub-%d", (int)getpid());
    tether_client *sub = make_client(a, id, &sctx, false, true, err, sizeof err);
    if (!sub) {
        outcome_fail(o, "%s", err);
        return;
    }
    tether_result r = tether_client_subscribe(sub, a->topic, (uint8_t)a->qos, 10000);
    if (r != TETHER_OK) {
        outcome_fail(o, "subscribe: %s: %s", tether_result_str(r), tether_last_error());
        return;
    }
    snprintf(id, sizeof id, "tether-c-pub-%d", (int)getpid());
    tether_client *pub = make_client(a, id, &pctx, false, false, err, sizeof err);
    if (!pub) {
        outcome_fail(o, "%s", err);
        return;
    }
    uint8_t *buf = malloc(a->size);
    uint64_t period = 1000000000ull / a->rate;
    uint64_t t0 = mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (paced) sleep_until_ns(t0 + period * i);
        if (send_one(pub, a, &pctx, buf, i, paced ? mono_ns() : 0, a->qos, o)) break;
    }
    if (!o->error[0]) send_one(pub, a, &pctx, buf, MARKER, 0, a->qos == 0 ? 1 : a->qos, o);
    bool done = tracker_wait(&t, deadline);
    o->elapsed_s = done ? (double)(t.last_ns - t0) / 1e9 : 0;
    if (!done) outcome_fail(o, "timed out waiting for messages");
    o->ok = !o->error[0];
    free(buf);
}

/* ---- idle: many connected clients in this process ---- */

typedef struct {
    const bench_args *a;
    tether_client **clients;
    long from, to;
    long connected;
    uint64_t deadline;
    char first_error[200];
} idle_slice;

static void *idle_worker(void *arg) {
    idle_slice *s = arg;
    for (long i = s->from; i < s->to && mono_ns() < s->deadline; i++) {
        tether_result r = tether_client_connect(s->clients[i], s->a->host, (uint16_t)s->a->port, 10000, NULL);
        if (r == TETHER_OK)
            s->connected++;
        else if (!s->first_error[0])
            snprintf(s->first_error, sizeof s->first_error, "client %ld: %s: %s", i, tether_result_str(r),
                     tether_last_error());
    }
    return NULL;
}

#define IDLE_THREADS 16

static void run_idle(const bench_args *a, outcome *o) {
    uint64_t deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    o->idle = true;
    o->clients = a->clients;
    o->n = (uint64_t)a->clients;
    tether_client **clients = calloc((size_t)a->clients, sizeof *clients);
    char id[64], err[256];
    /* The first client starts the shared runtime: the baseline is taken after it, as the
     * Rust programs take theirs once their runtime runs. */
    snprintf(id, sizeof id, "tc%d-0", (int)getpid());
    clients[0] = make_client(NULL, id, NULL, false, false, err, sizeof err);
    if (!clients[0]) {
        outcome_fail(o, "%s", err);
        return;
    }
    usleep(50000);
    o->rss_before_kb = rss_kb();
    uint64_t t0 = mono_ns();
    for (long i = 1; i < a->clients; i++) {
        snprintf(id, sizeof id, "tc%d-%ld", (int)getpid(), i);
        clients[i] = make_client(NULL, id, NULL, false, false, err, sizeof err);
        if (!clients[i]) {
            outcome_fail(o, "client %ld: %s", i, err);
            return;
        }
    }
    /* Connect from a few threads at once (tether_client_connect waits for the CONNACK). */
    idle_slice slices[IDLE_THREADS];
    pthread_t th[IDLE_THREADS];
    long per = (a->clients + IDLE_THREADS - 1) / IDLE_THREADS;
    for (int k = 0; k < IDLE_THREADS; k++) {
        slices[k] = (idle_slice){a, clients, k * per, (k + 1) * per > a->clients ? a->clients : (k + 1) * per, 0,
                                 deadline, ""};
        pthread_create(&th[k], NULL, idle_worker, &slices[k]);
    }
    for (int k = 0; k < IDLE_THREADS; k++) {
        pthread_join(th[k], NULL);
        o->connected += slices[k].connected;
        if (slices[k].first_error[0]) outcome_fail(o, "%s", slices[k].first_error);
    }
    o->connect_s = (double)(mono_ns() - t0) / 1e9;
    sleep(2);
    o->rss_after_kb = rss_kb();
    o->ok = !o->error[0];
}

int main(int argc, char **argv) {
    bench_args a = parse_args(argc, argv, "tether-c");
    outcome o;
    memset(&o, 0, sizeof o);
    o.ok = true;
    if (!strcmp(a.workload, "pub")) run_pub(&a, &o);
    else if (!strcmp(a.workload, "e2e")) run_e2e(&a, &o, false);
    else if (!strcmp(a.workload, "lat")) run_e2e(&a, &o, true);
    else if (!strcmp(a.workload, "idle")) run_idle(&a, &o);
    else outcome_fail(&o, "unknown workload %s", a.workload);
    outcome_print(&o, &a);
    _exit(o.ok && !o.error[0] ? 0 : 1);
}
