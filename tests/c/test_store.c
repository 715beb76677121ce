/* Durable sessions in C: tether_options_set_store_path. Bad arguments are refused before
 * anything is opened; a second opener of the same path is refused; messages published while
 * offline survive the client (and its options) and are delivered by the next client made on
 * the same path. The kill -9 story is told by the Rust and Python crash tests. */
#include "common.h"

#include <stdlib.h>
#include <unistd.h>

#define N 6

static void temp_dir(char *buf, size_t len) {
    snprintf(buf, len, "/tmp/tether-c-store-XXXXXX");
    CHECK(mkdtemp(buf) != NULL);
}

static void remove_dir(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_bad_arguments(void) {
    char dir[64];
    temp_dir(dir, sizeof dir);
    tether_options *o = tether_options_new("store-args");
    CHECK_RESULT(tether_options_set_store_path(NULL, dir, TETHER_DURABILITY_BATCHED), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_store_path(o, NULL, TETHER_DURABILITY_BATCHED), TETHER_NULL_ARGUMENT);
    CHECK_RESULT(tether_options_set_store_path(o, dir, 7), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_options_set_store_path(o, "", TETHER_DURABILITY_NONE), TETHER_INVALID_ARGUMENT);
    CHECK_OK(tether_options_set_store_path(o, dir, TETHER_DURABILITY_ALWAYS));
    /* The store is locked while these options hold it. */
    tether_options *other = tether_options_new("store-args-2");
    CHECK_RESULT(tether_options_set_store_path(other, dir, TETHER_DURABILITY_NONE), TETHER_IO);
    CHECK(strstr(tether_last_error(), "in use") != NULL);
    tether_options_free(o);
    CHECK_OK(tether_options_set_store_path(other, dir, TETHER_DURABILITY_NONE));
    tether_options_free(other);
    remove_dir(dir);
}

static tether_client *store_client(const char *id, const char *dir) {
    tether_options *o = tether_options_new(id);
    CHECK_OK(tether_options_set_session_expiry_interval(o, 3600));
    CHECK_OK(tether_options_set_store_path(o, dir, TETHER_DURABILITY_BATCHED));
    tether_client *c = NULL;
    CHECK_OK(tether_client_new(o, &c));
    tether_options_free(o);
    return c;
}

static void test_offline_messages_survive_the_client(void) {
    char dir[64], id[96], sid[96], topic[96];
    temp_dir(dir, sizeof dir);
    unique(id, sizeof id, "store", "pub");
    unique(sid, sizeof sid, "store", "sub");
    unique(topic, sizeof topic, "tether-c/store", "t");

    tether_client *sub = new_client(sid, true, 0);
    inbox got;
    inbox_init(&got);
    CHECK_OK(tether_client_set_on_message(sub, keep_message, &got));
    CHECK_OK(tether_client_connect(sub, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_subscribe(sub, topic, 1, WAIT_MS));

    /* First life: never connected, so the messages wait in the store. */
    tether_client *pub = store_client(id, dir);
    for (int i = 0; i < N; i++) {
        char text[16];
        snprintf(text, sizeof text, "m-%d", i);
        CHECK_OK(tether_client_publish(pub, topic, (const uint8_t *)text, strlen(text), 1 + i % 2, false));
    }
    tether_client_free(pub);

    /* Second life on the same path: they come back and go out on connect. */
    pub = store_client(id, dir);
    size_t restored = 0;
    CHECK_OK(tether_client_restored_count(pub, &restored));
    CHECK(restored == N);
    uint64_t first = 0, last = 0;
    CHECK_OK(tether_client_restored_token(pub, 0, &first));
    CHECK_OK(tether_client_restored_token(pub, N - 1, &last));
    CHECK(first < last);
    CHECK_RESULT(tether_client_restored_token(pub, N, &last), TETHER_INVALID_ARGUMENT);
    CHECK_RESULT(tether_client_restored_count(pub, NULL), TETHER_NULL_ARGUMENT);
    CHECK_OK(tether_client_connect(pub, "127.0.0.1", broker_port(), WAIT_MS, NULL));
    CHECK_OK(tether_client_flush(pub, WAIT_MS));
    if (!waiter_wait(&got.w, N, WAIT_MS)) FAIL("received %d of %d", waiter_count(&got.w), N);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        const tether_message *m = got.kept[i];
        size_t len = 0;
        const uint8_t *payload = tether_message_payload(m, &len);
        char text[16] = {0};
        memcpy(text, payload, len < sizeof text - 1 ? len : sizeof text - 1);
        int n = -1;
        CHECK(sscanf(text, "m-%d", &n) == 1 && n >= 0 && n < N);
        seen[n]++;
    }
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
    CHECK_OK(tether_client_disconnect(pub, WAIT_MS));
    tether_client_free(pub);
    CHECK_OK(tether_client_disconnect(sub, WAIT_MS));
    tether_client_free(sub);
    inbox_destroy(&got);
    remove_dir(dir);
}

int main(void) {
    RUN(test_bad_arguments);
    RUN(test_offline_messages_survive_the_client);
    return 0;
}
