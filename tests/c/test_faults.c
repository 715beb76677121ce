/* A link that breaks, from C: the publisher talks to a mosquitto of its own through the test
 * kit's fault proxy (seeded random cuts every 50-300 ms, a few ms of delay each way so the
 * send window stays full), against a server Receive Maximum (mosquitto's
 * max_inflight_messages) of 20 and of 2, with `max_queued_messages 0` so that the broker never
 * drops what it accepted. The stream is numbered messages, two QoS 1 then one QoS 2; a
 * subscriber connected directly counts them. Checks: every message delivered, none twice at
 * QoS 2, tether_client_flush() == TETHER_OK (no failed delivery), and on the wire (the proxy's
 * wire-report) no error acknowledgement from the server (0x97 Quota exceeded...) and never
 * more messages unfinished than the Receive Maximum, with cuts that really happened and
 * resent with DUP.
 *
 * The broker and the proxy are `tether-testkit` processes ($TETHER_TESTKIT, exported by
 * run.sh). Under valgrind (run.sh sets TETHER_TEST_VALGRIND=1) the stream is shorter.
 * TETHER_FAULT_SEED replays a seed; each case's summary line is printed and appended to the
 * file $TETHER_FAULT_REPORT names, if set. */
#include "common.h"

#include "kit.h"

/* The integer after "key": in a one-line JSON object; fails when absent. */
static long long json_int(const char *json, const char *key) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (at == NULL) FAIL("no %s in %s", pattern, json);
    return strtoll(at + strlen(pattern), NULL, 10);
}

/* ----- the subscriber's count ---------------------------------------------------------- */

#define MAX_MESSAGES 2000

typedef struct {
    pthread_mutex_t mu;
    char q1_topic[128], q2_topic[128], end_topic[128];
    int q1[MAX_MESSAGES]; /* deliveries of each QoS 1 number */
    int q2[MAX_MESSAGES]; /* deliveries of each QoS 2 number */
    int unexpected;
    waiter distinct; /* distinct messages of the stream received */
    waiter end;      /* the end marker received */
} tally;

static void count_message(void *user_data, const tether_message *m) {
    tally *t = (tally *)user_data;
    const char *topic = tether_message_topic(m);
    size_t len = 0;
    const uint8_t *p = tether_message_payload(m, &len);
    if (strcmp(topic, t->end_topic) == 0) {
        waiter_add(&t->end, 1);
        return;
    }
    char text[16];
    int n = -1;
    if (p != NULL && len > 0 && len < sizeof text) {
        memcpy(text, p, len);
        text[len] = '\0';
        n = atoi(text);
    }
    pthread_mutex_lock(&t->mu);
    int *counts = strcmp(topic, t->q1_topic) == 0 ? t->q1 : strcmp(topic, t->q2_topic) == 0 ? t->q2 : NULL;
    bool first = false;
    if (counts == NULL || n < 0 || n >= MAX_MESSAGES) {
        t->unexpected++;
    } else {
        first = counts[n]++ == 0;
    }
    pthread_mutex_unlock(&t->mu);
    if (first) waiter_add(&t->distinct, 1);
}

static void report_line(const char *line) {
    printf("%s\n", line);
    fflush(stdout);
    const char *path = getenv("TETHER_FAULT_REPORT");
    if (path != NULL && path[0] != '\0') {
        FILE *f = fopen(path, "a");
        if (f == NULL) FAIL("cannot open TETHER_FAULT_REPORT %s", path);
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

static tether_client *persistent(const char *id, int queue) {
    tether_options *o = tether_options_new(id);
    CHECK(o != NULL);
    CHECK_OK(tether_options_set_clean_start(o, false));
    CHECK_OK(tether_options_set_session_expiry_interval(o, TETHER_SESSION_NEVER_EXPIRES));
    /* Reconnect fast: a connection never lives long enough here to count as stable. */
    CHECK_OK(tether_options_set_reconnect(o, true, 10, 100));
    /* Every message fits the queue: publishing never blocks, the window stays full. */
    CHECK_OK(tether_options_set_queue_limits(o, (size_t)queue, 16u << 20, TETHER_OVERFLOW_BLOCK));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

/* ----- the test ------------------------------------------------------------------------ */

static void random_cuts_at(int receive_maximum) {
    const bool valgrind = getenv("TETHER_TEST_VALGRIND") != NULL;
    /* Under valgrind everything is ~20x slower: a short stream still spans several cuts. */
    const int total = valgrind ? 300 : receive_maximum <= 2 ? 600 : 1500;
    const int n1 = total - total / 3, n2 = total / 3;
    const char *seed_env = getenv("TETHER_FAULT_SEED");
    const long seed = seed_env != NULL ? strtol(seed_env, NULL, 0) : 0xC0 + receive_maximum;
    const char *testkit = testkit_path();
    long long started_ms = now_ms();

    char inflight[64], upstream[64], command[128];
    snprintf(inflight, sizeof inflight, "max_inflight_messages %d", receive_maximum);
    char *broker_argv[] = {(char *)testkit, "broker", "--config-line", inflight,
                           "--config-line", "max_queued_messages 0", NULL};
    kit broker, proxy;
    kit_start(&broker, broker_argv);
    snprintf(upstream, sizeof upstream, "127.0.0.1:%u", broker.port);
    char *proxy_argv[] = {(char *)testkit, "proxy", "--upstream", upstream, NULL};
    kit_start(&proxy, proxy_argv);

    char suffix[32], prefix[96], filter[128];
    snprintf(suffix, sizeof suffix, "rm%d", receive_maximum);
    unique(prefix, sizeof prefix, "tether-c/faults", suffix);
    snprintf(filter, sizeof filter, "%s/#", prefix);
    tally *t = calloc(1, sizeof *t);
    CHECK(t != NULL);
    pthread_mutex_init(&t->mu, NULL);
    waiter_init(&t->distinct);
    waiter_init(&t->end);
    snprintf(t->q1_topic, sizeof t->q1_topic, "%s/q1", prefix);
    snprintf(t->q2_topic, sizeof t->q2_topic, "%s/q2", prefix);
    snprintf(t->end_topic, sizeof t->end_topic, "%s/end", prefix);

    /* The subscriber talks to the broker directly; the publisher goes through the proxy. */
    char sub_id[128], pub_id[128];
    unique(sub_id, sizeof sub_id, "faults-sub", suffix);
    unique(pub_id, sizeof pub_id, "faults-pub", suffix);
    tether_client *sub = persistent(sub_id, total + 100);
    CHECK_OK(tether_client_set_on_message(sub, count_message, t));
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker.port, WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(sub, filter, 2, WAIT_MS));
    tether_client *pub = persistent(pub_id, total + 100);
    CHECK_OK(tether_client_connect(pub, "127.0.0.1", proxy.port, WAIT_MS, NULL));

    kit_ok(&proxy, "delay 3");
    snprintf(command, sizeof command, "random-cuts %ld 50 300", seed);
    kit_ok(&proxy, command);
    for (int i = 0; i < total; i++) {
        char text[16];
        bool q2 = i % 3 == 2;
        snprintf(text, sizeof text, "%d", q2 ? i / 3 : i - i / 3);
        CHECK_OK(tether_client_publish(pub, q2 ? t->q2_topic : t->q1_topic, (const uint8_t *)text,
                                       strlen(text), q2 ? 2 : 1, false));
    }
    /* Cuts at a quarter, half and three quarters of the stream, whatever the random cuts do. */
    for (int k = 1; k <= 3; k++) {
        waiter_wait(&t->distinct, total * k / 4, 60000);
        kit_ok(&proxy, "cut");
    }
    tether_result flushed = tether_client_flush(pub, 120000);
    char flush_error[512];
    snprintf(flush_error, sizeof flush_error, "%s", flushed == TETHER_OK ? "" : tether_last_error());
    waiter_wait(&t->distinct, total, 60000);
    long long elapsed_ms = now_ms() - started_ms;
    kit_ok(&proxy, "stop-random-cuts");
    kit_ok(&proxy, "delay 0");

    /* A marker after everything: whatever the broker forwards for the stream comes first. */
    CHECK_OK(tether_client_publish(pub, t->end_topic, (const uint8_t *)"end", 3, 2, false));
    CHECK_OK(tether_client_flush(pub, 60000));
    if (!waiter_wait(&t->end, 1, 60000)) FAIL("the end marker never arrived");

    static char stats[KIT_LINE], wire[KIT_LINE];
    kit_command(&proxy, "stats", stats, sizeof stats);
    kit_command(&proxy, "wire-report", wire, sizeof wire);
    tether_stats ps;
    CHECK_OK(tether_client_stats(pub, &ps));

    pthread_mutex_lock(&t->mu);
    int got1 = 0, got2 = 0, dup1 = 0, dup2 = 0, first_missing1 = -1, first_missing2 = -1, first_twice2 = -1;
    for (int n = 0; n < n1; n++) {
        if (t->q1[n] > 0) got1++, dup1 += t->q1[n] - 1;
        else if (first_missing1 < 0) first_missing1 = n;
    }
    for (int n = 0; n < n2; n++) {
        if (t->q2[n] > 0) got2++, dup2 += t->q2[n] - 1;
        else if (first_missing2 < 0) first_missing2 = n;
        if (t->q2[n] > 1 && first_twice2 < 0) first_twice2 = n;
    }
    int unexpected = t->unexpected;
    pthread_mutex_unlock(&t->mu);

    long long max_up = json_int(wire, "max_unfinished_up");
    long long rm_up = json_int(wire, "receive_maximum_up");
    long long error_acks = json_int(wire, "error_acks_from_server_count");
    long long dropped = json_int(wire, "dropped_records");
    long long cuts = json_int(stats, "cuts");
    long long dup_publishes = json_int(stats, "dup_publishes");
    char line[1024];
    snprintf(line, sizeof line,
             "faults-c rm=%d publisher-behind-proxy seed=%ld%s: sent q1=%d q2=%d; delivered q1=%d q2=%d; "
             "duplicated q1=%d q2=%d; flush=%s; cuts=%lld connections=%lld dup_publishes=%lld "
             "pub_retransmissions=%llu reconnects=%llu; receive_maximum_up=%lld max_unfinished_up=%lld "
             "max_unfinished_down=%lld error_acks=%lld dropped_records=%lld; %.1f s",
             receive_maximum, seed, valgrind ? " (valgrind)" : "", n1, n2, got1, got2, dup1, dup2,
             tether_result_str(flushed), cuts, json_int(stats, "connections"), dup_publishes,
             (unsigned long long)ps.retransmissions, (unsigned long long)ps.reconnects, rm_up, max_up,
             json_int(wire, "max_unfinished_down"), error_acks, dropped, (double)elapsed_ms / 1000.0);
    report_line(line);

    /* The setup did what it says: mosquitto announced the window, the proxy logged it all. */
    if (rm_up != receive_maximum || dropped != 0) FAIL("wire-report: %s", wire);
    /* Nothing failed, nothing lost, nothing twice at QoS 2 (4.3.3). */
    if (flushed != TETHER_OK) FAIL("flush -> %s: %s", tether_result_str(flushed), flush_error);
    if (unexpected != 0) FAIL("%d unexpected messages", unexpected);
    if (got1 != n1) FAIL("QoS 1 lost: %d of %d, first %d", n1 - got1, n1, first_missing1);
    if (got2 != n2) FAIL("QoS 2 lost: %d of %d, first %d", n2 - got2, n2, first_missing2);
    if (dup2 != 0) FAIL("QoS 2 delivered more than once: %d extra, first number %d", dup2, first_twice2);
    /* The server never refused a message (0x97 Quota exceeded or another failure). */
    if (error_acks != 0) FAIL("error acknowledgements from the server: %s", wire);
    /* Never more unfinished than the server's Receive Maximum (3.3.4), resumes included. */
    if (max_up > receive_maximum) FAIL("max_unfinished_up %lld > %d: %s", max_up, receive_maximum, wire);
    /* The cuts happened, with messages in flight. */
    if (cuts <= 0 || dup_publishes <= 0) FAIL("no cut or no DUP resend: %s", stats);

    CHECK_OK(tether_client_disconnect(pub, WAIT_MS));
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(pub);
    tether_client_free(sub);
    waiter_destroy(&t->distinct);
    waiter_destroy(&t->end);
    pthread_mutex_destroy(&t->mu);
    free(t);
    kit_stop(&proxy);
    kit_stop(&broker);
}

static void test_random_cuts_receive_maximum_20(void) { random_cuts_at(20); }
static void test_random_cuts_receive_maximum_2(void) { random_cuts_at(2); }

int main(void) {
    /* A test kit process that dies must fail a check, not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    RUN(test_random_cuts_receive_maximum_20);
    RUN(test_random_cuts_receive_maximum_2);
    return 0;
}
