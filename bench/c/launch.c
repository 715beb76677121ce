/* launch: run one benchmark program and report its resource usage.
 *
 *   launch --rusage FILE --timeout SECONDS -- PROGRAM ARGS...
 *
 * Forks PROGRAM from this small process and waits for it with wait4(), then writes one JSON
 * line to FILE: {"utime_s":..,"stime_s":..,"maxrss_kb":..,"exit":..,"signal":..,"timed_out":..}.
 * Why not fork straight from the Python harness: Linux folds the parent's memory high-water
 * mark into a child's ru_maxrss at exec, so every child of a 20 MiB Python would report at
 * least 20 MiB. Forked from here, the floor is this program's own ~1 MiB.
 * On timeout, SIGTERM or SIGINT the child is killed by its PID. Standard output and error are
 * the child's own (inherited).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid = 0;
static volatile sig_atomic_t timed_out = 0;

static void on_signal(int s) {
    if (s == SIGALRM) timed_out = 1;
    if (child_pid > 0) kill((pid_t)child_pid, SIGKILL);
}

int main(int argc, char **argv) {
    const char *out = NULL;
    unsigned timeout = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--rusage") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout = (unsigned)atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: launch --rusage FILE --timeout SECONDS -- PROGRAM ARGS...\n");
            return 2;
        }
    }
    if (!out || i >= argc) {
        fprintf(stderr, "usage: launch --rusage FILE --timeout SECONDS -- PROGRAM ARGS...\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        perror("launch: fork");
        return 2;
    }
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execvp(argv[i], &argv[i]);
        fprintf(stderr, "launch: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    if (timeout) alarm(timeout);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("launch: wait4");
            return 2;
        }
    }
    alarm(0);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror("launch: rusage file");
        return 2;
    }
    fprintf(f,
            "{\"utime_s\":%.6f,\"stime_s\":%.6f,\"maxrss_kb\":%ld,\"exit\":%d,\"signal\":%d,\"timed_out\":%s}\n",
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
            ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            timed_out ? "true" : "false");
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
