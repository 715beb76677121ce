/* tether-testkit processes (a broker or a fault proxy of a test's own) driven from C: start,
 * one-line commands, stop. Used by test_faults and test_same_story. */
#ifndef TETHER_TEST_KIT_H
#define TETHER_TEST_KIT_H

#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

/* ----- tether-testkit processes -------------------------------------------------------- */

#define KIT_LINE 65536
#define KIT_WAIT_MS 30000

typedef struct {
    pid_t pid;
    int in;  /* its stdin: commands (closing it stops the process) */
    int out; /* its stdout: "PORT n", then one answer line per command */
    char buf[KIT_LINE];
    size_t len; /* bytes in buf not yet returned */
    uint16_t port;
} kit;

static inline long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline const char *testkit_path(void) {
    const char *env = getenv("TETHER_TESTKIT");
    if (env != NULL && env[0] != '\0') return env;
    if (access("target/release/tether-testkit", X_OK) == 0) return "target/release/tether-testkit";
    FAIL("TETHER_TESTKIT is not set (tests/c/run.sh exports it)");
    return NULL;
}

/* Reads one line (without the newline) into `line`, waiting at most `timeout_ms`. */
static inline void kit_read_line(kit *k, char *line, size_t cap, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (int reads = 0;; reads++) {
        char *nl = memchr(k->buf, '\n', k->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - k->buf);
            if (n >= cap) FAIL("tether-testkit line of %zu bytes is too long", n);
            memcpy(line, k->buf, n);
            line[n] = '\0';
            k->len -= n + 1;
            memmove(k->buf, nl + 1, k->len);
            return;
        }
        if (k->len == sizeof k->buf) FAIL("tether-testkit line longer than %d bytes", KIT_LINE);
        long long left = deadline - now_ms();
        if (left <= 0 || reads > 100000) FAIL("tether-testkit said nothing within %d ms", timeout_ms);
        struct pollfd p = {.fd = k->out, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t got = read(k->out, k->buf + k->len, sizeof k->buf - k->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) FAIL("tether-testkit (pid %ld) ended", (long)k->pid);
        k->len += (size_t)got;
    }
}

static inline void kit_start(kit *k, char *const argv[]) {
    memset(k, 0, sizeof *k);
    int in[2], out[2];
    CHECK(pipe(in) == 0 && pipe(out) == 0);
    /* Our ends must not leak into the other test kit process (it would never see EOF). */
    CHECK(fcntl(in[1], F_SETFD, FD_CLOEXEC) == 0 && fcntl(out[0], F_SETFD, FD_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    CHECK(posix_spawn_file_actions_init(&fa) == 0);
    CHECK(posix_spawn_file_actions_adddup2(&fa, in[0], 0) == 0);
    CHECK(posix_spawn_file_actions_adddup2(&fa, out[1], 1) == 0);
    CHECK(posix_spawn_file_actions_addclose(&fa, in[0]) == 0);
    CHECK(posix_spawn_file_actions_addclose(&fa, out[1]) == 0);
    int rc = posix_spawn(&k->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) FAIL("cannot start %s: %s", argv[0], strerror(rc));
    close(in[0]);
    close(out[1]);
    k->in = in[1];
    k->out = out[0];
    char line[256];
    kit_read_line(k, line, sizeof line, KIT_WAIT_MS);
    int port = 0;
    if (sscanf(line, "PORT %d", &port) != 1 || port <= 0 || port > 65535)
        FAIL("%s %s said %s", argv[0], argv[1], line);
    k->port = (uint16_t)port;
}

/* Sends one command and reads its one-line answer into `answer`. */
static inline void kit_command(kit *k, const char *command, char *answer, size_t cap) {
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", command);
    CHECK(n > 0 && (size_t)n < sizeof line);
    CHECK(write(k->in, line, (size_t)n) == n);
    kit_read_line(k, answer, cap, KIT_WAIT_MS);
}

/* A command that must answer "ok...". */
static inline void kit_ok(kit *k, const char *command) {
    char answer[256];
    kit_command(k, command, answer, sizeof answer);
    if (strncmp(answer, "ok", 2) != 0) FAIL("proxy %s: %s", command, answer);
}

/* EOF on stdin stops a test kit process (the broker stops its mosquitto first); its stdout
 * reaches EOF when it has ended. SIGKILL if that takes more than 15 s. */
static inline void kit_stop(kit *k) {
    close(k->in);
    long long deadline = now_ms() + 15000;
    for (int reads = 0; reads < 100000; reads++) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            kill(k->pid, SIGKILL);
            break;
        }
        struct pollfd p = {.fd = k->out, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r <= 0) continue;
        char sink[256];
        ssize_t got = read(k->out, sink, sizeof sink);
        if (got == 0 || (got < 0 && errno != EINTR)) break;
    }
    int status = 0;
    while (waitpid(k->pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(k->out);
}

#endif
