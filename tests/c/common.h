/* Shared helpers of the C tests: checks that stop the program with a readable reason, the
 * broker port from the runner, unique topics, and a counter to wait on with a deadline. */
#ifndef TETHER_TEST_COMMON_H
#define TETHER_TEST_COMMON_H

#include "tether.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                    \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fprintf(stderr, "\n");                                                             \
        exit(1);                                                                           \
    } while (0)

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) FAIL("CHECK failed: %s (last error: %s)", #cond, tether_last_error()); \
    } while (0)

/* The call must return TETHER_OK. */
#define CHECK_OK(call)                                                                     \
    do {                                                                                   \
        tether_result r_ = (call);                                                         \
        if (r_ != TETHER_OK)                                                               \
            FAIL("%s -> %u (%s): %s", #call, (unsigned)r_, tether_result_str(r_),          \
                 tether_last_error());                                                     \
    } while (0)

/* The call must return `expected`, with a detail text in tether_last_error(). */
#define CHECK_RESULT(call, expected)                                                       \
    do {                                                                                   \
        tether_result r_ = (call);                                                         \
        if (r_ != (expected))                                                              \
            FAIL("%s -> %u (%s), expected %s; last error: %s", #call, (unsigned)r_,        \
                 tether_result_str(r_), #expected, tether_last_error());                  \
        if (r_ != TETHER_OK && tether_last_error()[0] == '\0')                             \
            FAIL("%s -> %s without a last-error text", #call, #expected);                  \
    } while (0)

/* TETHER_TEST_LOG=1..5 prints tether's log records to stderr (for debugging a test). */
static inline void print_log(void *user_data, uint8_t level, const char *target, const char *message) {
    (void)user_data;
    fprintf(stderr, "[%u] %s: %s\n", level, target, message);
}

static inline void maybe_log(void) {
    const char *level = getenv("TETHER_TEST_LOG");
    if (level != NULL) tether_set_log_callback(print_log, NULL, (uint8_t)atoi(level));
}

#define RUN(test)                                                                          \
    do {                                                                                   \
        maybe_log();                                                                       \
        test();                                                                            \
        printf("ok - %s\n", #test);                                                        \
        fflush(stdout);                                                                    \
    } while (0)

/* Every wait of the tests ends by itself. */
#define WAIT_MS 10000

static inline uint16_t broker_port(void) {
    const char *p = getenv("TETHER_TEST_PORT");
    if (p == NULL || atoi(p) <= 0 || atoi(p) > 65535) FAIL("TETHER_TEST_PORT is not set");
    return (uint16_t)atoi(p);
}

/* A 127.0.0.1 port nothing listens on (bound to a free port, then closed). */
static inline uint16_t closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A name unique to this process: "<prefix>-<pid>-<suffix>". */
static inline void unique(char *buf, size_t len, const char *prefix, const char *suffix) {
    snprintf(buf, len, "%s-%ld-%s", prefix, (long)getpid(), suffix);
}

static inline tether_client *new_client(const char *id, bool clean_start, uint32_t expiry) {
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_clean_start(o, clean_start));
    CHECK_OK(tether_options_set_session_expiry_interval(o, expiry));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    CHECK(c != NULL);
    return c;
}

/* A counter with a condition variable: callbacks add, the test thread waits for a value. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
} waiter;

static inline void waiter_init(waiter *w) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    w->count = 0;
}

static inline void waiter_destroy(waiter *w) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static inline void waiter_add(waiter *w, int n) {
    pthread_mutex_lock(&w->mu);
    w->count += n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static inline int waiter_count(waiter *w) {
    pthread_mutex_lock(&w->mu);
    int n = w->count;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Waits until the count reaches `n` or `timeout_ms` passes; true when it was reached. */
static inline bool waiter_wait(waiter *w, int n, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (w->count < n && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    bool reached = w->count >= n;
    pthread_mutex_unlock(&w->mu);
    return reached;
}

/* Received messages, kept as copies (tether_message_copy) for the test thread. */
#define MAX_KEPT 64
typedef struct {
    waiter w;
    tether_message *kept[MAX_KEPT];
} inbox;

static inline void inbox_init(inbox *b) {
    memset(b, 0, sizeof *b);
    waiter_init(&b->w);
}

static inline void inbox_destroy(inbox *b) {
    for (int i = 0; i < MAX_KEPT; i++) tether_message_free(b->kept[i]);
    waiter_destroy(&b->w);
}

/* An on_message callback that keeps a copy of each message. */
static inline void keep_message(void *user_data, const tether_message *m) {
    inbox *b = (inbox *)user_data;
    pthread_mutex_lock(&b->w.mu);
    if (b->w.count < MAX_KEPT) b->kept[b->w.count] = tether_message_copy(m);
    b->w.count++;
    pthread_cond_broadcast(&b->w.cv);
    pthread_mutex_unlock(&b->w.mu);
}

static inline bool payload_is(const tether_message *m, const char *expected) {
    size_t len = 0;
    const uint8_t *p = tether_message_payload(m, &len);
    return p != NULL && len == strlen(expected) && memcmp(p, expected, len) == 0;
}

#endif
