/* A delivery that fails while nobody watches it (no on_delivery callback) is reported by the
 * next flush: TETHER_DELIVERY_FAILED, with the count and the message in tether_last_error(),
 * the first reason code in tether_last_reason_code(). The broker is one of our own, whose ACL
 * refuses a topic (PUBACK 0x87 Not authorized): deterministic, unlike a race with a queue. */
#include "common.h"
#include "kit.h"

static void test_flush_reports_failed_deliveries(void) {
    char acl[128];
    snprintf(acl, sizeof acl, "/tmp/tether-c-acl-%ld.conf", (long)getpid());
    FILE *f = fopen(acl, "w");
    CHECK(f != NULL);
    fputs("topic readwrite acl/allowed/#\n", f);
    fclose(f);
    char acl_line[160];
    snprintf(acl_line, sizeof acl_line, "acl_file %s", acl);
    char *argv[] = {(char *)testkit_path(), "broker", "--config-line", acl_line, NULL};
    kit broker;
    kit_start(&broker, argv);

    char id[96];
    unique(id, sizeof id, "flush-report", "c");
    tether_client *c = new_client(id, true, 0);
    CHECK_OK(tether_client_connect(c, "127.0.0.1", broker.port, WAIT_MS, NULL));
    const uint8_t payload[] = "x";
    CHECK_OK(tether_client_publish(c, "acl/allowed/1", payload, 1, 1, false));
    CHECK_OK(tether_client_publish(c, "acl/denied/1", payload, 1, 1, false));
    CHECK_OK(tether_client_publish(c, "acl/allowed/2", payload, 1, 2, false));
    CHECK_RESULT(tether_client_flush(c, WAIT_MS), TETHER_DELIVERY_FAILED);
    const char *detail = tether_last_error();
    if (strstr(detail, "1 of 3 deliveries failed") == NULL || strstr(detail, "acl/denied/1") == NULL)
        FAIL("the flush report names the count and the message: %s", detail);
    CHECK(tether_last_reason_code() == 0x87);
    /* Reported once: the next flush covers only what ended since. */
    CHECK_OK(tether_client_publish(c, "acl/allowed/3", payload, 1, 1, false));
    CHECK_OK(tether_client_flush(c, WAIT_MS));
    CHECK_OK(tether_client_disconnect(c, WAIT_MS));
    tether_client_free(c);
    kit_stop(&broker);
    unlink(acl);
}

int main(void) {
    RUN(test_flush_reports_failed_deliveries);
    return 0;
}
