/* 100 clients in one process: each connects, subscribes to its own topic, publishes one
 * QoS 1 message to itself and receives it through its callback; then all of them
 * disconnect and are freed. They share tether's one runtime; each has its dispatch thread. */
#include "common.h"

#define CLIENTS 100

typedef struct {
    waiter *all;
    char topic[96];
    int received;
} slot;

static void on_message(void *user_data, const tether_message *m) {
    slot *s = (slot *)user_data;
    CHECK(strcmp(tether_message_topic(m), s->topic) == 0);
    CHECK(payload_is(m, s->topic));
    s->received++;
    waiter_add(s->all, 1);
}

static void test_hundred_clients(void) {
    static tether_client *clients[CLIENTS];
    static slot slots[CLIENTS];
    waiter all;
    waiter_init(&all);
    for (int i = 0; i < CLIENTS; i++) {
        char id[96], n[16];
        snprintf(n, sizeof n, "%d", i);
        unique(id, sizeof id, "many", n);
        unique(slots[i].topic, sizeof slots[i].topic, "tether-c/many", n);
        slots[i].all = &all;
        clients[i] = new_client(id, true, 0);
        CHECK_OK(tether_client_set_on_message(clients[i], on_message, &slots[i]));
    }
    for (int i = 0; i < CLIENTS; i++)
        CHECK_OK(tether_client_connect(clients[i], "127.0.0.1", broker_port(), WAIT_MS, NULL));
    for (int i = 0; i < CLIENTS; i++) CHECK_OK(tether_client_subscribe(clients[i], slots[i].topic, 1, WAIT_MS));
    for (int i = 0; i < CLIENTS; i++) {
        const char *t = slots[i].topic;
        CHECK_OK(tether_client_publish(clients[i], t, (const uint8_t *)t, strlen(t), 1, false));
    }
    CHECK(waiter_wait(&all, CLIENTS, 6 * WAIT_MS));
    for (int i = 0; i < CLIENTS; i++) {
        CHECK_OK(tether_client_flush(clients[i], WAIT_MS));
        CHECK(slots[i].received == 1);
    }
    for (int i = 0; i < CLIENTS; i++) CHECK_OK(tether_client_disconnect(clients[i], WAIT_MS));
    for (int i = 0; i < CLIENTS; i++) tether_client_free(clients[i]);
    CHECK(waiter_count(&all) == CLIENTS);
    waiter_destroy(&all);
}

int main(void) {
    RUN(test_hundred_clients);
    return 0;
}
