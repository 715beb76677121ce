/* What every C benchmark program shares: arguments, payloads with a sequence number and a
 * timestamp, the receiver's sequence check, latency percentiles, a window of outstanding
 * publishes, RSS, and the one JSON result line. Header-only; each program includes it once. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MARKER UINT64_MAX

typedef struct {
    const char *client;
    const char *workload;
    const char *host;
    int port;
    uint64_t n;
    int qos;
    size_t size;
    uint64_t rate;
    double secs;
    long clients;
    double timeout;
    char topic[128];
    long window;
    int protocol; /* MQTT protocol level: 5 (MQTT 5.0, the default) or 4 (MQTT 3.1.1) */
    const char *tls_ca; /* TLS to host:port trusting the CAs of this PEM file; NULL: plain TCP */
    const char *persist; /* paho-c only: "file" for its file persistence; NULL: none */
} bench_args;

static void die_usage(const char *msg) {
    fprintf(stderr, "bench: %s\n", msg);
    exit(2);
}

static bench_args parse_args(int argc, char **argv, const char *client) {
    bench_args a;
    memset(&a, 0, sizeof a);
    a.client = client;
    a.workload = "";
    a.host = "127.0.0.1";
    a.n = 10000;
    a.qos = 1;
    a.size = 64;
    a.rate = 1000;
    a.secs = 5.0;
    a.clients = 10000;
    a.timeout = 60.0;
    a.window = 4096;
    a.protocol = 5;
    snprintf(a.topic, sizeof a.topic, "bench/%d", (int)getpid());
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i];
        if (i + 1 >= argc) die_usage("every option needs a value");
        const char *v = argv[i + 1];
        if (!strcmp(k, "--client")) a.client = v;
        else if (!strcmp(k, "--workload")) a.workload = v;
        else if (!strcmp(k, "--host")) a.host = v;
        else if (!strcmp(k, "--port")) a.port = atoi(v);
        else if (!strcmp(k, "--n")) a.n = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--qos")) a.qos = atoi(v);
        else if (!strcmp(k, "--size")) a.size = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--rate")) a.rate = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--secs")) a.secs = atof(v);
        else if (!strcmp(k, "--clients")) a.clients = atol(v);
        else if (!strcmp(k, "--timeout")) a.timeout = atof(v);
        else if (!strcmp(k, "--topic")) snprintf(a.topic, sizeof a.topic, "%s", v);
        else if (!strcmp(k, "--window")) a.window = atol(v);
        else if (!strcmp(k, "--protocol")) a.protocol = atoi(v);
        else if (!strcmp(k, "--tls-ca")) a.tls_ca = v;
        else if (!strcmp(k, "--persist")) a.persist = v;
        else die_usage("unknown option");
    }
    if (a.port <= 0) die_usage("--port is required");
    if (a.qos < 0 || a.qos > 2) die_usage("--qos must be 0, 1 or 2");
    if (a.protocol != 4 && a.protocol != 5) die_usage("--protocol must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)");
    if (a.size < 16) a.size = 16;
    if (a.n < 1) a.n = 1;
    if (a.rate < 1) a.rate = 1;
    if (a.window < 1) a.window = 1;
    return a;
}

/* ---- clock ---- */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
    struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* An absolute CLOCK_REALTIME deadline `ns_from_now` ahead, for pthread_cond_timedwait. */
static struct timespec realtime_after(uint64_t ns_from_now) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns_from_now;
    ts.tv_sec = (time_t)(t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    return ts;
}

/* ---- payload ---- */

static void fill_payload(uint8_t *p, size_t size, uint64_t seq, uint64_t stamp) {
    memset(p, 0x5a, size);
    memcpy(p, &seq, 8); /* little-endian hosts only (x86-64, aarch64) */
    memcpy(p + 8, &stamp, 8);
}

static bool read_payload(const void *p, size_t len, uint64_t *seq, uint64_t *stamp) {
    if (len < 16) return false;
    memcpy(seq, p, 8);
    memcpy(stamp, (const uint8_t *)p + 8, 8);
    return true;
}

/* ---- the receiver's check ---- */

typedef struct {
    uint8_t *seen;
    uint64_t n, unique, duplicates, out_of_order, foreign, next;
    bool marker;
    /* latency samples (ns), when paced */
    uint64_t *lat;
    uint64_t lat_count;
    uint64_t base_ns;
    uint64_t last_ns; /* when the tracker became done */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} tracker;

static void tracker_init(tracker *t, uint64_t n, bool paced) {
    memset(t, 0, sizeof *t);
    t->n = n;
    t->seen = calloc(n ? n : 1, 1);
    if (paced) t->lat = calloc(n + 1, sizeof(uint64_t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

/* Called from the library's receive/callback thread for every message. */
static void tracker_record(tracker *t, const void *payload, size_t len) {
    uint64_t seq, stamp, now = mono_ns();
    pthread_mutex_lock(&t->mu);
    if (t->done) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    if (!read_payload(payload, len, &seq, &stamp)) {
        t->foreign++;
    } else if (seq == MARKER) {
        t->marker = true;
    } else if (seq < t->n) {
        if (t->seen[seq]) {
            t->duplicates++;
        } else {
            t->seen[seq] = 1;
            t->unique++;
        }
        if (seq != t->next) t->out_of_order++;
        t->next = seq + 1;
        if (t->lat && t->lat_count <= t->n) {
            uint64_t rel = now - t->base_ns;
            t->lat[t->lat_count++] = rel > stamp ? rel - stamp : 0;
        }
    } else {
        t->foreign++;
    }
    if (t->marker || t->unique == t->n) {
        t->done = true;
        t->last_ns = now;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

/* Waits until done or `deadline_ns` (monotonic); true when done. */
static bool tracker_wait(tracker *t, uint64_t deadline_ns) {
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        uint64_t now = mono_ns();
        if (now >= deadline_ns) break;
        uint64_t step = deadline_ns - now;
        if (step > 100000000ull) step = 100000000ull;
        struct timespec ts = realtime_after(step);
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    bool d = t->done;
    pthread_mutex_unlock(&t->mu);
    return d;
}

/* ---- a window of outstanding publishes (published, not yet completed) ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long limit, outstanding;
    uint64_t completed, failed;
    uint64_t last_done_ns;
} window;

static void window_init(window *w, long limit) {
    memset(w, 0, sizeof *w);
    w->limit = limit;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

/* Takes a slot; false when `deadline_ns` passed first. */
__attribute__((unused)) static bool window_acquire(window *w, uint64_t deadline_ns) {
    pthread_mutex_lock(&w->mu);
    while (w->outstanding >= w->limit) {
        if (mono_ns() >= deadline_ns) {
            pthread_mutex_unlock(&w->mu);
            return false;
        }
        struct timespec ts = realtime_after(50000000ull);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    w->outstanding++;
    pthread_mutex_unlock(&w->mu);
    return true;
}

/* Called from the library's callback thread when a publish completed. */
static void window_release(window *w, bool ok) {
    pthread_mutex_lock(&w->mu);
    w->outstanding--;
    if (ok) w->completed++;
    else w->failed++;
    w->last_done_ns = mono_ns();
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until `total` publishes completed (or failed); true when they did in time. */
static bool window_wait_all(window *w, uint64_t total, uint64_t deadline_ns) {
    pthread_mutex_lock(&w->mu);
    while (w->completed + w->failed < total) {
        if (mono_ns() >= deadline_ns) break;
        struct timespec ts = realtime_after(50000000ull);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    bool all = w->completed + w->failed >= total;
    pthread_mutex_unlock(&w->mu);
    return all;
}

/* ---- memory ---- */

__attribute__((unused)) static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = atol(line + 6);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* ---- the JSON line ---- */

typedef struct {
    char buf[4096];
    size_t len;
} json;

static void json_raw(json *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
    va_end(ap);
    if (w > 0) j->len += (size_t)w < sizeof j->buf - j->len ? (size_t)w : sizeof j->buf - j->len - 1;
}

static void json_sep(json *j) {
    if (j->len > 1) json_raw(j, ",");
}

static void json_num(json *j, const char *k, double v) {
    json_sep(j);
    json_raw(j, "\"%s\":%.9g", k, v);
}

static void json_str(json *j, const char *k, const char *v) {
    json_sep(j);
    json_raw(j, "\"%s\":\"", k);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\') json_raw(j, "\\%c", *c);
        else if ((unsigned char)*c < 0x20) json_raw(j, "\\u%04x", *c);
        else json_raw(j, "%c", *c);
    }
    json_raw(j, "\"");
}

static void json_bool(json *j, const char *k, bool v) {
    json_sep(j);
    json_raw(j, "\"%s\":%s", k, v ? "true" : "false");
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* What a workload produced. */
typedef struct {
    bool ok;
    char error[512];
    uint64_t n;
    double elapsed_s;
    bool has_acked;
    uint64_t acked;
    tracker *t; /* e2e and lat */
    bool paced;
    bool idle;
    long clients, connected, rss_before_kb, rss_after_kb;
    double connect_s;
    char tls_session[128]; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" when the client tells; else empty */
} outcome;

static void outcome_fail(outcome *o, const char *fmt, ...) {
    if (o->error[0]) return; /* the first error is the one that counts */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
    o->ok = false;
}

static void outcome_print(outcome *o, const bench_args *a) {
    json j = {.len = 0};
    json_raw(&j, "{");
    json_str(&j, "client", a->client);
    json_str(&j, "workload", a->workload);
    json_num(&j, "qos", a->qos);
    json_num(&j, "protocol", a->protocol);
    json_bool(&j, "tls", a->tls_ca != NULL);
    if (o->tls_session[0]) json_str(&j, "tls_session", o->tls_session);
    json_num(&j, "size", (double)a->size);
    json_num(&j, "n", (double)o->n);
    if (o->elapsed_s > 0) {
        json_num(&j, "elapsed_s", o->elapsed_s);
        if (strcmp(a->workload, "lat") && strcmp(a->workload, "idle"))
            json_num(&j, "msgs_per_s", (double)o->n / o->elapsed_s);
    }
    if (o->has_acked) json_num(&j, "acked", (double)o->acked);
    if (o->t) {
        tracker *t = o->t;
        pthread_mutex_lock(&t->mu);
        uint64_t missing = t->n - t->unique;
        json_num(&j, "received", (double)t->unique);
        json_num(&j, "missing", (double)missing);
        json_num(&j, "duplicates", (double)t->duplicates);
        json_num(&j, "out_of_order", (double)t->out_of_order);
        if (a->qos > 0 && missing > 0)
            outcome_fail(o, "%" PRIu64 " of %" PRIu64 " messages missing", missing, t->n);
        if (o->paced) {
            uint64_t c = t->lat_count;
            double p50 = 0, p99 = 0, mx = 0, mean = 0;
            if (c > 0) {
                qsort(t->lat, c, sizeof(uint64_t), cmp_u64);
                size_t i50 = (size_t)(c * 0.50), i99 = (size_t)(c * 0.99);
                if (i50 >= c) i50 = c - 1;
                if (i99 >= c) i99 = c - 1;
                p50 = t->lat[i50] / 1000.0;
                p99 = t->lat[i99] / 1000.0;
                mx = t->lat[c - 1] / 1000.0;
                double sum = 0;
                for (uint64_t i = 0; i < c; i++) sum += (double)t->lat[i];
                mean = sum / (double)c / 1000.0;
            }
            json_num(&j, "samples", (double)c);
            json_num(&j, "p50_us", p50);
            json_num(&j, "p99_us", p99);
            json_num(&j, "max_us", mx);
            json_num(&j, "mean_us", mean);
        }
        pthread_mutex_unlock(&t->mu);
    }
    if (o->idle) {
        double per = o->connected > 0 ? (double)(o->rss_after_kb - o->rss_before_kb) / (double)o->connected : 0;
        json_num(&j, "clients", (double)o->clients);
        json_num(&j, "connected", (double)o->connected);
        json_num(&j, "rss_before_kb", (double)o->rss_before_kb);
        json_num(&j, "rss_after_kb", (double)o->rss_after_kb);
        json_num(&j, "kb_per_client", per);
        json_num(&j, "connect_s", o->connect_s);
        if (o->connected < o->clients) outcome_fail(o, "only %ld of %ld clients connected", o->connected, o->clients);
    }
    json_bool(&j, "ok", o->ok && !o->error[0]);
    if (o->error[0]) json_str(&j, "error", o->error);
    json_raw(&j, "}");
    printf("%s\n", j.buf);
    fflush(stdout);
}

static uint64_t paced_count(const bench_args *a) {
    double n = (double)a->rate * a->secs;
    return n < 1 ? 1 : (uint64_t)(n + 0.5);
}

#endif
